// Seeding existing data (issue 3): a source that already holds rows of mixed
// types (numeric, text including TOASTed values, jsonb, bytea, timestamptz,
// NULLs) over three tables is snapshotted on first start while a workload
// keeps writing; after catch-up `shardcast verify` (which holds the daemon
// at one position) reports identical, and so does the test's own exact
// comparison. kill -9 during the initial snapshot and during an online
// backfill: the restart finishes without redoing a finished chunk (asserted
// from the chunk log) and verify reports identical.
//
// Rows: SHARDCAST_E2E_ROWS, else 1M on the Release build (fewer under
// sanitizers, see tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "daemon/admin_client.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;

const char* kDdl = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2),
  opened timestamptz, profile jsonb, avatar bytea, bio text);
CREATE TABLE public.events (account_id bigint NOT NULL, seq int NOT NULL, kind text, at timestamptz,
  body text, PRIMARY KEY (account_id, seq));
CREATE TABLE public.countries (code text PRIMARY KEY, name text NOT NULL);
)sql";

const std::vector<TableUnderTest> kTables = {
    {"public.accounts", "id", "id", "id"},
    {"public.events", "account_id, seq", "account_id", "account_id"},
    {"public.countries", "code", "", "code"},
};

std::int64_t RowsUnderTest(std::int64_t fallback) {
  if (const char* v = std::getenv("SHARDCAST_E2E_ROWS")) return std::atoll(v);
  return fallback;
}

// accounts get 40% of the rows, events 60%; every 2000th account has a
// TOASTed bio of incompressible text.
std::string SeedSql(std::int64_t rows) {
  const std::int64_t accounts = rows * 4 / 10, events = rows - accounts;
  return "INSERT INTO accounts SELECT g, 'owner ' || g, (g * 3.17)::numeric(14,2), "
         "TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * interval '1 second', "
         "CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % "
         "10)) "
         "END, CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END, "
         "CASE WHEN g % 2000 = 0 THEN (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 200) "
         "i) "
         "WHEN g % 5 = 0 THEN NULL ELSE E'bio\\t' || g END FROM generate_series(1, " +
         std::to_string(accounts) +
         ") g;\n"
         "INSERT INTO events SELECT g / 4 + 1, g % 4, (ARRAY['open','pay','close'])[g % 3 + 1], "
         "TIMESTAMPTZ '2026-03-01 12:00:00.5+01' + g * interval '1 minute', "
         "CASE WHEN g % 11 = 0 THEN NULL ELSE 'event body ' || g END FROM generate_series(0, " +
         std::to_string(events - 1) +
         ") g;\n"
         "INSERT INTO countries SELECT 'c' || g, 'Country ' || g FROM generate_series(1, 200) g;\n";
}

// Keeps writing to every table (updates that leave TOASTed values
// unchanged, inserts, deletes, primary-key changes within a shard and across
// shards) until stopped.
class Workload {
 public:
  Workload(PgServer& src, std::int64_t rows) : src_(src), accounts_(rows * 4 / 10) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Workload() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int statements() const { return n_.load(); }
  std::string error() const { return error_; }

 private:
  void Run() {
    for (std::int64_t i = 1; !stop_; ++i) {
      const std::int64_t k = (i * 7919) % accounts_ + 1;
      const std::string ks = std::to_string(k);
      std::string sql;
      switch (i % 8) {
        case 0:
          sql = "UPDATE accounts SET balance = balance + 1, owner = owner || '+' WHERE id = " + ks;
          break;
        case 1:  // a TOASTed row: bio arrives as unchanged
          sql =
              "UPDATE accounts SET balance = balance - 1 WHERE id = " + std::to_string((k / 2000 + 1) * 2000);
          break;
        case 2:
          sql = "INSERT INTO accounts VALUES (" + std::to_string(10'000'000 + i) +
                ", 'new', 1.5, now(), '{\"n\": 1}', '\\x00ff', NULL)";
          break;
        case 3:
          sql = "DELETE FROM events WHERE account_id = " + ks + " AND seq = 0";
          break;
        case 4:
          sql = "UPDATE events SET body = 'updated ' || " + std::to_string(i) + " WHERE account_id = " + ks;
          break;
        case 5:
          sql = "UPDATE countries SET name = name || '.' WHERE code = 'c" + std::to_string(i % 200 + 1) + "'";
          break;
        case 6:  // a primary-key change that keeps the shard (the shard key is account_id)
          sql = "UPDATE events SET seq = seq + 100 WHERE account_id = " + ks + " AND seq = 2";
          break;
        case 7:  // a primary-key change that moves the row to another shard and key range
          sql = "UPDATE accounts SET id = id + 20000000 WHERE id = " + std::to_string(accounts_ - k + 1);
          break;
      }
      Status s = src_.Exec("app", sql);
      if (!s.ok() && error_.empty()) error_ = s.ToString() + " in " + sql;
      ++n_;
      std::this_thread::sleep_for(2ms);
    }
  }

  PgServer& src_;
  std::int64_t accounts_;
  std::atomic<bool> stop_{false};
  std::atomic<int> n_{0};
  std::string error_;
  std::thread thread_;
};

