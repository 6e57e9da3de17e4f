// Text for following a long job (snapshot, backfill): bars, counts, rates and
// ETAs. Pure formatting, no terminal I/O, so it is unit-tested directly.
#pragma once

#include <cstdint>
#include <string>

namespace shardcast {

// One table's progress as the admin API reports it (GET /jobs/<id>).
struct TableProgress {
  std::string table;  // "public.t"
  std::string state;  // "pending", "running", "done", "failed"
  std::uint64_t rows_done = 0;
  std::uint64_t rows_total = 0;  // 0: unknown
  std::uint64_t chunks_done = 0;
  double rows_per_second = 0;
};

// "45s", "1m05s", "2h03m", "3d04h"; "?" when negative, infinite or NaN.
std::string FormatDuration(double seconds);

// 1234 -> "1,234".
std::string FormatCount(std::uint64_t n);

// "950/s", "12.3k/s", "4.5M/s"; "?/s" when negative or not finite.
std::string FormatRate(double per_second);

// Time left at the current rate: "?" when the total or the rate is unknown,
// "0s" once rows_done reaches rows_total.
std::string FormatEta(std::uint64_t done, std::uint64_t total, double per_second);

// "[#####.....]" `width` characters wide including the brackets (at least 3).
// fraction is clamped to [0, 1]; a negative or NaN one (unknown) draws an
// empty bar.
std::string RenderBar(double fraction, int width);

// One line at most `width` columns (the terminal's), e.g.
// "public.t  [#####.....]  50% 1,000/2,000 rows  500/s  ETA 2s  running".
// The bar shrinks first, then the table name is cut.
std::string FormatProgressLine(const TableProgress& p, int width);

// The same facts without a bar, for logs and pipes:
// "public.t: running 1,000/2,000 rows (50%), 2 chunks, 500/s, ETA 2s"
// (rate and ETA only while running).
std::string FormatPlainLine(const TableProgress& p);

}  // namespace shardcast
