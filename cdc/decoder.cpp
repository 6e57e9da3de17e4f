#include "cdc/decoder.h"

#include <limits>
#include <utility>

#include "cdc/cursor.h"

namespace shardcast {
namespace {

// Reads TupleData into out. The column count must match the relation's: a
// mismatch means our Relation is not the one the server encoded with.
Status ReadTuple(Cursor& c, const Relation& rel, Tuple& out) {
  std::int16_t ncols = 0;
  SC_RETURN_IF_ERROR(c.ReadI16(ncols));
  if (ncols < 0 || static_cast<std::size_t>(ncols) != rel.columns.size()) {
    return c.Error("tuple has " + std::to_string(ncols) + " columns, relation " + rel.QualifiedName() +
                   " has " + std::to_string(rel.columns.size()));
  }
  out.clear();
  out.reserve(static_cast<std::size_t>(ncols));
  for (std::int16_t i = 0; i < ncols; ++i) {
    char kind = 0;
    SC_RETURN_IF_ERROR(c.ReadChar(kind));
    switch (kind) {
      case 'n':
        out.emplace_back();
        break;
      case 'u':
        out.push_back(Value{Value::Kind::kUnchanged, {}});
        break;
      case 't': {
        std::int32_t len = 0;
        SC_RETURN_IF_ERROR(c.ReadI32(len));
        if (len < 0) return c.Error("negative value length " + std::to_string(len));
        std::string_view bytes;
        SC_RETURN_IF_ERROR(c.ReadBytes(static_cast<std::size_t>(len), bytes));
        out.push_back(Value{Value::Kind::kText, std::string(bytes)});
        break;
      }
      case 'b':
        return c.Error("binary column value (binary mode is never requested)");
      default:
        return c.Error(std::string("unknown column kind 0x") + "0123456789abcdef"[(kind >> 4) & 0xF] +
                       "0123456789abcdef"[kind & 0xF]);
    }
  }
  return Status::Ok();
}

Status ExpectEnd(const Cursor& c) {
  if (!c.at_end()) return c.Error(std::to_string(c.remaining()) + " trailing bytes");
  return Status::Ok();
}

const char* MessageName(char type) {
  switch (type) {
    case 'B':
      return "Begin";
    case 'C':
      return "Commit";
    case 'O':
      return "Origin";
    case 'R':
      return "Relation";
    case 'Y':
      return "Type";
    case 'I':
      return "Insert";
    case 'U':
      return "Update";
    case 'D':
      return "Delete";
    case 'T':
      return "Truncate";
    case 'M':
      return "Message";
    default:
      return "unknown";
  }
}

}  // namespace

StatusOr<Decoder::Output> Decoder::Feed(std::string_view message) {
  Output out;
  if (message.empty()) return Corruption("empty pgoutput message");
  char type = message[0];
  std::string_view body = message.substr(1);
  Status s;
  switch (type) {
    case 'B':
      s = OnBegin(body);
      break;
    case 'C':
      s = OnCommit(body, out);
      break;
    case 'O':
      s = OnOrigin(body);
      break;
    case 'R':
      s = OnRelation(body);
      break;
    case 'Y':
      s = OnType(body);
      break;
    case 'I':
    case 'U':
    case 'D':
      s = OnRowChange(type, body);
      break;
    case 'T':
      s = OnTruncate(body);
      break;
    case 'M':
      s = OnMessage(body, out);
      break;
    default: {
      auto u = static_cast<unsigned char>(type);
      return Corruption(std::string("unknown pgoutput message type 0x") + "0123456789abcdef"[u >> 4] +
                        "0123456789abcdef"[u & 0xF]);
    }
  }
  if (!s.ok()) return s;
  return out;
}

Decoder::Decoder(const Decoder& other)
    : options_(other.options_),
      relations_(other.relations_),
      type_names_(other.type_names_),
      in_txn_(other.in_txn_ && other.spill_ == nullptr),
      last_end_lsn_(other.last_end_lsn_) {
  // A copy owns its transaction in progress: feeding it must not change the
  // original's.
  if (in_txn_) {
    current_ = std::make_shared<Transaction>(*other.current_);
    next_ordinal_ = other.next_ordinal_;
  }
}

Decoder& Decoder::operator=(const Decoder& other) {
  if (this != &other) *this = Decoder(other);
  return *this;
}

void Decoder::ResetInFlight() {
  current_.reset();
  spill_.reset();
  next_ordinal_ = 0;
  in_txn_ = false;
}

Status Decoder::AddChange(Change ch) {
  ch.ordinal = next_ordinal_;
  if (spill_ != nullptr) {
    Status s = spill_->Append(ch);
    if (!s.ok()) {
      std::uint32_t xid = current_->xid;
      ResetInFlight();
      return s.Prefixed("spilling transaction " + std::to_string(xid));
    }
    ++next_ordinal_;
    return Status::Ok();
  }
  ++next_ordinal_;
  current_->approx_bytes += ch.ApproxBytes();
  current_->changes.push_back(std::move(ch));
  if (options_.spill_dir.empty() || current_->approx_bytes <= options_.spill_bytes) return Status::Ok();
  return StartSpill();
}

// Like the server's reorder buffer: the changes so far go to the file, every
// later one is appended there, and memory holds none of them.
Status Decoder::StartSpill() {
  std::uint32_t xid = current_->xid;
  Status s = [&]() -> Status {
    SC_ASSIGN_OR_RETURN(spill_, SpillWriter::Create(options_.spill_dir, xid));
    for (const Change& ch : current_->changes) SC_RETURN_IF_ERROR(spill_->Append(ch));
    return Status::Ok();
  }();
  if (!s.ok()) {
    ResetInFlight();
    return s.Prefixed("spilling transaction " + std::to_string(xid));
  }
  std::vector<Change>().swap(current_->changes);
  current_->approx_bytes = 0;
  return Status::Ok();
}

namespace {
// A commit time no server writes (PgTimeToUnixMicros would overflow): the
// bytes are damaged. Found by the decoder fuzzer.
Status CheckCommitTime(const Cursor& c, std::int64_t pg_us) {
  constexpr std::int64_t kUnixOffset = 946684800000000LL;
  if (pg_us > std::numeric_limits<std::int64_t>::max() - kUnixOffset ||
      pg_us < std::numeric_limits<std::int64_t>::min() + kUnixOffset)
    return c.Error("commit time " + std::to_string(pg_us) + " is out of range");
  return Status::Ok();
}
}  // namespace

Status Decoder::OnBegin(std::string_view msg) {
  Cursor c(msg, "Begin");
  if (in_txn_) return c.Error("Begin inside a transaction");
  std::uint64_t final_lsn = 0;
  std::int64_t ts = 0;
  std::uint32_t xid = 0;
  SC_RETURN_IF_ERROR(c.ReadU64(final_lsn));
  SC_RETURN_IF_ERROR(c.ReadI64(ts));
  SC_RETURN_IF_ERROR(c.ReadU32(xid));
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  SC_RETURN_IF_ERROR(CheckCommitTime(c, ts));
  auto txn = std::make_shared<Transaction>();
  txn->xid = xid;
  txn->commit_lsn = final_lsn;
  txn->commit_time_us = PgTimeToUnixMicros(ts);
  txn->changes.reserve(8);
  current_ = std::move(txn);
  next_ordinal_ = 0;
  in_txn_ = true;
  return Status::Ok();
}

Status Decoder::OnCommit(std::string_view msg, Output& out) {
  Cursor c(msg, "Commit");
  if (!in_txn_) return c.Error("Commit outside a transaction");
  std::uint8_t flags = 0;
  std::uint64_t commit_lsn = 0;
  std::uint64_t end_lsn = 0;
  std::int64_t ts = 0;
  SC_RETURN_IF_ERROR(c.ReadU8(flags));
  SC_RETURN_IF_ERROR(c.ReadU64(commit_lsn));
  SC_RETURN_IF_ERROR(c.ReadU64(end_lsn));
  SC_RETURN_IF_ERROR(c.ReadI64(ts));
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  SC_RETURN_IF_ERROR(CheckCommitTime(c, ts));
  if (end_lsn < commit_lsn) {
    return c.Error("end LSN " + FormatLsn(end_lsn) + " before commit LSN " + FormatLsn(commit_lsn));
  }
  current_->commit_lsn = commit_lsn;
  current_->end_lsn = end_lsn;
  current_->commit_time_us = PgTimeToUnixMicros(ts);
  current_->prev_end_lsn = last_end_lsn_;
  if (spill_ != nullptr) {
    auto spilled = SpilledTransaction::Finish(std::move(spill_), *current_, options_.piece_bytes);
    if (!spilled.ok()) {
      std::uint32_t xid = current_->xid;
      ResetInFlight();
      return spilled.status().Prefixed("spilling transaction " + std::to_string(xid));
    }
    out.spilled = std::move(spilled).value();
  } else {
    out.committed = std::move(current_);
  }
  last_end_lsn_ = end_lsn;
  ResetInFlight();
  return Status::Ok();
}

Status Decoder::OnOrigin(std::string_view msg) {
  Cursor c(msg, "Origin");
  if (!in_txn_) return c.Error("Origin outside a transaction");
  std::uint64_t lsn = 0;
  std::string_view name;
  SC_RETURN_IF_ERROR(c.ReadU64(lsn));
  SC_RETURN_IF_ERROR(c.ReadCString(name));
  return ExpectEnd(c);  // the origin is not used: we replicate every origin
}

Status Decoder::OnRelation(std::string_view msg) {
  Cursor c(msg, "Relation");
  auto rel = std::make_shared<Relation>();
  std::string_view nspname;
  std::string_view relname;
  std::uint8_t ident = 0;
  std::int16_t ncols = 0;
  SC_RETURN_IF_ERROR(c.ReadU32(rel->oid));
  SC_RETURN_IF_ERROR(c.ReadCString(nspname));
  SC_RETURN_IF_ERROR(c.ReadCString(relname));
  SC_RETURN_IF_ERROR(c.ReadU8(ident));
  if (ident != 'd' && ident != 'n' && ident != 'f' && ident != 'i') {
    return c.Error("unknown replica identity " + std::to_string(ident));
  }
  SC_RETURN_IF_ERROR(c.ReadI16(ncols));
  if (ncols < 0) return c.Error("negative column count");
  // The protocol sends an empty namespace for pg_catalog.
  rel->schema = nspname.empty() ? "pg_catalog" : std::string(nspname);
  rel->name = std::string(relname);
  rel->replica_identity = static_cast<char>(ident);
  rel->columns.reserve(static_cast<std::size_t>(ncols));
  for (std::int16_t i = 0; i < ncols; ++i) {
    Column col;
    std::uint8_t flags = 0;
    std::string_view name;
    SC_RETURN_IF_ERROR(c.ReadU8(flags));
    SC_RETURN_IF_ERROR(c.ReadCString(name));
    SC_RETURN_IF_ERROR(c.ReadU32(col.type_oid));
    SC_RETURN_IF_ERROR(c.ReadI32(col.type_modifier));
    col.name = std::string(name);
    col.part_of_identity = (flags & 1) != 0;
    rel->columns.push_back(std::move(col));
  }
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  // A new object, never an update in place: transactions already decoded
  // keep the Relation they were encoded with.
  relations_[rel->oid] = std::move(rel);
  return Status::Ok();
}

Status Decoder::OnType(std::string_view msg) {
  Cursor c(msg, "Type");
  std::uint32_t oid = 0;
  std::string_view nspname;
  std::string_view name;
  SC_RETURN_IF_ERROR(c.ReadU32(oid));
  SC_RETURN_IF_ERROR(c.ReadCString(nspname));
  SC_RETURN_IF_ERROR(c.ReadCString(name));
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  std::string full(nspname.empty() ? std::string_view("pg_catalog") : nspname);
  full += '.';
  full += name;
  type_names_[oid] = std::move(full);
  return Status::Ok();
}

Status Decoder::OnRowChange(char type, std::string_view msg) {
  Cursor c(msg, MessageName(type));
  if (!in_txn_) return c.Error("change outside a transaction");
  std::uint32_t relid = 0;
  SC_RETURN_IF_ERROR(c.ReadU32(relid));
  auto it = relations_.find(relid);
  if (it == relations_.end()) return c.Error("unknown relation id " + std::to_string(relid));
  const Relation& rel = *it->second;

  // Built aside and appended only when whole: a failed message leaves the
  // transaction as it was.
  Change ch;
  ch.op = type == 'I' ? Op::kInsert : type == 'U' ? Op::kUpdate : Op::kDelete;
  ch.relation = it->second;
  char tag = 0;
  SC_RETURN_IF_ERROR(c.ReadChar(tag));
  if (type != 'I' && (tag == 'K' || tag == 'O')) {
    ch.old_kind = tag;
    SC_RETURN_IF_ERROR(ReadTuple(c, rel, ch.old_tuple));
    if (type == 'U') SC_RETURN_IF_ERROR(c.ReadChar(tag));
  } else if (type == 'D') {
    return c.Error(std::string("expected 'K' or 'O', got '") + tag + "'");
  }
  if (type != 'D') {
    if (tag != 'N') return c.Error(std::string("expected 'N', got '") + tag + "'");
    SC_RETURN_IF_ERROR(ReadTuple(c, rel, ch.new_tuple));
  }
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  return AddChange(std::move(ch));
}

Status Decoder::OnTruncate(std::string_view msg) {
  Cursor c(msg, "Truncate");
  if (!in_txn_) return c.Error("change outside a transaction");
  std::int32_t nrels = 0;
  std::uint8_t options = 0;
  SC_RETURN_IF_ERROR(c.ReadI32(nrels));
  SC_RETURN_IF_ERROR(c.ReadU8(options));
  if (nrels < 0 || static_cast<std::size_t>(nrels) > c.remaining() / 4) {
    return c.Error("relation count " + std::to_string(nrels) + " does not fit the message");
  }
  Change ch;
  ch.op = Op::kTruncate;
  ch.truncate_options = options;
  ch.truncated.reserve(static_cast<std::size_t>(nrels));
  for (std::int32_t i = 0; i < nrels; ++i) {
    std::uint32_t relid = 0;
    SC_RETURN_IF_ERROR(c.ReadU32(relid));
    auto it = relations_.find(relid);
    if (it == relations_.end()) return c.Error("unknown relation id " + std::to_string(relid));
    ch.truncated.push_back(it->second);
  }
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  return AddChange(std::move(ch));
}

Status Decoder::OnMessage(std::string_view msg, Output& out) {
  Cursor c(msg, "Message");
  std::uint8_t flags = 0;
  std::uint64_t lsn = 0;
  std::string_view prefix;
  std::int32_t len = 0;
  std::string_view content;
  SC_RETURN_IF_ERROR(c.ReadU8(flags));
  SC_RETURN_IF_ERROR(c.ReadU64(lsn));
  SC_RETURN_IF_ERROR(c.ReadCString(prefix));
  SC_RETURN_IF_ERROR(c.ReadI32(len));
  if (len < 0) return c.Error("negative content length");
  SC_RETURN_IF_ERROR(c.ReadBytes(static_cast<std::size_t>(len), content));
  SC_RETURN_IF_ERROR(ExpectEnd(c));
  bool transactional = (flags & 1) != 0;
  // Transactional messages are replayed inside their transaction;
  // non-transactional ones are sent as decoded, never inside one.
  if (transactional != in_txn_) {
    return c.Error(transactional ? "transactional message outside a transaction"
                                 : "non-transactional message inside a transaction");
  }
  out.message = LogicalMessage{transactional, lsn, std::string(prefix), std::string(content)};
  return Status::Ok();
}

}  // namespace shardcast
