/*
 * The LMDB block index: number -> (file, offset, length, header hash),
 * header hash -> number, txid -> (block, tx, validation code) and the meta
 * table holding the savepoint. All keys are fixed big-endian integers or raw
 * bytes so LMDB's memcmp order is numeric order and block-number keys can be
 * written with MDB_APPEND.
 *
 * Transaction ids are read straight from the envelope's wire bytes
 * (Envelope.payload -> Payload.header -> Header.channel_header ->
 * ChannelHeader.tx_id) with a small protobuf field walker, which is much
 * cheaper than unpacking four nested messages for every transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

void ledger__u64be(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

uint64_t ledger__get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void u32be(uint8_t out[4], uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

static uint32_t get_u32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- protobuf wire walking ---------------------------------------------- */

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) {
            return WEFT_EPARSE;
        }
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

/* Finds the last length-delimited occurrence of field `want`. Returns 0 and
 * the field's bytes, 1 when absent, WEFT_EPARSE on malformed input. */
static int find_bytes(const uint8_t *buf, size_t len, uint32_t want, const uint8_t **out,
                      size_t *out_len)
{
    const uint8_t *p = buf, *end = buf + len;
    int found = 1;
    while (p < end) {
        uint64_t tag, v;
        if (varint(&p, end, &tag) != 0) {
            return WEFT_EPARSE;
        }
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (varint(&p, end, &v) != 0) {
                return WEFT_EPARSE;
            }
            break;
        case 1:
            if (end - p < 8) {
                return WEFT_EPARSE;
            }
            p += 8;
            break;
        case 5:
            if (end - p < 4) {
                return WEFT_EPARSE;
            }
            p += 4;
            break;
        case 2:
            if (varint(&p, end, &v) != 0 || v > (uint64_t)(end - p)) {
                return WEFT_EPARSE;
            }
            if (field == want) {
                *out = p;
                *out_len = (size_t)v;
                found = 0;
            }
            p += v;
            break;
        default:
            return WEFT_EPARSE;
        }
        if (field == 0) {
            return WEFT_EPARSE;
        }
    }
    return found;
}

int ledger__envelope_txid(const uint8_t *env, size_t env_len, const uint8_t **txid,
                          size_t *txid_len)
{
    static const uint32_t path[] = {1 /* Envelope.payload */, 1 /* Payload.header */,
                                    1 /* Header.channel_header */, 5 /* ChannelHeader.tx_id */};
    const uint8_t *p = env;
    size_t n = env_len;
    *txid_len = 0;
    *txid = NULL;
    for (size_t i = 0; i < WEFT_ARRAY_LEN(path); i++) {
        const uint8_t *q;
        size_t qn;
        int rc = find_bytes(p, n, path[i], &q, &qn);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            return 0; /* no txid */
        }
        p = q;
        n = qn;
    }
    *txid = p;
    *txid_len = n;
    return 0;
}

/* ---- index tables ------------------------------------------------------- */

int ledger__mdb_err(struct weft_err *err, int rc, const char *what)
{
    int code = WEFT_EIO;
    if (rc == MDB_NOTFOUND) {
        code = WEFT_ENOTFOUND;
    } else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID) {
        code = WEFT_ECORRUPT;
    } else if (rc == MDB_MAP_FULL) {
        code = LEDGER_EMAPFULL;
    } else if (rc == ENOMEM) {
        code = WEFT_ENOMEM;
    } else if (rc > 0) {
        code = -rc;
    }
    return weft_err_set(err, code, "%s: %s", what, mdb_strerror(rc));
}

int ledger__meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return WEFT_ENOTFOUND;
    }
    if (rc != 0) {
        return WEFT_EIO;
    }
    if (v.mv_size != 8) {
        return WEFT_ECORRUPT;
    }
    *out = ledger__get_u64be(v.mv_data);
    return 0;
}

int ledger__meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
    uint8_t b[8];
    ledger__u64be(b, val);
    MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v = {8, b};
    return mdb_put(txn, dbi, &k, &v, 0);
}

