/*
 * World state on LMDB: the "state" DBI maps (namespace, key) to the key's
 * version, metadata and value, and ledger__state_apply writes one block's
 * updates into the block store's commit transaction.
 *
 * Design (details in docs/ledger-state.md):
 *  - LMDB key = ns 0x00 key. Namespaces never contain 0x00, so one
 *    namespace's keys are contiguous and ordered by plain byte comparison of
 *    the Fabric key, which is Fabric's range order (composite keys, starting
 *    with U+0000, sort before simple keys as in Fabric's LevelDB).
 *  - record = u8 format | u64be block | u64be tx | u32be meta_len | meta |
 *    value. Fixed-size header: a point read decodes without allocating.
 *  - apply replays the ops of the valid txs in block order inside the write
 *    txn; LMDB shows a write txn its own writes, so a later op of the same
 *    block sees the earlier ones (metadata carry-over, metadata-only writes
 *    on keys created earlier in the block) exactly as Fabric's batch does.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state_int.h"

void ledger__put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

uint64_t ledger__read_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int ledger__mdb_state_err(struct weft_err *err, int rc, const char *what)
{
    int code = WEFT_EIO;
    if (rc == ENOMEM)
        code = WEFT_ENOMEM;
    else if (rc == MDB_MAP_FULL)
        code = WEFT_ETOOBIG;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
        code = WEFT_ECORRUPT;
    else if (rc == MDB_BAD_VALSIZE)
        code = WEFT_ETOOBIG;
    return weft_err_set(err, code, "%s: %s", what, mdb_strerror(rc));
}

static int open_dbis(struct ledger_state *st, MDB_txn *txn, struct weft_err *err)
{
    int rc = mdb_dbi_open(txn, "state", MDB_CREATE, &st->dbi_state);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "open state DBI");
    rc = mdb_dbi_open(txn, "history", MDB_CREATE, &st->dbi_history);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "open history DBI");
    return 0;
}

int ledger__state_open(struct ledger_state **out, MDB_env *env, MDB_txn *txn,
                       struct weft_err *err)
{
    struct ledger_state *st = weft_calloc(1, sizeof(*st));
    if (st == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
    st->env = env;
    int rc = open_dbis(st, txn, err);
    if (rc != 0) {
        weft_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int ledger__state_open_dir(struct ledger_state **out, const char *dir, bool no_sync,
                           struct weft_err *err)
{
    struct ledger_state *st = NULL;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    int rc;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return weft_err_set(err, -errno, "state: mkdir %s: %s", dir, strerror(errno));
    if ((rc = mdb_env_create(&env)) != 0)
        return ledger__mdb_state_err(err, rc, "state: env create");
    if ((rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(env, (size_t)1 << 30)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOTLS | (no_sync ? MDB_NOSYNC : 0u), 0640)) != 0) {
        rc = ledger__mdb_state_err(err, rc, "state: env open");
        goto fail;
    }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
        rc = ledger__mdb_state_err(err, rc, "state: txn begin");
        goto fail;
    }
    if ((rc = ledger__state_open(&st, env, txn, err)) != 0)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0) {
        rc = ledger__mdb_state_err(err, rc, "state: txn commit");
        goto fail;
    }
    st->own_env = true;
    *out = st;
    return 0;
fail:
    if (txn != NULL)
        mdb_txn_abort(txn);
    weft_free(st);
    mdb_env_close(env);
    return rc;
}

void ledger__state_close(struct ledger_state *st)
{
    if (st == NULL)
        return;
    if (st->own_env)
        mdb_env_close(st->env);
    weft_free(st);
}

void ledger__state_set_lock(struct ledger_state *st, struct ledger_gate *txn_lock)
{
    st->txn_lock = txn_lock;
}

void ledger__state_set_tx_fetcher(struct ledger_state *st, ledger_tx_fetch_fn fn, void *ctx)
{
    st->fetch = fn;
    st->fetch_ctx = ctx;
}

int ledger__state_read_begin(struct ledger_state *st, MDB_txn **txn, struct weft_err *err)
{
    if (st->txn_lock != NULL)
        ledger__gate_read_lock(st->txn_lock);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        if (st->txn_lock != NULL)
            ledger__gate_read_unlock(st->txn_lock);
        return ledger__mdb_state_err(err, rc, "state: read txn");
    }
    return 0;
}

void ledger__state_read_end(struct ledger_state *st, MDB_txn *txn)
{
    if (txn == NULL)
        return;
    mdb_txn_abort(txn);
    if (st->txn_lock != NULL)
        ledger__gate_read_unlock(st->txn_lock);
}

int ledger__state_key(const char *ns, const uint8_t *key, size_t key_len, uint8_t **out,
                      size_t *out_len)
{
    size_t nl = strlen(ns);
    uint8_t *b = weft_malloc(nl + 1 + key_len + 1);
    if (b == NULL)
        return WEFT_ENOMEM;
    memcpy(b, ns, nl);
    b[nl] = 0;
    if (key_len > 0)
        memcpy(b + nl + 1, key, key_len);
    *out = b;
    *out_len = nl + 1 + key_len;
    return 0;
}

int ledger__rec_decode(const uint8_t *rec, size_t len, struct weft_ledger_version *ver,
                       const uint8_t **meta, size_t *meta_len, const uint8_t **value,
                       size_t *value_len)
{
    if (len < LEDGER_REC_HDR_LEN || rec[0] != LEDGER_REC_FMT)
        return WEFT_ECORRUPT;
    uint32_t ml = ((uint32_t)rec[17] << 24) | ((uint32_t)rec[18] << 16) |
                  ((uint32_t)rec[19] << 8) | rec[20];
    if (ml > len - LEDGER_REC_HDR_LEN)
        return WEFT_ECORRUPT;
    if (ver != NULL) {
        ver->block_num = ledger__read_u64be(rec + 1);
        ver->tx_num = ledger__read_u64be(rec + 9);
    }
    if (meta != NULL) {
        *meta = ml > 0 ? rec + LEDGER_REC_HDR_LEN : NULL;
        *meta_len = ml;
    }
    if (value != NULL) {
        *value = rec + LEDGER_REC_HDR_LEN + ml;
        *value_len = len - LEDGER_REC_HDR_LEN - ml;
    }
    return 0;
}

int ledger__state_get_in(struct ledger_state *st, MDB_txn *txn, const char *ns,
                         const uint8_t *key, size_t key_len, bool *found,
                         struct weft_ledger_version *ver, const uint8_t **value, size_t *value_len,
                         const uint8_t **meta, size_t *meta_len, struct weft_err *err)
{
    /* LMDB keys are at most 511 bytes: a longer one cannot exist. */
    uint8_t fk[512];
    size_t nl = strlen(ns);
    size_t fkl = nl + 1 + key_len;
    int rc = MDB_BAD_VALSIZE;
    MDB_val k = {fkl, fk}, v;
    if (fkl <= sizeof(fk) - 1) {
        memcpy(fk, ns, nl);
        fk[nl] = 0;
        if (key_len > 0)
            memcpy(fk + nl + 1, key, key_len);
        rc = mdb_get(txn, st->dbi_state, &k, &v);
    }
    if (rc == MDB_NOTFOUND) {
        *found = false;
        if (ver != NULL)
            *ver = (struct weft_ledger_version){0, 0};
        return 0;
    }
    if (rc == MDB_BAD_VALSIZE) { /* longer than LMDB's key limit: cannot exist */
        *found = false;
        if (ver != NULL)
            *ver = (struct weft_ledger_version){0, 0};
        return 0;
    }
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "state: get");
    if (ledger__rec_decode(v.mv_data, v.mv_size, ver, meta, meta_len, value, value_len) != 0)
        return weft_err_set(err, WEFT_ECORRUPT, "state: corrupt record for a key of '%s'", ns);
    *found = true;
    return 0;
}

