// `shardcast check` against real PostgreSQL servers: shard tables are
// compared with the source's columns and primary key, --create-missing
// creates what is absent (proved through pg_catalog on the shard), and the
// privileges check names the GRANT / ALTER ROLE that fixes it.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "daemon/commands.h"
#include "daemon/config.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::PgServer;
using testing::Row;

// Dropped and generated columns are not replicated, so shards get neither;
// the primary key's order differs from the column order on purpose.
constexpr const char* kSourceDdl = R"sql(
CREATE TABLE public.orders (id bigint, gone int, account_id int NOT NULL, amount numeric(12,2),
  note varchar(40), tags text[], placed timestamptz DEFAULT now(),
  doubled numeric GENERATED ALWAYS AS (amount * 2) STORED, PRIMARY KEY (account_id, id));
ALTER TABLE public.orders DROP COLUMN gone;
CREATE SCHEMA sales;
CREATE TABLE sales."Mixed Case" ("Key" text PRIMARY KEY, "v""q" jsonb NOT NULL);
)sql";

// What a hand-made compatible shard looks like.
constexpr const char* kShardDdl = R"sql(
CREATE TABLE public.orders (id bigint, account_id int NOT NULL, amount numeric(12,2),
  note varchar(40), tags text[], placed timestamptz, PRIMARY KEY (account_id, id));
CREATE SCHEMA sales;
CREATE TABLE sales."Mixed Case" ("Key" text PRIMARY KEY, "v""q" jsonb NOT NULL);
)sql";

// Columns (name, type, NOT NULL) in order, and the primary key in key order.
constexpr const char* kColumnsSql =
    "SELECT attname, format_type(atttypid, atttypmod), attnotnull::text FROM pg_attribute"
    " WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
    " ORDER BY attnum";
constexpr const char* kPrimaryKeySql =
    "SELECT a.attname FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(n, ord)"
    " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n"
    " WHERE c.conrelid = '%s'::regclass AND c.contype = 'p' ORDER BY k.ord";

std::string Fmt(const char* pattern, const std::string& arg) {
  char buf[1024];
  std::snprintf(buf, sizeof buf, pattern, arg.c_str());
  return buf;
}

struct CheckRun {
  int code = -1;
  std::string out;
};

class ShardSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto source = PgServer::Start();
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    source_ = std::move(*source);
    auto shards = PgServer::Start();
    ASSERT_TRUE(shards.ok()) << shards.status().ToString();
    shards_ = std::move(*shards);
    ASSERT_TRUE(source_->CreateDatabase("app").ok());
    ASSERT_TRUE(source_->Exec("app", kSourceDdl).ok());
    for (const char* db : {"shard0", "shard1"}) ASSERT_TRUE(shards_->CreateDatabase(db).ok());
  }

  void ShardDdl(const std::string& sql) {
    for (const char* db : {"shard0", "shard1"}) ASSERT_TRUE(shards_->Exec(db, sql).ok()) << sql;
  }

  static std::string Dsn(const PgServer& pg, const std::string& db, const std::string& user) {
    return "host=127.0.0.1 port=" + std::to_string(pg.port()) + " user=" + user + " dbname=" + db;
  }

  CheckRun Check(bool create_missing, const std::string& source_user = "postgres",
                 const std::string& shard_user = "postgres") {
    const std::string yaml = "source:\n  dsn: \"" + Dsn(*source_, "app", source_user) +
                             "\"\n"
                             "tables:\n  - name: public.orders\n    shard_key: [account_id]\n"
                             "  - name: sales.Mixed Case\n    mode: reference\n"
                             "shards:\n  - id: s0\n    dsn: \"" +
                             Dsn(*shards_, "shard0", shard_user) + "\"\n  - id: s1\n    dsn: \"" +
                             Dsn(*shards_, "shard1", shard_user) + "\"\n";
    auto config = ParseConfig(yaml, "test.yaml");
    CheckRun run;
    if (!config.ok()) {
      ADD_FAILURE() << config.status().ToString() << "\n" << yaml;
      return run;
    }
    ::testing::internal::CaptureStdout();
    run.code = CheckDeployment(*config, create_missing);
    std::fflush(stdout);
    run.out = ::testing::internal::GetCapturedStdout();
    return run;
  }

  std::vector<Row> Rows(PgServer& pg, const std::string& db, const std::string& sql) {
    auto rows = pg.Query(db, sql);
    EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<Row>{};
  }

  bool Has(const CheckRun& run, const std::string& text) { return run.out.find(text) != std::string::npos; }

  std::unique_ptr<PgServer> source_;
  std::unique_ptr<PgServer> shards_;
};

