// Helpers config.cpp shares with SourceConnectDsn: libpq's own DSN parser
// (so what the config accepts is what PQconnectdb accepts) and file reading
// that reports the OS error.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace shardcast::config_internal {

// libpq's complaint about a connection string (key=value or URI), or nullopt
// when it parses. The complaint never repeats a password.
std::optional<std::string> DsnSyntaxError(const std::string& dsn);

// The whole file; a kConfig error "<what> <path>: <OS error>" when it cannot
// be read.
StatusOr<std::string> ReadWholeFile(const std::string& path, const std::string& what);

}  // namespace shardcast::config_internal
