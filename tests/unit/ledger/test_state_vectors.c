/* The real Fabric v2.4.9 chain (../shared/vectors/fabric-2.4.9, see its
 * README): for each of the 76 blocks
 *  1. the MVCC validator, given the codes Fabric set before MVCC (11/12
 *     cleared), must produce exactly the block's TRANSACTIONS_FILTER;
 *  2. each valid endorser tx (without private-data hashes) is re-simulated
 *     from its own operations against the state before the block, and the
 *     simulator's TxReadWriteSet must be byte-identical to the one in the
 *     block (both raw and Merkle range reads occur);
 *  3. the block's updates (valid txs per the filter) are committed.
 * At the end, the state must equal expected/state-all-namespaces.json
 * (values, versions, metadata, hashed state) and the histories of
 * expected/history.json must match, value, tx id and timestamp included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ledger/state_int.h"
#include "test_state.h"
#include "testlib.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"

#define NBLOCKS 76

struct vec {
    uint8_t *bytes[NBLOCKS];
    size_t len[NBLOCKS];
};

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static uint8_t *b64dec(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    uint8_t *o = malloc(n + 1);
    size_t ol = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[ol++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = ol;
    return o;
}

static void hexdec(const char *s, uint8_t *out, size_t *len)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *len = n;
}

static int vec_fetch(void *ctx, uint64_t b, uint64_t t, uint8_t **env, size_t *len,
                     struct weft_err *err)
{
    struct vec *v = ctx;
    if (b >= NBLOCKS)
        return weft_err_set(err, WEFT_ENOTFOUND, "no block");
    Common__Block *blk = common__block__unpack(NULL, v->len[b], v->bytes[b]);
    if (blk == NULL || t >= blk->data->n_data) {
        if (blk)
            common__block__free_unpacked(blk, NULL);
        return weft_err_set(err, WEFT_ENOTFOUND, "no tx");
    }
    *env = weft_memdup(blk->data->data[t].data, blk->data->data[t].len);
    *len = blk->data->data[t].len;
    common__block__free_unpacked(blk, NULL);
    return 0;
}

static json_t *load_json(const char *rel)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (j == NULL)
        fail_msg("cannot load %s: %s", p, je.text);
    weft_free(p);
    return j;
}

/* Re-simulates a tx from its recorded operations; returns 1 if compared,
 * 0 if skipped (private data), and checks bytes. */
static int resimulate(struct ledger_state *st, const Rwset__TxReadWriteSet *rws)
{
    struct weft_err err = {0};
    for (size_t i = 0; i < rws->n_ns_rwset; i++)
        if (rws->ns_rwset[i]->n_collection_hashed_rwset > 0)
            return 0;
    struct weft_ledger_sim *s;
    assert_int_equal(ledger__sim_new(st, "re", false, &s, &err), 0);
    for (size_t i = 0; i < rws->n_ns_rwset; i++) {
        const char *ns = rws->ns_rwset[i]->namespace_;
        struct ledger_kvrwset kv;
        assert_int_equal(ledger__kvrwset_decode(rws->ns_rwset[i]->rwset.data,
                                                rws->ns_rwset[i]->rwset.len, &kv, &err),
                         0);
        for (size_t r = 0; r < kv.n_reads; r++) {
            uint8_t *v;
            size_t vl;
            bool found;
            assert_int_equal(weft_ledger_sim_get(s, ns, (const char *)kv.reads[r].key.p,
                                                 kv.reads[r].key.len, &v, &vl, &found, NULL, &err),
                             0);
            weft_free(v);
        }
        for (size_t q = 0; q < kv.n_rqs; q++) {
            const struct ledger_rqinfo *ri = &kv.rqs[q];
            struct weft_ledger_range_iter *it;
            assert_true(ri->itr_exhausted);
            assert_int_equal(weft_ledger_sim_range(s, ns, (const char *)ri->start_key.p,
                                                   ri->start_key.len, (const char *)ri->end_key.p,
                                                   ri->end_key.len, 0, &it, &err),
                             0);
            struct weft_ledger_kv k;
            int rc;
            while ((rc = weft_ledger_range_next(it, &k, &err)) == 1)
                ;
            assert_int_equal(rc, 0);
            weft_ledger_range_free(it);
        }
        for (size_t w = 0; w < kv.n_writes; w++) {
            const struct ledger_kvwrite *kw = &kv.writes[w];
            if (kw->is_delete)
                assert_int_equal(weft_ledger_sim_del(s, ns, (const char *)kw->key.p, kw->key.len,
                                                     &err),
                                 0);
            else
                assert_int_equal(weft_ledger_sim_put(s, ns, (const char *)kw->key.p, kw->key.len,
                                                     kw->value.p, kw->value.len, &err),
                                 0);
        }
        for (size_t m = 0; m < kv.n_mwrites; m++) {
            const struct ledger_kvmetawrite *mw = &kv.mwrites[m];
            assert_true(mw->n_entries <= 1);
            char name[128] = "";
            if (mw->n_entries == 1) {
                memcpy(name, mw->entries[0].name.p, mw->entries[0].name.len);
                name[mw->entries[0].name.len] = 0;
            }
            assert_int_equal(weft_ledger_sim_put_metadata(
                                 s, ns, (const char *)mw->key.p, mw->key.len,
                                 mw->n_entries ? name : NULL,
                                 mw->n_entries ? mw->entries[0].value.p : NULL,
                                 mw->n_entries ? mw->entries[0].value.len : 0, &err),
                             0);
        }
        ledger__kvrwset_free(&kv);
    }
    uint8_t *out;
    size_t out_len;
    assert_int_equal(weft_ledger_sim_rwset(s, &out, &out_len, &err), 0);
    weft_ledger_sim_free(s);
    size_t want_len = rwset__tx_read_write_set__get_packed_size(rws);
    uint8_t *want = malloc(want_len + 1);
    rwset__tx_read_write_set__pack(rws, want);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    free(want);
    weft_free(out);
    return 1;
}

