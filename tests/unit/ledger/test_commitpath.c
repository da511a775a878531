/* Tests of the commit fast paths (docs/ledger.md "Performance"):
 *  - ledger__state_apply (sorted cursor writes, per-key folding, appends)
 *    against a reference model of Fabric's batch rules, over random blocks;
 *  - the wire-walking read/write set extraction against the full protobuf
 *    decoder, on every block of the Fabric v2.4.9 vector chain and on
 *    truncated envelopes;
 *  - pending transaction ids: lookups before and after merges and reopen,
 *    first occurrence kept across the boundary, verify;
 *  - a block record the writer thread cannot write: the commit fails, the
 *    record is cut off again, the ledger goes on;
 *  - hardware CRC-32C against the table version. */
#include <errno.h>
#include <lmdb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ledger/ledger_int.h"
#include "ledger/state_int.h"
#include "test_blockstore_gen.h"
#include "testlib.h"
#include "weft/base.h"
#include "weft/ledger.h"

/* ---- state apply vs a reference model --------------------------------------- */

#define NKEYS 14
#define MAXH 4096

static const char *const key_names[NKEYS] = {"k",
                                             "k1",
                                             "k10",
                                             "k2",
                                             "a",
                                             "zz",
                                             "\x00"
                                             "ck\x00"
                                             "1\x00",
                                             "m",
                                             "b",
                                             "q",
                                             "r",
                                             "s",
                                             "t",
                                             "u"};
static const size_t key_lens[NKEYS] = {1, 2, 3, 2, 1, 2, 6, 1, 1, 1, 1, 1, 1, 1};
static const char *const nss[2] = {"ns1", "ns1$$hcoll"};

struct model_kv {
    bool exists;
    char value[16];
    size_t vl;
    char meta[16];
    size_t ml; /* 0 = none */
    uint64_t b, t;
};

struct model_hist {
    int ns, key;
    uint64_t b, t;
    uint8_t flag;
};

struct model {
    struct model_kv kv[2][NKEYS];
    struct model_hist h[MAXH];
    size_t nh;
};

static uint64_t rnd_state = 0x243f6a8885a308d3ull;
static uint32_t rnd(uint32_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state % n);
}

static void model_apply(struct model *m, int ns, int key, const struct ledger_op *op)
{
    struct model_kv *kv = &m->kv[ns][key];
    switch (op->kind) {
    case LEDGER_OP_DEL:
        memset(kv, 0, sizeof(*kv));
        break;
    case LEDGER_OP_PUT:
        if (!kv->exists) {
            kv->ml = 0;
        }
        kv->exists = true;
        memcpy(kv->value, op->value, op->value_len);
        kv->vl = op->value_len;
        if (op->has_meta) {
            kv->ml = op->meta_len;
            if (op->meta_len > 0) {
                memcpy(kv->meta, op->meta, op->meta_len);
            }
        }
        kv->b = op->block;
        kv->t = op->tx;
        break;
    case LEDGER_OP_META:
        if (kv->exists) {
            kv->ml = op->meta_len;
            if (op->meta_len > 0) {
                memcpy(kv->meta, op->meta, op->meta_len);
            }
            kv->b = op->block;
            kv->t = op->tx;
        }
        break;
    default:
        fail();
    }
    if (op->history) {
        uint8_t flag = op->kind == LEDGER_OP_DEL ? 1 : 0;
        for (size_t i = 0; i < m->nh; i++) {
            struct model_hist *h = &m->h[i];
            if (h->ns == ns && h->key == key && h->b == op->block && h->t == op->tx) {
                h->flag = flag; /* same tx writing the key twice: last wins */
                return;
            }
        }
        assert_true(m->nh < MAXH);
        m->h[m->nh++] = (struct model_hist){ns, key, op->block, op->tx, flag};
    }
}

