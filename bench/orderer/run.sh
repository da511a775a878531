#!/bin/sh
# Orderer benchmark (bench.js): 1-node and 3-node Raft clusters with TLS,
# loaded by the C client orderer_load, beside the parallel verifier's rate
# measured in the same run (bench_crypto). Writes $BUILD/bench/orderer.json.
# env: BUILD (default build), BENCH_ENVELOPES (40000), BENCH_STREAMS (8),
# BENCH_WINDOW (512), BENCH_NODES (1 or 3: only that cluster), BENCH_PERF (dir: perf profile).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
mkdir -p "$BUILD/bench"
cmake --build "$BUILD" --target weft orderer_load bench_crypto >/dev/null
cd "$root/tests/interop"
WEFT_BIN="$BUILD/bin/weft" WEFT_SOURCE_DIR="$root" BENCH_OUT="$BUILD/bench/orderer.json" \
  NODE_PATH="$root/tests/interop/node_modules" FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-warn}" \
  timeout 600 node "$here/bench.js"
