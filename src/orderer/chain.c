/*
 * One channel on this orderer: its ledger, its configuration, the block
 * cutter and batch timer, and its Raft group.
 *
 * DESIGN
 * Broadcast handlers (gRPC worker threads) admit an envelope and call
 * orderer__chain_enqueue(), which appends it to an inbound queue under a
 * mutex and wakes the consensus loop. Everything else runs on the loop
 * thread: on_wake drains the queue through the cutter; each cut batch
 * becomes a block built on the last *proposed* block (the leader pipelines
 * proposals) and is proposed to Raft; on_apply writes each committed block
 * to the ledger (skipping numbers already there, as entries are replayed at
 * start-up). A new leader first waits for its barrier entry to apply, then
 * restarts from the ledger's head. Followers do not cut.
 *
 * Several consenters: ids 1..N follow the order of the etcdraft consenters
 * in the config (as etcdraft numbers them); this node's id is the one whose
 * client (or server) TLS certificate is ours. A follower forwards admitted
 * envelopes to the leader over the cluster service (cluster.c) and answers
 * with the leader's status. Every block carries the Raft index of the entry
 * that holds it in its etcdraft BlockMetadata.raft_index; the leader signs
 * the block, so every node stores the same bytes.
 *
 * Commit tickets: an envelope admitted on the leader carries a ticket
 * through the queue, the cutter and the proposed block (an "inflight"
 * record: number, header hash, tickets). When the entry holding that block
 * is applied and its hash is the proposed one, the tickets ride with the
 * block to the committer and succeed once it is written; a block applied
 * with another hash (a new leader built that number) fails them. So a
 * Broadcast SUCCESS means "in a block the Raft group committed and this
 * leader wrote and synced" - an acknowledged envelope survives a leader
 * crash. Anything dropped (leadership lost before proposal, channel
 * closing) fails its ticket with SERVICE_UNAVAILABLE.
 *
 * Ledger writes (fsync) run on a per-channel committer thread (STYLE.md
 * R28), fed in apply order by on_apply; the loop thread tracks the applied
 * head itself (applied_height/applied_hash), so hash-chain checks and the
 * leader's next block never wait for the disk.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consensus.h"
#include "orderer/etcdraft/metadata.pb-c.h"
#include "orderer_int.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/ops.h"

WEFT_LOGGER(lg_chain, "orderer.consensus");

#define QUEUE_MAX 100000

/* A block proposed by this leader, waiting to be applied (loop thread). */
struct inflight {
    uint64_t number;
    uint8_t hash[32];
    struct orderer_ticket **tickets;
    size_t n;
};

/* An applied block for the committer thread. */
struct commit_job {
    uint8_t *blk;
    size_t len;
    uint64_t number;
    struct orderer_ticket **tickets;
    size_t n;
    struct commit_job *next;
};

struct orderer_chain {
    _Atomic int refs;
    char *channel_id;
    struct weft_channel_config *conf;
    struct orderer_chan_view view;
    struct weft_ledger *ledger;
    struct orderer_cons_group *group;
    const struct orderer_signer *signer;
    size_t n_consenters;
    bool etcdraft;
    /* cluster: voters (addresses owned), this node's id, transport */
    struct orderer_peer *voters;
    unsigned n_voters;
    uint64_t self_id;
    struct orderer_cluster *cluster;
    struct orderer_cluster_chan cc;
    struct orderer_peer_io peer_io;
    /* loop thread only */
    struct orderer_cutter cutter;
    uint64_t next_number;
    uint8_t head_hash[32];
    bool have_head;
    uint64_t applied_height; /* blocks applied (written or queued to the committer) */
    uint8_t applied_hash[32];
    uint64_t last_config;
    uint64_t first_pending_ns;
    struct inflight *inflight;
    size_t n_inflight, cap_inflight;
    /* committer thread and its queue, guarded by cmu */
    pthread_t committer;
    bool committer_started;
    pthread_mutex_t cmu;
    pthread_cond_t ccond;
    struct commit_job *jobs, *jobs_tail;
    bool cstop;
    /* inbound queue and the closing flag, guarded by mu */
    pthread_mutex_t mu;
    bool closing;
    struct orderer_msg *q;
    size_t qn, qcap;
    /* metrics (NULL when disabled) */
    struct weft_metrics_counter *m_blocks;
    struct weft_metrics_histogram *m_batch;
    struct weft_metrics_histogram *m_commit_latency;
    struct weft_metrics_gauge *m_height;
    struct weft_metrics_gauge *m_leader;
    struct weft_metrics_counter *m_leader_changes;
    struct weft_metrics_gauge *m_cluster_size;
    struct weft_metrics_counter *m_proposal_failures;
    struct weft_metrics_histogram *m_fill;
    struct weft_metrics_histogram *m_bcast_commit;
    struct weft_metrics_gauge *m_chain_height;
};

const char *orderer__chain_id(const struct orderer_chain *ch)
{
    return ch->channel_id;
}

const struct orderer_chan_view *orderer__chain_view(const struct orderer_chain *ch)
{
    return &ch->view;
}

const void *orderer__chain_conf_id(const struct orderer_chain *ch)
{
    return ch->conf;
}

struct weft_ledger *orderer__chain_ledger(struct orderer_chain *ch)
{
    return ch->ledger;
}

uint64_t orderer__chain_height(struct orderer_chain *ch)
{
    struct weft_ledger_info info;
    weft_ledger_info(ch->ledger, &info);
    return info.height;
}

