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
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const grpc = require('@grpc/grpc-js');
const { common, orderer, msp } = require('@hyperledger/fabric-protos');
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

function loadIdentity(dir, mspid) {
  const cert = fs.readFileSync(path.join(dir, 'signcerts', fs.readdirSync(path.join(dir, 'signcerts'))[0]));
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'keystore',
    fs.readdirSync(path.join(dir, 'keystore'))[0])));
  const si = new msp.SerializedIdentity();
  si.setMspid(mspid);
  si.setIdBytes(cert);
  return { cert, key, creator: Buffer.from(si.serializeBinary()) };
}

const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
function sign(key, data) { // ECDSA P-256 / SHA-256, low S (Fabric)
  const der = crypto.sign('sha256', data, key);
  const rLen = der[3];
  const r = der.subarray(4, 4 + rLen);
  const sLen = der[5 + rLen];
  let s = BigInt('0x' + der.subarray(6 + rLen, 6 + rLen + sLen).toString('hex'));
  if (s > N / 2n) s = N - s;
  const int = (v) => { let h = v.toString(16); if (h.length % 2) h = '0' + h; let x = Buffer.from(h, 'hex');
    if (x[0] & 0x80) x = Buffer.concat([Buffer.from([0]), x]); return x; };
  const rr = int(BigInt('0x' + r.toString('hex')));
  const ss = int(s);
  const body = Buffer.concat([Buffer.from([2, rr.length]), rr, Buffer.from([2, ss.length]), ss]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function envelope(id, channel, type, data, txid) {
  const ch = new common.ChannelHeader();
  ch.setType(type);
  ch.setChannelId(channel);
  const t = new Timestamp();
  t.setSeconds(Math.floor(Date.now() / 1000));
  ch.setTimestamp(t);
  ch.setTxId(txid || crypto.randomBytes(16).toString('hex'));
  const sh = new common.SignatureHeader();
  sh.setCreator(id.creator);
  sh.setNonce(crypto.randomBytes(24));
  const hdr = new common.Header();
  hdr.setChannelHeader(ch.serializeBinary());
  hdr.setSignatureHeader(sh.serializeBinary());
  const p = new common.Payload();
  p.setHeader(hdr);
  p.setData(data);
  const payload = Buffer.from(p.serializeBinary());
  const env = new common.Envelope();
  env.setPayload(payload);
  env.setSignature(sign(id.key, payload));
  return Buffer.from(env.serializeBinary());
}

function headerHash(h) {
  const len = (n) => (n < 128 ? Buffer.from([n]) : Buffer.from([0x81, n]));
  let x = BigInt(h.getNumber()).toString(16); if (x.length % 2) x = '0' + x;
  let num = Buffer.from(x, 'hex'); if (num[0] & 0x80) num = Buffer.concat([Buffer.from([0]), num]);
  const prev = Buffer.from(h.getPreviousHash());
  const dh = Buffer.from(h.getDataHash());
  const body = Buffer.concat([Buffer.from([2]), len(num.length), num, Buffer.from([4]), len(prev.length),
    prev, Buffer.from([4]), len(dh.length), dh]);
  return crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0x30]), len(body.length), body]))
    .digest();
}

function broadcastAll(client, envs) {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Broadcast', (b) => b,
      (b) => orderer.BroadcastResponse.deserializeBinary(b), null, { deadline: Date.now() + 60000 });
    const out = [];
    call.on('data', (r) => { out.push({ status: r.getStatus(), info: r.getInfo() });
      if (out.length === envs.length) call.end(); });
    call.on('error', (e) => (e.code === grpc.status.CANCELLED ? resolve(out) : reject(e)));
    call.on('end', () => resolve(out));
    for (const e of envs) call.write(e);
  });
}

function seekEnv(id, channel) {
  const oldest = new orderer.SeekPosition();
  oldest.setOldest(new orderer.SeekOldest());
  const newest = new orderer.SeekPosition();
  newest.setNewest(new orderer.SeekNewest());
  const si = new orderer.SeekInfo();
  si.setStart(oldest);
  si.setStop(newest);
  si.setBehavior(orderer.SeekInfo.SeekBehavior.BLOCK_UNTIL_READY);
  return envelope(id, channel, common.HeaderType.DELIVER_SEEK_INFO, si.serializeBinary());
}

