// Builds the destinations the config names: one shard sink per (shard,
// region) pair and the Kafka feed when configured.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "common/status.h"
#include "daemon/config.h"
#include "sharding/ring.h"
#include "sharding/table_spec.h"
#include "sink/dead_letter.h"
#include "sink/kafka/kafka_sink.h"
#include "sink/sink.h"

namespace shardcast {

// Destination id of a shard database: "<shard>@<region>".
std::string ShardDestinationId(const std::string& shard, const std::string& region);
inline constexpr const char* kKafkaDestinationId = "kafka";

// The shard databases of each ring shard (indexed like ring.shards()): one
// per region it has a database in, in config.regions order.
struct ShardDestination {
  std::string id;   // "<shard>@<region>"
  std::string dsn;  // may hold a password: never log it unredacted
};
std::vector<std::vector<ShardDestination>> ShardDestinationsByRing(const Config& config, const Ring& ring);

// The Kafka sink's options from config.kafka (which must be set); resume_lsn 0.
KafkaSinkOptions KafkaOptionsFor(const Config& config, const std::vector<TableSpec>& tables,
                                 const std::string& source_db);

// stored_progress (from the checkpoint store) seeds destinations that keep no
// marker of their own (Kafka in at-least-once mode). dead_letter: the queue
// shard destinations send rejected changes to (on_error: dead_letter), or
// nullptr (on_error: stop).
StatusOr<std::vector<std::unique_ptr<Sink>>> MakeSinks(const Config& config,
                                                       const std::vector<TableSpec>& tables,
                                                       const std::string& source_db,
                                                       const std::map<std::string, Lsn>& stored_progress,
                                                       DeadLetterQueue* dead_letter = nullptr);

// The dead-letter queue of on_error: dead_letter ({prefix}.shardcast.dlq).
StatusOr<std::unique_ptr<DeadLetterQueue>> MakeDeadLetterQueue(const Config& config,
                                                               const std::vector<TableSpec>& tables,
                                                               const std::string& source_db);

}  // namespace shardcast
