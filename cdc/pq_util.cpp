#include "cdc/pq_util.h"

#include <cstring>

#include "cdc/source_catalog.h"

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

std::string QuoteConnValue(const std::string& v) {
  std::string out = "'";
  for (char ch : v) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '\'';
  return out;
}

}  // namespace

StatusOr<ConnParams> PinnedParams(const std::string& dsn, bool replication) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> opts(PQconninfoParse(dsn.c_str(), &err));
  if (!opts) {
    std::string m = Trimmed(err);
    if (err != nullptr) PQfreemem(err);
    return ConfigError("invalid source DSN: " + (m.empty() ? std::string("out of memory") : m));
  }
  ConnParams params;
  std::string user_options;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string key = o->keyword;
    if (key == "options") {
      user_options = o->val;
    } else if (key != "replication") {
      params.emplace_back(std::move(key), o->val);
    }
  }
  params.emplace_back(
      "options", user_options.empty() ? std::string(kPinnedOptions) : user_options + " " + kPinnedOptions);
  if (replication) params.emplace_back("replication", "database");
  return params;
}

std::string PinnedDsn(const std::string& dsn, bool replication) {
  auto params = PinnedParams(dsn, replication);
  if (!params.ok()) return dsn;  // connecting reports the parse error
  std::string out;
  for (const auto& [k, v] : *params) {
    if (!out.empty()) out += ' ';
    out += k;
    out += '=';
    out += QuoteConnValue(v);
  }
  return out;
}

StatusOr<PgConnPtr> ConnectPinned(const std::string& dsn, bool replication) {
  SC_ASSIGN_OR_RETURN(ConnParams params, PinnedParams(dsn, replication));
  std::vector<const char*> keys;
  std::vector<const char*> values;
  keys.reserve(params.size() + 1);
  values.reserve(params.size() + 1);
  for (const auto& [k, v] : params) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PgConnPtr conn(PQconnectdbParams(keys.data(), values.data(), 0));
  if (!conn) return Unavailable("connecting to the source: out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Unavailable("connecting to the source: " + Trimmed(PQerrorMessage(conn.get())));
  }
  return conn;
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

Status ResultError(PGconn* conn, const PGresult* res, std::string_view what) {
  std::string msg = Trimmed(res != nullptr ? PQresultErrorMessage(res) : nullptr);
  if (msg.empty()) msg = Trimmed(PQerrorMessage(conn));
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string m = std::string(what) + ": " + msg;
  bool lost = PQstatus(conn) == CONNECTION_BAD ||
              (state != nullptr && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P", 3) == 0));
  return lost ? Unavailable(std::move(m)) : FailedPrecondition(std::move(m));
}

}  // namespace shardcast
