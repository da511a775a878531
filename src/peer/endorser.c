/*
 * protos.Endorser/ProcessProposal (spec transaction-flow.md §3-§4).
 *
 * The checks run in Fabric's order; each failure gives Fabric's text and
 * either a gRPC error (a negative return of weft_peer_endorse) or an OK
 * ProposalResponse carrying status 500. Hashes and signatures are computed
 * over the bytes as received (R38): the proposal hash takes
 * Header.channel_header and Header.signature_header verbatim and re-encodes
 * only ChaincodeProposalPayload{input} (transient map stripped), exactly as
 * Fabric does. The ChaincodeAction embeds the chaincode's Response bytes as
 * the chaincode sent them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "msp/identities.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/chaincode_event.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "cscc_int.h"
#include "peer_internal.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/policy.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_end, "endorser");

/* ---- small protobuf writers (exact bytes) ----------------------------------------- */

static int put_varint(struct weft_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return weft_buf_append(b, t, n);
}

/* Length-delimited field; skipped when empty unless force. */
static int put_bytes(struct weft_buf *b, unsigned field, const void *p, size_t len, bool force)
{
    if (len == 0 && !force) {
        return 0;
    }
    int rc = put_varint(b, (uint64_t)field << 3 | 2);
    if (rc == 0) {
        rc = put_varint(b, len);
    }
    if (rc == 0 && len > 0) {
        rc = weft_buf_append(b, p, len);
    }
    return rc;
}

/* ---- response helpers --------------------------------------------------------------- */

static int pack_msg(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    *out = weft_malloc(n > 0 ? n : 1);
    if (*out == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(m, *out);
    *len = n;
    return 0;
}

/* OK ProposalResponse{response{status, message}} */
static int simple_response(int32_t status, const char *message, uint8_t **out, size_t *len)
{
    Protos__Response r = PROTOS__RESPONSE__INIT;
    Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
    r.status = status;
    r.message = (char *)message;
    pr.response = &r;
    return pack_msg(&pr.base, out, len);
}

struct unpacked {
    Protos__SignedProposal *sp;
    Protos__Proposal *prop;
    Common__Header *hdr;
    Common__ChannelHeader *ch;
    Common__SignatureHeader *sh;
    Protos__ChaincodeHeaderExtension *ext;
    Protos__ChaincodeProposalPayload *cpp;
    Protos__ChaincodeInvocationSpec *cis;
};

static void unpacked_free(struct unpacked *u)
{
    protos__chaincode_invocation_spec__free_unpacked(u->cis, NULL);
    protos__chaincode_proposal_payload__free_unpacked(u->cpp, NULL);
    protos__chaincode_header_extension__free_unpacked(u->ext, NULL);
    common__signature_header__free_unpacked(u->sh, NULL);
    common__channel_header__free_unpacked(u->ch, NULL);
    common__header__free_unpacked(u->hdr, NULL);
    protos__proposal__free_unpacked(u->prop, NULL);
    protos__signed_proposal__free_unpacked(u->sp, NULL);
}

static int unpack_proposal(const uint8_t *b, size_t len, struct unpacked *u, struct weft_err *err)
{
    memset(u, 0, sizeof(*u));
    u->sp = protos__signed_proposal__unpack(NULL, len, b);
    if (u->sp == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling SignedProposal");
    }
    u->prop = protos__proposal__unpack(NULL, u->sp->proposal_bytes.len,
                                       u->sp->proposal_bytes.data);
    if (u->prop == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling Proposal");
    }
    u->hdr = common__header__unpack(NULL, u->prop->header.len, u->prop->header.data);
    if (u->hdr == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling Header");
    }
    u->ch = common__channel_header__unpack(NULL, u->hdr->channel_header.len,
                                           u->hdr->channel_header.data);
    if (u->ch == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling ChannelHeader");
    }
    u->sh = common__signature_header__unpack(NULL, u->hdr->signature_header.len,
                                             u->hdr->signature_header.data);
    if (u->sh == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling SignatureHeader");
    }
    u->ext = protos__chaincode_header_extension__unpack(NULL, u->ch->extension.len,
                                                        u->ch->extension.data);
    if (u->ext == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling ChaincodeHeaderExtension");
    }
    if (u->ext->chaincode_id == NULL || u->ext->chaincode_id->name[0] == 0) {
        return weft_err_set(err, WEFT_EINVAL, "ChaincodeHeaderExtension.ChaincodeId.Name is "
                            "empty");
    }
    u->cpp = protos__chaincode_proposal_payload__unpack(NULL, u->prop->payload.len,
                                                        u->prop->payload.data);
    if (u->cpp == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling ChaincodeProposalPayload");
    }
    u->cis = protos__chaincode_invocation_spec__unpack(NULL, u->cpp->input.len,
                                                       u->cpp->input.data);
    if (u->cis == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "error unmarshalling ChaincodeInvocationSpec");
    }
    if (u->cis->chaincode_spec == NULL || u->cis->chaincode_spec->input == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "chaincode invocation spec did not contain "
                            "chaincode spec or input");
    }
    return 0;
}

