/*
 * MVCC validation of one block (spec block-and-validation.md §7).
 *
 * Transactions are checked in block order against committed state (one
 * read txn for the whole block) plus an overlay of the writes of the earlier
 * transactions of the block that were found valid. Per namespace, in rwset
 * order: public reads (a key written earlier in the block, or a committed
 * version different from the recorded one => MVCC_READ_CONFLICT), then range
 * queries (re-executed over committed + overlay, end inclusive when the
 * iterator was not exhausted; raw reads must match exactly, Merkle
 * summaries are recomputed => PHANTOM_READ_CONFLICT), then hashed reads per
 * collection (=> MVCC_READ_CONFLICT). The first failure decides the code.
 *
 * Valid transactions feed the overlay and the block's updates list, which is
 * what ledger__state_apply later writes.
 */
#include <lmdb.h>
#include <string.h>

#include "ledger_int.h"
#include "state_int.h"

#define CODE_INVALID_OTHER 255

static bool ver_eq(const struct weft_ledger_version *a, const struct weft_ledger_version *b)
{
    return a->block_num == b->block_num && a->tx_num == b->tx_num;
}

/* 0 = read still valid, 1 = conflict, < 0 error. */
static int check_read(struct ledger_state *st, MDB_txn *txn, const struct ledger_overlay *ov,
                      const char *ns, const struct ledger_kvread *r, struct weft_err *err)
{
    uint8_t *fk;
    size_t fkl;
    if (ledger__state_key(ns, r->key.p, r->key.len, &fk, &fkl) != 0)
        return weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
    bool written = ledger__overlay_find(ov, fk, fkl) != NULL;
    weft_free(fk);
    if (written)
        return 1;
    bool found;
    struct weft_ledger_version v;
    const uint8_t *val, *meta;
    size_t vl, ml;
    int rc = ledger__state_get_in(st, txn, ns, r->key.p, r->key.len, &found, &v, &val, &vl, &meta,
                                  &ml, err);
    if (rc != 0)
        return rc;
    if (found != r->has_version)
        return 1;
    if (found && !ver_eq(&v, &r->ver))
        return 1;
    return 0;
}

/* 0 = same results, 1 = phantom, < 0 error. */
static int check_range(struct ledger_state *st, MDB_txn *txn, const struct ledger_overlay *ov,
                       const char *ns, const struct ledger_rqinfo *q, struct weft_err *err)
{
    struct ledger_rscan *sc;
    struct ledger_scan_item it;
    int rc = ledger__rscan_open(st, txn, ns, q->start_key.p, q->start_key.len, q->end_key.p,
                                q->end_key.len, !q->itr_exhausted, ov, &sc, err);
    if (rc != 0)
        return rc;
    int verdict = 0;
    if (q->reads_kind != 5) {
        for (size_t i = 0; i < q->n_raw; i++) {
            rc = ledger__rscan_next(sc, &it, err);
            if (rc < 0)
                goto out;
            const struct ledger_kvread *r = &q->raw[i];
            if (rc == 0 || it.key_len != r->key.len ||
                (r->key.len > 0 && memcmp(it.key, r->key.p, r->key.len) != 0) ||
                !r->has_version || !ver_eq(&it.ver, &r->ver)) {
                verdict = 1;
                goto out;
            }
        }
        rc = ledger__rscan_next(sc, &it, err);
        if (rc < 0)
            goto out;
        verdict = rc == 1;
        rc = 0;
        goto out;
    }
    /* Merkle summary: recompute with the recorded degree and compare */
    struct ledger_rqhelper h;
    if (q->max_degree < 2) {
        verdict = 1;
        rc = 0;
        goto out;
    }
    ledger__rqhelper_init(&h, true, q->max_degree, true);
    while ((rc = ledger__rscan_next(sc, &it, err)) == 1) {
        if ((rc = ledger__rqhelper_add(&h, it.key, it.key_len, &it.ver)) != 0) {
            rc = weft_err_set(err, rc, "mvcc: out of memory");
            break;
        }
    }
    if (rc == 0) {
        bool merkle;
        rc = ledger__rqhelper_done(&h, &merkle);
        if (rc != 0) {
            rc = weft_err_set(err, rc, "mvcc: merkle summary");
        } else if (!merkle || h.max_level != q->max_level ||
                   h.level_n[h.max_level] != q->n_hashes) {
            verdict = 1;
        } else {
            for (size_t i = 0; i < q->n_hashes; i++)
                if (q->hashes[i].len != 32 ||
                    memcmp(q->hashes[i].p, h.levels[h.max_level] + i * 32, 32) != 0)
                    verdict = 1;
        }
    }
    ledger__rqhelper_free(&h);
out:
    ledger__rscan_close(sc);
    return rc < 0 ? rc : verdict;
}

