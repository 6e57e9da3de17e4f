// ShardSink against real PostgreSQL shard databases: two databases on one
// server play shards s0 and s1 of a two-shard ring.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sharding/ring.h"
#include "sharding/router.h"
#include "sharding/shard_key.h"
#include "sink/postgres/shard_sink.h"
#include "tests/harness/pg_server.h"

namespace shardcast {
namespace {

using testing::PgServer;
using testing::Row;
using namespace std::chrono_literals;

constexpr const char* kSchema =
    "CREATE TABLE items (id bigint PRIMARY KEY, name text, amount numeric(12,4), flag boolean, "
    "at timestamptz, doc jsonb, data bytea, big text);"
    "CREATE TABLE pairs (a bigint, b text, v text, PRIMARY KEY (a, b));"
    "CREATE TABLE child (id bigint REFERENCES items (id));"
    "CREATE TABLE counters (id bigserial PRIMARY KEY, n int)";

// The columns read back, in text forms that do not depend on session settings.
constexpr const char* kItemsQuery =
    "SELECT id::text, name, amount::text, flag::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD "
    "HH24:MI:SS.US'), "
    "doc::text, encode(data, 'hex'), big FROM items ORDER BY id";

Value T(std::string s) {
  return Value::Text(std::move(s));
}
Value N() {
  return Value::Null();
}
Value U() {
  return Value{Value::Kind::kUnchanged, {}};
}

std::shared_ptr<const Relation> MakeRelation(std::uint32_t oid, std::string name,
                                             std::vector<std::string> cols,
                                             std::vector<std::string> identity) {
  auto rel = std::make_shared<Relation>();
  rel->oid = oid;
  rel->schema = "public";
  rel->name = std::move(name);
  for (auto& c : cols) {
    bool key = std::find(identity.begin(), identity.end(), c) != identity.end();
    rel->columns.push_back(Column{c, 25, -1, key});
  }
  return rel;
}

class ShardSinkTest : public ::testing::Test {
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
    int n = counter++;
    for (int s = 0; s < 2; ++s) {
      db_[s] = "t" + std::to_string(n) + "_s" + std::to_string(s);
      ASSERT_TRUE(server_->CreateDatabase(db_[s]).ok());
      ASSERT_TRUE(server_->Exec(db_[s], kSchema).ok());
    }
    tables_ = {TableSpec{"public", "items", TableMode::kDistributed, {"id"}, {"id"}},
               TableSpec{"public", "pairs", TableMode::kDistributed, {"a"}, {"a", "b"}},
               TableSpec{"public", "counters", TableMode::kReference, {}, {"id"}}};
    auto ring = Ring::Build({{"s0", 1}, {"s1", 1}}, 64, 1);
    ASSERT_TRUE(ring.ok()) << ring.status().ToString();
    ring_ = std::make_shared<const Ring>(std::move(*ring));
    router_ = std::make_unique<Router>(tables_, ring_);
    items_ = MakeRelation(1, "items", {"id", "name", "amount", "flag", "at", "doc", "data", "big"}, {"id"});
    pairs_ = MakeRelation(2, "pairs", {"a", "b", "v"}, {"a", "b"});
  }

  std::unique_ptr<ShardSink> OpenSink(int shard, std::size_t max_bytes = 1 << 20) {
    ShardSink::Options o;
    o.destination = "s" + std::to_string(shard) + "@test";
    o.shard_id = "s" + std::to_string(shard);
    o.dsn = server_->Dsn(db_[shard]);
    o.tables = tables_;
    o.max_statement_bytes = max_bytes;
    auto sink = std::make_unique<ShardSink>(std::move(o));
    auto lsn = sink->Open();
    EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
    return sink;
  }

  // The n-th (from 0) id whose items row lives on `shard`.
  std::string KeyOn(int shard, int n = 0) {
    for (int id = 1;; ++id) {
      std::string text = std::to_string(id);
      std::vector<std::optional<std::string_view>> key = {std::string_view(text)};
      if (static_cast<int>(ring_->OwnerOf(HashShardKey(key))) == shard && n-- == 0) return text;
    }
  }

