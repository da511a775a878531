/*
 * Gateway helpers without I/O: endorser outcome classification (spec
 * transaction-flow.md §8), rich error status, transaction envelope assembly
 * (§5) and the chaincode-event filter of one block (§7).
 */
#include <stdio.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "gateway/gateway.pb-c.h"
#include "gateway_int.h"
#include "google/rpc/status.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/rpc.h"

/* ---- outcomes ------------------------------------------------------------------- */

void gw_classify(bool transport, bool refused, const char *err_msg,
                 const Protos__ProposalResponse *pr, struct gw_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (transport) {
        out->code = WEFT_RPC_UNAVAILABLE;
        out->retry = true;
        snprintf(out->msg, sizeof(out->msg), "%s", err_msg != NULL ? err_msg : "unavailable");
        return;
    }
    if (refused) {
        out->code = WEFT_RPC_FAILED_PRECONDITION;
        snprintf(out->msg, sizeof(out->msg), "%s", err_msg != NULL ? err_msg : "refused");
        return;
    }
    if (pr == NULL || pr->response == NULL) {
        out->code = WEFT_RPC_ABORTED;
        out->retry = true;
        snprintf(out->msg, sizeof(out->msg), "received empty response from endorser");
        return;
    }
    int32_t st = pr->response->status;
    const char *m = pr->response->message != NULL ? pr->response->message : "";
    if (st >= 200 && st < 400) {
        out->code = WEFT_RPC_OK;
        return;
    }
    if (st == 500 && pr->payload.len == 0) {
        out->code = WEFT_RPC_ABORTED;
        out->retry = true;
        snprintf(out->msg, sizeof(out->msg), "%s", m);
        return;
    }
    out->code = WEFT_RPC_UNKNOWN;
    snprintf(out->msg, sizeof(out->msg), "chaincode response %d, %s", (int)st, m);
}

/* ---- error details ---------------------------------------------------------------- */

int gw_details_add(struct gw_details *d, const char *address, const char *mspid,
                   const char *message)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        struct gw_detail *v = weft_realloc(d->v, cap * sizeof(*v));
        if (v == NULL) {
            return WEFT_ENOMEM;
        }
        d->v = v;
        d->cap = cap;
    }
    struct gw_detail *e = &d->v[d->n];
    e->address = weft_strdup(address != NULL ? address : "");
    e->mspid = weft_strdup(mspid != NULL ? mspid : "");
    e->message = weft_strdup(message != NULL ? message : "");
    if (e->address == NULL || e->mspid == NULL || e->message == NULL) {
        weft_free(e->address);
        weft_free(e->mspid);
        weft_free(e->message);
        return WEFT_ENOMEM;
    }
    d->n++;
    return 0;
}

void gw_details_free(struct gw_details *d)
{
    for (size_t i = 0; i < d->n; i++) {
        weft_free(d->v[i].address);
        weft_free(d->v[i].mspid);
        weft_free(d->v[i].message);
    }
    weft_free(d->v);
    memset(d, 0, sizeof(*d));
}

int gw_status_pack(int code, const char *message, const struct gw_details *d, uint8_t **out,
                   size_t *len)
{
    size_t n = d != NULL ? d->n : 0;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    Google__Protobuf__Any *anys = weft_calloc(n + 1, sizeof(*anys));
    Google__Protobuf__Any **ptrs = weft_calloc(n + 1, sizeof(*ptrs));
    uint8_t **vals = weft_calloc(n + 1, sizeof(*vals));
    int rc = 0;
    *out = NULL;
    *len = 0;
    if (anys == NULL || ptrs == NULL || vals == NULL) {
        rc = WEFT_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        Gateway__ErrorDetail ed = GATEWAY__ERROR_DETAIL__INIT;
        ed.address = d->v[i].address;
        ed.msp_id = d->v[i].mspid;
        ed.message = d->v[i].message;
        size_t l = gateway__error_detail__get_packed_size(&ed);
        vals[i] = weft_malloc(l + 1);
        if (vals[i] == NULL) {
            rc = WEFT_ENOMEM;
            goto done;
        }
        gateway__error_detail__pack(&ed, vals[i]);
        google__protobuf__any__init(&anys[i]);
        anys[i].type_url = (char *)"type.googleapis.com/gateway.ErrorDetail";
        anys[i].value.data = vals[i];
        anys[i].value.len = l;
        ptrs[i] = &anys[i];
    }
    st.code = code;
    st.message = (char *)(message != NULL ? message : "");
    st.n_details = n;
    st.details = ptrs;
    size_t l = google__rpc__status__get_packed_size(&st);
    *out = weft_malloc(l + 1);
    if (*out == NULL) {
        rc = WEFT_ENOMEM;
        goto done;
    }
    *len = google__rpc__status__pack(&st, *out);
done:
    for (size_t i = 0; vals != NULL && i < n; i++) {
        weft_free(vals[i]);
    }
    weft_free(vals);
    weft_free(ptrs);
    weft_free(anys);
    return rc;
}

