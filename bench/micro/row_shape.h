// The row the micro-benchmarks push through the hot path (issue 6): about 120
// bytes of pgoutput text over bigint key, bigint shard key, text, numeric and
// timestamptz. Shared so that every stage measures the same rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cdc/change.h"
#include "sharding/ring.h"
#include "sharding/router.h"
#include "sharding/table_spec.h"

namespace shardcast::bench {

inline constexpr std::uint32_t kOrdersOid = 16400;
inline constexpr std::size_t kTxnRows = 1000;  // rows per source transaction / apply batch

// Type OIDs as pg_type has them (bigint, text, numeric, timestamptz).
inline constexpr std::uint32_t kInt8Oid = 20, kTextOid = 25, kNumericOid = 1700, kTimestamptzOid = 1184;

// public.orders (id bigint primary key, account_id bigint, note text,
// amount numeric(12,2), created_at timestamptz). The shard key is outside
// the primary key, so the table has REPLICA IDENTITY FULL (DESIGN.md): every
// column is part of the identity, updates and deletes carry the whole old row.
inline std::shared_ptr<const Relation> OrdersRelation() {
  auto r = std::make_shared<Relation>();
  r->oid = kOrdersOid;
  r->schema = "public";
  r->name = "orders";
  r->replica_identity = 'f';
  r->columns = {{"id", kInt8Oid, -1, true},
                {"account_id", kInt8Oid, -1, true},
                {"note", kTextOid, -1, true},
                {"amount", kNumericOid, (12 << 16 | 2) + 4, true},
                {"created_at", kTimestamptzOid, -1, true}};
  return r;
}

// Distributed by account_id; the primary key is id.
inline std::vector<TableSpec> OrdersTables() {
  return {TableSpec{"public", "orders", TableMode::kDistributed, {"account_id"}, {"id"}}};
}

// Row i in pgoutput text form; `version` changes the note and amount, as an
// update would. About 120 bytes of values.
inline Tuple OrdersRow(std::uint64_t i, int version = 0) {
  std::string note = "order note " + std::to_string(i) + " v" + std::to_string(version) +
                     ": two widgets, express shipping, gift wrap";
  return Tuple{Value::Text(std::to_string(9'000'000'000 + i)),
               Value::Text(std::to_string(4'200'000 + i % 50'000)), Value::Text(std::move(note)),
               Value::Text(std::to_string(1000 + i % 9000 + version) + "." + std::to_string(10 + i % 90)),
               Value::Text("2026-12-07 19:39:20." + std::to_string(100000 + i % 900000) + "+00")};
}

inline std::shared_ptr<const Ring> MakeRing(std::size_t shards, std::uint64_t epoch = 1) {
  std::vector<ShardDef> defs;
  for (std::size_t s = 0; s < shards; ++s) defs.push_back({"s" + std::to_string(s), 1});
  auto ring = Ring::Build(std::move(defs), 1024, epoch);
  if (!ring.ok()) return nullptr;
  return std::make_shared<const Ring>(std::move(ring).value());
}

// A committed transaction of kTxnRows changes: all inserts, or mixed (per
// ten rows: six inserts, three updates, one delete, of rows inserted earlier
// in the transaction), as the decoder yields them.
inline std::shared_ptr<Transaction> OrdersTransaction(bool mixed, std::uint64_t first_row = 0) {
  auto rel = OrdersRelation();
  auto txn = std::make_shared<Transaction>();
  txn->xid = 7710;
  txn->commit_lsn = 0x16B3A00;
  txn->end_lsn = 0x16B3A38;
  txn->prev_end_lsn = 0x16B0000;
  txn->commit_time_us = 1'796'671'160'123'456;
  txn->changes.reserve(kTxnRows);
  for (std::size_t k = 0; k < kTxnRows; ++k) {
    const std::uint64_t i = first_row + k;
    Change c;
    c.ordinal = static_cast<std::uint32_t>(k);
    c.relation = rel;
    const std::size_t slot = mixed ? k % 10 : 0;
    if (slot < 6) {
      c.op = Op::kInsert;
      c.new_tuple = OrdersRow(i);
    } else if (slot < 9) {
      c.op = Op::kUpdate;
      c.old_kind = 'O';
      c.old_tuple = OrdersRow(i - 6);
      c.new_tuple = OrdersRow(i - 6, 1);
    } else {
      c.op = Op::kDelete;
      c.old_kind = 'O';
      c.old_tuple = OrdersRow(i - 6);
    }
    txn->approx_bytes += c.ApproxBytes();
    txn->changes.push_back(std::move(c));
  }
  return txn;
}

}  // namespace shardcast::bench
