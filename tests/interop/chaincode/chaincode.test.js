'use strict';
// The real fabric-contract-api sample (samples/chaincode/asset-transfer) runs
// as a Node process launched by weft's peer (cc_harness) and registers over
// protos.ChaincodeSupport/Register. Proposal responses are decoded with
// @hyperledger/fabric-protos: payloads, read/write sets, events, and the
// endorsement signature (ECDSA over payload || endorser) verified with
// Node's crypto against the endorser certificate.
//
// Environment: CC_HARNESS, WEFT_SHARED_DIR, WEFT_SAMPLE_DIR, NODE_PATH.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const readline = require('node:readline');
const path = require('node:path');
const { peer, ledger, msp } = require('@hyperledger/fabric-protos');

function startHarness(mode = 'plain') {
  const nm = process.env.NODE_PATH.split(':')[0];
  const child = spawn(process.env.CC_HARNESS,
    [process.env.WEFT_SHARED_DIR, process.env.WEFT_SAMPLE_DIR, path.resolve(nm), mode],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const waiting = [];
  const lines = []; // lines that arrived before anyone asked
  rl.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else lines.push(l); });
  const next = () => new Promise((resolve, reject) => {
    if (lines.length > 0) { resolve(lines.shift()); return; }
    const t = setTimeout(() => reject(new Error('harness timeout')), 60000);
    waiting.push((l) => { clearTimeout(t); resolve(l); });
  });
  const call = async (mode, ...args) => {
    child.stdin.write(`${mode} ${args.join(' ')}\n`);
    const line = await next();
    if (line.startsWith('ERR ')) throw new Error(line);
    return peer.ProposalResponse.deserializeBinary(Buffer.from(line, 'base64'));
  };
  return { child, next, call };
}

function action(pr) {
  const prp = peer.ProposalResponsePayload.deserializeBinary(pr.getPayload_asU8());
  return peer.ChaincodeAction.deserializeBinary(prp.getExtension_asU8());
}

function kvsets(ca) {
  const rw = ledger.rwset.TxReadWriteSet.deserializeBinary(ca.getResults_asU8());
  const out = {};
  for (const ns of rw.getNsRwsetList()) {
    out[ns.getNamespace()] = ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8());
  }
  return out;
}

function verifyEndorsement(pr) {
  const e = pr.getEndorsement();
  assert.ok(e, 'endorsement present');
  const id = msp.SerializedIdentity.deserializeBinary(e.getEndorser_asU8());
  assert.equal(id.getMspid(), 'Org1MSP');
  const cert = new crypto.X509Certificate(Buffer.from(id.getIdBytes_asU8()));
  assert.match(cert.subject, /peer0\.org1\.example\.com/);
  const data = Buffer.concat([Buffer.from(pr.getPayload_asU8()), Buffer.from(e.getEndorser_asU8())]);
  assert.ok(crypto.verify('sha256', data, cert.publicKey, Buffer.from(e.getSignature_asU8())),
    'endorsement signature verifies');
}

