'use strict';
// Wire compatibility of weft's protobuf-c code with Fabric's generated JS
// protos (@hyperledger/fabric-protos, google-protobuf based).
//
//  * JS -> C: fully populated messages built with fabric-protos are piped
//    through `wire_roundtrip decode-encode <Type>`; the bytes must come back
//    identical.
//  * C -> JS: `wire_roundtrip make <Type>` emits the C-built sample; JS
//    decodes it, checks field values against the same sample built here, and
//    re-encodes to identical bytes.
//  * Malformed input makes the C tool fail cleanly (exit 1 with a message).
//
// Both sides emit fields in field-number order and omit proto3 defaults
// (oneof members excepted), so byte identity is expected. Known, harmless
// divergences are pinned down in the "documented differences" test:
//  - google-protobuf writes map-entry keys/values even when they are the
//    default (key 0, "" or empty bytes); protobuf-c omits them on
//    re-encode. Both decode either form to the same map.
//  - google-protobuf sorts map entries by key (string order, even for
//    integer keys); protobuf-c keeps wire order. Decode-encode therefore
//    preserves JS order, and the C samples list map entries sorted.
//
// Environment: WIRE_ROUNDTRIP = path of the wire_roundtrip binary.
// The samples below mirror wire_roundtrip.c value for value.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
require('@hyperledger/fabric-protos');
require('google-protobuf/google/protobuf/timestamp_pb');
require('google-protobuf/google/protobuf/any_pb');

const P = globalThis.proto; // google-protobuf registers every message here
const TOOL = process.env.WIRE_ROUNDTRIP;

function type(name) {
    const t = name.split('.').reduce((o, k) => (o ? o[k] : undefined), P);
    assert.ok(t, `no JS class for ${name}`);
    return t;
}

function run(args, input) {
    const r = spawnSync(TOOL, args, { input: input ?? Buffer.alloc(0), timeout: 30000, maxBuffer: 1 << 26 });
    if (r.error) throw r.error;
    // Under the ASan build a sanitizer report must fail the test even when
    // the exit status happens to be the expected one.
    assert.doesNotMatch(r.stderr.toString(), /Sanitizer|runtime error:/);
    return r;
}

function cMake(name) {
    const r = run(['make', name]);
    assert.equal(r.status, 0, `make ${name} failed: ${r.stderr}`);
    return r.stdout;
}

function cRoundTrip(typeName, bytes) {
    const r = run(['decode-encode', typeName], Buffer.from(bytes));
    assert.equal(r.status, 0, `decode-encode ${typeName} failed: ${r.stderr}`);
    return r.stdout;
}

function pat(n, seed) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (seed + 7 * i) & 0xff;
    return b;
}

const b = (s) => Buffer.from(s);
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBweft\n-----END CERTIFICATE-----\n';

function ts(seconds, nanos) {
    const t = new P.google.protobuf.Timestamp();
    t.setSeconds(seconds);
    t.setNanos(nanos);
    return t;
}
const tsA = () => ts(1700000000, 123456789);
const tsB = () => ts(1700000001, 5);

function creator() {
    const id = new P.msp.SerializedIdentity();
    id.setMspid('Org1MSP');
    id.setIdBytes(b(CERT));
    return id.serializeBinary();
}

function channelHeader() {
    const ccid = new P.protos.ChaincodeID();
    ccid.setName('basic');
    ccid.setVersion('1.0');
    const ext = new P.protos.ChaincodeHeaderExtension();
    ext.setChaincodeId(ccid);
    const ch = new P.common.ChannelHeader();
    ch.setType(P.common.HeaderType.ENDORSER_TRANSACTION);
    ch.setVersion(2);
    ch.setTimestamp(tsA());
    ch.setChannelId('mychannel');
    ch.setTxId('a1b2c3d4');
    ch.setEpoch(7);
    ch.setExtension$(ext.serializeBinary());
    ch.setTlsCertHash(pat(32, 1));
    return ch.serializeBinary();
}

function signatureHeader() {
    const sh = new P.common.SignatureHeader();
    sh.setCreator(creator());
    sh.setNonce(pat(24, 0));
    return sh.serializeBinary();
}

function header() {
    const h = new P.common.Header();
    h.setChannelHeader(channelHeader());
    h.setSignatureHeader(signatureHeader());
    return h.serializeBinary();
}

function ccProposalPayload() {
    const input = new P.protos.ChaincodeInput();
    input.setArgsList([b('CreateAsset'), b('asset1'), b('blue')]);
    input.getDecorationsMap().set('trace', b('on'));
    input.setIsInit(true);
    const ccid = new P.protos.ChaincodeID();
    ccid.setName('basic');
    const spec = new P.protos.ChaincodeSpec();
    spec.setType(P.protos.ChaincodeSpec.Type.NODE);
    spec.setChaincodeId(ccid);
    spec.setInput(input);
    spec.setTimeout(30);
    const cis = new P.protos.ChaincodeInvocationSpec();
    cis.setChaincodeSpec(spec);
    const cpp = new P.protos.ChaincodeProposalPayload();
    cpp.setInput(cis.serializeBinary());
    cpp.getTransientmapMap().set('zeta', pat(3, 1)); // inserted unsorted on purpose
    cpp.getTransientmapMap().set('secret', b('s3cr3t'));
    return cpp.serializeBinary();
}

function signedProposal() {
    const prop = new P.protos.Proposal();
    prop.setHeader(header());
    prop.setPayload(ccProposalPayload());
    prop.setExtension$(b('ext'));
    const sp = new P.protos.SignedProposal();
    sp.setProposalBytes(prop.serializeBinary());
    sp.setSignature(pat(71, 0x30));
    return sp;
}

function policyEnvelope() {
    const role = new P.common.MSPRole();
    role.setMspIdentifier('Org1MSP');
    role.setRole(P.common.MSPRole.MSPRoleType.PEER);
    const ou = new P.common.OrganizationUnit();
    ou.setMspIdentifier('Org2MSP');
    ou.setOrganizationalUnitIdentifier('dept1');
    ou.setCertifiersIdentifier(pat(32, 9));
    const p1 = new P.common.MSPPrincipal();
    p1.setPrincipalClassification(P.common.MSPPrincipal.Classification.ROLE);
    p1.setPrincipal(role.serializeBinary());
    const p2 = new P.common.MSPPrincipal();
    p2.setPrincipalClassification(P.common.MSPPrincipal.Classification.ORGANIZATION_UNIT);
    p2.setPrincipal(ou.serializeBinary());
    const s0 = new P.common.SignaturePolicy();
    s0.setSignedBy(0);
    const s1 = new P.common.SignaturePolicy();
    s1.setSignedBy(1);
    const nof = new P.common.SignaturePolicy.NOutOf();
    nof.setN(1);
    nof.setRulesList([s0, s1]);
    const top = new P.common.SignaturePolicy();
    top.setNOutOf(nof);
    const env = new P.common.SignaturePolicyEnvelope();
    env.setVersion(-1);
    env.setRule(top);
    env.setIdentitiesList([p1, p2]);
    return env;
}

function chaincodeEvent(withPayload) {
    const ev = new P.protos.ChaincodeEvent();
    ev.setChaincodeId('basic');
    ev.setTxId('a1b2c3d4');
    ev.setEventName('Created');
    if (withPayload) ev.setPayload(b('{"id":"asset1"}'));
    return ev;
}

function proposalResponsePayload() {
    const resp = new P.protos.Response();
    resp.setStatus(200);
    resp.setPayload(b('result'));
    const ccid = new P.protos.ChaincodeID();
    ccid.setName('basic');
    ccid.setVersion('1.0');
    const act = new P.protos.ChaincodeAction();
    act.setResults(b('rwset'));
    act.setEvents(chaincodeEvent(true).serializeBinary());
    act.setResponse(resp);
    act.setChaincodeId(ccid);
    const prp = new P.protos.ProposalResponsePayload();
    prp.setProposalHash(pat(32, 3));
    prp.setExtension$(act.serializeBinary());
    return prp.serializeBinary();
}

