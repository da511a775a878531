/*
 * Broadcast admission: decides, for one envelope, the common.Status Fabric's
 * orderer would answer and an info string saying why (wire.md §5, Broadcast).
 *
 * Order of checks (Fabric's broadcast handler and standard-channel filters):
 *   decode envelope, payload, headers           -> BAD_REQUEST
 *   channel exists (no system channel exists)  -> BAD_REQUEST
 *   header type: CONFIG_UPDATE / CONFIG / ORDERER_TRANSACTION refused
 *                (config updates are not implemented yet)  -> BAD_REQUEST
 *   len(payload) + len(signature) > AbsoluteMaxBytes  -> REQUEST_ENTITY_TOO_LARGE
 *   creator certificate expired               -> BAD_REQUEST
 *   /Channel/Writers over {payload, creator, signature}  -> FORBIDDEN
 * The policy evaluation verifies the creator's signature, so an unsigned or
 * wrongly signed envelope ends in FORBIDDEN, as in Fabric.
 * No I/O here; the policy manager is in memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orderer_int.h"
#include "weft/msp.h"
#include "weft/policy.h"

void orderer__bcast_msg_clear(struct orderer_bcast_msg *m)
{
    if (m->shdr != NULL) {
        common__signature_header__free_unpacked(m->shdr, ORDERER_PB);
    }
    if (m->chdr != NULL) {
        common__channel_header__free_unpacked(m->chdr, ORDERER_PB);
    }
    if (m->payload != NULL) {
        common__payload__free_unpacked(m->payload, ORDERER_PB);
    }
    if (m->env != NULL) {
        common__envelope__free_unpacked(m->env, ORDERER_PB);
    }
    memset(m, 0, sizeof(*m));
}

static int refuse(char info[ORDERER_INFO_LEN], int status, const char *fmt, ...)
    WEFT_PRINTF(3, 4);
static int refuse(char info[ORDERER_INFO_LEN], int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info, ORDERER_INFO_LEN, fmt, ap);
    va_end(ap);
    return status;
}

int orderer__bcast_parse(const uint8_t *env, size_t len, struct orderer_bcast_msg *m,
                         char info[ORDERER_INFO_LEN])
{
    info[0] = '\0';
    m->env = common__envelope__unpack(ORDERER_PB, len, env);
    if (m->env == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST, "envelope does not parse as common.Envelope");
    }
    m->size = m->env->payload.len + m->env->signature.len;
    if (m->env->payload.len == 0) {
        return refuse(info, ORDERER_BAD_REQUEST, "message was empty");
    }
    m->payload = common__payload__unpack(ORDERER_PB, m->env->payload.len, m->env->payload.data);
    if (m->payload == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST, "payload does not parse as common.Payload");
    }
    if (m->payload->header == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST, "payload header is missing");
    }
    const Common__Header *h = m->payload->header;
    m->chdr = common__channel_header__unpack(ORDERER_PB, h->channel_header.len,
                                             h->channel_header.data);
    if (m->chdr == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST, "channel header does not parse");
    }
    m->shdr = common__signature_header__unpack(ORDERER_PB, h->signature_header.len,
                                               h->signature_header.data);
    if (m->shdr == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST, "signature header does not parse");
    }
    if (m->chdr->channel_id == NULL || m->chdr->channel_id[0] == '\0') {
        return refuse(info, ORDERER_BAD_REQUEST, "channel header has no channel id");
    }
    return ORDERER_SUCCESS;
}

int orderer__bcast_check(const struct orderer_bcast_msg *m, const struct orderer_chan_view *ch,
                         int64_t now_unix, char info[ORDERER_INFO_LEN])
{
    info[0] = '\0';
    if (ch == NULL) {
        return refuse(info, ORDERER_BAD_REQUEST,
                      "channel creation request not allowed because the orderer system channel "
                      "is not defined");
    }
    switch (m->chdr->type) {
    case COMMON__HEADER_TYPE__CONFIG_UPDATE:
        return refuse(info, ORDERER_BAD_REQUEST,
                      "config update transactions are not supported by this orderer yet");
    case COMMON__HEADER_TYPE__CONFIG:
    case COMMON__HEADER_TYPE__ORDERER_TRANSACTION:
        return refuse(info, ORDERER_BAD_REQUEST,
                      "message of type %d cannot be processed directly", m->chdr->type);
    default:
        break;
    }
    if (m->size > ch->absolute_max_bytes) {
        return refuse(info, ORDERER_TOO_LARGE,
                      "message payload is %zu bytes and exceeds maximum allowed %u bytes", m->size,
                      ch->absolute_max_bytes);
    }
    if (m->shdr->creator.len == 0) {
        return refuse(info, ORDERER_FORBIDDEN, "permission denied: signature header has no creator");
    }
    struct weft_err err = {0};
    if (!ch->no_expiration_check) {
        struct weft_msp_identity *id = NULL;
        if (weft_msp_mgr_deserialize(ch->msps, m->shdr->creator.data, m->shdr->creator.len, &id,
                                     NULL) == 0) {
            int rc = weft_msp_identity_check_expiry(id, now_unix, &err);
            weft_msp_identity_unref(id);
            if (rc != 0) {
                return refuse(info, ORDERER_BAD_REQUEST, "broadcast client identity expired");
            }
        }
    }
    struct weft_signed_data sd = {
        .identity = m->shdr->creator.data,
        .identity_len = m->shdr->creator.len,
        .data = m->env->payload.data,
        .data_len = m->env->payload.len,
        .signature = m->env->signature.data,
        .signature_len = m->env->signature.len,
    };
    int rc = weft_policy_mgr_evaluate(ch->policies, "/Channel/Writers", &sd, 1, &err);
    if (rc != 0) {
        return refuse(info, ORDERER_FORBIDDEN, "permission denied: %s",
                      err.msg[0] ? err.msg : weft_strerror(rc));
    }
    return ORDERER_SUCCESS;
}
