/*
 * rpc server: the gRPC C core server with registered methods, handlers on a
 * worker pool, and graceful shutdown.
 *
 * DESIGN
 *  - One completion queue, drained by cq_threads threads. Every tag is a
 *    struct rpc_stag {cb, obj}: the thread calls cb(obj, ok) and never blocks
 *    (callbacks only take short mutexes and start batches).
 *  - Each registered method keeps PENDING_PER_METHOD requested calls
 *    outstanding; a generic request answers unknown methods UNIMPLEMENTED.
 *  - A call (struct weft_rpc_call) is reference counted: one reference per
 *    batch in flight plus one for the running handler; the last unref frees
 *    it (grpc-c-core.md: after cancellation later batches still complete, so
 *    free only when all of them are done). Its mutex guards every field
 *    below it in the struct; lock order is server lock, then call lock.
 *  - Every stream starts a lone RECV_CLOSE_ON_SERVER batch at arrival: its
 *    completion is the cancellation signal (client cancel, deadline,
 *    connection loss). A unary call starts it only when its handler asks
 *    (weft_rpc_call_is_cancelled / _on_cancel); otherwise it rides in the
 *    reply batch, so a unary call costs one completion.
 *  - WEFT_RPC_INLINE unary handlers run on the completion-queue thread that
 *    received the call (no hop to the worker pool); they must not block.
 *  - Streams keep at most one SEND_MESSAGE in flight and a bounded queue
 *    behind it (send blocks while it is full); the status goes out with the
 *    last message. Client messages are read one ahead: RECV_MESSAGE is
 *    re-armed only when the handler has taken the previous message and the
 *    send queue is below its bound, so a client that floods a handler which
 *    cannot send is slowed by HTTP/2 flow control instead of growing memory.
 *  - Stop: shutdown_and_notify, grace wait for live calls, UNAVAILABLE to
 *    the streams still open, cancel_all_calls, wait for the shutdown tag and
 *    for every handler, then shut the queue down and join (grpc-c-core.md,
 *    Shutdown order).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

WEFT_LOGGER(lg, "rpc");

#define PENDING_PER_METHOD 16
#define PENDING_GENERIC 4
#define DEFAULT_WORKERS 64
#define DEFAULT_SEND_QUEUE 32
#define UNAVAILABLE_FLUSH_MS 1000
#define HEALTH_METHOD "/grpc.health.v1.Health/Check"

enum { KIND_UNARY = 0 };

struct method {
    char *name;
    int kind; /* KIND_UNARY or enum weft_rpc_kind */
    weft_rpc_unary_fn ufn;
    weft_rpc_stream_fn sfn;
    const struct weft_rpc_stream_cbs *cbs; /* event-driven stream (no worker) */
    void *ctx;
    bool inline_run; /* unary handler runs on the completion-queue thread */
    void *handle; /* grpc_server_register_method result */
    struct method *next;
};

struct outmsg {
    grpc_byte_buffer *bb;
    struct outmsg *next;
};

struct weft_rpc_server {
    grpc_server *gs;
    grpc_completion_queue *cq;
    pthread_t *threads;
    unsigned nthreads;
    unsigned started_threads;
    struct weft_pool *pool;
    bool own_pool;
    struct method *methods;
    int ports[WEFT_RPC_MAX_LISTEN];
    size_t nports;
    size_t max_send;
    unsigned send_queue_max;
    struct rpc_stag shutdown_tag;
    struct rpc_ident_cache ids;

    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cv;
    bool started;
    bool stopping;
    bool stopped;
    bool shutdown_done;
    struct weft_rpc_call *live; /* calls that arrived and are not freed yet */
    uint64_t nlive;
    struct rpc_async_link *async; /* client calls completing on cq (async.c) */
    bool async_refused;           /* stop cancelled them: no new ones */

    _Atomic uint64_t n_calls;
    _Atomic uint64_t n_cancelled;
    _Atomic uint64_t n_unimpl;
};

struct weft_rpc_call {
    struct weft_rpc_server *srv;
    struct method *m; /* NULL: unknown method (answered UNIMPLEMENTED) */
    grpc_call *gc;
    grpc_call_details details; /* unknown methods only */
    grpc_metadata_array md;
    gpr_timespec deadline;
    grpc_byte_buffer *payload; /* first request (unary, server streaming) */
    uint8_t *req;
    size_t req_len;
    struct rpc_stag t_new, t_close, t_send, t_recv;
    struct weft_rpc_call *prev, *next; /* server live list (server lock) */
    bool listed;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cv;    /* queue space, received message, state changes */
    unsigned refs;
    int close_cancelled; /* RECV_CLOSE_ON_SERVER output */
    bool close_started;  /* RECV_CLOSE_ON_SERVER started (alone or in t_send) */
    bool close_in_send;  /* ... as part of the unary reply batch */
    bool cancelled;      /* client cancel, deadline, lost connection */
    bool shutdown;       /* server stopping: ended with UNAVAILABLE */
    bool broken;         /* a send failed */
    bool handler_done;
    /* send side */
    struct outmsg *qhead, *qtail;
    unsigned qlen;
    grpc_byte_buffer *sending;
    bool send_inflight;
    bool md_sent;
    bool finished;       /* finish() called (or implied) */
    bool status_pending; /* status to send after the queue */
    bool status_started;
    int status_code;
    grpc_slice status_slice;
    bool has_status_slice;
    grpc_metadata trailer; /* grpc-status-details-bin, when set */
    bool has_trailer;
    /* receive side */
    grpc_byte_buffer *rbuf;
    bool recv_inflight, recv_ready, recv_eof, recv_failed;
    /* event-driven streams */
    void *cb_state;
    bool recv_paused; /* the handler asked not to read further */
    bool cb_running;  /* a message callback is running */
    bool cb_ended;    /* end delivered */
    bool close_done;  /* RECV_CLOSE_ON_SERVER completed: the call is over */
    /* cancellation callback, only while the handler runs */
    void (*cancel_cb)(void *);
    void *cancel_arg;
    /* identity, loaded on first use */
    char *peer;
    struct rpc_ident *ident;
    bool ident_loaded;
    char *unary_msg;
};

/* ---- call lifetime ------------------------------------------------------------ */

static struct weft_rpc_call *call_alloc(struct weft_rpc_server *srv, struct method *m)
{
    struct weft_rpc_call *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->srv = srv;
    c->m = m;
    grpc_metadata_array_init(&c->md);
    if (m == NULL) {
        grpc_call_details_init(&c->details);
    }
    pthread_mutex_init(&c->lock, NULL);
    rpc_cond_init(&c->cv);
    return c;
}

