/*
 * _lifecycle state access: the read/write-set builder, Fabric's lifecycle
 * serializer and the local private-data store (see lifecycle_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "lifecycle_int.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "peer/lifecycle/db.pb-c.h"
#include "weft/crypto.h"
#include "weft/ledger.h"

/* ---- rwset builder -------------------------------------------------------------- */

struct lc_ent {
    char *key;
    uint8_t *val; /* writes: value (private value for a collection) */
    size_t len;
    bool has_ver; /* reads: key existed */
    struct weft_ledger_version ver;
    bool del;
};

struct lc_list {
    struct lc_ent *v;
    size_t n, cap;
};

struct lc_coll {
    char *name;
    struct lc_list reads, writes;
};

struct lc_nsrw {
    char *name;
    struct lc_list reads, writes;
    struct lc_coll *colls;
    size_t n_colls;
};

#define LC_MAX_NS 4

struct lc_tx {
    struct weft_ledger_sim *qe;
    const char *fs_path, *channel;
    struct lc_nsrw ns[LC_MAX_NS];
    size_t n_ns;
};

static void list_clear(struct lc_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        weft_free(l->v[i].key);
        weft_free(l->v[i].val);
    }
    weft_free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Finds key or appends an empty entry for it. */
static struct lc_ent *list_slot(struct lc_list *l, const char *key, bool *existed)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].key, key) == 0) {
            *existed = true;
            return &l->v[i];
        }
    }
    *existed = false;
    if (l->n == l->cap) {
        size_t nc = l->cap == 0 ? 8 : l->cap * 2;
        struct lc_ent *nv = weft_realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            return NULL;
        }
        l->v = nv;
        l->cap = nc;
    }
    struct lc_ent *e = &l->v[l->n];
    memset(e, 0, sizeof(*e));
    e->key = weft_strdup(key);
    if (e->key == NULL) {
        return NULL;
    }
    l->n++;
    return e;
}

