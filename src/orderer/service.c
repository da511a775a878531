/*
 * orderer.AtomicBroadcast on the gRPC server: Broadcast and Deliver, both
 * bidi streams run on the server's worker pool (one worker per stream).
 *
 * Broadcast: one BroadcastResponse per envelope, in order; after a
 * non-SUCCESS reply the stream ends (status OK), as Fabric's handler does.
 * SUCCESS means "in a block committed by the Raft group and written by the
 * leader" (stronger than Fabric's "queued": an acknowledged envelope
 * survives a leader crash); a follower forwards through one stream to the
 * leader and relays its answers.
 *
 * Deliver: per seek envelope, resolve it (seekinfo.c), check
 * /Channel/Readers, stream the blocks from the ledger's waiting iterator and
 * end with a status; a non-SUCCESS status closes the stream.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer_int.h"
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/ops.h"
#include "weft/policy.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_bcast, "orderer.common.broadcast");
WEFT_LOGGER(lg_deliver, "common.deliver");

static const char *status_name(int st)
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

static const char *type_name(int t)
{
    switch (t) {
    case COMMON__HEADER_TYPE__MESSAGE:
        return "MESSAGE";
    case COMMON__HEADER_TYPE__CONFIG:
        return "CONFIG";
    case COMMON__HEADER_TYPE__CONFIG_UPDATE:
        return "CONFIG_UPDATE";
    case COMMON__HEADER_TYPE__ENDORSER_TRANSACTION:
        return "ENDORSER_TRANSACTION";
    case COMMON__HEADER_TYPE__ORDERER_TRANSACTION:
        return "ORDERER_TRANSACTION";
    case COMMON__HEADER_TYPE__DELIVER_SEEK_INFO:
        return "DELIVER_SEEK_INFO";
    case COMMON__HEADER_TYPE__CHAINCODE_PACKAGE:
        return "CHAINCODE_PACKAGE";
    default:
        return "UNKNOWN";
    }
}

static void count_bcast(struct weft_orderer *o, const char *channel, int type, int st,
                        uint64_t validate_ns)
{
    const char *v[] = {channel != NULL ? channel : "", type >= 0 ? type_name(type) : "",
                       status_name(st)};
    if (o->m_bcast != NULL) {
        struct weft_metrics_counter *c = weft_metrics_counter_with(o->m_bcast, v);
        if (c != NULL) {
            weft_metrics_counter_inc(c);
        }
    }
    if (o->m_bcast_validate != NULL && validate_ns > 0) {
        struct weft_metrics_histogram *h = weft_metrics_histogram_with(o->m_bcast_validate, v);
        if (h != NULL) {
            weft_metrics_histogram_observe(h, (double)validate_ns / 1e9);
        }
    }
}

static int send_bcast_resp(struct weft_rpc_call *call, int st, const char *info)
{
    Orderer__BroadcastResponse r = ORDERER__BROADCAST_RESPONSE__INIT;
    r.status = (Common__Status)st;
    r.info = (char *)(st == ORDERER_SUCCESS ? "" : info);
    uint8_t buf[ORDERER_INFO_LEN + 32];
    size_t n = orderer__broadcast_response__pack(&r, buf);
    return weft_rpc_call_send(call, buf, n);
}

/*
 * One Broadcast stream, pipelined: the handler's thread receives and admits
 * envelopes (parse, channel checks, then the leader's queue or the forwarding
 * stream to the leader) and appends one item per envelope to a FIFO; a
 * responder thread answers the items in order, each once its outcome is known
 * (the commit ticket resolves, or the leader answers the forwarded envelope).
 * So many envelopes are in flight on one stream while every SUCCESS still
 * means "committed". After a refusal the stream ends, as in Fabric.
 */
#define BC_MAX_INFLIGHT 2048
#define BC_COMMIT_WAIT_NS (30ull * 1000000000ull)
#define BC_FORWARD_WAIT_MS 40000

