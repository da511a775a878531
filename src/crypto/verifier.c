/*
 * Parallel signature verifier (struct weft_verifier) and the single-item
 * check it runs (weft_verify_item_run).
 *
 * Design: one set of worker threads shared by every caller. A call to
 * weft_verifier_run() puts its batch (on the caller's stack) on a list and
 * wakes the workers; workers and the caller itself claim items with an
 * atomic counter, in chunks sized so each thread gets several, which
 * balances batches where some items are cache hits (sub-microsecond) and
 * others full verifications (tens of microseconds). Concurrent callers (the
 * committer validating a block while the orderer filters broadcasts) each
 * get their batch served; workers take the oldest batch first. The caller
 * waits until every item is done and no worker still holds the batch, so
 * the batch may live on its stack.
 *
 * Each item consults the verification cache first; the cache key uses the
 * certificate's precomputed DER hash, so a hit costs two short SHA-256 runs
 * and a mutex.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct vbatch {
    struct weft_verify_item *items;
    size_t n;
    size_t chunk;
    atomic_size_t next; /* next unclaimed item */
    atomic_size_t done; /* items finished */
    unsigned workers;   /* workers holding a pointer (under lock) */
    bool listed;        /* still on the verifier's list (under lock) */
    struct vbatch *link;
};

struct weft_verifier {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a batch was listed or stopping */
    pthread_cond_t finished; /* a worker released a batch */
    struct vbatch *head;
    struct vbatch *tail;
    bool stopping;
    unsigned nthreads;
    unsigned started;
    pthread_t *threads;
    struct weft_vcache *cache;
};

int weft_verify_item_run(struct weft_vcache *cache, struct weft_verify_item *it)
{
    if (it == NULL) {
        return WEFT_EINVAL;
    }
    it->cached = false;
    if ((it->cert == NULL) == (it->key == NULL) || (it->sig == NULL && it->sig_len != 0) ||
        (it->digest == NULL && it->msg == NULL && it->msg_len != 0)) {
        it->result = WEFT_EINVAL;
        return it->result;
    }
    const struct weft_key *key = it->cert != NULL ? weft_x509_key(it->cert) : it->key;
    if (key == NULL) {
        it->result = WEFT_EUNSUPPORTED;
        return it->result;
    }
    uint8_t digest_buf[WEFT_SHA256_LEN];
    const uint8_t *digest = it->digest;
    if (digest == NULL) {
        weft_sha256(it->msg, it->msg_len, digest_buf);
        digest = digest_buf;
    }
    uint8_t ckey[WEFT_SHA256_LEN];
    if (cache != NULL) {
        uint8_t fp_buf[WEFT_SHA256_LEN];
        const uint8_t *fp;
        if (it->identity != NULL) {
            weft_sha256(it->identity, it->identity_len, fp_buf);
            fp = fp_buf;
        } else if (it->cert != NULL) {
            fp = weft_x509_der_hash(it->cert);
        } else {
            fp = crypto__key_fingerprint(key);
        }
        weft_vcache_key(fp, digest, it->sig, it->sig_len, ckey);
        bool valid = false;
        if (weft_vcache_lookup(cache, ckey, &valid) == 0) {
            it->cached = true;
            it->result = valid ? 0 : WEFT_EBADSIG;
            return it->result;
        }
    }
    int rc = weft_ecdsa_verify_digest(key, digest, it->sig, it->sig_len, NULL);
    it->result = rc == 0 ? 0 : (rc == WEFT_EBADSIG ? WEFT_EBADSIG : rc);
    if (cache != NULL && (rc == 0 || rc == WEFT_EBADSIG)) {
        weft_vcache_insert(cache, ckey, rc == 0);
    }
    return it->result;
}

/* Claims and runs chunks of b until none are left. */
static void batch_work(struct weft_vcache *cache, struct vbatch *b)
{
    for (;;) {
        size_t start = atomic_fetch_add_explicit(&b->next, b->chunk, memory_order_relaxed);
        if (start >= b->n) {
            return;
        }
        size_t end = start + b->chunk < b->n ? start + b->chunk : b->n;
        for (size_t i = start; i < end; i++) {
            (void)weft_verify_item_run(cache, &b->items[i]);
        }
        atomic_fetch_add_explicit(&b->done, end - start, memory_order_release);
    }
}

/* Removes b from the list. Caller holds the lock. */
static void batch_unlist(struct weft_verifier *v, struct vbatch *b)
{
    if (!b->listed) {
        return;
    }
    struct vbatch **link = &v->head;
    struct vbatch *prev = NULL;
    while (*link != NULL && *link != b) {
        prev = *link;
        link = &(*link)->link;
    }
    if (*link == b) {
        *link = b->link;
        if (v->tail == b) {
            v->tail = prev;
        }
    }
    b->listed = false;
}

