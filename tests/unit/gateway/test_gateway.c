/* Unit tests of the gateway (weft/gateway.h, src/peer/gateway_int.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "gateway/gateway.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/gateway_int.h"
#include "peer/policy.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/configtx.h"
#include "weft/gateway.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/ops.h"
#include "weft/policy.h"
#include "weft/rpc.h"

#define NBLOCKS 76

/* ---- fixture: the vector chain in a ledger, a gateway on a gRPC server ---------- */

static char *vec_path(const char *rel)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    assert_non_null(p);
    return p;
}

static uint8_t *read_block(unsigned n, size_t *len)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "blocks/%06u.block", n);
    char *p = vec_path(rel);
    uint8_t *d = (uint8_t *)wt_read_file(p, len);
    assert_non_null(d);
    weft_free(p);
    return d;
}

static json_t *read_expected(unsigned n)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "expected/%06u.json", n);
    char *p = vec_path(rel);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    weft_free(p);
    return j;
}

enum mode { M_OK, M_CC_ERROR, M_REFUSE, M_ABORT, M_OTHER_PAYLOAD };

struct fx {
    char *dir;
    struct weft_ledger *ledger;
    struct weft_channel_config *cfg;
    struct weft_gateway *gw;
    struct weft_rpc_server *srv;
    struct weft_rpc_client *cli;
    struct weft_msp *user; /* User1@org1 */
    struct weft_metrics *metrics;
    /* fake endorsers: local (org1) and two org2 peers; a fake orderer */
    struct weft_rpc_server *org2a, *org2b, *ord;
    int dead_port;
    enum mode local_mode, org2a_mode, org2b_mode;
    int ord_status;
    int local_calls, org2a_calls, org2b_calls;
    int delay_ms; /* every fake endorser answers this late */
    int bcast_streams, bcast_msgs; /* Broadcast calls and envelopes seen */
    int ord_delay_ms;              /* the fake orderer's time per envelope */
    int bcast_answers;             /* BroadcastResponses sent */
    /* the second group: the local endorser is asynchronous (endorse_async,
     * answered from apool's threads, as the peer's chaincode completions) */
    bool async_local;
    struct weft_pool *apool;
    int local_async_calls;
};

static struct fx F;
/* The fakes' modes and counters are set and read by the test thread and by
 * the servers' threads, ordered only through sockets (which ThreadSanitizer
 * does not follow): every access is atomic. */
#define FGET(f) __atomic_load_n(&F.f, __ATOMIC_SEQ_CST)
#define FSET(f, v) __atomic_store_n(&F.f, (v), __ATOMIC_SEQ_CST)

static const char PAYLOAD[] = "the-same-prp";

