#include "daemon/verify_sql.h"

#include <charconv>

#include "pq/pq_util.h"

namespace shardcast {

namespace {

std::string JoinIdents(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + QuoteIdent(c);
  return out;
}

std::string KeyTuple(const std::vector<std::string>& primary_key) {
  const std::string cols = JoinIdents(primary_key);
  return primary_key.size() == 1 ? cols : "(" + cols + ")";
}

std::string Literals(const Tuple& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + QuoteLiteral(v.text);
  return values.size() == 1 ? out : "(" + out + ")";
}

std::string QualifiedName(const VerifyTableShape& t) {
  return QuoteIdent(t.schema) + "." + QuoteIdent(t.name);
}

}  // namespace

std::string RowHashExpr(const std::vector<std::string>& columns) {
  return "('x'||substr(md5(ROW(" + JoinIdents(columns) + ")::text),1,16))::bit(64)::bigint";
}

std::string RangePredicate(const std::vector<std::string>& primary_key, const KeyRange& range) {
  std::string out;
  const std::string key = KeyTuple(primary_key);
  if (range.after) out = key + " > " + Literals(*range.after);
  if (range.upto) out += (out.empty() ? "" : " AND ") + key + " <= " + Literals(*range.upto);
  return out.empty() ? "TRUE" : out;
}

std::string SourceRowsSql(const VerifyTableShape& t, const KeyRange& range) {
  std::string select = JoinIdents(t.primary_key);
  if (!t.shard_key.empty()) select += ", " + JoinIdents(t.shard_key);
  return "SELECT " + select + ", " + RowHashExpr(t.columns) + " FROM " + QualifiedName(t) + " WHERE " +
         RangePredicate(t.primary_key, range) + " ORDER BY " + JoinIdents(t.primary_key);
}

std::string DestSumSql(const VerifyTableShape& t, const KeyRange& range) {
  // sum(bigint) is numeric, exact; folding it into [0, 2^64) matches the
  // client's wrapping sum without 128-bit arithmetic there.
  return "SELECT count(*), ((coalesce(sum(h), 0) % 18446744073709551616) + 18446744073709551616) % "
         "18446744073709551616 FROM (SELECT " +
         RowHashExpr(t.columns) + " AS h FROM " + QualifiedName(t) + " WHERE " +
         RangePredicate(t.primary_key, range) + ") AS rows";
}

std::string DestRowsSql(const VerifyTableShape& t, const KeyRange& range) {
  return "SELECT " + JoinIdents(t.primary_key) + ", " + RowHashExpr(t.columns) + " FROM " + QualifiedName(t) +
         " WHERE " + RangePredicate(t.primary_key, range) + " ORDER BY " + JoinIdents(t.primary_key);
}

std::optional<std::uint64_t> ParseRowHash(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return static_cast<std::uint64_t>(v);
}

std::optional<std::uint64_t> ParseHashSum(std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace shardcast
