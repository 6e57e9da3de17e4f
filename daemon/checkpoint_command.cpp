#include <cstdio>

#include "checkpoint/store.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"

namespace shardcast {

int CheckpointCommand(const Config& config, const std::string& subcommand, const std::string& destination) {
  auto store = CheckpointStore::Open(config.checkpoint_dir);
  if (!store.ok()) {
    std::fprintf(stderr,
                 "shardcast: opening the checkpoint store (is the daemon running? it holds the store): %s\n",
                 store.status().ToString().c_str());
    return ExitCodeFor(store.status());
  }
  if (subcommand == "reset") {
    Status s = (*store)->ResetProgress(destination);
    if (!s.ok()) {
      std::fprintf(stderr, "shardcast: %s\n", s.ToString().c_str());
      return ExitCodeFor(s);
    }
    std::printf("reset progress of %s\n", destination.empty() ? "every destination" : destination.c_str());
    return 0;
  }
  auto progress = (*store)->LoadProgress();
  if (!progress.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", progress.status().ToString().c_str());
    return ExitCodeFor(progress.status());
  }
  std::printf("%-24s %s\n", "DESTINATION", "DURABLE LSN");
  for (const auto& [id, lsn] : *progress) std::printf("%-24s %s\n", id.c_str(), FormatLsn(lsn).c_str());
  auto rings = (*store)->LoadRings();
  if (rings.ok())
    for (const auto& [epoch, rec] : *rings)
      std::printf("ring epoch %llu (from %s): %s\n", static_cast<unsigned long long>(epoch),
                  FormatLsn(rec.activation_lsn).c_str(), rec.definition.c_str());
  return 0;
}

}  // namespace shardcast
