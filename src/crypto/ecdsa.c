/*
 * ECDSA P-256 signatures as Fabric makes and checks them. This file is the
 * one home of the low-S quirk (STYLE.md R40):
 *
 *  - signing: OpenSSL signs the digest, then if s > n/2 we replace s by n - s
 *    and re-encode, so every signature we emit is low-S (Fabric signECDSA +
 *    ToLowS; fabric-gateway's signer does the same);
 *  - verifying: the DER is parsed with Go encoding/asn1's rules (minimal
 *    lengths and integers, bytes after the SEQUENCE ignored), r > 0 and
 *    s > 0 are required, and s > n/2 is an error (Fabric
 *    UnmarshalECDSASignature + IsLowS + verifyECDSA). Only then does OpenSSL
 *    check the maths, on a canonical re-encoding: OpenSSL itself refuses
 *    trailing bytes, which Fabric tolerates.
 *
 * Integers are handled as fixed 32-byte big-endian arrays; n - s is a plain
 * byte-wise subtraction, so no BIGNUM is allocated on the hot path.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "internal.h"

/* P-256 group order n and floor(n/2). */
static const uint8_t p256_n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                   0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                   0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
static const uint8_t p256_half_n[32] = {
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8};

/* Big-endian compare of two 32-byte numbers. */
static int cmp32(const uint8_t a[32], const uint8_t b[32])
{
    return memcmp(a, b, 32);
}

/* out = n - s (requires 0 < s < n). */
static void n_minus(const uint8_t s[32], uint8_t out[32])
{
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = (int)p256_n[i] - (int)s[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* Reads a DER tag+length at der[*off] following Go's encoding/asn1 rules.
 * Returns the content length or -1. */
static long der_header(const uint8_t *der, size_t len, size_t *off, uint8_t want_tag)
{
    size_t o = *off;
    if (o >= len || der[o] != want_tag) {
        return -1;
    }
    o++;
    if (o >= len) {
        return -1;
    }
    size_t clen = der[o++];
    if (clen & 0x80) {
        size_t nbytes = clen & 0x7f;
        if (nbytes == 0 || nbytes > 3) { /* indefinite, or absurdly long for a signature */
            return -1;
        }
        clen = 0;
        for (size_t i = 0; i < nbytes; i++) {
            if (o >= len) {
                return -1;
            }
            if (i == 0 && der[o] == 0) { /* superfluous leading zero */
                return -1;
            }
            clen = (clen << 8) | der[o++];
        }
        if (clen < 0x80) { /* non-minimal length */
            return -1;
        }
    }
    if (clen > len - o) {
        return -1;
    }
    *off = o;
    return (long)clen;
}

/* Parses a positive INTEGER of at most 32 magnitude bytes into out. */
static int der_uint32(const uint8_t *der, size_t len, size_t *off, uint8_t out[32])
{
    long l = der_header(der, len, off, 0x02);
    if (l <= 0) {
        return -1;
    }
    const uint8_t *p = der + *off;
    size_t n = (size_t)l;
    if (n > 1 && ((p[0] == 0x00 && !(p[1] & 0x80)) || (p[0] == 0xff && (p[1] & 0x80)))) {
        return -1; /* not minimally encoded */
    }
    if (p[0] & 0x80) {
        return -1; /* negative */
    }
    *off += n;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0 || n > 32) {
        return -1; /* zero, or too large for P-256 */
    }
    memset(out, 0, 32);
    memcpy(out + 32 - n, p, n);
    return 0;
}

int weft_ecdsa_sig_parse(const uint8_t *der, size_t len, uint8_t r[32], uint8_t s[32])
{
    if (der == NULL || r == NULL || s == NULL) {
        return WEFT_EPARSE;
    }
    size_t off = 0;
    long seq = der_header(der, len, &off, 0x30);
    if (seq < 0) {
        return WEFT_EPARSE;
    }
    size_t end = off + (size_t)seq;
    uint8_t tr[32], ts[32];
    /* Bytes inside the SEQUENCE after s and after the SEQUENCE are ignored,
     * as Go's asn1.Unmarshal does for Fabric. */
    if (der_uint32(der, end, &off, tr) != 0 || der_uint32(der, end, &off, ts) != 0) {
        return WEFT_EPARSE;
    }
    memcpy(r, tr, 32);
    memcpy(s, ts, 32);
    return 0;
}

/* Writes one minimal DER INTEGER for a 32-byte positive value. */
static size_t put_uint(uint8_t *out, const uint8_t v[32])
{
    size_t i = 0;
    while (i < 31 && v[i] == 0) {
        i++;
    }
    size_t n = 32 - i;
    bool pad = (v[i] & 0x80) != 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n + (pad ? 1 : 0));
    size_t o = 2;
    if (pad) {
        out[o++] = 0x00;
    }
    memcpy(out + o, v + i, n);
    return o + n;
}

static bool is_zero32(const uint8_t v[32])
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++) {
        acc |= v[i];
    }
    return acc == 0;
}

int weft_ecdsa_sig_encode(const uint8_t r[32], const uint8_t s[32], uint8_t out[WEFT_ECDSA_SIG_MAX],
                          size_t *out_len)
{
    if (r == NULL || s == NULL || out == NULL || out_len == NULL || is_zero32(r) || is_zero32(s)) {
        return WEFT_EINVAL;
    }
    uint8_t body[70];
    size_t n = put_uint(body, r);
    n += put_uint(body + n, s);
    out[0] = 0x30;
    out[1] = (uint8_t)n; /* at most 70 < 0x80: short form */
    memcpy(out + 2, body, n);
    *out_len = n + 2;
    return 0;
}

