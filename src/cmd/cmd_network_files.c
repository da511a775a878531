/*
 * `weft network`: the network's shape and every file it writes.
 *
 * DESIGN
 * The shape (orderers, organisations, peers, base port) determines all
 * names, ports and paths, so `up` computes them once here (net_model_build)
 * and the other commands read them back from network.json or the PID files.
 * Files are written from that model:
 *   crypto-config.yaml   input of `weft crypto generate` (cryptogen format)
 *   configtx.yaml        input of `weft configtx genesis` (configtxgen format)
 *   nodes/<name>/core.yaml | orderer.yaml   one per node, TLS on, absolute paths
 *   network.json         every node: name, role, org, MSP ID, endpoints, paths, PID
 *   connection-org<N>.json  a Fabric common connection profile per organisation
 * YAML is printed directly (the values are ours: host names, ports and
 * absolute paths, quoted); JSON goes through jansson.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd_network.h"

void net_org_domain(int org, char *out, size_t len)
{
    if (org == 0) {
        snprintf(out, len, "example.com");
    } else {
        snprintf(out, len, "org%d.example.com", org);
    }
}

char *net_path(const struct net *net, const char *fmt, ...)
{
    char rel[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rel, sizeof(rel), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(rel)) {
        return NULL;
    }
    return weft_asprintf("%s/%s", net->dir, rel);
}

/* An orderer's consenter port: its own mutual-TLS cluster listener
 * (General.Cluster.ListenPort), inside the node's NET_PORT_STRIDE range. The
 * main listener does not ask clients for certificates, so consenters could
 * not authenticate there. */
#define ORDERER_CLUSTER_PORT(n) ((n)->port + 3)

static int node_paths(const struct net *net, struct net_node *n)
{
    char dom[NET_NAME_LEN];
    net_org_domain(n->org, dom, sizeof(dom));
    const char *kind = n->role == NET_ORDERER ? "ordererOrganizations" : "peerOrganizations";
    const char *sub = n->role == NET_ORDERER ? "orderers" : "peers";
    n->node_dir = net_path(net, "nodes/%s", n->name);
    n->config = net_path(net, "nodes/%s/%s", n->name,
                         n->role == NET_ORDERER ? "orderer.yaml" : "core.yaml");
    n->data_dir = net_path(net, "nodes/%s/data", n->name);
    n->log = net_path(net, "logs/%s.log", n->name);
    n->pid_file = net_path(net, "run/%s.pid", n->name);
    n->msp_dir = net_path(net, "crypto/%s/%s/%s/%s/msp", kind, dom, sub, n->name);
    n->tls_dir = net_path(net, "crypto/%s/%s/%s/%s/tls", kind, dom, sub, n->name);
    n->tls_ca = net_path(net, "crypto/%s/%s/tlsca/tlsca.%s-cert.pem", kind, dom, dom);
    return n->node_dir && n->config && n->data_dir && n->log && n->pid_file && n->msp_dir &&
                   n->tls_dir && n->tls_ca
               ? 0
               : WEFT_ENOMEM;
}

