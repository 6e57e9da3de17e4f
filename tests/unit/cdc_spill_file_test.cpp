// SpillWriter / SpilledTransaction against a real temporary directory: every
// field of every kind of change survives the file, pieces are bounded and
// flagged, relation objects keep their identity, and damaged files or
// unwritable directories are errors naming the path, never crashes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "cdc/spill_file.h"

namespace shardcast {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shardcast-spill-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
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

std::shared_ptr<const Relation> Rel(std::uint32_t oid, const std::string& name, int ncols) {
  auto r = std::make_shared<Relation>();
  r->oid = oid;
  r->schema = "public";
  r->name = name;
  for (int i = 0; i < ncols; ++i) r->columns.push_back(Column{"c" + std::to_string(i), 23, -1, i == 0});
  return r;
}

Value T(std::string s) {
  return Value::Text(std::move(s));
}
Value U() {
  return Value{Value::Kind::kUnchanged, {}};
}

Change Row(Op op, std::shared_ptr<const Relation> rel, Tuple new_tuple, char old_kind = 0,
           Tuple old_tuple = {}) {
  Change c;
  c.op = op;
  c.relation = std::move(rel);
  c.new_tuple = std::move(new_tuple);
  c.old_kind = old_kind;
  c.old_tuple = std::move(old_tuple);
  return c;
}

Transaction Header() {
  Transaction h;
  h.xid = 4242;
  h.commit_lsn = 0x16B3748;
  h.end_lsn = 0x16B3778;
  h.prev_end_lsn = 0x16A0000;
  h.commit_time_us = 1704067200123456LL;
  return h;
}

void ExpectSameValue(const Value& a, const Value& b, const std::string& where) {
  EXPECT_EQ(a.kind, b.kind) << where;
  EXPECT_EQ(a.text, b.text) << where;
}
void ExpectSameTuple(const Tuple& a, const Tuple& b, const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (std::size_t i = 0; i < a.size(); ++i)
    ExpectSameValue(a[i], b[i], where + " column " + std::to_string(i));
}
// Every field, relations compared by object identity.
void ExpectSameChange(const Change& a, const Change& b) {
  std::string where = "ordinal " + std::to_string(a.ordinal);
  EXPECT_EQ(a.op, b.op) << where;
  EXPECT_EQ(a.ordinal, b.ordinal) << where;
  EXPECT_EQ(a.relation.get(), b.relation.get()) << where;
  EXPECT_EQ(a.old_kind, b.old_kind) << where;
  ExpectSameTuple(a.old_tuple, b.old_tuple, where + " old");
  ExpectSameTuple(a.new_tuple, b.new_tuple, where + " new");
  ASSERT_EQ(a.truncated.size(), b.truncated.size()) << where;
  for (std::size_t i = 0; i < a.truncated.size(); ++i) EXPECT_EQ(a.truncated[i].get(), b.truncated[i].get());
  EXPECT_EQ(a.truncate_options, b.truncate_options) << where;
  EXPECT_EQ(a.upsert, b.upsert) << where;
}

std::unique_ptr<SpillWriter> MustCreate(const std::string& dir, std::uint32_t xid = 4242) {
  auto w = SpillWriter::Create(dir, xid);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : nullptr;
}

std::unique_ptr<SpilledTransaction> Spill(const std::string& dir, const std::vector<Change>& changes,
                                          std::size_t piece_bytes) {
  auto w = MustCreate(dir);
  if (w == nullptr) return nullptr;
  for (const auto& c : changes) {
    Status s = w->Append(c);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_EQ(w->changes(), changes.size());
  auto t = SpilledTransaction::Finish(std::move(w), Header(), piece_bytes);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

// Reads every piece; fails the test on an error.
std::vector<std::shared_ptr<Transaction>> AllPieces(SpilledTransaction& t) {
  std::vector<std::shared_ptr<Transaction>> out;
  for (;;) {
    auto p = t.NextPiece();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok() || *p == nullptr) return out;
    out.push_back(*p);
  }
}

std::vector<Change> EveryKind(const std::shared_ptr<const Relation>& a,
                              const std::shared_ptr<const Relation>& b) {
  std::string binaryish;
  for (int i = 0; i < 256; ++i) binaryish.push_back(static_cast<char>(i));
  std::vector<Change> v;
  v.push_back(Row(Op::kInsert, a, {T("1"), Value::Null(), T("")}));
  v.push_back(Row(Op::kInsert, a, {T("2"), T(binaryish), T(std::string(70000, 'x'))}));
  v.push_back(Row(Op::kUpdate, a, {T("3"), U(), T("new")}, 'K', {T("2"), Value::Null(), Value::Null()}));
  v.push_back(Row(Op::kUpdate, b, {T("4"), T("b")}, 'O', {T("4"), T("a")}));
  v.push_back(Row(Op::kUpdate, a, {T("5"), U(), U()}));  // no old tuple, unchanged TOAST
  v.push_back(Row(Op::kDelete, a, {}, 'K', {T("1"), Value::Null(), Value::Null()}));
  v.push_back(Row(Op::kDelete, b, {}, 'O', {T("4"), T("")}));
  Change trunc;
  trunc.op = Op::kTruncate;
  trunc.truncated = {b, a};
  trunc.truncate_options = 3;  // CASCADE | RESTART IDENTITY
  v.push_back(trunc);
  v.push_back(Row(Op::kRead, b, {T("6"), Value::Null()}));
  v.back().upsert = true;
  v.push_back(Row(Op::kInsert, a, {T("7"), T("\n\t\\"), Value::Null()}));
  v.back().upsert = true;
  for (std::size_t i = 0; i < v.size(); ++i) v[i].ordinal = static_cast<std::uint32_t>(i);
  return v;
}

TEST(CdcSpillFile, RoundTripsEveryKindOfChange) {
  TempDir dir;
  auto a = Rel(16384, "a", 3);
  auto b = Rel(16390, "b", 2);
  std::vector<Change> in = EveryKind(a, b);
  auto t = Spill(dir.path(), in, std::size_t{1} << 30);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->changes(), in.size());
  EXPECT_TRUE(fs::exists(t->path()));
  EXPECT_EQ(fs::path(t->path()).filename().string().rfind("spill-4242-", 0), 0u) << t->path();

  auto pieces = AllPieces(*t);
  ASSERT_EQ(pieces.size(), 1u);
  const Transaction& p = *pieces[0];
  EXPECT_TRUE(p.first_piece);
  EXPECT_TRUE(p.last_piece);
  Transaction h = Header();
  EXPECT_EQ(p.xid, h.xid);
  EXPECT_EQ(p.commit_lsn, h.commit_lsn);
  EXPECT_EQ(p.end_lsn, h.end_lsn);
  EXPECT_EQ(p.prev_end_lsn, h.prev_end_lsn);
  EXPECT_EQ(p.commit_time_us, h.commit_time_us);
  EXPECT_EQ(p.snapshot, "");
  ASSERT_EQ(p.changes.size(), in.size());
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    ExpectSameChange(p.changes[i], in[i]);
    bytes += in[i].ApproxBytes();
  }
  EXPECT_EQ(p.approx_bytes, bytes);
  EXPECT_EQ(p.changes[7].relation, nullptr);

