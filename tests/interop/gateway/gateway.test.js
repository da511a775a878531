'use strict';
// The real @hyperledger/fabric-gateway 1.12.1 client against a weft network
// (1 orderer, 2 orgs x 1 peer, TLS, asset-transfer; its default endorsement
// policy, MAJORITY Endorsement, is AND('Org1MSP.peer','Org2MSP.peer')).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { checkpointers, signers, GatewayError, EndorseError, CommitError } = require('@hyperledger/fabric-gateway');
const { common } = require('@hyperledger/fabric-protos');
const { networkUp, networkDown, peerOf, gatewayFor, restartNode, waitFor } = require('./net.js');

const utf8 = new TextDecoder();
let N, g1, g2, c1, c2, ccName;

before(async () => {
    N = await networkUp();
    ccName = N.info.chaincode || 'asset-transfer';
    g1 = gatewayFor(N.info, 'Org1MSP');
    g2 = gatewayFor(N.info, 'Org2MSP');
    c1 = g1.gateway.getNetwork(N.info.channel).getContract(ccName);
    c2 = g2.gateway.getNetwork(N.info.channel).getContract(ccName);
    // the chaincode may still be starting: wait until an evaluate answers
    await waitFor('chaincode ready', async () => {
        await c1.evaluateTransaction('GetAllAssets');
        return true;
    }, 120000);
});

after(() => {
    g1?.close();
    g2?.close();
    networkDown(N);
});

let seq = 0;
const newId = () => `asset-${process.pid}-${Date.now()}-${seq++}`;

// CommitStatus answers once the gateway's own peer has committed; the other
// org's peer commits the same block on its own schedule (as with Fabric).
// Waits until org2's peer has the asset, then returns it as read there.
async function readOnOrg2(id) {
    let last;
    await waitFor(`asset ${id} on peer0.org2`, async () => {
        last = await c2.evaluate('ReadAsset', { arguments: [id], endorsingOrganizations: ['Org2MSP'] });
        return true;
    }, 20000);
    return JSON.parse(utf8.decode(last));
}

function txCodesOf(block) {
    const filter = block.getMetadata().getMetadataList_asU8()[2];
    return block.getData().getDataList_asU8().map((d, i) => {
        const env = common.Envelope.deserializeBinary(d);
        const pl = common.Payload.deserializeBinary(env.getPayload_asU8());
        const ch = common.ChannelHeader.deserializeBinary(pl.getHeader().getChannelHeader_asU8());
        return { txid: ch.getTxId(), code: filter[i] };
    });
}

test('submit and evaluate', async () => {
    const id = newId();
    const res = await c1.submitTransaction('CreateAsset', id, 'blue', '5', 'alice', '300');
    assert.equal(JSON.parse(utf8.decode(res)).ID, id);
    // the gateway's peer has it as soon as the commit is reported
    assert.equal(JSON.parse(utf8.decode(await c1.evaluateTransaction('ReadAsset', id))).Owner, 'alice');
    const read = await readOnOrg2(id);
    assert.deepEqual(read, { ID: id, Color: 'blue', Size: 5, Owner: 'alice', AppraisedValue: 300 });
    // a chaincode error is an EndorseError/GatewayError with details
    await assert.rejects(c1.evaluateTransaction('ReadAsset', 'no-such-asset'), (e) => {
        assert.ok(e instanceof GatewayError);
        assert.ok(e.details.length >= 1);
        assert.match(e.details[0].message, /no-such-asset|does not exist/);
        assert.equal(e.details[0].mspId, 'Org1MSP');
        return true;
    });
});

test('submitAsync and getStatus', async () => {
    const id = newId();
    const commit = await c2.submitAsync('CreateAsset', { arguments: [id, 'red', '7', 'bob', '10'] });
    assert.equal(JSON.parse(utf8.decode(commit.getResult())).Owner, 'bob');
    const st = await commit.getStatus();
    assert.equal(st.successful, true);
    assert.equal(st.code, 0);
    assert.equal(st.transactionId, commit.getTransactionId());
    assert.ok(st.blockNumber > 0n);
});

