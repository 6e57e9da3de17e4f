// A snapshot or backfill job as the checkpoint store keeps it: which tables,
// split into primary-key ranges, and how far each range has got. Chunk
// cursors are key values; a range is done when a chunk came back short.
// The same job drives the initial snapshot's remainder after a crash,
// `shardcast snapshot` and (later) rebalancing copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cdc/change.h"
#include "cdc/snapshot_reader.h"
#include "common/status.h"

namespace shardcast {

struct BackfillRange {
  KeyRange range;  // what is left: after = the last key copied
  bool done = false;
  std::uint32_t parts_done = 0;  // chunks finished in this range (names the next one in the chunk log)
};

struct BackfillTable {
  std::string schema;
  std::string name;
  std::vector<BackfillRange> ranges;
  std::uint64_t rows_done = 0;
  std::uint64_t rows_total = 0;  // estimate; 0 = unknown
  std::uint64_t chunks_done = 0;

  std::string QualifiedName() const { return schema + "." + name; }
  bool done() const;
};

enum class JobState { kPending, kRunning, kDone, kFailed };
std::string_view JobStateName(JobState s);

struct BackfillJob {
  std::string id;    // "initial" for the first-start snapshot, "snap-<n>" for shardcast snapshot
  std::string kind;  // "initial" or "backfill"
  JobState state = JobState::kPending;
  std::string error;
  // initial only: the slot's consistent point; the plan (ranges) is known
  // once planned is true, else every table is one unbounded range.
  Lsn consistent_point = 0;
  bool planned = false;
  std::vector<BackfillTable> tables;

  // The next unfinished (table, range), or nullopt when every range is done.
  std::optional<std::pair<std::size_t, std::size_t>> NextRange() const;
  bool finished() const { return !NextRange().has_value(); }

  std::string ToJson() const;
  static StatusOr<BackfillJob> FromJson(const std::string& text);
};

// One unbounded range per table: what a table is before it is planned.
BackfillTable WholeTable(const std::string& schema, const std::string& name);

}  // namespace shardcast
