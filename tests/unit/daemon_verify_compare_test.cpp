// verify's pure parts: expected sums from placement, row-by-row
// classification, per-table totals and caps, the SQL it runs and its reports.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "daemon/verify_compare.h"
#include "daemon/verify_report.h"
#include "daemon/verify_sql.h"

namespace shardcast {
namespace {

const std::vector<std::string> kShards = {"s0", "s1", "s2"};

VerifySourceRow Src(std::string key, std::uint64_t hash, std::size_t owner) {
  return {{std::move(key)}, hash, owner};
}
VerifyDestRow Dst(std::string key, std::uint64_t hash) {
  return {{std::move(key)}, hash};
}

TEST(VerifyExpectedSum, DistributedCountsOnlyTheOwnersRows) {
  std::vector<VerifySourceRow> rows = {Src("1", 10, 0), Src("2", 20, 1), Src("3", 30, 0)};
  EXPECT_EQ(ExpectedSum(rows, 0, false), (RangeSum{2, 40}));
  EXPECT_EQ(ExpectedSum(rows, 1, false), (RangeSum{1, 20}));
  EXPECT_EQ(ExpectedSum(rows, 2, false), (RangeSum{0, 0}));
}

TEST(VerifyExpectedSum, ReferenceRowsBelongEverywhere) {
  std::vector<VerifySourceRow> rows = {Src("a", 1, 0), Src("b", 2, 0)};
  EXPECT_EQ(ExpectedSum(rows, 2, true), (RangeSum{2, 3}));
}

TEST(VerifyExpectedSum, SumWrapsLikeTheShardSideModulo) {
  // Two hashes whose sum overflows 64 bits: the shard folds its exact sum
  // into [0, 2^64), so the client must wrap.
  std::vector<VerifySourceRow> rows = {Src("1", 0xFFFFFFFFFFFFFFF0ull, 0), Src("2", 0x20, 0)};
  EXPECT_EQ(ExpectedSum(rows, 0, false), (RangeSum{2, 0x10}));
}

TEST(VerifyClassify, IdenticalRangeHasNoFindings) {
  std::vector<VerifySourceRow> src = {Src("1", 10, 1), Src("2", 20, 0), Src("3", 30, 1)};
  std::vector<VerifyDestRow> dst = {Dst("1", 10), Dst("3", 30)};
  EXPECT_TRUE(ClassifyRange(src, dst, {"s1@default", 1}, false, kShards).empty());
}

TEST(VerifyClassify, EachKindIsNamedWithItsKeyAndShard) {
  std::vector<VerifySourceRow> src = {
      Src("1", 10, 1),  // missing on s1
      Src("2", 20, 1),  // differing on s1
      Src("3", 30, 2),  // misplaced on s1: the ring says s2
      Src("4", 40, 1),  // fine
      Src("5", 50, 0),  // belongs to s0 and is not here: nothing to say for s1
  };
  std::vector<VerifyDestRow> dst = {Dst("2", 21), Dst("3", 30), Dst("4", 40), Dst("9", 90)};
  auto f = ClassifyRange(src, dst, {"s1@eu", 1}, false, kShards);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].kind, FindingKind::kMissing);
  EXPECT_EQ(f[0].key, std::vector<std::string>{"1"});
  EXPECT_EQ(f[0].destination, "s1@eu");
  EXPECT_EQ(f[0].expected_shard, "s1");
  EXPECT_EQ(f[1].kind, FindingKind::kDiffering);
  EXPECT_EQ(f[1].key, std::vector<std::string>{"2"});
  EXPECT_EQ(f[2].kind, FindingKind::kMisplaced);
  EXPECT_EQ(f[2].key, std::vector<std::string>{"3"});
  EXPECT_EQ(f[2].expected_shard, "s2");
  EXPECT_EQ(f[3].kind, FindingKind::kExtra);
  EXPECT_EQ(f[3].key, std::vector<std::string>{"9"});
  EXPECT_EQ(f[3].expected_shard, "");
}

TEST(VerifyClassify, MisplacedWinsOverDifferentValues) {
  // On the wrong shard with other values: moving it is the fix, so it is misplaced.
  auto f = ClassifyRange({Src("3", 30, 2)}, {Dst("3", 31)}, {"s0@default", 0}, false, kShards);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, FindingKind::kMisplaced);
}

TEST(VerifyClassify, ReferenceTablesAreNeverMisplaced) {
  std::vector<VerifySourceRow> src = {Src("de", 1, 0), Src("fr", 2, 0)};
  auto f = ClassifyRange(src, {Dst("de", 1), Dst("fr", 3)}, {"s2@default", 2}, true, kShards);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, FindingKind::kDiffering);
  EXPECT_EQ(f[0].expected_shard, "s2");
  f = ClassifyRange(src, {Dst("de", 1)}, {"s2@default", 2}, true, kShards);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, FindingKind::kMissing);
}

TEST(VerifyClassify, CompositeKeysMatchOnEveryColumn) {
  std::vector<VerifySourceRow> src = {{{"1", "a"}, 5, 0}};
  std::vector<VerifyDestRow> dst = {{{"1", "b"}, 5}};
  auto f = ClassifyRange(src, dst, {"s0@default", 0}, false, kShards);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].kind, FindingKind::kMissing);
  EXPECT_EQ(f[1].kind, FindingKind::kExtra);
}

