#include "common/kill_point.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>

namespace shardcast {
namespace {

// One armed point, parsed once from its environment variable.
struct Target {
  explicit Target(const char* variable) {
    const char* env = std::getenv(variable);
    if (env == nullptr || *env == '\0') return;
    std::string spec(env);
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
      hit_at = std::max(1L, std::strtol(spec.c_str() + colon + 1, nullptr, 10));
      spec.resize(colon);
    }
    name = spec;
    armed = true;
  }

  // True on exactly the hit_at-th time the named point is reached.
  bool Fires(const char* point) {
    if (!armed || name != point) return false;
    return hits.fetch_add(1) + 1 == hit_at;
  }

  std::string name;
  long hit_at = 1;  // the n-th time the point is reached
  std::atomic<long> hits{0};
  bool armed = false;
};

}  // namespace

void KillPoint(const char* name) {
  static Target target("SHARDCAST_KILL_POINT");
  if (!target.Fires(name)) return;
  // Tests look for this line to know the point was reached (not a random death).
  const std::string line = std::string("shardcast: kill point ") + name + " reached\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  std::raise(SIGKILL);
}

bool FaultPoint(const char* name) {
  static Target target("SHARDCAST_FAULT_POINT");
  if (!target.Fires(name)) return false;
  const std::string line = std::string("shardcast: fault point ") + name + " reached\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  return true;
}

}  // namespace shardcast
