// `weft ledger verify` and `weft ledger inspect` (src/cmd/cmd_ledger.c) on a
// ledger holding the real Fabric v2.4.9 vector chain (76 blocks, committed by
// ledger_cli_mk): verify says OK; a byte flipped in the middle of a block
// record and a torn last record are reported with file and offset (exit 1);
// inspect prints blocks whose header, hashes, transactions and codes match
// the vectors' expected/ files; bad arguments print the usage (exit 2).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const WEFT = process.env.WEFT_BIN;
const MK = process.env.WEFT_LEDGER_CLI_MK;
const VEC = path.join(process.env.WEFT_SHARED_DIR, 'vectors', 'fabric-2.4.9');
const NBLOCKS = 76;
const REC_HDR = 24; // block file record header (docs/ledger.md)
const RUN_MS = 30000;

let tmp;
let chain; // <root>/ledgersData/chains/mychannel

function run(args) {
  const r = spawnSync(WEFT, args, { encoding: 'utf8', timeout: RUN_MS });
  assert.ifError(r.error);
  return r;
}

function blockSize(n) {
  return fs.statSync(path.join(VEC, 'blocks', `${String(n).padStart(6, '0')}.block`)).size;
}

// Offset of block n's record in blockfile_000000 (all 76 fit in one file).
function recordOffset(n) {
  let off = 0;
  for (let i = 0; i < n; i++) off += REC_HDR + blockSize(i);
  return off;
}

function expected(n) {
  return JSON.parse(fs.readFileSync(path.join(VEC, 'expected', `${String(n).padStart(6, '0')}.json`), 'utf8'));
}

function copyChain(name) {
  const dst = path.join(tmp, name);
  fs.cpSync(chain, dst, { recursive: true });
  return dst;
}

before(() => {
  assert.ok(WEFT && MK, 'WEFT_BIN and WEFT_LEDGER_CLI_MK must be set');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ledger-cli-'));
  const r = spawnSync(MK, [tmp, 'mychannel', path.join(VEC, 'blocks'), String(NBLOCKS)],
    { encoding: 'utf8', timeout: RUN_MS });
  assert.ifError(r.error);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), String(NBLOCKS));
  chain = path.join(tmp, 'ledgersData', 'chains', 'mychannel');
  assert.strictEqual(fs.statSync(path.join(chain, 'blockfile_000000')).size, recordOffset(NBLOCKS));
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('verify: the vector chain is sound', () => {
  const r = run(['ledger', 'verify', chain]);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /: OK, 76 blocks$/m);
  assert.strictEqual(r.stderr, '');
});

test('verify: a byte flipped in the middle of a block names file and offset', () => {
  const dir = copyChain('flipped');
  const n = 40;
  const off = recordOffset(n);
  const at = off + REC_HDR + Math.floor(blockSize(n) / 2);
  const file = path.join(dir, 'blockfile_000000');
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] ^= 0x10;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  const r = run(['ledger', 'verify', dir]);
  assert.strictEqual(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`FAILED after ${n} good blocks`));
  assert.match(r.stderr, new RegExp(`blockfile_000000 offset ${off}: checksum mismatch`));
  assert.strictEqual(r.stdout, '');
  // inspect refuses the damaged block (its checksum), still prints others
  const i = run(['ledger', 'inspect', dir, '--block', String(n)]);
  assert.strictEqual(i.status, 1);
  assert.match(i.stderr, new RegExp(`offset ${off}`));
  const ok = run(['ledger', 'inspect', dir, '--block', String(n + 1)]);
  assert.strictEqual(ok.status, 0, ok.stderr);
  assert.strictEqual(JSON.parse(ok.stdout).header.number, n + 1);
});

test('verify: a torn last record is reported at its offset', () => {
  const dir = copyChain('torn');
  const file = path.join(dir, 'blockfile_000000');
  fs.truncateSync(file, fs.statSync(file).size - 7);
  const r = run(['ledger', 'verify', dir]);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, new RegExp(`FAILED after ${NBLOCKS - 1} good blocks`));
  assert.match(r.stderr, new RegExp(`blockfile_000000 offset ${recordOffset(NBLOCKS - 1)}: torn record`));
});

