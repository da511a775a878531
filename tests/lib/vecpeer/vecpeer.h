/* Test fixture shared by the peer tests that run over the Fabric v2.4.9
 * vector chain: an Org1 peer joined to mychannel, Org1's admin and user,
 * the vector blocks and the _lifecycle transactions in them, commits of
 * vector or hand-built blocks, and _lifecycle endorsements. Linked by the
 * test targets that already link the peer library (weft_testlib_vecpeer),
 * not by weft_testlib. Failures are cmocka assertions. */
#ifndef WEFT_TESTLIB_VECPEER_H
#define WEFT_TESTLIB_VECPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer/proposal_response.pb-c.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/peer.h"

/* Vector folders below wt_shared_dir(), and the basic package's ID. */
#define WT_VEC "vectors/fabric-2.4.9"
#define WT_VEC_ORG1 WT_VEC "/crypto/peerOrganizations/org1.example.com"
#define WT_VEC_PKGID "basic_1.0:c59343e3e1336467f7bdc33b87ca54c093819c27e11cbad057c1254d2acbcf99"

/* wt_shared_dir()/rel; caller frees with weft_free. */
char *wt_vec_path(const char *rel);
/* The serialized vector block n; caller frees with weft_free. */
uint8_t *wt_vec_block(uint64_t n, size_t *len);
/* Of tx i of vector block n: ChaincodeAction.results (skipped when rwset is
 * NULL) and the _lifecycle argument (args[1] of two). Caller frees both. */
void wt_vec_tx(uint64_t n, size_t i, uint8_t **rwset, size_t *rwset_len, uint8_t **arg,
               size_t *arg_len);
/* The _lifecycle argument of tx i of vector block n (wt_vec_tx without the
 * results). */
uint8_t *wt_vec_arg(uint64_t n, size_t i, size_t *arg_len);

struct wt_vecpeer {
    char *dir;
    struct weft_peer *peer;
    struct weft_msp *admin, *user; /* Org1's Admin and User1 */
    /* set by wt_vecpeer_track: the next block number and the last header
     * hash, checked and updated by every commit from then on */
    bool track;
    uint64_t height;
    uint8_t last_hash[32];
};

/* A peer of Org1 (peer0's MSP, fs in a fresh wt_tmpdir(prefix), chaincode
 * listener on 127.0.0.1:0, execute timeout 2 s, no ledger sync) joined to
 * the vector genesis block, with Org1's admin and user loaded. NULL when
 * the peer cannot be built (the reason is printed). */
struct wt_vecpeer *wt_vecpeer_new(const char *prefix);
/* Frees the peer and identities and removes the folder. NULL is ignored. */
void wt_vecpeer_free(struct wt_vecpeer *vp);
/* Starts tracking mychannel's height and last header hash (needed by
 * wt_vecpeer_commit_envelope). */
void wt_vecpeer_track(struct wt_vecpeer *vp);
/* Commits a serialized block on mychannel; asserts success (and, when
 * tracking, that it is the next block, then remembers its header hash). */
void wt_vecpeer_commit(struct wt_vecpeer *vp, const uint8_t *b, size_t len);
/* Commits vector block n. */
void wt_vecpeer_commit_vec_block(struct wt_vecpeer *vp, uint64_t n);
/* Commits a block of one valid transaction env on top of the tracked chain. */
void wt_vecpeer_commit_envelope(struct wt_vecpeer *vp, const uint8_t *env, size_t len);

/* A _lifecycle proposal endorsed by the peer, not yet committed. */
struct wt_lc_tx {
    struct weft_msp *who;
    struct weft_lc_proposal prop;
    uint8_t *resp;
    size_t resp_len;
};

/* Endorses _lifecycle fn(arg) on channel ("" for channel-less functions)
 * as who; asserts the endorser ran. Keeps the proposal and the serialized
 * response in t (release with wt_vecpeer_lc_finish) and returns the decoded
 * response, which has a response field (free with
 * protos__proposal_response__free_unpacked). */
Protos__ProposalResponse *wt_vecpeer_lc_endorse(struct wt_vecpeer *vp, struct weft_msp *who,
                                                const char *channel, const char *fn,
                                                const uint8_t *arg, size_t arg_len,
                                                struct wt_lc_tx *t);
/* commit: wraps t's response into a transaction and commits it in a block
 * of its own (wt_vecpeer_commit_envelope). Then frees t's contents. */
void wt_vecpeer_lc_finish(struct wt_vecpeer *vp, struct wt_lc_tx *t, bool commit);

#endif
