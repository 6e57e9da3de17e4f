// The checkpoint store against real RocksDB in a temporary directory.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint/codec.h"
#include "checkpoint/store.h"

namespace shardcast {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shardcast-cp-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<CheckpointStore> MustOpen(const std::string& dir) {
  auto store = CheckpointStore::Open(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

TEST(CheckpointStoreTest, ProgressRoundTripAndReopen) {
  TempDir tmp;
  std::string dir = tmp.path() + "/nested/store";  // created when missing
  {
    auto store = MustOpen(dir);
    ASSERT_TRUE(store);
    auto empty = store->LoadProgress();
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
    ASSERT_TRUE(store->SaveProgress({{"s0/us-east", 0x16B374D848}, {"kafka", 42}}).ok());
    // Later saves upsert; destinations not named keep their progress.
    ASSERT_TRUE(store->SaveProgress({{"s0/us-east", 0x16B374D900}}).ok());
    auto loaded = store->LoadProgress();
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(*loaded, (std::map<std::string, Lsn>{{"kafka", 42}, {"s0/us-east", 0x16B374D900}}));
  }
  auto store = MustOpen(dir);
  ASSERT_TRUE(store);
  auto loaded = store->LoadProgress();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(*loaded, (std::map<std::string, Lsn>{{"kafka", 42}, {"s0/us-east", 0x16B374D900}}));
}

TEST(CheckpointStoreTest, LargeLsnsSurviveEncoding) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  const Lsn big = 0xFFFFFFFFFFFFFFFEull;
  ASSERT_TRUE(store->SaveProgress({{"a", big}, {"b", 0}, {"c", 0x0100000000000000ull}}).ok());
  auto loaded = store->LoadProgress();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->at("a"), big);
  EXPECT_EQ(loaded->at("b"), 0u);
  EXPECT_EQ(loaded->at("c"), 0x0100000000000000ull);
}

TEST(CheckpointStoreTest, ResetOneAndAll) {
  TempDir tmp;
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->SaveProgress({{"a", 1}, {"b", 2}, {"c", 3}}).ok());
  ASSERT_TRUE(store->ResetProgress("b").ok());
  EXPECT_EQ(*store->LoadProgress(), (std::map<std::string, Lsn>{{"a", 1}, {"c", 3}}));

  Status missing = store->ResetProgress("typo");
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_NE(missing.message().find("typo"), std::string::npos) << missing.message();

  ASSERT_TRUE(store->ResetProgress("").ok());
  EXPECT_TRUE(store->LoadProgress()->empty());
  ASSERT_TRUE(store->ResetProgress("").ok());  // nothing left: still fine
}

TEST(CheckpointStoreTest, MetaRoundTrip) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_TRUE(store);
    auto absent = store->GetMeta("source.slot");
    ASSERT_TRUE(absent.ok());
    EXPECT_FALSE(absent->has_value());
    ASSERT_TRUE(store->PutMeta("source.slot", "shardcast").ok());
    ASSERT_TRUE(store->PutMeta("source.system_identifier", "7301234567890123456").ok());
    ASSERT_TRUE(store->PutMeta("source.slot", "shardcast_2").ok());
  }
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->GetMeta("source.slot"), std::optional<std::string>("shardcast_2"));
  EXPECT_EQ(*store->GetMeta("source.system_identifier"), std::optional<std::string>("7301234567890123456"));
  // Meta and progress live in different families.
  EXPECT_TRUE(store->LoadProgress()->empty());
}

