#include "daemon/initial_snapshot.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <thread>

#include "cdc/copy_text.h"
#include "cdc/snapshot_reader.h"
#include "common/thread_util.h"
#include "daemon/sink_factory.h"
#include "sharding/shard_key.h"
#include "sink/kafka/kafka_sink.h"
#include "sink/postgres/copy_loader.h"

namespace shardcast {

namespace {

constexpr std::size_t kKafkaBatchRows = 2000;
constexpr std::chrono::minutes kKafkaFlushTimeout{5};

}  // namespace

struct InitialSnapshot::Worker {
  std::unique_ptr<SnapshotReader> reader;
  std::map<std::string, std::unique_ptr<ShardCopyLoader>> loaders;  // by destination id
  std::unique_ptr<KafkaSink> kafka;
};

BackfillJob InitialSnapshot::NewJob(const std::vector<TableSpec>& tables) {
  BackfillJob job;
  job.id = "initial";
  job.kind = "initial";
  job.state = JobState::kRunning;
  for (const auto& t : tables) job.tables.push_back(WholeTable(t.schema, t.name));
  return job;
}

Status InitialSnapshot::Plan(SnapshotReader& reader) {
  std::uint64_t base = 0;
  for (auto& bt : job_.tables) {
    SC_ASSIGN_OR_RETURN(auto st, reader.Describe(bt.schema, bt.name));
    std::int64_t rows = 0;
    SC_ASSIGN_OR_RETURN(auto ranges, reader.PlanRanges(st, in_.config->snapshot_chunk_rows, &rows));
    bt.ranges.clear();
    for (auto& kr : ranges) bt.ranges.push_back(BackfillRange{std::move(kr), false, 0});
    bt.rows_total = static_cast<std::uint64_t>(rows);
    ordinal_base_.push_back(base);
    base += static_cast<std::uint64_t>(rows);
    tables_.push_back(std::move(st));
  }
  job_.planned = true;
  return in_.store->PutJob(job_.id, job_.ToJson());
}

StatusOr<Lsn> InitialSnapshot::Run(ReplicationStream& stream, BackfillJob job) {
  job_ = std::move(job);
  const auto started = std::chrono::steady_clock::now();
  SC_ASSIGN_OR_RETURN(auto exported, stream.CreateSlotExported(in_.config->source.slot, /*temporary=*/false));
  consistent_point_ = exported.consistent_point;
  spdlog::info("created replication slot {} at {} with an exported snapshot; initial snapshot begins",
               in_.config->source.slot, FormatLsn(consistent_point_));
  job_.consistent_point = consistent_point_;
  SC_RETURN_IF_ERROR(in_.store->PutJob(job_.id, job_.ToJson()));

  // Every worker imports the snapshot before the exporting connection runs
  // anything else (closing it ends the export).
  const int n = std::max(1, in_.config->snapshot_workers);
  std::vector<Worker> workers(static_cast<std::size_t>(n));
  for (auto& w : workers) {
    SC_ASSIGN_OR_RETURN(w.reader, SnapshotReader::Connect(in_.source_dsn));
    SC_RETURN_IF_ERROR(w.reader->ImportSnapshot(exported.snapshot_name));
  }
  stream.Close();
  SC_RETURN_IF_ERROR(Plan(*workers[0].reader));
  dests_ = ShardDestinationsByRing(*in_.config, *in_.router->ring());

  std::vector<std::pair<std::size_t, std::size_t>> work;
  for (std::size_t t = 0; t < job_.tables.size(); ++t)
    for (std::size_t r = 0; r < job_.tables[t].ranges.size(); ++r) work.emplace_back(t, r);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> abort{false};
  std::mutex err_mu;
  Status first_error;
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    auto th = StartThread("snapshot", [&, wp = &w] {
      for (std::size_t i = next++; i < work.size() && !abort.load(); i = next++) {
        if (in_.stop->load()) {
          abort.store(true);
          break;
        }
        Status s = LoadRange(*wp, work[i].first, work[i].second);
        if (!s.ok()) {
          std::lock_guard lock(err_mu);
          if (first_error.ok()) first_error = s;
          abort.store(true);
        }
      }
      for (auto& [id, l] : wp->loaders) l->Abort();
      if (wp->kafka) wp->kafka->Close();
    });
    if (!th.ok()) {
      abort.store(true);
      for (auto& t : threads) t.join();
      return th.status();
    }
    threads.push_back(std::move(*th));
  }
  for (auto& th : threads) th.join();
  for (auto& w : workers) (void)w.reader->Finish();
  if (!first_error.ok()) return first_error.Prefixed("initial snapshot");
  if (in_.stop->load()) return Status(Code::kCancelled, "stopped during the initial snapshot");

  job_.state = JobState::kDone;
  SC_RETURN_IF_ERROR(in_.store->PutJob(job_.id, job_.ToJson()));
  std::map<std::string, Lsn> progress;
  for (const auto& id : in_.destination_ids) progress[id] = consistent_point_;
  SC_RETURN_IF_ERROR(in_.store->SaveProgress(progress));
  std::uint64_t rows = 0;
  for (const auto& t : job_.tables) rows += t.rows_done;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("initial snapshot done: {} rows in {:.1f} s ({:.0f} rows/s); streaming from {}", rows, secs,
               secs > 0 ? static_cast<double>(rows) / secs : 0.0, FormatLsn(consistent_point_));
  return consistent_point_;
}