  // Done for good, and the file goes with the object.
  auto again = t->NextPiece();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, nullptr);
  std::string path = t->path();
  t.reset();
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(dir.Files(), 0u);
}

TEST(CdcSpillFile, PiecesAreBoundedAndFlagged) {
  TempDir dir;
  auto a = Rel(16384, "a", 2);
  std::vector<Change> in;
  for (std::uint32_t i = 0; i < 5000; ++i) {
    in.push_back(Row(Op::kInsert, a, {T(std::to_string(i)), T(std::string(50 + i % 300, 'v'))}));
    in.back().ordinal = i;
  }
  const std::size_t piece_bytes = 64 << 10;
  auto t = Spill(dir.path(), in, piece_bytes);
  ASSERT_NE(t, nullptr);
  auto pieces = AllPieces(*t);
  ASSERT_GT(pieces.size(), 10u);
  std::uint32_t next = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Transaction& p = *pieces[i];
    EXPECT_EQ(p.first_piece, i == 0) << i;
    EXPECT_EQ(p.last_piece, i + 1 == pieces.size()) << i;
    EXPECT_EQ(p.end_lsn, Header().end_lsn);
    ASSERT_FALSE(p.changes.empty()) << i;
    std::size_t bytes = 0;
    for (const auto& c : p.changes) {
      EXPECT_EQ(c.ordinal, next++);
      bytes += c.ApproxBytes();
    }
    EXPECT_EQ(p.approx_bytes, bytes);
    // Filled to the bound, and over it by at most the last change.
    EXPECT_LT(p.approx_bytes - p.changes.back().ApproxBytes(), piece_bytes) << i;
    if (!p.last_piece) {
      EXPECT_GE(p.approx_bytes, piece_bytes) << i;
    }
  }
  EXPECT_EQ(next, in.size());
}

