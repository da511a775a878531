/*
 * HTTP/1.1 server on libevent's evhttp, with optional TLS and mutual TLS
 * through OpenSSL bufferevents. Used by the operations system and, later,
 * by the CA REST API, the registrar and the channel-participation API.
 *
 * Threads. Each server owns one event base driven by one loop thread; all
 * socket I/O, TLS handshakes and HTTP parsing happen there, and libevent
 * objects are touched only from it (except event_active() and
 * event_base_loopbreak(), which libevent makes thread-safe once
 * evthread_use_pthreads() has run).
 *
 * Dispatch. For each request the loop thread copies what a handler may read
 * (method, path, query, headers, body, client certificate) into a job, so a
 * handler never touches libevent. Non-blocking routes run the handler right
 * there and reply. Blocking routes hand the job to a weft_pool worker; when
 * the handler returns, the worker appends the job to the completion list
 * (srv->lock) and activates srv->done_ev, whose callback on the loop thread
 * writes the reply. libevent keeps an evhttp_request alive until it is
 * answered, even if the client disconnects meanwhile (it detaches the
 * request from the dead connection and frees it inside evhttp_send_reply),
 * so a late reply is always safe.
 *
 * Shutdown. weft_http_server_free() breaks the loop and joins its thread,
 * waits until no handler is running (srv->running, srv->idle), then frees
 * the jobs nobody answered, the evhttp (which closes every connection), the
 * SSL context and the base.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "weft/ops.h"

struct kv {
    char *name;
    char *value;
};

struct route {
    char *method; /* NULL = any */
    char *path;
    size_t plen;
    unsigned flags;
    weft_http_handler_cb cb;
    void *ctx;
};

struct weft_http_request {
    const char *method;
    char *path;
    char *query;
    uint8_t *body;
    size_t body_len;
    struct kv *headers;
    size_t nheaders;
    struct kv *params;
    size_t nparams;
    bool client_verified;
    char *client_subject;
    uint8_t *client_der;
    size_t client_der_len;
    char peer[80];
};

struct weft_http_response {
    int status;
    char *content_type;
    struct kv *headers;
    size_t nheaders;
    struct weft_buf body;
};

struct job {
    struct weft_http_server *srv;
    struct evhttp_request *ereq; /* loop thread only */
    const struct route *route;
    struct weft_http_request req;
    struct weft_http_response resp;
    int rc;
    struct job *done_next;           /* completion list, guarded by srv->lock */
    struct job *pend_prev, *pend_next; /* jobs handed to workers; loop thread only */
};

struct weft_http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    SSL_CTX *ssl_ctx;
    int port;
    size_t max_body;
    struct route *routes;
    size_t nroutes;
    struct weft_pool *pool;
    bool own_pool;
    unsigned workers;
    pthread_t thread;
    bool started;
    struct event *done_ev;
    struct event *stop_ev; /* activated by free(); breaks the loop from inside */
    struct job *pending; /* loop thread only (and the freeing thread after join) */

    pthread_mutex_t lock; /* guards done_head, done_tail, running */
    pthread_cond_t idle;  /* broadcast when running drops to 0 */
    struct job *done_head;
    struct job *done_tail;
    size_t running;
};

#define DEFAULT_MAX_BODY (1u << 20)
#define MAX_HEADERS_SIZE (64u << 10)
#define JSON_CT "application/json"

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

static void evthread_init(void)
{
    evthread_rc = evthread_use_pthreads();
}

/* ---- small helpers ------------------------------------------------------- */

static int ssl_err(struct weft_err *err, int code, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
    }
    ERR_clear_error();
    return weft_err_set(err, code, "%s%s%s: %s", what, path ? " " : "", path ? path : "",
                        buf[0] ? buf : "unknown error");
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : "Error";
    }
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "UNKNOWN";
    }
}

static void kv_free(struct kv *a, size_t n)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        weft_free(a[i].name);
        weft_free(a[i].value);
    }
    weft_free(a);
}

static int kv_push(struct kv **a, size_t *n, const char *name, const char *value)
{
    struct kv *na = weft_realloc(*a, (*n + 1) * sizeof(*na));
    if (na == NULL) {
        return WEFT_ENOMEM;
    }
    *a = na;
    na[*n].name = weft_strdup(name);
    na[*n].value = weft_strdup(value ? value : "");
    (*n)++;
    return (na[*n - 1].name && na[*n - 1].value) ? 0 : WEFT_ENOMEM;
}

