// Bad input gives a clear error and its documented exit code, and never a
// damaged checkpoint: a truncated replication message (65), the checkpoint
// directory of another source (78), a shard DSN that is the source (78), a
// checkpoint.dir that is a file (74), a full checkpoint disk (74), a dropped
// slot (76). After the cause is removed, a restart catches up exactly.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/lsn.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;

const char* kDdl = R"sql(
CREATE TABLE public.items (id bigint PRIMARY KEY, owner_id bigint NOT NULL, label text);
)sql";
const std::vector<TableUnderTest> kTables = {{"public.items", "id", "id", "id"}};

// Waits for the daemon to exit on its own; its exit code and what it logged this run.
struct Exit {
  int code = -1;
  std::string log;
};
Exit WaitExit(E2EEnv& env, std::size_t log_from, std::chrono::seconds limit = 120s) {
  const bool exited = env.daemon()->WaitExit(limit);
  Exit e;
  const std::string log = env.daemon()->Log();
  e.log = log.substr(std::min(log_from, log.size()));
  if (!exited) {
    ADD_FAILURE() << "shardcast did not exit; log:\n" << e.log;
    return e;
  }
  e.code = env.daemon()->exit_code();
  return e;
}

std::size_t LogSize(E2EEnv& env) {
  return env.daemon() ? env.daemon()->Log().size() : 0;
}

void Exec(E2EEnv& env, const std::string& sql) {
  ASSERT_TRUE(env.source().Exec("app", sql).ok()) << sql;
}

// Replaces every occurrence of from in the file.
void Rewrite(const std::string& path, const std::string& from, const std::string& to) {
  std::stringstream buf;
  buf << std::ifstream(path).rdbuf();
  std::string text = buf.str();
  ASSERT_NE(text.find(from), std::string::npos) << from;
  for (std::size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::trunc) << text;
}

// `shardcast checkpoint show`: destination -> durable LSN.
std::map<std::string, Lsn> CheckpointShow(const std::string& config) {
  std::string out;
  EXPECT_EQ(RunShardcast({"checkpoint", "show", "-c", config}, &out), 0) << out;
  std::map<std::string, Lsn> progress;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, lsn;
    if (fields >> id >> lsn)
      if (auto parsed = ParseLsn(lsn)) progress[id] = *parsed;
  }
  return progress;
}

std::string SystemIdentifier(PgServer& server) {
  return QueryRows(server, "postgres", "SELECT system_identifier::text FROM pg_control_system()")
      .at(0)
      .at(0)
      .value();
}

// Starts the daemon, waits for the slot and stops it: the store belongs to the source now.
void FirstRun(E2EEnv& env, const std::string& config) {
  env.StartDaemon(config);
  env.WaitForSlot();
  env.WaitCaughtUp({});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

TEST(BadInputE2E, TruncatedMessageExits65AndRestartCatchesUp) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  FirstRun(env, config);
  // 20 transactions of 5 rows each wait in the slot: Begin, Insert x5, Commit (and a Relation).
  for (int t = 0; t < 20; ++t)
    Exec(env, "INSERT INTO items SELECT g, g % 7, 'row ' || g FROM generate_series(" + std::to_string(t * 5) +
                  ", " + std::to_string(t * 5 + 4) + ") g");

  const std::size_t from = LogSize(env);
  env.StartDaemon(config, {"SHARDCAST_FAULT_POINT=stream.truncate_message:40"});
  Exit e = WaitExit(env, from);
  EXPECT_EQ(e.code, 65) << e.log;
  EXPECT_NE(e.log.find("fault point stream.truncate_message reached"), std::string::npos) << e.log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(e.log, m,
                                std::regex(R"(decoding the message at ([0-9A-F]+/[0-9A-F]+): )"
                                           R"((Begin|Commit|Relation|Insert|Message|Type)\b)")))
      << "the error should name the message's LSN and type:\n"
      << e.log;
  const Lsn bad = ParseLsn(m[1].str()).value();

  // Nothing recorded past the damaged message, nor past what each shard holds.
  const auto checkpoint = CheckpointShow(config);
  ASSERT_FALSE(checkpoint.empty());
  for (const auto& [id, lsn] : checkpoint) {
    EXPECT_LE(lsn, bad) << id;
    if (id[0] != 's') continue;
    const std::string db = "shard" + id.substr(1, id.find('@') - 1);
    auto rows = QueryRows(env.shards(), db,
                          "SELECT end_lsn::text FROM shardcast.progress WHERE destination = '" + id + "'");
    ASSERT_EQ(rows.size(), 1u) << id;
    EXPECT_LE(lsn, ParseLsn(rows[0][0].value()).value()) << id << ": the checkpoint is past the shard";
  }
  std::size_t applied = 0;
  for (int i = 0; i < 2; ++i)
    applied += std::stoul(QueryRows(env.shards(), "shard" + std::to_string(i), "SELECT count(*) FROM items")
                              .at(0)
                              .at(0)
                              .value());
  EXPECT_LT(applied, 100u) << "the damaged message should have stopped the stream part-way";

  env.StartDaemon(config);
  env.WaitCaughtUp({});
  env.ExpectShardsMatchSource(kTables);
  EXPECT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