bool orderer__chain_is_leader(struct orderer_chain *ch)
{
    pthread_mutex_lock(&ch->mu);
    bool l = !ch->closing && ch->group != NULL && orderer__cons_group_is_leader(ch->group);
    pthread_mutex_unlock(&ch->mu);
    return l;
}

void orderer__chain_ref(struct orderer_chain *ch)
{
    atomic_fetch_add(&ch->refs, 1);
}

static void fail_tickets(struct orderer_ticket **t, size_t n, const char *why)
{
    orderer__tickets_finish(t, n, ORDERER_UNAVAILABLE, why);
    weft_free(t);
}

/* Fails every inflight record from index from on. Loop thread (or no loop). */
static void fail_inflight(struct orderer_chain *ch, size_t from, const char *why)
{
    for (size_t i = from; i < ch->n_inflight; i++) {
        fail_tickets(ch->inflight[i].tickets, ch->inflight[i].n, why);
    }
    if (from < ch->n_inflight) {
        ch->n_inflight = from;
    }
}

static void chain_destroy(struct orderer_chain *ch)
{
    orderer__cutter_close(&ch->cutter);
    fail_inflight(ch, 0, "channel closing");
    weft_free(ch->inflight);
    for (size_t i = 0; i < ch->qn; i++) {
        weft_free(ch->q[i].env);
        orderer__ticket_finish(ch->q[i].ticket, ORDERER_UNAVAILABLE, "channel closing");
    }
    weft_free(ch->q);
    weft_ledger_close(ch->ledger);
    weft_channel_config_free(ch->conf);
    for (unsigned i = 0; i < ch->n_voters; i++) {
        weft_free((char *)ch->voters[i].address);
    }
    weft_free(ch->voters);
    weft_free(ch->channel_id);
    pthread_mutex_destroy(&ch->mu);
    pthread_mutex_destroy(&ch->cmu);
    pthread_cond_destroy(&ch->ccond);
    weft_free(ch);
}

void orderer__chain_unref(struct orderer_chain *ch)
{
    if (ch != NULL && atomic_fetch_sub(&ch->refs, 1) == 1) {
        chain_destroy(ch);
    }
}

/* ---- loop thread ---------------------------------------------------------- */

/* The next block builds on the applied head (blocks queued to the committer
 * included). */
static void set_head_from_applied(struct orderer_chain *ch)
{
    ch->next_number = ch->applied_height;
    memcpy(ch->head_hash, ch->applied_hash, 32);
    ch->have_head = ch->applied_height > 0;
}

/* ---- committer thread ------------------------------------------------------ */

static void *committer_main(void *arg)
{
    weft_thread_name("chain-commit");
    struct orderer_chain *ch = arg;
    for (;;) {
        pthread_mutex_lock(&ch->cmu);
        while (ch->jobs == NULL && !ch->cstop) {
            pthread_cond_wait(&ch->ccond, &ch->cmu);
        }
        struct commit_job *j = ch->jobs;
        if (j != NULL) {
            ch->jobs = j->next;
            if (ch->jobs == NULL) {
                ch->jobs_tail = NULL;
            }
        }
        pthread_mutex_unlock(&ch->cmu);
        if (j == NULL) {
            return NULL; /* stopping and drained */
        }
        uint64_t t0 = weft_clock_mono_ns();
        struct weft_err err = {0};
        int rc = weft_ledger_commit_bytes(ch->ledger, j->blk, j->len, &err);
        uint64_t t1 = weft_clock_mono_ns();
        if (rc != 0) {
            WEFT_ERROR(lg_chain, "[%s] write block %llu: %s", ch->channel_id,
                       (unsigned long long)j->number, err.msg);
            fail_tickets(j->tickets, j->n, "writing the block failed on the leader");
        } else {
            if (ch->m_blocks != NULL) {
                weft_metrics_counter_inc(ch->m_blocks);
                weft_metrics_gauge_set(ch->m_height, (double)j->number);
                weft_metrics_gauge_set(ch->m_chain_height, (double)(j->number + 1));
                weft_metrics_histogram_observe(ch->m_commit_latency, (double)(t1 - t0) / 1e9);
                for (size_t i = 0; i < j->n; i++) {
                    weft_metrics_histogram_observe(ch->m_bcast_commit,
                                                   (double)(t1 - j->tickets[i]->t0_ns) / 1e9);
                }
            }
            orderer__tickets_finish(j->tickets, j->n, ORDERER_SUCCESS, NULL);
            weft_free(j->tickets);
        }
        weft_free(j->blk);
        weft_free(j);
    }
}

/* Loop thread: queues an applied block (copied) with its tickets (taken). */
static int commit_enqueue(struct orderer_chain *ch, const uint8_t *data, size_t len,
                          uint64_t number, struct orderer_ticket **tickets, size_t n)
{
    struct commit_job *j = weft_calloc(1, sizeof(*j));
    uint8_t *copy = j != NULL ? weft_memdup(data, len) : NULL;
    if (copy == NULL) {
        weft_free(j);
        fail_tickets(tickets, n, "out of memory");
        return WEFT_ENOMEM;
    }
    *j = (struct commit_job){
        .blk = copy, .len = len, .number = number, .tickets = tickets, .n = n};
    pthread_mutex_lock(&ch->cmu);
    if (ch->jobs_tail != NULL) {
        ch->jobs_tail->next = j;
    } else {
        ch->jobs = j;
    }
    ch->jobs_tail = j;
    pthread_cond_signal(&ch->ccond);
    pthread_mutex_unlock(&ch->cmu);
    return 0;
}

