/*
 * weft configtx library: Fabric channel configuration.
 *
 *  - Reading: a config block (block -> envelope -> payload of type CONFIG ->
 *    ConfigEnvelope) or a bare ConfigEnvelope is parsed into a struct
 *    weft_channel_config: channel values, orderer parameters (consensus,
 *    etcdraft consenters, batch size and timeout), organisations with their
 *    MSPs, endpoints and anchor peers, ACLs, capabilities, an MSP manager with
 *    every organisation's MSP and a policy manager holding every policy of
 *    the tree by absolute path ("/Channel/Application/Org1MSP/Endorsement").
 *  - Building: a Fabric configtx.yaml profile becomes a channel Config and a
 *    genesis block with the same tree, values, defaults and mod_policy values
 *    as configtxgen v2.4.9 (docs/configtx.md). Map entries are written in
 *    sorted key order (Go's deterministic marshalling); configtxgen itself
 *    writes them in random order, so compare configs after
 *    weft_configtx_config_canonical().
 *  - Printing: any block, envelope or config as JSON in the style of Fabric's
 *    protolator/configtxlator (nested messages decoded).
 *
 * Errors: 0 or a negative WEFT_E* code with a message in err (may be NULL).
 *  WEFT_EPARSE    malformed protobuf, not a config block, bad YAML syntax
 *  WEFT_ECONFIG   a configuration Fabric would refuse (file:line: key: why)
 *  WEFT_ENOTFOUND missing profile, MSP folder or certificate file
 *  WEFT_ENOMEM    out of memory
 *
 * Threads: builders and parsers are single-threaded calls with no shared
 * state. A built struct weft_channel_config is immutable: read it, and
 * evaluate its policies, from any number of threads.
 */
#ifndef WEFT_CONFIGTX_H
#define WEFT_CONFIGTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/msp.h"
#include "weft/policy.h"

/* common.HeaderType values used here. */
#define WEFT_CONFIGTX_HEADER_CONFIG 1
#define WEFT_CONFIGTX_HEADER_CONFIG_UPDATE 2

/* Hard caps on untrusted input (STYLE.md R24). */
#define WEFT_CONFIGTX_MAX_BLOCK (256u * 1024u * 1024u)
#define WEFT_CONFIGTX_MAX_DEPTH 32 /* nesting of config groups */

/* A string list owned by the config. */
struct weft_configtx_strv {
    char **v;
    size_t n;
};

struct weft_configtx_hostport {
    char *host;
    uint32_t port;
};

/* One organisation (a sub-group of /Channel/Orderer or /Channel/Application). */
struct weft_configtx_org {
    char *name;                          /* group name (configtx.yaml Name) */
    char *mspid;                         /* FabricMSPConfig.name */
    struct weft_msp *msp;                /* owned reference (use weft_msp_ref to keep) */
    struct weft_configtx_strv endpoints; /* orderer orgs: Endpoints value */
    struct weft_configtx_hostport *anchor_peers; /* application orgs */
    size_t n_anchor_peers;
};

struct weft_configtx_consenter {
    char *host;
    uint32_t port;
    uint8_t *client_tls_cert; /* PEM bytes as stored in the config */
    size_t client_tls_cert_len;
    uint8_t *server_tls_cert;
    size_t server_tls_cert_len;
};

struct weft_configtx_acl {
    char *resource;   /* "peer/Propose" */
    char *policy_ref; /* "/Channel/Application/Writers" */
};

struct weft_configtx_orderer {
    char *consensus_type; /* "etcdraft", "solo", ... */
    int32_t consensus_state; /* 0 NORMAL, 1 MAINTENANCE */
    uint8_t *consensus_metadata; /* raw ConsensusType.metadata */
    size_t consensus_metadata_len;
    /* etcdraft only: */
    struct weft_configtx_consenter *consenters;
    size_t n_consenters;
    char *tick_interval; /* options; "" when absent */
    uint32_t election_tick, heartbeat_tick, max_inflight_blocks, snapshot_interval_size;
    /* BatchSize / BatchTimeout / ChannelRestrictions */
    uint32_t max_message_count, absolute_max_bytes, preferred_max_bytes;
    char *batch_timeout;      /* as written, e.g. "250ms" */
    int64_t batch_timeout_ns; /* parsed */
    uint64_t max_channels;
    struct weft_configtx_strv capabilities;
    struct weft_configtx_org *orgs;
    size_t n_orgs;
};

struct weft_configtx_application {
    struct weft_configtx_strv capabilities;
    struct weft_configtx_acl *acls; /* sorted by resource */
    size_t n_acls;
    struct weft_configtx_org *orgs;
    size_t n_orgs;
};

/* A parsed channel configuration. Built by weft_channel_config_from_*();
 * immutable afterwards; freed with weft_channel_config_free(). Every pointer
 * inside is owned by it. */
