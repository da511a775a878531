// A peer killed mid-way: the application keeps working through the other
// organisation's gateway peer, and the killed peer catches up.
// `weft network up --orderers 1 --orgs 2 --peers 2` (TLS, the asset-transfer
// sample, policy AND('Org1MSP.peer','Org2MSP.peer'), every peer an anchor
// peer). A @hyperledger/fabric-gateway client connected to peer0.org1 (Org1's
// User1) submits CreateAsset/TransferAsset; each one needs an endorsement of
// Org2. peer0.org2, the Org2 peer the gateway asks first, is SIGKILLed (its
// chaincode process too, by PID): submissions keep committing, now endorsed
// by peer1.org2, and the sample application (samples/app) runs its whole
// story with Org2's user on peer1.org2. peer0.org2 is restarted while the
// load goes on, pulls the blocks it missed from the orderer and reaches the
// orderer's height; then every peer is stopped (SIGTERM by PID) and the
// killed peer's full public world state digest (peer_state_digest,
// docs/conformance.md) equals its org-mate's (and Org1's peers'), with
// height and last block hash. `weft network down` leaves no process and no
// folder. Bounded: 170 s.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const G = require('../../interop/gateway/net.js');
const { freeBase, alive, childrenOf, stopPid, height, Pids } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const DIGEST = process.env.PEER_STATE_DIGEST;
const APP = path.join(process.env.WEFT_SOURCE_DIR, 'samples', 'app', 'app.js');


