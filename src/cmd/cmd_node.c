/*
 * `weft peer start` and `weft orderer start`: the daemon life cycle shared by
 * both nodes.
 *
 * DESIGN
 * Start-up: parse flags, block the stop/reload signals (so every thread
 * started later, gRPC's included, inherits the mask and only the main thread
 * sees them through sigwait), load and validate the config file, apply the
 * logging settings, bring up the operations endpoint and the gRPC server,
 * then wait for a signal. SIGTERM/SIGINT stop the node (gRPC first, with a
 * short grace, then operations); SIGHUP reopens the log file.
 *
 * The two daemons differ only in the key names they read; struct node_spec
 * holds those names, so there is one code path.
 */
#define _GNU_SOURCE /* SCHED_BATCH, SCHED_RESET_ON_FORK */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "cmd.h"
#include "config_tables.h"
#include "weft/config.h"
#include "weft/log.h"
#include "weft/ops.h"
#include "weft/orderer.h"
#include "weft/peer.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_node, "node");

/* Config key names of one daemon. */
struct node_keys {
    const char *listen_address; /* "host:port" (peer) or host only (orderer) */
    const char *listen_port;    /* orderer: separate port key; NULL for the peer */
    const char *tls_enabled;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_auth;
    const char *tls_client_roots;
    const char *ka_interval;
    const char *ka_timeout;
    const char *ka_min_interval;
    const char *max_recv;
    const char *max_send;
    const char *ops_listen;
    const char *ops_tls_enabled;
    const char *ops_tls_cert;
    const char *ops_tls_key;
    const char *ops_tls_client_auth;
    const char *ops_tls_client_roots;
    const char *metrics_provider;
};

struct node_spec {
    const char *name; /* "peer" */
    enum cmd_config_daemon daemon;
    struct node_keys keys;
    /* gRPC's polling engine unless GRPC_POLL_STRATEGY says otherwise (NULL:
     * gRPC's own default, epoll1) */
    const char *grpc_poller;
};

/* The peer uses gRPC's poll engine: each completion queue polls its own
 * connections, where epoll1's one poller for the whole process must wake
 * the thread an event belongs to (bench/e2e: about 18% fewer context
 * switches and 5% less CPU per transaction in the peers). The orderer keeps
 * epoll1 (poll doubled its context switches). */
static const struct node_spec peer_spec = {
    .name = "peer",
    .daemon = CMD_CONFIG_PEER,
    .grpc_poller = "poll",
    .keys =
        {
            .listen_address = "peer.listenAddress",
            .tls_enabled = "peer.tls.enabled",
            .tls_cert = "peer.tls.cert.file",
            .tls_key = "peer.tls.key.file",
            .tls_client_auth = "peer.tls.clientAuthRequired",
            .tls_client_roots = "peer.tls.clientRootCAs.files",
            .ka_interval = "peer.keepalive.interval",
            .ka_timeout = "peer.keepalive.timeout",
            .ka_min_interval = "peer.keepalive.minInterval",
            .max_recv = "peer.maxRecvMsgSize",
            .max_send = "peer.maxSendMsgSize",
            .ops_listen = "operations.listenAddress",
            .ops_tls_enabled = "operations.tls.enabled",
            .ops_tls_cert = "operations.tls.cert.file",
            .ops_tls_key = "operations.tls.key.file",
            .ops_tls_client_auth = "operations.tls.clientAuthRequired",
            .ops_tls_client_roots = "operations.tls.clientRootCAs.files",
            .metrics_provider = "metrics.provider",
        },
};

static const struct node_spec orderer_spec = {
    .name = "orderer",
    .daemon = CMD_CONFIG_ORDERER,
    .keys =
        {
            .listen_address = "General.ListenAddress",
            .listen_port = "General.ListenPort",
            .tls_enabled = "General.TLS.Enabled",
            .tls_cert = "General.TLS.Certificate",
            .tls_key = "General.TLS.PrivateKey",
            .tls_client_auth = "General.TLS.ClientAuthRequired",
            .tls_client_roots = "General.TLS.ClientRootCAs",
            .ka_interval = "General.Keepalive.ServerInterval",
            .ka_timeout = "General.Keepalive.ServerTimeout",
            .ka_min_interval = "General.Keepalive.ServerMinInterval",
            .max_recv = "General.MaxRecvMsgSize",
            .max_send = "General.MaxSendMsgSize",
            .ops_listen = "Operations.ListenAddress",
            .ops_tls_enabled = "Operations.TLS.Enabled",
            .ops_tls_cert = "Operations.TLS.Certificate",
            .ops_tls_key = "Operations.TLS.PrivateKey",
            .ops_tls_client_auth = "Operations.TLS.ClientAuthRequired",
            .ops_tls_client_roots = "Operations.TLS.ClientRootCAs",
            .metrics_provider = "Metrics.Provider",
        },
};

