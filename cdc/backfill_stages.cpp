#include "cdc/backfill_stages.h"

namespace shardcast {

std::string_view ChunkStageName(ChunkStage stage) {
  switch (stage) {
    case ChunkStage::kLowWatermark:
      return "low watermark";
    case ChunkStage::kRead:
      return "read";
    case ChunkStage::kHighWatermark:
      return "high watermark";
    case ChunkStage::kAwaitEmitted:
      return "await emitted";
    case ChunkStage::kAwaitDurable:
      return "await durable";
    case ChunkStage::kRecord:
      return "record";
    case ChunkStage::kDone:
      return "done";
  }
  return "?";
}

ChunkRun::ChunkRun(BackfillJob& job, std::size_t t, std::size_t r, const SnapshotTable& table,
                   WatermarkCoordinator& coordinator, std::string chunk_id, std::int64_t chunk_rows)
    : job_(job),
      t_(t),
      r_(r),
      table_(table),
      coordinator_(coordinator),
      chunk_id_(std::move(chunk_id)),
      chunk_rows_(chunk_rows) {}

Status ChunkRun::Step(const ChunkPorts& ports) {
  Status s = DoStep(ports);
  if (!s.ok()) {
    coordinator_.Abandon(chunk_id_);
    return s.Prefixed(std::string("backfill chunk ") + chunk_id_ + " (" +
                      std::string(ChunkStageName(stage_)) + ")");
  }
  return s;
}

Status ChunkRun::RunToEnd(const ChunkPorts& ports) {
  while (stage_ != ChunkStage::kDone) SC_RETURN_IF_ERROR(Step(ports));
  return Status::Ok();
}

Status ChunkRun::DoStep(const ChunkPorts& ports) {
  BackfillTable& bt = job_.tables[t_];
  BackfillRange& range = bt.ranges[r_];
  switch (stage_) {
    case ChunkStage::kLowWatermark:
      coordinator_.Expect(chunk_id_, table_);
      SC_RETURN_IF_ERROR(ports.exec(WatermarkCoordinator::WatermarkSql(chunk_id_, 'L')));
      stage_ = ChunkStage::kRead;
      return Status::Ok();
    case ChunkStage::kRead: {
      SC_ASSIGN_OR_RETURN(rows_read_, ports.read(range.range, chunk_rows_));
      rows_ = rows_read_.size();
      if (!rows_read_.empty()) last_key_ = KeyOf(table_, rows_read_.back());
      coordinator_.Deliver(chunk_id_, std::move(rows_read_));
      rows_read_.clear();
      stage_ = ChunkStage::kHighWatermark;
      return Status::Ok();
    }
    case ChunkStage::kHighWatermark:
      SC_RETURN_IF_ERROR(ports.exec(WatermarkCoordinator::WatermarkSql(chunk_id_, 'H')));
      stage_ = ChunkStage::kAwaitEmitted;
      return Status::Ok();
    case ChunkStage::kAwaitEmitted: {
      SC_ASSIGN_OR_RETURN(emitted_, ports.await_emitted(chunk_id_));
      stage_ = ChunkStage::kAwaitDurable;
      return Status::Ok();
    }
    case ChunkStage::kAwaitDurable:
      SC_RETURN_IF_ERROR(ports.await_durable(emitted_));
      stage_ = ChunkStage::kRecord;
      return Status::Ok();
    case ChunkStage::kRecord:
      // A short chunk is the range's last; otherwise the next one starts after this one's last key.
      if (static_cast<std::int64_t>(rows_) < chunk_rows_) {
        range.done = true;
      } else {
        range.range.after = last_key_;
      }
      part_ = range.parts_done++;
      bt.rows_done += rows_;
      bt.chunks_done++;
      SC_RETURN_IF_ERROR(ports.save(job_));
      stage_ = ChunkStage::kDone;
      return Status::Ok();
    case ChunkStage::kDone:
      return Status::Ok();
  }
  return Internal("unknown chunk stage");
}

}  // namespace shardcast
