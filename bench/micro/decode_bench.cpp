// pgoutput decoding (cdc/decoder.h): a Relation message, then 1000-row
// transactions of the bench row shape (Begin, Insert/Update/Delete..., Commit)
// fed one message at a time, as ReplicationStream does. Default options: the
// spill path is off. Reports wire bytes/s and changes/s.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/micro/row_shape.h"
#include "cdc/decoder.h"

namespace shardcast::bench {
namespace {

// Writes pgoutput protocol-1 messages (big-endian integers, C strings).
class WireBuilder {
 public:
  std::string RelationMsg(const Relation& rel) {
    Start('R');
    U32(rel.oid);
    Str(rel.schema);
    Str(rel.name);
    out_.push_back(rel.replica_identity);
    U16(static_cast<std::uint16_t>(rel.columns.size()));
    for (const Column& c : rel.columns) {
      out_.push_back(c.part_of_identity ? 1 : 0);
      Str(c.name);
      U32(c.type_oid);
      U32(static_cast<std::uint32_t>(c.type_modifier));
    }
    return Take();
  }
  std::string BeginMsg(const Transaction& t) {
    Start('B');
    U64(t.commit_lsn);
    U64(PgTime(t));
    U32(t.xid);
    return Take();
  }
  std::string ChangeMsg(const Change& c) {
    Start(c.op == Op::kInsert ? 'I' : c.op == Op::kUpdate ? 'U' : 'D');
    U32(c.relation->oid);
    if (c.old_kind != 0) {
      out_.push_back(c.old_kind);
      AppendTuple(c.old_tuple);
    }
    if (c.op != Op::kDelete) {
      out_.push_back('N');
      AppendTuple(c.new_tuple);
    }
    return Take();
  }
  std::string CommitMsg(const Transaction& t) {
    Start('C');
    out_.push_back(0);
    U64(t.commit_lsn);
    U64(t.end_lsn);
    U64(PgTime(t));
    return Take();
  }

 private:
  static std::uint64_t PgTime(const Transaction& t) {
    return static_cast<std::uint64_t>(t.commit_time_us - PgTimeToUnixMicros(0));
  }
  void Start(char type) {
    out_.clear();
    out_.push_back(type);
  }
  std::string Take() { return out_; }
  void Big(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void U16(std::uint16_t v) { Big(v, 2); }
  void U32(std::uint32_t v) { Big(v, 4); }
  void U64(std::uint64_t v) { Big(v, 8); }
  void Str(const std::string& s) { out_.append(s).push_back('\0'); }
  void AppendTuple(const Tuple& t) {
    U16(static_cast<std::uint16_t>(t.size()));
    for (const Value& v : t) {
      out_.push_back(static_cast<char>(v.kind));
      if (v.kind != Value::Kind::kText) continue;
      U32(static_cast<std::uint32_t>(v.text.size()));
      out_.append(v.text);
    }
  }

  std::string out_;
};

constexpr std::size_t kTransactions = 10;

// The messages of one stream: the Relation, then kTransactions transactions.
struct Stream {
  std::vector<std::string> messages;
  std::vector<std::shared_ptr<Transaction>> source;  // what the messages encode
  std::size_t bytes = 0;
  std::size_t changes = 0;
};

Stream MakeStream(bool mixed) {
  WireBuilder w;
  Stream s;
  s.messages.push_back(w.RelationMsg(*OrdersRelation()));
  Lsn end = 0x16B0000;
  for (std::size_t t = 0; t < kTransactions; ++t) {
    auto txn = OrdersTransaction(mixed, t * kTxnRows);
    txn->xid += static_cast<std::uint32_t>(t);
    txn->commit_lsn = end + 0x30000;
    txn->end_lsn = end = txn->commit_lsn + 0x38;
    s.messages.push_back(w.BeginMsg(*txn));
    for (const auto& c : txn->changes) s.messages.push_back(w.ChangeMsg(c));
    s.messages.push_back(w.CommitMsg(*txn));
    s.changes += txn->changes.size();
    s.source.push_back(std::move(txn));
  }
  for (const auto& m : s.messages) s.bytes += m.size();
  return s;
}

bool SameValues(const Tuple& a, const Tuple& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].kind != b[i].kind || a[i].text != b[i].text) return false;
  return true;
}

// True when decoding yields exactly the transactions the stream was built
// from: positions, ops, old and new rows.
bool RoundTrips(const Stream& s) {
  Decoder d;
  std::size_t t = 0;
  for (const auto& m : s.messages) {
    auto out = d.Feed(m);
    if (!out.ok()) return false;
    if (!out->committed) continue;
    if (t >= s.source.size()) return false;
    const Transaction& got = *out->committed;
    const Transaction& want = *s.source[t++];
    if (got.end_lsn != want.end_lsn || got.xid != want.xid || got.commit_time_us != want.commit_time_us ||
        got.changes.size() != want.changes.size())
      return false;
    for (std::size_t i = 0; i < got.changes.size(); ++i) {
      const Change& g = got.changes[i];
      const Change& w = want.changes[i];
      if (g.op != w.op || g.old_kind != w.old_kind || !SameValues(g.old_tuple, w.old_tuple) ||
          !SameValues(g.new_tuple, w.new_tuple))
        return false;
    }
  }
  return t == s.source.size();
}

// Decodes the whole stream with a fresh decoder; the number of changes in
// committed transactions, or -1 on an error or a missing commit.
long long DecodeAll(const Stream& s) {
  Decoder d;
  long long changes = 0;
  std::size_t commits = 0;
  for (const auto& m : s.messages) {
    auto out = d.Feed(m);
    if (!out.ok()) return -1;
    if (out->committed) {
      changes += static_cast<long long>(out->committed->changes.size());
      ++commits;
    }
    benchmark::DoNotOptimize(out);
  }
  return commits == kTransactions ? changes : -1;
}

// Arg: 0 inserts only, 1 mixed (6 inserts, 3 updates, 1 delete per 10 rows).
void BM_Decode(benchmark::State& state) {
  const Stream stream = MakeStream(state.range(0) != 0);
  // Checked once, outside the timing: every change of every transaction
  // comes out as it went in.
  if (!RoundTrips(stream) || DecodeAll(stream) != static_cast<long long>(stream.changes)) {
    state.SkipWithError("decoding did not give back the transactions the stream was built from");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(DecodeAll(stream));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * stream.changes));
  state.counters["wire_bytes_per_change"] = static_cast<double>(stream.bytes) / stream.changes;
}
BENCHMARK(BM_Decode)->ArgName("mixed")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace shardcast::bench
