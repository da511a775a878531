/*
 * orderer.AtomicBroadcast/Broadcast (and the consenters' Submit stream, which
 * carries envelopes a follower forwards): one BroadcastResponse per
 * envelope, in order; after a non-SUCCESS reply the stream ends (status OK),
 * as Fabric's handler does. SUCCESS means "in a block committed by the Raft
 * group and written by the leader" (stronger than Fabric's "queued": an
 * acknowledged envelope survives a leader crash).
 *
 * Event-driven (weft_rpc_server_add_stream_cb): no thread is held per
 * stream. Each envelope is admitted on the completion-queue thread that
 * received it (parse, channel checks, signature and Writers policy), then
 *   - on the leader, queued for ordering with a commit ticket whose callback
 *     settles it from the chain's committer thread;
 *   - on a follower, handed to the node's forwarder (one for all Broadcast
 *     streams): a sender thread that opens one SubmitBatch stream to the
 *     leader and writes what is queued as one message (up to
 *     BC_FWD_MSG_MAX bytes), and a reader thread that settles the forwarded
 *     envelopes from the leader's answers, in order. The leader answers a
 *     run of envelopes settled together with one message ("the next n got
 *     SUCCESS"): per forwarded envelope, no gRPC message of its own either
 *     way (see orderer_int.h for the wire format).
 * Items wait in a per-stream FIFO; whoever settles one sends every settled
 * reply at the head, so replies leave in envelope order. Receipt pauses
 * while BC_MAX_INFLIGHT replies are owed.
 *
 * Lifetime: the stream state lives until the call has ended and every item
 * is settled; weft_rpc_call_done() is called once the call ended and either
 * everything owed was sent or nothing more can be sent.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "orderer/ab.pb-c.h"
#include "orderer_int.h"
#include "weft/log.h"
#include "weft/ops.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_bcast, "orderer.common.broadcast");

#define BC_MAX_INFLIGHT 2048
#define BC_RESUME_AT (BC_MAX_INFLIGHT / 2)
#define BC_FORWARD_WAIT_NS (40ull * 1000000000ull)
#define BC_FORWARD_POLL_MS 1000
#define BC_FWD_MSG_MAX ((size_t)1 << 20)

struct bc_stream;
struct bc_fwd;

struct bc_item {
    struct bc_stream *bs;
    bool settled;
    int status;
    char info[ORDERER_INFO_LEN];
    char *channel;
    int type;
    uint64_t validate_ns;
    struct bc_item *next; /* stream FIFO */
    /* forwarded envelopes: the bytes until sent, and the forwarder's queues */
    uint8_t *env;
    size_t env_len;
    struct bc_item *fnext;
};

struct bc_stream {
    struct weft_orderer *o;
    struct weft_rpc_call *call;
    bool from_cluster;
    /* the last chain (and its config) the forwarding caller was found to be
     * a consenter of: one certificate comparison per stream, not per
     * envelope (receipt is serial, so only the receiving thread uses it) */
    const struct orderer_chain *consenter_of;
    const void *consenter_conf;
    pthread_mutex_t mu; /* guards the fields below */
    struct bc_item *head, *tail;
    size_t n;
    bool paused;   /* receipt paused: too many replies owed */
    bool stop;     /* a refusal was sent, or sending failed: reply no more */
    bool ended;    /* the end callback ran */
    bool released; /* weft_rpc_call_done called */
    /* metric children of the last reply's labels (the registry keeps them) */
    struct {
        char channel[256];
        int type, status;
        struct weft_metrics_counter *count;
        struct weft_metrics_histogram *validate;
        bool set;
    } m;
};

/* A follower's forwarding stream to the leader, shared by all its
 * Broadcast streams (o->fwd_shared) until it breaks or the leader moves. */
