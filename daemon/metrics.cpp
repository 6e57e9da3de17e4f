#include "daemon/metrics.h"

#include <libpq-fe.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "pq/pq_util.h"

namespace shardcast {

namespace {

// Commit at the source to durable at a destination: milliseconds when caught
// up, minutes while a destination is down or a backlog drains.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
// One synced RocksDB write batch.
const prometheus::Histogram::BucketBoundaries kCheckpointBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

prometheus::Gauge* SingleGauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}
prometheus::Family<prometheus::Gauge>* GaugeFamily(prometheus::Registry& r, const std::string& name,
                                                   const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return Unavailable("metrics.listen " + listen + ": cannot serve metrics there (" + e.what() +
                       "): pick a free host:port");
  }
  m->exposer_->RegisterCollectable(m->registry_);
  auto& r = *m->registry_;
  m->snapshot_rows_ = GaugeFamily(r, "shardcast_snapshot_rows",
                                  "Rows copied so far by a snapshot or backfill job, per table");
  m->snapshot_expected_ =
      GaugeFamily(r, "shardcast_snapshot_rows_expected",
                  "Rows a snapshot or backfill job expects to copy (estimate), per table");
  m->snapshot_ratio_ = GaugeFamily(r, "shardcast_snapshot_progress_ratio",
                                   "Share of a table a snapshot or backfill job has copied (1 when done)");
  m->changes_ = &prometheus::BuildCounter()
                     .Name("shardcast_changes_total")
                     .Help("Row changes decoded from the source, per table and operation")
                     .Register(r);
  m->transactions_ = &prometheus::BuildCounter()
                          .Name("shardcast_transactions_total")
                          .Help("Source transactions decoded")
                          .Register(r)
                          .Add({});
  m->destination_errors_ = &prometheus::BuildCounter()
                                .Name("shardcast_destination_errors_total")
                                .Help("Times a destination went down or stopped on an error")
                                .Register(r);
  m->apply_latency_ = &prometheus::BuildHistogram()
                           .Name("shardcast_apply_latency_seconds")
                           .Help("Commit at the source to durable at the destination, per transaction")
                           .Register(r);
  m->checkpoint_write_ = &prometheus::BuildHistogram()
                              .Name("shardcast_checkpoint_write_seconds")
                              .Help("Time to write one checkpoint (a synced RocksDB batch)")
                              .Register(r)
                              .Add({}, kCheckpointBuckets);
  m->source_lag_bytes_ = SingleGauge(r, "shardcast_source_lag_bytes",
                                     "Source WAL (pg_current_wal_lsn(), sampled) not yet durable everywhere");
  m->source_lag_seconds_ =
      SingleGauge(r, "shardcast_source_lag_seconds",
                  "Age of the oldest source commit not yet durable at every destination (0 when caught up)");
  m->source_wal_lsn_ =
      SingleGauge(r, "shardcast_source_wal_lsn", "pg_current_wal_lsn() on the source, sampled");
  m->slot_retained_ = SingleGauge(r, "shardcast_slot_retained_bytes",
                                  "WAL the replication slot keeps on the source (current LSN - restart_lsn)");
  m->slot_keep_ = SingleGauge(r, "shardcast_slot_wal_keep_size_bytes",
                              "The source's max_slot_wal_keep_size in bytes (-1: unlimited)");
  m->ring_epoch_ = SingleGauge(r, "shardcast_ring_epoch", "Epoch of the consistent-hash ring in force");
  m->streaming_ = SingleGauge(r, "shardcast_streaming", "1 while the replication stream runs, else 0");
  // Online rebalancing is not built yet: nothing moves, the ratio stays 0.
  m->rebalance_ratio_ = SingleGauge(r, "shardcast_rebalance_progress_ratio",
                                    "Share of the data a running rebalance has moved (0: none running)");
  m->destination_lag_ =
      GaugeFamily(r, "shardcast_destination_lag_seconds",
                  "Age of the oldest source commit queued for a destination but not durable there");
  m->destination_durable_ = GaugeFamily(r, "shardcast_destination_durable_lsn",
                                        "end_lsn of the last transaction durable at a destination");
  m->destination_up_ = GaugeFamily(r, "shardcast_destination_up",
                                   "1 while a destination is running, 0 while it is down or stopped");
  m->queue_bytes_ = GaugeFamily(r, "shardcast_queue_bytes", "Bytes queued in front of a stage (destination)");
  m->backlog_bytes_ = GaugeFamily(r, "shardcast_backlog_bytes", "Cross-region backlog, per region");
  return m;
}

Metrics::~Metrics() = default;

void Metrics::SnapshotProgress(const std::string& job, const std::string& table, std::uint64_t rows_done,
                               std::uint64_t rows_total, bool done) {
  const prometheus::Labels labels{{"job", job}, {"table", table}};
  snapshot_rows_->Add(labels).Set(static_cast<double>(rows_done));
  snapshot_expected_->Add(labels).Set(static_cast<double>(std::max(rows_total, rows_done)));
  double ratio = done ? 1.0 : (rows_total == 0 ? 0.0 : static_cast<double>(rows_done) / rows_total);
  snapshot_ratio_->Add(labels).Set(std::min(ratio, 1.0));
}