int net_model_build(struct net *net, struct weft_err *err)
{
    size_t total = (size_t)net->n_orderers + (size_t)net->n_orgs * (size_t)net->n_peers;
    net->nodes = weft_calloc(total, sizeof(*net->nodes));
    if (net->nodes == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    net->n_nodes = total;
    size_t k = 0;
    for (int i = 0; i < net->n_orderers; i++, k++) {
        struct net_node *n = &net->nodes[k];
        n->role = NET_ORDERER;
        n->org = 0;
        n->index = i;
        snprintf(n->name, sizeof(n->name), "orderer%d.example.com", i);
        snprintf(n->msp_id, sizeof(n->msp_id), "OrdererMSP");
    }
    for (int o = 1; o <= net->n_orgs; o++) {
        for (int p = 0; p < net->n_peers; p++, k++) {
            struct net_node *n = &net->nodes[k];
            n->role = NET_PEER;
            n->org = o;
            n->index = p;
            snprintf(n->name, sizeof(n->name), "peer%d.org%d.example.com", p, o);
            snprintf(n->msp_id, sizeof(n->msp_id), "Org%dMSP", o);
        }
    }
    for (k = 0; k < total; k++) {
        struct net_node *n = &net->nodes[k];
        n->port = net->base_port + (int)k * NET_PORT_STRIDE;
        n->aux_port = n->port + 1;
        n->ops_port = n->port + 2;
        if (node_paths(net, n) != 0) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    return 0;
}

void net_model_free(struct net *net)
{
    for (size_t k = 0; k < net->n_nodes; k++) {
        struct net_node *n = &net->nodes[k];
        weft_free(n->node_dir);
        weft_free(n->config);
        weft_free(n->data_dir);
        weft_free(n->log);
        weft_free(n->pid_file);
        weft_free(n->msp_dir);
        weft_free(n->tls_dir);
        weft_free(n->tls_ca);
    }
    weft_free(net->nodes);
    net->nodes = NULL;
    net->n_nodes = 0;
}

static FILE *open_out(const char *path, struct weft_err *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        weft_err_set(err, WEFT_EIO, "cannot write %s", path);
    }
    return f;
}

static int close_out(FILE *f, const char *path, struct weft_err *err)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        return weft_err_set(err, WEFT_EIO, "error writing %s", path);
    }
    return 0;
}

int net_write_crypto_config(const struct net *net, const char *path, struct weft_err *err)
{
    FILE *f = open_out(path, err);
    if (f == NULL) {
        return WEFT_EIO;
    }
    fprintf(f, "# Written by `weft network up`: identities of this network\n"
               "# (input of `weft crypto generate`, Fabric cryptogen format).\n"
               "OrdererOrgs:\n"
               "  - Name: Orderer\n"
               "    Domain: example.com\n"
               "    EnableNodeOUs: true\n"
               "    Specs:\n");
    for (int i = 0; i < net->n_orderers; i++) {
        fprintf(f, "      - Hostname: orderer%d\n", i);
    }
    fprintf(f, "PeerOrgs:\n");
    for (int o = 1; o <= net->n_orgs; o++) {
        fprintf(f,
                "  - Name: Org%d\n"
                "    Domain: org%d.example.com\n"
                "    EnableNodeOUs: true\n"
                "    Template:\n"
                "      Count: %d\n"
                "    Users:\n"
                "      Count: 1\n",
                o, o, net->n_peers);
    }
    return close_out(f, path, err);
}

