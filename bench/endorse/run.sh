#!/bin/sh
# Endorsement benchmark (make bench-endorse): proposals/s, p50/p99 latency
# and the peer's CPU per proposal for protos.Endorser/ProcessProposal over
# real gRPC, from a C load client (bench_endorse load, proposals pre-signed
# as User1@org1) against two weft peers (bench_endorse serve):
#   node:   chaincode "put" is the trivial Node contract bench/endorse/putcc
#           (real fabric-shim 2.5, Put(key) = one PUT_STATE), launched by
#           the peer's built-in Node launcher;
#   inproc: chaincode "put" is an in-process echo handler (launcher hook,
#           shim stream in memory) that answers one PUT_STATE and COMPLETED:
#           no chaincode at all, but the endorser's checks, simulation and
#           signing as usual, so the peer's own cost per proposal shows;
#   echo:   a unary echo on the inproc peer's gRPC server (the rpc floor).
# 1 and 64 proposals in flight, SECONDS_PER seconds each (default 3) after a
# 1 s warm-up. CPU per proposal from /proc/<pid>/stat of the peer process and
# of the Node chaincode process, sampled by the load client at the edges of
# the measured window. Prints a table and writes $BUILD/bench/endorse.json.
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
npid=
ipid=
cleanup() {
    exec 8>&- 9>&- 2>/dev/null || true
    for p in $npid $ipid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

wait_ready() { # pid outfile errfile
    i=0
    while ! grep -q '^READY ' "$2" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 300 ] || ! kill -0 "$1" 2>/dev/null; then
            echo "bench_endorse serve did not start:" >&2; cat "$3" >&2; exit 1
        fi
        sleep 0.1
    done
    awk '/^READY /{print $2; exit}' "$2"
}

mkfifo "$tmp/nin" "$tmp/iin"
"$bin" serve node "$shared" "$here/putcc" "$nm" <"$tmp/nin" >"$tmp/n.out" 2>"$tmp/n.err" &
npid=$!
exec 9>"$tmp/nin"
"$bin" serve inproc "$shared" <"$tmp/iin" >"$tmp/i.out" 2>"$tmp/i.err" &
ipid=$!
exec 8>"$tmp/iin"
nport=$(wait_ready "$npid" "$tmp/n.out" "$tmp/n.err")
iport=$(wait_ready "$ipid" "$tmp/i.out" "$tmp/i.err")

load() { # port cc concurrency seconds warmup_ms peer_pid cc_pid
    "$bin" load --target "127.0.0.1:$1" --cc "$2" --concurrency "$3" --seconds "$4" \
        --warmup-ms "$5" --shared "$shared" --peer-pid "$6" --cc-pid "$7"
}

# launch the Node chaincode and warm it up before anything is measured
echo "warming up the Node chaincode ..." >&2
load "$nport" put 4 1 2000 0 0 >/dev/null
ccpid=$(ps -o pid= --ppid "$npid" | head -1 | tr -d ' ')
[ -n "$ccpid" ] || ccpid=0
load "$iport" put 4 1 500 0 0 >/dev/null

for c in 1 64; do
    echo "  $c in flight, ${secs}s per path ..." >&2
    load "$iport" echo "$c" "$secs" 1000 "$ipid" 0 >"$tmp/echo-$c.json"
    load "$iport" put "$c" "$secs" 1000 "$ipid" 0 >"$tmp/inproc-$c.json"
    load "$nport" put "$c" "$secs" 1000 "$npid" "$ccpid" >"$tmp/node-$c.json"
done

node - "$tmp" "$BUILD/bench/endorse.json" "$secs" <<'JS'
const fs = require('fs');
const [dir, out, secs] = process.argv.slice(2);
const get = (p, c) => JSON.parse(fs.readFileSync(`${dir}/${p}-${c}.json`, 'utf8'));
const pad = (s, n) => String(s).padStart(n);
const paths = ['echo', 'inproc', 'node'];
const lines = [];
lines.push(`ProcessProposal over gRPC, ${secs}s per point, C load client, one connection`);
lines.push(`${'in flight'.padEnd(10)}${'path'.padEnd(8)}${pad('calls/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('peer CPU us', 13)}${pad('cc CPU us', 11)}${pad('peer cs', 9)}${pad('errors', 8)}`);
const points = {};
for (const c of [1, 64]) {
  const r = {};
  for (const p of paths) {
    const x = get(p, c);
    r[p] = x;
    lines.push(`${String(c).padEnd(10)}${p.padEnd(8)}${pad(x.rps.toFixed(0), 10)}${pad(x.p50_ms.toFixed(2), 9)}${pad(x.p99_ms.toFixed(2), 9)}${pad(x.peer_cpu_us ?? '-', 13)}${pad(x.chaincode_cpu_us ?? '-', 11)}${pad(x.peer_ctxsw ?? '-', 9)}${pad(x.errors, 8)}`);
  }
  r.ratio = {
    node_over_inproc_rps: +(r.node.rps / r.inproc.rps).toFixed(3),
    inproc_over_echo_rps: +(r.inproc.rps / r.echo.rps).toFixed(3),
    peer_cpu_us_over_echo: r.echo.peer_cpu_us ? +(r.inproc.peer_cpu_us / r.echo.peer_cpu_us).toFixed(1) : null,
  };
  lines.push(`${''.padEnd(10)}ratios: node/inproc x${r.ratio.node_over_inproc_rps}, inproc/echo x${r.ratio.inproc_over_echo_rps}`);
  points[`c${c}`] = r;
}
lines.push('path node: trivial Node contract (one PUT_STATE); inproc: in-process echo handler, no chaincode;');
lines.push('echo: rpc floor. peer CPU: the peer process (endorser, shim handler, simulation, signing, gRPC);');
lines.push('cc CPU: the Node chaincode process. peer cs: context switches of all peer threads per proposal.');
lines.push('The load client shares the machine.');
console.log(lines.join('\n'));
const doc = {
  bench: 'endorse',
  description: 'protos.Endorser/ProcessProposal proposals/s, latency and peer CPU per proposal: trivial Node chaincode (one PUT_STATE) vs an in-process echo handler bypassing the chaincode vs the rpc echo floor, at 1 and 64 in flight',
  seconds_per_point: +secs,
  cpus: require('os').cpus().length,
  node_version: process.version,
  fabric_shim_version: require('fabric-shim/package.json').version,
  points,
};
fs.writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${out}`);
for (const p of Object.values(points)) {
  for (const k of paths) {
    if (p[k].errors > 0 || p[k].calls === 0) {
      console.error(`errors in ${k}: ${p[k].first_error}`);
      process.exit(1);
    }
  }
}
JS
