// The daemon under systemd's notify protocol, seen from a NOTIFY_SOCKET the
// test makes: READY=1 only once the stream has started (also with a shard
// down), WATCHDOG=1 within the interval, STATUS= lines, STOPPING=1 on
// SIGTERM and exit 0; and SIGHUP applying log.level and naming what needs a
// restart.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* kDdl = "CREATE TABLE public.items (id bigint PRIMARY KEY, amount int NOT NULL);";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "id", "id"}};

struct Notification {
  Clock::time_point at;
  std::string text;
  bool streaming_logged = false;  // the log said "streaming from slot" when it arrived
};

// Collects the daemon's notifications on a socket of our own, as systemd does.
class NotifyCollector {
 public:
  NotifyCollector(const std::string& path, std::function<std::string()> log) : log_(std::move(log)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    EXPECT_LT(path.size(), sizeof addr.sun_path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
    thread_ = std::thread([this] { Loop(); });
  }
  ~NotifyCollector() {
    done_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::vector<Notification> Get() {
    std::lock_guard lock(mu_);
    return got_;
  }
  // Waits until a message starting with prefix arrives; returns its index or -1.
  int WaitFor(const std::string& prefix, std::chrono::seconds timeout, std::size_t from = 0) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto got = Get();
      for (std::size_t i = from; i < got.size(); ++i)
        if (got[i].text.rfind(prefix, 0) == 0) return static_cast<int>(i);
      std::this_thread::sleep_for(50ms);
    }
    return -1;
  }

 private:
  void Loop() {
    char buf[4096];
    while (!done_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      Notification note{Clock::now(), std::string(buf, static_cast<std::size_t>(n))};
      if (note.text == "READY=1")
        note.streaming_logged = log_().find("streaming from slot") != std::string::npos;
      std::lock_guard lock(mu_);
      got_.push_back(std::move(note));
    }
  }

  int fd_ = -1;
  std::function<std::string()> log_;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::vector<Notification> got_;
  std::thread thread_;
};

std::vector<std::string> NotifyEnv(const std::string& socket) {
  // No WATCHDOG_PID: the pid is not known before the fork, and
  // sd_watchdog_enabled takes a missing one as "this process".
  return {"NOTIFY_SOCKET=" + socket, "WATCHDOG_USEC=2000000"};
}

std::string Dump(const std::vector<Notification>& got) {
  std::string out;
  for (const auto& n : got) out += n.text + "\n";
  return out;
}

void WaitForLog(E2EEnv& env, const std::string& text, std::size_t from = 0) {
  const auto deadline = Clock::now() + 60s;
  while (env.daemon()->Log().find(text, from) == std::string::npos) {
    ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();
    ASSERT_LT(Clock::now(), deadline) << "no \"" << text << "\" in the log:\n" << env.daemon()->Log();
    std::this_thread::sleep_for(100ms);
  }
}

TEST(Systemd, ReadyAfterStreamingWatchdogStatusAndStopping) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  const std::string socket = env.dir() + "/notify.sock";
  NotifyCollector notes(socket, [&env] { return env.daemon() ? env.daemon()->Log() : std::string(); });
  env.StartDaemon(config, NotifyEnv(socket));

  const int ready = notes.WaitFor("READY=1", 60s);
  ASSERT_GE(ready, 0) << Dump(notes.Get()) << env.daemon()->Log();
  EXPECT_TRUE(notes.Get()[ready].streaming_logged) << "READY=1 came before the stream started";
  EXPECT_EQ(notes.WaitFor("READY=1", 0s, ready + 1), -1) << "READY=1 twice";

  ASSERT_TRUE(env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(1, 100) g").ok());
  env.WaitCaughtUp({{"public.items", 100}});
  // Several watchdog periods of a running daemon.
  std::this_thread::sleep_for(5s);
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  const int stopping = notes.WaitFor("STOPPING=1", 10s);
  ASSERT_GT(stopping, ready) << Dump(notes.Get());

  const auto got = notes.Get();
  std::vector<Clock::time_point> pings;
  bool streaming_status = false;
  for (int i = 0; i < stopping; ++i) {
    if (got[i].text == "WATCHDOG=1") pings.push_back(got[i].at);
    if (i > ready && got[i].text.rfind("STATUS=streaming slot shardcast; ", 0) == 0 &&
        got[i].text.find("3/3 destinations running") != std::string::npos)
      streaming_status = true;
  }
  EXPECT_TRUE(streaming_status) << Dump(got);
  // From READY=1 to SIGTERM: fed at least every WATCHDOG_USEC (2 s), about every 1 s.
  const auto span = got[stopping].at - got[ready].at;
  EXPECT_GE(pings.size(), static_cast<std::size_t>(span / 1500ms)) << Dump(got);
  for (std::size_t i = 1; i < pings.size(); ++i)
    EXPECT_LT(pings[i] - pings[i - 1], 2s) << "watchdog starved between pings " << i - 1 << " and " << i;
  EXPECT_LT(got[stopping].at - pings.back(), 2s);
}

