// Hand-built pgoutput messages for each way a stream can be malformed, and
// the decoder's state rules (relations replaced, failed changes not kept).
#include <gtest/gtest.h>

// GCC 12 reports "literal" + std::string as overlapping memcpy at -O2 (GCC
// bug 105329, a false positive); the messages here are built that way.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <string>

#include "cdc/decoder.h"

namespace shardcast {
namespace {

std::string Be(std::uint64_t v, int bytes) {
  std::string s(static_cast<std::size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return s;
}
std::string Str(const std::string& s) {
  return s + std::string(1, '\0');
}

std::string Begin(std::uint32_t xid = 7) {
  return "B" + Be(0x100, 8) + Be(5, 8) + Be(xid, 4);
}
std::string Commit(std::uint64_t lsn = 0x100, std::uint64_t end = 0x130) {
  return "C" + std::string(1, '\0') + Be(lsn, 8) + Be(end, 8) + Be(5, 8);
}
// Relation oid with columns named c0..c(n-1), first one in the identity.
std::string Rel(std::uint32_t oid, int ncols, const std::string& nsp = "public",
                const std::string& name = "t") {
  std::string m = "R";
  m += Be(oid, 4);
  m += Str(nsp);
  m += Str(name);
  m += 'd';
  m += Be(static_cast<std::uint64_t>(ncols), 2);
  for (int i = 0; i < ncols; ++i) {
    m += i == 0 ? '\1' : '\0';
    m += 'c';
    m += std::to_string(i);
    m += '\0';
    m += Be(23, 4);
    m += Be(0xFFFFFFFF, 4);
  }
  return m;
}
std::string TextCol(const std::string& v) {
  return "t" + Be(v.size(), 4) + v;
}
std::string Tup(const std::vector<std::string>& cols) {
  std::string m = Be(cols.size(), 2);
  for (const auto& c : cols) m += c;
  return m;
}
std::string Insert(std::uint32_t oid, const std::vector<std::string>& cols) {
  return "I" + Be(oid, 4) + "N" + Tup(cols);
}

void FeedOk(Decoder& d, const std::string& m) {
  auto r = d.Feed(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}
Status FeedErr(Decoder& d, const std::string& m) {
  auto r = d.Feed(m);
  EXPECT_FALSE(r.ok());
  return r.status();
}
void ExpectCorruption(const Status& s, const std::string& needle) {
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

TEST(CdcDecoderErrors, UnknownAndEmptyMessages) {
  Decoder d;
  ExpectCorruption(FeedErr(d, "Zabc"), "unknown pgoutput message type 0x5a");
  ExpectCorruption(FeedErr(d, ""), "empty");
  ExpectCorruption(FeedErr(d, "S" + Be(1, 4) + "\1"), "unknown");  // protocol-2 stream start
}

TEST(CdcDecoderErrors, BinaryTupleValue) {
  Decoder d;
  FeedOk(d, Rel(1, 1));
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Insert(1, {"b" + Be(1, 4) + "x"})), "binary");
  ExpectCorruption(FeedErr(d, Insert(1, {"x"})), "unknown column kind");
}

std::string Truncate(std::uint32_t oid) {
  return "T" + Be(1, 4) + std::string(1, '\0') + Be(oid, 4);
}

TEST(CdcDecoderErrors, ChangesOutsideTransaction) {
  Decoder d;
  FeedOk(d, Rel(1, 1));
  ExpectCorruption(FeedErr(d, Insert(1, {TextCol("1")})),
                   "Insert message at offset 0: change outside a transaction");
  ExpectCorruption(FeedErr(d, "D" + Be(1, 4) + "K" + Tup({TextCol("1")})), "Delete");
  ExpectCorruption(FeedErr(d, "U" + Be(1, 4) + "N" + Tup({TextCol("1")})), "Update");
  ExpectCorruption(FeedErr(d, Truncate(1)), "Truncate");
  ExpectCorruption(FeedErr(d, Commit()), "Commit outside a transaction");
  ExpectCorruption(FeedErr(d, "O" + Be(1, 8) + Str("x")), "Origin outside");
}

TEST(CdcDecoderErrors, BeginInsideTransaction) {
  Decoder d;
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Begin()), "Begin inside a transaction");
  d.ResetInFlight();
  EXPECT_FALSE(d.in_transaction());
  FeedOk(d, Begin());  // the server resends from Begin after a reconnect
}

TEST(CdcDecoderErrors, UnknownRelation) {
  Decoder d;
  FeedOk(d, Rel(1, 1));
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Insert(2, {TextCol("1")})), "unknown relation id 2");
  ExpectCorruption(FeedErr(d, Truncate(2)), "unknown relation id 2");
}