int ledger__index_get_loc(MDB_txn *txn, MDB_dbi dbi, uint64_t number, struct ledger_blockloc *loc,
                          uint8_t hash[WEFT_LEDGER_HASH_LEN])
{
    uint8_t kb[8];
    ledger__u64be(kb, number);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return WEFT_ENOTFOUND;
    }
    if (rc != 0) {
        return WEFT_EIO;
    }
    if (v.mv_size != 48) {
        return WEFT_ECORRUPT;
    }
    const uint8_t *p = v.mv_data;
    loc->file = get_u32be(p);
    loc->offset = ledger__get_u64be(p + 4);
    loc->length = get_u32be(p + 12);
    if (hash != NULL) {
        memcpy(hash, p + 16, WEFT_LEDGER_HASH_LEN);
    }
    return 0;
}

int ledger__index_put(struct weft_ledger *l, MDB_txn *txn, uint64_t number,
                      const uint8_t hash[WEFT_LEDGER_HASH_LEN], const struct ledger_blockloc *loc,
                      struct weft_err *err)
{
    uint8_t kb[8], vb[48];
    ledger__u64be(kb, number);
    u32be(vb, loc->file);
    ledger__u64be(vb + 4, loc->offset);
    u32be(vb + 12, loc->length);
    memcpy(vb + 16, hash, WEFT_LEDGER_HASH_LEN);
    MDB_val k = {8, kb}, v = {48, vb};
    int rc = mdb_put(txn, l->dbi_blocks, &k, &v, MDB_APPEND);
    if (rc != 0) {
        return rc == MDB_KEYEXIST ? weft_err_set(err, WEFT_ECORRUPT,
                                                 "index already holds block %llu or later",
                                                 (unsigned long long)number)
                                  : ledger__mdb_err(err, rc, "index block number");
    }
    MDB_val hk = {WEFT_LEDGER_HASH_LEN, (void *)(uintptr_t)hash}, hv = {8, kb};
    rc = mdb_put(txn, l->dbi_hashes, &hk, &hv, 0);
    if (rc != 0) {
        return ledger__mdb_err(err, rc, "index block hash");
    }
    return 0;
}

/* ---- transaction ids: pending set and merges ------------------------------
 *
 * Fabric's transaction ids are SHA-256 hex strings, i.e. random keys: put
 * into the LMDB txids table block by block, the 500 ids of a block land on
 * ~500 different leaf pages, and every commit rewrites (copy-on-write) and
 * fsyncs all of them, which costs more than the rest of the commit. So the
 * ids of recent blocks are kept in memory (this hash set, blocks
 * [tx_merged, height)) and merged into the table in key order every
 * LEDGER_TXID_MERGE_BLOCKS blocks, inside that block's commit transaction,
 * together with meta "txindexed" = the first block whose ids are not in the
 * table. The block files hold the ids, so on open the set is rebuilt from
 * blocks [txindexed, height). Lookups (weft_ledger_tx_by_id) consult both.
 */

static uint64_t txp_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void ledger__txp_free(struct ledger_txpend *p)
{
    weft_free(p->ents);
    weft_free(p->slots);
    weft_free(p->keys);
    memset(p, 0, sizeof(*p));
}

void ledger__txp_clear(struct ledger_txpend *p)
{
    p->n = 0;
    p->keys_len = 0;
    p->blocks = 0;
    if (p->slots != NULL) {
        memset(p->slots, 0, p->nslots * sizeof(*p->slots));
    }
}

const struct ledger_txpend_ent *ledger__txp_find(const struct ledger_txpend *p,
                                                 const uint8_t *txid, size_t len)
{
    if (p->nslots == 0) {
        return NULL;
    }
    size_t mask = p->nslots - 1;
    for (size_t i = (size_t)txp_hash(txid, len) & mask;; i = (i + 1) & mask) {
        uint32_t s = p->slots[i];
        if (s == 0) {
            return NULL;
        }
        const struct ledger_txpend_ent *e = &p->ents[s - 1];
        if (e->key_len == len && memcmp(p->keys + e->key_off, txid, len) == 0) {
            return e;
        }
    }
}