/* The system chaincode request of a proposal (qscc, cscc: cscc_int.h). */
static void scc_request(const struct unpacked *u, struct weft_signed_data *sd,
                        struct peer_scc_req *rq)
{
    sd->identity = u->sh->creator.data;
    sd->identity_len = u->sh->creator.len;
    sd->data = u->sp->proposal_bytes.data;
    sd->data_len = u->sp->proposal_bytes.len;
    sd->signature = u->sp->signature.data;
    sd->signature_len = u->sp->signature.len;
    rq->cc = u->ext->chaincode_id->name;
    rq->channel = u->ch->channel_id;
    rq->args = u->cis->chaincode_spec->input->args;
    rq->n_args = u->cis->chaincode_spec->input->n_args;
    rq->sd = sd;
    rq->rwset = NULL;
    rq->rwset_len = NULL;
}

static bool is_system_cc(const char *name)
{
    return strcmp(name, "_lifecycle") == 0 || strcmp(name, "cscc") == 0 ||
           strcmp(name, "qscc") == 0 || strcmp(name, "lscc") == 0;
}

static const char *acl_policy(const struct weft_channel_config *cfg, const char *resource,
                              const char *def)
{
    for (size_t i = 0; cfg->has_application && i < cfg->application.n_acls; i++) {
        if (strcmp(cfg->application.acls[i].resource, resource) == 0) {
            return cfg->application.acls[i].policy_ref;
        }
    }
    return def;
}

/* ChaincodeAction bytes with the chaincode's response embedded verbatim. */
static int chaincode_action(const uint8_t *rwset, size_t rwset_len, const uint8_t *event,
                            size_t event_len, const uint8_t *response, size_t response_len,
                            const char *name, const char *version, struct weft_buf *out)
{
    Protos__ChaincodeID id = PROTOS__CHAINCODE_ID__INIT;
    id.name = (char *)name;
    id.version = (char *)version;
    uint8_t idb[1024];
    if (protobuf_c_message_get_packed_size(&id.base) > sizeof(idb)) {
        return WEFT_ETOOBIG;
    }
    size_t idl = protobuf_c_message_pack(&id.base, idb);
    int rc = put_bytes(out, 1, rwset, rwset_len, false);
    if (rc == 0) {
        rc = put_bytes(out, 2, event, event_len, false);
    }
    if (rc == 0) {
        rc = put_bytes(out, 3, response, response_len, true);
    }
    if (rc == 0) {
        rc = put_bytes(out, 4, idb, idl, true);
    }
    return rc;
}

/* Runs the chaincode and builds the response (steps 14-20). */
/* Records the endorsement signature just made as valid in the committers'
 * verification cache, under the key the validator computes for it (the
 * signer certificate's DER hash, SHA-256 of payload || endorser, the
 * signature): when the transaction comes back in a block, this peer's own
 * endorsement costs a cache lookup instead of an ECDSA verification. Sound
 * because the MSP refuses a signing key that does not match its
 * certificate (msp.c setup_signer). */
static void remember_own_signature(struct weft_peer *p, const uint8_t *tbs, size_t tbs_len,
                                   const uint8_t *sig, size_t sig_len)
{
    struct weft_vcache *vc = p->vcache;
    const struct weft_x509 *cert = weft_msp_identity_cert(weft_msp_signer(p->msp));
    const uint8_t *fp = cert != NULL ? weft_x509_der_hash(cert) : NULL;
    if (vc == NULL || fp == NULL) {
        return;
    }
    uint8_t digest[WEFT_SHA256_LEN], key[WEFT_SHA256_LEN];
    weft_sha256(tbs, tbs_len, digest);
    weft_vcache_key(fp, digest, sig, sig_len, key);
    weft_vcache_insert(vc, key, true);
}

/* One proposal from its checks to its response. When its chaincode is to
 * run (execute), inv is ready and points into the job, which must live
 * until the execution's end (endorse_finish). */
