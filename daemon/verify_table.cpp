#include "daemon/verify_table.h"

#include <optional>
#include <string_view>

#include "daemon/verify_sql.h"
#include "sharding/shard_key.h"

namespace shardcast {

namespace {

// The source rows of one range, with the ring's owner of each.
StatusOr<std::vector<VerifySourceRow>> ReadSourceRange(SnapshotReader& reader, const VerifyTableShape& shape,
                                                       const KeyRange& range, const Ring& ring) {
  SC_ASSIGN_OR_RETURN(std::vector<Tuple> tuples, reader.Query(SourceRowsSql(shape, range)));
  const std::size_t nkey = shape.primary_key.size();
  const std::size_t nshard = shape.shard_key.size();
  std::vector<VerifySourceRow> rows;
  rows.reserve(tuples.size());
  for (const auto& t : tuples) {
    if (t.size() != nkey + nshard + 1) return Internal("verify: unexpected column count reading the source");
    VerifySourceRow row;
    for (std::size_t i = 0; i < nkey; ++i) row.key.push_back(t[i].text);
    if (nshard > 0) {
      std::vector<std::optional<std::string_view>> values;
      for (std::size_t i = nkey; i < nkey + nshard; ++i)
        values.push_back(t[i].is_null() ? std::nullopt : std::optional<std::string_view>(t[i].text));
      row.owner = ring.OwnerOf(HashShardKey(values));
    }
    auto hash = ParseRowHash(t.back().text);
    if (!hash) return Corruption("verify: unreadable row hash '" + t.back().text + "' from the source");
    row.hash = *hash;
    rows.push_back(std::move(row));
  }
  return rows;
}

StatusOr<RangeSum> ReadDestSum(VerifyShardConn& shard, const VerifyTableShape& shape, const KeyRange& range) {
  SC_ASSIGN_OR_RETURN(PgResultPtr res, ExecSql(shard.conn.get(), DestSumSql(shape, range),
                                               "verify: summing " + shape.schema + "." + shape.name +
                                                   " on shard " + shard.destination.id));
  RangeSum s;
  auto count = ParseHashSum(PQgetvalue(res.get(), 0, 0));
  auto sum = ParseHashSum(PQgetvalue(res.get(), 0, 1));
  if (!count || !sum)
    return Corruption("verify: unreadable count or hash sum from shard " + shard.destination.id);
  s.count = static_cast<std::int64_t>(*count);
  s.sum = *sum;
  return s;
}

StatusOr<std::vector<VerifyDestRow>> ReadDestRows(VerifyShardConn& shard, const VerifyTableShape& shape,
                                                  const KeyRange& range) {
  SC_ASSIGN_OR_RETURN(PgResultPtr res, ExecSql(shard.conn.get(), DestRowsSql(shape, range),
                                               "verify: reading " + shape.schema + "." + shape.name +
                                                   " on shard " + shard.destination.id));
  const int nkey = static_cast<int>(shape.primary_key.size());
  if (PQnfields(res.get()) != nkey + 1) return Internal("verify: unexpected column count reading a shard");
  std::vector<VerifyDestRow> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    VerifyDestRow row;
    for (int c = 0; c < nkey; ++c) row.key.emplace_back(PQgetvalue(res.get(), r, c));
    auto hash = ParseRowHash(PQgetvalue(res.get(), r, nkey));
    if (!hash) return Corruption("verify: unreadable row hash from shard " + shard.destination.id);
    row.hash = *hash;
    rows.push_back(std::move(row));
  }
  return rows;
}

Status CheckTableExists(VerifyShardConn& shard, const VerifyTableShape& shape) {
  const std::string qname = QuoteIdent(shape.schema) + "." + QuoteIdent(shape.name);
  SC_ASSIGN_OR_RETURN(PgResultPtr res,
                      ExecSql(shard.conn.get(), "SELECT to_regclass(" + QuoteLiteral(qname) + ") IS NOT NULL",
                              "verify: looking up a table on shard " + shard.destination.id));
  if (std::string_view(PQgetvalue(res.get(), 0, 0)) != "t")
    return FailedPrecondition("shard " + shard.destination.id + " has no table " + shape.schema + "." +
                              shape.name + ": create it (shardcast check --create-missing) and seed it");
  return Status::Ok();
}

}  // namespace

StatusOr<TableVerdict> VerifyTable(SnapshotReader& reader, const TableSpec& spec, const Ring& ring,
                                   std::vector<VerifyShardConn>& shards, std::int64_t chunk_rows) {
  SC_ASSIGN_OR_RETURN(SnapshotTable table, reader.Describe(spec.schema, spec.name));
  VerifyTableShape shape;
  shape.schema = spec.schema;
  shape.name = spec.name;
  for (const auto& c : table.relation->columns) shape.columns.push_back(c.name);
  shape.primary_key = table.primary_key;
  const bool reference = spec.mode == TableMode::kReference;
  if (!reference) shape.shard_key = spec.shard_key;
  for (auto& shard : shards) SC_RETURN_IF_ERROR(CheckTableExists(shard, shape));

  std::vector<std::string> shard_ids;
  for (const auto& s : ring.shards()) shard_ids.push_back(s.id);

  TableVerdict verdict;
  verdict.table = spec.QualifiedName();
  verdict.key_columns = shape.primary_key;
  SC_ASSIGN_OR_RETURN(std::vector<KeyRange> ranges, reader.PlanRanges(table, chunk_rows));
  for (const auto& range : ranges) {
    SC_ASSIGN_OR_RETURN(std::vector<VerifySourceRow> source, ReadSourceRange(reader, shape, range, ring));
    verdict.source_rows += static_cast<std::int64_t>(source.size());
    for (auto& shard : shards) {
      SC_ASSIGN_OR_RETURN(RangeSum got, ReadDestSum(shard, shape, range));
      if (got == ExpectedSum(source, shard.destination.shard, reference)) continue;
      // The sums differ: find the keys.
      SC_ASSIGN_OR_RETURN(std::vector<VerifyDestRow> dest, ReadDestRows(shard, shape, range));
      for (auto& f : ClassifyRange(source, dest, shard.destination, reference, shard_ids))
        verdict.Add(std::move(f));
    }
  }
  return verdict;
}

}  // namespace shardcast
