#include "sink/kafka/kafka_transactions.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <memory>
#include <thread>

namespace shardcast {
namespace {

struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};

bool IsFencing(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

Status FatalStatus(rd_kafka_resp_err_t err, const std::string& detail, const std::string& transactional_id) {
  if (IsFencing(err))
    return FailedPrecondition("kafka: another producer with transactional id " + transactional_id +
                              " took over (is a second shardcast running for this slot?): " + detail);
  return FailedPrecondition("kafka: fatal error of the transactional producer " + transactional_id + ": " +
                            detail);
}

}  // namespace

Status FatalProducerError(rd_kafka_t* rk, const std::string& transactional_id) {
  char buf[512];
  const rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, buf, sizeof buf);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  return FatalStatus(err, std::string(rd_kafka_err2name(err)) + ": " + buf, transactional_id);
}

TxnCallResult RunTxnCall(rd_kafka_t* rk, const std::string& transactional_id, const char* what,
                         const std::function<rd_kafka_error_t*(int timeout_ms)>& call,
                         std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    const int timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left, 1, 1 << 30));
    std::unique_ptr<rd_kafka_error_t, ErrorDeleter> error(call(timeout_ms));
    if (!error) return {};
    const std::string detail = std::string(what) + ": " + rd_kafka_error_name(error.get()) + ": " +
                               rd_kafka_error_string(error.get());
    if (rd_kafka_error_is_fatal(error.get())) {
      Status fatal = FatalProducerError(rk, transactional_id);
      if (fatal.ok()) fatal = FatalStatus(rd_kafka_error_code(error.get()), detail, transactional_id);
      return {fatal, false};
    }
    if (rd_kafka_error_txn_requires_abort(error.get()))
      return {Unavailable("kafka: " + detail + " (transaction aborted; replaying from the slot)"), true};
    if (rd_kafka_error_is_retriable(error.get()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    // Retriable but out of time, or a state error: the transaction cannot
    // be trusted any more.
    return {Unavailable("kafka: " + detail), true};
  }
}

}  // namespace shardcast
