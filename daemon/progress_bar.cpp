#include "daemon/progress_bar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace shardcast {

namespace {

constexpr int kMinBar = 12;
constexpr int kMaxBar = 40;

std::string Printf(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

std::string Percent(const TableProgress& p) {
  if (p.rows_total == 0) return "";
  const double pct =
      std::min(100.0, 100.0 * static_cast<double>(p.rows_done) / static_cast<double>(p.rows_total));
  // Floor, so that 99.7% does not show as a finished 100%.
  return std::to_string(static_cast<int>(pct)) + "%";
}

std::string Counts(const TableProgress& p) {
  std::string s = FormatCount(p.rows_done);
  if (p.rows_total != 0) s += "/" + FormatCount(p.rows_total);
  return s + " rows";
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<std::uint64_t>(std::llround(seconds));
  char buf[48];
  if (total < 60) {
    std::snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(total));
  } else if (total < 3600) {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(total / 60),
                  static_cast<unsigned long long>(total % 60));
  } else if (total < 86400) {
    std::snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<unsigned long long>(total / 3600),
                  static_cast<unsigned long long>(total % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%llud%02lluh", static_cast<unsigned long long>(total / 86400),
                  static_cast<unsigned long long>(total % 86400 / 3600));
  }
  return buf;
}

std::string FormatCount(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatRate(double per_second) {
  if (!std::isfinite(per_second) || per_second < 0) return "?/s";
  if (per_second < 999.5) return Printf("%.0f/s", per_second);
  if (per_second < 999950) return Printf("%.1fk/s", per_second / 1e3);
  return Printf("%.1fM/s", per_second / 1e6);
}

std::string FormatEta(std::uint64_t done, std::uint64_t total, double per_second) {
  if (total == 0) return "?";
  if (done >= total) return "0s";
  if (!std::isfinite(per_second) || per_second <= 0) return "?";
  return FormatDuration(static_cast<double>(total - done) / per_second);
}

std::string RenderBar(double fraction, int width) {
  const int inner = std::max(width, 3) - 2;
  int filled = 0;
  if (std::isfinite(fraction) && fraction > 0) filled = static_cast<int>(std::min(fraction, 1.0) * inner);
  return "[" + std::string(filled, '#') + std::string(inner - filled, '.') + "]";
}

std::string FormatProgressLine(const TableProgress& p, int width) {
  std::string tail;
  const std::string pct = Percent(p);
  if (!pct.empty()) tail += pct + " ";
  tail += Counts(p) + "  " + FormatRate(p.rows_per_second) + "  ETA " +
          FormatEta(p.rows_done, p.rows_total, p.rows_per_second) + "  " + p.state;
  const double fraction = p.rows_total == 0
                              ? (p.state == "done" ? 1.0 : -1.0)
                              : static_cast<double>(p.rows_done) / static_cast<double>(p.rows_total);
  std::string name = p.table;
  const int fixed = static_cast<int>(tail.size()) + 4;  // two gaps of two spaces
  int bar = std::clamp(width - fixed - static_cast<int>(name.size()), kMinBar, kMaxBar);
  const int room_for_name = width - fixed - bar;
  if (static_cast<int>(name.size()) > room_for_name) {
    name = room_for_name > 1 ? name.substr(0, room_for_name - 1) + "~" : "";
  }
  std::string line = name + "  " + RenderBar(fraction, bar) + "  " + tail;
  // A line that wraps would break the in-place redraw, which counts lines.
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

std::string FormatPlainLine(const TableProgress& p) {
  std::string line = p.table + ": " + p.state + " " + Counts(p);
  const std::string pct = Percent(p);
  if (!pct.empty()) line += " (" + pct + ")";
  line += ", " + std::to_string(p.chunks_done) + (p.chunks_done == 1 ? " chunk" : " chunks");
  if (p.state == "running") {
    line += ", " + FormatRate(p.rows_per_second) + ", ETA " +
            FormatEta(p.rows_done, p.rows_total, p.rows_per_second);
  }
  return line;
}

}  // namespace shardcast