/* ---- request / response accessors ---------------------------------------- */

const char *weft_http_request_method(const struct weft_http_request *req)
{
    return req->method;
}

const char *weft_http_request_path(const struct weft_http_request *req)
{
    return req->path;
}

const char *weft_http_request_query(const struct weft_http_request *req)
{
    return req->query;
}

const char *weft_http_request_query_param(const struct weft_http_request *req, const char *key)
{
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].name, key) == 0) {
            return req->params[i].value;
        }
    }
    return NULL;
}

const uint8_t *weft_http_request_body(const struct weft_http_request *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body_len;
    }
    return req->body;
}

const char *weft_http_request_header(const struct weft_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

bool weft_http_request_client_verified(const struct weft_http_request *req)
{
    return req->client_verified;
}

const char *weft_http_request_client_subject(const struct weft_http_request *req)
{
    return req->client_subject;
}

const uint8_t *weft_http_request_client_cert_der(const struct weft_http_request *req,
                                                 size_t *len)
{
    if (len != NULL) {
        *len = req->client_der_len;
    }
    return req->client_der;
}

const char *weft_http_request_peer(const struct weft_http_request *req)
{
    return req->peer;
}

void weft_http_response_status(struct weft_http_response *resp, int status)
{
    resp->status = status;
}

int weft_http_response_content_type(struct weft_http_response *resp, const char *content_type)
{
    char *ct = weft_strdup(content_type);
    if (ct == NULL) {
        return WEFT_ENOMEM;
    }
    weft_free(resp->content_type);
    resp->content_type = ct;
    return 0;
}

int weft_http_response_header(struct weft_http_response *resp, const char *name,
                              const char *value)
{
    if (name == NULL || value == NULL || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) {
        return WEFT_EINVAL;
    }
    return kv_push(&resp->headers, &resp->nheaders, name, value);
}

struct weft_buf *weft_http_response_body(struct weft_http_response *resp)
{
    return &resp->body;
}

int weft_http_response_set(struct weft_http_response *resp, int status,
                           const char *content_type, const void *body, size_t len)
{
    resp->status = status;
    int rc = 0;
    if (content_type != NULL) {
        rc = weft_http_response_content_type(resp, content_type);
    }
    weft_buf_reset(&resp->body);
    if (rc == 0 && len > 0) {
        rc = weft_buf_append(&resp->body, body, len);
    }
    return rc;
}

/* ---- jobs ---------------------------------------------------------------- */

static void job_free(struct job *j)
{
    if (j == NULL) {
        return;
    }
    weft_free(j->req.path);
    weft_free(j->req.query);
    weft_free(j->req.body);
    kv_free(j->req.headers, j->req.nheaders);
    kv_free(j->req.params, j->req.nparams);
    weft_free(j->req.client_subject);
    weft_free(j->req.client_der);
    weft_free(j->resp.content_type);
    kv_free(j->resp.headers, j->resp.nheaders);
    weft_buf_close(&j->resp.body);
    weft_free(j);
}

/* Reads the client certificate of a TLS connection, if it verified. */
static int job_client_cert(struct job *j, struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    if (ssl == NULL) {
        return 0;
    }
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK) {
        return 0;
    }
    j->req.client_verified = true;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = 0;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        j->req.client_subject = weft_strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
        if (j->req.client_subject == NULL) {
            rc = WEFT_ENOMEM;
        }
    }
    BIO_free(bio);
    int dlen = i2d_X509(cert, NULL);
    if (rc == 0 && dlen > 0) {
        j->req.client_der = weft_malloc((size_t)dlen);
        if (j->req.client_der == NULL) {
            return WEFT_ENOMEM;
        }
        unsigned char *p = j->req.client_der;
        j->req.client_der_len = (size_t)i2d_X509(cert, &p);
    }
    return rc;
}

