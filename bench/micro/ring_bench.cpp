// Ring lookups (sharding/ring.h) and routing (sharding/router.h), for rings of
// 4 and 64 shards at the default 1024 points per shard:
// - RingOwnerOf: the binary search over the points, given a key hash;
// - ShardKeyOwner: what the router does per row: canonical bytes of the key
//   text, XXH3, OwnerOf; for bigint keys and 36-character text (uuid) keys;
// - RouterRoute: Router::Route of a 1000-change transaction, the call the
//   daemon makes per source transaction (items: changes).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/micro/row_shape.h"
#include "sharding/shard_key.h"

namespace shardcast::bench {
namespace {

constexpr std::size_t kKeys = 4096;  // a power of two: the loops index with a mask

std::vector<std::string> Int64Keys() {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kKeys; ++i) keys.push_back(std::to_string(4'200'000'000 + i * 7919));
  return keys;
}

std::vector<std::string> UuidKeys() {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kKeys; ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08zx-4e21-8a3c-%04zx-%012zx", i * 2654435761u % 0xFFFFFFFFu, i % 0xFFFF,
                  i * 40503u);
    keys.push_back(buf);
  }
  return keys;
}

// Owner of one key as KeyReader in sharding/router.cpp computes it.
std::size_t OwnerOfKey(const Ring& ring, std::string& buf, const std::string& key) {
  buf.clear();
  AppendCanonical(buf, std::string_view(key));
  return ring.OwnerOf(HashCanonical(buf));
}

// False when some shard owns none of the keys or an owner is out of range:
// the lookups would not be measuring a real ring.
bool EveryShardOwnsSome(const Ring& ring, const std::vector<std::size_t>& owners) {
  std::vector<std::size_t> count(ring.shards().size());
  for (std::size_t o : owners) {
    if (o >= count.size()) return false;
    ++count[o];
  }
  for (std::size_t c : count)
    if (c == 0) return false;
  return true;
}

void BM_RingOwnerOf(benchmark::State& state) {
  auto ring = MakeRing(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint64_t> hashes;
  std::vector<std::size_t> owners;
  for (const auto& k : Int64Keys()) {
    std::string buf;
    AppendCanonical(buf, std::string_view(k));
    hashes.push_back(HashCanonical(buf));
    owners.push_back(ring ? ring->OwnerOf(hashes.back()) : 0);
  }
  if (!ring || !EveryShardOwnsSome(*ring, owners)) {
    state.SkipWithError("ring did not spread the keys over every shard");
    return;
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ring->OwnerOf(hashes[i++ & (kKeys - 1)]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RingOwnerOf)->ArgName("shards")->Arg(4)->Arg(64);

// Arg 0: shards; arg 1: 0 bigint keys, 1 uuid text keys.
void BM_ShardKeyOwner(benchmark::State& state) {
  auto ring = MakeRing(static_cast<std::size_t>(state.range(0)));
  const std::vector<std::string> keys = state.range(1) == 0 ? Int64Keys() : UuidKeys();
  std::string buf;
  std::vector<std::size_t> owners;
  for (const auto& k : keys) owners.push_back(ring ? OwnerOfKey(*ring, buf, k) : 0);
  if (!ring || !EveryShardOwnsSome(*ring, owners)) {
    state.SkipWithError("ring did not spread the keys over every shard");
    return;
  }
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(OwnerOfKey(*ring, buf, keys[i++ & (kKeys - 1)]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ShardKeyOwner)->ArgNames({"shards", "text"})->ArgsProduct({{4, 64}, {0, 1}});

// Arg 0: shards; arg 1: 0 inserts only, 1 mixed (updates and deletes carry
// the whole old row, which is routed too).
void BM_RouterRoute(benchmark::State& state) {
  const std::size_t shards = static_cast<std::size_t>(state.range(0));
  Router router(OrdersTables(), MakeRing(shards));
  std::shared_ptr<const Transaction> txn = OrdersTransaction(state.range(1) != 0);
  auto routed = router.Route(txn);
  bool ok = routed.ok() && (*routed)->placements.size() == txn->changes.size();
  for (std::size_t i = 0; ok && i < txn->changes.size(); ++i) {
    const Placement& p = (*routed)->placements[i];
    const std::int32_t owner = txn->changes[i].op == Op::kDelete ? p.old_owner : p.new_owner;
    ok = p.table != nullptr && owner >= 0 && static_cast<std::size_t>(owner) < shards;
  }
  if (!ok) {
    state.SkipWithError(routed.ok() ? "a change was not placed on a shard"
                                    : routed.status().ToString().c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(router.Route(txn));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * txn->changes.size()));
}
BENCHMARK(BM_RouterRoute)->ArgNames({"shards", "mixed"})->ArgsProduct({{4, 64}, {0, 1}});

}  // namespace
}  // namespace shardcast::bench