int net_write_configtx(const struct net *net, const char *path, struct weft_err *err)
{
    FILE *f = open_out(path, err);
    if (f == NULL) {
        return WEFT_EIO;
    }
    fprintf(f, "# Written by `weft network up`: the channel of this network\n"
               "# (input of `weft configtx genesis`, Fabric configtx.yaml format).\n"
               "# Paths are relative to this file.\n"
               "Organizations:\n"
               "  - &OrdererOrg\n"
               "    Name: OrdererOrg\n"
               "    ID: OrdererMSP\n"
               "    MSPDir: crypto/ordererOrganizations/example.com/msp\n"
               "    Policies:\n"
               "      Readers: {Type: Signature, Rule: \"OR('OrdererMSP.member')\"}\n"
               "      Writers: {Type: Signature, Rule: \"OR('OrdererMSP.member')\"}\n"
               "      Admins: {Type: Signature, Rule: \"OR('OrdererMSP.admin')\"}\n"
               "    OrdererEndpoints:\n");
    for (size_t k = 0; k < net->n_nodes; k++) {
        if (net->nodes[k].role == NET_ORDERER) {
            fprintf(f, "      - 127.0.0.1:%d\n", net->nodes[k].port);
        }
    }
    for (int o = 1; o <= net->n_orgs; o++) {
        fprintf(f,
                "  - &Org%d\n"
                "    Name: Org%dMSP\n"
                "    ID: Org%dMSP\n"
                "    MSPDir: crypto/peerOrganizations/org%d.example.com/msp\n"
                "    Policies:\n"
                "      Readers: {Type: Signature, Rule: \"OR('Org%dMSP.admin', 'Org%dMSP.peer', "
                "'Org%dMSP.client')\"}\n"
                "      Writers: {Type: Signature, Rule: \"OR('Org%dMSP.admin', "
                "'Org%dMSP.client')\"}\n"
                "      Admins: {Type: Signature, Rule: \"OR('Org%dMSP.admin')\"}\n"
                "      Endorsement: {Type: Signature, Rule: \"OR('Org%dMSP.peer')\"}\n"
                "    AnchorPeers:\n",
                o, o, o, o, o, o, o, o, o, o, o);
        /* every peer: without gossip, another org's gateway knows an org's
         * peers from its anchor peers only, and needs them all to route
         * around a stopped one */
        for (size_t k = 0; k < net->n_nodes; k++) {
            const struct net_node *n = &net->nodes[k];
            if (n->role == NET_PEER && n->org == o) {
                fprintf(f, "      - Host: 127.0.0.1\n        Port: %d\n", n->port);
            }
        }
    }
    fprintf(f, "Capabilities:\n"
               "  Channel: &ChannelCapabilities\n"
               "    V2_0: true\n"
               "  Orderer: &OrdererCapabilities\n"
               "    V2_0: true\n"
               "  Application: &ApplicationCapabilities\n"
               "    V2_0: true\n"
               "Application: &ApplicationDefaults\n"
               "  Organizations:\n"
               "  Policies:\n"
               "    Readers: {Type: ImplicitMeta, Rule: \"ANY Readers\"}\n"
               "    Writers: {Type: ImplicitMeta, Rule: \"ANY Writers\"}\n"
               "    Admins: {Type: ImplicitMeta, Rule: \"MAJORITY Admins\"}\n"
               "    LifecycleEndorsement: {Type: ImplicitMeta, Rule: \"MAJORITY Endorsement\"}\n"
               "    Endorsement: {Type: ImplicitMeta, Rule: \"MAJORITY Endorsement\"}\n"
               "  Capabilities:\n"
               "    <<: *ApplicationCapabilities\n"
               "Orderer: &OrdererDefaults\n"
               "  OrdererType: etcdraft\n"
               "  EtcdRaft:\n"
               "    Consenters:\n");
    for (size_t k = 0; k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        if (n->role != NET_ORDERER) {
            continue;
        }
        fprintf(f,
                "      - Host: 127.0.0.1\n"
                "        Port: %d\n"
                "        ClientTLSCert: crypto/ordererOrganizations/example.com/orderers/%s/tls/"
                "server.crt\n"
                "        ServerTLSCert: crypto/ordererOrganizations/example.com/orderers/%s/tls/"
                "server.crt\n",
                ORDERER_CLUSTER_PORT(n), n->name, n->name);
    }
    /* WEFT_NETWORK_BATCH_TIMEOUT (e.g. 250ms): benchmarks */
    const char *bt = getenv("WEFT_NETWORK_BATCH_TIMEOUT");
    if (bt == NULL || bt[0] == 0 || strlen(bt) > 16 || strspn(bt, "0123456789.msh") != strlen(bt)) {
        bt = "2s";
    }
    /* WEFT_NETWORK_MAX_MESSAGE_COUNT (e.g. 500): benchmarks; Fabric's
     * test network cuts blocks of 10 */
    const char *mc = getenv("WEFT_NETWORK_MAX_MESSAGE_COUNT");
    if (mc == NULL || mc[0] == 0 || strlen(mc) > 6 || strspn(mc, "0123456789") != strlen(mc) ||
        strspn(mc, "0") == strlen(mc)) {
        mc = "10";
    }
    fprintf(f, "    Options:\n"
               "      TickInterval: 500ms\n"
               "      ElectionTick: 10\n"
               "      HeartbeatTick: 1\n"
               "      MaxInflightBlocks: 5\n"
               "      SnapshotIntervalSize: 16 MB\n"
               "  BatchTimeout: %s\n"
               "  BatchSize:\n"
               "    MaxMessageCount: %s\n"
               "    AbsoluteMaxBytes: 99 MB\n"
               "    PreferredMaxBytes: 512 KB\n"
               "  Organizations:\n"
               "  Policies:\n"
               "    Readers: {Type: ImplicitMeta, Rule: \"ANY Readers\"}\n"
               "    Writers: {Type: ImplicitMeta, Rule: \"ANY Writers\"}\n"
               "    Admins: {Type: ImplicitMeta, Rule: \"MAJORITY Admins\"}\n"
               "    BlockValidation: {Type: ImplicitMeta, Rule: \"ANY Writers\"}\n"
               "Channel: &ChannelDefaults\n"
               "  Policies:\n"
               "    Readers: {Type: ImplicitMeta, Rule: \"ANY Readers\"}\n"
               "    Writers: {Type: ImplicitMeta, Rule: \"ANY Writers\"}\n"
               "    Admins: {Type: ImplicitMeta, Rule: \"MAJORITY Admins\"}\n"
               "  Capabilities:\n"
               "    <<: *ChannelCapabilities\n"
               "Profiles:\n"
               "  WeftNetwork:\n"
               "    <<: *ChannelDefaults\n"
               "    Orderer:\n"
               "      <<: *OrdererDefaults\n"
               "      Organizations:\n"
               "        - *OrdererOrg\n"
               "      Capabilities: *OrdererCapabilities\n"
               "    Application:\n"
               "      <<: *ApplicationDefaults\n"
               "      Organizations:\n",
            bt, mc);
    for (int o = 1; o <= net->n_orgs; o++) {
        fprintf(f, "        - *Org%d\n", o);
    }
    fprintf(f, "      Capabilities: *ApplicationCapabilities\n");
    return close_out(f, path, err);
}

