// The consistent-hash ring (DESIGN.md "Sharding"). Placement is a contract:
// a shard with weight w owns w * vnodes_per_weight points, point i at
// XXH3_64bits(id + "#" + decimal(i)); a key belongs to the first point at or
// after its hash, wrapping around; ties go to the smaller shard id.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast {

struct ShardDef {
  std::string id;
  std::uint32_t weight = 1;
};

class Ring {
 public:
  // Fails on an empty shard list, duplicate ids, zero weight or zero vnodes.
  static StatusOr<Ring> Build(std::vector<ShardDef> shards, std::uint32_t vnodes_per_weight,
                              std::uint64_t epoch);

  // Index into shards() of the shard owning a key hash.
  std::size_t OwnerOf(std::uint64_t key_hash) const;
  const std::vector<ShardDef>& shards() const { return shards_; }
  std::uint64_t epoch() const { return epoch_; }
  std::uint32_t vnodes_per_weight() const { return vnodes_per_weight_; }
  // Fraction of the 2^64 hash space each shard owns (same order as shards()).
  std::vector<double> OwnedShares() const;

 private:
  struct Point {
    std::uint64_t hash;
    std::uint32_t shard;  // index into shards_
  };
  std::vector<ShardDef> shards_;
  std::vector<Point> points_;  // sorted by (hash, shard id)
  std::uint32_t vnodes_per_weight_ = 0;
  std::uint64_t epoch_ = 0;
};

}  // namespace shardcast