/* Fills a job from an evhttp request. Loop thread. */
static int job_fill(struct job *j, struct evhttp_request *ereq, const char *path,
                    const char *query)
{
    j->req.method = method_name(evhttp_request_get_command(ereq));
    j->req.path = weft_strdup(path);
    j->req.query = weft_strdup(query ? query : "");
    if (j->req.path == NULL || j->req.query == NULL) {
        return WEFT_ENOMEM;
    }
    if (query != NULL && query[0] != '\0') {
        struct evkeyvalq params;
        TAILQ_INIT(&params);
        if (evhttp_parse_query_str(query, &params) == 0) {
            struct evkeyval *kv;
            int rc = 0;
            TAILQ_FOREACH(kv, &params, next)
            {
                if (rc == 0) {
                    rc = kv_push(&j->req.params, &j->req.nparams, kv->key, kv->value);
                }
            }
            evhttp_clear_headers(&params);
            if (rc != 0) {
                return rc;
            }
        }
    }
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(ereq);
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, hdrs, next)
    {
        if (kv_push(&j->req.headers, &j->req.nheaders, kv->key, kv->value) != 0) {
            return WEFT_ENOMEM;
        }
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(ereq);
    size_t blen = evbuffer_get_length(in);
    j->req.body = weft_malloc(blen + 1);
    if (j->req.body == NULL) {
        return WEFT_ENOMEM;
    }
    if (blen > 0 && evbuffer_remove(in, j->req.body, blen) != (int)blen) {
        return WEFT_EIO;
    }
    j->req.body[blen] = '\0';
    j->req.body_len = blen;

    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    if (evcon != NULL) {
        char *addr = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evcon, &addr, &port);
        snprintf(j->req.peer, sizeof(j->req.peer), "%s:%u", addr ? addr : "?", (unsigned)port);
        return job_client_cert(j, evcon);
    }
    return 0;
}

/* ---- replies (loop thread) ----------------------------------------------- */

static void send_simple(struct evhttp_request *ereq, int status, const char *ctype,
                        const char *body)
{
    if (ctype != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(ereq), "Content-Type", ctype);
    }
    if (body != NULL && body[0] != '\0') {
        evbuffer_add(evhttp_request_get_output_buffer(ereq), body, strlen(body));
    }
    evhttp_send_reply(ereq, status, status_text(status), NULL);
}

static void job_reply(struct job *j)
{
    struct evhttp_request *ereq = j->ereq;
    j->ereq = NULL;
    if (j->rc < 0) {
        send_simple(ereq, 500, JSON_CT, "{\"error\":\"internal server error\"}");
        return;
    }
    struct evkeyvalq *oh = evhttp_request_get_output_headers(ereq);
    if (j->resp.content_type != NULL) {
        evhttp_add_header(oh, "Content-Type", j->resp.content_type);
    }
    for (size_t i = 0; i < j->resp.nheaders; i++) {
        evhttp_add_header(oh, j->resp.headers[i].name, j->resp.headers[i].value);
    }
    if (j->resp.body.len > 0) {
        evbuffer_add(evhttp_request_get_output_buffer(ereq), j->resp.body.data,
                     j->resp.body.len);
    }
    evhttp_send_reply(ereq, j->resp.status, status_text(j->resp.status), NULL);
}

static void pending_unlink(struct weft_http_server *srv, struct job *j)
{
    if (j->pend_prev != NULL) {
        j->pend_prev->pend_next = j->pend_next;
    } else {
        srv->pending = j->pend_next;
    }
    if (j->pend_next != NULL) {
        j->pend_next->pend_prev = j->pend_prev;
    }
    j->pend_prev = j->pend_next = NULL;
}

/* Completion callback on the loop thread: answer every finished job. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct weft_http_server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    struct job *list = srv->done_head;
    srv->done_head = srv->done_tail = NULL;
    pthread_mutex_unlock(&srv->lock);
    while (list != NULL) {
        struct job *j = list;
        list = j->done_next;
        pending_unlink(srv, j);
        job_reply(j);
        job_free(j);
    }
}

/* Worker thread: run a blocking handler, then queue the reply. */
static void work_cb(void *arg)
{
    struct job *j = arg;
    struct weft_http_server *srv = j->srv;
    j->rc = j->route->cb(j->route->ctx, &j->req, &j->resp);
    pthread_mutex_lock(&srv->lock);
    j->done_next = NULL;
    if (srv->done_tail != NULL) {
        srv->done_tail->done_next = j;
    } else {
        srv->done_head = j;
    }
    srv->done_tail = j;
    pthread_mutex_unlock(&srv->lock);
    /* j may be freed by the loop thread from here on. */
    event_active(srv->done_ev, EV_READ, 0);
    pthread_mutex_lock(&srv->lock);
    if (--srv->running == 0) {
        pthread_cond_broadcast(&srv->idle);
    }
    pthread_mutex_unlock(&srv->lock);
}

