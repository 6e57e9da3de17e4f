// Logging a broker outage once per state change (issue 4), not once per
// retry: while the brokers are down librdkafka reconnects with backoff and
// reports every failed attempt (its log facilities FAIL, BROKERFAIL,
// CONNECT, ERROR and the error callback's __TRANSPORT). Those go to debug;
// this class logs "all brokers are down" once when librdkafka says so and
// "reachable again" once at the first delivery after it.
#pragma once

#include <spdlog/common.h>

#include <atomic>
#include <string>

namespace shardcast {

class BrokerOutageLog {
 public:
  explicit BrokerOutageLog(std::string brokers) : brokers_(std::move(brokers)) {}

  // librdkafka's error callback for a non-fatal error. Thread-safe.
  void OnError(int err, const char* reason);
  // A record (or a transaction) was acknowledged. Thread-safe, cheap.
  void OnDelivered();
  bool down() const { return down_.load(std::memory_order_relaxed); }

 private:
  std::string brokers_;
  std::atomic<bool> down_{false};
  std::atomic<int> last_warned_{0};  // the last other error logged as a warning
};

// The spdlog level of one librdkafka log line (syslog level, facility,
// message): connection failures and what is retried because of them are
// debug, the rest follows the syslog level.
spdlog::level::level_enum LibrdkafkaLogLevel(int syslog_level, const char* facility, const char* message);

}  // namespace shardcast
