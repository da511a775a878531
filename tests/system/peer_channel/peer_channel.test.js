// `weft channel join` end to end: identities from `weft crypto generate`, a
// genesis block from `weft configtx genesis`, one `weft orderer start`
// (joined through the participation API, TLS) and one `weft peer start`
// (TLS). The peer joins through cscc JoinChain (a signed proposal from Org1's
// admin; a plain member is refused), pulls the blocks the orderer cuts,
// answers qscc GetChainInfo / GetBlockByNumber and cscc GetConfigBlock over
// its Endorser, exports the ledger metrics, comes back with its channel
// after a restart and keeps pulling, and reports the lost orderer in
// /healthz.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { common } = require('@hyperledger/fabric-protos');
const L = require('./lib.js');

async function ordererHeight(h) {
  const r = await fetch(`http://127.0.0.1:${h.ports.admin}/participation/v1/channels/${h.channel}`);
  return (await r.json()).height;
}

test('peer: weft channel join, pull, qscc/cscc, metrics, restart, health', { timeout: 200000 }, async () => {
  let h;
  try {
    h = await L.setup('weft-peerchan-');
    await L.startOrderer(h);
    await L.startPeer(h);

    let r = await L.channelCmd(h, ['list']);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, 'Channels peers has joined:\n');

    // a member that is not an admin of the peer's org may not join
    r = await L.channelCmd(h, ['join', '--block', h.genesis], h.userMsp);
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /access denied for \[JoinChain\]/);
    // another org's admin is not a local identity at all
    r = await L.channelCmd(h, ['join', '--block', h.genesis],
      h.adminMsp.replace(/org1/g, 'org2'), 'Org2MSP');
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /access denied/);

    r = await L.channelCmd(h, ['join', '--block', h.genesis]);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(r.stdout, /joined channel peerchannel/);
    r = await L.channelCmd(h, ['join', '--block', h.genesis]);
    assert.strictEqual(r.code, 1, 'joining twice is refused');
    assert.match(r.stderr, /already joined/);

    r = await L.channelCmd(h, ['list'], h.userMsp);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stdout, 'Channels peers has joined:\npeerchannel\n');

    // the peer pulls what the orderer cuts
    await L.broadcast(h, 25, 'a');
    await L.waitFor(async () => (await ordererHeight(h)) >= 4, 20000, 'orderer blocks');
    const oh = await ordererHeight(h);
    const info = await L.waitFor(async () => {
      const i = await L.chainHeight(h);
      return i.height === oh ? i : null;
    }, 30000, `peer height ${oh}`);
    assert.strictEqual(Buffer.from(info.currentBlockHash, 'base64').length, 32);
    assert.strictEqual(Buffer.from(info.previousBlockHash, 'base64').length, 32);

    // qscc GetBlockByNumber and cscc GetConfigBlock through `weft channel fetch`
    r = await L.channelCmd(h, ['fetch', 'newest', path.join(h.dir, 'newest.block'), '-c', h.channel]);
    assert.strictEqual(r.code, 0, r.stderr);
    const newest = common.Block.deserializeBinary(fs.readFileSync(path.join(h.dir, 'newest.block')));
    assert.strictEqual(newest.getHeader().getNumber(), oh - 1);
    const filter = Buffer.from(newest.getMetadata().getMetadataList()[2]);
    assert.strictEqual(filter.length, newest.getData().getDataList().length, 'TRANSACTIONS_FILTER set');
    assert.ok(filter.every((c) => c !== 0), 'unendorsed transactions are not VALID');
    r = await L.channelCmd(h, ['fetch', 'config', path.join(h.dir, 'config.block'), '-c', h.channel]);
    assert.strictEqual(r.code, 0, r.stderr);
    // As a Fabric peer stores it: the genesis block with its
    // TRANSACTIONS_FILTER filled in (configtxgen leaves it empty).
    const stored = common.Block.deserializeBinary(fs.readFileSync(path.join(h.dir, 'config.block')));
    const given = common.Block.deserializeBinary(fs.readFileSync(h.genesis));
    assert.deepStrictEqual([...stored.getMetadata().getMetadataList()[2]], [0],
      'block 0 stored with one VALID code');
    assert.ok(Buffer.from(stored.getHeader().serializeBinary()).equals(Buffer.from(given.getHeader().serializeBinary())) &&
      Buffer.from(stored.getData().serializeBinary()).equals(Buffer.from(given.getData().serializeBinary())),
      'the config block is the genesis block (header and data byte for byte)');
    r = await L.channelCmd(h, ['fetch', '9999', path.join(h.dir, 'x.block'), '-c', h.channel]);
    assert.strictEqual(r.code, 1);
    r = await L.channelCmd(h, ['getinfo', '-c', 'nochannel']);
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /Invalid chain ID, nochannel/);

    // ledger metrics with Fabric's names
    const metrics = await (await fetch(`http://127.0.0.1:${h.ports.peerOps}/metrics`)).text();
    assert.match(metrics, new RegExp(`ledger_blockchain_height\\{channel="peerchannel"\\} ${oh}\\b`));
    assert.match(metrics, /ledger_transaction_count\{chaincode="",channel="peerchannel",transaction_type="ENDORSER_TRANSACTION",validation_code="[A-Z_]+"\} \d+/);
    assert.match(metrics, /ledger_block_processing_time_count\{channel="peerchannel"\} \d+/);
    assert.match(metrics, /validation_phase_duration_count\{channel="peerchannel",phase="prepare"\} \d+/);
    let txTotal = 0;
    for (const m of metrics.matchAll(/ledger_transaction_count\{[^}]*channel="peerchannel"[^}]*\} (\d+)/g)) {
      txTotal += Number(m[1]);
    }
    assert.strictEqual(txTotal, 25, 'every pulled transaction is counted once');

    // restart: the channel comes back and pulling goes on
    const st = await L.stopNode(h.peer);
    h.peer = null;
    assert.strictEqual(st.code, 0, 'clean exit on SIGTERM');
    await L.startPeer(h);
    r = await L.channelCmd(h, ['list']);
    assert.strictEqual(r.stdout, 'Channels peers has joined:\npeerchannel\n');
    assert.strictEqual((await L.chainHeight(h)).height, oh, 'height kept across the restart');
    await L.broadcast(h, 5, 'b');
    await L.waitFor(async () => (await ordererHeight(h)) > oh, 20000, 'more orderer blocks');
    const oh2 = await ordererHeight(h);
    await L.waitFor(async () => (await L.chainHeight(h)).height === oh2, 30000, `peer height ${oh2}`);

    // /healthz reports the lost orderer connection
    const so = await L.stopNode(h.orderer);
    h.orderer = null;
    assert.strictEqual(so.code, 0);
    const bad = await L.waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${h.ports.peerOps}/healthz`);
      return res.status === 503 ? res.json() : null;
    }, 30000, 'unhealthy peer without its orderer');
    assert.ok(bad.failed_checks.some((c) => c.component === 'orderer-connection'), JSON.stringify(bad));
    const sp = await L.stopNode(h.peer);
    h.peer = null;
    assert.strictEqual(sp.code, 0, 'clean exit while the orderer is away');
  } finally {
    await L.teardown(h);
  }
});
