#!/usr/bin/env bash
# Installs what is needed, builds shardcast twice (Release, and Debug with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole test suite
# against real PostgreSQL servers and the Kafka-protocol broker; then runs the
# libFuzzer targets (tests/fuzz) for a fixed number of inputs each.
#   scripts/test.sh            all of it
#   scripts/test.sh release    one step (release | asan | fuzz)
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
    # A benchmark whose own check fails (SkipWithError) still exits 0: look for it.
    # Google Benchmark 1.7.1 (Debian 12) takes plain seconds here, not "0.01s".
    local out
    out=$("build/${name}/bench/micro_bench" --benchmark_min_time=0.01 --benchmark_color=false)
    if grep "ERROR OCCURRED" <<<"${out}" >&2; then echo "micro_bench: a benchmark's check failed" >&2; return 1; fi
  fi
  if [ "${name}" = "release" ] && [ -x "build/${name}/bench/snapshot_bench" ]; then
    # A smoke run: the benchmark still loads and checks every row (numbers: scripts/bench.sh).
    echo "=== ${name}: snapshot benchmark, smoke run"
    "build/${name}/bench/snapshot_bench" --rows 3000 --runs 1 >/dev/null
  fi
  if [ "${name}" = "release" ] && [ -x "build/${name}/bench/cdc_bench" ]; then
    # Every path and mode on a tiny W2 (inserts, updates, deletes) and the latency runs; every
    # destination is still checked (numbers: scripts/bench-cdc.sh).
    echo "=== ${name}: CDC benchmark, smoke run"
    "build/${name}/bench/cdc_bench" --rows 1000 --only W2 --latency-seconds 1 >/dev/null
  fi
}

# The fuzz targets, built with clang, each run for a fixed number of inputs
# from its seed corpus (about a minute in all; a random seed each run, printed
# in the log). New inputs go to a scratch corpus in build/fuzz, never into
# tests/fuzz/corpus; a crash, leak, sanitizer report, broken invariant or an
# input slower than 30 s fails the step and leaves the input in
# build/fuzz/artifacts.
# Longer runs: tests/fuzz/README.md.
run_fuzz() {
  echo "=== fuzz: configure and build (clang)"
  cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DSHARDCAST_FUZZ=ON -DSHARDCAST_TESTS=OFF -DSHARDCAST_BENCH=OFF -DSHARDCAST_SANITIZE=OFF >/dev/null
  cmake --build build/fuzz -j"${jobs}" --target decoder_fuzz config_fuzz
  rm -rf build/fuzz/artifacts && mkdir -p build/fuzz/artifacts
  local spec target runs max_len
  for spec in decoder:400000:8192 config:80000:4096; do
    IFS=: read -r target runs max_len <<<"${spec}"
    echo "=== fuzz: ${target}_fuzz, ${runs} inputs"
    rm -rf "build/fuzz/corpus-${target}" && mkdir -p "build/fuzz/corpus-${target}"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build/fuzz/tests/fuzz/${target}_fuzz" -runs="${runs}" -max_len="${max_len}" -timeout=30 \
      -artifact_prefix="build/fuzz/artifacts/${target}-" \
      "build/fuzz/corpus-${target}" "tests/fuzz/corpus/${target}" 2>"build/fuzz/${target}_fuzz.log" ||
      { tail -n 60 "build/fuzz/${target}_fuzz.log" >&2; echo "fuzz: ${target}_fuzz failed;" \
          "input in build/fuzz/artifacts" >&2; return 1; }
    tail -n 1 "build/fuzz/${target}_fuzz.log"
  done
}

what=${1:-all}
case "$what" in
  release) run_suite release Release OFF ;;
  asan) run_suite asan Debug ON ;;
  fuzz) run_fuzz ;;
  all) run_suite release Release OFF; run_suite asan Debug ON; run_fuzz ;;
  *) echo "usage: scripts/test.sh [release|asan|fuzz|all]" >&2; exit 64 ;;
esac