/* Writes every queued block and stops the committer. */
static void committer_stop(struct orderer_chain *ch)
{
    if (!ch->committer_started) {
        return;
    }
    pthread_mutex_lock(&ch->cmu);
    ch->cstop = true;
    pthread_cond_signal(&ch->ccond);
    pthread_mutex_unlock(&ch->cmu);
    pthread_join(ch->committer, NULL);
    ch->committer_started = false;
}

/* etcdraft consenter metadata of a block: Metadata{value =
 * BlockMetadata{consenter_ids, next_consenter_id, raft_index}}. Solo:
 * Metadata{} (empty bytes). *out (weft_free) may be NULL for solo. */
static int make_consenter_md(struct orderer_chain *ch, uint64_t raft_index, uint8_t **out,
                             size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!ch->etcdraft) {
        return 0;
    }
    uint64_t ids[64];
    size_t n = ch->n_consenters < 64 ? ch->n_consenters : 64;
    for (size_t i = 0; i < n; i++) {
        ids[i] = i + 1;
    }
    Etcdraft__BlockMetadata bm = ETCDRAFT__BLOCK_METADATA__INIT;
    bm.n_consenter_ids = n;
    bm.consenter_ids = ids;
    bm.next_consenter_id = n + 1;
    bm.raft_index = raft_index;
    size_t bl = etcdraft__block_metadata__get_packed_size(&bm);
    uint8_t *bb = weft_malloc(bl + 1);
    if (bb == NULL) {
        return WEFT_ENOMEM;
    }
    etcdraft__block_metadata__pack(&bm, bb);
    Common__Metadata md = COMMON__METADATA__INIT;
    md.value.data = bb;
    md.value.len = bl;
    size_t len = common__metadata__get_packed_size(&md);
    uint8_t *buf = weft_malloc(len + 1);
    if (buf == NULL) {
        weft_free(bb);
        return WEFT_ENOMEM;
    }
    common__metadata__pack(&md, buf);
    weft_free(bb);
    *out = buf;
    *out_len = len;
    return 0;
}

/* Loop thread: records a proposed block and takes the batch's tickets. */
static void push_inflight(struct orderer_chain *ch, uint64_t number, const uint8_t hash[32],
                          struct orderer_batch *b)
{
    struct orderer_ticket **t = weft_calloc(b->n, sizeof(*t));
    if (t == NULL || (ch->n_inflight == ch->cap_inflight &&
                      (ch->cap_inflight = ch->cap_inflight ? ch->cap_inflight * 2 : 16,
                       ch->inflight = weft_realloc(ch->inflight,
                                                   ch->cap_inflight * sizeof(*ch->inflight))) ==
                          NULL)) {
        /* the tickets stay in the batch and fail with it: the block may
         * still commit, but nobody is told it did */
        weft_free(t);
        if (ch->inflight == NULL) {
            ch->n_inflight = ch->cap_inflight = 0;
        }
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->msgs[i].ticket != NULL) {
            t[n++] = b->msgs[i].ticket;
            b->msgs[i].ticket = NULL;
        }
    }
    struct inflight *r = &ch->inflight[ch->n_inflight++];
    r->number = number;
    memcpy(r->hash, hash, 32);
    r->tickets = t;
    r->n = n;
}

static void write_batch(struct orderer_chain *ch, struct orderer_batch *b, uint64_t fill_ns)
{
    if (b->n == 0) {
        orderer__batch_free(b);
        return;
    }
    if (ch->m_fill != NULL) {
        weft_metrics_histogram_observe(ch->m_fill, (double)fill_ns / 1e9);
    }
    const uint8_t **envs = weft_malloc(b->n * sizeof(*envs));
    size_t *lens = weft_malloc(b->n * sizeof(*lens));
    if (envs == NULL || lens == NULL) {
        WEFT_ERROR(lg_chain, "[%s] out of memory building a block: %zu envelopes dropped",
                   ch->channel_id, b->n);
        goto out;
    }
    for (size_t i = 0; i < b->n; i++) {
        envs[i] = b->msgs[i].env;
        lens[i] = b->msgs[i].len;
    }
    struct orderer_block_in in = {
        .number = ch->next_number,
        .prev_hash = ch->have_head ? ch->head_hash : NULL,
        .prev_hash_len = ch->have_head ? 32 : 0,
        .envs = envs,
        .lens = lens,
        .n = b->n,
        .last_config = ch->last_config,
    };
    uint8_t *blk = NULL;
    size_t blen = 0;
    uint8_t hash[32];
    struct weft_err err = {0};
    uint8_t *md = NULL;
    size_t md_len = 0;
    if (make_consenter_md(ch, orderer__cons_group_next_index(ch->group), &md, &md_len) != 0) {
        WEFT_ERROR(lg_chain, "[%s] out of memory building a block: %zu envelopes dropped",
                   ch->channel_id, b->n);
        goto out;
    }
    in.consenter_md = md;
    in.consenter_md_len = md_len;
    int brc = orderer__block_build(&in, ch->signer, &blk, &blen, hash, &err);
    weft_free(md);
    if (brc != 0) {
        WEFT_ERROR(lg_chain, "[%s] %s: %zu envelopes dropped", ch->channel_id, err.msg, b->n);
        goto out;
    }
    int rc = orderer__cons_group_propose(ch->group, blk, blen);
    weft_free(blk);
    if (rc != 0) {
        if (ch->m_proposal_failures != NULL) {
            weft_metrics_counter_inc(ch->m_proposal_failures);
        }
        WEFT_WARN(lg_chain, "[%s] propose block %llu: %s: %zu envelopes dropped", ch->channel_id,
                  (unsigned long long)in.number, weft_strerror(rc), b->n);
        goto out;
    }
    push_inflight(ch, in.number, hash, b);
    ch->next_number++;
    memcpy(ch->head_hash, hash, 32);
    ch->have_head = true;
    if (ch->m_batch != NULL) {
        weft_metrics_histogram_observe(ch->m_batch, (double)b->n);
    }
    WEFT_DEBUG(lg_chain, "[%s] proposed block %llu with %zu envelopes", ch->channel_id,
               (unsigned long long)in.number, b->n);
out:
    weft_free(envs);
    weft_free(lens);
    orderer__batch_free(b);
}

