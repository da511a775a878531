/* The chaincode Register stream over real gRPC (plaintext), served
 * event-driven on the rpc completion-queue threads: a fake chaincode on
 * weft's rpc client registers and runs transactions that read and write
 * the simulator (many in flight on the one stream, answered in any order);
 * a chaincode that dies mid-transaction, or sends a malformed message,
 * fails the waiting transaction at once with a clear error; the support
 * stopping a chaincode, or being freed while a stream has not registered
 * yet, ends those streams with UNAVAILABLE. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_shim.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "testlib.h"
#include "weft/chaincode.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/rpc.h"

#define CCID "fake_1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MAX_TX 16

/* SILENT never answers a TRANSACTION; SLOW answers 300 ms late. */
enum mode { NORMAL, DIE, GARBAGE, SILENT, SLOW };

/* Per transaction, the fake's progress: 0 TRANSACTION seen (PUT_STATE
 * sent), 1 PUT_STATE answered (GET_STATE sent), 2 answered (COMPLETED). */
struct fake_tx {
    char txid[64];
    char channel[64];
    int step;
    char seen[8]; /* reply types received, 'R' RESPONSE, 'E' ERROR */
};

struct fake {
    int port;
    _Atomic enum mode mode; /* set by the test while the fake runs */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool launched;
    int outcome; /* 0 pending, 1 registered, -1 refused */
    struct weft_rpc_client *client;
    struct weft_rpc_stream *stream;
    struct fake_tx txs[MAX_TX];
    bool bogus_sent;
    int bogus_reply; /* type of the reply to a request for an unknown txid */
    char bogus_msg[256];
    int end_code; /* gRPC status the stream ended with; -1 none */
    char end_msg[256];
};

static int send_msg(struct weft_rpc_stream *s, int type, const char *txid, const char *channel,
                    const void *payload, size_t len)
{
    Protos__ChaincodeMessage m = PROTOS__CHAINCODE_MESSAGE__INIT;
    m.type = (Protos__ChaincodeMessage__Type)type;
    m.txid = (char *)txid;
    m.channel_id = (char *)channel;
    m.payload.data = (uint8_t *)(uintptr_t)payload;
    m.payload.len = len;
    size_t n = protobuf_c_message_get_packed_size(&m.base);
    uint8_t *b = weft_malloc(n + 1);
    protobuf_c_message_pack(&m.base, b);
    int rc = weft_rpc_stream_send(s, b, n);
    weft_free(b);
    return rc;
}

static void send_get(struct weft_rpc_stream *s, const char *key, const char *txid,
                     const char *channel)
{
    Protos__GetState g = PROTOS__GET_STATE__INIT;
    g.key = (char *)key;
    g.collection = (char *)"";
    uint8_t b[128];
    size_t l = protos__get_state__pack(&g, b);
    (void)send_msg(s, PROTOS__CHAINCODE_MESSAGE__TYPE__GET_STATE, txid, channel, b, l);
}

static struct fake_tx *fake_tx(struct fake *f, const char *txid, bool add)
{
    for (size_t i = 0; i < MAX_TX; i++) {
        if (f->txs[i].txid[0] != 0 && strcmp(f->txs[i].txid, txid) == 0) {
            return &f->txs[i];
        }
    }
    for (size_t i = 0; add && i < MAX_TX; i++) {
        if (f->txs[i].txid[0] == 0) {
            snprintf(f->txs[i].txid, sizeof(f->txs[i].txid), "%s", txid);
            return &f->txs[i];
        }
    }
    return NULL;
}

