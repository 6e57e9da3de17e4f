#include "sink/dead_letter.h"

namespace shardcast {

void DeadLetterQueue::MarkCareful(const std::string& destination, Lsn first, Lsn last) {
  std::lock_guard lock(mu_);
  careful_[destination].emplace_back(first, last);
}

bool DeadLetterQueue::IsCareful(const std::string& destination, Lsn end_lsn) const {
  std::lock_guard lock(mu_);
  auto it = careful_.find(destination);
  if (it == careful_.end()) return false;
  for (const auto& [first, last] : it->second)
    if (end_lsn >= first && end_lsn <= last) return true;
  return false;
}

}  // namespace shardcast
