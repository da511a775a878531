'use strict';
// `weft configtx genesis` output read with Fabric's generated JS protos
// (@hyperledger/fabric-protos, the classes fabric-gateway and the Node SDK
// use): Block -> Envelope -> Payload -> ConfigEnvelope -> Config, then every
// group, value, policy and MSP compared with what the input files say and
// with configtxgen's layout (value names, mod_policy paths, defaults).
//
// Two inputs:
//  * the repository's sample, config/crypto-config.yaml + config/configtx.yaml
//    (three etcdraft orderers, Org1 and Org2 with two peers each);
//  * a file written here that uses the less common keys: Orderer.Addresses
//    (the legacy /Channel/OrdererAddresses value), MaxChannels, raft options,
//    ACLs, an org whose Name differs from its MSP ID, AND / OutOf signature
//    policies, an ALL implicit-meta rule, a missing BlockValidation policy,
//    consenters whose client and server certificates differ.
//
// Environment: WEFT_BIN (the weft binary), WEFT_SOURCE_DIR (repository root).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { common, msp, orderer, peer } = require('@hyperledger/fabric-protos');

const WEFT = process.env.WEFT_BIN;
const SRC = process.env.WEFT_SOURCE_DIR || path.resolve(__dirname, '../../..');
assert.ok(WEFT, 'WEFT_BIN is not set');

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-configtx-'));
test.after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function weft(args, cwd) {
    const r = spawnSync(WEFT, args, { cwd, timeout: 60000, maxBuffer: 1 << 26 });
    if (r.error) throw r.error;
    const err = r.stderr.toString();
    assert.doesNotMatch(err, /Sanitizer|runtime error:/, err);
    assert.equal(r.status, 0, `weft ${args.join(' ')} exited ${r.status}: ${err}`);
    return r.stdout;
}

// ---- decoding helpers --------------------------------------------------

function decodeBlock(bytes) {
    const block = common.Block.deserializeBinary(bytes);
    const datas = block.getData().getDataList_asU8();
    assert.equal(datas.length, 1, 'a genesis block holds one envelope');
    const env = common.Envelope.deserializeBinary(datas[0]);
    const payload = common.Payload.deserializeBinary(env.getPayload_asU8());
    const hdr = payload.getHeader();
    const chdr = common.ChannelHeader.deserializeBinary(hdr.getChannelHeader_asU8());
    const shdr = common.SignatureHeader.deserializeBinary(hdr.getSignatureHeader_asU8());
    const cfgEnv = common.ConfigEnvelope.deserializeBinary(payload.getData_asU8());
    return { block, datas, env, payload, chdr, shdr, cfgEnv, config: cfgEnv.getConfig() };
}

const keys = (m) => Array.from(m.keys()).sort();

function group(g, name) {
    const sub = g.getGroupsMap().get(name);
    assert.ok(sub, `group ${name} missing (have ${keys(g.getGroupsMap())})`);
    assert.equal(sub.getVersion(), 0);
    return sub;
}

// Decodes config value `name` of group g with class T; checks its mod_policy.
function value(g, name, T, modPolicy = 'Admins') {
    const v = g.getValuesMap().get(name);
    assert.ok(v, `value ${name} missing (have ${keys(g.getValuesMap())})`);
    assert.equal(v.getVersion(), 0, `${name} version`);
    assert.equal(v.getModPolicy(), modPolicy, `${name} mod_policy`);
    return T.deserializeBinary(v.getValue_asU8());
}

function policyOf(g, name) {
    const p = g.getPoliciesMap().get(name);
    assert.ok(p, `policy ${name} missing (have ${keys(g.getPoliciesMap())})`);
    assert.equal(p.getModPolicy(), 'Admins', `policy ${name} mod_policy`);
    assert.equal(p.getVersion(), 0);
    return p.getPolicy();
}

const RULES = ['ANY', 'ALL', 'MAJORITY'];
function implicitMeta(g, name) {
    const pol = policyOf(g, name);
    assert.equal(pol.getType(), common.Policy.PolicyType.IMPLICIT_META, `${name} type`);
    const im = common.ImplicitMetaPolicy.deserializeBinary(pol.getValue_asU8());
    return `${RULES[im.getRule()]} ${im.getSubPolicy()}`;
}

