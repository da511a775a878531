/*
 * weft ops library: an embeddable HTTP(S) server, a metrics registry with
 * Prometheus exposition, health checkers, and the "operations system" that
 * ties them together the way Fabric's operations service does
 * (/healthz, /metrics, /logspec, /version on operations.listenAddress).
 *
 * Three layers, usable separately:
 *
 *   weft_http_*     HTTP/1.1 server on libevent's evhttp, optional TLS and
 *                   mutual TLS through OpenSSL bufferevents. The CA REST API,
 *                   the registrar and the orderer's channel-participation API
 *                   register their own routes on it.
 *   weft_metrics_*  counters, gauges and histograms with labels; hot paths
 *                   cache a child handle and update it with atomics only.
 *   weft_health_*   named health checkers run with a per-check timeout.
 *   weft_ops_*      the operations system (one per daemon).
 *
 * Threads (STYLE.md R27):
 *   - Each HTTP server owns one event-loop thread, started by
 *     weft_http_server_start() and joined by weft_http_server_free(). All
 *     socket I/O, TLS and request parsing happen there.
 *   - A route's handler runs either on the loop thread (it must not block:
 *     no disk sync, no network wait, no lock held by slow code) or, with
 *     WEFT_HTTP_ROUTE_BLOCKING, on a worker of a weft_pool; the reply is then
 *     handed back to the loop thread, which writes it. Handlers of one server
 *     may run concurrently on several workers.
 *   - Metric updates are lock-free and may be called from any thread.
 *     Creating families and children takes a short mutex.
 *   - Health checks run on the health registry's own worker threads.
 *
 * Process-wide effects: the first weft_http_server_new() calls libevent's
 * evthread_use_pthreads() (once; it makes event bases lockable so other
 * threads may wake the loop). The library installs no signal handler: a
 * client that disconnects while its answer is being written makes the
 * write raise SIGPIPE, so the process must ignore SIGPIPE (the weft daemon
 * does at start; tests do in their setup).
 *
 * Ownership: every *_new returns an object the caller frees with the
 * matching *_free (NULL-safe). Strings passed in options are copied unless
 * said otherwise. Pointers handed to a handler are valid until it returns.
 */
#ifndef WEFT_OPS_H
#define WEFT_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

/* ======================================================================== */
/* HTTP server                                                               */
/* ======================================================================== */

struct weft_http_server;
struct weft_http_request;
struct weft_http_response;

/* TLS settings of a listener. All paths are PEM files. */
struct weft_http_tls_opts {
    bool enabled;
    const char *cert_file; /* server certificate (chain), PEM */
    const char *key_file;  /* its private key, PEM */
    /* Client certificates: when client_ca_files is non-empty the server asks
     * for a client certificate and verifies any certificate presented
     * against these CAs (a certificate that does not verify fails the
     * handshake). With client_auth_required, a client without a verified
     * certificate fails the handshake (Go's RequireAndVerifyClientCert);
     * without it, clients may connect without one (VerifyClientCertIfGiven)
     * and routes flagged WEFT_HTTP_ROUTE_REQUIRE_CERT answer 401 to them. */
    bool client_auth_required;
    const char *const *client_ca_files;
    size_t n_client_ca_files;
};

struct weft_http_server_opts {
    /* "host:port", "[v6]:port" or ":port" (all interfaces). Port 0 picks a
     * free port; read it back with weft_http_server_port(). Required. */
    const char *listen_address;
    struct weft_http_tls_opts tls;
    /* Largest accepted request body; larger requests get 413. 0 = 1 MiB. */
    size_t max_body_size;
    /* Idle/read/write timeout of a connection in seconds. 0 = 10 s. */
    int timeout_s;
    /* Pool for WEFT_HTTP_ROUTE_BLOCKING handlers. NULL: the server creates
     * its own with `workers` threads (0 = 2) the first time a blocking route
     * is registered. A borrowed pool must outlive the server. */
    struct weft_pool *pool;
    unsigned workers;
};

/* Route flags. */
#define WEFT_HTTP_ROUTE_PREFIX 0x1u       /* path matches as a prefix, not exactly */
#define WEFT_HTTP_ROUTE_BLOCKING 0x2u     /* run the handler on the worker pool */
#define WEFT_HTTP_ROUTE_REQUIRE_CERT 0x4u /* on a TLS listener, 401 without a verified client cert */

/* A handler fills resp from req. It runs on the loop thread, or on a pool
 * worker for WEFT_HTTP_ROUTE_BLOCKING routes. Returning a negative code
 * discards whatever was put in resp and answers 500 with a short JSON error.
 * req and resp are valid only during the call. */
typedef int (*weft_http_handler_cb)(void *ctx, const struct weft_http_request *req,
                                    struct weft_http_response *resp);

