// Idle destinations never pin the slot (issue 4): with two shard destinations
// (and Kafka) and a long stretch of writes whose keys all belong to s0, the
// slot's confirmed_flush_lsn keeps advancing during the stretch, and ends
// within a few seconds at the source's insert position: s1, which receives
// nothing, does not hold the WAL back. confirmed_flush_lsn trails what the
// destinations applied by about a second (DESIGN.md), so it is sampled every
// few seconds, not after every write.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "sharding/ring.h"
#include "sharding/shard_key.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* kDdl = "CREATE TABLE public.events (id bigint PRIMARY KEY, n int NOT NULL, note text);\n";
const std::vector<TableUnderTest> kTables = {{"public.events", "id", "id", "id"}};

std::uint64_t ParseLsn(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return 0;
  return (std::stoull(text.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(text.substr(slash + 1), nullptr, 16);
}

std::uint64_t ConfirmedFlush(E2EEnv& env) {
  auto rows =
      QueryRows(env.source(), "app",
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'shardcast'");
  if (rows.empty() || !rows[0][0]) return 0;
  return ParseLsn(*rows[0][0]);
}

std::uint64_t InsertLsn(E2EEnv& env) {
  return ParseLsn(*QueryRows(env.source(), "app", "SELECT pg_current_wal_insert_lsn()::text").at(0).at(0));
}

// Ids that the ring (s0, s1, weight 1) gives to s0.
std::vector<std::int64_t> IdsOfS0(std::size_t count) {
  auto ring = Ring::Build({{"s0", 1}, {"s1", 1}}, 1024, 1);
  EXPECT_TRUE(ring.ok());
  std::vector<std::int64_t> ids;
  for (std::int64_t id = 1; ids.size() < count; ++id) {
    const std::string text = std::to_string(id);
    if (ring->OwnerOf(HashShardKey({std::string_view(text)})) == 0) ids.push_back(id);
  }
  return ids;
}

TEST(SlotAdvanceE2E, IdleShardDoesNotPinTheSlot) {
  E2EEnv env;
  env.Start(2, kDdl, "");
  env.StartDaemon(env.WriteConfig(kTables));
  env.WaitForSlot();

  const auto ids = IdsOfS0(200);
  // Writes until stop: inserts, then updates, of s0's keys only.
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::string error;
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      const std::int64_t id = ids[static_cast<std::size_t>(i) % ids.size()];
      const std::string sql = i < static_cast<int>(ids.size())
                                  ? "INSERT INTO events VALUES (" + std::to_string(id) + ", 0, 'x')"
                                  : "UPDATE events SET n = n + 1 WHERE id = " + std::to_string(id);
      Status s = env.source().Exec("app", sql);
      if (!s.ok() && error.empty()) error = s.ToString();
      ++writes;
      std::this_thread::sleep_for(20ms);
    }
  });

  // The stretch: ~21 s, sampled every 3 s.
  std::this_thread::sleep_for(3s);
  std::uint64_t last = ConfirmedFlush(env);
  std::printf("confirmed_flush_lsn at start: %llx\n", static_cast<unsigned long long>(last));
  for (int sample = 1; sample <= 7; ++sample) {
    std::this_thread::sleep_for(3s);
    const std::uint64_t now = ConfirmedFlush(env);
    std::printf("sample %d: confirmed_flush_lsn %llx, insert lsn %llx, %d writes\n", sample,
                static_cast<unsigned long long>(now), static_cast<unsigned long long>(InsertLsn(env)),
                writes.load());
    EXPECT_GT(now, last) << "confirmed_flush_lsn did not advance in 3 s of writes to s0 (sample " << sample
                         << ")";
    last = std::max(last, now);
  }
  stop = true;
  writer.join();
  EXPECT_EQ(error, "");
  ASSERT_TRUE(env.daemon()->Running()) << env.daemon()->Log();

  // s1 really was idle: it holds no rows.
  EXPECT_EQ(QueryRows(env.shard_server(1), "shard1", "SELECT count(*) FROM events").at(0).at(0), "0");
  EXPECT_EQ(QueryRows(env.shard_server(0), "shard0", "SELECT count(*) FROM events").at(0).at(0),
            std::to_string(ids.size()));

  // After the last write the slot reaches the source's insert position within seconds.
  ASSERT_TRUE(env.source()
                  .Exec("app", "UPDATE events SET note = 'marker' WHERE id = " + std::to_string(ids[0]))
                  .ok());
  const std::uint64_t target = InsertLsn(env);
  const auto began = Clock::now();
  while (ConfirmedFlush(env) < target && Clock::now() - began < 15s) std::this_thread::sleep_for(200ms);
  const double took = std::chrono::duration<double>(Clock::now() - began).count();
  std::printf("confirmed_flush_lsn reached the insert lsn %llx after %.1f s\n",
              static_cast<unsigned long long>(target), took);
  EXPECT_GE(ConfirmedFlush(env), target) << "the slot stayed behind the source's insert position for 15 s";
  EXPECT_LT(took, 10.0);
  EXPECT_EQ(env.StopDaemon(), 0);
}

}  // namespace
}  // namespace shardcast::testing