const ROLES = ['member', 'admin', 'client', 'peer', 'orderer'];
// Signature policy back to the policy language: OR = 1-of-n, AND = n-of-n.
function signature(g, name) {
    const pol = policyOf(g, name);
    assert.equal(pol.getType(), common.Policy.PolicyType.SIGNATURE, `${name} type`);
    const env = common.SignaturePolicyEnvelope.deserializeBinary(pol.getValue_asU8());
    assert.equal(env.getVersion(), 0);
    const ids = env.getIdentitiesList().map((p) => {
        assert.equal(p.getPrincipalClassification(), msp.MSPPrincipal.Classification.ROLE);
        const role = msp.MSPRole.deserializeBinary(p.getPrincipal_asU8());
        return `'${role.getMspIdentifier()}.${ROLES[role.getRole()]}'`;
    });
    const used = new Set();
    const str = (r) => {
        if (r.hasSignedBy()) {
            const i = r.getSignedBy();
            assert.ok(i < ids.length, `signed_by ${i} out of range`);
            used.add(i);
            return ids[i];
        }
        const n = r.getNOutOf();
        const subs = n.getRulesList().map(str);
        if (n.getN() === 1) return `OR(${subs.join(',')})`;
        if (n.getN() === subs.length) return `AND(${subs.join(',')})`;
        return `OutOf(${n.getN()},${subs.join(',')})`;
    };
    const s = str(env.getRule());
    assert.equal(used.size, ids.length, `${name}: unreferenced identities`);
    return s;
}
const dsl = (s) => s.replace(/\s+/g, '');

const pemFiles = (dir) => fs.readdirSync(dir).sort().map((f) => fs.readFileSync(path.join(dir, f)));
const bufs = (list) => list.map((x) => Buffer.from(x));

// The verifying MSP of an organisation, as configtxgen builds it from MSPDir.
function checkMsp(g, mspId, mspDir) {
    const mc = value(g, 'MSP', msp.MSPConfig);
    assert.equal(mc.getType(), 0, 'MSP type FABRIC');
    const fc = msp.FabricMSPConfig.deserializeBinary(mc.getConfig_asU8());
    assert.equal(fc.getName(), mspId);
    const cacerts = pemFiles(path.join(mspDir, 'cacerts'));
    assert.equal(cacerts.length, 1);
    assert.deepEqual(bufs(fc.getRootCertsList_asU8()), cacerts, `${mspId} root certs`);
    assert.deepEqual(bufs(fc.getTlsRootCertsList_asU8()), pemFiles(path.join(mspDir, 'tlscacerts')),
        `${mspId} TLS root certs`);
    assert.equal(fc.getIntermediateCertsList().length, 0);
    assert.equal(fc.getTlsIntermediateCertsList().length, 0);
    assert.equal(fc.getAdminsList().length, 0, 'NodeOUs on: no admincerts');
    assert.equal(fc.getRevocationListList().length, 0);
    assert.equal(fc.hasSigningIdentity(), false, 'no signing identity in a channel MSP');
    const cc = fc.getCryptoConfig();
    assert.equal(cc.getSignatureHashFamily(), 'SHA2');
    assert.equal(cc.getIdentityIdentifierHashFunction(), 'SHA256');
    const ous = fc.getFabricNodeOus();
    assert.ok(ous && ous.getEnable(), `${mspId} NodeOUs enabled`);
    for (const [get, ou] of [['getClientOuIdentifier', 'client'], ['getPeerOuIdentifier', 'peer'],
        ['getAdminOuIdentifier', 'admin'], ['getOrdererOuIdentifier', 'orderer']]) {
        const id = ous[get]();
        assert.equal(id.getOrganizationalUnitIdentifier(), ou);
        assert.deepEqual(Buffer.from(id.getCertificate_asU8()), cacerts[0], `${mspId} ${ou} OU certificate`);
    }
    return fc;
}

function checkOrgPolicies(g, expected) {
    assert.deepEqual(keys(g.getPoliciesMap()), Object.keys(expected).sort());
    for (const [name, rule] of Object.entries(expected)) {
        assert.equal(signature(g, name), dsl(rule), `${name} policy`);
    }
}

