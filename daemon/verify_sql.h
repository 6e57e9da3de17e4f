// The SQL `shardcast verify` runs, the same on the source (inside the
// exported snapshot) and on every shard, so that equal rows hash equally.
// Key bounds go in as untyped literals and compare in the column's own type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/snapshot_reader.h"

namespace shardcast {

// What a verify query needs to know of a table.
struct VerifyTableShape {
  std::string schema;
  std::string name;
  std::vector<std::string> columns;      // the source's columns, source order: the row hash covers these
  std::vector<std::string> primary_key;  // key order
  std::vector<std::string> shard_key;    // empty for reference tables
};

// ('x'||substr(md5(ROW(c1,c2,..)::text),1,16))::bit(64)::bigint: 64 bits of
// the md5 of the row's text form.
std::string RowHashExpr(const std::vector<std::string>& columns);

// The WHERE condition of a range: "TRUE" when unbounded, "k > 'a'",
// "(k1, k2) > ('a', 'b') AND (k1, k2) <= ('c', 'd')" for composite keys.
std::string RangePredicate(const std::vector<std::string>& primary_key, const KeyRange& range);

// Source rows of a range: primary-key values, shard-key values, row hash, in key order.
std::string SourceRowsSql(const VerifyTableShape& t, const KeyRange& range);
// One destination's count and hash sum of a range; the sum is taken mod 2^64
// (non-negative) so that it compares with a wrapping 64-bit sum.
std::string DestSumSql(const VerifyTableShape& t, const KeyRange& range);
// One destination's rows of a range: primary-key values, row hash, in key order.
std::string DestRowsSql(const VerifyTableShape& t, const KeyRange& range);

// A row hash as the server prints a bigint, as the unsigned 64-bit pattern.
std::optional<std::uint64_t> ParseRowHash(std::string_view text);
// A DestSumSql sum (0 .. 2^64-1 in decimal).
std::optional<std::uint64_t> ParseHashSum(std::string_view text);

}  // namespace shardcast
