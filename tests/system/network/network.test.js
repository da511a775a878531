// `weft network up|status|logs|down`: two small networks side by side (A: 1
// orderer, 2 orgs x 1 peer, the asset-transfer chaincode deployed; B: 1 org,
// --no-chaincode), each node healthy and reachable over TLS, peers joined
// through `weft channel join`, network.json and the connection profiles
// complete; on A `weft chaincode invoke/query` and the sample application
// (the real @hyperledger/fabric-gateway) run their story; `down` leaves no
// process (chaincode included) and no folder behind. Every process is killed
// by PID in `after`, whatever happened before.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { freeBase } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-network-'));

function weft(args, timeout = 120000) {
  const r = spawnSync(WEFT, args, { encoding: 'utf8', timeout, cwd: TMP });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is not alive.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function pidsOf(dir) {
  const run = path.join(dir, 'run');
  if (!fs.existsSync(run)) return [];
  return fs.readdirSync(run).filter((f) => f.endsWith('.pid'))
    .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim())).filter((p) => p > 1);
}

const nets = {};
const seenPids = new Set();

// PIDs whose command line mentions one of the strings (the peers' chaincode
// processes name their peer's chaincode endpoint).
function pidsMentioning(needles) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (needles.some((x) => cmd.includes(x))) out.push(Number(d));
  }
  return out;
}

const chaincodeNeedles = (n) => (n.json ? n.json.nodes : []).filter((x) => x.role === 'peer')
  .map((x) => `--peer.address ${x.endpoints.chaincode} `);

// `weft chaincode ...` as a user of org (1-based) of network n, on peers.
function cc(n, org, args, peers, user = 'user') {
  const o = n.json.organizations.find((x) => x.name === `Org${org}`);
  const ord = n.json.nodes.find((x) => x.role === 'orderer');
  const ordOrg = n.json.organizations.find((x) => x.name === 'OrdererOrg');
  const peerArgs = peers.flatMap((p) => ['--peerAddresses', p.endpoints.grpc, '--tlsRootCertFiles', p.tlsRootCert]);
  const r = spawnSync(WEFT, ['chaincode', ...args, '--tls', ...peerArgs,
    '-o', ord.endpoints.grpc, '--cafile', ordOrg.tlsRootCert], {
    encoding: 'utf8', timeout: 120000, cwd: TMP,
    env: { ...process.env, CORE_PEER_LOCALMSPID: o.mspId, CORE_PEER_MSPCONFIGPATH: o[user].mspDir },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tlsHandshake(port, pem, servername) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: pem, servername, ALPNProtocols: ['h2'] },
      () => { const ok = s.authorized; s.end(); resolve(ok); });
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('TLS timeout')); });
    s.on('error', reject);
  });
}

before(async () => {
  const a = await freeBase(30, { step: 20 });
  const b = await freeBase(20, { step: 20, avoid: [a] });
  nets.A = { dir: path.join(TMP, 'netA'), base: a, orgs: 2, chaincode: true };
  nets.B = { dir: path.join(TMP, 'netB'), base: b, orgs: 1, chaincode: false };
});

