/*
 * `weft network up`: peers join the channel, and peer heights.
 *
 * DESIGN
 * As in Fabric, a running peer joins a channel through cscc JoinChain: a
 * proposal signed by an admin of the peer's organisation. `up` runs
 * `weft channel join` (the `peer channel join` equivalent) once per peer,
 * all at once, each as its organisation's Admin over TLS, after the peers
 * answer /healthz; the peer creates the channel ledger from the genesis
 * block and starts pulling blocks from the orderers. Nothing is done to a
 * peer's files from outside.
 *
 * Heights come from each node's Prometheus page: ledger_blockchain_height
 * {channel} on peers, consensus_etcdraft_committed_block_number + 1 on
 * orderers (the same numbers `weft network status` prints).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_network.h"

char *net_admin_msp(const struct net *net, int org)
{
    char dom[NET_NAME_LEN];
    net_org_domain(org, dom, sizeof(dom));
    return net_path(net, "crypto/%s/%s/users/Admin@%s/msp",
                    org == 0 ? "ordererOrganizations" : "peerOrganizations", dom, dom);
}

int net_peers_join(const struct net *net, const char *block, const char *log)
{
    pid_t *pids = weft_calloc(net->n_nodes, sizeof(pid_t));
    int rc = pids != NULL ? 0 : WEFT_ENOMEM;
    for (size_t k = 0; rc == 0 && k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        if (n->role != NET_PEER) {
            continue;
        }
        char *msp = net_admin_msp(net, n->org);
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", n->port);
        char *argv[] = {(char *)"weft",    (char *)"channel",  (char *)"join",
                        (char *)"--peer",  addr,               (char *)"--mspid",
                        (char *)n->msp_id, (char *)"--msp",    msp,
                        (char *)"--tls",   (char *)"--cafile", n->tls_ca,
                        (char *)"--server-name", (char *)n->name, (char *)"--block",
                        (char *)block,     NULL};
        struct weft_err err = {0};
        rc = msp != NULL ? net_spawn_tool(net->bin, argv, NULL, log, &pids[k], &err) : WEFT_ENOMEM;
        weft_free(msp);
        if (rc != 0) {
            fprintf(stderr, "weft network: %s: weft channel join: %s\n", n->name,
                    err.msg[0] ? err.msg : weft_strerror(rc));
        }
    }
    /* Reap every join started, even after a failure. */
    bool failed = rc != 0;
    for (size_t k = 0; pids != NULL && k < net->n_nodes; k++) {
        if (pids[k] <= 0) {
            continue;
        }
        const struct net_node *n = &net->nodes[k];
        struct weft_err err = {0};
        int st = net_wait_tool(pids[k], "weft channel join", &err);
        if (st != 0) {
            fprintf(stderr, "weft network: %s: `weft channel join` failed (exit %d)\n", n->name,
                    st);
            failed = true;
        } else {
            printf("  %s joined %s (weft channel join as Admin@%s)\n", n->name, net->channel,
                   strchr(n->name, '.') + 1);
        }
    }
    weft_free(pids);
    if (failed) {
        fprintf(stderr, "weft network: the joins' output (%s):\n", log);
        fflush(stderr);
        net_tail(log, 20);
        return rc != 0 ? rc : WEFT_EUNAVAILABLE;
    }
    return 0;
}

long long net_metrics_height(const char *page, const char *channel)
{
    char label[NET_NAME_LEN + 16];
    snprintf(label, sizeof(label), "channel=\"%s\"", channel);
    static const struct {
        const char *name;
        long long add;
    } names[] = {{"ledger_blockchain_height", 0}, {"consensus_etcdraft_committed_block_number", 1}};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(names); i++) {
        size_t nl = strlen(names[i].name);
        for (const char *line = page; line != NULL && *line != '\0';) {
            const char *eol = strchr(line, '\n');
            size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
            if (len > nl && strncmp(line, names[i].name, nl) == 0 &&
                (line[nl] == '{' || line[nl] == ' ')) {
                const char *lab = memmem(line, len, label, strlen(label));
                const char *sp = memrchr(line, ' ', len);
                if ((line[nl] == ' ' || lab != NULL) && sp != NULL) {
                    return (long long)strtod(sp + 1, NULL) + names[i].add;
                }
            }
            line = eol != NULL ? eol + 1 : NULL;
        }
    }
    return -1;
}

long long net_peer_height(const struct net_node *n, const char *channel)
{
    struct weft_buf body;
    weft_buf_init(&body, 16u << 20);
    struct net_http_req r = {
        .method = "GET", .host = "127.0.0.1", .port = n->ops_port, .path = "/metrics",
        .timeout_ms = 3000};
    int st = 0;
    struct weft_err err = {0};
    long long h = -1;
    if (net_http(&r, &st, &body, &err) == 0 && st == 200 && body.data != NULL) {
        h = net_metrics_height((const char *)body.data, channel);
    }
    weft_buf_close(&body);
    return h;
}
