/* qscc and cscc through the endorser of a peer built with
 * weft_peer_new_opts over the Fabric v2.4.9 vector chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "common/ledger.pb-c.h"
#include "msp/identities.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/query.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/peer.h"

#define VEC "vectors/fabric-2.4.9"
#define NBLOCKS 12 /* vector blocks committed: 0..NBLOCKS-1 */

struct fixture {
    char *dir;
    struct weft_peer *peer;
    struct weft_msp *user, *admin, *org2, *ord;
    uint8_t *genesis;
    size_t genesis_len;
};
static struct fixture *G;

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

/* A signed proposal for cc with args (args[i] of length lens[i]; lens NULL
 * = strlen). */
static uint8_t *proposal(struct weft_msp *who, const char *channel, const char *cc,
                         const char *const *args, const size_t *lens, size_t nargs, size_t *len)
{
    size_t cl;
    const uint8_t *creator = weft_msp_identity_serialized(weft_msp_signer(who), &cl);
    uint8_t nonce[24];
    assert_int_equal(weft_crypto_random(nonce, sizeof(nonce)), 0);
    uint8_t *nc = weft_malloc(sizeof(nonce) + cl);
    memcpy(nc, nonce, sizeof(nonce));
    memcpy(nc + sizeof(nonce), creator, cl);
    uint8_t h[32];
    weft_sha256(nc, sizeof(nonce) + cl, h);
    weft_free(nc);
    char txid[65];
    weft_crypto_hex(h, 32, txid);
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)cc;
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    size_t el, chl, shl, cisl, hl, pl, propl;
    uint8_t *eb = pack(&ext.base, &el);
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = 3;
    ch.channel_id = (char *)channel;
    ch.tx_id = txid;
    ch.extension.data = eb;
    ch.extension.len = el;
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)creator;
    sh.creator.len = cl;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    Common__Header hdr = COMMON__HEADER__INIT;
    hdr.channel_header.data = pack(&ch.base, &chl);
    hdr.channel_header.len = chl;
    hdr.signature_header.data = pack(&sh.base, &shl);
    hdr.signature_header.len = shl;
    ProtobufCBinaryData a[8];
    for (size_t i = 0; i < nargs; i++) {
        a[i].data = (uint8_t *)args[i];
        a[i].len = lens != NULL ? lens[i] : strlen(args[i]);
    }
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = nargs;
    in.args = a;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    spec.chaincode_id = &cid;
    spec.input = &in;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    cis.chaincode_spec = &spec;
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    cpp.input.data = pack(&cis.base, &cisl);
    cpp.input.len = cisl;
    Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    prop.header.data = pack(&hdr.base, &hl);
    prop.header.len = hl;
    prop.payload.data = pack(&cpp.base, &pl);
    prop.payload.len = pl;
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    sp.proposal_bytes.data = pack(&prop.base, &propl);
    sp.proposal_bytes.len = propl;
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    struct weft_err e = {0};
    assert_int_equal(weft_msp_sign(who, sp.proposal_bytes.data, propl, sig, &sigl, &e), 0);
    sp.signature.data = sig;
    sp.signature.len = sigl;
    uint8_t *out = pack(&sp.base, len);
    weft_free(eb);
    weft_free(hdr.channel_header.data);
    weft_free(hdr.signature_header.data);
    weft_free(cpp.input.data);
    weft_free(prop.header.data);
    weft_free(prop.payload.data);
    weft_free(sp.proposal_bytes.data);
    return out;
}

/* Endorses; rc of weft_peer_endorse; *pr decoded on 0. */
static int call(struct weft_msp *who, const char *channel, const char *cc, const char *const *args,
                const size_t *lens, size_t nargs, Protos__ProposalResponse **pr, struct weft_err *e)
{
    size_t len;
    uint8_t *sp = proposal(who, channel, cc, args, lens, nargs, &len);
    uint8_t *out = NULL;
    size_t ol = 0;
    *pr = NULL;
    int rc = weft_peer_endorse(G->peer, sp, len, &out, &ol, e);
    if (rc == 0) {
        *pr = protos__proposal_response__unpack(NULL, ol, out);
        assert_non_null(*pr);
        assert_non_null((*pr)->response);
    }
    weft_free(out);
    weft_free(sp);
    return rc;
}

