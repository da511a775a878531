/*
 * Worker thread pool: a mutex-guarded FIFO of work items drained by up to N
 * threads. Handlers that may block (ledger, chaincode, signature batches) run
 * here so that gRPC completion-queue threads never block (ARCHITECTURE.md,
 * Threads). Threads are started on demand: one at creation, another whenever
 * an item is queued while no idle worker is left to take it, up to N. An idle
 * process so keeps a handful of threads instead of N (each costs a touched
 * stack), and the concurrency a caller asked for is still there under load.
 */
#include <pthread.h>
#include <unistd.h>

#include "weft/base.h"

struct pool_item {
    weft_pool_work_cb fn;
    void *arg;
    struct pool_item *next;
};

struct weft_pool {
    pthread_mutex_t lock; /* guards head, tail, stopping */
    pthread_cond_t nonempty;
    struct pool_item *head;
    struct pool_item *tail;
    bool stopping;
    unsigned nthreads; /* maximum */
    unsigned nstarted; /* guarded by lock, like nidle and nqueued */
    unsigned nidle;    /* workers waiting for an item */
    unsigned nqueued;  /* items in the queue */
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    weft_thread_name("pool");
    struct weft_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        p->nidle++;
        while (p->head == NULL && !p->stopping) {
            pthread_cond_wait(&p->nonempty, &p->lock);
        }
        p->nidle--;
        struct pool_item *it = p->head;
        if (it == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->nqueued--;
        p->head = it->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        pthread_mutex_unlock(&p->lock);
        it->fn(it->arg);
        weft_free(it);
    }
}

struct weft_pool *weft_pool_new(unsigned nthreads)
{
    if (nthreads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (unsigned)n : 1;
    }
    struct weft_pool *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->threads = weft_calloc(nthreads, sizeof(pthread_t));
    if (p->threads == NULL) {
        weft_free(p);
        return NULL;
    }
    p->nthreads = nthreads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->nonempty, NULL);
    if (pthread_create(&p->threads[0], NULL, worker_main, p) != 0) {
        weft_pool_free(p);
        return NULL;
    }
    p->nstarted = 1;
    return p;
}

int weft_pool_submit(struct weft_pool *p, weft_pool_work_cb fn, void *arg)
{
    struct pool_item *it = weft_malloc(sizeof(*it));
    if (it == NULL) {
        return WEFT_ENOMEM;
    }
    it->fn = fn;
    it->arg = arg;
    it->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        weft_free(it);
        return WEFT_ESHUTDOWN;
    }
    /* Every queued item needs a waiting worker of its own; start one more
     * if there are not enough (a failure leaves the item to the workers
     * already running, which always include the first). */
    if (p->nqueued + 1 > p->nidle && p->nstarted < p->nthreads &&
        pthread_create(&p->threads[p->nstarted], NULL, worker_main, p) == 0) {
        p->nstarted++;
    }
    p->nqueued++;
    if (p->tail != NULL) {
        p->tail->next = it;
    } else {
        p->head = it;
    }
    p->tail = it;
    pthread_cond_signal(&p->nonempty);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

unsigned weft_pool_size(const struct weft_pool *p)
{
    return p->nthreads;
}

void weft_pool_free(struct weft_pool *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->nonempty);
    unsigned n = p->nstarted; /* no more start once stopping is set */
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < n; i++) {
        pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->nonempty);
    weft_free(p->threads);
    weft_free(p);
}
