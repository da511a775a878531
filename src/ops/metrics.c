/*
 * Metrics registry: counters, gauges and histograms with labels, exposed in
 * the Prometheus text format 0.0.4.
 *
 * Design. A registry holds families sorted by full name; a family holds its
 * children (one per tuple of label values) in an array kept sorted by the
 * label values taken in label-name order, which is exactly the order the
 * exposition prints them in, so a scrape never sorts. Lookups by with() are
 * a binary search under the family mutex; hot paths are expected to cache
 * the child pointer, which stays valid until the registry is freed
 * (children are never removed).
 *
 * Values are plain atomics so that updates never take a lock:
 *  - a counter keeps an integer part (inc is one fetch_add) and a double
 *    part updated by compare-and-swap for fractional adds;
 *  - a gauge is a double stored as its bit pattern, set with a store and
 *    added to with compare-and-swap;
 *  - a histogram keeps one non-cumulative count per bucket (the last one is
 *    +Inf) and a double sum. Its _count is computed at scrape time as the
 *    sum of the buckets, so _count always equals the +Inf bucket even while
 *    observations race with the scrape.
 *
 * Locks: registry.lock guards the family array; family.lock guards that
 * family's children array. A scrape takes the registry lock, then each
 * family lock in turn (always in that order); no callback runs under them.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/ops.h"

const double WEFT_METRICS_DEFAULT_BUCKETS[11] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10};

enum mtype { MT_COUNTER = 0, MT_GAUGE = 1, MT_HISTOGRAM = 2 };

struct family;

struct child {
    struct family *fam;
    char **values;            /* in declaration order, nlabels entries */
    _Atomic uint64_t ival;    /* counter: integer part */
    _Atomic uint64_t fbits;   /* counter: fractional part; gauge value; histogram sum */
    _Atomic uint64_t *counts; /* histogram: nbounds + 1 non-cumulative bucket counts */
};

struct family {
    enum mtype type;
    char *name;
    char *help;
    char **labels;
    size_t nlabels;
    size_t *order; /* label indices sorted by label name */
    double *bounds;
    size_t nbounds;
    pthread_mutex_t lock; /* guards children, nchildren, cap */
    struct child **children;
    size_t nchildren;
    size_t cap;
};

struct weft_metrics {
    pthread_mutex_t lock; /* guards fams, nfams, cap */
    struct family **fams;
    size_t nfams;
    size_t cap;
};

/* The public family and child types are the internal ones under other names:
 * they only exist as pointers, converted at the API boundary. */
#define FAM(p) ((struct family *)(void *)(p))
#define CHILD(p) ((struct child *)(void *)(p))

static double bits_to_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t d_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_double(_Atomic uint64_t *cell, double delta)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    for (;;) {
        uint64_t nv = d_to_bits(bits_to_d(old) + delta);
        if (atomic_compare_exchange_weak_explicit(cell, &old, nv, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            return;
        }
    }
}

/* ---- names --------------------------------------------------------------- */

static bool valid_metric_name(const char *s)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (s == NULL || *s == '\0' || strncmp(s, "__", 2) == 0) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static char *full_name(const struct weft_metrics_opts *o)
{
    const char *parts[3] = {o->namespace_, o->subsystem, o->name};
    struct weft_buf b;
    weft_buf_init(&b, 1024);
    for (size_t i = 0; i < 3; i++) {
        if (parts[i] == NULL || parts[i][0] == '\0') {
            continue;
        }
        if (b.len > 0 && weft_buf_append(&b, "_", 1) != 0) {
            goto fail;
        }
        if (weft_buf_append(&b, parts[i], strlen(parts[i])) != 0) {
            goto fail;
        }
    }
    if (b.len == 0) {
        goto fail;
    }
    return (char *)weft_buf_steal(&b, NULL);
fail:
    weft_buf_close(&b);
    return NULL;
}

/* ---- registry ------------------------------------------------------------ */

