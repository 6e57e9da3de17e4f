#include "tests/harness/mock_broker.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "tests/harness/subprocess.h"

namespace shardcast::testing {
namespace {

constexpr auto kAnswerTimeout = std::chrono::seconds(30);

// Reads one line from fd into *line, buffering the rest in *pending.
Status ReadLine(int fd, std::string* pending, std::string* line, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (auto eol = pending->find('\n'); eol != std::string::npos) {
      *line = pending->substr(0, eol);
      pending->erase(0, eol + 1);
      return Status::Ok();
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Unavailable("mock broker did not answer within " + std::to_string(timeout.count()) + " ms");
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return Internal(std::string("poll: ") + std::strerror(errno));
    if (r <= 0) continue;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable("mock broker exited");
    pending->append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

struct MockBroker::Impl {
  pid_t pid = -1;
  int fd = -1;  // our end of the socketpair that is the child's stdin and stdout
  std::string bootstrap;
  std::string pending;
  std::mutex mu;  // one command at a time

  ~Impl() {
    TerminateAndReap(pid, std::chrono::seconds(5));
    if (fd >= 0) close(fd);
  }

  Status Command(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    std::string out = line + "\n";
    std::size_t done = 0;
    while (done < out.size()) {
      // MSG_NOSIGNAL: a dead child is an error, not a SIGPIPE for the test.
      ssize_t n = send(fd, out.data() + done, out.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Unavailable("mock broker is gone: " + std::string(std::strerror(errno)));
      done += static_cast<std::size_t>(n);
    }
    std::string answer;
    SC_RETURN_IF_ERROR(ReadLine(fd, &pending, &answer, kAnswerTimeout).Prefixed(line));
    if (answer == "OK") return Status::Ok();
    return Internal("mock broker: " + line + ": " + answer);
  }
};

StatusOr<std::unique_ptr<MockBroker>> MockBroker::Start(int brokers) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Internal(std::string("socketpair: ") + std::strerror(errno));
  }
  std::unique_ptr<MockBroker> broker(new MockBroker());
  broker->impl_ = std::make_unique<Impl>();
  Impl& impl = *broker->impl_;
  impl.fd = fds[0];
  StatusOr<pid_t> pid = SpawnWithStdio({SHARDCAST_MOCK_BROKER, "--brokers", std::to_string(brokers)}, fds[1]);
  close(fds[1]);
  if (!pid.ok()) return pid.status();
  impl.pid = *pid;

  std::string line;
  SC_RETURN_IF_ERROR(
      ReadLine(impl.fd, &impl.pending, &line, kAnswerTimeout).Prefixed("starting mock broker"));
  const std::string prefix = "BOOTSTRAP ";
  if (line.rfind(prefix, 0) != 0) return Internal("mock broker printed '" + line + "', not BOOTSTRAP");
  impl.bootstrap = line.substr(prefix.size());
  return broker;
}

MockBroker::~MockBroker() = default;

const std::string& MockBroker::bootstrap() const {
  return impl_->bootstrap;
}

Status MockBroker::SetDown(int broker_id) {
  return impl_->Command("down " + std::to_string(broker_id));
}
Status MockBroker::SetUp(int broker_id) {
  return impl_->Command("up " + std::to_string(broker_id));
}

Status MockBroker::CreateTopic(const std::string& topic, int partitions) {
  if (topic.empty() || topic.find_first_of(" \t\r\n") != std::string::npos) {
    return InvalidArgument("bad topic name '" + topic + "'");
  }
  return impl_->Command("topic " + topic + " " + std::to_string(partitions));
}

}  // namespace shardcast::testing
