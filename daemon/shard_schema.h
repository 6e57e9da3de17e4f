// Shard schemas for `shardcast check` (DESIGN.md "Command line"): every
// shard destination must hold each configured table with the source's
// columns (same format_type text) and primary key (same columns, same order).
// `--create-missing` creates absent tables and shardcast.progress from the
// source catalog; it never alters an existing table, it prints the ALTER
// TABLE to run instead.
#pragma once

#include <string>
#include <vector>

#include "cdc/source_catalog.h"
#include "pq/pq_util.h"

namespace shardcast {

struct SchemaFinding {
  enum class Kind { kOk, kNote, kFail };
  Kind kind = Kind::kOk;
  std::string message;  // one line, without the "ok"/"FAIL" tag; a FAIL names the fix
};

// Compares a shard's table with the source's (the source's generated columns
// already left out). dest names the destination ("s1@default"). Only FAIL
// and note findings are returned: no FAIL means compatible. Extra shard
// columns are notes when nullable, defaulted or generated, FAIL when NOT NULL
// without a default (every insert would fail).
std::vector<SchemaFinding> CompareTableDefs(const TableDef& source, const TableDef& shard,
                                            const std::string& dest);

// CREATE TABLE IF NOT EXISTS for def: columns in order with their types and
// NOT NULL, and the primary key; every identifier quoted. Defaults are not
// copied: shardcast writes every column.
std::string CreateTableSql(const TableDef& def);

// Checks every table of source_tables on one shard connection, and the
// progress table; with create_missing creates what is absent (after checking
// that the role may create the schemas it needs: CREATE on the database).
// shardcast.progress gets the same DDL as ShardSink::Open runs. Each created
// table is a kOk "created ..." finding.
// Never returns an error: a failed query is a FAIL finding.
std::vector<SchemaFinding> CheckShardSchemas(PGconn* conn, const std::string& dest,
                                             const std::vector<TableDef>& source_tables, bool create_missing);

}  // namespace shardcast
