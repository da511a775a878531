/*
 * weft chaincode library: Fabric chaincode packages and their install store,
 * the shim protocol (peer side of protos.ChaincodeSupport/Register and
 * protos.Chaincode/Connect), and the launchers that start chaincode: Node
 * processes run by the peer, Fabric external builders and
 * chaincode-as-a-service. Facts: ../shared/spec/chaincode.md.
 *
 * Objects:
 *  - struct weft_cc_package: a parsed package (metadata.json + code.tar.gz).
 *  - struct weft_cc_store: installed packages under
 *    <peer.fileSystemPath>/lifecycle/chaincodes/<label>.<hash>.tar.gz.
 *  - struct weft_cc_support: running chaincodes (one stream handler per
 *    package ID), their launch, and the execution of transactions on them.
 *
 * Threads: every function may be called from any thread unless stated.
 * weft_cc_support_execute blocks its caller until the chaincode answers, the
 * execute timeout passes or the chaincode dies; run it on a worker.
 *
 * Errors: 0 or a negative WEFT_E* code with a message in err (may be NULL).
 *  WEFT_EPARSE     malformed package / message
 *  WEFT_ENOTFOUND  package not installed
 *  WEFT_EEXIST     package already installed
 *  WEFT_ETIMEDOUT  chaincode did not register or answer in time
 *  WEFT_EUNAVAILABLE chaincode stream terminated / launch failed
 */
#ifndef WEFT_CHAINCODE_H
#define WEFT_CHAINCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_ledger_sim;
struct weft_rpc_server;

/* Hard caps on untrusted input (STYLE.md R24). */
#define WEFT_CC_MAX_PACKAGE (256u * 1024u * 1024u) /* compressed package */
#define WEFT_CC_MAX_UNPACKED (1024u * 1024u * 1024u) /* all entries inflated */

/* ---- packages (package.c, tar.c) ------------------------------------------ */

struct weft_cc_package {
    char *type;  /* metadata.json "type" (node, golang, ccaas, ...) */
    char *path;  /* metadata.json "path" */
    char *label; /* metadata.json "label" */
    uint8_t *metadata; /* metadata.json bytes as found */
    size_t metadata_len;
    uint8_t *code; /* code.tar.gz bytes as found */
    size_t code_len;
};

/* Parses a package (bytes borrowed): a gzip tar whose top level holds
 * regular files; metadata.json and code.tar.gz required, others ignored;
 * label must match ^[[:alnum:]][[:alnum:]_.+-]*$. *out new
 * (weft_cc_package_free). */
int weft_cc_package_parse(const uint8_t *data, size_t len, struct weft_cc_package **out,
                          struct weft_err *err) WEFT_WARN_UNUSED;
void weft_cc_package_free(struct weft_cc_package *p);
/* True when label is a valid package label. */
bool weft_cc_label_valid(const char *label);
/* Package ID = label ":" hex(SHA-256(package bytes)); *out weft_free. */
int weft_cc_package_id(const char *label, const uint8_t *data, size_t len,
                       char **out) WEFT_WARN_UNUSED;
/* Builds a package: metadata.json {"type","path","label"} + code.tar.gz made
 * of the files under src_dir (put under prefix "src/" unless type is
 * "ccaas", whose files go at the top: connection.json, META-INF/...).
 * Hidden entries and node_modules are skipped. *out weft_free. */
int weft_cc_package_create(const char *label, const char *type, const char *path,
                           const char *src_dir, uint8_t **out, size_t *out_len,
                           struct weft_err *err) WEFT_WARN_UNUSED;
/* Unpacks a gzip tar (bytes borrowed) into dir (created if needed). Only
 * regular files and folders; absolute paths and ".." are refused. */
