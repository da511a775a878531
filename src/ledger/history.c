/*
 * Key history: the "history" DBI holds one entry per valid public write or
 * delete of a key, LMDB key = ns 0x00 u32be(len(key)) key u64be(block)
 * u64be(tx), value = one flags byte (bit 0: delete). The key length makes the
 * prefix of one key unambiguous (a composite key may be a byte prefix of
 * another one), and the big-endian height orders entries oldest first.
 *
 * As in Fabric, the value, tx id and timestamp of an entry are not stored
 * here: a query fetches the transaction's envelope from the block store
 * (ledger__state_set_tx_fetcher) and reads them from it. The (block, tx)
 * list is read in one short read txn when the iterator opens; envelopes are
 * fetched lazily, one per next().
 */
#include <lmdb.h>
#include <string.h>

#include "state_int.h"

struct hist_ent {
    uint64_t block, tx;
    uint8_t flags;
};

struct weft_ledger_hist_iter {
    struct ledger_state *st;
    char *ns;
    uint8_t *key;
    size_t key_len;
    struct hist_ent *ents;
    size_t n, pos;
    bool newest_first;
    /* current entry */
    struct ledger_txinfo ti;
    uint8_t *value;
};

int ledger__history_key(const char *ns, const uint8_t *key, size_t key_len, uint64_t block,
                        uint64_t tx, bool with_height, uint8_t **out, size_t *out_len)
{
    if (key_len > UINT32_MAX)
        return WEFT_ETOOBIG;
    size_t nl = strlen(ns);
    size_t len = nl + 1 + 4 + key_len + (with_height ? 16 : 0);
    uint8_t *b = weft_malloc(len);
    if (b == NULL)
        return WEFT_ENOMEM;
    memcpy(b, ns, nl);
    b[nl] = 0;
    uint8_t *p = b + nl + 1;
    p[0] = (uint8_t)(key_len >> 24);
    p[1] = (uint8_t)(key_len >> 16);
    p[2] = (uint8_t)(key_len >> 8);
    p[3] = (uint8_t)key_len;
    if (key_len > 0)
        memcpy(p + 4, key, key_len);
    if (with_height) {
        ledger__put_u64be(p + 4 + key_len, block);
        ledger__put_u64be(p + 12 + key_len, tx);
    }
    *out = b;
    *out_len = len;
    return 0;
}

int ledger__history_put(struct ledger_state *st, MDB_txn *txn, const struct ledger_op *op,
                        struct weft_err *err)
{
    uint8_t *hk;
    size_t hkl;
    if (ledger__history_key(op->ns, op->key, op->key_len, op->block, op->tx, true, &hk, &hkl) != 0)
        return weft_err_set(err, WEFT_ENOMEM, "history: out of memory");
    uint8_t flags = op->kind == LEDGER_OP_DEL ? 1 : 0;
    MDB_val k = {hkl, hk}, v = {1, &flags};
    int rc = mdb_put(txn, st->dbi_history, &k, &v, 0);
    weft_free(hk);
    if (rc != 0)
        return ledger__mdb_state_err(err, rc, "history: put");
    return 0;
}

int ledger__history_open(struct ledger_state *st, const char *ns, const uint8_t *key,
                         size_t key_len, bool newest_first, struct weft_ledger_hist_iter **out,
                         struct weft_err *err)
{
    struct weft_ledger_hist_iter *it = weft_calloc(1, sizeof(*it));
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t *prefix = NULL;
    size_t plen = 0, cap = 0;
    int rc;
    if (it == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "history: out of memory");
    it->st = st;
    it->newest_first = newest_first;
    it->ns = weft_strdup(ns);
    it->key = weft_malloc(key_len + 1);
    if (it->ns == NULL || it->key == NULL ||
        ledger__history_key(ns, key, key_len, 0, 0, false, &prefix, &plen) != 0) {
        rc = weft_err_set(err, WEFT_ENOMEM, "history: out of memory");
        goto fail;
    }
    memcpy(it->key, key, key_len);
    it->key_len = key_len;
    if ((rc = ledger__state_read_begin(st, &txn, err)) != 0)
        goto fail;
    if ((rc = mdb_cursor_open(txn, st->dbi_history, &cur)) != 0) {
        rc = ledger__mdb_state_err(err, rc, "history: cursor");
        goto fail;
    }
    MDB_val k = {plen, prefix}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != plen + 16 || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        if (it->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct hist_ent *ne = weft_realloc(it->ents, nc * sizeof(*ne));
            if (ne == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "history: out of memory");
                goto fail;
            }
            it->ents = ne;
            cap = nc;
        }
        const uint8_t *kp = (const uint8_t *)k.mv_data + plen;
        it->ents[it->n].block = ledger__read_u64be(kp);
        it->ents[it->n].tx = ledger__read_u64be(kp + 8);
        it->ents[it->n].flags = v.mv_size > 0 ? ((const uint8_t *)v.mv_data)[0] : 0;
        it->n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rc = ledger__mdb_state_err(err, rc, "history: scan");
        goto fail;
    }
    mdb_cursor_close(cur);
    ledger__state_read_end(st, txn);
    weft_free(prefix);
    *out = it;
    return 0;
