#!/usr/bin/env bash
# Builds shardcast in Release (no sanitizers) and runs the snapshot benchmark:
# shardcast's initial snapshot against pg_dump --data-only | psql of the same
# tables, on throwaway PostgreSQL servers (bench/README.md).
#   scripts/bench.sh                        1M rows, 3 alternating runs of each variant
#   scripts/bench.sh --rows 200000 --runs 5 arguments go to snapshot_bench
# SHARDCAST_BENCH_ROWS also sets the rows; BENCH_BUILD_DIR the build directory
# (default build/bench). The output is also written to
# $BENCH_BUILD_DIR/snapshot_bench.out, machine facts first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
. scripts/bench-machine.sh

build=${BENCH_BUILD_DIR:-build/bench}
cmake -S . -B "${build}" -DCMAKE_BUILD_TYPE=Release -DSHARDCAST_SANITIZE=OFF >/dev/null
cmake --build "${build}" -j"$(nproc)" --target shardcast snapshot_bench

out="${build}/snapshot_bench.out"
{
  bench_machine_facts pg_dump
  echo "=== snapshot_bench $*"
} | tee "${out}"
"${build}/bench/snapshot_bench" "$@" | tee -a "${out}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "${out}"