struct weft_metrics *weft_metrics_new(void)
{
    struct weft_metrics *m = weft_calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void child_free(struct child *c, size_t nlabels)
{
    if (c == NULL) {
        return;
    }
    if (c->values != NULL) {
        for (size_t i = 0; i < nlabels; i++) {
            weft_free(c->values[i]);
        }
        weft_free(c->values);
    }
    weft_free((void *)c->counts);
    weft_free(c);
}

static void family_free(struct family *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->nchildren; i++) {
        child_free(f->children[i], f->nlabels);
    }
    weft_free(f->children);
    if (f->labels != NULL) {
        for (size_t i = 0; i < f->nlabels; i++) {
            weft_free(f->labels[i]);
        }
        weft_free(f->labels);
    }
    weft_free(f->order);
    weft_free(f->bounds);
    weft_free(f->name);
    weft_free(f->help);
    pthread_mutex_destroy(&f->lock);
    weft_free(f);
}

void weft_metrics_free(struct weft_metrics *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nfams; i++) {
        family_free(m->fams[i]);
    }
    weft_free(m->fams);
    pthread_mutex_destroy(&m->lock);
    weft_free(m);
}

/* Insertion sort of label indices by name: label lists are tiny. */
static void sort_label_order(struct family *f)
{
    for (size_t i = 0; i < f->nlabels; i++) {
        f->order[i] = i;
    }
    for (size_t i = 1; i < f->nlabels; i++) {
        size_t v = f->order[i];
        size_t j = i;
        while (j > 0 && strcmp(f->labels[f->order[j - 1]], f->labels[v]) > 0) {
            f->order[j] = f->order[j - 1];
            j--;
        }
        f->order[j] = v;
    }
}

static bool same_shape(const struct family *f, enum mtype type, const struct weft_metrics_opts *o,
                       const double *bounds, size_t nbounds)
{
    if (f->type != type || f->nlabels != o->n_labels) {
        return false;
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        if (strcmp(f->labels[i], o->label_names[i]) != 0) {
            return false;
        }
    }
    if (type == MT_HISTOGRAM) {
        if (f->nbounds != nbounds) {
            return false;
        }
        for (size_t i = 0; i < nbounds; i++) {
            if (f->bounds[i] != bounds[i]) {
                return false;
            }
        }
    }
    return true;
}

static struct child *child_new(struct family *f, const char *const *values);