static void on_transaction(struct fake *f, Protos__ChaincodeMessage *m)
{
    if (f->mode == DIE) {
        weft_rpc_stream_cancel(f->stream); /* the process is gone */
        return;
    }
    if (f->mode == SILENT) {
        return;
    }
    if (f->mode == SLOW) {
        struct timespec ts = {0, 300000000};
        nanosleep(&ts, NULL);
    }
    if (f->mode == GARBAGE) {
        const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff};
        assert_int_equal(weft_rpc_stream_send(f->stream, junk, sizeof(junk)), 0);
        return;
    }
    struct fake_tx *t = fake_tx(f, m->txid, true);
    assert_non_null(t);
    snprintf(t->channel, sizeof(t->channel), "%s", m->channel_id);
    t->step = 0;
    t->seen[0] = 0;
    if (!f->bogus_sent) {
        f->bogus_sent = true;
        send_get(f->stream, "k", "no-such-tx", m->channel_id);
    }
    /* a key with an embedded NUL, as composite keys have */
    static const char key[] = "k\0x";
    char kb[64];
    snprintf(kb, sizeof(kb), "%s", m->txid);
    Protos__PutState p = PROTOS__PUT_STATE__INIT;
    p.key = (char *)"";
    p.collection = (char *)"";
    p.value.data = (uint8_t *)kb;
    p.value.len = strlen(kb);
    uint8_t b[256];
    size_t l = protos__put_state__pack(&p, b);
    /* field key (1) is written by hand: protobuf-c stops at the NUL */
    uint8_t full[300];
    size_t fl = 0;
    full[fl++] = 0x0a;
    full[fl++] = (uint8_t)(sizeof(key) - 1);
    memcpy(full + fl, key, sizeof(key) - 1);
    fl += sizeof(key) - 1;
    memcpy(full + fl, b, l);
    fl += l;
    (void)send_msg(f->stream, PROTOS__CHAINCODE_MESSAGE__TYPE__PUT_STATE, m->txid, m->channel_id,
                   full, fl);
}

static void on_reply(struct fake *f, Protos__ChaincodeMessage *m)
{
    if (strcmp(m->txid, "no-such-tx") == 0) {
        pthread_mutex_lock(&f->mu);
        f->bogus_reply = m->type;
        snprintf(f->bogus_msg, sizeof(f->bogus_msg), "%.*s", (int)m->payload.len,
                 (const char *)m->payload.data);
        pthread_mutex_unlock(&f->mu);
        return;
    }
    struct fake_tx *t = fake_tx(f, m->txid, false);
    assert_non_null(t);
    size_t n = strlen(t->seen);
    if (n + 1 < sizeof(t->seen)) {
        t->seen[n] = m->type == PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE ? 'R' : 'E';
        t->seen[n + 1] = 0;
    }
    if (t->step == 0) {
        t->step = 1;
        send_get(f->stream, "absent", t->txid, t->channel);
        return;
    }
    /* the GET_STATE answer: an absent key reads empty */
    if (m->payload.len != 0) {
        t->seen[0] = '!';
    }
    t->step = 2;
    (void)send_msg(f->stream, PROTOS__CHAINCODE_MESSAGE__TYPE__KEEPALIVE, "", "", NULL, 0);
    Protos__Response r = PROTOS__RESPONSE__INIT;
    r.status = 200;
    r.payload.data = (uint8_t *)t->seen;
    r.payload.len = strlen(t->seen);
    uint8_t rb[64];
    size_t rl = protos__response__pack(&r, rb);
    char txid[64], ch[64];
    snprintf(txid, sizeof(txid), "%s", t->txid);
    snprintf(ch, sizeof(ch), "%s", t->channel);
    t->txid[0] = 0; /* slot free again */
    (void)send_msg(f->stream, PROTOS__CHAINCODE_MESSAGE__TYPE__COMPLETED, txid, ch, rb, rl);
}