after(() => {
  for (const n of Object.values(nets)) {
    for (const pid of pidsOf(n.dir)) seenPids.add(pid);
    for (const pid of pidsMentioning(chaincodeNeedles(n))) seenPids.add(pid);
  }
  for (const pid of seenPids) {
    if (alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  fs.rmSync(TMP, { recursive: true, force: true });
});

test('up: two networks side by side, A with the chaincode deployed', () => {
  for (const [name, n] of Object.entries(nets)) {
    const t0 = Date.now();
    const r = weft(['network', 'up', '--orderers', '1', '--orgs', String(n.orgs), '--peers', '1',
      '--base-port', String(n.base), '--dir', n.dir, ...(n.chaincode ? [] : ['--no-chaincode'])],
    180000);
    for (const pid of pidsOf(n.dir)) seenPids.add(pid);
    assert.strictEqual(r.code, 0, `up ${name} failed:\n${r.out}\n${r.err}`);
    console.log(`# network ${name} up in ${Date.now() - t0} ms`);
    assert.match(r.out, /weft network is up: \d+ nodes/);
    assert.match(r.out, /weft network down --dir/);
    // every peer joined through cscc JoinChain, as its org's admin
    assert.match(r.out, /\[6\/7\] peers join channel mychannel \(weft channel join\)/);
    assert.match(r.out, /peer0\.org1\.example\.com joined mychannel \(weft channel join as Admin@org1\.example\.com\)/);
    n.json = JSON.parse(fs.readFileSync(path.join(n.dir, 'network.json'), 'utf8'));
    if (n.chaincode) {
      assert.match(r.out, /installed on every peer/);
      assert.match(r.out, /approved by Org1MSP Org2MSP/);
      assert.match(r.out, /committed asset-transfer 1\.0 on mychannel, endorsement policy AND\('Org1MSP\.peer','Org2MSP\.peer'\); every peer has it/);
      assert.match(r.out, /the chaincode answers on every peer/);
      assert.match(r.out, /weft chaincode query -C mychannel -n asset-transfer/);
      assert.strictEqual(n.json.chaincode, 'asset-transfer');
    } else {
      assert.match(r.out, /chaincode: none \(--no-chaincode\)/);
      assert.strictEqual(n.json.chaincode, null);
    }
  }
});

test('network.json lists every node with a live PID and its files', () => {
  for (const n of Object.values(nets)) {
    const j = n.json;
    assert.strictEqual(j.channel, 'mychannel');
    assert.strictEqual(j.nodes.length, 1 + n.orgs);
    const names = new Set();
    for (const node of j.nodes) {
      names.add(node.name);
      assert.ok(alive(node.pid), `${node.name} pid ${node.pid} not running`);
      for (const k of ['tlsRootCert', 'mspDir', 'config', 'dataDir', 'log']) {
        assert.ok(fs.existsSync(node[k]), `${node.name}.${k} ${node[k]} missing`);
      }
      assert.match(node.endpoints.grpc, /^127\.0\.0\.1:\d+$/);
      assert.match(node.endpoints.operations, /^127\.0\.0\.1:\d+$/);
      const port = Number(node.endpoints.grpc.split(':')[1]);
      assert.ok(port >= n.base && port < n.base + 10 * j.nodes.length);
      if (node.role === 'orderer') {
        assert.strictEqual(node.mspId, 'OrdererMSP');
        assert.deepStrictEqual(node.channels, ['mychannel']);
        assert.match(node.endpoints.admin, /^127\.0\.0\.1:\d+$/);
      } else {
        assert.strictEqual(node.role, 'peer');
        assert.match(node.mspId, /^Org\dMSP$/);
        // Joined: the channel ledger holds the genesis block and verifies.
        assert.deepStrictEqual(node.channels, ['mychannel']);
        const chain = path.join(node.dataDir, 'ledgersData', 'chains', 'mychannel');
        const v = weft(['ledger', 'verify', chain]);
        assert.strictEqual(v.code, 0, `ledger verify ${chain}: ${v.out}${v.err}`);
      }
    }
    assert.strictEqual(names.size, j.nodes.length);
    for (const org of j.organizations.filter((o) => o.name !== 'OrdererOrg')) {
      assert.ok(fs.existsSync(org.user.cert) && fs.existsSync(org.user.key), `${org.name} user`);
      assert.ok(fs.existsSync(org.admin.cert) && fs.existsSync(org.admin.key), `${org.name} admin`);
      assert.ok(fs.existsSync(org.tlsRootCert));
      assert.match(fs.readFileSync(org.user.cert, 'utf8'), /BEGIN CERTIFICATE/);
    }
  }
  // The two networks share no PID and no port.
  const pa = nets.A.json.nodes.map((x) => x.pid);
  assert.ok(nets.B.json.nodes.every((x) => !pa.includes(x.pid)));
});

test('connection profiles are Fabric common connection profiles', async () => {
  const { dir, orgs, json } = nets.A;
  for (let o = 1; o <= orgs; o++) {
    const p = JSON.parse(fs.readFileSync(path.join(dir, `connection-org${o}.json`), 'utf8'));
    assert.strictEqual(typeof p.name, 'string');
    assert.strictEqual(p.version, '1.0.0');
    assert.strictEqual(p.client.organization, `Org${o}`);
    assert.strictEqual(p.organizations[`Org${o}`].mspid, `Org${o}MSP`);
    assert.ok(Array.isArray(p.organizations[`Org${o}`].peers));
    for (const peerName of p.organizations[`Org${o}`].peers) {
      const peer = p.peers[peerName];
      assert.match(peer.url, /^grpcs:\/\/127\.0\.0\.1:\d+$/);
      assert.match(peer.tlsCACerts.pem, /^-----BEGIN CERTIFICATE-----/);
      assert.strictEqual(peer.grpcOptions['ssl-target-name-override'], peerName);
      // TLS really is on, and the profile's root and name verify the peer.
      const port = Number(peer.url.split(':')[2]);
      assert.strictEqual(await tlsHandshake(port, peer.tlsCACerts.pem, peerName), true);
    }
    const ordererNames = Object.keys(p.orderers);
    assert.deepStrictEqual(ordererNames, json.nodes.filter((x) => x.role === 'orderer')
      .map((x) => x.name));
    const ord = p.orderers[ordererNames[0]];
    assert.strictEqual(await tlsHandshake(Number(ord.url.split(':')[2]), ord.tlsCACerts.pem,
      ordererNames[0]), true);
  }
});

// Every node healthy; every node of a network at the same height (waits a
// little for the last block to reach every peer); returns that height.
async function statusSynced(n, minHeight) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const r = weft(['network', 'status', '--dir', n.dir, '--json']);
    assert.strictEqual(r.code, 0, r.out + r.err);
    const s = JSON.parse(r.out);
    assert.strictEqual(s.healthy, true);
    assert.strictEqual(s.nodes.length, n.json.nodes.length);
    for (const node of s.nodes) {
      assert.strictEqual(node.running, true, node.name);
      assert.strictEqual(node.health, 'ok', node.name);
      assert.strictEqual(typeof node.height, 'number', `${node.name} reports no height`);
    }
    const heights = new Set(s.nodes.map((x) => x.height));
    if (heights.size === 1 && s.nodes[0].height >= minHeight) return s.nodes[0].height;
    if (Date.now() > deadline) {
      assert.fail(`heights ${JSON.stringify(s.nodes.map((x) => [x.name, x.height]))}, want all >= ${minHeight}`);
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

test('status: every node running, healthy and at the same height', async () => {
  // B: the genesis block only; A: genesis, the 2 approvals (sent together,
  // so in one or two blocks), the commit.
  assert.strictEqual(await statusSynced(nets.B, 1), 1);
  nets.A.height = await statusSynced(nets.A, 3);
  assert.ok(nets.A.height <= 4, `height ${nets.A.height}`);
  for (const n of Object.values(nets)) {
    const text = weft(['network', 'status', '--dir', n.dir]);
    assert.strictEqual(text.code, 0);
    assert.match(text.out, /all nodes healthy/);
    assert.match(text.out, new RegExp(`peer0\\.org1\\.example\\.com +peer +Org1 +\\d+ +running +ok +${n === nets.A ? nets.A.height : 1}\n`));
  }
});

test('weft chaincode: the committed definition, invoke and query across orgs', () => {
  const A = nets.A;
  const peers = A.json.nodes.filter((x) => x.role === 'peer');
  let r = cc(A, 1, ['querycommitted', '-C', 'mychannel', '-n', 'asset-transfer'], [peers[1]]);
  assert.strictEqual(r.code, 0, r.err);
  assert.match(r.out, /Version: 1\.0, Sequence: 1, .*Approvals: \[Org1MSP: true, Org2MSP: true\]/);
  r = cc(A, 1, ['invoke', '-C', 'mychannel', '-n', 'asset-transfer', '-c',
    '{"Args":["CreateAsset","cli1","blue","5","Tom","300"]}'], peers);
  assert.strictEqual(r.code, 0, r.err);
  assert.match(r.out, /Chaincode invoke successful/);
  // Org2's user reads it on Org2's peer
  r = cc(A, 2, ['query', '-C', 'mychannel', '-n', 'asset-transfer', '-c',
    '{"Args":["ReadAsset","cli1"]}'], [peers[1]]);
  assert.strictEqual(r.code, 0, r.err);
  assert.deepStrictEqual(JSON.parse(r.out), { ID: 'cli1', Color: 'blue', Size: 5, Owner: 'Tom', AppraisedValue: 300 });
  // endorsed by Org1 alone: ordered, then invalidated by the policy AND(Org1, Org2)
  r = cc(A, 1, ['invoke', '-C', 'mychannel', '-n', 'asset-transfer', '-c',
    '{"Args":["TransferAsset","cli1","Mallory"]}'], [peers[0]]);
  assert.strictEqual(r.code, 1, r.out + r.err);
  assert.match(r.err, /ENDORSEMENT_POLICY_FAILURE/);
  r = cc(A, 1, ['query', '-C', 'mychannel', '-n', 'asset-transfer', '-c',
    '{"Args":["ReadAsset","cli1"]}'], [peers[0]]);
  assert.strictEqual(r.code, 0, r.err);
  assert.strictEqual(JSON.parse(r.out).Owner, 'Tom');
  // a chaincode on B? none was deployed
  const pb = nets.B.json.nodes.find((x) => x.role === 'peer');
  r = cc(nets.B, 1, ['query', '-C', 'mychannel', '-n', 'asset-transfer', '-c',
    '{"Args":["GetAllAssets"]}'], [pb]);
  assert.strictEqual(r.code, 1);
});

test('status: the two invokes reached every node', async () => {
  // the valid create and the invalidated transfer: a block each
  nets.A.height = await statusSynced(nets.A, nets.A.height + 2);
});

test('sample app: the asset-transfer story through @hyperledger/fabric-gateway', async () => {
  const app = path.join(process.env.WEFT_SOURCE_DIR, 'samples', 'app', 'app.js');
  const r = spawnSync(process.execPath, [app, path.join(nets.A.dir, 'network.json')],
    { encoding: 'utf8', timeout: 120000, env: process.env });
  assert.strictEqual(r.status, 0, `app failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /channel mychannel, chaincode asset-transfer/);
  assert.match(r.stdout, /<event> CreateAsset in block \d+/);
  assert.match(r.stdout, /Org2 reads asset\d+ \(evaluate ReadAsset\)\n(?: {4}<event>.*\n)* {4}\{"ID":"asset\d+","Color":"blue","Size":5,"Owner":"Tom"/);
  assert.match(r.stdout, /committed in block \d+, previous owner Tom/);
  assert.match(r.stdout, /refused as expected: block \d+ marks it ENDORSEMENT_POLICY_FAILURE/);
  assert.match(r.stdout, /already exists/);
  assert.match(r.stdout, /chaincode events for asset\d+: CreateAsset, TransferAsset\n/);
  assert.match(r.stdout, /\n9 passed, 0 failed/);
  // create, transfer and the invalidated update, each waited for: three
  // blocks at least, on every node
  await statusSynced(nets.A, nets.A.height + 3);
});

test('logs prints a node log; unknown node is an error', () => {
  const r = weft(['network', 'logs', 'orderer0', '--dir', nets.A.dir, '-n', '200']);
  assert.strictEqual(r.code, 0, r.err);
  assert.match(r.out, /joined channel mychannel/);
  const bad = weft(['network', 'logs', 'nosuchnode', '--dir', nets.A.dir]);
  assert.notStrictEqual(bad.code, 0);
});

test('up refuses a used folder and a used port range, leaving the network alone', () => {
  const again = weft(['network', 'up', '--dir', nets.A.dir, '--orderers', '1', '--orgs', '1',
    '--peers', '1', '--base-port', String(nets.A.base + 1000)]);
  assert.notStrictEqual(again.code, 0);
  assert.match(again.err, /already exists/);
  const other = path.join(TMP, 'netC');
  const clash = weft(['network', 'up', '--dir', other, '--orderers', '1', '--orgs', '1',
    '--peers', '1', '--base-port', String(nets.A.base)]);
  assert.notStrictEqual(clash.code, 0);
  assert.match(clash.err, /in use/);
  assert.strictEqual(fs.existsSync(path.join(other, 'run')), false);
  for (const node of nets.A.json.nodes) assert.ok(alive(node.pid));
});

test('down on a folder not made by up leaves it alone', () => {
  const foreign = path.join(TMP, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'keep.txt'), 'x');
  const r = weft(['network', 'down', '--dir', foreign]);
  assert.notStrictEqual(r.code, 0);
  assert.ok(fs.existsSync(path.join(foreign, 'keep.txt')));
});

test('no sanitizer report in any log (ASan builds)', () => {
  for (const n of Object.values(nets)) {
    const logs = path.join(n.dir, 'logs');
    for (const f of fs.readdirSync(logs)) {
      const text = fs.readFileSync(path.join(logs, f), 'utf8');
      assert.doesNotMatch(text, /AddressSanitizer|LeakSanitizer|runtime error:/, `${f} of ${n.dir}`);
    }
  }
});

test('down: no process and no state left, the other network unaffected', () => {
  const pidsA = nets.A.json.nodes.map((x) => x.pid);
  const ccA = pidsMentioning(chaincodeNeedles(nets.A));
  assert.ok(ccA.length >= 2, 'a chaincode process per peer of A');
  for (const pid of ccA) seenPids.add(pid);
  const r = weft(['network', 'down', '--dir', nets.A.dir]);
  assert.strictEqual(r.code, 0, r.out + r.err);
  for (const pid of pidsA) assert.strictEqual(alive(pid), false, `pid ${pid} still running`);
  for (const pid of ccA) assert.strictEqual(alive(pid), false, `chaincode pid ${pid} still running`);
  assert.strictEqual(fs.existsSync(nets.A.dir), false);
  for (const node of nets.B.json.nodes) assert.ok(alive(node.pid), `${node.name} of B died`);
  const s = weft(['network', 'status', '--dir', nets.B.dir, '--json']);
  assert.strictEqual(JSON.parse(s.out).healthy, true);

  const pidsB = nets.B.json.nodes.map((x) => x.pid);
  const rb = weft(['network', 'down', '--dir', nets.B.dir]);
  assert.strictEqual(rb.code, 0, rb.out + rb.err);
  for (const pid of pidsB) assert.strictEqual(alive(pid), false);
  assert.strictEqual(fs.existsSync(nets.B.dir), false);
  // down again is a no-op.
  assert.strictEqual(weft(['network', 'down', '--dir', nets.B.dir]).code, 0);
});
