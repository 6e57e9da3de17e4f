// Compares one table of the source (read through the verify snapshot) with
// every shard database: per key range, count and hash sum on each
// destination, then row by row where those differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cdc/snapshot_reader.h"
#include "common/status.h"
#include "daemon/verify_compare.h"
#include "pq/pq_util.h"
#include "sharding/ring.h"
#include "sharding/table_spec.h"

namespace shardcast {

// A shard database to compare, with its open pinned connection (inside one
// REPEATABLE READ transaction, so every range sees the same shard state).
struct VerifyShardConn {
  VerifyDestination destination;
  PgConnPtr conn;
};

// kFailedPrecondition naming the destination when the table does not exist
// there; kUnavailable when a shard drops its connection.
StatusOr<TableVerdict> VerifyTable(SnapshotReader& reader, const TableSpec& spec, const Ring& ring,
                                   std::vector<VerifyShardConn>& shards, std::int64_t chunk_rows);

}  // namespace shardcast
