// Conformance with Hyperledger Fabric v2.4.9 (../shared/vectors/fabric-2.4.9):
//  1. `weft ledger replay` of the real chain: every header hash, data hash and
//     link, every transaction's validation code, the final public state
//     (values and versions, every namespace) equal expected/, the printed
//     state digest equals the one recomputed here from the report; the
//     vector folder layout gives the same report;
//  2. the key histories of expected/history.json read back through the
//     shim's GetHistoryForKey path (conformance_tool history);
//  3. the same chain served by weft's Deliver service (conformance_tool
//     serve) and pulled by `weft ledger replay --deliver` (block puller +
//     committer): same report, same state digest; and pulled by the
//     `weft peer start` daemon, joined with the genesis block by the vector
//     Org1 admin, through the orderer endpoint of the channel config
//     remapped by peer.deliveryclient.addressOverrides (TLS, the orderer's
//     vector TLS identity): same blocks, codes and state digest;
//  4. tampered copies made here (re-signed with the vector crypto where a
//     signature must stay valid): endorsement signature byte flipped ->
//     ENDORSEMENT_POLICY_FAILURE, creator signature byte flipped ->
//     BAD_CREATOR_SIGNATURE, a valid transaction repeated in a later block ->
//     DUPLICATE_TXID; a broken orderer signature or hash link stops the
//     replay at that block with nothing of it committed.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert');
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { common, peer, msp } = require('@hyperledger/fabric-protos');
const { freePort, waitFor, sign } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const TOOL = process.env.WEFT_CONFORMANCE_TOOL;
const SHARED = process.env.WEFT_SHARED_DIR || path.join(process.env.WEFT_SOURCE_DIR, '..', 'shared');
const VEC = path.join(SHARED, 'vectors', 'fabric-2.4.9');
const CRYPTO = path.join(VEC, 'crypto');
const NBLOCKS = 76;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-conformance-'));
const RUN_MS = 240000;
const DIGEST_TOOL = process.env.PEER_STATE_DIGEST;

after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const pad = (n) => String(n).padStart(6, '0');
const expectedBlock = (n) => JSON.parse(fs.readFileSync(path.join(VEC, 'expected', `${pad(n)}.json`)));
const readJson = (p) => JSON.parse(fs.readFileSync(p));

function replay(args) {
  const r = spawnSync(WEFT, ['ledger', 'replay', ...args], { encoding: 'utf8', timeout: RUN_MS });
  if (r.error) throw r.error;
  return r;
}

function printedDigest(stdout) {
  const m = /digest ([0-9a-f]{64})/.exec(stdout);
  assert.ok(m, `no digest in output:\n${stdout}`);
  return m[1];
}

// The state digest of docs/conformance.md, from a report's state.
function stateDigest(state) {
  const h = crypto.createHash('sha256');
  const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
  const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  for (const ns of Object.keys(state).sort(byBytes)) {
    for (const key of Object.keys(state[ns]).sort(byBytes)) {
      const e = state[ns][key];
      const [blk, tx] = e.version.split(':');
      const nsb = Buffer.from(ns);
      const kb = Buffer.from(key);
      const v = Buffer.from(e.value_b64, 'base64');
      h.update(Buffer.concat([u32(nsb.length), nsb, u32(kb.length), kb, u64(blk), u64(tx),
        u32(v.length), v]));
    }
  }
  return h.digest('hex');
}

