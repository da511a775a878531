// The chaincode lifecycle through `weft chaincode` against real processes:
// `weft orderer start` + `weft peer start` (TLS), a one-org channel joined
// with `weft channel join`; package the Node asset-transfer sample, install,
// approve, check readiness, commit (each waited for until the peer has it
// committed VALID), query the definition, then invoke and query the
// chaincode (run by the peer's Node launcher with the real fabric-shim).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../peer_channel/lib.js');

const SRC = process.env.WEFT_SOURCE_DIR;

function cc(h, args, mspDir = h.adminMsp) {
  const ordCA = path.join(h.ordDir, 'tls', 'ca.crt');
  return new Promise((resolve) => {
    require('node:child_process').execFile(process.env.WEFT_BIN, ['chaincode', ...args,
      '-o', `127.0.0.1:${h.ports.ord}`, '--cafile', ordCA, '--tls'], {
      cwd: h.dir, timeout: 120000,
      env: { ...process.env, CORE_PEER_ADDRESS: `127.0.0.1:${h.ports.peer}`,
        CORE_PEER_LOCALMSPID: 'Org1MSP', CORE_PEER_MSPCONFIGPATH: mspDir,
        CORE_PEER_TLS_ENABLED: 'true',
        CORE_PEER_TLS_ROOTCERT_FILE: path.join(h.peerDir, 'tls', 'ca.crt') },
    }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

test('weft chaincode: package, install, approve, commit, invoke, query', { timeout: 280000 }, async () => {
  let h;
  try {
    h = await L.setup('weft-cclife-');
    // a one-org channel: LifecycleEndorsement is then Org1's peer alone
    const ctx = path.join(h.dir, 'configtx.yaml');
    fs.writeFileSync(ctx, fs.readFileSync(ctx, 'utf8').replace(/\n {8}- \*Org2/g, ''));
    fs.rmSync(h.genesis);
    const g = require('node:child_process').spawnSync(process.env.WEFT_BIN, ['configtx', 'genesis',
      '--config', ctx, '--profile', 'PeerChannel', '--channel', h.channel, '--output', h.genesis],
    { cwd: h.dir, encoding: 'utf8' });
    assert.strictEqual(g.status, 0, g.stderr);
    await L.startOrderer(h);
    // the peer's Node launcher finds fabric-shim in the interop node_modules
    process.env.CORE_CHAINCODE_NODE_MODULESPATH = path.join(SRC, 'tests', 'interop', 'node_modules');
    await L.startPeer(h);
    let r = await L.channelCmd(h, ['join', '--block', h.genesis]);
    assert.strictEqual(r.code, 0, r.stderr);

    const pkg = path.join(h.dir, 'asset.tar.gz');
    r = await cc(h, ['package', pkg, '--path', path.join(SRC, 'samples', 'chaincode', 'asset-transfer'),
      '--lang', 'node', '--label', 'asset_1.0']);
    assert.strictEqual(r.code, 0, r.stderr);
    const pkgId = r.stdout.trim();
    assert.match(pkgId, /^asset_1\.0:[0-9a-f]{64}$/);

    r = await cc(h, ['install', pkg], h.userMsp);
    assert.strictEqual(r.code, 1, 'a plain member may not install');
    assert.match(r.stderr, /access denied/);
    r = await cc(h, ['install', pkg]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(pkgId), r.stdout);
    r = await cc(h, ['queryinstalled']);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`Package ID: ${pkgId}, Label: asset_1.0`), r.stdout);

    const def = ['-C', h.channel, '-n', 'asset', '-v', '1.0', '--sequence', '1'];
    r = await cc(h, ['checkcommitreadiness', ...def]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /Org1MSP: false/);
    r = await cc(h, ['approveformyorg', ...def, '--package-id', pkgId]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /committed with status \(VALID\)/);
    r = await cc(h, ['checkcommitreadiness', ...def]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /Org1MSP: true/);
    r = await cc(h, ['commit', ...def]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /committed with status \(VALID\)/);
    r = await cc(h, ['querycommitted', '-C', h.channel, '-n', 'asset']);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /Version: 1\.0, Sequence: 1, Endorsement Plugin: escc, Validation Plugin: vscc, Approvals: \[Org1MSP: true\]/);

    r = await cc(h, ['invoke', '-C', h.channel, '-n', 'asset', '-c',
      '{"Args":["CreateAsset","a1","blue","5","Tom","300"]}'], h.userMsp);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /Chaincode invoke successful/);
    r = await cc(h, ['query', '-C', h.channel, '-n', 'asset', '-c', '{"Args":["ReadAsset","a1"]}'], h.userMsp);
    assert.strictEqual(r.code, 0, r.stderr);
    const asset = JSON.parse(r.stdout);
    assert.strictEqual(asset.ID ?? asset.id, 'a1');
    assert.strictEqual(asset.Owner ?? asset.owner, 'Tom');
    // a chaincode error is an endorsement failure, nothing is submitted
    r = await cc(h, ['invoke', '-C', h.channel, '-n', 'asset', '-c',
      '{"Args":["CreateAsset","a1","red","1","Ann","1"]}'], h.userMsp);
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /endorsement failure/);
  } finally {
    await L.teardown(h);
  }
});
