#include "cdc/snapshot_reader.h"

#include <algorithm>
#include <cstdlib>

#include "pq/pq_util.h"

namespace shardcast {
namespace {

// ReadKeys asks for this many keys per statement: long enough to amortise
// the round trip, short enough to keep the statement small.
constexpr std::size_t kKeysPerQuery = 500;

std::string QualifiedName(const Relation& r) {
  return QuoteIdent(r.schema) + "." + QuoteIdent(r.name);
}

// "c1", "c2", ... of the given names.
std::string ColumnList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += QuoteIdent(n);
  }
  return out;
}

std::string AllColumns(const Relation& r) {
  std::string out;
  for (const auto& c : r.columns) {
    if (!out.empty()) out += ", ";
    out += QuoteIdent(c.name);
  }
  return out;
}

// ('v1', 'v2'): untyped literals, so they take the key columns' types.
StatusOr<std::string> KeyLiteral(const SnapshotTable& t, const Tuple& key) {
  if (key.size() != t.primary_key.size()) {
    return InvalidArgument("key of " + t.relation->QualifiedName() + " has " + std::to_string(key.size()) +
                           " values, the primary key " + std::to_string(t.primary_key.size()) + " columns");
  }
  std::string out = "(";
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (key[i].kind != Value::Kind::kText)
      return InvalidArgument("key column " + t.primary_key[i] + " of " + t.relation->QualifiedName() +
                             " is not a value");
    if (i > 0) out += ", ";
    out += QuoteLiteral(key[i].text);
  }
  out += ")";
  return out;
}

// " WHERE (k) > (...) AND (k) <= (...)", or empty for an unbounded range.
// A row comparison matches the primary key's btree order, so it is an index
// condition.
StatusOr<std::string> RangeWhere(const SnapshotTable& t, const KeyRange& range) {
  const std::string keys = "(" + ColumnList(t.primary_key) + ")";
  std::string where;
  if (range.after) {
    SC_ASSIGN_OR_RETURN(std::string lit, KeyLiteral(t, *range.after));
    where += " WHERE " + keys + " > " + lit;
  }
  if (range.upto) {
    SC_ASSIGN_OR_RETURN(std::string lit, KeyLiteral(t, *range.upto));
    where += (where.empty() ? " WHERE " : " AND ") + keys + " <= " + lit;
  }
  return where;
}

Tuple RowOf(const PGresult* res, int row) {
  Tuple t;
  const int n = PQnfields(res);
  t.reserve(static_cast<std::size_t>(n));
  for (int c = 0; c < n; ++c) {
    if (PQgetisnull(res, row, c)) {
      t.push_back(Value::Null());
    } else {
      t.push_back(Value::Text(
          std::string(PQgetvalue(res, row, c), static_cast<std::size_t>(PQgetlength(res, row, c)))));
    }
  }
  return t;
}

void AppendRows(const PGresult* res, std::vector<Tuple>& out) {
  const int n = PQntuples(res);
  out.reserve(out.size() + static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) out.push_back(RowOf(res, r));
}

}  // namespace

struct SnapshotReader::Impl {
  PgConnPtr conn;
  bool in_snapshot = false;
  // A failed CopyRange inside an imported snapshot reset the connection and
  // with it the snapshot: reads must fail rather than silently see "now".
  bool snapshot_lost = false;

  Status Usable() const {
    if (!conn) return Unavailable("snapshot connection is closed");
    if (snapshot_lost)
      return FailedPrecondition("the imported snapshot was lost when a copy was abandoned; import it again");
    return Status::Ok();
  }

  StatusOr<PgResultPtr> Run(const std::string& sql, std::string_view context) {
    SC_RETURN_IF_ERROR(Usable());
    return ExecSql(conn.get(), sql, context);
  }
};

StatusOr<std::unique_ptr<SnapshotReader>> SnapshotReader::Connect(const std::string& dsn) {
  SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(dsn, /*replication=*/false, "the source"));
  std::unique_ptr<SnapshotReader> r(new SnapshotReader());
  r->impl_ = std::make_unique<Impl>();
  r->impl_->conn = std::move(conn);
  return r;
}

