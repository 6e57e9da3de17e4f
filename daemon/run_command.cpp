#include <spdlog/spdlog.h>

#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/pipeline.h"
#include "daemon/signals.h"

namespace shardcast {

int RunDaemon(const Config& config) {
  static SignalFlags flags;  // outlives the detached signal thread
  BlockSignals();
  if (Status s = StartSignalThread(&flags); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return ExitCodeFor(s);
  }
  spdlog::info("shardcast {} starting with {}", SHARDCAST_VERSION, config.path);
  Pipeline pipeline(config, &flags.stop);
  Status s = pipeline.Run();
  if (!s.ok()) {
    spdlog::critical("{}", s.ToString());
    return ExitCodeFor(s);
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace shardcast
