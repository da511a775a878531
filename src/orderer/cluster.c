/*
 * Consenter-to-consenter traffic: the Raft byte streams of every channel and
 * Broadcast envelopes forwarded from followers to the leader, over gRPC with
 * mutual TLS (include/weft/rpc.h).
 *
 * DESIGN
 * Two methods of a weft-specific service (Fabric's orderer.Cluster carries
 * etcd/raft messages, which libraft does not speak):
 *   /weft.orderer.Cluster/Raft    bidi stream; the first message is
 *                                 "<channel>\n<sender raft id>", every later
 *                                 one a chunk of libraft's byte stream from
 *                                 the sender to the receiver (libraft writes
 *                                 only on connections it opened, so nothing
 *                                 flows back).
 *   /weft.orderer.Cluster/SubmitBatch
 *                                 bidi stream: a follower forwards the
 *                                 envelopes its Broadcast streams admitted
 *                                 through one such stream to the leader,
 *                                 several per message (SubmitBatch in,
 *                                 SubmitAnswer out, in order: "the next n
 *                                 envelopes got this BroadcastResponse";
 *                                 orderer_int.h); the leader answers once
 *                                 the envelopes are committed.
 * Authentication: the caller's TLS client certificate (mutual TLS) must be
 * the client_tls_cert of one of the channel's consenters (compared as
 * certificates, whatever the PEM line breaks); that consenter's position in
 * the config gives its Raft id (1..N, as etcdraft numbers them). The
 * connecting side trusts the server through the TLS roots
 * (General.Cluster.RootCAs, else General.TLS.RootCAs) and the consenter's
 * host name.
 *
 * The service runs on its own listener when General.Cluster.ListenPort is
 * set (mutual TLS always), else on the orderer's main gRPC server, which
 * must then require client certificates (General.TLS.ClientAuthRequired).
 *
 * Threads: handlers run on the gRPC worker pools; outbound streams are
 * driven by consensus.c's connection threads; clients (one per peer
 * address, cached) are shared and thread-safe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "consensus.h"
#include "orderer_int.h"
#include "weft/config.h"
#include "weft/log.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_cluster, "orderer.common.cluster");

#define M_RAFT "/weft.orderer.Cluster/Raft"
#define M_SUBMIT "/weft.orderer.Cluster/SubmitBatch"

struct cluster_client {
    char *address;
    struct weft_rpc_client *client;
};

struct orderer_cluster {
    struct weft_orderer *o;
    struct weft_rpc_server *srv; /* own listener, or NULL */
    bool tls;
    char *cert_pem, *key_pem, *ca_pem;
    char *server_cert_pem;
    int64_t dial_ms, rpc_ms;
    pthread_mutex_t mu;
    struct cluster_client *clients;
    size_t n_clients;
};

/* ---- certificates ----------------------------------------------------------- */

