/*
 * Transaction simulator (endorsement) and read-only query executor.
 *
 * A simulation reads committed state through ONE LMDB read txn, opened in
 * *_new and closed by weft_ledger_sim_done / _rwset / _free: all reads of a
 * simulation see the same snapshot (what Fabric gets from its commit lock),
 * and the txn never outlives the simulation.
 *
 * Recording follows Fabric's rwset builder (spec block-and-validation.md
 * §7.1, §7.2): one KVRead per key (nil version when absent), reads are NOT
 * served from the simulation's own writes, last write per key wins, an empty
 * value is a delete, metadata writes replace the key's pending metadata
 * write, range queries are recorded at the end of the simulation in creation
 * order, de-duplicated on (start, end, exhausted), with raw reads or a Merkle
 * summary. The TxReadWriteSet is then built with namespaces, reads, writes
 * and metadata writes sorted by byte order.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"
#include "state_int.h"

#define SIM_LIMIT ((size_t)1 << 31) /* cap on one serialized rwset */

struct sim_read {
    uint8_t *key;
    size_t key_len;
    bool has_ver;
    struct weft_ledger_version ver;
};

struct sim_write {
    uint8_t *key;
    size_t key_len;
    bool is_delete;
    uint8_t *value;
    size_t value_len;
};

struct sim_meta {
    uint8_t *key;
    size_t key_len;
    char *name; /* NULL: no entries (metadata removed) */
    uint8_t *value;
    size_t value_len;
};

struct sim_rq {
    char *ns;
    uint8_t *start, *end_req, *end_key;
    size_t start_len, end_req_len, end_key_len;
    bool exhausted;
    struct ledger_rqhelper h;
    struct weft_ledger_range_iter *it; /* open iterator, or NULL */
};

struct sim_ns {
    char *ns;
    struct sim_read *reads;
    size_t n_reads, cap_reads;
    struct sim_write *writes;
    size_t n_writes, cap_writes;
    struct sim_meta *metas;
    size_t n_metas, cap_metas;
};

struct weft_ledger_sim {
    struct ledger_state *st;
    MDB_txn *txn;
    bool read_only;
    bool wrote;
    bool paged;
    char *txid;
    struct sim_ns *nss;
    size_t n_nss, cap_nss;
    struct sim_rq **rqs;
    size_t n_rqs, cap_rqs;
};

struct weft_ledger_range_iter {
    struct weft_ledger_sim *sim;
    struct ledger_rscan *scan;
    struct sim_rq *rq; /* recording, or NULL */
    char *ns;
    int32_t limit;     /* 0 = none */
    int32_t count;
    bool paged;
    bool finished;
    bool has_next_key;
    uint8_t *next_key;
    size_t next_key_len;
};

static int grow_arr(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *na = weft_realloc(*arr, nc * elem);
    if (na == NULL)
        return WEFT_ENOMEM;
    *arr = na;
    *cap = nc;
    return 0;
}

static uint8_t *dupkey(const void *k, size_t n)
{
    uint8_t *d = weft_malloc(n + 1);
    if (d != NULL) {
        if (n > 0)
            memcpy(d, k, n);
        d[n] = 0;
    }
    return d;
}

