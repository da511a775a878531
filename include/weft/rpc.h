/*
 * weft rpc: gRPC servers and clients on the gRPC C core (libgrpc 1.51).
 *
 * Messages are opaque byte strings (the protobuf layer encodes them); methods
 * are registered by their full path ("/gateway.Gateway/Endorse").
 *
 * Threads (ARCHITECTURE.md, Threads):
 *  - a server owns one completion queue drained by opts.cq_threads threads;
 *    those threads never block; the user code they run must not block
 *    either: cancellation callbacks (weft_rpc_call_on_cancel), WEFT_RPC_INLINE
 *    unary handlers and event-driven stream callbacks
 *    (weft_rpc_server_add_stream_cb);
 *  - other handlers run on a worker pool (struct weft_pool) and may block;
 *    a threaded streaming handler occupies one worker for the life of its
 *    call, so size the pool for the number of concurrent streams you accept;
 *    a unary handler may return WEFT_RPC_DEFERRED to give its worker back
 *    and answer later (weft_rpc_call_reply);
 *  - client calls are blocking and run on the caller's thread (each call has
 *    its own private completion queue: no background thread per client);
 *    a client may be used from many threads at once.
 *
 * Errors: functions return 0 or a negative WEFT_E* code (weft/base.h); the
 * gRPC status of a finished call is reported separately as enum
 * weft_rpc_code (gRPC's own numbers), together with the status message.
 *
 * Logging: the library never prints. It logs debug/warn lines through the
 * "rpc" logger and routes gRPC's own log lines into the "grpc" logger.
 *
 * Memory: every buffer handed to the caller is allocated with weft_malloc
 * and released with weft_free (or the *_clear / *_free function named).
 */
#ifndef WEFT_RPC_H
#define WEFT_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

/* ---- status codes and library lifetime ------------------------------------ */

/* gRPC status codes, numerically identical to grpc_status_code. */
enum weft_rpc_code {
    WEFT_RPC_OK = 0,
    WEFT_RPC_CANCELLED = 1,
    WEFT_RPC_UNKNOWN = 2,
    WEFT_RPC_INVALID_ARGUMENT = 3,
    WEFT_RPC_DEADLINE_EXCEEDED = 4,
    WEFT_RPC_NOT_FOUND = 5,
    WEFT_RPC_ALREADY_EXISTS = 6,
    WEFT_RPC_PERMISSION_DENIED = 7,
    WEFT_RPC_RESOURCE_EXHAUSTED = 8,
    WEFT_RPC_FAILED_PRECONDITION = 9,
    WEFT_RPC_ABORTED = 10,
    WEFT_RPC_OUT_OF_RANGE = 11,
    WEFT_RPC_UNIMPLEMENTED = 12,
    WEFT_RPC_INTERNAL = 13,
    WEFT_RPC_UNAVAILABLE = 14,
    WEFT_RPC_DATA_LOSS = 15,
    WEFT_RPC_UNAUTHENTICATED = 16,
};

/* Upper-case name of a code ("DEADLINE_EXCEEDED"); "UNKNOWN_CODE" when out of
 * range. Never NULL; static storage. */
const char *weft_rpc_code_name(int code);

/* Fabric's default message size limit in both directions: 100 MiB. */
#define WEFT_RPC_DEFAULT_MAX_MSG ((size_t)104857600)

/* Reference-counted gRPC start-up: the first call runs grpc_init() and routes
 * gRPC's logs into weft's logger; each call must be paired with
 * weft_rpc_shutdown(), the last of which runs grpc_shutdown_blocking().
 * Servers and clients take their own reference, so calling these directly is
 * only needed to start gRPC's threads early (e.g. before blocking signals in a
 * daemon that uses sigwait, call pthread_sigmask first, then this).
 * Thread-safe. Returns 0 (cannot fail today; kept fallible for the future). */
int weft_rpc_init(void) WEFT_WARN_UNUSED;
void weft_rpc_shutdown(void);

