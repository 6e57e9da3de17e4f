#include "daemon/shard_identity.h"

#include <spdlog/spdlog.h>

#include "daemon/redact.h"
#include "pq/pq_util.h"

namespace shardcast {
namespace {

// A shard behind a firewall that drops packets would otherwise hold the start
// for the kernel's TCP connect timeout (minutes). Only key=value DSNs get it
// (a later keyword wins there); a URI keeps the user's settings.
std::string WithConnectTimeout(const std::string& dsn) {
  if (dsn.find("connect_timeout") != std::string::npos || dsn.rfind("postgres", 0) == 0) return dsn;
  return dsn + " connect_timeout=5";
}

}  // namespace

StatusOr<DatabaseIdentity> ReadDatabaseIdentity(const std::string& dsn, std::string_view what) {
  SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(WithConnectTimeout(dsn), /*replication=*/false, what));
  const std::string context = "reading the identity of " + std::string(what);
  SC_ASSIGN_OR_RETURN(
      PgResultPtr res,
      ExecSql(conn.get(), "SELECT system_identifier::text, current_database() FROM pg_control_system()",
              context));
  if (PQntuples(res.get()) != 1 || PQnfields(res.get()) != 2)
    return Internal(context + ": unexpected result shape");
  return DatabaseIdentity{PQgetvalue(res.get(), 0, 0), PQgetvalue(res.get(), 0, 1)};
}

Status CheckShardsAreNotTheSource(const Config& config, const DatabaseIdentity& source) {
  for (const auto& shard : config.shards) {
    for (const auto& [region, dsn] : shard.dsn_by_region) {
      const std::string dest = "shard " + shard.id + "@" + region;
      auto identity = ReadDatabaseIdentity(dsn, dest + " (" + RedactDsn(dsn) + ")");
      if (!identity.ok()) {
        spdlog::debug("{}: skipping the is-it-the-source check: {}", dest, identity.status().ToString());
        continue;
      }
      if (identity->system_identifier == source.system_identifier && identity->database == source.database)
        return ConfigError("shards: the dsn of shard " + shard.id + " in region " + region + " (" +
                           RedactDsn(dsn) + ") points at the source database itself (system identifier " +
                           source.system_identifier + ", database " + source.database +
                           "): give that shard its own database");
    }
  }
  return Status::Ok();
}

}  // namespace shardcast
