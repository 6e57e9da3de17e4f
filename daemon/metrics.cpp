#include "daemon/metrics.h"

#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <algorithm>

namespace shardcast {

StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return Unavailable("metrics.listen " + listen + ": cannot serve metrics there (" + e.what() +
                       "): pick a free host:port");
  }
  m->exposer_->RegisterCollectable(m->registry_);
  m->snapshot_rows_ = &prometheus::BuildGauge()
                           .Name("shardcast_snapshot_rows")
                           .Help("Rows copied so far by a snapshot or backfill job, per table")
                           .Register(*m->registry_);
  m->snapshot_expected_ = &prometheus::BuildGauge()
                               .Name("shardcast_snapshot_rows_expected")
                               .Help("Rows a snapshot or backfill job expects to copy (estimate), per table")
                               .Register(*m->registry_);
  m->snapshot_ratio_ = &prometheus::BuildGauge()
                            .Name("shardcast_snapshot_progress_ratio")
                            .Help("Share of a table a snapshot or backfill job has copied (1 when done)")
                            .Register(*m->registry_);
  return m;
}

Metrics::~Metrics() = default;

void Metrics::SnapshotProgress(const std::string& job, const std::string& table, std::uint64_t rows_done,
                               std::uint64_t rows_total, bool done) {
  const prometheus::Labels labels{{"job", job}, {"table", table}};
  snapshot_rows_->Add(labels).Set(static_cast<double>(rows_done));
  snapshot_expected_->Add(labels).Set(static_cast<double>(std::max(rows_total, rows_done)));
  double ratio = done ? 1.0 : (rows_total == 0 ? 0.0 : static_cast<double>(rows_done) / rows_total);
  snapshot_ratio_->Add(labels).Set(std::min(ratio, 1.0));
}

}  // namespace shardcast