static void report(struct fake *f, int outcome)
{
    pthread_mutex_lock(&f->mu);
    f->outcome = outcome;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    struct weft_err e = {0};
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", f->port);
    f->client = weft_rpc_client_new(target, NULL, &e);
    assert_non_null(f->client);
    f->stream = weft_rpc_client_stream(f->client, "/protos.ChaincodeSupport/Register", 60000, &e);
    assert_non_null(f->stream);
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)CCID;
    uint8_t idb[128];
    size_t idl = protos__chaincode_id__pack(&cid, idb);
    assert_int_equal(send_msg(f->stream, PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTER, "", "", idb,
                              idl),
                     0);
    int n_hello = 0;
    for (;;) {
        uint8_t *b = NULL;
        size_t n = 0;
        if (weft_rpc_stream_recv(f->stream, &b, &n, 20000) != 0 || b == NULL) {
            break;
        }
        Protos__ChaincodeMessage *m = protos__chaincode_message__unpack(NULL, n, b);
        weft_free(b);
        assert_non_null(m);
        switch (m->type) {
        case PROTOS__CHAINCODE_MESSAGE__TYPE__REGISTERED:
        case PROTOS__CHAINCODE_MESSAGE__TYPE__READY:
            if (++n_hello == 2) {
                report(f, 1);
            }
            break;
        case PROTOS__CHAINCODE_MESSAGE__TYPE__TRANSACTION:
            /* the signed proposal rides along whole */
            assert_non_null(m->proposal);
            assert_int_equal(m->proposal->signature.len, 3);
            assert_memory_equal(m->proposal->signature.data, "sig", 3);
            on_transaction(f, m);
            break;
        case PROTOS__CHAINCODE_MESSAGE__TYPE__RESPONSE:
        case PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR:
            on_reply(f, m);
            break;
        default:
            break;
        }
        protos__chaincode_message__free_unpacked(m, NULL);
    }
    const char *sm = "";
    f->end_code = -1;
    if (weft_rpc_stream_status(f->stream, 10000, &f->end_code, &sm) != 0) {
        f->end_code = -1;
    }
    snprintf(f->end_msg, sizeof(f->end_msg), "%s", sm != NULL ? sm : "");
    if (n_hello < 2) {
        report(f, -1);
    }
    return NULL;
}

static int fake_launch(void *ctx, struct weft_cc_support *s, const char *ccid,
                       struct weft_err *err)
{
    (void)s;
    (void)ccid;
    struct fake *f = ctx;
    f->outcome = 0;
    f->launched = true;
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
    pthread_mutex_lock(&f->mu);
    while (f->outcome == 0) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    int o = f->outcome;
    pthread_mutex_unlock(&f->mu);
    return o > 0 ? 0 : weft_err_set(err, WEFT_EPERM, "fake chaincode refused");
}

/* Waits for the fake's stream to end by itself (bounded), then frees it. */
static void fake_join(struct fake *f, bool cancel)
{
    if (!f->launched) {
        return;
    }
    f->launched = false;
    if (cancel) {
        weft_rpc_stream_cancel(f->stream);
    }
    pthread_join(f->th, NULL);
    weft_rpc_stream_free(f->stream);
    weft_rpc_client_free(f->client);
    f->stream = NULL;
    f->client = NULL;
}

static void wait_gone(struct weft_cc_support *s)
{
    uint64_t until = weft_clock_mono_ns() + 10000000000ull;
    while (weft_cc_support_connected(s, CCID) && weft_clock_mono_ns() < until) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    assert_false(weft_cc_support_connected(s, CCID));
}

struct env {
    struct weft_rpc_server *srv;
    struct weft_cc_store *store;
    struct weft_cc_support *s;
    struct weft_ledger *ledger;
    struct fake f;
    char *dir;
};

