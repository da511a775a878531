/* Unit tests for src/rpc: the C client against the C server on loopback,
 * plaintext, TLS and mutual TLS (throw-away certificates from gen-certs.sh). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testlib.h"
#include "weft/base.h"
#include "weft/log.h"
#include "weft/rpc.h"

static char *certdir;

static char *cert_path(const char *name)
{
    return weft_asprintf("%s/%s", certdir, name);
}

/* ---- test service ---------------------------------------------------------------- */

struct svc {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int stream_cancelled;   /* streaming handlers that saw cancellation */
    int handlers_done;
    int wait_cancelled;     /* /t.T/Wait saw its cancellation callback */
    int slow_done;          /* /t.T/Slow returned */
    int async_done;         /* weft_rpc_client_unary_async completions */
    char *last_pem;         /* caller certificate seen by /t.T/Who */
    uint8_t last_hash[32];
    int last_hash_rc;
};

static struct svc svc;

static void svc_note(int *field)
{
    pthread_mutex_lock(&svc.lock);
    (*field)++;
    pthread_cond_broadcast(&svc.cv);
    pthread_mutex_unlock(&svc.lock);
}

/* Waits until *field >= n, at most ms. */
static int svc_wait(int *field, int n, int ms)
{
    uint64_t end = weft_clock_mono_ns() + (uint64_t)ms * 1000000u;
    pthread_mutex_lock(&svc.lock);
    while (*field < n && weft_clock_mono_ns() < end) {
        pthread_mutex_unlock(&svc.lock);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&svc.lock);
    }
    int v = *field;
    pthread_mutex_unlock(&svc.lock);
    return v;
}

static int h_echo(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                  struct weft_buf *resp)
{
    (void)ctx;
    if (len == 4 && memcmp(req, "fail", 4) == 0) {
        weft_rpc_call_set_message(call, "asked to fail");
        return WEFT_RPC_INVALID_ARGUMENT;
    }
    return weft_buf_append(resp, req, len) == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

/* The handler writes svc under its lock on a server thread; the reply that
 * reached us orders that before our reads, but through a socket, which
 * ThreadSanitizer does not follow: take the lock once to make it visible. */
static void svc_sync(void)
{
    pthread_mutex_lock(&svc.lock);
    pthread_mutex_unlock(&svc.lock);
}

static int h_who(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                 struct weft_buf *resp)
{
    (void)ctx;
    (void)req;
    (void)len;
    size_t plen = 0;
    const char *pem = weft_rpc_call_tls_cert_pem(call, &plen);
    pthread_mutex_lock(&svc.lock);
    weft_free(svc.last_pem);
    svc.last_pem = pem ? weft_strndup(pem, plen) : NULL;
    svc.last_hash_rc = weft_rpc_call_tls_cert_hash(call, svc.last_hash);
    pthread_mutex_unlock(&svc.lock);
    /* clients in these tests use a 10 s default deadline */
    uint64_t dl = weft_rpc_call_deadline_ns(call), now = weft_clock_mono_ns();
    assert_true(dl > now && dl - now <= 10500000000ull);
    assert_string_equal(weft_rpc_call_method(call), "/t.T/Who");
    const char *peer = weft_rpc_call_peer(call);
    return weft_buf_append(resp, peer, strlen(peer)) == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool fired;
};

static void waiter_fire(void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->fired = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->lock);
}

/* Blocks until the call is cancelled (deadline), at most 10 s. */
static int h_wait(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                  struct weft_buf *resp)
{
    (void)ctx;
    (void)req;
    (void)len;
    (void)resp;
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    weft_rpc_call_on_cancel(call, waiter_fire, &w);
    uint64_t end = weft_clock_mono_ns() + 10000000000ull;
    pthread_mutex_lock(&w.lock);
    while (!w.fired && weft_clock_mono_ns() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w.cv, &w.lock, &ts);
    }
    bool fired = w.fired;
    pthread_mutex_unlock(&w.lock);
    weft_rpc_call_on_cancel(call, NULL, NULL);
    if (fired) {
        assert_true(weft_rpc_call_is_cancelled(call));
        svc_note(&svc.wait_cancelled);
    }
    return WEFT_RPC_OK;
}

/* Deferred unary replies: "hang" waits for cancellation and answers then;
 * anything else is answered "later:<req>" from another thread. */
struct later {
    struct weft_rpc_call *call;
    char req[32];
};

static int later_replied;

static void *later_thread(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    char out[48];
    int n = snprintf(out, sizeof(out), "later:%s", l->req);
    if (strcmp(l->req, "fail") == 0) {
        weft_rpc_call_set_message(l->call, "failed later");
        assert_int_equal(weft_rpc_call_reply(l->call, WEFT_RPC_ABORTED, NULL, 0), 0);
    } else {
        assert_int_equal(weft_rpc_call_reply(l->call, WEFT_RPC_OK, out, (size_t)n), 0);
    }
    svc_note(&later_replied);
    weft_free(l);
    return NULL;
}

static void later_cancelled(void *arg)
{
    /* runs on a server thread: answer now (nothing reaches the client) */
    weft_rpc_call_set_message(arg, "gave up");
    assert_int_equal(weft_rpc_call_reply(arg, WEFT_RPC_CANCELLED, NULL, 0), 0);
    svc_note(&later_replied);
}

static int h_later(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                   struct weft_buf *resp)
{
    (void)ctx;
    (void)resp;
    if (len == 4 && memcmp(req, "hang", 4) == 0) {
        weft_rpc_call_on_cancel(call, later_cancelled, call);
        return WEFT_RPC_DEFERRED;
    }
    struct later *l = weft_calloc(1, sizeof(*l));
    assert_non_null(l);
    l->call = call;
    snprintf(l->req, sizeof(l->req), "%.*s", (int)len, (const char *)req);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, later_thread, l), 0);
    pthread_detach(th);
    return WEFT_RPC_DEFERRED;
}