// Every difference between a report and expected/ (block, tx, key).
function compareWithExpected(report) {
  const diffs = [];
  if (report.height !== NBLOCKS) diffs.push(`height ${report.height}, Fabric ${NBLOCKS}`);
  if (report.blocks.length !== NBLOCKS) diffs.push(`${report.blocks.length} blocks in the report`);
  let prevHash = '';
  for (let n = 0; n < NBLOCKS; n++) {
    const want = expectedBlock(n);
    const got = report.blocks[n];
    if (!got) { diffs.push(`block ${n}: missing`); continue; }
    if (got.number !== n) diffs.push(`block ${n}: number ${got.number}`);
    for (const f of ['header_hash', 'previous_hash', 'data_hash']) {
      if (got[f] !== want[f]) diffs.push(`block ${n}: ${f} ${got[f]}, Fabric ${want[f]}`);
    }
    if (got.previous_hash !== prevHash) diffs.push(`block ${n}: previous_hash does not link to block ${n - 1}`);
    prevHash = got.header_hash;
    const wantCodes = want.transactions.map((t) => t.validation_code_name);
    if (got.codes.length !== wantCodes.length) diffs.push(`block ${n}: ${got.codes.length} transactions, Fabric ${wantCodes.length}`);
    wantCodes.forEach((c, i) => {
      if (got.codes[i] !== c) diffs.push(`block ${n} tx ${i} (${want.transactions[i].txid}): ${got.codes[i]}, Fabric ${c}`);
    });
  }
  const all = readJson(path.join(VEC, 'expected', 'state-all-namespaces.json')).public;
  for (const ns of new Set([...Object.keys(all), ...Object.keys(report.state)])) {
    const w = all[ns] || {};
    const g = report.state[ns] || {};
    if (!all[ns]) diffs.push(`namespace '${ns}': not in Fabric's state`);
    if (!report.state[ns]) diffs.push(`namespace '${ns}': missing`);
    for (const key of new Set([...Object.keys(w), ...Object.keys(g)])) {
      if (!w[key]) { diffs.push(`state '${ns}'/${key}: not in Fabric's state`); continue; }
      if (!g[key]) { diffs.push(`state '${ns}'/${key}: missing`); continue; }
      if (g[key].value_b64 !== w[key].value) diffs.push(`state '${ns}'/${key}: value differs`);
      if (g[key].version !== w[key].version) diffs.push(`state '${ns}'/${key}: version ${g[key].version}, Fabric ${w[key].version}`);
    }
  }
  return diffs;
}

function assertNoDiffs(diffs, what) {
  if (diffs.length > 0) {
    for (const d of diffs) console.log(`DIFF ${what}: ${d}`);
  }
  assert.deepStrictEqual(diffs, [], `${diffs.length} differences (${what})`);
}

let base; // { report, digest, dir }

test('replay of the Fabric 2.4.9 chain equals expected/', () => {
  const dir = path.join(TMP, 'replay');
  const rep = path.join(TMP, 'replay.json');
  const r = replay(['--genesis', path.join(VEC, 'blocks', 'genesis.block'), '--blocks',
    path.join(VEC, 'blocks'), '--dir', dir, '--report', rep, '--check-filter']);
  assert.strictEqual(r.status, 0, r.stderr);
  // the codes also equal the TRANSACTIONS_FILTER the Fabric peer wrote into the blocks
  assert.match(r.stdout, /check-filter: 511 transactions compared .*, 0 differences/);
  const report = readJson(rep);
  assert.deepStrictEqual(Object.keys(report), ['blocks', 'state', 'height']);
  assert.deepStrictEqual(Object.keys(report.state).sort(), ['', '_lifecycle', 'basic']);
  assertNoDiffs(compareWithExpected(report), 'replay');
  const digest = printedDigest(r.stdout);
  assert.strictEqual(stateDigest(report.state), digest);
  assert.match(r.stdout, /511 transactions/);
  base = { report, digest, dir, raw: fs.readFileSync(rep) };

  // the comparison itself sees a changed code, version, value and a missing key
  const bad = JSON.parse(JSON.stringify(report));
  const mvcc = bad.blocks[9].codes.indexOf('MVCC_READ_CONFLICT');
  assert.ok(mvcc > 0);
  bad.blocks[9].codes[mvcc] = 'VALID';
  bad.state.basic['asset-000'].version = '11:3';
  bad.state._lifecycle['namespaces/metadata/basic'].value_b64 = 'AA==';
  delete bad.state.basic['sbe-2'];
  const badDiffs = compareWithExpected(bad);
  assert.strictEqual(badDiffs.length, 4, badDiffs.join('\n'));
  assert.match(badDiffs[0], new RegExp(`^block 9 tx ${mvcc} \\(.*VALID, Fabric MVCC_READ_CONFLICT`));
  assert.notStrictEqual(stateDigest(bad.state), digest);

  // the vector folder layout directly: the same report, byte for byte
  const rep2 = path.join(TMP, 'replay-layout.json');
  const r2 = replay(['--blocks', VEC, '--dir', path.join(TMP, 'replay-layout'), '--report', rep2]);
  assert.strictEqual(r2.status, 0, r2.stderr);
  assert.ok(fs.readFileSync(rep2).equals(base.raw), 'vector layout gives another report');
  // a ledger folder that already holds the channel is refused
  const r3 = replay(['--blocks', VEC, '--dir', path.join(TMP, 'replay-layout'), '--report', rep2]);
  assert.strictEqual(r3.status, 1);
  assert.match(r3.stderr, /already holds 76 blocks/);
});