/* Returns the tx's code (0 valid, 11, 12, 255) or < 0 on error. */
static int validate_tx(struct ledger_state *st, MDB_txn *txn, const struct ledger_overlay *ov,
                       const Rwset__TxReadWriteSet *rws, struct weft_err *err)
{
    for (size_t i = 0; i < rws->n_ns_rwset; i++) {
        const Rwset__NsReadWriteSet *n = rws->ns_rwset[i];
        const char *ns = n->namespace_ != NULL ? n->namespace_ : "";
        struct ledger_kvrwset kv;
        struct weft_err perr;
        if (ledger__kvrwset_decode(n->rwset.data, n->rwset.len, &kv, &perr) != 0)
            return perr.code == WEFT_ENOMEM ? weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory")
                                            : CODE_INVALID_OTHER;
        int code = 0, rc = 0;
        for (size_t r = 0; r < kv.n_reads && code == 0; r++) {
            rc = check_read(st, txn, ov, ns, &kv.reads[r], err);
            if (rc < 0)
                break;
            if (rc == 1)
                code = WEFT_TX_MVCC_READ_CONFLICT;
        }
        for (size_t q = 0; q < kv.n_rqs && code == 0 && rc >= 0; q++) {
            rc = check_range(st, txn, ov, ns, &kv.rqs[q], err);
            if (rc == 1)
                code = WEFT_TX_PHANTOM_READ_CONFLICT;
        }
        ledger__kvrwset_free(&kv);
        if (rc < 0)
            return rc;
        if (code != 0)
            return code;
        for (size_t c = 0; c < n->n_collection_hashed_rwset; c++) {
            const Rwset__CollectionHashedReadWriteSet *ch = n->collection_hashed_rwset[c];
            struct ledger_kvread *hr;
            size_t nhr;
            if (ledger__hashed_reads_decode(ch->hashed_rwset.data, ch->hashed_rwset.len, &hr, &nhr,
                                            &perr) != 0)
                return perr.code == WEFT_ENOMEM
                           ? weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory")
                           : CODE_INVALID_OTHER;
            char *hns = weft_asprintf("%s$$h%s", ns, ch->collection_name ? ch->collection_name : "");
            if (hns == NULL) {
                weft_free(hr);
                return weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
            }
            for (size_t r = 0; r < nhr && code == 0; r++) {
                rc = check_read(st, txn, ov, hns, &hr[r], err);
                if (rc < 0)
                    break;
                if (rc == 1)
                    code = WEFT_TX_MVCC_READ_CONFLICT;
            }
            weft_free(hns);
            weft_free(hr);
            if (rc < 0)
                return rc;
            if (code != 0)
                return code;
        }
    }
    return 0;
}

