// A destination behind the slot (a shard restored from an older backup) is
// reported out of sync (exit 75) with the commands that re-seed it, never
// silently skipped; following those commands brings it back exactly.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;

const char* kDdl = "CREATE TABLE public.items (id bigint PRIMARY KEY, note text);";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "id", "id"}};

TEST(OutOfSyncE2E, DestinationBehindTheSlotExits75WithTheReseedCommands) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql; };
  exec("INSERT INTO items SELECT g, 'one' FROM generate_series(1, 200) g");
  const std::string early =
      QueryRows(env.source(), "app", "SELECT pg_current_wal_lsn()::text").at(0).at(0).value();
  exec("INSERT INTO items SELECT g, 'two' FROM generate_series(201, 400) g");
  env.WaitCaughtUp({{"public.items", 400}});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();

  // "Restore shard1 from a backup": its rows and its progress row go back in time.
  ASSERT_TRUE(env.shards()
                  .Exec("shard1",
                        "DELETE FROM public.items WHERE id > 200; UPDATE shardcast.progress "
                        "SET end_lsn = '" +
                            early + "' WHERE destination = 's1@default'")
                  .ok());
  env.StartDaemon(config);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (env.daemon()->Running()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << env.daemon()->Log();
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(env.daemon()->exit_code(), 75) << env.daemon()->Log();
  const std::string log = env.daemon()->Log();
  EXPECT_NE(log.find("destination s1@default is at " + early), std::string::npos) << log;
  EXPECT_NE(log.find("behind the slot's confirmed_flush_lsn"), std::string::npos) << log;
  const std::string reset = "shardcast checkpoint reset -c " + config + " --destination s1@default";
  EXPECT_NE(log.find(reset), std::string::npos) << log;
  EXPECT_NE(log.find("DELETE FROM shardcast.progress WHERE destination = 's1@default'"), std::string::npos)
      << log;

  // Follow the message: forget its position, start, re-seed online.
  ASSERT_TRUE(
      env.shards().Exec("shard1", "DELETE FROM shardcast.progress WHERE destination = 's1@default'").ok());
  std::string out;
  ASSERT_EQ(RunShardcast({"checkpoint", "reset", "-c", config, "--destination", "s1@default"}, &out), 0)
      << out;
  env.StartDaemon(config);
  exec("INSERT INTO items SELECT g, 'three' FROM generate_series(401, 450) g");
  // The daemon answers on admin.listen once it is up.
  int code = 69;
  for (deadline = std::chrono::steady_clock::now() + 60s; code == 69; std::this_thread::sleep_for(300ms)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << out;
    code = RunShardcast({"snapshot", "-c", config}, &out);
  }
  ASSERT_EQ(code, 0) << out;
  env.WaitCaughtUp({{"public.items", 450}});
  env.ExpectShardsMatchSource(kTables);
}

}  // namespace
}  // namespace shardcast::testing
