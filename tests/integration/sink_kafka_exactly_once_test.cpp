// KafkaSink with exactly_once against the real broker program (librdkafka's
// mock cluster over TCP): commits with the offsets record, fencing, splitting
// a large source transaction, resuming after a partial commit (also after a
// kill -9 at a kill point), aborts.
//
// What is NOT asserted: a read_committed consumer's view of the data topics.
// The mock broker (librdkafka 2.0.2) does not filter aborted transactions
// (DESIGN.md, measured facts), so records of an aborted transaction stay
// visible and exactly-once cannot be observed end to end here. These tests
// check the protocol instead: what is committed, the offsets topic's
// contents, which positions are produced again, and durable_lsn().
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "sink/kafka/kafka_sink.h"
#include "sink/kafka/value_format.h"
#include "tests/harness/kafka_reader.h"
#include "tests/harness/mock_broker.h"
#include "tests/harness/subprocess.h"

namespace shardcast {
namespace {

using nlohmann::json;
using testing::KafkaRecord;
using testing::MockBroker;

const char kOrdersTopic[] = "shardcast.public.orders";
const char kOffsetsTopic[] = "shardcast.shardcast.offsets";
const char kTxnId[] = "shardcast.shardcast.slot1";

std::shared_ptr<const Relation> Orders() {
  static const auto r = [] {
    auto rel = std::make_shared<Relation>();
    rel->oid = 16400;
    rel->schema = "public";
    rel->name = "orders";
    rel->columns = {{"id", pgtype::kInt4, -1, true},
                    {"account_id", pgtype::kInt8, -1, false},
                    {"note", pgtype::kText, -1, false}};
    return rel;
  }();
  return r;
}

std::shared_ptr<const Ring> Ring2() {
  static const auto ring = [] {
    auto built = Ring::Build({{"s0", 1}, {"s1", 1}}, 16, 7);
    EXPECT_TRUE(built.ok());
    return std::make_shared<const Ring>(std::move(built).value());
  }();
  return ring;
}

// A source transaction (or one piece of it) of inserts with ordinals
// [first, last]; the row id is end_lsn + ordinal.
std::shared_ptr<const RoutedTransaction> Inserts(Lsn end_lsn, std::uint32_t first, std::uint32_t last,
                                                 bool first_piece = true, bool last_piece = true) {
  auto txn = std::make_shared<Transaction>();
  txn->xid = static_cast<std::uint32_t>(end_lsn);
  txn->end_lsn = end_lsn;
  txn->commit_lsn = end_lsn - 8;
  txn->commit_time_us = 1795307643000000;
  txn->first_piece = first_piece;
  txn->last_piece = last_piece;
  auto rt = std::make_shared<RoutedTransaction>();
  for (std::uint32_t o = first; o <= last; ++o) {
    Change c;
    c.op = Op::kInsert;
    c.ordinal = o;
    c.relation = Orders();
    const std::string id = std::to_string(end_lsn + o);
    c.new_tuple = {Value::Text(id), Value::Text(id), Value::Text("n")};
    txn->changes.push_back(std::move(c));
    Placement p;
    p.new_owner = 0;
    rt->placements.push_back(p);
  }
  rt->txn = txn;
  rt->epoch = 7;
  rt->ring = Ring2();
  return rt;
}

KafkaSinkOptions Options(const std::string& bootstrap) {
  KafkaSinkOptions o;
  o.brokers = bootstrap;
  o.source_db = "app";
  o.tables = {TableSpec{"public", "orders", TableMode::kDistributed, {"account_id"}, {"id"}}};
  o.connect_timeout = std::chrono::seconds(20);
  o.exactly_once = true;
  o.transactional_id = kTxnId;
  o.offsets_topic = kOffsetsTopic;
  return o;
}

std::vector<KafkaRecord> Read(const MockBroker& mb, const std::string& topic) {
  auto records = testing::ReadTopic(mb.bootstrap(), topic);
  EXPECT_TRUE(records.ok()) << records.status().ToString();
  return records.ok() ? *records : std::vector<KafkaRecord>{};
}

// The values of this id's offsets records, oldest first.
std::vector<json> Markers(const MockBroker& mb) {
  std::vector<json> out;
  for (const KafkaRecord& r : Read(mb, kOffsetsTopic)) {
    EXPECT_EQ(r.partition, 0);
    if (r.key == kTxnId && r.value) out.push_back(json::parse(*r.value));
  }
  return out;
}

json Marker(Lsn end_lsn, std::uint32_t ordinal, bool complete, Lsn durable) {
  return {{"end_lsn", FormatLsn(end_lsn)},
          {"ordinal", ordinal},
          {"complete", complete},
          {"durable", FormatLsn(durable)}};
}

// How often each position header occurs in the orders topic.
std::map<std::string, int> PositionCounts(const MockBroker& mb) {
  std::map<std::string, int> counts;
  for (const KafkaRecord& r : Read(mb, kOrdersTopic)) ++counts[r.headers.at("shardcast.position")];
  return counts;
}

// create_offsets_topic false: the sink's first commit auto-creates it (the
// mock broker cannot create topics through the admin API).
std::unique_ptr<MockBroker> StartBroker(bool create_offsets_topic = true) {
  auto broker = MockBroker::Start(1);
  EXPECT_TRUE(broker.ok()) << broker.status().ToString();
  if (!broker.ok()) return nullptr;
  EXPECT_TRUE((*broker)->CreateTopic(kOrdersTopic, 2).ok());
  if (create_offsets_topic) {
    EXPECT_TRUE((*broker)->CreateTopic(kOffsetsTopic, 1).ok());
  }
  return std::move(broker).value();
}

TEST(KafkaExactlyOnceTest, CommitWritesTheOffsetsRecordAndReopenReturnsIt) {
  auto mb = StartBroker(/*create_offsets_topic=*/false);
  ASSERT_TRUE(mb);
  {
    KafkaSink sink(Options(mb->bootstrap()));
    auto opened = sink.Open();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, 0u);
    ASSERT_TRUE(sink.Apply({Inserts(1000, 0, 2), Inserts(2000, 0, 1)}).ok());
    // Durable when Apply returns: the batch's Kafka transaction committed.
    EXPECT_EQ(sink.durable_lsn(), 2000u);
    // A batch of transactions without records still moves the marker, so
    // durable_lsn() never runs ahead of what the offsets topic says.
    auto empty = Inserts(2500, 1, 0);
    ASSERT_TRUE(sink.Apply({empty}).ok());
    EXPECT_EQ(sink.durable_lsn(), 2500u);
    sink.Close();
  }
  EXPECT_EQ(Markers(*mb), (std::vector<json>{Marker(2000, 1, true, 2000), Marker(2500, 0, true, 2500)}));
  EXPECT_EQ(Read(*mb, kOrdersTopic).size(), 5u);

