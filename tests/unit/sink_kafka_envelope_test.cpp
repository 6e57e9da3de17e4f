// The Kafka records of each kind of change (DESIGN.md "Kafka messages").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sink/kafka/envelope.h"
#include "sink/kafka/value_format.h"

namespace shardcast {
namespace {

using nlohmann::json;

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

std::shared_ptr<const Relation> Countries() {
  auto r = std::make_shared<Relation>();
  r->oid = 16500;
  r->schema = "public";
  r->name = "countries";
  r->columns = {{"code", pgtype::kBpchar, 6, true}, {"name", pgtype::kText, -1, false}};
  return r;
}

std::vector<TableSpec> Tables() {
  TableSpec orders{"public", "orders", TableMode::kDistributed, {"account_id"}, {"id"}};
  TableSpec countries{"public", "countries", TableMode::kReference, {}, {"code"}};
  return {orders, countries};
}

std::shared_ptr<const Ring> TwoShards() {
  auto ring = Ring::Build({{"s0", 1}, {"s1", 1}}, 16, 3);
  EXPECT_TRUE(ring.ok()) << ring.status().ToString();
  return std::make_shared<const Ring>(std::move(ring).value());
}

Tuple Row(std::initializer_list<Value> values) {
  return Tuple(values);
}
Value T(std::string s) {
  return Value::Text(std::move(s));
}
Value U() {
  return Value{Value::Kind::kUnchanged, ""};
}

// A one-change transaction at end_lsn 5000, previous commit 4000.
RoutedTransaction Routed(Change c, Placement p, std::shared_ptr<const Ring> ring = TwoShards()) {
  auto txn = std::make_shared<Transaction>();
  txn->xid = 771;
  txn->commit_lsn = 4990;
  txn->end_lsn = 5000;
  txn->prev_end_lsn = 4000;
  txn->commit_time_us = 1795307643123456;
  txn->changes.push_back(std::move(c));
  RoutedTransaction rt;
  rt.txn = txn;
  rt.placements.push_back(std::move(p));
  rt.epoch = 3;
  rt.ring = std::move(ring);
  return rt;
}

Change Make(Op op, std::uint32_t ordinal, char old_kind, Tuple old_tuple, Tuple new_tuple) {
  Change c;
  c.op = op;
  c.ordinal = ordinal;
  c.relation = Orders();
  c.old_kind = old_kind;
  c.old_tuple = std::move(old_tuple);
  c.new_tuple = std::move(new_tuple);
  return c;
}

Placement Owners(std::int32_t old_owner, std::int32_t new_owner) {
  Placement p;
  p.old_owner = old_owner;
  p.new_owner = new_owner;
  return p;
}

std::vector<KafkaRecordOut> Encode(const RoutedTransaction& rt, EnvelopeOptions opt = {}) {
  if (opt.source_db.empty()) opt.source_db = "app";
  EnvelopeEncoder enc(opt, Tables());
  std::vector<KafkaRecordOut> out;
  const Status s = enc.Encode(rt, 0, 1795307650000, out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

const std::string kSource = std::string(R"("source":{"version":")") + SHARDCAST_VERSION +
                            R"(","connector":"shardcast","name":"shardcast","ts_ms":1795307643123,)"
                            R"("snapshot":"false","db":"app","sequence":"[\"4000\",\"5000\"]",)"
                            R"("schema":"public","table":"orders","txId":771,"lsn":5000,"xmin":null,)";

TEST(Envelope, InsertExact) {
  const auto out = Encode(
      Routed(Make(Op::kInsert, 2, 0, {}, Row({T("1"), T("42"), T("a \"q\"")})), Owners(Placement::kNone, 1)));
  ASSERT_EQ(out.size(), 1u);
  const KafkaRecordOut& r = out[0];
  EXPECT_EQ(r.topic, "shardcast.public.orders");
  EXPECT_EQ(r.key, R"({"id":1})");
  EXPECT_EQ(r.value, R"({"before":null,"after":{"id":1,"account_id":42,"note":"a \"q\""},)" + kSource +
                         R"("shard":"s1","epoch":3},"op":"c","ts_ms":1795307650000,"transaction":null})");
  EXPECT_EQ(r.position, "5000/2");
  EXPECT_EQ(r.shard, "s1");
  EXPECT_EQ(r.epoch, "3");
  EXPECT_TRUE(r.partition_key.empty());  // partition_by: key
}

// Debezium writes a snapshot read as op "r" with no before and the
// snapshot kind in source.snapshot.
RoutedTransaction SnapshotRead(std::string snapshot) {
  auto rt = Routed(Make(Op::kRead, 1, 0, {}, Row({T("1"), T("42"), T("x")})), Owners(Placement::kNone, 1));
  auto txn = std::make_shared<Transaction>(*rt.txn);
  txn->snapshot = std::move(snapshot);
  rt.txn = txn;
  return rt;
}

TEST(Envelope, SnapshotReadExact) {
  const auto out = Encode(SnapshotRead("true"));
  ASSERT_EQ(out.size(), 1u);
  std::string source = kSource;
  const std::string streamed = R"("snapshot":"false")";
  source.replace(source.find(streamed), streamed.size(), R"("snapshot":"true")");
  EXPECT_EQ(out[0].value,
            R"({"before":null,"after":{"id":1,"account_id":42,"note":"x"},)" + source +
                R"("shard":"s1","epoch":3},"op":"r","ts_ms":1795307650000,"transaction":null})");
  EXPECT_EQ(out[0].key, R"({"id":1})");
  EXPECT_EQ(out[0].topic, "shardcast.public.orders");
  EXPECT_EQ(out[0].position, "5000/1");
  EXPECT_EQ(out[0].shard, "s1");
}

TEST(Envelope, SnapshotKindOfBackfillAndStreamedChanges) {
  const json incremental = json::parse(*Encode(SnapshotRead("incremental"))[0].value);
  EXPECT_EQ(incremental["source"]["snapshot"], "incremental");
  EXPECT_EQ(incremental["op"], "r");
  EXPECT_EQ(json::parse(*Encode(SnapshotRead(""))[0].value)["source"]["snapshot"], "false");

  // A streamed change is never marked as a snapshot, whatever its transaction says.
  auto rt = SnapshotRead("incremental");
  auto txn = std::make_shared<Transaction>(*rt.txn);
  txn->changes[0].op = Op::kInsert;
  rt.txn = txn;
  const json insert = json::parse(*Encode(rt)[0].value);
  EXPECT_EQ(insert["source"]["snapshot"], "false");
  EXPECT_EQ(insert["op"], "c");
}

TEST(Envelope, SnapshotReadOfAReferenceTableWithShardKeyPartition) {
  Change c;
  c.op = Op::kRead;
  c.relation = Countries();
  c.new_tuple = Row({T("FR    "), T("France")});
  auto rt = Routed(c, Owners(Placement::kAll, Placement::kAll));
  EnvelopeOptions opt;
  opt.partition_by_shard_key = true;
  const auto out = Encode(rt, opt);
  ASSERT_EQ(out.size(), 1u);  // no tombstone, one record for all shards
  EXPECT_EQ(out[0].shard, "*");
  EXPECT_EQ(out[0].partition_key, R"({"code":"FR    "})");
  const json v = json::parse(*out[0].value);
  EXPECT_TRUE(v["before"].is_null());
  EXPECT_EQ(v["after"], json::parse(R"({"code":"FR    ","name":"France"})"));
}

TEST(Envelope, UpdateWithWholeOldRowFillsUnchangedToast) {
  // REPLICA IDENTITY FULL: 'O' old row; the unchanged note comes from it.
  const auto out = Encode(
      Routed(Make(Op::kUpdate, 0, 'O', Row({T("1"), T("42"), T("long text")}), Row({T("1"), T("43"), U()})),
             Owners(1, 0)));
  ASSERT_EQ(out.size(), 1u);
  const json v = json::parse(*out[0].value);
  EXPECT_EQ(v["op"], "u");
  EXPECT_EQ(v["before"], json::parse(R"({"id":1,"account_id":42,"note":"long text"})"));
  EXPECT_EQ(v["after"], json::parse(R"({"id":1,"account_id":43,"note":"long text"})"));
  EXPECT_EQ(v["source"]["shard"], "s0");  // the new owner
  EXPECT_EQ(out[0].shard, "s0");
}

TEST(Envelope, UpdateWithoutOldRowUsesPlaceholder) {
  const auto out = Encode(Routed(Make(Op::kUpdate, 1, 0, {}, Row({T("1"), T("42"), U()})), Owners(1, 1)));
  ASSERT_EQ(out.size(), 1u);
  const json v = json::parse(*out[0].value);
  EXPECT_TRUE(v["before"].is_null());
  EXPECT_EQ(v["after"], json::parse(R"({"id":1,"account_id":42,"note":"__debezium_unavailable_value"})"));
  EXPECT_EQ(out[0].key, R"({"id":1})");
}

TEST(Envelope, UpdateChangingPrimaryKeyIsKeyedByNewKey) {
  const auto out = Encode(Routed(
      Make(Op::kUpdate, 0, 'K', Row({T("1"), Value::Null(), Value::Null()}), Row({T("2"), T("42"), T("x")})),
      Owners(1, 1)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, R"({"id":2})");
  const json v = json::parse(*out[0].value);
  EXPECT_EQ(v["before"], json::parse(R"({"id":1,"account_id":null,"note":null})"));
  EXPECT_EQ(v["after"]["id"], 2);
}

TEST(Envelope, DeleteKeyOnlyThenTombstone) {
  const auto out = Encode(Routed(Make(Op::kDelete, 4, 'K', Row({T("7"), Value::Null(), Value::Null()}), {}),
                                 Owners(0, Placement::kNone)));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, R"({"id":7})");
  EXPECT_EQ(out[0].value,
            R"({"before":{"id":7,"account_id":null,"note":null},"after":null,)" + kSource +
                R"("shard":"s0","epoch":3},"op":"d","ts_ms":1795307650000,"transaction":null})");
  const KafkaRecordOut& t = out[1];
  EXPECT_EQ(t.topic, out[0].topic);
  EXPECT_EQ(t.key, out[0].key);
  EXPECT_FALSE(t.value.has_value());
  EXPECT_EQ(t.position, "5000/4");
  EXPECT_EQ(t.shard, "s0");
  EXPECT_EQ(t.epoch, "3");
}

TEST(Envelope, DeleteWholeOldRowWithoutTombstone) {
  EnvelopeOptions opt;
  opt.tombstones = false;
  const auto out = Encode(
      Routed(Make(Op::kDelete, 0, 'O', Row({T("7"), T("42"), T("bye")}), {}), Owners(1, Placement::kNone)),
      opt);
  ASSERT_EQ(out.size(), 1u);
  const json v = json::parse(*out[0].value);
  EXPECT_EQ(v["before"], json::parse(R"({"id":7,"account_id":42,"note":"bye"})"));
  EXPECT_TRUE(v["after"].is_null());
  EXPECT_EQ(v["op"], "d");
}

TEST(Envelope, TruncateOneRecordPerConfiguredTable) {
  Change c;
  c.op = Op::kTruncate;
  c.ordinal = 0;
  auto other = std::make_shared<Relation>();
  other->schema = "public";
  other->name = "not_replicated";
  c.truncated = {Orders(), other, Countries()};
  Placement p = Owners(Placement::kAll, Placement::kAll);
  auto rt = Routed(std::move(c), p);
  const auto out = Encode(rt);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "shardcast.public.orders");
  EXPECT_EQ(out[1].topic, "shardcast.public.countries");
  for (const auto& r : out) {
    EXPECT_FALSE(r.key.has_value());
    EXPECT_EQ(r.shard, "*");
    EXPECT_EQ(r.position, "5000/0");
  }
  EXPECT_EQ(out[0].value, R"({"before":null,"after":null,)" + kSource +
                              R"("shard":"*","epoch":3},"op":"t","ts_ms":1795307650000,"transaction":null})");
}

