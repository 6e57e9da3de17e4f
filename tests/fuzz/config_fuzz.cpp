// libFuzzer target for the config loader (daemon/config.h ParseConfig): any
// text is YAML to load and validate, in memory (nothing is read or written on
// disk). Errors are expected and must be kConfig Status values naming the
// origin; a crash, an escaped exception, a leak or undefined behaviour is a
// finding, and so is a config accepted without what loading promises.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "daemon/config.h"

namespace {

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "config_fuzz: broken promise: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace shardcast;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto r = ParseConfig(text, "fuzz.yaml");
  if (!r.ok()) {
    Require(r.status().code() == Code::kConfig, "an error other than kConfig");
    Require(r.status().message().rfind("fuzz.yaml", 0) == 0, "an error that does not name the file");
    return 0;
  }
  const Config& c = *r;
  Require(!c.regions.empty(), "no regions after load");
  Require(!c.shards.empty() || c.kafka.has_value(), "a config without destinations");
  Require(!c.source.dsn.empty(), "no source dsn");
  for (const auto& s : c.shards) {
    Require(!s.id.empty() && s.weight > 0, "a shard without id or weight");
    Require(s.dsn_by_region.count(c.primary_region()) == 1, "a shard without a primary-region dsn");
  }
  for (const auto& t : c.tables) {
    Require(!t.schema.empty() && !t.name.empty(), "a table without schema or name");
    Require(FindConfiguredTable(c, t.schema + "." + t.name) != nullptr, "a loaded table is not found");
  }
  Require(c.queue_bytes >= (1u << 20), "queue_bytes below 1MiB");
  return 0;
}
