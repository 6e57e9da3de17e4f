// shardcast_mock_broker: librdkafka's mock cluster (Kafka protocol on
// loopback, transactions included) as a process, for tests and the demo.
//
//   shardcast_mock_broker [--brokers N] [--partitions P] [--topic NAME[:P]]...
//                         [--port-file PATH]
//
// Prints "BOOTSTRAP host:port,..." on stdout, then answers commands read from
// stdin, one a line, with "OK" or "ERR <message>":
//   down <id> | up <id> | topic <name> [<partitions>]
// Exits on SIGTERM/SIGINT, or at stdin EOF unless --port-file was given (the
// file receives the bootstrap string, written atomically).
// Topics the clients auto-create get the mock's default partition count;
// --partitions is the default for "topic <name>" and --topic.
//
// The harness library's glob (harness/*.cpp) also compiles this file, and its
// main() would replace gtest_main in every test. SHARDCAST_MOCK_BROKER is
// defined only for the harness library, so there the file is empty.
#ifndef SHARDCAST_MOCK_BROKER
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int) {
  // Only async-signal-safe work here; the main loop shuts down.
  char c = 's';
  ssize_t n = write(g_signal_pipe[1], &c, 1);
  (void)n;
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct MockDeleter {
  void operator()(rd_kafka_mock_cluster_t* mc) const { rd_kafka_mock_cluster_destroy(mc); }
};

struct Args {
  int brokers = 1;
  int partitions = 1;
  std::string port_file;
  std::vector<std::string> topics;  // NAME[:P]
};

bool ParseInt(const char* text, int* out) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0 || v > 1000000) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--brokers" && has_value) {
      if (!ParseInt(argv[++i], &args->brokers)) return false;
    } else if (a == "--partitions" && has_value) {
      if (!ParseInt(argv[++i], &args->partitions)) return false;
    } else if (a == "--port-file" && has_value) {
      args->port_file = argv[++i];
    } else if (a == "--topic" && has_value) {
      args->topics.push_back(argv[++i]);
    } else {
      return false;
    }
  }
  return true;
}

std::string CreateTopic(rd_kafka_mock_cluster_t* mc, const std::string& name, int partitions) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string("ERR ") + rd_kafka_err2str(err);
  return "OK";
}

// One command line -> its answer.
std::string Handle(rd_kafka_mock_cluster_t* mc, const Args& args, const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  if (cmd == "down" || cmd == "up") {
    int id = 0;
    if (!(in >> id)) return "ERR usage: " + cmd + " <broker id>";
    rd_kafka_resp_err_t err =
        cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id) : rd_kafka_mock_broker_set_up(mc, id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::string("ERR ") + rd_kafka_err2str(err);
    return "OK";
  }
  if (cmd == "topic") {
    std::string name;
    int partitions = args.partitions;
    if (!(in >> name)) return "ERR usage: topic <name> [<partitions>]";
    std::string p;
    if (in >> p && !ParseInt(p.c_str(), &partitions)) return "ERR bad partition count " + p;
    return CreateTopic(mc, name, partitions);
  }
  return "ERR unknown command '" + cmd + "' (down <id> | up <id> | topic <name> [<partitions>])";
}

bool WritePortFile(const std::string& path, const std::string& bootstrap) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  bool ok = std::fprintf(f, "%s\n", bootstrap.c_str()) > 0;
  ok = (std::fclose(f) == 0) && ok;
  return ok && std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: %s [--brokers N] [--partitions P] [--topic NAME[:P]]... [--port-file PATH]\n",
                 argv[0]);
    return 64;
  }
  if (pipe(g_signal_pipe) != 0) return 71;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  // The handle only owns the cluster; it never connects anywhere.
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
  if (!rk) {
    std::fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 70;
  }
  std::unique_ptr<rd_kafka_mock_cluster_t, MockDeleter> mc(rd_kafka_mock_cluster_new(rk.get(), args.brokers));
  if (!mc) {
    std::fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 70;
  }
  for (const auto& spec : args.topics) {
    std::string name = spec;
    int partitions = args.partitions;
    if (auto colon = spec.rfind(':'); colon != std::string::npos) {
      name = spec.substr(0, colon);
      if (!ParseInt(spec.c_str() + colon + 1, &partitions)) {
        std::fprintf(stderr, "bad --topic %s\n", spec.c_str());
        return 64;
      }
    }
    std::string r = CreateTopic(mc.get(), name, partitions);
    if (r != "OK") {
      std::fprintf(stderr, "--topic %s: %s\n", spec.c_str(), r.c_str());
      return 70;
    }
  }

  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc.get());
  if (!args.port_file.empty() && !WritePortFile(args.port_file, bootstrap)) {
    std::fprintf(stderr, "cannot write %s: %s\n", args.port_file.c_str(), std::strerror(errno));
    return 73;
  }
  std::printf("BOOTSTRAP %s\n", bootstrap.c_str());
  std::fflush(stdout);

  bool stdin_open = true;
  std::string pending;
  while (true) {
    pollfd fds[2] = {{g_signal_pipe[0], POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) break;
    if (fds[1].revents == 0) continue;
    char buf[4096];
    ssize_t n = read(0, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      stdin_open = false;
      if (args.port_file.empty()) break;
      continue;
    }
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      std::string answer = Handle(mc.get(), args, line);
      std::printf("%s\n", answer.c_str());
      std::fflush(stdout);
    }
  }
  mc.reset();
  rk.reset();
  return 0;
}
#endif  // SHARDCAST_MOCK_BROKER