function proposalResponse() {
    const resp = new P.protos.Response();
    resp.setStatus(200);
    resp.setMessage('OK');
    resp.setPayload(b('result'));
    const end = new P.protos.Endorsement();
    end.setEndorser(creator());
    end.setSignature(pat(70, 0x30));
    const call = new P.protos.ChaincodeCall();
    call.setName('basic');
    call.setCollectionNamesList(['c1', 'c2']);
    call.setNoPrivateReads(true);
    call.setNoPublicWrites(true);
    call.setKeyPoliciesList([policyEnvelope()]);
    call.setDisregardNamespacePolicy(true);
    const call2 = new P.protos.ChaincodeCall();
    call2.setName('other');
    const interest = new P.protos.ChaincodeInterest();
    interest.setChaincodesList([call, call2]);
    const pr = new P.protos.ProposalResponse();
    pr.setVersion(1);
    pr.setTimestamp(tsB());
    pr.setResponse(resp);
    pr.setPayload(proposalResponsePayload());
    pr.setEndorsement(end);
    pr.setInterest(interest);
    return pr;
}

function txEnvelope() {
    const e1 = new P.protos.Endorsement();
    e1.setEndorser(creator());
    e1.setSignature(pat(70, 0x40));
    const e2 = new P.protos.Endorsement();
    e2.setEndorser(b('org2-peer'));
    e2.setSignature(pat(71, 0x50));
    const cea = new P.protos.ChaincodeEndorsedAction();
    cea.setProposalResponsePayload(proposalResponsePayload());
    cea.setEndorsementsList([e1, e2]);
    const cap = new P.protos.ChaincodeActionPayload();
    cap.setChaincodeProposalPayload(ccProposalPayload());
    cap.setAction(cea);
    const ta = new P.protos.TransactionAction();
    ta.setHeader(signatureHeader());
    ta.setPayload(cap.serializeBinary());
    const tx = new P.protos.Transaction();
    tx.setActionsList([ta]);
    const hdr = new P.common.Header();
    hdr.setChannelHeader(channelHeader());
    hdr.setSignatureHeader(signatureHeader());
    const pl = new P.common.Payload();
    pl.setHeader(hdr);
    pl.setData(tx.serializeBinary());
    const env = new P.common.Envelope();
    env.setPayload(pl.serializeBinary());
    env.setSignature(pat(72, 0x60));
    return env;
}

function block() {
    const bh = new P.common.BlockHeader();
    bh.setNumber(42);
    bh.setPreviousHash(pat(32, 5));
    bh.setDataHash(pat(32, 6));
    const bd = new P.common.BlockData();
    bd.setDataList([txEnvelope().serializeBinary(), b('second')]);
    const lc = new P.common.LastConfig();
    lc.setIndex(3);
    const raft = new P.etcdraft.BlockMetadata();
    raft.setConsenterIdsList([1, 2, 300]);
    raft.setNextConsenterId(4);
    raft.setRaftIndex(99);
    const obm = new P.common.OrdererBlockMetadata();
    obm.setLastConfig(lc);
    obm.setConsenterMetadata(raft.serializeBinary());
    const ms = new P.common.MetadataSignature();
    ms.setSignatureHeader(signatureHeader());
    ms.setSignature(pat(70, 0x70));
    const sigs = new P.common.Metadata();
    sigs.setValue(obm.serializeBinary());
    sigs.setSignaturesList([ms]);
    const lcm = new P.common.Metadata();
    lcm.setValue(lc.serializeBinary());
    const bm = new P.common.BlockMetadata();
    bm.setMetadataList([sigs.serializeBinary(), lcm.serializeBinary(), Buffer.from([0, 11]), Buffer.alloc(0), pat(32, 8)]);
    const blk = new P.common.Block();
    blk.setHeader(bh);
    blk.setData(bd);
    blk.setMetadata(bm);
    return blk;
}

function chaincodeMessage() {
    const qm = new P.protos.QueryMetadata();
    qm.setPagesize(10);
    qm.setBookmark('bm1');
    const gsr = new P.protos.GetStateByRange();
    gsr.setStartkey('a');
    gsr.setEndkey('z');
    gsr.setCollection('c1');
    gsr.setMetadata(qm.serializeBinary());
    const cm = new P.protos.ChaincodeMessage();
    cm.setType(P.protos.ChaincodeMessage.Type.GET_STATE_BY_RANGE);
    cm.setTimestamp(tsA());
    cm.setPayload(gsr.serializeBinary());
    cm.setTxid('a1b2c3d4');
    cm.setProposal(signedProposal());
    cm.setChaincodeEvent(chaincodeEvent(true));
    cm.setChannelId('mychannel');
    return cm;
}

function endorseRequest() {
    const er = new P.gateway.EndorseRequest();
    er.setTransactionId('a1b2c3d4');
    er.setChannelId('mychannel');
    er.setProposedTransaction(signedProposal());
    er.setEndorsingOrganizationsList(['Org1MSP', 'Org2MSP']);
    return er;
}

function deliverResponse(variant) {
    const dr = new P.protos.DeliverResponse();
    if (variant === 'block') dr.setBlock(block());
    else if (variant === 'status') dr.setStatus(P.common.Status.NOT_FOUND);
    else if (variant === 'status0') dr.setStatus(P.common.Status.UNKNOWN);
    else if (variant === 'filtered') {
        const fca = new P.protos.FilteredChaincodeAction();
        fca.setChaincodeEvent(chaincodeEvent(false));
        const fta = new P.protos.FilteredTransactionActions();
        fta.setChaincodeActionsList([fca]);
        const ft1 = new P.protos.FilteredTransaction();
        ft1.setTxid('a1b2c3d4');
        ft1.setType(P.common.HeaderType.ENDORSER_TRANSACTION);
        ft1.setTxValidationCode(P.protos.TxValidationCode.MVCC_READ_CONFLICT);
        ft1.setTransactionActions(fta);
        const ft2 = new P.protos.FilteredTransaction();
        ft2.setTxid('cfg');
        ft2.setType(P.common.HeaderType.CONFIG);
        ft2.setTxValidationCode(P.protos.TxValidationCode.INVALID_OTHER_REASON);
        const fb = new P.protos.FilteredBlock();
        fb.setChannelId('mychannel');
        fb.setNumber(42);
        fb.setFilteredTransactionsList([ft1, ft2]);
        dr.setFilteredBlock(fb);
    } else if (variant === 'pvt') {
        const cp = new P.rwset.CollectionPvtReadWriteSet();
        cp.setCollectionName('c1');
        cp.setRwset(b('pvt-kvrwset'));
        const np = new P.rwset.NsPvtReadWriteSet();
        np.setNamespace('basic');
        np.setCollectionPvtRwsetList([cp]);
        const tp = new P.rwset.TxPvtReadWriteSet();
        tp.setDataModel(P.rwset.TxReadWriteSet.DataModel.KV);
        tp.setNsPvtRwsetList([np]);
        const bpd = new P.protos.BlockAndPrivateData();
        bpd.setBlock(block());
        bpd.getPrivateDataMapMap().set(2, tp);
        bpd.getPrivateDataMapMap().set(1, tp);
        dr.setBlockAndPrivateData(bpd);
    } else throw new Error(`unknown variant ${variant}`);
    return dr;
}