Status InitialSnapshot::LoadRange(Worker& w, std::size_t t, std::size_t r) {
  const SnapshotTable& st = tables_[t];
  const Relation& rel = *st.relation;
  const TableSpec* spec = in_.router->Find(rel.schema, rel.name);
  if (spec == nullptr) return Internal("table " + rel.QualifiedName() + " is not routed");
  const Ring& ring = *in_.router->ring();
  const Config& config = *in_.config;

  std::vector<int> key_cols;
  if (spec->mode == TableMode::kDistributed)
    for (const auto& k : spec->shard_key) key_cols.push_back(rel.ColumnIndex(k));

  if (config.kafka && !w.kafka) {
    KafkaSinkOptions o = KafkaOptionsFor(config, in_.router->tables(), in_.source_db);
    o.skip_replayed = false;
    w.kafka = std::make_unique<KafkaSink>(std::move(o));
    SC_RETURN_IF_ERROR(w.kafka->Open().status());
  }

  std::map<std::string, ShardCopyLoader*> begun;
  auto write_to = [&](std::size_t shard, std::string_view line) -> Status {
    for (const auto& [id, dsn] : dests_[shard]) {
      auto b = begun.find(id);
      if (b == begun.end()) {
        auto& loader = w.loaders[id];
        if (!loader) {
          SC_ASSIGN_OR_RETURN(loader, ShardCopyLoader::Connect(id, dsn));
        }
        SC_RETURN_IF_ERROR(loader->Begin(rel));
        b = begun.emplace(id, loader.get()).first;
      }
      SC_RETURN_IF_ERROR(b->second->Write(line));
    }
    return Status::Ok();
  };

  auto txn = std::make_shared<Transaction>();
  std::vector<Placement> placements;
  auto flush_kafka = [&]() -> Status {
    if (!w.kafka || txn->changes.empty()) return Status::Ok();
    auto rt = std::make_shared<RoutedTransaction>();
    rt->txn = txn;
    rt->placements = std::move(placements);
    rt->epoch = ring.epoch();
    rt->ring = in_.router->ring();
    rt->approx_bytes = txn->approx_bytes;
    SC_RETURN_IF_ERROR(w.kafka->Apply(TxnBatch{rt}));
    txn = std::make_shared<Transaction>();
    placements.clear();
    return Status::Ok();
  };

  const std::uint64_t first_ordinal =
      ordinal_base_[t] +
      static_cast<std::uint64_t>(r) * static_cast<std::uint64_t>(config.snapshot_chunk_rows);
  std::uint64_t rows = 0;
  Tuple row;
  std::vector<std::optional<std::string_view>> key;
  Status s = w.reader->CopyRange(st, job_.tables[t].ranges[r].range, [&](std::string_view line) -> Status {
    SC_RETURN_IF_ERROR(ParseCopyLine(line, row));
    std::int32_t owner = Placement::kAll;
    if (!key_cols.empty()) {
      key.clear();
      for (int c : key_cols) {
        const Value& v = row[static_cast<std::size_t>(c)];
        key.push_back(v.is_null() ? std::nullopt : std::optional<std::string_view>(v.text));
      }
      owner = static_cast<std::int32_t>(ring.OwnerOf(HashShardKey(key)));
    }
    if (owner == Placement::kAll) {
      for (std::size_t i = 0; i < dests_.size(); ++i) SC_RETURN_IF_ERROR(write_to(i, line));
    } else {
      SC_RETURN_IF_ERROR(write_to(static_cast<std::size_t>(owner), line));
    }
    if (w.kafka) {
      Change c;
      c.op = Op::kRead;
      c.ordinal = static_cast<std::uint32_t>(first_ordinal + rows);
      c.relation = st.relation;
      c.new_tuple = row;
      if (txn->changes.empty()) {
        txn->end_lsn = txn->commit_lsn = consistent_point_;
        txn->commit_time_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
        txn->snapshot = "true";
      }
      txn->approx_bytes += c.ApproxBytes();
      txn->changes.push_back(std::move(c));
      Placement p;
      p.table = spec;
      p.new_owner = owner;
      placements.push_back(std::move(p));
      if (txn->changes.size() >= kKafkaBatchRows) SC_RETURN_IF_ERROR(flush_kafka());
    }
    ++rows;
    return Status::Ok();
  });
  if (s.ok()) s = flush_kafka();
  if (s.ok() && w.kafka) s = w.kafka->Flush(kKafkaFlushTimeout);
  for (auto& [id, loader] : begun) {
    if (s.ok()) {
      s = loader->Commit();
    } else {
      loader->Abort();
    }
  }
  if (!s.ok()) return s.Prefixed("table " + rel.QualifiedName() + " range " + std::to_string(r));
  return RecordRange(t, r, rows);
}

Status InitialSnapshot::RecordRange(std::size_t t, std::size_t r, std::uint64_t rows) {
  std::lock_guard lock(job_mu_);
  BackfillTable& bt = job_.tables[t];
  bt.ranges[r].done = true;
  bt.ranges[r].parts_done = 1;
  bt.rows_done += rows;
  bt.chunks_done++;
  SC_RETURN_IF_ERROR(in_.store->PutJob(job_.id, job_.ToJson()));
  ReportChunkDone(in_.board, job_, t, r, 0, rows, consistent_point_);
  return Status::Ok();
}

}  // namespace shardcast
