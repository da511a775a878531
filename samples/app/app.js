#!/usr/bin/env node
// The asset-transfer story against a local weft network, with the standard
// Fabric Gateway client (@hyperledger/fabric-gateway). Nothing here is
// weft-specific: it reads the files `weft network up` writes (network.json,
// the organisations' identities and TLS roots) and talks to the peers the
// way it would talk to Hyperledger Fabric.
//
//   node app.js [path/to/network.json] [--channel NAME] [--chaincode NAME]
//               [--peer PEER_NAME]...
//
// Each organisation's user connects to its organisation's first peer, or to
// the peer named with --peer (repeatable, one per organisation: e.g.
// --peer peer1.org2.example.com while peer0.org2 is down).
// The functions called are those of samples/chaincode/asset-transfer.
// Org1's user creates an asset (submit CreateAsset), Org2's user reads it
// through its own peer (evaluate ReadAsset), Org1 transfers it (submit
// TransferAsset, waiting for the commit status), lists all assets
// (GetAllAssets) and reads its history (GetAssetHistory). Then two updates
// that must be refused: one endorsed by Org1 alone (the chaincode's policy
// wants a peer of every organisation, so validation marks it
// ENDORSEMENT_POLICY_FAILURE and the state is unchanged), and Org2
// creating the same asset again (refused by the chaincode). A chaincode
// event listener prints every event and must see CreateAsset and
// TransferAsset for the asset.
// Exit code 0 when every step behaved as expected, 1 when one did not, 2
// when the peer does not serve the Gateway service at all.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');
const { peer: peerProtos } = require('@hyperledger/fabric-protos');

// Validation code number -> name (VALID, ENDORSEMENT_POLICY_FAILURE, ...).
const txCodeName = (code) =>
  Object.keys(peerProtos.TxValidationCode).find((k) => peerProtos.TxValidationCode[k] === code) ||
  String(code);

const utf8 = new TextDecoder();

function parseArgs(argv) {
  const o = { network: process.env.WEFT_NETWORK || path.resolve('weft-net', 'network.json'),
    peers: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--channel') o.channel = argv[++i];
    else if (a === '--chaincode') o.chaincode = argv[++i];
    else if (a === '--peer') o.peers.push(argv[++i]);
    else if (a === '-h' || a === '--help') o.help = true;
    else o.network = a;
  }
  return o;
}

// One Gateway connection for an organisation's user, through the peer of
// that organisation named in peerNames, else its first peer.
async function gatewayFor(net, orgName, peerNames = []) {
  const org = net.organizations.find((o) => o.name === orgName);
  if (!org || !org.user) throw new Error(`no organisation ${orgName} in network.json`);
  const mine = net.nodes.filter((n) => n.role === 'peer' && n.org === orgName);
  const peer = mine.find((n) => peerNames.includes(n.name)) || mine[0];
  if (!peer) throw new Error(`no peer of ${orgName} in network.json`);
  const tlsRoot = fs.readFileSync(peer.tlsRootCert);
  const client = new grpc.Client(peer.endpoints.grpc, grpc.credentials.createSsl(tlsRoot), {
    'grpc.ssl_target_name_override': peer.name,
  });
  const gateway = connect({
    client,
    identity: { mspId: org.mspId, credentials: fs.readFileSync(org.user.cert) },
    signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(org.user.key))),
    hash: hash.sha256,
    evaluateOptions: () => ({ deadline: Date.now() + 5000 }),
    endorseOptions: () => ({ deadline: Date.now() + 15000 }),
    submitOptions: () => ({ deadline: Date.now() + 5000 }),
    commitStatusOptions: () => ({ deadline: Date.now() + 60000 }),
  });
  return { gateway, client, org, peer };
}

