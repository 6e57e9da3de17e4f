// The command line (DESIGN.md "Command line"), parsed with CLI11 into a
// plain struct that main() dispatches on.
#pragma once

#include <string>

#include "common/status.h"

namespace shardcast {

struct CliCommand {
  // run, check, status, snapshot, rebalance, verify, checkpoint, version, or
  // help (--help anywhere: print the text and exit 0).
  std::string command;
  // rebalance: plan start status cutover rollback cleanup; checkpoint: show reset.
  std::string subcommand;
  std::string config_path;      // -c/--config; required by every command but version and help
  bool json = false;            // --json: status, verify, rebalance plan/status, checkpoint show
  bool create_missing = false;  // check --create-missing
  std::string table;            // snapshot/verify --table schema.table (empty: all)
  std::string destination;      // checkpoint --destination s0@us-east|kafka (empty: all)
};

// Parses argv (argv[0] is the program). On success with command "help" or
// "version", *help_or_error_text holds what to print on stdout (exit 0). A
// usage error is kInvalidArgument (exit 64) whose message is CLI11's; then
// *help_or_error_text holds that message and a hint to run --help. The text
// never ends in a newline.
StatusOr<CliCommand> ParseCli(int argc, const char* const* argv, std::string* help_or_error_text);
inline StatusOr<CliCommand> ParseCli(int argc, char** argv, std::string* help_or_error_text) {
  return ParseCli(argc, const_cast<const char* const*>(argv), help_or_error_text);
}

}  // namespace shardcast
