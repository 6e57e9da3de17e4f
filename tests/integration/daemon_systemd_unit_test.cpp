// The systemd side of the daemon without a running pipeline: the unit file
// passes systemd-analyze, the example config holds every key with its
// default, the notifier speaks the protocol on a real socket, and a reload
// applies the log level and names what needs a restart.
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/config.h"
#include "daemon/signals.h"
#include "daemon/systemd_notify.h"

namespace shardcast {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// SHARDCAST_FIXTURES is <source>/tests/fixtures.
const fs::path kDeploy = fs::path(SHARDCAST_FIXTURES).parent_path().parent_path() / "deploy";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sc-systemd-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs a shell command; returns its exit code and combined output.
int Shell(const std::string& command, std::string* output) {
  output->clear();
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// systemd-analyze verify on the unit with ExecStart pointing at `binary`.
int VerifyUnit(const std::string& dir, const std::string& binary, std::string* output) {
  const std::string unit =
      std::regex_replace(ReadFile(kDeploy / "shardcast.service"), std::regex("ExecStart=/usr/bin/shardcast"),
                         "ExecStart=" + binary);
  const std::string path = dir + "/shardcast.service";
  std::ofstream(path) << unit;
  return Shell("systemd-analyze verify " + path, output);
}

TEST(SystemdUnit, VerifiesCleanly) {
  std::string out;
  if (Shell("command -v systemd-analyze", &out) != 0) GTEST_SKIP() << "systemd-analyze is not installed";
  TempDir dir;
  const int rc = VerifyUnit(dir.path(), SHARDCAST_BINARY, &out);
  EXPECT_EQ(rc, 0) << out;
  // Unknown keys are only warned about: any output is a defect.
  EXPECT_EQ(out, "");
  // And it does catch a broken unit: a binary that does not exist.
  EXPECT_NE(VerifyUnit(dir.path(), dir.path() + "/no-such-binary", &out), 0) << out;
}

TEST(SystemdUnit, HoldsWhatOperatorsRelyOn) {
  const std::string unit = ReadFile(kDeploy / "shardcast.service");
  for (const char* line :
       {"Type=notify", "ExecStart=/usr/bin/shardcast run -c /etc/shardcast/shardcast.yaml",
        "ExecReload=/bin/kill -HUP $MAINPID", "User=shardcast", "Group=shardcast", "StateDirectory=shardcast",
        "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
        "Restart=on-failure", "RestartPreventExitStatus=64 65 74 75 76 78", "WatchdogSec=30",
        "TimeoutStopSec=90"}) {
    EXPECT_NE(unit.find(std::string("\n") + line + "\n"), std::string::npos) << line;
  }
  EXPECT_NE(unit.find("\nLimitNOFILE="), std::string::npos);
}

TEST(ExampleConfig, HasEveryKeyWithItsDefault) {
  const std::string text = ReadFile(kDeploy / "shardcast.yaml");
  // Every key of DESIGN.md, the optional ones at least in a comment.
  for (const char* key : {"source:",
                          "dsn:",
                          "password_file:",
                          "slot:",
                          "publication:",
                          "create:",
                          "heartbeat_interval:",
                          "tables:",
                          "name:",
                          "mode:",
                          "shard_key:",
                          "ring:",
                          "vnodes_per_weight:",
                          "regions:",
                          "shards:",
                          "id:",
                          "weight:",
                          "cross_shard:",
                          "kafka:",
                          "brokers:",
                          "prefix:",
                          "topic:",
                          "partition_by:",
                          "tombstones:",
                          "exactly_once:",
                          "properties:",
                          "snapshot:",
                          "workers:",
                          "chunk_rows:",
                          "limits:",
                          "queue_bytes:",
                          "on_error:",
                          "max_backlog_bytes:",
                          "checkpoint:",
                          "dir:",
                          "metrics:",
                          "listen:",
                          "admin:",
                          "token_file:",
                          "log:",
                          "level:",
                          "format:"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
  auto loaded = ParseConfig(text, "deploy/shardcast.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Config& c = *loaded;
  const Config d;
  const SourceConfig ds;
  EXPECT_EQ(c.source.slot, ds.slot);
  EXPECT_EQ(c.source.publication, ds.publication);
  EXPECT_EQ(c.source.create, ds.create);
  EXPECT_EQ(c.source.heartbeat_interval, ds.heartbeat_interval);
  EXPECT_EQ(c.vnodes_per_weight, d.vnodes_per_weight);
  EXPECT_EQ(c.regions, std::vector<std::string>{"default"});
  EXPECT_EQ(c.cross_shard_atomic, d.cross_shard_atomic);
  ASSERT_TRUE(c.kafka.has_value());
  const KafkaConfig dk;
  EXPECT_EQ(c.kafka->prefix, dk.prefix);
  EXPECT_EQ(c.kafka->topic, dk.topic);
  EXPECT_EQ(c.kafka->partition_by_shard_key, dk.partition_by_shard_key);
  EXPECT_EQ(c.kafka->tombstones, dk.tombstones);
  EXPECT_EQ(c.kafka->exactly_once, dk.exactly_once);
  EXPECT_EQ(c.snapshot_workers, d.snapshot_workers);
  EXPECT_EQ(c.snapshot_chunk_rows, d.snapshot_chunk_rows);
  EXPECT_EQ(c.queue_bytes, d.queue_bytes);
  EXPECT_EQ(c.on_error_dead_letter, d.on_error_dead_letter);
  EXPECT_EQ(c.max_backlog_bytes, d.max_backlog_bytes);
  EXPECT_EQ(c.metrics_listen, d.metrics_listen);
  EXPECT_EQ(c.admin_listen, d.admin_listen);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_EQ(c.log_json, d.log_json);
  // The unit's StateDirectory=shardcast.
  EXPECT_EQ(c.checkpoint_dir, "/var/lib/shardcast");
  EXPECT_EQ(c.checkpoint_dir, d.checkpoint_dir);
}

// A NOTIFY_SOCKET of our own, as systemd makes one.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() { ::close(fd_); }
  // Every message waiting now.
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

int Count(const std::vector<std::string>& messages, const std::string& m) {
  return static_cast<int>(std::count(messages.begin(), messages.end(), m));
}

TEST(SystemdNotifier, NoOpWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  SystemdNotifier n;
  EXPECT_FALSE(n.enabled());
  EXPECT_EQ(n.watchdog_interval().count(), 0);
  StatusBoard board;
  DaemonStatus st;
  st.streaming = true;
  board.Publish(st);
  n.Tick(board, std::chrono::steady_clock::now());
  EXPECT_FALSE(n.ready_sent());
}

TEST(SystemdNotifier, ReadyStatusWatchdogStopping) {
  TempDir dir;
  NotifySocket sock(dir.path() + "/notify");
  ::setenv("NOTIFY_SOCKET", (dir.path() + "/notify").c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);
  ::unsetenv("WATCHDOG_PID");  // systemd's sd_watchdog_enabled takes a missing one as "this process"
  SystemdNotifier n;
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdog_interval(), 400ms);
  EXPECT_EQ(n.tick_interval(), 100ms);

  StatusBoard board;
  const auto t0 = std::chrono::steady_clock::now();
  // Starting: no READY, but the watchdog is fed (startup has its own timeout).
  n.Tick(board, t0);
  auto m = sock.Drain();
  EXPECT_EQ(Count(m, "READY=1"), 0);
  EXPECT_EQ(Count(m, "STATUS=starting"), 1);
  EXPECT_EQ(Count(m, "WATCHDOG=1"), 1);

  DaemonStatus st;
  st.streaming = true;
  st.slot = "shardcast";
  st.destinations = {{"s0@default", "running", "", 0, 0, 0, 0}, {"kafka", "down", "broker gone", 0, 0, 0, 0}};
  board.Publish(st);
  board.Beat();
  n.Tick(board, std::chrono::steady_clock::now());
  m = sock.Drain();
  EXPECT_EQ(Count(m, "READY=1"), 1);
  EXPECT_EQ(Count(m, "WATCHDOG=1"), 0) << "not due before half the interval";
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].rfind("STATUS=streaming slot shardcast; ", 0), 0u) << m[0];
  EXPECT_NE(m[0].find("1/2 destinations running (kafka down)"), std::string::npos) << m[0];

  // Due, and the loop beats: fed. READY and an unchanged STATUS are not repeated.
  std::this_thread::sleep_for(250ms);
  board.Beat();
  n.Tick(board, std::chrono::steady_clock::now());
  EXPECT_EQ(sock.Drain(), std::vector<std::string>{"WATCHDOG=1"});

  // Due, but the loop has not beaten for longer than the interval: starved.
  n.Tick(board, board.last_beat() + 500ms);
  EXPECT_TRUE(sock.Drain().empty());
  // It beats again: fed again.
  std::this_thread::sleep_for(250ms);
  board.Beat();
  n.Tick(board, std::chrono::steady_clock::now());
  EXPECT_EQ(sock.Drain(), std::vector<std::string>{"WATCHDOG=1"});

  // The session ended and the pipeline retries with backoff: no beat, but fed.
  std::this_thread::sleep_for(250ms);
  DaemonStatus retrying;
  retrying.last_error = "source: connection refused";
  board.Publish(retrying);
  n.Tick(board, board.last_beat() + 2s);
  EXPECT_EQ(sock.Drain(), (std::vector<std::string>{
                              "STATUS=not streaming, retrying: source: connection refused", "WATCHDOG=1"}));

  n.Stopping();
  n.Stopping();
  m = sock.Drain();
  EXPECT_EQ(m, std::vector<std::string>{"STOPPING=1"});
  board.Beat();
  n.Tick(board, std::chrono::steady_clock::now() + 10s);
  m = sock.Drain();
  EXPECT_EQ(Count(m, "WATCHDOG=1"), 0);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].rfind("STATUS=stopping; ", 0), 0u) << m[0];
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SystemdNotifier, StatusLineIsOneLine) {
  DaemonStatus st;
  EXPECT_EQ(StatusLine(st), "starting");
  st.last_error = "source: connection refused\nis the server running?";
  EXPECT_EQ(StatusLine(st), "not streaming, retrying: source: connection refused is the server running?");
  st = DaemonStatus{};
  st.streaming = true;
  st.slot = "shardcast";
  st.source_lag_bytes = 12345;
  st.source_lag_seconds = 0.42;
  st.changes = 1234;
  st.transactions = 56;
  st.destinations = {{"s0@default", "running", "", 0, 0, 0, 0}};
  EXPECT_EQ(StatusLine(st),
            "streaming slot shardcast; lag 12.3 kB, 0.4 s; 1/1 destinations running; 1234 changes, 56 "
            "transactions");
}