TEST(BadInputE2E, CheckpointDirOfAnotherSourceExits78NamingBoth) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  FirstRun(env, config);

  auto other = PgServer::Start();
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_TRUE((*other)->CreateDatabase("app").ok());
  ASSERT_TRUE((*other)->Exec("app", kDdl).ok());
  Rewrite(config, env.source().Dsn("app"), (*other)->Dsn("app"));
  const std::size_t from = LogSize(env);
  env.StartDaemon(config);
  Exit e = WaitExit(env, from);
  EXPECT_EQ(e.code, 78) << e.log;
  EXPECT_NE(e.log.find(SystemIdentifier(env.source())), std::string::npos) << e.log;
  EXPECT_NE(e.log.find(SystemIdentifier(**other)), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("checkpoint.dir " + env.dir() + "/checkpoint"), std::string::npos) << e.log;
}

TEST(BadInputE2E, ShardDsnThatIsTheSourceExits78NamingTheShard) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  Rewrite(config, env.shards().Dsn("shard1"), env.source().Dsn("app"));
  env.StartDaemon(config);
  Exit e = WaitExit(env, 0);
  EXPECT_EQ(e.code, 78) << e.log;
  EXPECT_NE(e.log.find("shard s1 in region default"), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("points at the source database itself"), std::string::npos) << e.log;
  EXPECT_EQ(e.log.find("shard s0 in region"), std::string::npos) << e.log;
}

TEST(BadInputE2E, CheckpointDirThatIsAFileExits74NamingIt) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  std::ofstream(env.dir() + "/checkpoint") << "not a directory";
  env.StartDaemon(config);
  Exit e = WaitExit(env, 0);
  EXPECT_EQ(e.code, 74) << e.log;
  EXPECT_NE(e.log.find("checkpoint.dir " + env.dir() + "/checkpoint"), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("not a directory"), std::string::npos) << e.log;
}

TEST(BadInputE2E, SlotDroppedWhileStoppedExits76) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  Exec(env, "INSERT INTO items SELECT g, g, 'x' FROM generate_series(1, 50) g");
  env.WaitCaughtUp({});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  Exec(env, "SELECT pg_drop_replication_slot('shardcast')");
  const std::size_t from = LogSize(env);
  env.StartDaemon(config);
  Exit e = WaitExit(env, from);
  EXPECT_EQ(e.code, 76) << e.log;
  EXPECT_NE(e.log.find("shardcast"), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("cannot be replayed"), std::string::npos) << e.log;
  // Not silently recreated.
  EXPECT_EQ(QueryRows(env.source(), "app", "SELECT count(*) FROM pg_replication_slots").at(0).at(0), "0");
}

TEST(BadInputE2E, SlotDroppedWhileStreamingExits76) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  Exec(env, "INSERT INTO items SELECT g, g, 'x' FROM generate_series(1, 50) g");
  env.WaitCaughtUp({});
  // The walsender must end before the slot can go; the daemon reconnects after a backoff.
  bool dropped = false;
  for (int i = 0; i < 100 && !dropped; ++i) {
    (void)env.source().Exec(
        "app",
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active_pid "
        "IS NOT NULL");
    dropped = env.source().Exec("app", "SELECT pg_drop_replication_slot('shardcast')").ok();
    if (!dropped) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(dropped);
  Exit e = WaitExit(env, 0);
  EXPECT_EQ(e.code, 76) << e.log;
  EXPECT_NE(e.log.find("cannot be replayed"), std::string::npos) << e.log;
}

// A full disk under checkpoint.dir: a small tmpfs (needs permission to mount).
TEST(BadInputE2E, FullCheckpointDiskExits74AndKeepsLastProgress) {
  E2EEnv env;
  env.Start(1, kDdl, "");
  const std::string cpdir = env.dir() + "/checkpoint";
  std::filesystem::create_directories(cpdir);
  if (mount("tmpfs", cpdir.c_str(), "tmpfs", 0, "size=8m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here; checkpoint_store_test covers the store's side";
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{cpdir};
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();
  Exec(env, "INSERT INTO items SELECT g, g, 'x' FROM generate_series(1, 100) g");
  env.WaitCaughtUp({});
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  const auto before = CheckpointShow(config);
  ASSERT_FALSE(before.empty());

  // Fill the disk, then start: the store cannot open its new log.
  const std::string filler = cpdir + "/filler";
  {
    std::ofstream f(filler, std::ios::binary);
    const std::string chunk(64 << 10, 'f');
    for (int i = 0; i < 1024 && f.write(chunk.data(), chunk.size()); ++i) {
    }
  }
  Exec(env, "INSERT INTO items SELECT g, g, 'y' FROM generate_series(101, 150) g");
  const std::size_t from = LogSize(env);
  env.StartDaemon(config);
  Exit e = WaitExit(env, from);
  EXPECT_EQ(e.code, 74) << e.log;
  EXPECT_NE(e.log.find("checkpoint.dir " + cpdir), std::string::npos) << e.log;
  EXPECT_NE(e.log.find("full"), std::string::npos) << e.log;

  ASSERT_EQ(std::remove(filler.c_str()), 0);
  EXPECT_EQ(CheckpointShow(config), before) << "the last good progress is intact";
  env.StartDaemon(config);
  env.WaitCaughtUp({});
  env.ExpectShardsMatchSource(kTables);
  EXPECT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

}  // namespace
}  // namespace shardcast::testing
