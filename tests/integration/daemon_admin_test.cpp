// The admin API end to end over loopback: AdminServer and AdminClient, and
// the snapshot command following a job served by a fake daemon endpoint.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include "daemon/admin_client.h"
#include "daemon/admin_server.h"
#include "daemon/commands.h"

namespace shardcast {
namespace {

using nlohmann::json;

std::string Listen(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

// A loopback port with nothing listening on it (bound once, then released).
int ClosedPort() {
  AdminServer probe("127.0.0.1:0", "");
  EXPECT_TRUE(probe.Start().ok());
  const int port = probe.port();
  probe.Stop();
  return port;
}

std::string ExpectedUnavailable(int port) {
  return "no shardcast daemon answers at " + Listen(port) + " (admin.listen): start it with shardcast run";
}

void RegisterTestRoutes(AdminServer& server) {
  server.Handle("GET", "/healthz", [](const AdminRequest&) { return AdminResponse{200, R"({"ok":true})"}; });
  server.Handle("GET", R"(/jobs/([a-z0-9-]+))", [](const AdminRequest& r) {
    json params = r.params;
    return AdminResponse{
        200, json{{"matches", r.matches}, {"params", params}, {"method", r.method}, {"path", r.path}}.dump()};
  });
  server.Handle("POST", "/echo", [](const AdminRequest& r) {
    return AdminResponse{201, r.body, "text/plain"};
  });
  server.Handle("DELETE", R"(/jobs/([a-z0-9-]+))", [](const AdminRequest& r) {
    return AdminResponse{200, json{{"deleted", r.matches[1]}}.dump()};
  });
  server.Handle("GET", "/boom",
                [](const AdminRequest&) -> AdminResponse { throw std::runtime_error("kaboom"); });
}

json Body(const AdminResponse& r) {
  return json::parse(r.body);
}

TEST(AdminServer, RoutesWithoutToken) {
  AdminServer server("127.0.0.1:0", "");
  RegisterTestRoutes(server);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);
  AdminClient client(Listen(server.port()), "");

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health.ok()) << health.status().ToString();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Body(*health)["ok"], true);
  EXPECT_EQ(health->content_type, "application/json");

  auto job = client.Get("/jobs/snap-3?verbose=1&table=public.t");
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->status, 200) << job->body;
  EXPECT_EQ(Body(*job)["matches"], json({"/jobs/snap-3", "snap-3"}));
  EXPECT_EQ(Body(*job)["params"], json({{"table", "public.t"}, {"verbose", "1"}}));
  EXPECT_EQ(Body(*job)["path"], "/jobs/snap-3");
  EXPECT_EQ(Body(*job)["method"], "GET");

  auto echo = client.Post("/echo", R"({"tables":["public.t"]})");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->status, 201);
  EXPECT_EQ(echo->body, R"({"tables":["public.t"]})");
  EXPECT_EQ(echo->content_type, "text/plain");

  auto del = client.Delete("/jobs/snap-9");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(Body(*del)["deleted"], "snap-9");

  // The pattern must match the whole path, and the method must match.
  for (const auto& r : {client.Get("/nope"), client.Get("/healthzX"), client.Get("/jobs/UPPER"),
                        client.Delete("/healthz"), client.Post("/healthz", "{}")}) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 404) << r->body;
    EXPECT_TRUE(Body(*r)["error"].is_string()) << r->body;
  }

  // A throwing handler answers 500 and the server keeps serving.
  auto boom = client.Get("/boom");
  ASSERT_TRUE(boom.ok());
  EXPECT_EQ(boom->status, 500);
  EXPECT_NE(Body(*boom)["error"].get<std::string>().find("kaboom"), std::string::npos) << boom->body;
  auto again = client.Get("/healthz");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
}