/* ---- envelope -------------------------------------------------------------------- */

/* Appends protobuf field `field` (wire type 2) holding data. */
static int put_bytes(struct weft_buf *b, uint32_t field, const uint8_t *data, size_t len)
{
    uint8_t hdr[16];
    size_t h = 0;
    hdr[h++] = (uint8_t)((field << 3) | 2);
    uint64_t v = len;
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        hdr[h++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    int rc = weft_buf_append(b, hdr, h);
    if (rc == 0 && len > 0) {
        rc = weft_buf_append(b, data, len);
    }
    return rc;
}

int gw_prepare_envelope(const uint8_t *proposal, size_t len,
                        const Protos__ProposalResponse *const *resps, size_t n, uint8_t **out,
                        size_t *out_len, struct weft_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (n == 0) {
        return weft_err_set(err, WEFT_EINVAL, "no endorsements");
    }
    Protos__Proposal *prop = protos__proposal__unpack(NULL, len, proposal);
    Common__Header *hdr = NULL;
    Protos__ChaincodeProposalPayload *cpp = NULL;
    Protos__Endorsement **ends = weft_calloc(n, sizeof(*ends));
    uint8_t *cppb = NULL, *cap = NULL, *tx = NULL;
    struct weft_buf pl;
    weft_buf_init(&pl, WEFT_RPC_DEFAULT_MAX_MSG);
    struct weft_buf env;
    weft_buf_init(&env, WEFT_RPC_DEFAULT_MAX_MSG);
    int rc = 0;
    if (ends == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    if (prop == NULL || (hdr = common__header__unpack(NULL, prop->header.len,
                                                      prop->header.data)) == NULL ||
        (cpp = protos__chaincode_proposal_payload__unpack(NULL, prop->payload.len,
                                                           prop->payload.data)) == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "malformed proposal");
        goto done;
    }
    /* the proposal payload without its transient map */
    Protos__ChaincodeProposalPayload bare = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    bare.input = cpp->input;
    size_t cppl = protos__chaincode_proposal_payload__get_packed_size(&bare);
    cppb = weft_malloc(cppl + 1);
    if (cppb == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    protos__chaincode_proposal_payload__pack(&bare, cppb);
    /* endorsements, de-duplicated by endorser, in collection order */
    size_t ne = 0;
    for (size_t i = 0; i < n; i++) {
        const Protos__Endorsement *e = resps[i]->endorsement;
        if (e == NULL) {
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < ne && !dup; j++) {
            dup = ends[j]->endorser.len == e->endorser.len &&
                  memcmp(ends[j]->endorser.data, e->endorser.data, e->endorser.len) == 0;
        }
        if (!dup) {
            ends[ne++] = (Protos__Endorsement *)e;
        }
    }
    Protos__ChaincodeEndorsedAction cea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    cea.proposal_response_payload = resps[0]->payload;
    cea.n_endorsements = ne;
    cea.endorsements = ends;
    Protos__ChaincodeActionPayload capm = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    capm.chaincode_proposal_payload.data = cppb;
    capm.chaincode_proposal_payload.len = cppl;
    capm.action = &cea;
    size_t capl = protos__chaincode_action_payload__get_packed_size(&capm);
    cap = weft_malloc(capl + 1);
    if (cap == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    protos__chaincode_action_payload__pack(&capm, cap);
    Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    ta.header = hdr->signature_header;
    ta.payload.data = cap;
    ta.payload.len = capl;
    Protos__TransactionAction *tap = &ta;
    Protos__Transaction t = PROTOS__TRANSACTION__INIT;
    t.n_actions = 1;
    t.actions = &tap;
    size_t txl = protos__transaction__get_packed_size(&t);
    tx = weft_malloc(txl + 1);
    if (tx == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    protos__transaction__pack(&t, tx);
    /* Payload{header = the proposal's Header bytes as received, data}; then
     * Envelope{payload} without a signature */
    if (put_bytes(&pl, 1, prop->header.data, prop->header.len) != 0 ||
        put_bytes(&pl, 2, tx, txl) != 0 || put_bytes(&env, 1, pl.data, pl.len) != 0) {
        rc = weft_err_set(err, WEFT_ETOOBIG, "transaction too large");
        goto done;
    }
    *out = weft_buf_steal(&env, out_len);
    if (*out == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
done:
    weft_buf_close(&pl);
    weft_buf_close(&env);
    weft_free(tx);
    weft_free(cap);
    weft_free(cppb);
    weft_free(ends);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    common__header__free_unpacked(hdr, NULL);
    protos__proposal__free_unpacked(prop, NULL);
    return rc;
}

/* ---- chaincode events ----------------------------------------------------------- */

#define HEADER_TYPE_ENDORSER_TRANSACTION 3
#define META_TRANSACTIONS_FILTER 2

/* The ChaincodeEvent of one envelope, or NULL (not an endorser
 * transaction, malformed, or no event). */
static Protos__ChaincodeEvent *envelope_event(const ProtobufCBinaryData *raw)
{
    Protos__ChaincodeEvent *ev = NULL;
    Common__Envelope *env = common__envelope__unpack(NULL, raw->len, raw->data);
    Common__Payload *pl = NULL;
    Common__ChannelHeader *ch = NULL;
    Protos__Transaction *tx = NULL;
    Protos__ChaincodeActionPayload *cap = NULL;
    Protos__ProposalResponsePayload *prp = NULL;
    Protos__ChaincodeAction *ca = NULL;
    if (env == NULL || (pl = common__payload__unpack(NULL, env->payload.len,
                                                     env->payload.data)) == NULL ||
        pl->header == NULL ||
        (ch = common__channel_header__unpack(NULL, pl->header->channel_header.len,
                                             pl->header->channel_header.data)) == NULL ||
        ch->type != HEADER_TYPE_ENDORSER_TRANSACTION ||
        (tx = protos__transaction__unpack(NULL, pl->data.len, pl->data.data)) == NULL ||
        tx->n_actions == 0 ||
        (cap = protos__chaincode_action_payload__unpack(NULL, tx->actions[0]->payload.len,
                                                        tx->actions[0]->payload.data)) == NULL ||
        cap->action == NULL ||
        (prp = protos__proposal_response_payload__unpack(
             NULL, cap->action->proposal_response_payload.len,
             cap->action->proposal_response_payload.data)) == NULL ||
        (ca = protos__chaincode_action__unpack(NULL, prp->extension.len,
                                               prp->extension.data)) == NULL ||
        ca->events.len == 0) {
        goto done;
    }
    ev = protos__chaincode_event__unpack(NULL, ca->events.len, ca->events.data);
done:
    protos__chaincode_action__free_unpacked(ca, NULL);
    protos__proposal_response_payload__free_unpacked(prp, NULL);
    protos__chaincode_action_payload__free_unpacked(cap, NULL);
    protos__transaction__free_unpacked(tx, NULL);
    common__channel_header__free_unpacked(ch, NULL);
    common__payload__free_unpacked(pl, NULL);
    common__envelope__free_unpacked(env, NULL);
    return ev;
}

int gw_block_events(const uint8_t *block, size_t len, const char *cc, const char **after_txid,
                    uint8_t **out, size_t *out_len, uint64_t *number, struct weft_err *err)
{
    *out = NULL;
    *out_len = 0;
    Common__Block *b = common__block__unpack(NULL, len, block);
    if (b == NULL || b->header == NULL || b->data == NULL) {
        common__block__free_unpacked(b, NULL);
        return weft_err_set(err, WEFT_EPARSE, "malformed block");
    }
    *number = b->header->number;
    const ProtobufCBinaryData *filter = NULL;
    if (b->metadata != NULL && b->metadata->n_metadata > META_TRANSACTIONS_FILTER) {
        filter = &b->metadata->metadata[META_TRANSACTIONS_FILTER];
    }
    size_t nd = b->data->n_data;
    Protos__ChaincodeEvent **evs = weft_calloc(nd + 1, sizeof(*evs));
    size_t ne = 0;
    int rc = 0;
    if (evs == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nd; i++) {
        uint8_t code = filter != NULL && i < filter->len ? filter->data[i] : 0;
        if (code != 0) {
            continue;
        }
        Protos__ChaincodeEvent *ev = envelope_event(&b->data->data[i]);
        if (ev == NULL) {
            continue;
        }
        if (after_txid != NULL && *after_txid != NULL) {
            if (ev->tx_id != NULL && strcmp(ev->tx_id, *after_txid) == 0) {
                *after_txid = NULL;
            }
            protos__chaincode_event__free_unpacked(ev, NULL);
            continue;
        }
        if (ev->chaincode_id == NULL || strcmp(ev->chaincode_id, cc) != 0) {
            protos__chaincode_event__free_unpacked(ev, NULL);
            continue;
        }
        evs[ne++] = ev;
    }
    if (ne > 0) {
        Gateway__ChaincodeEventsResponse r = GATEWAY__CHAINCODE_EVENTS_RESPONSE__INIT;
        r.n_events = ne;
        r.events = evs;
        r.block_number = *number;
        size_t l = gateway__chaincode_events_response__get_packed_size(&r);
        *out = weft_malloc(l + 1);
        if (*out == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        } else {
            *out_len = gateway__chaincode_events_response__pack(&r, *out);
        }
    }
done:
    for (size_t i = 0; i < ne; i++) {
        protos__chaincode_event__free_unpacked(evs[i], NULL);
    }
    weft_free(evs);
    common__block__free_unpacked(b, NULL);
    return rc;
}