static void model_check(struct ledger_state *st, const struct model *m)
{
    MDB_txn *txn;
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(ledger__state_read_begin(st, &txn, &err), 0);
    /* every model key */
    size_t live = 0;
    for (int ns = 0; ns < 2; ns++) {
        for (int k = 0; k < NKEYS; k++) {
            const struct model_kv *kv = &m->kv[ns][k];
            bool found;
            struct weft_ledger_version v;
            const uint8_t *value, *meta;
            size_t vl, ml;
            assert_int_equal(ledger__state_get_in(st, txn, nss[ns], (const uint8_t *)key_names[k],
                                                  key_lens[k], &found, &v, &value, &vl, &meta, &ml,
                                                  &err),
                             0);
            assert_int_equal(found, kv->exists);
            if (!found) {
                continue;
            }
            live++;
            assert_int_equal(vl, kv->vl);
            assert_memory_equal(value, kv->value, vl);
            assert_int_equal(ml, kv->ml);
            if (ml > 0) {
                assert_memory_equal(meta, kv->meta, ml);
            } else {
                assert_null(meta);
            }
            assert_int_equal(v.block_num, kv->b);
            assert_int_equal(v.tx_num, kv->t);
        }
    }
    /* nothing else in the table */
    MDB_stat ms;
    assert_int_equal(mdb_stat(txn, st->dbi_state, &ms), 0);
    assert_int_equal(ms.ms_entries, live);
    /* history: the same entries (order is LMDB's, so compare as a set) */
    assert_int_equal(mdb_stat(txn, st->dbi_history, &ms), 0);
    assert_int_equal(ms.ms_entries, m->nh);
    for (size_t i = 0; i < m->nh; i++) {
        const struct model_hist *h = &m->h[i];
        uint8_t *hk;
        size_t hkl;
        assert_int_equal(ledger__history_key(nss[h->ns], (const uint8_t *)key_names[h->key],
                                             key_lens[h->key], h->b, h->t, true, &hk, &hkl),
                         0);
        MDB_val k = {hkl, hk}, v;
        assert_int_equal(mdb_get(txn, st->dbi_history, &k, &v), 0);
        assert_int_equal(v.mv_size, 1);
        assert_int_equal(((uint8_t *)v.mv_data)[0], h->flag);
        weft_free(hk);
    }
    ledger__state_read_end(st, txn);
}

static void test_apply_model(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("commitpath-apply");
    struct ledger_state *st;
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(ledger__state_open_dir(&st, dir, true, &err), 0);
    struct model *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    for (uint64_t b = 0; b < 300; b++) {
        struct ledger_updates *u = ledger__updates_new(b);
        assert_non_null(u);
        uint32_t nops = rnd(24);
        uint64_t tx = 0;
        /* Blocks 0..9 touch only keys in increasing order (the append
         * path); later blocks anything (updates, deletes, metadata). */
        int next_key = 0;
        for (uint32_t i = 0; i < nops; i++) {
            tx += rnd(3) == 0 ? 1 : 0;
            int ns = (int)rnd(2);
            int key;
            if (b < 10) {
                if (next_key >= NKEYS) {
                    break;
                }
                key = next_key++;
            } else {
                key = (int)rnd(NKEYS);
            }
            char value[16], meta[16];
            size_t vl = 1 + rnd(8);
            for (size_t j = 0; j < vl; j++) {
                value[j] = (char)('a' + rnd(26));
            }
            size_t ml = rnd(3) == 0 ? 0 : 1 + rnd(6);
            for (size_t j = 0; j < ml; j++) {
                meta[j] = (char)('A' + rnd(26));
            }
            struct ledger_op op = {.ns = nss[ns],
                                   .key = (const uint8_t *)key_names[key],
                                   .key_len = key_lens[key],
                                   .block = b,
                                   .tx = tx,
                                   .history = ns == 0};
            uint32_t kind = b < 10 ? 0 : rnd(6);
            if (kind <= 2) {
                op.kind = LEDGER_OP_PUT;
                op.value = (const uint8_t *)value;
                op.value_len = vl;
                op.has_meta = kind == 1;
                op.meta = op.has_meta && ml > 0 ? (const uint8_t *)meta : NULL;
                op.meta_len = op.has_meta ? ml : 0;
            } else if (kind == 3 || kind == 4) {
                op.kind = LEDGER_OP_DEL;
            } else {
                op.kind = LEDGER_OP_META;
                op.meta = ml > 0 ? (const uint8_t *)meta : NULL;
                op.meta_len = ml;
                op.history = false;
            }
            assert_int_equal(ledger__updates_add(u, &op), 0);
            model_apply(m, ns, key, &op);
        }
        assert_int_equal(ledger__state_commit(st, u, &err), 0);
        ledger__updates_free(u);
        model_check(st, m);
    }
    free(m);
    ledger__state_close(st);
    wt_rmtree(dir);
    weft_free(dir);
}