/* Sleeps 400 ms without ever asking about cancellation (its unary reply
 * batch then carries RECV_CLOSE_ON_SERVER), then echoes. */
static int h_slow(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                  struct weft_buf *resp)
{
    (void)ctx;
    (void)call;
    struct timespec ts = {0, 400000000};
    nanosleep(&ts, NULL);
    svc_note(&svc.slow_done);
    return weft_buf_append(resp, req, len) == 0 ? WEFT_RPC_OK : WEFT_RPC_INTERNAL;
}

/* Server streaming: the request is a decimal count (or "inf"). */
static void h_count(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    size_t len;
    const uint8_t *req = weft_rpc_call_request(call, &len);
    char buf[32];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, (const char *)req);
    long n = strcmp(buf, "inf") == 0 ? -1 : strtol(buf, NULL, 10);
    for (long i = 0; n < 0 || i < n; i++) {
        char msg[32];
        int ml = snprintf(msg, sizeof(msg), "msg-%ld", i);
        int rc = weft_rpc_call_send(call, msg, (size_t)ml);
        if (rc != 0) {
            assert_true(rc == WEFT_ECANCELED || rc == WEFT_ESHUTDOWN);
            svc_note(&svc.stream_cancelled);
            svc_note(&svc.handlers_done);
            return;
        }
    }
    (void)weft_rpc_call_finish(call, WEFT_RPC_OK, NULL);
    svc_note(&svc.handlers_done);
}

/* Client streaming: replies with "<count>:<total bytes>". */
static void h_sum(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    size_t count = 0, total = 0;
    for (;;) {
        uint8_t *msg;
        size_t len;
        int rc = weft_rpc_call_recv(call, &msg, &len, -1);
        if (rc != 0) {
            svc_note(&svc.stream_cancelled);
            return;
        }
        if (msg == NULL) {
            break;
        }
        count++;
        total += len;
        weft_free(msg);
    }
    char out[64];
    int n = snprintf(out, sizeof(out), "%zu:%zu", count, total);
    assert_int_equal(weft_rpc_call_send(call, out, (size_t)n), 0);
    assert_int_equal(weft_rpc_call_finish(call, WEFT_RPC_OK, "summed"), 0);
}

/* Bidi echo until the client half-closes. */
static void h_bidi(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    for (;;) {
        uint8_t *msg;
        size_t len;
        int rc = weft_rpc_call_recv(call, &msg, &len, -1);
        if (rc != 0) {
            svc_note(&svc.stream_cancelled);
            svc_note(&svc.handlers_done);
            return;
        }
        if (msg == NULL) {
            break;
        }
        rc = weft_rpc_call_send_owned(call, msg, len);
        if (rc != 0) {
            svc_note(&svc.stream_cancelled);
            svc_note(&svc.handlers_done);
            return;
        }
    }
    (void)weft_rpc_call_finish(call, WEFT_RPC_OK, NULL);
    svc_note(&svc.handlers_done);
}

/* Event-driven bidi echo: "pause" pauses receipt (the test resumes it),
 * and at a half-close the handler replies "bye:<messages seen>". */
struct cb_stream {
    struct weft_rpc_call *call;
    int seen;
};

static struct {
    pthread_mutex_t lock;
    struct weft_rpc_call *paused; /* the call that asked to pause */
    int opened, ended, ended_cancelled, msgs_after_end;
} cbs_seen;

static void *cb_open(void *ctx, struct weft_rpc_call *call)
{
    (void)ctx;
    struct cb_stream *st = weft_calloc(1, sizeof(*st));
    if (st != NULL) {
        st->call = call;
        pthread_mutex_lock(&cbs_seen.lock);
        cbs_seen.opened++;
        pthread_mutex_unlock(&cbs_seen.lock);
    }
    return st;
}

static void cb_message(void *state, struct weft_rpc_call *call, uint8_t *msg, size_t len)
{
    struct cb_stream *st = state;
    st->seen++;
    if (len == 5 && memcmp(msg, "pause", 5) == 0) {
        weft_rpc_call_pause_recv(call);
        pthread_mutex_lock(&cbs_seen.lock);
        cbs_seen.paused = call;
        pthread_mutex_unlock(&cbs_seen.lock);
    }
    int rc = weft_rpc_call_send_owned(call, msg, len);
    assert_true(rc == 0 || rc == WEFT_ECANCELED || rc == WEFT_ESHUTDOWN);
}

static void cb_end(void *state, struct weft_rpc_call *call, bool cancelled)
{
    struct cb_stream *st = state;
    if (!cancelled) {
        char out[32];
        int n = snprintf(out, sizeof(out), "bye:%d", st->seen);
        assert_int_equal(weft_rpc_call_send(call, out, (size_t)n), 0);
    }
    pthread_mutex_lock(&cbs_seen.lock);
    cbs_seen.ended++;
    cbs_seen.ended_cancelled += cancelled;
    if (cbs_seen.paused == call) {
        cbs_seen.paused = NULL;
    }
    pthread_mutex_unlock(&cbs_seen.lock);
    weft_free(st);
    weft_rpc_call_done(call);
}

static const struct weft_rpc_stream_cbs cb_echo = {cb_open, cb_message, cb_end};

static int cbs_count(int *field)
{
    pthread_mutex_lock(&cbs_seen.lock);
    int v = *field;
    pthread_mutex_unlock(&cbs_seen.lock);
    return v;
}

static int cbs_wait(int *field, int n, int ms)
{
    uint64_t end = weft_clock_mono_ns() + (uint64_t)ms * 1000000u;
    while (cbs_count(field) < n && weft_clock_mono_ns() < end) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return cbs_count(field);
}

