/*
 * `weft network up|down|status|logs`: a whole local development network
 * with one command.
 *
 * DESIGN
 * Everything lives under one state directory (default ./weft-net):
 *   .weft-network            marker: `down` removes only folders holding it
 *   crypto-config.yaml, crypto/       identities (`weft crypto generate`)
 *   configtx.yaml, channel-artifacts/<channel>.block   (`weft configtx genesis`)
 *   nodes/<name>/{core.yaml|orderer.yaml, data/}
 *   logs/<name>.log, logs/setup.log   run/<name>.pid
 *   network.json, connection-org<N>.json
 * `up` runs the tools as child processes of this same binary, writes one
 * config per node, starts every node in its own session, waits for each
 * /healthz, then joins the channel (orderers through the channel
 * participation API with the orderer admin's TLS client certificate) and
 * writes the descriptors. If a step fails after nodes started, `up` stops
 * them again (by PID) and leaves the folder for inspection.
 * `down` reads the PID files in run/, checks each PID still runs this network's config
 * (never a recycled PID), sends SIGTERM, SIGKILL after a grace period, and
 * removes the folder. Ports: see NET_PORT_STRIDE in cmd_network.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>

#include "cmd.h"
#include "cmd_network.h"
#include "weft/log.h"

#define MARKER ".weft-network"
#define DEFAULT_DIR "weft-net"
#define READY_TIMEOUT_MS 60000
#define STOP_GRACE_MS 10000

struct up_opts {
    const char *dir;
    const char *channel;
    int orderers, orgs, peers, base_port;
    const char *chaincode_dir;
    const char *chaincode_name;
    bool no_chaincode;
    bool no_channel;
};

static void top_usage(FILE *f)
{
    fprintf(f, "Usage: weft network <command> [options]\n\n"
               "A complete local network (orderers, peer organisations, a channel) for\n"
               "development and demos, under one state folder.\n\n"
               "Commands:\n"
               "  up       create identities, a channel and the nodes, and start them\n"
               "  down     stop this network's processes and remove its folder\n"
               "  status   health, ledger height and role of every node\n"
               "  logs     print (or follow) one node's log\n\n"
               "Run 'weft network <command> --help' for the options. docs/network.md\n"
               "explains the layout and the files written.\n");
}

static void up_usage(FILE *f)
{
    fprintf(f,
            "Usage: weft network up [options]\n\n"
            "Options:\n"
            "  --orderers N        ordering nodes (Raft), 1-%d (default 3)\n"
            "  --orgs M            peer organisations, 1-%d (default 2)\n"
            "  --peers K           peers per organisation, 1-%d (default 2)\n"
            "  --channel NAME      channel created and joined (default mychannel)\n"
            "  --base-port P       first port; each node takes %d ports from here in order\n"
            "                      (orderers, then peers): +0 gRPC, +1 admin (orderer) or\n"
            "                      chaincode (peer), +2 operations (default 7050)\n"
            "  --dir D             state folder (default ./%s)\n"
            "  --chaincode DIR     deploy this Node chaincode instead of the sample\n"
            "  --chaincode-name N  its name (default: the folder's name)\n"
            "  --no-chaincode      deploy no chaincode\n"
            "  --no-channel        start the nodes without creating the channel\n"
            "  -h, --help          this help\n\n"
            "Two networks run side by side with different --base-port and --dir.\n",
            NET_MAX_ORDERERS, NET_MAX_ORGS, NET_MAX_PEERS, NET_PORT_STRIDE, DEFAULT_DIR);
}

/* ---- small helpers ------------------------------------------------------ */

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path)
{
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -errno;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return true;
    }
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* Absolute form of dir (which need not exist yet). Caller frees. */
static char *abs_dir(const char *dir)
{
    if (dir[0] == '/') {
        return weft_strdup(dir);
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        return NULL;
    }
    const char *d = strncmp(dir, "./", 2) == 0 ? dir + 2 : dir;
    size_t n = strlen(d);
    char *out = weft_asprintf("%s/%.*s", cwd, (int)(n > 0 && d[n - 1] == '/' ? n - 1 : n), d);
    return out;
}

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return true;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* The servers set SO_REUSEADDR too: a port in TIME_WAIT is usable. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int parse_int_flag(const char *name, const char *v, int lo, int hi, int *out)
{
    int64_t x;
    if (v == NULL || weft_parse_i64(v, &x) != 0 || x < lo || x > hi) {
        fprintf(stderr, "weft network: %s wants a number from %d to %d\n", name, lo, hi);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* Matches "--name value" and "--name=value"; advances *i past the value. */
static bool flag_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return false;
    }
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0') {
        return false;
    }
    *out = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static bool valid_channel(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n >= 250 || !(c[0] >= 'a' && c[0] <= 'z')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = c[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')) {
            return false;
        }
    }
    return true;
}

static void fail_msg(const char *what, int rc, const struct weft_err *err)
{
    fprintf(stderr, "weft network: %s: %s\n", what, err->msg[0] ? err->msg : weft_strerror(rc));
}

/* ---- up ----------------------------------------------------------------- */

