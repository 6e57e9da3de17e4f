#include "sink/postgres/sql_builder.h"

#include <algorithm>
#include <utility>

namespace shardcast {
namespace {

constexpr std::size_t kKeysShown = 5;       // rows of a grouped statement named in errors
constexpr std::size_t kKeyValueShown = 64;  // bytes of one key value named in errors
constexpr std::string_view kEnd = ";\n";

void AppendQualified(std::string& out, const std::string& schema, const std::string& name) {
  AppendIdentifier(out, schema);
  out += '.';
  AppendIdentifier(out, name);
}

}  // namespace

std::string KeyIdentity(const std::vector<int>& key_index, const Tuple& tuple) {
  std::string out;
  for (int i : key_index) {
    const auto k = static_cast<std::size_t>(i);
    if (k >= tuple.size()) {
      out += "-;";
      continue;
    }
    const Value& v = tuple[k];
    if (v.is_null()) {
      out += "N;";
    } else if (v.is_unchanged()) {
      out += "U;";
    } else {
      out += std::to_string(v.text.size());
      out += ':';
      out += v.text;
    }
  }
  return out;
}

std::string StatementInfo::Describe() const {
  std::string out = subject;
  if (rows > 0) {
    out += ' ';
    out += keys;
    if (rows > keys_shown) out += " and " + std::to_string(rows - keys_shown) + " more rows";
  }
  if (first_lsn != 0) {
    out += first_lsn == last_lsn ? " at position " : " at positions ";
    out += FormatLsn(first_lsn);
    if (last_lsn != first_lsn) out += ".." + FormatLsn(last_lsn);
  }
  return out;
}

void AppendIdentifier(std::string& out, std::string_view name) {
  out += '"';
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void AppendLiteral(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + 2);
  out += '\'';
  std::size_t start = 0;
  for (std::size_t q = text.find('\''); q != std::string_view::npos; q = text.find('\'', start)) {
    out.append(text.substr(start, q + 1 - start));
    out += '\'';
    start = q + 1;
  }
  out.append(text.substr(start));
  out += '\'';
}

void AppendValue(std::string& out, const Value& value) {
  if (value.is_null()) {
    out += "NULL";
  } else {
    AppendLiteral(out, value.text);
  }
}

namespace {

// An update whose old key (from its old tuple) differs from its new key.
bool KeyChanged(const std::vector<int>& key_index, const Change& change) {
  if (change.op != Op::kUpdate || (change.old_kind != 'K' && change.old_kind != 'O')) return false;
  for (int i : key_index) {
    const auto k = static_cast<std::size_t>(i);
    if (k >= change.old_tuple.size() || k >= change.new_tuple.size()) return false;
    const Value& a = change.old_tuple[k];
    const Value& b = change.new_tuple[k];
    if (a.kind != b.kind || a.text != b.text) return true;
  }
  return false;
}

}  // namespace

const Tuple& KeyTuple(const Change& change) {
  bool has_old = change.old_kind == 'K' || change.old_kind == 'O';
  return has_old ? change.old_tuple : change.new_tuple;
}

SqlBuilder::SqlBuilder(const std::vector<TableSpec>& tables, std::size_t max_chunk_bytes, Sender sender)
    : tables_(tables),
      max_chunk_bytes_(std::max<std::size_t>(max_chunk_bytes, 1)),
      sender_(std::move(sender)) {}

StatusOr<const SqlBuilder::RelationSql*> SqlBuilder::SqlFor(const Relation& rel, const TableSpec& spec) {
  auto it = relations_.find(&rel);
  if (it != relations_.end()) return &it->second;
  RelationSql sql;
  if (spec.primary_key.empty()) {
    return FailedPrecondition("table " + rel.QualifiedName() + " has no primary key; shards apply by key");
  }
  sql.key_names = "(";
  for (const auto& column : spec.primary_key) {
    int index = rel.ColumnIndex(column);
    if (index < 0) {
      return FailedPrecondition("table " + rel.QualifiedName() + ": primary key column " + column +
                                " is not in the replicated columns");
    }
    sql.key_index.push_back(index);
    if (sql.key_names.size() > 1) sql.key_names += ", ";
    sql.key_names += column;
  }
  sql.key_names += ')';

  sql.insert_head = "INSERT INTO ";
  AppendQualified(sql.insert_head, rel.schema, rel.name);
  sql.insert_head += " (";
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (i > 0) sql.insert_head += ',';
    AppendIdentifier(sql.insert_head, rel.columns[i].name);
  }
  sql.insert_head += ") VALUES ";

