// The SQL a shard transaction sends: grouping, order, quoting, chunking.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sink/postgres/net_effect.h"
#include "sink/postgres/sql_builder.h"

namespace shardcast {
namespace {

std::shared_ptr<const Relation> MakeRelation(std::string schema, std::string name,
                                             std::vector<std::string> cols) {
  auto rel = std::make_shared<Relation>();
  rel->schema = std::move(schema);
  rel->name = std::move(name);
  for (auto& c : cols) rel->columns.push_back(Column{c});
  return rel;
}

Value T(std::string s) {
  return Value::Text(std::move(s));
}
Value U() {
  return Value{Value::Kind::kUnchanged, {}};
}

Change Insert(const std::shared_ptr<const Relation>& rel, Tuple row) {
  Change c;
  c.op = Op::kInsert;
  c.relation = rel;
  c.new_tuple = std::move(row);
  return c;
}
Change Delete(const std::shared_ptr<const Relation>& rel, Tuple old_row, char kind = 'K') {
  Change c;
  c.op = Op::kDelete;
  c.relation = rel;
  c.old_kind = kind;
  c.old_tuple = std::move(old_row);
  return c;
}
Change Update(const std::shared_ptr<const Relation>& rel, Tuple new_row, char kind = 0, Tuple old_row = {}) {
  Change c;
  c.op = Op::kUpdate;
  c.relation = rel;
  c.old_kind = kind;
  c.old_tuple = std::move(old_row);
  c.new_tuple = std::move(new_row);
  return c;
}

Change Read(const std::shared_ptr<const Relation>& rel, Tuple row) {
  Change c = Insert(rel, std::move(row));
  c.op = Op::kRead;
  return c;
}

class SqlBuilderTest : public ::testing::Test {
 protected:
  SqlBuilderTest() {
    tables_.push_back(TableSpec{"public", "items", TableMode::kDistributed, {"id"}, {"id"}});
    tables_.push_back(TableSpec{"public", "pairs", TableMode::kDistributed, {"a"}, {"a", "b"}});
    tables_.push_back(TableSpec{"public", "other", TableMode::kDistributed, {"id"}, {"id"}});
    items_ = MakeRelation("public", "items", {"id", "name", "body"});
    pairs_ = MakeRelation("public", "pairs", {"a", "b", "v"});
    other_ = MakeRelation("public", "other", {"id"});
    p_items_.table = &tables_[0];
    p_pairs_.table = &tables_[1];
    p_other_.table = &tables_[2];
  }

  SqlBuilder Builder(std::size_t max = 1 << 20) {
    return SqlBuilder(tables_, max, [this](SqlChunk& chunk) {
      chunks_.push_back(chunk);
      return Status::Ok();
    });
  }
  std::string AllSql() const {
    std::string out;
    for (const auto& c : chunks_) out += c.sql;
    return out;
  }

