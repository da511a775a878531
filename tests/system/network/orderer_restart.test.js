// The ordering node restarts: every client channel that depends on it comes
// back. `weft network up --orderers 1 --orgs 2 --peers 1` (TLS, the
// asset-transfer sample, AND(Org1, Org2)). A @hyperledger/fabric-gateway
// client on peer0.org1 commits a few CreateAsset transactions; the orderer
// is SIGKILLed by PID, a submit then fails; the peers stay idle for a few
// seconds (their block pullers see the Deliver stream break and back off,
// the gateway's shared Broadcast stream breaks); the orderer is restarted
// with its own command line. Then, within a bound, a submit through the
// same gateway client commits again (the gateway's Broadcast stream and the
// peers' block pullers reconnected: the commit status needs the block on
// peer0.org1) and both peers reach the orderer's height; 10 more commit,
// and both peers reach the orderer's height again.
// The peer runs gRPC's poll engine, under which a broken channel reconnects
// only while something polls it: this is the test of that. Bounded: 150 s;
// every process is stopped by PID, then `weft network down`.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const G = require('../../interop/gateway/net.js');
const { freeBase, alive, childrenOf, stopPid, height, Pids } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('the orderer restarts: the gateway submits again and the peers pull again',
  { timeout: 150000 }, async () => {
    const t0 = Date.now();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ordrestart-'));
    fs.rmSync(dir, { recursive: true });
    let gw = null;
    let info = null;
    const seen = new Pids();
    try {
      execFileSync(WEFT, ['network', 'up', '--orderers', '1', '--orgs', '2', '--peers', '1',
        '--dir', dir, '--base-port', String(await freeBase(50))],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 100000 });
      info = JSON.parse(fs.readFileSync(path.join(dir, 'network.json'), 'utf8'));
      for (const n of info.nodes) seen.add(n.pid);
      const ord = info.nodes.find((n) => n.role === 'orderer');
      const peers = info.nodes.filter((n) => n.role === 'peer');
      assert.ok(ord && peers.length === 2, info.nodes.map((n) => n.name).join(' '));
      for (const p of peers) for (const c of childrenOf(p.pid)) seen.add(c);

      gw = G.gatewayFor(info, 'Org1MSP');
      const contract = gw.gateway.getNetwork(info.channel).getContract(info.chaincode);
      let n = 0;
      const create = () => {
        n++;
        return contract.submitTransaction('CreateAsset', `o-${n}`, 'blue', String(n), 'ann', '5');
      };
      for (let i = 0; i < 3; i++) await create();
      const h0 = await height(ord);
      assert.ok(h0 > 0, `orderer height ${h0}`);

      process.kill(ord.pid, 'SIGKILL');
      await G.waitFor('orderer killed', async () => !alive(ord.pid), 10000);
      await assert.rejects(create(), 'a submit with the orderer down fails');
      await sleep(4000); // the peers' pullers and the gateway's stream are now broken and backing off

      const tRestart = Date.now();
      ord.pid = G.restartNode(ord);
      seen.add(ord.pid);
      await G.waitFor('orderer back', async () => (await height(ord)) >= h0, 30000);
      const tOrd = Date.now() - tRestart;

      // the same gateway client: retried until one commits, bounded
      let failed = 0;
      let lastError = null;
      let firstError = null;
      const back = await G.waitFor('a submit commits after the restart', async () => {
        try {
          await create();
          return true;
        } catch (e) {
          failed++;
          lastError = e;
          if (!firstError) firstError = e;
          await sleep(500);
          return null;
        }
      }, 30000).catch((e) => { throw new Error(`${e.message}; last error: ${lastError}`); });
      assert.strictEqual(back, true);
      const tBack = Date.now() - tRestart;

      // both peers' block pullers reconnected: each reaches the orderer's height
      const atOrdererHeight = async () => {
        const ho = await height(ord);
        for (const p of peers) if ((await height(p)) !== ho) return null;
        return ho;
      };
      const hBack = await G.waitFor('both peers at the orderer height after the restart',
        atOrdererHeight, 30000);
      assert.ok(hBack >= h0 + 1, `a block was cut after the restart (${h0} -> ${hBack})`);
      const tPeers = Date.now() - tRestart;

      for (let i = 0; i < 10; i++) await create();
      const hFinal = await G.waitFor('both peers at the orderer height after 10 more',
        atOrdererHeight, 30000);
      assert.ok(hFinal >= h0 + 11, `the chain grew after the restart (${h0} -> ${hFinal})`);

      gw.close();
      gw = null;
      for (const p of peers) for (const c of childrenOf(p.pid)) seen.add(c);
      for (const p of [...peers, ord]) await stopPid(p.pid);
      for (const x of [...peers, ord]) { // sanitizer builds: a clean exit leaves no report
        const log = fs.readFileSync(x.log, 'utf8');
        assert.doesNotMatch(log, /ERROR: (Address|Leak)Sanitizer|runtime error:/, `${x.name} log`);
      }
      const r = execFileSync(WEFT, ['network', 'down', '--dir', dir], { encoding: 'utf8', timeout: 60000 });
      assert.ok(!fs.existsSync(dir), `down left ${dir}: ${r}`);
      assert.deepStrictEqual(seen.running(), [], 'processes still running after down');
      console.log(`# orderer restarted at height ${h0}; its metrics answered ${tOrd} ms after the restart; ` +
        `first commit ${tBack} ms after the restart ` +
        `(${failed} submits failed before it); both peers at height ${hBack} ${tPeers} ms after it; ` +
        `final height ${hFinal}; total ${Date.now() - t0} ms` +
        (firstError ? `; first failure: ${String(firstError.message).split('\n')[0]}` : ''));
    } finally {
      if (gw) gw.close();
      if (info) {
        for (const x of info.nodes) {
          try { seen.add(Number(fs.readFileSync(x.pidFile, 'utf8').trim())); } catch { /* down */ }
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
