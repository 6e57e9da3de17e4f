// Live numbers of running jobs that the store does not keep (rates), shared
// by the backfill runner (writer) and the admin API (reader).
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "cdc/backfill_job.h"
#include "daemon/metrics.h"

namespace shardcast {

class JobBoard {
 public:
  // Progress also goes to these metrics when set (before any Record).
  void AttachMetrics(Metrics* metrics) { metrics_ = metrics; }

  // Rows a table of a job has reached; the rate is smoothed over chunks.
  void Record(const std::string& job, const std::string& table, std::uint64_t rows_done,
              std::uint64_t rows_total, bool done) {
    if (metrics_ != nullptr) metrics_->SnapshotProgress(job, table, rows_done, rows_total, done);
    std::lock_guard lock(mu_);
    auto& e = entries_[job + "/" + table];
    const auto now = std::chrono::steady_clock::now();
    if (e.seen) {
      const double secs = std::chrono::duration<double>(now - e.at).count();
      if (secs > 0 && rows_done >= e.rows) {
        const double rate = static_cast<double>(rows_done - e.rows) / secs;
        e.rate = e.rate == 0 ? rate : 0.7 * e.rate + 0.3 * rate;
      }
    }
    e.seen = true;
    e.rows = rows_done;
    e.at = now;
  }
  double RowsPerSecond(const std::string& job, const std::string& table) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(job + "/" + table);
    return it == entries_.end() ? 0.0 : it->second.rate;
  }

 private:
  struct Entry {
    bool seen = false;
    std::uint64_t rows = 0;
    double rate = 0;
    std::chrono::steady_clock::time_point at{};
  };
  Metrics* metrics_ = nullptr;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// A finished chunk of table t, range r of job: the chunk log line (tests
// assert from it that no finished chunk is redone) and the progress.
inline void ReportChunkDone(JobBoard* board, const BackfillJob& job, std::size_t t, std::size_t r,
                            std::uint32_t part, std::uint64_t rows, Lsn at) {
  const BackfillTable& bt = job.tables[t];
  spdlog::info("snapshot chunk done job={} table={} range={} part={} rows={} at={}", job.id,
               bt.QualifiedName(), r, part, rows, FormatLsn(at));
  if (board != nullptr) board->Record(job.id, bt.QualifiedName(), bt.rows_done, bt.rows_total, bt.done());
}

}  // namespace shardcast