int weft_cc_untar_gz(const uint8_t *data, size_t len, const char *dir,
                     struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- install store (store.c) ------------------------------------------------ */

struct weft_cc_store;

struct weft_cc_installed {
    char *package_id;
    char *label;
};

/* Opens the store under root (= peer.fileSystemPath), creating
 * lifecycle/chaincodes/. *out new. */
int weft_cc_store_open(const char *root, struct weft_cc_store **out,
                       struct weft_err *err) WEFT_WARN_UNUSED;
void weft_cc_store_free(struct weft_cc_store *st);
/* Parses and saves a package; *package_id (weft_free, may be NULL) gets its
 * ID. WEFT_EEXIST (with Fabric's message) when already installed. */
int weft_cc_store_install(struct weft_cc_store *st, const uint8_t *data, size_t len,
                          char **package_id, struct weft_err *err) WEFT_WARN_UNUSED;
/* Removes an installed package (used when its build fails). */
int weft_cc_store_remove(struct weft_cc_store *st, const char *package_id,
                         struct weft_err *err) WEFT_WARN_UNUSED;
/* The package bytes (*data weft_free). WEFT_ENOTFOUND when absent. */
int weft_cc_store_load(struct weft_cc_store *st, const char *package_id, uint8_t **data,
                       size_t *len, struct weft_err *err) WEFT_WARN_UNUSED;
bool weft_cc_store_has(struct weft_cc_store *st, const char *package_id);
/* All installed packages sorted by package ID; free with
 * weft_cc_installed_free. */
int weft_cc_store_list(struct weft_cc_store *st, struct weft_cc_installed **out, size_t *n,
                       struct weft_err *err) WEFT_WARN_UNUSED;
void weft_cc_installed_free(struct weft_cc_installed *list, size_t n);
/* peer.fileSystemPath the store lives in (borrowed). */
const char *weft_cc_store_root(const struct weft_cc_store *st);

/* ---- chaincode TLS CA (tlsca.c) --------------------------------------------
 * When peer.tls.enabled, the chaincode listener serves mutual TLS and trusts
 * only this CA for client certificates. The peer makes it at start in memory
 * (a new one every run, as Fabric's peer does) and issues one client key
 * pair per chaincode launch; the SHA-256 of the certificate's DER is bound
 * to the chaincode name (package ID) for WEFT_CC_TLS_BINDING_TTL_S, and
 * REGISTER on the listener is accepted only for the bound name (Fabric's
 * core/chaincode/accesscontrol). */

#define WEFT_CC_TLS_BINDING_TTL_S 600

struct weft_cc_tlsca;

/* New CA: P-256 key and a self-signed CA certificate. *out new. */
int weft_cc_tlsca_new(struct weft_cc_tlsca **out, struct weft_err *err) WEFT_WARN_UNUSED;
void weft_cc_tlsca_free(struct weft_cc_tlsca *ca);
/* The CA certificate, PEM (borrowed, lives as long as ca). */
const char *weft_cc_tlsca_cert_pem(const struct weft_cc_tlsca *ca);
/* Lifetime of later bindings (tests); <= 0 makes them expire at once. */
void weft_cc_tlsca_set_ttl(struct weft_cc_tlsca *ca, int64_t seconds);
/* Issues a client certificate (CN = name cut to 64 bytes, clientAuth) with a fresh key and
 * binds its hash to name. *cert_pem weft_free; *key_pem (PKCS#8 PEM)
 * weft_free_secret(*key_pem, *key_pem_len). */
int weft_cc_tlsca_issue(struct weft_cc_tlsca *ca, const char *name, char **cert_pem,
                        char **key_pem, size_t *key_pem_len,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* 0 when hash (SHA-256 of the client certificate DER; NULL = the client sent
 * none) is bound to name; else WEFT_EPERM with Fabric's message ("... not
 * found in registry", "... belongs to a different chaincode", "TLS is active
 * but chaincode <name> didn't send certificate"). */
int weft_cc_tlsca_check(struct weft_cc_tlsca *ca, const uint8_t *hash, const char *name,
                        struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- chaincode support: handlers, launch, execution (support.c) ------------ */

struct weft_cc_support;

/* An external builder from core.yaml chaincode.externalBuilders. */
struct weft_cc_builder {
    const char *name;
    const char *path;                   /* executables in <path>/bin */
    const char *const *propagate_env;   /* NULL-terminated, may be NULL */
};

/* Pluggable launcher (R4): start ccid so that it registers with the support
 * (weft_cc_support_serve_stream or weft_cc_support_connect). Returns 0 when
 * the start was initiated; the support then waits for REGISTER. Used by tests
 * to run an in-process fake chaincode. */
struct weft_cc_launcher {
    int (*launch)(void *ctx, struct weft_cc_support *s, const char *ccid, struct weft_err *err);
    void *ctx;
};

/* Resolves the chaincode name a chaincode calls (INVOKE_CHAINCODE) to the
 * package ID that runs it on channel: *ccid weft_free. Set by the peer. */
typedef int (*weft_cc_resolve_fn)(void *ctx, const char *channel, const char *name, char **ccid,
                                  char **version, struct weft_err *err);

struct weft_cc_support_opts {
    struct weft_cc_store *store;  /* borrowed, required */
    const char *peer_address;     /* host:port chaincode processes dial (7052) */
    const char *mspid;            /* peer's MSP ID (chaincode.json) */
    int64_t execute_timeout_ms;   /* chaincode.executetimeout; < 1000 = 30000 */
    int64_t startup_timeout_ms;   /* chaincode.startuptimeout; < 5000 = 5000 */
    const struct weft_cc_builder *builders; /* external builders, in order */
    size_t n_builders;
    /* Folder holding node_modules/fabric-shim for the built-in Node launcher
     * when a package brings no node_modules (NODE_PATH for the process). */
    const char *node_modules;
    const char *node_binary;      /* "node" when NULL */
    uint64_t total_query_limit;   /* ledger.state.totalQueryLimit; 0 = 100000 */
    const struct weft_cc_launcher *launcher; /* NULL = built-in launchers */
    weft_cc_resolve_fn resolve;   /* c2c name resolution; NULL = refuse c2c */
    void *resolve_ctx;
    /* Chaincode TLS (borrowed; NULL = plaintext listener). When set, every
     * launch gets a client key pair from it (Node: CORE_PEER_TLS_ENABLED=true,
     * CORE_TLS_CLIENT_KEY_PATH/CERT_PATH base64 files, CORE_TLS_CLIENT_KEY_FILE/
     * CERT_FILE PEM files, CORE_PEER_TLS_ROOTCERT_FILE; bin/run: chaincode.json
     * client_cert/client_key/root_cert) and Register checks the connection's
     * client certificate against the name registered. */
    struct weft_cc_tlsca *tlsca;
    const char *tls_root_pem;     /* roots chaincode trusts for the listener
                                     (peer.tls.rootcert.file), PEM */
};

int weft_cc_support_new(const struct weft_cc_support_opts *opts, struct weft_cc_support **out,
                        struct weft_err *err) WEFT_WARN_UNUSED;
/* Ends every chaincode stream, stops launched processes (SIGTERM, SIGKILL
 * after 5 s) and frees. Not while an execute is running. NULL-safe. */
void weft_cc_support_free(struct weft_cc_support *s);

/* Registers protos.ChaincodeSupport/Register on srv (the chaincode
 * listener), before weft_rpc_server_start. s must outlive srv's calls. */
int weft_cc_support_register_service(struct weft_cc_support *s, struct weft_rpc_server *srv,
                                     struct weft_err *err) WEFT_WARN_UNUSED;
/* Dials a chaincode server (CCaaS, protos.Chaincode/Connect) at address and
 * runs the stream on a thread of its own; the chaincode must REGISTER as
 * ccid. tls_* PEM strings may be NULL (plaintext). */
struct weft_cc_ccaas {
    const char *address;
    int64_t dial_timeout_ms; /* 0 = 3000 */
    bool tls_required;
    bool client_auth_required;
    const char *root_cert, *client_cert, *client_key; /* PEM */
};
int weft_cc_support_connect(struct weft_cc_support *s, const char *ccid,
                            const struct weft_cc_ccaas *cc, struct weft_err *err) WEFT_WARN_UNUSED;

/* The outcome of one invocation. Release with weft_cc_result_clear. */
struct weft_cc_result {
    int32_t status;   /* protos.Response.status */
    char *message;    /* never NULL after a successful execute */
    uint8_t *payload;
    size_t payload_len;
    uint8_t *response; /* ser(protos.Response) exactly as the chaincode sent it */
    size_t response_len;
    uint8_t *event;   /* ser(ChaincodeEvent) as sent (NULL if none) */
    size_t event_len;
};
void weft_cc_result_clear(struct weft_cc_result *r);

struct weft_cc_invocation {
    const char *ccid;        /* package ID to run */
    const char *ns;          /* chaincode name = namespace of its state */
    const char *channel;
    const char *txid;
    struct weft_ledger_sim *sim; /* borrowed; used by the stream thread */
    const uint8_t *input;    /* ser(ChaincodeInput) */
    size_t input_len;
    const uint8_t *signed_proposal; /* ser(SignedProposal) or NULL */
    size_t signed_proposal_len;
    bool is_init;
};

/* Runs one transaction: launches the chaincode if it is not connected (a
 * crashed one is relaunched), sends TRANSACTION/INIT and serves its state
 * requests from inv->sim until COMPLETED or ERROR. A chaincode ERROR is a
 * result (status 500, message "transaction returned with failure: ..."),
 * not an error. Errors: WEFT_ETIMEDOUT ("timeout expired while executing
 * transaction"), WEFT_EUNAVAILABLE ("chaincode stream terminated", launch
 * failure with the builder's output), WEFT_ESTATE (txid already in flight). */
int weft_cc_support_execute(struct weft_cc_support *s, const struct weft_cc_invocation *inv,
                            struct weft_cc_result *out, struct weft_err *err) WEFT_WARN_UNUSED;

/* Completion of weft_cc_support_execute_async: rc and err as the
 * synchronous execute returns them; with rc 0, *res holds the result and is
 * the callback's to weft_cc_result_clear (zeroed otherwise). Runs once, on
 * the thread that settled the transaction: the one that handled COMPLETED
 * or ERROR (an rpc completion-queue thread for Register streams), the
 * stream's end, the support's timer thread (execute timeout), the support's
 * pool (launch failure) or the starting thread itself (send failure; a
 * fast chaincode may also answer before execute_async has returned). It
 * must not block for long and must not call execute (sync) itself. */
typedef void (*weft_cc_done_fn)(void *ctx, int rc, struct weft_cc_result *res,
                                struct weft_err *err);
/* Starts inv and returns without waiting: 0 when started (done runs exactly
 * once later, possibly before this returns), or an error before anything
 * started (WEFT_ESTATE txid already in flight, WEFT_ENOMEM): done never
 * runs. *inv and everything it points to (strings, sim, input) must stay
 * valid until done runs. Never blocks when the chaincode is connected; when
 * it must be launched first, the launch runs on the support's pool.
 * The execute timeout (opts.execute_timeout_ms) is enforced by one timer
 * thread per support. */
int weft_cc_support_execute_async(struct weft_cc_support *s, const struct weft_cc_invocation *inv,
                                  weft_cc_done_fn done, void *ctx,
                                  struct weft_err *err) WEFT_WARN_UNUSED;

/* Builds a package for `ccid` if an external builder accepts it (and no
 * build is cached). Install calls this; 0 when no builder is needed. */
int weft_cc_support_build(struct weft_cc_support *s, const char *ccid,
                          struct weft_err *err) WEFT_WARN_UNUSED;

/* True when a handler for ccid is registered and ready. */
bool weft_cc_support_connected(struct weft_cc_support *s, const char *ccid);
/* Stops ccid's handler (and its process if the peer launched it). */
void weft_cc_support_stop(struct weft_cc_support *s, const char *ccid);

/* Test and launcher hook: serve one chaincode stream given by send/recv
 * functions, read by the calling thread (CCaaS connections use it; the
 * Register service is event-driven, with the same message handling).
 * Returns when the stream ends. */
struct weft_cc_stream_ops {
    int (*send)(void *stream, const uint8_t *msg, size_t len);
    int (*recv)(void *stream, uint8_t **msg, size_t *len, int64_t timeout_ms);
    void (*cancel)(void *stream);
    /* Optional, for streams the chaincode opened (Register): SHA-256 of the
     * client's TLS certificate DER; non-zero when it sent none. With a
     * tlsca set, REGISTER is checked against it. */
    int (*peer_cert_hash)(void *stream, uint8_t out[32]);
    /* Optional: ends the stream with an error status (REGISTER refused). */
    void (*refuse)(void *stream, const char *msg);
};
void weft_cc_support_serve_stream(struct weft_cc_support *s, const struct weft_cc_stream_ops *ops,
                                  void *stream);

#endif
