// Which SIGHUP reloads the daemon applies live by restarting its stream
// session: tables added and nothing else that needs a restart.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/signals.h"

namespace shardcast {
namespace {

const char* kBase = R"(source: { dsn: "host=127.0.0.1 dbname=app" }
tables:
  - name: public.a
  - name: public.c
    shard_key: [k]
shards:
  - id: s0
    dsn: "host=127.0.0.1 dbname=s0"
log: { level: debug }
)";

Config Parse(const std::string& text) {
  auto c = ParseConfig(text, "test");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : Config{};
}

std::string With(const std::string& from, const std::string& to) {
  return std::regex_replace(std::string(kBase), std::regex(from), to);
}

const std::string kAddB = "  - name: public.a\n  - name: b\n    mode: reference\n";

TEST(ReloadClassification, OnlyAddedTablesApplyLive) {
  const Config a = Parse(kBase);
  EXPECT_TRUE(LiveAddableTables(a, a).empty()) << "nothing changed";
  EXPECT_TRUE(LiveAddableTables(a, Parse(With("level: debug", "level: warn"))).empty()) << "log.* only";

  // Added, in any position, with a log change beside it: still live.
  EXPECT_EQ(LiveAddableTables(a, Parse(With("  - name: public.a\n", kAddB))),
            (std::vector<std::string>{"public.b"}));
  EXPECT_EQ(LiveAddableTables(a, Parse(std::regex_replace(With("  - name: public.a\n", kAddB),
                                                          std::regex("level: debug"), "level: info"))),
            (std::vector<std::string>{"public.b"}));
  EXPECT_EQ(LiveAddableTables(a, Parse(With("tables:\n", "tables:\n  - name: x.y\n  - name: public.z\n"))),
            (std::vector<std::string>{"x.y", "public.z"}));
}

TEST(ReloadClassification, AnythingElseNeedsARestart) {
  const Config a = Parse(kBase);
  // Removed, changed, or added beside a removal or change.
  EXPECT_TRUE(LiveAddableTables(a, Parse(With("  - name: public.a\n", ""))).empty());
  EXPECT_TRUE(LiveAddableTables(a, Parse(With("shard_key: \\[k\\]", "shard_key: [j]"))).empty());
  EXPECT_TRUE(LiveAddableTables(a, Parse(With("  - name: public.a\n", "  - name: public.b\n"))).empty());
  EXPECT_TRUE(
      LiveAddableTables(a, Parse(std::regex_replace(With("  - name: public.a\n", kAddB),
                                                    std::regex("shard_key: \\[k\\]"), "mode: reference")))
          .empty());
  // Added beside any other restart-only key.
  EXPECT_TRUE(LiveAddableTables(a, Parse(With("  - name: public.a\n", kAddB) + "snapshot: { workers: 3 }\n"))
                  .empty());
  EXPECT_TRUE(LiveAddableTables(a, Parse(std::regex_replace(With("  - name: public.a\n", kAddB),
                                                            std::regex("dbname=s0"), "dbname=s0x")))
                  .empty());
  EXPECT_TRUE(LiveAddableTables(a, Parse(std::regex_replace(With("  - name: public.a\n", kAddB),
                                                            std::regex("dbname=app"), "dbname=app2")))
                  .empty());
}

class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    logger_ =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
    logger_->set_pattern("%l %v");
    logger_->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger_);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string Take() {
    std::string s = out_.str();
    out_.str("");
    return s;
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(ReloadClassification, ReloadConfigHandsOverAddedTables) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("sc-reload-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/shardcast.yaml";
  std::ofstream(path) << kBase;
  auto running = LoadConfigFile(path);
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  CapturedLog log;

  std::ofstream(path) << With("  - name: public.a\n", kAddB);
  auto next = ReloadConfig(&*running);
  ASSERT_TRUE(next.has_value()) << log.Take();
  EXPECT_EQ(next->tables.size(), 3u);
  EXPECT_EQ(running->tables.size(), 3u) << "the running tables follow, so the same file twice is no change";
  EXPECT_EQ(log.Take(),
            "info reload: table(s) public.b added; restarting the stream session to include them\n");
  EXPECT_FALSE(ReloadConfig(&*running).has_value());
  EXPECT_NE(log.Take().find("info reload: "), std::string::npos);

  // Removing one warns and hands nothing over; the running tables stay.
  std::ofstream(path) << With("  - name: public.a\n", "");
  EXPECT_FALSE(ReloadConfig(&*running).has_value());
  EXPECT_EQ(log.Take(),
            "warning reload: changed settings that cannot be applied live: tables (removed public.a, "
            "public.b); a restart applies them\n");
  EXPECT_EQ(running->tables.size(), 3u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shardcast