function describe(err) {
  const details = (err.details || []).map((d) => `${d.mspId || ''}@${d.address}: ${d.message}`);
  return [err.message, ...details].join('\n    ');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log('usage: node app.js [network.json] [--channel NAME] [--chaincode NAME] ' +
      '[--peer PEER_NAME]...');
    return 0;
  }
  const net = JSON.parse(fs.readFileSync(o.network, 'utf8'));
  for (const name of o.peers) {
    if (!net.nodes.some((n) => n.role === 'peer' && n.name === name)) {
      throw new Error(`--peer ${name}: no such peer in ${o.network}`);
    }
  }
  const channel = o.channel || net.channel;
  const chaincode = o.chaincode || net.chaincode || 'asset-transfer';
  const peerOrgs = net.organizations.filter((x) => x.name !== 'OrdererOrg').map((x) => x.name);
  console.log(`network ${net.dir}: channel ${channel}, chaincode ${chaincode}, ` +
    `organisations ${peerOrgs.join(', ')}`);

  const results = [];
  const step = async (title, fn, { expectError = false } = {}) => {
    process.stdout.write(`--> ${title}\n`);
    try {
      const v = await fn();
      if (expectError) {
        console.log('    unexpected success');
        results.push({ title, ok: false });
      } else {
        if (v !== undefined) console.log(`    ${v}`);
        results.push({ title, ok: true });
      }
    } catch (err) {
      if (err.code === grpc.status.UNIMPLEMENTED) {
        // Not an answer from the chaincode: the service itself is missing.
        throw Object.assign(new Error(`${org1.peer.name} (${org1.peer.endpoints.grpc}) ` +
          `does not serve the Fabric Gateway service: ${err.message}`), { unserved: true });
      }
      console.log(`    ${expectError ? 'refused as expected: ' : 'FAILED: '}${describe(err)}`);
      results.push({ title, ok: expectError });
    }
  };

  const org1 = await gatewayFor(net, peerOrgs[0], o.peers);
  const org2 = peerOrgs.length > 1 ? await gatewayFor(net, peerOrgs[1], o.peers) : null;
  for (const g of [org1, org2].filter(Boolean)) {
    console.log(`${g.org.name}'s user connects to ${g.peer.name} (${g.peer.endpoints.grpc})`);
  }
  const contract1 = org1.gateway.getNetwork(channel).getContract(chaincode);
  const events = [];
  let eventsIter;
  try {
    // Events from now on; the listener runs beside the story.
    eventsIter = await org1.gateway.getNetwork(channel).getChaincodeEvents(chaincode,
      { deadline: Date.now() + 120000 });
    (async () => {
      try {
        for await (const ev of eventsIter) {
          const payload = utf8.decode(ev.payload);
          events.push(ev);
          console.log(`    <event> ${ev.eventName} in block ${ev.blockNumber} tx ` +
            `${ev.transactionId.slice(0, 12)}…: ${payload}`);
        }
      } catch (err) {
        if (err.code !== grpc.status.CANCELLED && err.code !== grpc.status.UNIMPLEMENTED) {
          console.log(`    event stream ended: ${err.message}`);
        }
      }
    })();
  } catch (err) {
    console.log(`    (no event listener: ${describe(err)})`);
  }

  const expectedEvents = [];
  let assetId;
  try {
    assetId = await story();
  } catch (err) {
    if (!err.unserved) throw err;
    console.log(`\napp: ${err.message}`);
    results.push({ title: 'gateway', ok: false, unserved: true });
  }

  async function story() {
    const id = `asset${Date.now()}`;
    const contract2 = org2 ? org2.gateway.getNetwork(channel).getContract(chaincode) : null;
    await step(`${peerOrgs[0]} creates ${id} (submit CreateAsset)`, async () => {
      const res = await contract1.submitTransaction('CreateAsset', id, 'blue', '5', 'Tom', '300');
      expectedEvents.push('CreateAsset');
      return `committed: ${utf8.decode(res)}`;
    });
    await step(`${org2 ? peerOrgs[1] : peerOrgs[0]} reads ${id} (evaluate ReadAsset)`, async () => {
      const c = contract2 || contract1;
      const asset = JSON.parse(utf8.decode(await c.evaluateTransaction('ReadAsset', id)));
      if (asset.Owner !== 'Tom') throw new Error(`owner ${asset.Owner}, expected Tom`);
      return JSON.stringify(asset);
    });
    await step(`${peerOrgs[0]} transfers ${id} to Tomoko (submit TransferAsset)`, async () => {
      const commit = await contract1.submitAsync('TransferAsset', { arguments: [id, 'Tomoko'] });
      const status = await commit.getStatus();
      if (!status.successful) throw new Error(`transaction ${status.transactionId} ${txCodeName(status.code)}`);
      expectedEvents.push('TransferAsset');
      return `committed in block ${status.blockNumber}, previous owner ${utf8.decode(commit.getResult())}`;
    });
    await step('all assets (evaluate GetAllAssets)', async () => {
      const all = JSON.parse(utf8.decode(await contract1.evaluateTransaction('GetAllAssets')));
      const mine = all.find((a) => a.ID === id);
      if (!mine) throw new Error(`${id} missing from the list`);
      if (mine.Owner !== 'Tomoko') throw new Error(`owner ${mine.Owner}, expected Tomoko`);
      return `${all.length} asset(s); ${id} is owned by ${mine.Owner}`;
    });
    await step(`history of ${id} (evaluate GetAssetHistory)`, async () => {
      const h = JSON.parse(utf8.decode(await contract1.evaluateTransaction('GetAssetHistory', id)));
      if (h.length !== 2) throw new Error(`${h.length} entries, expected 2`);
      return h.map((e) => `${e.txId.slice(0, 12)}…: owner ${JSON.parse(e.value).Owner}`).join(', ');
    });
    if (org2) {
      await step(`${peerOrgs[0]} alone tries to give ${id} to Mallory (UpdateAsset endorsed by ` +
        `${org1.org.mspId} only)`, async () => {
        const proposal = contract1.newProposal('UpdateAsset', {
          arguments: [id, 'red', '5', 'Mallory', '1'], endorsingOrganizations: [org1.org.mspId] });
        const commit = await (await proposal.endorse()).submit();
        const status = await commit.getStatus();
        if (status.successful) throw new Error('committed: the endorsement policy did not hold');
        return `refused as expected: block ${status.blockNumber} marks it ` +
          `${txCodeName(status.code)}`;
      });
      await step(`${peerOrgs[1]} tries to create ${id} again (submit CreateAsset)`, () =>
        contract2.submitTransaction('CreateAsset', id, 'green', '1', 'Mallory', '1'),
      { expectError: true });
      await step(`${id} is unchanged (evaluate ReadAsset)`, async () => {
        const asset = JSON.parse(utf8.decode(await contract2.evaluateTransaction('ReadAsset', id)));
        if (asset.Owner !== 'Tomoko' || asset.Color !== 'blue') {
          throw new Error(`changed: ${JSON.stringify(asset)}`);
        }
        return JSON.stringify(asset);
      });
    }
    return id;
  }

  // The listener must see this asset's committed events (and no event of
  // the refused updates, which never reach the ledger as valid).
  const unserved = results.some((r) => r.unserved);
  const ours = () => events.filter((ev) => {
    try {
      const p = JSON.parse(utf8.decode(ev.payload));
      return (p.ID || p.id) === assetId;
    } catch {
      return false;
    }
  }).map((ev) => ev.eventName);
  const until = Date.now() + (unserved ? 0 : 10000);
  while (ours().length < expectedEvents.length && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (eventsIter) eventsIter.close();
  if (!unserved) {
    const seen = ours();
    const ok = eventsIter !== undefined && JSON.stringify(seen) === JSON.stringify(expectedEvents);
    console.log(`--> chaincode events for ${assetId}: ${seen.join(', ') || 'none'}` +
      `${ok ? '' : ` (FAILED: expected ${expectedEvents.join(', ')})`}`);
    results.push({ title: 'chaincode events', ok });
  }

  org1.gateway.close();
  org1.client.close();
  if (org2) {
    org2.gateway.close();
    org2.client.close();
  }
  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : unserved ? 2 : 1;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`app: ${err.stack || err}`);
  process.exitCode = 1;
});
