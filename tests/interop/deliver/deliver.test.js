// The peer's Deliver service through the real @hyperledger/fabric-gateway
// client: network.getBlockEvents, getFilteredBlockEvents and
// getBlockAndPrivateDataEvents against `weft peer start` (TLS) after
// `weft channel join`, with blocks the peer pulled from `weft orderer start`.
// Checks: blocks 0..n in order and byte-identical to the orderer's chain
// (except the TRANSACTIONS_FILTER the peer adds), the hash chain, live
// blocks arriving on an open stream, filtered blocks carrying the same
// validation codes as the full blocks, and the Readers ACL (an identity of
// the orderer organisation is refused).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, signers } = require('@hyperledger/fabric-gateway');
const { common, orderer } = require('@hyperledger/fabric-protos');
const L = require('../../system/peer_channel/lib.js');

function gateway(h, mspDir, mspid) {
  const id = L.loadIdentity(mspDir, mspid);
  const client = new grpc.Client(`127.0.0.1:${h.ports.peer}`, grpc.credentials.createSsl(h.peerTlsCA));
  const gw = connect({ client, identity: { mspId: mspid, credentials: id.cert },
    signer: signers.newPrivateKeySigner(id.key) });
  return { gw, client, close: () => { gw.close(); client.close(); } };
}

async function take(iter, n, ms) {
  const out = [];
  const timer = setTimeout(() => iter.close(), ms);
  try {
    for await (const b of iter) {
      out.push(b);
      if (out.length === n) break;
    }
  } finally {
    clearTimeout(timer);
    iter.close();
  }
  return out;
}

// Blocks 0..height-1 from the orderer (AtomicBroadcast/Deliver).
function ordererBlocks(h, user) {
  return new Promise((resolve, reject) => {
    const call = h.ordClient.makeBidiStreamRequest('/orderer.AtomicBroadcast/Deliver', (b) => b,
      (b) => orderer.DeliverResponse.deserializeBinary(b), null, { deadline: Date.now() + 20000 });
    const blocks = [];
    call.on('data', (r) => {
      if (r.hasBlock()) blocks.push(r.getBlock());
      else { call.end(); resolve(blocks); }
    });
    call.on('error', reject);
    const pos = (w) => { const p = new orderer.SeekPosition();
      if (w === 'oldest') p.setOldest(new orderer.SeekOldest()); else p.setNewest(new orderer.SeekNewest());
      return p; };
    const si = new orderer.SeekInfo();
    si.setStart(pos('oldest'));
    si.setStop(pos('newest'));
    call.write(L.envelope(user, h.channel, common.HeaderType.DELIVER_SEEK_INFO, si.serializeBinary()));
  });
}

function withoutFilter(block) {
  const b = common.Block.deserializeBinary(block.serializeBinary());
  const md = b.getMetadata().getMetadataList();
  if (md.length > 2) md[2] = new Uint8Array(0);
  b.getMetadata().setMetadataList(md);
  return Buffer.from(b.serializeBinary());
}

test('deliver: fabric-gateway block events from a weft peer', { timeout: 160000 }, async () => {
  let h;
  const conns = [];
  try {
    h = await L.setup('weft-deliver-');
    await L.startOrderer(h);
    await L.startPeer(h);
    const j = await L.channelCmd(h, ['join', '--block', h.genesis]);
    assert.strictEqual(j.code, 0, j.stderr);
    await L.broadcast(h, 12, 'd');
    const user = L.loadIdentity(h.userMsp, 'Org1MSP');
    let ord = [];
    await L.waitFor(async () => { ord = await ordererBlocks(h, user); return ord.length >= 3; }, 20000,
      'orderer blocks');
    const height = ord.length;
    await L.waitFor(async () => (await L.chainHeight(h)).height === height, 30000, `peer height ${height}`);

    const c = gateway(h, h.userMsp, 'Org1MSP');
    conns.push(c);
    const network = c.gw.getNetwork(h.channel);

    // full blocks from 0, then one more arriving live on the same stream
    const iter = await network.getBlockEvents({ startBlock: 0n });
    const first = [];
    for await (const b of iter) {
      first.push(b);
      if (first.length === height) break;
    }
    await L.broadcast(h, 3, 'live');
    const live = await take(iter, 1, 20000);
    assert.strictEqual(live.length, 1, 'a live block on the open stream');
    const blocks = [...first, ...live];
    assert.deepStrictEqual(blocks.map((b) => Number(b.getHeader().getNumber())),
      [...Array(height + 1).keys()]);
    assert.ok(withoutFilter(blocks[0]).equals(withoutFilter(common.Block.deserializeBinary(fs.readFileSync(h.genesis)))),
      'block 0 is the genesis block (apart from the filter a peer fills in)');
    assert.deepStrictEqual([...blocks[0].getMetadata().getMetadataList()[2]], [0],
      'block 0 carries one VALID code, as a Fabric peer stores it');
    for (let i = 1; i < height; i++) {
      assert.ok(withoutFilter(blocks[i]).equals(withoutFilter(ord[i])), `block ${i} as the orderer cut it`);
      assert.ok(Buffer.from(blocks[i].getHeader().getPreviousHash())
        .equals(Buffer.from(ord[i].getHeader().getPreviousHash())));
      const filter = Buffer.from(blocks[i].getMetadata().getMetadataList()[2]);
      assert.strictEqual(filter.length, blocks[i].getData().getDataList().length, 'filter per tx');
    }

    // filtered blocks: same numbers, txids and validation codes
    const fiter = await c.gw.getNetwork(h.channel).getFilteredBlockEvents({ startBlock: 1n });
    const fblocks = await take(fiter, height, 20000);
    assert.strictEqual(fblocks.length, height);
    for (const fb of fblocks) {
      const n = Number(fb.getNumber());
      assert.strictEqual(fb.getChannelId(), h.channel);
      const full = blocks[n];
      const filter = Buffer.from(full.getMetadata().getMetadataList()[2]);
      const txs = fb.getFilteredTransactionsList();
      assert.strictEqual(txs.length, full.getData().getDataList().length, `txs of filtered block ${n}`);
      txs.forEach((t, k) => {
        const env = common.Envelope.deserializeBinary(full.getData().getDataList()[k]);
        const ch = common.ChannelHeader.deserializeBinary(
          common.Payload.deserializeBinary(env.getPayload()).getHeader().getChannelHeader());
        assert.strictEqual(t.getTxid(), ch.getTxId());
        assert.strictEqual(t.getTxValidationCode(), filter[k], `code of tx ${k} in block ${n}`);
      });
    }

    // block and private data flavour
    const piter = await network.getBlockAndPrivateDataEvents({ startBlock: BigInt(height - 1) });
    const pblocks = await take(piter, 1, 20000);
    assert.strictEqual(Number(pblocks[0].getBlock().getHeader().getNumber()), height - 1);

    // Readers ACL: the orderer org's admin is not an application reader
    const ordAdmin = path.join(h.dir, 'crypto/ordererOrganizations/example.com/users/Admin@example.com/msp');
    const o = gateway(h, ordAdmin, 'OrdererMSP');
    conns.push(o);
    const denied = await o.gw.getNetwork(h.channel).getBlockEvents({ startBlock: 0n });
    await assert.rejects(async () => { for await (const b of denied) { void b; } },
      (e) => /FORBIDDEN|403|permission|denied/i.test(`${e.message} ${e.code}`), 'orderer admin refused');
    void crypto;
  } finally {
    for (const c of conns) c.close();
    await L.teardown(h);
  }
});