int lc_tx_new(struct weft_ledger *ledger, const char *fs_path, const char *channel,
              struct lc_tx **out, struct weft_err *err)
{
    struct lc_tx *tx = weft_calloc(1, sizeof(*tx));
    if (tx == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    tx->fs_path = fs_path;
    tx->channel = channel;
    int rc = weft_ledger_qe_new(ledger, &tx->qe, err);
    if (rc != 0) {
        weft_free(tx);
        return rc;
    }
    *out = tx;
    return 0;
}

void lc_tx_free(struct lc_tx *tx)
{
    if (tx == NULL) {
        return;
    }
    for (size_t i = 0; i < tx->n_ns; i++) {
        struct lc_nsrw *n = &tx->ns[i];
        list_clear(&n->reads);
        list_clear(&n->writes);
        for (size_t c = 0; c < n->n_colls; c++) {
            list_clear(&n->colls[c].reads);
            list_clear(&n->colls[c].writes);
            weft_free(n->colls[c].name);
        }
        weft_free(n->colls);
        weft_free(n->name);
    }
    weft_ledger_sim_free(tx->qe);
    weft_free(tx);
}

static struct lc_nsrw *ns_get(struct lc_tx *tx, const char *ns)
{
    for (size_t i = 0; i < tx->n_ns; i++) {
        if (strcmp(tx->ns[i].name, ns) == 0) {
            return &tx->ns[i];
        }
    }
    if (tx->n_ns == LC_MAX_NS) {
        return NULL;
    }
    struct lc_nsrw *n = &tx->ns[tx->n_ns];
    memset(n, 0, sizeof(*n));
    n->name = weft_strdup(ns);
    if (n->name == NULL) {
        return NULL;
    }
    tx->n_ns++;
    return n;
}

static struct lc_coll *coll_get(struct lc_tx *tx, const char *coll)
{
    struct lc_nsrw *n = ns_get(tx, LC_NS);
    if (n == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n->n_colls; i++) {
        if (strcmp(n->colls[i].name, coll) == 0) {
            return &n->colls[i];
        }
    }
    struct lc_coll *nc = weft_realloc(n->colls, (n->n_colls + 1) * sizeof(*nc));
    if (nc == NULL) {
        return NULL;
    }
    n->colls = nc;
    struct lc_coll *c = &nc[n->n_colls];
    memset(c, 0, sizeof(*c));
    c->name = weft_strdup(coll);
    if (c->name == NULL) {
        return NULL;
    }
    n->n_colls++;
    return c;
}

static int record_read(struct lc_list *l, const char *key, bool found,
                       const struct weft_ledger_version *ver)
{
    bool existed;
    struct lc_ent *e = list_slot(l, key, &existed);
    if (e == NULL) {
        return WEFT_ENOMEM;
    }
    if (!existed) {
        e->has_ver = found;
        e->ver = *ver;
    }
    return 0;
}

int lc_read_ns(struct lc_tx *tx, const char *ns, const char *key, bool *found,
               struct weft_err *err)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    struct weft_ledger_version ver = {0, 0};
    int rc = weft_ledger_sim_get(tx->qe, ns, key, strlen(key), &v, &vl, found, &ver, err);
    weft_free(v);
    if (rc != 0) {
        return rc;
    }
    struct lc_nsrw *n = ns_get(tx, ns);
    if (n == NULL || record_read(&n->reads, key, *found, &ver) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

/* Hashed state namespace of a collection: "<ns>$$h<coll>". */
static void hashed_ns(const char *coll, char *out, size_t cap)
{
    snprintf(out, cap, "%s$$h%s", LC_NS, coll);
}

int lc_get_hash(struct lc_tx *tx, const char *coll, const char *key, uint8_t hash[32],
                bool *found, struct weft_err *err)
{
    char hns[300];
    uint8_t kh[32];
    uint8_t *v = NULL;
    size_t vl = 0;
    struct weft_ledger_version ver = {0, 0};
    hashed_ns(coll, hns, sizeof(hns));
    weft_sha256(key, strlen(key), kh);
    int rc = weft_ledger_sim_get(tx->qe, hns, (const char *)kh, sizeof(kh), &v, &vl, found, &ver,
                                 err);
    if (rc != 0) {
        return rc;
    }
    if (*found && vl == 32) {
        memcpy(hash, v, 32);
    } else {
        *found = false;
    }
    weft_free(v);
    struct lc_coll *c = coll_get(tx, coll);
    if (c == NULL || record_read(&c->reads, key, *found, &ver) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

static char *pvt_path(const struct lc_tx *tx, const char *coll, const uint8_t kh[32],
                      const uint8_t vh[32])
{
    char khex[65], vhex[65];
    weft_crypto_hex(kh, 32, khex);
    weft_crypto_hex(vh, 32, vhex);
    return weft_asprintf("%s/lifecycle/private/%s/%s/%s-%s", tx->fs_path, tx->channel, coll,
                         khex, vhex);
}

static int read_small_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? WEFT_ENOTFOUND : WEFT_EIO;
    }
    struct weft_buf b;
    weft_buf_init(&b, 64u << 20);
    uint8_t chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
    }
    if (rc == 0 && ferror(f)) {
        rc = WEFT_EIO;
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *len = b.len;
    *out = weft_malloc(b.len > 0 ? b.len : 1);
    if (*out == NULL) {
        weft_buf_close(&b);
        return WEFT_ENOMEM;
    }
    if (b.len > 0) {
        memcpy(*out, b.data, b.len);
    }
    weft_buf_close(&b);
    return 0;
}

int lc_get(struct lc_tx *tx, const char *coll, const char *key, uint8_t **val, size_t *len,
           bool *found, struct weft_err *err)
{
    *val = NULL;
    *len = 0;
    if (coll == NULL) {
        struct weft_ledger_version ver = {0, 0};
        int rc = weft_ledger_sim_get(tx->qe, LC_NS, key, strlen(key), val, len, found, &ver, err);
        if (rc != 0) {
            return rc;
        }
        struct lc_nsrw *n = ns_get(tx, LC_NS);
        if (n == NULL || record_read(&n->reads, key, *found, &ver) != 0) {
            weft_free(*val);
            *val = NULL;
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        return 0;
    }
    uint8_t vh[32], kh[32];
    int rc = lc_get_hash(tx, coll, key, vh, found, err);
    if (rc != 0 || !*found) {
        return rc;
    }
    weft_sha256(key, strlen(key), kh);
    char *path = pvt_path(tx, coll, kh, vh);
    if (path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    rc = read_small_file(path, val, len);
    weft_free(path);
    if (rc == WEFT_ENOTFOUND) {
        /* the hash is committed but this peer did not endorse the approval */
        *found = false;
        return 0;
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "private data of %s: %s", key, weft_strerror(rc));
    }
    return 0;
}

static int record_write(struct lc_tx *tx, const char *coll, const char *key, const uint8_t *val,
                        size_t len, bool del, struct weft_err *err)
{
    struct lc_list *l;
    if (coll == NULL) {
        struct lc_nsrw *n = ns_get(tx, LC_NS);
        l = n != NULL ? &n->writes : NULL;
    } else {
        struct lc_coll *c = coll_get(tx, coll);
        l = c != NULL ? &c->writes : NULL;
    }
    bool existed;
    struct lc_ent *e = l != NULL ? list_slot(l, key, &existed) : NULL;
    if (e == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    weft_free(e->val);
    e->val = NULL;
    e->len = 0;
    e->del = del;
    if (!del) {
        e->val = weft_malloc(len > 0 ? len : 1);
        if (e->val == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        if (len > 0) {
            memcpy(e->val, val, len);
        }
        e->len = len;
    }
    return 0;
}

int lc_put(struct lc_tx *tx, const char *coll, const char *key, const uint8_t *val, size_t len,
           struct weft_err *err)
{
    return record_write(tx, coll, key, val, len, false, err);
}

int lc_del(struct lc_tx *tx, const char *coll, const char *key, struct weft_err *err)
{
    return record_write(tx, coll, key, NULL, 0, true, err);
}

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lc_ent *)a)->key, ((const struct lc_ent *)b)->key);
}

static int coll_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lc_coll *)a)->name, ((const struct lc_coll *)b)->name);
}

