#include "sink/postgres/pg_conn.h"

#include <vector>

namespace shardcast {
namespace {

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const noexcept { PQconninfoFree(options); }
};

std::string Trimmed(const char* text) {
  std::string s = text == nullptr ? "" : text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

StatusOr<PgConn> ConnectPinned(const std::string& dsn) {
  char* parse_error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> parsed(PQconninfoParse(dsn.c_str(), &parse_error));
  if (parsed == nullptr) {
    PQfreemem(parse_error);  // its text may quote the DSN, password included
    return InvalidArgument(
        "the DSN is not a valid libpq connection string (not shown: it may hold a password)");
  }
  std::string options = kShardPinnedOptions;
  std::vector<const char*> keys;
  std::vector<const char*> values;
  bool has_encoding = false;
  bool has_app = false;
  for (PQconninfoOption* o = parsed.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string_view key = o->keyword;
    if (key == "options") {
      options += ' ';
      options += o->val;  // the user's own options may add settings, ours come first
      continue;
    }
    has_encoding |= key == "client_encoding";
    has_app |= key == "application_name" || key == "fallback_application_name";
    keys.push_back(o->keyword);
    values.push_back(o->val);
  }
  keys.push_back("options");
  values.push_back(options.c_str());
  if (!has_encoding) {
    keys.push_back("client_encoding");
    values.push_back("UTF8");
  }
  if (!has_app) {
    keys.push_back("fallback_application_name");
    values.push_back("shardcast");
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);

  PgConn conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0));
  if (conn == nullptr) return Unavailable("connecting: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Unavailable("connecting: " + Trimmed(PQerrorMessage(conn.get())));
  }
  // Notices ("truncate cascades to table ...") are expected chatter; libpq
  // would print them to stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  const char* scs = PQparameterStatus(conn.get(), "standard_conforming_strings");
  if (scs == nullptr || std::string_view(scs) != "on") {
    return FailedPrecondition("connecting: the server did not accept standard_conforming_strings=on");
  }
  return conn;
}

StatusOr<PgResult> ExecSql(PGconn* conn, const std::string& sql, std::string_view context) {
  PgResult result(PQexec(conn, sql.c_str()));
  if (result == nullptr) return Unavailable(std::string(context) + ": " + Trimmed(PQerrorMessage(conn)));
  ExecStatusType st = PQresultStatus(result.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ShardResultError(conn, result.get(), context);
  return result;
}

Status ShardResultError(PGconn* conn, const PGresult* result, std::string_view context) {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string message(context);
  message += ": ";
  message += primary != nullptr ? Trimmed(primary) : Trimmed(PQerrorMessage(conn));
  if (sqlstate != nullptr) {
    message += " (SQLSTATE ";
    message += sqlstate;
    message += ')';
  }
  if (detail != nullptr) message += ": " + Trimmed(detail);
  std::string_view state = sqlstate == nullptr ? "" : sqlstate;
  bool transient = sqlstate == nullptr || PQstatus(conn) != CONNECTION_OK || StartsWith(state, "08") ||
                   StartsWith(state, "40") || StartsWith(state, "53") || StartsWith(state, "57P");
  return transient ? Unavailable(std::move(message)) : FailedPrecondition(std::move(message));
}

}  // namespace shardcast
