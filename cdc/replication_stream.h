// A streaming replication connection (libpq, replication=database) to the
// source. Pins the settings that shape text output (DateStyle=ISO,
// TimeZone=UTC, extra_float_digits=3, bytea_output=hex,
// IntervalStyle=postgres). Answers keepalives itself and sends standby status
// updates carrying the flush LSN at a fixed interval and when asked.
// Used by one thread (the reader); SetFlushLsn may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"
#include "common/status.h"

namespace shardcast {

struct SystemInfo {
  std::string system_identifier;
  int timeline = 0;
  Lsn xlogpos = 0;
  std::string dbname;
};

struct SlotInfo {
  Lsn confirmed_flush_lsn = 0;
  Lsn restart_lsn = 0;
  std::string wal_status;  // "reserved", "extended", "unreserved", "lost"
  std::string plugin;
  std::string database;
};

// One XLogData payload: a pgoutput message.
struct WalMessage {
  Lsn wal_start = 0;
  Lsn wal_end = 0;
  std::string_view data;  // valid until the next call to Next()
};

class ReplicationStream {
 public:
  // dsn is the user's source DSN; replication=database and the pinned
  // settings are added. Fails with kUnavailable when the server is down.
  static StatusOr<std::unique_ptr<ReplicationStream>> Connect(const std::string& dsn);
  ~ReplicationStream();

  StatusOr<SystemInfo> IdentifySystem();
  // Creates a logical slot with pgoutput. Returns false when it already exists.
  StatusOr<bool> CreateSlot(const std::string& slot);
  // Creates a logical pgoutput slot that exports a snapshot (SNAPSHOT
  // 'export'): the snapshot lives until this connection runs its next
  // command, so import it (SnapshotReader::ImportSnapshot) before anything
  // else is sent here. temporary: the slot is dropped when this connection
  // closes (verify). kFailedPrecondition naming the slot when it exists.
  struct ExportedSlot {
    Lsn consistent_point = 0;
    std::string snapshot_name;
  };
  StatusOr<ExportedSlot> CreateSlotExported(const std::string& slot, bool temporary);
  // Starts streaming (proto_version '1', publication_names) from start.
  Status Start(const std::string& slot, const std::string& publication, Lsn start);

  // Waits up to timeout for the next XLogData. nullopt on timeout (a status
  // update is still sent when due). Keepalives are handled inside. When the
  // socket ran dry within 1 ms of the last message (a busy stream), it first
  // sleeps 0.5 ms so one wake-up reads many messages.
  StatusOr<std::optional<WalMessage>> Next(std::chrono::milliseconds timeout);

  // The flush/apply LSN reported in standby status updates. Never moves back.
  void SetFlushLsn(Lsn lsn);
  Lsn flush_lsn() const { return flush_lsn_.load(); }
  // Sends a standby status update now.
  Status SendStatus(bool reply_requested = false);
  // Highest wal_end the server reported (keepalive or XLogData).
  Lsn server_wal_end() const { return server_wal_end_; }
  // True when the last keepalive said the server has nothing more to send
  // beyond server_wal_end() for now (used to confirm wal_end when idle).
  std::chrono::milliseconds status_interval{1000};

  void Close();

 private:
  ReplicationStream() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<Lsn> flush_lsn_{0};
  Lsn server_wal_end_ = 0;
};

}  // namespace shardcast
