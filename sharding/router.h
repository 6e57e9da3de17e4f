// Routes each change of a transaction to the shards that must apply it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"
#include "sharding/ring.h"
#include "sharding/table_spec.h"

namespace shardcast {

// Where one change goes. Owners are indexes into the ring's shards().
struct Placement {
  static constexpr std::int32_t kNone = -1;
  static constexpr std::int32_t kAll = -2;  // reference tables and TRUNCATE
  const TableSpec* table = nullptr;         // nullptr: table not replicated, skip everywhere
  // Insert and Read (a snapshot row): new_owner. Delete: old_owner. Update:
  // both; when they differ the update moves the row: delete on old_owner,
  // insert of the full new row on new_owner (unchanged-TOAST values filled
  // from the old row, see full_new).
  std::int32_t old_owner = kNone;
  std::int32_t new_owner = kNone;
  // For a moving update: the new row with unchanged-TOAST values taken from
  // the old row. Empty otherwise.
  Tuple full_new;
};

struct RoutedTransaction {
  std::shared_ptr<const Transaction> txn;
  std::vector<Placement> placements;  // one per txn->changes element
  std::uint64_t epoch = 0;
  std::shared_ptr<const Ring> ring;  // the ring in force at this transaction
  std::size_t approx_bytes = 0;
};

// What a shard does with one change. kUpsert writes a whole row whether or
// not its key is there (a snapshot or backfill read, Op::kRead): INSERT ...
// ON CONFLICT DO UPDATE.
enum class ShardAction { kSkip, kInsert, kUpdate, kDelete, kTruncate, kUpsert };
ShardAction ActionFor(const Change& change, const Placement& p, std::int32_t shard_index);

class Router {
 public:
  Router(std::vector<TableSpec> tables, std::shared_ptr<const Ring> ring);
  // by_name_ points into tables_: a copy rebuilds it for its own tables_; a
  // move keeps tables_' buffer, so the pointers stay valid.
  Router(const Router& other);
  Router& operator=(const Router& other);
  Router(Router&&) = default;
  Router& operator=(Router&&) = default;

  // Fails (naming the table, the column and the fix) when a shard key value
  // cannot be read, e.g. a DELETE under REPLICA IDENTITY DEFAULT whose shard
  // key is outside the primary key, or an UPDATE that moves a row to another
  // shard with unchanged-TOAST values and no whole old row. Placement::table
  // points into this router's tables(): keep the router alive while the
  // RoutedTransaction is in use.
  StatusOr<std::shared_ptr<const RoutedTransaction>> Route(std::shared_ptr<const Transaction> txn) const;

  const TableSpec* Find(const std::string& schema, const std::string& name) const;
  const std::shared_ptr<const Ring>& ring() const { return ring_; }
  const std::vector<TableSpec>& tables() const { return tables_; }

 private:
  std::vector<TableSpec> tables_;
  std::map<std::string, const TableSpec*> by_name_;  // "schema.name"
  std::shared_ptr<const Ring> ring_;
};

}  // namespace shardcast
