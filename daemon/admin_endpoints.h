// The daemon's admin API endpoints for jobs and verify's hold (DESIGN.md
// "Observability and operation"; the JSON shapes are in the README):
//   POST /jobs/snapshot {"tables":[...]}  -> 202 {"job":"snap-N"}
//   GET  /jobs, GET /jobs/<id>            -> job state and per-table progress
//   POST /hold {} | {"lsn":"X/Y","ttl_s":600}, GET /hold, DELETE /hold
//   GET  /healthz
#pragma once

#include "checkpoint/store.h"
#include "daemon/admin_server.h"
#include "daemon/apply_hold.h"
#include "daemon/config.h"
#include "daemon/job_board.h"

namespace shardcast {

struct AdminContext {
  const Config* config = nullptr;
  CheckpointStore* store = nullptr;
  ApplyHold* hold = nullptr;
  JobBoard* board = nullptr;
};

void RegisterAdminEndpoints(AdminServer& server, AdminContext context);

}  // namespace shardcast