// The sample application, its output and exit code; killed by PID on timeout.
function runApp(args, ms) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [APP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const t = setTimeout(() => { out += '\n(app timed out)'; child.kill('SIGKILL'); }, ms);
    child.on('close', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

test('a peer of Org2 killed mid-way: Org1\'s gateway keeps committing, the peer catches up',
  { timeout: 170000 }, async () => {
    const t0 = Date.now();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-peerkill-'));
    fs.rmSync(dir, { recursive: true });
    let gw = null;
    let info = null;
    const seen = new Pids(); // every PID this test saw, stopped in finally
    let stop = false;
    let workers = [];
    try {
      execFileSync(WEFT, ['network', 'up', '--orderers', '1', '--orgs', '2', '--peers', '2',
        '--dir', dir, '--base-port', String(await freeBase(50))],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 100000 });
      info = JSON.parse(fs.readFileSync(path.join(dir, 'network.json'), 'utf8'));
      for (const n of info.nodes) seen.add(n.pid);
      const tUp = Date.now() - t0;
      const ord = info.nodes.find((n) => n.role === 'orderer');
      const peer = (name) => info.nodes.find((n) => n.name === name);
      const p01 = peer('peer0.org1.example.com');
      const p11 = peer('peer1.org1.example.com');
      const victim = peer('peer0.org2.example.com');
      const mate = peer('peer1.org2.example.com');
      assert.ok(p01 && p11 && victim && mate && ord, info.nodes.map((n) => n.name).join(' '));

      gw = G.gatewayFor(info, 'Org1MSP'); // Org1's User1 on peer0.org1's Gateway
      assert.strictEqual(G.peerOf(info, 'Org1MSP').name, p01.name);
      const contract = gw.gateway.getNetwork(info.channel).getContract(info.chaincode);
      const created = [];
      let committed = 0;
      let failures = 0;
      let lastError = null;
      // submitTransaction resolves only once the transaction is committed
      // VALID: every count below is a transaction endorsed by Org1 and Org2.
      const worker = async (w) => {
        for (let k = 0; !stop; k++) {
          try {
            if (k % 3 === 2 && created.length > 0) {
              const id = created[(w * 7 + k) % created.length];
              await contract.submitTransaction('TransferAsset', id, `owner-${w}-${k}`);
            } else {
              const id = `k-${w}-${k}`;
              await contract.submitTransaction('CreateAsset', id, 'red', String(k), `ann-${w}`, '10');
              created.push(id);
            }
            committed++;
          } catch (e) {
            // two transfers of one asset in a block: one is an MVCC conflict
            failures++;
            lastError = e;
          }
        }
      };
      workers = [...Array(8).keys()].map(worker);
      const until = (n, what) => G.waitFor(what, async () => committed >= n, 60000);

      await until(30, 'first 30 transactions');
      const hKill = await height(victim);
      const ccKids = childrenOf(victim.pid);
      for (const c of ccKids) seen.add(c);
      process.kill(victim.pid, 'SIGKILL');
      await G.waitFor('peer0.org2 killed', async () => !alive(victim.pid), 10000);
      for (const c of ccKids) if (alive(c)) process.kill(c, 'SIGKILL');
      const atKill = committed;
      const failuresAtKill = failures;

      // While peer0.org2 is down: the sample application's whole story,
      // Org1's user on peer0.org1, Org2's user on peer1.org2 (its own org's
      // surviving peer), beside the load.
      const app = await runApp([path.join(dir, 'network.json'), '--peer', mate.name], 60000);
      assert.strictEqual(app.code, 0, `app failed:\n${app.out}`);
      assert.match(app.out, /Org1's user connects to peer0\.org1\.example\.com/);
      assert.match(app.out, /Org2's user connects to peer1\.org2\.example\.com/);
      assert.match(app.out, /committed in block \d+, previous owner Tom/);
      assert.match(app.out, /refused as expected: block \d+ marks it ENDORSEMENT_POLICY_FAILURE/);
      assert.match(app.out, /chaincode events for asset\d+: CreateAsset, TransferAsset\n/);
      assert.match(app.out, /\n9 passed, 0 failed/);
      await until(atKill + 40, '40 transactions while peer0.org2 is down');
      await assert.rejects(height(victim), 'peer0.org2 is down');
      const hDown = await height(mate);
      assert.ok(hDown > hKill + 2, `the chain grew while peer0.org2 was down (${hKill} -> ${hDown})`);
      const commitsDown = committed - atKill;
      const failuresDown = failures - failuresAtKill;
      assert.ok(failuresDown < commitsDown,
        `${failuresDown} failed submits vs ${commitsDown} committed with peer0.org2 down: ${lastError}`);

      const pid = G.restartNode(victim);
      victim.pid = pid;
      seen.add(pid);
      const hRestart = await G.waitFor('peer0.org2 back', async () => {
        const h = await height(victim);
        return h > 0 ? h : null;
      }, 60000);
      await until(committed + 20, '20 more transactions after the restart');
      stop = true;
      await Promise.all(workers);
      workers = [];
      gw.close();
      gw = null;
      assert.ok(failures < committed, `too many failed submits (${failures}): ${lastError}`);

      const peers = [p01, p11, victim, mate];
      const hFinal = await G.waitFor('the orderer height on every peer', async () => {
        const ho = await height(ord);
        for (const p of peers) if ((await height(p)) !== ho) return null;
        return ho > 0 ? ho : null;
      }, 60000);
      assert.ok(hRestart < hFinal, `peer0.org2 restarted at ${hRestart}, caught up to ${hFinal}`);
      for (const p of peers) for (const c of childrenOf(p.pid)) seen.add(c);
      for (const p of peers) await stopPid(p.pid);
      for (const n of peers) { // sanitizer builds: a clean exit leaves no report
        const log = fs.readFileSync(n.log, 'utf8');
        assert.doesNotMatch(log, /ERROR: (Address|Leak)Sanitizer|runtime error:/, `${n.name} log`);
      }
      const digest = (p) => JSON.parse(execFileSync(DIGEST, [p.dataDir, info.channel],
        { encoding: 'utf8', timeout: 30000 }));
      const dv = digest(victim);
      const dm = digest(mate);
      assert.strictEqual(dm.height, hFinal);
      assert.deepStrictEqual(dv, dm, 'peer0.org2 has the same chain and world state as peer1.org2');
      assert.ok(dm.namespaces.includes(info.chaincode), JSON.stringify(dm.namespaces));
      // each asset is a key plus its owner index entry (the app's asset too)
      assert.ok(dm.keys >= 2 * new Set(created).size, `${dm.keys} keys for ${created.length} assets`);
      // the public state is the same on every peer of the channel
      assert.deepStrictEqual(digest(p01), dm, 'peer0.org1');
      assert.deepStrictEqual(digest(p11), dm, 'peer1.org1');

      const r = execFileSync(WEFT, ['network', 'down', '--dir', dir], { encoding: 'utf8', timeout: 60000 });
      assert.ok(!fs.existsSync(dir), `down left ${dir}: ${r}`);
      assert.deepStrictEqual(seen.running(), [], 'processes still running after down');
      console.log(`# up ${tUp} ms; committed ${committed} (${failures} conflicts), ${commitsDown} ` +
        `with peer0.org2 down; killed at height ${hKill}, restarted at ${hRestart}, caught up ` +
        `to ${hFinal}; ${dm.keys} keys, digest ${dm.digest}; total ${Date.now() - t0} ms`);
    } finally {
      stop = true;
      await Promise.allSettled(workers);
      if (gw) gw.close();
      if (info) {
        for (const n of info.nodes) {
          try { seen.add(Number(fs.readFileSync(n.pidFile, 'utf8').trim())); } catch { /* down */ }
        }
      }
      if (fs.existsSync(dir)) {
        try {
          execFileSync(WEFT, ['network', 'down', '--dir', dir], { stdio: 'ignore', timeout: 60000 });
        } catch { fs.rmSync(dir, { recursive: true, force: true }); }
      }
      for (const p of seen.running()) process.kill(p, 'SIGKILL');
    }
  });
