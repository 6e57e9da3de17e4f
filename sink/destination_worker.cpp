#include "sink/destination_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/thread_util.h"

namespace shardcast {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

// Errors a later attempt may not hit: a server that is down or a connection
// that broke (pq's ResultError and the Kafka sink say kUnavailable for those).
bool Retryable(const Status& s) {
  return s.code() == Code::kUnavailable;
}

}  // namespace

DestinationWorker::DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options)
    : sink_(std::move(sink)),
      id_(sink_->id()),
      options_(options),
      queue_(options.queue_bytes),
      skip_through_(progress),
      queued_lsn_(progress) {}

DestinationWorker::DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options,
                                     Status open_failure)
    : DestinationWorker(std::move(sink), progress, options) {
  start_down_ = true;
  start_failure_ = std::move(open_failure);
  state_.store(State::kDown);
}

DestinationWorker::~DestinationWorker() {
  Stop(false);
}

Status DestinationWorker::Start() {
  SC_ASSIGN_OR_RETURN(thread_, StartThread("apply " + id_, [this] { Run(); }));
  return Status::Ok();
}

bool DestinationWorker::Push(const std::shared_ptr<const RoutedTransaction>& txn, milliseconds timeout) {
  if (state_.load() != State::kRunning) return true;  // replay brings it back
  if (!queue_.PushFor(txn, txn->approx_bytes, timeout)) return state_.load() != State::kRunning;
  if (txn->txn->last_piece) queued_lsn_.store(txn->txn->end_lsn);
  return true;
}

void DestinationWorker::RequestStop(bool drain) {
  if (stopping_.exchange(true)) return;
  drain_.store(drain);
  queue_.Close();
}

void DestinationWorker::Stop(bool drain) {
  RequestStop(drain);
  if (thread_.joinable()) thread_.join();
  if (sink_) sink_->Close();
}

Lsn DestinationWorker::durable_lsn() const {
  // A destination that was skipping replayed transactions is durable through
  // its starting progress even before its sink reports anything.
  return std::max(sink_->durable_lsn(), skip_through_.load());
}

Status DestinationWorker::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void DestinationWorker::SetFailure(Status status, State state) {
  {
    std::lock_guard lock(mu_);
    failure_ = std::move(status);
  }
  state_.store(state);
}

Status DestinationWorker::ApplyBatch(TxnBatch& batch) {
  const Lsn skip = skip_through_.load();
  std::erase_if(batch, [skip](const auto& t) { return t->txn->end_lsn <= skip; });
  if (batch.empty()) return Status::Ok();
  return sink_->Apply(batch);
}

Status DestinationWorker::ApplyLoop() {
  Status status;
  while (status.ok()) {
    TxnBatch batch = queue_.PopBatch(options_.max_batch_txns, milliseconds(100), options_.queue_bytes / 4);
    if (!batch.empty()) {
      if (stopping_.load() && !drain_.load()) return Status::Ok();
      status = ApplyBatch(batch);
      if (!status.ok()) return status;
    } else if (stopping_.load()) {
      break;  // closed and drained
    }
    status = sink_->Poll(milliseconds(0));
  }
  if (status.ok() && drain_.load()) {
    // Wait (bounded) for what was handed over to become durable.
    const Lsn target = queued_lsn_.load();
    // A half-applied large transaction cannot become durable: replay covers it.
    for (int i = 0; i < 300 && status.ok() && durable_lsn() < target && !sink_->open_transaction(); ++i)
      status = sink_->Poll(milliseconds(100));
  }
  return status;
}

bool DestinationWorker::SleepUnlessStopping(milliseconds d) {
  for (auto slept = milliseconds(0); slept < d; slept += milliseconds(50)) {
    if (stopping_.load()) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return !stopping_.load();
}

void DestinationWorker::Reopen() {
  const auto down_since = Clock::now();
  milliseconds backoff = options_.min_backoff;
  while (SleepUnlessStopping(backoff)) {
    queue_.Clear();
    sink_->Close();
    auto marker = sink_->Open();
    if (marker.ok()) {
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - down_since).count();
      spdlog::info("destination {} is reachable again after {} s: replaying from the slot", id_, secs);
      SetFailure(Status::Ok(), State::kRecovered);
      return;
    }
    if (!Retryable(marker.status())) {
      spdlog::error("destination {} stopped: {}", id_, marker.status().ToString());
      SetFailure(marker.status().Prefixed("destination " + id_), State::kStopped);
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void DestinationWorker::Run() {
  Status status = start_down_ ? start_failure_ : ApplyLoop();
  if (status.ok() || stopping_.load()) return;
  if (!Retryable(status)) {
    // Needs a person: the others go on; the slot keeps this destination's
    // position, so nothing is lost while it is stopped.
    spdlog::error("destination {} stopped: {}", id_, status.ToString());
    SetFailure(status.Prefixed("destination " + id_), State::kStopped);
    queue_.Close();
    queue_.Clear();
    return;
  }
  spdlog::warn("destination {} is unavailable: {}; retrying with backoff, the others go on", id_,
               status.ToString());
  // The state first: pushes stop queueing before what is queued is dropped.
  SetFailure(status.Prefixed("destination " + id_), State::kDown);
  queue_.Clear();
  Reopen();
  // Recovered: idle until the session replays (it stops this worker).
  while (!stopping_.load() && state_.load() == State::kRecovered)
    std::this_thread::sleep_for(milliseconds(50));
}

}  // namespace shardcast