static void on_wake(void *ctx)
{
    struct orderer_chain *ch = ctx;
    pthread_mutex_lock(&ch->mu);
    struct orderer_msg *q = ch->q;
    size_t n = ch->qn;
    ch->q = NULL;
    ch->qn = ch->qcap = 0;
    pthread_mutex_unlock(&ch->mu);
    bool leader = orderer__cons_group_is_leader(ch->group);
    bool pending = ch->cutter.n_pending > 0;
    for (size_t i = 0; i < n; i++) {
        if (!leader) {
            weft_free(q[i].env);
            orderer__ticket_finish(q[i].ticket, ORDERER_UNAVAILABLE,
                                   "leadership lost before the envelope was ordered");
            continue;
        }
        struct orderer_batch out[2];
        size_t nb = 0;
        bool was_pending = ch->cutter.n_pending > 0;
        if (orderer__cutter_ordered(&ch->cutter, &q[i], out, &nb, &pending) != 0) {
            continue;
        }
        uint64_t now = weft_clock_mono_ns();
        if (!was_pending && pending) {
            ch->first_pending_ns = now;
        }
        for (size_t k = 0; k < nb; k++) {
            /* the first batch cut holds what was pending (if anything) */
            uint64_t fill = k == 0 && was_pending ? now - ch->first_pending_ns : 0;
            write_batch(ch, &out[k], fill);
        }
        if (nb > 0 && pending) {
            ch->first_pending_ns = now;
            orderer__cons_group_timer(ch->group, 0);
        }
    }
    weft_free(q);
    if (!pending) {
        orderer__cons_group_timer(ch->group, 0);
    } else if (!orderer__cons_group_timer_armed(ch->group)) {
        int64_t left =
            ch->cutter.cfg.timeout_ns - (int64_t)(weft_clock_mono_ns() - ch->first_pending_ns);
        orderer__cons_group_timer(ch->group, left > 0 ? left : 1);
    }
}

static void on_timer(void *ctx)
{
    struct orderer_chain *ch = ctx;
    struct orderer_batch b;
    orderer__cutter_cut(&ch->cutter, &b);
    if (orderer__cons_group_is_leader(ch->group)) {
        write_batch(ch, &b, weft_clock_mono_ns() - ch->first_pending_ns);
    } else {
        orderer__batch_free(&b);
    }
}

/* Header hash of a decoded block header. */
static int block_hash(const Common__BlockHeader *h, uint8_t out[32])
{
    uint8_t *der = NULL;
    size_t der_len = 0;
    int rc = orderer__header_der(h->number, h->previous_hash.data, h->previous_hash.len,
                                 h->data_hash.data, h->data_hash.len, &der, &der_len);
    if (rc != 0) {
        return rc;
    }
    weft_sha256(der, der_len, out);
    weft_free(der);
    return 0;
}

/* The header of a serialized common.Block, decoded alone: the entry's data
 * (every envelope) is not unpacked and copied just to read it. NULL when
 * the bytes are not a block with a header. */
static Common__BlockHeader *block_header_unpack(const uint8_t *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        uint64_t tag = 0, n = 0;
        if (orderer__pb_varint(p, len, &at, &tag) != 0) {
            return NULL;
        }
        if (tag == ((1u << 3) | 2u)) { /* Block.header, length-delimited */
            if (orderer__pb_varint(p, len, &at, &n) != 0 || n > len - at) {
                return NULL;
            }
            return common__block_header__unpack(ORDERER_PB, (size_t)n, p + at);
        }
        if (orderer__pb_skip(p, len, &at, (unsigned)(tag & 7)) != 0) {
            return NULL;
        }
    }
    return NULL;
}

static void on_apply(void *ctx, const uint8_t *data, size_t len)
{
    struct orderer_chain *ch = ctx;
    Common__BlockHeader *bh = block_header_unpack(data, len);
    if (bh == NULL) {
        WEFT_ERROR(lg_chain, "[%s] committed Raft entry is not a block", ch->channel_id);
        return;
    }
    uint64_t num = bh->number;
    uint64_t height = ch->applied_height;
    if (num < height) {
        common__block_header__free_unpacked(bh, ORDERER_PB);
        return; /* replayed entry already in the ledger */
    }
    bool links = num == height && bh->previous_hash.len == 32 &&
                 memcmp(bh->previous_hash.data, ch->applied_hash, 32) == 0;
    uint8_t hash[32];
    int hrc = block_hash(bh, hash);
    common__block_header__free_unpacked(bh, ORDERER_PB);
    /* records of blocks this node proposed up to num: ours (same hash) ride
     * with the block, the others were replaced by another leader's */
    struct orderer_ticket **tickets = NULL;
    size_t n_tickets = 0;
    size_t done = 0;
    while (done < ch->n_inflight && ch->inflight[done].number <= num) {
        struct inflight *r = &ch->inflight[done++];
        if (r->number == num && links && hrc == 0 && memcmp(r->hash, hash, 32) == 0) {
            tickets = r->tickets;
            n_tickets = r->n;
        } else {
            fail_tickets(r->tickets, r->n,
                         "the block holding the envelope was replaced after a leader change");
        }
    }
    if (done > 0) {
        memmove(ch->inflight, ch->inflight + done, (ch->n_inflight - done) * sizeof(*ch->inflight));
        ch->n_inflight -= done;
    }
    if (!links || hrc != 0) {
        /* cannot happen while leaders build on the applied head; refuse
         * rather than break the hash chain */
        WEFT_ERROR(lg_chain,
                   "[%s] committed block %llu does not extend the ledger (height "
                   "%llu): skipped",
                   ch->channel_id, (unsigned long long)num, (unsigned long long)height);
        fail_tickets(tickets, n_tickets, "block refused");
        return;
    }
    if (commit_enqueue(ch, data, len, num, tickets, n_tickets) != 0) {
        WEFT_ERROR(lg_chain, "[%s] out of memory queueing block %llu for the ledger",
                   ch->channel_id, (unsigned long long)num);
        return;
    }
    ch->applied_height = num + 1;
    memcpy(ch->applied_hash, hash, 32);
    if (!orderer__cons_group_is_leader(ch->group)) {
        set_head_from_applied(ch);
    }
}

