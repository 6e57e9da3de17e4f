#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "sharding/ring.h"
#include "sharding/shard_key.h"

namespace shardcast {
namespace {

// Built with append: GCC 12 -O2 warns falsely (-Wrestrict, PR 105329) on "s" + to_string.
std::string ShardId(int i) {
  std::string id = "s";
  id += std::to_string(i);
  return id;
}

std::vector<ShardDef> Ids(int n, int extra_weight_for_s0 = 0) {
  std::vector<ShardDef> out;
  for (int i = 0; i < n; ++i) out.push_back({ShardId(i), 1});
  if (extra_weight_for_s0 > 0) out[0].weight += static_cast<std::uint32_t>(extra_weight_for_s0);
  return out;
}

Ring MustBuild(std::vector<ShardDef> shards, std::uint32_t vnodes = 1024, std::uint64_t epoch = 1) {
  auto r = Ring::Build(std::move(shards), vnodes, epoch);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

std::string OwnerId(const Ring& ring, std::uint64_t hash) {
  return ring.shards()[ring.OwnerOf(hash)].id;
}

// Point hashes, from `printf '%s' 's0#0' | xxhsum -H3` (xxhash 0.8.1).
constexpr std::uint64_t kS0Point0 = 0x3ca18f170a220936ull;
constexpr std::uint64_t kS1Point5 = 0x48815da69c82c44full;
constexpr std::uint64_t kS3Point1023 = 0xcf69525c83f41be0ull;

TEST(RingTest, PointHashesMatchXxhsum) {
  const std::string a = "s0#0", b = "s1#5", c = "s3#1023";
  EXPECT_EQ(HashCanonical(a), kS0Point0);
  EXPECT_EQ(HashCanonical(b), kS1Point5);
  EXPECT_EQ(HashCanonical(c), kS3Point1023);
  // A key hashing exactly onto a point belongs to that point's shard.
  Ring ring = MustBuild(Ids(4));
  EXPECT_EQ(OwnerId(ring, kS0Point0), "s0");
  EXPECT_EQ(OwnerId(ring, kS1Point5), "s1");
  EXPECT_EQ(OwnerId(ring, kS3Point1023), "s3");
}

// Golden owners on s0..s3 (weight 1, 1024 vnodes). Cross-checked outside this
// code: all 4096 point hashes and the keys' canonical bytes were hashed with
// `xxhsum -H3`, then a python3 script sorted the points and took the first at
// or after each key hash (bisect_left), wrapping to the first point.
TEST(RingTest, GoldenOwnersOfFourShards) {
  Ring ring = MustBuild(Ids(4));
  struct Case {
    std::vector<std::optional<std::string_view>> key;
    std::uint64_t hash;
    const char* owner;
  };
  const std::vector<Case> cases = {
      {{"1"}, 0x8bd12efac8d2c2b1ull, "s2"},     {{"2"}, 0xa52bc293b43e3a1cull, "s1"},
      {{"42"}, 0xab6767b922d92130ull, "s3"},    {{"1000"}, 0x039c0ff010eba9a1ull, "s2"},
      {{"-7"}, 0x658865ce7731c537ull, "s2"},    {{"123456789"}, 0x5a4dc228654e0d1full, "s1"},
      {{"hello"}, 0x4a4d14eeb3998572ull, "s0"}, {{std::nullopt}, 0xcd6b1c920d3f662cull, "s2"},
      {{""}, 0x48b2c92616fc193dull, "s1"},      {{"7", "acme"}, 0xa4ed62626401e71cull, "s3"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(HashShardKey(c.key), c.hash) << c.owner;
    EXPECT_EQ(OwnerId(ring, c.hash), c.owner) << std::hex << c.hash;
  }
}

TEST(RingTest, WrapsAroundPastTheLastPoint) {
  // Same python cross-check: the smallest point is 0x0004639c576567bf (s0) and
  // the largest 0xfff3769460df9041 (s0), so hashes above it wrap to s0.
  Ring ring = MustBuild(Ids(4));
  EXPECT_EQ(OwnerId(ring, std::numeric_limits<std::uint64_t>::max()), "s0");
  EXPECT_EQ(OwnerId(ring, 0xfff3769460df9042ull), "s0");
  EXPECT_EQ(OwnerId(ring, 0), "s0");
  EXPECT_EQ(OwnerId(ring, 0x0004639c576567bfull), "s0");
}

TEST(RingTest, GoldenSharesOfFourShards) {
  // python3 over the xxhsum point hashes: sum of (p[j] - p[j-1]) mod 2^64 per shard.
  Ring ring = MustBuild(Ids(4));
  auto shares = ring.OwnedShares();
  ASSERT_EQ(shares.size(), 4u);
  EXPECT_NEAR(shares[0], 0.25917602976072845, 1e-12);
  EXPECT_NEAR(shares[1], 0.24533381167178372, 1e-12);
  EXPECT_NEAR(shares[2], 0.24441142917306258, 1e-12);
  EXPECT_NEAR(shares[3], 0.25107872939442527, 1e-12);
}

TEST(RingTest, OrderOfShardListDoesNotChangePlacement) {
  Ring a = MustBuild(Ids(4));
  auto reversed = Ids(4);
  std::reverse(reversed.begin(), reversed.end());
  Ring b = MustBuild(reversed);
  for (std::uint64_t i = 0; i < 20000; ++i) {
    const std::string key = std::to_string(i);
    const std::uint64_t h = HashShardKey({key});
    ASSERT_EQ(OwnerId(a, h), OwnerId(b, h)) << key;
  }
}

TEST(RingTest, SingleShardOwnsEverything) {
  Ring ring = MustBuild({{"only", 1}}, 1);
  EXPECT_EQ(ring.OwnerOf(0), 0u);
  EXPECT_EQ(ring.OwnerOf(std::numeric_limits<std::uint64_t>::max()), 0u);
  auto shares = ring.OwnedShares();
  ASSERT_EQ(shares.size(), 1u);
  EXPECT_DOUBLE_EQ(shares[0], 1.0);
}

TEST(RingTest, KeepsEpochAndDefinition) {
  Ring ring = MustBuild(Ids(3), 16, 42);
  EXPECT_EQ(ring.epoch(), 42u);
  EXPECT_EQ(ring.vnodes_per_weight(), 16u);
  ASSERT_EQ(ring.shards().size(), 3u);
  EXPECT_EQ(ring.shards()[2].id, "s2");
}

TEST(RingTest, RejectsBadDefinitions) {
  auto empty = Ring::Build({}, 1024, 1);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Code::kConfig);
  EXPECT_NE(empty.status().message().find("no shards"), std::string::npos);

  auto dup = Ring::Build({{"s0", 1}, {"s1", 1}, {"s0", 2}}, 1024, 1);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), Code::kConfig);
  EXPECT_NE(dup.status().message().find("duplicate shard id 's0'"), std::string::npos);

