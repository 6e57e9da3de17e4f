// Runs the shardcast binary as a child process for end-to-end tests, its
// output going to a log file the test can read. The destructor kills it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast::testing {

class DaemonProcess {
 public:
  // Runs SHARDCAST_BINARY with args; stdout and stderr go to log_path.
  static StatusOr<std::unique_ptr<DaemonProcess>> Start(const std::vector<std::string>& args,
                                                        const std::string& log_path);
  // The same with extra environment variables ("NAME=value"), added to (or
  // replacing) this process's own, e.g. SHARDCAST_KILL_POINT for fault tests.
  static StatusOr<std::unique_ptr<DaemonProcess>> Start(const std::vector<std::string>& args,
                                                        const std::string& log_path,
                                                        const std::vector<std::string>& env);
  ~DaemonProcess();

  // Sends SIGTERM and waits up to timeout_s; returns the exit code (or -signal).
  StatusOr<int> Terminate(int timeout_s = 60);
  void Kill9();
  // Whether the process is still running (reaps it when it has exited).
  bool Running();
  // Waits up to limit for the process to exit on its own; false if it still runs.
  bool WaitExit(std::chrono::milliseconds limit);
  int exit_code() const { return exit_code_; }
  // The child's process id while it runs (-1 once reaped), e.g. to read /proc/<pid>/status.
  int pid() const { return pid_; }
  std::string Log() const;

 private:
  DaemonProcess() = default;
  int pid_ = -1;
  int exit_code_ = -1000;
  std::string log_path_;
};

// Runs the binary to completion; returns exit code, output in *output.
int RunShardcast(const std::vector<std::string>& args, std::string* output);

}  // namespace shardcast::testing