/* ---- shared option types ----------------------------------------------------- */

/* PEM material given inline (pem, NUL-terminated) or as a file path (file).
 * pem wins when both are set; both NULL means "absent". Strings are only
 * read during the *_new call that receives them. */
struct weft_rpc_pem {
    const char *pem;
    const char *file;
};

/* HTTP/2 keepalive. Zero fields take the defaults named below (Fabric's:
 * peer.keepalive.* / General.Keepalive.* for servers, peer.keepalive.client.*
 * for clients). */
struct weft_rpc_keepalive {
    int64_t time_ms;     /* ping after this idle time; server 7200000, client 60000 */
    int64_t timeout_ms;  /* close the connection if the ping is not answered; 20000 */
    int64_t min_time_ms; /* server only: least interval it tolerates between a
                            client's pings (else GOAWAY too_many_pings); 60000 */
};

/* ---- server ---------------------------------------------------------------------- */

enum weft_rpc_tls_mode {
    WEFT_RPC_TLS_OFF = 0,    /* plaintext HTTP/2 */
    WEFT_RPC_TLS_SERVER = 1, /* server authenticates with cert/key; clients anonymous */
    WEFT_RPC_TLS_MUTUAL = 2, /* clients must present a certificate that chains to client_ca */
};

#define WEFT_RPC_MAX_LISTEN 4

struct weft_rpc_server_opts {
    /* "host:port" addresses, up to WEFT_RPC_MAX_LISTEN; the first NULL ends
     * the list. Port 0 picks a free port (see weft_rpc_server_port). At least
     * one is required. */
    const char *listen[WEFT_RPC_MAX_LISTEN];
    enum weft_rpc_tls_mode tls;
    struct weft_rpc_pem cert;      /* server certificate chain (TLS modes) */
    struct weft_rpc_pem key;       /* server private key (TLS modes) */
    struct weft_rpc_pem client_ca; /* roots for client certificates (MUTUAL) */
    size_t max_recv_msg;           /* 0 = WEFT_RPC_DEFAULT_MAX_MSG; larger
                                      requests fail with RESOURCE_EXHAUSTED */
    size_t max_send_msg;           /* 0 = WEFT_RPC_DEFAULT_MAX_MSG */
    struct weft_rpc_keepalive keepalive;
    unsigned cq_threads;           /* completion-queue threads; 0 = online CPUs */
    /* Worker pool for handlers, borrowed (must outlive the server). NULL: the
     * server creates its own pool of `workers` threads (0 = 64). */
    struct weft_pool *pool;
    unsigned workers;
    /* Per-stream bound on queued outgoing messages; weft_rpc_call_send blocks
     * while it is reached. 0 = 32. */
    unsigned send_queue_max;
    /* Serve grpc.health.v1.Health/Check: SERVING for "" and for any service
     * with a registered method, NOT_FOUND otherwise. Watch is not served
     * (UNIMPLEMENTED, which health clients read as "no health checking"). */
    bool health;
};

struct weft_rpc_server;
/* The server-side view of one call. Valid from the handler's start until it
 * returns (event-driven streams: until weft_rpc_call_done); must not be used
 * afterwards. Functions on it may be called from
 * the handler's thread and (send/finish/cancel checks) from other threads
 * while the handler is still running. */
struct weft_rpc_call;

/* Unary handler, run on a pool worker. req/req_len: the request bytes, valid
 * until the handler returns. resp: an empty buffer (limit = max_send_msg) to
 * fill with the response bytes. Returns the gRPC status code; the response is
 * sent only with WEFT_RPC_OK. A status message may be set with
 * weft_rpc_call_set_message(). */
typedef int (*weft_rpc_unary_fn)(void *ctx, struct weft_rpc_call *call, const uint8_t *req,
                                 size_t req_len, struct weft_buf *resp);