static void *worker_main(void *arg)
{
    weft_thread_name("verify");
    struct weft_verifier *v = arg;
    pthread_mutex_lock(&v->lock);
    for (;;) {
        while (v->head == NULL && !v->stopping) {
            pthread_cond_wait(&v->work, &v->lock);
        }
        if (v->head == NULL) {
            break; /* stopping */
        }
        struct vbatch *b = v->head;
        b->workers++;
        pthread_mutex_unlock(&v->lock);
        batch_work(v->cache, b);
        pthread_mutex_lock(&v->lock);
        batch_unlist(v, b); /* fully claimed: nothing left for others */
        b->workers--;
        pthread_cond_broadcast(&v->finished);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

struct weft_verifier *weft_verifier_new(unsigned nthreads, struct weft_vcache *cache)
{
    if (nthreads == 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = ncpu > 0 ? (unsigned)ncpu : 1;
    }
    if (nthreads > 1024) {
        return NULL;
    }
    struct weft_verifier *v = weft_calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    v->threads = weft_calloc(nthreads, sizeof(*v->threads));
    if (v->threads == NULL) {
        weft_free(v);
        return NULL;
    }
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->work, NULL);
    pthread_cond_init(&v->finished, NULL);
    v->cache = cache;
    v->nthreads = nthreads;
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&v->threads[i], NULL, worker_main, v) != 0) {
            weft_verifier_free(v);
            return NULL;
        }
        v->started++;
    }
    return v;
}

unsigned weft_verifier_threads(const struct weft_verifier *v)
{
    return v != NULL ? v->nthreads : 0;
}

/* Sets b up for items[0..n) and, when there is more than one item, lists
 * it for the workers. WEFT_ESHUTDOWN after free began. */
static int batch_begin(struct weft_verifier *v, struct vbatch *b, struct weft_verify_item *items,
                       size_t n)
{
    memset(b, 0, sizeof(*b));
    b->items = items;
    b->n = n;
    /* About eight chunks per thread, so uneven items still balance. */
    size_t per = n / ((size_t)(v->nthreads + 1) * 8);
    b->chunk = per > 0 ? per : 1;
    atomic_init(&b->next, 0);
    atomic_init(&b->done, 0);
    pthread_mutex_lock(&v->lock);
    if (v->stopping) {
        pthread_mutex_unlock(&v->lock);
        return WEFT_ESHUTDOWN;
    }
    if (n > 1) {
        b->listed = true;
        if (v->tail != NULL) {
            v->tail->link = b;
        } else {
            v->head = b;
        }
        v->tail = b;
        pthread_cond_broadcast(&v->work);
    }
    pthread_mutex_unlock(&v->lock);
    return 0;
}

/* Works on b with the workers until every item is done. */
static int batch_end(struct weft_verifier *v, struct vbatch *b)
{
    batch_work(v->cache, b);
    pthread_mutex_lock(&v->lock);
    batch_unlist(v, b);
    while (atomic_load_explicit(&b->done, memory_order_acquire) < b->n || b->workers > 0) {
        pthread_cond_wait(&v->finished, &v->lock);
    }
    pthread_mutex_unlock(&v->lock);
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].result != 0) {
            return WEFT_EBADSIG;
        }
    }
    return 0;
}

int weft_verifier_run(struct weft_verifier *v, struct weft_verify_item *items, size_t n)
{
    if (v == NULL || (items == NULL && n != 0)) {
        return WEFT_EINVAL;
    }
    if (n == 0) {
        return 0;
    }
    struct vbatch b;
    int rc = batch_begin(v, &b, items, n);
    return rc != 0 ? rc : batch_end(v, &b);
}

struct weft_verify_batch {
    struct vbatch b;
};

struct weft_verify_batch *weft_verifier_start(struct weft_verifier *v,
                                              struct weft_verify_item *items, size_t n)
{
    if (v == NULL || (items == NULL && n != 0)) {
        return NULL;
    }
    struct weft_verify_batch *h = weft_malloc(sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    if (batch_begin(v, &h->b, items, n) != 0) {
        weft_free(h);
        return NULL;
    }
    return h;
}

int weft_verifier_finish(struct weft_verifier *v, struct weft_verify_batch *h)
{
    if (v == NULL || h == NULL) {
        return WEFT_EINVAL;
    }
    int rc = h->b.n == 0 ? 0 : batch_end(v, &h->b);
    weft_free(h);
    return rc;
}

void weft_verifier_free(struct weft_verifier *v)
{
    if (v == NULL) {
        return;
    }
    pthread_mutex_lock(&v->lock);
    v->stopping = true;
    pthread_cond_broadcast(&v->work);
    pthread_mutex_unlock(&v->lock);
    for (unsigned i = 0; i < v->started; i++) {
        pthread_join(v->threads[i], NULL);
    }
    pthread_cond_destroy(&v->work);
    pthread_cond_destroy(&v->finished);
    pthread_mutex_destroy(&v->lock);
    weft_free(v->threads);
    weft_free(v);
}
