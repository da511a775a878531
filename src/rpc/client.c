/*
 * rpc client: a gRPC channel with blocking unary and streaming calls.
 *
 * DESIGN
 *  - No background thread: every call owns a private pluck completion queue
 *    and the calling thread waits on it (as gRPC's own synchronous C++ API
 *    does). A unary call is one batch and one pluck, so it costs no thread
 *    hop; a stream's sender and receiver may pluck their own tags from two
 *    threads at once.
 *  - A stream's RECV_STATUS_ON_CLIENT batch is started at open together with
 *    the initial metadata; it completes when the call ends and is plucked by
 *    weft_rpc_stream_status() or by weft_rpc_stream_free().
 *  - A receive that times out stays pending; the next receive waits for the
 *    same batch, so no message is ever lost or reordered.
 *  - The channel reconnects by itself with exponential backoff; with
 *    wait_for_ready, calls wait for a connection up to their deadline.
 */
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

WEFT_LOGGER(lg, "rpc");

#define CQ_CACHE_MAX 64

struct weft_rpc_client {
    grpc_channel *ch;
    int64_t timeout_ms;
    bool wait_for_ready;
    /* idle pluck queues reused by unary calls (creating one per call costs
     * more than the call itself under load) */
    pthread_mutex_t cq_lock; /* guards cq_cache, ncq */
    grpc_completion_queue *cq_cache[CQ_CACHE_MAX];
    size_t ncq;
};

struct weft_rpc_stream {
    struct weft_rpc_client *cl;
    grpc_completion_queue *cq;
    grpc_call *gc;
    /* distinct addresses used as tags */
    char tag_status, tag_send, tag_recv, tag_close;

    pthread_mutex_t send_lock; /* guards the send side */
    bool closed_send;

    pthread_mutex_t recv_lock; /* guards the receive side */
    bool recv_pending;
    bool got_initial_md;
    bool recv_eof;
    grpc_byte_buffer *rbuf;
    grpc_metadata_array init_md;

    pthread_mutex_t status_lock; /* guards the status fields */
    bool status_done;
    grpc_status_code st;
    grpc_slice details;
    const char *error_string;
    grpc_metadata_array trail_md;
    char *message;
};

static int64_t or_default(int64_t v, int64_t d)
{
    return v > 0 ? v : d;
}

