/* Endorser checks and the shim protocol against a fake chaincode written in
 * C that registers over a real ChaincodeSupport/Register gRPC stream. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "msp/identities.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "testlib.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/msp.h"
#include "weft/peer.h"
#include "weft/rpc.h"

#define VEC "vectors/fabric-2.4.9"

struct fixture {
    char *dir;
    struct weft_peer *peer;
    struct weft_msp *user;
    char *pkgid;
    pthread_t cc_thread;
    bool cc_running;
    _Atomic int launches; /* counted by the launcher, on a support pool thread */
    /* protos.Endorser/ProcessProposal over gRPC (answered later by the
     * chaincode's completion): used by endorse() when via_rpc */
    struct weft_rpc_server *rpc;
    struct weft_rpc_client *client;
    bool via_rpc;
    bool via_async; /* endorse() through weft_peer_endorse_async */
    int async_calls, async_on_caller;
};

static struct fixture *G;

/* ---- fake chaincode --------------------------------------------------------------- */

static int cc_send(struct weft_rpc_stream *s, Protos__ChaincodeMessage__Type t, const char *txid,
                   const char *ch, const ProtobufCMessage *payload, Protos__ChaincodeEvent *ev)
{
    Protos__ChaincodeMessage m = PROTOS__CHAINCODE_MESSAGE__INIT;
    uint8_t pl[4096], buf[8192];
    m.type = t;
    m.txid = (char *)txid;
    m.channel_id = (char *)ch;
    m.chaincode_event = ev;
    if (payload != NULL) {
        m.payload.len = protobuf_c_message_pack(payload, pl);
        m.payload.data = pl;
    }
    size_t n = protobuf_c_message_pack(&m.base, buf);
    return weft_rpc_stream_send(s, buf, n);
}

static Protos__ChaincodeMessage *cc_recv(struct weft_rpc_stream *s)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    if (weft_rpc_stream_recv(s, &raw, &len, 10000) != 0 || raw == NULL) {
        return NULL;
    }
    Protos__ChaincodeMessage *m = protos__chaincode_message__unpack(NULL, len, raw);
    weft_free(raw);
    return m;
}

static void complete(struct weft_rpc_stream *s, Protos__ChaincodeMessage *tx, int status,
                     const char *payload, bool event)
{
    Protos__Response r = PROTOS__RESPONSE__INIT;
    r.status = status;
    r.message = status >= 400 ? (char *)"it failed" : (char *)"";
    r.payload.data = (uint8_t *)payload;
    r.payload.len = strlen(payload);
    Protos__ChaincodeEvent ev = PROTOS__CHAINCODE_EVENT__INIT;
    ev.event_name = (char *)"Created";
    ev.payload.data = (uint8_t *)"evt";
    ev.payload.len = 3;
    assert_int_equal(cc_send(s, PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED, tx->txid,
                             tx->channel_id, &r.base, event ? &ev : NULL),
                     0);
}

/* Sends a state request and waits for its RESPONSE/ERROR. */
static Protos__ChaincodeMessage *request(struct weft_rpc_stream *s, Protos__ChaincodeMessage *tx,
                                         Protos__ChaincodeMessage__Type t,
                                         const ProtobufCMessage *pl)
{
    assert_int_equal(cc_send(s, t, tx->txid, tx->channel_id, pl, NULL), 0);
    Protos__ChaincodeMessage *r = cc_recv(s);
    assert_non_null(r);
    assert_string_equal(r->txid, tx->txid);
    return r;
}

struct cc_args {
    int port; /* read by launch(): the peer may be freed before this thread is joined */
    char *ccid;
};

