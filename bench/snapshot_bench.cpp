// snapshot_bench: shardcast's initial snapshot rows/s against
// `pg_dump --data-only | psql` of the same tables, in the same run, on the
// same two servers (a source and a shard server, both on this machine).
// Runs alternate (shardcast 1 shard, pg_dump, shardcast 3 shards, ...) so
// drift of a shared machine hits every variant alike; the medians and their
// ratio are printed. Not a test: scripts/bench.sh runs it.
//
//   snapshot_bench [--rows N] [--runs R] [--keep]
//   rows: --rows, else SHARDCAST_BENCH_ROWS, else 1000000; runs: 3.
#include "bench/snapshot_bench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

namespace shardcast::bench {
namespace {

namespace fs = std::filesystem;

struct Args {
  std::int64_t rows = 1'000'000;
  int runs = 3;
  bool keep = false;  // keep the work directory (configs, logs)
};

bool ParseArgs(int argc, char** argv, Args* args) {
  if (const char* env = std::getenv("SHARDCAST_BENCH_ROWS")) args->rows = std::atoll(env);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rows" && i + 1 < argc) {
      args->rows = std::atoll(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      args->runs = std::atoi(argv[++i]);
    } else if (a == "--keep") {
      args->keep = true;
    } else {
      std::fprintf(stderr, "usage: snapshot_bench [--rows N] [--runs R] [--keep]\n");
      return false;
    }
  }
  return args->rows >= 10 && args->runs >= 1;
}

// The newest installed PostgreSQL client programs, e.g. /usr/lib/postgresql/15/bin.
StatusOr<std::string> PgBinDir() {
  std::error_code ec;
  int best = -1;
  std::string dir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string v = entry.path().filename().string();
    if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit)) continue;
    if (!fs::exists(entry.path() / "bin/pg_dump", ec) || !fs::exists(entry.path() / "bin/psql", ec)) continue;
    if (std::stoi(v) > best) {
      best = std::stoi(v);
      dir = (entry.path() / "bin").string();
    }
  }
  if (best < 0)
    return FailedPrecondition("no pg_dump in /usr/lib/postgresql/*/bin; run scripts/install-deps.sh");
  return dir;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Status Setup(const Args& args, BenchEnv& env) {
  SC_ASSIGN_OR_RETURN(env.pg_bin_dir, PgBinDir());
  std::string tmpl = (fs::temp_directory_path() / "shardcast-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return IoError("mkdtemp " + tmpl + " failed");
  env.work_dir = tmpl;
  SC_ASSIGN_OR_RETURN(env.source, testing::PgServer::Start());
  SC_ASSIGN_OR_RETURN(env.shards, testing::PgServer::Start());
  SC_RETURN_IF_ERROR(env.source->CreateDatabase(env.source_db));
  std::printf("seeding %lld rows...\n", static_cast<long long>(args.rows));
  std::fflush(stdout);
  SC_RETURN_IF_ERROR(SeedSource(*env.source, env.source_db, args.rows));
  SC_ASSIGN_OR_RETURN(env.source_counts, CountRows(*env.source, env.source_db));
  return Status::Ok();
}

void PrintRun(int run, const RunResult& r) {
  std::printf("run %d  %-20s %10lld rows  %8.2f s  %10.0f rows/s", run, r.variant.c_str(),
              static_cast<long long>(r.rows), r.wall_s, r.rows_per_s());
  if (r.self_s >= 0) std::printf("  (own timer: %.1f s, %.0f rows/s)", r.self_s, r.self_rows_per_s);
  std::printf("\n");
  std::fflush(stdout);
}

Status Run(const Args& args) {
  BenchEnv env;
  SC_RETURN_IF_ERROR(Setup(args, env).Prefixed("setting up"));
  SC_ASSIGN_OR_RETURN(auto version, env.source->Query("postgres", "SHOW server_version"));
  std::printf(
      "PostgreSQL %s; source 127.0.0.1:%d, shard server 127.0.0.1:%d (separate servers, same machine)\n",
      version.at(0).at(0).value_or("?").c_str(), env.source->port(), env.shards->port());
  std::printf("rows: %lld total (", static_cast<long long>(env.total_rows()));
  for (std::size_t i = 0; i < BenchTables().size(); ++i)
    std::printf("%s%s %lld", i ? ", " : "", BenchTables()[i].name.c_str(),
                static_cast<long long>(env.source_counts[i]));
  std::printf("); %d runs of each variant, alternating\n", args.runs);

  // Wall-clock rows/s by variant, in the order first seen.
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> rate, own_rate;
  auto record = [&](int run, const RunResult& r) {
    PrintRun(run, r);
    if (!rate.count(r.variant)) order.push_back(r.variant);
    rate[r.variant].push_back(r.rows_per_s());
    if (r.self_s >= 0) own_rate[r.variant].push_back(r.self_rows_per_s);
  };
  for (int run = 1; run <= args.runs; ++run) {
    SC_ASSIGN_OR_RETURN(auto a, RunShardcastSnapshot(env, 1, run));
    record(run, a);
    SC_ASSIGN_OR_RETURN(auto b, RunPgDumpPipe(env, run));
    record(run, b);
    SC_ASSIGN_OR_RETURN(auto c, RunShardcastSnapshot(env, 3, run));
    record(run, c);
  }

  const double dump = Median(rate["pg_dump | psql"]);
  std::printf("\nmedian of %d runs, %lld rows (wall clock: process start to done)\n\n", args.runs,
              static_cast<long long>(env.total_rows()));
  std::printf("| variant | median rows/s | median s | vs pg_dump | shardcast's own timer, rows/s |\n");
  std::printf("|---|---:|---:|---:|---:|\n");
  for (const auto& v : order) {
    const double r = Median(rate[v]);
    std::string cell = v;  // "pg_dump | psql" must not split the markdown row
    for (std::size_t p = cell.find('|'); p != std::string::npos; p = cell.find('|', p + 2))
      cell.insert(p, "\\");
    std::printf("| %s | %.0f | %.2f | %.2fx | ", cell.c_str(), r, static_cast<double>(env.total_rows()) / r,
                dump > 0 ? r / dump : 0);
    if (own_rate.count(v)) {
      std::printf("%.0f |\n", Median(own_rate[v]));
    } else {
      std::printf("- |\n");
    }
  }
  std::fflush(stdout);
  std::error_code ec;
  if (!args.keep) {
    fs::remove_all(env.work_dir, ec);
  } else {
    std::printf("\nwork directory kept: %s\n", env.work_dir.c_str());
  }
  return Status::Ok();
}

}  // namespace
}  // namespace shardcast::bench

int main(int argc, char** argv) {
  shardcast::bench::Args args;
  if (!shardcast::bench::ParseArgs(argc, argv, &args)) return 64;
  shardcast::Status s = shardcast::bench::Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "snapshot_bench FAILED: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
