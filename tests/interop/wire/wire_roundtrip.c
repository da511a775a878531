/*
 * wire_roundtrip: protobuf-c side of the wire-compatibility tests.
 *
 *   wire_roundtrip decode-encode <Message>   stdin bytes -> unpack -> pack -> stdout
 *   wire_roundtrip make <Message>[:variant]  writes a fixed, fully populated sample
 *   wire_roundtrip make-list                 names accepted by make, one per line
 *   wire_roundtrip list                      every registered message name
 *   wire_roundtrip schema                    every field: number, label, type
 *   wire_roundtrip registry-check            self-check of weft_proto_registry.h
 *
 * Exit status 0 on success, 1 on malformed input or unknown names (with a
 * message on stderr), 2 on usage errors. The samples built here are mirrored
 * value for value in wire.test.js (samples()); keep both in step.
 * Byte patterns: pat(n, seed)[i] = (seed + 7 * i) & 0xff.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weft/base.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "common/configuration.pb-c.h"
#include "common/policies.pb-c.h"
#include "discovery/protocol.pb-c.h"
#include "gateway/gateway.pb-c.h"
#include "gossip/message.pb-c.h"
#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "msp/identities.pb-c.h"
#include "msp/msp_config.pb-c.h"
#include "msp/msp_principal.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "orderer/etcdraft/metadata.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/events.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft_proto_registry.h"

#define WIRE_MAX_INPUT (64u << 20)
#define S(x) ((char *)(x))
#define BIN(lit) ((ProtobufCBinaryData){sizeof(lit) - 1, (uint8_t *)(lit)})
#define N(a) WEFT_ARRAY_LEN(a)

/* ---- helpers ------------------------------------------------------------ */

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return weft_malloc(size);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    weft_free(p);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

/* Buffers made while building samples; freed at exit. */
static void *owned[256];
static size_t n_owned;

static void *own(void *p)
{
    if (p == NULL || n_owned == N(owned)) {
        fprintf(stderr, "wire_roundtrip: out of memory\n");
        exit(1);
    }
    owned[n_owned++] = p;
    return p;
}

static void free_owned(void)
{
    while (n_owned > 0)
        weft_free(owned[--n_owned]);
}

static ProtobufCBinaryData pack(const void *msg)
{
    const ProtobufCMessage *m = msg;
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = own(weft_malloc(len ? len : 1));
    size_t got = protobuf_c_message_pack(m, buf);
    if (got != len) {
        fprintf(stderr, "wire_roundtrip: packed %zu bytes, expected %zu\n", got, len);
        exit(1);
    }
    return (ProtobufCBinaryData){len, buf};
}

static ProtobufCBinaryData pat(size_t n, unsigned seed)
{
    uint8_t *b = own(weft_malloc(n ? n : 1));
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)((seed + 7u * i) & 0xffu);
    return (ProtobufCBinaryData){n, b};
}

static int write_all(const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDOUT_FILENO, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "wire_roundtrip: write: %s\n", strerror(errno));
            return -1;
        }
        p += (size_t)w;
        len -= (size_t)w;
    }
    return 0;
}

static int emit(const void *msg)
{
    ProtobufCBinaryData b = pack(msg);
    return write_all(b.data, b.len);
}

/* ---- samples ------------------------------------------------------------ */

static Google__Protobuf__Timestamp ts_a = {PROTOBUF_C_MESSAGE_INIT(&google__protobuf__timestamp__descriptor),
                                          1700000000, 123456789};
static Google__Protobuf__Timestamp ts_b = {PROTOBUF_C_MESSAGE_INIT(&google__protobuf__timestamp__descriptor),
                                          1700000001, 5};

static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nMIIBweft\n-----END CERTIFICATE-----\n";

static ProtobufCBinaryData creator_bytes(void)
{
    static Msp__SerializedIdentity id = MSP__SERIALIZED_IDENTITY__INIT;
    id.mspid = S("Org1MSP");
    id.id_bytes = BIN(cert_pem);
    return pack(&id);
}

static ProtobufCBinaryData channel_header_bytes(void)
{
    static Protos__ChaincodeID ccid = PROTOS__CHAINCODE_ID__INIT;
    static Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    static Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ccid.name = S("basic");
    ccid.version = S("1.0");
    ext.chaincode_id = &ccid;
    ch.type = COMMON__HEADER_TYPE__ENDORSER_TRANSACTION;
    ch.version = 2;
    ch.timestamp = &ts_a;
    ch.channel_id = S("mychannel");
    ch.tx_id = S("a1b2c3d4");
    ch.epoch = 7;
    ch.extension = pack(&ext);
    ch.tls_cert_hash = pat(32, 1);
    return pack(&ch);
}

static ProtobufCBinaryData signature_header_bytes(void)
{
    static Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator = creator_bytes();
    sh.nonce = pat(24, 0);
    return pack(&sh);
}

static ProtobufCBinaryData header_bytes(void)
{
    static Common__Header h = COMMON__HEADER__INIT;
    h.channel_header = channel_header_bytes();
    h.signature_header = signature_header_bytes();
    return pack(&h);
}

static ProtobufCBinaryData cc_proposal_payload_bytes(void)
{
    static ProtobufCBinaryData args[3];
    static Protos__ChaincodeInput__DecorationsEntry dec = PROTOS__CHAINCODE_INPUT__DECORATIONS_ENTRY__INIT;
    static Protos__ChaincodeInput__DecorationsEntry *decs[] = {&dec};
    static Protos__ChaincodeInput input = PROTOS__CHAINCODE_INPUT__INIT;
    static Protos__ChaincodeID ccid = PROTOS__CHAINCODE_ID__INIT;
    static Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    static Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    static Protos__ChaincodeProposalPayload__TransientMapEntry t1 =
        PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__TRANSIENT_MAP_ENTRY__INIT;
    static Protos__ChaincodeProposalPayload__TransientMapEntry t2 =
        PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__TRANSIENT_MAP_ENTRY__INIT;
    /* Map entries in ascending key order: that is how JS and Go emit maps. */
    static Protos__ChaincodeProposalPayload__TransientMapEntry *tm[] = {&t1, &t2};
    static Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;

    args[0] = BIN("CreateAsset");
    args[1] = BIN("asset1");
    args[2] = BIN("blue");
    dec.key = S("trace");
    dec.value = BIN("on");
    input.n_args = N(args);
    input.args = args;
    input.n_decorations = N(decs);
    input.decorations = decs;
    input.is_init = 1;
    ccid.name = S("basic");
    spec.type = PROTOS__CHAINCODE_SPEC__TYPE__NODE;
    spec.chaincode_id = &ccid;
    spec.input = &input;
    spec.timeout = 30;
    cis.chaincode_spec = &spec;
    t1.key = S("secret");
    t1.value = BIN("s3cr3t");
    t2.key = S("zeta");
    t2.value = pat(3, 1);
    cpp.input = pack(&cis);
    cpp.n_transientmap = N(tm);
    cpp.transientmap = tm;
    return pack(&cpp);
}

