// Writes a session's checkpoints on a thread of their own. A checkpoint is a
// synced RocksDB batch (milliseconds, tens of them on a busy disk); on the
// reader thread it held up every transaction that arrived meanwhile, which
// showed in the commit-to-destination latency's tail (issue 6). The order
// that makes it safe is kept: a position is confirmed to the slot only after
// the write that records it has succeeded.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "common/lsn.h"
#include "common/status.h"
#include "common/thread_util.h"

namespace shardcast {

class CheckpointWriter {
 public:
  // save: the synced write of the changed positions. confirm: called with a
  // request's position after its save (and every earlier one) succeeded.
  using Save = std::function<Status(const std::map<std::string, Lsn>&)>;
  using Confirm = std::function<void(Lsn)>;

  CheckpointWriter(Save save, Confirm confirm) : save_(std::move(save)), confirm_(std::move(confirm)) {}
  ~CheckpointWriter() { Stop(); }
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  Status Start() {
    SC_ASSIGN_OR_RETURN(thread_, StartThread("checkpoint", [this] { Run(); }));
    return Status::Ok();
  }

  // Hands over positions to save and the position to confirm after them
  // (0: none). Never waits for the write: a request not yet started absorbs
  // a newer one (positions only grow). Returns an earlier write's failure.
  Status Submit(const std::map<std::string, Lsn>& changed, Lsn confirm) {
    std::lock_guard lock(mu_);
    if (!error_.ok()) return error_;
    for (const auto& [id, lsn] : changed) {
      Lsn& p = pending_[id];
      p = std::max(p, lsn);
    }
    confirm_pending_ = std::max(confirm_pending_, confirm);
    has_pending_ = true;
    wake_.notify_all();
    return Status::Ok();
  }

  // Waits until everything submitted is written and confirmed; returns the
  // first failure. Without the thread (not started or stopped) it writes here.
  Status Flush() {
    std::unique_lock lock(mu_);
    if (!thread_.joinable()) {
      while (has_pending_ && error_.ok()) WriteOne(lock);
      return error_;
    }
    idle_.wait(lock, [&] { return (!has_pending_ && !writing_) || !error_.ok(); });
    return error_;
  }

  // Writes what is pending, then ends the thread.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return has_pending_ || stopping_; });
      if (has_pending_ && error_.ok()) {
        WriteOne(lock);
        continue;
      }
      if (stopping_) return;
      has_pending_ = false;  // after a failure nothing more is written
      idle_.notify_all();
    }
  }

  // Takes the pending request and writes it with mu_ released.
  void WriteOne(std::unique_lock<std::mutex>& lock) {
    std::map<std::string, Lsn> changed = std::move(pending_);
    pending_.clear();
    const Lsn confirm = confirm_pending_;
    confirm_pending_ = 0;
    has_pending_ = false;
    writing_ = true;
    lock.unlock();
    Status s = changed.empty() ? Status::Ok() : save_(changed);
    if (s.ok() && confirm != 0) confirm_(confirm);
    lock.lock();
    writing_ = false;
    if (!s.ok() && error_.ok()) error_ = std::move(s);
    idle_.notify_all();
  }

  const Save save_;
  const Confirm confirm_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<std::string, Lsn> pending_;  // guarded by mu_
  Lsn confirm_pending_ = 0;             // guarded by mu_
  bool has_pending_ = false;            // guarded by mu_
  bool writing_ = false;                // guarded by mu_
  bool stopping_ = false;               // guarded by mu_
  Status error_;                        // guarded by mu_: the first failed write
};

}  // namespace shardcast
