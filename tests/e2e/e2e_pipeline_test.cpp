// The whole pipeline against real servers: a source PostgreSQL, three shard
// databases, the Kafka-protocol broker and the shardcast binary. A mixed
// workload (inserts, updates including shard-key moves, deletes, a TRUNCATE)
// over two distributed tables and a reference table must land on exactly the
// shards the ring assigns, with the source's values, and in Kafka once per
// change, in commit order per key; after SIGTERM, more writes and a restart,
// nothing is lost or repeated.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

const char* kDdl = R"sql(
CREATE TABLE public.orders (
  id bigint PRIMARY KEY, account_id bigint NOT NULL, note text, amount numeric(12,2), paid boolean,
  created_at timestamptz, placed timestamp, attrs jsonb, blob bytea);
CREATE TABLE public.users (id int PRIMARY KEY, name text, score double precision, born date);
CREATE TABLE public.countries (code text PRIMARY KEY, name text NOT NULL);
)sql";
// Orders are sharded by account_id, outside the primary key: the old row is needed.
const char* kSourceOnly = "ALTER TABLE public.orders REPLICA IDENTITY FULL;";

const std::vector<TableUnderTest> kTables = {
    {"public.orders", "id", "account_id", "id"},
    {"public.users", "id", "id", "id"},
    {"public.countries", "code", "", "code"},
};

struct Counts {
  std::size_t orders = 0, users = 0, countries = 0;
  std::map<std::string, std::size_t> Feed() const {
    return {{"public.orders", orders}, {"public.users", users}, {"public.countries", countries}};
  }
};

// Phase one: every kind of change and value. Returns the change counts.
void WorkloadOne(PgServer& src, Counts& n) {
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(src.Exec("app", sql).ok()) << sql; };
  exec(
      "INSERT INTO countries VALUES "
      "('de','Germany'),('fr','France'),('jp','Japan'),('br','Brazil'),('nz','NZ')");
  n.countries += 5;
  exec(
      "INSERT INTO users SELECT g, 'user ' || g, g * 1.5, DATE '1990-01-01' + g FROM generate_series(1, 50) "
      "g");
  n.users += 50;
  for (int b = 0; b < 4; ++b) {
    exec(
        "INSERT INTO orders SELECT g, g % 37, CASE WHEN g % 5 = 0 THEN NULL ELSE 'note '' \\ ' || g END, "
        "g * 10.25, g % 2 = 0, TIMESTAMPTZ '2026-01-02 03:04:05.123456+02' + g * interval '1 hour', "
        "TIMESTAMP '2025-12-31 23:59:59' + g * interval '1 minute', jsonb_build_object('g', g, 's', 'x\"y'), "
        "CASE WHEN g % 3 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 4, '0'), 'hex') END "
        "FROM generate_series(" +
        std::to_string(b * 50) + ", " + std::to_string(b * 50 + 49) + ") g");
    n.orders += 50;
  }
  exec("UPDATE orders SET note = 'updated', paid = NOT paid WHERE id % 10 = 0");  // 20 rows
  n.orders += 20;
  exec("UPDATE orders SET account_id = account_id + 1000 WHERE id % 7 = 0");  // 29 rows move shard
  n.orders += 29;
  exec("DELETE FROM orders WHERE id % 13 = 0");  // 16 rows
  n.orders += 16;
  exec("UPDATE orders SET note = repeat('toast', 2000) WHERE id = 1");  // a TOASTed value
  n.orders += 1;
  exec("UPDATE orders SET amount = 1.5 WHERE id = 1");  // leaves the TOASTed note unchanged
  n.orders += 1;
  exec("UPDATE users SET score = NULL WHERE id <= 5");
  n.users += 5;
  exec("DELETE FROM users WHERE id > 45");
  n.users += 5;
  exec("TRUNCATE users");
  n.users += 1;
  exec("INSERT INTO users SELECT g, 'again ' || g, -g, NULL FROM generate_series(1, 10) g");
  n.users += 10;
  exec(
      "BEGIN; INSERT INTO orders VALUES (1000, 5, 'multi', 0, true, now(), now(), '[]', '\\x00ff'); "
      "UPDATE countries SET name = 'Nippon' WHERE code = 'jp'; DELETE FROM countries WHERE code = 'nz'; "
      "COMMIT");
  n.orders += 1;
  n.countries += 2;
}

void WorkloadTwo(PgServer& src, Counts& n) {
  auto exec = [&](const std::string& sql) { ASSERT_TRUE(src.Exec("app", sql).ok()) << sql; };
  exec(
      "INSERT INTO orders SELECT g, g % 11, 'second', g, false, now(), now(), '{}', NULL "
      "FROM generate_series(2000, 2099) g");
  n.orders += 100;
  exec("UPDATE orders SET account_id = account_id + 7 WHERE id BETWEEN 2000 AND 2019");
  n.orders += 20;
  exec("DELETE FROM orders WHERE id BETWEEN 2090 AND 2099");
  n.orders += 10;
  exec("INSERT INTO users VALUES (100, 'late', 1, '2000-02-29')");
  n.users += 1;
  exec("INSERT INTO countries VALUES ('it', 'Italy')");
  n.countries += 1;
}