  std::vector<TableSpec> tables_;
  std::shared_ptr<const Relation> items_, pairs_, other_;
  Placement p_items_, p_pairs_, p_other_;
  std::vector<SqlChunk> chunks_;
};

TEST_F(SqlBuilderTest, GroupsConsecutiveInsertsAndDeletes) {
  auto b = Builder();
  std::vector<Change> cs = {Insert(items_, {T("1"), T("a"), T("x")}),
                            Insert(items_, {T("2"), T("b"), T("y")}),
                            Delete(items_, {T("3"), Value::Null(), Value::Null()}),
                            Delete(items_, {T("4"), Value::Null(), Value::Null()})};
  ASSERT_TRUE(b.Add(ShardAction::kInsert, cs[0], p_items_, 0x10).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, cs[1], p_items_, 0x20).ok());
  ASSERT_TRUE(b.Add(ShardAction::kDelete, cs[2], p_items_, 0x20).ok());
  ASSERT_TRUE(b.Add(ShardAction::kDelete, cs[3], p_items_, 0x20).ok());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_EQ(chunks_.size(), 1u);
  EXPECT_EQ(
      chunks_[0].sql,
      "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('1','a','x'),('2','b','y');\n"
      "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('3','4');\n");
  ASSERT_EQ(chunks_[0].statements.size(), 2u);
  EXPECT_EQ(chunks_[0].statements[0].rows, 2u);
  EXPECT_EQ(chunks_[0].statements[0].Describe(), "public.items (id)=(1), (id)=(2) at positions 0/10..0/20");
  EXPECT_EQ(chunks_[0].statements[1].Describe(), "public.items (id)=(3), (id)=(4) at position 0/20");
}

TEST_F(SqlBuilderTest, PreservesOrderAcrossKindsAndTables) {
  auto b = Builder();
  Change i1 = Insert(items_, {T("1"), T("a"), T("x")});
  Change d1 = Delete(items_, {T("1"), Value::Null(), Value::Null()});
  Change i1again = Insert(items_, {T("1"), T("b"), T("y")});
  Change o = Insert(other_, {T("9")});
  Change i2 = Insert(items_, {T("2"), T("c"), T("z")});
  ASSERT_TRUE(b.Add(ShardAction::kInsert, i1, p_items_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kDelete, d1, p_items_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, i1again, p_items_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, o, p_other_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, i2, p_items_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(AllSql(),
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('1','a','x');\n"
            "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('1');\n"
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('1','b','y');\n"
            "INSERT INTO \"public\".\"other\" (\"id\") VALUES ('9');\n"
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('2','c','z');\n");
}

TEST_F(SqlBuilderTest, QuotesLiteralsAndIdentifiers) {
  std::string out;
  AppendLiteral(out, "it's a \\back\\slash ''");
  EXPECT_EQ(out, "'it''s a \\back\\slash '''''");
  out.clear();
  AppendIdentifier(out, "we\"ird");
  EXPECT_EQ(out, "\"we\"\"ird\"");
  out.clear();
  AppendValue(out, Value::Null());
  EXPECT_EQ(out, "NULL");

  auto rel = MakeRelation("my\"schema", "t'able", {"id", "na\"me"});
  std::vector<TableSpec> tables = {
      TableSpec{"my\"schema", "t'able", TableMode::kDistributed, {"id"}, {"id"}}};
  Placement p;
  p.table = &tables[0];
  std::vector<SqlChunk> chunks;
  SqlBuilder b(tables, 1 << 20, [&](SqlChunk& c) {
    chunks.push_back(c);
    return Status::Ok();
  });
  Change c = Insert(rel, {T("1"), T("O'Brien \\x00")});
  Change n = Insert(rel, {T("2"), Value::Null()});
  ASSERT_TRUE(b.Add(ShardAction::kInsert, c, p, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, n, p, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].sql,
            "INSERT INTO \"my\"\"schema\".\"t'able\" (\"id\",\"na\"\"me\") VALUES ('1','O''Brien "
            "\\x00'),('2',NULL);\n");
}

TEST_F(SqlBuilderTest, UpdateOmitsUnchangedToastAndKeysByOldTupleWhenPresent) {
  auto b = Builder();
  // Key unchanged: no old tuple, WHERE from the new tuple.
  Change u1 = Update(items_, {T("5"), T("new"), U()});
  // Key changed: old key tuple 'K' names the row.
  Change u2 = Update(items_, {T("7"), Value::Null(), T("b")}, 'K', {T("6"), Value::Null(), Value::Null()});
  ASSERT_TRUE(b.Add(ShardAction::kUpdate, u1, p_items_, 3).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpdate, u2, p_items_, 3).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(AllSql(),
            "UPDATE \"public\".\"items\" SET \"id\"='5',\"name\"='new' WHERE \"id\"='5';\n"
            "UPDATE \"public\".\"items\" SET \"id\"='7',\"name\"=NULL,\"body\"='b' WHERE \"id\"='6';\n");
  EXPECT_EQ(chunks_[0].statements[1].Describe(), "public.items (id)=(6) at position 0/3");
}

TEST_F(SqlBuilderTest, CompositeKeys) {
  auto b = Builder();
  Change d1 = Delete(pairs_, {T("1"), T("x"), Value::Null()});
  Change d2 = Delete(pairs_, {T("2"), T("y'"), T("v")}, 'O');
  Change u = Update(pairs_, {T("1"), T("x"), T("nv")});
  ASSERT_TRUE(b.Add(ShardAction::kDelete, d1, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kDelete, d2, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpdate, u, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(
      AllSql(),
      "DELETE FROM \"public\".\"pairs\" WHERE (\"a\",\"b\") IN (('1','x'),('2','y'''));\n"
      "UPDATE \"public\".\"pairs\" SET \"a\"='1',\"b\"='x',\"v\"='nv' WHERE \"a\"='1' AND \"b\"='x';\n");
  EXPECT_EQ(chunks_[0].statements[0].Describe(),
            "public.pairs (a, b)=(1, x), (a, b)=(2, y') at position 0/1");
}

TEST_F(SqlBuilderTest, MovingUpdateDeletesByOldRowAndInsertsFullNewRow) {
  Change move = Update(items_, {T("8"), T("n"), U()}, 'O', {T("8"), T("o"), T("big")});
  Placement p = p_items_;
  p.old_owner = 0;
  p.new_owner = 1;
  p.full_new = {T("8"), T("n"), T("big")};
  auto b = Builder();
  ASSERT_TRUE(b.Add(ShardAction::kDelete, move, p, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, move, p, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(AllSql(),
            "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('8');\n"
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('8','n','big');\n");
}

TEST_F(SqlBuilderTest, InsertWithUnchangedToastValueIsAnError) {
  auto b = Builder();
  Change c = Insert(items_, {T("1"), U(), T("x")});
  Status s = b.Add(ShardAction::kInsert, c, p_items_, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("name"), std::string::npos) << s.message();
}

TEST_F(SqlBuilderTest, TruncateOptionsAndConfiguredTablesOnly) {
  auto unknown = MakeRelation("public", "unlisted", {"id"});
  auto b = Builder();
  for (std::uint8_t opts : {0, 1, 2, 3}) {
    Change t;
    t.op = Op::kTruncate;
    t.truncated = {items_, unknown, pairs_};
    t.truncate_options = opts;
    ASSERT_TRUE(b.Add(ShardAction::kTruncate, t, p_items_, 1).ok());
  }
  Change none;
  none.op = Op::kTruncate;
  none.truncated = {unknown};
  ASSERT_TRUE(b.Add(ShardAction::kTruncate, none, Placement{}, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(AllSql(),
            "TRUNCATE \"public\".\"items\", \"public\".\"pairs\";\n"
            "TRUNCATE \"public\".\"items\", \"public\".\"pairs\" CASCADE;\n"
            "TRUNCATE \"public\".\"items\", \"public\".\"pairs\" RESTART IDENTITY;\n"
            "TRUNCATE \"public\".\"items\", \"public\".\"pairs\" RESTART IDENTITY CASCADE;\n");
  EXPECT_EQ(chunks_[0].statements[0].Describe(), "TRUNCATE public.items, public.pairs at position 0/1");
}

TEST_F(SqlBuilderTest, SkipBuildsNothing) {
  auto b = Builder();
  Change c = Insert(items_, {T("1"), T("a"), T("x")});
  ASSERT_TRUE(b.Add(ShardAction::kSkip, c, p_items_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_TRUE(chunks_.empty());
}

TEST_F(SqlBuilderTest, ChunksStayUnderTheLimitAndSplitGroups) {
  constexpr std::size_t kMax = 200;
  auto b = Builder(kMax);
  ASSERT_TRUE(b.AddStatement("BEGIN", "BEGIN").ok());
  std::vector<Change> changes;
  for (int i = 0; i < 40; ++i) changes.push_back(Insert(items_, {T(std::to_string(i)), T("n"), T("b")}));
  for (const auto& c : changes) ASSERT_TRUE(b.Add(ShardAction::kInsert, c, p_items_, 1).ok());
  Change huge = Insert(other_, {T(std::string(500, 'z'))});
  ASSERT_TRUE(b.Add(ShardAction::kInsert, huge, p_other_, 2).ok());
  ASSERT_TRUE(b.AddStatement("COMMIT", "COMMIT", 2).ok());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_GT(chunks_.size(), 3u);
  std::size_t rows = 0;
  std::size_t big = 0;
  for (const auto& c : chunks_) {
    if (c.sql.size() > kMax) {
      ++big;  // only the row that alone exceeds the limit
      EXPECT_EQ(c.statements.size(), 1u);
      EXPECT_NE(c.sql.find(std::string(500, 'z')), std::string::npos);
    }
    // Every chunk holds whole statements, one description per statement.
    std::size_t ends = 0;
    for (std::size_t pos = c.sql.find(";\n"); pos != std::string::npos; pos = c.sql.find(";\n", pos + 2))
      ++ends;
    EXPECT_EQ(ends, c.statements.size()) << c.sql;
    for (const auto& s : c.statements) {
      if (s.subject == "public.items") rows += s.rows;
    }
  }
  EXPECT_EQ(big, 1u);
  EXPECT_EQ(rows, 40u);
  EXPECT_EQ(chunks_.front().sql.rfind("BEGIN;\nINSERT INTO", 0), 0u);
  EXPECT_EQ(chunks_.back().sql, "COMMIT;\n");
}

TEST_F(SqlBuilderTest, SenderFailureStopsTheBuild) {
  SqlBuilder b(tables_, 10, [](SqlChunk&) { return Unavailable("gone"); });
  ASSERT_TRUE(b.AddStatement("BEGIN", "BEGIN").ok());
  Status s = b.AddStatement("COMMIT", "COMMIT");
  EXPECT_EQ(s.code(), Code::kUnavailable);
}

TEST_F(SqlBuilderTest, ReusedAcrossBatchesWithASwappingSenderBuildsEachBatchAlone) {
  // As ShardSink uses it: one builder, Reset per batch, a sender that swaps
  // the chunk with its previous (cleared) one to reuse the buffer.
  SqlChunk in_flight;
  std::vector<std::string> sent;
  SqlBuilder b(tables_, 1 << 20, [&](SqlChunk& chunk) {
    sent.push_back(chunk.sql);
    in_flight.sql.clear();
    in_flight.statements.clear();
    std::swap(in_flight, chunk);
    return Status::Ok();
  });
  std::vector<Change> first = {Insert(items_, {T("1"), T("a"), T("x")}),
                               Insert(items_, {T("2"), T("b"), T("y")})};
  ASSERT_TRUE(b.Add(ShardAction::kInsert, first[0], p_items_, 0x10).ok());
  ASSERT_TRUE(b.Add(ShardAction::kInsert, first[1], p_items_, 0x10).ok());
  ASSERT_TRUE(b.Finish().ok());
  // An unfinished group left by a failed batch must not leak into the next.
  ASSERT_TRUE(b.Add(ShardAction::kInsert, first[0], p_items_, 0x18).ok());
  b.Reset();
  {
    // The next batch's relation may live at another address with other columns.
    auto items2 = MakeRelation("public", "items", {"id", "name"});
    Change d = Delete(items2, {T("3"), Value::Null()});
    Change i = Insert(items2, {T("4"), T("d")});
    ASSERT_TRUE(b.Add(ShardAction::kDelete, d, p_items_, 0x20).ok());
    ASSERT_TRUE(b.Add(ShardAction::kInsert, i, p_items_, 0x20).ok());
    ASSERT_TRUE(b.Finish().ok());
  }
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(
      sent[0],
      "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('1','a','x'),('2','b','y');\n");
  EXPECT_EQ(sent[1],
            "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('3');\n"
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\") VALUES ('4','d');\n");
  EXPECT_EQ(in_flight.statements.size(), 2u);
}

constexpr const char* kItemsUpsertTail =
    " ON CONFLICT (\"id\") DO UPDATE SET \"name\"=EXCLUDED.\"name\",\"body\"=EXCLUDED.\"body\"";

TEST_F(SqlBuilderTest, ConsecutiveUpsertsGroupIntoOneInsertOnConflict) {
  auto b = Builder();
  Change r1 = Read(items_, {T("1"), T("a"), Value::Null()});
  Change r2 = Read(items_, {T("2"), T("it's"), T("\\x")});
  Change i3 = Insert(items_, {T("3"), T("c"), T("z")});
  Change r4 = Read(items_, {T("4"), T("d"), T("w")});
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, r1, p_items_, 0x10).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, r2, p_items_, 0x10).ok());
  // An insert is its own statement: it must still fail on a duplicate key.
  ASSERT_TRUE(b.Add(ShardAction::kInsert, i3, p_items_, 0x20).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, r4, p_items_, 0x30).ok());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_EQ(chunks_.size(), 1u);
  const std::string head = "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ";
  EXPECT_EQ(chunks_[0].sql, head + "('1','a',NULL),('2','it''s','\\x')" + kItemsUpsertTail + ";\n" + head +
                                "('3','c','z');\n" + head + "('4','d','w')" + kItemsUpsertTail + ";\n");
  ASSERT_EQ(chunks_[0].statements.size(), 3u);
  EXPECT_EQ(chunks_[0].statements[0].rows, 2u);
  EXPECT_EQ(chunks_[0].statements[0].Describe(), "public.items (id)=(1), (id)=(2) at position 0/10");
  EXPECT_EQ(chunks_[0].statements[2].Describe(), "public.items (id)=(4) at position 0/30");
}

TEST_F(SqlBuilderTest, UpsertOfCompositeKeysAndOfKeyOnlyTables) {
  auto b = Builder();
  Change p1 = Read(pairs_, {T("1"), T("x"), T("v")});
  Change p2 = Read(pairs_, {T("1"), T("y"), T("w")});
  Change o1 = Read(other_, {T("9")});
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, p1, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, p2, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, o1, p_other_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  EXPECT_EQ(AllSql(),
            "INSERT INTO \"public\".\"pairs\" (\"a\",\"b\",\"v\") VALUES ('1','x','v'),('1','y','w') ON "
            "CONFLICT (\"a\",\"b\") DO UPDATE SET \"v\"=EXCLUDED.\"v\";\n"
            "INSERT INTO \"public\".\"other\" (\"id\") VALUES ('9') ON CONFLICT (\"id\") DO NOTHING;\n");
  EXPECT_EQ(chunks_[0].statements[0].Describe(), "public.pairs (a, b)=(1, x), (a, b)=(1, y) at position 0/1");
}

TEST_F(SqlBuilderTest, UpsertOfAnUpdateThatChangedItsKeyDeletesTheOldKeyFirst) {
  auto b = Builder();
  Change moved = Update(items_, {T("2"), T("b"), T("x")}, 'K', {T("1"), Value::Null(), Value::Null()});
  Change same = Update(items_, {T("3"), T("c"), T("x")}, 'K', {T("3"), Value::Null(), Value::Null()});
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, moved, p_items_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, same, p_items_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  const std::string sql = AllSql();
  const auto del = sql.find("DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('1')");
  const auto ins = sql.find("VALUES ('2','b','x')");
  ASSERT_NE(del, std::string::npos) << sql;
  ASSERT_NE(ins, std::string::npos) << sql;
  EXPECT_LT(del, ins) << sql;
  EXPECT_EQ(sql.find("IN ('3')"), std::string::npos) << "an unchanged key is not deleted:\n" << sql;
}

TEST_F(SqlBuilderTest, AKeyRepeatedInsideAnUpsertGroupStartsANewStatement) {
  // One INSERT ... ON CONFLICT DO UPDATE cannot affect a row twice.
  auto b = Builder();
  std::vector<Change> cs = {Read(items_, {T("1"), T("a"), T("x")}), Read(items_, {T("2"), T("b"), T("x")}),
                            Read(items_, {T("1"), T("c"), T("x")}), Read(items_, {T("3"), T("d"), T("x")}),
                            Read(items_, {T("2"), T("e"), T("x")})};
  for (const auto& c : cs) ASSERT_TRUE(b.Add(ShardAction::kUpsert, c, p_items_, 1).ok());
  // Composite keys compare whole: ('1','x') and ('1','y') differ; "1x" split differently must not collide.
  Change p1 = Read(pairs_, {T("1"), T("1x"), T("v")});
  Change p2 = Read(pairs_, {T("11"), T("x"), T("v")});
  Change p3 = Read(pairs_, {T("1"), T("1x"), T("w")});
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, p1, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, p2, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Add(ShardAction::kUpsert, p3, p_pairs_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  const std::string head = "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ";
  const std::string pairs_head = "INSERT INTO \"public\".\"pairs\" (\"a\",\"b\",\"v\") VALUES ";
  const std::string pairs_tail = " ON CONFLICT (\"a\",\"b\") DO UPDATE SET \"v\"=EXCLUDED.\"v\";\n";
  EXPECT_EQ(AllSql(), head + "('1','a','x'),('2','b','x')" + kItemsUpsertTail + ";\n" + head +
                          "('1','c','x'),('3','d','x'),('2','e','x')" + kItemsUpsertTail + ";\n" +
                          pairs_head + "('1','1x','v'),('11','x','v')" + pairs_tail + pairs_head +
                          "('1','1x','w')" + pairs_tail);
}

TEST_F(SqlBuilderTest, UpsertChunksStayUnderTheLimitWithTheirConflictClause) {
  constexpr std::size_t kMax = 400;
  auto b = Builder(kMax);
  std::vector<Change> changes;
  for (int i = 0; i < 50; ++i) changes.push_back(Read(items_, {T(std::to_string(i)), T("n"), T("b")}));
  for (const auto& c : changes) ASSERT_TRUE(b.Add(ShardAction::kUpsert, c, p_items_, 1).ok());
  ASSERT_TRUE(b.Finish().ok());
  ASSERT_GT(chunks_.size(), 2u);
  std::size_t rows = 0;
  std::size_t built = 0;
  for (const auto& c : chunks_) {
    EXPECT_LE(c.sql.size(), kMax) << c.sql;
    ASSERT_EQ(c.statements.size(), 1u);
    EXPECT_EQ(c.sql.substr(c.sql.size() - std::string(kItemsUpsertTail).size() - 2),
              std::string(kItemsUpsertTail) + ";\n");
    rows += c.statements[0].rows;
    built += c.sql.size();
  }
  EXPECT_EQ(rows, 50u);
  EXPECT_EQ(b.bytes_built(), built);
}

TEST_F(SqlBuilderTest, UpsertErrorsNameTheTableAndColumn) {
  auto b = Builder();
  Change toast = Read(items_, {T("1"), U(), T("x")});
  Status s = b.Add(ShardAction::kUpsert, toast, p_items_, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("public.items"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("name"), std::string::npos) << s.message();
  Change short_row = Read(items_, {T("1")});
  s = b.Add(ShardAction::kUpsert, short_row, p_items_, 1);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("public.items"), std::string::npos) << s.message();
}

TEST_F(SqlBuilderTest, MissingPrimaryKeyColumnIsNamed) {
  auto rel = MakeRelation("public", "items", {"name"});
  auto b = Builder();
  Change c = Insert(rel, {T("a")});
  Status s = b.Add(ShardAction::kInsert, c, p_items_, 1);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("public.items"), std::string::npos);
  EXPECT_NE(s.message().find("id"), std::string::npos);
}

// NetEffect (sink/postgres/net_effect.h): the run's rows by key, as
// set-based statements.
class NetEffectTest : public SqlBuilderTest {
 protected:
  std::string Emit(const NetEffect& net) {
    auto b = Builder();
    Status s = net.Emit(b);
    if (s.ok()) s = b.Finish();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return AllSql();
  }
  static constexpr const char* kIns = "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ";
};

TEST_F(NetEffectTest, InsertedThenUpdatedIsOneInsertAndInsertedThenDeletedIsOnlyADelete) {
  std::vector<Change> cs = {Insert(items_, {T("1"), T("a"), T("x")}),
                            Insert(items_, {T("2"), T("b"), T("y")}), Update(items_, {T("1"), T("a2"), U()}),
                            Delete(items_, {T("2"), Value::Null(), Value::Null()}),
                            Insert(items_, {T("3"), T("c"), T("z")})};
  NetEffect net;
  EXPECT_TRUE(net.Add(ShardAction::kInsert, cs[0], p_items_, 0x10));
  EXPECT_TRUE(net.Add(ShardAction::kInsert, cs[1], p_items_, 0x10));
  EXPECT_TRUE(net.Add(ShardAction::kUpdate, cs[2], p_items_, 0x20));  // body unchanged TOAST: from the insert
  EXPECT_TRUE(net.Add(ShardAction::kDelete, cs[3], p_items_, 0x30));
  EXPECT_TRUE(net.Add(ShardAction::kInsert, cs[4], p_items_, 0x30));
  EXPECT_EQ(Emit(net), "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('2');\n" + std::string(kIns) +
                           "('1','a2','x'),('3','c','z');\n");
}

TEST_F(NetEffectTest, UpdatesOfRowsFromBeforeTheRunAreUpsertsAndDeleteThenInsertIsAnUpsert) {
  std::vector<Change> cs = {Update(items_, {T("7"), T("n"), T("b")}),
                            Delete(items_, {T("8"), Value::Null(), Value::Null()}),
                            Insert(items_, {T("8"), T("m"), T("c")})};
  NetEffect net;
  EXPECT_TRUE(net.Add(ShardAction::kUpdate, cs[0], p_items_, 0x10));
  EXPECT_TRUE(net.Add(ShardAction::kDelete, cs[1], p_items_, 0x10));
  EXPECT_TRUE(net.Add(ShardAction::kInsert, cs[2], p_items_, 0x20));
  EXPECT_EQ(Emit(net),
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('7','n','b'),('8','m','c')" +
                std::string(kItemsUpsertTail) + ";\n");
}

TEST_F(NetEffectTest, KeyChangeDeletesTheOldKeyAndCarriesUnchangedValues) {
  std::vector<Change> cs = {
      Insert(items_, {T("1"), T("a"), T("x")}),
      Update(items_, {T("5"), T("a"), U()}, 'K', {T("1"), Value::Null(), Value::Null()})};
  NetEffect net;
  EXPECT_TRUE(net.Add(ShardAction::kInsert, cs[0], p_items_, 0x10));
  EXPECT_TRUE(net.Add(ShardAction::kUpdate, cs[1], p_items_, 0x20));
  // A plain INSERT: in order, the UPDATE would fail if the new key were taken.
  EXPECT_EQ(Emit(net),
            "DELETE FROM \"public\".\"items\" WHERE \"id\" IN ('1');\n"
            "INSERT INTO \"public\".\"items\" (\"id\",\"name\",\"body\") VALUES ('5','a','x');\n");
}

TEST_F(NetEffectTest, RefusesWhatOnlyTheOrderedApplyCanDo) {
  Change lone_toast = Update(items_, {T("1"), T("a"), U()});  // no earlier row of the run has body
  Change ins = Insert(items_, {T("2"), T("b"), T("y")});
  Change del = Delete(items_, {T("3"), Value::Null(), Value::Null()});
  Change upd_deleted = Update(items_, {T("3"), T("c"), T("z")});
  Change truncate;
  truncate.op = Op::kTruncate;
  {
    NetEffect net;
    EXPECT_FALSE(net.Add(ShardAction::kUpdate, lone_toast, p_items_, 0x10));
  }
  {
    NetEffect net;  // the same key inserted twice fails in order too: in order, it is reported there
    EXPECT_TRUE(net.Add(ShardAction::kInsert, ins, p_items_, 0x10));
    EXPECT_FALSE(net.Add(ShardAction::kInsert, ins, p_items_, 0x20));
  }
  {
    NetEffect net;
    EXPECT_TRUE(net.Add(ShardAction::kDelete, del, p_items_, 0x10));
    EXPECT_FALSE(net.Add(ShardAction::kUpdate, upd_deleted, p_items_, 0x20));
  }
  {
    NetEffect net;
    EXPECT_FALSE(net.Add(ShardAction::kTruncate, truncate, p_items_, 0x10));
  }
  {
    NetEffect net;  // a schema change inside the run: another Relation for the same table
    auto items2 = MakeRelation("public", "items", {"id", "name", "body", "extra"});
    Change later = Insert(items2, {T("4"), T("d"), T("w"), T("e")});
    EXPECT_TRUE(net.Add(ShardAction::kInsert, ins, p_items_, 0x10));
    EXPECT_FALSE(net.Add(ShardAction::kInsert, later, p_items_, 0x20));
  }
}

}  // namespace
}  // namespace shardcast
