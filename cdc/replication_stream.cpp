#include "cdc/replication_stream.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cdc/cursor.h"
#include "common/kill_point.h"
#include "pq/pq_util.h"

namespace shardcast {
namespace {

using Clock = std::chrono::steady_clock;

// Reading a busy stream: see ReplicationStream::Next.
constexpr auto kBusyGap = std::chrono::milliseconds(1);
constexpr auto kCoalesce = std::chrono::microseconds(500);

// Microseconds since 2000-01-01, the protocol's clock.
std::int64_t PgNowMicros() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return us - 946684800000000LL;
}

void PutBig64(char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
}

std::string Trim(const char* msg) {
  std::string s = msg == nullptr ? "" : msg;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool Contains(const char* text, std::string_view what) {
  return text != nullptr && std::string_view(text).find(what) != std::string_view::npos;
}

// Why START_REPLICATION failed. A slot that does not exist (42704) or was
// invalidated (55000: "cannot read from logical replication slot" or "can no
// longer get changes from replication slot" up to PG 17, "can no longer
// access replication slot" in PG 18, with a detail saying it "has been
// invalidated") will never come back: kSlotLost, so the daemon stops with its
// own exit code instead of retrying. A slot still held by a walsender that has
// not noticed our previous connection died (55006) is transient.
Status StartError(PGconn* conn, const PGresult* res, const std::string& slot, Lsn start) {
  Status base = ResultError(conn, res, "starting replication from slot " + slot);
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr) return base;
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const std::string_view code(state);
  const bool missing = code == "42704";
  const bool invalidated =
      code == "55000" && (Contains(detail, "invalidated") || Contains(primary, "invalidated") ||
                          Contains(primary, "cannot read from logical replication slot") ||
                          Contains(primary, "can no longer get changes") ||
                          Contains(primary, "can no longer access replication slot"));
  if (missing || invalidated) {
    return SlotLost(base.message() + ". The slot is " + (missing ? "gone" : "invalidated") +
                    ": the changes since " + FormatLsn(start) +
                    " cannot be replayed. Re-seed the destinations: " +
                    (missing ? "" : "drop the slot (SELECT pg_drop_replication_slot('" + slot + "')), ") +
                    "empty the shard tables, move checkpoint.dir away and start shardcast again (with "
                    "source.create: true it recreates the slot and takes a new initial snapshot), or "
                    "recreate the slot and re-seed with shardcast snapshot");
  }
  if (code == "55006") return Unavailable(base.message());  // object_in_use: the old walsender still holds it
  return base;
}

}  // namespace

struct ReplicationStream::Impl {
  PgConnPtr conn;
  std::unique_ptr<char, PqFreeDeleter> buf;  // the last copy message, owned until the next Next()
  bool streaming = false;
  Lsn received = 0;  // highest LSN received, reported as "write"
  Clock::time_point last_status{};
  Clock::time_point last_data{};  // when the socket last had a message for us

  Status Lost(std::string_view what) const {
    return Unavailable(std::string(what) + ": " + Trim(PQerrorMessage(conn.get())));
  }

  // After PQgetCopyData returned -1: the server ended the copy; its result
  // says why.
  Status CopyEnded() {
    std::string msg;
    // PQgetResult blocks while the result is incomplete: wait for it with a
    // bound so a server that stops talking cannot hang the reader.
    const auto limit = Clock::now() + std::chrono::seconds(5);
    while (PQisBusy(conn.get()) && Clock::now() < limit) {
      pollfd pfd{PQsocket(conn.get()), POLLIN, 0};
      if (pfd.fd < 0 || poll(&pfd, 1, 100) < 0 || PQconsumeInput(conn.get()) == 0) break;
    }
    while (PQisBusy(conn.get()) == 0 || PQstatus(conn.get()) == CONNECTION_BAD) {
      PGresult* r = PQgetResult(conn.get());
      if (r == nullptr) break;
      PgResultPtr res(r);
      if (msg.empty()) msg = Trim(PQresultErrorMessage(r));
    }
    if (msg.empty()) msg = Trim(PQerrorMessage(conn.get()));
    streaming = false;
    return Unavailable("replication stream ended" + (msg.empty() ? std::string() : ": " + msg));
  }

  // Runs a replication command that returns tuples (or nothing).
  StatusOr<PgResultPtr> Command(const std::string& sql) {
    PgResultPtr res(PQexec(conn.get(), sql.c_str()));
    ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return ResultError(conn.get(), res.get(), sql);
    return res;
  }
};

StatusOr<std::unique_ptr<ReplicationStream>> ReplicationStream::Connect(const std::string& dsn) {
  SC_ASSIGN_OR_RETURN(PgConnPtr conn, ConnectPinned(dsn, /*replication=*/true, "the source"));
  std::unique_ptr<ReplicationStream> s(new ReplicationStream());
  s->impl_ = std::make_unique<Impl>();
  s->impl_->conn = std::move(conn);
  return s;
}