/* The base64 body of the first PEM block, whitespace removed. */
static size_t pem_body(const uint8_t *pem, size_t len, char *out, size_t cap)
{
    const char *begin = "-----BEGIN";
    size_t i = 0;
    while (i + 10 <= len && memcmp(pem + i, begin, 10) != 0) {
        i++;
    }
    if (i + 10 > len) {
        return 0;
    }
    while (i < len && pem[i] != '\n') { /* skip the BEGIN line */
        i++;
    }
    size_t n = 0;
    for (; i < len && pem[i] != '-'; i++) {
        uint8_t c = pem[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '+' || c == '/' || c == '=') {
            if (n + 1 >= cap) {
                return 0;
            }
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

bool orderer__cert_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a == NULL || b == NULL) {
        return false;
    }
    size_t cap = (a_len > b_len ? a_len : b_len) + 1;
    char *x = weft_malloc(cap), *y = weft_malloc(cap);
    bool eq = false;
    if (x != NULL && y != NULL) {
        size_t nx = pem_body(a, a_len, x, cap);
        size_t ny = pem_body(b, b_len, y, cap);
        eq = nx > 0 && nx == ny && memcmp(x, y, nx) == 0;
    }
    weft_free(x);
    weft_free(y);
    return eq;
}

bool orderer__cluster_is_self(const struct orderer_cluster *cl, const uint8_t *client_pem,
                              size_t client_len, const uint8_t *server_pem, size_t server_len)
{
    if (cl == NULL) {
        return false;
    }
    if (cl->cert_pem != NULL && orderer__cert_equal((const uint8_t *)cl->cert_pem,
                                                    strlen(cl->cert_pem), client_pem, client_len)) {
        return true;
    }
    return cl->server_cert_pem != NULL &&
           orderer__cert_equal((const uint8_t *)cl->server_cert_pem, strlen(cl->server_cert_pem),
                               server_pem, server_len);
}

bool orderer__cluster_ready(const struct orderer_cluster *cl)
{
    return cl != NULL && cl->tls && cl->cert_pem != NULL && cl->key_pem != NULL &&
           cl->ca_pem != NULL;
}

/* ---- clients ---------------------------------------------------------------- */

static struct weft_rpc_client *client_for(struct orderer_cluster *cl, const char *address)
{
    pthread_mutex_lock(&cl->mu);
    for (size_t i = 0; i < cl->n_clients; i++) {
        if (strcmp(cl->clients[i].address, address) == 0) {
            struct weft_rpc_client *c = cl->clients[i].client;
            pthread_mutex_unlock(&cl->mu);
            return c;
        }
    }
    struct weft_rpc_client *c = NULL;
    struct cluster_client *nc =
        weft_realloc(cl->clients, (cl->n_clients + 1) * sizeof(*cl->clients));
    if (nc != NULL) {
        cl->clients = nc;
        struct weft_rpc_client_opts co = {
            .tls = cl->tls,
            .ca = {.pem = cl->ca_pem},
            .cert = {.pem = cl->cert_pem},
            .key = {.pem = cl->key_pem},
            .backoff_min_ms = 200,
            .backoff_max_ms = 1000,
            .keepalive = {.time_ms = 10000, .timeout_ms = 5000},
        };
        struct weft_err err = {0};
        char *addr = weft_strdup(address);
        c = addr != NULL ? weft_rpc_client_new(address, &co, &err) : NULL;
        if (c == NULL) {
            WEFT_WARN(lg_cluster, "client for %s: %s", address, err.msg);
            weft_free(addr);
        } else {
            cl->clients[cl->n_clients++] = (struct cluster_client){.address = addr, .client = c};
        }
    }
    pthread_mutex_unlock(&cl->mu);
    return c;
}

/* ---- outbound Raft streams (struct orderer_peer_io) ------------------------- */

static int peer_open(void *ctx, uint64_t id, const char *address, void **stream)
{
    struct orderer_cluster_chan *cc = ctx;
    struct weft_rpc_client *c = client_for(cc->cl, address);
    if (c == NULL) {
        return WEFT_ENOMEM;
    }
    int64_t dial = cc->cl->dial_ms < 1000 ? cc->cl->dial_ms : 1000;
    if (weft_rpc_client_wait_ready(c, dial) != 0) {
        WEFT_DEBUG(lg_cluster, "[%s] consenter %llu (%s) not reachable", cc->channel_id,
                   (unsigned long long)id, address);
        return WEFT_EUNAVAILABLE;
    }
    struct weft_err err = {0};
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, M_RAFT, -1, &err);
    if (s == NULL) {
        WEFT_WARN(lg_cluster, "[%s] stream to consenter %llu (%s): %s", cc->channel_id,
                  (unsigned long long)id, address, err.msg);
        return WEFT_EUNAVAILABLE;
    }
    char hdr[320];
    int n = snprintf(hdr, sizeof(hdr), "%s\n%llu", cc->channel_id, (unsigned long long)cc->self_id);
    if (n < 0 || (size_t)n >= sizeof(hdr) || weft_rpc_stream_send(s, hdr, (size_t)n) != 0) {
        weft_rpc_stream_free(s);
        return WEFT_EUNAVAILABLE;
    }
    WEFT_DEBUG(lg_cluster, "[%s] connected to consenter %llu (%s)", cc->channel_id,
               (unsigned long long)id, address);
    *stream = s;
    return 0;
}

static int peer_send(void *stream, const uint8_t *buf, size_t len)
{
    return weft_rpc_stream_send(stream, buf, len);
}

static void peer_cancel(void *stream)
{
    weft_rpc_stream_cancel(stream);
}

static void peer_close(void *stream)
{
    weft_rpc_stream_free(stream);
}

const struct orderer_peer_io orderer__cluster_peer_io_ops = {
    .open = peer_open,
    .send = peer_send,
    .cancel = peer_cancel,
    .close = peer_close,
};

/* ---- forwarding ------------------------------------------------------------- */

