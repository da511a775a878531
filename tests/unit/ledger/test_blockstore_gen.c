/* Synthetic block builder for ledger tests and benchmarks (see header). */
#include "test_blockstore_gen.h"

#include <stdio.h>
#include <string.h>

#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/base.h"
#include "weft/ledger.h"

static int pack_msg(const ProtobufCMessage *m, ProtobufCBinaryData *out)
{
    out->len = protobuf_c_message_get_packed_size(m);
    out->data = weft_malloc(out->len > 0 ? out->len : 1);
    if (out->data == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(m, out->data);
    return 0;
}

int bg_envelope(const char *channel, const char *txid, const char *ns, const struct bg_write *w,
                size_t n, uint8_t **out, size_t *len)
{
    int rc = WEFT_ENOMEM;
    ProtobufCBinaryData kv = {0, NULL}, txrw = {0, NULL}, cact = {0, NULL}, prp = {0, NULL},
                        cap = {0, NULL}, tx = {0, NULL}, ch = {0, NULL}, pl = {0, NULL};
    Kvrwset__KVWrite *ws = weft_calloc(n > 0 ? n : 1, sizeof(*ws));
    Kvrwset__KVWrite **wp = weft_calloc(n > 0 ? n : 1, sizeof(*wp));
    if (ws == NULL || wp == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        kvrwset__kvwrite__init(&ws[i]);
        ws[i].key = (char *)(uintptr_t)w[i].key;
        ws[i].is_delete = w[i].is_delete;
        ws[i].value.data = (uint8_t *)(uintptr_t)w[i].value;
        ws[i].value.len = w[i].value_len;
        wp[i] = &ws[i];
    }
    Kvrwset__KVRWSet kvs;
    kvrwset__kvrwset__init(&kvs);
    kvs.n_writes = n;
    kvs.writes = wp;
    if (pack_msg(&kvs.base, &kv) != 0) {
        goto out;
    }
    Rwset__NsReadWriteSet nsrw;
    rwset__ns_read_write_set__init(&nsrw);
    nsrw.namespace_ = (char *)(uintptr_t)ns;
    nsrw.rwset = kv;
    Rwset__NsReadWriteSet *nsp = &nsrw;
    Rwset__TxReadWriteSet trw;
    rwset__tx_read_write_set__init(&trw);
    trw.data_model = RWSET__TX_READ_WRITE_SET__DATA_MODEL__KV;
    trw.n_ns_rwset = 1;
    trw.ns_rwset = &nsp;
    if (pack_msg(&trw.base, &txrw) != 0) {
        goto out;
    }
    Protos__ChaincodeID ccid;
    protos__chaincode_id__init(&ccid);
    ccid.name = (char *)(uintptr_t)ns;
    ccid.version = "1.0";
    Protos__ChaincodeAction ca;
    protos__chaincode_action__init(&ca);
    ca.results = txrw;
    ca.chaincode_id = &ccid;
    if (pack_msg(&ca.base, &cact) != 0) {
        goto out;
    }
    Protos__ProposalResponsePayload prpm;
    protos__proposal_response_payload__init(&prpm);
    static uint8_t phash[32];
    prpm.proposal_hash.data = phash;
    prpm.proposal_hash.len = 32;
    prpm.extension = cact;
    if (pack_msg(&prpm.base, &prp) != 0) {
        goto out;
    }
    Protos__ChaincodeEndorsedAction cea;
    protos__chaincode_endorsed_action__init(&cea);
    cea.proposal_response_payload = prp;
    Protos__ChaincodeActionPayload capm;
    protos__chaincode_action_payload__init(&capm);
    capm.action = &cea;
    if (pack_msg(&capm.base, &cap) != 0) {
        goto out;
    }
    Protos__TransactionAction ta;
    protos__transaction_action__init(&ta);
    ta.payload = cap;
    Protos__TransactionAction *tap = &ta;
    Protos__Transaction t;
    protos__transaction__init(&t);
    t.n_actions = 1;
    t.actions = &tap;
    if (pack_msg(&t.base, &tx) != 0) {
        goto out;
    }
    Common__ChannelHeader chm;
    common__channel_header__init(&chm);
    chm.type = COMMON__HEADER_TYPE__ENDORSER_TRANSACTION;
    chm.channel_id = (char *)(uintptr_t)channel;
    chm.tx_id = (char *)(uintptr_t)txid;
    if (pack_msg(&chm.base, &ch) != 0) {
        goto out;
    }
    Common__Header h;
    common__header__init(&h);
    h.channel_header = ch;
    Common__Payload p;
    common__payload__init(&p);
    p.header = &h;
    p.data = tx;
    if (pack_msg(&p.base, &pl) != 0) {
        goto out;
    }
    Common__Envelope e;
    common__envelope__init(&e);
    e.payload = pl;
    ProtobufCBinaryData env;
    if (pack_msg(&e.base, &env) != 0) {
        goto out;
    }
    *out = env.data;
    *len = env.len;
    rc = 0;
out:
    weft_free(kv.data);
    weft_free(txrw.data);
    weft_free(cact.data);
    weft_free(prp.data);
    weft_free(cap.data);
    weft_free(tx.data);
    weft_free(ch.data);
    weft_free(pl.data);
    weft_free(ws);
    weft_free(wp);
    return rc;
}

int bg_block(uint64_t number, const uint8_t *prev, size_t prev_len,
             const ProtobufCBinaryData *data, size_t n, const uint8_t *codes, uint8_t **out,
             size_t *len, uint8_t hash_out[32])
{
    uint8_t dh[32];
    weft_ledger_data_hash(data, n, dh);
    Common__BlockHeader h;
    common__block_header__init(&h);
    h.number = number;
    h.previous_hash.data = (uint8_t *)(uintptr_t)prev;
    h.previous_hash.len = prev_len;
    h.data_hash.data = dh;
    h.data_hash.len = 32;
    Common__BlockData d;
    common__block_data__init(&d);
    d.n_data = n;
    d.data = (ProtobufCBinaryData *)(uintptr_t)data;
    ProtobufCBinaryData md[5];
    memset(md, 0, sizeof(md));
    if (codes != NULL) {
        md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data = (uint8_t *)(uintptr_t)codes;
        md[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len = n;
    }
    Common__BlockMetadata m;
    common__block_metadata__init(&m);
    m.n_metadata = 5;
    m.metadata = md;
    Common__Block b;
    common__block__init(&b);
    b.header = &h;
    b.data = &d;
    b.metadata = &m;
    ProtobufCBinaryData packed;
    if (pack_msg(&b.base, &packed) != 0) {
        return WEFT_ENOMEM;
    }
    if (hash_out != NULL &&
        weft_ledger_header_hash(number, prev, prev_len, dh, 32, hash_out) != 0) {
        weft_free(packed.data);
        return WEFT_ENOMEM;
    }
    *out = packed.data;
    *len = packed.len;
    return 0;
}

int bg_simple_block(uint64_t number, const uint8_t *prev, size_t prev_len, size_t ntx,
                    size_t nw, uint8_t **out, size_t *len, uint8_t hash_out[32])
{
    int rc = WEFT_ENOMEM;
    ProtobufCBinaryData *data = weft_calloc(ntx > 0 ? ntx : 1, sizeof(*data));
    struct bg_write *w = weft_calloc(nw > 0 ? nw : 1, sizeof(*w));
    char (*keys)[48] = weft_calloc(nw > 0 ? nw : 1, 48);
    char (*vals)[48] = weft_calloc(nw > 0 ? nw : 1, 48);
    if (data == NULL || w == NULL || keys == NULL || vals == NULL) {
        goto out;
    }
    for (size_t t = 0; t < ntx; t++) {
        for (size_t i = 0; i < nw; i++) {
            snprintf(keys[i], 48, "k%llu_%zu_%zu", (unsigned long long)number, t, i);
            int vl = snprintf(vals[i], 48, "v%llu_%zu_%zu", (unsigned long long)number, t, i);
            w[i].key = keys[i];
            w[i].value = (const uint8_t *)vals[i];
            w[i].value_len = (size_t)vl;
        }
        char txid[64];
        snprintf(txid, sizeof(txid), "tx%llu_%zu", (unsigned long long)number, t);
        rc = bg_envelope("testchannel", txid, "basic", w, nw, &data[t].data, &data[t].len);
        if (rc != 0) {
            goto out;
        }
    }
    rc = bg_block(number, prev, prev_len, data, ntx, NULL, out, len, hash_out);
out:
    for (size_t t = 0; data != NULL && t < ntx; t++) {
        weft_free(data[t].data);
    }
    weft_free(data);
    weft_free(w);
    weft_free(keys);
    weft_free(vals);
    return rc;
}
