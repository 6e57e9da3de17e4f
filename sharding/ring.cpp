#include "sharding/ring.h"

#include <xxhash.h>

#include <algorithm>
#include <set>

namespace shardcast {

namespace {
// 2^24 points is 256 MB of ring; anything larger is a typo in the weights.
constexpr std::uint64_t kMaxPoints = std::uint64_t{1} << 24;
}  // namespace

StatusOr<Ring> Ring::Build(std::vector<ShardDef> shards, std::uint32_t vnodes_per_weight,
                           std::uint64_t epoch) {
  if (shards.empty()) return ConfigError("ring: no shards");
  if (vnodes_per_weight == 0) return ConfigError("ring: vnodes_per_weight must be at least 1");
  std::set<std::string_view> seen;
  std::uint64_t total = 0;
  for (const auto& s : shards) {
    if (s.id.empty()) return ConfigError("ring: a shard has an empty id");
    if (!seen.insert(s.id).second) return ConfigError("ring: duplicate shard id '" + s.id + "'");
    if (s.weight == 0) return ConfigError("ring: shard '" + s.id + "' has weight 0");
    total += std::uint64_t{s.weight} * vnodes_per_weight;
    if (total > kMaxPoints) {
      return ConfigError("ring: weights x vnodes_per_weight exceed " + std::to_string(kMaxPoints) +
                         " points");
    }
  }

  Ring ring;
  ring.shards_ = std::move(shards);
  ring.vnodes_per_weight_ = vnodes_per_weight;
  ring.epoch_ = epoch;
  ring.points_.reserve(total);
  std::string name;
  for (std::uint32_t s = 0; s < ring.shards_.size(); ++s) {
    const auto& def = ring.shards_[s];
    const std::uint64_t count = std::uint64_t{def.weight} * vnodes_per_weight;
    for (std::uint64_t i = 0; i < count; ++i) {
      name.assign(def.id);
      name += '#';
      name += std::to_string(i);
      ring.points_.push_back({XXH3_64bits(name.data(), name.size()), s});
    }
  }
  // Ties on the hash go to the smaller shard id: it sorts first, and OwnerOf
  // takes the first point at or after the key.
  const auto& defs = ring.shards_;
  std::sort(ring.points_.begin(), ring.points_.end(), [&defs](const Point& a, const Point& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    return defs[a.shard].id < defs[b.shard].id;
  });
  return ring;
}

std::size_t Ring::OwnerOf(std::uint64_t key_hash) const {
  auto it = std::lower_bound(points_.begin(), points_.end(), key_hash,
                             [](const Point& p, std::uint64_t h) { return p.hash < h; });
  if (it == points_.end()) it = points_.begin();
  return it->shard;
}

std::vector<double> Ring::OwnedShares() const {
  std::vector<double> shares(shards_.size(), 0.0);
  if (points_.empty()) return shares;
  constexpr double kSpace = 18446744073709551616.0;  // 2^64
  // Point j owns (points[j-1].hash, points[j].hash]; point 0 owns the arc
  // that wraps past 2^64. Unsigned subtraction is the arc length mod 2^64.
  for (std::size_t j = 0; j < points_.size(); ++j) {
    const std::uint64_t prev = points_[j == 0 ? points_.size() - 1 : j - 1].hash;
    const std::uint64_t len = points_[j].hash - prev;
    // Only point 0 can own the whole space: every point shares one hash.
    shares[points_[j].shard] += (j == 0 && len == 0) ? 1.0 : static_cast<double>(len) / kSpace;
  }
  return shares;
}

}  // namespace shardcast
