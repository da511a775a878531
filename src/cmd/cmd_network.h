/*
 * `weft network`: shared model of a local development network, split over
 * cmd_network.c (commands), cmd_network_files.c (the files it writes) and
 * cmd_network_proc.c (processes and the small HTTP client).
 */
#ifndef WEFT_CMD_NETWORK_H
#define WEFT_CMD_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "weft/base.h"

/* Each node takes NET_PORT_STRIDE ports from the base port, in node order
 * (orderers first, then peers org by org):
 *   +0 gRPC, +1 chaincode (peer) or channel admin (orderer), +2 operations. */
#define NET_PORT_STRIDE 10
#define NET_MAX_ORDERERS 9
#define NET_MAX_ORGS 9
#define NET_MAX_PEERS 9
#define NET_NAME_LEN 64

enum net_role {
    NET_ORDERER,
    NET_PEER,
};

struct net_node {
    enum net_role role;
    int org;                   /* 1..M for peers; 0 for orderers */
    int index;                 /* orderer0 / peer0 */
    char name[NET_NAME_LEN];   /* host name: orderer0.example.com, peer0.org1.example.com */
    char msp_id[NET_NAME_LEN]; /* OrdererMSP, Org1MSP */
    int port;                  /* gRPC */
    int aux_port;              /* peer: chaincode; orderer: channel participation admin */
    int ops_port;              /* operations HTTP (/healthz, /metrics) */
    char *node_dir;            /* D/nodes/<name> */
    char *config;              /* D/nodes/<name>/core.yaml | orderer.yaml */
    char *data_dir;            /* D/nodes/<name>/data */
    char *log;                 /* D/logs/<name>.log */
    char *pid_file;            /* D/run/<name>.pid */
    char *msp_dir;             /* the node's local MSP folder */
    char *tls_dir;             /* the node's tls/ folder */
    char *tls_ca;              /* TLS root of the node's organisation */
    pid_t pid;
};

struct net {
    char *dir; /* absolute state directory */
    char *bin; /* the weft binary that runs the nodes */
    char channel[NET_NAME_LEN];
    int n_orderers, n_orgs, n_peers;
    int base_port;
    struct net_node *nodes;
    size_t n_nodes;
    /* node_modules folder holding fabric-shim for Node chaincode without
     * its own (chaincode.node.modulesPath of every peer); NULL for none. */
    char *cc_modules;
};

/* The chaincode `up` deploys (cmd_network_cc.c). */
struct net_cc {
    char *dir;        /* absolute source folder */
    char *name;       /* name on the channel */
    char *label;      /* package label: <name>_1.0 */
    char *package;    /* D/channel-artifacts/<name>.tar.gz */
    char *package_id; /* <label>:<sha256 of the package> */
    char *policy;     /* AND('Org1MSP.peer', ...) */
    bool sample;      /* the bundled asset-transfer sample */
};

/* ---- cmd_network_files.c ------------------------------------------------ */

/* Fills net->nodes from the shape (dir, bin, counts and base port set). */
int net_model_build(struct net *net, struct weft_err *err);
void net_model_free(struct net *net);
/* Path under the state directory (caller frees). */
char *net_path(const struct net *net, const char *fmt, ...) WEFT_PRINTF(2, 3);
/* Organisation domain: example.com (org 0) or org<N>.example.com. */
void net_org_domain(int org, char *out, size_t len);

int net_write_crypto_config(const struct net *net, const char *path, struct weft_err *err);
int net_write_configtx(const struct net *net, const char *path, struct weft_err *err);
int net_write_node_config(const struct net *net, const struct net_node *n, struct weft_err *err);
/* network.json and one connection-org<N>.json per organisation. joined says
 * whether the orderers and peers joined the channel; chaincode names the
 * deployed chaincode or is NULL. */
int net_write_descriptors(const struct net *net, bool orderers_joined, bool peers_joined,
                          const char *chaincode, struct weft_err *err);

/* ---- cmd_network_peer.c ------------------------------------------------- */

