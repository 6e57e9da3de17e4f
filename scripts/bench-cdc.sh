#!/usr/bin/env bash
# Builds shardcast in Release (no sanitizers) and runs the CDC comparison of
# issue 6: pg_recvlogical (the decode ceiling), native logical replication with
# 4 row-filtered subscriptions, and shardcast to 4 shards, to Kafka and to
# both, on the same workloads, on throwaway servers (bench/README.md). It
# regenerates the CDC section of bench/RESULTS.md from the table it prints.
#   scripts/bench-cdc.sh                          the whole comparison (about 30 minutes here)
#   scripts/bench-cdc.sh --rows 100000 --only W1  arguments go to cdc_bench
# Runs that are not the full comparison (--rows, --only, --paths, --modes,
# --no-latency) do not touch RESULTS.md unless BENCH_CDC_RESULTS=1.
# BENCH_BUILD_DIR sets the build directory (default build/bench). The output
# is also written to $BENCH_BUILD_DIR/cdc_bench.out, machine facts first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
. scripts/bench-machine.sh

build=${BENCH_BUILD_DIR:-build/bench}
cmake -S . -B "${build}" -DCMAKE_BUILD_TYPE=Release -DSHARDCAST_SANITIZE=OFF >/dev/null
cmake --build "${build}" -j"$(nproc)" --target shardcast cdc_bench

results=()
if [ $# -eq 0 ] || [ "${BENCH_CDC_RESULTS:-0}" = 1 ]; then
  results=(--results bench/RESULTS.md)
fi

out="${build}/cdc_bench.out"
{
  bench_machine_facts pg_recvlogical
  echo "=== cdc_bench $*"
} | tee "${out}"
"${build}/bench/cdc_bench" --command "scripts/bench-cdc.sh${*:+ $*}" "${results[@]}" "$@" | tee -a "${out}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "${out}"