/* ---- routing (loop thread) ----------------------------------------------- */

static bool path_matches(const struct route *r, const char *path)
{
    if (r->flags & WEFT_HTTP_ROUTE_PREFIX) {
        return strncmp(path, r->path, r->plen) == 0;
    }
    return strcmp(path, r->path) == 0;
}

static void gen_cb(struct evhttp_request *ereq, void *arg)
{
    struct weft_http_server *srv = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ereq);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (path == NULL || path[0] == '\0') {
        path = "/";
    }
    const char *method = method_name(evhttp_request_get_command(ereq));
    if (srv->ssl_ctx != NULL) {
        /* bev_cb() could not make a TLS bufferevent (out of memory) and
         * libevent fell back to a plain socket: never serve plaintext on a
         * TLS listener. */
        struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
        struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
        if (bev == NULL || bufferevent_openssl_get_ssl(bev) == NULL) {
            evhttp_add_header(evhttp_request_get_output_headers(ereq), "Connection", "close");
            send_simple(ereq, 400, "text/plain; charset=utf-8", "TLS required\n");
            return;
        }
    }

    const struct route *hit = NULL;
    bool path_hit = false;
    char allow[128] = "";
    for (size_t i = 0; i < srv->nroutes && hit == NULL; i++) {
        const struct route *r = &srv->routes[i];
        if (!path_matches(r, path)) {
            continue;
        }
        path_hit = true;
        if (r->method == NULL || strcmp(r->method, method) == 0) {
            hit = r;
        } else {
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof(allow) - used, "%s%s", used > 0 ? ", " : "",
                     r->method);
        }
    }
    if (hit == NULL) {
        if (path_hit) {
            evhttp_add_header(evhttp_request_get_output_headers(ereq), "Allow", allow);
            send_simple(ereq, 405, "text/plain; charset=utf-8", "Method Not Allowed\n");
        } else {
            send_simple(ereq, 404, "text/plain; charset=utf-8", "404 page not found\n");
        }
        return;
    }

    struct job *j = weft_calloc(1, sizeof(*j));
    if (j == NULL) {
        send_simple(ereq, 503, JSON_CT, "{\"error\":\"out of memory\"}");
        return;
    }
    j->srv = srv;
    j->route = hit;
    j->resp.status = 200;
    weft_buf_init(&j->resp.body, SIZE_MAX / 2);
    if (job_fill(j, ereq, path, query) != 0) {
        job_free(j);
        send_simple(ereq, 503, JSON_CT, "{\"error\":\"out of memory\"}");
        return;
    }
    if ((hit->flags & WEFT_HTTP_ROUTE_REQUIRE_CERT) && srv->ssl_ctx != NULL &&
        !j->req.client_verified) {
        job_free(j);
        send_simple(ereq, 401, NULL, NULL); /* as Fabric's RequireCert middleware */
        return;
    }
    j->ereq = ereq;
    if (!(hit->flags & WEFT_HTTP_ROUTE_BLOCKING)) {
        j->rc = hit->cb(hit->ctx, &j->req, &j->resp);
        job_reply(j);
        job_free(j);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->running++;
    pthread_mutex_unlock(&srv->lock);
    j->pend_next = srv->pending;
    if (srv->pending != NULL) {
        srv->pending->pend_prev = j;
    }
    srv->pending = j;
    if (weft_pool_submit(srv->pool, work_cb, j) != 0) {
        pending_unlink(srv, j);
        pthread_mutex_lock(&srv->lock);
        if (--srv->running == 0) {
            pthread_cond_broadcast(&srv->idle);
        }
        pthread_mutex_unlock(&srv->lock);
        j->ereq = NULL;
        job_free(j);
        send_simple(ereq, 503, JSON_CT, "{\"error\":\"server busy\"}");
    }
}

