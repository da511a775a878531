/*
 * Small shared helpers of the orderer library: the protobuf-c allocator that
 * routes unpacking through weft_malloc (so allocation-failure tests reach it).
 */
#include <stdio.h>
#include <time.h>

#include "orderer_int.h"

static void *pb_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return weft_malloc(size);
}

static void pb_free(void *ctx, void *ptr)
{
    (void)ctx;
    weft_free(ptr);
}

ProtobufCAllocator orderer__pb_alloc = {pb_alloc, pb_free, NULL};

/* ---- commit tickets ------------------------------------------------------ */

void orderer__waitq_init(struct orderer_waitq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &a);
    pthread_condattr_destroy(&a);
}

void orderer__waitq_destroy(struct orderer_waitq *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
}

struct orderer_ticket *orderer__ticket_new(struct orderer_waitq *wq)
{
    struct orderer_ticket *t = weft_calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    atomic_init(&t->refs, 2);
    t->wq = wq;
    t->t0_ns = weft_clock_mono_ns();
    return t;
}

void orderer__ticket_unref(struct orderer_ticket *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1) {
        weft_free(t);
    }
}

void orderer__ticket_finish(struct orderer_ticket *t, int status, const char *info)
{
    if (t == NULL) {
        return;
    }
    pthread_mutex_lock(&t->wq->mu);
    if (t->status == 0) {
        t->status = status;
        snprintf(t->info, sizeof(t->info), "%s", info != NULL ? info : "");
        pthread_cond_broadcast(&t->wq->cond);
    }
    pthread_mutex_unlock(&t->wq->mu);
    orderer__ticket_unref(t);
}

int orderer__ticket_wait(struct orderer_ticket *t, uint64_t deadline_ns, bool (*stop)(void *),
                         void *arg)
{
    pthread_mutex_lock(&t->wq->mu);
    while (t->status == 0) {
        uint64_t now = weft_clock_mono_ns();
        if (now >= deadline_ns || (stop != NULL && stop(arg))) {
            break;
        }
        uint64_t until = deadline_ns - now < 100000000ull ? deadline_ns : now + 100000000ull;
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000000ull),
                              .tv_nsec = (long)(until % 1000000000ull)};
        pthread_cond_timedwait(&t->wq->cond, &t->wq->mu, &ts);
    }
    int st = t->status;
    pthread_mutex_unlock(&t->wq->mu);
    return st;
}
