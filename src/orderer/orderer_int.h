/*
 * Internals of the orderer library (src/orderer). Not installed.
 *
 * The protocol core is free of I/O (STYLE.md R3):
 *   blockcutter.c  batching rules (orderer__cutter_*)
 *   blockbuild.c   block assembly and the orderer's signature (orderer__block_*)
 *   msgcheck.c     Broadcast admission checks (orderer__bcast_*)
 *   seekinfo.c     Deliver request parsing and seek resolution (orderer__seek_*)
 * The drivers around it:
 *   chain.c        one channel: ledger, cutter, batch timer, consensus glue
 *   consensus.c    the only file that includes <raft.h> (R31)
 *   cluster.c      consenter-to-consenter gRPC service and clients (mutual TLS)
 *   service.c      the AtomicBroadcast gRPC handlers
 *   participation.c the channel participation REST API
 *   orderer.c      weft_orderer_new/free: wiring, channel registry
 */
#ifndef WEFT_ORDERER_INT_H
#define WEFT_ORDERER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.pb-c.h"
#include "weft/base.h"

struct weft_policy_mgr;
struct weft_msp_mgr;
struct weft_msp;

/* common.Status values used by Broadcast and Deliver. */
enum orderer_status {
    ORDERER_SUCCESS = 200,
    ORDERER_BAD_REQUEST = 400,
    ORDERER_FORBIDDEN = 403,
    ORDERER_NOT_FOUND = 404,
    ORDERER_TOO_LARGE = 413,
    ORDERER_INTERNAL = 500,
    ORDERER_UNAVAILABLE = 503,
};

#define ORDERER_INFO_LEN 256

/* protobuf-c allocator over weft_malloc (util.c). */
extern ProtobufCAllocator orderer__pb_alloc;
#define ORDERER_PB (&orderer__pb_alloc)

/* ---- block cutter ---------------------------------------------------------- */

/* orderer.BatchSize plus BatchTimeout of a channel. */
struct orderer_batch_cfg {
    uint32_t max_message_count;
    uint32_t absolute_max_bytes;
    uint32_t preferred_max_bytes;
    int64_t timeout_ns;
};

/* ---- commit tickets ---------------------------------------------------------- */

/* The fate of one admitted envelope on the leader, reported once through cb:
 * 200 once the block holding it is committed (in the Raft log of a majority
 * and written to this node's ledger), or a failure status with info when it
 * was dropped (leadership lost, channel closing, ...). Owned by the chain
 * until finished. */
/* more: the next ticket finished in the same call (orderer__tickets_finish)
 * belongs to the same group (e.g. the same Broadcast stream), so the callee
 * may hold its reply back and send the run at once on the last one. */
typedef void (*orderer_ticket_cb)(void *arg, int status, const char *info, bool more);
struct orderer_ticket {
    uint64_t t0_ns; /* admission time (commit latency) */
    orderer_ticket_cb cb;
    void *cb_arg;
    const void *group; /* NULL: none */
};
/* NULL: no memory. */
struct orderer_ticket *orderer__ticket_new(orderer_ticket_cb cb, void *cb_arg, const void *group);
/* Reports the outcome through the callback (on this thread, no lock held)
 * and frees the ticket. NULL-safe. */
void orderer__ticket_finish(struct orderer_ticket *t, int status, const char *info);
/* The same for n tickets (NULL entries skipped), with `more` set while the
 * next ticket has the same non-NULL group. */
void orderer__tickets_finish(struct orderer_ticket **t, size_t n, int status, const char *info);

/* ---- forwarding wire format (cluster.c's SubmitBatch stream) ----------------- */

/* Follower -> leader: SubmitBatch{repeated bytes envelope = 1}. Appends one
 * envelope's field to b. */
int orderer__submit_batch_add(struct weft_buf *b, const uint8_t *env, size_t len) WEFT_WARN_UNUSED;
/* The next envelope of a SubmitBatch from *at: 1 with *env (pointing into
 * msg) and *env_len, 0 at the end, WEFT_EPARSE for malformed bytes. Fields
 * other than 1 are skipped. */
int orderer__submit_batch_next(const uint8_t *msg, size_t len, size_t *at, const uint8_t **env,
                               size_t *env_len);