static void write_peer_yaml(FILE *f, const struct net *net, const struct net_node *n)
{
    /* Gossip bootstrap: the org's first peer (or the second, for the first). */
    int boot_port = n->port;
    for (size_t k = 0; k < net->n_nodes; k++) {
        const struct net_node *o = &net->nodes[k];
        if (o->role == NET_PEER && o->org == n->org && o != n) {
            boot_port = o->port;
            break;
        }
    }
    /* fabric-shim for Node chaincode packages without their own */
    char *modules = net->cc_modules != NULL
                        ? weft_asprintf("  node:\n    modulesPath: \"%s\"\n", net->cc_modules)
                        : NULL;
    fprintf(f,
            "peer:\n"
            "  id: \"%s\"\n"
            "  networkId: weft-net\n"
            "  listenAddress: 127.0.0.1:%d\n"
            "  address: 127.0.0.1:%d\n"
            "  chaincodeListenAddress: 127.0.0.1:%d\n"
            "  chaincodeAddress: 127.0.0.1:%d\n"
            "  fileSystemPath: \"%s\"\n"
            "  mspConfigPath: \"%s\"\n"
            "  localMspId: %s\n"
            "  tls:\n"
            "    enabled: true\n"
            "    clientAuthRequired: false\n"
            "    cert: {file: \"%s/server.crt\"}\n"
            "    key: {file: \"%s/server.key\"}\n"
            "    rootcert: {file: \"%s/ca.crt\"}\n"
            "  gateway:\n"
            "    enabled: true\n"
            "  discovery:\n"
            "    enabled: true\n"
            "  gossip:\n"
            "    bootstrap: [\"127.0.0.1:%d\"]\n"
            "    endpoint: 127.0.0.1:%d\n"
            "    externalEndpoint: 127.0.0.1:%d\n"
            "    useLeaderElection: false\n"
            "    orgLeader: true\n"
            "chaincode:\n"
            "  mode: net\n"
            "%s"
            "ledger:\n"
            "  state:\n"
            "    stateDatabase: goleveldb\n"
            "  history:\n"
            "    enableHistoryDatabase: true\n"
            "  snapshots:\n"
            "    rootDir: \"%s/snapshots\"\n"
            "operations:\n"
            "  listenAddress: 127.0.0.1:%d\n"
            "  tls:\n"
            "    enabled: false\n"
            "metrics:\n"
            "  provider: prometheus\n",
            n->name, n->port, n->port, n->aux_port, n->aux_port, n->data_dir, n->msp_dir, n->msp_id,
            n->tls_dir, n->tls_dir, n->tls_dir, boot_port, n->port, n->port,
            modules != NULL ? modules : "", n->data_dir, n->ops_port);
    weft_free(modules);
}

