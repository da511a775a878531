#!/bin/sh
# Endorsement benchmark (make bench-endorse): endorsements/s and p50/p99
# latency of protos.Endorser/ProcessProposal over real gRPC, from a C load
# client (bench_endorse load, proposals pre-signed as User1@org1) against a
# weft peer (bench_endorse serve) running
#   asset: the Node asset-transfer sample (real fabric-shim, CreateAsset:
#          GET_STATE + 2 PUT_STATE + event), launched by the peer;
#   noop:  a C chaincode over the shim stream (CCaaS, one PUT_STATE);
#   echo:  a unary echo on the same gRPC server (the rpc floor).
# 1 and 32 proposals in flight, SECONDS_PER seconds each (default 3) after a
# 1 s warm-up. CPU per call from /proc/<pid>/stat of the peer process (which
# also hosts the no-op C chaincode) and of the Node chaincode process.
# Prints a summary with ratios and writes $BUILD/bench/endorse.json.
# env: BUILD (default build), SECONDS_PER.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
secs=${SECONDS_PER:-3}
shared=$(cd "$root/../shared" && pwd)
nm="$root/tests/interop/node_modules"
export NODE_PATH="$nm"
mkdir -p "$BUILD/bench"
bin=$BUILD/bin/bench_endorse
if [ ! -x "$bin" ]; then
    cmake --build "$BUILD" --target bench_endorse >/dev/null
fi

tmp=$(mktemp -d)
spid=
cleanup() {
    exec 9>&- 2>/dev/null || true
    if [ -n "$spid" ]; then
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkfifo "$tmp/in"
"$bin" serve "$shared" "$root/samples/chaincode/asset-transfer" "$nm" <"$tmp/in" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
spid=$!
exec 9>"$tmp/in"
i=0
while ! grep -q '^READY ' "$tmp/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 300 ] || ! kill -0 "$spid" 2>/dev/null; then
        echo "bench_endorse serve did not start:" >&2; cat "$tmp/serve.err" >&2; exit 1
    fi
    sleep 0.1
done
port=$(awk '/^READY /{print $2; exit}' "$tmp/serve.out")

cpu_of() { # pid -> CPU seconds used so far (0 if gone)
    if [ -r "/proc/$1/stat" ]; then
        awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"
    else
        echo 0
    fi
}
load() { # cc concurrency seconds warmup_ms
    "$bin" load --target "127.0.0.1:$port" --cc "$1" --concurrency "$2" --seconds "$3" \
        --warmup-ms "$4" --shared "$shared"
}

# launch the Node chaincode and warm it up before anything is measured
echo "warming up the Node chaincode ..." >&2
load asset 4 1 2000 >/dev/null
ccpid=$(ps -o pid= --ppid "$spid" | head -1 | tr -d ' ')
[ -n "$ccpid" ] || ccpid=0

for cc in echo noop asset; do
    for c in 1 32; do
        echo "  $cc, $c in flight, ${secs}s ..." >&2
        p0=$(cpu_of "$spid"); n0=$(cpu_of "$ccpid")
        load "$cc" "$c" "$secs" 1000 >"$tmp/$cc-$c.json"
        p1=$(cpu_of "$spid"); n1=$(cpu_of "$ccpid")
        echo "$p0 $p1 $n0 $n1" >"$tmp/$cc-$c.cpu"
    done
done

node - "$tmp" "$BUILD/bench/endorse.json" "$secs" <<'JS'
const fs = require('fs');
const [dir, out, secs] = process.argv.slice(2);
const get = (cc, c) => {
  const j = JSON.parse(fs.readFileSync(`${dir}/${cc}-${c}.json`, 'utf8'));
  const [p0, p1, n0, n1] = fs.readFileSync(`${dir}/${cc}-${c}.cpu`, 'utf8').trim().split(/\s+/).map(Number);
  // CPU was sampled over warm-up (1 s) + window: scale calls to that span
  const calls = j.calls * (j.seconds + 1) / j.seconds;
  j.peer_cpu_us_per_call = calls > 0 ? +((p1 - p0) * 1e6 / calls).toFixed(1) : null;
  j.chaincode_cpu_us_per_call = cc === 'asset' && calls > 0 ? +((n1 - n0) * 1e6 / calls).toFixed(1) : null;
  return j;
};
const pad = (s, n) => String(s).padStart(n);
const lines = [];
lines.push(`ProcessProposal over gRPC, ${secs}s per point, C load client, one connection`);
lines.push(`${'in flight'.padEnd(10)}${'path'.padEnd(8)}${pad('calls/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('peer CPU us', 13)}${pad('cc CPU us', 11)}${pad('errors', 8)}`);
const points = {};
for (const c of [1, 32]) {
  const r = { echo: get('echo', c), noop: get('noop', c), asset: get('asset', c) };
  for (const cc of ['echo', 'noop', 'asset']) {
    const x = r[cc];
    lines.push(`${String(c).padEnd(10)}${cc.padEnd(8)}${pad(x.rps.toFixed(0), 10)}${pad(x.p50_ms.toFixed(2), 9)}${pad(x.p99_ms.toFixed(2), 9)}${pad(x.peer_cpu_us_per_call ?? '-', 13)}${pad(x.chaincode_cpu_us_per_call ?? '-', 11)}${pad(x.errors, 8)}`);
  }
  const ratio = {
    node_over_noop_rps: +(r.asset.rps / r.noop.rps).toFixed(3),
    noop_over_echo_rps: +(r.noop.rps / r.echo.rps).toFixed(3),
    node_over_echo_rps: +(r.asset.rps / r.echo.rps).toFixed(3),
  };
  lines.push(`${''.padEnd(10)}ratios: node/noop x${ratio.node_over_noop_rps}, noop/echo x${ratio.noop_over_echo_rps}, node/echo x${ratio.node_over_echo_rps}`);
  points[`c${c}`] = { ...r, ratio };
}
lines.push('peer CPU: the peer process (endorser, shim handler, ledger simulation, signing; for noop also the in-process C chaincode);');
lines.push('cc CPU: the Node chaincode process. The load client shares the machine.');
console.log(lines.join('\n'));
const doc = {
  bench: 'endorse',
  description: 'protos.Endorser/ProcessProposal endorsements/s and latency: Node asset-transfer (CreateAsset) vs a no-op C chaincode over the shim stream vs the rpc echo floor',
  seconds_per_point: +secs,
  cpus: require('os').cpus().length,
  node_version: process.version,
  fabric_shim_version: require('fabric-shim/package.json').version,
  points,
};
fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${out}`);
for (const p of Object.values(points)) {
  for (const cc of ['echo', 'noop', 'asset']) {
    if (p[cc].errors > 0 || p[cc].calls === 0) {
      console.error(`errors in ${cc}: ${p[cc].first_error}`);
      process.exit(1);
    }
  }
}
JS
