#include "checkpoint/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <vector>

#include "checkpoint/codec.h"
#include "checkpoint/rocks_logger.h"

namespace shardcast {
namespace {

namespace codec = checkpoint_codec;

// Order matters: handles_ is indexed by these.
enum Family : std::size_t { kMeta = 0, kProgress, kRing, kJobs, kTwoPc, kBacklog, kFamilyCount };
const char* const kFamilyNames[kFamilyCount] = {"default", "progress", "ring", "jobs", "twopc", "backlog"};

// The store counts toward the daemon's memory bound (limits.queue_bytes is
// the rest): small memtables across all families together, one small block
// cache. The store holds kilobytes of progress and job state; only the
// region backlog is large, and it goes to SST files, not memory.
constexpr std::size_t kWriteBufferSize = 1 << 20;
constexpr std::size_t kAllWriteBuffers = 4 << 20;
constexpr std::size_t kBlockCacheSize = 4 << 20;

constexpr std::uintmax_t kMinFreeBytes = 1 << 20;

constexpr const char* kFixDir =
    " (make sure checkpoint.dir exists, is a directory and is writable by the user shardcast runs as, "
    "or point checkpoint.dir elsewhere)";

// A RocksDB failure as a Status that names checkpoint.dir and the way out.
// After a failed write RocksDB keeps refusing writes (its background error),
// so every later write reports the same cause until the process restarts.
Status FromRocks(const rocksdb::Status& s, const std::string& dir, const std::string& doing) {
  const std::string text = s.ToString();
  std::string msg = doing + " checkpoint.dir " + dir + ": " + text;
  if (s.IsCorruption()) {
    return Corruption(msg + " (the store is damaged; move the directory away and re-seed the destinations)");
  }
  if (s.IsNoSpace() || text.find("No space left") != std::string::npos) {
    return IoError(msg +
                   " (the disk holding checkpoint.dir is full: free space there or move checkpoint.dir to a "
                   "larger disk, then restart; the last synced checkpoint is intact)");
  }
  if (text.find("File too large") != std::string::npos) {
    return IoError(msg +
                   " (a file size limit stops the store from growing: raise it, e.g. LimitFSIZE= in the "
                   "systemd unit or ulimit -f, then restart; the last synced checkpoint is intact)");
  }
  if (s.IsIOError()) {
    if (text.find("lock") != std::string::npos) {
      return IoError(msg +
                     " (another shardcast process holds the store; stop it or use another checkpoint.dir)");
    }
    return IoError(msg + kFixDir);
  }
  if (s.IsNotSupported() || s.IsInvalidArgument()) {
    return Corruption(msg + " (the directory does not hold a compatible checkpoint store)");
  }
  return IoError(msg);
}

class RocksCheckpointStore final : public CheckpointStore {
 public:
  RocksCheckpointStore(std::string dir, std::unique_ptr<rocksdb::DB> db,
                       std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : dir_(std::move(dir)), db_(std::move(db)), handles_(std::move(handles)) {
    sync_.sync = true;
  }

  ~RocksCheckpointStore() override {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    (void)db_->Close();
  }

  StatusOr<std::map<std::string, Lsn>> LoadProgress() override {
    std::map<std::string, Lsn> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kProgress]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string key = it->key().ToString();
      SC_ASSIGN_OR_RETURN(Lsn lsn, codec::DecodeLsn(it->value().ToStringView(), key));
      out.emplace(std::move(key), lsn);
    }
    if (!it->status().ok()) return FromRocks(it->status(), dir_, "reading progress from");
    return out;
  }

  // Upserts the given destinations in one synced batch; others keep theirs.
  Status SaveProgress(const std::map<std::string, Lsn>& progress) override {
    rocksdb::WriteBatch batch;
    for (const auto& [id, lsn] : progress) {
      rocksdb::Status s = batch.Put(handles_[kProgress], id, codec::EncodeLsn(lsn));
      if (!s.ok()) return FromRocks(s, dir_, "batching progress for");
    }
    return Write(batch, "writing progress to");
  }