/* Creates a server and binds its listening socket (so the port is known
 * right away), but serves nothing until weft_http_server_start().
 * Errors: WEFT_EINVAL (bad address), WEFT_ECONFIG/WEFT_ECRYPTO (TLS files),
 * -errno from bind. Any thread. */
struct weft_http_server *weft_http_server_new(const struct weft_http_server_opts *opts,
                                              struct weft_err *err);

/* Registers a handler. method is "GET", "PUT", ... or NULL for any method.
 * path is matched exactly (or as a prefix with WEFT_HTTP_ROUTE_PREFIX);
 * the query string is not part of it. The first matching route in
 * registration order wins. When a path matches but no route takes the
 * method, the server answers 405 with an Allow header; when nothing matches,
 * 404. ctx is borrowed and must outlive the server.
 * Only before weft_http_server_start(), from the thread that created the
 * server. Errors: WEFT_EINVAL, WEFT_ESTATE (already started), WEFT_ENOMEM. */
int weft_http_route(struct weft_http_server *srv, const char *method, const char *path,
                    unsigned flags, weft_http_handler_cb handler, void *ctx) WEFT_WARN_UNUSED;

/* Starts the loop thread. Errors: WEFT_ESTATE (twice), WEFT_ENOMEM, -errno. */
int weft_http_server_start(struct weft_http_server *srv, struct weft_err *err) WEFT_WARN_UNUSED;

/* The bound TCP port (useful after asking for port 0). */
int weft_http_server_port(const struct weft_http_server *srv);

/* True when the listener speaks TLS. */
bool weft_http_server_tls(const struct weft_http_server *srv);

/* Stops the loop, waits for blocking handlers still running, closes every
 * connection (requests in flight get no answer) and frees everything.
 * NULL-safe. Never from the loop thread or a handler. */
void weft_http_server_free(struct weft_http_server *srv);

/* ---- request (read-only, valid during the handler call) ----------------- */

/* "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH" ... */
const char *weft_http_request_method(const struct weft_http_request *req);
/* Path without the query string, as sent (not percent-decoded). */
const char *weft_http_request_path(const struct weft_http_request *req);
/* Raw query string without '?', or "" when there is none. */
const char *weft_http_request_query(const struct weft_http_request *req);
/* Percent-decoded value of query parameter key, or NULL. The string lives
 * as long as the request. */
const char *weft_http_request_query_param(const struct weft_http_request *req, const char *key);
/* Body bytes (not NUL-terminated in general, but a NUL follows them). */
const uint8_t *weft_http_request_body(const struct weft_http_request *req, size_t *len);
/* Header value by case-insensitive name, or NULL. */
const char *weft_http_request_header(const struct weft_http_request *req, const char *name);
/* True when the connection is TLS and the client presented a certificate
 * that verified against the configured client CAs. */
bool weft_http_request_client_verified(const struct weft_http_request *req);
/* Subject of the verified client certificate in OpenSSL's one-line RFC 2253
 * form ("CN=admin,O=Org1"), or NULL. */
const char *weft_http_request_client_subject(const struct weft_http_request *req);
/* DER of the verified client leaf certificate, or NULL. */
const uint8_t *weft_http_request_client_cert_der(const struct weft_http_request *req,
                                                 size_t *len);
/* Peer address "ip:port". */
const char *weft_http_request_peer(const struct weft_http_request *req);

/* ---- response (filled by the handler) ------------------------------------ */

/* Status defaults to 200, content type to none, body to empty. */
void weft_http_response_status(struct weft_http_response *resp, int status);
/* Content-Type header; the string is copied. */
int weft_http_response_content_type(struct weft_http_response *resp,
                                    const char *content_type) WEFT_WARN_UNUSED;
/* Adds a header (copied). */
int weft_http_response_header(struct weft_http_response *resp, const char *name,
                              const char *value) WEFT_WARN_UNUSED;
/* The body buffer; append to it with weft_buf_append*. */
struct weft_buf *weft_http_response_body(struct weft_http_response *resp);
/* Convenience: status + content type + body copy in one call. */
int weft_http_response_set(struct weft_http_response *resp, int status,
                           const char *content_type, const void *body,
                           size_t len) WEFT_WARN_UNUSED;

/* ======================================================================== */
/* Metrics                                                                   */
/* ======================================================================== */

struct weft_metrics;                  /* a registry */
struct weft_metrics_counter_vec;      /* a counter family (name, help, labels) */
struct weft_metrics_gauge_vec;        /* a gauge family */
struct weft_metrics_histogram_vec;    /* a histogram family */
struct weft_metrics_counter;          /* one labelled counter of a family */
struct weft_metrics_gauge;
struct weft_metrics_histogram;