void Metrics::DeclareRegions(const std::vector<std::string>& regions) {
  // Cross-region backlog is not built yet (every region is applied directly):
  // the gauge exists at 0 per configured region.
  for (const auto& region : regions) backlog_bytes_->Add({{"region", region}}).Set(0);
}

prometheus::Counter& Metrics::Counter(prometheus::Family<prometheus::Counter>* family,
                                      const std::map<std::string, std::string>& labels) {
  std::string key = family == changes_ ? "c" : "e";
  for (const auto& [k, v] : labels) key += '\0' + v;
  std::lock_guard lock(mu_);
  auto& c = counters_[key];
  if (c == nullptr) c = &family->Add(labels);
  return *c;
}

void Metrics::CountChanges(const std::string& table, const char* op, std::uint64_t n) {
  Counter(changes_, {{"table", table}, {"op", op}}).Increment(static_cast<double>(n));
}

void Metrics::CountTransactions(std::uint64_t n) {
  transactions_->Increment(static_cast<double>(n));
}

void Metrics::ObserveApplyLatency(const std::string& destination, double seconds, std::uint64_t count) {
  if (count == 0) return;
  seconds = std::max(seconds, 0.0);
  std::vector<double> increments(kLatencyBuckets.size() + 1, 0.0);
  const auto at = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  increments[static_cast<std::size_t>(at - kLatencyBuckets.begin())] = static_cast<double>(count);
  apply_latency_->Add({{"destination", destination}}, kLatencyBuckets)
      .ObserveMultiple(increments, seconds * static_cast<double>(count));
}

void Metrics::CountDestinationError(const std::string& destination) {
  Counter(destination_errors_, {{"destination", destination}}).Increment();
}

void Metrics::ObserveCheckpointWrite(double seconds) {
  checkpoint_write_->Observe(seconds);
}

void Metrics::Publish(const DaemonStatus& st) {
  source_lag_bytes_->Set(static_cast<double>(st.source_lag_bytes));
  source_lag_seconds_->Set(st.source_lag_seconds);
  source_wal_lsn_->Set(static_cast<double>(st.source_flush_lsn));
  slot_retained_->Set(static_cast<double>(st.slot_retained_bytes));
  slot_keep_->Set(static_cast<double>(st.slot_wal_keep_bytes));
  ring_epoch_->Set(static_cast<double>(st.ring_epoch));
  streaming_->Set(st.streaming ? 1 : 0);
  rebalance_ratio_->Set(0);
  for (const auto& d : st.destinations) {
    const prometheus::Labels destination{{"destination", d.id}};
    destination_lag_->Add(destination).Set(d.lag_seconds);
    destination_durable_->Add(destination).Set(static_cast<double>(d.durable_lsn));
    destination_up_->Add(destination).Set(d.state == "running" ? 1 : 0);
    queue_bytes_->Add({{"stage", d.id}}).Set(static_cast<double>(d.queue_bytes));
    // Present from the start (at 0), so increase() and rate() see the first error.
    (void)Counter(destination_errors_, destination);
    (void)apply_latency_->Add(destination, kLatencyBuckets);
  }
}