  sql.delete_head = "DELETE FROM ";
  AppendQualified(sql.delete_head, rel.schema, rel.name);
  sql.delete_head += " WHERE ";
  if (sql.key_index.size() > 1) sql.delete_head += '(';
  for (std::size_t i = 0; i < spec.primary_key.size(); ++i) {
    if (i > 0) sql.delete_head += ',';
    AppendIdentifier(sql.delete_head, spec.primary_key[i]);
  }
  if (sql.key_index.size() > 1) sql.delete_head += ')';
  sql.delete_head += " IN (";

  sql.upsert_tail = " ON CONFLICT (";
  for (std::size_t i = 0; i < spec.primary_key.size(); ++i) {
    if (i > 0) sql.upsert_tail += ',';
    AppendIdentifier(sql.upsert_tail, spec.primary_key[i]);
  }
  sql.upsert_tail += ") DO ";
  bool any = false;
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    if (std::find(sql.key_index.begin(), sql.key_index.end(), static_cast<int>(i)) != sql.key_index.end())
      continue;
    sql.upsert_tail += any ? "," : "UPDATE SET ";
    AppendIdentifier(sql.upsert_tail, rel.columns[i].name);
    sql.upsert_tail += "=EXCLUDED.";
    AppendIdentifier(sql.upsert_tail, rel.columns[i].name);
    any = true;
  }
  if (!any) sql.upsert_tail += "NOTHING";
  return &relations_.emplace(&rel, std::move(sql)).first->second;
}

std::string SqlBuilder::KeyText(const RelationSql& sql, const Tuple& tuple) const {
  std::string out = sql.key_names + "=(";
  for (std::size_t i = 0; i < sql.key_index.size(); ++i) {
    if (i > 0) out += ", ";
    const Value& v = tuple[sql.key_index[i]];
    if (v.is_null()) {
      out += "NULL";
    } else if (v.text.size() > kKeyValueShown) {
      out += v.text.substr(0, kKeyValueShown) + "...";
    } else {
      out += v.text;
    }
  }
  out += ')';
  return out;
}

Status SqlBuilder::Add(ShardAction action, const Change& change, const Placement& placement, Lsn end_lsn) {
  if (action == ShardAction::kSkip) return Status::Ok();
  if (action == ShardAction::kTruncate) return AddTruncate(change, end_lsn);
  if (change.relation == nullptr || placement.table == nullptr) {
    return Internal("a row change for a shard has no relation or table");
  }
  const Relation& rel = *change.relation;
  SC_ASSIGN_OR_RETURN(const RelationSql* sql, SqlFor(rel, *placement.table));
  switch (action) {
    case ShardAction::kInsert:
      // A moving update inserts the whole new row, 'u' values filled in.
      return AddInsert(Group::kInsert, rel, change.op == Op::kUpdate ? placement.full_new : change.new_tuple,
                       *sql, end_lsn);
    case ShardAction::kUpsert:
      // An update that changed the primary key, applied as an upsert (inside
      // a backfill): the old key's row goes first.
      if (KeyChanged(sql->key_index, change))
        SC_RETURN_IF_ERROR(AddDelete(rel, KeyTuple(change), *sql, end_lsn));
      return AddInsert(Group::kUpsert, rel, change.new_tuple, *sql, end_lsn);
    case ShardAction::kDelete:
      return AddDelete(rel, KeyTuple(change), *sql, end_lsn);
    case ShardAction::kUpdate:
      return AddUpdate(change, *sql, end_lsn);
    default:
      return Internal("unknown shard action");
  }
}

Status SqlBuilder::AddNet(ShardAction action, const Relation& rel, const TableSpec& spec,
                          const Tuple& key_or_row, Lsn end_lsn) {
  SC_ASSIGN_OR_RETURN(const RelationSql* sql, SqlFor(rel, spec));
  switch (action) {
    case ShardAction::kDelete:
      return AddDelete(rel, key_or_row, *sql, end_lsn);
    case ShardAction::kInsert:
      return AddInsert(Group::kInsert, rel, key_or_row, *sql, end_lsn);
    case ShardAction::kUpsert:
      return AddInsert(Group::kUpsert, rel, key_or_row, *sql, end_lsn);
    default:
      return Internal("AddNet: a net effect is a delete, an insert or an upsert");
  }
}

