// The stream side of a DBLog backfill chunk (DESIGN.md "Seeding and
// verifying"). The backfill runner announces a chunk, writes a low
// watermark row to shardcast.signal, reads the chunk, hands the rows over
// and writes a high watermark. The reader thread sees both watermarks in
// commit order: between them it records every key of the chunk's table the
// stream changed, and at the high watermark it appends the chunk's rows
// that the stream did not change to that transaction, as kRead changes.
// So a chunk lands at one stream position and never overwrites a newer
// change. Changes inside the window are marked upsert (the chunk may or may
// not have written their row yet); keys whose change cannot be applied as a
// full row (unchanged TOAST values, a changed key) are re-read from the
// source at the high watermark. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cdc/change.h"
#include "cdc/snapshot_reader.h"
#include "common/status.h"

namespace shardcast {

inline constexpr const char* kSignalSchema = "shardcast";
inline constexpr const char* kSignalTable = "signal";
// The signal table; it is in the publication.
inline constexpr const char* kSignalTableDdl =
    "CREATE SCHEMA IF NOT EXISTS shardcast; "
    "CREATE TABLE IF NOT EXISTS shardcast.signal (id bigserial PRIMARY KEY, chunk text NOT NULL, "
    "kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())";

class WatermarkCoordinator {
 public:
  // Reads the current rows of keys (from the source, at the moment of the
  // high watermark). Called on the reader thread.
  using Reread = std::function<StatusOr<std::vector<Tuple>>(const SnapshotTable&, const std::vector<Tuple>&)>;
  explicit WatermarkCoordinator(Reread reread) : reread_(std::move(reread)) {}

  // Runner: announce a chunk before writing its low watermark. chunk_id is
  // unique per session, so replayed watermarks of older chunks never match.
  void Expect(const std::string& chunk_id, const SnapshotTable& table);
  // Runner: the chunk's rows, read after the low watermark committed and
  // before the high one is written.
  void Deliver(const std::string& chunk_id, std::vector<Tuple> rows);
  // Runner: waits until the reader appended the chunk; returns the end_lsn
  // of the high watermark's transaction. kCancelled when *stop is set,
  // kUnavailable on timeout.
  StatusOr<Lsn> AwaitEmitted(const std::string& chunk_id, std::chrono::milliseconds timeout,
                             const std::atomic<bool>* stop);
  // Runner: forget an abandoned chunk.
  void Abandon(const std::string& chunk_id);

  // Runner: a job is backfilling this table (call before its first chunk,
  // and for every unfinished job before streaming starts). Until
  // Deactivate, the table's shard rows may be missing anywhere ahead of the
  // job's cursor, so whole-row inserts and updates of it are applied as
  // upserts (an update that changes the key deletes the old key first), and
  // an update that moves a key but lacks unchanged-TOAST values is re-read
  // at the next high watermark of the table.
  void Activate(const SnapshotTable& table);
  void Deactivate(const std::string& schema, const std::string& name);

  // Reader: call with every committed transaction before routing it.
  Status OnTransaction(Transaction& txn);

  // Reader: stream keys dropped from the last emitted chunk (for tests and logs).
  std::size_t last_dropped() const;

  // "INSERT INTO shardcast.signal ..." for a watermark.
  static std::string WatermarkSql(const std::string& chunk_id, char kind);

 private:
  struct Pending {
    std::string chunk_id;
    SnapshotTable table;
    bool open = false;  // low watermark seen
    bool delivered = false;
    bool truncated = false;  // the table was truncated inside the window
    std::vector<Tuple> rows;
    std::set<std::vector<std::string>> changed;  // keys changed inside the window (NULL as "\\N")
    std::vector<Tuple> reread;                   // keys to read again at the high watermark
    std::optional<Lsn> emitted;
  };

  struct Active {
    SnapshotTable table;
    std::vector<Tuple> reread;  // keys to re-read at the table's next high watermark
  };

  void RecordChange(Pending& p, Change& c);
  void MarkActive(Active& a, Change& c);
  Status AppendChunk(Pending& p, Transaction& txn);

  Reread reread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Pending> pending_;      // at most one chunk in flight
  std::map<std::string, Active> active_;  // "schema.name" of tables being backfilled
  std::size_t last_dropped_ = 0;
};

}  // namespace shardcast
