#!/bin/sh
# Orderer benchmark: Broadcast envelopes/s through one node into committed
# blocks (signed, fsync'd), with the same run's reference: write+fsync of the
# same bytes in the same block sizes. Writes $BUILD/bench/orderer.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
mkdir -p "$BUILD/bench"
cd "$root/tests/interop"
WEFT_BIN="$BUILD/bin/weft" WEFT_SOURCE_DIR="$root" WEFT_SHARED_DIR="${WEFT_SHARED_DIR:-$root/../shared}" \
  BENCH_OUT="$BUILD/bench/orderer.json" NODE_PATH="$root/tests/interop/node_modules" \
  timeout 300 node "$here/bench.js"
