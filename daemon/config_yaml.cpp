#include "daemon/config_yaml.h"

#include <charconv>

#include "daemon/config.h"

namespace shardcast::config_yaml {
namespace {

std::string Position(const Value& v) {
  std::string where = v.path.empty() ? "top level" : v.path;
  if (!v.mark.is_null()) {
    where +=
        " (line " + std::to_string(v.mark.line + 1) + ", column " + std::to_string(v.mark.column + 1) + ")";
  }
  return where;
}

// An empty value ("key:" and nothing) carries the next token's position;
// its key's position is where the user should look.
Value Child(const YAML::Node& key, const YAML::Node& value, std::string path) {
  YAML::Mark mark = value.IsNull() || value.Mark().is_null() ? key.Mark() : value.Mark();
  return Value{value, std::move(path), mark, key.Mark()};
}

std::string FormatBytes(std::uint64_t n) {
  if (n != 0 && n % (1ull << 30) == 0) return std::to_string(n >> 30) + "GiB";
  if (n != 0 && n % (1ull << 20) == 0) return std::to_string(n >> 20) + "MiB";
  if (n != 0 && n % (1ull << 10) == 0) return std::to_string(n >> 10) + "KiB";
  return std::to_string(n) + "B";
}

}  // namespace

std::string JoinChoices(std::initializer_list<std::string_view> items, std::string_view last_sep) {
  std::string out;
  std::size_t i = 0;
  for (std::string_view item : items) {
    if (i > 0) out += (i + 1 == items.size()) ? std::string(last_sep) : std::string(", ");
    out += item;
    ++i;
  }
  return out;
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      break;
  }
  std::string out = "\"";
  for (char c : node.Scalar()) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Status ErrorAt(const Value& v, std::string_view message) {
  return ConfigError(Position(v) + ": " + std::string(message));
}

Status Expected(const Value& v, std::string_view expected) {
  return ErrorAt(v, "expected " + std::string(expected) + ", got " + Describe(v.node));
}

StatusOr<Map> Map::Open(const Value& v, std::initializer_list<std::string_view> allowed) {
  if (!v.node.IsMap()) return Expected(v, "a map with keys " + JoinChoices(allowed, ", "));
  Map map;
  map.self_ = v;
  for (const auto& kv : v.node) {
    std::string prefix = v.path.empty() ? "" : v.path + ".";
    if (!kv.first.IsScalar()) {
      return Expected(Value{kv.first, prefix + "<key>", kv.first.Mark()}, "a plain key");
    }
    const std::string& key = kv.first.Scalar();
    Value child = Child(kv.first, kv.second, prefix + key);
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) {
      Value at{kv.first, child.path, kv.first.Mark()};
      return ErrorAt(at, "unknown key \"" + key + "\"; allowed keys " +
                             (v.path.empty() ? std::string("at the top level") : "in " + v.path) + ": " +
                             JoinChoices(allowed, ", "));
    }
    for (const auto& [seen, _] : map.entries_) {
      if (seen == key) return ErrorAt(Value{kv.first, child.path, kv.first.Mark()}, "key given twice");
    }
    map.entries_.emplace_back(key, std::move(child));
  }
  return map;
}

std::optional<Value> Map::Get(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

StatusOr<Value> Map::Require(std::string_view key, std::string_view expected) const {
  if (auto v = Get(key)) return *v;
  Value missing{YAML::Node(), (self_.path.empty() ? "" : self_.path + ".") + std::string(key), self_.mark};
  return ErrorAt(missing, "required key missing; expected " + std::string(expected));
}

StatusOr<std::vector<Value>> OpenList(const Value& v, std::string_view expected) {
  std::vector<Value> out;
  if (v.node.IsNull()) return out;
  if (!v.node.IsSequence()) return Expected(v, expected);
  std::size_t i = 0;
  for (const auto& item : v.node) {
    YAML::Mark mark = item.Mark().is_null() ? v.mark : item.Mark();
    out.push_back(Value{item, v.path + "[" + std::to_string(i++) + "]", mark});
  }
  return out;
}

StatusOr<std::vector<std::pair<std::string, Value>>> OpenAnyMap(const Value& v, std::string_view expected) {
  if (!v.node.IsMap()) return Expected(v, expected);
  std::vector<std::pair<std::string, Value>> out;
  for (const auto& kv : v.node) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {
      return Expected(Value{kv.first, v.path + ".<key>", kv.first.Mark()}, "a non-empty plain key");
    }
    const std::string& key = kv.first.Scalar();
    Value child = Child(kv.first, kv.second, v.path + "." + key);
    for (const auto& [seen, _] : out) {
      if (seen == key) return ErrorAt(Value{kv.first, child.path, kv.first.Mark()}, "key given twice");
    }
    out.emplace_back(key, std::move(child));
  }
  return out;
}

StatusOr<std::string> String(const Value& v, bool allow_empty) {
  if (!v.node.IsScalar()) return Expected(v, allow_empty ? "a string" : "a non-empty string");
  if (!allow_empty && v.node.Scalar().empty()) return Expected(v, "a non-empty string");
  return v.node.Scalar();
}

StatusOr<bool> Bool(const Value& v) {
  bool b = false;
  if (!v.node.IsScalar() || !YAML::convert<bool>::decode(v.node, b)) return Expected(v, "true or false");
  return b;
}

StatusOr<std::int64_t> Integer(const Value& v, std::int64_t min, std::int64_t max,
                               std::string_view expected) {
  if (!v.node.IsScalar()) return Expected(v, expected);
  const std::string& s = v.node.Scalar();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < min || n > max) {
    return Expected(v, expected);
  }
  return n;
}

StatusOr<std::uint64_t> ByteSize(const Value& v, std::uint64_t min) {
  std::string expected = "a byte size such as 64MiB, 10GiB or 1048576";
  if (min > 0) expected += " of at least " + FormatBytes(min);
  if (!v.node.IsScalar()) return Expected(v, expected);
  std::optional<std::uint64_t> n = ParseByteSize(v.node.Scalar());
  if (!n || *n < min) return Expected(v, expected);
  return *n;
}

StatusOr<std::chrono::milliseconds> Duration(const Value& v) {
  constexpr std::string_view kExpected = "a positive duration such as 500ms, 10s, 2m or 1h";
  if (!v.node.IsScalar()) return Expected(v, kExpected);
  std::optional<std::chrono::milliseconds> d = ParseDuration(v.node.Scalar());
  if (!d || d->count() <= 0) return Expected(v, kExpected);
  return *d;
}

StatusOr<std::string> Choice(const Value& v, std::initializer_list<std::string_view> choices) {
  if (v.node.IsScalar()) {
    for (std::string_view c : choices) {
      if (v.node.Scalar() == c) return std::string(c);
    }
  }
  return Expected(v, JoinChoices(choices, " or "));
}

}  // namespace shardcast::config_yaml
