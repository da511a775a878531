/*
 * One channel on this orderer: its ledger, its configuration, the block
 * cutter and batch timer, and its Raft group.
 *
 * DESIGN
 * Broadcast handlers (gRPC worker threads) admit an envelope and call
 * orderer__chain_submit(), which appends it to an inbound queue under a
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
 * The ledger commit (with fsync) runs on the loop thread: acceptable for a
 * few channels, to be moved to a committer thread (STYLE.md R28).
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
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/ops.h"

WEFT_LOGGER(lg_chain, "orderer.consensus");

#define QUEUE_MAX 100000

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
    uint64_t last_config;
    uint64_t first_pending_ns;
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
};

const char *orderer__chain_id(const struct orderer_chain *ch)
{
    return ch->channel_id;
}

const struct orderer_chan_view *orderer__chain_view(const struct orderer_chain *ch)
{
    return &ch->view;
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

static void chain_destroy(struct orderer_chain *ch)
{
    orderer__cutter_close(&ch->cutter);
    for (size_t i = 0; i < ch->qn; i++) {
        weft_free(ch->q[i].env);
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
    weft_free(ch);
}

void orderer__chain_unref(struct orderer_chain *ch)
{
    if (ch != NULL && atomic_fetch_sub(&ch->refs, 1) == 1) {
        chain_destroy(ch);
    }
}

/* ---- loop thread ---------------------------------------------------------- */

static void set_head_from_ledger(struct orderer_chain *ch)
{
    struct weft_ledger_info info;
    weft_ledger_info(ch->ledger, &info);
    ch->next_number = info.height;
    memcpy(ch->head_hash, info.current_hash, 32);
    ch->have_head = info.height > 0;
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

static void write_batch(struct orderer_chain *ch, struct orderer_batch *b)
{
    if (b->n == 0) {
        orderer__batch_free(b);
        return;
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
        WEFT_WARN(lg_chain, "[%s] propose block %llu: %s: %zu envelopes dropped", ch->channel_id,
                  (unsigned long long)in.number, weft_strerror(rc), b->n);
        goto out;
    }
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
            continue;
        }
        struct orderer_batch out[2];
        size_t nb = 0;
        bool was_pending = ch->cutter.n_pending > 0;
        if (orderer__cutter_ordered(&ch->cutter, &q[i], out, &nb, &pending) != 0) {
            continue;
        }
        if (!was_pending && pending) {
            ch->first_pending_ns = weft_clock_mono_ns();
        }
        for (size_t k = 0; k < nb; k++) {
            write_batch(ch, &out[k]);
        }
        if (nb > 0 && pending) {
            ch->first_pending_ns = weft_clock_mono_ns();
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
        write_batch(ch, &b);
    } else {
        orderer__batch_free(&b);
    }
}

static void on_apply(void *ctx, const uint8_t *data, size_t len)
{
    struct orderer_chain *ch = ctx;
    Common__Block *b = common__block__unpack(ORDERER_PB, len, data);
    if (b == NULL || b->header == NULL) {
        WEFT_ERROR(lg_chain, "[%s] committed Raft entry is not a block", ch->channel_id);
        if (b != NULL) {
            common__block__free_unpacked(b, ORDERER_PB);
        }
        return;
    }
    uint64_t num = b->header->number;
    uint64_t height = orderer__chain_height(ch);
    if (num < height) {
        common__block__free_unpacked(b, ORDERER_PB);
        return; /* replayed entry already in the ledger */
    }
    struct weft_ledger_info li;
    weft_ledger_info(ch->ledger, &li);
    bool links = num == height && b->header->previous_hash.len == 32 &&
                 memcmp(b->header->previous_hash.data, li.current_hash, 32) == 0;
    common__block__free_unpacked(b, ORDERER_PB);
    if (!links) {
        /* cannot happen while leaders build on the applied head; refuse
         * rather than break the hash chain */
        WEFT_ERROR(lg_chain,
                   "[%s] committed block %llu does not extend the ledger (height "
                   "%llu): skipped",
                   ch->channel_id, (unsigned long long)num, (unsigned long long)height);
        return;
    }
    uint64_t t0 = weft_clock_mono_ns();
    struct weft_err err = {0};
    int rc = weft_ledger_commit_bytes(ch->ledger, data, len, &err);
    if (rc != 0) {
        WEFT_ERROR(lg_chain, "[%s] write block %llu: %s", ch->channel_id, (unsigned long long)num,
                   err.msg);
        return;
    }
    if (ch->m_blocks != NULL) {
        weft_metrics_counter_inc(ch->m_blocks);
        weft_metrics_gauge_set(ch->m_height, (double)(num + 1));
        weft_metrics_histogram_observe(ch->m_commit_latency,
                                       (double)(weft_clock_mono_ns() - t0) / 1e9);
    }
    if (!orderer__cons_group_is_leader(ch->group)) {
        set_head_from_ledger(ch);
    }
}

