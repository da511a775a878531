/*
 * Block builder: assembles a common.Block from a cut batch and signs it as
 * the orderer (block-and-validation.md §1-§3). No I/O; the signature comes
 * from a callback (the local MSP in production).
 *
 * Bytes signed: value || signature_header || DER(header), where value =
 * ser(OrdererBlockMetadata{last_config, consenter_metadata}) and
 * signature_header = ser(SignatureHeader{creator, 24-byte nonce}). The same
 * bytes are stored, so a verifier never re-marshals (R38).
 */
#include <string.h>

#include "common/common.pb-c.h"
#include "orderer_int.h"
#include "weft/crypto.h"
#include "weft/msp.h"
#include "weft/policy.h"

#define NONCE_LEN 24

static size_t der_len_size(size_t len)
{
    if (len < 0x80) {
        return 1;
    }
    size_t n = 1;
    while (len > 0) {
        n++;
        len >>= 8;
    }
    return n;
}

static uint8_t *der_put_len(uint8_t *p, size_t len)
{
    if (len < 0x80) {
        *p++ = (uint8_t)len;
        return p;
    }
    size_t nb = der_len_size(len) - 1;
    *p++ = (uint8_t)(0x80u | nb);
    for (size_t i = nb; i > 0; i--) {
        *p++ = (uint8_t)(len >> (8 * (i - 1)));
    }
    return p;
}

int orderer__header_der(uint64_t number, const uint8_t *prev, size_t prev_len,
                        const uint8_t *data_hash, size_t dh_len, uint8_t **out, size_t *out_len)
{
    uint8_t num[9];
    size_t nlen = 0;
    /* minimal two's complement of a non-negative big integer */
    uint8_t be[8];
    for (int i = 0; i < 8; i++) {
        be[i] = (uint8_t)(number >> (56 - 8 * i));
    }
    size_t skip = 0;
    while (skip < 7 && be[skip] == 0) {
        skip++;
    }
    if (be[skip] & 0x80u) {
        num[nlen++] = 0;
    }
    memcpy(num + nlen, be + skip, 8 - skip);
    nlen += 8 - skip;

    size_t body = 1 + der_len_size(nlen) + nlen + 1 + der_len_size(prev_len) + prev_len + 1 +
                  der_len_size(dh_len) + dh_len;
    size_t total = 1 + der_len_size(body) + body;
    uint8_t *buf = weft_malloc(total);
    if (buf == NULL) {
        return WEFT_ENOMEM;
    }
    uint8_t *p = buf;
    *p++ = 0x30;
    p = der_put_len(p, body);
    *p++ = 0x02;
    p = der_put_len(p, nlen);
    memcpy(p, num, nlen);
    p += nlen;
    *p++ = 0x04;
    p = der_put_len(p, prev_len);
    if (prev_len > 0) {
        memcpy(p, prev, prev_len);
    }
    p += prev_len;
    *p++ = 0x04;
    p = der_put_len(p, dh_len);
    if (dh_len > 0) {
        memcpy(p, data_hash, dh_len);
    }
    *out = buf;
    *out_len = total;
    return 0;
}

/* Packs a protobuf-c message into a new buffer. */
static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(n > 0 ? n : 1);
    if (b == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(m, b);
    *out = b;
    *len = n;
    return 0;
}

