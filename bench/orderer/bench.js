// Orderer benchmark: envelopes/s ordered into committed blocks by a 1-node
// and a 3-node Raft cluster (loopback, TLS on the client listener, mutual TLS
// between consenters), driven by the C load client orderer_load (S streams,
// W envelopes in flight each; with 3 nodes the streams are spread over all
// three, followers forward to the leader). Per envelope: latency from
// Broadcast to its SUCCESS (given once its block is committed) and to its
// block arriving on a Deliver stream. CPU per envelope: utime+stime of the
// orderer processes (/proc/<pid>/stat) over the run. Beside it, in the same
// run, the parallel verifier's rate (bench_crypto): the target is
// throughput >= 50% of it. Writes $BENCH_OUT.
'use strict';
const { execFileSync } = require('node:child_process');
const { cpuSeconds, ctxSwitches, startProfile, stopProfile } = require('../lib/procstat.js');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { makeCluster, envelope, common, orderer } = require(
  path.join(process.env.WEFT_SOURCE_DIR, 'tests/system/orderer_raft/cluster.js'));

const N = Number(process.env.BENCH_ENVELOPES || 40000);
const STREAMS = Number(process.env.BENCH_STREAMS || 8);
const WINDOW = Number(process.env.BENCH_WINDOW || 512);
const BIN = path.dirname(process.env.WEFT_BIN);

function record(bufs) {
  return Buffer.concat(bufs.flatMap((b) => { const h = Buffer.alloc(4); h.writeUInt32LE(b.length); return [h, b]; }));
}

async function run(nodes) {
  const c = await makeCluster({ channel: 'bench', nodes, batchTimeout: '200ms' });
  try {
    for (let i = 0; i < nodes; i++) c.start(i);
    for (let i = 0; i < nodes; i++) await c.join(i);
    await c.leaderAmong([...Array(nodes).keys()]);
    const envs = [];
    for (let i = 0; i < N; i++) {
      const data = Buffer.concat([Buffer.alloc(4), crypto.randomBytes(200)]);
      data.writeUInt32LE(i);
      envs.push(envelope(c.user, c.channel, common.HeaderType.ENDORSER_TRANSACTION, data));
    }
    fs.writeFileSync(path.join(c.dir, 'envs.bin'), record(envs));
    const pos = (n) => { const p = new orderer.SeekPosition(); const s = new orderer.SeekSpecified();
      s.setNumber(n); p.setSpecified(s); return p; };
    const si = new orderer.SeekInfo();
    si.setStart(pos(1));
    si.setStop(pos(Number.MAX_SAFE_INTEGER));
    si.setBehavior(orderer.SeekInfo.SeekBehavior.BLOCK_UNTIL_READY);
    fs.writeFileSync(path.join(c.dir, 'seek.bin'),
      record([envelope(c.user, c.channel, common.HeaderType.DELIVER_SEEK_INFO, si.serializeBinary())]));
    const pids = c.nodes.filter(Boolean).map((n) => n.child.pid);
    const cpu0 = pids.map(cpuSeconds);
    const cs0 = pids.map(ctxSwitches);
    const prof = startProfile(pids, `orderer-${nodes}`, '-g -F 4000');
    const targets = [...Array(nodes).keys()].map((i) => `127.0.0.1:${c.ports[i].grpc}`);
    const out = execFileSync(path.join(BIN, 'orderer_load'), ['--targets', targets.join(','),
      '--deliver', targets[0], '--ca', path.join(c.dir,
        'crypto-config/ordererOrganizations/example.com/tlsca/tlsca.example.com-cert.pem'),
      '--envelopes', path.join(c.dir, 'envs.bin'), '--seek', path.join(c.dir, 'seek.bin'),
      '--streams', String(STREAMS), '--window', String(WINDOW)], { encoding: 'utf8', timeout: 240000 });
    const cpu1 = pids.map(cpuSeconds);
    const cs1 = pids.map(ctxSwitches);
    await stopProfile(prof);
    const r = JSON.parse(out);
    const cpu = cpu1.reduce((a, v, k) => a + v - cpu0[k], 0);
    r.nodes = nodes;
    r.cpu_seconds = cpu;
    r.cpu_us_per_envelope = (cpu / N) * 1e6;
    r.ctx_switches_per_envelope = cs1.reduce((a, v, k) => a + v['*'] - cs0[k]['*'], 0) / N;
    r.ctx_switches_by_thread = {};
    cs1.forEach((v, k) => { for (const name of Object.keys(v)) {
      if (name === '*') continue;
      const d = (v[name] - (cs0[k][name] || 0)) / N;
      r.ctx_switches_by_thread[name] = (r.ctx_switches_by_thread[name] || 0) + d;
    } });
    r.cpu_us_per_envelope_per_node = cpu1.map((v, k) => ((v - cpu0[k]) / N) * 1e6);
    for (let i = 0; i < nodes; i++) await c.stop(i);
    return r;
  } finally {
    await c.cleanup();
  }
}

