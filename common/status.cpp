#include "common/status.h"

namespace shardcast {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kConfig:
      return "configuration error";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kCorruption:
      return "corruption";
    case Code::kFailedPrecondition:
      return "failed precondition";
    case Code::kOutOfSync:
      return "out of sync";
    case Code::kSlotLost:
      return "replication slot lost";
    case Code::kIoError:
      return "I/O error";
    case Code::kNotFound:
      return "not found";
    case Code::kCancelled:
      return "cancelled";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

Status Status::Prefixed(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return {code_, std::move(m)};
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace shardcast