static void env_new_t(struct env *v, int64_t execute_timeout_ms)
{
    struct weft_err e = {0};
    memset(v, 0, sizeof(*v));
    v->dir = wt_tmpdir("ccstream");
    struct weft_rpc_server_opts so = {0};
    so.listen[0] = "127.0.0.1:0";
    so.cq_threads = 2;
    so.workers = 2;
    v->srv = weft_rpc_server_new(&so, &e);
    assert_non_null(v->srv);
    char sd[512];
    snprintf(sd, sizeof(sd), "%s/store", v->dir);
    assert_int_equal(weft_cc_store_open(sd, &v->store, &e), 0);
    v->f.port = weft_rpc_server_port(v->srv, 0);
    pthread_mutex_init(&v->f.mu, NULL);
    pthread_cond_init(&v->f.cv, NULL);
    static struct weft_cc_launcher l = {.launch = fake_launch};
    l.ctx = &v->f;
    struct weft_cc_support_opts co = {.store = v->store,
                                      .launcher = &l,
                                      .execute_timeout_ms = execute_timeout_ms};
    assert_int_equal(weft_cc_support_new(&co, &v->s, &e), 0);
    assert_int_equal(weft_cc_support_register_service(v->s, v->srv, &e), 0);
    assert_int_equal(weft_rpc_server_start(v->srv, &e), 0);
    struct weft_ledger_options lo;
    weft_ledger_options_init(&lo);
    lo.root = v->dir;
    lo.channel = "ch";
    lo.no_sync = true;
    assert_int_equal(weft_ledger_open(&v->ledger, &lo, &e), 0);
}

static void env_new(struct env *v)
{
    env_new_t(v, 30000);
}

static void env_free(struct env *v)
{
    weft_rpc_server_stop(v->srv, 500);
    weft_cc_support_free(v->s);
    weft_rpc_server_free(v->srv);
    fake_join(&v->f, true);
    weft_cc_store_free(v->store);
    weft_ledger_close(v->ledger);
    pthread_mutex_destroy(&v->f.mu);
    pthread_cond_destroy(&v->f.cv);
    wt_rmtree(v->dir);
    weft_free(v->dir);
}

struct run {
    struct env *v;
    char txid[32];
    int rc;
    struct weft_err e;
    struct weft_cc_result res;
    bool wrote; /* the rwset holds the write */
    uint64_t ms;
};

static const uint8_t signed_prop[] = {0x0a, 0x01, 'p', 0x12, 0x03, 's', 'i', 'g'};

static void *run_tx(void *arg)
{
    struct run *r = arg;
    struct weft_ledger_sim *sim = NULL;
    assert_int_equal(weft_ledger_sim_new(r->v->ledger, r->txid, &sim, &r->e), 0);
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    uint8_t ib[16];
    size_t il = protos__chaincode_input__pack(&in, ib);
    struct weft_cc_invocation inv = {.ccid = CCID,
                                     .ns = "fake",
                                     .channel = "ch",
                                     .txid = r->txid,
                                     .sim = sim,
                                     .signed_proposal = signed_prop,
                                     .signed_proposal_len = sizeof(signed_prop),
                                     .input = ib,
                                     .input_len = il};
    uint64_t t0 = weft_clock_mono_ns();
    r->rc = weft_cc_support_execute(r->v->s, &inv, &r->res, &r->e);
    r->ms = (weft_clock_mono_ns() - t0) / 1000000u;
    uint8_t *rw = NULL;
    size_t rwl = 0;
    struct weft_err e = {0};
    if (r->rc == 0 && weft_ledger_sim_rwset(sim, &rw, &rwl, &e) == 0) {
        /* the key with its NUL and the value (the txid) */
        r->wrote = memmem(rw, rwl, "k\0x", 3) != NULL &&
                   memmem(rw, rwl, r->txid, strlen(r->txid)) != NULL;
    }
    weft_free(rw);
    weft_ledger_sim_free(sim);
    return NULL;
}

