// The seam between the pipeline and a destination (a shard database in one
// region, or the Kafka feed). A destination worker thread owns one Sink and
// calls it from that thread only, except durable_lsn(), which any thread reads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/lsn.h"
#include "common/status.h"
#include "sharding/router.h"

namespace shardcast {

using TxnBatch = std::vector<std::shared_ptr<const RoutedTransaction>>;

class Sink {
 public:
  virtual ~Sink() = default;

  // "s0@us-east" for a shard database, "kafka" for the feed.
  virtual const std::string& id() const = 0;

  // Connects and prepares the destination. Returns the end_lsn of the last
  // source transaction made durable there according to the destination's own
  // marker (shard: the shardcast.progress row), or 0 when it keeps none.
  virtual StatusOr<Lsn> Open() = 0;

  // Applies consecutive transactions in commit order, each with an end_lsn
  // above everything applied before. Returns once handed over; durability is
  // reported by durable_lsn(). A failure leaves the destination as it was
  // before the batch (the caller reconnects and replays from the slot).
  virtual Status Apply(const TxnBatch& batch) = 0;

  // Makes progress on outstanding work for up to timeout (Kafka: delivery
  // reports; shard: a deferred progress bump while idle). Fails when a
  // delivery failed.
  virtual Status Poll(std::chrono::milliseconds timeout) = 0;

  // end_lsn of the last transaction durable at the destination. Thread-safe.
  virtual Lsn durable_lsn() const = 0;

  // True while a large source transaction is half applied (its later pieces
  // not yet given): nothing more becomes durable until they come. Worker
  // thread only.
  virtual bool open_transaction() const { return false; }

  virtual void Close() = 0;
};

}  // namespace shardcast
