/*
 * libraft 0.15 on libuv: the orderer's consensus loop (STYLE.md R31). This is
 * the only file that includes <raft.h> and <uv.h>.
 *
 * DESIGN
 * One loop thread runs every channel's Raft group. Other threads reach it
 * through a command queue plus uv_async_send (R27): orderer__cons_call()
 * queues a function, wakes the loop and waits for it to have run, so group
 * creation and teardown happen on the loop thread while the caller blocks.
 *
 * A group = struct raft + raft_uv io (log segments and snapshots in its
 * folder) + a transport + the FSM. Committed entries are serialized blocks,
 * applied by the chain (chain.c) through ops->on_apply. Leadership is
 * polled every 20 ms from raft_state(); on becoming leader a barrier entry
 * is appended and only when it is applied does the chain start cutting
 * blocks (so every entry of earlier terms is in the ledger first).
 *
 * Transport: a single-voter group never sends a message, so it uses a null
 * transport. A multi-voter group uses a struct raft_uv_transport whose
 * streams are local socket pairs: raft_uv reads and writes one end as a
 * uv_pipe_t on this loop, and the other end is pumped by a connection
 * thread into the caller's byte stream (struct orderer_peer_io: gRPC with
 * mutual TLS in cluster.c). libraft only writes on outbound connections and
 * only reads inbound ones, so an outbound pump copies socket -> stream, and
 * an inbound stream (accepted by cluster.c) is written into the socket by
 * the thread that receives it. Connect requests complete asynchronously:
 * the thread posts its result and the loop calls libraft back (R27).
 *
 * Snapshots: the FSM snapshot is the ledger height (8 bytes); the blocks
 * themselves are the ledger. The threshold is high so that followers catch
 * up from the log.
 *
 * First election: on a new channel (the Raft log was just bootstrapped) one
 * consenter, chosen from the channel name as Fabric's etcdraft chooses it,
 * stands at once instead of waiting a full election timeout. libraft 0.15
 * has no call to start an election, so that node runs with an election
 * timeout of one heartbeat (its first campaign comes after 1-2 heartbeats,
 * and it campaigns again as often until it wins or hears of a leader); once
 * any leader is known the configured timeout is restored. The others keep
 * the configured timeout, so there is one early candidate and no split vote.
 * The channel name is the last component of the group's folder (chain.c:
 * <wal root>/<channel>).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "consensus.h"
#include "weft/crypto.h"
#include "weft/log.h"

WEFT_LOGGER(lg_raft, "orderer.consensus.raft");

struct cons_cmd {
    void (*fn)(void *arg);
    void *arg;
    bool done;
    struct cons_cmd *next;
};

struct orderer_cons {
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct cons_cmd *head, *tail;
    bool stop;
};

/* One outbound connection attempt (and then its pump thread). */
struct peer_conn {
    struct orderer_cons_group *g;
    struct raft_uv_connect *req;
    raft_uv_connect_cb cb;
    uint64_t id;
    char *address;
    int fd_raft;  /* our end given to libraft (loop thread) */
    int fd_pump;  /* pumped by the thread; -1 once closed (under tmu) */
    void *stream; /* peer_io stream; NULL once closed (under tmu) */
    pthread_t thread;
    int status;     /* 0, or a RAFT_* code (under tmu) */
    bool completed; /* open finished (under tmu) */
    bool delivered; /* connect cb called (loop thread) */
    bool exited;    /* thread done, joinable (under tmu) */
    struct peer_conn *next;
};

struct inbound {
    uint64_t id;
    char *address;
    int fd;
    struct inbound *next;
};

struct orderer_cons_group {
    struct orderer_cons *cons;
    const struct orderer_group_ops *ops;
    void *ctx;
    char *dir;
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    /* cluster transport */
    const struct orderer_peer_io *peer_io;
    raft_uv_accept_cb accept_cb;
    uv_async_t tasync; /* a connection thread finished opening, or an inbound came */
    pthread_mutex_t tmu;
    struct peer_conn *conns;  /* under tmu */
    struct inbound *inbounds; /* under tmu */
    bool t_closing;           /* under tmu */
    _Atomic uint64_t leader_id;
    uv_async_t wake;
    uv_timer_t timer;
    uv_timer_t poll;
    bool timer_armed;
    int state;
    bool barrier_pending;
    bool first_election;  /* short election timeout until a leader is known */
    unsigned election_ms; /* the configured election timeout */
    _Atomic bool leader;
    _Atomic uint64_t leader_changes;
    /* libuv handles + raft still to close: counted down by close callbacks
     * on the loop thread, polled by orderer__cons_group_free's thread */
    _Atomic int open_handles;
    bool closed;
    bool raft_inited, io_inited, started;
    /* creation result */
    const struct orderer_group_opts *opts;
    int rc;
    char errmsg[600];
};