struct Position {
  unsigned long long lsn = 0, ordinal = 0;
  bool operator<(const Position& o) const { return lsn != o.lsn ? lsn < o.lsn : ordinal < o.ordinal; }
  bool operator==(const Position& o) const { return lsn == o.lsn && ordinal == o.ordinal; }
};

Position ParsePosition(const std::string& h) {
  Position p;
  auto slash = h.find('/');
  p.lsn = std::stoull(h.substr(0, slash));
  p.ordinal = std::stoull(h.substr(slash + 1));
  return p;
}

// One message per change, each position once, commit order per key, and the
// envelope as documented; replaying the feed rebuilds the source's key set.
void ExpectFeedExact(E2EEnv& env, const std::string& table, std::size_t expected, const std::string& pk) {
  auto records = env.FeedRecords(table);
  EXPECT_EQ(records.size(), expected) << table;
  std::set<std::pair<Position, std::string>> seen;
  std::map<std::string, Position> last_by_key;
  std::vector<std::pair<Position, nlohmann::json>> changes;
  for (const auto& r : records) {
    ASSERT_TRUE(r.headers.count("shardcast.position")) << table;
    ASSERT_TRUE(r.headers.count("shardcast.shard"));
    ASSERT_TRUE(r.headers.count("shardcast.epoch"));
    Position pos = ParsePosition(r.headers.at("shardcast.position"));
    auto v = nlohmann::json::parse(*r.value);
    const std::string op = v.at("op");
    EXPECT_TRUE(seen.insert({pos, r.key.value_or("")}).second) << "duplicate position in " << table;
    ASSERT_TRUE(v.contains("source") && v.contains("before") && v.contains("after") && v.contains("ts_ms"));
    EXPECT_EQ(v["source"]["connector"], "shardcast");
    EXPECT_EQ(v["source"]["table"], table.substr(table.find('.') + 1));
    EXPECT_EQ(v["source"]["schema"], "public");
    EXPECT_EQ(v["source"]["db"], "app");
    EXPECT_EQ(v["source"]["lsn"].get<unsigned long long>(), pos.lsn);
    if (op != "t") {
      ASSERT_TRUE(r.key.has_value());
      // Records come partition by partition in offset order: per key that must be commit order.
      const std::string k = nlohmann::json::parse(*r.key).at(pk).dump();
      if (last_by_key.count(k)) {
        EXPECT_TRUE(last_by_key[k] < pos) << "out of order for key " << k;
      }
      last_by_key[k] = pos;
      v["__key"] = k;
    }
    changes.emplace_back(pos, std::move(v));
  }
  // Replay in commit order across partitions (a TRUNCATE clears everything before it).
  std::sort(changes.begin(), changes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::map<std::string, nlohmann::json> state;
  for (const auto& [pos, v] : changes) {
    const std::string op = v["op"];
    if (op == "t") {
      state.clear();
    } else if (op == "c" || op == "u") {
      ASSERT_FALSE(v["after"].is_null());
      state[v["__key"]] = v["after"];
    } else {
      ASSERT_EQ(op, "d");
      ASSERT_FALSE(v["before"].is_null());
      state.erase(v["__key"].get<std::string>());
    }
  }
  auto ids = QueryRows(env.source(), "app", "SELECT " + pk + " FROM " + table + " ORDER BY " + pk);
  std::set<std::string> want;
  for (const auto& row : ids) want.insert(pk == "code" ? nlohmann::json(*row[0]).dump() : *row[0]);
  std::set<std::string> got;
  for (const auto& [k, _] : state) got.insert(k);
  EXPECT_EQ(got, want) << "replaying the " << table << " feed does not give the source's keys";
}

TEST(PipelineE2E, MixedWorkloadLandsExactlyAndSurvivesRestart) {
  E2EEnv env;
  env.Start(3, kDdl, kSourceOnly);
  const std::string config = env.WriteConfig(kTables);
  env.StartDaemon(config);
  env.WaitForSlot();

  Counts n;
  WorkloadOne(env.source(), n);
  env.WaitCaughtUp(n.Feed());
  env.ExpectShardsMatchSource(kTables);
  ExpectFeedExact(env, "public.orders", n.orders, "id");
  ExpectFeedExact(env, "public.users", n.users, "id");
  ExpectFeedExact(env, "public.countries", n.countries, "code");

  // A delete carries the whole old row (REPLICA IDENTITY FULL) and is followed by a tombstone.
  auto all = ReadTopic(env.broker().bootstrap(), "shardcast.public.orders");
  ASSERT_TRUE(all.ok());
  std::size_t tombstones = 0;
  for (const auto& r : *all) tombstones += r.value ? 0 : 1;
  EXPECT_EQ(tombstones, 16u);

  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
  WorkloadTwo(env.source(), n);
  env.StartDaemon(config);
  env.WaitCaughtUp(n.Feed());
  env.ExpectShardsMatchSource(kTables);
  // A clean stop drained and checkpointed: not even Kafka repeats anything.
  ExpectFeedExact(env, "public.orders", n.orders, "id");
  ExpectFeedExact(env, "public.users", n.users, "id");
  ExpectFeedExact(env, "public.countries", n.countries, "code");
  ASSERT_EQ(env.StopDaemon(), 0) << env.daemon()->Log();
}

}  // namespace
}  // namespace shardcast::testing