SnapshotReader::~SnapshotReader() = default;

Status SnapshotReader::ImportSnapshot(const std::string& snapshot_name) {
  if (!impl_->conn) return Unavailable("snapshot connection is closed");
  if (impl_->in_snapshot) return FailedPrecondition("a snapshot is already imported; Finish() it first");
  impl_->snapshot_lost = false;
  SC_ASSIGN_OR_RETURN(PgResultPtr begin,
                      ExecSql(impl_->conn.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                              "starting snapshot transaction"));
  auto set = ExecSql(impl_->conn.get(), "SET TRANSACTION SNAPSHOT " + QuoteLiteral(snapshot_name),
                     "importing snapshot " + snapshot_name);
  if (!set.ok()) {
    PgResultPtr rollback(PQexec(impl_->conn.get(), "ROLLBACK"));
    return set.status();
  }
  impl_->in_snapshot = true;
  return Status::Ok();
}

Status SnapshotReader::Finish() {
  impl_->snapshot_lost = false;
  if (!impl_->in_snapshot) return Status::Ok();
  impl_->in_snapshot = false;
  if (!impl_->conn) return Unavailable("snapshot connection is closed");
  SC_ASSIGN_OR_RETURN(PgResultPtr res, ExecSql(impl_->conn.get(), "COMMIT", "ending snapshot transaction"));
  return Status::Ok();
}

StatusOr<SnapshotTable> SnapshotReader::Describe(const std::string& schema, const std::string& name) {
  const std::string qualified = schema + "." + name;
  const std::string context = "describing " + qualified;
  SC_ASSIGN_OR_RETURN(PgResultPtr rel, impl_->Run("SELECT c.oid, c.relreplident FROM pg_class c"
                                                  " JOIN pg_namespace n ON n.oid = c.relnamespace"
                                                  " WHERE n.nspname = " +
                                                      QuoteLiteral(schema) + " AND c.relname = " +
                                                      QuoteLiteral(name) + " AND c.relkind IN ('r', 'p')",
                                                  context));
  if (PQntuples(rel.get()) != 1) return NotFound("table " + qualified + " does not exist on the source");
  const std::string oid = PQgetvalue(rel.get(), 0, 0);
  auto relation = std::make_shared<Relation>();
  relation->oid = static_cast<std::uint32_t>(std::strtoul(oid.c_str(), nullptr, 10));
  relation->schema = schema;
  relation->name = name;
  relation->replica_identity = PQgetvalue(rel.get(), 0, 1)[0];

  // Generated columns are not published by pgoutput, so not read either.
  SC_ASSIGN_OR_RETURN(PgResultPtr cols, impl_->Run("SELECT attname, atttypid, atttypmod FROM pg_attribute"
                                                   " WHERE attrelid = " +
                                                       oid +
                                                       " AND attnum > 0 AND NOT attisdropped"
                                                       " AND attgenerated = '' ORDER BY attnum",
                                                   context));
  for (int i = 0; i < PQntuples(cols.get()); ++i) {
    Column c;
    c.name = PQgetvalue(cols.get(), i, 0);
    c.type_oid = static_cast<std::uint32_t>(std::strtoul(PQgetvalue(cols.get(), i, 1), nullptr, 10));
    c.type_modifier = static_cast<std::int32_t>(std::strtol(PQgetvalue(cols.get(), i, 2), nullptr, 10));
    relation->columns.push_back(std::move(c));
  }

  // Key columns of the primary key and of the replica identity index, in
  // index column order.
  SC_ASSIGN_OR_RETURN(
      PgResultPtr keys,
      impl_->Run("SELECT i.indisprimary, i.indisreplident, a.attname FROM pg_index i"
                 " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
                 " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                 " WHERE i.indrelid = " +
                     oid +
                     " AND (i.indisprimary OR i.indisreplident)"
                     " ORDER BY i.indisprimary DESC, k.ord",
                 context));
  SnapshotTable table;
  std::vector<std::string> replident_index;
  for (int i = 0; i < PQntuples(keys.get()); ++i) {
    std::string col = PQgetvalue(keys.get(), i, 2);
    if (PQgetvalue(keys.get(), i, 0)[0] == 't') table.primary_key.push_back(col);
    if (PQgetvalue(keys.get(), i, 1)[0] == 't') replident_index.push_back(col);
  }
  if (table.primary_key.empty()) return FailedPrecondition("table " + qualified + " has no primary key");

  // part_of_identity as pgoutput's Relation message sets it.
  const char ident = relation->replica_identity;
  for (auto& c : relation->columns) {
    const auto& idx = ident == 'i' ? replident_index : table.primary_key;
    c.part_of_identity = ident == 'f' || ((ident == 'd' || ident == 'i') &&
                                          std::find(idx.begin(), idx.end(), c.name) != idx.end());
  }
  for (const auto& k : table.primary_key) {
    const int index = relation->ColumnIndex(k);
    if (index < 0)
      return FailedPrecondition("primary key column " + k + " of " + qualified + " is generated");
    table.key_index.push_back(index);
  }
  table.relation = std::move(relation);
  return table;
}

