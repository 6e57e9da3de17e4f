// `shardcast snapshot`: the client side. The backfill runs inside the daemon
// (it owns the stream and the checkpoint store); this command asks for it
// over the admin API and follows the job until it ends.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "daemon/admin_client.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/progress_bar.h"

namespace shardcast {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(500);
constexpr auto kPlainInterval = std::chrono::seconds(5);

volatile std::sig_atomic_t g_interrupted = 0;
void OnInterrupt(int) {
  g_interrupted = 1;
}

// Ctrl-C stops following, not the job; the previous disposition comes back
// when the command returns.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = 0;
    struct sigaction sa = {};
    sa.sa_handler = OnInterrupt;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &old_) == 0;
  }
  ~InterruptGuard() {
    if (installed_) sigaction(SIGINT, &old_, nullptr);
  }

 private:
  struct sigaction old_ = {};
  bool installed_ = false;
};

struct JobView {
  std::string state;
  std::string error;
  std::vector<TableProgress> tables;
};

std::string ErrorText(const AdminResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : ": " + r.body);
}

StatusOr<JobView> ParseJob(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Corruption("job status is not a JSON object: " + body);
  try {
    JobView job;
    job.state = j.value("state", std::string());
    job.error = j.value("error", std::string());
    for (const auto& t : j.value("tables", nlohmann::json::array())) {
      TableProgress p;
      p.table = t.value("table", std::string());
      p.state = t.value("state", std::string());
      p.rows_done = t.value("rows_done", std::uint64_t{0});
      p.rows_total = t.value("rows_total", std::uint64_t{0});
      p.chunks_done = t.value("chunks_done", std::uint64_t{0});
      p.rows_per_second = t.value("rows_per_second", 0.0);
      job.tables.push_back(std::move(p));
    }
    return job;
  } catch (const nlohmann::json::exception& e) {
    return Corruption(std::string("job status does not parse: ") + e.what());
  }
}

