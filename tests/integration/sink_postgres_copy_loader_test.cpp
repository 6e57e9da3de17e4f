// ShardCopyLoader against a real PostgreSQL shard database: COPY text rows
// land exactly, and a failed or abandoned chunk leaves nothing behind.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sink/postgres/copy_loader.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::PgServer;
using testing::Row;

constexpr const char* kSchema =
    "CREATE TABLE items (id bigint PRIMARY KEY, name text, doc jsonb, data bytea, at timestamptz, "
    "amount numeric(12,4))";
// Text forms as the source sends them (bytea hex, ISO dates in UTC).
constexpr const char* kItemsQuery =
    "SELECT id::text, name, doc::text, data::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD "
    "HH24:MI:SS.US') || '+00', amount::text FROM items ORDER BY id";

// One field in COPY text form, written here independently of cdc/copy_text.
std::string CopyField(const std::optional<std::string>& v) {
  if (!v) return "\\N";
  std::string out;
  for (char c : *v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out;
}
std::string CopyLine(const Row& row) {
  std::string line;
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) line += '\t';
    line += CopyField(row[i]);
  }
  return line;
}

std::shared_ptr<const Relation> Items() {
  auto rel = std::make_shared<Relation>();
  rel->schema = "public";
  rel->name = "items";
  for (const char* c : {"id", "name", "doc", "data", "at", "amount"}) rel->columns.push_back(Column{c});
  return rel;
}

Row Item(int id, std::string name) {
  return Row{std::to_string(id), std::move(name), std::nullopt, std::nullopt, std::nullopt, std::nullopt};
}

class CopyLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = PgServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    static std::atomic<int> counter{0};
    db_ = "copy" + std::to_string(counter++);
    ASSERT_TRUE(server_->CreateDatabase(db_).ok());
    ASSERT_TRUE(server_->Exec(db_, kSchema).ok());
  }

  std::unique_ptr<ShardCopyLoader> Connect() {
    auto loader = ShardCopyLoader::Connect("s0@test", server_->Dsn(db_));
    EXPECT_TRUE(loader.ok()) << loader.status().ToString();
    return loader.ok() ? std::move(*loader) : nullptr;
  }

  std::vector<Row> Query(const std::string& sql) {
    auto rows = server_->Query(db_, sql);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<Row>{};
  }
  std::string Count() { return *Query("SELECT count(*) FROM items")[0][0]; }

  static PgServer* server_;
  std::string db_;
  std::shared_ptr<const Relation> items_ = Items();
};

PgServer* CopyLoaderTest::server_ = nullptr;

TEST_F(CopyLoaderTest, LoadsAwkwardValuesExactly) {
  const std::vector<Row> rows = {
      Row{"1", "tab\there, newline\nthere, cr\r, back\\slash \\N not null",
          R"({"a": "q\"t\\b\tc", "n": [1, 2.5]})", "\\x00ff5c0a09", "2024-01-02 03:04:05.123456+00",
          "12345.6789"},
      Row{"2", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt},
      Row{"3", "", "{}", "\\x", "1999-12-31 23:59:59.000000+00", "-0.0001"},
      Row{"4", "\\N", "[\"\\\\N\"]", "\\x5c4e", std::nullopt, "0.0000"},
      Row{"5", "ünïcødé ✓ 'quoted' \"double\"", "null", std::nullopt, std::nullopt, std::nullopt},
  };
  auto loader = Connect();
  ASSERT_NE(loader, nullptr);
  ASSERT_TRUE(loader->Begin(*items_).ok());
  for (const auto& r : rows) ASSERT_TRUE(loader->Write(CopyLine(r)).ok());
  EXPECT_EQ(loader->rows_in_chunk(), rows.size());
  Status st = loader->Commit();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Query(kItemsQuery), rows);
}

TEST_F(CopyLoaderTest, ChunksLargerThanOnePieceAndSeveralChunksPerConnection) {
  auto loader = Connect();
  ASSERT_NE(loader, nullptr);
  const std::string filler(300, 'f');  // 3000 rows x ~310 bytes: several 256 KiB pieces
  for (int chunk = 0; chunk < 2; ++chunk) {
    ASSERT_TRUE(loader->Begin(*items_).ok());
    for (int i = 0; i < 3000; ++i)
      ASSERT_TRUE(loader->Write(CopyLine(Item(chunk * 3000 + i, filler + std::to_string(i)))).ok());
    Status st = loader->Commit();
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(loader->rows_in_chunk(), 3000u);
  }
  EXPECT_EQ(Count(), "6000");
  EXPECT_EQ(Query("SELECT name FROM items WHERE id = 4321")[0][0], filler + "1321");
  EXPECT_EQ(Query("SELECT count(*) FROM items WHERE length(name) < 301 OR length(name) > 304")[0][0], "0");
}

