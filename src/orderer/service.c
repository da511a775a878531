/*
 * orderer.AtomicBroadcast on the gRPC server: Broadcast (broadcast.c,
 * event-driven) and Deliver, a bidi stream run on the server's worker pool
 * (one worker per stream).
 *
 * Deliver: per seek envelope, resolve it (seekinfo.c), check
 * /Channel/Readers, stream the blocks from the ledger's waiting iterator and
 * end with a status; a non-SUCCESS status closes the stream.
 */
#include <stdio.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer_int.h"
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/policy.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_deliver, "common.deliver");

/* ---- Deliver -------------------------------------------------------------- */

static int send_status(struct weft_rpc_call *call, int st)
{
    Orderer__DeliverResponse r = ORDERER__DELIVER_RESPONSE__INIT;
    r.type_case = ORDERER__DELIVER_RESPONSE__TYPE_STATUS;
    r.status = (Common__Status)st;
    uint8_t buf[16];
    size_t n = orderer__deliver_response__pack(&r, buf);
    return weft_rpc_call_send(call, buf, n);
}

/* DeliverResponse{block = <bytes>}: field 2, length-delimited, wrapping the
 * stored block bytes without decoding them. */
static int send_block(struct weft_rpc_call *call, uint8_t *blk, size_t len)
{
    uint8_t hdr[11];
    size_t h = 0;
    hdr[h++] = 0x12;
    size_t v = len;
    while (v >= 0x80) {
        hdr[h++] = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    hdr[h++] = (uint8_t)v;
    uint8_t *msg = weft_malloc(h + len);
    if (msg == NULL) {
        weft_free(blk);
        return WEFT_ENOMEM;
    }
    memcpy(msg, hdr, h);
    memcpy(msg + h, blk, len);
    weft_free(blk);
    return weft_rpc_call_send_owned(call, msg, h + len);
}

struct deliver_ctx {
    struct weft_ledger_iter *it;
};

static void deliver_cancel(void *arg)
{
    struct deliver_ctx *d = arg;
    if (d->it != NULL) {
        weft_ledger_iter_cancel(d->it);
    }
}

/* Serves one seek request; returns the final status (or -1 when the stream
 * is gone and nothing more may be sent). */
static int deliver_one(struct weft_orderer *o, struct weft_rpc_call *call, const uint8_t *msg,
                       size_t len, struct deliver_ctx *d)
{
    char info[ORDERER_INFO_LEN] = "";
    struct orderer_seek_req r = {0};
    struct orderer_chain *ch = NULL;
    uint8_t tls_hash[32];
    const uint8_t *binding = NULL;
    if (o->tls_binding && weft_rpc_call_tls_cert_hash(call, tls_hash) == 0) {
        binding = tls_hash;
    }
    int st = orderer__seek_parse(msg, len, (int64_t)weft_clock_wall_ns(), o->time_window_ns,
                                 binding, &r, info);
    if (st == ORDERER_SUCCESS) {
        ch = orderer__lookup(o, r.channel_id);
        if (ch == NULL) {
            st = ORDERER_NOT_FOUND;
            snprintf(info, sizeof(info), "channel %s not found", r.channel_id);
        }
    }
    if (st == ORDERER_SUCCESS && r.seek == NULL) {
        st = ORDERER_BAD_REQUEST;
        snprintf(info, sizeof(info), "payload data does not parse as orderer.SeekInfo");
    }
    if (st == ORDERER_SUCCESS) {
        struct weft_signed_data sd = {
            .identity = r.shdr->creator.data,
            .identity_len = r.shdr->creator.len,
            .data = r.data,
            .data_len = r.data_len,
            .signature = r.sig,
            .signature_len = r.sig_len,
        };
        struct weft_err err = {0};
        if (weft_policy_mgr_evaluate(orderer__chain_view(ch)->policies, "/Channel/Readers", &sd, 1,
                                     &err) != 0) {
            st = ORDERER_FORBIDDEN;
            snprintf(info, sizeof(info), "permission denied: %.200s", err.msg);
        }
    }
    struct orderer_seek_plan plan = {0};
    if (st == ORDERER_SUCCESS) {
        st = orderer__seek_resolve(&r, orderer__chain_height(ch), &plan, info);
    }
    if (st == ORDERER_SUCCESS) {
        struct weft_err err = {0};
        if (weft_ledger_iter_new(orderer__chain_ledger(ch), plan.start, &d->it, &err) != 0) {
            st = ORDERER_INTERNAL;
            snprintf(info, sizeof(info), "%.200s", err.msg);
        }
    }
    if (st == ORDERER_SUCCESS) {
        weft_rpc_call_on_cancel(call, deliver_cancel, d);
        for (uint64_t next = plan.start;; next++) {
            if (plan.fail_if_not_ready && next >= orderer__chain_height(ch)) {
                st = ORDERER_NOT_FOUND;
                snprintf(info, sizeof(info), "block %llu not yet available",
                         (unsigned long long)next);
                break;
            }
            uint8_t *blk = NULL;
            size_t blen = 0;
            uint64_t num = 0;
            struct weft_err err = {0};
            int rc = weft_ledger_iter_next(d->it, 0, &blk, &blen, &num, &err);
            if (rc != 0) {
                st = rc == WEFT_ECANCELED ? -1 : ORDERER_UNAVAILABLE;
                snprintf(info, sizeof(info), "%.200s", err.msg);
                break;
            }
            if (send_block(call, blk, blen) != 0) {
                st = -1;
                break;
            }
            if (num >= plan.stop) {
                break;
            }
        }
        weft_rpc_call_on_cancel(call, NULL, NULL);
        weft_ledger_iter_free(d->it);
        d->it = NULL;
    }
    if (st != ORDERER_SUCCESS && st != -1) {
        WEFT_WARN(lg_deliver, "[channel: %s] deliver request from %s: %s: %s",
                  r.channel_id != NULL ? r.channel_id : "?", weft_rpc_call_peer(call),
                  orderer__status_name(st), info);
    }
    orderer__seek_req_clear(&r);
    orderer__chain_unref(ch);
    return st;
}

static void deliver(void *ctx, struct weft_rpc_call *call)
{
    struct weft_orderer *o = ctx;
    struct deliver_ctx d = {0};
    for (;;) {
        uint8_t *msg = NULL;
        size_t len = 0;
        if (weft_rpc_call_recv(call, &msg, &len, -1) != 0 || msg == NULL) {
            return;
        }
        int st = deliver_one(o, call, msg, len, &d);
        weft_free(msg);
        if (st < 0 || send_status(call, st) != 0 || st != ORDERER_SUCCESS) {
            return;
        }
    }
}

int orderer__service_register(struct weft_orderer *o, struct weft_rpc_server *srv,
                              struct weft_err *err)
{
    int rc = weft_rpc_server_add_stream_cb(srv, "/orderer.AtomicBroadcast/Broadcast",
                                           WEFT_RPC_BIDI_STREAMING, &orderer__broadcast_cbs, o);
    if (rc == 0) {
        rc = weft_rpc_server_add_stream(srv, "/orderer.AtomicBroadcast/Deliver",
                                        WEFT_RPC_BIDI_STREAMING, deliver, o);
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "register AtomicBroadcast: %s", weft_strerror(rc));
    }
    return 0;
}
