#include "daemon/verify_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace shardcast {

namespace {

constexpr FindingKind kKinds[] = {FindingKind::kMissing, FindingKind::kExtra, FindingKind::kMisplaced,
                                  FindingKind::kDiffering};

std::string PadRight(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}
std::string PadLeft(const std::string& s, std::size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string DescribeFinding(const TableVerdict& t, const Finding& f) {
  std::string line = t.table + ": " + FindingKindName(f.kind) + " " + FormatKey(t.key_columns, f.key) +
                     " on " + f.destination;
  if (f.kind == FindingKind::kMisplaced) line += " (the ring assigns it to " + f.expected_shard + ")";
  return line;
}

}  // namespace

bool VerifyOutcome::identical() const {
  return std::all_of(tables.begin(), tables.end(), [](const TableVerdict& t) { return t.identical(); });
}

std::string FormatVerifyText(const VerifyOutcome& outcome) {
  const std::vector<std::string> headers = {"table", "source rows", "missing",
                                            "extra", "misplaced",   "differing"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : outcome.tables) {
    std::vector<std::string> row = {t.table, std::to_string(t.source_rows)};
    for (auto kind : kKinds) row.push_back(std::to_string(t.count(kind)));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) {
    width[c] = headers[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto format_row = [&](const std::vector<std::string>& row) {
    std::string line = PadRight(row[0], width[0]);
    for (std::size_t c = 1; c < row.size(); ++c) line += "  " + PadLeft(row[c], width[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };

  std::string out = "verified at source position " + FormatLsn(outcome.position) +
                    (outcome.held ? " (the daemon held the shards there)\n"
                                  : " (no daemon held the shards: they may trail the source)\n");
  out += format_row(headers);
  for (const auto& row : rows) out += format_row(row);
  for (const auto& t : outcome.tables) {
    if (t.identical()) continue;
    out += "\n";
    for (auto kind : kKinds) {
      std::int64_t shown = 0;
      for (const auto& f : t.findings)
        if (f.kind == kind) {
          out += DescribeFinding(t, f) + "\n";
          ++shown;
        }
      if (t.count(kind) > shown)
        out += t.table + ": ... and " + std::to_string(t.count(kind) - shown) + " more " +
               FindingKindName(kind) + "\n";
    }
  }
  out += outcome.identical() ? "\nidentical\n" : "\nthe shards differ from the source\n";
  return out;
}

std::string FormatVerifyJson(const VerifyOutcome& outcome) {
  nlohmann::json j;
  j["position"] = FormatLsn(outcome.position);
  j["identical"] = outcome.identical();
  j["held"] = outcome.held;
  j["tables"] = nlohmann::json::array();
  for (const auto& t : outcome.tables) {
    nlohmann::json jt;
    jt["table"] = t.table;
    jt["source_rows"] = t.source_rows;
    for (auto kind : kKinds) jt[FindingKindName(kind)] = t.count(kind);
    jt["findings"] = nlohmann::json::array();
    for (const auto& f : t.findings) {
      nlohmann::json jf;
      jf["kind"] = FindingKindName(f.kind);
      jf["key"] = FormatKey(t.key_columns, f.key);
      jf["destination"] = f.destination;
      jf["expected_shard"] =
          f.expected_shard.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.expected_shard);
      jt["findings"].push_back(std::move(jf));
    }
    j["tables"].push_back(std::move(jt));
  }
  // dump with error_handler::replace: key text from the servers may hold
  // invalid UTF-8, which must not throw here.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace shardcast
