// Decodes the captured stream in tests/fixtures/pgoutput/mixed.frames (see
// scripts/capture-fixtures.sh for the workload) and checks what the workload
// fixes; then every truncated prefix and random corruption of its messages.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cdc/decoder.h"

namespace shardcast {
namespace {

std::vector<std::string> LoadFrames(const std::string& name) {
  std::ifstream in(std::string(SHARDCAST_FIXTURES) + "/pgoutput/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string d = ss.str();
  std::vector<std::string> frames;
  std::size_t i = 0;
  while (i + 4 <= d.size()) {
    std::size_t len = 0;
    for (int k = 0; k < 4; ++k) len = (len << 8) | static_cast<unsigned char>(d[i + k]);
    if (i + 4 + len > d.size()) break;
    frames.push_back(d.substr(i + 4, len));
    i += 4 + len;
  }
  EXPECT_EQ(i, d.size()) << "fixture " << name << " ends inside a frame";
  return frames;
}

struct Decoded {
  std::vector<std::shared_ptr<Transaction>> txns;
  std::vector<LogicalMessage> messages;
  std::vector<bool> message_in_txn;
};

Decoded DecodeAll(Decoder& d, const std::vector<std::string>& frames) {
  Decoded out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto r = d.Feed(frames[i]);
    EXPECT_TRUE(r.ok()) << "frame " << i << ": " << r.status().ToString();
    if (!r.ok()) break;
    if (r->committed) out.txns.push_back(r->committed);
    if (r->message) {
      out.messages.push_back(*r->message);
      out.message_in_txn.push_back(d.in_transaction());
    }
  }
  return out;
}

std::vector<std::string> Texts(const Tuple& t) {
  std::vector<std::string> out;
  for (const auto& v : t) out.push_back(v.is_null() ? "<null>" : v.is_unchanged() ? "<u>" : v.text);
  return out;
}

using V = std::vector<std::string>;
const std::string kN = "<null>";

class CdcDecoderFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    frames_ = LoadFrames("mixed.frames");
    ASSERT_EQ(frames_.size(), 52u);
  }
  std::vector<std::string> frames_;
};

