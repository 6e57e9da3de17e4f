#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "daemon/config.h"

namespace shardcast {
namespace {

using std::chrono::milliseconds;

// A config with every key set to something other than its default. Line
// numbers matter to the error tests below that edit it.
constexpr const char* kFull = R"(source:
  dsn: "host=127.0.0.1 port=5432 dbname=app user=shardcast"
  password_file: /etc/shardcast/source.pw
  slot: slot1
  publication: pub1
  create: false
  heartbeat_interval: 2500ms
tables:
  - name: sales.orders
    shard_key: [account_id, region]
  - name: countries
    mode: reference
  - name: public.events
    mode: distributed
ring:
  vnodes_per_weight: 64
regions: [us-east, eu-west]
shards:
  - id: s0
    weight: 3
    dsn: "host=10.0.0.1 dbname=shard0"
  - id: s1
    dsn: { us-east: "host=10.0.0.2 dbname=shard1", eu-west: "postgresql://u@10.1.0.2/shard1" }
cross_shard: atomic
kafka:
  brokers: "k1:9092,k2:9092"
  prefix: cdc
  topic: "{prefix}.{schema}.{table}.{shard}"
  partition_by: shard_key
  tombstones: false
  exactly_once: true
  properties: { compression.type: lz4, linger.ms: 5, enable.idempotence: true }
snapshot: { workers: 4, chunk_rows: 1000 }
limits: { queue_bytes: 128MiB }
on_error: dead_letter
max_backlog_bytes: 5GB
checkpoint: { dir: /tmp/sc }
metrics: { listen: "0.0.0.0:9300" }
admin: { listen: "[::1]:9301", token_file: /etc/shardcast/admin.token }
log: { level: debug, format: json }
)";

constexpr const char* kMinimal = R"(source:
  dsn: "dbname=app"
shards:
  - id: s0
    dsn: "dbname=shard0"
)";

Status ParseError(const std::string& yaml) {
  auto c = ParseConfig(yaml, "test.yaml");
  EXPECT_FALSE(c.ok()) << "parsed: " << yaml;
  if (c.ok()) return Status::Ok();
  EXPECT_EQ(c.status().code(), Code::kConfig) << c.status().ToString();
  return c.status();
}