static void test_transactions(void **state)
{
    (void)state;
    struct env v;
    env_new(&v);
    v.f.mode = NORMAL;
    enum { N = 8 };
    struct run runs[N];
    pthread_t th[N];
    /* rounds of N transactions in flight on the one stream */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            memset(&runs[i], 0, sizeof(runs[i]));
            runs[i].v = &v;
            snprintf(runs[i].txid, sizeof(runs[i].txid), "tx-%d-%d", round, i);
            assert_int_equal(pthread_create(&th[i], NULL, run_tx, &runs[i]), 0);
        }
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(runs[i].rc, 0);
            assert_int_equal(runs[i].res.status, 200);
            /* PUT_STATE and GET_STATE each answered RESPONSE, the read empty */
            assert_int_equal(runs[i].res.payload_len, 2);
            assert_memory_equal(runs[i].res.payload, "RR", 2);
            assert_true(runs[i].wrote);
            weft_cc_result_clear(&runs[i].res);
        }
    }
    /* a request naming no live transaction is answered ERROR */
    pthread_mutex_lock(&v.f.mu);
    int bogus_reply = v.f.bogus_reply;
    char bogus_msg[sizeof(v.f.bogus_msg)];
    memcpy(bogus_msg, v.f.bogus_msg, sizeof(bogus_msg));
    pthread_mutex_unlock(&v.f.mu);
    assert_int_equal(bogus_reply, PROTOS__CHAINCODE_MESSAGE__TYPE__ERROR);
    assert_non_null(strstr(bogus_msg, "no ledger context"));
    assert_non_null(strstr(bogus_msg, "no-such-tx"));
    assert_true(weft_cc_support_connected(v.s, CCID));

    /* the support stops the chaincode: its stream ends with UNAVAILABLE */
    weft_cc_support_stop(v.s, CCID);
    fake_join(&v.f, false);
    assert_int_equal(v.f.end_code, WEFT_RPC_UNAVAILABLE);
    assert_non_null(strstr(v.f.end_msg, "stopped"));
    wait_gone(v.s);

    /* and a new instance registers and works again */
    memset(&runs[0], 0, sizeof(runs[0]));
    runs[0].v = &v;
    snprintf(runs[0].txid, sizeof(runs[0].txid), "tx-again");
    run_tx(&runs[0]);
    assert_int_equal(runs[0].rc, 0);
    assert_memory_equal(runs[0].res.payload, "RR", 2);
    weft_cc_result_clear(&runs[0].res);
    env_free(&v);
}

static void test_chaincode_dies(void **state)
{
    (void)state;
    struct env v;
    env_new(&v);
    for (int mode = DIE; mode <= GARBAGE; mode++) {
        v.f.mode = (enum mode)mode;
        struct run r = {.v = &v};
        snprintf(r.txid, sizeof(r.txid), "tx-dies-%d", mode);
        run_tx(&r);
        /* at once, not after the 30 s execute timeout */
        assert_int_equal(r.rc, WEFT_EUNAVAILABLE);
        assert_non_null(strstr(r.e.msg, "chaincode stream terminated"));
        assert_true(r.ms < 5000);
        fake_join(&v.f, false);
        if (mode == GARBAGE) {
            /* the peer closed the stream itself */
            assert_int_equal(v.f.end_code, WEFT_RPC_OK);
        }
        wait_gone(v.s);
    }
    env_free(&v);
}

/* A stream that never registers does not keep the support from being freed
 * (with the rpc server still up): it is ended with UNAVAILABLE. */
static void test_free_before_register(void **state)
{
    (void)state;
    struct env v;
    env_new(&v);
    struct weft_err e = {0};
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", v.f.port);
    struct weft_rpc_client *c = weft_rpc_client_new(target, NULL, &e);
    assert_non_null(c);
    struct weft_rpc_stream *st =
        weft_rpc_client_stream(c, "/protos.ChaincodeSupport/Register", 20000, &e);
    assert_non_null(st);
    /* nothing sent: wait until the peer holds the stream */
    struct weft_rpc_server_stats ss;
    uint64_t until = weft_clock_mono_ns() + 10000000000ull;
    do {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        weft_rpc_server_stats(v.srv, &ss);
    } while (ss.live == 0 && weft_clock_mono_ns() < until);
    assert_int_equal(ss.live, 1);
    weft_cc_support_free(v.s);
    v.s = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = weft_rpc_stream_recv(st, &b, &n, 10000);
    assert_true(rc != 0 || b == NULL);
    weft_free(b);
    int code = -1;
    const char *sm = NULL;
    assert_int_equal(weft_rpc_stream_status(st, 10000, &code, &sm), 0);
    assert_int_equal(code, WEFT_RPC_UNAVAILABLE);
    weft_rpc_stream_free(st);
    weft_rpc_client_free(c);
    env_free(&v);
}

