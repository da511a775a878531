// `weft orderer start` end to end: join the Fabric vector channel through
// the participation API (multipart, as osnadmin sends it), Broadcast signed
// envelopes from a Node client (@grpc/grpc-js + @hyperledger/fabric-protos),
// Deliver them back, check every block's orderer signature and the hash
// chain; bad envelopes get Fabric's statuses and never reach a block; a
// restarted orderer keeps its chain and goes on ordering.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { common, orderer, msp } = require('@hyperledger/fabric-protos');
const { freePort, waitFor, loadIdentity, sign, broadcastAll } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;
const VEC = path.join(process.env.WEFT_SHARED_DIR || path.join(SRC, '..', 'shared'),
  'vectors', 'fabric-2.4.9');
const CRYPTO = path.join(VEC, 'crypto');
const ORD_MSP = path.join(CRYPTO, 'ordererOrganizations/example.com/orderers/orderer.example.com/msp');
const USER_MSP = path.join(CRYPTO, 'peerOrganizations/org1.example.com/users/User1@org1.example.com/msp');
const ORG2_MSP = path.join(CRYPTO, 'peerOrganizations/org2.example.com/users/User1@org2.example.com/msp');
const N_ENV = 300;

function envelope(id, channel, type, data, { badSig = false, unsigned = false, ts } = {}) {
  const ch = new common.ChannelHeader();
  ch.setType(type);
  ch.setChannelId(channel);
  const t = new (require('google-protobuf/google/protobuf/timestamp_pb').Timestamp)();
  t.setSeconds(ts !== undefined ? ts : Math.floor(Date.now() / 1000));
  ch.setTimestamp(t);
  ch.setTxId(crypto.randomBytes(16).toString('hex'));
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
  if (!unsigned) {
    const sig = sign(id.key, payload);
    if (badSig) sig[sig.length - 3] ^= 0x41;
    env.setSignature(sig);
  }
  return Buffer.from(env.serializeBinary());
}

function headerDer(number, prev, dataHash) {
  const len = (n) => (n < 128 ? Buffer.from([n]) : Buffer.from([0x81, n]));
  let h = BigInt(number).toString(16); if (h.length % 2) h = '0' + h;
  let num = Buffer.from(h, 'hex'); if (num[0] & 0x80) num = Buffer.concat([Buffer.from([0]), num]);
  const parts = [Buffer.from([2]), len(num.length), num, Buffer.from([4]), len(prev.length), prev,
    Buffer.from([4]), len(dataHash.length), dataHash];
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30]), len(body.length), body]);
}

function seekEnv(id, channel, start, stop, behavior = 0) {
  const pos = (n) => { const p = new orderer.SeekPosition();
    if (n === 'newest') p.setNewest(new orderer.SeekNewest());
    else { const s = new orderer.SeekSpecified(); s.setNumber(n); p.setSpecified(s); } return p; };
  const si = new orderer.SeekInfo();
  si.setStart(pos(start));
  si.setStop(pos(stop));
  si.setBehavior(behavior);
  return envelope(id, channel, common.HeaderType.DELIVER_SEEK_INFO, si.serializeBinary());
}

function deliver(client, env) {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Deliver', (b) => b,
      (b) => orderer.DeliverResponse.deserializeBinary(b), null, { deadline: Date.now() + 30000 });
    const blocks = [];
    call.on('data', (r) => {
      if (r.hasBlock()) blocks.push(r.getBlock());
      else { call.end(); resolve({ status: r.getStatus(), blocks }); }
    });
    call.on('error', reject);
    call.write(env);
  });
}

function startOrderer(dir, ports) {
  const log = fs.openSync(path.join(dir, 'orderer.log'), 'a');
  const env = { ...process.env,
    ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1', ORDERER_GENERAL_LISTENPORT: String(ports.grpc),
    ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none', ORDERER_GENERAL_LOCALMSPDIR: ORD_MSP,
    ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP', ORDERER_FILELEDGER_LOCATION: path.join(dir, 'ledger'),
    ORDERER_CONSENSUS_WALDIR: path.join(dir, 'wal'), ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
    ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${ports.admin}`,
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${ports.ops}`, ORDERER_METRICS_PROVIDER: 'prometheus' };
  const child = spawn(WEFT, ['orderer', 'start', '--config', path.join(SRC, 'config', 'orderer.yaml')],
    { env, stdio: ['ignore', log, log], cwd: dir });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  return { child, exited };
}

