#include "common/lsn.h"

#include <charconv>
#include <cstdio>

namespace shardcast {

std::string FormatLsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return buf;
}

std::optional<Lsn> ParseLsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  std::uint32_t hi = 0;
  std::uint32_t lo = 0;
  auto hi_part = text.substr(0, slash);
  auto lo_part = text.substr(slash + 1);
  auto r1 = std::from_chars(hi_part.data(), hi_part.data() + hi_part.size(), hi, 16);
  auto r2 = std::from_chars(lo_part.data(), lo_part.data() + lo_part.size(), lo, 16);
  if (r1.ec != std::errc() || r1.ptr != hi_part.data() + hi_part.size()) return std::nullopt;
  if (r2.ec != std::errc() || r2.ptr != lo_part.data() + lo_part.size()) return std::nullopt;
  return (static_cast<Lsn>(hi) << 32) | lo;
}

}  // namespace shardcast
