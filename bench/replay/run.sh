#!/usr/bin/env bash
# `weft ledger replay` of the Fabric v2.4.9 vector chain, run again and again
# on fresh ledgers for at least MIN_SECONDS (default 10) of work, beside the
# parallel verifier's bound for the same number of signature checks, measured
# in the same run. Writes $BUILD/bench/replay.json.
# Usage: BUILD=build bench/replay/run.sh [MIN_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j 2 --target weft bench_replay >/dev/null
mkdir -p "$BUILD/bench"
exec "$BUILD/bin/bench_replay" "$BUILD/bench/replay.json" "$BUILD/bin/weft" "$(pwd)/../shared" "${1:-10}"
