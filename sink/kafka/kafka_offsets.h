// The exactly-once feed's marker (DESIGN.md "Delivery"): one record per
// Kafka transaction in the compacted offsets topic, key = the transactional
// id, written inside the same Kafka transaction as the data it describes.
// The latest record for the key says how far the feed got:
//   {"end_lsn":"0/ABC","ordinal":N,"complete":true|false,"durable":"0/ABB"}
// end_lsn/ordinal: the last change in Kafka; complete: whether that change
// ended its source transaction; durable: end_lsn of the last complete source
// transaction in Kafka (the destination's progress).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/status.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace shardcast {

struct OffsetsMarker {
  Lsn end_lsn = 0;
  std::uint32_t ordinal = 0;
  bool complete = true;
  Lsn durable = 0;

  // The partially delivered transaction, if any: on replay its changes with
  // ordinal <= `ordinal` are in Kafka already.
  bool partial() const { return !complete && end_lsn > durable; }
  bool operator==(const OffsetsMarker&) const = default;
};

std::string EncodeOffsetsMarker(const OffsetsMarker& m);
// kCorruption naming what is wrong when the value is not such a record.
StatusOr<OffsetsMarker> DecodeOffsetsMarker(std::string_view value);

struct OffsetsReadOptions {
  std::string brokers;
  std::map<std::string, std::string> properties;  // the producer's (security settings); misfits ignored
  std::string topic;
  std::string key;  // the transactional id
  std::chrono::milliseconds timeout{30000};
};

// The latest marker for key in partition 0 of topic, read with
// isolation.level=read_committed from the beginning (last record wins);
// nullopt when the topic or the key has none. kUnavailable when the end is
// not reached in time, kCorruption when the latest value does not parse.
StatusOr<std::optional<OffsetsMarker>> ReadOffsetsMarker(const OffsetsReadOptions& options);

// Creates topic (1 partition, cleanup.policy=compact) through rk's admin API
// unless it exists. A broker that cannot create it (the mock broker) is not an
// error: producing to it auto-creates it. Fails only when the brokers do not
// answer within timeout; waits at most 5 s for the creation itself.
Status EnsureOffsetsTopic(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace shardcast
