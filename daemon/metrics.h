// The Prometheus exposer at metrics.listen (DESIGN.md "Observability").
// Holds the registry and the metric families; stages report through it.
// Thread-safe (prometheus-cpp metrics are atomic).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace prometheus {
class Exposer;
class Registry;
template <typename T>
class Family;
class Gauge;
}  // namespace prometheus

namespace shardcast {

class Metrics {
 public:
  // Serves GET /metrics on listen ("host:port"). kUnavailable naming the
  // address when it cannot bind.
  static StatusOr<std::unique_ptr<Metrics>> Start(const std::string& listen);
  ~Metrics();

  // shardcast_snapshot_rows{job,table}, shardcast_snapshot_rows_expected and
  // shardcast_snapshot_progress_ratio (rows / expected, 1 when done).
  void SnapshotProgress(const std::string& job, const std::string& table, std::uint64_t rows_done,
                        std::uint64_t rows_total, bool done);

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Gauge>* snapshot_rows_ = nullptr;
  prometheus::Family<prometheus::Gauge>* snapshot_expected_ = nullptr;
  prometheus::Family<prometheus::Gauge>* snapshot_ratio_ = nullptr;
};

}  // namespace shardcast