TEST(CheckpointStoreTest, RingsInEpochOrder) {
  TempDir tmp;
  {
    auto store = MustOpen(tmp.path());
    ASSERT_TRUE(store);
    // 256 sorts before 2 as text; the big-endian key keeps numeric order.
    ASSERT_TRUE(store->PutRing(256, {"s0:1,s1:1,s2:1", 0x300}).ok());
    ASSERT_TRUE(store->PutRing(2, {"s0:1,s1:1", 0x200}).ok());
    ASSERT_TRUE(store->PutRing(1, {"", 0}).ok());
  }
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  auto rings = store->LoadRings();
  ASSERT_TRUE(rings.ok()) << rings.status().ToString();
  ASSERT_EQ(rings->size(), 3u);
  auto it = rings->begin();
  EXPECT_EQ(it->first, 1u);
  EXPECT_EQ(it->second.definition, "");
  ++it;
  EXPECT_EQ(it->first, 2u);
  EXPECT_EQ(it->second.definition, "s0:1,s1:1");
  EXPECT_EQ(it->second.activation_lsn, 0x200u);
  ++it;
  EXPECT_EQ(it->first, 256u);
  EXPECT_EQ(it->second.activation_lsn, 0x300u);
}

TEST(CheckpointStoreTest, UnwritableDirectoryIsIoError) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root: chmod 000 does not stop root from writing, so this cannot fail here";
  }
  TempDir tmp;
  std::string parent = tmp.path() + "/locked";
  ASSERT_EQ(mkdir(parent.c_str(), 0700), 0);
  ASSERT_EQ(chmod(parent.c_str(), 0), 0);
  auto store = CheckpointStore::Open(parent + "/store");
  chmod(parent.c_str(), 0700);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kIoError) << store.status().ToString();
  EXPECT_NE(store.status().message().find(parent), std::string::npos) << store.status().message();

  // An existing directory that is read-only.
  std::string readonly = tmp.path() + "/readonly";
  ASSERT_EQ(mkdir(readonly.c_str(), 0500), 0);
  auto ro = CheckpointStore::Open(readonly);
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.status().code(), Code::kIoError) << ro.status().ToString();
  EXPECT_NE(ro.status().message().find(readonly), std::string::npos) << ro.status().message();
}

TEST(CheckpointStoreTest, DirectoryThatIsAFileIsIoError) {
  TempDir tmp;
  std::string file = tmp.path() + "/plain-file";
  std::ofstream(file) << "x";
  auto store = CheckpointStore::Open(file + "/store");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kIoError) << store.status().ToString();
  EXPECT_NE(store.status().message().find(file), std::string::npos) << store.status().message();
}

TEST(CheckpointStoreTest, SecondOpenOfSameStoreFails) {
  TempDir tmp;
  auto first = MustOpen(tmp.path());
  ASSERT_TRUE(first);
  auto second = CheckpointStore::Open(tmp.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kIoError) << second.status().ToString();
}

// Writes a raw value into a family behind the store's back.
void PutRaw(const std::string& dir, const std::string& family, const std::string& key,
            const std::string& value) {
  rocksdb::Options options;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(options, dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, families, &handles, &db).ok());
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == family) {
      EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), handles[i], key, value).ok());
    }
  }
  for (auto* h : handles) EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

TEST(CheckpointStoreTest, CorruptProgressValueIsCorruption) {
  TempDir tmp;
  { ASSERT_TRUE(MustOpen(tmp.path())->SaveProgress({{"good", 7}}).ok()); }
  PutRaw(tmp.path(), "progress", "s3/eu-west", "abc");
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  auto loaded = store->LoadProgress();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_NE(loaded.status().message().find("s3/eu-west"), std::string::npos) << loaded.status().message();
}

TEST(CheckpointStoreTest, CorruptRingRecordIsCorruption) {
  TempDir tmp;
  { ASSERT_TRUE(MustOpen(tmp.path())->PutRing(1, {"s0:1", 5}).ok()); }
  PutRaw(tmp.path(), "ring", checkpoint_codec::EncodeEpoch(2), std::string("\x01\x00\x01", 3));
  auto store = MustOpen(tmp.path());
  ASSERT_TRUE(store);
  auto rings = store->LoadRings();
  ASSERT_FALSE(rings.ok());
  EXPECT_EQ(rings.status().code(), Code::kCorruption);
  EXPECT_NE(rings.status().message().find("epoch 2"), std::string::npos) << rings.status().message();
}

