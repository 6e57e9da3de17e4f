// One destination's apply thread: takes routed transactions from its
// byte-bounded queue, hands them to its Sink in batches and polls it for
// durability.
//
// Failure isolation (DESIGN.md "Recovery is replay"): a failure that retrying
// may fix (the server is down, the connection broke) takes this destination
// down: what is queued is dropped, new transactions are not queued, and the
// thread reopens the sink with backoff. Once it opens again the worker is
// "recovered" and the session replays from the slot, which never moved past
// this destination's durable position. A failure retrying cannot fix (a
// constraint violation, a missing column) stops this destination for good.
// Either way the other destinations keep moving; each state change is logged
// once, not once per retry.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/bounded_queue.h"
#include "common/status.h"
#include "sink/sink.h"

namespace shardcast {

class DestinationWorker {
 public:
  struct Options {
    std::size_t queue_bytes = 64u << 20;
    std::size_t max_batch_txns = 4096;
    std::chrono::milliseconds min_backoff{500};
    std::chrono::milliseconds max_backoff{30000};
  };

  enum class State {
    kRunning,
    kDown,       // retrying to reopen; pushes are dropped
    kRecovered,  // reopened: waiting for the session to replay from the slot
    kStopped,    // a failure retrying cannot fix; pushes are dropped
  };

  // Takes ownership of an opened sink. progress = the end_lsn already durable
  // there; transactions at or below it are skipped.
  DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options);
  // A destination whose Open failed (open_failure): it starts down and keeps
  // reopening, progress (from the checkpoint store) pins the slot meanwhile,
  // and the others stream without it.
  DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options, Status open_failure);
  ~DestinationWorker();

  Status Start();

  // Queues a transaction; waits up to timeout for room. False on timeout.
  // A destination that is down or stopped takes nothing (returns true): it
  // gets everything again by replay.
  bool Push(const std::shared_ptr<const RoutedTransaction>& txn, std::chrono::milliseconds timeout);

  // Finishes what is queued (drain) or abandons it (replay covers it), then
  // joins the thread and closes the sink.
  void Stop(bool drain);
  // Stop's first half, so that several workers wind down at once.
  void RequestStop(bool drain);

  const std::string& id() const { return id_; }
  // end_lsn of the last transaction durable at the destination.
  Lsn durable_lsn() const;
  // end_lsn of the last complete transaction queued (what "caught up" means).
  Lsn queued_lsn() const { return queued_lsn_.load(); }
  std::size_t queue_bytes() const { return queue_.bytes(); }
  State state() const { return state_.load(); }
  bool failed() const { return state_.load() == State::kStopped; }
  // Why the destination is down or stopped (ok while running).
  Status failure() const;

 private:
  void Run();
  Status ApplyLoop();
  Status ApplyBatch(TxnBatch& batch);
  // Reopens the sink with backoff until it opens, it fails for good, or Stop.
  void Reopen();
  bool SleepUnlessStopping(std::chrono::milliseconds d);
  void SetFailure(Status status, State state);

  std::unique_ptr<Sink> sink_;
  std::string id_;
  Options options_;
  BoundedQueue<std::shared_ptr<const RoutedTransaction>> queue_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> drain_{true};
  std::atomic<State> state_{State::kRunning};
  bool start_down_ = false;  // Open failed before the thread started
  Status start_failure_;
  std::atomic<Lsn> skip_through_;
  std::atomic<Lsn> queued_lsn_{0};
  mutable std::mutex mu_;
  Status failure_;
};

}  // namespace shardcast
