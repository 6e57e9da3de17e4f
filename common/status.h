// Status and StatusOr: how every fallible call in shardcast reports failure.
// No exceptions cross a module boundary on the data path; library exceptions
// are caught where the library is called and turned into a Status. Context is
// added on the way up with Prefixed(), so a message reads like a path:
// "opening checkpoint: /var/lib/shardcast: permission denied".
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shardcast {

// Codes map onto process exit codes (see ExitCodeFor in daemon/).
enum class Code {
  kOk = 0,
  kInvalidArgument,     // bad input from a caller or a user
  kConfig,              // configuration error (exit 78)
  kUnavailable,         // a server is unreachable; retrying may help (exit 69)
  kCorruption,          // bytes that do not parse (protocol, checkpoint)
  kFailedPrecondition,  // the world is not as required (privileges, schema)
  kOutOfSync,           // a destination is behind what the slot can replay
  kSlotLost,            // the replication slot is missing or invalidated (wal_status = lost)
  kIoError,             // local disk
  kNotFound,
  kCancelled,  // stopping on request
  kInternal,   // a bug
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns this status with "context: " in front of the message.
  Status Prefixed(std::string_view context) const;
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {Code::kInvalidArgument, std::move(m)};
}
inline Status ConfigError(std::string m) {
  return {Code::kConfig, std::move(m)};
}
inline Status Unavailable(std::string m) {
  return {Code::kUnavailable, std::move(m)};
}
inline Status Corruption(std::string m) {
  return {Code::kCorruption, std::move(m)};
}
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status SlotLost(std::string m) {
  return {Code::kSlotLost, std::move(m)};
}
inline Status IoError(std::string m) {
  return {Code::kIoError, std::move(m)};
}
inline Status NotFound(std::string m) {
  return {Code::kNotFound, std::move(m)};
}
inline Status Cancelled(std::string m) {
  return {Code::kCancelled, std::move(m)};
}
inline Status Internal(std::string m) {
  return {Code::kInternal, std::move(m)};
}

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace shardcast

#define SC_CONCAT_INNER(a, b) a##b
#define SC_CONCAT(a, b) SC_CONCAT_INNER(a, b)

#define SC_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::shardcast::Status sc_status_ = (expr); \
    if (!sc_status_.ok()) return sc_status_; \
  } while (0)

#define SC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define SC_ASSIGN_OR_RETURN(lhs, expr) SC_ASSIGN_OR_RETURN_IMPL(SC_CONCAT(sc_statusor_, __LINE__), lhs, expr)
