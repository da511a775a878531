// A peer killed during load catches up and ends with the same state.
// `weft network up` (1 orderer, Org1 with 2 peers, TLS, the asset-transfer
// sample chaincode deployed through `weft chaincode`, policy
// AND('Org1MSP.peer')); load through the real @hyperledger/fabric-gateway
// client on peer0's Gateway (CreateAsset and TransferAsset, several in
// flight). peer1 is SIGKILLed mid-load (its chaincode process too, by
// PID), load goes on through peer0, peer1 is restarted while the load
// continues, recovers its ledger, pulls the missing blocks from the
// orderer and reaches the orderer's height. Both peers are then stopped
// (SIGTERM by PID) and their full public world state is compared with
// peer_state_digest (docs/conformance.md's digest: every key, value and
// version of every namespace), with height and last block hash.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const G = require('../../interop/gateway/net.js');
const { freeBase, alive, childrenOf, stopPid, height } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const DIGEST = process.env.PEER_STATE_DIGEST;

test('peer restart: SIGKILL during load, catch-up from the orderer, equal state digest',
  { timeout: 175000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-restart-'));
    fs.rmSync(dir, { recursive: true });
    let gw = null;
    let info = null;
    const extra = []; // processes this test must stop itself (orphaned chaincode)
    let stop = false;
    let workers = [];
    try {
      execFileSync(WEFT, ['network', 'up', '--orderers', '1', '--orgs', '1', '--peers', '2', '--dir', dir,
        '--base-port', String(await freeBase(30))], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
      info = JSON.parse(fs.readFileSync(path.join(dir, 'network.json'), 'utf8'));
      const ord = info.nodes.find((n) => n.role === 'orderer');
      const [p0, p1] = info.nodes.filter((n) => n.role === 'peer');
      assert.ok(p0 && p1 && p0.name.startsWith('peer0') && p1.name.startsWith('peer1'));

      gw = G.gatewayFor(info, 'Org1MSP'); // peer0's Gateway
      const contract = gw.gateway.getNetwork(info.channel).getContract(info.chaincode);
      const created = [];
      let committed = 0;
      let failures = 0;
      let lastError = null;
      const worker = async (w) => {
        for (let k = 0; !stop; k++) {
          try {
            if (k % 3 === 2 && created.length > 0) {
              const id = created[(w * 7 + k) % created.length];
              await contract.submitTransaction('TransferAsset', id, `owner-${w}-${k}`);
            } else {
              const id = `a-${w}-${k}`;
              await contract.submitTransaction('CreateAsset', id, 'blue', String(k), `tom-${w}`, '100');
              created.push(id);
            }
            committed++;
          } catch (e) {
            // a conflict between two transfers of the same asset is expected
            failures++;
            lastError = e;
          }
        }
      };
      workers = [...Array(12).keys()].map(worker);
      const until = (n, what) => G.waitFor(what, async () => committed >= n, 60000);

      await until(60, 'first 60 transactions');
      const hKill = await height(p1);
      const ccKids = childrenOf(p1.pid);
      process.kill(p1.pid, 'SIGKILL');
      extra.push(...ccKids);
      await G.waitFor('peer1 killed', async () => !alive(p1.pid), 10000);
      for (const c of ccKids) if (alive(c)) process.kill(c, 'SIGKILL');
      const atKill = committed;
      await until(atKill + 60, '60 transactions while peer1 is down');
      await assert.rejects(height(p1), 'peer1 is down');
      const hDown = await height(p0);
      assert.ok(hDown > hKill, `the chain grew while peer1 was down (${hKill} -> ${hDown})`);

      const pid = G.restartNode(p1);
      p1.pid = pid;
      const hRestart = await G.waitFor('peer1 back', async () => {
        const h = await height(p1);
        return h > 0 ? h : null;
      }, 60000);
      await until(committed + 40, '40 more transactions after the restart');
      stop = true;
      await Promise.all(workers);
      workers = [];
      assert.ok(committed >= 160, `committed ${committed}`);
      assert.ok(failures < committed, `too many failed submits (${failures}): ${lastError}`);

      const hFinal = await G.waitFor('the orderer height on both peers', async () => {
        const [ho, h0, h1] = [await height(ord), await height(p0), await height(p1)];
        return ho > 0 && h0 === ho && h1 === ho ? ho : null;
      }, 60000);
      assert.ok(hRestart < hFinal, `peer1 restarted behind (${hRestart}) and caught up to ${hFinal}`);
      // the restarted peer serves the chaincode again
      const one = await G.waitFor('a read endorsed on peer1', async () => {
        const r = execFileSync(WEFT, ['chaincode', 'query', '-C', info.channel, '-n', info.chaincode,
          '-c', JSON.stringify({ Args: ['ReadAsset', created[0]] })], { encoding: 'utf8', timeout: 30000,
          env: { ...process.env, CORE_PEER_LOCALMSPID: 'Org1MSP', CORE_PEER_TLS_ENABLED: 'true',
            CORE_PEER_MSPCONFIGPATH: info.organizations.find((o) => o.mspId === 'Org1MSP').user.mspDir,
            CORE_PEER_ADDRESS: p1.endpoints.grpc, CORE_PEER_TLS_ROOTCERT_FILE: p1.tlsRootCert } });
        return JSON.parse(r);
      }, 60000);
      assert.strictEqual(one.ID, created[0]);
      gw.close();
      gw = null;

      await stopPid(p0.pid);
      await stopPid(p1.pid);
      for (const n of [p0, p1]) { // sanitizer builds: a clean exit leaves no report
        const log = fs.readFileSync(n.log, 'utf8');
        assert.doesNotMatch(log, /ERROR: (Address|Leak)Sanitizer|runtime error:/, `${n.name} log`);
      }
      const d0 = JSON.parse(execFileSync(DIGEST, [p0.dataDir, info.channel], { encoding: 'utf8' }));
      const d1 = JSON.parse(execFileSync(DIGEST, [p1.dataDir, info.channel], { encoding: 'utf8' }));
      assert.strictEqual(d0.height, hFinal);
      assert.deepStrictEqual(d1, d0, 'peer1 has the same chain and world state as peer0');
      assert.ok(d0.namespaces.includes(info.chaincode), JSON.stringify(d0.namespaces));
      // each asset is a key plus its owner index entry; plus _lifecycle and the config
      assert.ok(d0.keys >= 2 * new Set(created).size, `${d0.keys} keys for ${created.length} assets`);
      console.log(`committed ${committed} (${failures} conflicts/failures); peer1 killed at height ` +
        `${hKill}, restarted at ${hRestart}, caught up to ${hFinal}; ${d0.keys} keys, digest ${d0.digest}`);
    } finally {
      stop = true;
      await Promise.allSettled(workers);
      if (gw) gw.close();
      for (const c of extra) if (alive(c)) process.kill(c, 'SIGKILL');
      if (info) {
        for (const n of info.nodes) {
          const pid = Number(fs.readFileSync(n.pidFile, 'utf8').trim());
          if (alive(pid)) await stopPid(pid).catch(() => {});
        }
      }
      try {
        execFileSync(WEFT, ['network', 'down', '--dir', dir], { stdio: 'ignore', timeout: 60000 });
      } catch { fs.rmSync(dir, { recursive: true, force: true }); }
    }
  });
