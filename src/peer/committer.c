/*
 * The commit pipeline of one channel.
 *
 * DESIGN. Two threads and two bounded queues:
 *
 *   submit() --in--> [validation thread] --ready--> [commit thread] --> ledger
 *
 * The validation thread unpacks a block, checks it is the next one and (when
 * configured) that its orderer signatures satisfy BlockValidation, then runs
 * weft_validator_prepare: every creator and endorsement signature of the
 * block in one batch on the parallel verifier (started before the
 * previous block's batch is joined: prep_main). The commit thread takes
 * prepared blocks in order, runs weft_validator_finish (ledger duplicates,
 * policies, MVCC: this needs the previous block's state, which is why it is
 * here), writes the TRANSACTIONS_FILTER and commits. So the signature work
 * of block N+1 overlaps the state work and fsync of block N.
 *
 * A config block is a barrier: after preparing it the validation thread
 * waits until it is committed (the commit thread applies the new config in
 * finish), so block N+1 is checked with the new MSPs and policies, and the
 * validator's config is never read and replaced at the same time.
 *
 * Locking: `mu` guards both queues, the counters and the status; it is a
 * leaf lock, never held across validation, commit or the callback.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "validator_int.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/ledger.h"
#include "weft/log.h"

WEFT_LOGGER(lg_commit, "committer");

struct qitem {
    struct qitem *next;
    uint8_t *bytes; /* in-queue: serialized block */
    size_t len;
    Common__Block *blk;      /* ready-queue: unpacked block (in `arena`) ... */
    struct weft_vblock *vb;  /* ... and its prepared validation */
    uint8_t *codes;          /* its TRANSACTIONS_FILTER, once finished */
    struct peer_arena arena; /* blk's messages */
};

struct queue {
    struct qitem *head, *tail;
    size_t n;
};

struct weft_committer {
    struct weft_validator *v;
    struct weft_ledger *ledger;
    bool verify;
    size_t depth;
    weft_committer_commit_cb on_commit;
    void *ctx;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* any change: queues, height, stop */
    struct queue in, ready;
    bool stopping;
    int status;
    struct weft_err fatal;
    uint64_t height;      /* committed */
    uint64_t expect;      /* next number the validation thread accepts */
    uint64_t refused;
    struct weft_err refused_err;
    uint64_t commit_ns; /* written by the commit thread, read atomically */
    bool prep_busy;       /* validation thread holds an item */
    pthread_t prep_thr, commit_thr;
    bool prep_started, commit_started;
};

static void q_push(struct queue *q, struct qitem *it)
{
    it->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = it;
    } else {
        q->head = it;
    }
    q->tail = it;
    q->n++;
}

static struct qitem *q_pop(struct queue *q)
{
    struct qitem *it = q->head;
    if (it != NULL) {
        q->head = it->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->n--;
    }
    return it;
}

static void item_free(struct qitem *it)
{
    if (it == NULL) {
        return;
    }
    weft_vblock_free(it->vb);
    peer__arena_free(&it->arena); /* it->blk */
    weft_free(it->codes);
    weft_free(it->bytes);
    weft_free(it);
}