struct bc_fwd {
    struct weft_orderer *o;
    char addr[300];
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cond;
    int refs; /* o->fwd_shared, the sender and reader threads, forward() calls */
    struct bc_item *sendq, *sendq_tail; /* admitted, to send */
    struct bc_item *ackq, *ackq_tail;   /* sent, awaiting the leader's answer */
    uint64_t ack_wait_since;            /* when ackq last became non-empty or moved */
    struct weft_rpc_stream *s;          /* once the sender opened it */
    bool closing;
    bool broken;
    char broken_info[ORDERER_INFO_LEN];
    struct bc_fwd *live_next; /* the orderer's list of live forwarders (o->mu) */
};

/* ---- metrics and replies ---------------------------------------------------------- */

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

/* Counts a reply by {channel, type, status}; the children of the stream's
 * last labels are reused (one lookup per stream and label change). Stream
 * lock held. */
static void count_bcast(struct bc_stream *bs, const struct bc_item *it)
{
    struct weft_orderer *o = bs->o;
    const char *channel = it->channel != NULL ? it->channel : "";
    if (!bs->m.set || bs->m.type != it->type || bs->m.status != it->status ||
        strcmp(bs->m.channel, channel) != 0) {
        const char *v[] = {channel, it->type >= 0 ? type_name(it->type) : "",
                           orderer__status_name(it->status)};
        bs->m.count = o->m_bcast != NULL ? weft_metrics_counter_with(o->m_bcast, v) : NULL;
        bs->m.validate = o->m_bcast_validate != NULL
                             ? weft_metrics_histogram_with(o->m_bcast_validate, v)
                             : NULL;
        snprintf(bs->m.channel, sizeof(bs->m.channel), "%s", channel);
        bs->m.type = it->type;
        bs->m.status = it->status;
        /* a channel name longer than the cache is looked up every time */
        bs->m.set = strlen(channel) < sizeof(bs->m.channel);
    }
    if (bs->m.count != NULL) {
        weft_metrics_counter_inc(bs->m.count);
    }
    if (bs->m.validate != NULL && it->validate_ns > 0) {
        weft_metrics_histogram_observe(bs->m.validate, (double)it->validate_ns / 1e9);
    }
}

static int send_reply(struct weft_rpc_call *call, int st, const char *info)
{
    Orderer__BroadcastResponse r = ORDERER__BROADCAST_RESPONSE__INIT;
    r.status = (Common__Status)st;
    r.info = (char *)(st == ORDERER_SUCCESS ? "" : info);
    uint8_t buf[ORDERER_INFO_LEN + 32];
    size_t n = orderer__broadcast_response__pack(&r, buf);
    return weft_rpc_call_send(call, buf, n);
}

static int send_answer(struct weft_rpc_call *call, size_t count, int st, const char *info)
{
    uint8_t buf[ORDERER_INFO_LEN + 64];
    size_t n = orderer__submit_answer_pack(count, st, st == ORDERER_SUCCESS ? "" : info, buf);
    return weft_rpc_call_send(call, buf, n);
}

static void item_free(struct bc_item *it)
{
    weft_free(it->channel);
    weft_free(it->env);
    weft_free(it);
}

/* ---- settling and replying -------------------------------------------------------- */

static void stream_free(struct bc_stream *bs)
{
    pthread_mutex_destroy(&bs->mu);
    weft_free(bs);
}

/* Sends the settled replies at the head of the FIFO, pauses or resumes
 * receipt, and hands the call back once it ended and nothing more is owed
 * (the rpc calls used here never run a stream callback, so they are safe
 * under the stream lock, and a released call is never touched again).
 * Returns true when the state is to be freed, after unlocking. Stream lock
 * held. */
