#include "daemon/verify_compare.h"

#include <map>
#include <set>

namespace shardcast {

bool AssignedTo(const VerifySourceRow& row, std::size_t shard, bool reference) {
  return reference || row.owner == shard;
}

RangeSum ExpectedSum(const std::vector<VerifySourceRow>& rows, std::size_t shard, bool reference) {
  RangeSum s;
  for (const auto& row : rows) {
    if (!AssignedTo(row, shard, reference)) continue;
    ++s.count;
    s.sum += row.hash;  // wraps, as the shard side's sum is taken mod 2^64
  }
  return s;
}

const char* FindingKindName(FindingKind kind) {
  switch (kind) {
    case FindingKind::kMissing:
      return "missing";
    case FindingKind::kExtra:
      return "extra";
    case FindingKind::kMisplaced:
      return "misplaced";
    case FindingKind::kDiffering:
      return "differing";
  }
  return "unknown";
}

std::vector<Finding> ClassifyRange(const std::vector<VerifySourceRow>& source,
                                   const std::vector<VerifyDestRow>& dest,
                                   const VerifyDestination& destination, bool reference,
                                   const std::vector<std::string>& shard_ids) {
  std::map<std::vector<std::string>, std::uint64_t> on_dest;
  for (const auto& row : dest) on_dest.emplace(row.key, row.hash);
  std::set<std::vector<std::string>> in_source;

  auto shard_name = [&](std::size_t index) {
    return index < shard_ids.size() ? shard_ids[index] : std::to_string(index);
  };
  std::vector<Finding> out;
  for (const auto& row : source) {
    in_source.insert(row.key);
    const auto found = on_dest.find(row.key);
    const bool assigned = AssignedTo(row, destination.shard, reference);
    const std::string expected = shard_name(reference ? destination.shard : row.owner);
    if (assigned && found == on_dest.end())
      out.push_back({FindingKind::kMissing, row.key, destination.id, expected});
    else if (assigned && found->second != row.hash)
      out.push_back({FindingKind::kDiffering, row.key, destination.id, expected});
    else if (!assigned && found != on_dest.end())
      out.push_back({FindingKind::kMisplaced, row.key, destination.id, expected});
  }
  for (const auto& row : dest)
    if (!in_source.count(row.key)) out.push_back({FindingKind::kExtra, row.key, destination.id, ""});
  return out;
}

void TableVerdict::Add(Finding finding) {
  const auto kind = static_cast<std::size_t>(finding.kind);
  if (counts[kind]++ < static_cast<std::int64_t>(kFindingsPerKind)) findings.push_back(std::move(finding));
}

bool TableVerdict::identical() const {
  for (auto c : counts)
    if (c != 0) return false;
  return true;
}

std::string FormatKey(const std::vector<std::string>& columns, const std::vector<std::string>& values) {
  std::string names, vals;
  for (std::size_t i = 0; i < columns.size(); ++i) names += (i ? ", " : "") + columns[i];
  for (std::size_t i = 0; i < values.size(); ++i) vals += (i ? ", " : "") + values[i];
  return "(" + names + ")=(" + vals + ")";
}

}  // namespace shardcast