/* A unary handler's return value meaning "I answer later": it keeps call
 * (valid until then; req is not) and calls weft_rpc_call_reply exactly once,
 * from any thread - at the latest when the call is cancelled (see
 * weft_rpc_call_on_cancel), since the server's stop waits for it. For
 * handlers that wait for another event (a commit, a chaincode, a remote
 * peer) without holding a thread. */
#define WEFT_RPC_DEFERRED (-1)
/* Sends a deferred unary call's reply: resp (copied; ignored unless code is
 * WEFT_RPC_OK) with status code and the message set by
 * weft_rpc_call_set_message. The call must not be used afterwards.
 * WEFT_EINVAL for a streaming call. */
int weft_rpc_call_reply(struct weft_rpc_call *call, int code, const void *resp, size_t len);
/* (weft_rpc_call_reply and weft_rpc_call_set_message may be called from the
 * call's own cancellation callback.) */

/* Streaming handler, run on a pool worker. It talks to the client through
 * weft_rpc_call_recv/send/finish. If it returns without calling
 * weft_rpc_call_finish(), status OK is sent after the queued messages. */
typedef void (*weft_rpc_stream_fn)(void *ctx, struct weft_rpc_call *call);

enum weft_rpc_kind {
    WEFT_RPC_SERVER_STREAMING = 1, /* one request (weft_rpc_call_request), many replies */
    WEFT_RPC_CLIENT_STREAMING = 2, /* many requests (recv), one reply (send + finish) */
    WEFT_RPC_BIDI_STREAMING = 3,   /* both directions at will */
};

/* Creates a server and binds its listeners (the sockets are bound on return,
 * so weft_rpc_server_port answers at once); calls are accepted only after
 * weft_rpc_server_start(). Takes a weft_rpc_init() reference.
 * Errors (NULL returned, err set): WEFT_EINVAL (no listener, TLS material
 * missing), WEFT_EIO (PEM file unreadable), WEFT_EUNAVAILABLE (bind failed),
 * WEFT_ENOMEM. Any thread. */
struct weft_rpc_server *weft_rpc_server_new(const struct weft_rpc_server_opts *opts,
                                            struct weft_err *err);

/* Registers a method before weft_rpc_server_start. method is copied. ctx is
 * passed to every invocation and must outlive the server. Returns WEFT_EEXIST
 * for a duplicate path, WEFT_ESTATE after start, WEFT_EINVAL for a path not
 * starting with '/', WEFT_ENOMEM. Not thread-safe with itself. */
int weft_rpc_server_add_unary(struct weft_rpc_server *srv, const char *method,
                              weft_rpc_unary_fn fn, void *ctx) WEFT_WARN_UNUSED;
/* Flags for weft_rpc_server_add_unary_flags. WEFT_RPC_INLINE: the handler
 * runs directly on the completion-queue thread that received the call,
 * saving the hop to the worker pool; it must never block (no I/O waits, no
 * locks held for long, no outbound rpc). */
#define WEFT_RPC_INLINE 0x1u

/* weft_rpc_server_add_unary with flags (0 or WEFT_RPC_INLINE); WEFT_EINVAL
 * for an unknown flag. */
int weft_rpc_server_add_unary_flags(struct weft_rpc_server *srv, const char *method,
                                    weft_rpc_unary_fn fn, void *ctx,
                                    unsigned flags) WEFT_WARN_UNUSED;
int weft_rpc_server_add_stream(struct weft_rpc_server *srv, const char *method,
                               enum weft_rpc_kind kind, weft_rpc_stream_fn fn,
                               void *ctx) WEFT_WARN_UNUSED;

