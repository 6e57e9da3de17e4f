// KafkaSink against the real broker program (librdkafka's mock cluster over
// TCP): records, order per key, partitions, headers, durability, failures.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "sink/kafka/kafka_sink.h"
#include "sink/kafka/murmur2.h"
#include "sink/kafka/value_format.h"
#include "tests/harness/kafka_reader.h"
#include "tests/harness/mock_broker.h"

namespace shardcast {
namespace {

using nlohmann::json;
using testing::KafkaRecord;
using testing::MockBroker;

const char kOrdersTopic[] = "shardcast.public.orders";

std::shared_ptr<const Relation> Orders() {
  auto r = std::make_shared<Relation>();
  r->oid = 16400;
  r->schema = "public";
  r->name = "orders";
  r->replica_identity = 'f';
  r->columns = {{"id", pgtype::kInt4, -1, true},
                {"account_id", pgtype::kInt8, -1, false},
                {"note", pgtype::kText, -1, false}};
  return r;
}

std::vector<TableSpec> Tables() {
  return {TableSpec{"public", "orders", TableMode::kDistributed, {"account_id"}, {"id"}}};
}

std::shared_ptr<const Ring> Ring2() {
  auto ring = Ring::Build({{"s0", 1}, {"s1", 1}}, 16, 7);
  EXPECT_TRUE(ring.ok());
  return std::make_shared<const Ring>(std::move(ring).value());
}

// Not "n" + std::to_string(id): GCC 12 -O2 reports a false -Wrestrict there.
std::string Note(int id) {
  std::string s = std::to_string(id);
  s.insert(s.begin(), 'n');
  return s;
}

// Builds transactions by hand; owners are arbitrary but recorded so the test
// can check the shard header.
class TxnBuilder {
 public:
  explicit TxnBuilder(Lsn end_lsn, Lsn prev) : txn_(std::make_shared<Transaction>()) {
    txn_->xid = static_cast<std::uint32_t>(end_lsn / 10);
    txn_->end_lsn = end_lsn;
    txn_->commit_lsn = end_lsn - 8;
    txn_->prev_end_lsn = prev;
    txn_->commit_time_us = 1795307643000000 + static_cast<std::int64_t>(end_lsn);
  }
  TxnBuilder& Insert(int id, int account, std::int32_t owner) {
    return Add(Op::kInsert, 0, {}, Row(id, account, Note(id)), Placement::kNone, owner);
  }
  TxnBuilder& Update(int id, int account, std::int32_t owner) {
    return Add(Op::kUpdate, 'O', Row(id, account, Note(id)), Row(id, account, "upd"), owner, owner);
  }
  TxnBuilder& Delete(int id, std::int32_t owner) {
    Tuple key = {Value::Text(std::to_string(id)), Value::Null(), Value::Null()};
    return Add(Op::kDelete, 'K', key, {}, owner, Placement::kNone);
  }
  // REPLICA IDENTITY FULL: the whole old row, shard key included.
  TxnBuilder& DeleteFull(int id, int account, std::int32_t owner) {
    return Add(Op::kDelete, 'O', Row(id, account, Note(id)), {}, owner, Placement::kNone);
  }
  TxnBuilder& Truncate() {
    Change c;
    c.op = Op::kTruncate;
    c.ordinal = static_cast<std::uint32_t>(txn_->changes.size());
    c.truncated = {Orders()};
    Placement p;
    p.old_owner = p.new_owner = Placement::kAll;
    txn_->changes.push_back(std::move(c));
    placements_.push_back(p);
    return *this;
  }
  std::shared_ptr<const RoutedTransaction> Build(std::shared_ptr<const Ring> ring) {
    auto rt = std::make_shared<RoutedTransaction>();
    rt->txn = txn_;
    rt->placements = placements_;
    rt->epoch = 7;
    rt->ring = std::move(ring);
    return rt;
  }

