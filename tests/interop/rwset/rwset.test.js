'use strict';
// A TxReadWriteSet built by weft's simulator (rwset_dump) decodes with
// @hyperledger/fabric-protos to the expected structure, and google-protobuf
// re-encodes every level (TxReadWriteSet, each KVRWSet) to identical bytes.
//
// Environment: RWSET_DUMP = path of the rwset_dump binary.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { ledger } = require('@hyperledger/fabric-protos');

const R = ledger.rwset;
const K = ledger.rwset.kvrwset;

function dump() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwset-'));
  try {
    const r = spawnSync(process.env.RWSET_DUMP, [dir], { timeout: 30000 });
    assert.equal(r.status, 0, String(r.stderr));
    return new Uint8Array(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const txt = (u8) => Buffer.from(u8).toString('latin1');

test('simulator rwset decodes to the expected structure', () => {
  const bytes = dump();
  const tx = R.TxReadWriteSet.deserializeBinary(bytes);
  assert.equal(tx.getDataModel(), R.TxReadWriteSet.DataModel.KV);
  const nss = tx.getNsRwsetList();
  assert.deepEqual(nss.map((n) => n.getNamespace()), ['cc', 'zz']);

  const cc = K.KVRWSet.deserializeBinary(nss[0].getRwset_asU8());
  const reads = cc.getReadsList();
  assert.deepEqual(reads.map((r) => r.getKey()), ['absent', 'k2']);
  assert.equal(reads[0].hasVersion(), false);
  assert.equal(reads[1].getVersion().getBlockNum(), 1);
  assert.equal(reads[1].getVersion().getTxNum(), 1);

  const writes = cc.getWritesList();
  assert.deepEqual(writes.map((w) => w.getKey()), ['\u0000color\u0000red\u0000x\u0000', 'k1', 'k2']);
  assert.equal(writes[1].getIsDelete(), true);
  assert.equal(writes[1].getValue_asU8().length, 0);
  assert.equal(txt(writes[2].getValue_asU8()), 'v2');
  assert.equal(writes[0].getIsDelete(), false);

  const mw = cc.getMetadataWritesList();
  assert.equal(mw.length, 1);
  assert.equal(mw[0].getKey(), 'k3');
  assert.equal(mw[0].getEntriesList()[0].getName(), 'VALIDATION_PARAMETER');
  assert.deepEqual(Array.from(mw[0].getEntriesList()[0].getValue_asU8()), [1, 2]);

  const rq = cc.getRangeQueriesInfoList();
  assert.equal(rq.length, 3);
  assert.equal(rq[0].getStartKey(), 'k1');
  assert.equal(rq[0].getEndKey(), 'k3');
  assert.equal(rq[0].getItrExhausted(), true);
  assert.deepEqual(rq[0].getRawReads().getKvReadsList().map((r) => r.getKey()), ['k1', 'k2']);

  // 60 results => one leaf of 51 reads, a final leaf of 9: Merkle level 1
  const m = rq[1].getReadsMerkleHashes();
  assert.equal(rq[1].hasRawReads(), false);
  assert.equal(m.getMaxDegree(), 50);
  assert.equal(m.getMaxLevel(), 1);
  const hashes = m.getMaxLevelHashesList_asU8();
  assert.equal(hashes.length, 2);
  // recompute the first leaf in JS: SHA-256(ser(QueryReads{a-000..a-050}))
  const qr = new K.QueryReads();
  for (let i = 0; i <= 50; i++) {
    const r = new K.KVRead();
    r.setKey('a-' + String(i).padStart(3, '0'));
    const v = new K.Version();
    v.setBlockNum(1);
    v.setTxNum(3);
    r.setVersion(v);
    qr.addKvReads(r);
  }
  const leaf = crypto.createHash('sha256').update(qr.serializeBinary()).digest();
  assert.deepEqual(Buffer.from(hashes[0]), leaf);

  assert.equal(rq[2].getStartKey(), 'a-010');
  assert.equal(rq[2].getEndKey(), 'a-011');
  assert.equal(rq[2].getItrExhausted(), false);
  assert.equal(rq[2].getRawReads().getKvReadsList().length, 2);

  const zz = K.KVRWSet.deserializeBinary(nss[1].getRwset_asU8());
  assert.equal(zz.getReadsList().length, 0);
  assert.equal(zz.getWritesList()[0].getKey(), 'b');
});

test('Node re-encoding gives identical bytes', () => {
  const bytes = dump();
  const tx = R.TxReadWriteSet.deserializeBinary(bytes);
  assert.deepEqual(Buffer.from(tx.serializeBinary()), Buffer.from(bytes));
  for (const ns of tx.getNsRwsetList()) {
    const raw = ns.getRwset_asU8();
    const kv = K.KVRWSet.deserializeBinary(raw);
    assert.deepEqual(Buffer.from(kv.serializeBinary()), Buffer.from(raw));
  }
});