static int run_step(const struct net *net, const char *what, char *const argv[], const char *log)
{
    struct weft_err err = {0};
    int rc = net_run_tool(net->bin, argv, log, &err);
    if (rc < 0) {
        fail_msg(what, rc, &err);
        return -1;
    }
    if (rc != 0) {
        fprintf(stderr, "weft network: %s failed (exit %d); its output (%s):\n", what, rc, log);
        fflush(stderr);
        net_tail(log, 20);
        return -1;
    }
    return 0;
}

/* Polls every node's /healthz until all answer 200, a node exits, or the
 * deadline passes. */
static int wait_ready(struct net *net)
{
    uint64_t deadline = weft_clock_mono_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000u;
    bool *ready = weft_calloc(net->n_nodes, sizeof(bool));
    struct weft_buf body;
    weft_buf_init(&body, 1u << 20);
    size_t left = net->n_nodes;
    int rc = 0;
    if (ready == NULL) {
        rc = WEFT_ENOMEM;
        goto cleanup;
    }
    while (left > 0) {
        for (size_t k = 0; k < net->n_nodes; k++) {
            struct net_node *n = &net->nodes[k];
            if (ready[k]) {
                continue;
            }
            int st = 0;
            pid_t w = waitpid(n->pid, &st, WNOHANG);
            if (w == n->pid) {
                fprintf(stderr,
                        "weft network: %s exited during start-up (%s %d); last lines "
                        "of %s:\n",
                        n->name, WIFEXITED(st) ? "exit" : "signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), n->log);
                fflush(stderr);
                net_tail(n->log, 15);
                n->pid = 0;
                rc = WEFT_EUNAVAILABLE;
                goto cleanup;
            }
            struct net_http_req r = {.method = "GET",
                                     .host = "127.0.0.1",
                                     .port = n->ops_port,
                                     .path = "/healthz",
                                     .timeout_ms = 1000};
            int status = 0;
            struct weft_err err = {0};
            if (net_http(&r, &status, &body, &err) == 0 && status == 200) {
                ready[k] = true;
                left--;
            }
        }
        if (left == 0) {
            break;
        }
        if (weft_clock_mono_ns() > deadline) {
            for (size_t k = 0; k < net->n_nodes; k++) {
                if (!ready[k]) {
                    fprintf(stderr, "weft network: %s not healthy after %d s (see %s)\n",
                            net->nodes[k].name, READY_TIMEOUT_MS / 1000, net->nodes[k].log);
                }
            }
            rc = WEFT_ETIMEDOUT;
            goto cleanup;
        }
        sleep_ms(100);
    }
cleanup:
    weft_free(ready);
    weft_buf_close(&body);
    return rc;
}

static int read_file_bytes(const char *path, struct weft_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(b, chunk, got);
    }
    fclose(f);
    return rc;
}

/* POST /participation/v1/channels on every orderer: the osnadmin join. */
static int join_orderers(const struct net *net)
{
    char *block = net_path(net, "channel-artifacts/%s.block", net->channel);
    char *ca = net_path(net, "crypto/ordererOrganizations/example.com/tlsca/"
                             "tlsca.example.com-cert.pem");
    char *cert = net_path(net, "crypto/ordererOrganizations/example.com/users/"
                               "Admin@example.com/tls/client.crt");
    char *key = net_path(net, "crypto/ordererOrganizations/example.com/users/"
                              "Admin@example.com/tls/client.key");
    struct weft_buf blk, form, resp;
    weft_buf_init(&blk, 64u << 20);
    weft_buf_init(&form, 65u << 20);
    weft_buf_init(&resp, 1u << 20);
    static const char boundary[] = "weftnetworkboundary7MA4YWxkTrZu0gW";
    int rc = (block && ca && cert && key) ? read_file_bytes(block, &blk) : WEFT_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "weft network: cannot read the genesis block %s\n",
                block != NULL ? block : "");
        goto cleanup;
    }
    rc = weft_buf_appendf(&form,
                          "--%s\r\nContent-Disposition: form-data; name=\"config-block\"; "
                          "filename=\"%s.block\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                          boundary, net->channel);
    if (rc == 0) {
        rc = weft_buf_append(&form, blk.data, blk.len);
    }
    if (rc == 0) {
        rc = weft_buf_appendf(&form, "\r\n--%s--\r\n", boundary);
    }
    if (rc != 0) {
        goto cleanup;
    }
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "multipart/form-data; boundary=%s", boundary);
    for (size_t k = 0; k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        if (n->role != NET_ORDERER) {
            continue;
        }
        struct net_http_req r = {.method = "POST",
                                 .host = "127.0.0.1",
                                 .port = n->aux_port,
                                 .path = "/participation/v1/channels",
                                 .content_type = ctype,
                                 .body = form.data,
                                 .body_len = form.len,
                                 .ca_file = ca,
                                 .cert_file = cert,
                                 .key_file = key,
                                 .server_name = n->name,
                                 .timeout_ms = 20000,
                                 .connect_wait_ms = 20000};
        int status = 0;
        struct weft_err err = {0};
        rc = net_http(&r, &status, &resp, &err);
        if (rc != 0) {
            fprintf(stderr, "weft network: %s: channel participation API on 127.0.0.1:%d: %s\n",
                    n->name, n->aux_port, err.msg[0] ? err.msg : weft_strerror(rc));
            goto cleanup;
        }
        if (status != 201 && status != 200) {
            fprintf(stderr, "weft network: %s: join %s: HTTP %d %s\n", n->name, net->channel,
                    status, resp.data != NULL ? (char *)resp.data : "");
            rc = WEFT_EUNAVAILABLE;
            goto cleanup;
        }
        printf("  %s joined %s\n", n->name, net->channel);
    }