/* Describes a family. The full name is namespace_subsystem_name (empty parts
 * skipped), as in Fabric: {"ledger", NULL, "blockchain_height"} gives
 * "ledger_blockchain_height". Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * names [a-zA-Z_][a-zA-Z0-9_]* without a "__" prefix (and not "le" for
 * histograms). All strings are copied. */
struct weft_metrics_opts {
    const char *namespace_;
    const char *subsystem;
    const char *name;
    const char *help;
    const char *const *label_names;
    size_t n_labels;
    /* Histograms only: strictly increasing finite upper bounds; +Inf is
     * implicit. NULL = Prometheus' defaults (WEFT_METRICS_DEFAULT_BUCKETS). */
    const double *buckets;
    size_t n_buckets;
};

/* .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10, the Prometheus (and Fabric) default. */
extern const double WEFT_METRICS_DEFAULT_BUCKETS[11];

/* New empty registry. NULL on ENOMEM. */
struct weft_metrics *weft_metrics_new(void);
/* Frees the registry, its families and children; every handle obtained from
 * it becomes invalid. No other thread may use the registry meanwhile. */
void weft_metrics_free(struct weft_metrics *m);

/* Create (or look up) a family. Registering the same full name again with
 * the same type, labels (and buckets) returns the existing family, so two
 * components may declare one metric; a mismatch is WEFT_EEXIST. Bad names
 * are WEFT_EINVAL. The family lives as long as the registry. Any thread. */
struct weft_metrics_counter_vec *weft_metrics_counter_vec_new(struct weft_metrics *m,
                                                              const struct weft_metrics_opts *o,
                                                              struct weft_err *err);
struct weft_metrics_gauge_vec *weft_metrics_gauge_vec_new(struct weft_metrics *m,
                                                          const struct weft_metrics_opts *o,
                                                          struct weft_err *err);
struct weft_metrics_histogram_vec *
weft_metrics_histogram_vec_new(struct weft_metrics *m, const struct weft_metrics_opts *o,
                               struct weft_err *err);

/* The child for one tuple of label values, given in the order of
 * opts.label_names (values may be any UTF-8, they are escaped on output;
 * NULL is taken as ""). For a family without labels pass NULL. Creates the
 * child at zero on first use. The handle lives as long as the registry:
 * cache it on hot paths. NULL only on ENOMEM. Any thread (takes the family
 * mutex briefly). */
struct weft_metrics_counter *weft_metrics_counter_with(struct weft_metrics_counter_vec *v,
                                                       const char *const *values);
struct weft_metrics_gauge *weft_metrics_gauge_with(struct weft_metrics_gauge_vec *v,
                                                   const char *const *values);
struct weft_metrics_histogram *weft_metrics_histogram_with(struct weft_metrics_histogram_vec *v,
                                                           const char *const *values);

/* Updates: lock-free, any thread. Counters ignore negative or NaN deltas
 * (a counter only goes up). */
void weft_metrics_counter_inc(struct weft_metrics_counter *c);
void weft_metrics_counter_add(struct weft_metrics_counter *c, double delta);
void weft_metrics_gauge_set(struct weft_metrics_gauge *g, double value);
void weft_metrics_gauge_add(struct weft_metrics_gauge *g, double delta);
void weft_metrics_histogram_observe(struct weft_metrics_histogram *h, double value);

/* Current values (for tests and internal use). */
double weft_metrics_counter_value(const struct weft_metrics_counter *c);
double weft_metrics_gauge_value(const struct weft_metrics_gauge *g);
uint64_t weft_metrics_histogram_count(const struct weft_metrics_histogram *h);
double weft_metrics_histogram_sum(const struct weft_metrics_histogram *h);

/* Appends the whole registry in the Prometheus text exposition format
 * 0.0.4 to out: families sorted by name, children sorted by label values,
 * labels in name order. Each value is read atomically, but a scrape is not
 * a snapshot across metrics; a histogram's _count always equals its +Inf
 * bucket. Any thread. Errors: WEFT_ENOMEM, WEFT_ETOOBIG (out's limit). */
int weft_metrics_write(struct weft_metrics *m, struct weft_buf *out) WEFT_WARN_UNUSED;

/* Content type of weft_metrics_write()'s output. */
#define WEFT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ======================================================================== */
/* Health                                                                    */
/* ======================================================================== */

struct weft_health;

/* A checker returns 0 when healthy, or a negative code and writes a short
 * reason (NUL-terminated, at most reason_len bytes) when not. It runs on a
 * health worker thread; it may block, but a check slower than the registry's
 * timeout is reported as failed ("health check timed out") and its late
 * result is dropped. It must return eventually: weft_health_free() waits. */