TEST_F(ShardSchemaTest, CompatibleShardPassesAndExtraNullableColumnsAreNotes) {
  ShardDdl(kShardDdl);
  ShardDdl("ALTER TABLE public.orders ADD COLUMN local_note text, ADD COLUMN seen int NOT NULL DEFAULT 0");
  CheckRun run = Check(false);
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run, "ok    shard s0@default: table public.orders")) << run.out;
  EXPECT_TRUE(Has(run, "ok    shard s1@default: table sales.Mixed Case")) << run.out;
  EXPECT_TRUE(Has(run, "note  public.orders.local_note on s1@default is not on the source")) << run.out;
  EXPECT_TRUE(Has(run, "ok    source role postgres may replicate and read the 2 table(s)")) << run.out;
  EXPECT_FALSE(Has(run, "FAIL")) << run.out;

  // An extra NOT NULL column without a default would make every insert fail.
  ASSERT_TRUE(shards_->Exec("shard1", "ALTER TABLE public.orders ADD COLUMN must int NOT NULL").ok());
  run = Check(false);
  EXPECT_NE(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run, "FAIL  public.orders.must on s1@default is not on the source and is NOT NULL"))
      << run.out;
}

TEST_F(ShardSchemaTest, MissingTableFailsNamingTableDestinationAndFix) {
  ShardDdl(kShardDdl);
  ASSERT_TRUE(shards_->Exec("shard1", "DROP TABLE sales.\"Mixed Case\"").ok());
  CheckRun run = Check(false);
  EXPECT_NE(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run,
                  "FAIL  shard s1@default has no table sales.Mixed Case: create it with "
                  "'shardcast check --create-missing'"))
      << run.out;
  EXPECT_TRUE(Has(run, "ok    shard s0@default: table sales.Mixed Case")) << run.out;
  // Checking never creates anything.
  EXPECT_EQ(Rows(*shards_, "shard1", "SELECT to_regclass('sales.\"Mixed Case\"') IS NULL").at(0).at(0), "t");
}

TEST_F(ShardSchemaTest, WrongTypeFailsWithTheAlterThatFixesIt) {
  ShardDdl(kShardDdl);
  ASSERT_TRUE(shards_->Exec("shard1", "ALTER TABLE public.orders ALTER COLUMN amount TYPE integer").ok());
  CheckRun run = Check(false);
  EXPECT_NE(run.code, 0) << run.out;
  const std::string fix = "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"amount\" TYPE numeric(12,2)";
  EXPECT_TRUE(
      Has(run, "FAIL  public.orders.amount on s1@default is integer, the source has numeric(12,2): " + fix))
      << run.out;
  EXPECT_FALSE(Has(run, "ok    shard s1@default: table public.orders")) << run.out;
  EXPECT_TRUE(Has(run, "ok    shard s0@default: table public.orders")) << run.out;

  // Running the printed fix makes the shard compatible.
  ASSERT_TRUE(shards_->Exec("shard1", fix).ok());
  run = Check(false);
  EXPECT_EQ(run.code, 0) << run.out;
}

TEST_F(ShardSchemaTest, MissingColumnAndDifferentPrimaryKeyFail) {
  ShardDdl(kShardDdl);
  ASSERT_TRUE(
      shards_
          ->Exec("shard0",
                 "ALTER TABLE public.orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (id, account_id);"
                 "ALTER TABLE public.orders DROP COLUMN tags")
          .ok());
  CheckRun run = Check(false);
  EXPECT_NE(run.code, 0) << run.out;
  const std::string pk_fix =
      "ALTER TABLE \"public\".\"orders\" DROP CONSTRAINT \"orders_pkey\", ADD PRIMARY KEY (\"account_id\", "
      "\"id\")";
  EXPECT_TRUE(Has(run,
                  "FAIL  public.orders on s0@default has primary key (id, account_id), the source has "
                  "(account_id, id): " +
                      pk_fix))
      << run.out;
  const std::string col_fix = "ALTER TABLE \"public\".\"orders\" ADD COLUMN \"tags\" text[]";
  EXPECT_TRUE(
      Has(run, "FAIL  public.orders.tags on s0@default is missing, the source has text[]: " + col_fix))
      << run.out;

  ASSERT_TRUE(shards_->Exec("shard0", pk_fix + ";" + col_fix).ok());
  run = Check(false);
  EXPECT_EQ(run.code, 0) << run.out;
}

