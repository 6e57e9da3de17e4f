#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "daemon/logging.h"

namespace shardcast {
namespace {

std::string Format(bool json, spdlog::level::level_enum level, std::string_view text) {
  auto f = MakeLogFormatter(json);
  spdlog::details::log_msg msg(spdlog::source_loc{}, "shardcast", level,
                               spdlog::string_view_t(text.data(), text.size()));
  msg.time = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(1767323045678));  // 2026-01-02T03:04:05.678Z
  spdlog::memory_buf_t buf;
  f->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

TEST(LoggingTest, TextFormat) {
  std::thread([] {
    SetThreadName("reader");
    EXPECT_EQ(Format(false, spdlog::level::info, "started"),
              "[2026-01-02T03:04:05.678Z] [info] [reader] started\n");
    EXPECT_EQ(Format(false, spdlog::level::warn, "w"), "[2026-01-02T03:04:05.678Z] [warn] [reader] w\n");
  }).join();
}

TEST(LoggingTest, UnnamedThreadShowsItsId) {
  std::thread([] {
    std::string line = Format(false, spdlog::level::err, "e");
    EXPECT_TRUE(
        std::regex_match(line, std::regex(R"(\[2026-01-02T03:04:05\.678Z\] \[error\] \[[0-9]+\] e\n)")))
        << line;
  }).join();
}

TEST(LoggingTest, JsonFormatEscapes) {
  std::thread([] {
    SetThreadName("apply \"s0\"");
    std::string msg = "quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xc3\xa9 bad \xff end";
    std::string line = Format(true, spdlog::level::critical, msg);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line";
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.size(), 4u);
    EXPECT_EQ(j.at("ts"), "2026-01-02T03:04:05.678Z");
    EXPECT_EQ(j.at("level"), "critical");
    EXPECT_EQ(j.at("thread"), "apply \"s0\"");
    EXPECT_EQ(j.at("msg"),
              "quote \" backslash \\ newline \n tab \t ctrl \x01 utf8 \xc3\xa9 bad \xef\xbf\xbd end");
    EXPECT_EQ(line.rfind("{\"ts\":", 0), 0u) << line;  // field order: ts, level, thread, msg
  }).join();
}

TEST(LoggingTest, SetupLoggingLevels) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    ASSERT_TRUE(SetupLogging(level, false).ok()) << level;
  }
  ASSERT_TRUE(SetupLogging("warn", true).ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_FALSE(spdlog::default_logger()->should_log(spdlog::level::info));
  Status bad = SetupLogging("verbose", false);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "log level \"verbose\": expected trace, debug, info, warn, error, critical or off");
}

TEST(LoggingTest, SetupLoggingWritesToStderr) {
  ASSERT_TRUE(SetupLogging("info", true).ok());
  testing::internal::CaptureStderr();
  SetThreadName("main");
  spdlog::info("hello {}", 42);
  spdlog::debug("hidden");
  std::string err = testing::internal::GetCapturedStderr();
  auto j = nlohmann::json::parse(err);
  EXPECT_EQ(j.at("msg"), "hello 42");
  EXPECT_EQ(j.at("thread"), "main");
  EXPECT_EQ(j.at("level"), "info");
}

}  // namespace
}  // namespace shardcast
