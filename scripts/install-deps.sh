#!/usr/bin/env bash
# Installs everything shardcast needs to build, test and run its demo, from
# the distribution's packages only. Idempotent; safe to run on every CI run.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang-format clang-tidy
  clang libclang-rt-14-dev
  libpq-dev librdkafka-dev librocksdb-dev libyaml-cpp-dev libspdlog-dev
  prometheus-cpp-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libsystemd-dev
  postgresql postgresql-contrib kcat procps python3 xxhash openssl
  prometheus
  systemd
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian postgresql package starts a cluster on 5432; tests start their
# own throwaway servers, so the packaged one is not needed.