static bool drain_locked(struct bc_stream *bs)
{
    while (bs->head != NULL && bs->head->settled) {
        struct bc_item *it = bs->head;
        /* a forwarding stream answers a run of settled SUCCESSes at once */
        size_t run = 1;
        if (bs->from_cluster && it->status == ORDERER_SUCCESS) {
            for (struct bc_item *x = it->next;
                 x != NULL && x->settled && x->status == ORDERER_SUCCESS; x = x->next) {
                run++;
            }
        }
        bool reply = !bs->stop && !bs->released;
        int status = it->status;
        if (reply) {
            if (status != ORDERER_SUCCESS) {
                WEFT_WARN(lg_bcast, "[channel: %s] rejecting broadcast message from %s: %s: %s",
                          it->channel != NULL ? it->channel : "?", weft_rpc_call_peer(bs->call),
                          orderer__status_name(status), it->info);
            }
            int rc = bs->from_cluster ? send_answer(bs->call, run, status, it->info)
                                      : send_reply(bs->call, status, it->info);
            if (rc != 0 || status != ORDERER_SUCCESS) {
                bs->stop = true; /* Fabric ends the stream after a refusal */
                weft_rpc_call_pause_recv(bs->call);
                (void)weft_rpc_call_finish(bs->call, WEFT_RPC_OK, NULL);
            }
        }
        for (size_t k = 0; k < run; k++) {
            it = bs->head;
            bs->head = it->next;
            if (bs->head == NULL) {
                bs->tail = NULL;
            }
            bs->n--;
            if (reply) {
                count_bcast(bs, it);
            }
            item_free(it);
        }
    }
    if (bs->paused && !bs->stop && !bs->released && bs->n <= BC_RESUME_AT) {
        bs->paused = false;
        weft_rpc_call_resume_recv(bs->call);
    }
    if (bs->ended && !bs->released && (bs->stop || bs->head == NULL)) {
        bs->released = true;
        weft_rpc_call_done(bs->call);
    }
    return bs->released && bs->head == NULL;
}

/* Settles one item with its outcome and, with drain, replies what can be
 * replied. Without drain the caller settles another item of the same
 * stream right after (with drain on the last one), so that a run leaves
 * together. Any thread; the item must not be touched afterwards. */
static void settle_ex(struct bc_item *it, int status, const char *info, bool drain)
{
    struct bc_stream *bs = it->bs;
    pthread_mutex_lock(&bs->mu);
    it->settled = true;
    it->status = status;
    if (status == ORDERER_SUCCESS) {
        it->info[0] = '\0';
    } else {
        snprintf(it->info, sizeof(it->info), "%s", info != NULL ? info : "");
    }
    bool free_state = drain && drain_locked(bs);
    pthread_mutex_unlock(&bs->mu);
    if (free_state) {
        stream_free(bs);
    }
}

static void settle(struct bc_item *it, int status, const char *info)
{
    settle_ex(it, status, info, true);
}

static void on_committed(void *arg, int status, const char *info, bool more)
{
    /* only a forwarding stream gains by holding replies back: its run
     * leaves as one message. A client stream's replies are one message
     * each, and a burst of them would only fill its send queue (whose
     * bound makes the committer wait). */
    struct bc_item *it = arg;
    settle_ex(it, status, info, !more || !it->bs->from_cluster);
}

/* ---- forwarding to the leader ------------------------------------------------------ */

static void fwd_unref(struct bc_fwd *f)
{
    pthread_mutex_lock(&f->mu);
    bool last = --f->refs == 0;
    pthread_mutex_unlock(&f->mu);
    if (!last) {
        return;
    }
    struct weft_orderer *o = f->o;
    pthread_mutex_lock(&o->mu);
    for (struct bc_fwd **p = &o->fwd_live; *p != NULL; p = &(*p)->live_next) {
        if (*p == f) {
            *p = f->live_next;
            break;
        }
    }
    pthread_cond_broadcast(&o->fwd_cond);
    pthread_mutex_unlock(&o->mu);
    weft_rpc_stream_free(f->s);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    weft_free(f);
}

/* Marks the forwarder broken and takes every item it still holds (to be
 * settled UNAVAILABLE by the caller, without the lock). Forwarder lock held. */
