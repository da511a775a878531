/*
 * Client side of endorsement (weft/lifecycle.h): signed proposals and
 * transaction envelopes, as Fabric's protoutil builds them.
 */
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/crypto.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(*len > 0 ? *len : 1);
    if (b != NULL) {
        protobuf_c_message_pack(m, b);
    }
    return b;
}

void weft_lc_proposal_clear(struct weft_lc_proposal *p)
{
    weft_free(p->signed_proposal);
    weft_free(p->proposal);
    memset(p, 0, sizeof(*p));
}

int weft_lc_proposal_new(struct weft_msp *signer, const char *channel, const char *cc,
                         const uint8_t *const *args, const size_t *lens, size_t n_args,
                         bool is_init, struct weft_lc_proposal *out, struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    struct weft_msp_identity *me = weft_msp_signer(signer);
    if (me == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "the MSP has no signing identity");
    }
    size_t cl = 0;
    const uint8_t *creator = weft_msp_identity_serialized(me, &cl);
    uint8_t nonce[24];
    if (weft_crypto_random(nonce, sizeof(nonce)) != 0) {
        return weft_err_set(err, WEFT_EIO, "no randomness for the nonce");
    }
    uint8_t *eb = NULL, *chb = NULL, *shb = NULL, *cisb = NULL, *hb = NULL, *pb = NULL;
    uint8_t *nc = weft_malloc(sizeof(nonce) + cl);
    ProtobufCBinaryData *av = weft_calloc(n_args + 1, sizeof(*av));
    int rc = nc == NULL || av == NULL ? WEFT_ENOMEM : 0;
    if (rc != 0) {
        goto out;
    }
    memcpy(nc, nonce, sizeof(nonce));
    memcpy(nc + sizeof(nonce), creator, cl);
    uint8_t h[32];
    weft_sha256(nc, sizeof(nonce) + cl, h);
    weft_crypto_hex(h, 32, out->txid);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = ts.tv_sec;
    t.nanos = (int32_t)ts.tv_nsec;
    Protos__ChaincodeID cid = PROTOS__CHAINCODE_ID__INIT;
    cid.name = (char *)cc;
    Protos__ChaincodeHeaderExtension ext = PROTOS__CHAINCODE_HEADER_EXTENSION__INIT;
    ext.chaincode_id = &cid;
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = 3; /* ENDORSER_TRANSACTION */
    ch.channel_id = (char *)channel;
    ch.tx_id = out->txid;
    ch.timestamp = &t;
    size_t el = 0, chl = 0, shl = 0, cisl = 0, hl = 0, pl = 0;
    eb = pack(&ext.base, &el);
    ch.extension.data = eb;
    ch.extension.len = el;
    chb = pack(&ch.base, &chl);
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)(uintptr_t)creator;
    sh.creator.len = cl;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    shb = pack(&sh.base, &shl);
    for (size_t i = 0; i < n_args; i++) {
        av[i].data = (uint8_t *)(uintptr_t)args[i];
        av[i].len = lens[i];
    }
    Protos__ChaincodeInput in = PROTOS__CHAINCODE_INPUT__INIT;
    in.n_args = n_args;
    in.args = av;
    in.is_init = is_init;
    Protos__ChaincodeSpec spec = PROTOS__CHAINCODE_SPEC__INIT;
    spec.type = PROTOS__CHAINCODE_SPEC__TYPE__GOLANG;
    spec.chaincode_id = &cid;
    spec.input = &in;
    Protos__ChaincodeInvocationSpec cis = PROTOS__CHAINCODE_INVOCATION_SPEC__INIT;
    cis.chaincode_spec = &spec;
    cisb = pack(&cis.base, &cisl);
    if (eb == NULL || chb == NULL || shb == NULL || cisb == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    Common__Header hdr = COMMON__HEADER__INIT;
    hdr.channel_header.data = chb;
    hdr.channel_header.len = chl;
    hdr.signature_header.data = shb;
    hdr.signature_header.len = shl;
    Protos__ChaincodeProposalPayload cpp = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    cpp.input.data = cisb;
    cpp.input.len = cisl;
    hb = pack(&hdr.base, &hl);
    pb = pack(&cpp.base, &pl);
    if (hb == NULL || pb == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    Protos__Proposal prop = PROTOS__PROPOSAL__INIT;
    prop.header.data = hb;
    prop.header.len = hl;
    prop.payload.data = pb;
    prop.payload.len = pl;
    out->proposal = pack(&prop.base, &out->proposal_len);
    if (out->proposal == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    rc = weft_msp_sign(signer, out->proposal, out->proposal_len, sig, &sigl, err);
    if (rc != 0) {
        goto out;
    }
    Protos__SignedProposal sp = PROTOS__SIGNED_PROPOSAL__INIT;
    sp.proposal_bytes.data = out->proposal;
    sp.proposal_bytes.len = out->proposal_len;
    sp.signature.data = sig;
    sp.signature.len = sigl;
    out->signed_proposal = pack(&sp.base, &out->signed_proposal_len);
    rc = out->signed_proposal == NULL ? WEFT_ENOMEM : 0;
out:
    weft_free(nc);
    weft_free(av);
    weft_free(eb);
    weft_free(chb);
    weft_free(shb);
    weft_free(cisb);
    weft_free(hb);
    weft_free(pb);
    if (rc != 0) {
        weft_lc_proposal_clear(out);
        if (rc == WEFT_ENOMEM) {
            weft_err_set(err, rc, "proposal: out of memory");
        }
    }
    return rc;
}

int weft_lc_tx_new(struct weft_msp *signer, const struct weft_lc_proposal *prop,
                   const uint8_t *const *responses, const size_t *lens, size_t n, uint8_t **env,
                   size_t *env_len, struct weft_err *err)
{
    if (n == 0) {
        return weft_err_set(err, WEFT_EINVAL, "at least one proposal response is required");
    }
    Protos__Proposal *p = protos__proposal__unpack(NULL, prop->proposal_len, prop->proposal);
    Common__Header *hdr = p != NULL ? common__header__unpack(NULL, p->header.len, p->header.data)
                                    : NULL;
    Protos__ChaincodeProposalPayload *cpp =
        p != NULL ? protos__chaincode_proposal_payload__unpack(NULL, p->payload.len,
                                                                p->payload.data)
                  : NULL;
    Protos__ProposalResponse **prs = weft_calloc(n, sizeof(*prs));
    Protos__Endorsement **ends = weft_calloc(n, sizeof(*ends));
    uint8_t *cppb = NULL, *capb = NULL, *txb = NULL, *plb = NULL;
    int rc = 0;
    if (p == NULL || hdr == NULL || cpp == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "malformed proposal");
        goto out;
    }
    if (prs == NULL || ends == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        prs[i] = protos__proposal_response__unpack(NULL, lens[i], responses[i]);
        if (prs[i] == NULL || prs[i]->response == NULL) {
            rc = weft_err_set(err, WEFT_EPARSE, "proposal response %zu is malformed", i);
            goto out;
        }
        if (prs[i]->response->status < 200 || prs[i]->response->status >= 400) {
            rc = weft_err_set(err, WEFT_EINVAL, "proposal response %zu was not successful, "
                              "error code %d, msg %s", i, prs[i]->response->status,
                              prs[i]->response->message);
            goto out;
        }
        if (prs[i]->endorsement == NULL) {
            rc = weft_err_set(err, WEFT_EINVAL, "proposal response %zu has no endorsement", i);
            goto out;
        }
        if (i > 0 && (prs[i]->payload.len != prs[0]->payload.len ||
                      memcmp(prs[i]->payload.data, prs[0]->payload.data,
                             prs[0]->payload.len) != 0)) {
            rc = weft_err_set(err, WEFT_EINVAL, "ProposalResponsePayloads do not match "
                              "(responses 0 and %zu)", i);
            goto out;
        }
        ends[i] = prs[i]->endorsement;
    }
    /* the proposal payload without its transient map */
    Protos__ChaincodeProposalPayload bare = PROTOS__CHAINCODE_PROPOSAL_PAYLOAD__INIT;
    bare.input = cpp->input;
    size_t cppl = 0, capl = 0, txl = 0, pll = 0;
    cppb = pack(&bare.base, &cppl);
    Protos__ChaincodeEndorsedAction ea = PROTOS__CHAINCODE_ENDORSED_ACTION__INIT;
    ea.proposal_response_payload = prs[0]->payload;
    ea.n_endorsements = n;
    ea.endorsements = ends;
    Protos__ChaincodeActionPayload cap = PROTOS__CHAINCODE_ACTION_PAYLOAD__INIT;
    cap.chaincode_proposal_payload.data = cppb;
    cap.chaincode_proposal_payload.len = cppl;
    cap.action = &ea;
    capb = pack(&cap.base, &capl);
    if (cppb == NULL || capb == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    Protos__TransactionAction ta = PROTOS__TRANSACTION_ACTION__INIT;
    Protos__TransactionAction *tap[1] = {&ta};
    ta.header = hdr->signature_header;
    ta.payload.data = capb;
    ta.payload.len = capl;
    Protos__Transaction tx = PROTOS__TRANSACTION__INIT;
    tx.n_actions = 1;
    tx.actions = tap;
    txb = pack(&tx.base, &txl);
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = hdr;
    pl.data.data = txb;
    pl.data.len = txl;
    plb = txb != NULL ? pack(&pl.base, &pll) : NULL;
    if (plb == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = sizeof(sig);
    rc = weft_msp_sign(signer, plb, pll, sig, &sigl, err);
    if (rc != 0) {
        goto out;
    }
    Common__Envelope e = COMMON__ENVELOPE__INIT;
    e.payload.data = plb;
    e.payload.len = pll;
    e.signature.data = sig;
    e.signature.len = sigl;
    *env = pack(&e.base, env_len);
    rc = *env == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
out:
    for (size_t i = 0; prs != NULL && i < n; i++) {
        protos__proposal_response__free_unpacked(prs[i], NULL);
    }
    weft_free(prs);
    weft_free(ends);
    weft_free(cppb);
    weft_free(capb);
    weft_free(txb);
    weft_free(plb);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    common__header__free_unpacked(hdr, NULL);
    protos__proposal__free_unpacked(p, NULL);
    return rc;
}