TEST_F(ShardSchemaTest, CreateMissingBuildsTablesMatchingTheSourceAndIsIdempotent) {
  // s1 has one table already; --create-missing must leave it alone.
  ASSERT_TRUE(shards_
                  ->Exec("shard1",
                         "CREATE SCHEMA sales; CREATE TABLE sales.\"Mixed Case\" "
                         "(\"Key\" text PRIMARY KEY, \"v\"\"q\" jsonb NOT NULL, keep int);"
                         "INSERT INTO sales.\"Mixed Case\" VALUES ('k', '{}', 7)")
                  .ok());
  CheckRun run = Check(false);
  EXPECT_NE(run.code, 0) << run.out;

  run = Check(true);
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run, "ok    created public.orders on s0@default")) << run.out;
  EXPECT_TRUE(Has(run, "ok    created sales.Mixed Case on s0@default")) << run.out;
  EXPECT_TRUE(Has(run, "ok    created public.orders on s1@default")) << run.out;
  EXPECT_FALSE(Has(run, "created sales.Mixed Case on s1@default")) << run.out;
  EXPECT_TRUE(Has(run, "ok    created shardcast.progress on s1@default")) << run.out;

  for (const std::string table : {"public.orders", "sales.\"Mixed Case\""}) {
    const auto want_cols = Rows(*source_, "app", Fmt(kColumnsSql, table));
    const auto want_pk = Rows(*source_, "app", Fmt(kPrimaryKeySql, table));
    ASSERT_FALSE(want_cols.empty());
    ASSERT_FALSE(want_pk.empty());
    EXPECT_EQ(Rows(*shards_, "shard0", Fmt(kColumnsSql, table)), want_cols) << table;
    EXPECT_EQ(Rows(*shards_, "shard0", Fmt(kPrimaryKeySql, table)), want_pk) << table;
  }
  EXPECT_EQ(Rows(*shards_, "shard0", Fmt(kPrimaryKeySql, "public.orders")),
            (std::vector<Row>{{"account_id"}, {"id"}}));
  // The progress table is the one ShardSink creates.
  EXPECT_EQ(Rows(*shards_, "shard0", Fmt(kColumnsSql, "shardcast.progress")),
            (std::vector<Row>{{"destination", "text", "true"},
                              {"end_lsn", "pg_lsn", "true"},
                              {"updated_at", "timestamp with time zone", "true"}}));
  // The existing table kept its rows and its extra column.
  EXPECT_EQ(Rows(*shards_, "shard1", "SELECT keep FROM sales.\"Mixed Case\"").at(0).at(0), "7");

  run = Check(false);
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run, "ok    shard s0@default: table public.orders")) << run.out;
  run = Check(true);
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_FALSE(Has(run, "created")) << run.out;
}

TEST_F(ShardSchemaTest, CreateMissingNeverAltersAMismatchingTable) {
  ShardDdl(kShardDdl);
  ASSERT_TRUE(shards_->Exec("shard0", "ALTER TABLE public.orders ALTER COLUMN note TYPE text").ok());
  CheckRun run = Check(true);
  EXPECT_NE(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run,
                  "FAIL  public.orders.note on s0@default is text, the source has character varying(40): "
                  "ALTER TABLE \"public\".\"orders\" ALTER COLUMN \"note\" TYPE character varying(40)"))
      << run.out;
  EXPECT_EQ(Rows(*shards_, "shard0",
                 "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                 "'public.orders'::regclass AND attname = 'note'")
                .at(0)
                .at(0),
            "text");
}

TEST_F(ShardSchemaTest, MissingPrivilegesFailWithTheGrantThatFixesThem) {
  ASSERT_TRUE(
      source_->Exec("app", "CREATE ROLE reader LOGIN; GRANT SELECT ON sales.\"Mixed Case\" TO reader").ok());
  ASSERT_TRUE(
      shards_->Exec("shard0", "CREATE ROLE writer LOGIN; GRANT CREATE ON SCHEMA public TO writer").ok());
  ASSERT_TRUE(shards_->Exec("shard1", "GRANT CREATE ON SCHEMA public TO writer").ok());

  CheckRun run = Check(true, "reader", "writer");
  EXPECT_NE(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run,
                  "FAIL  source role reader has neither REPLICATION nor SUPERUSER, so it cannot stream "
                  "changes: ALTER ROLE \"reader\" REPLICATION"))
      << run.out;
  EXPECT_TRUE(Has(run,
                  "FAIL  source role reader cannot read public.orders, which snapshots and verify need: "
                  "GRANT SELECT ON \"public\".\"orders\" TO \"reader\"\n"))
      << run.out;
  // SELECT alone is not enough without USAGE on the schema.
  EXPECT_TRUE(Has(run,
                  "FAIL  source role reader cannot read sales.Mixed Case, which snapshots and verify need: "
                  "GRANT USAGE ON SCHEMA \"sales\" TO \"reader\"\n"))
      << run.out;
  EXPECT_TRUE(Has(run,
                  "FAIL  shard s0@default: role writer lacks CREATE on database shard0, which "
                  "--create-missing needs to create schema(s) sales, shardcast: GRANT CREATE ON DATABASE "
                  "\"shard0\" TO \"writer\""))
      << run.out;
  EXPECT_EQ(Rows(*shards_, "shard0", "SELECT to_regclass('public.orders') IS NULL").at(0).at(0), "t");

  ASSERT_TRUE(source_
                  ->Exec("app",
                         "ALTER ROLE reader REPLICATION; GRANT SELECT ON public.orders TO reader;"
                         "GRANT USAGE ON SCHEMA sales TO reader")
                  .ok());
  for (const char* db : {"shard0", "shard1"})
    ASSERT_TRUE(shards_->Exec(db, std::string("GRANT CREATE ON DATABASE ") + db + " TO writer").ok());
  run = Check(true, "reader", "writer");
  EXPECT_EQ(run.code, 0) << run.out;
  EXPECT_TRUE(Has(run, "ok    created sales.Mixed Case on s1@default")) << run.out;
  EXPECT_TRUE(Has(run, "ok    source role reader may replicate and read the 2 table(s)")) << run.out;
}

}  // namespace
}  // namespace shardcast