/* Event-driven bidi/client-streaming handlers: no thread is held per stream.
 * Every callback runs on a completion-queue thread and must not block; the
 * callbacks of one stream never run concurrently and come in this order:
 *   open     once, when the call arrives: returns the handler's state for
 *            the stream (NULL refuses it with RESOURCE_EXHAUSTED);
 *   message  per client message, in order; msg (weft_malloc'd, never NULL)
 *            is the callee's to free;
 *   end      once, when no message will follow: the client half-closed
 *            or the handler's finished call is over (cancelled false), or
 *            the call was cancelled, lost or the server is stopping
 *            (cancelled true; sends fail from then on).
 * send, finish, pause/resume and done never run a callback themselves, so
 * the handler may call them under its own lock.
 * Any thread may send, finish, pause/resume receiving, and must finally call
 * weft_rpc_call_done(): the handler's reference, held from open on, is
 * dropped then (after end at the earliest the call may be freed). Sends on
 * such a call never block: the handler bounds what it queues, e.g. by
 * pausing receipt while it owes many replies (receipt also pauses by itself
 * while send_queue_max replies wait to go out). */
struct weft_rpc_stream_cbs {
    void *(*open)(void *ctx, struct weft_rpc_call *call);
    void (*message)(void *state, struct weft_rpc_call *call, uint8_t *msg, size_t len);
    void (*end)(void *state, struct weft_rpc_call *call, bool cancelled);
};
/* Registers an event-driven stream method (kind CLIENT_ or BIDI_STREAMING);
 * cbs and ctx must outlive the server. Errors as weft_rpc_server_add_stream. */
int weft_rpc_server_add_stream_cb(struct weft_rpc_server *srv, const char *method,
                                  enum weft_rpc_kind kind, const struct weft_rpc_stream_cbs *cbs,
                                  void *ctx) WEFT_WARN_UNUSED;

/* Starts the completion-queue threads and begins accepting calls. Unknown
 * methods are answered UNIMPLEMENTED. Returns WEFT_ESTATE if already started,
 * -errno if a thread cannot be created. */
int weft_rpc_server_start(struct weft_rpc_server *srv, struct weft_err *err) WEFT_WARN_UNUSED;

/* The port listen[i] is bound to (useful with port 0); -1 if i is out of range. */
int weft_rpc_server_port(const struct weft_rpc_server *srv, size_t i);

/* Graceful stop: stops accepting calls, lets in-flight calls finish for up to
 * grace_ms, then ends the remaining streams with UNAVAILABLE ("server shutting
 * down") — their recv/send return WEFT_ESHUTDOWN and cancellation callbacks
 * run — cancels whatever is left, waits for every handler to return, and
 * stops the threads. Blocks; must not be called from a handler. Idempotent.
 * A handler that ignores cancellation and never returns blocks it forever. */
void weft_rpc_server_stop(struct weft_rpc_server *srv, int64_t grace_ms);

/* Stops (with a 5 s grace if not stopped yet) and frees the server, then
 * drops its weft_rpc_init() reference. NULL-safe. */
void weft_rpc_server_free(struct weft_rpc_server *srv);

/* Counters since creation (approximate while calls are running). */
struct weft_rpc_server_stats {
    uint64_t calls;         /* calls handed to handlers (registered methods) */
    uint64_t cancelled;     /* of which ended cancelled by the client, deadline or stop */
    uint64_t unimplemented; /* calls to unknown methods */
    uint64_t live;          /* calls currently in progress */
};
void weft_rpc_server_stats(struct weft_rpc_server *srv, struct weft_rpc_server_stats *out);

/* ---- server call ------------------------------------------------------------------- */

/* Full method path of the call ("/pkg.Svc/Method"). */
const char *weft_rpc_call_method(const struct weft_rpc_call *call);

/* Server-streaming calls: the single request, valid until the handler
 * returns (*len = 0 and NULL for other kinds). */
const uint8_t *weft_rpc_call_request(const struct weft_rpc_call *call, size_t *len);

