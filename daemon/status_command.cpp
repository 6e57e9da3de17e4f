// `shardcast status`: asks the running daemon's admin API for /status and
// renders it as a table (or prints the JSON with --json).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/admin_client.h"
#include "daemon/commands.h"
#include "daemon/exit_codes.h"

namespace shardcast {

namespace {

using nlohmann::json;

std::string Bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", s);
  return buf;
}

std::string Str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}
std::uint64_t U64(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<std::uint64_t>() : 0;
}
double Num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

void PrintTable(const json& st) {
  const json src = st.value("source", json::object());
  const json ring = st.value("ring", json::object());
  std::printf("source       slot %s, %s\n", Str(src, "slot").c_str(),
              st.value("streaming", false) ? "streaming" : "NOT streaming");
  std::printf("             current %s, received %s, confirmed %s\n", Str(src, "current_lsn").c_str(),
              Str(src, "received_lsn").c_str(), Str(src, "confirmed_lsn").c_str());
  std::printf("lag          %s behind, %s\n", Bytes(U64(src, "lag_bytes")).c_str(),
              Seconds(Num(src, "lag_seconds")).c_str());
  std::printf("decoded      %llu transactions, %llu changes\n",
              static_cast<unsigned long long>(U64(st, "transactions")),
              static_cast<unsigned long long>(U64(st, "changes")));
  std::string shards;
  for (const auto& s : ring.value("shards", json::array()))
    if (s.is_string()) shards += " " + s.get<std::string>();
  std::printf("ring         epoch %llu:%s\n", static_cast<unsigned long long>(U64(ring, "epoch")),
              shards.c_str());
  if (!Str(st, "last_error").empty()) std::printf("last error   %s\n", Str(st, "last_error").c_str());
  std::printf("\n%-24s %-10s %-16s %-10s %s\n", "DESTINATION", "STATE", "DURABLE LSN", "LAG", "QUEUED");
  for (const auto& d : st.value("destinations", json::array())) {
    std::printf("%-24s %-10s %-16s %-10s %s\n", Str(d, "id").c_str(), Str(d, "state").c_str(),
                Str(d, "durable_lsn").c_str(), Seconds(Num(d, "lag_seconds")).c_str(),
                Bytes(U64(d, "queue_bytes")).c_str());
    if (!Str(d, "error").empty()) std::printf("  %s\n", Str(d, "error").c_str());
  }
}

}  // namespace

int StatusCommand(const Config& config, bool as_json) {
  auto client = AdminClient::FromConfig(config);
  if (!client.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", client.status().message().c_str());
    return ExitCodeFor(client.status());
  }
  auto got = client->Get("/status");
  if (!got.ok()) {
    std::fprintf(stderr, "shardcast: %s\n", got.status().message().c_str());
    return ExitCodeFor(got.status());
  }
  if (got->status == 401) {
    std::fprintf(stderr,
                 "shardcast: the daemon at %s refused the admin token: admin.token_file must hold the token "
                 "the daemon was started with\n",
                 client->listen().c_str());
    return kExitConfig;
  }
  const json st = json::parse(got->body, nullptr, /*allow_exceptions=*/false);
  if (got->status != 200 || !st.is_object()) {
    std::fprintf(stderr, "shardcast: /status answered HTTP %d: %s\n", got->status, got->body.c_str());
    return kExitInternal;
  }
  if (as_json) {
    std::printf("%s\n", st.dump(2).c_str());
  } else {
    PrintTable(st);
  }
  return kExitOk;
}

}  // namespace shardcast
