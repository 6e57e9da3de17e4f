// RocksDB's informational log, sent to shardcast's log instead of a LOG file
// in checkpoint.dir: on a full disk the distribution's RocksDB aborts (an
// assertion) when its LOG file write fails after an earlier failed write, so
// the store writes nothing to disk but its data.
#pragma once

#include <rocksdb/env.h>

#include <memory>

namespace shardcast {

std::shared_ptr<rocksdb::Logger> MakeRocksLogger();

}  // namespace shardcast