/* Receives the next client message (client- and bidi-streaming calls).
 * On success returns 0 and hands *msg (weft_free it; never NULL for a
 * message, possibly of length 0) — or *msg = NULL once the client has
 * half-closed. timeout_ms < 0 waits without limit (the call's deadline still
 * applies). Errors: WEFT_ECANCELED (client cancelled, deadline passed,
 * connection lost), WEFT_ESHUTDOWN (server stopping), WEFT_ETIMEDOUT,
 * WEFT_ESTATE (wrong kind). Only one thread may receive at a time.
 * Backpressure: the next message is read from the network only once the
 * previous one was taken and the send queue is below its bound.
 * Note: grpc-js half-closes a stream before resetting it when its caller
 * cancels, so such a cancel may first show up here as a clean half-close;
 * weft_rpc_call_is_cancelled() turns true once the reset arrives. */
int weft_rpc_call_recv(struct weft_rpc_call *call, uint8_t **msg, size_t *len,
                       int64_t timeout_ms) WEFT_WARN_UNUSED;

/* Queues a message for the client (copied). Blocks while send_queue_max
 * messages are queued, so a fast producer is slowed to the client's pace by
 * HTTP/2 flow control. Returns 0 once queued; WEFT_ECANCELED,
 * WEFT_ESHUTDOWN, WEFT_ESTATE (after finish, or on a unary call). Any
 * thread, while the handler runs. */
int weft_rpc_call_send(struct weft_rpc_call *call, const void *msg, size_t len) WEFT_WARN_UNUSED;
/* Same, taking ownership of msg (allocated with weft_malloc) in every case,
 * success or not: no copy for large messages such as blocks. */
int weft_rpc_call_send_owned(struct weft_rpc_call *call, uint8_t *msg,
                             size_t len) WEFT_WARN_UNUSED;

/* Event-driven streams only: stop reading client messages after the one
 * being delivered (paused), or read again (resumed). Any thread; never runs
 * a callback itself, so it may be called under the handler's own lock. */
void weft_rpc_call_pause_recv(struct weft_rpc_call *call);
void weft_rpc_call_resume_recv(struct weft_rpc_call *call);
/* Event-driven streams only: the handler is done with the call (it has sent
 * what it owes). Status OK follows the queued messages unless the call was
 * finished already. The call must not be used afterwards. Any thread. */
void weft_rpc_call_done(struct weft_rpc_call *call);

/* Ends a streaming call with a status after all queued messages; message
 * may be NULL. Does not block. Later sends fail with WEFT_ESTATE; a second
 * finish is ignored and returns WEFT_ESTATE. Returns WEFT_ECANCELED if the
 * call is already cancelled (nothing is sent then). */
int weft_rpc_call_finish(struct weft_rpc_call *call, int code, const char *message);

/* Unary calls: status message sent with a non-OK code (copied). */
void weft_rpc_call_set_message(struct weft_rpc_call *call, const char *message);

/* Rich error status: bin (copied) is sent as the trailing metadata
 * "grpc-status-details-bin" (a serialized google.rpc.Status, base64-encoded
 * on the wire by gRPC) together with a non-OK status: the unary handler's
 * return code or weft_rpc_call_finish's code. Ignored when the status is OK.
 * bin NULL removes it. Call before the status is sent (in a unary handler,
 * before it returns). WEFT_ESTATE when the status was already sent. */
int weft_rpc_call_set_status_details(struct weft_rpc_call *call, const void *bin,
                                     size_t len) WEFT_WARN_UNUSED;

/* True once the call was cancelled (client cancel, deadline, connection
 * loss, server stop). Any thread. */
bool weft_rpc_call_is_cancelled(struct weft_rpc_call *call);

/* Registers cb(arg), run once when the call is cancelled; immediately on the
 * calling thread if it already is. Otherwise it runs on a completion-queue
 * thread with the call's lock held: it must only signal (set a flag,
 * broadcast a condition variable) and must not call weft_rpc_call_*, except
 * weft_rpc_call_reply and weft_rpc_call_set_message for a deferred unary
 * call. It is never run after the handler has returned (or replied). One callback per call;
 * replacing is allowed, cb NULL removes it. */
void weft_rpc_call_on_cancel(struct weft_rpc_call *call, void (*cb)(void *arg), void *arg);