static void check_state(struct ledger_state *st, json_t *all)
{
    struct weft_err err = {0};
    MDB_txn *txn;
    json_t *pub = json_object_get(all, "public");
    const char *ns;
    json_t *keys;
    json_object_foreach(pub, ns, keys) {
        /* every expected key matches */
        const char *key;
        json_t *e;
        assert_int_equal(ledger__state_read_begin(st, &txn, &err), 0);
        json_object_foreach(keys, key, e) {
            bool found;
            struct weft_ledger_version v;
            const uint8_t *val, *meta;
            size_t vl, ml;
            assert_int_equal(ledger__state_get_in(st, txn, ns, (const uint8_t *)key, strlen(key),
                                                  &found, &v, &val, &vl, &meta, &ml, &err),
                             0);
            if (!found)
                fail_msg("key %s/%s missing", ns, key);
            size_t wl;
            uint8_t *w = b64dec(json_string_value(json_object_get(e, "value")), &wl);
            assert_int_equal(vl, wl);
            assert_memory_equal(val, w, wl);
            free(w);
            char vs[64];
            snprintf(vs, sizeof(vs), "%llu:%llu", (unsigned long long)v.block_num,
                     (unsigned long long)v.tx_num);
            if (strcmp(vs, json_string_value(json_object_get(e, "version"))) != 0)
                fail_msg("key %s/%s version %s, want %s", ns, key, vs,
                         json_string_value(json_object_get(e, "version")));
            json_t *md = json_object_get(e, "metadata");
            if (md != NULL) {
                uint8_t *sm = b64dec(json_string_value(json_object_get(md, "serialized")), &wl);
                assert_int_equal(ml, wl);
                assert_memory_equal(meta, sm, wl);
                free(sm);
            } else {
                assert_int_equal(ml, 0);
            }
        }
        ledger__state_read_end(st, txn);
        /* and nothing else is in the namespace */
        struct weft_ledger_sim *q;
        struct weft_ledger_range_iter *it;
        struct weft_ledger_kv kv;
        assert_int_equal(ledger__sim_new(st, "", true, &q, &err), 0);
        assert_int_equal(weft_ledger_sim_range(q, ns, "", 0, "", 0, 0, &it, &err), 0);
        size_t n = 0;
        while (weft_ledger_range_next(it, &kv, &err) == 1)
            n++;
        assert_int_equal(n, json_object_size(keys));
        weft_ledger_range_free(it);
        weft_ledger_sim_free(q);
    }
    /* hashed state */
    json_t *hashed = json_object_get(all, "hashed");
    json_t *colls;
    size_t nh = 0;
    json_object_foreach(hashed, ns, colls) {
        const char *coll;
        json_t *ents;
        json_object_foreach(colls, coll, ents) {
            char hns[256];
            snprintf(hns, sizeof(hns), "%s$$h%s", ns, coll);
            const char *kh;
            json_t *e;
            assert_int_equal(ledger__state_read_begin(st, &txn, &err), 0);
            json_object_foreach(ents, kh, e) {
                uint8_t k[64], want[64];
                size_t kl, wl;
                hexdec(kh, k, &kl);
                hexdec(json_string_value(json_object_get(e, "value_hash")), want, &wl);
                bool found;
                struct weft_ledger_version v;
                const uint8_t *val, *meta;
                size_t vl, ml;
                assert_int_equal(ledger__state_get_in(st, txn, hns, k, kl, &found, &v, &val, &vl,
                                                      &meta, &ml, &err),
                                 0);
                assert_true(found);
                assert_int_equal(vl, wl);
                assert_memory_equal(val, want, wl);
                char vs[64];
                snprintf(vs, sizeof(vs), "%llu:%llu", (unsigned long long)v.block_num,
                         (unsigned long long)v.tx_num);
                assert_string_equal(vs, json_string_value(json_object_get(e, "version")));
                nh++;
            }
            ledger__state_read_end(st, txn);
        }
    }
    assert_int_equal(nh, 12);
}

