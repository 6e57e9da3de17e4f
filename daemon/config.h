// The YAML configuration (DESIGN.md "Configuration"), validated on load.
// Every key is listed here with its default; unknown keys are errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardcast {

struct SourceConfig {
  std::string dsn;            // required; a password in it works but is redacted in logs
  std::string password_file;  // optional
  std::string slot = "shardcast";
  std::string publication = "shardcast";
  bool create = true;
  std::chrono::milliseconds heartbeat_interval{10000};
};

struct TableConfig {
  std::string schema;  // "public" when the name has no schema
  std::string name;
  bool reference = false;              // mode: reference (default distributed)
  std::vector<std::string> shard_key;  // empty: the primary key
};

struct ShardConfig {
  std::string id;
  std::uint32_t weight = 1;
  // region -> DSN, for every region the shard has. A plain string DSN in the
  // file is the primary region's.
  std::map<std::string, std::string> dsn_by_region;
};

struct KafkaConfig {
  std::string brokers;  // required when kafka: is present
  std::string prefix = "shardcast";
  std::string topic = "{prefix}.{schema}.{table}";
  bool partition_by_shard_key = false;  // partition_by: key (default) | shard_key
  bool tombstones = true;
  bool exactly_once = false;
  std::map<std::string, std::string> properties;  // passed through to librdkafka
};

struct Config {
  std::string path;  // the file it was loaded from, for messages
  SourceConfig source;
  std::vector<TableConfig> tables;
  std::uint32_t vnodes_per_weight = 1024;
  std::vector<std::string> regions;  // never empty after load: default {"default"}
  std::vector<ShardConfig> shards;
  bool cross_shard_atomic = false;  // cross_shard: per_shard (default) | atomic
  std::optional<KafkaConfig> kafka;
  int snapshot_workers = 2;
  std::int64_t snapshot_chunk_rows = 50000;
  std::uint64_t queue_bytes = 64ull << 20;
  bool on_error_dead_letter = false;  // on_error: stop (default) | dead_letter
  std::uint64_t max_backlog_bytes = 10ull << 30;
  std::string checkpoint_dir = "/var/lib/shardcast";
  std::string metrics_listen = "127.0.0.1:9187";
  std::string admin_listen = "127.0.0.1:9188";
  std::string admin_token_file;
  std::string log_level = "info";  // trace debug info warn error critical off
  bool log_json = false;           // log.format: text (default) | json

  const std::string& primary_region() const { return regions.front(); }
};

// Loads and validates a file. A kConfig error names the key, its line and
// column and what was expected: "shards[1].weight (line 12, column 13):
// expected a positive integer, got \"x\"".
StatusOr<Config> LoadConfigFile(const std::string& path);
// Same for YAML text; origin names it in messages.
StatusOr<Config> ParseConfig(const std::string& yaml_text, const std::string& origin);

// The configured table a name means: "schema.table", or "table" in schema
// public (as in tables[].name); nullptr when it is not configured.
const TableConfig* FindConfiguredTable(const Config& config, const std::string& name);

// Parses "64MiB", "10GiB", "1024" (bytes) and "10s", "500ms", "2m".
std::optional<std::uint64_t> ParseByteSize(const std::string& text);
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text);

// The DSN to connect to the source with: source.dsn, plus the password read
// from source.password_file when one is set (its trailing newline dropped; it
// replaces a password written in the DSN). Key=value DSNs and URIs both work;
// the result is a key=value string. A missing, unreadable or empty password
// file is a kConfig error naming it. The result holds the password: redact it
// (daemon/redact.h) before it reaches a log.
StatusOr<std::string> SourceConnectDsn(const SourceConfig& source);

}  // namespace shardcast
