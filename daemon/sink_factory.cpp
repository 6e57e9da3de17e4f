#include "daemon/sink_factory.h"

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
  o.queue_bytes = config.queue_bytes;
  return o;
}

StatusOr<std::vector<std::unique_ptr<Sink>>> MakeSinks(const Config& config,
                                                       const std::vector<TableSpec>& tables,
                                                       const std::string& source_db,
                                                       const std::map<std::string, Lsn>& stored_progress) {
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

}  // namespace shardcast
