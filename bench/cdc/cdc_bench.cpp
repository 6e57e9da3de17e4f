// cdc_bench: the same workloads through pg_recvlogical (the decode ceiling),
// native logical replication with 4 row-filtered subscriptions, and shardcast
// to 4 shards, to Kafka and to both, in one run on one machine (issue 6).
// Not a test: scripts/bench-cdc.sh runs it and regenerates bench/RESULTS.md.
//
//   cdc_bench [--rows N] [--only W1,W2,W3] [--paths abcde] [--modes backlog,live]
//             [--no-latency] [--latency-seconds S] [--results FILE] [--command TEXT] [--keep]
//   --rows: W1 and W2 operations (W3 writes 5x as many rows), default 1000000.
#include "bench/cdc/cdc_bench.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace shardcast::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Far above any run here; only stops a hung path.
constexpr auto kCompleteLimit = 60min;

std::set<std::string> SplitSet(const std::string& s) {
  std::set<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(item);
  }
  return out;
}

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--rows" && has) {
      args->rows = std::atoll(argv[++i]);
    } else if (a == "--only" && has) {
      args->workloads = SplitSet(argv[++i]);
    } else if (a == "--paths" && has) {
      args->paths.clear();
      for (char c : std::string(argv[++i]))
        if (c >= 'a' && c <= 'e') args->paths += c;
    } else if (a == "--modes" && has) {
      args->modes = SplitSet(argv[++i]);
    } else if (a == "--no-latency") {
      args->latency = false;
    } else if (a == "--latency-seconds" && has) {
      args->latency_seconds = std::atof(argv[++i]);
    } else if (a == "--results" && has) {
      args->results_file = argv[++i];
    } else if (a == "--command" && has) {
      args->command = argv[++i];
    } else if (a == "--keep") {
      args->keep = true;
    } else {
      return false;
    }
  }
  for (const auto& w : args->workloads)
    if (w != "W1" && w != "W2" && w != "W3") return false;
  for (const auto& m : args->modes)
    if (m != "backlog" && m != "live") return false;
  std::sort(args->paths.begin(), args->paths.end());
  return args->rows >= 100 && !args->paths.empty() && args->latency_seconds > 0;
}

StatusOr<std::string> PgBinDir() {
  std::error_code ec;
  int best = -1;
  std::string dir;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string v = entry.path().filename().string();
    if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit)) continue;
    if (!fs::exists(entry.path() / "bin/pg_recvlogical", ec)) continue;
    if (std::stoi(v) > best) {
      best = std::stoi(v);
      dir = (entry.path() / "bin").string();
    }
  }
  if (best < 0) return FailedPrecondition("no pg_recvlogical in /usr/lib/postgresql/*/bin");
  return dir;
}

