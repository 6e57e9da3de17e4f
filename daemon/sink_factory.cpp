#include "daemon/sink_factory.h"

#include <algorithm>

#include "sink/kafka/kafka_dead_letter.h"
#include "sink/kafka/kafka_sink.h"
#include "sink/postgres/shard_sink.h"

namespace shardcast {

std::string ShardDestinationId(const std::string& shard, const std::string& region) {
  return shard + "@" + region;
}

std::vector<std::vector<ShardDestination>> ShardDestinationsByRing(const Config& config, const Ring& ring) {
  std::vector<std::vector<ShardDestination>> out(ring.shards().size());
  for (std::size_t i = 0; i < ring.shards().size(); ++i)
    for (const auto& shard : config.shards)
      if (shard.id == ring.shards()[i].id)
        for (const auto& region : config.regions)
          if (auto it = shard.dsn_by_region.find(region); it != shard.dsn_by_region.end())
            out[i].push_back({ShardDestinationId(shard.id, region), it->second});
  return out;
}

KafkaSinkOptions KafkaOptionsFor(const Config& config, const std::vector<TableSpec>& tables,
                                 const std::string& source_db) {
  const KafkaConfig& k = *config.kafka;
  KafkaSinkOptions o;
  o.id = kKafkaDestinationId;
  o.brokers = k.brokers;
  o.prefix = k.prefix;
  o.topic = k.topic;
  o.partition_by_shard_key = k.partition_by_shard_key;
  o.tombstones = k.tombstones;
  o.properties = k.properties;
  o.source_db = source_db;
  o.tables = tables;
  // librdkafka's queue is a stage of its own: a quarter of limits.queue_bytes,
  // so the daemon's memory stays within a small multiple of the limit.
  o.queue_bytes = std::max<std::uint64_t>(config.queue_bytes / 4, 1u << 20);
  o.exactly_once = k.exactly_once;
  // One producer identity per slot: a second shardcast on the same slot
  // fences the first instead of interleaving with it.
  o.transactional_id = k.prefix + ".shardcast." + config.source.slot;
  o.offsets_topic = k.prefix + ".shardcast.offsets";
  return o;
}

StatusOr<std::vector<std::unique_ptr<Sink>>> MakeSinks(const Config& config,
                                                       const std::vector<TableSpec>& tables,
                                                       const std::string& source_db,
                                                       const std::map<std::string, Lsn>& stored_progress,
                                                       DeadLetterQueue* dead_letter) {
  std::vector<std::unique_ptr<Sink>> sinks;
  for (const auto& region : config.regions) {
    for (const auto& shard : config.shards) {
      auto it = shard.dsn_by_region.find(region);
      if (it == shard.dsn_by_region.end()) continue;  // this shard has no database in that region
      ShardSink::Options o;
      o.destination = ShardDestinationId(shard.id, region);
      o.shard_id = shard.id;
      o.dsn = it->second;
      o.tables = tables;
      o.dead_letter = dead_letter;
      sinks.push_back(std::make_unique<ShardSink>(std::move(o)));
    }
  }
  if (config.kafka) {
    KafkaSinkOptions o = KafkaOptionsFor(config, tables, source_db);
    auto it = stored_progress.find(o.id);
    o.resume_lsn = it == stored_progress.end() ? 0 : it->second;
    sinks.push_back(std::make_unique<KafkaSink>(std::move(o)));
  }
  return sinks;
}

StatusOr<std::unique_ptr<DeadLetterQueue>> MakeDeadLetterQueue(const Config& config,
                                                               const std::vector<TableSpec>& tables,
                                                               const std::string& source_db) {
  if (!config.on_error_dead_letter || !config.kafka) return std::unique_ptr<DeadLetterQueue>();
  KafkaDeadLetterOptions o;
  o.brokers = config.kafka->brokers;
  o.prefix = config.kafka->prefix;
  o.properties = config.kafka->properties;
  o.source_db = source_db;
  o.tables = tables;
  SC_ASSIGN_OR_RETURN(auto queue, KafkaDeadLetter::Create(std::move(o)));
  return std::unique_ptr<DeadLetterQueue>(std::move(queue));
}

}  // namespace shardcast