test('asset-transfer sample on the weft peer', async (t) => {
  const h = startHarness();
  try {
    const ready = await h.next();
    assert.match(ready, /^READY asset_1:[0-9a-f]{64}$/);

    await t.test('CreateAsset endorses with a valid rwset, event and signature', async () => {
      const pr = await h.call('submit', 'CreateAsset', 'asset1', 'blue', '5', 'Tom', '300');
      assert.equal(pr.getResponse().getStatus(), 200);
      const asset = JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString());
      assert.deepEqual(asset, { ID: 'asset1', Color: 'blue', Size: 5, Owner: 'Tom', AppraisedValue: 300 });
      verifyEndorsement(pr);
      const ca = action(pr);
      assert.equal(ca.getChaincodeId().getName(), 'asset');
      assert.equal(ca.getChaincodeId().getVersion(), '1.0');
      const kv = kvsets(ca).asset;
      assert.ok(kv, 'namespace asset in the rwset');
      const reads = kv.getReadsList().map((r) => r.getKey());
      assert.deepEqual(reads, ['asset1']);
      const writes = kv.getWritesList().map((w) => Buffer.from(w.getKey(), 'latin1').toString('latin1'));
      assert.equal(writes.length, 2);
      assert.ok(writes.includes('asset1'));
      assert.ok(writes.includes('\u0000owner~id\u0000Tom\u0000asset1\u0000'), `composite key in ${JSON.stringify(writes)}`);
      const ev = peer.ChaincodeEvent.deserializeBinary(ca.getEvents_asU8());
      assert.equal(ev.getEventName(), 'CreateAsset');
      assert.equal(ev.getChaincodeId(), 'asset');
      assert.equal(ev.getTxId().length, 64);
    });

    await t.test('ReadAsset returns the committed asset', async () => {
      const pr = await h.call('evaluate', 'ReadAsset', 'asset1');
      assert.equal(pr.getResponse().getStatus(), 200);
      const asset = JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString());
      assert.equal(asset.Owner, 'Tom');
      verifyEndorsement(pr);
      const kv = kvsets(action(pr)).asset;
      const r = kv.getReadsList()[0];
      assert.equal(r.getKey(), 'asset1');
      assert.equal(r.getVersion().getBlockNum(), 1);
    });

    await t.test('update, transfer, range, pagination, composite keys, history, c2c', async () => {
      await h.call('submit', 'CreateAsset', 'asset2', 'red', '7', 'Ann', '500');
      await h.call('submit', 'CreateAsset', 'asset3', 'green', '9', 'Ann', '700');
      let pr = await h.call('submit', 'UpdateAsset', 'asset1', 'black', '6', 'Tom', '350');
      assert.equal(pr.getResponse().getStatus(), 200);
      pr = await h.call('submit', 'TransferAsset', 'asset2', 'Bob');
      assert.equal(Buffer.from(pr.getResponse().getPayload_asU8()).toString(), 'Ann');
      pr = await h.call('evaluate', 'GetAllAssets');
      const all = JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString());
      assert.deepEqual(all.map((a) => a.ID), ['asset1', 'asset2', 'asset3']);
      assert.equal(all[1].Owner, 'Bob');
      const rq = kvsets(action(pr)).asset.getRangeQueriesInfoList();
      assert.equal(rq.length, 1);
      pr = await h.call('evaluate', 'GetAssetsPage', '2', "''");
      const page = JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString());
      assert.equal(page.fetched, 2);
      assert.equal(page.records.length, 2);
      assert.equal(page.bookmark, 'asset3');
      pr = await h.call('evaluate', 'GetAssetsByOwner', 'Ann');
      assert.deepEqual(JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString()), ['asset3']);
      pr = await h.call('evaluate', 'GetAssetHistory', 'asset1');
      const hist = JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString());
      assert.equal(hist.length, 2);
      assert.equal(JSON.parse(hist[0].value).Color, 'black'); // newest first
      pr = await h.call('evaluate', 'ReadAssetVia', 'asset', 'asset3');
      // c2c into the same chaincode is refused as Fabric does (one tx context per txid)
      assert.equal(pr.getResponse().getStatus(), 500);
      pr = await h.call('submit', 'DeleteAsset', 'asset3');
      assert.equal(pr.getResponse().getStatus(), 200);
      pr = await h.call('evaluate', 'ReadAsset', 'asset3');
      assert.equal(pr.getResponse().getStatus(), 500);
      assert.match(pr.getResponse().getMessage(), /does not exist/);
      assert.equal(pr.getEndorsement(), undefined);
    });
  } finally {
    h.child.stdin.end();
    await new Promise((r) => { h.child.on('exit', r); setTimeout(() => { h.child.kill('SIGKILL'); r(); }, 15000); });
  }
});

// ---- chaincode TLS and chaincode-as-a-service ----------------------------

const SHIM_CLI = path.join(path.resolve(process.env.NODE_PATH.split(':')[0]), 'fabric-shim', 'cli.js');

async function stopHarness(h) {
  h.child.stdin.end();
  await new Promise((r) => {
    if (h.child.exitCode !== null) { r(); return; }
    const t = setTimeout(() => { h.child.kill('SIGKILL'); r(); }, 15000);
    h.child.on('exit', () => { clearTimeout(t); r(); });
  });
}

// Runs a process until its output matches re (resolves with the output) or
// the deadline passes (rejects); the process is killed either way.
function runUntil(args, env, re, ms) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      c.kill('SIGKILL');
      if (err) reject(err); else resolve(out);
    };
    const t = setTimeout(() => finish(new Error(`no match for ${re} within ${ms} ms; output:\n${out}`)), ms);
    const on = (d) => { out += d.toString(); if (re.test(out)) finish(); };
    c.stdout.on('data', on);
    c.stderr.on('data', on);
    c.on('exit', () => setTimeout(() => finish(re.test(out) ? null : new Error(`exited without ${re}:\n${out}`)), 100));
  });
}

