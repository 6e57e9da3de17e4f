#include "sink/destination_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/thread_util.h"

namespace shardcast {

using std::chrono::milliseconds;

DestinationWorker::DestinationWorker(std::unique_ptr<Sink> sink, Lsn progress, Options options)
    : sink_(std::move(sink)),
      id_(sink_->id()),
      options_(options),
      queue_(options.queue_bytes),
      skip_through_(progress),
      queued_lsn_(progress) {}

DestinationWorker::~DestinationWorker() {
  Stop(false);
}

Status DestinationWorker::Start() {
  SC_ASSIGN_OR_RETURN(thread_, StartThread("apply " + id_, [this] { Run(); }));
  return Status::Ok();
}

bool DestinationWorker::Push(const std::shared_ptr<const RoutedTransaction>& txn, milliseconds timeout) {
  if (failed_.load()) return false;
  if (!queue_.PushFor(txn, txn->approx_bytes, timeout)) return false;
  queued_lsn_.store(txn->txn->end_lsn);
  return true;
}

void DestinationWorker::Stop(bool drain) {
  drain_.store(drain);
  stopping_.store(true);
  queue_.Close();
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

Status DestinationWorker::ApplyBatch(TxnBatch& batch) {
  const Lsn skip = skip_through_.load();
  std::erase_if(batch, [skip](const auto& t) { return t->txn->end_lsn <= skip; });
  if (batch.empty()) return Status::Ok();
  return sink_->Apply(batch);
}

void DestinationWorker::Run() {
  Status status;
  while (status.ok()) {
    TxnBatch batch = queue_.PopBatch(options_.max_batch_txns, milliseconds(100));
    if (!batch.empty()) {
      if (stopping_.load() && !drain_.load()) break;
      status = ApplyBatch(batch);
      if (!status.ok()) break;
    } else if (stopping_.load()) {
      break;  // closed and drained
    }
    status = sink_->Poll(milliseconds(0));
  }
  if (status.ok() && drain_.load()) {
    // Wait (bounded) for what was handed over to become durable.
    const Lsn target = queued_lsn_.load();
    for (int i = 0; i < 300 && status.ok() && sink_->durable_lsn() < target && durable_lsn() < target; ++i)
      status = sink_->Poll(milliseconds(100));
  }
  if (!status.ok()) {
    {
      std::lock_guard lock(mu_);
      failure_ = status.Prefixed("destination " + id_);
    }
    failed_.store(true);
    queue_.Close();
    spdlog::error("destination {} stopped: {}", id_, status.ToString());
  }
}

}  // namespace shardcast
