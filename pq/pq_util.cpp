#include "pq/pq_util.h"

namespace shardcast {
namespace {

struct ConninfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

// libpq's message without its trailing newline.
std::string Trimmed(const char* msg) {
  std::string s = msg == nullptr ? "" : msg;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

StatusOr<ConnParams> PinnedParams(const std::string& dsn, bool replication) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> opts(PQconninfoParse(dsn.c_str(), &err));
  if (!opts) {
    if (err != nullptr) PQfreemem(err);  // its text may quote the DSN, password included
    return ConfigError("the DSN is not a valid libpq connection string (not shown: it may hold a password)");
  }
  ConnParams params;
  std::string user_options;
  bool has_encoding = false;
  bool has_app = false;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string key = o->keyword;
    if (key == "options") {
      user_options = o->val;
      continue;
    }
    if (key == "replication") continue;
    has_encoding |= key == "client_encoding";
    has_app |= key == "application_name" || key == "fallback_application_name";
    params.emplace_back(std::move(key), o->val);
  }
  // A server that stops answering (a dropped link, not a refused connection)
  // must fail the call, not hang the thread that waits on it: shardcast's own
  // defaults, unless the DSN sets them.
  static constexpr std::pair<const char*, const char*> kLiveness[] = {
      {"connect_timeout", "10"},     {"keepalives", "1"},       {"keepalives_idle", "30"},
      {"keepalives_interval", "10"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
  };
  for (const auto& [key, value] : kLiveness) {
    bool set = false;
    for (const auto& [k, v] : params) set = set || k == key;
    if (!set) params.emplace_back(key, value);
  }
  params.emplace_back(
      "options", user_options.empty() ? std::string(kPinnedOptions) : user_options + " " + kPinnedOptions);
  if (!has_encoding) params.emplace_back("client_encoding", "UTF8");
  if (!has_app) params.emplace_back("fallback_application_name", "shardcast");
  if (replication) params.emplace_back("replication", "database");
  return params;
}

StatusOr<PgConnPtr> ConnectPinned(const std::string& dsn, bool replication, std::string_view what) {
  SC_ASSIGN_OR_RETURN(ConnParams params, PinnedParams(dsn, replication));
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  const std::string context = "connecting to " + std::string(what);
  PgConnPtr conn(PQconnectdbParams(keys.data(), values.data(), 0));
  if (!conn) return Unavailable(context + ": out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::string message = context + ": " + Trimmed(PQerrorMessage(conn.get()));
    // Refused credentials, a missing database or role, a server certificate
    // that does not verify or a pg_hba.conf rule that rejects this client:
    // retrying will not help, the configuration must change.
    for (const char* permanent :
         {"password authentication failed", "no pg_hba.conf entry", "does not exist", "no password supplied",
          "permission denied", "certificate verify failed", "does not match host name", "rejects connection",
          "server does not support SSL", "root certificate file"})
      if (message.find(permanent) != std::string::npos) return FailedPrecondition(std::move(message));
    return Unavailable(std::move(message));
  }
  // Notices ("truncate cascades to table ...") are expected chatter; libpq
  // would print them to stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

StatusOr<PgResultPtr> ExecSql(PGconn* conn, const std::string& sql, std::string_view context) {
  PgResultPtr result(PQexec(conn, sql.c_str()));
  if (result == nullptr) return Unavailable(std::string(context) + ": " + Trimmed(PQerrorMessage(conn)));
  ExecStatusType st = PQresultStatus(result.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ResultError(conn, result.get(), context);
  return result;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char ch : text) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  out += '\'';
  return out;
}

Status ResultError(PGconn* conn, const PGresult* res, std::string_view context) {
  const char* sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  std::string message(context);
  message += ": ";
  message += primary != nullptr ? Trimmed(primary) : Trimmed(PQerrorMessage(conn));
  if (sqlstate != nullptr) message += std::string(" (SQLSTATE ") + sqlstate + ")";
  if (detail != nullptr) message += ": " + Trimmed(detail);
  std::string_view state = sqlstate == nullptr ? "" : sqlstate;
  // Connection loss, serialization failures and deadlocks, resources, server
  // shutdown, a lock or statement timeout: a later attempt may succeed.
  bool transient = sqlstate == nullptr || PQstatus(conn) != CONNECTION_OK || StartsWith(state, "08") ||
                   StartsWith(state, "40") || StartsWith(state, "53") || StartsWith(state, "57P") ||
                   state == "55P03" || state == "57014";
  return transient ? Unavailable(std::move(message)) : FailedPrecondition(std::move(message));
}

}  // namespace shardcast