test('chaincode events with checkpoints, and block events', async () => {
    const network = g1.gateway.getNetwork(N.info.channel);
    const first = await c1.submitAsync('CreateAsset', { arguments: [newId(), 'c', '1', 'o', '1'] });
    const { blockNumber } = await first.getStatus();
    const ids = [];
    for (let i = 0; i < 2; i++) {
        const id = newId();
        ids.push(id);
        await c1.submitTransaction('CreateAsset', id, 'c', '1', 'o', '1');
    }
    const checkpoint = checkpointers.inMemory();
    let events = await network.getChaincodeEvents(ccName, { startBlock: blockNumber, checkpoint });
    const seen = [];
    for await (const ev of events) {
        seen.push(ev);
        await checkpoint.checkpointChaincodeEvent(ev);
        if (seen.length === 2) break;
    }
    events.close();
    assert.equal(seen[0].transactionId, first.getTransactionId());
    assert.equal(seen[0].eventName, 'CreateAsset');
    assert.equal(seen[0].blockNumber, blockNumber);
    assert.equal(JSON.parse(utf8.decode(seen[1].payload)).ID, ids[0]);
    // resume from the checkpoint: the next event is the third one
    events = await network.getChaincodeEvents(ccName, { checkpoint });
    for await (const ev of events) {
        assert.equal(JSON.parse(utf8.decode(ev.payload)).ID, ids[1]);
        break;
    }
    events.close();
    const blocks = await network.getBlockEvents({ startBlock: blockNumber });
    for await (const b of blocks) {
        assert.equal(b.getHeader().getNumber(), Number(blockNumber));
        assert.ok(txCodesOf(b).some((t) => t.txid === first.getTransactionId() && t.code === 0));
        break;
    }
    blocks.close();
});

// Offline signing: the application holds no signer in the Gateway; it signs
// each digest itself. fabric-gateway digests are SHA-256 of the bytes and the
// signature must be ECDSA over that digest as given (not hashed again), low-S,
// DER: exactly what signers.newPrivateKeySigner produces.
test('offline signing', async () => {
    const off = gatewayFor(N.info, 'Org1MSP', { offline: true });
    try {
        const contract = off.gateway.getNetwork(N.info.channel).getContract(ccName);
        const sign = signers.newPrivateKeySigner(g1.key);
        const id = newId();
        const unsigned = contract.newProposal('CreateAsset', { arguments: [id, 'g', '2', 'carol', '5'] });
        const proposal = off.gateway.newSignedProposal(unsigned.getBytes(), await sign(unsigned.getDigest()));
        const utx = await proposal.endorse();
        assert.equal(JSON.parse(utf8.decode(utx.getResult())).Owner, 'carol');
        const tx = off.gateway.newSignedTransaction(utx.getBytes(), await sign(utx.getDigest()));
        const commit = await tx.submit();
        const ucs = off.gateway.newCommit(commit.getBytes());
        const cs = off.gateway.newSignedCommit(ucs.getBytes(), await sign(ucs.getDigest()));
        const st = await cs.getStatus();
        assert.equal(st.code, 0);
        assert.equal(st.transactionId, unsigned.getTransactionId());
        assert.equal((await readOnOrg2(id)).Owner, 'carol');
        // the serialized forms travel between processes: rebuilt from bytes
        // they still submit and report status
        const id2 = newId();
        const u2 = contract.newProposal('CreateAsset', { arguments: [id2, 'g', '2', 'dan', '5'] });
        const p2 = off.gateway.newProposal(u2.getBytes());
        const t2 = await off.gateway.newSignedProposal(p2.getBytes(), await sign(p2.getDigest())).endorse();
        const t2b = off.gateway.newTransaction(t2.getBytes());
        const c2s = await off.gateway.newSignedTransaction(t2b.getBytes(), await sign(t2b.getDigest())).submit();
        const st2 = await off.gateway.newSignedCommit(c2s.getBytes(), await sign(c2s.getDigest())).getStatus();
        assert.equal(st2.successful, true);
    } finally {
        off.close();
    }
});

// A proposal whose signature does not verify: the endorser refuses it
// before simulating, with Fabric's generic text; the gateway reports the
// first endorsement's failure as ABORTED with the endorser's message in the
// details (Fabric: FAILED_PRECONDITION per endorser, not retried).
test('a proposal with a bad signature is refused by the endorser', async () => {
    const off = gatewayFor(N.info, 'Org1MSP', { offline: true });
    try {
        const contract = off.gateway.getNetwork(N.info.channel).getContract(ccName);
        const unsigned = contract.newProposal('CreateAsset', { arguments: [newId(), 'b', '1', 'o', '1'] });
        // a common mistake: crypto.sign hashes the digest again
        const wrong = new Uint8Array(crypto.sign('sha256', unsigned.getDigest(), { key: g1.key, dsaEncoding: 'der' }));
        await assert.rejects(off.gateway.newSignedProposal(unsigned.getBytes(), wrong).endorse(), (e) => {
            assert.ok(e instanceof EndorseError);
            assert.equal(e.code, 10); // ABORTED
            assert.equal(e.message, '10 ABORTED: failed to endorse transaction, see attached details for more info');
            assert.equal(e.transactionId, unsigned.getTransactionId());
            assert.equal(e.details.length, 1);
            assert.equal(e.details[0].mspId, 'Org1MSP');
            assert.equal(e.details[0].message,
                `error validating proposal: access denied: channel [${N.info.channel}] creator org [Org1MSP]`);
            return true;
        });
        // the same with evaluate: the endorser's refusal is returned at once
        await assert.rejects(off.gateway.newSignedProposal(unsigned.getBytes(), wrong).evaluate(), (e) => {
            assert.ok(e instanceof GatewayError);
            assert.equal(e.code, 9); // FAILED_PRECONDITION
            assert.match(e.message, /evaluate call to endorser returned error: error validating proposal: access denied/);
            return true;
        });
    } finally {
        off.close();
    }
});

