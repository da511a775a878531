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

static int simulate_and_endorse(struct weft_peer *p, struct peer_channel *c, struct unpacked *u,
                                const uint8_t *sp, size_t sp_len, const uint8_t phash[32],
                                uint8_t **out, size_t *out_len, struct weft_err *err)
{
    const char *name = u->ext->chaincode_id->name;
    const char *ch = u->ch->channel_id;
    char *ccid = NULL, *version = NULL;
    struct weft_err e = {0};
    struct weft_ledger_sim *sim = NULL;
    uint8_t *rwset = NULL, *input = NULL, *event = NULL;
    size_t rwset_len = 0, input_len = 0, event_len = 0;
    struct weft_cc_result res = {0};
    struct weft_buf ca, prp;
    weft_buf_init(&ca, WEFT_RPC_DEFAULT_MAX_MSG);
    weft_buf_init(&prp, WEFT_RPC_DEFAULT_MAX_MSG);
    Protos__Response *resp = NULL;
    int rc;

    if (peer__is_scc(name)) {
        /* qscc/cscc run in process, without a simulator (empty rwset) */
        struct weft_signed_data sd;
        struct peer_scc_req rq;
        scc_request(u, &sd, &rq);
        rq.rwset = &rwset; /* _lifecycle's read/write set */
        rq.rwset_len = &rwset_len;
        rc = peer__scc_invoke(p, &rq, &res, err);
        if (rc == 0 && (version = weft_strdup("syscc")) == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        if (rc != 0) {
            goto out;
        }
        goto respond;
    }
    if (is_system_cc(name)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "system chaincode %s is not available on this peer yet", name);
        rc = simple_response(500, msg, out, out_len);
        goto out;
    }
    rc = peer__definition(p, c, name, &ccid, &version, &e);
    if (rc != 0) {
        char msg[WEFT_ERR_MSG_LEN + 200];
        snprintf(msg, sizeof(msg),
                 "make sure the chaincode %s has been successfully defined on channel %s and "
                 "try again: %s",
                 name, ch, e.msg);
        rc = simple_response(500, msg, out, out_len);
        goto out;
    }
    rc = pack_msg(&u->cis->chaincode_spec->input->base, &input, &input_len);
    if (rc == 0) {
        rc = weft_ledger_sim_new(c->ledger, u->ch->tx_id, &sim, &e);
    }
    if (rc == 0) {
        struct weft_cc_invocation inv = {
            .ccid = ccid,
            .ns = name,
            .channel = ch,
            .txid = u->ch->tx_id,
            .sim = sim,
            .input = input,
            .input_len = input_len,
            .signed_proposal = sp,
            .signed_proposal_len = sp_len,
            .is_init = u->cis->chaincode_spec->input->is_init,
        };
        rc = weft_cc_support_execute(p->support, &inv, &res, &e);
    }
    if (rc == 0) {
        rc = weft_ledger_sim_rwset(sim, &rwset, &rwset_len, &e);
    }
    if (rc != 0) {
        char msg[WEFT_ERR_MSG_LEN + 64];
        snprintf(msg, sizeof(msg), "error in simulation: %s", e.msg);
        WEFT_DEBUG(lg_end, "[%s][%.8s] %s", ch, u->ch->tx_id, msg);
        rc = simple_response(500, msg, out, out_len);
        goto out;
    }
respond:
    if (res.event != NULL) {
        Protos__ChaincodeEvent *ev = protos__chaincode_event__unpack(NULL, res.event_len,
                                                                     res.event);
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
        rc = chaincode_action(rwset, rwset_len, event, event_len, res.response, res.response_len,
                              name, version, &ca);
    }
    if (rc == 0) {
        rc = put_bytes(&prp, 1, phash, 32, true);
    }
    if (rc == 0) {
        rc = put_bytes(&prp, 2, ca.data, ca.len, false);
    }
    resp = protos__response__unpack(NULL, res.response_len, res.response);
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
    if (res.status >= 400) {
        /* 400-499: response only; >= 500: response and payload, no endorsement */
        if (res.status >= 500) {
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
    weft_cc_result_clear(&res);
    weft_ledger_sim_free(sim);
    weft_free(rwset);
    weft_free(input);
    weft_free(event);
    weft_free(ccid);
    weft_free(version);
    weft_buf_close(&ca);
    weft_buf_close(&prp);
    return rc;
}

int weft_peer_endorse(struct weft_peer *p, const uint8_t *sp, size_t sp_len, uint8_t **out,
                      size_t *out_len, struct weft_err *err)
{
    struct unpacked u;
    struct weft_msp_identity *creator = NULL;
    int rc = unpack_proposal(sp, sp_len, &u, err);
    if (rc != 0) {
        goto out;
    }
    /* 2: proposal hash over the bytes as received, transient map stripped */
    uint8_t phash[32];
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
    rc = simulate_and_endorse(p, c, &u, sp, sp_len, phash, out, out_len, err);
out:
    weft_msp_identity_unref(creator);
    unpacked_free(&u);
    return rc;
}

static int process_proposal(void *ctx, struct weft_rpc_call *call, const uint8_t *req,
                            size_t req_len, struct weft_buf *resp)
{
    struct weft_peer *p = ctx;
    uint8_t *out = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    int rc = weft_peer_endorse(p, req, req_len, &out, &len, &e);
    if (rc != 0) {
        WEFT_WARN(lg_end, "ProcessProposal failed: %s", e.msg);
        weft_rpc_call_set_message(call, e.msg[0] != 0 ? e.msg : weft_strerror(rc));
        return rc == WEFT_ENOMEM ? WEFT_RPC_RESOURCE_EXHAUSTED : WEFT_RPC_UNKNOWN;
    }
    rc = weft_buf_append(resp, out, len);
    weft_free(out);
    return rc == 0 ? WEFT_RPC_OK : WEFT_RPC_RESOURCE_EXHAUSTED;
}

int peer__endorser_register(struct weft_peer *p, struct weft_rpc_server *rpc,
                            struct weft_err *err)
{
    int rc = weft_rpc_server_add_unary(rpc, "/protos.Endorser/ProcessProposal", process_proposal,
                                       p);
    return rc == 0 ? 0 : weft_err_set(err, rc, "register Endorser: %s", weft_strerror(rc));
}
