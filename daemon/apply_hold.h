// verify's hold (DESIGN.md "Seeding and verifying"): the destinations are
// asked to apply up to exactly a position L and hold there while verify reads
// the shards. A freeze (no position yet) holds every new source transaction;
// hold-at-L lets through what ends at or before L. The reader thread waits
// before dispatching a held transaction (answering keepalives meanwhile), so
// every destination is at the same position. A hold expires by itself so a
// crashed verify never wedges the daemon. Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>

#include "common/lsn.h"

namespace shardcast {

class ApplyHold {
 public:
  using Clock = std::chrono::steady_clock;

  void Freeze(std::chrono::seconds ttl);
  void HoldAt(Lsn lsn, std::chrono::seconds ttl);
  void Release();

  // Whether a non-empty transaction ending at end_lsn must wait now.
  bool MustWait(Lsn end_lsn);

  // The reader reports whether the destinations hold exactly what ends at or
  // before the hold position lsn (ignored when the hold moved meanwhile).
  void SetReached(Lsn lsn, bool reached);

  struct View {
    bool active = false;
    std::optional<Lsn> lsn;  // nullopt while frozen
    bool ready = false;
  };
  View view();

 private:
  void ExpireLocked();

  std::mutex mu_;
  bool active_ = false;
  std::optional<Lsn> lsn_;
  bool reached_ = false;
  Clock::time_point expires_{};
};

}  // namespace shardcast
