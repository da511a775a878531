/*
 * Range scans over one namespace of the state DBI, optionally merged with
 * the MVCC validator's in-block overlay (keys written by earlier valid txs
 * of the block being validated), so the validator can re-execute a range
 * query over "committed state + earlier writes of this block" as Fabric's
 * combined iterator does.
 *
 * The scan runs inside a caller's read txn; returned pointers are valid
 * until the next call. Bounds are byte comparisons of ns 0x00 key, which is
 * Fabric's key order (docs/ledger-state.md).
 */
#include <lmdb.h>
#include <string.h>

#include "state_int.h"

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

/* ---- overlay ---------------------------------------------------------------- */

void ledger__overlay_init(struct ledger_overlay *o)
{
    memset(o, 0, sizeof(*o));
}

void ledger__overlay_free(struct ledger_overlay *o)
{
    for (size_t i = 0; i < o->n; i++) {
        weft_free(o->ents[i]->fkey);
        weft_free(o->ents[i]);
    }
    weft_free(o->ents);
    memset(o, 0, sizeof(*o));
}

/* First index whose key is >= fk. */
static size_t overlay_lower(const struct ledger_overlay *o, const uint8_t *fk, size_t fkl)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bytes_cmp(o->ents[mid]->fkey, o->ents[mid]->fkey_len, fk, fkl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct ledger_overlay_ent *ledger__overlay_find(const struct ledger_overlay *o, const uint8_t *fk,
                                                size_t fk_len)
{
    size_t i = overlay_lower(o, fk, fk_len);
    if (i < o->n && bytes_cmp(o->ents[i]->fkey, o->ents[i]->fkey_len, fk, fk_len) == 0)
        return o->ents[i];
    return NULL;
}

int ledger__overlay_set(struct ledger_overlay *o, const uint8_t *fk, size_t fk_len, bool exists,
                        struct weft_ledger_version ver)
{
    size_t i = overlay_lower(o, fk, fk_len);
    if (i < o->n && bytes_cmp(o->ents[i]->fkey, o->ents[i]->fkey_len, fk, fk_len) == 0) {
        o->ents[i]->exists = exists;
        o->ents[i]->ver = ver;
        return 0;
    }
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 64;
        struct ledger_overlay_ent **ne = weft_realloc(o->ents, nc * sizeof(*ne));
        if (ne == NULL)
            return WEFT_ENOMEM;
        o->ents = ne;
        o->cap = nc;
    }
    struct ledger_overlay_ent *e = weft_calloc(1, sizeof(*e));
    if (e == NULL)
        return WEFT_ENOMEM;
    e->fkey = weft_memdup(fk, fk_len + 1);
    if (e->fkey == NULL) {
        weft_free(e);
        return WEFT_ENOMEM;
    }
    e->fkey_len = fk_len;
    e->exists = exists;
    e->ver = ver;
    memmove(&o->ents[i + 1], &o->ents[i], (o->n - i) * sizeof(*o->ents));
    o->ents[i] = e;
    o->n++;
    return 0;
}

/* ---- merged scan -------------------------------------------------------------- */

struct ledger_rscan {
    MDB_cursor *cur;
    uint8_t *lo;        /* ns 0x00 start */
    size_t lo_len;
    uint8_t *hi;        /* ns 0x00 end, or NULL = prefix bound */
    size_t hi_len;
    size_t prefix_len;  /* strlen(ns) + 1 */
    bool hi_inclusive;
    const struct ledger_overlay *ov;
    size_t ov_pos;
    bool c_valid;       /* cursor holds a candidate */
    MDB_val ck, cv;
    bool started;
};

/* Whether full key k is within the upper bound (and the namespace). */
static bool in_bounds(const struct ledger_rscan *s, const uint8_t *k, size_t kl)
{
    if (kl < s->prefix_len || memcmp(k, s->lo, s->prefix_len) != 0)
        return false;
    if (s->hi == NULL)
        return true;
    int c = bytes_cmp(k, kl, s->hi, s->hi_len);
    return c < 0 || (c == 0 && s->hi_inclusive);
}

