// libpq helpers shared by the replication stream and the catalog: owning
// handles, connecting with the pinned settings, quoting.
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

// The settings every source connection pins (text forms depend on them).
inline constexpr const char* kPinnedOptions =
    "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c IntervalStyle=postgres";

using ConnParams = std::vector<std::pair<std::string, std::string>>;

// Parses dsn (key=value or postgresql:// URI) with PQconninfoParse and adds
// the pinned options (after the user's own, so ours win) and, when asked,
// replication=database. kConfig when the DSN does not parse.
StatusOr<ConnParams> PinnedParams(const std::string& dsn, bool replication);

// Connects with PQconnectdbParams. kUnavailable with libpq's message (which
// never contains the password) when the server cannot be reached.
StatusOr<PgConnPtr> ConnectPinned(const std::string& dsn, bool replication);

// "name" with embedded double quotes doubled.
std::string QuoteIdent(std::string_view name);
// 'text' with embedded single quotes doubled (standard_conforming_strings).
std::string QuoteLiteral(std::string_view text);

// Maps a failed result or connection to a Status: connection loss and
// shutdown are kUnavailable, everything else kFailedPrecondition.
Status ResultError(PGconn* conn, const PGresult* res, std::string_view what);

}  // namespace shardcast
