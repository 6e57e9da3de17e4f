#include "daemon/signals.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <csignal>

#include "common/thread_util.h"

namespace shardcast {

namespace {
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void BlockSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A file-size limit (ulimit -f) must fail the write with EFBIG, reported
  // like a full disk, rather than kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
}

Status StartSignalThread(SignalFlags* flags) {
  SC_ASSIGN_OR_RETURN(std::thread t, StartThread("signals", [flags] {
                        sigset_t set = HandledSignals();
                        while (true) {
                          int sig = 0;
                          if (sigwait(&set, &sig) != 0) continue;
                          if (sig == SIGHUP) {
                            flags->reloads.fetch_add(1);
                            spdlog::info("SIGHUP received");
                          } else {
                            spdlog::info("signal {} received: stopping", sig);
                            flags->stop.store(true);
                          }
                        }
                      }));
  t.detach();
  return Status::Ok();
}

}  // namespace shardcast
