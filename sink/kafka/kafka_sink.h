// The Kafka feed as a Sink (DESIGN.md "Kafka messages", "Delivery"):
// at-least-once with librdkafka's idempotent producer. Every change becomes
// one record (a delete also a tombstone) carrying its position header, so
// consumers can deduplicate what a replay sends twice.
//
// Durability: a transaction is durable once every one of its records is
// acknowledged by the brokers (acks=all) and so is everything before it.
// Kafka keeps no marker here, so Open() returns 0 and the checkpoint store's
// progress (resume_lsn) decides what is skipped.
//
// Threads: Open, Apply, Poll and Close run on the destination worker thread;
// delivery reports run inside rd_kafka_poll (from Poll, or from Apply while
// the producer queue is full). durable_lsn() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sharding/table_spec.h"
#include "sink/kafka/envelope.h"
#include "sink/sink.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;

namespace shardcast {

struct KafkaSinkOptions {
  std::string id = "kafka";  // the destination id (metrics, progress)
  std::string brokers;       // bootstrap.servers
  std::string prefix = "shardcast";
  std::string topic = "{prefix}.{schema}.{table}";
  // false: librdkafka's murmur2_random partitioner over the key bytes (as
  // Java clients); true: shardcast sets the partition to murmur2 of the
  // shard-key JSON modulo the topic's partition count.
  bool partition_by_shard_key = false;
  bool tombstones = true;
  // Passed to librdkafka after shardcast's defaults, so they win. An unknown
  // or invalid property fails Open() with kConfig naming it.
  std::map<std::string, std::string> properties;
  std::string source_db;          // source.db in the envelope
  std::vector<TableSpec> tables;  // the replicated tables
  // Bound on librdkafka's producer queue (queue.buffering.max.kbytes). Apply
  // blocks, polling, while it is full.
  std::uint64_t queue_bytes = 64ull << 20;
  // Progress from the checkpoint store: durable_lsn() starts here and Apply
  // skips transactions at or below it.
  Lsn resume_lsn = 0;
  // false: produce every transaction handed to Apply, even at or below
  // durable_lsn() (the initial snapshot's chunks all carry the slot's
  // consistent point as their position).
  bool skip_replayed = true;
  std::chrono::milliseconds connect_timeout{10000};  // Open's metadata request, partition counts
  std::chrono::milliseconds close_timeout{10000};    // Close's flush
};

class KafkaSink : public Sink {
 public:
  explicit KafkaSink(KafkaSinkOptions options);
  ~KafkaSink() override;
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  const std::string& id() const override { return options_.id; }
  // Creates the producer and checks that a broker answers. Returns 0.
  StatusOr<Lsn> Open() override;
  // Produces the records of each transaction above durable_lsn() in order.
  // Never drops: a full producer queue is waited out by polling.
  Status Apply(const TxnBatch& batch) override;
  // Serves delivery reports; fails once any record failed permanently, naming
  // its topic, position header and librdkafka's error.
  Status Poll(std::chrono::milliseconds timeout) override;
  Lsn durable_lsn() const override { return durable_.load(std::memory_order_acquire); }
  // Flushes for up to close_timeout, then destroys the producer.
  void Close() override;

  // Waits up to timeout until every record produced so far is acknowledged;
  // fails when one failed, or with kUnavailable on timeout.
  Status Flush(std::chrono::milliseconds timeout);

  // Records produced but not yet acknowledged.
  std::size_t outstanding() const;

 private:
  struct KafkaDeleter {
    void operator()(rd_kafka_t* rk) const;
  };
  // One per produced transaction; the opaque of each of its records.
  struct Tracker {
    Lsn end_lsn = 0;
    std::atomic<std::int64_t> pending{1};  // records in flight + 1 while producing
    bool failed = false;                   // guarded by mu_
  };

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void Release(Tracker* t);
  void Fail(Tracker* t, Status status);
  Status FirstError() const;
  Status Produce(const KafkaRecordOut& rec, Tracker* t);
  StatusOr<std::int32_t> PartitionCount(const std::string& topic);

  KafkaSinkOptions options_;
  EnvelopeEncoder encoder_;
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk_;
  std::atomic<Lsn> durable_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<Tracker>> inflight_;             // guarded by mu_; commit order
  Status error_;                                              // guarded by mu_; the first failure
  std::unordered_map<std::string, std::int32_t> partitions_;  // topic -> partition count
  std::vector<KafkaRecordOut> scratch_;
};

}  // namespace shardcast