test('key histories through the GetHistoryForKey path equal expected/history.json', () => {
  assert.ok(base, 'replay test failed');
  const hist = readJson(path.join(VEC, 'expected', 'history.json'));
  const keys = Object.keys(hist);
  const r = spawnSync(TOOL, ['history', base.dir, 'mychannel', 'basic', ...keys],
    { encoding: 'utf8', timeout: RUN_MS });
  assert.strictEqual(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  const diffs = [];
  for (const key of keys) {
    const want = hist[key].entries;
    const g = got[key];
    if (g.length !== want.length) diffs.push(`history ${key}: ${g.length} entries, Fabric ${want.length}`);
    want.forEach((w, i) => {
      const e = g[i];
      if (!e) return;
      const at = `history ${key} entry ${i} (block ${w.block} tx ${w.tx})`;
      if (e.txId !== w.txId) diffs.push(`${at}: txId ${e.txId}, Fabric ${w.txId}`);
      if (e.isDelete !== w.isDelete) diffs.push(`${at}: isDelete ${e.isDelete}`);
      if (e.value !== w.value) diffs.push(`${at}: value differs`);
      if (String(e.timestamp.seconds) !== String(w.timestamp.seconds) ||
          e.timestamp.nanos !== w.timestamp.nanos) diffs.push(`${at}: timestamp differs`);
      if (e.block !== w.block || e.tx !== w.tx) diffs.push(`${at}: at ${e.block}:${e.tx}`);
    });
  }
  assert.ok(keys.length >= 4);
  assertNoDiffs(diffs, 'history');
});

test('the chain pulled over Deliver by the block puller gives the same report', async () => {
  assert.ok(base, 'replay test failed');
  const src = spawn(TOOL, ['serve', path.join(TMP, 'source'), path.join(VEC, 'blocks', 'genesis.block'),
    path.join(VEC, 'blocks'), String(NBLOCKS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no port from the Deliver source: ${out}`)), RUN_MS);
      src.stdout.on('data', (d) => {
        out += d;
        const m = /port (\d+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      src.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Deliver source exited ${code}`)); });
    });
    const peerMsp = path.join(CRYPTO, 'peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp');
    const pull = (name, until) => new Promise((resolve, reject) => {
      const p = spawn(WEFT, ['ledger', 'replay', '--genesis', path.join(VEC, 'blocks', 'genesis.block'),
        '--deliver', `127.0.0.1:${port}`, '--method', '/protos.Deliver/Deliver', '--until', String(until),
        '--msp', peerMsp, '--mspid', 'Org1MSP', '--timeout', '200',
        '--dir', path.join(TMP, name), '--report', path.join(TMP, `${name}.json`)]);
      let stdout = '', stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('replay --deliver timed out')); }, RUN_MS);
      p.on('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    });
    const rep = path.join(TMP, 'pulled.json');
    const r = await pull('pulled', NBLOCKS);
    assert.strictEqual(r.status, 0, r.stderr);
    const report = readJson(rep);
    assertNoDiffs(compareWithExpected(report), 'deliver');
    assert.strictEqual(printedDigest(r.stdout), base.digest);
    assert.strictEqual(stateDigest(report.state), base.digest);
    assert.deepStrictEqual(report, base.report);
    // stopping part way: at least the height asked for, and a report of all that was committed
    const part = await pull('pulled-part', 40);
    assert.strictEqual(part.status, 0, part.stderr);
    const pr = readJson(path.join(TMP, 'pulled-part.json'));
    assert.ok(pr.height >= 40 && pr.height <= NBLOCKS, `height ${pr.height}`);
    assert.strictEqual(pr.blocks.length, pr.height);
    assert.deepStrictEqual(pr.blocks, base.report.blocks.slice(0, pr.height));
  } finally {
    src.stdin.end();
    const code = await new Promise((resolve) => {
      if (src.exitCode !== null) return resolve(src.exitCode);
      const t = setTimeout(() => resolve('timeout'), 20000);
      src.on('exit', (c) => { clearTimeout(t); resolve(c); });
    });
    if (code === 'timeout') src.kill('SIGKILL');
    assert.strictEqual(code, 0, 'the Deliver source did not stop cleanly');
  }
});

// ---- the peer daemon ------------------------------------------------------------