/* ---- TLS ----------------------------------------------------------------- */

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    struct weft_http_server *srv = arg;
    SSL *ssl = SSL_new(srv->ssl_ctx);
    if (ssl == NULL) {
        /* libevent then falls back to a plain socket; gen_cb() refuses
         * every request on such a connection. */
        return NULL;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static int tls_setup(struct weft_http_server *srv, const struct weft_http_tls_opts *t,
                     struct weft_err *err)
{
    if (t->cert_file == NULL || t->key_file == NULL) {
        return weft_err_set(err, WEFT_ECONFIG, "TLS enabled but cert or key file not set");
    }
    if (t->client_auth_required && t->n_client_ca_files == 0) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "TLS client authentication required but no client root CAs set");
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return ssl_err(err, WEFT_ENOMEM, "SSL_CTX_new", NULL);
    }
    srv->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        return ssl_err(err, WEFT_ECONFIG, "loading TLS certificate", t->cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
        return ssl_err(err, WEFT_ECONFIG, "loading TLS key", t->key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return ssl_err(err, WEFT_ECONFIG, "TLS key does not match certificate", t->key_file);
    }
    if (t->n_client_ca_files > 0) {
        STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
        if (names == NULL) {
            return ssl_err(err, WEFT_ENOMEM, "client CA list", NULL);
        }
        for (size_t i = 0; i < t->n_client_ca_files; i++) {
            const char *f = t->client_ca_files[i];
            if (SSL_CTX_load_verify_locations(ctx, f, NULL) != 1 ||
                SSL_add_file_cert_subjects_to_stack(names, f) != 1) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                return ssl_err(err, WEFT_ECONFIG, "loading client root CA", f);
            }
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        /* Ask for a certificate; verify any that is sent (a bad one fails the
         * handshake); demand one only when client auth is required. */
        SSL_CTX_set_verify(ctx,
                           SSL_VERIFY_PEER |
                               (t->client_auth_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
        static const unsigned char sid[] = "weft-http";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    }
    return 0;
}

/* event_base_loopbreak() from another thread is lost if it lands before the
 * loop has started (the loop clears the flag on entry); an activated event
 * is not, so free() activates this one and the loop breaks itself. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct weft_http_server *srv = arg;
    event_base_loopbreak(srv->base);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int parse_listen(const char *addr, char *host, size_t hostlen, uint16_t *port)
{
    if (addr == NULL) {
        return WEFT_EINVAL;
    }
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        return WEFT_EINVAL;
    }
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl) != NULL) {
        return WEFT_EINVAL; /* bare IPv6 needs brackets */
    }
    if (hl == 0) {
        h = "0.0.0.0";
        hl = strlen(h);
    }
    if (hl >= hostlen) {
        return WEFT_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    uint64_t p;
    if (weft_parse_u64(colon + 1, &p) != 0 || p > 65535) {
        return WEFT_EINVAL;
    }
    *port = (uint16_t)p;
    return 0;
}

struct weft_http_server *weft_http_server_new(const struct weft_http_server_opts *opts,
                                              struct weft_err *err)
{
    char host[256];
    uint16_t port = 0;
    if (opts == NULL || parse_listen(opts->listen_address, host, sizeof(host), &port) != 0) {
        weft_err_set(err, WEFT_EINVAL, "invalid listen address '%s'",
                     opts && opts->listen_address ? opts->listen_address : "(null)");
        return NULL;
    }
    pthread_once(&evthread_once, evthread_init);
    if (evthread_rc != 0) {
        weft_err_set(err, WEFT_ENOMEM, "libevent threading could not be enabled");
        return NULL;
    }
    struct weft_http_server *srv = weft_calloc(1, sizeof(*srv));
    if (srv == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "http server: out of memory");
        return NULL;
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    srv->max_body = opts->max_body_size ? opts->max_body_size : DEFAULT_MAX_BODY;
    srv->pool = opts->pool;
    srv->workers = opts->workers ? opts->workers : 2;
    if (opts->tls.enabled && tls_setup(srv, &opts->tls, err) != 0) {
        goto fail;
    }
    srv->base = event_base_new();
    if (srv->base == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "event_base_new failed");
        goto fail;
    }
    srv->done_ev = event_new(srv->base, -1, 0, done_cb, srv);
    srv->stop_ev = event_new(srv->base, -1, 0, stop_cb, srv);
    srv->http = evhttp_new(srv->base);
    if (srv->done_ev == NULL || srv->stop_ev == NULL || srv->http == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "evhttp_new failed");
        goto fail;
    }
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)srv->max_body);
    evhttp_set_max_headers_size(srv->http, MAX_HEADERS_SIZE);
    evhttp_set_timeout(srv->http, opts->timeout_s > 0 ? opts->timeout_s : 10);
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(srv->http, gen_cb, srv);
    if (srv->ssl_ctx != NULL) {
        evhttp_set_bevcb(srv->http, bev_cb, srv);
    }
    srv->bound = evhttp_bind_socket_with_handle(srv->http, host, port);
    if (srv->bound == NULL) {
        weft_err_set(err, WEFT_EIO, "cannot listen on %s", opts->listen_address);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(srv->bound), (struct sockaddr *)&ss, &sl) != 0) {
        weft_err_set(err, WEFT_EIO, "getsockname failed");
        goto fail;
    }
    srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return srv;