static struct family *family_register(struct weft_metrics *m, enum mtype type,
                                      const struct weft_metrics_opts *o, struct weft_err *err)
{
    if (m == NULL || o == NULL || (o->n_labels > 0 && o->label_names == NULL)) {
        weft_err_set(err, WEFT_EINVAL, "metrics: missing registry or options");
        return NULL;
    }
    const double *bounds = NULL;
    size_t nbounds = 0;
    if (type == MT_HISTOGRAM) {
        bounds = o->buckets ? o->buckets : WEFT_METRICS_DEFAULT_BUCKETS;
        nbounds = o->buckets ? o->n_buckets : WEFT_ARRAY_LEN(WEFT_METRICS_DEFAULT_BUCKETS);
        for (size_t i = 0; i < nbounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                weft_err_set(err, WEFT_EINVAL,
                             "metrics: histogram buckets must be finite and increasing");
                return NULL;
            }
        }
    }
    char *name = full_name(o);
    if (name == NULL || !valid_metric_name(name)) {
        weft_err_set(err, WEFT_EINVAL, "metrics: invalid metric name '%s'",
                     name ? name : "");
        weft_free(name);
        return NULL;
    }
    for (size_t i = 0; i < o->n_labels; i++) {
        if (!valid_label_name(o->label_names[i]) ||
            (type == MT_HISTOGRAM && strcmp(o->label_names[i], "le") == 0)) {
            weft_err_set(err, WEFT_EINVAL, "metrics: %s: invalid label name '%s'", name,
                         o->label_names[i] ? o->label_names[i] : "(null)");
            weft_free(name);
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o->label_names[i], o->label_names[j]) == 0) {
                weft_err_set(err, WEFT_EINVAL, "metrics: %s: duplicate label name '%s'", name,
                             o->label_names[i]);
                weft_free(name);
                return NULL;
            }
        }
    }

    pthread_mutex_lock(&m->lock);
    /* binary search for the name */
    size_t lo = 0, hi = m->nfams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->fams[mid]->name, name);
        if (c == 0) {
            struct family *ex = m->fams[mid];
            bool same = same_shape(ex, type, o, bounds, nbounds);
            pthread_mutex_unlock(&m->lock);
            if (!same) {
                weft_err_set(err, WEFT_EEXIST,
                             "metrics: '%s' is already registered with another type or labels",
                             name);
                ex = NULL;
            }
            weft_free(name);
            return ex;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    struct family *f = weft_calloc(1, sizeof(*f));
    if (f == NULL) {
        goto oom;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->type = type;
    f->name = name;
    name = NULL;
    f->help = weft_strdup(o->help ? o->help : "");
    f->nlabels = o->n_labels;
    if (f->help == NULL) {
        goto oom;
    }
    if (f->nlabels > 0) {
        f->labels = weft_calloc(f->nlabels, sizeof(char *));
        f->order = weft_calloc(f->nlabels, sizeof(size_t));
        if (f->labels == NULL || f->order == NULL) {
            goto oom;
        }
        for (size_t i = 0; i < f->nlabels; i++) {
            f->labels[i] = weft_strdup(o->label_names[i]);
            if (f->labels[i] == NULL) {
                goto oom;
            }
        }
        sort_label_order(f);
    }
    if (type == MT_HISTOGRAM && nbounds > 0) {
        f->bounds = weft_memdup(bounds, nbounds * sizeof(double));
        if (f->bounds == NULL) {
            goto oom;
        }
    }
    f->nbounds = nbounds;
    /* A family without labels has exactly one child: create it now so the
     * metric is exposed (at zero) from the start. */
    if (f->nlabels == 0) {
        struct child *c = child_new(f, NULL);
        if (c == NULL) {
            goto oom;
        }
        f->children = weft_malloc(sizeof(struct child *));
        if (f->children == NULL) {
            child_free(c, 0);
            goto oom;
        }
        f->children[0] = c;
        f->nchildren = 1;
        f->cap = 1;
    }
    if (m->nfams == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        struct family **nf = weft_realloc(m->fams, ncap * sizeof(*nf));
        if (nf == NULL) {
            goto oom;
        }
        m->fams = nf;
        m->cap = ncap;
    }
    memmove(&m->fams[lo + 1], &m->fams[lo], (m->nfams - lo) * sizeof(*m->fams));
    m->fams[lo] = f;
    m->nfams++;
    pthread_mutex_unlock(&m->lock);
    return f;

oom:
    pthread_mutex_unlock(&m->lock);
    family_free(f);
    weft_free(name);
    weft_err_set(err, WEFT_ENOMEM, "metrics: out of memory");
    return NULL;
}

struct weft_metrics_counter_vec *weft_metrics_counter_vec_new(struct weft_metrics *m,
                                                              const struct weft_metrics_opts *o,
                                                              struct weft_err *err)
{
    return (struct weft_metrics_counter_vec *)(void *)family_register(m, MT_COUNTER, o, err);
}

struct weft_metrics_gauge_vec *weft_metrics_gauge_vec_new(struct weft_metrics *m,
                                                          const struct weft_metrics_opts *o,
                                                          struct weft_err *err)
{
    return (struct weft_metrics_gauge_vec *)(void *)family_register(m, MT_GAUGE, o, err);
}

struct weft_metrics_histogram_vec *
weft_metrics_histogram_vec_new(struct weft_metrics *m, const struct weft_metrics_opts *o,
                               struct weft_err *err)
{
    return (struct weft_metrics_histogram_vec *)(void *)family_register(m, MT_HISTOGRAM, o, err);
}

/* ---- children ------------------------------------------------------------ */

static struct child *child_new(struct family *f, const char *const *values)
{
    struct child *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->fam = f;
    if (f->nlabels > 0) {
        c->values = weft_calloc(f->nlabels, sizeof(char *));
        if (c->values == NULL) {
            goto fail;
        }
        for (size_t i = 0; i < f->nlabels; i++) {
            const char *v = (values && values[i]) ? values[i] : "";
            c->values[i] = weft_strdup(v);
            if (c->values[i] == NULL) {
                goto fail;
            }
        }
    }
    if (f->type == MT_HISTOGRAM) {
        c->counts = weft_calloc(f->nbounds + 1, sizeof(_Atomic uint64_t));
        if (c->counts == NULL) {
            goto fail;
        }
    }
    return c;
fail:
    child_free(c, f->nlabels);
    return NULL;
}

/* Compares a child's values with a tuple, in label-name order. */
static int child_cmp(const struct family *f, char *const *cv, const char *const *values)
{
    for (size_t k = 0; k < f->nlabels; k++) {
        size_t i = f->order[k];
        const char *v = (values && values[i]) ? values[i] : "";
        int c = strcmp(cv[i], v);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

static struct child *family_with(struct family *f, const char *const *values)
{
    if (f == NULL) {
        return NULL;
    }
    if (f->nlabels == 0) {
        return f->children[0]; /* created with the family, never changes */
    }
    pthread_mutex_lock(&f->lock);
    size_t lo = 0, hi = f->nchildren;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = child_cmp(f, f->children[mid]->values, values);
        if (c == 0) {
            struct child *ch = f->children[mid];
            pthread_mutex_unlock(&f->lock);
            return ch;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    struct child *ch = NULL;
    if (f->nchildren == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 8;
        struct child **nc = weft_realloc(f->children, ncap * sizeof(*nc));
        if (nc == NULL) {
            goto out;
        }
        f->children = nc;
        f->cap = ncap;
    }
    ch = child_new(f, values);
    if (ch == NULL) {
        goto out;
    }
    memmove(&f->children[lo + 1], &f->children[lo], (f->nchildren - lo) * sizeof(*f->children));
    f->children[lo] = ch;
    f->nchildren++;
out:
    pthread_mutex_unlock(&f->lock);
    return ch;
}

struct weft_metrics_counter *weft_metrics_counter_with(struct weft_metrics_counter_vec *v,
                                                       const char *const *values)
{
    return (struct weft_metrics_counter *)(void *)family_with(FAM(v), values);
}

struct weft_metrics_gauge *weft_metrics_gauge_with(struct weft_metrics_gauge_vec *v,
                                                   const char *const *values)
{
    return (struct weft_metrics_gauge *)(void *)family_with(FAM(v), values);
}

struct weft_metrics_histogram *weft_metrics_histogram_with(struct weft_metrics_histogram_vec *v,
                                                           const char *const *values)
{
    return (struct weft_metrics_histogram *)(void *)family_with(FAM(v), values);
}

/* ---- updates ------------------------------------------------------------- */

void weft_metrics_counter_inc(struct weft_metrics_counter *c)
{
    atomic_fetch_add_explicit(&CHILD(c)->ival, 1, memory_order_relaxed);
}

void weft_metrics_counter_add(struct weft_metrics_counter *c, double delta)
{
    if (!(delta >= 0)) { /* negative or NaN: a counter never goes down */
        return;
    }
    /* Integral deltas below 2^53 stay exact in the integer part. */
    if (delta < 9007199254740992.0 && (double)(uint64_t)delta == delta) {
        atomic_fetch_add_explicit(&CHILD(c)->ival, (uint64_t)delta, memory_order_relaxed);
        return;
    }
    atomic_add_double(&CHILD(c)->fbits, delta);
}

double weft_metrics_counter_value(const struct weft_metrics_counter *c)
{
    struct child *ch = CHILD(c);
    return (double)atomic_load_explicit(&ch->ival, memory_order_relaxed) +
           bits_to_d(atomic_load_explicit(&ch->fbits, memory_order_relaxed));
}

void weft_metrics_gauge_set(struct weft_metrics_gauge *g, double value)
{
    atomic_store_explicit(&CHILD(g)->fbits, d_to_bits(value), memory_order_relaxed);
}

void weft_metrics_gauge_add(struct weft_metrics_gauge *g, double delta)
{
    atomic_add_double(&CHILD(g)->fbits, delta);
}

double weft_metrics_gauge_value(const struct weft_metrics_gauge *g)
{
    return bits_to_d(atomic_load_explicit(&CHILD(g)->fbits, memory_order_relaxed));
}

void weft_metrics_histogram_observe(struct weft_metrics_histogram *h, double value)
{
    struct child *ch = CHILD(h);
    const struct family *f = ch->fam;
    /* first bound >= value; NaN lands in +Inf like Prometheus' client */
    size_t lo = 0, hi = f->nbounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] >= value) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    atomic_add_double(&ch->fbits, value);
    atomic_fetch_add_explicit(&ch->counts[lo], 1, memory_order_relaxed);
}

uint64_t weft_metrics_histogram_count(const struct weft_metrics_histogram *h)
{
    struct child *ch = CHILD(h);
    uint64_t n = 0;
    for (size_t i = 0; i <= ch->fam->nbounds; i++) {
        n += atomic_load_explicit(&ch->counts[i], memory_order_relaxed);
    }
    return n;
}

double weft_metrics_histogram_sum(const struct weft_metrics_histogram *h)
{
    return bits_to_d(atomic_load_explicit(&CHILD(h)->fbits, memory_order_relaxed));
}

/* ---- exposition ---------------------------------------------------------- */

/* Shortest decimal form that reads back to the same double. */
static void fmt_double(double v, char *buf, size_t len)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return;
        }
    }
}

