// Shard apply batch building (sink/postgres/sql_builder.h): what
// ShardSink::Apply does with a batch before anything reaches the server:
// ActionFor per change, SqlBuilder::Add, then the progress row and COMMIT,
// with chunks of the default max_statement_bytes (1 MiB) handed to a sender
// that only counts them. No server: sending and the server's work are not
// measured. The ring has one shard, so all 1000 rows of the batch are this
// shard's. Reports rows/s and bytes/s of SQL text built.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/micro/row_shape.h"
#include "sink/postgres/sql_builder.h"

namespace shardcast::bench {
namespace {

constexpr std::size_t kMaxStatementBytes = 1 << 20;  // ShardSink::Options::max_statement_bytes
constexpr char kProgressSql[] =                      // as ShardSink::ProgressSql writes it
    "INSERT INTO shardcast.progress (destination, end_lsn, updated_at) VALUES ('s0@us-east', '0/16B3A38', "
    "now()) ON CONFLICT (destination) DO UPDATE SET end_lsn = EXCLUDED.end_lsn, updated_at = "
    "EXCLUDED.updated_at";

struct Built {
  Status status;
  std::size_t chunks = 0;
  std::size_t bytes = 0;
  std::size_t rows = 0;  // rows carried by the row statements
  std::size_t statements = 0;
};

// Builds the SQL of batches for shard 0 the way ShardSink::Apply does: one
// builder for the sink's lifetime, Reset per batch, and a sender that swaps
// in the buffer of the chunk sent before (ShardSink keeps it as in flight).
class BatchBuilder {
 public:
  explicit BatchBuilder(const std::vector<TableSpec>& tables)
      : builder_(tables, kMaxStatementBytes, [this](SqlChunk& chunk) {
          ++built_.chunks;
          built_.bytes += chunk.sql.size();
          built_.statements += chunk.statements.size();
          for (const auto& s : chunk.statements) built_.rows += s.rows;
          benchmark::DoNotOptimize(chunk.sql.data());
          in_flight_.sql.clear();
          in_flight_.statements.clear();
          std::swap(in_flight_, chunk);
          return Status::Ok();
        }) {}

  Built Build(const RoutedTransaction& rt) {
    built_ = {};
    builder_.Reset();
    const Transaction& txn = *rt.txn;
    Status s = builder_.AddStatement("BEGIN", "BEGIN");
    for (std::size_t i = 0; s.ok() && i < txn.changes.size(); ++i) {
      const ShardAction action = ActionFor(txn.changes[i], rt.placements[i], 0);
      if (action != ShardAction::kSkip)
        s = builder_.Add(action, txn.changes[i], rt.placements[i], txn.end_lsn);
    }
    if (s.ok()) s = builder_.AddStatement(kProgressSql, "progress row", txn.end_lsn);
    if (s.ok()) s = builder_.AddStatement("COMMIT", "COMMIT", txn.end_lsn);
    if (s.ok()) s = builder_.Finish();
    built_.status = s;
    return built_;
  }

 private:
  Built built_;
  SqlChunk in_flight_;
  SqlBuilder builder_;
};

// Arg: 0 inserts only (one multi-row INSERT), 1 mixed (per ten rows six
// inserts, three updates, one delete: INSERT groups, one UPDATE per row,
// DELETE ... IN groups).
void BM_ApplyBatchSql(benchmark::State& state) {
  const std::vector<TableSpec> tables = OrdersTables();
  Router router(tables, MakeRing(1));
  auto routed = router.Route(OrdersTransaction(state.range(0) != 0));
  if (!routed.ok()) {
    state.SkipWithError(routed.status().ToString().c_str());
    return;
  }
  const RoutedTransaction& rt = **routed;

  // Checked once: every row of the batch is in the SQL, and inserts are grouped
  // (BEGIN, one INSERT, progress, COMMIT).
  BatchBuilder batches(tables);
  const Built first = batches.Build(rt);
  if (!first.status.ok()) {
    state.SkipWithError(first.status.ToString().c_str());
    return;
  }
  if (first.rows != kTxnRows || first.bytes == 0 || (state.range(0) == 0 && first.statements != 4)) {
    state.SkipWithError("the batch's SQL does not carry every row once");
    return;
  }

  for (auto _ : state) benchmark::DoNotOptimize(batches.Build(rt));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kTxnRows));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * first.bytes));
  state.counters["statements"] = static_cast<double>(first.statements);
  state.counters["sql_bytes_per_row"] = static_cast<double>(first.bytes) / kTxnRows;
}
BENCHMARK(BM_ApplyBatchSql)->ArgName("mixed")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace shardcast::bench