// The message of a config that fails, minus the "test.yaml: " origin.
std::string ErrorOf(const std::string& yaml) {
  Status s = ParseError(yaml);
  std::string m = s.message();
  EXPECT_EQ(m.rfind("test.yaml: ", 0), 0u) << m;
  return m.rfind("test.yaml: ", 0) == 0 ? m.substr(11) : m;
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(ConfigTest, FullConfigEveryValue) {
  auto c = ParseConfig(kFull, "full.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->path, "full.yaml");
  EXPECT_EQ(c->source.dsn, "host=127.0.0.1 port=5432 dbname=app user=shardcast");
  EXPECT_EQ(c->source.password_file, "/etc/shardcast/source.pw");
  EXPECT_EQ(c->source.slot, "slot1");
  EXPECT_EQ(c->source.publication, "pub1");
  EXPECT_FALSE(c->source.create);
  EXPECT_EQ(c->source.heartbeat_interval, milliseconds(2500));
  ASSERT_EQ(c->tables.size(), 3u);
  EXPECT_EQ(c->tables[0].schema, "sales");
  EXPECT_EQ(c->tables[0].name, "orders");
  EXPECT_FALSE(c->tables[0].reference);
  EXPECT_EQ(c->tables[0].shard_key, (std::vector<std::string>{"account_id", "region"}));
  EXPECT_EQ(c->tables[1].schema, "public");
  EXPECT_EQ(c->tables[1].name, "countries");
  EXPECT_TRUE(c->tables[1].reference);
  EXPECT_TRUE(c->tables[1].shard_key.empty());
  EXPECT_EQ(c->tables[2].schema, "public");
  EXPECT_FALSE(c->tables[2].reference);
  EXPECT_EQ(c->vnodes_per_weight, 64u);
  EXPECT_EQ(c->regions, (std::vector<std::string>{"us-east", "eu-west"}));
  EXPECT_EQ(c->primary_region(), "us-east");
  ASSERT_EQ(c->shards.size(), 2u);
  EXPECT_EQ(c->shards[0].id, "s0");
  EXPECT_EQ(c->shards[0].weight, 3u);
  EXPECT_EQ(c->shards[0].dsn_by_region,
            (std::map<std::string, std::string>{{"us-east", "host=10.0.0.1 dbname=shard0"}}));
  EXPECT_EQ(c->shards[1].id, "s1");
  EXPECT_EQ(c->shards[1].weight, 1u);
  EXPECT_EQ(c->shards[1].dsn_by_region,
            (std::map<std::string, std::string>{{"us-east", "host=10.0.0.2 dbname=shard1"},
                                                {"eu-west", "postgresql://u@10.1.0.2/shard1"}}));
  EXPECT_TRUE(c->cross_shard_atomic);
  ASSERT_TRUE(c->kafka.has_value());
  EXPECT_EQ(c->kafka->brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c->kafka->prefix, "cdc");
  EXPECT_EQ(c->kafka->topic, "{prefix}.{schema}.{table}.{shard}");
  EXPECT_TRUE(c->kafka->partition_by_shard_key);
  EXPECT_FALSE(c->kafka->tombstones);
  EXPECT_TRUE(c->kafka->exactly_once);
  EXPECT_EQ(c->kafka->properties,
            (std::map<std::string, std::string>{
                {"compression.type", "lz4"}, {"linger.ms", "5"}, {"enable.idempotence", "true"}}));
  EXPECT_EQ(c->snapshot_workers, 4);
  EXPECT_EQ(c->snapshot_chunk_rows, 1000);
  EXPECT_EQ(c->queue_bytes, 128ull << 20);
  EXPECT_TRUE(c->on_error_dead_letter);
  EXPECT_EQ(c->max_backlog_bytes, 5'000'000'000ull);
  EXPECT_EQ(c->checkpoint_dir, "/tmp/sc");
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9300");
  EXPECT_EQ(c->admin_listen, "[::1]:9301");
  EXPECT_EQ(c->admin_token_file, "/etc/shardcast/admin.token");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_TRUE(c->log_json);
}

TEST(ConfigTest, Defaults) {
  auto c = ParseConfig(kMinimal, "min.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->source.dsn, "dbname=app");
  EXPECT_EQ(c->source.password_file, "");
  EXPECT_EQ(c->source.slot, "shardcast");
  EXPECT_EQ(c->source.publication, "shardcast");
  EXPECT_TRUE(c->source.create);
  EXPECT_EQ(c->source.heartbeat_interval, milliseconds(10000));
  EXPECT_TRUE(c->tables.empty());
  EXPECT_EQ(c->vnodes_per_weight, 1024u);
  EXPECT_EQ(c->regions, std::vector<std::string>{"default"});
  ASSERT_EQ(c->shards.size(), 1u);
  EXPECT_EQ(c->shards[0].weight, 1u);
  EXPECT_EQ(c->shards[0].dsn_by_region, (std::map<std::string, std::string>{{"default", "dbname=shard0"}}));
  EXPECT_FALSE(c->cross_shard_atomic);
  EXPECT_FALSE(c->kafka.has_value());
  EXPECT_EQ(c->snapshot_workers, 2);
  EXPECT_EQ(c->snapshot_chunk_rows, 50000);
  EXPECT_EQ(c->queue_bytes, 64ull << 20);
  EXPECT_FALSE(c->on_error_dead_letter);
  EXPECT_EQ(c->max_backlog_bytes, 10ull << 30);
  EXPECT_EQ(c->checkpoint_dir, "/var/lib/shardcast");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9187");
  EXPECT_EQ(c->admin_listen, "127.0.0.1:9188");
  EXPECT_EQ(c->admin_token_file, "");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_FALSE(c->log_json);
}

TEST(ConfigTest, KafkaDefaultsAndKafkaOnly) {
  auto c = ParseConfig("source: {dsn: \"dbname=app\"}\nkafka:\n  brokers: \"127.0.0.1:9092\"\n", "k.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->shards.empty());
  ASSERT_TRUE(c->kafka.has_value());
  EXPECT_EQ(c->kafka->prefix, "shardcast");
  EXPECT_EQ(c->kafka->topic, "{prefix}.{schema}.{table}");
  EXPECT_FALSE(c->kafka->partition_by_shard_key);
  EXPECT_TRUE(c->kafka->tombstones);
  EXPECT_FALSE(c->kafka->exactly_once);
  EXPECT_TRUE(c->kafka->properties.empty());
}

TEST(ConfigTest, BadWeightNamesPathLineColumnAndValue) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "weight: 3", "weight: x")),
            "shards[0].weight (line 20, column 13): expected a positive integer, got \"x\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "weight: 3", "weight: 0")),
            "shards[0].weight (line 20, column 13): expected a positive integer, got \"0\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "weight: 3", "weight: [1]")),
            "shards[0].weight (line 20, column 13): expected a positive integer, got a list");
}

TEST(ConfigTest, YamlSyntaxErrorReportsPosition) {
  EXPECT_EQ(ErrorOf("source: {dsn: \"x\"\nshards: [\n"),
            "invalid YAML (line 2, column 1): end of map flow not found");
  Status s = ParseError("a: [1, 2\nb: 3");
  EXPECT_EQ(s.message(), "test.yaml: invalid YAML (line 2, column 2): end of sequence flow not found");
}

TEST(ConfigTest, EmptyAndNonMapDocuments) {
  EXPECT_EQ(ErrorOf(""),
            "top level: expected a map with keys source, tables, ring, regions, shards, cross_shard, "
            "kafka, snapshot, limits, on_error, max_backlog_bytes, checkpoint, metrics, admin, log, "
            "got nothing");
  EXPECT_NE(ErrorOf("- 1\n- 2\n").find("top level (line 1, column 1): expected a map"), std::string::npos);
}

TEST(ConfigTest, UnknownKeyAtTopLevel) {
  EXPECT_EQ(ErrorOf(std::string(kMinimal) + "sharsd: []\n"),
            "sharsd (line 6, column 1): unknown key \"sharsd\"; allowed keys at the top level: source, "
            "tables, ring, "
            "regions, shards, cross_shard, kafka, snapshot, limits, on_error, max_backlog_bytes, checkpoint, "
            "metrics, "
            "admin, log");
}

TEST(ConfigTest, UnknownKeyNested) {
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "  slot: slot1", "  slots: slot1")),
      "source.slots (line 4, column 3): unknown key \"slots\"; allowed keys in source: dsn, password_file, "
      "slot, publication, create, heartbeat_interval");
  EXPECT_EQ(ErrorOf(Replace(kFull, "    weight: 3", "    wieght: 3")),
            "shards[0].wieght (line 20, column 5): unknown key \"wieght\"; allowed keys in shards[0]: id, "
            "weight, dsn");
  EXPECT_EQ(ErrorOf(Replace(kFull, "chunk_rows: 1000", "chunk: 1000")),
            "snapshot.chunk (line 33, column 25): unknown key \"chunk\"; allowed keys in snapshot: workers, "
            "chunk_rows");
}

