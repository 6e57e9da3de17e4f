// One attempt at streaming: opens every destination, reconciles its progress
// with the checkpoint store and the slot, starts the apply workers and runs
// the reader loop until stopped or until something fails. Nothing survives
// the session but what is durable (destinations, RocksDB, the slot).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cdc/decoder.h"
#include "cdc/replication_stream.h"
#include "cdc/snapshot_reader.h"
#include "cdc/watermark_window.h"
#include "checkpoint/store.h"
#include "common/status.h"
#include "daemon/apply_hold.h"
#include "daemon/backfill_runner.h"
#include "daemon/checkpoint_writer.h"
#include "daemon/config.h"
#include "daemon/job_board.h"
#include "daemon/status_board.h"
#include "sharding/router.h"
#include "sink/dead_letter.h"
#include "sink/destination_worker.h"

namespace shardcast {

// What outlives a session: verify's hold and the job rates the admin API shows.
struct SessionShared {
  ApplyHold* hold = nullptr;
  JobBoard* board = nullptr;
  DeadLetterQueue* dead_letter = nullptr;  // on_error: dead_letter, else nullptr
  StatusBoard* status = nullptr;           // what /status, /readyz, metrics and systemd show
  // Set to end this session as stop does, not the process (a reload that
  // adds tables); nullptr: only stop ends it.
  const std::atomic<bool>* restart = nullptr;
};

class StreamSession {
 public:
  StreamSession(const Config& config, const std::string& source_dsn, const std::string& source_db,
                const Router& router, CheckpointStore& store, const std::atomic<bool>* stop,
                SessionShared shared);
  ~StreamSession();

  // Runs until *stop or *shared.restart (ok, after draining and
  // checkpointing) or a failure.
  Status Run();

 private:
  Status OpenDestinations(std::map<std::string, Lsn>& progress);
  Status PrepareSlot(const std::map<std::string, Lsn>& progress);
  // The commands that re-seed an out-of-sync destination.
  std::string ReseedHint(const std::string& id) const;
  // First start (no slot, no progress, no initial job): the initial snapshot.
  StatusOr<bool> IsFirstStart(const std::map<std::string, Lsn>& progress);
  Status RunInitialSnapshot();
  Status StartBackfill();
  // Waits (answering keepalives) while verify's hold covers this transaction.
  Status WaitWhileHeld(const Transaction& txn);
  void UpdateHold(bool waiting);
  Lsn MinDurable() const;
  Status ReadLoop();
  Status Dispatch(std::shared_ptr<Transaction> txn);
  Status PushToAll(const std::shared_ptr<const RoutedTransaction>& routed);
  // Fails when a destination came back (replay from the slot) or when every
  // destination is stopped for good; a destination that is down is not an
  // error of the session.
  Status CheckWorkers();
  Status PrepareDecoder();
  Status DispatchSpilled(SpilledTransaction& spilled);
  // Saves changed progress (one synced batch), then confirms the minimum to
  // the slot, on the checkpoint thread; wait: until that is done.
  Status Checkpoint(bool wait = false);
  Status SaveProgress(const std::map<std::string, Lsn>& changed);
  void Shutdown(bool drain);
  bool Stopping() const { return stop_->load() || (shared_.restart != nullptr && shared_.restart->load()); }
  // The loop's pulse, and the status snapshot others read (status_board.h).
  void Beat();
  void PublishStatus();

  const Config& config_;
  const std::string& source_dsn_;
  const std::string& source_db_;
  const Router& router_;
  CheckpointStore& store_;
  const std::atomic<bool>* stop_;

  SessionShared shared_;
  std::vector<std::unique_ptr<DestinationWorker>> workers_;
  std::unique_ptr<SnapshotReader> reread_reader_;  // reader thread only: backfill re-reads
  std::unique_ptr<WatermarkCoordinator> coordinator_;
  std::unique_ptr<BackfillRunner> runner_;
  std::unique_ptr<ReplicationStream> stream_;
  Decoder decoder_;
  std::map<std::string, Lsn> saved_progress_;  // loaded, then as handed to checkpoints_
  Lsn start_lsn_ = 0;
  Lsn last_pushed_lsn_ = 0;
  bool recovered_ = false;  // a destination came back: drain the others before the replay
  std::chrono::steady_clock::time_point last_checkpoint_{};
  std::chrono::steady_clock::time_point last_message_{};
  // After stream_: stopped (writing what is pending) before it goes.
  CheckpointWriter checkpoints_{
      [this](const std::map<std::string, Lsn>& changed) { return SaveProgress(changed); },
      [this](Lsn lsn) {
        if (stream_) stream_->SetFlushLsn(lsn);
      }};
};

}  // namespace shardcast