function checkConsenters(ct, expected) {
    assert.equal(ct.getType(), 'etcdraft');
    assert.equal(ct.getState(), orderer.ConsensusType.State.STATE_NORMAL);
    const md = orderer.etcdraft.ConfigMetadata.deserializeBinary(ct.getMetadata_asU8());
    const cs = md.getConsentersList();
    assert.deepEqual(cs.map((c) => `${c.getHost()}:${c.getPort()}`), expected.map((e) => `${e.host}:${e.port}`));
    cs.forEach((c, i) => {
        assert.deepEqual(Buffer.from(c.getClientTlsCert_asU8()), fs.readFileSync(expected[i].client),
            `consenter ${i} client TLS cert`);
        assert.deepEqual(Buffer.from(c.getServerTlsCert_asU8()), fs.readFileSync(expected[i].server),
            `consenter ${i} server TLS cert`);
    });
    return md.getOptions();
}

// Block header, metadata, envelope and headers of a configtxgen-style genesis block.
function checkBlockFrame(d, bytes, channel) {
    const h = d.block.getHeader();
    assert.equal(h.getNumber(), 0);
    assert.equal(h.getPreviousHash_asU8().length, 0);
    // BlockDataHashingStructure width 2^32-1: SHA-256 of the concatenated data.
    const want = crypto.createHash('sha256').update(Buffer.concat(bufs(d.datas))).digest();
    assert.deepEqual(Buffer.from(h.getDataHash_asU8()), want, 'data hash = SHA-256 of the data');
    // Metadata: five slots; SIGNATURES holds OrdererBlockMetadata{last_config 0},
    // LAST_CONFIG holds index 0, as configtxgen writes them.
    const md = d.block.getMetadata().getMetadataList_asU8();
    assert.equal(md.length, 5);
    const sig = common.Metadata.deserializeBinary(md[0]);
    const obm = common.OrdererBlockMetadata.deserializeBinary(sig.getValue_asU8());
    assert.ok(obm.hasLastConfig(), 'OrdererBlockMetadata.last_config present');
    assert.equal(obm.getLastConfig().getIndex(), 0);
    const lc = common.LastConfig.deserializeBinary(common.Metadata.deserializeBinary(md[1]).getValue_asU8());
    assert.equal(lc.getIndex(), 0);
    // JS re-encodes the whole block to the same bytes (maps sorted by key).
    assert.deepEqual(Buffer.from(d.block.serializeBinary()), bytes, 'JS re-encoding is byte-identical');

    assert.equal(d.env.getSignature_asU8().length, 0, 'genesis envelope is unsigned');
    assert.equal(d.chdr.getType(), common.HeaderType.CONFIG);
    assert.equal(d.chdr.getVersion(), 1);
    assert.equal(d.chdr.getChannelId(), channel);
    assert.equal(d.chdr.getEpoch(), 0);
    const ts = d.chdr.getTimestamp().getSeconds();
    assert.ok(Math.abs(ts - Date.now() / 1000) < 600, `timestamp ${ts} is now`);
    const nonce = Buffer.from(d.shdr.getNonce_asU8());
    const creator = Buffer.from(d.shdr.getCreator_asU8());
    assert.equal(nonce.length, 24);
    assert.equal(creator.length, 0);
    assert.equal(d.chdr.getTxId(),
        crypto.createHash('sha256').update(Buffer.concat([nonce, creator])).digest('hex'),
        'tx id = hex SHA-256(nonce || creator)');
    assert.equal(d.cfgEnv.hasLastUpdate(), false);
    assert.equal(d.config.getSequence(), 0);
}

