// Helpers shared by the orderer Raft system tests: a 3-node weft orderer
// cluster on loopback (identities from `weft crypto generate`, a genesis
// block with three etcdraft consenters from `weft configtx genesis`, TLS on
// the main listener and a separate mutual-TLS cluster listener), signed
// envelopes, Broadcast and Deliver clients. Every process is tracked by PID.
'use strict';
const assert = require('node:assert');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { common, orderer } = require('@hyperledger/fabric-protos');
const { freePort, waitFor, loadIdentity, sign, envelope, broadcastAll } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;

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

// All blocks 0..newest of a node: {status, blocks: [{num, hash, prev, bytes, txids}]}
function deliverAll(client, id, channel, ms = 30000) {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Deliver', (b) => b,
      (b) => orderer.DeliverResponse.deserializeBinary(b), null, { deadline: Date.now() + ms });
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
    call.write(seekEnv(id, channel));
  });
}

// A cluster of three orderers in a fresh temporary folder.
// nodes: 3 (default) or 1 (a single consenter: orderer.example.com only).
async function makeCluster({ channel, batchTimeout = '200ms', maxMessageCount = null, tick = '100ms',
  nodes: size = 3 }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-raft-'));
  const run = (args) => execFileSync(WEFT, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
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
  if (size === 1) {
    ctx = ctx.replace(/\n(\s*)- Host: orderer2\.example\.com[\s\S]*?(?=\n\s*Options:)/, '\n');
    assert.ok(!/orderer2\.example\.com\/tls/.test(ctx), 'one consenter left');
  }
  for (let i = 0; i < size; i++) {
    const re = new RegExp(`Host: ${hosts[i].replace(/\./g, '\\.')}\\n(\\s*)Port: ${defPorts[i]}`);
    assert.match(ctx, re, 'sample configtx.yaml lists the consenter');
    ctx = ctx.replace(re, `Host: 127.0.0.1\n$1Port: ${ports[i].cluster}`);
  }
  ctx = ctx.replace(/TickInterval: 500ms/, `TickInterval: ${tick}`)
    .replace(/BatchTimeout: 2s/, `BatchTimeout: ${batchTimeout}`);
  if (maxMessageCount) ctx = ctx.replace(/MaxMessageCount: \d+/, `MaxMessageCount: ${maxMessageCount}`);
  fs.mkdirSync(path.join(dir, 'config'));
  fs.writeFileSync(path.join(dir, 'config', 'configtx.yaml'), ctx);
  run(['configtx', 'genesis', '--config', path.join(dir, 'config', 'configtx.yaml'), '--profile',
    'TwoOrgsApplicationGenesis', '--channel', channel, '--output', path.join(dir, 'genesis.block')]);
  const genesis = fs.readFileSync(path.join(dir, 'genesis.block'));
  const ordDir = (i) => path.join(dir, 'crypto-config/ordererOrganizations/example.com/orderers', hosts[i]);
  const tlsCA = fs.readFileSync(path.join(dir,
    'crypto-config/ordererOrganizations/example.com/tlsca/tlsca.example.com-cert.pem'));
  const nodes = [null, null, null];
  const clients = [null, null, null];

  const c = { dir, ports, genesis, nodes, clients, channel,
    user: loadIdentity(path.join(dir,
      'crypto-config/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp'), 'Org1MSP') };
  c.start = (i) => {
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
    fs.closeSync(log);
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
    nodes[i] = { child, exited, logPath: path.join(home, 'orderer.log') };
    clients[i] = new grpc.Client(`127.0.0.1:${ports[i].grpc}`, grpc.credentials.createSsl(tlsCA));
  };
  c.stop = async (i, sig = 'SIGTERM') => {
    const n = nodes[i];
    if (!n) return null;
    nodes[i] = null;
    if (clients[i]) { clients[i].close(); clients[i] = null; }
    n.child.kill(sig);
    const t = setTimeout(() => n.child.kill('SIGKILL'), 20000);
    const r = await n.exited;
    clearTimeout(t);
    return r;
  };
  c.admin = (i) => `http://127.0.0.1:${ports[i].admin}/participation/v1/channels`;
  c.metrics = async (i) => (await fetch(`http://127.0.0.1:${ports[i].ops}/metrics`)).text();
  c.isLeader = async (i) => new RegExp(`consensus_etcdraft_is_leader\\{channel="${channel}"\\} 1`)
    .test(await c.metrics(i));
  c.leaderAmong = (idx, ms = 30000) => waitFor(async () => {
    const l = [];
    for (const i of idx) if (await c.isLeader(i)) l.push(i);
    return l.length === 1 ? { i: l[0] } : null;
  }, ms, 'a single Raft leader');
  // The end of node i's log, for failure messages (the folder is removed at cleanup).
  const logTail = (i) => {
    try {
      return fs.readFileSync(nodes[i].logPath, 'utf8').split('\n').slice(-15).join('\n');
    } catch (e) {
      return `(no log: ${e.message})`;
    }
  };
  // Waits for node i's admin API; a node that exits or does not come up is
  // reported with its exit status and the end of its log.
  c.waitUp = async (i, ms = 30000) => {
    try {
      await waitFor(async () => {
        if (nodes[i].child.exitCode !== null || nodes[i].child.signalCode !== null) {
          throw new Error(`node ${i} exited (${nodes[i].child.exitCode ?? nodes[i].child.signalCode})`);
        }
        return (await fetch(c.admin(i))).status === 200;
      }, ms, `admin API of node ${i}`);
    } catch (e) {
      throw new Error(`${e.message}\n--- node ${i} log ---\n${logTail(i)}`);
    }
  };
  c.join = async (i) => {
    await c.waitUp(i);
    const form = new FormData();
    form.append('config-block', new Blob([genesis]), 'genesis.block');
    const j = await fetch(c.admin(i), { method: 'POST', body: form });
    assert.strictEqual(j.status, 201, await j.clone().text());
  };
  c.cleanup = async () => {
    for (let i = 0; i < 3; i++) {
      if (clients[i]) clients[i].close();
      const n = nodes[i];
      if (n) {
        n.child.kill('SIGKILL');
        await n.exited;
      }
    }
    if (process.env.WEFT_KEEP_TMP) console.log('kept', dir); else fs.rmSync(dir, { recursive: true, force: true });
  };
  return c;
}

module.exports = { freePort, waitFor, loadIdentity, sign, envelope, headerHash, seekEnv, deliverAll,
  broadcastAll, makeCluster, grpc, common, orderer };