/* ---- applying a block's updates ---------------------------------------------
 *
 * ledger__state_apply writes a block's state and history entries in key
 * order through one LMDB cursor per table, which is how LMDB likes to be fed:
 *  - the ops are sorted once by (LMDB key, position in the block); every op
 *    touches only its own key, so applying the ops of each key in block order
 *    gives the same result as replaying the whole block in order;
 *  - the ops of one key are folded in memory (delete / put / metadata rules of
 *    docs/ledger-state.md) into at most one LMDB write for that key;
 *  - a cursor that moves forward finds the next key on the page it is already
 *    on (LMDB checks the current page before searching from the root), and
 *    keys above the table's last key are written with MDB_APPEND, which skips
 *    the search altogether (new keys of an append-mostly workload);
 *  - records are written in place with MDB_RESERVE; the keys of all ops are
 *    built in one scratch allocation, no per-key allocation.
 */

struct apply_ent {
    const struct ledger_op *op;
    size_t seq; /* position in block order */
    const uint8_t *k;
    size_t klen;
};

static int bytes_order(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return al < bl ? -1 : al > bl;
}

static int cmp_apply_ent(const void *pa, const void *pb)
{
    const struct apply_ent *a = pa, *b = pb;
    int c = bytes_order(a->k, a->klen, b->k, b->klen);
    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void sort_ents(struct apply_ent *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (cmp_apply_ent(&e[i - 1], &e[i]) > 0) {
            qsort(e, n, sizeof(*e), cmp_apply_ent);
            return;
        }
    }
}

