#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sharding/router.h"

namespace shardcast {
namespace {

// Built with append: GCC 12 -O2 warns falsely (-Wrestrict, PR 105329) on "s" + to_string.
std::string ShardId(int i) {
  std::string id = "s";
  id += std::to_string(i);
  return id;
}

// Owners on s0..s3 (weight 1, 1024 vnodes), cross-checked with xxhsum and a
// python3 ring (see sharding_ring_test.cpp): "1"->s2, "2"->s1, "42"->s3,
// "hello"->s0, NULL->s2, ("7","acme")->s3.
constexpr std::int32_t kOwnerOf1 = 2;
constexpr std::int32_t kOwnerOf2 = 1;
constexpr std::int32_t kOwnerOf42 = 3;
constexpr std::int32_t kOwnerOfHello = 0;
constexpr std::int32_t kOwnerOfNull = 2;
constexpr std::int32_t kOwnerOf7Acme = 3;
constexpr std::int32_t kShards = 4;

Value T(std::string s) {
  return Value::Text(std::move(s));
}
Value U() {
  return {Value::Kind::kUnchanged, {}};
}
Value N() {
  return Value::Null();
}

std::shared_ptr<const Relation> Rel(std::string schema, std::string name,
                                    std::vector<std::pair<std::string, bool>> cols) {
  auto r = std::make_shared<Relation>();
  r->schema = std::move(schema);
  r->name = std::move(name);
  for (auto& [col, ident] : cols) r->columns.push_back({col, 25, -1, ident});
  return r;
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<ShardDef> shards;
    for (int i = 0; i < kShards; ++i) shards.push_back({ShardId(i), 1});
    auto ring = Ring::Build(shards, 1024, 7);
    ASSERT_TRUE(ring.ok());
    ring_ = std::make_shared<const Ring>(std::move(ring).value());
    std::vector<TableSpec> tables = {
        {"public", "orders", TableMode::kDistributed, {"account_id"}, {"id"}},
        {"public", "accounts", TableMode::kDistributed, {"id"}, {"id"}},
        {"public", "countries", TableMode::kReference, {}, {"code"}},
        {"app", "pairs", TableMode::kDistributed, {"a", "b"}, {"a", "b"}},
    };
    router_ = std::make_unique<Router>(std::move(tables), ring_);
  }

  // orders(id PK, account_id, note): the shard key is outside the identity.
  std::shared_ptr<const Relation> orders_ =
      Rel("public", "orders", {{"id", true}, {"account_id", false}, {"note", false}});
  // accounts(id PK, big): shard key == identity.
  std::shared_ptr<const Relation> accounts_ = Rel("public", "accounts", {{"id", true}, {"big", false}});
  std::shared_ptr<const Relation> countries_ = Rel("public", "countries", {{"code", true}, {"name", false}});
  std::shared_ptr<const Relation> logs_ = Rel("public", "logs", {{"id", true}});
  std::shared_ptr<const Relation> pairs_ = Rel("app", "pairs", {{"a", true}, {"b", true}});

  std::shared_ptr<const Ring> ring_;
  std::unique_ptr<Router> router_;

  StatusOr<std::shared_ptr<const RoutedTransaction>> RouteOne(Change c) {
    auto txn = std::make_shared<Transaction>();
    txn->xid = 900;
    txn->changes.push_back(std::move(c));
    return router_->Route(txn);
  }

  Placement MustRouteOne(Change c) {
    auto r = RouteOne(std::move(c));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ((*r)->placements.size(), 1u);
    return (*r)->placements.at(0);
  }

  // Actions of shards 0..3 for one change.
  std::vector<ShardAction> Actions(const Change& c, const Placement& p) {
    std::vector<ShardAction> out;
    for (int s = 0; s < kShards; ++s) out.push_back(ActionFor(c, p, s));
    return out;
  }

  static std::vector<ShardAction> Only(std::int32_t shard, ShardAction a) {
    std::vector<ShardAction> out(kShards, ShardAction::kSkip);
    out[shard] = a;
    return out;
  }

