// `weft peer start` and `weft orderer start` with the sample configs: the
// operations endpoint answers /healthz, /metrics, /logspec and /version, the
// gRPC health service answers SERVING, every thread runs under the scheduling
// policy WEFT_SCHED_POLICY selects (SCHED_BATCH by default), and SIGTERM stops
// the node in < 2 s.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { freePort, waitFor } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;

function startNode(kind, env, dir) {
  const log = fs.openSync(path.join(dir, `${kind}.log`), 'w');
  const child = spawn(WEFT, [kind, 'start', '--config', path.join(SRC, 'config',
    kind === 'peer' ? 'core.yaml' : 'orderer.yaml')], {
    env: { ...process.env, ...env }, stdio: ['ignore', log, log], cwd: dir,
  });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  return { child, exited, logPath: path.join(dir, `${kind}.log`) };
}

function grpcHealth(port) {
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest; the reply
  // is HealthCheckResponse{status=1 SERVING} = bytes 08 01.
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b) => b, (b) => b,
      Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err, resp) => {
        client.close();
        if (err) reject(err); else resolve(resp);
      });
  });
}

// Scheduling policy of every thread of pid (field 41 of /proc/.../stat):
// a Map policy -> number of threads.
function threadPolicies(pid) {
  const out = new Map();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const policy = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
    out.set(policy, (out.get(policy) || 0) + 1);
  }
  return out;
}
const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

async function checkNode(kind, env, grpcPort, opsPort, policy = SCHED_BATCH) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `weft-${kind}-`));
  const node = startNode(kind, env, dir);
  try {
    const base = `http://127.0.0.1:${opsPort}`;
    const health = await waitFor(async () => {
      const r = await fetch(`${base}/healthz`);
      return r.status === 200 ? r : null;
    }, 15000, `${kind} /healthz`);
    const h = await health.json();
    assert.strictEqual(h.status, 'OK');
    assert.ok(!Number.isNaN(Date.parse(h.time)), 'healthz time is a timestamp');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^# TYPE fabric_version gauge$/m);
    assert.match(metrics, /^fabric_version\{version="[^"]+"\} 1$/m);

    const version = await (await fetch(`${base}/version`)).json();
    assert.strictEqual(typeof version.Version, 'string');
    assert.ok(version.Version.length > 0);

    let r = await fetch(`${base}/logspec`, { method: 'PUT', body: JSON.stringify({ spec: 'debug:node=info' }) });
    assert.strictEqual(r.status, 204);
    const spec = await (await fetch(`${base}/logspec`)).json();
    assert.match(spec.spec, /node=info/);
    assert.match(spec.spec, /debug$/);
    r = await fetch(`${base}/logspec`, { method: 'PUT', body: JSON.stringify({ spec: 'chatty' }) });
    assert.strictEqual(r.status, 400);

    const resp = await grpcHealth(grpcPort);
    assert.deepStrictEqual([...resp], [0x08, 0x01], 'gRPC health says SERVING');

    const policies = threadPolicies(node.child.pid);
    assert.deepStrictEqual([...policies.keys()], [policy],
      `every thread's scheduling policy is ${policy}: ${JSON.stringify([...policies])}`);
    assert.ok(policies.get(policy) > 3, 'the node runs several threads');

    const t0 = Date.now();
    node.child.kill('SIGTERM');
    const { code } = await node.exited;
    const ms = Date.now() - t0;
    assert.strictEqual(code, 0, `exit code (log: ${fs.readFileSync(node.logPath, 'utf8')})`);
    assert.ok(ms < 2000, `stopped in ${ms} ms`);
  } finally {
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('peer starts with the sample core.yaml and stops on SIGTERM', async () => {
  const grpcPort = await freePort();
  const opsPort = await freePort();
  await checkNode('peer', {
    CORE_PEER_LISTENADDRESS: `127.0.0.1:${grpcPort}`,
    CORE_OPERATIONS_LISTENADDRESS: `127.0.0.1:${opsPort}`,
  }, grpcPort, opsPort);
});

test('orderer starts with the sample orderer.yaml and stops on SIGTERM', async () => {
  const grpcPort = await freePort();
  const opsPort = await freePort();
  await checkNode('orderer', {
    ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1',
    ORDERER_GENERAL_LISTENPORT: String(grpcPort),
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${opsPort}`,
  }, grpcPort, opsPort);
});

test('a config error names the key and the process exits non-zero', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bad-'));
  try {
    const node = startNode('peer', { CORE_PEER_TLS_ENABLED: 'maybe' }, dir);
    const { code } = await node.exited;
    assert.notStrictEqual(code, 0);
    assert.match(fs.readFileSync(node.logPath, 'utf8'), /peer\.tls\.enabled/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('WEFT_SCHED_POLICY=normal keeps the normal scheduling policy', async () => {
  const grpcPort = await freePort();
  const opsPort = await freePort();
  await checkNode('peer', {
    CORE_PEER_LISTENADDRESS: `127.0.0.1:${grpcPort}`,
    CORE_OPERATIONS_LISTENADDRESS: `127.0.0.1:${opsPort}`,
    WEFT_SCHED_POLICY: 'normal',
  }, grpcPort, opsPort, SCHED_OTHER);
});