static void queue_clear_locked(struct weft_rpc_call *c)
{
    while (c->qhead != NULL) {
        struct outmsg *o = c->qhead;
        c->qhead = o->next;
        grpc_byte_buffer_destroy(o->bb);
        weft_free(o);
    }
    c->qtail = NULL;
    c->qlen = 0;
}

static void call_free(struct weft_rpc_call *c)
{
    struct weft_rpc_server *srv = c->srv;
    if (c->gc != NULL) {
        grpc_call_unref(c->gc);
    }
    grpc_metadata_array_destroy(&c->md);
    if (c->m == NULL) {
        grpc_call_details_destroy(&c->details);
    }
    if (c->payload != NULL) {
        grpc_byte_buffer_destroy(c->payload);
    }
    if (c->rbuf != NULL) {
        grpc_byte_buffer_destroy(c->rbuf);
    }
    if (c->sending != NULL) {
        grpc_byte_buffer_destroy(c->sending);
    }
    queue_clear_locked(c);
    if (c->has_status_slice) {
        grpc_slice_unref(c->status_slice);
    }
    if (c->has_trailer) {
        grpc_slice_unref(c->trailer.key);
        grpc_slice_unref(c->trailer.value);
    }
    weft_free(c->req);
    weft_free(c->unary_msg);
    if (c->peer != NULL) {
        gpr_free(c->peer);
    }
    rpc_ident_put(&srv->ids, c->ident);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cv);

    pthread_mutex_lock(&srv->lock);
    if (c->listed) {
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            srv->live = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
        srv->nlive--;
        pthread_cond_broadcast(&srv->cv);
    }
    pthread_mutex_unlock(&srv->lock);
    weft_free(c);
}

static void call_unref(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        call_free(c);
    }
}

static void call_list(struct weft_rpc_call *c)
{
    struct weft_rpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    c->listed = true;
    c->prev = NULL;
    c->next = srv->live;
    if (srv->live != NULL) {
        srv->live->prev = c;
    }
    srv->live = c;
    srv->nlive++;
    pthread_mutex_unlock(&srv->lock);
}

static bool is_streaming_in(const struct weft_rpc_call *c)
{
    return c->m != NULL &&
           (c->m->kind == WEFT_RPC_CLIENT_STREAMING || c->m->kind == WEFT_RPC_BIDI_STREAMING);
}

static bool is_stream(const struct weft_rpc_call *c)
{
    return c->m != NULL && c->m->kind != KIND_UNARY;
}

/* ---- batches --------------------------------------------------------------------- */

static bool start_batch_locked(struct weft_rpc_call *c, const grpc_op *ops, size_t n,
                               struct rpc_stag *tag)
{
    RPC_HB_RELEASE(tag);
    grpc_call_error e = grpc_call_start_batch(c->gc, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        WEFT_WARN(lg, "%s: start_batch: %s", c->m ? c->m->name : "?",
                  grpc_call_error_to_string(e));
        return false;
    }
    c->refs++;
    return true;
}

static void set_status_locked(struct weft_rpc_call *c, int code, const char *msg)
{
    if (c->has_status_slice) {
        grpc_slice_unref(c->status_slice);
    }
    c->status_code = code;
    c->status_slice = grpc_slice_from_copied_string(msg != NULL ? msg : "");
    c->has_status_slice = true;
}

/* Starts the next send batch of a stream if none is in flight. */
static void pump_locked(struct weft_rpc_call *c)
{
    if (c->send_inflight || c->cancelled || c->broken) {
        return;
    }
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    bool send_status = false;
    if (c->qhead != NULL) {
        struct outmsg *o = c->qhead;
        c->qhead = o->next;
        if (c->qhead == NULL) {
            c->qtail = NULL;
        }
        c->qlen--;
        c->sending = o->bb;
        weft_free(o);
        if (!c->md_sent) {
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        /* more queued behind it: let HTTP/2 coalesce them into one write;
         * the last message of a burst goes without the hint and flushes */
        ops[n].flags = c->qhead != NULL ? GRPC_WRITE_BUFFER_HINT : 0;
        ops[n++].data.send_message.send_message = c->sending;
        send_status = c->qhead == NULL && c->status_pending && !c->status_started;
    } else if (c->status_pending && !c->status_started) {
        if (!c->md_sent) {
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        }
        send_status = true;
    } else {
        return;
    }
    if (send_status) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)c->status_code;
        ops[n].data.send_status_from_server.status_details = &c->status_slice;
        if (c->has_trailer && c->status_code != WEFT_RPC_OK) {
            ops[n].data.send_status_from_server.trailing_metadata_count = 1;
            ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
        }
        n++;
        c->status_started = true;
    }
    c->md_sent = true;
    if (start_batch_locked(c, ops, n, &c->t_send)) {
        c->send_inflight = true;
    } else {
        c->broken = true;
        if (c->sending != NULL) {
            grpc_byte_buffer_destroy(c->sending);
            c->sending = NULL;
        }
        queue_clear_locked(c);
        pthread_cond_broadcast(&c->cv);
    }
}

