// File format: a sequence of records, each a 4-byte big-endian payload length
// then the payload (one Change, see EncodeChange). Integers are big-endian so
// the payload reads back through cdc/cursor.h. The record count and the file
// size are known from the writer, so a short or overlong file is detected.
#include "cdc/spill_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "cdc/cursor.h"

namespace shardcast {
namespace {

constexpr std::size_t kBufferBytes = 1u << 20;
constexpr std::uint32_t kNoRelation = 0xFFFFFFFFu;
constexpr std::uint8_t kUpsertFlag = 1;

std::atomic<std::uint64_t> g_file_counter{0};

std::string ErrnoText(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// What the operator can do depends on why the disk said no.
Status SpillIoError(const std::string& what, const std::string& path, int err) {
  std::string m = "spill file " + path + ": " + what + ": " + ErrnoText(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
    m += " (transactions larger than a quarter of limits.queue_bytes wait there for their commit: free space in checkpoint.dir)";
  } else {
    m += " (checkpoint.dir must be a writable directory)";
  }
  return IoError(std::move(m));
}

void PutU8(std::string& b, std::uint8_t v) {
  b.push_back(static_cast<char>(v));
}
void PutU32(std::string& b, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<char>((v >> shift) & 0xFF));
}
void PutTuple(std::string& b, const Tuple& t) {
  PutU32(b, static_cast<std::uint32_t>(t.size()));
  for (const Value& v : t) {
    PutU8(b, static_cast<std::uint8_t>(v.kind));
    if (v.kind == Value::Kind::kText) {
      PutU32(b, static_cast<std::uint32_t>(v.text.size()));
      b.append(v.text);
    }
  }
}

Status ReadTuple(Cursor& c, Tuple& out) {
  std::uint32_t n = 0;
  SC_RETURN_IF_ERROR(c.ReadU32(n));
  if (n > c.remaining()) return c.Error("tuple of " + std::to_string(n) + " values does not fit");
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    char kind = 0;
    SC_RETURN_IF_ERROR(c.ReadChar(kind));
    if (kind == 'n') {
      out.emplace_back();
    } else if (kind == 'u') {
      out.push_back(Value{Value::Kind::kUnchanged, {}});
    } else if (kind == 't') {
      std::uint32_t len = 0;
      std::string_view text;
      SC_RETURN_IF_ERROR(c.ReadU32(len));
      SC_RETURN_IF_ERROR(c.ReadBytes(len, text));
      out.push_back(Value::Text(std::string(text)));
    } else {
      return c.Error("unknown value kind " + std::to_string(static_cast<unsigned char>(kind)));
    }
  }
  return Status::Ok();
}

bool KnownOp(char op) {
  switch (static_cast<Op>(op)) {
    case Op::kInsert:
    case Op::kUpdate:
    case Op::kDelete:
    case Op::kTruncate:
    case Op::kRead:
      return true;
  }
  return false;
}

}  // namespace

// Owns the file: closes and removes it when destroyed, whoever holds it.
struct SpillWriter::Impl {
  std::string path;
  int fd = -1;
  std::string buf;
  std::vector<std::shared_ptr<const Relation>> relations;
  std::unordered_map<const Relation*, std::uint32_t> relation_index;
  Status failed;  // sticky: a half-written buffer cannot be resumed

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (!path.empty()) ::unlink(path.c_str());
  }

  std::uint32_t IndexOf(const std::shared_ptr<const Relation>& rel) {
    if (rel == nullptr) return kNoRelation;
    auto [it, inserted] = relation_index.emplace(rel.get(), static_cast<std::uint32_t>(relations.size()));
    if (inserted) relations.push_back(rel);
    return it->second;
  }

  Status Flush() {
    std::size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed = SpillIoError("write", path, errno);
      if (n == 0) return failed = SpillIoError("write", path, EIO);
      done += static_cast<std::size_t>(n);
    }
    buf.clear();
    return Status::Ok();
  }
};

StatusOr<std::unique_ptr<SpillWriter>> SpillWriter::Create(const std::string& dir, std::uint32_t xid) {
  auto impl = std::make_unique<Impl>();
  for (;;) {
    std::string path =
        dir + "/spill-" + std::to_string(xid) + "-" + std::to_string(++g_file_counter) + ".bin";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;  // another decoder's file: take the next number
    if (fd < 0) return SpillIoError("create", path, errno);
    impl->fd = fd;
    impl->path = std::move(path);
    break;
  }
  impl->buf.reserve(kBufferBytes);
  std::unique_ptr<SpillWriter> w(new SpillWriter());
  w->impl_ = std::move(impl);
  return w;
}

SpillWriter::~SpillWriter() = default;

const std::string& SpillWriter::path() const {
  return impl_->path;
}