int ledger__rscan_open(struct ledger_state *st, MDB_txn *txn, const char *ns,
                       const uint8_t *start, size_t start_len, const uint8_t *end, size_t end_len,
                       bool end_inclusive, const struct ledger_overlay *ov,
                       struct ledger_rscan **out, struct weft_err *err)
{
    struct ledger_rscan *s = weft_calloc(1, sizeof(*s));
    if (s == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
    int rc;
    if (ledger__state_key(ns, start, start_len, &s->lo, &s->lo_len) != 0 ||
        (end_len > 0 && ledger__state_key(ns, end, end_len, &s->hi, &s->hi_len) != 0)) {
        rc = weft_err_set(err, WEFT_ENOMEM, "range: out of memory");
        goto fail;
    }
    s->prefix_len = strlen(ns) + 1;
    s->hi_inclusive = end_inclusive;
    s->ov = ov;
    if ((rc = mdb_cursor_open(txn, st->dbi_state, &s->cur)) != 0) {
        rc = ledger__mdb_state_err(err, rc, "range: cursor");
        goto fail;
    }
    if (ov != NULL)
        s->ov_pos = overlay_lower(ov, s->lo, s->lo_len);
    *out = s;
    return 0;
fail:
    ledger__rscan_close(s);
    return rc;
}

static int cursor_step(struct ledger_rscan *s, MDB_cursor_op op, struct weft_err *err)
{
    int rc;
    if (op == MDB_SET_RANGE) {
        s->ck.mv_data = s->lo;
        s->ck.mv_size = s->lo_len;
        if (s->lo_len > (size_t)mdb_env_get_maxkeysize(mdb_txn_env(mdb_cursor_txn(s->cur)))) {
            /* a start key beyond LMDB's limit: no stored key equals it, so
             * position on its longest storable prefix and skip smaller keys */
            s->ck.mv_size = (size_t)mdb_env_get_maxkeysize(mdb_txn_env(mdb_cursor_txn(s->cur)));
        }
    }
    rc = mdb_cursor_get(s->cur, &s->ck, &s->cv, op);
    while (rc == 0 && bytes_cmp(s->ck.mv_data, s->ck.mv_size, s->lo, s->lo_len) < 0)
        rc = mdb_cursor_get(s->cur, &s->ck, &s->cv, MDB_NEXT);
    if (rc == MDB_NOTFOUND) {
        s->c_valid = false;
        return 0;
    }
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "range: cursor");
    s->c_valid = in_bounds(s, s->ck.mv_data, s->ck.mv_size);
    return 0;
}

int ledger__rscan_next(struct ledger_rscan *s, struct ledger_scan_item *it, struct weft_err *err)
{
    int rc;
    if (!s->started) {
        s->started = true;
        if ((rc = cursor_step(s, MDB_SET_RANGE, err)) != 0)
            return rc;
    }
    for (;;) {
        const struct ledger_overlay_ent *oe = NULL;
        if (s->ov != NULL && s->ov_pos < s->ov->n) {
            oe = s->ov->ents[s->ov_pos];
            if (!in_bounds(s, oe->fkey, oe->fkey_len))
                oe = NULL;
        }
        if (!s->c_valid && oe == NULL)
            return 0;
        int c = 1; /* >0: overlay first */
        if (s->c_valid && oe != NULL)
            c = bytes_cmp(s->ck.mv_data, s->ck.mv_size, oe->fkey, oe->fkey_len);
        else if (s->c_valid)
            c = -1;
        if (c < 0) {
            /* committed item */
            const uint8_t *k = s->ck.mv_data;
            memset(it, 0, sizeof(*it));
            it->key = k + s->prefix_len;
            it->key_len = s->ck.mv_size - s->prefix_len;
            if (ledger__rec_decode(s->cv.mv_data, s->cv.mv_size, &it->ver, &it->meta,
                                   &it->meta_len, &it->value, &it->value_len) != 0)
                return weft_err_set(err, WEFT_ECORRUPT, "range: corrupt record");
            /* advance lazily: the item's pointers stay valid (read txn pages) */
            if ((rc = cursor_step(s, MDB_NEXT, err)) != 0)
                return rc;
            return 1;
        }
        /* overlay item (c == 0: it shadows the committed one) */
        s->ov_pos++;
        if (c == 0 && (rc = cursor_step(s, MDB_NEXT, err)) != 0)
            return rc;
        if (!oe->exists)
            continue;
        memset(it, 0, sizeof(*it));
        it->key = oe->fkey + s->prefix_len;
        it->key_len = oe->fkey_len - s->prefix_len;
        it->ver = oe->ver;
        return 1;
    }
}

void ledger__rscan_close(struct ledger_rscan *s)
{
    if (s == NULL)
        return;
    if (s->cur != NULL)
        mdb_cursor_close(s->cur);
    weft_free(s->lo);
    weft_free(s->hi);
    weft_free(s);
}
