/*
 * The ledger's transaction gate: a reader/writer lock whose read side may be
 * released by another thread than the one that took it (a simulation's
 * read transaction starts on the endorsing thread and ends on whichever
 * thread completes the chaincode: LMDB allows that with MDB_NOTLS, a
 * pthread rwlock does not). Readers never wait for each other, nor for a
 * waiting writer (a thread may hold two reads); a writer waits for every
 * reader to leave. Writers are rare: growing the LMDB map.
 */
#ifndef WEFT_LEDGER_GATE_H
#define WEFT_LEDGER_GATE_H

#include <pthread.h>
#include <stdbool.h>

struct ledger_gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned readers;
    bool writer;
};

void ledger__gate_init(struct ledger_gate *g);
void ledger__gate_destroy(struct ledger_gate *g);
void ledger__gate_read_lock(struct ledger_gate *g);
void ledger__gate_read_unlock(struct ledger_gate *g);
void ledger__gate_write_lock(struct ledger_gate *g);
void ledger__gate_write_unlock(struct ledger_gate *g);

#endif
