#!/usr/bin/env bash
# Ledger benchmark: commit throughput, point reads, raw LMDB comparison
# (bench_ledger.c says what each figure counts). Writes $BUILD/bench/ledger.json.
# Usage: BUILD=build bench/ledger/run.sh [blocks=100] [state_keys=1000000] [rounds=3] [random|seq]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j "$(nproc)" --target bench_ledger >/dev/null
mkdir -p "$BUILD/bench"
exec "$BUILD/bin/bench_ledger" "$BUILD/bench/ledger.json" "${1:-100}" "${2:-1000000}" "${3:-3}" "${4:-random}"
