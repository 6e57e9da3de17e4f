// on_error: dead_letter (DESIGN.md config): a change that a destination
// rejects for a reason retrying cannot fix (a constraint violation, a value
// the column refuses) is sent, with the error, to a dead-letter queue instead
// of stopping that destination. Never skipped silently: the change is durable
// in the queue before the destination transaction that leaves it out commits.
//
// How a failing change is found without holding anything for a retry: the
// first failure marks the positions of the failing statement "careful" and
// the destination replays from the slot; careful transactions are applied
// one change at a time inside savepoints, and only the change the server
// rejects goes to the queue. The marks live as long as the daemon.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/lsn.h"
#include "common/status.h"
#include "sharding/router.h"

namespace shardcast {

class DeadLetterQueue {
 public:
  virtual ~DeadLetterQueue() = default;

  // Sends change `index` of txn, which destination could not apply, with the
  // error. Returns once the queue has it durably. Thread-safe.
  virtual Status Send(const std::string& destination, const RoutedTransaction& txn, std::size_t index,
                      const Status& error) = 0;

  // Transactions ending in [first, last] are applied change by change at
  // destination from now on.
  void MarkCareful(const std::string& destination, Lsn first, Lsn last);
  bool IsCareful(const std::string& destination, Lsn end_lsn) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::pair<Lsn, Lsn>>> careful_;
};

}  // namespace shardcast
