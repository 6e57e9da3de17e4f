#include "cdc/watermark_window.h"

#include <spdlog/spdlog.h>

#include "pq/pq_util.h"

namespace shardcast {

namespace {

using KeyText = std::vector<std::string>;

bool HasUnchanged(const Tuple& t) {
  for (const auto& v : t)
    if (v.is_unchanged()) return true;
  return false;
}

// The key columns of a tuple, located by name in the change's relation (the
// stream's relation and the snapshot's describe the same table).
std::optional<KeyText> KeyFrom(const Relation& rel, const std::vector<std::string>& key_names,
                               const Tuple& t) {
  KeyText key;
  for (const auto& name : key_names) {
    const int i = rel.ColumnIndex(name);
    if (i < 0 || static_cast<std::size_t>(i) >= t.size() || t[i].is_unchanged()) return std::nullopt;
    key.push_back(t[i].is_null() ? std::string("\\N") : t[i].text);
  }
  return key;
}

Tuple AsTuple(const KeyText& key) {
  Tuple t;
  for (const auto& k : key) t.push_back(k == "\\N" ? Value::Null() : Value::Text(k));
  return t;
}

const Value* NewValue(const Change& c, const std::string& name) {
  const int i = c.relation->ColumnIndex(name);
  if (i < 0 || static_cast<std::size_t>(i) >= c.new_tuple.size()) return nullptr;
  return &c.new_tuple[i];
}

}  // namespace

std::string WatermarkCoordinator::WatermarkSql(const std::string& chunk_id, char kind) {
  return "INSERT INTO shardcast.signal (chunk, kind) VALUES (" + QuoteLiteral(chunk_id) + ", " +
         QuoteLiteral(std::string(1, kind)) + ")";
}

void WatermarkCoordinator::Expect(const std::string& chunk_id, const SnapshotTable& table) {
  std::lock_guard lock(mu_);
  pending_ = std::make_unique<Pending>();
  pending_->chunk_id = chunk_id;
  pending_->table = table;
}

void WatermarkCoordinator::Deliver(const std::string& chunk_id, std::vector<Tuple> rows) {
  std::lock_guard lock(mu_);
  if (!pending_ || pending_->chunk_id != chunk_id) return;
  pending_->rows = std::move(rows);
  pending_->delivered = true;
}

StatusOr<Lsn> WatermarkCoordinator::AwaitEmitted(const std::string& chunk_id,
                                                 std::chrono::milliseconds timeout,
                                                 const std::atomic<bool>* stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    if (!pending_ || pending_->chunk_id != chunk_id) return Internal("chunk " + chunk_id + " was abandoned");
    if (pending_->emitted) {
      const Lsn lsn = *pending_->emitted;
      pending_.reset();
      return lsn;
    }
    if (stop != nullptr && stop->load()) return Status(Code::kCancelled, "stopping");
    if (std::chrono::steady_clock::now() >= deadline)
      return Unavailable("the high watermark of chunk " + chunk_id + " did not come back through the stream");
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

void WatermarkCoordinator::Abandon(const std::string& chunk_id) {
  std::lock_guard lock(mu_);
  if (pending_ && pending_->chunk_id == chunk_id) pending_.reset();
}

void WatermarkCoordinator::Activate(const SnapshotTable& table) {
  std::lock_guard lock(mu_);
  auto& a = active_[table.relation->QualifiedName()];
  a.table = table;
}

void WatermarkCoordinator::Deactivate(const std::string& schema, const std::string& name) {
  std::lock_guard lock(mu_);
  active_.erase(schema + "." + name);
}

void WatermarkCoordinator::MarkActive(Active& a, Change& c) {
  if (c.op != Op::kInsert && c.op != Op::kUpdate) return;
  if (!HasUnchanged(c.new_tuple)) {
    c.upsert = true;
    return;
  }
  // A partial row cannot be upserted. With its key unchanged the row is
  // either on the shard (UPDATE works) or ahead of the cursor (a later chunk
  // reads it); a moved key may land behind the cursor: read it again.
  const auto& names = a.table.primary_key;
  auto new_key = KeyFrom(*c.relation, names, c.new_tuple);
  std::optional<KeyText> old_key;
  if (c.old_kind != 0) old_key = KeyFrom(*c.relation, names, c.old_tuple);
  if (new_key && old_key && *old_key != *new_key) a.reread.push_back(AsTuple(*new_key));
}

std::size_t WatermarkCoordinator::last_dropped() const {
  std::lock_guard lock(mu_);
  return last_dropped_;
}

Status WatermarkCoordinator::OnTransaction(Transaction& txn) {
  std::unique_lock lock(mu_);
  if (!active_.empty()) {
    for (auto& c : txn.changes) {
      if (!c.relation) continue;
      auto it = active_.find(c.relation->QualifiedName());
      if (it != active_.end()) MarkActive(it->second, c);
    }
  }
  if (!pending_) return Status::Ok();
  Pending& p = *pending_;
  bool close = false;
  for (auto& c : txn.changes) {
    if (c.op == Op::kTruncate) {
      for (const auto& rel : c.truncated)
        if (p.open && rel->schema == p.table.relation->schema && rel->name == p.table.relation->name)
          p.truncated = true;
      continue;
    }
    if (!c.relation) continue;
    if (c.relation->schema == kSignalSchema && c.relation->name == kSignalTable) {
      if (c.op != Op::kInsert) continue;
      const Value* chunk = NewValue(c, "chunk");
      const Value* kind = NewValue(c, "kind");
      if (chunk == nullptr || kind == nullptr || chunk->is_null() || chunk->text != p.chunk_id) continue;
      if (kind->text == "L") p.open = true;
      if (kind->text == "H" && p.open) close = true;
      continue;
    }
    if (p.open && !close) RecordChange(p, c);
  }
  if (!close) return Status::Ok();
  Status s = AppendChunk(p, txn);
  if (s.ok()) cv_.notify_all();
  return s;
}

void WatermarkCoordinator::RecordChange(Pending& p, Change& c) {
  const Relation& table = *p.table.relation;
  if (c.relation->schema != table.schema || c.relation->name != table.name) return;
  const auto& names = p.table.primary_key;
  switch (c.op) {
    case Op::kInsert:
      if (auto k = KeyFrom(*c.relation, names, c.new_tuple)) p.changed.insert(*k);
      c.upsert = true;
      break;
    case Op::kUpdate: {
      auto new_key = KeyFrom(*c.relation, names, c.new_tuple);
      std::optional<KeyText> old_key;
      if (c.old_kind != 0) old_key = KeyFrom(*c.relation, names, c.old_tuple);
      if (old_key) p.changed.insert(*old_key);
      if (!new_key) break;  // a key that is an unchanged TOAST value: the old key is recorded
      p.changed.insert(*new_key);
      if (HasUnchanged(c.new_tuple)) {
        p.reread.push_back(AsTuple(*new_key));  // cannot be applied as a whole row
      } else {
        c.upsert = true;  // a changed key: the shard deletes the old one first
      }
      break;
    }
    case Op::kDelete: {
      const Tuple& t = c.old_kind != 0 ? c.old_tuple : c.new_tuple;
      if (auto k = KeyFrom(*c.relation, names, t)) p.changed.insert(*k);
      break;
    }
    default:
      break;
  }
}

Status WatermarkCoordinator::AppendChunk(Pending& p, Transaction& txn) {
  if (!p.delivered)
    return Internal("the high watermark of chunk " + p.chunk_id + " arrived before its rows were read");
  std::size_t dropped = 0;
  auto append = [&](Tuple row, bool upsert) {
    Change c;
    c.op = Op::kRead;
    c.ordinal = static_cast<std::uint32_t>(txn.changes.size());
    c.relation = p.table.relation;
    c.new_tuple = std::move(row);
    c.upsert = upsert;
    txn.approx_bytes += c.ApproxBytes();
    txn.changes.push_back(std::move(c));
  };
  for (auto& row : p.rows) {
    KeyText key;
    for (int i : p.table.key_index) key.push_back(row[i].is_null() ? std::string("\\N") : row[i].text);
    if (p.truncated || p.changed.count(key) != 0) {
      ++dropped;
      continue;
    }
    append(std::move(row), false);
  }
  // Keys the table's active backfill could not apply since the last chunk.
  if (auto it = active_.find(p.table.relation->QualifiedName()); it != active_.end()) {
    for (auto& k : it->second.reread) p.reread.push_back(std::move(k));
    it->second.reread.clear();
  }
  if (!p.reread.empty()) {
    std::set<KeyText> seen;
    std::erase_if(p.reread, [&](const Tuple& k) {
      KeyText text;
      for (const auto& v : k) text.push_back(v.is_null() ? std::string("\\N") : v.text);
      return !seen.insert(std::move(text)).second;
    });
    auto fresh = reread_(p.table, p.reread);
    if (!fresh.ok()) return fresh.status().Prefixed("re-reading keys of chunk " + p.chunk_id);
    for (auto& row : *fresh) append(std::move(row), true);
  }
  txn.snapshot = "incremental";
  p.rows.clear();
  p.open = false;  // the window is closed; later changes are not the chunk's business
  p.emitted = txn.end_lsn;
  last_dropped_ = dropped;
  if (dropped != 0 || !p.reread.empty())
    spdlog::debug("chunk {}: {} row(s) dropped for newer stream changes, {} re-read", p.chunk_id, dropped,
                  p.reread.size());
  return Status::Ok();
}

}  // namespace shardcast
