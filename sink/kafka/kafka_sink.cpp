#include "sink/kafka/kafka_sink.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/kill_point.h"
#include "sink/kafka/kafka_transactions.h"
#include "sink/kafka/murmur2.h"

namespace shardcast {
namespace {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};

int ToMs(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<std::int64_t>(d.count(), 0, 1 << 30));
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  spdlog::log(LibrdkafkaLogLevel(level, fac, buf), "kafka: {}: {}", fac, buf);
}

}  // namespace

void KafkaSink::KafkaDeleter::operator()(rd_kafka_t* rk) const {
  rd_kafka_destroy(rk);
}

KafkaSink::KafkaSink(KafkaSinkOptions options)
    : options_(std::move(options)),
      encoder_(EnvelopeOptions{options_.prefix, options_.topic, options_.source_db, options_.tombstones,
                               options_.partition_by_shard_key},
               options_.tables),
      durable_(options_.resume_lsn),
      outage_(std::make_unique<BrokerOutageLog>(options_.brokers)) {
  if (options_.offsets_topic.empty()) options_.offsets_topic = options_.prefix + ".shardcast.offsets";
}

KafkaSink::~KafkaSink() {
  Close();
}

StatusOr<Lsn> KafkaSink::Open() {
  if (rk_) return FailedPrecondition("kafka: already open");
  char errstr[512];
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  const std::uint64_t kbytes = std::clamp<std::uint64_t>(options_.queue_bytes / 1024, 1, 2147483647);
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"bootstrap.servers", options_.brokers},
      {"client.id", "shardcast"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"partitioner", "murmur2_random"},
      {"queue.buffering.max.kbytes", std::to_string(kbytes)},
      // The byte bound above is the limit that matters, not a message count.
      {"queue.buffering.max.messages", "10000000"},
  };
  std::vector<std::pair<std::string, std::string>> transactional;
  if (options_.exactly_once) {
    if (options_.transactional_id.empty()) return ConfigError("kafka: exactly_once needs a transactional id");
    transactional = {{"transactional.id", options_.transactional_id},
                     {"transaction.timeout.ms", std::to_string(ToMs(options_.transaction_timeout))}};
  }
  for (const auto& [name, value] : defaults) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
      return Internal("kafka: setting " + name + ": " + errstr);
  }
  for (const auto& [name, value] : options_.properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
      return ConfigError("kafka.properties." + name + ": " + errstr);
  }
  for (const auto& [name, value] : transactional) {  // after the properties: these must win
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
      return ConfigError("kafka: setting " + name + ": " + errstr);
  }
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSink::OnError);
  rd_kafka_conf_set_log_cb(conf.get(), &OnLog);

  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) return ConfigError(std::string("kafka: creating the producer: ") + errstr);
  conf.release();  // rd_kafka_new took it
  rk_.reset(rk);
  {
    std::lock_guard lock(mu_);
    inflight_.clear();
    error_ = Status::Ok();
  }
  failed_ = false;
  partitions_.clear();

  // Fail fast (and with a clear error) when no broker answers.
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk_.get(), 0, nullptr, &md, ToMs(options_.connect_timeout));
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md_owner(md);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rk_.reset();
    return Unavailable("kafka: no broker of " + options_.brokers + " answered: " + rd_kafka_err2str(err));
  }
  if (options_.exactly_once) {
    StatusOr<Lsn> marker = OpenTransactional();
    if (!marker.ok()) rk_.reset();
    return marker;
  }
  return Lsn{0};
}

