// The daemon's admin API endpoints for jobs and verify's hold (DESIGN.md
// "Observability and operation"; the JSON shapes are in the README):
//   POST /jobs/snapshot {"tables":[...]}  -> 202 {"job":"snap-N"}
//   GET  /jobs, GET /jobs/<id>            -> job state and per-table progress
//   POST /hold {} | {"lsn":"X/Y","ttl_s":600}, GET /hold, DELETE /hold
//   GET  /healthz
//   GET  /status  -> DaemonStatus as JSON (never a DSN or a password)
//   GET  /readyz  -> 200 streaming with every destination running, else 503
//                    {"ready":false,"reasons":["destination s1@eu is down: ..."]}
//   GET  /ring    -> {"epoch":1,"vnodes_per_weight":1024,"shards":[{"id":"s0","weight":1}]}
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "checkpoint/store.h"
#include "daemon/admin_server.h"
#include "daemon/apply_hold.h"
#include "daemon/config.h"
#include "daemon/job_board.h"
#include "daemon/status_board.h"

namespace shardcast {

struct AdminContext {
  // The configuration in force, asked per request: a SIGHUP that adds tables
  // replaces it while the server runs.
  std::function<std::shared_ptr<const Config>()> config;
  CheckpointStore* store = nullptr;
  ApplyHold* hold = nullptr;
  JobBoard* board = nullptr;
  const StatusBoard* status = nullptr;  // /status, /readyz, /ring (absent: 503)
};

// The JSON of /status (shardcast status --json prints it as is).
nlohmann::json StatusJson(const DaemonStatus& status);

void RegisterAdminEndpoints(AdminServer& server, AdminContext context);

}  // namespace shardcast
