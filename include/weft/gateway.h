/*
 * weft gateway (part of the peer library): the peer's gateway.Gateway gRPC
 * service, which @hyperledger/fabric-gateway clients talk to
 * (../shared/spec/transaction-flow.md §5-§8, docs/gateway.md):
 *
 *   Evaluate        runs a proposal on one endorser (the local peer first,
 *                   then other peers of the local org, then peers of the
 *                   chaincode's other orgs) and returns the chaincode's
 *                   response;
 *   Endorse         builds an endorsement plan from the chaincode's
 *                   endorsement policy (_lifecycle ValidationInfo, or
 *                   /Channel/Application/Endorsement) and the peers the
 *                   gateway knows — the local org's from its configuration,
 *                   other orgs' from the channel's anchor peers — collects
 *                   the endorsements (retrying a failed endorser on another
 *                   peer of the same org), checks that all response payloads
 *                   agree and returns the unsigned transaction envelope;
 *   Submit          broadcasts the signed envelope to the channel's orderers,
 *                   in random order, until one accepts it;
 *   CommitStatus    waits until the transaction is committed and returns its
 *                   TxValidationCode and block number;
 *   ChaincodeEvents streams a chaincode's events of valid transactions from
 *                   a start block, resuming after a checkpointed transaction.
 *
 * Errors reach the client as Fabric's gateway sends them: the gRPC status
 * code and message of spec §8, with a google.rpc.Status carrying one
 * gateway.ErrorDetail{address, msp_id, message} per failed endorser or
 * orderer in the "grpc-status-details-bin" trailer.
 *
 * The gateway does not own the peer: it reaches the local endorser, the
 * channel configurations and the ledgers through struct
 * weft_gateway_backend, so it can run in front of a real peer or a test
 * double.
 *
 * Threads: weft_gateway_new/register/free on one thread (the daemon's main
 * thread); handlers run on the gRPC server's worker pool. A CommitStatus
 * wait or a ChaincodeEvents stream holds one worker while it lasts. The
 * gateway starts one thread per channel on which someone waits for a
 * commit; it wakes the waiters after each committed block.
 */
#ifndef WEFT_GATEWAY_H
#define WEFT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_channel_config;
struct weft_ledger;
struct weft_metrics;
struct weft_rpc_server;
struct weft_gateway;

/* What the gateway needs from the peer it runs in. All three are required;
 * they may be called from any thread at any time while the gateway lives. */
struct weft_gateway_backend {
    void *ctx;
    /* The local endorser: processes one serialized SignedProposal as
     * weft_peer_endorse does (0 and *resp, weft_free'd by the gateway; a
     * negative return is a gRPC-level refusal with err saying why). */
    int (*endorse)(void *ctx, const uint8_t *sp, size_t sp_len, uint8_t **resp,
                   size_t *resp_len, struct weft_err *err);
    /* Optional: the local endorser without waiting (weft_peer_endorse_async).
     * Called on an rpc completion-queue thread, so it must not block; done
     * runs exactly once, perhaps before it returns, with endorse's outcome
     * (resp borrowed for the call). When set, Endorse runs on the
     * completion-queue threads and holds no worker while endorsements are
     * collected. */
    void (*endorse_async)(void *ctx, const uint8_t *sp, size_t sp_len,
                          void (*done)(void *arg, int rc, const uint8_t *resp, size_t resp_len,
                                       const struct weft_err *err),
                          void *arg);
    /* The channel's current configuration (borrowed; must stay valid while
     * the gateway lives), or NULL when the peer has not joined it. */
    const struct weft_channel_config *(*config)(void *ctx, const char *channel);
    /* The channel's ledger (borrowed; same lifetime), or NULL. */
    struct weft_ledger *(*ledger)(void *ctx, const char *channel);
};

/* A peer the gateway may ask for endorsements. */
struct weft_gateway_peer {
    const char *mspid;
    const char *address; /* "host:port" */
};

struct weft_gateway_opts {
    const char *mspid;    /* the local org (required) */
    const char *endpoint; /* this peer's endpoint ("host:port") as reported in
                             ErrorDetail.address and skipped among anchor peers */
    /* Other peers known from the local configuration (normally of the local
     * org; copied). */
    const struct weft_gateway_peer *peers;
    size_t n_peers;
    /* Do not use the channel's anchor peers of other orgs (tests). */
    bool no_anchor_peers;
    /* TLS for connections to other peers and to orderers. The roots are the
     * target org's TLS CA certificates from the channel configuration plus
     * tls_root_file (PEM, optional); tls_cert_file/tls_key_file (optional)
     * are presented for mutual TLS. */
    bool tls;
    const char *tls_root_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    /* peer.gateway.endorsementTimeout, broadcastTimeout, dialTimeout;
     * 0 = Fabric's defaults (10 s, 10 s, 30 s). */
    int64_t endorsement_timeout_ms;
    int64_t broadcast_timeout_ms;
    int64_t dial_timeout_ms;
    /* peer.limits.concurrency.gatewayService: most requests in progress at
     * once (streams included); the excess is refused at once (gRPC UNKNOWN,
     * "too many requests for /gateway.Gateway, exceeding concurrency limit
     * (N)"). 0 = no limit. */
    uint32_t concurrency_limit;
    /* Orderer endpoints to use instead of the channel configuration's
     * (tests; copied). */
    const char *const *orderers;
    size_t n_orderers;
    /* Registry for the gateway's metrics (borrowed; may be NULL):
     * gateway_requests_total{method,outcome} (counter),
     * gateway_request_duration_seconds{method} (histogram),
     * gateway_endorsements_total{outcome} (counter). */
    struct weft_metrics *metrics;
};

/* Creates the gateway. backend is copied; opts' strings are copied.
 * Errors: WEFT_EINVAL (missing field), WEFT_EIO (unreadable PEM file),
 * WEFT_ENOMEM. */
int weft_gateway_new(const struct weft_gateway_opts *opts,
                     const struct weft_gateway_backend *backend, struct weft_gateway **out,
                     struct weft_err *err) WEFT_WARN_UNUSED;

/* Registers /gateway.Gateway/{Endorse,Submit,CommitStatus,Evaluate,
 * ChaincodeEvents} on rpc (before it starts). The gateway must outlive the
 * server's calls: stop the server before weft_gateway_free. */
int weft_gateway_register(struct weft_gateway *gw, struct weft_rpc_server *rpc,
                          struct weft_err *err) WEFT_WARN_UNUSED;

/* Stops the commit watchers and frees the gateway and its client
 * connections. NULL-safe. */
void weft_gateway_free(struct weft_gateway *gw);

/* Registers the metrics named in weft_gateway_opts.metrics on m when the
 * gateway was created without a registry (the daemon's operations system
 * starts later). Only the first call has an effect. Any thread. */
void weft_gateway_set_metrics(struct weft_gateway *gw, struct weft_metrics *m);

/* Wakes at once the CommitStatus waiters of channel whose transaction is
 * now in the block index (the committer may call it after each commit;
 * without it the gateway's own watcher thread notices the new block). Any
 * thread. */
void weft_gateway_notify_commit(struct weft_gateway *gw, const char *channel);

/* Counters since creation. */
struct weft_gateway_stats {
    uint64_t evaluate, endorse, submit, commit_status, chaincode_events; /* calls */
    uint64_t failed;            /* calls answered with a non-OK status */
    uint64_t endorsements;      /* ProcessProposal calls made (local and remote) */
    uint64_t endorse_retries;   /* of which retries on another peer of the same org */
};
void weft_gateway_get_stats(struct weft_gateway *gw, struct weft_gateway_stats *out);

#endif
