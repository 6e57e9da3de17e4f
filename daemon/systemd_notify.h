// systemd's notify protocol (Type=notify, WatchdogSec=) for `shardcast run`:
//   READY=1     once, when the stream has started (the checkpoint store is
//               open); a destination that is down does not hold it back.
//   STATUS=...  one line of lag and throughput, whenever it changes.
//   WATCHDOG=1  every half watchdog interval, but only while the reader loop
//               beats (StatusBoard::Beat), so a wedged loop gets restarted;
//               also while the pipeline retries between sessions (the board
//               says not streaming, with last_error), as a restart would not
//               bring a source back.
//   STOPPING=1  as soon as SIGTERM arrives, before draining.
// Without NOTIFY_SOCKET (not started by systemd) every call is a no-op.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "daemon/status_board.h"

namespace shardcast {

// The STATUS= text for a snapshot, one line, e.g.
// "streaming slot shardcast; lag 12.0 kB, 0.4 s; 3/3 destinations running; 1234 changes, 56 transactions".
std::string StatusLine(const DaemonStatus& status);

// Whether the reader loop counts as alive at now: it beat within interval,
// or it has not started yet (startup is bounded by TimeoutStartSec instead).
bool LoopAlive(std::chrono::steady_clock::time_point last_beat, std::chrono::steady_clock::time_point now,
               std::chrono::microseconds interval);

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment
  // (a missing WATCHDOG_PID means "this process").
  SystemdNotifier();

  bool enabled() const { return enabled_; }
  // Zero when systemd does not watch this process.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }
  // How often Tick should run: often enough for half the watchdog interval.
  std::chrono::milliseconds tick_interval() const;

  // Sends one message ("READY=1", "STATUS=..."); no-op when not enabled.
  // Thread-safe.
  void Notify(const std::string& message) const;

  // One round from the notifier thread (one thread only): READY=1 once the
  // board says streaming, STATUS= when its text changed, WATCHDOG=1 when due
  // and the loop is alive.
  void Tick(const StatusBoard& board, std::chrono::steady_clock::time_point now);

  // STOPPING=1, once; after it Tick sends neither READY=1 nor WATCHDOG=1.
  // Callable from any thread (the signal thread calls it on SIGTERM).
  void Stopping();

  bool ready_sent() const { return ready_sent_; }

 private:
  bool enabled_ = false;
  std::chrono::microseconds watchdog_{0};
  std::atomic<bool> stopping_{false};
  bool ready_sent_ = false;
  std::string last_status_;
  std::chrono::steady_clock::time_point last_watchdog_{};
};

}  // namespace shardcast
