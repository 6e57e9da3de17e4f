#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <vector>

#include "daemon/cli.h"
#include "daemon/exit_codes.h"

namespace shardcast {
namespace {

struct Parsed {
  StatusOr<CliCommand> result = Internal("not parsed");
  std::string text;
};

Parsed Parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"shardcast"};
  argv.insert(argv.end(), args.begin(), args.end());
  Parsed p;
  p.result = ParseCli(static_cast<int>(argv.size()), argv.data(), &p.text);
  return p;
}

CliCommand Ok(std::initializer_list<const char*> args) {
  Parsed p = Parse(args);
  EXPECT_TRUE(p.result.ok()) << p.result.status().ToString();
  return p.result.ok() ? *p.result : CliCommand{};
}

Parsed UsageError(std::initializer_list<const char*> args) {
  Parsed p = Parse(args);
  EXPECT_FALSE(p.result.ok());
  if (!p.result.ok()) {
    EXPECT_EQ(p.result.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(ExitCodeFor(p.result.status()), 64);
    EXPECT_FALSE(p.text.empty());
  }
  return p;
}

TEST(CliTest, Run) {
  CliCommand c = Ok({"run", "-c", "/etc/shardcast.yaml"});
  EXPECT_EQ(c.command, "run");
  EXPECT_EQ(c.subcommand, "");
  EXPECT_EQ(c.config_path, "/etc/shardcast.yaml");
  EXPECT_FALSE(c.json);
  EXPECT_EQ(Ok({"run", "--config", "x.yaml"}).config_path, "x.yaml");
  EXPECT_EQ(Ok({"run", "--config=y.yaml"}).config_path, "y.yaml");
}

TEST(CliTest, CheckStatusSnapshotVerify) {
  CliCommand check = Ok({"check", "-c", "f", "--create-missing"});
  EXPECT_EQ(check.command, "check");
  EXPECT_TRUE(check.create_missing);
  EXPECT_FALSE(Ok({"check", "-c", "f"}).create_missing);

  CliCommand status = Ok({"status", "-c", "f", "--json"});
  EXPECT_EQ(status.command, "status");
  EXPECT_TRUE(status.json);

  CliCommand snapshot = Ok({"snapshot", "-c", "f", "--table", "public.orders"});
  EXPECT_EQ(snapshot.command, "snapshot");
  EXPECT_EQ(snapshot.table, "public.orders");
  EXPECT_EQ(Ok({"snapshot", "-c", "f"}).table, "");

  CliCommand verify = Ok({"verify", "-c", "f", "--table", "t", "--json"});
  EXPECT_EQ(verify.command, "verify");
  EXPECT_EQ(verify.table, "t");
  EXPECT_TRUE(verify.json);
}

TEST(CliTest, RebalanceVerbs) {
  for (const char* verb : {"plan", "start", "status", "cutover", "rollback", "cleanup"}) {
    CliCommand c = Ok({"rebalance", verb, "-c", "f"});
    EXPECT_EQ(c.command, "rebalance");
    EXPECT_EQ(c.subcommand, verb);
    EXPECT_EQ(c.config_path, "f");
  }
  EXPECT_TRUE(Ok({"rebalance", "status", "-c", "f", "--json"}).json);
  EXPECT_NE(UsageError({"rebalance", "-c", "f"}).result.status().message(), "");
  UsageError({"rebalance", "merge", "-c", "f"});
  UsageError({"rebalance", "start"});  // no -c
}

TEST(CliTest, CheckpointVerbs) {
  CliCommand show = Ok({"checkpoint", "show", "-c", "f"});
  EXPECT_EQ(show.command, "checkpoint");
  EXPECT_EQ(show.subcommand, "show");
  EXPECT_EQ(show.destination, "");
  CliCommand reset = Ok({"checkpoint", "reset", "-c", "f", "--destination", "s0@us-east"});
  EXPECT_EQ(reset.subcommand, "reset");
  EXPECT_EQ(reset.destination, "s0@us-east");
  UsageError({"checkpoint", "-c", "f"});
}

TEST(CliTest, Version) {
  Parsed flag = Parse({"--version"});
  ASSERT_TRUE(flag.result.ok());
  EXPECT_EQ(flag.result->command, "version");
  EXPECT_EQ(flag.text, std::string("shardcast ") + SHARDCAST_VERSION);
  Parsed sub = Parse({"version"});
  ASSERT_TRUE(sub.result.ok());
  EXPECT_EQ(sub.result->command, "version");
  EXPECT_EQ(sub.text, flag.text);
}

TEST(CliTest, Help) {
  Parsed top = Parse({"--help"});
  ASSERT_TRUE(top.result.ok());
  EXPECT_EQ(top.result->command, "help");
  EXPECT_NE(top.text.find("rebalance"), std::string::npos) << top.text;
  EXPECT_NE(top.text.find("checkpoint"), std::string::npos) << top.text;
  EXPECT_NE(top.text.back(), '\n');

  Parsed sub = Parse({"check", "--help"});
  ASSERT_TRUE(sub.result.ok());
  EXPECT_EQ(sub.result->command, "help");
  EXPECT_NE(sub.text.find("--create-missing"), std::string::npos) << sub.text;
}

TEST(CliTest, UsageErrors) {
  Parsed none = UsageError({});
  EXPECT_NE(none.text.find("--help"), std::string::npos) << none.text;
  Parsed missing = UsageError({"run"});
  EXPECT_NE(missing.result.status().message().find("--config"), std::string::npos)
      << missing.result.status().message();
  UsageError({"frobnicate", "-c", "f"});
  UsageError({"run", "-c"});
  UsageError({"run", "-c", "f", "--json"});  // run takes no --json
  UsageError({"status", "-c", "f", "extra"});
  UsageError({"check", "-c", "f", "--create-missing=maybe"});
}

TEST(ExitCodesTest, Mapping) {
  EXPECT_EQ(ExitCodeFor(Status::Ok()), 0);
  EXPECT_EQ(ExitCodeFor(InvalidArgument("x")), 64);
  EXPECT_EQ(ExitCodeFor(Corruption("x")), 65);
  EXPECT_EQ(ExitCodeFor(Unavailable("x")), 69);
  EXPECT_EQ(ExitCodeFor(Internal("x")), 70);
  EXPECT_EQ(ExitCodeFor(IoError("x")), 74);
  EXPECT_EQ(ExitCodeFor(Status(Code::kOutOfSync, "x")), 75);
  EXPECT_EQ(ExitCodeFor(SlotLost("x")), 76);
  EXPECT_EQ(ExitCodeFor(ConfigError("x")), 78);
  for (Status s : {FailedPrecondition("x"), NotFound("x"), Cancelled("x")}) {
    EXPECT_EQ(ExitCodeFor(s), 70) << s.ToString();
  }
  // A context prefix does not change the code.
  EXPECT_EQ(ExitCodeFor(IoError("disk full").Prefixed("writing the checkpoint")), 74);
  EXPECT_EQ(ExitCodeFor(Corruption("bad").Prefixed("decoding the message at 0/16B3748")), 65);
  EXPECT_EQ(kExitOk, 0);
  EXPECT_EQ(kExitUsage, 64);
  EXPECT_EQ(kExitDataErr, 65);
  EXPECT_EQ(kExitUnavailable, 69);
  EXPECT_EQ(kExitInternal, 70);
  EXPECT_EQ(kExitIoErr, 74);
  EXPECT_EQ(kExitOutOfSync, 75);
  EXPECT_EQ(kExitSlotLost, 76);
  EXPECT_EQ(kExitConfig, 78);
}

// Every code has its own exit status, except those that share 70 on purpose.
TEST(ExitCodesTest, DistinctPerReason) {
  std::map<int, Code> seen;
  for (Code c : {Code::kOk, Code::kInvalidArgument, Code::kCorruption, Code::kUnavailable, Code::kIoError,
                 Code::kOutOfSync, Code::kSlotLost, Code::kConfig}) {
    const int exit_code = ExitCodeFor(Status(c, "x"));
    EXPECT_NE(exit_code, kExitInternal) << CodeName(c);
    EXPECT_TRUE(seen.emplace(exit_code, c).second) << CodeName(c) << " shares " << exit_code;
  }
}

}  // namespace
}  // namespace shardcast