static Protos__SignedProposal *sample_signed_proposal(void)
{
    static Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    static Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    prop.header = header_bytes();
    prop.payload = cc_proposal_payload_bytes();
    prop.extension = BIN("ext");
    sp.proposal_bytes = pack(&prop);
    sp.signature = pat(71, 0x30);
    return &sp;
}

static Common__SignaturePolicyEnvelope *sample_policy_envelope(void)
{
    static Common__MSPRole role = COMMON__MSPROLE__INIT;
    static Common__OrganizationUnit ou = COMMON__ORGANIZATION_UNIT__INIT;
    static Common__MSPPrincipal p1 = COMMON__MSPPRINCIPAL__INIT;
    static Common__MSPPrincipal p2 = COMMON__MSPPRINCIPAL__INIT;
    static Common__MSPPrincipal *ids[] = {&p1, &p2};
    static Common__SignaturePolicy s0 = COMMON__SIGNATURE_POLICY__INIT;
    static Common__SignaturePolicy s1 = COMMON__SIGNATURE_POLICY__INIT;
    static Common__SignaturePolicy *rules[] = {&s0, &s1};
    static Common__SignaturePolicy__NOutOf nof = COMMON__SIGNATURE_POLICY__NOUT_OF__INIT;
    static Common__SignaturePolicy top = COMMON__SIGNATURE_POLICY__INIT;
    static Common__SignaturePolicyEnvelope env = COMMON__SIGNATURE_POLICY_ENVELOPE__INIT;

    role.msp_identifier = S("Org1MSP");
    role.role = COMMON__MSPROLE__MSPROLE_TYPE__PEER;
    ou.msp_identifier = S("Org2MSP");
    ou.organizational_unit_identifier = S("dept1");
    ou.certifiers_identifier = pat(32, 9);
    p1.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE;
    p1.principal = pack(&role);
    p2.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__ORGANIZATION_UNIT;
    p2.principal = pack(&ou);
    /* signed_by = 0 is a oneof member at its default: it must still be emitted. */
    s0.type_case = COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY;
    s0.signed_by = 0;
    s1.type_case = COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY;
    s1.signed_by = 1;
    nof.n = 1;
    nof.n_rules = N(rules);
    nof.rules = rules;
    top.type_case = COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF;
    top.n_out_of = &nof;
    env.version = -1; /* negative int32: ten-byte varint */
    env.rule = &top;
    env.n_identities = N(ids);
    env.identities = ids;
    return &env;
}

static Protos__ChaincodeEvent *sample_event(int with_payload)
{
    static Protos__ChaincodeEvent ev = PROTOS__CHAINCODE_EVENT__INIT;
    ev.chaincode_id = S("basic");
    ev.tx_id = S("a1b2c3d4");
    ev.event_name = S("Created");
    ev.payload = with_payload ? BIN("{\"id\":\"asset1\"}") : (ProtobufCBinaryData){0, NULL};
    return &ev;
}

static ProtobufCBinaryData prp_bytes(void)
{
    static Protos__Response resp = PROTOS__RESPONSE__INIT;
    static Protos__ChaincodeID ccid = PROTOS__CHAINCODE_ID__INIT;
    static Protos__ChaincodeAction act = PROTOS__CHAINCODE_ACTION__INIT;
    static Protos__ProposalResponsePayload prp = PROTOS__PROPOSAL_RESPONSE_PAYLOAD__INIT;
    resp.status = 200;
    resp.payload = BIN("result");
    ccid.name = S("basic");
    ccid.version = S("1.0");
    act.results = BIN("rwset");
    act.events = pack(sample_event(1));
    act.response = &resp;
    act.chaincode_id = &ccid;
    prp.proposal_hash = pat(32, 3);
    prp.extension = pack(&act);
    return pack(&prp);
}

static Protos__ProposalResponse *sample_proposal_response(void)
{
    static Protos__Response resp = PROTOS__RESPONSE__INIT;
    static Protos__Endorsement end = PROTOS__ENDORSEMENT__INIT;
    static char *colls[] = {S("c1"), S("c2")};
    static Common__SignaturePolicyEnvelope *kp[1];
    static Protos__ChaincodeCall call = PROTOS__CHAINCODE_CALL__INIT;
    static Protos__ChaincodeCall call2 = PROTOS__CHAINCODE_CALL__INIT;
    static Protos__ChaincodeCall *calls[] = {&call, &call2};
    static Protos__ChaincodeInterest interest = PROTOS__CHAINCODE_INTEREST__INIT;
    static Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;

    resp.status = 200;
    resp.message = S("OK");
    resp.payload = BIN("result");
    end.endorser = creator_bytes();
    end.signature = pat(70, 0x30);
    kp[0] = sample_policy_envelope();
    call.name = S("basic");
    call.n_collection_names = N(colls);
    call.collection_names = colls;
    call.no_private_reads = 1;
    call.no_public_writes = 1;
    call.n_key_policies = N(kp);
    call.key_policies = kp;
    call.disregard_namespace_policy = 1;
    call2.name = S("other");
    interest.n_chaincodes = N(calls);
    interest.chaincodes = calls;
    pr.version = 1;
    pr.timestamp = &ts_b;
    pr.response = &resp;
    pr.payload = prp_bytes();
    pr.endorsement = &end;
    pr.interest = &interest;
    return &pr;
}

static Common__Envelope *sample_tx_envelope(void)
{
    static Protos__Endorsement e1 = PROTOS__ENDORSEMENT__INIT;
    static Protos__Endorsement e2 = PROTOS__ENDORSEMENT__INIT;
    static Protos__Endorsement *ends[] = {&e1, &e2};
    static Protos__ChaincodeEndorsedAction cea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    static Protos__ChaincodeActionPayload cap = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    static Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    static Protos__TransactionAction *tas[] = {&ta};
    static Protos__Transaction tx = PROTOS__TRANSACTION__INIT;
    static Common__Header hdr = COMMON__HEADER__INIT;
    static Common__Payload pl = COMMON__PAYLOAD__INIT;
    static Common__Envelope env = COMMON__ENVELOPE__INIT;

    e1.endorser = creator_bytes();
    e1.signature = pat(70, 0x40);
    e2.endorser = BIN("org2-peer");
    e2.signature = pat(71, 0x50);
    cea.proposal_response_payload = prp_bytes();
    cea.n_endorsements = N(ends);
    cea.endorsements = ends;
    cap.chaincode_proposal_payload = cc_proposal_payload_bytes();
    cap.action = &cea;
    ta.header = signature_header_bytes();
    ta.payload = pack(&cap);
    tx.n_actions = N(tas);
    tx.actions = tas;
    hdr.channel_header = channel_header_bytes();
    hdr.signature_header = signature_header_bytes();
    pl.header = &hdr;
    pl.data = pack(&tx);
    env.payload = pack(&pl);
    env.signature = pat(72, 0x60);
    return &env;
}

