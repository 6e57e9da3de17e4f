#include "daemon/admin_endpoints.h"

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "cdc/backfill_job.h"
#include "daemon/backfill_runner.h"
#include "daemon/redact.h"

namespace shardcast {

using nlohmann::json;

namespace {

AdminResponse Json(int status, const json& j) {
  return AdminResponse{status, j.dump(), "application/json"};
}
AdminResponse Error(int status, const std::string& message) {
  return Json(status, {{"error", message}});
}

json JobJson(const BackfillJob& job, const JobBoard* board) {
  json tables = json::array();
  for (const auto& t : job.tables) {
    const bool done = t.done();
    std::string state = done ? "done" : (job.state == JobState::kPending ? "pending" : "running");
    if (job.state == JobState::kFailed && !done) state = "failed";
    tables.push_back({{"table", t.QualifiedName()},
                      {"state", state},
                      {"rows_done", t.rows_done},
                      {"rows_total", std::max(t.rows_total, t.rows_done)},
                      {"chunks_done", t.chunks_done},
                      {"rows_per_second", board ? board->RowsPerSecond(job.id, t.QualifiedName()) : 0.0}});
  }
  return {{"id", job.id},
          {"kind", job.kind},
          {"state", std::string(JobStateName(job.state))},
          {"error", job.error},
          {"tables", tables}};
}

AdminResponse StartSnapshot(const AdminContext& ctx, const AdminRequest& req) {
  json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Error(400, "the body must be a JSON object");
  const std::shared_ptr<const Config> config = ctx.config();
  std::vector<const TableConfig*> tables;
  if (body.contains("tables") && body["tables"].is_array() && !body["tables"].empty()) {
    for (const auto& n : body["tables"]) {
      if (!n.is_string()) return Error(400, "tables must be a list of table names");
      const TableConfig* t = FindConfiguredTable(*config, n.get<std::string>());
      if (t == nullptr)
        return Error(404, "table " + n.get<std::string>() +
                              " is not in the configuration's tables: add it there (and reload) first");
      tables.push_back(t);
    }
  } else {
    for (const auto& t : config->tables) tables.push_back(&t);
  }
  auto jobs = LoadJobsInOrder(*ctx.store);
  if (!jobs.ok()) return Error(500, jobs.status().message());
  std::uint64_t n = 0;
  for (const auto& j : *jobs)
    if (j.id.rfind("snap-", 0) == 0)
      n = std::max<std::uint64_t>(n, std::strtoull(j.id.c_str() + 5, nullptr, 10));
  BackfillJob job;
  job.id = "snap-" + std::to_string(n + 1);
  job.kind = "backfill";
  for (const auto* t : tables) job.tables.push_back(WholeTable(t->schema, t->name));
  if (Status s = ctx.store->PutJob(job.id, job.ToJson()); !s.ok()) return Error(500, s.message());
  return Json(202, {{"job", job.id}});
}

AdminResponse HoldView(ApplyHold& hold) {
  const auto v = hold.view();
  return Json(
      200,
      {{"active", v.active}, {"lsn", v.lsn ? json(FormatLsn(*v.lsn)) : json(nullptr)}, {"ready", v.ready}});
}

AdminResponse SetHold(ApplyHold& hold, const AdminRequest& req) {
  json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Error(400, "the body must be a JSON object");
  const std::chrono::seconds ttl(body.value("ttl_s", 600));
  if (body.contains("lsn") && body["lsn"].is_string()) {
    auto lsn = ParseLsn(body["lsn"].get<std::string>());
    if (!lsn) return Error(400, "lsn: expected a position like 0/16B3A0");
    hold.HoldAt(*lsn, ttl);
  } else {
    hold.Freeze(ttl);
  }
  return HoldView(hold);
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point{}) return "";
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

AdminResponse Readyz(const StatusBoard& board) {
  const DaemonStatus st = board.Get();
  json reasons = json::array();
  if (!st.streaming)
    reasons.push_back("not streaming" +
                      (st.last_error.empty() ? std::string(" yet") : ": " + RedactDsn(st.last_error)));
  for (const auto& d : st.destinations)
    if (d.state != "running")
      reasons.push_back("destination " + d.id + " is " + d.state +
                        (d.error.empty() ? std::string() : ": " + RedactDsn(d.error)));
  if (st.streaming && st.destinations.empty()) reasons.push_back("no destination is open");
  return Json(reasons.empty() ? 200 : 503, {{"ready", reasons.empty()}, {"reasons", reasons}});
}

AdminResponse RingJson(const StatusBoard& board) {
  const DaemonStatus st = board.Get();
  if (st.ring_epoch == 0) return Error(503, "the ring is not loaded yet: the daemon is starting");
  json shards = json::array();
  for (const auto& s : st.ring_shards) {
    const auto colon = s.rfind(':');
    shards.push_back(
        {{"id", s.substr(0, colon)},
         {"weight", colon == std::string::npos ? 1ul : std::strtoul(s.c_str() + colon + 1, nullptr, 10)}});
  }
  return Json(
      200, {{"epoch", st.ring_epoch}, {"vnodes_per_weight", st.ring_vnodes_per_weight}, {"shards", shards}});
}

}  // namespace

json StatusJson(const DaemonStatus& st) {
  json destinations = json::array();
  for (const auto& d : st.destinations)
    destinations.push_back({{"id", d.id},
                            {"state", d.state},
                            {"error", RedactDsn(d.error)},
                            {"durable_lsn", FormatLsn(d.durable_lsn)},
                            {"queued_lsn", FormatLsn(d.queued_lsn)},
                            {"queue_bytes", d.queue_bytes},
                            {"lag_seconds", d.lag_seconds}});
  return {{"streaming", st.streaming},
          {"source",
           {{"slot", st.slot},
            {"current_lsn", FormatLsn(st.source_flush_lsn)},
            {"received_lsn", FormatLsn(st.received_lsn)},
            {"confirmed_lsn", FormatLsn(st.confirmed_lsn)},
            {"lag_bytes", st.source_lag_bytes},
            {"lag_seconds", st.source_lag_seconds},
            {"slot_retained_bytes", st.slot_retained_bytes},
            {"slot_wal_keep_bytes", st.slot_wal_keep_bytes}}},
          {"transactions", st.transactions},
          {"changes", st.changes},
          {"ring", {{"epoch", st.ring_epoch}, {"shards", st.ring_shards}}},
          {"destinations", destinations},
          {"last_error", RedactDsn(st.last_error)},
          {"updated", Iso8601(st.updated)}};
}

void RegisterAdminEndpoints(AdminServer& server, AdminContext ctx) {
  server.Handle("GET", "/healthz", [](const AdminRequest&) {
    return AdminResponse{200, "ok\n", "text/plain"};
  });
  server.Handle("GET", "/status", [ctx](const AdminRequest&) {
    if (ctx.status == nullptr) return Error(503, "no status yet");
    return Json(200, StatusJson(ctx.status->Get()));
  });
  server.Handle("GET", "/readyz", [ctx](const AdminRequest&) {
    if (ctx.status == nullptr) return Error(503, "no status yet");
    return Readyz(*ctx.status);
  });
  server.Handle("GET", "/ring", [ctx](const AdminRequest&) {
    if (ctx.status == nullptr) return Error(503, "no status yet");
    return RingJson(*ctx.status);
  });
  server.Handle("POST", "/jobs/snapshot", [ctx](const AdminRequest& req) { return StartSnapshot(ctx, req); });
  server.Handle("GET", "/jobs", [ctx](const AdminRequest&) {
    auto jobs = LoadJobsInOrder(*ctx.store);
    if (!jobs.ok()) return Error(500, jobs.status().message());
    json list = json::array();
    for (const auto& j : *jobs) list.push_back(JobJson(j, ctx.board));
    return Json(200, {{"jobs", list}});
  });
  server.Handle("GET", "/jobs/([A-Za-z0-9_-]+)", [ctx](const AdminRequest& req) {
    auto jobs = LoadJobsInOrder(*ctx.store);
    if (!jobs.ok()) return Error(500, jobs.status().message());
    for (const auto& j : *jobs)
      if (j.id == req.matches.at(1)) return Json(200, JobJson(j, ctx.board));
    return Error(404, "no job " + req.matches.at(1));
  });
  server.Handle("POST", "/hold", [ctx](const AdminRequest& req) { return SetHold(*ctx.hold, req); });
  server.Handle("GET", "/hold", [ctx](const AdminRequest&) { return HoldView(*ctx.hold); });
  server.Handle("DELETE", "/hold", [ctx](const AdminRequest&) {
    ctx.hold->Release();
    return HoldView(*ctx.hold);
  });
}

}  // namespace shardcast
