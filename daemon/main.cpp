// shardcast: decode a PostgreSQL source's logical replication stream once,
// deliver every change to its shards and to Kafka.
#include <cstdio>

#include "daemon/cli.h"
#include "daemon/commands.h"
#include "daemon/config.h"
#include "daemon/exit_codes.h"
#include "daemon/logging.h"

using namespace shardcast;

int main(int argc, char** argv) {
  std::string text;
  auto cli = ParseCli(argc, argv, &text);
  if (!cli.ok()) {
    std::fprintf(stderr, "%s\n", text.c_str());
    return ExitCodeFor(cli.status());
  }
  if (cli->command == "help" || cli->command == "version") {
    std::printf("%s\n", text.c_str());
    return kExitOk;
  }
  auto config = LoadConfigFile(cli->config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", config.status().message().c_str());
    return ExitCodeFor(config.status());
  }
  if (Status s = SetupLogging(config->log_level, config->log_json); !s.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", s.message().c_str());
    return ExitCodeFor(s);
  }
  const std::string& cmd = cli->command;
  if (cmd == "run") return RunDaemon(*config);
  if (cmd == "check") return CheckDeployment(*config, cli->create_missing);
  if (cmd == "snapshot") return SnapshotCommand(*config, cli->table);
  if (cmd == "verify") return VerifyCommand(*config, cli->table, cli->json);
  if (cmd == "status") return StatusCommand(*config, cli->json);
  if (cmd == "checkpoint") return CheckpointCommand(*config, cli->subcommand, cli->destination);
  std::fprintf(stderr, "shardcast: '%s' is not available in this version yet (see the README's roadmap)\n",
               cmd.c_str());
  return kExitUsage;
}
