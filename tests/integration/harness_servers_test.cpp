// The harness itself against real servers: a throwaway PostgreSQL and the
// mock Kafka broker program, with a plain librdkafka producer.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <filesystem>
#include <memory>

#include "tests/harness/kafka_reader.h"
#include "tests/harness/mock_broker.h"
#include "tests/harness/pg_server.h"

namespace shardcast::testing {
namespace {

TEST(PgServerTest, RunsSqlAndKeepsDataAcrossRestart) {
  auto server = PgServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  PgServer& pg = **server;
  EXPECT_GT(pg.port(), 0);

  auto wal = pg.Query("postgres", "SHOW wal_level");
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  ASSERT_EQ(wal->size(), 1u);
  EXPECT_EQ((*wal)[0][0], "logical");
  auto prepared = pg.Query("postgres", "SHOW max_prepared_transactions");
  ASSERT_TRUE(prepared.ok());
  EXPECT_EQ((*prepared)[0][0], "20");

  ASSERT_TRUE(pg.CreateDatabase("app").ok());
  ASSERT_TRUE(pg.Exec("app",
                      "CREATE TABLE t (id int PRIMARY KEY, v text); "
                      "INSERT INTO t VALUES (1, 'a'), (2, NULL);")
                  .ok());
  auto rows = pg.Query("app", "SELECT id, v FROM t ORDER BY id");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0], (Row{"1", "a"}));
  EXPECT_EQ((*rows)[1], (Row{"2", std::nullopt}));

  Status bad = pg.Exec("app", "SELECT * FROM missing_table");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("missing_table"), std::string::npos) << bad.message();

  int port = pg.port();
  ASSERT_TRUE(pg.Stop().ok());
  EXPECT_FALSE(pg.Query("app", "SELECT 1").ok());
  Status restarted = pg.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  EXPECT_EQ(pg.port(), port);
  auto after = pg.Query("app", "SELECT count(*) FROM t");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*after)[0][0], "2");
}

TEST(PgServerTest, ExtraConfAndCleanup) {
  std::string dir;
  {
    auto server = PgServer::Start({.extra_conf = {"application_name = 'harness_probe'"}});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    dir = (*server)->data_dir();
    auto name = (*server)->Query("postgres", "SHOW application_name");
    ASSERT_TRUE(name.ok());
    // libpq may override application_name; the setting's boot value shows the conf line took.
    auto boot =
        (*server)->Query("postgres", "SELECT reset_val FROM pg_settings WHERE name = 'application_name'");
    ASSERT_TRUE(boot.ok());
    EXPECT_EQ((*boot)[0][0], "harness_probe");
    EXPECT_TRUE(std::filesystem::exists(dir));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

struct ProducerDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};

std::unique_ptr<rd_kafka_t, ProducerDeleter> NewProducer(const std::string& bootstrap) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
  return std::unique_ptr<rd_kafka_t, ProducerDeleter>(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
}

rd_kafka_resp_err_t Produce(rd_kafka_t* rk, const std::string& topic, int partition, const std::string& key,
                            const std::string& value, const std::string& header) {
  return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                           RD_KAFKA_V_KEY(key.data(), key.size()),
                           RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                           RD_KAFKA_V_HEADER("pos", header.data(), header.size()), RD_KAFKA_V_END);
}

TEST(MockBrokerTest, ProduceAndReadBack) {
  auto broker = MockBroker::Start(3);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  EXPECT_NE(mb.bootstrap().find("127.0.0.1:"), std::string::npos) << mb.bootstrap();
  ASSERT_TRUE(mb.CreateTopic("orders", 2).ok());
  EXPECT_FALSE(mb.CreateTopic("bad name", 1).ok());

  auto producer = NewProducer(mb.bootstrap());
  ASSERT_TRUE(producer);
  ASSERT_EQ(Produce(producer.get(), "orders", 0, "k1", "v1", "h1"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(Produce(producer.get(), "orders", 1, "k2", "v2", "h2"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(Produce(producer.get(), "orders", 0, "k3", "v3", "h3"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

  auto records = ReadTopic(mb.bootstrap(), "orders");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 3u);
  EXPECT_EQ((*records)[0].partition, 0);
  EXPECT_EQ((*records)[0].offset, 0);
  EXPECT_EQ((*records)[0].key, "k1");
  EXPECT_EQ((*records)[1].key, "k3");
  EXPECT_EQ((*records)[1].offset, 1);
  EXPECT_EQ((*records)[2].partition, 1);
  EXPECT_EQ((*records)[2].value, "v2");
  EXPECT_EQ((*records)[2].headers.at("pos"), "h2");

  auto topics = ListTopics(mb.bootstrap());
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  EXPECT_NE(std::find(topics->begin(), topics->end(), "orders"), topics->end());

  auto missing = ReadTopic(mb.bootstrap(), "no_such_topic", std::chrono::seconds(10));
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
}

// Commit markers take offsets that are never delivered; the reader must still
// see the end of the partition. read_uncommitted includes aborted records.
TEST(MockBrokerTest, ReadsPastTransactionMarkers) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  ASSERT_TRUE((*broker)->CreateTopic("tx", 1).ok());
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", (*broker)->bootstrap().c_str(), errstr, sizeof(errstr));
  ASSERT_EQ(rd_kafka_conf_set(conf, "transactional.id", "harness-tx", errstr, sizeof(errstr)),
            RD_KAFKA_CONF_OK);
  std::unique_ptr<rd_kafka_t, ProducerDeleter> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)));
  ASSERT_TRUE(rk) << errstr;
  auto ok = [](rd_kafka_error_t* e) {
    std::string msg = e ? rd_kafka_error_string(e) : "";
    if (e) rd_kafka_error_destroy(e);
    return msg;
  };
  ASSERT_EQ(ok(rd_kafka_init_transactions(rk.get(), 30000)), "");
  ASSERT_EQ(ok(rd_kafka_begin_transaction(rk.get())), "");
  ASSERT_EQ(Produce(rk.get(), "tx", 0, "a", "committed", "1"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(ok(rd_kafka_commit_transaction(rk.get(), 30000)), "");
  ASSERT_EQ(ok(rd_kafka_begin_transaction(rk.get())), "");
  ASSERT_EQ(Produce(rk.get(), "tx", 0, "b", "aborted", "2"), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_flush(rk.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(ok(rd_kafka_abort_transaction(rk.get(), 30000)), "");

  auto records = ReadTopic((*broker)->bootstrap(), "tx", std::chrono::seconds(20));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].value, "committed");
  EXPECT_EQ((*records)[1].value, "aborted");
}

TEST(MockBrokerTest, BrokerDownAndUp) {
  auto broker = MockBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  MockBroker& mb = **broker;
  ASSERT_TRUE(mb.CreateTopic("t", 1).ok());
  ASSERT_TRUE(mb.SetDown(1).ok());
  EXPECT_FALSE(ReadTopic(mb.bootstrap(), "t", std::chrono::seconds(3)).ok());
  EXPECT_FALSE(mb.SetDown(99).ok());

  auto producer = NewProducer(mb.bootstrap());
  ASSERT_TRUE(producer);
  ASSERT_EQ(Produce(producer.get(), "t", 0, "k", "while-down", "h"), RD_KAFKA_RESP_ERR_NO_ERROR);
  // Nothing can be delivered while the only broker is down.
  EXPECT_NE(rd_kafka_flush(producer.get(), 2000), RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_TRUE(mb.SetUp(1).ok());
  ASSERT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  auto records = ReadTopic(mb.bootstrap(), "t");
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].value, "while-down");
}

}  // namespace
}  // namespace shardcast::testing