/* Deadline of the call on weft_clock_mono_ns()'s clock; UINT64_MAX if none. */
uint64_t weft_rpc_call_deadline_ns(const struct weft_rpc_call *call);

/* Caller's address as gRPC spells it ("ipv4:127.0.0.1:53122"); "" if
 * unknown. Valid until the handler returns. */
const char *weft_rpc_call_peer(struct weft_rpc_call *call);

/* The caller's TLS leaf certificate in PEM (mutual TLS), or NULL if it sent
 * none; *len (optional) gets its length. Cached per connection: cheap on
 * every call. Valid until the handler returns. */
const char *weft_rpc_call_tls_cert_pem(struct weft_rpc_call *call, size_t *len);

/* SHA-256 of the DER of that certificate (Fabric's tls_cert_hash), cached
 * per connection. WEFT_ENOTFOUND when there is no client certificate,
 * WEFT_EPARSE if the PEM cannot be decoded. */
int weft_rpc_call_tls_cert_hash(struct weft_rpc_call *call, uint8_t out[32]) WEFT_WARN_UNUSED;

/* ---- client ---------------------------------------------------------------------- */

struct weft_rpc_client_opts {
    bool tls;                        /* TLS to the server (requires ca) */
    struct weft_rpc_pem ca;          /* trusted roots for the server certificate */
    struct weft_rpc_pem cert, key;   /* client certificate for mutual TLS (optional) */
    const char *server_name_override; /* expected name in the server certificate */
    size_t max_recv_msg;             /* 0 = WEFT_RPC_DEFAULT_MAX_MSG */
    size_t max_send_msg;             /* 0 = WEFT_RPC_DEFAULT_MAX_MSG */
    struct weft_rpc_keepalive keepalive; /* min_time_ms unused */
    int64_t timeout_ms;              /* default deadline per call; 0 = none */
    /* Calls wait for a connection (up to their deadline) instead of failing
     * at once with UNAVAILABLE while the server is unreachable. */
    bool wait_for_ready;
    int64_t backoff_min_ms;          /* reconnect backoff; 0 = gRPC's (1 s) */
    int64_t backoff_max_ms;          /* 0 = gRPC's (120 s) */
};

struct weft_rpc_client;
struct weft_rpc_stream;

/* Creates a client (a gRPC channel: it connects lazily and reconnects by
 * itself with exponential backoff). target: "host:port" (copied). opts may be
 * NULL (plaintext, defaults). Takes a weft_rpc_init() reference.
 * Errors: WEFT_EINVAL, WEFT_EIO (PEM file), WEFT_ENOMEM. Any thread. */
struct weft_rpc_client *weft_rpc_client_new(const char *target,
                                            const struct weft_rpc_client_opts *opts,
                                            struct weft_err *err);
/* Frees the client. All its streams must be freed first. NULL-safe. */
void weft_rpc_client_free(struct weft_rpc_client *c);

/* Connects if idle and waits until the channel is READY: 0, or
 * WEFT_ETIMEDOUT after timeout_ms. Any thread. */
int weft_rpc_client_wait_ready(struct weft_rpc_client *c, int64_t timeout_ms) WEFT_WARN_UNUSED;

/* Outcome of a client call. Initialise with {0}; release with
 * weft_rpc_result_clear (which also makes it reusable). */
struct weft_rpc_result {
    int code;      /* enum weft_rpc_code */
    char *message; /* status message, "" when none (never NULL after a call) */
    uint8_t *data; /* unary response bytes (NULL unless code is OK) */
    size_t len;
    /* unary calls: the raw "grpc-status-details-bin" trailer (a serialized
     * google.rpc.Status) when the server sent one, else NULL */
    uint8_t *details;
    size_t details_len;
};
void weft_rpc_result_clear(struct weft_rpc_result *r);

