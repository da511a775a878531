#!/usr/bin/env bash
# Validation + commit of pre-built two-org blocks in one process (no network):
# identities from `weft crypto generate`, the genesis block from `weft
# configtx genesis`, then bench_validate generates the transactions and
# blocks and commits them, beside the parallel verifier's bound for 3
# signature checks per transaction measured in the same run.
# Writes $BUILD/bench/validate.json (or $BENCH_OUT).
# env: BUILD (default build), BENCH_TX (20000), BENCH_BLOCK (500), BENCH_REPS (1)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$root/$BUILD" ;; esac
OUT=${BENCH_OUT:-$BUILD/bench/validate.json}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  cmake --build "$BUILD" -j 2 --target weft bench_validate >/dev/null
fi
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-validate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$BUILD/bin/weft" crypto generate --config "$root/config/crypto-config.yaml" \
  --output "$tmp/crypto" >/dev/null
sed "s/@PORT@/7050/" "$root/bench/validate/configtx.yaml" >"$tmp/configtx.yaml"
(cd "$tmp" && "$BUILD/bin/weft" configtx genesis --config configtx.yaml --profile BenchChannel \
  --channel benchchannel --output genesis.block >/dev/null)
"$BUILD/bin/bench_validate" --crypto "$tmp/crypto" --genesis "$tmp/genesis.block" --out "$OUT" \
  --channel benchchannel --tx "${BENCH_TX:-20000}" --block "${BENCH_BLOCK:-500}" \
  --reps "${BENCH_REPS:-1}"
