#include "tests/e2e/fault_workload.h"

#include <libpq-fe.h>

#include <set>
#include <utility>

namespace shardcast::testing {

using Clock = std::chrono::steady_clock;

struct FaultWorkload::Staged {
  enum class Kind { kInsert, kUpdate, kDelete };
  struct Step {
    Kind kind;
    RowState row;  // the row as the step leaves it (the old row for a delete)
  };
  std::string sql;
  std::vector<Step> steps;
  std::set<std::int64_t> touched;  // rids: each row at most once per transaction
  std::int64_t changes = 0;
  bool large = false;
};

std::string FaultWorkload::Stats::ToString() const {
  return std::to_string(transactions) + " transactions (" + std::to_string(large) + " large), " +
         std::to_string(changes) + " changes, " + std::to_string(ambiguous) + " commits in doubt, " +
         std::to_string(reconnects) + " reconnects";
}

FaultWorkload::FaultWorkload(Options options)
    : options_(std::move(options)), rng_(options_.seed * 2654435761u + 1) {}

FaultWorkload::~FaultWorkload() {
  Stop();
}

void FaultWorkload::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void FaultWorkload::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

FaultWorkload::Stats FaultWorkload::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string FaultWorkload::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

std::uint64_t FaultWorkload::Next() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

std::size_t FaultWorkload::RandomLive() {
  const std::uint64_t r = Next();
  return live_.empty() ? 0 : static_cast<std::size_t>(r % live_.size());
}

void FaultWorkload::Run() {
  auto next_large = Clock::now() + options_.large_every / 6;
  while (!stop_) {
    Staged t;
    if (options_.large_rows > 0 && Clock::now() >= next_large) {
      LargeTransaction(t);
      next_large = Clock::now() + options_.large_every;
    } else {
      SmallTransaction(t);
    }
    // A transaction whose fate is unknown (the source is down) is dropped
    // unapplied; the next one starts from the model, which is still right.
    (void)Execute(t);
    for (auto until = Clock::now() + options_.pause; !stop_ && Clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void FaultWorkload::SmallTransaction(Staged& t) {
  auto insert = [&] {
    RowState r{next_rid_++, next_id_++, static_cast<int>(Next() % 10000), 0};
    t.sql += "INSERT INTO items VALUES (" + std::to_string(r.id) + ", " + std::to_string(r.rid) + ", " +
             std::to_string(r.acct) + ", 0, 'p');\n";
    t.steps.push_back({Staged::Kind::kInsert, r});
  };
  // kind: 0 pad update, 1 shard-key change, 2 primary-key change, 3 delete.
  auto change = [&](int kind) {
    if (live_.size() < 50) return insert();
    RowState r = live_[RandomLive()];
    if (!t.touched.insert(r.rid).second) return;
    const std::string where = " WHERE id = " + std::to_string(r.id) + ";\n";
    if (kind == 3) {
      t.sql += "DELETE FROM items" + where;
      t.steps.push_back({Staged::Kind::kDelete, r});
      return;
    }
    RowState n = r;
    ++n.version;
    std::string set = "version = " + std::to_string(n.version);
    if (kind == 1) {
      n.acct = static_cast<int>(Next() % 10000);
      set += ", acct = " + std::to_string(n.acct);
    } else if (kind == 2) {
      n.id = next_id_++;
      set += ", id = " + std::to_string(n.id);
    } else {
      set += ", pad = 'u" + std::to_string(n.version % 10) + "'";
    }
    t.sql += "UPDATE items SET " + set + where;
    t.steps.push_back({Staged::Kind::kUpdate, n});
  };
  const int dice = static_cast<int>(Next() % 100);
  if (dice < 30) {
    for (int i = 0, n = 1 + dice % 3; i < n; ++i) insert();
  } else if (dice < 58) {
    change(0);
  } else if (dice < 70) {
    change(1);
  } else if (dice < 78) {
    change(2);
  } else if (dice < 90) {
    change(3);
  } else {
    // Several rows, keys spread over the ring: one transaction on several shards.
    for (int i = 0, n = 4 + dice % 6; i < n; ++i) {
      if (i % 3 == 0)
        insert();
      else
        change(static_cast<int>(Next() % 4));
    }
  }
}

void FaultWorkload::LargeTransaction(Staged& t) {
  const std::int64_t rid0 = next_rid_, id0 = next_id_, n = options_.large_rows;
  t.sql = "INSERT INTO items SELECT " + std::to_string(id0) + " + g, " + std::to_string(rid0) +
          " + g, ((g * 7919) % 10000)::int, 0, 'L' FROM generate_series(0, " + std::to_string(n - 1) +
          ") g;\n";
  for (std::int64_t g = 0; g < n; ++g)
    t.steps.push_back(
        {Staged::Kind::kInsert, RowState{rid0 + g, id0 + g, static_cast<int>((g * 7919) % 10000), 0}});
  next_rid_ += n;
  next_id_ += n;
  t.large = true;
}

bool FaultWorkload::EnsureConnected() {
  if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return true;
  conn_.reset();
  auto conn = ConnectPinned(options_.dsn, /*replication=*/false, "the workload's source");
  if (!conn.ok()) return false;
  conn_ = std::move(*conn);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.reconnects;
  return true;
}

bool FaultWorkload::Execute(Staged& t) {
  if (t.steps.empty()) return true;
  const std::int64_t txn = next_txn_++;
  // Rows and ids of a transaction that did not commit are never reused: the
  // feed check must not confuse them with later rows.
  if (!EnsureConnected()) return false;
  const std::string sql =
      "BEGIN;\n" + t.sql + "INSERT INTO wl_commits VALUES (" + std::to_string(txn) + ");\nCOMMIT;";
  PgResultPtr res(PQexec(conn_.get(), sql.c_str()));
  if (res && PQresultStatus(res.get()) == PGRES_COMMAND_OK) {
    Apply(t);
    return true;
  }
  const Status failure = ResultError(conn_.get(), res.get(), "workload transaction " + std::to_string(txn));
  if (PQstatus(conn_.get()) == CONNECTION_OK) {
    PgResultPtr rollback(PQexec(conn_.get(), "ROLLBACK"));
    // Only a lost connection or a server shutting down is expected here.
    if (failure.code() != Code::kUnavailable) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.empty()) error_ = failure.ToString();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.ambiguous;
  }
  // Did it commit? Ask once the source answers again (it may be restarting).
  for (auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
    if (EnsureConnected()) {
      PgResultPtr found(
          PQexec(conn_.get(), ("SELECT count(*) FROM wl_commits WHERE n = " + std::to_string(txn)).c_str()));
      if (found && PQresultStatus(found.get()) == PGRES_TUPLES_OK) {
        if (std::string(PQgetvalue(found.get(), 0, 0)) == "1") Apply(t);
        return true;
      }
      conn_.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) error_ = "cannot learn whether transaction " + std::to_string(txn) + " committed";
  return false;
}

void FaultWorkload::Apply(const Staged& t) {
  for (const auto& step : t.steps) {
    const RowState& r = step.row;
    switch (step.kind) {
      case Staged::Kind::kInsert:
        index_[r.rid] = live_.size();
        live_.push_back(r);
        committed_.push_back({r.rid, 0, 'c'});
        break;
      case Staged::Kind::kUpdate:
        live_[index_.at(r.rid)] = r;
        committed_.push_back({r.rid, r.version, 'u'});
        break;
      case Staged::Kind::kDelete: {
        const std::size_t at = index_.at(r.rid);
        index_.erase(r.rid);
        if (at + 1 != live_.size()) {
          live_[at] = live_.back();
          index_[live_[at].rid] = at;
        }
        live_.pop_back();
        committed_.push_back({r.rid, r.version, 'd'});
        break;
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.transactions;
  stats_.large += t.large ? 1 : 0;
  stats_.changes += static_cast<std::int64_t>(t.steps.size());
}

Status FaultWorkload::Marker() {
  Staged t;
  RowState r{next_rid_++, next_id_++, 4242, 0};
  t.sql = "INSERT INTO items VALUES (" + std::to_string(r.id) + ", " + std::to_string(r.rid) + ", " +
          std::to_string(r.acct) + ", 0, 'marker');\n";
  t.steps.push_back({Staged::Kind::kInsert, r});
  const std::size_t before = committed_.size();
  if (!Execute(t) || committed_.size() == before) return Unavailable("the marker transaction did not commit");
  return Status::Ok();
}

}  // namespace shardcast::testing