/* Keys longer than LMDB allows are refused, nothing written. */
static void test_apply_key_too_long(void **state)
{
    (void)state;
    char *dir = wt_tmpdir("commitpath-long");
    struct ledger_state *st;
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(ledger__state_open_dir(&st, dir, true, &err), 0);
    struct ledger_updates *u = ledger__updates_new(1);
    uint8_t big[600];
    memset(big, 'x', sizeof(big));
    struct ledger_op ok = {.ns = "ns",
                           .key = (const uint8_t *)"a",
                           .key_len = 1,
                           .value = (const uint8_t *)"v",
                           .value_len = 1,
                           .block = 1,
                           .kind = LEDGER_OP_PUT};
    struct ledger_op bad = ok;
    bad.key = big;
    bad.key_len = sizeof(big);
    assert_int_equal(ledger__updates_add(u, &ok), 0);
    assert_int_equal(ledger__updates_add(u, &bad), 0);
    assert_int_equal(ledger__state_commit(st, u, &err), WEFT_ETOOBIG);
    ledger__updates_free(u);
    MDB_txn *txn;
    assert_int_equal(ledger__state_read_begin(st, &txn, &err), 0);
    MDB_stat ms;
    assert_int_equal(mdb_stat(txn, st->dbi_state, &ms), 0);
    assert_int_equal(ms.ms_entries, 0);
    ledger__state_read_end(st, txn);
    ledger__state_close(st);
    wt_rmtree(dir);
    weft_free(dir);
}

/* ---- fast read/write set extraction vs the full decoder ---------------------- */

/* The updates of a block built the slow way: ledger__tx_decode for every
 * valid transaction. */
static int slow_updates(const Common__Block *blk, const uint8_t *codes, size_t ntx,
                        struct ledger_updates **out, struct weft_err *err)
{
    struct ledger_updates *u = ledger__updates_new(blk->header->number);
    int rc = 0;
    for (size_t i = 0; i < ntx && rc == 0; i++) {
        if (codes != NULL && codes[i] != 0) {
            continue;
        }
        struct ledger_txinfo ti;
        rc = ledger__tx_decode(blk->data->data[i].data, blk->data->data[i].len, &ti, err);
        if (rc == WEFT_ENOTFOUND) {
            rc = 0;
            if (ti.hdr_type == 1 && ti.config.len > 0) {
                static const char cfgkey[] = "CHANNEL_CONFIG_ENV_BYTES";
                struct ledger_op op = {.ns = "",
                                       .key = (const uint8_t *)cfgkey,
                                       .key_len = sizeof(cfgkey) - 1,
                                       .value = ti.config.data,
                                       .value_len = ti.config.len,
                                       .block = u->block,
                                       .tx = i,
                                       .kind = LEDGER_OP_PUT};
                rc = ledger__updates_add(u, &op);
            }
        } else if (rc == 0) {
            rc = ledger__updates_add_tx(u, i, ti.rws, err);
        }
        ledger__txinfo_clear(&ti);
    }
    if (rc != 0) {
        ledger__updates_free(u);
        return rc;
    }
    *out = u;
    return 0;
}

static void same_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    assert_int_equal(al, bl);
    if (al > 0) {
        assert_memory_equal(a, b, al);
    }
}

static void same_updates(const struct ledger_updates *a, const struct ledger_updates *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct ledger_op *x = &a->ops[i], *y = &b->ops[i];
        assert_string_equal(x->ns, y->ns);
        same_bytes(x->key, x->key_len, y->key, y->key_len);
        same_bytes(x->value, x->value_len, y->value, y->value_len);
        same_bytes(x->meta, x->meta_len, y->meta, y->meta_len);
        assert_int_equal(x->meta == NULL, y->meta == NULL);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->has_meta, y->has_meta);
        assert_int_equal(x->history, y->history);
        assert_int_equal(x->block, y->block);
        assert_int_equal(x->tx, y->tx);
    }
}

