// KafkaSink's exactly-once mode (see kafka_sink.h): the transactional
// producer, the offsets topic and the split of large source transactions.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/kill_point.h"
#include "sink/kafka/kafka_sink.h"
#include "sink/kafka/kafka_transactions.h"

namespace shardcast {
namespace {

using Clock = std::chrono::steady_clock;

int ToMs(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::int64_t>(d.count(), 0, 1 << 30));
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Describe(const OffsetsMarker& m) {
  if (!m.partial()) return FormatLsn(m.durable);
  return FormatLsn(m.durable) + " (and transaction " + FormatLsn(m.end_lsn) + " through change " +
         std::to_string(m.ordinal) + ")";
}

}  // namespace

StatusOr<Lsn> KafkaSink::OpenTransactional() {
  txn_open_ = false;
  txn_records_ = 0;
  // Fences any older producer with this id and aborts its open transaction,
  // so what the offsets topic says afterwards is final.
  const TxnCallResult init = RunTxnCall(
      rk_.get(), transactional_id(), "init_transactions",
      [&](int ms) { return rd_kafka_init_transactions(rk_.get(), ms); },
      Clock::now() + std::max(options_.connect_timeout, options_.transaction_timeout));
  if (!init.status.ok()) return init.status;
  SC_RETURN_IF_ERROR(EnsureOffsetsTopic(rk_.get(), options_.offsets_topic, options_.connect_timeout));

  OffsetsReadOptions read;
  read.brokers = options_.brokers;
  read.properties = options_.properties;
  read.topic = options_.offsets_topic;
  read.key = transactional_id();
  read.timeout = options_.connect_timeout;
  SC_ASSIGN_OR_RETURN(const std::optional<OffsetsMarker> marker, ReadOffsetsMarker(read));
  if (!marker) {
    // Nothing delivered under this id yet (or the feed ran at-least-once
    // until now): the checkpoint store's progress stands.
    committed_ = OffsetsMarker{durable_lsn(), 0, true, durable_lsn()};
    reached_ = committed_;
    spdlog::info("kafka: transactional id {} has no offsets record in {}; starting after {}",
                 transactional_id(), options_.offsets_topic, FormatLsn(durable_lsn()));
    return Lsn{0};
  }
  committed_ = *marker;
  reached_ = committed_;
  durable_.store(marker->durable, std::memory_order_release);
  spdlog::info("kafka: transactional id {} resumes after {}", transactional_id(), Describe(*marker));
  return marker->durable;
}

Status KafkaSink::ApplyTransactional(const TxnBatch& batch) {
  for (const auto& rt : batch) {
    if (!rt || !rt->txn) continue;
    const Transaction& txn = *rt->txn;
    if (options_.skip_replayed && txn.end_lsn <= durable_lsn()) continue;  // replayed: in Kafka already
    // Of a source transaction split across Kafka transactions before a
    // restart, the changes through committed_.ordinal are in Kafka.
    const bool resuming = committed_.partial() && txn.end_lsn == committed_.end_lsn;
    const std::int64_t now_ms = NowMs();
    for (std::size_t i = 0; i < txn.changes.size(); ++i) {
      const std::uint32_t ordinal = txn.changes[i].ordinal;
      if (resuming && ordinal <= committed_.ordinal) continue;
      scratch_.clear();
      if (Status s = encoder_.Encode(*rt, i, now_ms, scratch_); !s.ok())
        return txn_open_ ? AbortKafkaTxn(s) : s;
      if (!scratch_.empty() && !txn_open_) SC_RETURN_IF_ERROR(BeginKafkaTxn());
      for (const KafkaRecordOut& rec : scratch_)
        if (Status s = Produce(rec, nullptr); !s.ok()) return AbortKafkaTxn(s);
      txn_records_ += scratch_.size();
      const bool ends_txn = txn.last_piece && i + 1 == txn.changes.size();
      reached_.end_lsn = txn.end_lsn;
      reached_.ordinal = ordinal;
      reached_.complete = ends_txn;
      if (ends_txn) reached_.durable = txn.end_lsn;
      // Split at this change boundary: a Kafka transaction must commit well
      // within transaction.timeout.ms, and its records fit the queue bound.
      if (txn_open_ && (txn_records_ >= options_.max_txn_records ||
                        Clock::now() - txn_started_ >= options_.transaction_timeout / 3))
        SC_RETURN_IF_ERROR(CommitKafkaTxn());
    }
    if (txn.last_piece) {
      reached_.end_lsn = txn.end_lsn;
      reached_.ordinal = txn.changes.empty() ? 0 : txn.changes.back().ordinal;
      reached_.complete = true;
      reached_.durable = txn.end_lsn;
    }
  }
  // Also when only record-less transactions went by: the offsets topic is the
  // marker the daemon trusts, so durable_lsn() may not run ahead of it.
  if (txn_open_ || reached_ != committed_) SC_RETURN_IF_ERROR(CommitKafkaTxn());
  return Status::Ok();
}

Status KafkaSink::BeginKafkaTxn() {
  const TxnCallResult r = RunTxnCall(
      rk_.get(), transactional_id(), "begin_transaction",
      [&](int) { return rd_kafka_begin_transaction(rk_.get()); }, Clock::now());
  if (!r.status.ok()) {
    Fail(nullptr, r.status);
    return r.status;
  }
  txn_open_ = true;
  txn_started_ = Clock::now();
  txn_records_ = 0;
  return Status::Ok();
}

Status KafkaSink::CommitKafkaTxn() {
  if (!txn_open_) SC_RETURN_IF_ERROR(BeginKafkaTxn());
  if (txn_records_ > 0) KillPoint("kafka.after_produce");
  // The data first: an offsets record in the log then implies its data is
  // there, even for readers that see aborted records (the mock broker).
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(rk_.get(), ToMs(options_.transaction_timeout));
  if (Status fatal = FatalProducerError(rk_.get(), transactional_id()); !fatal.ok())
    return AbortKafkaTxn(fatal);
  if (failed_.load()) return AbortKafkaTxn(FirstError());
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR)
    return AbortKafkaTxn(Unavailable("kafka: " + std::to_string(outstanding()) +
                                     " record(s) unacknowledged after " +
                                     std::to_string(options_.transaction_timeout.count()) + " ms"));

