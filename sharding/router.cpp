#include "sharding/router.h"

#include <utility>

#include "sharding/shard_key.h"

namespace shardcast {

namespace {

std::string FullIdentityFix(const std::string& table) {
  return "run ALTER TABLE " + table + " REPLICA IDENTITY FULL";
}

// A relation resolved against the configuration once per Route call, so the
// per-change work is a pointer compare.
struct ResolvedTable {
  const Relation* relation = nullptr;
  const TableSpec* spec = nullptr;  // nullptr: not replicated
  std::vector<int> key_columns;     // indexes into relation->columns
};

// Reads shard keys out of tuples and hashes them, reusing one byte buffer.
class KeyReader {
 public:
  explicit KeyReader(const Ring* ring) : ring_(ring) { buf_.reserve(64); }

  // Fails when the old tuple is a replica-identity key ('K') that does not
  // carry every shard key column (the others arrive as NULLs).
  static Status CheckOldHasKey(const ResolvedTable& t, char old_kind, const char* op) {
    if (old_kind != 'K') return Status::Ok();
    for (int idx : t.key_columns) {
      const Column& col = t.relation->columns[idx];
      if (col.part_of_identity) continue;
      const std::string table = t.spec->QualifiedName();
      return FailedPrecondition("table " + table + ": shard key column " + col.name +
                                " is not part of the replica identity, so the source does not send its old "
                                "value on " +
                                op + "; " + FullIdentityFix(table));
    }
    return Status::Ok();
  }

  // Owner of the key in `row`. An unchanged-TOAST ('u') key value is taken
  // from `fallback` (the old row) when one is given.
  StatusOr<std::int32_t> Owner(const ResolvedTable& t, const Tuple& row, const Tuple* fallback) {
    buf_.clear();
    for (int idx : t.key_columns) {
      const auto i = static_cast<std::size_t>(idx);
      const Value* v = i < row.size() ? &row[i] : nullptr;
      if (v != nullptr && v->is_unchanged() && fallback != nullptr)
        v = i < fallback->size() ? &(*fallback)[i] : nullptr;
      if (v == nullptr) {
        return Corruption("table " + t.spec->QualifiedName() + ": tuple of " + std::to_string(row.size()) +
                          " columns lacks shard key column " + t.relation->columns[i].name);
      }
      if (v->is_unchanged()) {
        const std::string table = t.spec->QualifiedName();
        return FailedPrecondition("table " + table + ": shard key column " + t.relation->columns[i].name +
                                  " arrived as an unchanged TOAST value with no old value to take it from; " +
                                  FullIdentityFix(table));
      }
      if (v->is_null()) {
        AppendCanonical(buf_, std::nullopt);
      } else {
        AppendCanonical(buf_, std::string_view(v->text));
      }
    }
    return static_cast<std::int32_t>(ring_->OwnerOf(HashCanonical(buf_)));
  }