  std::shared_ptr<const RoutedTransaction> Txn(Lsn end_lsn, std::vector<Change> changes) {
    auto txn = std::make_shared<Transaction>();
    txn->end_lsn = end_lsn;
    txn->commit_lsn = end_lsn - 8;
    for (std::size_t i = 0; i < changes.size(); ++i) changes[i].ordinal = static_cast<std::uint32_t>(i);
    txn->changes = std::move(changes);
    auto routed = router_->Route(txn);
    EXPECT_TRUE(routed.ok()) << routed.status().ToString();
    return routed.ok() ? *routed : nullptr;
  }

  Change Insert(const std::shared_ptr<const Relation>& rel, Tuple row) {
    Change c;
    c.op = Op::kInsert;
    c.relation = rel;
    c.new_tuple = std::move(row);
    return c;
  }
  Change Update(const std::shared_ptr<const Relation>& rel, Tuple row, char old_kind = 0, Tuple old = {}) {
    Change c;
    c.op = Op::kUpdate;
    c.relation = rel;
    c.new_tuple = std::move(row);
    c.old_kind = old_kind;
    c.old_tuple = std::move(old);
    return c;
  }
  Change Delete(const std::shared_ptr<const Relation>& rel, Tuple old, char old_kind = 'K') {
    Change c;
    c.op = Op::kDelete;
    c.relation = rel;
    c.old_kind = old_kind;
    c.old_tuple = std::move(old);
    return c;
  }
  Change Read(const std::shared_ptr<const Relation>& rel, Tuple row) {
    Change c = Insert(rel, std::move(row));
    c.op = Op::kRead;
    return c;
  }
  Tuple Item(const std::string& id, std::string name, std::string big = "b") {
    return {T(id), T(std::move(name)), N(), N(), N(), N(), N(), T(std::move(big))};
  }

  std::vector<Row> Query(int shard, const std::string& sql) {
    auto rows = server_->Query(db_[shard], sql);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<Row>{};
  }
  std::optional<std::string> Progress(int shard) {
    auto rows = Query(shard, "SELECT end_lsn::text FROM shardcast.progress WHERE destination = 's" +
                                 std::to_string(shard) + "@test'");
    if (rows.empty()) return std::nullopt;
    return rows[0][0];
  }

