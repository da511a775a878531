/* Genesis block assembly (configtxgen's genesis.Factory): one CONFIG
 * envelope, block 0, data hash, metadata[0] = OrdererBlockMetadata{}. */
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "internal.h"
#include "weft/crypto.h"

#define NONCE_LEN 24

int weft_configtx_genesis_block(const uint8_t *config, size_t len, const char *channel_id,
                                uint8_t **out, size_t *out_len, struct weft_err *err)
{
    if (config == NULL || channel_id == NULL || out == NULL || out_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "genesis block: missing argument");
    }
    if (channel_id[0] == '\0') {
        return weft_err_set(err, WEFT_EINVAL, "genesis block: empty channel id");
    }
    uint8_t nonce[NONCE_LEN];
    uint8_t digest[WEFT_SHA256_LEN];
    char txid[2 * WEFT_SHA256_LEN + 1];
    uint8_t *chb = NULL, *shb = NULL, *ceb = NULL, *plb = NULL, *envb = NULL;
    size_t chl = 0, shl = 0, cel = 0, pll = 0, envl = 0;
    int rc = weft_crypto_random(nonce, sizeof(nonce));
    if (rc != 0) {
        return weft_err_set(err, rc, "genesis block: no random nonce");
    }
    /* tx id = hex(SHA-256(nonce || creator)), creator empty */
    weft_sha256(nonce, sizeof(nonce), digest);
    for (size_t i = 0; i < WEFT_SHA256_LEN; i++) {
        static const char hex[] = "0123456789abcdef";
        txid[2 * i] = hex[digest[i] >> 4];
        txid[2 * i + 1] = hex[digest[i] & 15];
    }
    txid[2 * WEFT_SHA256_LEN] = '\0';

    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)(weft_clock_wall_ns() / 1000000000ULL);
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = WEFT_CONFIGTX_HEADER_CONFIG;
    ch.version = 1;
    ch.timestamp = &ts;
    ch.channel_id = (char *)channel_id;
    ch.tx_id = txid;
    rc = configtx__pack(&ch.base, &chb, &chl, err);
    if (rc != 0) {
        goto out;
    }
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    rc = configtx__pack(&sh.base, &shb, &shl, err);
    if (rc != 0) {
        goto out;
    }
    /* ConfigEnvelope{config = <config bytes>}: field 1, length-delimited */
    {
        struct weft_buf b;
        weft_buf_init(&b, WEFT_CONFIGTX_MAX_BLOCK);
        uint8_t hdr[11];
        size_t h = 0;
        hdr[h++] = 0x0a;
        uint64_t v = len;
        while (v >= 0x80) {
            hdr[h++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        hdr[h++] = (uint8_t)v;
        if (weft_buf_append(&b, hdr, h) != 0 || weft_buf_append(&b, config, len) != 0) {
            weft_buf_close(&b);
            rc = weft_err_set(err, WEFT_ENOMEM, "genesis block: out of memory");
            goto out;
        }
        ceb = weft_buf_steal(&b, &cel);
    }
    Common__Header hd = COMMON__HEADER__INIT;
    hd.channel_header.data = chb;
    hd.channel_header.len = chl;
    hd.signature_header.data = shb;
    hd.signature_header.len = shl;
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = &hd;
    pl.data.data = ceb;
    pl.data.len = cel;
    rc = configtx__pack(&pl.base, &plb, &pll, err);
    if (rc != 0) {
        goto out;
    }
    Common__Envelope env = COMMON__ENVELOPE__INIT;
    env.payload.data = plb;
    env.payload.len = pll;
    rc = configtx__pack(&env.base, &envb, &envl, err);
    if (rc != 0) {
        goto out;
    }
    uint8_t data_hash[WEFT_SHA256_LEN];
    weft_sha256(envb, envl, data_hash);
    Common__BlockHeader bh = COMMON__BLOCK_HEADER__INIT;
    bh.number = 0;
    bh.data_hash.data = data_hash;
    bh.data_hash.len = sizeof(data_hash);
    ProtobufCBinaryData entries[1] = {{envl, envb}};
    Common__BlockData bd = COMMON__BLOCK_DATA__INIT;
    bd.n_data = 1;
    bd.data = entries;
    /* metadata[0] = Metadata{value = OrdererBlockMetadata{last_config: {}}} */
    static uint8_t md0[] = {0x0a, 0x02, 0x0a, 0x00};
    ProtobufCBinaryData mds[5] = {{sizeof(md0), md0}, {0, NULL}, {0, NULL}, {0, NULL}, {0, NULL}};
    Common__BlockMetadata bm = COMMON__BLOCK_METADATA__INIT;
    bm.n_metadata = 5;
    bm.metadata = mds;
    Common__Block blk = COMMON__BLOCK__INIT;
    blk.header = &bh;
    blk.data = &bd;
    blk.metadata = &bm;
    rc = configtx__pack(&blk.base, out, out_len, err);
out:
    weft_free(chb);
    weft_free(shb);
    weft_free(ceb);
    weft_free(plb);
    weft_free(envb);
    return rc;
}