struct weft_rpc_client *weft_rpc_client_new(const char *target,
                                            const struct weft_rpc_client_opts *opts,
                                            struct weft_err *err)
{
    static const struct weft_rpc_client_opts defaults;
    if (target == NULL || target[0] == '\0') {
        weft_err_set(err, WEFT_EINVAL, "rpc client: no target");
        return NULL;
    }
    if (opts == NULL) {
        opts = &defaults;
    }
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_channel_credentials *creds = NULL;
    struct weft_rpc_client *c = NULL;
    if (opts->tls) {
        if (rpc_pem_load(&opts->ca, "CA roots", &ca, err) != 0 ||
            rpc_pem_load(&opts->cert, "client certificate", &cert, err) != 0 ||
            rpc_pem_load(&opts->key, "client key", &key, err) != 0) {
            goto cleanup;
        }
        if (ca == NULL) {
            weft_err_set(err, WEFT_EINVAL, "rpc client: TLS needs CA roots");
            goto cleanup;
        }
        if ((cert == NULL) != (key == NULL)) {
            weft_err_set(err, WEFT_EINVAL, "rpc client: client certificate and key go together");
            goto cleanup;
        }
    }
    if (weft_rpc_init() != 0) {
        weft_err_set(err, WEFT_EUNAVAILABLE, "rpc client: gRPC init failed");
        goto cleanup;
    }
    c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "rpc client: out of memory");
        weft_rpc_shutdown();
        goto cleanup;
    }
    pthread_mutex_init(&c->cq_lock, NULL);
    c->timeout_ms = opts->timeout_ms;
    c->wait_for_ready = opts->wait_for_ready;
    if (opts->tls) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        creds = grpc_ssl_credentials_create_ex(ca, cert != NULL ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    size_t max_recv = opts->max_recv_msg ? opts->max_recv_msg : WEFT_RPC_DEFAULT_MAX_MSG;
    size_t max_send = opts->max_send_msg ? opts->max_send_msg : WEFT_RPC_DEFAULT_MAX_MSG;
    struct rpc_args args = {.n = 0};
    rpc_args_int(&args, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int64_t)(max_recv > INT32_MAX ? INT32_MAX : max_recv));
    rpc_args_int(&args, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, (int64_t)(max_send > INT32_MAX ? INT32_MAX : max_send));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_TIME_MS, or_default(opts->keepalive.time_ms, 60000));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, or_default(opts->keepalive.timeout_ms, 20000));
    rpc_args_int(&args, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    rpc_args_int(&args, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    rpc_args_int(&args, GRPC_ARG_ENABLE_RETRIES, 0);
    rpc_args_int(&args, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (opts->backoff_min_ms > 0) {
        rpc_args_int(&args, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, opts->backoff_min_ms);
        rpc_args_int(&args, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, opts->backoff_min_ms);
    }
    if (opts->backoff_max_ms > 0) {
        rpc_args_int(&args, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, opts->backoff_max_ms);
    }
    if (opts->server_name_override != NULL) {
        rpc_args_str(&args, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, opts->server_name_override);
    }
    grpc_channel_args cargs = rpc_args_view(&args);
    c->ch = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (c->ch == NULL) {
        weft_err_set(err, WEFT_EINVAL, "rpc client: cannot create channel to %s", target);
        pthread_mutex_destroy(&c->cq_lock);
        weft_free(c);
        c = NULL;
        weft_rpc_shutdown();
    }
cleanup:
    weft_free(ca);
    weft_free(cert);
    if (key != NULL) {
        weft_free_secret(key, strlen(key));
    }
    return c;
}

void weft_rpc_client_free(struct weft_rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    grpc_channel_destroy(c->ch);
    for (size_t i = 0; i < c->ncq; i++) {
        grpc_completion_queue_shutdown(c->cq_cache[i]);
        grpc_completion_queue_destroy(c->cq_cache[i]);
    }
    pthread_mutex_destroy(&c->cq_lock);
    weft_free(c);
    weft_rpc_shutdown();
}

int weft_rpc_client_wait_ready(struct weft_rpc_client *c, int64_t timeout_ms)
{
    uint64_t end = weft_clock_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    int rc = WEFT_ETIMEDOUT;
    for (;;) {
        grpc_connectivity_state st = grpc_channel_check_connectivity_state(c->ch, 1);
        if (st == GRPC_CHANNEL_READY) {
            rc = 0;
            break;
        }
        if (st == GRPC_CHANNEL_SHUTDOWN) {
            rc = WEFT_EUNAVAILABLE;
            break;
        }
        uint64_t now = weft_clock_mono_ns();
        if (now >= end) {
            break;
        }
        grpc_channel_watch_connectivity_state(c->ch, st,
                                              rpc_deadline_ms((int64_t)((end - now) / 1000000u)),
                                              cq, c);
        (void)grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return rc;
}

void weft_rpc_result_clear(struct weft_rpc_result *r)
{
    weft_free(r->message);
    weft_free(r->data);
    weft_free(r->details);
    memset(r, 0, sizeof(*r));
}

static gpr_timespec call_deadline(const struct weft_rpc_client *c, int64_t timeout_ms)
{
    if (timeout_ms == 0) {
        timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : -1;
    }
    return rpc_deadline_ms(timeout_ms);
}

static uint32_t md_flags(const struct weft_rpc_client *c)
{
    return c->wait_for_ready
               ? GRPC_INITIAL_METADATA_WAIT_FOR_READY | GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET
               : 0;
}

/* Status message from the details slice, else from the core's error string. */
static char *status_message(grpc_slice details, const char *error_string)
{
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n > 0) {
        return weft_strndup((const char *)GRPC_SLICE_START_PTR(details), n);
    }
    (void)error_string;
    return weft_strdup("");
}

static grpc_completion_queue *cq_get(struct weft_rpc_client *c)
{
    grpc_completion_queue *cq = NULL;
    pthread_mutex_lock(&c->cq_lock);
    if (c->ncq > 0) {
        cq = c->cq_cache[--c->ncq];
    }
    pthread_mutex_unlock(&c->cq_lock);
    return cq != NULL ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

/* Returns an idle queue (no pending events) to the cache. */
static void cq_put(struct weft_rpc_client *c, grpc_completion_queue *cq)
{
    pthread_mutex_lock(&c->cq_lock);
    if (c->ncq < CQ_CACHE_MAX) {
        c->cq_cache[c->ncq++] = cq;
        cq = NULL;
    }
    pthread_mutex_unlock(&c->cq_lock);
    if (cq != NULL) {
        grpc_completion_queue_shutdown(cq);
        grpc_completion_queue_destroy(cq);
    }
}

static void cq_close(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
}

/* One unary call's batch and the places its outcome lands in. */
struct unary_op {
    grpc_call *call;
    grpc_byte_buffer *bb;
    grpc_byte_buffer *resp;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code st;
    grpc_slice details;
    const char *error_string;
};

static bool unary_args_ok(const char *method, const void *req, size_t req_len,
                          struct weft_rpc_result *out)
{
    if (method == NULL || (req == NULL && req_len > 0)) {
        out->code = WEFT_RPC_INTERNAL;
        out->message = weft_strdup("invalid argument");
        return false;
    }
    return true;
}

/* Creates the call on cq (tag = its completion tag) without starting it. */
static void unary_prepare(struct unary_op *u, struct weft_rpc_client *c,
                          grpc_completion_queue *cq, const char *method, const void *req,
                          size_t req_len, int64_t timeout_ms)
{
    grpc_slice path = grpc_slice_from_copied_string(method);
    u->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path, NULL,
                                       call_deadline(c, timeout_ms), NULL);
    grpc_slice_unref(path);
    u->bb = rpc_bb_new(req_len ? req : "", req_len);
    u->resp = NULL;
    grpc_metadata_array_init(&u->init_md);
    grpc_metadata_array_init(&u->trail_md);
    u->st = GRPC_STATUS_UNKNOWN;
    u->details = grpc_empty_slice();
    u->error_string = NULL;
}

static grpc_call_error unary_start(struct unary_op *u, uint32_t md_flags_v, void *tag)
{
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = md_flags_v;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = u->bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &u->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &u->trail_md;
    ops[5].data.recv_status_on_client.status = &u->st;
    ops[5].data.recv_status_on_client.status_details = &u->details;
    ops[5].data.recv_status_on_client.error_string = &u->error_string;
    grpc_call *call = u->call;
    RPC_HB_RELEASE(tag); /* u is not touched past here: the completion may free it */
    return grpc_call_start_batch(call, ops, 6, tag, NULL);
}

static int unary_start_failed(const char *method, grpc_call_error e, struct weft_rpc_result *out)
{
    WEFT_WARN(lg, "%s: start_batch: %s", method, grpc_call_error_to_string(e));
    out->code = WEFT_RPC_INTERNAL;
    out->message = weft_strdup(grpc_call_error_to_string(e));
    return WEFT_ERPC;
}

/* The completed batch's outcome into out (weft_rpc_client_unary's return). */
static int unary_outcome(struct unary_op *u, struct weft_rpc_result *out)
{
    int rc = 0;
    out->code = (int)u->st;
    out->message = status_message(u->details, u->error_string);
    if (u->st == GRPC_STATUS_OK) {
        if (u->resp != NULL) {
            out->data = rpc_bb_copy(u->resp, &out->len);
        } else {
            out->data = weft_malloc(1);
            out->len = 0;
        }
        if (out->data == NULL) {
            rc = WEFT_ENOMEM;
        }
    } else {
        rc = WEFT_ERPC;
        for (size_t i = 0; i < u->trail_md.count; i++) {
            if (grpc_slice_str_cmp(u->trail_md.metadata[i].key, "grpc-status-details-bin") == 0) {
                size_t dl = GRPC_SLICE_LENGTH(u->trail_md.metadata[i].value);
                out->details = weft_malloc(dl > 0 ? dl : 1);
                if (out->details != NULL) {
                    memcpy(out->details, GRPC_SLICE_START_PTR(u->trail_md.metadata[i].value), dl);
                    out->details_len = dl;
                }
                break;
            }
        }
    }
    if (out->message == NULL) {
        rc = WEFT_ENOMEM;
    }
    return rc;
}

static void unary_release(struct unary_op *u)
{
    grpc_byte_buffer_destroy(u->bb);
    if (u->resp != NULL) {
        grpc_byte_buffer_destroy(u->resp);
    }
    grpc_metadata_array_destroy(&u->init_md);
    grpc_metadata_array_destroy(&u->trail_md);
    grpc_slice_unref(u->details);
    gpr_free((void *)u->error_string);
    grpc_call_unref(u->call);
}

int weft_rpc_client_unary(struct weft_rpc_client *c, const char *method, const void *req,
                          size_t req_len, int64_t timeout_ms, struct weft_rpc_result *out)
{
    weft_rpc_result_clear(out);
    if (!unary_args_ok(method, req, req_len, out)) {
        return WEFT_EINVAL;
    }
    grpc_completion_queue *cq = cq_get(c);
    struct unary_op u;
    unary_prepare(&u, c, cq, method, req, req_len, timeout_ms);
    int rc;
    grpc_call_error e = unary_start(&u, md_flags(c), u.call);
    if (e != GRPC_CALL_OK) {
        rc = unary_start_failed(method, e, out);
    } else {
        (void)grpc_completion_queue_pluck(cq, u.call, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        rc = unary_outcome(&u, out);
    }
    unary_release(&u);
    if (e == GRPC_CALL_OK) {
        cq_put(c, cq); /* its one event was plucked: idle again */
    } else {
        cq_close(cq);
    }
    return rc;
}

/* ---- unary calls completing on a server's queue ----------------------------------- */

struct async_unary {
    struct unary_op u;
    struct rpc_stag tag;
    struct rpc_async_link link;
    struct weft_rpc_server *srv;
    weft_rpc_unary_done_fn done;
    void *ctx;
};

static void async_unary_done(void *obj, bool ok)
{
    (void)ok; /* a client batch always completes; its status says how */
    struct async_unary *a = obj;
    struct weft_rpc_result r = {0};
    int rc = unary_outcome(&a->u, &r);
    rpc_server_async_remove(a->srv, &a->link);
    unary_release(&a->u);
    weft_rpc_unary_done_fn done = a->done;
    void *ctx = a->ctx;
    weft_free(a);
    done(ctx, rc, &r);
}

int weft_rpc_client_unary_async(struct weft_rpc_client *c, struct weft_rpc_server *srv,
                                const char *method, const void *req, size_t req_len,
                                int64_t timeout_ms, weft_rpc_unary_done_fn done, void *ctx,
                                struct weft_rpc_result *out)
{
    weft_rpc_result_clear(out);
    if (!unary_args_ok(method, req, req_len, out)) {
        return WEFT_EINVAL;
    }
    grpc_completion_queue *cq = rpc_server_async_cq(srv);
    struct async_unary *a = cq != NULL ? weft_calloc(1, sizeof(*a)) : NULL;
    if (a == NULL) {
        out->code = cq == NULL ? WEFT_RPC_UNAVAILABLE : WEFT_RPC_RESOURCE_EXHAUSTED;
        out->message = weft_strdup(cq == NULL ? "server stopping" : "out of memory");
        return cq == NULL ? WEFT_ESHUTDOWN : WEFT_ENOMEM;
    }
    a->srv = srv;
    a->done = done;
    a->ctx = ctx;
    a->tag.cb = async_unary_done;
    a->tag.obj = a;
    unary_prepare(&a->u, c, cq, method, req, req_len, timeout_ms);
    a->link.gc = a->u.call;
    int rc = rpc_server_async_add(srv, &a->link);
    if (rc != 0) {
        out->code = WEFT_RPC_UNAVAILABLE;
        out->message = weft_strdup("server stopping");
        unary_release(&a->u);
        weft_free(a);
        return rc;
    }
    grpc_call_error e = unary_start(&a->u, md_flags(c), &a->tag);
    if (e != GRPC_CALL_OK) {
        rpc_server_async_remove(srv, &a->link);
        rc = unary_start_failed(method, e, out);
        unary_release(&a->u);
        weft_free(a);
        return rc;
    }
    return 0;
}

/* ---- streams ------------------------------------------------------------------------ */

struct weft_rpc_stream *weft_rpc_client_stream(struct weft_rpc_client *c, const char *method,
                                               int64_t timeout_ms, struct weft_err *err)
{
    if (method == NULL) {
        weft_err_set(err, WEFT_EINVAL, "rpc stream: no method");
        return NULL;
    }
    struct weft_rpc_stream *s = weft_calloc(1, sizeof(*s));
    if (s == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "rpc stream: out of memory");
        return NULL;
    }
    s->cl = c;
    pthread_mutex_init(&s->send_lock, NULL);
    pthread_mutex_init(&s->recv_lock, NULL);
    pthread_mutex_init(&s->status_lock, NULL);
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->details = grpc_empty_slice();
    s->st = GRPC_STATUS_UNKNOWN;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    /* the path slice must outlive the call: copy it */
    grpc_slice path = grpc_slice_from_copied_string(method);
    s->gc = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, path, NULL,
                                     call_deadline(c, timeout_ms), NULL);
    grpc_slice_unref(path);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = md_flags(c);
    ops[1].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[1].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[1].data.recv_status_on_client.status = &s->st;
    ops[1].data.recv_status_on_client.status_details = &s->details;
    ops[1].data.recv_status_on_client.error_string = &s->error_string;
    RPC_HB_RELEASE(&s->tag_status);
    grpc_call_error e = grpc_call_start_batch(s->gc, ops, 2, &s->tag_status, NULL);
    if (e != GRPC_CALL_OK) {
        weft_err_set(err, WEFT_ERPC, "rpc stream %s: %s", method, grpc_call_error_to_string(e));
        s->status_done = true; /* nothing to pluck */
        weft_rpc_stream_free(s);
        return NULL;
    }
    return s;
}

static int stream_send(struct weft_rpc_stream *s, const void *msg, size_t len, uint32_t flags)
{
    pthread_mutex_lock(&s->send_lock);
    int rc = 0;
    if (s->closed_send) {
        rc = WEFT_ESTATE;
        goto out;
    }
    grpc_byte_buffer *bb = rpc_bb_new(len ? msg : "", len);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.flags = flags;
    op.data.send_message.send_message = bb;
    if (grpc_call_start_batch(s->gc, &op, 1, &s->tag_send, NULL) != GRPC_CALL_OK) {
        rc = WEFT_ERPC;
    } else {
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_send,
                                                    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (!ev.success) {
            rc = WEFT_ECANCELED;
        }
    }
    grpc_byte_buffer_destroy(bb);
out:
    pthread_mutex_unlock(&s->send_lock);
    return rc;
}

int weft_rpc_stream_send(struct weft_rpc_stream *s, const void *msg, size_t len)
{
    return stream_send(s, msg, len, 0);
}

int weft_rpc_stream_send_more(struct weft_rpc_stream *s, const void *msg, size_t len)
{
    return stream_send(s, msg, len, GRPC_WRITE_BUFFER_HINT);
}

int weft_rpc_stream_close_send(struct weft_rpc_stream *s)
{
    pthread_mutex_lock(&s->send_lock);
    int rc = 0;
    if (s->closed_send) {
        goto out;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (grpc_call_start_batch(s->gc, &op, 1, &s->tag_close, NULL) != GRPC_CALL_OK) {
        rc = WEFT_ERPC;
        goto out;
    }
    grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_close,
                                                gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    s->closed_send = true;
    if (!ev.success) {
        rc = WEFT_ECANCELED;
    }
out:
    pthread_mutex_unlock(&s->send_lock);
    return rc;
}

int weft_rpc_stream_recv(struct weft_rpc_stream *s, uint8_t **msg, size_t *len,
                         int64_t timeout_ms)
{
    *msg = NULL;
    *len = 0;
    pthread_mutex_lock(&s->recv_lock);
    int rc = 0;
    if (s->recv_eof) {
        goto out;
    }
    if (!s->recv_pending) {
        grpc_op ops[2];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!s->got_initial_md) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->rbuf;
        if (grpc_call_start_batch(s->gc, ops, n, &s->tag_recv, NULL) != GRPC_CALL_OK) {
            rc = WEFT_ERPC;
            goto out;
        }
        s->got_initial_md = true;
        s->recv_pending = true;
    }
    grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv, rpc_deadline_ms(timeout_ms),
                                                NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        rc = WEFT_ETIMEDOUT;
        goto out;
    }
    s->recv_pending = false;
    if (ev.success && s->rbuf != NULL) {
        *msg = rpc_bb_copy(s->rbuf, len);
        grpc_byte_buffer_destroy(s->rbuf);
        s->rbuf = NULL;
        if (*msg == NULL) {
            rc = WEFT_ENOMEM;
        }
    } else {
        s->recv_eof = true;
    }
out:
    pthread_mutex_unlock(&s->recv_lock);
    return rc;
}

