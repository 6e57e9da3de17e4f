// Signals are blocked in every thread and taken by one thread with sigwait,
// which only sets flags: the main loop does the shutdown (no work in a
// signal handler). Call BlockSignals() before starting any thread.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/config.h"

namespace shardcast {

struct SignalFlags {
  std::atomic<bool> stop{false};  // SIGTERM, SIGINT
  std::atomic<int> reloads{0};    // SIGHUP
};

void BlockSignals();
// Starts the detached signal thread; it lives until the process exits.
Status StartSignalThread(SignalFlags* flags);
// The same, calling on_stop on the signal thread right after setting
// flags->stop (e.g. to tell systemd STOPPING=1 before the drain). on_stop
// must outlive the process's threads.
Status StartSignalThread(SignalFlags* flags, std::function<void()> on_stop);

// What SIGHUP does. Re-reads running->path; applies log.level and log.format
// live (logging each change) and copies them into *running. When the only
// other change is tables added (LiveAddableTables), logs that the stream
// session restarts to include them, copies the tables into *running and
// returns the reloaded configuration: the caller hands it to the pipeline,
// which logs "reload: applied" once they stream. Otherwise logs once, at
// warning, the keys that differ but only take effect after a restart
// (*running keeps their values in force) and returns nullopt. A file that no
// longer loads is logged as an error and changes nothing.
std::optional<Config> ReloadConfig(Config* running);

// The keys other than log.* whose values differ, as a reader wants them in
// that warning: "tables (added public.b)", "shards", "kafka.brokers", ...
std::vector<std::string> RestartOnlyChanges(const Config& running, const Config& reloaded);

// The tables ("schema.table") reloaded adds to running, when adding them is
// the only difference RestartOnlyChanges would name (no table removed or
// changed, nothing else); empty otherwise.
std::vector<std::string> LiveAddableTables(const Config& running, const Config& reloaded);

}  // namespace shardcast
