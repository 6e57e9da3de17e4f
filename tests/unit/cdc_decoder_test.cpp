// Decodes the captured stream in tests/fixtures/pgoutput/mixed.frames (see
// scripts/capture-fixtures.sh for the workload) and checks what the workload
// fixes; then every truncated prefix and random corruption of its messages;
// then transactions spilled to disk, which must read back as the same changes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
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

// --- Spilling ------------------------------------------------------------

namespace fs = std::filesystem;

class SpillDir {
 public:
  SpillDir() {
    std::string tmpl = (fs::temp_directory_path() / "shardcast-dec-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~SpillDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::size_t Files() const {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(path_)) n += e.is_regular_file() ? 1 : 0;
    return n;
  }

 private:
  std::string path_;
};

// pgoutput messages built by hand (protocol 1, big-endian integers).
std::string Be(std::uint64_t v, int bytes) {
  std::string s(static_cast<std::size_t>(bytes), '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
  return s;
}
std::string BeginMsg(std::uint32_t xid, std::uint64_t final_lsn) {
  std::string m(1, 'B');
  m += Be(final_lsn, 8);
  m += Be(5, 8);
  m += Be(xid, 4);
  return m;
}
std::string CommitMsg(std::uint64_t lsn, std::uint64_t end) {
  std::string m(2, '\0');
  m[0] = 'C';
  m += Be(lsn, 8);
  m += Be(end, 8);
  m += Be(5, 8);
  return m;
}
std::string RelationMsg(std::uint32_t oid, const std::string& name, int ncols) {
  std::string m(1, 'R');
  m += Be(oid, 4);
  m += std::string("public") + '\0';
  m += name;
  m += '\0';
  m += 'd';
  m += Be(static_cast<std::uint64_t>(ncols), 2);
  for (int i = 0; i < ncols; ++i) {
    m += i == 0 ? '\1' : '\0';
    m += "c" + std::to_string(i);
    m += '\0';
    m += Be(25, 4);
    m += Be(0xFFFFFFFF, 4);
  }
  return m;
}
// Columns: "n" null, "u" unchanged TOAST, anything else a text value.
std::string TupleData(const std::vector<std::string>& cols) {
  std::string m = Be(cols.size(), 2);
  for (const auto& c : cols) {
    if (c == "n" || c == "u") {
      m += c;
    } else {
      m += 't';
      m += Be(c.size(), 4);
      m += c;
    }
  }
  return m;
}
std::string InsertMsg(std::uint32_t oid, const std::vector<std::string>& cols) {
  std::string m(1, 'I');
  m += Be(oid, 4);
  m += 'N';
  return m + TupleData(cols);
}
std::string UpdateMsg(std::uint32_t oid, const std::vector<std::string>& key,
                      const std::vector<std::string>& cols) {
  std::string m(1, 'U');
  m += Be(oid, 4);
  m += 'K';
  m += TupleData(key);
  m += 'N';
  return m + TupleData(cols);
}
std::string DeleteMsg(std::uint32_t oid, const std::vector<std::string>& old_row) {
  std::string m(1, 'D');
  m += Be(oid, 4);
  m += 'O';
  return m + TupleData(old_row);
}
std::string TruncateMsg(std::uint32_t a, std::uint32_t b) {
  std::string m(1, 'T');
  m += Be(2, 4);
  m += '\2';
  m += Be(a, 4);
  return m + Be(b, 4);
}

// One large transaction touching two tables, with table 1's Relation
// replaced halfway (a column added) and every kind of change.
std::vector<std::string> LargeTransaction(std::uint32_t xid, int rows) {
  std::vector<std::string> m = {RelationMsg(1, "t", 3), RelationMsg(2, "u", 1), BeginMsg(xid, 0x9000)};
  for (int i = 0; i < rows; ++i) {
    std::string k = std::to_string(i);
    if (i == rows / 2) m.push_back(RelationMsg(1, "t", 4));
    bool wide = i >= rows / 2;
    switch (i % 5) {
      case 0:
        m.push_back(wide ? InsertMsg(1, {k, std::string(100 + i % 50, 'p'), "", "n"})
                         : InsertMsg(1, {k, std::string(100 + i % 50, 'p'), ""}));
        break;
      case 1:
        m.push_back(wide ? UpdateMsg(1, {k, "n", "n", "n"}, {k + "0", "u", "n", "x"})
                         : UpdateMsg(1, {k, "n", "n"}, {k + "0", "u", "n"}));
        break;
      case 2:
        m.push_back(InsertMsg(2, {std::string("\x01\x02\xff", 3) + k}));
        break;
      case 3:
        m.push_back(DeleteMsg(2, {k}));
        break;
      default:
        m.push_back(i % 100 == 4 ? TruncateMsg(2, 1) : InsertMsg(2, {k}));
        break;
    }
  }
  m.push_back(CommitMsg(0x9000, 0x9040));
  return m;
}

// Everything but the Relation object's identity (two decoders, two objects).
void ExpectSameChanges(const std::vector<Change>& got, const std::vector<Change>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const Change& a = got[i];
    const Change& b = want[i];
    SCOPED_TRACE("change " + std::to_string(i));
    EXPECT_EQ(a.op, b.op);
    EXPECT_EQ(a.ordinal, b.ordinal);
    EXPECT_EQ(a.ordinal, i);
    ASSERT_EQ(a.relation == nullptr, b.relation == nullptr);
    if (a.relation) {
      EXPECT_EQ(a.relation->QualifiedName(), b.relation->QualifiedName());
      EXPECT_EQ(a.relation->columns.size(), b.relation->columns.size());
    }
    EXPECT_EQ(a.old_kind, b.old_kind);
    EXPECT_EQ(Texts(a.old_tuple), Texts(b.old_tuple));
    EXPECT_EQ(Texts(a.new_tuple), Texts(b.new_tuple));
    ASSERT_EQ(a.truncated.size(), b.truncated.size());
    for (std::size_t k = 0; k < a.truncated.size(); ++k)
      EXPECT_EQ(a.truncated[k]->QualifiedName(), b.truncated[k]->QualifiedName());
    EXPECT_EQ(a.truncate_options, b.truncate_options);
    EXPECT_EQ(a.upsert, b.upsert);
  }
}

// Reads all pieces, checking their flags and header, into one transaction.
Transaction Concatenate(SpilledTransaction& spilled) {
  Transaction whole;
  std::size_t n = 0;
  bool last_seen = false;
  for (;;) {
    auto p = spilled.NextPiece();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok() || *p == nullptr) break;
    const Transaction& piece = **p;
    EXPECT_EQ(piece.first_piece, n == 0) << "piece " << n;
    EXPECT_FALSE(last_seen) << "piece after the last";
    last_seen = piece.last_piece;
    if (n == 0) whole = piece, whole.changes.clear();
    EXPECT_EQ(piece.end_lsn, whole.end_lsn);
    EXPECT_EQ(piece.xid, whole.xid);
    for (const auto& c : piece.changes) whole.changes.push_back(c);
    ++n;
  }
  EXPECT_TRUE(last_seen);
  return whole;
}