static bool key_eq(const uint8_t *a, size_t al, const void *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

int ledger__sim_new(struct ledger_state *st, const char *txid, bool read_only,
                    struct weft_ledger_sim **out, struct weft_err *err)
{
    struct weft_ledger_sim *s = weft_calloc(1, sizeof(*s));
    if (s == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    s->st = st;
    s->read_only = read_only;
    s->txid = weft_strdup(txid != NULL ? txid : "");
    if (s->txid == NULL) {
        weft_free(s);
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    }
    int rc = ledger__state_read_begin(st, &s->txn, err);
    if (rc != 0) {
        weft_free(s->txid);
        weft_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weft_ledger_sim_new(struct weft_ledger *l, const char *txid, struct weft_ledger_sim **out,
                        struct weft_err *err)
{
    if (l == NULL || l->state == NULL)
        return weft_err_set(err, WEFT_EINVAL, "sim: ledger has no state");
    return ledger__sim_new(l->state, txid, false, out, err);
}

int weft_ledger_qe_new(struct weft_ledger *l, struct weft_ledger_sim **out, struct weft_err *err)
{
    if (l == NULL || l->state == NULL)
        return weft_err_set(err, WEFT_EINVAL, "query: ledger has no state");
    return ledger__sim_new(l->state, "", true, out, err);
}

static void iter_detach(struct weft_ledger_range_iter *it)
{
    ledger__rscan_close(it->scan);
    it->scan = NULL;
}

void weft_ledger_sim_done(struct weft_ledger_sim *s)
{
    if (s == NULL || s->txn == NULL)
        return;
    for (size_t i = 0; i < s->n_rqs; i++)
        if (s->rqs[i]->it != NULL)
            iter_detach(s->rqs[i]->it);
    ledger__state_read_end(s->st, s->txn);
    s->txn = NULL;
}

static void free_rq(struct sim_rq *rq)
{
    if (rq->it != NULL)
        rq->it->rq = NULL;
    weft_free(rq->ns);
    weft_free(rq->start);
    weft_free(rq->end_req);
    weft_free(rq->end_key);
    ledger__rqhelper_free(&rq->h);
    weft_free(rq);
}

void weft_ledger_sim_free(struct weft_ledger_sim *s)
{
    if (s == NULL)
        return;
    weft_ledger_sim_done(s);
    for (size_t i = 0; i < s->n_nss; i++) {
        struct sim_ns *n = &s->nss[i];
        for (size_t j = 0; j < n->n_reads; j++)
            weft_free(n->reads[j].key);
        for (size_t j = 0; j < n->n_writes; j++) {
            weft_free(n->writes[j].key);
            weft_free(n->writes[j].value);
        }
        for (size_t j = 0; j < n->n_metas; j++) {
            weft_free(n->metas[j].key);
            weft_free(n->metas[j].name);
            weft_free(n->metas[j].value);
        }
        weft_free(n->reads);
        weft_free(n->writes);
        weft_free(n->metas);
        weft_free(n->ns);
    }
    weft_free(s->nss);
    for (size_t i = 0; i < s->n_rqs; i++) {
        if (s->rqs[i]->it != NULL)
            s->rqs[i]->it->sim = NULL;
        free_rq(s->rqs[i]);
    }
    weft_free(s->rqs);
    weft_free(s->txid);
    weft_free(s);
}

static struct sim_ns *get_ns(struct weft_ledger_sim *s, const char *ns)
{
    for (size_t i = 0; i < s->n_nss; i++)
        if (strcmp(s->nss[i].ns, ns) == 0)
            return &s->nss[i];
    if (grow_arr((void **)&s->nss, &s->cap_nss, s->n_nss, sizeof(*s->nss)) != 0)
        return NULL;
    struct sim_ns *n = &s->nss[s->n_nss];
    memset(n, 0, sizeof(*n));
    n->ns = weft_strdup(ns);
    if (n->ns == NULL)
        return NULL;
    s->n_nss++;
    return n;
}

static int check_live(struct weft_ledger_sim *s, const char *ns, struct weft_err *err)
{
    if (s->txn == NULL)
        return weft_err_set(err, WEFT_ESTATE, "sim: simulation already finished");
    if (ns == NULL)
        return weft_err_set(err, WEFT_EINVAL, "sim: namespace missing");
    return 0;
}

static int record_read(struct weft_ledger_sim *s, const char *ns, const char *key, size_t key_len,
                       bool found, const struct weft_ledger_version *ver, struct weft_err *err)
{
    if (s->read_only)
        return 0;
    struct sim_ns *n = get_ns(s, ns);
    if (n == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    for (size_t i = 0; i < n->n_reads; i++) {
        if (key_eq(n->reads[i].key, n->reads[i].key_len, key, key_len)) {
            n->reads[i].has_ver = found;
            n->reads[i].ver = *ver;
            return 0;
        }
    }
    if (grow_arr((void **)&n->reads, &n->cap_reads, n->n_reads, sizeof(*n->reads)) != 0)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    struct sim_read *r = &n->reads[n->n_reads];
    r->key = dupkey(key, key_len);
    if (r->key == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    r->key_len = key_len;
    r->has_ver = found;
    r->ver = *ver;
    n->n_reads++;
    return 0;
}

static int sim_lookup(struct weft_ledger_sim *s, const char *ns, const char *key, size_t key_len,
                      bool *found, struct weft_ledger_version *ver, const uint8_t **value,
                      size_t *value_len, const uint8_t **meta, size_t *meta_len,
                      struct weft_err *err)
{
    int rc = check_live(s, ns, err);
    if (rc != 0)
        return rc;
    rc = ledger__state_get_in(s->st, s->txn, ns, (const uint8_t *)key, key_len, found, ver, value,
                              value_len, meta, meta_len, err);
    if (rc != 0)
        return rc;
    return record_read(s, ns, key, key_len, *found, ver, err);
}

int weft_ledger_sim_get(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, uint8_t **value, size_t *value_len, bool *found,
                        struct weft_ledger_version *ver, struct weft_err *err)
{
    struct weft_ledger_version v;
    const uint8_t *val = NULL, *meta;
    size_t vl = 0, ml;
    bool f;
    int rc = sim_lookup(s, ns, key, key_len, &f, &v, &val, &vl, &meta, &ml, err);
    if (rc != 0)
        return rc;
    *value = NULL;
    *value_len = 0;
    if (f) {
        *value = dupkey(val, vl);
        if (*value == NULL)
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
        *value_len = vl;
    }
    if (found != NULL)
        *found = f;
    if (ver != NULL)
        *ver = v;
    return 0;
}

int weft_ledger_sim_get_metadata(struct weft_ledger_sim *s, const char *ns, const char *key,
                                 size_t key_len, uint8_t **meta, size_t *meta_len,
                                 struct weft_err *err)
{
    struct weft_ledger_version v;
    const uint8_t *val, *m = NULL;
    size_t vl, ml = 0;
    bool f;
    int rc = sim_lookup(s, ns, key, key_len, &f, &v, &val, &vl, &m, &ml, err);
    if (rc != 0)
        return rc;
    *meta = NULL;
    *meta_len = 0;
    if (f && m != NULL && ml > 0) {
        *meta = dupkey(m, ml);
        if (*meta == NULL)
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
        *meta_len = ml;
    }
    return 0;
}

static int write_precheck(struct weft_ledger_sim *s, const char *ns, size_t key_len,
                          struct weft_err *err)
{
    int rc = check_live(s, ns, err);
    if (rc != 0)
        return rc;
    if (s->read_only)
        return weft_err_set(err, WEFT_EPERM, "query executor: writes are not allowed");
    if (s->paged)
        return weft_err_set(err, WEFT_ESTATE,
                            "txid [%s]: transaction has already performed a paginated query, "
                            "writes are not allowed", s->txid);
    size_t max = (size_t)mdb_env_get_maxkeysize(s->st->env);
    if (strlen(ns) + 1 + key_len > max)
        return weft_err_set(err, WEFT_ETOOBIG, "sim: key of %zu bytes too long (limit %zu with "
                            "the namespace)", key_len, max);
    return 0;
}

static int sim_write(struct weft_ledger_sim *s, const char *ns, const char *key, size_t key_len,
                     const uint8_t *value, size_t value_len, struct weft_err *err)
{
    int rc = write_precheck(s, ns, key_len, err);
    if (rc != 0)
        return rc;
    struct sim_ns *n = get_ns(s, ns);
    if (n == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    s->wrote = true;
    struct sim_write *w = NULL;
    for (size_t i = 0; i < n->n_writes; i++)
        if (key_eq(n->writes[i].key, n->writes[i].key_len, key, key_len))
            w = &n->writes[i];
    uint8_t *v = value_len > 0 ? dupkey(value, value_len) : NULL;
    if (value_len > 0 && v == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    if (w == NULL) {
        if (grow_arr((void **)&n->writes, &n->cap_writes, n->n_writes, sizeof(*n->writes)) != 0) {
            weft_free(v);
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
        }
        w = &n->writes[n->n_writes];
        memset(w, 0, sizeof(*w));
        w->key = dupkey(key, key_len);
        if (w->key == NULL) {
            weft_free(v);
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
        }
        w->key_len = key_len;
        n->n_writes++;
    }
    weft_free(w->value);
    w->value = v;
    w->value_len = value_len;
    w->is_delete = value_len == 0;
    return 0;
}

int weft_ledger_sim_put(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, const uint8_t *value, size_t value_len,
                        struct weft_err *err)
{
    return sim_write(s, ns, key, key_len, value, value_len, err);
}

int weft_ledger_sim_del(struct weft_ledger_sim *s, const char *ns, const char *key,
                        size_t key_len, struct weft_err *err)
{
    return sim_write(s, ns, key, key_len, NULL, 0, err);
}

int weft_ledger_sim_put_metadata(struct weft_ledger_sim *s, const char *ns, const char *key,
                                 size_t key_len, const char *name, const uint8_t *value,
                                 size_t value_len, struct weft_err *err)
{
    int rc = write_precheck(s, ns, key_len, err);
    if (rc != 0)
        return rc;
    struct sim_ns *n = get_ns(s, ns);
    if (n == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    s->wrote = true;
    struct sim_meta *m = NULL;
    for (size_t i = 0; i < n->n_metas; i++)
        if (key_eq(n->metas[i].key, n->metas[i].key_len, key, key_len))
            m = &n->metas[i];
    char *nm = name != NULL ? weft_strdup(name) : NULL;
    uint8_t *v = dupkey(value != NULL ? value : (const uint8_t *)"", value_len);
    if ((name != NULL && nm == NULL) || v == NULL) {
        weft_free(nm);
        weft_free(v);
        return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    }
    if (m == NULL) {
        if (grow_arr((void **)&n->metas, &n->cap_metas, n->n_metas, sizeof(*n->metas)) != 0 ||
            (n->metas[n->n_metas].key = dupkey(key, key_len)) == NULL) {
            weft_free(nm);
            weft_free(v);
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
        }
        m = &n->metas[n->n_metas++];
        m->key_len = key_len;
        m->name = NULL;
        m->value = NULL;
    }
    /* Fabric: the new map replaces the key's pending metadata write */
    weft_free(m->name);
    weft_free(m->value);
    m->name = nm;
    m->value = v;
    m->value_len = value_len;
    return 0;
}

/* ---- range queries -------------------------------------------------------------- */

static const uint8_t shim_empty_start[] = {0x01};

static int range_open(struct weft_ledger_sim *s, const char *ns, const char *start,
                      size_t start_len, const char *end, size_t end_len, bool paged,
                      int32_t page_size, unsigned flags, struct weft_ledger_range_iter **out,
                      struct weft_err *err)
{
    int rc = check_live(s, ns, err);
    if (rc != 0)
        return rc;
    if (flags & WEFT_LEDGER_RANGE_SIMPLE) {
        if ((start_len > 0 && (rc = weft_ledger_simple_key_check(start, start_len, err)) != 0) ||
            (end_len > 0 && (rc = weft_ledger_simple_key_check(end, end_len, err)) != 0))
            return rc;
        if (start_len == 0) {
            start = (const char *)shim_empty_start;
            start_len = 1;
        }
    }
    if (paged && !s->read_only && s->wrote)
        return weft_err_set(err, WEFT_ESTATE,
                            "txid [%s]: paginated queries are not supported in a read-write "
                            "transaction", s->txid);
    struct weft_ledger_range_iter *it = weft_calloc(1, sizeof(*it));
    if (it == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
    it->sim = s;
    it->paged = paged;
    it->limit = paged && page_size > 0 ? page_size : 0;
    it->ns = weft_strdup(ns);
    if (it->ns == NULL) {
        weft_free(it);
        return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
    }
    rc = ledger__rscan_open(s->st, s->txn, ns, (const uint8_t *)start, start_len,
                            (const uint8_t *)end, end_len, false, NULL, &it->scan, err);
    if (rc != 0) {
        weft_free(it->ns);
        weft_free(it);
        return rc;
    }
    if (!s->read_only) {
        struct sim_rq *rq = weft_calloc(1, sizeof(*rq));
        if (rq == NULL ||
            grow_arr((void **)&s->rqs, &s->cap_rqs, s->n_rqs, sizeof(*s->rqs)) != 0 ||
            (rq->ns = weft_strdup(ns)) == NULL || (rq->start = dupkey(start, start_len)) == NULL ||
            (rq->end_req = dupkey(end, end_len)) == NULL) {
            if (rq != NULL)
                free_rq(rq);
            ledger__rscan_close(it->scan);
            weft_free(it->ns);
            weft_free(it);
            return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
        }
        rq->start_len = start_len;
        rq->end_req_len = end_len;
        ledger__rqhelper_init(&rq->h, true, WEFT_LEDGER_RANGE_MAX_DEGREE, true);
        rq->it = it;
        it->rq = rq;
        s->rqs[s->n_rqs++] = rq;
    }
    if (paged)
        s->paged = true;
    *out = it;
    return 0;
}

int weft_ledger_sim_range(struct weft_ledger_sim *s, const char *ns, const char *start,
                          size_t start_len, const char *end, size_t end_len, unsigned flags,
                          struct weft_ledger_range_iter **out, struct weft_err *err)
{
    return range_open(s, ns, start, start_len, end, end_len, false, 0, flags, out, err);
}

int weft_ledger_sim_range_paged(struct weft_ledger_sim *s, const char *ns, const char *start,
                                size_t start_len, const char *end, size_t end_len,
                                int32_t page_size, const char *bookmark, size_t bookmark_len,
                                unsigned flags, struct weft_ledger_range_iter **out,
                                struct weft_err *err)
{
    if (bookmark != NULL && bookmark_len > 0) {
        start = bookmark;
        start_len = bookmark_len;
    }
    return range_open(s, ns, start, start_len, end, end_len, true, page_size, flags, out, err);
}

int weft_ledger_sim_range_ckey(struct weft_ledger_sim *s, const char *ns,
                               const char *object_type, const char *const *attrs, size_t n_attrs,
                               struct weft_ledger_range_iter **out, struct weft_err *err)
{
    char *st = NULL, *en = NULL;
    size_t sl = 0, el = 0;
    int rc = weft_ledger_ckey_range(object_type, attrs, n_attrs, &st, &sl, &en, &el, err);
    if (rc == 0)
        rc = range_open(s, ns, st, sl, en, el, false, 0, 0, out, err);
    weft_free(st);
    weft_free(en);
    return rc;
}

static void mark_exhausted(struct weft_ledger_range_iter *it)
{
    it->finished = true;
    if (it->rq != NULL) {
        it->rq->exhausted = true;
        weft_free(it->rq->end_key);
        it->rq->end_key = dupkey(it->rq->end_req, it->rq->end_req_len);
        it->rq->end_key_len = it->rq->end_key != NULL ? it->rq->end_req_len : 0;
    }
}

int weft_ledger_range_next(struct weft_ledger_range_iter *it, struct weft_ledger_kv *kv,
                           struct weft_err *err)
{
    if (it->finished)
        return 0;
    if (it->sim == NULL || it->scan == NULL)
        return weft_err_set(err, WEFT_ESTATE, "range: simulation already finished");
    struct ledger_scan_item item;
    int rc;
    if (it->limit > 0 && it->count >= it->limit) {
        /* page full: peek the next key for the bookmark */
        rc = ledger__rscan_next(it->scan, &item, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            it->next_key = dupkey(item.key, item.key_len);
            if (it->next_key == NULL)
                return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
            it->next_key_len = item.key_len;
            it->has_next_key = true;
        }
        mark_exhausted(it);
        return 0;
    }
    rc = ledger__rscan_next(it->scan, &item, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        mark_exhausted(it);
        return 0;
    }
    it->count++;
    if (it->rq != NULL) {
        if ((rc = ledger__rqhelper_add(&it->rq->h, item.key, item.key_len, &item.ver)) != 0)
            return weft_err_set(err, rc, "range: out of memory");
        weft_free(it->rq->end_key);
        it->rq->end_key = dupkey(item.key, item.key_len);
        if (it->rq->end_key == NULL)
            return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
        it->rq->end_key_len = item.key_len;
    }
    memset(kv, 0, sizeof(*kv));
    kv->ns = it->ns;
    kv->key = item.key;
    kv->key_len = item.key_len;
    kv->value = item.value;
    kv->value_len = item.value_len;
    kv->ver = item.ver;
    return 1;
}

int weft_ledger_range_page_meta(struct weft_ledger_range_iter *it, int32_t *fetched,
                                char **bookmark, size_t *bookmark_len, struct weft_err *err)
{
    if (!it->finished)
        return weft_err_set(err, WEFT_ESTATE, "range: page not fully read");
    *fetched = it->count;
    *bookmark = (char *)dupkey(it->has_next_key ? it->next_key : (const uint8_t *)"",
                               it->has_next_key ? it->next_key_len : 0);
    if (*bookmark == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
    *bookmark_len = it->has_next_key ? it->next_key_len : 0;
    return 0;
}

void weft_ledger_range_free(struct weft_ledger_range_iter *it)
{
    if (it == NULL)
        return;
    if (it->rq != NULL)
        it->rq->it = NULL;
    ledger__rscan_close(it->scan);
    weft_free(it->next_key);
    weft_free(it->ns);
    weft_free(it);
}

/* ---- history ------------------------------------------------------------------- */

int weft_ledger_sim_history(struct weft_ledger_sim *s, const char *ns, const char *key,
                            size_t key_len, bool newest_first,
                            struct weft_ledger_hist_iter **out, struct weft_err *err)
{
    int rc = check_live(s, ns, err);
    if (rc != 0)
        return rc;
    return ledger__history_open(s->st, ns, (const uint8_t *)key, key_len, newest_first, out, err);
}

/* ---- building the TxReadWriteSet ------------------------------------------------- */

static int cmp_read(const void *a, const void *b)
{
    const struct sim_read *x = a, *y = b;
    return bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}
static int cmp_write(const void *a, const void *b)
{
    const struct sim_write *x = a, *y = b;
    return bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}
static int cmp_meta(const void *a, const void *b)
{
    const struct sim_meta *x = a, *y = b;
    return bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}
static int cmp_ns(const void *a, const void *b)
{
    const struct sim_ns *x = a, *y = b;
    return strcmp(x->ns, y->ns);
}

static int put_varint(struct weft_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            c |= 0x80;
        tmp[n++] = c;
    } while (v != 0);
    return weft_buf_append(b, tmp, n);
}

static int put_ld(struct weft_buf *b, uint8_t tag, const void *p, size_t len)
{
    int rc = weft_buf_append(b, &tag, 1);
    if (rc == 0)
        rc = put_varint(b, len);
    if (rc == 0 && len > 0)
        rc = weft_buf_append(b, p, len);
    return rc;
}

/* Finishes every range query into rqinfo entries of namespace ns. */
static int ns_rqinfos(struct weft_ledger_sim *s, const char *ns, struct ledger_rqinfo **out,
                      size_t *n_out)
{
    struct ledger_rqinfo *q = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < s->n_rqs; i++) {
        struct sim_rq *rq = s->rqs[i];
        if (strcmp(rq->ns, ns) != 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            if (key_eq(q[j].start_key.p, q[j].start_key.len, rq->start, rq->start_len) &&
                key_eq(q[j].end_key.p, q[j].end_key.len, rq->end_key, rq->end_key_len) &&
                q[j].itr_exhausted == rq->exhausted)
                dup = true;
        if (dup)
            continue;
        struct ledger_rqinfo *nq = weft_realloc(q, (n + 1) * sizeof(*q));
        if (nq == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        q = nq;
        struct ledger_rqinfo *r = &q[n++];
        memset(r, 0, sizeof(*r));
        r->start_key.p = rq->start;
        r->start_key.len = rq->start_len;
        r->end_key.p = rq->end_key;
        r->end_key.len = rq->end_key_len;
        r->itr_exhausted = rq->exhausted;
        bool merkle;
        if (!rq->h.done_hashing_used) {
            if ((rc = ledger__rqhelper_done(&rq->h, &merkle)) != 0)
                break;
            rq->h.done_hashing_used = true;
            rq->h.hashing = merkle; /* remembers the outcome */
        }
        merkle = rq->h.hashing;
        if (merkle) {
            r->reads_kind = 5;
            r->max_degree = rq->h.max_degree;
            r->max_level = rq->h.max_level;
            size_t nh = rq->h.level_n[rq->h.max_level];
            r->hashes = weft_calloc(nh + 1, sizeof(*r->hashes));
            if (r->hashes == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            for (size_t h = 0; h < nh; h++) {
                r->hashes[h].p = rq->h.levels[rq->h.max_level] + h * 32;
                r->hashes[h].len = 32;
            }
            r->n_hashes = nh;
        } else if (rq->h.n_pending > 0) {
            /* Fabric sets raw reads only when there was at least one result */
            r->reads_kind = 4;
            r->raw = weft_calloc(rq->h.n_pending, sizeof(*r->raw));
            if (r->raw == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            memcpy(r->raw, rq->h.pending, rq->h.n_pending * sizeof(*r->raw));
            r->n_raw = rq->h.n_pending;
        }
    }
    if (rc != 0) {
        for (size_t j = 0; j < n; j++) {
            weft_free(q[j].raw);
            weft_free(q[j].hashes);
        }
        weft_free(q);
        return rc;
    }
    *out = q;
    *n_out = n;
    return 0;
}

static int ns_kvrwset(struct weft_ledger_sim *s, struct sim_ns *n, struct weft_buf *b)
{
    struct ledger_kvrwset kv = {0};
    int rc = 0;
    if (n->n_reads > 1)
        qsort(n->reads, n->n_reads, sizeof(*n->reads), cmp_read);
    if (n->n_writes > 1)
        qsort(n->writes, n->n_writes, sizeof(*n->writes), cmp_write);
    if (n->n_metas > 1)
        qsort(n->metas, n->n_metas, sizeof(*n->metas), cmp_meta);
    kv.reads = weft_calloc(n->n_reads + 1, sizeof(*kv.reads));
    kv.writes = weft_calloc(n->n_writes + 1, sizeof(*kv.writes));
    kv.mwrites = weft_calloc(n->n_metas + 1, sizeof(*kv.mwrites));
    struct ledger_kvmeta_entry *ents = weft_calloc(n->n_metas + 1, sizeof(*ents));
    if (kv.reads == NULL || kv.writes == NULL || kv.mwrites == NULL || ents == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n->n_reads; i++) {
        kv.reads[i].key.p = n->reads[i].key;
        kv.reads[i].key.len = n->reads[i].key_len;
        kv.reads[i].has_version = n->reads[i].has_ver;
        kv.reads[i].ver = n->reads[i].ver;
    }
    kv.n_reads = n->n_reads;
    if ((rc = ns_rqinfos(s, n->ns, &kv.rqs, &kv.n_rqs)) != 0)
        goto out;
    for (size_t i = 0; i < n->n_writes; i++) {
        kv.writes[i].key.p = n->writes[i].key;
        kv.writes[i].key.len = n->writes[i].key_len;
        kv.writes[i].is_delete = n->writes[i].is_delete;
        kv.writes[i].value.p = n->writes[i].value;
        kv.writes[i].value.len = n->writes[i].value_len;
    }
    kv.n_writes = n->n_writes;
    for (size_t i = 0; i < n->n_metas; i++) {
        kv.mwrites[i].key.p = n->metas[i].key;
        kv.mwrites[i].key.len = n->metas[i].key_len;
        if (n->metas[i].name != NULL) {
            ents[i].name.p = (const uint8_t *)n->metas[i].name;
            ents[i].name.len = strlen(n->metas[i].name);
            ents[i].value.p = n->metas[i].value;
            ents[i].value.len = n->metas[i].value_len;
            kv.mwrites[i].entries = &ents[i];
            kv.mwrites[i].n_entries = 1;
        }
    }
    kv.n_mwrites = n->n_metas;
    rc = ledger__kvrwset_encode(&kv, b);
out:
    for (size_t j = 0; j < kv.n_rqs; j++) {
        weft_free(kv.rqs[j].raw);
        weft_free(kv.rqs[j].hashes);
    }
    weft_free(kv.rqs);
    weft_free(kv.reads);
    weft_free(kv.writes);
    weft_free(kv.mwrites);
    weft_free(ents);
    return rc;
}

int weft_ledger_sim_rwset(struct weft_ledger_sim *s, uint8_t **out, size_t *out_len,
                          struct weft_err *err)
{
    if (s->read_only)
        return weft_err_set(err, WEFT_EINVAL, "query executor: no read/write set");
    weft_ledger_sim_done(s);
    /* namespaces that only have range queries */
    for (size_t i = 0; i < s->n_rqs; i++)
        if (get_ns(s, s->rqs[i]->ns) == NULL)
            return weft_err_set(err, WEFT_ENOMEM, "sim: out of memory");
    if (s->n_nss > 1)
        qsort(s->nss, s->n_nss, sizeof(*s->nss), cmp_ns);
    struct weft_buf tx, ns, kv;
    weft_buf_init(&tx, SIM_LIMIT);
    weft_buf_init(&ns, SIM_LIMIT);
    weft_buf_init(&kv, SIM_LIMIT);
    int rc = 0;
    /* TxReadWriteSet{data_model = KV (0, omitted), ns_rwset = 2} */
    for (size_t i = 0; i < s->n_nss && rc == 0; i++) {
        weft_buf_reset(&ns);
        weft_buf_reset(&kv);
        rc = ns_kvrwset(s, &s->nss[i], &kv);
        size_t nl = strlen(s->nss[i].ns);
        if (rc == 0 && nl > 0)
            rc = put_ld(&ns, 0x0a, s->nss[i].ns, nl);
        if (rc == 0 && kv.len > 0)
            rc = put_ld(&ns, 0x12, kv.data, kv.len);
        if (rc == 0)
            rc = put_ld(&tx, 0x12, ns.data, ns.len);
    }
    weft_buf_close(&ns);
    weft_buf_close(&kv);
    if (rc == 0 && tx.data == NULL)
        rc = weft_buf_reserve(&tx, 1);
    if (rc != 0) {
        weft_buf_close(&tx);
        return weft_err_set(err, rc, "sim: cannot build the read/write set");
    }
    *out = weft_buf_steal(&tx, out_len);
    return 0;
}
