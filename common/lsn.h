// Log sequence numbers, as PostgreSQL prints them ("16/B374D848").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardcast {

using Lsn = std::uint64_t;
inline constexpr Lsn kInvalidLsn = 0;

std::string FormatLsn(Lsn lsn);
// Parses "X/Y" (hex halves); nullopt when malformed.
std::optional<Lsn> ParseLsn(std::string_view text);

}  // namespace shardcast