struct tls_files {
    enum weft_rpc_tls_mode mode;
};

static struct weft_rpc_server *start_server_opts(struct weft_rpc_server_opts *o)
{
    struct weft_err err = {0};
    struct weft_rpc_server *srv = weft_rpc_server_new(o, &err);
    if (srv == NULL) {
        fail_msg("server_new: %s", err.msg);
    }
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Echo", h_echo, NULL), 0);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Who", h_who, NULL), 0);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Wait", h_wait, NULL), 0);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Slow", h_slow, NULL), 0);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Later", h_later, NULL), 0);
    assert_int_equal(weft_rpc_server_add_unary_flags(srv, "/t.T/Bad", h_echo, NULL, 0x80),
                     WEFT_EINVAL);
    assert_int_equal(weft_rpc_server_add_unary_flags(srv, "/t.T/Inline", h_echo, NULL,
                                                     WEFT_RPC_INLINE), 0);
    assert_int_equal(weft_rpc_server_add_stream(srv, "/t.T/Count", WEFT_RPC_SERVER_STREAMING,
                                                h_count, NULL), 0);
    assert_int_equal(weft_rpc_server_add_stream(srv, "/t.T/Sum", WEFT_RPC_CLIENT_STREAMING,
                                                h_sum, NULL), 0);
    assert_int_equal(weft_rpc_server_add_stream(srv, "/t.T/Bidi", WEFT_RPC_BIDI_STREAMING,
                                                h_bidi, NULL), 0);
    assert_int_equal(weft_rpc_server_add_stream_cb(srv, "/t.T/CbEcho", WEFT_RPC_BIDI_STREAMING,
                                                   &cb_echo, NULL), 0);
    assert_int_equal(weft_rpc_server_add_stream_cb(srv, "/t.T/CbBad", WEFT_RPC_SERVER_STREAMING,
                                                   &cb_echo, NULL), WEFT_EINVAL);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Echo", h_echo, NULL), WEFT_EEXIST);
    assert_int_equal(weft_rpc_server_start(srv, &err), 0);
    assert_int_equal(weft_rpc_server_add_unary(srv, "/t.T/Late", h_echo, NULL), WEFT_ESTATE);
    return srv;
}

static char *srv_cert, *srv_key, *ca_crt, *cli_cert, *cli_key, *evil_cert, *evil_key;

static struct weft_rpc_server *start_server(enum weft_rpc_tls_mode mode, size_t max_recv)
{
    struct weft_rpc_server_opts o = {.listen = {"127.0.0.1:0"},
                                     .tls = mode,
                                     .cert = {.file = srv_cert},
                                     .key = {.file = srv_key},
                                     .client_ca = {.file = ca_crt},
                                     .max_recv_msg = max_recv,
                                     .cq_threads = 2,
                                     .workers = 16,
                                     .health = true};
    return start_server_opts(&o);
}

static struct weft_rpc_client *client_for(struct weft_rpc_server *srv, bool tls, const char *cert,
                                          const char *key)
{
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    struct weft_rpc_client_opts o = {.tls = tls,
                                     .ca = {.file = ca_crt},
                                     .cert = {.file = cert},
                                     .key = {.file = key},
                                     .timeout_ms = 10000};
    struct weft_err err = {0};
    struct weft_rpc_client *c = weft_rpc_client_new(target, &o, &err);
    if (c == NULL) {
        fail_msg("client_new: %s", err.msg);
    }
    return c;
}

/* ---- tests --------------------------------------------------------------------------- */

static void check_unary_echo(struct weft_rpc_client *c)
{
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "hello", 5, 0, &r), 0);
    assert_int_equal(r.code, WEFT_RPC_OK);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "hello", 5);
    /* empty request and response */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", NULL, 0, 0, &r), 0);
    assert_int_equal(r.len, 0);
    assert_non_null(r.data);
    /* an error status with its message */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "fail", 4, 0, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_INVALID_ARGUMENT);
    assert_string_equal(r.message, "asked to fail");
    assert_null(r.data);
    weft_rpc_result_clear(&r);
}