TEST(CheckpointStoreTest, GarbageStoreFilesAreCorruption) {
  TempDir tmp;
  { ASSERT_TRUE(MustOpen(tmp.path())->PutMeta("k", "v").ok()); }
  std::ofstream(tmp.path() + "/CURRENT", std::ios::trunc) << "not a manifest name";
  auto store = CheckpointStore::Open(tmp.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kCorruption) << store.status().ToString();
  EXPECT_NE(store.status().message().find(tmp.path()), std::string::npos) << store.status().message();
}

TEST(CheckpointStoreTest, DirectoryPathThatIsAFileIsIoError) {
  TempDir tmp;
  std::string file = tmp.path() + "/plain-file";
  std::ofstream(file) << "x";
  auto store = CheckpointStore::Open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kIoError) << store.status().ToString();
  EXPECT_NE(store.status().message().find("checkpoint.dir " + file), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find("not a directory"), std::string::npos) << store.status().message();
}

// What a writer saw, reported line by line: "ok <n>" or "fail <code> <message>".
struct WriteLog {
  std::vector<int> ok_jobs;  // jobs whose PutJob returned ok
  Lsn last_ok_progress = 0;
  std::string first_failure;
  Code failure_code = Code::kOk;
  bool refused_after_failure = false;
};

// Saves progress and 64 KiB jobs into dir until a write fails (at most
// max_jobs), then tries one more progress write. Runs in the calling process.
WriteLog FillUntilFailure(const std::string& dir, int max_jobs) {
  WriteLog log;
  auto store = CheckpointStore::Open(dir);
  if (!store.ok()) {
    log.first_failure = store.status().ToString();
    log.failure_code = store.status().code();
    return log;
  }
  const std::string big(64 << 10, 'j');
  for (int i = 1; i <= max_jobs; ++i) {
    Status p = (*store)->SaveProgress({{"s0@default", static_cast<Lsn>(i)}});
    if (p.ok()) log.last_ok_progress = static_cast<Lsn>(i);
    Status j = p.ok() ? (*store)->PutJob("job" + std::to_string(i), big + std::to_string(i)) : p;
    if (!j.ok()) {
      log.first_failure = j.ToString();
      log.failure_code = j.code();
      // The store must not pretend: a write after the failure fails too, or is durable.
      Status after = (*store)->SaveProgress({{"s0@default", 1000000}});
      log.refused_after_failure = !after.ok();
      if (after.ok()) log.last_ok_progress = 1000000;
      return log;
    }
    log.ok_jobs.push_back(i);
  }
  return log;
}

// Everything the writer was told is durable is there, whole, after a reopen.
void ExpectDurable(const std::string& dir, const WriteLog& log) {
  auto store = MustOpen(dir);
  ASSERT_TRUE(store);
  auto progress = store->LoadProgress();
  ASSERT_TRUE(progress.ok()) << progress.status().ToString();
  EXPECT_EQ(progress->at("s0@default"), log.last_ok_progress);
  auto jobs = store->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  const std::string big(64 << 10, 'j');
  for (int i : log.ok_jobs) {
    auto it = jobs->find("job" + std::to_string(i));
    ASSERT_NE(it, jobs->end()) << "job" << i << " was reported durable and is gone";
    EXPECT_EQ(it->second, big + std::to_string(i));
  }
  for (const auto& [id, value] : *jobs) EXPECT_EQ(value, big + id.substr(3)) << id << " is half-written";
}