 private:
  static Tuple Row(int id, int account, const std::string& note) {
    return {Value::Text(std::to_string(id)), Value::Text(std::to_string(account)), Value::Text(note)};
  }
  TxnBuilder& Add(Op op, char old_kind, Tuple old_tuple, Tuple new_tuple, std::int32_t old_owner,
                  std::int32_t new_owner) {
    Change c;
    c.op = op;
    c.ordinal = static_cast<std::uint32_t>(txn_->changes.size());
    c.relation = Orders();
    c.old_kind = old_kind;
    c.old_tuple = std::move(old_tuple);
    c.new_tuple = std::move(new_tuple);
    txn_->changes.push_back(std::move(c));
    Placement p;
    p.old_owner = old_owner;
    p.new_owner = new_owner;
    placements_.push_back(p);
    return *this;
  }
  std::shared_ptr<Transaction> txn_;
  std::vector<Placement> placements_;
};

KafkaSinkOptions Options(const MockBroker& mb) {
  KafkaSinkOptions o;
  o.brokers = mb.bootstrap();
  o.source_db = "app";
  o.tables = Tables();
  o.connect_timeout = std::chrono::seconds(20);
  return o;
}

// Polls until durable_lsn reaches want or a deadline passes.
::testing::AssertionResult WaitDurable(KafkaSink& sink, Lsn want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sink.durable_lsn() < want) {
    if (std::chrono::steady_clock::now() > deadline)
      return ::testing::AssertionFailure() << "durable_lsn stuck at " << sink.durable_lsn();
    const Status s = sink.Poll(std::chrono::milliseconds(100));
    if (!s.ok()) return ::testing::AssertionFailure() << s.ToString();
  }
  return ::testing::AssertionSuccess();
}

std::vector<KafkaRecord> Read(const MockBroker& mb, const std::string& topic) {
  auto records = testing::ReadTopic(mb.bootstrap(), topic);
  EXPECT_TRUE(records.ok()) << records.status().ToString();
  return records.ok() ? *records : std::vector<KafkaRecord>{};
}

TEST(KafkaSinkTest, PublishesEnvelopesInOrderPerKeyWithHeaders) {
  auto broker = MockBroker::Start(3);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 4).ok());
  auto ring = Ring2();

  KafkaSink sink(Options(mb));
  EXPECT_EQ(sink.id(), "kafka");
  auto opened = sink.Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 0u);

  TxnBatch first = {TxnBuilder(1000, 0)
                        .Insert(1, 10, 0)
                        .Insert(2, 20, 1)
                        .Insert(3, 30, 0)
                        .Insert(4, 40, 1)
                        .Insert(5, 50, 0)
                        .Insert(6, 60, 1)
                        .Build(ring),
                    TxnBuilder(2000, 1000).Update(1, 10, 0).Update(2, 20, 1).Build(ring)};
  // 3500 has no Kafka records: durable as soon as 3000 is.
  TxnBatch second = {TxnBuilder(3000, 2000).Delete(3, 0).Update(1, 10, 0).Build(ring),
                     TxnBuilder(3500, 3000).Build(ring), TxnBuilder(4000, 3500).Truncate().Build(ring)};
  ASSERT_TRUE(sink.Apply(first).ok());
  ASSERT_TRUE(sink.Apply(second).ok());
  ASSERT_TRUE(WaitDurable(sink, 4000));
  EXPECT_EQ(sink.durable_lsn(), 4000u);

  const auto records = Read(mb, kOrdersTopic);
  // 6 inserts, 2 updates, delete + tombstone + update, truncate.
  ASSERT_EQ(records.size(), 12u);
  std::map<std::string, std::vector<const KafkaRecord*>> by_key;
  int truncates = 0;
  for (const KafkaRecord& r : records) {
    EXPECT_EQ(r.headers.at("shardcast.epoch"), "7");
    if (!r.key) {
      ++truncates;
      ASSERT_TRUE(r.value);
      const json v = json::parse(*r.value);
      EXPECT_EQ(v["op"], "t");
      EXPECT_EQ(r.headers.at("shardcast.position"), "4000/0");
      EXPECT_EQ(r.headers.at("shardcast.shard"), "*");
      continue;
    }
    // A key always lands in murmur2(key) % partitions, as a Java producer.
    EXPECT_EQ(r.partition, KafkaPartitionFor(*r.key, 4)) << *r.key;
    by_key[*r.key].push_back(&r);
  }
  EXPECT_EQ(truncates, 1);
  ASSERT_EQ(by_key.size(), 6u);

  // Per key, commit order (records of one key are in one partition, so
  // offsets order them).
  auto positions = [&](const std::string& key) {
    std::vector<std::string> out;
    for (const KafkaRecord* r : by_key[key]) out.push_back(r->headers.at("shardcast.position"));
    return out;
  };
  EXPECT_EQ(positions(R"({"id":1})"), (std::vector<std::string>{"1000/0", "2000/0", "3000/1"}));
  EXPECT_EQ(positions(R"({"id":2})"), (std::vector<std::string>{"1000/1", "2000/1"}));
  EXPECT_EQ(positions(R"({"id":3})"), (std::vector<std::string>{"1000/2", "3000/0", "3000/0"}));
  EXPECT_EQ(positions(R"({"id":6})"), (std::vector<std::string>{"1000/5"}));

  // The envelope as documented.
  const KafkaRecord& insert2 = *by_key[R"({"id":2})"][0];
  const json v = json::parse(*insert2.value);
  EXPECT_EQ(v["op"], "c");
  EXPECT_TRUE(v["before"].is_null());
  EXPECT_EQ(v["after"], json::parse(R"({"id":2,"account_id":20,"note":"n2"})"));
  EXPECT_EQ(v["source"]["connector"], "shardcast");
  EXPECT_EQ(v["source"]["version"], SHARDCAST_VERSION);
  EXPECT_EQ(v["source"]["name"], "shardcast");
  EXPECT_EQ(v["source"]["db"], "app");
  EXPECT_EQ(v["source"]["schema"], "public");
  EXPECT_EQ(v["source"]["table"], "orders");
  EXPECT_EQ(v["source"]["lsn"], 1000);
  EXPECT_EQ(v["source"]["txId"], 100);
  EXPECT_EQ(v["source"]["sequence"], R"([null,"1000"])");
  EXPECT_EQ(v["source"]["shard"], "s1");
  EXPECT_EQ(v["source"]["epoch"], 7);
  EXPECT_EQ(v["source"]["ts_ms"], 1795307643001);
  EXPECT_TRUE(v["ts_ms"].is_number());
  EXPECT_EQ(insert2.headers.at("shardcast.shard"), "s1");

  const auto& key3 = by_key[R"({"id":3})"];
  const json del = json::parse(*key3[1]->value);
  EXPECT_EQ(del["op"], "d");
  EXPECT_EQ(del["before"], json::parse(R"({"id":3,"account_id":null,"note":null})"));
  EXPECT_EQ(del["source"]["sequence"], R"(["2000","3000"])");
  EXPECT_FALSE(key3[2]->value.has_value());  // tombstone, same headers
  EXPECT_EQ(key3[2]->headers.at("shardcast.shard"), "s0");
  EXPECT_EQ(key3[2]->partition, key3[1]->partition);

  const json upd = json::parse(*by_key[R"({"id":1})"][1]->value);
  EXPECT_EQ(upd["op"], "u");
  EXPECT_EQ(upd["before"]["note"], "n1");
  EXPECT_EQ(upd["after"]["note"], "upd");
  sink.Close();
}

