/*
 * Block hashes as Fabric computes them (spec block-and-validation.md §2):
 *  - header hash: SHA-256 over the ASN.1 DER encoding of
 *    SEQUENCE { INTEGER number, OCTET STRING previous_hash, OCTET STRING data_hash };
 *  - data hash: SHA-256 over the plain concatenation of BlockData.data items.
 * The DER is built by hand into a stack buffer (it is tiny for real hashes);
 * OpenSSL's EVP interface does the hashing.
 */
#include <string.h>

#include "ledger_int.h"
#include "weft/crypto.h"

/* DER length octets; returns how many were written into out (max 9). */
static size_t der_len(uint8_t *out, size_t len)
{
    if (len < 0x80) {
        out[0] = (uint8_t)len;
        return 1;
    }
    uint8_t tmp[8];
    size_t n = 0;
    while (len > 0) {
        tmp[n++] = (uint8_t)(len & 0xff);
        len >>= 8;
    }
    out[0] = (uint8_t)(0x80u | n);
    for (size_t i = 0; i < n; i++) {
        out[1 + i] = tmp[n - 1 - i];
    }
    return n + 1;
}

static size_t der_len_size(size_t len)
{
    uint8_t tmp[9];
    return der_len(tmp, len);
}

int weft_ledger_header_hash(uint64_t number, const uint8_t *prev, size_t prev_len,
                            const uint8_t *data_hash, size_t data_hash_len,
                            uint8_t out[WEFT_LEDGER_HASH_LEN])
{
    /* INTEGER content: minimal big-endian two's complement of a non-negative
     * value (a leading 0x00 when the top bit would be set). */
    uint8_t ibuf[9];
    size_t ilen = 0;
    {
        uint8_t be[8];
        for (int i = 0; i < 8; i++) {
            be[i] = (uint8_t)(number >> (56 - 8 * i));
        }
        size_t skip = 0;
        while (skip < 7 && be[skip] == 0) {
            skip++;
        }
        if (be[skip] & 0x80) {
            ibuf[ilen++] = 0;
        }
        memcpy(ibuf + ilen, be + skip, 8 - skip);
        ilen += 8 - skip;
    }
    size_t content = 1 + der_len_size(ilen) + ilen + 1 + der_len_size(prev_len) + prev_len + 1 +
                     der_len_size(data_hash_len) + data_hash_len;
    size_t total = 1 + der_len_size(content) + content;
    uint8_t stack[256];
    uint8_t *buf = stack;
    if (total > sizeof(stack)) {
        buf = weft_malloc(total);
        if (buf == NULL) {
            return WEFT_ENOMEM;
        }
    }
    size_t p = 0;
    buf[p++] = 0x30;
    p += der_len(buf + p, content);
    buf[p++] = 0x02;
    p += der_len(buf + p, ilen);
    memcpy(buf + p, ibuf, ilen);
    p += ilen;
    buf[p++] = 0x04;
    p += der_len(buf + p, prev_len);
    if (prev_len > 0) {
        memcpy(buf + p, prev, prev_len);
    }
    p += prev_len;
    buf[p++] = 0x04;
    p += der_len(buf + p, data_hash_len);
    if (data_hash_len > 0) {
        memcpy(buf + p, data_hash, data_hash_len);
    }
    p += data_hash_len;
    int rc = 0;
    weft_sha256(buf, p, out);
    if (buf != stack) {
        weft_free(buf);
    }
    return rc;
}

void weft_ledger_data_hash(const ProtobufCBinaryData *data, size_t n,
                           uint8_t out[WEFT_LEDGER_HASH_LEN])
{
    struct weft_sha256 *h = weft_sha256_new();
    int rc = h == NULL ? WEFT_ENOMEM : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (data[i].len > 0) {
            rc = weft_sha256_update(h, data[i].data, data[i].len);
        }
    }
    if (rc == 0) {
        rc = weft_sha256_final(h, out);
    }
    if (rc != 0) {
        /* Only an allocation failure gets here; an all-0xff hash matches no
         * real data hash, so the block is refused rather than accepted
         * unchecked. */
        memset(out, 0xff, WEFT_LEDGER_HASH_LEN);
    }
    weft_sha256_free(h);
}

int ledger__block_header_hash(const Common__Block *blk, uint8_t out[WEFT_LEDGER_HASH_LEN])
{
    if (blk == NULL || blk->header == NULL) {
        return WEFT_EINVAL;
    }
    const Common__BlockHeader *h = blk->header;
    return weft_ledger_header_hash(h->number, h->previous_hash.data, h->previous_hash.len,
                                   h->data_hash.data, h->data_hash.len, out);
}
