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
                      const uint8_t *block, size_t len, const Common__Block *blk,
                      struct weft_err *err)
{
    (void)block;
    (void)len;
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
    const Common__BlockData *data = blk->data;
    size_t ntx = data != NULL ? data->n_data : 0;
    const uint8_t *codes = NULL;
    if (blk->metadata != NULL &&
        blk->metadata->n_metadata > COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER &&
        blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len == ntx) {
        codes = blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data;
    }
    for (size_t i = 0; i < ntx; i++) {
        const uint8_t *txid;
        size_t txid_len;
        if (ledger__envelope_txid(data->data[i].data, data->data[i].len, &txid, &txid_len) != 0 ||
            txid_len == 0 || txid_len > 511) {
            continue; /* unparsable envelopes carry no txid to index */
        }
        uint8_t tv[13];
        ledger__u64be(tv, number);
        u32be(tv + 8, (uint32_t)i);
        tv[12] = codes != NULL ? codes[i] : 0;
        MDB_val tk = {txid_len, (void *)(uintptr_t)txid}, tvv = {13, tv};
        /* First occurrence wins: a DUPLICATE_TXID copy never replaces it. */
        rc = mdb_put(txn, l->dbi_txids, &tk, &tvv, MDB_NOOVERWRITE);
        if (rc != 0 && rc != MDB_KEYEXIST) {
            return ledger__mdb_err(err, rc, "index txid");
        }
    }
    return 0;
}
