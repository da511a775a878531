/*
 * Unit tests for src/ops: metrics registry and exposition, health checks,
 * the HTTP server (routes, worker dispatch, limits, TLS and mutual TLS) and
 * the operations system's endpoints. Servers listen on 127.0.0.1:0 and are
 * exercised over real sockets with libcurl or a raw socket.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "ops_testutil.h"
#include "testlib.h"
#include "weft/log.h"
#include "weft/ops.h"

static struct test_pki pki;

/* ======================================================================== */
/* helpers                                                                   */
/* ======================================================================== */

static struct weft_ops *ops_up(struct weft_ops_opts *o)
{
    if (o->listen_address == NULL) {
        o->listen_address = "127.0.0.1:0";
    }
    struct weft_err err;
    weft_err_clear(&err);
    struct weft_ops *ops = weft_ops_new(o, &err);
    if (ops == NULL) {
        fail_msg("weft_ops_new: %s", err.msg);
    }
    assert_true(weft_ops_port(ops) > 0);
    assert_int_equal(weft_ops_start(ops, &err), 0);
    return ops;
}

static json_t *parse_json(const struct http_result *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);
    if (j == NULL) {
        fail_msg("bad JSON (%s): %s", je.text, r->body);
    }
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A checker flag: 0 ok, otherwise fail with the reason in ctx. */
struct check_ctx {
    bool fail;
    const char *reason;
    /* slow mode: wait until released (bounded by 10 s) */
    bool slow;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool released;
};