// A file size limit (RLIMIT_FSIZE, e.g. systemd's LimitFSIZE=) makes writes
// fail with EFBIG; the process must ignore SIGXFSZ to see the error.
TEST(CheckpointStoreTest, FileSizeLimitIsIoErrorAndLosesNothing) {
  TempDir tmp;
  { ASSERT_TRUE(MustOpen(tmp.path())->PutMeta("created", "yes").ok()); }
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN);
    rlimit limit{1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
    WriteLog log = FillUntilFailure(tmp.path(), 200);
    std::string out = std::to_string(static_cast<int>(log.failure_code)) + "\n" +
                      std::to_string(log.last_ok_progress) + "\n" + (log.refused_after_failure ? "1" : "0") +
                      "\n" + std::to_string(log.ok_jobs.size()) + "\n" + log.first_failure;
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "child status " << wstatus;
  std::istringstream in(got);
  int code = 0, refused = 0;
  std::size_t jobs_ok = 0;
  WriteLog log;
  in >> code >> log.last_ok_progress >> refused >> jobs_ok;
  std::getline(in >> std::ws, log.first_failure, '\0');
  ASSERT_EQ(static_cast<Code>(code), Code::kIoError) << got;
  EXPECT_NE(log.first_failure.find("checkpoint.dir " + tmp.path()), std::string::npos) << log.first_failure;
  EXPECT_NE(log.first_failure.find("file size limit"), std::string::npos) << log.first_failure;
  EXPECT_GT(jobs_ok, 0u) << "the limit hit before anything was written: " << got;
  EXPECT_LT(jobs_ok, 200u);
  for (std::size_t i = 1; i <= jobs_ok; ++i) log.ok_jobs.push_back(static_cast<int>(i));
  ExpectDurable(tmp.path(), log);
}

// A full disk: a 4 MiB tmpfs, half taken by a file. Needs permission to mount.
TEST(CheckpointStoreTest, FullDiskIsIoErrorAndLosesNothing) {
  TempDir tmp;
  const std::string mnt = tmp.path() + "/small";
  ASSERT_EQ(mkdir(mnt.c_str(), 0700), 0);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (" << std::strerror(errno) << "); the file size limit "
                 << "test covers the same path";
  const std::string dir = mnt + "/store";
  const std::string filler = mnt + "/filler";  // what the operator deletes to make room
  std::ofstream(filler) << std::string(2 << 20, 'f');
  WriteLog log = FillUntilFailure(dir, 200);
  EXPECT_EQ(log.failure_code, Code::kIoError) << log.first_failure;
  EXPECT_NE(log.first_failure.find("checkpoint.dir " + dir), std::string::npos) << log.first_failure;
  EXPECT_NE(log.first_failure.find("full"), std::string::npos) << log.first_failure;
  EXPECT_TRUE(log.refused_after_failure);
  EXPECT_FALSE(log.ok_jobs.empty());
  // Opening on the full disk is refused with the reason, before RocksDB tries.
  auto full = CheckpointStore::Open(dir);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), Code::kIoError);
  EXPECT_NE(full.status().message().find("full disk"), std::string::npos) << full.status().message();
  // Once space is freed, everything reported durable is there.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  ExpectDurable(dir, log);
  umount2(mnt.c_str(), MNT_DETACH);
}

TEST(CheckpointCodecTest, RingRecordRoundTripAndRejects) {
  namespace codec = checkpoint_codec;
  CheckpointStore::RingRecord rec{"s0:1,s1:2", 0x0102030405060708ull};
  std::string bytes = codec::EncodeRing(rec);
  ASSERT_EQ(bytes.size(), 9u + rec.definition.size());
  EXPECT_EQ(bytes[0], 1);
  EXPECT_EQ(bytes.substr(1, 8), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  auto back = codec::DecodeRing(bytes, 3);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->definition, rec.definition);
  EXPECT_EQ(back->activation_lsn, rec.activation_lsn);

  EXPECT_EQ(codec::DecodeRing("", 3).status().code(), Code::kCorruption);
  EXPECT_EQ(codec::DecodeRing(std::string("\x02", 1) + bytes.substr(1), 3).status().code(),
            Code::kCorruption);
  for (std::size_t n = 1; n < 9; ++n) {
    EXPECT_EQ(codec::DecodeRing(bytes.substr(0, n), 3).status().code(), Code::kCorruption) << n;
  }
  EXPECT_EQ(codec::DecodeEpoch("short").status().code(), Code::kCorruption);
  EXPECT_EQ(*codec::DecodeEpoch(codec::EncodeEpoch(77)), 77u);
  EXPECT_EQ(codec::DecodeLsn("123456789", "d").status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace shardcast