function kvrwset() {
    const v1 = new P.kvrwset.Version();
    v1.setBlockNum(5);
    v1.setTxNum(0);
    const v2 = new P.kvrwset.Version();
    v2.setBlockNum(3);
    v2.setTxNum(1);
    const r1 = new P.kvrwset.KVRead();
    r1.setKey('k1');
    r1.setVersion(v1);
    const r2 = new P.kvrwset.KVRead();
    r2.setKey('k2');
    const rr = new P.kvrwset.KVRead();
    rr.setKey('b');
    rr.setVersion(v2);
    const qr = new P.kvrwset.QueryReads();
    qr.setKvReadsList([rr]);
    const q1 = new P.kvrwset.RangeQueryInfo();
    q1.setStartKey('a');
    q1.setEndKey('m');
    q1.setItrExhausted(true);
    q1.setRawReads(qr);
    const mh = new P.kvrwset.QueryReadsMerkleSummary();
    mh.setMaxDegree(50);
    mh.setMaxLevel(2);
    mh.setMaxLevelHashesList([pat(32, 10), pat(32, 11)]);
    const q2 = new P.kvrwset.RangeQueryInfo();
    q2.setStartKey('n');
    q2.setReadsMerkleHashes(mh);
    const w1 = new P.kvrwset.KVWrite();
    w1.setKey('k3');
    w1.setValue(b('v3'));
    const w2 = new P.kvrwset.KVWrite();
    w2.setKey('k4');
    w2.setIsDelete(true);
    const me = new P.kvrwset.KVMetadataEntry();
    me.setName('VALIDATION_PARAMETER');
    me.setValue(pat(16, 12));
    const mw = new P.kvrwset.KVMetadataWrite();
    mw.setKey('k3');
    mw.setEntriesList([me]);
    const s = new P.kvrwset.KVRWSet();
    s.setReadsList([r1, r2]);
    s.setRangeQueriesInfoList([q1, q2]);
    s.setWritesList([w1, w2]);
    s.setMetadataWritesList([mw]);
    return s;
}

function txrwset() {
    const v = new P.kvrwset.Version();
    v.setBlockNum(1);
    v.setTxNum(2);
    const rh = new P.kvrwset.KVReadHash();
    rh.setKeyHash(pat(32, 20));
    rh.setVersion(v);
    const wh = new P.kvrwset.KVWriteHash();
    wh.setKeyHash(pat(32, 21));
    wh.setIsDelete(true);
    wh.setValueHash(pat(32, 22));
    wh.setIsPurge(true);
    const me = new P.kvrwset.KVMetadataEntry();
    me.setName('m');
    me.setValue(b('mv'));
    const mwh = new P.kvrwset.KVMetadataWriteHash();
    mwh.setKeyHash(pat(32, 23));
    mwh.setEntriesList([me]);
    const hrw = new P.kvrwset.HashedRWSet();
    hrw.setHashedReadsList([rh]);
    hrw.setHashedWritesList([wh]);
    hrw.setMetadataWritesList([mwh]);
    const ch = new P.rwset.CollectionHashedReadWriteSet();
    ch.setCollectionName('c1');
    ch.setHashedRwset(hrw.serializeBinary());
    ch.setPvtRwsetHash(pat(32, 24));
    const ns1 = new P.rwset.NsReadWriteSet();
    ns1.setNamespace('basic');
    ns1.setRwset(kvrwset().serializeBinary());
    ns1.setCollectionHashedRwsetList([ch]);
    const ns2 = new P.rwset.NsReadWriteSet();
    ns2.setNamespace('_lifecycle');
    const t = new P.rwset.TxReadWriteSet();
    t.setDataModel(P.rwset.TxReadWriteSet.DataModel.KV);
    t.setNsRwsetList([ns1, ns2]);
    return t;
}

function configEnvelope() {
    const cc = new P.msp.FabricCryptoConfig();
    cc.setSignatureHashFamily('SHA2');
    cc.setIdentityIdentifierHashFunction('SHA256');
    const ouClient = new P.msp.FabricOUIdentifier();
    ouClient.setCertificate(b(CERT));
    ouClient.setOrganizationalUnitIdentifier('client');
    const ouPeer = new P.msp.FabricOUIdentifier();
    ouPeer.setCertificate(b(CERT));
    ouPeer.setOrganizationalUnitIdentifier('peer');
    const nous = new P.msp.FabricNodeOUs();
    nous.setEnable(true);
    nous.setClientOuIdentifier(ouClient);
    nous.setPeerOuIdentifier(ouPeer);
    const fmc = new P.msp.FabricMSPConfig();
    fmc.setName('Org1MSP');
    fmc.setRootCertsList([b(CERT)]);
    fmc.setCryptoConfig(cc);
    fmc.setTlsRootCertsList([b(CERT)]);
    fmc.setFabricNodeOus(nous);
    const mc = new P.msp.MSPConfig();
    mc.setType(0);
    mc.setConfig(fmc.serializeBinary());
    const vMsp = new P.common.ConfigValue();
    vMsp.setValue(mc.serializeBinary());
    vMsp.setModPolicy('Admins');
    const org = new P.common.ConfigGroup();
    org.setVersion(1);
    org.getValuesMap().set('MSP', vMsp);
    org.setModPolicy('Admins');

    const imp = new P.common.ImplicitMetaPolicy();
    imp.setSubPolicy('Admins');
    imp.setRule(P.common.ImplicitMetaPolicy.Rule.MAJORITY);
    const polAdmins = new P.common.Policy();
    polAdmins.setType(P.common.Policy.PolicyType.IMPLICIT_META);
    polAdmins.setValue(imp.serializeBinary());
    const cpAdmins = new P.common.ConfigPolicy();
    cpAdmins.setPolicy(polAdmins);
    cpAdmins.setModPolicy('Admins');
    const polReaders = new P.common.Policy();
    polReaders.setType(P.common.Policy.PolicyType.SIGNATURE);
    polReaders.setValue(policyEnvelope().serializeBinary());
    const cpReaders = new P.common.ConfigPolicy();
    cpReaders.setVersion(2);
    cpReaders.setPolicy(polReaders);
    cpReaders.setModPolicy('Admins');
    const app = new P.common.ConfigGroup();
    app.setVersion(1);
    app.getGroupsMap().set('Org1MSP', org);
    app.getPoliciesMap().set('Readers', cpReaders);
    app.getPoliciesMap().set('Admins', cpAdmins);
    app.setModPolicy('Admins');

    const bdhs = new P.common.BlockDataHashingStructure();
    bdhs.setWidth(4294967295);
    const caps = new P.common.Capabilities();
    caps.getCapabilitiesMap().set('V2_0', new P.common.Capability());
    const ha = new P.common.HashingAlgorithm();
    ha.setName('SHA256');
    const oa = new P.common.OrdererAddresses();
    oa.setAddressesList(['orderer.example.com:7050']);
    const chan = new P.common.ConfigGroup();
    chan.getGroupsMap().set('Orderer', new P.common.ConfigGroup());
    chan.getGroupsMap().set('Application', app);
    const vals = [
        ['OrdererAddresses', oa],
        ['HashingAlgorithm', ha],
        ['Capabilities', caps],
        ['BlockDataHashingStructure', bdhs],
    ];
    for (const [k, m] of vals) {
        const cv = new P.common.ConfigValue();
        cv.setValue(m.serializeBinary());
        cv.setModPolicy('Admins');
        chan.getValuesMap().set(k, cv);
    }
    chan.setModPolicy('Admins');
    const cfg = new P.common.Config();
    cfg.setSequence(3);
    cfg.setChannelGroup(chan);
    const lu = new P.common.Envelope();
    lu.setPayload(b('update'));
    lu.setSignature(pat(8, 40));
    const ce = new P.common.ConfigEnvelope();
    ce.setConfig(cfg);
    ce.setLastUpdate(lu);
    return ce;
}

function seekInfo() {
    const sp = new P.orderer.SeekSpecified();
    sp.setNumber(Number.MAX_SAFE_INTEGER);
    const start = new P.orderer.SeekPosition();
    start.setNextCommit(new P.orderer.SeekNextCommit());
    const stop = new P.orderer.SeekPosition();
    stop.setSpecified(sp);
    const si = new P.orderer.SeekInfo();
    si.setStart(start);
    si.setStop(stop);
    si.setBehavior(P.orderer.SeekInfo.SeekBehavior.FAIL_IF_NOT_READY);
    si.setErrorResponse(P.orderer.SeekInfo.SeekErrorResponse.BEST_EFFORT);
    return si;
}