/* MDB_MAP_FULL goes back as itself: the block store grows the map and
 * retries the whole commit transaction (ledger_int.h LEDGER_EMAPFULL). */
static int apply_mdb_err(struct weft_err *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL) {
        weft_err_set(err, MDB_MAP_FULL, "%s: %s", what, mdb_strerror(rc));
        return MDB_MAP_FULL;
    }
    return ledger__mdb_state_err(err, rc, what);
}

/* Last key of the cursor's table into last (at most cap bytes); *have =
 * false for an empty table. */
static int last_key(MDB_cursor *cur, uint8_t *last, size_t cap, size_t *len, bool *have)
{
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    *have = false;
    *len = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (k.mv_size > cap)
        return MDB_BAD_VALSIZE;
    memcpy(last, k.mv_data, k.mv_size);
    *len = k.mv_size;
    *have = true;
    return 0;
}

static void fill_record(uint8_t *p, uint64_t block, uint64_t tx, const uint8_t *meta,
                        size_t meta_len, const uint8_t *value, size_t value_len)
{
    p[0] = LEDGER_REC_FMT;
    ledger__put_u64be(p + 1, block);
    ledger__put_u64be(p + 9, tx);
    p[17] = (uint8_t)(meta_len >> 24);
    p[18] = (uint8_t)(meta_len >> 16);
    p[19] = (uint8_t)(meta_len >> 8);
    p[20] = (uint8_t)meta_len;
    if (meta_len > 0)
        memcpy(p + LEDGER_REC_HDR_LEN, meta, meta_len);
    if (value_len > 0)
        memcpy(p + LEDGER_REC_HDR_LEN + meta_len, value, value_len);
}

