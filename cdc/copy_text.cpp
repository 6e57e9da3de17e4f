#include "cdc/copy_text.h"

#include <cstring>

namespace shardcast {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsOctal(char c) {
  return c >= '0' && c <= '7';
}

Status BadEscape(std::size_t column, std::size_t offset, std::string_view why) {
  return Corruption("COPY text: column " + std::to_string(column + 1) + ": " + std::string(why) +
                    " at byte " + std::to_string(offset));
}

// Resolves the escapes of one field (which holds at least one backslash).
// Stricter than the server's COPY FROM, which takes an unknown escape as the
// character itself: COPY TO never writes one, so seeing one means the line
// is not what the server sent.
Status Unescape(std::string_view field, std::size_t column, std::size_t base, std::string& out) {
  out.clear();
  out.reserve(field.size());
  std::size_t i = 0;
  while (i < field.size()) {
    const char* start = field.data() + i;
    const void* bs = std::memchr(start, '\\', field.size() - i);
    if (bs == nullptr) {
      out.append(start, field.size() - i);
      break;
    }
    std::size_t at = static_cast<std::size_t>(static_cast<const char*>(bs) - field.data());
    out.append(start, at - i);
    if (at + 1 >= field.size()) return BadEscape(column, base + at, "backslash at end of field");
    char e = field[at + 1];
    i = at + 2;
    switch (e) {
      case '\\':
        out += '\\';
        continue;
      case 't':
        out += '\t';
        continue;
      case 'n':
        out += '\n';
        continue;
      case 'r':
        out += '\r';
        continue;
      case 'b':
        out += '\b';
        continue;
      case 'f':
        out += '\f';
        continue;
      case 'v':
        out += '\v';
        continue;
      case 'x': {
        int v = 0;
        int digits = 0;
        while (digits < 2 && i < field.size() && HexDigit(field[i]) >= 0) {
          v = v * 16 + HexDigit(field[i++]);
          ++digits;
        }
        if (digits == 0) return BadEscape(column, base + at, "\\x without hex digits");
        if (v == 0) return BadEscape(column, base + at, "escape of a zero byte");
        out += static_cast<char>(v);
        continue;
      }
      default:
        break;
    }
    if (IsOctal(e)) {
      int v = e - '0';
      for (int digits = 1; digits < 3 && i < field.size() && IsOctal(field[i]); ++digits) {
        v = v * 8 + (field[i++] - '0');
      }
      if (v == 0 || v > 0xFF) return BadEscape(column, base + at, "octal escape out of range");
      out += static_cast<char>(v);
      continue;
    }
    return BadEscape(column, base + at, std::string("unknown escape \\") + e);
  }
  return Status::Ok();
}

// True for the bytes COPY TO escapes (see CopyAttributeOutText).
inline bool NeedsEscape(unsigned char c) {
  return c == '\\' || c == '\t' || c == '\n' || c == '\r' || c == '\b' || c == '\f' || c == '\v';
}

char EscapeLetter(char c) {
  switch (c) {
    case '\t':
      return 't';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\v':
      return 'v';
    default:
      return c;  // the backslash itself
  }
}

}  // namespace

Status ParseCopyLine(std::string_view line, Tuple& out) {
  // Reuses out's values (and their string buffers): a snapshot parses
  // millions of lines into the same tuple.
  std::size_t column = 0;
  std::size_t pos = 0;
  for (;;) {
    const void* tab = std::memchr(line.data() + pos, '\t', line.size() - pos);
    std::size_t end =
        tab == nullptr ? line.size() : static_cast<std::size_t>(static_cast<const char*>(tab) - line.data());
    std::string_view field = line.substr(pos, end - pos);
    if (column >= out.size()) out.emplace_back();
    Value& v = out[column];
    if (field.size() == 2 && field[0] == '\\' && field[1] == 'N') {
      v.kind = Value::Kind::kNull;
      v.text.clear();
    } else {
      v.kind = Value::Kind::kText;
      if (std::memchr(field.data(), '\\', field.size()) == nullptr) {
        v.text.assign(field.data(), field.size());
      } else {
        SC_RETURN_IF_ERROR(Unescape(field, column, pos, v.text));
      }
    }
    ++column;
    if (tab == nullptr) break;
    pos = end + 1;
  }
  out.resize(column);
  return Status::Ok();
}

void AppendCopyField(std::string& out, const Value& value) {
  if (value.kind != Value::Kind::kText) {
    out += "\\N";
    return;
  }
  const std::string& t = value.text;
  std::size_t run = 0;  // start of the pending unescaped run
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!NeedsEscape(static_cast<unsigned char>(t[i]))) continue;
    out.append(t, run, i - run);
    out += '\\';
    out += EscapeLetter(t[i]);
    run = i + 1;
  }
  out.append(t, run, t.size() - run);
}

void AppendCopyRow(std::string& out, const Tuple& row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out += '\t';
    AppendCopyField(out, row[i]);
  }
  out += '\n';
}

}  // namespace shardcast
