// `shardcast verify` against real servers, without a daemon (so without a
// hold): shards seeded by hand with exactly the rows the ring assigns them
// verify as identical; a deleted, a changed, a misplaced and an extra row
// are each named with their kind, key and destination, in text and JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pq/pq_util.h"
#include "sharding/ring.h"
#include "sharding/shard_key.h"
#include "tests/e2e/e2e_support.h"

namespace shardcast::testing {
namespace {

const char* kDdl = R"sql(
CREATE TABLE public.orders (id bigint PRIMARY KEY, account_id bigint NOT NULL, note text,
  amount numeric(12,2), created_at timestamptz, score double precision);
CREATE TABLE public.lines (order_id bigint, line int, qty int, PRIMARY KEY (order_id, line));
CREATE TABLE public.countries (code text PRIMARY KEY, name text NOT NULL);
)sql";
// Orders are sharded by account_id, outside the primary key.
const char* kSourceOnly = "ALTER TABLE public.orders REPLICA IDENTITY FULL;";

const std::vector<TableUnderTest> kTables = {
    {"public.orders", "id", "account_id", "id"},
    {"public.lines", "order_id, line", "order_id", "order_id"},
    {"public.countries", "code", "", "code"},
};

constexpr int kShards = 3;

Ring TestRing() {
  std::vector<ShardDef> defs;
  for (int i = 0; i < kShards; ++i) defs.push_back({"s" + std::to_string(i), 1});
  auto ring = Ring::Build(defs, 1024, 1);
  EXPECT_TRUE(ring.ok());
  return std::move(ring).value();
}

std::size_t OwnerOf(const Ring& ring, const std::string& shard_key_text) {
  return ring.OwnerOf(HashShardKey({std::optional<std::string_view>(shard_key_text)}));
}

std::string InsertSql(const std::string& table, const Row& row) {
  std::string values;
  for (const auto& v : row) values += (values.empty() ? "" : ", ") + (v ? QuoteLiteral(*v) : "NULL");
  return "INSERT INTO " + table + " VALUES (" + values + ");\n";
}

// Copies every source row onto the shard(s) placement gives it, as the
// daemon would have.
void SeedShards(E2EEnv& env, const Ring& ring) {
  for (const auto& t : kTables) {
    auto rows = QueryRows(env.source(), "app", "SELECT * FROM " + t.name + " ORDER BY " + t.order_by);
    std::vector<std::string> sql(kShards);
    if (t.shard_key.empty()) {
      for (const auto& row : rows)
        for (auto& s : sql) s += InsertSql(t.name, row);
    } else {
      auto keys =
          QueryRows(env.source(), "app",
                    "SELECT " + t.shard_key + "::text AS k FROM " + t.name + " ORDER BY " + t.order_by);
      for (std::size_t r = 0; r < rows.size(); ++r)
        sql[OwnerOf(ring, *keys[r][0])] += InsertSql(t.name, rows[r]);
    }
    for (int i = 0; i < kShards; ++i) {
      if (sql[i].empty()) continue;
      ASSERT_TRUE(env.shards().Exec("shard" + std::to_string(i), sql[i]).ok()) << t.name;
    }
  }
}

std::string OrdersAccount(E2EEnv& env, int id) {
  return *QueryRows(env.source(), "app",
                    "SELECT account_id::text FROM orders WHERE id = " + std::to_string(id))
              .at(0)
              .at(0);
}

// The JSON object in the command's output (stderr's warning comes before it).
nlohmann::json JsonOf(const std::string& out) {
  const auto start = out.find("{\n");
  EXPECT_NE(start, std::string::npos) << out;
  auto j = nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << out;
  return j;
}

const nlohmann::json* TableIn(const nlohmann::json& j, const std::string& table) {
  for (const auto& t : j["tables"])
    if (t["table"] == table) return &t;
  ADD_FAILURE() << "no table " << table << " in " << j.dump();
  return nullptr;
}

bool HasFinding(const nlohmann::json& t, const std::string& kind, const std::string& key,
                const std::string& dest, const nlohmann::json& expected_shard) {
  for (const auto& f : t["findings"])
    if (f["kind"] == kind && f["key"] == key && f["destination"] == dest &&
        f["expected_shard"] == expected_shard)
      return true;
  return false;
}

TEST(VerifyE2E, IdenticalShardsThenEachKindOfDifference) {
  E2EEnv env;
  env.Start(kShards, kDdl, kSourceOnly);
  ASSERT_TRUE(
      env.source()
          .Exec(
              "app",
              "INSERT INTO orders SELECT g, g % 17, CASE WHEN g % 5 = 0 THEN NULL ELSE 'note '' ' || g END, "
              "g * 1.25, TIMESTAMPTZ '2026-01-02 03:04:05.123456+02' + g * interval '1 hour', g / 3.0 "
              "FROM generate_series(1, 60) g;"
              "INSERT INTO lines SELECT g / 4 + 1, g % 4, g FROM generate_series(0, 39) g;"
              "INSERT INTO countries VALUES ('de','Germany'),('fr','France'),('jp','Japan'),"
              "('br','Brazil'),('nz','NZ');")
          .ok());
  const Ring ring = TestRing();
  SeedShards(env, ring);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // Small chunks: several key ranges per table, each compared on its own.
  // No daemon runs, so nothing answers on the config's admin.listen.
  const std::string config = env.WriteConfig(kTables, "snapshot: { chunk_rows: 7 }\n");

  std::string out;
  EXPECT_EQ(RunShardcast({"verify", "-c", config}, &out), 0) << out;
  EXPECT_NE(out.find("public.orders              60        0      0          0          0"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("may trail the source"), std::string::npos) << out;  // no daemon: warned
  EXPECT_EQ(RunShardcast({"verify", "-c", config, "--json"}, &out), 0) << out;
  auto j = JsonOf(out);
  EXPECT_EQ(j["identical"], true) << out;
  EXPECT_EQ(j["held"], false) << out;
  ASSERT_NE(TableIn(j, "public.lines"), nullptr);
  EXPECT_EQ((*TableIn(j, "public.lines"))["source_rows"], 40);

  // The damage: one row of each kind.
  const auto o5 = OwnerOf(ring, OrdersAccount(env, 5));
  const auto o6 = OwnerOf(ring, OrdersAccount(env, 6));
  const auto o7 = OwnerOf(ring, OrdersAccount(env, 7));
  const auto wrong = (o7 + 1) % kShards;
  auto shard_db = [](std::size_t i) { return "shard" + std::to_string(i); };
  auto dest = [](std::size_t i) { return "s" + std::to_string(i) + "@default"; };
  ASSERT_TRUE(env.shards().Exec(shard_db(o5), "DELETE FROM orders WHERE id = 5").ok());
  ASSERT_TRUE(env.shards().Exec(shard_db(o6), "UPDATE orders SET note = 'tampered' WHERE id = 6").ok());
  auto row7 = QueryRows(env.source(), "app", "SELECT * FROM orders WHERE id = 7");
  ASSERT_TRUE(env.shards().Exec(shard_db(wrong), InsertSql("orders", row7.at(0))).ok());
  ASSERT_TRUE(env.shards().Exec("shard0", "INSERT INTO lines VALUES (999, 1, 1)").ok());
  ASSERT_TRUE(env.shards().Exec("shard2", "DELETE FROM countries WHERE code = 'fr'").ok());

  EXPECT_EQ(RunShardcast({"verify", "-c", config}, &out), 1) << out;
  EXPECT_NE(out.find("public.orders              60        1      0          1          1"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("public.orders: missing (id)=(5) on " + dest(o5) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("public.orders: differing (id)=(6) on " + dest(o6) + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("public.orders: misplaced (id)=(7) on " + dest(wrong) + " (the ring assigns it to s" +
                     std::to_string(o7) + ")"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("public.lines: extra (order_id, line)=(999, 1) on s0@default\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("public.countries: missing (code)=(fr) on s2@default\n"), std::string::npos) << out;

  EXPECT_EQ(RunShardcast({"verify", "-c", config, "--json"}, &out), 1) << out;
  j = JsonOf(out);
  EXPECT_EQ(j["identical"], false);
  const auto* orders = TableIn(j, "public.orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ((*orders)["source_rows"], 60);
  EXPECT_EQ((*orders)["missing"], 1);
  EXPECT_EQ((*orders)["differing"], 1);
  EXPECT_EQ((*orders)["misplaced"], 1);
  EXPECT_EQ((*orders)["extra"], 0);
  EXPECT_EQ((*orders)["findings"].size(), 3u) << out;
  const std::string s5 = "s" + std::to_string(o5), s6 = "s" + std::to_string(o6),
                    s7 = "s" + std::to_string(o7);
  EXPECT_TRUE(HasFinding(*orders, "missing", "(id)=(5)", dest(o5), s5)) << out;
  EXPECT_TRUE(HasFinding(*orders, "differing", "(id)=(6)", dest(o6), s6)) << out;
  EXPECT_TRUE(HasFinding(*orders, "misplaced", "(id)=(7)", dest(wrong), s7)) << out;
  EXPECT_TRUE(
      HasFinding(*TableIn(j, "public.lines"), "extra", "(order_id, line)=(999, 1)", "s0@default", nullptr))
      << out;
  EXPECT_TRUE(HasFinding(*TableIn(j, "public.countries"), "missing", "(code)=(fr)", "s2@default", "s2"))
      << out;

  // --table narrows the comparison; an unknown table is a config error naming it.
  EXPECT_EQ(RunShardcast({"verify", "-c", config, "--table", "public.lines", "--json"}, &out), 1) << out;
  j = JsonOf(out);
  ASSERT_EQ(j["tables"].size(), 1u) << out;
  EXPECT_EQ(j["tables"][0]["extra"], 1) << out;
  ASSERT_TRUE(env.shards().Exec("shard0", "DELETE FROM lines WHERE order_id = 999").ok());
  EXPECT_EQ(RunShardcast({"verify", "-c", config, "--table", "public.lines"}, &out), 0) << out;
  EXPECT_EQ(RunShardcast({"verify", "-c", config, "--table", "public.nosuch"}, &out), 78) << out;
  EXPECT_NE(out.find("public.nosuch"), std::string::npos) << out;

  // The temporary slots went away with their connections.
  EXPECT_EQ(QueryRows(env.source(), "app",
                      "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'shardcast_verify_%'")
                .at(0)
                .at(0),
            "0");
}

TEST(VerifyE2E, UnreachableShardExits69) {
  E2EEnv env;
  env.Start(kShards, kDdl, kSourceOnly);
  const std::string config = env.WriteConfig(kTables);
  ASSERT_TRUE(env.shards().Stop().ok());
  std::string out;
  EXPECT_EQ(RunShardcast({"verify", "-c", config}, &out), 69) << out;
  EXPECT_NE(out.find("shard s0@default"), std::string::npos) << out;
}

}  // namespace
}  // namespace shardcast::testing