static struct weft_msp *load(const char *rel, const char *mspid)
{
    char *d = weft_asprintf("%s/" VEC "/crypto/%s/msp", wt_shared_dir(), rel);
    struct weft_msp *m = NULL;
    struct weft_err e = {0};
    assert_int_equal(weft_msp_load_dir(d, mspid, &m, &e), 0);
    weft_free(d);
    return m;
}

static int setup(void **state)
{
    (void)state;
    G = weft_calloc(1, sizeof(*G));
    G->dir = wt_tmpdir("peersys");
    char *msp = weft_asprintf("%s/" VEC "/crypto/peerOrganizations/org1.example.com/peers/"
                              "peer0.org1.example.com/msp",
                              wt_shared_dir());
    struct weft_peer_opts o = {
        .fs_path = G->dir,
        .msp_dir = msp,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .ledger_no_sync = true,
    };
    struct weft_err e = {0};
    G->peer = weft_peer_new_opts(&o, NULL, &e);
    weft_free(msp);
    if (G->peer == NULL) {
        fprintf(stderr, "peer: %s\n", e.msg);
        return -1;
    }
    G->user = load("peerOrganizations/org1.example.com/users/User1@org1.example.com", "Org1MSP");
    G->admin = load("peerOrganizations/org1.example.com/users/Admin@org1.example.com", "Org1MSP");
    G->org2 = load("peerOrganizations/org2.example.com/users/User1@org2.example.com", "Org2MSP");
    G->ord = load("ordererOrganizations/example.com/users/Admin@example.com", "OrdererMSP");
    for (int i = 0; i < NBLOCKS; i++) {
        char *p = weft_asprintf("%s/" VEC "/blocks/%06d.block", wt_shared_dir(), i);
        size_t l;
        char *b = wt_read_file(p, &l);
        assert_non_null(b);
        if (i == 0) {
            G->genesis = (uint8_t *)b;
            G->genesis_len = l;
            assert_int_equal(weft_peer_join(G->peer, G->genesis, l, NULL, &e), 0);
        } else {
            assert_int_equal(weft_peer_commit_block(G->peer, "mychannel", (uint8_t *)b, l, &e), 0);
            weft_free(b);
        }
        weft_free(p);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    weft_peer_free(G->peer);
    weft_msp_unref(G->user);
    weft_msp_unref(G->admin);
    weft_msp_unref(G->org2);
    weft_msp_unref(G->ord);
    wt_rmtree(G->dir);
    weft_free(G->dir);
    weft_free(G->genesis);
    weft_free(G);
    return 0;
}

/* Decoded block of the vector chain (free with common__block__free_unpacked). */
static Common__Block *vector_block(int n)
{
    char *p = weft_asprintf("%s/" VEC "/blocks/%06d.block", wt_shared_dir(), n);
    size_t l;
    char *b = wt_read_file(p, &l);
    Common__Block *blk = common__block__unpack(NULL, l, (uint8_t *)b);
    weft_free(b);
    weft_free(p);
    assert_non_null(blk);
    return blk;
}

static void expect_fail(Protos__ProposalResponse *pr, const char *needle)
{
    assert_int_equal(pr->response->status, 500);
    if (strstr(pr->response->message, needle) == NULL) {
        fail_msg("message '%s' lacks '%s'", pr->response->message, needle);
    }
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_chain_info(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr;
    struct weft_err e = {0};
    const char *a[] = {"GetChainInfo", "mychannel"};
    /* channel-bound: endorsed like any chaincode, version "syscc" */
    assert_int_equal(call(G->user, "mychannel", "qscc", a, NULL, 2, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    Common__BlockchainInfo *bi = common__blockchain_info__unpack(NULL, pr->response->payload.len,
                                                                 pr->response->payload.data);
    assert_non_null(bi);
    assert_int_equal(bi->height, NBLOCKS);
    assert_int_equal(bi->currentblockhash.len, 32);
    Common__Block *last = vector_block(NBLOCKS - 1);
    assert_memory_equal(bi->previousblockhash.data, last->header->previous_hash.data, 32);
    common__block__free_unpacked(last, NULL);
    common__blockchain_info__free_unpacked(bi, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    /* channel-less (Fabric's CLI): response only */
    assert_int_equal(call(G->user, "", "qscc", a, NULL, 2, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    assert_null(pr->endorsement);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_blocks_and_txs(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr;
    struct weft_err e = {0};
    const char *a[] = {"GetBlockByNumber", "mychannel", "3"};
    assert_int_equal(call(G->user, "", "qscc", a, NULL, 3, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Common__Block *b3 =
        common__block__unpack(NULL, pr->response->payload.len, pr->response->payload.data);
    assert_non_null(b3);
    assert_int_equal(b3->header->number, 3);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* by hash: the hash of block 3's header is block 4's previous_hash */
    Common__Block *b4 = vector_block(4);
    const char *ah[] = {"GetBlockByHash", "mychannel",
                        (const char *)b4->header->previous_hash.data};
    size_t lh[] = {14, 9, b4->header->previous_hash.len};
    assert_int_equal(call(G->user, "", "qscc", ah, lh, 3, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Common__Block *bh =
        common__block__unpack(NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(bh->header->number, 3);
    common__block__free_unpacked(bh, NULL);
    common__block__free_unpacked(b4, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);

    /* a transaction of block 3 by id, and its block */
    Common__Envelope *env =
        common__envelope__unpack(NULL, b3->data->data[0].len, b3->data->data[0].data);
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    Common__ChannelHeader *ch = common__channel_header__unpack(NULL, pl->header->channel_header.len,
                                                               pl->header->channel_header.data);
    const char *at[] = {"GetTransactionByID", "mychannel", ch->tx_id};
    assert_int_equal(call(G->user, "", "qscc", at, NULL, 3, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Protos__ProcessedTransaction *pt = protos__processed_transaction__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_non_null(pt);
    assert_non_null(pt->transactionenvelope);
    assert_int_equal(pt->validationcode, b3->metadata->metadata[2].data[0]);
    assert_memory_equal(pt->transactionenvelope->payload.data, env->payload.data, env->payload.len);
    protos__processed_transaction__free_unpacked(pt, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    const char *ab[] = {"GetBlockByTxID", "mychannel", ch->tx_id};
    assert_int_equal(call(G->user, "", "qscc", ab, NULL, 3, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Common__Block *bt =
        common__block__unpack(NULL, pr->response->payload.len, pr->response->payload.data);
    assert_int_equal(bt->header->number, 3);
    common__block__free_unpacked(bt, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    common__channel_header__free_unpacked(ch, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
    common__block__free_unpacked(b3, NULL);
}

static void test_qscc_bad_requests(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr;
    struct weft_err e = {0};
    const char *one[] = {"GetChainInfo"};
    assert_int_equal(call(G->user, "", "qscc", one, NULL, 1, &pr, &e), 0);
    expect_fail(pr, "Incorrect number of arguments, 1");
    const char *nonum[] = {"GetBlockByNumber", "mychannel", "12x"};
    assert_int_equal(call(G->user, "", "qscc", nonum, NULL, 3, &pr, &e), 0);
    expect_fail(pr, "Failed to parse block number");
    const char *neg[] = {"GetBlockByNumber", "mychannel", "-1"};
    assert_int_equal(call(G->user, "", "qscc", neg, NULL, 3, &pr, &e), 0);
    expect_fail(pr, "Failed to parse block number");
    const char *far[] = {"GetBlockByNumber", "mychannel", "999"};
    assert_int_equal(call(G->user, "", "qscc", far, NULL, 3, &pr, &e), 0);
    expect_fail(pr, "Failed to get block number 999");
    const char *miss[] = {"GetBlockByNumber", "mychannel"};
    assert_int_equal(call(G->user, "", "qscc", miss, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "missing 3rd argument for GetBlockByNumber");
    const char *unk[] = {"GetSomething", "mychannel"};
    assert_int_equal(call(G->user, "", "qscc", unk, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "Requested function GetSomething not found.");
    const char *noch[] = {"GetChainInfo", "nochannel"};
    assert_int_equal(call(G->user, "", "qscc", noch, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "Invalid chain ID, nochannel");
    const char *notx[] = {"GetTransactionByID", "mychannel", "beef"};
    assert_int_equal(call(G->user, "", "qscc", notx, NULL, 3, &pr, &e), 0);
    expect_fail(pr, "Failed to get transaction with id beef");
}

static void test_acls(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr;
    struct weft_err e = {0};
    const char *a[] = {"GetChainInfo", "mychannel"};
    /* Org2 is a reader of the channel (channel-bound proposal) */
    assert_int_equal(call(G->org2, "mychannel", "qscc", a, NULL, 2, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    protos__proposal_response__free_unpacked(pr, NULL);
    /* ... but not a local identity of this Org1 peer (channel-less) */
    assert_int_not_equal(call(G->org2, "", "qscc", a, NULL, 2, &pr, &e), 0);
    assert_non_null(strstr(e.msg, "access denied"));
    /* the orderer org is not an application reader */
    assert_int_equal(call(G->ord, "mychannel", "qscc", a, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "access denied for [GetChainInfo][mychannel]");
    const char *cb[] = {"GetConfigBlock", "mychannel"};
    assert_int_equal(call(G->ord, "mychannel", "cscc", cb, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "access denied for [GetConfigBlock][mychannel]");
    /* JoinChain: local admins only */
    const char *j[] = {"JoinChain", (const char *)G->genesis};
    size_t jl[] = {9, G->genesis_len};
    assert_int_equal(call(G->user, "", "cscc", j, jl, 2, &pr, &e), 0);
    expect_fail(pr, "access denied for [JoinChain]");
    assert_int_equal(call(G->org2, "mychannel", "cscc", j, jl, 2, &pr, &e), 0);
    expect_fail(pr, "access denied for [JoinChain]");
    assert_int_equal(call(G->admin, "", "cscc", j, jl, 2, &pr, &e), 0);
    expect_fail(pr, "already joined");
    const char *jbad[] = {"JoinChain", "not a block"};
    assert_int_equal(call(G->admin, "", "cscc", jbad, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "JoinChain failed");
    const char *jnone[] = {"JoinChain"};
    assert_int_equal(call(G->admin, "", "cscc", jnone, NULL, 1, &pr, &e), 0);
    expect_fail(pr, "no configuration block");
    const char *snap[] = {"JoinBySnapshot", "/tmp/x"};
    assert_int_equal(call(G->admin, "", "cscc", snap, NULL, 2, &pr, &e), 0);
    expect_fail(pr, "not supported yet");
    /* GetChannels: any valid local member; Org2 is refused on a channel proposal */
    const char *gc[] = {"GetChannels"};
    assert_int_equal(call(G->org2, "mychannel", "cscc", gc, NULL, 1, &pr, &e), 0);
    expect_fail(pr, "access denied for [GetChannels]");
}

static void test_cscc(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr;
    struct weft_err e = {0};
    const char *gc[] = {"GetChannels"};
    assert_int_equal(call(G->user, "", "cscc", gc, NULL, 1, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Protos__ChannelQueryResponse *q = protos__channel_query_response__unpack(
        NULL, pr->response->payload.len, pr->response->payload.data);
    assert_non_null(q);
    assert_int_equal(q->n_channels, 1);
    assert_string_equal(q->channels[0]->channel_id, "mychannel");
    protos__channel_query_response__free_unpacked(q, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    const char *cb[] = {"GetConfigBlock", "mychannel"};
    assert_int_equal(call(G->user, "", "cscc", cb, NULL, 2, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    assert_int_equal(pr->response->payload.len, G->genesis_len);
    assert_memory_equal(pr->response->payload.data, G->genesis, G->genesis_len);
    protos__proposal_response__free_unpacked(pr, NULL);
    const char *cc[] = {"GetChannelConfig", "mychannel"};
    assert_int_equal(call(G->user, "", "cscc", cc, NULL, 2, &pr, &e), 0);
    assert_int_equal(pr->response->status, 200);
    Common__Config *cfg =
        common__config__unpack(NULL, pr->response->payload.len, pr->response->payload.data);
    assert_non_null(cfg);
    assert_non_null(cfg->channel_group);
    common__config__free_unpacked(cfg, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    const char *none[] = {"GetConfigBlock"};
    assert_int_equal(call(G->user, "", "cscc", none, NULL, 1, &pr, &e), 0);
    expect_fail(pr, "a channel name is required");
    const char *unk[] = {"Nope"};
    assert_int_equal(call(G->user, "", "cscc", unk, NULL, 1, &pr, &e), 0);
    expect_fail(pr, "Requested function Nope not found.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_info),
        cmocka_unit_test(test_blocks_and_txs),
        cmocka_unit_test(test_qscc_bad_requests),
        cmocka_unit_test(test_acls),
        cmocka_unit_test(test_cscc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