Status SpillWriter::Append(const Change& ch) {
  if (!impl_->failed.ok()) return impl_->failed;
  std::string& b = impl_->buf;
  std::size_t start = b.size();
  PutU32(b, 0);  // payload length, filled in below
  PutU8(b, static_cast<std::uint8_t>(ch.op));
  PutU32(b, ch.ordinal);
  PutU32(b, impl_->IndexOf(ch.relation));
  PutU8(b, static_cast<std::uint8_t>(ch.old_kind));
  PutU8(b, ch.upsert ? kUpsertFlag : 0);
  PutU8(b, ch.truncate_options);
  PutTuple(b, ch.old_tuple);
  PutTuple(b, ch.new_tuple);
  PutU32(b, static_cast<std::uint32_t>(ch.truncated.size()));
  for (const auto& rel : ch.truncated) PutU32(b, impl_->IndexOf(rel));
  std::size_t payload = b.size() - start - 4;
  for (int i = 0; i < 4; ++i)
    b[start + static_cast<std::size_t>(i)] = static_cast<char>(payload >> (24 - 8 * i));
  bytes_ += payload + 4;
  ++changes_;
  if (b.size() >= kBufferBytes) {
    SC_RETURN_IF_ERROR(impl_->Flush());
    if (b.capacity() > kBufferBytes) std::string().swap(b);  // one huge row must not stay allocated
  }
  return Status::Ok();
}

struct SpilledTransaction::Impl {
  std::unique_ptr<SpillWriter::Impl> file;
  Transaction header;
  std::size_t piece_bytes = 0;
  std::uint64_t total = 0;      // changes in the file
  std::uint64_t file_size = 0;  // bytes the writer wrote
  std::uint64_t read = 0;       // changes handed out so far
  bool first = true;
  bool done = false;
  std::string buf;      // file bytes [buf_off, buf_off + buf.size())
  std::size_t pos = 0;  // next unread byte in buf
  std::uint64_t buf_off = 0;
  Status failed;

  std::uint64_t offset() const { return buf_off + pos; }

  // Makes n bytes available at buf[pos], reading at least kBufferBytes at a
  // time so small records do not cost a system call each.
  Status Ensure(std::size_t n) {
    while (buf.size() - pos < n) {
      buf.erase(0, pos);
      buf_off += pos;
      pos = 0;
      std::size_t have = buf.size();
      std::size_t want = std::max(kBufferBytes, n - have);
      buf.resize(have + want);
      ssize_t got = ::pread(file->fd, buf.data() + have, want, static_cast<off_t>(buf_off + have));
      if (got < 0) {
        int err = errno;
        buf.resize(have);
        if (err == EINTR) continue;
        return SpillIoError("read", file->path, err);
      }
      buf.resize(have + static_cast<std::size_t>(got));
      if (got == 0) {
        return Corruption("spill file " + file->path + " ends at byte " + std::to_string(buf_off + have) +
                          ", inside a record that needs " + std::to_string(n) + " bytes at byte " +
                          std::to_string(buf_off));
      }
    }
    return Status::Ok();
  }

  Status ReadChange(Change& ch) {
    std::uint64_t record_off = offset();
    auto in_record = [&](const Status& s) {
      return s.Prefixed("spill file " + file->path + ", record at byte " + std::to_string(record_off));
    };
    SC_RETURN_IF_ERROR(Ensure(4));
    std::uint32_t len = 0;
    for (int i = 0; i < 4; ++i)
      len = (len << 8) | static_cast<std::uint8_t>(buf[pos + static_cast<std::size_t>(i)]);
    pos += 4;
    if (offset() > file_size || len > file_size - offset()) {
      return in_record(Corruption("record length " + std::to_string(len) +
                                  " runs past the end of the file (" + std::to_string(file_size) +
                                  " bytes)"));
    }
    SC_RETURN_IF_ERROR(Ensure(len));
    Cursor c(std::string_view(buf.data() + pos, len), "spill record");
    pos += len;
    Status s = DecodeChange(c, ch);
    return s.ok() ? s : in_record(s);
  }

  Status DecodeChange(Cursor& c, Change& ch) const {
    char op = 0;
    std::uint32_t rel = 0;
    std::uint8_t flags = 0;
    SC_RETURN_IF_ERROR(c.ReadChar(op));
    if (!KnownOp(op)) return c.Error("unknown op " + std::to_string(static_cast<unsigned char>(op)));
    ch.op = static_cast<Op>(op);
    SC_RETURN_IF_ERROR(c.ReadU32(ch.ordinal));
    SC_RETURN_IF_ERROR(c.ReadU32(rel));
    SC_RETURN_IF_ERROR(LookupRelation(c, rel, ch.relation));
    SC_RETURN_IF_ERROR(c.ReadChar(ch.old_kind));
    if (ch.old_kind != 0 && ch.old_kind != 'K' && ch.old_kind != 'O')
      return c.Error("unknown old tuple kind");
    SC_RETURN_IF_ERROR(c.ReadU8(flags));
    if ((flags & ~kUpsertFlag) != 0) return c.Error("unknown flags " + std::to_string(flags));
    ch.upsert = (flags & kUpsertFlag) != 0;
    SC_RETURN_IF_ERROR(c.ReadU8(ch.truncate_options));
    SC_RETURN_IF_ERROR(ReadTuple(c, ch.old_tuple));
    SC_RETURN_IF_ERROR(ReadTuple(c, ch.new_tuple));
    std::uint32_t ntrunc = 0;
    SC_RETURN_IF_ERROR(c.ReadU32(ntrunc));
    if (ntrunc > c.remaining() / 4)
      return c.Error("relation count " + std::to_string(ntrunc) + " does not fit");
    ch.truncated.resize(ntrunc);
    for (auto& r : ch.truncated) {
      SC_RETURN_IF_ERROR(c.ReadU32(rel));
      SC_RETURN_IF_ERROR(LookupRelation(c, rel, r));
    }
    if (!c.at_end()) return c.Error(std::to_string(c.remaining()) + " trailing bytes");
    return Status::Ok();
  }