  const std::string value = EncodeOffsetsMarker(reached_);
  const std::string& key = transactional_id();
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_.get(), RD_KAFKA_V_TOPIC(options_.offsets_topic.c_str()), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_OPAQUE(nullptr),
      RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return AbortKafkaTxn(Unavailable("kafka: producing to offsets topic " + options_.offsets_topic + ": " +
                                     rd_kafka_err2str(err)));
  KillPoint("kafka.in_transaction");

  const TxnCallResult r = RunTxnCall(
      rk_.get(), transactional_id(), "commit_transaction",
      [&](int ms) { return rd_kafka_commit_transaction(rk_.get(), ms); },
      Clock::now() + options_.transaction_timeout);
  if (!r.status.ok()) return AbortKafkaTxn(r.status);
  txn_open_ = false;
  outage_->OnDelivered();
  KillPoint("kafka.after_commit");
  committed_ = reached_;
  durable_.store(committed_.durable, std::memory_order_release);
  return Status::Ok();
}

Status KafkaSink::AbortKafkaTxn(Status why) {
  txn_open_ = false;
  reached_ = committed_;
  if (Status fatal = FatalProducerError(rk_.get(), transactional_id()); !fatal.ok()) {
    // Nothing to abort with: the next producer's init_transactions does it.
    Fail(nullptr, fatal);
    return fatal;
  }
  const TxnCallResult r = RunTxnCall(
      rk_.get(), transactional_id(), "abort_transaction",
      [&](int ms) { return rd_kafka_abort_transaction(rk_.get(), ms); },
      Clock::now() + options_.transaction_timeout);
  if (!r.status.ok()) {
    Fail(nullptr, r.status);
    return r.status;
  }
  spdlog::warn("kafka: aborted a Kafka transaction ({}); durable stays at {}, replay resends the rest",
               why.message(), Describe(committed_));
  Fail(nullptr, why);  // the caller replays after reopening
  return why;
}

}  // namespace shardcast
