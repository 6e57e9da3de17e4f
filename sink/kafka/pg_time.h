// Parsing of PostgreSQL's ISO date/time text (DateStyle=ISO) into epoch
// units, for the Debezium value mapping. Each parser accepts exactly the
// shapes PostgreSQL prints and returns false on anything else (BC dates,
// infinity, more than six fraction digits), so the caller can fall back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shardcast {

inline std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days from 1970-01-01 to the proleptic Gregorian date y-m-d.
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d);

// "YYYY-MM-DD" -> days since 1970-01-01.
bool ParsePgDate(std::string_view text, std::int64_t& days);
// "YYYY-MM-DD HH:MM:SS[.ffffff]" -> microseconds since the epoch.
bool ParsePgTimestamp(std::string_view text, std::int64_t& micros);
// "HH:MM:SS[.ffffff]" -> microseconds since midnight (24:00:00 allowed).
bool ParsePgTime(std::string_view text, std::int64_t& micros);
// "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]]" -> appends the instant in UTC
// as ISO-8601, "2026-11-22T00:34:03.123Z" (fraction digits as given, trailing
// zeros trimmed, none when zero), as Debezium's ZonedTimestamp. No quotes.
bool AppendTimestamptzIso(std::string& out, std::string_view text);

}  // namespace shardcast
