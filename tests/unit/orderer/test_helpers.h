/* Shared helpers of the orderer unit tests: identities from the Fabric
 * vectors, MSP/policy managers, signed envelopes. Abort the test on failure. */
#ifndef ORDERER_TEST_HELPERS_H
#define ORDERER_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orderer/orderer_int.h"
#include "weft/msp.h"
#include "weft/policy.h"

struct th_ident {
    struct weft_msp *msp;
    const uint8_t *creator;
    size_t creator_len;
};

/* rel: folder under vectors/fabric-2.4.9/crypto */
struct th_ident *th_ident_load(const char *rel, const char *mspid);
void th_ident_free(struct th_ident *id);
struct weft_msp_mgr *th_mgr_with(struct th_ident *id);
struct orderer_signer th_signer(struct th_ident *id);
/* /Channel/Writers and /Channel/Readers = rule (policy language). */
struct weft_policy_mgr *th_policy_mgr(struct weft_msp_mgr *mgr, const char *rule);
/* Signed envelope of header type `type` with data_size payload data bytes;
 * bad_sig corrupts the signature. */
uint8_t *th_envelope(struct th_ident *id, const char *channel, int type, size_t data_size,
                     bool bad_sig, size_t *len);
uint8_t *th_envelope_unsigned(struct th_ident *id, const char *channel, size_t *len);
/* Envelope with the given data (signed when id != NULL), timestamp ts_sec. */
uint8_t *th_envelope_data(struct th_ident *id, const char *channel, int type, const uint8_t *data,
                          size_t data_len, int64_t ts_sec, size_t *len);
uint8_t *th_vec_file(const char *rel, size_t *len);

/* test_raft.c: three Raft groups joined by socket pairs. */
void test_raft_three_groups(void **state);

#endif
