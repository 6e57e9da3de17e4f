// Debezium envelope encoding (sink/kafka/envelope.h): EnvelopeEncoder::Encode
// per change of a routed 1000-row transaction (4 shards), into a reused
// record vector, as KafkaSink::Apply calls it. Inserts carry only "after";
// updates (REPLICA IDENTITY FULL) carry "before" and "after". Reports
// messages/s and bytes/s of key and value produced.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "bench/micro/row_shape.h"
#include "sink/kafka/envelope.h"

namespace shardcast::bench {
namespace {

constexpr std::int64_t kNowMs = 1'796'671'160'500;

std::size_t RecordBytes(const std::vector<KafkaRecordOut>& records) {
  std::size_t n = 0;
  for (const auto& r : records) n += (r.key ? r.key->size() : 0) + (r.value ? r.value->size() : 0);
  return n;
}

// Arg: 0 inserts, 1 updates.
void BM_EnvelopeEncode(benchmark::State& state) {
  const bool updates = state.range(0) != 0;
  const Op op = updates ? Op::kUpdate : Op::kInsert;
  Router router(OrdersTables(), MakeRing(4));
  auto routed = router.Route(OrdersTransaction(/*mixed=*/updates));
  if (!routed.ok()) {
    state.SkipWithError(routed.status().ToString().c_str());
    return;
  }
  const RoutedTransaction& rt = **routed;
  std::vector<std::size_t> indexes;  // the changes of the measured kind
  for (std::size_t i = 0; i < rt.txn->changes.size(); ++i)
    if (rt.txn->changes[i].op == op) indexes.push_back(i);

  EnvelopeOptions options;
  options.source_db = "app";
  const EnvelopeEncoder encoder(options, OrdersTables());
  std::vector<KafkaRecordOut> records;

  // Checked once: one record per change, with a key and the right op.
  const std::string op_field = std::string("\"op\":\"") + static_cast<char>(op) + "\"";
  for (std::size_t i : indexes) {
    records.clear();
    Status s = encoder.Encode(rt, i, kNowMs, records);
    if (!s.ok() || records.size() != 1 || !records[0].key || !records[0].value ||
        records[0].value->find(op_field) == std::string::npos ||
        (updates && records[0].value->rfind(R"({"before":null)", 0) == 0)) {
      state.SkipWithError(s.ok() ? "envelope is not one keyed record of the change's op"
                                 : s.ToString().c_str());
      return;
    }
  }

  std::size_t next = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    records.clear();
    Status s = encoder.Encode(rt, indexes[next], kNowMs, records);
    benchmark::DoNotOptimize(s);
    bytes += RecordBytes(records);
    if (++next == indexes.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  if (!records.empty() && records[0].value)
    state.counters["value_bytes"] = static_cast<double>(records[0].value->size());
}
BENCHMARK(BM_EnvelopeEncode)->ArgName("update")->Arg(0)->Arg(1);

}  // namespace
}  // namespace shardcast::bench