TEST(CdcDecoderSpill, LargeTransactionReadsBackAsTheWholeOne) {
  SpillDir dir;
  std::vector<std::string> msgs = LargeTransaction(77, 3000);
  Decoder whole;
  Decoder spilling(DecoderOptions{dir.path(), 8 << 10, 32 << 10});
  std::shared_ptr<Transaction> expected;
  std::unique_ptr<SpilledTransaction> got;
  std::shared_ptr<const Relation> first_t;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    auto a = whole.Feed(msgs[i]);
    auto b = spilling.Feed(msgs[i]);
    ASSERT_TRUE(a.ok()) << i << ": " << a.status().ToString();
    ASSERT_TRUE(b.ok()) << i << ": " << b.status().ToString();
    if (i == 0) first_t = spilling.relations().at(1);
    if (i == 100) {
      EXPECT_TRUE(spilling.spilling());
      EXPECT_EQ(dir.Files(), 1u);
    }
    if (a->committed) expected = a->committed;
    EXPECT_EQ(b->committed, nullptr);
    if (b->spilled) got = std::move(b->spilled);
  }
  ASSERT_NE(expected, nullptr);
  ASSERT_NE(got, nullptr);
  EXPECT_FALSE(spilling.spilling());
  EXPECT_FALSE(spilling.in_transaction());
  EXPECT_EQ(got->changes(), expected->changes.size());
  Transaction t = Concatenate(*got);
  EXPECT_EQ(t.xid, 77u);
  EXPECT_EQ(t.commit_lsn, expected->commit_lsn);
  EXPECT_EQ(t.end_lsn, expected->end_lsn);
  EXPECT_EQ(t.prev_end_lsn, expected->prev_end_lsn);
  EXPECT_EQ(t.commit_time_us, expected->commit_time_us);
  ExpectSameChanges(t.changes, expected->changes);
  // Changes before the Relation message keep the object they were decoded with.
  EXPECT_EQ(t.changes.front().relation.get(), first_t.get());
  const Change& last_t = t.changes[t.changes.size() - 5];  // i % 5 == 0: an insert into t
  ASSERT_EQ(last_t.relation->oid, 1u);
  EXPECT_EQ(last_t.relation.get(), spilling.relations().at(1).get());
  EXPECT_EQ(last_t.relation->columns.size(), 4u);
  EXPECT_EQ(first_t->columns.size(), 3u);
  EXPECT_NE(first_t.get(), spilling.relations().at(1).get());
  EXPECT_EQ(spilling.last_end_lsn(), 0x9040u);

  got.reset();
  EXPECT_EQ(dir.Files(), 0u);

  // A small transaction afterwards stays in memory, numbered from 0.
  for (const auto& m : {BeginMsg(78, 0x9100), InsertMsg(2, {"a"}), InsertMsg(2, {"b"})})
    ASSERT_TRUE(spilling.Feed(m).ok());
  auto r = spilling.Feed(CommitMsg(0x9100, 0x9140));
  ASSERT_TRUE(r.ok());
  ASSERT_NE(r->committed, nullptr);
  EXPECT_EQ(r->spilled, nullptr);
  EXPECT_EQ(r->committed->prev_end_lsn, 0x9040u);
  ASSERT_EQ(r->committed->changes.size(), 2u);
  EXPECT_EQ(r->committed->changes[1].ordinal, 1u);
}