static void on_leader(void *ctx, bool leader)
{
    struct orderer_chain *ch = ctx;
    if (ch->m_leader != NULL) {
        weft_metrics_gauge_set(ch->m_leader, leader ? 1 : 0);
    }
    if (leader) {
        /* the barrier applied every entry left in the log: a block this node
         * proposed earlier and not applied yet is gone */
        fail_inflight(ch, 0, "the block holding the envelope was lost in a leader change");
        set_head_from_applied(ch);
        WEFT_INFO(lg_chain, "[%s] leading: next block %llu", ch->channel_id,
                  (unsigned long long)ch->next_number);
        on_wake(ch);
    } else {
        struct orderer_batch b;
        orderer__cutter_cut(&ch->cutter, &b);
        orderer__batch_free(&b);
        orderer__cons_group_timer(ch->group, 0);
    }
}

static void on_leader_id(void *ctx, uint64_t id)
{
    struct orderer_chain *ch = ctx;
    if (id != 0 && ch->m_leader != NULL) {
        weft_metrics_counter_inc(ch->m_leader_changes);
    }
}

static const struct orderer_group_ops chain_ops = {
    .on_leader_id = on_leader_id,
    .on_apply = on_apply,
    .on_leader = on_leader,
    .on_wake = on_wake,
    .on_timer = on_timer,
};

/* ---- any thread ----------------------------------------------------------- */

uint64_t orderer__chain_leader_id(struct orderer_chain *ch)
{
    pthread_mutex_lock(&ch->mu);
    uint64_t id = ch->closing || ch->group == NULL ? 0 : orderer__cons_group_leader_id(ch->group);
    pthread_mutex_unlock(&ch->mu);
    return id;
}

uint64_t orderer__chain_consenter_id(const struct orderer_chain *ch, const uint8_t *pem, size_t len)
{
    const struct weft_configtx_orderer *oc = &ch->conf->orderer;
    for (size_t i = 0; ch->etcdraft && i < oc->n_consenters; i++) {
        const struct weft_configtx_consenter *c = &oc->consenters[i];
        if (orderer__cert_equal(c->client_tls_cert, c->client_tls_cert_len, pem, len)) {
            return i + 1;
        }
    }
    return 0;
}

int orderer__chain_accept(struct orderer_chain *ch, uint64_t id, int fd)
{
    pthread_mutex_lock(&ch->mu);
    if (ch->closing || ch->group == NULL || ch->n_voters < 2 || id == 0 || id > ch->n_voters) {
        pthread_mutex_unlock(&ch->mu);
        close(fd);
        return WEFT_ESHUTDOWN;
    }
    orderer__cons_group_accept(ch->group, id, ch->voters[id - 1].address, fd);
    pthread_mutex_unlock(&ch->mu);
    return 0;
}

int orderer__chain_route(struct orderer_chain *ch, char *addr, size_t cap,
                         char info[ORDERER_INFO_LEN])
{
    pthread_mutex_lock(&ch->mu);
    int r = ORDERER_UNAVAILABLE;
    if (ch->closing) {
        snprintf(info, ORDERER_INFO_LEN, "channel %s is closing", ch->channel_id);
    } else if (orderer__cons_group_is_leader(ch->group)) {
        r = 0;
    } else {
        uint64_t leader = orderer__cons_group_leader_id(ch->group);
        if (ch->n_voters > 1 && leader != 0 && leader <= ch->n_voters && leader != ch->self_id) {
            snprintf(addr, cap, "%s", ch->voters[leader - 1].address);
            r = 1;
        } else {
            snprintf(info, ORDERER_INFO_LEN, "no Raft leader for channel %s", ch->channel_id);
        }
    }
    pthread_mutex_unlock(&ch->mu);
    return r;
}

