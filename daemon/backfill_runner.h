// Runs snapshot/backfill jobs from the checkpoint store inside a streaming
// session, one chunk at a time, by the watermark protocol of
// cdc/watermark_window.h: low watermark, read the chunk, hand it to the
// reader, high watermark, wait until every destination made the high
// watermark's transaction durable, then record the chunk's cursor (synced).
// A crash or a session restart redoes at most the unrecorded chunk, which is
// harmless: chunk rows are upserts.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cdc/backfill_job.h"
#include "cdc/watermark_window.h"
#include "checkpoint/store.h"
#include "common/status.h"
#include "daemon/config.h"
#include "daemon/job_board.h"

namespace shardcast {

class BackfillRunner {
 public:
  struct Deps {
    const Config* config = nullptr;
    std::string source_dsn;
    CheckpointStore* store = nullptr;
    WatermarkCoordinator* coordinator = nullptr;
    JobBoard* board = nullptr;
    std::function<Lsn()> min_durable;  // over every destination
    std::string session_token;         // makes chunk ids unique per session
  };
  explicit BackfillRunner(Deps deps) : deps_(std::move(deps)) {}
  ~BackfillRunner() { Stop(); }

  // Before streaming starts: every table an unfinished job is backfilling is
  // marked active in the coordinator, so no change to it slips through as a
  // plain update before the runner gets to it.
  Status Prime(SnapshotReader& reader);
  Status Start();
  void Stop();
  // Set when a job failed in a way the session should stop for (none yet:
  // job failures are recorded in the job and logged).
  bool idle() const { return idle_.load(); }

 private:
  void Run();
  Status RunJob(BackfillJob& job);
  Status RunChunk(BackfillJob& job, std::size_t t, std::size_t r, SnapshotReader& reader,
                  const SnapshotTable& table);
  Status WaitDurable(Lsn lsn);

  Deps deps_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> idle_{true};
  std::uint64_t attempts_ = 0;  // chunk attempts in this session (runner thread)
};

// Loads the jobs of the store, in the order they run ("initial" first, then
// snap-1, snap-2, ...).
StatusOr<std::vector<BackfillJob>> LoadJobsInOrder(CheckpointStore& store);

}  // namespace shardcast
