// `shardcast check`: everything that must hold before `run` can work, each
// finding on its own line with the fix, exit non-zero when any fails.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <memory>
#include <set>

#include "cdc/source_catalog.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/redact.h"
#include "daemon/sink_factory.h"
#include "daemon/source_setup.h"
#include "pq/pq_util.h"

namespace shardcast {

namespace {

class Findings {
 public:
  void Ok(const std::string& what) { std::printf("ok    %s\n", what.c_str()); }
  void Fail(const Status& s) {
    std::printf("FAIL  %s\n", s.message().c_str());
    if (worst_.ok() || s.code() == Code::kUnavailable) worst_ = s;
  }
  int ExitCode() const { return worst_.ok() ? 0 : ExitCodeFor(worst_); }

 private:
  Status worst_;
};

void CheckShard(const std::string& dest, const std::string& dsn, const std::vector<SourceTableInfo>& tables,
                Findings& f) {
  auto connected = ConnectPinned(dsn, /*replication=*/false, "shard " + dest + " (" + RedactDsn(dsn) + ")");
  if (!connected.ok()) {
    f.Fail(connected.status());
    return;
  }
  PgConnPtr conn = std::move(connected).value();
  for (const auto& t : tables) {
    const std::string qname = t.schema + "." + t.name;
    const char* params[] = {qname.c_str()};
    PgResultPtr res(
        PQexecParams(conn.get(),
                     "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
                     "AND NOT attisdropped",
                     1, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      f.Fail(Unavailable("shard " + dest + ": " + PQresultErrorMessage(res.get())));
      return;
    }
    std::set<std::string> have;
    for (int i = 0; i < PQntuples(res.get()); ++i) have.insert(PQgetvalue(res.get(), i, 0));
    if (have.empty()) {
      f.Fail(FailedPrecondition("shard " + dest + " has no table " + qname +
                                ": create it with the source's columns and primary key"));
      continue;
    }
    std::string missing;
    for (const auto& c : t.columns)
      if (!have.count(c)) missing += (missing.empty() ? "" : ", ") + c;
    if (!missing.empty())
      f.Fail(FailedPrecondition("shard " + dest + ": table " + qname + " lacks column(s) " + missing +
                                ": ALTER TABLE " + qname + " ADD COLUMN ..."));
    else
      f.Ok("shard " + dest + ": table " + qname);
  }
}

void CheckKafka(const KafkaConfig& k, Findings& f) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : k.properties)
    rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "bootstrap.servers", k.brokers.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    f.Fail(ConfigError(std::string("kafka: ") + err));
    return;
  }
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, nullptr, &md, 5000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    f.Fail(Unavailable("kafka brokers " + k.brokers + " unreachable: " + rd_kafka_err2str(e)));
  else
    f.Ok("kafka: " + std::to_string(md->broker_cnt) + " broker(s) at " + k.brokers);
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_destroy(rk);
}

}  // namespace

int CheckDeployment(const Config& config, bool create_missing) {
  Findings f;
  f.Ok("configuration " + config.path);
  if (create_missing)
    std::printf("note  --create-missing is not available yet: shard tables are only checked\n");
  auto dsn = SourceConnectDsn(config.source);
  if (!dsn.ok()) {
    f.Fail(dsn.status());
    return f.ExitCode();
  }
  auto catalog = SourceCatalog::Connect(*dsn);
  if (!catalog.ok()) {
    f.Fail(catalog.status().Prefixed("source"));
    return f.ExitCode();
  }
  auto specs = ResolveTables(config, **catalog);
  if (!specs.ok()) {
    f.Fail(specs.status());
    return f.ExitCode();
  }
  f.Ok("source: wal_level = logical, " + std::to_string(specs->size()) +
       " table(s) with primary keys and a "
       "replica identity covering their shard keys");
  std::vector<SourceTableInfo> infos;
  for (const auto& t : *specs) {
    auto info = (*catalog)->DescribeTable(t.schema, t.name);
    if (info.ok()) infos.push_back(*info);
  }
  for (const auto& shard : config.shards)
    for (const auto& [region, shard_dsn] : shard.dsn_by_region)
      CheckShard(ShardDestinationId(shard.id, region), shard_dsn, infos, f);
  if (config.kafka) CheckKafka(*config.kafka, f);
  return f.ExitCode();
}

}  // namespace shardcast