static void fake_delay(void)
{
    int ms = __atomic_load_n(&F.delay_ms, __ATOMIC_SEQ_CST);
    if (ms > 0) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ser(ProposalResponse) for mode m, endorsed by `who`. */
static uint8_t *make_pr(enum mode m, const char *who, size_t *len)
{
    Protos__Response r = PROTOS__RESPONSE__INIT;
    Protos__Endorsement e = PROTOS__ENDORSEMENT__INIT;
    Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
    pr.version = 1;
    pr.response = &r;
    r.status = 200;
    r.payload.data = (uint8_t *)"hello";
    r.payload.len = 5;
    e.endorser.data = (uint8_t *)who;
    e.endorser.len = strlen(who);
    e.signature.data = (uint8_t *)"sig";
    e.signature.len = 3;
    pr.payload.data = (uint8_t *)PAYLOAD;
    pr.payload.len = strlen(PAYLOAD);
    pr.endorsement = &e;
    if (m == M_CC_ERROR) {
        r.status = 500;
        r.message = (char *)"boom";
        pr.endorsement = NULL;
    } else if (m == M_ABORT) {
        r.status = 500;
        r.message = (char *)"chaincode basic not installed";
        pr.endorsement = NULL;
        pr.payload.len = 0;
    } else if (m == M_OTHER_PAYLOAD) {
        pr.payload.data = (uint8_t *)"another-prp";
        pr.payload.len = 11;
    }
    *len = protos__proposal_response__get_packed_size(&pr);
    uint8_t *b = weft_malloc(*len + 1);
    assert_non_null(b);
    protos__proposal_response__pack(&pr, b);
    return b;
}

static int fake_endorse(void *ctx, const uint8_t *sp, size_t sp_len, uint8_t **resp,
                        size_t *resp_len, struct weft_err *err)
{
    (void)ctx;
    Protos__SignedProposal *s = protos__signed_proposal__unpack(NULL, sp_len, sp);
    assert_non_null(s);
    protos__signed_proposal__free_unpacked(s, NULL);
    __atomic_fetch_add(&F.local_calls, 1, __ATOMIC_SEQ_CST);
    fake_delay();
    if (FGET(local_mode) == M_REFUSE) {
        return weft_err_set(err, WEFT_EPERM, "access denied: channel [mychannel] creator org "
                                             "[Org3MSP]");
    }
    *resp = make_pr(FGET(local_mode), "org1-peer", resp_len);
    return 0;
}

struct async_job {
    uint8_t *sp;
    size_t len;
    void (*done)(void *arg, int rc, const uint8_t *resp, size_t resp_len,
                 const struct weft_err *err);
    void *arg;
};

static void async_job_run(void *a)
{
    struct async_job *j = a;
    uint8_t *resp = NULL;
    size_t rl = 0;
    struct weft_err err = {0};
    int rc = fake_endorse(NULL, j->sp, j->len, &resp, &rl, &err);
    j->done(j->arg, rc, resp, rl, &err);
    weft_free(resp);
    weft_free(j->sp);
    weft_free(j);
}

/* The asynchronous local endorser: a refusal at once (as the peer's checks
 * answer on the calling thread), anything else later from another thread. */
static void fake_endorse_async(void *ctx, const uint8_t *sp, size_t sp_len,
                               void (*done)(void *arg, int rc, const uint8_t *resp,
                                            size_t resp_len, const struct weft_err *err),
                               void *arg)
{
    (void)ctx;
    __atomic_fetch_add(&F.local_async_calls, 1, __ATOMIC_SEQ_CST);
    if (FGET(local_mode) == M_REFUSE) {
        struct weft_err err = {0};
        int rc = fake_endorse(NULL, sp, sp_len, NULL, NULL, &err);
        done(arg, rc, NULL, 0, &err);
        return;
    }
    struct async_job *j = weft_calloc(1, sizeof(*j));
    assert_non_null(j);
    j->sp = weft_malloc(sp_len);
    assert_non_null(j->sp);
    memcpy(j->sp, sp, sp_len);
    j->len = sp_len;
    j->done = done;
    j->arg = arg;
    assert_int_equal(weft_pool_submit(F.apool, async_job_run, j), 0);
}

static const struct weft_channel_config *fake_config(void *ctx, const char *ch)
{
    (void)ctx;
    return strcmp(ch, "mychannel") == 0 ? F.cfg : NULL;
}

static struct weft_ledger *fake_ledger(void *ctx, const char *ch)
{
    (void)ctx;
    return strcmp(ch, "mychannel") == 0 ? F.ledger : NULL;
}

static int h_org2(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                  struct weft_buf *resp)
{
    (void)call;
    (void)req;
    (void)len;
    bool a = ctx == &F.org2a;
    __atomic_fetch_add(a ? &F.org2a_calls : &F.org2b_calls, 1, __ATOMIC_SEQ_CST);
    fake_delay();
    size_t l = 0;
    enum mode m = a ? FGET(org2a_mode) : FGET(org2b_mode);
    uint8_t *b = make_pr(m, a ? "org2-peer-a" : "org2-peer-b", &l);
    int rc = weft_buf_append(resp, b, l);
    weft_free(b);
    return rc == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

static void h_broadcast(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    uint8_t *m = NULL;
    size_t l = 0;
    __atomic_fetch_add(&F.bcast_streams, 1, __ATOMIC_SEQ_CST);
    while (weft_rpc_call_recv(call, &m, &l, 5000) == 0 && m != NULL) {
        __atomic_fetch_add(&F.bcast_msgs, 1, __ATOMIC_SEQ_CST);
        int delay = __atomic_load_n(&F.ord_delay_ms, __ATOMIC_SEQ_CST);
        if (delay > 0) {
            struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        Common__Envelope *e = common__envelope__unpack(NULL, l, m);
        weft_free(m);
        Orderer__BroadcastResponse r = ORDERER__BROADCAST_RESPONSE__INIT;
        r.status = e != NULL && e->signature.len > 0 ? (Common__Status)FGET(ord_status)
                                                     : COMMON__STATUS__BAD_REQUEST;
        r.info = (char *)(FGET(ord_status) == 200 ? "" : "rejected by test");
        common__envelope__free_unpacked(e, NULL);
        uint8_t buf[256];
        size_t bl = orderer__broadcast_response__pack(&r, buf);
        if (weft_rpc_call_send(call, buf, bl) != 0) {
            return;
        }
        __atomic_fetch_add(&F.bcast_answers, 1, __ATOMIC_SEQ_CST);
    }
}

static struct weft_rpc_server *start_fake(const char *method, bool stream, void *ctx)
{
    struct weft_rpc_server_opts o = {0};
    o.listen[0] = "127.0.0.1:0";
    o.cq_threads = 1;
    o.workers = 8;
    struct weft_err err = {0};
    struct weft_rpc_server *s = weft_rpc_server_new(&o, &err);
    assert_non_null(s);
    if (stream) {
        assert_int_equal(weft_rpc_server_add_stream(s, method, WEFT_RPC_BIDI_STREAMING,
                                                    h_broadcast, ctx), 0);
    } else {
        assert_int_equal(weft_rpc_server_add_unary(s, method, h_org2, ctx), 0);
    }
    assert_int_equal(weft_rpc_server_start(s, &err), 0);
    return s;
}

static void commit_blocks(struct weft_ledger *l, unsigned from, unsigned to)
{
    for (unsigned n = from; n < to; n++) {
        size_t len = 0;
        uint8_t *b = read_block(n, &len);
        struct weft_err err = {0};
        int rc = weft_ledger_commit_bytes(l, b, len, &err);
        if (rc != 0) {
            fail_msg("commit block %u: %s", n, err.msg);
        }
        weft_free(b);
    }
}

static bool g_async_local; /* the group being set up uses endorse_async */

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    F.async_local = g_async_local;
    struct weft_err err = {0};
    F.dir = wt_tmpdir("gateway");
    struct weft_ledger_options lo;
    weft_ledger_options_init(&lo);
    lo.root = F.dir;
    lo.channel = "mychannel";
    lo.no_sync = true;
    if (weft_ledger_open(&F.ledger, &lo, &err) != 0) {
        fail_msg("ledger: %s", err.msg);
    }
    commit_blocks(F.ledger, 0, NBLOCKS - 6); /* the last blocks come in the wait test */
    size_t len = 0;
    uint8_t *b0 = read_block(0, &len);
    if (weft_channel_config_from_block(b0, len, 0, &F.cfg, &err) != 0) {
        fail_msg("config: %s", err.msg);
    }
    weft_free(b0);
    char *um = vec_path("crypto/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp");
    if (weft_msp_load_dir(um, "Org1MSP", &F.user, &err) != 0) {
        fail_msg("user msp: %s", err.msg);
    }
    weft_free(um);

    F.org2a = start_fake("/protos.Endorser/ProcessProposal", false, &F.org2a);
    F.org2b = start_fake("/protos.Endorser/ProcessProposal", false, &F.org2b);
    F.ord = start_fake("/orderer.AtomicBroadcast/Broadcast", true, NULL);
    F.dead_port = wt_free_port();
    FSET(ord_status, 200);

    char a[64], bb[64], o1[64], o2[64];
    snprintf(a, sizeof(a), "127.0.0.1:%d", weft_rpc_server_port(F.org2a, 0));
    snprintf(bb, sizeof(bb), "127.0.0.1:%d", weft_rpc_server_port(F.org2b, 0));
    snprintf(o1, sizeof(o1), "127.0.0.1:%d", F.dead_port);
    snprintf(o2, sizeof(o2), "127.0.0.1:%d", weft_rpc_server_port(F.ord, 0));
    struct weft_gateway_peer peers[2] = {{"Org2MSP", a}, {"Org2MSP", bb}};
    const char *ords[2] = {o1, o2};
    F.metrics = weft_metrics_new();
    struct weft_gateway_opts go = {
        .mspid = "Org1MSP",
        .endpoint = "peer0.org1.example.com:7051",
        .peers = peers,
        .n_peers = 2,
        .no_anchor_peers = true,
        .orderers = ords,
        .n_orderers = 2,
        .endorsement_timeout_ms = 5000,
        .broadcast_timeout_ms = 5000,
        .concurrency_limit = 8,
        .metrics = F.metrics,
    };
    struct weft_gateway_backend be = {
        .endorse = fake_endorse,
        .config = fake_config,
        .ledger = fake_ledger,
    };
    if (F.async_local) {
        F.apool = weft_pool_new(4);
        assert_non_null(F.apool);
        be.endorse_async = fake_endorse_async;
    }
    if (weft_gateway_new(&go, &be, &F.gw, &err) != 0) {
        fail_msg("gateway: %s", err.msg);
    }
    struct weft_rpc_server_opts so = {0};
    so.listen[0] = "127.0.0.1:0";
    so.cq_threads = 1;
    so.workers = 16;
    F.srv = weft_rpc_server_new(&so, &err);
    assert_non_null(F.srv);
    assert_int_equal(weft_gateway_register(F.gw, F.srv, &err), 0);
    assert_int_equal(weft_rpc_server_start(F.srv, &err), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_rpc_server_port(F.srv, 0));
    F.cli = weft_rpc_client_new(addr, NULL, &err);
    assert_non_null(F.cli);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    weft_rpc_client_free(F.cli);
    weft_rpc_server_stop(F.srv, 1000);
    weft_rpc_server_free(F.srv);
    weft_gateway_free(F.gw); /* waits for Endorse state still held by apool's jobs */
    weft_pool_free(F.apool);
    weft_rpc_server_free(F.org2a);
    weft_rpc_server_free(F.org2b);
    weft_rpc_server_free(F.ord);
    weft_metrics_free(F.metrics);
    weft_msp_unref(F.user);
    weft_channel_config_free(F.cfg);
    weft_ledger_close(F.ledger);
    wt_rmtree(F.dir);
    weft_free(F.dir);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

/* ser(SignedProposal) for chaincode cc on channel ch. *hdr gets the Header
 * bytes (weft_free). */
static uint8_t *make_sp(const char *ch, const char *cc, bool transient, size_t *len,
                        uint8_t **hdr, size_t *hdr_len)
{
    Common__ChannelHeader chh = COMMON__CHANNEL_HEADER__INIT;
    chh.type = 3;
    chh.channel_id = (char *)ch;
    chh.tx_id = (char *)"txid-under-test";
    uint8_t chb[256];
    size_t chl = common__channel_header__pack(&chh, chb);
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)"creator";
    sh.creator.len = 7;
    sh.nonce.data = (uint8_t *)"nonce-nonce-nonce-nonce!";
    sh.nonce.len = 24;
    uint8_t shb[128];
    size_t shl = common__signature_header__pack(&sh, shb);
    Common__Header h = COMMON__HEADER__INIT;
    h.channel_header.data = chb;
    h.channel_header.len = chl;
    h.signature_header.data = shb;
    h.signature_header.len = shl;
    *hdr_len = common__header__get_packed_size(&h);
    *hdr = weft_malloc(*hdr_len);
    common__header__pack(&h, *hdr);

    Protos__ChaincodeID id = PROTOS__CHAINCODE_ID__INIT;
    id.name = (char *)cc;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    spec.chaincode_id = &id;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    cis.chaincode_spec = &spec;
    uint8_t cisb[256];
    size_t cisl = protos__chaincode_invocation_spec__pack(&cis, cisb);
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    cpp.input.data = cisb;
    cpp.input.len = cisl;
    Protos__ChaincodeProposalPayload__TransientMapEntry te =
        PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__TRANSIENT_MAP_ENTRY__INIT;
    Protos__ChaincodeProposalPayload__TransientMapEntry *tep = &te;
    if (transient) {
        te.key = (char *)"secret";
        te.value.data = (uint8_t *)"xyz";
        te.value.len = 3;
        cpp.n_transientmap = 1;
        cpp.transientmap = &tep;
    }
    uint8_t cppb[512];
    size_t cppl = protos__chaincode_proposal_payload__pack(&cpp, cppb);
    Protos__Proposal p = PROTOS__PROPOSAL__INIT;
    p.header.data = *hdr;
    p.header.len = *hdr_len;
    p.payload.data = cppb;
    p.payload.len = cppl;
    uint8_t pb[1024];
    size_t pl = protos__proposal__pack(&p, pb);
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    sp.proposal_bytes.data = pb;
    sp.proposal_bytes.len = pl;
    sp.signature.data = (uint8_t *)"client-sig";
    sp.signature.len = 10;
    *len = protos__signed_proposal__get_packed_size(&sp);
    uint8_t *out = weft_malloc(*len);
    protos__signed_proposal__pack(&sp, out);
    return out;
}

/* Decodes the rich status trailer of r into details; returns their count. */
static size_t decode_details(const struct weft_rpc_result *r, int expect_code,
                             Gateway__ErrorDetail **out, size_t cap)
{
    if (r->details == NULL) {
        return 0;
    }
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, r->details_len, r->details);
    assert_non_null(st);
    assert_int_equal(st->code, expect_code);
    assert_string_equal(st->message, r->message);
    size_t n = 0;
    for (size_t i = 0; i < st->n_details && n < cap; i++) {
        assert_string_equal(st->details[i]->type_url, "type.googleapis.com/gateway.ErrorDetail");
        out[n] = gateway__error_detail__unpack(NULL, st->details[i]->value.len,
                                               st->details[i]->value.data);
        assert_non_null(out[n]);
        n++;
    }
    google__rpc__status__free_unpacked(st, NULL);
    return n;
}

static void free_details(Gateway__ErrorDetail **d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gateway__error_detail__free_unpacked(d[i], NULL);
    }
}