  static PgServer* server_;
  std::string db_[2];
  std::vector<TableSpec> tables_;
  std::shared_ptr<const Ring> ring_;
  std::unique_ptr<Router> router_;
  std::shared_ptr<const Relation> items_, pairs_;
};

PgServer* ShardSinkTest::server_ = nullptr;

TEST_F(ShardSinkTest, AppliesInsertsUpdatesAndDeletesWithExactValues) {
  const std::string k0 = KeyOn(0), k0b = KeyOn(0, 1), k1 = KeyOn(1);
  auto s0 = OpenSink(0);
  auto s1 = OpenSink(1);
  EXPECT_EQ(s0->durable_lsn(), 0u);
  TxnBatch batch = {
      Txn(0x1000, {Insert(items_, {T(k0), T("O'Brien \\ back\\slash"), T("12345.6789"), T("t"),
                                   T("2024-01-02 03:04:05.123456+00"), T("{\"a\": [1, \"x\"]}"),
                                   T("\\x00ff27"), T("big")}),
                   Insert(items_, Item(k0b, "first")), Insert(items_, Item(k1, "on s1")),
                   Insert(pairs_, {T(k0), T("x"), T("v1")}), Insert(pairs_, {T(k0), T("y"), T("v2")})}),
      Txn(0x2000, {Update(items_, {T(k0b), T("second"), N(), T("f"), N(), N(), N(), T("b")}),
                   Delete(pairs_, {T(k0), T("x"), N()}), Update(pairs_, {T(k0), T("y"), T("v3")})}),
  };
  ASSERT_TRUE(s0->Apply(batch).ok());
  Status st = s1->Apply(batch);
  ASSERT_TRUE(st.ok()) << st.ToString();

  auto items0 = Query(0, kItemsQuery);
  ASSERT_EQ(items0.size(), 2u);
  std::vector<Row> want = {
      Row{k0, "O'Brien \\ back\\slash", "12345.6789", "true", "2024-01-02 03:04:05.123456",
          "{\"a\": [1, \"x\"]}", "00ff27", "big"},
      Row{k0b, "second", std::nullopt, "false", std::nullopt, std::nullopt, std::nullopt, "b"}};
  if (std::stoll(k0) > std::stoll(k0b)) std::swap(want[0], want[1]);
  EXPECT_EQ(items0, want);
  EXPECT_EQ(Query(0, "SELECT a::text, b, v FROM pairs"), (std::vector<Row>{Row{k0, "y", "v3"}}));
  EXPECT_EQ(Query(1, "SELECT id::text, name FROM items"), (std::vector<Row>{Row{k1, "on s1"}}));
  EXPECT_TRUE(Query(1, "SELECT * FROM pairs").empty());

  EXPECT_EQ(Progress(0), "0/2000");
  EXPECT_EQ(Progress(1), "0/2000");
  EXPECT_EQ(s0->durable_lsn(), 0x2000u);
  // The progress row was written by the same destination transaction as the rows.
  EXPECT_EQ(
      Query(0,
            "SELECT (SELECT xmin::text FROM shardcast.progress) = (SELECT xmin::text FROM items WHERE id = " +
                k0 + ")")[0][0],
      "t");
}

TEST_F(ShardSinkTest, ReopenReturnsProgressAndReapplyingIsANoOp) {
  const std::string a = KeyOn(0), b = KeyOn(0, 1);
  auto t1 = Txn(0x1000, {Insert(items_, Item(a, "a"))});
  auto t2 = Txn(0x2000, {Insert(items_, Item(b, "b"))});
  {
    auto sink = OpenSink(0);
    ASSERT_TRUE(sink->Apply({t1}).ok());
    sink->Close();
  }
  auto sink = OpenSink(0);
  EXPECT_EQ(sink->durable_lsn(), 0x1000u);
  ShardSink::Options o;
  o.destination = "s0@test";
  o.shard_id = "s0";
  o.dsn = server_->Dsn(db_[0]);
  ShardSink again(o);
  auto opened = again.Open();
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, 0x1000u);

  Status st = sink->Apply({t1, t2});  // t1 is skipped: applying it again would violate the key
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Progress(0), "0/2000");
  auto before = Query(0, "SELECT xmin::text, updated_at::text FROM shardcast.progress");
  ASSERT_TRUE(sink->Apply({t1, t2}).ok());
  EXPECT_EQ(Query(0, "SELECT count(*) FROM items")[0][0], "2");
  auto reopened = OpenSink(0);
  ASSERT_TRUE(reopened->Apply({t1, t2}).ok());
  EXPECT_EQ(Query(0, "SELECT xmin::text, updated_at::text FROM shardcast.progress"), before);
}

TEST_F(ShardSinkTest, MovingUpdateDeletesOnOldShardAndInsertsOnNew) {
  const std::string from = KeyOn(0), to = KeyOn(1);
  auto s0 = OpenSink(0);
  auto s1 = OpenSink(1);
  Tuple old_row = {T(from), T("n"), T("1.5"), T("t"), N(), T("{}"), T("\\xab"), T("toasted value")};
  TxnBatch insert = {Txn(0x1000, {Insert(items_, old_row)})};
  ASSERT_TRUE(s0->Apply(insert).ok());
  ASSERT_TRUE(s1->Apply(insert).ok());
  // The shard key changes and the big column arrives unchanged ('u'); the whole old row came along ('O').
  auto move = Txn(
      0x2000,
      {Update(items_, {T(to), T("moved"), T("1.5"), T("t"), N(), T("{}"), T("\\xab"), U()}, 'O', old_row)});
  ASSERT_EQ(move->placements[0].old_owner, 0);
  ASSERT_EQ(move->placements[0].new_owner, 1);
  ASSERT_TRUE(s0->Apply({move}).ok());
  ASSERT_TRUE(s1->Apply({move}).ok());
  EXPECT_TRUE(Query(0, "SELECT * FROM items").empty());
  EXPECT_EQ(Query(1, "SELECT id::text, name, amount::text, doc::text, encode(data, 'hex'), big FROM items"),
            (std::vector<Row>{Row{to, "moved", "1.5000", "{}", "ab", "toasted value"}}));
  EXPECT_EQ(Progress(0), "0/2000");
  EXPECT_EQ(Progress(1), "0/2000");
}

