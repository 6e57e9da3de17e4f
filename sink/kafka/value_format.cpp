#include "sink/kafka/value_format.h"

#include <array>
#include <cstring>

#include "sink/kafka/pg_time.h"

namespace shardcast {
namespace {

// 0: copy verbatim; otherwise the character after '\' ('u' for \u00XX).
constexpr std::array<char, 256> MakeEscapeTable() {
  std::array<char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}
constexpr std::array<char, 256> kEscape = MakeEscapeTable();

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view s) {
  std::size_t i = 0, n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n || !IsDigit(s[i])) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < n && IsDigit(s[i])) ++i;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !IsDigit(s[i])) return false;
    while (i < n && IsDigit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= n || !IsDigit(s[i])) return false;
    while (i < n && IsDigit(s[i])) ++i;
  }
  return i == n;
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea in hex output ("\x0a0b") to a base64 JSON string; false when the
// text is not hex format (then the caller writes the text).
bool AppendByteaBase64(std::string& out, std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return false;
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::size_t start = out.size();
  const std::size_t bytes = (text.size() - 2) / 2;
  out.reserve(start + 4 * ((bytes + 2) / 3) + 2);
  out.push_back('"');
  std::uint32_t acc = 0;
  int have = 0;
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = HexNibble(text[i]), lo = HexNibble(text[i + 1]);
    if (hi < 0 || lo < 0) {
      out.resize(start);
      return false;
    }
    acc = (acc << 8) | static_cast<std::uint32_t>(hi << 4 | lo);
    if (++have == 3) {
      out.push_back(kB64[(acc >> 18) & 63]);
      out.push_back(kB64[(acc >> 12) & 63]);
      out.push_back(kB64[(acc >> 6) & 63]);
      out.push_back(kB64[acc & 63]);
      acc = 0;
      have = 0;
    }
  }
  if (have == 1) {
    out.push_back(kB64[(acc >> 2) & 63]);
    out.push_back(kB64[(acc << 4) & 63]);
    out.append("==");
  } else if (have == 2) {
    out.push_back(kB64[(acc >> 10) & 63]);
    out.push_back(kB64[(acc >> 4) & 63]);
    out.push_back(kB64[(acc << 2) & 63]);
    out.push_back('=');
  }
  out.push_back('"');
  return true;
}

// time(p)/timestamp(p) with p <= 3 are milliseconds in Debezium's adaptive mode.
bool IsMillisPrecision(std::int32_t type_modifier) {
  return type_modifier >= 0 && type_modifier <= 3;
}

// Parses a 1-D PostgreSQL array literal and appends a JSON array of mapped
// elements. False (out unchanged) on anything else: multi-dimensional arrays,
// explicit bounds ("[0:1]={...}"), malformed text.
bool AppendArray(std::string& out, std::uint32_t elem_type, std::int32_t type_modifier, std::string_view s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return false;
  const std::size_t start = out.size();
  auto fail = [&] {
    out.resize(start);
    return false;
  };
  out.push_back('[');
  std::size_t i = 1;
  const std::size_t end = s.size() - 1;  // index of the closing brace
  if (i == end) {
    out.push_back(']');
    return true;
  }
  std::string elem;
  for (bool first = true;; first = false) {
    if (!first) out.push_back(',');
    elem.clear();
    bool quoted = false, escaped = false;
    if (i < end && s[i] == '"') {
      quoted = true;
      ++i;
      for (;;) {
        if (i >= end) return fail();
        const char c = s[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= end) return fail();
          elem.push_back(s[i++]);
        } else {
          elem.push_back(c);
        }
      }
    } else {
      while (i < end && s[i] != ',') {
        const char c = s[i++];
        if (c == '{' || c == '}' || c == '"') return fail();
        if (c == '\\') {
          if (i >= end) return fail();
          escaped = true;
          elem.push_back(s[i++]);
        } else {
          elem.push_back(c);
        }
      }
      if (elem.empty()) return fail();
    }
    if (!quoted && !escaped && elem.size() == 4 && strncasecmp(elem.data(), "null", 4) == 0) {
      out.append("null");
    } else {
      AppendJsonText(out, elem_type, type_modifier, elem);
    }
    if (i == end) break;
    if (s[i] != ',') return fail();
    ++i;
  }
  out.push_back(']');
  return true;
}

