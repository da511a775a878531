/* Shared declarations of the state tests (test_state.c, test_state_vectors.c). */
#ifndef WEFT_TEST_STATE_H
#define WEFT_TEST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "ledger/queryresult/kv_query_result.pb-c.h"
#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"

/* Serialized endorser-transaction Envelope carrying rwset bytes (weft_free). */
uint8_t *ts_make_envelope(const char *txid, int64_t secs, const uint8_t *rws, size_t rws_len,
                          size_t *out_len);
/* Replays the Fabric v2.4.9 chain (vectors) through validator, simulator and
 * state; compares codes, rwset bytes, final state and key histories. */
void test_state_vectors_replay(void **state);
/* The same chain through weft_ledger_open / commit and the public wrappers. */
void test_state_vectors_facade(void **state);

#endif