TEST(CdcSpillFile, ZeroPieceBytesGivesOneChangePerPiece) {
  TempDir dir;
  auto a = Rel(1, "a", 1);
  std::vector<Change> in;
  for (std::uint32_t i = 0; i < 3; ++i) {
    in.push_back(Row(Op::kInsert, a, {T("x")}));
    in.back().ordinal = i;
  }
  auto t = Spill(dir.path(), in, 0);
  ASSERT_NE(t, nullptr);
  auto pieces = AllPieces(*t);
  ASSERT_EQ(pieces.size(), 3u);
  for (const auto& p : pieces) EXPECT_EQ(p->changes.size(), 1u);
  EXPECT_TRUE(pieces[2]->last_piece);
}

TEST(CdcSpillFile, EmptyTransactionIsOneFirstAndLastPiece) {
  TempDir dir;
  auto t = Spill(dir.path(), {}, 100);
  ASSERT_NE(t, nullptr);
  auto pieces = AllPieces(*t);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_TRUE(pieces[0]->first_piece);
  EXPECT_TRUE(pieces[0]->last_piece);
  EXPECT_TRUE(pieces[0]->changes.empty());
}

// A Relation message mid-transaction replaces the decoder's object; changes
// decoded before it keep the old one.
TEST(CdcSpillFile, ReplacedRelationKeepsEachChangesObject) {
  TempDir dir;
  auto v1 = Rel(16384, "t", 1);
  auto v2 = Rel(16384, "t", 2);
  std::vector<Change> in = {Row(Op::kInsert, v1, {T("1")}), Row(Op::kInsert, v2, {T("2"), T("x")}),
                            Row(Op::kInsert, v1, {T("3")})};
  for (std::uint32_t i = 0; i < 3; ++i) in[i].ordinal = i;
  auto t = Spill(dir.path(), in, 1);
  ASSERT_NE(t, nullptr);
  auto pieces = AllPieces(*t);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0]->changes[0].relation.get(), v1.get());
  EXPECT_EQ(pieces[1]->changes[0].relation.get(), v2.get());
  EXPECT_EQ(pieces[2]->changes[0].relation.get(), v1.get());
}

TEST(CdcSpillFile, WriterRemovesItsFile) {
  TempDir dir;
  auto w = MustCreate(dir.path());
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append(Row(Op::kInsert, Rel(1, "a", 1), {T("1")})).ok());
  EXPECT_EQ(dir.Files(), 1u);
  w.reset();
  EXPECT_EQ(dir.Files(), 0u);
}

// Every truncation of a file is kCorruption naming the file and a byte
// offset; random damage is an error or a change, never a crash (ASan).
TEST(CdcSpillFile, DamagedFileIsCorruption) {
  TempDir dir;
  auto in = EveryKind(Rel(16384, "a", 3), Rel(16390, "b", 2));
  in[1].new_tuple[2] = T("big");  // keep the file small: every length is tried
  auto probe = Spill(dir.path(), in, 1);
  ASSERT_NE(probe, nullptr);
  const auto size = static_cast<std::size_t>(fs::file_size(probe->path()));
  probe.reset();
  ASSERT_GT(size, 100u);

  for (std::size_t len = 0; len < size; ++len) {
    auto t = Spill(dir.path(), in, 1);
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(::truncate(t->path().c_str(), static_cast<off_t>(len)), 0);
    Status err;
    for (int i = 0; i < 100 && err.ok(); ++i) {
      auto p = t->NextPiece();
      if (!p.ok()) err = p.status();
      ASSERT_TRUE(!p.ok() || *p != nullptr) << "truncated at " << len << " read to the end";
    }
    EXPECT_EQ(err.code(), Code::kCorruption) << err.ToString();
    EXPECT_NE(err.message().find(t->path()), std::string::npos) << err.message();
    EXPECT_NE(err.message().find("byte"), std::string::npos) << err.message();
    auto again = t->NextPiece();  // the error sticks
    EXPECT_EQ(again.status().code(), Code::kCorruption);
  }

  std::mt19937 rng(7);
  int failures = 0;
  for (int iter = 0; iter < 300; ++iter) {
    auto t = Spill(dir.path(), in, 1);
    ASSERT_NE(t, nullptr);
    {
      std::fstream f(t->path(), std::ios::in | std::ios::out | std::ios::binary);
      for (int k = 0; k < 3; ++k) {
        f.seekp(static_cast<std::streamoff>(rng() % size));
        f.put(static_cast<char>(rng()));
      }
    }
    for (int i = 0; i < 100; ++i) {
      auto p = t->NextPiece();
      if (!p.ok()) {
        EXPECT_EQ(p.status().code(), Code::kCorruption) << p.status().ToString();
        ++failures;
        break;
      }
      if (*p == nullptr) break;
    }
  }
  EXPECT_GT(failures, 50);
}

