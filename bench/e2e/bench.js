'use strict';
// bench/e2e: committed tx/s and p50/p99 submit-to-commit latency through the
// Gateway at 50 and 200 in-flight submits; endorse latency; CPU seconds per
// committed transaction of the orderer, of the peers (and both together),
// of the chaincode processes and of this client, from /proc (utime+stime);
// context switches per committed transaction of the orderer and of the peers
// (threads alive at the end of a level; /proc/<pid>/task/*/status).
// Before the first level, BENCH_WARMUP_SECONDS (8) of unmeasured load at the
// first level's concurrency.
// BENCH_PERF=<dir>: `perf record` the peers (BENCH_PERF_PIDS=all: and the
// orderer) during each level into <dir>/e2e-<inflight>.data, with
// BENCH_PERF_ARGS (default "-g -F 999"; for user-space stacks through
// libcrypto and gRPC: "--call-graph dwarf,16384 -F 500").
const { execFileSync } = require('node:child_process');
const { cpuSeconds, ctxSwitches, startProfile, stopProfile } = require('../lib/procstat.js');
const fs = require('node:fs');
const path = require('node:path');
const { networkUp, networkDown, gatewayFor, waitFor } = require(
    path.join(__dirname, '../../tests/interop/gateway/net.js'));

const SECONDS = Number(process.env.BENCH_SECONDS || 20);
// unmeasured load before the first level: V8 compiles the chaincode's and
// the client's hot paths during the first seconds, which would count toward
// the first level's figures
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS || 8);
const LEVELS = (process.env.BENCH_INFLIGHT || '50,200').split(',').map(Number);
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

function pct(a, p) {
    if (a.length === 0) return null;
    const s = [...a].sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

// CPU seconds of a group of processes since `base` (a Map pid -> seconds).
function cpuSince(pids, base) {
    return pids.reduce((s, pid) => s + cpuSeconds(pid) - (base.get(pid) || 0), 0);
}

async function level(contracts, inflight, groups, seconds = SECONDS, warmup = false) {
    const base = new Map();
    for (const pids of Object.values(groups)) for (const pid of pids) base.set(pid, cpuSeconds(pid));
    const cs0 = new Map();
    for (const pid of [...groups.orderer, ...groups.peers]) cs0.set(pid, ctxSwitches(pid)['*']);
    const prof = !warmup && startProfile(process.env.BENCH_PERF_PIDS === 'all'
        ? [...groups.orderer, ...groups.peers] : groups.peers, `e2e-${inflight}`);
    const cl0 = process.cpuUsage();
    const lat = [], endorse = [], submit = [], status = [];
    let committed = 0, failed = 0, seq = 0;
    const errors = new Map();
    const end = Date.now() + seconds * 1000;
    async function worker(w) {
        const c = contracts[w % contracts.length];
        while (Date.now() < end) {
            const id = `${warmup ? 'warm' : 'b'}-${inflight}-${w}-${seq++}`;
            const t0 = process.hrtime.bigint();
            try {
                const tx = await c.newProposal('CreateAsset', { arguments: [id, 'c', '1', 'o', '1'] }).endorse();
                const t1 = process.hrtime.bigint();
                endorse.push(Number(t1 - t0) / 1e6);
                const commit = await tx.submit();
                const t2 = process.hrtime.bigint();
                submit.push(Number(t2 - t1) / 1e6);
                const st = await commit.getStatus();
                const t3 = process.hrtime.bigint();
                status.push(Number(t3 - t2) / 1e6);
                if (st.successful) {
                    committed++;
                    lat.push(Number(t3 - t1) / 1e6);
                } else {
                    failed++;
                    errors.set(`code ${st.code}`, (errors.get(`code ${st.code}`) || 0) + 1);
                }
            } catch (e) {
                failed++;
                const k = String(e.message).slice(0, 120);
                errors.set(k, (errors.get(k) || 0) + 1);
            }
        }
    }
    const t0 = Date.now();
    await Promise.all(Array.from({ length: inflight }, (_, i) => worker(i)));
    const secs = (Date.now() - t0) / 1000;
    const cl = process.cpuUsage(cl0);
    const per = (sec) => (committed ? Number(((sec * 1000) / committed).toFixed(3)) : null);
    const cpu = {};
    for (const [k, pids] of Object.entries(groups)) cpu[k] = per(cpuSince(pids, base));
    cpu.weft_total = per(cpuSince([...groups.orderer, ...groups.peers], base));
    cpu.client = per((cl.user + cl.system) / 1e6);
    const csPer = (pids) => (committed
        ? Number((pids.reduce((a, pid) => a + ctxSwitches(pid)['*'] - cs0.get(pid), 0) / committed).toFixed(1))
        : null);
    const ctx = { orderer: csPer(groups.orderer), peers: csPer(groups.peers) };
    await stopProfile(prof);
    const q = (a) => ({ p50: pct(a, 0.5), p99: pct(a, 0.99) });
    return {
        inflight, seconds: secs, committed, failed, tps: Number((committed / secs).toFixed(1)),
        // submit-to-commit: from the Submit call to the CommitStatus answer
        submit_to_commit_ms: q(lat),
        endorse_ms: q(endorse), submit_rpc_ms: q(submit), commit_status_rpc_ms: q(status),
        cpu_ms_per_tx: cpu,
        ctx_switches_per_tx: ctx,
        errors: Object.fromEntries(errors),
    };
}

(async () => {
    const N = await networkUp();
    const out = { name: 'e2e', shape: N.info.shape, batch_timeout: process.env.WEFT_NETWORK_BATCH_TIMEOUT, levels: [] };
    try {
        const cc = N.info.chaincode || 'asset-transfer';
        const g = [gatewayFor(N.info, 'Org1MSP'), gatewayFor(N.info, 'Org2MSP')];
        const contracts = g.map((x) => x.gateway.getNetwork(N.info.channel).getContract(cc));
        await waitFor('chaincode', async () => { await contracts[0].evaluateTransaction('GetAllAssets'); return true; }, 120000);
        const pidOf = (n) => Number(fs.readFileSync(n.pidFile, 'utf8'));
        const groups = {
            orderer: N.info.nodes.filter((n) => n.role === 'orderer').map(pidOf),
            peers: N.info.nodes.filter((n) => n.role === 'peer').map(pidOf),
        };
        groups.chaincode = childrenOf(groups.peers);
        console.error(`pids ${JSON.stringify(groups)}`); // for perf -p
        // warm-up: connections, chaincode JIT
        await Promise.all(Array.from({ length: 20 }, (_, i) => contracts[i % 2].submitTransaction('CreateAsset', `w-${i}`, 'c', '1', 'o', '1')));
        if (WARMUP_SECONDS > 0) await level(contracts, LEVELS[0], groups, WARMUP_SECONDS, true);
        for (const l of LEVELS) {
            const r = await level(contracts, l, groups);
            out.levels.push(r);
            console.log(JSON.stringify(r));
        }
        g.forEach((x) => x.close());
    } finally {
        networkDown(N);
    }
    if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(out, null, 2));
    // every transaction is a new asset: a failure is a bug, not load
    const failed = out.levels.reduce((a, l) => a + l.failed, 0);
    if (failed > 0) {
        console.error(`bench/e2e: ${failed} transaction(s) failed: ${JSON.stringify(out.levels.map((l) => l.errors))}`);
        process.exitCode = 1;
    }
})().catch((e) => { console.error(e); process.exit(1); });
