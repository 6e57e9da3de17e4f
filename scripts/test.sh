#!/usr/bin/env bash
# Installs what is needed, builds shardcast twice (Release, and Debug with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole test suite
# against real PostgreSQL servers and the Kafka-protocol broker.
#   scripts/test.sh            both builds
#   scripts/test.sh release    one of them (release | asan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
run_suite() {
  local name=$1; shift
  echo "=== ${name}: configure and build"
  cmake -S . -B "build/${name}" -DCMAKE_BUILD_TYPE="$1" -DSHARDCAST_SANITIZE="$2" >/dev/null
  cmake --build "build/${name}" -j"${jobs}"
  echo "=== ${name}: tests"
  # Server-starting tests are heavy on 2 cores; run two at a time at most.
  (cd "build/${name}" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j2 --timeout 900)
  if [ "${name}" = "release" ] && [ -x "build/${name}/bench/micro_bench" ]; then
    echo "=== ${name}: micro-benchmarks build and run briefly"
    "build/${name}/bench/micro_bench" --benchmark_min_time=0.01 >/dev/null
  fi
  if [ "${name}" = "release" ] && [ -x "build/${name}/bench/snapshot_bench" ]; then
    # A smoke run: the benchmark still loads and checks every row (numbers: scripts/bench.sh).
    echo "=== ${name}: snapshot benchmark, smoke run"
    "build/${name}/bench/snapshot_bench" --rows 3000 --runs 1 >/dev/null
  fi
}

what=${1:-all}
case "$what" in
  release) run_suite release Release OFF ;;
  asan) run_suite asan Debug ON ;;
  all) run_suite release Release OFF; run_suite asan Debug ON ;;
  *) echo "usage: scripts/test.sh [release|asan|all]" >&2; exit 64 ;;
esac
