/*
 * Health registry behind /healthz: named checkers, run concurrently with a
 * deadline.
 *
 * Design. A checker is a callback that may block (pinging a database, a
 * chaincode runtime). C cannot cancel a thread stuck in a callback, so a run
 * submits every check to the registry's own worker pool and waits on a
 * condition variable until all have answered or the deadline passes; checks
 * still running are reported as timed out. The run's shared state is
 * reference-counted (one reference for the waiting caller, one per check)
 * so a late check writes into memory that is still alive and the last one
 * out frees it. Each check job carries copies of the name, callback and
 * context; weft_health.checking counts the checks queued or running, and
 * unregistering a component waits until it is zero, so the component may
 * free its context as soon as weft_health_unregister returns.
 *
 * Locks: weft_health.lock guards the checker list and checking; run.lock
 * guards one run's slots and counters. Neither is held while a checker runs,
 * and neither is taken while the other is held.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "weft/ops.h"

#define REASON_LEN 512

struct checker {
    char *name;
    weft_health_check_cb cb;
    void *ctx;
    struct checker *next; /* sorted by name */
};

struct weft_health {
    pthread_mutex_t lock; /* guards head, checking */
    pthread_cond_t idle;  /* checking dropped to zero */
    struct checker *head;
    size_t checking; /* checks queued or running */
    uint64_t timeout_ns;
    struct weft_pool *pool;
};

struct slot {
    char *name;
    weft_health_check_cb cb;
    void *ctx;
    bool done;
    int rc;
    char reason[REASON_LEN];
};

struct run {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* signalled when a slot completes */
    int refs;
    size_t pending;
    size_t n;
    struct slot *slots;
};

struct job {
    struct weft_health *h;
    struct run *run;
    size_t idx;
};

static void checks_done(struct weft_health *h, size_t n)
{
    if (n == 0) {
        return;
    }
    pthread_mutex_lock(&h->lock);
    h->checking -= n;
    if (h->checking == 0) {
        pthread_cond_broadcast(&h->idle);
    }
    pthread_mutex_unlock(&h->lock);
}

struct weft_health *weft_health_new(uint64_t timeout_ns, unsigned workers)
{
    struct weft_health *h = weft_calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->timeout_ns = timeout_ns ? timeout_ns : 30ull * 1000000000ull;
    h->pool = weft_pool_new(workers ? workers : 2);
    if (h->pool == NULL) {
        weft_free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->idle, NULL);
    return h;
}

void weft_health_free(struct weft_health *h)
{
    if (h == NULL) {
        return;
    }
    weft_pool_free(h->pool); /* waits for checks still running */
    struct checker *c = h->head;
    while (c != NULL) {
        struct checker *next = c->next;
        weft_free(c->name);
        weft_free(c);
        c = next;
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->idle);
    weft_free(h);
}

int weft_health_register(struct weft_health *h, const char *component, weft_health_check_cb cb,
                         void *ctx)
{
    if (h == NULL || component == NULL || component[0] == '\0' || cb == NULL) {
        return WEFT_EINVAL;
    }
    struct checker *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return WEFT_ENOMEM;
    }
    c->name = weft_strdup(component);
    if (c->name == NULL) {
        weft_free(c);
        return WEFT_ENOMEM;
    }
    c->cb = cb;
    c->ctx = ctx;
    pthread_mutex_lock(&h->lock);
    struct checker **pp = &h->head;
    while (*pp != NULL && strcmp((*pp)->name, component) < 0) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL && strcmp((*pp)->name, component) == 0) {
        pthread_mutex_unlock(&h->lock);
        weft_free(c->name);
        weft_free(c);
        return WEFT_EEXIST;
    }
    c->next = *pp;
    *pp = c;
    pthread_mutex_unlock(&h->lock);
    return 0;
}

