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

namespace shardcast {

struct SourceTableInfo {
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // pg_class.relreplident: d n f i
  std::vector<std::string> primary_key;   // in key order; empty if none
  std::vector<std::string> identity_columns;  // columns the replica identity covers
  std::vector<std::string> columns;
};

class SourceCatalog {
 public:
  static StatusOr<std::unique_ptr<SourceCatalog>> Connect(const std::string& dsn);
  ~SourceCatalog();

  // kNotFound naming the table when it does not exist.
  StatusOr<SourceTableInfo> DescribeTable(const std::string& schema, const std::string& name);
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