/* ---- plans ------------------------------------------------------------------------ */

static void layouts_of(const char *policy, struct gw_layouts *ls)
{
    uint8_t *spe = NULL;
    size_t len = 0;
    struct weft_err err = {0};
    assert_int_equal(weft_policy_parse(policy, &spe, &len, &err), 0);
    assert_int_equal(gw_layouts_from_spe(spe, len, ls, &err), 0);
    weft_free(spe);
}

static void test_plan_signature(void **state)
{
    (void)state;
    struct gw_layouts ls;
    layouts_of("AND('Org1MSP.peer','Org2MSP.peer')", &ls);
    assert_int_equal(ls.n, 1);
    assert_int_equal(ls.v[0].n, 2);
    assert_int_equal(gw_layout_need(&ls.v[0], "Org1MSP"), 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "Org2MSP"), 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "Org3MSP"), 0);
    gw_layouts_free(&ls);

    layouts_of("OR('Org1MSP.peer','Org2MSP.member')", &ls);
    assert_int_equal(ls.n, 2);
    assert_string_equal(ls.v[0].orgs[0].mspid, "Org1MSP");
    assert_string_equal(ls.v[1].orgs[0].mspid, "Org2MSP");
    gw_layouts_free(&ls);

    layouts_of("OutOf(2,'A.peer','B.peer','C.peer')", &ls);
    assert_int_equal(ls.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ls.v[i].n, 2);
    }
    gw_layouts_free(&ls);

    /* an identity satisfies one principal: two distinct peers of A */
    layouts_of("AND('A.peer','A.peer')", &ls);
    assert_int_equal(ls.n, 1);
    assert_int_equal(ls.v[0].n, 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "A"), 2);
    gw_layouts_free(&ls);

    /* smallest layout first */
    layouts_of("OR(AND('A.member','B.member'),'C.member')", &ls);
    assert_int_equal(ls.n, 2);
    assert_int_equal(ls.v[0].n, 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "C"), 1);
    assert_int_equal(gw_layout_need(&ls.v[1], "A"), 1);
    assert_int_equal(gw_layout_need(&ls.v[1], "B"), 1);
    gw_layouts_free(&ls);

    /* duplicates collapse: OR('A.peer','A.member') is one layout */
    layouts_of("OR('A.peer','A.member')", &ls);
    assert_int_equal(ls.n, 1);
    gw_layouts_free(&ls);

    struct weft_err err = {0};
    assert_int_equal(gw_layouts_from_spe((const uint8_t *)"\xff\xff", 2, &ls, &err), WEFT_EPARSE);
}

static void test_plan_config(void **state)
{
    (void)state;
    struct gw_layouts ls;
    struct weft_err err = {0};
    /* MAJORITY Endorsement over 2 orgs = both */
    assert_int_equal(gw_layouts_from_config(F.cfg, "/Channel/Application/Endorsement", &ls, &err),
                     0);
    assert_int_equal(ls.n, 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "Org1MSP"), 1);
    assert_int_equal(gw_layout_need(&ls.v[0], "Org2MSP"), 1);
    gw_layouts_free(&ls);
    /* ANY Readers: either org */
    assert_int_equal(gw_layouts_from_config(F.cfg, "Readers", &ls, &err), 0);
    assert_int_equal(ls.n, 2);
    gw_layouts_free(&ls);
    assert_int_equal(gw_layouts_from_config(F.cfg, "/Channel/Application/Nope", &ls, &err),
                     WEFT_ENOTFOUND);
    /* an ApplicationPolicy referring to the channel policy */
    Protos__ApplicationPolicy ap = PROTOS__APPLICATION_POLICY__INIT;
    ap.type_case = PROTOS__APPLICATION_POLICY__TYPE_CHANNEL_CONFIG_POLICY_REFERENCE;
    ap.channel_config_policy_reference = (char *)"/Channel/Application/Endorsement";
    uint8_t buf[128];
    size_t l = protos__application_policy__pack(&ap, buf);
    assert_int_equal(gw_layouts_from_app_policy(buf, l, F.cfg, &ls, &err), 0);
    assert_int_equal(ls.n, 1);
    assert_int_equal(ls.v[0].n, 2);
    gw_layouts_free(&ls);
}

/* ---- outcomes, details, envelope ------------------------------------------------- */

static void test_classify(void **state)
{
    (void)state;
    struct gw_outcome oc;
    gw_classify(true, false, "connection refused", NULL, &oc);
    assert_int_equal(oc.code, WEFT_RPC_UNAVAILABLE);
    assert_true(oc.retry);
    assert_string_equal(oc.msg, "connection refused");
    gw_classify(false, true, "access denied", NULL, &oc);
    assert_int_equal(oc.code, WEFT_RPC_FAILED_PRECONDITION);
    assert_false(oc.retry);

    Protos__Response r = PROTOS__RESPONSE__INIT;
    Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
    pr.response = &r;
    r.status = 200;
    gw_classify(false, false, NULL, &pr, &oc);
    assert_int_equal(oc.code, WEFT_RPC_OK);
    r.status = 302;
    gw_classify(false, false, NULL, &pr, &oc);
    assert_int_equal(oc.code, WEFT_RPC_OK);
    /* peer-side failure: 500 without payload, retryable */
    r.status = 500;
    r.message = (char *)"make sure the chaincode basic has been successfully defined";
    gw_classify(false, false, NULL, &pr, &oc);
    assert_int_equal(oc.code, WEFT_RPC_ABORTED);
    assert_true(oc.retry);
    assert_string_equal(oc.msg, r.message);
    /* chaincode error: payload present */
    pr.payload.data = (uint8_t *)"x";
    pr.payload.len = 1;
    r.message = (char *)"asset not found";
    gw_classify(false, false, NULL, &pr, &oc);
    assert_int_equal(oc.code, WEFT_RPC_UNKNOWN);
    assert_false(oc.retry);
    assert_string_equal(oc.msg, "chaincode response 500, asset not found");
    /* 400s without payload are chaincode errors too */
    pr.payload.len = 0;
    r.status = 404;
    gw_classify(false, false, NULL, &pr, &oc);
    assert_int_equal(oc.code, WEFT_RPC_UNKNOWN);
}

static void test_status_pack(void **state)
{
    (void)state;
    struct gw_details d = {0};
    assert_int_equal(gw_details_add(&d, "peer0:7051", "Org1MSP", "first"), 0);
    assert_int_equal(gw_details_add(&d, "peer1:7051", "Org2MSP", "second"), 0);
    uint8_t *bin = NULL;
    size_t len = 0;
    assert_int_equal(gw_status_pack(WEFT_RPC_ABORTED, "failed", &d, &bin, &len), 0);
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, bin);
    assert_non_null(st);
    assert_int_equal(st->code, 10);
    assert_string_equal(st->message, "failed");
    assert_int_equal(st->n_details, 2);
    Gateway__ErrorDetail *e = gateway__error_detail__unpack(NULL, st->details[1]->value.len,
                                                            st->details[1]->value.data);
    assert_non_null(e);
    assert_string_equal(e->address, "peer1:7051");
    assert_string_equal(e->msp_id, "Org2MSP");
    assert_string_equal(e->message, "second");
    gateway__error_detail__free_unpacked(e, NULL);
    google__rpc__status__free_unpacked(st, NULL);
    weft_free(bin);
    gw_details_free(&d);
}