int weft_ecdsa_sig_is_low_s(const uint8_t *der, size_t len)
{
    uint8_t r[32], s[32];
    if (weft_ecdsa_sig_parse(der, len, r, s) != 0) {
        return WEFT_EPARSE;
    }
    return cmp32(s, p256_half_n) <= 0 ? 1 : 0;
}

int weft_ecdsa_sig_normalize(const uint8_t *der, size_t len, uint8_t out[WEFT_ECDSA_SIG_MAX],
                             size_t *out_len)
{
    uint8_t r[32], s[32];
    if (weft_ecdsa_sig_parse(der, len, r, s) != 0 || cmp32(s, p256_n) >= 0) {
        return WEFT_EPARSE;
    }
    if (cmp32(s, p256_half_n) > 0) {
        n_minus(s, s);
    }
    return weft_ecdsa_sig_encode(r, s, out, out_len) == 0 ? 0 : WEFT_EPARSE;
}

int weft_ecdsa_sig_flip_s(const uint8_t *der, size_t len, uint8_t out[WEFT_ECDSA_SIG_MAX],
                          size_t *out_len)
{
    uint8_t r[32], s[32];
    if (weft_ecdsa_sig_parse(der, len, r, s) != 0 || cmp32(s, p256_n) >= 0) {
        return WEFT_EPARSE;
    }
    n_minus(s, s);
    return weft_ecdsa_sig_encode(r, s, out, out_len) == 0 ? 0 : WEFT_EPARSE;
}

int weft_ecdsa_sign_digest(const struct weft_key *key, const uint8_t digest[WEFT_SHA256_LEN],
                           uint8_t sig[WEFT_ECDSA_SIG_MAX], size_t *sig_len, struct weft_err *err)
{
    if (key == NULL || digest == NULL || sig == NULL || sig_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "ecdsa sign: NULL argument");
    }
    if (!weft_key_is_private(key)) {
        return weft_err_set(err, WEFT_EINVAL, "ecdsa sign: key has no private part");
    }
    EVP_PKEY_CTX *ctx = crypto__key_op_ctx(key, true);
    uint8_t raw[WEFT_ECDSA_SIG_MAX + 8];
    size_t raw_len = sizeof(raw);
    if (ctx == NULL || EVP_PKEY_sign(ctx, raw, &raw_len, digest, WEFT_SHA256_LEN) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return crypto__ossl_err(err, WEFT_ECRYPTO, "ecdsa sign");
    }
    EVP_PKEY_CTX_free(ctx);
    /* Low-S: Fabric's verifier rejects s > n/2. */
    if (weft_ecdsa_sig_normalize(raw, raw_len, sig, sig_len) != 0) {
        return weft_err_set(err, WEFT_ECRYPTO, "ecdsa sign: OpenSSL produced bad DER");
    }
    return 0;
}

int weft_ecdsa_sign(const struct weft_key *key, const void *msg, size_t msg_len,
                    uint8_t sig[WEFT_ECDSA_SIG_MAX], size_t *sig_len, struct weft_err *err)
{
    if (msg == NULL && msg_len != 0) {
        return weft_err_set(err, WEFT_EINVAL, "ecdsa sign: NULL message");
    }
    uint8_t digest[WEFT_SHA256_LEN];
    weft_sha256(msg, msg_len, digest);
    return weft_ecdsa_sign_digest(key, digest, sig, sig_len, err);
}

int weft_ecdsa_verify_digest(const struct weft_key *key, const uint8_t digest[WEFT_SHA256_LEN],
                             const uint8_t *sig, size_t sig_len, struct weft_err *err)
{
    if (key == NULL || digest == NULL || (sig == NULL && sig_len != 0)) {
        return weft_err_set(err, WEFT_EINVAL, "ecdsa verify: NULL argument");
    }
    uint8_t r[32], s[32];
    if (weft_ecdsa_sig_parse(sig, sig_len, r, s) != 0) {
        return weft_err_set(err, WEFT_EBADSIG, "ecdsa verify: malformed DER signature");
    }
    if (cmp32(s, p256_half_n) > 0) {
        return weft_err_set(err, WEFT_EBADSIG,
                            "ecdsa verify: invalid S, must be smaller than half the order");
    }
    if (cmp32(r, p256_n) >= 0) {
        return weft_err_set(err, WEFT_EBADSIG, "ecdsa verify: r out of range");
    }
    uint8_t canon[WEFT_ECDSA_SIG_MAX];
    size_t canon_len = 0;
    if (weft_ecdsa_sig_encode(r, s, canon, &canon_len) != 0) {
        return weft_err_set(err, WEFT_EBADSIG, "ecdsa verify: malformed signature");
    }
    EVP_PKEY_CTX *ctx = crypto__key_op_ctx(key, false);
    if (ctx == NULL) {
        return crypto__ossl_err(err, WEFT_ECRYPTO, "ecdsa verify: init");
    }
    int ok = EVP_PKEY_verify(ctx, canon, canon_len, digest, WEFT_SHA256_LEN);
    EVP_PKEY_CTX_free(ctx);
    if (ok != 1) {
        ERR_clear_error();
        return weft_err_set(err, WEFT_EBADSIG, "ecdsa verify: signature does not match");
    }
    return 0;
}

int weft_ecdsa_verify(const struct weft_key *key, const void *msg, size_t msg_len,
                      const uint8_t *sig, size_t sig_len, struct weft_err *err)
{
    if (msg == NULL && msg_len != 0) {
        return weft_err_set(err, WEFT_EINVAL, "ecdsa verify: NULL message");
    }
    uint8_t digest[WEFT_SHA256_LEN];
    weft_sha256(msg, msg_len, digest);
    return weft_ecdsa_verify_digest(key, digest, sig, sig_len, err);
}
