// Bulk-loads snapshot rows into one shard database (one shard in one
// region) with COPY FROM STDIN, one destination transaction per chunk: a
// chunk is either wholly in or not at all. Used by the initial snapshot,
// which runs before streaming starts and so needs no progress row.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cdc/change.h"
#include "common/status.h"

namespace shardcast {

class ShardCopyLoader {
 public:
  // destination: "s0@us-east", for messages; dsn is never logged.
  static StatusOr<std::unique_ptr<ShardCopyLoader>> Connect(const std::string& destination,
                                                            const std::string& dsn);
  ~ShardCopyLoader();

  // BEGIN; COPY "schema"."table" ("c1", ...) FROM STDIN (text format), with
  // the relation's columns in its order.
  Status Begin(const Relation& relation);
  // One row in COPY text format, without its newline. Buffered; sent in
  // large pieces.
  Status Write(std::string_view line);
  // Ends the COPY and commits. On failure (e.g. a duplicate key because the
  // shard table is not empty) the transaction is rolled back and the Status
  // names the destination, the table and the server's message.
  Status Commit();
  // Rolls back an open chunk (after a failure elsewhere).
  void Abort();

  std::size_t rows_in_chunk() const;

 private:
  ShardCopyLoader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardcast
