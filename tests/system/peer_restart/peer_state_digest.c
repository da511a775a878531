/*
 * peer_state_digest: the full public world state of a (stopped) peer's
 * channel ledger, reduced to the state digest of docs/conformance.md:
 * SHA-256 over every key, in (namespace, key) byte order, of
 *   u32be len(ns) | ns | u32be len(key) | key | u64be block | u64be tx |
 *   u32be len(value) | value
 * Namespaces: "", _lifecycle and every namespace any transaction of the
 * chain wrote (from the blocks themselves), so nothing is left out.
 * Prints {"height":H,"current_hash":hex,"keys":K,"namespaces":[...],
 * "digest":hex}.
 *
 * usage: peer_state_digest PEER_FILESYSTEM_PATH CHANNEL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"

#define MAX_NS 1024

static char *ns_set[MAX_NS];
static size_t n_ns;

static void ns_add(const char *ns)
{
    for (size_t i = 0; i < n_ns; i++) {
        if (strcmp(ns_set[i], ns) == 0) {
            return;
        }
    }
    if (n_ns < MAX_NS) {
        ns_set[n_ns++] = weft_strdup(ns);
    }
}

static int ns_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Namespaces written by the endorser transactions of a block. */
static void block_namespaces(const uint8_t *b, size_t len)
{
    Common__Block *blk = common__block__unpack(NULL, len, b);
    for (size_t i = 0; blk != NULL && blk->data != NULL && i < blk->data->n_data; i++) {
        Common__Envelope *e =
            common__envelope__unpack(NULL, blk->data->data[i].len, blk->data->data[i].data);
        Common__Payload *p =
            e != NULL ? common__payload__unpack(NULL, e->payload.len, e->payload.data) : NULL;
        Protos__Transaction *tx =
            p != NULL ? protos__transaction__unpack(NULL, p->data.len, p->data.data) : NULL;
        for (size_t a = 0; tx != NULL && a < tx->n_actions; a++) {
            Protos__ChaincodeActionPayload *cap = protos__chaincode_action_payload__unpack(
                NULL, tx->actions[a]->payload.len, tx->actions[a]->payload.data);
            Protos__ProposalResponsePayload *prp =
                cap != NULL && cap->action != NULL
                    ? protos__proposal_response_payload__unpack(
                          NULL, cap->action->proposal_response_payload.len,
                          cap->action->proposal_response_payload.data)
                    : NULL;
            Protos__ChaincodeAction *ca =
                prp != NULL ? protos__chaincode_action__unpack(NULL, prp->extension.len,
                                                               prp->extension.data)
                            : NULL;
            Rwset__TxReadWriteSet *rw =
                ca != NULL
                    ? rwset__tx_read_write_set__unpack(NULL, ca->results.len, ca->results.data)
                    : NULL;
            for (size_t k = 0; rw != NULL && k < rw->n_ns_rwset; k++) {
                ns_add(rw->ns_rwset[k]->namespace_);
            }
            if (rw != NULL) {
                rwset__tx_read_write_set__free_unpacked(rw, NULL);
            }
            if (ca != NULL) {
                protos__chaincode_action__free_unpacked(ca, NULL);
            }
            if (prp != NULL) {
                protos__proposal_response_payload__free_unpacked(prp, NULL);
            }
            if (cap != NULL) {
                protos__chaincode_action_payload__free_unpacked(cap, NULL);
            }
        }
        if (tx != NULL) {
            protos__transaction__free_unpacked(tx, NULL);
        }
        if (p != NULL) {
            common__payload__free_unpacked(p, NULL);
        }
        if (e != NULL) {
            common__envelope__free_unpacked(e, NULL);
        }
    }
    if (blk != NULL) {
        common__block__free_unpacked(blk, NULL);
    }
}

static int put_be(struct weft_sha256 *h, uint64_t v, int n)
{
    uint8_t b[8];
    for (int i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
    return weft_sha256_update(h, b, (size_t)n);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: peer_state_digest PEER_FILESYSTEM_PATH CHANNEL\n");
        return 2;
    }
    struct weft_err err = {0};
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = argv[1];
    o.channel = argv[2];
    struct weft_ledger *l = NULL;
    if (weft_ledger_open(&l, &o, &err) != 0) {
        fprintf(stderr, "peer_state_digest: %s\n", err.msg);
        return 1;
    }
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    ns_add("");
    ns_add("_lifecycle");
    int rc = 0;
    for (uint64_t n = 0; n < info.height && rc == 0; n++) {
        uint8_t *b = NULL;
        size_t len = 0;
        rc = weft_ledger_block_by_number(l, n, &b, &len, &err);
        if (rc == 0) {
            block_namespaces(b, len);
        }
        weft_free(b);
    }
    qsort(ns_set, n_ns, sizeof(*ns_set), ns_cmp);
    struct weft_sha256 *h = weft_sha256_new();
    struct weft_ledger_sim *q = NULL;
    uint64_t nkeys = 0;
    if (rc == 0) {
        rc = h != NULL ? weft_ledger_qe_new(l, &q, &err) : WEFT_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n_ns; i++) {
        const char *ns = ns_set[i];
        struct weft_ledger_range_iter *it = NULL;
        rc = weft_ledger_sim_range(q, ns, "", 0, "", 0, 0, &it, &err);
        struct weft_ledger_kv kv;
        int more = 0;
        while (rc == 0 && (more = weft_ledger_range_next(it, &kv, &err)) == 1) {
            size_t nl = strlen(ns);
            if (put_be(h, nl, 4) != 0 || weft_sha256_update(h, ns, nl) != 0 ||
                put_be(h, kv.key_len, 4) != 0 || weft_sha256_update(h, kv.key, kv.key_len) != 0 ||
                put_be(h, kv.ver.block_num, 8) != 0 || put_be(h, kv.ver.tx_num, 8) != 0 ||
                put_be(h, kv.value_len, 4) != 0 ||
                weft_sha256_update(h, kv.value, kv.value_len) != 0) {
                rc = WEFT_ECRYPTO;
            }
            nkeys++;
        }
        if (rc == 0 && more < 0) {
            rc = more;
        }
        weft_ledger_range_free(it);
    }
    weft_ledger_sim_free(q);
    uint8_t dg[32];
    if (rc == 0) {
        rc = weft_sha256_final(h, dg);
    }
    weft_sha256_free(h);
    if (rc == 0) {
        char dh[65], ch[65];
        weft_crypto_hex(dg, 32, dh);
        weft_crypto_hex(info.current_hash, 32, ch);
        printf("{\"height\":%llu,\"current_hash\":\"%s\",\"keys\":%llu,\"namespaces\":[",
               (unsigned long long)info.height, ch, (unsigned long long)nkeys);
        for (size_t i = 0; i < n_ns; i++) {
            printf("%s\"%s\"", i > 0 ? "," : "", ns_set[i]);
        }
        printf("],\"digest\":\"%s\"}\n", dh);
    } else {
        fprintf(stderr, "peer_state_digest: %s (%s)\n", err.msg, weft_strerror(rc));
    }
    for (size_t i = 0; i < n_ns; i++) {
        weft_free(ns_set[i]);
    }
    weft_ledger_close(l);
    return rc == 0 ? 0 : 1;
}