static void *fake_chaincode(void *arg)
{
    struct cc_args *a = arg;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", a->port);
    struct weft_err e = {0};
    struct weft_rpc_client *c = weft_rpc_client_new(target, NULL, &e);
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/protos.ChaincodeSupport/Register",
                                                       -1, &e);
    Protos__ChaincodeID id = PROTOS__CHAINCODE_ID__INIT;
    id.name = a->ccid;
    (void)cc_send(s, PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER, "", "", &id.base, NULL);
    Protos__ChaincodeMessage *m = cc_recv(s);
    if (m == NULL || m->type != PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTERED) {
        goto done;
    }
    protos__chaincode_message__free_unpacked(m, NULL);
    m = cc_recv(s);
    if (m == NULL || m->type != PROTOS__CHAINCODE_MESSAGE__TYPE__READY) {
        goto done;
    }
    protos__chaincode_message__free_unpacked(m, NULL);
    while ((m = cc_recv(s)) != NULL) {
        if (m->type != PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION) {
            protos__chaincode_message__free_unpacked(m, NULL);
            continue;
        }
        assert_non_null(m->proposal); /* the peer forwards the SignedProposal */
        Protos__ChaincodeInput *in =
            protos__chaincode_input__unpack(NULL, m->payload.len, m->payload.data);
        char fn[32] = {0};
        snprintf(fn, sizeof(fn), "%.*s", (int)in->args[0].len, (const char *)in->args[0].data);
        if (strcmp(fn, "put") == 0) {
            /* composite key U+0000 "asset" U+0000 "k" U+0000: NULs must survive */
            Protos__GetState gs = PROTOS__GET_STATE__INIT;
            gs.key = (char *)"k1";
            Protos__ChaincodeMessage *r =
                request(s, m, PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE, &gs.base);
            assert_int_equal(r->type, PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE);
            protos__chaincode_message__free_unpacked(r, NULL);
            /* PutState{key = "\0asset\0k1\0", value = args[1]} written by hand */
            uint8_t ps[256];
            size_t n = 0;
            ps[n++] = 0x0a;
            ps[n++] = 10;
            memcpy(ps + n, "\0asset\0k1\0", 10);
            n += 10;
            ps[n++] = 0x12;
            ps[n++] = (uint8_t)in->args[1].len;
            memcpy(ps + n, in->args[1].data, in->args[1].len);
            n += in->args[1].len;
            Protos__ChaincodeMessage pm = PROTOS__CHAINCODE_MESSAGE__INIT;
            pm.type = PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE;
            pm.txid = m->txid;
            pm.channel_id = m->channel_id;
            pm.payload.data = ps;
            pm.payload.len = n;
            uint8_t buf[512];
            size_t bl = protobuf_c_message_pack(&pm.base, buf);
            assert_int_equal(weft_rpc_stream_send(s, buf, bl), 0);
            r = cc_recv(s);
            assert_int_equal(r->type, PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE);
            protos__chaincode_message__free_unpacked(r, NULL);
            /* rich query: a clear error */
            Protos__GetQueryResult q = PROTOS__GET_QUERY_RESULT__INIT;
            q.query = (char *)"{}";
            r = request(s, m, PROTOS__CHAINCODE_MESSAGE__TYPE__GET_QUERY_RESULT, &q.base);
            assert_int_equal(r->type, PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR);
            assert_non_null(strstr((const char *)r->payload.data,
                                   "rich queries are not enabled on this peer"));
            protos__chaincode_message__free_unpacked(r, NULL);
            /* unknown iterator */
            Protos__QueryStateNext qn = PROTOS__QUERY_STATE_NEXT__INIT;
            qn.id = (char *)"nope";
            r = request(s, m, PROTOS__CHAINCODE_MESSAGE__TYPE__QUERY_STATE_NEXT, &qn.base);
            assert_int_equal(r->type, PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR);
            assert_non_null(strstr((const char *)r->payload.data, "query iterator not found"));
            protos__chaincode_message__free_unpacked(r, NULL);
            /* range query over the (empty) namespace */
            Protos__GetStateByRange gr = PROTOS__GET_STATE_BY_RANGE__INIT;
            gr.startkey = (char *)"a";
            gr.endkey = (char *)"z";
            r = request(s, m, PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE_BY_RANGE, &gr.base);
            assert_int_equal(r->type, PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE);
            Protos__QueryResponse *qr =
                protos__query_response__unpack(NULL, r->payload.len, r->payload.data);
            assert_non_null(qr);
            assert_int_equal(qr->n_results, 0);
            assert_false(qr->has_more);
            protos__query_response__free_unpacked(qr, NULL);
            protos__chaincode_message__free_unpacked(r, NULL);
            complete(s, m, 200, "ok", true);
        } else if (strcmp(fn, "fail") == 0) {
            complete(s, m, 500, "", false);
        } else if (strcmp(fn, "notfound") == 0) {
            complete(s, m, 404, "", false);
        } else if (strcmp(fn, "error") == 0) {
            assert_int_equal(cc_send(s, PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR, m->txid,
                                     m->channel_id, NULL, NULL),
                             0);
        } else if (strcmp(fn, "die") == 0) {
            protos__chaincode_input__free_unpacked(in, NULL);
            protos__chaincode_message__free_unpacked(m, NULL);
            break;
        }
        /* "hang": no answer */
        protos__chaincode_input__free_unpacked(in, NULL);
        protos__chaincode_message__free_unpacked(m, NULL);
    }
done:
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    weft_free(a->ccid);
    weft_free(a);
    return NULL;
}

static int launch(void *ctx, struct weft_cc_support *s, const char *ccid, struct weft_err *err)
{
    (void)s;
    (void)err;
    struct fixture *f = ctx;
    if (f->cc_running) {
        pthread_join(f->cc_thread, NULL);
        f->cc_running = false;
    }
    struct cc_args *a = weft_calloc(1, sizeof(*a));
    a->port = weft_peer_chaincode_port(f->peer);
    a->ccid = weft_strdup(ccid);
    f->launches++;
    assert_int_equal(pthread_create(&f->cc_thread, NULL, fake_chaincode, a), 0);
    f->cc_running = true;
    return 0;
}