TEST_F(ShardSinkTest, UniqueViolationNamesTableKeyAndPositionAndAppliesNothing) {
  const std::string ok_key = KeyOn(0), dup = KeyOn(0, 1);
  ASSERT_TRUE(
      server_->Exec(db_[0], "INSERT INTO items (id, name) VALUES (" + dup + ", 'there before')").ok());
  auto sink = OpenSink(0);
  TxnBatch batch = {
      Txn(0x1000, {Insert(items_, Item(ok_key, "fine"))}),
      Txn(0x2000, {Update(pairs_, {T(ok_key), T("p"), T("v")}), Insert(items_, Item(dup, "dup"))})};
  Status st = sink->Apply(batch);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("public.items"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("(id)=(" + dup + ")"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("0/2000"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("23505"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("duplicate key"), std::string::npos) << st.message();
  EXPECT_EQ(sink->durable_lsn(), 0u);
  EXPECT_EQ(Query(0, "SELECT id::text, name FROM items"), (std::vector<Row>{Row{dup, "there before"}}));
  EXPECT_FALSE(Progress(0).has_value());
  // The sink must be reopened before use.
  EXPECT_EQ(sink->Apply(batch).code(), Code::kFailedPrecondition);
  auto reopened = sink->Open();
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*reopened, 0u);
}

TEST_F(ShardSinkTest, FailureInALaterChunkRollsBackEarlierChunks) {
  // 1 KiB chunks: hundreds of Query messages in one destination transaction.
  auto sink = OpenSink(0, 1024);
  std::vector<Change> changes;
  for (int i = 0; i < 300; ++i)
    changes.push_back(Insert(items_, Item(KeyOn(0, i), "row " + std::to_string(i))));
  auto good = Txn(0x1000, changes);
  ASSERT_TRUE(sink->Apply({good}).ok());
  EXPECT_EQ(Query(0, "SELECT count(*) FROM items")[0][0], "300");

  std::vector<Change> more;
  for (int i = 300; i < 600; ++i) more.push_back(Insert(items_, Item(KeyOn(0, i), "row")));
  more.push_back(Insert(items_, Item(KeyOn(0, 5), "duplicate of an applied row")));
  Status st = sink->Apply({Txn(0x2000, more)});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("(id)=(" + KeyOn(0, 5) + ")"), std::string::npos) << st.message();
  EXPECT_EQ(Query(0, "SELECT count(*) FROM items")[0][0], "300");
  EXPECT_EQ(Progress(0), "0/1000");
}

TEST_F(ShardSinkTest, SnapshotReadsAreUpsertedOverExistingRows) {
  const std::string old_key = KeyOn(0), new_key = KeyOn(0, 1), other = KeyOn(1);
  auto s0 = OpenSink(0);
  auto s1 = OpenSink(1);
  TxnBatch streamed = {
      Txn(0x1000, {Insert(items_, {T(old_key), T("stale"), T("1"), T("t"), T("2020-01-01 00:00:00+00"),
                                   T("{\"old\": true}"), T("\\x01"), T("old big")}),
                   Insert(pairs_, {T(old_key), T("x"), T("stale")})})};
  ASSERT_TRUE(s0->Apply(streamed).ok());
  ASSERT_TRUE(s1->Apply(streamed).ok());
  auto counters = MakeRelation(3, "counters", {"id", "n"}, {"id"});
  ASSERT_TRUE(server_->Exec(db_[1], "INSERT INTO counters VALUES (5, 1)").ok());

  // A backfill chunk: the existing row is overwritten whole (NULLs included),
  // a new row is inserted, a key read twice keeps its last values, and a
  // reference-table row is upserted on every shard.
  auto chunk = std::make_shared<Transaction>();
  chunk->end_lsn = 0x2000;
  chunk->snapshot = "incremental";
  chunk->changes = {
      Read(items_, {T(old_key), T("fresh"), T("2.5"), N(), N(), T("[1, \"two\"]"), T("\\xfffe"), N()}),
      Read(items_, Item(new_key, "first read")),
      Read(items_, Item(other, "on s1")),
      Read(items_, Item(new_key, "read again")),  // in the same statement it would fail on the server
      Read(pairs_, {T(old_key), T("x"), T("fresh")}),
      Read(pairs_, {T(old_key), T("y"), T("new")}),
      Read(counters, {T("5"), T("2")}),
  };
  for (std::size_t i = 0; i < chunk->changes.size(); ++i)
    chunk->changes[i].ordinal = static_cast<std::uint32_t>(i);
  auto routed = router_->Route(chunk);
  ASSERT_TRUE(routed.ok()) << routed.status().ToString();
  for (auto* sink : {s0.get(), s1.get()}) {
    Status st = sink->Apply({*routed});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::vector<Row> want = {
      Row{old_key, "fresh", "2.5000", std::nullopt, std::nullopt, "[1, \"two\"]", "fffe", std::nullopt},
      Row{new_key, "read again", std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt, "b"}};
  if (std::stoll(old_key) > std::stoll(new_key)) std::swap(want[0], want[1]);
  EXPECT_EQ(Query(0, kItemsQuery), want);
  EXPECT_EQ(Query(0, "SELECT b, v FROM pairs ORDER BY b"),
            (std::vector<Row>{Row{"x", "fresh"}, Row{"y", "new"}}));
  EXPECT_EQ(Query(1, "SELECT id::text, name FROM items"), (std::vector<Row>{Row{other, "on s1"}}));
  EXPECT_EQ(Query(0, "SELECT id::text, n::text FROM counters"), (std::vector<Row>{Row{"5", "2"}}));
  EXPECT_EQ(Query(1, "SELECT id::text, n::text FROM counters"), (std::vector<Row>{Row{"5", "2"}}));
  EXPECT_EQ(Progress(0), "0/2000");
  EXPECT_EQ(Progress(1), "0/2000");

  // Reading the same chunk again at a later position changes nothing.
  auto again = std::make_shared<Transaction>(*chunk);
  again->end_lsn = 0x3000;
  auto routed_again = router_->Route(again);
  ASSERT_TRUE(routed_again.ok());
  ASSERT_TRUE(s0->Apply({*routed_again}).ok());
  EXPECT_EQ(Query(0, kItemsQuery), want);
  EXPECT_EQ(Progress(0), "0/3000");
}

TEST_F(ShardSinkTest, UnchangedToastColumnsAreLeftUntouched) {
  const std::string k = KeyOn(1);
  auto sink = OpenSink(1);
  ASSERT_TRUE(sink->Apply({Txn(0x1000, {Insert(items_, Item(k, "before", std::string(5000, 'x')))})}).ok());
  auto upd = Txn(0x2000, {Update(items_, {T(k), T("after"), T("2"), N(), N(), N(), N(), U()})});
  ASSERT_TRUE(sink->Apply({upd}).ok());
  EXPECT_EQ(Query(1, "SELECT name, amount::text, length(big)::text, left(big, 3) FROM items"),
            (std::vector<Row>{Row{"after", "2.0000", "5000", "xxx"}}));
}

TEST_F(ShardSinkTest, TruncateConfiguredTablesWithSourceOptions) {
  auto s0 = OpenSink(0);
  const std::string k = KeyOn(0);
  ASSERT_TRUE(s0->Apply({Txn(0x1000, {Insert(items_, Item(k, "x"))})}).ok());
  ASSERT_TRUE(
      server_->Exec(db_[0], "INSERT INTO child VALUES (" + k + "); INSERT INTO counters (n) VALUES (1)")
          .ok());
  auto counters = MakeRelation(3, "counters", {"id", "n"}, {"id"});
  auto unlisted = MakeRelation(4, "unlisted", {"id"}, {"id"});
  Change t;
  t.op = Op::kTruncate;
  t.truncated = {items_, unlisted, counters};
  t.truncate_options = 1 | 2;  // CASCADE (child references items), RESTART IDENTITY
  Status st = s0->Apply({Txn(0x2000, {t})});
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Query(0, "SELECT (SELECT count(*) FROM items) + (SELECT count(*) FROM child)")[0][0], "0");
  ASSERT_TRUE(server_->Exec(db_[0], "INSERT INTO counters (n) VALUES (2)").ok());
  EXPECT_EQ(Query(0, "SELECT id::text FROM counters"), (std::vector<Row>{Row{"1"}}));

  // Without CASCADE the shard refuses, as the source would have.
  ASSERT_TRUE(s0->Apply({Txn(0x3000, {Insert(items_, Item(k, "x"))})}).ok());
  ASSERT_TRUE(server_->Exec(db_[0], "INSERT INTO child VALUES (" + k + ")").ok());
  t.truncate_options = 0;
  st = s0->Apply({Txn(0x4000, {t})});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("TRUNCATE public.items, public.counters"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("0A000"), std::string::npos) << st.message();
}

TEST_F(ShardSinkTest, IdleBatchBumpsProgressOnlyAfterOneSecond) {
  auto s1 = OpenSink(1);
  auto opened = std::chrono::steady_clock::now();
  auto only_s0 = Txn(0x1000, {Insert(items_, Item(KeyOn(0), "s0 only"))});
  ASSERT_TRUE(s1->Apply({only_s0}).ok());
  EXPECT_EQ(s1->durable_lsn(), 0u);
  EXPECT_FALSE(Progress(1).has_value());
  ASSERT_TRUE(s1->Poll(0ms).ok());
  EXPECT_FALSE(Progress(1).has_value());
  EXPECT_TRUE(Query(1, "SELECT * FROM items").empty());

  std::this_thread::sleep_until(opened + 1100ms);
  ASSERT_TRUE(s1->Poll(0ms).ok());
  EXPECT_EQ(Progress(1), "0/1000");
  EXPECT_EQ(s1->durable_lsn(), 0x1000u);

  // The next idle bump is due a second after that write; Poll waits for it.
  ASSERT_TRUE(s1->Apply({Txn(0x2000, {Insert(items_, Item(KeyOn(0, 1), "s0 only"))})}).ok());
  EXPECT_EQ(Progress(1), "0/1000");
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(s1->Poll(3000ms).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 800ms);
  EXPECT_EQ(Progress(1), "0/2000");
  EXPECT_EQ(s1->durable_lsn(), 0x2000u);
  EXPECT_TRUE(Query(1, "SELECT * FROM items").empty());
}

TEST_F(ShardSinkTest, UnreachableServerIsUnavailableWithoutThePassword) {
  ShardSink::Options o;
  o.destination = "s9@test";
  o.shard_id = "s9";
  o.dsn = "host=127.0.0.1 port=1 user=nobody password=sekrit dbname=none connect_timeout=2";
  ShardSink sink(o);
  auto opened = sink.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kUnavailable);
  EXPECT_EQ(opened.status().message().find("sekrit"), std::string::npos) << opened.status().message();
  EXPECT_NE(opened.status().message().find("s9@test"), std::string::npos) << opened.status().message();
}

}  // namespace
}  // namespace shardcast
