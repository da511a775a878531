/*
 * weft committer (part of the peer library): block validation and commit for
 * one channel, orderer block verification, and the peer's Deliver service.
 *
 * Validation follows ../shared/spec/block-and-validation.md section 6 (the
 * v20 validator of Fabric v2.4.9) and sets every transaction's
 * TxValidationCode exactly as Fabric does; MVCC (section 7) is delegated to
 * weft_ledger_mvcc_validate_block. A block is validated in two phases so the
 * next block's signature checks overlap the current block's commit:
 *
 *   prepare  (state-independent) envelope structure, headers, txid, proposal
 *            hash, rwset decoding; every creator and endorsement signature of
 *            the block in ONE batch on the parallel verifier (and the
 *            verification cache);
 *   finish   (needs the state after the previous block) DUPLICATE_TXID
 *            against the ledger, chaincode definitions from _lifecycle,
 *            endorsement policies with key-level overrides, _lifecycle rules,
 *            in-block duplicates, MVCC; config transactions are applied.
 *
 * Threads: a struct weft_validator is used by one committer at a time:
 * prepare() may run on one thread while finish() runs on another for an
 * EARLIER block, never two prepares or two finishes at once. The committer
 * object runs that pipeline on its own two threads.
 *
 * Errors: 0 or a negative WEFT_E* code with a message in err (may be NULL).
 * A transaction that is invalid is not an error (its code says why); an
 * error means the block cannot be committed (ledger failure, a config
 * transaction that cannot be applied, a block that is not the next one).
 */
#ifndef WEFT_COMMITTER_H
#define WEFT_COMMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_ledger;
struct weft_verifier;
struct weft_vcache;
struct weft_channel_config;
struct Common__Block;

/* protos.TxValidationCode values (spec section 9). */
enum weft_tx_code {
    WEFT_TXC_VALID = 0,
    WEFT_TXC_NIL_ENVELOPE = 1,
    WEFT_TXC_BAD_PAYLOAD = 2,
    WEFT_TXC_BAD_COMMON_HEADER = 3,
    WEFT_TXC_BAD_CREATOR_SIGNATURE = 4,
    WEFT_TXC_INVALID_ENDORSER_TRANSACTION = 5,
    WEFT_TXC_INVALID_CONFIG_TRANSACTION = 6,
    WEFT_TXC_UNSUPPORTED_TX_PAYLOAD = 7,
    WEFT_TXC_BAD_PROPOSAL_TXID = 8,
    WEFT_TXC_DUPLICATE_TXID = 9,
    WEFT_TXC_ENDORSEMENT_POLICY_FAILURE = 10,
    WEFT_TXC_MVCC_READ_CONFLICT = 11,
    WEFT_TXC_PHANTOM_READ_CONFLICT = 12,
    WEFT_TXC_UNKNOWN_TX_TYPE = 13,
    WEFT_TXC_TARGET_CHAIN_NOT_FOUND = 14,
    WEFT_TXC_MARSHAL_TX_ERROR = 15,
    WEFT_TXC_NIL_TXACTION = 16,
    WEFT_TXC_EXPIRED_CHAINCODE = 17,
    WEFT_TXC_CHAINCODE_VERSION_CONFLICT = 18,
    WEFT_TXC_BAD_HEADER_EXTENSION = 19,
    WEFT_TXC_BAD_CHANNEL_HEADER = 20,
    WEFT_TXC_BAD_RESPONSE_PAYLOAD = 21,
    WEFT_TXC_BAD_RWSET = 22,
    WEFT_TXC_ILLEGAL_WRITESET = 23,
    WEFT_TXC_INVALID_WRITESET = 24,
    WEFT_TXC_INVALID_CHAINCODE = 25,
    WEFT_TXC_NOT_VALIDATED = 254,
    WEFT_TXC_INVALID_OTHER_REASON = 255,
};

/* Fabric's enum name of a code ("VALID", "MVCC_READ_CONFLICT"); "UNKNOWN"
 * for a value that has none. Static string. */
const char *weft_tx_code_name(int code);

/* ---- validator -------------------------------------------------------------- */

struct weft_validator;
struct weft_vblock;

/* Counters of a validator (cumulative; for metrics and benchmarks). */
struct weft_validator_stats {
    uint64_t blocks;
    uint64_t txs;
    uint64_t sig_checks;      /* signatures handed to the verifier */
    uint64_t prepare_ns;      /* time in prepare (parse + signatures) */
    uint64_t finish_ns;       /* time in finish (policies + MVCC) */
    uint64_t config_updates;  /* config blocks applied after the genesis */
    uint64_t commit_ns;       /* committer only: time in the ledger commit */
};

