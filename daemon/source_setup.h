// What the daemon learns from, and ensures on, the source before streaming:
// wal_level, the configured tables' primary keys and replica identity (a
// shard key the replica identity does not cover is a config error naming the
// fix), the publication.
#pragma once

#include <vector>

#include "cdc/source_catalog.h"
#include "common/status.h"
#include "daemon/config.h"
#include "sharding/ring.h"
#include "sharding/table_spec.h"

namespace shardcast {

// Checks wal_level=logical and resolves every configured table. Errors are
// kConfig or kFailedPrecondition and name the table and the fix.
StatusOr<std::vector<TableSpec>> ResolveTables(const Config& config, SourceCatalog& catalog);

// The ring the config describes (epoch 1 until rebalancing exists).
StatusOr<Ring> RingFromConfig(const Config& config);
// A stable text form of a ring definition, stored with its epoch.
std::string RingDefinition(const Config& config);

}  // namespace shardcast
