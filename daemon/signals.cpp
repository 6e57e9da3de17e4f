#include "daemon/signals.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <set>
#include <tuple>

#include "common/thread_util.h"
#include "daemon/logging.h"

namespace shardcast {

namespace {
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

std::string TableName(const TableConfig& t) {
  return t.schema + "." + t.name;
}

struct TablesDiff {
  std::vector<std::string> added, removed, changed;
};

TablesDiff DiffTables(const Config& running, const Config& reloaded) {
  TablesDiff d;
  for (const auto& t : reloaded.tables) {
    const TableConfig* old = FindConfiguredTable(running, TableName(t));
    if (old == nullptr)
      d.added.push_back(TableName(t));
    else if (std::tie(old->reference, old->shard_key) != std::tie(t.reference, t.shard_key))
      d.changed.push_back(TableName(t));
  }
  for (const auto& t : running.tables)
    if (FindConfiguredTable(reloaded, TableName(t)) == nullptr) d.removed.push_back(TableName(t));
  return d;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// "tables (added a, b; removed c; changed d)".
std::string TablesChange(const Config& running, const Config& reloaded) {
  const TablesDiff d = DiffTables(running, reloaded);
  std::string out;
  auto part = [&out](const char* what, const std::vector<std::string>& names) {
    if (names.empty()) return;
    out += out.empty() ? "" : "; ";
    out += std::string(what) + " " + Join(names);
  };
  part("added", d.added);
  part("removed", d.removed);
  part("changed", d.changed);
  return out.empty() ? "" : "tables (" + out + ")";
}

auto KafkaFields(const KafkaConfig& k) {
  return std::tie(k.brokers, k.prefix, k.topic, k.partition_by_shard_key, k.tombstones, k.exactly_once,
                  k.properties);
}

}  // namespace

void BlockSignals() {
  sigset_t set = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A file-size limit (ulimit -f) must fail the write with EFBIG, reported
  // like a full disk, rather than kill the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
}

Status StartSignalThread(SignalFlags* flags) {
  return StartSignalThread(flags, nullptr);
}

Status StartSignalThread(SignalFlags* flags, std::function<void()> on_stop) {
  SC_ASSIGN_OR_RETURN(std::thread t, StartThread("signals", [flags, on_stop = std::move(on_stop)] {
                        SetThreadName("signals");
                        sigset_t set = HandledSignals();
                        while (true) {
                          int sig = 0;
                          if (sigwait(&set, &sig) != 0) continue;
                          if (sig == SIGHUP) {
                            flags->reloads.fetch_add(1);
                            spdlog::info("SIGHUP received");
                          } else {
                            spdlog::info("signal {} received: stopping", sig);
                            flags->stop.store(true);
                            if (on_stop) on_stop();
                          }
                        }
                      }));
  t.detach();
  return Status::Ok();
}

std::vector<std::string> RestartOnlyChanges(const Config& a, const Config& b) {
  std::vector<std::string> keys;
  auto check = [&keys](bool differs, std::string key) {
    if (differs) keys.push_back(std::move(key));
  };
  const SourceConfig &s = a.source, &t = b.source;
  check(s.dsn != t.dsn, "source.dsn");
  check(s.password_file != t.password_file, "source.password_file");
  check(s.slot != t.slot, "source.slot");
  check(s.publication != t.publication, "source.publication");
  check(s.create != t.create, "source.create");
  check(s.heartbeat_interval != t.heartbeat_interval, "source.heartbeat_interval");
  if (std::string tables = TablesChange(a, b); !tables.empty()) keys.push_back(tables);
  check(a.vnodes_per_weight != b.vnodes_per_weight, "ring.vnodes_per_weight");
  check(a.regions != b.regions, "regions");
  auto shard = [](const ShardConfig& x) { return std::tie(x.id, x.weight, x.dsn_by_region); };
  check(!std::equal(a.shards.begin(), a.shards.end(), b.shards.begin(), b.shards.end(),
                    [&](const ShardConfig& x, const ShardConfig& y) { return shard(x) == shard(y); }),
        "shards");
  check(a.cross_shard_atomic != b.cross_shard_atomic, "cross_shard");
  if (a.kafka.has_value() != b.kafka.has_value()) {
    keys.push_back(b.kafka ? "kafka (added)" : "kafka (removed)");
  } else if (a.kafka && KafkaFields(*a.kafka) != KafkaFields(*b.kafka)) {
    keys.push_back("kafka");
  }
  check(a.snapshot_workers != b.snapshot_workers, "snapshot.workers");
  check(a.snapshot_chunk_rows != b.snapshot_chunk_rows, "snapshot.chunk_rows");
  check(a.queue_bytes != b.queue_bytes, "limits.queue_bytes");
  check(a.on_error_dead_letter != b.on_error_dead_letter, "on_error");
  check(a.max_backlog_bytes != b.max_backlog_bytes, "max_backlog_bytes");
  check(a.checkpoint_dir != b.checkpoint_dir, "checkpoint.dir");
  check(a.metrics_listen != b.metrics_listen, "metrics.listen");
  check(a.admin_listen != b.admin_listen, "admin.listen");
  check(a.admin_token_file != b.admin_token_file, "admin.token_file");
  return keys;
}

std::vector<std::string> LiveAddableTables(const Config& running, const Config& reloaded) {
  TablesDiff d = DiffTables(running, reloaded);
  if (d.added.empty() || !d.removed.empty() || !d.changed.empty()) return {};
  Config same_tables = reloaded;
  same_tables.tables = running.tables;
  if (!RestartOnlyChanges(running, same_tables).empty()) return {};
  return std::move(d.added);
}

std::optional<Config> ReloadConfig(Config* running) {
  auto loaded = LoadConfigFile(running->path);
  if (!loaded.ok()) {
    spdlog::error("reload: {}; keeping the configuration in force", loaded.status().message());
    return std::nullopt;
  }
  const Config& next = *loaded;
  if (next.log_json != running->log_json) {
    spdlog::default_logger()->set_formatter(MakeLogFormatter(next.log_json));
    spdlog::info("reload: log.format is now {}", next.log_json ? "json" : "text");
    running->log_json = next.log_json;
  }
  if (next.log_level != running->log_level) {
    const auto from = spdlog::level::from_str(running->log_level);
    const auto to = spdlog::level::from_str(next.log_level);
    // Said at a level both settings show (at least info), under the more
    // verbose of the two, so the change is always in the log.
    const auto say = std::max(spdlog::level::info, std::min(from, to));
    if (to < from) spdlog::set_level(to);
    spdlog::log(say, "reload: log.level {} -> {}", running->log_level, next.log_level);
    if (to >= from) spdlog::set_level(to);
    running->log_level = next.log_level;
  }
  std::vector<std::string> keys = RestartOnlyChanges(*running, next);
  if (keys.empty()) {
    spdlog::info("reload: {} applied", running->path);
    return std::nullopt;
  }
  if (const auto added = LiveAddableTables(*running, next); !added.empty()) {
    spdlog::info("reload: table(s) {} added; restarting the stream session to include them", Join(added));
    running->tables = next.tables;
    return next;
  }
  spdlog::warn("reload: changed settings that cannot be applied live: {}; a restart applies them",
               Join(keys));
  return std::nullopt;
}

}  // namespace shardcast
