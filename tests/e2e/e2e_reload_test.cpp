// SIGHUP with tables added to the config: the running daemon (same pid)
// restarts its stream session to include them, every row of every table
// reaches its shard and the feed exactly once, and `shardcast snapshot`
// seeds the rows the new table held before. A table the source lacks is
// refused without stopping anything; a removed table only warns and keeps
// streaming until a restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* kItemsDdl = "CREATE TABLE public.items (id bigint PRIMARY KEY, amount int NOT NULL);";
const char* kMoreDdl = "CREATE TABLE public.more (id bigint PRIMARY KEY, note text NOT NULL);";
const TableUnderTest kItems = {"public.items", "id", "id", "id"};
const TableUnderTest kMore = {"public.more", "id", "id", "id"};

void WaitForLog(E2EEnv& env, const std::string& text, std::size_t from) {
  const auto deadline = Clock::now() + 60s;
  while (env.daemon()->Log().find(text, from) == std::string::npos) {
    ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();
    ASSERT_LT(Clock::now(), deadline) << "no \"" << text << "\" in the log:\n" << env.daemon()->Log();
    std::this_thread::sleep_for(100ms);
  }
}

void Rewrite(const std::string& path, const std::string& from, const std::string& to) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in\n" << text;
  text.replace(at, from.size(), to);
  std::ofstream(path) << text;
}

void Sighup(E2EEnv& env) {
  ASSERT_EQ(::kill(env.daemon()->pid(), SIGHUP), 0);
}

// The ids of a table's feed records, each counted: a doubled change shows.
std::multiset<std::string> FeedIds(E2EEnv& env, const std::string& table) {
  std::multiset<std::string> ids;
  for (const auto& r : env.FeedRecords(table)) ids.insert(r.key.value_or("(null)"));
  return ids;
}

std::size_t Distinct(const std::multiset<std::string>& ids) {
  return std::set<std::string>(ids.begin(), ids.end()).size();
}

