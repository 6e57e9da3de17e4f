#include "cdc/source_catalog.h"

#include <algorithm>
#include <set>

#include "pq/pq_util.h"

namespace shardcast {
namespace {

// Values of the first column of every row.
std::vector<std::string> FirstColumn(const PGresult* res) {
  std::vector<std::string> out;
  int n = PQntuples(res);
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.emplace_back(PQgetvalue(res, i, 0));
  return out;
}

Lsn LsnOrZero(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return 0;
  return ParseLsn(PQgetvalue(res, row, col)).value_or(0);
}

// Attribute names of an index, in index column order.
constexpr const char* kIndexColumnsSql =
    "SELECT a.attname FROM pg_index i"
    " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
    " WHERE i.indrelid = $1::oid AND ";

StatusOr<PgResultPtr> QueryParams(PGconn* conn, const char* sql, const std::vector<std::string>& params,
                                  std::string_view context) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResultPtr res(
      PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) return ResultError(conn, res.get(), context);
  return res;
}

}  // namespace

StatusOr<std::optional<TableDef>> ReadTableDef(PGconn* conn, const std::string& schema,
                                               const std::string& name) {
  const std::string context = "reading the definition of " + schema + "." + name;
  SC_ASSIGN_OR_RETURN(PgResultPtr rel, QueryParams(conn,
                                                   "SELECT c.oid FROM pg_class c"
                                                   " JOIN pg_namespace n ON n.oid = c.relnamespace"
                                                   " WHERE n.nspname = $1 AND c.relname = $2"
                                                   " AND c.relkind IN ('r', 'p')",
                                                   {schema, name}, context));
  if (PQntuples(rel.get()) != 1) return std::optional<TableDef>();
  const std::string oid = PQgetvalue(rel.get(), 0, 0);
  TableDef def;
  def.schema = schema;
  def.name = name;
  SC_ASSIGN_OR_RETURN(PgResultPtr cols,
                      QueryParams(conn,
                                  "SELECT attname, format_type(atttypid, atttypmod), attnotnull, atthasdef,"
                                  " attidentity, attgenerated <> '' FROM pg_attribute"
                                  " WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped"
                                  " ORDER BY attnum",
                                  {oid}, context));
  for (int i = 0; i < PQntuples(cols.get()); ++i) {
    ColumnDef c;
    c.name = PQgetvalue(cols.get(), i, 0);
    c.type = PQgetvalue(cols.get(), i, 1);
    c.not_null = PQgetvalue(cols.get(), i, 2)[0] == 't';
    c.has_default = PQgetvalue(cols.get(), i, 3)[0] == 't';
    c.identity = PQgetvalue(cols.get(), i, 4)[0];
    c.generated = PQgetvalue(cols.get(), i, 5)[0] == 't';
    def.columns.push_back(std::move(c));
  }
  // conkey of a primary key is in key order.
  SC_ASSIGN_OR_RETURN(PgResultPtr pk, QueryParams(conn,
                                                  "SELECT con.conname, a.attname FROM pg_constraint con"
                                                  " CROSS JOIN LATERAL unnest(con.conkey)"
                                                  " WITH ORDINALITY AS k(attnum, ord)"
                                                  " JOIN pg_attribute a ON a.attrelid = con.conrelid"
                                                  " AND a.attnum = k.attnum"
                                                  " WHERE con.conrelid = $1::oid AND con.contype = 'p'"
                                                  " ORDER BY k.ord",
                                                  {oid}, context));
  for (int i = 0; i < PQntuples(pk.get()); ++i) {
    def.primary_key_constraint = PQgetvalue(pk.get(), i, 0);
    def.primary_key.emplace_back(PQgetvalue(pk.get(), i, 1));
  }
  return std::optional<TableDef>(std::move(def));
}

struct SourceCatalog::Impl {
  PgConnPtr conn;

  // Runs sql with text parameters; fails unless it returns tuples or completes.
  StatusOr<PgResultPtr> Query(const std::string& sql, const std::vector<std::string>& params = {}) {
    if (!conn) return Unavailable("catalog connection is closed");
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p.c_str());
    PgResultPtr res(PQexecParams(conn.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
      return ResultError(conn.get(), res.get(), "source query");
    return res;
  }

  StatusOr<std::string> Single(const std::string& sql) {
    SC_ASSIGN_OR_RETURN(PgResultPtr res, Query(sql));
    if (PQntuples(res.get()) != 1 || PQnfields(res.get()) < 1 || PQgetisnull(res.get(), 0, 0)) {
      return Internal("unexpected result from: " + sql);
    }
    return std::string(PQgetvalue(res.get(), 0, 0));
  }
};

StatusOr<std::unique_ptr<SourceCatalog>> SourceCatalog::Connect(const std::string& dsn) {
  SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(dsn, /*replication=*/false, "the source"));
  std::unique_ptr<SourceCatalog> c(new SourceCatalog());
  c->impl_ = std::make_unique<Impl>();
  c->impl_->conn = std::move(conn);
  return c;
}

SourceCatalog::~SourceCatalog() = default;