function checkChannelGroup(ch, { addresses, groups }) {
    assert.equal(ch.getModPolicy(), 'Admins');
    assert.equal(ch.getVersion(), 0);
    assert.deepEqual(keys(ch.getGroupsMap()), groups);
    const vals = ['BlockDataHashingStructure', 'Capabilities', 'HashingAlgorithm'];
    if (addresses) vals.push('OrdererAddresses');
    assert.deepEqual(keys(ch.getValuesMap()), vals.sort());
    assert.equal(value(ch, 'HashingAlgorithm', common.HashingAlgorithm).getName(), 'SHA256');
    assert.equal(value(ch, 'BlockDataHashingStructure', common.BlockDataHashingStructure).getWidth(), 4294967295);
    assert.deepEqual(keys(value(ch, 'Capabilities', common.Capabilities).getCapabilitiesMap()), ['V2_0']);
    if (addresses) {
        // configtxgen writes the legacy value under the orderer admins' control.
        assert.deepEqual(value(ch, 'OrdererAddresses', common.OrdererAddresses, '/Channel/Orderer/Admins')
            .getAddressesList(), addresses);
    }
    assert.deepEqual(keys(ch.getPoliciesMap()), ['Admins', 'Readers', 'Writers']);
    assert.equal(implicitMeta(ch, 'Readers'), 'ANY Readers');
    assert.equal(implicitMeta(ch, 'Writers'), 'ANY Writers');
    assert.equal(implicitMeta(ch, 'Admins'), 'MAJORITY Admins');
}

function inspect(file, extra = []) {
    return JSON.parse(weft(['configtx', 'inspect', file, ...extra]).toString());
}

// ---- the repository sample ------------------------------------------------