static void test_prepare_envelope(void **state)
{
    (void)state;
    uint8_t *hdr = NULL;
    size_t hl = 0, spl = 0;
    uint8_t *spb = make_sp("mychannel", "basic", true, &spl, &hdr, &hl);
    Protos__SignedProposal *sp = protos__signed_proposal__unpack(NULL, spl, spb);
    assert_non_null(sp);
    size_t l1, l2, l3;
    uint8_t *b1 = make_pr(M_OK, "org1-peer", &l1), *b2 = make_pr(M_OK, "org2-peer-a", &l2),
            *b3 = make_pr(M_OK, "org1-peer", &l3);
    Protos__ProposalResponse *r[3] = {protos__proposal_response__unpack(NULL, l1, b1),
                                      protos__proposal_response__unpack(NULL, l2, b2),
                                      protos__proposal_response__unpack(NULL, l3, b3)};
    uint8_t *env = NULL;
    size_t el = 0;
    struct weft_err err = {0};
    assert_int_equal(gw_prepare_envelope(sp->proposal_bytes.data, sp->proposal_bytes.len,
                                         (const Protos__ProposalResponse *const *)r, 3, &env,
                                         &el, &err),
                     0);
    Common__Envelope *e = common__envelope__unpack(NULL, el, env);
    assert_non_null(e);
    assert_int_equal(e->signature.len, 0);
    Common__Payload *p = common__payload__unpack(NULL, e->payload.len, e->payload.data);
    assert_non_null(p);
    /* the proposal's header, byte for byte */
    size_t phl = common__header__get_packed_size(p->header);
    uint8_t phb[1024];
    common__header__pack(p->header, phb);
    assert_int_equal(phl, hl);
    assert_memory_equal(phb, hdr, hl);
    Protos__Transaction *t = protos__transaction__unpack(NULL, p->data.len, p->data.data);
    assert_non_null(t);
    assert_int_equal(t->n_actions, 1);
    assert_memory_equal(t->actions[0]->header.data, p->header->signature_header.data,
                        p->header->signature_header.len);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, t->actions[0]->payload.len, t->actions[0]->payload.data);
    assert_non_null(cap);
    /* endorsements de-duplicated by endorser, in order */
    assert_int_equal(cap->action->n_endorsements, 2);
    assert_memory_equal(cap->action->endorsements[0]->endorser.data, "org1-peer", 9);
    assert_memory_equal(cap->action->endorsements[1]->endorser.data, "org2-peer-a", 11);
    assert_int_equal(cap->action->proposal_response_payload.len, strlen(PAYLOAD));
    /* the transient map is stripped */
    Protos__ChaincodeProposalPayload *cpp = protos__chaincode_proposal_payload__unpack(
        NULL, cap->chaincode_proposal_payload.len, cap->chaincode_proposal_payload.data);
    assert_non_null(cpp);
    assert_int_equal(cpp->n_transientmap, 0);
    assert_true(cpp->input.len > 0);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(t, NULL);
    common__payload__free_unpacked(p, NULL);
    common__envelope__free_unpacked(e, NULL);
    weft_free(env);
    for (size_t i = 0; i < 3; i++) {
        protos__proposal_response__free_unpacked(r[i], NULL);
    }
    weft_free(b1);
    weft_free(b2);
    weft_free(b3);
    protos__signed_proposal__free_unpacked(sp, NULL);
    weft_free(spb);
    weft_free(hdr);
}

/* Expected events of blocks [from, to): valid txs of cc with an event. */
static size_t expected_events(unsigned from, unsigned to, char ***txids)
{
    size_t n = 0, cap = 1024;
    *txids = weft_calloc(cap, sizeof(char *));
    for (unsigned b = from; b < to; b++) {
        json_t *j = read_expected(b);
        json_t *txs = json_object_get(j, "transactions");
        size_t i;
        json_t *t;
        json_array_foreach(txs, i, t)
        {
            json_t *ev = json_object_get(t, "event");
            if (json_integer_value(json_object_get(t, "validation_code")) != 0 || ev == NULL ||
                !json_is_object(ev)) {
                continue;
            }
            const char *cc = json_string_value(json_object_get(ev, "chaincode_id"));
            if (cc == NULL || strcmp(cc, "basic") != 0 || n == cap) {
                continue;
            }
            (*txids)[n++] = weft_strdup(json_string_value(json_object_get(ev, "tx_id")));
        }
        json_decref(j);
    }
    return n;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        weft_free(v[i]);
    }
    weft_free(v);
}

static void test_block_events(void **state)
{
    (void)state;
    /* block 19: its first transaction (with an event) is MVCC_READ_CONFLICT */
    char **want = NULL;
    size_t nw = expected_events(19, 20, &want);
    size_t len = 0;
    uint8_t *b = read_block(19, &len);
    uint8_t *out = NULL;
    size_t ol = 0;
    uint64_t num = 0;
    struct weft_err err = {0};
    assert_int_equal(gw_block_events(b, len, "basic", NULL, &out, &ol, &num, &err), 0);
    assert_int_equal(num, 19);
    size_t got = 0;
    if (out != NULL) {
        Gateway__ChaincodeEventsResponse *r =
            gateway__chaincode_events_response__unpack(NULL, ol, out);
        assert_non_null(r);
        got = r->n_events;
        assert_int_equal(r->block_number, 19);
        for (size_t i = 0; i < r->n_events && i < nw; i++) {
            assert_string_equal(r->events[i]->tx_id, want[i]);
        }
        assert_string_not_equal(r->events[0]->tx_id,
                                "91a8bc56bb86be26edef4e2d0be38717955c4c801ebcd2677ab6dee6854db10c");
        gateway__chaincode_events_response__free_unpacked(r, NULL);
    }
    assert_int_equal(got, nw);
    weft_free(out);
    /* another chaincode: nothing */
    assert_int_equal(gw_block_events(b, len, "other", NULL, &out, &ol, &num, &err), 0);
    assert_null(out);
    weft_free(b);
    free_strv(want, nw);
}

/* ---- Evaluate / Endorse / Submit over gRPC -------------------------------------- */

static int call(const char *method, const void *req, size_t len, int64_t timeout_ms,
                struct weft_rpc_result *r)
{
    weft_rpc_result_clear(r);
    int rc = weft_rpc_client_unary(F.cli, method, req, len, timeout_ms, r);
    (void)rc;
    return r->code;
}

static uint8_t *evaluate_req(bool transient, size_t *len)
{
    uint8_t *hdr = NULL;
    size_t hl = 0, spl = 0;
    uint8_t *spb = make_sp("mychannel", "basic", transient, &spl, &hdr, &hl);
    Protos__SignedProposal *sp = protos__signed_proposal__unpack(NULL, spl, spb);
    Gateway__EvaluateRequest er = GATEWAY__EVALUATE_REQUEST__INIT;
    er.channel_id = (char *)"mychannel";
    er.transaction_id = (char *)"txid-under-test";
    er.proposed_transaction = sp;
    *len = gateway__evaluate_request__get_packed_size(&er);
    uint8_t *b = weft_malloc(*len);
    gateway__evaluate_request__pack(&er, b);
    protos__signed_proposal__free_unpacked(sp, NULL);
    weft_free(spb);
    weft_free(hdr);
    return b;
}

static void test_evaluate(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = evaluate_req(false, &len);
    FSET(local_mode, M_OK);
    assert_int_equal(call("/gateway.Gateway/Evaluate", req, len, 5000, &r), WEFT_RPC_OK);
    Gateway__EvaluateResponse *er = gateway__evaluate_response__unpack(NULL, r.len, r.data);
    assert_non_null(er);
    assert_int_equal(er->result->status, 200);
    assert_int_equal(er->result->payload.len, 5);
    assert_memory_equal(er->result->payload.data, "hello", 5);
    gateway__evaluate_response__free_unpacked(er, NULL);

    /* the local endorser refuses: FAILED_PRECONDITION, not retried */
    FSET(local_mode, M_REFUSE);
    int before = FGET(org2a_calls) + FGET(org2b_calls);
    assert_int_equal(call("/gateway.Gateway/Evaluate", req, len, 5000, &r),
                     WEFT_RPC_FAILED_PRECONDITION);
    assert_non_null(strstr(r.message, "evaluate call to endorser returned error: access denied"));
    Gateway__ErrorDetail *d[4];
    size_t nd = decode_details(&r, WEFT_RPC_FAILED_PRECONDITION, d, 4);
    assert_int_equal(nd, 1);
    assert_string_equal(d[0]->address, "peer0.org1.example.com:7051");
    assert_string_equal(d[0]->msp_id, "Org1MSP");
    free_details(d, nd);
    assert_int_equal(FGET(org2a_calls) + FGET(org2b_calls), before);

    /* not installed locally (retryable): another org's peer answers */
    FSET(local_mode, M_ABORT);
    FSET(org2a_mode, M_OK);
    assert_int_equal(call("/gateway.Gateway/Evaluate", req, len, 5000, &r), WEFT_RPC_OK);
    assert_true(FGET(org2a_calls) + FGET(org2b_calls) > before);

    /* ... but not with transient data (private inputs stay in the org) */
    weft_free(req);
    req = evaluate_req(true, &len);
    assert_int_equal(call("/gateway.Gateway/Evaluate", req, len, 5000, &r), WEFT_RPC_ABORTED);
    assert_string_equal(r.message,
                        "failed to evaluate transaction, see attached details for more info");
    FSET(local_mode, M_OK);

    /* malformed requests */
    assert_int_equal(call("/gateway.Gateway/Evaluate", "\xff\xff\xff", 3, 5000, &r),
                     WEFT_RPC_INVALID_ARGUMENT);
    weft_rpc_result_clear(&r);
    weft_free(req);
}

static uint8_t *endorse_req(size_t *len, const char *org)
{
    uint8_t *hdr = NULL;
    size_t hl = 0, spl = 0;
    uint8_t *spb = make_sp("mychannel", "basic", false, &spl, &hdr, &hl);
    Protos__SignedProposal *sp = protos__signed_proposal__unpack(NULL, spl, spb);
    Gateway__EndorseRequest er = GATEWAY__ENDORSE_REQUEST__INIT;
    er.channel_id = (char *)"mychannel";
    er.transaction_id = (char *)"txid-under-test";
    er.proposed_transaction = sp;
    char *orgs[1] = {(char *)org};
    if (org != NULL) {
        er.n_endorsing_organizations = 1;
        er.endorsing_organizations = orgs;
    }
    *len = gateway__endorse_request__get_packed_size(&er);
    uint8_t *b = weft_malloc(*len);
    gateway__endorse_request__pack(&er, b);
    protos__signed_proposal__free_unpacked(sp, NULL);
    weft_free(spb);
    weft_free(hdr);
    return b;
}

