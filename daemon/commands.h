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
int CheckpointCommand(const Config& config, const std::string& subcommand, const std::string& destination);

}  // namespace shardcast