TEST(ConfigTest, KeyGivenTwice) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "  slot: slot1\n", "  slot: slot1\n  slot: slot2\n")),
            "source.slot (line 5, column 3): key given twice");
}

TEST(ConfigTest, SourceDsnRequired) {
  EXPECT_EQ(ErrorOf("source:\n  slot: x\nkafka: {brokers: b}\n"),
            "source.dsn (line 2, column 3): required key missing; expected a libpq connection string");
  EXPECT_EQ(ErrorOf("kafka: {brokers: b}\n"),
            "source (line 1, column 1): required key missing; expected a map with at least dsn");
  EXPECT_EQ(ErrorOf("source:\n  dsn:\nkafka: {brokers: b}\n"),
            "source.dsn (line 2, column 3): expected a non-empty string, got nothing");
}

TEST(ConfigTest, DsnRejectedByLibpqDoesNotEchoIt) {
  std::string m = ErrorOf(Replace(kMinimal, "dsn: \"dbname=app\"", "dsn: \"password=hunter2 bogus\""));
  EXPECT_EQ(
      m.rfind("source.dsn (line 2, column 8): expected a libpq connection string, got one libpq rejects: ",
              0),
      0u)
      << m;
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
}

TEST(ConfigTest, TableErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "name: sales.orders", "name: a.b.c")),
            "tables[0].name (line 9, column 11): expected \"schema.table\" or \"table\", got \"a.b.c\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "name: sales.orders", "name: .orders")),
            "tables[0].name (line 9, column 11): expected \"schema.table\" or \"table\", got \".orders\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "mode: reference", "mode: replicated")),
            "tables[1].mode (line 12, column 11): expected distributed or reference, got \"replicated\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "shard_key: [account_id, region]", "shard_key: []")),
      "tables[0].shard_key (line 10, column 16): expected a non-empty list of column names, got a list");
  EXPECT_EQ(ErrorOf(Replace(kFull, "shard_key: [account_id, region]", "shard_key: account_id")),
            "tables[0].shard_key (line 10, column 16): expected a non-empty list of column names, got "
            "\"account_id\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "shard_key: [account_id, region]", "shard_key: [a, {b: 1}]")),
            "tables[0].shard_key[1] (line 10, column 20): expected a non-empty string, got a map");
  EXPECT_EQ(ErrorOf(Replace(kFull, "shard_key: [account_id, region]", "shard_key: [a, a]")),
            "tables[0].shard_key[1] (line 10, column 20): column \"a\" is already in the shard key");
  EXPECT_EQ(ErrorOf(Replace(kFull, "    mode: reference\n", "    mode: reference\n    shard_key: [id]\n")),
            "tables[1].shard_key (line 13, column 16): a reference table has no shard_key (it goes to every "
            "shard)");
  EXPECT_EQ(ErrorOf(Replace(kFull, "name: public.events", "name: sales.orders")),
            "tables[2].name (line 13, column 5): table sales.orders is already listed at tables[0]");
  // "countries" is public.countries.
  EXPECT_EQ(ErrorOf(Replace(kFull, "name: public.events", "name: public.countries")),
            "tables[2].name (line 13, column 5): table public.countries is already listed at tables[1]");
  EXPECT_EQ(ErrorOf(Replace(kFull, "  - name: countries\n", "  - nme: countries\n")),
            "tables[1].nme (line 11, column 5): unknown key \"nme\"; allowed keys in tables[1]: name, mode, "
            "shard_key");
}