int weft_health_unregister(struct weft_health *h, const char *component)
{
    if (h == NULL || component == NULL) {
        return WEFT_EINVAL;
    }
    pthread_mutex_lock(&h->lock);
    struct checker **pp = &h->head;
    while (*pp != NULL && strcmp((*pp)->name, component) != 0) {
        pp = &(*pp)->next;
    }
    struct checker *c = *pp;
    if (c != NULL) {
        *pp = c->next;
        while (h->checking > 0) { /* a check may still hold c->ctx */
            pthread_cond_wait(&h->idle, &h->lock);
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (c == NULL) {
        return WEFT_ENOTFOUND;
    }
    weft_free(c->name);
    weft_free(c);
    return 0;
}

static void run_unref_locked(struct run *r)
{
    /* called with r->lock held; releases it */
    int left = --r->refs;
    pthread_mutex_unlock(&r->lock);
    if (left > 0) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        weft_free(r->slots[i].name);
    }
    weft_free(r->slots);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    weft_free(r);
}

static void check_job(void *arg)
{
    struct job *j = arg;
    struct run *r = j->run;
    struct slot *s = &r->slots[j->idx];
    struct weft_health *h = j->h;
    weft_free(j);
    /* name, cb and ctx are immutable once the job is queued */
    char reason[REASON_LEN];
    reason[0] = '\0';
    int rc = s->cb(s->ctx, reason, sizeof(reason));
    reason[sizeof(reason) - 1] = '\0';
    checks_done(h, 1);
    pthread_mutex_lock(&r->lock);
    s->done = true;
    s->rc = rc;
    memcpy(s->reason, reason, sizeof(reason));
    r->pending--;
    pthread_cond_broadcast(&r->cond);
    run_unref_locked(r);
}

static int add_failure(struct weft_health_failure **fails, size_t *n, const char *name,
                       const char *reason)
{
    struct weft_health_failure *nf = weft_realloc(*fails, (*n + 1) * sizeof(*nf));
    if (nf == NULL) {
        return WEFT_ENOMEM;
    }
    *fails = nf;
    nf[*n].component = weft_strdup(name);
    nf[*n].reason = weft_strdup(reason);
    (*n)++;
    if (nf[*n - 1].component == NULL || nf[*n - 1].reason == NULL) {
        return WEFT_ENOMEM;
    }
    return 0;
}

int weft_health_run(struct weft_health *h, struct weft_health_failure **failures,
                    size_t *n_failures)
{
    *failures = NULL;
    *n_failures = 0;
    struct run *r = weft_calloc(1, sizeof(*r));
    if (r == NULL) {
        return WEFT_ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    r->refs = 1;

    int rc = 0;
    pthread_mutex_lock(&h->lock);
    size_t n = 0;
    for (struct checker *c = h->head; c != NULL; c = c->next) {
        n++;
    }
    if (n > 0) {
        r->slots = weft_calloc(n, sizeof(*r->slots));
        if (r->slots == NULL) {
            rc = WEFT_ENOMEM;
        }
    }
    size_t i = 0;
    for (struct checker *c = h->head; c != NULL && rc == 0; c = c->next, i++) {
        r->slots[i].name = weft_strdup(c->name);
        r->slots[i].cb = c->cb;
        r->slots[i].ctx = c->ctx;
        if (r->slots[i].name == NULL) {
            rc = WEFT_ENOMEM;
        }
    }
    r->n = rc == 0 ? n : i;
    h->checking += r->n;
    pthread_mutex_unlock(&h->lock);
    size_t not_run = rc == 0 ? 0 : r->n; /* of the checks counted above */

    uint64_t deadline = weft_clock_mono_ns() + h->timeout_ns;
    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->n && rc == 0; i++) {
        struct job *j = weft_malloc(sizeof(*j));
        int src = WEFT_ENOMEM;
        if (j != NULL) {
            j->h = h;
            j->run = r;
            j->idx = i;
            r->refs++;
            r->pending++;
            src = weft_pool_submit(h->pool, check_job, j);
            if (src != 0) {
                r->refs--;
                r->pending--;
                weft_free(j);
            }
        }
        if (src != 0) {
            not_run++;
            r->slots[i].done = true;
            r->slots[i].rc = src;
            snprintf(r->slots[i].reason, REASON_LEN, "health check could not run: %s",
                     weft_strerror(src));
        }
    }
    while (rc == 0 && r->pending > 0) {
        uint64_t now = weft_clock_mono_ns();
        if (now >= deadline) {
            break;
        }
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
                              .tv_nsec = (long)(deadline % 1000000000ull)};
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    }
    for (i = 0; i < r->n && rc == 0; i++) {
        struct slot *s = &r->slots[i];
        if (!s->done) {
            rc = add_failure(failures, n_failures, s->name, "health check timed out");
        } else if (s->rc != 0) {
            rc = add_failure(failures, n_failures, s->name,
                             s->reason[0] ? s->reason : weft_strerror(s->rc));
        }
    }
    run_unref_locked(r);
    checks_done(h, not_run);
    if (rc != 0) {
        weft_health_failures_free(*failures, *n_failures);
        *failures = NULL;
        *n_failures = 0;
    }
    return rc;
}

void weft_health_failures_free(struct weft_health_failure *failures, size_t n)
{
    if (failures == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        weft_free(failures[i].component);
        weft_free(failures[i].reason);
    }
    weft_free(failures);
}

char *weft_ops_format_time(uint64_t wall_ns, char *buf, size_t len)
{
    time_t secs = (time_t)(wall_ns / 1000000000ull);
    unsigned long nanos = (unsigned long)(wall_ns % 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char frac[16] = "";
    if (nanos != 0) {
        snprintf(frac, sizeof(frac), ".%09lu", nanos);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0') {
            frac[--l] = '\0';
        }
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return buf;
}

/* json_string() refuses invalid UTF-8; a checker's reason is free text, so
 * fall back to an ASCII copy with '?' for every non-ASCII byte. */
static json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL) {
        return j;
    }
    char *copy = weft_strdup(s);
    if (copy == NULL) {
        return NULL;
    }
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80) {
            *p = '?';
        }
    }
    j = json_string(copy);
    weft_free(copy);
    return j;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return weft_buf_append(data, buffer, size) == 0 ? 0 : -1;
}

int weft_health_json(const struct weft_health_failure *failures, size_t n_failures,
                     uint64_t wall_ns, struct weft_buf *out)
{
    char ts[48];
    weft_ops_format_time(wall_ns, ts, sizeof(ts));
    int rc = WEFT_ENOMEM;
    json_t *root = json_object();
    json_t *arr = NULL;
    if (root == NULL) {
        goto out;
    }
    if (json_object_set_new(root, "status",
                            json_string(n_failures ? "Service Unavailable" : "OK")) != 0 ||
        json_object_set_new(root, "time", json_string(ts)) != 0) {
        goto out;
    }
    if (n_failures > 0) {
        arr = json_array();
        if (arr == NULL) {
            goto out;
        }
        for (size_t i = 0; i < n_failures; i++) {
            json_t *o = json_object();
            if (o == NULL || json_array_append_new(arr, o) != 0 ||
                json_object_set_new(o, "component", json_text(failures[i].component)) != 0 ||
                json_object_set_new(o, "reason", json_text(failures[i].reason)) != 0) {
                goto out;
            }
        }
        if (json_object_set(root, "failed_checks", arr) != 0) {
            goto out;
        }
    }
    if (json_dump_callback(root, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        goto out;
    }
    rc = n_failures ? 503 : 200;
out:
    json_decref(arr);
    json_decref(root);
    return rc;
}
