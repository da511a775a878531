'use strict';
// `weft crypto generate` output against the real Fabric Node client:
//  * @hyperledger/fabric-gateway accepts the generated client identity and
//    key (identity + signers.newPrivateKeySigner) and signs a proposal; weft's
//    MSP (msp_tool) deserializes the creator, validates it as an Org1MSP
//    client and verifies the signature; a tampered signature and a foreign
//    MSP are rejected;
//  * Node's TLS client completes handshakes, with the generated TLS CA as
//    its only root, against a server using a generated TLS server
//    certificate, by full name, short name, localhost, 127.0.0.1 and an extra
//    SANS name; mutual TLS with a generated user client certificate works.
// Environment: WEFT_BIN (weft binary), MSP_TOOL.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { spawnSync } = require('node:child_process');
const grpc = require('@grpc/grpc-js');
const { connect, signers } = require('@hyperledger/fabric-gateway');

const WEFT = process.env.WEFT_BIN;
const TOOL = process.env.MSP_TOOL;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-identity-'));
const out = path.join(tmp, 'crypto');
const org1 = path.join(out, 'peerOrganizations/org1.example.com');
const org2 = path.join(out, 'peerOrganizations/org2.example.com');
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('weft crypto generate writes the network', () => {
    const cfg = path.join(tmp, 'crypto-config.yaml');
    fs.writeFileSync(cfg, [
        'PeerOrgs:',
        '  - Name: Org1', '    Domain: org1.example.com', '    EnableNodeOUs: true',
        '    Template:', '      Count: 1', '      SANS: [gateway.org1.example.com]',
        '    Users:', '      Count: 1',
        '  - Name: Org2', '    Domain: org2.example.com', '    EnableNodeOUs: true',
        '    Template:', '      Count: 1', '    Users:', '      Count: 1', ''].join('\n'));
    const r = spawnSync(WEFT, ['crypto', 'generate', '--config', cfg, '--output', out],
        { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Production identities come from a certificate authority/);
    assert.ok(fs.existsSync(path.join(org1, 'users/User1@org1.example.com/msp/keystore/priv_sk')));
});

function userFiles(org, domain, user) {
    const msp = path.join(org, `users/${user}@${domain}/msp`);
    return {
        cert: fs.readFileSync(path.join(msp, `signcerts/${user}@${domain}-cert.pem`)),
        key: fs.readFileSync(path.join(msp, 'keystore/priv_sk')),
    };
}

async function signedProposal(mspId, files, tamper) {
    const client = new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure());
    const signer = signers.newPrivateKeySigner(crypto.createPrivateKey(files.key));
    const gateway = connect({ client, identity: { mspId, credentials: files.cert }, signer });
    try {
        const contract = gateway.getNetwork('mychannel').getContract('basic');
        const proposal = contract.newProposal('CreateAsset', { arguments: ['a1', 'blue', '5'] });
        const signature = await signer(proposal.getDigest());
        if (tamper) {
            signature[signature.length - 1] ^= 1;
        }
        return gateway.newSignedProposal(proposal.getBytes(), signature).getBytes();
    } finally {
        gateway.close();
        client.close();
    }
}

function verify(file) {
    const r = spawnSync(TOOL, ['verify-proposal', file,
        `Org1MSP=${path.join(org1, 'msp')}`, `Org2MSP=${path.join(org2, 'msp')}`],
    { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.error, undefined, String(r.error));
    return r;
}

test('a proposal signed by fabric-gateway with a generated identity verifies in C', async () => {
    const bytes = await signedProposal('Org1MSP',
        userFiles(org1, 'org1.example.com', 'User1'), false);
    const file = path.join(tmp, 'proposal.bin');
    fs.writeFileSync(file, bytes);
    const r = verify(file);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^OK Org1MSP client [0-9a-f]{64}\n$/);

    // the admin is classified as admin
    const admin = await signedProposal('Org1MSP',
        userFiles(org1, 'org1.example.com', 'Admin'), false);
    fs.writeFileSync(file, admin);
    assert.match(verify(file).stdout, /^OK Org1MSP admin /);
});

test('a tampered signature or a foreign identity is rejected in C', async () => {
    const file = path.join(tmp, 'bad.bin');
    fs.writeFileSync(file, await signedProposal('Org1MSP',
        userFiles(org1, 'org1.example.com', 'User1'), true));
    let r = verify(file);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /REJECT .*signature/);
    // Org2's user claiming to be Org1MSP does not chain to Org1's CA
    fs.writeFileSync(file, await signedProposal('Org1MSP',
        userFiles(org2, 'org2.example.com', 'User1'), false));
    r = verify(file);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /REJECT .*not valid/);
});

function listen(server) {
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function handshake(port, servername, opts = {}) {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, servername, ...opts }, () => {
            const info = { authorized: s.authorized, cert: s.getPeerCertificate() };
            s.end();
            resolve(info);
        });
        s.setTimeout(10000, () => { s.destroy(); reject(new Error('timeout')); });
        s.on('error', reject);
    });
}

test('Node TLS clients trust a generated TLS server certificate', async () => {
    const peerTls = path.join(org1, 'peers/peer0.org1.example.com/tls');
    const ca = fs.readFileSync(path.join(peerTls, 'ca.crt'));
    const userTls = path.join(org1, 'users/User1@org1.example.com/tls');
    const server = https.createServer({
        cert: fs.readFileSync(path.join(peerTls, 'server.crt')),
        key: fs.readFileSync(path.join(peerTls, 'server.key')),
        ca, requestCert: true, rejectUnauthorized: false,
    }, (req, res) => {
        const peer = req.socket.getPeerCertificate();
        res.end(req.socket.authorized ? `client ${peer.subject.CN}` : 'anonymous');
    });
    const port = await listen(server);
    try {
        for (const name of ['peer0.org1.example.com', 'peer0', 'localhost',
            'gateway.org1.example.com']) {
            const info = await handshake(port, name, { ca });
            assert.equal(info.authorized, true, name);
            assert.equal(info.cert.subject.CN, 'peer0.org1.example.com');
        }
        // by IP address: the certificate carries 127.0.0.1
        const ipInfo = await new Promise((resolve, reject) => {
            const s = tls.connect({ host: '127.0.0.1', port, ca }, () => {
                resolve({ authorized: s.authorized }); s.end();
            });
            s.on('error', reject);
        });
        assert.equal(ipInfo.authorized, true);
        // a name the certificate does not list is refused
        await assert.rejects(handshake(port, 'evil.example.com', { ca }), /altnames/);
        // another org's TLS CA is not trusted
        await assert.rejects(handshake(port, 'localhost',
            { ca: fs.readFileSync(path.join(org2, 'tlsca/tlsca.org2.example.com-cert.pem')) }));
        // mutual TLS with a generated user client certificate
        const body = await new Promise((resolve, reject) => {
            https.get({ host: '127.0.0.1', port, path: '/', servername: 'localhost', ca,
                cert: fs.readFileSync(path.join(userTls, 'client.crt')),
                key: fs.readFileSync(path.join(userTls, 'client.key')) }, (res) => {
                let d = '';
                res.on('data', (c) => { d += c; });
                res.on('end', () => resolve(d));
            }).on('error', reject);
        });
        assert.equal(body, 'client User1@org1.example.com');
    } finally {
        server.close();
    }
});