async function stop(node) {
  node.child.kill('SIGTERM');
  const t = setTimeout(() => node.child.kill('SIGKILL'), 10000);
  const r = await node.exited;
  clearTimeout(t);
  return r;
}

test('orderer: join, broadcast, deliver, refusals, restart', { timeout: 150000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-orderer-'));
  const ports = { grpc: await freePort(), admin: await freePort(), ops: await freePort() };
  let node = startOrderer(dir, ports);
  const admin = `http://127.0.0.1:${ports.admin}/participation/v1/channels`;
  const user = loadIdentity(USER_MSP, 'Org1MSP');
  const org2 = loadIdentity(ORG2_MSP, 'Org2MSP');
  const ordCert = crypto.createPublicKey(loadIdentity(ORD_MSP, 'OrdererMSP').cert);
  let client;
  try {
    await waitFor(async () => (await fetch(admin)).status === 200, 20000, 'admin API');
    // join with the configtxgen genesis block, as osnadmin does (multipart)
    const form = new FormData();
    form.append('config-block', new Blob([fs.readFileSync(path.join(VEC, 'blocks', 'genesis.block'))]),
      'genesis.block');
    const j = await fetch(admin, { method: 'POST', body: form });
    assert.strictEqual(j.status, 201, await j.clone().text());
    const info = await j.json();
    assert.strictEqual(info.name, 'mychannel');
    assert.strictEqual(info.height, 1);
    const again = await fetch(admin, { method: 'POST', body: form });
    assert.strictEqual(again.status, 405, 'joining twice is refused');
    const list = await (await fetch(admin)).json();
    assert.deepStrictEqual(list.channels.map((c) => c.name), ['mychannel']);
    assert.strictEqual(list.systemChannel, null);

    client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.ops}/healthz`)).status === 200,
      10000, 'a Raft leader');

    // good envelopes
    const good = [];
    for (let i = 0; i < N_ENV; i++) {
      good.push(envelope(user, 'mychannel', common.HeaderType.ENDORSER_TRANSACTION,
        Buffer.from(`tx-${i}`)));
    }
    const res = await broadcastAll(client, good);
    assert.strictEqual(res.length, N_ENV);
    for (const r of res) assert.strictEqual(r.status, common.Status.SUCCESS, r.info);

    // refusals, each on its own stream (the stream ends after a refusal)
    const big = Buffer.alloc(11 * 1024 * 1024, 7);
    const cases = [
      ['garbage', Buffer.from([0xff, 0xff, 0x01]), common.Status.BAD_REQUEST],
      ['unknown channel', envelope(user, 'nochannel', 3, Buffer.from('x')), common.Status.BAD_REQUEST],
      ['oversize', envelope(user, 'mychannel', 3, big), common.Status.REQUEST_ENTITY_TOO_LARGE],
      ['bad signature', envelope(user, 'mychannel', 3, Buffer.from('bad'), { badSig: true }),
        common.Status.FORBIDDEN],
      ['unsigned', envelope(user, 'mychannel', 3, Buffer.from('unsigned'), { unsigned: true }),
        common.Status.FORBIDDEN],
      ['config update', envelope(user, 'mychannel', 2, Buffer.from('cu')), common.Status.BAD_REQUEST],
    ];
    const refusedPayloads = [];
    for (const [name, env, want] of cases) {
      const r = await broadcastAll(client, [env]);
      assert.strictEqual(r.length, 1, name);
      assert.strictEqual(r[0].status, want, `${name}: ${r[0].info}`);
      assert.ok(r[0].info.length > 0, `${name} has an info string`);
      refusedPayloads.push(env);
    }
    void org2;

    // deliver everything back: blocks 0.. until all N_ENV envelopes are seen
    const seen = new Map();
    let blocks = [];
    await waitFor(async () => {
      const d = await deliver(client, seekEnv(user, 'mychannel', 0, 'newest', 1));
      if (d.status !== common.Status.SUCCESS) throw new Error(`deliver status ${d.status}`);
      blocks = d.blocks;
      let n = 0;
      for (const b of blocks.slice(1)) n += b.getData().getDataList().length;
      if (n < N_ENV) throw new Error(`${n} envelopes in ${blocks.length} blocks`);
      return true;
    }, 20000, 'all envelopes in blocks');
    let prevHash = null;
    for (const b of blocks) {
      const h = b.getHeader();
      const data = b.getData().getDataList().map((d) => Buffer.from(d));
      const dh = crypto.createHash('sha256').update(Buffer.concat(data)).digest();
      assert.ok(dh.equals(Buffer.from(h.getDataHash())), `data hash of block ${h.getNumber()}`);
      if (prevHash) assert.ok(prevHash.equals(Buffer.from(h.getPreviousHash())), 'hash chain');
      const der = headerDer(h.getNumber(), Buffer.from(h.getPreviousHash()), dh);
      prevHash = crypto.createHash('sha256').update(der).digest();
      if (h.getNumber() === 0) continue;
      const md = common.Metadata.deserializeBinary(b.getMetadata().getMetadataList()[0]);
      const sigs = md.getSignaturesList();
      assert.strictEqual(sigs.length, 1);
      const msg = Buffer.concat([Buffer.from(md.getValue()), Buffer.from(sigs[0].getSignatureHeader()), der]);
      assert.ok(crypto.verify('sha256', msg, ordCert, Buffer.from(sigs[0].getSignature())),
        `orderer signature of block ${h.getNumber()}`);
      for (const d of data) {
        const k = d.toString('hex');
        assert.ok(!seen.has(k), 'each envelope exactly once');
        seen.set(k, h.getNumber());
      }
    }
    for (const e of good) assert.ok(seen.has(e.toString('hex')), 'acknowledged envelope is in a block');
    for (const e of refusedPayloads) assert.ok(!seen.has(e.toString('hex')), 'refused envelope is not');
    const height = blocks.length;

    // deliver refusals
    const nf = await deliver(client, seekEnv(user, 'nochannel', 0, 'newest'));
    assert.strictEqual(nf.status, common.Status.NOT_FOUND);
    const beyond = await deliver(client, seekEnv(user, 'mychannel', height + 5, height + 6));
    assert.strictEqual(beyond.status, common.Status.NOT_FOUND);
    const wrong = await deliver(client, seekEnv(user, 'mychannel', 3, 1));
    assert.strictEqual(wrong.status, common.Status.BAD_REQUEST);
    const failNotReady = await deliver(client, seekEnv(user, 'mychannel', height, height, 1));
    assert.strictEqual(failNotReady.status, common.Status.NOT_FOUND);

    // metrics
    const metrics = await (await fetch(`http://127.0.0.1:${ports.ops}/metrics`)).text();
    const metric = (re) => {
      const m = metrics.match(re);
      assert.ok(m, `metric ${re} in\n${metrics}`);
      return Number(m[1]);
    };
    const ET = 'ENDORSER_TRANSACTION';
    // Broadcast accepted / refused, by channel, header type and status (Fabric's labels;
    // the exposition sorts them)
    assert.strictEqual(metric(new RegExp(
      `broadcast_processed_count\\{channel="mychannel",status="SUCCESS",type="${ET}"\\} (\\d+)`)), N_ENV);
    assert.strictEqual(metric(new RegExp(
      `broadcast_processed_count\\{channel="mychannel",status="FORBIDDEN",type="${ET}"\\} (\\d+)`)), 2);
    assert.strictEqual(metric(new RegExp(
      `broadcast_processed_count\\{channel="mychannel",status="REQUEST_ENTITY_TOO_LARGE",type="${ET}"\\} (\\d+)`)), 1);
    assert.strictEqual(metric(
      /broadcast_processed_count\{channel="mychannel",status="BAD_REQUEST",type="CONFIG_UPDATE"\} (\d+)/), 1);
    assert.strictEqual(metric(
      /broadcast_processed_count\{channel="nochannel",status="BAD_REQUEST",type="ENDORSER_TRANSACTION"\} (\d+)/), 1);
    assert.strictEqual(metric(/broadcast_processed_count\{channel="",status="BAD_REQUEST",type=""\} (\d+)/), 1);
    assert.ok(metric(new RegExp(
      `broadcast_validate_duration_count\\{channel="mychannel",status="SUCCESS",type="${ET}"\\} (\\d+)`)) === N_ENV);
    // blocks cut and their sizes: every block after the genesis block, all N_ENV envelopes
    const cut = height - 1;
    assert.strictEqual(metric(/blockcutter_blocks_cut\{channel="mychannel"\} (\d+)/), cut);
    assert.strictEqual(metric(/blockcutter_batch_size_count\{channel="mychannel"\} (\d+)/), cut);
    assert.strictEqual(metric(/blockcutter_batch_size_sum\{channel="mychannel"\} (\d+)/), N_ENV);
    assert.strictEqual(metric(/blockcutter_block_fill_duration_count\{channel="mychannel"\} (\d+)/), cut);
    // Raft: leader, one leader change (this node's election), cluster of one
    assert.strictEqual(metric(/consensus_etcdraft_is_leader\{channel="mychannel"\} (\d+)/), 1);
    assert.ok(metric(/consensus_etcdraft_leader_changes\{channel="mychannel"\} (\d+)/) >= 1);
    assert.strictEqual(metric(/consensus_etcdraft_cluster_size\{channel="mychannel"\} (\d+)/), 1);
    assert.strictEqual(metric(/consensus_etcdraft_committed_block_number\{channel="mychannel"\} (\d+)/), height - 1);
    assert.strictEqual(metric(/ledger_blockchain_height\{channel="mychannel"\} (\d+)/), height);
    // commit latency: per block write, and Broadcast admission -> committed, per envelope
    assert.strictEqual(metric(/ledger_blockstorage_commit_time_count\{channel="mychannel"\} (\d+)/), cut);
    assert.strictEqual(metric(/broadcast_commit_duration_count\{channel="mychannel"\} (\d+)/), N_ENV);
    const lat = metric(/broadcast_commit_duration_sum\{channel="mychannel"\} ([\d.e-]+)/);
    assert.ok(lat > 0 && lat / N_ENV < 10, `mean Broadcast->commit latency ${lat / N_ENV} s`);

    // restart: same chain, still ordering
    client.close();
    client = null;
    const st = await stop(node);
    assert.strictEqual(st.code, 0, 'clean exit on SIGTERM');
    node = startOrderer(dir, ports);
    // /healthz can answer before the orderer registered its check: wait for
    // the leader gauge of the reopened channel instead
    await waitFor(async () => /consensus_etcdraft_is_leader\{channel="mychannel"\} 1/.test(
      await (await fetch(`http://127.0.0.1:${ports.ops}/metrics`)).text()), 20000, 'leader after restart');
    client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    const more = await broadcastAll(client, [envelope(user, 'mychannel', 3, Buffer.from('after-restart'))]);
    assert.strictEqual(more[0].status, common.Status.SUCCESS, more[0].info);
    await waitFor(async () => {
      const d = await deliver(client, seekEnv(user, 'mychannel', height, height, 0));
      return d.status === common.Status.SUCCESS && d.blocks.length === 1 &&
        Buffer.from(d.blocks[0].getHeader().getPreviousHash()).equals(prevHash);
    }, 15000, 'a new block chained on the old head');

    // remove the channel
    const del = await fetch(`${admin}/mychannel`, { method: 'DELETE' });
    assert.strictEqual(del.status, 204);
    assert.strictEqual((await fetch(`${admin}/mychannel`)).status, 404);
    client.close();
    client = null;
    const st2 = await stop(node);
    node = null;
    assert.strictEqual(st2.code, 0, 'clean exit (no sanitizer report) after remove');
  } finally {
    if (client) client.close();
    if (node) await stop(node);
    if (process.env.WEFT_KEEP_TMP) console.log('kept', dir); else fs.rmSync(dir, { recursive: true, force: true });
  }
});
