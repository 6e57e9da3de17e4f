#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_util.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/logging.h"
#include "daemon/pipeline.h"
#include "daemon/signals.h"
#include "daemon/systemd_notify.h"

namespace shardcast {

namespace {

// The "supervisor" thread beside the pipeline: systemd notifications from the
// status board, and SIGHUP reloads. A reload touches logging itself and hands
// added tables to the pipeline (RequestTablesReload), never its objects.
class Supervisor {
 public:
  Supervisor(SystemdNotifier* notifier, Pipeline* pipeline, const SignalFlags* flags, Config running)
      : notifier_(notifier), pipeline_(pipeline), flags_(flags), running_(std::move(running)) {}
  ~Supervisor() { Stop(); }

  Status Start() {
    SC_ASSIGN_OR_RETURN(thread_, StartThread("supervisor", [this] { Loop(); }));
    return Status::Ok();
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    SetThreadName("supervisor");
    int reloads_seen = 0;
    std::unique_lock lock(mu_);
    while (!done_) {
      lock.unlock();
      notifier_->Tick(pipeline_->status_board(), std::chrono::steady_clock::now());
      if (const int reloads = flags_->reloads.load(); reloads != reloads_seen) {
        reloads_seen = reloads;  // several SIGHUPs in one tick are one reload
        // Compared with what streams: a reload the pipeline rejected is not in force.
        running_.tables = pipeline_->tables_in_force();
        if (auto next = ReloadConfig(&running_)) pipeline_->RequestTablesReload(std::move(*next));
      }
      lock.lock();
      cv_.wait_for(lock, notifier_->tick_interval(), [this] { return done_; });
    }
  }

  SystemdNotifier* notifier_;
  Pipeline* pipeline_;
  const SignalFlags* flags_;
  Config running_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

int RunDaemon(const Config& config) {
  // Both outlive the detached signal thread, which uses them.
  static SignalFlags flags;
  static SystemdNotifier notifier;
  BlockSignals();
  if (Status s = StartSignalThread(&flags, [] { notifier.Stopping(); }); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return ExitCodeFor(s);
  }
  spdlog::info("shardcast {} starting with {}", SHARDCAST_VERSION, config.path);
  if (notifier.enabled())
    spdlog::info("systemd notifications on; watchdog {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(notifier.watchdog_interval()).count());
  Pipeline pipeline(config, &flags.stop);
  Supervisor supervisor(&notifier, &pipeline, &flags, config);
  if (Status s = supervisor.Start(); !s.ok()) {
    spdlog::critical("{}", s.ToString());
    return ExitCodeFor(s);
  }
  Status s = pipeline.Run();
  supervisor.Stop();
  notifier.Stopping();  // also when Run failed: systemd sees the exit next
  if (!s.ok()) {
    spdlog::critical("{}", s.ToString());
    return ExitCodeFor(s);
  }
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace shardcast
