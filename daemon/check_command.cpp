// `shardcast check`: everything that must hold before `run` can work, each
// finding on its own line with the fix, exit non-zero when any fails.
#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <memory>

#include "cdc/source_catalog.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"
#include "daemon/redact.h"
#include "daemon/shard_schema.h"
#include "daemon/sink_factory.h"
#include "daemon/source_setup.h"
#include "pq/pq_util.h"

namespace shardcast {

namespace {

class Findings {
 public:
  void Ok(const std::string& what) { std::printf("ok    %s\n", what.c_str()); }
  void Note(const std::string& what) { std::printf("note  %s\n", what.c_str()); }
  void Add(const SchemaFinding& finding) {
    switch (finding.kind) {
      case SchemaFinding::Kind::kOk:
        return Ok(finding.message);
      case SchemaFinding::Kind::kNote:
        return Note(finding.message);
      case SchemaFinding::Kind::kFail:
        return Fail(FailedPrecondition(finding.message));
    }
  }
  void Fail(const Status& s) {
    std::printf("FAIL  %s\n", s.message().c_str());
    if (worst_.ok() || s.code() == Code::kUnavailable) worst_ = s;
  }
  int ExitCode() const { return worst_.ok() ? 0 : ExitCodeFor(worst_); }

 private:
  Status worst_;
};

void CheckShard(const std::string& dest, const std::string& dsn, const std::vector<TableDef>& tables,
                bool create_missing, Findings& f) {
  auto connected = ConnectPinned(dsn, /*replication=*/false, "shard " + dest + " (" + RedactDsn(dsn) + ")");
  if (!connected.ok()) {
    f.Fail(connected.status());
    return;
  }
  for (const auto& finding : CheckShardSchemas(connected->get(), dest, tables, create_missing))
    f.Add(finding);
}

// The source role streams (REPLICATION or superuser) and reads every
// configured table (snapshots, backfill and verify SELECT from them).
void CheckSourcePrivileges(const std::string& dsn, const std::vector<TableSpec>& specs, Findings& f) {
  auto conn = ConnectPinned(dsn, /*replication=*/false, "the source");
  if (!conn.ok()) {
    f.Fail(conn.status());
    return;
  }
  auto role =
      ExecSql(conn->get(),
              "SELECT current_user, rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user",
              "reading the source role");
  if (!role.ok() || PQntuples(role->get()) != 1) {
    f.Fail(role.ok() ? Internal("source: the current role is not in pg_roles") : role.status());
    return;
  }
  const std::string name = PQgetvalue(role->get(), 0, 0);
  bool all_ok = true;
  if (PQgetvalue(role->get(), 0, 1)[0] != 't') {
    all_ok = false;
    f.Fail(FailedPrecondition(
        "source role " + name +
        " has neither REPLICATION nor SUPERUSER, so it cannot stream changes: ALTER ROLE " +
        QuoteIdent(name) + " REPLICATION"));
  }
  for (const auto& t : specs) {
    // By oid: resolving a name in a schema the role may not use would fail.
    auto may = ExecSql(conn->get(),
                       "SELECT has_schema_privilege(n.oid, 'USAGE'), has_table_privilege(c.oid, 'SELECT')"
                       " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE n.nspname = " +
                           QuoteLiteral(t.schema) + " AND c.relname = " + QuoteLiteral(t.name),
                       "reading privileges on " + t.QualifiedName());
    if (!may.ok()) {
      f.Fail(may.status().Prefixed("source"));
      return;
    }
    if (PQntuples(may->get()) != 1) continue;  // dropped since it was resolved: nothing to grant
    const bool usage = PQgetvalue(may->get(), 0, 0)[0] == 't';
    const bool select = PQgetvalue(may->get(), 0, 1)[0] == 't';
    if (usage && select) continue;
    all_ok = false;
    std::string fix;
    if (!usage) fix += "GRANT USAGE ON SCHEMA " + QuoteIdent(t.schema) + " TO " + QuoteIdent(name) + "; ";
    if (!select)
      fix += "GRANT SELECT ON " + QuoteIdent(t.schema) + "." + QuoteIdent(t.name) + " TO " + QuoteIdent(name);
    if (fix.ends_with("; ")) fix.resize(fix.size() - 2);
    f.Fail(FailedPrecondition("source role " + name + " cannot read " + t.QualifiedName() +
                              ", which snapshots and verify need: " + fix));
  }
  if (all_ok)
    f.Ok("source role " + name + " may replicate and read the " + std::to_string(specs.size()) + " table(s)");
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
  CheckSourcePrivileges(*dsn, *specs, f);
  std::vector<TableDef> defs;
  for (const auto& t : *specs) {
    auto def = (*catalog)->DescribeColumns(t.schema, t.name);
    if (!def.ok()) {
      f.Fail(def.status().Prefixed("source"));
      return f.ExitCode();
    }
    defs.push_back(std::move(*def));
  }
  for (const auto& shard : config.shards)
    for (const auto& [region, shard_dsn] : shard.dsn_by_region)
      CheckShard(ShardDestinationId(shard.id, region), shard_dsn, defs, create_missing, f);
  if (config.kafka) CheckKafka(*config.kafka, f);
  return f.ExitCode();
}

}  // namespace shardcast
