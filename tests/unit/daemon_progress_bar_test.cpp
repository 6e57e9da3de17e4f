#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "daemon/progress_bar.h"

namespace shardcast {
namespace {

TEST(ProgressBar, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(45.4), "45s");
  EXPECT_EQ(FormatDuration(59.6), "1m00s");
  EXPECT_EQ(FormatDuration(65), "1m05s");
  EXPECT_EQ(FormatDuration(3599), "59m59s");
  EXPECT_EQ(FormatDuration(3600 * 2 + 180), "2h03m");
  EXPECT_EQ(FormatDuration(86400 * 3 + 3600 * 4), "3d04h");
  EXPECT_EQ(FormatDuration(-1), "?");
  EXPECT_EQ(FormatDuration(std::numeric_limits<double>::infinity()), "?");
  EXPECT_EQ(FormatDuration(std::nan("")), "?");
}

TEST(ProgressBar, CountsAndRates) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatRate(0), "0/s");
  EXPECT_EQ(FormatRate(950), "950/s");
  EXPECT_EQ(FormatRate(12345), "12.3k/s");
  EXPECT_EQ(FormatRate(4.5e6), "4.5M/s");
  EXPECT_EQ(FormatRate(-3), "?/s");
}

TEST(ProgressBar, Eta) {
  EXPECT_EQ(FormatEta(0, 0, 100), "?");      // total unknown
  EXPECT_EQ(FormatEta(10, 100, 0), "?");     // rate unknown
  EXPECT_EQ(FormatEta(100, 100, 0), "0s");   // finished needs no rate
  EXPECT_EQ(FormatEta(150, 100, 10), "0s");  // total was an estimate
  EXPECT_EQ(FormatEta(0, 650, 10), "1m05s");
}

TEST(ProgressBar, Bars) {
  EXPECT_EQ(RenderBar(0, 12), "[..........]");
  EXPECT_EQ(RenderBar(0.5, 12), "[#####.....]");
  EXPECT_EQ(RenderBar(1, 12), "[##########]");
  EXPECT_EQ(RenderBar(7, 12), "[##########]");
  EXPECT_EQ(RenderBar(-1, 12), "[..........]");
  EXPECT_EQ(RenderBar(0.5, 0), "[.]");  // never narrower than 3
}

TEST(ProgressBar, LineFitsTheWidth) {
  TableProgress p{"public.orders", "running", 1000, 2000, 2, 500};
  const std::string line = FormatProgressLine(p, 100);
  EXPECT_LE(line.size(), 100u);
  EXPECT_EQ(line.rfind("public.orders  [", 0), 0u) << line;
  EXPECT_NE(line.find("50% 1,000/2,000 rows  500/s  ETA 2s  running"), std::string::npos) << line;
  // Half the bar is filled.
  const size_t open = line.find('['), close = line.find(']');
  const std::string bar = line.substr(open + 1, close - open - 1);
  EXPECT_EQ(std::count(bar.begin(), bar.end(), '#'), static_cast<long>(bar.size() / 2));

  // Narrow: the bar shrinks to its minimum, then the name is cut.
  const std::string narrow = FormatProgressLine(p, 70);
  EXPECT_EQ(narrow.size(), 70u) << narrow;
  EXPECT_NE(narrow.find("~  ["), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("running"), std::string::npos) << narrow;
  EXPECT_LE(FormatProgressLine(p, 20).size(), 20u);
}

TEST(ProgressBar, UnknownTotal) {
  TableProgress p{"public.t", "running", 1234, 0, 1, 0};
  const std::string line = FormatProgressLine(p, 100);
  EXPECT_NE(line.find("1,234 rows  0/s  ETA ?  running"), std::string::npos) << line;
  EXPECT_EQ(line.find('%'), std::string::npos) << line;
  EXPECT_EQ(line.find('#'), std::string::npos) << line;
  // A finished table of unknown size draws a full bar.
  p.state = "done";
  const std::string done = FormatProgressLine(p, 100);
  const size_t open = done.find('['), close = done.find(']');
  EXPECT_EQ(done.substr(open + 1, close - open - 1), std::string(close - open - 1, '#')) << done;
}

TEST(ProgressBar, PlainLine) {
  TableProgress p{"public.t", "running", 1000, 2000, 1, 500};
  EXPECT_EQ(FormatPlainLine(p), "public.t: running 1,000/2,000 rows (50%), 1 chunk, 500/s, ETA 2s");
  p.state = "done";
  p.rows_done = 2000;
  p.chunks_done = 4;
  EXPECT_EQ(FormatPlainLine(p), "public.t: done 2,000/2,000 rows (100%), 4 chunks");
  p.rows_total = 0;
  EXPECT_EQ(FormatPlainLine(p), "public.t: done 2,000 rows, 4 chunks");
  p.rows_total = 3;
  p.rows_done = 2;
  p.state = "running";
  EXPECT_EQ(FormatPlainLine(p), "public.t: running 2/3 rows (66%), 4 chunks, 500/s, ETA 0s");
}

}  // namespace
}  // namespace shardcast