// Waits for a log line matching re (in the part of the log after offset).
bool WaitForLog(E2EEnv& env, const std::string& re, std::size_t offset = 0, std::chrono::seconds limit = 300s,
                int count = 1) {
  const std::regex pattern(re);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = env.daemon()->Log();
    const std::string tail = offset < log.size() ? log.substr(offset) : "";
    auto begin = std::sregex_iterator(tail.begin(), tail.end(), pattern);
    if (std::distance(begin, std::sregex_iterator()) >= count) return true;
    if (!env.daemon()->Running()) return false;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// "job=J table=T range=R part=P" of every finished chunk in a log.
std::vector<std::string> ChunkLog(const std::string& log) {
  static const std::regex re("snapshot chunk done (job=\\S+ table=\\S+ range=\\d+ part=\\d+)");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

void ExpectNoChunkTwice(const std::vector<std::string>& chunks) {
  std::set<std::string> seen;
  for (const auto& c : chunks) EXPECT_TRUE(seen.insert(c).second) << "chunk redone: " << c;
}

// Runs shardcast verify --json and returns the parsed report.
nlohmann::json Verify(const std::string& config, int* exit_code) {
  std::string out;
  *exit_code = RunShardcast({"verify", "-c", config, "--json"}, &out);
  auto brace = out.find('{');
  auto j = nlohmann::json::parse(brace == std::string::npos ? "" : out.substr(brace), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "verify printed no JSON:\n" << out;
  return j;
}

void ExpectVerifyIdentical(const std::string& config) {
  int code = -1;
  auto report = Verify(config, &code);
  EXPECT_EQ(code, 0) << report.dump(2);
  if (!report.is_discarded()) {
    EXPECT_TRUE(report.value("identical", false)) << report.dump(2);
  }
}

class SnapshotE2E : public ::testing::Test {
 protected:
  void SetUp() override { env_.Start(3, kDdl, ""); }
  std::string Config(int chunk_rows) {
    return env_.WriteConfig(kTables,
                            "snapshot: { workers: 2, chunk_rows: " + std::to_string(chunk_rows) + " }\n");
  }
  E2EEnv env_;
};

TEST_F(SnapshotE2E, InitialSnapshotUnderWritesThenVerifyIdentical) {
  const std::int64_t rows = RowsUnderTest(SHARDCAST_E2E_ROWS_DEFAULT);
  ASSERT_TRUE(env_.source().Exec("app", SeedSql(rows)).ok());
  const std::string config = Config(50000);
  Workload workload(env_.source(), rows);
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "initial snapshot done: \\d+ rows", 0, 900s)) << env_.daemon()->Log();
  // Verify while the workload keeps writing: the daemon holds at verify's position.
  std::this_thread::sleep_for(2s);
  ExpectVerifyIdentical(config);
  workload.Stop();
  EXPECT_EQ(workload.error(), "");
  EXPECT_GT(workload.statements(), 50);
  env_.WaitCaughtUp({});
  ExpectVerifyIdentical(config);
  env_.ExpectShardsMatchSource(kTables);
  const auto log = env_.daemon()->Log();
  ExpectNoChunkTwice(ChunkLog(log));
  // Kafka got the reference table's rows as snapshot reads.
  std::size_t reads = 0;
  for (const auto& r : env_.FeedRecords("public.countries")) {
    auto v = nlohmann::json::parse(*r.value);
    if (v["op"] == "r") {
      ++reads;
      EXPECT_EQ(v["source"]["snapshot"], "true");
    }
  }
  EXPECT_EQ(reads, 200u);
  EXPECT_EQ(env_.StopDaemon(), 0);
}

TEST_F(SnapshotE2E, KillDuringInitialSnapshotFinishesByBackfill) {
  const std::int64_t rows = RowsUnderTest(SHARDCAST_E2E_ROWS_DEFAULT) / 5;
  ASSERT_TRUE(env_.source().Exec("app", SeedSql(rows)).ok());
  // Enough chunks that the kill lands in the middle whatever the row count.
  const std::string config = Config(static_cast<int>(std::max<std::int64_t>(100, rows / 40)));
  Workload workload(env_.source(), rows);
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "snapshot chunk done job=initial", 0, 300s, 3)) << env_.daemon()->Log();
  env_.daemon()->Kill9();
  const std::string first = env_.daemon()->Log();
  ASSERT_EQ(first.find("initial snapshot done"), std::string::npos)
      << "the snapshot finished before the kill";
  const auto done_before = ChunkLog(first);
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "snapshot job initial done", first.size(), 600s)) << env_.daemon()->Log();
  workload.Stop();
  EXPECT_EQ(workload.error(), "");
  env_.WaitCaughtUp({});
  ExpectVerifyIdentical(config);
  env_.ExpectShardsMatchSource(kTables);
  // No chunk finished before the kill is done again after it.
  const auto all = ChunkLog(env_.daemon()->Log());
  ExpectNoChunkTwice(all);
  EXPECT_GT(all.size(), done_before.size());
  EXPECT_EQ(env_.StopDaemon(), 0);
}