/* The state rows: ents sorted, n > 0. */
static int apply_state(struct ledger_state *st, MDB_txn *txn, const struct apply_ent *ents,
                       size_t n, struct weft_buf *scratch, struct weft_err *err)
{
    MDB_cursor *cur = NULL;
    uint8_t last[512];
    size_t last_len;
    bool have_last;
    int rc = mdb_cursor_open(txn, st->dbi_state, &cur);
    if (rc != 0)
        return apply_mdb_err(err, rc, "state: cursor");
    rc = last_key(cur, last, sizeof(last), &last_len, &have_last);
    if (rc != 0) {
        rc = apply_mdb_err(err, rc, "state: last key");
        goto out;
    }
    bool append = !have_last;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && ents[j].klen == ents[i].klen &&
                        memcmp(ents[j].k, ents[i].k, ents[i].klen) == 0;
             j++) {
        }
        const char *ns = ents[i].op->ns;
        MDB_val k = {ents[i].klen, (void *)(uintptr_t)ents[i].k}, v;
        if (!append && bytes_order(ents[i].k, ents[i].klen, last, last_len) > 0)
            append = true; /* this and every later key are above the table's last */
        bool existed = false, exists = false, changed = false, meta_old = false,
             val_old = false;
        const uint8_t *meta = NULL, *val = NULL;
        size_t ml = 0, vl = 0;
        uint64_t vb = 0, vt = 0;
        if (!append) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
            if (rc == 0) {
                if (ledger__rec_decode(v.mv_data, v.mv_size, NULL, &meta, &ml, &val, &vl) != 0) {
                    rc = weft_err_set(err, WEFT_ECORRUPT, "state: corrupt record in '%s'", ns);
                    goto out;
                }
                existed = exists = meta_old = val_old = true;
            } else if (rc != MDB_NOTFOUND) {
                rc = apply_mdb_err(err, rc, "state: get");
                goto out;
            }
        }
        for (size_t e = i; e < j; e++) {
            const struct ledger_op *op = ents[e].op;
            switch (op->kind) {
            case LEDGER_OP_DEL:
                exists = false;
                changed = true;
                meta = val = NULL; /* a later put in the block starts afresh */
                ml = vl = 0;
                meta_old = val_old = false;
                break;
            case LEDGER_OP_PUT:
                exists = changed = true;
                val = op->value;
                vl = op->value_len;
                val_old = false;
                if (op->has_meta) {
                    meta = op->meta;
                    ml = op->meta_len;
                    meta_old = false;
                }
                vb = op->block;
                vt = op->tx;
                break;
            case LEDGER_OP_META:
                if (!exists)
                    break; /* metadata on a missing key: no-op */
                changed = true;
                meta = op->meta;
                ml = op->meta_len;
                meta_old = false;
                vb = op->block;
                vt = op->tx;
                break;
            default:
                rc = weft_err_set(err, WEFT_EINVAL, "state: bad op kind %u", op->kind);
                goto out;
            }
        }
        if (!changed)
            continue;
        if (!exists) {
            if (existed && (rc = mdb_cursor_del(cur, 0)) != 0) {
                rc = apply_mdb_err(err, rc, "state: delete");
                goto out;
            }
            continue;
        }
        if (meta_old || val_old) {
            /* Parts carried over from the old record live on a page the put
             * may rewrite: copy them first. */
            weft_buf_reset(scratch);
            if (weft_buf_append(scratch, meta_old ? meta : (const uint8_t *)"",
                                meta_old ? ml : 0) != 0 ||
                weft_buf_append(scratch, val_old ? val : (const uint8_t *)"",
                                val_old ? vl : 0) != 0) {
                rc = weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
                goto out;
            }
            if (meta_old)
                meta = scratch->data;
            if (val_old)
                val = scratch->data + (meta_old ? ml : 0);
        }
        if (ml > UINT32_MAX) {
            rc = weft_err_set(err, WEFT_ETOOBIG, "state: metadata too large");
            goto out;
        }
        MDB_val nv = {LEDGER_REC_HDR_LEN + ml + vl, NULL};
        unsigned fl = MDB_RESERVE | (append ? MDB_APPEND : existed ? MDB_CURRENT : 0u);
        rc = mdb_cursor_put(cur, &k, &nv, fl);
        if (rc != 0) {
            rc = apply_mdb_err(err, rc, "state: put");
            goto out;
        }
        fill_record(nv.mv_data, vb, vt, meta, ml, val, vl);
    }
    rc = 0;
out:
    mdb_cursor_close(cur);
    return rc;
}

/* The history entries: ents sorted, n > 0. Equal keys (one tx writing a key
 * twice) keep the last op, as successive puts would. */
static int apply_history(struct ledger_state *st, MDB_txn *txn, const struct apply_ent *ents,
                         size_t n, struct weft_err *err)
{
    MDB_cursor *cur = NULL;
    uint8_t last[512];
    size_t last_len;
    bool have_last;
    int rc = mdb_cursor_open(txn, st->dbi_history, &cur);
    if (rc != 0)
        return apply_mdb_err(err, rc, "history: cursor");
    rc = last_key(cur, last, sizeof(last), &last_len, &have_last);
    if (rc != 0) {
        rc = apply_mdb_err(err, rc, "history: last key");
        goto out;
    }
    bool append = !have_last;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && ents[i + 1].klen == ents[i].klen &&
            memcmp(ents[i + 1].k, ents[i].k, ents[i].klen) == 0)
            continue;
        if (!append && bytes_order(ents[i].k, ents[i].klen, last, last_len) > 0)
            append = true;
        uint8_t flags = ents[i].op->kind == LEDGER_OP_DEL ? 1 : 0;
        MDB_val k = {ents[i].klen, (void *)(uintptr_t)ents[i].k}, v = {1, &flags};
        rc = mdb_cursor_put(cur, &k, &v, append ? MDB_APPEND : 0u);
        if (rc != 0) {
            rc = apply_mdb_err(err, rc, "history: put");
            goto out;
        }
    }
    rc = 0;
