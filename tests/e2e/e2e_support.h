// Shared pieces of the end-to-end tests: the servers, a config for them, the
// daemon, and exact comparisons of the source with the shards and the feed.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/harness/daemon_process.h"
#include "tests/harness/kafka_reader.h"
#include "tests/harness/mock_broker.h"
#include "tests/harness/pg_server.h"

namespace shardcast::testing {

// Settings every comparison query pins, so text forms match pgoutput's.
inline constexpr const char* kPinned =
    "SET DateStyle=ISO; SET TimeZone='UTC'; SET extra_float_digits=3; SET bytea_output=hex; "
    "SET IntervalStyle=postgres; ";

struct TableUnderTest {
  std::string name;       // "public.orders"
  std::string order_by;   // "id"
  std::string shard_key;  // a column, or "" for a reference table
  std::string pk;         // the primary-key column (single-column keys in these tests)
};

class E2EEnv {
 public:
  struct Options {
    // Shards whose database (shardI) lives on a server of its own, so a test
    // can stop it; the others share shards().
    std::set<int> own_server;
    // How the source server starts (e.g. requiring TLS).
    PgServer::Options source;
  };
  // Starts a source (database app), a shard server with shard0..shardN-1, and the broker.
  void Start(int shards, const std::string& ddl, const std::string& source_only_sql);
  void Start(int shards, const std::string& ddl, const std::string& source_only_sql, const Options& options);
  std::string WriteConfig(const std::vector<TableUnderTest>& tables,
                          const std::string& extra_yaml = "") const;
  void StartDaemon(const std::string& config_path);
  // With extra environment variables ("NAME=value") for this run only.
  void StartDaemon(const std::string& config_path, const std::vector<std::string>& env);
  int StopDaemon();  // SIGTERM; returns the exit code
  void WaitForSlot();
  // Waits until every shard's progress and the feed reach the source's current WAL position.
  void WaitCaughtUp(const std::map<std::string, std::size_t>& expected_feed_counts);
  void ExpectShardsMatchSource(const std::vector<TableUnderTest>& tables);
  // Non-tombstone records of a table's topic.
  std::vector<KafkaRecord> FeedRecords(const std::string& table);

  PgServer& source() { return *source_; }
  PgServer& shards() { return *shards_; }
  // The server that holds shard i's database ("shard" + i).
  PgServer& shard_server(int i);
  const PgServer& shard_server(int i) const;
  // limits.queue_bytes WriteConfig writes ("8MiB" unless set); "" writes none (the default).
  void set_queue_bytes(const std::string& value) { queue_bytes_ = value; }
  // source.dsn WriteConfig writes (source().Dsn("app") unless set).
  void set_source_dsn(const std::string& dsn) { source_dsn_ = dsn; }
  MockBroker& broker() { return *broker_; }
  const std::string& dir() const { return dir_; }
  DaemonProcess* daemon() { return daemon_.get(); }
  int shard_count() const { return shard_count_; }
  int admin_port() const { return admin_port_; }
  int metrics_port() const { return metrics_port_; }

  ~E2EEnv();

 private:
  std::unique_ptr<PgServer> source_;
  std::unique_ptr<PgServer> shards_;
  std::map<int, std::unique_ptr<PgServer>> own_servers_;
  std::string queue_bytes_ = "8MiB";
  std::string source_dsn_;
  std::unique_ptr<MockBroker> broker_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::string dir_;
  int shard_count_ = 0;
  int admin_port_ = 0;
  int metrics_port_ = 0;
  int daemon_runs_ = 0;
};

// Rows of a query as text, with the pinned settings.
std::vector<Row> QueryRows(PgServer& server, const std::string& db, const std::string& sql);

}  // namespace shardcast::testing