cleanup:
    weft_buf_close(&blk);
    weft_buf_close(&form);
    weft_buf_close(&resp);
    weft_free(block);
    weft_free(ca);
    weft_free(cert);
    weft_free(key);
    return rc;
}

static void stop_all(struct net *net)
{
    for (size_t k = 0; k < net->n_nodes; k++) {
        struct net_node *n = &net->nodes[k];
        if (n->pid > 0) {
            (void)net_stop_pid(n->pid, n->config, STOP_GRACE_MS);
            waitpid(n->pid, NULL, WNOHANG);
            remove(n->pid_file);
            n->pid = 0;
        }
    }
}

static void print_summary(const struct net *net, bool joined, const struct net_cc *cc)
{
    printf("\nweft network is up: %zu nodes in %s, channel %s%s\n\n", net->n_nodes, net->dir,
           net->channel, joined ? "" : " (not joined)");
    printf("  %-26s %-8s %-8s %-17s %-17s %s\n", "NODE", "ROLE", "PID", "GRPC (TLS)", "OPERATIONS",
           "ADMIN/CHAINCODE");
    const struct net_node *peer0 = NULL, *ord0 = NULL;
    for (size_t k = 0; k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        char grpc[32], ops[32], aux[32];
        snprintf(grpc, sizeof(grpc), "127.0.0.1:%d", n->port);
        snprintf(ops, sizeof(ops), "127.0.0.1:%d", n->ops_port);
        snprintf(aux, sizeof(aux), "127.0.0.1:%d", n->aux_port);
        printf("  %-26s %-8s %-8ld %-17s %-17s %s\n", n->name,
               n->role == NET_ORDERER ? "orderer" : "peer", (long)n->pid, grpc, ops, aux);
        if (n->role == NET_PEER && peer0 == NULL) {
            peer0 = n;
        }
        if (n->role == NET_ORDERER && ord0 == NULL) {
            ord0 = n;
        }
    }
    const char *u = "crypto/peerOrganizations/org1.example.com/users";
    printf("\nClient identity of Org1 (a fabric-gateway or fabric-network user):\n"
           "  certificate  %s/%s/User1@org1.example.com/msp/signcerts/"
           "User1@org1.example.com-cert.pem\n"
           "  private key  %s/%s/User1@org1.example.com/msp/keystore/priv_sk\n"
           "  TLS root     %s/crypto/peerOrganizations/org1.example.com/tlsca/"
           "tlsca.org1.example.com-cert.pem\n"
           "  admin MSP    %s/%s/Admin@org1.example.com/msp\n"
           "  connection   %s/connection-org1.json (one per organisation)\n"
           "Every node, path and PID: %s/network.json\n",
           net->dir, u, net->dir, u, net->dir, net->dir, u, net->dir, net->dir);
    if (cc != NULL) {
        printf("Chaincode: %s %s on %s (package %s), endorsement policy %s\n", cc->name, "1.0",
               net->channel, cc->package_id != NULL ? cc->package_id : "?", cc->policy);
    } else {
        printf("Chaincode: none deployed\n");
    }
    printf("\nNext:\n"
           "  weft network status --dir %s\n"
           "  weft network logs %s --dir %s\n",
           net->dir, peer0 != NULL ? peer0->name : net->nodes[0].name, net->dir);
    if (cc != NULL && peer0 != NULL && ord0 != NULL) {
        printf("  export CORE_PEER_LOCALMSPID=Org1MSP CORE_PEER_TLS_ENABLED=true \\\n"
               "         CORE_PEER_MSPCONFIGPATH=%s/%s/User1@org1.example.com/msp \\\n"
               "         CORE_PEER_ADDRESS=127.0.0.1:%d CORE_PEER_TLS_ROOTCERT_FILE=%s\n"
               "  weft chaincode query -C %s -n %s -c '{\"Args\":[\"GetAllAssets\"]}'\n",
               net->dir, u, peer0->port, peer0->tls_ca, net->channel, cc->name);
        if (cc->sample) {
            printf("  weft chaincode invoke -C %s -n %s -c "
                   "'{\"Args\":[\"CreateAsset\",\"asset1\",\"blue\",\"5\",\"Tom\",\"300\"]}' \\\n"
                   "      -o 127.0.0.1:%d --tls --cafile %s/crypto/ordererOrganizations/"
                   "example.com/tlsca/tlsca.example.com-cert.pem",
                   net->channel, cc->name, ord0->port, net->dir);
            for (size_t k = 0; k < net->n_nodes; k++) {
                const struct net_node *n = &net->nodes[k];
                if (n->role == NET_PEER && n->index == 0) {
                    printf(" \\\n      --peerAddresses 127.0.0.1:%d --tlsRootCertFiles %s", n->port,
                           n->tls_ca);
                }
            }
            printf("\n");
        }
        printf("  node samples/app/app.js %s/network.json   (the Fabric Gateway sample "
               "application)\n",
               net->dir);
    }
    printf("  weft network down --dir %s\n", net->dir);
}