function discoveryResponse() {
    const fmc = new P.msp.FabricMSPConfig();
    fmc.setName('Org1MSP');
    fmc.setRootCertsList([b(CERT)]);
    fmc.setTlsRootCertsList([b(CERT)]);
    const ep = new P.discovery.Endpoint();
    ep.setHost('orderer.example.com');
    ep.setPort(7050);
    const eps = new P.discovery.Endpoints();
    eps.setEndpointList([ep]);
    const cr = new P.discovery.ConfigResult();
    cr.getMspsMap().set('Org1MSP', fmc);
    cr.getOrderersMap().set('OrdererMSP', eps);

    const mem = new P.gossip.Member();
    mem.setEndpoint('peer0.org1.example.com:7051');
    mem.setPkiId(pat(32, 30));
    const pt = new P.gossip.PeerTime();
    pt.setIncNum(1700000000000);
    pt.setSeqNum(3);
    const am = new P.gossip.AliveMessage();
    am.setMembership(mem);
    am.setTimestamp(pt);
    const gmAlive = new P.gossip.GossipMessage();
    gmAlive.setNonce(5);
    gmAlive.setTag(P.gossip.GossipMessage.Tag.EMPTY);
    gmAlive.setAliveMsg(am);
    const gcc = new P.gossip.Chaincode();
    gcc.setName('basic');
    gcc.setVersion('1.0');
    const props = new P.gossip.Properties();
    props.setLedgerHeight(10);
    props.setChaincodesList([gcc]);
    const sti = new P.gossip.StateInfo();
    sti.setTimestamp(pt);
    sti.setPkiId(pat(32, 30));
    sti.setProperties(props);
    const gmState = new P.gossip.GossipMessage();
    gmState.setChannel(b('mychannel'));
    gmState.setTag(P.gossip.GossipMessage.Tag.CHAN_ONLY);
    gmState.setStateInfo(sti);
    const si = new P.gossip.Envelope();
    si.setPayload(gmState.serializeBinary());
    si.setSignature(pat(8, 31));
    const mi = new P.gossip.Envelope();
    mi.setPayload(gmAlive.serializeBinary());
    mi.setSignature(pat(8, 32));
    const peer = new P.discovery.Peer();
    peer.setStateInfo(si);
    peer.setMembershipInfo(mi);
    peer.setIdentity(creator());
    const peers = new P.discovery.Peers();
    peers.setPeersList([peer]);
    const pmr = new P.discovery.PeerMembershipResult();
    pmr.getPeersByOrgMap().set('Org1MSP', peers);

    const lay = new P.discovery.Layout();
    lay.getQuantitiesByGroupMap().set('G1', 2);
    lay.getQuantitiesByGroupMap().set('G0', 1);
    const ed = new P.discovery.EndorsementDescriptor();
    ed.setChaincode('basic');
    ed.getEndorsersByGroupsMap().set('G0', peers);
    ed.setLayoutsList([lay]);
    const ccr = new P.discovery.ChaincodeQueryResult();
    ccr.setContentList([ed]);
    const err = new P.discovery.Error();
    err.setContent('access denied');

    const r = [0, 1, 2, 3].map(() => new P.discovery.QueryResult());
    r[0].setConfigResult(cr);
    r[1].setMembers(pmr);
    r[2].setCcQueryRes(ccr);
    r[3].setError(err);
    const resp = new P.discovery.Response();
    resp.setResultsList(r);
    return resp;
}

function raftMetadata() {
    const m = new P.etcdraft.BlockMetadata();
    m.setConsenterIdsList([1, 2, 300, 2 ** 40]);
    m.setNextConsenterId(5);
    m.setRaftIndex(1234567);
    return m;
}

// Samples built on both sides (names as accepted by `wire_roundtrip make`).
const shared = {
    'protos.SignedProposal': signedProposal,
    'protos.ProposalResponse': proposalResponse,
    'common.Envelope': txEnvelope,
    'common.Block': block,
    'protos.ChaincodeMessage': chaincodeMessage,
    'gateway.EndorseRequest': endorseRequest,
    'protos.DeliverResponse:block': () => deliverResponse('block'),
    'protos.DeliverResponse:status': () => deliverResponse('status'),
    'protos.DeliverResponse:status0': () => deliverResponse('status0'),
    'protos.DeliverResponse:filtered': () => deliverResponse('filtered'),
    'kvrwset.KVRWSet': kvrwset,
    'rwset.TxReadWriteSet': txrwset,
    'common.ConfigEnvelope': configEnvelope,
    'orderer.SeekInfo': seekInfo,
    'discovery.Response': discoveryResponse,
    'etcdraft.BlockMetadata': raftMetadata,
    'common.SignaturePolicyEnvelope': policyEnvelope,
};