static void test_endorse(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = endorse_req(&len, NULL);
    struct weft_gateway_stats s0, s1;
    weft_gateway_get_stats(F.gw, &s0);

    /* the plan (basic: MAJORITY Endorsement = Org1 AND Org2) needs both
     * orgs; org2's first peer fails (retryable), the second answers */
    FSET(local_mode, M_OK);
    FSET(org2a_mode, M_ABORT);
    FSET(org2b_mode, M_OK);
    FSET(org2a_calls, 0);
    FSET(org2b_calls, 0);
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_OK);
    assert_int_equal(FGET(org2a_calls), 1);
    assert_int_equal(FGET(org2b_calls), 1);
    weft_gateway_get_stats(F.gw, &s1);
    assert_true(s1.endorse_retries > s0.endorse_retries);
    Gateway__EndorseResponse *er = gateway__endorse_response__unpack(NULL, r.len, r.data);
    assert_non_null(er);
    assert_non_null(er->prepared_transaction);
    assert_int_equal(er->prepared_transaction->signature.len, 0);
    Common__Payload *p = common__payload__unpack(NULL, er->prepared_transaction->payload.len,
                                                 er->prepared_transaction->payload.data);
    assert_non_null(p);
    Protos__Transaction *t = protos__transaction__unpack(NULL, p->data.len, p->data.data);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, t->actions[0]->payload.len, t->actions[0]->payload.data);
    assert_int_equal(cap->action->n_endorsements, 2);
    assert_memory_equal(cap->action->endorsements[0]->endorser.data, "org1-peer", 9);
    assert_memory_equal(cap->action->endorsements[1]->endorser.data, "org2-peer-b", 11);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(t, NULL);
    common__payload__free_unpacked(p, NULL);
    gateway__endorse_response__free_unpacked(er, NULL);

    /* org2 disagrees on the payload: not enough endorsements */
    FSET(org2a_mode, M_OTHER_PAYLOAD);
    FSET(org2b_mode, M_OTHER_PAYLOAD);
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_ABORTED);
    assert_string_equal(r.message, "failed to collect enough transaction endorsements, see "
                                   "attached details for more info");
    Gateway__ErrorDetail *d[8];
    size_t nd = decode_details(&r, WEFT_RPC_ABORTED, d, 8);
    assert_int_equal(nd, 2);
    for (size_t i = 0; i < nd; i++) {
        assert_string_equal(d[i]->msp_id, "Org2MSP");
        assert_string_equal(d[i]->message, "ProposalResponsePayloads do not match");
    }
    free_details(d, nd);

    /* the chaincode fails on the first endorser: no retry, ABORTED */
    FSET(local_mode, M_CC_ERROR);
    FSET(org2a_calls, 0);
    FSET(org2b_calls, 0);
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_ABORTED);
    assert_string_equal(r.message,
                        "failed to endorse transaction, see attached details for more info");
    nd = decode_details(&r, WEFT_RPC_ABORTED, d, 8);
    assert_int_equal(nd, 1);
    assert_string_equal(d[0]->message, "chaincode response 500, boom");
    assert_string_equal(d[0]->address, "peer0.org1.example.com:7051");
    free_details(d, nd);
    /* Org2 was asked at the same time (endorsement runs on all orgs of the
     * layout at once); its answer is not reported */

    /* endorsing_organizations: only Org2 is asked */
    FSET(local_mode, M_OK);
    FSET(org2a_mode, M_OK);
    int lc = FGET(local_calls);
    weft_free(req);
    req = endorse_req(&len, "Org2MSP");
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_OK);
    assert_int_equal(FGET(local_calls), lc);

    /* unknown chaincode definition: falls back on the channel's Endorsement
     * policy, and an unknown channel is NOT_FOUND */
    assert_int_equal(call("/gateway.Gateway/Endorse", "", 0, 5000, &r), WEFT_RPC_INVALID_ARGUMENT);
    Gateway__EndorseRequest empty = GATEWAY__ENDORSE_REQUEST__INIT;
    empty.channel_id = (char *)"mychannel";
    uint8_t eb[64];
    size_t el = gateway__endorse_request__pack(&empty, eb);
    assert_int_equal(call("/gateway.Gateway/Endorse", eb, el, 5000, &r),
                     WEFT_RPC_INVALID_ARGUMENT);
    assert_string_equal(r.message, "the proposed transaction must contain a signed proposal");
    weft_rpc_result_clear(&r);
    weft_free(req);
}

/* The orgs of a layout are asked at the same time: with every endorser
 * taking 300 ms, the two endorsements (local org1, remote org2) take about
 * 300 ms, not 600 ms. */
static void test_endorse_parallel(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = endorse_req(&len, NULL);
    FSET(local_mode, M_OK);
    FSET(org2a_mode, M_OK);
    FSET(org2b_mode, M_OK);
    FSET(org2a_calls, 0);
    FSET(org2b_calls, 0);
    int lc = FGET(local_calls);
    FSET(delay_ms, 300);
    uint64_t t0 = weft_clock_mono_ns();
    int code = call("/gateway.Gateway/Endorse", req, len, 5000, &r);
    uint64_t took_ms = (weft_clock_mono_ns() - t0) / 1000000u;
    FSET(delay_ms, 0);
    assert_int_equal(code, WEFT_RPC_OK);
    assert_int_equal(FGET(local_calls) - lc, 1);
    assert_int_equal(FGET(org2a_calls) + FGET(org2b_calls), 1);
    assert_true(took_ms >= 300);
    assert_true(took_ms < 550);
    /* own org first in the envelope, whatever finished first */
    Gateway__EndorseResponse *er = gateway__endorse_response__unpack(NULL, r.len, r.data);
    assert_non_null(er);
    Common__Payload *p = common__payload__unpack(NULL, er->prepared_transaction->payload.len,
                                                 er->prepared_transaction->payload.data);
    Protos__Transaction *t = protos__transaction__unpack(NULL, p->data.len, p->data.data);
    Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
        NULL, t->actions[0]->payload.len, t->actions[0]->payload.data);
    assert_int_equal(cap->action->n_endorsements, 2);
    assert_memory_equal(cap->action->endorsements[0]->endorser.data, "org1-peer", 9);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(t, NULL);
    common__payload__free_unpacked(p, NULL);
    gateway__endorse_response__free_unpacked(er, NULL);
    weft_rpc_result_clear(&r);
    weft_free(req);
}

/* With an asynchronous local endorser each Endorse asks it once through
 * endorse_async (the completion-queue path), never through the blocking
 * endorse. */
static void test_endorse_async_used(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = endorse_req(&len, NULL);
    FSET(local_mode, M_OK);
    FSET(org2a_mode, M_OK);
    FSET(org2b_mode, M_OK);
    for (int i = 0; i < 5; i++) {
        int a0 = FGET(local_async_calls), l0 = FGET(local_calls);
        assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_OK);
        assert_int_equal(FGET(local_async_calls) - a0, 1);
        assert_int_equal(FGET(local_calls) - l0, 1);
    }
    /* a refusal known at once (on the calling thread) ends the call */
    FSET(local_mode, M_REFUSE);
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_ABORTED);
    Gateway__ErrorDetail *d[8];
    size_t nd = decode_details(&r, WEFT_RPC_ABORTED, d, 8);
    assert_int_equal(nd, 1);
    assert_string_equal(d[0]->address, "peer0.org1.example.com:7051");
    free_details(d, nd);
    FSET(local_mode, M_OK);
    weft_rpc_result_clear(&r);
    weft_free(req);
}

/* Clients that give up while the endorsers are still at work get their
 * deadline; each call's slot under the concurrency limit (8) comes back, so
 * after more abandoned calls than the limit a new one still succeeds, and
 * the abandoned calls' late completions are absorbed (ASan: nothing leaks,
 * nothing is used after it is freed). */
static void test_endorse_async_abandoned(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = endorse_req(&len, NULL);
    FSET(local_mode, M_OK);
    FSET(org2a_mode, M_OK);
    FSET(org2b_mode, M_OK);
    FSET(delay_ms, 300);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 50, &r),
                         WEFT_RPC_DEADLINE_EXCEEDED);
    }
    FSET(delay_ms, 0);
    assert_int_equal(call("/gateway.Gateway/Endorse", req, len, 5000, &r), WEFT_RPC_OK);
    weft_rpc_result_clear(&r);
    weft_free(req);
}

static uint8_t *submit_req(bool signed_, size_t *len)
{
    Common__Envelope e = COMMON__ENVELOPE__INIT;
    e.payload.data = (uint8_t *)"payload";
    e.payload.len = 7;
    if (signed_) {
        e.signature.data = (uint8_t *)"sig";
        e.signature.len = 3;
    }
    Gateway__SubmitRequest sr = GATEWAY__SUBMIT_REQUEST__INIT;
    sr.channel_id = (char *)"mychannel";
    sr.transaction_id = (char *)"t1";
    sr.prepared_transaction = &e;
    *len = gateway__submit_request__get_packed_size(&sr);
    uint8_t *b = weft_malloc(*len);
    gateway__submit_request__pack(&sr, b);
    return b;
}