static int write_marker(const struct net *net)
{
    char *m = net_path(net, MARKER);
    FILE *f = m != NULL ? fopen(m, "w") : NULL;
    weft_free(m);
    if (f == NULL) {
        return WEFT_EIO;
    }
    fprintf(f, "weft network state folder; `weft network down --dir %s` removes it\n", net->dir);
    return fclose(f) == 0 ? 0 : WEFT_EIO;
}

static int network_up(const struct up_opts *o)
{
    struct net net = {.n_orderers = o->orderers,
                      .n_orgs = o->orgs,
                      .n_peers = o->peers,
                      .base_port = o->base_port};
    struct weft_err err = {0};
    int rc = 0;
    bool started = false;
    bool deploy = !o->no_chaincode && !o->no_channel;
    struct net_cc cc = {0};
    char *setup_log = NULL, *cc_cfg = NULL, *cc_out = NULL, *tx_cfg = NULL, *block = NULL;
    snprintf(net.channel, sizeof(net.channel), "%s", o->channel);
    /* The libraries this command calls in-process (peer join) log at info;
     * their progress is summarised by the steps printed here instead. */
    if (weft_log_spec_set("warning", NULL) != 0) {
        fprintf(stderr, "weft network: cannot set the log level\n");
    }
    net.dir = abs_dir(o->dir);
    char exe[PATH_MAX];
    net.bin = realpath("/proc/self/exe", exe) != NULL ? weft_strdup(exe) : NULL;
    if (net.dir == NULL || net.bin == NULL) {
        fprintf(stderr, "weft network: cannot resolve the state folder or this binary\n");
        rc = 1;
        goto cleanup;
    }
    if (file_exists(net.dir) && !dir_is_empty(net.dir)) {
        char *m = net_path(&net, MARKER);
        bool ours = m != NULL && file_exists(m);
        weft_free(m);
        fprintf(stderr,
                "weft network: %s already exists%s; run `weft network down --dir %s` first, or "
                "pick another --dir\n",
                net.dir, ours ? " and holds a network" : " and is not empty", net.dir);
        rc = 1;
        goto cleanup;
    }
    rc = net_model_build(&net, &err);
    if (rc != 0) {
        fail_msg("model", rc, &err);
        rc = 1;
        goto cleanup;
    }
    /* Before anything is written: the chaincode and what it needs to run. */
    if (deploy && net_cc_resolve(&net, o->chaincode_dir, o->chaincode_name, &cc) != 0) {
        rc = 1;
        goto cleanup;
    }
    for (size_t k = 0; k < net.n_nodes; k++) {
        const struct net_node *n = &net.nodes[k];
        /* gRPC, admin or chaincode, operations; orderers also their cluster port */
        for (int p = 0; p < (n->role == NET_ORDERER ? 4 : 3); p++) {
            if (!port_free(n->port + p)) {
                fprintf(stderr,
                        "weft network: port %d (for %s) is in use on 127.0.0.1; choose another "
                        "--base-port\n",
                        n->port + p, n->name);
                rc = 1;
                goto cleanup;
            }
        }
    }
    /* Folders, marker first so a half-made folder can still be removed by down. */
    if (mkdir_p(net.dir) != 0 || write_marker(&net) != 0) {
        fprintf(stderr, "weft network: cannot create %s\n", net.dir);
        rc = 1;
        goto cleanup;
    }
    const char *subdirs[] = {"logs", "run", "channel-artifacts", "nodes"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(subdirs); i++) {
        char *p = net_path(&net, "%s", subdirs[i]);
        int mr = p != NULL ? mkdir_p(p) : WEFT_ENOMEM;
        weft_free(p);
        if (mr != 0) {
            fprintf(stderr, "weft network: cannot create %s/%s\n", net.dir, subdirs[i]);
            rc = 1;
            goto cleanup;
        }
    }
    setup_log = net_path(&net, "logs/setup.log");
    cc_cfg = net_path(&net, "crypto-config.yaml");
    cc_out = net_path(&net, "crypto");
    tx_cfg = net_path(&net, "configtx.yaml");
    block = net_path(&net, "channel-artifacts/%s.block", net.channel);
    if (!setup_log || !cc_cfg || !cc_out || !tx_cfg || !block) {
        rc = 1;
        goto cleanup;
    }

    printf("weft network: %d orderer(s), %d org(s) x %d peer(s), channel %s, ports %d-%d, in "
           "%s\n",
           net.n_orderers, net.n_orgs, net.n_peers, net.channel, net.base_port,
           net.base_port + (int)net.n_nodes * NET_PORT_STRIDE - 1, net.dir);
    printf("[1/7] identities (weft crypto generate)\n");
    fflush(stdout);
    rc = net_write_crypto_config(&net, cc_cfg, &err);
    if (rc != 0) {
        fail_msg("crypto-config.yaml", rc, &err);
        rc = 1;
        goto cleanup;
    }
    char *crypto_argv[] = {(char *)"weft",
                           (char *)"crypto",
                           (char *)"generate",
                           (char *)"--config",
                           cc_cfg,
                           (char *)"--output",
                           cc_out,
                           NULL};
    if (run_step(&net, "weft crypto generate", crypto_argv, setup_log) != 0) {
        rc = 1;
        goto cleanup;
    }

    if (!o->no_channel) {
        printf("[2/7] channel genesis block (weft configtx genesis)\n");
        fflush(stdout);
        rc = net_write_configtx(&net, tx_cfg, &err);
        if (rc != 0) {
            fail_msg("configtx.yaml", rc, &err);
            rc = 1;
            goto cleanup;
        }
        char *ctx_argv[] = {(char *)"weft",
                            (char *)"configtx",
                            (char *)"genesis",
                            (char *)"--config",
                            tx_cfg,
                            (char *)"--profile",
                            (char *)"WeftNetwork",
                            (char *)"--channel",
                            net.channel,
                            (char *)"--output",
                            block,
                            NULL};
        if (run_step(&net, "weft configtx genesis", ctx_argv, setup_log) != 0) {
            rc = 1;
            goto cleanup;
        }
    } else {
        printf("[2/7] channel: skipped (--no-channel)\n");
    }

    printf("[3/7] starting %zu nodes\n", net.n_nodes);
    fflush(stdout);
    for (size_t k = 0; k < net.n_nodes; k++) {
        struct net_node *n = &net.nodes[k];
        if (mkdir_p(n->data_dir) != 0) {
            fprintf(stderr, "weft network: cannot create %s\n", n->data_dir);
            rc = 1;
            goto cleanup;
        }
        rc = net_write_node_config(&net, n, &err);
        if (rc == 0) {
            rc = net_start_node(&net, n, &err);
        }
        if (rc != 0) {
            fail_msg(n->name, rc, &err);
            rc = 1;
            goto cleanup;
        }
        started = true;
    }
    printf("[4/7] waiting for /healthz of every node\n");
    fflush(stdout);
    if (wait_ready(&net) != 0) {
        rc = 1;
        goto cleanup;
    }
    /* Written now so status works even if a later step fails; rewritten at the end. */
    rc = net_write_descriptors(&net, false, false, NULL, &err);
    if (rc != 0) {
        fail_msg("network.json", rc, &err);
        rc = 1;
        goto cleanup;
    }

    bool joined = false;
    if (!o->no_channel) {
        printf("[5/7] orderers join channel %s (channel participation API)\n", net.channel);
        fflush(stdout);
        if (join_orderers(&net) != 0) {
            rc = 1;
            goto cleanup;
        }
        /* An orderer's /healthz fails until its channel has a Raft leader
         * (an election takes a few ticks): nothing can be ordered before. */
        if (net.n_orderers > 1) {
            printf("  waiting for the Raft cluster to elect a leader\n");
            fflush(stdout);
        }
        if (wait_ready(&net) != 0) {
            rc = 1;
            goto cleanup;
        }
        printf("[6/7] peers join channel %s (weft channel join)\n", net.channel);
        fflush(stdout);
        if (net_peers_join(&net, block, setup_log) != 0) {
            rc = 1;
            goto cleanup;
        }
        joined = true;
        rc = net_write_descriptors(&net, joined, joined, NULL, &err);
        if (rc != 0) {
            fail_msg("network.json", rc, &err);
            rc = 1;
            goto cleanup;
        }
    } else {
        printf("[5/7] orderers join: skipped (--no-channel)\n");
        printf("[6/7] peers join: skipped (--no-channel)\n");
    }

    const char *chaincode = NULL;
    if (!deploy) {
        printf("[7/7] chaincode: none (%s)\n", o->no_chaincode ? "--no-chaincode" : "no channel");
    } else {
        printf("[7/7] chaincode %s from %s (weft chaincode package, install, approveformyorg, "
               "commit)\n",
               cc.name, cc.dir);
        fflush(stdout);
        if (net_cc_deploy(&net, &cc, setup_log) != 0) {
            rc = 1;
            goto cleanup;
        }
        chaincode = cc.name;
    }
    rc = net_write_descriptors(&net, joined, joined, chaincode, &err);
    if (rc != 0) {
        fail_msg("network.json", rc, &err);
        rc = 1;
        goto cleanup;
    }
    print_summary(&net, joined, deploy ? &cc : NULL);
    started = false; /* success: the nodes stay up */
    rc = 0;
cleanup:
    if (started) {
        fprintf(stderr,
                "weft network: stopping the nodes started; logs stay in %s/logs (remove the "
                "folder with `weft network down --dir %s`)\n",
                net.dir, net.dir);
        stop_all(&net);
    }
    weft_free(setup_log);
    weft_free(cc_cfg);
    weft_free(cc_out);
    weft_free(tx_cfg);
    weft_free(block);
    net_cc_free(&cc);
    net_model_free(&net);
    weft_free(net.cc_modules);
    weft_free(net.dir);
    weft_free(net.bin);
    return rc;
}