  auto zero_weight = Ring::Build({{"s0", 1}, {"s1", 0}}, 1024, 1);
  ASSERT_FALSE(zero_weight.ok());
  EXPECT_NE(zero_weight.status().message().find("'s1' has weight 0"), std::string::npos);

  auto zero_vnodes = Ring::Build(Ids(2), 0, 1);
  ASSERT_FALSE(zero_vnodes.ok());
  EXPECT_NE(zero_vnodes.status().message().find("vnodes_per_weight"), std::string::npos);

  auto empty_id = Ring::Build({{"", 1}}, 1024, 1);
  ASSERT_FALSE(empty_id.ok());
  EXPECT_NE(empty_id.status().message().find("empty id"), std::string::npos);

  auto huge = Ring::Build({{"s0", 100000}}, 1024, 1);
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("exceed"), std::string::npos);
}

TEST(RingTest, SharesSumToOne) {
  for (std::uint32_t vnodes : {1u, 7u, 1024u}) {
    Ring ring = MustBuild(Ids(5), vnodes);
    auto shares = ring.OwnedShares();
    EXPECT_NEAR(std::accumulate(shares.begin(), shares.end(), 0.0), 1.0, 1e-9) << vnodes;
  }
}

TEST(RingTest, EightShardsAreBalanced) {
  Ring ring = MustBuild(Ids(8), 1024);
  auto shares = ring.OwnedShares();
  const double mean = 1.0 / 8;
  const double max = *std::max_element(shares.begin(), shares.end());
  EXPECT_LE(max / mean, 1.08);
  // OwnedShares agrees with where keys actually land (binomial sd ~0.0003).
  std::vector<int> counts(8, 0);
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++counts[ring.OwnerOf(HashShardKey({std::to_string(i)}))];
  for (int s = 0; s < 8; ++s) EXPECT_NEAR(counts[s] / double(n), shares[s], 0.003) << s;
}

TEST(RingTest, AddingAShardMovesOnlyItsShare) {
  Ring before = MustBuild(Ids(8), 1024);
  Ring after = MustBuild(Ids(9), 1024);
  ASSERT_EQ(after.shards()[8].id, "s8");
  const int n = 1000000;
  int moved = 0;
  int moved_elsewhere = 0;
  std::string key;
  for (int i = 0; i < n; ++i) {
    key = std::to_string(i);
    const std::uint64_t h = HashShardKey({key});
    const std::size_t a = before.OwnerOf(h);
    const std::size_t b = after.OwnerOf(h);
    if (a == b) continue;
    ++moved;
    if (b != 8) ++moved_elsewhere;
  }
  const double fraction = moved / double(n);
  EXPECT_GE(fraction, 0.09);  // ideal 1/9 = 11.1%
  EXPECT_LE(fraction, 0.13);
  EXPECT_EQ(moved_elsewhere, 0);
}

TEST(RingTest, DoubleWeightOwnsAboutTwiceTheShare) {
  // s0 weight 2 (2048 points), s1..s7 weight 1 (1024 each). The share of a
  // shard with k points has a relative spread of about 1/sqrt(k): ~2.2% for
  // s0, ~1.2% for the mean of the other seven, ~2.5% for the ratio; a 10%
  // tolerance is four of those, while a weight ignored (ratio 1) fails it.
  Ring ring = MustBuild(Ids(8, 1), 1024);
  auto shares = ring.OwnedShares();
  double others = 0;
  for (int s = 1; s < 8; ++s) others += shares[s];
  others /= 7;
  EXPECT_NEAR(shares[0] / others, 2.0, 0.2);
  EXPECT_NEAR(shares[0], 2.0 / 9, 0.02);
}

}  // namespace
}  // namespace shardcast