bool AppendTyped(std::string& out, std::uint32_t type_oid, std::int32_t type_modifier,
                 std::string_view text) {
  using namespace pgtype;
  switch (type_oid) {
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
    case kFloat4:
    case kFloat8:
      // NaN and ±Infinity fail the grammar and become strings, as Jackson
      // quotes non-numeric doubles.
      if (!IsJsonNumber(text)) return false;
      out.append(text);
      return true;
    case kBool:
      if (text == "t") {
        out.append("true");
        return true;
      }
      if (text == "f") {
        out.append("false");
        return true;
      }
      return false;
    case kBytea:
      return AppendByteaBase64(out, text);
    case kDate: {
      std::int64_t days = 0;
      if (!ParsePgDate(text, days)) return false;
      out.append(std::to_string(days));
      return true;
    }
    case kTimestamp: {
      std::int64_t us = 0;
      if (!ParsePgTimestamp(text, us)) return false;
      out.append(std::to_string(IsMillisPrecision(type_modifier) ? FloorDiv(us, 1000) : us));
      return true;
    }
    case kTimestamptz: {
      const std::size_t start = out.size();
      out.push_back('"');
      if (!AppendTimestamptzIso(out, text)) {
        out.resize(start);
        return false;
      }
      out.push_back('"');
      return true;
    }
    case kTime: {
      std::int64_t us = 0;
      if (!ParsePgTime(text, us)) return false;
      out.append(std::to_string(IsMillisPrecision(type_modifier) ? us / 1000 : us));
      return true;
    }
    default:
      break;
  }
  if (const std::uint32_t elem = ArrayElementType(type_oid); elem != 0) {
    return AppendArray(out, elem, type_modifier, text);
  }
  return false;  // numeric, text-like, json, uuid, interval, timetz, unknown: a string
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  const char* p = s.data();
  const char* const e = p + s.size();
  while (p < e) {
    const char* run = p;
    while (p < e && kEscape[static_cast<unsigned char>(*p)] == 0) ++p;
    out.append(run, static_cast<std::size_t>(p - run));
    if (p == e) break;
    const unsigned char c = static_cast<unsigned char>(*p++);
    const char esc = kEscape[c];
    out.push_back('\\');
    out.push_back(esc);
    if (esc == 'u') {
      out.append("00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
}

void AppendJsonText(std::string& out, std::uint32_t type_oid, std::int32_t type_modifier,
                    std::string_view text) {
  if (!AppendTyped(out, type_oid, type_modifier, text)) AppendJsonString(out, text);
}

void AppendJsonValue(std::string& out, std::uint32_t type_oid, std::int32_t type_modifier, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      out.append("null");
      return;
    case Value::Kind::kUnchanged:
      AppendJsonString(out, kUnavailableValue);
      return;
    case Value::Kind::kText:
      AppendJsonText(out, type_oid, type_modifier, v.text);
      return;
  }
}

std::uint32_t ArrayElementType(std::uint32_t type_oid) {
  using namespace pgtype;
  switch (type_oid) {
    case 1000:
      return kBool;
    case 1001:
      return kBytea;
    case 1002:
      return kChar;
    case 1003:
      return kName;
    case 1005:
      return kInt2;
    case 1007:
      return kInt4;
    case 1009:
      return kText;
    case 1014:
      return kBpchar;
    case 1015:
      return kVarchar;
    case 1016:
      return kInt8;
    case 1021:
      return kFloat4;
    case 1022:
      return kFloat8;
    case 1028:
      return kOid;
    case 1115:
      return kTimestamp;
    case 1182:
      return kDate;
    case 1183:
      return kTime;
    case 1185:
      return kTimestamptz;
    case 1187:
      return kInterval;
    case 1231:
      return kNumeric;
    case 1270:
      return kTimetz;
    case 2951:
      return kUuid;
    case 199:
      return kJson;
    case 3807:
      return kJsonb;
    default:
      return 0;
  }
}

}  // namespace shardcast