static uint8_t *read_vec_block(unsigned n, size_t *len)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/blocks/%06u.block", wt_shared_dir(), n);
    uint8_t *b = (uint8_t *)wt_read_file(p, len);
    weft_free(p);
    return b;
}

static void test_fast_rwset_vectors(void **state)
{
    (void)state;
    size_t total_ops = 0;
    for (unsigned n = 0; n < 76; n++) {
        size_t len;
        uint8_t *bytes = read_vec_block(n, &len);
        assert_non_null(bytes);
        Common__Block *blk = common__block__unpack(NULL, len, bytes);
        assert_non_null(blk);
        size_t ntx = blk->data->n_data;
        const uint8_t *codes = NULL;
        if (blk->metadata != NULL && blk->metadata->n_metadata > 2 &&
            blk->metadata->metadata[2].len == ntx) {
            codes = blk->metadata->metadata[2].data;
        }
        struct ledger_updates *fast = NULL, *slow = NULL;
        struct weft_err err;
        weft_err_clear(&err);
        assert_int_equal(ledger__updates_from_block(blk, codes, ntx, &fast, &err), 0);
        assert_int_equal(slow_updates(blk, codes, ntx, &slow, &err), 0);
        same_updates(fast, slow);
        total_ops += fast->n;
        /* every transaction taken as valid (also those Fabric refused) */
        ledger__updates_free(fast);
        ledger__updates_free(slow);
        uint8_t *all = calloc(ntx + 1, 1);
        int rf = ledger__updates_from_block(blk, all, ntx, &fast, &err);
        int rs = slow_updates(blk, all, ntx, &slow, &err);
        assert_int_equal(rf, rs);
        if (rf == 0) {
            same_updates(fast, slow);
            ledger__updates_free(fast);
            ledger__updates_free(slow);
        }
        free(all);
        common__block__free_unpacked(blk, NULL);
        weft_free(bytes);
    }
    assert_true(total_ops > 100); /* the chain writes state */
}

/* One damaged copy of an envelope through both paths: both fail, or both
 * give the same updates. Returns 1 when both succeeded. */
static int compare_damaged(const uint8_t *copy, size_t len, size_t cut, int flip)
{
    ProtobufCBinaryData d = {len, (uint8_t *)(uintptr_t)copy};
    Common__BlockHeader h = COMMON__BLOCK_HEADER__INIT;
    h.number = 5;
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    bd.n_data = 1;
    bd.data = &d;
    Common__Block blk = COMMON__BLOCK__INIT;
    blk.header = &h;
    blk.data = &bd;
    uint8_t code = 0;
    struct ledger_updates *fast = NULL, *slow = NULL;
    struct weft_err e1, e2;
    weft_err_clear(&e1);
    weft_err_clear(&e2);
    int rf = ledger__updates_from_block(&blk, &code, 1, &fast, &e1);
    int rs = slow_updates(&blk, &code, 1, &slow, &e2);
    int ok = 0;
    if (rf == 0 && rs == 0) {
        same_updates(fast, slow);
        ok = 1;
    } else if (rf == 0 || rs == 0) {
        /* the fast path must refuse exactly what the full decoder refuses */
        fail_msg("cut %zu flip %d: fast %d (%s), full decoder %d (%s)", cut, flip, rf, e1.msg, rs,
                 e2.msg);
    }
    ledger__updates_free(fast);
    ledger__updates_free(slow);
    return ok;
}

/* Truncated and bit-flipped envelopes (a synthetic one, every cut and bit;
 * a real endorser transaction of the vector chain, signatures, endorsements
 * and response included, three bits of every byte and every 5th cut). */