function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
    p.on('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

// A Deliver source on 127.0.0.1; resolves { proc, port }.
async function startSource(name, extra) {
  const proc = spawn(TOOL, ['serve', path.join(TMP, name), path.join(VEC, 'blocks', 'genesis.block'),
    path.join(VEC, 'blocks'), String(NBLOCKS), ...extra], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no port from the Deliver source: ${out}`)), RUN_MS);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`Deliver source exited ${code}`)); });
  });
  return { proc, port };
}

// Closes the source's stdin and waits for its clean exit (else SIGKILL).
async function stopSource(src) {
  src.proc.stdin.end();
  const code = await new Promise((resolve) => {
    if (src.proc.exitCode !== null) return resolve(src.proc.exitCode);
    const t = setTimeout(() => resolve('timeout'), 20000);
    src.proc.on('exit', (c) => { clearTimeout(t); resolve(c); });
  });
  if (code === 'timeout') src.proc.kill('SIGKILL');
  return code;
}

// The orderer endpoint the vector channel config names (OrdererEndpoints of
// OrdererOrg): nothing of ours listens there.
const VECTOR_ORDERER = '127.0.0.1:17050';

test('the weft peer daemon pulls, validates and commits the chain as Fabric did', { timeout: RUN_MS }, async () => {
  assert.ok(base, 'replay test failed');
  assert.ok(DIGEST_TOOL, 'PEER_STATE_DIGEST not set');
  assert.ok(fs.readFileSync(path.join(VEC, 'blocks', 'genesis.block')).includes(Buffer.from(VECTOR_ORDERER)),
    `the genesis block names ${VECTOR_ORDERER}`);
  const ordTls = path.join(CRYPTO, 'ordererOrganizations/example.com/orderers/orderer.example.com/tls');
  const ordTlsCA = path.join(CRYPTO, 'ordererOrganizations/example.com/tlsca/tlsca.example.com-cert.pem');
  const wrongCA = path.join(CRYPTO, 'peerOrganizations/org1.example.com/tlsca/tlsca.org1.example.com-cert.pem');
  const peerDir = path.join(CRYPTO, 'peerOrganizations/org1.example.com/peers/peer0.org1.example.com');
  const adminMsp = path.join(CRYPTO, 'peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp');
  const home = path.join(TMP, 'daemon');
  fs.mkdirSync(home, { recursive: true });
  const ports = { peer: await freePort(), cc: await freePort(), ops: await freePort() };
  let src = null, peerProc = null, peerExit = null;
  const logPath = path.join(home, 'peer.log');

  const writeCore = (overrides) => fs.writeFileSync(path.join(home, 'core.yaml'), `peer:
  id: peer0.org1.example.com
  networkId: conformance
  listenAddress: 127.0.0.1:${ports.peer}
  address: 127.0.0.1:${ports.peer}
  chaincodeListenAddress: 127.0.0.1:${ports.cc}
  fileSystemPath: ${path.join(home, 'data')}
  mspConfigPath: ${path.join(peerDir, 'msp')}
  localMspId: Org1MSP
  tls:
    enabled: true
    cert: {file: ${path.join(peerDir, 'tls', 'server.crt')}}
    key: {file: ${path.join(peerDir, 'tls', 'server.key')}}
    rootcert: {file: ${path.join(peerDir, 'tls', 'ca.crt')}}
  gossip:
    useLeaderElection: false
    orgLeader: true
  deliveryclient:
    addressOverrides:
${overrides}
operations:
  listenAddress: 127.0.0.1:${ports.ops}
metrics:
  provider: prometheus
`);
  const startPeer = async () => {
    const log = fs.openSync(logPath, 'a');
    peerProc = spawn(WEFT, ['peer', 'start', '--config', path.join(home, 'core.yaml')],
      { stdio: ['ignore', log, log], cwd: home });
    fs.closeSync(log);
    peerExit = new Promise((resolve) => peerProc.on('exit', (code, sig) => resolve({ code, sig })));
    await waitFor(async () => {
      if (peerProc.exitCode !== null) throw new Error(`peer exited ${peerProc.exitCode}`);
      return (await fetch(`http://127.0.0.1:${ports.ops}/metrics`)).status === 200;
    }, 60000, 'peer operations endpoint');
  };
  const stopPeer = async () => {
    if (!peerProc) return null;
    const p = peerProc;
    peerProc = null;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 30000);
    const r = await peerExit;
    clearTimeout(t);
    return r;
  };
  const height = async () => {
    const m = /ledger_blockchain_height\{channel="mychannel"\} (\d+)/.exec(
      await (await fetch(`http://127.0.0.1:${ports.ops}/metrics`)).text());
    return m ? Number(m[1]) : 0;
  };
  const channelCmd = (args) => run(WEFT, ['channel', ...args], { cwd: home, env: { ...process.env,
    CORE_PEER_ADDRESS: `127.0.0.1:${ports.peer}`, CORE_PEER_LOCALMSPID: 'Org1MSP',
    CORE_PEER_MSPCONFIGPATH: adminMsp, CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_ROOTCERT_FILE: path.join(peerDir, 'tls', 'ca.crt') } });

  try {
    // an orderer stand-in: the vector blocks without the Fabric peer's
    // TRANSACTIONS_FILTER, over TLS as orderer.example.com
    src = await startSource('daemon-source', ['--orderer', '--tls', path.join(ordTls, 'server.crt'),
      path.join(ordTls, 'server.key'), ordTlsCA]);

    // 0. an override needs `from` and `to`
    writeCore(`      - from: ${VECTOR_ORDERER}`);
    let r = await run(WEFT, ['peer', 'start', '--config', path.join(home, 'core.yaml')], { cwd: home });
    assert.notStrictEqual(r.status, 0, 'a peer with an override without `to` does not start');
    assert.match(r.stderr, /peer\.deliveryclient\.addressOverrides\[0\]: `from` and `to` are required/);

    // 1. the override's caCertsFile is the only trust for that endpoint: a
    //    CA that did not sign the orderer's TLS certificate keeps the peer
    //    from pulling, and /healthz names the remapped endpoint. An override
    //    whose caCertsFile cannot be read is dropped (Fabric).
    const entry = (ca) => `      - from: orderer.example.com:7050
        to: 127.0.0.1:1
        caCertsFile: ${path.join(TMP, 'no-such-ca.pem')}
      - from: ${VECTOR_ORDERER}
        to: 127.0.0.1:${src.port}
        caCertsFile: ${ca}`;
    writeCore(entry(wrongCA));
    await startPeer();
    r = await channelCmd(['join', '--block', path.join(VEC, 'blocks', 'genesis.block')]);
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /joined channel mychannel/);
    const bad = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${ports.ops}/healthz`);
      return res.status === 503 ? res.json() : null;
    }, 30000, 'unhealthy peer with the wrong orderer CA');
    const oc = bad.failed_checks.find((c) => c.component === 'orderer-connection');
    assert.ok(oc, JSON.stringify(bad));
    assert.match(oc.reason, new RegExp(`127\\.0\\.0\\.1:${src.port}`));
    assert.doesNotMatch(oc.reason, /17050/);
    assert.strictEqual(await height(), 1, 'nothing pulled through an untrusted TLS connection');
    let st = await stopPeer();
    assert.strictEqual(st.code, 0, 'clean exit on SIGTERM');

    assert.match(fs.readFileSync(logPath, 'utf8'),
      /addressOverrides\[0\]: caCertsFile .*no-such-ca\.pem .*override ignored/);

    // 2. the orderer's TLS CA (a path relative to core.yaml's folder): the
    //    peer (restarted, the channel comes back from its ledger) pulls the
    //    whole chain
    writeCore(entry(path.relative(home, ordTlsCA)));
    await startPeer();
    await waitFor(async () => (await height()) >= NBLOCKS, RUN_MS / 2, `peer height ${NBLOCKS}`);
    r = await channelCmd(['getinfo', '-c', 'mychannel']);
    assert.strictEqual(r.status, 0, r.stderr);
    const info = JSON.parse(/Blockchain info: (\{.*\})/.exec(r.stdout)[1]);
    assert.strictEqual(info.height, NBLOCKS);
    assert.strictEqual(Buffer.from(info.currentBlockHash, 'base64').toString('hex'),
      expectedBlock(NBLOCKS - 1).header_hash);
    const healthy = await fetch(`http://127.0.0.1:${ports.ops}/healthz`);
    assert.strictEqual(healthy.status, 200, await healthy.text());
    st = await stopPeer();
    assert.strictEqual(st.code, 0, 'clean exit on SIGTERM');
    const log = fs.readFileSync(logPath, 'utf8');
    assert.match(log, new RegExp(`orderer endpoint ${VECTOR_ORDERER.replace(/\./g, '\\.')} overridden to 127\\.0\\.0\\.1:${src.port}`));
    assert.doesNotMatch(log, /ERROR: (Address|Leak)Sanitizer|runtime error:/, 'peer log');

    // 3. the stopped peer's ledger: Fabric's blocks, codes and state
    const dg = await run(DIGEST_TOOL, [path.join(home, 'data'), 'mychannel']);
    assert.strictEqual(dg.status, 0, dg.stderr);
    const d = JSON.parse(dg.stdout);
    assert.strictEqual(d.height, NBLOCKS);
    assert.strictEqual(d.current_hash, expectedBlock(NBLOCKS - 1).header_hash);
    assert.strictEqual(d.digest, base.digest, 'state digest of the peer = the replay\'s');
    const bl = await run(TOOL, ['blocks', path.join(home, 'data'), 'mychannel']);
    assert.strictEqual(bl.status, 0, bl.stderr);
    const blocks = JSON.parse(bl.stdout);
    assert.strictEqual(blocks.length, NBLOCKS);
    const diffs = [];
    let compared = 0;
    for (let n = 0; n < NBLOCKS; n++) {
      const want = expectedBlock(n);
      const got = blocks[n];
      for (const f of ['header_hash', 'previous_hash', 'data_hash']) {
        if (got[f] !== want[f]) diffs.push(`block ${n}: ${f} ${got[f]}, Fabric ${want[f]}`);
      }
      // Block 0 is stored as the peer was given it at the join (the
      // configtxgen copy, whose TRANSACTIONS_FILTER is empty: weft's ledger
      // reads that as all VALID); Fabric's ledger writes `00` into it.
      if (n === 0 && got.codes.length === 0) got.codes = want.transactions.map(() => 0);
      if (got.codes.length !== want.transactions.length) diffs.push(`block ${n}: ${got.codes.length} codes, Fabric ${want.transactions.length}`);
      want.transactions.forEach((t, i) => {
        compared++;
        if (got.codes[i] !== t.validation_code) diffs.push(`block ${n} tx ${i} (${t.txid}): code ${got.codes[i]}, Fabric ${t.validation_code} ${t.validation_code_name}`);
      });
    }
    assertNoDiffs(diffs, 'peer daemon');
    assert.strictEqual(compared, 511);
  } finally {
    const st = await stopPeer();
    if (st) console.log('peer stopped in cleanup', st);
    if (src) assert.strictEqual(await stopSource(src), 0, 'the Deliver source did not stop cleanly');
    if (process.env.WEFT_KEEP_TMP) console.log('peer log', logPath);
  }
});