static Common__Block *sample_block(void)
{
    static ProtobufCBinaryData data[2];
    static Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    static Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    static Common__MetadataSignature ms = COMMON__METADATA_SIGNATURE__INIT;
    static Common__MetadataSignature *mss[] = {&ms};
    static Common__Metadata sigs = COMMON__METADATA__INIT;
    static Common__LastConfig lc = COMMON__LAST_CONFIG__INIT;
    static Common__Metadata lcm = COMMON__METADATA__INIT;
    static uint64_t ids[] = {1, 2, 300};
    static Etcdraft__BlockMetadata raft = ETCDRAFT__BLOCK_METADATA__INIT;
    static Common__OrdererBlockMetadata obm = COMMON__ORDERER_BLOCK_METADATA__INIT;
    static ProtobufCBinaryData md[5];
    static Common__BlockMetadata bm = COMMON__BLOCK_METADATA__INIT;
    static Common__Block blk = COMMON__BLOCK__INIT;
    static uint8_t filter[] = {0, 11};

    data[0] = pack(sample_tx_envelope());
    data[1] = BIN("second");
    bh.number = 42;
    bh.previous_hash = pat(32, 5);
    bh.data_hash = pat(32, 6);
    bd.n_data = N(data);
    bd.data = data;
    lc.index = 3;
    obm.last_config = &lc;
    raft.n_consenter_ids = N(ids);
    raft.consenter_ids = ids;
    raft.next_consenter_id = 4;
    raft.raft_index = 99;
    obm.consenter_metadata = pack(&raft);
    ms.signature_header = signature_header_bytes();
    ms.signature = pat(70, 0x70);
    sigs.value = pack(&obm);
    sigs.n_signatures = N(mss);
    sigs.signatures = mss;
    lcm.value = pack(&lc);
    md[0] = pack(&sigs);
    md[1] = pack(&lcm);
    md[2] = (ProtobufCBinaryData){sizeof filter, filter};
    md[3] = (ProtobufCBinaryData){0, NULL}; /* empty element of repeated bytes */
    md[4] = pat(32, 8);
    bm.n_metadata = N(md);
    bm.metadata = md;
    blk.header = &bh;
    blk.data = &bd;
    blk.metadata = &bm;
    return &blk;
}

static Protos__ChaincodeMessage *sample_chaincode_message(void)
{
    static Protos__QueryMetadata qm = PROTOS__QUERY_METADATA__INIT;
    static Protos__GetStateByRange gsr = PROTOS__GET_STATE_BY_RANGE__INIT;
    static Protos__ChaincodeMessage cm = PROTOS__CHAINCODE_MESSAGE__INIT;
    qm.pagesize = 10;
    qm.bookmark = S("bm1");
    gsr.startkey = S("a");
    gsr.endkey = S("z");
    gsr.collection = S("c1");
    gsr.metadata = pack(&qm);
    cm.type = PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_BY_RANGE;
    cm.timestamp = &ts_a;
    cm.payload = pack(&gsr);
    cm.txid = S("a1b2c3d4");
    cm.proposal = sample_signed_proposal();
    cm.chaincode_event = sample_event(1);
    cm.channel_id = S("mychannel");
    return &cm;
}

static Gateway__EndorseRequest *sample_endorse_request(void)
{
    static char *orgs[] = {S("Org1MSP"), S("Org2MSP")};
    static Gateway__EndorseRequest er = GATEWAY__ENDORSE_REQUEST__INIT;
    er.transaction_id = S("a1b2c3d4");
    er.channel_id = S("mychannel");
    er.proposed_transaction = sample_signed_proposal();
    er.n_endorsing_organizations = N(orgs);
    er.endorsing_organizations = orgs;
    return &er;
}

static Protos__DeliverResponse *sample_deliver_response(const char *variant)
{
    static Protos__FilteredChaincodeAction fca = PROTOS__FILTERED_CHAINCODE_ACTION__INIT;
    static Protos__FilteredChaincodeAction *fcas[] = {&fca};
    static Protos__FilteredTransactionActions fta = PROTOS__FILTERED_TRANSACTION_ACTIONS__INIT;
    static Protos__FilteredTransaction ft1 = PROTOS__FILTERED_TRANSACTION__INIT;
    static Protos__FilteredTransaction ft2 = PROTOS__FILTERED_TRANSACTION__INIT;
    static Protos__FilteredTransaction *fts[] = {&ft1, &ft2};
    static Protos__FilteredBlock fb = PROTOS__FILTERED_BLOCK__INIT;
    static Protos__DeliverResponse dr = PROTOS__DELIVER_RESPONSE__INIT;

    if (strcmp(variant, "block") == 0) {
        dr.type_case = PROTOS__DELIVER_RESPONSE__TYPE_BLOCK;
        dr.block = sample_block();
    } else if (strcmp(variant, "status") == 0) {
        dr.type_case = PROTOS__DELIVER_RESPONSE__TYPE_STATUS;
        dr.status = COMMON__STATUS__NOT_FOUND;
    } else if (strcmp(variant, "status0") == 0) {
        dr.type_case = PROTOS__DELIVER_RESPONSE__TYPE_STATUS;
        dr.status = COMMON__STATUS__UNKNOWN; /* oneof member at default: still emitted */
    } else if (strcmp(variant, "filtered") == 0) {
        fca.chaincode_event = sample_event(0);
        fta.n_chaincode_actions = N(fcas);
        fta.chaincode_actions = fcas;
        ft1.txid = S("a1b2c3d4");
        ft1.type = COMMON__HEADER_TYPE__ENDORSER_TRANSACTION;
        ft1.tx_validation_code = PROTOS__TX_VALIDATION_CODE__MVCC_READ_CONFLICT;
        ft1.data_case = PROTOS__FILTERED_TRANSACTION__DATA_TRANSACTION_ACTIONS;
        ft1.transaction_actions = &fta;
        ft2.txid = S("cfg");
        ft2.type = COMMON__HEADER_TYPE__CONFIG;
        ft2.tx_validation_code = PROTOS__TX_VALIDATION_CODE__INVALID_OTHER_REASON;
        fb.channel_id = S("mychannel");
        fb.number = 42;
        fb.n_filtered_transactions = N(fts);
        fb.filtered_transactions = fts;
        dr.type_case = PROTOS__DELIVER_RESPONSE__TYPE_FILTERED_BLOCK;
        dr.filtered_block = &fb;
    } else {
        return NULL;
    }
    return &dr;
}

