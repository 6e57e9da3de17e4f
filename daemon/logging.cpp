#include "daemon/logging.h"

#include <pthread.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <nlohmann/json.hpp>

namespace shardcast {
namespace {

thread_local std::string t_thread_name;

constexpr std::array<std::string_view, 7> kLevelNames = {"trace", "debug",    "info", "warn",
                                                         "error", "critical", "off"};

std::string_view LevelName(spdlog::level::level_enum level) {
  auto i = static_cast<std::size_t>(level);
  return i < kLevelNames.size() ? kLevelNames[i] : "unknown";
}

// 2026-01-02T03:04:05.678Z
void AppendUtcTime(std::chrono::system_clock::time_point t, spdlog::memory_buf_t& dest) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms % 1000 < 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  int milli = static_cast<int>(((ms % 1000) + 1000) % 1000);
  n += static_cast<std::size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03dZ", milli));
  dest.append(buf, buf + n);
}

void AppendJsonString(std::string_view s, spdlog::memory_buf_t& dest) {
  // nlohmann escapes quotes and control characters and replaces invalid UTF-8,
  // so a line is always valid JSON whatever a message holds.
  std::string quoted =
      nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(quoted.data(), quoted.data() + quoted.size());
}

class ThreadNameFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string name = CurrentThreadName();
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<ThreadNameFlag>(); }
};

class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view name = LevelName(msg.level);
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<LevelFlag>(); }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    static constexpr std::string_view kTs = "{\"ts\":\"", kLevel = "\",\"level\":\"",
                                      kThread = "\",\"thread\":", kMsg = ",\"msg\":", kEnd = "}\n";
    dest.append(kTs.data(), kTs.data() + kTs.size());
    AppendUtcTime(msg.time, dest);
    dest.append(kLevel.data(), kLevel.data() + kLevel.size());
    std::string_view level = LevelName(msg.level);
    dest.append(level.data(), level.data() + level.size());
    dest.append(kThread.data(), kThread.data() + kThread.size());
    AppendJsonString(CurrentThreadName(), dest);
    dest.append(kMsg.data(), kMsg.data() + kMsg.size());
    AppendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), dest);
    dest.append(kEnd.data(), kEnd.data() + kEnd.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void SetThreadName(std::string_view name) {
  t_thread_name = std::string(name);
  std::string os_name(name.substr(0, 15));  // the kernel keeps 16 bytes with the NUL
  pthread_setname_np(pthread_self(), os_name.c_str());
}

std::string CurrentThreadName() {
  if (!t_thread_name.empty()) return t_thread_name;
  return std::to_string(static_cast<long>(::syscall(SYS_gettid)));
}

std::unique_ptr<spdlog::formatter> MakeLogFormatter(bool json) {
  if (json) return std::make_unique<JsonFormatter>();
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<ThreadNameFlag>('N').add_flag<LevelFlag>('L').set_pattern(
      "[%Y-%m-%dT%H:%M:%S.%eZ] [%L] [%N] %v");
  return f;
}

Status SetupLogging(const std::string& level, bool json) {
  std::size_t i = 0;
  while (i < kLevelNames.size() && kLevelNames[i] != level) ++i;
  if (i == kLevelNames.size()) {
    return InvalidArgument("log level \"" + level +
                           "\": expected trace, debug, info, warn, error, critical or off");
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("shardcast", std::move(sink));
  logger->set_formatter(MakeLogFormatter(json));
  logger->set_level(static_cast<spdlog::level::level_enum>(i));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace shardcast