static int nsrw_cmp(const void *a, const void *b)
{
    return strcmp(((const struct lc_nsrw *)a)->name, ((const struct lc_nsrw *)b)->name);
}

static void sort_n(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) {
        qsort(v, n, size, cmp);
    }
}

static void sort_all(struct lc_tx *tx)
{
    sort_n(tx->ns, tx->n_ns, sizeof(tx->ns[0]), nsrw_cmp);
    for (size_t i = 0; i < tx->n_ns; i++) {
        struct lc_nsrw *n = &tx->ns[i];
        sort_n(n->reads.v, n->reads.n, sizeof(struct lc_ent), ent_cmp);
        sort_n(n->writes.v, n->writes.n, sizeof(struct lc_ent), ent_cmp);
        sort_n(n->colls, n->n_colls, sizeof(struct lc_coll), coll_cmp);
        for (size_t c = 0; c < n->n_colls; c++) {
            sort_n(n->colls[c].reads.v, n->colls[c].reads.n, sizeof(struct lc_ent), ent_cmp);
            sort_n(n->colls[c].writes.v, n->colls[c].writes.n, sizeof(struct lc_ent), ent_cmp);
        }
    }
}

static uint8_t *pack_alloc(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len > 0 ? *len : 1);
    if (b != NULL) {
        protobuf_c_message_pack(m, b);
    }
    return b;
}

/* ser(KVRWSet{reads, writes}) of a public namespace. */
static uint8_t *pack_kvrwset(const struct lc_list *reads, const struct lc_list *writes,
                             size_t *len)
{
    size_t nr = reads->n, nw = writes->n;
    Kvrwset__KVRead *r = weft_calloc(nr + 1, sizeof(*r));
    Kvrwset__KVRead **rp = weft_calloc(nr + 1, sizeof(*rp));
    Kvrwset__Version *v = weft_calloc(nr + 1, sizeof(*v));
    Kvrwset__KVWrite *w = weft_calloc(nw + 1, sizeof(*w));
    Kvrwset__KVWrite **wp = weft_calloc(nw + 1, sizeof(*wp));
    uint8_t *out = NULL;
    if (r == NULL || rp == NULL || v == NULL || w == NULL || wp == NULL) {
        goto done;
    }
    for (size_t i = 0; i < nr; i++) {
        kvrwset__kvread__init(&r[i]);
        r[i].key = reads->v[i].key;
        if (reads->v[i].has_ver) {
            kvrwset__version__init(&v[i]);
            v[i].block_num = reads->v[i].ver.block_num;
            v[i].tx_num = reads->v[i].ver.tx_num;
            r[i].version = &v[i];
        }
        rp[i] = &r[i];
    }
    for (size_t i = 0; i < nw; i++) {
        kvrwset__kvwrite__init(&w[i]);
        w[i].key = writes->v[i].key;
        w[i].is_delete = writes->v[i].del;
        w[i].value.data = writes->v[i].val;
        w[i].value.len = writes->v[i].len;
        wp[i] = &w[i];
    }
    Kvrwset__KVRWSet kv = KVRWSET__KVRWSET__INIT;
    kv.n_reads = nr;
    kv.reads = rp;
    kv.n_writes = nw;
    kv.writes = wp;
    out = pack_alloc(&kv.base, len);
done:
    weft_free(r);
    weft_free(rp);
    weft_free(v);
    weft_free(w);
    weft_free(wp);
    return out;
}

