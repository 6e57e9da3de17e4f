// The two loaders under measurement: shardcast's initial snapshot (a) and
// pg_dump piped into psql (b). Both load into fresh databases on the shard
// server and are checked against the source's row counts before their time
// counts.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "bench/snapshot_bench.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/subprocess.h"

namespace shardcast::bench {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A snapshot of 1M rows takes well under a minute here; this only stops a hung run.
constexpr auto kSnapshotLimit = 30min;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Drops what a run created even when it failed half-way, so a failed run
// leaves no slot holding WAL on the source.
class RunCleanup {
 public:
  RunCleanup(BenchEnv& env) : env_(env) {}  // NOLINT: one-argument helper
  ~RunCleanup() {
    for (const auto& sql : source_sql_) (void)env_.source->Exec(env_.source_db, sql);
    for (const auto& db : shard_dbs_)
      (void)env_.shards->Exec("postgres", "DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  }
  void SourceSql(std::string sql) { source_sql_.push_back(std::move(sql)); }
  void ShardDb(std::string db) { shard_dbs_.push_back(std::move(db)); }

 private:
  BenchEnv& env_;
  std::vector<std::string> source_sql_;
  std::vector<std::string> shard_dbs_;
};

Status CreateTarget(BenchEnv& env, const std::string& db, RunCleanup& cleanup) {
  SC_RETURN_IF_ERROR(env.shards->CreateDatabase(db));
  cleanup.ShardDb(db);
  return env.shards->Exec(db, BenchDdl()).Prefixed("creating the tables in " + db);
}

// Both servers start a run with nothing dirty from the previous one.
Status Checkpoint(BenchEnv& env) {
  SC_RETURN_IF_ERROR(env.source->Exec("postgres", "CHECKPOINT"));
  return env.shards->Exec("postgres", "CHECKPOINT");
}

// Per-table counts summed over `dbs` must equal the source's.
Status CheckCounts(BenchEnv& env, const std::vector<std::string>& dbs, const std::string& variant) {
  std::vector<std::int64_t> sum(BenchTables().size(), 0);
  for (const auto& db : dbs) {
    SC_ASSIGN_OR_RETURN(auto counts, CountRows(*env.shards, db));
    std::int64_t in_db = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      sum[i] += counts[i];
      in_db += counts[i];
    }
    if (in_db == 0) return FailedPrecondition(variant + ": database " + db + " received no rows");
  }
  for (std::size_t i = 0; i < sum.size(); ++i) {
    if (sum[i] != env.source_counts[i]) {
      return FailedPrecondition(variant + ": table " + BenchTables()[i].name + " has " +
                                std::to_string(sum[i]) + " rows on the target, the source " +
                                std::to_string(env.source_counts[i]));
    }
  }
  return Status::Ok();
}

std::string ShardcastConfig(BenchEnv& env, const std::string& name, const std::vector<std::string>& dbs,
                            const std::string& dir, int admin_port, int metrics_port) {
  std::string y = "source:\n  dsn: \"" + env.source->Dsn(env.source_db) + "\"\n";
  y += "  slot: " + name + "\n  publication: " + name + "\n";
  y += "tables:\n";
  for (const auto& t : BenchTables())
    y += "  - name: public." + t.name + "\n    shard_key: [" + t.shard_key + "]\n";
  y += "shards:\n";
  for (std::size_t i = 0; i < dbs.size(); ++i)
    y += "  - id: s" + std::to_string(i) + "\n    dsn: \"" + env.shards->Dsn(dbs[i]) + "\"\n";
  y += "snapshot: { workers: 2, chunk_rows: 50000 }\n";
  y += "checkpoint: { dir: " + dir + "/checkpoint }\n";
  y += "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port) + "\" }\n";
  y += "metrics: { listen: \"127.0.0.1:" + std::to_string(metrics_port) + "\" }\n";
  y += "log: { level: info }\n";
  return y;
}

}  // namespace

StatusOr<RunResult> RunShardcastSnapshot(BenchEnv& env, int shard_count, int run) {
  RunResult result;
  result.variant = "shardcast " + std::to_string(shard_count) + (shard_count == 1 ? " shard" : " shards");
  const std::string name = "bench_sc" + std::to_string(shard_count) + "_" + std::to_string(run);
  const std::string dir = env.work_dir + "/" + name;
  std::filesystem::create_directories(dir);

  RunCleanup cleanup(env);
  std::vector<std::string> dbs;
  for (int i = 0; i < shard_count; ++i) {
    dbs.push_back(name + "_s" + std::to_string(i));
    SC_RETURN_IF_ERROR(CreateTarget(env, dbs.back(), cleanup));
  }
  SC_ASSIGN_OR_RETURN(int admin_port, testing::FreeLoopbackPort());
  int metrics_port = admin_port;
  while (metrics_port == admin_port) {
    SC_ASSIGN_OR_RETURN(metrics_port, testing::FreeLoopbackPort());
  }
  const std::string config_path = dir + "/shardcast.yaml";
  std::ofstream(config_path) << ShardcastConfig(env, name, dbs, dir, admin_port, metrics_port);
  // Registered before the start: the daemon creates both; dropping what does not exist is harmless.
  cleanup.SourceSql(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + name +
      "'");
  cleanup.SourceSql("DROP PUBLICATION IF EXISTS " + name);
  SC_RETURN_IF_ERROR(Checkpoint(env));

  const std::string log_path = dir + "/shardcast.log";
  const auto started = Clock::now();
  SC_ASSIGN_OR_RETURN(auto daemon, testing::DaemonProcess::Start({"run", "-c", config_path}, log_path));
  static const std::regex done_re(R"(initial snapshot done: (\d+) rows in ([0-9.]+) s \(([0-9.]+) rows/s\))");
  std::smatch m;
  std::string log;
  for (;;) {
    log = daemon->Log();
    if (std::regex_search(log, m, done_re)) break;
    if (!daemon->Running()) {
      return Internal(result.variant + ": shardcast exited with " + std::to_string(daemon->exit_code()) +
                      " before the snapshot was done; log " + log_path + ":\n" + testing::FileTail(log_path));
    }
    if (Clock::now() - started > kSnapshotLimit)
      return Internal(result.variant + ": no 'initial snapshot done' line; log " + log_path);
    std::this_thread::sleep_for(10ms);
  }
  result.wall_s = Seconds(Clock::now() - started);
  result.rows = std::stoll(m[1].str());
  result.self_s = std::stod(m[2].str());
  result.self_rows_per_s = std::stod(m[3].str());

  SC_ASSIGN_OR_RETURN(int code, daemon->Terminate(120));
  if (code != 0)
    return Internal(result.variant + ": shardcast exited with " + std::to_string(code) + " on SIGTERM; log " +
                    log_path + ":\n" + testing::FileTail(log_path));
  if (result.rows != env.total_rows()) {
    return FailedPrecondition(result.variant + ": shardcast reported " + std::to_string(result.rows) +
                              " rows, the source holds " + std::to_string(env.total_rows()));
  }
  SC_RETURN_IF_ERROR(CheckCounts(env, dbs, result.variant));
  return result;
}

StatusOr<RunResult> RunPgDumpPipe(BenchEnv& env, int run) {
  RunResult result;
  result.variant = "pg_dump | psql";
  const std::string db = "bench_dump_" + std::to_string(run);
  RunCleanup cleanup(env);
  SC_RETURN_IF_ERROR(CreateTarget(env, db, cleanup));
  SC_RETURN_IF_ERROR(Checkpoint(env));

  // Over TCP as the postgres role (trust on loopback), so it works as any OS user.
  std::string dump = env.pg_bin_dir + "/pg_dump --data-only";
  for (const auto& t : BenchTables()) dump += " -t public." + t.name;
  dump += " -h 127.0.0.1 -p " + std::to_string(env.source->port()) + " -U postgres -d " + env.source_db;
  const std::string load = env.pg_bin_dir + "/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
                           std::to_string(env.shards->port()) + " -U postgres -d " + db;
  const std::string log_path = env.work_dir + "/" + db + ".log";
  const auto started = Clock::now();
  SC_RETURN_IF_ERROR(
      testing::RunProcess({"/bin/bash", "-o", "pipefail", "-c", dump + " | " + load}, log_path, env.work_dir)
          .Prefixed(result.variant));
  result.wall_s = Seconds(Clock::now() - started);
  SC_RETURN_IF_ERROR(CheckCounts(env, {db}, result.variant));
  result.rows = env.total_rows();
  return result;
}

}  // namespace shardcast::bench