Status Setup(Env& env) {
  SC_ASSIGN_OR_RETURN(env.pg_bin_dir, PgBinDir());
  std::string tmpl = (fs::temp_directory_path() / "shardcast-cdc-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return IoError("mkdtemp " + tmpl + " failed");
  env.work_dir = tmpl;
  // Large max_wal_size on both: no path should pay for checkpoints the others miss.
  testing::PgServer::Options source;
  source.extra_conf = {"max_wal_senders = 20", "max_replication_slots = 20", "max_wal_size = 8GB",
                       "checkpoint_timeout = 30min", "wal_writer_delay = 10ms"};
  SC_ASSIGN_OR_RETURN(env.source, testing::PgServer::Start(source));
  testing::PgServer::Options shards;
  shards.extra_conf = {"max_logical_replication_workers = 8", "max_worker_processes = 16",
                       "max_replication_slots = 20",          "max_wal_size = 8GB",
                       "checkpoint_timeout = 30min",          "wal_retrieve_retry_interval = 100ms"};
  SC_ASSIGN_OR_RETURN(env.shards, testing::PgServer::Start(shards));
  SC_ASSIGN_OR_RETURN(env.broker, testing::MockBroker::Start());
  return Status::Ok();
}

// The source database of one case, dropped after its paths (declared before them).
class SourceDb {
 public:
  SourceDb(Env& env, std::string name) : env_(env), name_(std::move(name)) {}
  ~SourceDb() { (void)env_.source->Exec("postgres", "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
  Status Create() {
    SC_RETURN_IF_ERROR(env_.source->CreateDatabase(name_));
    return env_.source->Exec(name_, SourceDdl());
  }
  const std::string& name() const { return name_; }

 private:
  Env& env_;
  std::string name_;
};

Status Checkpoint(Env& env) {
  SC_RETURN_IF_ERROR(env.source->Exec("postgres", "CHECKPOINT"));
  return env.shards->Exec("postgres", "CHECKPOINT");
}

// Polls until the path's destinations have everything; returns when.
StatusOr<Clock::time_point> WaitComplete(Path& p, const Written& w, Clock::time_point since) {
  for (;;) {
    SC_ASSIGN_OR_RETURN(bool done, p.Complete(w));
    if (done) return Clock::now();
    if (Clock::now() - since > kCompleteLimit) return Internal(p.name() + ": not complete after an hour");
    std::this_thread::sleep_for(10ms);
  }
}

void PrintRow(const ResultRow& r) {
  std::printf("%-3s %-8s %-22s %9lld changes %8.2f s %9.0f changes/s", r.workload.c_str(), r.mode.c_str(),
              r.path.c_str(), static_cast<long long>(r.changes), r.seconds, r.changes_per_s());
  if (r.lag_s >= 0) std::printf("  lag left %.2f s", r.lag_s);
  if (r.p50_ms >= 0) std::printf("  p50 %.1f ms p99 %.1f ms", r.p50_ms, r.p99_ms);
  if (r.rss_kib >= 0) std::printf("  peak RSS %.0f MiB", static_cast<double>(r.rss_kib) / 1024);
  std::printf("\n");
  std::fflush(stdout);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Backlog: every path's slot exists before the workload; the workload is
// written once, then each path in turn drains it and is timed.
Status RunBacklog(Env& env, const Args& args, const std::string& workload, std::vector<ResultRow>* out) {
  SourceDb db(env, Lower(workload) + "_backlog");
  SC_RETURN_IF_ERROR(db.Create());
  std::vector<std::unique_ptr<Path>> paths;
  for (char c : args.paths) {
    paths.push_back(MakePath(c, env, db.name(), Lower(workload) + "b"));
    SC_RETURN_IF_ERROR(paths.back()->Prepare(false).Prefixed("preparing " + paths.back()->name()));
  }
  std::printf("%s backlog: writing %lld operations...\n", workload.c_str(),
              static_cast<long long>(WorkloadOps(workload, args.rows)));
  std::fflush(stdout);
  SC_ASSIGN_OR_RETURN(Written w, WriteWorkload(env, db.name(), workload, args.rows));
  std::printf("%s backlog: written in %.1f s, end LSN %s\n", workload.c_str(),
              Seconds(w.write_end - w.write_start), w.end_lsn.c_str());
  for (auto& p : paths) {
    SC_RETURN_IF_ERROR(Checkpoint(env));
    const auto started = Clock::now();
    SC_RETURN_IF_ERROR(p->Start(w).Prefixed("starting " + p->name()));
    SC_ASSIGN_OR_RETURN(auto done, WaitComplete(*p, w, started));
    ResultRow r{workload, "backlog", p->name()};
    r.changes = w.changes();
    r.seconds = Seconds(done - started);
    r.rss_kib = p->PeakRssKib();
    SC_RETURN_IF_ERROR(p->Stop());
    SC_RETURN_IF_ERROR(p->Verify(w));
    p->Cleanup();  // frees the WAL this path's slot held
    PrintRow(r);
    out->push_back(r);
  }
  return Status::Ok();
}

// Live: the path streams while the workload is written; each path gets a
// fresh source database and its own write of the workload.
Status RunLive(Env& env, const Args& args, const std::string& workload, std::vector<ResultRow>* out) {
  for (char c : args.paths) {
    SourceDb db(env, Lower(workload) + "_live_" + std::string(1, c));
    SC_RETURN_IF_ERROR(db.Create());
    auto p = MakePath(c, env, db.name(), Lower(workload) + "l");
    SC_RETURN_IF_ERROR(p->Prepare(true).Prefixed("preparing " + p->name()));
    SC_RETURN_IF_ERROR(Checkpoint(env));
    SC_ASSIGN_OR_RETURN(Written w, WriteWorkload(env, db.name(), workload, args.rows));
    SC_ASSIGN_OR_RETURN(auto done, WaitComplete(*p, w, w.write_start));
    ResultRow r{workload, "live", p->name()};
    r.changes = w.changes();
    r.seconds = Seconds(done - w.write_start);
    r.lag_s = Seconds(done - w.write_end);
    r.rss_kib = p->PeakRssKib();
    SC_RETURN_IF_ERROR(p->Stop());
    SC_RETURN_IF_ERROR(p->Verify(w));
    PrintRow(r);
    out->push_back(r);
  }
  return Status::Ok();
}

// Latency at a fixed offered rate: half of the path's W1 backlog rate when
// that was measured in this run, else 10000 rows/s.
Status RunLatency(Env& env, const Args& args, char c, std::vector<ResultRow>* out) {
  SourceDb db(env, std::string("lat_") + c);
  SC_RETURN_IF_ERROR(db.Create());
  auto p = MakePath(c, env, db.name(), "lat");
  double rate = 10000;
  for (const auto& r : *out)
    if (r.workload == "W1" && r.mode == "backlog" && r.path == p->name()) rate = r.changes_per_s() / 2;
  SC_RETURN_IF_ERROR(p->Prepare(true).Prefixed("preparing " + p->name()));
  std::unique_ptr<KafkaLatencyReader> reader;
  if (!p->KafkaOnlyTopic().empty()) {
    SC_ASSIGN_OR_RETURN(reader, KafkaLatencyReader::Start(env.broker->bootstrap(), p->KafkaOnlyTopic(), 4));
  }
  SC_ASSIGN_OR_RETURN(Written w, WritePaced(env, db.name(), rate, args.latency_seconds));
  SC_ASSIGN_OR_RETURN(auto done, WaitComplete(*p, w, w.write_start));
  ResultRow r{"lat", "paced", p->name()};
  r.changes = w.changes();
  r.seconds = Seconds(done - w.write_start);
  r.lag_s = Seconds(done - w.write_end);
  r.rate_offered = static_cast<double>(w.inserts) / Seconds(w.write_end - w.write_start);
  r.rss_kib = p->PeakRssKib();
  Latency lat;
  if (reader) {
    // The consumer may still be behind the end offsets it was polled against.
    const auto until = Clock::now() + 30s;
    while (reader->seen() < w.inserts && Clock::now() < until) std::this_thread::sleep_for(10ms);
    lat = reader->Finish();
  } else {
    SC_ASSIGN_OR_RETURN(lat, p->MeasureLatency());
  }
  if (lat.count() < w.inserts) {
    return Internal(p->name() + ": latency of " + std::to_string(lat.count()) + " rows, " +
                    std::to_string(w.inserts) + " written");
  }
  r.p50_ms = lat.Percentile(0.5);
  r.p99_ms = lat.Percentile(0.99);
  SC_RETURN_IF_ERROR(p->Stop());
  SC_RETURN_IF_ERROR(p->Verify(w));
  std::printf("(offered %.0f rows/s, target %.0f) ", r.rate_offered, rate);
  PrintRow(r);
  out->push_back(r);
  return Status::Ok();
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "?";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

Status Run(const Args& args) {
  const std::string load_before = LoadAverage();
  Env env;
  SC_RETURN_IF_ERROR(Setup(env).Prefixed("setting up"));
  SC_ASSIGN_OR_RETURN(auto version, env.source->Query("postgres", "SHOW server_version"));
  const std::string pg = version.at(0).at(0).value_or("?");
  std::printf("PostgreSQL %s; source 127.0.0.1:%d, shard server 127.0.0.1:%d, mock broker %s\n", pg.c_str(),
              env.source->port(), env.shards->port(), env.broker->bootstrap().c_str());
  std::printf("work directory (kept when a run fails): %s\n", env.work_dir.c_str());
  std::fflush(stdout);
  const auto started = Clock::now();
  std::vector<ResultRow> rows;
  // Latency right after W1, whose backlog rate sets the offered rate: on
  // servers in the state that rate was measured in, not amid the clean-up of
  // W3's 5N rows (dropped databases, checkpoints).
  bool latency_done = !args.latency;
  auto run_latency = [&]() -> Status {
    latency_done = true;
    for (char c : args.paths)
      if (c == 'b' || c == 'c' || c == 'd') SC_RETURN_IF_ERROR(RunLatency(env, args, c, &rows));
    return Status::Ok();
  };
  for (const auto& workload : args.workloads) {
    if (args.modes.count("backlog"))
      SC_RETURN_IF_ERROR(RunBacklog(env, args, workload, &rows).Prefixed(workload));
    if (args.modes.count("live")) SC_RETURN_IF_ERROR(RunLive(env, args, workload, &rows).Prefixed(workload));
    if (workload == "W1" && !latency_done) SC_RETURN_IF_ERROR(run_latency());
  }
  if (!latency_done) SC_RETURN_IF_ERROR(run_latency());
  const std::string table = ResultsTable(rows);
  std::printf("\ntotal %.0f s\n\n%s", Seconds(Clock::now() - started), table.c_str());
  std::fflush(stdout);

  if (!args.results_file.empty()) {
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::string s = "Measured " + std::string(date) + " on " +
                    std::to_string(std::thread::hardware_concurrency()) + " CPUs (" + CpuModel() +
                    "), PostgreSQL " + pg + "; W1/W2 " + std::to_string(args.rows) + " operations, W3 " +
                    std::to_string(WorkloadOps("W3", args.rows)) + " rows; load average " + load_before +
                    " before, " + LoadAverage() + " after.\n\n";
    s += "Command: `" + args.command + "`\n\n" + table;
    SC_RETURN_IF_ERROR(WriteResultsSection(args.results_file, s));
    std::printf("\nwrote the CDC section of %s\n", args.results_file.c_str());
  }
  std::error_code ec;
  if (!args.keep) {
    fs::remove_all(env.work_dir, ec);
  } else {
    std::printf("work directory kept: %s\n", env.work_dir.c_str());
  }
  return Status::Ok();
}

}  // namespace
}  // namespace shardcast::bench

int main(int argc, char** argv) {
  shardcast::bench::Args args;
  if (!shardcast::bench::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: cdc_bench [--rows N] [--only W1,W2,W3] [--paths abcde] [--modes backlog,live]\n"
                 "                 [--no-latency] [--latency-seconds S] [--results FILE] [--command TEXT] "
                 "[--keep]\n");
    return 64;
  }
  if (args.command.empty()) {
    for (int i = 0; i < argc; ++i) args.command += (i ? " " : "") + std::string(argv[i]);
  }
  shardcast::Status s = shardcast::bench::Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "cdc_bench FAILED: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
