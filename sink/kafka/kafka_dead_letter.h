// The dead-letter queue as a Kafka topic, {prefix}.shardcast.dlq: each
// rejected change is one record with the key and Debezium envelope the feed
// would carry, and headers naming what failed: shardcast.error (the
// destination's error: table, key, position, server message and SQLSTATE),
// shardcast.destination and shardcast.position. Its own idempotent producer,
// so the feed's exactly-once transactions are not involved.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sink/dead_letter.h"
#include "sink/kafka/envelope.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace shardcast {

struct KafkaDeadLetterOptions {
  std::string brokers;
  std::string prefix = "shardcast";
  std::map<std::string, std::string> properties;  // kafka.properties, as for the feed
  std::string source_db;
  std::vector<TableSpec> tables;
  std::chrono::milliseconds timeout{30000};  // for one record to be acknowledged
};

class KafkaDeadLetter : public DeadLetterQueue {
 public:
  static StatusOr<std::unique_ptr<KafkaDeadLetter>> Create(KafkaDeadLetterOptions options);
  ~KafkaDeadLetter() override;

  Status Send(const std::string& destination, const RoutedTransaction& txn, std::size_t index,
              const Status& error) override;

  const std::string& topic() const { return topic_; }

 private:
  explicit KafkaDeadLetter(KafkaDeadLetterOptions options);

  KafkaDeadLetterOptions options_;
  std::string topic_;
  EnvelopeEncoder encoder_;
  std::mutex mu_;  // one Send at a time: each waits for its own acknowledgement
  rd_kafka_t* rk_ = nullptr;
};

}  // namespace shardcast