TEST_F(CdcDecoderFixture, DecodesEveryTransaction) {
  Decoder d;
  Decoded r = DecodeAll(d, frames_);
  ASSERT_EQ(r.txns.size(), 12u);
  EXPECT_FALSE(d.in_transaction());

  // Positions: end_lsn strictly increasing, chained through prev_end_lsn.
  Lsn prev = 0;
  for (const auto& t : r.txns) {
    EXPECT_GE(t->end_lsn, t->commit_lsn);
    EXPECT_GT(t->end_lsn, prev);
    EXPECT_EQ(t->prev_end_lsn, prev);
    EXPECT_GT(t->xid, 0u);
    EXPECT_GT(t->commit_time_us, 1'600'000'000'000'000LL);  // after 2020, in Unix micros
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < t->changes.size(); ++i) {
      EXPECT_EQ(t->changes[i].ordinal, i);
      bytes += t->changes[i].ApproxBytes();
    }
    EXPECT_EQ(t->approx_bytes, bytes);
    prev = t->end_lsn;
  }
  EXPECT_EQ(d.last_end_lsn(), prev);

  // 1: every type, then a row of NULLs.
  const auto& t0 = *r.txns[0];
  ASSERT_EQ(t0.changes.size(), 2u);
  const Relation& types = *t0.changes[0].relation;
  EXPECT_EQ(types.QualifiedName(), "public.t_types");
  EXPECT_EQ(types.replica_identity, 'd');
  ASSERT_EQ(types.columns.size(), 9u);
  EXPECT_EQ(types.columns[0].name, "id");
  EXPECT_TRUE(types.columns[0].part_of_identity);
  EXPECT_FALSE(types.columns[1].part_of_identity);
  std::vector<std::uint32_t> oids;
  for (const auto& c : types.columns) oids.push_back(c.type_oid);
  EXPECT_EQ(oids, (std::vector<std::uint32_t>{23, 20, 25, 1700, 16, 1184, 1114, 3802, 17}));
  EXPECT_EQ(types.columns[3].type_modifier, (12 << 16 | 3) + 4);  // numeric(12,3)
  EXPECT_EQ(types.columns[0].type_modifier, -1);
  EXPECT_EQ(t0.changes[0].op, Op::kInsert);
  EXPECT_EQ(Texts(t0.changes[0].new_tuple),
            (V{"1", "9000000000", "hello", "12345.678", "t", "2024-01-02 03:04:05.123456+00",
               "2024-01-02 03:04:05", "{\"a\": [1, 2]}", "\\x00ff10"}));
  EXPECT_EQ(Texts(t0.changes[1].new_tuple), (V{"2", kN, kN, kN, kN, kN, kN, kN, kN}));
  EXPECT_EQ(t0.changes[1].old_kind, 0);

  // 2: a TOAST-sized value; 3: an update that leaves it unchanged ('u').
  std::string big;
  for (int i = 0; i < 300; ++i) big += "abcdefghij";
  EXPECT_EQ(Texts(r.txns[1]->changes.at(0).new_tuple), (V{"3", kN, big, kN, kN, kN, kN, kN, kN}));
  EXPECT_GT(r.txns[1]->approx_bytes, big.size());
  const Change& toast_upd = r.txns[2]->changes.at(0);
  EXPECT_EQ(toast_upd.op, Op::kUpdate);
  EXPECT_EQ(toast_upd.old_kind, 0);
  EXPECT_TRUE(toast_upd.old_tuple.empty());
  EXPECT_EQ(Texts(toast_upd.new_tuple), (V{"3", "7", "<u>", kN, kN, kN, kN, kN, kN}));
  EXPECT_EQ(toast_upd.new_tuple[2].kind, Value::Kind::kUnchanged);

  // 4: primary key change: the old key comes as 'K'.
  const Change& pk_upd = r.txns[3]->changes.at(0);
  EXPECT_EQ(pk_upd.op, Op::kUpdate);
  EXPECT_EQ(pk_upd.old_kind, 'K');
  EXPECT_EQ(Texts(pk_upd.old_tuple), (V{"1", kN, kN, kN, kN, kN, kN, kN, kN}));
  EXPECT_EQ(pk_upd.new_tuple.at(0).text, "10");
  EXPECT_EQ(pk_upd.new_tuple.at(2).text, "hello");

  // 5: delete by key.
  const Change& del = r.txns[4]->changes.at(0);
  EXPECT_EQ(del.op, Op::kDelete);
  EXPECT_EQ(del.old_kind, 'K');
  EXPECT_EQ(Texts(del.old_tuple), (V{"2", kN, kN, kN, kN, kN, kN, kN, kN}));
  EXPECT_TRUE(del.new_tuple.empty());

  // 6: REPLICA IDENTITY FULL carries whole old rows ('O').
  const auto& t5 = *r.txns[5];
  ASSERT_EQ(t5.changes.size(), 4u);
  EXPECT_EQ(t5.changes[0].relation->QualifiedName(), "public.t_full");
  EXPECT_EQ(t5.changes[0].relation->replica_identity, 'f');
  EXPECT_TRUE(t5.changes[0].relation->columns[1].part_of_identity);
  EXPECT_EQ(Texts(t5.changes[1].new_tuple), (V{"2", kN}));
  EXPECT_EQ(t5.changes[2].old_kind, 'O');
  EXPECT_EQ(Texts(t5.changes[2].old_tuple), (V{"1", "a"}));
  EXPECT_EQ(Texts(t5.changes[2].new_tuple), (V{"1", "b"}));
  EXPECT_EQ(t5.changes[3].op, Op::kDelete);
  EXPECT_EQ(t5.changes[3].old_kind, 'O');
  EXPECT_EQ(Texts(t5.changes[3].old_tuple), (V{"2", kN}));

  // 7 and 8: a row, then TRUNCATE t_trunc, t_full RESTART IDENTITY: one change.
  EXPECT_EQ(Texts(r.txns[6]->changes.at(0).new_tuple), (V{"1"}));
  const auto& t7 = *r.txns[7];
  ASSERT_EQ(t7.changes.size(), 1u);
  EXPECT_EQ(t7.changes[0].op, Op::kTruncate);
  EXPECT_EQ(t7.changes[0].truncate_options, 2);
  EXPECT_EQ(t7.changes[0].relation, nullptr);
  ASSERT_EQ(t7.changes[0].truncated.size(), 2u);
  EXPECT_EQ(t7.changes[0].truncated[0]->QualifiedName(), "public.t_trunc");
  EXPECT_EQ(t7.changes[0].truncated[1]->QualifiedName(), "public.t_full");

  // 9 and the messages: one inside a transaction, one outside.
  EXPECT_EQ(Texts(r.txns[8]->changes.at(0).new_tuple), (V{"2"}));
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_TRUE(r.messages[0].transactional);
  EXPECT_TRUE(r.message_in_txn[0]);
  EXPECT_EQ(r.messages[0].prefix, "shardcast");
  EXPECT_EQ(r.messages[0].content, "transactional hello");
  EXPECT_FALSE(r.messages[1].transactional);
  EXPECT_FALSE(r.message_in_txn[1]);
  EXPECT_EQ(r.messages[1].content, "non-transactional");
  EXPECT_GT(r.messages[1].lsn, r.txns[8]->commit_lsn);
  EXPECT_GE(r.txns[8]->end_lsn, r.messages[0].lsn);

  // 10: a column was added: a new Relation object; older changes keep theirs.
  const auto& rel_new = r.txns[9]->changes.at(0).relation;
  const auto& rel_old = r.txns[8]->changes.at(0).relation;
  EXPECT_EQ(rel_new->oid, rel_old->oid);
  EXPECT_NE(rel_new.get(), rel_old.get());
  EXPECT_EQ(rel_old->columns.size(), 1u);
  ASSERT_EQ(rel_new->columns.size(), 2u);
  EXPECT_EQ(rel_new->columns[1].name, "extra");
  EXPECT_EQ(Texts(r.txns[9]->changes[0].new_tuple), (V{"3", "x"}));
  EXPECT_EQ(d.relations().at(rel_new->oid).get(), rel_new.get());

  // 11: an enum column (a Type message came first); 12: from another origin,
  // with the commit time the origin set.
  const Change& en = r.txns[10]->changes.at(0);
  EXPECT_EQ(en.relation->QualifiedName(), "public.t_enum");
  EXPECT_GE(en.relation->columns.at(1).type_oid, 16384u);  // a user type
  EXPECT_EQ(Texts(en.new_tuple), (V{"1", "happy"}));
  EXPECT_EQ(Texts(r.txns[11]->changes.at(0).new_tuple), (V{"2", "sad"}));
  EXPECT_EQ(r.txns[11]->commit_time_us, 1704067200000000LL);  // 2024-01-01 00:00:00 UTC
}