  Status LookupRelation(const Cursor& c, std::uint32_t index, std::shared_ptr<const Relation>& out) const {
    if (index == kNoRelation) return Status::Ok();
    if (index >= file->relations.size()) {
      return c.Error("relation index " + std::to_string(index) + " of " +
                     std::to_string(file->relations.size()));
    }
    out = file->relations[index];
    return Status::Ok();
  }
};

StatusOr<std::unique_ptr<SpilledTransaction>> SpilledTransaction::Finish(std::unique_ptr<SpillWriter> writer,
                                                                         const Transaction& header,
                                                                         std::size_t piece_bytes) {
  if (writer == nullptr) return Internal("SpilledTransaction::Finish without a writer");
  if (!writer->impl_->failed.ok()) return writer->impl_->failed;
  SC_RETURN_IF_ERROR(writer->impl_->Flush());
  std::string().swap(writer->impl_->buf);
  auto impl = std::make_unique<Impl>();
  impl->total = writer->changes_;
  impl->file_size = writer->bytes_;
  impl->file = std::move(writer->impl_);
  impl->header = header;
  impl->header.changes.clear();
  impl->header.approx_bytes = 0;
  impl->piece_bytes = piece_bytes;
  std::unique_ptr<SpilledTransaction> t(new SpilledTransaction());
  t->impl_ = std::move(impl);
  return t;
}

SpilledTransaction::~SpilledTransaction() = default;

std::uint64_t SpilledTransaction::changes() const {
  return impl_->total;
}
const std::string& SpilledTransaction::path() const {
  return impl_->file->path;
}

StatusOr<std::shared_ptr<Transaction>> SpilledTransaction::NextPiece() {
  Impl& im = *impl_;
  if (!im.failed.ok()) return im.failed;
  if (im.done) return std::shared_ptr<Transaction>();
  auto piece = std::make_shared<Transaction>(im.header);
  piece->first_piece = im.first;
  im.first = false;
  while (im.read < im.total && (piece->changes.empty() || piece->approx_bytes < im.piece_bytes)) {
    Change ch;
    Status s = im.ReadChange(ch);
    if (!s.ok()) return im.failed = s;
    piece->approx_bytes += ch.ApproxBytes();
    piece->changes.push_back(std::move(ch));
    ++im.read;
  }
  piece->last_piece = im.read == im.total;
  if (piece->last_piece) {
    im.done = true;
    if (im.offset() != im.file_size) {
      return im.failed = Corruption("spill file " + im.file->path + ": " + std::to_string(im.total) +
                                    " records end at byte " + std::to_string(im.offset()) + " of " +
                                    std::to_string(im.file_size));
    }
    std::string().swap(im.buf);
  }
  return piece;
}

namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// mkdir -p with mode 0700 for what it creates.
Status MakeDirs(const std::string& dir) {
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError("spill directory " + dir + ": mkdir " + prefix + ": " + ErrnoText(errno));
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return IoError("spill directory " + dir + ": " + ErrnoText(errno));
  if (!S_ISDIR(st.st_mode)) return IoError("spill directory " + dir + ": not a directory");
  return Status::Ok();
}

}  // namespace

Status ResetSpillDir(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("spill directory: empty path");
  SC_RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (d == nullptr) return IoError("spill directory " + dir + ": opendir: " + ErrnoText(errno));
  for (;;) {
    errno = 0;
    dirent* e = ::readdir(d.get());
    if (e == nullptr) {
      if (errno != 0) return IoError("spill directory " + dir + ": readdir: " + ErrnoText(errno));
      break;
    }
    std::string_view name(e->d_name);
    if (name.size() < 9 || name.substr(0, 6) != "spill-" || name.substr(name.size() - 4) != ".bin") continue;
    std::string path = dir + "/" + std::string(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return IoError("spill directory " + dir + ": removing " + path + ": " + ErrnoText(errno));
    }
  }
  return Status::Ok();
}

}  // namespace shardcast