/* Arms the one-ahead RECV_MESSAGE when the handler has room for more. */
static void arm_recv_locked(struct weft_rpc_call *c)
{
    if (!is_streaming_in(c) || c->recv_inflight || c->recv_ready || c->recv_eof ||
        c->cancelled || c->broken || c->shutdown || c->recv_paused || c->cb_running ||
        c->qlen >= c->srv->send_queue_max) {
        return;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->rbuf;
    if (start_batch_locked(c, &op, 1, &c->t_recv)) {
        c->recv_inflight = true;
    } else {
        c->recv_eof = true;
        c->recv_failed = true;
    }
}

/* Starts the lone RECV_CLOSE_ON_SERVER batch (the cancellation signal) if it
 * is not started yet. Streams start it at arrival; a unary call only when its
 * handler asks about cancellation, otherwise it rides in the reply batch. */
static void ensure_close_locked(struct weft_rpc_call *c)
{
    if (c->close_started || c->gc == NULL) {
        return;
    }
    c->close_started = true;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    if (!start_batch_locked(c, &op, 1, &c->t_close)) {
        c->cancelled = true;
    }
}

static int finish_locked(struct weft_rpc_call *c, int code, const char *message);

/* The call whose cancellation callback runs on this thread, under its lock:
 * a deferred unary reply made from that callback must not lock again. */
static _Thread_local struct weft_rpc_call *tl_in_cancel_cb;

/* Runs (once) the handler's cancellation callback. Call lock held. */
static void run_cancel_cb_locked(struct weft_rpc_call *c)
{
    if (c->cancel_cb == NULL || c->handler_done) {
        return;
    }
    void (*cb)(void *) = c->cancel_cb;
    c->cancel_cb = NULL;
    tl_in_cancel_cb = c;
    cb(c->cancel_arg);
    tl_in_cancel_cb = NULL;
}

/* Event-driven streams: whether `end` is due now (nothing more can be
 * delivered and no callback runs); marks it delivered. Call lock held. */
static bool cb_end_due_locked(struct weft_rpc_call *c)
{
    if (c->m == NULL || c->m->cbs == NULL || c->cb_ended || c->cb_running || c->recv_inflight ||
        c->handler_done) {
        return false;
    }
    if (!(c->recv_eof || c->cancelled || c->shutdown || c->broken || c->close_done)) {
        return false;
    }
    c->cb_ended = true;
    return true;
}

static void cb_deliver_end(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    bool cancelled = c->cancelled || c->shutdown || c->broken || c->recv_failed;
    pthread_mutex_unlock(&c->lock);
    c->m->cbs->end(c->cb_state, c, cancelled);
}

/* Event-driven streams: a RECV_MESSAGE completed. Hands the message to the
 * handler on this thread, then reads on (or delivers end). */
static void cb_on_recv_done(struct weft_rpc_call *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    c->recv_inflight = false;
    grpc_byte_buffer *bb = NULL;
    if (ok && c->rbuf != NULL) {
        bb = c->rbuf;
        c->rbuf = NULL;
        c->cb_running = true;
    } else {
        c->recv_eof = true;
        c->recv_failed = !ok || grpc_call_failed_before_recv_message(c->gc);
    }
    pthread_mutex_unlock(&c->lock);
    if (bb != NULL) {
        size_t len = 0;
        uint8_t *msg = rpc_bb_copy(bb, &len);
        grpc_byte_buffer_destroy(bb);
        if (msg != NULL) {
            c->m->cbs->message(c->cb_state, c, msg, len);
        }
        pthread_mutex_lock(&c->lock);
        c->cb_running = false;
        if (msg == NULL) {
            c->broken = true; /* no memory for the message: end the stream */
            (void)finish_locked(c, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory for a message");
        }
        arm_recv_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_lock(&c->lock);
    bool end = cb_end_due_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (end) {
        cb_deliver_end(c);
    }
    call_unref(c);
}

static void on_send_done(void *obj, bool ok)
{
    struct weft_rpc_call *c = obj;
    pthread_mutex_lock(&c->lock);
    c->send_inflight = false;
    if (c->close_in_send && (!ok || c->close_cancelled)) {
        if (!c->cancelled) {
            c->srv->n_cancelled++;
        }
        c->cancelled = true;
    }
    if (c->sending != NULL) {
        grpc_byte_buffer_destroy(c->sending);
        c->sending = NULL;
    }
    if (!ok) {
        c->broken = true;
        queue_clear_locked(c);
    } else if (is_stream(c)) {
        pump_locked(c);
        arm_recv_locked(c);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_recv_done(void *obj, bool ok)
{
    struct weft_rpc_call *c = obj;
    if (c->m->cbs != NULL) {
        cb_on_recv_done(c, ok);
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->recv_inflight = false;
    if (ok && c->rbuf != NULL) {
        c->recv_ready = true;
    } else {
        /* a cancelled call also ends RECV_MESSAGE with no message, possibly
         * before RECV_CLOSE_ON_SERVER reports the cancellation: tell a real
         * half-close apart so the handler does not finish as if all went well */
        c->recv_eof = true;
        c->recv_failed = !ok || grpc_call_failed_before_recv_message(c->gc);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

static void on_close_done(void *obj, bool ok)
{
    struct weft_rpc_call *c = obj;
    pthread_mutex_lock(&c->lock);
    c->close_done = true;
    if (!ok || c->close_cancelled) {
        if (!c->cancelled) {
            c->srv->n_cancelled++;
        }
        c->cancelled = true;
        queue_clear_locked(c);
        run_cancel_cb_locked(c);
    }
    bool end = cb_end_due_locked(c);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->lock);
    if (end) {
        cb_deliver_end(c);
    }
    call_unref(c);
}

/* ---- handlers -------------------------------------------------------------------- */

static int finish_locked(struct weft_rpc_call *c, int code, const char *message)
{
    if (c->finished) {
        return WEFT_ESTATE;
    }
    c->finished = true;
    if (c->cancelled || c->broken) {
        return WEFT_ECANCELED;
    }
    set_status_locked(c, code, message);
    c->status_pending = true;
    pump_locked(c);
    pthread_cond_broadcast(&c->cv);
    return 0;
}

/* Sends a unary call's reply (bb: the response, taken; NULL unless OK) with
 * its status, in one batch. */
static void unary_send_locked(struct weft_rpc_call *c, int code, grpc_byte_buffer **bbp)
{
    grpc_byte_buffer *bb = *bbp;
    c->handler_done = true;
    c->finished = true;
    if (!c->cancelled) {
        grpc_op ops[4];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (bb != NULL) {
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = bb;
            c->sending = bb;
            *bbp = NULL;
        }
        set_status_locked(c, code, code == WEFT_RPC_OK ? NULL : c->unary_msg);
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = (grpc_status_code)code;
        ops[n].data.send_status_from_server.status_details = &c->status_slice;
        if (c->has_trailer && code != WEFT_RPC_OK) {
            ops[n].data.send_status_from_server.trailing_metadata_count = 1;
            ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
        }
        n++;
        bool with_close = !c->close_started;
        if (with_close) {
            /* one batch, one completion per call (grpc-c-core.md) */
            ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
            ops[n++].data.recv_close_on_server.cancelled = &c->close_cancelled;
        }
        if (start_batch_locked(c, ops, n, &c->t_send)) {
            c->send_inflight = true;
            c->close_started = true;
            c->close_in_send = with_close;
        } else if (c->sending != NULL) {
            grpc_byte_buffer_destroy(c->sending);
            c->sending = NULL;
        }
    }
}

static void unary_send(struct weft_rpc_call *c, int code, grpc_byte_buffer *bb)
{
    pthread_mutex_lock(&c->lock);
    unary_send_locked(c, code, &bb);
    pthread_mutex_unlock(&c->lock);
    if (bb != NULL) {
        grpc_byte_buffer_destroy(bb);
    }
}

/* Runs a unary handler; returns false when it deferred its reply (the
 * handler's reference then stays until weft_rpc_call_reply). */
static bool run_unary(struct weft_rpc_call *c)
{
    struct method *m = c->m;
    struct weft_buf resp;
    weft_buf_init(&resp, c->srv->max_send);
    int code;
    if (c->payload == NULL) {
        code = WEFT_RPC_INTERNAL;
        weft_rpc_call_set_message(c, "request message missing");
    } else {
        code = m->ufn(m->ctx, c, c->req != NULL ? c->req : (const uint8_t *)"", c->req_len, &resp);
    }
    if (code == WEFT_RPC_DEFERRED) {
        weft_buf_close(&resp);
        return false;
    }
    grpc_byte_buffer *bb = NULL;
    if (code == WEFT_RPC_OK) {
        size_t len;
        uint8_t *data = weft_buf_steal(&resp, &len);
        bb = data != NULL ? rpc_bb_take(data, len) : rpc_bb_new("", 0);
    }
    weft_buf_close(&resp);
    unary_send(c, code, bb);
    return true;
}

int weft_rpc_call_reply(struct weft_rpc_call *c, int code, const void *resp, size_t len)
{
    if (c->m == NULL || c->m->kind != KIND_UNARY || code < 0) {
        return WEFT_EINVAL;
    }
    grpc_byte_buffer *bb = NULL;
    if (code == WEFT_RPC_OK) {
        bb = rpc_bb_new(len > 0 ? resp : "", len);
    }
    if (tl_in_cancel_cb == c) {
        /* from the call's own cancellation callback, under its lock; the
         * pending RECV_CLOSE_ON_SERVER batch holds a reference, so the
         * handler's cannot be the last */
        unary_send_locked(c, code, &bb);
        c->refs--;
        if (bb != NULL) {
            grpc_byte_buffer_destroy(bb);
        }
        return 0;
    }
    unary_send(c, code, bb);
    call_unref(c);
    return 0;
}

static void run_handler(void *arg)
{
    struct weft_rpc_call *c = arg;
    if (c->m->kind == KIND_UNARY) {
        if (!run_unary(c)) {
            return; /* deferred: weft_rpc_call_reply drops the reference */
        }
    } else {
        c->m->sfn(c->m->ctx, c);
        weft_rpc_call_done(c); /* status OK unless the handler finished */
        return;
    }
    call_unref(c);
}

/* ---- arrivals ---------------------------------------------------------------------- */

static void request_method(struct weft_rpc_server *srv, struct method *m);
static void request_generic(struct weft_rpc_server *srv);

/* Event-driven streams: the call arrived (its first RECV_MESSAGE is armed
 * only once the handler has its state). */
static void cb_open(struct weft_rpc_call *c)
{
    c->cb_state = c->m->cbs->open(c->m->ctx, c);
    pthread_mutex_lock(&c->lock);
    if (c->cb_state == NULL) {
        c->handler_done = true;
        (void)finish_locked(c, WEFT_RPC_RESOURCE_EXHAUSTED, "no resources for the stream");
        pthread_mutex_unlock(&c->lock);
        call_unref(c);
        return;
    }
    c->cb_running = false;
    arm_recv_locked(c);
    bool end = cb_end_due_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (end) {
        cb_deliver_end(c);
    }
}

static void on_new_call(void *obj, bool ok)
{
    struct weft_rpc_call *c = obj;
    struct weft_rpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->lock);
    if (!stopping) {
        request_method(srv, c->m);
    }
    if (!ok) {
        call_free(c);
        return;
    }
    srv->n_calls++;
    call_list(c);
    if (c->payload != NULL) {
        c->req = rpc_bb_copy(c->payload, &c->req_len);
        if (c->req == NULL) {
            grpc_byte_buffer_destroy(c->payload); /* answered INTERNAL below */
            c->payload = NULL;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->refs = 1; /* the handler's */
    c->cb_running = c->m->cbs != NULL; /* no delivery before open returns */
    if (is_stream(c)) {
        ensure_close_locked(c);
    }
    arm_recv_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (c->m->cbs != NULL) {
        cb_open(c);
        return;
    }
    if (c->m->inline_run) {
        /* non-blocking handler: no hop to a worker */
        run_handler(c);
        return;
    }
    if (weft_pool_submit(srv->pool, run_handler, c) != 0) {
        WEFT_WARN(lg, "%s: worker pool refused the call", c->m->name);
        pthread_mutex_lock(&c->lock);
        ensure_close_locked(c);
        c->handler_done = true;
        (void)finish_locked(c, WEFT_RPC_UNAVAILABLE, "server busy");
        pthread_mutex_unlock(&c->lock);
        call_unref(c);
    }
}

static void on_unimpl_done(void *obj, bool ok)
{
    (void)ok;
    call_unref(obj);
}

static void on_new_generic(void *obj, bool ok)
{
    struct weft_rpc_call *c = obj;
    struct weft_rpc_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->lock);
    if (!stopping) {
        request_generic(srv);
    }
    if (!ok) {
        call_free(c);
        return;
    }
    srv->n_unimpl++;
    call_list(c);
    if (weft_log_enabled(&lg, WEFT_LOG_DEBUG)) {
        char *name = grpc_slice_to_c_string(c->details.method);
        WEFT_DEBUG(lg, "unknown method %s", name);
        gpr_free(name);
    }
    pthread_mutex_lock(&c->lock);
    c->refs = 1;
    set_status_locked(c, WEFT_RPC_UNIMPLEMENTED, "unknown method");
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &c->status_slice;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &c->close_cancelled;
    c->t_send.cb = on_unimpl_done;
    c->t_send.obj = c;
    (void)start_batch_locked(c, ops, 3, &c->t_send);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        call_free(c);
    }
}

static void init_tags(struct weft_rpc_call *c)
{
    c->t_close = (struct rpc_stag){on_close_done, c};
    c->t_send = (struct rpc_stag){on_send_done, c};
    c->t_recv = (struct rpc_stag){on_recv_done, c};
}

static void request_method(struct weft_rpc_server *srv, struct method *m)
{
    struct weft_rpc_call *c = call_alloc(srv, m);
    if (c == NULL) {
        WEFT_WARN(lg, "%s: out of memory for a pending call", m->name);
        return;
    }
    c->t_new = (struct rpc_stag){on_new_call, c};
    init_tags(c);
    bool with_payload = m->kind == KIND_UNARY || m->kind == WEFT_RPC_SERVER_STREAMING;
    RPC_HB_RELEASE(&c->t_new);
    grpc_call_error e = grpc_server_request_registered_call(
        srv->gs, m->handle, &c->gc, &c->deadline, &c->md, with_payload ? &c->payload : NULL,
        srv->cq, srv->cq, &c->t_new);
    if (e != GRPC_CALL_OK) {
        WEFT_WARN(lg, "%s: request_registered_call: %s", m->name, grpc_call_error_to_string(e));
        call_free(c);
    }
}

static void request_generic(struct weft_rpc_server *srv)
{
    struct weft_rpc_call *c = call_alloc(srv, NULL);
    if (c == NULL) {
        return;
    }
    c->t_new = (struct rpc_stag){on_new_generic, c};
    RPC_HB_RELEASE(&c->t_new);
    grpc_call_error e =
        grpc_server_request_call(srv->gs, &c->gc, &c->details, &c->md, srv->cq, srv->cq, &c->t_new);
    if (e != GRPC_CALL_OK) {
        WEFT_WARN(lg, "request_call: %s", grpc_call_error_to_string(e));
        call_free(c);
    }
}

/* ---- health service ---------------------------------------------------------------- */

static int read_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*off >= len) {
            return WEFT_EPARSE;
        }
        uint8_t b = p[(*off)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

/* grpc.health.v1.HealthCheckRequest{string service = 1} → HealthCheckResponse
 * {ServingStatus status = 1}, SERVING = 1. The service "" is the server; a
 * named service is known when some registered method belongs to it. */
static int health_check(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                        struct weft_buf *resp)
{
    struct weft_rpc_server *srv = ctx;
    const uint8_t *svc = NULL;
    size_t svc_len = 0;
    size_t off = 0;
    while (off < len) {
        uint64_t key, v;
        if (read_varint(req, len, &off, &key) != 0) {
            goto bad;
        }
        switch (key & 7) {
        case 0:
            if (read_varint(req, len, &off, &v) != 0) {
                goto bad;
            }
            break;
        case 2:
            if (read_varint(req, len, &off, &v) != 0 || v > len - off) {
                goto bad;
            }
            if (key >> 3 == 1) {
                svc = req + off;
                svc_len = (size_t)v;
            }
            off += (size_t)v;
            break;
        case 1:
            if (len - off < 8) {
                goto bad;
            }
            off += 8;
            break;
        case 5:
            if (len - off < 4) {
                goto bad;
            }
            off += 4;
            break;
        default:
            goto bad;
        }
    }
    if (svc_len > 0) {
        bool known = false;
        for (struct method *m = srv->methods; m != NULL && !known; m = m->next) {
            known = strlen(m->name) > svc_len + 2 && memcmp(m->name + 1, svc, svc_len) == 0 &&
                    m->name[svc_len + 1] == '/';
        }
        if (!known) {
            weft_rpc_call_set_message(call, "unknown service");
            return WEFT_RPC_NOT_FOUND;
        }
    }
    static const uint8_t serving[] = {0x08, 0x01};
    return weft_buf_append(resp, serving, sizeof(serving)) == 0 ? WEFT_RPC_OK
                                                                : WEFT_RPC_RESOURCE_EXHAUSTED;
bad:
    weft_rpc_call_set_message(call, "malformed HealthCheckRequest");
    return WEFT_RPC_INVALID_ARGUMENT;
}

/* ---- server object ----------------------------------------------------------------- */

static void on_shutdown(void *obj, bool ok)
{
    (void)ok;
    struct weft_rpc_server *srv = obj;
    pthread_mutex_lock(&srv->lock);
    srv->shutdown_done = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->lock);
}

static void *cq_main(void *arg)
{
    weft_thread_name("rpc-cq");
    struct weft_rpc_server *srv = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                                   NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return NULL;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            struct rpc_stag *t = ev.tag;
            RPC_HB_ACQUIRE(t);
            t->cb(t->obj, ev.success != 0);
        }
    }
}

static grpc_server_credentials *server_creds(const struct weft_rpc_server_opts *o,
                                             struct weft_err *err)
{
    if (o->tls == WEFT_RPC_TLS_OFF) {
        return grpc_insecure_server_credentials_create();
    }
    char *cert = NULL, *key = NULL, *ca = NULL;
    grpc_server_credentials *creds = NULL;
    if (rpc_pem_load(&o->cert, "server certificate", &cert, err) != 0 ||
        rpc_pem_load(&o->key, "server key", &key, err) != 0 ||
        rpc_pem_load(&o->client_ca, "client CA", &ca, err) != 0) {
        goto cleanup;
    }
    if (cert == NULL || key == NULL) {
        weft_err_set(err, WEFT_EINVAL, "TLS needs a server certificate and key");
        goto cleanup;
    }
    if (o->tls == WEFT_RPC_TLS_MUTUAL && ca == NULL) {
        weft_err_set(err, WEFT_EINVAL, "mutual TLS needs client CA roots");
        goto cleanup;
    }
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    bool mutual = o->tls == WEFT_RPC_TLS_MUTUAL;
    creds = grpc_ssl_server_credentials_create_ex(
        mutual ? ca : NULL, &pair, 1,
        mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
               : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    if (creds == NULL) {
        weft_err_set(err, WEFT_EINVAL, "invalid TLS material");
    }
cleanup:
    weft_free(cert);
    if (key != NULL) {
        weft_free_secret(key, strlen(key));
    }
    weft_free(ca);
    return creds;
}

static int64_t or_default(int64_t v, int64_t d)
{
    return v > 0 ? v : d;
}

struct weft_rpc_server *weft_rpc_server_new(const struct weft_rpc_server_opts *opts,
                                            struct weft_err *err)
{
    if (opts == NULL || opts->listen[0] == NULL) {
        weft_err_set(err, WEFT_EINVAL, "rpc server: no listen address");
        return NULL;
    }
    if (weft_rpc_init() != 0) {
        weft_err_set(err, WEFT_EUNAVAILABLE, "rpc server: gRPC init failed");
        return NULL;
    }
    struct weft_rpc_server *srv = weft_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "rpc server: out of memory");
        weft_rpc_shutdown();
        return NULL;
    }
    pthread_mutex_init(&srv->lock, NULL);
    rpc_cond_init(&srv->cv);
    rpc_ident_cache_init(&srv->ids);
    srv->shutdown_tag = (struct rpc_stag){on_shutdown, srv};
    srv->max_send = opts->max_send_msg ? opts->max_send_msg : WEFT_RPC_DEFAULT_MAX_MSG;
    srv->send_queue_max = opts->send_queue_max ? opts->send_queue_max : DEFAULT_SEND_QUEUE;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    srv->nthreads = opts->cq_threads ? opts->cq_threads : (ncpu > 0 ? (unsigned)ncpu : 2);

    size_t max_recv = opts->max_recv_msg ? opts->max_recv_msg : WEFT_RPC_DEFAULT_MAX_MSG;
    struct rpc_args args = {.n = 0};
    rpc_args_int(&args, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int64_t)(max_recv > INT32_MAX ? INT32_MAX : max_recv));
    rpc_args_int(&args, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                 (int64_t)(srv->max_send > INT32_MAX ? INT32_MAX : srv->max_send));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_TIME_MS, or_default(opts->keepalive.time_ms, 7200000));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, or_default(opts->keepalive.timeout_ms, 20000));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    rpc_args_int(&args, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                 or_default(opts->keepalive.min_time_ms, 60000));
    grpc_channel_args cargs = rpc_args_view(&args);
    srv->gs = grpc_server_create(&cargs, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->gs, srv->cq, NULL);

    grpc_server_credentials *creds = server_creds(opts, err);
    if (creds == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < WEFT_RPC_MAX_LISTEN && opts->listen[i] != NULL; i++) {
        int port = grpc_server_add_http2_port(srv->gs, opts->listen[i], creds);
        if (port <= 0) {
            weft_err_set(err, WEFT_EUNAVAILABLE, "rpc server: cannot listen on %s",
                         opts->listen[i]);
            grpc_server_credentials_release(creds);
            goto fail;
        }
        srv->ports[srv->nports++] = port;
    }
    grpc_server_credentials_release(creds);

    if (opts->pool != NULL) {
        srv->pool = opts->pool;
    } else {
        srv->pool = weft_pool_new(opts->workers ? opts->workers : DEFAULT_WORKERS);
        if (srv->pool == NULL) {
            weft_err_set(err, WEFT_ENOMEM, "rpc server: cannot start worker pool");
            goto fail;
        }
        srv->own_pool = true;
    }
    if (opts->health &&
        weft_rpc_server_add_unary_flags(srv, HEALTH_METHOD, health_check, srv,
                                        WEFT_RPC_INLINE) != 0) {
        weft_err_set(err, WEFT_ENOMEM, "rpc server: registering health service");
        goto fail;
    }
    return srv;
