// Interop: @grpc/grpc-js clients against weft's C rpc server
// (rpc_interop_server.c), plaintext, TLS and mutual TLS.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');

const SERVER = process.env.RPC_INTEROP_SERVER;
const SRC = process.env.WEFT_SOURCE_DIR || path.resolve(__dirname, '../../..');
assert.ok(SERVER, 'RPC_INTEROP_SERVER must point to the test server binary');

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-rpc-interop-'));
execFileSync('sh', [path.join(SRC, 'tests/unit/rpc/gen-certs.sh'), certDir]);
const pem = (name) => fs.readFileSync(path.join(certDir, name));
const file = (name) => path.join(certDir, name);

const id = (x) => x;
const running = new Set();

// Starts the server; resolves {port, proc, exited} once it printed its port.
function startServer(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let out = '';
    let err = '';
    const exited = new Promise((res) => proc.on('exit', (code, signal) => {
      running.delete(proc);
      res({ code, signal, out, err });
    }));
    const timer = setTimeout(() => reject(new Error('server did not start: ' + err)), 10000);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), proc, exited, output: () => out });
      }
    });
    proc.stderr.on('data', (d) => { err += d.toString(); });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function stopServer(srv) {
  srv.proc.kill('SIGTERM');
  let timer;
  const timeout = new Promise((res) => { timer = setTimeout(() => res(null), 15000); });
  const r = await Promise.race([srv.exited, timeout]);
  clearTimeout(timer);
  if (r === null) {
    srv.proc.kill('SIGKILL');
    assert.fail('server did not exit after SIGTERM');
  }
  assert.strictEqual(r.signal, null, 'server killed by signal: ' + r.err);
  assert.strictEqual(r.code, 0, 'server exit code (stderr: ' + r.err + ')');
  return r;
}

function tlsArgs(mode) {
  if (mode === 'off') return ['--tls', 'off'];
  return ['--tls', mode, '--cert', file('server.crt'), '--key', file('server.key'),
    '--ca', file('ca.crt')];
}

function clientCreds(mode, withCert = true) {
  if (mode === 'off') return grpc.credentials.createInsecure();
  if (mode === 'mutual' && withCert) {
    return grpc.credentials.createSsl(pem('ca.crt'), pem('client.key'), pem('client.crt'));
  }
  return grpc.credentials.createSsl(pem('ca.crt'));
}

function deadline(ms) {
  return new Date(Date.now() + ms);
}

function unary(client, method, buf, ms = 5000) {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method, id, id, buf, new grpc.Metadata(), { deadline: deadline(ms) },
      (err, resp) => (err ? reject(err) : resolve(resp)));
  });
}

function collect(call) {
  return new Promise((resolve, reject) => {
    const msgs = [];
    call.on('data', (d) => msgs.push(d.toString()));
    call.on('error', reject);
    call.on('end', () => resolve(msgs));
  });
}

async function exercise(mode) {
  const srv = await startServer(tlsArgs(mode));
  const client = new grpc.Client(`127.0.0.1:${srv.port}`, clientCreds(mode));
  try {
    // unary
    const r = await unary(client, '/interop.Echo/Unary', Buffer.from('hello ' + mode));
    assert.strictEqual(r.toString(), 'hello ' + mode);
    const big = Buffer.alloc(3 << 20, 7);
    const rb = await unary(client, '/interop.Echo/Unary', big);
    assert.ok(rb.equals(big));
    // health
    const h = await unary(client, '/grpc.health.v1.Health/Check', Buffer.alloc(0));
    assert.deepStrictEqual([...h], [8, 1]);
    // unknown method
    await assert.rejects(unary(client, '/interop.Echo/Nope', Buffer.from('x')),
      (e) => e.code === grpc.status.UNIMPLEMENTED);
    // server streaming
    const ss = client.makeServerStreamRequest('/interop.Echo/Stream', id, id, Buffer.from('2000'),
      new grpc.Metadata(), { deadline: deadline(10000) });
    const msgs = await collect(ss);
    assert.strictEqual(msgs.length, 2000);
    assert.strictEqual(msgs[0], 'msg-0');
    assert.strictEqual(msgs[1999], 'msg-1999');
    // bidi: 500 messages written at once, every echo back in order
    const bd = client.makeBidiStreamRequest('/interop.Echo/Bidi', id, id, new grpc.Metadata(),
      { deadline: deadline(10000) });
    const got = collect(bd);
    for (let i = 0; i < 500; i++) bd.write(Buffer.from('b' + i));
    bd.end();
    const echoes = await got;
    assert.strictEqual(echoes.length, 500);
    echoes.forEach((m, i) => assert.strictEqual(m, 'b' + i));
  } finally {
    client.close();
    await stopServer(srv);
  }
}