Status SqlBuilder::AddInsert(Group kind, const Relation& rel, const Tuple& tuple, const RelationSql& sql,
                             Lsn end_lsn) {
  const char* what = kind == Group::kUpsert ? "upserted" : "inserted";
  if (tuple.size() != rel.columns.size()) {
    return Corruption(rel.QualifiedName() + ": " + what + " row has " + std::to_string(tuple.size()) +
                      " values for " + std::to_string(rel.columns.size()) + " columns");
  }
  std::string row = "(";
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    if (tuple[i].is_unchanged()) {
      return Internal(rel.QualifiedName() + ": " + what + " row lacks the unchanged-TOAST value of column " +
                      rel.columns[i].name);
    }
    if (i > 0) row += ',';
    AppendValue(row, tuple[i]);
  }
  row += ')';
  return AddRow(kind, rel, sql, row, tuple, end_lsn);
}

Status SqlBuilder::AddDelete(const Relation& rel, const Tuple& key, const RelationSql& sql, Lsn end_lsn) {
  std::string row;
  if (sql.key_index.size() > 1) row += '(';
  for (std::size_t i = 0; i < sql.key_index.size(); ++i) {
    std::size_t index = static_cast<std::size_t>(sql.key_index[i]);
    if (index >= key.size() || key[index].is_unchanged()) {
      return Corruption(rel.QualifiedName() + ": delete lacks primary key column " + rel.columns[index].name);
    }
    if (i > 0) row += ',';
    AppendValue(row, key[index]);
  }
  if (sql.key_index.size() > 1) row += ')';
  return AddRow(Group::kDelete, rel, sql, row, key, end_lsn);
}

Status SqlBuilder::AddRow(Group kind, const Relation& rel, const RelationSql& sql, const std::string& row,
                          const Tuple& key_source, Lsn end_lsn) {
  if (group_ != Group::kNone && (group_ != kind || group_rel_ != &rel)) CloseGroup();
  std::string key_identity;
  if (kind == Group::kUpsert) {
    key_identity = KeyIdentity(sql.key_index, key_source);
    if (group_ != Group::kNone && group_keys_.count(key_identity) > 0) CloseGroup();
  }
  std::size_t closer = Closer(kind, sql).size() + kEnd.size();
  if (group_ != Group::kNone &&
      chunk_.sql.size() + stmt_.size() + 1 + row.size() + closer > max_chunk_bytes_) {
    CloseGroup();
    SC_RETURN_IF_ERROR(Flush());
  }
  if (group_ == Group::kNone) {
    const std::string& head = kind == Group::kDelete ? sql.delete_head : sql.insert_head;
    if (!chunk_.empty() && chunk_.sql.size() + head.size() + row.size() + closer > max_chunk_bytes_) {
      SC_RETURN_IF_ERROR(Flush());
    }
    stmt_ = head;
    stmt_ += row;
    bytes_built_ += head.size() + closer;
    stmt_info_ = StatementInfo{rel.QualifiedName(), {}, 0, 0, end_lsn, end_lsn};
    group_ = kind;
    group_rel_ = &rel;
    group_sql_ = &sql;
  } else {
    stmt_ += ',';
    stmt_ += row;
  }
  if (kind == Group::kUpsert) group_keys_.insert(std::move(key_identity));
  bytes_built_ += row.size() + (stmt_info_.rows > 0 ? 1 : 0);
  stmt_info_.rows++;
  // Net-effect runs add rows out of position order: keep the range ordered.
  stmt_info_.first_lsn = std::min(stmt_info_.first_lsn, end_lsn);
  stmt_info_.last_lsn = std::max(stmt_info_.last_lsn, end_lsn);
  if (stmt_info_.keys_shown < kKeysShown) {
    if (stmt_info_.keys_shown > 0) stmt_info_.keys += ", ";
    stmt_info_.keys += KeyText(sql, key_source);
    stmt_info_.keys_shown++;
  }
  return Status::Ok();
}