static struct weft_cc_launcher launcher;

/* ---- proposals ----------------------------------------------------------------------- */

struct prop_opts {
    const char *channel;
    const char *cc;
    const char *const *args;
    size_t nargs;
    bool bad_txid;
    bool bad_sig;
    int32_t type;
    struct weft_msp *signer; /* NULL = User1@org1 */
};

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

static uint8_t *make_proposal(const struct prop_opts *o, size_t *len, char txid_out[65],
                              uint8_t phash[32])
{
    size_t cl;
    struct weft_msp *signer = o->signer != NULL ? o->signer : G->user;
    const uint8_t *creator = weft_msp_identity_serialized(weft_msp_signer(signer), &cl);
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
    if (o->bad_txid) {
        txid[0] = txid[0] == 'a' ? 'b' : 'a';
    }
    memcpy(txid_out, txid, 65);

    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)o->cc;
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    size_t el;
    uint8_t *eb = pack(&ext.base, &el);
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = o->type != 0 ? o->type : 3;
    ch.channel_id = (char *)o->channel;
    ch.tx_id = txid;
    ch.extension.data = eb;
    ch.extension.len = el;
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)creator;
    sh.creator.len = cl;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    Common__Header hdr = COMMON__HEADER__INIT;
    size_t chl, shl;
    hdr.channel_header.data = pack(&ch.base, &chl);
    hdr.channel_header.len = chl;
    hdr.signature_header.data = pack(&sh.base, &shl);
    hdr.signature_header.len = shl;

    ProtobufCBinaryData args[8];
    for (size_t i = 0; i < o->nargs; i++) {
        args[i].data = (uint8_t *)o->args[i];
        args[i].len = strlen(o->args[i]);
    }
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = o->nargs;
    in.args = args;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    spec.type = PROTOS__CHAINCODE_SPEC__TYPE__NODE;
    spec.chaincode_id = &cid;
    spec.input = &in;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    cis.chaincode_spec = &spec;
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    size_t cisl;
    cpp.input.data = pack(&cis.base, &cisl);
    cpp.input.len = cisl;
    Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    size_t hl, pl;
    prop.header.data = pack(&hdr.base, &hl);
    prop.header.len = hl;
    prop.payload.data = pack(&cpp.base, &pl);
    prop.payload.len = pl;
    /* expected proposal hash: channel header || signature header || cpp (no transient) */
    if (phash != NULL) {
        uint8_t *cat = weft_malloc(chl + shl + pl);
        memcpy(cat, hdr.channel_header.data, chl);
        memcpy(cat + chl, hdr.signature_header.data, shl);
        memcpy(cat + chl + shl, prop.payload.data, pl);
        weft_sha256(cat, chl + shl + pl, phash);
        weft_free(cat);
    }
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    size_t propl;
    sp.proposal_bytes.data = pack(&prop.base, &propl);
    sp.proposal_bytes.len = propl;
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    struct weft_err e = {0};
    assert_int_equal(weft_msp_sign(signer, sp.proposal_bytes.data, propl, sig, &sigl, &e), 0);
    if (o->bad_sig) {
        sig[sigl - 3] ^= 0x5a;
    }
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

/* One weft_peer_endorse_async outcome, waited for by the test thread. */
struct async_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool on_caller; /* done ran before weft_peer_endorse_async returned */
    bool returned;
    int rc;
    uint8_t *out;
    size_t len;
    struct weft_err e;
};

