/* Private state of struct weft_peer (peer.c, endorser.c). */
#ifndef WEFT_PEER_INTERNAL_H
#define WEFT_PEER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "weft/peer.h"

struct weft_ledger;
struct weft_ledger_sim;
struct weft_channel_config;
struct weft_msp;
struct peer_defcache_ent;

struct peer_channel {
    struct peer_channel *next;
    char *id;
    struct weft_ledger *ledger;
    struct weft_channel_config *cfg;
};

/* A local approval (channel, name, sequence -> package) or a development
 * definition (version, package). */
struct peer_def {
    struct peer_def *next;
    char *channel, *name, *version, *package_id;
    int64_t sequence;
};

struct weft_peer {
    pthread_mutex_t mu;      /* channels list, approvals, devdefs */
    pthread_mutex_t join_mu; /* serialises joins and commits */
    char *fs_path;
    bool no_sync;
    struct weft_msp *msp; /* local MSP with the signing identity */
    struct weft_cc_store *store;
    struct weft_cc_support *support;
    struct weft_rpc_server *cc_server;
    struct weft_cc_tlsca *cc_tlsca; /* chaincode client CA when peer.tls.enabled */
    struct peer_channel *channels;
    struct peer_def *approvals, *devdefs;
    struct peer_sys *sys; /* daemon mode: channel runtime, Deliver (cscc_runtime.c) */
    struct weft_gateway *gateway; /* daemon mode: gateway.Gateway (gateway_peer.c) */
    struct weft_vcache *vcache;   /* verification verdicts: validators, own endorsements */
    struct weft_pool *workers;    /* system chaincodes' proposals (endorser.c) */
    /* endorsement-time definition lookups that succeeded (peer.c) */
    pthread_mutex_t dc_mu;
    struct peer_defcache_ent *dc;      /* PEER_DEFCACHE_MAX slots, lazily allocated */
    size_t dc_n, dc_next;              /* slots used; next slot to evict when full */
    atomic_uint_fast64_t approval_gen; /* bumped by peer__defcache_bump */
};

struct peer_channel *peer__channel(struct weft_peer *p, const char *id);
int peer__definition(struct weft_peer *p, struct peer_channel *c, const char *name, char **ccid,
                     char **version, struct weft_err *err);
void peer__def_free(struct peer_def *d);
/* Makes every cached definition lookup stale: call after this peer saved an
 * approval or installed a package. Any thread. */
void peer__defcache_bump(struct weft_peer *p);
/* The package this peer's org approved for (name, sequence) on channel
 * through _lifecycle (lifecycle.c). *package_id weft_free; WEFT_ENOTFOUND. */
int peer__lifecycle_package(struct weft_peer *p, struct weft_ledger *ledger, const char *channel,
                            const char *name, int64_t sequence, char **package_id,
                            struct weft_err *err);
/* Committed hash (*found false when none) of the implicit-collection key
 * holding the package this org approved for (name, sequence): the key
 * peer__lifecycle_package reads, through the read txn of qe (lifecycle.c). */
int peer__lifecycle_approval_hash(struct weft_peer *p, struct weft_ledger_sim *qe, const char *name,
                                  int64_t sequence, uint8_t hash[32], bool *found,
                                  struct weft_err *err);
int peer__endorser_register(struct weft_peer *p, struct weft_rpc_server *rpc,
                            struct weft_err *err);

#endif
