// Turns the shard actions of a batch into SQL text, cut into chunks of at most
// a configured size, each sent as one simple-protocol Query. Consecutive
// inserts into one table become one multi-row INSERT, consecutive upserts
// (snapshot rows) one multi-row INSERT ... ON CONFLICT (key) DO UPDATE,
// consecutive deletes one DELETE ... IN (...); everything else is one
// statement per change, in order.
// Values are untyped quoted literals so the shard's column types coerce them;
// this relies on standard_conforming_strings=on (backslashes are literal).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cdc/change.h"
#include "common/lsn.h"
#include "common/status.h"
#include "sharding/router.h"
#include "sharding/table_spec.h"

namespace shardcast {

// What one statement of a chunk does, to name it when the server rejects it.
struct StatementInfo {
  std::string subject;         // "public.orders"; "BEGIN", "COMMIT", "TRUNCATE public.t", ...
  std::string keys;            // "(id)=(5)"; the first few keys of a grouped statement
  std::size_t rows = 0;        // rows the statement carries
  std::size_t keys_shown = 0;  // rows named in keys
  Lsn first_lsn = 0;           // positions of the source transactions it spans
  Lsn last_lsn = 0;

  // "public.orders (id)=(5) at 0/16B3A0" or "COMMIT".
  std::string Describe() const;
};

struct SqlChunk {
  std::string sql;                        // statements, each ended by ";\n"
  std::vector<StatementInfo> statements;  // one per statement, in order
  bool empty() const { return statements.empty(); }
};

// "name" with embedded quotes doubled.
void AppendIdentifier(std::string& out, std::string_view name);
// 'text' with embedded quotes doubled; backslashes are kept as they are.
void AppendLiteral(std::string& out, std::string_view text);
// NULL, or the quoted literal.
void AppendValue(std::string& out, const Value& value);

class SqlBuilder {
 public:
  // Receives each full chunk; a failure stops the build and is returned by
  // the Add* or Finish call that triggered it. The sender may take the chunk
  // by swapping in a spare one of its own: the builder clears what it gets
  // back and builds into it, so two buffers alternate and no batch pays for
  // allocating (and faulting in) its SQL text afresh.
  using Sender = std::function<Status(SqlChunk&)>;

  // tables: the configured tables (to resolve TRUNCATE targets); must outlive
  // the builder, as must every Change passed to Add (relations are cached by
  // address for the builder's lifetime).
  SqlBuilder(const std::vector<TableSpec>& tables, std::size_t max_chunk_bytes, Sender sender);

  // Appends the SQL for one change as this shard must apply it.
  // end_lsn: the position of the change's transaction.
  Status Add(ShardAction action, const Change& change, const Placement& placement, Lsn end_lsn);

  // Appends a row's net effect (sink/postgres/net_effect.h): kDelete by the
  // key columns of key_or_row, kInsert or kUpsert of the whole row.
  Status AddNet(ShardAction action, const Relation& rel, const TableSpec& spec, const Tuple& key_or_row,
                Lsn end_lsn);

  // Appends a statement that is not a row change (BEGIN, the progress upsert,
  // COMMIT). what names it in errors; lsn, when set, is its position.
  Status AddStatement(std::string_view sql, std::string what, Lsn lsn = 0);

  // Closes an open grouped statement and sends what remains.
  Status Finish();

  // Starts over for a new batch: forgets unsent SQL and the cached relations
  // (the Change objects they came from may be gone), keeps the buffers.
  void Reset();

  // Bytes of SQL generated so far (sent or not).
  std::size_t bytes_built() const { return bytes_built_; }

 private:
  enum class Group { kNone, kInsert, kUpsert, kDelete };
  struct RelationSql {
    std::vector<int> key_index;  // relation column index of each primary-key column
    std::string key_names;       // "(id)" or "(a, b)", for messages
    std::string insert_head;     // INSERT INTO "s"."t" ("a","b") VALUES
    std::string delete_head;     // DELETE FROM "s"."t" WHERE "id" IN (
    // Closes an upsert: ON CONFLICT ("id") DO UPDATE SET "b"=EXCLUDED."b"
    // (DO NOTHING when every column is in the key).
    std::string upsert_tail;
  };

  StatusOr<const RelationSql*> SqlFor(const Relation& rel, const TableSpec& spec);
  Status AddRow(Group kind, const Relation& rel, const RelationSql& sql, const std::string& row,
                const Tuple& key_source, Lsn end_lsn);
  // Insert or upsert of a whole row.
  Status AddInsert(Group kind, const Relation& rel, const Tuple& tuple, const RelationSql& sql, Lsn end_lsn);
  // Delete by the key columns of key (a whole tuple of the relation).
  Status AddDelete(const Relation& rel, const Tuple& key, const RelationSql& sql, Lsn end_lsn);
  Status AddUpdate(const Change& change, const RelationSql& sql, Lsn end_lsn);
  Status AddTruncate(const Change& change, Lsn end_lsn);
  Status AppendStatement(std::string_view sql, StatementInfo info);
  void CloseGroup();
  // Forgets the open grouped statement (its text stays in stmt_'s capacity).
  void DropGroup();
  Status Flush();
  std::string KeyText(const RelationSql& sql, const Tuple& tuple) const;
  static std::string_view Closer(Group kind, const RelationSql& sql);

  const std::vector<TableSpec>& tables_;
  std::size_t max_chunk_bytes_;
  Sender sender_;
  std::unordered_map<const Relation*, RelationSql> relations_;

  SqlChunk chunk_;              // complete statements not yet sent
  std::string stmt_;            // the open grouped statement, without its closer
  StatementInfo stmt_info_;     // ... and its description
  Group group_ = Group::kNone;  // kind of the open statement
  const Relation* group_rel_ = nullptr;
  const RelationSql* group_sql_ = nullptr;
  // Keys of the open upsert: one statement must not touch a row twice
  // ("ON CONFLICT DO UPDATE command cannot affect row a second time").
  std::unordered_set<std::string> group_keys_;
  std::size_t bytes_built_ = 0;
};

// Tuple that names the row to update or delete: the old tuple when the
// message carried one ('K' or 'O'), else the new one.
const Tuple& KeyTuple(const Change& change);

// An exact, unambiguous text of a row's key values (length-prefixed), to
// tell whether two changes name the same row.
std::string KeyIdentity(const std::vector<int>& key_index, const Tuple& tuple);

}  // namespace shardcast