  Status ResetProgress(const std::string& destination) override {
    rocksdb::WriteBatch batch;
    if (destination.empty()) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kProgress]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (auto s = batch.Delete(handles_[kProgress], it->key()); !s.ok())
          return FromRocks(s, dir_, "resetting");
      }
      if (!it->status().ok()) return FromRocks(it->status(), dir_, "reading progress from");
    } else {
      SC_ASSIGN_OR_RETURN(auto current, LoadProgress());
      if (current.count(destination) == 0) {
        std::string known;
        for (const auto& [id, lsn] : current) known += (known.empty() ? "" : ", ") + id;
        return NotFound("no progress recorded for destination '" + destination +
                        "' (recorded: " + (known.empty() ? "none" : known) + ")");
      }
      if (auto s = batch.Delete(handles_[kProgress], destination); !s.ok())
        return FromRocks(s, dir_, "resetting");
    }
    return Write(batch, "resetting progress in");
  }

  StatusOr<std::optional<std::string>> GetMeta(const std::string& key) override {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[kMeta], key, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, dir_, "reading '" + key + "' from");
    return std::optional<std::string>(std::move(value));
  }

  Status PutMeta(const std::string& key, const std::string& value) override {
    rocksdb::WriteBatch batch;
    if (auto s = batch.Put(handles_[kMeta], key, value); !s.ok())
      return FromRocks(s, dir_, "batching meta for");
    return Write(batch, "writing '" + key + "' to");
  }

  Status PutRing(std::uint64_t epoch, const RingRecord& record) override {
    rocksdb::WriteBatch batch;
    rocksdb::Status s = batch.Put(handles_[kRing], codec::EncodeEpoch(epoch), codec::EncodeRing(record));
    if (!s.ok()) return FromRocks(s, dir_, "batching ring for");
    return Write(batch, "writing ring epoch " + std::to_string(epoch) + " to");
  }

  StatusOr<std::map<std::uint64_t, RingRecord>> LoadRings() override {
    std::map<std::uint64_t, RingRecord> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kRing]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      SC_ASSIGN_OR_RETURN(std::uint64_t epoch, codec::DecodeEpoch(it->key().ToStringView()));
      SC_ASSIGN_OR_RETURN(RingRecord record, codec::DecodeRing(it->value().ToStringView(), epoch));
      out.emplace(epoch, std::move(record));
    }
    if (!it->status().ok()) return FromRocks(it->status(), dir_, "reading rings from");
    return out;
  }

  Status PutJob(const std::string& id, const std::string& state) override {
    rocksdb::WriteBatch batch;
    if (auto s = batch.Put(handles_[kJobs], id, state); !s.ok())
      return FromRocks(s, dir_, "batching job for");
    return Write(batch, "writing job " + id + " to");
  }

  StatusOr<std::map<std::string, std::string>> LoadJobs() override {
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handles_[kJobs]));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      out.emplace(it->key().ToString(), it->value().ToString());
    if (!it->status().ok()) return FromRocks(it->status(), dir_, "reading jobs from");
    return out;
  }

  Status DeleteJob(const std::string& id) override {
    rocksdb::WriteBatch batch;
    if (auto s = batch.Delete(handles_[kJobs], id); !s.ok()) return FromRocks(s, dir_, "batching job for");
    return Write(batch, "deleting job " + id + " from");
  }

 private:
  Status Write(rocksdb::WriteBatch& batch, const std::string& doing) {
    rocksdb::Status s = db_->Write(sync_, &batch);
    if (!s.ok()) return FromRocks(s, dir_, doing);
    return Status::Ok();
  }

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // by Family; destroyed before db_ closes
  rocksdb::WriteOptions sync_;
};

rocksdb::DBOptions StoreOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.db_write_buffer_size = kAllWriteBuffers;
  options.max_total_wal_size = kAllWriteBuffers;  // flush idle families instead of keeping old WAL
  options.max_open_files = 256;
  options.info_log = MakeRocksLogger();  // no LOG file: see rocks_logger.h
  options.paranoid_checks = true;
  return options;
}

rocksdb::ColumnFamilyOptions FamilyOptions(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = kWriteBufferSize;
  cf.max_write_buffer_number = 2;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

}  // namespace

StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("checkpoint directory is empty (set checkpoint.dir)");
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    return IoError("checkpoint.dir " + dir +
                   " exists and is not a directory: point checkpoint.dir at a directory (it is created when "
                   "missing) or move the file away");
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return IoError("creating checkpoint.dir " + dir + ": " + ec.message() + kFixDir);
  }
  // Every open writes a new log and manifest, and RocksDB as packaged here
  // aborts on an assertion instead of failing when the disk fills during
  // open: refuse early, with the reason.
  const std::filesystem::space_info space = std::filesystem::space(dir, ec);
  if (!ec && space.available < kMinFreeBytes) {
    return IoError("checkpoint.dir " + dir + " is on a full disk (" + std::to_string(space.available >> 10) +
                   " KiB free; the store needs " + std::to_string(kMinFreeBytes >> 10) +
                   " KiB to open): free space there or move checkpoint.dir to a larger disk, then restart; "
                   "the last synced checkpoint is intact");
  }

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(kBlockCacheSize);
  rocksdb::ColumnFamilyOptions cf_options = FamilyOptions(cache);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kFamilyNames) families.emplace_back(name, cf_options);

  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(StoreOptions(), dir, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, dir, "opening checkpoint store");
  return std::unique_ptr<CheckpointStore>(
      new RocksCheckpointStore(dir, std::unique_ptr<rocksdb::DB>(raw), std::move(handles)));
}

}  // namespace shardcast
