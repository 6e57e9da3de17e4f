#include "sink/kafka/kafka_outage_log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <cstring>

namespace shardcast {

void BrokerOutageLog::OnError(int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (!down_.exchange(true))
      spdlog::warn("kafka: all brokers of {} are down; retrying with backoff, records wait in the queue",
                   brokers_);
    else
      spdlog::debug("kafka: {}", reason);
    return;
  }
  // One failed connection attempt each: the state change above says it.
  const bool per_attempt = code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__RESOLVE ||
                           code == RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (per_attempt || last_warned_.exchange(err) == err) {
    spdlog::debug("kafka: {}: {}", rd_kafka_err2name(code), reason);
    return;
  }
  spdlog::warn("kafka: {}: {}", rd_kafka_err2name(code), reason);
}

void BrokerOutageLog::OnDelivered() {
  if (!down_.load(std::memory_order_relaxed)) return;
  if (down_.exchange(false)) {
    last_warned_.store(0);
    spdlog::info("kafka: brokers reachable again, delivering");
  }
}

spdlog::level::level_enum LibrdkafkaLogLevel(int syslog_level, const char* facility, const char* message) {
  if (facility == nullptr) facility = "";
  for (const char* noisy : {"FAIL", "BROKERFAIL", "CONNECT", "ERROR"})
    if (std::strcmp(facility, noisy) == 0) return spdlog::level::debug;
  // "Failed to acquire idempotence PID ...: Broker transport failure: retrying"
  if (std::strcmp(facility, "GETPID") == 0 && message != nullptr &&
      std::strstr(message, "retrying") != nullptr)
    return spdlog::level::debug;
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
  return syslog_level <= 3   ? spdlog::level::err
         : syslog_level == 4 ? spdlog::level::warn
         : syslog_level <= 6 ? spdlog::level::info
                             : spdlog::level::debug;
}

}  // namespace shardcast
