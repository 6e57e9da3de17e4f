#include "tests/harness/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>

extern char** environ;

namespace shardcast::testing {
namespace {

struct FileActions {
  posix_spawn_file_actions_t actions;
  FileActions() { posix_spawn_file_actions_init(&actions); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

std::vector<char*> CArgs(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, FileActions& fa) {
  if (argv.empty()) return InvalidArgument("empty command");
  std::vector<char*> args = CArgs(argv);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa.actions, nullptr, args.data(), environ);
  if (rc != 0) return Internal("cannot start " + JoinArgs(argv) + ": " + std::strerror(rc));
  return pid;
}

// Waits for pid; returns the raw wait status or -1.
int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace

std::string JoinArgs(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string FileTail(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes) ? size - max_bytes : 0;
  in.seekg(start);
  std::string out(static_cast<std::size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

Status RunProcess(const std::vector<std::string>& argv, const std::string& output_path,
                  const std::string& cwd) {
  FileActions fa;
  posix_spawn_file_actions_addopen(&fa.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa.actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa.actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&fa.actions, cwd.c_str());
  SC_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, fa));
  int status = Reap(pid);
  if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  std::string how = status < 0            ? "could not be waited for"
                    : WIFEXITED(status)   ? "exited " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                          : "ended abnormally";
  return Internal(JoinArgs(argv) + " " + how + "; output:\n" + FileTail(output_path));
}

StatusOr<pid_t> SpawnWithStdio(const std::vector<std::string>& argv, int child_stdio) {
  FileActions fa;
  posix_spawn_file_actions_adddup2(&fa.actions, child_stdio, 0);
  posix_spawn_file_actions_adddup2(&fa.actions, child_stdio, 1);
  return Spawn(argv, fa);
}

void TerminateAndReap(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  Reap(pid);
}

}  // namespace shardcast::testing