struct weft_rpc_stream *orderer__cluster_open_submit(struct orderer_cluster *cl,
                                                     const char *address,
                                                     char info[ORDERER_INFO_LEN])
{
    struct weft_rpc_client *c = client_for(cl, address);
    if (c == NULL) {
        snprintf(info, ORDERER_INFO_LEN, "out of memory");
        return NULL;
    }
    if (weft_rpc_client_wait_ready(c, cl->dial_ms) != 0) {
        snprintf(info, ORDERER_INFO_LEN, "the leader at %s is not reachable", address);
        return NULL;
    }
    struct weft_err err = {0};
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, M_SUBMIT, -1, &err);
    if (s == NULL) {
        snprintf(info, ORDERER_INFO_LEN, "forwarding to the leader at %s: %.150s", address,
                 err.msg);
    }
    return s;
}

/* ---- service ---------------------------------------------------------------- */

/* The channel's consenter id of the caller (0 = not a consenter). */
static uint64_t caller_id(struct weft_rpc_call *call, struct orderer_chain *ch)
{
    size_t len = 0;
    const char *pem = weft_rpc_call_tls_cert_pem(call, &len);
    if (pem == NULL) {
        return 0;
    }
    return orderer__chain_consenter_id(ch, (const uint8_t *)pem, len);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void raft_stream(void *ctx, struct weft_rpc_call *call)
{
    struct orderer_cluster *cl = ctx;
    uint8_t *msg = NULL;
    size_t len = 0;
    if (weft_rpc_call_recv(call, &msg, &len, 10000) != 0 || msg == NULL) {
        weft_free(msg);
        return;
    }
    char hdr[320];
    size_t hn = len < sizeof(hdr) - 1 ? len : sizeof(hdr) - 1;
    memcpy(hdr, msg, hn);
    hdr[hn] = '\0';
    weft_free(msg);
    char *nl = strchr(hdr, '\n');
    if (nl == NULL) {
        (void)weft_rpc_call_finish(call, WEFT_RPC_INVALID_ARGUMENT, "bad stream header");
        return;
    }
    *nl = '\0';
    uint64_t claimed = strtoull(nl + 1, NULL, 10);
    struct orderer_chain *ch = orderer__lookup(cl->o, hdr);
    if (ch == NULL) {
        (void)weft_rpc_call_finish(call, WEFT_RPC_NOT_FOUND, "channel not joined here");
        return;
    }
    uint64_t id = caller_id(call, ch);
    if (id == 0 || id != claimed) {
        WEFT_WARN(lg_cluster,
                  "[%s] Raft stream from %s refused: its TLS certificate is not "
                  "that of consenter %llu",
                  hdr, weft_rpc_call_peer(call), (unsigned long long)claimed);
        orderer__chain_unref(ch);
        (void)weft_rpc_call_finish(call, WEFT_RPC_PERMISSION_DENIED,
                                   "client certificate is not a consenter's");
        return;
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        orderer__chain_unref(ch);
        (void)weft_rpc_call_finish(call, WEFT_RPC_INTERNAL, "socketpair failed");
        return;
    }
    int rc = orderer__chain_accept(ch, id, fds[0]);
    orderer__chain_unref(ch);
    if (rc != 0) {
        close(fds[1]);
        (void)weft_rpc_call_finish(call, WEFT_RPC_UNAVAILABLE, "channel closing");
        return;
    }
    for (;;) {
        msg = NULL;
        rc = weft_rpc_call_recv(call, &msg, &len, 1000);
        if (rc == WEFT_ETIMEDOUT) {
            /* libraft closed its end (channel removed, node stopping)? */
            struct pollfd pf = {.fd = fds[1], .events = POLLRDHUP};
            if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) {
                break;
            }
            continue;
        }
        if (rc != 0 || msg == NULL) {
            break;
        }
        rc = write_all(fds[1], msg, len);
        weft_free(msg);
        if (rc != 0) {
            break;
        }
    }
    close(fds[1]);
}

bool orderer__cluster_caller_is_consenter(struct weft_rpc_call *call, struct orderer_chain *ch)
{
    return caller_id(call, ch) != 0;
}

/* ---- set-up ----------------------------------------------------------------- */

