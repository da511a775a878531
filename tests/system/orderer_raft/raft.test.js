// Three `weft orderer start` processes form one Raft group per channel:
// identities from `weft crypto generate`, a genesis block with three etcdraft
// consenters from `weft configtx genesis`, TLS on (General.TLS.* for
// Broadcast/Deliver, a separate mutual-TLS cluster listener
// General.Cluster.*). Join all three, broadcast to a follower and to the
// leader, deliver from all three and compare the blocks; kill the leader, a
// new one is elected and ordering goes on; restart the killed node, it
// catches up to the same blocks. Every process is stopped by PID.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const { waitFor, envelope, deliverAll, broadcastAll, makeCluster, common } = require('./cluster.js');

test('orderer raft: 3 nodes, forwarding, leader loss, catch-up', { timeout: 170000 }, async () => {
  const c = await makeCluster({ channel: 'raftchannel' });
  try {
    for (let i = 0; i < 3; i++) c.start(i);
    for (let i = 0; i < 3; i++) await c.join(i);
    let leader = (await c.leaderAmong([0, 1, 2])).i;
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${c.ports[i].ops}/healthz`)).status === 200,
        20000, `healthz of node ${i} (follower or leader)`);
    }
    const user = c.user;
    const sent = new Set();
    const batch = (n, tag) => {
      const out = [];
      for (let k = 0; k < n; k++) {
        const txid = `${tag}-${k}-${crypto.randomBytes(4).toString('hex')}`;
        sent.add(txid);
        out.push(envelope(user, 'raftchannel', common.HeaderType.ENDORSER_TRANSACTION, Buffer.from(txid), txid));
      }
      return out;
    };
    const expectAll = async (res, what) => {
      assert.ok(res.length > 0, what);
      for (const r of res) assert.strictEqual(r.status, common.Status.SUCCESS, `${what}: ${r.info}`);
    };
    // every node's chain holds exactly the acknowledged envelopes, once,
    // with intact hash links; returns the chain
    const converged = (i) => waitFor(async () => {
      const d = await deliverAll(c.clients[i], user, 'raftchannel', 20000);
      if (d.status !== common.Status.SUCCESS) return null;
      const ids = d.blocks.slice(1).flatMap((b) => b.txids); // block 0: the config
      if (ids.length !== sent.size) return null;
      assert.strictEqual(new Set(ids).size, ids.length, `node ${i}: duplicate envelopes`);
      for (const t of ids) assert.ok(sent.has(t), `node ${i}: unknown envelope ${t}`);
      d.blocks.forEach((b, k) => {
        assert.strictEqual(b.num, k);
        if (k > 0) assert.ok(b.prev.equals(d.blocks[k - 1].hash), `node ${i}: hash link at block ${k}`);
      });
      return d.blocks;
    }, 30000, `node ${i} to hold all ${sent.size} envelopes`);
    const sameChains = (a, b, what) => {
      assert.strictEqual(a.length, b.length, `${what}: heights`);
      for (let k = 0; k < a.length; k++) {
        assert.ok(a[k].hash.equals(b[k].hash), `${what}: hash of block ${k}`);
        assert.ok(a[k].bytes.equals(b[k].bytes), `${what}: bytes of block ${k}`);
      }
    };

    const f1 = (leader + 1) % 3;
    await expectAll(await broadcastAll(c.clients[f1], batch(40, 'via-follower')), 'broadcast to a follower');
    await expectAll(await broadcastAll(c.clients[leader], batch(40, 'via-leader')), 'broadcast to the leader');
    const chains = [];
    for (let i = 0; i < 3; i++) chains.push(await converged(i));
    assert.ok(chains[0].length > 1, 'blocks were cut');
    sameChains(chains[0], chains[1], 'nodes 0 and 1');
    sameChains(chains[0], chains[2], 'nodes 0 and 2');

    // kill the leader: the other two elect a new one and go on ordering
    const killed = leader;
    const ks = await c.stop(killed, 'SIGKILL');
    assert.strictEqual(ks.sig, 'SIGKILL');
    const rest = [0, 1, 2].filter((i) => i !== killed);
    leader = (await c.leaderAmong(rest)).i;
    const f2 = rest.find((i) => i !== leader);
    await expectAll(await broadcastAll(c.clients[f2], batch(25, 'after-kill-follower')), 'follower after leader loss');
    await expectAll(await broadcastAll(c.clients[leader], batch(25, 'after-kill-leader')), 'new leader');
    const after = {};
    for (const i of rest) after[i] = await converged(i);
    sameChains(after[rest[0]], after[rest[1]], 'survivors');
    assert.ok(after[rest[0]].length > chains[0].length, 'new blocks after the leader loss');
    sameChains(after[rest[0]].slice(0, chains[0].length), chains[0], 'history kept');

    // restart the killed node: it catches up to the same chain
    c.start(killed);
    // a restart replays the Raft log: allow for a slow (sanitized, loaded) machine
    await c.waitUp(killed, 60000);
    const caught = await converged(killed);
    sameChains(caught, after[rest[0]], 'restarted node');
    // and it orders again, as a follower forwarding to the leader
    await expectAll(await broadcastAll(c.clients[killed], batch(10, 'via-restarted')), 'restarted node');
    const fin = [];
    for (let i = 0; i < 3; i++) fin.push(await converged(i));
    sameChains(fin[0], fin[1], 'final 0/1');
    sameChains(fin[0], fin[2], 'final 0/2');

    for (let i = 0; i < 3; i++) {
      const r = await c.stop(i);
      assert.strictEqual(r.code, 0, `node ${i}: clean exit (no sanitizer report)`);
    }
  } finally {
    await c.cleanup();
  }
});
