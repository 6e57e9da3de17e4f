#include "daemon/exit_codes.h"

namespace shardcast {

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kCorruption:
      return kExitDataErr;
    case Code::kConfig:
      return kExitConfig;
    case Code::kUnavailable:
      return kExitUnavailable;
    case Code::kIoError:
      return kExitIoErr;
    case Code::kOutOfSync:
      return kExitOutOfSync;
    case Code::kSlotLost:
      return kExitSlotLost;
    case Code::kFailedPrecondition:
    case Code::kNotFound:
    case Code::kCancelled:
    case Code::kInternal:
      return kExitInternal;
  }
  return kExitInternal;
}

}  // namespace shardcast
