/*
 * Deliver requests: parse the seek envelope and turn orderer.SeekInfo into a
 * block range (wire.md §5, Deliver). No I/O: the caller looks the channel up,
 * evaluates /Channel/Readers and iterates the ledger.
 *
 * Caller's order, as Fabric's deliver handler:
 *   orderer__seek_parse    payload, headers, timestamp window, TLS binding -> 400
 *   (channel lookup)       unknown channel                                 -> 404
 *   r->seek == NULL        SeekInfo does not parse                         -> 400
 *   (Readers policy)                                                       -> 403
 *   orderer__seek_resolve  start/stop missing, stop < start                -> 400
 *                          start beyond height                             -> 404
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer_int.h"

void orderer__seek_req_clear(struct orderer_seek_req *r)
{
    if (r->seek != NULL) {
        orderer__seek_info__free_unpacked(r->seek, ORDERER_PB);
    }
    if (r->shdr != NULL) {
        common__signature_header__free_unpacked(r->shdr, ORDERER_PB);
    }
    if (r->chdr != NULL) {
        common__channel_header__free_unpacked(r->chdr, ORDERER_PB);
    }
    if (r->payload != NULL) {
        common__payload__free_unpacked(r->payload, ORDERER_PB);
    }
    if (r->env != NULL) {
        common__envelope__free_unpacked(r->env, ORDERER_PB);
    }
    memset(r, 0, sizeof(*r));
}

static int bad(char info[ORDERER_INFO_LEN], int status, const char *fmt, ...) WEFT_PRINTF(3, 4);
static int bad(char info[ORDERER_INFO_LEN], int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info, ORDERER_INFO_LEN, fmt, ap);
    va_end(ap);
    return status;
}

int orderer__seek_parse(const uint8_t *env, size_t len, int64_t now_ns, int64_t window_ns,
                        const uint8_t *tls_hash, struct orderer_seek_req *r,
                        char info[ORDERER_INFO_LEN])
{
    info[0] = '\0';
    Common__Envelope *e = common__envelope__unpack(ORDERER_PB, len, env);
    if (e == NULL) {
        return bad(info, ORDERER_BAD_REQUEST, "envelope does not parse as common.Envelope");
    }
    r->payload = common__payload__unpack(ORDERER_PB, e->payload.len, e->payload.data);
    int status = ORDERER_SUCCESS;
    if (r->payload == NULL) {
        status = bad(info, ORDERER_BAD_REQUEST, "payload does not parse as common.Payload");
        goto out;
    }
    if (r->payload->header == NULL) {
        status = bad(info, ORDERER_BAD_REQUEST, "payload header is missing");
        goto out;
    }
    const Common__Header *h = r->payload->header;
    r->chdr = common__channel_header__unpack(ORDERER_PB, h->channel_header.len,
                                             h->channel_header.data);
    if (r->chdr == NULL) {
        status = bad(info, ORDERER_BAD_REQUEST, "channel header does not parse");
        goto out;
    }
    r->shdr = common__signature_header__unpack(ORDERER_PB, h->signature_header.len,
                                               h->signature_header.data);
    if (r->shdr == NULL) {
        status = bad(info, ORDERER_BAD_REQUEST, "signature header does not parse");
        goto out;
    }
    if (window_ns > 0) {
        if (r->chdr->timestamp == NULL) {
            status = bad(info, ORDERER_BAD_REQUEST,
                         "channel header in envelope must contain timestamp");
            goto out;
        }
        /* seconds far outside the window are refused before the ns
         * arithmetic, which they would overflow (nanos moves the time by
         * less than 3 s either way) */
        int64_t secs = r->chdr->timestamp->seconds;
        int64_t now_s = now_ns / 1000000000LL, win_s = window_ns / 1000000000LL + 3;
        bool far = secs > now_s + win_s || secs < now_s - win_s;
        int64_t t = far ? 0 : secs * 1000000000LL + r->chdr->timestamp->nanos;
        int64_t d = now_ns > t ? now_ns - t : t - now_ns;
        if (far || d > window_ns) {
            status = bad(info, ORDERER_BAD_REQUEST,
                         "envelope timestamp is more than %lld s away from the orderer's time",
                         (long long)(window_ns / 1000000000LL));
            goto out;
        }
    }
    if (tls_hash != NULL &&
        (r->chdr->tls_cert_hash.len != 32 || memcmp(r->chdr->tls_cert_hash.data, tls_hash, 32))) {
        status = bad(info, ORDERER_BAD_REQUEST,
                     "client TLS certificate hash does not match the channel header");
        goto out;
    }
    r->channel_id = r->chdr->channel_id;
    r->seek = orderer__seek_info__unpack(ORDERER_PB, r->payload->data.len, r->payload->data.data);
    /* the signed bytes are the received ones (protobuf-c copies bytes
     * fields verbatim; nothing is re-marshalled, R38) */
    r->data = e->payload.data;
    r->data_len = e->payload.len;
    r->sig = e->signature.data;
    r->sig_len = e->signature.len;