TEST(Envelope, UnconfiguredTableProducesNothing) {
  Change c = Make(Op::kInsert, 0, 0, {}, Row({T("1"), T("2"), T("3")}));
  auto rel = std::make_shared<Relation>(*c.relation);
  rel->name = "elsewhere";
  c.relation = rel;
  EXPECT_TRUE(Encode(Routed(std::move(c), Owners(Placement::kNone, 0))).empty());
}

TEST(Envelope, ReferenceTableShardTemplateAndNoRing) {
  EnvelopeOptions opt;
  opt.topic_template = "{prefix}.{shard}.{schema}.{table}";
  opt.prefix = "cdc";
  Change c;
  c.op = Op::kInsert;
  c.relation = Countries();
  c.new_tuple = Row({T("DE    "), T("Deutschland")});
  const auto out = Encode(Routed(c, Owners(Placement::kNone, Placement::kAll)), opt);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "cdc.all.public.countries");
  EXPECT_EQ(out[0].shard, "*");
  EXPECT_EQ(out[0].key, R"({"code":"DE    "})");
  EXPECT_EQ(json::parse(*out[0].value)["source"]["name"], "cdc");

  const auto no_ring = Encode(Routed(c, Owners(Placement::kNone, Placement::kAll), nullptr), opt);
  ASSERT_EQ(no_ring.size(), 1u);
  EXPECT_EQ(no_ring[0].shard, "");
  EXPECT_EQ(json::parse(*no_ring[0].value)["source"]["shard"], "");

  const auto sharded = Encode(
      Routed(Make(Op::kInsert, 0, 0, {}, Row({T("1"), T("2"), T("3")})), Owners(Placement::kNone, 1)), opt);
  EXPECT_EQ(sharded[0].topic, "cdc.s1.public.orders");
}