test('sample config/configtx.yaml: genesis block decoded by fabric-protos', () => {
    const dir = path.join(tmpRoot, 'sample');
    fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
    for (const f of ['crypto-config.yaml', 'configtx.yaml']) {
        fs.copyFileSync(path.join(SRC, 'config', f), path.join(dir, 'config', f));
    }
    weft(['crypto', 'generate', '--config', 'config/crypto-config.yaml', '--output', 'crypto-config'], dir);
    weft(['configtx', 'genesis', '--config', 'config/configtx.yaml', '--profile', 'TwoOrgsApplicationGenesis',
        '--channel', 'mychannel', '--output', 'mychannel.block'], dir);
    const blockFile = path.join(dir, 'mychannel.block');
    const bytes = fs.readFileSync(blockFile);
    const d = decodeBlock(bytes);
    checkBlockFrame(d, bytes, 'mychannel');

    const cc = path.join(dir, 'crypto-config');
    const ordOrgDir = path.join(cc, 'ordererOrganizations/example.com');
    const ch = d.config.getChannelGroup();
    checkChannelGroup(ch, { addresses: null, groups: ['Application', 'Orderer'] });

    // Orderer group.
    const ord = group(ch, 'Orderer');
    assert.equal(ord.getModPolicy(), 'Admins');
    assert.deepEqual(keys(ord.getValuesMap()),
        ['BatchSize', 'BatchTimeout', 'Capabilities', 'ChannelRestrictions', 'ConsensusType']);
    const tls = (h) => path.join(ordOrgDir, 'orderers', h, 'tls/server.crt');
    const opts = checkConsenters(value(ord, 'ConsensusType', orderer.ConsensusType), [
        { host: 'orderer.example.com', port: 7050, client: tls('orderer.example.com'), server: tls('orderer.example.com') },
        { host: 'orderer2.example.com', port: 8050, client: tls('orderer2.example.com'), server: tls('orderer2.example.com') },
        { host: 'orderer3.example.com', port: 9050, client: tls('orderer3.example.com'), server: tls('orderer3.example.com') },
    ]);
    assert.equal(opts.getTickInterval(), '500ms');
    assert.equal(opts.getElectionTick(), 10);
    assert.equal(opts.getHeartbeatTick(), 1);
    assert.equal(opts.getMaxInflightBlocks(), 5);
    assert.equal(opts.getSnapshotIntervalSize(), 16 * 1024 * 1024);
    const bs = value(ord, 'BatchSize', orderer.BatchSize);
    assert.deepEqual([bs.getMaxMessageCount(), bs.getAbsoluteMaxBytes(), bs.getPreferredMaxBytes()],
        [500, 10 * 1024 * 1024, 2 * 1024 * 1024]);
    assert.equal(value(ord, 'BatchTimeout', orderer.BatchTimeout).getTimeout(), '2s');
    assert.equal(value(ord, 'ChannelRestrictions', orderer.ChannelRestrictions).getMaxCount(), 0);
    assert.deepEqual(keys(value(ord, 'Capabilities', common.Capabilities).getCapabilitiesMap()), ['V2_0']);
    assert.deepEqual(keys(ord.getPoliciesMap()), ['Admins', 'BlockValidation', 'Readers', 'Writers']);
    assert.equal(implicitMeta(ord, 'Readers'), 'ANY Readers');
    assert.equal(implicitMeta(ord, 'Writers'), 'ANY Writers');
    assert.equal(implicitMeta(ord, 'Admins'), 'MAJORITY Admins');
    assert.equal(implicitMeta(ord, 'BlockValidation'), 'ANY Writers');
    assert.deepEqual(keys(ord.getGroupsMap()), ['OrdererOrg']);
    const oo = group(ord, 'OrdererOrg');
    assert.equal(oo.getModPolicy(), 'Admins');
    assert.deepEqual(keys(oo.getValuesMap()), ['Endpoints', 'MSP']);
    checkMsp(oo, 'OrdererMSP', path.join(ordOrgDir, 'msp'));
    assert.deepEqual(value(oo, 'Endpoints', common.OrdererAddresses).getAddressesList(),
        ['orderer.example.com:7050', 'orderer2.example.com:8050', 'orderer3.example.com:9050']);
    checkOrgPolicies(oo, {
        Readers: "OR('OrdererMSP.member')", Writers: "OR('OrdererMSP.member')", Admins: "OR('OrdererMSP.admin')",
    });

    // Application group.
    const app = group(ch, 'Application');
    assert.equal(app.getModPolicy(), 'Admins');
    assert.deepEqual(keys(app.getValuesMap()), ['Capabilities']);
    assert.deepEqual(keys(value(app, 'Capabilities', common.Capabilities).getCapabilitiesMap()), ['V2_0']);
    assert.deepEqual(keys(app.getPoliciesMap()),
        ['Admins', 'Endorsement', 'LifecycleEndorsement', 'Readers', 'Writers']);
    assert.equal(implicitMeta(app, 'Readers'), 'ANY Readers');
    assert.equal(implicitMeta(app, 'Writers'), 'ANY Writers');
    assert.equal(implicitMeta(app, 'Admins'), 'MAJORITY Admins');
    assert.equal(implicitMeta(app, 'LifecycleEndorsement'), 'MAJORITY Endorsement');
    assert.equal(implicitMeta(app, 'Endorsement'), 'MAJORITY Endorsement');
    assert.deepEqual(keys(app.getGroupsMap()), ['Org1MSP', 'Org2MSP']);
    for (const [n, port] of [[1, 7051], [2, 9051]]) {
        const id = `Org${n}MSP`;
        const og = group(app, id);
        assert.equal(og.getModPolicy(), 'Admins');
        assert.deepEqual(keys(og.getValuesMap()), ['AnchorPeers', 'MSP']);
        checkMsp(og, id, path.join(cc, `peerOrganizations/org${n}.example.com/msp`));
        const ap = value(og, 'AnchorPeers', peer.AnchorPeers).getAnchorPeersList();
        assert.deepEqual(ap.map((a) => [a.getHost(), a.getPort()]), [[`peer0.org${n}.example.com`, port]]);
        checkOrgPolicies(og, {
            Readers: `OR('${id}.admin', '${id}.peer', '${id}.client')`,
            Writers: `OR('${id}.admin', '${id}.client')`,
            Admins: `OR('${id}.admin')`,
            Endorsement: `OR('${id}.peer')`,
        });
    }

    // `weft configtx inspect` prints the same things.
    const j = inspect(blockFile);
    assert.equal(j.header.number, '0');
    assert.equal(j.header.data_hash, Buffer.from(d.block.getHeader().getDataHash_asU8()).toString('base64'));
    const jp = j.data.data[0].payload;
    assert.equal(jp.header.channel_header.channel_id, 'mychannel');
    assert.equal(jp.header.channel_header.tx_id, d.chdr.getTxId());
    assert.equal(jp.header.signature_header.nonce, Buffer.from(d.shdr.getNonce_asU8()).toString('base64'));
    const jc = jp.data.config.channel_group;
    assert.equal(jc.values.BlockDataHashingStructure.value.width, 4294967295);
    const jct = jc.groups.Orderer.values.ConsensusType.value;
    assert.equal(jct.type, 'etcdraft');
    assert.deepEqual(jct.metadata.consenters.map((c) => [c.host, c.port, c.server_tls_cert]),
        [['orderer.example.com', 7050, fs.readFileSync(tls('orderer.example.com')).toString('base64')],
            ['orderer2.example.com', 8050, fs.readFileSync(tls('orderer2.example.com')).toString('base64')],
            ['orderer3.example.com', 9050, fs.readFileSync(tls('orderer3.example.com')).toString('base64')]]);
    assert.equal(jc.groups.Orderer.values.BatchSize.value.max_message_count, 500);
    const jmsp = jc.groups.Application.groups.Org2MSP.values.MSP.value.config;
    assert.equal(jmsp.name, 'Org2MSP');
    assert.deepEqual(jmsp.root_certs,
        pemFiles(path.join(cc, 'peerOrganizations/org2.example.com/msp/cacerts')).map((b) => b.toString('base64')));
    assert.equal(jc.groups.Application.policies.Endorsement.policy.value.rule, 'MAJORITY');
    assert.equal(jc.groups.Application.policies.Endorsement.policy.value.sub_policy, 'Endorsement');
    assert.deepEqual(
        jc.groups.Application.groups.Org1MSP.policies.Admins.policy.value.identities[0].principal,
        { msp_identifier: 'Org1MSP', role: 'ADMIN' });

    // The Config as re-encoded by JS, read back by `inspect --type common.Config`.
    const cfgFile = path.join(dir, 'config.pb');
    fs.writeFileSync(cfgFile, d.config.serializeBinary());
    const jcfg = inspect(cfgFile, ['--type', 'common.Config']);
    assert.deepEqual(jcfg.channel_group, jc);
});