/* Organisation admin's MSP folder (caller frees). */
char *net_admin_msp(const struct net *net, int org);
/* Runs `weft channel join` against every (running) peer as its org's admin
 * and waits until each has the genesis block. Tool output goes to log;
 * failures are printed. */
int net_peers_join(const struct net *net, const char *block, const char *log);
/* Height of the peer on the channel from its /metrics
 * (ledger_blockchain_height), else -1. */
long long net_peer_height(const struct net_node *n, const char *channel);
/* Height from a Prometheus text page: ledger_blockchain_height{channel}
 * (peers), else consensus_etcdraft_committed_block_number + 1 (orderers);
 * -1 when neither is there. */
long long net_metrics_height(const char *page, const char *channel);

/* ---- cmd_network_cc.c --------------------------------------------------- */

/* Chooses the chaincode (dir_opt, else the bundled sample found beside this
 * binary or in the working directory), its name and the node_modules
 * folder with fabric-shim the peers use (net->cc_modules). Prints what is
 * missing and returns non-zero when the chaincode cannot run. */
int net_cc_resolve(struct net *net, const char *dir_opt, const char *name_opt,
                   struct net_cc *cc);
/* package, install on every peer, approve per org (endorsed by all the
 * org's peers), commit, wait until every peer has the definition and, for
 * the sample, answers a query. */
int net_cc_deploy(const struct net *net, struct net_cc *cc, const char *log);
void net_cc_free(struct net_cc *cc);

/* ---- cmd_network_proc.c ------------------------------------------------- */

/* Runs `bin argv...` to completion, output appended to log; returns its exit
 * status (0 success) or a negative code. */
int net_run_tool(const char *bin, char *const argv[], const char *log, struct weft_err *err);
/* The same with extra environment ("NAME=value", NULL-terminated) over this
 * process's, minus the CORE_PEER_* identity and address variables. */
int net_run_tool_env(const char *bin, char *const argv[], char *const env[], const char *log,
                     struct weft_err *err);
/* Starts a tool without waiting (see net_wait_tool). */
int net_spawn_tool(const char *bin, char *const argv[], char *const env[], const char *log,
                   pid_t *pid, struct weft_err *err);
/* Waits for a tool started by net_spawn_tool; its exit status. */
int net_wait_tool(pid_t pid, const char *what, struct weft_err *err);
/* Starts the node in the background (own session, output to its log), writes
 * its PID file and sets n->pid. */
int net_start_node(const struct net *net, struct net_node *n, struct weft_err *err);
/* True when pid is alive and its command line mentions config (so a recycled
 * PID is never mistaken for the node). */
bool net_pid_is_node(pid_t pid, const char *config);
/* Reads a PID file; 0 when absent or malformed. */
pid_t net_read_pid(const char *pid_file);
/* SIGTERM, then SIGKILL after grace_ms; waits until gone. Returns 0 when
 * stopped (or already gone). */
int net_stop_pid(pid_t pid, const char *config, int grace_ms);

struct net_http_req {
    const char *method; /* "GET", "POST" */
    const char *host;   /* 127.0.0.1 */
    int port;
    const char *path;
    const char *content_type; /* may be NULL */
    const uint8_t *body;
    size_t body_len;
    /* TLS when ca_file is set; client certificate when cert_file is set. */
    const char *ca_file, *cert_file, *key_file, *server_name;
    int timeout_ms;
    /* A refused connection is tried again for this long: the request never
     * reached the server, which may still be starting (an orderer answers
     * /healthz before its admin endpoint listens). 0 = no retry. */
    int connect_wait_ms;
};

/* One HTTP/1.1 request with Connection: close. *status is the HTTP status;
 * body (caller-initialised) receives the decoded body. */
int net_http(const struct net_http_req *r, int *status, struct weft_buf *body,
             struct weft_err *err);

/* Prints the last `lines` lines of a file to stdout. */
int net_tail(const char *path, int lines);

#endif