out:
    mdb_cursor_close(cur);
    return rc;
}

int ledger__state_apply(struct ledger_state *st, MDB_txn *txn, const struct ledger_updates *u,
                        struct weft_err *err)
{
    if (u->n == 0)
        return 0;
    size_t maxkey = (size_t)mdb_env_get_maxkeysize(st->env);
    size_t skeys = 0, hkeys = 0, nh = 0;
    for (size_t i = 0; i < u->n; i++) {
        const struct ledger_op *op = &u->ops[i];
        size_t nl = strlen(op->ns);
        if (nl + 1 + op->key_len > maxkey)
            return weft_err_set(err, WEFT_ETOOBIG,
                                "state: key of %zu bytes in '%s' exceeds %zu bytes", op->key_len,
                                op->ns, maxkey);
        skeys += nl + 1 + op->key_len;
        if (op->history) {
            if (op->key_len > UINT32_MAX)
                return weft_err_set(err, WEFT_ETOOBIG, "history: key too large");
            hkeys += nl + 1 + 4 + op->key_len + 16;
            nh++;
        }
    }
    struct apply_ent *ents = weft_malloc((u->n + nh) * sizeof(*ents));
    uint8_t *kbuf = weft_malloc(skeys + hkeys + 1);
    struct weft_buf scratch;
    weft_buf_init(&scratch, SIZE_MAX / 2);
    int rc;
    if (ents == NULL || kbuf == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
        goto out;
    }
    struct apply_ent *hents = ents + u->n;
    uint8_t *p = kbuf;
    for (size_t i = 0, h = 0; i < u->n; i++) {
        const struct ledger_op *op = &u->ops[i];
        size_t nl = strlen(op->ns);
        /* state key: ns 0x00 key */
        ents[i] = (struct apply_ent){op, i, p, nl + 1 + op->key_len};
        memcpy(p, op->ns, nl);
        p[nl] = 0;
        if (op->key_len > 0)
            memcpy(p + nl + 1, op->key, op->key_len);
        p += nl + 1 + op->key_len;
        if (!op->history)
            continue;
        /* history key: ns 0x00 u32be(len) key u64be(block) u64be(tx) */
        hents[h++] = (struct apply_ent){op, i, p, nl + 1 + 4 + op->key_len + 16};
        memcpy(p, op->ns, nl);
        p[nl] = 0;
        p += nl + 1;
        p[0] = (uint8_t)(op->key_len >> 24);
        p[1] = (uint8_t)(op->key_len >> 16);
        p[2] = (uint8_t)(op->key_len >> 8);
        p[3] = (uint8_t)op->key_len;
        if (op->key_len > 0)
            memcpy(p + 4, op->key, op->key_len);
        p += 4 + op->key_len;
        ledger__put_u64be(p, op->block);
        ledger__put_u64be(p + 8, op->tx);
        p += 16;
    }
    sort_ents(ents, u->n);
    rc = apply_state(st, txn, ents, u->n, &scratch, err);
    if (rc == 0 && nh > 0) {
        sort_ents(hents, nh);
        rc = apply_history(st, txn, hents, nh, err);
    }
out:
    weft_buf_close(&scratch);
    weft_free(kbuf);
    weft_free(ents);
    return rc;
}

int ledger__state_commit(struct ledger_state *st, const struct ledger_updates *u,
                         struct weft_err *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "state: write txn");
    rc = ledger__state_apply(st, txn, u, err);
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == MDB_MAP_FULL) { /* no map growing here: the caller sizes the map */
            rc = WEFT_ETOOBIG;
            if (err != NULL)
                err->code = rc;
        }
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "state: commit");
    return 0;
}
