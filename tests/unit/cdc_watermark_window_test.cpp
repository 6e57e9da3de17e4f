// The stream side of DBLog chunks: keys the stream changes between the low
// and the high watermark are dropped from the chunk, in-window whole-row
// changes become upserts, changes that cannot be applied as a whole row are
// re-read, and watermarks of other (replayed) chunks are ignored.
#include <gtest/gtest.h>

#include "cdc/backfill_job.h"
#include "cdc/watermark_window.h"

namespace shardcast {
namespace {

std::shared_ptr<const Relation> Rel(const std::string& schema, const std::string& name,
                                    std::vector<std::string> columns) {
  auto r = std::make_shared<Relation>();
  r->schema = schema;
  r->name = name;
  for (auto& c : columns) r->columns.push_back(Column{c, 25, -1, c == "id"});
  return r;
}

Tuple Row(std::vector<std::string> v) {
  Tuple t;
  for (auto& s : v) t.push_back(s == "<u>" ? Value{Value::Kind::kUnchanged, ""} : Value::Text(s));
  return t;
}

class WatermarkTest : public ::testing::Test {
 protected:
  WatermarkTest()
      : items_(Rel("public", "items", {"id", "name"})),
        signal_(Rel("shardcast", "signal", {"id", "chunk", "kind", "created_at"})),
        wc_([this](const SnapshotTable&, const std::vector<Tuple>& keys) -> StatusOr<std::vector<Tuple>> {
          reread_keys_ = keys;
          std::vector<Tuple> out;
          for (const auto& k : keys) out.push_back(Row({k[0].text, "fresh"}));
          return out;
        }) {
    table_.relation = items_;
    table_.primary_key = {"id"};
    table_.key_index = {0};
  }

  Transaction Watermark(const std::string& chunk, const std::string& kind, Lsn end) {
    Transaction t;
    t.end_lsn = end;
    Change c;
    c.op = Op::kInsert;
    c.relation = signal_;
    c.new_tuple = Row({"1", chunk, kind, "now"});
    t.changes.push_back(c);
    return t;
  }
  Transaction Changes(std::vector<Change> changes, Lsn end) {
    Transaction t;
    t.end_lsn = end;
    t.changes = std::move(changes);
    return t;
  }
  Change Insert(std::vector<std::string> row) {
    Change c;
    c.op = Op::kInsert;
    c.relation = items_;
    c.new_tuple = Row(std::move(row));
    return c;
  }
  Change Update(std::vector<std::string> old_row, std::vector<std::string> row) {
    Change c;
    c.op = Op::kUpdate;
    c.relation = items_;
    if (!old_row.empty()) {
      c.old_kind = 'K';
      c.old_tuple = Row(std::move(old_row));
    }
    c.new_tuple = Row(std::move(row));
    return c;
  }
  Change Delete(std::string id) {
    Change c;
    c.op = Op::kDelete;
    c.relation = items_;
    c.old_kind = 'K';
    c.old_tuple = Row({std::move(id), ""});
    return c;
  }
  // The ids of the kRead changes appended to a transaction.
  static std::vector<std::string> ReadIds(const Transaction& t) {
    std::vector<std::string> ids;
    for (const auto& c : t.changes)
      if (c.op == Op::kRead) ids.push_back(c.new_tuple[0].text + "=" + c.new_tuple[1].text);
    return ids;
  }