static void async_done(void *arg, int rc, const uint8_t *resp, size_t len,
                       const struct weft_err *e)
{
    struct async_wait *w = arg;
    pthread_mutex_lock(&w->mu);
    assert_false(w->done); /* exactly once */
    w->on_caller = !w->returned;
    w->rc = rc;
    if (rc == 0) {
        w->out = weft_malloc(len > 0 ? len : 1);
        assert_non_null(w->out);
        memcpy(w->out, resp, len);
        w->len = len;
    } else {
        w->e = *e;
    }
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int endorse_async_wait(const uint8_t *sp, size_t len, uint8_t **out, size_t *ol,
                              struct weft_err *e)
{
    struct async_wait w = {.rc = -1};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    weft_peer_endorse_async(G->peer, sp, len, async_done, &w);
    pthread_mutex_lock(&w.mu);
    w.returned = true;
    while (!w.done) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    G->async_on_caller += w.on_caller;
    G->async_calls++;
    *out = w.out;
    *ol = w.len;
    if (w.rc != 0) {
        *e = w.e;
    }
    return w.rc;
}

/* Endorses; returns the rc and the decoded response (or NULL). */
static int endorse(const struct prop_opts *o, Protos__ProposalResponse **pr, struct weft_err *e,
                   uint8_t phash[32])
{
    size_t len;
    char txid[65];
    uint8_t *sp = make_proposal(o, &len, txid, phash);
    uint8_t *out = NULL;
    size_t ol = 0;
    *pr = NULL;
    int rc;
    if (G->via_rpc) {
        struct weft_rpc_result r = {0};
        rc = weft_rpc_client_unary(G->client, "/protos.Endorser/ProcessProposal", sp, len, 20000,
                                   &r);
        if (rc == 0) {
            out = r.data;
            ol = r.len;
            r.data = NULL;
        } else {
            snprintf(e->msg, sizeof(e->msg), "%s", r.message != NULL ? r.message : "");
        }
        weft_rpc_result_clear(&r);
    } else if (G->via_async) {
        rc = endorse_async_wait(sp, len, &out, &ol, e);
    } else {
        rc = weft_peer_endorse(G->peer, sp, len, &out, &ol, e);
    }
    if (rc == 0) {
        *pr = protos__proposal_response__unpack(NULL, ol, out);
        assert_non_null(*pr);
    }
    weft_free(out);
    weft_free(sp);
    return rc;
}

/* ---- setup --------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    G = weft_calloc(1, sizeof(*G));
    G->dir = wt_tmpdir("peer");
    char *msp = weft_asprintf("%s/" VEC "/crypto/peerOrganizations/org1.example.com/peers/"
                              "peer0.org1.example.com/msp", wt_shared_dir());
    char *umsp = weft_asprintf("%s/" VEC "/crypto/peerOrganizations/org1.example.com/users/"
                               "User1@org1.example.com/msp", wt_shared_dir());
    launcher.launch = launch;
    launcher.ctx = G;
    struct weft_peer_opts o = {
        .fs_path = G->dir,
        .msp_dir = msp,
        .mspid = "Org1MSP",
        .chaincode_listen = "127.0.0.1:0",
        .execute_timeout_ms = 1500,
        .launcher = &launcher,
        .ledger_no_sync = true,
    };
    struct weft_err e = {0};
    /* two workers only: deferred calls hold none while the chaincode runs */
    struct weft_rpc_server_opts so = {.listen = {"127.0.0.1:0"}, .cq_threads = 2, .workers = 2};
    G->rpc = weft_rpc_server_new(&so, &e);
    assert_non_null(G->rpc);
    G->peer = weft_peer_new_opts(&o, G->rpc, &e);
    if (G->peer == NULL) {
        fprintf(stderr, "peer: %s\n", e.msg);
        return -1;
    }
    assert_int_equal(weft_rpc_server_start(G->rpc, &e), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(G->rpc, 0));
    G->client = weft_rpc_client_new(target, NULL, &e);
    assert_non_null(G->client);
    assert_int_equal(weft_msp_load_dir(umsp, "Org1MSP", &G->user, &e), 0);
    char *gp = weft_asprintf("%s/" VEC "/blocks/genesis.block", wt_shared_dir());
    size_t gl;
    char *g = wt_read_file(gp, &gl);
    char *ch = NULL;
    assert_int_equal(weft_peer_join(G->peer, (uint8_t *)g, gl, &ch, &e), 0);
    assert_string_equal(ch, "mychannel");
    assert_int_equal(weft_peer_join(G->peer, (uint8_t *)g, gl, NULL, &e), WEFT_EEXIST);
    /* install a (node-typed) package; the fake launcher runs it */
    char *src = weft_asprintf("%s/src", G->dir);
    char *f = weft_asprintf("%s/index.js", src);
    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(wt_write_file(f, "x", 1), 0);
    uint8_t *pkg;
    size_t pl;
    assert_int_equal(weft_cc_package_create("fake_1", "node", "", src, &pkg, &pl, &e), 0);
    assert_int_equal(weft_peer_install(G->peer, pkg, pl, &G->pkgid, &e), 0);
    assert_int_equal(weft_peer_define_chaincode(G->peer, "mychannel", "fakecc", "1.0", G->pkgid,
                                                &e),
                     0);
    weft_free(pkg);
    weft_free(src);
    weft_free(f);
    weft_free(ch);
    weft_free(g);
    weft_free(gp);
    weft_free(msp);
    weft_free(umsp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    weft_rpc_client_free(G->client);
    weft_rpc_server_stop(G->rpc, 1000);
    weft_peer_free(G->peer);
    weft_rpc_server_free(G->rpc);
    if (G->cc_running) {
        pthread_join(G->cc_thread, NULL);
    }
    weft_msp_unref(G->user);
    wt_rmtree(G->dir);
    weft_free(G->dir);
    weft_free(G->pkgid);
    weft_free(G);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static const char *const put_args[] = {"put", "v1"};

/* After every refused proposal: a good one still endorses (the peer keeps
 * serving). */
static void assert_serving(void)
{
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_endorse_ok(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    uint8_t phash[32];
    assert_int_equal(endorse(&o, &pr, &e, phash), 0);
    assert_int_equal(pr->response->status, 200);
    assert_int_equal(pr->version, 1);
    assert_int_equal(pr->response->payload.len, 2);
    assert_memory_equal(pr->response->payload.data, "ok", 2);
    assert_non_null(pr->endorsement);
    /* the endorsement signs payload || endorser with the peer's identity */
    size_t il;
    struct weft_msp *pmsp = NULL;
    char *msp = weft_asprintf("%s/" VEC "/crypto/peerOrganizations/org1.example.com/peers/"
                              "peer0.org1.example.com/msp", wt_shared_dir());
    assert_int_equal(weft_msp_load_dir(msp, "Org1MSP", &pmsp, &e), 0);
    const uint8_t *idb = weft_msp_identity_serialized(weft_msp_signer(pmsp), &il);
    assert_int_equal(pr->endorsement->endorser.len, il);
    assert_memory_equal(pr->endorsement->endorser.data, idb, il);
    uint8_t *tbs = weft_malloc(pr->payload.len + il);
    memcpy(tbs, pr->payload.data, pr->payload.len);
    memcpy(tbs + pr->payload.len, idb, il);
    assert_int_equal(weft_msp_identity_verify(weft_msp_signer(pmsp), NULL, tbs,
                                              pr->payload.len + il,
                                              pr->endorsement->signature.data,
                                              pr->endorsement->signature.len, &e),
                     0);
    weft_free(tbs);
    /* payload: proposal hash + ChaincodeAction with the rwset, event, version */
    Protos__ProposalResponsePayload *prp =
        protos__proposal_response_payload__unpack(NULL, pr->payload.len, pr->payload.data);
    assert_non_null(prp);
    assert_int_equal(prp->proposal_hash.len, 32);
    assert_memory_equal(prp->proposal_hash.data, phash, 32);
    Protos__ChaincodeAction *ca =
        protos__chaincode_action__unpack(NULL, prp->extension.len, prp->extension.data);
    assert_non_null(ca);
    assert_string_equal(ca->chaincode_id->name, "fakecc");
    assert_string_equal(ca->chaincode_id->version, "1.0");
    Protos__ChaincodeEvent *ev =
        protos__chaincode_event__unpack(NULL, ca->events.len, ca->events.data);
    assert_non_null(ev);
    assert_string_equal(ev->event_name, "Created");
    assert_string_equal(ev->chaincode_id, "fakecc");
    assert_int_equal(strlen(ev->tx_id), 64);
    Rwset__TxReadWriteSet *rw =
        rwset__tx_read_write_set__unpack(NULL, ca->results.len, ca->results.data);
    assert_non_null(rw);
    bool seen = false;
    for (size_t i = 0; i < rw->n_ns_rwset; i++) {
        if (strcmp(rw->ns_rwset[i]->namespace_, "fakecc") != 0) {
            continue;
        }
        Kvrwset__KVRWSet *kv = kvrwset__kvrwset__unpack(NULL, rw->ns_rwset[i]->rwset.len,
                                                        rw->ns_rwset[i]->rwset.data);
        assert_non_null(kv);
        assert_int_equal(kv->n_writes, 1);
        /* composite key with its NULs intact: raw bytes "\0asset\0k1\0" */
        assert_memory_equal(kv->writes[0]->key, "\0asset\0k1\0", 10);
        assert_int_equal(kv->writes[0]->value.len, 2);
        assert_int_equal(kv->n_reads, 1);
        assert_string_equal(kv->reads[0]->key, "k1");
        assert_int_equal(kv->n_range_queries_info, 1);
        seen = true;
        kvrwset__kvrwset__free_unpacked(kv, NULL);
    }
    assert_true(seen);
    rwset__tx_read_write_set__free_unpacked(rw, NULL);
    protos__chaincode_event__free_unpacked(ev, NULL);
    protos__chaincode_action__free_unpacked(ca, NULL);
    protos__proposal_response_payload__free_unpacked(prp, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    weft_msp_unref(pmsp);
    weft_free(msp);
}

/* The endorsement just made is in the peer's verification cache as valid,
 * under the key the block validator computes for it (signer certificate,
 * SHA-256 of payload || endorser, signature): checking it again in a block
 * is a cache hit, not an ECDSA verification. A different signature over the
 * same data is not taken from the cache. */
static void test_own_endorsement_cached(void **state)
{
    (void)state;
    struct weft_vcache *vc = weft_peer_vcache(G->peer);
    assert_non_null(vc);
    struct weft_vcache_stats st0;
    weft_vcache_get_stats(vc, &st0);
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    uint8_t phash[32];
    assert_int_equal(endorse(&o, &pr, &e, phash), 0);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    struct weft_vcache_stats st1;
    weft_vcache_get_stats(vc, &st1);
    assert_int_equal(st1.inserts, st0.inserts + 1);

    /* the validator's item for this endorsement (validator.c) */
    struct weft_msp_identity *id = NULL;
    assert_int_equal(weft_msp_deserialize(G->user, pr->endorsement->endorser.data,
                                          pr->endorsement->endorser.len, &id, &e),
                     0);
    size_t n = pr->payload.len + pr->endorsement->endorser.len;
    uint8_t *tbs = weft_malloc(n);
    memcpy(tbs, pr->payload.data, pr->payload.len);
    memcpy(tbs + pr->payload.len, pr->endorsement->endorser.data, pr->endorsement->endorser.len);
    uint8_t digest[WEFT_SHA256_LEN];
    weft_sha256(tbs, n, digest);
    struct weft_verify_item it = {0};
    it.cert = weft_msp_identity_cert(id);
    it.digest = digest;
    it.sig = pr->endorsement->signature.data;
    it.sig_len = pr->endorsement->signature.len;
    assert_int_equal(weft_verify_item_run(vc, &it), 0);
    assert_true(it.cached);
    struct weft_vcache_stats st2;
    weft_vcache_get_stats(vc, &st2);
    assert_int_equal(st2.hits, st1.hits + 1);

    /* another valid signature over the same bytes (ECDSA is randomised):
     * not in the cache, so it is really verified */
    struct weft_msp *pmsp = NULL;
    char *msp = weft_asprintf("%s/" VEC "/crypto/peerOrganizations/org1.example.com/peers/"
                              "peer0.org1.example.com/msp", wt_shared_dir());
    assert_int_equal(weft_msp_load_dir(msp, "Org1MSP", &pmsp, &e), 0);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sl = sizeof(sig);
    assert_int_equal(weft_msp_sign(pmsp, tbs, n, sig, &sl, &e), 0);
    struct weft_verify_item it2 = it;
    it2.sig = sig;
    it2.sig_len = sl;
    it2.cached = true;
    assert_int_equal(weft_verify_item_run(vc, &it2), 0);
    assert_false(it2.cached);
    /* a corrupted copy of the cached signature is refused */
    uint8_t bad[WEFT_ECDSA_SIG_MAX];
    memcpy(bad, it.sig, it.sig_len);
    bad[it.sig_len - 1] ^= 0x01;
    struct weft_verify_item it3 = it;
    it3.sig = bad;
    assert_int_not_equal(weft_verify_item_run(vc, &it3), 0);
    assert_false(it3.cached);

    weft_msp_unref(pmsp);
    weft_free(msp);
    weft_free(tbs);
    weft_msp_identity_unref(id);
    protos__proposal_response__free_unpacked(pr, NULL);
}

static void test_bad_signature(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2,
                          .bad_sig = true};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), WEFT_EPERM);
    assert_string_equal(e.msg, "error validating proposal: access denied: channel "
                                "[mychannel] creator org [Org1MSP]");
    assert_serving();
}

static void test_bad_txid(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2,
                          .bad_txid = true};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), WEFT_EINVAL);
    assert_non_null(strstr(e.msg, "incorrectly computed txid"));
    assert_serving();
}

