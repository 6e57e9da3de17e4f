// libpq helpers shared by the source connections (cdc/) and the shard apply
// (sink/postgres/): owning handles, connecting with the pinned settings,
// quoting, and turning a failed result into a Status.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace shardcast {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct PqFreeDeleter {
  void operator()(void* p) const { PQfreemem(p); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// The settings every connection pins: text forms (and so shard-key hashes and
// the literals the shards parse) depend on them.
inline constexpr const char* kPinnedOptions =
    "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c IntervalStyle=postgres "
    "-c standard_conforming_strings=on";

using ConnParams = std::vector<std::pair<std::string, std::string>>;

// Parses dsn (key=value or postgresql:// URI) with PQconninfoParse and adds
// the pinned options (after the user's own, so ours win), client_encoding
// UTF8 and fallback_application_name unless given, and, when asked,
// replication=database. kConfig when the DSN does not parse; the message
// never quotes the DSN (it may hold a password).
StatusOr<ConnParams> PinnedParams(const std::string& dsn, bool replication);

// Connects with PQconnectdbParams. kUnavailable with libpq's message (which
// never contains the password) when the server cannot be reached; what names
// the peer in messages ("the source", "shard s0@us-east").
StatusOr<PgConnPtr> ConnectPinned(const std::string& dsn, bool replication, std::string_view what);

// Runs sql and returns the result of its last statement, or ResultError.
StatusOr<PgResultPtr> ExecSql(PGconn* conn, const std::string& sql, std::string_view context);

// "name" with embedded double quotes doubled.
std::string QuoteIdent(std::string_view name);
// 'text' with embedded single quotes doubled (standard_conforming_strings).
std::string QuoteLiteral(std::string_view text);

// The Status for a failed result: "context: message (SQLSTATE xxxxx): detail".
// A lost connection and transient failures (classes 08, 40, 53, 57P) are
// kUnavailable; anything the data or schema caused is kFailedPrecondition.
Status ResultError(PGconn* conn, const PGresult* res, std::string_view context);

}  // namespace shardcast
