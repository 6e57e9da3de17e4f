#include "sink/kafka/kafka_dead_letter.h"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>

namespace shardcast {
namespace {

// The delivery report of the one record in flight.
struct Delivery {
  std::atomic<bool> done{false};
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  auto* d = static_cast<Delivery*>(msg->_private);
  if (d == nullptr) return;
  d->err = msg->err;
  d->done.store(true);
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KafkaDeadLetter::KafkaDeadLetter(KafkaDeadLetterOptions options)
    : options_(std::move(options)),
      topic_(options_.prefix + ".shardcast.dlq"),
      encoder_(EnvelopeOptions{options_.prefix, topic_, options_.source_db, /*tombstones=*/false, false},
               options_.tables) {}

KafkaDeadLetter::~KafkaDeadLetter() {
  if (rk_ != nullptr) {
    rd_kafka_flush(rk_, 5000);
    rd_kafka_destroy(rk_);
  }
}

StatusOr<std::unique_ptr<KafkaDeadLetter>> KafkaDeadLetter::Create(KafkaDeadLetterOptions options) {
  std::unique_ptr<KafkaDeadLetter> q(new KafkaDeadLetter(std::move(options)));
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"bootstrap.servers", q->options_.brokers},
      {"client.id", "shardcast-dlq"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "0"},
      {"queue.buffering.max.kbytes", "4096"},
  };
  for (const auto& [name, value] : q->options_.properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return ConfigError("kafka.properties." + name + ": " + errstr);
    }
  }
  for (const auto& [name, value] : defaults) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Internal("kafka dead-letter producer: setting " + name + ": " + errstr);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &OnDelivery);
  q->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (q->rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return ConfigError(std::string("kafka dead-letter producer: ") + errstr);
  }
  return q;
}

Status KafkaDeadLetter::Send(const std::string& destination, const RoutedTransaction& txn, std::size_t index,
                             const Status& error) {
  std::vector<KafkaRecordOut> records;
  SC_RETURN_IF_ERROR(encoder_.Encode(txn, index, NowMs(), records));
  if (records.empty())
    return Internal("dead-letter: change " + std::to_string(index) + " at " + FormatLsn(txn.txn->end_lsn) +
                    " has no record to send");
  const KafkaRecordOut& rec = records.front();
  const std::string message = error.ToString();
  std::lock_guard lock(mu_);
  Delivery delivery;
  const char* key = rec.key ? rec.key->data() : nullptr;
  const std::size_t key_len = rec.key ? rec.key->size() : 0;
  const char* value = rec.value ? rec.value->data() : nullptr;
  const std::size_t value_len = rec.value ? rec.value->size() : 0;
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_KEY(const_cast<char*>(key), key_len), RD_KAFKA_V_VALUE(const_cast<char*>(value), value_len),
      RD_KAFKA_V_HEADER("shardcast.error", message.data(), static_cast<ssize_t>(message.size())),
      RD_KAFKA_V_HEADER("shardcast.destination", destination.data(),
                        static_cast<ssize_t>(destination.size())),
      RD_KAFKA_V_HEADER("shardcast.position", rec.position.data(), static_cast<ssize_t>(rec.position.size())),
      RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable("dead-letter: producing to " + topic_ + ": " + rd_kafka_err2str(err));
  // The destination transaction that leaves this change out commits only
  // after the queue has it.
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  while (!delivery.done.load() && std::chrono::steady_clock::now() < deadline) rd_kafka_poll(rk_, 50);
  if (!delivery.done.load()) {
    // The record still points at `delivery`: wait it out before it goes away.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (!delivery.done.load()) rd_kafka_poll(rk_, 50);
    return Unavailable("dead-letter: " + topic_ + " did not acknowledge the record at position " +
                       rec.position + " within " + std::to_string(options_.timeout.count() / 1000) + " s");
  }
  if (delivery.err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable("dead-letter: delivery to " + topic_ + " at position " + rec.position +
                       " failed: " + rd_kafka_err2str(delivery.err));
  return Status::Ok();
}

}  // namespace shardcast
