// Applies routed transactions to one shard database (one shard in one region)
// with exactly-once effect: every destination transaction also upserts this
// destination's row in shardcast.progress, so the row says exactly which
// source transactions are in (DESIGN.md "Semantics").
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pq/pq_util.h"
#include "sink/dead_letter.h"
#include "sink/postgres/net_effect.h"
#include "sink/postgres/sql_builder.h"
#include "sink/sink.h"

namespace shardcast {

// The progress table (DESIGN.md "Semantics"), also created by
// `shardcast check --create-missing`. Its schema is created separately.
inline constexpr const char* kProgressTableDdl =
    "CREATE TABLE IF NOT EXISTS shardcast.progress (destination text PRIMARY KEY, end_lsn pg_lsn NOT NULL, "
    "updated_at timestamptz NOT NULL DEFAULT now())";

class ShardSink : public Sink {
 public:
  struct Options {
    std::string destination;                    // "s0@us-east": id() and the key of the progress row
    std::string shard_id;                       // "s0": looked up in each transaction's ring
    std::string dsn;                            // never logged or put in a message: it may hold a password
    std::vector<TableSpec> tables;              // the configured tables (TRUNCATE targets)
    std::size_t max_statement_bytes = 1 << 20;  // SQL text sent per Query message
    // An idle shard (no change of a batch is for it) writes its progress row
    // at most this often, from Apply or Poll.
    std::chrono::milliseconds idle_progress_interval{1000};
    // on_error: dead_letter. nullptr: a rejected change stops this destination.
    DeadLetterQueue* dead_letter = nullptr;
    // Apply runs of whole transactions by their net effect (net_effect.h):
    // a few set-based statements instead of one per change.
    bool merge = true;
  };

  explicit ShardSink(Options options);
  ~ShardSink() override = default;
  ShardSink(const ShardSink&) = delete;  // builder_'s sender points at this object
  ShardSink& operator=(const ShardSink&) = delete;

  const std::string& id() const override { return options_.destination; }

  // Connects, creates schema shardcast and table shardcast.progress when
  // absent, and returns this destination's end_lsn from it (0 if no row).
  StatusOr<Lsn> Open() override;

  // All transactions of the batch above durable_lsn() in one destination
  // transaction, ending with the progress upsert. A batch that ends with a
  // piece that is not its transaction's last leaves the destination
  // transaction open for the next call. On failure nothing of the
  // batch is applied, the connection is dropped and Open must be called again;
  // the Status names the statement's table, key(s), position and the server's
  // message and SQLSTATE.
  Status Apply(const TxnBatch& batch) override;

  // Writes a deferred progress bump of an idle shard once it is due, waiting
  // for it when it falls due within timeout. Returns at once otherwise.
  Status Poll(std::chrono::milliseconds timeout) override;

  Lsn durable_lsn() const override { return durable_.load(std::memory_order_acquire); }
  bool open_transaction() const override { return in_txn_; }
  // Merged runs rolled back and applied in source order instead.
  std::size_t merge_fallbacks() const { return merge_fallbacks_; }

  void Close() override;

 private:
  using Clock = std::chrono::steady_clock;

  std::int32_t IndexIn(const std::shared_ptr<const Ring>& ring);
  Status SendChunk(SqlChunk& chunk);
  Status Drain();
  Status WriteProgress(Lsn lsn);
  std::string ProgressSql(Lsn lsn) const;
  Status Fail(Status status);
  // Fail, after marking the failing transactions for change-by-change replay
  // when a dead-letter queue is configured and retrying cannot help.
  Status Failed(Status status, Lsn txn_lsn);
  Status ApplyCarefully(const RoutedTransaction& routed, std::int32_t index);
  // The batch by its net effect, in one destination transaction; nullopt
  // when it cannot be merged or the merged run failed on its data and was
  // rolled back (then it goes change by change).
  std::optional<Status> ApplyMerged(const TxnBatch& batch, Lsn durable);
  // Ends the open destination transaction with the progress row at last.
  Status CommitThrough(SqlBuilder& builder, Lsn last);

  Options options_;
  PgConnPtr conn_;
  SqlBuilder builder_;  // reused by every Apply (see SqlBuilder::Sender)
  NetEffect net_;
  // Merged runs that failed on their data and went in order; past a few, a
  // schema whose constraints the net effect's order breaks stays in order.
  static constexpr std::size_t kMergeFallbacksBeforeGivingUp = 8;
  std::size_t merge_fallbacks_ = 0;

  std::shared_ptr<const Ring> ring_;  // the ring whose index is cached (held so its address stays unique)
  std::int32_t index_ = -1;           // this shard's index in ring_->shards(), -1 if absent

  SqlChunk in_flight_;  // the chunk whose results are not read yet
  bool has_in_flight_ = false;
  // A destination transaction is open: BEGIN was sent and COMMIT was not. It
  // stays open across Apply calls while a large source transaction arrives in
  // pieces (Transaction::first_piece/last_piece).
  bool in_txn_ = false;
  std::pair<Lsn, Lsn> failed_range_{0, 0};  // positions of the change statement the server rejected
  std::string failed_sqlstate_;             // and its SQLSTATE

  std::atomic<Lsn> durable_{0};
  Lsn pending_ = 0;  // end_lsn of idle transactions not yet written to the progress row
  Clock::time_point last_write_{};
};

}  // namespace shardcast