fail:
    weft_rpc_server_free(srv);
    return NULL;
}

static int add_method(struct weft_rpc_server *srv, const char *name, int kind,
                      weft_rpc_unary_fn ufn, weft_rpc_stream_fn sfn,
                      const struct weft_rpc_stream_cbs *cbs, void *ctx, bool inline_run)
{
    if (srv == NULL || name == NULL || name[0] != '/' || (ufn == NULL && sfn == NULL && cbs == NULL)) {
        return WEFT_EINVAL;
    }
    if (srv->started || srv->stopping) {
        return WEFT_ESTATE;
    }
    for (struct method *m = srv->methods; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0) {
            return WEFT_EEXIST;
        }
    }
    struct method *m = weft_calloc(1, sizeof(*m));
    if (m == NULL || (m->name = weft_strdup(name)) == NULL) {
        weft_free(m);
        return WEFT_ENOMEM;
    }
    m->kind = kind;
    m->ufn = ufn;
    m->sfn = sfn;
    m->cbs = cbs;
    m->ctx = ctx;
    m->inline_run = inline_run;
    bool with_payload = kind == KIND_UNARY || kind == WEFT_RPC_SERVER_STREAMING;
    m->handle = grpc_server_register_method(
        srv->gs, m->name, NULL,
        with_payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE, 0);
    if (m->handle == NULL) {
        weft_free(m->name);
        weft_free(m);
        return WEFT_EEXIST;
    }
    m->next = srv->methods;
    srv->methods = m;
    return 0;
}

