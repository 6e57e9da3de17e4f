// The bench tables and their data: mixed types (numeric, text including a
// few TOASTed values, jsonb, bytea, timestamptz, NULLs), so both loaders
// parse and write what a real table holds, not just integers.
#include <string>

#include "bench/snapshot_bench.h"

namespace shardcast::bench {

const std::vector<BenchTable>& BenchTables() {
  static const std::vector<BenchTable> tables = {
      {"accounts", "id"},
      {"events", "account_id"},
      {"documents", "id"},
  };
  return tables;
}

const std::string& BenchDdl() {
  static const std::string ddl = R"sql(
CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(14,2),
  opened timestamptz, profile jsonb, avatar bytea, bio text);
CREATE TABLE public.events (account_id bigint NOT NULL, seq int NOT NULL, kind text, at timestamptz,
  amount numeric(12,3), body text, PRIMARY KEY (account_id, seq));
CREATE TABLE public.documents (id bigint PRIMARY KEY, title text, doc jsonb, blob bytea,
  updated timestamptz);
)sql";
  return ddl;
}

std::int64_t BenchEnv::total_rows() const {
  std::int64_t n = 0;
  for (auto c : source_counts) n += c;
  return n;
}

namespace {

// accounts 40% of the rows, events 50%, documents 10%. Every 2000th account
// has a TOASTed bio; documents carry larger jsonb and bytea values.
std::string SeedSql(std::int64_t rows) {
  const std::int64_t accounts = rows * 4 / 10;
  const std::int64_t documents = rows / 10;
  const std::int64_t events = rows - accounts - documents;
  return "INSERT INTO accounts SELECT g, 'owner ' || g, (g * 3.17)::numeric(14,2), "
         "TIMESTAMPTZ '2025-01-01 00:00:00+00' + g * interval '1 second', "
         "CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % "
         "10)) "
         "END, CASE WHEN g % 3 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END, "
         "CASE WHEN g % 2000 = 0 THEN (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 200) "
         "i) "
         "WHEN g % 5 = 0 THEN NULL ELSE E'bio\\t' || g END FROM generate_series(1, " +
         std::to_string(accounts) +
         ") g;\n"
         "INSERT INTO events SELECT g / 4 + 1, g % 4, (ARRAY['open','pay','close'])[g % 3 + 1], "
         "TIMESTAMPTZ '2026-03-01 12:00:00.5+01' + g * interval '1 minute', (g % 100000) / 7.0, "
         "CASE WHEN g % 11 = 0 THEN NULL ELSE 'event body ' || g END FROM generate_series(0, " +
         std::to_string(events - 1) +
         ") g;\n"
         "INSERT INTO documents SELECT g, 'Document \"' || g || '\"', "
         "jsonb_build_object('id', g, 'lines', jsonb_build_array(md5(g::text), md5((g+1)::text)), "
         "'price', g / 3.0, 'ok', g % 2 = 0), "
         "decode(md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), 'hex'), "
         "TIMESTAMPTZ '2024-06-30 23:59:59.999999+00' - g * interval '3 seconds' "
         "FROM generate_series(1, " +
         std::to_string(documents) + ") g;\n";
}

}  // namespace

Status SeedSource(testing::PgServer& source, const std::string& db, std::int64_t rows) {
  if (rows < 10) return InvalidArgument("at least 10 rows, got " + std::to_string(rows));
  SC_RETURN_IF_ERROR(source.Exec(db, BenchDdl()).Prefixed("creating the source tables"));
  SC_RETURN_IF_ERROR(source.Exec(db, SeedSql(rows)).Prefixed("seeding the source"));
  return source.Exec(db, "VACUUM ANALYZE").Prefixed("vacuuming the source");
}

StatusOr<std::vector<std::int64_t>> CountRows(testing::PgServer& server, const std::string& db) {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < BenchTables().size(); ++i)
    sql += (i ? ", " : "") + std::string("(SELECT count(*) FROM public.") + BenchTables()[i].name + ")";
  SC_ASSIGN_OR_RETURN(auto rows, server.Query(db, sql));
  if (rows.size() != 1 || rows[0].size() != BenchTables().size())
    return Internal("unexpected shape of the count query's result in " + db);
  std::vector<std::int64_t> counts;
  for (const auto& v : rows[0]) counts.push_back(v ? std::stoll(*v) : -1);
  return counts;
}

}  // namespace shardcast::bench