static void test_submit(void **state)
{
    (void)state;
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = submit_req(true, &len);
    /* one orderer is down: the other takes it, whatever the random order */
    FSET(ord_status, 200);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(call("/gateway.Gateway/Submit", req, len, 5000, &r), WEFT_RPC_OK);
    }
    FSET(ord_status, 400);
    assert_int_equal(call("/gateway.Gateway/Submit", req, len, 5000, &r), WEFT_RPC_ABORTED);
    assert_string_equal(r.message, "received unsuccessful response from orderer: "
                                   "status=BAD_REQUEST, info=rejected by test");
    FSET(ord_status, 503);
    assert_int_equal(call("/gateway.Gateway/Submit", req, len, 5000, &r), WEFT_RPC_UNAVAILABLE);
    assert_string_equal(r.message, "no orderers could successfully process transaction");
    Gateway__ErrorDetail *d[4];
    size_t nd = decode_details(&r, WEFT_RPC_UNAVAILABLE, d, 4);
    assert_int_equal(nd, 2);
    free_details(d, nd);
    FSET(ord_status, 200);
    weft_free(req);
    req = submit_req(false, &len);
    assert_int_equal(call("/gateway.Gateway/Submit", req, len, 5000, &r),
                     WEFT_RPC_INVALID_ARGUMENT);
    assert_string_equal(r.message, "prepared transaction must be signed");
    weft_rpc_result_clear(&r);
    weft_free(req);
}

/* A started server with 1 completion-queue thread and 2 workers serving gw
 * (few workers: a call that held one while waiting would show). */
static struct weft_rpc_server *two_worker_server(struct weft_gateway *gw)
{
    struct weft_err err = {0};
    struct weft_rpc_server_opts so = {0};
    so.listen[0] = "127.0.0.1:0";
    so.cq_threads = 1;
    so.workers = 2;
    struct weft_rpc_server *srv = weft_rpc_server_new(&so, &err);
    assert_non_null(srv);
    assert_int_equal(weft_gateway_register(gw, srv, &err), 0);
    assert_int_equal(weft_rpc_server_start(srv, &err), 0);
    return srv;
}

/* One Submit on cli, from a thread of its own or inline. */
struct submit_on {
    pthread_t th;
    struct weft_rpc_client *cli;
    int code;
    char msg[200];
    uint64_t done_ns;
};

static void *submit_on_main(void *arg)
{
    struct submit_on *x = arg;
    size_t len = 0;
    uint8_t *req = submit_req(true, &len);
    struct weft_rpc_result r = {0};
    int rc = weft_rpc_client_unary(x->cli, "/gateway.Gateway/Submit", req, len, 10000, &r);
    x->code = rc == 0 ? WEFT_RPC_OK : r.code;
    snprintf(x->msg, sizeof(x->msg), "%s", r.message != NULL ? r.message : "");
    __atomic_store_n(&x->done_ns, weft_clock_mono_ns(), __ATOMIC_SEQ_CST);
    weft_rpc_result_clear(&r);
    weft_free(req);
    return NULL;
}

/* Concurrent Submits share one Broadcast stream per orderer: 8 envelopes
 * at once (the fixture's concurrency limit), each answered, and at most one
 * new stream on the live orderer. */
static void test_submit_shared_stream(void **state)
{
    (void)state;
    FSET(ord_status, 200);
    struct submit_on one = {.cli = F.cli};
    (void)submit_on_main(&one); /* the stream exists (and the dead orderer was tried) */
    assert_int_equal(one.code, WEFT_RPC_OK);
    int s0 = FGET(bcast_streams), m0 = FGET(bcast_msgs);
    struct submit_on x[8];
    for (size_t i = 0; i < 8; i++) {
        x[i] = (struct submit_on){.cli = F.cli, .code = -1};
        assert_int_equal(pthread_create(&x[i].th, NULL, submit_on_main, &x[i]), 0);
    }
    for (size_t i = 0; i < 8; i++) {
        pthread_join(x[i].th, NULL);
        assert_int_equal(x[i].code, WEFT_RPC_OK);
    }
    assert_int_equal(FGET(bcast_msgs) - m0, 8);
    assert_true(FGET(bcast_streams) - s0 <= 1);
}

static uint8_t *status_req(const char *ch, const char *txid, bool good_sig, size_t *len);


/* A Submit waiting for the orderer holds no worker: on a server with 2
 * workers, 3 Submits to a slow orderer (1 s per envelope) leave it free to
 * answer a CommitStatus before any of them is answered. The gateway's
 * broadcast timeout (300 ms here) ends a wait the orderer does not answer
 * in time, with Fabric's text; its late answer is dropped and the shared
 * stream goes on serving the next Submit. */
static void test_submit_deferred(void **state)
{
    (void)state;
    struct weft_err err = {0};
    char o2[64];
    snprintf(o2, sizeof(o2), "127.0.0.1:%d", weft_rpc_server_port(F.ord, 0));
    const char *ords[1] = {o2};
    struct weft_gateway_opts go = {
        .mspid = "Org1MSP",
        .endpoint = "peer0.org1.example.com:7051",
        .no_anchor_peers = true,
        .orderers = ords,
        .n_orderers = 1,
        .broadcast_timeout_ms = 300,
    };
    struct weft_gateway_backend be = {
        .endorse = fake_endorse,
        .config = fake_config,
        .ledger = fake_ledger,
    };
    struct weft_gateway *gw = NULL;
    assert_int_equal(weft_gateway_new(&go, &be, &gw, &err), 0);
    struct weft_rpc_server *srv = two_worker_server(F.gw);
    struct weft_rpc_server *srv2 = two_worker_server(gw);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    struct weft_rpc_client *cli = weft_rpc_client_new(addr, NULL, &err);
    assert_non_null(cli);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_rpc_server_port(srv2, 0));
    struct weft_rpc_client *cli2 = weft_rpc_client_new(addr, NULL, &err);
    assert_non_null(cli2);
    FSET(ord_status, 200);
    struct submit_on one = {.cli = cli};
    (void)submit_on_main(&one); /* the streams exist */
    assert_int_equal(one.code, WEFT_RPC_OK);

    __atomic_store_n(&F.ord_delay_ms, 1000, __ATOMIC_SEQ_CST);
    int m0 = __atomic_load_n(&F.bcast_msgs, __ATOMIC_SEQ_CST);
    struct submit_on x[3];
    for (size_t i = 0; i < 3; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        x[i].cli = cli;
        assert_int_equal(pthread_create(&x[i].th, NULL, submit_on_main, &x[i]), 0);
    }
    uint64_t dl = weft_clock_mono_ns() + 10000000000ull;
    while (__atomic_load_n(&F.bcast_msgs, __ATOMIC_SEQ_CST) - m0 < 1 &&
           weft_clock_mono_ns() < dl) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    json_t *j = read_expected(5);
    json_t *t = json_array_get(json_object_get(j, "transactions"), 0);
    size_t len = 0;
    uint8_t *req = status_req("mychannel", json_string_value(json_object_get(t, "txid")), true,
                              &len);
    json_decref(j);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(cli, "/gateway.Gateway/CommitStatus", req, len, 5000,
                                           &r),
                     0);
    assert_int_equal(r.code, WEFT_RPC_OK);
    uint64_t cs_done = weft_clock_mono_ns();
    weft_rpc_result_clear(&r);
    weft_free(req);
    for (size_t i = 0; i < 3; i++) {
        pthread_join(x[i].th, NULL);
        if (x[i].code != WEFT_RPC_OK) {
            fail_msg("submit %zu: %d %s", i, x[i].code, x[i].msg);
        }
        assert_true(x[i].done_ns > cs_done);
    }

    /* the broadcast timeout: the orderer takes 1 s, the gateway waits 300 ms */
    struct submit_on late = {.cli = cli2};
    uint64_t t0 = weft_clock_mono_ns();
    (void)submit_on_main(&late);
    assert_int_equal(late.code, WEFT_RPC_DEADLINE_EXCEEDED);
    assert_string_equal(late.msg, "submit timeout expired while broadcasting to ordering service");
    assert_true(late.done_ns - t0 < 1000000000ull);
    __atomic_store_n(&F.ord_delay_ms, 0, __ATOMIC_SEQ_CST);
    /* the late answer goes out (and is dropped by the gateway) */
    dl = weft_clock_mono_ns() + 10000000000ull;
    while (__atomic_load_n(&F.bcast_answers, __ATOMIC_SEQ_CST) <
               __atomic_load_n(&F.bcast_msgs, __ATOMIC_SEQ_CST) &&
           weft_clock_mono_ns() < dl) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    struct submit_on next = {.cli = cli2};
    (void)submit_on_main(&next);
    assert_int_equal(next.code, WEFT_RPC_OK);

    weft_rpc_client_free(cli);
    weft_rpc_client_free(cli2);
    weft_rpc_server_stop(srv, 1000);
    weft_rpc_server_free(srv);
    weft_rpc_server_stop(srv2, 1000);
    weft_rpc_server_free(srv2);
    weft_gateway_free(gw);
}

