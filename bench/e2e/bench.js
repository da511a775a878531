'use strict';
// bench/e2e: committed tx/s and p50/p99 submit-to-commit latency through the
// Gateway at 50 and 200 in-flight submits; endorse latency; CPU seconds per
// committed transaction of the weft processes (orderer + peers), of the
// chaincode processes and of this client, from /proc.
const fs = require('node:fs');
const path = require('node:path');
const { networkUp, networkDown, gatewayFor, waitFor } = require(
    path.join(__dirname, '../../tests/interop/gateway/net.js'));

const SECONDS = Number(process.env.BENCH_SECONDS || 20);
const LEVELS = (process.env.BENCH_INFLIGHT || '50,200').split(',').map(Number);
const TICK = 100; // USER_HZ

function cpuOf(pid) {
    try {
        const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
        return (Number(rest[11]) + Number(rest[12])) / TICK; // utime + stime
    } catch { return 0; }
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

function pct(a, p) {
    if (a.length === 0) return null;
    const s = [...a].sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function level(contracts, inflight, weftPids, ccPids) {
    const cpu0 = weftPids.map(cpuOf), cc0 = ccPids.map(cpuOf), cl0 = process.cpuUsage();
    const lat = [], endorse = [];
    let committed = 0, failed = 0, seq = 0;
    const end = Date.now() + SECONDS * 1000;
    async function worker(w) {
        const c = contracts[w % contracts.length];
        while (Date.now() < end) {
            const id = `b-${inflight}-${w}-${seq++}`;
            const t0 = process.hrtime.bigint();
            try {
                const tx = await c.newProposal('CreateAsset', { arguments: [id, 'c', '1', 'o', '1'] }).endorse();
                endorse.push(Number(process.hrtime.bigint() - t0) / 1e6);
                const st = await (await tx.submit()).getStatus();
                if (st.successful) {
                    committed++;
                    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
                } else failed++;
            } catch { failed++; }
        }
    }
    const t0 = Date.now();
    await Promise.all(Array.from({ length: inflight }, (_, i) => worker(i)));
    const secs = (Date.now() - t0) / 1000;
    const weftCpu = weftPids.map(cpuOf).reduce((s, v, i) => s + v - cpu0[i], 0);
    const ccCpu = ccPids.map(cpuOf).reduce((s, v, i) => s + v - cc0[i], 0);
    const cl = process.cpuUsage(cl0);
    return {
        inflight, seconds: secs, committed, failed, tps: committed / secs,
        submit_to_commit_ms: { p50: pct(lat, 0.5), p99: pct(lat, 0.99) },
        endorse_ms: { p50: pct(endorse, 0.5), p99: pct(endorse, 0.99) },
        cpu_ms_per_tx: {
            weft: committed ? (weftCpu * 1000) / committed : null,
            chaincode: committed ? (ccCpu * 1000) / committed : null,
            client: committed ? (cl.user + cl.system) / 1000 / committed : null,
        },
    };
}

(async () => {
    const N = await networkUp();
    const out = { name: 'e2e', shape: N.info.shape, levels: [] };
    try {
        const cc = N.info.chaincode || 'asset-transfer';
        const g = [gatewayFor(N.info, 'Org1MSP'), gatewayFor(N.info, 'Org2MSP')];
        const contracts = g.map((x) => x.gateway.getNetwork(N.info.channel).getContract(cc));
        await waitFor('chaincode', async () => { await contracts[0].evaluateTransaction('GetAllAssets'); return true; }, 120000);
        const weftPids = N.info.nodes.map((n) => Number(fs.readFileSync(n.pidFile, 'utf8')));
        const ccPids = childrenOf(weftPids.filter((_, i) => N.info.nodes[i].role === 'peer'));
        for (const l of LEVELS) {
            const r = await level(contracts, l, weftPids, ccPids);
            out.levels.push(r);
            console.log(JSON.stringify(r));
        }
        g.forEach((x) => x.close());
    } finally {
        networkDown(N);
    }
    if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(out, null, 2));
})().catch((e) => { console.error(e); process.exit(1); });
