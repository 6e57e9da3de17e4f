// How one source table is replicated, resolved from the config and the
// source catalog at start (primary key columns come from pg_index).
#pragma once

#include <string>
#include <vector>

namespace shardcast {

enum class TableMode { kDistributed, kReference };

struct TableSpec {
  std::string schema;
  std::string name;
  TableMode mode = TableMode::kDistributed;
  std::vector<std::string> shard_key;    // distributed only; defaults to the primary key
  std::vector<std::string> primary_key;  // from the source catalog

  std::string QualifiedName() const { return schema + "." + name; }
};

}  // namespace shardcast
