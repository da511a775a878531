/*
 * msp_tool: checks, with weft's MSP code, a proposal signed elsewhere.
 *
 *   msp_tool verify-proposal FILE MSPID=MSPDIR [MSPID=MSPDIR ...]
 *
 * FILE holds a serialized gateway.ProposedTransaction (what
 * @hyperledger/fabric-gateway's Proposal.getBytes() returns). The tool
 * deserializes the creator from the SignatureHeader with a channel MSP
 * manager built from the given MSP folders, validates it, verifies the
 * signature over proposal_bytes, checks tx_id = hex(SHA-256(nonce ||
 * creator)) and prints "OK <mspid> <roles> <id>". Exit 0 on success, 1 on a
 * rejected proposal, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "gateway/gateway.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "weft/crypto.h"
#include "weft/msp.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = weft_realloc(buf, cap);
            if (nb == NULL) {
                weft_free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static int fail(const char *what)
{
    printf("REJECT %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "verify-proposal") != 0) {
        fprintf(stderr, "usage: msp_tool verify-proposal FILE MSPID=MSPDIR...\n");
        return 2;
    }
    struct weft_msp_mgr *mgr = weft_msp_mgr_new(0);
    struct weft_err err;
    weft_err_clear(&err);
    for (int i = 3; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq == NULL) {
            return 2;
        }
        *eq = '\0';
        struct weft_msp *m = NULL;
        if (weft_msp_load_dir(eq + 1, argv[i], &m, &err) != 0 ||
            weft_msp_mgr_add(mgr, m, &err) != 0) {
            fprintf(stderr, "msp %s: %s\n", argv[i], err.msg);
            return 2;
        }
        weft_msp_unref(m);
    }
    size_t len = 0;
    uint8_t *data = slurp(argv[2], &len);
    if (data == NULL) {
        return 2;
    }
    int rc = 1;
    Gateway__ProposedTransaction *pt = gateway__proposed_transaction__unpack(NULL, len, data);
    Protos__Proposal *prop = NULL;
    Common__Header *hdr = NULL;
    Common__SignatureHeader *sh = NULL;
    Common__ChannelHeader *ch = NULL;
    struct weft_msp_identity *id = NULL;
    if (pt == NULL || pt->proposal == NULL) {
        rc = fail("not a ProposedTransaction");
        goto done;
    }
    prop = protos__proposal__unpack(NULL, pt->proposal->proposal_bytes.len,
                                    pt->proposal->proposal_bytes.data);
    hdr = prop ? common__header__unpack(NULL, prop->header.len, prop->header.data) : NULL;
    sh = hdr ? common__signature_header__unpack(NULL, hdr->signature_header.len,
                                                hdr->signature_header.data)
             : NULL;
    ch = hdr ? common__channel_header__unpack(NULL, hdr->channel_header.len,
                                              hdr->channel_header.data)
             : NULL;
    if (sh == NULL || ch == NULL) {
        rc = fail("malformed proposal header");
        goto done;
    }
    if (weft_msp_mgr_deserialize(mgr, sh->creator.data, sh->creator.len, &id, &err) != 0) {
        rc = fail(err.msg);
        goto done;
    }
    if (weft_msp_identity_validate(id, &err) != 0 ||
        weft_msp_identity_check_expiry(id, 0, &err) != 0) {
        rc = fail(err.msg);
        goto done;
    }
    if (weft_msp_identity_verify(id, NULL, pt->proposal->proposal_bytes.data,
                                 pt->proposal->proposal_bytes.len, pt->proposal->signature.data,
                                 pt->proposal->signature.len, &err) != 0) {
        rc = fail(err.msg);
        goto done;
    }
    struct weft_sha256 *h = weft_sha256_new();
    uint8_t d[WEFT_SHA256_LEN];
    char hex[2 * WEFT_SHA256_LEN + 1];
    if (h == NULL || weft_sha256_update(h, sh->nonce.data, sh->nonce.len) != 0 ||
        weft_sha256_update(h, sh->creator.data, sh->creator.len) != 0 ||
        weft_sha256_final(h, d) != 0) {
        weft_sha256_free(h);
        goto done;
    }
    weft_sha256_free(h);
    weft_crypto_hex(d, sizeof(d), hex);
    if (strcmp(hex, ch->tx_id) != 0) {
        rc = fail("tx_id is not hex(SHA-256(nonce || creator))");
        goto done;
    }
    unsigned ous = weft_msp_identity_node_ous(id);
    printf("OK %s %s%s%s%s %s\n", weft_msp_identity_mspid(id),
           ous & WEFT_MSP_OU_CLIENT ? "client" : "", ous & WEFT_MSP_OU_PEER ? "peer" : "",
           ous & WEFT_MSP_OU_ADMIN ? "admin" : "", ous & WEFT_MSP_OU_ORDERER ? "orderer" : "",
           weft_msp_identity_id(id));
    rc = 0;
done:
    weft_msp_identity_unref(id);
    if (ch) {
        common__channel_header__free_unpacked(ch, NULL);
    }
    if (sh) {
        common__signature_header__free_unpacked(sh, NULL);
    }
    if (hdr) {
        common__header__free_unpacked(hdr, NULL);
    }
    if (prop) {
        protos__proposal__free_unpacked(prop, NULL);
    }
    if (pt) {
        gateway__proposed_transaction__free_unpacked(pt, NULL);
    }
    weft_free(data);
    weft_msp_mgr_free(mgr);
    return rc;
}
