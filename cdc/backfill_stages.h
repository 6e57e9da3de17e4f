// One backfill chunk as a stage machine (DBLog, DESIGN.md "Seeding and
// verifying"): write the low watermark, read the chunk, write the high
// watermark, wait until the stream appended the chunk at the high
// watermark, wait until every destination made that durable, record the
// chunk's cursor in the job. The I/O is behind ChunkPorts, so re-seeding a
// table, finishing an interrupted initial snapshot and (later) copying the
// keys a rebalance moves all drive the same stages with their own reads
// and durability tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/backfill_job.h"
#include "cdc/watermark_window.h"
#include "common/status.h"

namespace shardcast {

enum class ChunkStage { kLowWatermark, kRead, kHighWatermark, kAwaitEmitted, kAwaitDurable, kRecord, kDone };
std::string_view ChunkStageName(ChunkStage stage);

struct ChunkPorts {
  std::function<Status(const std::string& sql)> exec;  // runs a watermark INSERT on the source (autocommit)
  // At most limit rows of the range, in key order, read after the low watermark committed.
  std::function<StatusOr<std::vector<Tuple>>(const KeyRange& range, std::int64_t limit)> read;
  // The high watermark's end_lsn, once the stream appended the chunk there.
  std::function<StatusOr<Lsn>(const std::string& chunk_id)> await_emitted;
  // Returns once every destination has made lsn durable.
  std::function<Status(Lsn lsn)> await_durable;
  std::function<Status(const BackfillJob& job)> save;  // synced
};

class ChunkRun {
 public:
  // The next chunk of range r of table t of job. chunk_id must be unique per
  // streaming session (replayed watermarks of older chunks must not match).
  ChunkRun(BackfillJob& job, std::size_t t, std::size_t r, const SnapshotTable& table,
           WatermarkCoordinator& coordinator, std::string chunk_id, std::int64_t chunk_rows);

  ChunkStage stage() const { return stage_; }
  // Performs the current stage and moves to the next. A failure abandons the
  // chunk (nothing of it is recorded; running it again redoes it).
  Status Step(const ChunkPorts& ports);
  Status RunToEnd(const ChunkPorts& ports);

  std::size_t rows() const { return rows_; }
  Lsn emitted_at() const { return emitted_; }
  std::uint32_t part() const { return part_; }  // the chunk's number within its range (the chunk log)

 private:
  Status DoStep(const ChunkPorts& ports);

  BackfillJob& job_;
  std::size_t t_, r_;
  const SnapshotTable& table_;
  WatermarkCoordinator& coordinator_;
  std::string chunk_id_;
  std::int64_t chunk_rows_;
  ChunkStage stage_ = ChunkStage::kLowWatermark;
  std::vector<Tuple> rows_read_;
  std::optional<Tuple> last_key_;
  std::size_t rows_ = 0;
  Lsn emitted_ = 0;
  std::uint32_t part_ = 0;
};

}  // namespace shardcast