int weft_rpc_server_add_unary(struct weft_rpc_server *srv, const char *method,
                              weft_rpc_unary_fn fn, void *ctx)
{
    return add_method(srv, method, KIND_UNARY, fn, NULL, NULL, ctx, false);
}

int weft_rpc_server_add_unary_flags(struct weft_rpc_server *srv, const char *method,
                                    weft_rpc_unary_fn fn, void *ctx, unsigned flags)
{
    if ((flags & ~(unsigned)WEFT_RPC_INLINE) != 0) {
        return WEFT_EINVAL;
    }
    return add_method(srv, method, KIND_UNARY, fn, NULL, NULL, ctx, (flags & WEFT_RPC_INLINE) != 0);
}

int weft_rpc_server_add_stream(struct weft_rpc_server *srv, const char *method,
                               enum weft_rpc_kind kind, weft_rpc_stream_fn fn, void *ctx)
{
    if (kind != WEFT_RPC_SERVER_STREAMING && kind != WEFT_RPC_CLIENT_STREAMING &&
        kind != WEFT_RPC_BIDI_STREAMING) {
        return WEFT_EINVAL;
    }
    return add_method(srv, method, (int)kind, NULL, fn, NULL, ctx, false);
}

int weft_rpc_server_add_stream_cb(struct weft_rpc_server *srv, const char *method,
                                  enum weft_rpc_kind kind, const struct weft_rpc_stream_cbs *cbs,
                                  void *ctx)
{
    if (cbs == NULL || cbs->open == NULL || cbs->message == NULL || cbs->end == NULL ||
        (kind != WEFT_RPC_CLIENT_STREAMING && kind != WEFT_RPC_BIDI_STREAMING)) {
        return WEFT_EINVAL;
    }
    return add_method(srv, method, (int)kind, NULL, NULL, cbs, ctx, false);
}

