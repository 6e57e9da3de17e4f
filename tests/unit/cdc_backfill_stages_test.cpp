// The chunk stage machine driven through fake ports, with the real watermark
// coordinator standing in for the reader thread: cursors advance only when a
// chunk is recorded, a short chunk ends its range, and a failed stage leaves
// nothing recorded.
#include <gtest/gtest.h>

#include "cdc/backfill_stages.h"

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

Tuple Row(std::string id, std::string name) {
  return {Value::Text(std::move(id)), Value::Text(std::move(name))};
}

class ChunkRunTest : public ::testing::Test {
 protected:
  ChunkRunTest() : wc_([](const SnapshotTable&, const std::vector<Tuple>&) { return std::vector<Tuple>{}; }) {
    table_.relation = Rel("public", "items", {"id", "name"});
    table_.primary_key = {"id"};
    table_.key_index = {0};
    job_.id = "snap-1";
    job_.kind = "backfill";
    job_.tables.push_back(WholeTable("public", "items"));
    // The source: ids 1..5; the stream updates id 2 while the first chunk is read.
    ports_.exec = [this](const std::string& sql) {
      const std::string kind = sql.find("'L'") != std::string::npos ? "L" : "H";
      Transaction t = Watermark(kind);
      sql_.push_back(kind);
      return wc_.OnTransaction(high_ = t);
    };
    ports_.read = [this](const KeyRange& range, std::int64_t limit) -> StatusOr<std::vector<Tuple>> {
      if (fail_read_) return Unavailable("source went away");
      std::vector<Tuple> out;
      const int after = range.after ? std::stoi((*range.after)[0].text) : 0;
      for (int id = after + 1; id <= 5 && static_cast<std::int64_t>(out.size()) < limit; ++id)
        out.push_back(Row(std::to_string(id), "v" + std::to_string(id)));
      Transaction stream;
      stream.end_lsn = ++lsn_;
      Change c;
      c.op = Op::kUpdate;
      c.relation = table_.relation;
      c.new_tuple = Row("2", "streamed");
      stream.changes.push_back(c);
      EXPECT_TRUE(wc_.OnTransaction(stream).ok());
      return out;
    };
    ports_.await_emitted = [this](const std::string& id) {
      return wc_.AwaitEmitted(id, std::chrono::milliseconds(1), nullptr);
    };
    ports_.await_durable = [this](Lsn lsn) {
      durable_asked_ = lsn;
      return Status::Ok();
    };
    ports_.save = [this](const BackfillJob& j) {
      saved_.push_back(j.ToJson());
      return Status::Ok();
    };
  }

  Transaction Watermark(const std::string& kind) {
    static auto signal = Rel("shardcast", "signal", {"id", "chunk", "kind"});
    Transaction t;
    t.end_lsn = ++lsn_;
    Change c;
    c.op = Op::kInsert;
    c.relation = signal;
    c.new_tuple = {Value::Text("1"), Value::Text(chunk_id_), Value::Text(kind)};
    t.changes.push_back(c);
    return t;
  }

  std::vector<std::string> HighReads() {
    std::vector<std::string> ids;
    for (const auto& c : high_.changes)
      if (c.op == Op::kRead) ids.push_back(c.new_tuple[0].text);
    return ids;
  }

  SnapshotTable table_;
  BackfillJob job_;
  WatermarkCoordinator wc_;
  ChunkPorts ports_;
  std::string chunk_id_ = "s1:snap-1:public.items:0.0";
  Transaction high_;
  Lsn lsn_ = 100;
  Lsn durable_asked_ = 0;
  bool fail_read_ = false;
  std::vector<std::string> sql_;
  std::vector<std::string> saved_;
};

TEST_F(ChunkRunTest, StagesRunInOrderAndRecordTheCursor) {
  ChunkRun run(job_, 0, 0, table_, wc_, chunk_id_, 3);
  std::vector<ChunkStage> seen;
  while (run.stage() != ChunkStage::kDone) {
    seen.push_back(run.stage());
    ASSERT_TRUE(run.Step(ports_).ok());
  }
  EXPECT_EQ(seen, (std::vector<ChunkStage>{ChunkStage::kLowWatermark, ChunkStage::kRead,
                                           ChunkStage::kHighWatermark, ChunkStage::kAwaitEmitted,
                                           ChunkStage::kAwaitDurable, ChunkStage::kRecord}));
  EXPECT_EQ(sql_, (std::vector<std::string>{"L", "H"}));
  // Rows 1..3 were read; 2 was changed by the stream inside the window.
  EXPECT_EQ(HighReads(), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(durable_asked_, high_.end_lsn);
  EXPECT_EQ(run.emitted_at(), high_.end_lsn);
  EXPECT_EQ(run.rows(), 3u);
  EXPECT_EQ(run.part(), 0u);
  ASSERT_EQ(saved_.size(), 1u);
  const BackfillRange& range = job_.tables[0].ranges[0];
  EXPECT_FALSE(range.done);
  ASSERT_TRUE(range.range.after.has_value());
  EXPECT_EQ((*range.range.after)[0].text, "3");
  EXPECT_EQ(job_.tables[0].rows_done, 3u);

  // The next chunk is short: the range is done.
  chunk_id_ = "s1:snap-1:public.items:0.1";
  ChunkRun second(job_, 0, 0, table_, wc_, chunk_id_, 3);
  ASSERT_TRUE(second.RunToEnd(ports_).ok());
  EXPECT_EQ(HighReads(), (std::vector<std::string>{"4", "5"}));
  EXPECT_EQ(second.part(), 1u);
  EXPECT_TRUE(job_.tables[0].ranges[0].done);
  EXPECT_TRUE(job_.finished());
  EXPECT_EQ(job_.tables[0].rows_done, 5u);
}

TEST_F(ChunkRunTest, AFailedStageRecordsNothingAndAbandonsTheChunk) {
  fail_read_ = true;
  ChunkRun run(job_, 0, 0, table_, wc_, chunk_id_, 3);
  ASSERT_TRUE(run.Step(ports_).ok());
  Status s = run.Step(ports_);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("(read)"), std::string::npos) << s.message();
  EXPECT_EQ(run.stage(), ChunkStage::kRead);
  EXPECT_TRUE(saved_.empty());
  EXPECT_FALSE(job_.tables[0].ranges[0].range.after.has_value());
  EXPECT_FALSE(wc_.AwaitEmitted(chunk_id_, std::chrono::milliseconds(1), nullptr).ok());
}

}  // namespace
}  // namespace shardcast