// ---- tampering ------------------------------------------------------------------

// Signing identities of the vector crypto: cert PEM -> private key.
const SIGNERS = [
  'ordererOrganizations/example.com/orderers/orderer.example.com',
  'peerOrganizations/org1.example.com/users/User1@org1.example.com',
  'peerOrganizations/org2.example.com/users/User1@org2.example.com',
  'peerOrganizations/org1.example.com/users/Admin@org1.example.com',
  'peerOrganizations/org2.example.com/users/Admin@org2.example.com',
].map((rel) => {
  const dir = path.join(CRYPTO, rel, 'msp');
  const cert = fs.readFileSync(path.join(dir, 'signcerts', fs.readdirSync(path.join(dir, 'signcerts'))[0]));
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'keystore', 'priv_sk')));
  return { cert, key };
});

function keyOf(creatorBytes) {
  const id = msp.SerializedIdentity.deserializeBinary(creatorBytes);
  const cert = Buffer.from(id.getIdBytes_asU8());
  const s = SIGNERS.find((x) => x.cert.equals(cert));
  assert.ok(s, `no key for ${id.getMspid()}`);
  return s.key;
}

const readBlock = (n) => common.Block.deserializeBinary(fs.readFileSync(path.join(VEC, 'blocks', `${pad(n)}.block`)));
const txs = (b) => b.getData().getDataList_asU8().map((x) => Buffer.from(x));