TEST(AdminServer, BearerToken) {
  AdminServer server("127.0.0.1:0", "s3cret-token");
  RegisterTestRoutes(server);
  ASSERT_TRUE(server.Start().ok());
  const std::string at = Listen(server.port());

  for (const std::string& wrong : {std::string(), std::string("s3cret-tokeX"), std::string("s3cret"),
                                   std::string("s3cret-token-and-more")}) {
    auto r = AdminClient(at, wrong).Get("/healthz");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << "token '" << wrong << "'";
    EXPECT_TRUE(Body(*r)["error"].is_string()) << r->body;
    // Unknown paths do not tell an unauthenticated caller what exists.
    auto unknown = AdminClient(at, wrong).Get("/nope");
    ASSERT_TRUE(unknown.ok());
    EXPECT_EQ(unknown->status, 401);
  }
  AdminClient right(at, "s3cret-token");
  auto ok = right.Get("/healthz");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  auto echo = right.Post("/echo", "payload");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->body, "payload");
  auto unknown = right.Get("/nope");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
}

TEST(AdminClient, NothingListening) {
  const int port = ClosedPort();
  AdminClient client(Listen(port), "");
  for (const auto& r : {client.Get("/healthz"), client.Post("/jobs/snapshot", "{}"), client.Delete("/x")}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
    EXPECT_EQ(r.status().message(), ExpectedUnavailable(port));
  }
}

