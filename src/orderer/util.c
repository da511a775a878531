/*
 * Small shared helpers of the orderer library: the protobuf-c allocator that
 * routes unpacking through weft_malloc (so allocation-failure tests reach it),
 * status names, commit tickets, and the forwarding stream's wire format.
 */
#include <stdio.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer_int.h"

static void *pb_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return weft_malloc(size);
}

static void pb_free(void *ctx, void *ptr)
{
    (void)ctx;
    weft_free(ptr);
}

ProtobufCAllocator orderer__pb_alloc = {pb_alloc, pb_free, NULL};

const char *orderer__status_name(int st)
{
    switch (st) {
    case ORDERER_SUCCESS:
        return "SUCCESS";
    case ORDERER_BAD_REQUEST:
        return "BAD_REQUEST";
    case ORDERER_FORBIDDEN:
        return "FORBIDDEN";
    case ORDERER_NOT_FOUND:
        return "NOT_FOUND";
    case ORDERER_TOO_LARGE:
        return "REQUEST_ENTITY_TOO_LARGE";
    case ORDERER_UNAVAILABLE:
        return "SERVICE_UNAVAILABLE";
    default:
        return "INTERNAL_SERVER_ERROR";
    }
}

/* ---- commit tickets ------------------------------------------------------ */

struct orderer_ticket *orderer__ticket_new(orderer_ticket_cb cb, void *cb_arg, const void *group)
{
    struct orderer_ticket *t = weft_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->t0_ns = weft_clock_mono_ns();
    t->cb = cb;
    t->cb_arg = cb_arg;
    t->group = group;
    return t;
}

static void ticket_finish(struct orderer_ticket *t, int status, const char *info, bool more)
{
    if (t == NULL) {
        return;
    }
    t->cb(t->cb_arg, status, info != NULL ? info : "", more);
    weft_free(t);
}

void orderer__ticket_finish(struct orderer_ticket *t, int status, const char *info)
{
    ticket_finish(t, status, info, false);
}

void orderer__tickets_finish(struct orderer_ticket **t, size_t n, int status, const char *info)
{
    for (size_t i = 0; i < n; i++) {
        bool more = t[i] != NULL && t[i]->group != NULL && i + 1 < n && t[i + 1] != NULL &&
                    t[i + 1]->group == t[i]->group;
        ticket_finish(t[i], status, info, more);
    }
}

/* ---- forwarding wire format ------------------------------------------------ */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int orderer__pb_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *at < len; shift += 7) {
        uint8_t c = p[(*at)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

int orderer__pb_skip(const uint8_t *p, size_t len, size_t *at, unsigned wt)
{
    uint64_t n = 0;
    switch (wt) {
    case 0:
        return orderer__pb_varint(p, len, at, &n);
    case 1:
        n = 8;
        break;
    case 5:
        n = 4;
        break;
    case 2:
        if (orderer__pb_varint(p, len, at, &n) != 0) {
            return WEFT_EPARSE;
        }
        break;
    default:
        return WEFT_EPARSE;
    }
    if (n > len - *at) {
        return WEFT_EPARSE;
    }
    *at += (size_t)n;
    return 0;
}

int orderer__submit_batch_add(struct weft_buf *b, const uint8_t *env, size_t len)
{
    uint8_t hdr[11];
    hdr[0] = (1u << 3) | 2u;
    size_t n = 1 + put_varint(hdr + 1, len);
    int rc = weft_buf_append(b, hdr, n);
    return rc != 0 ? rc : weft_buf_append(b, env, len);
}

int orderer__submit_batch_next(const uint8_t *msg, size_t len, size_t *at, const uint8_t **env,
                               size_t *env_len)
{
    while (*at < len) {
        uint64_t tag = 0;
        if (orderer__pb_varint(msg, len, at, &tag) != 0) {
            return WEFT_EPARSE;
        }
        if (tag == ((1u << 3) | 2u)) {
            uint64_t n = 0;
            if (orderer__pb_varint(msg, len, at, &n) != 0 || n > len - *at) {
                return WEFT_EPARSE;
            }
            *env = msg + *at;
            *env_len = (size_t)n;
            *at += (size_t)n;
            return 1;
        }
        if (orderer__pb_skip(msg, len, at, (unsigned)(tag & 7)) != 0) {
            return WEFT_EPARSE;
        }
    }
    return 0;
}

size_t orderer__submit_answer_pack(uint64_t count, int status, const char *info, uint8_t *buf)
{
    Orderer__BroadcastResponse r = ORDERER__BROADCAST_RESPONSE__INIT;
    r.status = (Common__Status)status;
    char txt[ORDERER_INFO_LEN];
    snprintf(txt, sizeof(txt), "%s", info != NULL ? info : "");
    r.info = txt;
    size_t rl = orderer__broadcast_response__get_packed_size(&r);
    size_t n = 0;
    buf[n++] = (1u << 3) | 0u;
    n += put_varint(buf + n, count);
    buf[n++] = (2u << 3) | 2u;
    n += put_varint(buf + n, rl);
    n += orderer__broadcast_response__pack(&r, buf + n);
    return n;
}

int orderer__submit_answer_unpack(const uint8_t *msg, size_t len, uint64_t *count, int *status,
                                  char info[ORDERER_INFO_LEN])
{
    size_t at = 0;
    uint64_t c = 0;
    bool have_resp = false;
    while (at < len) {
        uint64_t tag = 0;
        if (orderer__pb_varint(msg, len, &at, &tag) != 0) {
            return WEFT_EPARSE;
        }
        if (tag == ((1u << 3) | 0u)) {
            if (orderer__pb_varint(msg, len, &at, &c) != 0) {
                return WEFT_EPARSE;
            }
        } else if (tag == ((2u << 3) | 2u)) {
            uint64_t n = 0;
            if (orderer__pb_varint(msg, len, &at, &n) != 0 || n > len - at) {
                return WEFT_EPARSE;
            }
            Orderer__BroadcastResponse *r =
                orderer__broadcast_response__unpack(ORDERER_PB, (size_t)n, msg + at);
            if (r == NULL) {
                return WEFT_EPARSE;
            }
            *status = (int)r->status;
            snprintf(info, ORDERER_INFO_LEN, "%s", r->info != NULL ? r->info : "");
            orderer__broadcast_response__free_unpacked(r, ORDERER_PB);
            have_resp = true;
            at += (size_t)n;
        } else if (orderer__pb_skip(msg, len, &at, (unsigned)(tag & 7)) != 0) {
            return WEFT_EPARSE;
        }
    }
    if (!have_resp || c == 0) {
        return WEFT_EPARSE;
    }
    *count = c;
    return 0;
}