/* ---- asynchronous execution --------------------------------------------------- */

struct arun {
    struct env *v;
    char txid[32];
    struct weft_ledger_sim *sim;
    uint8_t ib[16];
    struct weft_cc_invocation inv;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls; /* completions seen (must end at exactly 1) */
    pthread_t thread; /* the one the completion ran on */
    int rc;
    char msg[WEFT_ERR_MSG_LEN];
    struct weft_cc_result res;
    uint64_t t0, ms;
};

static void arun_done(void *ctx, int rc, struct weft_cc_result *res, struct weft_err *err)
{
    struct arun *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->calls++;
    a->thread = pthread_self();
    a->rc = rc;
    a->ms = (weft_clock_mono_ns() - a->t0) / 1000000u;
    snprintf(a->msg, sizeof(a->msg), "%s", rc != 0 ? err->msg : "");
    a->res = *res; /* taken */
    memset(res, 0, sizeof(*res));
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static int arun_start(struct arun *a, struct env *v, const char *txid)
{
    memset(a, 0, sizeof(*a));
    a->v = v;
    snprintf(a->txid, sizeof(a->txid), "%s", txid);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    struct weft_err e = {0};
    assert_int_equal(weft_ledger_sim_new(v->ledger, a->txid, &a->sim, &e), 0);
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    size_t il = protos__chaincode_input__pack(&in, a->ib);
    a->inv = (struct weft_cc_invocation){.ccid = CCID,
                                         .ns = "fake",
                                         .channel = "ch",
                                         .txid = a->txid,
                                         .sim = a->sim,
                                         .signed_proposal = signed_prop,
                                         .signed_proposal_len = sizeof(signed_prop),
                                         .input = a->ib,
                                         .input_len = il};
    a->t0 = weft_clock_mono_ns();
    return weft_cc_support_execute_async(v->s, &a->inv, arun_done, a, &e);
}

/* Waits (bounded) for the completion; then a short while for a wrong
 * second one. */
static void arun_wait(struct arun *a, int64_t limit_ms)
{
    uint64_t until = weft_clock_mono_ns() + (uint64_t)limit_ms * 1000000u;
    pthread_mutex_lock(&a->mu);
    while (a->calls == 0 && weft_clock_mono_ns() < until) {
        pthread_mutex_unlock(&a->mu);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&a->mu);
    assert_int_equal(a->calls, 1);
    pthread_mutex_unlock(&a->mu);
}

static void arun_free(struct arun *a)
{
    weft_cc_result_clear(&a->res);
    weft_ledger_sim_free(a->sim);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

/* execute_async returns at once (also when the chaincode must be launched
 * first, on the support's pool) and the completion runs later, on another
 * thread, with the result; many in flight on one stream. */
static void test_async_complete(void **state)
{
    (void)state;
    struct env v;
    env_new(&v);
    v.f.mode = SLOW; /* each answer 300 ms late */
    enum { N = 4 };
    struct arun a[N];
    /* not connected yet: launched on the pool */
    uint64_t t0 = weft_clock_mono_ns();
    assert_int_equal(arun_start(&a[0], &v, "atx-0"), 0);
    assert_true((weft_clock_mono_ns() - t0) / 1000000u < 200);
    arun_wait(&a[0], 10000);
    assert_int_equal(a[0].rc, 0);
    assert_int_equal(a[0].res.status, 200);
    assert_memory_equal(a[0].res.payload, "RR", 2);
    assert_false(pthread_equal(a[0].thread, pthread_self()));
    assert_true(a[0].ms >= 300);
    arun_free(&a[0]);
    /* connected: started right here, answered later */
    t0 = weft_clock_mono_ns();
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "atx-%d", i + 1);
        assert_int_equal(arun_start(&a[i], &v, id), 0);
    }
    assert_true((weft_clock_mono_ns() - t0) / 1000000u < 250);
    /* the same txid again while in flight: refused, no completion */
    struct arun dup;
    assert_int_equal(arun_start(&dup, &v, "atx-1"), WEFT_ESTATE);
    for (int i = 0; i < N; i++) {
        arun_wait(&a[i], 10000);
        assert_int_equal(a[i].rc, 0);
        assert_memory_equal(a[i].res.payload, "RR", 2);
        assert_false(pthread_equal(a[i].thread, pthread_self()));
        arun_free(&a[i]);
    }
    assert_int_equal(dup.calls, 0);
    arun_free(&dup);
    env_free(&v);
}