static int read_text(const char *path, char **out, struct weft_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return weft_err_set(err, -errno, "read %s: %s", path, strerror(errno));
    }
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return weft_err_set(err, rc, "read %s: too large", path);
    }
    size_t len = 0;
    uint8_t *d = weft_buf_steal(&b, &len);
    weft_buf_close(&b);
    if (d == NULL) {
        d = (uint8_t *)weft_strdup("");
        if (d == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    *out = (char *)d;
    return 0;
}

/* First non-empty path among keys; *out NULL when none is set. */
static int path_of(const struct weft_config *cfg, const char *k1, const char *k2, char **out,
                   struct weft_err *err)
{
    const char *keys[2] = {k1, k2};
    *out = NULL;
    for (size_t i = 0; i < 2 && keys[i] != NULL; i++) {
        char *p = NULL;
        int rc = weft_config_get_path(cfg, keys[i], &p, NULL);
        if (rc == 0 && p[0] != '\0' && weft_config_is_set(cfg, keys[i])) {
            return read_text(p, out, err) == 0 ? (weft_free(p), 0) : (weft_free(p), err->code);
        }
        weft_free(p);
    }
    return 0;
}

/* Concatenated PEM files of the first key with a non-empty list. */
static int roots_of(const struct weft_config *cfg, const char *const *keys, size_t n_keys,
                    char **out, struct weft_err *err)
{
    *out = NULL;
    struct weft_buf b;
    weft_buf_init(&b, 16u << 20);
    int rc = 0;
    for (size_t k = 0; k < n_keys && rc == 0 && b.len == 0; k++) {
        char **list = NULL;
        size_t n = 0;
        if (!weft_config_is_set(cfg, keys[k]) ||
            weft_config_get_strlist(cfg, keys[k], true, &list, &n, NULL) != 0) {
            continue;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *t = NULL;
            rc = read_text(list[i], &t, err);
            if (rc == 0) {
                rc = weft_buf_appendf(&b, "%s\n", t);
            }
            weft_free(t);
        }
        weft_config_strlist_free(list);
    }
    if (rc == 0 && b.len > 0) {
        size_t len = 0;
        *out = (char *)weft_buf_steal(&b, &len);
    }
    weft_buf_close(&b);
    return rc;
}

int orderer__cluster_new(struct weft_orderer *o, const struct weft_config *cfg,
                         struct weft_rpc_server *main_srv, struct orderer_cluster **out,
                         struct weft_err *err)
{
    struct orderer_cluster *cl = weft_calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&cl->mu, NULL);
    cl->o = o;
    cl->dial_ms = 5000;
    cl->rpc_ms = 7000;
    int64_t v = 0;
    if (weft_config_get_duration(cfg, "General.Cluster.DialTimeout", &v, NULL) == 0 && v > 0) {
        cl->dial_ms = v / 1000000;
    }
    if (weft_config_get_duration(cfg, "General.Cluster.RPCTimeout", &v, NULL) == 0 && v > 0) {
        cl->rpc_ms = v / 1000000;
    }
    bool tls = false;
    if (weft_config_get_bool(cfg, "General.TLS.Enabled", &tls, NULL) != 0) {
        tls = false;
    }
    int64_t port = 0;
    if (weft_config_get_i64(cfg, "General.Cluster.ListenPort", &port, NULL) != 0) {
        port = 0;
    }
    char *srv_key = NULL, *client_ca = NULL;
    static const char *const ca_keys[] = {"General.Cluster.RootCAs", "General.TLS.RootCAs"};
    static const char *const cca_keys[] = {"General.Cluster.RootCAs", "General.TLS.ClientRootCAs",
                                           "General.TLS.RootCAs"};
    int rc = 0;
    cl->tls = tls || port > 0;
    if (cl->tls) {
        rc = path_of(cfg, "General.Cluster.ClientCertificate", "General.TLS.Certificate",
                     &cl->cert_pem, err);
        if (rc == 0) {
            rc = path_of(cfg, "General.Cluster.ClientPrivateKey", "General.TLS.PrivateKey",
                         &cl->key_pem, err);
        }
        if (rc == 0) {
            rc = path_of(cfg,
                         port > 0 ? "General.Cluster.ServerCertificate" : "General.TLS.Certificate",
                         "General.TLS.Certificate", &cl->server_cert_pem, err);
        }
        if (rc == 0) {
            rc = roots_of(cfg, ca_keys, 2, &cl->ca_pem, err);
        }
        if (rc != 0) {
            weft_err_prefix(err, "cluster TLS");
            goto fail;
        }
    }
    if (port > 0) {
        rc = path_of(cfg, "General.Cluster.ServerPrivateKey", "General.TLS.PrivateKey", &srv_key,
                     err);
        if (rc == 0) {
            rc = roots_of(cfg, cca_keys, 3, &client_ca, err);
        }
        if (rc == 0 && (cl->server_cert_pem == NULL || srv_key == NULL || client_ca == NULL)) {
            rc = weft_err_set(err, WEFT_ECONFIG,
                              "General.Cluster.ListenPort needs a server certificate, key and "
                              "client root CAs (General.Cluster.* or General.TLS.*)");
        }
        if (rc != 0) {
            goto fail;
        }
        const char *host = "0.0.0.0";
        if (weft_config_get_string(cfg, "General.Cluster.ListenAddress", &host, NULL) != 0 ||
            host[0] == '\0') {
            host = "0.0.0.0";
            const char *gh = NULL;
            if (weft_config_get_string(cfg, "General.ListenAddress", &gh, NULL) == 0 &&
                gh[0] != '\0') {
                host = gh;
            }
        }
        char listen[300];
        snprintf(listen, sizeof(listen), "%s:%lld", host, (long long)port);
        struct weft_rpc_server_opts so = {
            .listen = {listen},
            .tls = WEFT_RPC_TLS_MUTUAL,
            .cert = {.pem = cl->server_cert_pem},
            .key = {.pem = srv_key},
            .client_ca = {.pem = client_ca},
            .cq_threads = 1,
            .workers = 32,
        };
        cl->srv = weft_rpc_server_new(&so, err);
        if (cl->srv == NULL) {
            rc = weft_err_prefix(err, "cluster listener %s", listen);
            goto fail;
        }
        WEFT_INFO(lg_cluster, "cluster service on %s (mutual TLS)", listen);
    } else if (main_srv != NULL) {
        bool mutual = false;
        if (weft_config_get_bool(cfg, "General.TLS.ClientAuthRequired", &mutual, NULL) != 0 ||
            !mutual || !tls) {
            WEFT_WARN(lg_cluster, "cluster service shares the main listener without "
                                  "General.TLS.ClientAuthRequired: consenters cannot present "
                                  "their certificates, so multi-node channels will not form "
                                  "(set General.Cluster.ListenPort or require client certs)");
        }
    }
    struct weft_rpc_server *srv = cl->srv != NULL ? cl->srv : main_srv;
    if (srv != NULL) {
        rc = weft_rpc_server_add_stream(srv, M_RAFT, WEFT_RPC_BIDI_STREAMING, raft_stream, cl);
        if (rc == 0) {
            rc = weft_rpc_server_add_stream_cb(srv, M_SUBMIT, WEFT_RPC_BIDI_STREAMING,
                                               &orderer__submit_cbs, cl->o);
        }
        if (rc != 0) {
            weft_err_set(err, rc, "register cluster service: %s", weft_strerror(rc));
            goto fail;
        }
    }
    weft_free(srv_key);
    weft_free(client_ca);
    *out = cl;
    return 0;
fail:
    weft_free(srv_key);
    weft_free(client_ca);
    orderer__cluster_free(cl);
    return rc;
}

int orderer__cluster_start(struct orderer_cluster *cl, struct weft_err *err)
{
    if (cl->srv == NULL) {
        return 0;
    }
    return weft_rpc_server_start(cl->srv, err);
}

void orderer__cluster_stop(struct orderer_cluster *cl)
{
    if (cl != NULL && cl->srv != NULL) {
        weft_rpc_server_stop(cl->srv, 500);
    }
}

void orderer__cluster_free(struct orderer_cluster *cl)
{
    if (cl == NULL) {
        return;
    }
    weft_rpc_server_free(cl->srv);
    for (size_t i = 0; i < cl->n_clients; i++) {
        weft_rpc_client_free(cl->clients[i].client);
        weft_free(cl->clients[i].address);
    }
    weft_free(cl->clients);
    weft_free(cl->cert_pem);
    if (cl->key_pem != NULL) {
        /* key material: wiped before release (R26); volatile so it stays */
        volatile char *k = cl->key_pem;
        for (size_t i = 0; k[i] != '\0'; i++) {
            k[i] = '\0';
        }
    }
    weft_free(cl->key_pem);
    weft_free(cl->ca_pem);
    weft_free(cl->server_cert_pem);
    pthread_mutex_destroy(&cl->mu);
    weft_free(cl);
}
