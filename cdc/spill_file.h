// Spilling of large source transactions (DESIGN.md "Memory is bounded"): the
// decoder writes the changes of a transaction that grows past a byte bound
// to a file and, once its Commit arrives (and with it the end_lsn every
// position needs), reads them back as pieces of bounded size. Like the
// server's own reorder buffer, nothing about a transaction's size is held in
// memory. The file is private to one daemon run: a restart deletes leftovers
// and replays from the slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"

namespace shardcast {

// Writes the changes of one transaction to spill-<xid>-<n>.bin. Relations
// are kept in memory (a table's description, not its rows) and referenced by
// index in the file, so a change read back points at the very Relation object
// it was appended with. Rows are not kept: they go through a 1 MiB buffer.
// No fsync: after a crash the slot resends the transaction.
class SpillWriter {
 public:
  // Creates a new file in dir (which must exist). kIoError naming the path
  // when it cannot (unwritable, full disk).
  static StatusOr<std::unique_ptr<SpillWriter>> Create(const std::string& dir, std::uint32_t xid);
  ~SpillWriter();  // removes the file unless Finish handed it over

  // kIoError naming the file (ENOSPC, EFBIG, ...); after one failure every
  // later call returns the same error.
  Status Append(const Change& change);
  std::uint64_t changes() const { return changes_; }
  std::uint64_t bytes() const { return bytes_; }  // file size once flushed
  const std::string& path() const;

 private:
  friend class SpilledTransaction;
  SpillWriter() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t changes_ = 0;
  std::uint64_t bytes_ = 0;
};

// A committed transaction whose changes are in a spill file. Removes the
// file when destroyed.
class SpilledTransaction {
 public:
  // header: the committed transaction (positions, xid, commit time) without
  // changes. piece_bytes bounds each piece's changes (ApproxBytes).
  static StatusOr<std::unique_ptr<SpilledTransaction>> Finish(std::unique_ptr<SpillWriter> writer,
                                                              const Transaction& header,
                                                              std::size_t piece_bytes);
  ~SpilledTransaction();

  // The next piece: header fields copied, first_piece set on the first,
  // last_piece on the last, changes in ordinal order with their original
  // ordinals. nullptr after the last piece. kCorruption or kIoError naming the
  // file when it cannot be read back.
  StatusOr<std::shared_ptr<Transaction>> NextPiece();

  std::uint64_t changes() const;
  const std::string& path() const;

 private:
  SpilledTransaction() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Removes spill files (spill-*.bin) a previous run left behind (after
// kill -9), creating dir (and its parents, mode 0700) when absent. kIoError
// naming dir when it cannot.
Status ResetSpillDir(const std::string& dir);

}  // namespace shardcast
