#include "sink/postgres/copy_loader.h"

#include <utility>

#include "pq/pq_util.h"

namespace shardcast {
namespace {

// COPY data goes out in pieces this large: few CopyData messages, bounded
// buffering.
constexpr std::size_t kPieceBytes = 256 * 1024;

constexpr std::string_view kUniqueViolation = "23505";

}  // namespace

struct ShardCopyLoader::Impl {
  std::string destination;
  PgConnPtr conn;
  std::string table;  // "public.items" of the open chunk, for messages
  std::string buffer;
  std::size_t rows = 0;
  bool in_txn = false;
  bool in_copy = false;

  std::string Context() const { return "copying " + table + " into " + destination; }

  // Reads every pending result so the connection is idle again; returns the
  // first error (as ResultError) or Ok.
  Status DrainResults() {
    Status first;
    while (PgResultPtr res{PQgetResult(conn.get())}) {
      ExecStatusType st = PQresultStatus(res.get());
      if (st == PGRES_COPY_IN) {
        // Still in COPY (only after a failed send): end it so the server stops.
        if (PQputCopyEnd(conn.get(), "aborted by shardcast") != 1) break;
        continue;
      }
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && first.ok()) {
        first = ResultError(conn.get(), res.get(), Context());
        // The server's context names the row: "COPY items, line 1901".
        const char* where = PQresultErrorField(res.get(), PG_DIAG_CONTEXT);
        if (where != nullptr && *where != '\0') {
          std::string_view line(where);
          line = line.substr(0, line.find('\n'));
          first = Status(first.code(), first.message() + " (" + std::string(line) + ")");
        }
        const char* state = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
        if (state != nullptr && std::string_view(state) == kUniqueViolation) {
          first = Status(first.code(), first.message() +
                                           "; the shard table must be empty for the initial snapshot (or "
                                           "re-seed with shardcast snapshot, which upserts)");
        }
      }
      if (PQstatus(conn.get()) == CONNECTION_BAD) break;
    }
    return first;
  }

  // Ends an open COPY and transaction, dropping the connection when even
  // that fails (closing it rolls back).
  void Rollback() {
    if (conn == nullptr) return;
    if (in_copy) {
      in_copy = false;
      if (PQputCopyEnd(conn.get(), "aborted by shardcast") != 1) {
        conn.reset();
      } else {
        (void)DrainResults();  // the expected "COPY ... aborted" error
      }
    }
    if (conn != nullptr && in_txn) {
      auto rolled_back = ExecSql(conn.get(), "ROLLBACK", Context());
      if (!rolled_back.ok()) conn.reset();
    }
    if (conn != nullptr && PQstatus(conn.get()) == CONNECTION_BAD) conn.reset();
    in_txn = false;
    buffer.clear();
    rows = 0;
  }

  Status SendBuffer() {
    if (buffer.empty()) return Status::Ok();
    if (PQputCopyData(conn.get(), buffer.data(), static_cast<int>(buffer.size())) != 1) {
      return ResultError(conn.get(), nullptr, Context() + ": sending rows");
    }
    buffer.clear();
    return Status::Ok();
  }

  Status Fail(Status status) {
    Rollback();
    return status;
  }
};

StatusOr<std::unique_ptr<ShardCopyLoader>> ShardCopyLoader::Connect(const std::string& destination,
                                                                    const std::string& dsn) {
  SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(dsn, /*replication=*/false, "shard " + destination));
  std::unique_ptr<ShardCopyLoader> loader(new ShardCopyLoader());
  loader->impl_ = std::make_unique<Impl>();
  loader->impl_->destination = destination;
  loader->impl_->conn = std::move(conn);
  return loader;
}

ShardCopyLoader::~ShardCopyLoader() {
  if (impl_ != nullptr) impl_->Rollback();
}

Status ShardCopyLoader::Begin(const Relation& relation) {
  Impl& s = *impl_;
  if (s.in_txn)
    return FailedPrecondition("copying into " + s.destination + ": a chunk of " + s.table + " is open");
  s.table = relation.QualifiedName();
  if (s.conn == nullptr) {
    return Unavailable(s.Context() + ": the connection was lost after a failure; connect again");
  }
  if (relation.columns.empty()) return FailedPrecondition(s.Context() + ": the relation has no columns");
  auto begun = ExecSql(s.conn.get(), "BEGIN", s.Context());
  if (!begun.ok()) return s.Fail(begun.status());
  s.in_txn = true;
  s.rows = 0;
  s.buffer.clear();

  std::string sql = "COPY " + QuoteIdent(relation.schema) + "." + QuoteIdent(relation.name) + " (";
  for (std::size_t i = 0; i < relation.columns.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += QuoteIdent(relation.columns[i].name);
  }
  sql += ") FROM STDIN";
  PgResultPtr res(PQexec(s.conn.get(), sql.c_str()));
  if (res == nullptr || PQresultStatus(res.get()) != PGRES_COPY_IN) {
    Status error = ResultError(s.conn.get(), res.get(), s.Context());
    res.reset();
    (void)s.DrainResults();
    return s.Fail(std::move(error));
  }
  s.in_copy = true;
  return Status::Ok();
}

Status ShardCopyLoader::Write(std::string_view line) {
  Impl& s = *impl_;
  if (!s.in_copy) return FailedPrecondition("copying into " + s.destination + ": no chunk is open");
  s.buffer.append(line);
  s.buffer.push_back('\n');
  ++s.rows;
  if (s.buffer.size() < kPieceBytes) return Status::Ok();
  Status sent = s.SendBuffer();
  return sent.ok() ? sent : s.Fail(std::move(sent));
}

Status ShardCopyLoader::Commit() {
  Impl& s = *impl_;
  if (!s.in_copy) return FailedPrecondition("copying into " + s.destination + ": no chunk is open");
  Status st = s.SendBuffer();
  if (!st.ok()) return s.Fail(std::move(st));
  s.in_copy = false;
  if (PQputCopyEnd(s.conn.get(), nullptr) != 1) {
    return s.Fail(ResultError(s.conn.get(), nullptr, s.Context() + ": ending COPY"));
  }
  st = s.DrainResults();
  if (!st.ok()) return s.Fail(std::move(st));
  auto committed = ExecSql(s.conn.get(), "COMMIT", s.Context() + ": committing");
  if (!committed.ok()) return s.Fail(committed.status());
  s.in_txn = false;
  // COMMIT of a transaction that failed reports ROLLBACK, not an error.
  if (std::string_view(PQcmdStatus(committed->get())) != "COMMIT") {
    s.rows = 0;
    return FailedPrecondition(s.Context() + ": the transaction was rolled back");
  }
  return Status::Ok();
}

void ShardCopyLoader::Abort() {
  impl_->Rollback();
}

std::size_t ShardCopyLoader::rows_in_chunk() const {
  return impl_->rows;
}

}  // namespace shardcast