test('concurrent transfers: one VALID, one MVCC_READ_CONFLICT', async () => {
    const id = newId();
    await c1.submitTransaction('CreateAsset', id, 'x', '1', 'start', '1');
    await readOnOrg2(id); // both peers at the same state before endorsing
    // endorse both against the same state, then submit both
    const t1 = await c1.newProposal('TransferAsset', { arguments: [id, 'dave'] }).endorse();
    const t2 = await c2.newProposal('TransferAsset', { arguments: [id, 'erin'] }).endorse();
    const [s1, s2] = await Promise.all([t1.submit(), t2.submit()]);
    const codes = [(await s1.getStatus()).code, (await s2.getStatus()).code].sort();
    assert.deepEqual(codes, [0, 11]);
    // submitTransaction reports the conflict as a CommitError with that code
    const t3 = await c1.newProposal('TransferAsset', { arguments: [id, 'frank'] }).endorse();
    const t4 = await c2.newProposal('TransferAsset', { arguments: [id, 'gina'] }).endorse();
    const results = await Promise.allSettled([t3.submit().then((c) => c.getStatus()),
        t4.submit().then((c) => c.getStatus())]);
    assert.deepEqual(results.map((r) => r.value.code).sort(), [0, 11]);
    // two submitTransaction calls racing: both endorse against the same
    // version, the one ordered second fails; the SDK raises a CommitError
    const both = await Promise.allSettled([c1.submitTransaction('TransferAsset', id, 'h'),
        c2.submitTransaction('TransferAsset', id, 'i')]);
    const ok = both.filter((r) => r.status === 'fulfilled');
    const bad = both.filter((r) => r.status === 'rejected');
    assert.equal(ok.length, 1);
    assert.equal(bad.length, 1);
    assert.ok(bad[0].reason instanceof CommitError, String(bad[0].reason));
    assert.equal(bad[0].reason.code, 11); // MVCC_READ_CONFLICT
    assert.match(bad[0].reason.message, /MVCC_READ_CONFLICT/);
});

test('endorsement by one org only: ENDORSEMENT_POLICY_FAILURE', async () => {
    const p = c1.newProposal('CreateAsset', { arguments: [newId(), 'p', '1', 'o', '1'], endorsingOrganizations: ['Org1MSP'] });
    const tx = await p.endorse();
    const st = await (await tx.submit()).getStatus();
    assert.equal(st.successful, false);
    assert.equal(st.code, 10);
    // through submitTransaction's equivalent: a CommitError with that code
    await assert.rejects(c1.submit('CreateAsset', { arguments: [newId(), 'p', '1', 'o', '1'], endorsingOrganizations: ['Org1MSP'] }),
        (e) => e instanceof CommitError && e.code === 10 && /ENDORSEMENT_POLICY_FAILURE/.test(e.message));
});

test('a replayed envelope: DUPLICATE_TXID', async () => {
    const network = g1.gateway.getNetwork(N.info.channel);
    const tx = await c1.newProposal('CreateAsset', { arguments: [newId(), 'd', '1', 'o', '1'] }).endorse();
    const c = await tx.submit();
    const st = await c.getStatus();
    assert.equal(st.code, 0);
    const again = g1.gateway.newTransaction(tx.getBytes());
    const c2x = await again.submit();
    // CommitStatus reports the first occurrence; the replay's own code is in its block
    assert.equal((await c2x.getStatus()).code, 0);
    const blocks = await network.getBlockEvents({ startBlock: st.blockNumber });
    let dup;
    for await (const b of blocks) {
        dup = txCodesOf(b).find((t) => t.txid === tx.getTransactionId() && Number(b.getHeader().getNumber()) >= Number(st.blockNumber) && t.code !== 0);
        if (dup) break;
    }
    blocks.close();
    assert.equal(dup.code, 9);
});

