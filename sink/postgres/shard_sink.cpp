#include "sink/postgres/shard_sink.h"

#include <spdlog/spdlog.h>

#include <thread>
#include <utility>

#include "common/kill_point.h"

namespace shardcast {
namespace {

std::string CreateProgressSql() {
  return std::string("CREATE SCHEMA IF NOT EXISTS shardcast;\n") + kProgressTableDdl;
}

}  // namespace

ShardSink::ShardSink(Options options)
    : options_(std::move(options)),
      builder_(options_.tables, options_.max_statement_bytes, [this](SqlChunk& c) { return SendChunk(c); }) {}

StatusOr<Lsn> ShardSink::Open() {
  Close();
  const std::string context = "opening " + options_.destination;
  auto conn = ConnectPinned(options_.dsn, /*replication=*/false, "shard " + options_.destination);
  if (!conn.ok()) return conn.status().Prefixed(context);
  // Values are sent as quoted literals: they must not be read as escapes.
  const char* scs = PQparameterStatus(conn->get(), "standard_conforming_strings");
  if (scs == nullptr || std::string_view(scs) != "on")
    return FailedPrecondition(context + ": the server did not accept standard_conforming_strings=on");

  // Look before creating: CREATE ... IF NOT EXISTS still needs the CREATE
  // privilege, which a shard role that was given the table need not have.
  SC_ASSIGN_OR_RETURN(PgResultPtr found,
                      ExecSql(conn->get(), "SELECT to_regclass('shardcast.progress') IS NOT NULL", context));
  if (std::string_view(PQgetvalue(found.get(), 0, 0)) != "t") {
    auto created = ExecSql(conn->get(), CreateProgressSql(), context + ": creating shardcast.progress");
    if (!created.ok()) {
      // Another destination on this database may have created it just now.
      SC_ASSIGN_OR_RETURN(
          found, ExecSql(conn->get(), "SELECT to_regclass('shardcast.progress') IS NOT NULL", context));
      if (std::string_view(PQgetvalue(found.get(), 0, 0)) != "t") return created.status();
    }
  }

  const char* params[] = {options_.destination.c_str()};
  PgResultPtr row(PQexecParams(conn->get(), "SELECT end_lsn FROM shardcast.progress WHERE destination = $1",
                               1, nullptr, params, nullptr, nullptr, 0));
  if (row == nullptr || PQresultStatus(row.get()) != PGRES_TUPLES_OK) {
    return ResultError(conn->get(), row.get(), context + ": reading shardcast.progress");
  }
  Lsn progress = 0;
  if (PQntuples(row.get()) > 0) {
    auto lsn = ParseLsn(PQgetvalue(row.get(), 0, 0));
    if (!lsn) return Corruption(context + ": shardcast.progress holds an unreadable end_lsn");
    progress = *lsn;
  }
  conn_ = std::move(*conn);
  durable_.store(progress, std::memory_order_release);
  pending_ = 0;
  last_write_ = Clock::now();
  return progress;
}

std::int32_t ShardSink::IndexIn(const std::shared_ptr<const Ring>& ring) {
  if (ring == ring_) return index_;
  ring_ = ring;
  index_ = -1;
  if (ring == nullptr) return index_;
  const auto& shards = ring->shards();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    if (shards[i].id == options_.shard_id) index_ = static_cast<std::int32_t>(i);
  }
  return index_;
}

std::string ShardSink::ProgressSql(Lsn lsn) const {
  std::string sql = "INSERT INTO shardcast.progress (destination, end_lsn, updated_at) VALUES (";
  AppendLiteral(sql, options_.destination);
  sql += ", '" + FormatLsn(lsn) +
         "', now()) ON CONFLICT (destination) DO UPDATE SET end_lsn = EXCLUDED.end_lsn, ";
  sql += "updated_at = EXCLUDED.updated_at";
  return sql;
}

namespace {
// Errors in the data itself (class 22 data exception, class 23 integrity
// violation): what on_error: dead_letter takes. A missing column or table
// (class 42) stops the destination even then: every later change would fail.
bool IsDataError(const std::string& sqlstate) {
  return sqlstate.rfind("22", 0) == 0 || sqlstate.rfind("23", 0) == 0;
}
}  // namespace

