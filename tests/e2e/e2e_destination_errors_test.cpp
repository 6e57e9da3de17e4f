// A change one shard rejects for a reason retrying cannot fix (on_error:
// stop, the default): that destination stops with an error naming the table,
// the key and the position; the other shard and the Kafka feed keep moving;
// the slot keeps the stopped destination's position, so after the operator
// fixes the shard and restarts, it catches up and nothing was skipped.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "sharding/ring.h"
#include "sharding/shard_key.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;

const char* kDdl = "CREATE TABLE public.items (id bigint PRIMARY KEY, amount int NOT NULL);";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "id", "id"}};

// The first id >= from that the two-shard ring gives to shard `owner`.
int IdOn(int owner, int from) {
  static const Ring ring = *Ring::Build({{"s0", 1}, {"s1", 1}}, 1024, 1);
  for (int id = from;; ++id) {
    const std::string text = std::to_string(id);
    if (static_cast<int>(ring.OwnerOf(HashShardKey({std::string_view(text)}))) == owner) return id;
  }
}

std::string Progress(E2EEnv& env, int shard) {
  auto rows =
      QueryRows(env.shard_server(shard), "shard" + std::to_string(shard),
                "SELECT coalesce((SELECT end_lsn::text FROM shardcast.progress WHERE destination = 's" +
                    std::to_string(shard) + "@default'), '0/0')");
  return rows.at(0).at(0).value_or("");
}

TEST(DestinationErrors, RejectedChangeStopsOnlyThatDestination) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  // Shard s1 refuses negative amounts; the source accepts them.
  ASSERT_TRUE(env.shards().Exec("shard1", "ALTER TABLE public.items ADD CHECK (amount >= 0)").ok());
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql; };
  exec("INSERT INTO items SELECT g, g FROM generate_series(1, 100) g");
  env.WaitCaughtUp({{"public.items", 100}});

  const int bad = IdOn(1, 1000);
  exec("INSERT INTO items VALUES (" + std::to_string(bad) + ", -1)");
  // s1 stops and says why, once.
  const std::string key = "(id)=(" + std::to_string(bad) + ")";
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (env.daemon()->Log().find("destination s1@default stopped") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << env.daemon()->Log();
    std::this_thread::sleep_for(200ms);
  }
  const std::string log = env.daemon()->Log();
  const auto line_at = log.find("destination s1@default stopped");
  const std::string line = log.substr(line_at, log.find('\n', line_at) - line_at);
  EXPECT_NE(line.find("public.items"), std::string::npos) << line;
  EXPECT_NE(line.find(key), std::string::npos) << line;
  EXPECT_NE(line.find("SQLSTATE 23514"), std::string::npos) << line;
  EXPECT_NE(line.find(" at position "), std::string::npos) << line;
  const std::string s1_stuck = Progress(env, 1);

  // The others go on: s0 and Kafka receive later changes, the daemon stays up.
  for (int i = 0; i < 20; ++i) {
    const int id = IdOn(i % 2, 2000 + i * 10);
    exec("INSERT INTO items VALUES (" + std::to_string(id) + ", 7) ON CONFLICT DO NOTHING");
  }
  const std::string target =
      QueryRows(env.source(), "app", "SELECT pg_current_wal_insert_lsn()::text").at(0).at(0).value();
  deadline = std::chrono::steady_clock::now() + 60s;
  while (QueryRows(env.shard_server(0), "shard0",
                   "SELECT count(*) FROM shardcast.progress WHERE end_lsn >= '" + target + "'")
             .at(0)
             .at(0) != "1") {
    ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << env.daemon()->Log();
    std::this_thread::sleep_for(200ms);
  }
  deadline = std::chrono::steady_clock::now() + 60s;
  while (env.FeedRecords("public.items").size() < 121) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << env.daemon()->Log();
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(env.daemon()->Running());
  EXPECT_EQ(Progress(env, 1), s1_stuck) << "a stopped destination must not move";
  // Logged once, not once per retry.
  std::size_t count = 0;
  for (auto at = log.find("destination s1@default stopped"); at != std::string::npos;
       at = log.find("destination s1@default stopped", at + 1))
    ++count;
  EXPECT_EQ(count, 1u) << log;

  // The operator fixes the shard and restarts: s1 catches up from the slot.
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  ASSERT_TRUE(
      env.shards().Exec("shard1", "ALTER TABLE public.items DROP CONSTRAINT items_amount_check").ok());
  env.StartDaemon(config);
  env.WaitCaughtUp({{"public.items", 121}});
  env.ExpectShardsMatchSource(kTables);
}

// A shard that is down when shardcast starts does not hold the others back:
// it starts "down" at its stored position, and catches up once it is back.
TEST(DestinationErrors, ShardDownAtStartDoesNotStopTheOthers) {
  E2EEnv env;
  E2EEnv::Options options;
  options.own_server = {1};
  env.Start(2, kDdl, "", options);
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql; };
  exec("INSERT INTO items SELECT g, g FROM generate_series(1, 100) g");
  env.WaitCaughtUp({{"public.items", 100}});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();

  ASSERT_TRUE(env.shard_server(1).Stop().ok());
  env.StartDaemon(config);
  exec("INSERT INTO items SELECT g, g FROM generate_series(101, 200) g");
  const std::string target =
      QueryRows(env.source(), "app", "SELECT pg_current_wal_insert_lsn()::text").at(0).at(0).value();
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (QueryRows(env.shard_server(0), "shard0",
                   "SELECT count(*) FROM shardcast.progress WHERE end_lsn >= '" + target + "'")
                 .at(0)
                 .at(0) != "1" ||
         env.FeedRecords("public.items").size() < 200) {
    ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << env.daemon()->Log();
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_NE(env.daemon()->Log().find("destination s1@default is unavailable"), std::string::npos)
      << env.daemon()->Log();

  ASSERT_TRUE(env.shard_server(1).Restart().ok());
  env.WaitCaughtUp({{"public.items", 200}});
  env.ExpectShardsMatchSource(kTables);
}

}  // namespace
}  // namespace shardcast::testing