out:
    r->env = e;
    return status;
}

int orderer__seek_resolve(const struct orderer_seek_req *r, uint64_t height,
                          struct orderer_seek_plan *plan, char info[ORDERER_INFO_LEN])
{
    info[0] = '\0';
    const Orderer__SeekInfo *si = r->seek;
    if (si == NULL) {
        return bad(info, ORDERER_BAD_REQUEST, "payload data does not parse as orderer.SeekInfo");
    }
    if (si->start == NULL || si->stop == NULL ||
        si->start->type_case == ORDERER__SEEK_POSITION__TYPE__NOT_SET ||
        si->stop->type_case == ORDERER__SEEK_POSITION__TYPE__NOT_SET) {
        return bad(info, ORDERER_BAD_REQUEST, "seek info has no start or stop position");
    }
    uint64_t start;
    switch (si->start->type_case) {
    case ORDERER__SEEK_POSITION__TYPE_OLDEST:
        start = 0;
        break;
    case ORDERER__SEEK_POSITION__TYPE_NEWEST:
        start = height > 0 ? height - 1 : 0;
        break;
    case ORDERER__SEEK_POSITION__TYPE_SPECIFIED:
        start = si->start->specified != NULL ? si->start->specified->number : 0;
        if (start > height) {
            return bad(info, ORDERER_NOT_FOUND, "start block %llu is beyond the height %llu",
                       (unsigned long long)start, (unsigned long long)height);
        }
        break;
    case ORDERER__SEEK_POSITION__TYPE_NEXT_COMMIT:
        start = height;
        break;
    default:
        return bad(info, ORDERER_BAD_REQUEST, "unknown start position type");
    }
    uint64_t stop;
    switch (si->stop->type_case) {
    case ORDERER__SEEK_POSITION__TYPE_OLDEST:
        stop = start;
        break;
    case ORDERER__SEEK_POSITION__TYPE_NEWEST:
        if (si->start->type_case == ORDERER__SEEK_POSITION__TYPE_NEWEST) {
            stop = start;
        } else {
            stop = height > 0 ? height - 1 : 0;
        }
        break;
    case ORDERER__SEEK_POSITION__TYPE_SPECIFIED:
        stop = si->stop->specified != NULL ? si->stop->specified->number : 0;
        if (stop < start) {
            return bad(info, ORDERER_BAD_REQUEST,
                       "wrong range: start block %llu is after stop block %llu",
                       (unsigned long long)start, (unsigned long long)stop);
        }
        break;
    case ORDERER__SEEK_POSITION__TYPE_NEXT_COMMIT:
        stop = height;
        break;
    default:
        return bad(info, ORDERER_BAD_REQUEST, "unknown stop position type");
    }
    plan->start = start;
    plan->stop = stop;
    plan->fail_if_not_ready =
        si->behavior == ORDERER__SEEK_INFO__SEEK_BEHAVIOR__FAIL_IF_NOT_READY;
    return ORDERER_SUCCESS;
}