Status ShardSink::Failed(Status status, Lsn txn_lsn) {
  const auto range = failed_range_;
  const std::string sqlstate = failed_sqlstate_;
  failed_range_ = {0, 0};
  failed_sqlstate_.clear();
  (void)txn_lsn;
  if (options_.dead_letter == nullptr || status.code() == Code::kUnavailable) return Fail(std::move(status));
  // Only a change statement's data error is dead-lettered; one that fails
  // again after the change-by-change replay (a deferred constraint at COMMIT,
  // the progress row, the queue itself) stops the destination.
  if (range.first == 0 || !IsDataError(sqlstate) || options_.dead_letter->IsCareful(id(), range.first))
    return Fail(std::move(status));
  // Replay these transactions change by change: only the rejected change goes
  // to the dead-letter queue (sink/dead_letter.h).
  options_.dead_letter->MarkCareful(id(), range.first, range.second);
  return Fail(Unavailable(status.message() + "; replaying " + FormatLsn(range.first) + ".." +
                          FormatLsn(range.second) + " change by change to dead-letter the rejected change"));
}

Status ShardSink::ApplyCarefully(const RoutedTransaction& routed, std::int32_t index) {
  const Transaction& txn = *routed.txn;
  const std::string context = "applying to " + options_.destination;
  if (!in_txn_) {
    SC_RETURN_IF_ERROR(ExecSql(conn_.get(), "BEGIN", context).status());
    in_txn_ = true;
  }
  // A deferred constraint must fail inside the change's savepoint, not at COMMIT.
  SC_RETURN_IF_ERROR(ExecSql(conn_.get(), "SET CONSTRAINTS ALL IMMEDIATE", context).status());
  for (std::size_t i = 0; i < txn.changes.size(); ++i) {
    const ShardAction action = ActionFor(txn.changes[i], routed.placements[i], index);
    if (action == ShardAction::kSkip) continue;
    SC_RETURN_IF_ERROR(ExecSql(conn_.get(), "SAVEPOINT shardcast_change", context).status());
    SqlBuilder one(options_.tables, options_.max_statement_bytes,
                   [this](SqlChunk& c) { return SendChunk(c); });
    Status s = one.Add(action, txn.changes[i], routed.placements[i], txn.end_lsn);
    if (s.ok()) s = one.Finish();
    if (s.ok()) s = Drain();
    const std::string sqlstate = failed_sqlstate_;
    failed_range_ = {0, 0};
    failed_sqlstate_.clear();
    if (s.ok()) {
      SC_RETURN_IF_ERROR(ExecSql(conn_.get(), "RELEASE SAVEPOINT shardcast_change", context).status());
      continue;
    }
    if (!IsDataError(sqlstate)) return s;  // retry (unavailable) or stop (schema, builder)
    SC_RETURN_IF_ERROR(ExecSql(conn_.get(), "ROLLBACK TO SAVEPOINT shardcast_change", context).status());
    SC_RETURN_IF_ERROR(options_.dead_letter->Send(id(), routed, i, s));
    spdlog::warn("destination {}: change {} at {} sent to the dead-letter queue: {}", id(), i,
                 FormatLsn(txn.end_lsn), s.message());
  }
  return Status::Ok();
}

Status ShardSink::Fail(Status status) {
  // Dropping the connection rolls back whatever the batch did; Open again.
  conn_.reset();
  has_in_flight_ = false;
  in_flight_ = {};
  in_txn_ = false;
  return status;
}