// All blocks 0..newest of a node: [{num, hash, prev, bytes, txids}]
function deliverAll(client, id) {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Deliver', (b) => b,
      (b) => orderer.DeliverResponse.deserializeBinary(b), null, { deadline: Date.now() + 20000 });
    const blocks = [];
    call.on('data', (r) => {
      if (r.hasBlock()) {
        const b = r.getBlock();
        const txids = b.getData().getDataList().map((e) => {
          const p = common.Payload.deserializeBinary(common.Envelope.deserializeBinary(e).getPayload());
          return common.ChannelHeader.deserializeBinary(p.getHeader().getChannelHeader()).getTxId();
        });
        blocks.push({ num: b.getHeader().getNumber(), hash: headerHash(b.getHeader()),
          prev: Buffer.from(b.getHeader().getPreviousHash()), bytes: Buffer.from(b.serializeBinary()),
          txids });
      } else { call.end(); resolve({ status: r.getStatus(), blocks }); }
    });
    call.on('error', reject);
    call.write(seekEnv(id, 'raftchannel'));
  });
}

test('orderer raft: 3 nodes, forwarding, leader loss, catch-up', { timeout: 170000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-raft-'));
  const nodes = [null, null, null];
  const clients = [null, null, null];
  const run = (args) => execFileSync(WEFT, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    // identities and the genesis block with three consenters
    run(['crypto', 'generate', '--config', path.join(SRC, 'config', 'crypto-config.yaml'),
      '--output', path.join(dir, 'crypto-config')]);
    const ports = [];
    for (let i = 0; i < 3; i++) {
      ports.push({ grpc: await freePort(), cluster: await freePort(), admin: await freePort(),
        ops: await freePort() });
    }
    let ctx = fs.readFileSync(path.join(SRC, 'config', 'configtx.yaml'), 'utf8');
    const hosts = ['orderer.example.com', 'orderer2.example.com', 'orderer3.example.com'];
    const defPorts = [7050, 8050, 9050];
    for (let i = 0; i < 3; i++) {
      const re = new RegExp(`Host: ${hosts[i].replace(/\./g, '\\.')}\\n(\\s*)Port: ${defPorts[i]}`);
      assert.match(ctx, re, 'sample configtx.yaml lists the consenter');
      ctx = ctx.replace(re, `Host: 127.0.0.1\n$1Port: ${ports[i].cluster}`);
    }
    ctx = ctx.replace(/TickInterval: 500ms/, 'TickInterval: 100ms').replace(/BatchTimeout: 2s/, 'BatchTimeout: 200ms');
    fs.mkdirSync(path.join(dir, 'config'));
    fs.writeFileSync(path.join(dir, 'config', 'configtx.yaml'), ctx);
    run(['configtx', 'genesis', '--config', path.join(dir, 'config', 'configtx.yaml'), '--profile',
      'TwoOrgsApplicationGenesis', '--channel', 'raftchannel', '--output', path.join(dir, 'raft.block')]);
    const genesis = fs.readFileSync(path.join(dir, 'raft.block'));

    const ordDir = (i) => path.join(dir, 'crypto-config/ordererOrganizations/example.com/orderers', hosts[i]);
    const tlsCA = fs.readFileSync(path.join(dir,
      'crypto-config/ordererOrganizations/example.com/tlsca/tlsca.example.com-cert.pem'));
    const start = (i) => {
      const home = path.join(dir, `node${i}`);
      fs.mkdirSync(home, { recursive: true });
      const tls = path.join(ordDir(i), 'tls');
      const log = fs.openSync(path.join(home, 'orderer.log'), 'a');
      const env = { ...process.env,
        ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1', ORDERER_GENERAL_LISTENPORT: String(ports[i].grpc),
        ORDERER_GENERAL_TLS_ENABLED: 'true',
        ORDERER_GENERAL_TLS_CERTIFICATE: path.join(tls, 'server.crt'),
        ORDERER_GENERAL_TLS_PRIVATEKEY: path.join(tls, 'server.key'),
        ORDERER_GENERAL_TLS_ROOTCAS: path.join(tls, 'ca.crt'),
        ORDERER_GENERAL_CLUSTER_LISTENADDRESS: '127.0.0.1',
        ORDERER_GENERAL_CLUSTER_LISTENPORT: String(ports[i].cluster),
        ORDERER_GENERAL_CLUSTER_SERVERCERTIFICATE: path.join(tls, 'server.crt'),
        ORDERER_GENERAL_CLUSTER_SERVERPRIVATEKEY: path.join(tls, 'server.key'),
        ORDERER_GENERAL_CLUSTER_ROOTCAS: path.join(tls, 'ca.crt'),
        ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none', ORDERER_GENERAL_LOCALMSPDIR: path.join(ordDir(i), 'msp'),
        ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP', ORDERER_FILELEDGER_LOCATION: path.join(home, 'ledger'),
        ORDERER_CONSENSUS_WALDIR: path.join(home, 'wal'), ORDERER_CONSENSUS_SNAPDIR: path.join(home, 'snap'),
        ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
        ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${ports[i].admin}`,
        ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${ports[i].ops}`, ORDERER_METRICS_PROVIDER: 'prometheus' };
      const child = spawn(WEFT, ['orderer', 'start', '--config', path.join(SRC, 'config', 'orderer.yaml')],
        { env, stdio: ['ignore', log, log], cwd: home });
      const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
      nodes[i] = { child, exited };
      clients[i] = new grpc.Client(`127.0.0.1:${ports[i].grpc}`, grpc.credentials.createSsl(tlsCA));
    };
    const stop = async (i, sig = 'SIGTERM') => {
      const n = nodes[i];
      if (!n) return null;
      nodes[i] = null;
      if (clients[i]) { clients[i].close(); clients[i] = null; }
      n.child.kill(sig);
      const t = setTimeout(() => n.child.kill('SIGKILL'), 15000);
      const r = await n.exited;
      clearTimeout(t);
      return r;
    };
    const admin = (i) => `http://127.0.0.1:${ports[i].admin}/participation/v1/channels`;
    const isLeader = async (i) => /consensus_etcdraft_is_leader\{channel="raftchannel"\} 1/.test(
      await (await fetch(`http://127.0.0.1:${ports[i].ops}/metrics`)).text());
    const leaderAmong = (idx) => waitFor(async () => {
      const l = [];
      for (const i of idx) if (await isLeader(i)) l.push(i);
      return l.length === 1 ? { i: l[0] } : null;
    }, 30000, 'a single Raft leader');

    for (let i = 0; i < 3; i++) start(i);
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (await fetch(admin(i))).status === 200, 30000, `admin API of node ${i}`);
    }
    for (let i = 0; i < 3; i++) {
      const form = new FormData();
      form.append('config-block', new Blob([genesis]), 'raft.block');
      const j = await fetch(admin(i), { method: 'POST', body: form });
      assert.strictEqual(j.status, 201, await j.clone().text());
    }
    let leader = (await leaderAmong([0, 1, 2])).i;
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports[i].ops}/healthz`)).status === 200,
        20000, `healthz of node ${i} (follower or leader)`);
    }
    const user = loadIdentity(path.join(dir,
      'crypto-config/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp'), 'Org1MSP');
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
      const d = await deliverAll(clients[i], user);
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
    await expectAll(await broadcastAll(clients[f1], batch(40, 'via-follower')), 'broadcast to a follower');
    await expectAll(await broadcastAll(clients[leader], batch(40, 'via-leader')), 'broadcast to the leader');
    const chains = [];
    for (let i = 0; i < 3; i++) chains.push(await converged(i));
    assert.ok(chains[0].length > 1, 'blocks were cut');
    sameChains(chains[0], chains[1], 'nodes 0 and 1');
    sameChains(chains[0], chains[2], 'nodes 0 and 2');

    // kill the leader: the other two elect a new one and go on ordering
    const killed = leader;
    const ks = await stop(killed, 'SIGKILL');
    assert.strictEqual(ks.sig, 'SIGKILL');
    const rest = [0, 1, 2].filter((i) => i !== killed);
    leader = (await leaderAmong(rest)).i;
    const f2 = rest.find((i) => i !== leader);
    await expectAll(await broadcastAll(clients[f2], batch(25, 'after-kill-follower')), 'follower after leader loss');
    await expectAll(await broadcastAll(clients[leader], batch(25, 'after-kill-leader')), 'new leader');
    const after = {};
    for (const i of rest) after[i] = await converged(i);
    sameChains(after[rest[0]], after[rest[1]], 'survivors');
    assert.ok(after[rest[0]].length > chains[0].length, 'new blocks after the leader loss');
    sameChains(after[rest[0]].slice(0, chains[0].length), chains[0], 'history kept');

    // restart the killed node: it catches up to the same chain
    start(killed);
    await waitFor(async () => (await fetch(admin(killed))).status === 200, 30000, 'restarted admin API');
    const caught = await converged(killed);
    sameChains(caught, after[rest[0]], 'restarted node');
    // and it orders again, as a follower forwarding to the leader
    await expectAll(await broadcastAll(clients[killed], batch(10, 'via-restarted')), 'restarted node');
    const fin = [];
    for (let i = 0; i < 3; i++) fin.push(await converged(i));
    sameChains(fin[0], fin[1], 'final 0/1');
    sameChains(fin[0], fin[2], 'final 0/2');

    for (let i = 0; i < 3; i++) {
      const r = await stop(i);
      assert.strictEqual(r.code, 0, `node ${i}: clean exit (no sanitizer report)`);
    }
  } finally {
    for (let i = 0; i < 3; i++) {
      if (clients[i]) clients[i].close();
      const n = nodes[i];
      if (n) {
        n.child.kill('SIGKILL');
        await n.exited;
      }
    }
    if (process.env.WEFT_KEEP_TMP) console.log('kept', dir); else fs.rmSync(dir, { recursive: true, force: true });
  }
});
