// Measuring instruments: a kept-open libpq connection, peak RSS from /proc,
// Kafka end offsets and a latency consumer, and the latency histogram.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>

#include "bench/cdc/cdc_bench.h"

namespace shardcast::bench {

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ---- Conn

StatusOr<std::unique_ptr<Conn>> Conn::Open(const std::string& dsn) {
  std::unique_ptr<Conn> c(new Conn());
  c->conn_ = PQconnectdb(dsn.c_str());
  if (c->conn_ == nullptr || PQstatus(c->conn_) != CONNECTION_OK)
    return Unavailable("connecting to " + dsn + ": " + (c->conn_ ? PQerrorMessage(c->conn_) : "no memory"));
  // NOTICEs ("created replication slot ...") would clutter the output.
  PQsetNoticeProcessor(
      c->conn_, [](void*, const char*) {}, nullptr);
  return c;
}

Conn::~Conn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

StatusOr<PGresult*> Conn::Run(const std::string& sql) {
  PGresult* res = PQexec(conn_, sql.c_str());
  const ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn_);
    if (res) PQclear(res);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return FailedPrecondition(msg + " (SQL: " + sql.substr(0, 200) + ")");
  }
  return res;
}

Status Conn::Exec(const std::string& sql) {
  SC_ASSIGN_OR_RETURN(PGresult * res, Run(sql));
  PQclear(res);
  return Status::Ok();
}

StatusOr<std::string> Conn::Scalar(const std::string& sql) {
  SC_ASSIGN_OR_RETURN(PGresult * res, Run(sql));
  std::string v;
  if (PQntuples(res) > 0 && PQnfields(res) > 0) v = PQgetvalue(res, 0, 0);
  PQclear(res);
  return v;
}

StatusOr<std::vector<std::vector<std::string>>> Conn::Rows(const std::string& sql) {
  SC_ASSIGN_OR_RETURN(PGresult * res, Run(sql));
  std::vector<std::vector<std::string>> rows(static_cast<std::size_t>(PQntuples(res)));
  for (int i = 0; i < PQntuples(res); ++i)
    for (int j = 0; j < PQnfields(res); ++j) rows[i].emplace_back(PQgetvalue(res, i, j));
  PQclear(res);
  return rows;
}

// ---- RSS

std::int64_t ReadVmHwmKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// ---- Latency histogram

void Latency::Add(double ms, std::int64_t n) {
  buckets[static_cast<std::int64_t>(std::floor(ms * 10))] += n;
}

std::int64_t Latency::count() const {
  std::int64_t n = 0;
  for (const auto& [b, c] : buckets) n += c;
  return n;
}

double Latency::Percentile(double p) const {
  const std::int64_t n = count();
  if (n == 0) return -1;
  const auto rank = static_cast<std::int64_t>(std::ceil(p * static_cast<double>(n)));
  std::int64_t seen = 0;
  for (const auto& [b, c] : buckets) {
    seen += c;
    if (seen >= rank) return (static_cast<double>(b) + 0.5) / 10;  // the bucket's middle
  }
  return (static_cast<double>(buckets.rbegin()->first) + 0.5) / 10;
}

// ---- Kafka

namespace {

StatusOr<rd_kafka_t*> NewClient(const std::string& bootstrap, rd_kafka_type_t type,
                                const std::string& group) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const std::string& v) {
    return rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK;
  };
  if (!set("bootstrap.servers", bootstrap) || !set("log_level", "3") ||
      (!group.empty() && (!set("group.id", group) || !set("enable.auto.commit", "false") ||
                          !set("fetch.wait.max.ms", "5") || !set("enable.partition.eof", "true")))) {
    rd_kafka_conf_destroy(conf);
    return Internal(std::string("kafka config: ") + err);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);  // owns conf on success
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Internal(std::string("rd_kafka_new: ") + err);
  }
  return rk;
}