/* ser(HashedRWSet) of a collection; *pvt_hash (has_pvt) = SHA-256 of the
 * private KVRWSet{writes} when there are writes. */
static uint8_t *pack_hashed(const struct lc_coll *c, size_t *len, uint8_t pvt_hash[32],
                            bool *has_pvt)
{
    size_t nr = c->reads.n, nw = c->writes.n;
    Kvrwset__KVReadHash *r = weft_calloc(nr + 1, sizeof(*r));
    Kvrwset__KVReadHash **rp = weft_calloc(nr + 1, sizeof(*rp));
    Kvrwset__Version *v = weft_calloc(nr + 1, sizeof(*v));
    Kvrwset__KVWriteHash *w = weft_calloc(nw + 1, sizeof(*w));
    Kvrwset__KVWriteHash **wp = weft_calloc(nw + 1, sizeof(*wp));
    uint8_t(*kh)[32] = weft_calloc(nr + nw + 1, 32);
    uint8_t(*vh)[32] = weft_calloc(nw + 1, 32);
    uint8_t *out = NULL;
    *has_pvt = false;
    if (r == NULL || rp == NULL || v == NULL || w == NULL || wp == NULL || kh == NULL ||
        vh == NULL) {
        goto done;
    }
    for (size_t i = 0; i < nr; i++) {
        kvrwset__kvread_hash__init(&r[i]);
        weft_sha256(c->reads.v[i].key, strlen(c->reads.v[i].key), kh[i]);
        r[i].key_hash.data = kh[i];
        r[i].key_hash.len = 32;
        if (c->reads.v[i].has_ver) {
            kvrwset__version__init(&v[i]);
            v[i].block_num = c->reads.v[i].ver.block_num;
            v[i].tx_num = c->reads.v[i].ver.tx_num;
            r[i].version = &v[i];
        }
        rp[i] = &r[i];
    }
    for (size_t i = 0; i < nw; i++) {
        const struct lc_ent *e = &c->writes.v[i];
        kvrwset__kvwrite_hash__init(&w[i]);
        weft_sha256(e->key, strlen(e->key), kh[nr + i]);
        w[i].key_hash.data = kh[nr + i];
        w[i].key_hash.len = 32;
        w[i].is_delete = e->del;
        if (!e->del) {
            weft_sha256(e->val, e->len, vh[i]);
            w[i].value_hash.data = vh[i];
            w[i].value_hash.len = 32;
        }
        wp[i] = &w[i];
    }
    Kvrwset__HashedRWSet hs = KVRWSET__HASHED_RWSET__INIT;
    hs.n_hashed_reads = nr;
    hs.hashed_reads = rp;
    hs.n_hashed_writes = nw;
    hs.hashed_writes = wp;
    out = pack_alloc(&hs.base, len);
    if (out != NULL && nw > 0) {
        struct lc_list none = {0};
        size_t pl = 0;
        uint8_t *pvt = pack_kvrwset(&none, &c->writes, &pl);
        if (pvt == NULL) {
            weft_free(out);
            out = NULL;
            goto done;
        }
        weft_sha256(pvt, pl, pvt_hash);
        weft_free(pvt);
        *has_pvt = true;
    }
done:
    weft_free(r);
    weft_free(rp);
    weft_free(v);
    weft_free(w);
    weft_free(wp);
    weft_free(kh);
    weft_free(vh);
    return out;
}