TEST(ConfigTest, ShardErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "id: s1", "id: s0")),
            "shards[1].id (line 22, column 5): shard id \"s0\" is already used by shards[0]");
  EXPECT_EQ(ErrorOf(Replace(kFull, "  - id: s0\n    weight: 3\n", "  - weight: 3\n")),
            "shards[0].id (line 19, column 5): required key missing; expected a shard id");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "    dsn: \"host=10.0.0.1 dbname=shard0\"\n", "")),
      "shards[0].dsn (line 19, column 5): required key missing; expected a connection string, or a map from "
      "region to connection string");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "id: s0", "id: \"s 0\"")),
      "shards[0].id (line 19, column 9): expected a shard id made of letters, digits, '_', '-' and '.', got "
      "\"s 0\"");
  EXPECT_EQ(
      ErrorOf(Replace(kMinimal, "shards:\n  - id: s0\n    dsn: \"dbname=shard0\"\n", "shards: {s0: x}\n")),
      "shards (line 3, column 9): expected a list of shards, got a map");
}

TEST(ConfigTest, RegionMapErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "eu-west: \"postgresql", "ap-south: \"postgresql")),
            "shards[1].dsn.ap-south (line 23, column 52): unknown region \"ap-south\"; expected one of the "
            "regions: "
            "us-east, eu-west");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "{ us-east: \"host=10.0.0.2 dbname=shard1\", ", "{ ")),
      "shards[1].dsn (line 23, column 10): no DSN for the primary region \"us-east\"; every shard needs one "
      "there");
  EXPECT_EQ(ErrorOf(Replace(kFull, "eu-west: \"postgresql://u@10.1.0.2/shard1\"", "eu-west: [x]")),
            "shards[1].dsn.eu-west (line 23, column 61): expected a non-empty string, got a list");
  EXPECT_EQ(ErrorOf(Replace(kFull, "eu-west: \"postgresql://u@10.1.0.2/shard1\"", "us-east: \"dbname=x\"")),
            "shards[1].dsn.us-east (line 23, column 52): key given twice");
  // Without regions, a map must use the implicit "default" region.
  EXPECT_EQ(
      ErrorOf(Replace(kMinimal, "dsn: \"dbname=shard0\"", "dsn: {us-east: \"dbname=shard0\"}")),
      "shards[0].dsn.us-east (line 5, column 11): unknown region \"us-east\"; expected one of the regions: "
      "default");
}