TEST(VerifyVerdict, CountsEverythingButKeepsTwentyPerKind) {
  TableVerdict v;
  for (int i = 0; i < 25; ++i) v.Add({FindingKind::kMissing, {std::to_string(i)}, "s0@default", "s0"});
  v.Add({FindingKind::kExtra, {"x"}, "s0@default", ""});
  EXPECT_EQ(v.count(FindingKind::kMissing), 25);
  EXPECT_EQ(v.count(FindingKind::kExtra), 1);
  EXPECT_EQ(v.count(FindingKind::kDiffering), 0);
  EXPECT_EQ(v.findings.size(), 21u);
  EXPECT_FALSE(v.identical());
  EXPECT_TRUE(TableVerdict{}.identical());
}

TEST(VerifyFormat, KeysReadLikePostgresMessages) {
  EXPECT_EQ(FormatKey({"id"}, {"42"}), "(id)=(42)");
  EXPECT_EQ(FormatKey({"a", "b"}, {"1", "x y"}), "(a, b)=(1, x y)");
}

TEST(VerifySql, RangePredicates) {
  EXPECT_EQ(RangePredicate({"id"}, KeyRange{}), "TRUE");
  KeyRange r;
  r.after = Tuple{Value::Text("10")};
  EXPECT_EQ(RangePredicate({"id"}, r), "\"id\" > '10'");
  r.upto = Tuple{Value::Text("o'k")};
  EXPECT_EQ(RangePredicate({"id"}, r), "\"id\" > '10' AND \"id\" <= 'o''k'");
  KeyRange c;
  c.upto = Tuple{Value::Text("1"), Value::Text("b")};
  EXPECT_EQ(RangePredicate({"a", "B"}, c), "(\"a\", \"B\") <= ('1', 'b')");
}

TEST(VerifySql, RowHashCoversTheColumnsInOrder) {
  EXPECT_EQ(RowHashExpr({"id", "note"}),
            "('x'||substr(md5(ROW(\"id\", \"note\")::text),1,16))::bit(64)::bigint");
  VerifyTableShape t{"public", "orders", {"id", "account_id", "note"}, {"id"}, {"account_id"}};
  EXPECT_EQ(SourceRowsSql(t, KeyRange{}), "SELECT \"id\", \"account_id\", " + RowHashExpr(t.columns) +
                                              " FROM \"public\".\"orders\" WHERE TRUE ORDER BY \"id\"");
  EXPECT_EQ(DestRowsSql(t, KeyRange{}), "SELECT \"id\", " + RowHashExpr(t.columns) +
                                            " FROM \"public\".\"orders\" WHERE TRUE ORDER BY \"id\"");
}

TEST(VerifySql, ParsesHashesAndSums) {
  EXPECT_EQ(ParseRowHash("-1"), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(ParseRowHash("42"), 42u);
  EXPECT_EQ(ParseRowHash("4x"), std::nullopt);
  EXPECT_EQ(ParseRowHash(""), std::nullopt);
  EXPECT_EQ(ParseHashSum("18446744073709551615"), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(ParseHashSum("18446744073709551616"), std::nullopt);
}

VerifyOutcome SampleOutcome() {
  VerifyOutcome o;
  o.position = (Lsn{1} << 32) | 0x2A;
  o.held = false;
  TableVerdict ok;
  ok.table = "public.countries";
  ok.key_columns = {"code"};
  ok.source_rows = 5;
  TableVerdict bad;
  bad.table = "public.orders";
  bad.key_columns = {"id"};
  bad.source_rows = 200;
  bad.Add({FindingKind::kMissing, {"7"}, "s1@default", "s1"});
  bad.Add({FindingKind::kMisplaced, {"8"}, "s0@default", "s2"});
  o.tables = {ok, bad};
  return o;
}

TEST(VerifyReport, JsonNamesEveryFinding) {
  auto j = nlohmann::json::parse(FormatVerifyJson(SampleOutcome()));
  EXPECT_EQ(j["position"], "1/2A");
  EXPECT_EQ(j["identical"], false);
  EXPECT_EQ(j["held"], false);
  ASSERT_EQ(j["tables"].size(), 2u);
  EXPECT_EQ(j["tables"][0]["missing"], 0);
  const auto& t = j["tables"][1];
  EXPECT_EQ(t["table"], "public.orders");
  EXPECT_EQ(t["source_rows"], 200);
  EXPECT_EQ(t["missing"], 1);
  EXPECT_EQ(t["misplaced"], 1);
  EXPECT_EQ(t["extra"], 0);
  ASSERT_EQ(t["findings"].size(), 2u);
  EXPECT_EQ(t["findings"][1]["kind"], "misplaced");
  EXPECT_EQ(t["findings"][1]["key"], "(id)=(8)");
  EXPECT_EQ(t["findings"][1]["destination"], "s0@default");
  EXPECT_EQ(t["findings"][1]["expected_shard"], "s2");
}

TEST(VerifyReport, TextHasTheSummaryAndTheFindings) {
  const std::string text = FormatVerifyText(SampleOutcome());
  EXPECT_NE(text.find("table             source rows  missing  extra  misplaced  differing"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("public.orders             200        1      0          1          0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("public.orders: missing (id)=(7) on s1@default\n"), std::string::npos) << text;
  EXPECT_NE(text.find("public.orders: misplaced (id)=(8) on s0@default (the ring assigns it to s2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("may trail"), std::string::npos) << text;
  EXPECT_EQ(text.find("public.countries:"), std::string::npos) << text;
}

TEST(VerifyReport, IdenticalOnlyWhenEveryTableIs) {
  VerifyOutcome o = SampleOutcome();
  EXPECT_FALSE(o.identical());
  o.tables.pop_back();
  EXPECT_TRUE(o.identical());
  EXPECT_EQ(nlohmann::json::parse(FormatVerifyJson(o))["identical"], true);
}

}  // namespace
}  // namespace shardcast
