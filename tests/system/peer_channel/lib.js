// A one-orderer, one-peer weft network for the peer channel tests
// (tests/system/peer_channel, tests/interop/deliver): `weft crypto generate`,
// a configtx.yaml written here (one etcdraft consenter on a free port, TLS),
// `weft configtx genesis`, `weft orderer start` joined through the channel
// participation API, `weft peer start`, and `weft channel` run as Org1's
// admin. Every process is started and stopped by PID.
'use strict';
const assert = require('node:assert');
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { common } = require('@hyperledger/fabric-protos');
const { freePort, waitFor, loadIdentity, sign, envelope, broadcastAll } = require('../../lib/node/weft-test.js');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;
const CHANNEL = 'peerchannel';

function configtx(dir, ordererPort) {
  return `Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: crypto/ordererOrganizations/example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Writers: {Type: Signature, Rule: "OR('OrdererMSP.member')"}
      Admins: {Type: Signature, Rule: "OR('OrdererMSP.admin')"}
    OrdererEndpoints:
      - 127.0.0.1:${ordererPort}
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: crypto/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')"}
      Writers: {Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.client')"}
      Admins: {Type: Signature, Rule: "OR('Org1MSP.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('Org1MSP.peer')"}
  - &Org2
    Name: Org2MSP
    ID: Org2MSP
    MSPDir: crypto/peerOrganizations/org2.example.com/msp
    Policies:
      Readers: {Type: Signature, Rule: "OR('Org2MSP.admin', 'Org2MSP.peer', 'Org2MSP.client')"}
      Writers: {Type: Signature, Rule: "OR('Org2MSP.admin', 'Org2MSP.client')"}
      Admins: {Type: Signature, Rule: "OR('Org2MSP.admin')"}
      Endorsement: {Type: Signature, Rule: "OR('Org2MSP.peer')"}
Capabilities:
  Channel: &ChannelCapabilities
    V2_0: true
  Orderer: &OrdererCapabilities
    V2_0: true
  Application: &ApplicationCapabilities
    V2_0: true
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    LifecycleEndorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
    Endorsement: {Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}
  Capabilities:
    <<: *ApplicationCapabilities
Orderer: &OrdererDefaults
  OrdererType: etcdraft
  EtcdRaft:
    Consenters:
      - Host: 127.0.0.1
        Port: ${ordererPort + 0}
        ClientTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer.example.com/tls/server.crt
        ServerTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer.example.com/tls/server.crt
    Options:
      TickInterval: 100ms
      ElectionTick: 10
      HeartbeatTick: 1
      MaxInflightBlocks: 5
      SnapshotIntervalSize: 16 MB
  BatchTimeout: 200ms
  BatchSize:
    MaxMessageCount: 10
    AbsoluteMaxBytes: 99 MB
    PreferredMaxBytes: 512 KB
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
Channel: &ChannelDefaults
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
  Capabilities:
    <<: *ChannelCapabilities
Profiles:
  PeerChannel:
    <<: *ChannelDefaults
    Orderer:
      <<: *OrdererDefaults
      Organizations:
        - *OrdererOrg
      Capabilities: *OrdererCapabilities
    Application:
      <<: *ApplicationDefaults
      Organizations:
        - *Org1
        - *Org2
      Capabilities: *ApplicationCapabilities
`;
}

