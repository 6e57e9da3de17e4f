// Ordinary SQL on the source: publication and slot checks, primary keys and
// replica identity of the configured tables. Uses its own (non-replication)
// connection with the same pinned settings as the stream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cdc/replication_stream.h"
#include "common/status.h"
#include "pq/pq_util.h"

namespace shardcast {

struct SourceTableInfo {
  std::string schema;
  std::string name;
  char replica_identity = 'd';                // pg_class.relreplident: d n f i
  std::vector<std::string> primary_key;       // in key order; empty if none
  std::vector<std::string> identity_columns;  // columns the replica identity covers
  std::vector<std::string> columns;
};

// One column as CREATE TABLE needs it, and as `shardcast check` compares it.
struct ColumnDef {
  std::string name;
  std::string type;  // format_type(atttypid, atttypmod): "numeric(12,2)", "text[]"
  bool not_null = false;
  bool has_default = false;  // a DEFAULT expression (includes generated columns)
  char identity = '\0';      // pg_attribute.attidentity: '\0', 'a' (ALWAYS) or 'd' (BY DEFAULT)
  bool generated = false;    // GENERATED ALWAYS AS (...) STORED
};

struct TableDef {
  std::string schema;
  std::string name;
  std::vector<ColumnDef> columns;        // attnum order, dropped columns left out
  std::vector<std::string> primary_key;  // in key order; empty if none
  std::string primary_key_constraint;    // its constraint name; empty if none

  std::string QualifiedName() const { return schema + "." + name; }
};

// Reads an ordinary or partitioned table's columns and primary key over any
// connection (the source's or a shard's); generated columns are included and
// flagged. nullopt when no such table exists.
StatusOr<std::optional<TableDef>> ReadTableDef(PGconn* conn, const std::string& schema,
                                               const std::string& name);

class SourceCatalog {
 public:
  static StatusOr<std::unique_ptr<SourceCatalog>> Connect(const std::string& dsn);
  ~SourceCatalog();

  // kNotFound naming the table when it does not exist.
  StatusOr<SourceTableInfo> DescribeTable(const std::string& schema, const std::string& name);
  // The columns a shard table must have (generated columns left out: they are
  // not replicated) and the primary key. kNotFound naming the table when it
  // does not exist.
  StatusOr<TableDef> DescribeColumns(const std::string& schema, const std::string& name);
  // Creates the publication FOR TABLE ... WITH (publish_via_partition_root =
  // true) when absent; when present, adds configured tables it lacks.
  Status EnsurePublication(const std::string& publication,
                           const std::vector<std::pair<std::string, std::string>>& tables);
  // nullopt when the slot does not exist.
  StatusOr<std::optional<SlotInfo>> GetSlot(const std::string& slot);
  StatusOr<std::string> WalLevel();
  StatusOr<Lsn> CurrentWalLsn();
  StatusOr<std::string> SystemIdentifier();
  // Runs a statement (used for heartbeats); fails with the server's message.
  Status Exec(const std::string& sql);

 private:
  SourceCatalog() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Adds the pinned settings (and replication=database when asked) to a DSN.
std::string PinnedDsn(const std::string& dsn, bool replication);

}  // namespace shardcast
