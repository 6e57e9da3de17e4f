// Guards against a shard DSN that reaches the source database itself: the
// daemon would apply every change back onto the table it came from, and its
// progress rows would enter the stream it reads. Same server (system
// identifier) and same database is the source; another database on the
// source's server is a legitimate shard.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "daemon/config.h"

namespace shardcast {

struct DatabaseIdentity {
  std::string system_identifier;  // pg_control_system(): one per cluster (initdb)
  std::string database;           // current_database()
};

// Connects (pinned settings, a short connect timeout for key=value DSNs) and
// reads the identity. what names the peer in messages ("the source").
StatusOr<DatabaseIdentity> ReadDatabaseIdentity(const std::string& dsn, std::string_view what);

// kConfig naming the shard id and region when any shard DSN reaches source.
// A shard that cannot be reached or queried is skipped with a debug log: a
// shard that is down is the destination worker's business, not a reason to
// stop at start.
Status CheckShardsAreNotTheSource(const Config& config, const DatabaseIdentity& source);

}  // namespace shardcast