function run(args, opts = {}) {
  return new Promise((resolve) => {
    execFile(WEFT, args, { timeout: 60000, ...opts }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function spawnNode(kind, home, env) {
  const log = fs.openSync(path.join(home, `${kind}.log`), 'a');
  const child = spawn(WEFT, [kind, 'start', '--config', path.join(SRC, 'config', `${kind === 'peer' ? 'core' : 'orderer'}.yaml`)],
    { env: { ...process.env, ...env }, stdio: ['ignore', log, log], cwd: home });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  fs.closeSync(log);
  return { child, exited, home, kind };
}

async function stopNode(n, sig = 'SIGTERM') {
  if (!n) return null;
  n.child.kill(sig);
  const t = setTimeout(() => n.child.kill('SIGKILL'), 15000);
  const r = await n.exited;
  clearTimeout(t);
  return r;
}

// Builds identities, the genesis block and the orderer; returns a handle.
async function setup(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const ports = { ord: await freePort(), admin: await freePort(), ordOps: await freePort(),
    peer: await freePort(), cc: await freePort(), peerOps: await freePort() };
  let r = await run(['crypto', 'generate', '--config', path.join(SRC, 'config', 'crypto-config.yaml'),
    '--output', path.join(dir, 'crypto')], { cwd: dir });
  assert.strictEqual(r.code, 0, r.stderr);
  fs.writeFileSync(path.join(dir, 'configtx.yaml'), configtx(dir, ports.ord));
  r = await run(['configtx', 'genesis', '--config', path.join(dir, 'configtx.yaml'), '--profile',
    'PeerChannel', '--channel', CHANNEL, '--output', path.join(dir, 'genesis.block')], { cwd: dir });
  assert.strictEqual(r.code, 0, r.stderr);
  const c = (p) => path.join(dir, 'crypto', p);
  const h = {
    dir, ports, channel: CHANNEL, genesis: path.join(dir, 'genesis.block'),
    ordDir: c('ordererOrganizations/example.com/orderers/orderer.example.com'),
    peerDir: c('peerOrganizations/org1.example.com/peers/peer0.org1.example.com'),
    adminMsp: c('peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp'),
    userMsp: c('peerOrganizations/org1.example.com/users/User1@org1.example.com/msp'),
    org2UserMsp: c('peerOrganizations/org2.example.com/users/User1@org2.example.com/msp'),
    orderer: null, peer: null, ordClient: null,
  };
  h.ordTlsCA = fs.readFileSync(path.join(h.ordDir, 'tls', 'ca.crt'));
  h.peerTlsCA = fs.readFileSync(path.join(h.peerDir, 'tls', 'ca.crt'));
  return h;
}

async function startOrderer(h) {
  const home = path.join(h.dir, 'orderer');
  fs.mkdirSync(home, { recursive: true });
  const tls = path.join(h.ordDir, 'tls');
  h.orderer = spawnNode('orderer', home, {
    ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1', ORDERER_GENERAL_LISTENPORT: String(h.ports.ord),
    ORDERER_GENERAL_TLS_ENABLED: 'true',
    ORDERER_GENERAL_TLS_CERTIFICATE: path.join(tls, 'server.crt'),
    ORDERER_GENERAL_TLS_PRIVATEKEY: path.join(tls, 'server.key'),
    ORDERER_GENERAL_TLS_ROOTCAS: path.join(tls, 'ca.crt'),
    ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none', ORDERER_GENERAL_LOCALMSPDIR: path.join(h.ordDir, 'msp'),
    ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP', ORDERER_FILELEDGER_LOCATION: path.join(home, 'ledger'),
    ORDERER_CONSENSUS_WALDIR: path.join(home, 'wal'), ORDERER_CONSENSUS_SNAPDIR: path.join(home, 'snap'),
    ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
    ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${h.ports.admin}`,
    ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${h.ports.ordOps}`, ORDERER_METRICS_PROVIDER: 'prometheus',
  });
  const admin = `http://127.0.0.1:${h.ports.admin}/participation/v1/channels`;
  await waitFor(async () => (await fetch(admin)).status === 200, 30000, 'orderer admin API');
  if (!(await (await fetch(admin)).json()).channels?.some((x) => x.name === h.channel)) {
    const form = new FormData();
    form.append('config-block', new Blob([fs.readFileSync(h.genesis)]), 'genesis.block');
    const j = await fetch(admin, { method: 'POST', body: form });
    assert.strictEqual(j.status, 201, await j.clone().text());
  }
  await waitFor(async () => /consensus_etcdraft_is_leader\{channel="peerchannel"\} 1/.test(
    await (await fetch(`http://127.0.0.1:${h.ports.ordOps}/metrics`)).text()), 30000, 'orderer leader');
  h.ordClient = new grpc.Client(`127.0.0.1:${h.ports.ord}`, grpc.credentials.createSsl(h.ordTlsCA));
}

async function startPeer(h) {
  const home = path.join(h.dir, 'peer');
  fs.mkdirSync(home, { recursive: true });
  const tls = path.join(h.peerDir, 'tls');
  h.peer = spawnNode('peer', home, {
    CORE_PEER_ID: 'peer0.org1.example.com',
    CORE_PEER_LISTENADDRESS: `127.0.0.1:${h.ports.peer}`, CORE_PEER_ADDRESS: `127.0.0.1:${h.ports.peer}`,
    CORE_PEER_CHAINCODELISTENADDRESS: `127.0.0.1:${h.ports.cc}`,
    CORE_PEER_FILESYSTEMPATH: path.join(home, 'data'),
    CORE_PEER_MSPCONFIGPATH: path.join(h.peerDir, 'msp'), CORE_PEER_LOCALMSPID: 'Org1MSP',
    CORE_PEER_TLS_ENABLED: 'true', CORE_PEER_TLS_CERT_FILE: path.join(tls, 'server.crt'),
    CORE_PEER_TLS_KEY_FILE: path.join(tls, 'server.key'), CORE_PEER_TLS_ROOTCERT_FILE: path.join(tls, 'ca.crt'),
    CORE_OPERATIONS_LISTENADDRESS: `127.0.0.1:${h.ports.peerOps}`, CORE_METRICS_PROVIDER: 'prometheus',
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${h.ports.peerOps}/healthz`)).status === 200,
    30000, 'peer /healthz');
}

// `weft channel ...` as Org1's admin (or another MSP folder).
function channelCmd(h, args, mspDir = h.adminMsp, mspid = 'Org1MSP') {
  return run(['channel', ...args], { cwd: h.dir, env: { ...process.env,
    CORE_PEER_ADDRESS: `127.0.0.1:${h.ports.peer}`, CORE_PEER_LOCALMSPID: mspid,
    CORE_PEER_MSPCONFIGPATH: mspDir, CORE_PEER_TLS_ENABLED: 'true',
    CORE_PEER_TLS_ROOTCERT_FILE: path.join(h.peerDir, 'tls', 'ca.crt') } });
}

// n signed (not endorsed) envelopes through the orderer: they become blocks
// the peer pulls; their transactions are invalid, which the peer records.
async function broadcast(h, n, tag) {
  const user = loadIdentity(h.userMsp, 'Org1MSP');
  const envs = [];
  for (let k = 0; k < n; k++) {
    envs.push(envelope(user, h.channel, common.HeaderType.ENDORSER_TRANSACTION, Buffer.from(`${tag}-${k}`)));
  }
  const res = await broadcastAll(h.ordClient, envs);
  assert.strictEqual(res.length, n);
  for (const r of res) assert.strictEqual(r.status, common.Status.SUCCESS, r.info);
}

async function chainHeight(h) {
  const r = await channelCmd(h, ['getinfo', '-c', h.channel]);
  assert.strictEqual(r.code, 0, r.stderr);
  const m = /Blockchain info: (\{.*\})/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return JSON.parse(m[1]);
}

async function teardown(h) {
  if (!h) return;
  if (h.ordClient) h.ordClient.close();
  await stopNode(h.peer);
  await stopNode(h.orderer);
  if (process.env.WEFT_KEEP_TMP) console.log('kept', h.dir); else fs.rmSync(h.dir, { recursive: true, force: true });
}

module.exports = { setup, startOrderer, startPeer, stopNode, channelCmd, broadcast, chainHeight, teardown,
  waitFor, loadIdentity, sign, envelope, CHANNEL };
