/*
 * System chaincode dispatch, ACLs, and cscc (configuration system
 * chaincode): JoinChain, JoinBySnapshot, GetChannels, GetConfigBlock,
 * GetChannelConfig (spec chaincode.md §9).
 *
 * ACLs follow Fabric's defaults (spec config.md §4.4): channel resources are
 * checked against the channel's ACLs value or /Channel/Application/Readers
 * with the proposal's signed data; JoinChain needs an admin of the peer's
 * local MSP, GetChannels a valid member of it. Refusals are responses with
 * status 500 whose message starts with "access denied", as in Fabric.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "cscc_int.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/query.pb-c.h"
#include "peer_internal.h"
#include "weft/configtx.h"
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/msp.h"

WEFT_LOGGER(lg_scc, "scc");

bool peer__is_scc(const char *name)
{
    return strcmp(name, "qscc") == 0 || strcmp(name, "cscc") == 0 ||
           strcmp(name, "_lifecycle") == 0;
}

/* ---- ACLs ------------------------------------------------------------------------ */

static const struct {
    const char *resource;
    enum peer_acl_kind kind;
} acl_defaults[] = {
    {"qscc/GetChainInfo", PEER_ACL_CHANNEL},
    {"qscc/GetBlockByNumber", PEER_ACL_CHANNEL},
    {"qscc/GetBlockByHash", PEER_ACL_CHANNEL},
    {"qscc/GetTransactionByID", PEER_ACL_CHANNEL},
    {"qscc/GetBlockByTxID", PEER_ACL_CHANNEL},
    {"cscc/GetConfigBlock", PEER_ACL_CHANNEL},
    {"cscc/GetChannelConfig", PEER_ACL_CHANNEL},
    {"cscc/JoinChain", PEER_ACL_LOCAL_ADMIN},
    {"cscc/JoinChainBySnapshot", PEER_ACL_LOCAL_ADMIN},
    {"cscc/GetChannels", PEER_ACL_LOCAL_MEMBER},
};

int peer__acl_default(const char *resource, enum peer_acl_kind *kind, const char **policy)
{
    for (size_t i = 0; i < WEFT_ARRAY_LEN(acl_defaults); i++) {
        if (strcmp(acl_defaults[i].resource, resource) == 0) {
            *kind = acl_defaults[i].kind;
            *policy = *kind == PEER_ACL_CHANNEL ? "/Channel/Application/Readers" : NULL;
            return 0;
        }
    }
    return WEFT_ENOTFOUND;
}

void peer__acl_policy(const struct weft_channel_config *cfg, const char *resource, const char *def,
                      char *buf, size_t cap)
{
    const char *ref = def;
    for (size_t i = 0; cfg != NULL && cfg->has_application && i < cfg->application.n_acls; i++) {
        if (strcmp(cfg->application.acls[i].resource, resource) == 0) {
            ref = cfg->application.acls[i].policy_ref;
            break;
        }
    }
    if (ref[0] == '/') {
        snprintf(buf, cap, "%s", ref);
    } else {
        snprintf(buf, cap, "/Channel/Application/%s", ref);
    }
}

int peer__acl_check(struct weft_peer *p, const struct weft_channel_config *cfg,
                    const char *resource, const struct weft_signed_data *sd, struct weft_err *err)
{
    enum peer_acl_kind kind;
    const char *def = NULL;
    if (peer__acl_default(resource, &kind, &def) != 0) {
        return weft_err_set(err, WEFT_EPERM, "unknown resource %s", resource);
    }
    struct weft_err e = {0};
    if (kind == PEER_ACL_CHANNEL) {
        if (cfg == NULL) {
            return weft_err_set(err, WEFT_EPERM, "no channel configuration");
        }
        char pol[512];
        peer__acl_policy(cfg, resource, def, pol, sizeof(pol));
        if (weft_policy_mgr_evaluate(cfg->policy_mgr, pol, sd, 1, &e) != 0) {
            return weft_err_set(err, WEFT_EPERM,
                                "failed evaluating policy on signed data during check policy "
                                "[%s]: [%s]",
                                pol, e.msg);
        }
        return 0;
    }
    /* local MSP: the creator must belong to it (and be an admin for
     * PEER_ACL_LOCAL_ADMIN); the endorser already checked the signature, but
     * a channel-bound proposal was checked with the channel's MSPs, so check
     * it again here */
    struct weft_msp_identity *id = NULL;
    int rc = weft_msp_deserialize(p->msp, sd->identity, sd->identity_len, &id, &e);
    if (rc == 0) {
        rc = weft_msp_identity_validate(id, &e);
    }
    if (rc == 0) {
        rc = weft_msp_identity_verify(id, NULL, sd->data, sd->data_len, sd->signature,
                                      sd->signature_len, &e);
    }
    if (rc == 0 && kind == PEER_ACL_LOCAL_ADMIN && !weft_msp_identity_is_admin(id)) {
        rc = weft_err_set(&e, WEFT_EPOLICY, "the creator is not an admin of %s",
                          weft_msp_id(p->msp));
    }
    weft_msp_identity_unref(id);
    if (rc != 0) {
        return weft_err_set(err, WEFT_EPERM, "the local MSP %s refuses the creator: %s",
                            weft_msp_id(p->msp), e.msg);
    }
    return 0;
}

