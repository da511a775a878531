// Issue 5: "a configtxgen-style genesis block produced by the test from
// Fabric's protobuf definitions is accepted by channel join". The block is
// built here with @hyperledger/fabric-protos only (no weft code): the config
// tree configtxgen writes for an application channel with an etcdraft
// orderer (Channel / Orderer / Application groups, MSP values from the
// folders `weft crypto generate` made, NodeOUs, signature and implicit-meta
// policies, BatchSize, BatchTimeout, ConsensusType with etcdraft
// ConfigMetadata, capabilities, the genesis block's metadata). A weft
// orderer joins it over the participation API, serves it back unchanged,
// and orders an envelope under its Writers policy (Org1's user) but refuses
// one from an identity the config does not know. A block with a broken data
// hash is refused. Every process is stopped by PID.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { common, orderer, msp } = require('@hyperledger/fabric-protos');
const { Timestamp } = require('google-protobuf/google/protobuf/timestamp_pb');
const { freePort, waitFor, loadIdentity, envelope, deliverAll } = require('../orderer_raft/cluster.js');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR;
const CHANNEL = 'protochannel';

const pem = (dir) => fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));

function configValue(msg) {
  const v = new common.ConfigValue();
  v.setValue(msg.serializeBinary());
  v.setModPolicy('Admins');
  return v;
}

function policy(type, msg) {
  const p = new common.Policy();
  p.setType(type);
  p.setValue(msg.serializeBinary());
  const cp = new common.ConfigPolicy();
  cp.setPolicy(p);
  cp.setModPolicy('Admins');
  return cp;
}

function implicitMeta(sub, rule) {
  const m = new common.ImplicitMetaPolicy();
  m.setSubPolicy(sub);
  m.setRule(common.ImplicitMetaPolicy.Rule[rule]);
  return policy(common.Policy.PolicyType.IMPLICIT_META, m);
}

// OR over MSP roles of one org, as configtxgen compiles "OR('Org1MSP.admin', ...)"
function signedByAny(mspid, roles) {
  const env = new common.SignaturePolicyEnvelope();
  env.setVersion(0);
  const rules = [];
  roles.forEach((r, i) => {
    const role = new common.MSPRole();
    role.setMspIdentifier(mspid);
    role.setRole(common.MSPRole.MSPRoleType[r]);
    const pr = new common.MSPPrincipal();
    pr.setPrincipalClassification(common.MSPPrincipal.Classification.ROLE);
    pr.setPrincipal(role.serializeBinary());
    env.addIdentities(pr);
    const sp = new common.SignaturePolicy();
    sp.setSignedBy(i);
    rules.push(sp);
  });
  const nOf = new common.SignaturePolicy.NOutOf();
  nOf.setN(1);
  nOf.setRulesList(rules);
  const rule = new common.SignaturePolicy();
  rule.setNOutOf(nOf);
  env.setRule(rule);
  return policy(common.Policy.PolicyType.SIGNATURE, env);
}

function capabilities(name) {
  const c = new common.Capabilities();
  c.getCapabilitiesMap().set(name, new common.Capability());
  return configValue(c);
}

function orgGroup(mspDir, mspid, kind, endpoints) {
  const ca = pem(path.join(mspDir, 'cacerts'));
  const ous = new msp.FabricNodeOUs();
  ous.setEnable(true);
  for (const [set, ou] of [['setClientOuIdentifier', 'client'], ['setPeerOuIdentifier', 'peer'],
    ['setAdminOuIdentifier', 'admin'], ['setOrdererOuIdentifier', 'orderer']]) {
    const id = new msp.FabricOUIdentifier();
    id.setCertificate(ca[0]);
    id.setOrganizationalUnitIdentifier(ou);
    ous[set](id);
  }
  const cc = new msp.FabricCryptoConfig();
  cc.setSignatureHashFamily('SHA2');
  cc.setIdentityIdentifierHashFunction('SHA256');
  const fc = new msp.FabricMSPConfig();
  fc.setName(mspid);
  fc.setRootCertsList(ca);
  fc.setTlsRootCertsList(pem(path.join(mspDir, 'tlscacerts')));
  fc.setCryptoConfig(cc);
  fc.setFabricNodeOus(ous);
  const mc = new msp.MSPConfig();
  mc.setType(0); // FABRIC
  mc.setConfig(fc.serializeBinary());
  const g = new common.ConfigGroup();
  g.getValuesMap().set('MSP', configValue(mc));
  if (endpoints) {
    const a = new common.OrdererAddresses();
    a.setAddressesList(endpoints);
    g.getValuesMap().set('Endpoints', configValue(a));
  }
  const member = kind === 'orderer' ? ['MEMBER'] : ['ADMIN', 'PEER', 'CLIENT'];
  g.getPoliciesMap().set('Readers', signedByAny(mspid, member));
  g.getPoliciesMap().set('Writers', signedByAny(mspid, kind === 'orderer' ? ['MEMBER'] : ['ADMIN', 'CLIENT']));
  g.getPoliciesMap().set('Admins', signedByAny(mspid, ['ADMIN']));
  if (kind !== 'orderer') g.getPoliciesMap().set('Endorsement', signedByAny(mspid, ['PEER']));
  g.setModPolicy('Admins');
  return g;
}