function derLen(n) {
  if (n < 128) return Buffer.from([n]);
  const b = [];
  while (n > 0) { b.unshift(n & 255); n >>= 8; }
  return Buffer.from([0x80 | b.length, ...b]);
}
function headerBytes(h) {
  let hx = BigInt(h.getNumber()).toString(16);
  if (hx.length % 2) hx = '0' + hx;
  let num = Buffer.from(hx, 'hex');
  if (num[0] & 0x80) num = Buffer.concat([Buffer.from([0]), num]);
  const prev = Buffer.from(h.getPreviousHash_asU8());
  const dh = Buffer.from(h.getDataHash_asU8());
  const body = Buffer.concat([Buffer.from([2]), derLen(num.length), num, Buffer.from([4]), derLen(prev.length), prev,
    Buffer.from([4]), derLen(dh.length), dh]);
  return Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);
}
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const headerHash = (b) => sha256(headerBytes(b.getHeader()));

// Orderer signatures of the block, made again over its current header.
function resignOrderer(b) {
  const mds = b.getMetadata().getMetadataList_asU8().map((x) => Buffer.from(x));
  const md = common.Metadata.deserializeBinary(mds[0]);
  for (const s of md.getSignaturesList()) {
    const sh = Buffer.from(s.getSignatureHeader_asU8());
    const creator = common.SignatureHeader.deserializeBinary(sh).getCreator_asU8();
    s.setSignature(sign(keyOf(creator), Buffer.concat([Buffer.from(md.getValue_asU8()), sh, headerBytes(b.getHeader())])));
  }
  mds[0] = Buffer.from(md.serializeBinary());
  b.getMetadata().setMetadataList(mds);
}

