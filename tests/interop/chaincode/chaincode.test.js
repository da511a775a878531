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

function startHarness() {
  const nm = process.env.NODE_PATH.split(':')[0];
  const child = spawn(process.env.CC_HARNESS,
    [process.env.WEFT_SHARED_DIR, process.env.WEFT_SAMPLE_DIR, path.resolve(nm)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const waiting = [];
  rl.on('line', (l) => { const w = waiting.shift(); if (w) w(l); });
  const next = () => new Promise((resolve, reject) => {
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
