#!/usr/bin/env bash
# Spindle vs redis-server, side by side on this machine: redis-benchmark against each in turn
# (A B A B ...), medians, ratios, latency, server CPU per request and memory per key.
# Usage: scripts/bench.sh [ROUNDS]   (default 3). Needs redis-server and redis-benchmark
# (apt-get install redis-server redis-tools); never fails on a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "bench: installing redis-server and redis-tools" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
cargo build --release -q --bin spindle --example ceiling --example loadgen
exec python3 scripts/bench.py --rounds "${1:-3}"