/* Leader -> follower: SubmitAnswer{uint64 count = 1; BroadcastResponse
 * response = 2}: the next `count` forwarded envelopes, in order, got this
 * answer. Packs into buf (ORDERER_INFO_LEN + 64 bytes suffice); returns the
 * length. */
size_t orderer__submit_answer_pack(uint64_t count, int status, const char *info, uint8_t *buf);
/* 0 with *count >= 1, *status, info; WEFT_EPARSE. */
int orderer__submit_answer_unpack(const uint8_t *msg, size_t len, uint64_t *count, int *status,
                                  char info[ORDERER_INFO_LEN]);

/* One envelope in a batch: serialized common.Envelope (owned by the batch),
 * its Fabric size (len(payload) + len(signature)) and its commit ticket
 * (may be NULL; the batch owns the chain's reference). */
struct orderer_msg {
    uint8_t *env;
    size_t len;
    size_t size;
    struct orderer_ticket *ticket;
};

/* A cut batch; free with orderer__batch_free, which finishes the tickets
 * still in it as dropped (SERVICE_UNAVAILABLE). */
struct orderer_batch {
    struct orderer_msg *msgs;
    size_t n;
};
void orderer__batch_free(struct orderer_batch *b);

struct orderer_cutter {
    struct orderer_batch_cfg cfg;
    struct orderer_msg *pending;
    size_t n_pending, cap_pending;
    size_t pending_bytes;
};

void orderer__cutter_init(struct orderer_cutter *c, const struct orderer_batch_cfg *cfg);
void orderer__cutter_close(struct orderer_cutter *c);
/* Fabric's Ordered(): takes ownership of msg->env in every case (freed on
 * error). Writes 0, 1 or 2 batches to out[] (*n_out), in order, and whether a
 * batch is still pending afterwards. WEFT_ENOMEM leaves the cutter as it was
 * (the message is dropped). */
int orderer__cutter_ordered(struct orderer_cutter *c, struct orderer_msg *msg,
                            struct orderer_batch out[2], size_t *n_out, bool *pending);
/* Cuts the pending batch (possibly empty: out->n == 0). Never fails. */
void orderer__cutter_cut(struct orderer_cutter *c, struct orderer_batch *out);

/* ---- block builder --------------------------------------------------------- */

/* Signs msg (SHA-256 is applied by the signer) with the orderer's identity. */
typedef int (*orderer_sign_fn)(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig,
                               size_t *sig_len, struct weft_err *err);

struct orderer_signer {
    const uint8_t *creator; /* serialized msp.SerializedIdentity, borrowed */
    size_t creator_len;
    orderer_sign_fn sign;
    void *ctx;
};

/* What a new block is made of. envs/lens are borrowed. */
struct orderer_block_in {
    uint64_t number;
    const uint8_t *prev_hash; /* header hash of number-1; NULL for block 0 */
    size_t prev_hash_len;
    const uint8_t *const *envs;
    const size_t *lens;
    size_t n;
    uint64_t last_config;        /* index of the newest config block */
    const uint8_t *consenter_md; /* bytes of OrdererBlockMetadata.consenter_metadata */
    size_t consenter_md_len;
};

/* ASN.1 DER of the block header (block-and-validation.md §2). *out caller frees. */
int orderer__header_der(uint64_t number, const uint8_t *prev, size_t prev_len,
                        const uint8_t *data_hash, size_t dh_len, uint8_t **out, size_t *out_len);
/* Builds, signs and serializes a block. *out (weft_free) and hash = its header
 * hash. signer NULL leaves the SIGNATURES value unsigned (tests only). */
int orderer__block_build(const struct orderer_block_in *in, const struct orderer_signer *signer,
                         uint8_t **out, size_t *out_len, uint8_t hash[32],
                         struct weft_err *err) WEFT_WARN_UNUSED;
/* Checks the orderer signature(s) of a serialized block: every
 * MetadataSignature over value || signature_header || DER(header) verifies
 * with its creator (deserialized through msps). Returns the number of valid
 * signatures in *n_valid. Used by tests and by join to sanity check. */