static void on_leader(void *ctx, bool leader)
{
    struct orderer_chain *ch = ctx;
    if (ch->m_leader != NULL) {
        weft_metrics_gauge_set(ch->m_leader, leader ? 1 : 0);
    }
    if (leader) {
        set_head_from_ledger(ch);
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

static const struct orderer_group_ops chain_ops = {
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

/* Follower: sends the envelope to the leader and returns its answer. */
static int forward(struct orderer_chain *ch, uint64_t leader, const uint8_t *env, size_t len,
                   char info[ORDERER_INFO_LEN])
{
    if (leader == 0 || leader > ch->n_voters || leader == ch->self_id) {
        snprintf(info, ORDERER_INFO_LEN, "no Raft leader for channel %s", ch->channel_id);
        return ORDERER_UNAVAILABLE;
    }
    int st = orderer__cluster_submit(ch->cluster, ch->voters[leader - 1].address, ch->channel_id,
                                     env, len, info);
    if (st != ORDERER_SUCCESS) {
        WEFT_DEBUG(lg_chain, "[%s] forward to leader %llu: %d %s", ch->channel_id,
                   (unsigned long long)leader, st, info);
    }
    return st;
}

int orderer__chain_submit(struct orderer_chain *ch, const uint8_t *env, size_t len, size_t size,
                          bool may_forward, char info[ORDERER_INFO_LEN])
{
    pthread_mutex_lock(&ch->mu);
    if (!ch->closing && !orderer__cons_group_is_leader(ch->group) && may_forward &&
        ch->n_voters > 1) {
        uint64_t leader = orderer__cons_group_leader_id(ch->group);
        orderer__chain_ref(ch);
        pthread_mutex_unlock(&ch->mu);
        int st = forward(ch, leader, env, len, info);
        orderer__chain_unref(ch);
        return st;
    }
    pthread_mutex_unlock(&ch->mu);
    uint8_t *copy = weft_memdup(env, len);
    if (copy == NULL) {
        snprintf(info, ORDERER_INFO_LEN, "out of memory");
        return ORDERER_UNAVAILABLE;
    }
    pthread_mutex_lock(&ch->mu);
    if (ch->closing || !orderer__cons_group_is_leader(ch->group)) {
        pthread_mutex_unlock(&ch->mu);
        weft_free(copy);
        snprintf(info, ORDERER_INFO_LEN, "no Raft leader for channel %s", ch->channel_id);
        return ORDERER_UNAVAILABLE;
    }
    if (ch->qn >= QUEUE_MAX) {
        pthread_mutex_unlock(&ch->mu);
        weft_free(copy);
        snprintf(info, ORDERER_INFO_LEN, "channel %s: too many envelopes waiting for ordering",
                 ch->channel_id);
        return ORDERER_UNAVAILABLE;
    }
    if (ch->qn == ch->qcap) {
        size_t cap = ch->qcap ? ch->qcap * 2 : 64;
        struct orderer_msg *nq = weft_realloc(ch->q, cap * sizeof(*nq));
        if (nq == NULL) {
            pthread_mutex_unlock(&ch->mu);
            weft_free(copy);
            snprintf(info, ORDERER_INFO_LEN, "out of memory");
            return ORDERER_UNAVAILABLE;
        }
        ch->q = nq;
        ch->qcap = cap;
    }
    ch->q[ch->qn++] = (struct orderer_msg){.env = copy, .len = len, .size = size};
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
    o.namespace_ = "blockcutter";
    o.subsystem = NULL;
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
    o.name = "block_commit_seconds";
    o.help = "Time to write one block to the orderer's ledger.";
    o.buckets = NULL;
    o.n_buckets = 0;
    struct weft_metrics_histogram_vec *hl = weft_metrics_histogram_vec_new(m, &o, NULL);
    if (gh == NULL || gl == NULL || cb == NULL || hb == NULL || hl == NULL) {
        return;
    }
    ch->m_height = weft_metrics_gauge_with(gh, v);
    ch->m_leader = weft_metrics_gauge_with(gl, v);
    ch->m_batch = weft_metrics_histogram_with(hb, v);
    ch->m_commit_latency = weft_metrics_histogram_with(hl, v);
    ch->m_blocks = weft_metrics_counter_with(cb, v);
    if (ch->m_height == NULL || ch->m_leader == NULL || ch->m_batch == NULL ||
        ch->m_commit_latency == NULL) {
        ch->m_blocks = NULL;
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
    set_head_from_ledger(ch);
    chain_metrics(ch, o->metrics);

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
    pthread_mutex_unlock(&ch->mu);
    orderer__chain_unref(ch);
}