/* Everything a running node holds; freed by node_close in reverse order. */
struct node {
    const struct node_spec *spec;
    struct weft_config *cfg;
    char *listen;
    char *tls_cert, *tls_key;
    char **client_roots;
    char *client_ca_pem;
    char *ops_cert, *ops_key;
    char **ops_roots;
    struct weft_ops *ops;
    struct weft_rpc_server *rpc;
    struct weft_orderer *orderer;
    struct weft_peer *peer;
};

/* Optional getters: an unset key keeps the caller's default. */
static int opt_string(struct node *n, const char *key, const char **out, struct weft_err *err)
{
    int rc = weft_config_get_string(n->cfg, key, out, err);
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

static int opt_bool(struct node *n, const char *key, bool *out, struct weft_err *err)
{
    int rc = weft_config_get_bool(n->cfg, key, out, err);
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

static int opt_path(struct node *n, const char *key, char **out, struct weft_err *err)
{
    int rc = weft_config_get_path(n->cfg, key, out, err);
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

static int opt_paths(struct node *n, const char *key, char ***out, struct weft_err *err)
{
    int rc = weft_config_get_strlist(n->cfg, key, true, out, NULL, err);
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

static int opt_ms(struct node *n, const char *key, int64_t *out_ms, struct weft_err *err)
{
    int64_t ns;
    int rc = weft_config_get_duration(n->cfg, key, &ns, err);
    if (rc == 0) {
        *out_ms = ns / 1000000;
    }
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

static int opt_size(struct node *n, const char *key, size_t *out, struct weft_err *err)
{
    uint64_t v;
    int rc = weft_config_get_size(n->cfg, key, &v, err);
    if (rc == 0) {
        if (v == 0) {
            return weft_err_set(err, WEFT_ECONFIG, "%s: must be positive", key);
        }
        *out = (size_t)v;
    }
    return rc == WEFT_ENOTFOUND ? 0 : rc;
}

/* Concatenates the PEM files into one bundle string (caller frees). */
static int read_pem_bundle(char **files, char **out, struct weft_err *err)
{
    struct weft_buf b;
    weft_buf_init(&b, 16u << 20);
    for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
        FILE *f = fopen(files[i], "rb");
        if (f == NULL) {
            weft_buf_close(&b);
            return weft_err_set(err, WEFT_EIO, "read %s: cannot open", files[i]);
        }
        char chunk[4096];
        size_t got;
        int rc = 0;
        while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
            rc = weft_buf_append(&b, chunk, got);
        }
        fclose(f);
        if (rc == 0) {
            rc = weft_buf_append(&b, "\n", 1);
        }
        if (rc != 0) {
            weft_buf_close(&b);
            return weft_err_set(err, rc, "read %s: %s", files[i], weft_strerror(rc));
        }
    }
    *out = (char *)weft_buf_steal(&b, NULL);
    return 0;
}

static int node_listen_address(struct node *n, struct weft_err *err)
{
    const struct node_keys *k = &n->spec->keys;
    const char *addr = n->spec->daemon == CMD_CONFIG_PEER ? "0.0.0.0:7051" : "127.0.0.1";
    int rc = opt_string(n, k->listen_address, &addr, err);
    if (rc != 0) {
        return rc;
    }
    if (k->listen_port == NULL) {
        n->listen = weft_strdup(addr);
    } else {
        int64_t port = 7050;
        rc = weft_config_get_i64(n->cfg, k->listen_port, &port, err);
        if (rc != 0 && rc != WEFT_ENOTFOUND) {
            return rc;
        }
        n->listen = weft_asprintf("%s:%lld", addr, (long long)port);
    }
    return n->listen == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
}

static int node_start_rpc(struct node *n, struct weft_err *err)
{
    const struct node_keys *k = &n->spec->keys;
    struct weft_rpc_server_opts o = {.health = true};
    bool tls = false, client_auth = false;
    int rc = node_listen_address(n, err);
    if (rc == 0) {
        rc = opt_bool(n, k->tls_enabled, &tls, err);
    }
    if (rc == 0) {
        rc = opt_bool(n, k->tls_client_auth, &client_auth, err);
    }
    if (rc == 0) {
        rc = opt_ms(n, k->ka_interval, &o.keepalive.time_ms, err);
    }
    if (rc == 0) {
        rc = opt_ms(n, k->ka_timeout, &o.keepalive.timeout_ms, err);
    }
    if (rc == 0) {
        rc = opt_ms(n, k->ka_min_interval, &o.keepalive.min_time_ms, err);
    }
    if (rc == 0) {
        rc = opt_size(n, k->max_recv, &o.max_recv_msg, err);
    }
    if (rc == 0) {
        rc = opt_size(n, k->max_send, &o.max_send_msg, err);
    }
    if (rc == 0 && tls) {
        rc = opt_path(n, k->tls_cert, &n->tls_cert, err);
        if (rc == 0) {
            rc = opt_path(n, k->tls_key, &n->tls_key, err);
        }
        if (rc == 0 && (n->tls_cert == NULL || n->tls_key == NULL)) {
            rc = weft_err_set(err, WEFT_ECONFIG, "%s is true but %s or %s is not set",
                              k->tls_enabled, k->tls_cert, k->tls_key);
        }
        if (rc == 0 && client_auth) {
            rc = opt_paths(n, k->tls_client_roots, &n->client_roots, err);
            if (rc == 0) {
                rc = read_pem_bundle(n->client_roots, &n->client_ca_pem, err);
            }
        }
    }
    if (rc != 0) {
        return rc;
    }
    o.listen[0] = n->listen;
    o.tls = !tls ? WEFT_RPC_TLS_OFF : client_auth ? WEFT_RPC_TLS_MUTUAL : WEFT_RPC_TLS_SERVER;
    o.cert.file = n->tls_cert;
    o.key.file = n->tls_key;
    o.client_ca.pem = n->client_ca_pem;
    if (n->spec->daemon == CMD_CONFIG_PEER) {
        /* A Gateway call holds a worker while it waits for other peers'
         * ProcessProposal, served by their workers: room for every gateway
         * call the limit admits plus the endorsements and streams other
         * gateways ask for (threads start on demand). */
        int64_t gwl = 500;
        if (weft_config_get_i64(n->cfg, "peer.limits.concurrency.gatewayService", &gwl, NULL) != 0 ||
            gwl <= 0 || gwl > 4096) {
            gwl = 500;
        }
        o.workers = (unsigned)gwl + 512u;
        /* Under the poll engine every thread on the queue takes turns
         * polling it: one thread per two CPUs (bench/e2e on 2 CPUs, 1
         * instead of 2 threads: context switches in the peers 42 -> 25 per
         * transaction, CPU about 3% lower). */
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        o.cq_threads = ncpu >= 4 ? (unsigned)(ncpu / 2) : 1u;
    }
    n->rpc = weft_rpc_server_new(&o, err);
    if (n->rpc == NULL) {
        return weft_err_prefix(err, "gRPC server on %s", n->listen);
    }
    if (n->spec->daemon == CMD_CONFIG_PEER &&
        (n->peer = weft_peer_new(n->cfg, n->rpc, NULL, err)) == NULL) {
        return weft_err_prefix(err, "peer");
    }
    /* the orderer registers its services first (node_start_orderer) */
    rc = n->spec->daemon == CMD_CONFIG_ORDERER ? 0 : weft_rpc_server_start(n->rpc, err);
    if (rc != 0) {
        return weft_err_prefix(err, "start gRPC server on %s", n->listen);
    }
    WEFT_INFO(lg_node, "%s gRPC server listening on %s (port %d, tls %s)", n->spec->name,
              n->listen, weft_rpc_server_port(n->rpc, 0),
              !tls ? "off" : client_auth ? "mutual" : "on");
    return 0;
}

static int grpc_health(void *ctx, char *reason, size_t reason_len)
{
    struct weft_rpc_server *srv = ctx;
    if (weft_rpc_server_port(srv, 0) <= 0) {
        snprintf(reason, reason_len, "gRPC server is not listening");
        return WEFT_EUNAVAILABLE;
    }
    return 0;
}

static int node_start_ops(struct node *n, struct weft_err *err)
{
    const struct node_keys *k = &n->spec->keys;
    struct weft_ops_opts o = {
        .listen_address = n->spec->daemon == CMD_CONFIG_PEER ? "127.0.0.1:9443"
                                                             : "127.0.0.1:8443",
        .metrics_provider = "prometheus",
        .version = WEFT_VERSION,
        .commit_sha = WEFT_COMMIT,
    };
    int rc = opt_string(n, k->ops_listen, &o.listen_address, err);
    if (rc == 0) {
        rc = opt_string(n, k->metrics_provider, &o.metrics_provider, err);
    }
    if (rc == 0) {
        rc = opt_bool(n, k->ops_tls_enabled, &o.tls.enabled, err);
    }
    if (rc == 0 && o.tls.enabled) {
        rc = opt_path(n, k->ops_tls_cert, &n->ops_cert, err);
        if (rc == 0) {
            rc = opt_path(n, k->ops_tls_key, &n->ops_key, err);
        }
        if (rc == 0) {
            rc = opt_bool(n, k->ops_tls_client_auth, &o.tls.client_auth_required, err);
        }
        if (rc == 0) {
            rc = opt_paths(n, k->ops_tls_client_roots, &n->ops_roots, err);
        }
        o.tls.cert_file = n->ops_cert;
        o.tls.key_file = n->ops_key;
        size_t nroots = 0;
        while (n->ops_roots != NULL && n->ops_roots[nroots] != NULL) {
            nroots++;
        }
        o.tls.client_ca_files = (const char *const *)n->ops_roots;
        o.tls.n_client_ca_files = nroots;
    }
    if (rc != 0) {
        return rc;
    }
    n->ops = weft_ops_new(&o, err);
    if (n->ops == NULL) {
        return weft_err_prefix(err, "operations endpoint on %s", o.listen_address);
    }
    rc = weft_health_register(weft_ops_health(n->ops), "grpc-server", grpc_health, n->rpc);
    if (rc != 0) {
        return weft_err_set(err, rc, "register health check: %s", weft_strerror(rc));
    }
    rc = weft_ops_start(n->ops, err);
    if (rc != 0) {
        return weft_err_prefix(err, "start operations endpoint on %s", o.listen_address);
    }
    WEFT_INFO(lg_node, "operations endpoint listening on %s (port %d)", o.listen_address,
              weft_ops_port(n->ops));
    return 0;
}

/* Orderer only: AtomicBroadcast, channels and the admin API, then start gRPC. */
static int node_start_orderer(struct node *n, struct weft_err *err)
{
    n->orderer = weft_orderer_new(n->cfg, n->rpc, n->ops, err);
    if (n->orderer == NULL) {
        return err->code != 0 ? err->code : WEFT_EINVAL;
    }
    int rc = weft_rpc_server_start(n->rpc, err);
    return rc != 0 ? weft_err_prefix(err, "start gRPC server on %s", n->listen) : 0;
}

static void node_close(struct node *n)
{
    if (n->rpc != NULL) {
        weft_rpc_server_stop(n->rpc, 1000);
    }
    weft_orderer_free(n->orderer);
    weft_peer_free(n->peer);
    weft_ops_free(n->ops);
    weft_rpc_server_free(n->rpc);
    weft_config_strlist_free(n->client_roots);
    weft_config_strlist_free(n->ops_roots);
    weft_free(n->client_ca_pem);
    weft_free(n->tls_cert);
    weft_free(n->tls_key);
    weft_free(n->ops_cert);
    weft_free(n->ops_key);
    weft_free(n->listen);
    weft_config_free(n->cfg);
}

/* Logging comes from the environment, as in Fabric (FABRIC_LOGGING_SPEC,
 * FABRIC_LOGGING_FORMAT); an invalid value is a start-up error. */
static int apply_logging(struct node *n, struct weft_err *err)
{
    const char *spec = "info";
    const char *format = "console";
    int rc = opt_string(n, "FABRIC_LOGGING_SPEC", &spec, err);
    if (rc == 0) {
        rc = opt_string(n, "FABRIC_LOGGING_FORMAT", &format, err);
    }
    if (rc == 0) {
        rc = weft_log_spec_set(spec, err);
    }
    if (rc == 0 && weft_log_format_set_name(format) != 0) {
        rc = weft_err_set(err, WEFT_ECONFIG, "FABRIC_LOGGING_FORMAT: unknown format \"%s\"",
                          format);
    }
    return rc;
}

/* Waits for SIGTERM/SIGINT; SIGHUP reopens the log file. */
static void wait_for_stop(const sigset_t *set, const char *name)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            if (weft_log_reopen() != 0) {
                WEFT_WARN(lg_node, "SIGHUP: could not reopen the log file");
            }
            continue;
        }
        WEFT_INFO(lg_node, "received %s, stopping the %s", sig == SIGINT ? "SIGINT" : "SIGTERM",
                  name);
        return;
    }
}