fail:
    if (cur != NULL)
        mdb_cursor_close(cur);
    ledger__state_read_end(st, txn);
    weft_free(prefix);
    weft_ledger_hist_free(it);
    return rc;
}

/* Finds the KVWrite of (ns, key) in the tx's read/write set. */
static int find_write(const Rwset__TxReadWriteSet *rws, const char *ns, const uint8_t *key,
                      size_t key_len, uint8_t **value, size_t *value_len, bool *is_delete,
                      struct weft_err *err)
{
    for (size_t i = 0; i < rws->n_ns_rwset; i++) {
        const Rwset__NsReadWriteSet *n = rws->ns_rwset[i];
        if (strcmp(n->namespace_, ns) != 0)
            continue;
        struct ledger_kvrwset kv;
        int rc = ledger__kvrwset_decode(n->rwset.data, n->rwset.len, &kv, err);
        if (rc != 0)
            return rc;
        for (size_t w = 0; w < kv.n_writes; w++) {
            const struct ledger_kvwrite *kw = &kv.writes[w];
            if (kw->key.len != key_len || (key_len > 0 && memcmp(kw->key.p, key, key_len) != 0))
                continue;
            *is_delete = kw->is_delete || kw->value.len == 0;
            *value_len = *is_delete ? 0 : kw->value.len;
            *value = weft_malloc(*value_len + 1);
            if (*value == NULL) {
                ledger__kvrwset_free(&kv);
                return weft_err_set(err, WEFT_ENOMEM, "history: out of memory");
            }
            if (*value_len > 0)
                memcpy(*value, kw->value.p, *value_len);
            ledger__kvrwset_free(&kv);
            return 0;
        }
        ledger__kvrwset_free(&kv);
    }
    return weft_err_set(err, WEFT_ECORRUPT, "history: write of the key not found in its tx");
}

int weft_ledger_hist_next(struct weft_ledger_hist_iter *it, struct weft_ledger_key_mod *km,
                          struct weft_err *err)
{
    ledger__txinfo_clear(&it->ti);
    weft_free(it->value);
    it->value = NULL;
    if (it->pos >= it->n)
        return 0;
    const struct hist_ent *e = &it->ents[it->newest_first ? it->n - 1 - it->pos : it->pos];
    it->pos++;
    memset(km, 0, sizeof(*km));
    km->ver.block_num = e->block;
    km->ver.tx_num = e->tx;
    km->is_delete = (e->flags & 1) != 0;
    km->tx_id = "";
    km->value = (const uint8_t *)"";
    if (it->st->fetch == NULL)
        return 1; /* no block store: height and delete flag only */
    uint8_t *env = NULL;
    size_t env_len = 0;
    int rc = it->st->fetch(it->st->fetch_ctx, e->block, e->tx, &env, &env_len, err);
    if (rc != 0)
        return rc;
    rc = ledger__tx_decode(env, env_len, &it->ti, err);
    weft_free(env);
    if (rc != 0)
        return rc;
    if (it->ti.rws == NULL)
        return weft_err_set(err, WEFT_ECORRUPT, "history: tx %llu:%llu has no rwset",
                            (unsigned long long)e->block, (unsigned long long)e->tx);
    size_t vl = 0;
    bool del = false;
    rc = find_write(it->ti.rws, it->ns, it->key, it->key_len, &it->value, &vl, &del, err);
    if (rc != 0)
        return rc;
    km->tx_id = it->ti.txid != NULL ? it->ti.txid : "";
    km->value = it->value;
    km->value_len = vl;
    km->is_delete = del;
    km->ts_seconds = it->ti.ts_seconds;
    km->ts_nanos = it->ti.ts_nanos;
    return 1;
}

void weft_ledger_hist_free(struct weft_ledger_hist_iter *it)
{
    if (it == NULL)
        return;
    ledger__txinfo_clear(&it->ti);
    weft_free(it->value);
    weft_free(it->ents);
    weft_free(it->ns);
    weft_free(it->key);
    weft_free(it);
}