int TerminalWidth() {
  struct winsize ws = {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// Draws the job: live lines redrawn in place on a terminal, plain lines
// every few seconds and at every state change otherwise.
class ProgressView {
 public:
  ProgressView(std::string id, bool tty) : id_(std::move(id)), tty_(tty) {}

  void Show(const JobView& job) {
    if (tty_) {
      Redraw(job);
    } else {
      Plain(job);
    }
    std::fflush(stdout);
  }

 private:
  void Redraw(const JobView& job) {
    const int width = TerminalWidth();
    std::vector<std::string> lines;
    std::string header = "snapshot job " + id_ + ": " + job.state;
    if (static_cast<int>(header.size()) > width) header.resize(width);
    lines.push_back(header);
    for (const auto& t : job.tables) lines.push_back(FormatProgressLine(t, width));
    if (drawn_ > 0) std::printf("\x1b[%dA", drawn_);
    const int rows = std::max(drawn_, static_cast<int>(lines.size()));
    for (int i = 0; i < rows; ++i) {
      std::printf("\r\x1b[2K%s\n", i < static_cast<int>(lines.size()) ? lines[i].c_str() : "");
    }
    // Lines left over from a longer previous drawing are blank now; the
    // next redraw starts right below the current one.
    if (rows > static_cast<int>(lines.size())) std::printf("\x1b[%dA", rows - static_cast<int>(lines.size()));
    drawn_ = static_cast<int>(lines.size());
  }

  void Plain(const JobView& job) {
    std::string states = job.state;
    for (const auto& t : job.tables) states += "|" + t.table + "=" + t.state;
    const bool changed = states != last_states_;
    if (!changed && Clock::now() - last_print_ < kPlainInterval) return;
    if (job.state != last_job_state_) std::printf("snapshot job %s: %s\n", id_.c_str(), job.state.c_str());
    for (const auto& t : job.tables) std::printf("  %s\n", FormatPlainLine(t).c_str());
    last_states_ = states;
    last_job_state_ = job.state;
    last_print_ = Clock::now();
  }

  std::string id_;
  bool tty_;
  int drawn_ = 0;
  std::string last_states_;
  std::string last_job_state_;
  Clock::time_point last_print_{};
};

int InterruptedExit(const AdminClient& client, const Config& config, const std::string& id) {
  const std::string auth = config.admin_token_file.empty()
                               ? ""
                               : "-H \"Authorization: Bearer $(cat " + config.admin_token_file + ")\" ";
  std::printf(
      "\nstopped following; snapshot job %s keeps running in the daemon.\n"
      "follow it again with: curl -s %shttp://%s/jobs/%s\n",
      id.c_str(), auth.c_str(), client.listen().c_str(), id.c_str());
  std::fflush(stdout);
  return kExitOk;
}

// Sleeps one poll interval in small steps so that Ctrl-C is noticed at once.
void SleepPoll() {
  const auto until = Clock::now() + kPollInterval;
  while (!g_interrupted && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

int Follow(const AdminClient& client, const Config& config, const std::string& id) {
  ProgressView view(id, isatty(STDOUT_FILENO) == 1);
  const auto started = Clock::now();
  for (;;) {
    if (g_interrupted) return InterruptedExit(client, config, id);
    auto got = client.Get("/jobs/" + id);
    if (g_interrupted) return InterruptedExit(client, config, id);
    if (!got.ok()) {
      std::fprintf(stderr, "shardcast: following snapshot job %s: %s\n", id.c_str(),
                   got.status().message().c_str());
      return ExitCodeFor(got.status());
    }
    if (got->status != 200) {
      std::fprintf(stderr, "shardcast: snapshot job %s: %s\n", id.c_str(), ErrorText(*got).c_str());
      return kExitInternal;
    }
    auto job = ParseJob(got->body);
    if (!job.ok()) {
      std::fprintf(stderr, "shardcast: snapshot job %s: %s\n", id.c_str(), job.status().message().c_str());
      return kExitInternal;
    }
    view.Show(*job);
    if (job->state == "done") {
      std::uint64_t rows = 0;
      for (const auto& t : job->tables) rows += t.rows_done;
      const double secs = std::chrono::duration<double>(Clock::now() - started).count();
      std::printf("snapshot job %s done: %s rows in %zu table%s, %s\n", id.c_str(), FormatCount(rows).c_str(),
                  job->tables.size(), job->tables.size() == 1 ? "" : "s", FormatDuration(secs).c_str());
      std::fflush(stdout);
      return kExitOk;
    }
    if (job->state == "failed") {
      std::fprintf(stderr, "shardcast: snapshot job %s failed: %s\n", id.c_str(),
                   job->error.empty() ? "(no error given)" : job->error.c_str());
      return kExitInternal;
    }
    SleepPoll();
  }
}

}  // namespace

int SnapshotCommand(const Config& config, const std::string& table) {
  auto client = AdminClient::FromConfig(config);
  if (!client.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", client.status().message().c_str());
    return ExitCodeFor(client.status());
  }
  nlohmann::json request = {{"tables", nlohmann::json::array()}};
  if (!table.empty()) request["tables"].push_back(table);
  auto posted = client->Post("/jobs/snapshot", request.dump());
  if (!posted.ok()) {
    // The snapshot runs inside the daemon: without it there is nothing to do.
    std::fprintf(stderr, "shardcast: %s\n", posted.status().message().c_str());
    return ExitCodeFor(posted.status());
  }
  if (posted->status < 200 || posted->status > 299) {
    std::fprintf(stderr, "shardcast: snapshot refused: %s\n", ErrorText(*posted).c_str());
    if (posted->status == 401)
      std::fprintf(stderr, "shardcast: check admin.token_file against the daemon's\n");
    return posted->status == 400 || posted->status == 404 ? kExitConfig : kExitInternal;
  }
  auto reply = nlohmann::json::parse(posted->body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object() || !reply.contains("job") || !reply["job"].is_string()) {
    std::fprintf(stderr, "shardcast: the daemon accepted the snapshot but named no job: %s\n",
                 posted->body.c_str());
    return kExitInternal;
  }
  const std::string id = reply["job"].get<std::string>();
  std::printf("snapshot job %s started (Ctrl-C stops following; the job keeps running in the daemon)\n",
              id.c_str());
  std::fflush(stdout);
  InterruptGuard guard;
  return Follow(*client, config, id);
}

}  // namespace shardcast