// ---- the less common keys ---------------------------------------------------

const CRYPTO_YAML = `
OrdererOrgs:
  - Name: Ord
    Domain: ord.test
    EnableNodeOUs: true
    Specs:
      - Hostname: o1
      - Hostname: o2
PeerOrgs:
  - Name: A
    Domain: a.test
    EnableNodeOUs: true
    Template: {Count: 2}
    Users: {Count: 1}
  - Name: B
    Domain: b.test
    EnableNodeOUs: true
    Template: {Count: 1}
  - Name: C
    Domain: c.test
    EnableNodeOUs: true
    Template: {Count: 1}
`;

const sig = (r) => `{Type: Signature, Rule: "${r}"}`;
const im = (r) => `{Type: ImplicitMeta, Rule: "${r}"}`;
const peerOrg = (name, id, dom, endorsement, anchors) => `
  - &${name}
    Name: ${name}
    ID: ${id}
    MSPDir: crypto/peerOrganizations/${dom}/msp
    Policies:
      Readers: ${sig(`OR('${id}.admin', '${id}.peer', '${id}.client')`)}
      Writers: ${sig(`OR('${id}.admin', '${id}.client')`)}
      Admins: ${sig(`OR('${id}.admin')`)}
      Endorsement: ${sig(endorsement)}
${anchors ? `    AnchorPeers:\n${anchors.map(([h, p]) => `      - {Host: ${h}, Port: ${p}}`).join('\n')}` : ''}
`;