/* ---- loop thread and command queue --------------------------------------- */

static void on_async(uv_async_t *h)
{
    struct orderer_cons *c = h->data;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        struct cons_cmd *cmd = c->head;
        if (cmd != NULL) {
            c->head = cmd->next;
            if (c->head == NULL) {
                c->tail = NULL;
            }
        }
        bool stop = c->stop && cmd == NULL;
        pthread_mutex_unlock(&c->mu);
        if (cmd == NULL) {
            if (stop) {
                uv_close((uv_handle_t *)&c->async, NULL);
            }
            return;
        }
        cmd->fn(cmd->arg);
        pthread_mutex_lock(&c->mu);
        cmd->done = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);
    }
}

static void *loop_main(void *arg)
{
    weft_thread_name("raft-loop");
    struct orderer_cons *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Runs fn(arg) on the loop thread and waits for it. */
static void cons_call(struct orderer_cons *c, void (*fn)(void *), void *arg)
{
    struct cons_cmd cmd = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&c->mu);
    if (c->tail != NULL) {
        c->tail->next = &cmd;
    } else {
        c->head = &cmd;
    }
    c->tail = &cmd;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->async);
    pthread_mutex_lock(&c->mu);
    while (!cmd.done) {
        pthread_cond_wait(&c->cond, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

int orderer__cons_new(struct orderer_cons **out, struct weft_err *err)
{
    /* libuv writes Raft streams with write(2), not send(MSG_NOSIGNAL): a peer
     * that went away must fail the write (EPIPE), not kill the process. The
     * daemon ignores SIGPIPE already; do it for any other embedder that left
     * the default action in place. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }
    struct orderer_cons *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    int rc = uv_loop_init(&c->loop);
    if (rc != 0) {
        weft_err_set(err, WEFT_EIO, "uv_loop_init: %s", uv_strerror(rc));
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        weft_free(c);
        return WEFT_EIO;
    }
    uv_async_init(&c->loop, &c->async, on_async);
    c->async.data = c;
    rc = pthread_create(&c->thread, NULL, loop_main, c);
    if (rc != 0) {
        uv_close((uv_handle_t *)&c->async, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        weft_free(c);
        return weft_err_set(err, -rc, "start consensus thread: %s", strerror(rc));
    }
    c->thread_started = true;
    *out = c;
    return 0;
}

void orderer__cons_free(struct orderer_cons *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_mutex_unlock(&c->mu);
    uv_async_send(&c->async);
    pthread_join(c->thread, NULL);
    uv_loop_close(&c->loop);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    weft_free(c);
}

/* ---- null transport (single voter) -------------------------------------- */

static int nt_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    (void)t;
    (void)id;
    (void)address;
    return 0;
}

static int nt_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    (void)t;
    (void)cb;
    return 0;
}

static int nt_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    (void)req;
    (void)id;
    (void)address;
    (void)cb;
    snprintf(t->errmsg, sizeof(t->errmsg), "single-voter group: no peers to connect to");
    return RAFT_NOCONNECTION;
}

static void nt_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    if (cb != NULL) {
        cb(t);
    }
}

/* ---- cluster transport (several voters) --------------------------------- */

static struct orderer_cons_group *group_of(struct raft_uv_transport *t)
{
    return (struct orderer_cons_group *)(void *)((char *)t -
                                                 offsetof(struct orderer_cons_group, transport));
}

static int ct_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    (void)t;
    (void)id;
    (void)address;
    return 0;
}

static int ct_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    group_of(t)->accept_cb = cb;
    return 0;
}