struct endorse_job {
    struct weft_peer *p;
    /* ProcessProposal answered later (WEFT_RPC_DEFERRED): the call, and who
     * answered it (the completion or the call's cancellation) */
    struct weft_rpc_call *call;
    atomic_bool replied;
    /* weft_peer_endorse_async: the outcome goes to done(done_arg) instead */
    weft_peer_endorse_done_fn done;
    void *done_arg;
    struct unpacked u;
    uint8_t phash[32];
    uint8_t *sp; /* owned copy of the SignedProposal (deferred calls) */
    char *ccid, *version;
    uint8_t *input;
    size_t input_len;
    struct weft_ledger_sim *sim;
    struct weft_cc_invocation inv;
    bool execute;
    /* checked on an rpc completion-queue thread: a system chaincode (which
     * may block: cscc joins, _lifecycle writes files) is left to a worker,
     * which runs the checks again (to_worker) */
    bool inline_only;
    bool to_worker;
    size_t sp_len;
};

static void job_clear(struct endorse_job *j)
{
    unpacked_free(&j->u);
    weft_ledger_sim_free(j->sim);
    weft_free(j->sp);
    weft_free(j->input);
    weft_free(j->ccid);
    weft_free(j->version);
}

/* Builds the ProposalResponse from a chaincode's result (steps 16-20): the
 * ChaincodeAction, then by status a response only (400-499), response and
 * payload (>= 500), or the signed endorsement. */
static int respond(struct weft_peer *p, const struct unpacked *u, const char *version,
                   const uint8_t phash[32], const uint8_t *rwset, size_t rwset_len,
                   const struct weft_cc_result *res, uint8_t **out, size_t *out_len,
                   struct weft_err *err)
{
    const char *name = u->ext->chaincode_id->name;
    uint8_t *event = NULL;
    size_t event_len = 0;
    struct weft_buf ca, prp;
    weft_buf_init(&ca, WEFT_RPC_DEFAULT_MAX_MSG);
    weft_buf_init(&prp, WEFT_RPC_DEFAULT_MAX_MSG);
    Protos__Response *resp = NULL;
    int rc = 0;
    if (res->event != NULL) {
        Protos__ChaincodeEvent *ev = protos__chaincode_event__unpack(NULL, res->event_len,
                                                                     res->event);
        if (ev != NULL) {
            ev->chaincode_id = (char *)name; /* overwritten as Fabric does */
            ev->tx_id = u->ch->tx_id;
            rc = pack_msg(&ev->base, &event, &event_len);
            ev->chaincode_id = NULL;
            ev->tx_id = NULL;
            protos__chaincode_event__free_unpacked(ev, NULL);
        }
    }
    if (rc == 0) {
        rc = chaincode_action(rwset, rwset_len, event, event_len, res->response,
                              res->response_len, name, version, &ca);
    }
    if (rc == 0) {
        rc = put_bytes(&prp, 1, phash, 32, true);
    }
    if (rc == 0) {
        rc = put_bytes(&prp, 2, ca.data, ca.len, false);
    }
    resp = protos__response__unpack(NULL, res->response_len, res->response);
    if (rc != 0 || resp == NULL) {
        rc = weft_err_set(err, rc != 0 ? rc : WEFT_EPARSE, "build proposal response: %s",
                          weft_strerror(rc != 0 ? rc : WEFT_EPARSE));
        goto out;
    }
    Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
    Protos__ChaincodeInterest interest = PROTOS__CHAINCODE_INTEREST__INIT;
    Protos__ChaincodeCall call = PROTOS__CHAINCODE_CALL__INIT;
    Protos__ChaincodeCall *calls[1] = {&call};
    Protos__Endorsement end = PROTOS__ENDORSEMENT__INIT;
    call.name = (char *)name;
    interest.n_chaincodes = 1;
    interest.chaincodes = calls;
    pr.response = resp;
    if (res->status >= 400) {
        /* 400-499: response only; >= 500: response and payload, no endorsement */
        if (res->status >= 500) {
            pr.payload.data = prp.data;
            pr.payload.len = prp.len;
            pr.interest = &interest;
        }
        rc = pack_msg(&pr.base, out, out_len);
        goto out;
    }
    size_t idl = 0;
    const uint8_t *idb = weft_msp_identity_serialized(weft_msp_signer(p->msp), &idl);
    struct weft_buf tbs;
    weft_buf_init(&tbs, WEFT_RPC_DEFAULT_MAX_MSG);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = sizeof(sig);
    rc = weft_buf_append(&tbs, prp.data, prp.len);
    if (rc == 0) {
        rc = weft_buf_append(&tbs, idb, idl);
    }
    if (rc == 0) {
        rc = weft_msp_sign(p->msp, tbs.data, tbs.len, sig, &sig_len, err);
    }
    if (rc == 0) {
        remember_own_signature(p, tbs.data, tbs.len, sig, sig_len);
    }
    weft_buf_close(&tbs);
    if (rc != 0) {
        weft_err_prefix(err, "endorsement signature");
        goto out;
    }
    end.endorser.data = (uint8_t *)(uintptr_t)idb;
    end.endorser.len = idl;
    end.signature.data = sig;
    end.signature.len = sig_len;
    pr.version = 1;
    pr.payload.data = prp.data;
    pr.payload.len = prp.len;
    pr.endorsement = &end;
    pr.interest = &interest;
    rc = pack_msg(&pr.base, out, out_len);
out:
    protos__response__free_unpacked(resp, NULL);
    weft_free(event);
    weft_buf_close(&ca);
    weft_buf_close(&prp);
    return rc;
}