ReplicationStream::~ReplicationStream() = default;

void ReplicationStream::Close() {
  if (!impl_) return;
  impl_->buf.reset();
  impl_->conn.reset();
  impl_->streaming = false;
}

StatusOr<SystemInfo> ReplicationStream::IdentifySystem() {
  if (!impl_->conn) return Unavailable("replication connection is closed");
  SC_ASSIGN_OR_RETURN(PgResultPtr res, impl_->Command("IDENTIFY_SYSTEM"));
  if (PQntuples(res.get()) != 1 || PQnfields(res.get()) < 4) {
    return Internal("IDENTIFY_SYSTEM returned an unexpected shape");
  }
  SystemInfo info;
  info.system_identifier = PQgetvalue(res.get(), 0, 0);
  info.timeline = std::atoi(PQgetvalue(res.get(), 0, 1));
  auto pos = ParseLsn(PQgetvalue(res.get(), 0, 2));
  if (!pos) return Internal(std::string("IDENTIFY_SYSTEM: bad xlogpos ") + PQgetvalue(res.get(), 0, 2));
  info.xlogpos = *pos;
  if (!PQgetisnull(res.get(), 0, 3)) info.dbname = PQgetvalue(res.get(), 0, 3);
  return info;
}

StatusOr<bool> ReplicationStream::CreateSlot(const std::string& slot) {
  if (!impl_->conn) return Unavailable("replication connection is closed");
  // PG15 takes an option list; older servers the bare keyword.
  std::string sql = "CREATE_REPLICATION_SLOT " + QuoteIdent(slot) + " LOGICAL pgoutput ";
  sql += PQserverVersion(impl_->conn.get()) >= 150000 ? "(SNAPSHOT 'nothing')" : "NOEXPORT_SNAPSHOT";
  PgResultPtr res(PQexec(impl_->conn.get(), sql.c_str()));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return true;
  const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
  if (state != nullptr && std::strcmp(state, "42710") == 0) return false;  // duplicate_object
  return ResultError(impl_->conn.get(), res.get(), "creating replication slot " + slot);
}