static int cmd_up(int argc, char **argv)
{
    struct up_opts o = {.dir = DEFAULT_DIR,
                        .channel = "mychannel",
                        .orderers = 3,
                        .orgs = 2,
                        .peers = 2,
                        .base_port = 7050};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            up_usage(stdout);
            return 0;
        } else if (flag_value(argc, argv, &i, "--orderers", &v)) {
            if (parse_int_flag("--orderers", v, 1, NET_MAX_ORDERERS, &o.orderers) != 0) {
                return 2;
            }
        } else if (flag_value(argc, argv, &i, "--orgs", &v)) {
            if (parse_int_flag("--orgs", v, 1, NET_MAX_ORGS, &o.orgs) != 0) {
                return 2;
            }
        } else if (flag_value(argc, argv, &i, "--peers", &v)) {
            if (parse_int_flag("--peers", v, 1, NET_MAX_PEERS, &o.peers) != 0) {
                return 2;
            }
        } else if (flag_value(argc, argv, &i, "--base-port", &v)) {
            if (parse_int_flag("--base-port", v, 1024, 65000, &o.base_port) != 0) {
                return 2;
            }
        } else if (flag_value(argc, argv, &i, "--channel", &v)) {
            if (v == NULL || !valid_channel(v) || strlen(v) >= NET_NAME_LEN) {
                fprintf(stderr, "weft network: --channel wants a name of lower-case letters, "
                                "digits, '.' and '-', starting with a letter\n");
                return 2;
            }
            o.channel = v;
        } else if (flag_value(argc, argv, &i, "--dir", &v)) {
            if (v == NULL || v[0] == '\0') {
                fprintf(stderr, "weft network: --dir wants a folder\n");
                return 2;
            }
            o.dir = v;
        } else if (flag_value(argc, argv, &i, "--chaincode-name", &v)) {
            if (v == NULL) {
                fprintf(stderr, "weft network: --chaincode-name wants a name\n");
                return 2;
            }
            o.chaincode_name = v;
        } else if (flag_value(argc, argv, &i, "--chaincode", &v)) {
            if (v == NULL || !file_exists(v)) {
                fprintf(stderr, "weft network: --chaincode wants an existing folder\n");
                return 2;
            }
            o.chaincode_dir = v;
        } else if (strcmp(argv[i], "--no-chaincode") == 0) {
            o.no_chaincode = true;
        } else if (strcmp(argv[i], "--no-channel") == 0) {
            o.no_channel = true;
        } else {
            fprintf(stderr, "weft network up: unknown argument '%s'\n\n", argv[i]);
            up_usage(stderr);
            return 2;
        }
    }
    int last = o.base_port + (o.orderers + o.orgs * o.peers) * NET_PORT_STRIDE;
    if (last > 65535) {
        fprintf(stderr, "weft network: --base-port %d leaves too few ports for %d nodes\n",
                o.base_port, o.orderers + o.orgs * o.peers);
        return 2;
    }
    return network_up(&o);
}