struct evaluator {
    pthread_t th;
    int code;
    char msg[200];
};

static void *evaluate_main(void *arg)
{
    struct evaluator *x = arg;
    size_t len = 0;
    uint8_t *req = evaluate_req(false, &len);
    struct weft_rpc_result r = {0};
    int rc = weft_rpc_client_unary(F.cli, "/gateway.Gateway/Evaluate", req, len, 10000, &r);
    x->code = rc == 0 ? WEFT_RPC_OK : r.code;
    snprintf(x->msg, sizeof(x->msg), "%s", r.message != NULL ? r.message : "");
    weft_rpc_result_clear(&r);
    weft_free(req);
    return NULL;
}

/* peer.limits.concurrency.gatewayService (8 here): 12 Evaluates at once on
 * a slow endorser, the excess is refused at once with Fabric's text. */
static void test_concurrency_limit(void **state)
{
    (void)state;
    FSET(local_mode, M_OK);
    FSET(delay_ms, 400);
    struct evaluator x[12];
    for (size_t i = 0; i < 12; i++) {
        x[i].code = -1;
        assert_int_equal(pthread_create(&x[i].th, NULL, evaluate_main, &x[i]), 0);
    }
    int ok = 0, refused = 0;
    for (size_t i = 0; i < 12; i++) {
        pthread_join(x[i].th, NULL);
        if (x[i].code == WEFT_RPC_OK) {
            ok++;
        } else {
            assert_int_equal(x[i].code, WEFT_RPC_UNKNOWN);
            assert_string_equal(x[i].msg, "too many requests for /gateway.Gateway, exceeding "
                                          "concurrency limit (8)");
            refused++;
        }
    }
    FSET(delay_ms, 0);
    assert_true(ok >= 8);
    assert_true(refused >= 1);
    assert_int_equal(ok + refused, 12);
}

/* ---- CommitStatus / ChaincodeEvents --------------------------------------------- */

/* ser(SignedCommitStatusRequest) signed by User1@org1 (or with a bad
 * signature). */
static uint8_t *status_req(const char *ch, const char *txid, bool good_sig, size_t *len)
{
    size_t il = 0;
    const uint8_t *ident = weft_msp_identity_serialized(weft_msp_signer(F.user), &il);
    Gateway__CommitStatusRequest cr = GATEWAY__COMMIT_STATUS_REQUEST__INIT;
    cr.channel_id = (char *)ch;
    cr.transaction_id = (char *)txid;
    cr.identity.data = (uint8_t *)ident;
    cr.identity.len = il;
    size_t rl = gateway__commit_status_request__get_packed_size(&cr);
    uint8_t *rb = weft_malloc(rl);
    gateway__commit_status_request__pack(&cr, rb);
    uint8_t sig[80];
    size_t sl = sizeof(sig);
    assert_int_equal(weft_msp_sign(F.user, rb, rl, sig, &sl, NULL), 0);
    if (!good_sig) {
        sig[sl - 3] ^= 0x55;
    }
    Gateway__SignedCommitStatusRequest s = GATEWAY__SIGNED_COMMIT_STATUS_REQUEST__INIT;
    s.request.data = rb;
    s.request.len = rl;
    s.signature.data = sig;
    s.signature.len = sl;
    *len = gateway__signed_commit_status_request__get_packed_size(&s);
    uint8_t *b = weft_malloc(*len);
    gateway__signed_commit_status_request__pack(&s, b);
    weft_free(rb);
    return b;
}

static void check_status(unsigned block, size_t tx)
{
    json_t *j = read_expected(block);
    json_t *t = json_array_get(json_object_get(j, "transactions"), tx);
    const char *txid = json_string_value(json_object_get(t, "txid"));
    int code = (int)json_integer_value(json_object_get(t, "validation_code"));
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = status_req("mychannel", txid, true, &len);
    assert_int_equal(call("/gateway.Gateway/CommitStatus", req, len, 5000, &r), WEFT_RPC_OK);
    Gateway__CommitStatusResponse *cr =
        gateway__commit_status_response__unpack(NULL, r.len, r.data);
    assert_non_null(cr);
    assert_int_equal(cr->result, code);
    assert_int_equal(cr->block_number, block);
    gateway__commit_status_response__free_unpacked(cr, NULL);
    weft_rpc_result_clear(&r);
    weft_free(req);
    json_decref(j);
}

static void test_commit_status(void **state)
{
    (void)state;
    check_status(5, 0);  /* VALID */
    check_status(19, 0); /* MVCC_READ_CONFLICT */
    struct weft_rpc_result r = {0};
    size_t len = 0;
    uint8_t *req = status_req("mychannel", "nope", false, &len);
    assert_int_equal(call("/gateway.Gateway/CommitStatus", req, len, 5000, &r),
                     WEFT_RPC_PERMISSION_DENIED);
    weft_free(req);
    req = status_req("otherchannel", "nope", true, &len);
    assert_int_equal(call("/gateway.Gateway/CommitStatus", req, len, 5000, &r),
                     WEFT_RPC_NOT_FOUND);
    weft_free(req);
    /* never committed: the client's deadline ends the wait */
    req = status_req("mychannel", "not-a-committed-txid", true, &len);
    uint64_t t0 = weft_clock_mono_ns();
    assert_int_equal(call("/gateway.Gateway/CommitStatus", req, len, 300, &r),
                     WEFT_RPC_DEADLINE_EXCEEDED);
    assert_true(weft_clock_mono_ns() - t0 < 3000000000ull);
    weft_free(req);
    assert_int_equal(call("/gateway.Gateway/CommitStatus", "", 0, 5000, &r),
                     WEFT_RPC_INVALID_ARGUMENT);
    weft_rpc_result_clear(&r);
}

struct waiter {
    uint8_t *req;
    size_t len;
    struct weft_rpc_result r;
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;
    int rc = weft_rpc_client_unary(F.cli, "/gateway.Gateway/CommitStatus", w->req, w->len,
                                   20000, &w->r);
    (void)rc;
    return NULL;
}

static void test_commit_status_wait(void **state)
{
    (void)state;
    /* a transaction of block NBLOCKS-6, not committed yet */
    unsigned blk = NBLOCKS - 6;
    json_t *j = read_expected(blk);
    json_t *t = json_array_get(json_object_get(j, "transactions"), 0);
    struct waiter w = {0};
    w.req = status_req("mychannel", json_string_value(json_object_get(t, "txid")), true, &w.len);
    int code = (int)json_integer_value(json_object_get(t, "validation_code"));
    json_decref(j);
    struct weft_gateway_stats s0, s1;
    weft_gateway_get_stats(F.gw, &s0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_main, &w), 0);
    /* wait until the gateway has the request, then commit the rest */
    uint64_t dl = weft_clock_mono_ns() + 10000000000ull;
    do {
        weft_gateway_get_stats(F.gw, &s1);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    } while (s1.commit_status == s0.commit_status && weft_clock_mono_ns() < dl);
    assert_true(s1.commit_status > s0.commit_status);
    commit_blocks(F.ledger, blk, NBLOCKS);
    pthread_join(th, NULL);
    assert_int_equal(w.r.code, WEFT_RPC_OK);
    Gateway__CommitStatusResponse *cr =
        gateway__commit_status_response__unpack(NULL, w.r.len, w.r.data);
    assert_non_null(cr);
    assert_int_equal(cr->result, code);
    assert_int_equal(cr->block_number, blk);
    gateway__commit_status_response__free_unpacked(cr, NULL);
    weft_rpc_result_clear(&w.r);
    weft_free(w.req);
}

struct cwait {
    struct weft_rpc_client *cli;
    uint8_t *req;
    size_t len;
    int64_t timeout_ms;
    struct weft_rpc_result r;
};

static void *cwait_main(void *arg)
{
    struct cwait *w = arg;
    int rc = weft_rpc_client_unary(w->cli, "/gateway.Gateway/CommitStatus", w->req, w->len,
                                   w->timeout_ms, &w->r);
    (void)rc;
    return NULL;
}

/* Starts n CommitStatus calls for a never-committed txid on cli. */
static void cwaits_start(struct cwait *w, pthread_t *th, size_t n, struct weft_rpc_client *cli,
                         int64_t timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].cli = cli;
        w[i].timeout_ms = timeout_ms;
        w[i].req = status_req("mychannel", "never-committed", true, &w[i].len);
        assert_int_equal(pthread_create(&th[i], NULL, cwait_main, &w[i]), 0);
    }
}

static void cwaits_join(struct cwait *w, pthread_t *th, size_t n, int want)
{
    for (size_t i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].r.code, want);
        weft_rpc_result_clear(&w[i].r);
        weft_free(w[i].req);
    }
}

static void wait_commit_status_calls(uint64_t at_least)
{
    uint64_t dl = weft_clock_mono_ns() + 10000000000ull;
    struct weft_gateway_stats s;
    do {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        weft_gateway_get_stats(F.gw, &s);
    } while (s.commit_status < at_least && weft_clock_mono_ns() < dl);
    assert_true(s.commit_status >= at_least);
}

