// Helpers shared by the Node system and interop tests (tests/system/*,
// tests/interop/*): free ports, waiting on a condition with a deadline,
// processes tracked and stopped by PID, Fabric identities, low-S ECDSA
// signatures, signed envelopes and a Broadcast client. Required by relative
// path; the npm packages come from tests/interop/node_modules.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

// An npm package from tests/interop/node_modules, whatever NODE_PATH says.
function dep(name) {
  return require(require.resolve(name, { paths: [path.join(__dirname, '..', '..', 'interop')] }));
}
const grpc = dep('@grpc/grpc-js');
const { common, orderer, msp } = dep('@hyperledger/fabric-protos');
const { Timestamp } = dep('google-protobuf/google/protobuf/timestamp_pb');

// A port on 127.0.0.1 that was free a moment ago.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Whether `port` on 127.0.0.1 can be listened on now.
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// A base port, a multiple of `step` (default `count`) in [low, high), whose
// next `count` ports are all free and which is at least 200 from every port
// in `avoid`.
async function freeBase(count = 30, { low = 20000, high = 60000, step = count, avoid = [] } = {}) {
  const slots = Math.floor((high - low - count) / step);
  for (let tries = 0; tries < 200; tries++) {
    const base = low + step * Math.floor(Math.random() * slots);
    if (avoid.some((b) => Math.abs(b - base) < 200)) continue;
    let ok = true;
    for (let p = base; ok && p < base + count; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no free port range');
}

// Polls fn (errors count as "not yet") until it returns a truthy value,
// which it returns; throws after ms with the last error.
async function waitFor(fn, ms, what, every = 100) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

// A PID that runs and is not a zombie.
function alive(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

// The PIDs whose parent is pid.
function childrenOf(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

// Signals pid and waits for it to go; SIGKILL after 30 s.
async function stopPid(pid, sig = 'SIGTERM') {
  if (!alive(pid)) return;
  process.kill(pid, sig);
  await waitFor(async () => !alive(pid), 30000, `pid ${pid} to exit`, 200).catch(() => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  await waitFor(async () => !alive(pid), 10000, `pid ${pid} to exit after SIGKILL`, 200);
}

// A node's ledger height from its operations /metrics (a node of
// `weft network up`'s network.json); -1 before it has a channel.
async function height(node) {
  const t = await (await fetch(`http://${node.endpoints.operations}/metrics`,
    { signal: AbortSignal.timeout(3000) })).text();
  const m = /ledger_blockchain_height\{channel="[^"]+"\} (\d+)/.exec(t);
  return m ? Number(m[1]) : -1;
}

// The signing identity in an MSP folder (signcerts/, keystore/).
function loadIdentity(dir, mspid) {
  const cert = fs.readFileSync(path.join(dir, 'signcerts', fs.readdirSync(path.join(dir, 'signcerts'))[0]));
  const keyPem = fs.readFileSync(path.join(dir, 'keystore', fs.readdirSync(path.join(dir, 'keystore'))[0]));
  const key = crypto.createPrivateKey(keyPem);
  const si = new msp.SerializedIdentity();
  si.setMspid(mspid);
  si.setIdBytes(cert);
  return { mspid, cert, key, keyPem, creator: Buffer.from(si.serializeBinary()) };
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

// A serialized Envelope signed by id (from loadIdentity).
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

// Sends envs on one Broadcast stream: [{status, info}], one per response.
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

// PIDs a test saw, with their command line: a PID is the test's while it
// runs the same command (never signal a reused PID).
const cmdlineOf = (pid) => {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return null; }
};
class Pids {
  constructor() { this.m = new Map(); }
  add(pid) { const c = cmdlineOf(pid); if (c !== null && !this.m.has(pid)) this.m.set(pid, c); }
  running() { return [...this.m].filter(([pid, c]) => alive(pid) && cmdlineOf(pid) === c).map(([p]) => p); }
}

module.exports = { dep, freePort, portFree, freeBase, waitFor, alive, childrenOf, stopPid, height,
  loadIdentity, sign, envelope, broadcastAll, Pids };