/* Blocking unary call. timeout_ms: 0 = the client's default, < 0 = none.
 * Returns 0 when the status is OK, WEFT_ERPC for any other status (see
 * out->code and out->message), WEFT_ENOMEM or WEFT_EINVAL when the call could
 * not be started (out->code is then UNKNOWN or INTERNAL). Any thread. */
int weft_rpc_client_unary(struct weft_rpc_client *c, const char *method, const void *req,
                          size_t req_len, int64_t timeout_ms,
                          struct weft_rpc_result *out) WEFT_WARN_UNUSED;

/* Completion of weft_rpc_client_unary_async: rc and *r as the blocking call
 * returns them; the callback owns r's contents (weft_rpc_result_clear). It
 * runs on one of the server's completion-queue threads and must not block. */
typedef void (*weft_rpc_unary_done_fn)(void *ctx, int rc, struct weft_rpc_result *r);

/* Starts a unary call on c whose completion comes on srv's completion-queue
 * threads: no thread waits for it (a handler that answers later,
 * WEFT_RPC_DEFERRED, can fan out without holding a worker). Returns 0 when
 * started (done then runs exactly once, perhaps before this returns), else
 * the blocking call's error codes or WEFT_ESHUTDOWN when srv is not running,
 * with *out set and done never called. srv's stop cancels the calls still in
 * flight once its grace period is over (their done gets CANCELLED). */
int weft_rpc_client_unary_async(struct weft_rpc_client *c, struct weft_rpc_server *srv,
                                const char *method, const void *req, size_t req_len,
                                int64_t timeout_ms, weft_rpc_unary_done_fn done, void *ctx,
                                struct weft_rpc_result *out) WEFT_WARN_UNUSED;

/* Opens a streaming call (any kind: server streaming is send + close_send +
 * recv...). timeout_ms is the whole call's deadline as for unary. NULL on
 * error (err set). */
struct weft_rpc_stream *weft_rpc_client_stream(struct weft_rpc_client *c, const char *method,
                                               int64_t timeout_ms, struct weft_err *err);
/* Sends one message (copied) and waits until gRPC has taken it (flow
 * control). WEFT_ECANCELED / WEFT_ERPC once the call has ended; WEFT_ESTATE
 * after close_send. One sender at a time. */
int weft_rpc_stream_send(struct weft_rpc_stream *s, const void *msg, size_t len) WEFT_WARN_UNUSED;
/* The same, telling gRPC more messages follow at once: it may hold this one
 * back to write it together with the next (the next plain send, or
 * close_send, flushes). For bursts: every message but the last. */
int weft_rpc_stream_send_more(struct weft_rpc_stream *s, const void *msg,
                              size_t len) WEFT_WARN_UNUSED;
/* Half-closes: no more messages from the client. */
int weft_rpc_stream_close_send(struct weft_rpc_stream *s) WEFT_WARN_UNUSED;
/* Receives the next message: 0 and *msg (weft_free it), or 0 and *msg NULL
 * at the end of the stream (then read the status). WEFT_ETIMEDOUT after
 * timeout_ms (< 0: no limit); the pending receive is kept for the next call.
 * One receiver at a time (it may run concurrently with a sender). */
int weft_rpc_stream_recv(struct weft_rpc_stream *s, uint8_t **msg, size_t *len,
                         int64_t timeout_ms) WEFT_WARN_UNUSED;
/* Cancels the call (the server sees CANCELLED). Any thread. */
void weft_rpc_stream_cancel(struct weft_rpc_stream *s);
/* Waits up to timeout_ms (< 0: no limit) for the final status: 0 and *code,
 * *message (owned by the stream, valid until free), or WEFT_ETIMEDOUT. */
int weft_rpc_stream_status(struct weft_rpc_stream *s, int64_t timeout_ms, int *code,
                           const char **message) WEFT_WARN_UNUSED;
/* Cancels the call if still open, waits for its operations and frees it.
 * NULL-safe. No other thread may be using the stream. */
void weft_rpc_stream_free(struct weft_rpc_stream *s);

#endif