static void test_unary_plain(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    assert_true(weft_rpc_server_port(srv, 0) > 0);
    assert_int_equal(weft_rpc_server_port(srv, 1), -1);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    assert_int_equal(weft_rpc_client_wait_ready(c, 5000), 0);
    check_unary_echo(c);
    /* 1 MiB round trip */
    size_t big = 1u << 20;
    uint8_t *buf = weft_malloc(big);
    for (size_t i = 0; i < big; i++) {
        buf[i] = (uint8_t)(i * 7);
    }
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", buf, big, 0, &r), 0);
    assert_int_equal(r.len, big);
    assert_memory_equal(r.data, buf, big);
    weft_rpc_result_clear(&r);
    weft_free(buf);
    /* plaintext: no certificate, peer address known */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Who", "", 0, 0, &r), 0);
    assert_true(r.len > 0 && strstr((char *)r.data, "127.0.0.1") != NULL);
    svc_sync();
    assert_null(svc.last_pem);
    assert_int_equal(svc.last_hash_rc, WEFT_ENOTFOUND);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_unimplemented_and_health(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Nope", "x", 1, 2000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_UNIMPLEMENTED);
    /* streams to unknown methods end the same way */
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/x.Y/Z", 2000, NULL);
    assert_non_null(s);
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 2000), 0);
    assert_null(msg);
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_status(s, 2000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_UNIMPLEMENTED);
    weft_rpc_stream_free(s);

    assert_int_equal(weft_rpc_client_unary(c, "/grpc.health.v1.Health/Check", "", 0, 0, &r), 0);
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.data, "\x08\x01", 2);
    static const uint8_t known[] = {0x0a, 0x03, 't', '.', 'T'};
    assert_int_equal(
        weft_rpc_client_unary(c, "/grpc.health.v1.Health/Check", known, sizeof(known), 0, &r), 0);
    assert_memory_equal(r.data, "\x08\x01", 2);
    static const uint8_t unknown[] = {0x0a, 0x03, 'n', 'o', 'p'};
    assert_int_equal(weft_rpc_client_unary(c, "/grpc.health.v1.Health/Check", unknown,
                                           sizeof(unknown), 0, &r),
                     WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_NOT_FOUND);
    static const uint8_t bad[] = {0x0a, 0x09, 'n'};
    assert_int_equal(
        weft_rpc_client_unary(c, "/grpc.health.v1.Health/Check", bad, sizeof(bad), 0, &r),
        WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_INVALID_ARGUMENT);
    weft_rpc_result_clear(&r);
    struct weft_rpc_server_stats st;
    weft_rpc_server_stats(srv, &st);
    assert_int_equal(st.unimplemented, 2);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
    assert_string_equal(weft_rpc_code_name(WEFT_RPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    assert_string_equal(weft_rpc_code_name(99), "UNKNOWN_CODE");
}

/* Receives n messages "<prefix>0" .. "<prefix>n-1" in order from s. */
static void expect_numbered(struct weft_rpc_stream *s, const char *prefix, int n, int64_t ms)
{
    for (int i = 0; i < n; i++) {
        uint8_t *msg;
        size_t len;
        assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, ms), 0);
        assert_non_null(msg);
        char want[32];
        snprintf(want, sizeof(want), "%s%d", prefix, i);
        assert_string_equal((char *)msg, want);
        weft_free(msg);
    }
}

static void test_server_streaming(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/Count", 0, NULL);
    assert_non_null(s);
    assert_int_equal(weft_rpc_stream_send(s, "5000", 4), 0);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    assert_int_equal(weft_rpc_stream_send(s, "x", 1), WEFT_ESTATE);
    expect_numbered(s, "msg-", 5000, 5000);
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_null(msg);
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_OK);
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_client_streaming(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/Sum", 0, NULL);
    assert_non_null(s);
    size_t total = 0;
    for (int i = 0; i < 300; i++) {
        char buf[600];
        memset(buf, 'a', sizeof(buf));
        size_t n = (size_t)(i % 500) + 1;
        assert_int_equal(weft_rpc_stream_send(s, buf, n), 0);
        total += n;
    }
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    char want[64];
    snprintf(want, sizeof(want), "300:%zu", total);
    assert_string_equal((char *)msg, want);
    weft_free(msg);
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_OK);
    assert_string_equal(m, "summed");
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

struct burst {
    struct weft_rpc_stream *s;
    int n;
    int failed;
};

static void *burst_sender(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < b->n; i++) {
        char msg[32];
        int ml = snprintf(msg, sizeof(msg), "m%d", i);
        if (weft_rpc_stream_send(b->s, msg, (size_t)ml) != 0) {
            b->failed++;
        }
    }
    if (weft_rpc_stream_close_send(b->s) != 0) {
        b->failed++;
    }
    return NULL;
}

/* A sender thread floods n messages then half-closes, while this thread
 * reads every echo, in order. */
static void echo_burst(struct weft_rpc_stream *s, int n)
{
    struct burst b = {.s = s, .n = n};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, burst_sender, &b), 0);
    expect_numbered(s, "m", n, 10000);
    pthread_join(th, NULL);
    assert_int_equal(b.failed, 0);
}

static void test_bidi(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    /* ping-pong */
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/Bidi", 0, NULL);
    for (int i = 0; i < 100; i++) {
        char out[16];
        int n = snprintf(out, sizeof(out), "p%d", i);
        assert_int_equal(weft_rpc_stream_send(s, out, (size_t)n), 0);
        uint8_t *msg;
        size_t len;
        assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
        assert_string_equal((char *)msg, out);
        weft_free(msg);
    }
    /* a receive that times out keeps its place */
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 50), WEFT_ETIMEDOUT);
    assert_int_equal(weft_rpc_stream_send(s, "late", 4), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_string_equal((char *)msg, "late");
    weft_free(msg);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_null(msg);
    weft_rpc_stream_free(s);

    /* burst: a sender thread floods while this thread reads every echo, in order */
    s = weft_rpc_client_stream(c, "/t.T/Bidi", 0, NULL);
    echo_burst(s, 20000);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_null(msg);
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_OK);
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

/* The server's counters once no call is live (at most 5 s). */
static struct weft_rpc_server_stats wait_no_live_call(struct weft_rpc_server *srv)
{
    struct weft_rpc_server_stats st = {0};
    for (int i = 0; i < 500; i++) {
        weft_rpc_server_stats(srv, &st);
        if (st.live == 0) {
            break;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st.live, 0);
    return st;
}

static struct weft_rpc_call *paused_call(int ms)
{
    uint64_t end = weft_clock_mono_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        pthread_mutex_lock(&cbs_seen.lock);
        struct weft_rpc_call *c = cbs_seen.paused;
        pthread_mutex_unlock(&cbs_seen.lock);
        if (c != NULL || weft_clock_mono_ns() >= end) {
            return c;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static void test_event_driven_stream(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    int opened = cbs_count(&cbs_seen.opened), ended = cbs_count(&cbs_seen.ended);
    int cancelled = cbs_count(&cbs_seen.ended_cancelled);
    uint8_t *msg;
    size_t len;
    int code;
    const char *m;

    /* a burst echoed in order, then the handler's own reply at the half-close */
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/CbEcho", 0, NULL);
    echo_burst(s, 20000);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_string_equal((char *)msg, "bye:20000");
    weft_free(msg);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_null(msg);
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_OK);
    weft_rpc_stream_free(s);
    assert_int_equal(cbs_wait(&cbs_seen.ended, ended + 1, 5000), ended + 1);
    assert_int_equal(cbs_count(&cbs_seen.opened), opened + 1);

    /* paused: nothing more is read until the handler resumes */
    s = weft_rpc_client_stream(c, "/t.T/CbEcho", 0, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "pause", 5), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_string_equal((char *)msg, "pause");
    weft_free(msg);
    struct weft_rpc_call *call = paused_call(5000);
    assert_non_null(call);
    assert_int_equal(weft_rpc_stream_send(s, "x", 1), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 300), WEFT_ETIMEDOUT);
    weft_rpc_call_resume_recv(call);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_string_equal((char *)msg, "x");
    weft_free(msg);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_string_equal((char *)msg, "bye:2");
    weft_free(msg);
    weft_rpc_stream_free(s);
    assert_int_equal(cbs_wait(&cbs_seen.ended, ended + 2, 5000), ended + 2);

