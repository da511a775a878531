/* Private helpers shared by the rpc library's files. */
#ifndef WEFT_RPC_INTERNAL_H
#define WEFT_RPC_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "weft/log.h"
#include "weft/rpc.h"

/* ThreadSanitizer sees none of gRPC's own ordering (Debian's libgrpc is not
 * instrumented). What a completion queue guarantees, that whatever a thread
 * did before starting a batch happens before the thread that takes the
 * batch's tag from the queue, is declared to it by hand: RPC_HB_RELEASE(tag)
 * before the batch starts, RPC_HB_ACQUIRE(tag) once the tag is out. No-ops in
 * other builds. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define RPC_HB_RELEASE(p) __tsan_release((void *)(p))
#define RPC_HB_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define RPC_HB_RELEASE(p) ((void)(p))
#define RPC_HB_ACQUIRE(p) ((void)(p))
#endif

/* A completion-queue tag: the thread that takes it calls cb(obj, ok). */
struct rpc_stag {
    void (*cb)(void *obj, bool ok);
    void *obj;
};

/* A client call whose completion arrives on a server's queue (async.c). The
 * server lists it from start to completion so that its stop can cancel it
 * (the queue can only shut down once no batch on it is pending). */
struct rpc_async_link {
    grpc_call *gc;
    struct rpc_async_link *prev, *next;
};
/* The server's queue for client calls, NULL when it is not running. */
grpc_completion_queue *rpc_server_async_cq(struct weft_rpc_server *srv);
/* Lists l (l->gc set); WEFT_ESHUTDOWN once the server's stop has begun
 * cancelling such calls: then no batch may be started on l->gc. */
int rpc_server_async_add(struct weft_rpc_server *srv, struct rpc_async_link *l);
/* Unlists l once its batch completed (before l->gc is released). */
void rpc_server_async_remove(struct weft_rpc_server *srv, struct rpc_async_link *l);

/* Loads PEM material into a new NUL-terminated string (weft_free it), or
 * sets *out = NULL when absent. WEFT_EIO / WEFT_ENOMEM. */
int rpc_pem_load(const struct weft_rpc_pem *p, const char *what, char **out,
                 struct weft_err *err);

/* A growable list of channel arguments. */
struct rpc_args {
    grpc_arg a[16];
    size_t n;
};
void rpc_args_int(struct rpc_args *args, const char *key, int64_t v);
void rpc_args_str(struct rpc_args *args, const char *key, const char *v);
grpc_channel_args rpc_args_view(struct rpc_args *args);

/* Copies a byte buffer into one weft_malloc'd block (NUL-terminated for
 * convenience; *len excludes the NUL). NULL on ENOMEM. */
uint8_t *rpc_bb_copy(grpc_byte_buffer *bb, size_t *len);
/* A byte buffer holding a copy of data (or owning it when take != 0: the
 * bytes are weft_free'd by gRPC when the buffer dies). */
grpc_byte_buffer *rpc_bb_new(const void *data, size_t len);
grpc_byte_buffer *rpc_bb_take(uint8_t *data, size_t len);

/* Absolute gRPC deadline timeout_ms from now (< 0 or INT64_MAX: infinite). */
gpr_timespec rpc_deadline_ms(int64_t timeout_ms);

/* Converts a gRPC deadline into weft_clock_mono_ns() time, UINT64_MAX = none. */
uint64_t rpc_deadline_to_mono(gpr_timespec t);

/* Absolute CLOCK_MONOTONIC timespec for pthread_cond_timedwait from a
 * weft_clock_mono_ns() value. Condition variables are created with
 * rpc_cond_init so they use that clock. */
struct timespec rpc_mono_ts(uint64_t ns);
void rpc_cond_init(pthread_cond_t *cv);

/* ---- caller identity cache (ident.c) ---------------------------------------
 * The auth context gRPC hands out for a server call is the connection's own
 * object (one per TLS handshake), so its address identifies the connection
 * while we hold a reference on it. The cache maps it to a copy of the leaf
 * PEM and, lazily, the SHA-256 of its DER: per-call cost is one hash lookup
 * (grpc-c-core.md, Pitfalls: parsing PEM per call is slow). */
#define RPC_IDENT_BUCKETS 256
#define RPC_IDENT_MAX 1024

struct rpc_ident {
    grpc_auth_context *ac; /* reference held while cached or in use */
    char *pem;             /* leaf certificate PEM or NULL */
    size_t pem_len;
    int hash_rc;           /* 1 = not computed yet, else 0 or WEFT_E* */
    uint8_t hash[32];
    unsigned refs;         /* cache + calls, guarded by rpc_ident_cache.lock */
    bool cached;
    struct rpc_ident *next;
};

struct rpc_ident_cache {
    pthread_mutex_t lock; /* guards buckets, count, refs and hash fields */
    struct rpc_ident *buckets[RPC_IDENT_BUCKETS];
    size_t count;
};

void rpc_ident_cache_init(struct rpc_ident_cache *ic);
/* Releases every cached entry (none may be in use by calls any more). */
void rpc_ident_cache_close(struct rpc_ident_cache *ic);
/* Identity of a server call's connection, with a reference for the caller;
 * NULL when the call has no auth context or on ENOMEM. */
struct rpc_ident *rpc_ident_get(struct rpc_ident_cache *ic, grpc_call *call);
void rpc_ident_put(struct rpc_ident_cache *ic, struct rpc_ident *id);
/* SHA-256 of the certificate's DER, computed once. */
int rpc_ident_hash(struct rpc_ident_cache *ic, struct rpc_ident *id, uint8_t out[32]);

#endif
