// The Prometheus exposer at metrics.listen (DESIGN.md "Observability").
// Holds the registry and the metric families; stages report through it.
// Thread-safe (prometheus-cpp metrics are atomic; the label caches lock).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"
#include "daemon/status_board.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace shardcast {

// What the stream session keeps between two status snapshots so that the
// data path only appends: change counts summed per table and operation, and
// the commit times of transactions pushed but not yet durable everywhere (for
// lag and apply latency). Reader thread only. Commit times are kept per 10 ms
// window of commits (a few hundred bytes per second of backlog), thinned
// further when a destination stays behind for hours.
class DeliveryTracker {
 public:
  // A new session: what was pushed before is replayed, not tracked.
  void Reset();
  // Counts a transaction's (or a spilled piece's) changes; whole says it
  // completes a source transaction.
  void Decoded(const Transaction& txn, bool whole);
  // A whole transaction was queued for every destination.
  void Pushed(Lsn end_lsn, std::int64_t commit_time_us);
  // Fills source and per-destination lag seconds into status, reports the
  // counts, apply latencies and new destination errors to metrics (may be
  // nullptr), and forgets what min_durable covers.
  void Update(DaemonStatus& status, Lsn min_durable, Metrics* metrics);

 private:
  struct Window {
    Lsn end_lsn = 0;            // the last transaction of the window
    std::int64_t first_us = 0;  // commit time of its first transaction
    std::uint64_t count = 0;
  };
  struct Count {
    std::uint32_t oid;
    Op op;
    std::string table;
    std::uint64_t n;
  };
  // Commit time (us) of the oldest window not durable at durable; 0 if none.
  std::int64_t OldestAfter(Lsn durable) const;
  void Add(const Relation& relation, Op op);

  std::deque<Window> windows_;
  std::vector<Count> counts_;
  std::uint64_t transactions_ = 0;  // since the last Update
  std::uint64_t total_transactions_ = 0;
  std::uint64_t total_changes_ = 0;
  std::map<std::string, Lsn> seen_durable_;   // this session
  std::map<std::string, std::string> state_;  // across sessions: count each failure once
};

class Metrics {
 public:
  // Serves GET /metrics on listen ("host:port"). kUnavailable naming the
  // address when it cannot bind.
  static StatusOr<std::unique_ptr<Metrics>> Start(const std::string& listen);
  ~Metrics();

  // shardcast_snapshot_rows{job,table}, shardcast_snapshot_rows_expected and
  // shardcast_snapshot_progress_ratio (rows / expected, 1 when done).
  void SnapshotProgress(const std::string& job, const std::string& table, std::uint64_t rows_done,
                        std::uint64_t rows_total, bool done);

  // Called once at start: backlog_bytes per region and rebalance progress
  // exist (at 0) so dashboards and alerts find them.
  void DeclareRegions(const std::vector<std::string>& regions);

  // changes_total{table,op} += n. op: insert, update, delete, truncate, read.
  // The session sums a transaction's changes before calling.
  void CountChanges(const std::string& table, const char* op, std::uint64_t n);
  void CountTransactions(std::uint64_t n);
  // apply_latency_seconds{destination}: count transactions that became
  // durable there, seconds after their commit at the source.
  void ObserveApplyLatency(const std::string& destination, double seconds, std::uint64_t count);
  void CountDestinationError(const std::string& destination);
  void ObserveCheckpointWrite(double seconds);
  DeliveryTracker& tracker() { return tracker_; }

  // The gauges of a status snapshot: source lag, slot retention, ring epoch,
  // streaming, and per destination lag, durable LSN, queue bytes and up.
  void Publish(const DaemonStatus& status);

 private:
  Metrics() = default;
  prometheus::Counter& Counter(prometheus::Family<prometheus::Counter>* family,
                               const std::map<std::string, std::string>& labels);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Gauge>* snapshot_rows_ = nullptr;
  prometheus::Family<prometheus::Gauge>* snapshot_expected_ = nullptr;
  prometheus::Family<prometheus::Gauge>* snapshot_ratio_ = nullptr;

  prometheus::Family<prometheus::Counter>* changes_ = nullptr;
  prometheus::Counter* transactions_ = nullptr;
  prometheus::Family<prometheus::Counter>* destination_errors_ = nullptr;
  prometheus::Family<prometheus::Histogram>* apply_latency_ = nullptr;
  prometheus::Histogram* checkpoint_write_ = nullptr;
  prometheus::Gauge* source_lag_bytes_ = nullptr;
  prometheus::Gauge* source_lag_seconds_ = nullptr;
  prometheus::Gauge* source_wal_lsn_ = nullptr;
  prometheus::Gauge* slot_retained_ = nullptr;
  prometheus::Gauge* slot_keep_ = nullptr;
  prometheus::Gauge* ring_epoch_ = nullptr;
  prometheus::Gauge* streaming_ = nullptr;
  prometheus::Gauge* rebalance_ratio_ = nullptr;
  prometheus::Family<prometheus::Gauge>* destination_lag_ = nullptr;
  prometheus::Family<prometheus::Gauge>* destination_durable_ = nullptr;
  prometheus::Family<prometheus::Gauge>* destination_up_ = nullptr;
  prometheus::Family<prometheus::Gauge>* queue_bytes_ = nullptr;
  prometheus::Family<prometheus::Gauge>* backlog_bytes_ = nullptr;

  std::mutex mu_;  // guards counters_
  std::map<std::string, prometheus::Counter*> counters_;
  DeliveryTracker tracker_;
};

// Reads the source's WAL position and the slot's retention every interval on
// a connection of its own, into the status board (and from there, metrics).
// A source that is down leaves the last sample in place.
class SourceSampler {
 public:
  SourceSampler(std::string dsn, std::string slot, StatusBoard* board,
                std::chrono::milliseconds interval = std::chrono::seconds(5));
  ~SourceSampler();  // stops and joins

  Status Start();

 private:
  void Run();
  Status SampleOnce();

  std::string dsn_;
  std::string slot_;
  StatusBoard* board_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  struct Conn;
  std::unique_ptr<Conn> conn_;  // sampler thread only
};

}  // namespace shardcast