// After data changed: new data hash, links from `from` on, orderer signatures.
function rechain(blocks, from) {
  for (let n = from; n < blocks.length; n++) {
    const b = blocks[n];
    b.getHeader().setDataHash(sha256(Buffer.concat(txs(b))));
    b.getHeader().setPreviousHash(headerHash(blocks[n - 1]));
    resignOrderer(b);
  }
}

function setTx(b, i, bytes) {
  const d = txs(b);
  d[i] = bytes;
  b.getData().setDataList(d);
}

function flipEndorsement(b, i) {
  const env = common.Envelope.deserializeBinary(txs(b)[i]);
  const pl = common.Payload.deserializeBinary(env.getPayload_asU8());
  const tx = peer.Transaction.deserializeBinary(pl.getData_asU8());
  const act = tx.getActionsList()[0];
  const cap = peer.ChaincodeActionPayload.deserializeBinary(act.getPayload_asU8());
  const ends = cap.getAction().getEndorsementsList();
  assert.ok(ends.length >= 2);
  const sig = Buffer.from(ends[0].getSignature_asU8());
  sig[sig.length - 1] ^= 0x01;
  ends[0].setSignature(sig);
  act.setPayload(cap.serializeBinary());
  pl.setData(tx.serializeBinary());
  const payload = Buffer.from(pl.serializeBinary());
  env.setPayload(payload);
  const shdr = common.SignatureHeader.deserializeBinary(pl.getHeader().getSignatureHeader_asU8());
  env.setSignature(sign(keyOf(shdr.getCreator_asU8()), payload)); // the creator's signature stays valid
  setTx(b, i, Buffer.from(env.serializeBinary()));
}

function flipCreator(b, i) {
  const env = common.Envelope.deserializeBinary(txs(b)[i]);
  const sig = Buffer.from(env.getSignature_asU8());
  sig[sig.length - 1] ^= 0x01;
  env.setSignature(sig);
  setTx(b, i, Buffer.from(env.serializeBinary()));
}

function writeChain(name, blocks) {
  const dir = path.join(TMP, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(VEC, 'blocks', 'genesis.block'), path.join(dir, 'genesis.block'));
  blocks.forEach((b, n) => fs.writeFileSync(path.join(dir, `${pad(n)}.block`), Buffer.from(b.serializeBinary())));
  return dir;
}

function chainUpTo(last) {
  const blocks = [];
  for (let n = 0; n <= last; n++) blocks.push(readBlock(n));
  return blocks;
}

// the keys a transaction of expected/ writes in `basic`
const writesOf = (t) => (t.rwset || []).filter((r) => r.namespace === 'basic').flatMap((r) => r.writes.map((w) => w.key));