static void check_history(struct ledger_state *st, json_t *hist)
{
    struct weft_err err = {0};
    const char *key;
    json_t *h;
    struct weft_ledger_sim *q;
    assert_int_equal(ledger__sim_new(st, "", true, &q, &err), 0);
    size_t checked = 0;
    json_object_foreach(hist, key, h) {
        json_t *ents = json_object_get(h, "entries");
        struct weft_ledger_hist_iter *it;
        assert_int_equal(weft_ledger_sim_history(q, "basic", key, strlen(key), true, &it, &err), 0);
        size_t i;
        json_t *e;
        json_array_foreach(ents, i, e) {
            struct weft_ledger_key_mod km;
            int rc = weft_ledger_hist_next(it, &km, &err);
            if (rc != 1)
                fail_msg("history %s: entry %zu missing (%d %s)", key, i, rc, err.msg);
            assert_string_equal(km.tx_id, json_string_value(json_object_get(e, "txId")));
            assert_int_equal(km.is_delete, json_is_true(json_object_get(e, "isDelete")));
            size_t wl;
            uint8_t *w = b64dec(json_string_value(json_object_get(e, "value")), &wl);
            assert_int_equal(km.value_len, wl);
            if (wl > 0)
                assert_memory_equal(km.value, w, wl);
            free(w);
            json_t *ts = json_object_get(e, "timestamp");
            assert_int_equal(km.ts_seconds,
                             strtoll(json_string_value(json_object_get(ts, "seconds")), NULL, 10));
            assert_int_equal(km.ts_nanos, json_integer_value(json_object_get(ts, "nanos")));
            assert_int_equal(km.ver.block_num, json_integer_value(json_object_get(e, "block")));
            assert_int_equal(km.ver.tx_num, json_integer_value(json_object_get(e, "tx")));
            checked++;
        }
        struct weft_ledger_key_mod km;
        assert_int_equal(weft_ledger_hist_next(it, &km, &err), 0);
        weft_ledger_hist_free(it);
    }
    weft_ledger_sim_free(q);
    assert_true(checked >= 10);
}

void test_state_vectors_replay(void **state)
{
    (void)state;
    struct vec *v = calloc(1, sizeof(*v));
    char *dir = wt_tmpdir("state-vec");
    struct ledger_state *st;
    struct weft_err err = {0};
    assert_int_equal(ledger__state_open_dir(&st, dir, true, &err), 0);
    ledger__state_set_tx_fetcher(st, vec_fetch, v);
    size_t resim = 0, mvcc_marked = 0;
    for (unsigned n = 0; n < NBLOCKS; n++) {
        char *p = weft_asprintf("%s/vectors/fabric-2.4.9/blocks/%06u.block", wt_shared_dir(), n);
        v->bytes[n] = (uint8_t *)wt_read_file(p, &v->len[n]);
        assert_non_null(v->bytes[n]);
        weft_free(p);
        char rel[64];
        snprintf(rel, sizeof(rel), "expected/%06u.json", n);
        json_t *ej = load_json(rel);
        json_t *codes_j = json_object_get(ej, "validation_codes");
        Common__Block *blk = common__block__unpack(NULL, v->len[n], v->bytes[n]);
        assert_non_null(blk);
        size_t ntx = blk->data->n_data;
        assert_int_equal(json_array_size(codes_j), ntx);
        uint8_t *want = calloc(ntx + 1, 1), *codes = calloc(ntx + 1, 1);
        for (size_t i = 0; i < ntx; i++) {
            want[i] = (uint8_t)json_integer_value(json_array_get(codes_j, i));
            codes[i] = (want[i] == 11 || want[i] == 12) ? 0 : want[i];
        }
        /* 1. validator */
        struct ledger_updates *uv = NULL;
        assert_int_equal(ledger__mvcc_validate_block(st, blk, codes, ntx, &uv, &err), 0);
        for (size_t i = 0; i < ntx; i++) {
            if (codes[i] != want[i])
                fail_msg("block %u tx %zu: code %u, Fabric %u", n, i, codes[i], want[i]);
            if (want[i] == 11 || want[i] == 12)
                mvcc_marked++;
        }
        /* 2. re-simulation of valid txs against the state before the block */
        for (size_t i = 0; i < ntx; i++) {
            if (want[i] != 0)
                continue;
            struct ledger_txinfo ti;
            int rc = ledger__tx_decode(blk->data->data[i].data, blk->data->data[i].len, &ti, &err);
            if (rc == 0)
                resim += (size_t)resimulate(st, ti.rws);
            ledger__txinfo_clear(&ti);
        }
        /* 3. commit */
        struct ledger_updates *u = NULL;
        assert_int_equal(ledger__updates_from_block(blk, want, ntx, &u, &err), 0);
        /* the validator's updates equal the commit path's for endorser txs */
        size_t nonconfig = 0;
        for (size_t i = 0; i < u->n; i++)
            nonconfig += u->ops[i].ns[0] != 0;
        assert_int_equal(uv->n, nonconfig);
        assert_int_equal(ledger__state_commit(st, u, &err), 0);
        ledger__updates_free(u);
        ledger__updates_free(uv);
        free(want);
        free(codes);
        common__block__free_unpacked(blk, NULL);
        json_decref(ej);
    }
    assert_int_equal(mvcc_marked, 90 + 56);
    assert_true(resim >= 340);
    json_t *all = load_json("expected/state-all-namespaces.json");
    check_state(st, all);
    json_decref(all);
    json_t *hist = load_json("expected/history.json");
    check_history(st, hist);
    json_decref(hist);
    ledger__state_close(st);
    for (unsigned n = 0; n < NBLOCKS; n++)
        weft_free(v->bytes[n]);
    free(v);
    wt_rmtree(dir);
    weft_free(dir);
}

