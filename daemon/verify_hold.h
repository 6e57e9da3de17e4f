// verify's hold on the running daemon (admin API /hold): freeze shard apply,
// then let it apply up to exactly the verify snapshot's LSN and stop there
// while the shards are read. Without a daemon there is nothing to hold.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "common/lsn.h"
#include "common/status.h"
#include "daemon/admin_client.h"
#include "daemon/config.h"

namespace shardcast {

class VerifyHold {
 public:
  // POST /hold {}: the daemon stops applying new source transactions. When
  // no daemon answers on admin.listen the result is not held() (the caller
  // warns); a daemon that refuses is kUnavailable naming the hold; an
  // unreadable token file is kConfig.
  static StatusOr<std::unique_ptr<VerifyHold>> Begin(const Config& config);
  // Releases the hold (DELETE /hold) if one is taken.
  ~VerifyHold();

  bool held() const { return client_.has_value(); }

  // POST /hold {"lsn": lsn, "ttl_s": 600}, then GET /hold every 200 ms until
  // it reports ready. kUnavailable naming the hold when not ready within
  // timeout. No-op when not held().
  Status HoldAt(Lsn lsn, std::chrono::milliseconds timeout = std::chrono::seconds(120));

  // DELETE /hold now; best effort, a failure is returned for a warning.
  Status Release();

 private:
  VerifyHold() = default;
  std::optional<AdminClient> client_;
};

}  // namespace shardcast
