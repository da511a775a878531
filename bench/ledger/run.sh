#!/usr/bin/env bash
# Ledger benchmark: commit throughput, point reads, raw LMDB comparison.
# Writes $BUILD/bench/ledger.json. Usage: BUILD=build bench/ledger/run.sh [blocks] [state_keys]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j "$(nproc)" --target bench_ledger >/dev/null
mkdir -p "$BUILD/bench"
exec "$BUILD/bin/bench_ledger" "$BUILD/bench/ledger.json" "${1:-100}" "${2:-1000000}"