static Kvrwset__KVRWSet *sample_kvrwset(void)
{
    static Kvrwset__Version v1 = KVRWSET__VERSION__INIT;
    static Kvrwset__Version v2 = KVRWSET__VERSION__INIT;
    static Kvrwset__KVRead r1 = KVRWSET__KVREAD__INIT;
    static Kvrwset__KVRead r2 = KVRWSET__KVREAD__INIT;
    static Kvrwset__KVRead *reads[] = {&r1, &r2};
    static Kvrwset__KVRead rr = KVRWSET__KVREAD__INIT;
    static Kvrwset__KVRead *rrs[] = {&rr};
    static Kvrwset__QueryReads qr = KVRWSET__QUERY_READS__INIT;
    static ProtobufCBinaryData lh[2];
    static Kvrwset__QueryReadsMerkleSummary mh = KVRWSET__QUERY_READS_MERKLE_SUMMARY__INIT;
    static Kvrwset__RangeQueryInfo q1 = KVRWSET__RANGE_QUERY_INFO__INIT;
    static Kvrwset__RangeQueryInfo q2 = KVRWSET__RANGE_QUERY_INFO__INIT;
    static Kvrwset__RangeQueryInfo *qs[] = {&q1, &q2};
    static Kvrwset__KVWrite w1 = KVRWSET__KVWRITE__INIT;
    static Kvrwset__KVWrite w2 = KVRWSET__KVWRITE__INIT;
    static Kvrwset__KVWrite *ws[] = {&w1, &w2};
    static Kvrwset__KVMetadataEntry me = KVRWSET__KVMETADATA_ENTRY__INIT;
    static Kvrwset__KVMetadataEntry *mes[] = {&me};
    static Kvrwset__KVMetadataWrite mw = KVRWSET__KVMETADATA_WRITE__INIT;
    static Kvrwset__KVMetadataWrite *mws[] = {&mw};
    static Kvrwset__KVRWSet s = KVRWSET__KVRWSET__INIT;

    v1.block_num = 5;
    v1.tx_num = 0;
    v2.block_num = 3;
    v2.tx_num = 1;
    r1.key = S("k1");
    r1.version = &v1;
    r2.key = S("k2"); /* no version: key did not exist */
    rr.key = S("b");
    rr.version = &v2;
    qr.n_kv_reads = N(rrs);
    qr.kv_reads = rrs;
    q1.start_key = S("a");
    q1.end_key = S("m");
    q1.itr_exhausted = 1;
    q1.reads_info_case = KVRWSET__RANGE_QUERY_INFO__READS_INFO_RAW_READS;
    q1.raw_reads = &qr;
    lh[0] = pat(32, 10);
    lh[1] = pat(32, 11);
    mh.max_degree = 50;
    mh.max_level = 2;
    mh.n_max_level_hashes = N(lh);
    mh.max_level_hashes = lh;
    q2.start_key = S("n");
    q2.reads_info_case = KVRWSET__RANGE_QUERY_INFO__READS_INFO_READS_MERKLE_HASHES;
    q2.reads_merkle_hashes = &mh;
    w1.key = S("k3");
    w1.value = BIN("v3");
    w2.key = S("k4");
    w2.is_delete = 1;
    me.name = S("VALIDATION_PARAMETER");
    me.value = pat(16, 12);
    mw.key = S("k3");
    mw.n_entries = N(mes);
    mw.entries = mes;
    s.n_reads = N(reads);
    s.reads = reads;
    s.n_range_queries_info = N(qs);
    s.range_queries_info = qs;
    s.n_writes = N(ws);
    s.writes = ws;
    s.n_metadata_writes = N(mws);
    s.metadata_writes = mws;
    return &s;
}

static Rwset__TxReadWriteSet *sample_txrwset(void)
{
    static Kvrwset__Version v = KVRWSET__VERSION__INIT;
    static Kvrwset__KVReadHash rh = KVRWSET__KVREAD_HASH__INIT;
    static Kvrwset__KVReadHash *rhs[] = {&rh};
    static Kvrwset__KVWriteHash wh = KVRWSET__KVWRITE_HASH__INIT;
    static Kvrwset__KVWriteHash *whs[] = {&wh};
    static Kvrwset__KVMetadataEntry me = KVRWSET__KVMETADATA_ENTRY__INIT;
    static Kvrwset__KVMetadataEntry *mes[] = {&me};
    static Kvrwset__KVMetadataWriteHash mwh = KVRWSET__KVMETADATA_WRITE_HASH__INIT;
    static Kvrwset__KVMetadataWriteHash *mwhs[] = {&mwh};
    static Kvrwset__HashedRWSet hrw = KVRWSET__HASHED_RWSET__INIT;
    static Rwset__CollectionHashedReadWriteSet ch = RWSET__COLLECTION_HASHED_READ_WRITE_SET__INIT;
    static Rwset__CollectionHashedReadWriteSet *chs[] = {&ch};
    static Rwset__NsReadWriteSet ns1 = RWSET__NS_READ_WRITE_SET__INIT;
    static Rwset__NsReadWriteSet ns2 = RWSET__NS_READ_WRITE_SET__INIT;
    static Rwset__NsReadWriteSet *nss[] = {&ns1, &ns2};
    static Rwset__TxReadWriteSet t = RWSET__TX_READ_WRITE_SET__INIT;

    v.block_num = 1;
    v.tx_num = 2;
    rh.key_hash = pat(32, 20);
    rh.version = &v;
    wh.key_hash = pat(32, 21);
    wh.is_delete = 1;
    wh.value_hash = pat(32, 22);
    wh.is_purge = 1;
    me.name = S("m");
    me.value = BIN("mv");
    mwh.key_hash = pat(32, 23);
    mwh.n_entries = N(mes);
    mwh.entries = mes;
    hrw.n_hashed_reads = N(rhs);
    hrw.hashed_reads = rhs;
    hrw.n_hashed_writes = N(whs);
    hrw.hashed_writes = whs;
    hrw.n_metadata_writes = N(mwhs);
    hrw.metadata_writes = mwhs;
    ch.collection_name = S("c1");
    ch.hashed_rwset = pack(&hrw);
    ch.pvt_rwset_hash = pat(32, 24);
    ns1.namespace_ = S("basic");
    ns1.rwset = pack(sample_kvrwset());
    ns1.n_collection_hashed_rwset = N(chs);
    ns1.collection_hashed_rwset = chs;
    ns2.namespace_ = S("_lifecycle");
    t.data_model = RWSET__TX_READ_WRITE_SET__DATA_MODEL__KV;
    t.n_ns_rwset = N(nss);
    t.ns_rwset = nss;
    return &t;
}

