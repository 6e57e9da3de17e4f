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
#include "cdc/spill_file.h"
#include "common/status.h"

namespace shardcast {

// A non-transactional or transactional logical message ('M').
struct LogicalMessage {
  bool transactional = false;
  Lsn lsn = 0;
  std::string prefix;
  std::string content;
};

// How large transactions are kept off the heap (see cdc/spill_file.h).
struct DecoderOptions {
  std::string spill_dir;                // empty: never spill (tests, tools)
  std::size_t spill_bytes = 16u << 20;  // a transaction whose changes pass this goes to disk
  std::size_t piece_bytes = 4u << 20;   // pieces read back from disk are about this large
};

class Decoder {
 public:
  Decoder() = default;
  explicit Decoder(DecoderOptions options) : options_(std::move(options)) {}
  // Copies are state snapshots for tests and fuzzing. A spill file cannot be
  // shared: a copy taken while a transaction is on disk is outside any
  // transaction, as after ResetInFlight (its next change is an error).
  Decoder(const Decoder& other);
  Decoder& operator=(const Decoder& other);
  Decoder(Decoder&&) = default;
  Decoder& operator=(Decoder&&) = default;
  ~Decoder() = default;

  // Result of feeding one message: a committed transaction (on Commit) held
  // whole in committed, or, when it grew past spill_bytes, on disk in
  // spilled (read it piece by piece); a logical message; or nothing yet.
  struct Output {
    std::shared_ptr<Transaction> committed;
    std::unique_ptr<SpilledTransaction> spilled;
    std::optional<LogicalMessage> message;
  };

  // kCorruption for a malformed message (the decoder state is unchanged).
  // kIoError when spilling fails (disk full, spill_dir unwritable): the
  // transaction in progress is dropped, as by ResetInFlight; reconnect so the
  // server resends it.
  StatusOr<Output> Feed(std::string_view message);

  // Forgets any transaction in progress, removing its spill file (after a
  // reconnect the server resends it from its Begin). Relations are kept: they
  // are resent too.
  void ResetInFlight();
  bool in_transaction() const { return in_txn_; }
  bool spilling() const { return spill_ != nullptr; }  // the transaction in progress is on disk
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
  // Numbers a decoded change and keeps it, moving the transaction to disk
  // once it passes spill_bytes.
  Status AddChange(Change ch);
  Status StartSpill();

  DecoderOptions options_;
  std::unique_ptr<SpillWriter> spill_;  // the current transaction's, once it spilled
  std::map<std::uint32_t, std::shared_ptr<const Relation>> relations_;
  std::map<std::uint32_t, std::string> type_names_;  // from Type messages
  std::shared_ptr<Transaction> current_;
  std::uint32_t next_ordinal_ = 0;  // changes.size() stops counting once they are on disk
  bool in_txn_ = false;
  Lsn last_end_lsn_ = 0;
};

// Postgres epoch (2000-01-01) microseconds -> Unix epoch microseconds.
inline std::int64_t PgTimeToUnixMicros(std::int64_t pg_us) {
  return pg_us + 946684800000000LL;
}

}  // namespace shardcast