int weft_rpc_server_start(struct weft_rpc_server *srv, struct weft_err *err)
{
    if (srv->started || srv->stopping) {
        return weft_err_set(err, WEFT_ESTATE, "rpc server already started");
    }
    srv->threads = weft_calloc(srv->nthreads, sizeof(pthread_t));
    if (srv->threads == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "rpc server: out of memory");
    }
    grpc_server_start(srv->gs);
    srv->started = true;
    for (struct method *m = srv->methods; m != NULL; m = m->next) {
        for (int i = 0; i < PENDING_PER_METHOD; i++) {
            request_method(srv, m);
        }
    }
    for (int i = 0; i < PENDING_GENERIC; i++) {
        request_generic(srv);
    }
    for (unsigned i = 0; i < srv->nthreads; i++) {
        int rc = pthread_create(&srv->threads[i], NULL, cq_main, srv);
        if (rc != 0) {
            /* the threads already running keep the server going; stop()
             * joins exactly those */
            return weft_err_set(err, -rc, "rpc server: starting thread: %s", strerror(rc));
        }
        srv->started_threads++;
    }
    WEFT_DEBUG(lg, "server started on port %d with %u threads", srv->ports[0], srv->nthreads);
    return 0;
}

int weft_rpc_server_port(const struct weft_rpc_server *srv, size_t i)
{
    return i < srv->nports ? srv->ports[i] : -1;
}

/* Waits until no call is live or until the deadline (UINT64_MAX: forever).
 * Server lock held. */
static void wait_live_locked(struct weft_rpc_server *srv, uint64_t deadline)
{
    uint64_t next_warn = weft_clock_mono_ns() + 5000000000ull;
    while (srv->nlive > 0) {
        uint64_t now = weft_clock_mono_ns();
        if (now >= deadline) {
            return;
        }
        uint64_t until = deadline < next_warn ? deadline : next_warn;
        struct timespec ts = rpc_mono_ts(until);
        pthread_cond_timedwait(&srv->cv, &srv->lock, &ts);
        if (weft_clock_mono_ns() >= next_warn) {
            WEFT_WARN(lg, "server stop: still waiting for %llu call(s) to end",
                      (unsigned long long)srv->nlive);
            next_warn += 5000000000ull;
        }
    }
}

