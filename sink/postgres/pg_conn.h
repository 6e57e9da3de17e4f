// libpq handles owned by unique_ptr, and the one way a shard connection is
// opened: with the text-format settings pinned that the source connection
// pins too, so every value the source printed parses identically here.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shardcast {

struct PgConnDeleter {
  void operator()(PGconn* conn) const noexcept { PQfinish(conn); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

// The settings pinned through the startup "options" parameter (in front of
// any options the DSN carries).
inline constexpr const char* kShardPinnedOptions =
    "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex "
    "-c IntervalStyle=postgres -c standard_conforming_strings=on";

// Connects to dsn. Fails with kUnavailable and the server's message; the DSN
// itself is never put in a message (it may hold a password).
StatusOr<PgConn> ConnectPinned(const std::string& dsn);

// Runs sql (autocommit unless inside a transaction) and returns the result of
// its last statement, or the server's error prefixed with context.
StatusOr<PgResult> ExecSql(PGconn* conn, const std::string& sql, std::string_view context);

// The Status for a failed result: "context: message (SQLSTATE xxxxx): detail".
// Connection and transient failures (classes 08, 40, 53, 57P) are
// kUnavailable; anything the data or schema caused is kFailedPrecondition.
Status ShardResultError(PGconn* conn, const PGresult* result, std::string_view context);

}  // namespace shardcast