    /* a client cancel ends the stream with cancelled = true; the call is freed */
    s = weft_rpc_client_stream(c, "/t.T/CbEcho", 0, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "a", 1), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    weft_free(msg);
    weft_rpc_stream_free(s); /* cancels */
    assert_int_equal(cbs_wait(&cbs_seen.ended_cancelled, cancelled + 1, 5000), cancelled + 1);

    /* a paused stream open at server stop is ended (UNAVAILABLE to the client) */
    s = weft_rpc_client_stream(c, "/t.T/CbEcho", -1, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "pause", 5), 0);
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    weft_free(msg);
    assert_non_null(paused_call(5000));
    weft_rpc_server_stop(srv, 100);
    assert_int_equal(cbs_count(&cbs_seen.ended), ended + 4);
    assert_int_equal(cbs_count(&cbs_seen.ended_cancelled), cancelled + 2);
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_UNAVAILABLE);
    struct weft_rpc_server_stats st = {0};
    weft_rpc_server_stats(srv, &st);
    assert_int_equal(st.live, 0);
    weft_rpc_stream_free(s);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_tls(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_SERVER, 0);
    struct weft_rpc_client *c = client_for(srv, true, NULL, NULL);
    check_unary_echo(c);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Who", "", 0, 0, &r), 0);
    svc_sync();
    assert_null(svc.last_pem);
    weft_rpc_client_free(c);
    /* a client that does not trust the server's CA is refused */
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    char *evil_ca = cert_path("evil-ca.crt");
    struct weft_rpc_client_opts o = {.tls = true, .ca = {.file = evil_ca}, .timeout_ms = 3000};
    c = weft_rpc_client_new(target, &o, NULL);
    assert_non_null(c);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "x", 1, 0, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_UNAVAILABLE);
    weft_rpc_client_free(c);
    weft_free(evil_ca);
    /* a plaintext client cannot talk to a TLS server */
    c = client_for(srv, false, NULL, NULL);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "x", 1, 3000, &r), WEFT_ERPC);
    assert_true(r.code == WEFT_RPC_UNAVAILABLE || r.code == WEFT_RPC_INTERNAL);
    weft_rpc_client_free(c);
    weft_rpc_result_clear(&r);
    weft_rpc_server_free(srv);
}

static int der_hash_of_file(const char *path, uint8_t out[32])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL) {
        return -1;
    }
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    unsigned int hl = 0;
    int ok = n > 0 && EVP_Digest(der, (size_t)n, out, &hl, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    X509_free(x);
    return ok ? 0 : -1;
}

static void test_mutual_tls(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_MUTUAL, 0);
    struct weft_rpc_client *c = client_for(srv, true, cli_cert, cli_key);
    check_unary_echo(c);
    struct weft_rpc_result r = {0};
    for (int round = 0; round < 3; round++) { /* 2nd and 3rd come from the cache */
        assert_int_equal(weft_rpc_client_unary(c, "/t.T/Who", "", 0, 0, &r), 0);
        size_t flen;
        char *file = wt_read_file(cli_cert, &flen);
        svc_sync();
        assert_non_null(svc.last_pem);
        assert_non_null(strstr(svc.last_pem, "BEGIN CERTIFICATE"));
        /* same certificate body as the file */
        char *fb = strstr(file, "-----BEGIN CERTIFICATE-----");
        assert_non_null(fb);
        assert_memory_equal(svc.last_pem, fb, strlen("-----BEGIN CERTIFICATE-----") + 40);
        weft_free(file);
        uint8_t want[32];
        assert_int_equal(der_hash_of_file(cli_cert, want), 0);
        assert_int_equal(svc.last_hash_rc, 0);
        assert_memory_equal(svc.last_hash, want, 32);
        svc_sync(); /* our reads before the next handler's writes */
    }
    weft_rpc_client_free(c);

    /* no client certificate: refused */
    c = client_for(srv, true, NULL, NULL);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "x", 1, 3000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_UNAVAILABLE);
    weft_rpc_client_free(c);
    /* a certificate from an untrusted CA: refused */
    c = client_for(srv, true, evil_cert, evil_key);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "x", 1, 3000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_UNAVAILABLE);
    weft_rpc_client_free(c);
    weft_rpc_result_clear(&r);
    weft_rpc_server_free(srv);
}

