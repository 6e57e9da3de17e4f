// Process exit codes (DESIGN.md "Command line"), from sysexits.h where one
// fits, so that systemd and scripts can tell a bad config from a down server.
#pragma once

#include "common/status.h"

namespace shardcast {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDifferences = 1;   // verify: the shards differ from the source
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: a server cannot be reached
inline constexpr int kExitInternal = 70;     // EX_SOFTWARE: anything else, including bugs
inline constexpr int kExitOutOfSync = 75;    // EX_TEMPFAIL: a destination needs re-seeding
inline constexpr int kExitConfig = 78;       // EX_CONFIG: the configuration is wrong

// The exit code for how a command ended:
//   kOk -> 0, kInvalidArgument -> 64, kUnavailable -> 69, kOutOfSync -> 75,
//   kConfig -> 78, every other code -> 70.
// A stop on request (SIGTERM) should end with Ok, not kCancelled: kCancelled
// maps to 70 because a cancelled one-shot command did not do its job.
// Codes 71-77 other than 75 are free for later, narrower reasons.
int ExitCodeFor(const Status& status);

}  // namespace shardcast
