#include "tests/e2e/feed_check.h"

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace shardcast::testing {
namespace {

constexpr std::size_t kShownPerKind = 5;

struct Position {
  std::uint64_t lsn = 0, ordinal = 0;
  bool operator<(const Position& o) const { return lsn != o.lsn ? lsn < o.lsn : ordinal < o.ordinal; }
  std::string Show() const { return std::to_string(lsn) + "/" + std::to_string(ordinal); }
};

bool ParsePosition(const std::string& text, Position* out) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return false;
  try {
    out->lsn = std::stoull(text.substr(0, slash));
    out->ordinal = std::stoull(text.substr(slash + 1));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::string Show(const FeedChange& c) {
  return std::string(1, c.op) + " rid=" + std::to_string(c.rid) + " version=" + std::to_string(c.version);
}

std::string Where(const KafkaRecord& r) {
  return "partition " + std::to_string(r.partition) + " offset " + std::to_string(r.offset);
}

// Collects problems, showing only the first few of each kind.
class Problems {
 public:
  explicit Problems(FeedReport* report) : report_(report) {}
  void Add(const std::string& kind, const std::string& text) {
    if (++counts_[kind] <= kShownPerKind) report_->problems.push_back(kind + ": " + text);
  }
  void Close() {
    for (const auto& [kind, n] : counts_)
      if (n > kShownPerKind)
        report_->problems.push_back(kind + ": " + std::to_string(n - kShownPerKind) + " more");
  }

 private:
  FeedReport* report_;
  std::map<std::string, std::size_t> counts_;
};

// The change a record describes, from its value.
bool Decode(const KafkaRecord& r, FeedChange* out, std::string* error) {
  auto v = nlohmann::json::parse(*r.value, nullptr, false);
  if (v.is_discarded() || !v.is_object() || !v.contains("op")) {
    *error = "value is not an envelope";
    return false;
  }
  const std::string op = v["op"].is_string() ? v["op"].get<std::string>() : "";
  if (op != "c" && op != "u" && op != "d") {
    *error = "unexpected op '" + op + "'";
    return false;
  }
  const auto& row = op == "d" ? v["before"] : v["after"];
  if (!row.is_object() || !row.contains("rid") || !row.contains("version") || !row["rid"].is_number() ||
      !row["version"].is_number()) {
    *error = "op " + op + " without rid and version in " + (op == "d" ? "before" : "after");
    return false;
  }
  out->op = op[0];
  out->rid = row["rid"].get<std::int64_t>();
  out->version = row["version"].get<std::int64_t>();
  return true;
}

}  // namespace

std::string FeedReport::Summary() const {
  std::string s = std::to_string(messages) + " messages, " + std::to_string(duplicates) + " replayed, " +
                  std::to_string(missing) + " missing";
  for (const auto& p : problems) s += "\n  " + p;
  return s;
}

FeedReport CheckFeed(const std::vector<KafkaRecord>& records, const std::vector<FeedChange>& expected) {
  FeedReport report;
  Problems problems(&report);
  std::map<Position, FeedChange> by_position;
  std::map<FeedChange, Position> position_of;
  std::map<std::string, Position> last_by_key;
  std::map<std::int32_t, std::int64_t> first_offset;

  for (const auto& r : records) {
    if (!first_offset.count(r.partition)) first_offset[r.partition] = r.offset;
    if (!r.value) continue;  // a tombstone
    ++report.messages;
    auto header = r.headers.find("shardcast.position");
    Position pos;
    if (header == r.headers.end() || !ParsePosition(header->second, &pos)) {
      problems.Add("no position header", Where(r));
      continue;
    }
    FeedChange change;
    std::string error;
    if (!Decode(r, &change, &error)) {
      problems.Add("undecodable", Where(r) + ": " + error);
      continue;
    }
    auto [at, fresh] = by_position.emplace(pos, change);
    if (!fresh) {
      ++report.duplicates;
      if (!(at->second == change))
        problems.Add("position names two changes",
                     pos.Show() + ": " + Show(at->second) + " and " + Show(change) + " (" + Where(r) + ")");
      continue;  // a replay: order is checked on first occurrences only
    }
    auto [known, first] = position_of.emplace(change, pos);
    if (!first)
      problems.Add("same change under two positions", Show(change) + " at " + known->second.Show() + " and " +
                                                          pos.Show() + " (" + Where(r) + ")");
    const std::string key = r.key.value_or("");
    auto last = last_by_key.find(key);
    if (last != last_by_key.end() && !(last->second < pos))
      problems.Add("out of commit order", "key " + key + ": " + pos.Show() + " after " + last->second.Show() +
                                              " (" + Where(r) + ")");
    last_by_key[key] = pos;
  }

  for (const auto& [partition, offset] : first_offset)
    if (offset > 0)
      problems.Add("broker retention dropped records",
                   "partition " + std::to_string(partition) + " starts at offset " + std::to_string(offset) +
                       ": the workload wrote more than the mock keeps; use more partitions or fewer rows");

  std::set<FeedChange> wanted(expected.begin(), expected.end());
  for (const auto& change : wanted) {
    if (position_of.count(change)) continue;
    ++report.missing;
    problems.Add("missing", Show(change));
  }
  for (const auto& [change, pos] : position_of)
    if (!wanted.count(change)) problems.Add("never committed", Show(change) + " at " + pos.Show());
  problems.Close();
  return report;
}

StatusOr<std::int64_t> SumEndOffsets(const std::string& bootstrap, const std::string& topic) {
  struct KafkaDeleter {
    void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  };
  struct MetadataDeleter {
    void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
  };
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof(errstr)) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Internal(std::string("consumer config: ") + errstr);
  }
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)));
  if (!rk) return Internal(std::string("rd_kafka_new: ") + errstr);
  // All-topics metadata: asking for one topic by name can auto-create it.
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 1, nullptr, &raw, 10000);
      err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Unavailable(std::string("metadata: ") + rd_kafka_err2str(err));
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  int partitions = -1;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (topic == md->topics[i].topic) partitions = md->topics[i].partition_cnt;
  if (partitions < 0) return NotFound("topic " + topic + " does not exist");
  std::int64_t sum = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &lo, &hi, 10000);
        err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Unavailable("watermarks of " + topic + "/" + std::to_string(p) + ": " + rd_kafka_err2str(err));
    sum += hi;
  }
  return sum;
}

}  // namespace shardcast::testing