// Further messages checked in the JS -> C direction only.
const jsOnly = {
    'protos.DeliverResponse:pvt': () => deliverResponse('pvt'),
    'gateway.EvaluateRequest': () => {
        const m = new P.gateway.EvaluateRequest();
        m.setTransactionId('tx9');
        m.setChannelId('mychannel');
        m.setProposedTransaction(signedProposal());
        m.setTargetOrganizationsList(['Org2MSP']);
        return m;
    },
    'gateway.EndorseResponse': () => {
        const m = new P.gateway.EndorseResponse();
        m.setPreparedTransaction(txEnvelope());
        return m;
    },
    'gateway.SubmitRequest': () => {
        const m = new P.gateway.SubmitRequest();
        m.setTransactionId('tx9');
        m.setChannelId('mychannel');
        m.setPreparedTransaction(txEnvelope());
        return m;
    },
    'gateway.CommitStatusResponse': () => {
        const m = new P.gateway.CommitStatusResponse();
        m.setResult(P.protos.TxValidationCode.ENDORSEMENT_POLICY_FAILURE);
        m.setBlockNumber(77);
        return m;
    },
    'gateway.SignedCommitStatusRequest': () => {
        const req = new P.gateway.CommitStatusRequest();
        req.setTransactionId('tx9');
        req.setChannelId('mychannel');
        req.setIdentity(creator());
        const m = new P.gateway.SignedCommitStatusRequest();
        m.setRequest(req.serializeBinary());
        m.setSignature(pat(70, 1));
        return m;
    },
    'gateway.ChaincodeEventsRequest': () => {
        const sp = new P.orderer.SeekSpecified();
        sp.setNumber(12);
        const pos = new P.orderer.SeekPosition();
        pos.setSpecified(sp);
        const m = new P.gateway.ChaincodeEventsRequest();
        m.setChannelId('mychannel');
        m.setChaincodeId('basic');
        m.setIdentity(creator());
        m.setStartPosition(pos);
        m.setAfterTransactionId('tx8');
        return m;
    },
    'gateway.ChaincodeEventsResponse': () => {
        const m = new P.gateway.ChaincodeEventsResponse();
        m.setEventsList([chaincodeEvent(true), chaincodeEvent(false)]);
        m.setBlockNumber(12);
        return m;
    },
    'google.rpc.Status': () => {
        const d = new P.gateway.ErrorDetail();
        d.setAddress('peer0:7051');
        d.setMspId('Org1MSP');
        d.setMessage('chaincode response 500');
        const any = new P.google.protobuf.Any();
        any.setTypeUrl('type.googleapis.com/gateway.ErrorDetail');
        any.setValue(d.serializeBinary());
        const m = new P.google.rpc.Status();
        m.setCode(10);
        m.setMessage('failed to endorse transaction');
        m.setDetailsList([any, any]);
        return m;
    },
    'orderer.BroadcastResponse': () => {
        const m = new P.orderer.BroadcastResponse();
        m.setStatus(P.common.Status.SERVICE_UNAVAILABLE);
        m.setInfo('not ready');
        return m;
    },
    'orderer.DeliverResponse': () => {
        const m = new P.orderer.DeliverResponse();
        m.setBlock(block());
        return m;
    },
    'discovery.SignedRequest': () => {
        const auth = new P.discovery.AuthInfo();
        auth.setClientIdentity(creator());
        auth.setClientTlsCertHash(pat(32, 2));
        const call = new P.protos.ChaincodeCall();
        call.setName('basic');
        call.setCollectionNamesList(['c1']);
        const ci = new P.protos.ChaincodeInterest();
        ci.setChaincodesList([call]);
        const ccq = new P.discovery.ChaincodeQuery();
        ccq.setInterestsList([ci]);
        const pq = new P.discovery.PeerMembershipQuery();
        pq.setFilter(ci);
        const qs = [0, 1, 2, 3].map(() => new P.discovery.Query());
        qs[0].setChannel('mychannel');
        qs[0].setConfigQuery(new P.discovery.ConfigQuery());
        qs[1].setChannel('mychannel');
        qs[1].setPeerQuery(pq);
        qs[2].setChannel('mychannel');
        qs[2].setCcQuery(ccq);
        qs[3].setLocalPeers(new P.discovery.LocalPeerQuery());
        const req = new P.discovery.Request();
        req.setAuthentication(auth);
        req.setQueriesList(qs);
        const m = new P.discovery.SignedRequest();
        m.setPayload(req.serializeBinary());
        m.setSignature(pat(70, 3));
        return m;
    },
    'lifecycle.QueryInstalledChaincodesResult': () => {
        const c = new P.lifecycle.QueryInstalledChaincodesResult.Chaincode();
        c.setName('basic');
        c.setVersion('1.0');
        const refs = new P.lifecycle.QueryInstalledChaincodesResult.References();
        refs.setChaincodesList([c]);
        const ic = new P.lifecycle.QueryInstalledChaincodesResult.InstalledChaincode();
        ic.setPackageId('basic_1.0:' + pat(32, 4).toString('hex'));
        ic.setLabel('basic_1.0');
        ic.getReferencesMap().set('mychannel', refs);
        ic.getReferencesMap().set('another', refs);
        const m = new P.lifecycle.QueryInstalledChaincodesResult();
        m.setInstalledChaincodesList([ic, ic]);
        return m;
    },
    'lifecycle.ApproveChaincodeDefinitionForMyOrgArgs': () => {
        const pc = new P.protos.CollectionPolicyConfig();
        pc.setSignaturePolicy(policyEnvelope());
        const ap = new P.protos.ApplicationPolicy();
        ap.setChannelConfigPolicyReference('/Channel/Application/Endorsement');
        const sc = new P.protos.StaticCollectionConfig();
        sc.setName('c1');
        sc.setMemberOrgsPolicy(pc);
        sc.setRequiredPeerCount(1);
        sc.setMaximumPeerCount(3);
        sc.setBlockToLive(1000000);
        sc.setMemberOnlyRead(true);
        sc.setMemberOnlyWrite(true);
        sc.setEndorsementPolicy(ap);
        const cc = new P.protos.CollectionConfig();
        cc.setStaticCollectionConfig(sc);
        const pkg = new P.protos.CollectionConfigPackage();
        pkg.setConfigList([cc]);
        const local = new P.lifecycle.ChaincodeSource.Local();
        local.setPackageId('basic_1.0:abc');
        const src = new P.lifecycle.ChaincodeSource();
        src.setLocalPackage(local);
        const m = new P.lifecycle.ApproveChaincodeDefinitionForMyOrgArgs();
        m.setSequence(2);
        m.setName('basic');
        m.setVersion('1.0');
        m.setEndorsementPlugin('escc');
        m.setValidationPlugin('vscc');
        m.setValidationParameter(pat(20, 5));
        m.setCollections(pkg);
        m.setInitRequired(true);
        m.setSource(src);
        return m;
    },
    'lifecycle.StateData': () => {
        const m = new P.lifecycle.StateData();
        m.setInt64(0); // oneof at its default value
        return m;
    },
    'common.BlockchainInfo': () => {
        const si = new P.common.BootstrappingSnapshotInfo();
        si.setLastblockinsnapshot(9);
        const m = new P.common.BlockchainInfo();
        m.setHeight(43);
        m.setCurrentblockhash(pat(32, 1));
        m.setPreviousblockhash(pat(32, 2));
        m.setBootstrappingsnapshotinfo(si);
        return m;
    },
    'protos.QueryResponse': () => {
        const kv = new P.queryresult.KV();
        kv.setNamespace('basic');
        kv.setKey('k1');
        kv.setValue(b('v1'));
        const km = new P.queryresult.KeyModification();
        km.setTxId('tx1');
        km.setValue(b('v0'));
        km.setTimestamp(tsB());
        km.setIsDelete(true);
        const r1 = new P.protos.QueryResultBytes();
        r1.setResultbytes(kv.serializeBinary());
        const r2 = new P.protos.QueryResultBytes();
        r2.setResultbytes(km.serializeBinary());
        const md = new P.protos.QueryResponseMetadata();
        md.setFetchedRecordsCount(2);
        md.setBookmark('k2');
        const m = new P.protos.QueryResponse();
        m.setResultsList([r1, r2]);
        m.setHasMore(true);
        m.setId('iter1');
        m.setMetadata(md.serializeBinary());
        return m;
    },
    'protos.ChaincodeDeploymentSpec': () => {
        const spec = new P.protos.ChaincodeSpec();
        spec.setType(P.protos.ChaincodeSpec.Type.GOLANG);
        const id = new P.protos.ChaincodeID();
        id.setPath('github.com/x');
        id.setName('cc');
        id.setVersion('v1');
        spec.setChaincodeId(id);
        spec.setTimeout(-5);
        const m = new P.protos.ChaincodeDeploymentSpec();
        m.setChaincodeSpec(spec);
        m.setCodePackage(pat(300, 7));
        return m;
    },
    'protos.AnchorPeers': () => {
        const a = new P.protos.AnchorPeer();
        a.setHost('peer0.org1.example.com');
        a.setPort(7051);
        const m = new P.protos.AnchorPeers();
        m.setAnchorPeersList([a, a]);
        return m;
    },
    'protos.ACLs': () => {
        const m = new P.protos.ACLs();
        for (const k of ['qscc/GetChainInfo', 'event/Block', '_lifecycle/CommitChaincodeDefinition']) {
            const r = new P.protos.APIResource();
            r.setPolicyRef('/Channel/Application/Readers');
            m.getAclsMap().set(k, r);
        }
        return m;
    },
    'orderer.ConsensusType': () => {
        const c = new P.etcdraft.Consenter();
        c.setHost('orderer0');
        c.setPort(7050);
        c.setClientTlsCert(b(CERT));
        c.setServerTlsCert(b(CERT));
        const o = new P.etcdraft.Options();
        o.setTickInterval('500ms');
        o.setElectionTick(10);
        o.setHeartbeatTick(1);
        o.setMaxInflightBlocks(5);
        o.setSnapshotIntervalSize(16777216);
        const md = new P.etcdraft.ConfigMetadata();
        md.setConsentersList([c]);
        md.setOptions(o);
        const m = new P.orderer.ConsensusType();
        m.setType('etcdraft');
        m.setMetadata(md.serializeBinary());
        m.setState(P.orderer.ConsensusType.State.STATE_MAINTENANCE);
        return m;
    },
    'transientstore.TxPvtReadWriteSetWithConfigInfo': () => {
        const tp = new P.rwset.TxPvtReadWriteSet();
        tp.setDataModel(P.rwset.TxReadWriteSet.DataModel.KV);
        const pkg = new P.protos.CollectionConfigPackage();
        const m = new P.transientstore.TxPvtReadWriteSetWithConfigInfo();
        m.setEndorsedAt(12);
        m.setPvtRwset(tp);
        m.getCollectionConfigsMap().set('basic', pkg);
        return m;
    },
    'common.ConfigUpdateEnvelope': () => {
        const rs = new P.common.ConfigGroup();
        rs.setVersion(1);
        const cu = new P.common.ConfigUpdate();
        cu.setChannelId('mychannel');
        cu.setReadSet(rs);
        cu.setWriteSet(rs);
        cu.getIsolatedDataMap().set('x', b('y'));
        const sig = new P.common.ConfigSignature();
        sig.setSignatureHeader(signatureHeader());
        sig.setSignature(pat(70, 9));
        const m = new P.common.ConfigUpdateEnvelope();
        m.setConfigUpdate(cu.serializeBinary());
        m.setSignaturesList([sig]);
        return m;
    },
    'msp.FabricMSPConfig': () => {
        const ki = new P.msp.KeyInfo();
        ki.setKeyIdentifier('key1');
        ki.setKeyMaterial(pat(32, 1));
        const sii = new P.msp.SigningIdentityInfo();
        sii.setPublicSigner(b(CERT));
        sii.setPrivateSigner(ki);
        const ou = new P.msp.FabricOUIdentifier();
        ou.setOrganizationalUnitIdentifier('admin');
        const nous = new P.msp.FabricNodeOUs();
        nous.setEnable(true);
        nous.setAdminOuIdentifier(ou);
        nous.setOrdererOuIdentifier(ou);
        const m = new P.msp.FabricMSPConfig();
        m.setName('Org1MSP');
        m.setRootCertsList([b(CERT)]);
        m.setIntermediateCertsList([b(CERT), b(CERT)]);
        m.setAdminsList([b(CERT)]);
        m.setRevocationListList([b('crl')]);
        m.setSigningIdentity(sii);
        m.setOrganizationalUnitIdentifiersList([ou]);
        m.setTlsIntermediateCertsList([b(CERT)]);
        m.setFabricNodeOus(nous);
        return m;
    },
};