int orderer__chain_enqueue(struct orderer_chain *ch, uint8_t *env, size_t len, size_t size,
                           orderer_ticket_cb cb, void *cb_arg, const void *group,
                           char info[ORDERER_INFO_LEN])
{
    uint8_t *copy = env;
    struct orderer_ticket *t = orderer__ticket_new(cb, cb_arg, group);
    if (t == NULL) {
        weft_free(copy);
        snprintf(info, ORDERER_INFO_LEN, "out of memory");
        return ORDERER_UNAVAILABLE;
    }
    pthread_mutex_lock(&ch->mu);
    const char *why = NULL;
    if (ch->closing || !orderer__cons_group_is_leader(ch->group)) {
        why = "not the Raft leader";
    } else if (ch->qn >= QUEUE_MAX) {
        why = "too many envelopes waiting for ordering";
    } else if (ch->qn == ch->qcap) {
        size_t cap = ch->qcap ? ch->qcap * 2 : 64;
        struct orderer_msg *nq = weft_realloc(ch->q, cap * sizeof(*nq));
        if (nq == NULL) {
            why = "out of memory";
        } else {
            ch->q = nq;
            ch->qcap = cap;
        }
    }
    if (why != NULL) {
        pthread_mutex_unlock(&ch->mu);
        weft_free(copy);
        weft_free(t); /* never shared */
        snprintf(info, ORDERER_INFO_LEN, "channel %s: %s", ch->channel_id, why);
        return ORDERER_UNAVAILABLE;
    }
    ch->q[ch->qn++] = (struct orderer_msg){.env = copy, .len = len, .size = size, .ticket = t};
    if (ch->qn == 1) {
        orderer__cons_group_wake(ch->group);
    }
    pthread_mutex_unlock(&ch->mu);
    info[0] = '\0';
    return ORDERER_SUCCESS;
}

