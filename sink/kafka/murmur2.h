// Kafka's murmur2, bit for bit as the Java client's Utils.murmur2, so a key
// lands in the partition a Java producer would choose (DefaultPartitioner:
// toPositive(murmur2(key)) % partitions). librdkafka's "murmur2_random"
// partitioner computes the same; this copy exists for partition_by: shard_key,
// where shardcast sets the partition itself.
#pragma once

#include <cstdint>
#include <string_view>

namespace shardcast {

// The signed 32-bit result Java returns.
std::int32_t KafkaMurmur2(std::string_view data);
// toPositive(murmur2(key)) % partition_count; partition_count > 0.
std::int32_t KafkaPartitionFor(std::string_view key, std::int32_t partition_count);

}  // namespace shardcast