static Common__ConfigEnvelope *sample_config_envelope(void)
{
    static Msp__FabricCryptoConfig cc = MSP__FABRIC_CRYPTO_CONFIG__INIT;
    static Msp__FabricOUIdentifier ou_client = MSP__FABRIC_OUIDENTIFIER__INIT;
    static Msp__FabricOUIdentifier ou_peer = MSP__FABRIC_OUIDENTIFIER__INIT;
    static Msp__FabricNodeOUs nous = MSP__FABRIC_NODE_OUS__INIT;
    static ProtobufCBinaryData roots[1];
    static Msp__FabricMSPConfig fmc = MSP__FABRIC_MSPCONFIG__INIT;
    static Msp__MSPConfig mc = MSP__MSPCONFIG__INIT;
    static Common__ConfigValue v_msp = COMMON__CONFIG_VALUE__INIT;
    static Common__ConfigGroup__ValuesEntry e_msp = COMMON__CONFIG_GROUP__VALUES_ENTRY__INIT;
    static Common__ConfigGroup__ValuesEntry *org_vals[] = {&e_msp};
    static Common__ConfigGroup org = COMMON__CONFIG_GROUP__INIT;
    static Common__ConfigGroup__GroupsEntry e_org = COMMON__CONFIG_GROUP__GROUPS_ENTRY__INIT;
    static Common__ConfigGroup__GroupsEntry *app_groups[] = {&e_org};
    static Common__ImplicitMetaPolicy imp = COMMON__IMPLICIT_META_POLICY__INIT;
    static Common__Policy pol_admins = COMMON__POLICY__INIT;
    static Common__ConfigPolicy cp_admins = COMMON__CONFIG_POLICY__INIT;
    static Common__Policy pol_readers = COMMON__POLICY__INIT;
    static Common__ConfigPolicy cp_readers = COMMON__CONFIG_POLICY__INIT;
    static Common__ConfigGroup__PoliciesEntry e_admins = COMMON__CONFIG_GROUP__POLICIES_ENTRY__INIT;
    static Common__ConfigGroup__PoliciesEntry e_readers = COMMON__CONFIG_GROUP__POLICIES_ENTRY__INIT;
    static Common__ConfigGroup__PoliciesEntry *app_pols[] = {&e_admins, &e_readers};
    static Common__ConfigGroup app = COMMON__CONFIG_GROUP__INIT;
    static Common__ConfigGroup ord = COMMON__CONFIG_GROUP__INIT;
    static Common__ConfigGroup__GroupsEntry e_app = COMMON__CONFIG_GROUP__GROUPS_ENTRY__INIT;
    static Common__ConfigGroup__GroupsEntry e_ord = COMMON__CONFIG_GROUP__GROUPS_ENTRY__INIT;
    static Common__ConfigGroup__GroupsEntry *ch_groups[] = {&e_app, &e_ord};
    static Common__BlockDataHashingStructure bdhs = COMMON__BLOCK_DATA_HASHING_STRUCTURE__INIT;
    static Common__Capability cap = COMMON__CAPABILITY__INIT;
    static Common__Capabilities__CapabilitiesEntry e_cap = COMMON__CAPABILITIES__CAPABILITIES_ENTRY__INIT;
    static Common__Capabilities__CapabilitiesEntry *caps_e[] = {&e_cap};
    static Common__Capabilities caps = COMMON__CAPABILITIES__INIT;
    static Common__HashingAlgorithm ha = COMMON__HASHING_ALGORITHM__INIT;
    static char *addrs[] = {S("orderer.example.com:7050")};
    static Common__OrdererAddresses oa = COMMON__ORDERER_ADDRESSES__INIT;
    static Common__ConfigValue cv[4];
    static Common__ConfigGroup__ValuesEntry ve[4];
    static Common__ConfigGroup__ValuesEntry *ch_vals[4];
    static Common__ConfigGroup chan = COMMON__CONFIG_GROUP__INIT;
    static Common__Config cfg = COMMON__CONFIG__INIT;
    static Common__Envelope lu = COMMON__ENVELOPE__INIT;
    static Common__ConfigEnvelope ce = COMMON__CONFIG_ENVELOPE__INIT;
    static const char *val_keys[4] = {"BlockDataHashingStructure", "Capabilities", "HashingAlgorithm",
                                      "OrdererAddresses"};

    cc.signature_hash_family = S("SHA2");
    cc.identity_identifier_hash_function = S("SHA256");
    ou_client.certificate = BIN(cert_pem);
    ou_client.organizational_unit_identifier = S("client");
    ou_peer.certificate = BIN(cert_pem);
    ou_peer.organizational_unit_identifier = S("peer");
    nous.enable = 1;
    nous.client_ou_identifier = &ou_client;
    nous.peer_ou_identifier = &ou_peer;
    roots[0] = BIN(cert_pem);
    fmc.name = S("Org1MSP");
    fmc.n_root_certs = N(roots);
    fmc.root_certs = roots;
    fmc.crypto_config = &cc;
    fmc.n_tls_root_certs = N(roots);
    fmc.tls_root_certs = roots;
    fmc.fabric_node_ous = &nous;
    mc.type = 0;
    mc.config = pack(&fmc);
    v_msp.value = pack(&mc);
    v_msp.mod_policy = S("Admins");
    e_msp.key = S("MSP");
    e_msp.value = &v_msp;
    org.version = 1;
    org.n_values = N(org_vals);
    org.values = org_vals;
    org.mod_policy = S("Admins");
    e_org.key = S("Org1MSP");
    e_org.value = &org;

    imp.sub_policy = S("Admins");
    imp.rule = COMMON__IMPLICIT_META_POLICY__RULE__MAJORITY;
    pol_admins.type = COMMON__POLICY__POLICY_TYPE__IMPLICIT_META;
    pol_admins.value = pack(&imp);
    cp_admins.policy = &pol_admins;
    cp_admins.mod_policy = S("Admins");
    pol_readers.type = COMMON__POLICY__POLICY_TYPE__SIGNATURE;
    pol_readers.value = pack(sample_policy_envelope());
    cp_readers.version = 2;
    cp_readers.policy = &pol_readers;
    cp_readers.mod_policy = S("Admins");
    e_admins.key = S("Admins");
    e_admins.value = &cp_admins;
    e_readers.key = S("Readers");
    e_readers.value = &cp_readers;
    app.version = 1;
    app.n_groups = N(app_groups);
    app.groups = app_groups;
    app.n_policies = N(app_pols);
    app.policies = app_pols;
    app.mod_policy = S("Admins");
    e_app.key = S("Application");
    e_app.value = &app;
    e_ord.key = S("Orderer");
    e_ord.value = &ord; /* empty group: still emitted as a zero-length value */

    bdhs.width = 4294967295u;
    e_cap.key = S("V2_0");
    e_cap.value = &cap;
    caps.n_capabilities = N(caps_e);
    caps.capabilities = caps_e;
    ha.name = S("SHA256");
    oa.n_addresses = N(addrs);
    oa.addresses = addrs;
    for (size_t i = 0; i < 4; i++) {
        common__config_value__init(&cv[i]);
        common__config_group__values_entry__init(&ve[i]);
        cv[i].mod_policy = S("Admins");
        ve[i].key = S(val_keys[i]);
        ve[i].value = &cv[i];
        ch_vals[i] = &ve[i];
    }
    cv[0].value = pack(&bdhs);
    cv[1].value = pack(&caps);
    cv[2].value = pack(&ha);
    cv[3].value = pack(&oa);
    chan.n_groups = N(ch_groups);
    chan.groups = ch_groups;
    chan.n_values = N(ch_vals);
    chan.values = ch_vals;
    chan.mod_policy = S("Admins");
    cfg.sequence = 3;
    cfg.channel_group = &chan;
    lu.payload = BIN("update");
    lu.signature = pat(8, 40);
    ce.config = &cfg;
    ce.last_update = &lu;
    return &ce;
}

