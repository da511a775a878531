// Issue 5's failover test: three orderers, a Node client broadcasts
// WEFT_FAILOVER_ENVELOPES (default 5,000) signed envelopes on several
// concurrent streams spread over all live nodes, while the test SIGKILLs the
// Raft leader and restarts it - twice. Then: every acknowledged envelope is
// in every orderer's chain exactly once (no envelope twice at all, none we
// did not send), the three chains are byte-identical with intact hash links,
// as returned by Deliver from each node. Every process is stopped by PID.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { waitFor, envelope, deliverAll, makeCluster, common, orderer } = require('./cluster.js');

const TARGET = Number(process.env.WEFT_FAILOVER_ENVELOPES || 5000);
const STREAMS = 4;
const WINDOW = 64; // envelopes in flight per stream
const PER_STREAM = 400; // a stream ends after this many, then another opens

test(`orderer raft failover: ${TARGET} envelopes, leader killed twice`, { timeout: 290000 }, async () => {
  const c = await makeCluster({ channel: 'failover', maxMessageCount: 50 });
  try {
    for (let i = 0; i < 3; i++) c.start(i);
    for (let i = 0; i < 3; i++) await c.join(i);
    await c.leaderAmong([0, 1, 2]);

    const acked = new Set();
    const refused = new Map(); // txid -> status (not acknowledged)
    const sent = new Set();
    let inflight = 0;
    let streamsOpened = 0;
    let seq = 0;
    const t0 = Date.now();
    const kills = [];
    // Sending stops at each kill point until that kill and restart are done,
    // so both kills happen under load however fast the acknowledgements come.
    const KILL_AT = [0.3, 0.65];
    const cap = () => (kills.length < KILL_AT.length
      ? Math.ceil(TARGET * KILL_AT[kills.length]) : TARGET);

    // One stream to node i: keeps WINDOW envelopes in flight; resolves when the
    // stream ends (its quota, a refusal, or the node dying).
    const runStream = (i) => new Promise((resolve) => {
      const client = c.clients[i];
      if (!client) { resolve(); return; }
      streamsOpened++;
      const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Broadcast', (b) => b,
        (b) => orderer.BroadcastResponse.deserializeBinary(b), null, { deadline: Date.now() + 90000 });
      const fifo = [];
      let quota = PER_STREAM;
      let closed = false;
      const finish = () => {
        if (closed) return;
        closed = true;
        for (const t of fifo) refused.set(t, 'no answer');
        inflight -= fifo.length;
        fifo.length = 0;
        resolve();
      };
      const pump = () => {
        while (!closed && fifo.length < WINDOW && quota > 0 && acked.size + inflight < cap()) {
          const txid = `env-${seq++}-${crypto.randomBytes(4).toString('hex')}`;
          sent.add(txid);
          fifo.push(txid);
          inflight++;
          quota--;
          call.write(envelope(c.user, c.channel, common.HeaderType.ENDORSER_TRANSACTION,
            Buffer.from(txid), txid));
        }
        if (!closed && fifo.length === 0) call.end();
      };
      call.on('data', (r) => {
        const txid = fifo.shift();
        if (txid === undefined) return;
        inflight--;
        if (r.getStatus() === common.Status.SUCCESS) {
          assert.ok(!acked.has(txid), `${txid} acknowledged twice`);
          acked.add(txid);
        } else {
          refused.set(txid, `${r.getStatus()} ${r.getInfo()}`);
        }
        pump();
      });
      call.on('error', finish);
      call.on('end', finish);
      call.on('status', finish);
      pump();
    });

    let stopWorkers = false;
    const worker = async (w) => {
      let k = w;
      while (!stopWorkers && acked.size < TARGET) {
        const live = [0, 1, 2].filter((i) => c.clients[i]);
        await runStream(live[k++ % live.length]);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const killer = async () => {
      for (const frac of KILL_AT) {
        await waitFor(() => acked.size >= Math.ceil(TARGET * frac) || stopWorkers, 120000,
          `${frac * TARGET} acks`);
        if (stopWorkers) return;
        const old = (await c.leaderAmong([0, 1, 2])).i;
        const atAck = acked.size;
        const ks = await c.stop(old, 'SIGKILL');
        assert.strictEqual(ks.sig, 'SIGKILL');
        const tk = Date.now();
        const rest = [0, 1, 2].filter((i) => i !== old);
        const nl = (await c.leaderAmong(rest)).i;
        const electMs = Date.now() - tk;
        c.start(old);
        await waitFor(async () => (await fetch(`http://127.0.0.1:${c.ports[old].ops}/healthz`)).status === 200,
          60000, `restarted node ${old} to know a leader`);
        kills.push({ killed: old, atAck, newLeader: nl, electMs });
      }
    };

    const workers = [];
    for (let w = 0; w < STREAMS; w++) workers.push(worker(w));
    const k = killer().catch((e) => { stopWorkers = true; throw e; });
    try {
      await Promise.all(workers);
    } finally {
      stopWorkers = true;
    }
    await k;
    const sendMs = Date.now() - t0;
    assert.strictEqual(kills.length, 2, 'the leader was killed and restarted twice');
    assert.ok(acked.size >= TARGET, `acknowledged ${acked.size} of ${TARGET}`);

    // converge: the same height on all three nodes, stable
    const chains = await waitFor(async () => {
      const out = [];
      for (let i = 0; i < 3; i++) {
        const d = await deliverAll(c.clients[i], c.user, c.channel);
        if (d.status !== common.Status.SUCCESS) return null;
        out.push(d.blocks);
      }
      if (out.some((b) => b.length !== out[0].length)) return null;
      const ids = new Set(out[0].slice(1).flatMap((b) => b.txids));
      for (const t of acked) if (!ids.has(t)) return null;
      return out;
    }, 60000, 'the three chains to converge with every acknowledged envelope');

    for (let i = 0; i < 3; i++) {
      const blocks = chains[i];
      blocks.forEach((b, n) => {
        assert.strictEqual(b.num, n, `node ${i}: block numbers`);
        if (n > 0) assert.ok(b.prev.equals(blocks[n - 1].hash), `node ${i}: hash link at block ${n}`);
      });
      const count = new Map();
      for (const b of blocks.slice(1)) for (const t of b.txids) count.set(t, (count.get(t) || 0) + 1);
      for (const [t, n] of count) {
        assert.strictEqual(n, 1, `node ${i}: envelope ${t} appears ${n} times`);
        assert.ok(sent.has(t), `node ${i}: envelope ${t} was never sent`);
      }
      for (const t of acked) assert.strictEqual(count.get(t), 1, `node ${i}: acknowledged ${t} missing`);
      if (i > 0) {
        assert.strictEqual(blocks.length, chains[0].length, `node ${i}: height`);
        for (let n = 0; n < blocks.length; n++) {
          assert.ok(blocks[n].bytes.equals(chains[0][n].bytes), `node ${i}: block ${n} differs from node 0`);
        }
      }
    }
    // metrics: a node that was never killed saw the first leader and both new ones
    const changes = [];
    for (let i = 0; i < 3; i++) {
      const m = (await c.metrics(i)).match(/consensus_etcdraft_leader_changes\{channel="failover"\} (\d+)/);
      assert.ok(m, `node ${i}: consensus_etcdraft_leader_changes`);
      changes.push(Number(m[1]));
    }
    assert.ok(Math.max(...changes) >= 3, `leader changes seen: ${changes}`);
    const inChain = new Set(chains[0].slice(1).flatMap((b) => b.txids));
    const unackedCommitted = [...refused.keys()].filter((t) => inChain.has(t)).length;
    console.log(JSON.stringify({ leaderChanges: changes, acknowledged: acked.size, notAcknowledged: refused.size, unackedCommitted,
      blocks: chains[0].length, streams: streamsOpened, sendMs, kills }));

    for (let i = 0; i < 3; i++) {
      const r = await c.stop(i);
      const log = () => fs.readFileSync(path.join(c.dir, `node${i}`, 'orderer.log'), 'utf8').split('\n')
        .filter((l) => /Sanitizer|ERROR|runtime error|#\d+ 0x/.test(l)).slice(0, 60).join('\n');
      assert.strictEqual(r.code, 0, `node ${i}: clean exit (no sanitizer report)\n${r.code === 0 ? '' : log()}`);
    }
  } finally {
    await c.cleanup();
  }
});
