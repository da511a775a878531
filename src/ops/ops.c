/*
 * The operations system: Fabric's operations service for a weft daemon.
 *
 * It owns an HTTP(S) server on operations.listenAddress and wires four
 * endpoints with Fabric's JSON shapes and status codes (checked against
 * core/operations/system.go, version.go, common/flogging/httpadmin/spec.go
 * and fabric-lib-go healthz):
 *
 *   /healthz  GET  200 {"status":"OK","time":...} or 503 with failed_checks;
 *                  other methods 405 with an empty body. Never needs a
 *                  client certificate. Runs on a worker (checks may block).
 *   /version  GET  200 {"CommitSHA":...,"Version":...}; other methods 400
 *                  {"Error":"invalid request method: X"}. Open.
 *   /logspec  GET  200 {"spec":"..."}; PUT {"spec":"..."} 204, or 400
 *                  {"error":"..."} (bad JSON or bad spec, spec unchanged);
 *                  other methods 400. With TLS on, 401 without a verified
 *                  client certificate.
 *   /metrics  GET  Prometheus text 0.0.4, only with metrics.provider
 *                  "prometheus"; client certificate rule as /logspec.
 *
 * The gauge fabric_version{version=...} is set to 1, as Fabric does, so
 * dashboards built for Fabric find it.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "weft/log.h"
#include "weft/ops.h"

struct weft_ops {
    struct weft_http_server *http;
    struct weft_metrics *metrics;
    bool own_metrics;
    struct weft_health *health;
    char *version;
    char *commit_sha;
};

#define JSON_CT "application/json"

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return weft_buf_append(data, buffer, size) == 0 ? 0 : -1;
}

/* Writes a one-member JSON object {"key":"value"} + optional newline. */
static int reply_json_kv(struct weft_http_response *resp, int status, const char *key,
                         const char *value, bool newline)
{
    json_t *o = json_object();
    if (o == NULL) {
        return WEFT_ENOMEM;
    }
    json_t *s = json_string(value);
    if (s == NULL) {
        s = json_string("(invalid text)");
    }
    int rc = WEFT_ENOMEM;
    if (json_object_set_new(o, key, s) == 0) {
        weft_http_response_status(resp, status);
        rc = weft_http_response_content_type(resp, JSON_CT);
        if (rc == 0 && json_dump_callback(o, dump_cb, weft_http_response_body(resp),
                                          JSON_COMPACT) != 0) {
            rc = WEFT_ENOMEM;
        }
        if (rc == 0 && newline) {
            rc = weft_buf_append(weft_http_response_body(resp), "\n", 1);
        }
    }
    json_decref(o);
    return rc;
}

/* ---- /healthz ------------------------------------------------------------ */

static int healthz_handler(void *ctx, const struct weft_http_request *req,
                           struct weft_http_response *resp)
{
    struct weft_ops *ops = ctx;
    if (strcmp(weft_http_request_method(req), "GET") != 0) {
        weft_http_response_status(resp, 405);
        return 0;
    }
    struct weft_health_failure *fails = NULL;
    size_t nfails = 0;
    int rc = weft_health_run(ops->health, &fails, &nfails);
    if (rc != 0) {
        return rc;
    }
    rc = weft_health_json(fails, nfails, weft_clock_wall_ns(), weft_http_response_body(resp));
    weft_health_failures_free(fails, nfails);
    if (rc < 0) {
        return rc;
    }
    weft_http_response_status(resp, rc);
    return weft_http_response_content_type(resp, JSON_CT);
}

/* ---- /version ------------------------------------------------------------ */

