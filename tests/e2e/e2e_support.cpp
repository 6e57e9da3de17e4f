#include "tests/e2e/e2e_support.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sharding/ring.h"
#include "sharding/shard_key.h"

namespace shardcast::testing {

namespace {
using namespace std::chrono_literals;

template <typename T>
T Must(StatusOr<T> v, const std::string& what) {
  if (!v.ok()) {
    ADD_FAILURE() << what << ": " << v.status().ToString();
    throw std::runtime_error(what);
  }
  return std::move(v).value();
}

void MustOk(const Status& s, const std::string& what) {
  if (!s.ok()) {
    ADD_FAILURE() << what << ": " << s.ToString();
    throw std::runtime_error(what);
  }
}
std::string Show(const Row& row) {
  std::string out = "(";
  for (const auto& v : row) out += (out.size() > 1 ? ", " : "") + (v ? *v : std::string("NULL"));
  return out + ")";
}

std::string FirstDifference(const std::vector<Row>& got, const std::vector<Row>& want) {
  for (std::size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    if (i >= got.size()) return "; missing " + Show(want[i]);
    if (i >= want.size()) return "; extra " + Show(got[i]);
    if (got[i] != want[i]) return "; shard has " + Show(got[i]) + ", source " + Show(want[i]);
  }
  return "";
}
}  // namespace

std::vector<Row> QueryRows(PgServer& server, const std::string& db, const std::string& sql) {
  return Must(server.Query(db, kPinned + sql), "query " + sql);
}

void E2EEnv::Start(int shards, const std::string& ddl, const std::string& source_only_sql) {
  Start(shards, ddl, source_only_sql, Options{});
}

void E2EEnv::Start(int shards, const std::string& ddl, const std::string& source_only_sql,
                   const Options& options) {
  char tmpl[] = "/tmp/shardcast-e2e-XXXXXX";
  dir_ = mkdtemp(tmpl);
  shard_count_ = shards;
  source_ = Must(PgServer::Start(options.source), "starting the source");
  shards_ = Must(PgServer::Start(), "starting the shard server");
  broker_ = Must(MockBroker::Start(), "starting the broker");
  admin_port_ = Must(FreeLoopbackPort(), "finding a port for the admin API");
  metrics_port_ = Must(FreeLoopbackPort(), "finding a port for metrics");
  MustOk(source_->CreateDatabase("app"), "create app");
  MustOk(source_->Exec("app", ddl + source_only_sql), "source DDL");
  for (int i : options.own_server) {
    own_servers_[i] = Must(PgServer::Start(), "starting the server of shard" + std::to_string(i));
  }
  for (int i = 0; i < shards; ++i) {
    const std::string db = "shard" + std::to_string(i);
    MustOk(shard_server(i).CreateDatabase(db), "create " + db);
    MustOk(shard_server(i).Exec(db, ddl), "shard DDL");
  }
}

PgServer& E2EEnv::shard_server(int i) {
  auto it = own_servers_.find(i);
  return it == own_servers_.end() ? *shards_ : *it->second;
}

const PgServer& E2EEnv::shard_server(int i) const {
  auto it = own_servers_.find(i);
  return it == own_servers_.end() ? *shards_ : *it->second;
}

E2EEnv::~E2EEnv() {
  if (daemon_) {
    daemon_->Kill9();
    if (::testing::Test::HasFailure())
      std::fprintf(stderr, "---- shardcast log ----\n%s\n", daemon_->Log().c_str());
  }
  // SHARDCAST_E2E_KEEP=1 keeps the directory (config, logs, checkpoint) of a passing test too.
  const bool keep = std::getenv("SHARDCAST_E2E_KEEP") != nullptr;
  if (keep || ::testing::Test::HasFailure()) std::fprintf(stderr, "e2e directory kept: %s\n", dir_.c_str());
  if (!dir_.empty() && !keep && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
}

std::string E2EEnv::WriteConfig(const std::vector<TableUnderTest>& tables,
                                const std::string& extra_yaml) const {
  std::string y;
  const std::string source_dsn = source_dsn_.empty() ? source_->Dsn("app") : source_dsn_;
  y += "source:\n  dsn: \"" + source_dsn + "\"\n  heartbeat_interval: 1s\n";
  y += "tables:\n";
  for (const auto& t : tables) {
    y += "  - name: " + t.name + "\n";
    if (t.shard_key.empty())
      y += "    mode: reference\n";
    else
      y += "    shard_key: [" + t.shard_key + "]\n";
  }
  y += "shards:\n";
  for (int i = 0; i < shard_count_; ++i)
    y += "  - id: s" + std::to_string(i) + "\n    dsn: \"" +
         shard_server(i).Dsn("shard" + std::to_string(i)) + "\"\n";
  y += "kafka:\n  brokers: \"" + broker_->bootstrap() + "\"\n  prefix: shardcast\n";
  if (!queue_bytes_.empty()) y += "limits: { queue_bytes: " + queue_bytes_ + " }\n";
  y += "checkpoint: { dir: " + dir_ + "/checkpoint }\n";
  y += "log: { level: debug }\n";
  y += "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port_) + "\" }\n";
  y += "metrics: { listen: \"127.0.0.1:" + std::to_string(metrics_port_) + "\" }\n";
  y += extra_yaml;
  const std::string path = dir_ + "/shardcast.yaml";
  std::ofstream(path) << y;
  return path;
}

void E2EEnv::StartDaemon(const std::string& config_path) {
  StartDaemon(config_path, {});
}

void E2EEnv::StartDaemon(const std::string& config_path, const std::vector<std::string>& env) {
  if (daemon_) daemon_->Kill9();
  daemon_ = Must(DaemonProcess::Start({"run", "-c", config_path}, dir_ + "/shardcast.log", env),
                 "starting shardcast");
  ++daemon_runs_;
}

int E2EEnv::StopDaemon() {
  auto code = daemon_->Terminate(90);
  EXPECT_TRUE(code.ok()) << code.status().ToString();
  return code.ok() ? *code : -1;
}

void E2EEnv::WaitForSlot() {
  for (int i = 0; i < 600; ++i) {
    auto rows =
        QueryRows(*source_, "app", "SELECT count(*) FROM pg_replication_slots WHERE slot_name='shardcast'");
    if (rows.at(0).at(0) == "1") return;
    if (!daemon_->Running()) break;
    std::this_thread::sleep_for(100ms);
  }
  FAIL() << "the slot never appeared; log:\n" << daemon_->Log();
}

std::vector<KafkaRecord> E2EEnv::FeedRecords(const std::string& table) {
  auto records = ReadTopic(broker_->bootstrap(), "shardcast." + table, 30s);
  if (!records.ok()) return {};
  std::vector<KafkaRecord> out;
  for (auto& r : *records)
    if (r.value) out.push_back(std::move(r));
  return out;
}

void E2EEnv::WaitCaughtUp(const std::map<std::string, std::size_t>& expected_feed_counts) {
  const std::string target =
      QueryRows(*source_, "app", "SELECT pg_current_wal_insert_lsn()::text").at(0).at(0).value();
  auto deadline = std::chrono::steady_clock::now() + 120s;
  for (int i = 0; i < shard_count_; ++i) {
    const std::string db = "shard" + std::to_string(i);
    const std::string sql = "SELECT count(*) FROM shardcast.progress WHERE destination = 's" +
                            std::to_string(i) + "@default' AND end_lsn >= '" + target + "'::pg_lsn";
    while (true) {
      auto rows = shard_server(i).Query(db, sql);
      if (rows.ok() && rows->at(0).at(0) == "1") break;
      ASSERT_TRUE(daemon_->Running()) << "shardcast exited; log:\n" << daemon_->Log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << db << " never reached " << target << "; log:\n"
                                                            << daemon_->Log();
      std::this_thread::sleep_for(200ms);
    }
  }
  for (const auto& [table, count] : expected_feed_counts) {
    while (FeedRecords(table).size() < count) {
      ASSERT_TRUE(daemon_->Running()) << "shardcast exited; log:\n" << daemon_->Log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "feed of " << table << " has " << FeedRecords(table).size() << " of " << count;
      std::this_thread::sleep_for(500ms);
    }
  }
}

void E2EEnv::ExpectShardsMatchSource(const std::vector<TableUnderTest>& tables) {
  std::vector<ShardDef> defs;
  for (int i = 0; i < shard_count_; ++i) defs.push_back({"s" + std::to_string(i), 1});
  Ring ring = Must(Ring::Build(defs, 1024, 1), "ring");
  for (const auto& t : tables) {
    const std::string select = "SELECT * FROM " + t.name + " ORDER BY " + t.order_by;
    auto src = QueryRows(*source_, "app", select);
    std::vector<std::vector<Row>> expected(shard_count_);
    if (t.shard_key.empty()) {
      for (auto& e : expected) e = src;
    } else {
      // The shard key's text form, as pgoutput sends it, decides the owner.
      auto keys = QueryRows(
          *source_, "app",
          "SELECT " + t.shard_key + "::text AS key_text FROM " + t.name + " ORDER BY " + t.order_by);
      for (std::size_t r = 0; r < src.size(); ++r) {
        std::optional<std::string_view> key;
        if (keys[r][0]) key = *keys[r][0];
        expected[ring.OwnerOf(HashShardKey({key}))].push_back(src[r]);
      }
    }
    for (int i = 0; i < shard_count_; ++i) {
      auto got = QueryRows(shard_server(i), "shard" + std::to_string(i), select);
      EXPECT_EQ(got.size(), expected[i].size()) << t.name << " on s" << i;
      EXPECT_TRUE(got == expected[i])
          << t.name << " on s" << i << " differs from the source rows the ring assigns it"
          << FirstDifference(got, expected[i]);
    }
  }
}

}  // namespace shardcast::testing
