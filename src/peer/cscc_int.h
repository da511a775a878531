/*
 * Internals of the peer's system chaincodes (qscc*.c, cscc*.c) and of the
 * channel runtime (committer + block puller per joined channel, Deliver,
 * metrics, the orderer health check: cscc_runtime.c, peermetrics*.c).
 *
 * The endorser hands a proposal whose chaincode is "qscc" or "cscc" to
 * peer__scc_invoke instead of a chaincode process (spec chaincode.md §9,
 * transaction-flow.md §3: no simulator, version "syscc").
 */
#ifndef WEFT_PEER_CSCC_INT_H
#define WEFT_PEER_CSCC_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/chaincode.h"
#include "weft/policy.h"

struct weft_peer;
struct weft_config;
struct weft_rpc_server;
struct weft_ops;
struct weft_ledger;
struct weft_channel_config;
struct peer_sys;

/* One system chaincode call, as the endorser unpacked it. Borrowed. */
struct peer_scc_req {
    const char *cc;                  /* "qscc" or "cscc" */
    const char *channel;             /* the proposal's channel ("" for channel-less proposals) */
    const ProtobufCBinaryData *args; /* ChaincodeInput.args; args[0] = function */
    size_t n_args;
    /* proposal_bytes, creator and signature; the endorser has verified the
     * signature and the creator against the proposal's MSPs */
    const struct weft_signed_data *sd;
    /* _lifecycle only: where its read/write set goes (ser(TxReadWriteSet),
     * weft_free; left NULL when none). NULL when the caller takes none. */
    uint8_t **rwset;
    size_t *rwset_len;
};

/* True for the system chaincodes served here ("qscc", "cscc"). */
bool peer__is_scc(const char *name);

/* Runs one function. On 0, res holds status, message, payload and response
 * (= ser(protos.Response)); failures a client should see (bad arguments,
 * ACL, unknown channel) are responses with status 500, not errors. A
 * negative return is an internal failure (WEFT_ENOMEM). Any thread. */
int peer__scc_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                     struct weft_cc_result *res, struct weft_err *err) WEFT_WARN_UNUSED;

/* Channel-less proposal (spec transaction-flow.md §3 step 18): runs the
 * function and packs ProposalResponse{response} into *out (weft_free). */
int peer__scc_response_only(struct weft_peer *p, const struct peer_scc_req *req, uint8_t **out,
                            size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* The _lifecycle system chaincode (lifecycle.c). */
int peer__lifecycle_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                           struct weft_cc_result *res) WEFT_WARN_UNUSED;

/* Helpers shared by qscc.c and cscc.c (cscc.c). */
int peer__qscc_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                      struct weft_cc_result *res) WEFT_WARN_UNUSED;
/* Replaces res with Response{status, message, payload (copied)}. */
int peer__scc_reply(struct weft_cc_result *res, int32_t status, const char *message,
                    const uint8_t *payload, size_t len) WEFT_WARN_UNUSED;
/* Status 500 with a formatted message. */
int peer__scc_fail(struct weft_cc_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) WEFT_WARN_UNUSED;
/* Status 200 with ser(m) as payload. */
int peer__scc_reply_msg(struct weft_cc_result *res, const ProtobufCMessage *m) WEFT_WARN_UNUSED;
/* args[i] as a NUL-terminated string; false if absent, too long or holding
 * a NUL. */
bool peer__scc_arg(const struct peer_scc_req *req, size_t i, char *buf, size_t cap);
/* The newest config block of a ledger (*out weft_free). */
int peer__last_config_block(struct weft_ledger *l, uint8_t **out, size_t *out_len,
                            struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- ACLs (spec config.md §4.4, Fabric's defaults) ----------------------------- */

enum peer_acl_kind {
    PEER_ACL_CHANNEL, /* a channel policy (default or from the channel's ACLs) */
    PEER_ACL_LOCAL_ADMIN,
    PEER_ACL_LOCAL_MEMBER,
};

/* Default policy of a resource ("qscc/GetChainInfo", "cscc/JoinChain"...):
 * the kind and, for PEER_ACL_CHANNEL, the default policy path. WEFT_ENOTFOUND
 * for an unknown resource. */
int peer__acl_default(const char *resource, enum peer_acl_kind *kind, const char **policy);
/* Policy path in force for a channel resource: the channel's ACLs value
 * (relative names resolve under /Channel/Application) or the default. *buf
 * receives the path. */
void peer__acl_policy(const struct weft_channel_config *cfg, const char *resource, const char *def,
                      char *buf, size_t cap);
/* Checks sd against resource: channel policies with cfg (may be NULL only for
 * local resources), local ones with the peer's local MSP. 0 or WEFT_EPERM
 * with the reason in err. */
int peer__acl_check(struct weft_peer *p, const struct weft_channel_config *cfg,
                    const char *resource, const struct weft_signed_data *sd,
                    struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- channel runtime -------------------------------------------------------------- */

/* The current configuration of a joined channel: the committer's (updated by
 * config blocks) when the runtime runs, else the one read at open. Borrowed;
 * valid while the peer lives. NULL when the channel is not joined. */
const struct weft_channel_config *peer__channel_config(struct weft_peer *p, const char *channel);
/* The channel's ledger (borrowed, peer lifetime) or NULL. */
struct weft_ledger *peer__channel_ledger(struct weft_peer *p, const char *channel);

/* Daemon mode (weft_peer_new): reads the peer's TLS settings from cfg,
 * registers protos.Deliver on rpc (when non-NULL) and starts a committer and
 * a block puller for every channel already open. */
int peer__sys_start(struct weft_peer *p, struct weft_config *cfg, struct weft_rpc_server *rpc,
                    struct weft_err *err) WEFT_WARN_UNUSED;
/* Starts the runtime of a channel just joined (no-op without peer__sys_start). */
int peer__sys_channel_start(struct weft_peer *p, const char *channel,
                            struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops pullers and committers (before the ledgers close); frees. NULL-safe
 * on p->sys. */
void peer__sys_free(struct weft_peer *p);

/* ---- metrics (peermetrics.c) ------------------------------------------------------ */

struct peer_metrics;
struct weft_metrics;
struct Common__Block;
struct weft_validator_stats;

struct peer_metrics *peer__metrics_new(struct weft_metrics *reg, struct weft_err *err);
void peer__metrics_free(struct peer_metrics *m);
/* After a block is committed: height, per-phase times (deltas of the
 * committer's cumulative stats since the previous call of this channel are
 * computed by the caller) and one transaction count per code. */
void peer__metrics_block(struct peer_metrics *m, const char *channel, uint64_t height,
                         const struct weft_validator_stats *delta, const struct Common__Block *blk,
                         const uint8_t *codes, size_t ntx);
/* Sets the height gauge (at start and join). */
void peer__metrics_height(struct peer_metrics *m, const char *channel, uint64_t height);

#endif
