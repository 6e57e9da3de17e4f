// The RocksDB checkpoint store (DESIGN.md "Checkpoint store"). Column
// families: progress, ring, jobs, twopc, backlog, plus default for metadata.
// Every write a restart depends on is one synced WriteBatch: when a Put
// returns ok, it survives a crash of the process or the machine; when it
// fails, none of the batch is applied (the WAL record is atomic) and the
// store refuses further writes until it is reopened.
// Errors name checkpoint.dir and the fix: kIoError for the disk (directory
// missing, unwritable or a regular file, disk full, file size limit, another
// process holding the lock), kCorruption for files that do not read back.
// Memtables and the block cache are a few MiB in all (the daemon's memory bound).
// Thread-safe: RocksDB serialises writers.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "common/status.h"

namespace shardcast {

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;

  // Opens or creates the store under dir (created if missing). Fails with
  // kIoError naming the directory when it is unwritable, full or not a
  // directory, and with kCorruption when the files do not open as a store.
  static StatusOr<std::unique_ptr<CheckpointStore>> Open(const std::string& dir);

  // Destination id -> end_lsn of the last transaction durable there.
  virtual StatusOr<std::map<std::string, Lsn>> LoadProgress() = 0;
  virtual Status SaveProgress(const std::map<std::string, Lsn>& progress) = 0;
  // Removes one destination's progress, or all when destination is empty.
  virtual Status ResetProgress(const std::string& destination) = 0;

  // Small metadata (e.g. "source.system_identifier", "source.slot").
  virtual StatusOr<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;

  // Ring epochs: epoch -> (definition, activation end_lsn).
  struct RingRecord {
    std::string definition;
    Lsn activation_lsn = 0;
  };
  virtual Status PutRing(std::uint64_t epoch, const RingRecord& record) = 0;
  virtual StatusOr<std::map<std::uint64_t, RingRecord>> LoadRings() = 0;

  // Jobs (snapshot, backfill, rebalance): id -> serialized state, opaque
  // here. PutJob is synced: a chunk recorded done stays done after a crash.
  virtual Status PutJob(const std::string& id, const std::string& state) = 0;
  virtual StatusOr<std::map<std::string, std::string>> LoadJobs() = 0;
  virtual Status DeleteJob(const std::string& id) = 0;
};

}  // namespace shardcast
