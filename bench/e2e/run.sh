#!/bin/sh
# End-to-end benchmark through the Gateway: a weft network (1 orderer, 2 orgs
# x 1 peer, TLS, BatchTimeout 250 ms, the Node asset-transfer chaincode),
# fabric-gateway clients submitting at 50 and 200 transactions in flight.
# Writes $BUILD/bench/e2e.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
mkdir -p "$BUILD/bench"
cd "$root/tests/interop"
WEFT_NETWORK_BATCH_TIMEOUT=${WEFT_NETWORK_BATCH_TIMEOUT:-250ms} \
  WEFT_BIN="$BUILD/bin/weft" BENCH_OUT="$BUILD/bench/e2e.json" \
  NODE_PATH="$root/tests/interop/node_modules" \
  timeout 900 node "$here/bench.js"