static int checker(void *ctx, char *reason, size_t len)
{
    struct check_ctx *c = ctx;
    if (c->slow) {
        pthread_mutex_lock(&c->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        while (!c->released) {
            if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0) {
                break;
            }
        }
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    if (c->fail) {
        snprintf(reason, len, "%s", c->reason);
        return WEFT_EUNAVAILABLE;
    }
    return 0;
}

static void check_ctx_init(struct check_ctx *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

static void check_ctx_release(struct check_ctx *c)
{
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* ======================================================================== */
/* metrics                                                                   */
/* ======================================================================== */

static void test_metrics_exposition(void **state)
{
    (void)state;
    struct weft_metrics *m = weft_metrics_new();
    assert_non_null(m);
    struct weft_err err;

    struct weft_metrics_opts co = {
        .namespace_ = "grpc",
        .subsystem = "server",
        .name = "unary_requests_received",
        .help = "The number of unary requests received.",
        .label_names = (const char *const[]){"service", "method"},
        .n_labels = 2,
    };
    struct weft_metrics_counter_vec *cv = weft_metrics_counter_vec_new(m, &co, &err);
    assert_non_null(cv);
    struct weft_metrics_counter *c1 =
        weft_metrics_counter_with(cv, (const char *const[]){"protos.Endorser", "ProcessProposal"});
    struct weft_metrics_counter *c2 =
        weft_metrics_counter_with(cv, (const char *const[]){"gateway.Gateway", "Evaluate"});
    assert_non_null(c1);
    assert_non_null(c2);
    /* same tuple, same child */
    assert_ptr_equal(c1, weft_metrics_counter_with(
                             cv, (const char *const[]){"protos.Endorser", "ProcessProposal"}));
    for (int i = 0; i < 7; i++) {
        weft_metrics_counter_inc(c1);
    }
    weft_metrics_counter_add(c2, 2.5);
    weft_metrics_counter_add(c2, -4); /* ignored */

    struct weft_metrics_opts go = {
        .namespace_ = "ledger",
        .name = "blockchain_height",
        .help = "Height of the chain in blocks.",
        .label_names = (const char *const[]){"channel"},
        .n_labels = 1,
    };
    struct weft_metrics_gauge_vec *gv = weft_metrics_gauge_vec_new(m, &go, &err);
    assert_non_null(gv);
    struct weft_metrics_gauge *g = weft_metrics_gauge_with(gv, (const char *const[]){"mychannel"});
    weft_metrics_gauge_set(g, 42);
    weft_metrics_gauge_add(g, -2);
    struct weft_metrics_gauge *gw =
        weft_metrics_gauge_with(gv, (const char *const[]){"we\"ird\\ch\nan"});
    weft_metrics_gauge_set(gw, -1.5);

    struct weft_metrics_opts ho = {
        .namespace_ = "ledger",
        .name = "block_processing_time",
        .help = "Time taken in seconds for ledger block processing.\nSecond \\ line.",
        .label_names = (const char *const[]){"channel"},
        .n_labels = 1,
    };
    struct weft_metrics_histogram_vec *hv = weft_metrics_histogram_vec_new(m, &ho, &err);
    assert_non_null(hv);
    struct weft_metrics_histogram *h =
        weft_metrics_histogram_with(hv, (const char *const[]){"mychannel"});
    double obs[] = {0.001, 0.005, 0.02, 0.3, 0.3, 4, 100};
    double sum = 0;
    for (size_t i = 0; i < WEFT_ARRAY_LEN(obs); i++) {
        weft_metrics_histogram_observe(h, obs[i]);
        sum += obs[i];
    }
    const double bk[] = {1, 10, 100};
    struct weft_metrics_opts h2o = {
        .name = "custom_sizes", .help = "Custom buckets.", .buckets = bk, .n_buckets = 3};
    struct weft_metrics_histogram_vec *h2v = weft_metrics_histogram_vec_new(m, &h2o, &err);
    assert_non_null(h2v);
    struct weft_metrics_histogram *h2 = weft_metrics_histogram_with(h2v, NULL);
    weft_metrics_histogram_observe(h2, 5);
    weft_metrics_histogram_observe(h2, 1000);

    struct weft_metrics_opts zo = {.name = "zz_unlabelled_total", .help = "Never touched."};
    assert_non_null(weft_metrics_counter_vec_new(m, &zo, &err));
    struct weft_metrics_opts eo = {.name = "aa_empty", .help = "No children.",
                                   .label_names = (const char *const[]){"x"}, .n_labels = 1};
    assert_non_null(weft_metrics_counter_vec_new(m, &eo, &err));

    struct weft_buf out, out2;
    weft_buf_init(&out, 1 << 20);
    weft_buf_init(&out2, 1 << 20);
    assert_int_equal(weft_metrics_write(m, &out), 0);
    assert_int_equal(weft_metrics_write(m, &out2), 0);
    assert_string_equal((char *)out.data, (char *)out2.data); /* deterministic */

    struct prom p;
    int bad = prom_parse((char *)out.data, &p);
    if (bad != 0) {
        fail_msg("line %d of exposition is invalid:\n%s", bad, (char *)out.data);
    }
    /* families sorted by name; empty family omitted */
    assert_null(prom_family(&p, "aa_empty"));
    for (size_t i = 1; i < p.nf; i++) {
        assert_true(strcmp(p.f[i - 1].name, p.f[i].name) < 0);
    }
    const struct prom_family *f = prom_family(&p, "grpc_server_unary_requests_received");
    assert_non_null(f);
    assert_string_equal(f->type, "counter");
    assert_string_equal(f->help, "The number of unary requests received.");
    const struct prom_sample *s = prom_find(&p, "grpc_server_unary_requests_received", "method",
                                            "ProcessProposal", "service", "protos.Endorser", NULL);
    assert_non_null(s);
    assert_true(s->value == 7);
    /* labels printed in name order */
    assert_string_equal(s->lname[0], "method");
    assert_string_equal(s->lname[1], "service");
    s = prom_find(&p, "grpc_server_unary_requests_received", "method", "Evaluate", "service",
                  "gateway.Gateway", NULL);
    assert_non_null(s);
    assert_true(s->value == 2.5);
    assert_string_equal(prom_family(&p, "ledger_blockchain_height")->type, "gauge");
    s = prom_find(&p, "ledger_blockchain_height", "channel", "mychannel", NULL);
    assert_non_null(s);
    assert_true(s->value == 40);
    s = prom_find(&p, "ledger_blockchain_height", "channel", "we\"ird\\ch\nan", NULL);
    assert_non_null(s); /* escaping round-trips */
    assert_true(s->value == -1.5);
    f = prom_family(&p, "ledger_block_processing_time");
    assert_string_equal(f->type, "histogram");
    assert_string_equal(f->help, "Time taken in seconds for ledger block processing.\nSecond \\ line.");
    assert_non_null(prom_family(&p, "zz_unlabelled_total"));
    s = prom_find(&p, "zz_unlabelled_total", NULL);
    assert_non_null(s);
    assert_true(s->value == 0);

    /* histogram: cumulative, monotone, +Inf == _count, sum */
    const char *les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                         "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
    const double expect[] = {2, 2, 3, 3, 3, 3, 5, 5, 5, 6, 6, 7};
    double prev = -1;
    for (size_t i = 0; i < WEFT_ARRAY_LEN(les); i++) {
        s = prom_find(&p, "ledger_block_processing_time_bucket", "channel", "mychannel", "le",
                      les[i], NULL);
        if (s == NULL) {
            fail_msg("missing bucket le=%s", les[i]);
        }
        assert_true(s->value >= prev);
        assert_true(s->value == expect[i]);
        prev = s->value;
    }
    const struct prom_sample *cnt =
        prom_find(&p, "ledger_block_processing_time_count", "channel", "mychannel", NULL);
    assert_non_null(cnt);
    assert_true(cnt->value == prev);
    s = prom_find(&p, "ledger_block_processing_time_sum", "channel", "mychannel", NULL);
    assert_non_null(s);
    assert_true(s->value > sum - 1e-9 && s->value < sum + 1e-9);
    assert_int_equal(weft_metrics_histogram_count(h), 7);
    s = prom_find(&p, "custom_sizes_bucket", "le", "10", NULL);
    assert_true(s != NULL && s->value == 1);
    s = prom_find(&p, "custom_sizes_bucket", "le", "+Inf", NULL);
    assert_true(s != NULL && s->value == 2);
    s = prom_find(&p, "custom_sizes_count", NULL);
    assert_true(s != NULL && s->value == 2);

    /* the parser itself rejects broken text */
    struct prom q;
    assert_int_not_equal(prom_parse("# TYPE x counter\nx{a=\"1} 3\n", &q), 0);
    prom_free(&q);
    assert_int_not_equal(prom_parse("y 3\n", &q), 0); /* no TYPE */
    prom_free(&q);

    prom_free(&p);
    weft_buf_close(&out);
    weft_buf_close(&out2);
    weft_metrics_free(m);
}

static void test_metrics_errors(void **state)
{
    (void)state;
    struct weft_metrics *m = weft_metrics_new();
    struct weft_err err;
    struct weft_metrics_opts o = {.name = "9bad", .help = "x"};
    assert_null(weft_metrics_counter_vec_new(m, &o, &err));
    assert_int_equal(err.code, WEFT_EINVAL);
    o.name = "ok_name";
    o.label_names = (const char *const[]){"__reserved"};
    o.n_labels = 1;
    assert_null(weft_metrics_counter_vec_new(m, &o, &err));
    o.label_names = (const char *const[]){"le"};
    assert_null(weft_metrics_histogram_vec_new(m, &o, &err));
    assert_non_null(weft_metrics_counter_vec_new(m, &o, &err)); /* le is fine on a counter */
    o.label_names = (const char *const[]){"a", "a"};
    o.n_labels = 2;
    o.name = "dup_labels";
    assert_null(weft_metrics_counter_vec_new(m, &o, &err));

    struct weft_metrics_opts a = {.namespace_ = "x", .name = "y", .help = "h",
                                  .label_names = (const char *const[]){"l"}, .n_labels = 1};
    struct weft_metrics_gauge_vec *g1 = weft_metrics_gauge_vec_new(m, &a, &err);
    struct weft_metrics_gauge_vec *g2 = weft_metrics_gauge_vec_new(m, &a, &err);
    assert_non_null(g1);
    assert_ptr_equal(g1, g2); /* same declaration: same family */
    assert_null(weft_metrics_counter_vec_new(m, &a, &err));
    assert_int_equal(err.code, WEFT_EEXIST);
    const double bad_b[] = {1, 1};
    struct weft_metrics_opts hb = {.name = "hb", .help = "h", .buckets = bad_b, .n_buckets = 2};
    assert_null(weft_metrics_histogram_vec_new(m, &hb, &err));
    assert_int_equal(err.code, WEFT_EINVAL);
    weft_metrics_free(m);
}

/* One registry build + scrape; returns 0 when every step succeeded. */
static int metrics_scenario(void)
{
    struct weft_metrics *m = weft_metrics_new();
    if (m == NULL) {
        return -1;
    }
    int rc = -1;
    struct weft_buf b;
    weft_buf_init(&b, 1 << 20);
    struct weft_err err;
    struct weft_metrics_opts co = {.namespace_ = "a", .subsystem = "b", .name = "c", .help = "h",
                                   .label_names = (const char *const[]){"x", "y"},
                                   .n_labels = 2};
    struct weft_metrics_opts ho = {.name = "hist", .help = "h",
                                   .label_names = (const char *const[]){"x"}, .n_labels = 1};
    struct weft_metrics_opts go = {.name = "g", .help = "h"};
    struct weft_metrics_counter_vec *cv = weft_metrics_counter_vec_new(m, &co, &err);
    struct weft_metrics_histogram_vec *hv = weft_metrics_histogram_vec_new(m, &ho, &err);
    struct weft_metrics_gauge_vec *gv = weft_metrics_gauge_vec_new(m, &go, &err);
    if (cv == NULL || hv == NULL || gv == NULL) {
        goto out;
    }
    for (int i = 0; i < 20; i++) {
        char v[8];
        snprintf(v, sizeof(v), "v%d", i);
        struct weft_metrics_counter *c = weft_metrics_counter_with(cv, (const char *const[]){v, "z"});
        struct weft_metrics_histogram *h = weft_metrics_histogram_with(hv, (const char *const[]){v});
        if (c == NULL || h == NULL) {
            goto out;
        }
        weft_metrics_counter_inc(c);
        weft_metrics_histogram_observe(h, i);
    }
    weft_metrics_gauge_set(weft_metrics_gauge_with(gv, NULL), 3);
    rc = weft_metrics_write(m, &b);
out:
    weft_buf_close(&b);
    weft_metrics_free(m);
    return rc;
}

/* allocation torture: fail the n-th allocation for every n */
static void test_metrics_alloc_torture(void **state)
{
    (void)state;
    int ok_at = 0;
    for (uint64_t n = 1; n < 5000; n++) {
        weft_alloc_fail_after(n);
        int rc = metrics_scenario();
        weft_alloc_fail_after(0);
        if (rc == 0) {
            ok_at = (int)n;
            break;
        }
    }
    assert_true(ok_at > 50); /* many allocations were each failed once */
    assert_int_equal(metrics_scenario(), 0);
}

#define NTHREADS 8
#define NITER 100000

struct conc {
    struct weft_metrics_counter_vec *cv;
    struct weft_metrics_histogram_vec *hv;
    int id;
};

static void *conc_main(void *arg)
{
    struct conc *c = arg;
    /* every thread looks the child up itself: with() must hand out one child */
    struct weft_metrics_counter *k =
        weft_metrics_counter_with(c->cv, (const char *const[]){"shared"});
    char own[16];
    snprintf(own, sizeof(own), "t%d", c->id);
    struct weft_metrics_counter *mine = weft_metrics_counter_with(c->cv, (const char *const[]){own});
    struct weft_metrics_histogram *h =
        weft_metrics_histogram_with(c->hv, (const char *const[]){"shared"});
    for (int i = 0; i < NITER; i++) {
        weft_metrics_counter_inc(k);
        if ((i & 15) == 0) {
            weft_metrics_counter_add(mine, 0.25);
            weft_metrics_histogram_observe(h, (i & 1) ? 0.001 : 0.5);
        }
    }
    return NULL;
}

static void test_metrics_concurrency(void **state)
{
    (void)state;
    struct weft_metrics *m = weft_metrics_new();
    struct weft_err err;
    struct weft_metrics_opts o = {.name = "conc_total", .help = "h",
                                  .label_names = (const char *const[]){"who"}, .n_labels = 1};
    struct weft_metrics_opts ho = {.name = "conc_hist", .help = "h",
                                   .label_names = (const char *const[]){"who"}, .n_labels = 1};
    struct conc cs[NTHREADS];
    pthread_t th[NTHREADS];
    struct weft_metrics_counter_vec *cv = weft_metrics_counter_vec_new(m, &o, &err);
    struct weft_metrics_histogram_vec *hv = weft_metrics_histogram_vec_new(m, &ho, &err);
    for (int i = 0; i < NTHREADS; i++) {
        cs[i] = (struct conc){.cv = cv, .hv = hv, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, conc_main, &cs[i]), 0);
    }
    /* scrape while writers run: every scrape parses and is consistent.
     * Failures are counted, not asserted, so that no assertion jumps out of
     * this frame while the writers still use it. */
    int bad_parse = 0, bad_hist = 0;
    for (int k = 0; k < 20; k++) {
        struct weft_buf b;
        weft_buf_init(&b, 1 << 20);
        if (weft_metrics_write(m, &b) != 0) {
            bad_parse++;
        }
        struct prom p;
        /* an early scrape may be empty: no child exists yet */
        if (prom_parse(b.data ? (char *)b.data : "", &p) != 0) {
            bad_parse++;
        }
        const struct prom_sample *inf = prom_find(&p, "conc_hist_bucket", "who", "shared", "le",
                                                  "+Inf", NULL);
        const struct prom_sample *cnt = prom_find(&p, "conc_hist_count", "who", "shared", NULL);
        if ((inf != NULL || cnt != NULL) &&
            !(inf != NULL && cnt != NULL && inf->value == cnt->value)) {
            bad_hist++;
        }
        prom_free(&p);
        weft_buf_close(&b);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(bad_parse, 0);
    assert_int_equal(bad_hist, 0);
    struct weft_metrics_counter *k = weft_metrics_counter_with(cv, (const char *const[]){"shared"});
    assert_true(weft_metrics_counter_value(k) == (double)NTHREADS * NITER);
    const int per = (NITER + 15) / 16;
    for (int i = 0; i < NTHREADS; i++) {
        char own[16];
        snprintf(own, sizeof(own), "t%d", i);
        struct weft_metrics_counter *c = weft_metrics_counter_with(cv, (const char *const[]){own});
        assert_true(weft_metrics_counter_value(c) == per * 0.25);
    }
    struct weft_metrics_histogram *h =
        weft_metrics_histogram_with(hv, (const char *const[]){"shared"});
    assert_int_equal(weft_metrics_histogram_count(h), (uint64_t)NTHREADS * per);
    struct weft_buf b;
    weft_buf_init(&b, 1 << 20);
    assert_int_equal(weft_metrics_write(m, &b), 0);
    struct prom p;
    assert_int_equal(prom_parse((char *)b.data, &p), 0);
    const struct prom_sample *s = prom_find(&p, "conc_total", "who", "shared", NULL);
    assert_true(s != NULL && s->value == (double)NTHREADS * NITER);
    s = prom_find(&p, "conc_hist_bucket", "who", "shared", "le", "0.005", NULL);
    assert_true(s != NULL && s->value == 0); /* even i only: all 0.5 */
    s = prom_find(&p, "conc_hist_bucket", "who", "shared", "le", "0.5", NULL);
    assert_true(s != NULL && s->value == (double)NTHREADS * per);
    prom_free(&p);
    weft_buf_close(&b);
    weft_metrics_free(m);
}

/* ======================================================================== */
/* operations endpoints                                                      */
/* ======================================================================== */

static void test_ops_healthz(void **state)
{
    (void)state;
    struct weft_ops_opts o = {.metrics_provider = "prometheus", .version = "2.5.0"};
    struct weft_ops *ops = ops_up(&o);
    int port = weft_ops_port(ops);
    struct check_ctx ok, bad;
    check_ctx_init(&ok);
    check_ctx_init(&bad);

    struct http_result r;
    /* no checkers: healthy */
    assert_int_equal(http_do(port, NULL, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse_json(&r);
    assert_string_equal(jstr(j, "status"), "OK");
    const char *t = jstr(j, "time");
    assert_non_null(t);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_true(rest[strlen(rest) - 1] == 'Z');
    assert_true(tm.tm_year + 1900 >= 2024);
    assert_null(json_object_get(j, "failed_checks"));
    assert_string_equal(r.ctype, "application/json");
    json_decref(j);
    http_result_free(&r);

    assert_int_equal(weft_health_register(weft_ops_health(ops), "ledger", checker, &ok), 0);
    assert_int_equal(weft_health_register(weft_ops_health(ops), "ledger", checker, &ok),
                     WEFT_EEXIST);
    assert_int_equal(http_do(port, NULL, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);

    bad.fail = true;
    bad.reason = "failed to connect to CouchDB: connection refused";
    assert_int_equal(weft_health_register(weft_ops_health(ops), "couchdb", checker, &bad), 0);
    assert_int_equal(http_do(port, NULL, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 503);
    j = parse_json(&r);
    assert_string_equal(jstr(j, "status"), "Service Unavailable");
    assert_non_null(jstr(j, "time"));
    json_t *fc = json_object_get(j, "failed_checks");
    assert_true(json_is_array(fc));
    assert_int_equal(json_array_size(fc), 1);
    assert_string_equal(jstr(json_array_get(fc, 0), "component"), "couchdb");
    assert_string_equal(jstr(json_array_get(fc, 0), "reason"),
                        "failed to connect to CouchDB: connection refused");
    json_decref(j);
    http_result_free(&r);

    /* wrong method: 405, as fabric-lib-go's healthz */
    assert_int_equal(http_do(port, NULL, "POST", "/healthz", "{}", 2, &r), 0);
    assert_int_equal(r.status, 405);
    http_result_free(&r);

    assert_int_equal(weft_health_unregister(weft_ops_health(ops), "couchdb"), 0);
    assert_int_equal(weft_health_unregister(weft_ops_health(ops), "couchdb"), WEFT_ENOTFOUND);
    assert_int_equal(http_do(port, NULL, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    weft_ops_free(ops);
}

/* weft_health_unregister waits for a check in flight: its context may be
 * freed as soon as it returns (the peer frees its channels right after). */
struct slow_check {
    int started, go, finished, calling, seen_finished;
    struct weft_health *h;
};

static int slow_checker(void *ctx, char *reason, size_t reason_len)
{
    (void)reason;
    (void)reason_len;
    struct slow_check *sc = ctx;
    __atomic_store_n(&sc->started, 1, __ATOMIC_SEQ_CST);
    uint64_t end = weft_clock_mono_ns() + 10000000000ull;
    while (!__atomic_load_n(&sc->go, __ATOMIC_SEQ_CST) && weft_clock_mono_ns() < end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    __atomic_store_n(&sc->finished, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void *health_run_main(void *arg)
{
    struct slow_check *sc = arg;
    struct weft_health_failure *f = NULL;
    size_t nf = 0;
    if (weft_health_run(sc->h, &f, &nf) == 0) {
        weft_health_failures_free(f, nf);
    }
    return NULL;
}

static void *unregister_main(void *arg)
{
    struct slow_check *sc = arg;
    __atomic_store_n(&sc->calling, 1, __ATOMIC_SEQ_CST);
    if (weft_health_unregister(sc->h, "slow") == 0) {
        sc->seen_finished = __atomic_load_n(&sc->finished, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_health_unregister_waits(void **state)
{
    (void)state;
    struct slow_check sc = {0};
    sc.h = weft_health_new(20000000000ull, 2);
    assert_non_null(sc.h);
    assert_int_equal(weft_health_register(sc.h, "slow", slow_checker, &sc), 0);
    pthread_t run, unreg;
    assert_int_equal(pthread_create(&run, NULL, health_run_main, &sc), 0);
    uint64_t end = weft_clock_mono_ns() + 10000000000ull;
    while (!__atomic_load_n(&sc.started, __ATOMIC_SEQ_CST) && weft_clock_mono_ns() < end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(__atomic_load_n(&sc.started, __ATOMIC_SEQ_CST));
    assert_int_equal(pthread_create(&unreg, NULL, unregister_main, &sc), 0);
    while (!__atomic_load_n(&sc.calling, __ATOMIC_SEQ_CST)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 100000000}; /* let unregister reach its wait */
    nanosleep(&ts, NULL);
    __atomic_store_n(&sc.go, 1, __ATOMIC_SEQ_CST);
    pthread_join(unreg, NULL);
    pthread_join(run, NULL);
    assert_int_equal(sc.seen_finished, 1);
    assert_int_equal(weft_health_unregister(sc.h, "slow"), WEFT_ENOTFOUND);
    weft_health_free(sc.h);
}

static void test_ops_healthz_timeout(void **state)
{
    (void)state;
    struct weft_ops_opts o = {.health_timeout_ns = 300000000ull};
    struct weft_ops *ops = ops_up(&o);
    struct check_ctx slow, ok;
    check_ctx_init(&slow);
    check_ctx_init(&ok);
    slow.slow = true;
    assert_int_equal(weft_health_register(weft_ops_health(ops), "docker", checker, &slow), 0);
    assert_int_equal(weft_health_register(weft_ops_health(ops), "a-ok", checker, &ok), 0);
    uint64_t t0 = weft_clock_mono_ns();
    struct http_result r;
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "GET", "/healthz", NULL, 0, &r), 0);
    uint64_t el = weft_clock_mono_ns() - t0;
    assert_int_equal(r.status, 503);
    assert_true(el >= 250000000ull && el < 5000000000ull);
    json_t *j = parse_json(&r);
    json_t *fc = json_object_get(j, "failed_checks");
    assert_int_equal(json_array_size(fc), 1);
    assert_string_equal(jstr(json_array_get(fc, 0), "component"), "docker");
    assert_string_equal(jstr(json_array_get(fc, 0), "reason"), "health check timed out");
    json_decref(j);
    http_result_free(&r);
    check_ctx_release(&slow);
    weft_ops_free(ops); /* waits for the late check */
}

static void test_ops_metrics_endpoint(void **state)
{
    (void)state;
    struct weft_ops_opts o = {.metrics_provider = "prometheus", .version = "2.5.0"};
    struct weft_ops *ops = ops_up(&o);
    struct weft_err err;
    struct weft_metrics_opts co = {.namespace_ = "ledger", .name = "transaction_count",
                                   .help = "Number of transactions processed.",
                                   .label_names = (const char *const[]){"channel"},
                                   .n_labels = 1};
    struct weft_metrics_counter_vec *cv =
        weft_metrics_counter_vec_new(weft_ops_metrics(ops), &co, &err);
    assert_non_null(cv);
    struct weft_metrics_counter *c = weft_metrics_counter_with(cv, (const char *const[]){"ch1"});
    for (int i = 0; i < 12; i++) {
        weft_metrics_counter_inc(c);
    }
    struct http_result r;
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, WEFT_METRICS_CONTENT_TYPE);
    struct prom p;
    assert_int_equal(prom_parse(r.body, &p), 0);
    const struct prom_sample *s = prom_find(&p, "fabric_version", "version", "2.5.0", NULL);
    assert_non_null(s);
    assert_true(s->value == 1);
    s = prom_find(&p, "ledger_transaction_count", "channel", "ch1", NULL);
    assert_non_null(s);
    assert_true(s->value == 12);
    prom_free(&p);
    http_result_free(&r);
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "POST", "/metrics", "x", 1, &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    http_result_free(&r);
    weft_ops_free(ops);

    /* disabled provider: no /metrics */
    struct weft_ops_opts d = {.metrics_provider = "disabled"};
    ops = ops_up(&d);
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    weft_ops_free(ops);

    struct weft_ops_opts bad = {.listen_address = "127.0.0.1:0", .metrics_provider = "statsd"};
    assert_null(weft_ops_new(&bad, &err));
    assert_int_equal(err.code, WEFT_EUNSUPPORTED);
    bad.metrics_provider = "graphite";
    assert_null(weft_ops_new(&bad, &err));
    assert_int_equal(err.code, WEFT_ECONFIG);
}

WEFT_LOGGER(test_logger, "ops.testmod");

static void test_ops_logspec(void **state)
{
    (void)state;
    struct weft_err err;
    assert_int_equal(weft_log_spec_set("info", &err), 0);
    struct weft_ops_opts o = {0};
    struct weft_ops *ops = ops_up(&o);
    int port = weft_ops_port(ops);
    struct http_result r;
    assert_false(weft_log_enabled(&test_logger, WEFT_LOG_DEBUG));

    assert_int_equal(http_do(port, NULL, "GET", "/logspec", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse_json(&r);
    assert_string_equal(jstr(j, "spec"), "info");
    json_decref(j);
    http_result_free(&r);

    const char *put = "{\"spec\":\"ops.testmod=debug:warning\"}";
    assert_int_equal(http_do(port, NULL, "PUT", "/logspec", put, strlen(put), &r), 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    http_result_free(&r);
    assert_true(weft_log_enabled(&test_logger, WEFT_LOG_DEBUG));
    char *now = weft_log_spec_get();
    enum weft_log_level lvl;
    assert_int_equal(weft_log_spec_level_for(now, "ops.testmod", &lvl), 0);
    assert_int_equal(lvl, WEFT_LOG_DEBUG);
    assert_int_equal(weft_log_spec_level_for(now, "gossip", &lvl), 0);
    assert_int_equal(lvl, WEFT_LOG_WARN);

    assert_int_equal(http_do(port, NULL, "GET", "/logspec", NULL, 0, &r), 0);
    j = parse_json(&r);
    assert_string_equal(jstr(j, "spec"), now);
    json_decref(j);
    http_result_free(&r);

    /* bad spec: 400 {"error":...}, nothing changes */
    const char *badspec = "{\"spec\":\"ops.testmod=loud\"}";
    assert_int_equal(http_do(port, NULL, "PUT", "/logspec", badspec, strlen(badspec), &r), 0);
    assert_int_equal(r.status, 400);
    j = parse_json(&r);
    assert_non_null(jstr(j, "error"));
    assert_non_null(strstr(jstr(j, "error"), "loud"));
    json_decref(j);
    http_result_free(&r);
    char *after = weft_log_spec_get();
    assert_string_equal(after, now);
    weft_free(after);
    assert_true(weft_log_enabled(&test_logger, WEFT_LOG_DEBUG));

    /* malformed JSON: 400 */
    assert_int_equal(http_do(port, NULL, "PUT", "/logspec", "{spec", 5, &r), 0);
    assert_int_equal(r.status, 400);
    j = parse_json(&r);
    assert_non_null(jstr(j, "error"));
    json_decref(j);
    http_result_free(&r);

    /* other methods: Fabric's httpadmin answers 400 "invalid request method" */
    assert_int_equal(http_do(port, NULL, "POST", "/logspec", put, strlen(put), &r), 0);
    assert_int_equal(r.status, 400);
    j = parse_json(&r);
    assert_string_equal(jstr(j, "error"), "invalid request method: POST");
    json_decref(j);
    http_result_free(&r);
    after = weft_log_spec_get();
    assert_string_equal(after, now);
    weft_free(after);
    weft_free(now);

    assert_int_equal(http_do(port, NULL, "PUT", "/logspec", "{\"spec\":\"info\"}", 15, &r), 0);
    assert_int_equal(r.status, 204);
    http_result_free(&r);
    assert_false(weft_log_enabled(&test_logger, WEFT_LOG_DEBUG));
    weft_ops_free(ops);
}

static void test_ops_version(void **state)
{
    (void)state;
    struct weft_ops_opts o = {.version = "2.5.4", .commit_sha = "abc1234"};
    struct weft_ops *ops = ops_up(&o);
    struct http_result r;
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "GET", "/version", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"CommitSHA\":\"abc1234\",\"Version\":\"2.5.4\"}");
    http_result_free(&r);
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "DELETE", "/version", NULL, 0, &r), 0);
    assert_int_equal(r.status, 400);
    json_t *j = parse_json(&r);
    assert_string_equal(jstr(j, "Error"), "invalid request method: DELETE");
    json_decref(j);
    http_result_free(&r);
    assert_int_equal(http_do(weft_ops_port(ops), NULL, "GET", "/nope", NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    weft_ops_free(ops);
}

/* ======================================================================== */
/* HTTP server                                                               */
/* ======================================================================== */

static _Atomic int handler_calls;

static int echo_handler(void *ctx, const struct weft_http_request *req,
                        struct weft_http_response *resp)
{
    (void)ctx;
    handler_calls++;
    size_t len;
    const uint8_t *body = weft_http_request_body(req, &len);
    const char *x = weft_http_request_header(req, "x-weft-test");
    const char *q = weft_http_request_query_param(req, "name");
    assert_int_equal(weft_http_response_content_type(resp, "text/plain"), 0);
    assert_int_equal(weft_http_response_header(resp, "X-Echo", "yes"), 0);
    assert_int_equal(weft_http_response_header(resp, "Bad\r\nHeader", "x"), WEFT_EINVAL);
    weft_http_response_status(resp, 201);
    return weft_buf_appendf(weft_http_response_body(resp), "%s %s q=%s name=%s hdr=%s len=%zu body=%s",
                            weft_http_request_method(req), weft_http_request_path(req),
                            weft_http_request_query(req), q ? q : "-", x ? x : "-", len,
                            (const char *)body);
}

static int fail_handler(void *ctx, const struct weft_http_request *req,
                        struct weft_http_response *resp)
{
    (void)ctx;
    (void)req;
    weft_http_response_status(resp, 299);
    return WEFT_EIO;
}

static struct weft_http_server *server_up(const struct weft_http_server_opts *base)
{
    struct weft_http_server_opts o = *base;
    if (o.listen_address == NULL) {
        o.listen_address = "127.0.0.1:0";
    }
    struct weft_err err;
    struct weft_http_server *s = weft_http_server_new(&o, &err);
    if (s == NULL) {
        fail_msg("weft_http_server_new: %s", err.msg);
    }
    return s;
}

static void test_http_routes(void **state)
{
    (void)state;
    struct weft_http_server_opts o = {0};
    struct weft_http_server *s = server_up(&o);
    assert_int_equal(weft_http_route(s, "POST", "/participation/v1/channels/",
                                     WEFT_HTTP_ROUTE_PREFIX, echo_handler, NULL),
                     0);
    assert_int_equal(weft_http_route(s, "DELETE", "/participation/v1/channels/",
                                     WEFT_HTTP_ROUTE_PREFIX | WEFT_HTTP_ROUTE_BLOCKING,
                                     echo_handler, NULL),
                     0);
    assert_int_equal(weft_http_route(s, NULL, "/fail", 0, fail_handler, NULL), 0);
    assert_int_equal(weft_http_route(s, NULL, "nopath", 0, fail_handler, NULL), WEFT_EINVAL);
    struct weft_err err;
    assert_int_equal(weft_http_server_start(s, &err), 0);
    assert_int_equal(weft_http_server_start(s, &err), WEFT_ESTATE);
    assert_int_equal(weft_http_route(s, NULL, "/late", 0, fail_handler, NULL), WEFT_ESTATE);
    int port = weft_http_server_port(s);

    struct http_result r;
    assert_int_equal(http_do(port, NULL, "POST", "/participation/v1/channels/ch1?name=a%20b&x=1",
                             "hello", 5, &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.ctype, "text/plain");
    assert_string_equal(r.body, "POST /participation/v1/channels/ch1 q=name=a%20b&x=1 name=a b "
                                "hdr=- len=5 body=hello");
    http_result_free(&r);

    assert_int_equal(http_do(port, NULL, "DELETE", "/participation/v1/channels/ch2", NULL, 0, &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "DELETE /participation/v1/channels/ch2"));
    http_result_free(&r);

    assert_int_equal(http_do(port, NULL, "GET", "/participation/v1/channels/ch2", NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, DELETE");
    http_result_free(&r);

    assert_int_equal(http_do(port, NULL, "GET", "/participation", NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    http_result_free(&r);

    assert_int_equal(http_do(port, NULL, "GET", "/fail", NULL, 0, &r), 0);
    assert_int_equal(r.status, 500);
    http_result_free(&r);

    /* a header reaches the handler (raw socket, keep the exchange explicit) */
    char req[512];
    snprintf(req, sizeof(req),
             "POST /participation/v1/channels/x HTTP/1.1\r\nHost: t\r\nX-Weft-Test: 42\r\n"
             "Content-Length: 3\r\nConnection: close\r\n\r\nabc");
    char *resp = raw_exchange(port, req, strlen(req));
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 201"));
    assert_non_null(strstr(resp, "X-Echo: yes"));
    assert_non_null(strstr(resp, "hdr=42 len=3 body=abc"));
    weft_free(resp);
    weft_http_server_free(s);
}

/* blocking handlers run on workers, concurrently */
struct rendezvous {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int inside;
    int max_inside;
    bool release;
    bool started;
};

static int meet_handler(void *ctx, const struct weft_http_request *req,
                        struct weft_http_response *resp)
{
    (void)req;
    struct rendezvous *rv = ctx;
    pthread_mutex_lock(&rv->lock);
    rv->inside++;
    rv->started = true;
    if (rv->inside > rv->max_inside) {
        rv->max_inside = rv->inside;
    }
    pthread_cond_broadcast(&rv->cond);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    /* wait until both requests are inside (or told to go) */
    while (rv->max_inside < 2 && !rv->release) {
        if (pthread_cond_timedwait(&rv->cond, &rv->lock, &ts) != 0) {
            break;
        }
    }
    int met = rv->max_inside;
    rv->inside--;
    pthread_mutex_unlock(&rv->lock);
    return weft_http_response_set(resp, 200, "text/plain", met >= 2 ? "met" : "alone",
                                  met >= 2 ? 3 : 5);
}

struct client_arg {
    int port;
    const char *path;
    struct http_result r;
};

static void *client_main(void *arg)
{
    struct client_arg *a = arg;
    http_do(a->port, NULL, "GET", a->path, NULL, 0, &a->r);
    return NULL;
}

static void test_http_blocking_parallel(void **state)
{
    (void)state;
    struct rendezvous rv = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct weft_http_server_opts o = {.workers = 2};
    struct weft_http_server *s = server_up(&o);
    assert_int_equal(weft_http_route(s, "GET", "/meet", WEFT_HTTP_ROUTE_BLOCKING, meet_handler, &rv),
                     0);
    struct weft_err err;
    assert_int_equal(weft_http_server_start(s, &err), 0);
    struct client_arg a1 = {.port = weft_http_server_port(s), .path = "/meet"};
    struct client_arg a2 = a1;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, client_main, &a1);
    pthread_create(&t2, NULL, client_main, &a2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(a1.r.curl_rc, 0);
    assert_int_equal(a2.r.curl_rc, 0);
    assert_string_equal(a1.r.body, "met");
    assert_string_equal(a2.r.body, "met");
    assert_int_equal(rv.max_inside, 2);
    http_result_free(&a1.r);
    http_result_free(&a2.r);
    weft_http_server_free(s);
}

/* the client goes away while a blocking handler still runs */
static void test_http_client_disconnect(void **state)
{
    (void)state;
    struct rendezvous rv = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct weft_http_server_opts o = {0};
    struct weft_http_server *s = server_up(&o);
    assert_int_equal(weft_http_route(s, "GET", "/meet", WEFT_HTTP_ROUTE_BLOCKING, meet_handler, &rv),
                     0);
    struct weft_err err;
    assert_int_equal(weft_http_server_start(s, &err), 0);
    int port = weft_http_server_port(s);
    for (int round = 0; round < 2; round++) {
        /* under the lock: the last round's handler may still be leaving */
        pthread_mutex_lock(&rv.lock);
        rv.started = false;
        rv.release = false;
        rv.max_inside = 0;
        pthread_mutex_unlock(&rv.lock);
        int fd = raw_connect(port);
        assert_true(fd >= 0);
        const char *req = "GET /meet HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        pthread_mutex_lock(&rv.lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        while (!rv.started) {
            assert_int_equal(pthread_cond_timedwait(&rv.cond, &rv.lock, &ts), 0);
        }
        pthread_mutex_unlock(&rv.lock);
        close(fd); /* gone before the answer */
        if (round == 0) {
            /* let libevent notice the close, then release: the reply is dropped */
            struct http_result r;
            assert_int_equal(http_do(port, NULL, "GET", "/missing", NULL, 0, &r), 0);
            assert_int_equal(r.status, 404);
            http_result_free(&r);
        }
        pthread_mutex_lock(&rv.lock);
        rv.release = true;
        pthread_cond_broadcast(&rv.cond);
        pthread_mutex_unlock(&rv.lock);
        if (round == 0) {
            /* the server still serves */
            struct http_result r;
            assert_int_equal(http_do(port, NULL, "GET", "/missing", NULL, 0, &r), 0);
            assert_int_equal(r.status, 404);
            http_result_free(&r);
        }
    }
    /* round 1: free right away, possibly with the job still pending */
    weft_http_server_free(s);
}

static int slow_handler(void *ctx, const struct weft_http_request *req,
                        struct weft_http_response *resp)
{
    (void)ctx;
    (void)req;
    /* longer than the connection timeout of the server below */
    struct timespec ts = {.tv_sec = 2, .tv_nsec = 200000000};
    nanosleep(&ts, NULL);
    return weft_http_response_set(resp, 200, "text/plain", "slow", 4);
}

/* a handler may take longer than the connection's idle timeout */
static void test_http_slow_handler(void **state)
{
    (void)state;
    struct weft_http_server_opts o = {.timeout_s = 1};
    struct weft_http_server *s = server_up(&o);
    assert_int_equal(weft_http_route(s, "GET", "/slow", WEFT_HTTP_ROUTE_BLOCKING, slow_handler,
                                     NULL),
                     0);
    struct weft_err err;
    assert_int_equal(weft_http_server_start(s, &err), 0);
    struct http_result r;
    assert_int_equal(http_do(weft_http_server_port(s), NULL, "GET", "/slow", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "slow");
    http_result_free(&r);
    weft_http_server_free(s);
}

static void test_http_body_limit(void **state)
{
    (void)state;
    struct weft_http_server_opts o = {.max_body_size = 1024};
    struct weft_http_server *s = server_up(&o);
    handler_calls = 0;
    assert_int_equal(weft_http_route(s, NULL, "/echo", 0, echo_handler, NULL), 0);
    struct weft_err err;
    assert_int_equal(weft_http_server_start(s, &err), 0);
    int port = weft_http_server_port(s);

    /* announced too large: 413 before the body is read */
    const char *req = "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n"
                      "Connection: close\r\n\r\n";
    char *resp = raw_exchange(port, req, strlen(req));
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 413"));
    weft_free(resp);

    /* chunked, growing past the cap */
    struct weft_buf b;
    weft_buf_init(&b, 1 << 20);
    assert_int_equal(weft_buf_appendf(&b, "PUT /echo HTTP/1.1\r\nHost: t\r\n"
                                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"),
                     0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weft_buf_appendf(&b, "200\r\n"), 0);
        for (int k = 0; k < 512; k++) {
            assert_int_equal(weft_buf_append(&b, "z", 1), 0);
        }
        assert_int_equal(weft_buf_appendf(&b, "\r\n"), 0);
    }
    assert_int_equal(weft_buf_appendf(&b, "0\r\n\r\n"), 0);
    resp = raw_exchange(port, (char *)b.data, b.len);
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 413"));
    weft_free(resp);
    weft_buf_close(&b);

    /* a body at the cap passes */
    char *big = weft_malloc(1025);
    memset(big, 'y', 1024);
    big[1024] = '\0';
    struct http_result r;
    assert_int_equal(http_do(port, NULL, "PUT", "/echo", big, 1024, &r), 0);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "len=1024"));
    http_result_free(&r);
    weft_free(big);
    assert_int_equal(handler_calls, 1);
    weft_http_server_free(s);
}

static void test_http_bad_config(void **state)
{
    (void)state;
    struct weft_err err;
    const char *bad_addrs[] = {"nonsense", "127.0.0.1:99999", "::1:80", "127.0.0.1:x", NULL};
    for (int i = 0; bad_addrs[i]; i++) {
        struct weft_http_server_opts o = {.listen_address = bad_addrs[i]};
        assert_null(weft_http_server_new(&o, &err));
        assert_int_equal(err.code, WEFT_EINVAL);
    }
    struct weft_http_server_opts o = {.listen_address = "127.0.0.1:0",
                                      .tls = {.enabled = true, .cert_file = "/nonexistent.pem",
                                              .key_file = "/nonexistent.key"}};
    assert_null(weft_http_server_new(&o, &err));
    assert_int_equal(err.code, WEFT_ECONFIG);
    o.tls.cert_file = pki.server_cert;
    o.tls.key_file = pki.client_key; /* wrong key */
    assert_null(weft_http_server_new(&o, &err));
    assert_int_equal(err.code, WEFT_ECONFIG);
    o.tls.key_file = pki.server_key;
    o.tls.client_auth_required = true; /* but no CA */
    assert_null(weft_http_server_new(&o, &err));
    assert_int_equal(err.code, WEFT_ECONFIG);

    /* accepted address forms */
    const char *good_addrs[] = {"localhost:0", ":0", NULL};
    for (int i = 0; good_addrs[i]; i++) {
        struct weft_http_server_opts g = {.listen_address = good_addrs[i]};
        struct weft_http_server *gs = weft_http_server_new(&g, &err);
        if (gs == NULL) {
            fail_msg("%s: %s", good_addrs[i], err.msg);
        }
        assert_true(weft_http_server_port(gs) > 0);
        weft_http_server_free(gs);
    }

    /* a port in use */
    struct weft_http_server_opts a = {.listen_address = "127.0.0.1:0"};
    struct weft_http_server *s1 = weft_http_server_new(&a, &err);
    assert_non_null(s1);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_http_server_port(s1));
    struct weft_http_server_opts b2 = {.listen_address = addr};
    assert_null(weft_http_server_new(&b2, &err));
    weft_http_server_free(s1); /* never started: free must cope */
}

/* ======================================================================== */
/* TLS                                                                       */
/* ======================================================================== */

static int subject_handler(void *ctx, const struct weft_http_request *req,
                           struct weft_http_response *resp)
{
    (void)ctx;
    const char *s = weft_http_request_client_subject(req);
    size_t dl = 0;
    weft_http_request_client_cert_der(req, &dl);
    return weft_buf_appendf(weft_http_response_body(resp), "%s|%d|%s", s ? s : "-",
                            weft_http_request_client_verified(req) ? 1 : 0,
                            dl > 0 ? "der" : "noder");
}

static void test_ops_tls_server_only(void **state)
{
    (void)state;
    struct weft_ops_opts o = {.metrics_provider = "prometheus",
                              .tls = {.enabled = true,
                                      .cert_file = pki.server_cert,
                                      .key_file = pki.server_key}};
    struct weft_ops *ops = ops_up(&o);
    assert_true(weft_http_server_tls(weft_ops_http(ops)));
    int port = weft_ops_port(ops);
    struct http_client_tls t = {.ca = pki.ca};
    struct http_result r;
    assert_int_equal(http_do(port, &t, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    /* no client CA configured: nobody can present a verified certificate */
    assert_int_equal(http_do(port, &t, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    /* plain HTTP to a TLS port fails */
    assert_int_not_equal(http_do(port, NULL, "GET", "/healthz", NULL, 0, &r), 0);
    http_result_free(&r);
    weft_ops_free(ops);
}

static void test_ops_tls_client_optional(void **state)
{
    (void)state;
    const char *cas[] = {pki.ca};
    struct weft_ops_opts o = {.metrics_provider = "prometheus",
                              .version = "2.5.0",
                              .tls = {.enabled = true,
                                      .cert_file = pki.server_cert,
                                      .key_file = pki.server_key,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 1}};
    struct weft_err err;
    o.listen_address = "127.0.0.1:0";
    struct weft_ops *ops = weft_ops_new(&o, &err);
    assert_non_null(ops);
    assert_int_equal(weft_http_route(weft_ops_http(ops), "GET", "/whoami", 0, subject_handler, NULL),
                     0);
    assert_int_equal(weft_ops_start(ops, &err), 0);
    int port = weft_ops_port(ops);

    struct http_client_tls anon = {.ca = pki.ca};
    struct http_client_tls good = {.ca = pki.ca, .cert = pki.client_cert, .key = pki.client_key};
    struct http_client_tls rogue = {.ca = pki.ca, .cert = pki.rogue_cert, .key = pki.rogue_key};
    struct http_result r;

    /* without a certificate: /healthz and /version open, the rest 401 */
    assert_int_equal(http_do(port, &anon, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(http_do(port, &anon, "GET", "/version", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(http_do(port, &anon, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_int_equal(http_do(port, &anon, "GET", "/logspec", NULL, 0, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_int_equal(http_do(port, &anon, "PUT", "/logspec", "{\"spec\":\"debug\"}", 16, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_int_equal(http_do(port, &anon, "GET", "/whoami", NULL, 0, &r), 0);
    assert_string_equal(r.body, "-|0|noder");
    http_result_free(&r);

    /* with a certificate from the configured CA: everything */
    assert_int_equal(http_do(port, &good, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    struct prom p;
    assert_int_equal(prom_parse(r.body, &p), 0);
    assert_non_null(prom_find(&p, "fabric_version", "version", "2.5.0", NULL));
    prom_free(&p);
    http_result_free(&r);
    assert_int_equal(http_do(port, &good, "GET", "/logspec", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(http_do(port, &good, "GET", "/whoami", NULL, 0, &r), 0);
    assert_string_equal(r.body, "CN=client1,O=Org1|1|der");
    http_result_free(&r);

    /* a certificate from another CA fails the handshake */
    assert_int_not_equal(http_do(port, &rogue, "GET", "/healthz", NULL, 0, &r), 0);
    http_result_free(&r);
    weft_ops_free(ops);
}

static void test_ops_tls_client_required(void **state)
{
    (void)state;
    const char *cas[] = {pki.rogue_ca, pki.ca};
    struct weft_ops_opts o = {.metrics_provider = "prometheus",
                              .tls = {.enabled = true,
                                      .cert_file = pki.server_cert,
                                      .key_file = pki.server_key,
                                      .client_auth_required = true,
                                      .client_ca_files = cas,
                                      .n_client_ca_files = 2}};
    struct weft_ops *ops = ops_up(&o);
    int port = weft_ops_port(ops);
    struct http_client_tls anon = {.ca = pki.ca};
    struct http_client_tls good = {.ca = pki.ca, .cert = pki.client_cert, .key = pki.client_key};
    struct http_client_tls rogue = {.ca = pki.ca, .cert = pki.rogue_cert, .key = pki.rogue_key};
    struct http_result r;
    /* Fabric (RequireAndVerifyClientCert): no certificate, no connection,
     * whatever the path */
    assert_int_not_equal(http_do(port, &anon, "GET", "/metrics", NULL, 0, &r), 0);
    http_result_free(&r);
    assert_int_not_equal(http_do(port, &anon, "GET", "/logspec", NULL, 0, &r), 0);
    http_result_free(&r);
    assert_int_not_equal(http_do(port, &anon, "GET", "/healthz", NULL, 0, &r), 0);
    http_result_free(&r);
    /* both configured CAs are trusted */
    assert_int_equal(http_do(port, &good, "GET", "/metrics", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(http_do(port, &rogue, "GET", "/healthz", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_int_equal(http_do(port, &good, "GET", "/logspec", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    weft_ops_free(ops);
}

/* ======================================================================== */
/* lifecycle                                                                 */
/* ======================================================================== */

static void test_start_stop_repeat(void **state)
{
    (void)state;
    const char *cas[] = {pki.ca};
    for (int i = 0; i < 12; i++) {
        struct weft_ops_opts o = {.metrics_provider = "prometheus", .version = "1"};
        bool tls = (i % 3) == 2;
        if (tls) {
            o.tls = (struct weft_http_tls_opts){.enabled = true,
                                                .cert_file = pki.server_cert,
                                                .key_file = pki.server_key,
                                                .client_ca_files = cas,
                                                .n_client_ca_files = 1};
        }
        struct weft_ops *ops = ops_up(&o);
        if (i % 2 == 0) {
            struct http_client_tls good = {.ca = pki.ca, .cert = pki.client_cert,
                                           .key = pki.client_key};
            struct http_result r;
            assert_int_equal(http_do(weft_ops_port(ops), tls ? &good : NULL, "GET", "/metrics",
                                     NULL, 0, &r),
                             0);
            assert_int_equal(r.status, 200);
            http_result_free(&r);
        }
        weft_ops_free(ops);
    }
    /* created but never started */
    struct weft_err err;
    struct weft_ops_opts o = {.listen_address = "127.0.0.1:0"};
    struct weft_ops *ops = weft_ops_new(&o, &err);
    assert_non_null(ops);
    weft_ops_free(ops);
    weft_ops_free(NULL);
    weft_http_server_free(NULL);
}

static void test_format_time(void **state)
{
    (void)state;
    char buf[48];
    assert_string_equal(weft_ops_format_time(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
    assert_string_equal(weft_ops_format_time(1700000000500000000ull, buf, sizeof(buf)),
                        "2023-11-14T22:13:20.5Z");
    assert_string_equal(weft_ops_format_time(1700000000000000123ull, buf, sizeof(buf)),
                        "2023-11-14T22:13:20.000000123Z");
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as the daemon does; see ops.h */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return test_pki_make(&pki);
}

static int group_teardown(void **state)
{
    (void)state;
    test_pki_free(&pki);
    curl_global_cleanup();
    weft_log_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_metrics_exposition),
        cmocka_unit_test(test_metrics_errors),
        cmocka_unit_test(test_metrics_alloc_torture),
        cmocka_unit_test(test_metrics_concurrency),
        cmocka_unit_test(test_ops_healthz),
        cmocka_unit_test(test_ops_healthz_timeout),
        cmocka_unit_test(test_health_unregister_waits),
        cmocka_unit_test(test_ops_metrics_endpoint),
        cmocka_unit_test(test_ops_logspec),
        cmocka_unit_test(test_ops_version),
        cmocka_unit_test(test_http_routes),
        cmocka_unit_test(test_http_blocking_parallel),
        cmocka_unit_test(test_http_client_disconnect),
        cmocka_unit_test(test_http_slow_handler),
        cmocka_unit_test(test_http_body_limit),
        cmocka_unit_test(test_http_bad_config),
        cmocka_unit_test(test_ops_tls_server_only),
        cmocka_unit_test(test_ops_tls_client_optional),
        cmocka_unit_test(test_ops_tls_client_required),
        cmocka_unit_test(test_start_stop_repeat),
    };
    /* WEFT_TEST_FILTER=test_http_* runs a subset (cmocka glob). */
    const char *filter = getenv("WEFT_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0') {
        cmocka_set_test_filter(filter);
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
