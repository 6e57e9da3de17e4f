// Process exit codes (DESIGN.md "Command line"), from sysexits.h where one
// fits, so that systemd and scripts can tell a bad config from a down server,
// and a damaged input from a full disk. README.md lists them with their fixes.
#pragma once

#include "common/status.h"

namespace shardcast {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDifferences = 1;   // verify: the shards differ from the source
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: a corrupt replication message or checkpoint
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: a server cannot be reached
inline constexpr int kExitInternal = 70;     // EX_SOFTWARE: anything else, including bugs
inline constexpr int kExitIoErr = 74;      // EX_IOERR: local disk (checkpoint.dir unwritable or full, spill)
inline constexpr int kExitOutOfSync = 75;  // EX_TEMPFAIL: a destination needs re-seeding
inline constexpr int kExitSlotLost = 76;   // the replication slot is gone or invalidated: re-seed
inline constexpr int kExitConfig = 78;     // EX_CONFIG: the configuration is wrong

// The exit code for how a command ended:
//   kOk -> 0, kInvalidArgument -> 64, kCorruption -> 65, kUnavailable -> 69,
//   kIoError -> 74, kOutOfSync -> 75, kSlotLost -> 76, kConfig -> 78,
//   every other code (kFailedPrecondition, kNotFound, kCancelled, kInternal) -> 70.
// A stop on request (SIGTERM) should end with Ok, not kCancelled: kCancelled
// maps to 70 because a cancelled one-shot command did not do its job.
// Codes 71-73 and 77 are free for later, narrower reasons.
int ExitCodeFor(const Status& status);

}  // namespace shardcast
