// Reading validated values out of a yaml-cpp tree for config.cpp. Every
// failure is a kConfig Status that names the key path, its line and column
// (1-based) and what was expected and found:
//   shards[1].weight (line 12, column 13): expected a positive integer, got "x"
// Nothing here throws: yaml-cpp is only asked for what cannot throw.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardcast::config_yaml {

// A node with the key path that reached it and the position to report.
struct Value {
  YAML::Node node;
  std::string path;  // "shards[1].dsn.eu-west"; "" is the document root
  YAML::Mark mark;   // the value's position, or its key's when the value is empty
  YAML::Mark key_mark = YAML::Mark::null_mark();  // its key's position, if it has a key
};

// "path (line L, column C): message". The root path reads "top level".
Status ErrorAt(const Value& v, std::string_view message);
// "path (line L, column C): expected <expected>, got <what v holds>".
Status Expected(const Value& v, std::string_view expected);
// How a value reads in a message: "x" (quoted scalar), a map, a list, nothing.
std::string Describe(const YAML::Node& node);

// A mapping whose keys were checked: all scalars, none repeated, all allowed.
class Map {
 public:
  // An unknown key is an error naming it and listing the allowed keys.
  static StatusOr<Map> Open(const Value& v, std::initializer_list<std::string_view> allowed);

  // The value under key, if the key is present.
  std::optional<Value> Get(std::string_view key) const;
  // The value under key, or an error saying that the key is required.
  StatusOr<Value> Require(std::string_view key, std::string_view expected) const;
  const Value& self() const { return self_; }

 private:
  Value self_;
  std::vector<std::pair<std::string, Value>> entries_;
};

// The elements of a list, each with its path "parent[i]". Null counts as empty.
StatusOr<std::vector<Value>> OpenList(const Value& v, std::string_view expected);
// The entries of a map in file order, without an allowed-key check.
StatusOr<std::vector<std::pair<std::string, Value>>> OpenAnyMap(const Value& v, std::string_view expected);

// Scalars. A quoted scalar is accepted wherever the unquoted one would be.
StatusOr<std::string> String(const Value& v, bool allow_empty = false);
StatusOr<bool> Bool(const Value& v);
// An integer in [min, max]; "expected" names the range in words.
StatusOr<std::int64_t> Integer(const Value& v, std::int64_t min, std::int64_t max, std::string_view expected);
StatusOr<std::uint64_t> ByteSize(const Value& v, std::uint64_t min);
StatusOr<std::chrono::milliseconds> Duration(const Value& v);
// One of choices, returned as written.
StatusOr<std::string> Choice(const Value& v, std::initializer_list<std::string_view> choices);

// "a, b or c": for messages listing choices or keys.
std::string JoinChoices(std::initializer_list<std::string_view> items, std::string_view last_sep);

}  // namespace shardcast::config_yaml