TEST(Envelope, FirstTransactionSequenceAndPartitionKey) {
  auto rt =
      Routed(Make(Op::kInsert, 0, 0, {}, Row({T("1"), T("42"), Value::Null()})), Owners(Placement::kNone, 0));
  auto txn = std::make_shared<Transaction>(*rt.txn);
  txn->prev_end_lsn = 0;
  rt.txn = txn;
  EnvelopeOptions opt;
  opt.partition_by_shard_key = true;
  const auto out = Encode(rt, opt);
  ASSERT_EQ(out.size(), 1u);
  const json v = json::parse(*out[0].value);
  EXPECT_EQ(v["source"]["sequence"], R"([null,"5000"])");
  EXPECT_TRUE(v["after"]["note"].is_null());
  EXPECT_EQ(out[0].partition_key, R"({"account_id":42})");
}

TEST(Envelope, MissingPrimaryKeyColumnIsAnError) {
  std::vector<TableSpec> tables = {{"public", "orders", TableMode::kDistributed, {"account_id"}, {"nope"}}};
  EnvelopeEncoder enc(EnvelopeOptions{}, tables);
  std::vector<KafkaRecordOut> out;
  const Status s = enc.Encode(
      Routed(Make(Op::kInsert, 0, 0, {}, Row({T("1"), T("2"), T("3")})), Owners(Placement::kNone, 0)), 0, 0,
      out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nope"), std::string::npos) << s.message();
}

TEST(ExpandTopic, Placeholders) {
  EXPECT_EQ(ExpandTopic("{prefix}.{schema}.{table}", "p", "s", "t", "s0"), "p.s.t");
  EXPECT_EQ(ExpandTopic("x-{shard}-{table}", "p", "s", "t", "s0"), "x-s0-t");
  EXPECT_EQ(ExpandTopic("{shard}", "p", "s", "t", "*"), "all");
  EXPECT_EQ(ExpandTopic("{other}.{table", "p", "s", "t", ""), "{other}.{table");
}

}  // namespace
}  // namespace shardcast