/* ---- responses ----------------------------------------------------------------- */

/* Fills res with a Response (payload copied). 0 or WEFT_ENOMEM. */
int peer__scc_reply(struct weft_cc_result *res, int32_t status, const char *message,
                    const uint8_t *payload, size_t len)
{
    weft_cc_result_clear(res);
    Protos__Response r = PROTOS__RESPONSE__INIT;
    r.status = status;
    r.message = (char *)message;
    r.payload.data = (uint8_t *)(uintptr_t)payload;
    r.payload.len = len;
    size_t n = protobuf_c_message_get_packed_size(&r.base);
    res->status = status;
    res->message = weft_strdup(message);
    res->response = weft_malloc(n + 1);
    res->payload = len > 0 ? weft_memdup(payload, len) : NULL;
    if (res->message == NULL || res->response == NULL || (len > 0 && res->payload == NULL)) {
        weft_cc_result_clear(res);
        return WEFT_ENOMEM;
    }
    res->response_len = protobuf_c_message_pack(&r.base, res->response);
    res->payload_len = len;
    return 0;
}

/* A status-500 reply with a formatted message. */
int peer__scc_fail(struct weft_cc_result *res, const char *fmt, ...)
{
    char msg[WEFT_ERR_MSG_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return peer__scc_reply(res, 500, msg, NULL, 0);
}

/* Packs a message into a 200 reply. */
int peer__scc_reply_msg(struct weft_cc_result *res, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(n + 1);
    if (b == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(m, b);
    int rc = peer__scc_reply(res, 200, "", b, n);
    weft_free(b);
    return rc;
}

/* Copies args[i] into a NUL-terminated string (cap bytes). false when it does
 * not fit or holds a NUL. */
bool peer__scc_arg(const struct peer_scc_req *req, size_t i, char *buf, size_t cap)
{
    if (i >= req->n_args || req->args[i].len >= cap ||
        memchr(req->args[i].data, 0, req->args[i].len) != NULL) {
        return false;
    }
    memcpy(buf, req->args[i].data, req->args[i].len);
    buf[req->args[i].len] = 0;
    return true;
}

/* ---- config blocks ----------------------------------------------------------------- */

/* Number of the last config block at the ledger's top: the LAST_CONFIG index
 * of the newest block (OrdererBlockMetadata in SIGNATURES, else the older
 * LAST_CONFIG metadata). */
int peer__last_config_block(struct weft_ledger *l, uint8_t **out, size_t *out_len,
                            struct weft_err *err)
{
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    if (info.height == 0) {
        return weft_err_set(err, WEFT_ENOTFOUND, "empty ledger");
    }
    uint8_t *b = NULL;
    size_t bl = 0;
    int rc = weft_ledger_block_by_number(l, info.height - 1, &b, &bl, err);
    if (rc != 0) {
        return rc;
    }
    Common__Block *blk = common__block__unpack(NULL, bl, b);
    uint64_t idx = 0;
    bool found = false;
    if (blk != NULL && blk->metadata != NULL) {
        for (size_t k = 0; k < 2 && !found && k < blk->metadata->n_metadata; k++) {
            Common__Metadata *md = common__metadata__unpack(NULL, blk->metadata->metadata[k].len,
                                                            blk->metadata->metadata[k].data);
            if (md != NULL && k == 0) {
                Common__OrdererBlockMetadata *obm =
                    common__orderer_block_metadata__unpack(NULL, md->value.len, md->value.data);
                if (obm != NULL && obm->last_config != NULL) {
                    idx = obm->last_config->index;
                    found = true;
                }
                common__orderer_block_metadata__free_unpacked(obm, NULL);
            } else if (md != NULL) {
                Common__LastConfig *lc =
                    common__last_config__unpack(NULL, md->value.len, md->value.data);
                if (lc != NULL) {
                    idx = lc->index;
                    found = true;
                }
                common__last_config__free_unpacked(lc, NULL);
            }
            common__metadata__free_unpacked(md, NULL);
        }
    }
    if (blk != NULL) {
        common__block__free_unpacked(blk, NULL);
    }
    if (!found || idx >= info.height) {
        idx = 0; /* genesis: no metadata, or an index we cannot trust */
    }
    if (idx == info.height - 1) {
        *out = b;
        *out_len = bl;
        return 0;
    }
    weft_free(b);
    return weft_ledger_block_by_number(l, idx, out, out_len, err);
}

/* ---- cscc -------------------------------------------------------------------------- */

static int cscc_join(struct weft_peer *p, const struct peer_scc_req *req,
                     struct weft_cc_result *res)
{
    struct weft_err e = {0};
    if (req->n_args < 2 || req->args[1].len == 0) {
        return peer__scc_fail(res, "Cannot join the channel: no configuration block provided");
    }
    if (peer__acl_check(p, NULL, "cscc/JoinChain", req->sd, &e) != 0) {
        return peer__scc_fail(res, "access denied for [JoinChain]: %s", e.msg);
    }
    char *id = NULL;
    int rc = weft_peer_join(p, req->args[1].data, req->args[1].len, &id, &e);
    if (rc == WEFT_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        return peer__scc_fail(res, "JoinChain failed: %s", e.msg);
    }
    rc = peer__sys_channel_start(p, id, &e);
    if (rc != 0) {
        WEFT_ERROR(lg_scc, "channel %s joined but its block puller did not start: %s", id, e.msg);
        rc = peer__scc_fail(res, "JoinChain: channel %s joined, but pulling blocks failed: %s", id,
                            e.msg);
    } else {
        WEFT_INFO(lg_scc, "joined channel %s", id);
        rc = peer__scc_reply(res, 200, "", NULL, 0);
    }
    weft_free(id);
    return rc;
}

static int cscc_channels(struct weft_peer *p, const struct peer_scc_req *req,
                         struct weft_cc_result *res)
{
    struct weft_err e = {0};
    if (peer__acl_check(p, NULL, "cscc/GetChannels", req->sd, &e) != 0) {
        return peer__scc_fail(res, "access denied for [GetChannels]: %s", e.msg);
    }
    pthread_mutex_lock(&p->mu);
    size_t n = 0;
    for (struct peer_channel *c = p->channels; c != NULL; c = c->next) {
        n++;
    }
    Protos__ChannelInfo *infos = weft_calloc(n + 1, sizeof(*infos));
    Protos__ChannelInfo **ptrs = weft_calloc(n + 1, sizeof(*ptrs));
    char **ids = weft_calloc(n + 1, sizeof(*ids));
    bool ok = infos != NULL && ptrs != NULL && ids != NULL;
    size_t i = 0;
    for (struct peer_channel *c = p->channels; ok && c != NULL; c = c->next, i++) {
        ids[i] = weft_strdup(c->id);
        ok = ids[i] != NULL;
    }
    pthread_mutex_unlock(&p->mu);
    int rc = WEFT_ENOMEM;
    if (ok) {
        /* oldest first, as the list is built by prepending */
        for (size_t k = 0; k < n; k++) {
            protos__channel_info__init(&infos[k]);
            infos[k].channel_id = ids[n - 1 - k];
            ptrs[k] = &infos[k];
        }
        Protos__ChannelQueryResponse q = PROTOS__CHANNEL_QUERY_RESPONSE__INIT;
        q.n_channels = n;
        q.channels = ptrs;
        rc = peer__scc_reply_msg(res, &q.base);
    }
    for (size_t k = 0; ids != NULL && k < n; k++) {
        weft_free(ids[k]);
    }
    weft_free(ids);
    weft_free(ptrs);
    weft_free(infos);
    return rc;
}

/* GetConfigBlock / GetChannelConfig. */
static int cscc_config(struct weft_peer *p, const struct peer_scc_req *req, const char *fn,
                       struct weft_cc_result *res)
{
    char ch[256];
    struct weft_err e = {0};
    if (req->n_args < 2 || !peer__scc_arg(req, 1, ch, sizeof(ch)) || ch[0] == 0) {
        return peer__scc_fail(res, "%s: a channel name is required as the second argument", fn);
    }
    const struct weft_channel_config *cfg = peer__channel_config(p, ch);
    struct weft_ledger *l = peer__channel_ledger(p, ch);
    if (cfg == NULL || l == NULL) {
        return peer__scc_fail(res, "Unknown channel ID, %s", ch);
    }
    char resource[96];
    snprintf(resource, sizeof(resource), "cscc/%s", fn);
    if (peer__acl_check(p, cfg, resource, req->sd, &e) != 0) {
        return peer__scc_fail(res, "access denied for [%s][%s]: %s", fn, ch, e.msg);
    }
    if (strcmp(fn, "GetChannelConfig") == 0) {
        return peer__scc_reply(res, 200, "", cfg->_config, cfg->_config_len);
    }
    uint8_t *b = NULL;
    size_t bl = 0;
    int rc = peer__last_config_block(l, &b, &bl, &e);
    if (rc == WEFT_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        return peer__scc_fail(res, "GetConfigBlock: %s", e.msg);
    }
    rc = peer__scc_reply(res, 200, "", b, bl);
    weft_free(b);
    return rc;
}

static int cscc_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                       struct weft_cc_result *res)
{
    char fn[64];
    if (req->n_args < 1 || !peer__scc_arg(req, 0, fn, sizeof(fn))) {
        return peer__scc_fail(res, "Incorrect number of arguments, %zu", req->n_args);
    }
    if (strcmp(fn, "JoinChain") == 0) {
        return cscc_join(p, req, res);
    }
    if (strcmp(fn, "JoinChainBySnapshot") == 0 || strcmp(fn, "JoinBySnapshot") == 0) {
        struct weft_err e = {0};
        if (peer__acl_check(p, NULL, "cscc/JoinChainBySnapshot", req->sd, &e) != 0) {
            return peer__scc_fail(res, "access denied for [%s]: %s", fn, e.msg);
        }
        return peer__scc_fail(res, "%s: joining a channel from a snapshot is not supported yet",
                              fn);
    }
    if (strcmp(fn, "GetChannels") == 0) {
        return cscc_channels(p, req, res);
    }
    if (strcmp(fn, "GetConfigBlock") == 0 || strcmp(fn, "GetChannelConfig") == 0) {
        return cscc_config(p, req, fn, res);
    }
    return peer__scc_fail(res, "Requested function %s not found.", fn);
}

int peer__scc_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                     struct weft_cc_result *res, struct weft_err *err)
{
    memset(res, 0, sizeof(*res));
    int rc = strcmp(req->cc, "cscc") == 0         ? cscc_invoke(p, req, res)
             : strcmp(req->cc, "_lifecycle") == 0 ? peer__lifecycle_invoke(p, req, res)
                                                  : peer__qscc_invoke(p, req, res);
    if (rc != 0) {
        weft_cc_result_clear(res);
        return weft_err_set(err, rc, "%s: %s", req->cc, weft_strerror(rc));
    }
    if (res->status != 200) {
        WEFT_DEBUG(lg_scc, "%s: %s", req->cc, res->message);
    }
    return 0;
}

int peer__scc_response_only(struct weft_peer *p, const struct peer_scc_req *req, uint8_t **out,
                            size_t *out_len, struct weft_err *err)
{
    struct weft_cc_result res = {0};
    int rc = peer__scc_invoke(p, req, &res, err);
    if (rc != 0) {
        return rc;
    }
    Protos__Response r = PROTOS__RESPONSE__INIT;
    r.status = res.status;
    r.message = res.message;
    r.payload.data = res.payload;
    r.payload.len = res.payload_len;
    Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
    pr.response = &r;
    size_t n = protobuf_c_message_get_packed_size(&pr.base);
    *out = weft_malloc(n + 1);
    if (*out == NULL) {
        weft_cc_result_clear(&res);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    *out_len = protobuf_c_message_pack(&pr.base, *out);
    weft_cc_result_clear(&res);
    return 0;
}
