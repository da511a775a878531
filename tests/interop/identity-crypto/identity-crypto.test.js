'use strict';
// Cross-implementation ECDSA P-256 signatures with the Fabric vector
// identities (../shared/vectors/fabric-2.4.9/crypto):
//  * C -> Node: crypto_tool signs SHA-256(msg) with User1's key; Node's
//    crypto.verify (DER encoding) accepts it with the signcert's key, and the
//    signature is low-S.
//  * Node -> C: @hyperledger/fabric-gateway's signers.newPrivateKeySigner
//    signs the SHA-256 digest (low-S DER, as a Gateway client signs a
//    proposal); crypto_tool verifies it against the signcert.
//  * Fabric's verifier rule: a raw Node crypto.sign signature whose s is
//    high is rejected by C although Node accepts it; its normalised twin is
//    accepted.
// Environment: CRYPTO_TOOL (path of crypto_tool), WEFT_SHARED_DIR.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { signers } = require('@hyperledger/fabric-gateway');

const TOOL = process.env.CRYPTO_TOOL;
const SHARED = process.env.WEFT_SHARED_DIR || path.join(__dirname, '../../../../shared');
const USER = path.join(SHARED, 'vectors/fabric-2.4.9/crypto/peerOrganizations/org1.example.com',
    'users/User1@org1.example.com/msp');
const KEY = path.join(USER, 'keystore/priv_sk');
const CERT = path.join(USER, 'signcerts/User1@org1.example.com-cert.pem');
const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-identity-crypto-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tool(...args) {
    const r = spawnSync(TOOL, args, { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.error, undefined, String(r.error));
    return r;
}

function msgFile(i, bytes) {
    const p = path.join(tmp, `msg-${i}.bin`);
    fs.writeFileSync(p, bytes);
    return p;
}

// Minimal DER (r, s) codec for the high-S case.
function derDecode(der) {
    assert.equal(der[0], 0x30);
    let o = 2;
    const ints = [];
    for (let k = 0; k < 2; k++) {
        assert.equal(der[o], 0x02);
        const len = der[o + 1];
        ints.push(BigInt('0x' + Buffer.from(der.subarray(o + 2, o + 2 + len)).toString('hex')));
        o += 2 + len;
    }
    return ints;
}
function derInt(v) {
    let h = v.toString(16);
    if (h.length % 2) h = '0' + h;
    let b = Buffer.from(h, 'hex');
    if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
function derEncode(r, s) {
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const certKey = crypto.createPublicKey(fs.readFileSync(CERT));
const privKey = crypto.createPrivateKey(fs.readFileSync(KEY));

test('a signature made in C verifies in Node', () => {
    for (let i = 0; i < 20; i++) {
        const msg = crypto.randomBytes(50 + i * 37);
        const r = tool('sign', KEY, msgFile(`c${i}`, msg));
        assert.equal(r.status, 0, r.stderr);
        const sig = Buffer.from(r.stdout.trim(), 'hex');
        assert.ok(crypto.verify('sha256', msg, { key: certKey, dsaEncoding: 'der' }, sig),
            `Node rejected C signature ${i}`);
        const [, s] = derDecode(sig);
        assert.ok(s <= N / 2n, 'C signature is not low-S');
        // Node rejects it over other bytes.
        const other = Buffer.from(msg);
        other[0] ^= 1;
        assert.equal(crypto.verify('sha256', other, { key: certKey, dsaEncoding: 'der' }, sig), false);
    }
});

test('a fabric-gateway signature made in Node verifies in C', async () => {
    const sign = signers.newPrivateKeySigner(privKey);
    for (let i = 0; i < 20; i++) {
        const msg = crypto.randomBytes(80 + i * 11);
        const digest = crypto.createHash('sha256').update(msg).digest();
        const sig = Buffer.from(await sign(digest));
        const file = msgFile(`n${i}`, msg);
        const r = tool('verify', CERT, file, sig.toString('hex'));
        assert.equal(r.status, 0, `C rejected gateway signature ${i}: ${r.stdout} ${r.stderr}`);
        assert.equal(tool('lows', sig.toString('hex')).stdout.trim(), '1');
        // Same signature over other bytes: C says invalid.
        const other = Buffer.from(msg);
        other[other.length - 1] ^= 0x80;
        const bad = tool('verify', CERT, msgFile(`n${i}x`, other), sig.toString('hex'));
        assert.equal(bad.status, 1, bad.stdout);
    }
});

test('high-S from plain Node crypto.sign: Node accepts, C rejects, normalised accepted', () => {
    let high = 0;
    for (let i = 0; i < 64 && high < 3; i++) {
        const msg = crypto.randomBytes(64);
        const sig = crypto.sign('sha256', msg, { key: privKey, dsaEncoding: 'der' });
        const [r, s] = derDecode(sig);
        const file = msgFile(`h${i}`, msg);
        const hs = s > N / 2n ? sig : derEncode(r, N - s);
        const ls = derEncode(r, s > N / 2n ? N - s : s);
        assert.ok(crypto.verify('sha256', msg, { key: certKey, dsaEncoding: 'der' }, hs));
        const rej = tool('verify', CERT, file, hs.toString('hex'));
        assert.equal(rej.status, 1, rej.stdout);
        assert.match(rej.stdout, /half the order/);
        const ok = tool('verify', CERT, file, ls.toString('hex'));
        assert.equal(ok.status, 0, ok.stdout);
        high++;
    }
    assert.equal(high, 3);
});

test('SKI of the key matches the certificate key (Fabric keystore lookup)', () => {
    const r = tool('ski', KEY);
    assert.equal(r.status, 0, r.stderr);
    const jwk = certKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'),
        Buffer.from(jwk.y, 'base64url')]);
    assert.equal(r.stdout.trim(), crypto.createHash('sha256').update(point).digest('hex'));
});