const char* kBase = R"(source: { dsn: "host=127.0.0.1 dbname=app" }
tables:
  - name: public.a
shards:
  - id: s0
    dsn: "host=127.0.0.1 dbname=s0"
log: { level: debug }
)";

TEST(Reload, NamesWhatNeedsARestart) {
  auto a = ParseConfig(kBase, "a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(RestartOnlyChanges(*a, *a).empty());
  std::string text = std::regex_replace(std::string(kBase), std::regex("level: debug"), "level: warn");
  auto b = ParseConfig(text, "b");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(RestartOnlyChanges(*a, *b).empty()) << "log.* applies live";
  text = std::regex_replace(text, std::regex("  - name: public.a\n"),
                            "  - name: public.a\n  - name: b\n    mode: reference\n");
  text = std::regex_replace(text, std::regex("dbname=s0"), "dbname=s0x");
  text += "limits: { queue_bytes: 2MiB }\n";
  b = ParseConfig(text, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(RestartOnlyChanges(*a, *b),
            (std::vector<std::string>{"tables (added public.b)", "shards", "limits.queue_bytes"}));
}

TEST(Reload, AppliesLogLevelAndWarnsAboutTheRest) {
  TempDir dir;
  const std::string path = dir.path() + "/shardcast.yaml";
  std::ofstream(path) << kBase;
  auto running = LoadConfigFile(path);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  std::ostringstream out;
  auto logger =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%l %v");
  logger->set_level(spdlog::level::debug);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  std::ofstream(path) << std::regex_replace(std::string(kBase), std::regex("level: debug"), "level: warn");
  ReloadConfig(&*running);
  EXPECT_EQ(logger->level(), spdlog::level::warn);
  EXPECT_EQ(running->log_level, "warn");
  EXPECT_NE(out.str().find("info reload: log.level debug -> warn"), std::string::npos) << out.str();

  out.str("");
  std::ofstream(path) << std::regex_replace(std::string(kBase), std::regex("level: debug"), "level: warn") +
                             "snapshot: { workers: 3 }\n";
  ReloadConfig(&*running);
  EXPECT_EQ(out.str(),
            "warning reload: changed settings that cannot be applied live: snapshot.workers; a restart "
            "applies them\n");

  // A broken file changes nothing.
  out.str("");
  std::ofstream(path) << "source: [\n";
  ReloadConfig(&*running);
  EXPECT_NE(out.str().find("error reload: "), std::string::npos) << out.str();
  EXPECT_EQ(logger->level(), spdlog::level::warn);
  spdlog::set_default_logger(previous);
}

}  // namespace
}  // namespace shardcast
