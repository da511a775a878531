#!/bin/sh
# rpc benchmark: unary calls/s and p50/p99 latency through weft's C rpc
# server (tests/interop/rpc/rpc_interop_server) and, in the same run, through
# the same service on @grpc/grpc-js under Node (bench/rpc/node_server.js).
# One load client for both (bench/rpc/rpc_bench_client.c on weft's rpc
# client), so the server is the only thing that differs. Points: 1 and 64
# concurrent callers, SECONDS_PER seconds each (default 3) after a 0.5 s
# warm-up, ROUNDS rounds (default 2, interleaved, best kept). Also reports
# the server process CPU time per call (/proc/<pid>/stat). Prints a summary with ratios and writes $BUILD/bench/rpc.json.
# env: BUILD (build dir, default build), SECONDS_PER, SIZE (request bytes, 64).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
secs=${SECONDS_PER:-3}
size=${SIZE:-64}
mkdir -p "$BUILD/bench"
export NODE_PATH="$root/tests/interop/node_modules"

client=$BUILD/bin/rpc_bench_client
cserver=$BUILD/bin/rpc_interop_server
if [ ! -x "$client" ] || [ ! -x "$cserver" ]; then
    cmake --build "$BUILD" --target rpc_bench_client rpc_interop_server >/dev/null
fi

tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# start_server NAME CMD...: runs CMD, waits (10 s at most) for "PORT n".
start_server() {
    name=$1; shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    i=0
    while ! grep -q '^PORT ' "$tmp/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "$name server did not start:" >&2; cat "$tmp/$name.err" >&2; exit 1
        fi
        sleep 0.1
    done
    port=$(awk '/^PORT /{print $2; exit}' "$tmp/$name.out")
}
stop_server() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
}
# CPU seconds (user + system) the server process has used so far.
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$pid/stat"; }
measure() { # name concurrency round
    echo "  $1, $2 caller(s), ${secs}s (round $3/$rounds) ..." >&2
    c0=$(cpu_of)
    "$client" --target "127.0.0.1:$port" --concurrency "$2" --seconds "$secs" --size "$size" \
        --warmup-ms 500 >"$tmp/$1-$2-$3.json"
    c1=$(cpu_of)
    # the server's CPU time includes the 0.5 s warm-up: scale to the window
    echo "$c0 $c1" >"$tmp/$1-$2-$3.cpu"
}

rounds=${ROUNDS:-2}
r=1
while [ "$r" -le "$rounds" ]; do
    echo "rpc bench round $r/$rounds: C server (weft rpc)" >&2
    start_server c "$cserver" --listen 127.0.0.1:0
    measure c 1 "$r"
    measure c 64 "$r"
    stop_server
    echo "rpc bench round $r/$rounds: Node server (@grpc/grpc-js)" >&2
    start_server node node "$here/node_server.js"
    measure node 1 "$r"
    measure node 64 "$r"
    stop_server
    r=$((r + 1))
done

node - "$tmp" "$BUILD/bench/rpc.json" "$size" "$secs" "$rounds" <<'JS'
const fs = require('fs');
const [dir, out, size, secs, rounds] = process.argv.slice(2);
// best round (highest calls/s) of each point; server CPU per call from
// /proc/<pid>/stat over warm-up + window, divided by the calls of both
const get = (n, c) => {
  let best = null;
  for (let r = 1; r <= +rounds; r++) {
    const j = JSON.parse(fs.readFileSync(`${dir}/${n}-${c}-${r}.json`, 'utf8'));
    const [c0, c1] = fs.readFileSync(`${dir}/${n}-${c}-${r}.cpu`, 'utf8').trim().split(/\s+/).map(Number);
    const all = j.calls * (j.seconds + 0.5) / j.seconds;
    j.server_cpu_us_per_call = +((c1 - c0) * 1e6 / all).toFixed(1);
    j.round = r;
    if (best === null || j.rps > best.rps) best = j;
  }
  return best;
};
const points = {};
const lines = [];
const pad = (s, n) => String(s).padStart(n);
lines.push(`unary ${size}-byte echo, ${secs}s per point, same C load client for both servers`);
lines.push(`${'callers'.padEnd(8)}${pad('server', 8)}${pad('calls/s', 12)}${pad('p50 ms', 10)}${pad('p99 ms', 10)}${pad('srv CPU us/call', 17)}`);
for (const c of [1, 64]) {
  const w = get('c', c), n = get('node', c);
  for (const [name, r] of [['weft', w], ['grpc-js', n]]) {
    lines.push(`${String(c).padEnd(8)}${pad(name, 8)}${pad(r.rps.toFixed(0), 12)}${pad(r.p50_ms.toFixed(3), 10)}${pad(r.p99_ms.toFixed(3), 10)}${pad(r.server_cpu_us_per_call, 17)}`);
  }
  const ratio = {
    rps: +(w.rps / n.rps).toFixed(2),
    p50: +(n.p50_ms / w.p50_ms).toFixed(2),
    p99: +(n.p99_ms / w.p99_ms).toFixed(2),
    server_cpu: +(n.server_cpu_us_per_call / w.server_cpu_us_per_call).toFixed(2),
  };
  lines.push(`${''.padEnd(8)}${pad('ratio', 8)}${pad('x' + ratio.rps, 12)}${pad('x' + ratio.p50, 10)}${pad('x' + ratio.p99, 10)}${pad('x' + ratio.server_cpu, 17)}`);
  points[`c${c}`] = { weft: w, reference_grpc_js: n, ratio };
}
lines.push('ratio: weft over grpc-js for calls/s; grpc-js over weft for latency and server CPU (higher = weft better)');
lines.push('note: client and both servers share this machine, so calls/s at 64 callers is bounded by the client too; server CPU per call isolates the server');
console.log(lines.join('\n'));
const doc = {
  bench: 'rpc',
  description: 'unary echo calls/s and latency: weft C rpc server vs @grpc/grpc-js server, same weft C load client',
  request_bytes: +size,
  seconds_per_point: +secs,
  rounds: +rounds,
  cpus: require('os').cpus().length,
  grpc_js_version: require('@grpc/grpc-js/package.json').version,
  node_version: process.version,
  points,
};
fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${out}`);
JS