// The genesis block of an application channel, as configtxgen lays it out.
function genesisBlock(cc, consenter) {
  const ordOrg = path.join(cc, 'ordererOrganizations/example.com/msp');
  const org = (n) => path.join(cc, `peerOrganizations/org${n}.example.com/msp`);

  const raft = new orderer.etcdraft.ConfigMetadata();
  const c = new orderer.etcdraft.Consenter();
  c.setHost(consenter.host);
  c.setPort(consenter.port);
  c.setClientTlsCert(consenter.cert);
  c.setServerTlsCert(consenter.cert);
  raft.addConsenters(c);
  const opts = new orderer.etcdraft.Options();
  opts.setTickInterval('100ms');
  opts.setElectionTick(10);
  opts.setHeartbeatTick(1);
  opts.setMaxInflightBlocks(5);
  opts.setSnapshotIntervalSize(16 * 1024 * 1024);
  raft.setOptions(opts);
  const ct = new orderer.ConsensusType();
  ct.setType('etcdraft');
  ct.setMetadata(raft.serializeBinary());
  ct.setState(orderer.ConsensusType.State.STATE_NORMAL);
  const bs = new orderer.BatchSize();
  bs.setMaxMessageCount(10);
  bs.setAbsoluteMaxBytes(10 * 1024 * 1024);
  bs.setPreferredMaxBytes(2 * 1024 * 1024);
  const bt = new orderer.BatchTimeout();
  bt.setTimeout('300ms');
  const cr = new orderer.ChannelRestrictions();
  cr.setMaxCount(0);

  const og = new common.ConfigGroup();
  og.getGroupsMap().set('OrdererOrg', orgGroup(ordOrg, 'OrdererMSP', 'orderer',
    [`${consenter.host}:${consenter.port}`]));
  og.getValuesMap().set('ConsensusType', configValue(ct));
  og.getValuesMap().set('BatchSize', configValue(bs));
  og.getValuesMap().set('BatchTimeout', configValue(bt));
  og.getValuesMap().set('ChannelRestrictions', configValue(cr));
  og.getValuesMap().set('Capabilities', capabilities('V2_0'));
  og.getPoliciesMap().set('Readers', implicitMeta('Readers', 'ANY'));
  og.getPoliciesMap().set('Writers', implicitMeta('Writers', 'ANY'));
  og.getPoliciesMap().set('Admins', implicitMeta('Admins', 'MAJORITY'));
  og.getPoliciesMap().set('BlockValidation', implicitMeta('Writers', 'ANY'));
  og.setModPolicy('Admins');

  const ag = new common.ConfigGroup();
  ag.getGroupsMap().set('Org1MSP', orgGroup(org(1), 'Org1MSP', 'peer'));
  ag.getGroupsMap().set('Org2MSP', orgGroup(org(2), 'Org2MSP', 'peer'));
  ag.getValuesMap().set('Capabilities', capabilities('V2_0'));
  ag.getPoliciesMap().set('Readers', implicitMeta('Readers', 'ANY'));
  ag.getPoliciesMap().set('Writers', implicitMeta('Writers', 'ANY'));
  ag.getPoliciesMap().set('Admins', implicitMeta('Admins', 'MAJORITY'));
  ag.getPoliciesMap().set('LifecycleEndorsement', implicitMeta('Endorsement', 'MAJORITY'));
  ag.getPoliciesMap().set('Endorsement', implicitMeta('Endorsement', 'MAJORITY'));
  ag.setModPolicy('Admins');

  const ch = new common.ConfigGroup();
  ch.getGroupsMap().set('Orderer', og);
  ch.getGroupsMap().set('Application', ag);
  const ha = new common.HashingAlgorithm();
  ha.setName('SHA256');
  ch.getValuesMap().set('HashingAlgorithm', configValue(ha));
  const bd = new common.BlockDataHashingStructure();
  bd.setWidth(0xffffffff);
  ch.getValuesMap().set('BlockDataHashingStructure', configValue(bd));
  const oa = new common.OrdererAddresses();
  oa.setAddressesList([`${consenter.host}:${consenter.port}`]);
  ch.getValuesMap().set('OrdererAddresses', configValue(oa));
  ch.getValuesMap().set('Capabilities', capabilities('V2_0'));
  ch.getPoliciesMap().set('Readers', implicitMeta('Readers', 'ANY'));
  ch.getPoliciesMap().set('Writers', implicitMeta('Writers', 'ANY'));
  ch.getPoliciesMap().set('Admins', implicitMeta('Admins', 'MAJORITY'));
  ch.setModPolicy('Admins');

  const cfg = new common.Config();
  cfg.setSequence(0);
  cfg.setChannelGroup(ch);
  const ce = new common.ConfigEnvelope();
  ce.setConfig(cfg);

  const chdr = new common.ChannelHeader();
  chdr.setType(common.HeaderType.CONFIG);
  chdr.setVersion(1);
  chdr.setChannelId(CHANNEL);
  const ts = new Timestamp();
  ts.setSeconds(Math.floor(Date.now() / 1000));
  chdr.setTimestamp(ts);
  chdr.setTxId(crypto.randomBytes(32).toString('hex'));
  chdr.setEpoch(0);
  const shdr = new common.SignatureHeader();
  shdr.setNonce(crypto.randomBytes(24));
  const hdr = new common.Header();
  hdr.setChannelHeader(chdr.serializeBinary());
  hdr.setSignatureHeader(shdr.serializeBinary());
  const payload = new common.Payload();
  payload.setHeader(hdr);
  payload.setData(ce.serializeBinary());
  const env = new common.Envelope();
  env.setPayload(payload.serializeBinary());
  const envBytes = Buffer.from(env.serializeBinary());

  const data = new common.BlockData();
  data.setDataList([envBytes]);
  const bh = new common.BlockHeader();
  bh.setNumber(0);
  bh.setPreviousHash(Buffer.alloc(0));
  bh.setDataHash(crypto.createHash('sha256').update(envBytes).digest());
  const lc = new common.LastConfig();
  lc.setIndex(0);
  const obm = new common.OrdererBlockMetadata();
  obm.setLastConfig(lc);
  const sigMd = new common.Metadata();
  sigMd.setValue(obm.serializeBinary());
  const lcMd = new common.Metadata();
  lcMd.setValue(lc.serializeBinary());
  const md = new common.BlockMetadata();
  md.setMetadataList([sigMd.serializeBinary(), lcMd.serializeBinary(), new Uint8Array(0),
    new Uint8Array(0), new Uint8Array(0)]);
  const block = new common.Block();
  block.setHeader(bh);
  block.setData(data);
  block.setMetadata(md);
  return Buffer.from(block.serializeBinary());
}

