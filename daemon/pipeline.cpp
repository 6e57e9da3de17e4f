#include "daemon/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "cdc/source_catalog.h"
#include "cdc/watermark_window.h"
#include "daemon/admin_endpoints.h"
#include "daemon/shard_identity.h"
#include "daemon/sink_factory.h"
#include "daemon/source_setup.h"
#include "daemon/stream_session.h"
#include "pq/pq_util.h"

namespace shardcast {

using std::chrono::milliseconds;

namespace {

// Errors that a later attempt may not hit: a server that is down or a
// connection that broke. Everything else needs a person.
bool Retryable(const Status& s) {
  return s.code() == Code::kUnavailable;
}

// The database name for the Debezium "db" field, parsed by libpq like any DSN.
std::string DbNameOf(const std::string& dsn) {
  auto params = PinnedParams(dsn, /*replication=*/false);
  if (!params.ok()) return "";
  for (const auto& [key, value] : *params)
    if (key == "dbname") return value;
  return "";
}

}  // namespace

Pipeline::Pipeline(Config config, const std::atomic<bool>* stop)
    : config_(std::move(config)), stop_(stop), published_(std::make_shared<const Config>(config_)) {}
Pipeline::~Pipeline() {
  if (admin_) admin_->Stop();
}

Status Pipeline::StartAdmin() {
  SC_ASSIGN_OR_RETURN(std::string token, ReadAdminToken(config_.admin_token_file));
  admin_ = std::make_unique<AdminServer>(config_.admin_listen, token);
  auto config = [this] {
    std::lock_guard lock(reload_mu_);
    return published_;
  };
  RegisterAdminEndpoints(*admin_, AdminContext{config, store_.get(), &hold_, &board_, &status_});
  SC_RETURN_IF_ERROR(admin_->Start().Prefixed("admin.listen"));
  spdlog::info("admin API listening on {}", config_.admin_listen);
  return Status::Ok();
}

void Pipeline::RequestTablesReload(Config reloaded) {
  std::lock_guard lock(reload_mu_);
  pending_tables_ = std::move(reloaded.tables);
  restart_session_.store(true);
}

std::vector<TableConfig> Pipeline::tables_in_force() const {
  std::lock_guard lock(reload_mu_);
  return published_->tables;
}

std::optional<std::vector<TableConfig>> Pipeline::TakeReload() {
  std::lock_guard lock(reload_mu_);
  auto tables = std::move(pending_tables_);
  pending_tables_.reset();
  restart_session_.store(false);
  return tables;
}

void Pipeline::PublishConfig() {
  auto copy = std::make_shared<const Config>(config_);
  std::lock_guard lock(reload_mu_);
  published_ = std::move(copy);
}

void Pipeline::ReportAddedTables(const Config& before) const {
  std::vector<std::string> added;
  for (const auto& t : config_.tables) {
    const std::string name = t.schema + "." + t.name;
    if (FindConfiguredTable(before, name) == nullptr) added.push_back(name);
  }
  const std::string cfg = config_.path.empty() ? "FILE" : config_.path;
  if (!config_.source.create) {
    // Nothing adds them for us: changes of a table the publication lacks never arrive.
    std::vector<std::string> missing;
    auto conn = ConnectPinned(source_dsn_, false, "the source");
    for (const auto& name : added) {
      if (!conn.ok()) break;
      const auto dot = name.find('.');
      auto res = ExecSql(
          conn->get(),
          "SELECT 1 FROM pg_publication_tables WHERE pubname = " + QuoteLiteral(config_.source.publication) +
              " AND schemaname = " + QuoteLiteral(name.substr(0, dot)) +
              " AND tablename = " + QuoteLiteral(name.substr(dot + 1)),
          "reading the publication");
      if (res.ok() && PQntuples(res->get()) == 0) missing.push_back(name);
    }
    std::string list;
    for (const auto& name : missing) {
      const auto dot = name.find('.');
      list += (list.empty() ? "" : ", ") + QuoteIdent(name.substr(0, dot)) + "." +
              QuoteIdent(name.substr(dot + 1));
    }
    if (!conn.ok())
      spdlog::warn("reload: source.create is false: publication {} must include the added table(s) ({})",
                   config_.source.publication, conn.status().ToString());
    else if (!missing.empty())
      spdlog::warn(
          "reload: source.create is false and publication {} does not include the added table(s): their "
          "changes do not arrive until the publication's owner runs ALTER PUBLICATION {} ADD TABLE {};",
          config_.source.publication, QuoteIdent(config_.source.publication), list);
  }
  // As on a restart: only the first start takes a snapshot, later tables are
  // streamed from now on.
  for (const auto& name : added)
    spdlog::warn(
        "reload: existing rows of {} (written before it joined the publication) are not on the shards nor in "
        "the feed; seed them with: shardcast snapshot -c {} --table {} (the shard tables must exist: "
        "shardcast check -c {} --create-missing creates them)",
        name, cfg, name, cfg);
}

bool Pipeline::SleepUnlessStopped(milliseconds d) const {
  for (auto waited = milliseconds(0); waited < d; waited += milliseconds(50)) {
    if (stop_->load()) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return !stop_->load();
}

Status Pipeline::Prepare() {
  SC_ASSIGN_OR_RETURN(source_dsn_, SourceConnectDsn(config_.source));
  SC_ASSIGN_OR_RETURN(auto catalog, SourceCatalog::Connect(source_dsn_));
  SC_ASSIGN_OR_RETURN(tables_, ResolveTables(config_, *catalog));
  SC_ASSIGN_OR_RETURN(std::string sysid, catalog->SystemIdentifier());
  SC_ASSIGN_OR_RETURN(auto stored_sysid, store_->GetMeta("source.system_identifier"));
  if (stored_sysid && *stored_sysid != sysid)
    return ConfigError("checkpoint.dir " + config_.checkpoint_dir +
                       " belongs to another source: it was written for system identifier " + *stored_sysid +
                       ", but source.dsn reaches system identifier " + sysid +
                       ". Point checkpoint.dir at this source's directory (or an empty one, which starts "
                       "over with an initial snapshot), or source.dsn at the source it belongs to");
  SC_ASSIGN_OR_RETURN(DatabaseIdentity source_identity, ReadDatabaseIdentity(source_dsn_, "the source"));
  SC_RETURN_IF_ERROR(CheckShardsAreNotTheSource(config_, source_identity));
  if (!stored_sysid) SC_RETURN_IF_ERROR(store_->PutMeta("source.system_identifier", sysid));
  if (config_.source.create) {
    std::vector<std::pair<std::string, std::string>> names;
    for (const auto& t : tables_) names.emplace_back(t.schema, t.name);
    // Backfill watermarks travel through the stream: the signal table is published too.
    SC_RETURN_IF_ERROR(catalog->Exec(kSignalTableDdl).Prefixed("creating shardcast.signal on the source"));
    names.emplace_back(kSignalSchema, kSignalTable);
    SC_RETURN_IF_ERROR(catalog->EnsurePublication(config_.source.publication, names));
  }
  SC_ASSIGN_OR_RETURN(auto rings, store_->LoadRings());
  const std::string definition = RingDefinition(config_);
  if (rings.empty()) {
    SC_RETURN_IF_ERROR(store_->PutRing(1, {definition, 0}));
  } else if (rings.rbegin()->second.definition != definition) {
    return ConfigError(
        "shards: the configured shard set (" + definition + ") differs from the ring in force (" +
        rings.rbegin()->second.definition +
        "); changing shards needs online rebalancing, not a config edit: restore the shards list");
  }
  SC_ASSIGN_OR_RETURN(Ring ring, RingFromConfig(config_));
  ring_ = std::make_shared<const Ring>(std::move(ring));
  router_ = std::make_unique<Router>(tables_, ring_);
  source_db_ = DbNameOf(source_dsn_);
  return Status::Ok();
}

Status Pipeline::Run() {
  auto store = CheckpointStore::Open(config_.checkpoint_dir);
  if (!store.ok()) return store.status().Prefixed("opening the checkpoint store");
  store_ = std::move(store).value();
  SC_ASSIGN_OR_RETURN(metrics_, Metrics::Start(config_.metrics_listen));
  board_.AttachMetrics(metrics_.get());
  status_.AttachMetrics(metrics_.get());
  metrics_->DeclareRegions(config_.regions);
  SC_RETURN_IF_ERROR(StartAdmin());

  milliseconds backoff(500);
  std::string last_error;
  bool prepared = false;
  std::optional<Config> before_reload;     // the configuration in force while a reload is applied
  std::unique_ptr<SourceSampler> sampler;  // source lag, from the first Prepare on
  while (!stop_->load()) {
    if (auto tables = TakeReload()) {
      if (!before_reload) before_reload = config_;
      config_.tables = std::move(*tables);
      prepared = false;
    }
    Status s = prepared ? Status::Ok() : Prepare();
    if (!s.ok() && before_reload && !Retryable(s)) {
      // A table the source lacks (or without a primary key...) must not
      // stop a daemon that was streaming: back to the tables in force.
      spdlog::error("reload: {}; keeping the tables in force", s.ToString());
      config_ = std::move(*before_reload);
      before_reload.reset();
      continue;
    }
    if (s.ok() && !prepared) {
      auto dlq = MakeDeadLetterQueue(config_, tables_, source_db_);
      if (!dlq.ok()) return dlq.status().Prefixed("on_error: dead_letter");
      dead_letter_ = std::move(*dlq);
      sampler = std::make_unique<SourceSampler>(source_dsn_, config_.source.slot, &status_);
      if (Status started = sampler->Start(); !started.ok()) spdlog::warn("{}", started.ToString());
      // /ring answers from here on, before a session publishes.
      DaemonStatus st = status_.Get();
      st.slot = config_.source.slot;
      st.ring_epoch = ring_->epoch();
      st.ring_vnodes_per_weight = ring_->vnodes_per_weight();
      st.ring_shards.clear();
      for (const auto& shard : ring_->shards())
        st.ring_shards.push_back(shard.id + ":" + std::to_string(shard.weight));
      status_.Publish(std::move(st));
      PublishConfig();
      if (before_reload) {
        ReportAddedTables(*before_reload);
        before_reload.reset();
        spdlog::info("reload: applied; streaming {} table(s)", tables_.size());
      }
    }
    if (s.ok()) {
      prepared = true;
      SessionShared shared{&hold_, &board_, dead_letter_.get(), &status_};
      shared.restart = &restart_session_;
      StreamSession session(config_, source_dsn_, source_db_, *router_, *store_, stop_, shared);
      const auto started = std::chrono::steady_clock::now();
      s = session.Run();
      // Stopped on request: SIGTERM ends Run, a reload goes round again.
      if (s.ok() && (stop_->load() || !restart_session_.load())) return s;
      if (s.ok()) continue;
      // A session that streamed for a while starts the backoff over.
      if (std::chrono::steady_clock::now() - started > std::chrono::minutes(1)) backoff = milliseconds(500);
    }
    if (!Retryable(s)) return s;
    {
      // /readyz and /status say why nothing streams while this retries.
      DaemonStatus st = status_.Get();
      st.streaming = false;
      st.last_error = s.ToString();
      metrics_->Publish(st);
      status_.Publish(std::move(st));
    }
    // Log each state change once, not once per retry.
    if (s.message() != last_error) spdlog::warn("{}; retrying with backoff", s.ToString());
    last_error = s.message();
    if (!SleepUnlessStopped(backoff)) break;
    backoff = std::min(backoff * 2, milliseconds(30000));
  }
  return Status::Ok();
}

}  // namespace shardcast