TEST(CdcDecoderErrors, ColumnCountMismatch) {
  Decoder d;
  FeedOk(d, Rel(1, 2));
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Insert(1, {TextCol("1")})), "tuple has 1 columns, relation public.t has 2");
  ExpectCorruption(FeedErr(d, Insert(1, {TextCol("1"), "n", "n"})), "tuple has 3 columns");
  // The old tuple is checked too.
  ExpectCorruption(FeedErr(d, "D" + Be(1, 4) + "K" + Tup({TextCol("1")})), "tuple has 1 columns");
}

TEST(CdcDecoderErrors, MalformedFields) {
  Decoder d;
  FeedOk(d, Rel(1, 1));
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Insert(1, {"t" + Be(0xFFFFFFFF, 4)})), "negative value length");
  ExpectCorruption(FeedErr(d, Insert(1, {"t" + Be(100, 4) + "abc"})), "truncated");
  ExpectCorruption(FeedErr(d, "I" + Be(1, 4) + "K" + Tup({TextCol("1")})), "expected 'N'");
  ExpectCorruption(FeedErr(d, "D" + Be(1, 4) + "N" + Tup({TextCol("1")})), "expected 'K' or 'O'");
  ExpectCorruption(FeedErr(d, "U" + Be(1, 4) + "K" + Tup({TextCol("1")}) + "K" + Tup({TextCol("1")})),
                   "expected 'N'");
  ExpectCorruption(FeedErr(d, Insert(1, {TextCol("1")}) + "x"), "1 trailing bytes");
  ExpectCorruption(FeedErr(d, "T" + Be(0x7FFFFFFF, 4) + std::string(1, '\0') + Be(1, 4)), "does not fit");
  ExpectCorruption(FeedErr(d, "T" + Be(0xFFFFFFFF, 4) + std::string(1, '\0')), "does not fit");
  ExpectCorruption(FeedErr(d, "I" + Be(1, 4) + "N" + Be(0xFFFF, 2)), "tuple has -1 columns");
  ExpectCorruption(FeedErr(d, "M" + std::string(1, '\1') + Be(1, 8) + Str("p") + Be(0xFFFFFFFF, 4)),
                   "negative");
  Decoder d2;
  ExpectCorruption(FeedErr(d2, "R" + Be(1, 4) + Str("s") + Str("t") + "x" + Be(0, 2)), "replica identity");
  ExpectCorruption(FeedErr(d2, "R" + Be(1, 4) + Str("s") + Str("t") + "d" + Be(0x8000, 2)),
                   "negative column count");
  ExpectCorruption(FeedErr(d2, "R" + Be(1, 4) + Str("s") + "t"), "unterminated string");
  // The transaction in d is intact after all of that.
  FeedOk(d, Insert(1, {TextCol("1")}));
  auto r = d.Feed(Commit());
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->committed);
  ASSERT_EQ(r->committed->changes.size(), 1u);
  EXPECT_EQ(r->committed->changes[0].ordinal, 0u);
}

TEST(CdcDecoderErrors, CommitEndBeforeCommitLsn) {
  Decoder d;
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, Commit(0x200, 0x1FF)), "before commit LSN");
  EXPECT_TRUE(d.in_transaction());
  auto r = d.Feed(Commit(0x200, 0x200));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->committed->end_lsn, 0x200u);
}