TEST(Reload, AddedTableStreamsWithoutARestart) {
  E2EEnv env;
  env.Start(2, kItemsDdl, "");
  const std::string config = env.WriteConfig({kItems});
  env.StartDaemon(config);
  WaitForLog(env, "streaming from slot", 0);
  const int pid = env.daemon()->pid();
  ASSERT_TRUE(env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(1, 100) g").ok());
  env.WaitCaughtUp({{"public.items", 100}});

  // A table the source does not have: refused, the tables in force stay.
  std::size_t mark = env.daemon()->Log().size();
  Rewrite(config, "tables:\n", "tables:\n  - name: public.missing\n    shard_key: [id]\n");
  Sighup(env);
  WaitForLog(env, "reload: table(s) public.missing added; restarting the stream session to include them",
             mark);
  WaitForLog(env, "does not exist on the source; keeping the tables in force", mark);
  WaitForLog(env, "streaming from slot", mark);
  EXPECT_EQ(env.daemon()->Log().find("reload: applied", mark), std::string::npos) << env.daemon()->Log();

  // The new table on the source (with rows from before the reload) and on
  // the shards (startup does not create shard tables: check --create-missing does).
  ASSERT_TRUE(env.source().Exec("app", kMoreDdl).ok());
  for (int i = 0; i < env.shard_count(); ++i)
    ASSERT_TRUE(env.shard_server(i).Exec("shard" + std::to_string(i), kMoreDdl).ok());
  ASSERT_TRUE(env.source()
                  .Exec("app", "INSERT INTO more SELECT g, 'before ' || g FROM generate_series(1, 20) g")
                  .ok());

  mark = env.daemon()->Log().size();
  Rewrite(config, "  - name: public.missing\n", "  - name: public.more\n");
  Sighup(env);
  WaitForLog(env, "reload: table(s) public.more added; restarting the stream session to include them", mark);
  WaitForLog(env, "reload: applied", mark);
  const std::string seed_hint = "seed them with: shardcast snapshot -c " + config + " --table public.more";
  WaitForLog(env, seed_hint, mark);
  WaitForLog(env, "streaming from slot", mark);

  // Both tables stream, inserts and updates, from the new session on.
  ASSERT_TRUE(
      env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(101, 200) g").ok());
  ASSERT_TRUE(env.source()
                  .Exec("app", "INSERT INTO more SELECT g, 'after ' || g FROM generate_series(21, 120) g")
                  .ok());
  ASSERT_TRUE(env.source()
                  .Exec("app", "UPDATE more SET note = note || ' updated' WHERE id % 10 = 0 AND id > 20")
                  .ok());
  env.WaitCaughtUp({{"public.items", 200}, {"public.more", 110}});
  EXPECT_EQ(env.daemon()->pid(), pid) << "the daemon restarted";
  ASSERT_TRUE(env.daemon()->Running());

  // Rows from before the reload are not there until seeded, as the log says.
  std::size_t seeded_before = 0;
  for (int i = 0; i < env.shard_count(); ++i)
    seeded_before += std::stoul(QueryRows(env.shard_server(i), "shard" + std::to_string(i),
                                          "SELECT count(*) FROM more WHERE id <= 20")
                                    .at(0)
                                    .at(0)
                                    .value());
  EXPECT_EQ(seeded_before, 0u) << "rows before the reload arrived without a snapshot";
  std::string out;
  EXPECT_EQ(RunShardcast({"snapshot", "-c", config, "--table", "public.more"}, &out), 0) << out;
  env.WaitCaughtUp({{"public.more", 120}});

  env.ExpectShardsMatchSource({kItems, kMore});
  // The feed: items' 200 inserts exactly once (the session restart doubled
  // none); more has each of its 120 rows.
  const auto items = FeedIds(env, "public.items");
  EXPECT_EQ(items.size(), 200u);
  EXPECT_EQ(Distinct(items), 200u);
  EXPECT_EQ(Distinct(FeedIds(env, "public.more")), 120u);

  // A removed table only warns: it keeps streaming until a restart.
  mark = env.daemon()->Log().size();
  Rewrite(config, "  - name: public.items\n    shard_key: [id]\n", "");
  Sighup(env);
  WaitForLog(env,
             "reload: changed settings that cannot be applied live: tables (removed public.items); a restart "
             "applies them",
             mark);
  ASSERT_TRUE(
      env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(201, 250) g").ok());
  env.WaitCaughtUp({{"public.items", 250}});
  env.ExpectShardsMatchSource({kItems, kMore});
  EXPECT_EQ(env.daemon()->Log().find("restarting the stream session", mark), std::string::npos);

  EXPECT_EQ(env.daemon()->pid(), pid);
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  EXPECT_NE(env.daemon()->Log().find("stopped cleanly"), std::string::npos);
}

TEST(Reload, WithoutSourceCreateTheLogGivesTheAlterPublication) {
  E2EEnv env;
  env.Start(2, std::string(kItemsDdl) + kMoreDdl, "");
  const std::string config = env.WriteConfig({kItems});
  // A first run creates the publication, the signal table and the slot; the
  // second may not create anything.
  env.StartDaemon(config);
  WaitForLog(env, "streaming from slot", 0);
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  Rewrite(config, "  heartbeat_interval: 1s\n", "  heartbeat_interval: 1s\n  create: false\n");
  std::size_t mark = env.daemon()->Log().size();  // the runs share the log file
  env.StartDaemon(config);
  WaitForLog(env, "streaming from slot", mark);
  const int pid = env.daemon()->pid();

  mark = env.daemon()->Log().size();
  Rewrite(config, "tables:\n", "tables:\n  - name: public.more\n    shard_key: [id]\n");
  Sighup(env);
  WaitForLog(env, "reload: applied", mark);
  WaitForLog(env, "does not include the added table(s)", mark);
  // The statement the log gives, run as the publication's owner would.
  const std::string log = env.daemon()->Log();
  const auto at = log.find("ALTER PUBLICATION", mark);
  ASSERT_NE(at, std::string::npos) << log;
  const std::string alter = log.substr(at, log.find(';', at) - at + 1);
  EXPECT_NE(alter.find("public"), std::string::npos) << alter;
  EXPECT_NE(alter.find("more"), std::string::npos) << alter;
  ASSERT_TRUE(env.source().Exec("app", alter).ok()) << alter;

  ASSERT_TRUE(
      env.source().Exec("app", "INSERT INTO more SELECT g, 'n' || g FROM generate_series(1, 50) g").ok());
  ASSERT_TRUE(env.source().Exec("app", "INSERT INTO items SELECT g, g FROM generate_series(1, 50) g").ok());
  env.WaitCaughtUp({{"public.items", 50}, {"public.more", 50}});
  env.ExpectShardsMatchSource({kItems, kMore});
  EXPECT_EQ(env.daemon()->pid(), pid);
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

}  // namespace
}  // namespace shardcast::testing
