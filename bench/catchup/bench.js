// Catch-up benchmark: identities from `weft crypto generate`, the genesis
// block from `weft configtx genesis` (bench/validate/configtx.yaml: Org1 +
// Org2, blocks of up to 500 transactions), one `weft orderer start` (TLS)
// filled by catchup_load with the _lifecycle definition (policy
// AND('Org1MSP.peer','Org2MSP.peer')) and N endorsed transactions. Then a
// fresh `weft peer start` (peer0.org1, TLS, fsync on) is joined with `weft
// channel join` and pulls, validates and commits the whole chain. Measured
// on the peer from the join to the orderer's height: wall time, CPU
// (utime+stime, /proc/<pid>/stat) and peak RSS (VmHWM); every transaction
// must be VALID (ledger_transaction_count). The verifier bound comes from
// catchup_load, measured on the same signatures while the orderer is idle,
// before the peer starts and again after it stopped; the reference is their
// mean (both are printed and kept in the JSON).
// Every process is started and stopped by PID (tests/system/peer_channel/lib.js).
'use strict';
const assert = require('node:assert');
const { execFileSync, execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const SRC = process.env.WEFT_SOURCE_DIR;
const L = require(path.join(SRC, 'tests/system/peer_channel/lib.js'));

const N = Number(process.env.BENCH_TX || 20000);
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function cpuSeconds(pid) {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
}

function statusKb(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : -1;
}

// BENCH_TRACE=FILE: every 10 ms, each of the peer's threads' CPU ticks and
// the system's idle ticks (diagnosis of where the pipeline waits; off by
// default, it costs CPU on the measured cores).
function traceSample(pid, others) {
  const row = { t: Number(process.hrtime.bigint()) / 1e6, th: {} };
  for (const [name, p] of Object.entries(others)) {
    try { row.th[`${name}/${p}`] = cpuSeconds(p) * TICK; } catch (e) { /* gone */ }
  }
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      row.th[`${name}/${tid}`] = Number(f[11]) + Number(f[12]);
    } catch (e) { /* thread gone */ }
  }
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  row.idle = cpu[3] + cpu[4];
  row.steal = cpu[7];
  row.busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - row.idle;
  return row;
}

async function metrics(h) {
  return (await fetch(`http://127.0.0.1:${h.ports.peerOps}/metrics`)).text();
}

