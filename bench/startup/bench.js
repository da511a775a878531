'use strict';
// bench/startup: wall time of `weft network up` until the network is ready
// (every node healthy, channel joined, chaincode committed and answering:
// `up` returns), with the time of each of its steps, and the resident memory
// of each process type (orderer, peer, the peers' Node chaincode processes)
// idle and under a Gateway submit load. Targets (issue 8): ready in under
// 15 s for 3 orderers and 2 orgs x 2 peers; an idle peer under 30 MB.
//
// Environment: WEFT_BIN, BENCH_OUT (JSON path), BENCH_DIR (state folder of
// the network; run.sh removes it with `weft network down` on exit),
// ORDERERS / ORGS / PEERS (shape, default 3/2/2), RUNS (network up/down
// cycles timed, default 2; memory is read on the last), IDLE_SECONDS (5),
// LOAD_SECONDS (15, 0 = no load phase), LOAD_INFLIGHT (50).
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const WEFT = process.env.WEFT_BIN;
const DIR = process.env.BENCH_DIR || path.join(os.tmpdir(), `weft-startup-${process.pid}`);
const SHAPE = { orderers: Number(process.env.ORDERERS || 3), orgs: Number(process.env.ORGS || 2),
    peers: Number(process.env.PEERS || 2) };
const RUNS = Number(process.env.RUNS || 2);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS || 5);
const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 15);
const LOAD_INFLIGHT = Number(process.env.LOAD_INFLIGHT || 50);
const TARGET_READY_S = 15;
const TARGET_IDLE_PEER_MB = 30;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- /proc ---------------------------------------------------------------

function procStatus(pid) {
    try {
        const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = (k) => { const m = s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')); return m ? Number(m[1]) : null; };
        let pss = null;
        try {
            const r = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+)/m);
            pss = r ? Number(r[1]) : null;
        } catch { /* not readable */ }
        return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile'),
            threads: kb('Threads'), pss };
    } catch { return null; }
}

function childrenOf(pids) {
    const out = [];
    for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const f = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
            const ppid = Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[1]);
            if (pids.includes(ppid)) out.push(Number(d));
        } catch { /* gone */ }
    }
    return out;
}

// Processes of the running network by type: weft nodes from network.json,
// chaincode = children of the peers.
function processes(info) {
    const byType = { orderer: [], peer: [] };
    for (const n of info.nodes) {
        const pid = Number(fs.readFileSync(n.pidFile, 'utf8'));
        byType[n.role].push({ name: n.name, pid });
    }
    byType.chaincode = childrenOf(byType.peer.map((p) => p.pid)).map((pid) => ({ name: `cc-${pid}`, pid }));
    return byType;
}

// Samples every process every 250 ms for `ms`; per process the largest
// VmRSS seen, and the last full status.
async function sample(procs, ms) {
    const peak = new Map();
    const last = new Map();
    const end = Date.now() + ms;
    do {
        for (const list of Object.values(procs)) {
            for (const p of list) {
                const st = procStatus(p.pid);
                if (!st) continue;
                last.set(p.pid, st);
                peak.set(p.pid, Math.max(peak.get(p.pid) || 0, st.rss));
            }
        }
        await sleep(250);
    } while (Date.now() < end);
    const out = {};
    for (const [type, list] of Object.entries(procs)) {
        const rows = list.filter((p) => last.has(p.pid)).map((p) => ({ name: p.name, pid: p.pid,
            rss_peak_kb: peak.get(p.pid), ...last.get(p.pid) }));
        if (rows.length === 0) continue;
        const max = (k) => Math.max(...rows.map((r) => r[k] ?? 0));
        const avg = (k) => Math.round(rows.reduce((s, r) => s + (r[k] ?? 0), 0) / rows.length);
        out[type] = { count: rows.length, rss_kb_max: max('rss_peak_kb'), rss_kb_avg: avg('rss'),
            hwm_kb_max: max('hwm'), anon_kb_avg: avg('anon'), file_kb_avg: avg('file'), pss_kb_avg: avg('pss'),
            threads_max: max('threads'), processes: rows };
    }
    return out;
}

// ---- network up/down -----------------------------------------------------

function portFree(port) {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}

async function freeBase(n) {
    for (let i = 0; i < 40; i++) {
        const base = 20000 + 100 * Math.floor(Math.random() * 400);
        let ok = true;
        for (let p = base; p < base + n && ok; p++) ok = await portFree(p);
        if (ok) return base;
    }
    throw new Error('no free port range');
}