// "2026-01-02T01:04:05.123456Z" -> microseconds since the epoch.
bool ParseIsoMicros(const char* s, std::int64_t* out) {
  int y, mo, d, h, mi, sec;
  char frac[16] = {0};
  if (std::sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%15[0-9]", &y, &mo, &d, &h, &mi, &sec, frac) < 6) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::int64_t us = 0;
  int digits = 0;
  for (const char* f = frac; *f != '\0' && digits < 6; ++f, ++digits) us = us * 10 + (*f - '0');
  for (; digits < 6; ++digits) us *= 10;
  *out = static_cast<std::int64_t>(timegm(&tm)) * 1'000'000 + us;
  return true;
}

}  // namespace

StatusOr<std::unique_ptr<KafkaOffsets>> KafkaOffsets::Open(const std::string& bootstrap) {
  std::unique_ptr<KafkaOffsets> k(new KafkaOffsets());
  SC_ASSIGN_OR_RETURN(rd_kafka_t * rk, NewClient(bootstrap, RD_KAFKA_PRODUCER, ""));
  k->rk_ = rk;
  return k;
}

KafkaOffsets::~KafkaOffsets() {
  if (rk_ != nullptr) rd_kafka_destroy(static_cast<rd_kafka_t*>(rk_));
}

StatusOr<std::int64_t> KafkaOffsets::EndOffsetSum(const std::string& topic, int partitions) {
  std::int64_t sum = 0;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(static_cast<rd_kafka_t*>(rk_), topic.c_str(), p, &lo, &hi, 5000);
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return 0;  // not created yet
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Unavailable("watermarks of " + topic + "/" + std::to_string(p) + ": " + rd_kafka_err2str(e));
    sum += hi;
  }
  return sum;
}

struct KafkaLatencyReader::Impl {
  rd_kafka_t* rk = nullptr;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> seen{0};
  std::atomic<int> eofs{0};  // partitions that reported their end: the consumer is fetching
  Latency latency;           // written by the thread until it is joined
  ~Impl() {
    stop = true;
    if (thread.joinable()) thread.join();
    if (rk != nullptr) {
      rd_kafka_consumer_close(rk);
      rd_kafka_destroy(rk);
    }
  }
  void Run() {
    while (!stop) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
      if (m == nullptr) continue;
      // Receive time first: parsing is not part of the latency.
      const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) ++eofs;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != nullptr) {
        const std::string v(static_cast<const char*>(m->payload), m->len);
        const std::size_t after = v.find("\"after\":{");
        const std::size_t ts = after == std::string::npos ? after : v.find("\"ts\":\"", after);
        std::int64_t row_us = 0;
        if (ts != std::string::npos && ParseIsoMicros(v.c_str() + ts + 6, &row_us)) {
          latency.Add(static_cast<double>(now_us - row_us) / 1000.0);
          ++seen;
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
};

StatusOr<std::unique_ptr<KafkaLatencyReader>> KafkaLatencyReader::Start(const std::string& bootstrap,
                                                                        const std::string& topic,
                                                                        int partitions) {
  std::unique_ptr<KafkaLatencyReader> r(new KafkaLatencyReader());
  r->impl_ = std::make_unique<Impl>();
  SC_ASSIGN_OR_RETURN(r->impl_->rk, NewClient(bootstrap, RD_KAFKA_CONSUMER, "cdc-bench-latency"));
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t e = rd_kafka_assign(r->impl_->rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return Internal(std::string("assign: ") + rd_kafka_err2str(e));
  Impl* impl = r->impl_.get();
  r->impl_->thread = std::thread([impl] { impl->Run(); });
  // Ready once every partition has been fetched up to its (empty) end, so the
  // consumer's start-up is not counted as latency of the first records.
  const auto until = Clock::now() + std::chrono::seconds(30);
  while (impl->eofs < partitions) {
    if (Clock::now() > until) return Unavailable("the latency consumer of " + topic + " did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return r;
}

KafkaLatencyReader::~KafkaLatencyReader() = default;

std::int64_t KafkaLatencyReader::seen() const {
  return impl_->seen;
}

Latency KafkaLatencyReader::Finish() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  return impl_->latency;
}

}  // namespace shardcast::bench
