// Signals are blocked in every thread and taken by one thread with sigwait,
// which only sets flags: the main loop does the shutdown (no work in a
// signal handler). Call BlockSignals() before starting any thread.
#pragma once

#include <atomic>

#include "common/status.h"

namespace shardcast {

struct SignalFlags {
  std::atomic<bool> stop{false};  // SIGTERM, SIGINT
  std::atomic<int> reloads{0};    // SIGHUP
};

void BlockSignals();
// Starts the detached signal thread; it lives until the process exits.
Status StartSignalThread(SignalFlags* flags);

}  // namespace shardcast
