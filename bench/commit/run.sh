#!/usr/bin/env bash
# Validate+commit benchmark over the Fabric v2.4.9 vector chain, beside the
# parallel verifier's raw rate measured in the same run.
# Writes $BUILD/bench/commit.json. Usage: BUILD=build bench/commit/run.sh [repetitions]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j 2 --target bench_commit >/dev/null
mkdir -p "$BUILD/bench"
exec "$BUILD/bin/bench_commit" "$BUILD/bench/commit.json" "${1:-10}" "$(pwd)/../shared"
