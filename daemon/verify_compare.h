// The pure part of `shardcast verify`: what each destination should hold of
// a key range (count and hash sum from placement), and, where a destination's
// sums differ, which keys are missing, extra, misplaced or differing there.
// No servers: the caller reads the rows (daemon/verify_sql.h builds the SQL).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace shardcast {

// A row of the source at the verify snapshot: its primary-key values (text,
// key order), its row hash and the ring's owner (index into the shard list;
// unused for reference tables).
struct VerifySourceRow {
  std::vector<std::string> key;
  std::uint64_t hash = 0;
  std::size_t owner = 0;
};

// A row found on one destination.
struct VerifyDestRow {
  std::vector<std::string> key;
  std::uint64_t hash = 0;
};

// One shard database: "<shard>@<region>" and the shard's index in the ring.
struct VerifyDestination {
  std::string id;
  std::size_t shard = 0;
};

// Row count and hash sum (wrapping mod 2^64) of a range on one destination.
struct RangeSum {
  std::int64_t count = 0;
  std::uint64_t sum = 0;
  bool operator==(const RangeSum&) const = default;
};

// Whether placement puts the row on a destination of shard `shard`:
// distributed rows go to their owner (in every region), reference rows everywhere.
bool AssignedTo(const VerifySourceRow& row, std::size_t shard, bool reference);

// What a destination of shard `shard` should hold of these source rows.
RangeSum ExpectedSum(const std::vector<VerifySourceRow>& rows, std::size_t shard, bool reference);

enum class FindingKind { kMissing = 0, kExtra = 1, kMisplaced = 2, kDiffering = 3 };
inline constexpr std::size_t kFindingKinds = 4;
const char* FindingKindName(FindingKind kind);  // "missing", "extra", ...

struct Finding {
  FindingKind kind = FindingKind::kMissing;
  std::vector<std::string> key;
  std::string destination;     // "<shard>@<region>"
  std::string expected_shard;  // the shard the ring assigns; empty for extra rows
};

// Compares one range of one destination row by row. source: the source rows
// of the range; dest: that destination's rows of the same range. Findings
// come in source key order, then extra rows in destination order.
//   missing:   assigned here, in the source, not on the destination
//   extra:     on the destination, not in the source
//   misplaced: in the source and on the destination, assigned elsewhere
//   differing: assigned here, on both, hashes differ
std::vector<Finding> ClassifyRange(const std::vector<VerifySourceRow>& source,
                                   const std::vector<VerifyDestRow>& dest,
                                   const VerifyDestination& destination, bool reference,
                                   const std::vector<std::string>& shard_ids);

// The outcome for one table: totals per kind and the first
// kFindingsPerKind findings of each kind.
struct TableVerdict {
  static constexpr std::size_t kFindingsPerKind = 20;

  std::string table;  // "schema.table"
  std::vector<std::string> key_columns;
  std::int64_t source_rows = 0;
  std::array<std::int64_t, kFindingKinds> counts{};
  std::vector<Finding> findings;

  void Add(Finding finding);
  std::int64_t count(FindingKind kind) const { return counts[static_cast<std::size_t>(kind)]; }
  bool identical() const;
};

// "(id)=(42)", "(a, b)=(1, x)": the way PostgreSQL names a key in messages.
std::string FormatKey(const std::vector<std::string>& columns, const std::vector<std::string>& values);

}  // namespace shardcast