TEST(KafkaSinkTest, PartitionByShardKeyGroupsAShardKey) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 5).ok());
  auto opt = Options(mb);
  opt.partition_by_shard_key = true;
  opt.tombstones = false;
  KafkaSink sink(opt);
  ASSERT_TRUE(sink.Open().ok());
  TxnBuilder b(100, 0);
  for (int id = 1; id <= 12; ++id) b.Insert(id, 1000 + id % 3, 0);
  b.DeleteFull(1, 1001, 0);  // a shard key outside the primary key needs the whole old row
  ASSERT_TRUE(sink.Apply({b.Build(Ring2())}).ok());
  ASSERT_TRUE(WaitDurable(sink, 100));

  const auto records = Read(mb, kOrdersTopic);
  ASSERT_EQ(records.size(), 13u);  // no tombstone
  std::set<std::int32_t> used;
  for (const KafkaRecord& r : records) {
    const json v = json::parse(*r.value);
    const json& row = v["op"] == "d" ? v["before"] : v["after"];
    const int id = row["id"];
    const std::string shard_key = "{\"account_id\":" + std::to_string(1000 + id % 3) + "}";
    EXPECT_EQ(r.partition, KafkaPartitionFor(shard_key, 5)) << *r.key;
    used.insert(r.partition);
  }
  EXPECT_LE(used.size(), 3u);
}