/* Records the ops [from, u->n) of a valid tx in the overlay. */
static int overlay_add_ops(struct ledger_state *st, MDB_txn *txn, struct ledger_overlay *ov,
                           const struct ledger_updates *u, size_t from, struct weft_err *err)
{
    for (size_t i = from; i < u->n; i++) {
        const struct ledger_op *op = &u->ops[i];
        uint8_t *fk;
        size_t fkl;
        if (ledger__state_key(op->ns, op->key, op->key_len, &fk, &fkl) != 0)
            return weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
        struct weft_ledger_version v = {op->block, op->tx};
        int rc = 0;
        if (op->kind == LEDGER_OP_META) {
            /* a metadata-only write touches only an existing key */
            const struct ledger_overlay_ent *e = ledger__overlay_find(ov, fk, fkl);
            bool exists;
            if (e != NULL) {
                exists = e->exists;
            } else {
                struct weft_ledger_version cv;
                const uint8_t *val, *meta;
                size_t vl, ml;
                rc = ledger__state_get_in(st, txn, op->ns, op->key, op->key_len, &exists, &cv,
                                          &val, &vl, &meta, &ml, err);
            }
            if (rc == 0 && exists && ledger__overlay_set(ov, fk, fkl, true, v) != 0)
                rc = weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
        } else if (ledger__overlay_set(ov, fk, fkl, op->kind == LEDGER_OP_PUT, v) != 0) {
            rc = weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
        }
        weft_free(fk);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ledger__mvcc_validate(struct ledger_state *st, uint64_t block_num,
                          const Rwset__TxReadWriteSet *const *rws, uint8_t *codes, size_t ntx,
                          struct ledger_updates **updates_out, struct weft_err *err)
{
    MDB_txn *txn = NULL;
    struct ledger_overlay ov;
    struct ledger_updates *u = ledger__updates_new(block_num);
    if (u == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
    ledger__overlay_init(&ov);
    int rc = ledger__state_read_begin(st, &txn, err);
    for (size_t i = 0; i < ntx && rc == 0; i++) {
        if (codes[i] != 0 || rws[i] == NULL)
            continue;
        int code = validate_tx(st, txn, &ov, rws[i], err);
        if (code < 0) {
            rc = code;
            break;
        }
        if (code != 0) {
            codes[i] = (uint8_t)code;
            continue;
        }
        size_t from = u->n;
        struct weft_err perr;
        rc = ledger__updates_add_tx(u, i, rws[i], &perr);
        if (rc != 0 && rc != WEFT_ENOMEM) {
            /* unparsable write set: invalid, and none of its writes apply */
            u->n = from;
            codes[i] = CODE_INVALID_OTHER;
            rc = 0;
            continue;
        }
        if (rc != 0) {
            rc = weft_err_set(err, rc, "mvcc: out of memory");
            break;
        }
        rc = overlay_add_ops(st, txn, &ov, u, from, err);
    }
    ledger__state_read_end(st, txn);
    ledger__overlay_free(&ov);
    if (rc != 0 || updates_out == NULL) {
        ledger__updates_free(u);
        return rc;
    }
    *updates_out = u;
    return 0;
}

int ledger__mvcc_validate_block(struct ledger_state *st, const Common__Block *blk, uint8_t *codes,
                                size_t ntx, struct ledger_updates **updates_out,
                                struct weft_err *err)
{
    if (blk->header == NULL || blk->data == NULL || blk->data->n_data != ntx)
        return weft_err_set(err, WEFT_EINVAL, "mvcc: block without header/data or wrong count");
    struct ledger_txinfo *tis = weft_calloc(ntx + 1, sizeof(*tis));
    const Rwset__TxReadWriteSet **rws = weft_calloc(ntx + 1, sizeof(*rws));
    int rc = 0;
    if (tis == NULL || rws == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "mvcc: out of memory");
        goto out;
    }
    for (size_t i = 0; i < ntx; i++) {
        if (codes[i] != 0)
            continue;
        struct weft_err perr;
        int r = ledger__tx_decode(blk->data->data[i].data, blk->data->data[i].len, &tis[i], &perr);
        if (r == 0)
            rws[i] = tis[i].rws;
        else if (r == WEFT_ENOMEM) {
            rc = weft_err_set(err, r, "mvcc: out of memory");
            goto out;
        } else if (r != WEFT_ENOTFOUND)
            codes[i] = CODE_INVALID_OTHER;
    }
    rc = ledger__mvcc_validate(st, blk->header->number, rws, codes, ntx, updates_out, err);
out:
    if (tis != NULL)
        for (size_t i = 0; i < ntx; i++)
            ledger__txinfo_clear(&tis[i]);
    weft_free(tis);
    weft_free(rws);
    return rc;
}

int weft_ledger_mvcc_validate(struct weft_ledger *l, uint64_t block_num,
                              const struct Rwset__TxReadWriteSet *const *rws, uint8_t *codes,
                              size_t ntx, struct weft_err *err)
{
    if (l == NULL || l->state == NULL)
        return weft_err_set(err, WEFT_EINVAL, "mvcc: ledger has no state");
    return ledger__mvcc_validate(l->state, block_num, rws, codes, ntx, NULL, err);
}

int weft_ledger_mvcc_validate_block(struct weft_ledger *l, const struct Common__Block *blk,
                                    uint8_t *codes, size_t ntx, struct weft_err *err)
{
    if (l == NULL || l->state == NULL)
        return weft_err_set(err, WEFT_EINVAL, "mvcc: ledger has no state");
    return ledger__mvcc_validate_block(l->state, blk, codes, ntx, NULL, err);
}
