#include "daemon/cli.h"

#include <CLI/CLI.hpp>
#include <sstream>

#ifndef SHARDCAST_VERSION
#define SHARDCAST_VERSION "unknown"
#endif

namespace shardcast {
namespace {

void AddConfig(CLI::App* app, CliCommand& out) {
  app->add_option("-c,--config", out.config_path, "configuration file (YAML)")->required();
}

void AddJson(CLI::App* app, CliCommand& out) {
  app->add_flag("--json", out.json, "print JSON");
}

// Builds the whole command tree; parse results land in out.
void Build(CLI::App& app, CliCommand& out) {
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", std::string("shardcast ") + SHARDCAST_VERSION);
  app.footer(
      "Exit codes: 0 ok, 1 verify found differences, 64 usage, 65 corrupt input, 69 a server unavailable, "
      "70 internal error, 74 checkpoint disk, 75 out of sync, 76 replication slot lost, 78 configuration "
      "error. See shardcast(1).");

  CLI::App* run = app.add_subcommand("run", "run the daemon in the foreground (systemd runs this)");
  AddConfig(run, out);

  CLI::App* check = app.add_subcommand("check",
                                       "validate config, connectivity, privileges, replica identity and "
                                       "shard schemas");
  AddConfig(check, out);
  check->add_flag("--create-missing", out.create_missing, "create absent shard tables");

  CLI::App* status = app.add_subcommand("status", "lag, throughput, ring epoch, destinations and jobs");
  AddConfig(status, out);
  AddJson(status, out);

  CLI::App* snapshot = app.add_subcommand("snapshot", "(re)seed tables by backfill");
  AddConfig(snapshot, out);
  snapshot->add_option("--table", out.table, "only this table (schema.table)");

  CLI::App* rebalance = app.add_subcommand("rebalance", "online rebalancing to the shards in the config");
  rebalance->require_subcommand(1);
  for (const char* verb : {"plan", "start", "status", "cutover", "rollback", "cleanup"}) {
    CLI::App* sub = rebalance->add_subcommand(verb, std::string("rebalance ") + verb);
    AddConfig(sub, out);
    if (std::string_view(verb) == "plan" || std::string_view(verb) == "status") AddJson(sub, out);
  }

  CLI::App* verify = app.add_subcommand("verify", "compare the source with the shards");
  AddConfig(verify, out);
  verify->add_option("--table", out.table, "only this table (schema.table)");
  AddJson(verify, out);

  CLI::App* checkpoint =
      app.add_subcommand("checkpoint", "inspect or reset stored progress (daemon stopped)");
  checkpoint->require_subcommand(1);
  for (const char* verb : {"show", "reset"}) {
    CLI::App* sub = checkpoint->add_subcommand(verb, std::string(verb) + " destination progress");
    AddConfig(sub, out);
    sub->add_option("--destination", out.destination, "only this destination (s0@us-east, kafka)");
    if (std::string_view(verb) == "show") AddJson(sub, out);
  }

  app.add_subcommand("version", "print the version");
}

std::string TrimNewlines(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

StatusOr<CliCommand> ParseCli(int argc, const char* const* argv, std::string* help_or_error_text) {
  CliCommand out;
  CLI::App app("shardcast: PostgreSQL change data capture to shards and Kafka", "shardcast");
  Build(app, out);
  std::ostringstream text;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e, text, text);
    out.command = "help";
  } catch (const CLI::CallForAllHelp& e) {
    app.exit(e, text, text);
    out.command = "help";
  } catch (const CLI::CallForVersion& e) {
    text << e.what() << "\n";
    out.command = "version";
  } catch (const CLI::ParseError& e) {
    std::ostringstream err;
    app.exit(e, err, err);
    if (help_or_error_text) *help_or_error_text = TrimNewlines(err.str());
    return InvalidArgument(e.what());
  }
  if (out.command.empty()) {
    CLI::App* sub = app.get_subcommands().front();
    out.command = sub->get_name();
    if (!sub->get_subcommands().empty()) out.subcommand = sub->get_subcommands().front()->get_name();
    if (out.command == "version") text << "shardcast " << SHARDCAST_VERSION << "\n";
  }
  if (help_or_error_text) *help_or_error_text = TrimNewlines(text.str());
  return out;
}

}  // namespace shardcast