/* Step 14: system chaincodes run here; a user chaincode's definition is
 * looked up and its simulation prepared (j->execute, j->inv), or the
 * proposal is answered (*out). */
static int prepare_simulation(struct endorse_job *j, struct peer_channel *c, const uint8_t *sp,
                              size_t sp_len, uint8_t **out, size_t *out_len,
                              struct weft_err *err)
{
    struct weft_peer *p = j->p;
    struct unpacked *u = &j->u;
    const char *name = u->ext->chaincode_id->name;
    const char *ch = u->ch->channel_id;
    struct weft_err e = {0};
    int rc;

    if (peer__is_scc(name) && j->inline_only) {
        j->to_worker = true;
        return 0;
    }
    if (peer__is_scc(name)) {
        /* qscc/cscc run in process, without a simulator (empty rwset) */
        struct weft_signed_data sd;
        struct peer_scc_req rq;
        struct weft_cc_result res = {0};
        uint8_t *rwset = NULL;
        size_t rwset_len = 0;
        scc_request(u, &sd, &rq);
        rq.rwset = &rwset; /* _lifecycle's read/write set */
        rq.rwset_len = &rwset_len;
        rc = peer__scc_invoke(p, &rq, &res, err);
        if (rc == 0) {
            rc = respond(p, u, "syscc", j->phash, rwset, rwset_len, &res, out, out_len, err);
        }
        weft_cc_result_clear(&res);
        weft_free(rwset);
        return rc;
    }
    if (is_system_cc(name)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "system chaincode %s is not available on this peer yet", name);
        return simple_response(500, msg, out, out_len);
    }
    rc = peer__definition(p, c, name, &j->ccid, &j->version, &e);
    if (rc != 0) {
        char msg[WEFT_ERR_MSG_LEN + 200];
        snprintf(msg, sizeof(msg),
                 "make sure the chaincode %s has been successfully defined on channel %s and "
                 "try again: %s",
                 name, ch, e.msg);
        return simple_response(500, msg, out, out_len);
    }
    rc = pack_msg(&u->cis->chaincode_spec->input->base, &j->input, &j->input_len);
    if (rc == 0) {
        rc = weft_ledger_sim_new(c->ledger, u->ch->tx_id, &j->sim, &e);
    }
    if (rc != 0) {
        char msg[WEFT_ERR_MSG_LEN + 64];
        snprintf(msg, sizeof(msg), "error in simulation: %s", e.msg);
        WEFT_DEBUG(lg_end, "[%s][%.8s] %s", ch, u->ch->tx_id, msg);
        return simple_response(500, msg, out, out_len);
    }
    j->inv = (struct weft_cc_invocation){
        .ccid = j->ccid,
        .ns = name,
        .channel = ch,
        .txid = u->ch->tx_id,
        .sim = j->sim,
        .input = j->input,
        .input_len = j->input_len,
        .signed_proposal = sp,
        .signed_proposal_len = sp_len,
        .is_init = u->cis->chaincode_spec->input->is_init,
    };
    j->execute = true;
    return 0;
}

/* Steps 15-20 once the chaincode ran: xrc/xerr its outcome, res its result. */
static int endorse_finish(struct endorse_job *j, int xrc, const struct weft_cc_result *res,
                          const struct weft_err *xerr, uint8_t **out, size_t *out_len,
                          struct weft_err *err)
{
    const struct unpacked *u = &j->u;
    struct weft_err e = {0};
    uint8_t *rwset = NULL;
    size_t rwset_len = 0;
    int rc = xrc;
    if (rc != 0) {
        e = *xerr;
    } else {
        rc = weft_ledger_sim_rwset(j->sim, &rwset, &rwset_len, &e);
    }
    /* the simulation's read transaction is not needed any more */
    weft_ledger_sim_free(j->sim);
    j->sim = NULL;
    j->inv.sim = NULL;
    if (rc != 0) {
        char msg[WEFT_ERR_MSG_LEN + 64];
        snprintf(msg, sizeof(msg), "error in simulation: %s", e.msg);
        WEFT_DEBUG(lg_end, "[%s][%.8s] %s", u->ch->channel_id, u->ch->tx_id, msg);
        return simple_response(500, msg, out, out_len);
    }
    rc = respond(j->p, u, j->version, j->phash, rwset, rwset_len, res, out, out_len, err);
    weft_free(rwset);
    return rc;
}