Status KafkaSink::Apply(const TxnBatch& batch) {
  if (!rk_) return FailedPrecondition("kafka: Apply before Open");
  if (failed_.load()) return FirstError();
  if (options_.exactly_once) return ApplyTransactional(batch);
  bool produced = false;
  for (const auto& rt : batch) {
    if (!rt || !rt->txn) continue;
    const Transaction& txn = *rt->txn;
    if (options_.skip_replayed && txn.end_lsn <= durable_lsn()) continue;  // replayed: already delivered
    auto owned = std::make_unique<Tracker>();
    Tracker* t = owned.get();
    t->end_lsn = txn.end_lsn;
    t->last_piece = txn.last_piece;
    {
      std::lock_guard lock(mu_);
      inflight_.push_back(std::move(owned));
    }
    const std::int64_t now_ms = NowMs();
    for (std::size_t i = 0; i < txn.changes.size(); ++i) {
      scratch_.clear();
      Status s = encoder_.Encode(*rt, i, now_ms, scratch_);
      for (std::size_t r = 0; s.ok() && r < scratch_.size(); ++r) s = Produce(scratch_[r], t);
      produced = produced || !scratch_.empty();
      if (!s.ok()) {
        // This transaction can never become durable in this session.
        Fail(t, s);
        Release(t);
        return s;
      }
    }
    Release(t);  // the guard: with no records, durable as soon as its predecessors are
  }
  if (produced) KillPoint("kafka.after_produce");
  return Status::Ok();
}

Status KafkaSink::Flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    SC_RETURN_IF_ERROR(Poll(std::chrono::milliseconds(50)));
    if (outstanding() == 0) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline)
      return Unavailable("kafka: " + std::to_string(outstanding()) +
                         " record(s) still unacknowledged after " + std::to_string(timeout.count() / 1000) +
                         " s");
  }
}

Status KafkaSink::Produce(const KafkaRecordOut& rec, Tracker* t) {
  std::int32_t partition = RD_KAFKA_PARTITION_UA;
  if (options_.partition_by_shard_key && !rec.partition_key.empty()) {
    SC_ASSIGN_OR_RETURN(const std::int32_t count, PartitionCount(rec.topic));
    partition = KafkaPartitionFor(rec.partition_key, count);
  }
  const char* key = rec.key ? rec.key->data() : nullptr;
  const std::size_t key_len = rec.key ? rec.key->size() : 0;
  const char* value = rec.value ? rec.value->data() : nullptr;
  const std::size_t value_len = rec.value ? rec.value->size() : 0;
  if (t) t->pending.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(rec.topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(const_cast<char*>(key), key_len),
        RD_KAFKA_V_VALUE(const_cast<char*>(value), value_len),
        RD_KAFKA_V_HEADER("shardcast.position", rec.position.data(),
                          static_cast<ssize_t>(rec.position.size())),
        RD_KAFKA_V_HEADER("shardcast.shard", rec.shard.data(), static_cast<ssize_t>(rec.shard.size())),
        RD_KAFKA_V_HEADER("shardcast.epoch", rec.epoch.data(), static_cast<ssize_t>(rec.epoch.size())),
        RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Backpressure: serve delivery reports until there is room.
      rd_kafka_poll(rk_.get(), 50);
      if (failed_.load()) {
        if (t) t->pending.fetch_sub(1, std::memory_order_relaxed);
        return FirstError();
      }
      continue;
    }
    if (t) t->pending.fetch_sub(1, std::memory_order_relaxed);
    if (options_.exactly_once)
      if (Status fatal = FatalProducerError(rk_.get(), transactional_id()); !fatal.ok()) return fatal;
    return Unavailable("kafka: producing to " + rec.topic + " at position " + rec.position + ": " +
                       rd_kafka_err2str(err));
  }
}

