#include "tests/harness/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace shardcast::testing {

namespace {
int Decode(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return -WTERMSIG(wstatus);
  return -1;
}

std::vector<char*> Argv(const std::vector<std::string>& args, std::vector<std::string>& storage) {
  storage.clear();
  storage.push_back(SHARDCAST_BINARY);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  return argv;
}
}  // namespace

StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const std::vector<std::string>& args,
                                                              const std::string& log_path) {
  return Start(args, log_path, {});
}

StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const std::vector<std::string>& args,
                                                              const std::string& log_path,
                                                              const std::vector<std::string>& env) {
  std::vector<std::string> storage;
  auto argv = Argv(args, storage);
  // The child's environment is built before fork: nothing allocates between fork and exec.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& extra : env) replaced = replaced || extra.substr(0, extra.find('=')) == name;
    if (!replaced) env_storage.push_back(entry);
  }
  env_storage.insert(env_storage.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return Internal("fork failed");
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  auto p = std::unique_ptr<DaemonProcess>(new DaemonProcess());
  p->pid_ = pid;
  p->log_path_ = log_path;
  return p;
}

DaemonProcess::~DaemonProcess() {
  Kill9();
}

bool DaemonProcess::Running() {
  if (pid_ < 0) return false;
  int ws = 0;
  pid_t r = waitpid(pid_, &ws, WNOHANG);
  if (r == pid_) {
    exit_code_ = Decode(ws);
    pid_ = -1;
    return false;
  }
  return true;
}

StatusOr<int> DaemonProcess::Terminate(int timeout_s) {
  if (!Running()) return exit_code_;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) return exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Kill9();
  return Internal("shardcast did not exit within " + std::to_string(timeout_s) + " s of SIGTERM");
}

bool DaemonProcess::WaitExit(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void DaemonProcess::Kill9() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  int ws = 0;
  waitpid(pid_, &ws, 0);
  exit_code_ = Decode(ws);
  pid_ = -1;
}

std::string DaemonProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunShardcast(const std::vector<std::string>& args, std::string* output) {
  char tmpl[] = "/tmp/shardcast-run-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return -1;
  close(fd);
  int code = -1;
  {
    auto p = DaemonProcess::Start(args, tmpl);
    if (!p.ok()) return -1;
    if (!(*p)->WaitExit(std::chrono::seconds(120))) (*p)->Kill9();
    code = (*p)->exit_code();
    if (output) *output = (*p)->Log();
  }
  unlink(tmpl);
  return code;
}

}  // namespace shardcast::testing
