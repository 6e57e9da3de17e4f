// The first-start snapshot (DESIGN.md "Seeding and verifying"): the slot is
// created with an exported snapshot; snapshot.workers connections import it,
// the tables are split into primary-key ranges, and each range is read with
// COPY, routed row by row through the ring and bulk-loaded into its shards
// with COPY (one destination transaction per range), while Kafka receives
// op "r" records. Streaming then starts at the slot's consistent point.
//
// The job "initial" is in the checkpoint store before the slot exists and
// records every finished range (synced). A crash destroys the exported
// snapshot, so an interrupted snapshot is finished by the backfill runner
// (watermark chunks over the unfinished ranges), never started over.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "cdc/backfill_job.h"
#include "cdc/replication_stream.h"
#include "checkpoint/store.h"
#include "common/status.h"
#include "daemon/config.h"
#include "daemon/job_board.h"
#include "daemon/sink_factory.h"
#include "sharding/router.h"

namespace shardcast {

class InitialSnapshot {
 public:
  struct Inputs {
    const Config* config = nullptr;
    std::string source_dsn;
    std::string source_db;
    const Router* router = nullptr;
    CheckpointStore* store = nullptr;
    const std::atomic<bool>* stop = nullptr;
    JobBoard* board = nullptr;                 // progress for the admin API and metrics
    std::vector<std::string> destination_ids;  // every destination; all get the consistent point as progress
  };
  explicit InitialSnapshot(Inputs in) : in_(std::move(in)) {}

  // The job to store before the slot is created.
  static BackfillJob NewJob(const std::vector<TableSpec>& tables);

  // stream: a fresh replication connection; the slot is created on it and it
  // is closed before this returns (START_REPLICATION needs a new one). job:
  // the stored "initial" job. Returns the consistent point.
  StatusOr<Lsn> Run(ReplicationStream& stream, BackfillJob job);

 private:
  struct Worker;
  Status Plan(SnapshotReader& reader);
  Status LoadRange(Worker& w, std::size_t t, std::size_t r);
  Status RecordRange(std::size_t t, std::size_t r, std::uint64_t rows);

  Inputs in_;
  BackfillJob job_;
  std::vector<SnapshotTable> tables_;                 // by job table index
  std::vector<std::uint64_t> ordinal_base_;           // first Kafka ordinal of each table
  std::vector<std::vector<ShardDestination>> dests_;  // by ring shard index
  std::mutex job_mu_;                                 // guards job_ while workers record ranges
  Lsn consistent_point_ = 0;
  std::string snapshot_name_;
};

}  // namespace shardcast