StatusOr<std::int32_t> KafkaSink::PartitionCount(const std::string& topic) {
  if (auto it = partitions_.find(topic); it != partitions_.end()) return it->second;
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr));
  if (!rkt)
    return Internal("kafka: topic handle for " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error()));
  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  std::string last = "no metadata";
  // A new topic may need a moment to be auto-created by the brokers.
  while (std::chrono::steady_clock::now() < deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk_.get(), 0, rkt.get(), &md, ToMs(options_.connect_timeout));
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> owner(md);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      last = rd_kafka_err2str(err);
    } else if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
               md->topics[0].partition_cnt > 0) {
      const std::int32_t count = md->topics[0].partition_cnt;
      partitions_.emplace(topic, count);
      return count;
    } else if (md->topic_cnt == 1) {
      last = rd_kafka_err2str(md->topics[0].err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Unavailable("kafka: partition count of topic " + topic + ": " + last);
}

Status KafkaSink::Poll(std::chrono::milliseconds timeout) {
  if (!rk_) return FailedPrecondition("kafka: Poll before Open");
  rd_kafka_poll(rk_.get(), ToMs(timeout));
  if (failed_.load()) return FirstError();
  return Status::Ok();
}

void KafkaSink::Close() {
  if (!rk_) return;
  if (txn_open_) {
    // Best effort: a producer that cannot abort is fenced by the next Open.
    const auto deadline = std::chrono::steady_clock::now() + options_.close_timeout;
    const TxnCallResult r = RunTxnCall(
        rk_.get(), transactional_id(), "abort_transaction",
        [&](int ms) { return rd_kafka_abort_transaction(rk_.get(), ms); }, deadline);
    if (!r.status.ok()) spdlog::warn("kafka: closing: {}", r.status.ToString());
    txn_open_ = false;
  }
  const rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), ToMs(options_.close_timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka: closing with {} records undelivered (replay resends them)",
                 rd_kafka_outq_len(rk_.get()));
  }
  rk_.reset();  // may still report purged records: the trackers must outlive it
  std::lock_guard lock(mu_);
  inflight_.clear();
}

Status KafkaSink::RaiseFatalErrorForTest(int err) {
  if (!rk_) return FailedPrecondition("kafka: not open");
  if (rd_kafka_test_fatal_error(rk_.get(), static_cast<rd_kafka_resp_err_t>(err), "raised by a test") !=
      RD_KAFKA_RESP_ERR_NO_ERROR)
    return FailedPrecondition("kafka: a fatal error was raised already");
  return Status::Ok();
}

std::size_t KafkaSink::outstanding() const {
  return rk_ ? static_cast<std::size_t>(std::max(0, rd_kafka_outq_len(rk_.get()))) : 0;
}

void KafkaSink::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  auto* t = static_cast<Tracker*>(msg->_private);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) self->outage_->OnDelivered();
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string position = "?";
    rd_kafka_headers_t* hdrs = nullptr;
    const void* v = nullptr;
    std::size_t n = 0;
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "shardcast.position", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
      position.assign(static_cast<const char*>(v), n);
    }
    const char* topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?";
    self->Fail(t, Unavailable(std::string("kafka: delivery to topic ") + topic + " failed at position " +
                              position + ": " + rd_kafka_err2str(msg->err)));
  }
  if (t) self->Release(t);
}

void KafkaSink::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    if (self->options_.exactly_once) {
      // Fenced, typically: a new producer would be fenced again by whoever
      // took over, so this needs a person (kFailedPrecondition).
      Status fatal = FatalProducerError(rk, self->options_.transactional_id);
      spdlog::error("{}", fatal.message());
      self->Fail(nullptr, std::move(fatal));
      return;
    }
    // The idempotent producer's fatal errors are cured by a new producer.
    char buf[512];
    const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, buf, sizeof buf);
    self->Fail(nullptr, Unavailable(std::string("kafka: fatal producer error: ") + rd_kafka_err2name(fatal) +
                                    ": " + buf));
    return;
  }
  // Transient: librdkafka retries and delivery reports tell.
  self->outage_->OnError(err, reason);
}

void KafkaSink::Fail(Tracker* t, Status status) {
  std::lock_guard lock(mu_);
  if (t) t->failed = true;
  if (error_.ok()) error_ = std::move(status);
  failed_ = true;
}

Status KafkaSink::FirstError() const {
  std::lock_guard lock(mu_);
  return error_;
}

void KafkaSink::Release(Tracker* t) {
  if (t->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // t is complete: advance over every complete transaction at the front.
  std::lock_guard lock(mu_);
  while (!inflight_.empty()) {
    Tracker* front = inflight_.front().get();
    if (front->failed || front->pending.load(std::memory_order_acquire) != 0) break;
    if (front->last_piece) durable_.store(front->end_lsn, std::memory_order_release);
    inflight_.pop_front();
  }
}

}  // namespace shardcast