static Orderer__SeekInfo *sample_seek_info(void)
{
    static Orderer__SeekNextCommit nc = ORDERER__SEEK_NEXT_COMMIT__INIT;
    static Orderer__SeekSpecified sp = ORDERER__SEEK_SPECIFIED__INIT;
    static Orderer__SeekPosition start = ORDERER__SEEK_POSITION__INIT;
    static Orderer__SeekPosition stop = ORDERER__SEEK_POSITION__INIT;
    static Orderer__SeekInfo si = ORDERER__SEEK_INFO__INIT;
    sp.number = 9007199254740991ull; /* 2^53-1, as fabric-gateway sends */
    start.type_case = ORDERER__SEEK_POSITION__TYPE_NEXT_COMMIT;
    start.next_commit = &nc;
    stop.type_case = ORDERER__SEEK_POSITION__TYPE_SPECIFIED;
    stop.specified = &sp;
    si.start = &start;
    si.stop = &stop;
    si.behavior = ORDERER__SEEK_INFO__SEEK_BEHAVIOR__FAIL_IF_NOT_READY;
    si.error_response = ORDERER__SEEK_INFO__SEEK_ERROR_RESPONSE__BEST_EFFORT;
    return &si;
}

static Discovery__Response *sample_discovery_response(void)
{
    static ProtobufCBinaryData roots[1];
    static Msp__FabricMSPConfig fmc = MSP__FABRIC_MSPCONFIG__INIT;
    static Discovery__ConfigResult__MspsEntry me = DISCOVERY__CONFIG_RESULT__MSPS_ENTRY__INIT;
    static Discovery__ConfigResult__MspsEntry *mes[] = {&me};
    static Discovery__Endpoint ep = DISCOVERY__ENDPOINT__INIT;
    static Discovery__Endpoint *eps[] = {&ep};
    static Discovery__Endpoints epss = DISCOVERY__ENDPOINTS__INIT;
    static Discovery__ConfigResult__OrderersEntry oe = DISCOVERY__CONFIG_RESULT__ORDERERS_ENTRY__INIT;
    static Discovery__ConfigResult__OrderersEntry *oes[] = {&oe};
    static Discovery__ConfigResult cr = DISCOVERY__CONFIG_RESULT__INIT;
    static Gossip__Envelope si = GOSSIP__ENVELOPE__INIT;
    static Gossip__Envelope mi = GOSSIP__ENVELOPE__INIT;
    static Discovery__Peer peer = DISCOVERY__PEER__INIT;
    static Discovery__Peer *peerv[] = {&peer};
    static Discovery__Peers peers = DISCOVERY__PEERS__INIT;
    static Discovery__PeerMembershipResult__PeersByOrgEntry pbo =
        DISCOVERY__PEER_MEMBERSHIP_RESULT__PEERS_BY_ORG_ENTRY__INIT;
    static Discovery__PeerMembershipResult__PeersByOrgEntry *pbos[] = {&pbo};
    static Discovery__PeerMembershipResult pmr = DISCOVERY__PEER_MEMBERSHIP_RESULT__INIT;
    static Discovery__EndorsementDescriptor__EndorsersByGroupsEntry ebg =
        DISCOVERY__ENDORSEMENT_DESCRIPTOR__ENDORSERS_BY_GROUPS_ENTRY__INIT;
    static Discovery__EndorsementDescriptor__EndorsersByGroupsEntry *ebgs[] = {&ebg};
    static Discovery__Layout__QuantitiesByGroupEntry q0 = DISCOVERY__LAYOUT__QUANTITIES_BY_GROUP_ENTRY__INIT;
    static Discovery__Layout__QuantitiesByGroupEntry q1 = DISCOVERY__LAYOUT__QUANTITIES_BY_GROUP_ENTRY__INIT;
    static Discovery__Layout__QuantitiesByGroupEntry *qs[] = {&q0, &q1};
    static Discovery__Layout lay = DISCOVERY__LAYOUT__INIT;
    static Discovery__Layout *lays[] = {&lay};
    static Discovery__EndorsementDescriptor ed = DISCOVERY__ENDORSEMENT_DESCRIPTOR__INIT;
    static Discovery__EndorsementDescriptor *eds[] = {&ed};
    static Discovery__ChaincodeQueryResult ccr = DISCOVERY__CHAINCODE_QUERY_RESULT__INIT;
    static Discovery__Error err = DISCOVERY__ERROR__INIT;
    static Discovery__QueryResult r[4];
    static Discovery__QueryResult *rs[4];
    static Discovery__Response resp = DISCOVERY__RESPONSE__INIT;
    static Gossip__Member mem = GOSSIP__MEMBER__INIT;
    static Gossip__PeerTime pt = GOSSIP__PEER_TIME__INIT;
    static Gossip__AliveMessage am = GOSSIP__ALIVE_MESSAGE__INIT;
    static Gossip__GossipMessage gm_alive = GOSSIP__GOSSIP_MESSAGE__INIT;
    static Gossip__Chaincode gcc = GOSSIP__CHAINCODE__INIT;
    static Gossip__Chaincode *gccs[] = {&gcc};
    static Gossip__Properties props = GOSSIP__PROPERTIES__INIT;
    static Gossip__StateInfo sti = GOSSIP__STATE_INFO__INIT;
    static Gossip__GossipMessage gm_state = GOSSIP__GOSSIP_MESSAGE__INIT;

    roots[0] = BIN(cert_pem);
    fmc.name = S("Org1MSP");
    fmc.n_root_certs = N(roots);
    fmc.root_certs = roots;
    fmc.n_tls_root_certs = N(roots);
    fmc.tls_root_certs = roots;
    me.key = S("Org1MSP");
    me.value = &fmc;
    ep.host = S("orderer.example.com");
    ep.port = 7050;
    epss.n_endpoint = N(eps);
    epss.endpoint = eps;
    oe.key = S("OrdererMSP");
    oe.value = &epss;
    cr.n_msps = N(mes);
    cr.msps = mes;
    cr.n_orderers = N(oes);
    cr.orderers = oes;

    mem.endpoint = S("peer0.org1.example.com:7051");
    mem.pki_id = pat(32, 30);
    pt.inc_num = 1700000000000ull;
    pt.seq_num = 3;
    am.membership = &mem;
    am.timestamp = &pt;
    gm_alive.nonce = 5;
    gm_alive.tag = GOSSIP__GOSSIP_MESSAGE__TAG__EMPTY;
    gm_alive.content_case = GOSSIP__GOSSIP_MESSAGE__CONTENT_ALIVE_MSG;
    gm_alive.alive_msg = &am;
    gcc.name = S("basic");
    gcc.version = S("1.0");
    props.ledger_height = 10;
    props.n_chaincodes = N(gccs);
    props.chaincodes = gccs;
    sti.timestamp = &pt;
    sti.pki_id = pat(32, 30);
    sti.properties = &props;
    gm_state.channel = BIN("mychannel");
    gm_state.tag = GOSSIP__GOSSIP_MESSAGE__TAG__CHAN_ONLY;
    gm_state.content_case = GOSSIP__GOSSIP_MESSAGE__CONTENT_STATE_INFO;
    gm_state.state_info = &sti;
    si.payload = pack(&gm_state);
    si.signature = pat(8, 31);
    mi.payload = pack(&gm_alive);
    mi.signature = pat(8, 32);
    peer.state_info = &si;
    peer.membership_info = &mi;
    peer.identity = creator_bytes();
    peers.n_peers = N(peerv);
    peers.peers = peerv;
    pbo.key = S("Org1MSP");
    pbo.value = &peers;
    pmr.n_peers_by_org = N(pbos);
    pmr.peers_by_org = pbos;

    ebg.key = S("G0");
    ebg.value = &peers;
    q0.key = S("G0");
    q0.value = 1;
    q1.key = S("G1");
    q1.value = 2;
    lay.n_quantities_by_group = N(qs);
    lay.quantities_by_group = qs;
    ed.chaincode = S("basic");
    ed.n_endorsers_by_groups = N(ebgs);
    ed.endorsers_by_groups = ebgs;
    ed.n_layouts = N(lays);
    ed.layouts = lays;
    ccr.n_content = N(eds);
    ccr.content = eds;
    err.content = S("access denied");

    for (size_t i = 0; i < 4; i++) {
        discovery__query_result__init(&r[i]);
        rs[i] = &r[i];
    }
    r[0].result_case = DISCOVERY__QUERY_RESULT__RESULT_CONFIG_RESULT;
    r[0].config_result = &cr;
    r[1].result_case = DISCOVERY__QUERY_RESULT__RESULT_MEMBERS;
    r[1].members = &pmr;
    r[2].result_case = DISCOVERY__QUERY_RESULT__RESULT_CC_QUERY_RES;
    r[2].cc_query_res = &ccr;
    r[3].result_case = DISCOVERY__QUERY_RESULT__RESULT_ERROR;
    r[3].error = &err;
    resp.n_results = N(rs);
    resp.results = rs;
    return &resp;
}

