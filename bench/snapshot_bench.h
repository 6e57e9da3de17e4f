// The snapshot benchmark (issue 3): shardcast's initial snapshot against
// `pg_dump --data-only | psql` of the same tables, on real servers started by
// tests/harness. One source server and one shard server (separate servers on
// the same machine). Each run loads into fresh databases that hold the same
// empty tables, and every run's row counts are checked against the source: a
// run that loaded nothing fails the benchmark instead of reporting a speed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/harness/pg_server.h"

namespace shardcast::bench {

// The seeded tables: name, shard key, share of the rows.
struct BenchTable {
  std::string name;       // unqualified, in schema public
  std::string shard_key;  // a column of the primary key
};
const std::vector<BenchTable>& BenchTables();

// CREATE TABLE statements of every bench table (the source and every target).
const std::string& BenchDdl();

// Seeds `rows` rows over the bench tables of database `db` and VACUUM
// ANALYZEs them, so no run pays for setting hint bits.
Status SeedSource(testing::PgServer& source, const std::string& db, std::int64_t rows);

// Rows per bench table, in BenchTables() order.
StatusOr<std::vector<std::int64_t>> CountRows(testing::PgServer& server, const std::string& db);

struct RunResult {
  std::string variant;         // "shardcast 1 shard", "pg_dump | psql"
  std::int64_t rows = 0;       // rows loaded, checked against the source
  double wall_s = 0;           // wall clock of the whole run
  double self_s = -1;          // what shardcast reported itself (-1: not reported)
  double self_rows_per_s = 0;  // the rows/s shardcast reported itself
  double rows_per_s() const { return wall_s > 0 ? static_cast<double>(rows) / wall_s : 0; }
};

// What every run needs: the servers, the source database and its counts.
struct BenchEnv {
  std::unique_ptr<testing::PgServer> source;
  std::unique_ptr<testing::PgServer> shards;
  std::string source_db = "app";
  std::vector<std::int64_t> source_counts;  // per table
  std::string work_dir;                     // configs, logs, checkpoints
  std::string pg_bin_dir;                   // /usr/lib/postgresql/N/bin
  std::int64_t total_rows() const;
};

// (a) Runs `shardcast run` with `shard_count` shards (fresh databases on the
// shard server, a fresh slot, publication and checkpoint directory), timed
// from process start to its "initial snapshot done" line; then SIGTERM,
// checks the shards' row counts, and drops the slot and the databases.
StatusOr<RunResult> RunShardcastSnapshot(BenchEnv& env, int shard_count, int run);

// (b) Runs pg_dump --data-only -t <each table> of the source piped into
// psql on a fresh database of the shard server, timed; then checks its row
// counts and drops it.
StatusOr<RunResult> RunPgDumpPipe(BenchEnv& env, int run);

}  // namespace shardcast::bench
