#include "sharding/shard_key.h"

#include <xxhash.h>

namespace shardcast {

namespace {
constexpr std::uint32_t kNullLength = 0xFFFFFFFFu;

void AppendBigEndian32(std::string& out, std::uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.append(bytes, sizeof bytes);
}
}  // namespace

void AppendCanonical(std::string& out, std::optional<std::string_view> value) {
  if (!value) {
    AppendBigEndian32(out, kNullLength);
    return;
  }
  // pgoutput text values come from a 4-byte length field and PostgreSQL caps a
  // datum at 1 GB, so a real value never reaches the NULL marker.
  AppendBigEndian32(out, static_cast<std::uint32_t>(value->size()));
  out.append(value->data(), value->size());
}

std::uint64_t HashCanonical(std::string_view canonical_bytes) {
  return XXH3_64bits(canonical_bytes.data(), canonical_bytes.size());
}

std::uint64_t HashShardKey(const std::vector<std::optional<std::string_view>>& values) {
  std::string buf;
  std::size_t n = 0;
  for (const auto& v : values) n += 4 + (v ? v->size() : 0);
  buf.reserve(n);
  for (const auto& v : values) AppendCanonical(buf, v);
  return HashCanonical(buf);
}

}  // namespace shardcast