static Etcdraft__BlockMetadata *sample_raft_metadata(void)
{
    static uint64_t ids[] = {1, 2, 300, 1ull << 40};
    static Etcdraft__BlockMetadata m = ETCDRAFT__BLOCK_METADATA__INIT;
    m.n_consenter_ids = N(ids); /* proto3 repeated scalar: packed */
    m.consenter_ids = ids;
    m.next_consenter_id = 5;
    m.raft_index = 1234567;
    return &m;
}

struct sample {
    const char *name;
    const void *(*build)(const char *variant);
    const char *variant;
};

#define WRAP(fn, expr)                              \
    static const void *fn(const char *variant)      \
    {                                               \
        (void)variant;                              \
        return (expr);                              \
    }
WRAP(w_signed_proposal, sample_signed_proposal())
WRAP(w_proposal_response, sample_proposal_response())
WRAP(w_envelope, sample_tx_envelope())
WRAP(w_block, sample_block())
WRAP(w_chaincode_message, sample_chaincode_message())
WRAP(w_endorse_request, sample_endorse_request())
WRAP(w_deliver_response, sample_deliver_response(variant))
WRAP(w_kvrwset, sample_kvrwset())
WRAP(w_txrwset, sample_txrwset())
WRAP(w_config_envelope, sample_config_envelope())
WRAP(w_seek_info, sample_seek_info())
WRAP(w_discovery_response, sample_discovery_response())
WRAP(w_raft_metadata, sample_raft_metadata())
WRAP(w_policy_envelope, sample_policy_envelope())

static const struct sample samples[] = {
    {"protos.SignedProposal", w_signed_proposal, NULL},
    {"protos.ProposalResponse", w_proposal_response, NULL},
    {"common.Envelope", w_envelope, NULL},
    {"common.Block", w_block, NULL},
    {"protos.ChaincodeMessage", w_chaincode_message, NULL},
    {"gateway.EndorseRequest", w_endorse_request, NULL},
    {"protos.DeliverResponse", w_deliver_response, "block"},
    {"protos.DeliverResponse", w_deliver_response, "status"},
    {"protos.DeliverResponse", w_deliver_response, "status0"},
    {"protos.DeliverResponse", w_deliver_response, "filtered"},
    {"kvrwset.KVRWSet", w_kvrwset, NULL},
    {"rwset.TxReadWriteSet", w_txrwset, NULL},
    {"common.ConfigEnvelope", w_config_envelope, NULL},
    {"orderer.SeekInfo", w_seek_info, NULL},
    {"discovery.Response", w_discovery_response, NULL},
    {"etcdraft.BlockMetadata", w_raft_metadata, NULL},
    {"common.SignaturePolicyEnvelope", w_policy_envelope, NULL},
};

/* ---- modes -------------------------------------------------------------- */

static int do_make(const char *arg)
{
    const char *colon = strchr(arg, ':');
    size_t nlen = colon ? (size_t)(colon - arg) : strlen(arg);
    const char *variant = colon ? colon + 1 : NULL;
    for (size_t i = 0; i < N(samples); i++) {
        const struct sample *s = &samples[i];
        if (strlen(s->name) != nlen || strncmp(s->name, arg, nlen) != 0)
            continue;
        if ((variant == NULL) != (s->variant == NULL) ||
            (variant != NULL && strcmp(variant, s->variant) != 0))
            continue;
        const ProtobufCMessage *m = s->build(variant);
        if (m->descriptor != weft_proto_find_message(s->name)) {
            fprintf(stderr, "wire_roundtrip: sample %s has the wrong descriptor\n", arg);
            return 1;
        }
        return emit(m) == 0 ? 0 : 1;
    }
    fprintf(stderr, "wire_roundtrip: no sample named %s (see make-list)\n", arg);
    return 1;
}