function down() {
    if (!fs.existsSync(DIR)) return;
    try {
        execFileSync(WEFT, ['network', 'down', '--dir', DIR], { stdio: 'ignore', timeout: 120000 });
    } catch (e) { console.error(`weft network down failed: ${e.message}`); }
}

// Runs `weft network up`; resolves with its wall time and the time at which
// each step line ("[n/7] ...") was printed.
async function up(shape) {
    const base = await freeBase(10 * (shape.orderers + shape.orgs * shape.peers) + 10);
    const args = ['network', 'up', '--orderers', String(shape.orderers), '--orgs', String(shape.orgs),
        '--peers', String(shape.peers), '--dir', DIR, '--base-port', String(base)];
    const t0 = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - t0) / 1e9;
    const child = spawn(WEFT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const steps = [];
    let out = '', buf = '';
    child.stdout.on('data', (d) => {
        out += d;
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            const m = line.match(/^\[(\d)\/\d\] (.*)$/);
            if (m) steps.push({ step: Number(m[1]), what: m[2].replace(/ \(.*$/, ''), at_s: since() });
        }
    });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGTERM'), 300000);
    const code = await new Promise((r) => child.on('exit', (c, sig) => r(c ?? sig)));
    clearTimeout(timer);
    const total = since();
    if (code !== 0) return { ok: false, code, total_s: total, steps, output: out.slice(-3000) };
    // Each step's duration = time to the next step line (the last: to exit).
    steps.forEach((s, i) => { s.took_s = (i + 1 < steps.length ? steps[i + 1].at_s : total) - s.at_s; });
    const info = JSON.parse(fs.readFileSync(path.join(DIR, 'network.json'), 'utf8'));
    return { ok: true, total_s: total, steps, base_port: base, info };
}

// ---- load ----------------------------------------------------------------

async function load(info, seconds, inflight) {
    const { gatewayFor } = require(path.join(__dirname, '../../tests/interop/gateway/net.js'));
    const cc = info.chaincode?.name || info.chaincode || 'asset-transfer';
    const orgs = [...new Set(info.nodes.filter((n) => n.role === 'peer').map((n) => n.mspId))];
    const gws = orgs.map((m) => gatewayFor(info, m));
    const contracts = gws.map((g) => g.gateway.getNetwork(info.channel).getContract(cc));
    let committed = 0, failed = 0, seq = 0, firstErr = null;
    const end = Date.now() + seconds * 1000;
    const t0 = Date.now();
    async function worker(w) {
        const c = contracts[w % contracts.length];
        while (Date.now() < end) {
            try {
                const r = await c.submitAsync('CreateAsset', { arguments: [`s-${w}-${seq++}`, 'c', '1', 'o', '1'] });
                if ((await r.getStatus()).successful) committed++; else failed++;
            } catch (e) { failed++; firstErr = firstErr || e.message; }
        }
    }
    const run = Promise.all(Array.from({ length: inflight }, (_, i) => worker(i)));
    return { run: run.then(() => {
        gws.forEach((g) => g.close());
        const secs = (Date.now() - t0) / 1000;
        return { seconds: secs, inflight, committed, failed, tps: committed / secs, first_error: firstErr };
    }) };
}

// ---- report --------------------------------------------------------------

const mb = (kb) => (kb == null ? '-' : (kb / 1024).toFixed(1));

