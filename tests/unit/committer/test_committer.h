#ifndef TEST_COMMITTER_H
#define TEST_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.pb-c.h"

#define VEC_NBLOCKS 76

/* test_vectors.c helpers */
uint8_t *vec_block_bytes(unsigned n, size_t *len);
Common__Block *vec_block(unsigned n); /* TRANSACTIONS_FILTER cleared */
void vec_expected_codes(unsigned n, uint8_t *codes, size_t *ntx);
const char *vec_expected_header_hash(unsigned n); /* static buffer */
struct weft_ledger;
void vec_check_state(struct weft_ledger *l);
void vec_check_history(struct weft_ledger *l);

void test_header_der(void **state);
void test_code_names(void **state);
void test_conformance_replay(void **state);
void test_tampered_blocks(void **state);
void test_committer_pipeline(void **state);
void test_deliver_and_pull(void **state);

#endif
