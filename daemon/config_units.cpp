// ParseByteSize and ParseDuration: "<digits>[ ]<unit>", nothing else.
#include <cctype>
#include <charconv>
#include <limits>

#include "daemon/config.h"

namespace shardcast {
namespace {

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Splits "64 MiB" into 64 and "MiB"; nullopt when there are no digits or the
// number overflows.
std::optional<std::pair<std::uint64_t, std::string_view>> SplitNumber(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
  std::string_view unit = text.substr(digits);
  if (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return std::make_pair(n, unit);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<std::uint64_t> Scale(std::uint64_t n, std::uint64_t factor) {
  if (factor != 0 && n > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return n * factor;
}

}  // namespace

std::optional<std::uint64_t> ParseByteSize(const std::string& text) {
  // KB is 1000 bytes and KiB 1024, as the units say; the case of the letters
  // does not matter ("64mib" is 64MiB).
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1000},
      {"KiB", 1ull << 10},
      {"MB", 1000ull * 1000},
      {"MiB", 1ull << 20},
      {"GB", 1000ull * 1000 * 1000},
      {"GiB", 1ull << 30},
      {"TB", 1000ull * 1000 * 1000 * 1000},
      {"TiB", 1ull << 40},
  };
  auto split = SplitNumber(text);
  if (!split) return std::nullopt;
  if (split->second.empty() && text.back() == ' ') return std::nullopt;  // "64 "
  for (const Unit& u : kUnits) {
    if (EqualsIgnoreCase(split->second, u.name)) return Scale(split->first, u.factor);
  }
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  // A bare number is refused: "10" could mean seconds or milliseconds.
  static constexpr Unit kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  auto split = SplitNumber(text);
  if (!split) return std::nullopt;
  for (const Unit& u : kUnits) {
    if (split->second == u.name) {
      auto ms = Scale(split->first, u.factor);
      if (!ms ||
          *ms > static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max())) {
        return std::nullopt;
      }
      return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*ms));
    }
  }
  return std::nullopt;
}

}  // namespace shardcast