test('verify: an index naming a block the files lack', () => {
  const dir = copyChain('short');
  fs.truncateSync(path.join(dir, 'blockfile_000000'), recordOffset(NBLOCKS - 1));
  const r = run(['ledger', 'verify', dir]);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, new RegExp(`FAILED after ${NBLOCKS - 1} good blocks: index holds block ${NBLOCKS - 1}, which the block files lack`));
});

test('verify: a block file without its index is checked alone', () => {
  const dir = copyChain('noindex');
  fs.rmSync(path.join(dir, 'index'), { recursive: true });
  const r = run(['ledger', 'verify', dir]);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK, 76 blocks/);
});

test('verify: missing folder or no block files', () => {
  let r = run(['ledger', 'verify', path.join(tmp, 'nope')]);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /not a channel ledger folder/);
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  r = run(['ledger', 'verify', empty]);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /holds no block files/);
});

const TYPES = { CONFIG: 1, ENDORSER_TRANSACTION: 3 };

test('inspect: blocks match the vectors\' expected header, hashes and transactions', () => {
  for (const n of [0, 1, 7, 54, NBLOCKS - 1]) {
    const r = run(['ledger', 'inspect', chain, '--block', String(n)]);
    assert.strictEqual(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const e = expected(n);
    assert.strictEqual(j.header.number, n);
    assert.strictEqual(j.header.previous_hash, e.previous_hash || '');
    assert.strictEqual(j.header.data_hash, e.data_hash);
    assert.strictEqual(j.header_hash, e.header_hash);
    assert.strictEqual(j.data.length, e.tx_count);
    assert.deepStrictEqual(j.data.map((t) => t.validation_code), e.validation_codes);
    assert.deepStrictEqual(j.metadata[2], e.validation_codes); // TRANSACTIONS_FILTER
    e.transactions.forEach((et, i) => {
      const t = j.data[i];
      assert.strictEqual(t.channel_header.tx_id, et.txid, `block ${n} tx ${i}`);
      assert.strictEqual(t.channel_header.channel_id, et.channel);
      assert.strictEqual(t.channel_header.type, TYPES[et.type]);
      if (et.timestamp) {
        assert.strictEqual(t.channel_header.timestamp_seconds, et.timestamp.seconds);
        assert.strictEqual(t.channel_header.timestamp_nanos, et.timestamp.nanos);
      }
      if (et.creator_msp) assert.strictEqual(t.signature_header.creator_mspid, et.creator_msp);
      if (et.type === 'ENDORSER_TRANSACTION') {
        assert.ok(Buffer.from(t.signature, 'base64').length > 0, `block ${n} tx ${i} signature`);
      }
    });
  }
});

test('inspect: a block beyond the height', () => {
  const r = run(['ledger', 'inspect', chain, '--block', String(NBLOCKS)]);
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, /block 76 not found/);
  assert.strictEqual(r.stdout, '');
});

test('bad arguments print the usage and exit 2', () => {
  const cases = [
    ['ledger', 'verify'],
    ['ledger', 'verify', chain, 'extra'],
    ['ledger', 'inspect', chain],
    ['ledger', 'inspect', '--block', '3'],
    ['ledger', 'inspect', chain, '--block'],
    ['ledger', 'inspect', chain, '--block', 'x3'],
    ['ledger', 'inspect', chain, '--block', '-1'],
    ['ledger', 'inspect', chain, '--block', '3', '--bogus'],
    ['ledger', 'inspect', chain, chain, '--block', '3'],
    ['ledger', 'inspect', chain, '--block', '3', '--block', '4'],
    ['ledger', 'inspect', chain, '--block', ''],
    ['ledger', 'inspect', chain, '--block', '18446744073709551616'],
  ];
  for (const args of cases) {
    const r = run(args);
    assert.strictEqual(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /Usage:\n {2}weft ledger verify PATH\n {2}weft ledger inspect PATH --block N/,
      args.join(' '));
    assert.strictEqual(r.stdout, '', args.join(' '));
  }
  let r = run(['ledger', 'bogus']);
  assert.strictEqual(r.status, 2);
  assert.match(r.stderr, /unknown command 'bogus'/);
  r = run(['ledger']);
  assert.strictEqual(r.status, 2);
  r = run(['ledger', '--help']);
  assert.strictEqual(r.status, 0);
  assert.match(r.stdout, /weft ledger inspect PATH --block N/);
});
