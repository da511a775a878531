/*
 * weft peer: the peer node's services. This part holds the endorser
 * (protos.Endorser/ProcessProposal, spec transaction-flow.md §3-§4), the
 * chaincode listener (protos.ChaincodeSupport/Register on
 * peer.chaincodeListenAddress) and the channels the peer has joined.
 *
 * Chaincode definitions: a chaincode is runnable on a channel when the
 * _lifecycle namespace holds its committed definition (Fabric's layout,
 * spec chaincode.md §8.1: namespaces/fields/<cc>/Sequence and
 * EndorsementInfo) and this peer knows which installed package its org
 * approved for that sequence (weft_peer_approve_local, until the
 * _lifecycle system chaincode writes the org's implicit collection), or
 * when a development definition was set with weft_peer_define_chaincode.
 *
 * Threads: weft_peer_new/free on the daemon's main thread; every other
 * function from any thread.
 */
#ifndef WEFT_PEER_H
#define WEFT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/chaincode.h"

struct weft_config;
struct weft_rpc_server;
struct weft_ops;
struct weft_peer;
struct weft_vcache;

struct weft_peer_opts {
    const char *fs_path;          /* peer.fileSystemPath (required) */
    const char *msp_dir;          /* peer.mspConfigPath (required) */
    const char *mspid;            /* peer.localMspId (required) */
    const char *chaincode_listen; /* host:port of the chaincode listener; port 0 = any */
    const char *chaincode_address;/* address chaincode dials; default 127.0.0.1:<port> */
    int64_t execute_timeout_ms;   /* chaincode.executetimeout */
    int64_t startup_timeout_ms;   /* chaincode.startuptimeout */
    const struct weft_cc_builder *builders;
    size_t n_builders;
    const char *node_modules;     /* chaincode.node.modulesPath */
    const struct weft_cc_launcher *launcher; /* tests: replaces the built-in launchers */
    bool ledger_no_sync;          /* tests and benchmarks only */
    /* peer.tls.enabled: the chaincode listener serves mutual TLS with the
     * peer's TLS key pair and trusts only the chaincode CA the peer makes at
     * start (weft_cc_tlsca); launched chaincode gets a client cert from it. */
    bool tls_enabled;
    const char *tls_cert_file;    /* peer.tls.cert.file */
    const char *tls_key_file;     /* peer.tls.key.file */
    const char *tls_root_file;    /* peer.tls.rootcert.file (given to chaincode) */
};

/* Builds the peer from core.yaml (keys named above) and registers
 * protos.Endorser/ProcessProposal on rpc (before it starts); starts the
 * chaincode listener and opens the channels found under
 * <fileSystemPath>/ledgersData/chains. ops may be NULL. NULL on error. */
struct weft_peer *weft_peer_new(struct weft_config *cfg, struct weft_rpc_server *rpc,
                                struct weft_ops *ops, struct weft_err *err);
/* Same from explicit options. rpc may be NULL (no Endorser service). */
struct weft_peer *weft_peer_new_opts(const struct weft_peer_opts *opts,
                                     struct weft_rpc_server *rpc, struct weft_err *err);
/* Stops the chaincode listener and chaincode, closes ledgers. Stop the main
 * gRPC server first. NULL-safe. */
void weft_peer_free(struct weft_peer *p);
/* The peer's signature verification cache (borrowed, lives as long as the
 * peer): its committers' validators use it, and the endorser records each
 * endorsement signature it makes there as valid, so the peer's own
 * endorsement in a block costs a lookup instead of an ECDSA verification. */
struct weft_vcache *weft_peer_vcache(struct weft_peer *p);

/* Joins a channel from its genesis block (bytes borrowed): creates the
 * ledger and commits block 0. WEFT_EEXIST when already joined. *channel_id
 * (may be NULL; weft_free) gets the channel name. */
int weft_peer_join(struct weft_peer *p, const uint8_t *block, size_t len, char **channel_id,
                   struct weft_err *err) WEFT_WARN_UNUSED;
/* Appends a (validated) block to a joined channel (tests, until the
 * committer exists). */
int weft_peer_commit_block(struct weft_peer *p, const char *channel, const uint8_t *block,
                           size_t len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Records that this org approved package_id for (channel, name, sequence). */
int weft_peer_approve_local(struct weft_peer *p, const char *channel, const char *name,
                            int64_t sequence, const char *package_id,
                            struct weft_err *err) WEFT_WARN_UNUSED;
/* Development definition (overrides _lifecycle): name runs package_id with
 * version on channel. */
int weft_peer_define_chaincode(struct weft_peer *p, const char *channel, const char *name,
                               const char *version, const char *package_id,
                               struct weft_err *err) WEFT_WARN_UNUSED;

/* Installs a chaincode package (as _lifecycle InstallChaincode does: save,
 * then build with the external builders). *package_id weft_free. */
int weft_peer_install(struct weft_peer *p, const uint8_t *pkg, size_t len, char **package_id,
                      struct weft_err *err) WEFT_WARN_UNUSED;

/* Processes one serialized SignedProposal as ProcessProposal does. On 0,
 * *resp (weft_free) is the serialized ProposalResponse. A negative return
 * is a gRPC-level failure (Fabric answers with an error status); err says
 * why (e.g. "access denied: channel [c] creator org [Org1MSP]"). */
int weft_peer_endorse(struct weft_peer *p, const uint8_t *sp, size_t sp_len, uint8_t **resp,
                      size_t *resp_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* The outcome of weft_peer_endorse_async: rc, resp and err as
 * weft_peer_endorse gives them (resp is borrowed for the call). */
typedef void (*weft_peer_endorse_done_fn)(void *arg, int rc, const uint8_t *resp,
                                          size_t resp_len, const struct weft_err *err);

/* weft_peer_endorse without waiting: the checks run on this thread and never
 * block (an rpc completion-queue thread may call it); done(arg, ...) runs
 * exactly once - on this thread before the return when the outcome is known
 * at once, else on the thread that completes the chaincode, or on a worker
 * of the peer's pool for a system chaincode. sp is not kept past the
 * return. */
void weft_peer_endorse_async(struct weft_peer *p, const uint8_t *sp, size_t sp_len,
                             weft_peer_endorse_done_fn done, void *arg);

/* Daemon mode (weft_peer_new): registers the ledger metrics on ops'
 * registry and the "orderer-connection" /healthz check (cscc_runtime.c).
 * Call once, after the operations system exists; a no-op for a peer built
 * with weft_peer_new_opts. ops must outlive the peer. */
int weft_peer_attach_ops(struct weft_peer *p, struct weft_ops *ops,
                         struct weft_err *err) WEFT_WARN_UNUSED;

/* Port of the chaincode listener. */
int weft_peer_chaincode_port(const struct weft_peer *p);
struct weft_cc_store *weft_peer_store(struct weft_peer *p);
struct weft_cc_support *weft_peer_cc_support(struct weft_peer *p);
/* The chaincode TLS CA (NULL when TLS is off). */
struct weft_cc_tlsca *weft_peer_cc_tlsca(struct weft_peer *p);

#endif