int ledger__txp_reserve(struct ledger_txpend *p, size_t more, size_t more_keys)
{
    if (p->n + more > UINT32_MAX - 1 || p->keys_len + more_keys > UINT32_MAX) {
        return WEFT_ETOOBIG;
    }
    if (p->n + more > p->cap) {
        size_t nc = p->cap ? p->cap : 1024;
        while (nc < p->n + more) {
            nc *= 2;
        }
        struct ledger_txpend_ent *ne = weft_realloc(p->ents, nc * sizeof(*ne));
        if (ne == NULL) {
            return WEFT_ENOMEM;
        }
        p->ents = ne;
        p->cap = nc;
    }
    if (p->keys_len + more_keys > p->keys_cap) {
        size_t nc = p->keys_cap ? p->keys_cap : 65536;
        while (nc < p->keys_len + more_keys) {
            nc *= 2;
        }
        uint8_t *nk = weft_realloc(p->keys, nc);
        if (nk == NULL) {
            return WEFT_ENOMEM;
        }
        p->keys = nk;
        p->keys_cap = nc;
    }
    size_t want = 2 * (p->n + more);
    if (want > p->nslots) {
        size_t ns = p->nslots ? p->nslots : 2048;
        while (ns < want) {
            ns *= 2;
        }
        uint32_t *sl = weft_calloc(ns, sizeof(*sl));
        if (sl == NULL) {
            return WEFT_ENOMEM;
        }
        for (size_t e = 0; e < p->n; e++) {
            size_t i = (size_t)txp_hash(p->keys + p->ents[e].key_off, p->ents[e].key_len) &
                       (ns - 1);
            while (sl[i] != 0) {
                i = (i + 1) & (ns - 1);
            }
            sl[i] = (uint32_t)(e + 1);
        }
        weft_free(p->slots);
        p->slots = sl;
        p->nslots = ns;
    }
    return 0;
}

/* Codes of a block's transactions (TRANSACTIONS_FILTER) or NULL. */
static const uint8_t *block_filter(const Common__Block *blk, size_t ntx)
{
    if (blk->metadata != NULL &&
        blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER &&
        blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len == ntx) {
        return blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data;
    }
    return NULL;
}

/* Calls fn for every indexable transaction id of a block (as the txids
 * table takes them: 1..511 bytes, unparsable envelopes skipped). */