TEST(KafkaSinkTest, SkipsReplayedAndStartsAtResumeLsn) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 2).ok());
  auto opt = Options(mb);
  opt.resume_lsn = 2000;
  KafkaSink sink(opt);
  EXPECT_EQ(sink.durable_lsn(), 2000u);
  ASSERT_TRUE(sink.Open().ok());
  auto ring = Ring2();
  ASSERT_TRUE(sink.Apply({TxnBuilder(1000, 0).Insert(1, 1, 0).Build(ring),
                          TxnBuilder(2000, 1000).Insert(2, 2, 0).Build(ring),
                          TxnBuilder(3000, 2000).Insert(3, 3, 1).Build(ring)})
                  .ok());
  ASSERT_TRUE(WaitDurable(sink, 3000));
  const auto records = Read(mb, kOrdersTopic);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, R"({"id":3})");
  EXPECT_EQ(records[0].headers.at("shardcast.position"), "3000/0");
}

TEST(KafkaSinkTest, FullQueueIsWaitedOutNotDropped) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 4).ok());
  auto opt = Options(mb);
  opt.queue_bytes = 32 * 1024;  // far below the ~1 MB the transaction produces
  KafkaSink sink(opt);
  ASSERT_TRUE(sink.Open().ok());
  TxnBuilder b(500, 0);
  for (int id = 0; id < 2000; ++id) b.Insert(id, id, id % 2);
  ASSERT_TRUE(sink.Apply({b.Build(Ring2())}).ok());
  ASSERT_TRUE(WaitDurable(sink, 500));
  EXPECT_EQ(Read(mb, kOrdersTopic).size(), 2000u);
}

TEST(KafkaSinkTest, DeliveryFailureIsReportedWithTopicAndPosition) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 1).ok());
  auto opt = Options(mb);
  opt.properties["message.timeout.ms"] = "1500";
  KafkaSink sink(opt);
  ASSERT_TRUE(sink.Open().ok());
  ASSERT_TRUE(mb.SetDown(1).ok());
  ASSERT_TRUE(sink.Apply({TxnBuilder(5000, 0).Insert(9, 9, 0).Build(Ring2())}).ok());
  Status s;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (s.ok() && std::chrono::steady_clock::now() < deadline) s = sink.Poll(std::chrono::milliseconds(100));
  ASSERT_FALSE(s.ok()) << "no delivery failure reported";
  EXPECT_NE(s.message().find(kOrdersTopic), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("5000/0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_EQ(sink.durable_lsn(), 0u);
  // Later work is refused until the pipeline reconnects and replays.
  EXPECT_FALSE(sink.Apply({TxnBuilder(6000, 5000).Insert(10, 10, 0).Build(Ring2())}).ok());
  ASSERT_TRUE(mb.SetUp(1).ok());
}

// Changes [from, to) of a whole transaction as one piece of it.
std::shared_ptr<const RoutedTransaction> Piece(const std::shared_ptr<const RoutedTransaction>& whole,
                                               std::size_t from, std::size_t to, bool first, bool last) {
  auto txn = std::make_shared<Transaction>(*whole->txn);
  txn->changes.assign(whole->txn->changes.begin() + from, whole->txn->changes.begin() + to);
  txn->first_piece = first;
  txn->last_piece = last;
  auto rt = std::make_shared<RoutedTransaction>(*whole);
  rt->txn = txn;
  rt->placements.assign(whole->placements.begin() + from, whole->placements.begin() + to);
  return rt;
}

TEST(KafkaSinkTest, PiecesAreDurableOnlyAtTheLastPieceAndSkippedWhenReplayed) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 2).ok());
  auto ring = Ring2();
  TxnBuilder b(1000, 0);
  for (int id = 1; id <= 5; ++id) b.Insert(id, id, 0);
  const auto whole = b.Build(ring);

  KafkaSink sink(Options(mb));
  ASSERT_TRUE(sink.Open().ok());
  ASSERT_TRUE(sink.Apply({Piece(whole, 0, 2, true, false)}).ok());
  ASSERT_TRUE(sink.Apply({Piece(whole, 2, 4, false, false)}).ok());
  // Every record of the first two pieces is acknowledged: still not durable.
  ASSERT_TRUE(sink.Flush(std::chrono::seconds(30)).ok());
  EXPECT_EQ(sink.durable_lsn(), 0u);
  ASSERT_TRUE(
      sink.Apply({Piece(whole, 4, 5, false, true), TxnBuilder(2000, 1000).Insert(6, 6, 1).Build(ring)}).ok());
  ASSERT_TRUE(WaitDurable(sink, 2000));

  // A replay: all pieces of the durable transactions are skipped.
  ASSERT_TRUE(sink.Apply({Piece(whole, 0, 3, true, false), Piece(whole, 3, 5, false, true),
                          TxnBuilder(2000, 1000).Insert(6, 6, 1).Build(ring),
                          TxnBuilder(3000, 2000).Insert(7, 7, 1).Build(ring)})
                  .ok());
  ASSERT_TRUE(WaitDurable(sink, 3000));
  std::map<std::string, int> positions;
  for (const KafkaRecord& r : Read(mb, kOrdersTopic)) ++positions[r.headers.at("shardcast.position")];
  EXPECT_EQ(positions, (std::map<std::string, int>{{"1000/0", 1},
                                                   {"1000/1", 1},
                                                   {"1000/2", 1},
                                                   {"1000/3", 1},
                                                   {"1000/4", 1},
                                                   {"2000/0", 1},
                                                   {"3000/0", 1}}));
}