fail:
    weft_http_server_free(srv);
    return NULL;
}

int weft_http_route(struct weft_http_server *srv, const char *method, const char *path,
                    unsigned flags, weft_http_handler_cb handler, void *ctx)
{
    if (srv == NULL || path == NULL || path[0] != '/' || handler == NULL) {
        return WEFT_EINVAL;
    }
    if (srv->started) {
        return WEFT_ESTATE;
    }
    if ((flags & WEFT_HTTP_ROUTE_BLOCKING) && srv->pool == NULL) {
        srv->pool = weft_pool_new(srv->workers);
        if (srv->pool == NULL) {
            return WEFT_ENOMEM;
        }
        srv->own_pool = true;
    }
    struct route *nr = weft_realloc(srv->routes, (srv->nroutes + 1) * sizeof(*nr));
    if (nr == NULL) {
        return WEFT_ENOMEM;
    }
    srv->routes = nr;
    struct route *r = &nr[srv->nroutes];
    memset(r, 0, sizeof(*r));
    r->path = weft_strdup(path);
    r->method = (method && strcmp(method, "*") != 0) ? weft_strdup(method) : NULL;
    if (r->path == NULL || (method && strcmp(method, "*") != 0 && r->method == NULL)) {
        weft_free(r->path);
        weft_free(r->method);
        return WEFT_ENOMEM;
    }
    r->plen = strlen(path);
    r->flags = flags;
    r->cb = handler;
    r->ctx = ctx;
    srv->nroutes++;
    return 0;
}

static void *loop_main(void *arg)
{
    weft_thread_name("ops-http");
    struct weft_http_server *srv = arg;
    event_base_loop(srv->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int weft_http_server_start(struct weft_http_server *srv, struct weft_err *err)
{
    if (srv == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "no server");
    }
    if (srv->started) {
        return weft_err_set(err, WEFT_ESTATE, "http server already started");
    }
    int rc = pthread_create(&srv->thread, NULL, loop_main, srv);
    if (rc != 0) {
        return weft_err_set(err, -rc, "cannot start http loop thread");
    }
    srv->started = true;
    return 0;
}

int weft_http_server_port(const struct weft_http_server *srv)
{
    return srv->port;
}

bool weft_http_server_tls(const struct weft_http_server *srv)
{
    return srv->ssl_ctx != NULL;
}

void weft_http_server_free(struct weft_http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    if (srv->started) {
        event_active(srv->stop_ev, EV_READ, 0);
        pthread_join(srv->thread, NULL);
        srv->started = false;
    }
    pthread_mutex_lock(&srv->lock);
    while (srv->running > 0) {
        pthread_cond_wait(&srv->idle, &srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);
    if (srv->own_pool) {
        weft_pool_free(srv->pool);
    }
    /* Jobs never answered: a request still attached to a connection is
     * freed with it by evhttp_free(); one whose client went away was
     * detached by libevent and is ours to free. */
    while (srv->pending != NULL) {
        struct job *j = srv->pending;
        pending_unlink(srv, j);
        if (j->ereq != NULL && evhttp_request_get_connection(j->ereq) == NULL) {
            evhttp_request_free(j->ereq);
        }
        job_free(j);
    }
    if (srv->http != NULL) {
        evhttp_free(srv->http);
    }
    if (srv->done_ev != NULL) {
        event_free(srv->done_ev);
    }
    if (srv->stop_ev != NULL) {
        event_free(srv->stop_ev);
    }
    if (srv->base != NULL) {
        event_base_free(srv->base);
    }
    SSL_CTX_free(srv->ssl_ctx);
    for (size_t i = 0; i < srv->nroutes; i++) {
        weft_free(srv->routes[i].path);
        weft_free(srv->routes[i].method);
    }
    weft_free(srv->routes);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->lock);
    weft_free(srv);
}