static void *conn_main(void *arg)
{
    weft_thread_name("raft-conn");
    struct peer_conn *c = arg;
    struct orderer_cons_group *g = c->g;
    void *stream = NULL;
    int rc = g->peer_io->open(g->peer_io->ctx, c->id, c->address, &stream);
    pthread_mutex_lock(&g->tmu);
    c->completed = true;
    if (rc != 0 || g->t_closing) {
        c->status = g->t_closing ? RAFT_CANCELED : RAFT_NOCONNECTION;
    } else {
        c->stream = stream;
        stream = NULL;
    }
    pthread_mutex_unlock(&g->tmu);
    if (stream != NULL) {
        g->peer_io->close(stream);
    }
    uv_async_send(&g->tasync);
    if (c->status == 0) {
        uint8_t *buf = weft_malloc(65536);
        while (buf != NULL) {
            ssize_t n = read(c->fd_pump, buf, 65536);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0 || g->peer_io->send(c->stream, buf, (size_t)n) != 0) {
                break;
            }
        }
        weft_free(buf);
    }
    pthread_mutex_lock(&g->tmu);
    stream = c->stream;
    c->stream = NULL;
    close(c->fd_pump);
    c->fd_pump = -1;
    pthread_mutex_unlock(&g->tmu);
    if (stream != NULL) {
        g->peer_io->close(stream);
    }
    pthread_mutex_lock(&g->tmu);
    c->exited = true;
    pthread_mutex_unlock(&g->tmu);
    uv_async_send(&g->tasync);
    return NULL;
}

static int ct_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                      const char *address, raft_uv_connect_cb cb)
{
    struct orderer_cons_group *g = group_of(t);
    struct peer_conn *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    c->address = weft_strdup(address);
    int fds[2];
    if (c->address == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        weft_free(c->address);
        weft_free(c);
        snprintf(t->errmsg, sizeof(t->errmsg), "socketpair: %s", strerror(errno));
        return RAFT_NOCONNECTION;
    }
    c->g = g;
    c->req = req;
    c->cb = cb;
    c->id = id;
    c->fd_raft = fds[0];
    c->fd_pump = fds[1];
    pthread_mutex_lock(&g->tmu);
    int rc = pthread_create(&c->thread, NULL, conn_main, c);
    if (rc == 0) {
        c->next = g->conns;
        g->conns = c;
    }
    pthread_mutex_unlock(&g->tmu);
    if (rc != 0) {
        close(fds[0]);
        close(fds[1]);
        weft_free(c->address);
        weft_free(c);
        snprintf(t->errmsg, sizeof(t->errmsg), "connection thread: %s", strerror(rc));
        return RAFT_NOCONNECTION;
    }
    return 0;
}