function typeOf(sampleName) {
    return sampleName.split(':')[0];
}

test('wire_roundtrip tool is available', () => {
    assert.ok(TOOL, 'WIRE_ROUNDTRIP must point at the wire_roundtrip binary');
    const r = run(['make-list']);
    assert.equal(r.status, 0);
    const names = r.stdout.toString().trim().split('\n').sort();
    assert.deepEqual(names, Object.keys(shared).sort(), 'C samples and JS samples must match');
});

test('descriptor registry self-check and coverage of the JS schema', () => {
    const r = run(['registry-check']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.match(r.stdout.toString(), /^messages \d+ enums \d+/);
    const names = run(['list']).stdout.toString().trim().split('\n');
    assert.ok(names.length > 200, `only ${names.length} messages registered`);
    for (const n of ['common.Block', 'protos.ChaincodeMessage', 'gateway.EndorseRequest',
        'common.SignaturePolicy.NOutOf', 'google.rpc.Status', 'google.protobuf.Timestamp']) {
        assert.ok(names.includes(n), `${n} missing from registry`);
    }
    // Every weft message (map entries aside) has a namesake in Fabric's JS protos.
    // txmgr.* is peer-internal (commit hash input) and absent from fabric-protos.
    const missing = names.filter((n) => !/Entry$/.test(n) && !n.startsWith('google.protobuf.') && !n.startsWith('txmgr.')
        && !n.split('.').reduce((o, k) => (o ? o[k] : undefined), P));
    assert.deepEqual(missing, []);
});

// Field-level schema comparison: for every weft message, the field numbers,
// labels/packing and types must match the writers in Fabric's generated JS
// (serializeBinaryToWriter), which encode exactly what the wire carries.
function jsSchema(T) {
    const src = T.serializeBinaryToWriter.toString();
    const out = new Map();
    const simple = (ref) => ref.split('.').slice(-2, -1)[0];
    const w2t = (w) => w.replace(/^(Repeated|Packed)/, '').toLowerCase();
    for (const m of src.matchAll(/writer\.write(\w+)\(\s*(\d+),\s*f(?:,\s*([\w$.]+)\.serializeBinaryToWriter)?/g)) {
        const [, w, num, ref] = m;
        let kind = w2t(w);
        if (w.startsWith('Repeated')) kind = 'repeated ' + kind;
        if (w.startsWith('Packed')) kind = 'packed ' + kind;
        if (ref) kind += ':' + simple(ref + '.x');
        out.set(Number(num), kind);
    }
    for (const m of src.matchAll(/f\.serializeBinary\((\d+), writer, jspb\.BinaryWriter\.prototype\.write(\w+), jspb\.BinaryWriter\.prototype\.write(\w+)(?:, ([\w$.]+)\.serializeBinaryToWriter)?/g)) {
        const [, num, kw, vw, ref] = m;
        out.set(Number(num), `map ${w2t(kw)} ${w2t(vw)}` + (ref ? ':' + simple(ref + '.x') : ''));
    }
    return out;
}

test('schema: every weft field matches Fabric\'s generated JS (number, label, type)', () => {
    const r = run(['schema']);
    assert.equal(r.status, 0);
    const weft = new Map();
    for (const line of r.stdout.toString().trim().split('\n')) {
        const [msg, num, ...kind] = line.split(' ');
        if (!weft.has(msg)) weft.set(msg, new Map());
        // JS names message types without their package: compare simple names.
        weft.get(msg).set(Number(num), kind.join(' ').replace(/:([\w.]+)$/, (_, t) => ':' + t.split('.').pop()));
    }
    let compared = 0;
    const problems = [];
    for (const [msg, fields] of weft) {
        if (msg.startsWith('google.protobuf.') || msg.startsWith('txmgr.')) continue;
        const T = msg.split('.').reduce((o, k) => (o ? o[k] : undefined), P);
        if (!T && /Entry$/.test(msg)) continue; // map entry types have no JS class
        const js = jsSchema(type(msg));
        for (const [num, kind] of fields) {
            compared++;
            if (js.get(num) !== kind) problems.push(`${msg} #${num}: weft '${kind}', JS '${js.get(num)}'`);
        }
        for (const num of js.keys()) {
            // gossip.GossipMessage models only the members discovery needs (proto/README.md).
            if (!fields.has(num) && msg !== 'gossip.GossipMessage') problems.push(`${msg} #${num}: missing in weft`);
        }
    }
    assert.deepEqual(problems, []);
    assert.ok(compared > 550, `only ${compared} fields compared`);
});

test('JS -> C: decode-encode returns identical bytes', async (t) => {
    for (const [name, build] of Object.entries({ ...shared, ...jsOnly })) {
        await t.test(name, () => {
            const bytes = Buffer.from(build().serializeBinary());
            assert.ok(bytes.length > 0);
            const out = cRoundTrip(typeOf(name), bytes);
            assert.equal(out.toString('hex'), bytes.toString('hex'));
        });
    }
});

// Spot checks that read values the C side set, through the JS decoder.
const spot = {
    'protos.SignedProposal': (m) => {
        assert.deepEqual(Buffer.from(m.getSignature()), pat(71, 0x30));
        const prop = P.protos.Proposal.deserializeBinary(m.getProposalBytes());
        const hdr = P.common.Header.deserializeBinary(prop.getHeader());
        const ch = P.common.ChannelHeader.deserializeBinary(hdr.getChannelHeader());
        assert.equal(ch.getType(), P.common.HeaderType.ENDORSER_TRANSACTION);
        assert.equal(ch.getChannelId(), 'mychannel');
        assert.equal(ch.getTxId(), 'a1b2c3d4');
        assert.equal(ch.getEpoch(), 7);
        assert.equal(ch.getTimestamp().getNanos(), 123456789);
        const ext = P.protos.ChaincodeHeaderExtension.deserializeBinary(ch.getExtension$());
        assert.equal(ext.getChaincodeId().getName(), 'basic');
        const sh = P.common.SignatureHeader.deserializeBinary(hdr.getSignatureHeader());
        assert.equal(P.msp.SerializedIdentity.deserializeBinary(sh.getCreator()).getMspid(), 'Org1MSP');
        const cpp = P.protos.ChaincodeProposalPayload.deserializeBinary(prop.getPayload());
        assert.deepEqual(cpp.getTransientmapMap().getEntryList().map((e) => e[0]), ['secret', 'zeta']);
        const cis = P.protos.ChaincodeInvocationSpec.deserializeBinary(cpp.getInput());
        const input = cis.getChaincodeSpec().getInput();
        assert.deepEqual(input.getArgsList_asU8().map((a) => Buffer.from(a).toString()), ['CreateAsset', 'asset1', 'blue']);
        assert.equal(input.getIsInit(), true);
        assert.equal(cis.getChaincodeSpec().getType(), P.protos.ChaincodeSpec.Type.NODE);
    },
    'protos.ProposalResponse': (m) => {
        assert.equal(m.getResponse().getStatus(), 200);
        assert.equal(m.getEndorsement().getSignature().length, 70);
        const call = m.getInterest().getChaincodesList()[0];
        assert.deepEqual(call.getCollectionNamesList(), ['c1', 'c2']);
        const kp = call.getKeyPoliciesList()[0];
        assert.equal(kp.getVersion(), -1);
        const rules = kp.getRule().getNOutOf().getRulesList();
        assert.equal(rules[0].getTypeCase(), P.common.SignaturePolicy.TypeCase.SIGNED_BY);
        assert.equal(rules[0].getSignedBy(), 0);
        const prp = P.protos.ProposalResponsePayload.deserializeBinary(m.getPayload());
        const act = P.protos.ChaincodeAction.deserializeBinary(prp.getExtension$());
        assert.equal(Buffer.from(act.getResponse().getPayload()).toString(), 'result');
        assert.equal(P.protos.ChaincodeEvent.deserializeBinary(act.getEvents()).getEventName(), 'Created');
    },
    'common.Block': (m) => {
        assert.equal(m.getHeader().getNumber(), 42);
        assert.equal(m.getData().getDataList().length, 2);
        const md = m.getMetadata().getMetadataList_asU8();
        assert.equal(md.length, 5);
        assert.equal(md[3].length, 0);
        const sigs = P.common.Metadata.deserializeBinary(md[0]);
        const obm = P.common.OrdererBlockMetadata.deserializeBinary(sigs.getValue());
        assert.equal(obm.getLastConfig().getIndex(), 3);
        const raft = P.etcdraft.BlockMetadata.deserializeBinary(obm.getConsenterMetadata());
        assert.deepEqual(raft.getConsenterIdsList(), [1, 2, 300]);
        const env = P.common.Envelope.deserializeBinary(m.getData().getDataList_asU8()[0]);
        const pl = P.common.Payload.deserializeBinary(env.getPayload());
        const tx = P.protos.Transaction.deserializeBinary(pl.getData());
        const cap = P.protos.ChaincodeActionPayload.deserializeBinary(tx.getActionsList()[0].getPayload());
        assert.equal(cap.getAction().getEndorsementsList().length, 2);
    },
    'common.Envelope': (m) => {
        assert.deepEqual(Buffer.from(m.getSignature()), pat(72, 0x60));
        const pl = P.common.Payload.deserializeBinary(m.getPayload());
        const ch = P.common.ChannelHeader.deserializeBinary(pl.getHeader().getChannelHeader());
        assert.equal(ch.getChannelId(), 'mychannel');
        const tx = P.protos.Transaction.deserializeBinary(pl.getData());
        assert.equal(tx.getActionsList().length, 1);
        const cap = P.protos.ChaincodeActionPayload.deserializeBinary(tx.getActionsList()[0].getPayload());
        const ends = cap.getAction().getEndorsementsList();
        assert.equal(Buffer.from(ends[1].getEndorser()).toString(), 'org2-peer');
        const prp = P.protos.ProposalResponsePayload.deserializeBinary(cap.getAction().getProposalResponsePayload());
        assert.deepEqual(Buffer.from(prp.getProposalHash()), pat(32, 3));
    },
    'protos.ChaincodeMessage': (m) => {
        assert.equal(m.getType(), P.protos.ChaincodeMessage.Type.GET_STATE_BY_RANGE);
        const gsr = P.protos.GetStateByRange.deserializeBinary(m.getPayload());
        assert.equal(gsr.getStartkey(), 'a');
        assert.equal(P.protos.QueryMetadata.deserializeBinary(gsr.getMetadata()).getPagesize(), 10);
        assert.equal(m.getChannelId(), 'mychannel');
        assert.ok(m.getProposal().getProposalBytes().length > 100);
    },
    'gateway.EndorseRequest': (m) => {
        assert.deepEqual(m.getEndorsingOrganizationsList(), ['Org1MSP', 'Org2MSP']);
        assert.equal(m.getProposedTransaction().getSignature().length, 71);
    },
    'protos.DeliverResponse:block': (m) => {
        assert.equal(m.getTypeCase(), P.protos.DeliverResponse.TypeCase.BLOCK);
        assert.equal(m.getBlock().getHeader().getNumber(), 42);
    },
    'protos.DeliverResponse:status': (m) => {
        assert.equal(m.getTypeCase(), P.protos.DeliverResponse.TypeCase.STATUS);
        assert.equal(m.getStatus(), P.common.Status.NOT_FOUND);
    },
    'protos.DeliverResponse:status0': (m) => {
        assert.equal(m.getTypeCase(), P.protos.DeliverResponse.TypeCase.STATUS);
        assert.equal(m.getStatus(), P.common.Status.UNKNOWN);
    },
    'protos.DeliverResponse:filtered': (m) => {
        const ft = m.getFilteredBlock().getFilteredTransactionsList();
        assert.equal(ft[0].getTxValidationCode(), P.protos.TxValidationCode.MVCC_READ_CONFLICT);
        assert.equal(ft[1].getTxValidationCode(), P.protos.TxValidationCode.INVALID_OTHER_REASON);
        const ev = ft[0].getTransactionActions().getChaincodeActionsList()[0].getChaincodeEvent();
        assert.equal(ev.getEventName(), 'Created');
        assert.equal(ev.getPayload().length, 0);
    },
    'kvrwset.KVRWSet': (m) => {
        const q = m.getRangeQueriesInfoList();
        assert.equal(q[0].getReadsInfoCase(), P.kvrwset.RangeQueryInfo.ReadsInfoCase.RAW_READS);
        assert.equal(q[0].getRawReads().getKvReadsList()[0].getVersion().getTxNum(), 1);
        assert.equal(q[1].getReadsMerkleHashes().getMaxDegree(), 50);
        assert.equal(m.getReadsList()[1].hasVersion(), false);
        assert.equal(m.getWritesList()[1].getIsDelete(), true);
    },
    'rwset.TxReadWriteSet': (m) => {
        const ns = m.getNsRwsetList();
        assert.deepEqual(ns.map((n) => n.getNamespace()), ['basic', '_lifecycle']);
        const h = P.kvrwset.HashedRWSet.deserializeBinary(ns[0].getCollectionHashedRwsetList()[0].getHashedRwset());
        assert.equal(h.getHashedWritesList()[0].getIsPurge(), true);
    },
    'common.ConfigEnvelope': (m) => {
        const chan = m.getConfig().getChannelGroup();
        assert.deepEqual(chan.getGroupsMap().getEntryList().map((e) => e[0]), ['Application', 'Orderer']);
        const bd = P.common.BlockDataHashingStructure.deserializeBinary(chan.getValuesMap().get('BlockDataHashingStructure').getValue());
        assert.equal(bd.getWidth(), 4294967295);
        const org = chan.getGroupsMap().get('Application').getGroupsMap().get('Org1MSP');
        const mc = P.msp.MSPConfig.deserializeBinary(org.getValuesMap().get('MSP').getValue());
        const fmc = P.msp.FabricMSPConfig.deserializeBinary(mc.getConfig());
        assert.equal(fmc.getFabricNodeOus().getPeerOuIdentifier().getOrganizationalUnitIdentifier(), 'peer');
        const imp = P.common.ImplicitMetaPolicy.deserializeBinary(
            chan.getGroupsMap().get('Application').getPoliciesMap().get('Admins').getPolicy().getValue());
        assert.equal(imp.getRule(), P.common.ImplicitMetaPolicy.Rule.MAJORITY);
    },
    'orderer.SeekInfo': (m) => {
        assert.equal(m.getStart().getTypeCase(), P.orderer.SeekPosition.TypeCase.NEXT_COMMIT);
        assert.equal(m.getStop().getSpecified().getNumber(), Number.MAX_SAFE_INTEGER);
        assert.equal(m.getBehavior(), P.orderer.SeekInfo.SeekBehavior.FAIL_IF_NOT_READY);
    },
    'discovery.Response': (m) => {
        const r = m.getResultsList();
        assert.equal(r[0].getConfigResult().getOrderersMap().get('OrdererMSP').getEndpointList()[0].getPort(), 7050);
        const peer = r[1].getMembers().getPeersByOrgMap().get('Org1MSP').getPeersList()[0];
        const gm = P.gossip.GossipMessage.deserializeBinary(peer.getMembershipInfo().getPayload());
        assert.equal(gm.getAliveMsg().getMembership().getEndpoint(), 'peer0.org1.example.com:7051');
        const st = P.gossip.GossipMessage.deserializeBinary(peer.getStateInfo().getPayload());
        assert.equal(st.getStateInfo().getProperties().getLedgerHeight(), 10);
        assert.equal(r[2].getCcQueryRes().getContentList()[0].getLayoutsList()[0].getQuantitiesByGroupMap().get('G1'), 2);
        assert.equal(r[3].getError().getContent(), 'access denied');
    },
    'etcdraft.BlockMetadata': (m) => {
        assert.deepEqual(m.getConsenterIdsList(), [1, 2, 300, 2 ** 40]);
    },
    'common.SignaturePolicyEnvelope': (m) => {
        assert.equal(m.getIdentitiesList()[1].getPrincipalClassification(),
            P.common.MSPPrincipal.Classification.ORGANIZATION_UNIT);
    },
};

test('C -> JS: C-built samples decode to the expected values and re-encode identically', async (t) => {
    for (const [name, build] of Object.entries(shared)) {
        await t.test(name, () => {
            const cBytes = cMake(name);
            const T = type(typeOf(name));
            const decoded = T.deserializeBinary(cBytes);
            const expected = build();
            assert.deepEqual(decoded.toObject(), expected.toObject());
            assert.ok(spot[name], `no spot check for ${name}`);
            spot[name](decoded);
            assert.equal(Buffer.from(decoded.serializeBinary()).toString('hex'), cBytes.toString('hex'));
            assert.equal(Buffer.from(expected.serializeBinary()).toString('hex'), cBytes.toString('hex'));
        });
    }
});

test('gossip content weft does not model survives a round trip as unknown fields', () => {
    const dm = new P.gossip.DataMessage();
    const pl = new P.gossip.Payload();
    pl.setSeqNum(8);
    pl.setData(b('block-bytes'));
    dm.setPayload(pl);
    const gm = new P.gossip.GossipMessage();
    gm.setNonce(1);
    gm.setTag(P.gossip.GossipMessage.Tag.CHAN_AND_ORG);
    gm.setDataMsg(dm);
    const bytes = Buffer.from(gm.serializeBinary());
    assert.equal(cRoundTrip('gossip.GossipMessage', bytes).toString('hex'), bytes.toString('hex'));
});

test('documented differences: default map keys/values written by google-protobuf', () => {
    // uint64 key 0 and an empty bytes value: google-protobuf writes them
    // explicitly inside the map entry, protobuf-c drops them on re-encode.
    const bpd = new P.protos.BlockAndPrivateData();
    bpd.getPrivateDataMapMap().set(0, new P.rwset.TxPvtReadWriteSet());
    const js = Buffer.from(bpd.serializeBinary());
    assert.equal(js.toString('hex'), '120408001200'); // entry {1: 0, 2: {}}
    const c = cRoundTrip('protos.BlockAndPrivateData', js);
    assert.equal(c.toString('hex'), '12021200'); // entry {2: {}}: key 0 omitted
    assert.deepEqual(P.protos.BlockAndPrivateData.deserializeBinary(c).toObject(), bpd.toObject());

    const cpp = new P.protos.ChaincodeProposalPayload();
    cpp.getTransientmapMap().set('k', Buffer.alloc(0));
    const js2 = Buffer.from(cpp.serializeBinary());
    const c2 = cRoundTrip('protos.ChaincodeProposalPayload', js2);
    assert.equal(js2.toString('hex'), '12050a016b1200'); // entry {1: "k", 2: ""}
    assert.equal(c2.toString('hex'), '12030a016b'); // entry {1: "k"}
    const back = P.protos.ChaincodeProposalPayload.deserializeBinary(c2).getTransientmapMap();
    assert.deepEqual(back.getEntryList().map((e) => e[0]), ['k']);
    assert.equal(back.get('k').length, 0);

    // Non-default integer keys keep google-protobuf's (string) order through C.
    const bpd2 = new P.protos.BlockAndPrivateData();
    for (const k of [9, 10]) bpd2.getPrivateDataMapMap().set(k, new P.rwset.TxPvtReadWriteSet());
    const js3 = Buffer.from(bpd2.serializeBinary());
    assert.equal(cRoundTrip('protos.BlockAndPrivateData', js3).toString('hex'), js3.toString('hex'));
});

test('malformed input fails cleanly', async (t) => {
    const cases = {
        'length beyond end': ['common.Envelope', [0x0a, 0xff]],
        'truncated varint': ['common.BlockHeader', [0x08]],
        'overlong varint': ['common.BlockHeader', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
        'invalid wire type 7': ['common.Envelope', [0x0f]],
        'field number 0': ['common.Envelope', [0x02, 0x00]],
        'wrong wire type for a known field': ['common.Envelope', [0x08, 0x01]],
        'malformed nested message': ['common.Block', [0x0a, 0x02, 0x08, 0xff]],
        'truncated real block': ['common.Block', [...block().serializeBinary().slice(0, 200)]],
        'truncated fixed64': ['common.Envelope', [0x19, 0x01, 0x02]],
    };
    for (const [label, [typeName, bytes]] of Object.entries(cases)) {
        await t.test(label, () => {
            const r = run(['decode-encode', typeName], Buffer.from(bytes));
            assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
            assert.equal(r.status, 1, `exit ${r.status}: ${r.stderr}`);
            assert.match(r.stderr.toString(), /malformed/);
            assert.equal(r.stdout.length, 0);
        });
    }
    await t.test('unknown message type', () => {
        const r = run(['decode-encode', 'common.NoSuchThing'], Buffer.alloc(0));
        assert.equal(r.status, 1);
        assert.match(r.stderr.toString(), /unknown message type/);
    });
    await t.test('unknown sample', () => {
        const r = run(['make', 'common.NoSuchThing']);
        assert.equal(r.status, 1);
        assert.match(r.stderr.toString(), /no sample/);
    });
    await t.test('empty input is a valid empty message', () => {
        const r = run(['decode-encode', 'common.Block'], Buffer.alloc(0));
        assert.equal(r.status, 0);
        assert.equal(r.stdout.length, 0);
    });
});