function table(res) {
    const L = [];
    L.push(`weft network up: ${res.shape.orderers} orderer(s), ${res.shape.orgs} org(s) x ${res.shape.peers} peer(s)` +
        ` (load average at start ${res.loadavg.join(' ')})`);
    for (const r of res.runs) {
        L.push(`  run ${r.run}: ${r.ok ? `${r.total_s.toFixed(2)} s` : `FAILED (exit ${r.code})`}` +
            (r.ok ? `   ${r.steps.map((s) => `[${s.step}] ${s.took_s.toFixed(2)}`).join('  ')}` : ''));
    }
    if (res.runs[0]?.ok) {
        L.push('  steps: ' + res.runs[res.runs.length - 1].steps.map((s) => `[${s.step}] ${s.what}`).join(', '));
    }
    L.push('');
    L.push(`  ${'metric'.padEnd(44)} ${'value'.padStart(9)}   target    result`);
    const row = (m, v, t, ok) => L.push(`  ${m.padEnd(44)} ${String(v).padStart(9)}   ${t.padEnd(9)} ${ok == null ? '' : ok ? 'PASS' : 'FAIL'}`);
    row('ready (up to return), median s', res.ready_s_median?.toFixed(2) ?? '-', `< ${TARGET_READY_S} s`, res.pass.ready);
    row('  nodes healthy (to [5/7]), median s', res.healthy_s_median?.toFixed(2) ?? '-', '', null);
    row('  channel joined (to [7/7]), median s', res.channel_s_median?.toFixed(2) ?? '-', '', null);
    for (const [phase, m] of [['idle', res.memory.idle], ['load', res.memory.load]]) {
        if (!m) continue;
        for (const type of ['peer', 'orderer', 'chaincode']) {
            const t = m[type];
            if (!t) continue;
            const target = phase === 'idle' && type === 'peer' ? `< ${TARGET_IDLE_PEER_MB} MB` : '';
            row(`${type} (${t.count}) ${phase}: VmRSS max, MB`, mb(t.rss_kb_max), target,
                target ? res.pass.idle_peer : null);
            L.push(`      VmHWM ${mb(t.hwm_kb_max)}  anon ${mb(t.anon_kb_avg)}  file ${mb(t.file_kb_avg)}` +
                `  Pss ${mb(t.pss_kb_avg)}  threads ${t.threads_max}  (MB, avg over processes)`);
        }
    }
    if (res.load) {
        L.push(`  load: ${res.load.inflight} in flight for ${res.load.seconds.toFixed(1)} s: ${res.load.committed} committed` +
            ` (${res.load.tps.toFixed(1)} tx/s), ${res.load.failed} failed`);
    }
    return L.join('\n');
}

const median = (a) => {
    if (a.length === 0) return null;
    const s = [...a].sort((x, y) => x - y);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
    if (!WEFT) throw new Error('WEFT_BIN is not set');
    const res = { name: 'startup', shape: { ...SHAPE }, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
        targets: { ready_s: TARGET_READY_S, idle_peer_rss_mb: TARGET_IDLE_PEER_MB }, runs: [], memory: {} };
    let shape = { ...SHAPE };
    let last = null;
    for (let i = 1; i <= RUNS; i++) {
        down();
        const r = await up(shape);
        res.runs.push({ run: i, shape: { ...shape }, ok: r.ok, code: r.code, total_s: r.total_s, steps: r.steps });
        if (!r.ok) {
            console.error(`weft network up (${shape.orderers} orderers) failed:\n${r.output}`);
            down();
            if (shape.orderers > 1) {
                res.fallback = `--orderers ${shape.orderers} failed; measured --orderers 1`;
                shape = { ...shape, orderers: 1 };
                res.shape = { ...shape };
                i--; // this run is repeated with one orderer
                if (res.runs.filter((x) => !x.ok).length > 1) break;
                continue;
            }
            break;
        }
        console.log(`run ${i}: ready in ${r.total_s.toFixed(2)} s`);
        last = r;
        if (i < RUNS) down();
    }
    const ok = res.runs.filter((r) => r.ok && r.shape.orderers === res.shape.orderers);
    const stepAt = (r, n) => r.steps.find((s) => s.step === n)?.at_s;
    res.ready_s_median = median(ok.map((r) => r.total_s));
    res.healthy_s_median = median(ok.map((r) => stepAt(r, 5)).filter((x) => x != null));
    res.channel_s_median = median(ok.map((r) => stepAt(r, 7)).filter((x) => x != null));
    if (last) {
        const procs = processes(last.info);
        await sleep(1000);
        res.memory.idle = await sample(procs, IDLE_SECONDS * 1000);
        if (LOAD_SECONDS > 0) {
            const l = await load(last.info, LOAD_SECONDS, LOAD_INFLIGHT);
            const during = sample(processes(last.info), LOAD_SECONDS * 1000);
            res.load = await l.run;
            res.memory.load = await during;
        }
    }
    down();
    const idlePeer = res.memory.idle?.peer?.rss_kb_max;
    res.pass = {
        ready: res.ready_s_median != null && res.shape.orderers === SHAPE.orderers ? res.ready_s_median < TARGET_READY_S : false,
        idle_peer: idlePeer != null ? idlePeer < TARGET_IDLE_PEER_MB * 1024 : false,
    };
    console.log('');
    console.log(table(res));
    if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(res, null, 2)}\n`);
    if (!last) process.exitCode = 1;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { down(); process.exit(130); });
}
main().catch((e) => { console.error(e); down(); process.exit(1); });
