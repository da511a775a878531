/* Private parts of the gateway (gateway*.c), exposed for its unit tests. */
#ifndef WEFT_GATEWAY_INT_H
#define WEFT_GATEWAY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/gateway.h"

struct weft_channel_config;
struct Protos__ProposalResponse;

/* ---- endorsement plans (gateway_plan.c) ---------------------------------- */

/* One way to satisfy a policy: so many endorsements from each org
 * (distinct peers). Orgs sorted by MSP ID. */
struct gw_org_count {
    char *mspid;
    uint32_t n;
};
struct gw_layout {
    struct gw_org_count *orgs;
    size_t n;
};
/* Layouts sorted by total count, then by org names; no duplicates. */
struct gw_layouts {
    struct gw_layout *v;
    size_t n;
};

/* Upper bound on the layouts a policy may expand to (the rest are dropped:
 * a plan needs only a few). */
#define GW_MAX_LAYOUTS 256

/* Layouts of a serialized common.SignaturePolicyEnvelope. */
int gw_layouts_from_spe(const uint8_t *spe, size_t len, struct gw_layouts *out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Layouts of the channel policy at path ("/Channel/Application/Endorsement";
 * a relative name is taken under /Channel/Application/), read from the
 * config tree: signature policies directly, implicit-meta policies over the
 * sub-groups' policies. WEFT_ENOTFOUND for an unknown path. */
int gw_layouts_from_config(const struct weft_channel_config *cfg, const char *path,
                           struct gw_layouts *out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Layouts of a serialized protos.ApplicationPolicy (the chaincode's
 * validation parameter). */
int gw_layouts_from_app_policy(const uint8_t *ap, size_t len,
                               const struct weft_channel_config *cfg, struct gw_layouts *out,
                               struct weft_err *err) WEFT_WARN_UNUSED;
void gw_layouts_free(struct gw_layouts *l);
/* Required count for mspid in layout l (0 when absent). */
uint32_t gw_layout_need(const struct gw_layout *l, const char *mspid);

/* ---- endorser outcomes (gateway_err.c) ------------------------------------ */

/* How one ProcessProposal attempt ended (spec transaction-flow.md §8). */
struct gw_outcome {
    int code;   /* enum weft_rpc_code: OK, UNAVAILABLE, FAILED_PRECONDITION,
                   ABORTED or UNKNOWN */
    bool retry; /* worth trying another peer of the same org */
    char msg[512];
};

/* Classifies an attempt. transport: the call failed without any response
 * (connection, deadline); refused: the endorser answered with a gRPC error
 * (validation, ACL, duplicate txid); err_msg is the error's text for both.
 * Otherwise pr is the decoded ProposalResponse. */
void gw_classify(bool transport, bool refused, const char *err_msg,
                 const struct Protos__ProposalResponse *pr, struct gw_outcome *out);

/* One ErrorDetail. */
struct gw_detail {
    char *address, *mspid, *message;
};
struct gw_details {
    struct gw_detail *v;
    size_t n, cap;
};
int gw_details_add(struct gw_details *d, const char *address, const char *mspid,
                   const char *message) WEFT_WARN_UNUSED;
void gw_details_free(struct gw_details *d);
/* ser(google.rpc.Status{code, message, details = Any(gateway.ErrorDetail)...}).
 * *out weft_free'd. */
int gw_status_pack(int code, const char *message, const struct gw_details *d, uint8_t **out,
                   size_t *len) WEFT_WARN_UNUSED;

/* ---- envelope assembly (gateway_err.c) ------------------------------------ */

/* Builds the unsigned transaction Envelope (spec §5) from the proposal
 * (bytes of a serialized protos.Proposal) and successful ProposalResponses
 * whose payloads are all identical: ser(Envelope{payload}) in *out. */
int gw_prepare_envelope(const uint8_t *proposal, size_t len,
                        const struct Protos__ProposalResponse *const *resps, size_t n,
                        uint8_t **out, size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- chaincode events (gateway_err.c) -------------------------------------- */

/* Matching events of one block: the ChaincodeEvents of VALID endorser
 * transactions of chaincode cc, in block order, skipping up to and including
 * the event of transaction *after_txid (which is cleared, i.e. set to NULL,
 * once seen; may be NULL). *out is ser(ChaincodeEventsResponse) or NULL
 * when nothing matched. */
int gw_block_events(const uint8_t *block, size_t len, const char *cc, const char **after_txid,
                    uint8_t **out, size_t *out_len, uint64_t *number,
                    struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- peer wiring (gateway_peer.c) ------------------------------------------- */

struct weft_peer;
struct weft_config;
struct weft_ops;

/* Daemon mode: creates the gateway from peer.gateway.* (when enabled,
 * default true) and registers it on rpc; p->gateway. ops may be NULL. */
int peer__gateway_start(struct weft_peer *p, struct weft_config *cfg, struct weft_rpc_server *rpc,
                        struct weft_ops *ops, struct weft_err *err) WEFT_WARN_UNUSED;
/* Registers the gateway metrics on reg once the operations system exists
 * (from weft_peer_attach_ops). */
void peer__gateway_attach_metrics(struct weft_peer *p, struct weft_metrics *reg);
/* Frees p->gateway (the gRPC server must be stopped). NULL-safe. */
void peer__gateway_free(struct weft_peer *p);

#endif
