'use strict';
// Proposals built and signed in Node with @hyperledger/fabric-protos, sent
// to the weft peer's protos.Endorser/ProcessProposal over gRPC
// (@grpc/grpc-js), for the asset-transfer sample (samples/chaincode/
// asset-transfer) run two ways:
//   launched: packages of type node, started by the peer (fabric-shim
//             registers over protos.ChaincodeSupport/Register);
//   ccaas:    packages of type ccaas (connection.json), the sample started
//             here with `fabric-chaincode-node server`, the peer dials it.
// Each way covers create, read, update, transfer, delete, range query with
// pagination, history, composite keys, events and a chaincode-to-chaincode
// call (chaincode "assetb", a second package of the same contract, reads
// through "asset"). Transactions are assembled and signed in Node and
// committed by the harness (cc_harness "block"). The response's read/write
// set, proposal hash and endorsement signature are checked in Node. Bad
// input over gRPC (duplicate txid of a committed transaction, a wrong
// signature) gets Fabric's error and the peer keeps serving.
//
// Environment: CC_HARNESS, WEFT_SHARED_DIR, WEFT_SAMPLE_DIR, NODE_PATH.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const grpc = require('@grpc/grpc-js');
const { common, peer, ledger, msp } = require('@hyperledger/fabric-protos');
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb');

const NM = path.resolve(process.env.NODE_PATH.split(':')[0]);
const SHIM_CLI = path.join(NM, 'fabric-shim', 'cli.js');
const USER_MSP = path.join(process.env.WEFT_SHARED_DIR, 'vectors/fabric-2.4.9/crypto/peerOrganizations/' +
  'org1.example.com/users/User1@org1.example.com/msp');

// ---- identity and signing ------------------------------------------------

const userCert = fs.readFileSync(path.join(USER_MSP, 'signcerts', 'User1@org1.example.com-cert.pem'));
const userKey = crypto.createPrivateKey(fs.readFileSync(path.join(USER_MSP, 'keystore', 'priv_sk')));
const creator = (() => {
  const id = new msp.SerializedIdentity();
  id.setMspid('Org1MSP');
  id.setIdBytes(userCert);
  return Buffer.from(id.serializeBinary());
})();

