// ShardSink against a real PostgreSQL shard: transactions that arrive in
// pieces (one destination transaction across Apply calls), and on_error:
// dead_letter with the {prefix}.shardcast.dlq topic on the mock broker.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sharding/ring.h"
#include "sharding/router.h"
#include "sink/kafka/kafka_dead_letter.h"
#include "sink/postgres/shard_sink.h"
#include "tests/harness/kafka_reader.h"
#include "tests/harness/mock_broker.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::MockBroker;
using testing::PgServer;

class ShardSinkErrorsTest : public ::testing::Test {
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
    static int counter = 0;
    db_ = "e" + std::to_string(counter++);
    ASSERT_TRUE(server_->CreateDatabase(db_).ok());
    // The shard refuses negative amounts; the source does not know that.
    ASSERT_TRUE(
        server_->Exec(db_, "CREATE TABLE items (id bigint PRIMARY KEY, amount int CHECK (amount >= 0))")
            .ok());
    tables_ = {TableSpec{"public", "items", TableMode::kDistributed, {"id"}, {"id"}}};
    auto ring = Ring::Build({{"s0", 1}}, 16, 1);
    ASSERT_TRUE(ring.ok());
    router_ = std::make_unique<Router>(tables_, std::make_shared<const Ring>(std::move(*ring)));
    auto rel = std::make_shared<Relation>();
    rel->oid = 1;
    rel->schema = "public";
    rel->name = "items";
    rel->columns = {Column{"id", 20, -1, true}, Column{"amount", 23, -1, false}};
    items_ = rel;
  }

  std::unique_ptr<ShardSink> OpenSink(DeadLetterQueue* dlq) {
    ShardSink::Options o;
    o.destination = "s0@test";
    o.shard_id = "s0";
    o.dsn = server_->Dsn(db_);
    o.tables = tables_;
    o.dead_letter = dlq;
    auto sink = std::make_unique<ShardSink>(std::move(o));
    auto lsn = sink->Open();
    EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
    return sink;
  }

  // Rows (id, amount) as inserts, ordinals from first_ordinal.
  std::shared_ptr<const RoutedTransaction> Txn(Lsn end, std::vector<std::pair<int, int>> rows,
                                               std::uint32_t first_ordinal = 0, bool first = true,
                                               bool last = true) {
    auto txn = std::make_shared<Transaction>();
    txn->end_lsn = end;
    txn->commit_lsn = end - 8;
    txn->first_piece = first;
    txn->last_piece = last;
    for (auto [id, amount] : rows) {
      Change c;
      c.op = Op::kInsert;
      c.ordinal = first_ordinal++;
      c.relation = items_;
      c.new_tuple = {Value::Text(std::to_string(id)), Value::Text(std::to_string(amount))};
      txn->changes.push_back(std::move(c));
    }
    auto routed = router_->Route(txn);
    EXPECT_TRUE(routed.ok()) << routed.status().ToString();
    return *routed;
  }

  std::string Count() {
    auto rows = server_->Query(db_, "SELECT count(*) FROM items");
    return rows.ok() && !rows->empty() ? (*rows)[0][0].value_or("?") : "?";
  }

  static inline PgServer* server_ = nullptr;
  std::string db_;
  std::vector<TableSpec> tables_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<const Relation> items_;
};

TEST_F(ShardSinkErrorsTest, PiecesShareOneDestinationTransaction) {
  auto sink = OpenSink(nullptr);
  // Three pieces of the transaction ending at 0/500, each its own Apply.
  ASSERT_TRUE(sink->Apply({Txn(0x500, {{1, 1}, {2, 2}}, 0, true, false)}).ok());
  ASSERT_TRUE(sink->Apply({Txn(0x500, {{3, 3}}, 2, false, false)}).ok());
  // Nothing is visible or durable before the last piece.
  EXPECT_EQ(Count(), "0");
  EXPECT_EQ(sink->durable_lsn(), 0u);
  ASSERT_TRUE(sink->Apply({Txn(0x500, {{4, 4}}, 3, false, true), Txn(0x600, {{5, 5}})}).ok());
  EXPECT_EQ(Count(), "5");
  EXPECT_EQ(sink->durable_lsn(), 0x600u);
  auto progress = server_->Query(db_, "SELECT end_lsn::text FROM shardcast.progress");
  ASSERT_TRUE(progress.ok());
  EXPECT_EQ((*progress)[0][0].value_or(""), "0/600");
}

