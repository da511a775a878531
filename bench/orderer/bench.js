// Single-node orderer throughput: N pre-signed envelopes broadcast on C
// concurrent streams, timed until Deliver has returned every one in a block.
// Reference in the same run: write + fsync of the same block bytes.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const grpc = require('@grpc/grpc-js');
const { common, orderer, msp } = require('@hyperledger/fabric-protos');
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb');

const N = Number(process.env.BENCH_ENVELOPES || 10000);
const STREAMS = Number(process.env.BENCH_STREAMS || 8);
const VEC = path.join(process.env.WEFT_SHARED_DIR, 'vectors', 'fabric-2.4.9');
const C = path.join(VEC, 'crypto');
const ORD = path.join(C, 'ordererOrganizations/example.com/orderers/orderer.example.com/msp');
const USER = path.join(C, 'peerOrganizations/org1.example.com/users/User1@org1.example.com/msp');
const ORDER_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

const freePort = () => new Promise((res) => { const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function ident(dir, mspid) {
  const cert = fs.readFileSync(path.join(dir, 'signcerts', fs.readdirSync(path.join(dir, 'signcerts'))[0]));
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'keystore', fs.readdirSync(path.join(dir, 'keystore'))[0])));
  const si = new msp.SerializedIdentity(); si.setMspid(mspid); si.setIdBytes(cert);
  return { key, creator: Buffer.from(si.serializeBinary()) };
}
function lowS(der) {
  const rl = der[3]; const r = der.subarray(4, 4 + rl); const sl = der[5 + rl];
  let s = BigInt('0x' + der.subarray(6 + rl, 6 + rl + sl).toString('hex'));
  if (s > ORDER_N / 2n) s = ORDER_N - s;
  const enc = (b) => { let h = b.toString(16); if (h.length % 2) h = '0' + h; let x = Buffer.from(h, 'hex');
    if (x[0] & 0x80) x = Buffer.concat([Buffer.from([0]), x]); return x; };
  const rr = enc(BigInt('0x' + r.toString('hex'))); const ss = enc(s);
  const body = Buffer.concat([Buffer.from([2, rr.length]), rr, Buffer.from([2, ss.length]), ss]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}
function envelope(id, type, data) {
  const ch = new common.ChannelHeader(); ch.setType(type); ch.setChannelId('mychannel');
  const t = new Timestamp(); t.setSeconds(Math.floor(Date.now() / 1000)); ch.setTimestamp(t);
  const sh = new common.SignatureHeader(); sh.setCreator(id.creator); sh.setNonce(crypto.randomBytes(24));
  const h = new common.Header(); h.setChannelHeader(ch.serializeBinary()); h.setSignatureHeader(sh.serializeBinary());
  const p = new common.Payload(); p.setHeader(h); p.setData(data);
  const payload = Buffer.from(p.serializeBinary());
  const e = new common.Envelope(); e.setPayload(payload); e.setSignature(lowS(crypto.sign('sha256', payload, id.key)));
  return Buffer.from(e.serializeBinary());
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bench-orderer-'));
  const ports = { grpc: await freePort(), admin: await freePort(), ops: await freePort() };
  const env = { ...process.env, ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1',
    ORDERER_GENERAL_LISTENPORT: String(ports.grpc), ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none',
    ORDERER_GENERAL_LOCALMSPDIR: ORD, ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP',
    ORDERER_FILELEDGER_LOCATION: path.join(dir, 'ledger'), ORDERER_CONSENSUS_WALDIR: path.join(dir, 'wal'),
    ORDERER_CHANNELPARTICIPATION_ENABLED: 'true', ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${ports.admin}`,
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${ports.ops}`, FABRIC_LOGGING_SPEC: 'warn' };
  const child = spawn(process.env.WEFT_BIN, ['orderer', 'start', '--config',
    path.join(process.env.WEFT_SOURCE_DIR, 'config', 'orderer.yaml')], { env, stdio: 'inherit', cwd: dir });
  const admin = `http://127.0.0.1:${ports.admin}/participation/v1/channels`;
  try {
    for (let i = 0; i < 200; i++) { try { if ((await fetch(admin)).ok) break; } catch (e) { /* not up */ } await sleep(50); }
    const form = new FormData();
    form.append('config-block', new Blob([fs.readFileSync(path.join(VEC, 'blocks', 'genesis.block'))]), 'g');
    if ((await fetch(admin, { method: 'POST', body: form })).status !== 201) throw new Error('join failed');
    for (let i = 0; i < 200; i++) { try { if ((await fetch(`http://127.0.0.1:${ports.ops}/healthz`)).ok) break; } catch (e) { /* */ } await sleep(50); }
    const user = ident(USER, 'Org1MSP');
    const envs = [];
    for (let i = 0; i < N; i++) envs.push(envelope(user, 3, crypto.randomBytes(200)));
    const client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: STREAMS }, (_, k) => new Promise((resolve, reject) => {
      const mine = envs.filter((_, i) => i % STREAMS === k);
      const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Broadcast', (b) => b,
        (b) => orderer.BroadcastResponse.deserializeBinary(b));
      let n = 0;
      call.on('data', (r) => { if (r.getStatus() !== 200) reject(new Error(r.getInfo())); if (++n === mine.length) call.end(); });
      call.on('end', resolve); call.on('error', reject);
      for (const e of mine) call.write(e);
    })));
    const tAck = process.hrtime.bigint();
    // Deliver from block 1 until N envelopes are in blocks
    const si = new orderer.SeekInfo();
    const p1 = new orderer.SeekPosition(); const s1 = new orderer.SeekSpecified(); s1.setNumber(1); p1.setSpecified(s1);
    const p2 = new orderer.SeekPosition(); const s2 = new orderer.SeekSpecified(); s2.setNumber(1e15); p2.setSpecified(s2);
    si.setStart(p1); si.setStop(p2);
    const blockSizes = [];
    await new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Deliver', (b) => b,
        (b) => orderer.DeliverResponse.deserializeBinary(b));
      let seen = 0;
      call.on('data', (r) => { if (!r.hasBlock()) return; const b = r.getBlock();
        seen += b.getData().getDataList().length; blockSizes.push(Buffer.from(b.serializeBinary()).length);
        if (seen >= N) { call.cancel(); resolve(); } });
      call.on('error', (e) => (e.code === grpc.status.CANCELLED ? resolve() : reject(e)));
      call.write(envelope(user, 5, si.serializeBinary()));
    });
    const tDone = process.hrtime.bigint();
    client.close();
    const secs = Number(tDone - t0) / 1e9;
    // reference: write + fsync the same block sizes
    const f = fs.openSync(path.join(dir, 'ref.bin'), 'w');
    const r0 = process.hrtime.bigint();
    for (const sz of blockSizes) { fs.writeSync(f, crypto.randomBytes(sz)); fs.fsyncSync(f); }
    const refSecs = Number(process.hrtime.bigint() - r0) / 1e9;
    fs.closeSync(f);
    const out = { benchmark: 'orderer', nodes: 1, tls: false, envelopes: N, streams: STREAMS,
      blocks: blockSizes.length, seconds: secs, envelopes_per_s: N / secs,
      broadcast_ack_seconds: Number(tAck - t0) / 1e9,
      reference: { what: 'write+fsync of the same block bytes, same block count', seconds: refSecs,
        envelopes_per_s: N / refSecs },
      ratio_to_reference: (N / secs) / (N / refSecs) };
    fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(out, null, 2) + '\n');
    console.log(JSON.stringify(out, null, 2));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
