// The subcommands of the shardcast binary. Each returns the process exit code.
#pragma once

#include <string>

#include "daemon/config.h"

namespace shardcast {

int RunDaemon(const Config& config);
// Validates connectivity, privileges, replica identity and shard schemas;
// prints one line per finding.
int CheckDeployment(const Config& config, bool create_missing);
// "show" prints stored progress; "reset" clears it (daemon must be stopped).
// Asks the running daemon to (re)seed tables by backfill and follows the
// job with a progress bar (plain lines when stdout is not a terminal).
// table: "schema.table", or empty for every configured table.
int SnapshotCommand(const Config& config, const std::string& table);
// Compares the source with the shards at one position (DESIGN.md "Seeding
// and verifying"); exit 0 only when identical.
int VerifyCommand(const Config& config, const std::string& table, bool json);
// Asks the running daemon for /status and prints it as a table (or JSON);
// 69 when no daemon answers at admin.listen.
int StatusCommand(const Config& config, bool json);
int CheckpointCommand(const Config& config, const std::string& subcommand, const std::string& destination);

}  // namespace shardcast