struct bc_fwd {
    _Atomic int refs;
    struct weft_rpc_stream *s;
    char addr[300];
    _Atomic bool broken;
};

struct bc_item {
    int status; /* final status, or 0 when ticket/fwd decides */
    char info[ORDERER_INFO_LEN];
    char *channel;
    int type;
    uint64_t validate_ns;
    struct orderer_ticket *ticket;
    struct orderer_chain *ch; /* ref while ticket is waited for */
    struct bc_fwd *fwd;
    struct bc_item *next;
};

struct bc_stream {
    struct weft_orderer *o;
    struct weft_rpc_call *call;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct bc_item *head, *tail;
    size_t n;
    bool recv_done;
    bool stop; /* the stream ends: refusal sent or send failed */
};

static void fwd_unref(struct bc_fwd *f)
{
    if (f != NULL && atomic_fetch_sub(&f->refs, 1) == 1) {
        weft_rpc_stream_free(f->s);
        weft_free(f);
    }
}

static void item_free(struct bc_item *it)
{
    orderer__ticket_unref(it->ticket);
    orderer__chain_unref(it->ch);
    fwd_unref(it->fwd);
    weft_free(it->channel);
    weft_free(it);
}

static bool call_cancelled(void *arg)
{
    return weft_rpc_call_is_cancelled(arg);
}

/* The outcome of a forwarded envelope: the leader's next answer. */
static int fwd_answer(struct bc_fwd *f, char info[ORDERER_INFO_LEN])
{
    if (atomic_load(&f->broken)) {
        snprintf(info, ORDERER_INFO_LEN, "forwarding to the leader at %.100s failed", f->addr);
        return ORDERER_UNAVAILABLE;
    }
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc = weft_rpc_stream_recv(f->s, &msg, &len, BC_FORWARD_WAIT_MS);
    Orderer__BroadcastResponse *r =
        rc == 0 && msg != NULL ? orderer__broadcast_response__unpack(ORDERER_PB, len, msg) : NULL;
    weft_free(msg);
    if (r == NULL) {
        atomic_store(&f->broken, true);
        snprintf(info, ORDERER_INFO_LEN,
                 "forwarding to the leader at %.100s failed (%s); the envelope may or may not "
                 "be ordered",
                 f->addr, rc == WEFT_ETIMEDOUT ? "no answer in time" : "stream ended");
        return ORDERER_UNAVAILABLE;
    }
    int st = (int)r->status;
    snprintf(info, ORDERER_INFO_LEN, "%s", r->info != NULL ? r->info : "");
    orderer__broadcast_response__free_unpacked(r, ORDERER_PB);
    if (st != ORDERER_SUCCESS) {
        atomic_store(&f->broken, true); /* the leader ends the stream after a refusal */
    }
    return st;
}

static void *bc_responder(void *arg)
{
    weft_thread_name("bcast-resp");
    struct bc_stream *bs = arg;
    for (;;) {
        pthread_mutex_lock(&bs->mu);
        while (bs->head == NULL && !bs->recv_done) {
            pthread_cond_wait(&bs->cond, &bs->mu);
        }
        struct bc_item *it = bs->head;
        if (it != NULL) {
            bs->head = it->next;
            if (bs->head == NULL) {
                bs->tail = NULL;
            }
            bs->n--;
            pthread_cond_broadcast(&bs->cond);
        }
        bool stop = bs->stop;
        pthread_mutex_unlock(&bs->mu);
        if (it == NULL) {
            return NULL;
        }
        if (stop) {
            item_free(it);
            continue;
        }
        int st = it->status;
        if (it->ticket != NULL) {
            st = orderer__ticket_wait(it->ticket, weft_clock_mono_ns() + BC_COMMIT_WAIT_NS,
                                      call_cancelled, bs->call);
            if (st == 0) {
                st = ORDERER_UNAVAILABLE;
                snprintf(it->info, sizeof(it->info),
                         "the envelope was not committed in time; it may or may not be ordered");
            } else {
                pthread_mutex_lock(&it->ticket->wq->mu);
                snprintf(it->info, sizeof(it->info), "%s", it->ticket->info);
                pthread_mutex_unlock(&it->ticket->wq->mu);
            }
        } else if (it->fwd != NULL) {
            st = fwd_answer(it->fwd, it->info);
        }
        if (st != ORDERER_SUCCESS) {
            WEFT_WARN(lg_bcast, "[channel: %s] rejecting broadcast message from %s: %s: %s",
                      it->channel != NULL ? it->channel : "?", weft_rpc_call_peer(bs->call),
                      status_name(st), it->info);
        }
        count_bcast(bs->o, it->channel, it->type, st, it->validate_ns);
        int src = send_bcast_resp(bs->call, st, it->info);
        item_free(it);
        if (src != 0 || st != ORDERER_SUCCESS) {
            pthread_mutex_lock(&bs->mu);
            bs->stop = true;
            pthread_cond_broadcast(&bs->cond);
            pthread_mutex_unlock(&bs->mu);
        }
    }
}

