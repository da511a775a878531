/*
 * weft lifecycle client helpers (part of the peer library): what Fabric's
 * peer CLI and SDKs do on the client side of endorsement, for `weft
 * chaincode`, tests and benchmarks.
 *
 *  - weft_lc_proposal_new: a signed chaincode proposal (ENDORSER_TRANSACTION
 *    header, txid = hex(SHA-256(nonce || creator)), ChaincodeInvocationSpec
 *    with the given args), signed with the MSP's signing identity;
 *  - weft_lc_tx_new: the transaction envelope from the proposal and its
 *    endorsed ProposalResponses (Fabric's CreateSignedTx: responses must
 *    have status 200..399 and identical payloads; the transient map is
 *    stripped), signed by the same identity.
 *
 * The server side, the _lifecycle system chaincode, runs inside the peer
 * (src/peer/lifecycle*.c; docs/chaincode.md "Lifecycle").
 *
 * Errors: 0 or a negative WEFT_E* with a message in err (may be NULL).
 */
#ifndef WEFT_LIFECYCLE_H
#define WEFT_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_msp;

struct weft_lc_proposal {
    uint8_t *signed_proposal; /* ser(SignedProposal), weft_free'd by clear */
    size_t signed_proposal_len;
    uint8_t *proposal; /* ser(Proposal) */
    size_t proposal_len;
    char txid[65];
};

/* Builds and signs a proposal for chaincode cc on channel ("" = channel-
 * less, e.g. _lifecycle InstallChaincode). args[i] has lens[i] bytes
 * (borrowed). transient entries may be NULL. signer must hold a signing
 * identity. */
int weft_lc_proposal_new(struct weft_msp *signer, const char *channel, const char *cc,
                         const uint8_t *const *args, const size_t *lens, size_t n_args,
                         bool is_init, struct weft_lc_proposal *out,
                         struct weft_err *err) WEFT_WARN_UNUSED;
void weft_lc_proposal_clear(struct weft_lc_proposal *p);

/* Envelope (*env weft_free) of a transaction from prop and n serialized
 * ProposalResponses (borrowed). WEFT_EINVAL when a response is not a
 * success or the payloads differ (err says which). */
int weft_lc_tx_new(struct weft_msp *signer, const struct weft_lc_proposal *prop,
                   const uint8_t *const *responses, const size_t *lens, size_t n, uint8_t **env,
                   size_t *env_len, struct weft_err *err) WEFT_WARN_UNUSED;

#endif
