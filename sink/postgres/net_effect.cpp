#include "sink/postgres/net_effect.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace shardcast {
namespace {

bool HasUnchanged(const Tuple& tuple) {
  return std::any_of(tuple.begin(), tuple.end(), [](const Value& v) { return v.is_unchanged(); });
}

// Key values that name a row: present, neither NULL nor unchanged TOAST.
bool KeyUsable(const std::vector<int>& key_index, const Tuple& tuple) {
  return std::all_of(key_index.begin(), key_index.end(), [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    return k < tuple.size() && !tuple[k].is_null() && !tuple[k].is_unchanged();
  });
}

}  // namespace

NetEffect::Table* NetEffect::TableFor(const Change& change, const Placement& placement) {
  const Relation* rel = change.relation.get();
  const TableSpec* spec = placement.table;
  if (rel == nullptr || spec == nullptr) return nullptr;
  for (auto& t : tables_) {
    if (t.spec == spec) return t.rel == rel ? &t : nullptr;  // a new Relation: the schema changed in the run
  }
  Table t;
  t.rel = rel;
  t.spec = spec;
  for (const auto& column : spec->primary_key) {
    const int index = rel->ColumnIndex(column);
    if (index < 0) return nullptr;  // the ordered apply names the missing column
    t.key_index.push_back(index);
  }
  if (t.key_index.empty()) return nullptr;
  tables_.push_back(std::move(t));
  return &tables_.back();
}

bool NetEffect::SetRow(Entry& entry, Kind kind, const Tuple& row, const Entry* earlier, Lsn end_lsn) {
  if (!HasUnchanged(row)) {
    entry.row = &row;
    entry.filled.clear();
  } else {
    // The shard would keep its stored value; the run's earlier row has it.
    if (earlier == nullptr || earlier->kind == Kind::kDelete) return false;
    const Tuple& before = earlier->Row();
    if (before.size() != row.size()) return false;
    Tuple merged = row;
    for (std::size_t i = 0; i < merged.size(); ++i) {
      if (!merged[i].is_unchanged()) continue;
      if (before[i].is_unchanged()) return false;
      merged[i] = before[i];
    }
    entry.filled = std::move(merged);
    entry.row = nullptr;
  }
  entry.kind = kind;
  entry.end_lsn = end_lsn;
  return true;
}

bool NetEffect::Put(Table& t, const Tuple& key_tuple, Kind kind, const Tuple* row, Lsn end_lsn) {
  const std::string id = KeyIdentity(t.key_index, key_tuple);
  auto [it, fresh] = t.by_key.try_emplace(id, t.entries.size());
  if (fresh) t.entries.push_back(Entry{kind});
  Entry& entry = t.entries[it->second];
  if (kind == Kind::kDelete) {
    entry.kind = Kind::kDelete;
    entry.row = &key_tuple;
    entry.filled.clear();
    entry.end_lsn = end_lsn;
    return true;
  }
  const Entry* earlier = fresh ? nullptr : &entry;
  if (earlier != nullptr) {
    // An insert over a row the run already has would fail in order too; an
    // update of a row the run deleted updates nothing: both go in order.
    if (kind == Kind::kInsert && earlier->kind != Kind::kDelete) return false;
    if (kind == Kind::kInsert)
      kind = Kind::kUpsert;  // the key was deleted first: it may exist before the run
    else if (earlier->kind == Kind::kInsert)
      kind = Kind::kInsert;  // new to the shard in this run
  }
  return SetRow(entry, kind, *row, earlier, end_lsn);
}

bool NetEffect::Add(ShardAction action, const Change& change, const Placement& placement, Lsn end_lsn) {
  if (action == ShardAction::kSkip) return true;
  if (action == ShardAction::kTruncate) return false;
  Table* t = TableFor(change, placement);
  if (t == nullptr) return false;
  const std::size_t width = t->rel->columns.size();
  switch (action) {
    case ShardAction::kDelete: {
      const Tuple& key = KeyTuple(change);
      if (!KeyUsable(t->key_index, key)) return false;
      return Put(*t, key, Kind::kDelete, nullptr, end_lsn);
    }
    case ShardAction::kInsert: {
      // A moving update inserts the whole new row (unchanged-TOAST values filled by the router).
      const Tuple& row = change.op == Op::kUpdate ? placement.full_new : change.new_tuple;
      if (row.size() != width || !KeyUsable(t->key_index, row) || HasUnchanged(row)) return false;
      return Put(*t, row, Kind::kInsert, &row, end_lsn);
    }
    case ShardAction::kUpdate:
    case ShardAction::kUpsert: {
      const Tuple& row = change.new_tuple;
      const Tuple& old_key = KeyTuple(change);
      if (row.size() != width || !KeyUsable(t->key_index, row) || !KeyUsable(t->key_index, old_key))
        return false;
      const std::string old_id = KeyIdentity(t->key_index, old_key);
      const std::string new_id = KeyIdentity(t->key_index, row);
      if (old_id != new_id) {
        // The primary key changed: the old key's row goes, the new key gets
        // the full row (its unchanged-TOAST values from the old key's row).
        // A plain INSERT, as the ordered UPDATE fails when the new key is
        // taken; inside a backfill window (kUpsert) an upsert, as in order.
        if (t->by_key.count(new_id) > 0) return false;
        const Kind moved = action == ShardAction::kUpsert ? Kind::kUpsert : Kind::kInsert;
        std::optional<Entry> carried;
        if (auto old = t->by_key.find(old_id); old != t->by_key.end()) {
          if (t->entries[old->second].kind == Kind::kDelete) return false;  // an update of a deleted row
          carried = t->entries[old->second];
        }
        if (!Put(*t, old_key, Kind::kDelete, nullptr, end_lsn)) return false;
        t->by_key.emplace(new_id, t->entries.size());
        t->entries.push_back(Entry{moved});
        return SetRow(t->entries.back(), moved, row, carried ? &*carried : nullptr, end_lsn);
      }
      auto found = t->by_key.find(old_id);
      if (found != t->by_key.end() && t->entries[found->second].kind == Kind::kDelete) return false;
      return Put(*t, row, Kind::kUpsert, &row, end_lsn);
    }
    default:
      return false;
  }
}

Status NetEffect::Emit(SqlBuilder& builder) const {
  static constexpr std::pair<Kind, ShardAction> kOrder[] = {{Kind::kDelete, ShardAction::kDelete},
                                                            {Kind::kInsert, ShardAction::kInsert},
                                                            {Kind::kUpsert, ShardAction::kUpsert}};
  for (const auto& t : tables_) {
    for (const auto& [kind, action] : kOrder) {
      for (const auto& e : t.entries) {
        if (e.kind != kind) continue;
        SC_RETURN_IF_ERROR(builder.AddNet(action, *t.rel, *t.spec, e.Row(), e.end_lsn));
      }
    }
  }
  return Status::Ok();
}

}  // namespace shardcast
