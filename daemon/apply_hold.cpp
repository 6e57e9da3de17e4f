#include "daemon/apply_hold.h"

#include <spdlog/spdlog.h>

namespace shardcast {

void ApplyHold::Freeze(std::chrono::seconds ttl) {
  std::lock_guard lock(mu_);
  active_ = true;
  lsn_.reset();
  reached_ = false;
  expires_ = Clock::now() + ttl;
  spdlog::info("apply held for verify (frozen)");
}

void ApplyHold::HoldAt(Lsn lsn, std::chrono::seconds ttl) {
  std::lock_guard lock(mu_);
  active_ = true;
  lsn_ = lsn;
  reached_ = false;
  expires_ = Clock::now() + ttl;
  spdlog::info("apply held for verify at {}", FormatLsn(lsn));
}

void ApplyHold::Release() {
  std::lock_guard lock(mu_);
  if (active_) spdlog::info("apply hold released");
  active_ = false;
  lsn_.reset();
  reached_ = false;
}

void ApplyHold::ExpireLocked() {
  if (active_ && Clock::now() >= expires_) {
    spdlog::warn("apply hold expired without being released (did verify stop?); applying again");
    active_ = false;
    lsn_.reset();
    reached_ = false;
  }
}

bool ApplyHold::MustWait(Lsn end_lsn) {
  std::lock_guard lock(mu_);
  ExpireLocked();
  if (!active_) return false;
  return !lsn_ || end_lsn > *lsn_;
}

void ApplyHold::SetReached(Lsn lsn, bool reached) {
  std::lock_guard lock(mu_);
  if (active_ && lsn_ && *lsn_ == lsn) reached_ = reached;
}

ApplyHold::View ApplyHold::view() {
  std::lock_guard lock(mu_);
  ExpireLocked();
  return View{active_, lsn_, active_ && lsn_ && reached_};
}

}  // namespace shardcast