 private:
  const Ring* ring_;
  std::string buf_;
};

bool HasUnchanged(const Tuple& t) {
  for (const auto& v : t)
    if (v.is_unchanged()) return true;
  return false;
}

std::size_t TupleBytes(const Tuple& t) {
  std::size_t n = 0;
  for (const auto& v : t) n += sizeof(Value) + v.text.size();
  return n;
}

}  // namespace

Router::Router(std::vector<TableSpec> tables, std::shared_ptr<const Ring> ring)
    : tables_(std::move(tables)), ring_(std::move(ring)) {
  // tables_ is never resized after this, so the pointers stay valid.
  for (const auto& t : tables_) by_name_.emplace(t.QualifiedName(), &t);
}

Router::Router(const Router& other) : tables_(other.tables_), ring_(other.ring_) {
  for (const auto& t : tables_) by_name_.emplace(t.QualifiedName(), &t);
}

Router& Router::operator=(const Router& other) {
  if (this == &other) return *this;
  tables_ = other.tables_;
  ring_ = other.ring_;
  by_name_.clear();
  for (const auto& t : tables_) by_name_.emplace(t.QualifiedName(), &t);
  return *this;
}

const TableSpec* Router::Find(const std::string& schema, const std::string& name) const {
  std::string key;
  key.reserve(schema.size() + 1 + name.size());
  key.append(schema).append(".").append(name);
  auto it = by_name_.find(key);
  return it == by_name_.end() ? nullptr : it->second;
}

namespace {

// Routes one row change of a configured table into `p`.
Status RouteRow(const Change& c, const ResolvedTable& t, KeyReader& keys, Placement& p) {
  if (t.spec->mode == TableMode::kReference) {
    p.old_owner = p.new_owner = Placement::kAll;
    return Status::Ok();
  }
  switch (c.op) {
    case Op::kInsert:
    case Op::kRead: {
      SC_ASSIGN_OR_RETURN(p.new_owner, keys.Owner(t, c.new_tuple, nullptr));
      return Status::Ok();
    }
    case Op::kDelete: {
      SC_RETURN_IF_ERROR(KeyReader::CheckOldHasKey(t, c.old_kind, "DELETE"));
      if (c.old_kind != 'K' && c.old_kind != 'O') {
        const std::string table = t.spec->QualifiedName();
        return FailedPrecondition("table " + table +
                                  ": DELETE carried no old row to read the shard key from; " +
                                  FullIdentityFix(table));
      }
      SC_ASSIGN_OR_RETURN(p.old_owner, keys.Owner(t, c.old_tuple, nullptr));
      return Status::Ok();
    }
    case Op::kUpdate: {
      const bool has_old = c.old_kind == 'K' || c.old_kind == 'O';
      if (has_old) SC_RETURN_IF_ERROR(KeyReader::CheckOldHasKey(t, c.old_kind, "UPDATE"));
      // After CheckOldHasKey every shard key column of a 'K' old tuple is real.
      SC_ASSIGN_OR_RETURN(p.new_owner, keys.Owner(t, c.new_tuple, has_old ? &c.old_tuple : nullptr));
      if (!has_old) {
        p.old_owner = p.new_owner;
        return Status::Ok();
      }
      SC_ASSIGN_OR_RETURN(p.old_owner, keys.Owner(t, c.old_tuple, nullptr));
      if (p.old_owner == p.new_owner) return Status::Ok();
      // The row moves: the new owner needs the whole row.
      if (c.old_kind != 'O' && HasUnchanged(c.new_tuple)) {
        const std::string table = t.spec->QualifiedName();
        return FailedPrecondition("table " + table +
                                  ": an UPDATE moves a row to another shard but unchanged TOAST values "
                                  "cannot be filled without the whole old row; " +
                                  FullIdentityFix(table));
      }
      p.full_new = c.new_tuple;
      for (std::size_t i = 0; i < p.full_new.size(); ++i) {
        if (!p.full_new[i].is_unchanged()) continue;
        if (i >= c.old_tuple.size() || c.old_tuple[i].is_unchanged()) {
          return Corruption("table " + t.spec->QualifiedName() + ": old row lacks column " +
                            t.relation->columns[i].name + " to fill an unchanged value");
        }
        p.full_new[i] = c.old_tuple[i];
      }
      return Status::Ok();
    }
    case Op::kTruncate:
      break;
  }
  return Internal("RouteRow called for TRUNCATE");
}

}  // namespace

StatusOr<std::shared_ptr<const RoutedTransaction>> Router::Route(
    std::shared_ptr<const Transaction> txn) const {
  auto out = std::make_shared<RoutedTransaction>();
  out->epoch = ring_ ? ring_->epoch() : 0;
  out->ring = ring_;
  out->placements.resize(txn->changes.size());
  std::size_t bytes = txn->approx_bytes + out->placements.size() * sizeof(Placement);

  KeyReader keys(ring_.get());
  std::vector<ResolvedTable> resolved;  // a transaction touches few tables
  auto resolve = [&](const Relation& rel) -> StatusOr<const ResolvedTable*> {
    for (const auto& r : resolved)
      if (r.relation == &rel) return &r;
    ResolvedTable r;
    r.relation = &rel;
    r.spec = Find(rel.schema, rel.name);
    if (r.spec != nullptr && r.spec->mode == TableMode::kDistributed) {
      if (ring_ == nullptr) return FailedPrecondition("no ring to route table " + r.spec->QualifiedName());
      for (const auto& col : r.spec->shard_key) {
        int idx = rel.ColumnIndex(col);
        if (idx < 0) {
          return FailedPrecondition("table " + r.spec->QualifiedName() + ": shard key column " + col +
                                    " is not a column of the source table");
        }
        r.key_columns.push_back(idx);
      }
      if (r.key_columns.empty())
        return FailedPrecondition("table " + r.spec->QualifiedName() + " has no shard key");
    }
    resolved.push_back(std::move(r));
    return &resolved.back();
  };

  for (std::size_t i = 0; i < txn->changes.size(); ++i) {
    const Change& c = txn->changes[i];
    Placement& p = out->placements[i];
    if (c.op == Op::kTruncate) {
      for (const auto& rel : c.truncated) {
        if (rel == nullptr) continue;
        if ((p.table = Find(rel->schema, rel->name)) != nullptr) break;
      }
      p.old_owner = p.new_owner = Placement::kAll;
      continue;
    }
    if (c.relation == nullptr) return Corruption("change " + std::to_string(c.ordinal) + " has no relation");
    auto t = resolve(*c.relation);
    if (!t.ok()) return t.status();
    const ResolvedTable& table = **t;
    if (table.spec == nullptr) continue;  // not replicated
    p.table = table.spec;
    Status s = RouteRow(c, table, keys, p);
    if (!s.ok())
      return s.Prefixed("routing change " + std::to_string(c.ordinal) + " of xid " +
                        std::to_string(txn->xid));
    bytes += TupleBytes(p.full_new);
  }
  out->approx_bytes = bytes;
  out->txn = std::move(txn);
  return std::shared_ptr<const RoutedTransaction>(std::move(out));
}

ShardAction ActionFor(const Change& change, const Placement& p, std::int32_t shard_index) {
  if (p.table == nullptr) return ShardAction::kSkip;
  auto owns = [shard_index](std::int32_t owner) { return owner == Placement::kAll || owner == shard_index; };
  switch (change.op) {
    case Op::kTruncate:
      return ShardAction::kTruncate;
    case Op::kInsert:
      if (!owns(p.new_owner)) return ShardAction::kSkip;
      return change.upsert ? ShardAction::kUpsert : ShardAction::kInsert;
    case Op::kRead:
      return owns(p.new_owner) ? ShardAction::kUpsert : ShardAction::kSkip;
    case Op::kDelete:
      return owns(p.old_owner) ? ShardAction::kDelete : ShardAction::kSkip;
    case Op::kUpdate:
      // Inside a backfill window a whole-row update is an upsert: the chunk
      // may not have written the row yet (cdc/watermark_window.h).
      if (p.old_owner == p.new_owner) {
        if (!owns(p.new_owner)) return ShardAction::kSkip;
        return change.upsert ? ShardAction::kUpsert : ShardAction::kUpdate;
      }
      if (p.old_owner == shard_index) return ShardAction::kDelete;
      if (p.new_owner == shard_index) return change.upsert ? ShardAction::kUpsert : ShardAction::kInsert;
      return ShardAction::kSkip;
  }
  return ShardAction::kSkip;
}

}  // namespace shardcast
