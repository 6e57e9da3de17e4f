// Reading what landed in Kafka, for tests: every partition of a topic from its
// low to its high watermark (as of the call), read_uncommitted, so records of
// open or aborted transactions are included. Tests decide what they expect.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast::testing {

struct KafkaRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;              // nullopt: null key
  std::optional<std::string> value;            // nullopt: tombstone
  std::map<std::string, std::string> headers;  // a null header value reads as ""
};

// Records ordered by partition, then offset. kNotFound when the topic does not
// exist; kUnavailable when the end is not reached within timeout.
StatusOr<std::vector<KafkaRecord>> ReadTopic(const std::string& bootstrap, const std::string& topic,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Names of all topics, sorted.
StatusOr<std::vector<std::string>> ListTopics(const std::string& bootstrap);

}  // namespace shardcast::testing
