#include "sink/kafka/pg_time.h"

namespace shardcast {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1000000;
constexpr std::int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;

// A bounds-checked reader over the text.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  bool done() const { return i == s.size(); }
  bool Take(char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  // Exactly n digits.
  bool Digits(int n, std::int64_t& v) {
    v = 0;
    for (int k = 0; k < n; ++k) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i++] - '0');
    }
    return true;
  }
  // min..max digits.
  bool DigitsRange(int min, int max, std::int64_t& v, int& count) {
    v = 0;
    count = 0;
    while (count < max && i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i++] - '0');
      ++count;
    }
    return count >= min;
  }
};

bool ParseDate(Cursor& c, std::int64_t& days) {
  std::int64_t y = 0, m = 0, d = 0;
  int ydigits = 0;
  if (!c.DigitsRange(4, 6, y, ydigits) || !c.Take('-') || !c.Digits(2, m) || !c.Take('-') || !c.Digits(2, d))
    return false;
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

bool ParseTime(Cursor& c, std::int64_t& us, std::string_view& fraction) {
  std::int64_t h = 0, mi = 0, se = 0;
  if (!c.Digits(2, h) || !c.Take(':') || !c.Digits(2, mi) || !c.Take(':') || !c.Digits(2, se)) return false;
  if (h > 24 || mi > 59 || se > 60) return false;
  std::int64_t frac_us = 0;
  fraction = {};
  if (c.Take('.')) {
    const std::size_t start = c.i;
    std::int64_t f = 0;
    int n = 0;
    if (!c.DigitsRange(1, 6, f, n)) return false;
    fraction = c.s.substr(start, static_cast<std::size_t>(n));
    for (int k = n; k < 6; ++k) f *= 10;
    frac_us = f;
  }
  us = ((h * 60 + mi) * 60 + se) * kMicrosPerSecond + frac_us;
  return true;
}

void AppendPadded(std::string& out, std::int64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  for (int k = n; k < width; ++k) out.push_back('0');
  while (n > 0) out.push_back(buf[--n]);
}

}  // namespace

// Howard Hinnant's days_from_civil.
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = FloorDiv(y, 400);
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool ParsePgDate(std::string_view text, std::int64_t& days) {
  Cursor c{text};
  return ParseDate(c, days) && c.done();
}

bool ParsePgTimestamp(std::string_view text, std::int64_t& micros) {
  Cursor c{text};
  std::int64_t days = 0, us = 0;
  std::string_view fraction;
  if (!ParseDate(c, days) || !c.Take(' ') || !ParseTime(c, us, fraction) || !c.done()) return false;
  micros = days * kMicrosPerDay + us;
  return true;
}

bool ParsePgTime(std::string_view text, std::int64_t& micros) {
  Cursor c{text};
  std::string_view fraction;
  return ParseTime(c, micros, fraction) && c.done() && micros <= kMicrosPerDay;
}

bool AppendTimestamptzIso(std::string& out, std::string_view text) {
  Cursor c{text};
  std::int64_t days = 0, us = 0;
  std::string_view fraction;
  if (!ParseDate(c, days) || !c.Take(' ') || !ParseTime(c, us, fraction)) return false;
  int sign = 0;
  if (c.Take('+')) {
    sign = 1;
  } else if (c.Take('-')) {
    sign = -1;
  } else {
    return false;
  }
  std::int64_t oh = 0, om = 0, os = 0;
  if (!c.Digits(2, oh)) return false;
  if (c.Take(':')) {
    if (!c.Digits(2, om)) return false;
    if (c.Take(':') && !c.Digits(2, os)) return false;
  }
  if (!c.done()) return false;
  // The offset is whole seconds, so the fraction survives the shift as given.
  const std::int64_t utc = days * kMicrosPerDay + us - sign * (oh * 3600 + om * 60 + os) * kMicrosPerSecond;
  std::int64_t d = FloorDiv(utc, kMicrosPerDay);
  const std::int64_t secs = (utc - d * kMicrosPerDay) / kMicrosPerSecond;
  // civil_from_days
  d += 719468;
  const std::int64_t era = FloorDiv(d, 146097);
  const unsigned doe = static_cast<unsigned>(d - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2);
  if (year < 0) return false;
  if (year > 9999) out.push_back('+');  // java.time prints years past 9999 with a sign
  AppendPadded(out, year, 4);
  out.push_back('-');
  AppendPadded(out, month, 2);
  out.push_back('-');
  AppendPadded(out, day, 2);
  out.push_back('T');
  AppendPadded(out, secs / 3600, 2);
  out.push_back(':');
  AppendPadded(out, secs / 60 % 60, 2);
  out.push_back(':');
  AppendPadded(out, secs % 60, 2);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  if (!fraction.empty()) {
    out.push_back('.');
    out.append(fraction);
  }
  out.push_back('Z');
  return true;
}

}  // namespace shardcast
