// Starting child processes from tests without fork() in a threaded process:
// posix_spawn only, so nothing runs between fork and exec that is not
// async-signal-safe (ASan and librdkafka keep threads of their own).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast::testing {

// Runs argv (argv[0] is a path) in cwd and waits for it. stdout and stderr are
// appended to output_path. Fails unless it exits 0; the message holds the
// command and the tail of its output.
Status RunProcess(const std::vector<std::string>& argv, const std::string& output_path,
                  const std::string& cwd = "/");

// Starts argv with child_stdio as its stdin and stdout (stderr is inherited).
StatusOr<pid_t> SpawnWithStdio(const std::vector<std::string>& argv, int child_stdio);

// SIGTERM, then SIGKILL when it has not exited within grace. Never fails.
void TerminateAndReap(pid_t pid, std::chrono::milliseconds grace);

// The last max_bytes of a file ("" when unreadable), for error messages.
std::string FileTail(const std::string& path, std::size_t max_bytes = 3000);

// "a b c" for messages.
std::string JoinArgs(const std::vector<std::string>& argv);

}  // namespace shardcast::testing
