// What the running daemon is doing, as one snapshot: written by the stream
// session (reader thread) and read by the admin API (/status, /readyz), the
// metrics exposer and systemd's STATUS= line. The session publishes at each
// checkpoint (a few times a second); readers copy. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/lsn.h"

namespace shardcast {

class Metrics;

struct DestinationStatus {
  std::string id;       // "s0@us-east" or "kafka"
  std::string state;    // "running", "down", "recovered", "stopped"
  std::string error;    // why it is down or stopped; never holds a DSN
  Lsn durable_lsn = 0;  // end_lsn of the last transaction durable there
  Lsn queued_lsn = 0;   // end_lsn of the last complete transaction queued
  std::uint64_t queue_bytes = 0;
  double lag_seconds = 0;  // commit time of the oldest transaction queued but not durable, to now
};

struct DaemonStatus {
  bool streaming = false;  // the stream started in this session (READY=1)
  std::string slot;
  Lsn source_flush_lsn = 0;  // pg_current_wal_lsn() on the source, sampled
  Lsn received_lsn = 0;      // end_lsn of the last transaction decoded
  Lsn confirmed_lsn = 0;     // flush LSN confirmed to the slot
  std::uint64_t source_lag_bytes = 0;
  double source_lag_seconds = 0;
  std::uint64_t transactions = 0;  // decoded since start
  std::uint64_t changes = 0;
  std::uint64_t ring_epoch = 0;
  std::vector<std::string> ring_shards;  // "s0:1" (id:weight)
  std::uint32_t ring_vnodes_per_weight = 0;
  // WAL the slot keeps (pg_current_wal_lsn() - restart_lsn) and the server's
  // max_slot_wal_keep_size in bytes (-1: unlimited), sampled.
  std::int64_t slot_retained_bytes = 0;
  std::int64_t slot_wal_keep_bytes = -1;
  std::vector<DestinationStatus> destinations;
  std::string last_error;  // the session's last failure, while it retries
  std::chrono::system_clock::time_point updated{};
};

// What the source sampler (metrics.h) last read from the source server.
struct SourceSample {
  bool valid = false;  // false until the first sample succeeded
  Lsn current_lsn = 0;
  std::int64_t slot_retained_bytes = 0;
  std::int64_t slot_wal_keep_bytes = -1;
};

class StatusBoard {
 public:
  // The metrics the session reports through (nullptr: none). Set once, before
  // any session starts.
  void AttachMetrics(Metrics* metrics) { metrics_ = metrics; }
  Metrics* metrics() const { return metrics_; }

  void SetSourceSample(const SourceSample& sample) {
    std::lock_guard lock(mu_);
    sample_ = sample;
  }
  SourceSample source_sample() const {
    std::lock_guard lock(mu_);
    return sample_;
  }

  // The reader loop's pulse (systemd WATCHDOG=1 is sent only while it beats,
  // so a wedged loop gets the daemon restarted).
  void Beat() { last_beat_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count()); }
  std::chrono::steady_clock::time_point last_beat() const {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_beat_ns_.load()));
  }

  void Publish(DaemonStatus status) {
    status.updated = std::chrono::system_clock::now();
    std::lock_guard lock(mu_);
    status_ = std::move(status);
  }
  DaemonStatus Get() const {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  mutable std::mutex mu_;
  DaemonStatus status_;
  SourceSample sample_;
  Metrics* metrics_ = nullptr;
  std::atomic<std::chrono::steady_clock::rep> last_beat_ns_{0};
};

}  // namespace shardcast