namespace {
constexpr std::int64_t kWindowUs = 10'000;
constexpr std::size_t kMaxWindows = 1u << 16;

const char* OpName(Op op) {
  switch (op) {
    case Op::kInsert:
      return "insert";
    case Op::kUpdate:
      return "update";
    case Op::kDelete:
      return "delete";
    case Op::kTruncate:
      return "truncate";
    case Op::kRead:
      return "read";
  }
  return "unknown";
}

std::int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void DeliveryTracker::Reset() {
  windows_.clear();
  seen_durable_.clear();
}

void DeliveryTracker::Add(const Relation& relation, Op op) {
  for (auto& c : counts_)
    if (c.oid == relation.oid && c.op == op) {
      ++c.n;
      return;
    }
  counts_.push_back(Count{relation.oid, op, relation.QualifiedName(), 1});
}

void DeliveryTracker::Decoded(const Transaction& txn, bool whole) {
  for (const auto& c : txn.changes) {
    if (c.op == Op::kTruncate) {
      for (const auto& r : c.truncated)
        if (r) Add(*r, c.op);
    } else if (c.relation) {
      Add(*c.relation, c.op);
    }
  }
  if (whole) ++transactions_;
}

void DeliveryTracker::Pushed(Lsn end_lsn, std::int64_t commit_time_us) {
  if (!windows_.empty() && end_lsn <= windows_.back().end_lsn) return;  // replayed
  if (!windows_.empty() && commit_time_us - windows_.back().first_us < kWindowUs) {
    windows_.back().end_lsn = end_lsn;
    ++windows_.back().count;
    return;
  }
  windows_.push_back(Window{end_lsn, commit_time_us, 1});
  if (windows_.size() <= kMaxWindows) return;
  // Far behind for long: halve the resolution rather than forget the oldest.
  std::deque<Window> thinned;
  for (std::size_t i = 0; i < windows_.size(); i += 2) {
    Window w = windows_[i];
    if (i + 1 < windows_.size()) {
      w.end_lsn = windows_[i + 1].end_lsn;
      w.count += windows_[i + 1].count;
    }
    thinned.push_back(w);
  }
  windows_.swap(thinned);
}

std::int64_t DeliveryTracker::OldestAfter(Lsn durable) const {
  auto it = std::upper_bound(windows_.begin(), windows_.end(), durable,
                             [](Lsn d, const Window& w) { return d < w.end_lsn; });
  return it == windows_.end() ? 0 : it->first_us;
}

void DeliveryTracker::Update(DaemonStatus& st, Lsn min_durable, Metrics* metrics) {
  const std::int64_t now = NowUs();
  auto age = [now](std::int64_t since_us) {
    return since_us == 0 ? 0.0 : std::max(0.0, (now - since_us) / 1e6);
  };
  for (auto& d : st.destinations) {
    d.lag_seconds = age(OldestAfter(d.durable_lsn));
    auto [seen, first] = seen_durable_.emplace(d.id, d.durable_lsn);
    if (!first && metrics != nullptr && d.durable_lsn > seen->second) {
      // Windows that became durable since the last snapshot.
      for (const auto& w : windows_) {
        if (w.end_lsn <= seen->second) continue;
        if (w.end_lsn > d.durable_lsn) break;
        metrics->ObserveApplyLatency(d.id, age(w.first_us), w.count);
      }
    }
    seen->second = std::max(seen->second, d.durable_lsn);
    std::string& last = state_[d.id];
    if (d.state != "running" && d.state != "recovered" && last != d.state && metrics != nullptr)
      metrics->CountDestinationError(d.id);
    last = d.state;
  }
  st.source_lag_seconds = age(OldestAfter(min_durable));
  while (!windows_.empty() && windows_.front().end_lsn <= min_durable) windows_.pop_front();
  if (metrics != nullptr) {
    for (const auto& c : counts_) metrics->CountChanges(c.table, OpName(c.op), c.n);
    metrics->CountTransactions(transactions_);
  }
  total_transactions_ += transactions_;
  for (const auto& c : counts_) total_changes_ += c.n;
  st.transactions = total_transactions_;
  st.changes = total_changes_;
  counts_.clear();
  transactions_ = 0;
}

struct SourceSampler::Conn {
  PgConnPtr conn;
};

SourceSampler::SourceSampler(std::string dsn, std::string slot, StatusBoard* board,
                             std::chrono::milliseconds interval)
    : dsn_(std::move(dsn)), slot_(std::move(slot)), board_(board), interval_(interval) {}

SourceSampler::~SourceSampler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status SourceSampler::Start() {
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    return Internal(std::string("starting the source lag sampler: ") + e.what());
  }
  return Status::Ok();
}

void SourceSampler::Run() {
  pthread_setname_np(pthread_self(), "sc-lag-sampler");
  std::string last_error;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Status s = SampleOnce();
    if (!s.ok()) {
      conn_.reset();  // reconnect next time
      if (s.message() != last_error) spdlog::debug("source lag sampler: {}", s.ToString());
    }
    last_error = s.ok() ? "" : s.message();
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

Status SourceSampler::SampleOnce() {
  if (!conn_) {
    SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(dsn_, false, "the source (lag sampler)"));
    conn_ = std::make_unique<Conn>(Conn{std::move(conn)});
  }
  // safe_wal_size is unset with max_slot_wal_keep_size = -1.
  const std::string sql =
      "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text, "
      "coalesce((SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots "
      "WHERE slot_name = " +
      QuoteLiteral(slot_) +
      "), 0)::text, "
      "pg_size_bytes(current_setting('max_slot_wal_keep_size'))::text";
  SC_ASSIGN_OR_RETURN(PgResultPtr res, ExecSql(conn_->conn.get(), sql, "sampling the source's WAL position"));
  if (PQntuples(res.get()) != 1) return Internal("sampling the source's WAL position: no row");
  SourceSample sample;
  sample.valid = true;
  sample.current_lsn = std::strtoull(PQgetvalue(res.get(), 0, 0), nullptr, 10);
  sample.slot_retained_bytes = std::strtoll(PQgetvalue(res.get(), 0, 1), nullptr, 10);
  const std::int64_t keep = std::strtoll(PQgetvalue(res.get(), 0, 2), nullptr, 10);
  sample.slot_wal_keep_bytes = keep < 0 ? -1 : keep;
  board_->SetSourceSample(sample);
  return Status::Ok();
}

}  // namespace shardcast