  KafkaSink again(Options(mb->bootstrap()));
  auto opened = again.Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 2500u);  // the marker the daemon trusts over its store
  EXPECT_EQ(again.durable_lsn(), 2500u);
  // Replay of what the marker covers produces nothing.
  ASSERT_TRUE(again.Apply({Inserts(1000, 0, 2), Inserts(2000, 0, 1), Inserts(3000, 0, 0)}).ok());
  EXPECT_EQ(again.durable_lsn(), 3000u);
  const auto counts = PositionCounts(*mb);
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [position, n] : counts) EXPECT_EQ(n, 1) << position;
}

TEST(KafkaExactlyOnceTest, SecondProducerWithTheSameIdFencesTheFirst) {
  auto mb = StartBroker();
  ASSERT_TRUE(mb);
  KafkaSink first(Options(mb->bootstrap()));
  ASSERT_TRUE(first.Open().ok());
  ASSERT_TRUE(first.Apply({Inserts(1000, 0, 1)}).ok());

  KafkaSink second(Options(mb->bootstrap()));
  auto opened = second.Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 1000u);
  // A real broker now answers the first producer's next request with
  // PRODUCER_FENCED, which librdkafka raises as a fatal error. The mock
  // broker gives each init_transactions a new producer id and never fences
  // (librdkafka 2.0.2, rdkafka_mock_handlers.c), so raise that error here.
  ASSERT_TRUE(first.RaiseFatalErrorForTest(RD_KAFKA_RESP_ERR_PRODUCER_FENCED).ok());

  const Status s = first.Apply({Inserts(2000, 0, 1)});
  ASSERT_FALSE(s.ok()) << "the fenced producer committed";
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find(std::string("another producer with transactional id ") + kTxnId),
            std::string::npos)
      << s.message();
  EXPECT_EQ(first.durable_lsn(), 1000u);
  // It stays failed with the same error; Poll says so too.
  EXPECT_EQ(first.Poll(std::chrono::milliseconds(10)).code(), Code::kFailedPrecondition);

  ASSERT_TRUE(second.Apply({Inserts(2000, 0, 1)}).ok());
  EXPECT_EQ(second.durable_lsn(), 2000u);
  EXPECT_EQ(Markers(*mb).back(), Marker(2000, 1, true, 2000));
}