static int do_make_list(void)
{
    for (size_t i = 0; i < N(samples); i++) {
        if (samples[i].variant)
            printf("%s:%s\n", samples[i].name, samples[i].variant);
        else
            printf("%s\n", samples[i].name);
    }
    return 0;
}

static int do_decode_encode(const char *name)
{
    const ProtobufCMessageDescriptor *d = weft_proto_find_message(name);
    if (d == NULL) {
        fprintf(stderr, "wire_roundtrip: unknown message type %s\n", name);
        return 1;
    }
    struct weft_buf in;
    weft_buf_init(&in, WIRE_MAX_INPUT);
    int rc = 1;
    ProtobufCMessage *m = NULL;
    uint8_t chunk[65536];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "wire_roundtrip: read: %s\n", strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        if (weft_buf_append(&in, chunk, (size_t)r) != 0) {
            fprintf(stderr, "wire_roundtrip: input larger than %u bytes\n", WIRE_MAX_INPUT);
            goto cleanup;
        }
    }
    m = protobuf_c_message_unpack(d, &pb_allocator, in.len, in.data);
    if (m == NULL) {
        fprintf(stderr, "wire_roundtrip: malformed %s (%zu bytes)\n", name, in.len);
        goto cleanup;
    }
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = weft_malloc(len ? len : 1);
    if (out == NULL) {
        fprintf(stderr, "wire_roundtrip: out of memory\n");
        goto cleanup;
    }
    size_t got = protobuf_c_message_pack(m, out);
    if (got == len && write_all(out, len) == 0)
        rc = 0;
    else if (got != len)
        fprintf(stderr, "wire_roundtrip: packed %zu bytes, expected %zu\n", got, len);
    weft_free(out);
cleanup:
    if (m)
        protobuf_c_message_free_unpacked(m, &pb_allocator);
    weft_buf_close(&in);
    return rc;
}

/* Checks the generated registry: sorted, every entry findable by name,
 * misses return NULL. Prints a one-line summary. */
static int do_registry_check(void)
{
    size_t n = 0, ne = 0;
    const ProtobufCMessageDescriptor *const *all = weft_proto_all_messages(&n);
    const ProtobufCEnumDescriptor *const *alle = weft_proto_all_enums(&ne);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i]->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
            fprintf(stderr, "bad magic at %zu\n", i);
            bad = 1;
        }
        if (i > 0 && strcmp(all[i - 1]->name, all[i]->name) >= 0) {
            fprintf(stderr, "not sorted: %s >= %s\n", all[i - 1]->name, all[i]->name);
            bad = 1;
        }
        if (weft_proto_find_message(all[i]->name) != all[i]) {
            fprintf(stderr, "lookup failed: %s\n", all[i]->name);
            bad = 1;
        }
    }
    for (size_t i = 0; i < ne; i++) {
        if (i > 0 && strcmp(alle[i - 1]->name, alle[i]->name) >= 0)
            bad = 1;
        if (weft_proto_find_enum(alle[i]->name) != alle[i]) {
            fprintf(stderr, "enum lookup failed: %s\n", alle[i]->name);
            bad = 1;
        }
    }
    const char *misses[] = {"", "common", "common.Block.", "common.Blocks", "zzz", "Common.Block"};
    for (size_t i = 0; i < N(misses); i++) {
        if (weft_proto_find_message(misses[i]) != NULL || weft_proto_find_enum(misses[i]) != NULL) {
            fprintf(stderr, "unexpected hit: '%s'\n", misses[i]);
            bad = 1;
        }
    }
    if (weft_proto_find_message(NULL) != NULL || weft_proto_find_enum(NULL) != NULL)
        bad = 1;
    printf("messages %zu enums %zu\n", n, ne);
    return bad;
}

static const char *type_name(ProtobufCType t)
{
    static const char *const names[] = {"int32", "sint32", "sfixed32", "int64", "sint64", "sfixed64",
                                        "uint32", "fixed32", "uint64", "fixed64", "float", "double",
                                        "bool", "enum", "string", "bytes", "message"};
    return (size_t)t < N(names) ? names[t] : "?";
}

/* protobuf-c keeps no map_entry option: a map field is a repeated field of a
 * two-field "<Field>Entry" type nested in the message itself. */
static int is_map_entry(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
        return 0;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t n = strlen(e->name), dn = strlen(d->name);
    return n > dn + 6 && strncmp(e->name, d->name, dn) == 0 && e->name[dn] == '.' &&
           strcmp(e->name + n - 5, "Entry") == 0 && e->n_fields == 2;
}

/* One line per field: "<message> <number> <kind>" where kind is
 * "<type>[:<message type>]", prefixed "repeated " / "packed ", or
 * "map <key type> <value type>[:<message type>]". Compared against the
 * writers in Fabric's generated JS by wire.test.js. */
static int do_schema(void)
{
    size_t n = 0;
    const ProtobufCMessageDescriptor *const *all = weft_proto_all_messages(&n);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d = all[i];
        for (unsigned j = 0; j < d->n_fields; j++) {
            const ProtobufCFieldDescriptor *f = &d->fields[j];
            printf("%s %u ", d->name, f->id);
            if (is_map_entry(d, f)) {
                const ProtobufCMessageDescriptor *e = f->descriptor;
                const ProtobufCFieldDescriptor *v = &e->fields[1];
                printf("map %s %s", type_name(e->fields[0].type), type_name(v->type));
                if (v->type == PROTOBUF_C_TYPE_MESSAGE)
                    printf(":%s", ((const ProtobufCMessageDescriptor *)v->descriptor)->name);
            } else {
                if (f->label == PROTOBUF_C_LABEL_REPEATED)
                    printf((f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) ? "packed " : "repeated ");
                printf("%s", type_name(f->type));
                if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                    printf(":%s", ((const ProtobufCMessageDescriptor *)f->descriptor)->name);
            }
            printf("\n");
        }
    }
    return 0;
}

static int do_list(void)
{
    size_t n = 0;
    const ProtobufCMessageDescriptor *const *all = weft_proto_all_messages(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", all[i]->name);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc == 3 && strcmp(argv[1], "decode-encode") == 0)
        rc = do_decode_encode(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "make") == 0)
        rc = do_make(argv[2]);
    else if (argc == 2 && strcmp(argv[1], "make-list") == 0)
        rc = do_make_list();
    else if (argc == 2 && strcmp(argv[1], "registry-check") == 0)
        rc = do_registry_check();
    else if (argc == 2 && strcmp(argv[1], "list") == 0)
        rc = do_list();
    else if (argc == 2 && strcmp(argv[1], "schema") == 0)
        rc = do_schema();
    else
        fprintf(stderr, "usage: wire_roundtrip decode-encode <Message> | make <Message>[:variant] | "
                        "make-list | list | schema | registry-check\n");
    free_owned();
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}