static int append_escaped(struct weft_buf *out, const char *s, bool quote)
{
    int rc = 0;
    const char *run = s;
    for (const char *p = s; *p && rc == 0; p++) {
        const char *rep = NULL;
        if (*p == '\\') {
            rep = "\\\\";
        } else if (*p == '\n') {
            rep = "\\n";
        } else if (quote && *p == '"') {
            rep = "\\\"";
        }
        if (rep != NULL) {
            rc = weft_buf_append(out, run, (size_t)(p - run));
            if (rc == 0) {
                rc = weft_buf_append(out, rep, 2);
            }
            run = p + 1;
        }
    }
    if (rc == 0) {
        rc = weft_buf_append(out, run, strlen(run));
    }
    return rc;
}

/* name{labels...[,le="x"]} value\n */
static int write_sample(struct weft_buf *out, const struct family *f, const struct child *c,
                        const char *suffix, const char *le, double value)
{
    int rc = weft_buf_appendf(out, "%s%s", f->name, suffix);
    if (rc == 0 && (f->nlabels > 0 || le != NULL)) {
        rc = weft_buf_append(out, "{", 1);
        for (size_t k = 0; k < f->nlabels && rc == 0; k++) {
            size_t i = f->order[k];
            rc = weft_buf_appendf(out, "%s%s=\"", k ? "," : "", f->labels[i]);
            if (rc == 0) {
                rc = append_escaped(out, c->values[i], true);
            }
            if (rc == 0) {
                rc = weft_buf_append(out, "\"", 1);
            }
        }
        if (rc == 0 && le != NULL) {
            rc = weft_buf_appendf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
        }
        if (rc == 0) {
            rc = weft_buf_append(out, "}", 1);
        }
    }
    if (rc == 0) {
        char num[64];
        fmt_double(value, num, sizeof(num));
        rc = weft_buf_appendf(out, " %s\n", num);
    }
    return rc;
}

