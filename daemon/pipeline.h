// The running daemon: source stream -> decoder -> router -> one apply worker
// per destination, with progress checkpointed in RocksDB and the slot's flush
// LSN held at the minimum durable position over all destinations.
//
// Recovery is replay: when the source or a destination fails, every stage is
// torn down, and after a backoff the stream restarts from the slot; each
// destination skips what its progress says it has.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/store.h"
#include "common/status.h"
#include "daemon/admin_server.h"
#include "daemon/apply_hold.h"
#include "daemon/config.h"
#include "daemon/job_board.h"
#include "daemon/metrics.h"
#include "daemon/status_board.h"
#include "sharding/router.h"
#include "sink/dead_letter.h"

namespace shardcast {

class Pipeline {
 public:
  // stop is set (by the signal thread) to end Run() gracefully.
  Pipeline(Config config, const std::atomic<bool>* stop);
  ~Pipeline();

  // Runs until stopped (returns ok) or until an error retrying cannot fix.
  Status Run();

  // What the daemon is doing; thread-safe (systemd notifications read it).
  StatusBoard& status_board() { return status_; }

  // From another thread (SIGHUP): stream reloaded's tables, which add to the
  // ones in force and differ in nothing else (LiveAddableTables). The stream
  // session stops as on SIGTERM (drained, checkpointed: the next one replays
  // from the slot), Prepare runs with the new tables (publication, router),
  // and a new session starts. A table Prepare rejects is logged and the
  // tables in force stay. A later request replaces one not yet taken.
  void RequestTablesReload(Config reloaded);
  // The configured tables the pipeline runs with; thread-safe.
  std::vector<TableConfig> tables_in_force() const;

 private:
  Status Prepare();
  // The tables of a pending reload, if any (pipeline thread).
  std::optional<std::vector<TableConfig>> TakeReload();
  // After a reload's Prepare: what the operator must know about the added tables.
  void ReportAddedTables(const Config& before) const;
  void PublishConfig();
  Status StartAdmin();
  Status RunOnce();
  bool SleepUnlessStopped(std::chrono::milliseconds d) const;

  Config config_;
  const std::atomic<bool>* stop_;
  std::string source_dsn_;
  std::string source_db_;
  std::unique_ptr<CheckpointStore> store_;
  std::vector<TableSpec> tables_;
  std::shared_ptr<const Ring> ring_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Metrics> metrics_;
  ApplyHold hold_;
  JobBoard board_;
  StatusBoard status_;
  std::unique_ptr<DeadLetterQueue> dead_letter_;  // on_error: dead_letter
  std::unique_ptr<AdminServer> admin_;            // after store_: its handlers use the store

  // A reload handed over by another thread, and the session-level stop it
  // raises (the process's stop_ stays for SIGTERM): both under reload_mu_.
  mutable std::mutex reload_mu_;
  std::optional<std::vector<TableConfig>> pending_tables_;
  std::atomic<bool> restart_session_{false};
  // config_ as of the last Prepare, for other threads (admin API, supervisor).
  std::shared_ptr<const Config> published_;  // guarded by reload_mu_
};

}  // namespace shardcast