static void test_bad_header_type(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2,
                          .type = 5};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), WEFT_EINVAL);
    assert_non_null(strstr(e.msg, "invalid header type"));
    assert_serving();
}

static void test_unknown_channel_and_chaincode(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "nochannel", .cc = "fakecc", .args = put_args, .nargs = 2};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_string_equal(pr->response->message, "channel 'nochannel' not found");
    assert_null(pr->endorsement);
    protos__proposal_response__free_unpacked(pr, NULL);
    o.channel = "mychannel";
    o.cc = "nosuchcc";
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message,
                           "make sure the chaincode nosuchcc has been successfully defined on "
                           "channel mychannel"));
    protos__proposal_response__free_unpacked(pr, NULL);
    assert_serving();
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t ol = 0;
    struct weft_err e = {0};
    const uint8_t junk[] = {0x0a, 0xff, 0x01};
    assert_int_equal(weft_peer_endorse(G->peer, junk, sizeof(junk), &out, &ol, &e), WEFT_EPARSE);
    assert_non_null(strstr(e.msg, "SignedProposal"));
    assert_serving();
}

static void test_malformed_async(void)
{
    uint8_t *out = NULL;
    size_t ol = 0;
    struct weft_err e = {0};
    const uint8_t junk[] = {0x0a, 0xff, 0x01};
    assert_int_equal(endorse_async_wait(junk, sizeof(junk), &out, &ol, &e), WEFT_EPARSE);
    assert_null(out);
    assert_non_null(strstr(e.msg, "SignedProposal"));
    assert_serving();
}