static void test_fast_rwset_damaged(void **state)
{
    (void)state;
    struct bg_write w[2] = {{"key1", (const uint8_t *)"v1", 2, false},
                            {"key2", (const uint8_t *)"", 0, true}};
    uint8_t *env;
    size_t el;
    assert_int_equal(bg_envelope("ch", "txid1", "cc", w, 2, &env, &el), 0);
    size_t vlen;
    uint8_t *vb = read_vec_block(7, &vlen);
    assert_non_null(vb);
    Common__Block *vblk = common__block__unpack(NULL, vlen, vb);
    assert_non_null(vblk);
    const ProtobufCBinaryData *real = &vblk->data->data[0];
    struct {
        const uint8_t *p;
        size_t len;
        size_t cut_step;
        unsigned bits;
    } src[2] = {{env, el, 1, 0xff}, {real->data, real->len, 5, 0x91}};
    size_t checked = 0, agreed_ok = 0;
    for (int s = 0; s < 2; s++) {
        size_t n = src[s].len;
        uint8_t *copy = malloc(n);
        memcpy(copy, src[s].p, n);
        agreed_ok += (size_t)compare_damaged(copy, n, n, -1);
        for (size_t cut = 0; cut < n; cut += src[s].cut_step) {
            agreed_ok += (size_t)compare_damaged(copy, cut, cut, -1);
            checked++;
        }
        for (size_t at = 0; at < n; at++) {
            for (int bit = 0; bit < 8; bit++) {
                if ((src[s].bits & (1u << bit)) == 0) {
                    continue;
                }
                copy[at] ^= (uint8_t)(1u << bit);
                agreed_ok += (size_t)compare_damaged(copy, n, at, bit);
                copy[at] ^= (uint8_t)(1u << bit);
                checked++;
            }
        }
        free(copy);
    }
    assert_true(checked > 10000);
    assert_true(agreed_ok > 100);
    common__block__free_unpacked(vblk, NULL);
    weft_free(vb);
    weft_free(env);
}

/* ---- pending transaction ids --------------------------------------------------- */

#define TXB 150
#define TXN 3

static void txid_of(char *out, size_t n, uint64_t b, size_t t)
{
    if (b == 100 && t == 2) {
        snprintf(out, n, "dupA"); /* first in block 10 (merged at 63) */
    } else if (b == 140 && t == 1) {
        snprintf(out, n, "dupB"); /* first in block 130, both pending */
    } else if (b == 10 && t == 1) {
        snprintf(out, n, "dupA");
    } else if (b == 130 && t == 0) {
        snprintf(out, n, "dupB");
    } else {
        snprintf(out, n, "t%llu_%zu", (unsigned long long)b, t);
    }
}

static void build_txid_chain(uint8_t **blocks, size_t *lens)
{
    uint8_t prev[32];
    for (uint64_t b = 0; b < TXB; b++) {
        ProtobufCBinaryData data[TXN];
        for (size_t t = 0; t < TXN; t++) {
            char txid[32], key[32];
            txid_of(txid, sizeof(txid), b, t);
            snprintf(key, sizeof(key), "k%llu_%zu", (unsigned long long)b, t);
            struct bg_write w = {key, (const uint8_t *)"v", 1, false};
            assert_int_equal(
                bg_envelope("testchannel", txid, "cc", &w, 1, &data[t].data, &data[t].len), 0);
        }
        uint8_t codes[TXN] = {0, (uint8_t)(b % 7 == 0 ? 11 : 0), 0};
        assert_int_equal(
            bg_block(b, prev, b > 0 ? 32 : 0, data, TXN, codes, &blocks[b], &lens[b], prev), 0);
        for (size_t t = 0; t < TXN; t++) {
            weft_free(data[t].data);
        }
    }
}