Status ShardSink::Apply(const TxnBatch& batch) {
  if (conn_ == nullptr) {
    return FailedPrecondition("applying to " + options_.destination +
                              ": not open (after a failure, Open again)");
  }
  const Lsn durable = durable_lsn();
  Lsn last = 0;              // end_lsn of the last complete transaction of the batch
  bool ends_inside = false;  // the batch ends with a piece that is not a transaction's last
  // Chunks go out while later ones are built: the server executes one while
  // the next is assembled. Simple-protocol multi-statement Queries rather than
  // pipeline mode: values are literals anyway, one Query message carries many
  // statements (pipeline mode needs Parse/Bind/Execute per statement), and
  // PQgetResult still yields one result per statement, so a failure is
  // pinned to its statement.
  if (options_.merge && !in_txn_ && merge_fallbacks_ < kMergeFallbacksBeforeGivingUp) {
    if (std::optional<Status> merged = ApplyMerged(batch, durable)) return *merged;
  }
  SqlBuilder& builder = builder_;
  builder.Reset();
  for (const auto& routed : batch) {
    if (routed == nullptr || routed->txn == nullptr)
      return Fail(Internal("Apply: empty transaction in batch"));
    const Transaction& txn = *routed->txn;
    if (txn.end_lsn <= durable) continue;  // applied before: its effect and progress are committed
    if (routed->placements.size() != txn.changes.size()) {
      return Fail(Internal("Apply: transaction at " + FormatLsn(txn.end_lsn) + " has " +
                           std::to_string(routed->placements.size()) + " placements for " +
                           std::to_string(txn.changes.size()) + " changes"));
    }
    if (txn.first_piece && !txn.last_piece && in_txn_ && last != 0) {
      // A large transaction starts: make what is complete before it durable
      // now, not only when its last piece arrives.
      Status s = CommitThrough(builder, last);
      if (!s.ok()) return Failed(s, 0);
    }
    ends_inside = !txn.last_piece;
    if (txn.last_piece) last = txn.end_lsn;
    const std::int32_t index = IndexIn(routed->ring);
    if (index < 0) continue;  // this shard is not in the ring in force: nothing is for it
    if (options_.dead_letter != nullptr && options_.dead_letter->IsCareful(id(), txn.end_lsn)) {
      Status s = builder.Finish();
      if (s.ok()) s = Drain();
      if (s.ok()) s = ApplyCarefully(*routed, index);
      if (!s.ok()) return Failed(s, txn.end_lsn);
      continue;
    }
    for (std::size_t i = 0; i < txn.changes.size(); ++i) {
      ShardAction action = ActionFor(txn.changes[i], routed->placements[i], index);
      if (action == ShardAction::kSkip) continue;
      Status s = in_txn_ ? Status::Ok() : builder.AddStatement("BEGIN", "BEGIN");
      in_txn_ = true;
      if (s.ok()) s = builder.Add(action, txn.changes[i], routed->placements[i], txn.end_lsn);
      if (!s.ok()) {
        // Server errors already name their statement; builder errors get the position here.
        bool named = s.message().rfind("applying to ", 0) == 0;
        return Failed(named ? s
                            : s.Prefixed("applying to " + options_.destination + " at position " +
                                         FormatLsn(txn.end_lsn)),
                      txn.end_lsn);
      }
    }
  }
  if (ends_inside) {
    // A large source transaction goes on in the next batch: keep the
    // destination transaction open, nothing is durable yet.
    if (in_txn_) {
      Status s = builder.Finish();
      if (s.ok()) s = Drain();
      if (!s.ok()) return Failed(s, 0);
      KillPoint("apply.mid_transaction");
    }
    return Status::Ok();
  }
  if (last == 0) return Status::Ok();  // everything was applied before
  if (!in_txn_) {
    // Nothing here for this shard: defer the progress bump (Poll writes it).
    pending_ = last;
    if (Clock::now() - last_write_ < options_.idle_progress_interval) return Status::Ok();
    return WriteProgress(last);
  }
  Status s = CommitThrough(builder, last);
  return s.ok() ? s : Failed(s, 0);
}

std::optional<Status> ShardSink::ApplyMerged(const TxnBatch& batch, Lsn durable) {
  net_.Clear();
  Lsn last = 0;
  for (const auto& routed : batch) {
    // Anything unusual goes in order, where it is reported or handled.
    if (routed == nullptr || routed->txn == nullptr) return std::nullopt;
    const Transaction& txn = *routed->txn;
    if (txn.end_lsn <= durable) continue;
    if (!txn.first_piece || !txn.last_piece || routed->placements.size() != txn.changes.size() ||
        (options_.dead_letter != nullptr && options_.dead_letter->IsCareful(id(), txn.end_lsn))) {
      return std::nullopt;
    }
    last = txn.end_lsn;
    const std::int32_t index = IndexIn(routed->ring);
    if (index < 0) continue;
    for (std::size_t i = 0; i < txn.changes.size(); ++i) {
      const ShardAction action = ActionFor(txn.changes[i], routed->placements[i], index);
      if (!net_.Add(action, txn.changes[i], routed->placements[i], txn.end_lsn)) return std::nullopt;
    }
  }
  if (net_.empty()) return std::nullopt;  // nothing for this shard: in order, which defers the progress bump
  builder_.Reset();
  Status s = builder_.AddStatement("BEGIN", "BEGIN");
  in_txn_ = true;
  if (s.ok()) s = net_.Emit(builder_);
  if (s.ok()) s = CommitThrough(builder_, last);
  net_.Clear();
  if (s.ok()) return s;
  if (IsDataError(failed_sqlstate_) && conn_ != nullptr && PQstatus(conn_.get()) == CONNECTION_OK) {
    // Valid in order but not in this order (a unique or foreign key checked
    // per row), or a bad row: roll back and apply the same batch in source
    // order, which tells which (Apply goes on with it).
    failed_range_ = {0, 0};
    failed_sqlstate_.clear();
    in_txn_ = false;
    auto rolled_back = ExecSql(conn_.get(), "ROLLBACK", "applying to " + options_.destination);
    if (!rolled_back.ok()) return Fail(rolled_back.status());
    ++merge_fallbacks_;
    spdlog::debug("destination {}: the merged run through {} failed ({}); applying it in source order", id(),
                  FormatLsn(last), s.message());
    if (merge_fallbacks_ == kMergeFallbacksBeforeGivingUp) {
      spdlog::warn(
          "destination {}: {} merged runs failed on constraints that the net effect's order breaks "
          "(unique or foreign keys); applying in source order from now on",
          id(), merge_fallbacks_);
    }
    return std::nullopt;
  }
  return Failed(s, 0);
}