grpc_completion_queue *rpc_server_async_cq(struct weft_rpc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    bool running = srv->started && srv->started_threads > 0 && !srv->async_refused;
    pthread_mutex_unlock(&srv->lock);
    return running ? srv->cq : NULL;
}

int rpc_server_async_add(struct weft_rpc_server *srv, struct rpc_async_link *l)
{
    pthread_mutex_lock(&srv->lock);
    if (srv->async_refused) {
        pthread_mutex_unlock(&srv->lock);
        return WEFT_ESHUTDOWN;
    }
    l->prev = NULL;
    l->next = srv->async;
    if (srv->async != NULL) {
        srv->async->prev = l;
    }
    srv->async = l;
    pthread_mutex_unlock(&srv->lock);
    return 0;
}

void rpc_server_async_remove(struct weft_rpc_server *srv, struct rpc_async_link *l)
{
    pthread_mutex_lock(&srv->lock);
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        srv->async = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    if (srv->async == NULL && srv->async_refused) {
        pthread_cond_broadcast(&srv->cv);
    }
    pthread_mutex_unlock(&srv->lock);
}

/* Ends a stream with UNAVAILABLE and wakes its handler. Both locks held. */
static void force_shutdown_locked(struct weft_rpc_call *c)
{
    if (c->shutdown || c->refs == 0) {
        return;
    }
    c->shutdown = true;
    if (is_stream(c) && !c->finished && !c->cancelled && !c->broken) {
        queue_clear_locked(c);
        (void)finish_locked(c, WEFT_RPC_UNAVAILABLE, "server shutting down");
    }
    run_cancel_cb_locked(c);
    pthread_cond_broadcast(&c->cv);
}

void weft_rpc_server_stop(struct weft_rpc_server *srv, int64_t grace_ms)
{
    if (srv == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->lock);
    if (srv->stopping) {
        pthread_mutex_unlock(&srv->lock);
        return;
    }
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);

    if (srv->gs == NULL) {
        srv->stopped = true;
        return;
    }
    RPC_HB_RELEASE(&srv->shutdown_tag);
    grpc_server_shutdown_and_notify(srv->gs, srv->cq, &srv->shutdown_tag);
    if (srv->started_threads == 0) {
        /* never started: drain the queue here */
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(
                srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_OP_COMPLETE) {
                struct rpc_stag *t = ev.tag;
                t->cb(t->obj, ev.success != 0);
                if (t == &srv->shutdown_tag) {
                    break;
                }
            } else if (ev.type == GRPC_QUEUE_SHUTDOWN) {
                break;
            }
        }
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN) {
        }
        srv->stopped = true;
        return;
    }

    pthread_mutex_lock(&srv->lock);
    uint64_t now = weft_clock_mono_ns();
    wait_live_locked(srv, grace_ms > 0 ? now + (uint64_t)grace_ms * 1000000u : now);
    /* past the grace: a handler may be waiting for a client call completing
     * here, so those end now (CANCELLED) and no new one starts */
    srv->async_refused = true;
    for (struct rpc_async_link *l = srv->async; l != NULL; l = l->next) {
        grpc_call_cancel(l->gc, NULL);
    }
    if (srv->nlive > 0) {
        WEFT_DEBUG(lg, "server stop: ending %llu call(s) with UNAVAILABLE",
                   (unsigned long long)srv->nlive);
        for (struct weft_rpc_call *c = srv->live; c != NULL; c = c->next) {
            pthread_mutex_lock(&c->lock);
            force_shutdown_locked(c);
            pthread_mutex_unlock(&c->lock);
        }
        wait_live_locked(srv, weft_clock_mono_ns() + UNAVAILABLE_FLUSH_MS * 1000000ull);
    }
    pthread_mutex_unlock(&srv->lock);

    grpc_server_cancel_all_calls(srv->gs);

    pthread_mutex_lock(&srv->lock);
    while (!srv->shutdown_done) {
        pthread_cond_wait(&srv->cv, &srv->lock);
    }
    wait_live_locked(srv, UINT64_MAX);
    while (srv->async != NULL) {
        pthread_cond_wait(&srv->cv, &srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);

    grpc_completion_queue_shutdown(srv->cq);
    for (unsigned i = 0; i < srv->started_threads; i++) {
        pthread_join(srv->threads[i], NULL);
    }
    srv->stopped = true;
}

void weft_rpc_server_free(struct weft_rpc_server *srv)
{
    if (srv == NULL) {
        return;
    }
    weft_rpc_server_stop(srv, 5000);
    if (srv->gs != NULL) {
        grpc_server_destroy(srv->gs);
    }
    if (srv->cq != NULL) {
        grpc_completion_queue_destroy(srv->cq);
    }
    if (srv->own_pool) {
        weft_pool_free(srv->pool);
    }
    while (srv->methods != NULL) {
        struct method *m = srv->methods;
        srv->methods = m->next;
        weft_free(m->name);
        weft_free(m);
    }
    rpc_ident_cache_close(&srv->ids);
    weft_free(srv->threads);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cv);
    weft_free(srv);
    weft_rpc_shutdown();
}

void weft_rpc_server_stats(struct weft_rpc_server *srv, struct weft_rpc_server_stats *out)
{
    out->calls = srv->n_calls;
    out->cancelled = srv->n_cancelled;
    out->unimplemented = srv->n_unimpl;
    pthread_mutex_lock(&srv->lock);
    out->live = srv->nlive;
    pthread_mutex_unlock(&srv->lock);
}

/* ---- call API ---------------------------------------------------------------------- */

const char *weft_rpc_call_method(const struct weft_rpc_call *call)
{
    return call->m != NULL ? call->m->name : "";
}

const uint8_t *weft_rpc_call_request(const struct weft_rpc_call *call, size_t *len)
{
    if (call->m == NULL || call->m->kind != WEFT_RPC_SERVER_STREAMING || call->req == NULL) {
        *len = 0;
        return NULL;
    }
    *len = call->req_len;
    return call->req;
}

void weft_rpc_call_pause_recv(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    c->recv_paused = true;
    pthread_mutex_unlock(&c->lock);
}

void weft_rpc_call_resume_recv(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    c->recv_paused = false;
    arm_recv_locked(c); /* never delivers a callback itself */
    pthread_mutex_unlock(&c->lock);
}

