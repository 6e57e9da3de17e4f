// Shard-key hashing (DESIGN.md "Sharding", versioned: changing it moves every
// deployed key). Canonical bytes: for each key column in order a 4-byte
// big-endian length then the value's pgoutput text; NULL is length 0xFFFFFFFF.
// The hash is XXH3_64bits, seed 0, over those bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardcast {

inline constexpr int kShardKeyHashVersion = 1;

// Appends the canonical bytes of one key column (nullopt = NULL).
void AppendCanonical(std::string& out, std::optional<std::string_view> value);
std::uint64_t HashCanonical(std::string_view canonical_bytes);
std::uint64_t HashShardKey(const std::vector<std::optional<std::string_view>>& values);

}  // namespace shardcast