TEST(AdminServer, PortInUse) {
  AdminServer first("127.0.0.1:0", "");
  ASSERT_TRUE(first.Start().ok());
  AdminServer second(Listen(first.port()), "");
  Status s = second.Start();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find(Listen(first.port())), std::string::npos) << s.message();
  // The first still serves.
  auto r = AdminClient(Listen(first.port()), "").Get("/healthz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);

  Status bad_host = AdminServer("192.0.2.1:0", "").Start();  // TEST-NET: not ours
  EXPECT_EQ(bad_host.code(), Code::kUnavailable) << bad_host.ToString();
  EXPECT_NE(bad_host.message().find("192.0.2.1:0"), std::string::npos);
  EXPECT_EQ(AdminServer("no-port", "").Start().code(), Code::kConfig);
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(AdminToken, ReadAndFromConfig) {
  EXPECT_EQ(ReadAdminToken("").value(), "");
  EXPECT_EQ(ReadAdminToken(WriteTemp("tok1", "abc\n")).value(), "abc");
  EXPECT_EQ(ReadAdminToken(WriteTemp("tok2", "abc")).value(), "abc");
  EXPECT_EQ(ReadAdminToken(WriteTemp("tok3", "\n")).status().code(), Code::kConfig);
  auto missing = ReadAdminToken("/nonexistent/admin.token");
  EXPECT_EQ(missing.status().code(), Code::kConfig);
  EXPECT_NE(missing.status().message().find("/nonexistent/admin.token"), std::string::npos);

  AdminServer server("127.0.0.1:0", "from-file");
  RegisterTestRoutes(server);
  ASSERT_TRUE(server.Start().ok());
  Config config;
  config.admin_listen = Listen(server.port());
  config.admin_token_file = WriteTemp("tok4", "from-file\n");
  auto client = AdminClient::FromConfig(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto r = client->Get("/healthz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  config.admin_token_file = "/nonexistent/admin.token";
  EXPECT_EQ(AdminClient::FromConfig(config).status().code(), Code::kConfig);
}

// A daemon's job endpoints: POST /jobs/snapshot answers `post`, each GET of
// the job answers the next of `polls` (the last one repeats).
class FakeJobDaemon {
 public:
  FakeJobDaemon(AdminResponse post, std::vector<json> polls, std::string token = "")
      : server_("127.0.0.1:0", token), post_(std::move(post)), polls_(std::move(polls)) {
    server_.Handle("POST", "/jobs/snapshot", [this](const AdminRequest& r) {
      std::lock_guard<std::mutex> lock(mu_);
      posted_ = r.body;
      return post_;
    });
    server_.Handle("GET", "/jobs/([^/]+)", [this](const AdminRequest& r) {
      if (r.matches[1] != "snap-1")
        return AdminResponse{404, R"({"error":"no job )" + r.matches[1] + R"("})"};
      const size_t i = gets_.fetch_add(1);
      std::lock_guard<std::mutex> lock(mu_);
      return AdminResponse{200, polls_[std::min(i, polls_.size() - 1)].dump()};
    });
    EXPECT_TRUE(server_.Start().ok());
  }
  Config config() const {
    Config c;
    c.admin_listen = Listen(server_.port());
    return c;
  }
  std::string posted() {
    std::lock_guard<std::mutex> lock(mu_);
    return posted_;
  }
  size_t gets() const { return gets_.load(); }

 private:
  AdminServer server_;
  std::mutex mu_;
  AdminResponse post_;
  std::vector<json> polls_;
  std::string posted_;
  std::atomic<size_t> gets_{0};
};

const AdminResponse kAccepted{202, R"({"job":"snap-1"})"};

json Job(const std::string& state, std::vector<json> tables, const std::string& error = "") {
  return {{"id", "snap-1"}, {"kind", "snapshot"}, {"state", state}, {"error", error}, {"tables", tables}};
}
json Table(const std::string& state, int done, int total, int chunks, double rate) {
  return {{"table", "public.t"}, {"state", state},        {"rows_done", done},
          {"rows_total", total}, {"chunks_done", chunks}, {"rows_per_second", rate}};
}

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome RunSnapshot(const Config& config, const std::string& table) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = SnapshotCommand(config, table);
  std::fflush(nullptr);
  Outcome o{code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
  return o;
}

TEST(SnapshotCommand, FollowsJobToDone) {
  FakeJobDaemon daemon(kAccepted, {Job("pending", {}), Job("running", {Table("running", 500, 1000, 1, 250)}),
                                   Job("running", {Table("running", 500, 1000, 1, 250)}),
                                   Job("done", {Table("done", 1000, 1000, 2, 0)})});
  Outcome o = RunSnapshot(daemon.config(), "public.t");
  EXPECT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_EQ(json::parse(daemon.posted()), json({{"tables", {"public.t"}}}));
  EXPECT_EQ(daemon.gets(), 4u);
  EXPECT_NE(o.out.find("snapshot job snap-1 started"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("snapshot job snap-1: pending\n"), std::string::npos) << o.out;
  EXPECT_NE(
      o.out.find(
          "snapshot job snap-1: running\n  public.t: running 500/1,000 rows (50%), 1 chunk, 250/s, ETA 2s\n"),
      std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("public.t: done 1,000/1,000 rows (100%), 2 chunks"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("snapshot job snap-1 done: 1,000 rows in 1 table"), std::string::npos) << o.out;
  // Plain lines only at state changes within 5 s: the repeated poll adds none.
  size_t running_lines = 0;
  for (size_t at = 0; (at = o.out.find("public.t: running", at)) != std::string::npos; ++at) ++running_lines;
  EXPECT_EQ(running_lines, 1u) << o.out;
  EXPECT_EQ(o.out.find("\x1b["), std::string::npos) << "no cursor movement when stdout is not a terminal";
  EXPECT_EQ(o.err, "");
}

TEST(SnapshotCommand, EveryTableAndFailedJob) {
  FakeJobDaemon daemon(kAccepted,
                       {Job("running", {Table("running", 10, 0, 0, 0)}),
                        Job("failed", {Table("failed", 10, 0, 0, 0)}, "duplicate key on shard s2")});
  Outcome o = RunSnapshot(daemon.config(), "");
  EXPECT_EQ(o.code, 70);
  EXPECT_EQ(json::parse(daemon.posted()), json({{"tables", json::array()}}));
  EXPECT_NE(o.err.find("snapshot job snap-1 failed: duplicate key on shard s2"), std::string::npos) << o.err;
  EXPECT_NE(o.out.find("public.t: running 10 rows, 0 chunks, 0/s, ETA ?"), std::string::npos) << o.out;
}

TEST(SnapshotCommand, RefusedRequests) {
  {
    FakeJobDaemon daemon({404, R"({"error":"table public.x is not configured"})"}, {Job("done", {})});
    Outcome o = RunSnapshot(daemon.config(), "public.x");
    EXPECT_EQ(o.code, 78);
    EXPECT_NE(o.err.find("table public.x is not configured"), std::string::npos) << o.err;
    EXPECT_EQ(daemon.gets(), 0u);
  }
  {
    FakeJobDaemon daemon({400, R"({"error":"bad body"})"}, {Job("done", {})});
    EXPECT_EQ(RunSnapshot(daemon.config(), "").code, 78);
  }
  {
    FakeJobDaemon daemon({409, R"({"error":"a snapshot of public.t is already running"})"},
                         {Job("done", {})});
    Outcome o = RunSnapshot(daemon.config(), "public.t");
    EXPECT_EQ(o.code, 70);
    EXPECT_NE(o.err.find("already running"), std::string::npos) << o.err;
  }
  {
    // Accepted, but the job then vanishes.
    FakeJobDaemon daemon({202, R"({"job":"snap-2"})"}, {Job("done", {})});
    Outcome o = RunSnapshot(daemon.config(), "");
    EXPECT_EQ(o.code, 70);
    EXPECT_NE(o.err.find("no job snap-2"), std::string::npos) << o.err;
  }
  {
    FakeJobDaemon daemon({202, R"({"jobs":"snap-1"})"}, {Job("done", {})});
    EXPECT_EQ(RunSnapshot(daemon.config(), "").code, 70);
  }
}

TEST(SnapshotCommand, NoDaemon) {
  const int port = ClosedPort();
  Config config;
  config.admin_listen = Listen(port);
  Outcome o = RunSnapshot(config, "public.t");
  EXPECT_EQ(o.code, 69);
  EXPECT_NE(o.err.find(ExpectedUnavailable(port)), std::string::npos) << o.err;
}

TEST(SnapshotCommand, TokenFromConfig) {
  FakeJobDaemon daemon(kAccepted, {Job("done", {Table("done", 3, 3, 1, 0)})}, "tok");
  Config config = daemon.config();
  EXPECT_EQ(RunSnapshot(config, "").code, 70);  // 401 without the token
  config.admin_token_file = WriteTemp("snaptok", "tok\n");
  Outcome o = RunSnapshot(config, "");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("done: 3 rows in 1 table"), std::string::npos) << o.out;
}

// On a terminal the lines are redrawn in place: run with stdout on a pty.
TEST(SnapshotCommand, TerminalRedrawsInPlace) {
  FakeJobDaemon daemon(kAccepted, {Job("pending", {}), Job("running", {Table("running", 500, 1000, 1, 250)}),
                                   Job("done", {Table("done", 1000, 1000, 2, 0)})});
  int master = -1, slave = -1;
  struct winsize ws = {};
  ws.ws_col = 100;
  ws.ws_row = 30;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, &ws), 0);
  struct termios raw = {};
  ASSERT_EQ(tcgetattr(slave, &raw), 0);
  cfmakeraw(&raw);
  ASSERT_EQ(tcsetattr(slave, TCSANOW, &raw), 0);
  std::fflush(stdout);
  const int saved = dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(dup2(slave, STDOUT_FILENO), STDOUT_FILENO);
  const int code = SnapshotCommand(daemon.config(), "public.t");
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(slave);
  std::string out;
  char buf[4096];
  pollfd pfd{master, POLLIN, 0};
  while (poll(&pfd, 1, 100) > 0) {
    const ssize_t n = read(master, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(master);
  EXPECT_EQ(code, 0) << out;
  // pending: one line; running: up one, two lines; done: up two, two lines.
  EXPECT_NE(out.find("\r\x1b[2Ksnapshot job snap-1: pending\n\x1b[1A\r\x1b[2Ksnapshot job snap-1: running\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\x1b[2A\r\x1b[2Ksnapshot job snap-1: done\n\r\x1b[2Kpublic.t  [####"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("50% 500/1,000 rows  250/s  ETA 2s  running"), std::string::npos) << out;
  EXPECT_NE(out.find("snapshot job snap-1 done: 1,000 rows in 1 table"), std::string::npos) << out;
}

TEST(SnapshotCommand, InterruptStopsFollowingOnly) {
  FakeJobDaemon daemon(kAccepted, {Job("running", {Table("running", 1, 100, 0, 1)})});
  std::thread interrupter([&] {
    // The handler is installed before the first poll; wait for the second.
    while (daemon.gets() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    kill(getpid(), SIGINT);
  });
  Outcome o = RunSnapshot(daemon.config(), "public.t");
  interrupter.join();
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_NE(o.out.find("snapshot job snap-1 keeps running in the daemon"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("/jobs/snap-1"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace shardcast