TEST(KafkaExactlyOnceTest, LargeTransactionIsSplitAndResumedAfterTheRecordedOrdinal) {
  auto mb = StartBroker();
  ASSERT_TRUE(mb);
  auto opt = Options(mb->bootstrap());
  opt.max_txn_records = 4;
  {
    // The first piece of 1000 (ordinals 0-5): a split after 4 records, then
    // the batch's end. Neither completes the source transaction.
    KafkaSink sink(opt);
    ASSERT_TRUE(sink.Open().ok());
    ASSERT_TRUE(sink.Apply({Inserts(500, 0, 0), Inserts(1000, 0, 5, true, false)}).ok());
    EXPECT_EQ(sink.durable_lsn(), 500u);
    sink.Close();  // as if it stopped here; the daemon replays from 500
  }
  EXPECT_EQ(Markers(*mb), (std::vector<json>{Marker(1000, 2, false, 500), Marker(1000, 5, false, 500)}));

  KafkaSink sink(opt);
  auto opened = sink.Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 500u);
  // The replay, pieced differently: nothing at or below ordinal 5 again.
  ASSERT_TRUE(sink.Apply({Inserts(500, 0, 0), Inserts(1000, 0, 3, true, false),
                          Inserts(1000, 4, 9, false, true), Inserts(2000, 0, 0)})
                  .ok());
  EXPECT_EQ(sink.durable_lsn(), 2000u);
  const auto markers = Markers(*mb);
  ASSERT_EQ(markers.size(), 4u);
  EXPECT_EQ(markers[2], Marker(1000, 9, true, 1000));  // split after ordinals 6-9
  EXPECT_EQ(markers[3], Marker(2000, 0, true, 2000));
  const auto counts = PositionCounts(*mb);
  for (int o = 0; o <= 9; ++o)
    EXPECT_EQ(counts.count("1000/" + std::to_string(o)) ? counts.at("1000/" + std::to_string(o)) : 0, 1) << o;
  EXPECT_EQ(counts.at("500/0"), 1);
  EXPECT_EQ(counts.at("2000/0"), 1);
}

// Run only by KilledInsideASplitTransactionResumesAfterTheCommittedOrdinal, in a
// child process: applies 1000 (10 changes, split every 4 records) and is
// killed by the kill point in the environment.
TEST(KafkaExactlyOnceTest, DISABLED_CrashChild) {
  const char* bootstrap = std::getenv("SHARDCAST_TEST_BOOTSTRAP");
  ASSERT_NE(bootstrap, nullptr);
  auto opt = Options(bootstrap);
  opt.max_txn_records = 4;
  KafkaSink sink(opt);
  ASSERT_TRUE(sink.Open().ok());
  ASSERT_TRUE(sink.Apply({Inserts(1000, 0, 9)}).ok());
  FAIL() << "the kill point was not reached";
}