/* Steps 1-14: the proposal's checks, then prepare_simulation. Returns a
 * gRPC error (err set), or 0 with either the answer (*out) or j->execute. */
static int endorse_check(struct endorse_job *j, const uint8_t *sp, size_t sp_len, uint8_t **out,
                         size_t *out_len, struct weft_err *err)
{
    struct weft_peer *p = j->p;
    struct unpacked u;
    struct weft_msp_identity *creator = NULL;
    uint8_t *phash = j->phash;
    int rc = unpack_proposal(sp, sp_len, &u, err);
    if (rc != 0) {
        goto out;
    }
    /* 2: proposal hash over the bytes as received, transient map stripped */
    {
        struct weft_sha256 *h = weft_sha256_new();
        struct weft_buf cpp;
        weft_buf_init(&cpp, WEFT_RPC_DEFAULT_MAX_MSG);
        rc = h == NULL ? WEFT_ENOMEM : put_bytes(&cpp, 1, u.cpp->input.data, u.cpp->input.len,
                                                   false);
        if (rc == 0) {
            rc = weft_sha256_update(h, u.hdr->channel_header.data, u.hdr->channel_header.len);
        }
        if (rc == 0) {
            rc = weft_sha256_update(h, u.hdr->signature_header.data,
                                    u.hdr->signature_header.len);
        }
        if (rc == 0 && cpp.len > 0) {
            rc = weft_sha256_update(h, cpp.data, cpp.len);
        }
        if (rc == 0) {
            rc = weft_sha256_final(h, phash);
        }
        weft_sha256_free(h);
        weft_buf_close(&cpp);
        if (rc != 0) {
            weft_err_set(err, rc, "proposal hash: %s", weft_strerror(rc));
            goto out;
        }
    }
    const char *chname = u.ch->channel_id;
    /* 3 */
    struct peer_channel *c = NULL;
    if (chname[0] != 0) {
        c = peer__channel(p, chname);
        if (c == NULL) {
            char msg[400];
            snprintf(msg, sizeof(msg), "channel '%s' not found", chname);
            rc = simple_response(500, msg, out, out_len);
            goto out;
        }
    }
    /* 4-8 */
    if (u.ch->type != 3 && u.ch->type != 1) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: invalid header type %d",
                          u.ch->type);
        goto out;
    }
    if (u.ch->epoch != 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: epoch is non-zero");
        goto out;
    }
    if (u.sh->nonce.len == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: nonce is empty");
        goto out;
    }
    if (u.sh->creator.len == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: creator is empty");
        goto out;
    }
    {
        struct weft_sha256 *h = weft_sha256_new();
        uint8_t t[32];
        char want[65];
        rc = h == NULL ? WEFT_ENOMEM : weft_sha256_update(h, u.sh->nonce.data, u.sh->nonce.len);
        if (rc == 0) {
            rc = weft_sha256_update(h, u.sh->creator.data, u.sh->creator.len);
        }
        if (rc == 0) {
            rc = weft_sha256_final(h, t);
        }
        weft_sha256_free(h);
        if (rc != 0) {
            weft_err_set(err, rc, "txid hash: %s", weft_strerror(rc));
            goto out;
        }
        weft_crypto_hex(t, 32, want);
        if (strcmp(want, u.ch->tx_id) != 0) {
            rc = weft_err_set(err, WEFT_EINVAL,
                              "error validating proposal: incorrectly computed txid '%s' -- "
                              "expected '%s'",
                              u.ch->tx_id, want);
            goto out;
        }
    }
    if (u.sp->proposal_bytes.len == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: empty proposal bytes");
        goto out;
    }
    if (u.sp->signature.len == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "error validating proposal: empty signature bytes");
        goto out;
    }
    /* 9-11 and the expiration filter */
    {
        struct weft_err e = {0};
        if (c != NULL) {
            rc = weft_msp_mgr_deserialize(c->cfg->msp_mgr, u.sh->creator.data, u.sh->creator.len,
                                          &creator, &e);
        } else {
            rc = weft_msp_deserialize(p->msp, u.sh->creator.data, u.sh->creator.len, &creator,
                                      &e);
        }
        if (rc != 0) {
            /* Fabric: "creator is malformed" only when the SerializedIdentity
             * does not parse; an unknown MSP or a bad certificate gets the
             * generic text naming the claimed MSP ID */
            Msp__SerializedIdentity *sid =
                msp__serialized_identity__unpack(NULL, u.sh->creator.len, u.sh->creator.data);
            WEFT_WARN(lg_end, "%s access denied: channel [%s]: %s", u.ch->tx_id, chname, e.msg);
            if (sid == NULL) {
                rc = weft_err_set(err, WEFT_EPERM,
                                  "error validating proposal: access denied: channel [%s] "
                                  "creator org unknown, creator is malformed",
                                  chname);
            } else {
                rc = weft_err_set(err, WEFT_EPERM,
                                  "error validating proposal: access denied: channel [%s] "
                                  "creator org [%s]",
                                  chname, sid->mspid != NULL ? sid->mspid : "");
            }
            msp__serialized_identity__free_unpacked(sid, NULL);
            goto out;
        }
        if (weft_msp_identity_check_expiry(creator, 0, &e) != 0) {
            rc = weft_err_set(err, WEFT_EPERM, "proposal client identity expired");
            goto out;
        }
        if (weft_msp_identity_validate(creator, &e) != 0 ||
            weft_msp_identity_verify(creator, NULL, u.sp->proposal_bytes.data,
                                     u.sp->proposal_bytes.len, u.sp->signature.data,
                                     u.sp->signature.len, &e) != 0) {
            /* the client sees the generic text (as with Fabric); the
             * reason goes to the log */
            WEFT_WARN(lg_end, "%s access denied: channel [%s]: %s", u.ch->tx_id, chname, e.msg);
            rc = weft_err_set(err, WEFT_EPERM,
                              "error validating proposal: access denied: channel [%s] "
                              "creator org [%s]",
                              chname, weft_msp_identity_mspid(creator));
            goto out;
        }
    }
    if (c == NULL && peer__is_scc(u.ext->chaincode_id->name) && j->inline_only) {
        j->to_worker = true;
        goto out;
    }
    if (c == NULL && peer__is_scc(u.ext->chaincode_id->name)) {
        struct weft_signed_data sd;
        struct peer_scc_req rq;
        scc_request(&u, &sd, &rq);
        rc = peer__scc_response_only(p, &rq, out, out_len, err);
        goto out;
    }
    if (c == NULL) {
        rc = simple_response(500, "channel-less proposals (_lifecycle InstallChaincode, cscc) "
                                  "are not available on this peer yet",
                             out, out_len);
        goto out;
    }
    /* 12 */
    {
        struct weft_ledger_txloc loc;
        struct weft_err e = {0};
        if (weft_ledger_tx_by_id(c->ledger, u.ch->tx_id, &loc, &e) == 0) {
            char hex[129];
            size_t n = u.sh->creator.len > 64 ? 64 : u.sh->creator.len;
            weft_crypto_hex(u.sh->creator.data, n, hex);
            rc = weft_err_set(err, WEFT_EEXIST, "duplicate transaction found [%s]. Creator [%s]",
                              u.ch->tx_id, hex);
            goto out;
        }
    }
    /* 13 */
    const char *ccname = u.ext->chaincode_id->name;
    if (!is_system_cc(ccname)) {
        const char *pol = acl_policy(c->cfg, "peer/Propose", "/Channel/Application/Writers");
        /* the creator was deserialized with this channel's MSPs, validated
         * and its signature over proposal_bytes verified above: evaluate on
         * that identity instead of verifying the same signature again */
        struct weft_policy_idset *ids = NULL;
        struct weft_err e = {0};
        rc = weft_policy_idset_from(&creator, 1, &ids);
        if (rc != 0) {
            weft_err_set(err, rc, "access check: %s", weft_strerror(rc));
            goto out;
        }
        rc = weft_policy_mgr_evaluate_ids(c->cfg->policy_mgr, pol, ids, &e);
        weft_policy_idset_free(ids);
        if (rc != 0) {
            rc = weft_err_set(err, WEFT_EPOLICY,
                              "access denied for [propose][%s]: failed evaluating policy on "
                              "signed data during check policy [%s]: [%s]",
                              chname, pol, e.msg);
            goto out;
        }
    }
    j->u = u;
    memset(&u, 0, sizeof(u));
    rc = prepare_simulation(j, c, sp, sp_len, out, out_len, err);