// The parallel verifier's rate (best of its rounds) in this run.
function verifierRate() {
  const vj = path.join(path.dirname(process.env.BENCH_OUT), 'orderer-verifier.json');
  execFileSync(path.join(BIN, 'bench_crypto'), ['--seconds', '1', '--rounds', '2', '--json', vj],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  const v = JSON.parse(fs.readFileSync(vj, 'utf8'));
  fs.rmSync(vj);
  return v;
}

async function main() {
  const only = Number(process.env.BENCH_NODES || 0); // 1 or 3: run only that cluster
  const skipped = { envelopes_per_s: NaN, ack_p50_ms: NaN, ack_p99_ms: NaN, delivery_p50_ms: NaN,
    delivery_p99_ms: NaN, cpu_us_per_envelope: NaN };
  // the verifier is measured before and after the clusters; the bound is
  // the better figure (the one less disturbed by the rest of the machine)
  const before = verifierRate();
  const one = only === 3 ? skipped : await run(1);
  console.log(JSON.stringify(one));
  const three = only === 1 ? skipped : await run(3);
  console.log(JSON.stringify(three));
  const after = verifierRate();
  const v = before.parallel_verify_per_s >= after.parallel_verify_per_s ? before : after;
  const bound = v.parallel_verify_per_s;
  // CPU one signature check costs (all cores busy verifying): the issue's
  // "ordering costs less than 2x the signature check alone" in CPU terms.
  const verifyCpuUs = (v.cores / bound) * 1e6;
  const res = { benchmark: 'orderer', envelopes: N, streams: STREAMS, window: WINDOW, tls: true,
    verifier_per_s: bound, verifier_before_after_per_s: [before.parallel_verify_per_s,
      after.parallel_verify_per_s], cores: v.cores, target_ratio: 0.5,
    verify_cpu_us: verifyCpuUs, target_cpu_ratio: 2,
    one_node: { ...one, ratio_to_verifier: one.envelopes_per_s / bound,
      cpu_ratio_to_verify: one.cpu_us_per_envelope / verifyCpuUs },
    three_nodes: { ...three, ratio_to_verifier: three.envelopes_per_s / bound,
      cpu_ratio_to_verify: three.cpu_us_per_envelope / verifyCpuUs } };
  fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(res, null, 2) + '\n');
  const row = (name, r) => console.log(`${name.padEnd(10)} ${r.envelopes_per_s.toFixed(0).padStart(9)} env/s  ` +
    `ratio ${(r.envelopes_per_s / bound).toFixed(3)}  ack p50/p99 ${r.ack_p50_ms.toFixed(1)}/${r.ack_p99_ms.toFixed(1)} ms  ` +
    `delivery p50/p99 ${r.delivery_p50_ms.toFixed(1)}/${r.delivery_p99_ms.toFixed(1)} ms  ` +
    `CPU ${r.cpu_us_per_envelope.toFixed(0)} us/env = ${(r.cpu_us_per_envelope / verifyCpuUs).toFixed(2)}x a ` +
    `signature check (client ${Number(r.client_cpu_us_per_envelope).toFixed(0)} us), ` +
    `${Number(r.ctx_switches_per_envelope).toFixed(1)} ctx sw/env`);
  console.log(`parallel verifier: ${bound.toFixed(0)} verifications/s on ${v.cores} cores, ` +
    `${verifyCpuUs.toFixed(1)} us CPU each (target: ratio >= 0.5, CPU <= 2x a signature check; ` +
    'the load client runs on the same cores)');
  row('1 node', one);
  row('3 nodes', three);
}
main().catch((e) => { console.error(e); process.exit(1); });
