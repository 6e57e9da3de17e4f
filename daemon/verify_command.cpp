// `shardcast verify`: compares the source with the shards at one position,
// as Vitess VDiff does (DESIGN.md "Seeding and verifying"). A temporary slot
// exports a snapshot and its LSN L; the source is read in that snapshot; a
// running daemon is asked to apply up to exactly L and hold while the shards
// are read; the hold is released at the end, also on errors.
#include <unistd.h>

#include <cstdio>

#include "cdc/replication_stream.h"
#include "cdc/snapshot_reader.h"
#include "cdc/source_catalog.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/redact.h"
#include "daemon/sink_factory.h"
#include "daemon/source_setup.h"
#include "daemon/verify_hold.h"
#include "daemon/verify_report.h"
#include "daemon/verify_table.h"

namespace shardcast {

namespace {

// The configured tables to verify: all, or the one --table names.
StatusOr<std::vector<TableConfig>> SelectTables(const Config& config, const std::string& table) {
  if (table.empty()) return config.tables;
  if (const TableConfig* t = FindConfiguredTable(config, table)) return std::vector<TableConfig>{*t};
  std::string configured;
  for (const auto& t : config.tables)
    configured += (configured.empty() ? "" : ", ") + t.schema + "." + t.name;
  return ConfigError("verify --table " + table + ": not a configured table in " + config.path +
                     " (configured: " + configured + ")");
}

// Every shard database, in ring order, each inside one read-only
// REPEATABLE READ transaction.
StatusOr<std::vector<VerifyShardConn>> ConnectShards(const Config& config, const Ring& ring) {
  std::vector<VerifyShardConn> out;
  const auto by_ring = ShardDestinationsByRing(config, ring);
  for (std::size_t i = 0; i < by_ring.size(); ++i) {
    for (const auto& [id, dsn] : by_ring[i]) {
      SC_ASSIGN_OR_RETURN(PgConnPtr conn,
                          ConnectPinned(dsn, false, "shard " + id + " (" + RedactDsn(dsn) + ")"));
      SC_ASSIGN_OR_RETURN(
          PgResultPtr begun,
          ExecSql(conn.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "shard " + id));
      out.push_back({{id, i}, std::move(conn)});
    }
  }
  return out;
}

StatusOr<VerifyOutcome> RunVerify(const Config& config, const std::string& table) {
  if (config.shards.empty())
    return ConfigError("verify compares shard databases, and " + config.path + " configures no shards");
  SC_ASSIGN_OR_RETURN(std::vector<TableConfig> selected, SelectTables(config, table));
  SC_ASSIGN_OR_RETURN(std::string dsn, SourceConnectDsn(config.source));

  std::vector<TableSpec> specs;
  {
    Config narrowed = config;
    narrowed.tables = std::move(selected);
    auto catalog = SourceCatalog::Connect(dsn);
    if (!catalog.ok()) return catalog.status().Prefixed("source");
    SC_ASSIGN_OR_RETURN(specs, ResolveTables(narrowed, **catalog));
  }
  SC_ASSIGN_OR_RETURN(Ring ring, RingFromConfig(config));
  // Shards first, so that a down shard fails before the daemon is asked to
  // hold. Their REPEATABLE READ snapshots start at the first query, after
  // the hold is in place.
  SC_ASSIGN_OR_RETURN(std::vector<VerifyShardConn> shards, ConnectShards(config, ring));

  SC_ASSIGN_OR_RETURN(std::unique_ptr<VerifyHold> hold, VerifyHold::Begin(config));
  if (!hold->held())
    std::fprintf(stderr,
                 "shardcast verify: warning: no daemon answers at %s (admin.listen), so the shards are not "
                 "held at the verify position: they may trail the source while it takes writes\n",
                 config.admin_listen.c_str());

  // The reader connects first so that it imports the exported snapshot
  // before the replication connection runs anything else.
  auto reader_or = SnapshotReader::Connect(dsn);
  if (!reader_or.ok()) return reader_or.status().Prefixed("source");
  std::unique_ptr<SnapshotReader> reader = std::move(reader_or).value();
  VerifyOutcome outcome;
  outcome.held = hold->held();
  {
    auto stream = ReplicationStream::Connect(dsn);
    if (!stream.ok()) return stream.status().Prefixed("source replication connection");
    SC_ASSIGN_OR_RETURN(
        ReplicationStream::ExportedSlot exported,
        (*stream)->CreateSlotExported("shardcast_verify_" + std::to_string(::getpid()), true));
    SC_RETURN_IF_ERROR(
        reader->ImportSnapshot(exported.snapshot_name).Prefixed("importing the verify snapshot"));
    outcome.position = exported.consistent_point;
    (*stream)->Close();  // drops the temporary slot; the imported snapshot stays
  }
  SC_RETURN_IF_ERROR(hold->HoldAt(outcome.position));

  for (const auto& spec : specs) {
    auto verdict = VerifyTable(*reader, spec, ring, shards, config.snapshot_chunk_rows);
    if (!verdict.ok()) return verdict.status().Prefixed("verifying " + spec.QualifiedName());
    outcome.tables.push_back(std::move(verdict).value());
  }
  SC_RETURN_IF_ERROR(reader->Finish());
  Status released = hold->Release();
  if (!released.ok()) std::fprintf(stderr, "shardcast verify: warning: %s\n", released.message().c_str());
  return outcome;
}

}  // namespace

int VerifyCommand(const Config& config, const std::string& table, bool json) {
  auto outcome = RunVerify(config, table);
  if (!outcome.ok()) {
    std::fprintf(stderr, "shardcast verify: %s\n", outcome.status().message().c_str());
    return ExitCodeFor(outcome.status());
  }
  const std::string text = json ? FormatVerifyJson(*outcome) : FormatVerifyText(*outcome);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return outcome->identical() ? kExitOk : kExitDifferences;
}

}  // namespace shardcast