/* A chaincode that never answers fails the transaction after the execute
 * timeout with the synchronous execute's text, async and sync alike. */
static void test_async_timeout(void **state)
{
    (void)state;
    struct env v;
    env_new_t(&v, 1000);
    v.f.mode = SILENT;
    struct arun a, b;
    assert_int_equal(arun_start(&a, &v, "slow-0"), 0);
    assert_int_equal(arun_start(&b, &v, "slow-1"), 0);
    arun_wait(&a, 10000);
    arun_wait(&b, 10000);
    assert_int_equal(a.rc, WEFT_ETIMEDOUT);
    assert_string_equal(a.msg, "timeout expired while executing transaction");
    assert_true(a.ms >= 990 && a.ms < 5000);
    assert_int_equal(b.rc, WEFT_ETIMEDOUT);
    arun_free(&a);
    arun_free(&b);
    struct run r = {.v = &v};
    snprintf(r.txid, sizeof(r.txid), "slow-sync");
    run_tx(&r);
    assert_int_equal(r.rc, WEFT_ETIMEDOUT);
    assert_string_equal(r.e.msg, "timeout expired while executing transaction");
    assert_true(r.ms >= 990 && r.ms < 5000);
    /* the stream stays usable */
    assert_true(weft_cc_support_connected(v.s, CCID));
    env_free(&v);
}

/* The stream dies with transactions in flight: each completes at once
 * with "chaincode stream terminated"; stopping the support's chaincode
 * does the same for silent ones. */
static void test_async_stream_dies(void **state)
{
    (void)state;
    struct env v;
    env_new(&v);
    /* connected first, so that both start on the stream right away */
    struct run r = {.v = &v};
    snprintf(r.txid, sizeof(r.txid), "d-first");
    run_tx(&r);
    assert_int_equal(r.rc, 0);
    weft_cc_result_clear(&r.res);
    v.f.mode = SILENT;
    struct arun a, b;
    assert_int_equal(arun_start(&a, &v, "d-0"), 0);
    assert_int_equal(arun_start(&b, &v, "d-1"), 0);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&a.mu);
    assert_int_equal(a.calls, 0); /* still waiting for the chaincode */
    pthread_mutex_unlock(&a.mu);
    weft_cc_support_stop(v.s, CCID);
    arun_wait(&a, 5000);
    arun_wait(&b, 5000);
    assert_int_equal(a.rc, WEFT_EUNAVAILABLE);
    assert_string_equal(a.msg, "chaincode stream terminated");
    assert_int_equal(b.rc, WEFT_EUNAVAILABLE);
    assert_true(a.ms < 5000);
    arun_free(&a);
    arun_free(&b);
    fake_join(&v.f, false);
    wait_gone(v.s);
    /* the process dies mid-transaction (relaunched on the pool first) */
    v.f.mode = DIE;
    assert_int_equal(arun_start(&a, &v, "d-2"), 0);
    arun_wait(&a, 10000);
    assert_int_equal(a.rc, WEFT_EUNAVAILABLE);
    assert_string_equal(a.msg, "chaincode stream terminated");
    arun_free(&a);
    fake_join(&v.f, false);
    env_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_chaincode_dies),
        cmocka_unit_test(test_free_before_register),
        cmocka_unit_test(test_async_complete),
        cmocka_unit_test(test_async_timeout),
        cmocka_unit_test(test_async_stream_dies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
