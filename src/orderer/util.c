/*
 * Small shared helpers of the orderer library: the protobuf-c allocator that
 * routes unpacking through weft_malloc (so allocation-failure tests reach it),
 * status names, and commit tickets.
 */

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

struct orderer_ticket *orderer__ticket_new(orderer_ticket_cb cb, void *cb_arg)
{
    struct orderer_ticket *t = weft_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->t0_ns = weft_clock_mono_ns();
    t->cb = cb;
    t->cb_arg = cb_arg;
    return t;
}

void orderer__ticket_finish(struct orderer_ticket *t, int status, const char *info)
{
    if (t == NULL) {
        return;
    }
    t->cb(t->cb_arg, status, info != NULL ? info : "");
    weft_free(t);
}

void orderer__tickets_finish(struct orderer_ticket **t, size_t n, int status, const char *info)
{
    for (size_t i = 0; i < n; i++) {
        orderer__ticket_finish(t[i], status, info);
    }
}