static void test_deadline(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    int before = svc_wait(&svc.wait_cancelled, 0, 0);
    struct weft_rpc_result r = {0};
    uint64_t t0 = weft_clock_mono_ns();
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Wait", "", 0, 200, &r), WEFT_ERPC);
    uint64_t ms = (weft_clock_mono_ns() - t0) / 1000000u;
    assert_int_equal(r.code, WEFT_RPC_DEADLINE_EXCEEDED);
    assert_true(ms >= 150 && ms < 3000);
    /* the handler saw the cancellation through its callback */
    assert_int_equal(svc_wait(&svc.wait_cancelled, before + 1, 5000), before + 1);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_deferred_unary(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    int before = svc_wait(&later_replied, 0, 0);
    struct weft_rpc_result r = {0};
    for (int i = 0; i < 20; i++) {
        char req[16], want[32];
        int n = snprintf(req, sizeof(req), "r%d", i);
        snprintf(want, sizeof(want), "later:r%d", i);
        assert_int_equal(weft_rpc_client_unary(c, "/t.T/Later", req, (size_t)n, 5000, &r), 0);
        assert_int_equal(r.code, WEFT_RPC_OK);
        assert_int_equal(r.len, strlen(want));
        assert_memory_equal(r.data, want, r.len);
    }
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Later", "fail", 4, 5000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_ABORTED);
    assert_string_equal(r.message, "failed later");
    /* a deferred call whose client gives up is answered from its cancel callback */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Later", "hang", 4, 200, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_DEADLINE_EXCEEDED);
    assert_int_equal(svc_wait(&later_replied, before + 22, 5000), before + 22);
    struct weft_rpc_server_stats st = wait_no_live_call(srv);
    assert_true(st.cancelled >= 1);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

/* ---- unary calls completing on a server's queue --------------------------------- */

struct async_rec {
    char want[32]; /* expected response; "" when an error is expected */
    int rc;
    int code;
    char *message;
    bool ok_bytes; /* response equals want */
    bool done;
};

static void async_done(void *ctx, int rc, struct weft_rpc_result *r)
{
    struct async_rec *a = ctx;
    pthread_mutex_lock(&svc.lock);
    a->rc = rc;
    a->code = r->code;
    a->message = weft_strdup(r->message);
    a->ok_bytes = r->len == strlen(a->want) && (r->len == 0 || memcmp(r->data, a->want, r->len) == 0);
    a->done = true;
    svc.async_done++;
    pthread_cond_broadcast(&svc.cv);
    pthread_mutex_unlock(&svc.lock);
    weft_rpc_result_clear(r);
}

/* weft_rpc_client_unary_async: many calls in flight completing on another
 * server's threads, errors as the blocking call gives them, the home
 * server's stop cancelling a call still in flight, and a refused start once
 * it is stopped. */
static void test_unary_async(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_server *home = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    enum { N = 200 };
    struct async_rec *recs = weft_calloc(N + 2, sizeof(*recs));
    assert_non_null(recs);
    int done0 = svc_wait(&svc.async_done, 0, 0);
    struct weft_rpc_result r = {0};
    for (int i = 0; i < N; i++) {
        char req[16];
        int n = snprintf(req, sizeof(req), "a%d", i);
        memcpy(recs[i].want, req, (size_t)n + 1);
        assert_int_equal(weft_rpc_client_unary_async(c, home, "/t.T/Echo", req, (size_t)n, 5000,
                                                     async_done, &recs[i], &r),
                         0);
    }
    assert_int_equal(weft_rpc_client_unary_async(c, home, "/t.T/Echo", "fail", 4, 5000,
                                                 async_done, &recs[N], &r),
                     0);
    assert_int_equal(svc_wait(&svc.async_done, done0 + N + 1, 10000), done0 + N + 1);
    pthread_mutex_lock(&svc.lock);
    for (int i = 0; i < N; i++) {
        assert_true(recs[i].done);
        assert_int_equal(recs[i].rc, 0);
        assert_int_equal(recs[i].code, WEFT_RPC_OK);
        assert_true(recs[i].ok_bytes);
    }
    assert_int_equal(recs[N].rc, WEFT_ERPC);
    assert_int_equal(recs[N].code, WEFT_RPC_INVALID_ARGUMENT);
    assert_string_equal(recs[N].message, "asked to fail");
    pthread_mutex_unlock(&svc.lock);

    /* in flight when its home server stops: cancelled, not waited for */
    int cancelled0 = svc_wait(&svc.wait_cancelled, 0, 0);
    assert_int_equal(weft_rpc_client_unary_async(c, home, "/t.T/Wait", "x", 1, 20000,
                                                 async_done, &recs[N + 1], &r),
                     0);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    uint64_t t0 = weft_clock_mono_ns();
    weft_rpc_server_stop(home, 100);
    assert_true(weft_clock_mono_ns() - t0 < 5000000000ull);
    pthread_mutex_lock(&svc.lock);
    assert_true(recs[N + 1].done);
    assert_int_equal(recs[N + 1].rc, WEFT_ERPC);
    assert_int_equal(recs[N + 1].code, WEFT_RPC_CANCELLED);
    pthread_mutex_unlock(&svc.lock);
    assert_int_equal(svc_wait(&svc.wait_cancelled, cancelled0 + 1, 5000), cancelled0 + 1);
    assert_int_equal(weft_rpc_client_unary_async(c, home, "/t.T/Echo", "x", 1, 5000, async_done,
                                                 &recs[0], &r),
                     WEFT_ESHUTDOWN);
    assert_int_equal(r.code, WEFT_RPC_UNAVAILABLE);
    weft_rpc_result_clear(&r);
    for (int i = 0; i < N + 2; i++) {
        weft_free(recs[i].message);
    }
    weft_free(recs);
    weft_rpc_client_free(c);
    weft_rpc_server_free(home);
    weft_rpc_server_free(srv);
}

/* A WEFT_RPC_INLINE handler answers like a pooled one; a unary handler
 * that never asks about cancellation still has its call counted cancelled
 * after the client's deadline, and every call is freed. */
static void test_inline_and_unary_close(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    struct weft_rpc_result r = {0};
    for (int i = 0; i < 50; i++) {
        assert_int_equal(weft_rpc_client_unary(c, "/t.T/Inline", "abc", 3, 0, &r), 0);
        assert_int_equal(r.len, 3);
        assert_memory_equal(r.data, "abc", 3);
    }
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Inline", "fail", 4, 0, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_INVALID_ARGUMENT);
    assert_string_equal(r.message, "asked to fail");

    struct weft_rpc_server_stats st;
    weft_rpc_server_stats(srv, &st);
    uint64_t cancelled0 = st.cancelled;
    int slow0 = svc_wait(&svc.slow_done, 0, 0);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Slow", "x", 1, 100, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_DEADLINE_EXCEEDED);
    assert_int_equal(svc_wait(&svc.slow_done, slow0 + 1, 5000), slow0 + 1);
    uint64_t end = weft_clock_mono_ns() + 5000000000ull;
    do {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        weft_rpc_server_stats(srv, &st);
    } while ((st.cancelled == cancelled0 || st.live > 0) && weft_clock_mono_ns() < end);
    assert_int_equal(st.cancelled, cancelled0 + 1);
    assert_int_equal(st.live, 0);
    /* within its deadline the same handler answers */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Slow", "y", 1, 5000, &r), 0);
    assert_int_equal(r.len, 1);
    assert_memory_equal(r.data, "y", 1);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_cancel_mid_stream(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    int before = svc_wait(&svc.stream_cancelled, 0, 0);
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/Count", 0, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "inf", 3), 0);
    assert_int_equal(weft_rpc_stream_close_send(s), 0);
    for (int i = 0; i < 10; i++) {
        uint8_t *msg;
        size_t len;
        assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
        assert_non_null(msg);
        weft_free(msg);
    }
    weft_rpc_stream_cancel(s);
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_CANCELLED);
    weft_rpc_stream_free(s);
    /* the server handler saw it and the call was freed */
    assert_int_equal(svc_wait(&svc.stream_cancelled, before + 1, 5000), before + 1);
    struct weft_rpc_server_stats st = wait_no_live_call(srv);
    assert_true(st.cancelled >= 1);
    /* cancelling a bidi stream the handler is reading */
    s = weft_rpc_client_stream(c, "/t.T/Bidi", 0, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "a", 1), 0);
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    weft_free(msg);
    weft_rpc_stream_free(s); /* cancels */
    assert_int_equal(svc_wait(&svc.stream_cancelled, before + 2, 5000), before + 2);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_oversize(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 1u << 20);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    size_t n = 2u << 20;
    uint8_t *buf = weft_calloc(1, n);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", buf, n, 0, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_RESOURCE_EXHAUSTED);
    /* the connection still works for normal messages */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", buf, 1000, 0, &r), 0);
    /* a client-side limit is enforced locally */
    weft_rpc_client_free(c);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    struct weft_rpc_client_opts o = {.max_send_msg = 1000, .max_recv_msg = 100};
    c = weft_rpc_client_new(target, &o, NULL);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", buf, 2000, 3000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_RESOURCE_EXHAUSTED);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", buf, 500, 3000, &r), WEFT_ERPC);
    assert_int_equal(r.code, WEFT_RPC_RESOURCE_EXHAUSTED);
    weft_rpc_result_clear(&r);
    weft_free(buf);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_shutdown_open_stream(void **state)
{
    (void)state;
    struct weft_rpc_server *srv = start_server(WEFT_RPC_TLS_OFF, 0);
    struct weft_rpc_client *c = client_for(srv, false, NULL, NULL);
    int before = svc_wait(&svc.stream_cancelled, 0, 0);
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, "/t.T/Bidi", -1, NULL);
    assert_int_equal(weft_rpc_stream_send(s, "a", 1), 0);
    uint8_t *msg;
    size_t len;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    weft_free(msg);
    struct weft_rpc_stream *s2 = weft_rpc_client_stream(c, "/t.T/Count", -1, NULL);
    assert_int_equal(weft_rpc_stream_send(s2, "inf", 3), 0);
    assert_int_equal(weft_rpc_stream_recv(s2, &msg, &len, 5000), 0);
    weft_free(msg);
    uint64_t t0 = weft_clock_mono_ns();
    weft_rpc_server_stop(srv, 200);
    uint64_t ms = (weft_clock_mono_ns() - t0) / 1000000u;
    assert_true(ms < 3000);
    assert_int_equal(svc_wait(&svc.stream_cancelled, before + 2, 5000), before + 2);
    /* the open stream ends with UNAVAILABLE */
    int code;
    const char *m;
    assert_int_equal(weft_rpc_stream_recv(s, &msg, &len, 5000), 0);
    assert_null(msg);
    assert_int_equal(weft_rpc_stream_status(s, 5000, &code, &m), 0);
    assert_int_equal(code, WEFT_RPC_UNAVAILABLE);
    /* s2's client was not reading: its window was full, so the server could
     * not flush the status and cancelled the stream after its flush delay */
    int drained = 0;
    do {
        assert_int_equal(weft_rpc_stream_recv(s2, &msg, &len, 5000), 0);
        weft_free(msg);
    } while (msg != NULL && ++drained < 100000);
    assert_int_equal(weft_rpc_stream_status(s2, 5000, &code, &m), 0);
    assert_true(code == WEFT_RPC_UNAVAILABLE || code == WEFT_RPC_CANCELLED);
    weft_rpc_stream_free(s);
    weft_rpc_stream_free(s2);
    weft_rpc_server_free(srv);
    weft_rpc_client_free(c);
}