TEST(KafkaExactlyOnceTest, KilledInsideASplitTransactionResumesAfterTheCommittedOrdinal) {
  auto mb = StartBroker();
  ASSERT_TRUE(mb);
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  exe[n] = '\0';
  const std::string log = ::testing::TempDir() + "/kafka_crash_child_" + std::to_string(getpid()) + ".log";
  // The second Kafka transaction's records are produced, not flushed, when
  // the child is killed: the first (ordinals 0-3) is committed.
  setenv("SHARDCAST_TEST_BOOTSTRAP", mb->bootstrap().c_str(), 1);
  setenv("SHARDCAST_KILL_POINT", "kafka.after_produce:2", 1);
  const Status child = testing::RunProcess(
      {exe, "--gtest_also_run_disabled_tests", "--gtest_filter=KafkaExactlyOnceTest.DISABLED_CrashChild"},
      log);
  unsetenv("SHARDCAST_KILL_POINT");
  unsetenv("SHARDCAST_TEST_BOOTSTRAP");
  ASSERT_FALSE(child.ok());
  ASSERT_NE(testing::FileTail(log).find("kill point kafka.after_produce reached"), std::string::npos)
      << testing::FileTail(log);

  auto opt = Options(mb->bootstrap());
  KafkaSink sink(opt);
  auto opened = sink.Open();  // fences the dead producer, aborting its open transaction
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 0u);
  EXPECT_EQ(Markers(*mb), (std::vector<json>{Marker(1000, 3, false, 0)}));
  ASSERT_TRUE(sink.Apply({Inserts(1000, 0, 9)}).ok());
  EXPECT_EQ(sink.durable_lsn(), 1000u);
  EXPECT_EQ(Markers(*mb).back(), Marker(1000, 9, true, 1000));
  // Committed before the crash: exactly once. The aborted transaction's
  // records (4-7) may be visible twice here, since the mock does not filter them.
  const auto counts = PositionCounts(*mb);
  for (int o = 0; o <= 9; ++o) {
    const std::string pos = "1000/" + std::to_string(o);
    const int seen = counts.count(pos) ? counts.at(pos) : 0;
    if (o <= 3 || o >= 8)
      EXPECT_EQ(seen, 1) << pos;
    else
      EXPECT_GE(seen, 1) << pos;
  }
}

TEST(KafkaExactlyOnceTest, AbortedTransactionLeavesDurableUnchanged) {
  auto mb = StartBroker();
  ASSERT_TRUE(mb);
  auto opt = Options(mb->bootstrap());
  opt.transaction_timeout = std::chrono::milliseconds(3000);
  opt.close_timeout = std::chrono::milliseconds(1000);
  KafkaSink sink(opt);
  ASSERT_TRUE(sink.Open().ok());
  ASSERT_TRUE(sink.Apply({Inserts(1000, 0, 1)}).ok());
  ASSERT_TRUE(mb->SetDown(1).ok());
  const Status s = sink.Apply({Inserts(2000, 0, 1)});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();  // the daemon reopens and replays
  EXPECT_EQ(sink.durable_lsn(), 1000u);
  sink.Close();
  ASSERT_TRUE(mb->SetUp(1).ok());

  KafkaSink again(opt);
  auto opened = again.Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, 1000u);
  EXPECT_EQ(Markers(*mb).back(), Marker(1000, 1, true, 1000));
  ASSERT_TRUE(again.Apply({Inserts(2000, 0, 1)}).ok());
  EXPECT_EQ(again.durable_lsn(), 2000u);
}

TEST(KafkaExactlyOnceTest, MarkerCodecRejectsGarbage) {
  const OffsetsMarker m{0x1000000ABCull, 7, false, 0xABBull};
  auto back = DecodeOffsetsMarker(EncodeOffsetsMarker(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  EXPECT_TRUE(back->partial());
  EXPECT_EQ(json::parse(EncodeOffsetsMarker(m)), Marker(0x1000000ABCull, 7, false, 0xABBull));
  for (const char* bad : {"", "[]", "{\"end_lsn\":\"0/1\"}",
                          "{\"end_lsn\":\"x\",\"ordinal\":1,\"complete\":true,\"durable\":\"0/1\"}",
                          "{\"end_lsn\":\"0/1\",\"ordinal\":-1,\"complete\":true,\"durable\":\"0/1\"}",
                          "{\"end_lsn\":\"0/1\",\"ordinal\":1,\"complete\":true,\"durable\":\"0/2\"}"}) {
    auto r = DecodeOffsetsMarker(bad);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << bad;
  }
}

}  // namespace
}  // namespace shardcast
