// Checking an at-least-once Kafka feed against the changes a workload made.
//
// Every row the fault workload writes carries a stable row id (`rid`, never
// reused, unlike the primary key, which the workload changes) and a `version`
// that every update increments, so each change is one (rid, version, op):
// op 'c' (insert, version 0), 'u' (update, the new version), 'd' (delete, the
// last version). The feed is correct when
//   - every change the workload committed has a message (nothing lost);
//   - no message describes a change the workload did not commit;
//   - a change appears more than once only under one position header
//     (shardcast.position), and a position never names two different changes
//     (duplicates are replays a consumer can drop by position);
//   - per Kafka key, the first occurrences of positions are in commit order;
//   - no partition lost records to the mock broker's retention (~5 MiB per
//     partition), which would make "missing" meaningless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/harness/kafka_reader.h"

namespace shardcast::testing {

struct FeedChange {
  std::int64_t rid = 0;
  std::int64_t version = 0;
  char op = 'c';  // 'c', 'u' or 'd'
  bool operator<(const FeedChange& o) const {
    if (rid != o.rid) return rid < o.rid;
    if (version != o.version) return version < o.version;
    return op < o.op;
  }
  bool operator==(const FeedChange& o) const { return rid == o.rid && version == o.version && op == o.op; }
};

struct FeedReport {
  std::size_t messages = 0;           // change messages read (tombstones excluded)
  std::size_t duplicates = 0;         // messages repeating a position already seen
  std::size_t missing = 0;            // committed changes without a message
  std::vector<std::string> problems;  // the first few of each kind, readable
  bool ok() const { return problems.empty(); }
  std::string Summary() const;
};

// Checks records (one topic, as ReadTopic returns them) against expected.
// The records' values need after.rid/after.version (c, u) or before.rid/
// before.version (d).
FeedReport CheckFeed(const std::vector<KafkaRecord>& records, const std::vector<FeedChange>& expected);

// The sum over a topic's partitions of their high watermarks: how many
// records were ever written, also when the mock broker dropped old ones.
StatusOr<std::int64_t> SumEndOffsets(const std::string& bootstrap, const std::string& topic);

}  // namespace shardcast::testing