TEST_F(ShardSinkErrorsTest, FailureInsideAPieceRollsBackEveryPiece) {
  auto sink = OpenSink(nullptr);
  ASSERT_TRUE(sink->Apply({Txn(0x500, {{1, 1}}, 0, true, false)}).ok());
  Status s = sink->Apply({Txn(0x500, {{2, -1}}, 1, false, true)});
  ASSERT_FALSE(s.ok());
  // A constraint violation is not retryable, and the message names table, key and position.
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("public.items"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("(id)=(2)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("0/500"), std::string::npos) << s.message();
  EXPECT_EQ(Count(), "0");
  EXPECT_EQ(sink->durable_lsn(), 0u);
}

TEST_F(ShardSinkErrorsTest, AMergedRunValidOnlyInOrderIsReplayedInOrder) {
  ASSERT_TRUE(server_->Exec(db_, "CREATE UNIQUE INDEX items_amount_unique ON items (amount)").ok());
  auto sink = OpenSink(nullptr);
  ASSERT_TRUE(sink->Apply({Txn(0x400, {{1, 10}})}).ok());
  // Row 1 gives up amount 10, then row 2 takes it: valid in order. Merged,
  // the insert of row 2 goes before the upsert of row 1 and collides.
  auto txn = std::make_shared<Transaction>();
  txn->end_lsn = 0x500;
  txn->commit_lsn = 0x4f8;
  Change update;
  update.op = Op::kUpdate;
  update.relation = items_;
  update.new_tuple = {Value::Text("1"), Value::Text("30")};
  Change insert;
  insert.op = Op::kInsert;
  insert.ordinal = 1;
  insert.relation = items_;
  insert.new_tuple = {Value::Text("2"), Value::Text("10")};
  txn->changes = {update, insert};
  auto routed = router_->Route(txn);
  ASSERT_TRUE(routed.ok()) << routed.status().ToString();
  // The merged run is rolled back and the same Apply goes on in source order.
  Status applied = sink->Apply({*routed});
  ASSERT_TRUE(applied.ok()) << applied.ToString();
  EXPECT_EQ(sink->merge_fallbacks(), 1u);
  EXPECT_EQ(sink->durable_lsn(), 0x500u);
  auto rows = server_->Query(db_, "SELECT string_agg(id || ':' || amount, ',' ORDER BY id) FROM items");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0][0].value_or(""), "1:30,2:10");
  // Later runs are merged again.
  ASSERT_TRUE(sink->Apply({Txn(0x600, {{3, 40}})}).ok());
  EXPECT_EQ(Count(), "3");
  EXPECT_EQ(sink->merge_fallbacks(), 1u);
}

TEST_F(ShardSinkErrorsTest, DeadLetterTakesOnlyTheRejectedChange) {
  auto broker = MockBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  KafkaDeadLetterOptions o;
  o.brokers = (*broker)->bootstrap();
  o.prefix = "dl";
  o.source_db = "app";
  o.tables = tables_;
  auto dlq = KafkaDeadLetter::Create(std::move(o));
  ASSERT_TRUE(dlq.ok()) << dlq.status().ToString();
  EXPECT_EQ((*dlq)->topic(), "dl.shardcast.dlq");

  auto batch = TxnBatch{Txn(0x500, {{1, 1}, {2, -5}, {3, 3}}), Txn(0x600, {{4, 4}})};
  auto sink = OpenSink(dlq->get());
  Status first = sink->Apply(batch);
  // The first attempt fails as a whole and asks for a replay...
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.code(), Code::kUnavailable) << first.ToString();
  EXPECT_EQ(Count(), "0");
  // ...which applies the marked transaction change by change.
  ASSERT_TRUE(sink->Open().ok());
  Status again = sink->Apply(batch);
  ASSERT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(Count(), "3");
  EXPECT_EQ(sink->durable_lsn(), 0x600u);
  auto ids = server_->Query(db_, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*ids)[0][0].value_or(""), "1,3,4");

  auto records = testing::ReadTopic((*broker)->bootstrap(), "dl.shardcast.dlq");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  const auto& r = (*records)[0];
  EXPECT_EQ(r.key.value_or(""), "{\"id\":2}");
  EXPECT_NE(r.value.value_or("").find("\"amount\":-5"), std::string::npos) << r.value.value_or("");
  EXPECT_EQ(r.headers.at("shardcast.destination"), "s0@test");
  EXPECT_EQ(r.headers.at("shardcast.position"), std::to_string(0x500) + "/1");
  EXPECT_NE(r.headers.at("shardcast.error").find("items_amount_check"), std::string::npos)
      << r.headers.at("shardcast.error");
}

// Dead-lettering is for bad data (SQLSTATE classes 22 and 23): a shard table
// that lacks a column would reject every later change too, so even with a
// dead-letter queue it stops the destination, and a violation that shows only
// at COMMIT (a deferred constraint) fails the change-by-change replay again and
// stops it rather than looping.
TEST_F(ShardSinkErrorsTest, DeadLetterStopsOnSchemaErrorsAndRepeatedFailures) {
  auto broker = MockBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  KafkaDeadLetterOptions o;
  o.brokers = (*broker)->bootstrap();
  o.tables = tables_;
  auto dlq = KafkaDeadLetter::Create(std::move(o));
  ASSERT_TRUE(dlq.ok()) << dlq.status().ToString();

  ASSERT_TRUE(server_->Exec(db_, "ALTER TABLE items DROP COLUMN amount").ok());
  auto sink = OpenSink(dlq->get());
  Status s = sink->Apply({Txn(0x500, {{1, 1}})});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("SQLSTATE 42703"), std::string::npos) << s.message();
  EXPECT_FALSE((*dlq)->IsCareful("s0@test", 0x500));

  ASSERT_TRUE(server_
                  ->Exec(db_,
                         "ALTER TABLE items ADD COLUMN amount int; CREATE TABLE refs (id bigint "
                         "PRIMARY KEY); ALTER TABLE items ADD CONSTRAINT deferred_fk FOREIGN KEY (amount) "
                         "REFERENCES refs (id) DEFERRABLE INITIALLY DEFERRED")
                  .ok());
  ASSERT_TRUE(sink->Open().ok());
  s = sink->Apply({Txn(0x600, {{2, 77}})});
  ASSERT_FALSE(s.ok());
  // The violation surfaces at COMMIT: not a change statement, nothing to replay carefully.
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(Count(), "0");
}

}  // namespace
}  // namespace shardcast
