// The net effect of a run of whole source transactions on one shard: per
// table and primary key, the row the key ends with, or its absence. Applying
// it (per table: deletes, then inserts, then upserts) leaves the shard's rows
// as applying every change in order would, in a few set-based statements
// instead of one statement per change: a row inserted and updated in the run
// is inserted once, one inserted and deleted is never written.
//
// What changes against the ordered apply (only on a shard that differs from
// the source, or has columns the source does not send):
// - an update whose earlier row is not in the run becomes an upsert of its
//   full new row, so an update of a row the shard lacks inserts it (ordered:
//   updates nothing); an insert of a key the run did not touch before stays a
//   plain INSERT and still fails on a duplicate, and so does an update that
//   moves a row to another primary key; a row inserted and deleted within the
//   run is never written, so a duplicate that insert would have hit goes
//   unnoticed;
// - a key deleted and inserted again is one upsert: shard-only columns keep
//   their values (ordered: their defaults) and row triggers see an update;
// - constraints other than the primary key (unique, foreign keys) are checked
//   per row in the new order, so a run that is valid at its end can fail in
//   the middle. ShardSink then replays that run change by change.
// Add refuses (returns false) what the net effect cannot express: a TRUNCATE,
// an unchanged-TOAST value no earlier change of the run supplies, a change of
// a deleted row, a table whose Relation changed within the run.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "cdc/change.h"
#include "common/lsn.h"
#include "common/status.h"
#include "sharding/router.h"
#include "sink/postgres/sql_builder.h"

namespace shardcast {

class NetEffect {
 public:
  // Folds one change (as ActionFor gave it for this shard) into the run.
  // The Change and Placement must outlive Emit (they live in the batch).
  bool Add(ShardAction action, const Change& change, const Placement& placement, Lsn end_lsn);

  // Appends the run's statements to builder.
  Status Emit(SqlBuilder& builder) const;

  bool empty() const { return tables_.empty(); }
  void Clear() { tables_.clear(); }

 private:
  enum class Kind { kDelete, kInsert, kUpsert };
  struct Entry {
    Kind kind;
    const Tuple* row = nullptr;  // into the batch; nullptr when filled is the row
    Tuple filled;                // the row with unchanged-TOAST values filled in
    Lsn end_lsn = 0;
    const Tuple& Row() const { return row != nullptr ? *row : filled; }
  };
  struct Table {
    const Relation* rel = nullptr;
    const TableSpec* spec = nullptr;
    std::vector<int> key_index;
    std::vector<Entry> entries;
    std::unordered_map<std::string, std::size_t> by_key;  // KeyIdentity -> entries index
  };

  Table* TableFor(const Change& change, const Placement& placement);
  // Sets key's entry to the full row `row`, filling its unchanged-TOAST values
  // from `earlier` (the key's row so far in the run, may be null).
  static bool SetRow(Entry& entry, Kind kind, const Tuple& row, const Entry* earlier, Lsn end_lsn);
  bool Put(Table& t, const Tuple& key_tuple, Kind kind, const Tuple* row, Lsn end_lsn);

  std::vector<Table> tables_;
};

}  // namespace shardcast