test('tampered transactions get the codes Fabric gives', () => {
  const blocks = chainUpTo(21);
  const e20 = expectedBlock(20), e21 = expectedBlock(21), e3 = expectedBlock(3);
  assert.ok(e20.transactions.every((t) => t.validation_code_name === 'VALID'));
  assert.ok(e21.transactions.every((t) => t.validation_code_name === 'VALID'));
  assert.strictEqual(e3.transactions[0].validation_code_name, 'VALID');
  flipEndorsement(blocks[20], 0);
  flipCreator(blocks[20], 1);
  setTx(blocks[21], 2, txs(readBlock(3))[0]); // a valid transaction of block 3, again
  rechain(blocks, 20);
  const dir = writeChain('tampered-txs', blocks);
  const rep = path.join(TMP, 'tampered-txs.json');
  const r = replay(['--blocks', dir, '--dir', path.join(TMP, 'tampered-txs-ledger'), '--report', rep]);
  assert.strictEqual(r.status, 0, r.stderr);
  const report = readJson(rep);
  assert.strictEqual(report.height, 22);
  const diffs = [];
  for (let n = 0; n < 22; n++) {
    const want = expectedBlock(n).transactions.map((t) => t.validation_code_name);
    if (n === 20) { want[0] = 'ENDORSEMENT_POLICY_FAILURE'; want[1] = 'BAD_CREATOR_SIGNATURE'; }
    if (n === 21) want[2] = 'DUPLICATE_TXID';
    want.forEach((c, i) => {
      if (report.blocks[n].codes[i] !== c) diffs.push(`block ${n} tx ${i}: ${report.blocks[n].codes[i]}, expected ${c}`);
    });
    if (n > 0 && report.blocks[n].previous_hash !== report.blocks[n - 1].header_hash) diffs.push(`block ${n}: link`);
  }
  assertNoDiffs(diffs, 'tampered');
  assert.strictEqual(report.blocks[20].header_hash, headerHash(blocks[20]).toString('hex'));
  // invalid transactions wrote nothing; their valid neighbours did
  for (const i of [0, 1]) {
    for (const k of writesOf(e20.transactions[i])) {
      assert.ok(!report.state.basic[k].version.startsWith('20:'), `${k} written by invalid tx 20.${i}`);
    }
  }
  for (const k of writesOf(e20.transactions[2])) assert.strictEqual(report.state.basic[k].version, '20:2');
  // --check-filter names each code that differs from the filter the blocks carry
  const c = replay(['--blocks', dir, '--dir', path.join(TMP, 'tampered-txs-ledger2'), '--report', rep, '--check-filter']);
  assert.strictEqual(c.status, 1, c.stdout);
  const lines = c.stderr.split('\n').filter((l) => l.startsWith('check-filter: block'));
  assert.deepStrictEqual(lines, [
    'check-filter: block 20 tx 0: weft ENDORSEMENT_POLICY_FAILURE, the peer VALID',
    'check-filter: block 20 tx 1: weft BAD_CREATOR_SIGNATURE, the peer VALID',
    'check-filter: block 21 tx 2: weft DUPLICATE_TXID, the peer VALID',
  ]);
});

function assertStoppedAt(name, blocks, n, pattern) {
  const dir = writeChain(name, blocks);
  const ledger = path.join(TMP, `${name}-ledger`);
  const rep = path.join(TMP, `${name}.json`);
  const r = replay(['--blocks', dir, '--dir', ledger, '--report', rep]);
  assert.strictEqual(r.status, 1, `replay did not fail: ${r.stdout}`);
  console.log(`${name}: ${r.stderr.trim()}`);
  assert.match(r.stderr, new RegExp(`block ${n}\\b`));
  assert.match(r.stderr, pattern);
  const report = readJson(rep);
  assert.strictEqual(report.height, n);
  assert.strictEqual(report.blocks.length, n);
  assert.strictEqual(report.blocks[n - 1].header_hash, expectedBlock(n - 1).header_hash);
  // nothing of block n (or later) in the block store
  const v = spawnSync(WEFT, ['ledger', 'verify', path.join(ledger, 'ledgersData', 'chains', 'mychannel')],
    { encoding: 'utf8', timeout: RUN_MS });
  assert.strictEqual(v.status, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`OK, ${n} blocks`));
}

test('a broken orderer signature stops the replay at that block', () => {
  const blocks = chainUpTo(23);
  const mds = blocks[20].getMetadata().getMetadataList_asU8().map((x) => Buffer.from(x));
  const md = common.Metadata.deserializeBinary(mds[0]);
  const s = md.getSignaturesList()[0];
  const sig = Buffer.from(s.getSignature_asU8());
  sig[sig.length - 1] ^= 0x01;
  s.setSignature(sig);
  mds[0] = Buffer.from(md.serializeBinary());
  blocks[20].getMetadata().setMetadataList(mds);
  assertStoppedAt('bad-orderer-sig', blocks, 20, /orderer signatures/);
});

test('a broken hash link stops the replay at that block', () => {
  const blocks = chainUpTo(23);
  const prev = Buffer.from(blocks[20].getHeader().getPreviousHash_asU8());
  prev[0] ^= 0x01;
  blocks[20].getHeader().setPreviousHash(prev);
  resignOrderer(blocks[20]); // the orderer signature is fine, only the link is broken
  assertStoppedAt('bad-link', blocks, 20, /previous hash/);
});