// Captures what shardcast logs (the default spdlog logger) while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }
  int Count(const std::string& needle) {
    const std::string t = text();
    int n = 0;
    for (auto pos = t.find(needle); pos != std::string::npos; pos = t.find(needle, pos + 1)) ++n;
    return n;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(KafkaSinkTest, BrokerOutageIsLoggedOnceEachWayAndDeliveryCatchesUp) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic(kOrdersTopic, 2).ok());
  auto ring = Ring2();
  LogCapture log;
  {
    KafkaSink sink(Options(mb));
    ASSERT_TRUE(sink.Open().ok());
    ASSERT_TRUE(sink.Apply({TxnBuilder(1000, 0).Insert(1, 1, 0).Build(ring)}).ok());
    ASSERT_TRUE(WaitDurable(sink, 1000));

    ASSERT_TRUE(mb.SetDown(1).ok());
    ASSERT_TRUE(sink.Apply({TxnBuilder(2000, 1000).Insert(2, 2, 0).Build(ring)}).ok());
    // Long enough for librdkafka to fail many reconnects (backoff 100 ms to 10 s).
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(sink.Poll(std::chrono::milliseconds(100)).ok());
    EXPECT_EQ(sink.durable_lsn(), 1000u);
    ASSERT_TRUE(mb.SetUp(1).ok());
    ASSERT_TRUE(sink.Apply({TxnBuilder(3000, 2000).Insert(3, 3, 0).Build(ring)}).ok());
    ASSERT_TRUE(WaitDurable(sink, 3000));
    sink.Close();
  }
  const std::string text = log.text();
  EXPECT_EQ(log.Count("all brokers of"), 1) << text;
  EXPECT_EQ(log.Count("kafka: brokers reachable again, delivering"), 1) << text;
  // Per-attempt connection failures are debug lines, not errors or warnings.
  EXPECT_EQ(log.Count("error "), 0) << text;
  EXPECT_EQ(log.Count("warning "), 1) << text;
  EXPECT_EQ(Read(mb, kOrdersTopic).size(), 3u);
}

TEST(KafkaSinkTest, UnknownPropertyIsAConfigError) {
  KafkaSinkOptions o;
  o.brokers = "127.0.0.1:1";
  o.properties["no.such.property"] = "1";
  KafkaSink sink(o);
  auto opened = sink.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kConfig);
  EXPECT_NE(opened.status().message().find("no.such.property"), std::string::npos);
}

TEST(KafkaSinkTest, UnreachableBrokerFailsOpen) {
  KafkaSinkOptions o;
  o.brokers = "127.0.0.1:1";
  o.connect_timeout = std::chrono::milliseconds(1500);
  KafkaSink sink(o);
  auto opened = sink.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kUnavailable) << opened.status().ToString();
}

}  // namespace
}  // namespace shardcast