static struct weft_ledger *open_txl(const char *root)
{
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "testchannel";
    o.no_sync = true;
    struct weft_ledger *l = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_ledger_open(&l, &o, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
    return l;
}

/* Every id of blocks [0, upto) resolves to its first occurrence. */
static void check_ids(struct weft_ledger *l, uint64_t upto)
{
    struct weft_err err;
    for (uint64_t b = 0; b < upto; b++) {
        for (size_t t = 0; t < TXN; t++) {
            char txid[32];
            txid_of(txid, sizeof(txid), b, t);
            struct weft_ledger_txloc loc;
            weft_err_clear(&err);
            assert_int_equal(weft_ledger_tx_by_id(l, txid, &loc, &err), 0);
            uint64_t fb = b;
            size_t ft = t;
            if (strcmp(txid, "dupA") == 0) {
                fb = 10;
                ft = 1;
            } else if (strcmp(txid, "dupB") == 0) {
                fb = 130;
                ft = 0;
            }
            assert_int_equal(loc.block, fb);
            assert_int_equal(loc.tx, ft);
            assert_int_equal(loc.code, ft == 1 && fb % 7 == 0 ? 11 : 0);
        }
    }
    char txid[32];
    snprintf(txid, sizeof(txid), "t%llu_0", (unsigned long long)upto);
    struct weft_ledger_txloc loc;
    assert_int_equal(weft_ledger_tx_by_id(l, txid, &loc, &err), WEFT_ENOTFOUND);
}

static void test_pending_txids(void **state)
{
    (void)state;
    char *root = wt_tmpdir("commitpath-txids");
    char *cd = weft_asprintf("%s/ledgersData/chains/testchannel", root);
    uint8_t *blocks[TXB];
    size_t lens[TXB];
    build_txid_chain(blocks, lens);
    struct weft_ledger *l = open_txl(root);
    struct weft_err err;
    weft_err_clear(&err);
    for (uint64_t b = 0; b < TXB; b++) {
        assert_int_equal(weft_ledger_commit_bytes(l, blocks[b], lens[b], &err), 0);
        if (b == 5 || b == 62 || b == 63 || b == 64 || b == 100 || b == 140) {
            check_ids(l, b + 1);
            uint64_t h;
            assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
            assert_int_equal(h, b + 1);
        }
    }
    /* merged at blocks 63 and 127: 128.. pending */
    assert_int_equal(l->tx_merged, 128);
    assert_int_equal(l->txp.blocks, TXB - 128);
    check_ids(l, TXB);
    weft_ledger_close(l);
    /* reopen: the pending ids come back from the block files */
    l = open_txl(root);
    assert_int_equal(l->tx_merged, 128);
    assert_int_equal(l->txp.blocks, TXB - 128);
    check_ids(l, TXB);
    {
        uint8_t *b;
        size_t len;
        assert_int_equal(weft_ledger_block_by_txid(l, "dupB", &b, &len, &err), 0);
        assert_int_equal(len, lens[130]);
        assert_memory_equal(b, blocks[130], len);
        weft_free(b);
    }
    weft_ledger_close(l);
    uint64_t h;
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, TXB);
    for (uint64_t b = 0; b < TXB; b++) {
        weft_free(blocks[b]);
    }
    wt_rmtree(root);
    weft_free(root);
    weft_free(cd);
}

/* Records appended but never indexed (the process died before the LMDB
 * commit) across a merge boundary: recovery replays them through the
 * commit path, merging at block 63, and every id resolves afterwards. */
static void test_recover_txids(void **state)
{
    (void)state;
    char *root = wt_tmpdir("commitpath-rtxids");
    char *cd = weft_asprintf("%s/ledgersData/chains/testchannel", root);
    uint8_t *blocks[TXB];
    size_t lens[TXB];
    build_txid_chain(blocks, lens);
    struct weft_ledger *l = open_txl(root);
    struct weft_err err;
    weft_err_clear(&err);
    for (uint64_t b = 0; b < 55; b++) {
        assert_int_equal(weft_ledger_commit_bytes(l, blocks[b], lens[b], &err), 0);
    }
    for (uint64_t b = 55; b < 75; b++) {
        struct ledger_blockloc loc;
        assert_int_equal(ledger__file_append(l, b, blocks[b], lens[b], &loc, &err), 0);
    }
    weft_ledger_close(l);
    uint64_t h;
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0); /* lagging index: sound */
    assert_int_equal(h, 75);
    l = open_txl(root);
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 75);
    assert_int_equal(l->tx_merged, 64);
    assert_int_equal(l->txp.blocks, 75 - 64);
    check_ids(l, 75);
    weft_ledger_close(l);
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, 75);
    for (uint64_t b = 0; b < TXB; b++) {
        weft_free(blocks[b]);
    }
    wt_rmtree(root);
    weft_free(root);
    weft_free(cd);
}