test('a genesis block built from Fabric protobufs is joined and ordered on', { timeout: 120000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-genesis-'));
  let node = null;
  let client = null;
  try {
    const cc = path.join(dir, 'crypto-config');
    execFileSync(WEFT, ['crypto', 'generate', '--config', path.join(SRC, 'config', 'crypto-config.yaml'),
      '--output', cc], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ordDir = path.join(cc, 'ordererOrganizations/example.com/orderers/orderer.example.com');
    const tls = path.join(ordDir, 'tls');
    const ports = { grpc: await freePort(), cluster: await freePort(), admin: await freePort(),
      ops: await freePort() };
    const block = genesisBlock(cc, { host: '127.0.0.1', port: ports.cluster,
      cert: fs.readFileSync(path.join(tls, 'server.crt')) });

    const log = fs.openSync(path.join(dir, 'orderer.log'), 'a');
    const child = spawn(WEFT, ['orderer', 'start', '--config', path.join(SRC, 'config', 'orderer.yaml')], {
      env: { ...process.env,
        ORDERER_GENERAL_LISTENADDRESS: '127.0.0.1', ORDERER_GENERAL_LISTENPORT: String(ports.grpc),
        ORDERER_GENERAL_CLUSTER_LISTENADDRESS: '127.0.0.1',
        ORDERER_GENERAL_CLUSTER_LISTENPORT: String(ports.cluster),
        ORDERER_GENERAL_CLUSTER_SERVERCERTIFICATE: path.join(tls, 'server.crt'),
        ORDERER_GENERAL_CLUSTER_SERVERPRIVATEKEY: path.join(tls, 'server.key'),
        ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE: path.join(tls, 'server.crt'),
        ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY: path.join(tls, 'server.key'),
        ORDERER_GENERAL_CLUSTER_ROOTCAS: path.join(tls, 'ca.crt'),
        ORDERER_GENERAL_BOOTSTRAPMETHOD: 'none', ORDERER_GENERAL_LOCALMSPDIR: path.join(ordDir, 'msp'),
        ORDERER_GENERAL_LOCALMSPID: 'OrdererMSP', ORDERER_FILELEDGER_LOCATION: path.join(dir, 'ledger'),
        ORDERER_CONSENSUS_WALDIR: path.join(dir, 'wal'), ORDERER_CHANNELPARTICIPATION_ENABLED: 'true',
        ORDERER_ADMIN_LISTENADDRESS: `127.0.0.1:${ports.admin}`,
        ORDERER_OPERATIONS_LISTENADDRESS: `127.0.0.1:${ports.ops}`, ORDERER_METRICS_PROVIDER: 'prometheus' },
      stdio: ['ignore', log, log], cwd: dir });
    fs.closeSync(log);
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
    node = { child, exited };
    const admin = `http://127.0.0.1:${ports.admin}/participation/v1/channels`;
    await waitFor(async () => (await fetch(admin)).status === 200, 30000, 'admin API');

    const join = async (bytes) => {
      const form = new FormData();
      form.append('config-block', new Blob([bytes]), 'genesis.block');
      return fetch(admin, { method: 'POST', body: form });
    };
    // a broken data hash is refused, and nothing is joined
    const bad = common.Block.deserializeBinary(block);
    bad.getHeader().setDataHash(Buffer.alloc(32, 1));
    const jb = await join(Buffer.from(bad.serializeBinary()));
    assert.ok(jb.status >= 400 && jb.status < 500, `tampered block: ${jb.status} ${await jb.text()}`);
    assert.deepStrictEqual((await (await fetch(admin)).json()).channels, []);

    const j = await join(block);
    assert.strictEqual(j.status, 201, await j.clone().text());
    const info = await j.json();
    assert.strictEqual(info.name, CHANNEL);
    assert.strictEqual(info.height, 1);
    assert.strictEqual(info.consensusRelation, 'consenter');

    // the orderer leads its single-node Raft group and orders under the block's policies
    await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.ops}/healthz`)).status === 200,
      20000, 'a Raft leader');
    client = new grpc.Client(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
    const user = loadIdentity(path.join(cc, 'peerOrganizations/org1.example.com/users/User1@org1.example.com/msp'),
      'Org1MSP');
    const bcast = (env) => new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest('/orderer.AtomicBroadcast/Broadcast', (b) => b,
        (b) => orderer.BroadcastResponse.deserializeBinary(b), null, { deadline: Date.now() + 20000 });
      call.on('data', (r) => { resolve({ status: r.getStatus(), info: r.getInfo() }); call.end(); });
      call.on('error', reject);
      call.write(env);
    });
    const ok = await bcast(envelope(user, CHANNEL, common.HeaderType.ENDORSER_TRANSACTION,
      Buffer.from('hello'), 'tx-from-org1'));
    assert.strictEqual(ok.status, common.Status.SUCCESS, ok.info);
    // an identity from an organisation the config does not list: Writers refuses it
    const stranger = loadIdentity(path.join(cc, 'peerOrganizations/org1.example.com/users/User1@org1.example.com/msp'),
      'Org9MSP');
    const no = await bcast(envelope(stranger, CHANNEL, common.HeaderType.ENDORSER_TRANSACTION,
      Buffer.from('x'), 'tx-stranger'));
    assert.strictEqual(no.status, common.Status.FORBIDDEN, no.info);

    const d = await deliverAll(client, user, CHANNEL);
    assert.strictEqual(d.status, common.Status.SUCCESS);
    assert.strictEqual(d.blocks.length, 2);
    assert.ok(d.blocks[0].bytes.equals(block), 'block 0 is served back byte for byte');
    assert.deepStrictEqual(d.blocks[1].txids, ['tx-from-org1']);
    assert.ok(d.blocks[1].prev.equals(d.blocks[0].hash), 'block 1 links to the genesis block');

    client.close();
    client = null;
    child.kill('SIGTERM');
    const r = await exited;
    node = null;
    assert.strictEqual(r.code, 0, 'clean exit');
  } finally {
    if (client) client.close();
    if (node) { node.child.kill('SIGKILL'); await node.exited; }
    if (process.env.WEFT_KEEP_TMP) console.log('kept', dir); else fs.rmSync(dir, { recursive: true, force: true });
  }
});
