#include "daemon/exit_codes.h"

namespace shardcast {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kConfig:
      return kExitConfig;
    case Code::kUnavailable:
      return kExitUnavailable;
    case Code::kOutOfSync:
      return kExitOutOfSync;
    case Code::kCorruption:
    case Code::kFailedPrecondition:
    case Code::kIoError:
    case Code::kNotFound:
    case Code::kCancelled:
    case Code::kInternal:
      return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace shardcast
