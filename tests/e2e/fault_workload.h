// The mixed write workload of the fault-injection suite: one thread writing
// to the source the whole time, through crashes of the daemon and outages of
// the servers (the source's included), and remembering every change it
// committed so the Kafka feed can be checked (tests/e2e/feed_check.h).
//
// Table (kItemsDdl): items(id PK, rid, acct shard key, version, pad), replica
// identity FULL. Transactions: inserts, updates, deletes, shard-key changes
// (rows move between shards), primary-key changes, multi-row transactions
// over several shards, and now and then one large INSERT ... SELECT.
//
// Each transaction also inserts its number into wl_commits (source only, not
// replicated): when the connection breaks during COMMIT the outcome is
// unknown, and after reconnecting the workload looks it up there.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "pq/pq_util.h"
#include "tests/e2e/feed_check.h"

namespace shardcast::testing {

// DDL of the replicated table, for the source and every shard.
inline constexpr const char* kItemsDdl =
    "CREATE TABLE public.items (id bigint PRIMARY KEY, rid bigint NOT NULL, acct int NOT NULL, "
    "version int NOT NULL, pad text);\n";
// Source only: the shard key is outside the primary key, and the commit log.
inline constexpr const char* kItemsSourceOnly =
    "ALTER TABLE public.items REPLICA IDENTITY FULL;\n"
    "CREATE TABLE public.wl_commits (n bigint PRIMARY KEY);\n";

class FaultWorkload {
 public:
  struct Options {
    std::string dsn;  // the source database
    unsigned seed = 1;
    std::chrono::milliseconds pause{15};           // between small transactions
    int large_rows = 20000;                        // rows of one large transaction
    std::chrono::milliseconds large_every{60000};  // how often one runs (the first after a sixth of it)
  };
  struct Stats {
    std::int64_t transactions = 0;  // committed
    std::int64_t large = 0;         // committed large transactions
    std::int64_t changes = 0;       // committed row changes
    std::int64_t ambiguous = 0;     // connection lost during commit (resolved through wl_commits)
    std::int64_t reconnects = 0;
    std::string ToString() const;
  };

  explicit FaultWorkload(Options options);
  ~FaultWorkload();

  void Start();
  void Stop();  // joins the thread
  // One committed insert, after Stop: the end marker.
  Status Marker();

  Stats stats() const;
  // A statement that failed for a reason other than a lost connection (a bug
  // of the workload or the source); empty when none.
  std::string error() const;
  // Every change committed so far. Call after Stop.
  const std::vector<FeedChange>& committed() const { return committed_; }

 private:
  struct RowState {
    std::int64_t rid, id;
    int acct, version;
  };
  struct Staged;  // a transaction being built

  void Run();
  void SmallTransaction(Staged& t);
  void LargeTransaction(Staged& t);
  // Runs t; applies it to the model when it committed. False on an
  // unresolved failure (connection down: try again later).
  bool Execute(Staged& t);
  bool EnsureConnected();
  void Apply(const Staged& t);
  std::uint64_t Next();      // xorshift64: reproducible from the seed
  std::size_t RandomLive();  // an index into live_

  Options options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  PgConnPtr conn_;
  std::uint64_t rng_;
  std::int64_t next_rid_ = 1, next_id_ = 1, next_txn_ = 1;
  std::vector<RowState> live_;
  std::unordered_map<std::int64_t, std::size_t> index_;  // rid -> position in live_
  std::vector<FeedChange> committed_;
  mutable std::mutex mu_;  // stats_ and error_
  Stats stats_;
  std::string error_;
};

}  // namespace shardcast::testing
