/* Private state of struct weft_cc_support (support.c, launch.c). */
#ifndef WEFT_CC_SUPPORT_H
#define WEFT_CC_SUPPORT_H

#include <pthread.h>
#include <sys/types.h>

#include "cc_internal.h"

struct cc_iter {
    struct cc_iter *next;
    char id[37];
    struct weft_ledger_range_iter *rit;
    struct weft_ledger_hist_iter *hit;
    uint8_t *pending; /* result read ahead of the last batch */
    size_t pending_len;
    uint64_t total;
    bool paged;
};

/* Completion of a transaction started with cc__start: rc 0 with the final
 * COMPLETED/ERROR message (final, taken by the callee), or an error (err).
 * Runs once, without s->mu, on the thread that settled the transaction. */
typedef void (*cc_fin_fn)(void *ctx, int rc, uint8_t *final, size_t final_len,
                          struct weft_err *err);

/* One transaction in flight on a handler (heap; freed after its completion
 * callback). Guarded by support->mu except iters (the stream's message
 * handling, or a c2c job, while busy > 0; the completing thread once it is
 * unlinked). Settled (done) once: COMPLETED/ERROR, the stream's end, a send
 * failure or the execute timeout; completed (unlinked from the handler,
 * reference dropped, callback queued on support->fin) when settled and
 * busy is back to 0. */
struct cc_tx {
    struct cc_tx *next;
    const struct weft_cc_invocation *inv;
    const char *ns;
    struct cc_handler *h; /* holds a reference until completed */
    struct cc_iter *iters;
    int busy;
    bool done;
    int rc;
    struct weft_err err;
    uint8_t *final; /* the COMPLETED/ERROR message */
    size_t final_len;
    cc_fin_fn fin;
    void *fin_ctx;
    /* support->tq, the deadline-ordered timeout queue (while not done) */
    uint64_t deadline_ns;
    struct cc_tx *tq_prev, *tq_next;
    bool queued;
};

/* One chaincode stream (support.c DESIGN). Guarded by support->mu except
 * the fixed fields (s, ops, stream, call) and ccid, which is set under the
 * lock once and read by the stream's own message handling without it. */
struct cc_handler {
    struct cc_handler *next;
    struct weft_cc_support *s;
    char *ccid; /* NULL until REGISTER is accepted */
    const struct weft_cc_stream_ops *ops;
    void *stream;
    /* Event-driven Register stream (messages handled on the rpc
     * completion-queue thread): the call, held until weft_rpc_call_done;
     * NULL for a stream read by a thread (weft_cc_support_serve_stream). */
    struct weft_rpc_call *call;
    pthread_mutex_t send_mu; /* thread-read streams: one sender at a time */
    int refs;                /* executing transactions and INVOKE_CHAINCODE jobs */
    bool listed;             /* in support->handlers */
    bool ready, dead;
    bool closed; /* event-driven: finished by the peer, messages ignored */
    bool ended;  /* event-driven: the stream's end was delivered */
    struct cc_tx *txs;
};

/* A process the peer started (bin/run or node). */
struct cc_proc {
    struct cc_proc *next;
    char *ccid;
    pid_t pid;
    char *log_path;
    char *run_dir; /* removed when the process is reaped (may be NULL) */
    bool exited;
    int status;
};

struct cc_ccaas_conn;

struct weft_cc_support {
    struct weft_cc_support_opts opts; /* strings copied (owned) */
    struct weft_cc_builder *builders; /* owned copies */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t launch_mu;
    struct cc_handler *handlers;
    char **expect; /* package IDs allowed to REGISTER (being launched) */
    size_t n_expect;
    struct cc_proc *procs;            /* guarded by mu */
    struct cc_ccaas_conn *conns;      /* guarded by mu */
    struct weft_pool *pool;
    bool closing;
    /* execute timeouts: transactions in deadline order (guarded by mu),
     * watched by one timer thread that sleeps on timer_cv until the first
     * deadline */
    struct cc_tx *tq_head, *tq_tail;
    pthread_cond_t timer_cv;
    pthread_t timer;
    bool timer_started, timer_stop;
    /* completed transactions whose callbacks are still to run (mu); run by
     * fin_flush() on whichever thread completed them, after unlocking */
    struct cc_tx *fin;
};

int cc__execute(struct weft_cc_support *s, const struct weft_cc_invocation *inv, uint8_t **final,
                size_t *final_len, struct weft_err *err);
/* Starts inv on h (a ready handler, one reference taken by the caller and
 * handed over): fin(ctx, ...) runs once later, on the thread that settles
 * it. Returns 0, or an error before anything started (txid already in
 * flight, out of memory): the reference is dropped, fin never runs. */
int cc__start(struct weft_cc_support *s, struct cc_handler *h,
              const struct weft_cc_invocation *inv, cc_fin_fn fin, void *ctx,
              struct weft_err *err);
int cc__expect(struct weft_cc_support *s, const char *ccid, bool on);
/* launch.c */
int cc__opts_copy(struct weft_cc_support *s, const struct weft_cc_support_opts *o);
void cc__opts_free(struct weft_cc_support *s);
int cc__launch(struct weft_cc_support *s, const char *ccid, struct cc_proc **proc,
               struct weft_err *err);
bool cc__proc_exited(struct weft_cc_support *s, struct cc_proc *p, struct weft_err *err);
void cc__proc_log_tail(struct cc_proc *p, struct weft_err *err);
void cc__proc_stop(struct weft_cc_support *s, struct cc_proc *p);
void cc__proc_stop_ccid(struct weft_cc_support *s, const char *ccid);
void cc__proc_stop_all(struct weft_cc_support *s);
void cc__ccaas_join_all(struct weft_cc_support *s);

#endif
