// One destination's apply thread: takes routed transactions from its
// byte-bounded queue, hands them to its Sink in batches and polls it for
// durability. It never retries on its own: on a failure it records the
// Status and stops, and the pipeline recovers by replaying from the slot
// (nothing is kept in memory for a retry).
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
  };

  // Takes ownership of an opened sink. progress = the end_lsn already durable
  // there; transactions at or below it are skipped.
  DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options);
  ~DestinationWorker();

  Status Start();

  // Queues a transaction; waits up to timeout for room. False on timeout or
  // when the worker has stopped (then failure() says why).
  bool Push(const std::shared_ptr<const RoutedTransaction>& txn, std::chrono::milliseconds timeout);

  // Finishes what is queued (drain) or abandons it (replay covers it), then
  // joins the thread and closes the sink.
  void Stop(bool drain);

  const std::string& id() const { return id_; }
  // end_lsn of the last transaction durable at the destination.
  Lsn durable_lsn() const;
  // end_lsn of the last transaction queued (what "caught up" means).
  Lsn queued_lsn() const { return queued_lsn_.load(); }
  std::size_t queue_bytes() const { return queue_.bytes(); }
  bool failed() const { return failed_.load(); }
  Status failure() const;

 private:
  void Run();
  Status ApplyBatch(TxnBatch& batch);

  std::unique_ptr<Sink> sink_;
  std::string id_;
  Options options_;
  BoundedQueue<std::shared_ptr<const RoutedTransaction>> queue_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> drain_{true};
  std::atomic<bool> failed_{false};
  std::atomic<Lsn> skip_through_;
  std::atomic<Lsn> queued_lsn_{0};
  mutable std::mutex mu_;
  Status failure_;
};

}  // namespace shardcast
