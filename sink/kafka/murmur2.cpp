#include "sink/kafka/murmur2.h"

namespace shardcast {

std::int32_t KafkaMurmur2(std::string_view data) {
  // Java does this in int arithmetic; unsigned 32-bit gives the same bits
  // without signed overflow, and >>> is a logical shift.
  const std::uint32_t length = static_cast<std::uint32_t>(data.size());
  const std::uint32_t m = 0x5bd1e995;
  const int r = 24;
  std::uint32_t h = 0x9747b28cu ^ length;
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
  };
  const std::size_t length4 = data.size() / 4;
  for (std::size_t i = 0; i < length4; ++i) {
    const std::size_t i4 = i * 4;
    std::uint32_t k = byte(i4) | (byte(i4 + 1) << 8) | (byte(i4 + 2) << 16) | (byte(i4 + 3) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const std::size_t tail = data.size() & ~static_cast<std::size_t>(3);
  switch (data.size() % 4) {
    case 3:
      h ^= byte(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte(tail);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

std::int32_t KafkaPartitionFor(std::string_view key, std::int32_t partition_count) {
  const std::uint32_t positive = static_cast<std::uint32_t>(KafkaMurmur2(key)) & 0x7fffffffu;
  return static_cast<std::int32_t>(positive % static_cast<std::uint32_t>(partition_count));
}

}  // namespace shardcast