void weft_rpc_stream_cancel(struct weft_rpc_stream *s)
{
    grpc_call_cancel(s->gc, NULL);
}

int weft_rpc_stream_status(struct weft_rpc_stream *s, int64_t timeout_ms, int *code,
                           const char **message)
{
    pthread_mutex_lock(&s->status_lock);
    int rc = 0;
    if (!s->status_done) {
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_status,
                                                    rpc_deadline_ms(timeout_ms), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            rc = WEFT_ETIMEDOUT;
            goto out;
        }
        RPC_HB_ACQUIRE(&s->tag_status);
        s->status_done = true;
    }
    if (s->message == NULL) {
        s->message = status_message(s->details, s->error_string);
    }
    *code = (int)s->st;
    *message = s->message != NULL ? s->message : "";
out:
    pthread_mutex_unlock(&s->status_lock);
    return rc;
}

void weft_rpc_stream_free(struct weft_rpc_stream *s)
{
    if (s == NULL) {
        return;
    }
    if (s->gc != NULL) {
        if (!s->status_done) {
            grpc_call_cancel(s->gc, NULL);
            (void)grpc_completion_queue_pluck(s->cq, &s->tag_status,
                                              gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
        if (s->recv_pending) {
            (void)grpc_completion_queue_pluck(s->cq, &s->tag_recv,
                                              gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
    }
    if (s->rbuf != NULL) {
        grpc_byte_buffer_destroy(s->rbuf);
    }
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
    gpr_free((void *)s->error_string);
    weft_free(s->message);
    if (s->gc != NULL) {
        grpc_call_unref(s->gc);
    }
    cq_close(s->cq);
    pthread_mutex_destroy(&s->send_lock);
    pthread_mutex_destroy(&s->recv_lock);
    pthread_mutex_destroy(&s->status_lock);
    weft_free(s);
}