/* Absolute CLOCK_MONOTONIC timespec for pthread_cond_timedwait. */
static struct timespec mono_ts(uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* Waits on cond until woken or the deadline (0 = none). Returns false on
 * timeout. Called with mu held. */
static bool cwait(struct weft_committer *c, uint64_t deadline)
{
    if (deadline == 0) {
        pthread_cond_wait(&c->cond, &c->mu);
        return true;
    }
    if (weft_clock_mono_ns() >= deadline) {
        return false;
    }
    struct timespec ts = mono_ts(deadline);
    pthread_cond_timedwait(&c->cond, &c->mu, &ts);
    return true;
}

static void set_fatal(struct weft_committer *c, const struct weft_err *e)
{
    pthread_mutex_lock(&c->mu);
    if (c->status == 0) {
        c->status = e->code != 0 ? e->code : WEFT_EIO;
        c->fatal = *e;
        if (c->fatal.code == 0) {
            c->fatal.code = c->status;
        }
    }
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static void refuse(struct weft_committer *c, const struct weft_err *e)
{
    pthread_mutex_lock(&c->mu);
    c->refused++;
    c->refused_err = *e;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/* Unpacks it and checks that it is block `expect` with valid orderer
 * signatures; false (err set) when it must be refused. */
static bool prep_admit(struct weft_committer *c, struct qitem *it, uint64_t expect,
                       struct weft_err *err)
{
    it->blk = common__block__unpack(&it->arena.pb, it->len, it->bytes);
    weft_free(it->bytes);
    it->bytes = NULL;
    if (it->blk == NULL || it->blk->header == NULL || it->blk->data == NULL) {
        weft_err_set(err, WEFT_EINVAL, "block does not parse as common.Block");
        return false;
    }
    if (it->blk->header->number != expect) {
        weft_err_set(err, WEFT_EINVAL, "block %llu: expected block %llu",
                     (unsigned long long)it->blk->header->number, (unsigned long long)expect);
        return false;
    }
    if (c->verify && expect > 0 && weft_validator_verify_block(c->v, it->blk, expect, err) != 0) {
        return false;
    }
    return true;
}

/* Ends it's signature checks and hands it to the commit thread; after a
 * config block, waits until it is committed. false when stopping (it is
 * freed). */
static bool prep_publish(struct weft_committer *c, struct qitem *it)
{
    struct weft_err err = {0};
    if (weft_validator_prepare_end(c->v, it->vb, &err) != 0) {
        item_free(it);
        set_fatal(c, &err);
        return false;
    }
    bool barrier = weft_vblock_is_config(it->vb);
    uint64_t number = it->blk->header->number;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && c->ready.n >= 2) {
        pthread_cond_wait(&c->cond, &c->mu);
    }
    if (c->stopping) {
        pthread_mutex_unlock(&c->mu);
        item_free(it);
        return false;
    }
    q_push(&c->ready, it);
    pthread_cond_broadcast(&c->cond);
    /* a config block changes the MSPs and policies of what follows */
    while (barrier && !c->stopping && c->height <= number) {
        pthread_cond_wait(&c->cond, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return true;
}

/* The validation thread. Two blocks in flight: block N+1 is unpacked,
 * checked and parsed, and its signatures handed to the verifier's workers
 * (prepare_start) before this thread joins the checks of block N
 * (prepare_end), so the workers do not wait while a block is parsed. A
 * config block is ended at once (what follows it is checked under its
 * config). */
static void *prep_main(void *arg)
{
    weft_thread_name("commit-prep");
    struct weft_committer *c = arg;
    struct qitem *pending = NULL; /* started, not ended */
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (pending != NULL && (c->in.n == 0 || c->stopping)) {
            pthread_mutex_unlock(&c->mu); /* nothing to overlap with */
            bool live = prep_publish(c, pending);
            pending = NULL;
            if (!live) {
                break;
            }
            continue;
        }
        while (!c->stopping && c->in.n == 0) {
            if (c->prep_busy) { /* idle: weft_committer_next_number may answer */
                c->prep_busy = false;
                pthread_cond_broadcast(&c->cond);
            }
            pthread_cond_wait(&c->cond, &c->mu);
        }
        if (c->stopping) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        struct qitem *it = q_pop(&c->in);
        c->prep_busy = true;
        uint64_t expect = c->expect;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);

        struct weft_err err = {0};
        if (!prep_admit(c, it, expect, &err)) {
            item_free(it);
            refuse(c, &err);
            continue;
        }
        pthread_mutex_lock(&c->mu);
        c->expect = expect + 1;
        pthread_mutex_unlock(&c->mu);
        if (weft_validator_prepare_start(c->v, it->blk, &it->vb, &err) != 0) {
            item_free(it);
            set_fatal(c, &err);
            break;
        }
        bool barrier = weft_vblock_is_config(it->vb);
        WEFT_DEBUG(lg_commit, "block %llu: signatures handed to the verifier",
                   (unsigned long long)expect);
        if (pending != NULL && !prep_publish(c, pending)) {
            pending = NULL;
            item_free(it);
            break;
        }
        pending = NULL;
        if (barrier) {
            if (!prep_publish(c, it)) {
                break;
            }
        } else {
            pending = it;
        }
    }
    if (pending != NULL) {
        item_free(pending); /* waits for its signature checks */
    }
    pthread_mutex_lock(&c->mu);
    c->prep_busy = false;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Points metadata[TRANSACTIONS_FILTER] of it->blk at it->codes (ntx
 * bytes); new metadata arrays come from the block's arena. */
static int set_filter(struct qitem *it, size_t ntx)
{
    Common__Block *blk = it->blk;
    Common__BlockMetadata *md = blk->metadata;
    if (md == NULL) {
        md = peer__arena_alloc(&it->arena, sizeof(*md));
        if (md == NULL) {
            return WEFT_ENOMEM;
        }
        common__block_metadata__init(md);
        blk->metadata = md;
    }
    if (md->n_metadata < 5) {
        ProtobufCBinaryData *n = peer__arena_alloc(&it->arena, 5 * sizeof(*n));
        if (n == NULL) {
            return WEFT_ENOMEM;
        }
        memset(n, 0, 5 * sizeof(*n));
        if (md->n_metadata > 0) {
            memcpy(n, md->metadata, md->n_metadata * sizeof(*n));
        }
        md->metadata = n;
        md->n_metadata = 5;
    }
    md->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].data = it->codes;
    md->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER].len = ntx;
    return 0;
}

static void *commit_main(void *arg)
{
    weft_thread_name("commit");
    struct weft_committer *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->stopping && c->ready.n == 0) {
            pthread_cond_wait(&c->cond, &c->mu);
        }
        if (c->stopping) {
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        struct qitem *it = q_pop(&c->ready);
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);
        WEFT_DEBUG(lg_commit, "block %llu: signatures checked, committing",
                   (unsigned long long)it->blk->header->number);

        struct weft_err err = {0};
        size_t ntx = it->blk->data->n_data;
        it->codes = weft_malloc(ntx > 0 ? ntx : 1);
        int rc = it->codes != NULL ? 0 : weft_err_set(&err, WEFT_ENOMEM, "out of memory");
        if (rc == 0) {
            rc = weft_validator_finish(c->v, it->vb, it->codes, ntx, &err);
        }
        if (rc == 0) {
            rc = set_filter(it, ntx);
            if (rc != 0) {
                weft_err_set(&err, rc, "out of memory");
            }
        }
        if (rc == 0) {
            uint64_t t0 = weft_clock_mono_ns();
            rc = weft_ledger_commit(c->ledger, it->blk, &err);
            __atomic_fetch_add(&c->commit_ns, weft_clock_mono_ns() - t0, __ATOMIC_RELAXED);
        }
        if (rc != 0) {
            item_free(it);
            set_fatal(c, &err);
            return NULL;
        }
        uint64_t number = it->blk->header->number;
        WEFT_DEBUG(lg_commit, "block %llu committed (%zu transactions)", (unsigned long long)number,
                   ntx);
        if (c->on_commit != NULL) {
            const ProtobufCBinaryData *f =
                &it->blk->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
            c->on_commit(c->ctx, number, f->data, ntx, it->blk);
        }
        item_free(it);
        pthread_mutex_lock(&c->mu);
        c->height = number + 1;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mu);
    }
}