/* ---- down --------------------------------------------------------------- */

/* Config of the node whose PID file is run/<name>.pid. */
static char *node_config_for(const char *dir, const char *name)
{
    char *p = weft_asprintf("%s/nodes/%s/orderer.yaml", dir, name);
    if (p != NULL && file_exists(p)) {
        return p;
    }
    weft_free(p);
    return weft_asprintf("%s/nodes/%s/core.yaml", dir, name);
}

static int parse_dir_only(int argc, char **argv, const char **dir, void (*usage)(FILE *))
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (flag_value(argc, argv, &i, "--dir", &v) && v != NULL) {
            *dir = v;
        } else {
            fprintf(stderr, "weft network %s: unknown argument '%s'\n\n", argv[0], argv[i]);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static void down_usage(FILE *f)
{
    fprintf(f,
            "Usage: weft network down [--dir D]\n\n"
            "Stops the processes of the network in D (default ./%s) by their PID files:\n"
            "SIGTERM, then SIGKILL after %d s. Then removes D. Only a folder made by\n"
            "`weft network up` is removed.\n",
            DEFAULT_DIR, STOP_GRACE_MS / 1000);
}

static int cmd_down(int argc, char **argv)
{
    const char *d = DEFAULT_DIR;
    int prc = parse_dir_only(argc, argv, &d, down_usage);
    if (prc != 0) {
        return prc == 1 ? 0 : prc;
    }
    char *dir = abs_dir(d);
    char *marker = dir != NULL ? weft_asprintf("%s/" MARKER, dir) : NULL;
    char *run = dir != NULL ? weft_asprintf("%s/run", dir) : NULL;
    int rc = 0;
    if (dir == NULL || marker == NULL || run == NULL) {
        rc = 1;
        goto cleanup;
    }
    if (!file_exists(dir)) {
        printf("weft network: no network in %s\n", dir);
        goto cleanup;
    }
    if (!file_exists(marker)) {
        fprintf(stderr,
                "weft network: %s was not made by `weft network up` (no %s); "
                "leaving it alone\n",
                dir, MARKER);
        rc = 1;
        goto cleanup;
    }
    DIR *rd = opendir(run);
    int stopped = 0, failed = 0;
    struct dirent *e;
    while (rd != NULL && (e = readdir(rd)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".pid") != 0) {
            continue;
        }
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 4), e->d_name);
        char *pidf = weft_asprintf("%s/%s", run, e->d_name);
        char *cfg = node_config_for(dir, name);
        pid_t pid = pidf != NULL ? net_read_pid(pidf) : 0;
        if (cfg != NULL && pid > 0 && net_pid_is_node(pid, cfg)) {
            if (net_stop_pid(pid, cfg, STOP_GRACE_MS) == 0) {
                printf("  stopped %s (pid %ld)\n", name, (long)pid);
                stopped++;
            } else {
                fprintf(stderr, "weft network: %s (pid %ld) would not stop\n", name, (long)pid);
                failed++;
            }
        }
        weft_free(pidf);
        weft_free(cfg);
    }
    if (rd != NULL) {
        closedir(rd);
    }
    if (failed > 0) {
        fprintf(stderr, "weft network: %d process(es) still running; %s kept\n", failed, dir);
        rc = 1;
        goto cleanup;
    }
    if (rm_rf(dir) != 0) {
        fprintf(stderr, "weft network: cannot remove %s: %s\n", dir, strerror(errno));
        rc = 1;
        goto cleanup;
    }
    printf("weft network: stopped %d process(es), removed %s\n", stopped, dir);