out:
    weft_msp_identity_unref(creator);
    unpacked_free(&u);
    return rc;
}

/* The whole proposal on this thread, the chaincode's run included. */
static int endorse_sync(struct endorse_job *j, const uint8_t *sp, size_t sp_len, uint8_t **out,
                        size_t *out_len, struct weft_err *err)
{
    int rc = endorse_check(j, sp, sp_len, out, out_len, err);
    if (rc == 0 && j->execute) {
        struct weft_cc_result res = {0};
        struct weft_err e = {0};
        int xrc = weft_cc_support_execute(j->p->support, &j->inv, &res, &e);
        rc = endorse_finish(j, xrc, &res, &e, out, out_len, err);
        weft_cc_result_clear(&res);
    }
    return rc;
}

int weft_peer_endorse(struct weft_peer *p, const uint8_t *sp, size_t sp_len, uint8_t **out,
                      size_t *out_len, struct weft_err *err)
{
    struct endorse_job j = {.p = p};
    int rc = endorse_sync(&j, sp, sp_len, out, out_len, err);
    job_clear(&j);
    return rc;
}

static int grpc_code(int rc)
{
    return rc == WEFT_ENOMEM ? WEFT_RPC_RESOURCE_EXHAUSTED : WEFT_RPC_UNKNOWN;
}