static struct bc_item *fwd_break_locked(struct bc_fwd *f, const char *why)
{
    if (!f->broken) {
        f->broken = true;
        snprintf(f->broken_info, sizeof(f->broken_info), "%s", why);
    }
    struct bc_item *all = f->ackq;
    if (f->ackq_tail != NULL) {
        f->ackq_tail->fnext = f->sendq;
    } else {
        all = f->sendq;
    }
    f->ackq = f->ackq_tail = f->sendq = f->sendq_tail = NULL;
    pthread_cond_broadcast(&f->cond);
    return all;
}

static void settle_list(struct bc_item *list, int status, const char *info)
{
    while (list != NULL) {
        struct bc_item *next = list->fnext;
        settle(list, status, info);
        list = next;
    }
}

static void fwd_fail(struct bc_fwd *f, const char *why)
{
    pthread_mutex_lock(&f->mu);
    struct bc_item *all = fwd_break_locked(f, why);
    char info[ORDERER_INFO_LEN];
    snprintf(info, sizeof(info), "%s", f->broken_info);
    pthread_mutex_unlock(&f->mu);
    settle_list(all, ORDERER_UNAVAILABLE, info);
}

static void *fwd_reader(void *arg)
{
    weft_thread_name("bcast-fwd-rd");
    struct bc_fwd *f = arg;
    for (;;) {
        uint8_t *msg = NULL;
        size_t len = 0;
        int rc = weft_rpc_stream_recv(f->s, &msg, &len, BC_FORWARD_POLL_MS);
        if (rc == WEFT_ETIMEDOUT) {
            pthread_mutex_lock(&f->mu);
            bool late = f->ackq != NULL &&
                        weft_clock_mono_ns() - f->ack_wait_since > BC_FORWARD_WAIT_NS;
            bool idle_end = f->broken || (f->closing && f->ackq == NULL && f->sendq == NULL);
            pthread_mutex_unlock(&f->mu);
            if (late) {
                char why[ORDERER_INFO_LEN];
                snprintf(why, sizeof(why),
                         "forwarding to the leader at %.100s failed (no answer in time); the "
                         "envelope may or may not be ordered",
                         f->addr);
                fwd_fail(f, why);
                break;
            }
            if (idle_end) {
                break;
            }
            continue;
        }
        uint64_t count = 0;
        int st = 0;
        char info[ORDERER_INFO_LEN];
        bool ok = rc == 0 && msg != NULL &&
                  orderer__submit_answer_unpack(msg, len, &count, &st, info) == 0;
        weft_free(msg);
        if (!ok) {
            char why[ORDERER_INFO_LEN];
            snprintf(why, sizeof(why),
                     "forwarding to the leader at %.100s failed (stream ended); the envelope "
                     "may or may not be ordered",
                     f->addr);
            fwd_fail(f, why);
            break;
        }
        /* the answer is for the next `count` envelopes sent */
        pthread_mutex_lock(&f->mu);
        struct bc_item *run = f->ackq, *last = NULL;
        uint64_t taken = 0;
        for (struct bc_item *x = f->ackq; x != NULL && taken < count; x = x->fnext) {
            last = x;
            taken++;
        }
        if (last != NULL) {
            f->ackq = last->fnext;
            last->fnext = NULL;
            if (f->ackq == NULL) {
                f->ackq_tail = NULL;
            }
            f->ack_wait_since = weft_clock_mono_ns();
        } else {
            run = NULL;
        }
        pthread_mutex_unlock(&f->mu);
        while (run != NULL) {
            struct bc_item *next = run->fnext;
            /* replies of one client stream leave together */
            settle_ex(run, st, info, next == NULL || next->bs != run->bs);
            run = next;
        }
        if (taken < count) {
            char why[ORDERER_INFO_LEN];
            snprintf(why, sizeof(why),
                     "forwarding to the leader at %.100s failed (more answers than envelopes)",
                     f->addr);
            fwd_fail(f, why);
            break;
        }
        if (st != ORDERER_SUCCESS) {
            /* the leader ends the stream after a refusal without reading on */
            char why[ORDERER_INFO_LEN];
            snprintf(why, sizeof(why), "forwarding to the leader at %.100s failed", f->addr);
            fwd_fail(f, why);
            break;
        }
    }
    fwd_unref(f);
    return NULL;
}

