#include "daemon/source_setup.h"

#include <algorithm>

namespace shardcast {

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

StatusOr<TableSpec> ResolveTable(const TableConfig& tc, SourceCatalog& catalog) {
  const std::string qname = tc.schema + "." + tc.name;
  auto info = catalog.DescribeTable(tc.schema, tc.name);
  if (!info.ok()) {
    if (info.status().code() == Code::kNotFound)
      return ConfigError("table " + qname + " is configured but does not exist on the source");
    return info.status();
  }
  TableSpec spec;
  spec.schema = tc.schema;
  spec.name = tc.name;
  spec.mode = tc.reference ? TableMode::kReference : TableMode::kDistributed;
  spec.primary_key = info->primary_key;
  if (spec.primary_key.empty())
    return FailedPrecondition("table " + qname +
                              " has no primary key; shards apply updates and deletes by primary key: "
                              "ALTER TABLE " +
                              qname + " ADD PRIMARY KEY (...)");
  if (info->replica_identity == 'n')
    return FailedPrecondition("table " + qname +
                              " has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be "
                              "replicated: ALTER TABLE " +
                              qname + " REPLICA IDENTITY DEFAULT");
  if (spec.mode == TableMode::kDistributed) {
    spec.shard_key = tc.shard_key.empty() ? spec.primary_key : tc.shard_key;
    for (const auto& col : spec.shard_key) {
      if (!Contains(info->columns, col))
        return ConfigError("tables: shard_key column " + col + " does not exist in " + qname +
                           " (columns: " + Join(info->columns) + ")");
      if (!Contains(info->identity_columns, col))
        return ConfigError("table " + qname + ": shard key column " + col +
                           " is not covered by the replica identity, so deletes and key-moving "
                           "updates could not be routed: ALTER TABLE " +
                           qname + " REPLICA IDENTITY FULL");
    }
  }
  return spec;
}

}  // namespace

StatusOr<std::vector<TableSpec>> ResolveTables(const Config& config, SourceCatalog& catalog) {
  SC_ASSIGN_OR_RETURN(std::string wal_level, catalog.WalLevel());
  if (wal_level != "logical")
    return FailedPrecondition("source wal_level is " + wal_level +
                              ", logical replication needs wal_level = logical "
                              "(ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL)");
  std::vector<TableSpec> specs;
  for (const auto& tc : config.tables) {
    SC_ASSIGN_OR_RETURN(TableSpec spec, ResolveTable(tc, catalog));
    specs.push_back(std::move(spec));
  }
  return specs;
}

StatusOr<Ring> RingFromConfig(const Config& config) {
  std::vector<ShardDef> defs;
  for (const auto& s : config.shards) defs.push_back({s.id, s.weight});
  if (defs.empty()) defs.push_back({"feed", 1});  // Kafka-only: one pseudo shard names the owner
  return Ring::Build(std::move(defs), config.vnodes_per_weight, 1);
}

std::string RingDefinition(const Config& config) {
  std::string def = "v1 vnodes=" + std::to_string(config.vnodes_per_weight);
  for (const auto& s : config.shards) def += " " + s.id + ":" + std::to_string(s.weight);
  return def;
}

}  // namespace shardcast
