#include "daemon/backfill_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cdc/backfill_stages.h"
#include "cdc/snapshot_reader.h"
#include "common/thread_util.h"
#include "pq/pq_util.h"

namespace shardcast {

using std::chrono::milliseconds;

namespace {

constexpr milliseconds kIdlePoll{500};
constexpr milliseconds kRetryAfter{2000};
constexpr milliseconds kEmitTimeout{10 * 60 * 1000};
constexpr int kMaxFailures = 5;

std::uint64_t JobOrder(const std::string& id) {
  if (id == "initial") return 0;
  if (id.rfind("snap-", 0) == 0) return std::strtoull(id.c_str() + 5, nullptr, 10);
  return UINT64_MAX;
}

}  // namespace

StatusOr<std::vector<BackfillJob>> LoadJobsInOrder(CheckpointStore& store) {
  SC_ASSIGN_OR_RETURN(auto raw, store.LoadJobs());
  std::vector<BackfillJob> jobs;
  for (const auto& [id, text] : raw) {
    auto job = BackfillJob::FromJson(text);
    if (!job.ok()) return job.status().Prefixed("job " + id);
    jobs.push_back(std::move(*job));
  }
  std::sort(jobs.begin(), jobs.end(),
            [](const BackfillJob& a, const BackfillJob& b) { return JobOrder(a.id) < JobOrder(b.id); });
  return jobs;
}

Status BackfillRunner::Start() {
  SC_ASSIGN_OR_RETURN(thread_, StartThread("backfill", [this] { Run(); }));
  return Status::Ok();
}

void BackfillRunner::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void BackfillRunner::Run() {
  std::string last_error;
  int failures = 0;  // consecutive, of the current job
  while (!stop_.load()) {
    auto jobs = LoadJobsInOrder(*deps_.store);
    if (!jobs.ok()) {
      if (jobs.status().message() != last_error)
        spdlog::error("reading snapshot jobs: {}", jobs.status().message());
      last_error = jobs.status().message();
      std::this_thread::sleep_for(kRetryAfter);
      continue;
    }
    BackfillJob* next = nullptr;
    for (auto& j : *jobs)
      if (j.state == JobState::kPending || j.state == JobState::kRunning) {
        next = &j;
        break;
      }
    if (next == nullptr) {
      idle_.store(true);
      std::this_thread::sleep_for(kIdlePoll);
      continue;
    }
    idle_.store(false);
    Status s = RunJob(*next);
    if (s.ok() || s.code() == Code::kCancelled) {
      failures = 0;
      continue;
    }
    // A server that is away, a statement or lock timeout: retried, each
    // distinct error logged once. A job fails only when retrying keeps failing
    // (or cannot help: a table that is gone).
    ++failures;
    const bool give_up =
        s.code() == Code::kNotFound || (s.code() != Code::kUnavailable && failures >= kMaxFailures);
    if (!give_up) {
      if (s.message() != last_error) spdlog::warn("snapshot job {}: {}; retrying", next->id, s.message());
      last_error = s.message();
      std::this_thread::sleep_for(kRetryAfter);
      continue;
    }
    failures = 0;
    spdlog::error("snapshot job {} failed: {} (start it again with shardcast snapshot)", next->id,
                  s.message());
    next->state = JobState::kFailed;
    next->error = s.message();
    for (const auto& t : next->tables) deps_.coordinator->Deactivate(t.schema, t.name);
    if (Status w = deps_.store->PutJob(next->id, next->ToJson()); !w.ok())
      spdlog::error("recording the failure of job {}: {}", next->id, w.message());
  }
}

Status BackfillRunner::Prime(SnapshotReader& reader) {
  SC_ASSIGN_OR_RETURN(auto jobs, LoadJobsInOrder(*deps_.store));
  for (const auto& job : jobs) {
    if (job.state != JobState::kPending && job.state != JobState::kRunning) continue;
    for (const auto& t : job.tables) {
      if (t.done()) continue;
      auto st = reader.Describe(t.schema, t.name);
      if (!st.ok()) return st.status().Prefixed("snapshot job " + job.id);
      deps_.coordinator->Activate(*st);
    }
  }
  return Status::Ok();
}

Status BackfillRunner::RunJob(BackfillJob& job) {
  SC_ASSIGN_OR_RETURN(auto reader, SnapshotReader::Connect(deps_.source_dsn));
  if (job.state == JobState::kPending) {
    job.state = JobState::kRunning;
    // The planner's estimate, for progress and ETA only.
    for (auto& t : job.tables) {
      auto est = reader->Query("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = " +
                               QuoteLiteral(QuoteIdent(t.schema) + "." + QuoteIdent(t.name)) + "::regclass");
      if (est.ok() && !est->empty() && !(*est)[0].empty() && !(*est)[0][0].is_null())
        t.rows_total = std::strtoull((*est)[0][0].text.c_str(), nullptr, 10);
    }
    SC_RETURN_IF_ERROR(deps_.store->PutJob(job.id, job.ToJson()));
    spdlog::info("snapshot job {} started ({} table(s))", job.id, job.tables.size());
  }
  while (auto next = job.NextRange()) {
    if (stop_.load()) return Status(Code::kCancelled, "stopping");
    const auto [t, r] = *next;
    // Described for every chunk: a column added meanwhile is in the next chunk.
    auto st = reader->Describe(job.tables[t].schema, job.tables[t].name);
    if (!st.ok()) return st.status().Prefixed("snapshot job " + job.id);
    deps_.coordinator->Activate(*st);
    SC_RETURN_IF_ERROR(RunChunk(job, t, r, *reader, *st));
    if (job.tables[t].done()) deps_.coordinator->Deactivate(job.tables[t].schema, job.tables[t].name);
  }
  job.state = JobState::kDone;
  SC_RETURN_IF_ERROR(deps_.store->PutJob(job.id, job.ToJson()));
  std::uint64_t rows = 0;
  for (const auto& t : job.tables) rows += t.rows_done;
  spdlog::info("snapshot job {} done: {} rows", job.id, rows);
  return Status::Ok();
}

Status BackfillRunner::RunChunk(BackfillJob& job, std::size_t t, std::size_t r, SnapshotReader& reader,
                                const SnapshotTable& table) {
  BackfillTable& bt = job.tables[t];
  // Unique per attempt: a retried chunk never matches an earlier attempt's watermarks.
  const std::string chunk_id = deps_.session_token + ":" + std::to_string(++attempts_) + ":" + job.id + ":" +
                               bt.QualifiedName() + ":" + std::to_string(r) + "." +
                               std::to_string(bt.ranges[r].parts_done);
  ChunkPorts ports;
  ports.exec = [&](const std::string& sql) { return reader.Exec(sql); };
  ports.read = [&](const KeyRange& range, std::int64_t limit) {
    return reader.ReadRange(table, range, limit);
  };
  ports.await_emitted = [&](const std::string& id) {
    return deps_.coordinator->AwaitEmitted(id, kEmitTimeout, &stop_);
  };
  ports.await_durable = [&](Lsn lsn) { return WaitDurable(lsn); };
  ports.save = [&](const BackfillJob& j) { return deps_.store->PutJob(j.id, j.ToJson()); };
  ChunkRun chunk(job, t, r, table, *deps_.coordinator, chunk_id, deps_.config->snapshot_chunk_rows);
  SC_RETURN_IF_ERROR(chunk.RunToEnd(ports));
  ReportChunkDone(deps_.board, job, t, r, chunk.part(), chunk.rows(), chunk.emitted_at());
  (void)reader.Exec("DELETE FROM shardcast.signal WHERE chunk = " + QuoteLiteral(chunk_id));
  return Status::Ok();
}

Status BackfillRunner::WaitDurable(Lsn lsn) {
  while (deps_.min_durable() < lsn) {
    if (stop_.load()) return Status(Code::kCancelled, "stopping");
    std::this_thread::sleep_for(milliseconds(20));
  }
  return Status::Ok();
}

}  // namespace shardcast