int orderer__block_build(const struct orderer_block_in *in, const struct orderer_signer *signer,
                         uint8_t **out, size_t *out_len, uint8_t hash[32], struct weft_err *err)
{
    int rc = 0;
    uint8_t data_hash[WEFT_SHA256_LEN];
    uint8_t *hdr_der = NULL, *value = NULL, *shdr = NULL, *tosign = NULL, *md0 = NULL,
            *md1 = NULL, *lc_bytes = NULL;
    size_t hdr_der_len = 0, value_len = 0, shdr_len = 0, md0_len = 0, md1_len = 0, lc_len = 0;
    ProtobufCBinaryData *data = NULL;

    struct weft_sha256 *h = weft_sha256_new();
    if (h == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < in->n && rc == 0; i++) {
        rc = weft_sha256_update(h, in->envs[i], in->lens[i]);
    }
    if (rc == 0) {
        rc = weft_sha256_final(h, data_hash);
    }
    weft_sha256_free(h);
    if (rc != 0) {
        return weft_err_set(err, rc, "data hash: %s", weft_strerror(rc));
    }
    rc = orderer__header_der(in->number, in->prev_hash, in->prev_hash_len, data_hash,
                             sizeof(data_hash), &hdr_der, &hdr_der_len);
    if (rc != 0) {
        goto out;
    }
    weft_sha256(hdr_der, hdr_der_len, hash);

    /* SIGNATURES value: OrdererBlockMetadata{last_config, consenter_metadata} */
    Common__LastConfig lc = COMMON__LAST_CONFIG__INIT;
    lc.index = in->last_config;
    Common__OrdererBlockMetadata obm = COMMON__ORDERER_BLOCK_METADATA__INIT;
    obm.last_config = &lc;
    obm.consenter_metadata.data = (uint8_t *)in->consenter_md;
    obm.consenter_metadata.len = in->consenter_md_len;
    rc = pack(&obm.base, &value, &value_len);
    if (rc != 0) {
        goto out;
    }
    Common__Metadata m0 = COMMON__METADATA__INIT;
    m0.value.data = value;
    m0.value.len = value_len;
    Common__MetadataSignature ms = COMMON__METADATA_SIGNATURE__INIT;
    Common__MetadataSignature *msp[1] = {&ms};
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    if (signer != NULL) {
        uint8_t nonce[NONCE_LEN];
        rc = weft_crypto_random(nonce, sizeof(nonce));
        if (rc != 0) {
            goto out;
        }
        Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
        sh.creator.data = (uint8_t *)signer->creator;
        sh.creator.len = signer->creator_len;
        sh.nonce.data = nonce;
        sh.nonce.len = sizeof(nonce);
        rc = pack(&sh.base, &shdr, &shdr_len);
        if (rc != 0) {
            goto out;
        }
        size_t tl = value_len + shdr_len + hdr_der_len;
        tosign = weft_malloc(tl);
        if (tosign == NULL) {
            rc = WEFT_ENOMEM;
            goto out;
        }
        memcpy(tosign, value, value_len);
        memcpy(tosign + value_len, shdr, shdr_len);
        memcpy(tosign + value_len + shdr_len, hdr_der, hdr_der_len);
        rc = signer->sign(signer->ctx, tosign, tl, sig, &sig_len, err);
        if (rc != 0) {
            weft_err_prefix(err, "sign block %llu", (unsigned long long)in->number);
            weft_free(tosign);
            tosign = NULL;
            goto fail_quiet;
        }
        ms.signature_header.data = shdr;
        ms.signature_header.len = shdr_len;
        ms.signature.data = sig;
        ms.signature.len = sig_len;
        m0.n_signatures = 1;
        m0.signatures = msp;
    }
    rc = pack(&m0.base, &md0, &md0_len);
    if (rc != 0) {
        goto out;
    }
    /* LAST_CONFIG: Metadata{value = ser(LastConfig)} */
    rc = pack(&lc.base, &lc_bytes, &lc_len);
    if (rc != 0) {
        goto out;
    }
    Common__Metadata m1 = COMMON__METADATA__INIT;
    m1.value.data = lc_bytes;
    m1.value.len = lc_len;
    rc = pack(&m1.base, &md1, &md1_len);
    if (rc != 0) {
        goto out;
    }

    data = weft_calloc(in->n > 0 ? in->n : 1, sizeof(*data));
    if (data == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->n; i++) {
        data[i].data = (uint8_t *)in->envs[i];
        data[i].len = in->lens[i];
    }
    Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    bh.number = in->number;
    bh.previous_hash.data = (uint8_t *)in->prev_hash;
    bh.previous_hash.len = in->prev_hash_len;
    bh.data_hash.data = data_hash;
    bh.data_hash.len = sizeof(data_hash);
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    bd.n_data = in->n;
    bd.data = data;
    ProtobufCBinaryData mds[5] = {
        {md0_len, md0}, {md1_len, md1}, {0, NULL}, {0, NULL}, {0, NULL}};
    Common__BlockMetadata bm = COMMON__BLOCK_METADATA__INIT;
    bm.n_metadata = 5;
    bm.metadata = mds;
    Common__Block blk = COMMON__BLOCK__INIT;
    blk.header = &bh;
    blk.data = &bd;
    blk.metadata = &bm;
    rc = pack(&blk.base, out, out_len);

out:
    if (rc != 0) {
        weft_err_set(err, rc, "build block %llu: %s", (unsigned long long)in->number,
                     weft_strerror(rc));
    }
fail_quiet:
    weft_free(data);
    weft_free(hdr_der);
    weft_free(value);
    weft_free(shdr);
    weft_free(tosign);
    weft_free(md0);
    weft_free(md1);
    weft_free(lc_bytes);
    return rc;
}

