// Process-wide logging through spdlog's default logger, to stderr (the
// systemd journal). Two formats:
//   text: [2026-01-02T03:04:05.678Z] [info] [reader] message
//   json: {"ts":"2026-01-02T03:04:05.678Z","level":"info","thread":"reader","msg":"message"}
// Times are UTC. Messages must already be redacted (daemon/redact.h).
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shardcast {

// Installs the default logger. level is one of trace debug info warn error
// critical off (kInvalidArgument otherwise). May be called again, e.g. on
// SIGHUP, to change level or format.
Status SetupLogging(const std::string& level, bool json);

// Names the calling thread in log lines and for the OS (ps, top: the first
// 15 bytes). A thread that was never named logs as its thread id.
void SetThreadName(std::string_view name);
// The calling thread's name, or its thread id. Loggers are synchronous, so a
// line is formatted on the thread that logs it and shows that thread's name.
std::string CurrentThreadName();

// The formatter SetupLogging installs; for tests and for extra sinks.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(bool json);

}  // namespace shardcast