/* Through the block store facade: commit the real chain with
 * weft_ledger_commit_bytes, then use the public simulator / executor /
 * history / validator wrappers (history values come from the block files
 * through the block store's tx fetcher). */
void test_state_vectors_facade(void **state)
{
    (void)state;
    char *root = wt_tmpdir("state-facade");
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "mychannel";
    o.no_sync = true;
    struct weft_ledger *l;
    struct weft_err err = {0};
    assert_int_equal(weft_ledger_open(&l, &o, &err), 0);
    uint8_t *last = NULL;
    size_t last_len = 0;
    for (unsigned n = 0; n < NBLOCKS; n++) {
        char *p = weft_asprintf("%s/vectors/fabric-2.4.9/blocks/%06u.block", wt_shared_dir(), n);
        size_t len;
        uint8_t *b = (uint8_t *)wt_read_file(p, &len);
        weft_free(p);
        assert_non_null(b);
        if (n == NBLOCKS - 1) {
            last = b;
            last_len = len;
        }
        if (weft_ledger_commit_bytes(l, b, len, &err) != 0)
            fail_msg("commit %u: %s", n, err.msg);
        if (b != last)
            weft_free(b);
    }
    struct weft_ledger_sim *q;
    assert_int_equal(weft_ledger_qe_new(l, &q, &err), 0);
    uint8_t *v;
    size_t vl;
    bool found;
    struct weft_ledger_version ver;
    assert_int_equal(weft_ledger_sim_get(q, "basic", "sbe-1", 5, &v, &vl, &found, &ver, &err), 0);
    assert_true(found);
    assert_int_equal(ver.block_num, 65);
    assert_int_equal(ver.tx_num, 0);
    weft_free(v);
    struct weft_ledger_hist_iter *h;
    struct weft_ledger_key_mod km;
    assert_int_equal(weft_ledger_sim_history(q, "basic", "asset-100", 9, true, &h, &err), 0);
    int n = 0, dels = 0, rc;
    while ((rc = weft_ledger_hist_next(h, &km, &err)) == 1) {
        assert_int_equal(strlen(km.tx_id), 64);
        dels += km.is_delete;
        n++;
    }
    if (rc != 0)
        fail_msg("history: %s", err.msg);
    assert_int_equal(n, 4); /* create, delete, re-create, transfer */
    assert_int_equal(dels, 1);
    weft_ledger_hist_free(h);
    weft_ledger_sim_free(q);
    /* re-validating the last block against the final state: every valid tx
     * now conflicts with its own committed writes or reads */
    Common__Block *blk = common__block__unpack(NULL, last_len, last);
    assert_non_null(blk);
    size_t ntx = blk->data->n_data;
    uint8_t *codes = calloc(ntx, 1);
    assert_int_equal(weft_ledger_mvcc_validate_block(l, blk, codes, ntx, &err), 0);
    size_t conflicts = 0;
    for (size_t i = 0; i < ntx; i++)
        conflicts += codes[i] == 11 || codes[i] == 12;
    assert_true(conflicts > 0);
    free(codes);
    common__block__free_unpacked(blk, NULL);
    weft_free(last);
    weft_ledger_close(l);
    wt_rmtree(root);
    weft_free(root);
}
