#include "daemon/stream_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <thread>

#include "cdc/source_catalog.h"
#include "common/kill_point.h"
#include "daemon/initial_snapshot.h"
#include "daemon/metrics.h"
#include "daemon/sink_factory.h"

namespace shardcast {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {
constexpr milliseconds kPollInterval{100};
constexpr milliseconds kCheckpointInterval{200};
// With nothing to decode for this long, the keepalive's wal_end is pushed
// through the destinations as an empty transaction so idle sources never pin WAL.
constexpr milliseconds kIdleConfirmAfter{1000};

// Where counts and commit times go between status snapshots (metrics.h).
DeliveryTracker* TrackerOf(const SessionShared& shared) {
  if (shared.status == nullptr || shared.status->metrics() == nullptr) return nullptr;
  return &shared.status->metrics()->tracker();
}
}  // namespace

StreamSession::StreamSession(const Config& config, const std::string& source_dsn,
                             const std::string& source_db, const Router& router, CheckpointStore& store,
                             const std::atomic<bool>* stop, SessionShared shared)
    : config_(config),
      source_dsn_(source_dsn),
      source_db_(source_db),
      router_(router),
      store_(store),
      stop_(stop),
      shared_(shared) {}

StreamSession::~StreamSession() {
  Shutdown(false);
}

Status StreamSession::OpenDestinations(std::map<std::string, Lsn>& progress) {
  SC_ASSIGN_OR_RETURN(saved_progress_, store_.LoadProgress());
  SC_ASSIGN_OR_RETURN(auto sinks,
                      MakeSinks(config_, router_.tables(), source_db_, saved_progress_, shared_.dead_letter));
  DestinationWorker::Options opts;
  opts.queue_bytes = config_.queue_bytes;
  for (auto& sink : sinks) {
    const std::string id = sink->id();
    auto marker = sink->Open();
    const Lsn stored = saved_progress_.count(id) ? saved_progress_[id] : 0;
    if (!marker.ok() && marker.status().code() == Code::kUnavailable && stored != 0) {
      // Down at start: the others stream without it; the store's position
      // (never ahead of what it has) pins the slot until it is back.
      progress[id] = stored;
      workers_.push_back(std::make_unique<DestinationWorker>(std::move(sink), stored, opts,
                                                             marker.status().Prefixed("opening " + id)));
      continue;
    }
    if (!marker.ok()) return marker.status().Prefixed("opening destination " + id);
    // For how far a destination got, the destination's own marker wins; a
    // destination that keeps none (Kafka in at-least-once mode) has the store's.
    Lsn p = *marker != 0 ? *marker : stored;
    if (*marker != 0 && *marker < stored)
      spdlog::warn("destination {}: its marker {} is behind the checkpoint {}; trusting the destination", id,
                   FormatLsn(*marker), FormatLsn(stored));
    progress[id] = p;
    workers_.push_back(std::make_unique<DestinationWorker>(std::move(sink), p, opts));
  }
  return Status::Ok();
}

std::string StreamSession::ReseedHint(const std::string& id) const {
  const std::string cfg = config_.path.empty() ? "FILE" : config_.path;
  const bool kafka = id == kKafkaDestinationId;
  return "Re-seed it: " +
         std::string(
             kafka ? "" : "on that shard DELETE FROM shardcast.progress WHERE destination = '" + id + "'; ") +
         "shardcast checkpoint reset -c " + cfg + " --destination " + id +
         "; start shardcast (it streams to " + id +
         " from the slot's position on); then shardcast snapshot -c " + cfg +
         " reloads every table through the running daemon";
}

Status StreamSession::PrepareSlot(const std::map<std::string, Lsn>& progress) {
  SC_ASSIGN_OR_RETURN(auto catalog, SourceCatalog::Connect(source_dsn_));
  SC_ASSIGN_OR_RETURN(auto slot, catalog->GetSlot(config_.source.slot));
  if (!slot && config_.source.create) {
    SC_ASSIGN_OR_RETURN(bool first, IsFirstStart(progress));
    if (first) {
      SC_RETURN_IF_ERROR(RunInitialSnapshot());
      SC_ASSIGN_OR_RETURN(slot, catalog->GetSlot(config_.source.slot));
    }
  }
  if (!slot) {
    // A slot that vanished after progress or jobs were recorded cannot be
    // recreated silently: the changes since the destinations' positions are gone.
    SC_ASSIGN_OR_RETURN(auto stored, store_.LoadProgress());
    Lsn recorded = 0;
    for (const auto& [id, p] : stored) recorded = std::max(recorded, p);
    for (const auto& [id, p] : progress) recorded = std::max(recorded, p);
    if (recorded != 0)
      return SlotLost("replication slot " + config_.source.slot +
                      " does not exist but the destinations are at " + FormatLsn(recorded) +
                      ": the changes since then cannot be replayed. Re-seed: on every shard empty the "
                      "replicated tables and DELETE FROM shardcast.progress, move checkpoint.dir away "
                      "(with kafka.exactly_once also delete the {prefix}.shardcast.offsets topic) and start "
                      "again: the initial snapshot reloads everything");
  }
  if (slot && config_.source.create) {
    // A slot that exists before any progress or snapshot job: rows older than
    // the slot were never seeded.
    SC_ASSIGN_OR_RETURN(auto stored, store_.LoadProgress());
    SC_ASSIGN_OR_RETURN(auto jobs, store_.LoadJobs());
    bool any = !stored.empty() || !jobs.empty();
    for (const auto& [id, p] : progress) any = any || p != 0;
    if (!any)
      spdlog::warn(
          "replication slot {} already exists and nothing was recorded for it: no initial snapshot is "
          "taken; seed existing rows with shardcast snapshot",
          config_.source.slot);
  }
  if (!slot) {
    if (!config_.source.create)
      return FailedPrecondition(
          "replication slot " + config_.source.slot +
          " does not exist and source.create is false: create it, or set source.create: true");
    SC_ASSIGN_OR_RETURN(bool created, stream_->CreateSlot(config_.source.slot));
    if (created) spdlog::info("created replication slot {}", config_.source.slot);
    SC_ASSIGN_OR_RETURN(slot, catalog->GetSlot(config_.source.slot));
    if (!slot) return Internal("replication slot " + config_.source.slot + " vanished right after creation");
  }
  if (slot->wal_status == "lost")
    return SlotLost("replication slot " + config_.source.slot +
                    " is invalidated (wal_status = lost): the WAL it needed was removed; drop it and "
                    "re-seed the destinations");
  if (slot->plugin != "pgoutput")
    return FailedPrecondition("replication slot " + config_.source.slot + " uses plugin " + slot->plugin +
                              ", shardcast needs pgoutput: drop it or configure another slot name");
  // The server silently moves START_REPLICATION forward to confirmed_flush_lsn,
  // so a destination behind it cannot be caught up from the stream.
  Lsn min_progress = UINT64_MAX;
  for (const auto& [id, p] : progress) {
    if (p != 0 && p < slot->confirmed_flush_lsn)
      return Status(Code::kOutOfSync, "destination " + id + " is at " + FormatLsn(p) +
                                          ", behind the slot's confirmed_flush_lsn " +
                                          FormatLsn(slot->confirmed_flush_lsn) +
                                          ": it cannot be caught up from the stream. " + ReseedHint(id));
    min_progress = std::min(min_progress, p);
  }
  start_lsn_ = (min_progress == UINT64_MAX || min_progress == 0) ? slot->confirmed_flush_lsn : min_progress;
  return Status::Ok();
}

StatusOr<bool> StreamSession::IsFirstStart(const std::map<std::string, Lsn>& progress) {
  for (const auto& [id, p] : progress)
    if (p != 0) return false;
  SC_ASSIGN_OR_RETURN(auto stored, store_.LoadProgress());
  if (!stored.empty()) return false;
  SC_ASSIGN_OR_RETURN(auto jobs, store_.LoadJobs());
  auto it = jobs.find("initial");
  if (it == jobs.end()) return true;
  // A job whose slot was never created: nothing was loaded, start over.
  SC_ASSIGN_OR_RETURN(auto job, BackfillJob::FromJson(it->second));
  if (job.consistent_point == 0) return true;
  // The slot of an unfinished initial snapshot is gone: changes since its
  // consistent point are lost to the shards already loaded.
  return Status(Code::kOutOfSync,
                "replication slot " + config_.source.slot +
                    " of the unfinished initial snapshot (consistent point " +
                    FormatLsn(job.consistent_point) +
                    ") is gone: the destinations cannot be caught up; empty the shard tables, move the "
                    "checkpoint directory away and start again");
}

Status StreamSession::RunInitialSnapshot() {
  BackfillJob job = InitialSnapshot::NewJob(router_.tables());
  SC_RETURN_IF_ERROR(store_.PutJob(job.id, job.ToJson()));
  InitialSnapshot::Inputs in;
  in.config = &config_;
  in.source_dsn = source_dsn_;
  in.source_db = source_db_;
  in.router = &router_;
  in.store = &store_;
  in.stop = stop_;
  in.board = shared_.board;
  for (const auto& w : workers_) in.destination_ids.push_back(w->id());
  InitialSnapshot snapshot(std::move(in));
  SC_RETURN_IF_ERROR(snapshot.Run(*stream_, std::move(job)).status());
  // The exporting connection is closed; streaming needs a new one.
  SC_ASSIGN_OR_RETURN(stream_, ReplicationStream::Connect(source_dsn_));
  return Status::Ok();
}

Status StreamSession::PrepareDecoder() {
  // Large transactions wait for their Commit on disk, not in memory; pieces
  // read back stay well inside the queues' byte bound.
  DecoderOptions options;
  options.spill_dir = config_.checkpoint_dir + "/spill";
  options.spill_bytes = std::clamp<std::size_t>(config_.queue_bytes / 4, 1u << 20, 16u << 20);
  options.piece_bytes = std::clamp<std::size_t>(config_.queue_bytes / 16, 256u << 10, 4u << 20);
  SC_RETURN_IF_ERROR(ResetSpillDir(options.spill_dir).Prefixed("checkpoint.dir"));
  decoder_ = Decoder(std::move(options));
  return Status::Ok();
}

Lsn StreamSession::MinDurable() const {
  Lsn m = UINT64_MAX;
  for (const auto& w : workers_) m = std::min(m, w->durable_lsn());
  return m;
}

Status StreamSession::StartBackfill() {
  SC_ASSIGN_OR_RETURN(reread_reader_, SnapshotReader::Connect(source_dsn_));
  coordinator_ =
      std::make_unique<WatermarkCoordinator>([this](const SnapshotTable& t, const std::vector<Tuple>& keys) {
        return reread_reader_->ReadKeys(t, keys);
      });
  BackfillRunner::Deps deps;
  deps.config = &config_;
  deps.source_dsn = source_dsn_;
  deps.store = &store_;
  deps.coordinator = coordinator_.get();
  deps.board = shared_.board;
  deps.min_durable = [this] { return MinDurable(); };
  deps.session_token = std::to_string(std::random_device{}());
  runner_ = std::make_unique<BackfillRunner>(std::move(deps));
  SC_RETURN_IF_ERROR(runner_->Prime(*reread_reader_));
  return runner_->Start();
}

void StreamSession::UpdateHold(bool waiting) {
  if (shared_.hold == nullptr) return;
  const auto view = shared_.hold->view();
  if (!view.active || !view.lsn) return;
  // Every destination holds exactly what ends at or before the hold
  // position: the reader got past it (or waits beyond it) and everything
  // pushed is durable.
  const bool past = waiting || last_pushed_lsn_ >= *view.lsn;
  shared_.hold->SetReached(*view.lsn, past && MinDurable() >= std::min(last_pushed_lsn_, *view.lsn));
}

Status StreamSession::WaitWhileHeld(const Transaction& txn) {
  if (shared_.hold == nullptr || txn.changes.empty()) return Status::Ok();
  while (shared_.hold->MustWait(txn.end_lsn)) {
    if (Stopping()) return Status::Ok();
    SC_RETURN_IF_ERROR(CheckWorkers());
    UpdateHold(true);
    SC_RETURN_IF_ERROR(stream_->SendStatus(false));
    if (Clock::now() - last_checkpoint_ >= kCheckpointInterval) SC_RETURN_IF_ERROR(Checkpoint());
    std::this_thread::sleep_for(milliseconds(20));
  }
  return Status::Ok();
}

Status StreamSession::Run() {
  std::map<std::string, Lsn> progress;
  SC_RETURN_IF_ERROR(OpenDestinations(progress));
  SC_ASSIGN_OR_RETURN(stream_, ReplicationStream::Connect(source_dsn_));
  SC_RETURN_IF_ERROR(PrepareSlot(progress));
  SC_RETURN_IF_ERROR(PrepareDecoder());
  for (auto& w : workers_) SC_RETURN_IF_ERROR(w->Start());
  SC_RETURN_IF_ERROR(stream_->Start(config_.source.slot, config_.source.publication, start_lsn_));
  stream_->SetFlushLsn(start_lsn_);
  last_pushed_lsn_ = start_lsn_;
  SC_RETURN_IF_ERROR(checkpoints_.Start());
  spdlog::info("streaming from slot {} at {} to {} destination(s)", config_.source.slot,
               FormatLsn(start_lsn_), workers_.size());
  SC_RETURN_IF_ERROR(StartBackfill());
  Status status = ReadLoop();
  // After a destination came back, the others finish what they have: the
  // replay then skips it.
  Shutdown(status.ok() || recovered_);
  Status cp = Checkpoint(/*wait=*/true);
  if (status.ok()) status = cp;
  return status;
}

void StreamSession::Beat() {
  if (shared_.status != nullptr) shared_.status->Beat();
}

void StreamSession::PublishStatus() {
  if (shared_.status == nullptr) return;
  DaemonStatus st;
  st.streaming = true;
  st.slot = config_.source.slot;
  st.received_lsn = last_pushed_lsn_;
  st.confirmed_lsn = stream_ ? stream_->flush_lsn() : 0;
  const Ring& ring = *router_.ring();
  st.ring_epoch = ring.epoch();
  st.ring_vnodes_per_weight = ring.vnodes_per_weight();
  for (const auto& s : ring.shards()) st.ring_shards.push_back(s.id + ":" + std::to_string(s.weight));
  for (const auto& w : workers_) {
    DestinationStatus d;
    d.id = w->id();
    switch (w->state()) {
      case DestinationWorker::State::kRunning:
        d.state = "running";
        break;
      case DestinationWorker::State::kDown:
        d.state = "down";
        break;
      case DestinationWorker::State::kRecovered:
        d.state = "recovered";
        break;
      case DestinationWorker::State::kStopped:
        d.state = "stopped";
        break;
    }
    if (w->state() != DestinationWorker::State::kRunning) d.error = w->failure().ToString();
    d.durable_lsn = w->durable_lsn();
    d.queued_lsn = w->queued_lsn();
    d.queue_bytes = w->queue_bytes();
    st.destinations.push_back(std::move(d));
  }
  // Lag counts from what is durable everywhere (what was received, with no destination).
  const Lsn done = workers_.empty() ? last_pushed_lsn_ : MinDurable();
  const SourceSample sample = shared_.status->source_sample();
  st.source_flush_lsn = sample.current_lsn;
  st.source_lag_bytes = sample.valid && sample.current_lsn > done ? sample.current_lsn - done : 0;
  st.slot_retained_bytes = sample.slot_retained_bytes;
  st.slot_wal_keep_bytes = sample.slot_wal_keep_bytes;
  Metrics* metrics = shared_.status->metrics();
  if (metrics != nullptr) metrics->tracker().Update(st, done, metrics);
  if (metrics != nullptr) metrics->Publish(st);
  shared_.status->Publish(std::move(st));
}

Status StreamSession::ReadLoop() {
  last_message_ = Clock::now();
  if (DeliveryTracker* tracker = TrackerOf(shared_)) tracker->Reset();
  PublishStatus();
  while (!Stopping()) {
    Beat();
    SC_RETURN_IF_ERROR(CheckWorkers());
    SC_ASSIGN_OR_RETURN(auto msg, stream_->Next(kPollInterval));
    if (msg) {
      last_message_ = Clock::now();
      auto out = decoder_.Feed(msg->data);
      if (!out.ok()) return out.status().Prefixed("decoding the message at " + FormatLsn(msg->wal_start));
      if (out->committed) SC_RETURN_IF_ERROR(Dispatch(std::move(out->committed)));
      if (out->spilled) SC_RETURN_IF_ERROR(DispatchSpilled(*out->spilled));
    } else if (!decoder_.in_transaction() && stream_->server_wal_end() > last_pushed_lsn_ &&
               Clock::now() - last_message_ >= kIdleConfirmAfter) {
      auto empty = std::make_shared<Transaction>();
      empty->end_lsn = empty->commit_lsn = stream_->server_wal_end();
      SC_RETURN_IF_ERROR(Dispatch(std::move(empty)));
    }
    if (Clock::now() - last_checkpoint_ >= kCheckpointInterval) SC_RETURN_IF_ERROR(Checkpoint());
    UpdateHold(false);
  }
  return Status::Ok();
}

Status StreamSession::DispatchSpilled(SpilledTransaction& spilled) {
  auto last_status = Clock::now();
  while (!Stopping()) {
    auto piece = spilled.NextPiece();
    if (!piece.ok()) return piece.status().Prefixed("reading back a spilled transaction");
    if (*piece == nullptr) break;
    SC_RETURN_IF_ERROR(CheckWorkers());
    SC_RETURN_IF_ERROR(Dispatch(std::move(*piece)));
    // Reading back gigabytes takes a while: keep wal_sender_timeout at bay.
    if (Clock::now() - last_status >= std::chrono::seconds(5)) {
      SC_RETURN_IF_ERROR(stream_->SendStatus(false));
      last_status = Clock::now();
    }
  }
  return Status::Ok();
}

Status StreamSession::Dispatch(std::shared_ptr<Transaction> txn) {
  const Lsn end = txn->end_lsn;
  const bool last_piece = txn->last_piece;
  if (coordinator_) {
    if (Status s = coordinator_->OnTransaction(*txn); !s.ok())
      return s.Prefixed("backfill at the transaction ending at " + FormatLsn(end));
  }
  SC_RETURN_IF_ERROR(WaitWhileHeld(*txn));
  if (Stopping()) return Status::Ok();
  // An idle keepalive's empty transaction has no commit time: not counted.
  const std::int64_t commit_us = txn->commit_time_us;
  DeliveryTracker* tracker = TrackerOf(shared_);
  if (tracker != nullptr) tracker->Decoded(*txn, last_piece && commit_us != 0);
  auto routed = router_.Route(std::move(txn));
  if (!routed.ok()) return routed.status().Prefixed("routing the transaction ending at " + FormatLsn(end));
  SC_RETURN_IF_ERROR(PushToAll(*routed));
  if (last_piece) last_pushed_lsn_ = std::max(last_pushed_lsn_, end);
  if (tracker != nullptr && last_piece && commit_us != 0) tracker->Pushed(end, commit_us);
  return Status::Ok();
}

Status StreamSession::PushToAll(const std::shared_ptr<const RoutedTransaction>& routed) {
  for (auto& w : workers_) {
    // While a queue is full, keep the walsender from timing us out.
    while (!w->Push(routed, kPollInterval)) {
      SC_RETURN_IF_ERROR(CheckWorkers());
      if (Stopping()) return Status::Ok();  // replay covers what was not queued
      SC_RETURN_IF_ERROR(stream_->SendStatus(false));
      if (Clock::now() - last_checkpoint_ >= kCheckpointInterval) SC_RETURN_IF_ERROR(Checkpoint());
    }
  }
  return Status::Ok();
}

Status StreamSession::CheckWorkers() {
  std::size_t stopped = 0;
  Status first;
  for (const auto& w : workers_) {
    switch (w->state()) {
      case DestinationWorker::State::kRecovered:
        // It lost what was queued while down: replay from the slot, which
        // never moved past what it has.
        recovered_ = true;
        return Unavailable("destination " + w->id() + " is reachable again: replaying from the slot");
      case DestinationWorker::State::kStopped:
        ++stopped;
        if (first.ok()) first = w->failure();
        break;
      default:
        break;
    }
  }
  // With every destination stopped for good there is nothing left to feed.
  if (!workers_.empty() && stopped == workers_.size()) return first;
  return Status::Ok();
}

Status StreamSession::Checkpoint(bool wait) {
  last_checkpoint_ = Clock::now();
  Beat();
  PublishStatus();
  if (workers_.empty()) return Status::Ok();
  std::map<std::string, Lsn> changed;
  Lsn min_durable = UINT64_MAX;
  for (const auto& w : workers_) {
    const Lsn d = w->durable_lsn();
    min_durable = std::min(min_durable, d);
    auto it = saved_progress_.find(w->id());
    if (it == saved_progress_.end() || it->second < d) changed[w->id()] = d;
  }
  // Confirm only what every destination has made durable (and, for Kafka,
  // what the store records: the writer confirms after saving).
  const Lsn confirm = stream_ && min_durable != UINT64_MAX ? min_durable : 0;
  if (changed.empty() && confirm == 0 && !wait) return Status::Ok();
  SC_RETURN_IF_ERROR(checkpoints_.Submit(changed, confirm));
  for (const auto& [id, lsn] : changed) saved_progress_[id] = lsn;
  return wait ? checkpoints_.Flush() : Status::Ok();
}

// On the checkpoint thread (or in Flush).
Status StreamSession::SaveProgress(const std::map<std::string, Lsn>& changed) {
  KillPoint("checkpoint.before_save");
  const auto write_started = Clock::now();
  Status s = store_.SaveProgress(changed);
  if (shared_.status != nullptr && shared_.status->metrics() != nullptr)
    shared_.status->metrics()->ObserveCheckpointWrite(
        std::chrono::duration<double>(Clock::now() - write_started).count());
  if (!s.ok()) return s.Prefixed("writing the checkpoint");
  KillPoint("checkpoint.after_save");
  return Status::Ok();
}

void StreamSession::Shutdown(bool drain) {
  if (runner_) runner_->Stop();
  for (auto& w : workers_) w->RequestStop(drain);  // all wind down at once
  for (auto& w : workers_) w->Stop(drain);
  if (stream_ && drain) {
    (void)Checkpoint(/*wait=*/true);
    (void)stream_->SendStatus(false);
  }
  if (stream_) stream_->Close();
}

}  // namespace shardcast
