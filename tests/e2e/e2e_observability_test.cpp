// Operating shardcast: /metrics during a workload (every documented metric,
// counts that match the changes made, lag back near zero after catch-up,
// promtool's lint), the admin API's /status, /readyz and /ring (a stopped
// shard is reported, not fatal), `shardcast status`, and the bearer token;
// neither the token nor the source password reaches /status or the log.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/admin_client.h"
#include "sharding/ring.h"
#include "sharding/shard_key.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* kDdl = "CREATE TABLE public.items (id bigint PRIMARY KEY, amount int NOT NULL);";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "id", "id"}};
const char* kPassword = "Pw-SeCrEt-4711";
const char* kToken = "tok-ObSeRvE-0815";

const std::vector<std::string> kDocumentedMetrics = {"shardcast_source_lag_bytes",
                                                     "shardcast_source_lag_seconds",
                                                     "shardcast_changes_total",
                                                     "shardcast_transactions_total",
                                                     "shardcast_destination_lag_seconds",
                                                     "shardcast_destination_durable_lsn",
                                                     "shardcast_apply_latency_seconds",
                                                     "shardcast_destination_errors_total",
                                                     "shardcast_queue_bytes",
                                                     "shardcast_backlog_bytes",
                                                     "shardcast_ring_epoch",
                                                     "shardcast_rebalance_progress_ratio",
                                                     "shardcast_checkpoint_write_seconds",
                                                     "shardcast_slot_retained_bytes",
                                                     "shardcast_destination_up",
                                                     "shardcast_streaming",
                                                     "shardcast_source_wal_lsn",
                                                     "shardcast_slot_wal_keep_size_bytes"};

int IdOn(int owner, int from) {
  static const Ring ring = *Ring::Build({{"s0", 1}, {"s1", 1}}, 1024, 1);
  for (int id = from;; ++id) {
    const std::string text = std::to_string(id);
    if (static_cast<int>(ring.OwnerOf(HashShardKey({std::string_view(text)}))) == owner) return id;
  }
}

std::string Get(int port, const std::string& path, int* status, const std::string& token = "") {
  AdminClient client("127.0.0.1:" + std::to_string(port), token);
  auto r = client.Get(path);
  if (!r.ok()) {
    *status = -1;
    return r.status().ToString();
  }
  *status = r->status;
  return r->body;
}

std::string Scrape(E2EEnv& env) {
  int status = 0;
  std::string body = Get(env.metrics_port(), "/metrics", &status);
  EXPECT_EQ(status, 200) << body;
  return body;
}

// Sum of the samples of metric `name` (exactly; not its _bucket etc.) whose
// line contains `filter`; -1 when there is none.
double Sample(const std::string& text, const std::string& name, const std::string& filter = "") {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.compare(0, name.size(), name) != 0) continue;
    if (line.size() <= name.size() || (line[name.size()] != '{' && line[name.size()] != ' ')) continue;
    if (!filter.empty() && line.find(filter) == std::string::npos) continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
    found = true;
  }
  return found ? sum : -1;
}

// Polls the metrics until pred(scrape) holds; fails after 60 s.
template <typename Pred>
std::string WaitForMetrics(E2EEnv& env, Pred pred, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    std::string text = Scrape(env);
    if (pred(text)) return text;
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "timed out waiting for " << what << "\n" << text;
      return text;
    }
    std::this_thread::sleep_for(300ms);
  }
}

