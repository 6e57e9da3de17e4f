// The Kafka records of a source change (DESIGN.md "Kafka messages"): topic,
// key (JSON object of the primary-key columns), value (the Debezium envelope
// as the JSON converter writes it with schemas disabled) and the shardcast
// headers. Pure encoding: no librdkafka here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "sharding/router.h"
#include "sharding/table_spec.h"

namespace shardcast {

struct EnvelopeOptions {
  std::string prefix = "shardcast";                          // source.name and {prefix}
  std::string topic_template = "{prefix}.{schema}.{table}";  // also {shard}
  std::string source_db;                                     // source.db
  bool tombstones = true;                                    // a delete is followed by a null-value record
  bool partition_by_shard_key = false;                       // fill KafkaRecordOut::partition_key
};

// One record to produce.
struct KafkaRecordOut {
  std::string topic;
  std::optional<std::string> key;    // nullopt: null key (truncate, tables without a primary key)
  std::optional<std::string> value;  // nullopt: tombstone
  // partition_by_shard_key only: the shard-key columns as a JSON object, in
  // shard_key order ("{\"account_id\":42}"); the primary key for reference
  // tables; empty when there is no key (the partitioner then picks).
  std::string partition_key;
  std::string position;  // header shardcast.position: "<end_lsn decimal>/<ordinal>"
  std::string shard;     // header shardcast.shard: owning shard id, "*" for all shards, "" without a ring
  std::string epoch;     // header shardcast.epoch: decimal
};

// Expands {prefix}, {schema}, {table} and {shard} in a topic template. A
// shard of "*" (every shard) expands to "all", as "*" is not legal in a topic.
std::string ExpandTopic(const std::string& tmpl, const std::string& prefix, const std::string& schema,
                        const std::string& table, const std::string& shard);

class EnvelopeEncoder {
 public:
  // tables: the replicated tables; changes of other tables produce nothing.
  EnvelopeEncoder(EnvelopeOptions options, std::vector<TableSpec> tables);

  // Appends the records of change `index` of rt, in produce order (a delete's
  // tombstone after it; a truncate one record per configured truncated
  // table). now_ms is the envelope's top-level ts_ms. Fails when a primary-key
  // column is missing from the relation.
  Status Encode(const RoutedTransaction& rt, std::size_t index, std::int64_t now_ms,
                std::vector<KafkaRecordOut>& out) const;

  const TableSpec* Find(const std::string& schema, const std::string& name) const;
  const EnvelopeOptions& options() const { return options_; }

 private:
  EnvelopeOptions options_;
  std::vector<TableSpec> tables_;
};

}  // namespace shardcast