StatusOr<std::vector<KeyRange>> SnapshotReader::PlanRanges(const SnapshotTable& table,
                                                           std::int64_t chunk_rows, std::int64_t* rows) {
  if (chunk_rows <= 0) return InvalidArgument("chunk_rows must be positive");
  const std::string keys = ColumnList(table.primary_key);
  const std::string n = std::to_string(chunk_rows);
  // One ordered pass over the key: every chunk_rows-th key is a boundary;
  // lead() marks the last row, whose row number is the count and which is
  // never a boundary (that would leave an empty tail range).
  const std::string sql = "SELECT " + keys + ", sc_rn, sc_last FROM (SELECT " + keys +
                          ", row_number() OVER sc_w AS sc_rn, lead(true) OVER sc_w IS NULL AS sc_last FROM " +
                          QualifiedName(*table.relation) + " WINDOW sc_w AS (ORDER BY " + keys +
                          ")) s WHERE sc_rn % " + n + " = 0 OR sc_last ORDER BY " + keys;
  SC_ASSIGN_OR_RETURN(PgResultPtr res,
                      impl_->Run(sql, "planning ranges of " + table.relation->QualifiedName()));
  const int nkeys = static_cast<int>(table.primary_key.size());
  std::vector<KeyRange> ranges;
  std::optional<Tuple> after;
  std::int64_t count = 0;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    if (PQgetvalue(res.get(), r, nkeys + 1)[0] == 't') {
      count = std::strtoll(PQgetvalue(res.get(), r, nkeys), nullptr, 10);
      continue;
    }
    Tuple key;
    key.reserve(static_cast<std::size_t>(nkeys));
    for (int c = 0; c < nkeys; ++c) key.push_back(Value::Text(PQgetvalue(res.get(), r, c)));
    ranges.push_back(KeyRange{after, key});
    after = std::move(key);
  }
  ranges.push_back(KeyRange{std::move(after), std::nullopt});
  if (rows != nullptr) *rows = count;
  return ranges;
}

