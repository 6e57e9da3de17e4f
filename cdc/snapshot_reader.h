// Reads tables of the source for the initial snapshot, backfill chunks and
// verify: one ordinary (non-replication) connection with the pinned
// settings, optionally inside a transaction that imports an exported
// snapshot. Rows are read in primary-key order, by key ranges; key values
// travel as text (what pgoutput and COPY print) and go back into SQL as
// untyped literals, so they compare in the column's own type.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"

namespace shardcast {

// A range of primary-key values, (after, upto]: after exclusive, upto
// inclusive, each the key columns' text values in key order; nullopt is
// unbounded on that side.
struct KeyRange {
  std::optional<Tuple> after;
  std::optional<Tuple> upto;
};

// A table as the snapshot reads it: the relation (columns, type OIDs and
// modifiers, replica identity, as pgoutput would describe it; generated and
// dropped columns excluded) and the primary-key columns in key order.
struct SnapshotTable {
  std::shared_ptr<const Relation> relation;
  std::vector<std::string> primary_key;
  std::vector<int> key_index;  // relation column index of each primary-key column
};

class SnapshotReader {
 public:
  // dsn: the user's source DSN; pinned settings are added. kUnavailable when
  // the server is down.
  static StatusOr<std::unique_ptr<SnapshotReader>> Connect(const std::string& dsn);
  ~SnapshotReader();

  // BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION
  // SNAPSHOT name. Every later read sees that snapshot until Finish().
  Status ImportSnapshot(const std::string& snapshot_name);
  // Ends the snapshot transaction (COMMIT).
  Status Finish();

  // kNotFound naming the table when it does not exist; kFailedPrecondition
  // when it has no primary key.
  StatusOr<SnapshotTable> Describe(const std::string& schema, const std::string& name);

  // Splits the table into ranges of about chunk_rows rows in key order,
  // with one index-only pass: returns the ranges, covering the whole key
  // space ((nullopt, b1], (b1, b2], ..., (bn, nullopt)). Also returns the
  // number of rows counted in *rows when rows is not null.
  StatusOr<std::vector<KeyRange>> PlanRanges(const SnapshotTable& table, std::int64_t chunk_rows,
                                             std::int64_t* rows = nullptr);

  // COPY (SELECT columns FROM table WHERE key in range ORDER BY key) TO
  // STDOUT in text format; on_line gets each line without its newline. A
  // failing callback stops the copy (the connection is then reset) and its
  // Status is returned.
  Status CopyRange(const SnapshotTable& table, const KeyRange& range,
                   const std::function<Status(std::string_view line)>& on_line);

  // At most limit rows of the range in key order, as text tuples (the
  // keyset page of a backfill chunk). The caller continues after the last
  // row's key.
  StatusOr<std::vector<Tuple>> ReadRange(const SnapshotTable& table, const KeyRange& range,
                                         std::int64_t limit);

  // The current rows of the given keys (key tuples in key order); keys that
  // no longer exist are absent from the result.
  StatusOr<std::vector<Tuple>> ReadKeys(const SnapshotTable& table, const std::vector<Tuple>& keys);

  // Runs a statement outside of any result handling (e.g. a watermark
  // INSERT); fails with the server's message.
  Status Exec(const std::string& sql);
  // Rows of a query as text tuples.
  StatusOr<std::vector<Tuple>> Query(const std::string& sql);

 private:
  SnapshotReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The key columns of a row (by key_index) as a tuple.
Tuple KeyOf(const SnapshotTable& table, const Tuple& row);

}  // namespace shardcast