// BAD_CREATOR_SIGNATURE is as far as a client can get: the ordering service
// checks the envelope's creator signature against /Channel/Writers before
// ordering (as Fabric's does), so a forged signature never reaches a block
// and the peer's BAD_CREATOR_SIGNATURE code only meets envelopes a faulty
// orderer let through (covered by the committer's unit vectors).
test('a forged creator signature is refused', async () => {
    const off = gatewayFor(N.info, 'Org1MSP', { offline: true });
    try {
        const contract = off.gateway.getNetwork(N.info.channel).getContract(ccName);
        const sign = signers.newPrivateKeySigner(g1.key);
        const unsigned = contract.newProposal('CreateAsset', { arguments: [newId(), 'f', '1', 'o', '1'] });
        const utx = await off.gateway.newSignedProposal(unsigned.getBytes(), await sign(unsigned.getDigest())).endorse();
        const forged = await sign(crypto.randomBytes(32)); // a valid signature over other bytes
        const tx = off.gateway.newSignedTransaction(utx.getBytes(), forged);
        await assert.rejects(tx.submit(), (e) => {
            assert.ok(e instanceof GatewayError);
            assert.equal(e.code, 10); // ABORTED
            assert.match(e.message, /received unsuccessful response from orderer: status=FORBIDDEN/);
            return true;
        });
        // the same envelope properly signed is accepted and commits
        const good = off.gateway.newSignedTransaction(utx.getBytes(), await sign(utx.getDigest()));
        const c = await good.submit();
        const st = await off.gateway.newSignedCommit(c.getBytes(), await sign(c.getDigest())).getStatus();
        assert.equal(st.code, 0);
    } finally {
        off.close();
    }
});

test('restart: a killed peer catches up and has the same state', async () => {
    // load while org2's peer is down: endorsements fail (AND policy) until it is back
    const p2 = peerOf(N.info, 'Org2MSP');
    const pid = Number(require('node:fs').readFileSync(p2.pidFile, 'utf8'));
    // commit some blocks it will have to pull
    for (let i = 0; i < 3; i++) await c1.submitTransaction('CreateAsset', newId(), 'r', '1', 'o', '1');
    process.kill(pid, 'SIGKILL');
    await waitFor('peer0.org2 down', async () => { try { process.kill(pid, 0); return false; } catch { return true; } });
    await assert.rejects(c1.submitTransaction('CreateAsset', newId(), 'r', '1', 'o', '1'), GatewayError);
    restartNode(p2);
    await waitFor('peer0.org2 endorses again', async () => {
        await c1.submitTransaction('CreateAsset', newId(), 'r', '1', 'o', '1');
        return true;
    }, 120000);
    const last = await c1.submitAsync('CreateAsset', { arguments: [newId(), 'r', '1', 'o', '1'] });
    const { blockNumber } = await last.getStatus();
    // wait until org2's peer has that block, then compare the whole state
    await waitFor('peer0.org2 height', async () => {
        const r = await c2.evaluate('ReadAsset', { arguments: [JSON.parse(utf8.decode(last.getResult())).ID], endorsingOrganizations: ['Org2MSP'] });
        return r.length > 0 && blockNumber >= 0n;
    }, 60000);
    const digest = async (c, org) => crypto.createHash('sha256')
        .update(await c.evaluate('GetAllAssets', { arguments: [], endorsingOrganizations: [org] })).digest('hex');
    assert.equal(await digest(c1, 'Org1MSP'), await digest(c2, 'Org2MSP'));
});

// Last: every node stops cleanly on SIGTERM and no node log holds a
// sanitizer report (ASan/UBSan builds; LeakSanitizer reports at exit).
test('clean exit: no sanitizer report in any node log', async () => {
    const fs = require('node:fs');
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    const nodes = N.info.nodes.map((n) => ({ n, pid: Number(fs.readFileSync(n.pidFile, 'utf8')) }));
    for (const { pid } of nodes) if (alive(pid)) process.kill(pid, 'SIGTERM');
    for (const { n, pid } of nodes) await waitFor(`${n.name} exit`, async () => !alive(pid), 30000);
    for (const { n } of nodes) {
        const log = fs.readFileSync(n.log, 'utf8');
        assert.doesNotMatch(log, /ERROR: (Address|Leak)Sanitizer|runtime error:/, `${n.name} log`);
    }
});