static void test_chaincode_errors(void **state)
{
    (void)state;
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    const char *fail[] = {"fail"};
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = fail, .nargs = 1};
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_string_equal(pr->response->message, "it failed");
    assert_null(pr->endorsement);
    protos__proposal_response__free_unpacked(pr, NULL);

    const char *nf[] = {"notfound"};
    o.args = nf;
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 404);
    assert_null(pr->endorsement);
    assert_int_equal(pr->payload.len, 0);
    protos__proposal_response__free_unpacked(pr, NULL);

    const char *er[] = {"error"};
    o.args = er;
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "transaction returned with failure"));
    protos__proposal_response__free_unpacked(pr, NULL);

    /* a chaincode that never answers: timeout, then it still serves */
    const char *hang[] = {"hang"};
    o.args = hang;
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "timeout expired while executing transaction"));
    protos__proposal_response__free_unpacked(pr, NULL);
    assert_serving();

    /* a chaincode that dies mid-transaction, then is relaunched on next use */
    int before = G->launches;
    const char *die[] = {"die"};
    o.args = die;
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 500);
    assert_non_null(strstr(pr->response->message, "chaincode stream terminated"));
    protos__proposal_response__free_unpacked(pr, NULL);
    o.args = put_args;
    o.nargs = 2;
    assert_int_equal(endorse(&o, &pr, &e, NULL), 0);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);
    assert_int_equal(G->launches, before + 1);
    protos__proposal_response__free_unpacked(pr, NULL);
}