TEST(CdcSpillFile, UnwritableDirectoryIsIoError) {
  TempDir dir;
  std::string file = dir.path() + "/plain-file";
  std::ofstream(file) << "x";
  std::string under_file = file + "/sub";  // ENOTDIR, even for root

  auto w = SpillWriter::Create(under_file, 9);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kIoError);
  EXPECT_NE(w.status().message().find(under_file + "/spill-9-"), std::string::npos) << w.status().message();
  EXPECT_NE(w.status().message().find("Not a directory"), std::string::npos) << w.status().message();

  Status s = ResetSpillDir(under_file);
  EXPECT_EQ(s.code(), Code::kIoError) << s.ToString();
  EXPECT_NE(s.message().find(under_file), std::string::npos) << s.message();
  EXPECT_EQ(ResetSpillDir(file).code(), Code::kIoError);

  auto missing = SpillWriter::Create(dir.path() + "/absent", 9);
  EXPECT_EQ(missing.status().code(), Code::kIoError);
}

// A full disk, simulated by RLIMIT_FSIZE (EFBIG) in a child process so the
// limit cannot leak into other tests. Exit codes say which check failed.
TEST(CdcSpillFile, FileSizeLimitIsIoErrorAndRemovesTheFile) {
  TempDir dir;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{256 << 10, 256 << 10};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(10);
    auto a = Rel(1, "a", 1);
    auto w = SpillWriter::Create(dir.path(), 1);
    if (!w.ok()) _exit(11);
    Status s;
    for (int i = 0; i < 10000 && s.ok(); ++i)
      s = (*w)->Append(Row(Op::kInsert, a, {T(std::string(1000, 'z'))}));
    if (s.code() != Code::kIoError) _exit(12);
    if (s.message().find("File too large") == std::string::npos) _exit(13);
    if (s.message().find("free space in checkpoint.dir") == std::string::npos) _exit(14);
    if (s.message().find((*w)->path()) == std::string::npos) _exit(15);
    if ((*w)->Append(Row(Op::kInsert, a, {T("1")})).code() != Code::kIoError) _exit(16);  // sticky
    auto done = SpilledTransaction::Finish(std::move(w).value(), Header(), 1);
    if (done.status().code() != Code::kIoError) _exit(17);

    // Small enough for the buffer: the failure shows at Finish's flush.
    auto w2 = SpillWriter::Create(dir.path(), 2);
    if (!w2.ok()) _exit(18);
    for (int i = 0; i < 300; ++i) {
      if (!(*w2)->Append(Row(Op::kInsert, a, {T(std::string(1000, 'z'))})).ok()) _exit(19);
    }
    auto done2 = SpilledTransaction::Finish(std::move(w2).value(), Header(), 1);
    if (done2.status().code() != Code::kIoError) _exit(20);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(dir.Files(), 0u);  // both files removed after the errors
}

TEST(CdcSpillFile, ResetSpillDirCreatesAndCleans) {
  TempDir dir;
  std::string nested = dir.path() + "/a/b/spill";
  ASSERT_TRUE(ResetSpillDir(nested).ok());
  struct stat st {};
  ASSERT_EQ(::stat(nested.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  std::ofstream(nested + "/spill-1-1.bin") << "left by kill -9";
  std::ofstream(nested + "/spill-77-3.bin") << "";
  std::ofstream(nested + "/keep.txt") << "not ours";
  std::ofstream(nested + "/spill-1-1.bin.tmp") << "not ours either";
  ASSERT_TRUE(ResetSpillDir(nested).ok());
  EXPECT_FALSE(fs::exists(nested + "/spill-1-1.bin"));
  EXPECT_FALSE(fs::exists(nested + "/spill-77-3.bin"));
  EXPECT_TRUE(fs::exists(nested + "/keep.txt"));
  EXPECT_TRUE(fs::exists(nested + "/spill-1-1.bin.tmp"));

  // Two writers for one xid get distinct files.
  auto w1 = MustCreate(nested, 5);
  auto w2 = MustCreate(nested, 5);
  ASSERT_NE(w1, nullptr);
  ASSERT_NE(w2, nullptr);
  EXPECT_NE(w1->path(), w2->path());
}

}  // namespace
}  // namespace shardcast