static void test_reconnect(void **state)
{
    (void)state;
    int port = wt_free_port();
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    struct weft_rpc_server_opts so = {.listen = {addr}, .cq_threads = 1, .workers = 4};
    struct weft_rpc_server *srv = start_server_opts(&so);
    struct weft_rpc_client_opts co = {.wait_for_ready = true, .backoff_min_ms = 100,
                                      .backoff_max_ms = 300, .timeout_ms = 5000};
    struct weft_rpc_client *c = weft_rpc_client_new(addr, &co, NULL);
    assert_non_null(c);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "one", 3, 0, &r), 0);
    weft_rpc_server_free(srv);
    /* server gone: a short call fails (waits for ready, then deadline) */
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "two", 3, 300, &r), WEFT_ERPC);
    assert_true(r.code == WEFT_RPC_DEADLINE_EXCEEDED || r.code == WEFT_RPC_UNAVAILABLE);
    assert_int_equal(weft_rpc_client_wait_ready(c, 200), WEFT_ETIMEDOUT);
    srv = start_server_opts(&so);
    assert_int_equal(weft_rpc_client_wait_ready(c, 5000), 0);
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "three", 5, 0, &r), 0);
    assert_memory_equal(r.data, "three", 5);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct weft_err err = {0};
    struct weft_rpc_server_opts o = {.listen = {NULL}};
    assert_null(weft_rpc_server_new(&o, &err));
    assert_int_equal(err.code, WEFT_EINVAL);
    struct weft_rpc_server_opts o2 = {.listen = {"127.0.0.1:0"}, .tls = WEFT_RPC_TLS_SERVER};
    assert_null(weft_rpc_server_new(&o2, &err));
    assert_int_equal(err.code, WEFT_EINVAL);
    struct weft_rpc_server_opts o3 = {.listen = {"127.0.0.1:0"},
                                      .tls = WEFT_RPC_TLS_SERVER,
                                      .cert = {.file = "/nonexistent/x.pem"},
                                      .key = {.file = srv_key}};
    assert_null(weft_rpc_server_new(&o3, &err));
    assert_int_equal(err.code, WEFT_EIO);
    /* a server that is created and freed without starting */
    struct weft_rpc_server_opts o4 = {.listen = {"127.0.0.1:0"}};
    struct weft_rpc_server *srv = weft_rpc_server_new(&o4, &err);
    assert_non_null(srv);
    weft_rpc_server_free(srv);
    struct weft_rpc_client_opts co = {.tls = true};
    assert_null(weft_rpc_client_new("127.0.0.1:1", &co, &err));
    assert_int_equal(err.code, WEFT_EINVAL);
    /* inline PEM strings work like files */
    char *pem_cert = wt_read_file(srv_cert, NULL);
    char *pem_key = wt_read_file(srv_key, NULL);
    struct weft_rpc_server_opts o5 = {.listen = {"127.0.0.1:0"},
                                      .tls = WEFT_RPC_TLS_SERVER,
                                      .cert = {.pem = pem_cert},
                                      .key = {.pem = pem_key}};
    srv = start_server_opts(&o5);
    char *pem_ca = wt_read_file(ca_crt, NULL);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", weft_rpc_server_port(srv, 0));
    struct weft_rpc_client_opts co2 = {.tls = true, .ca = {.pem = pem_ca},
                                       .server_name_override = "localhost"};
    struct weft_rpc_client *c = weft_rpc_client_new(target, &co2, &err);
    assert_non_null(c);
    struct weft_rpc_result r = {0};
    assert_int_equal(weft_rpc_client_unary(c, "/t.T/Echo", "pem", 3, 5000, &r), 0);
    weft_rpc_result_clear(&r);
    weft_rpc_client_free(c);
    weft_rpc_server_free(srv);
    weft_free(pem_cert);
    weft_free(pem_key);
    weft_free(pem_ca);
}