TEST_F(SnapshotE2E, KillDuringOnlineBackfillResumesFromLastChunk) {
  const std::int64_t rows = RowsUnderTest(SHARDCAST_E2E_ROWS_DEFAULT) / 5;
  ASSERT_TRUE(env_.source().Exec("app", SeedSql(rows)).ok());
  // Accounts (40% of the rows) in at least 40 chunks.
  const std::string config = Config(static_cast<int>(std::max<std::int64_t>(50, rows * 4 / 10 / 40)));
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "initial snapshot done", 0, 600s)) << env_.daemon()->Log();
  // Lose rows on a shard, then re-seed the table online under writes.
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(
        env_.shards().Exec("shard" + std::to_string(i), "DELETE FROM accounts WHERE id % 10 = 1").ok());
  Workload workload(env_.source(), rows);
  const std::size_t before = env_.daemon()->Log().size();
  auto follower = DaemonProcess::Start({"snapshot", "-c", config, "--table", "public.accounts"},
                                       env_.dir() + "/snapshot-cmd.log");
  ASSERT_TRUE(follower.ok()) << follower.status().ToString();
  ASSERT_TRUE(WaitForLog(env_, "snapshot chunk done job=snap-1", before, 300s, 3)) << env_.daemon()->Log();
  env_.daemon()->Kill9();
  (*follower)->Kill9();
  const std::string first = env_.daemon()->Log();
  ASSERT_EQ(first.find("snapshot job snap-1 done"), std::string::npos)
      << "the backfill finished before the kill";
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "snapshot job snap-1 done", first.size(), 600s)) << env_.daemon()->Log();
  workload.Stop();
  EXPECT_EQ(workload.error(), "");
  env_.WaitCaughtUp({});
  ExpectVerifyIdentical(config);
  env_.ExpectShardsMatchSource(kTables);
  ExpectNoChunkTwice(ChunkLog(env_.daemon()->Log()));

  // The job's progress, as the admin API and the metrics show it.
  AdminClient admin("127.0.0.1:" + std::to_string(env_.admin_port()), "");
  auto job = admin.Get("/jobs/snap-1");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  auto job_json = nlohmann::json::parse(job->body);
  EXPECT_EQ(job_json["state"], "done") << job->body;
  EXPECT_EQ(job_json["tables"][0]["table"], "public.accounts") << job->body;
  EXPECT_GT(job_json["tables"][0]["rows_done"].get<std::int64_t>(), rows / 3) << job->body;
  AdminClient metrics("127.0.0.1:" + std::to_string(env_.metrics_port()), "");
  auto scraped = metrics.Get("/metrics");
  ASSERT_TRUE(scraped.ok()) << scraped.status().ToString();
  EXPECT_NE(
      scraped->body.find("shardcast_snapshot_progress_ratio{job=\"snap-1\",table=\"public.accounts\"} 1"),
      std::string::npos)
      << scraped->body;

  // The command itself, followed to the end (plain progress lines: not a terminal).
  std::string out;
  EXPECT_EQ(RunShardcast({"snapshot", "-c", config, "--table", "public.countries"}, &out), 0) << out;
  EXPECT_NE(out.find("public.countries"), std::string::npos) << out;
  EXPECT_EQ(env_.StopDaemon(), 0);
}

TEST_F(SnapshotE2E, TableAddedToTheConfigIsSeededOnline) {
  const std::int64_t rows = RowsUnderTest(SHARDCAST_E2E_ROWS_DEFAULT) / 20;
  ASSERT_TRUE(env_.source().Exec("app", SeedSql(rows)).ok());
  // First without events: only accounts and countries are replicated.
  const std::vector<TableUnderTest> first = {kTables[0], kTables[2]};
  env_.StartDaemon(env_.WriteConfig(first, "snapshot: { workers: 2, chunk_rows: 1000 }\n"));
  ASSERT_TRUE(WaitForLog(env_, "initial snapshot done", 0, 600s)) << env_.daemon()->Log();
  Workload workload(env_.source(), rows);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(env_.StopDaemon(), 0);
  EXPECT_EQ(QueryRows(env_.shards(), "shard0", "SELECT count(*) FROM events").at(0).at(0), "0");

  // Then with events: the restart adds it to the publication, the backfill seeds what it already held.
  const std::string config = Config(1000);
  const std::size_t before = env_.daemon()->Log().size();
  env_.StartDaemon(config);
  ASSERT_TRUE(WaitForLog(env_, "streaming from slot", before, 120s)) << env_.daemon()->Log();
  std::string out;
  EXPECT_EQ(RunShardcast({"snapshot", "-c", config, "--table", "events"}, &out), 0) << out;
  workload.Stop();
  EXPECT_EQ(workload.error(), "");
  env_.WaitCaughtUp({});
  ExpectVerifyIdentical(config);
  env_.ExpectShardsMatchSource(kTables);
  EXPECT_EQ(env_.StopDaemon(), 0);
}

}  // namespace
}  // namespace shardcast::testing