/* Answers a deferred call with a finished proposal's outcome. */
static void reply_outcome(struct weft_rpc_call *call, int rc, const struct weft_err *e,
                          const uint8_t *out, size_t len)
{
    if (rc != 0) {
        WEFT_WARN(lg_end, "ProcessProposal failed: %s", e->msg);
        weft_rpc_call_set_message(call, e->msg[0] != 0 ? e->msg : weft_strerror(rc));
        (void)weft_rpc_call_reply(call, grpc_code(rc), NULL, 0);
    } else {
        (void)weft_rpc_call_reply(call, WEFT_RPC_OK, out, len);
    }
}

/* The deferred call's one reply: whoever claims it first (the completion or
 * the call's cancellation) answers. */
static bool job_claim(struct endorse_job *j)
{
    return !atomic_exchange(&j->replied, true);
}

/* The client is gone (cancel, deadline, server stop): answered now, on an
 * rpc thread under the call's lock; the chaincode's completion, which
 * always follows (the support enforces the execute timeout), frees the
 * job. */
static void job_cancelled(void *arg)
{
    struct endorse_job *j = arg;
    struct weft_rpc_call *call = j->call; /* j may go once the claim is lost */
    if (job_claim(j)) {
        weft_rpc_call_set_message(call, "proposal cancelled");
        (void)weft_rpc_call_reply(call, WEFT_RPC_CANCELLED, NULL, 0);
    }
}

/* Delivers a finished proposal's outcome: to the async caller's done, else
 * to the deferred call unless its cancellation answered it already. */
static void job_deliver(struct endorse_job *j, int rc, const struct weft_err *e,
                        const uint8_t *out, size_t len)
{
    if (j->done != NULL) {
        j->done(j->done_arg, rc, out, len, e);
    } else if (job_claim(j)) {
        reply_outcome(j->call, rc, e, out, len);
    }
}

/* The chaincode's completion, on the thread that settled it (usually the rpc
 * completion-queue thread that received COMPLETED): builds and signs the
 * response, delivers it and frees the job. */
static void job_done(void *ctx, int xrc, struct weft_cc_result *res, struct weft_err *xerr)
{
    struct endorse_job *j = ctx;
    uint8_t *out = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    int rc = endorse_finish(j, xrc, res, xerr, &out, &len, &e);
    weft_cc_result_clear(res);
    job_deliver(j, rc, &e, out, len);
    weft_free(out);
    job_clear(j);
    weft_free(j);
}

/* A system chaincode's proposal, on a worker of the peer's pool. */
static void worker_run(void *arg)
{
    struct endorse_job *j = arg;
    uint8_t *out = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    int rc = endorse_sync(j, j->sp, j->sp_len, &out, &len, &e);
    job_deliver(j, rc, &e, out, len);
    weft_free(out);
    job_clear(j);
    weft_free(j);
}

/* A fresh job for a worker (the checks run again there) with a copy of
 * the proposal, or NULL when out of memory. */
static struct endorse_job *worker_job(struct weft_peer *p, const uint8_t *sp, size_t sp_len)
{
    struct endorse_job *w = weft_calloc(1, sizeof(*w));
    uint8_t *copy = weft_malloc(sp_len > 0 ? sp_len : 1);
    if (w == NULL || copy == NULL) {
        weft_free(w);
        weft_free(copy);
        return NULL;
    }
    memcpy(copy, sp, sp_len);
    w->p = p;
    w->sp = copy;
    w->sp_len = sp_len;
    return w;
}

/* Hands the proposal to a worker (a copy of it: req is not ours past the
 * handler's return). */
static int to_worker(struct weft_peer *p, struct weft_rpc_call *call, const uint8_t *req,
                     size_t req_len)
{
    struct endorse_job *w = worker_job(p, req, req_len);
    if (w == NULL) {
        weft_rpc_call_set_message(call, "out of memory");
        return WEFT_RPC_RESOURCE_EXHAUSTED;
    }
    w->call = call;
    if (weft_pool_submit(p->workers, worker_run, w) != 0) {
        job_clear(w);
        weft_free(w);
        weft_rpc_call_set_message(call, "peer stopping");
        return WEFT_RPC_UNAVAILABLE;
    }
    return WEFT_RPC_DEFERRED;
}

/* A new job with proposal sp checked on this thread (inline: a system
 * chaincode's proposal is left to a worker, j->to_worker). rc as
 * endorse_check's; *out is a response known at once. */