test('plaintext: unary, health, unimplemented, server streaming, bidi', () => exercise('off'));
test('TLS: unary, health, unimplemented, server streaming, bidi', () => exercise('server'));
test('mutual TLS: unary, health, unimplemented, server streaming, bidi', () => exercise('mutual'));

test('mutual TLS refuses a client without a certificate or with an untrusted one', async () => {
  const srv = await startServer(tlsArgs('mutual'));
  try {
    const c1 = new grpc.Client(`127.0.0.1:${srv.port}`, clientCreds('mutual', false));
    await assert.rejects(unary(c1, '/interop.Echo/Unary', Buffer.from('x'), 3000),
      (e) => e.code === grpc.status.UNAVAILABLE);
    c1.close();
    const evil = grpc.credentials.createSsl(pem('ca.crt'), pem('evil.key'), pem('evil.crt'));
    const c2 = new grpc.Client(`127.0.0.1:${srv.port}`, evil);
    await assert.rejects(unary(c2, '/interop.Echo/Unary', Buffer.from('x'), 3000),
      (e) => e.code === grpc.status.UNAVAILABLE);
    c2.close();
  } finally {
    await stopServer(srv);
  }
});

test('a message over the server limit gets RESOURCE_EXHAUSTED', async () => {
  const srv = await startServer([...tlsArgs('off'), '--max-recv', String(1 << 20)]);
  const client = new grpc.Client(`127.0.0.1:${srv.port}`, clientCreds('off'));
  try {
    await assert.rejects(unary(client, '/interop.Echo/Unary', Buffer.alloc(2 << 20)),
      (e) => e.code === grpc.status.RESOURCE_EXHAUSTED);
    // the server still serves normal calls afterwards
    const r = await unary(client, '/interop.Echo/Unary', Buffer.from('ok'));
    assert.strictEqual(r.toString(), 'ok');
  } finally {
    client.close();
    await stopServer(srv);
  }
});

test('a client cancel mid-stream is seen by the server; SIGTERM exits cleanly', async () => {
  const srv = await startServer(tlsArgs('mutual'));
  const client = new grpc.Client(`127.0.0.1:${srv.port}`, clientCreds('mutual'));
  try {
    const call = client.makeServerStreamRequest('/interop.Echo/Stream', id, id,
      Buffer.from('inf'), new grpc.Metadata(), {});
    let n = 0;
    const ended = new Promise((resolve) => {
      call.on('data', () => { if (++n === 10) call.cancel(); });
      call.on('error', (e) => resolve(e.code));
    });
    assert.strictEqual(await ended, grpc.status.CANCELLED);
    // (a grpc-js cancel of a bidi stream half-closes before its RST_STREAM, so
    // the server sees a graceful end of input: only the server stream counts)
    let stats = '';
    for (let i = 0; i < 100; i++) {
      stats = (await unary(client, '/interop.Echo/Stats', Buffer.alloc(0))).toString();
      if (stats === 'cancelled=1') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.strictEqual(stats, 'cancelled=1');
    // an open stream when SIGTERM arrives ends with UNAVAILABLE, and the server exits 0
    const open = client.makeBidiStreamRequest('/interop.Echo/Bidi', id, id, new grpc.Metadata(), {});
    const openFirst = new Promise((resolve) => open.once('data', resolve));
    const openEnd = new Promise((resolve) => {
      open.on('error', (e) => resolve(e.code));
      open.on('status', (s) => resolve(s.code));
    });
    open.write(Buffer.from('y'));
    await openFirst;
    const r = await stopServer(srv);
    assert.strictEqual(await openEnd, grpc.status.UNAVAILABLE);
    assert.match(r.out, /cancelled 2/);
  } finally {
    client.close();
    for (const p of running) p.kill('SIGKILL');
  }
});

test.after(() => {
  for (const p of running) p.kill('SIGKILL');
  fs.rmSync(certDir, { recursive: true, force: true });
});