TEST(Systemd, ReadyWhileAShardIsDown) {
  E2EEnv env;
  E2EEnv::Options options;
  options.own_server = {1};
  env.Start(2, kDdl, "", options);
  const std::string config = env.WriteConfig(kTables);
  // A first run stores every destination's progress, so the next one starts s1 "down".
  env.StartDaemon(config);
  env.WaitForSlot();
  ASSERT_TRUE(env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(1, 100) g").ok());
  env.WaitCaughtUp({{"public.items", 100}});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  ASSERT_TRUE(env.shard_server(1).Stop().ok());

  const std::string socket = env.dir() + "/notify.sock";
  NotifyCollector notes(socket, [&env] { return env.daemon() ? env.daemon()->Log() : std::string(); });
  env.StartDaemon(config, NotifyEnv(socket));
  const int ready = notes.WaitFor("READY=1", 60s);
  ASSERT_GE(ready, 0) << Dump(notes.Get()) << env.daemon()->Log();
  EXPECT_TRUE(notes.Get()[ready].streaming_logged);
  // STATUS= says which destination is down.
  const auto deadline = Clock::now() + 30s;
  bool reported = false;
  while (!reported && Clock::now() < deadline) {
    for (const auto& n : notes.Get())
      reported = reported || (n.text.rfind("STATUS=streaming", 0) == 0 &&
                              n.text.find("2/3 destinations running (s1@default down)") != std::string::npos);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(reported) << Dump(notes.Get());
  // Still fed: a down shard is not a wedged loop.
  const std::size_t before = notes.Get().size();
  EXPECT_GE(notes.WaitFor("WATCHDOG=1", 3s, before), 0) << Dump(notes.Get());
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  EXPECT_GT(notes.WaitFor("STOPPING=1", 10s), ready);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Rewrite(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = ReadFile(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in\n" << text;
  text.replace(at, from.size(), to);
  std::ofstream(path) << text;
}

TEST(Systemd, SighupAppliesLogLevelAndNamesWhatNeedsARestart) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  WaitForLog(env, "streaming from slot");

  Rewrite(config, "log: { level: debug }", "log: { level: info }");
  ASSERT_EQ(::kill(env.daemon()->pid(), SIGHUP), 0);
  WaitForLog(env, "reload: log.level debug -> info");
  std::size_t mark = env.daemon()->Log().size();

  // A table replaced by another: not applied live, and the log says so
  // (tables only added apply live: e2e_reload_test).
  Rewrite(config, "  - name: public.items\n", "  - name: public.more\n");
  ASSERT_EQ(::kill(env.daemon()->pid(), SIGHUP), 0);
  WaitForLog(env,
             "[warn] [supervisor] reload: changed settings that cannot be applied live: tables (added "
             "public.more; removed public.items); a restart applies them",
             mark);
  mark = env.daemon()->Log().size();

  // A file that no longer loads keeps the daemon running on what it has.
  std::ofstream(config) << "source: [\n";
  ASSERT_EQ(::kill(env.daemon()->pid(), SIGHUP), 0);
  WaitForLog(env, "keeping the configuration in force", mark);
  ASSERT_TRUE(env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(1, 10) g").ok());
  env.WaitCaughtUp({{"public.items", 10}});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

}  // namespace
}  // namespace shardcast::testing