struct weft_channel_config {
    char *channel_id;
    uint64_t sequence;
    char *hashing_algorithm;           /* "SHA256" */
    uint32_t block_data_hashing_width; /* 4294967295 */
    struct weft_configtx_strv orderer_addresses; /* /Channel/OrdererAddresses */
    char *consortium;                            /* NULL when absent */
    struct weft_configtx_strv capabilities;      /* channel capabilities */
    bool has_orderer;
    struct weft_configtx_orderer orderer;
    bool has_application;
    struct weft_configtx_application application;
    struct weft_msp_mgr *msp_mgr;       /* every org's MSP */
    struct weft_policy_mgr *policy_mgr; /* every policy, by absolute path */
    struct weft_configtx_strv policy_paths; /* paths of all policies, sorted */
    uint8_t *_config;                   /* serialized common.Config */
    size_t _config_len;
};

/* ---- reading ---------------------------------------------------------------- */

/* Extracts the ConfigEnvelope of a config block (bytes borrowed): exactly one
 * envelope, payload header type CONFIG. *env (weft_malloc'd, caller frees) is
 * the serialized ConfigEnvelope, *channel_id (caller frees) the header's
 * channel id. Errors: WEFT_EPARSE naming the layer that failed. */
int weft_configtx_block_config(const uint8_t *block, size_t len, uint8_t **env, size_t *env_len,
                               char **channel_id, struct weft_err *err) WEFT_WARN_UNUSED;

/* Parses a serialized ConfigEnvelope (borrowed) for channel_id. MSPs are set
 * up at now_unix (0 = wall clock, see weft_msp_new). *out is new. */
int weft_channel_config_from_envelope(const uint8_t *env, size_t len, const char *channel_id,
                                      int64_t now_unix, struct weft_channel_config **out,
                                      struct weft_err *err) WEFT_WARN_UNUSED;
/* Same from a config block (genesis or later config block). */
int weft_channel_config_from_block(const uint8_t *block, size_t len, int64_t now_unix,
                                   struct weft_channel_config **out,
                                   struct weft_err *err) WEFT_WARN_UNUSED;
/* NULL-safe. */
void weft_channel_config_free(struct weft_channel_config *cfg);

/* Capability lookups: which = "Channel", "Orderer" or "Application". */
bool weft_channel_config_has_capability(const struct weft_channel_config *cfg, const char *which,
                                        const char *name);
/* An org by MSP ID in the orderer or application group (borrowed) or NULL. */
const struct weft_configtx_org *weft_channel_config_org(const struct weft_channel_config *cfg,
                                                        const char *mspid);

/* ---- building --------------------------------------------------------------- */

/* Reads a configtx.yaml (path of the file) and builds the serialized
 * common.Config (sequence 0) of profile: *out weft_malloc'd, caller frees.
 * Relative MSPDir / certificate paths resolve against the file's folder.
 * Errors name "<file>:<line>: <key>: ...". */
int weft_configtx_config_from_yaml(const char *path, const char *profile, uint8_t **out,
                                   size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Wraps a serialized common.Config (borrowed) into a genesis block as
 * configtxgen does: CONFIG envelope (version 1, timestamp now, random
 * 24-byte nonce, tx id = hex(SHA-256(nonce)), no signature), block 0 with its
 * data hash and metadata[0] = OrdererBlockMetadata{last_config{}}. */
int weft_configtx_genesis_block(const uint8_t *config, size_t len, const char *channel_id,
                                uint8_t **out, size_t *out_len,
                                struct weft_err *err) WEFT_WARN_UNUSED;

/* Both steps: configtx.yaml + profile + channel id -> genesis block bytes. */
int weft_configtx_genesis_from_yaml(const char *path, const char *profile, const char *channel_id,
                                    uint8_t **out, size_t *out_len,
                                    struct weft_err *err) WEFT_WARN_UNUSED;

/* Re-encodes a serialized common.Config with every config-group map
 * (groups, values, policies) in sorted key order, so two configs that differ
 * only in map order compare equal byte for byte. *out weft_malloc'd. */
int weft_configtx_config_canonical(const uint8_t *config, size_t len, uint8_t **out,
                                   size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Formats a Go time.Duration the way Go's Duration.String does ("250ms",
 * "2s", "1m30s", "1h0m0s", "0s"). Returns the length written (< cap). */
size_t weft_configtx_format_duration(int64_t ns, char *buf, size_t cap);

/* ---- printing --------------------------------------------------------------- */

/* Decodes bytes as type ("common.Block", "common.Envelope",
 * "common.ConfigEnvelope", "common.Config", ... any registered message; NULL
 * = guess among Block, Envelope, ConfigEnvelope, Config) and prints them as
 * indented JSON: field names as in the .proto, 64-bit integers as strings,
 * enums by name, bytes base64 except where they hold a known message
 * (envelope payloads, headers, config values by key, policies, MSP configs,
 * identities, block metadata, etcdraft metadata), which are decoded in place.
 * *out is a NUL-terminated string (caller frees with weft_free). */
int weft_configtx_to_json(const char *type, const uint8_t *data, size_t len, char **out,
                          struct weft_err *err) WEFT_WARN_UNUSED;

#endif