/* New validator for cfg->channel_id. cfg is TRANSFERRED on success (the
 * validator frees it; replaced configs are kept until the validator is freed
 * so pointers handed out by weft_validator_config stay valid). ledger,
 * verifier (may be NULL: checks run on the calling thread) and cache (may be
 * NULL) are borrowed and must outlive the validator. */
int weft_validator_new(struct weft_channel_config *cfg, struct weft_ledger *ledger,
                       struct weft_verifier *verifier, struct weft_vcache *cache,
                       struct weft_validator **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* NULL-safe. No prepare/finish may be in progress. */
void weft_validator_free(struct weft_validator *v);

/* The current channel configuration (borrowed; valid until the validator is
 * freed, even after a config block replaced it). */
const struct weft_channel_config *weft_validator_config(const struct weft_validator *v);

/* Phase 1. blk is borrowed and must stay alive and unmodified until the
 * matching finish() or weft_vblock_free(). *out (weft_vblock_free) on
 * success. Fails only on allocation failure or a block without header/data
 * (WEFT_EINVAL). */
int weft_validator_prepare(struct weft_validator *v, const struct Common__Block *blk,
                           struct weft_vblock **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* prepare in two halves: start parses the block and hands its signatures
 * to the parallel verifier; end works on them too, waits for them and sets
 * the outcome. Between the two the caller may start the next block (not
 * after a config block: weft_vblock_is_config is known after start). Every
 * started block must be ended before finish; weft_vblock_free of a started
 * block waits for its signature checks. */
int weft_validator_prepare_start(struct weft_validator *v, const struct Common__Block *blk,
                                 struct weft_vblock **out, struct weft_err *err) WEFT_WARN_UNUSED;
int weft_validator_prepare_end(struct weft_validator *v, struct weft_vblock *vb,
                               struct weft_err *err) WEFT_WARN_UNUSED;
/* True when the prepared block holds a config transaction: the next block
 * must not be prepared before this one has been finished (its MSPs may
 * change). */
bool weft_vblock_is_config(const struct weft_vblock *vb);
/* Phase 2, in block order, after the previous block was committed to the
 * ledger. Writes the final code of every transaction to codes[0..ntx) (ntx =
 * number of transactions of the block; never NOT_VALIDATED). Applies a valid
 * config transaction to the validator's channel config. */
int weft_validator_finish(struct weft_validator *v, struct weft_vblock *vb, uint8_t *codes,
                          size_t ntx, struct weft_err *err) WEFT_WARN_UNUSED;
/* NULL-safe. */
void weft_vblock_free(struct weft_vblock *vb);

/* prepare + finish in one call. */
int weft_validator_validate(struct weft_validator *v, const struct Common__Block *blk,
                            uint8_t *codes, size_t ntx, struct weft_err *err) WEFT_WARN_UNUSED;

/* Orderer-side checks a peer applies to a block it receives (Fabric's
 * mcs.VerifyBlock, spec section 3): header present with number
 * expected_number, first envelope's channel = this channel, data hash,
 * metadata[SIGNATURES] parses and its signatures satisfy
 * /Channel/Orderer/BlockValidation of the current config. 0 when the block
 * is acceptable; WEFT_EINVAL (structure, number, hash) or WEFT_EPOLICY /
 * WEFT_EBADSIG (signatures) with a message naming the block. Any thread
 * (reads the current config; not concurrently with a finish() that applies a
 * config block). */
int weft_validator_verify_block(struct weft_validator *v, const struct Common__Block *blk,
                                uint64_t expected_number, struct weft_err *err) WEFT_WARN_UNUSED;

void weft_validator_get_stats(const struct weft_validator *v, struct weft_validator_stats *out);

/* ASN.1 DER of a block header (spec section 2): SEQUENCE{INTEGER number,
 * OCTET STRING prev, OCTET STRING data_hash}. Returns the length written to
 * out (which must hold 16 + prev_len + data_hash_len bytes), or 0 when out
 * is too small. */
size_t weft_block_header_der(uint64_t number, const uint8_t *prev, size_t prev_len,
                             const uint8_t *data_hash, size_t data_hash_len, uint8_t *out,
                             size_t cap);

/* ---- committer (one per channel) ------------------------------------------------ */

/* Runs the validate-and-commit pipeline of one channel on two threads: the
 * validation thread unpacks block N+1, checks its orderer signatures and
 * runs weft_validator_prepare (every signature of the block on the parallel
 * verifier) while the commit thread finishes and commits block N. A config
 * block is a barrier: the block after it is prepared only once it has been
 * committed, with the MSPs and policies it installed. */
struct weft_committer;

/* Called on the commit thread after each block is committed: codes[i] is
 * the TxValidationCode of transaction i; blk is the committed block (with
 * its TRANSACTIONS_FILTER). All borrowed for the call. Must not call back
 * into the committer except the read-only getters. */
typedef void (*weft_committer_commit_cb)(void *ctx, uint64_t number, const uint8_t *codes,
                                         size_t ntx, const struct Common__Block *blk);

struct weft_committer_options {
    struct weft_channel_config *config; /* TRANSFERRED on success (see weft_validator_new) */
    struct weft_ledger *ledger;         /* borrowed */
    struct weft_verifier *verifier;     /* borrowed, may be NULL */
    struct weft_vcache *cache;          /* borrowed, may be NULL */
    /* Check each block (except block 0) against the current config's
     * /Channel/Orderer/BlockValidation before validating it: a block that
     * fails (or is not the next number) is refused, counted and dropped,
     * and the committer keeps waiting for the right block. */
    bool verify_orderer_sigs;
    size_t queue_depth; /* blocks accepted by submit before it waits; 0 = 8 */
    weft_committer_commit_cb on_commit; /* may be NULL */
    void *ctx;
};

/* Starts the two threads. The ledger may already hold blocks (the next
 * block expected is its height). */
int weft_committer_new(const struct weft_committer_options *opt, struct weft_committer **out,
                       struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops the threads (queued blocks that were not committed are dropped) and
 * frees. NULL-safe. Not from an on_commit callback. */
void weft_committer_free(struct weft_committer *c);

/* Queues a serialized common.Block. bytes are TRANSFERRED on success (freed
 * with weft_free). Waits while the queue is full, until deadline_mono_ns (0
 * = no limit): WEFT_ETIMEDOUT. WEFT_ESHUTDOWN once the committer stopped
 * (after a fatal error: weft_committer_status tells why). Any thread. */
int weft_committer_submit(struct weft_committer *c, uint8_t *bytes, size_t len,
                          uint64_t deadline_mono_ns, struct weft_err *err) WEFT_WARN_UNUSED;
/* Synchronous: submits a copy of the block and waits until it is committed
 * (or refused). codes (may be NULL) receives its validation codes (ntx
 * entries). WEFT_EINVAL when the block was refused. */
int weft_committer_commit_block(struct weft_committer *c, const uint8_t *bytes, size_t len,
                                uint8_t *codes, size_t ntx, struct weft_err *err) WEFT_WARN_UNUSED;
/* Waits until the ledger height is at least height. WEFT_ETIMEDOUT at the
 * deadline (0 = none); the committer's fatal error if it stopped. */
int weft_committer_wait_height(struct weft_committer *c, uint64_t height,
                               uint64_t deadline_mono_ns, struct weft_err *err) WEFT_WARN_UNUSED;
/* Committed height (blocks). */
uint64_t weft_committer_height(struct weft_committer *c);
/* Number of the next block the committer will accept: waits until every
 * queued block has been examined (accepted or refused), so a block puller
 * knows where to resume after a refusal. */
uint64_t weft_committer_next_number(struct weft_committer *c);
/* Blocks refused so far (orderer signatures, number); the last reason in
 * err when it is non-NULL. */
uint64_t weft_committer_refused(struct weft_committer *c, struct weft_err *err);
/* 0 while running; the fatal error (ledger failure, config that cannot be
 * applied) once stopped. */
int weft_committer_status(struct weft_committer *c, struct weft_err *err);
/* The channel config in force (borrowed; valid until the committer is
 * freed). */
const struct weft_channel_config *weft_committer_config(struct weft_committer *c);
void weft_committer_get_stats(struct weft_committer *c, struct weft_validator_stats *out);

/* ---- Deliver service (protos.Deliver) -------------------------------------------- */

struct weft_rpc_server;
struct weft_deliver;

/* What Deliver needs of a joined channel. Borrowed pointers, valid until the
 * deliver object is freed (a peer keeps its channels for its lifetime). */
struct weft_deliver_channel {
    struct weft_ledger *ledger;
    const struct weft_channel_config *config; /* current config (ACLs, policies) */
};
/* Looks a channel up: 0 and *out filled, or WEFT_ENOTFOUND. Called on a
 * handler thread, once per request and again whenever a stream moves to a
 * new block (so a config update is seen). */
typedef int (*weft_deliver_lookup_fn)(void *ctx, const char *channel,
                                      struct weft_deliver_channel *out);

struct weft_deliver_options {
    weft_deliver_lookup_fn lookup;
    void *ctx;
    int64_t time_window_ns; /* peer.authentication.timewindow; 0 = 15 min */
    /* Require ChannelHeader.tls_cert_hash = SHA-256 of the client's TLS
     * certificate (servers with mutual TLS). */
    bool bind_tls;
};

/* Registers /protos.Deliver/{Deliver,DeliverFiltered,DeliverWithPrivateData}
 * on srv (before it starts). Semantics (spec wire.md section 5): one status
 * per request, SeekInfo start/stop/behaviour as in the orderer, ACL
 * event/Block or event/FilteredBlock from the channel's ACLs (default
 * /Channel/Application/Readers) re-evaluated when the config changes,
 * filtered blocks with validation codes and chaincode event names.
 * *out must outlive the server (free it after weft_rpc_server_free). */
int weft_deliver_register(struct weft_rpc_server *srv, const struct weft_deliver_options *opt,
                          struct weft_deliver **out, struct weft_err *err) WEFT_WARN_UNUSED;
void weft_deliver_free(struct weft_deliver *d);

/* Serialized protos.FilteredBlock of a committed block (bytes borrowed).
 * *out weft_malloc'd. */
int weft_deliver_filtered_block(const uint8_t *block, size_t len, uint8_t **out, size_t *out_len,
                                struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- block puller (orgLeader mode) -------------------------------------------------- */

struct weft_msp;
struct weft_rpc_client_opts;
struct weft_blockpuller;

/* peer.deliveryclient.addressOverrides (Fabric): an orderer endpoint equal,
 * as a string, to `from` is dialled at `to` instead, and its TLS server
 * certificate must chain to ca_pem (PEM, Fabric's caCertsFile) when not NULL;
 * NULL keeps the roots of `client`. */
struct weft_blockpuller_override {
    const char *from;
    const char *to;
    const char *ca_pem;
};

struct weft_blockpuller_options {
    const char *channel;
    struct weft_committer *committer; /* borrowed; receives every block */
    /* "host:port" orderer endpoints; NULL: the orderer organisations'
     * Endpoints of the committer's channel config, else its
     * OrdererAddresses. Copied. */
    const char *const *endpoints;
    size_t n_endpoints;
    /* TLS (ca, client cert/key for mutual TLS), keepalive... may be NULL.
     * Copied by the rpc client at each connection; the PEM strings must
     * outlive the puller. */
    const struct weft_rpc_client_opts *client;
    struct weft_msp *signer; /* local MSP with a signing identity; borrowed */
    int64_t backoff_min_ms;  /* 0 = 100 */
    int64_t backoff_max_ms;  /* 0 = 10000 */
    const char *method;      /* 0 = "/orderer.AtomicBroadcast/Deliver" */
    /* Applied to every endpoint, given or from the config. Copied. */
    const struct weft_blockpuller_override *overrides;
    size_t n_overrides;
};

struct weft_blockpuller_stats {
    uint64_t connects;  /* streams opened */
    uint64_t failovers; /* streams abandoned (error, status, refused block) */
    uint64_t blocks;    /* blocks handed to the committer */
};

/* Starts a thread that pulls blocks from the ordering service's Deliver for
 * the channel, from the committer's next block on, signing its seek requests
 * with the peer's identity, and hands them to the committer (which verifies
 * their orderer signatures against BlockValidation; configure it with
 * verify_orderer_sigs). On a stream error, a non-200 status or a refused
 * block it moves to the next endpoint, with exponential backoff between
 * attempts (reset by a received block). */
int weft_blockpuller_new(const struct weft_blockpuller_options *opt,
                         struct weft_blockpuller **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops the thread (within about 200 ms) and frees. NULL-safe. */
void weft_blockpuller_free(struct weft_blockpuller *p);
void weft_blockpuller_get_stats(struct weft_blockpuller *p, struct weft_blockpuller_stats *out);
/* The endpoints the puller dials, overrides applied: 0 when one of them
 * accepts a connection (TLS handshake included) within timeout_ms, else
 * WEFT_EUNAVAILABLE with the endpoints tried in `reason`. Any thread. */
int weft_blockpuller_probe(struct weft_blockpuller *p, int64_t timeout_ms, char *reason,
                           size_t reason_len);
/* Serialized, signed seek envelope for Deliver from `start` to the end of
 * time (BLOCK_UNTIL_READY), as the puller sends it. *out weft_malloc'd. */
int weft_blockpuller_seek_envelope(const char *channel, struct weft_msp *signer, uint64_t start,
                                   uint64_t stop, uint8_t **out, size_t *out_len,
                                   struct weft_err *err) WEFT_WARN_UNUSED;

#endif