/* Admits one envelope (msg taken) into item it. Returns false when the
 * stream must stop receiving (a refusal). */
static bool bc_admit(struct bc_stream *bs, bool from_cluster, uint8_t *msg, size_t len,
                     struct bc_fwd **fwd, struct bc_item *it)
{
    struct weft_orderer *o = bs->o;
    struct orderer_bcast_msg m = {0};
    struct orderer_chain *ch = NULL;
    uint64_t t0 = weft_clock_mono_ns();
    it->type = -1;
    int st = orderer__bcast_parse(msg, len, &m, it->info);
    if (m.chdr != NULL) {
        it->channel = weft_strdup(m.chdr->channel_id);
        it->type = (int)m.chdr->type;
    }
    if (st == ORDERER_SUCCESS) {
        ch = orderer__lookup(o, m.chdr->channel_id);
        if (from_cluster && ch != NULL && !orderer__cluster_caller_is_consenter(bs->call, ch)) {
            st = ORDERER_FORBIDDEN;
            snprintf(it->info, sizeof(it->info),
                     "forwarding node's client certificate is not a consenter's");
        } else if (from_cluster && ch != NULL) {
            /* A consenter (mutual TLS) ran every check already under the same
             * config - config updates are refused, so the sequence cannot have
             * moved - and, as Fabric's leader does for a forwarded request of
             * the current config sequence, the leader does not verify again. */
            st = ORDERER_SUCCESS;
        } else {
            st = orderer__bcast_check(&m, ch != NULL ? orderer__chain_view(ch) : NULL, 0,
                                      it->info);
        }
    }
    it->validate_ns = weft_clock_mono_ns() - t0;
    if (st == ORDERER_SUCCESS) {
        char addr[300];
        int route = orderer__chain_route(ch, addr, sizeof(addr), it->info);
        if (route == 0) {
            st = orderer__chain_enqueue(ch, msg, len, m.size, &it->ticket, it->info);
            if (st == ORDERER_SUCCESS) {
                it->ch = ch;
                ch = NULL;
                st = 0;
            }
        } else if (route == 1 && from_cluster) {
            st = ORDERER_UNAVAILABLE;
            snprintf(it->info, sizeof(it->info), "not the Raft leader of channel %s",
                     orderer__chain_id(ch));
        } else if (route == 1) {
            struct bc_fwd *f = *fwd;
            if (f != NULL && (atomic_load(&f->broken) || strcmp(f->addr, addr) != 0)) {
                if (weft_rpc_stream_close_send(f->s) != 0) {
                    atomic_store(&f->broken, true);
                }
                fwd_unref(f);
                f = *fwd = NULL;
            }
            if (f == NULL) {
                struct weft_rpc_stream *s =
                    orderer__cluster_open_submit(o->cluster, addr, it->info);
                f = s != NULL ? weft_calloc(1, sizeof(*f)) : NULL;
                if (f == NULL) {
                    weft_rpc_stream_free(s);
                } else {
                    atomic_init(&f->refs, 1);
                    f->s = s;
                    snprintf(f->addr, sizeof(f->addr), "%s", addr);
                    *fwd = f;
                }
            }
            if (f == NULL) {
                st = ORDERER_UNAVAILABLE;
            } else if (weft_rpc_stream_send(f->s, msg, len) != 0) {
                atomic_store(&f->broken, true);
                st = ORDERER_UNAVAILABLE;
                snprintf(it->info, sizeof(it->info), "forwarding to the leader at %.100s failed",
                         addr);
            } else {
                atomic_fetch_add(&f->refs, 1);
                it->fwd = f;
                st = 0;
            }
        } else {
            st = route;
        }
    }
    it->status = st;
    orderer__bcast_msg_clear(&m);
    orderer__chain_unref(ch);
    weft_free(msg);
    return st == 0 || st == ORDERER_SUCCESS;
}