TEST(ConfigTest, RegionListErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "regions: [us-east, eu-west]", "regions: [us-east, us-east]")),
            "regions[1] (line 17, column 20): region \"us-east\" is listed twice");
  EXPECT_EQ(ErrorOf(Replace(kFull, "regions: [us-east, eu-west]", "regions: []")),
            "regions (line 17, column 10): expected a non-empty list of region names, got a list");
  EXPECT_EQ(ErrorOf(Replace(kFull, "regions: [us-east, eu-west]", "regions: [us-east, \"\"]")),
            "regions[1] (line 17, column 20): expected a region name made of letters, digits, '_', '-' and "
            "'.', got "
            "\"\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "regions: [us-east, eu-west]", "regions: us-east")),
            "regions (line 17, column 10): expected a non-empty list of region names, got \"us-east\"");
}

TEST(ConfigTest, KafkaErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "  brokers: \"k1:9092,k2:9092\"\n", "")),
            "kafka.brokers (line 26, column 3): required key missing; expected \"host:port[,host:port...]\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "partition_by: shard_key", "partition_by: random")),
            "kafka.partition_by (line 29, column 17): expected key or shard_key, got \"random\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "topic: \"{prefix}.{schema}.{table}.{shard}\"", "topic: \"{prefix}.{db}\"")),
      "kafka.topic (line 28, column 10): expected a topic name whose placeholders are {prefix}, {schema}, "
      "{table} and {shard}, got \"{prefix}.{db}\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "topic: \"{prefix}.{schema}.{table}.{shard}\"", "topic: \"{prefix\"")),
      "kafka.topic (line 28, column 10): expected a topic name whose placeholders are {prefix}, {schema}, "
      "{table} and {shard}, got \"{prefix\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "tombstones: false", "tombstones: maybe")),
            "kafka.tombstones (line 30, column 15): expected true or false, got \"maybe\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "linger.ms: 5", "linger.ms: [5]")),
      "kafka.properties.linger.ms (line 32, column 51): expected a string, number or boolean, got a list");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "  prefix: cdc\n", "  prefix: cdc\n  acks: all\n")),
      "kafka.acks (line 28, column 3): unknown key \"acks\"; allowed keys in kafka: brokers, prefix, topic, "
      "partition_by, tombstones, exactly_once, properties");
  EXPECT_EQ(
      ErrorOf(Replace(kMinimal, "shards:\n  - id: s0\n    dsn: \"dbname=shard0\"\n", "kafka:\n")),
      "kafka (line 3, column 1): expected a map with keys brokers, prefix, topic, partition_by, tombstones, "
      "exactly_once, properties, got nothing");
}