// Waits until something listens on addr (host:port).
async function waitListening(addr, ms) {
  const net = require('node:net');
  const [host, port] = addr.split(':');
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect(+port, host, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${addr} not listening after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('fabric-shim over mutual TLS with a peer-issued client certificate', async () => {
  const h = startHarness('tls');
  try {
    const tlsLine = await h.next();
    const m = /^TLS (\S+) (\d+)$/.exec(tlsLine);
    assert.ok(m, tlsLine);
    const [, dir, port] = m;
    const ready = await h.next();
    const id = /^READY (\S+)$/.exec(ready)[1];

    // the peer launches the chaincode with CORE_PEER_TLS_ENABLED=true and its
    // issued key pair; it registers over mutual TLS and runs transactions
    let pr = await h.call('submit', 'CreateAsset', 'tls1', 'blue', '5', 'Tom', '300');
    assert.equal(pr.getResponse().getStatus(), 200, pr.getResponse().getMessage());
    verifyEndorsement(pr);
    pr = await h.call('evaluate', 'ReadAsset', 'tls1');
    assert.equal(pr.getResponse().getStatus(), 200);
    assert.equal(JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString()).Owner, 'Tom');

    // the real fabric-shim with a client certificate from another CA: the
    // listener's TLS handshake refuses it, it never registers
    const shim = (name) => [SHIM_CLI, 'start', '--peer.address', `127.0.0.1:${port}`,
      '--chaincode-id-name', id, '--module-path', process.env.WEFT_SAMPLE_DIR];
    const env = (name) => ({
      CORE_PEER_TLS_ENABLED: 'true',
      CORE_TLS_CLIENT_KEY_PATH: path.join(dir, `${name}.key.b64`),
      CORE_TLS_CLIENT_CERT_PATH: path.join(dir, `${name}.crt.b64`),
      CORE_PEER_TLS_ROOTCERT_FILE: path.join(dir, 'ca.crt'),
    });
    let out = await runUntil(shim(), env('foreign'), /Chat stream with peer - on error/, 30000);
    assert.doesNotMatch(out, /Successfully registered/);

    // a certificate the peer's chaincode CA issued for another chaincode:
    // TLS passes, REGISTER is refused (Fabric's accesscontrol)
    out = await runUntil(shim(), env('other'), /Chat stream with peer - on error/, 30000);
    assert.match(out, /belongs to a different chaincode/);
    assert.doesNotMatch(out, /Successfully registered/);

    // the peer keeps serving its own chaincode
    pr = await h.call('evaluate', 'ReadAsset', 'tls1');
    assert.equal(pr.getResponse().getStatus(), 200);
  } finally {
    await stopHarness(h);
  }
});

for (const tls of [false, true]) {
  test(`chaincode as a service (fabric-shim server mode${tls ? ', TLS with client auth' : ''})`, async () => {
    const h = startHarness(tls ? 'ccaas-tls' : 'ccaas');
    let server = null;
    try {
      const cl = await h.next();
      const m = /^CCAAS (\S+) (\S+)$/.exec(cl);
      assert.ok(m, cl);
      const [, addr, dir] = m;
      const id = /^READY (\S+)$/.exec(await h.next())[1];
      assert.match(id, /^asset_ccaas:[0-9a-f]{64}$/);
      const args = [SHIM_CLI, 'server', '--chaincode-address', addr, '--chaincode-id', id,
        '--module-path', process.env.WEFT_SAMPLE_DIR];
      if (tls) {
        args.push('--chaincode-tls-cert-file', path.join(dir, 'server.crt'),
          '--chaincode-tls-key-file', path.join(dir, 'server.key'),
          '--chaincode-tls-client-cacert-file', path.join(dir, 'ca.crt'));
      }
      server = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      await waitListening(addr, 30000);

      let pr = await h.call('submit', 'CreateAsset', 'svc1', 'red', '3', 'Ann', '100');
      assert.equal(pr.getResponse().getStatus(), 200, pr.getResponse().getMessage());
      verifyEndorsement(pr);
      const kv = kvsets(action(pr)).asset;
      assert.ok(kv.getWritesList().some((w) => w.getKey() === 'svc1'));
      pr = await h.call('evaluate', 'ReadAsset', 'svc1');
      assert.equal(pr.getResponse().getStatus(), 200);
      assert.equal(JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString()).Owner, 'Ann');
      pr = await h.call('evaluate', 'GetAllAssets');
      assert.deepEqual(JSON.parse(Buffer.from(pr.getResponse().getPayload_asU8()).toString()).map((a) => a.ID), ['svc1']);
    } finally {
      if (server) server.kill('SIGKILL');
      await stopHarness(h);
    }
  });
}