static int version_handler(void *ctx, const struct weft_http_request *req,
                           struct weft_http_response *resp)
{
    struct weft_ops *ops = ctx;
    const char *m = weft_http_request_method(req);
    if (strcmp(m, "GET") != 0) {
        char msg[64];
        snprintf(msg, sizeof(msg), "invalid request method: %s", m);
        return reply_json_kv(resp, 400, "Error", msg, false);
    }
    json_t *o = json_object();
    if (o == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = 0;
    /* Fabric marks both fields omitempty. */
    if (ops->commit_sha[0] != '\0') {
        rc |= json_object_set_new(o, "CommitSHA", json_string(ops->commit_sha));
    }
    if (ops->version[0] != '\0') {
        rc |= json_object_set_new(o, "Version", json_string(ops->version));
    }
    if (rc == 0) {
        rc = weft_http_response_content_type(resp, JSON_CT);
    } else {
        rc = WEFT_ENOMEM;
    }
    if (rc == 0 && json_dump_callback(o, dump_cb, weft_http_response_body(resp),
                                      JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        rc = WEFT_ENOMEM;
    }
    json_decref(o);
    return rc;
}

/* ---- /logspec ------------------------------------------------------------ */

static int logspec_handler(void *ctx, const struct weft_http_request *req,
                           struct weft_http_response *resp)
{
    (void)ctx;
    const char *m = weft_http_request_method(req);
    if (strcmp(m, "GET") == 0) {
        char *spec = weft_log_spec_get();
        if (spec == NULL) {
            return WEFT_ENOMEM;
        }
        int rc = reply_json_kv(resp, 200, "spec", spec, true);
        weft_free(spec);
        return rc;
    }
    if (strcmp(m, "PUT") != 0) {
        char msg[64];
        snprintf(msg, sizeof(msg), "invalid request method: %s", m);
        return reply_json_kv(resp, 400, "error", msg, true);
    }
    size_t len;
    const uint8_t *body = weft_http_request_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, len, JSON_DISABLE_EOF_CHECK, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return reply_json_kv(resp, 400, "error",
                             root == NULL ? jerr.text : "request body must be a JSON object",
                             true);
    }
    json_t *js = json_object_get(root, "spec");
    if (js != NULL && !json_is_string(js) && !json_is_null(js)) {
        json_decref(root);
        return reply_json_kv(resp, 400, "error", "spec must be a string", true);
    }
    const char *spec = json_is_string(js) ? json_string_value(js) : "";
    struct weft_err err;
    weft_err_clear(&err);
    int rc;
    if (weft_log_spec_set(spec, &err) != 0) {
        rc = reply_json_kv(resp, 400, "error", err.msg, true);
    } else {
        weft_http_response_status(resp, 204);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

/* ---- /metrics ------------------------------------------------------------ */

static int metrics_handler(void *ctx, const struct weft_http_request *req,
                           struct weft_http_response *resp)
{
    (void)req;
    struct weft_ops *ops = ctx;
    int rc = weft_metrics_write(ops->metrics, weft_http_response_body(resp));
    if (rc == 0) {
        rc = weft_http_response_content_type(resp, WEFT_METRICS_CONTENT_TYPE);
    }
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

struct weft_ops *weft_ops_new(const struct weft_ops_opts *opts, struct weft_err *err)
{
    if (opts == NULL) {
        weft_err_set(err, WEFT_EINVAL, "operations: no options");
        return NULL;
    }
    const char *prov = opts->metrics_provider ? opts->metrics_provider : "";
    bool prometheus = false;
    if (strcmp(prov, "prometheus") == 0) {
        prometheus = true;
    } else if (strcmp(prov, "statsd") == 0) {
        weft_err_set(err, WEFT_EUNSUPPORTED,
                     "metrics.provider 'statsd' is not supported; use prometheus or disabled");
        return NULL;
    } else if (prov[0] != '\0' && strcmp(prov, "disabled") != 0) {
        weft_err_set(err, WEFT_ECONFIG, "unknown metrics.provider '%s'", prov);
        return NULL;
    }
    struct weft_ops *ops = weft_calloc(1, sizeof(*ops));
    if (ops == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "operations: out of memory");
        return NULL;
    }
    ops->version = weft_strdup(opts->version ? opts->version : "");
    ops->commit_sha = weft_strdup(opts->commit_sha ? opts->commit_sha : "");
    ops->metrics = opts->metrics;
    if (ops->metrics == NULL) {
        ops->metrics = weft_metrics_new();
        ops->own_metrics = true;
    }
    ops->health = weft_health_new(opts->health_timeout_ns, 0);
    if (ops->version == NULL || ops->commit_sha == NULL || ops->metrics == NULL ||
        ops->health == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "operations: out of memory");
        goto fail;
    }

    struct weft_metrics_opts vo = {
        .name = "fabric_version",
        .help = "The active version of Fabric.",
        .label_names = (const char *const[]){"version"},
        .n_labels = 1,
    };
    struct weft_metrics_gauge_vec *vg = weft_metrics_gauge_vec_new(ops->metrics, &vo, err);
    if (vg == NULL) {
        goto fail;
    }
    struct weft_metrics_gauge *g = weft_metrics_gauge_with(vg, (const char *const[]){ops->version});
    if (g == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "operations: out of memory");
        goto fail;
    }
    weft_metrics_gauge_set(g, 1);

    struct weft_http_server_opts ho = {
        .listen_address = opts->listen_address,
        .tls = opts->tls,
        .workers = opts->workers,
    };
    ops->http = weft_http_server_new(&ho, err);
    if (ops->http == NULL) {
        weft_err_prefix(err, "operations");
        goto fail;
    }
    int rc = weft_http_route(ops->http, NULL, "/healthz", WEFT_HTTP_ROUTE_BLOCKING,
                             healthz_handler, ops);
    if (rc == 0) {
        rc = weft_http_route(ops->http, NULL, "/version", 0, version_handler, ops);
    }
    if (rc == 0) {
        rc = weft_http_route(ops->http, NULL, "/logspec", WEFT_HTTP_ROUTE_REQUIRE_CERT,
                             logspec_handler, ops);
    }
    if (rc == 0 && prometheus) {
        rc = weft_http_route(ops->http, "GET", "/metrics", WEFT_HTTP_ROUTE_REQUIRE_CERT,
                             metrics_handler, ops);
    }
    if (rc != 0) {
        weft_err_set(err, rc, "operations: registering routes: %s", weft_strerror(rc));
        goto fail;
    }
    return ops;
fail:
    weft_ops_free(ops);
    return NULL;
}

int weft_ops_start(struct weft_ops *ops, struct weft_err *err)
{
    if (ops == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "operations: no system");
    }
    return weft_http_server_start(ops->http, err);
}

void weft_ops_free(struct weft_ops *ops)
{
    if (ops == NULL) {
        return;
    }
    weft_http_server_free(ops->http); /* no handler runs after this */
    weft_health_free(ops->health);
    if (ops->own_metrics) {
        weft_metrics_free(ops->metrics);
    }
    weft_free(ops->version);
    weft_free(ops->commit_sha);
    weft_free(ops);
}

int weft_ops_port(const struct weft_ops *ops)
{
    return weft_http_server_port(ops->http);
}

struct weft_metrics *weft_ops_metrics(struct weft_ops *ops)
{
    return ops->metrics;
}

struct weft_health *weft_ops_health(struct weft_ops *ops)
{
    return ops->health;
}

struct weft_http_server *weft_ops_http(struct weft_ops *ops)
{
    return ops->http;
}