static void *fwd_sender(void *arg)
{
    weft_thread_name("bcast-fwd");
    struct bc_fwd *f = arg;
    char info[ORDERER_INFO_LEN] = "";
    struct weft_rpc_stream *s = orderer__cluster_open_submit(f->o->cluster, f->addr, info);
    pthread_t rd;
    pthread_mutex_lock(&f->mu);
    f->s = s;
    bool ok = s != NULL && !f->broken;
    if (ok) {
        f->refs++;
        if (pthread_create(&rd, NULL, fwd_reader, f) != 0) {
            f->refs--;
            ok = false;
            snprintf(info, sizeof(info), "no thread to forward to the leader at %.100s", f->addr);
        } else {
            pthread_detach(rd);
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (!ok) {
        fwd_fail(f, info[0] ? info : "forwarding to the leader failed");
        fwd_unref(f);
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, (size_t)1 << 30);
    for (;;) {
        pthread_mutex_lock(&f->mu);
        while (f->sendq == NULL && !f->closing && !f->broken) {
            pthread_cond_wait(&f->cond, &f->mu);
        }
        if (f->broken || f->sendq == NULL) {
            pthread_mutex_unlock(&f->mu);
            break; /* broken (items settled by whoever broke it), or closing */
        }
        struct bc_item *batch = f->sendq;
        f->sendq = f->sendq_tail = NULL;
        if (f->ackq == NULL) {
            f->ack_wait_since = weft_clock_mono_ns();
        }
        /* what is sent waits for its answer in order; take the bytes now */
        struct bc_item *last = batch;
        size_t n = 0;
        for (struct bc_item *it = batch; it != NULL; it = it->fnext) {
            last = it;
            n++;
        }
        uint8_t **envs = weft_calloc(n, sizeof(*envs));
        size_t *lens = weft_calloc(n, sizeof(*lens));
        if (envs == NULL || lens == NULL) {
            f->sendq = batch;
            f->sendq_tail = last;
            struct bc_item *all = fwd_break_locked(f, "out of memory");
            pthread_mutex_unlock(&f->mu);
            weft_free(envs);
            weft_free(lens);
            settle_list(all, ORDERER_UNAVAILABLE, "out of memory");
            break;
        }
        size_t k = 0;
        for (struct bc_item *it = batch; it != NULL; it = it->fnext) {
            envs[k] = it->env;
            lens[k++] = it->env_len;
            it->env = NULL;
        }
        if (f->ackq_tail != NULL) {
            f->ackq_tail->fnext = batch;
        } else {
            f->ackq = batch;
        }
        f->ackq_tail = last;
        pthread_mutex_unlock(&f->mu);
        /* what is queued goes out as SubmitBatch messages of up to
         * BC_FWD_MSG_MAX bytes (one envelope larger than that alone) */
        bool failed = false;
        for (k = 0; k < n; k++) {
            if (!failed && b.len > 0 && b.len + lens[k] > BC_FWD_MSG_MAX) {
                failed = weft_rpc_stream_send(f->s, b.data, b.len) != 0;
                weft_buf_reset(&b);
            }
            if (!failed && orderer__submit_batch_add(&b, envs[k], lens[k]) != 0) {
                failed = true;
            }
            weft_free(envs[k]);
        }
        if (!failed && b.len > 0) {
            failed = weft_rpc_stream_send(f->s, b.data, b.len) != 0;
        }
        weft_buf_reset(&b);
        weft_free(envs);
        weft_free(lens);
        if (failed) {
            char why[ORDERER_INFO_LEN];
            snprintf(why, sizeof(why), "forwarding to the leader at %.100s failed", f->addr);
            fwd_fail(f, why);
            break;
        }
    }
    weft_buf_close(&b);
    if (weft_rpc_stream_close_send(f->s) != 0) {
        fwd_fail(f, "forwarding stream to the leader ended");
    }
    fwd_unref(f);
    return NULL;
}

/* A new forwarder to addr with two references (o->fwd_shared's and the
 * sender thread's), or NULL. o->mu held. */
static struct bc_fwd *fwd_start_locked(struct weft_orderer *o, const char *addr)
{
    struct bc_fwd *f = weft_calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->o = o;
    snprintf(f->addr, sizeof(f->addr), "%s", addr);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->refs = 2;
    pthread_t th;
    if (pthread_create(&th, NULL, fwd_sender, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cond);
        weft_free(f);
        return NULL;
    }
    pthread_detach(th);
    f->live_next = o->fwd_live;
    o->fwd_live = f;
    return f;
}

/* Retires a forwarder: what is queued still goes out and is answered, then
 * its threads end. Drops the caller's reference. */
static void fwd_close(struct bc_fwd *f)
{
    pthread_mutex_lock(&f->mu);
    f->closing = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
    fwd_unref(f);
}

/* The node's forwarder to addr, referenced (fwd_unref), or NULL. */
static struct bc_fwd *fwd_get(struct weft_orderer *o, const char *addr)
{
    struct bc_fwd *old = NULL;
    pthread_mutex_lock(&o->mu);
    struct bc_fwd *f = o->fwd_shared;
    if (f != NULL) {
        pthread_mutex_lock(&f->mu);
        bool stale = f->broken || strcmp(f->addr, addr) != 0;
        pthread_mutex_unlock(&f->mu);
        if (stale) {
            old = f;
            f = o->fwd_shared = NULL;
        }
    }
    if (f == NULL) {
        f = o->fwd_shared = fwd_start_locked(o, addr);
    }
    if (f != NULL) {
        pthread_mutex_lock(&f->mu);
        f->refs++;
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_unlock(&o->mu);
    if (old != NULL) {
        fwd_close(old);
    }
    return f;
}

/* Hands an admitted envelope (env taken) to the forwarder to addr. */
static void forward(struct bc_stream *bs, const char *addr, struct bc_item *it, uint8_t *env,
                    size_t len)
{
    struct bc_fwd *f = fwd_get(bs->o, addr);
    if (f == NULL) {
        weft_free(env);
        settle(it, ORDERER_UNAVAILABLE, "no resources to forward to the leader");
        return;
    }
    it->env = env;
    it->env_len = len;
    pthread_mutex_lock(&f->mu);
    if (f->broken) {
        char info[ORDERER_INFO_LEN];
        snprintf(info, sizeof(info), "%s", f->broken_info);
        pthread_mutex_unlock(&f->mu);
        settle(it, ORDERER_UNAVAILABLE, info);
    } else {
        if (f->sendq_tail != NULL) {
            f->sendq_tail->fnext = it;
        } else {
            f->sendq = it;
        }
        f->sendq_tail = it;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->mu);
    }
    fwd_unref(f);
}

void orderer__broadcast_stop_forwarders(struct weft_orderer *o)
{
    pthread_mutex_lock(&o->mu);
    struct bc_fwd *shared = o->fwd_shared;
    o->fwd_shared = NULL;
    pthread_mutex_unlock(&o->mu);
    if (shared != NULL) {
        fwd_close(shared);
    }
    pthread_mutex_lock(&o->mu);
    for (struct bc_fwd *f = o->fwd_live; f != NULL; f = f->live_next) {
        pthread_mutex_lock(&f->mu);
        f->closing = true;
        pthread_cond_broadcast(&f->cond);
        if (f->s != NULL) {
            weft_rpc_stream_cancel(f->s);
        }
        pthread_mutex_unlock(&f->mu);
    }
    while (o->fwd_live != NULL) {
        pthread_cond_wait(&o->fwd_cond, &o->mu);
    }
    pthread_mutex_unlock(&o->mu);
}

/* ---- admission --------------------------------------------------------------------- */

/* Whether the forwarding caller of bs is one of ch's consenters. */
static bool caller_is_consenter(struct bc_stream *bs, struct orderer_chain *ch)
{
    const void *conf = orderer__chain_conf_id(ch);
    if (bs->consenter_of == ch && bs->consenter_conf == conf) {
        return true;
    }
    if (!orderer__cluster_caller_is_consenter(bs->call, ch)) {
        return false;
    }
    bs->consenter_of = ch;
    bs->consenter_conf = conf;
    return true;
}

/* Admits one envelope (msg taken) for item it, which is in the FIFO already:
 * settles it now (refusal) or hands it to the chain or the forwarder, which
 * settle it later. Returns false for a refusal (receipt stops). */
static bool admit(struct bc_stream *bs, uint8_t *msg, size_t len, struct bc_item *it)
{
    struct weft_orderer *o = bs->o;
    struct orderer_bcast_msg m = {0};
    struct orderer_chain *ch = NULL;
    char info[ORDERER_INFO_LEN] = "";
    uint64_t t0 = weft_clock_mono_ns();
    int st = orderer__bcast_parse(msg, len, &m, info);
    if (m.chdr != NULL) {
        it->channel = weft_strdup(m.chdr->channel_id);
        it->type = (int)m.chdr->type;
    }
    if (st == ORDERER_SUCCESS) {
        ch = orderer__lookup(o, m.chdr->channel_id);
        if (bs->from_cluster && ch != NULL && !caller_is_consenter(bs, ch)) {
            st = ORDERER_FORBIDDEN;
            snprintf(info, sizeof(info), "forwarding node's client certificate is not a consenter's");
        } else if (bs->from_cluster && ch != NULL) {
            /* A consenter (mutual TLS) ran every check already under the same
             * config - config updates are refused, so the sequence cannot have
             * moved - and, as Fabric's leader does for a forwarded request of
             * the current config sequence, the leader does not verify again. */
            st = ORDERER_SUCCESS;
        } else {
            st = orderer__bcast_check(&m, ch != NULL ? orderer__chain_view(ch) : NULL, 0, info);
        }
    }
    it->validate_ns = weft_clock_mono_ns() - t0;
    size_t size = m.size;
    orderer__bcast_msg_clear(&m);
    if (st == ORDERER_SUCCESS) {
        char addr[300];
        int route = orderer__chain_route(ch, addr, sizeof(addr), info);
        if (route == 0) {
            st = orderer__chain_enqueue(ch, msg, len, size, on_committed, it, bs, info);
            msg = NULL; /* taken */
            if (st == ORDERER_SUCCESS) {
                orderer__chain_unref(ch);
                return true; /* the ticket settles it; it may be gone already */
            }
        } else if (route == 1 && bs->from_cluster) {
            st = ORDERER_UNAVAILABLE;
            snprintf(info, sizeof(info), "not the Raft leader of channel %s",
                     orderer__chain_id(ch));
        } else if (route == 1) {
            orderer__chain_unref(ch);
            forward(bs, addr, it, msg, len);
            return true;
        } else {
            st = route;
        }
    }
    orderer__chain_unref(ch);
    weft_free(msg);
    settle(it, st, info);
    return st == ORDERER_SUCCESS;
}

/* ---- stream callbacks ----------------------------------------------------------------- */

static void *open_stream(struct weft_orderer *o, struct weft_rpc_call *call, bool from_cluster)
{
    struct bc_stream *bs = weft_calloc(1, sizeof(*bs));
    if (bs == NULL) {
        return NULL;
    }
    bs->o = o;
    bs->call = call;
    bs->from_cluster = from_cluster;
    pthread_mutex_init(&bs->mu, NULL);
    return bs;
}

static void *on_open(void *ctx, struct weft_rpc_call *call)
{
    return open_stream(ctx, call, false);
}

static void *on_open_cluster(void *ctx, struct weft_rpc_call *call)
{
    return open_stream(ctx, call, true);
}

/* Queues and admits one envelope (msg taken). False once the stream takes
 * no more (refusal, out of memory, stopped). */
static bool receive_one(struct bc_stream *bs, struct weft_rpc_call *call, uint8_t *msg, size_t len)
{
    struct bc_item *it = msg != NULL ? weft_calloc(1, sizeof(*it)) : NULL;
    pthread_mutex_lock(&bs->mu);
    bool take = it != NULL && !bs->stop;
    if (take) {
        it->bs = bs;
        it->type = -1;
        if (bs->tail != NULL) {
            bs->tail->next = it;
        } else {
            bs->head = it;
        }
        bs->tail = it;
        bs->n++;
    }
    if (take && bs->n >= BC_MAX_INFLIGHT && !bs->paused) {
        bs->paused = true;
        weft_rpc_call_pause_recv(call);
    }
    if (it == NULL && !bs->stop) {
        bs->stop = true;
        weft_rpc_call_pause_recv(call);
        (void)weft_rpc_call_finish(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    pthread_mutex_unlock(&bs->mu);
    if (!take) {
        weft_free(msg);
        weft_free(it);
        return false;
    }
    if (!admit(bs, msg, len, it)) {
        weft_rpc_call_pause_recv(call); /* a refusal ends the stream: read no further */
        return false;
    }
    return true;
}

static void on_message(void *state, struct weft_rpc_call *call, uint8_t *msg, size_t len)
{
    struct bc_stream *bs = state;
    if (!bs->from_cluster) {
        (void)receive_one(bs, call, msg, len);
        return;
    }
    /* a follower's SubmitBatch: its envelopes in order */
    size_t at = 0;
    const uint8_t *env = NULL;
    size_t env_len = 0;
    int r;
    while ((r = orderer__submit_batch_next(msg, len, &at, &env, &env_len)) == 1) {
        uint8_t *copy = weft_malloc(env_len > 0 ? env_len : 1);
        if (copy != NULL && env_len > 0) {
            memcpy(copy, env, env_len);
        }
        if (!receive_one(bs, call, copy, env_len)) {
            break;
        }
    }
    weft_free(msg);
    if (r < 0) {
        /* malformed batch: refused like a malformed envelope */
        struct bc_item *it = weft_calloc(1, sizeof(*it));
        pthread_mutex_lock(&bs->mu);
        bool take = it != NULL && !bs->stop;
        if (take) {
            it->bs = bs;
            it->type = -1;
            if (bs->tail != NULL) {
                bs->tail->next = it;
            } else {
                bs->head = it;
            }
            bs->tail = it;
            bs->n++;
        }
        pthread_mutex_unlock(&bs->mu);
        if (take) {
            weft_rpc_call_pause_recv(call);
            settle(it, ORDERER_BAD_REQUEST, "malformed forwarded batch");
        } else {
            weft_free(it);
        }
    }
}

static void on_end(void *state, struct weft_rpc_call *call, bool cancelled)
{
    struct bc_stream *bs = state;
    (void)call;
    pthread_mutex_lock(&bs->mu);
    bs->ended = true;
    if (cancelled) {
        bs->stop = true; /* nothing can be sent any more */
    }
    bool free_state = drain_locked(bs);
    pthread_mutex_unlock(&bs->mu);
    if (free_state) {
        stream_free(bs);
    }
}

const struct weft_rpc_stream_cbs orderer__broadcast_cbs = {on_open, on_message, on_end};
const struct weft_rpc_stream_cbs orderer__submit_cbs = {on_open_cluster, on_message, on_end};
