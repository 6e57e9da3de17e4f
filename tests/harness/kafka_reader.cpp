#include "tests/harness/kafka_reader.h"

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>

namespace shardcast::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct PartitionsDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
using KafkaPtr = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<std::int64_t>(left, 0));
}

StatusOr<KafkaPtr> NewConsumer(const std::string& bootstrap) {
  static std::atomic<int> counter{0};
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::string group = "shardcast-test-reader-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", bootstrap},        {"group.id", group},
      {"enable.auto.commit", "false"},         {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_uncommitted"}, {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},       {"log_level", "3"},
  };
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Internal(std::string("consumer config ") + key + ": " + errstr);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) return Internal(std::string("rd_kafka_new: ") + errstr);
  rd_kafka_poll_set_consumer(rk);
  return KafkaPtr(rk);
}

StatusOr<MetadataPtr> Metadata(rd_kafka_t* rk, rd_kafka_topic_t* topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, topic == nullptr ? 1 : 0, topic, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable(std::string("metadata: ") + rd_kafka_err2str(err));
  return MetadataPtr(md);
}

KafkaRecord ToRecord(const rd_kafka_message_t* m, const std::string& topic) {
  KafkaRecord r;
  r.topic = topic;
  r.partition = m->partition;
  r.offset = m->offset;
  if (m->key != nullptr) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) r.value = std::string(static_cast<const char*>(m->payload), m->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      r.headers[name] = value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size);
    }
  }
  return r;
}

}  // namespace

StatusOr<std::vector<KafkaRecord>> ReadTopic(const std::string& bootstrap, const std::string& topic,
                                             std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  SC_ASSIGN_OR_RETURN(KafkaPtr rk, NewConsumer(bootstrap));

  // All-topics metadata: asking for one topic by name can auto-create it.
  int partition_count = -1;
  {
    StatusOr<MetadataPtr> md = Metadata(rk.get(), nullptr, MsLeft(deadline));
    if (!md.ok()) return md.status().Prefixed("reading topic " + topic);
    for (int i = 0; i < (*md)->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = (*md)->topics[i];
      if (topic != t.topic) continue;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Unavailable("topic " + topic + ": " + rd_kafka_err2str(t.err));
      }
      partition_count = t.partition_cnt;
    }
    if (partition_count < 0) return NotFound("topic " + topic + " does not exist");
  }

  // Where each partition ends now; later writes are not read.
  std::vector<std::int64_t> high(static_cast<std::size_t>(partition_count), 0);
  std::vector<std::int64_t> next(static_cast<std::size_t>(partition_count), 0);
  std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionsDeleter> assignment(
      rd_kafka_topic_partition_list_new(partition_count));
  int open = 0;
  for (int p = 0; p < partition_count; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &lo, &hi, MsLeft(deadline));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Unavailable("watermarks of " + topic + "/" + std::to_string(p) + ": " + rd_kafka_err2str(err));
    }
    high[p] = hi;
    next[p] = lo;
    if (hi > lo) {
      rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = lo;
      ++open;
    }
  }
  if (open == 0) return std::vector<KafkaRecord>{};
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assignment.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Internal(std::string("assign: ") + rd_kafka_err2str(err));
  }

  std::vector<KafkaRecord> records;
  auto done = [&] {
    for (int p = 0; p < partition_count; ++p) {
      if (next[p] < high[p]) return false;
    }
    return true;
  };
  while (!done()) {
    if (Clock::now() >= deadline) {
      std::string where;
      for (int p = 0; p < partition_count; ++p) {
        where += " p" + std::to_string(p) + "=" + std::to_string(next[p]) + "/" + std::to_string(high[p]);
      }
      return Unavailable("reading " + topic + ": end not reached within " + std::to_string(timeout.count()) +
                         " ms (next/high:" + where + ")");
    }
    std::unique_ptr<rd_kafka_message_t, MessageDeleter> m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m) continue;
    int p = m->partition;
    if (p < 0 || p >= partition_count) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // The fetch position; past transaction markers that are never delivered.
      next[p] = std::max(next[p], m->offset);
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__TRANSPORT || m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) continue;
      return Unavailable("reading " + topic + ": " + rd_kafka_message_errstr(m.get()));
    }
    if (m->offset >= high[p]) continue;
    records.push_back(ToRecord(m.get(), topic));
    next[p] = std::max(next[p], m->offset + 1);
  }
  std::stable_sort(records.begin(), records.end(), [](const KafkaRecord& a, const KafkaRecord& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  return records;
}

StatusOr<std::vector<std::string>> ListTopics(const std::string& bootstrap) {
  SC_ASSIGN_OR_RETURN(KafkaPtr rk, NewConsumer(bootstrap));
  SC_ASSIGN_OR_RETURN(MetadataPtr md, Metadata(rk.get(), nullptr, 10000));
  std::vector<std::string> names;
  for (int i = 0; i < md->topic_cnt; ++i) names.emplace_back(md->topics[i].topic);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace shardcast::testing
