// The five paths. Each owns its slot (or subscriptions with their slots),
// its destination databases and topics, named by its tag, so paths that read
// the same retained workload one after another do not interfere.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/cdc/cdc_bench.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/subprocess.h"

namespace shardcast::bench {

namespace {

using namespace std::chrono_literals;

constexpr int kShards = 4;
constexpr int kPartitions = 4;
// Starting a path (slot creation, a daemon's empty snapshot) takes seconds.
constexpr auto kStartLimit = 120s;

// Drops a slot once no one holds it (a walsender may take a moment to go).
void DropSlot(Env& env, const std::string& db, const std::string& slot) {
  const auto until = Clock::now() + 30s;
  while (Clock::now() < until) {
    auto rows =
        env.source->Query(db, "SELECT active FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
    if (!rows.ok() || rows->empty()) return;
    if (rows->at(0).at(0).value_or("t") == "f") {
      (void)env.source->Exec(db, "SELECT pg_drop_replication_slot('" + slot + "')");
    }
    std::this_thread::sleep_for(100ms);
  }
}

// Four shard databases on the shard server, with kept-open connections.
class PgDestinations {
 public:
  PgDestinations(Env& env, std::string tag) : env_(env), tag_(std::move(tag)) {}
  ~PgDestinations() { Drop(); }

  std::string Db(int i) const { return tag_ + "_s" + std::to_string(i); }
  std::string Dsn(int i) const { return env_.shards->Dsn(Db(i)); }

  Status Create() {
    for (int i = 0; i < kShards; ++i) {
      SC_RETURN_IF_ERROR(env_.shards->CreateDatabase(Db(i)));
      created_ = i + 1;
      SC_RETURN_IF_ERROR(env_.shards->Exec(Db(i), DestinationDdl()));
      SC_ASSIGN_OR_RETURN(auto c, Conn::Open(Dsn(i)));
      conns_.push_back(std::move(c));
    }
    return Status::Ok();
  }

  Conn& conn(int i) { return *conns_[static_cast<std::size_t>(i)]; }

  StatusOr<bool> HasMarkers(const Written& w) {
    std::int64_t n = 0;
    for (auto& c : conns_) {
      SC_ASSIGN_OR_RETURN(std::string v, c->Scalar("SELECT count(*) FROM bench_marker"));
      n += std::stoll(v);
    }
    return n >= w.markers;
  }

  // The rows summed over the shards equal the source's, and every shard has
  // marker rows (so completion by markers saw every shard's stream).
  Status Verify(const Written& w, const std::string& path) {
    std::int64_t rows = 0;
    for (int i = 0; i < kShards; ++i) {
      SC_ASSIGN_OR_RETURN(std::string r, conn(i).Scalar("SELECT count(*) FROM bench_rows"));
      SC_ASSIGN_OR_RETURN(std::string m, conn(i).Scalar("SELECT count(*) FROM bench_marker"));
      if (std::stoll(m) == 0) return Internal(path + ": shard " + Db(i) + " received no marker row");
      if (std::stoll(r) == 0 && w.source_rows > 100)
        return Internal(path + ": shard " + Db(i) + " has no rows");
      rows += std::stoll(r);
    }
    if (rows != w.source_rows) {
      return Internal(path + ": the shards hold " + std::to_string(rows) + " rows, the source " +
                      std::to_string(w.source_rows));
    }
    return Status::Ok();
  }

  // arrived - ts of every row, in 0.1 ms buckets, summed over the shards.
  StatusOr<Latency> MeasureLatency() {
    Latency lat;
    for (auto& c : conns_) {
      SC_ASSIGN_OR_RETURN(auto rows,
                          c->Rows("SELECT floor(extract(epoch FROM arrived - ts) * 10000)::bigint b, "
                                  "count(*) FROM bench_rows GROUP BY b"));
      for (const auto& r : rows) lat.buckets[std::stoll(r[0])] += std::stoll(r[1]);
    }
    return lat;
  }

  void Drop() {
    conns_.clear();
    for (int i = 0; i < created_; ++i)
      (void)env_.shards->Exec("postgres", "DROP DATABASE IF EXISTS " + Db(i) + " WITH (FORCE)");
    created_ = 0;
  }

 private:
  Env& env_;
  std::string tag_;
  int created_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// (a) pg_recvlogical to /dev/null: the decode ceiling.
class CeilingPath : public Path {
 public:
  CeilingPath(Env& env, std::string db, std::string tag)
      : env_(env), db_(std::move(db)), tag_(std::move(tag)) {}
  ~CeilingPath() override { Cleanup(); }
  std::string name() const override { return "a pg_recvlogical"; }

  Status Prepare(bool live) override {
    live_ = live;
    SC_RETURN_IF_ERROR(
        env_.source->Exec(db_, "CREATE PUBLICATION " + tag_ + " FOR TABLE bench_rows, bench_marker"));
    SC_RETURN_IF_ERROR(testing::RunProcess(
        {env_.pg_bin_dir + "/pg_recvlogical", "-d", Dsn(), "-S", tag_, "--create-slot", "-P", "pgoutput"},
        env_.work_dir + "/" + tag_ + ".log"));
    slot_ = true;
    if (!live) return Status::Ok();
    // Live: no end position yet; the walsender's sent_lsn tells when it got there.
    SC_RETURN_IF_ERROR(Spawn({}));
    const auto until = Clock::now() + kStartLimit;
    for (;;) {
      SC_ASSIGN_OR_RETURN(auto rows, env_.source->Query(db_,
                                                        "SELECT active FROM pg_replication_slots WHERE "
                                                        "slot_name = '" +
                                                            tag_ + "'"));
      if (!rows.empty() && rows[0][0].value_or("") == "t") return Status::Ok();
      if (Clock::now() > until) return Internal(name() + ": pg_recvlogical did not start streaming");
      std::this_thread::sleep_for(20ms);
    }
  }

  Status Start(const Written& w) override { return Spawn(w.end_lsn); }

  StatusOr<bool> Complete(const Written& w) override {
    if (live_) {
      if (!poll_) {
        SC_ASSIGN_OR_RETURN(poll_, Conn::Open(env_.source->Dsn(db_)));
      }
      SC_ASSIGN_OR_RETURN(std::string v,
                          poll_->Scalar("SELECT r.sent_lsn >= '" + w.end_lsn +
                                        "'::pg_lsn FROM pg_stat_replication r JOIN pg_replication_slots s "
                                        "ON s.active_pid = r.pid WHERE s.slot_name = '" +
                                        tag_ + "'"));
      return v == "t";
    }
    if (pid_ < 0) return exit_status_ == 0;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return false;
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (exit_status_ != 0)
      return Internal(name() + ": pg_recvlogical exited with " + std::to_string(exit_status_));
    return true;
  }

  Status Stop() override {
    if (pid_ > 0) testing::TerminateAndReap(pid_, 5000ms);
    pid_ = -1;
    poll_.reset();
    return Status::Ok();
  }

  Status Verify(const Written&) override {
    if (!live_ && exit_status_ != 0) return Internal(name() + ": did not reach the end position");
    return Status::Ok();
  }

  void Cleanup() override {
    (void)Stop();
    if (slot_) DropSlot(env_, db_, tag_);
    slot_ = false;
  }

 private:
  std::string Dsn() const { return env_.source->Dsn(db_); }

  Status Spawn(const std::string& endpos) {
    std::vector<std::string> argv = {env_.pg_bin_dir + "/pg_recvlogical",
                                     "-d",
                                     Dsn(),
                                     "-S",
                                     tag_,
                                     "--start",
                                     "-P",
                                     "pgoutput",
                                     "-o",
                                     "proto_version=1",
                                     "-o",
                                     "publication_names=" + tag_,
                                     "-f",
                                     "/dev/null"};
    if (!endpos.empty()) argv.push_back("--endpos=" + endpos);
    const int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return IoError("open /dev/null");
    auto pid = testing::SpawnWithStdio(argv, fd);
    close(fd);
    if (!pid.ok()) return pid.status();
    pid_ = *pid;
    exit_status_ = -1;
    return Status::Ok();
  }

  Env& env_;
  std::string db_, tag_;
  bool live_ = false, slot_ = false;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  std::unique_ptr<Conn> poll_;
};

// (b) native logical replication: 4 publications filtered on a hash of the
// shard key, one subscription each on its shard database.
class NativePath : public Path {
 public:
  NativePath(Env& env, std::string db, std::string tag)
      : env_(env), db_(std::move(db)), tag_(std::move(tag)), dest_(env, tag_) {}
  ~NativePath() override { Cleanup(); }
  std::string name() const override { return "b native 4 subs"; }

  Status Prepare(bool live) override {
    SC_RETURN_IF_ERROR(dest_.Create());
    for (int i = 0; i < kShards; ++i) {
      const std::string filter = " WHERE ((hashint8(shard_key) & 3) = " + std::to_string(i) + ")";
      SC_RETURN_IF_ERROR(env_.source->Exec(db_, "CREATE PUBLICATION " + Sub(i) + " FOR TABLE bench_rows" +
                                                    filter + ", bench_marker" + filter));
      SC_RETURN_IF_ERROR(dest_.conn(i).Exec(
          "CREATE SUBSCRIPTION " + Sub(i) + " CONNECTION '" + env_.source->Dsn(db_) + "' PUBLICATION " +
          Sub(i) + " WITH (copy_data = false, enabled = " + (live ? "true" : "false") + ")"));
      subs_ = i + 1;
    }
    if (live) return WaitStreaming();
    return Status::Ok();
  }

  Status Start(const Written&) override {
    for (int i = 0; i < kShards; ++i)
      SC_RETURN_IF_ERROR(dest_.conn(i).Exec("ALTER SUBSCRIPTION " + Sub(i) + " ENABLE"));
    return Status::Ok();
  }

  StatusOr<bool> Complete(const Written& w) override { return dest_.HasMarkers(w); }

  Status Stop() override {
    for (int i = 0; i < subs_; ++i)
      SC_RETURN_IF_ERROR(dest_.conn(i).Exec("ALTER SUBSCRIPTION " + Sub(i) + " DISABLE"));
    return Status::Ok();
  }

  Status Verify(const Written& w) override { return dest_.Verify(w, name()); }
  StatusOr<Latency> MeasureLatency() override { return dest_.MeasureLatency(); }

  void Cleanup() override {
    // Detach the slots first: DROP SUBSCRIPTION would fail while a walsender still holds one.
    for (int i = 0; i < subs_; ++i) {
      (void)dest_.conn(i).Exec("ALTER SUBSCRIPTION " + Sub(i) + " DISABLE");
      (void)dest_.conn(i).Exec("ALTER SUBSCRIPTION " + Sub(i) + " SET (slot_name = NONE)");
      (void)dest_.conn(i).Exec("DROP SUBSCRIPTION " + Sub(i));
    }
    for (int i = 0; i < subs_; ++i) DropSlot(env_, db_, Sub(i));
    subs_ = 0;
    dest_.Drop();
  }

 private:
  std::string Sub(int i) const { return tag_ + "_" + std::to_string(i); }

  Status WaitStreaming() {
    const auto until = Clock::now() + kStartLimit;
    for (;;) {
      SC_ASSIGN_OR_RETURN(auto rows, env_.source->Query(db_,
                                                        "SELECT count(*) FROM pg_replication_slots WHERE "
                                                        "active AND slot_name LIKE '" +
                                                            tag_ + "\\_%'"));
      if (rows[0][0].value_or("0") == std::to_string(kShards)) return Status::Ok();
      if (Clock::now() > until) return Internal(name() + ": the subscriptions did not start streaming");
      std::this_thread::sleep_for(20ms);
    }
  }

  Env& env_;
  std::string db_, tag_;
  PgDestinations dest_;
  int subs_ = 0;
};

// (c), (d), (e): the shardcast binary with a generated config.
class ShardcastPath : public Path {
 public:
  ShardcastPath(Env& env, std::string db, std::string tag, bool shards, bool kafka)
      : env_(env),
        db_(std::move(db)),
        tag_(std::move(tag)),
        shards_(shards),
        kafka_(kafka),
        dest_(env, tag_) {}
  ~ShardcastPath() override { Cleanup(); }
  std::string name() const override {
    return shards_ && kafka_ ? "e shardcast both" : shards_ ? "c shardcast 4 shards" : "d shardcast kafka";
  }

  Status Prepare(bool live) override {
    dir_ = env_.work_dir + "/" + tag_;
    std::filesystem::create_directories(dir_);
    if (shards_) SC_RETURN_IF_ERROR(dest_.Create());
    if (kafka_) {
      SC_RETURN_IF_ERROR(env_.broker->CreateTopic(RowsTopic(), kPartitions));
      SC_RETURN_IF_ERROR(env_.broker->CreateTopic(MarkerTopic(), kPartitions));
      SC_ASSIGN_OR_RETURN(offsets_, KafkaOffsets::Open(env_.broker->bootstrap()));
    }
    SC_RETURN_IF_ERROR(WriteConfig());
    created_ = true;
    // The first start creates the slot and takes an (empty) initial snapshot.
    SC_RETURN_IF_ERROR(StartDaemon("prepare"));
    const auto until = Clock::now() + kStartLimit;
    while (daemon_->Log().find("streaming from slot") == std::string::npos) {
      if (!daemon_->Running()) return Failed("exited while starting");
      if (Clock::now() > until) return Failed("did not start streaming");
      std::this_thread::sleep_for(20ms);
    }
    if (live) return Status::Ok();
    return Stop();
  }

  Status Start(const Written&) override { return StartDaemon("run"); }

  StatusOr<bool> Complete(const Written& w) override {
    if (daemon_ && !daemon_->Running()) return Failed("exited before the destinations had everything");
    if (shards_) {
      SC_ASSIGN_OR_RETURN(bool pg, dest_.HasMarkers(w));
      if (!pg) return false;
    }
    if (kafka_) {
      SC_ASSIGN_OR_RETURN(std::int64_t rows, offsets_->EndOffsetSum(RowsTopic(), kPartitions));
      if (rows < w.kafka_records()) return false;
      SC_ASSIGN_OR_RETURN(std::int64_t markers, offsets_->EndOffsetSum(MarkerTopic(), kPartitions));
      if (markers < w.markers) return false;
    }
    return true;
  }

  std::int64_t PeakRssKib() override { return daemon_ ? ReadVmHwmKib(daemon_->pid()) : -1; }

  Status Stop() override {
    if (!daemon_) return Status::Ok();
    auto daemon = std::move(daemon_);
    SC_ASSIGN_OR_RETURN(int code, daemon->Terminate(120));
    if (code != 0) return Failed("exited with " + std::to_string(code) + " on SIGTERM");
    return Status::Ok();
  }

  Status Verify(const Written& w) override {
    if (shards_) SC_RETURN_IF_ERROR(dest_.Verify(w, name()));
    if (kafka_) {
      // At-least-once: more would be repeats (none expected without faults), fewer a loss.
      SC_ASSIGN_OR_RETURN(std::int64_t rows, offsets_->EndOffsetSum(RowsTopic(), kPartitions));
      if (rows != w.kafka_records()) {
        return Internal(name() + ": " + RowsTopic() + " holds " + std::to_string(rows) +
                        " records, expected " + std::to_string(w.kafka_records()));
      }
    }
    return Status::Ok();
  }

  StatusOr<Latency> MeasureLatency() override {
    if (shards_) return dest_.MeasureLatency();
    return Internal(name() + ": Kafka latency is measured by the consumer");
  }

  void Cleanup() override {
    if (daemon_) daemon_->Kill9();
    daemon_.reset();
    if (created_) {
      DropSlot(env_, db_, tag_);
      (void)env_.source->Exec(db_, "DROP PUBLICATION IF EXISTS " + tag_);
    }
    created_ = false;
    offsets_.reset();
    dest_.Drop();
  }

  std::string KafkaOnlyTopic() const override { return kafka_ && !shards_ ? RowsTopic() : ""; }

 private:
  std::string RowsTopic() const { return tag_ + ".public.bench_rows"; }
  std::string MarkerTopic() const { return tag_ + ".public.bench_marker"; }

  Status Failed(const std::string& what) const {
    return Internal(name() + ": shardcast " + what + "; log " + log_path_ + ":\n" +
                    testing::FileTail(log_path_));
  }

  Status WriteConfig() {
    std::string y = "source:\n  dsn: \"" + env_.source->Dsn(db_) + "\"\n";
    y += "  slot: " + tag_ + "\n  publication: " + tag_ + "\n";
    y += "tables:\n";
    for (const char* t : {"bench_rows", "bench_marker"})
      y += std::string("  - name: public.") + t + "\n    shard_key: [shard_key]\n";
    if (shards_) {
      y += "shards:\n";
      for (int i = 0; i < kShards; ++i)
        y += "  - id: s" + std::to_string(i) + "\n    dsn: \"" + dest_.Dsn(i) + "\"\n";
    }
    if (kafka_) y += "kafka:\n  brokers: \"" + env_.broker->bootstrap() + "\"\n  prefix: " + tag_ + "\n";
    SC_ASSIGN_OR_RETURN(int admin_port, testing::FreeLoopbackPort());
    int metrics_port = admin_port;
    while (metrics_port == admin_port) {
      SC_ASSIGN_OR_RETURN(metrics_port, testing::FreeLoopbackPort());
    }
    y += "checkpoint: { dir: " + dir_ + "/checkpoint }\n";
    y += "admin: { listen: \"127.0.0.1:" + std::to_string(admin_port) + "\" }\n";
    y += "metrics: { listen: \"127.0.0.1:" + std::to_string(metrics_port) + "\" }\n";
    y += "log: { level: info }\n";
    config_path_ = dir_ + "/shardcast.yaml";
    std::ofstream(config_path_) << y;
    return Status::Ok();
  }

  Status StartDaemon(const std::string& what) {
    log_path_ = dir_ + "/shardcast-" + what + ".log";
    SC_ASSIGN_OR_RETURN(daemon_, testing::DaemonProcess::Start({"run", "-c", config_path_}, log_path_));
    return Status::Ok();
  }

  Env& env_;
  std::string db_, tag_;
  bool shards_, kafka_;
  PgDestinations dest_;
  bool created_ = false;
  std::string dir_, config_path_, log_path_;
  std::unique_ptr<testing::DaemonProcess> daemon_;
  std::unique_ptr<KafkaOffsets> offsets_;
};

}  // namespace

std::unique_ptr<Path> MakePath(char letter, Env& env, const std::string& source_db, const std::string& tag) {
  const std::string t = tag + "_" + std::string(1, letter);
  switch (letter) {
    case 'a':
      return std::make_unique<CeilingPath>(env, source_db, t);
    case 'b':
      return std::make_unique<NativePath>(env, source_db, t);
    case 'c':
      return std::make_unique<ShardcastPath>(env, source_db, t, true, false);
    case 'd':
      return std::make_unique<ShardcastPath>(env, source_db, t, false, true);
    case 'e':
      return std::make_unique<ShardcastPath>(env, source_db, t, true, true);
    default:
      return nullptr;
  }
}

}  // namespace shardcast::bench