TEST_F(CopyLoaderTest, DuplicateKeyFailsTheWholeChunkAndNamesWhereAndWhy) {
  ASSERT_TRUE(server_->Exec(db_, "INSERT INTO items (id, name) VALUES (7, 'there before')").ok());
  auto loader = Connect();
  ASSERT_NE(loader, nullptr);
  ASSERT_TRUE(loader->Begin(*items_).ok());
  // Enough rows before the duplicate that some were sent before it.
  for (int i = 100; i < 2000; ++i) ASSERT_TRUE(loader->Write(CopyLine(Item(i, std::string(200, 'x')))).ok());
  ASSERT_TRUE(loader->Write(CopyLine(Item(7, "duplicate"))).ok());
  Status st = loader->Commit();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  for (const char* part : {"s0@test", "public.items", "duplicate key", "23505", "line 1901", "must be empty",
                           "shardcast snapshot"}) {
    EXPECT_NE(st.message().find(part), std::string::npos) << part << " in " << st.message();
  }
  EXPECT_EQ(Query("SELECT id::text, name FROM items"), (std::vector<Row>{Row{"7", "there before"}}));
  EXPECT_EQ(loader->rows_in_chunk(), 0u);

  // The connection is usable for the next chunk.
  ASSERT_TRUE(loader->Begin(*items_).ok());
  ASSERT_TRUE(loader->Write(CopyLine(Item(8, "after"))).ok());
  st = loader->Commit();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Count(), "2");
}

TEST_F(CopyLoaderTest, AbortAndDestructionLeaveNothing) {
  auto loader = Connect();
  ASSERT_NE(loader, nullptr);
  ASSERT_TRUE(loader->Begin(*items_).ok());
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(loader->Write(CopyLine(Item(i, std::string(200, 'a')))).ok());
  loader->Abort();
  EXPECT_EQ(loader->rows_in_chunk(), 0u);
  EXPECT_EQ(Count(), "0");
  loader->Abort();  // nothing open: a no-op
  EXPECT_EQ(loader->Write("1\tx\t\\N\t\\N\t\\N\t\\N").code(), Code::kFailedPrecondition);
  EXPECT_EQ(loader->Commit().code(), Code::kFailedPrecondition);

  ASSERT_TRUE(loader->Begin(*items_).ok());
  ASSERT_TRUE(loader->Write(CopyLine(Item(1, "kept"))).ok());
  ASSERT_TRUE(loader->Commit().ok());

  // An open chunk of a destroyed loader is rolled back.
  ASSERT_TRUE(loader->Begin(*items_).ok());
  EXPECT_EQ(loader->Begin(*items_).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(loader->Write(CopyLine(Item(2, "lost"))).ok());
  loader.reset();
  EXPECT_EQ(Query("SELECT id::text, name FROM items"), (std::vector<Row>{Row{"1", "kept"}}));
}

TEST_F(CopyLoaderTest, MissingTableAndMalformedRowAreNamed) {
  auto loader = Connect();
  ASSERT_NE(loader, nullptr);
  auto missing = std::make_shared<Relation>(*items_);
  missing->name = "nowhere";
  Status st = loader->Begin(*missing);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("public.nowhere"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("s0@test"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("42P01"), std::string::npos) << st.message();

  ASSERT_TRUE(loader->Begin(*items_).ok());
  ASSERT_TRUE(loader->Write(CopyLine(Item(1, "fine"))).ok());
  ASSERT_TRUE(loader->Write("not a number\tx\t\\N\t\\N\t\\N\t\\N").ok());
  st = loader->Commit();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("22P02"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("public.items"), std::string::npos) << st.message();
  EXPECT_EQ(Count(), "0");
}

TEST_F(CopyLoaderTest, UnreachableServerIsUnavailableWithoutThePassword) {
  auto loader = ShardCopyLoader::Connect(
      "s9@test", "host=127.0.0.1 port=1 user=nobody password=sekrit dbname=none connect_timeout=2");
  ASSERT_FALSE(loader.ok());
  EXPECT_EQ(loader.status().code(), Code::kUnavailable);
  EXPECT_EQ(loader.status().message().find("sekrit"), std::string::npos) << loader.status().message();
  EXPECT_NE(loader.status().message().find("s9@test"), std::string::npos) << loader.status().message();
}

}  // namespace
}  // namespace shardcast