  static void ExpectFullIdentityError(const Status& s, const std::string& column) {
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
    EXPECT_NE(s.message().find("public.orders"), std::string::npos) << s.message();
    if (!column.empty()) {
      EXPECT_NE(s.message().find(column), std::string::npos) << s.message();
    }
    EXPECT_NE(s.message().find("ALTER TABLE public.orders REPLICA IDENTITY FULL"), std::string::npos)
        << s.message();
  }
};

Change Insert(std::shared_ptr<const Relation> rel, Tuple t) {
  Change c;
  c.op = Op::kInsert;
  c.relation = std::move(rel);
  c.new_tuple = std::move(t);
  return c;
}

Change Delete(std::shared_ptr<const Relation> rel, char kind, Tuple old_t) {
  Change c;
  c.op = Op::kDelete;
  c.relation = std::move(rel);
  c.old_kind = kind;
  c.old_tuple = std::move(old_t);
  return c;
}

Change Update(std::shared_ptr<const Relation> rel, char kind, Tuple old_t, Tuple new_t) {
  Change c;
  c.op = Op::kUpdate;
  c.relation = std::move(rel);
  c.old_kind = kind;
  c.old_tuple = std::move(old_t);
  c.new_tuple = std::move(new_t);
  return c;
}

TEST_F(RouterTest, InsertGoesToTheOwnerOfTheNewRow) {
  Change c = Insert(orders_, {T("1"), T("42"), T("x")});
  Placement p = MustRouteOne(c);
  ASSERT_NE(p.table, nullptr);
  EXPECT_EQ(p.table->name, "orders");
  EXPECT_EQ(p.new_owner, kOwnerOf42);
  EXPECT_EQ(p.old_owner, Placement::kNone);
  EXPECT_TRUE(p.full_new.empty());
  EXPECT_EQ(Actions(c, p), Only(kOwnerOf42, ShardAction::kInsert));
}

Change Read(std::shared_ptr<const Relation> rel, Tuple t) {
  Change c = Insert(std::move(rel), std::move(t));
  c.op = Op::kRead;
  return c;
}

TEST_F(RouterTest, SnapshotReadIsUpsertedByTheOwnerOfItsRow) {
  Change c = Read(orders_, {T("1"), T("42"), T("x")});
  Placement p = MustRouteOne(c);
  ASSERT_NE(p.table, nullptr);
  EXPECT_EQ(p.new_owner, kOwnerOf42);
  EXPECT_EQ(p.old_owner, Placement::kNone);
  EXPECT_TRUE(p.full_new.empty());
  EXPECT_EQ(Actions(c, p), Only(kOwnerOf42, ShardAction::kUpsert));
  // Owned by the shard key, not the primary key: id 42 alone would go elsewhere.
  Change other = Read(orders_, {T("42"), T("hello"), T("x")});
  EXPECT_EQ(Actions(other, MustRouteOne(other)), Only(kOwnerOfHello, ShardAction::kUpsert));
  Change pair = Read(pairs_, {T("7"), T("acme")});
  EXPECT_EQ(Actions(pair, MustRouteOne(pair)), Only(kOwnerOf7Acme, ShardAction::kUpsert));
}

// Inside a backfill window the watermark coordinator marks whole-row inserts
// and updates as upserts: the chunk may not have written the row yet.
TEST_F(RouterTest, ChangesMarkedUpsertAreUpsertedByTheirOwner) {
  Change ins = Insert(orders_, {T("1"), T("42"), T("x")});
  ins.upsert = true;
  EXPECT_EQ(Actions(ins, MustRouteOne(ins)), Only(kOwnerOf42, ShardAction::kUpsert));
  Change same = Update(orders_, 'O', {T("1"), T("42"), T("x")}, {T("1"), T("42"), T("y")});
  same.upsert = true;
  EXPECT_EQ(Actions(same, MustRouteOne(same)), Only(kOwnerOf42, ShardAction::kUpsert));
  // A move: delete on the old owner, upsert on the new one.
  Change move = Update(orders_, 'O', {T("1"), T("hello"), T("x")}, {T("1"), T("42"), T("x")});
  move.upsert = true;
  auto actions = Actions(move, MustRouteOne(move));
  EXPECT_EQ(actions[kOwnerOfHello], ShardAction::kDelete);
  EXPECT_EQ(actions[kOwnerOf42], ShardAction::kUpsert);
  // Unmarked, the same changes are a plain insert and update.
  same.upsert = false;
  EXPECT_EQ(Actions(same, MustRouteOne(same)), Only(kOwnerOf42, ShardAction::kUpdate));
}

TEST_F(RouterTest, SnapshotReadOfAReferenceTableGoesEverywhereAndOfOthersNowhere) {
  Change c = Read(countries_, {T("fr"), T("France")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.new_owner, Placement::kAll);
  EXPECT_EQ(Actions(c, p), std::vector<ShardAction>(kShards, ShardAction::kUpsert));
  Change unlisted = Read(logs_, {T("1")});
  Placement q = MustRouteOne(unlisted);
  EXPECT_EQ(q.table, nullptr);
  EXPECT_EQ(Actions(unlisted, q), std::vector<ShardAction>(kShards, ShardAction::kSkip));
}

TEST_F(RouterTest, SnapshotReadLackingItsShardKeyIsCorruption) {
  auto r = RouteOne(Read(orders_, {T("1")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("account_id"), std::string::npos) << r.status().message();
}

TEST_F(RouterTest, NullAndMultiColumnKeys) {
  EXPECT_EQ(MustRouteOne(Insert(orders_, {T("1"), N(), N()})).new_owner, kOwnerOfNull);
  EXPECT_EQ(MustRouteOne(Insert(pairs_, {T("7"), T("acme")})).new_owner, kOwnerOf7Acme);
}

TEST_F(RouterTest, DeleteWithFullOldRowGoesToItsOwner) {
  Change c = Delete(orders_, 'O', {T("1"), T("hello"), T("x")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.old_owner, kOwnerOfHello);
  EXPECT_EQ(Actions(c, p), Only(kOwnerOfHello, ShardAction::kDelete));
}

TEST_F(RouterTest, DeleteByIdentityKeyWhenTheShardKeyIsTheIdentity) {
  Change c = Delete(accounts_, 'K', {T("2"), N()});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.old_owner, kOwnerOf2);
  EXPECT_EQ(Actions(c, p), Only(kOwnerOf2, ShardAction::kDelete));
}

TEST_F(RouterTest, DeleteWithoutTheShardKeyNamesTheFix) {
  // REPLICA IDENTITY DEFAULT: only id is sent, account_id arrives as NULL.
  auto r = RouteOne(Delete(orders_, 'K', {T("1"), N(), N()}));
  ASSERT_FALSE(r.ok());
  ExpectFullIdentityError(r.status(), "account_id");
  EXPECT_NE(r.status().message().find("DELETE"), std::string::npos);
}

TEST_F(RouterTest, UpdateWithoutOldRowKeepsItsOwner) {
  Change c = Update(orders_, 0, {}, {T("1"), T("42"), T("y")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.old_owner, kOwnerOf42);
  EXPECT_EQ(p.new_owner, kOwnerOf42);
  EXPECT_TRUE(p.full_new.empty());
  EXPECT_EQ(Actions(c, p), Only(kOwnerOf42, ShardAction::kUpdate));
}

TEST_F(RouterTest, UpdateWithFullOldRowSameOwnerIsAnUpdate) {
  Change c = Update(orders_, 'O', {T("1"), T("42"), T("x")}, {T("1"), T("42"), U()});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.old_owner, kOwnerOf42);
  EXPECT_EQ(p.new_owner, kOwnerOf42);
  EXPECT_TRUE(p.full_new.empty());
  EXPECT_EQ(Actions(c, p), Only(kOwnerOf42, ShardAction::kUpdate));
}

TEST_F(RouterTest, UnchangedShardKeyIsTakenFromTheOldRow) {
  // A TOASTed shard key that did not change arrives as 'u' in the new row.
  Change c = Update(orders_, 'O', {T("1"), T("hello"), T("x")}, {T("1"), U(), T("y")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.new_owner, kOwnerOfHello);
  EXPECT_EQ(p.old_owner, kOwnerOfHello);
}

TEST_F(RouterTest, UnchangedShardKeyWithoutOldRowNamesTheFix) {
  auto r = RouteOne(Update(orders_, 0, {}, {T("1"), U(), T("y")}));
  ASSERT_FALSE(r.ok());
  ExpectFullIdentityError(r.status(), "account_id");
}

TEST_F(RouterTest, MovingUpdateDeletesOnOldAndInsertsFullRowOnNew) {
  Change c = Update(orders_, 'O', {T("1"), T("42"), T("big note")}, {T("1"), T("2"), U()});
  Placement p = MustRouteOne(c);
  ASSERT_NE(kOwnerOf42, kOwnerOf2);
  EXPECT_EQ(p.old_owner, kOwnerOf42);
  EXPECT_EQ(p.new_owner, kOwnerOf2);
  ASSERT_EQ(p.full_new.size(), 3u);
  EXPECT_EQ(p.full_new[0].text, "1");
  EXPECT_EQ(p.full_new[1].text, "2");
  EXPECT_EQ(p.full_new[2].kind, Value::Kind::kText);
  EXPECT_EQ(p.full_new[2].text, "big note");
  std::vector<ShardAction> want(kShards, ShardAction::kSkip);
  want[kOwnerOf42] = ShardAction::kDelete;
  want[kOwnerOf2] = ShardAction::kInsert;
  EXPECT_EQ(Actions(c, p), want);
}

TEST_F(RouterTest, MovingUpdateByIdentityKeyWithoutUnchangedValues) {
  Change c = Update(accounts_, 'K', {T("42"), N()}, {T("1"), T("v")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.old_owner, kOwnerOf42);
  EXPECT_EQ(p.new_owner, kOwnerOf1);
  ASSERT_EQ(p.full_new.size(), 2u);
  EXPECT_EQ(p.full_new[1].text, "v");
}

TEST_F(RouterTest, MovingUpdateWithUnchangedValuesNeedsTheWholeOldRow) {
  auto rel = Rel("public", "orders", {{"id", true}, {"account_id", true}, {"note", false}});
  auto r = RouteOne(Update(rel, 'K', {T("1"), T("42"), N()}, {T("1"), T("2"), U()}));
  ASSERT_FALSE(r.ok());
  ExpectFullIdentityError(r.status(), "");
}

TEST_F(RouterTest, UpdateWithIdentityKeyLackingTheShardKeyNamesTheFix) {
  // The primary key changed, so pgoutput sent the old key only.
  auto r = RouteOne(Update(orders_, 'K', {T("1"), N(), N()}, {T("5"), T("42"), T("x")}));
  ASSERT_FALSE(r.ok());
  ExpectFullIdentityError(r.status(), "account_id");
  EXPECT_NE(r.status().message().find("UPDATE"), std::string::npos);
}

TEST_F(RouterTest, ReferenceTablesGoEverywhere) {
  std::vector<Change> changes = {Insert(countries_, {T("fr"), T("France")}),
                                 Update(countries_, 0, {}, {T("fr"), T("France!")}),
                                 Delete(countries_, 'K', {T("fr"), N()})};
  const ShardAction want[] = {ShardAction::kInsert, ShardAction::kUpdate, ShardAction::kDelete};
  for (std::size_t i = 0; i < changes.size(); ++i) {
    Placement p = MustRouteOne(changes[i]);
    ASSERT_NE(p.table, nullptr);
    EXPECT_EQ(p.table->mode, TableMode::kReference);
    EXPECT_EQ(p.old_owner, Placement::kAll);
    EXPECT_EQ(p.new_owner, Placement::kAll);
    EXPECT_EQ(Actions(changes[i], p), std::vector<ShardAction>(kShards, want[i])) << i;
  }
}

TEST_F(RouterTest, TablesNotConfiguredAreSkipped) {
  Change c = Insert(logs_, {T("1")});
  Placement p = MustRouteOne(c);
  EXPECT_EQ(p.table, nullptr);
  EXPECT_EQ(Actions(c, p), std::vector<ShardAction>(kShards, ShardAction::kSkip));
}

TEST_F(RouterTest, TruncateGoesToEveryShard) {
  Change c;
  c.op = Op::kTruncate;
  c.truncated = {logs_, orders_, countries_};
  Placement p = MustRouteOne(c);
  ASSERT_NE(p.table, nullptr);
  EXPECT_EQ(p.table->name, "orders");  // the first configured relation
  EXPECT_EQ(p.old_owner, Placement::kAll);
  EXPECT_EQ(p.new_owner, Placement::kAll);
  EXPECT_EQ(Actions(c, p), std::vector<ShardAction>(kShards, ShardAction::kTruncate));

  Change only_logs;
  only_logs.op = Op::kTruncate;
  only_logs.truncated = {logs_};
  Placement q = MustRouteOne(only_logs);
  EXPECT_EQ(q.table, nullptr);
  EXPECT_EQ(Actions(only_logs, q), std::vector<ShardAction>(kShards, ShardAction::kSkip));
}

TEST_F(RouterTest, RoutedTransactionCarriesRingAndOnePlacementPerChange) {
  auto txn = std::make_shared<Transaction>();
  txn->approx_bytes = 1000;
  txn->changes = {Insert(orders_, {T("1"), T("42"), T("a")}), Insert(logs_, {T("1")}),
                  Update(orders_, 'O', {T("1"), T("42"), T("a")}, {T("1"), T("2"), T("a")}),
                  Insert(orders_, {T("2"), T("hello"), T("b")})};
  auto r = router_->Route(txn);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RoutedTransaction& rt = **r;
  EXPECT_EQ(rt.txn, txn);
  EXPECT_EQ(rt.ring, ring_);
  EXPECT_EQ(rt.epoch, 7u);
  EXPECT_GE(rt.approx_bytes, 1000 + 4 * sizeof(Placement));
  ASSERT_EQ(rt.placements.size(), 4u);
  EXPECT_EQ(rt.placements[0].new_owner, kOwnerOf42);
  EXPECT_EQ(rt.placements[1].table, nullptr);
  EXPECT_EQ(rt.placements[2].new_owner, kOwnerOf2);
  EXPECT_EQ(rt.placements[3].new_owner, kOwnerOfHello);
}

TEST_F(RouterTest, ANewRelationObjectMidTransactionIsResolvedAgain) {
  // A schema change sends a new Relation: the key column moved position.
  auto altered = Rel("public", "orders", {{"account_id", false}, {"id", true}, {"note", false}});
  auto txn = std::make_shared<Transaction>();
  txn->changes = {Insert(orders_, {T("1"), T("42"), T("a")}), Insert(altered, {T("hello"), T("1"), T("a")})};
  auto r = router_->Route(txn);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->placements[0].new_owner, kOwnerOf42);
  EXPECT_EQ((*r)->placements[1].new_owner, kOwnerOfHello);
}

TEST_F(RouterTest, ShardKeyColumnMissingFromTheSourceIsAnError) {
  auto rel = Rel("public", "orders", {{"id", true}, {"note", false}});
  auto r = RouteOne(Insert(rel, {T("1"), T("x")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("public.orders"), std::string::npos);
  EXPECT_NE(r.status().message().find("account_id"), std::string::npos);
}

TEST_F(RouterTest, ShortTupleIsCorruptionNotACrash) {
  auto r = RouteOne(Insert(orders_, {T("1")}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST_F(RouterTest, FindAndCopiesOwnTheirTables) {
  EXPECT_NE(router_->Find("public", "orders"), nullptr);
  EXPECT_EQ(router_->Find("public", "logs"), nullptr);
  EXPECT_EQ(router_->Find("public.orders", ""), nullptr);
  Router copy = *router_;
  router_.reset();  // the copy must not point into the destroyed original
  const TableSpec* t = copy.Find("public", "countries");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->mode, TableMode::kReference);
  EXPECT_EQ(t, &copy.tables()[2]);
  Router moved = std::move(copy);
  EXPECT_EQ(moved.Find("public", "countries"), &moved.tables()[2]);
}

}  // namespace
}  // namespace shardcast