void weft_rpc_call_done(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    c->handler_done = true;
    c->cancel_cb = NULL;
    if (!c->finished) {
        (void)finish_locked(c, WEFT_RPC_OK, NULL);
    }
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
}

int weft_rpc_call_recv(struct weft_rpc_call *c, uint8_t **msg, size_t *len, int64_t timeout_ms)
{
    *msg = NULL;
    *len = 0;
    if (!is_streaming_in(c) || c->m->cbs != NULL) {
        return WEFT_ESTATE;
    }
    uint64_t deadline =
        timeout_ms < 0 ? UINT64_MAX : weft_clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->shutdown) {
            rc = WEFT_ESHUTDOWN;
            break;
        }
        if (c->cancelled || c->recv_failed) {
            rc = WEFT_ECANCELED;
            break;
        }
        if (c->recv_ready) {
            grpc_byte_buffer *bb = c->rbuf;
            c->rbuf = NULL;
            c->recv_ready = false;
            arm_recv_locked(c);
            pthread_mutex_unlock(&c->lock);
            *msg = rpc_bb_copy(bb, len);
            grpc_byte_buffer_destroy(bb);
            return *msg != NULL ? 0 : WEFT_ENOMEM;
        }
        if (c->recv_eof) {
            break;
        }
        if (deadline == UINT64_MAX) {
            pthread_cond_wait(&c->cv, &c->lock);
        } else {
            if (weft_clock_mono_ns() >= deadline) {
                rc = WEFT_ETIMEDOUT;
                break;
            }
            struct timespec ts = rpc_mono_ts(deadline);
            pthread_cond_timedwait(&c->cv, &c->lock, &ts);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int weft_rpc_call_send_owned(struct weft_rpc_call *c, uint8_t *msg, size_t len)
{
    if (!is_stream(c)) {
        weft_free(msg);
        return WEFT_ESTATE;
    }
    struct outmsg *o = weft_malloc(sizeof(*o));
    if (o == NULL) {
        weft_free(msg);
        return WEFT_ENOMEM;
    }
    o->bb = rpc_bb_take(msg, len);
    o->next = NULL;
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->shutdown) {
            rc = WEFT_ESHUTDOWN;
        } else if (c->cancelled || c->broken) {
            rc = WEFT_ECANCELED;
        } else if (c->finished) {
            rc = WEFT_ESTATE;
        } else if (c->qlen >= c->srv->send_queue_max && c->m->cbs == NULL) {
            pthread_cond_wait(&c->cv, &c->lock);
            continue;
        }
        break;
    }
    if (rc == 0) {
        if (c->qtail != NULL) {
            c->qtail->next = o;
        } else {
            c->qhead = o;
        }
        c->qtail = o;
        c->qlen++;
        pump_locked(c);
        o = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (o != NULL) {
        grpc_byte_buffer_destroy(o->bb);
        weft_free(o);
    }
    return rc;
}

int weft_rpc_call_send(struct weft_rpc_call *c, const void *msg, size_t len)
{
    uint8_t *copy = weft_malloc(len ? len : 1);
    if (copy == NULL) {
        return WEFT_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, msg, len);
    }
    return weft_rpc_call_send_owned(c, copy, len);
}

int weft_rpc_call_finish(struct weft_rpc_call *c, int code, const char *message)
{
    if (!is_stream(c)) {
        return WEFT_ESTATE;
    }
    pthread_mutex_lock(&c->lock);
    int rc = finish_locked(c, code, message);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void weft_rpc_call_set_message(struct weft_rpc_call *c, const char *message)
{
    char *copy = message != NULL ? weft_strdup(message) : NULL;
    bool locked = tl_in_cancel_cb == c; /* from its cancellation callback */
    if (!locked) {
        pthread_mutex_lock(&c->lock);
    }
    weft_free(c->unary_msg);
    c->unary_msg = copy;
    if (!locked) {
        pthread_mutex_unlock(&c->lock);
    }
}

int weft_rpc_call_set_status_details(struct weft_rpc_call *c, const void *bin, size_t len)
{
    if (bin == NULL && len > 0) {
        return WEFT_EINVAL;
    }
    pthread_mutex_lock(&c->lock);
    if (c->status_started || (!is_stream(c) && c->handler_done)) {
        pthread_mutex_unlock(&c->lock);
        return WEFT_ESTATE;
    }
    if (c->has_trailer) {
        grpc_slice_unref(c->trailer.key);
        grpc_slice_unref(c->trailer.value);
        c->has_trailer = false;
    }
    if (bin != NULL) {
        memset(&c->trailer, 0, sizeof(c->trailer));
        c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
        c->trailer.value = grpc_slice_from_copied_buffer(bin, len);
        c->has_trailer = true;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

bool weft_rpc_call_is_cancelled(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->handler_done) {
        ensure_close_locked(c);
    }
    bool r = c->cancelled || c->shutdown || c->broken;
    pthread_mutex_unlock(&c->lock);
    return r;
}

void weft_rpc_call_on_cancel(struct weft_rpc_call *c, void (*cb)(void *arg), void *arg)
{
    pthread_mutex_lock(&c->lock);
    if (cb != NULL && !c->handler_done) {
        ensure_close_locked(c);
    }
    if (cb != NULL && (c->cancelled || c->shutdown)) {
        c->cancel_cb = NULL;
        pthread_mutex_unlock(&c->lock);
        cb(arg);
        return;
    }
    c->cancel_cb = cb;
    c->cancel_arg = arg;
    pthread_mutex_unlock(&c->lock);
}

uint64_t weft_rpc_call_deadline_ns(const struct weft_rpc_call *c)
{
    return rpc_deadline_to_mono(c->m != NULL ? c->deadline : c->details.deadline);
}

const char *weft_rpc_call_peer(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->peer == NULL) {
        c->peer = grpc_call_get_peer(c->gc);
    }
    const char *p = c->peer != NULL ? c->peer : "";
    pthread_mutex_unlock(&c->lock);
    return p;
}

static struct rpc_ident *call_ident(struct weft_rpc_call *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->ident_loaded) {
        c->ident = rpc_ident_get(&c->srv->ids, c->gc);
        c->ident_loaded = c->ident != NULL;
    }
    struct rpc_ident *id = c->ident;
    pthread_mutex_unlock(&c->lock);
    return id;
}

const char *weft_rpc_call_tls_cert_pem(struct weft_rpc_call *c, size_t *len)
{
    struct rpc_ident *id = call_ident(c);
    if (len != NULL) {
        *len = id != NULL ? id->pem_len : 0;
    }
    return id != NULL ? id->pem : NULL;
}

int weft_rpc_call_tls_cert_hash(struct weft_rpc_call *c, uint8_t out[32])
{
    return rpc_ident_hash(&c->srv->ids, call_ident(c), out);
}