static int each_txid(const Common__Block *blk,
                     int (*fn)(void *ctx, const uint8_t *txid, size_t len, uint32_t tx,
                               uint8_t code),
                     void *ctx)
{
    const Common__BlockData *data = blk->data;
    size_t ntx = data != NULL ? data->n_data : 0;
    const uint8_t *codes = block_filter(blk, ntx);
    for (size_t i = 0; i < ntx; i++) {
        const uint8_t *txid;
        size_t txid_len;
        if (ledger__envelope_txid(data->data[i].data, data->data[i].len, &txid, &txid_len) != 0 ||
            txid_len == 0 || txid_len > 511) {
            continue;
        }
        int rc = fn(ctx, txid, txid_len, (uint32_t)i, codes != NULL ? codes[i] : 0);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int count_txid(void *ctx, const uint8_t *txid, size_t len, uint32_t tx, uint8_t code)
{
    (void)txid;
    (void)tx;
    (void)code;
    size_t *c = ctx;
    c[0]++;
    c[1] += len;
    return 0;
}

void ledger__block_txid_count(const Common__Block *blk, size_t *n, size_t *bytes)
{
    size_t c[2] = {0, 0};
    (void)each_txid(blk, count_txid, c);
    *n = c[0];
    *bytes = c[1];
}

struct txp_add_ctx {
    struct ledger_txpend *p;
    uint64_t block;
};

static int add_txid(void *ctx, const uint8_t *txid, size_t len, uint32_t tx, uint8_t code)
{
    struct txp_add_ctx *a = ctx;
    struct ledger_txpend *p = a->p;
    if (ledger__txp_find(p, txid, len) != NULL) {
        return 0; /* first occurrence wins */
    }
    struct ledger_txpend_ent *e = &p->ents[p->n];
    e->block = a->block;
    e->tx = tx;
    e->code = code;
    e->key_off = (uint32_t)p->keys_len;
    e->key_len = (uint16_t)len;
    memcpy(p->keys + p->keys_len, txid, len);
    p->keys_len += len;
    size_t mask = p->nslots - 1;
    size_t i = (size_t)txp_hash(txid, len) & mask;
    while (p->slots[i] != 0) {
        i = (i + 1) & mask;
    }
    p->slots[i] = (uint32_t)(p->n + 1);
    p->n++;
    return 0;
}

int ledger__txp_add_block(struct ledger_txpend *p, uint64_t number, const Common__Block *blk)
{
    size_t n, bytes;
    ledger__block_txid_count(blk, &n, &bytes);
    int rc = ledger__txp_reserve(p, n, bytes);
    if (rc != 0) {
        return rc;
    }
    struct txp_add_ctx a = {p, number};
    (void)each_txid(blk, add_txid, &a);
    p->blocks++;
    return 0;
}

struct merge_ent {
    const uint8_t *k;
    size_t len;
    uint64_t block;
    uint32_t tx;
    uint8_t code;
};

struct merge_ctx {
    struct merge_ent *ents;
    size_t n;
    uint64_t block;
};

static int collect_txid(void *ctx, const uint8_t *txid, size_t len, uint32_t tx, uint8_t code)
{
    struct merge_ctx *m = ctx;
    m->ents[m->n++] = (struct merge_ent){txid, len, m->block, tx, code};
    return 0;
}

static int cmp_merge(const void *pa, const void *pb)
{
    const struct merge_ent *a = pa, *b = pb;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->k, b->k, n);
    if (c != 0) {
        return c;
    }
    if (a->len != b->len) {
        return a->len < b->len ? -1 : 1;
    }
    if (a->block != b->block) {
        return a->block < b->block ? -1 : 1;
    }
    return a->tx < b->tx ? -1 : a->tx > b->tx;
}

int ledger__txids_merge(struct weft_ledger *l, MDB_txn *txn, const struct ledger_txpend *p,
                        uint64_t number, const Common__Block *blk, struct weft_err *err)
{
    size_t bn, bbytes;
    ledger__block_txid_count(blk, &bn, &bbytes);
    struct merge_ctx m = {weft_malloc((p->n + bn + 1) * sizeof(*m.ents)), 0, number};
    if (m.ents == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct ledger_txpend_ent *e = &p->ents[i];
        m.ents[m.n++] = (struct merge_ent){p->keys + e->key_off, e->key_len, e->block, e->tx,
                                           e->code};
    }
    (void)each_txid(blk, collect_txid, &m);
    qsort(m.ents, m.n, sizeof(*m.ents), cmp_merge);
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(txn, l->dbi_txids, &cur);
    if (rc != 0) {
        weft_free(m.ents);
        return ledger__mdb_err(err, rc, "index txids cursor");
    }
    /* Keys above the table's last key are appended without a search. */
    uint8_t last[512];
    size_t last_len = 0;
    MDB_val lk, lv;
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    bool append = rc == MDB_NOTFOUND;
    if (rc == 0 && lk.mv_size <= sizeof(last)) {
        memcpy(last, lk.mv_data, lk.mv_size);
        last_len = lk.mv_size;
    } else if (rc == 0) {
        rc = MDB_BAD_VALSIZE;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        weft_free(m.ents);
        return ledger__mdb_err(err, rc, "index txids last key");
    }
    rc = 0;
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        const struct merge_ent *e = &m.ents[i];
        if (i > 0 && e->len == m.ents[i - 1].len && memcmp(e->k, m.ents[i - 1].k, e->len) == 0) {
            continue; /* a later copy: the first occurrence wins */
        }
        if (!append) {
            size_t n = e->len < last_len ? e->len : last_len;
            int c = memcmp(e->k, last, n);
            append = c > 0 || (c == 0 && e->len > last_len);
        }
        uint8_t tv[13];
        ledger__u64be(tv, e->block);
        u32be(tv + 8, e->tx);
        tv[12] = e->code;
        MDB_val tk = {e->len, (void *)(uintptr_t)e->k}, tvv = {13, tv};
        rc = mdb_cursor_put(cur, &tk, &tvv, append ? MDB_APPEND : MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) {
            rc = 0; /* an earlier block has it */
        }
    }
    mdb_cursor_close(cur);
    weft_free(m.ents);
    if (rc == 0) {
        rc = ledger__meta_put_u64(txn, l->dbi_meta, LEDGER_TXINDEXED_KEY, number + 1);
    }
    return rc != 0 ? ledger__mdb_err(err, rc, "index txids") : 0;
}