/* A waiting CommitStatus holds no worker of the server: on a server with
 * 2 workers, 6 waits leave it free to answer; the client's deadline ends
 * them (and gives their concurrency slots back); stopping the server
 * answers the waits still pending. */
static void test_commit_status_deferred(void **state)
{
    (void)state;
    struct weft_err err = {0};
    struct weft_rpc_server *srv = two_worker_server(F.gw);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    struct weft_rpc_client *cli = weft_rpc_client_new(addr, NULL, &err);
    assert_non_null(cli);

    struct weft_gateway_stats s0;
    weft_gateway_get_stats(F.gw, &s0);
    struct cwait w[8];
    pthread_t th[8];
    cwaits_start(w, th, 6, cli, 1500);
    wait_commit_status_calls(s0.commit_status + 6);
    /* both workers would be taken by blocking waits: this one needs a third */
    json_t *j = read_expected(5);
    json_t *t = json_array_get(json_object_get(j, "transactions"), 0);
    size_t len = 0;
    uint8_t *req = status_req("mychannel", json_string_value(json_object_get(t, "txid")), true,
                              &len);
    json_decref(j);
    struct weft_rpc_result r = {0};
    uint64_t t0 = weft_clock_mono_ns();
    assert_int_equal(weft_rpc_client_unary(cli, "/gateway.Gateway/CommitStatus", req, len, 1000,
                                           &r),
                     0);
    assert_int_equal(r.code, WEFT_RPC_OK);
    assert_true(weft_clock_mono_ns() - t0 < 1000000000ull);
    weft_rpc_result_clear(&r);
    weft_free(req);
    cwaits_join(w, th, 6, WEFT_RPC_DEADLINE_EXCEEDED);

    /* the slots are back: the limit (8) admits 8 waits at once */
    weft_gateway_get_stats(F.gw, &s0);
    cwaits_start(w, th, 8, cli, 30000);
    wait_commit_status_calls(s0.commit_status + 8);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    t0 = weft_clock_mono_ns();
    weft_rpc_server_stop(srv, 100);
    assert_true(weft_clock_mono_ns() - t0 < 5000000000ull);
    for (size_t i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        /* ended by the stop, not refused by the limit (UNKNOWN) */
        assert_true(w[i].r.code == WEFT_RPC_UNAVAILABLE || w[i].r.code == WEFT_RPC_CANCELLED);
        weft_rpc_result_clear(&w[i].r);
        weft_free(w[i].req);
    }
    weft_rpc_client_free(cli);
    weft_rpc_server_free(srv);
}

static uint8_t *events_req(int start_type, uint64_t start, const char *after, size_t *len)
{
    size_t il = 0;
    const uint8_t *ident = weft_msp_identity_serialized(weft_msp_signer(F.user), &il);
    Orderer__SeekPosition pos = ORDERER__SEEK_POSITION__INIT;
    Orderer__SeekSpecified spec = ORDERER__SEEK_SPECIFIED__INIT;
    Orderer__SeekNewest newest = ORDERER__SEEK_NEWEST__INIT;
    if (start_type == 1) {
        spec.number = start;
        pos.type_case = ORDERER__SEEK_POSITION__TYPE_SPECIFIED;
        pos.specified = &spec;
    } else {
        pos.type_case = ORDERER__SEEK_POSITION__TYPE_NEWEST;
        pos.newest = &newest;
    }
    Gateway__ChaincodeEventsRequest cr = GATEWAY__CHAINCODE_EVENTS_REQUEST__INIT;
    cr.channel_id = (char *)"mychannel";
    cr.chaincode_id = (char *)"basic";
    cr.identity.data = (uint8_t *)ident;
    cr.identity.len = il;
    cr.start_position = &pos;
    cr.after_transaction_id = (char *)(after != NULL ? after : "");
    size_t rl = gateway__chaincode_events_request__get_packed_size(&cr);
    uint8_t *rb = weft_malloc(rl);
    gateway__chaincode_events_request__pack(&cr, rb);
    uint8_t sig[80];
    size_t sl = sizeof(sig);
    assert_int_equal(weft_msp_sign(F.user, rb, rl, sig, &sl, NULL), 0);
    Gateway__SignedChaincodeEventsRequest s = GATEWAY__SIGNED_CHAINCODE_EVENTS_REQUEST__INIT;
    s.request.data = rb;
    s.request.len = rl;
    s.signature.data = sig;
    s.signature.len = sl;
    *len = gateway__signed_chaincode_events_request__get_packed_size(&s);
    uint8_t *b = weft_malloc(*len);
    gateway__signed_chaincode_events_request__pack(&s, b);
    weft_free(rb);
    return b;
}

/* Reads n events from a ChaincodeEvents stream into txids. */
static void read_events(const uint8_t *req, size_t len, char **txids, size_t n)
{
    struct weft_err err = {0};
    struct weft_rpc_stream *s =
        weft_rpc_client_stream(F.cli, "/gateway.Gateway/ChaincodeEvents", 20000, &err);
    assert_non_null(s);
    assert_int_equal(weft_rpc_stream_send(s, req, len), 0);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    size_t got = 0;
    uint64_t last_block = 0;
    while (got < n) {
        uint8_t *m = NULL;
        size_t ml = 0;
        assert_int_equal(weft_rpc_stream_recv(s, &m, &ml, 10000), 0);
        assert_non_null(m);
        Gateway__ChaincodeEventsResponse *r =
            gateway__chaincode_events_response__unpack(NULL, ml, m);
        assert_non_null(r);
        assert_true(r->n_events > 0);
        assert_true(r->block_number >= last_block);
        last_block = r->block_number;
        for (size_t i = 0; i < r->n_events && got < n; i++) {
            assert_string_equal(r->events[i]->chaincode_id, "basic");
            txids[got++] = weft_strdup(r->events[i]->tx_id);
        }
        gateway__chaincode_events_response__free_unpacked(r, NULL);
        weft_free(m);
    }
    weft_rpc_stream_cancel(s);
    weft_rpc_stream_free(s);
}

static void test_chaincode_events(void **state)
{
    (void)state;
    char **want = NULL;
    size_t nw = expected_events(0, NBLOCKS - 6, &want);
    assert_true(nw > 10);
    char **got = weft_calloc(nw, sizeof(char *));
    size_t len = 0;
    uint8_t *req = events_req(1, 0, NULL, &len);
    read_events(req, len, got, nw);
    for (size_t i = 0; i < nw; i++) {
        assert_string_equal(got[i], want[i]);
    }
    free_strv(got, nw);
    weft_free(req);
    /* checkpoint: resume after the 5th event */
    got = weft_calloc(3, sizeof(char *));
    req = events_req(1, 0, want[4], &len);
    read_events(req, len, got, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(got[i], want[5 + i]);
    }
    free_strv(got, 3);
    weft_free(req);
    /* "newest" is not a valid start */
    req = events_req(2, 0, NULL, &len);
    struct weft_err err = {0};
    struct weft_rpc_stream *s =
        weft_rpc_client_stream(F.cli, "/gateway.Gateway/ChaincodeEvents", 5000, &err);
    assert_int_equal(weft_rpc_stream_send(s, req, len), 0);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    uint8_t *m = NULL;
    size_t ml = 0;
    assert_int_equal(weft_rpc_stream_recv(s, &m, &ml, 5000), 0);
    assert_null(m);
    int code = 0;
    const char *msg = NULL;
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &msg), 0);
    assert_int_equal(code, WEFT_RPC_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "invalid start position type"));
    weft_rpc_stream_free(s);
    weft_free(req);
    free_strv(want, nw);
}

static void test_metrics(void **state)
{
    (void)state;
    struct weft_gateway_stats s;
    weft_gateway_get_stats(F.gw, &s);
    assert_true(s.evaluate > 0 && s.endorse > 0 && s.submit > 0 && s.commit_status > 0);
    assert_true(s.failed > 0);
    assert_true(s.endorsements >= s.endorse);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_signature),
        cmocka_unit_test(test_plan_config),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_status_pack),
        cmocka_unit_test(test_prepare_envelope),
        cmocka_unit_test(test_block_events),
        cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_endorse),
        cmocka_unit_test(test_endorse_parallel),
        cmocka_unit_test(test_submit),
        cmocka_unit_test(test_submit_shared_stream),
        cmocka_unit_test(test_submit_deferred),
        cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_commit_status),
        cmocka_unit_test(test_chaincode_events),
        cmocka_unit_test(test_commit_status_wait),
        cmocka_unit_test(test_commit_status_deferred),
        cmocka_unit_test(test_metrics),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    /* the same Endorse checks with an asynchronous local endorser: Endorse
     * then runs on the completion-queue thread (gateway.c ecall_*) */
    const struct CMUnitTest async_tests[] = {
        cmocka_unit_test(test_endorse),
        cmocka_unit_test(test_endorse_parallel),
        cmocka_unit_test(test_endorse_async_used),
        cmocka_unit_test(test_endorse_async_abandoned),
        cmocka_unit_test(test_endorse),
    };
    g_async_local = true;
    failed += cmocka_run_group_tests_name("gateway_async_local", async_tests, setup, teardown);
    return failed;
}