Status SqlBuilder::AddUpdate(const Change& change, const RelationSql& sql, Lsn end_lsn) {
  const Relation& rel = *change.relation;
  const Tuple& next = change.new_tuple;
  const Tuple& key = KeyTuple(change);
  if (next.size() != rel.columns.size() || key.size() != rel.columns.size()) {
    return Corruption(rel.QualifiedName() + ": update tuple does not match the relation's " +
                      std::to_string(rel.columns.size()) + " columns");
  }
  std::string stmt = "UPDATE ";
  AppendQualified(stmt, rel.schema, rel.name);
  stmt += " SET ";
  bool any = false;
  for (std::size_t i = 0; i < next.size(); ++i) {
    if (next[i].is_unchanged()) continue;  // unchanged TOAST: leave the shard's value
    if (any) stmt += ',';
    AppendIdentifier(stmt, rel.columns[i].name);
    stmt += '=';
    AppendValue(stmt, next[i]);
    any = true;
  }
  if (!any) return Status::Ok();
  stmt += " WHERE ";
  for (std::size_t i = 0; i < sql.key_index.size(); ++i) {
    const Value& v = key[sql.key_index[i]];
    if (v.is_unchanged()) {
      return Corruption(rel.QualifiedName() + ": update lacks primary key column " +
                        rel.columns[sql.key_index[i]].name);
    }
    if (i > 0) stmt += " AND ";
    AppendIdentifier(stmt, rel.columns[sql.key_index[i]].name);
    if (v.is_null()) {
      stmt += " IS NULL";
    } else {
      stmt += '=';
      AppendLiteral(stmt, v.text);
    }
  }
  return AppendStatement(stmt, StatementInfo{rel.QualifiedName(), KeyText(sql, key), 1, 1, end_lsn, end_lsn});
}

Status SqlBuilder::AddTruncate(const Change& change, Lsn end_lsn) {
  std::string stmt = "TRUNCATE ";
  std::string what = "TRUNCATE ";
  bool any = false;
  for (const auto& rel : change.truncated) {
    if (rel == nullptr) continue;
    bool configured = std::any_of(tables_.begin(), tables_.end(), [&](const TableSpec& t) {
      return t.schema == rel->schema && t.name == rel->name;
    });
    if (!configured) continue;
    if (any) {
      stmt += ", ";
      what += ", ";
    }
    AppendQualified(stmt, rel->schema, rel->name);
    what += rel->QualifiedName();
    any = true;
  }
  if (!any) return Status::Ok();
  if (change.truncate_options & 2) stmt += " RESTART IDENTITY";
  if (change.truncate_options & 1) stmt += " CASCADE";
  return AddStatement(stmt, std::move(what), end_lsn);
}

Status SqlBuilder::AddStatement(std::string_view sql, std::string what, Lsn lsn) {
  return AppendStatement(sql, StatementInfo{std::move(what), {}, 0, 0, lsn, lsn});
}

Status SqlBuilder::AppendStatement(std::string_view sql, StatementInfo info) {
  CloseGroup();
  if (!chunk_.empty() && chunk_.sql.size() + sql.size() + kEnd.size() > max_chunk_bytes_) {
    SC_RETURN_IF_ERROR(Flush());
  }
  chunk_.sql.append(sql);
  chunk_.sql.append(kEnd);
  chunk_.statements.push_back(std::move(info));
  bytes_built_ += sql.size() + kEnd.size();
  return Status::Ok();
}

void SqlBuilder::CloseGroup() {
  if (group_ == Group::kNone) return;
  chunk_.sql += stmt_;
  chunk_.sql += Closer(group_, *group_sql_);
  chunk_.sql += kEnd;
  chunk_.statements.push_back(std::move(stmt_info_));
  DropGroup();
}

void SqlBuilder::DropGroup() {
  stmt_.clear();
  stmt_info_ = {};
  group_ = Group::kNone;
  group_rel_ = nullptr;
  group_sql_ = nullptr;
  group_keys_.clear();
}

std::string_view SqlBuilder::Closer(Group kind, const RelationSql& sql) {
  switch (kind) {
    case Group::kDelete:
      return ")";
    case Group::kUpsert:
      return sql.upsert_tail;
    default:
      return "";
  }
}

Status SqlBuilder::Flush() {
  if (chunk_.empty()) return Status::Ok();
  Status s = sender_(chunk_);
  chunk_.sql.clear();  // keeps the capacity: large strings are costly to fault in again
  chunk_.statements.clear();
  return s;
}

void SqlBuilder::Reset() {
  relations_.clear();
  chunk_.sql.clear();
  chunk_.statements.clear();
  DropGroup();
  bytes_built_ = 0;
}

Status SqlBuilder::Finish() {
  CloseGroup();
  return Flush();
}

}  // namespace shardcast
