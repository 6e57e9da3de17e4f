// The change model: what the decoder produces and every later stage reads.
// Header-only on purpose: sharding/, sink/ and checkpoint/ use it without
// linking the replication code (and so without libpq).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/lsn.h"

namespace shardcast {

struct Column {
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;
  bool part_of_identity = false;  // pgoutput flag 1: part of the replica identity
};

// A table as the Relation message describes it. Immutable once decoded; a
// schema change arrives as a new Relation and a new object.
struct Relation {
  std::uint32_t oid = 0;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // d default, n nothing, f full, i index
  std::vector<Column> columns;

  std::string QualifiedName() const { return schema + "." + name; }
  int ColumnIndex(const std::string& column) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i].name == column) return static_cast<int>(i);
    return -1;
  }
};

// One column value in pgoutput's text format.
struct Value {
  enum class Kind : char { kNull = 'n', kUnchanged = 'u', kText = 't' };
  Kind kind = Kind::kNull;
  std::string text;  // set for kText only

  bool is_null() const { return kind == Kind::kNull; }
  bool is_unchanged() const { return kind == Kind::kUnchanged; }
  static Value Null() { return {}; }
  static Value Text(std::string t) { return {Kind::kText, std::move(t)}; }
};

using Tuple = std::vector<Value>;

// kRead is a row read by a snapshot or backfill chunk, not a source change:
// shards apply it as an upsert, Kafka gets op "r".
enum class Op : char { kInsert = 'c', kUpdate = 'u', kDelete = 'd', kTruncate = 't', kRead = 'r' };

struct Change {
  Op op = Op::kInsert;
  std::uint32_t ordinal = 0;                 // position within the transaction, from 0
  std::shared_ptr<const Relation> relation;  // unset for kTruncate
  // Update/Delete: 'K' (key columns only, others null), 'O' (whole old row)
  // or 0 when the message carried no old tuple (update with unchanged key).
  char old_kind = 0;
  Tuple old_tuple;
  Tuple new_tuple;  // Insert/Update
  // Truncate: the truncated relations and pgoutput's option bits
  // (1 CASCADE, 2 RESTART IDENTITY).
  std::vector<std::shared_ptr<const Relation>> truncated;
  std::uint8_t truncate_options = 0;
  // Set on an insert or full-row update that arrived inside a backfill
  // window: shards apply it as an upsert (the chunk may or may not have
  // written the row yet). Kafka ignores it.
  bool upsert = false;

  // In-memory footprint, for byte-bounded queues: what the heap really holds
  // (tuple arrays, texts too long for the string's inline buffer, malloc's
  // per-block overhead), so limits.queue_bytes bounds resident memory.
  std::size_t ApproxBytes() const {
    constexpr std::size_t kBlock = 16;   // malloc's header per allocation
    constexpr std::size_t kInline = 15;  // std::string's small-string capacity
    auto tuple = [&](const Tuple& t) {
      std::size_t n = t.empty() ? 0 : t.capacity() * sizeof(Value) + kBlock;
      for (const auto& v : t)
        if (v.text.capacity() > kInline) n += v.text.capacity() + 1 + kBlock;
      return n;
    };
    return sizeof(Change) + tuple(old_tuple) + tuple(new_tuple);
  }
};

// A committed source transaction. Identified by end_lsn (the Commit message's
// end LSN); header LSNs of individual messages are never positions.
struct Transaction {
  std::uint32_t xid = 0;
  Lsn commit_lsn = 0;               // LSN of the commit record
  Lsn end_lsn = 0;                  // end of the commit record: the position
  Lsn prev_end_lsn = 0;             // end_lsn of the previous transaction seen, 0 if unknown
  std::int64_t commit_time_us = 0;  // Unix epoch microseconds
  std::vector<Change> changes;
  std::size_t approx_bytes = 0;
  // Debezium's source.snapshot for the kRead changes of this transaction:
  // "true" for the initial snapshot, "incremental" for a backfill chunk.
  // Empty ("false") for ordinary source transactions.
  std::string snapshot;
  // A transaction too large to hold whole (see Decoder, spilling) reaches the
  // destinations as consecutive pieces with the same header (xid, positions,
  // commit time) and changes in ordinal order. A destination opens its
  // transaction at the first piece and makes it durable only at the last;
  // "caught up" and progress count last pieces only. Whole transactions are
  // both first and last.
  bool first_piece = true;
  bool last_piece = true;
};

}  // namespace shardcast