int weft_committer_new(const struct weft_committer_options *opt, struct weft_committer **out,
                       struct weft_err *err)
{
    if (opt == NULL || opt->config == NULL || opt->ledger == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "committer: config and ledger required");
    }
    struct weft_committer *c = weft_calloc(1, sizeof(*c));
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->ledger = opt->ledger;
    c->verify = opt->verify_orderer_sigs;
    c->depth = opt->queue_depth > 0 ? opt->queue_depth : 8;
    c->on_commit = opt->on_commit;
    c->ctx = opt->ctx;
    struct weft_ledger_info info;
    weft_ledger_info(opt->ledger, &info);
    c->height = info.height;
    c->expect = info.height;
    int rc = weft_validator_new(opt->config, opt->ledger, opt->verifier, opt->cache, &c->v, err);
    if (rc != 0) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mu);
        weft_free(c);
        return rc;
    }
    if (pthread_create(&c->prep_thr, NULL, prep_main, c) != 0) {
        weft_committer_free(c);
        return weft_err_set(err, WEFT_ENOMEM, "committer: cannot start a thread");
    }
    c->prep_started = true;
    if (pthread_create(&c->commit_thr, NULL, commit_main, c) != 0) {
        weft_committer_free(c);
        return weft_err_set(err, WEFT_ENOMEM, "committer: cannot start a thread");
    }
    c->commit_started = true;
    *out = c;
    return 0;
}

void weft_committer_free(struct weft_committer *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->prep_started) {
        pthread_join(c->prep_thr, NULL);
    }
    if (c->commit_started) {
        pthread_join(c->commit_thr, NULL);
    }
    struct qitem *it;
    while ((it = q_pop(&c->in)) != NULL) {
        item_free(it);
    }
    while ((it = q_pop(&c->ready)) != NULL) {
        item_free(it);
    }
    weft_validator_free(c->v);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    weft_free(c);
}

static int stopped_err(struct weft_committer *c, struct weft_err *err)
{
    if (c->status != 0) {
        if (err != NULL) {
            *err = c->fatal;
        }
        return WEFT_ESHUTDOWN;
    }
    return weft_err_set(err, WEFT_ESHUTDOWN, "committer stopped");
}