/* Wraps fd in a uv_pipe_t allocated with raft_malloc (libraft frees it). */
static uv_stream_t *pipe_of(struct orderer_cons_group *g, int fd)
{
    uv_pipe_t *p = raft_malloc(sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    if (uv_pipe_init(&g->cons->loop, p, 0) != 0) {
        raft_free(p);
        return NULL;
    }
    if (uv_pipe_open(p, fd) != 0) {
        uv_close((uv_handle_t *)p, (uv_close_cb)raft_free);
        return NULL;
    }
    return (uv_stream_t *)p;
}

static void conn_free(struct peer_conn *c)
{
    pthread_join(c->thread, NULL);
    weft_free(c->address);
    weft_free(c);
}

/* Loop thread: delivers finished connects and inbound streams, reaps
 * exited connection threads. */
static void on_tasync(uv_async_t *h)
{
    struct orderer_cons_group *g = h->data;
    /* while libraft closes, every pending connect is answered CANCELED */
    bool closing = g->closed;
    for (;;) {
        struct peer_conn *c = NULL;
        pthread_mutex_lock(&g->tmu);
        closing = closing || g->t_closing;
        for (c = g->conns; c != NULL; c = c->next) {
            if (c->completed && !c->delivered) {
                c->delivered = true;
                break;
            }
        }
        pthread_mutex_unlock(&g->tmu);
        if (c == NULL) {
            break;
        }
        uv_stream_t *st = c->status == 0 && !closing ? pipe_of(g, c->fd_raft) : NULL;
        if (st == NULL) {
            close(c->fd_raft);
            c->cb(c->req, NULL, closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
        } else {
            c->cb(c->req, st, 0);
        }
    }
    struct peer_conn *dead = NULL;
    pthread_mutex_lock(&g->tmu);
    struct inbound *in = g->inbounds;
    g->inbounds = NULL;
    for (struct peer_conn **pp = &g->conns; *pp != NULL;) {
        struct peer_conn *c = *pp;
        if (c->exited && c->delivered) {
            *pp = c->next;
            c->next = dead;
            dead = c;
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&g->tmu);
    while (dead != NULL) {
        struct peer_conn *c = dead;
        dead = c->next;
        conn_free(c);
    }
    while (in != NULL) {
        struct inbound *i = in;
        in = i->next;
        uv_stream_t *st = NULL;
        if (!closing && g->accept_cb != NULL) {
            st = pipe_of(g, i->fd);
        }
        if (st != NULL) {
            g->accept_cb(&g->transport, i->id, i->address, st);
        } else {
            close(i->fd);
        }
        weft_free(i->address);
        weft_free(i);
    }
}

static void ct_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct orderer_cons_group *g = group_of(t);
    pthread_mutex_lock(&g->tmu);
    g->t_closing = true;
    for (struct peer_conn *c = g->conns; c != NULL; c = c->next) {
        if (c->fd_pump >= 0) {
            shutdown(c->fd_pump, SHUT_RDWR);
        }
        if (c->stream != NULL) {
            g->peer_io->cancel(c->stream);
        }
    }
    struct peer_conn *conns = g->conns;
    g->conns = NULL;
    struct inbound *in = g->inbounds;
    g->inbounds = NULL;
    pthread_mutex_unlock(&g->tmu);
    /* Threads end promptly: their socket is shut down and their stream
     * cancelled; one still opening gives up within its dial timeout. */
    while (conns != NULL) {
        struct peer_conn *c = conns;
        conns = c->next;
        pthread_join(c->thread, NULL);
        if (!c->delivered) {
            close(c->fd_raft);
            c->cb(c->req, NULL, RAFT_CANCELED);
        }
        weft_free(c->address);
        weft_free(c);
    }
    while (in != NULL) {
        struct inbound *i = in;
        in = i->next;
        close(i->fd);
        weft_free(i->address);
        weft_free(i);
    }
    g->accept_cb = NULL;
    if (cb != NULL) {
        cb(t);
    }
}

void orderer__cons_group_accept(struct orderer_cons_group *g, uint64_t id, const char *address,
                                int fd)
{
    struct inbound *i = weft_calloc(1, sizeof(*i));
    if (i != NULL) {
        i->address = weft_strdup(address);
    }
    pthread_mutex_lock(&g->tmu);
    if (i == NULL || i->address == NULL || g->t_closing || g->peer_io == NULL) {
        pthread_mutex_unlock(&g->tmu);
        close(fd);
        if (i != NULL) {
            weft_free(i->address);
            weft_free(i);
        }
        return;
    }
    i->id = id;
    i->fd = fd;
    i->next = g->inbounds;
    g->inbounds = i;
    pthread_mutex_unlock(&g->tmu);
    uv_async_send(&g->tasync);
}

/* ---- FSM ----------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct orderer_cons_group *g = fsm->data;
    *result = NULL;
    /* entry = 8-byte little-endian length, data, zero padding (see propose) */
    const uint8_t *p = buf->base;
    uint64_t n = 0;
    for (int i = 0; buf->len >= 8 && i < 8; i++) {
        n |= (uint64_t)p[i] << (8 * i);
    }
    if (buf->len < 8 || n > buf->len - 8) {
        WEFT_ERROR(lg_raft, "%s: malformed Raft entry (%zu bytes) skipped", g->dir, buf->len);
        return 0;
    }
    g->ops->on_apply(g->ctx, p + 8, (size_t)n);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    /* The ledger is the state: the snapshot only marks the point. */
    struct raft_buffer *b = raft_malloc(sizeof(*b));
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    b->base = raft_malloc(8);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    memset(b->base, 0, 8);
    b->len = 8;
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    for (unsigned i = 0; i < *n_bufs; i++) {
        raft_free((*bufs)[i].base);
    }
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

/* ---- leadership --------------------------------------------------------- */

static void on_barrier(struct raft_barrier *req, int status)
{
    struct orderer_cons_group *g = req->data;
    weft_free(req);
    if (g->closed) {
        return;
    }
    g->barrier_pending = false;
    if (status == 0 && raft_state(&g->raft) == RAFT_LEADER) {
        atomic_store(&g->leader, true);
        WEFT_INFO(lg_raft, "%s: leader (term %llu)", g->dir,
                  (unsigned long long)g->raft.current_term);
        g->ops->on_leader(g->ctx, true);
    }
}

static void on_poll(uv_timer_t *t)
{
    struct orderer_cons_group *g = t->data;
    raft_id lid = 0;
    const char *laddr = NULL;
    raft_leader(&g->raft, &lid, &laddr);
    if (g->first_election && lid != 0) {
        g->first_election = false;
        raft_set_election_timeout(&g->raft, g->election_ms);
        WEFT_INFO(lg_raft, "%s: first leader %llu (term %llu), election timeout back to %u ms",
                  g->dir, (unsigned long long)lid, (unsigned long long)g->raft.current_term,
                  g->election_ms);
    }
    if (atomic_exchange(&g->leader_id, (uint64_t)lid) != (uint64_t)lid) {
        WEFT_INFO(lg_raft, "%s: leader is now %llu (term %llu)", g->dir, (unsigned long long)lid,
                  (unsigned long long)g->raft.current_term);
        if (lid != 0) {
            atomic_fetch_add(&g->leader_changes, 1);
        }
        if (g->ops->on_leader_id != NULL) {
            g->ops->on_leader_id(g->ctx, (uint64_t)lid);
        }
    }
    int st = raft_state(&g->raft);
    if (st == g->state) {
        return;
    }
    int was = g->state;
    g->state = st;
    if (st == RAFT_LEADER) {
        struct raft_barrier *b = weft_calloc(1, sizeof(*b));
        if (b == NULL) {
            return;
        }
        b->data = g;
        g->barrier_pending = true;
        if (raft_barrier(&g->raft, b, on_barrier) != 0) {
            g->barrier_pending = false;
            weft_free(b);
            g->state = RAFT_FOLLOWER; /* retry on the next poll */
        }
    } else if (was == RAFT_LEADER) {
        if (atomic_exchange(&g->leader, false)) {
            WEFT_INFO(lg_raft, "%s: no longer leader", g->dir);
            g->ops->on_leader(g->ctx, false);
        }
    }
}

/* ---- group life cycle --------------------------------------------------- */

/* The Raft id that campaigns first on a new channel of n consenters (ids
 * 1..n), as Fabric picks it: SHA-256 of the channel name, bytes 24..31 read
 * as a protobuf varint (0 when it does not end there), modulo n, plus 1. */
static uint64_t first_campaigner(const char *dir, unsigned n)
{
    const char *slash = strrchr(dir, '/');
    const char *channel = slash != NULL ? slash + 1 : dir;
    uint8_t h[WEFT_SHA256_LEN];
    weft_sha256(channel, strlen(channel), h);
    uint64_t v = 0;
    bool ended = false;
    for (unsigned i = 0; i < 8 && !ended; i++) {
        v |= (uint64_t)(h[24 + i] & 0x7fu) << (7 * i);
        ended = (h[24 + i] & 0x80u) == 0;
    }
    return (ended ? v : 0) % n + 1;
}

static void on_wake(uv_async_t *h)
{
    struct orderer_cons_group *g = h->data;
    if (!g->closed) {
        g->ops->on_wake(g->ctx);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct orderer_cons_group *g = t->data;
    g->timer_armed = false;
    if (!g->closed) {
        g->ops->on_timer(g->ctx);
    }
}

static void group_create(void *arg)
{
    struct orderer_cons_group *g = arg;
    const struct orderer_group_opts *o = g->opts;
    uv_loop_t *loop = &g->cons->loop;
    uv_async_init(loop, &g->wake, on_wake);
    g->wake.data = g;
    uv_timer_init(loop, &g->timer);
    g->timer.data = g;
    uv_timer_init(loop, &g->poll);
    g->poll.data = g;
    g->open_handles = 3;
    uv_async_init(loop, &g->tasync, on_tasync);
    g->tasync.data = g;
    g->open_handles++;

    if (o->n_voters > 1) {
        g->peer_io = o->peer_io;
        g->transport = (struct raft_uv_transport){
            .init = ct_init, .listen = ct_listen, .connect = ct_connect, .close = ct_close};
    } else {
        g->transport = (struct raft_uv_transport){
            .init = nt_init, .listen = nt_listen, .connect = nt_connect, .close = nt_close};
    }
    g->fsm = (struct raft_fsm){.version = 2,
                               .data = g,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore,
                               .snapshot_finalize = fsm_snapshot_finalize};
    char address[300];
    snprintf(address, sizeof(address), "weft-%llu", (unsigned long long)o->id);
    for (unsigned i = 0; i < o->n_voters && o->voters != NULL; i++) {
        if (o->voters[i].id == o->id) {
            snprintf(address, sizeof(address), "%s", o->voters[i].address);
        }
    }
    int rc = raft_uv_init(&g->io, loop, g->dir, &g->transport);
    if (rc != 0) {
        g->rc = rc;
        snprintf(g->errmsg, sizeof(g->errmsg), "raft_uv_init: %s", g->io.errmsg);
        return;
    }
    g->io_inited = true;
    rc = raft_init(&g->raft, &g->io, &g->fsm, o->id, address);
    if (rc != 0) {
        g->rc = rc;
        snprintf(g->errmsg, sizeof(g->errmsg), "raft_init: %s", raft_errmsg(&g->raft));
        return;
    }
    g->raft_inited = true;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    if (o->n_voters > 1) {
        rc = 0;
        for (unsigned i = 0; rc == 0 && i < o->n_voters; i++) {
            rc = raft_configuration_add(&conf, o->voters[i].id, o->voters[i].address, RAFT_VOTER);
        }
    } else {
        rc = raft_configuration_add(&conf, o->id, address, RAFT_VOTER);
    }
    bool fresh = false;
    if (rc == 0) {
        rc = raft_bootstrap(&g->raft, &conf);
        fresh = rc == 0;
        if (rc == RAFT_CANTBOOTSTRAP) {
            rc = 0; /* already bootstrapped: restart */
        }
    }
    raft_configuration_close(&conf);
    if (rc != 0) {
        g->rc = rc;
        snprintf(g->errmsg, sizeof(g->errmsg), "raft_bootstrap: %s", raft_strerror(rc));
        return;
    }
    g->election_ms = o->election_ms ? o->election_ms : 1000;
    unsigned heartbeat = o->heartbeat_ms ? o->heartbeat_ms : 100;
    raft_set_election_timeout(&g->raft, g->election_ms);
    if (fresh && o->n_voters > 1 && heartbeat < g->election_ms &&
        first_campaigner(g->dir, o->n_voters) == o->id) {
        g->first_election = true;
        raft_set_election_timeout(&g->raft, heartbeat);
        WEFT_INFO(lg_raft, "%s: new channel, node %llu stands for election first", g->dir,
                  (unsigned long long)o->id);
    }
    raft_set_heartbeat_timeout(&g->raft, heartbeat);
    raft_set_snapshot_threshold(&g->raft, 1u << 20);
    raft_set_snapshot_trailing(&g->raft, 1u << 19);
    rc = raft_start(&g->raft);
    if (rc != 0) {
        g->rc = rc;
        snprintf(g->errmsg, sizeof(g->errmsg), "raft_start: %s", raft_errmsg(&g->raft));
        return;
    }
    g->started = true;
    g->state = RAFT_UNAVAILABLE;
    uv_timer_start(&g->poll, on_poll, 1, 20);
}

static void handle_closed(uv_handle_t *h)
{
    struct orderer_cons_group *g = h->data;
    g->open_handles--;
}

static void raft_closed(struct raft *r)
{
    struct orderer_cons_group *g = r->data;
    g->open_handles--;
    /* the transport is closed: no connection thread is left to signal it */
    uv_close((uv_handle_t *)&g->tasync, handle_closed);
}

static void group_close(void *arg)
{
    struct orderer_cons_group *g = arg;
    g->closed = true;
    atomic_store(&g->leader, false);
    if (g->open_handles > 0) {
        uv_close((uv_handle_t *)&g->wake, handle_closed);
        uv_close((uv_handle_t *)&g->timer, handle_closed);
        uv_close((uv_handle_t *)&g->poll, handle_closed);
        if (!g->raft_inited) {
            uv_close((uv_handle_t *)&g->tasync, handle_closed);
        }
    }
    if (g->raft_inited) {
        g->open_handles++;
        g->raft.data = g;
        raft_close(&g->raft, raft_closed);
    }
}

static void group_check_closed(void *arg)
{
    (void)arg;
}

void orderer__cons_group_free(struct orderer_cons_group *g)
{
    if (g == NULL) {
        return;
    }
    cons_call(g->cons, group_close, g);
    /* Let the loop finish the close callbacks; poll with a no-op command. */
    for (;;) {
        cons_call(g->cons, group_check_closed, g);
        pthread_mutex_lock(&g->cons->mu);
        int open = g->open_handles;
        pthread_mutex_unlock(&g->cons->mu);
        if (open <= 0) {
            break;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (g->io_inited && !g->raft_inited) {
        /* raft_close closes the io; without raft it must be closed here */
        raft_uv_close(&g->io);
    } else if (g->io_inited) {
        raft_uv_close(&g->io);
    }
    pthread_mutex_destroy(&g->tmu);
    weft_free(g->dir);
    weft_free(g);
}

int orderer__cons_group_new(struct orderer_cons *c, const struct orderer_group_opts *opts,
                            const struct orderer_group_ops *ops, void *ctx,
                            struct orderer_cons_group **out, struct weft_err *err)
{
    if (opts->n_voters == 0 ||
        (opts->n_voters > 1 && (opts->peer_io == NULL || opts->voters == NULL))) {
        return weft_err_set(err, WEFT_EINVAL, "Raft group: %u voters without a transport",
                            opts->n_voters);
    }
    if (mkdir(opts->dir, 0750) != 0 && errno != EEXIST) {
        return weft_err_set(err, -errno, "create %s: %s", opts->dir, strerror(errno));
    }
    struct orderer_cons_group *g = weft_calloc(1, sizeof(*g));
    if (g == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&g->tmu, NULL);
    g->cons = c;
    g->ops = ops;
    g->ctx = ctx;
    g->opts = opts;
    g->dir = weft_strdup(opts->dir);
    if (g->dir == NULL) {
        weft_free(g);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    cons_call(c, group_create, g);
    g->opts = NULL;
    if (g->rc != 0) {
        int rc = weft_err_set(err, WEFT_EIO, "raft group in %s: %s", opts->dir, g->errmsg);
        orderer__cons_group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void orderer__cons_group_wake(struct orderer_cons_group *g)
{
    uv_async_send(&g->wake);
}

void orderer__cons_group_timer(struct orderer_cons_group *g, int64_t ns)
{
    if (ns <= 0) {
        if (g->timer_armed) {
            uv_timer_stop(&g->timer);
            g->timer_armed = false;
        }
        return;
    }
    uint64_t ms = (uint64_t)(ns + 999999) / 1000000;
    uv_timer_start(&g->timer, on_timer, ms, 0);
    g->timer_armed = true;
}

bool orderer__cons_group_timer_armed(struct orderer_cons_group *g)
{
    return g->timer_armed;
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    if (status != 0) {
        WEFT_WARN(lg_raft, "proposal failed: %s", raft_strerror(status));
    }
    weft_free(req);
}

int orderer__cons_group_propose(struct orderer_cons_group *g, const uint8_t *data, size_t len)
{
    if (!atomic_load(&g->leader) || g->closed) {
        return WEFT_EUNAVAILABLE;
    }
    /* Entries are framed to a multiple of 8 bytes: libraft 0.15 copies
     * entry data in 8-byte padded units on the follower side and reads past
     * the end of an unpadded receive buffer (found by ASan). */
    size_t framed = (8 + len + 7) & ~(size_t)7;
    struct raft_buffer buf = {.base = raft_malloc(framed), .len = framed};
    if (buf.base == NULL) {
        return WEFT_ENOMEM;
    }
    uint8_t *p = buf.base;
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(p + 8, data, len);
    memset(p + 8 + len, 0, framed - 8 - len);
    struct raft_apply *req = weft_calloc(1, sizeof(*req));
    if (req == NULL) {
        raft_free(buf.base);
        return WEFT_ENOMEM;
    }
    int rc = raft_apply(&g->raft, req, &buf, 1, on_applied);
    if (rc != 0) {
        raft_free(buf.base);
        weft_free(req);
        WEFT_WARN(lg_raft, "raft_apply: %s", raft_strerror(rc));
        return rc == RAFT_NOTLEADER ? WEFT_EUNAVAILABLE : WEFT_EIO;
    }
    return 0;
}

bool orderer__cons_group_is_leader(struct orderer_cons_group *g)
{
    return atomic_load(&g->leader);
}

uint64_t orderer__cons_group_leader_changes(struct orderer_cons_group *g)
{
    return atomic_load(&g->leader_changes);
}

uint64_t orderer__cons_group_leader_id(struct orderer_cons_group *g)
{
    return atomic_load(&g->leader_id);
}

uint64_t orderer__cons_group_next_index(struct orderer_cons_group *g)
{
    return (uint64_t)raft_last_index(&g->raft) + 1;
}