// Every proper prefix of every message fails cleanly: each field is required.
TEST_F(CdcDecoderFixture, EveryTruncatedPrefixIsAnError) {
  Decoder ref;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < frames_.size(); ++i) {
    const std::string& f = frames_[i];
    for (std::size_t len = 0; len < f.size(); ++len) {
      Decoder d = ref;
      auto r = d.Feed(std::string_view(f.data(), len));
      ASSERT_FALSE(r.ok()) << "frame " << i << " ('" << f[0] << "') prefix " << len << " of " << f.size();
      EXPECT_EQ(r.status().code(), Code::kCorruption);
      ++checked;
    }
    ASSERT_TRUE(ref.Feed(f).ok()) << "frame " << i;
  }
  EXPECT_GT(checked, 4000u);
  // A failed Feed never changed the shared state: the stream still decodes.
  Decoder fresh;
  EXPECT_EQ(DecodeAll(fresh, frames_).txns.size(), 12u);
  EXPECT_EQ(ref.last_end_lsn(), fresh.last_end_lsn());
}

// Random byte corruption (fixed seed) never crashes or reads out of bounds
// (run under ASan/UBSan); failures are kCorruption.
TEST_F(CdcDecoderFixture, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(20241121);
  std::vector<Decoder> before;  // decoder state before frame i
  Decoder ref;
  for (const auto& f : frames_) {
    before.push_back(ref);
    ASSERT_TRUE(ref.Feed(f).ok());
  }
  int failures = 0;
  for (int iter = 0; iter < 30000; ++iter) {
    std::size_t i = rng() % frames_.size();
    std::string f = frames_[i];
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      std::size_t pos = rng() % f.size();
      switch (rng() % 3) {
        case 0:
          f[pos] = static_cast<char>(rng());
          break;
        case 1:
          f[pos] = static_cast<char>(rng() % 2 ? 0xFF : 0x00);
          break;
        default:
          f.resize(pos + 1);
          break;
      }
    }
    Decoder d = before[i];
    auto r = d.Feed(f);
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
    }
  }
  EXPECT_GT(failures, 1000);

  // And a whole stream of corrupted frames through one decoder.
  Decoder d;
  for (int round = 0; round < 200; ++round) {
    for (const auto& frame : frames_) {
      std::string f = frame;
      if (rng() % 4 == 0) f[rng() % f.size()] = static_cast<char>(rng());
      auto r = d.Feed(f);
      if (!r.ok() && rng() % 2) d.ResetInFlight();
    }
  }
}

}  // namespace
}  // namespace shardcast