void orderer__broadcast_serve(struct weft_orderer *o, struct weft_rpc_call *call,
                              bool from_cluster)
{
    struct bc_stream bs = {.o = o, .call = call};
    pthread_mutex_init(&bs.mu, NULL);
    pthread_cond_init(&bs.cond, NULL);
    pthread_t responder;
    if (pthread_create(&responder, NULL, bc_responder, &bs) != 0) {
        (void)weft_rpc_call_finish(call, WEFT_RPC_RESOURCE_EXHAUSTED, "no thread for the stream");
        goto out;
    }
    struct bc_fwd *fwd = NULL;
    for (;;) {
        pthread_mutex_lock(&bs.mu);
        while (bs.n >= BC_MAX_INFLIGHT && !bs.stop) {
            pthread_cond_wait(&bs.cond, &bs.mu);
        }
        bool stop = bs.stop;
        pthread_mutex_unlock(&bs.mu);
        if (stop) {
            break;
        }
        uint8_t *msg = NULL;
        size_t len = 0;
        int rc = weft_rpc_call_recv(call, &msg, &len, 200);
        if (rc == WEFT_ETIMEDOUT) {
            continue;
        }
        if (rc != 0 || msg == NULL) {
            break; /* client closed or cancelled */
        }
        struct bc_item *it = weft_calloc(1, sizeof(*it));
        if (it == NULL) {
            weft_free(msg);
            break;
        }
        bool more = bc_admit(&bs, from_cluster, msg, len, &fwd, it);
        pthread_mutex_lock(&bs.mu);
        if (bs.tail != NULL) {
            bs.tail->next = it;
        } else {
            bs.head = it;
        }
        bs.tail = it;
        bs.n++;
        pthread_cond_broadcast(&bs.cond);
        pthread_mutex_unlock(&bs.mu);
        if (!more) {
            break;
        }
    }
    if (fwd != NULL) {
        if (weft_rpc_stream_close_send(fwd->s) != 0) {
            atomic_store(&fwd->broken, true);
        }
    }
    pthread_mutex_lock(&bs.mu);
    bs.recv_done = true;
    pthread_cond_broadcast(&bs.cond);
    pthread_mutex_unlock(&bs.mu);
    pthread_join(responder, NULL);
    fwd_unref(fwd);
out:
    pthread_mutex_destroy(&bs.mu);
    pthread_cond_destroy(&bs.cond);
}

static void broadcast(void *ctx, struct weft_rpc_call *call)
{
    orderer__broadcast_serve(ctx, call, false);
}

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
                  status_name(st), info);
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
    int rc = weft_rpc_server_add_stream(srv, "/orderer.AtomicBroadcast/Broadcast",
                                        WEFT_RPC_BIDI_STREAMING, broadcast, o);
    if (rc == 0) {
        rc = weft_rpc_server_add_stream(srv, "/orderer.AtomicBroadcast/Deliver",
                                        WEFT_RPC_BIDI_STREAMING, deliver, o);
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "register AtomicBroadcast: %s", weft_strerror(rc));
    }
    return 0;
}
