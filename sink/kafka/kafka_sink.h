// The Kafka feed as a Sink (DESIGN.md "Kafka messages", "Delivery"). Every
// change becomes one record (a delete also a tombstone) carrying its position
// header, so consumers can deduplicate what a replay sends twice.
//
// At-least-once (default): librdkafka's idempotent producer. A transaction is
// durable once every one of its records is acknowledged by the brokers
// (acks=all) and so is everything before it; a source transaction that
// arrives in pieces (Transaction::first_piece/last_piece) only at its last
// piece. Kafka keeps no marker, so Open() returns 0 and the checkpoint
// store's progress (resume_lsn) decides what is skipped.
//
// Exactly-once (options.exactly_once): the transactional producer. Each
// Apply batch is one Kafka transaction or more (split at a change boundary
// after max_txn_records or a third of transaction_timeout, so one source
// transaction may span several), and each Kafka transaction ends with a
// record in the compacted offsets topic (sink/kafka/kafka_offsets.h) saying
// how far it got. Open() fences any older producer with the same
// transactional id (aborting its open transaction), reads that record and
// returns its durable position; replay then skips what Kafka has, down to
// the change ordinal of a partially delivered source transaction.
// durable_lsn() moves only after a commit succeeded. Crash points:
// kafka.after_produce, kafka.in_transaction, kafka.after_commit.
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
#include "sink/kafka/kafka_offsets.h"
#include "sink/kafka/kafka_outage_log.h"
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

  // Exactly-once (see above). The daemon sets transactional_id to
  // "<prefix>.shardcast.<slot>" and offsets_topic to "<prefix>.shardcast.offsets"
  // (derived from prefix when empty).
  bool exactly_once = false;
  std::string transactional_id;
  std::string offsets_topic;
  // A Kafka transaction is committed, at a change boundary, once it holds
  // this many records or is a third of transaction_timeout old.
  std::size_t max_txn_records = 100000;
  std::chrono::milliseconds transaction_timeout{60000};  // transaction.timeout.ms
};

class KafkaSink : public Sink {
 public:
  explicit KafkaSink(KafkaSinkOptions options);
  ~KafkaSink() override;
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  const std::string& id() const override { return options_.id; }
  // Creates the producer and checks that a broker answers. Returns 0, or
  // with exactly_once the offsets topic's durable position (see above).
  StatusOr<Lsn> Open() override;
  // Produces the records of each transaction above durable_lsn() in order.
  // Never drops: a full producer queue is waited out by polling.
  Status Apply(const TxnBatch& batch) override;
  // Serves delivery reports; fails once any record failed permanently, naming
  // its topic, position header and librdkafka's error. Exactly-once: an
  // aborted transaction is kUnavailable (replay), a fenced producer
  // kFailedPrecondition naming the transactional id.
  Status Poll(std::chrono::milliseconds timeout) override;
  Lsn durable_lsn() const override { return durable_.load(std::memory_order_acquire); }
  // Flushes (exactly-once: aborts an open transaction) for up to
  // close_timeout, then destroys the producer.
  void Close() override;

  // Waits up to timeout until every record produced so far is acknowledged;
  // fails when one failed, or with kUnavailable on timeout.
  Status Flush(std::chrono::milliseconds timeout);

  // Records produced but not yet acknowledged.
  std::size_t outstanding() const;

  // Tests only: raises librdkafka's fatal error err (an rd_kafka_resp_err_t)
  // in this producer, as a broker does when another producer with the same
  // transactional id fenced it. The mock broker never fences: it gives every
  // init_transactions a new producer id instead of bumping the epoch.
  Status RaiseFatalErrorForTest(int err);

 private:
  struct KafkaDeleter {
    void operator()(rd_kafka_t* rk) const;
  };
  // One per produced transaction; the opaque of each of its records.
  struct Tracker {
    Lsn end_lsn = 0;
    bool last_piece = true;                // only a last piece makes end_lsn durable
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
  StatusOr<Lsn> OpenTransactional();
  Status ApplyTransactional(const TxnBatch& batch);
  Status BeginKafkaTxn();
  // Flushes the data, writes the offsets record, commits; on failure aborts.
  Status CommitKafkaTxn();
  // Aborts the open transaction after `why` and returns the Status to report.
  Status AbortKafkaTxn(Status why);
  const std::string& transactional_id() const { return options_.transactional_id; }

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
  std::unique_ptr<BrokerOutageLog> outage_;

  // Exactly-once state; worker thread only.
  bool txn_open_ = false;
  std::chrono::steady_clock::time_point txn_started_;
  std::size_t txn_records_ = 0;
  OffsetsMarker reached_;    // where the open Kafka transaction got (its offsets record)
  OffsetsMarker committed_;  // the last committed marker: replay skips up to it
};

}  // namespace shardcast
