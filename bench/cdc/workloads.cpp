// The writers: W1 (inserts in 1000-row transactions), W2 (60% insert, 30%
// update, 10% delete in 10-operation transactions), W3 (one large
// transaction) and the paced writer of the latency runs. W1 and W2 run
// server-side (a DO block with COMMIT in its loop), so the client's round
// trips do not limit the write rate; every workload ends with the marker
// transaction whose end LSN is where each path must get to.
#include <algorithm>
#include <thread>

#include "bench/cdc/cdc_bench.h"

namespace shardcast::bench {

namespace {

// Marker rows: enough that every shard of a 4-shard ring gets some (with
// XXH3 over 64 keys, a shard missing all is a ~1e-7 event; Verify checks it).
constexpr int kMarkers = 64;

// The values of row `g` (an SQL expression): about 120 bytes on disk.
std::string RowValues(const std::string& g) {
  return g + ", " + ShardKeySql(g) + ", md5((" + g + ")::text) || 'abcdefghijklmnopqrstuvwxyz01', ((" + g +
         ") % 100000) / 100.0, clock_timestamp()";
}

Status WriteMarker(Conn& conn, Written* w) {
  SC_RETURN_IF_ERROR(conn.Exec("INSERT INTO bench_marker SELECT g, " + ShardKeySql("g") +
                               " FROM generate_series(1, " + std::to_string(kMarkers) + ") g"));
  SC_ASSIGN_OR_RETURN(w->end_lsn, conn.Scalar("SELECT pg_current_wal_insert_lsn()"));
  w->write_end = Clock::now();
  w->markers = kMarkers;
  SC_ASSIGN_OR_RETURN(std::string n, conn.Scalar("SELECT count(*) FROM bench_rows"));
  w->source_rows = std::stoll(n);
  return Status::Ok();
}

}  // namespace

std::string ShardKeySql(const std::string& x) {
  return "((" + x + ")::bigint * 48271 % 2147483647)";
}

std::string SourceDdl() {
  return "CREATE TABLE bench_rows (id bigint, shard_key bigint, payload text, amount numeric, ts timestamptz,"
         " PRIMARY KEY (shard_key, id));"
         "CREATE TABLE bench_marker (id int, shard_key bigint, PRIMARY KEY (shard_key, id));";
}

// `arrived` is filled by its default on apply: both shardcast and native
// replication name their columns, so the extra column is left to the default.
std::string DestinationDdl() {
  return "CREATE TABLE bench_rows (id bigint, shard_key bigint, payload text, amount numeric, ts timestamptz,"
         " arrived timestamptz DEFAULT clock_timestamp(), PRIMARY KEY (shard_key, id));"
         "CREATE TABLE bench_marker (id int, shard_key bigint, PRIMARY KEY (shard_key, id));";
}

std::int64_t WorkloadOps(const std::string& workload, std::int64_t rows) {
  return workload == "W3" ? 5 * rows : rows;
}

StatusOr<Written> WriteWorkload(Env& env, const std::string& db, const std::string& workload,
                                std::int64_t rows) {
  SC_ASSIGN_OR_RETURN(auto conn, Conn::Open(env.source->Dsn(db)));
  Written w;
  const std::int64_t ops = WorkloadOps(workload, rows);
  std::string sql;
  if (workload == "W1") {
    const std::int64_t batch = std::min<std::int64_t>(1000, ops);
    const std::int64_t txs = ops / batch;
    sql = "DO $$ BEGIN FOR t IN 0.." + std::to_string(txs - 1) + " LOOP INSERT INTO bench_rows SELECT " +
          RowValues("g") + " FROM generate_series(t * " + std::to_string(batch) + " + 1, (t + 1) * " +
          std::to_string(batch) + ") g; COMMIT; END LOOP; END $$";
    w.inserts = txs * batch;
  } else if (workload == "W2") {
    // Transaction t inserts ids 6t+1..6t+6, updates three existing rows whose
    // id is 1..5 mod 6 (never deleted; the shard key is never changed) and
    // deletes id 6t (inserted by the previous transaction).
    const std::int64_t txs = std::max<std::int64_t>(1, ops / 10);
    sql = "DO $$ DECLARE x bigint; BEGIN FOR t IN 0.." + std::to_string(txs - 1) +
          " LOOP INSERT INTO bench_rows SELECT " + RowValues("g") +
          " FROM generate_series(6 * t + 1, 6 * t + 6) g;"
          " FOR j IN 1..3 LOOP"
          "  x := 6 * floor(random() * (t + 1))::bigint + 1 + floor(random() * 5)::bigint;"
          "  UPDATE bench_rows SET payload = md5((x + t)::text) || 'abcdefghijklmnopqrstuvwxyz01',"
          "   amount = amount + 1, ts = clock_timestamp() WHERE shard_key = " +
          ShardKeySql("x") +
          " AND id = x;"
          " END LOOP;"
          " IF t > 0 THEN DELETE FROM bench_rows WHERE shard_key = " +
          ShardKeySql("6 * t") + " AND id = 6 * t; END IF; COMMIT; END LOOP; END $$";
    w.inserts = 6 * txs;
    w.updates = 3 * txs;
    w.deletes = txs - 1;
  } else if (workload == "W3") {
    sql = "INSERT INTO bench_rows SELECT " + RowValues("g") + " FROM generate_series(1, " +
          std::to_string(ops) + ") g";
    w.inserts = ops;
  } else {
    return InvalidArgument("unknown workload " + workload);
  }
  // Not waiting for each commit's WAL flush: W2's 100k commits would be
  // fsync-bound (about 3 ms each here), not a replication workload. The WAL
  // writer still flushes every wal_writer_delay (10 ms on the source).
  SC_RETURN_IF_ERROR(conn->Exec("SET synchronous_commit = off"));
  w.write_start = Clock::now();
  SC_RETURN_IF_ERROR(conn->Exec(sql).Prefixed("writing " + workload));
  SC_RETURN_IF_ERROR(WriteMarker(*conn, &w));
  if (w.source_rows != w.inserts - w.deletes) {
    return Internal(workload + ": the source holds " + std::to_string(w.source_rows) + " rows, expected " +
                    std::to_string(w.inserts - w.deletes));
  }
  return w;
}

StatusOr<Written> WritePaced(Env& env, const std::string& db, double rate, double seconds) {
  SC_ASSIGN_OR_RETURN(auto conn, Conn::Open(env.source->Dsn(db)));
  Written w;
  constexpr auto kTick = std::chrono::milliseconds(10);
  const auto per_tick = std::max<std::int64_t>(1, static_cast<std::int64_t>(rate / 100));
  const auto ticks = static_cast<std::int64_t>(seconds * 100);
  w.write_start = Clock::now();
  std::int64_t next_id = 1;
  for (std::int64_t k = 0; k < ticks; ++k) {
    std::this_thread::sleep_until(w.write_start + k * kTick);
    SC_RETURN_IF_ERROR(conn->Exec("INSERT INTO bench_rows SELECT " + RowValues("g") +
                                  " FROM generate_series(" + std::to_string(next_id) + ", " +
                                  std::to_string(next_id + per_tick - 1) + ") g"));
    next_id += per_tick;
  }
  w.inserts = next_id - 1;
  SC_RETURN_IF_ERROR(WriteMarker(*conn, &w));
  return w;
}

}  // namespace shardcast::bench