const CONFIGTX_YAML = `
Organizations:
  - &Ord
    Name: OrdOrg
    ID: OrdMSP
    MSPDir: crypto/ordererOrganizations/ord.test/msp
    Policies:
      Readers: ${sig("OR('OrdMSP.member')")}
      Writers: ${sig("OR('OrdMSP.member')")}
      Admins: ${sig("OR('OrdMSP.admin')")}
    OrdererEndpoints: [o1.ord.test:7050, o2.ord.test:7150]
${peerOrg('OrgA', 'AMSP', 'a.test', "OR('AMSP.peer')", [['peer0.a.test', 7051], ['peer1.a.test', 7151]])}
${peerOrg('OrgB', 'BMSP', 'b.test', "AND('BMSP.peer', 'BMSP.admin')", null)}
${peerOrg('OrgC', 'CMSP', 'c.test', "OutOf(2, 'CMSP.peer', 'CMSP.admin', 'CMSP.client')", [['peer0.c.test', 9051]])}
Profiles:
  Custom:
    Policies:
      Readers: ${im('ANY Readers')}
      Writers: ${im('ANY Writers')}
      Admins: ${im('MAJORITY Admins')}
    Capabilities: {V2_0: true}
    Orderer:
      OrdererType: etcdraft
      Addresses: [o1.ord.test:7050, o2.ord.test:7150]
      BatchTimeout: 250ms
      BatchSize: {MaxMessageCount: 10, AbsoluteMaxBytes: 1 MB, PreferredMaxBytes: 512 KB}
      MaxChannels: 5
      EtcdRaft:
        Consenters:
          - Host: o1.ord.test
            Port: 7050
            ClientTLSCert: crypto/ordererOrganizations/ord.test/users/Admin@ord.test/tls/client.crt
            ServerTLSCert: crypto/ordererOrganizations/ord.test/orderers/o1.ord.test/tls/server.crt
          - Host: o2.ord.test
            Port: 7150
            ClientTLSCert: crypto/ordererOrganizations/ord.test/orderers/o2.ord.test/tls/server.crt
            ServerTLSCert: crypto/ordererOrganizations/ord.test/orderers/o2.ord.test/tls/server.crt
        Options:
          TickInterval: 100ms
          ElectionTick: 20
          HeartbeatTick: 2
          MaxInflightBlocks: 7
          SnapshotIntervalSize: 4 MB
      Organizations: [*Ord]
      Policies:
        Readers: ${im('ANY Readers')}
        Writers: ${im('ANY Writers')}
        Admins: ${im('MAJORITY Admins')}
      Capabilities: {V2_0: true}
    Application:
      Organizations: [*OrgA, *OrgB, *OrgC]
      ACLs:
        peer/Propose: /Channel/Application/Writers
        event/Block: /Channel/Application/Readers
      Policies:
        Readers: ${im('ANY Readers')}
        Writers: ${im('ANY Writers')}
        Admins: ${im('MAJORITY Admins')}
        LifecycleEndorsement: ${im('MAJORITY Endorsement')}
        Endorsement: ${im('ALL Endorsement')}
      Capabilities: {V2_0: true}
`;