const N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
function derInt(v) {
  let h = v.toString(16);
  if (h.length % 2) h = `0${h}`;
  let b = Buffer.from(h, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
// ECDSA P-256 over SHA-256, low-S as Fabric requires, DER encoded.
function sign(data) {
  const raw = crypto.sign('sha256', data, { key: userKey, dsaEncoding: 'ieee-p1363' });
  const r = BigInt(`0x${raw.subarray(0, 32).toString('hex')}`);
  let s = BigInt(`0x${raw.subarray(32).toString('hex')}`);
  if (s > N / 2n) s = N - s;
  const body = Buffer.concat([derInt(r), derInt(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const sha256 = (...bufs) => crypto.createHash('sha256').update(Buffer.concat(bufs)).digest();

// A SignedProposal for cc(args) on mychannel, as the Fabric SDKs build it.
function buildProposal(cc, args, { badSig = false } = {}) {
  const nonce = crypto.randomBytes(24);
  const txid = sha256(nonce, creator).toString('hex');
  const cid = new peer.ChaincodeID();
  cid.setName(cc);
  const ext = new peer.ChaincodeHeaderExtension();
  ext.setChaincodeId(cid);
  const ts = new Timestamp();
  const now = Date.now();
  ts.setSeconds(Math.floor(now / 1000));
  ts.setNanos((now % 1000) * 1e6);
  const ch = new common.ChannelHeader();
  ch.setType(common.HeaderType.ENDORSER_TRANSACTION);
  ch.setChannelId('mychannel');
  ch.setTxId(txid);
  ch.setTimestamp(ts);
  ch.setExtension$(ext.serializeBinary());
  const sh = new common.SignatureHeader();
  sh.setCreator(creator);
  sh.setNonce(nonce);
  const chb = Buffer.from(ch.serializeBinary());
  const shb = Buffer.from(sh.serializeBinary());
  const hdr = new common.Header();
  hdr.setChannelHeader(chb);
  hdr.setSignatureHeader(shb);
  const input = new peer.ChaincodeInput();
  input.setArgsList(args.map((a) => Buffer.from(a)));
  const spec = new peer.ChaincodeSpec();
  spec.setType(peer.ChaincodeSpec.Type.NODE);
  spec.setChaincodeId(cid);
  spec.setInput(input);
  const cis = new peer.ChaincodeInvocationSpec();
  cis.setChaincodeSpec(spec);
  const cpp = new peer.ChaincodeProposalPayload();
  cpp.setInput(cis.serializeBinary());
  const cppb = Buffer.from(cpp.serializeBinary());
  const prop = new peer.Proposal();
  prop.setHeader(hdr.serializeBinary());
  prop.setPayload(cppb);
  const propb = Buffer.from(prop.serializeBinary());
  const sig = sign(propb);
  if (badSig) sig[sig.length - 3] ^= 0x5a;
  const sp = new peer.SignedProposal();
  sp.setProposalBytes(propb);
  sp.setSignature(sig);
  // Fabric's proposal hash: channel header || signature header || payload
  // without the transient map (here the payload as sent)
  return { txid, sp: Buffer.from(sp.serializeBinary()), hdr, cppb, shb, hash: sha256(chb, shb, cppb) };
}

// A transaction (Envelope) from a proposal and its endorsement, signed by User1.
function buildEnvelope(p, pr) {
  const ea = new peer.ChaincodeEndorsedAction();
  ea.setProposalResponsePayload(pr.getPayload_asU8());
  ea.setEndorsementsList([pr.getEndorsement()]);
  const cap = new peer.ChaincodeActionPayload();
  cap.setChaincodeProposalPayload(p.cppb);
  cap.setAction(ea);
  const ta = new peer.TransactionAction();
  ta.setHeader(p.shb);
  ta.setPayload(cap.serializeBinary());
  const tx = new peer.Transaction();
  tx.setActionsList([ta]);
  const pl = new common.Payload();
  pl.setHeader(p.hdr);
  pl.setData(tx.serializeBinary());
  const plb = Buffer.from(pl.serializeBinary());
  const env = new common.Envelope();
  env.setPayload(plb);
  env.setSignature(sign(plb));
  return Buffer.from(env.serializeBinary());
}

// ---- harness and gRPC ----------------------------------------------------

function startHarness(mode) {
  const child = spawn(process.env.CC_HARNESS,
    [process.env.WEFT_SHARED_DIR, process.env.WEFT_SAMPLE_DIR, NM, mode],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const waiting = [];
  const lines = [];
  rl.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else lines.push(l); });
  const next = () => new Promise((resolve, reject) => {
    if (lines.length > 0) { resolve(lines.shift()); return; }
    const t = setTimeout(() => reject(new Error('harness timeout')), 60000);
    waiting.push((l) => { clearTimeout(t); resolve(l); });
  });
  return { child, next };
}

// Ends the harness (stdin closed); resolves with its exit code, which is
// non-zero when it failed to shut down cleanly (or a sanitizer reported).
async function stopHarness(h) {
  h.child.stdin.end();
  return new Promise((r) => {
    if (h.child.exitCode !== null) { r(h.child.exitCode); return; }
    const t = setTimeout(() => { h.child.kill('SIGKILL'); r(-1); }, 15000);
    h.child.on('exit', (code) => { clearTimeout(t); r(code); });
  });
}

async function waitListening(addr, ms) {
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

const ident = (b) => b;
function processProposal(client, spBytes) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/protos.Endorser/ProcessProposal', ident, ident, spBytes,
      { deadline: Date.now() + 60000 }, (err, resp) => {
        if (err) reject(err);
        else resolve(peer.ProposalResponse.deserializeBinary(resp));
      });
  });
}

// ---- checks --------------------------------------------------------------

function verifyEndorsement(pr, p) {
  const e = pr.getEndorsement();
  assert.ok(e, `endorsement present (${pr.getResponse().getMessage()})`);
  const id = msp.SerializedIdentity.deserializeBinary(e.getEndorser_asU8());
  assert.equal(id.getMspid(), 'Org1MSP');
  const cert = new crypto.X509Certificate(Buffer.from(id.getIdBytes_asU8()));
  assert.match(cert.subject, /peer0\.org1\.example\.com/);
  const data = Buffer.concat([Buffer.from(pr.getPayload_asU8()), Buffer.from(e.getEndorser_asU8())]);
  assert.ok(crypto.verify('sha256', data, cert.publicKey, Buffer.from(e.getSignature_asU8())),
    'endorsement signature verifies');
  const prp = peer.ProposalResponsePayload.deserializeBinary(pr.getPayload_asU8());
  assert.deepEqual(Buffer.from(prp.getProposalHash_asU8()), p.hash, 'proposal hash');
}

function action(pr) {
  const prp = peer.ProposalResponsePayload.deserializeBinary(pr.getPayload_asU8());
  return peer.ChaincodeAction.deserializeBinary(prp.getExtension_asU8());
}

function kvsets(pr) {
  const rw = ledger.rwset.TxReadWriteSet.deserializeBinary(action(pr).getResults_asU8());
  const out = {};
  for (const ns of rw.getNsRwsetList()) {
    out[ns.getNamespace()] = ledger.rwset.kvrwset.KVRWSet.deserializeBinary(ns.getRwset_asU8());
  }
  return out;
}

const payloadText = (pr) => Buffer.from(pr.getResponse().getPayload_asU8()).toString();
const writes = (kv) => kv.getWritesList().map((w) => ({
  key: w.getKey(), del: w.getIsDelete(), value: Buffer.from(w.getValue_asU8()).toString(),
}));

// ---- the flow, for each way of running the sample -------------------------

for (const way of ['launched', 'ccaas']) {
  test(`asset-transfer ${way}: Node-signed proposals over gRPC ProcessProposal`, async (t) => {
    const h = startHarness(way === 'ccaas' ? 'ccaas-grpc' : 'grpc');
    const servers = [];
    let client = null;
    try {
      const addrs = [];
      if (way === 'ccaas') {
        for (let i = 0; i < 2; i++) {
          const m = /^CCAAS (\S+) -$/.exec(await h.next());
          assert.ok(m);
          addrs.push(m[1]);
        }
      }
      const gm = /^GRPC (\d+)$/.exec(await h.next());
      assert.ok(gm);
      const rm = /^READY (\S+) (\S+)$/.exec(await h.next());
      assert.ok(rm);
      const ids = [rm[1], rm[2]];
      if (way === 'ccaas') {
        assert.match(ids[0], /^asset_ccaas:[0-9a-f]{64}$/);
        assert.match(ids[1], /^assetb_ccaas:[0-9a-f]{64}$/);
        // the sample itself, as a chaincode server (fabric-shim server mode)
        for (let i = 0; i < 2; i++) {
          servers.push(spawn(process.execPath, [SHIM_CLI, 'server', '--chaincode-address', addrs[i],
            '--chaincode-id', ids[i], '--module-path', process.env.WEFT_SAMPLE_DIR],
          { stdio: ['ignore', 'inherit', 'inherit'] }));
        }
        await Promise.all(addrs.map((a) => waitListening(a, 30000)));
      } else {
        assert.match(ids[0], /^asset_1:[0-9a-f]{64}$/);
        assert.match(ids[1], /^assetb_1:[0-9a-f]{64}$/);
      }
      client = new grpc.Client(`127.0.0.1:${gm[1]}`, grpc.credentials.createInsecure());

      const endorse = async (cc, ...args) => {
        const p = buildProposal(cc, args);
        const pr = await processProposal(client, p.sp);
        return { p, pr };
      };
      const submit = async (cc, ...args) => {
        const { p, pr } = await endorse(cc, ...args);
        assert.equal(pr.getResponse().getStatus(), 200, pr.getResponse().getMessage());
        verifyEndorsement(pr, p);
        h.child.stdin.write(`block ${buildEnvelope(p, pr).toString('base64')}\n`);
        const line = await h.next();
        const m = /^OK (\d+)$/.exec(line);
        assert.ok(m, line);
        return { p, pr, block: +m[1] - 1 };
      };

      let created;
      await t.test('create: response, rwset with composite key, event, signature', async () => {
        created = await submit('asset', 'CreateAsset', 'a1', 'blue', '5', 'Tom', '300');
        const { pr, p } = created;
        assert.deepEqual(JSON.parse(payloadText(pr)),
          { ID: 'a1', Color: 'blue', Size: 5, Owner: 'Tom', AppraisedValue: 300 });
        const ca = action(pr);
        assert.equal(ca.getChaincodeId().getName(), 'asset');
        assert.equal(ca.getChaincodeId().getVersion(), '1.0');
        const kv = kvsets(pr).asset;
        assert.deepEqual(kv.getReadsList().map((r) => [r.getKey(), r.hasVersion()]), [['a1', false]]);
        const w = writes(kv).sort((a, b) => (a.key < b.key ? -1 : 1));
        assert.deepEqual(w.map((x) => x.key), ['\u0000owner~id\u0000Tom\u0000a1\u0000', 'a1']);
        assert.equal(JSON.parse(w[1].value).Owner, 'Tom');
        const ev = peer.ChaincodeEvent.deserializeBinary(ca.getEvents_asU8());
        assert.equal(ev.getEventName(), 'CreateAsset');
        assert.equal(ev.getChaincodeId(), 'asset');
        assert.equal(ev.getTxId(), p.txid);
        assert.equal(JSON.parse(Buffer.from(ev.getPayload_asU8()).toString()).ID, 'a1');
      });

      await t.test('read: the committed version in the read set', async () => {
        const { p, pr } = await endorse('asset', 'ReadAsset', 'a1');
        assert.equal(pr.getResponse().getStatus(), 200);
        verifyEndorsement(pr, p);
        assert.equal(JSON.parse(payloadText(pr)).Color, 'blue');
        const r = kvsets(pr).asset.getReadsList();
        assert.equal(r.length, 1);
        assert.equal(r[0].getKey(), 'a1');
        assert.equal(r[0].getVersion().getBlockNum(), created.block);
        assert.equal(r[0].getVersion().getTxNum(), 0);
        assert.equal(kvsets(pr).asset.getWritesList().length, 0);
      });

      await t.test('update and transfer: writes, deletes of the old index key, event', async () => {
        await submit('asset', 'CreateAsset', 'a2', 'red', '7', 'Ann', '500');
        await submit('asset', 'CreateAsset', 'a3', 'green', '9', 'Ann', '700');
        let { pr } = await submit('asset', 'UpdateAsset', 'a1', 'black', '6', 'Tom', '350');
        let w = writes(kvsets(pr).asset);
        assert.equal(w.length, 1);
        assert.equal(JSON.parse(w[0].value).Color, 'black');
        ({ pr } = await submit('asset', 'TransferAsset', 'a2', 'Bob'));
        assert.equal(payloadText(pr), 'Ann');
        w = writes(kvsets(pr).asset);
        const byKey = Object.fromEntries(w.map((x) => [x.key, x]));
        assert.equal(JSON.parse(byKey.a2.value).Owner, 'Bob');
        assert.equal(byKey['\u0000owner~id\u0000Ann\u0000a2\u0000'].del, true);
        assert.equal(byKey['\u0000owner~id\u0000Bob\u0000a2\u0000'].del, false);
        const ev = peer.ChaincodeEvent.deserializeBinary(action(pr).getEvents_asU8());
        assert.equal(ev.getEventName(), 'TransferAsset');
        assert.deepEqual(JSON.parse(Buffer.from(ev.getPayload_asU8()).toString()), { id: 'a2', from: 'Ann', to: 'Bob' });
      });

      await t.test('range query, pagination with a bookmark, composite-key query', async () => {
        let { pr } = await endorse('asset', 'GetAllAssets');
        const all = JSON.parse(payloadText(pr));
        assert.deepEqual(all.map((a) => [a.ID, a.Owner]), [['a1', 'Tom'], ['a2', 'Bob'], ['a3', 'Ann']]);
        const rq = kvsets(pr).asset.getRangeQueriesInfoList();
        assert.equal(rq.length, 1);
        assert.equal(rq[0].getItrExhausted(), true);
        ({ pr } = await endorse('asset', 'GetAssetsPage', '2', ''));
        let page = JSON.parse(payloadText(pr));
        assert.deepEqual(page.records.map((a) => a.ID), ['a1', 'a2']);
        assert.equal(page.fetched, 2);
        assert.equal(page.bookmark, 'a3');
        ({ pr } = await endorse('asset', 'GetAssetsPage', '2', page.bookmark));
        page = JSON.parse(payloadText(pr));
        assert.deepEqual(page.records.map((a) => a.ID), ['a3']);
        assert.equal(page.fetched, 1);
        ({ pr } = await endorse('asset', 'GetAssetsByOwner', 'Ann'));
        assert.deepEqual(JSON.parse(payloadText(pr)), ['a3']);
        ({ pr } = await endorse('asset', 'GetAssetsByOwner', 'Bob'));
        assert.deepEqual(JSON.parse(payloadText(pr)), ['a2']);
      });

      await t.test('history: newest first with the committing txids', async () => {
        const { pr } = await endorse('asset', 'GetAssetHistory', 'a1');
        assert.equal(pr.getResponse().getStatus(), 200);
        const hist = JSON.parse(payloadText(pr));
        assert.equal(hist.length, 2);
        assert.equal(JSON.parse(hist[0].value).Color, 'black');
        assert.equal(JSON.parse(hist[1].value).Color, 'blue');
        assert.equal(hist[1].txId, created.p.txid);
        assert.equal(hist[0].isDelete, false);
      });

      await t.test('chaincode-to-chaincode: assetb reads through asset in one simulation', async () => {
        const { p, pr } = await endorse('assetb', 'ReadAssetVia', 'asset', 'a3');
        assert.equal(pr.getResponse().getStatus(), 200, pr.getResponse().getMessage());
        verifyEndorsement(pr, p);
        assert.equal(JSON.parse(payloadText(pr)).Color, 'green');
        assert.equal(action(pr).getChaincodeId().getName(), 'assetb');
        const kv = kvsets(pr);
        assert.ok(kv.asset, `callee namespace in the rwset: ${Object.keys(kv)}`);
        assert.deepEqual(kv.asset.getReadsList().map((r) => r.getKey()), ['a3']);
        // assetb's own state is separate: it has no a3
        const own = await endorse('assetb', 'ReadAsset', 'a3');
        assert.equal(own.pr.getResponse().getStatus(), 500);
        assert.match(own.pr.getResponse().getMessage(), /The asset a3 does not exist/);
      });

      await t.test('delete: deletes in the rwset, then not found without endorsement', async () => {
        let { pr } = await submit('asset', 'DeleteAsset', 'a3');
        const w = writes(kvsets(pr).asset);
        assert.deepEqual(w.map((x) => [x.key, x.del]).sort(),
          [['\u0000owner~id\u0000Ann\u0000a3\u0000', true], ['a3', true]]);
        ({ pr } = await endorse('asset', 'ReadAsset', 'a3'));
        assert.equal(pr.getResponse().getStatus(), 500);
        assert.match(pr.getResponse().getMessage(), /The asset a3 does not exist/);
        assert.equal(pr.getEndorsement(), undefined);
      });

      await t.test('bad input over gRPC: duplicate txid, wrong signature; the peer keeps serving', async () => {
        // the committed CreateAsset proposal again, byte for byte
        await assert.rejects(processProposal(client, created.p.sp), (err) => {
          assert.equal(err.code, grpc.status.UNKNOWN);
          assert.ok(err.details.startsWith(`duplicate transaction found [${created.p.txid}]. Creator [`),
            err.details);
          return true;
        });
        let { pr } = await endorse('asset', 'ReadAsset', 'a1');
        assert.equal(pr.getResponse().getStatus(), 200);
        const bad = buildProposal('asset', ['ReadAsset', 'a1'], { badSig: true });
        await assert.rejects(processProposal(client, bad.sp), (err) => {
          assert.equal(err.code, grpc.status.UNKNOWN);
          assert.equal(err.details,
            'error validating proposal: access denied: channel [mychannel] creator org [Org1MSP]');
          return true;
        });
        ({ pr } = await endorse('asset', 'ReadAsset', 'a1'));
        assert.equal(pr.getResponse().getStatus(), 200);
        assert.equal(JSON.parse(payloadText(pr)).Color, 'black');
      });
    } finally {
      if (client) client.close();
      for (const s of servers) s.kill('SIGKILL');
      const code = await stopHarness(h);
      assert.equal(code, 0, 'harness exit status');
    }
  });
}