static int job_check_inline(struct weft_peer *p, const uint8_t *sp, size_t sp_len,
                            struct endorse_job **jp, uint8_t **out, size_t *len,
                            struct weft_err *e)
{
    struct endorse_job *j = *jp = weft_calloc(1, sizeof(*j));
    if (j == NULL) {
        return weft_err_set(e, WEFT_ENOMEM, "out of memory");
    }
    j->p = p;
    j->inline_only = true;
    return endorse_check(j, sp, sp_len, out, len, e);
}

/* The job's own copy of the SignedProposal for the chaincode (the caller's
 * is not kept). */
static int job_keep_sp(struct endorse_job *j, const uint8_t *sp, size_t sp_len,
                       struct weft_err *e)
{
    j->sp = weft_malloc(sp_len > 0 ? sp_len : 1);
    if (j->sp == NULL) {
        return weft_err_set(e, WEFT_ENOMEM, "out of memory");
    }
    memcpy(j->sp, sp, sp_len);
    j->inv.signed_proposal = j->sp;
    return 0;
}

/* Starts the job's chaincode; job_done delivers the outcome and frees the
 * job (perhaps before this returns). */
static void job_run_cc(struct endorse_job *j)
{
    struct weft_err xe = {0};
    int xrc = weft_cc_support_execute_async(j->p->support, &j->inv, job_done, j, &xe);
    if (xrc != 0) {
        struct weft_cc_result res = {0};
        job_done(j, xrc, &res, &xe);
    }
}

/* ProcessProposal, on the completion-queue thread that received it: the
 * checks, then the chaincode is started and the call answered later by its
 * completion (no thread hop, none held while it runs). Refused proposals
 * are answered here, system chaincodes on a worker. */
static int process_proposal(void *ctx, struct weft_rpc_call *call, const uint8_t *req,
                            size_t req_len, struct weft_buf *resp)
{
    struct weft_peer *p = ctx;
    uint8_t *out = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    struct endorse_job *j = NULL;
    int rc = job_check_inline(p, req, req_len, &j, &out, &len, &e);
    if (rc == 0 && j->to_worker) {
        job_clear(j);
        weft_free(j);
        return to_worker(p, call, req, req_len);
    }
    if (rc == 0 && j->execute && (rc = job_keep_sp(j, req, req_len, &e)) == 0) {
        j->call = call;
        weft_rpc_call_on_cancel(call, job_cancelled, j);
        job_run_cc(j);
        return WEFT_RPC_DEFERRED;
    }
    if (j != NULL) {
        job_clear(j);
        weft_free(j);
    }
    if (rc != 0) {
        WEFT_WARN(lg_end, "ProcessProposal failed: %s", e.msg);
        weft_rpc_call_set_message(call, e.msg[0] != 0 ? e.msg : weft_strerror(rc));
        return grpc_code(rc);
    }
    rc = weft_buf_append(resp, out, len);
    weft_free(out);
    return rc == 0 ? WEFT_RPC_OK : WEFT_RPC_RESOURCE_EXHAUSTED;
}

void weft_peer_endorse_async(struct weft_peer *p, const uint8_t *sp, size_t sp_len,
                             weft_peer_endorse_done_fn done, void *arg)
{
    uint8_t *out = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    struct endorse_job *j = NULL;
    int rc = job_check_inline(p, sp, sp_len, &j, &out, &len, &e);
    if (rc == 0 && j->to_worker) {
        job_clear(j);
        weft_free(j);
        j = worker_job(p, sp, sp_len);
        if (j == NULL) {
            rc = weft_err_set(&e, WEFT_ENOMEM, "out of memory");
        } else {
            j->done = done;
            j->done_arg = arg;
            if (weft_pool_submit(p->workers, worker_run, j) == 0) {
                return;
            }
            rc = weft_err_set(&e, WEFT_ESHUTDOWN, "peer stopping");
        }
    } else if (rc == 0 && j->execute && (rc = job_keep_sp(j, sp, sp_len, &e)) == 0) {
        j->done = done;
        j->done_arg = arg;
        job_run_cc(j);
        return;
    }
    done(arg, rc, out, len, &e);
    weft_free(out);
    if (j != NULL) {
        job_clear(j);
        weft_free(j);
    }
}

int peer__endorser_register(struct weft_peer *p, struct weft_rpc_server *rpc,
                            struct weft_err *err)
{
    int rc = weft_rpc_server_add_unary_flags(rpc, "/protos.Endorser/ProcessProposal",
                                             process_proposal, p, WEFT_RPC_INLINE);
    return rc == 0 ? 0 : weft_err_set(err, rc, "register Endorser: %s", weft_strerror(rc));
}