int Shell(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  return pclose(p);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Replace(std::string& s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
}

bool HavePromtool() {
  return std::system("command -v promtool >/dev/null 2>&1") == 0;
}

TEST(Observability, MetricsAdminApiAndStatusCommand) {
  E2EEnv env;
  E2EEnv::Options options;
  options.own_server = {1};
  env.Start(2, kDdl, "", options);
  // The password comes from password_file (the trust-auth server ignores it).
  std::ofstream(env.dir() + "/source.password") << kPassword << "\n";
  const std::string config = env.WriteConfig(kTables);
  {
    std::string y = ReadAll(config);
    Replace(y, "  heartbeat_interval: 1s\n",
            "  heartbeat_interval: 1s\n  password_file: " + env.dir() + "/source.password\n");
    std::ofstream(config) << y;
  }
  env.StartDaemon(config);
  env.WaitForSlot();
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql; };

  const std::string base = WaitForMetrics(
      env, [](const std::string& t) { return Sample(t, "shardcast_streaming") == 1; }, "streaming");
  EXPECT_EQ(Sample(base, "shardcast_ring_epoch"), 1);
  const double txns0 = Sample(base, "shardcast_transactions_total");
  const double s0_durable0 = Sample(base, "shardcast_destination_durable_lsn", "s0@default");

  // The workload: 1 insert transaction of 100 rows, 10 single-row updates, 1 of 5 deletes.
  exec("INSERT INTO items SELECT g, g FROM generate_series(1, 100) g");
  for (int i = 1; i <= 10; ++i) exec("UPDATE items SET amount = amount + 1 WHERE id = " + std::to_string(i));
  exec("DELETE FROM items WHERE id BETWEEN 91 AND 95");
  env.WaitCaughtUp({{"public.items", 115}});
  auto count = [](const std::string& t, const char* op) {
    return Sample(t, "shardcast_changes_total", std::string("op=\"") + op + "\"");
  };
  std::string text = WaitForMetrics(
      env,
      [&](const std::string& t) {
        return count(t, "insert") >= 100 && count(t, "update") >= 10 && count(t, "delete") >= 5;
      },
      "changes_total to count the workload");
  std::this_thread::sleep_for(1s);  // nothing more may come
  text = Scrape(env);
  for (const auto& name : kDocumentedMetrics)
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name << "\n" << text;
  EXPECT_EQ(count(text, "insert"), 100) << text;
  EXPECT_EQ(count(text, "update"), 10) << text;
  EXPECT_EQ(count(text, "delete"), 5) << text;
  EXPECT_NE(text.find("shardcast_changes_total{"), std::string::npos);
  EXPECT_NE(Sample(text, "shardcast_changes_total", "table=\"public.items\""), -1) << text;
  EXPECT_GE(Sample(text, "shardcast_transactions_total") - txns0, 12) << text;
  EXPECT_GT(Sample(text, "shardcast_destination_durable_lsn", "s0@default"), s0_durable0) << text;
  EXPECT_GT(Sample(text, "shardcast_apply_latency_seconds_count", "kafka"), 0) << text;
  EXPECT_GT(Sample(text, "shardcast_checkpoint_write_seconds_count"), 0) << text;
  EXPECT_EQ(Sample(text, "shardcast_destination_up"), 3) << text;
  // Caught up: the lag returns near zero (the source position is sampled every 5 s).
  text = WaitForMetrics(
      env,
      [](const std::string& t) {
        return Sample(t, "shardcast_source_lag_seconds") < 1.0 &&
               Sample(t, "shardcast_source_lag_bytes") < 64 * 1024 &&
               Sample(t, "shardcast_slot_retained_bytes") > 0;
      },
      "source lag near zero");

  if (HavePromtool()) {
    const std::string scrape_path = env.dir() + "/scrape.txt";
    std::ofstream(scrape_path) << text;
    std::string out;
    EXPECT_EQ(Shell("promtool check metrics < " + scrape_path, &out), 0) << out;
    out.clear();
    const std::string rules = std::string(SHARDCAST_FIXTURES) + "/../../deploy/prometheus/alerts.yml";
    EXPECT_EQ(Shell("promtool check rules " + rules, &out), 0) << out;
  } else {
    ADD_FAILURE() << "promtool is missing (scripts/install-deps.sh installs the prometheus package)";
  }

  // The admin API while everything runs.
  int status = 0;
  std::string body = Get(env.admin_port(), "/readyz", &status);
  EXPECT_EQ(status, 200) << body;
  body = Get(env.admin_port(), "/status", &status);
  ASSERT_EQ(status, 200) << body;
  json st = json::parse(body);
  EXPECT_TRUE(st["streaming"].get<bool>());
  std::set<std::string> running;
  for (const auto& d : st["destinations"])
    if (d["state"] == "running") running.insert(d["id"].get<std::string>());
  EXPECT_EQ(running, (std::set<std::string>{"s0@default", "s1@default", "kafka"})) << body;
  EXPECT_GE(st["changes"].get<std::uint64_t>(), 115u) << body;
  body = Get(env.admin_port(), "/ring", &status);
  ASSERT_EQ(status, 200) << body;
  json ring = json::parse(body);
  EXPECT_EQ(ring["epoch"], 1);
  EXPECT_EQ(ring["vnodes_per_weight"], 1024);
  ASSERT_EQ(ring["shards"].size(), 2u) << body;
  EXPECT_EQ(ring["shards"][0]["id"], "s0");
  EXPECT_EQ(ring["shards"][1]["weight"], 1);

  std::string out;
  EXPECT_EQ(RunShardcast({"status", "-c", config}, &out), 0) << out;
  for (const char* id : {"s0@default", "s1@default", "kafka", "running"})
    EXPECT_NE(out.find(id), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(RunShardcast({"status", "-c", config, "--json"}, &out), 0) << out;
  json parsed = json::parse(out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << out;
  EXPECT_EQ(parsed["destinations"].size(), 3u) << out;

  // A shard goes away: reported by /readyz, /status and metrics; the daemon stays.
  ASSERT_TRUE(env.shard_server(1).Stop().ok());
  for (int i = 0; i < 5; ++i)
    exec("INSERT INTO items VALUES (" + std::to_string(IdOn(1, 1000 + i * 10)) + ", 1)");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    body = Get(env.admin_port(), "/readyz", &status);
    if (status == 503 && body.find("s1@default") != std::string::npos) break;
    ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << status << " " << body;
    std::this_thread::sleep_for(300ms);
  }
  body = Get(env.admin_port(), "/status", &status);
  ASSERT_EQ(status, 200) << body;
  st = json::parse(body);
  for (const auto& d : st["destinations"])
    EXPECT_EQ(d["state"], d["id"] == "s1@default" ? "down" : "running") << body;
  text = WaitForMetrics(
      env, [](const std::string& t) { return Sample(t, "shardcast_source_lag_seconds") > 0; },
      "source lag while s1 is down");
  EXPECT_EQ(Sample(text, "shardcast_destination_up", "s1@default"), 0) << text;
  EXPECT_GE(Sample(text, "shardcast_destination_errors_total", "s1@default"), 1) << text;
  EXPECT_GT(Sample(text, "shardcast_destination_lag_seconds", "s1@default"), 0) << text;
  EXPECT_TRUE(env.daemon()->Running());

  ASSERT_TRUE(env.shard_server(1).Restart().ok());
  env.WaitCaughtUp({{"public.items", 120}});
  env.ExpectShardsMatchSource(kTables);

  // With a token: 401 without it, 200 with it; `shardcast status` reads the file.
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  std::ofstream(env.dir() + "/admin.token") << kToken << "\n";
  {
    std::string y = ReadAll(config);
    const std::string listen = "listen: \"127.0.0.1:" + std::to_string(env.admin_port()) + "\"";
    Replace(y, listen, listen + ", token_file: " + env.dir() + "/admin.token");
    std::ofstream(config) << y;
  }
  env.StartDaemon(config);
  const auto ready_by = std::chrono::steady_clock::now() + 60s;
  while (Get(env.admin_port(), "/readyz", &status, kToken), status != 200) {
    ASSERT_LT(std::chrono::steady_clock::now(), ready_by) << env.daemon()->Log();
    std::this_thread::sleep_for(300ms);
  }
  body = Get(env.admin_port(), "/status", &status);
  EXPECT_EQ(status, 401) << body;
  body = Get(env.admin_port(), "/status", &status, kToken);
  EXPECT_EQ(status, 200) << body;
  out.clear();
  EXPECT_EQ(RunShardcast({"status", "-c", config}, &out), 0) << out;
  EXPECT_NE(out.find("s1@default"), std::string::npos) << out;
  for (const char* secret : {kPassword, kToken}) {
    EXPECT_EQ(body.find(secret), std::string::npos) << body;
    EXPECT_EQ(env.daemon()->Log().find(secret), std::string::npos) << secret;
  }
}

}  // namespace
}  // namespace shardcast::testing