static int write_family(struct weft_buf *out, struct family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    pthread_mutex_lock(&f->lock);
    if (f->nchildren == 0) {
        goto out; /* nothing observed yet: Prometheus' client omits it too */
    }
    rc = weft_buf_appendf(out, "# HELP %s ", f->name);
    if (rc == 0) {
        rc = append_escaped(out, f->help, false);
    }
    if (rc == 0) {
        rc = weft_buf_appendf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    }
    for (size_t i = 0; i < f->nchildren && rc == 0; i++) {
        const struct child *c = f->children[i];
        if (f->type == MT_COUNTER) {
            rc = write_sample(out, f, c, "", NULL,
                              weft_metrics_counter_value((const void *)c));
        } else if (f->type == MT_GAUGE) {
            rc = write_sample(out, f, c, "", NULL, weft_metrics_gauge_value((const void *)c));
        } else {
            uint64_t cum = 0;
            char le[64];
            for (size_t b = 0; b <= f->nbounds && rc == 0; b++) {
                cum += atomic_load_explicit(&c->counts[b], memory_order_relaxed);
                if (b < f->nbounds) {
                    fmt_double(f->bounds[b], le, sizeof(le));
                } else {
                    snprintf(le, sizeof(le), "+Inf");
                }
                rc = write_sample(out, f, c, "_bucket", le, (double)cum);
            }
            if (rc == 0) {
                rc = write_sample(out, f, c, "_sum", NULL,
                                  bits_to_d(atomic_load_explicit(&c->fbits, memory_order_relaxed)));
            }
            if (rc == 0) {
                rc = write_sample(out, f, c, "_count", NULL, (double)cum);
            }
        }
    }
out:
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int weft_metrics_write(struct weft_metrics *m, struct weft_buf *out)
{
    if (m == NULL || out == NULL) {
        return WEFT_EINVAL;
    }
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfams && rc == 0; i++) {
        rc = write_family(out, m->fams[i]);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}
