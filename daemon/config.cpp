// Loads the YAML configuration (DESIGN.md "Configuration (YAML)") into
// Config, section by section. The first problem found is returned; every key
// the file holds is checked against the keys its section allows.
#include "daemon/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <tuple>

#include "daemon/config_dsn.h"
#include "daemon/config_yaml.h"

namespace shardcast {
namespace {

using config_yaml::Map;
using config_yaml::Value;
constexpr std::int64_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();

// Shard ids and regions end up in destination ids ("s0@eu-west"), metric
// labels and RocksDB keys, so they stay plain.
bool IsPlainName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

StatusOr<std::string> PlainName(const Value& v, std::string_view what) {
  if (!v.node.IsScalar() || !IsPlainName(v.node.Scalar())) {
    return config_yaml::Expected(v, std::string(what) + " made of letters, digits, '_', '-' and '.'");
  }
  return v.node.Scalar();
}

StatusOr<std::string> Dsn(const Value& v) {
  SC_ASSIGN_OR_RETURN(std::string dsn, config_yaml::String(v));
  // The DSN itself is never repeated: it may hold a password.
  if (auto err = config_internal::DsnSyntaxError(dsn)) {
    return config_yaml::ErrorAt(v, "expected a libpq connection string, got one libpq rejects: " + *err);
  }
  return dsn;
}

StatusOr<std::string> Listen(const Value& v) {
  constexpr std::string_view kExpected = "\"host:port\" such as 127.0.0.1:9187 or [::1]:9187";
  if (!v.node.IsScalar()) return config_yaml::Expected(v, kExpected);
  const std::string& s = v.node.Scalar();
  std::size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return config_yaml::Expected(v, kExpected);
  std::string host = s.substr(0, colon);
  std::string port = s.substr(colon + 1);
  bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  bool host_ok = bracketed || host.find_first_of(":[] ") == std::string::npos;
  bool port_ok = !port.empty() && port.size() <= 5 &&
                 std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                 std::stoi(port) <= 65535;
  if (!host_ok || !port_ok) return config_yaml::Expected(v, kExpected);
  return s;
}

Status ParseSource(const Value& v, SourceConfig& out) {
  SC_ASSIGN_OR_RETURN(
      Map m, Map::Open(v, {"dsn", "password_file", "slot", "publication", "create", "heartbeat_interval"}));
  SC_ASSIGN_OR_RETURN(Value dsn, m.Require("dsn", "a libpq connection string"));
  SC_ASSIGN_OR_RETURN(out.dsn, Dsn(dsn));
  if (auto x = m.Get("password_file")) {
    SC_ASSIGN_OR_RETURN(out.password_file, config_yaml::String(*x));
  }
  if (auto x = m.Get("slot")) {
    SC_ASSIGN_OR_RETURN(out.slot, config_yaml::String(*x));
  }
  if (auto x = m.Get("publication")) {
    SC_ASSIGN_OR_RETURN(out.publication, config_yaml::String(*x));
  }
  if (auto x = m.Get("create")) {
    SC_ASSIGN_OR_RETURN(out.create, config_yaml::Bool(*x));
  }
  if (auto x = m.Get("heartbeat_interval")) {
    SC_ASSIGN_OR_RETURN(out.heartbeat_interval, config_yaml::Duration(*x));
  }
  return Status::Ok();
}

std::pair<std::string, std::string> SplitTableName(const std::string& name) {
  const std::size_t dot = name.find('.');
  if (dot == std::string::npos) return {"public", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

StatusOr<TableConfig> ParseTable(const Value& v) {
  SC_ASSIGN_OR_RETURN(Map m, Map::Open(v, {"name", "mode", "shard_key"}));
  TableConfig t;
  SC_ASSIGN_OR_RETURN(Value name_v, m.Require("name", "\"schema.table\" or \"table\""));
  SC_ASSIGN_OR_RETURN(std::string name, config_yaml::String(name_v));
  std::tie(t.schema, t.name) = SplitTableName(name);
  if (t.schema.empty() || t.name.empty() || t.name.find('.') != std::string::npos) {
    return config_yaml::Expected(name_v, "\"schema.table\" or \"table\"");
  }
  if (auto x = m.Get("mode")) {
    SC_ASSIGN_OR_RETURN(std::string mode, config_yaml::Choice(*x, {"distributed", "reference"}));
    t.reference = mode == "reference";
  }
  if (auto x = m.Get("shard_key")) {
    if (t.reference)
      return config_yaml::ErrorAt(*x, "a reference table has no shard_key (it goes to every shard)");
    SC_ASSIGN_OR_RETURN(std::vector<Value> cols,
                        config_yaml::OpenList(*x, "a non-empty list of column names"));
    if (cols.empty()) return config_yaml::Expected(*x, "a non-empty list of column names");
    for (const Value& c : cols) {
      SC_ASSIGN_OR_RETURN(std::string col, config_yaml::String(c));
      if (std::find(t.shard_key.begin(), t.shard_key.end(), col) != t.shard_key.end()) {
        return config_yaml::ErrorAt(c, "column \"" + col + "\" is already in the shard key");
      }
      t.shard_key.push_back(std::move(col));
    }
  }
  return t;
}

Status ParseTables(const Value& v, std::vector<TableConfig>& out) {
  SC_ASSIGN_OR_RETURN(std::vector<Value> items, config_yaml::OpenList(v, "a list of tables"));
  std::vector<std::string> paths;
  for (const Value& item : items) {
    SC_ASSIGN_OR_RETURN(TableConfig t, ParseTable(item));
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].schema == t.schema && out[i].name == t.name) {
        return config_yaml::ErrorAt(Value{item.node, item.path + ".name", item.mark},
                                    "table " + t.schema + "." + t.name + " is already listed at " + paths[i]);
      }
    }
    out.push_back(std::move(t));
    paths.push_back(item.path);
  }
  return Status::Ok();
}

Status ParseRegions(const Value& v, std::vector<std::string>& out) {
  SC_ASSIGN_OR_RETURN(std::vector<Value> items, config_yaml::OpenList(v, "a non-empty list of region names"));
  if (items.empty()) return config_yaml::Expected(v, "a non-empty list of region names");
  out.clear();
  for (const Value& item : items) {
    SC_ASSIGN_OR_RETURN(std::string r, PlainName(item, "a region name"));
    if (std::find(out.begin(), out.end(), r) != out.end()) {
      return config_yaml::ErrorAt(item, "region \"" + r + "\" is listed twice");
    }
    out.push_back(std::move(r));
  }
  return Status::Ok();
}

StatusOr<ShardConfig> ParseShard(const Value& v, const std::vector<std::string>& regions) {
  SC_ASSIGN_OR_RETURN(Map m, Map::Open(v, {"id", "weight", "dsn"}));
  ShardConfig s;
  SC_ASSIGN_OR_RETURN(Value id, m.Require("id", "a shard id"));
  SC_ASSIGN_OR_RETURN(s.id, PlainName(id, "a shard id"));
  if (auto x = m.Get("weight")) {
    SC_ASSIGN_OR_RETURN(std::int64_t w, config_yaml::Integer(*x, 1, kMaxU32, "a positive integer"));
    s.weight = static_cast<std::uint32_t>(w);
  }
  SC_ASSIGN_OR_RETURN(Value dsn,
                      m.Require("dsn", "a connection string, or a map from region to connection string"));
  if (dsn.node.IsScalar()) {
    SC_ASSIGN_OR_RETURN(s.dsn_by_region[regions.front()], Dsn(dsn));
    return s;
  }
  std::string regions_text = "one of the regions: ";
  for (std::size_t i = 0; i < regions.size(); ++i) regions_text += (i ? ", " : "") + regions[i];
  SC_ASSIGN_OR_RETURN(auto entries, config_yaml::OpenAnyMap(dsn,
                                                            "a connection string, or a map from region to "
                                                            "connection string"));
  for (const auto& [region, value] : entries) {
    if (std::find(regions.begin(), regions.end(), region) == regions.end()) {
      return config_yaml::ErrorAt(Value{value.node, value.path, value.key_mark},
                                  "unknown region \"" + region + "\"; expected " + regions_text);
    }
    SC_ASSIGN_OR_RETURN(s.dsn_by_region[region], Dsn(value));
  }
  if (!s.dsn_by_region.count(regions.front())) {
    return config_yaml::ErrorAt(
        dsn, "no DSN for the primary region \"" + regions.front() + "\"; every shard needs one there");
  }
  return s;
}

Status ParseShards(const Value& v, const std::vector<std::string>& regions, std::vector<ShardConfig>& out) {
  SC_ASSIGN_OR_RETURN(std::vector<Value> items, config_yaml::OpenList(v, "a list of shards"));
  for (std::size_t i = 0; i < items.size(); ++i) {
    SC_ASSIGN_OR_RETURN(ShardConfig s, ParseShard(items[i], regions));
    for (std::size_t j = 0; j < out.size(); ++j) {
      if (out[j].id == s.id) {
        return config_yaml::ErrorAt(Value{items[i].node, items[i].path + ".id", items[i].mark},
                                    "shard id \"" + s.id + "\" is already used by " + items[j].path);
      }
    }
    out.push_back(std::move(s));
  }
  return Status::Ok();
}

bool IsTopicChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

Status CheckTopicTemplate(const Value& v, const std::string& topic) {
  for (std::size_t i = 0; i < topic.size(); ++i) {
    if (topic[i] == '{') {
      std::size_t close = topic.find('}', i);
      std::string name = close == std::string::npos ? "" : topic.substr(i, close - i + 1);
      if (name != "{prefix}" && name != "{schema}" && name != "{table}" && name != "{shard}") {
        return config_yaml::Expected(
            v, "a topic name whose placeholders are {prefix}, {schema}, {table} and {shard}");
      }
      i = close;
    } else if (!IsTopicChar(topic[i])) {
      return config_yaml::Expected(v, "a topic name of letters, digits, '.', '_', '-' and placeholders");
    }
  }
  return Status::Ok();
}

StatusOr<KafkaConfig> ParseKafka(const Value& v) {
  SC_ASSIGN_OR_RETURN(Map m, Map::Open(v, {"brokers", "prefix", "topic", "partition_by", "tombstones",
                                           "exactly_once", "properties"}));
  KafkaConfig k;
  SC_ASSIGN_OR_RETURN(Value brokers, m.Require("brokers", "\"host:port[,host:port...]\""));
  SC_ASSIGN_OR_RETURN(k.brokers, config_yaml::String(brokers));
  if (auto x = m.Get("prefix")) {
    SC_ASSIGN_OR_RETURN(k.prefix, config_yaml::String(*x));
    if (!std::all_of(k.prefix.begin(), k.prefix.end(), IsTopicChar)) {
      return config_yaml::Expected(*x, "a topic prefix of letters, digits, '.', '_' and '-'");
    }
  }
  if (auto x = m.Get("topic")) {
    SC_ASSIGN_OR_RETURN(k.topic, config_yaml::String(*x));
    SC_RETURN_IF_ERROR(CheckTopicTemplate(*x, k.topic));
  }
  if (auto x = m.Get("partition_by")) {
    SC_ASSIGN_OR_RETURN(std::string p, config_yaml::Choice(*x, {"key", "shard_key"}));
    k.partition_by_shard_key = p == "shard_key";
  }
  if (auto x = m.Get("tombstones")) {
    SC_ASSIGN_OR_RETURN(k.tombstones, config_yaml::Bool(*x));
  }
  if (auto x = m.Get("exactly_once")) {
    SC_ASSIGN_OR_RETURN(k.exactly_once, config_yaml::Bool(*x));
  }
  if (auto x = m.Get("properties")) {
    if (!x->node.IsNull()) {
      SC_ASSIGN_OR_RETURN(auto props, config_yaml::OpenAnyMap(*x, "a map of librdkafka properties"));
      for (const auto& [key, value] : props) {
        if (!value.node.IsScalar()) return config_yaml::Expected(value, "a string, number or boolean");
        k.properties[key] = value.node.Scalar();
      }
    }
  }
  return k;
}

Status ParseRoot(const Value& root, Config& c) {
  SC_ASSIGN_OR_RETURN(Map m, Map::Open(root, {"source", "tables", "ring", "regions", "shards", "cross_shard",
                                              "kafka", "snapshot", "limits", "on_error", "max_backlog_bytes",
                                              "checkpoint", "metrics", "admin", "log"}));
  SC_ASSIGN_OR_RETURN(Value source, m.Require("source", "a map with at least dsn"));
  SC_RETURN_IF_ERROR(ParseSource(source, c.source));
  if (auto x = m.Get("tables")) SC_RETURN_IF_ERROR(ParseTables(*x, c.tables));
  if (auto x = m.Get("ring")) {
    SC_ASSIGN_OR_RETURN(Map ring, Map::Open(*x, {"vnodes_per_weight"}));
    if (auto y = ring.Get("vnodes_per_weight")) {
      SC_ASSIGN_OR_RETURN(std::int64_t n, config_yaml::Integer(*y, 1, kMaxU32, "a positive integer"));
      c.vnodes_per_weight = static_cast<std::uint32_t>(n);
    }
  }
  c.regions = {"default"};
  if (auto x = m.Get("regions")) SC_RETURN_IF_ERROR(ParseRegions(*x, c.regions));
  if (auto x = m.Get("shards")) SC_RETURN_IF_ERROR(ParseShards(*x, c.regions, c.shards));
  if (auto x = m.Get("cross_shard")) {
    SC_ASSIGN_OR_RETURN(std::string mode, config_yaml::Choice(*x, {"per_shard", "atomic"}));
    c.cross_shard_atomic = mode == "atomic";
  }
  if (auto x = m.Get("kafka")) {
    SC_ASSIGN_OR_RETURN(c.kafka, ParseKafka(*x));
  }
  if (auto x = m.Get("snapshot")) {
    SC_ASSIGN_OR_RETURN(Map s, Map::Open(*x, {"workers", "chunk_rows"}));
    if (auto y = s.Get("workers")) {
      SC_ASSIGN_OR_RETURN(std::int64_t n, config_yaml::Integer(*y, 1, 1024, "an integer from 1 to 1024"));
      c.snapshot_workers = static_cast<int>(n);
    }
    if (auto y = s.Get("chunk_rows")) {
      SC_ASSIGN_OR_RETURN(c.snapshot_chunk_rows, config_yaml::Integer(*y, 1, kMaxI64, "a positive integer"));
    }
  }
  if (auto x = m.Get("limits")) {
    SC_ASSIGN_OR_RETURN(Map l, Map::Open(*x, {"queue_bytes"}));
    if (auto y = l.Get("queue_bytes")) {
      SC_ASSIGN_OR_RETURN(c.queue_bytes, config_yaml::ByteSize(*y, 1ull << 20));
    }
  }
  if (auto x = m.Get("on_error")) {
    SC_ASSIGN_OR_RETURN(std::string mode, config_yaml::Choice(*x, {"stop", "dead_letter"}));
    c.on_error_dead_letter = mode == "dead_letter";
    // The dead-letter queue is the {prefix}.shardcast.dlq topic.
    if (c.on_error_dead_letter && !c.kafka)
      return config_yaml::ErrorAt(*x,
                                  "on_error: dead_letter sends rejected changes to the "
                                  "{prefix}.shardcast.dlq Kafka topic: add a kafka section, or use "
                                  "on_error: stop");
  }
  if (auto x = m.Get("max_backlog_bytes")) {
    SC_ASSIGN_OR_RETURN(c.max_backlog_bytes, config_yaml::ByteSize(*x, 1));
  }
  if (auto x = m.Get("checkpoint")) {
    SC_ASSIGN_OR_RETURN(Map cp, Map::Open(*x, {"dir"}));
    if (auto y = cp.Get("dir")) {
      SC_ASSIGN_OR_RETURN(c.checkpoint_dir, config_yaml::String(*y));
    }
  }
  if (auto x = m.Get("metrics")) {
    SC_ASSIGN_OR_RETURN(Map mm, Map::Open(*x, {"listen"}));
    if (auto y = mm.Get("listen")) {
      SC_ASSIGN_OR_RETURN(c.metrics_listen, Listen(*y));
    }
  }
  if (auto x = m.Get("admin")) {
    SC_ASSIGN_OR_RETURN(Map a, Map::Open(*x, {"listen", "token_file"}));
    if (auto y = a.Get("listen")) {
      SC_ASSIGN_OR_RETURN(c.admin_listen, Listen(*y));
    }
    if (auto y = a.Get("token_file")) {
      SC_ASSIGN_OR_RETURN(c.admin_token_file, config_yaml::String(*y));
    }
  }
  if (auto x = m.Get("log")) {
    SC_ASSIGN_OR_RETURN(Map l, Map::Open(*x, {"level", "format"}));
    if (auto y = l.Get("level")) {
      SC_ASSIGN_OR_RETURN(c.log_level, config_yaml::Choice(*y, {"trace", "debug", "info", "warn", "error",
                                                                "critical", "off"}));
    }
    if (auto y = l.Get("format")) {
      SC_ASSIGN_OR_RETURN(std::string f, config_yaml::Choice(*y, {"text", "json"}));
      c.log_json = f == "json";
    }
  }
  if (c.shards.empty() && !c.kafka) {
    return config_yaml::ErrorAt(
        root, "expected at least one destination: a non-empty shards list or a kafka section");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Config> ParseConfig(const std::string& yaml_text, const std::string& origin) {
  // yaml-cpp reports by exception; they stop here.
  try {
    YAML::Node root;
    try {
      root = YAML::Load(yaml_text);
    } catch (const YAML::ParserException& e) {
      return ConfigError(origin + ": invalid YAML (line " + std::to_string(e.mark.line + 1) + ", column " +
                         std::to_string(e.mark.column + 1) + "): " + e.msg);
    }
    Config c;
    c.path = origin;
    Status s = ParseRoot(Value{root, "", root.Mark()}, c);
    if (!s.ok()) return s.Prefixed(origin);
    return c;
  } catch (const std::exception& e) {
    return ConfigError(origin + ": " + e.what());
  }
}

StatusOr<Config> LoadConfigFile(const std::string& path) {
  SC_ASSIGN_OR_RETURN(std::string text,
                      config_internal::ReadWholeFile(path, "cannot read configuration file"));
  return ParseConfig(text, path);
}

const TableConfig* FindConfiguredTable(const Config& config, const std::string& name) {
  const auto [schema, table] = SplitTableName(name);
  for (const auto& t : config.tables)
    if (t.schema == schema && t.name == table) return &t;
  return nullptr;
}

}  // namespace shardcast
