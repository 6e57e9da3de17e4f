// A bounds-checked reader over one wire message. Every read checks that the
// bytes are there before touching them and fails with kCorruption naming the
// message (e.g. "Update") and the byte offset, so a short or malformed message
// from the network is an error, never an overrun. Integers are big-endian
// (network order) as the replication protocol sends them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shardcast {

class Cursor {
 public:
  // what names the message in errors; it must outlive the cursor.
  Cursor(std::string_view data, const char* what) : data_(data), what_(what) {}

  std::size_t offset() const { return pos_; }
  std::size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }
  const char* what() const { return what_; }

  Status ReadU8(std::uint8_t& out) {
    if (remaining() < 1) return Short(1, "byte");
    out = static_cast<std::uint8_t>(data_[pos_++]);
    return Status::Ok();
  }
  Status ReadChar(char& out) {
    if (remaining() < 1) return Short(1, "byte");
    out = data_[pos_++];
    return Status::Ok();
  }
  Status ReadI16(std::int16_t& out) {
    std::uint16_t v = 0;
    SC_RETURN_IF_ERROR(ReadBig(v, "int16"));
    out = static_cast<std::int16_t>(v);
    return Status::Ok();
  }
  Status ReadI32(std::int32_t& out) {
    std::uint32_t v = 0;
    SC_RETURN_IF_ERROR(ReadBig(v, "int32"));
    out = static_cast<std::int32_t>(v);
    return Status::Ok();
  }
  Status ReadU32(std::uint32_t& out) { return ReadBig(out, "int32"); }
  Status ReadI64(std::int64_t& out) {
    std::uint64_t v = 0;
    SC_RETURN_IF_ERROR(ReadBig(v, "int64"));
    out = static_cast<std::int64_t>(v);
    return Status::Ok();
  }
  Status ReadU64(std::uint64_t& out) { return ReadBig(out, "int64"); }

  // A NUL-terminated string; the view excludes the NUL and points into the
  // message.
  Status ReadCString(std::string_view& out) {
    const char* start = data_.data() + pos_;
    const void* nul = remaining() == 0 ? nullptr : std::memchr(start, '\0', remaining());
    if (nul == nullptr) return Error("unterminated string");
    std::size_t len = static_cast<const char*>(nul) - start;
    out = std::string_view(start, len);
    pos_ += len + 1;
    return Status::Ok();
  }
  Status ReadBytes(std::size_t n, std::string_view& out) {
    if (remaining() < n) return Short(n, "bytes");
    out = data_.substr(pos_, n);
    pos_ += n;
    return Status::Ok();
  }

  // kCorruption "<what> at offset N: <detail>", for checks by the caller.
  Status Error(std::string_view detail) const {
    std::string m(what_);
    m += " message at offset ";
    m += std::to_string(pos_);
    m += ": ";
    m += detail;
    return Corruption(std::move(m));
  }

 private:
  template <typename T>
  Status ReadBig(T& out, const char* kind) {
    if (remaining() < sizeof(T)) return Short(sizeof(T), kind);
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i)
      v = static_cast<T>((v << 8) | static_cast<std::uint8_t>(data_[pos_ + i]));
    pos_ += sizeof(T);
    out = v;
    return Status::Ok();
  }
  Status Short(std::size_t need, const char* kind) const {
    return Error("truncated: need " + std::to_string(need) + " " + kind + ", have " +
                 std::to_string(remaining()));
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  const char* what_;
};

}  // namespace shardcast