cleanup:
    weft_free(dir);
    weft_free(marker);
    weft_free(run);
    return rc;
}

/* ---- status ------------------------------------------------------------- */

static void status_usage(FILE *f)
{
    fprintf(f,
            "Usage: weft network status [--dir D] [--json]\n\n"
            "For every node of the network in D (default ./%s): whether its process\n"
            "runs, its /healthz answer, its ledger height on the channel (from /metrics;\n"
            "'-' when not exported) and its role. Exit code 0 when all are healthy.\n",
            DEFAULT_DIR);
}

static json_t *load_network(const char *dir)
{
    char *path = weft_asprintf("%s/network.json", dir);
    json_error_t je;
    json_t *j = path != NULL ? json_load_file(path, 0, &je) : NULL;
    if (j == NULL) {
        fprintf(stderr, "weft network: no network.json in %s (is a network up there?)\n", dir);
    }
    weft_free(path);
    return j;
}

static int port_of(const char *endpoint)
{
    const char *c = endpoint != NULL ? strrchr(endpoint, ':') : NULL;
    int64_t v = 0;
    return c != NULL && weft_parse_i64(c + 1, &v) == 0 && v > 0 && v < 65536 ? (int)v : 0;
}

static int cmd_status(int argc, char **argv)
{
    const char *d = DEFAULT_DIR;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            status_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (flag_value(argc, argv, &i, "--dir", &v) && v != NULL) {
            d = v;
        } else {
            fprintf(stderr, "weft network status: unknown argument '%s'\n\n", argv[i]);
            status_usage(stderr);
            return 2;
        }
    }
    char *dir = abs_dir(d);
    json_t *netj = dir != NULL ? load_network(dir) : NULL;
    if (netj == NULL) {
        weft_free(dir);
        return 1;
    }
    const char *channel = json_string_value(json_object_get(netj, "channel"));
    json_t *nodes = json_object_get(netj, "nodes");
    json_t *out = json_array();
    struct weft_buf body;
    weft_buf_init(&body, 16u << 20);
    int unhealthy = 0;
    if (!as_json) {
        printf("%-26s %-8s %-10s %-8s %-9s %-7s %s\n", "NODE", "ROLE", "ORG", "PID", "PROCESS",
               "HEALTH", "HEIGHT");
    }
    size_t idx;
    json_t *n;
    json_array_foreach(nodes, idx, n)
    {
        const char *name = json_string_value(json_object_get(n, "name"));
        const char *role = json_string_value(json_object_get(n, "role"));
        const char *org = json_string_value(json_object_get(n, "org"));
        const char *cfg = json_string_value(json_object_get(n, "config"));
        const char *pidf = json_string_value(json_object_get(n, "pidFile"));
        json_t *ep = json_object_get(n, "endpoints");
        int ops = port_of(json_string_value(json_object_get(ep, "operations")));
        pid_t pid = pidf != NULL ? net_read_pid(pidf) : 0;
        bool running = cfg != NULL && pid > 0 && net_pid_is_node(pid, cfg);
        const char *health = "down";
        long long height = -1;
        if (running) {
            struct net_http_req r = {.method = "GET",
                                     .host = "127.0.0.1",
                                     .port = ops,
                                     .path = "/healthz",
                                     .timeout_ms = 3000};
            int st = 0;
            struct weft_err err = {0};
            if (net_http(&r, &st, &body, &err) == 0) {
                health = st == 200 ? "ok" : "failing";
            } else {
                health = "no-answer";
            }
            r.path = "/metrics";
            if (channel != NULL && net_http(&r, &st, &body, &err) == 0 && st == 200 &&
                body.data != NULL) {
                height = net_metrics_height((const char *)body.data, channel);
            }
        }
        if (strcmp(health, "ok") != 0) {
            unhealthy++;
        }
        if (as_json) {
            json_t *row = json_pack("{s:s,s:s,s:s,s:I,s:b,s:s}", "name", name ? name : "", "role",
                                    role ? role : "", "org", org ? org : "", "pid", (json_int_t)pid,
                                    "running", running, "health", health);
            if (row != NULL) {
                json_object_set_new(row, "height",
                                    height >= 0 ? json_integer(height) : json_null());
                json_array_append_new(out, row);
            }
        } else {
            char hs[32];
            snprintf(hs, sizeof(hs), height >= 0 ? "%lld" : "-", height);
            printf("%-26s %-8s %-10s %-8ld %-9s %-7s %s\n", name ? name : "?", role ? role : "?",
                   org ? org : "?", (long)pid, running ? "running" : "stopped", health, hs);
        }
    }
    if (as_json) {
        json_t *doc = json_pack("{s:s,s:s,s:o,s:b}", "dir", dir, "channel", channel ? channel : "",
                                "nodes", out, "healthy", unhealthy == 0);
        out = NULL;
        if (doc != NULL) {
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("\n");
            json_decref(doc);
        }
    } else {
        printf("\n%s\n", unhealthy == 0 ? "all nodes healthy" : "some nodes are not healthy");
    }
    json_decref(out);
    json_decref(netj);
    weft_buf_close(&body);
    weft_free(dir);
    return unhealthy == 0 ? 0 : 1;
}

