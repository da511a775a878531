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

void ledger__state_set_lock(struct ledger_state *st, pthread_rwlock_t *txn_lock)
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
        pthread_rwlock_rdlock(st->txn_lock);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc != 0) {
        if (st->txn_lock != NULL)
            pthread_rwlock_unlock(st->txn_lock);
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
        pthread_rwlock_unlock(st->txn_lock);
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
    uint8_t *fk;
    size_t fkl;
    if (ledger__state_key(ns, key, key_len, &fk, &fkl) != 0)
        return weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
    MDB_val k = {fkl, fk}, v;
    int rc = mdb_get(txn, st->dbi_state, &k, &v);
    weft_free(fk);
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

/* Writes ns\0key -> record in txn. */
static int put_record(struct ledger_state *st, MDB_txn *txn, MDB_val *k, uint64_t block,
                      uint64_t tx, const uint8_t *meta, size_t meta_len, const uint8_t *value,
                      size_t value_len, struct weft_err *err)
{
    if (meta_len > UINT32_MAX)
        return weft_err_set(err, WEFT_ETOOBIG, "state: metadata too large");
    MDB_val v = {LEDGER_REC_HDR_LEN + meta_len + value_len, NULL};
    int rc = mdb_put(txn, st->dbi_state, k, &v, MDB_RESERVE);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "state: put");
    uint8_t *p = v.mv_data;
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
    return 0;
}

static int apply_op(struct ledger_state *st, MDB_txn *txn, const struct ledger_op *op,
                    struct weft_err *err)
{
    uint8_t *fk;
    size_t fkl;
    int rc;
    if (ledger__state_key(op->ns, op->key, op->key_len, &fk, &fkl) != 0)
        return weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
    MDB_val k = {fkl, fk}, cur;
    if (fkl > (size_t)mdb_env_get_maxkeysize(st->env)) {
        rc = weft_err_set(err, WEFT_ETOOBIG, "state: key of %zu bytes in '%s' exceeds %d bytes",
                          op->key_len, op->ns, mdb_env_get_maxkeysize(st->env));
        goto out;
    }
    switch (op->kind) {
    case LEDGER_OP_DEL:
        rc = mdb_del(txn, st->dbi_state, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        if (rc != 0)
            rc = ledger__mdb_state_err(err, rc, "state: delete");
        break;
    case LEDGER_OP_PUT:
        if (op->has_meta) {
            rc = put_record(st, txn, &k, op->block, op->tx, op->meta, op->meta_len, op->value,
                            op->value_len, err);
            break;
        }
        rc = mdb_get(txn, st->dbi_state, &k, &cur);
        if (rc == MDB_NOTFOUND) {
            rc = put_record(st, txn, &k, op->block, op->tx, NULL, 0, op->value, op->value_len,
                            err);
        } else if (rc != 0) {
            rc = ledger__mdb_state_err(err, rc, "state: get");
        } else {
            const uint8_t *m;
            size_t ml;
            if (ledger__rec_decode(cur.mv_data, cur.mv_size, NULL, &m, &ml, NULL, NULL) != 0) {
                rc = weft_err_set(err, WEFT_ECORRUPT, "state: corrupt record in '%s'", op->ns);
                break;
            }
            /* the old record's pages may be reused by the put: copy first */
            uint8_t *mc = ml > 0 ? weft_memdup(m, ml) : NULL;
            if (ml > 0 && mc == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
                break;
            }
            rc = put_record(st, txn, &k, op->block, op->tx, mc, ml, op->value, op->value_len,
                            err);
            weft_free(mc);
        }
        break;
    case LEDGER_OP_META: {
        rc = mdb_get(txn, st->dbi_state, &k, &cur);
        if (rc == MDB_NOTFOUND) { /* metadata on a missing key: no-op */
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = ledger__mdb_state_err(err, rc, "state: get");
            break;
        }
        const uint8_t *val;
        size_t vl;
        if (ledger__rec_decode(cur.mv_data, cur.mv_size, NULL, NULL, NULL, &val, &vl) != 0) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "state: corrupt record in '%s'", op->ns);
            break;
        }
        uint8_t *vc = vl > 0 ? weft_memdup(val, vl) : NULL;
        if (vl > 0 && vc == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "state: out of memory");
            break;
        }
        rc = put_record(st, txn, &k, op->block, op->tx, op->meta, op->meta_len, vc, vl, err);
        weft_free(vc);
        break;
    }
    default:
        rc = weft_err_set(err, WEFT_EINVAL, "state: bad op kind %u", op->kind);
    }
out:
    weft_free(fk);
    return rc;
}

int ledger__state_apply(struct ledger_state *st, MDB_txn *txn, const struct ledger_updates *u,
                        struct weft_err *err)
{
    for (size_t i = 0; i < u->n; i++) {
        int rc = apply_op(st, txn, &u->ops[i], err);
        if (rc == 0 && u->ops[i].history)
            rc = ledger__history_put(st, txn, &u->ops[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
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
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "state: commit");
    return 0;
}