Status SnapshotReader::CopyRange(const SnapshotTable& table, const KeyRange& range,
                                 const std::function<Status(std::string_view line)>& on_line) {
  SC_RETURN_IF_ERROR(impl_->Usable());
  const std::string what = "copying " + table.relation->QualifiedName();
  SC_ASSIGN_OR_RETURN(std::string where, RangeWhere(table, range));
  const std::string sql = "COPY (SELECT " + AllColumns(*table.relation) + " FROM " +
                          QualifiedName(*table.relation) + where + " ORDER BY " +
                          ColumnList(table.primary_key) + ") TO STDOUT";
  PGconn* conn = impl_->conn.get();
  PgResultPtr start(PQexec(conn, sql.c_str()));
  if (!start || PQresultStatus(start.get()) != PGRES_COPY_OUT) return ResultError(conn, start.get(), what);
  start.reset();

  for (;;) {
    char* raw = nullptr;
    int n = PQgetCopyData(conn, &raw, /*async=*/0);
    if (n > 0) {
      std::unique_ptr<char, PqFreeDeleter> buf(raw);
      std::size_t len = static_cast<std::size_t>(n);
      if (raw[len - 1] == '\n') --len;
      Status st = on_line(std::string_view(raw, len));
      if (!st.ok()) {
        // Stopping a COPY midway needs a cancel and a drain of what is in
        // flight; a fresh connection is simpler and as quick.
        PQreset(conn);
        if (impl_->in_snapshot) {
          impl_->in_snapshot = false;
          impl_->snapshot_lost = true;
        }
        return st;
      }
      continue;
    }
    if (n == -1) break;
    return Unavailable(what + ": " + PQerrorMessage(conn));
  }
  Status result = Status::Ok();
  while (PGresult* r = PQgetResult(conn)) {
    PgResultPtr res(r);
    if (result.ok() && PQresultStatus(r) != PGRES_COMMAND_OK) result = ResultError(conn, r, what);
  }
  return result;
}

StatusOr<std::vector<Tuple>> SnapshotReader::ReadRange(const SnapshotTable& table, const KeyRange& range,
                                                       std::int64_t limit) {
  if (limit <= 0) return InvalidArgument("limit must be positive");
  SC_ASSIGN_OR_RETURN(std::string where, RangeWhere(table, range));
  const std::string sql = "SELECT " + AllColumns(*table.relation) + " FROM " +
                          QualifiedName(*table.relation) + where + " ORDER BY " +
                          ColumnList(table.primary_key) + " LIMIT " + std::to_string(limit);
  SC_ASSIGN_OR_RETURN(PgResultPtr res, impl_->Run(sql, "reading " + table.relation->QualifiedName()));
  std::vector<Tuple> out;
  AppendRows(res.get(), out);
  return out;
}

StatusOr<std::vector<Tuple>> SnapshotReader::ReadKeys(const SnapshotTable& table,
                                                      const std::vector<Tuple>& keys) {
  std::vector<Tuple> out;
  const std::string head = "SELECT " + AllColumns(*table.relation) + " FROM " +
                           QualifiedName(*table.relation) + " WHERE (" + ColumnList(table.primary_key) +
                           ") IN (";
  const std::string tail = ") ORDER BY " + ColumnList(table.primary_key);
  for (std::size_t start = 0; start < keys.size(); start += kKeysPerQuery) {
    std::string sql = head;
    const std::size_t end = std::min(keys.size(), start + kKeysPerQuery);
    for (std::size_t i = start; i < end; ++i) {
      SC_ASSIGN_OR_RETURN(std::string lit, KeyLiteral(table, keys[i]));
      if (i > start) sql += ", ";
      sql += lit;
    }
    sql += tail;
    SC_ASSIGN_OR_RETURN(PgResultPtr res,
                        impl_->Run(sql, "reading keys of " + table.relation->QualifiedName()));
    AppendRows(res.get(), out);
  }
  return out;
}

Status SnapshotReader::Exec(const std::string& sql) {
  SC_ASSIGN_OR_RETURN(PgResultPtr res, impl_->Run(sql, "source statement"));
  return Status::Ok();
}

StatusOr<std::vector<Tuple>> SnapshotReader::Query(const std::string& sql) {
  SC_ASSIGN_OR_RETURN(PgResultPtr res, impl_->Run(sql, "source query"));
  std::vector<Tuple> out;
  AppendRows(res.get(), out);
  return out;
}

Tuple KeyOf(const SnapshotTable& table, const Tuple& row) {
  Tuple key;
  key.reserve(table.key_index.size());
  for (int i : table.key_index) key.push_back(row[static_cast<std::size_t>(i)]);
  return key;
}

}  // namespace shardcast