/* ---- logs --------------------------------------------------------------- */

static void logs_usage(FILE *f)
{
    fprintf(f, "Usage: weft network logs NODE [-f] [-n LINES] [--dir D]\n\n"
               "Prints the last LINES (default 50) lines of a node's log; -f keeps\n"
               "printing new lines until interrupted. NODE is a name from\n"
               "`weft network status` (peer0.org1.example.com) or its first label with the\n"
               "org (peer0.org1, orderer0).\n");
}

static int cmd_logs(int argc, char **argv)
{
    const char *d = DEFAULT_DIR, *node = NULL;
    bool follow = false;
    int lines = 50;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            logs_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            follow = true;
        } else if (flag_value(argc, argv, &i, "-n", &v) ||
                   flag_value(argc, argv, &i, "--lines", &v)) {
            if (parse_int_flag("-n", v, 0, 1000000, &lines) != 0) {
                return 2;
            }
        } else if (flag_value(argc, argv, &i, "--dir", &v) && v != NULL) {
            d = v;
        } else if (argv[i][0] != '-' && node == NULL) {
            node = argv[i];
        } else {
            fprintf(stderr, "weft network logs: unknown argument '%s'\n\n", argv[i]);
            logs_usage(stderr);
            return 2;
        }
    }
    if (node == NULL) {
        logs_usage(stderr);
        return 2;
    }
    char *dir = abs_dir(d);
    if (dir == NULL) {
        return 1;
    }
    char *path = NULL;
    const char *suffixes[] = {"", ".example.com"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(suffixes) && path == NULL; i++) {
        char *p = weft_asprintf("%s/logs/%s%s.log", dir, node, suffixes[i]);
        if (p != NULL && file_exists(p) && strchr(node, '/') == NULL) {
            path = p;
        } else {
            weft_free(p);
        }
    }
    weft_free(dir);
    if (path == NULL) {
        fprintf(stderr, "weft network: no log for node '%s' in %s/logs\n", node, d);
        return 1;
    }
    int rc = net_tail(path, lines);
    if (rc != 0 || !follow) {
        weft_free(path);
        return rc == 0 ? 0 : 1;
    }
    FILE *f = fopen(path, "rb");
    weft_free(path);
    if (f == NULL) {
        return 1;
    }
    fseek(f, 0, SEEK_END);
    for (;;) {
        char buf[8192];
        size_t got = fread(buf, 1, sizeof(buf), f);
        if (got > 0) {
            fwrite(buf, 1, got, stdout);
            fflush(stdout);
            continue;
        }
        clearerr(f);
        sleep_ms(200);
    }
}

static const struct cmd_entry network_cmds[] = {
    {"up", "create and start a local network", cmd_up},
    {"down", "stop the network and remove its folder", cmd_down},
    {"status", "health, height and role of every node", cmd_status},
    {"logs", "print or follow one node's log", cmd_logs},
};

int cmd_network(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        top_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    return cmd_dispatch("weft network", "a local development network", network_cmds,
                        WEFT_ARRAY_LEN(network_cmds), argc - 1, argv + 1);
}