StatusOr<SourceTableInfo> SourceCatalog::DescribeTable(const std::string& schema, const std::string& name) {
  SC_ASSIGN_OR_RETURN(PgResultPtr rel, impl_->Query("SELECT c.oid, c.relreplident FROM pg_class c"
                                                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                                                    " WHERE n.nspname = $1 AND c.relname = $2"
                                                    " AND c.relkind IN ('r', 'p')",
                                                    {schema, name}));
  if (PQntuples(rel.get()) != 1)
    return NotFound("table " + schema + "." + name + " does not exist on the source");
  std::string oid = PQgetvalue(rel.get(), 0, 0);
  SourceTableInfo info;
  info.schema = schema;
  info.name = name;
  info.replica_identity = PQgetvalue(rel.get(), 0, 1)[0];

  SC_ASSIGN_OR_RETURN(PgResultPtr cols,
                      impl_->Query("SELECT attname FROM pg_attribute WHERE attrelid = $1::oid"
                                   " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                                   {oid}));
  info.columns = FirstColumn(cols.get());
  SC_ASSIGN_OR_RETURN(PgResultPtr pk,
                      impl_->Query(std::string(kIndexColumnsSql) + "i.indisprimary ORDER BY k.ord", {oid}));
  info.primary_key = FirstColumn(pk.get());

  switch (info.replica_identity) {
    case 'd':
      info.identity_columns = info.primary_key;
      break;
    case 'f':
      info.identity_columns = info.columns;
      break;
    case 'i': {
      SC_ASSIGN_OR_RETURN(
          PgResultPtr ri,
          impl_->Query(std::string(kIndexColumnsSql) + "i.indisreplident ORDER BY k.ord", {oid}));
      info.identity_columns = FirstColumn(ri.get());
      break;
    }
    default:
      break;  // 'n': nothing identifies a row
  }
  return info;
}

StatusOr<TableDef> SourceCatalog::DescribeColumns(const std::string& schema, const std::string& name) {
  if (!impl_->conn) return Unavailable("catalog connection is closed");
  SC_ASSIGN_OR_RETURN(std::optional<TableDef> def, ReadTableDef(impl_->conn.get(), schema, name));
  if (!def) return NotFound("table " + schema + "." + name + " does not exist on the source");
  std::erase_if(def->columns, [](const ColumnDef& c) { return c.generated; });
  return std::move(*def);
}

Status SourceCatalog::EnsurePublication(const std::string& publication,
                                        const std::vector<std::pair<std::string, std::string>>& tables) {
  auto table_list = [](const std::vector<std::pair<std::string, std::string>>& ts) {
    std::string out;
    for (const auto& [schema, name] : ts) {
      if (!out.empty()) out += ", ";
      out += QuoteIdent(schema) + "." + QuoteIdent(name);
    }
    return out;
  };
  SC_ASSIGN_OR_RETURN(PgResultPtr exists,
                      impl_->Query("SELECT 1 FROM pg_publication WHERE pubname = $1", {publication}));
  if (PQntuples(exists.get()) == 0) {
    std::string sql = "CREATE PUBLICATION " + QuoteIdent(publication);
    if (!tables.empty()) sql += " FOR TABLE " + table_list(tables);
    sql += " WITH (publish_via_partition_root = true)";
    return Exec(sql).Prefixed("creating publication " + publication);
  }
  SC_ASSIGN_OR_RETURN(PgResultPtr have, impl_->Query("SELECT schemaname, tablename FROM pg_publication_tables"
                                                     " WHERE pubname = $1",
                                                     {publication}));
  std::set<std::pair<std::string, std::string>> present;
  for (int i = 0; i < PQntuples(have.get()); ++i)
    present.emplace(PQgetvalue(have.get(), i, 0), PQgetvalue(have.get(), i, 1));
  std::vector<std::pair<std::string, std::string>> missing;
  for (const auto& t : tables) {
    if (!present.count(t) && std::find(missing.begin(), missing.end(), t) == missing.end())
      missing.push_back(t);
  }
  if (missing.empty()) return Status::Ok();
  return Exec("ALTER PUBLICATION " + QuoteIdent(publication) + " ADD TABLE " + table_list(missing))
      .Prefixed("adding tables to publication " + publication);
}

StatusOr<std::optional<SlotInfo>> SourceCatalog::GetSlot(const std::string& slot) {
  SC_ASSIGN_OR_RETURN(PgResultPtr res,
                      impl_->Query("SELECT confirmed_flush_lsn, restart_lsn, wal_status, plugin,"
                                   " database FROM pg_replication_slots WHERE slot_name = $1",
                                   {slot}));
  if (PQntuples(res.get()) == 0) return std::optional<SlotInfo>();
  SlotInfo info;
  info.confirmed_flush_lsn = LsnOrZero(res.get(), 0, 0);
  info.restart_lsn = LsnOrZero(res.get(), 0, 1);
  info.wal_status = PQgetvalue(res.get(), 0, 2);
  info.plugin = PQgetvalue(res.get(), 0, 3);
  info.database = PQgetvalue(res.get(), 0, 4);
  return std::optional<SlotInfo>(std::move(info));
}

StatusOr<std::string> SourceCatalog::WalLevel() {
  return impl_->Single("SHOW wal_level");
}

StatusOr<Lsn> SourceCatalog::CurrentWalLsn() {
  SC_ASSIGN_OR_RETURN(std::string text, impl_->Single("SELECT pg_current_wal_lsn()"));
  auto lsn = ParseLsn(text);
  if (!lsn) return Internal("pg_current_wal_lsn() returned " + text);
  return *lsn;
}

StatusOr<std::string> SourceCatalog::SystemIdentifier() {
  return impl_->Single("SELECT system_identifier::text FROM pg_control_system()");
}

Status SourceCatalog::Exec(const std::string& sql) {
  if (!impl_->conn) return Unavailable("catalog connection is closed");
  PgResultPtr res(PQexec(impl_->conn.get(), sql.c_str()));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return ResultError(impl_->conn.get(), res.get(), sql);
  return Status::Ok();
}

namespace {
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

std::string PinnedDsn(const std::string& dsn, bool replication) {
  auto params = PinnedParams(dsn, replication);
  if (!params.ok()) return dsn;  // connecting reports the parse error
  std::string out;
  for (const auto& [k, v] : *params) {
    if (!out.empty()) out += ' ';
    out += k + "=" + QuoteConnValue(v);
  }
  return out;
}

}  // namespace shardcast