static void write_orderer_yaml(FILE *f, const struct net *net, const struct net_node *n)
{
    char *org_tlsca = net_path(net, "crypto/ordererOrganizations/example.com/tlsca/"
                                    "tlsca.example.com-cert.pem");
    fprintf(f,
            "General:\n"
            "  ListenAddress: 127.0.0.1\n"
            "  ListenPort: %d\n"
            "  TLS:\n"
            "    Enabled: true\n"
            "    PrivateKey: \"%s/server.key\"\n"
            "    Certificate: \"%s/server.crt\"\n"
            "    RootCAs: [\"%s/ca.crt\"]\n"
            "    ClientAuthRequired: false\n"
            "  Cluster:\n"
            "    ListenAddress: 127.0.0.1\n"
            "    ListenPort: %d\n"
            "    ServerCertificate: \"%s/server.crt\"\n"
            "    ServerPrivateKey: \"%s/server.key\"\n"
            "    ClientCertificate: \"%s/server.crt\"\n"
            "    ClientPrivateKey: \"%s/server.key\"\n"
            "    RootCAs: [\"%s/ca.crt\"]\n"
            "  BootstrapMethod: none\n"
            "  LocalMSPDir: \"%s\"\n"
            "  LocalMSPID: OrdererMSP\n"
            "FileLedger:\n"
            "  Location: \"%s/ledger\"\n"
            "Consensus:\n"
            "  WALDir: \"%s/etcdraft/wal\"\n"
            "  SnapDir: \"%s/etcdraft/snapshot\"\n"
            "Operations:\n"
            "  ListenAddress: 127.0.0.1:%d\n"
            "  TLS:\n"
            "    Enabled: false\n"
            "Metrics:\n"
            "  Provider: prometheus\n"
            "Admin:\n"
            "  ListenAddress: 127.0.0.1:%d\n"
            "  TLS:\n"
            "    Enabled: true\n"
            "    Certificate: \"%s/server.crt\"\n"
            "    PrivateKey: \"%s/server.key\"\n"
            "    ClientAuthRequired: true\n"
            "    ClientRootCAs: [\"%s\"]\n"
            "ChannelParticipation:\n"
            "  Enabled: true\n",
            n->port, n->tls_dir, n->tls_dir, n->tls_dir, ORDERER_CLUSTER_PORT(n), n->tls_dir,
            n->tls_dir, n->tls_dir, n->tls_dir, n->tls_dir, n->msp_dir,
            n->data_dir, n->data_dir, n->data_dir, n->ops_port, n->aux_port, n->tls_dir, n->tls_dir,
            org_tlsca != NULL ? org_tlsca : "");
    weft_free(org_tlsca);
}

int net_write_node_config(const struct net *net, const struct net_node *n, struct weft_err *err)
{
    FILE *f = open_out(n->config, err);
    if (f == NULL) {
        return WEFT_EIO;
    }
    fprintf(f, "# Written by `weft network up` for %s (see docs/configuration.md).\n", n->name);
    if (n->role == NET_PEER) {
        write_peer_yaml(f, net, n);
    } else {
        write_orderer_yaml(f, net, n);
    }
    return close_out(f, n->config, err);
}