static void start_usage(const struct node_spec *spec, FILE *f)
{
    fprintf(f,
            "Usage: weft %s start [--config FILE]\n\n"
            "Starts the %s and runs until SIGTERM or SIGINT.\n\n"
            "Options:\n"
            "  --config FILE  configuration file (default: $FABRIC_CFG_PATH/%s,\n"
            "                 else ./%s, ./config/%s)\n"
            "  -h, --help     show this help\n\n"
            "Environment variables %s_<KEY> override configuration keys; FABRIC_LOGGING_SPEC\n"
            "and FABRIC_LOGGING_FORMAT set logging. See docs/configuration.md.\n",
            spec->name, spec->name, cmd_config_daemon_info(spec->daemon)->file_name,
            cmd_config_daemon_info(spec->daemon)->file_name,
            cmd_config_daemon_info(spec->daemon)->file_name,
            cmd_config_daemon_info(spec->daemon)->env_prefix);
}

/* Node threads run under SCHED_BATCH unless WEFT_SCHED_POLICY=normal: a
 * thread woken by another (a completion, a queued job) then waits for the
 * waker to block or for its next tick instead of preempting it at once, so a
 * hand-off costs one context switch, not two (bench/e2e on 2 CPUs: a third
 * fewer context switches and 3-8% less CPU per transaction in the peers and
 * the orderer). Children (chaincode, builders) start with the
 * normal policy. Set before any thread starts, so that all inherit it.
 * Returns a note for the log, or NULL. */
