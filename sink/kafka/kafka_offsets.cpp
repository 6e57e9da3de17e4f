#include "sink/kafka/kafka_offsets.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

namespace shardcast {
namespace {

using Clock = std::chrono::steady_clock;

struct ConsumerDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct PartitionsDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};

int MsLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30));
}

void QuietLog(const rd_kafka_t*, int, const char* fac, const char* buf) {
  spdlog::debug("kafka offsets reader: {}: {}", fac, buf);
}

// Whether topic exists, from all-topics metadata (naming one topic could
// auto-create it).
StatusOr<bool> TopicExists(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> owner(md);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable(std::string("metadata: ") + rd_kafka_err2str(err));
  for (int i = 0; i < md->topic_cnt; ++i)
    if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
  return false;
}

}  // namespace

std::string EncodeOffsetsMarker(const OffsetsMarker& m) {
  nlohmann::json j = {{"end_lsn", FormatLsn(m.end_lsn)},
                      {"ordinal", m.ordinal},
                      {"complete", m.complete},
                      {"durable", FormatLsn(m.durable)}};
  return j.dump();
}

StatusOr<OffsetsMarker> DecodeOffsetsMarker(std::string_view value) {
  const nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corruption("offsets record is not a JSON object");
  auto lsn = [&](const char* field) -> std::optional<Lsn> {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return ParseLsn(it->get<std::string>());
  };
  const auto end_lsn = lsn("end_lsn");
  const auto durable = lsn("durable");
  const auto ordinal = j.find("ordinal");
  const auto complete = j.find("complete");
  if (!end_lsn || !durable) return Corruption("offsets record lacks end_lsn or durable as \"X/Y\"");
  if (ordinal == j.end() || !ordinal->is_number_unsigned() || ordinal->get<std::uint64_t>() > UINT32_MAX)
    return Corruption("offsets record lacks an ordinal");
  if (complete == j.end() || !complete->is_boolean()) return Corruption("offsets record lacks complete");
  OffsetsMarker m;
  m.end_lsn = *end_lsn;
  m.durable = *durable;
  m.ordinal = static_cast<std::uint32_t>(ordinal->get<std::uint64_t>());
  m.complete = complete->get<bool>();
  if (m.durable > m.end_lsn) return Corruption("offsets record has durable past end_lsn");
  return m;
}

StatusOr<std::optional<OffsetsMarker>> ReadOffsetsMarker(const OffsetsReadOptions& options) {
  const auto deadline = Clock::now() + options.timeout;
  const std::string where = "reading offsets topic " + options.topic;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : options.properties)  // security settings; producer-only ones do not apply
    (void)rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr);
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", options.brokers}, {"group.id", "shardcast-offsets-" + options.key},
      {"enable.auto.commit", "false"},        {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},  {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},      {"allow.auto.create.topics", "false"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Internal(where + ": setting " + name + ": " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf, &QuietLog);
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (raw == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Internal(where + ": creating the consumer: " + errstr);
  }
  std::unique_ptr<rd_kafka_t, ConsumerDeleter> rk(raw);
  rd_kafka_poll_set_consumer(rk.get());

  StatusOr<bool> exists = TopicExists(rk.get(), options.topic, MsLeft(deadline));
  if (!exists.ok()) return exists.status().Prefixed(where);
  if (!*exists) return std::optional<OffsetsMarker>{};
  std::int64_t lo = 0, hi = 0;
  const rd_kafka_resp_err_t werr =
      rd_kafka_query_watermark_offsets(rk.get(), options.topic.c_str(), 0, &lo, &hi, MsLeft(deadline));
  if (werr != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable(where + ": watermarks: " + rd_kafka_err2str(werr));
  if (hi <= lo) return std::optional<OffsetsMarker>{};

  std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionsDeleter> assignment(
      rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), options.topic.c_str(), 0)->offset = lo;
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assignment.get()); err)
    return Internal(where + ": assign: " + rd_kafka_err2str(err));

  // The last value for the key wins (compaction keeps it). The end is the
  // partition EOF: with read_committed that is the last stable offset, and
  // transaction markers take offsets that are never delivered.
  std::optional<std::string> latest;
  std::int64_t latest_offset = -1;
  for (;;) {
    if (Clock::now() >= deadline)
      return Unavailable(where + ": end not reached within " + std::to_string(options.timeout.count()) +
                         " ms");
    std::unique_ptr<rd_kafka_message_t, MessageDeleter> m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) continue;
      return Unavailable(where + ": " + rd_kafka_message_errstr(m.get()));
    }
    const std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    if (m->key == nullptr || key != options.key) continue;
    if (m->payload == nullptr) {
      latest.reset();  // a tombstone: someone reset the marker
    } else {
      latest.emplace(static_cast<const char*>(m->payload), m->len);
    }
    latest_offset = m->offset;
  }
  if (!latest) return std::optional<OffsetsMarker>{};
  StatusOr<OffsetsMarker> marker = DecodeOffsetsMarker(*latest);
  if (!marker.ok())
    return marker.status().Prefixed(where + ", key " + options.key + ", offset " +
                                    std::to_string(latest_offset));
  return std::optional<OffsetsMarker>(*marker);
}

Status EnsureOffsetsTopic(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  SC_ASSIGN_OR_RETURN(const bool exists, TopicExists(rk, topic, static_cast<int>(timeout.count())));
  if (exists) return Status::Ok();
  // A cluster answers in well under a second; one without a controller (the
  // mock broker) never does, and auto-creation covers it.
  const auto deadline = Clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(5));
  char errstr[512];
  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> nt(
      rd_kafka_NewTopic_new(topic.c_str(), 1, -1, errstr, sizeof errstr));
  if (!nt) return Internal("kafka: offsets topic " + topic + ": " + errstr);
  if (rd_kafka_NewTopic_set_config(nt.get(), "cleanup.policy", "compact") != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Internal("kafka: offsets topic " + topic + ": cleanup.policy");
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk));
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> opts(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  (void)rd_kafka_AdminOptions_set_request_timeout(opts.get(), MsLeft(deadline), errstr, sizeof errstr);
  rd_kafka_NewTopic_t* topics[] = {nt.get()};
  rd_kafka_CreateTopics(rk, topics, 1, opts.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, EventDeleter> ev(
      rd_kafka_queue_poll(queue.get(), MsLeft(deadline) + 1000));
  std::string why = "no answer";
  if (ev) {
    why = rd_kafka_event_error_string(ev.get()) ? rd_kafka_event_error_string(ev.get()) : "";
    if (rd_kafka_event_error(ev.get()) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
      std::size_t n = 0;
      const rd_kafka_topic_result_t** results = res ? rd_kafka_CreateTopics_result_topics(res, &n) : nullptr;
      const rd_kafka_resp_err_t err =
          n == 1 ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR__FAIL;
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        spdlog::info("kafka: created offsets topic {} (1 partition, cleanup.policy=compact)", topic);
        return Status::Ok();
      }
      why = rd_kafka_err2str(err);
    }
  }
  // Not fatal: the first produce auto-creates it (without compaction).
  spdlog::info(
      "kafka: could not create offsets topic {} ({}); relying on auto-creation, give it "
      "cleanup.policy=compact",
      topic, why);
  return Status::Ok();
}

}  // namespace shardcast