/* Removes meta "txindexed" as a ledger written before it existed lacks it. */
static void drop_txindexed(const char *cd)
{
    char *dir = weft_asprintf("%s/index", cd);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOTLS, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {strlen(LEDGER_TXINDEXED_KEY), (void *)(uintptr_t)LEDGER_TXINDEXED_KEY};
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    weft_free(dir);
}

/* A ledger without the mark (all its ids in the table): verify checks
 * every id; open sets the mark to the height and goes on. */
static void test_legacy_txindexed(void **state)
{
    (void)state;
    char *root = wt_tmpdir("commitpath-legacy");
    char *cd = weft_asprintf("%s/ledgersData/chains/testchannel", root);
    uint8_t *blocks[TXB];
    size_t lens[TXB];
    build_txid_chain(blocks, lens);
    struct weft_ledger *l = open_txl(root);
    struct weft_err err;
    weft_err_clear(&err);
    for (uint64_t b = 0; b < 64; b++) { /* merged at 63: every id in the table */
        assert_int_equal(weft_ledger_commit_bytes(l, blocks[b], lens[b], &err), 0);
    }
    assert_int_equal(l->tx_merged, 64);
    weft_ledger_close(l);
    drop_txindexed(cd);
    uint64_t h;
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, 64);
    l = open_txl(root);
    assert_int_equal(l->tx_merged, 64);
    assert_int_equal(l->txp.blocks, 0);
    check_ids(l, 64);
    for (uint64_t b = 64; b < 70; b++) {
        assert_int_equal(weft_ledger_commit_bytes(l, blocks[b], lens[b], &err), 0);
    }
    check_ids(l, 70);
    weft_ledger_close(l);
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, 70);
    /* A mark the index does not back up is damage. */
    drop_txindexed(cd);
    l = open_txl(root); /* pretends all 70 blocks' ids are in the table */
    weft_ledger_close(l);
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), WEFT_ECORRUPT);
    assert_non_null(strstr(err.msg, "txid index wrong for block 64"));
    for (uint64_t b = 0; b < TXB; b++) {
        weft_free(blocks[b]);
    }
    wt_rmtree(root);
    weft_free(root);
    weft_free(cd);
}

/* A map too small for the state: MDB_MAP_FULL from the state writes makes
 * the committer grow the map and retry, as it does for the index. */
static void test_map_grows(void **state)
{
    (void)state;
    char *root = wt_tmpdir("commitpath-map");
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = root;
    o.channel = "testchannel";
    o.no_sync = true;
    o.map_size = 256 * 1024;
    struct weft_ledger *l = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_open(&l, &o, &err), 0);
    uint8_t prev[32];
    for (uint64_t n = 0; n < 40; n++) {
        uint8_t *b;
        size_t len;
        assert_int_equal(bg_simple_block(n, prev, n > 0 ? 32 : 0, 50, 4, &b, &len, prev), 0);
        int rc = weft_ledger_commit_bytes(l, b, len, &err);
        if (rc != 0) {
            fail_msg("block %llu: %s", (unsigned long long)n, err.msg);
        }
        weft_free(b);
    }
    assert_true(l->map_size > 256 * 1024);
    struct weft_ledger_sim *qe;
    assert_int_equal(weft_ledger_qe_new(l, &qe, &err), 0);
    /* bg_simple_block: keys "k<number>_<tx>_<w>" in namespace "basic" */
    struct weft_ledger_range_iter *it;
    assert_int_equal(weft_ledger_sim_range(qe, "basic", "", 0, "", 0, 0, &it, &err), 0);
    struct weft_ledger_kv kv;
    size_t nkeys = 0;
    while (weft_ledger_range_next(it, &kv, &err) == 1) {
        nkeys++;
    }
    weft_ledger_range_free(it);
    assert_int_equal(nkeys, 40 * 50 * 4);
    weft_ledger_sim_free(qe);
    weft_ledger_close(l);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- block writer failure ----------------------------------------------------- */