int lc_tx_rwset(struct lc_tx *tx, uint8_t **out, size_t *out_len, struct weft_err *err)
{
    sort_all(tx);
    Rwset__NsReadWriteSet ns[LC_MAX_NS];
    Rwset__NsReadWriteSet *nsp[LC_MAX_NS];
    Rwset__CollectionHashedReadWriteSet *chs[LC_MAX_NS] = {0};
    Rwset__CollectionHashedReadWriteSet **chp[LC_MAX_NS] = {0};
    uint8_t(*ph[LC_MAX_NS])[32] = {0};
    int rc = 0;
    for (size_t i = 0; i < tx->n_ns; i++) {
        ns[i] = (Rwset__NsReadWriteSet)RWSET__NS_READ_WRITE_SET__INIT;
    }
    for (size_t i = 0; i < tx->n_ns && rc == 0; i++) {
        struct lc_nsrw *n = &tx->ns[i];
        ns[i].namespace_ = n->name;
        ns[i].rwset.data = pack_kvrwset(&n->reads, &n->writes, &ns[i].rwset.len);
        nsp[i] = &ns[i];
        if (ns[i].rwset.data == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        if (n->n_colls == 0) {
            continue;
        }
        chs[i] = weft_calloc(n->n_colls, sizeof(*chs[i]));
        chp[i] = weft_calloc(n->n_colls, sizeof(*chp[i]));
        ph[i] = weft_calloc(n->n_colls, 32);
        if (chs[i] == NULL || chp[i] == NULL || ph[i] == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        ns[i].n_collection_hashed_rwset = n->n_colls;
        ns[i].collection_hashed_rwset = chp[i];
        for (size_t c = 0; c < n->n_colls; c++) {
            rwset__collection_hashed_read_write_set__init(&chs[i][c]);
            chp[i][c] = &chs[i][c];
            chs[i][c].collection_name = n->colls[c].name;
            bool has_pvt = false;
            chs[i][c].hashed_rwset.data =
                pack_hashed(&n->colls[c], &chs[i][c].hashed_rwset.len, ph[i][c], &has_pvt);
            if (chs[i][c].hashed_rwset.data == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            if (has_pvt) {
                chs[i][c].pvt_rwset_hash.data = ph[i][c];
                chs[i][c].pvt_rwset_hash.len = 32;
            }
        }
    }
    if (rc == 0) {
        Rwset__TxReadWriteSet t = RWSET__TX_READ_WRITE_SET__INIT;
        t.data_model = RWSET__TX_READ_WRITE_SET__DATA_MODEL__KV;
        t.n_ns_rwset = tx->n_ns;
        t.ns_rwset = nsp;
        *out = pack_alloc(&t.base, out_len);
        if (*out == NULL) {
            rc = WEFT_ENOMEM;
        }
    }
    for (size_t i = 0; i < tx->n_ns; i++) {
        weft_free(ns[i].rwset.data);
        for (size_t c = 0; chs[i] != NULL && c < tx->ns[i].n_colls; c++) {
            weft_free(chs[i][c].hashed_rwset.data);
        }
        weft_free(chs[i]);
        weft_free(chp[i]);
        weft_free(ph[i]);
    }
    return rc == 0 ? 0 : weft_err_set(err, rc, "build rwset: %s", weft_strerror(rc));
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p != 0; p++) {
        if (*p == '/') {
            *p = 0;
            int r = mkdir(path, 0750);
            *p = '/';
            if (r != 0 && errno != EEXIST) {
                return WEFT_EIO;
            }
        }
    }
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        return WEFT_EIO;
    }
    return 0;
}

int lc_tx_save_private(struct lc_tx *tx, struct weft_err *err)
{
    struct lc_nsrw *n = NULL;
    for (size_t i = 0; i < tx->n_ns; i++) {
        if (strcmp(tx->ns[i].name, LC_NS) == 0) {
            n = &tx->ns[i];
        }
    }
    for (size_t c = 0; n != NULL && c < n->n_colls; c++) {
        const struct lc_coll *cl = &n->colls[c];
        char *dir = weft_asprintf("%s/lifecycle/private/%s/%s", tx->fs_path, tx->channel,
                                  cl->name);
        if (dir == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        int rc = cl->writes.n > 0 ? mkdirs(dir) : 0;
        weft_free(dir);
        if (rc != 0) {
            return weft_err_set(err, rc, "private store of %s: cannot create folder", cl->name);
        }
        for (size_t w = 0; w < cl->writes.n; w++) {
            const struct lc_ent *e = &cl->writes.v[w];
            if (e->del) {
                continue;
            }
            uint8_t kh[32], vh[32];
            weft_sha256(e->key, strlen(e->key), kh);
            weft_sha256(e->val, e->len, vh);
            char *path = pvt_path(tx, cl->name, kh, vh);
            char *tmp = path != NULL ? weft_asprintf("%s.tmp", path) : NULL;
            if (tmp == NULL) {
                weft_free(path);
                return weft_err_set(err, WEFT_ENOMEM, "out of memory");
            }
            FILE *f = fopen(tmp, "wb");
            rc = f == NULL ? WEFT_EIO : 0;
            if (rc == 0 && e->len > 0 && fwrite(e->val, 1, e->len, f) != e->len) {
                rc = WEFT_EIO;
            }
            if (f != NULL && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
                rc = WEFT_EIO;
            }
            if (f != NULL && fclose(f) != 0) {
                rc = WEFT_EIO;
            }
            if (rc == 0 && rename(tmp, path) != 0) {
                rc = WEFT_EIO;
            }
            if (rc != 0) {
                unlink(tmp);
                weft_err_set(err, rc, "private store: cannot write %s", path);
            }
            weft_free(tmp);
            weft_free(path);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- serializer ------------------------------------------------------------------ */

static uint8_t *pack_field(const struct lc_field *f, size_t *len)
{
    Lifecycle__StateData sd = LIFECYCLE__STATE_DATA__INIT;
    switch (f->kind) {
    case LC_INT64:
        sd.type_case = LIFECYCLE__STATE_DATA__TYPE_INT64;
        sd.int64 = f->i;
        break;
    case LC_BYTES:
        sd.type_case = LIFECYCLE__STATE_DATA__TYPE_BYTES;
        sd.bytes.data = (uint8_t *)(uintptr_t)f->b;
        sd.bytes.len = f->len;
        break;
    case LC_STRING:
    default: {
        sd.type_case = LIFECYCLE__STATE_DATA__TYPE_STRING;
        char *s = weft_malloc(f->len + 1);
        if (s == NULL) {
            return NULL;
        }
        if (f->len > 0) {
            memcpy(s, f->b, f->len);
        }
        s[f->len] = 0;
        sd.string = s;
        uint8_t *out = pack_alloc(&sd.base, len);
        weft_free(s);
        return out;
    }
    }
    return pack_alloc(&sd.base, len);
}

static uint8_t *pack_meta(const struct lc_obj *obj, size_t *len)
{
    char *names[4];
    for (size_t i = 0; i < obj->n; i++) {
        names[i] = (char *)obj->f[i].name;
    }
    Lifecycle__StateMetadata md = LIFECYCLE__STATE_METADATA__INIT;
    md.datatype = (char *)obj->datatype;
    md.n_fields = obj->n;
    md.fields = names;
    return pack_alloc(&md.base, len);
}

static char *field_key(const char *prefix, const char *name, const char *field)
{
    return weft_asprintf("%s/fields/%s/%s", prefix, name, field);
}

static char *meta_key(const char *prefix, const char *name)
{
    return weft_asprintf("%s/metadata/%s", prefix, name);
}

static bool same(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

int lc_serialize(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                 const struct lc_obj *obj, struct weft_err *err)
{
    char *mk = meta_key(prefix, name);
    uint8_t *mv = NULL, *nm = NULL;
    size_t ml = 0, nml = 0;
    bool found = false;
    Lifecycle__StateMetadata *old = NULL;
    int rc = mk == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                        : lc_get(tx, coll, mk, &mv, &ml, &found, err);
    if (rc != 0) {
        goto out;
    }
    if (found) {
        old = lifecycle__state_metadata__unpack(NULL, ml, mv);
        if (old == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "%s: malformed StateMetadata", mk);
            goto out;
        }
    }
    /* existing field keys: read them (they enter the rwset), keep equal ones */
    bool keep[4] = {false, false, false, false};
    for (size_t i = 0; old != NULL && i < old->n_fields && rc == 0; i++) {
        char *fk = field_key(prefix, name, old->fields[i]);
        uint8_t *fv = NULL;
        size_t fl = 0;
        bool ff = false;
        rc = fk == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                        : lc_get(tx, coll, fk, &fv, &fl, &ff, err);
        size_t j = 0;
        while (rc == 0 && j < obj->n && strcmp(obj->f[j].name, old->fields[i]) != 0) {
            j++;
        }
        if (rc == 0 && j == obj->n) {
            rc = lc_del(tx, coll, fk, err); /* stale field */
        } else if (rc == 0 && ff) {
            size_t nl = 0;
            uint8_t *nv = pack_field(&obj->f[j], &nl);
            if (nv == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            } else {
                keep[j] = same(nv, nl, fv, fl);
            }
            weft_free(nv);
        }
        weft_free(fv);
        weft_free(fk);
    }
    for (size_t j = 0; j < obj->n && rc == 0; j++) {
        if (keep[j]) {
            continue;
        }
        size_t nl = 0;
        uint8_t *nv = pack_field(&obj->f[j], &nl);
        char *fk = field_key(prefix, name, obj->f[j].name);
        rc = nv == NULL || fk == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                                      : lc_put(tx, coll, fk, nv, nl, err);
        weft_free(nv);
        weft_free(fk);
    }
    if (rc != 0) {
        goto out;
    }
    nm = pack_meta(obj, &nml);
    if (nm == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    if (!found || !same(nm, nml, mv, ml)) {
        rc = lc_put(tx, coll, mk, nm, nml, err);
    }
out:
    lifecycle__state_metadata__free_unpacked(old, NULL);
    weft_free(nm);
    weft_free(mv);
    weft_free(mk);
    return rc;
}

int lc_is_serialized(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                     const struct lc_obj *obj, bool *yes, struct weft_err *err)
{
    *yes = true;
    int rc = 0;
    for (size_t j = 0; j <= obj->n && rc == 0; j++) {
        size_t vl = 0;
        uint8_t *v = j < obj->n ? pack_field(&obj->f[j], &vl) : pack_meta(obj, &vl);
        char *k = j < obj->n ? field_key(prefix, name, obj->f[j].name) : meta_key(prefix, name);
        uint8_t want[32], got[32];
        bool found = false;
        if (v == NULL || k == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        } else {
            weft_sha256(v, vl, want);
            rc = lc_get_hash(tx, coll, k, got, &found, err);
            if (rc == 0 && (!found || memcmp(want, got, 32) != 0)) {
                *yes = false;
            }
        }
        weft_free(v);
        weft_free(k);
    }
    return rc;
}

int lc_metadata(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                char **datatype, struct weft_err *err)
{
    char *mk = meta_key(prefix, name);
    uint8_t *mv = NULL;
    size_t ml = 0;
    bool found = false;
    *datatype = NULL;
    int rc = mk == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                        : lc_get(tx, coll, mk, &mv, &ml, &found, err);
    if (rc == 0 && found) {
        Lifecycle__StateMetadata *md = lifecycle__state_metadata__unpack(NULL, ml, mv);
        if (md == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "%s: malformed StateMetadata", mk);
        } else {
            *datatype = weft_strdup(md->datatype);
            rc = *datatype == NULL ? WEFT_ENOMEM : 0;
            lifecycle__state_metadata__free_unpacked(md, NULL);
        }
    }
    weft_free(mv);
    weft_free(mk);
    return rc;
}

int lc_field_get(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                 const char *field, enum lc_kind *kind, int64_t *i, uint8_t **b, size_t *len,
                 struct weft_err *err)
{
    char *fk = field_key(prefix, name, field);
    uint8_t *v = NULL;
    size_t vl = 0;
    bool found = false;
    *kind = 0;
    *i = 0;
    *b = NULL;
    *len = 0;
    int rc = fk == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                        : lc_get(tx, coll, fk, &v, &vl, &found, err);
    if (rc == 0 && found) {
        Lifecycle__StateData *sd = lifecycle__state_data__unpack(NULL, vl, v);
        if (sd == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "%s: malformed StateData", fk);
        } else {
            switch (sd->type_case) {
            case LIFECYCLE__STATE_DATA__TYPE_INT64:
                *kind = LC_INT64;
                *i = sd->int64;
                break;
            case LIFECYCLE__STATE_DATA__TYPE_BYTES:
                *kind = LC_BYTES;
                *b = weft_malloc(sd->bytes.len + 1);
                if (*b != NULL && sd->bytes.len > 0) {
                    memcpy(*b, sd->bytes.data, sd->bytes.len);
                }
                *len = sd->bytes.len;
                break;
            case LIFECYCLE__STATE_DATA__TYPE_STRING:
                *kind = LC_STRING;
                *b = (uint8_t *)weft_strdup(sd->string);
                *len = strlen(sd->string);
                break;
            default:
                break;
            }
            if (*kind >= LC_BYTES && *b == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            }
            lifecycle__state_data__free_unpacked(sd, NULL);
        }
    }
    weft_free(v);
    weft_free(fk);
    return rc;
}

/* ---- definitions -------------------------------------------------------------------- */

void lc_def_clear(struct lc_def *d)
{
    weft_free(d->version);
    weft_free(d->endorsement_plugin);
    weft_free(d->validation_plugin);
    weft_free(d->validation_parameter);
    weft_free(d->collections);
    weft_free(d->_ei);
    weft_free(d->_vi);
    memset(d, 0, sizeof(*d));
}

int lc_def_objects(struct lc_def *d, struct lc_obj *definition, struct lc_obj *parameters)
{
    weft_free(d->_ei);
    weft_free(d->_vi);
    Lifecycle__ChaincodeEndorsementInfo ei = LIFECYCLE__CHAINCODE_ENDORSEMENT_INFO__INIT;
    ei.version = d->version != NULL ? d->version : (char *)"";
    ei.init_required = d->init_required;
    ei.endorsement_plugin = d->endorsement_plugin != NULL ? d->endorsement_plugin : (char *)"";
    Lifecycle__ChaincodeValidationInfo vi = LIFECYCLE__CHAINCODE_VALIDATION_INFO__INIT;
    vi.validation_plugin = d->validation_plugin != NULL ? d->validation_plugin : (char *)"";
    vi.validation_parameter.data = d->validation_parameter;
    vi.validation_parameter.len = d->validation_parameter_len;
    d->_ei = pack_alloc(&ei.base, &d->_ei_len);
    d->_vi = pack_alloc(&vi.base, &d->_vi_len);
    if (d->_ei == NULL || d->_vi == NULL) {
        return WEFT_ENOMEM;
    }
    struct lc_field fei = {"EndorsementInfo", LC_BYTES, 0, d->_ei, d->_ei_len};
    struct lc_field fvi = {"ValidationInfo", LC_BYTES, 0, d->_vi, d->_vi_len};
    struct lc_field fco = {"Collections", LC_BYTES, 0, d->collections, d->collections_len};
    if (definition != NULL) {
        memset(definition, 0, sizeof(*definition));
        definition->datatype = "ChaincodeDefinition";
        definition->f[0] = (struct lc_field){"Sequence", LC_INT64, d->sequence, NULL, 0};
        definition->f[1] = fei;
        definition->f[2] = fvi;
        definition->f[3] = fco;
        definition->n = 4;
    }
    if (parameters != NULL) {
        memset(parameters, 0, sizeof(*parameters));
        parameters->datatype = "ChaincodeParameters";
        parameters->f[0] = fei;
        parameters->f[1] = fvi;
        parameters->f[2] = fco;
        parameters->n = 3;
    }
    return 0;
}

int lc_def_read(struct lc_tx *tx, const char *name, struct lc_def *d, bool *found,
                struct weft_err *err)
{
    memset(d, 0, sizeof(*d));
    *found = false;
    char *dt = NULL;
    int rc = lc_metadata(tx, NULL, "namespaces", name, &dt, err);
    if (rc != 0 || dt == NULL) {
        return rc;
    }
    bool is_def = strcmp(dt, "ChaincodeDefinition") == 0;
    weft_free(dt);
    if (!is_def) {
        return 0;
    }
    enum lc_kind k;
    int64_t iv;
    uint8_t *b = NULL;
    size_t bl;
    rc = lc_field_get(tx, NULL, "namespaces", name, "Sequence", &k, &iv, &b, &bl, err);
    weft_free(b);
    if (rc != 0) {
        return rc;
    }
    d->sequence = iv;
    rc = lc_field_get(tx, NULL, "namespaces", name, "EndorsementInfo", &k, &iv, &b, &bl, err);
    if (rc == 0) {
        Lifecycle__ChaincodeEndorsementInfo *ei =
            lifecycle__chaincode_endorsement_info__unpack(NULL, bl, b);
        if (ei != NULL) {
            d->version = weft_strdup(ei->version);
            d->endorsement_plugin = weft_strdup(ei->endorsement_plugin);
            d->init_required = ei->init_required;
            lifecycle__chaincode_endorsement_info__free_unpacked(ei, NULL);
        }
        weft_free(b);
        b = NULL;
    }
    if (rc == 0) {
        rc = lc_field_get(tx, NULL, "namespaces", name, "ValidationInfo", &k, &iv, &b, &bl, err);
    }
    if (rc == 0) {
        Lifecycle__ChaincodeValidationInfo *vi =
            lifecycle__chaincode_validation_info__unpack(NULL, bl, b);
        if (vi != NULL) {
            d->validation_plugin = weft_strdup(vi->validation_plugin);
            d->validation_parameter = weft_malloc(vi->validation_parameter.len + 1);
            if (d->validation_parameter != NULL && vi->validation_parameter.len > 0) {
                memcpy(d->validation_parameter, vi->validation_parameter.data,
                       vi->validation_parameter.len);
            }
            d->validation_parameter_len = vi->validation_parameter.len;
            lifecycle__chaincode_validation_info__free_unpacked(vi, NULL);
        }
        weft_free(b);
        b = NULL;
    }
    if (rc == 0) {
        rc = lc_field_get(tx, NULL, "namespaces", name, "Collections", &k, &iv,
                          &d->collections, &d->collections_len, err);
    }
    if (rc == 0 && (d->version == NULL || d->endorsement_plugin == NULL ||
                    d->validation_plugin == NULL || d->validation_parameter == NULL)) {
        rc = weft_err_set(err, WEFT_ECORRUPT, "_lifecycle definition of %s is incomplete", name);
    }
    if (rc != 0) {
        lc_def_clear(d);
        return rc;
    }
    *found = true;
    return 0;
}
