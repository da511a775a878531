#!/usr/bin/env bash
# Catch-up benchmark (bench.js): a fresh `weft peer start` joins a channel
# whose orderer (`weft orderer start`, TLS) already holds N two-org endorsed
# transactions (put there by catchup_load over Broadcast), then pulls,
# validates and commits them; tx/s, CPU ms per tx and peak RSS of that peer,
# beside the parallel verifier's bound for 3 signature checks per
# transaction measured in the same run. Writes $BUILD/bench/catchup.json.
# env: BUILD (default build), BENCH_TX (20000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
mkdir -p "$BUILD/bench"
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cmake --build "$BUILD" -j 2 --target weft catchup_load >/dev/null
fi
cd "$root/tests/interop"
WEFT_BIN="$BUILD/bin/weft" WEFT_SOURCE_DIR="$root" BENCH_OUT="${BENCH_OUT:-$BUILD/bench/catchup.json}" \
  NODE_PATH="$root/tests/interop/node_modules" FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-warn}" \
  timeout 900 node "$here/bench.js"
