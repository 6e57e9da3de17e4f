// The Kafka-protocol broker for tests: the shardcast_mock_broker program
// (librdkafka's mock cluster, with transactions) started as a child process
// listening on loopback. Any client, kcat included, connects over TCP.
// The destructor terminates it.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace shardcast::testing {

class MockBroker {
 public:
  static StatusOr<std::unique_ptr<MockBroker>> Start(int brokers = 1);
  ~MockBroker();

  // "127.0.0.1:PORT,..." for bootstrap.servers.
  const std::string& bootstrap() const;
  // Takes a broker (1-based id) down or up; the mock keeps its data.
  Status SetDown(int broker_id);
  Status SetUp(int broker_id);
  // Creates a topic with the given partitions (replication factor 1).
  Status CreateTopic(const std::string& topic, int partitions);

 private:
  MockBroker() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardcast::testing
