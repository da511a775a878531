/* The ledger's transaction gate (gate.h). */
#include "gate.h"

void ledger__gate_init(struct ledger_gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->readers = 0;
    g->writer = false;
}

void ledger__gate_destroy(struct ledger_gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cond);
}

void ledger__gate_read_lock(struct ledger_gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->writer) {
        pthread_cond_wait(&g->cond, &g->mu);
    }
    g->readers++;
    pthread_mutex_unlock(&g->mu);
}

void ledger__gate_read_unlock(struct ledger_gate *g)
{
    pthread_mutex_lock(&g->mu);
    if (--g->readers == 0) {
        pthread_cond_broadcast(&g->cond);
    }
    pthread_mutex_unlock(&g->mu);
}

void ledger__gate_write_lock(struct ledger_gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->writer || g->readers > 0) {
        pthread_cond_wait(&g->cond, &g->mu);
    }
    g->writer = true;
    pthread_mutex_unlock(&g->mu);
}

void ledger__gate_write_unlock(struct ledger_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->writer = false;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}
