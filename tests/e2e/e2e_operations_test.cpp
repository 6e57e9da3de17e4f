// Operating the binary against real servers: `check` finds what is wrong and
// says how to fix it, a bad config exits 78 naming the key, and the daemon
// rides out a source restart by replaying from the slot.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

const char* kDdl = R"sql(
CREATE TABLE public.items (id bigint PRIMARY KEY, owner_id bigint NOT NULL, label text);
CREATE TABLE public.tags (name text PRIMARY KEY, color text);
)sql";
const std::vector<TableUnderTest> kTables = {
    {"public.items", "id", "id", "id"},
    {"public.tags", "name", "", "name"},
};

TEST(OperationsE2E, CheckNamesMissingShardTableAndReplicaIdentityFix) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  std::string out;
  EXPECT_EQ(RunShardcast({"check", "-c", config}, &out), 0) << out;
  EXPECT_NE(out.find("ok    shard s1@default: table public.items"), std::string::npos) << out;

  ASSERT_TRUE(env.shards().Exec("shard1", "DROP TABLE public.tags").ok());
  EXPECT_NE(RunShardcast({"check", "-c", config}, &out), 0) << out;
  EXPECT_NE(out.find("shard s1@default has no table public.tags"), std::string::npos) << out;

  // A shard key outside the replica identity is refused with the fix.
  const std::string by_owner = env.WriteConfig({{"public.items", "id", "owner_id", "id"}});
  EXPECT_EQ(RunShardcast({"check", "-c", by_owner}, &out), 78) << out;
  EXPECT_NE(out.find("ALTER TABLE public.items REPLICA IDENTITY FULL"), std::string::npos) << out;
}

TEST(OperationsE2E, CheckCreateMissingBuildsShardTablesTheDaemonThenFills) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  ASSERT_TRUE(env.shards().Exec("shard0", "DROP TABLE public.items").ok());
  ASSERT_TRUE(env.shards().Exec("shard1", "DROP TABLE public.items; DROP TABLE public.tags").ok());
  const std::string config = env.WriteConfig(kTables);
  std::string out;
  EXPECT_NE(RunShardcast({"check", "-c", config}, &out), 0) << out;
  EXPECT_NE(out.find("FAIL  shard s1@default has no table public.items: create it with 'shardcast check "
                     "--create-missing'"),
            std::string::npos)
      << out;

  EXPECT_EQ(RunShardcast({"check", "-c", config, "--create-missing"}, &out), 0) << out;
  EXPECT_NE(out.find("ok    created public.items on s0@default"), std::string::npos) << out;
  EXPECT_NE(out.find("ok    created public.tags on s1@default"), std::string::npos) << out;
  EXPECT_EQ(out.find("created public.tags on s0@default"), std::string::npos) << out;
  EXPECT_EQ(RunShardcast({"check", "-c", config}, &out), 0) << out;

  // A mismatching table is reported with its fix and never altered.
  ASSERT_TRUE(
      env.shards().Exec("shard0", "ALTER TABLE public.items ALTER COLUMN label TYPE varchar(10)").ok());
  EXPECT_NE(RunShardcast({"check", "-c", config, "--create-missing"}, &out), 0) << out;
  const std::string fix = "ALTER TABLE \"public\".\"items\" ALTER COLUMN \"label\" TYPE text";
  EXPECT_NE(
      out.find("FAIL  public.items.label on s0@default is character varying(10), the source has text: " +
               fix),
      std::string::npos)
      << out;
  ASSERT_TRUE(env.shards().Exec("shard0", fix).ok());

  // The created tables take the stream.
  env.StartDaemon(config);
  env.WaitForSlot();
  ASSERT_TRUE(env.source()
                  .Exec("app",
                        "INSERT INTO items SELECT g, g % 5, 'x' FROM generate_series(1, 200) g;"
                        "INSERT INTO tags VALUES ('red', '#f00')")
                  .ok());
  env.WaitCaughtUp({{"public.items", 200}, {"public.tags", 1}});
  env.ExpectShardsMatchSource(kTables);
  EXPECT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

TEST(OperationsE2E, BadConfigExits78NamingKeyLineAndColumn) {
  char tmpl[] = "/tmp/shardcast-badcfg-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/bad.yaml";
  std::ofstream(path) << "source:\n  dsn: \"host=127.0.0.1\"\nshards:\n  - id: s0\n    dsn: \"host=x\"\n"
                         "    wieght: 2\n";
  std::string out;
  EXPECT_EQ(RunShardcast({"run", "-c", path}, &out), 78) << out;
  EXPECT_NE(out.find("wieght"), std::string::npos) << out;
  EXPECT_NE(out.find("line 6"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

TEST(OperationsE2E, SourceRestartIsRiddenOutByReplay) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql; };
  exec("INSERT INTO items SELECT g, g % 7, 'first' FROM generate_series(1, 300) g");
  exec("INSERT INTO tags VALUES ('red', '#f00'), ('blue', '#00f')");
  env.WaitCaughtUp({{"public.items", 300}, {"public.tags", 2}});

  ASSERT_TRUE(env.source().Stop().ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(env.daemon()->Running()) << "a source outage must not stop the daemon:\n"
                                       << env.daemon()->Log();
  ASSERT_TRUE(env.source().Restart().ok());
  exec("UPDATE items SET label = 'second' WHERE id <= 100");
  exec("DELETE FROM items WHERE id > 250");
  exec("UPDATE tags SET color = '#0f0' WHERE name = 'red'");
  env.WaitCaughtUp({{"public.items", 450}, {"public.tags", 3}});
  env.ExpectShardsMatchSource(kTables);

  // At-least-once: after deduplicating by position, exactly one per change.
  std::set<std::string> positions;
  for (const auto& r : env.FeedRecords("public.items")) positions.insert(r.headers.at("shardcast.position"));
  EXPECT_EQ(positions.size(), 450u);
  EXPECT_NE(env.daemon()->Log().find("retrying with backoff"), std::string::npos)
      << "the outage should have been logged once:\n"
      << env.daemon()->Log();
  EXPECT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

}  // namespace
}  // namespace shardcast::testing