static const char *set_sched_policy(void)
{
    const char *want = getenv("WEFT_SCHED_POLICY");
    if (want != NULL && strcmp(want, "normal") == 0) {
        return NULL;
    }
    if (want != NULL && want[0] != '\0' && strcmp(want, "batch") != 0) {
        return "WEFT_SCHED_POLICY must be 'batch' or 'normal'; using 'batch'";
    }
    struct sched_param sp = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) != 0) {
        return errno == EPERM ? "SCHED_BATCH not permitted; keeping the normal policy"
                              : "SCHED_BATCH failed; keeping the normal policy";
    }
    return NULL;
}

static int node_start(const struct node_spec *spec, int argc, char **argv)
{
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            start_usage(spec, stdout);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else {
            fprintf(stderr, "weft %s start: unknown argument '%s'\n\n", spec->name, argv[i]);
            start_usage(spec, stderr);
            return 2;
        }
    }

    if (spec->grpc_poller != NULL) {
        (void)setenv("GRPC_POLL_STRATEGY", spec->grpc_poller, 0); /* before gRPC starts */
    }
    const char *sched_note = set_sched_policy();
    /* A client that disconnects mid-reply must not kill the node. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct node n = {.spec = spec};
    struct weft_err err = {0};
    int rc = cmd_config_open(spec->daemon, config_path, &n.cfg, &err);
    if (rc == 0) {
        rc = apply_logging(&n, &err);
    }
    if (rc == 0 && sched_note != NULL) {
        WEFT_WARN(lg_node, "%s", sched_note);
    }
    if (rc == 0) {
        rc = node_start_rpc(&n, &err);
    }
    if (rc == 0) {
        rc = node_start_ops(&n, &err);
    }
    if (rc == 0 && n.peer != NULL) {
        rc = weft_peer_attach_ops(n.peer, n.ops, &err);
    }
    if (rc == 0 && spec->daemon == CMD_CONFIG_ORDERER) {
        rc = node_start_orderer(&n, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "weft %s start: %s\n", spec->name,
                err.msg[0] ? err.msg : weft_strerror(rc));
        node_close(&n);
        weft_log_shutdown();
        return 1;
    }
    WEFT_INFO(lg_node, "%s started (weft %s)", spec->name, WEFT_VERSION);
    wait_for_stop(&set, spec->name);
    node_close(&n);
    WEFT_INFO(lg_node, "%s stopped", spec->name);
    weft_log_shutdown();
    return 0;
}

static int node_command(const struct node_spec *spec, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "start") == 0) {
        return node_start(spec, argc - 1, argv + 1);
    }
    bool help = argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
                              strcmp(argv[1], "help") == 0);
    FILE *f = help ? stdout : stderr;
    if (argc >= 2 && !help) {
        fprintf(f, "weft %s: unknown command '%s'\n\n", spec->name, argv[1]);
    }
    fprintf(f,
            "Usage: weft %s <command>\n\nCommands:\n"
            "  start   start the %s (see 'weft %s start --help')\n",
            spec->name, spec->name, spec->name);
    return help ? 0 : 2;
}

int cmd_peer(int argc, char **argv)
{
    return node_command(&peer_spec, argc, argv);
}

int cmd_orderer(int argc, char **argv)
{
    return node_command(&orderer_spec, argc, argv);
}
