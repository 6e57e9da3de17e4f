// How `shardcast verify` prints its outcome: a summary table with the first
// findings below it, or one JSON object (--json).
#pragma once

#include <string>
#include <vector>

#include "common/lsn.h"
#include "daemon/verify_compare.h"

namespace shardcast {

struct VerifyOutcome {
  Lsn position = 0;   // the snapshot's LSN: the source was read as of it
  bool held = false;  // a daemon held the shards at position while they were read
  std::vector<TableVerdict> tables;

  bool identical() const;
};

// table | source rows | missing | extra | misplaced | differing, then up to
// TableVerdict::kFindingsPerKind findings per table and kind, one a line.
std::string FormatVerifyText(const VerifyOutcome& outcome);
// {"position","identical","held","tables":[{"table","source_rows","missing",
// "extra","misplaced","differing","findings":[{"kind","key","destination",
// "expected_shard"}]}]}; expected_shard is null for extra rows.
std::string FormatVerifyJson(const VerifyOutcome& outcome);

}  // namespace shardcast