async function main() {
  let h;
  try {
    h = await L.setup('weft-catchup-');
    fs.writeFileSync(path.join(h.dir, 'configtx.yaml'), fs.readFileSync(
      path.join(SRC, 'bench/validate/configtx.yaml'), 'utf8').replace(/@PORT@/g, String(h.ports.ord)));
    fs.rmSync(h.genesis);
    execFileSync(process.env.WEFT_BIN, ['configtx', 'genesis', '--config', 'configtx.yaml', '--profile',
      'BenchChannel', '--channel', h.channel, '--output', h.genesis], { cwd: h.dir, stdio: 'ignore' });
    await L.startOrderer(h);

    const load = await new Promise((resolve, reject) => {
      execFile(path.join(path.dirname(process.env.WEFT_BIN), 'catchup_load'), ['--crypto',
        path.join(h.dir, 'crypto'), '--channel', h.channel, '--orderer', `127.0.0.1:${h.ports.ord}`,
        '--ca', path.join(h.ordDir, 'tls', 'ca.crt'), '--tx', String(N)],
      { encoding: 'utf8', timeout: 600000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`catchup_load: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      });
    });
    assert.strictEqual(load.acknowledged, N + 1);
    const ordInfo = await (await fetch(
      `http://127.0.0.1:${h.ports.admin}/participation/v1/channels/${h.channel}`)).json();
    const height = ordInfo.height;
    console.error(`orderer holds ${N} transactions in ${height} blocks; ` +
      `verifier bound ${load.bound_tx_per_s.toFixed(0)} tx/s`);

    await L.startPeer(h);
    const pid = h.peer.child.pid;
    const rss0 = statusKb(pid, 'VmRSS');
    const cpu0 = cpuSeconds(pid);
    const trace = process.env.BENCH_TRACE ? [] : null;
    const tracer = trace && setInterval(() => { try { trace.push(traceSample(pid,
      { ORDERER: h.orderer.child.pid, BENCH: process.pid })); } catch (e) { /* */ } }, 10);
    // BENCH_PERF=FILE: `perf record` of the peer from the join to the end
    const perf = process.env.BENCH_PERF ? require('node:child_process').spawn('perf',
      ['record', '-F', '499', ...(process.env.BENCH_PERF_CG === 'none' ? [] : ['--call-graph', process.env.BENCH_PERF_CG || 'fp']), '-p', String(pid), '-o', process.env.BENCH_PERF], { stdio: 'ignore' }) : null;
    if (perf) await new Promise((res) => setTimeout(res, 500));
    const t0 = process.hrtime.bigint();
    const r = await L.channelCmd(h, ['join', '--block', h.genesis]);
    assert.strictEqual(r.code, 0, r.stderr);
    const re = new RegExp(`ledger_blockchain_height\\{channel="${h.channel}"\\} (\\d+)`);
    // Polled every 100 ms while more than 3 blocks are missing, then every
    // 5 ms: the end is seen within 5 ms, and the polling (this process and
    // the peer's /metrics text, on the same two cores) costs little.
    let t1;
    for (;;) {
      const m = re.exec(await metrics(h));
      const got = m ? Number(m[1]) : 0;
      if (got >= height) { t1 = process.hrtime.bigint(); break; }
      if (Number(process.hrtime.bigint() - t0) / 1e9 > 600) throw new Error('catch-up timed out');
      await new Promise((res) => setTimeout(res, height - got > 3 ? 100 : 5));
    }
    const cpu = cpuSeconds(pid) - cpu0;
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((res) => perf.on('exit', res));
    }
    if (tracer) {
      clearInterval(tracer);
      fs.writeFileSync(process.env.BENCH_TRACE, JSON.stringify({ t0: Number(t0) / 1e6, t1: Number(t1) / 1e6, trace }));
    }
    const hwm = statusKb(pid, 'VmHWM');
    const secs = Number(t1 - t0) / 1e9;
    const text = await metrics(h);
    const valid = /ledger_transaction_count\{chaincode="asset",channel="[^"]+",transaction_type="ENDORSER_TRANSACTION",validation_code="VALID"\} (\d+)/.exec(text);
    assert.ok(valid, 'no VALID asset transactions counted');
    assert.strictEqual(Number(valid[1]), N, 'every transaction committed VALID');
    const st = await L.stopNode(h.peer);
    h.peer = null;
    assert.strictEqual(st.code, 0, 'peer exits cleanly');
    // the verifier's bound again, now that the run is over: the reference is
    // the mean of the two measurements (the host's speed drifts)
    const after = JSON.parse(execFileSync(path.join(path.dirname(process.env.WEFT_BIN), 'catchup_load'),
      ['--crypto', path.join(h.dir, 'crypto'), '--channel', h.channel, '--bound-only', '3000'],
      { encoding: 'utf8', timeout: 120000 }));
    const bound = (load.bound_tx_per_s + after.bound_tx_per_s) / 2;
    const sigUs = (load.verify_cpu_us_per_sig + after.verify_cpu_us_per_sig) / 2;

    const tps = N / secs;
    const out = {
      bench: 'catchup', txs: N, blocks: height, seconds: Number(secs.toFixed(3)),
      tx_per_s: Number(tps.toFixed(1)), cpu_ms_per_tx: Number(((cpu * 1e3) / N).toFixed(4)),
      peer_cpu_seconds: Number(cpu.toFixed(2)), peak_rss_kb: hwm, rss_before_join_kb: rss0,
      raw_verify_per_s: load.raw_verify_per_s, verify_cpu_us_per_sig: sigUs,
      bound_tx_per_s: Number(bound.toFixed(1)), bound_before_tx_per_s: load.bound_tx_per_s,
      bound_after_tx_per_s: after.bound_tx_per_s,
      fraction_of_bound: Number((tps / bound).toFixed(3)),
      fraction_of_bound_before: Number((tps / load.bound_tx_per_s).toFixed(3)),
      cpu_fraction_in_sig_checks: Number(((3 * sigUs) / ((cpu * 1e6) / N)).toFixed(3)),
      load, after,
    };
    fs.writeFileSync(process.env.BENCH_OUT, `${JSON.stringify(out)}\n`);
    console.log(`catchup: ${N} two-org txs in ${height} blocks pulled, validated and committed by a ` +
      `fresh peer: ${tps.toFixed(1)} tx/s, ${out.cpu_ms_per_tx.toFixed(3)} CPU ms/tx, peak RSS ` +
      `${(hwm / 1024).toFixed(1)} MB (${(rss0 / 1024).toFixed(1)} MB before the join); verifier bound ` +
      `${bound.toFixed(1)} tx/s (3 signatures per tx; mean of ${load.bound_tx_per_s.toFixed(1)} ` +
      `measured before and ${after.bound_tx_per_s.toFixed(1)} after): ` +
      `${(100 * out.fraction_of_bound).toFixed(0)}%`);
  } finally {
    await L.teardown(h);
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