Status ShardSink::CommitThrough(SqlBuilder& builder, Lsn last) {
  Status s = builder.AddStatement(ProgressSql(last), "progress row", last);
  if (s.ok()) s = builder.AddStatement("COMMIT", "COMMIT", last);
  if (s.ok()) s = builder.Finish();
  if (s.ok()) s = Drain();
  if (!s.ok()) return s;
  in_txn_ = false;
  KillPoint("apply.after_commit");
  durable_.store(last, std::memory_order_release);
  pending_ = 0;
  last_write_ = Clock::now();
  return Status::Ok();
}

Status ShardSink::SendChunk(SqlChunk& chunk) {
  SC_RETURN_IF_ERROR(Drain());
  if (PQsendQuery(conn_.get(), chunk.sql.c_str()) == 0) {
    return ResultError(conn_.get(), nullptr, "applying to " + options_.destination + ": sending");
  }
  const bool commits = !chunk.statements.empty() && chunk.statements.back().subject == "COMMIT";
  std::swap(in_flight_, chunk);  // Drain cleared in_flight_: the builder reuses its buffer
  has_in_flight_ = true;
  if (!commits) KillPoint("apply.mid_transaction");
  return Status::Ok();
}

Status ShardSink::Drain() {
  if (!has_in_flight_) return Status::Ok();
  has_in_flight_ = false;
  Status first_error;
  std::size_t done = 0;
  // Read every result, also after an error, so the connection is idle again.
  while (PgResultPtr result{PQgetResult(conn_.get())}) {
    ExecStatusType st = PQresultStatus(result.get());
    const StatementInfo* info = done < in_flight_.statements.size() ? &in_flight_.statements[done] : nullptr;
    std::string context =
        "applying to " + options_.destination + ": " + (info ? info->Describe() : "statement");
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      // COMMIT of a transaction that had failed reports ROLLBACK, not an error.
      if (first_error.ok() && info != nullptr && info->subject == "COMMIT" &&
          std::string_view(PQcmdStatus(result.get())) != "COMMIT") {
        first_error = FailedPrecondition(context + ": the transaction was rolled back");
      }
      ++done;
    } else if (first_error.ok()) {
      first_error = ResultError(conn_.get(), result.get(), context);
      // Which change statement failed and why, for on_error: dead_letter.
      const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
      const bool change = info != nullptr && info->subject != "BEGIN" && info->subject != "COMMIT" &&
                          info->subject != "progress row";
      if (change) {
        failed_range_ = {info->first_lsn, info->last_lsn};
        failed_sqlstate_ = state != nullptr ? state : "";
      }
    }
  }
  if (first_error.ok() && done != in_flight_.statements.size()) {
    first_error = ResultError(conn_.get(), nullptr,
                              "applying to " + options_.destination + ": " + std::to_string(done) + " of " +
                                  std::to_string(in_flight_.statements.size()) + " statements answered");
  }
  in_flight_.sql.clear();  // keeps the capacity for the next chunk
  in_flight_.statements.clear();
  return first_error;
}

Status ShardSink::WriteProgress(Lsn lsn) {
  auto result =
      ExecSql(conn_.get(), ProgressSql(lsn),
              "applying to " + options_.destination + ": progress row at position " + FormatLsn(lsn));
  if (!result.ok()) return Fail(result.status());
  durable_.store(lsn, std::memory_order_release);
  pending_ = 0;
  last_write_ = Clock::now();
  return Status::Ok();
}

Status ShardSink::Poll(std::chrono::milliseconds timeout) {
  if (conn_ == nullptr || in_txn_ || pending_ <= durable_lsn()) return Status::Ok();
  auto due = last_write_ + options_.idle_progress_interval;
  auto now = Clock::now();
  if (due > now) {
    if (due - now > timeout) return Status::Ok();
    std::this_thread::sleep_for(due - now);
  }
  return WriteProgress(pending_);
}

void ShardSink::Close() {
  conn_.reset();
  in_txn_ = false;
  has_in_flight_ = false;
  in_flight_ = {};
  ring_.reset();
  index_ = -1;
}

}  // namespace shardcast