/* A proposal whose transaction is already in the ledger: endorse it, commit
 * it in block 1, propose the same bytes again. */
static void test_duplicate_txid(void **state)
{
    (void)state;
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2};
    size_t spl;
    char txid[65];
    uint8_t *sp = make_proposal(&o, &spl, txid, NULL);
    uint8_t *out = NULL;
    size_t ol = 0;
    struct weft_err e = {0};
    assert_int_equal(weft_peer_endorse(G->peer, sp, spl, &out, &ol, &e), 0);
    Protos__ProposalResponse *pr = protos__proposal_response__unpack(NULL, ol, out);
    assert_non_null(pr);
    assert_int_equal(pr->response->status, 200);
    assert_non_null(pr->endorsement);

    /* the transaction: header and payload of the proposal, its endorsement */
    Protos__SignedProposal *sprop = protos__signed_proposal__unpack(NULL, spl, sp);
    assert_non_null(sprop);
    Protos__Proposal *prop = protos__proposal__unpack(NULL, sprop->proposal_bytes.len,
                                                      sprop->proposal_bytes.data);
    assert_non_null(prop);
    Common__Header *hdr = common__header__unpack(NULL, prop->header.len, prop->header.data);
    assert_non_null(hdr);
    Protos__ChaincodeEndorsedAction ea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    ea.proposal_response_payload = pr->payload;
    Protos__Endorsement *ends[1] = {pr->endorsement};
    ea.n_endorsements = 1;
    ea.endorsements = ends;
    Protos__ChaincodeActionPayload cap = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    cap.chaincode_proposal_payload = prop->payload;
    cap.action = &ea;
    Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    ta.header = hdr->signature_header;
    size_t capl, txl, pll, envl, bl;
    ta.payload.data = pack(&cap.base, &capl);
    ta.payload.len = capl;
    Protos__TransactionAction *tas[1] = {&ta};
    Protos__Transaction tx = PROTOS__TRANSACTION__INIT;
    tx.n_actions = 1;
    tx.actions = tas;
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = hdr;
    pl.data.data = pack(&tx.base, &txl);
    pl.data.len = txl;
    Common__Envelope env = COMMON__ENVELOPE__INIT;
    env.payload.data = pack(&pl.base, &pll);
    env.payload.len = pll;
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    assert_int_equal(weft_msp_sign(G->user, env.payload.data, pll, sig, &sigl, &e), 0);
    env.signature.data = sig;
    env.signature.len = sigl;
    uint8_t *envb = pack(&env.base, &envl);

    /* block 1 after the vector genesis block */
    char *gp = weft_asprintf("%s/" VEC "/blocks/genesis.block", wt_shared_dir());
    size_t gl;
    char *g = wt_read_file(gp, &gl);
    Common__Block *gb = common__block__unpack(NULL, gl, (uint8_t *)g);
    assert_non_null(gb);
    uint8_t prev[32], dh[32], filter[1] = {0};
    assert_int_equal(weft_ledger_header_hash(0, NULL, 0, gb->header->data_hash.data,
                                             gb->header->data_hash.len, prev),
                     0);
    ProtobufCBinaryData data[1] = {{envl, envb}};
    weft_ledger_data_hash(data, 1, dh);
    Common__Block blk = COMMON__BLOCK__INIT;
    Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    Common__BlockMetadata bm = COMMON__BLOCK_METADATA__INIT;
    bh.number = 1;
    bh.previous_hash.data = prev;
    bh.previous_hash.len = 32;
    bh.data_hash.data = dh;
    bh.data_hash.len = 32;
    bd.n_data = 1;
    bd.data = data;
    ProtobufCBinaryData md[3] = {{0, NULL}, {0, NULL}, {1, filter}};
    bm.n_metadata = 3;
    bm.metadata = md;
    blk.header = &bh;
    blk.data = &bd;
    blk.metadata = &bm;
    uint8_t *bb = pack(&blk.base, &bl);
    assert_int_equal(weft_peer_commit_block(G->peer, "mychannel", bb, bl, &e), 0);

    /* the same signed proposal again: Fabric's duplicate error, no response */
    uint8_t *out2 = NULL;
    size_t ol2 = 0;
    memset(&e, 0, sizeof(e));
    assert_int_equal(weft_peer_endorse(G->peer, sp, spl, &out2, &ol2, &e), WEFT_EEXIST);
    assert_null(out2);
    char want[128];
    snprintf(want, sizeof(want), "duplicate transaction found [%s]. Creator [", txid);
    assert_memory_equal(e.msg, want, strlen(want));
    /* the creator in hex follows: its SerializedIdentity starts 0a 07 "Org1MSP" */
    assert_non_null(strstr(e.msg, "Creator [0a074f7267314d5350"));
    assert_serving();

    weft_free(bb);
    common__block__free_unpacked(gb, NULL);
    weft_free(g);
    weft_free(gp);
    weft_free(envb);
    weft_free(env.payload.data);
    weft_free(pl.data.data);
    weft_free(ta.payload.data);
    common__header__free_unpacked(hdr, NULL);
    protos__proposal__free_unpacked(prop, NULL);
    protos__signed_proposal__free_unpacked(sprop, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    weft_free(out);
    weft_free(sp);
}