static int setup(void **state)
{
    (void)state;
    pthread_mutex_init(&svc.lock, NULL);
    pthread_mutex_init(&cbs_seen.lock, NULL);
    pthread_cond_init(&svc.cv, NULL);
    /* the refused handshakes below are expected: keep gRPC's warnings quiet */
    if (weft_log_spec_set("warn:grpc=error", NULL) != 0) {
        return -1;
    }
    certdir = wt_tmpdir("rpc");
    char *cmd = weft_asprintf("sh %s/tests/unit/rpc/gen-certs.sh %s", wt_source_dir(), certdir);
    int rc = system(cmd);
    weft_free(cmd);
    if (rc != 0) {
        return -1;
    }
    srv_cert = cert_path("server.crt");
    srv_key = cert_path("server.key");
    ca_crt = cert_path("ca.crt");
    cli_cert = cert_path("client.crt");
    cli_key = cert_path("client.key");
    evil_cert = cert_path("evil.crt");
    evil_key = cert_path("evil.key");
    return weft_rpc_init();
}

static int teardown(void **state)
{
    (void)state;
    weft_rpc_shutdown();
    wt_rmtree(certdir);
    weft_free(certdir);
    weft_free(srv_cert);
    weft_free(srv_key);
    weft_free(ca_crt);
    weft_free(cli_cert);
    weft_free(cli_key);
    weft_free(evil_cert);
    weft_free(evil_key);
    weft_free(svc.last_pem);
    weft_log_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_plain),
        cmocka_unit_test(test_unimplemented_and_health),
        cmocka_unit_test(test_server_streaming),
        cmocka_unit_test(test_client_streaming),
        cmocka_unit_test(test_bidi),
        cmocka_unit_test(test_event_driven_stream),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_deferred_unary),
        cmocka_unit_test(test_unary_async),
        cmocka_unit_test(test_inline_and_unary_close),
        cmocka_unit_test(test_cancel_mid_stream),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_shutdown_open_stream),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