static off_t blockfile_size(const char *root)
{
    char *p = weft_asprintf("%s/ledgersData/chains/testchannel/blockfile_000000", root);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    weft_free(p);
    return st.st_size;
}

static void test_write_failure(void **state)
{
    (void)state;
    char *root = wt_tmpdir("commitpath-wfail");
    uint8_t *b[5];
    size_t len[5];
    uint8_t hash[5][32];
    for (uint64_t n = 0; n < 5; n++) {
        assert_int_equal(bg_simple_block(n, n > 0 ? hash[n - 1] : NULL, n > 0 ? 32 : 0, 20, 2,
                                         &b[n], &len[n], hash[n]),
                         0);
    }
    struct weft_ledger *l = open_txl(root);
    assert_true(l->wr_started);
    struct weft_err err;
    weft_err_clear(&err);
    for (uint64_t n = 0; n < 3; n++) {
        assert_int_equal(weft_ledger_commit_bytes(l, b[n], len[n], &err), 0);
    }
    off_t size = blockfile_size(root);
    /* Files may not grow past their current size: the writer's pwrite fails
     * with EFBIG (SIGXFSZ ignored). */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = (rlim_t)size + 10;
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = weft_ledger_commit_bytes(l, b[3], len[3], &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -EFBIG);
    assert_non_null(strstr(err.msg, "blockfile_000000"));
    assert_int_equal(blockfile_size(root), size); /* cut off again */
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 3);
    /* the ledger goes on */
    weft_err_clear(&err);
    assert_int_equal(weft_ledger_commit_bytes(l, b[3], len[3], &err), 0);
    assert_int_equal(weft_ledger_commit_bytes(l, b[4], len[4], &err), 0);
    weft_ledger_close(l);
    char *cd = weft_asprintf("%s/ledgersData/chains/testchannel", root);
    uint64_t h;
    assert_int_equal(weft_ledger_verify_dir(cd, &h, &err), 0);
    assert_int_equal(h, 5);
    l = open_txl(root);
    weft_ledger_info(l, &info);
    assert_int_equal(info.height, 5);
    uint8_t *got;
    size_t gl;
    assert_int_equal(weft_ledger_block_by_number(l, 3, &got, &gl, &err), 0);
    assert_int_equal(gl, len[3]);
    assert_memory_equal(got, b[3], gl);
    weft_free(got);
    weft_ledger_close(l);
    for (int n = 0; n < 5; n++) {
        weft_free(b[n]);
    }
    weft_free(cd);
    wt_rmtree(root);
    weft_free(root);
}

/* ---- CRC-32C ------------------------------------------------------------------- */

static void test_crc32c(void **state)
{
    (void)state;
    /* RFC 3720 check value: CRC-32C("123456789") = 0xE3069283 */
    assert_int_equal(ledger__crc32c(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
    assert_int_equal(ledger__crc32c_sw(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
    uint8_t buf[4096 + 16];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)rnd(256);
    }
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len < 300; len += 1 + len / 8) {
            uint32_t a = ledger__crc32c(0x1234u, buf + off, len);
            assert_int_equal(a, ledger__crc32c_sw(0x1234u, buf + off, len));
            /* chaining: crc(a||b) == crc(crc(a), b) */
            uint32_t c1 = ledger__crc32c(0, buf + off, len);
            uint32_t c2 = ledger__crc32c(c1, buf + off + len, 100);
            assert_int_equal(c2, ledger__crc32c_sw(0, buf + off, len + 100));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_model),        cmocka_unit_test(test_apply_key_too_long),
        cmocka_unit_test(test_fast_rwset_vectors), cmocka_unit_test(test_fast_rwset_damaged),
        cmocka_unit_test(test_pending_txids),      cmocka_unit_test(test_recover_txids),
        cmocka_unit_test(test_legacy_txindexed),   cmocka_unit_test(test_map_grows),
        cmocka_unit_test(test_write_failure),      cmocka_unit_test(test_crc32c),
    };
    return cmocka_run_group_tests_name("ledger_commitpath", tests, NULL, NULL);
}