int weft_committer_submit(struct weft_committer *c, uint8_t *bytes, size_t len,
                          uint64_t deadline_mono_ns, struct weft_err *err)
{
    struct qitem *it = weft_calloc(1, sizeof(*it));
    if (it == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && c->in.n >= c->depth) {
        if (!cwait(c, deadline_mono_ns)) {
            pthread_mutex_unlock(&c->mu);
            weft_free(it);
            return weft_err_set(err, WEFT_ETIMEDOUT, "committer queue full");
        }
    }
    if (c->stopping) {
        int rc = stopped_err(c, err);
        pthread_mutex_unlock(&c->mu);
        weft_free(it);
        return rc;
    }
    it->bytes = bytes;
    it->len = len;
    peer__arena_init(&it->arena);
    q_push(&c->in, it);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int weft_committer_wait_height(struct weft_committer *c, uint64_t height,
                               uint64_t deadline_mono_ns, struct weft_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->height < height) {
        if (c->stopping) {
            rc = stopped_err(c, err);
            break;
        }
        if (!cwait(c, deadline_mono_ns)) {
            rc = weft_err_set(err, WEFT_ETIMEDOUT, "height %llu not reached (at %llu)",
                              (unsigned long long)height, (unsigned long long)c->height);
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int weft_committer_commit_block(struct weft_committer *c, const uint8_t *bytes, size_t len,
                                uint8_t *codes, size_t ntx, struct weft_err *err)
{
    Common__Block *blk = common__block__unpack(PEER_PB, len, bytes);
    if (blk == NULL || blk->header == NULL) {
        if (blk != NULL) {
            common__block__free_unpacked(blk, PEER_PB);
        }
        return weft_err_set(err, WEFT_EINVAL, "block does not parse as common.Block");
    }
    uint64_t number = blk->header->number;
    common__block__free_unpacked(blk, PEER_PB);
    uint8_t *copy = weft_memdup(bytes, len > 0 ? len : 1);
    if (copy == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&c->mu);
    uint64_t refused0 = c->refused;
    pthread_mutex_unlock(&c->mu);
    int rc = weft_committer_submit(c, copy, len, 0, err);
    if (rc != 0) {
        weft_free(copy);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    while (c->height <= number && c->refused == refused0 && !c->stopping) {
        pthread_cond_wait(&c->cond, &c->mu);
    }
    if (c->height > number) {
        rc = 0;
    } else if (c->refused != refused0) {
        rc = WEFT_EINVAL;
        if (err != NULL) {
            *err = c->refused_err;
            err->code = WEFT_EINVAL;
        }
    } else {
        rc = stopped_err(c, err);
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && codes != NULL) {
        uint8_t *b;
        size_t bl;
        rc = weft_ledger_block_by_number(c->ledger, number, &b, &bl, err);
        if (rc != 0) {
            return rc;
        }
        Common__Block *cb = common__block__unpack(PEER_PB, bl, b);
        weft_free(b);
        if (cb == NULL) {
            return weft_err_set(err, WEFT_ECORRUPT, "committed block %llu does not parse",
                                (unsigned long long)number);
        }
        const ProtobufCBinaryData *f =
            &cb->metadata->metadata[COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER];
        if (f->len != ntx) {
            rc = weft_err_set(err, WEFT_EINVAL, "block %llu has %zu transactions",
                              (unsigned long long)number, f->len);
        } else if (ntx > 0) {
            memcpy(codes, f->data, ntx);
        }
        common__block__free_unpacked(cb, PEER_PB);
    }
    return rc;
}

uint64_t weft_committer_height(struct weft_committer *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t h = c->height;
    pthread_mutex_unlock(&c->mu);
    return h;
}

uint64_t weft_committer_next_number(struct weft_committer *c)
{
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && (c->in.n > 0 || c->prep_busy)) {
        pthread_cond_wait(&c->cond, &c->mu);
    }
    uint64_t n = c->expect;
    pthread_mutex_unlock(&c->mu);
    return n;
}

uint64_t weft_committer_refused(struct weft_committer *c, struct weft_err *err)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->refused;
    if (err != NULL) {
        *err = c->refused_err;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

int weft_committer_status(struct weft_committer *c, struct weft_err *err)
{
    pthread_mutex_lock(&c->mu);
    int rc = c->status;
    if (rc != 0 && err != NULL) {
        *err = c->fatal;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

const struct weft_channel_config *weft_committer_config(struct weft_committer *c)
{
    return weft_validator_config(c->v);
}

void weft_committer_get_stats(struct weft_committer *c, struct weft_validator_stats *out)
{
    weft_validator_get_stats(c->v, out);
    out->commit_ns = __atomic_load_n(&c->commit_ns, __ATOMIC_RELAXED);
}
