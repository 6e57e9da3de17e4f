// librdkafka's transactional API calls as Statuses (DESIGN.md "Delivery",
// exactly-once). Every call returns an rd_kafka_error_t that is retriable
// (call again), abortable (abort the transaction; the pipeline replays from
// the slot) or fatal (this producer is finished: usually another producer
// with the same transactional id fenced it).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_error_s rd_kafka_error_t;

namespace shardcast {

struct TxnCallResult {
  Status status;
  bool requires_abort = false;  // the open transaction must be aborted
};

// Runs call (which owns nothing; the error it returns is destroyed here),
// again while it fails retriably and deadline has not passed. A fatal error
// is kFailedPrecondition (see FatalProducerError); anything else kUnavailable.
TxnCallResult RunTxnCall(rd_kafka_t* rk, const std::string& transactional_id, const char* what,
                         const std::function<rd_kafka_error_t*(int timeout_ms)>& call,
                         std::chrono::steady_clock::time_point deadline);

// The producer's fatal error as a non-retryable Status (ok when there is
// none). Fencing reads "another producer with transactional id X took over".
Status FatalProducerError(rd_kafka_t* rk, const std::string& transactional_id);

}  // namespace shardcast