test('custom configtx.yaml: legacy addresses, ACLs, raft options, AND/OutOf policies', () => {
    const dir = path.join(tmpRoot, 'custom');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'crypto.yaml'), CRYPTO_YAML);
    fs.writeFileSync(path.join(dir, 'configtx.yaml'), CONFIGTX_YAML);
    weft(['crypto', 'generate', '--config', 'crypto.yaml', '--output', 'crypto'], dir);
    // configtxgen's own spelling of the options.
    weft(['configtx', '-profile', 'Custom', '-channelID', 'other-chan', '-outputBlock', 'g.block',
        '-configPath', dir], dir);
    const bytes = fs.readFileSync(path.join(dir, 'g.block'));
    const d = decodeBlock(bytes);
    checkBlockFrame(d, bytes, 'other-chan');

    const cr = path.join(dir, 'crypto');
    const ch = d.config.getChannelGroup();
    checkChannelGroup(ch, { addresses: ['o1.ord.test:7050', 'o2.ord.test:7150'], groups: ['Application', 'Orderer'] });

    const ord = group(ch, 'Orderer');
    const od = path.join(cr, 'ordererOrganizations/ord.test');
    const opts = checkConsenters(value(ord, 'ConsensusType', orderer.ConsensusType), [
        { host: 'o1.ord.test', port: 7050, client: path.join(od, 'users/Admin@ord.test/tls/client.crt'),
            server: path.join(od, 'orderers/o1.ord.test/tls/server.crt') },
        { host: 'o2.ord.test', port: 7150, client: path.join(od, 'orderers/o2.ord.test/tls/server.crt'),
            server: path.join(od, 'orderers/o2.ord.test/tls/server.crt') },
    ]);
    assert.deepEqual([opts.getTickInterval(), opts.getElectionTick(), opts.getHeartbeatTick(),
        opts.getMaxInflightBlocks(), opts.getSnapshotIntervalSize()], ['100ms', 20, 2, 7, 4 * 1024 * 1024]);
    const bs = value(ord, 'BatchSize', orderer.BatchSize);
    assert.deepEqual([bs.getMaxMessageCount(), bs.getAbsoluteMaxBytes(), bs.getPreferredMaxBytes()],
        [10, 1024 * 1024, 512 * 1024]);
    assert.equal(value(ord, 'BatchTimeout', orderer.BatchTimeout).getTimeout(), '250ms');
    assert.equal(value(ord, 'ChannelRestrictions', orderer.ChannelRestrictions).getMaxCount(), 5);
    // BlockValidation was not written in the file: configtxgen adds ANY Writers.
    assert.deepEqual(keys(ord.getPoliciesMap()), ['Admins', 'BlockValidation', 'Readers', 'Writers']);
    assert.equal(implicitMeta(ord, 'BlockValidation'), 'ANY Writers');
    const oo = group(ord, 'OrdOrg');
    checkMsp(oo, 'OrdMSP', path.join(od, 'msp'));
    assert.deepEqual(value(oo, 'Endpoints', common.OrdererAddresses).getAddressesList(),
        ['o1.ord.test:7050', 'o2.ord.test:7150']);

    const app = group(ch, 'Application');
    assert.deepEqual(keys(app.getValuesMap()), ['ACLs', 'Capabilities']);
    const acls = value(app, 'ACLs', peer.ACLs).getAclsMap();
    assert.deepEqual(keys(acls), ['event/Block', 'peer/Propose']);
    assert.equal(acls.get('peer/Propose').getPolicyRef(), '/Channel/Application/Writers');
    assert.equal(acls.get('event/Block').getPolicyRef(), '/Channel/Application/Readers');
    assert.equal(implicitMeta(app, 'Endorsement'), 'ALL Endorsement');
    assert.equal(implicitMeta(app, 'LifecycleEndorsement'), 'MAJORITY Endorsement');
    // Group keys are the organisations' Names; the MSP inside carries the ID.
    assert.deepEqual(keys(app.getGroupsMap()), ['OrgA', 'OrgB', 'OrgC']);
    const orgs = [
        ['OrgA', 'AMSP', 'a.test', "OR('AMSP.peer')", [['peer0.a.test', 7051], ['peer1.a.test', 7151]]],
        ['OrgB', 'BMSP', 'b.test', "AND('BMSP.peer', 'BMSP.admin')", null],
        ['OrgC', 'CMSP', 'c.test', "OutOf(2, 'CMSP.peer', 'CMSP.admin', 'CMSP.client')", [['peer0.c.test', 9051]]],
    ];
    for (const [name, id, dom, endorsement, anchors] of orgs) {
        const og = group(app, name);
        checkMsp(og, id, path.join(cr, 'peerOrganizations', dom, 'msp'));
        if (anchors) {
            assert.deepEqual(keys(og.getValuesMap()), ['AnchorPeers', 'MSP']);
            assert.deepEqual(value(og, 'AnchorPeers', peer.AnchorPeers).getAnchorPeersList()
                .map((a) => [a.getHost(), a.getPort()]), anchors);
        } else {
            assert.deepEqual(keys(og.getValuesMap()), ['MSP'], 'no AnchorPeers value without anchor peers');
        }
        checkOrgPolicies(og, {
            Readers: `OR('${id}.admin', '${id}.peer', '${id}.client')`,
            Writers: `OR('${id}.admin', '${id}.client')`,
            Admins: `OR('${id}.admin')`,
            Endorsement: endorsement,
        });
    }

    const j = inspect(path.join(dir, 'g.block'));
    const jc = j.data.data[0].payload.data.config.channel_group;
    assert.deepEqual(jc.values.OrdererAddresses.value.addresses, ['o1.ord.test:7050', 'o2.ord.test:7150']);
    assert.equal(jc.values.OrdererAddresses.mod_policy, '/Channel/Orderer/Admins');
    assert.equal(jc.groups.Orderer.values.BatchTimeout.value.timeout, '250ms');
    assert.equal(jc.groups.Application.groups.OrgB.values.MSP.value.config.name, 'BMSP');
    assert.equal(jc.groups.Application.groups.OrgC.policies.Endorsement.policy.value.rule.n_out_of.n, 2);
});
