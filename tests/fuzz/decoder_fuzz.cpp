// libFuzzer target for the pgoutput decoder (cdc/decoder.h). The input is a
// sequence of messages, each a 2-byte big-endian length and that many bytes,
// fed in order to one Decoder, so the fuzzer can build whole streams (Begin,
// Relation, Insert..., Commit); an incomplete last chunk is fed as it is. A
// zero-length chunk is a reconnect: the empty message, then ResetInFlight().
// Errors are expected; a crash, a leak, undefined behaviour, or a result that
// breaks the decoder's promises (checked below) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cdc/decoder.h"

namespace shardcast {
namespace {

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "decoder_fuzz: broken promise: %s\n", what);
  std::abort();
}

void CheckTuple(const Tuple& t, const Relation& rel, bool may_be_empty, const char* what) {
  Require(t.size() == rel.columns.size() || (may_be_empty && t.empty()), what);
  for (const auto& v : t)
    Require(v.kind == Value::Kind::kText || v.text.empty(), "text set on a non-text value");
}

// What a committed transaction promises: positions in order, changes in
// ordinal order, tuples shaped like their relation, and (no spill_dir) whole.
void CheckCommitted(const Transaction& txn, Lsn prev_end) {
  Require(txn.end_lsn >= txn.commit_lsn, "end_lsn before commit_lsn");
  Require(txn.prev_end_lsn == prev_end, "prev_end_lsn is not the previous end_lsn");
  Require(txn.first_piece && txn.last_piece, "a whole transaction is not both first and last piece");
  for (std::size_t i = 0; i < txn.changes.size(); ++i) {
    const Change& ch = txn.changes[i];
    Require(ch.ordinal == i, "ordinals are not 0, 1, 2, ...");
    if (ch.op == Op::kTruncate) {
      Require(ch.relation == nullptr, "truncate with a relation");
      for (const auto& r : ch.truncated) Require(r != nullptr, "truncate of a null relation");
      continue;
    }
    Require(ch.relation != nullptr, "row change without a relation");
    const Relation& rel = *ch.relation;
    switch (ch.op) {
      case Op::kInsert:
        Require(ch.old_kind == 0 && ch.old_tuple.empty(), "insert with an old tuple");
        CheckTuple(ch.new_tuple, rel, false, "insert tuple does not match its relation");
        break;
      case Op::kUpdate:
        Require(ch.old_kind == 0 || ch.old_kind == 'K' || ch.old_kind == 'O', "update old_kind");
        CheckTuple(ch.old_tuple, rel, ch.old_kind == 0, "update old tuple does not match its relation");
        CheckTuple(ch.new_tuple, rel, false, "update new tuple does not match its relation");
        break;
      case Op::kDelete:
        Require(ch.old_kind == 'K' || ch.old_kind == 'O', "delete old_kind");
        CheckTuple(ch.old_tuple, rel, false, "delete old tuple does not match its relation");
        Require(ch.new_tuple.empty(), "delete with a new tuple");
        break;
      default:
        Require(false, "unexpected op from the decoder");
    }
  }
}

void FeedOne(Decoder& d, std::string_view msg) {
  const bool was_in_txn = d.in_transaction();
  const Lsn prev_end = d.last_end_lsn();
  auto r = d.Feed(msg);
  if (!r.ok()) {
    Require(r.status().code() == Code::kCorruption, "an error other than kCorruption (no disk is used)");
    Require(!r.status().message().empty(), "an error without a message");
    Require(d.in_transaction() == was_in_txn, "a failed message changed the transaction state");
    Require(d.last_end_lsn() == prev_end, "a failed message moved last_end_lsn");
    return;
  }
  Require(r->spilled == nullptr, "spilled without a spill_dir");
  if (r->committed) {
    Require(was_in_txn && !d.in_transaction(), "commit outside a transaction");
    CheckCommitted(*r->committed, prev_end);
    Require(d.last_end_lsn() == r->committed->end_lsn, "last_end_lsn is not the commit's end_lsn");
  }
  if (r->message) {
    Require(r->message->transactional == d.in_transaction(), "message transactional flag vs state");
  }
}

}  // namespace
}  // namespace shardcast

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shardcast;
  DecoderOptions options;
  options.spill_dir.clear();  // never spill: no disk in the fuzzer
  Decoder d(options);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    std::size_t len = in.size() < 2 ? in.size()
                                    : (static_cast<std::size_t>(static_cast<std::uint8_t>(in[0])) << 8 |
                                       static_cast<std::uint8_t>(in[1]));
    if (in.size() >= 2) in.remove_prefix(2);
    std::string_view msg = in.substr(0, len);  // short: the rest, as a truncated message
    in.remove_prefix(msg.size());
    FeedOne(d, msg);
    if (msg.empty()) d.ResetInFlight();
  }
  return 0;
}