/* The orderer org's admin is valid in the channel's MSPs and signs
 * correctly, but is not an application Writer: the peer/Propose ACL refuses
 * it with Fabric's text. */
static void test_acl_writers(void **state)
{
    (void)state;
    struct weft_err e = {0};
    struct weft_msp *oadm = NULL;
    char *dir = weft_asprintf("%s/" VEC "/crypto/ordererOrganizations/example.com/users/"
                              "Admin@example.com/msp", wt_shared_dir());
    assert_int_equal(weft_msp_load_dir(dir, "OrdererMSP", &oadm, &e), 0);
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = put_args, .nargs = 2,
                          .signer = oadm};
    Protos__ProposalResponse *pr = NULL;
    assert_int_equal(endorse(&o, &pr, &e, NULL), WEFT_EPOLICY);
    assert_null(pr);
    assert_memory_equal(e.msg, "access denied for [propose][mychannel]: failed evaluating policy",
                        strlen("access denied for [propose][mychannel]: failed evaluating policy"));
    assert_non_null(strstr(e.msg, "[/Channel/Application/Writers]"));
    assert_serving();
    weft_msp_unref(oadm);
    weft_free(dir);
}

/* The same through gRPC ProcessProposal, answered later from the
 * chaincode's completion: success, chaincode failures, timeout, death. */
static void test_chaincode_errors_rpc(void **state)
{
    G->via_rpc = true;
    test_endorse_ok(state);
    test_chaincode_errors(state);
    /* a refused proposal keeps its gRPC error text */
    const char *a[] = {"x"};
    struct prop_opts o = {.channel = "mychannel", .cc = "fakecc", .args = a, .nargs = 1,
                          .bad_sig = true};
    Protos__ProposalResponse *pr = NULL;
    struct weft_err e = {0};
    assert_int_equal(endorse(&o, &pr, &e, NULL), WEFT_ERPC);
    assert_string_equal(e.msg, "error validating proposal: access denied: channel [mychannel] "
                               "creator org [Org1MSP]");
    G->via_rpc = false;
}

/* The same through weft_peer_endorse_async (the gateway's local
 * endorser): the outcomes and error texts of the blocking call; a refusal
 * is known on the calling thread, a chaincode's outcome comes later from
 * its completion. */
static void test_endorse_async(void **state)
{
    G->via_async = true;
    G->async_calls = G->async_on_caller = 0;
    test_endorse_ok(state);
    test_bad_signature(state);
    test_malformed_async();
    test_chaincode_errors(state); /* (test_duplicate_txid commits block 1: once only) */
    assert_true(G->async_calls >= 8);
    assert_true(G->async_on_caller >= 2);                /* the refusals */
    assert_true(G->async_on_caller < G->async_calls);    /* the chaincode runs */
    G->via_async = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endorse_ok),
        cmocka_unit_test(test_own_endorsement_cached),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_bad_txid),
        cmocka_unit_test(test_bad_header_type),
        cmocka_unit_test(test_unknown_channel_and_chaincode),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_duplicate_txid),
        cmocka_unit_test(test_acl_writers),
        cmocka_unit_test(test_chaincode_errors),
        cmocka_unit_test(test_chaincode_errors_rpc),
        cmocka_unit_test(test_endorse_async),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
