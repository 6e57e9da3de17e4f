// Decodes pgoutput protocol-1 messages (the payload of each XLogData) and
// assembles them into committed transactions. Every read goes through a
// bounds-checked cursor; malformed input yields kCorruption naming the
// message type and the byte offset, never a crash or a silent skip.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cdc/change.h"
#include "common/status.h"

namespace shardcast {

// A non-transactional or transactional logical message ('M').
struct LogicalMessage {
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string content;
};

class Decoder {
 public:
  // Result of feeding one message: a committed transaction (on Commit), a
  // logical message, or nothing yet.
  struct Output {
    std::shared_ptr<Transaction> committed;
    std::optional<LogicalMessage> message;
  };

  StatusOr<Output> Feed(std::string_view message);

  // Forgets any transaction in progress (after a reconnect the server
  // resends it from its Begin). Relations are kept: they are resent too.
  void ResetInFlight();
  bool in_transaction() const { return in_txn_; }
  Lsn last_end_lsn() const { return last_end_lsn_; }

  const std::map<std::uint32_t, std::shared_ptr<const Relation>>& relations() const { return relations_; }

 private:
  Status OnBegin(std::string_view msg);
  Status OnCommit(std::string_view msg, Output& out);
  Status OnRelation(std::string_view msg);
  Status OnType(std::string_view msg);
  Status OnOrigin(std::string_view msg);
  Status OnRowChange(char type, std::string_view msg);
  Status OnTruncate(std::string_view msg);
  Status OnMessage(std::string_view msg, Output& out);

  std::map<std::uint32_t, std::shared_ptr<const Relation>> relations_;
  std::map<std::uint32_t, std::string> type_names_;  // from Type messages
  std::shared_ptr<Transaction> current_;
  bool in_txn_ = false;
  Lsn last_end_lsn_ = 0;
};

// Postgres epoch (2000-01-01) microseconds -> Unix epoch microseconds.
inline std::int64_t PgTimeToUnixMicros(std::int64_t pg_us) { return pg_us + 946684800000000LL; }

}  // namespace shardcast