int orderer__block_verify(const uint8_t *blk, size_t len, struct weft_msp_mgr *msps,
                          size_t *n_valid, struct weft_err *err)
{
    int rc = 0;
    size_t valid = 0;
    uint8_t *hdr_der = NULL, *msg = NULL;
    size_t hdr_der_len = 0;
    Common__Metadata *md = NULL;
    Common__Block *b = common__block__unpack(ORDERER_PB, len, blk);
    if (b == NULL || b->header == NULL || b->metadata == NULL || b->metadata->n_metadata < 1) {
        rc = weft_err_set(err, WEFT_EPARSE, "block does not parse or lacks header/metadata");
        goto out;
    }
    md = common__metadata__unpack(ORDERER_PB, b->metadata->metadata[0].len,
                                  b->metadata->metadata[0].data);
    if (md == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "SIGNATURES metadata does not parse");
        goto out;
    }
    rc = orderer__header_der(b->header->number, b->header->previous_hash.data,
                             b->header->previous_hash.len, b->header->data_hash.data,
                             b->header->data_hash.len, &hdr_der, &hdr_der_len);
    if (rc != 0) {
        goto out;
    }
    for (size_t i = 0; i < md->n_signatures; i++) {
        const Common__MetadataSignature *s = md->signatures[i];
        Common__SignatureHeader *sh =
            common__signature_header__unpack(ORDERER_PB, s->signature_header.len,
                                             s->signature_header.data);
        if (sh == NULL) {
            continue;
        }
        size_t ml = md->value.len + s->signature_header.len + hdr_der_len;
        weft_free(msg);
        msg = weft_malloc(ml > 0 ? ml : 1);
        if (msg == NULL) {
            common__signature_header__free_unpacked(sh, NULL);
            rc = WEFT_ENOMEM;
            goto out;
        }
        memcpy(msg, md->value.data, md->value.len);
        memcpy(msg + md->value.len, s->signature_header.data, s->signature_header.len);
        memcpy(msg + md->value.len + s->signature_header.len, hdr_der, hdr_der_len);
        struct weft_msp_identity *id = NULL;
        if (weft_msp_mgr_deserialize(msps, sh->creator.data, sh->creator.len, &id, NULL) == 0) {
            if (weft_msp_identity_verify(id, NULL, msg, ml, s->signature.data, s->signature.len,
                                         NULL) == 0) {
                valid++;
            }
            weft_msp_identity_unref(id);
        }
        common__signature_header__free_unpacked(sh, NULL);
    }
    *n_valid = valid;
out:
    weft_free(msg);
    weft_free(hdr_der);
    if (md != NULL) {
        common__metadata__free_unpacked(md, NULL);
    }
    if (b != NULL) {
        common__block__free_unpacked(b, NULL);
    }
    return rc;
}
