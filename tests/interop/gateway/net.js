'use strict';
// Shared helpers: a weft network (weft network up/down) and fabric-gateway
// connections to its peers. Used by gateway.test.js and bench/e2e.
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { connect, signers } = require('@hyperledger/fabric-gateway');
const { freeBase } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN || path.resolve(__dirname, '../../../build/bin/weft');

async function networkUp(opts = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-gw-'));
    fs.rmSync(dir, { recursive: true });
    const base = await freeBase(30);
    const args = ['network', 'up', '--orderers', '1', '--orgs', String(opts.orgs || 2), '--peers', '1',
        '--dir', dir, '--base-port', String(base)];
    try {
        execFileSync(WEFT, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000 });
    } catch (e) {
        const out = `${e.stdout || ''}${e.stderr || ''}`;
        try { execFileSync(WEFT, ['network', 'down', '--dir', dir], { stdio: 'ignore', timeout: 60000 }); } catch { /* */ }
        throw new Error(`weft network up failed:\n${out}`);
    }
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'network.json'), 'utf8'));
    return { dir, info };
}

function networkDown(n) {
    if (n) execFileSync(WEFT, ['network', 'down', '--dir', n.dir], { stdio: 'ignore', timeout: 120000 });
}

function peerOf(info, mspId) {
    return info.nodes.find((x) => x.role === 'peer' && x.mspId === mspId);
}

function orgOf(info, mspId) {
    return info.organizations.find((o) => o.mspId === mspId);
}

// A fabric-gateway Gateway for mspId's User1 on that org's peer.
function gatewayFor(info, mspId, { offline = false } = {}) {
    const peer = peerOf(info, mspId);
    const org = orgOf(info, mspId);
    const tlsRoot = fs.readFileSync(peer.tlsRootCert);
    const client = new grpc.Client(peer.endpoints.grpc, grpc.credentials.createSsl(tlsRoot), {
        'grpc.ssl_target_name_override': peer.name,
    });
    const certificate = fs.readFileSync(org.user.cert);
    const key = crypto.createPrivateKey(fs.readFileSync(org.user.key));
    const identity = { mspId, credentials: certificate };
    const o = { client, identity, evaluateOptions: () => ({ deadline: Date.now() + 30000 }),
        endorseOptions: () => ({ deadline: Date.now() + 30000 }),
        submitOptions: () => ({ deadline: Date.now() + 30000 }),
        commitStatusOptions: () => ({ deadline: Date.now() + 60000 }) };
    if (!offline) o.signer = signers.newPrivateKeySigner(key);
    const gateway = connect(o);
    return { gateway, client, key, close: () => { gateway.close(); client.close(); } };
}

function restartNode(node) {
    const log = fs.openSync(node.log, 'a');
    const child = spawn(WEFT, [node.role, 'start', '--config', node.config],
        { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    fs.writeFileSync(node.pidFile, `${child.pid}\n`);
    return child.pid;
}

async function waitFor(what, fn, ms = 60000) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) { last = e; }
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

module.exports = { WEFT, networkUp, networkDown, peerOf, orgOf, gatewayFor, restartNode, waitFor };