/* ---- JSON descriptors --------------------------------------------------- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, got);
    }
    fclose(f);
    if (rc != 0 || b.len == 0) {
        weft_buf_close(&b);
        return NULL;
    }
    return (char *)weft_buf_steal(&b, NULL);
}

/* Sets key to a new string; returns -1 on failure (jansson reports none). */
static int set_str(json_t *o, const char *key, const char *v)
{
    return json_object_set_new(o, key, json_string(v != NULL ? v : ""));
}

static int set_fmt(json_t *o, const char *key, const char *fmt, ...) WEFT_PRINTF(3, 4);
static int set_fmt(json_t *o, const char *key, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return set_str(o, key, buf);
}

static json_t *node_json(const struct net *net, const struct net_node *n, bool joined)
{
    json_t *j = json_object();
    json_t *ep = json_object();
    if (j == NULL || ep == NULL) {
        json_decref(j);
        json_decref(ep);
        return NULL;
    }
    char org[NET_NAME_LEN];
    if (n->role == NET_ORDERER) {
        snprintf(org, sizeof(org), "OrdererOrg");
    } else {
        snprintf(org, sizeof(org), "Org%d", n->org);
    }
    int rc = set_str(j, "name", n->name);
    rc |= set_str(j, "role", n->role == NET_ORDERER ? "orderer" : "peer");
    rc |= set_str(j, "org", org);
    rc |= set_str(j, "mspId", n->msp_id);
    rc |= set_fmt(ep, "grpc", "127.0.0.1:%d", n->port);
    if (n->role == NET_ORDERER) {
        rc |= set_fmt(ep, "admin", "127.0.0.1:%d", n->aux_port);
    } else {
        rc |= set_fmt(ep, "chaincode", "127.0.0.1:%d", n->aux_port);
    }
    rc |= set_fmt(ep, "operations", "127.0.0.1:%d", n->ops_port);
    rc |= json_object_set_new(j, "endpoints", ep);
    rc |= set_str(j, "tlsRootCert", n->tls_ca);
    rc |= set_str(j, "tlsDir", n->tls_dir);
    rc |= set_str(j, "mspDir", n->msp_dir);
    rc |= set_str(j, "config", n->config);
    rc |= set_str(j, "dataDir", n->data_dir);
    rc |= set_str(j, "log", n->log);
    rc |= set_str(j, "pidFile", n->pid_file);
    rc |= json_object_set_new(j, "pid", json_integer((json_int_t)n->pid));
    json_t *chans = json_array();
    if (chans != NULL && joined) {
        rc |= json_array_append_new(chans, json_string(net->channel));
    }
    rc |= json_object_set_new(j, "channels", chans);
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Client identity paths of one user of an organisation. */
static json_t *identity_json(const struct net *net, int org, const char *user)
{
    char dom[NET_NAME_LEN];
    net_org_domain(org, dom, sizeof(dom));
    const char *kind = org == 0 ? "ordererOrganizations" : "peerOrganizations";
    char *base = net_path(net, "crypto/%s/%s/users/%s@%s", kind, dom, user, dom);
    json_t *j = json_object();
    if (base == NULL || j == NULL) {
        weft_free(base);
        json_decref(j);
        return NULL;
    }
    int rc = set_fmt(j, "mspDir", "%s/msp", base);
    rc |= set_fmt(j, "cert", "%s/msp/signcerts/%s@%s-cert.pem", base, user, dom);
    rc |= set_fmt(j, "key", "%s/msp/keystore/priv_sk", base);
    rc |= set_fmt(j, "tlsCert", "%s/tls/client.crt", base);
    rc |= set_fmt(j, "tlsKey", "%s/tls/client.key", base);
    weft_free(base);
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *profile_node(const struct net_node *n)
{
    char *pem = read_text(n->tls_ca);
    json_t *j = json_object();
    json_t *tls = json_object();
    json_t *grpc = json_object();
    int rc = (pem == NULL || j == NULL || tls == NULL || grpc == NULL) ? -1 : 0;
    if (rc == 0) {
        rc |= set_fmt(j, "url", "grpcs://127.0.0.1:%d", n->port);
        rc |= set_str(tls, "pem", pem);
        rc |= set_str(tls, "path", n->tls_ca);
        rc |= set_str(grpc, "ssl-target-name-override", n->name);
        rc |= set_str(grpc, "hostnameOverride", n->name);
        rc |= json_object_set(j, "tlsCACerts", tls);
        rc |= json_object_set(j, "grpcOptions", grpc);
    }
    weft_free(pem);
    json_decref(tls);
    json_decref(grpc);
    if (rc != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A Fabric common connection profile (the format fabric-network 2.2 and
 * the Fabric samples read) for organisation `org`. */
static json_t *connection_profile(const struct net *net, int org)
{
    json_t *p = json_object();
    json_t *client = json_object();
    json_t *orgs = json_object();
    json_t *peers = json_object();
    json_t *orderers = json_object();
    json_t *channels = json_object();
    json_t *chan = json_object();
    json_t *chan_peers = json_object();
    json_t *chan_orderers = json_array();
    int rc = (p && client && orgs && peers && orderers && channels && chan && chan_peers &&
              chan_orderers)
                 ? 0
                 : -1;
    if (rc == 0) {
        rc |= set_fmt(p, "name", "weft-net-org%d", org);
        rc |= set_str(p, "version", "1.0.0");
        rc |= set_fmt(client, "organization", "Org%d", org);
        json_t *timeout =
            json_pack("{s:{s:{s:s},s:s}}", "timeout", "peer", "endorser", "300", "orderer", "300");
        rc |= json_object_set_new(client, "connection", timeout);
    }
    for (int o = 1; rc == 0 && o <= net->n_orgs; o++) {
        json_t *oj = json_object();
        json_t *plist = json_array();
        rc |= (oj && plist) ? 0 : -1;
        for (size_t k = 0; rc == 0 && k < net->n_nodes; k++) {
            const struct net_node *n = &net->nodes[k];
            if (n->role == NET_PEER && n->org == o) {
                rc |= json_array_append_new(plist, json_string(n->name));
                rc |= json_object_set_new(peers, n->name, profile_node(n));
                json_t *roles = json_pack("{s:b,s:b,s:b,s:b}", "endorsingPeer", 1, "chaincodeQuery",
                                          1, "ledgerQuery", 1, "eventSource", 1);
                rc |= json_object_set_new(chan_peers, n->name, roles);
            }
        }
        char name[NET_NAME_LEN];
        snprintf(name, sizeof(name), "Org%d", o);
        rc |= set_fmt(oj, "mspid", "Org%dMSP", o);
        rc |= json_object_set_new(oj, "peers", plist);
        rc |= json_object_set_new(oj, "certificateAuthorities", json_array());
        rc |= json_object_set_new(orgs, name, oj);
    }
    for (size_t k = 0; rc == 0 && k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        if (n->role == NET_ORDERER) {
            rc |= json_object_set_new(orderers, n->name, profile_node(n));
            rc |= json_array_append_new(chan_orderers, json_string(n->name));
        }
    }
    if (rc == 0) {
        rc |= json_object_set(chan, "orderers", chan_orderers);
        rc |= json_object_set(chan, "peers", chan_peers);
        rc |= json_object_set(channels, net->channel, chan);
        rc |= json_object_set(p, "client", client);
        rc |= json_object_set(p, "channels", channels);
        rc |= json_object_set(p, "organizations", orgs);
        rc |= json_object_set(p, "orderers", orderers);
        rc |= json_object_set(p, "peers", peers);
        rc |= json_object_set_new(p, "certificateAuthorities", json_object());
    }
    json_decref(client);
    json_decref(orgs);
    json_decref(peers);
    json_decref(orderers);
    json_decref(channels);
    json_decref(chan);
    json_decref(chan_peers);
    json_decref(chan_orderers);
    if (rc != 0) {
        json_decref(p);
        return NULL;
    }
    return p;
}

static int dump(json_t *j, const char *path, struct weft_err *err)
{
    if (j == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "cannot build %s", path);
    }
    char *tmp = weft_asprintf("%s.tmp", path);
    int rc = tmp == NULL ? -1 : json_dump_file(j, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
    }
    weft_free(tmp);
    json_decref(j);
    return rc == 0 ? 0 : weft_err_set(err, WEFT_EIO, "cannot write %s", path);
}

int net_write_descriptors(const struct net *net, bool orderers_joined, bool peers_joined,
                          const char *chaincode, struct weft_err *err)
{
    int rc = 0;
    for (int o = 1; rc == 0 && o <= net->n_orgs; o++) {
        char *path = net_path(net, "connection-org%d.json", o);
        rc = path == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                          : dump(connection_profile(net, o), path, err);
        weft_free(path);
    }
    if (rc != 0) {
        return rc;
    }
    json_t *root = json_object();
    json_t *nodes = json_array();
    json_t *orgs = json_array();
    char *block = net_path(net, "channel-artifacts/%s.block", net->channel);
    int jr = (root && nodes && orgs && block) ? 0 : -1;
    if (jr == 0) {
        jr |= set_str(root, "name", "weft-net");
        jr |= set_str(root, "dir", net->dir);
        jr |= set_str(root, "channel", net->channel);
        jr |= set_str(root, "genesisBlock", block);
        jr |= json_object_set_new(root, "basePort", json_integer(net->base_port));
        jr |= json_object_set_new(root, "chaincode",
                                  chaincode != NULL ? json_string(chaincode) : json_null());
        json_t *shape = json_pack("{s:i,s:i,s:i}", "orderers", net->n_orderers, "orgs", net->n_orgs,
                                  "peersPerOrg", net->n_peers);
        jr |= json_object_set_new(root, "shape", shape);
    }
    for (size_t k = 0; jr == 0 && k < net->n_nodes; k++) {
        const struct net_node *n = &net->nodes[k];
        bool joined = n->role == NET_ORDERER ? orderers_joined : peers_joined;
        jr |= json_array_append_new(nodes, node_json(net, n, joined));
    }
    for (int o = 0; jr == 0 && o <= net->n_orgs; o++) {
        json_t *oj = json_object();
        char dom[NET_NAME_LEN];
        net_org_domain(o, dom, sizeof(dom));
        const char *kind = o == 0 ? "ordererOrganizations" : "peerOrganizations";
        jr |= oj != NULL ? 0 : -1;
        if (jr != 0) {
            break;
        }
        if (o == 0) {
            jr |= set_str(oj, "name", "OrdererOrg");
            jr |= set_str(oj, "mspId", "OrdererMSP");
        } else {
            jr |= set_fmt(oj, "name", "Org%d", o);
            jr |= set_fmt(oj, "mspId", "Org%dMSP", o);
            char *cp = net_path(net, "connection-org%d.json", o);
            jr |= set_str(oj, "connectionProfile", cp);
            weft_free(cp);
            jr |= json_object_set_new(oj, "user", identity_json(net, o, "User1"));
        }
        jr |= set_str(oj, "domain", dom);
        jr |= set_fmt(oj, "mspDir", "%s/crypto/%s/%s/msp", net->dir, kind, dom);
        jr |= set_fmt(oj, "tlsRootCert", "%s/crypto/%s/%s/tlsca/tlsca.%s-cert.pem", net->dir, kind,
                      dom, dom);
        jr |= json_object_set_new(oj, "admin", identity_json(net, o, "Admin"));
        jr |= json_array_append_new(orgs, oj);
    }
    if (jr == 0) {
        jr |= json_object_set(root, "organizations", orgs);
        jr |= json_object_set(root, "nodes", nodes);
    }
    weft_free(block);
    json_decref(nodes);
    json_decref(orgs);
    if (jr != 0) {
        json_decref(root);
        return weft_err_set(err, WEFT_ENOMEM, "cannot build network.json");
    }
    char *path = net_path(net, "network.json");
    rc = path == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : dump(root, path, err);
    weft_free(path);
    return rc;
}
