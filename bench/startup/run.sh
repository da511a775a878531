#!/bin/sh
# Start-up benchmark: time from `weft network up` to a ready network (3
# orderers, 2 orgs x 2 peers, TLS, the Node asset-transfer chaincode) and the
# resident memory of each process type (orderer, peer, chaincode) idle and
# under a Gateway submit load. Targets: ready < 15 s, idle peer < 30 MB.
# Prints a table and writes $BUILD/bench/startup.json. Knobs (environment):
# ORDERERS ORGS PEERS RUNS IDLE_SECONDS LOAD_SECONDS LOAD_INFLIGHT BENCH_OUT.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
mkdir -p "$BUILD/bench"
WEFT_BIN="$BUILD/bin/weft"
dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-startup-XXXXXX")
rmdir "$dir" # `weft network up` makes it
# Whatever happens (error, timeout, ^C), the network is stopped and removed.
cleanup() {
    if [ -d "$dir" ]; then "$WEFT_BIN" network down --dir "$dir" >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$root/tests/interop"
WEFT_BIN="$WEFT_BIN" BENCH_DIR="$dir" BENCH_OUT="${BENCH_OUT:-$BUILD/bench/startup.json}" \
  NODE_PATH="$root/tests/interop/node_modules" \
  timeout 900 node "$here/bench.js"