typedef int (*weft_health_check_cb)(void *ctx, char *reason, size_t reason_len);

/* timeout_ns: per-check deadline (0 = 30 s, Fabric's default is the same
 * order). workers: threads running checks (0 = 2). NULL on ENOMEM. */
struct weft_health *weft_health_new(uint64_t timeout_ns, unsigned workers);
/* Waits for running checks, frees everything. NULL-safe. */
void weft_health_free(struct weft_health *h);
/* Registers a named component (copied). ctx is borrowed and must outlive
 * the registry. Errors: WEFT_EEXIST (name taken), WEFT_EINVAL, WEFT_ENOMEM.
 * Any thread. */
int weft_health_register(struct weft_health *h, const char *component, weft_health_check_cb cb,
                         void *ctx) WEFT_WARN_UNUSED;
/* Removes a component, waiting for the checks queued or running (of any
 * component) to return, so ctx may be freed once it returns. WEFT_ENOTFOUND
 * if unknown. Any thread but a health check's own. */
int weft_health_unregister(struct weft_health *h, const char *component);

/* One failed check. */
struct weft_health_failure {
    char *component;
    char *reason;
};

/* Runs every checker concurrently and waits for each up to the timeout.
 * On return *failures (array, caller frees with weft_health_failures_free)
 * lists the failed components sorted by name; *n_failures is 0 when all
 * pass. Errors: WEFT_ENOMEM. Any thread except a health worker. */
int weft_health_run(struct weft_health *h, struct weft_health_failure **failures,
                    size_t *n_failures) WEFT_WARN_UNUSED;
void weft_health_failures_free(struct weft_health_failure *failures, size_t n);

/* Appends Fabric's /healthz JSON for a result to out:
 *   {"status":"OK","time":"<RFC3339Nano UTC>"}
 *   {"status":"Service Unavailable","time":"...","failed_checks":[{"component":..,"reason":..}]}
 * and returns the HTTP status to send (200 or 503), or a negative error. */
int weft_health_json(const struct weft_health_failure *failures, size_t n_failures,
                     uint64_t wall_ns, struct weft_buf *out) WEFT_WARN_UNUSED;

/* ======================================================================== */
/* Operations system                                                         */
/* ======================================================================== */

struct weft_ops;

/* Mirrors core.yaml operations.* / metrics.provider and orderer.yaml
 * Operations.* / Metrics.Provider. */
struct weft_ops_opts {
    const char *listen_address;          /* operations.listenAddress */
    struct weft_http_tls_opts tls;       /* operations.tls.* */
    const char *metrics_provider;        /* "prometheus", "disabled" (or NULL/"");
                                          * "statsd" is WEFT_EUNSUPPORTED, other
                                          * values WEFT_ECONFIG */
    const char *version;                 /* /version "Version" and fabric_version{version} */
    const char *commit_sha;              /* /version "CommitSHA" */
    uint64_t health_timeout_ns;          /* per-check timeout, 0 = 30 s */
    unsigned workers;                    /* HTTP workers for /healthz, 0 = 2 */
    struct weft_metrics *metrics;        /* registry to expose; NULL = own one */
};

/* Builds the operations system: HTTP(S) listener bound (port known), routes
 * /healthz (GET, open), /version (GET, open), /logspec (GET/PUT; needs a
 * verified client certificate when TLS is on) and, with the prometheus
 * provider, /metrics (GET; client certificate when TLS is on). Registers
 * the gauge fabric_version{version=...} = 1 as Fabric does.
 * Not serving until weft_ops_start(). NULL on error with err set. */
struct weft_ops *weft_ops_new(const struct weft_ops_opts *opts, struct weft_err *err);
int weft_ops_start(struct weft_ops *ops, struct weft_err *err) WEFT_WARN_UNUSED;
/* Stops serving and frees everything (the registry only if owned). NULL-safe. */
void weft_ops_free(struct weft_ops *ops);
int weft_ops_port(const struct weft_ops *ops);
/* The registry metrics are exposed from; lives as long as ops (or longer
 * when borrowed). Components create their families here. */
struct weft_metrics *weft_ops_metrics(struct weft_ops *ops);
/* The health registry behind /healthz. */
struct weft_health *weft_ops_health(struct weft_ops *ops);
/* The HTTP server, to add routes before weft_ops_start(). */
struct weft_http_server *weft_ops_http(struct weft_ops *ops);

/* Formats wall-clock ns as Go's time.Time JSON does in UTC (RFC 3339 with
 * up to nanoseconds, trailing zeros trimmed): "2024-05-01T10:20:30.5Z".
 * buf must hold 40 bytes. Returns buf. */
char *weft_ops_format_time(uint64_t wall_ns, char *buf, size_t len);

#endif
