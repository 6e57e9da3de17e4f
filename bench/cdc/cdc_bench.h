// The CDC comparison benchmark (issue 6): the same workloads through five
// paths, in one run, on servers started by tests/harness:
//   (a) pg_recvlogical draining a pgoutput slot to /dev/null (the decode ceiling)
//   (b) native logical replication: 4 row-filtered publications and subscriptions
//   (c) shardcast to 4 shard databases, (d) shardcast to Kafka, (e) both.
// Every path has its own slot (or subscriptions) and its own destinations; a
// path counts as done when its destinations hold the workload's marker rows
// (Postgres) or its topics' end offsets reach the expected count (Kafka), and
// its destinations' row counts are then checked against the source's.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/harness/mock_broker.h"
#include "tests/harness/pg_server.h"

namespace shardcast::bench {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d);

// A libpq connection kept open, for polling and for the writers (a fresh
// connection per poll would cost more than the poll).
class Conn {
 public:
  static StatusOr<std::unique_ptr<Conn>> Open(const std::string& dsn);
  ~Conn();
  Status Exec(const std::string& sql);
  // The first column of the first row ("" when NULL).
  StatusOr<std::string> Scalar(const std::string& sql);
  StatusOr<std::vector<std::vector<std::string>>> Rows(const std::string& sql);

 private:
  Conn() = default;
  StatusOr<PGresult*> Run(const std::string& sql);
  PGconn* conn_ = nullptr;
};

struct Args {
  std::int64_t rows = 1'000'000;  // W1 and W2 operations; W3 is 5x
  std::set<std::string> workloads = {"W1", "W2", "W3"};
  std::string paths = "abcde";
  std::set<std::string> modes = {"backlog", "live"};
  bool latency = true;
  double latency_seconds = 10;
  std::string results_file;  // RESULTS.md to update ("" = print only)
  std::string command;       // the command line recorded in RESULTS.md
  bool keep = false;
};

// What the writer did: the source's side of the expected counts.
struct Written {
  std::int64_t inserts = 0, updates = 0, deletes = 0;
  std::int64_t markers = 0;      // marker rows written after the workload
  std::string end_lsn;           // pg_current_wal_insert_lsn() after the marker transaction
  std::int64_t source_rows = 0;  // bench_rows on the source at the end
  Clock::time_point write_start, write_end;
  std::int64_t changes() const { return inserts + updates + deletes; }
  // Kafka records of bench_rows: every change, plus a tombstone per delete.
  std::int64_t kafka_records() const { return inserts + updates + 2 * deletes; }
};

// Per-case environment: the servers, and the source database of this case.
struct Env {
  std::unique_ptr<testing::PgServer> source;
  std::unique_ptr<testing::PgServer> shards;
  std::unique_ptr<testing::MockBroker> broker;
  std::string work_dir;
  std::string pg_bin_dir;
};

// DDL of the source tables; destinations add `arrived`.
std::string SourceDdl();
std::string DestinationDdl();
// The shard key of row id (an expression in SQL of `x`).
std::string ShardKeySql(const std::string& x);

// Workloads (workloads.cpp). Each writes into `db` of the source and ends
// with the marker transaction.
std::int64_t WorkloadOps(const std::string& workload, std::int64_t rows);
StatusOr<Written> WriteWorkload(Env& env, const std::string& db, const std::string& workload,
                                std::int64_t rows);
// The paced writer of the latency runs: transactions every 10 ms adding up to
// `rate` rows/s for `seconds`, ts = clock_timestamp(); then the marker.
StatusOr<Written> WritePaced(Env& env, const std::string& db, double rate, double seconds);

// A histogram of latencies in 0.1 ms buckets.
struct Latency {
  std::map<std::int64_t, std::int64_t> buckets;  // bucket (0.1 ms) -> count
  void Add(double ms, std::int64_t n = 1);
  std::int64_t count() const;
  double Percentile(double p) const;  // ms
};

// One path (paths.cpp).
class Path {
 public:
  virtual ~Path() = default;
  virtual std::string name() const = 0;  // "a ceiling", ...
  char letter() const { return name()[0]; }
  // Slot, subscriptions, destinations; before the workload is written.
  // live: also start consuming (and return once it streams).
  virtual Status Prepare(bool live) = 0;
  // Backlog mode: start consuming the retained workload.
  virtual Status Start(const Written& w) = 0;
  // Whether the destinations have everything of w.
  virtual StatusOr<bool> Complete(const Written& w) = 0;
  // Peak RSS of shardcast in KiB (-1: not shardcast or not running).
  virtual std::int64_t PeakRssKib() { return -1; }
  // The Kafka topic of bench_rows when the path feeds only Kafka ("" otherwise).
  virtual std::string KafkaOnlyTopic() const { return ""; }
  virtual Status Stop() = 0;
  // Row counts (or record counts) of the destinations against the source.
  virtual Status Verify(const Written& w) = 0;
  // Latency of the rows written since Prepare (PG: arrived - ts on the destinations).
  virtual StatusOr<Latency> MeasureLatency() { return Internal("no latency for " + name()); }
  // Drops the slot, subscriptions and destination databases.
  virtual void Cleanup() = 0;
};

// tag: unique for this case and path ("w1b"), names slots, databases, topics.
std::unique_ptr<Path> MakePath(char letter, Env& env, const std::string& source_db, const std::string& tag);

// measure.cpp
std::int64_t ReadVmHwmKib(int pid);
// Kafka: sum of end offsets of a topic's partitions.
class KafkaOffsets {
 public:
  static StatusOr<std::unique_ptr<KafkaOffsets>> Open(const std::string& bootstrap);
  ~KafkaOffsets();
  StatusOr<std::int64_t> EndOffsetSum(const std::string& topic, int partitions);

 private:
  KafkaOffsets() = default;
  void* rk_ = nullptr;
};
// A consumer of one topic from its end; records receive time minus the row's
// ts (from the envelope's "after") into a Latency, until stopped.
class KafkaLatencyReader {
 public:
  static StatusOr<std::unique_ptr<KafkaLatencyReader>> Start(const std::string& bootstrap,
                                                             const std::string& topic, int partitions);
  ~KafkaLatencyReader();
  Latency Finish();  // stops the thread and returns what it recorded
  std::int64_t seen() const;

 private:
  KafkaLatencyReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// results_md.cpp
struct ResultRow {
  std::string workload, mode, path;
  std::int64_t changes = 0;
  double seconds = 0;
  double lag_s = -1;        // live: writer end to destination complete
  double rate_offered = 0;  // latency runs
  double p50_ms = -1, p99_ms = -1;
  std::int64_t rss_kib = -1;
  double changes_per_s() const { return seconds > 0 ? static_cast<double>(changes) / seconds : 0; }
};
std::string ResultsTable(const std::vector<ResultRow>& rows);
Status WriteResultsSection(const std::string& file, const std::string& section);

}  // namespace shardcast::bench