// The captured stream with spill_bytes 0: every transaction goes to disk and
// reads back one change per piece, equal to the in-memory decode.
TEST_F(CdcDecoderFixture, EveryTransactionSpilledReadsBackTheSame) {
  SpillDir dir;
  Decoder plain;
  Decoded want = DecodeAll(plain, frames_);
  Decoder d(DecoderOptions{dir.path(), 0, 0});
  std::vector<Transaction> got;
  std::size_t spilled = 0;
  for (const auto& f : frames_) {
    auto r = d.Feed(f);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (r->committed) got.push_back(*r->committed);  // only a transaction without changes
    if (r->spilled) got.push_back(Concatenate(*r->spilled)), ++spilled;
  }
  ASSERT_EQ(got.size(), want.txns.size());
  std::size_t with_changes = 0;
  for (const auto& t : want.txns) with_changes += t->changes.empty() ? 0 : 1;
  EXPECT_EQ(spilled, with_changes);
  for (std::size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("transaction " + std::to_string(i));
    EXPECT_EQ(got[i].end_lsn, want.txns[i]->end_lsn);
    EXPECT_EQ(got[i].prev_end_lsn, want.txns[i]->prev_end_lsn);
    EXPECT_EQ(got[i].commit_time_us, want.txns[i]->commit_time_us);
    ExpectSameChanges(got[i].changes, want.txns[i]->changes);
  }
  EXPECT_EQ(dir.Files(), 0u);
}

TEST(CdcDecoderSpill, ResetInFlightRemovesTheFile) {
  SpillDir dir;
  Decoder d(DecoderOptions{dir.path(), 1024, 4096});
  std::vector<std::string> msgs = LargeTransaction(5, 200);
  for (std::size_t i = 0; i + 1 < msgs.size(); ++i) ASSERT_TRUE(d.Feed(msgs[i]).ok());
  ASSERT_TRUE(d.spilling());
  EXPECT_EQ(dir.Files(), 1u);

  // A copy cannot share the file: it is outside any transaction.
  Decoder copy = d;
  EXPECT_FALSE(copy.in_transaction());
  EXPECT_EQ(copy.Feed(InsertMsg(2, {"1"})).status().code(), Code::kCorruption);

  d.ResetInFlight();
  EXPECT_FALSE(d.spilling());
  EXPECT_FALSE(d.in_transaction());
  EXPECT_EQ(dir.Files(), 0u);

  // The server resends it (and its relations): ordinals start over.
  for (std::size_t i = 0; i + 1 < msgs.size(); ++i) ASSERT_TRUE(d.Feed(msgs[i]).ok());
  auto r = d.Feed(msgs.back());
  ASSERT_TRUE(r.ok());
  ASSERT_NE(r->spilled, nullptr);
  Transaction t = Concatenate(*r->spilled);
  ASSERT_EQ(t.changes.size(), 200u);
  EXPECT_EQ(t.changes.front().ordinal, 0u);
  EXPECT_EQ(t.changes.back().ordinal, 199u);
}

TEST(CdcDecoderSpill, UnwritableSpillDirIsIoError) {
  SpillDir dir;
  std::string file = dir.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  Decoder d(DecoderOptions{file + "/spill", 1000, 1000});
  ASSERT_TRUE(d.Feed(RelationMsg(2, "u", 1)).ok());
  ASSERT_TRUE(d.Feed(BeginMsg(9, 0x100)).ok());
  auto r = d.Feed(InsertMsg(2, {std::string(2000, 'a')}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIoError);
  EXPECT_NE(r.status().message().find("spilling transaction 9"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(file + "/spill"), std::string::npos) << r.status().message();
  // The transaction was dropped: its Commit is an error, a resent one is fine.
  EXPECT_FALSE(d.in_transaction());
  EXPECT_EQ(d.Feed(CommitMsg(0x100, 0x130)).status().code(), Code::kCorruption);
  ASSERT_TRUE(d.Feed(BeginMsg(10, 0x200)).ok());
  ASSERT_TRUE(d.Feed(InsertMsg(2, {"small"})).ok());
  EXPECT_TRUE(d.Feed(CommitMsg(0x200, 0x230)).ok());
}

}  // namespace
}  // namespace shardcast