StatusOr<ReplicationStream::ExportedSlot> ReplicationStream::CreateSlotExported(const std::string& slot,
                                                                                bool temporary) {
  if (!impl_->conn) return Unavailable("replication connection is closed");
  std::string sql =
      "CREATE_REPLICATION_SLOT " + QuoteIdent(slot) + (temporary ? " TEMPORARY" : "") + " LOGICAL pgoutput ";
  sql += PQserverVersion(impl_->conn.get()) >= 150000 ? "(SNAPSHOT 'export')" : "EXPORT_SNAPSHOT";
  const std::string context = "creating replication slot " + slot;
  PgResultPtr res(PQexec(impl_->conn.get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
    if (state != nullptr && std::strcmp(state, "42710") == 0)  // duplicate_object
      return FailedPrecondition(context + ": replication slot " + slot + " already exists");
    return ResultError(impl_->conn.get(), res.get(), context);
  }
  const int point = PQfnumber(res.get(), "consistent_point");
  const int name = PQfnumber(res.get(), "snapshot_name");
  if (PQntuples(res.get()) != 1 || point < 0 || name < 0 || PQgetisnull(res.get(), 0, name)) {
    return Internal(context + ": CREATE_REPLICATION_SLOT returned an unexpected shape");
  }
  auto lsn = ParseLsn(PQgetvalue(res.get(), 0, point));
  if (!lsn) return Internal(context + ": bad consistent_point " + PQgetvalue(res.get(), 0, point));
  ExportedSlot out;
  out.consistent_point = *lsn;
  out.snapshot_name = PQgetvalue(res.get(), 0, name);
  return out;
}

Status ReplicationStream::Start(const std::string& slot, const std::string& publication, Lsn start) {
  if (!impl_->conn) return Unavailable("replication connection is closed");
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(slot) + " LOGICAL " + FormatLsn(start) +
                    " (proto_version '1', publication_names " + QuoteLiteral(QuoteIdent(publication)) +
                    ", messages 'true')";
  PgResultPtr res(PQexec(impl_->conn.get(), sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
    return StartError(impl_->conn.get(), res.get(), slot, start);
  }
  impl_->streaming = true;
  impl_->received = std::max(impl_->received, start);
  impl_->last_status = Clock::now();
  return Status::Ok();
}

void ReplicationStream::SetFlushLsn(Lsn lsn) {
  Lsn cur = flush_lsn_.load();
  while (lsn > cur && !flush_lsn_.compare_exchange_weak(cur, lsn)) {
  }
}

Status ReplicationStream::SendStatus(bool reply_requested) {
  if (!impl_->conn || !impl_->streaming) return Unavailable("replication stream is not running");
  Lsn flush = flush_lsn_.load();
  char msg[34];
  msg[0] = 'r';
  PutBig64(msg + 1, std::max(impl_->received, flush));  // write
  PutBig64(msg + 9, flush);                             // flush
  PutBig64(msg + 17, flush);                            // apply
  PutBig64(msg + 25, static_cast<std::uint64_t>(PgNowMicros()));
  msg[33] = reply_requested ? 1 : 0;
  if (PQputCopyData(impl_->conn.get(), msg, sizeof msg) != 1 || PQflush(impl_->conn.get()) != 0) {
    return impl_->Lost("sending standby status update");
  }
  impl_->last_status = Clock::now();
  return Status::Ok();
}

StatusOr<std::optional<WalMessage>> ReplicationStream::Next(std::chrono::milliseconds timeout) {
  if (!impl_->conn || !impl_->streaming) return Unavailable("replication stream is not running");
  Impl& im = *impl_;
  im.buf.reset();
  const auto deadline = Clock::now() + timeout;
  bool consumed = false;  // read the socket since the buffer last ran dry
  bool coalesced = false;
  for (;;) {
    const auto looked = Clock::now();  // one clock read per message, shared by both uses
    if (looked - im.last_status >= status_interval) SC_RETURN_IF_ERROR(SendStatus(false));

    char* raw = nullptr;
    int n = PQgetCopyData(im.conn.get(), &raw, /*async=*/1);
    if (n > 0) {
      im.buf.reset(raw);
      consumed = false;
      im.last_data = looked;
      Cursor c(std::string_view(raw, static_cast<std::size_t>(n)), "CopyData");
      char kind = 0;
      SC_RETURN_IF_ERROR(c.ReadChar(kind));
      if (kind == 'w') {
        WalMessage m;
        std::int64_t send_time = 0;
        SC_RETURN_IF_ERROR(c.ReadU64(m.wal_start));
        SC_RETURN_IF_ERROR(c.ReadU64(m.wal_end));
        SC_RETURN_IF_ERROR(c.ReadI64(send_time));
        m.data = std::string_view(raw + c.offset(), c.remaining());
        // Test-only: a damaged message, to prove the daemon stops cleanly on one.
        if (FaultPoint("stream.truncate_message")) m.data = m.data.substr(0, m.data.size() / 2);
        im.received = std::max(im.received, m.wal_start);
        server_wal_end_ = std::max(server_wal_end_, m.wal_end);
        return std::optional<WalMessage>(m);
      }
      if (kind == 'k') {
        std::uint64_t wal_end = 0;
        std::int64_t send_time = 0;
        std::uint8_t reply = 0;
        SC_RETURN_IF_ERROR(c.ReadU64(wal_end));
        SC_RETURN_IF_ERROR(c.ReadI64(send_time));
        SC_RETURN_IF_ERROR(c.ReadU8(reply));
        server_wal_end_ = std::max(server_wal_end_, wal_end);
        im.buf.reset();
        if (reply != 0) SC_RETURN_IF_ERROR(SendStatus(false));
        continue;
      }
      return c.Error(std::string("unknown copy message '") + kind + "'");
    }
    if (n == -1) return im.CopyEnded();
    if (n < -1) return im.Lost("reading replication stream");

    // libpq's buffer holds no whole message: read what the socket has, once,
    // before deciding to wait.
    if (!consumed) {
      if (PQconsumeInput(im.conn.get()) == 0) return im.Lost("reading replication stream");
      consumed = true;
      continue;
    }
    auto now = Clock::now();
    if (!coalesced && now - im.last_data < kBusyGap) {
      // A busy stream (a backlog): let the walsender fill the socket for a
      // moment instead of waking on every message it sends. Waking per
      // message made both sides switch ~15,000 times a second and left the
      // walsender blocked a third of the time (issue 6 profile).
      coalesced = true;
      std::this_thread::sleep_for(kCoalesce);
      consumed = false;
      continue;
    }
    if (now >= deadline) return std::optional<WalMessage>();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    auto to_status =
        std::chrono::duration_cast<std::chrono::milliseconds>(im.last_status + status_interval - now);
    wait = std::max(std::chrono::milliseconds(1), std::min(wait, to_status + std::chrono::milliseconds(1)));
    pollfd pfd{PQsocket(im.conn.get()), POLLIN, 0};
    if (pfd.fd < 0) return im.Lost("replication socket");
    int r = poll(&pfd, 1, static_cast<int>(wait.count()));
    if (r < 0 && errno != EINTR) return Unavailable(std::string("poll: ") + std::strerror(errno));
    if (r > 0) consumed = false;  // readable (or hung up): PQconsumeInput tells which
  }
}

}  // namespace shardcast
