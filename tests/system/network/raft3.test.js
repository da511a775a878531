// `weft network up` with its default three orderers forms one Raft cluster:
// the orderers talk over their own mutual-TLS cluster listeners (the
// consenter ports in the genesis block), elect exactly one leader that all
// three know (every node healthy), and a SIGKILLed leader is replaced. The
// first election of the new channel does not wait for an election timeout:
// the consenter Fabric would pick from the channel name stands at once and
// becomes the first leader well within the 5 s timeout.
// Every process is killed by PID in `after`.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freeBase, waitFor } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-network3-'));
const DIR = path.join(TMP, 'net');
const pids = new Set();

function weft(args, timeout = 150000) {
  const r = spawnSync(WEFT, args, { encoding: 'utf8', timeout, cwd: TMP });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

after(() => {
  const run = path.join(DIR, 'run');
  if (fs.existsSync(run)) {
    for (const f of fs.readdirSync(run).filter((x) => x.endsWith('.pid'))) {
      pids.add(Number(fs.readFileSync(path.join(run, f), 'utf8').trim()));
    }
  }
  for (const pid of pids) {
    if (pid > 1) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  fs.rmSync(TMP, { recursive: true, force: true });
});

const metric = async (node, re) => {
  const text = await (await fetch(`http://${node.endpoints.operations}/metrics`)).text();
  const m = text.match(re);
  return m ? Number(m[1]) : null;
};

// Raft id (1..n) of the consenter that campaigns first on a new channel, as
// Fabric's etcdraft picks it: SHA-256 of the channel name, bytes 24.. as a
// protobuf varint (0 if unterminated within them), modulo n, plus 1.
function firstCampaigner(channel, n) {
  const h = crypto.createHash('sha256').update(channel).digest().subarray(24);
  let v = 0n;
  for (let i = 0; i < h.length; i++) {
    v |= BigInt(h[i] & 0x7f) << BigInt(7 * i);
    if ((h[i] & 0x80) === 0) return Number(v % BigInt(n)) + 1;
  }
  return 1;
}

// Time of the first log line of file matching re (log lines start with
// "YYYY-MM-DD HH:MM:SS.mmm UTC").
function logTime(file, re) {
  const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => re.test(l));
  if (!line) return null;
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC/.exec(line);
  return m ? Date.parse(`${m[1]}T${m[2]}Z`) : null;
}

test('network up with three orderers: one Raft cluster over mutual TLS', { timeout: 230000 }, async () => {
  const base = await freeBase(50, { low: 30000, step: 20 });
  const r = weft(['network', 'up', '--orgs', '1', '--peers', '1', '--base-port', String(base),
    '--dir', DIR, '--no-chaincode']);
  const j = fs.existsSync(path.join(DIR, 'network.json'))
    ? JSON.parse(fs.readFileSync(path.join(DIR, 'network.json'), 'utf8')) : { nodes: [] };
  for (const n of j.nodes) pids.add(n.pid);
  assert.strictEqual(r.code, 0, `up failed:\n${r.out}\n${r.err}`);
  const ords = j.nodes.filter((n) => n.role === 'orderer');
  assert.strictEqual(ords.length, 3, 'three orderers by default');

  // the genesis block's consenters are the cluster listeners, not the main ports
  const yaml = fs.readFileSync(ords[0].config, 'utf8');
  assert.match(yaml, /Cluster:\n\s+ListenAddress: 127\.0\.0\.1\n\s+ListenPort: \d+/);

  const leaderOf = async () => {
    const l = [];
    for (const [i, o] of ords.entries()) {
      if (!o.alive) continue;
      if (await metric(o, /consensus_etcdraft_is_leader\{channel="mychannel"\} (\d+)/) === 1) l.push(i);
    }
    return l.length === 1 ? l[0] : null;
  };
  for (const o of ords) o.alive = true;
  const leader = await waitFor(async () => { const l = await leaderOf(); return l === null ? null : { l }; },
    30000, 'one Raft leader among the three orderers');
  // the first leader: the designated consenter (ids are 1..3 in the order of
  // the orderers), elected without waiting the 5 s election timeout after
  // the first orderer opened the channel
  const chosen = firstCampaigner('mychannel', 3);
  assert.strictEqual(leader.l + 1, chosen, `first leader orderer${leader.l}, designated id ${chosen}`);
  for (const [i, o] of ords.entries()) {
    const stands = /new channel, node \d+ stands for election first/.test(fs.readFileSync(o.log, 'utf8'));
    assert.strictEqual(stands, i + 1 === chosen, `${o.name}: stands first?`);
  }
  const opened = Math.min(...ords.map((o) => logTime(o.log, /joined channel mychannel/)));
  const elected = Math.min(...ords.map((o) => logTime(o.log, /leader is now [1-9]/) ?? Infinity));
  assert.ok(Number.isFinite(opened) && Number.isFinite(elected), 'join and leader lines in the logs');
  console.log(`# first leader ${elected - opened} ms after the first orderer joined the channel`);
  assert.ok(elected - opened < 4500, `first leader ${elected - opened} ms after the channel opened`);
  for (const o of ords) {
    assert.strictEqual(await metric(o, /consensus_etcdraft_cluster_size\{channel="mychannel"\} (\d+)/), 3);
  }
  const st = weft(['network', 'status', '--dir', DIR, '--json']);
  assert.strictEqual(st.code, 0, st.out + st.err);
  const s = JSON.parse(st.out);
  assert.strictEqual(s.healthy, true, 'every node healthy: every orderer knows the leader');

  // lose the leader: the other two elect a new one and stay healthy
  const dead = ords[leader.l];
  process.kill(dead.pid, 'SIGKILL');
  dead.alive = false;
  const next = await waitFor(async () => { const l = await leaderOf(); return l === null ? null : { l }; },
    30000, 'a new leader among the two survivors');
  assert.notStrictEqual(next.l, leader.l);
  for (const o of ords.filter((x) => x.alive)) {
    await waitFor(async () => (await fetch(`http://${o.endpoints.operations}/healthz`)).status === 200,
      20000, `${o.name} healthy`);
  }

  const down = weft(['network', 'down', '--dir', DIR]);
  assert.strictEqual(down.code, 0, down.out + down.err);
  assert.strictEqual(fs.existsSync(DIR), false);
});
