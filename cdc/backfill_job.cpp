#include "cdc/backfill_job.h"

#include <nlohmann/json.hpp>

namespace shardcast {

using nlohmann::json;

namespace {

json TupleJson(const std::optional<Tuple>& t) {
  if (!t) return nullptr;
  json a = json::array();
  for (const auto& v : *t) a.push_back(v.is_null() ? json(nullptr) : json(v.text));
  return a;
}

std::optional<Tuple> TupleFrom(const json& j) {
  if (j.is_null()) return std::nullopt;
  Tuple t;
  for (const auto& v : j) t.push_back(v.is_null() ? Value::Null() : Value::Text(v.get<std::string>()));
  return t;
}

JobState StateFrom(const std::string& s) {
  if (s == "running") return JobState::kRunning;
  if (s == "done") return JobState::kDone;
  if (s == "failed") return JobState::kFailed;
  return JobState::kPending;
}

}  // namespace

std::string_view JobStateName(JobState s) {
  switch (s) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
  }
  return "pending";
}

bool BackfillTable::done() const {
  for (const auto& r : ranges)
    if (!r.done) return false;
  return true;
}

std::optional<std::pair<std::size_t, std::size_t>> BackfillJob::NextRange() const {
  for (std::size_t t = 0; t < tables.size(); ++t)
    for (std::size_t r = 0; r < tables[t].ranges.size(); ++r)
      if (!tables[t].ranges[r].done) return std::make_pair(t, r);
  return std::nullopt;
}

BackfillTable WholeTable(const std::string& schema, const std::string& name) {
  BackfillTable t;
  t.schema = schema;
  t.name = name;
  t.ranges.push_back(BackfillRange{});
  return t;
}

std::string BackfillJob::ToJson() const {
  json tables_json = json::array();
  for (const auto& t : tables) {
    json ranges = json::array();
    for (const auto& r : t.ranges)
      ranges.push_back({{"after", TupleJson(r.range.after)},
                        {"upto", TupleJson(r.range.upto)},
                        {"done", r.done},
                        {"parts_done", r.parts_done}});
    tables_json.push_back({{"schema", t.schema},
                           {"name", t.name},
                           {"rows_done", t.rows_done},
                           {"rows_total", t.rows_total},
                           {"chunks_done", t.chunks_done},
                           {"ranges", ranges}});
  }
  json j = {{"version", 1},       {"id", id},
            {"kind", kind},       {"state", std::string(JobStateName(state))},
            {"error", error},     {"consistent_point", consistent_point},
            {"planned", planned}, {"tables", tables_json}};
  return j.dump();
}

StatusOr<BackfillJob> BackfillJob::FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corruption("a stored job is not valid JSON");
  try {
    BackfillJob job;
    job.id = j.at("id").get<std::string>();
    job.kind = j.at("kind").get<std::string>();
    job.state = StateFrom(j.at("state").get<std::string>());
    job.error = j.value("error", "");
    job.consistent_point = j.value("consistent_point", Lsn{0});
    job.planned = j.value("planned", false);
    for (const auto& tj : j.at("tables")) {
      BackfillTable t;
      t.schema = tj.at("schema").get<std::string>();
      t.name = tj.at("name").get<std::string>();
      t.rows_done = tj.value("rows_done", std::uint64_t{0});
      t.rows_total = tj.value("rows_total", std::uint64_t{0});
      t.chunks_done = tj.value("chunks_done", std::uint64_t{0});
      for (const auto& rj : tj.at("ranges")) {
        BackfillRange r;
        r.range.after = TupleFrom(rj.at("after"));
        r.range.upto = TupleFrom(rj.at("upto"));
        r.done = rj.value("done", false);
        r.parts_done = rj.value("parts_done", std::uint32_t{0});
        t.ranges.push_back(std::move(r));
      }
      job.tables.push_back(std::move(t));
    }
    return job;
  } catch (const json::exception& e) {
    return Corruption(std::string("a stored job does not have the expected shape: ") + e.what());
  }
}

}  // namespace shardcast