// Found by tests/fuzz/decoder_fuzz (corpus crash-begin-time-overflow): a time
// no server writes overflowed the conversion to Unix microseconds.
TEST(CdcDecoderErrors, CommitTimeOutOfRange) {
  Decoder d;
  ExpectCorruption(FeedErr(d, "B" + Be(0x100, 8) + Be(0x7fffff1201006400ULL, 8) + Be(7, 4)), "out of range");
  EXPECT_FALSE(d.in_transaction());
  FeedOk(d, Begin());
  ExpectCorruption(
      FeedErr(d, "C" + std::string(1, '\0') + Be(0x100, 8) + Be(0x130, 8) + Be(0x8000000000000001ULL, 8)),
      "out of range");
}

TEST(CdcDecoderErrors, MessagesMustMatchTransactionState) {
  auto msg = [](bool transactional) {
    return "M" + std::string(1, transactional ? '\1' : '\0') + Be(0x42, 8) + Str("pfx") + Be(2, 4) + "hi";
  };
  Decoder d;
  ExpectCorruption(FeedErr(d, msg(true)), "transactional message outside");
  auto r = d.Feed(msg(false));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->message);
  EXPECT_EQ(r->message->lsn, 0x42u);
  EXPECT_EQ(r->message->prefix, "pfx");
  EXPECT_EQ(r->message->content, "hi");
  FeedOk(d, Begin());
  ExpectCorruption(FeedErr(d, msg(false)), "non-transactional message inside");
  r = d.Feed(msg(true));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->message->transactional);
}

TEST(CdcDecoderState, RelationReplacedNotMutated) {
  Decoder d;
  FeedOk(d, Rel(1, 1, ""));
  auto old_rel = d.relations().at(1);
  EXPECT_EQ(old_rel->schema, "pg_catalog");  // empty namespace means pg_catalog
  FeedOk(d, Begin(1));
  FeedOk(d, Insert(1, {TextCol("a")}));
  FeedOk(d, Rel(1, 2));
  FeedOk(d, Insert(1, {TextCol("b"), "u"}));
  auto r = d.Feed(Commit(0x100, 0x130));
  ASSERT_TRUE(r.ok());
  const auto& t = *r->committed;
  ASSERT_EQ(t.changes.size(), 2u);
  EXPECT_EQ(t.changes[0].relation.get(), old_rel.get());
  EXPECT_EQ(t.changes[0].relation->columns.size(), 1u);
  EXPECT_EQ(t.changes[1].relation->columns.size(), 2u);
  EXPECT_EQ(t.changes[1].relation->schema, "public");
  EXPECT_EQ(t.changes[1].ordinal, 1u);
  EXPECT_TRUE(t.changes[1].new_tuple[1].is_unchanged());
  EXPECT_EQ(t.xid, 1u);
  EXPECT_EQ(t.prev_end_lsn, 0u);
  EXPECT_EQ(t.commit_time_us, PgTimeToUnixMicros(5));

  FeedOk(d, Begin(2));
  FeedOk(d, "T" + Be(1, 4) + std::string(1, '\1') + Be(1, 4));
  FeedOk(d, Insert(1, {"n", "n"}));
  r = d.Feed(Commit(0x140, 0x170));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->committed->prev_end_lsn, 0x130u);
  EXPECT_EQ(r->committed->changes[0].op, Op::kTruncate);
  EXPECT_EQ(r->committed->changes[0].truncate_options, 1);
  EXPECT_EQ(r->committed->changes[1].ordinal, 1u);
  EXPECT_EQ(d.last_end_lsn(), 0x170u);
}

TEST(CdcDecoderState, TypeAndOriginAccepted) {
  Decoder d;
  FeedOk(d, "Y" + Be(16400, 4) + Str("public") + Str("mood"));
  FeedOk(d, Begin());
  FeedOk(d, "O" + Be(0xABC, 8) + Str("elsewhere"));
  ExpectCorruption(FeedErr(d, "Y" + Be(16400, 4) + Str("public")), "Type message");
}

}  // namespace
}  // namespace shardcast
