#include "daemon/systemd_notify.h"

#include <spdlog/fmt/fmt.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>

namespace shardcast {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

std::string HumanBytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (v >= 1000 && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[unit]);
}

// STATUS= is one line: systemctl status shows it as is.
std::string OneLine(std::string text, std::size_t max) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

}  // namespace

std::string StatusLine(const DaemonStatus& status) {
  if (!status.streaming) {
    if (status.last_error.empty()) return "starting";
    return "not streaming, retrying: " + OneLine(status.last_error, 200);
  }
  std::size_t running = 0;
  std::string not_running;
  for (const auto& d : status.destinations) {
    if (d.state == "running") {
      ++running;
    } else {
      not_running += fmt::format("{}{} {}", not_running.empty() ? "" : ", ", d.id, d.state);
    }
  }
  std::string line = fmt::format("streaming slot {}; lag {}, {:.1f} s; {}/{} destinations running",
                                 status.slot, HumanBytes(status.source_lag_bytes), status.source_lag_seconds,
                                 running, status.destinations.size());
  if (!not_running.empty()) line += " (" + not_running + ")";
  line += fmt::format("; {} changes, {} transactions", status.changes, status.transactions);
  if (!status.last_error.empty()) line += "; last error: " + OneLine(status.last_error, 200);
  return line;
}

bool LoopAlive(steady_clock::time_point last_beat, steady_clock::time_point now, microseconds interval) {
  if (last_beat == steady_clock::time_point{}) return true;
  return now - last_beat < interval;
}

SystemdNotifier::SystemdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_ = microseconds(usec);
}

milliseconds SystemdNotifier::tick_interval() const {
  milliseconds tick(500);
  // Four ticks per interval: a ping is at most a quarter late.
  if (watchdog_.count() > 0) tick = std::min(tick, std::chrono::duration_cast<milliseconds>(watchdog_ / 4));
  return std::max(tick, milliseconds(10));
}

void SystemdNotifier::Notify(const std::string& message) const {
  if (!enabled_) return;
  // A failed send only costs a notification; systemd's timeouts cover it.
  (void)sd_notify(0, message.c_str());
}

void SystemdNotifier::Tick(const StatusBoard& board, steady_clock::time_point now) {
  if (!enabled_) return;
  const DaemonStatus status = board.Get();
  const bool stopping = stopping_.load();
  std::string line = StatusLine(status);
  if (stopping) line = "stopping; " + line;
  if (line != last_status_) {
    Notify("STATUS=" + line);
    last_status_ = std::move(line);
  }
  if (stopping) return;
  if (status.streaming && !ready_sent_) {
    Notify("READY=1");
    ready_sent_ = true;
  }
  // Between sessions (the pipeline retrying with backoff after a source or
  // destination failure) the reader loop does not beat, yet nothing is
  // wedged: a restart would not help, so the watchdog is fed.
  const bool retrying = !status.streaming && !status.last_error.empty();
  if (watchdog_.count() > 0 && now - last_watchdog_ >= watchdog_ / 2 &&
      (retrying || LoopAlive(board.last_beat(), now, watchdog_))) {
    Notify("WATCHDOG=1");
    last_watchdog_ = now;
  }
}

void SystemdNotifier::Stopping() {
  if (stopping_.exchange(true)) return;
  Notify("STOPPING=1");
}

}  // namespace shardcast