int orderer__block_verify(const uint8_t *blk, size_t len, struct weft_msp_mgr *msps,
                          size_t *n_valid, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- Broadcast checks ------------------------------------------------------ */

/* The view of a channel the checks need. */
struct orderer_chan_view {
    const char *channel_id;
    uint32_t absolute_max_bytes;
    struct weft_policy_mgr *policies;
    struct weft_msp_mgr *msps;
    bool no_expiration_check;
};

/* An envelope decoded far enough for admission. */
struct orderer_bcast_msg {
    Common__Envelope *env;
    Common__Payload *payload;
    Common__ChannelHeader *chdr;
    Common__SignatureHeader *shdr;
    size_t size; /* len(payload) + len(signature) */
};
void orderer__bcast_msg_clear(struct orderer_bcast_msg *m);

/* Step 1: decode and header sanity. Returns a status (200 on success) and
 * writes why into info. m must be zeroed; clear it in every case. */
int orderer__bcast_parse(const uint8_t *env, size_t len, struct orderer_bcast_msg *m,
                         char info[ORDERER_INFO_LEN]);
/* Step 2: checks against the channel (ch NULL = unknown channel): size,
 * message type, creator expiry, /Channel/Writers (signature included).
 * now_unix = 0 uses the wall clock. Returns a status and info. */
int orderer__bcast_check(const struct orderer_bcast_msg *m, const struct orderer_chan_view *ch,
                         int64_t now_unix, char info[ORDERER_INFO_LEN]);

/* ---- Deliver seek ------------------------------------------------------------ */

enum orderer_seek_kind {
    ORDERER_SEEK_NEWEST = 1,
    ORDERER_SEEK_OLDEST = 2,
    ORDERER_SEEK_SPECIFIED = 3,
    ORDERER_SEEK_NEXT_COMMIT = 4,
};

struct orderer_seek_req {
    Common__Envelope *env;
    Common__Payload *payload;
    Common__ChannelHeader *chdr;
    Common__SignatureHeader *shdr;
    char *channel_id; /* borrowed from chdr */
    void *seek;       /* Orderer__SeekInfo *, NULL if payload.data did not parse */
    /* signed data for the Readers policy, borrowed from env */
    const uint8_t *data, *sig;
    size_t data_len, sig_len;
};
void orderer__seek_req_clear(struct orderer_seek_req *r);

/* Parses a Deliver envelope: payload, header and timestamp within window_ns
 * of now_ns (0 = skip), TLS binding when tls_hash != NULL. SeekInfo parse
 * errors are recorded (r->seek NULL), reported by orderer__seek_resolve so
 * the channel check comes first, as Fabric does. Returns a status. */
int orderer__seek_parse(const uint8_t *env, size_t len, int64_t now_ns, int64_t window_ns,
                        const uint8_t *tls_hash, struct orderer_seek_req *r,
                        char info[ORDERER_INFO_LEN]);

struct orderer_seek_plan {
    uint64_t start;
    uint64_t stop;
    bool fail_if_not_ready;
};
/* Decodes the SeekInfo, checks start/stop against the ledger height and
 * computes the block range. Returns a status. */
int orderer__seek_resolve(const struct orderer_seek_req *r, uint64_t height,
                          struct orderer_seek_plan *plan, char info[ORDERER_INFO_LEN]);

/* ---- cluster (cluster.c) ----------------------------------------------------- */

struct orderer_chain;
struct orderer_cluster;
struct weft_orderer;
struct weft_config;
struct weft_rpc_server;

/* The per-channel context of the cluster transport (orderer_peer_io.ctx). */
struct orderer_cluster_chan {
    struct orderer_cluster *cl;
    const char *channel_id;
    uint64_t self_id;
};
struct orderer_peer_io;
extern const struct orderer_peer_io orderer__cluster_peer_io_ops;

/* Reads the General.Cluster.* / General.TLS.* material and registers the
 * cluster service on its own listener (General.Cluster.ListenPort) or on
 * main_srv (may be NULL: no service, tests). */
int orderer__cluster_new(struct weft_orderer *o, const struct weft_config *cfg,
                         struct weft_rpc_server *main_srv, struct orderer_cluster **out,
                         struct weft_err *err) WEFT_WARN_UNUSED;
/* Starts the own listener, if any. */
int orderer__cluster_start(struct orderer_cluster *cl, struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops the own listener (handlers return). NULL-safe. */
void orderer__cluster_stop(struct orderer_cluster *cl);
/* Frees; every channel using it must be closed. NULL-safe. */
void orderer__cluster_free(struct orderer_cluster *cl);
/* TLS material present (multi-node channels need it). */
bool orderer__cluster_ready(const struct orderer_cluster *cl);
/* Whether one of the two PEM certificates is this node's cluster client
 * (resp. server) certificate. */
bool orderer__cluster_is_self(const struct orderer_cluster *cl, const uint8_t *client_pem,
                              size_t client_len, const uint8_t *server_pem, size_t server_len);
/* Two PEM encodings of the same (first) certificate. */
bool orderer__cert_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);
struct weft_rpc_stream;
/* Opens a forwarding stream (/weft.orderer.Cluster/SubmitBatch: SubmitBatch
 * messages in, SubmitAnswer messages out, see above) to the leader at address. NULL with info on
 * failure. */
struct weft_rpc_stream *orderer__cluster_open_submit(struct orderer_cluster *cl,
                                                     const char *address,
                                                     char info[ORDERER_INFO_LEN]);
/* Whether the caller of call is a consenter of ch (mutual TLS). */
struct weft_rpc_call;
bool orderer__cluster_caller_is_consenter(struct weft_rpc_call *call, struct orderer_chain *ch);

/* ---- chains (chain.c) ------------------------------------------------------- */

struct orderer_cons;
struct weft_ledger;
struct weft_channel_config;
struct weft_metrics;

struct orderer_chain_opts {
    const char *channel_id;  /* NULL: taken from the genesis block */
    const char *ledger_root; /* FileLedger.Location */
    const char *wal_root;    /* Consensus.WALDir; the group uses <wal_root>/<channel> */
    const uint8_t *genesis;  /* join: block 0 to commit first; NULL to reopen */
    size_t genesis_len;
    struct orderer_cons *cons;
    const struct orderer_signer *signer; /* borrowed, outlives the chain */
    struct weft_metrics *metrics;        /* may be NULL */
    struct orderer_cluster *cluster;     /* needed by multi-consenter channels */
    bool no_sync;                        /* ledger without fsync (tests) */
};

int orderer__chain_open(const struct orderer_chain_opts *opts, struct orderer_chain **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops consensus, closes the ledger and frees. The chain must no longer be
 * reachable by new callers; waits for references to drop. NULL-safe. */
void orderer__chain_close(struct orderer_chain *ch);
void orderer__chain_ref(struct orderer_chain *ch);
void orderer__chain_unref(struct orderer_chain *ch);
const char *orderer__chain_id(const struct orderer_chain *ch);
const struct orderer_chan_view *orderer__chain_view(const struct orderer_chain *ch);
struct weft_ledger *orderer__chain_ledger(struct orderer_chain *ch);
uint64_t orderer__chain_height(struct orderer_chain *ch);
bool orderer__chain_is_leader(struct orderer_chain *ch);
/* Id of the Raft leader this node knows of (0: none). Any thread. */
uint64_t orderer__chain_leader_id(struct orderer_chain *ch);
/* Where an admitted envelope goes: 0 = this node leads (use
 * orderer__chain_enqueue), 1 = forward to the leader at addr, or
 * ORDERER_UNAVAILABLE with info (no leader known, closing). Any thread. */
int orderer__chain_route(struct orderer_chain *ch, char *addr, size_t cap,
                         char info[ORDERER_INFO_LEN]);
/* Leader: queues an admitted envelope (env taken, weft_malloc'd) for
 * ordering. Returns 200, and later cb(cb_arg, status, info, more) reports once,
 * on the thread that settles it, whether it was committed (200) or dropped;
 * or returns 503 with info at once (not the leader, queue full, out of
 * memory; cb is never called then). Any thread. */
int orderer__chain_enqueue(struct orderer_chain *ch, uint8_t *env, size_t len, size_t size,
                           orderer_ticket_cb cb, void *cb_arg, const void *group,
                           char info[ORDERER_INFO_LEN]);
/* Raft id of the consenter whose client TLS certificate is pem (0: none). */
/* Protobuf wire reading (util.c): a varint at *at, and skipping the value
 * of a field of wire type wt at *at; both advance *at, WEFT_EPARSE when the
 * bytes end or the type is unknown. */
int orderer__pb_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *out);
int orderer__pb_skip(const uint8_t *p, size_t len, size_t *at, unsigned wt);
/* Identifies the chain's channel configuration (set once at creation: config
 * updates are refused), for caches keyed on it. */
const void *orderer__chain_conf_id(const struct orderer_chain *ch);
uint64_t orderer__chain_consenter_id(const struct orderer_chain *ch, const uint8_t *pem,
                                     size_t len);
/* Passes an inbound Raft byte stream (fd, always taken) from consenter id to
 * the channel's group. WEFT_ESHUTDOWN when the channel is closing. */
int orderer__chain_accept(struct orderer_chain *ch, uint64_t id, int fd);

/* ---- the orderer (orderer.c) ------------------------------------------------ */

#include <pthread.h>
#include <stdatomic.h>

struct weft_http_server;
struct weft_rpc_server;
struct weft_ops;
struct weft_config;
struct weft_metrics_counter_vec;

struct weft_orderer {
    const struct weft_config *cfg;
    struct weft_msp *msp; /* local MSP: signs blocks */
    struct orderer_signer signer;
    struct orderer_cons *cons;
    struct orderer_cluster *cluster;
    char *ledger_root;
    char *wal_root;
    int64_t time_window_ns;
    bool tls_binding; /* General.TLS.ClientAuthRequired: check tls_cert_hash */
    bool no_sync;
    _Atomic bool started; /* channels reopened (health check) */
    struct weft_metrics *metrics;
    struct weft_metrics_counter_vec *m_bcast;          /* {channel,type,status} */
    struct weft_metrics_histogram_vec *m_bcast_validate; /* {channel,type,status} */
    struct weft_http_server *admin;
    struct weft_ops *ops; /* borrowed, for the health check */
    /* channel registry, guarded by mu */
    pthread_mutex_t mu;
    struct orderer_chain **chains;
    size_t n_chains;
    /* Broadcast forwarders to a leader still running, and the one in use
     * (broadcast.c), under mu */
    struct bc_fwd *fwd_live;
    struct bc_fwd *fwd_shared;
    pthread_cond_t fwd_cond;
};

/* A referenced chain (orderer__chain_unref) or NULL. Any thread. */
struct orderer_chain *orderer__lookup(struct weft_orderer *o, const char *channel_id);
/* Joins a channel from its genesis block (bytes borrowed). WEFT_EEXIST when
 * already joined. *out (may be NULL) receives a reference. */
int orderer__join(struct weft_orderer *o, const uint8_t *block, size_t len,
                  struct orderer_chain **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Leaves a channel and deletes its ledger and Raft folders. WEFT_ENOTFOUND. */
int orderer__remove(struct weft_orderer *o, const char *channel_id,
                    struct weft_err *err) WEFT_WARN_UNUSED;
/* Snapshot of the joined channels: referenced chains (caller unrefs each and
 * frees the array with weft_free). */
int orderer__list(struct weft_orderer *o, struct orderer_chain ***out, size_t *n) WEFT_WARN_UNUSED;

/* broadcast.c: event-driven Broadcast streams (ctx: the orderer). The
 * submit variant serves a consenter's forwarding stream: the caller must be
 * a consenter of each envelope's channel, and envelopes are never forwarded
 * again. */
extern const struct weft_rpc_stream_cbs orderer__broadcast_cbs;
extern const struct weft_rpc_stream_cbs orderer__submit_cbs;
/* Ends every forwarding stream to a leader and waits for their threads
 * (after the rpc servers stopped, before the chains close). */
void orderer__broadcast_stop_forwarders(struct weft_orderer *o);
/* Fabric's name of a common.Status ("SERVICE_UNAVAILABLE"). */
const char *orderer__status_name(int st);
/* service.c: registers Broadcast and Deliver. */
int orderer__service_register(struct weft_orderer *o, struct weft_rpc_server *srv,
                              struct weft_err *err) WEFT_WARN_UNUSED;
/* participation.c: routes on the admin server. */
int orderer__participation_register(struct weft_orderer *o, struct weft_http_server *srv,
                                    struct weft_err *err) WEFT_WARN_UNUSED;

#endif