  std::shared_ptr<const Relation> items_, signal_;
  SnapshotTable table_;
  std::vector<Tuple> reread_keys_;
  WatermarkCoordinator wc_;
};

TEST_F(WatermarkTest, ChunkLandsAtTheHighWatermarkMinusKeysTheStreamChanged) {
  wc_.Expect("c1", table_);
  Transaction before = Changes({Update({}, {"2", "older"})}, 10);  // before the low watermark: untouched
  ASSERT_TRUE(wc_.OnTransaction(before).ok());
  EXPECT_FALSE(before.changes[0].upsert);
  Transaction low = Watermark("c1", "L", 20);
  ASSERT_TRUE(wc_.OnTransaction(low).ok());
  wc_.Deliver("c1", {Row({"1", "a"}), Row({"2", "b"}), Row({"3", "c"}), Row({"4", "d"})});
  Transaction mid = Changes({Update({}, {"2", "newer"}), Delete("3"), Insert({"9", "new"})}, 30);
  ASSERT_TRUE(wc_.OnTransaction(mid).ok());
  EXPECT_TRUE(mid.changes[0].upsert);   // whole-row update inside the window
  EXPECT_FALSE(mid.changes[1].upsert);  // deletes stay deletes
  EXPECT_TRUE(mid.changes[2].upsert);
  Transaction high = Watermark("c1", "H", 40);
  ASSERT_TRUE(wc_.OnTransaction(high).ok());
  EXPECT_EQ(ReadIds(high), (std::vector<std::string>{"1=a", "4=d"}));
  EXPECT_EQ(high.snapshot, "incremental");
  for (std::size_t i = 0; i < high.changes.size(); ++i) EXPECT_EQ(high.changes[i].ordinal, i);
  EXPECT_EQ(wc_.last_dropped(), 2u);
  auto emitted = wc_.AwaitEmitted("c1", std::chrono::milliseconds(10), nullptr);
  ASSERT_TRUE(emitted.ok());
  EXPECT_EQ(*emitted, 40u);
  // After the chunk, changes are ordinary again.
  Transaction after = Changes({Update({}, {"1", "z"})}, 50);
  ASSERT_TRUE(wc_.OnTransaction(after).ok());
  EXPECT_FALSE(after.changes[0].upsert);
}

TEST_F(WatermarkTest, PartialAndKeyChangingUpdatesAreReReadAtTheHighWatermark) {
  wc_.Expect("c1", table_);
  Transaction low = Watermark("c1", "L", 20);
  ASSERT_TRUE(wc_.OnTransaction(low).ok());
  wc_.Deliver("c1", {Row({"1", "a"}), Row({"2", "b"}), Row({"5", "e"})});
  Transaction mid = Changes({Update({}, {"1", "<u>"}), Update({"2", ""}, {"7", "moved"})}, 30);
  ASSERT_TRUE(wc_.OnTransaction(mid).ok());
  EXPECT_FALSE(mid.changes[0].upsert);  // a partial row: re-read instead
  EXPECT_TRUE(mid.changes[1].upsert);   // a whole row under a new key: the shard deletes 2, upserts 7
  Transaction high = Watermark("c1", "H", 40);
  ASSERT_TRUE(wc_.OnTransaction(high).ok());
  ASSERT_EQ(reread_keys_.size(), 1u);
  EXPECT_EQ(reread_keys_[0][0].text, "1");
  EXPECT_EQ(ReadIds(high), (std::vector<std::string>{"5=e", "1=fresh"}));
}

TEST_F(WatermarkTest, AnActiveTableIsUpsertedBetweenChunksAndMovedPartialRowsAreReReadLater) {
  wc_.Activate(table_);
  // No window is open: the job's cursor may still be behind these rows.
  Transaction between = Changes({Insert({"8", "x"}), Update({}, {"3", "whole"}),
                                 Update({"4", ""}, {"1", "<u>"}), Update({}, {"6", "<u>"})},
                                10);
  ASSERT_TRUE(wc_.OnTransaction(between).ok());
  EXPECT_TRUE(between.changes[0].upsert);
  EXPECT_TRUE(between.changes[1].upsert);
  EXPECT_FALSE(between.changes[2].upsert);
  EXPECT_FALSE(between.changes[3].upsert);
  // The moved partial row (4 -> 1) is read again at the table's next high watermark.
  wc_.Expect("c1", table_);
  Transaction low = Watermark("c1", "L", 20);
  ASSERT_TRUE(wc_.OnTransaction(low).ok());
  wc_.Deliver("c1", {Row({"5", "e"})});
  Transaction high = Watermark("c1", "H", 40);
  ASSERT_TRUE(wc_.OnTransaction(high).ok());
  ASSERT_EQ(reread_keys_.size(), 1u);
  EXPECT_EQ(reread_keys_[0][0].text, "1");
  EXPECT_EQ(ReadIds(high), (std::vector<std::string>{"5=e", "1=fresh"}));
  // Once the job is over, changes are ordinary again.
  wc_.Deactivate("public", "items");
  Transaction after = Changes({Insert({"9", "y"})}, 50);
  ASSERT_TRUE(wc_.OnTransaction(after).ok());
  EXPECT_FALSE(after.changes[0].upsert);
}

TEST_F(WatermarkTest, TruncateInsideTheWindowDropsTheWholeChunk) {
  wc_.Expect("c1", table_);
  Transaction low = Watermark("c1", "L", 20);
  ASSERT_TRUE(wc_.OnTransaction(low).ok());
  wc_.Deliver("c1", {Row({"1", "a"})});
  Change trunc;
  trunc.op = Op::kTruncate;
  trunc.truncated = {items_};
  Transaction mid = Changes({trunc}, 30);
  ASSERT_TRUE(wc_.OnTransaction(mid).ok());
  Transaction high = Watermark("c1", "H", 40);
  ASSERT_TRUE(wc_.OnTransaction(high).ok());
  EXPECT_TRUE(ReadIds(high).empty());
}

TEST_F(WatermarkTest, WatermarksOfOtherChunksAreIgnored) {
  wc_.Expect("c2", table_);
  // A replayed chunk of an earlier session: no window opens, nothing is appended.
  Transaction old_low = Watermark("c1", "L", 5);
  Transaction old_high = Watermark("c1", "H", 6);
  ASSERT_TRUE(wc_.OnTransaction(old_low).ok());
  Transaction mid = Changes({Insert({"1", "x"})}, 7);
  ASSERT_TRUE(wc_.OnTransaction(mid).ok());
  EXPECT_FALSE(mid.changes[0].upsert);
  ASSERT_TRUE(wc_.OnTransaction(old_high).ok());
  EXPECT_EQ(old_high.changes.size(), 1u);
  // A high watermark without its low one does not emit either.
  Transaction high = Watermark("c2", "H", 8);
  ASSERT_TRUE(wc_.OnTransaction(high).ok());
  EXPECT_EQ(high.changes.size(), 1u);
  EXPECT_FALSE(wc_.AwaitEmitted("c2", std::chrono::milliseconds(1), nullptr).ok());
}

TEST_F(WatermarkTest, HighWatermarkBeforeTheRowsIsAnError) {
  wc_.Expect("c1", table_);
  Transaction low = Watermark("c1", "L", 20);
  ASSERT_TRUE(wc_.OnTransaction(low).ok());
  Transaction high = Watermark("c1", "H", 40);
  EXPECT_EQ(wc_.OnTransaction(high).code(), Code::kInternal);
}

TEST(BackfillJobTest, JsonRoundTripKeepsCursorsAndProgress) {
  BackfillJob job;
  job.id = "snap-3";
  job.kind = "backfill";
  job.state = JobState::kRunning;
  job.consistent_point = 0x16B3A0;
  job.planned = true;
  BackfillTable t = WholeTable("public", "items");
  t.ranges[0].range.after = Tuple{Value::Text("a\\tb"), Value::Null()};
  t.ranges[0].parts_done = 4;
  t.ranges.push_back(BackfillRange{KeyRange{std::nullopt, Tuple{Value::Text("9")}}, true, 1});
  t.rows_done = 123;
  t.rows_total = 456;
  t.chunks_done = 5;
  job.tables.push_back(t);
  auto back = BackfillJob::FromJson(job.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), job.ToJson());
  EXPECT_EQ(back->tables[0].ranges[0].range.after->at(0).text, "a\\tb");
  EXPECT_TRUE(back->tables[0].ranges[0].range.after->at(1).is_null());
  auto next = back->NextRange();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->second, 0u);
  back->tables[0].ranges[0].done = true;
  EXPECT_TRUE(back->finished());
  EXPECT_EQ(BackfillJob::FromJson("{not json").status().code(), Code::kCorruption);
  EXPECT_EQ(BackfillJob::FromJson("{\"id\": 1}").status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace shardcast