/* Raft ids 1..N in config order; finds this node among them. */
static int setup_voters(struct orderer_chain *ch, struct orderer_cluster *cl, struct weft_err *err)
{
    const struct weft_configtx_orderer *oc = &ch->conf->orderer;
    if (oc->n_consenters > 64) {
        return weft_err_set(err, WEFT_EUNSUPPORTED, "channel %s: more than 64 consenters",
                            ch->channel_id);
    }
    if (!orderer__cluster_ready(cl)) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "channel %s has %zu consenters: the cluster needs TLS "
                            "(General.TLS.Enabled with certificate, key and RootCAs, or "
                            "General.Cluster.*)",
                            ch->channel_id, oc->n_consenters);
    }
    ch->voters = weft_calloc(oc->n_consenters, sizeof(*ch->voters));
    if (ch->voters == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    ch->n_voters = (unsigned)oc->n_consenters;
    ch->self_id = 0;
    for (size_t i = 0; i < oc->n_consenters; i++) {
        const struct weft_configtx_consenter *c = &oc->consenters[i];
        ch->voters[i].id = i + 1;
        ch->voters[i].address = weft_asprintf("%s:%u", c->host, (unsigned)c->port);
        if (ch->voters[i].address == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        if (ch->self_id == 0 &&
            orderer__cluster_is_self(cl, c->client_tls_cert, c->client_tls_cert_len,
                                     c->server_tls_cert, c->server_tls_cert_len)) {
            ch->self_id = i + 1;
        }
    }
    if (ch->self_id == 0) {
        return weft_err_set(err, WEFT_EUNSUPPORTED,
                            "channel %s: this orderer's TLS certificate is not one of the "
                            "channel's consenters (joining as a follower that only replicates "
                            "blocks is not implemented)",
                            ch->channel_id);
    }
    ch->cluster = cl;
    ch->cc = (struct orderer_cluster_chan){
        .cl = cl, .channel_id = ch->channel_id, .self_id = ch->self_id};
    ch->peer_io = orderer__cluster_peer_io_ops;
    ch->peer_io.ctx = &ch->cc;
    WEFT_INFO(lg_chain, "[%s] consenter %llu of %u (%s)", ch->channel_id,
              (unsigned long long)ch->self_id, ch->n_voters, ch->voters[ch->self_id - 1].address);
    return 0;
}

static void chain_metrics(struct orderer_chain *ch, struct weft_metrics *m)
{
    if (m == NULL) {
        return;
    }
    static const char *const lbl[] = {"channel"};
    const char *v[] = {ch->channel_id};
    struct weft_metrics_opts o = {
        .namespace_ = "consensus", .subsystem = "etcdraft", .label_names = lbl, .n_labels = 1};
    o.name = "committed_block_number";
    o.help = "The block number of the latest block committed.";
    struct weft_metrics_gauge_vec *gh = weft_metrics_gauge_vec_new(m, &o, NULL);
    o.name = "is_leader";
    o.help = "The leadership status of the current node: 1 if it is the leader else 0.";
    struct weft_metrics_gauge_vec *gl = weft_metrics_gauge_vec_new(m, &o, NULL);
    o.name = "cluster_size";
    o.help = "Number of nodes in this channel.";
    struct weft_metrics_gauge_vec *gcs = weft_metrics_gauge_vec_new(m, &o, NULL);
    o.name = "leader_changes";
    o.help = "The number of leader changes since process start.";
    struct weft_metrics_counter_vec *clc = weft_metrics_counter_vec_new(m, &o, NULL);
    o.name = "proposal_failures";
    o.help = "The number of proposal failures.";
    struct weft_metrics_counter_vec *cpf = weft_metrics_counter_vec_new(m, &o, NULL);
    o.namespace_ = "ledger";
    o.subsystem = NULL;
    o.name = "blockchain_height";
    o.help = "Height of the chain in blocks.";
    struct weft_metrics_gauge_vec *gch = weft_metrics_gauge_vec_new(m, &o, NULL);
    o.namespace_ = "blockcutter";
    o.subsystem = NULL;
    o.name = "block_fill_duration";
    o.help = "The time from first transaction enqueuing to the block being cut in seconds.";
    struct weft_metrics_histogram_vec *hf = weft_metrics_histogram_vec_new(m, &o, NULL);
    o.name = "blocks_cut";
    o.help = "Blocks written to the ledger by this orderer.";
    struct weft_metrics_counter_vec *cb = weft_metrics_counter_vec_new(m, &o, NULL);
    static const double sizes[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000};
    o.name = "batch_size";
    o.help = "Envelopes per cut batch.";
    o.buckets = sizes;
    o.n_buckets = WEFT_ARRAY_LEN(sizes);
    struct weft_metrics_histogram_vec *hb = weft_metrics_histogram_vec_new(m, &o, NULL);
    o.namespace_ = "ledger";
    o.subsystem = "blockstorage";
    o.name = "commit_time";
    o.help = "Time taken in seconds for committing the block to storage.";
    o.buckets = NULL;
    o.n_buckets = 0;
    struct weft_metrics_histogram_vec *hl = weft_metrics_histogram_vec_new(m, &o, NULL);
    o.namespace_ = "broadcast";
    o.subsystem = NULL;
    o.name = "commit_duration";
    o.help = "Time from Broadcast admission on the leader to the block holding the envelope "
             "being committed and written, in seconds.";
    struct weft_metrics_histogram_vec *hc = weft_metrics_histogram_vec_new(m, &o, NULL);
    if (gh == NULL || gl == NULL || cb == NULL || hb == NULL || hl == NULL || gcs == NULL ||
        clc == NULL || cpf == NULL || gch == NULL || hf == NULL || hc == NULL) {
        return;
    }
    ch->m_cluster_size = weft_metrics_gauge_with(gcs, v);
    ch->m_leader_changes = weft_metrics_counter_with(clc, v);
    ch->m_proposal_failures = weft_metrics_counter_with(cpf, v);
    ch->m_chain_height = weft_metrics_gauge_with(gch, v);
    ch->m_fill = weft_metrics_histogram_with(hf, v);
    ch->m_bcast_commit = weft_metrics_histogram_with(hc, v);
    ch->m_height = weft_metrics_gauge_with(gh, v);
    ch->m_leader = weft_metrics_gauge_with(gl, v);
    ch->m_batch = weft_metrics_histogram_with(hb, v);
    ch->m_commit_latency = weft_metrics_histogram_with(hl, v);
    ch->m_blocks = weft_metrics_counter_with(cb, v);
    if (ch->m_height == NULL || ch->m_leader == NULL || ch->m_batch == NULL ||
        ch->m_commit_latency == NULL || ch->m_cluster_size == NULL ||
        ch->m_leader_changes == NULL || ch->m_proposal_failures == NULL ||
        ch->m_chain_height == NULL || ch->m_fill == NULL || ch->m_bcast_commit == NULL) {
        ch->m_blocks = NULL;
        ch->m_leader = NULL;
        ch->m_fill = NULL;
        ch->m_proposal_failures = NULL;
        return;
    }
    weft_metrics_gauge_set(ch->m_cluster_size, (double)ch->n_consenters);
    weft_metrics_gauge_set(ch->m_chain_height, (double)ch->applied_height);
    if (ch->applied_height > 0) {
        weft_metrics_gauge_set(ch->m_height, (double)(ch->applied_height - 1));
    }
}

int orderer__chain_open(const struct orderer_chain_opts *o, struct orderer_chain **out,
                        struct weft_err *err)
{
    int rc = 0;
    uint8_t *g0 = NULL;
    size_t g0_len = 0;
    char *wal = NULL;
    struct orderer_chain *ch = weft_calloc(1, sizeof(*ch));
    if (ch == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    atomic_init(&ch->refs, 1);
    pthread_mutex_init(&ch->mu, NULL);
    pthread_mutex_init(&ch->cmu, NULL);
    pthread_cond_init(&ch->ccond, NULL);
    ch->signer = o->signer;
    const uint8_t *genesis = o->genesis;
    size_t genesis_len = o->genesis_len;

    if (o->channel_id != NULL) {
        ch->channel_id = weft_strdup(o->channel_id);
    } else if (genesis != NULL) {
        uint8_t *env = NULL;
        size_t env_len = 0;
        rc = weft_configtx_block_config(genesis, genesis_len, &env, &env_len, &ch->channel_id, err);
        weft_free(env);
        if (rc != 0) {
            goto fail;
        }
    }
    if (ch->channel_id == NULL) {
        rc = weft_err_set(err, WEFT_EINVAL, "no channel id");
        goto fail;
    }
    struct weft_ledger_options lo;
    weft_ledger_options_init(&lo);
    lo.root = o->ledger_root;
    lo.channel = ch->channel_id;
    lo.history = false;
    lo.no_state = true;
    lo.no_txid_index = true; /* blocks are looked up by number only */
    lo.no_sync = o->no_sync;
    rc = weft_ledger_open(&ch->ledger, &lo, err);
    if (rc != 0) {
        weft_err_prefix(err, "open ledger of %s", ch->channel_id);
        goto fail;
    }
    if (genesis != NULL && orderer__chain_height(ch) == 0) {
        rc = weft_ledger_commit_bytes(ch->ledger, genesis, genesis_len, err);
        if (rc != 0) {
            weft_err_prefix(err, "commit genesis block of %s", ch->channel_id);
            goto fail;
        }
    }
    if (orderer__chain_height(ch) == 0) {
        rc = weft_err_set(err, WEFT_ECORRUPT, "channel %s has an empty ledger", ch->channel_id);
        goto fail;
    }
    /* Config updates are refused, so block 0 holds the current config. */
    rc = weft_ledger_block_by_number(ch->ledger, 0, &g0, &g0_len, err);
    if (rc == 0) {
        rc = weft_channel_config_from_block(g0, g0_len, 0, &ch->conf, err);
    }
    if (rc != 0) {
        weft_err_prefix(err, "channel %s config", ch->channel_id);
        goto fail;
    }
    if (!ch->conf->has_orderer) {
        rc = weft_err_set(err, WEFT_ECONFIG, "channel %s: config has no Orderer group",
                          ch->channel_id);
        goto fail;
    }
    const struct weft_configtx_orderer *oc = &ch->conf->orderer;
    size_t voters = 1;
    if (strcmp(oc->consensus_type, "etcdraft") == 0) {
        voters = oc->n_consenters;
    } else if (strcmp(oc->consensus_type, "solo") != 0) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED, "channel %s: consensus type %s not supported",
                          ch->channel_id, oc->consensus_type);
        goto fail;
    }
    if (oc->consensus_state != 0) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED, "channel %s is in maintenance mode",
                          ch->channel_id);
        goto fail;
    }
    struct orderer_batch_cfg bc = {
        .max_message_count = oc->max_message_count,
        .absolute_max_bytes = oc->absolute_max_bytes,
        .preferred_max_bytes = oc->preferred_max_bytes,
        .timeout_ns = oc->batch_timeout_ns > 0 ? oc->batch_timeout_ns : 2000000000LL,
    };
    orderer__cutter_init(&ch->cutter, &bc);
    ch->view = (struct orderer_chan_view){
        .channel_id = ch->channel_id,
        .absolute_max_bytes = oc->absolute_max_bytes,
        .policies = ch->conf->policy_mgr,
        .msps = ch->conf->msp_mgr,
        .no_expiration_check = !weft_channel_config_has_capability(ch->conf, "Orderer", "V2_0"),
    };
    ch->etcdraft = strcmp(oc->consensus_type, "etcdraft") == 0;
    ch->n_consenters = voters;
    ch->self_id = 1;
    if (voters > 1) {
        rc = setup_voters(ch, o->cluster, err);
        if (rc != 0) {
            goto fail;
        }
    }
    struct weft_ledger_info li;
    weft_ledger_info(ch->ledger, &li);
    ch->applied_height = li.height;
    memcpy(ch->applied_hash, li.current_hash, 32);
    set_head_from_applied(ch);
    chain_metrics(ch, o->metrics);
    rc = pthread_create(&ch->committer, NULL, committer_main, ch);
    if (rc != 0) {
        rc = weft_err_set(err, -rc, "channel %s: committer thread: %s", ch->channel_id,
                          strerror(rc));
        goto fail;
    }
    ch->committer_started = true;

    wal = weft_asprintf("%s/%s", o->wal_root, ch->channel_id);
    if (wal == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    unsigned tick_ms = 500;
    int64_t tick_ns = 0;
    if (oc->tick_interval != NULL && oc->tick_interval[0] != '\0' &&
        weft_parse_duration(oc->tick_interval, &tick_ns) == 0 && tick_ns > 0) {
        tick_ms = (unsigned)(tick_ns / 1000000);
    }
    /* Fabric's ticks, bounded so that single-node channels elect quickly */
    unsigned election = tick_ms * (oc->election_tick ? oc->election_tick : 10);
    unsigned heartbeat = tick_ms * (oc->heartbeat_tick ? oc->heartbeat_tick : 1);
    if (voters == 1) {
        election = 300;
        heartbeat = 50;
    }
    struct orderer_group_opts go = {.dir = wal,
                                    .id = ch->self_id,
                                    .voters = ch->voters,
                                    .peer_io = voters > 1 ? &ch->peer_io : NULL,
                                    .n_voters = (unsigned)voters,
                                    .election_ms = election,
                                    .heartbeat_ms = heartbeat};
    rc = orderer__cons_group_new(o->cons, &go, &chain_ops, ch, &ch->group, err);
    if (rc != 0) {
        weft_err_prefix(err, "channel %s", ch->channel_id);
        goto fail;
    }
    weft_free(wal);
    weft_free(g0);
    WEFT_INFO(lg_chain,
              "[%s] channel open: height %llu, %s with %zu consenter(s), batch %u msgs "
              "/ %u preferred bytes / %lld ms",
              ch->channel_id, (unsigned long long)orderer__chain_height(ch), oc->consensus_type,
              voters, bc.max_message_count, bc.preferred_max_bytes,
              (long long)(bc.timeout_ns / 1000000));
    *out = ch;
    return 0;
fail:
    weft_free(wal);
    weft_free(g0);
    committer_stop(ch);
    chain_destroy(ch);
    return rc;
}

void orderer__chain_close(struct orderer_chain *ch)
{
    if (ch == NULL) {
        return;
    }
    pthread_mutex_lock(&ch->mu);
    ch->closing = true;
    pthread_mutex_unlock(&ch->mu);
    orderer__cons_group_free(ch->group);
    pthread_mutex_lock(&ch->mu);
    ch->group = NULL;
    struct orderer_msg *q = ch->q;
    size_t qn = ch->qn;
    ch->q = NULL;
    ch->qn = ch->qcap = 0;
    pthread_mutex_unlock(&ch->mu);
    /* no loop callback runs any more: fail what will never be ordered, and
     * write what was applied */
    for (size_t i = 0; i < qn; i++) {
        weft_free(q[i].env);
        orderer__ticket_finish(q[i].ticket, ORDERER_UNAVAILABLE, "channel closing");
    }
    weft_free(q);
    struct orderer_batch b;
    orderer__cutter_cut(&ch->cutter, &b);
    orderer__batch_free(&b);
    fail_inflight(ch, 0, "channel closing");
    committer_stop(ch);
    orderer__chain_unref(ch);
}