TEST(ConfigTest, NoDestination) {
  EXPECT_EQ(
      ErrorOf("source: {dsn: \"dbname=app\"}\nshards: []\n"),
      "top level (line 1, column 1): expected at least one destination: a non-empty shards list or a kafka "
      "section");
}

TEST(ConfigTest, ScalarSectionErrors) {
  EXPECT_EQ(ErrorOf(Replace(kFull, "cross_shard: atomic", "cross_shard: global")),
            "cross_shard (line 24, column 14): expected per_shard or atomic, got \"global\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "workers: 4", "workers: 0")),
            "snapshot.workers (line 33, column 22): expected an integer from 1 to 1024, got \"0\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "chunk_rows: 1000", "chunk_rows: -5")),
            "snapshot.chunk_rows (line 33, column 37): expected a positive integer, got \"-5\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "queue_bytes: 128MiB", "queue_bytes: 512KiB")),
      "limits.queue_bytes (line 34, column 24): expected a byte size such as 64MiB, 10GiB or 1048576 of at "
      "least 1MiB, got \"512KiB\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "queue_bytes: 128MiB", "queue_bytes: lots")),
      "limits.queue_bytes (line 34, column 24): expected a byte size such as 64MiB, 10GiB or 1048576 of at "
      "least 1MiB, got \"lots\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "on_error: dead_letter", "on_error: skip")),
            "on_error (line 35, column 11): expected stop or dead_letter, got \"skip\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "max_backlog_bytes: 5GB", "max_backlog_bytes: 5XB")),
      "max_backlog_bytes (line 36, column 20): expected a byte size such as 64MiB, 10GiB or 1048576 of at "
      "least 1B, got \"5XB\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "dir: /tmp/sc", "dir: \"\"")),
            "checkpoint.dir (line 37, column 20): expected a non-empty string, got \"\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "0.0.0.0:9300", "0.0.0.0")),
      "metrics.listen (line 38, column 20): expected \"host:port\" such as 127.0.0.1:9187 or [::1]:9187, got "
      "\"0.0.0.0\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "[::1]:9301", "::1:9301")),
      "admin.listen (line 39, column 18): expected \"host:port\" such as 127.0.0.1:9187 or [::1]:9187, got "
      "\"::1:9301\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "0.0.0.0:9300", "host:70000")),
      "metrics.listen (line 38, column 20): expected \"host:port\" such as 127.0.0.1:9187 or [::1]:9187, got "
      "\"host:70000\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "level: debug", "level: verbose")),
            "log.level (line 40, column 15): expected trace, debug, info, warn, error, critical or off, got "
            "\"verbose\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "format: json", "format: xml")),
            "log.format (line 40, column 30): expected text or json, got \"xml\"");
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "heartbeat_interval: 2500ms", "heartbeat_interval: 10")),
      "source.heartbeat_interval (line 7, column 23): expected a positive duration such as 500ms, 10s, 2m or "
      "1h, got \"10\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "create: false", "create: 1")),
            "source.create (line 6, column 11): expected true or false, got \"1\"");
  EXPECT_EQ(ErrorOf(Replace(kFull, "vnodes_per_weight: 64", "vnodes_per_weight: 0")),
            "ring.vnodes_per_weight (line 16, column 22): expected a positive integer, got \"0\"");
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(ParseByteSize("1024"), 1024u);
  EXPECT_EQ(ParseByteSize("0"), 0u);
  EXPECT_EQ(ParseByteSize("10B"), 10u);
  EXPECT_EQ(ParseByteSize("2KB"), 2000u);
  EXPECT_EQ(ParseByteSize("2KiB"), 2048u);
  EXPECT_EQ(ParseByteSize("64MiB"), 64ull << 20);
  EXPECT_EQ(ParseByteSize("64MB"), 64'000'000u);
  EXPECT_EQ(ParseByteSize("10GiB"), 10ull << 30);
  EXPECT_EQ(ParseByteSize("3GB"), 3'000'000'000u);
  EXPECT_EQ(ParseByteSize("1TiB"), 1ull << 40);
  EXPECT_EQ(ParseByteSize("64 MiB"), 64ull << 20);
  EXPECT_EQ(ParseByteSize("64mib"), 64ull << 20);
  EXPECT_EQ(ParseByteSize(""), std::nullopt);
  EXPECT_EQ(ParseByteSize("MiB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("-1"), std::nullopt);
  EXPECT_EQ(ParseByteSize("1.5GiB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("64Mi"), std::nullopt);
  EXPECT_EQ(ParseByteSize("64  MiB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("64 "), std::nullopt);
  EXPECT_EQ(ParseByteSize(" 64"), std::nullopt);
  EXPECT_EQ(ParseByteSize("18446744073709551615"), 18446744073709551615ull);
  EXPECT_EQ(ParseByteSize("18446744073709551616"), std::nullopt);  // overflow
  EXPECT_EQ(ParseByteSize("17179869184GiB"), std::nullopt);        // overflow when scaled
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("10s"), milliseconds(10000));
  EXPECT_EQ(ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
  EXPECT_EQ(ParseDuration("10 s"), milliseconds(10000));
  EXPECT_EQ(ParseDuration("10"), std::nullopt);
  EXPECT_EQ(ParseDuration("10S"), std::nullopt);
  EXPECT_EQ(ParseDuration("s"), std::nullopt);
  EXPECT_EQ(ParseDuration("1d"), std::nullopt);
  EXPECT_EQ(ParseDuration("1.5s"), std::nullopt);
  EXPECT_EQ(ParseDuration("-1s"), std::nullopt);
  EXPECT_EQ(ParseDuration("99999999999999999h"), std::nullopt);
  // A zero interval is refused in the file.
  EXPECT_EQ(
      ErrorOf(Replace(kFull, "heartbeat_interval: 2500ms", "heartbeat_interval: 0s")),
      "source.heartbeat_interval (line 7, column 23): expected a positive duration such as 500ms, 10s, 2m or "
      "1h, got \"0s\"");
}

// deploy/shardcast.yaml documents every key with its default: it must load,
// and the values it shows must be the defaults the code uses.
TEST(ConfigTest, ExampleConfigShowsTheDefaults) {
  auto c = LoadConfigFile(std::string(SHARDCAST_FIXTURES) + "/../../deploy/shardcast.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const Config defaults;
  const SourceConfig source_defaults;
  EXPECT_EQ(c->source.slot, source_defaults.slot);
  EXPECT_EQ(c->source.publication, source_defaults.publication);
  EXPECT_EQ(c->source.create, source_defaults.create);
  EXPECT_EQ(c->source.heartbeat_interval, source_defaults.heartbeat_interval);
  EXPECT_EQ(c->source.password_file, "");
  ASSERT_EQ(c->tables.size(), 2u);
  EXPECT_TRUE(c->tables[1].reference);
  EXPECT_EQ(c->vnodes_per_weight, defaults.vnodes_per_weight);
  EXPECT_EQ(c->regions, std::vector<std::string>{"default"});
  ASSERT_EQ(c->shards.size(), 2u);
  EXPECT_EQ(c->shards[0].weight, ShardConfig().weight);
  EXPECT_EQ(c->cross_shard_atomic, defaults.cross_shard_atomic);
  ASSERT_TRUE(c->kafka.has_value());
  const KafkaConfig kafka_defaults;
  EXPECT_EQ(c->kafka->prefix, kafka_defaults.prefix);
  EXPECT_EQ(c->kafka->topic, kafka_defaults.topic);
  EXPECT_EQ(c->kafka->partition_by_shard_key, kafka_defaults.partition_by_shard_key);
  EXPECT_EQ(c->kafka->tombstones, kafka_defaults.tombstones);
  EXPECT_EQ(c->kafka->exactly_once, kafka_defaults.exactly_once);
  EXPECT_EQ(c->snapshot_workers, defaults.snapshot_workers);
  EXPECT_EQ(c->snapshot_chunk_rows, defaults.snapshot_chunk_rows);
  EXPECT_EQ(c->queue_bytes, defaults.queue_bytes);
  EXPECT_EQ(c->on_error_dead_letter, defaults.on_error_dead_letter);
  EXPECT_EQ(c->max_backlog_bytes, defaults.max_backlog_bytes);
  EXPECT_EQ(c->checkpoint_dir, defaults.checkpoint_dir);
  EXPECT_EQ(c->metrics_listen, defaults.metrics_listen);
  EXPECT_EQ(c->admin_listen, defaults.admin_listen);
  EXPECT_EQ(c->log_level, defaults.log_level);
  EXPECT_EQ(c->log_json, defaults.log_json);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sc_config_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigTest, LoadConfigFile) {
  TempDir dir;
  std::string p = dir.Write("ok.yaml", kMinimal);
  auto c = LoadConfigFile(p);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->path, p);

  auto missing = LoadConfigFile(dir.path() + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kConfig);
  EXPECT_EQ(missing.status().message(),
            "cannot read configuration file " + dir.path() + "/nope.yaml: No such file or directory");

  auto is_dir = LoadConfigFile(dir.path());
  ASSERT_FALSE(is_dir.ok());
  EXPECT_EQ(is_dir.status().message(), "cannot read configuration file " + dir.path() + ": Is a directory");

  std::string bad = dir.Write("bad.yaml", std::string(kMinimal) + "extra: 1\n");
  auto b = LoadConfigFile(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(),
            bad +
                ": extra (line 6, column 1): unknown key \"extra\"; allowed keys at the top "
                "level: source, tables, ring, regions, shards, cross_shard, kafka, snapshot, "
                "limits, on_error, max_backlog_bytes, checkpoint, metrics, admin, log");
}

TEST(ConfigTest, SourceConnectDsnAddsPasswordFromFile) {
  TempDir dir;
  SourceConfig s;
  s.dsn = "host=db port=5433 dbname=app user=me";
  auto plain = SourceConnectDsn(s);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, s.dsn);  // no file: unchanged

  s.password_file = dir.Write("pw", "it's a \\secret\n");
  auto kv = SourceConnectDsn(s);
  ASSERT_TRUE(kv.ok()) << kv.status().ToString();
  EXPECT_EQ(*kv, "user='me' dbname='app' host='db' port='5433' password='it\\'s a \\\\secret'");

  s.dsn = "postgresql://me:old@db:5433/app?sslmode=disable";
  auto uri = SourceConnectDsn(s);
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  EXPECT_EQ(*uri,
            "user='me' dbname='app' host='db' port='5433' sslmode='disable' password='it\\'s a \\\\secret'");

  s.password_file = dir.Write("pw2", "pw\r\n");
  s.dsn = "dbname=app password=old";
  auto replaced = SourceConnectDsn(s);
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(*replaced, "dbname='app' password='pw'");
}

TEST(ConfigTest, SourceConnectDsnFileErrors) {
  TempDir dir;
  SourceConfig s;
  s.dsn = "dbname=app";
  s.password_file = dir.path() + "/missing.pw";
  auto missing = SourceConnectDsn(s);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kConfig);
  EXPECT_EQ(missing.status().message(),
            "source.password_file " + s.password_file + ": No such file or directory");

  s.password_file = dir.Write("empty.pw", "\n");
  auto empty = SourceConnectDsn(s);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "source.password_file " + s.password_file + ": the file is empty");

  if (geteuid() != 0) {  // root reads any file
    s.password_file = dir.Write("unreadable.pw", "x");
    ASSERT_EQ(chmod(s.password_file.c_str(), 0), 0);
    auto unreadable = SourceConnectDsn(s);
    ASSERT_FALSE(unreadable.ok());
    EXPECT_EQ(unreadable.status().message(),
              "source.password_file " + s.password_file + ": Permission denied");
  }
}

}  // namespace
}  // namespace shardcast
