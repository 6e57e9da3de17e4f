#include "sink/kafka/envelope.h"

#include <string_view>

#include "sink/kafka/value_format.h"

namespace shardcast {
namespace {

std::string ShardIdFor(const RoutedTransaction& rt, std::int32_t owner) {
  if (!rt.ring) return "";
  if (owner == Placement::kAll) return "*";
  if (owner < 0 || static_cast<std::size_t>(owner) >= rt.ring->shards().size()) return "";
  return rt.ring->shards()[static_cast<std::size_t>(owner)].id;
}

// {"col":value,...} over every column of the relation.
void AppendRow(std::string& out, const Relation& rel, const Tuple& row) {
  out.push_back('{');
  for (std::size_t i = 0; i < rel.columns.size(); ++i) {
    const Column& col = rel.columns[i];
    if (i > 0) out.push_back(',');
    AppendJsonString(out, col.name);
    out.push_back(':');
    if (i < row.size()) {
      AppendJsonValue(out, col.type_oid, col.type_modifier, row[i]);
    } else {
      out.append("null");
    }
  }
  out.push_back('}');
}

// {"k1":v1,...} over the named columns, from row. False when a column is not
// in the relation; nullopt-style "no key" is signalled by an empty names list.
bool AppendColumns(std::string& out, const Relation& rel, const Tuple& row,
                   const std::vector<std::string>& names, std::string* missing) {
  out.push_back('{');
  for (std::size_t k = 0; k < names.size(); ++k) {
    const int i = rel.ColumnIndex(names[k]);
    if (i < 0) {
      *missing = names[k];
      return false;
    }
    if (k > 0) out.push_back(',');
    AppendJsonString(out, names[k]);
    out.push_back(':');
    const Column& col = rel.columns[static_cast<std::size_t>(i)];
    if (static_cast<std::size_t>(i) < row.size()) {
      AppendJsonValue(out, col.type_oid, col.type_modifier, row[static_cast<std::size_t>(i)]);
    } else {
      out.append("null");
    }
  }
  out.push_back('}');
  return true;
}

// The new row of an update with unchanged-TOAST values taken from the whole
// old row when the message carried one (REPLICA IDENTITY FULL).
Tuple FilledNewRow(const Change& change) {
  Tuple row = change.new_tuple;
  if (change.old_kind != 'O') return row;
  for (std::size_t i = 0; i < row.size() && i < change.old_tuple.size(); ++i) {
    if (row[i].is_unchanged() && !change.old_tuple[i].is_unchanged()) row[i] = change.old_tuple[i];
  }
  return row;
}

// snapshot: source.snapshot as Debezium writes it ("false" for streamed
// changes, "true" or "incremental" for snapshot reads).
void AppendSource(std::string& out, const EnvelopeOptions& opt, const RoutedTransaction& rt,
                  const std::string& schema, const std::string& table, const std::string& shard,
                  std::string_view snapshot = "false") {
  const Transaction& txn = *rt.txn;
  out.append(R"("source":{"version":)");
  AppendJsonString(out, SHARDCAST_VERSION);
  out.append(R"(,"connector":"shardcast","name":)");
  AppendJsonString(out, opt.prefix);
  out.append(R"(,"ts_ms":)");
  out.append(std::to_string(txn.commit_time_us / 1000));
  out.append(R"(,"snapshot":)");
  AppendJsonString(out, snapshot);
  out.append(R"(,"db":)");
  AppendJsonString(out, opt.source_db);
  std::string sequence = "[";
  if (txn.prev_end_lsn == 0) {
    sequence.append("null");
  } else {
    sequence.append("\"").append(std::to_string(txn.prev_end_lsn)).append("\"");
  }
  sequence.append(",\"").append(std::to_string(txn.end_lsn)).append("\"]");
  out.append(R"(,"sequence":)");
  AppendJsonString(out, sequence);
  out.append(R"(,"schema":)");
  AppendJsonString(out, schema);
  out.append(R"(,"table":)");
  AppendJsonString(out, table);
  out.append(R"(,"txId":)");
  out.append(std::to_string(txn.xid));
  out.append(R"(,"lsn":)");
  out.append(std::to_string(txn.end_lsn));
  out.append(R"(,"xmin":null,"shard":)");
  AppendJsonString(out, shard);
  out.append(R"(,"epoch":)");
  out.append(std::to_string(rt.epoch));
  out.push_back('}');
}

}  // namespace

std::string ExpandTopic(const std::string& tmpl, const std::string& prefix, const std::string& schema,
                        const std::string& table, const std::string& shard) {
  std::string out;
  out.reserve(tmpl.size() + schema.size() + table.size() + prefix.size());
  std::string_view rest = tmpl;
  while (!rest.empty()) {
    const std::size_t open = rest.find('{');
    if (open == std::string_view::npos) break;
    out.append(rest.substr(0, open));
    rest.remove_prefix(open);
    const std::size_t close = rest.find('}');
    if (close == std::string_view::npos) break;
    const std::string_view name = rest.substr(1, close - 1);
    if (name == "prefix") {
      out.append(prefix);
    } else if (name == "schema") {
      out.append(schema);
    } else if (name == "table") {
      out.append(table);
    } else if (name == "shard") {
      out.append(shard == "*" ? "all" : shard);
    } else {
      out.append(rest.substr(0, close + 1));  // not a placeholder: keep it
    }
    rest.remove_prefix(close + 1);
  }
  out.append(rest);
  return out;
}

EnvelopeEncoder::EnvelopeEncoder(EnvelopeOptions options, std::vector<TableSpec> tables)
    : options_(std::move(options)), tables_(std::move(tables)) {}

const TableSpec* EnvelopeEncoder::Find(const std::string& schema, const std::string& name) const {
  for (const TableSpec& t : tables_) {
    if (t.name == name && t.schema == schema) return &t;
  }
  return nullptr;
}

Status EnvelopeEncoder::Encode(const RoutedTransaction& rt, std::size_t index, std::int64_t now_ms,
                               std::vector<KafkaRecordOut>& out) const {
  if (!rt.txn || index >= rt.txn->changes.size()) return Internal("envelope: change index out of range");
  const Transaction& txn = *rt.txn;
  const Change& change = txn.changes[index];
  const Placement* placement = index < rt.placements.size() ? &rt.placements[index] : nullptr;
  const std::string position = std::to_string(txn.end_lsn) + "/" + std::to_string(change.ordinal);
  const std::string epoch = std::to_string(rt.epoch);

  if (change.op == Op::kTruncate) {
    for (const auto& rel : change.truncated) {
      if (!rel) continue;
      const TableSpec* spec = Find(rel->schema, rel->name);
      if (spec == nullptr) continue;
      const std::string shard = ShardIdFor(rt, Placement::kAll);
      KafkaRecordOut rec;
      rec.topic = ExpandTopic(options_.topic_template, options_.prefix, rel->schema, rel->name, shard);
      std::string value = R"({"before":null,"after":null,)";
      AppendSource(value, options_, rt, rel->schema, rel->name, shard);
      value.append(R"(,"op":"t","ts_ms":)").append(std::to_string(now_ms)).append(R"(,"transaction":null})");
      rec.value = std::move(value);
      rec.position = position;
      rec.shard = shard;
      rec.epoch = epoch;
      out.push_back(std::move(rec));
    }
    return Status::Ok();
  }

  if (!change.relation) return Internal("envelope: change without relation at " + position);
  const Relation& rel = *change.relation;
  const TableSpec* spec = Find(rel.schema, rel.name);
  if (spec == nullptr) return Status::Ok();  // not replicated

  // The row the key is read from: the new row for insert/update (so an update
  // that changes the primary key is keyed by the new key), the old for delete.
  Tuple filled;
  const Tuple* key_row = &change.new_tuple;
  std::int32_t owner = Placement::kNone;
  if (change.op == Op::kUpdate) {
    filled = FilledNewRow(change);
    key_row = &filled;
  }
  if (change.op == Op::kDelete) {
    key_row = &change.old_tuple;
    if (placement) owner = placement->old_owner;
  } else if (placement) {
    owner = placement->new_owner;
  }
  const std::string shard = ShardIdFor(rt, owner);

  KafkaRecordOut rec;
  rec.topic = ExpandTopic(options_.topic_template, options_.prefix, rel.schema, rel.name, shard);
  rec.position = position;
  rec.shard = shard;
  rec.epoch = epoch;
  std::string missing;
  if (!spec->primary_key.empty() && !key_row->empty()) {
    std::string key;
    if (!AppendColumns(key, rel, *key_row, spec->primary_key, &missing)) {
      return FailedPrecondition("kafka key of " + rel.QualifiedName() + ": primary key column \"" + missing +
                                "\" is not in the relation");
    }
    rec.key = std::move(key);
  }
  if (options_.partition_by_shard_key && rec.key) {
    if (spec->mode == TableMode::kDistributed && !spec->shard_key.empty()) {
      if (!AppendColumns(rec.partition_key, rel, *key_row, spec->shard_key, &missing)) {
        return FailedPrecondition("kafka partition of " + rel.QualifiedName() + ": shard key column \"" +
                                  missing + "\" is not in the relation");
      }
    } else {
      rec.partition_key = *rec.key;
    }
  }

  std::string value;
  value.reserve(256 + 2 * (change.old_tuple.size() + change.new_tuple.size()) * 16);
  value.append(R"({"before":)");
  if ((change.op == Op::kUpdate || change.op == Op::kDelete) &&
      (change.old_kind == 'O' || change.old_kind == 'K') && !change.old_tuple.empty()) {
    AppendRow(value, rel, change.old_tuple);
  } else {
    value.append("null");
  }
  value.append(R"(,"after":)");
  if (change.op == Op::kInsert || change.op == Op::kRead) {
    AppendRow(value, rel, change.new_tuple);
  } else if (change.op == Op::kUpdate) {
    AppendRow(value, rel, filled);
  } else {
    value.append("null");
  }
  value.push_back(',');
  // A snapshot read carries its transaction's kind of snapshot; Debezium
  // marks everything streamed "false".
  std::string_view snapshot = "false";
  if (change.op == Op::kRead && !txn.snapshot.empty()) snapshot = txn.snapshot;
  AppendSource(value, options_, rt, rel.schema, rel.name, shard, snapshot);
  value.append(R"(,"op":")");
  value.push_back(static_cast<char>(change.op));
  value.append(R"(","ts_ms":)").append(std::to_string(now_ms)).append(R"(,"transaction":null})");

  const bool tombstone = change.op == Op::kDelete && options_.tombstones && rec.key.has_value();
  KafkaRecordOut tomb;
  if (tombstone) tomb = rec;  // copied before the value: same key, topic, partition key and headers
  rec.value = std::move(value);
  out.push_back(std::move(rec));
  if (tombstone) out.push_back(std::move(tomb));
  return Status::Ok();
}

}  // namespace shardcast
