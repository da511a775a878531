/*
 * Option tables for core.yaml (peer) and orderer.yaml (orderer).
 *
 * DESIGN
 * One static table per daemon is the single list of every option weft reads
 * (STYLE.md R35): weft_config_check() validates against it and supplies its
 * defaults, `--help` and `config dump` print it, and docs/configuration.md
 * holds its Markdown rendering (a unit test fails when they differ; run
 * tests/unit/config with WEFT_UPDATE_DOCS=1 to regenerate the doc tables).
 *
 * Key names and spellings are Fabric v2.4's, so existing core.yaml and
 * orderer.yaml files load unchanged. Defaults are what weft uses when the key
 * is absent: Fabric's code default where it has one, otherwise the value of
 * Fabric's sample file. Keys Fabric has but weft ignores (BCCSP) are listed
 * as trees so copied Fabric files load without warnings.
 */
#include "config_tables.h"

#define SEC 1000000000LL
#define MIB (1024LL * 1024)

#define KEY(p, t, d, text)                                                                         \
    {                                                                                              \
        .path = (p), .type = WEFT_CONFIG_##t, .default_value = (d), .doc = (text)                  \
    }
#define KEYB(p, t, d, lo, hi, text)                                                                \
    {                                                                                              \
        .path = (p), .type = WEFT_CONFIG_##t, .default_value = (d), .doc = (text), .min = (lo),    \
        .max = (hi)                                                                                \
    }
#define KEYC(p, d, ch, text)                                                                       \
    {                                                                                              \
        .path = (p), .type = WEFT_CONFIG_STRING, .default_value = (d), .doc = (text),              \
        .choices = (ch)                                                                            \
    }
#define ENVKEY(name, d, text)                                                                      \
    {                                                                                              \
        .path = (name), .type = WEFT_CONFIG_STRING, .default_value = (d), .doc = (text),           \
        .flags = WEFT_CONFIG_F_ENV_ONLY, .env = (name)                                             \
    }

static const char *const metrics_providers[] = {"disabled", "prometheus", "statsd", NULL};
static const char *const state_databases[] = {"goleveldb", "CouchDB", NULL};
static const char *const chaincode_modes[] = {"net", "dev", NULL};
static const char *const bootstrap_methods[] = {"file", "none", NULL};
static const char *const statsd_networks[] = {"udp", "tcp", NULL};

#define LOGGING_KEYS                                                                               \
    ENVKEY("FABRIC_LOGGING_SPEC", "info",                                                          \
           "Log levels: a default level and name=level terms separated by ':', "                   \
           "e.g. info:gossip=debug:ledger,msp=warning."),                                          \
        ENVKEY("FABRIC_LOGGING_FORMAT", "console",                                                 \
               "Log line format: console (human readable) or json.")

#define MSG_SIZE_MAX 2147483647LL /* gRPC takes an int */

const struct weft_config_key cmd_config_core_keys[] = {
    /* identity and endpoints */
    KEY("peer.id", STRING, "jdoe", "Name of this peer in logs and chaincode container names."),
    KEY("peer.networkId", STRING, "dev", "Logical network name, part of chaincode names."),
    KEY("peer.listenAddress", STRING, "0.0.0.0:7051",
        "Address the peer's gRPC services listen on."),
    KEY("peer.address", STRING, "0.0.0.0:7051",
        "Endpoint other peers of the organisation and clients use to reach this peer."),
    KEY("peer.addressAutoDetect", BOOL, "false",
        "Replace the host of peer.address with this machine's address."),
    KEY("peer.chaincodeListenAddress", STRING, "",
        "Address the chaincode service listens on; empty means the host of peer.address, port "
        "7052."),
    KEY("peer.chaincodeAddress", STRING, "",
        "Endpoint chaincode dials back; empty means derived from chaincodeListenAddress."),
    KEY("peer.fileSystemPath", PATH, "/var/hyperledger/production",
        "Root folder of all peer data (ledgers, chaincode builds, snapshots)."),
    KEY("peer.mspConfigPath", PATH, "msp", "Folder of the peer's local MSP (signing identity)."),
    KEY("peer.localMspId", STRING, "SampleOrg", "MSP ID of the peer's organisation."),
    /* TLS */
    KEY("peer.tls.enabled", BOOL, "false", "Serve gRPC over TLS."),
    KEY("peer.tls.clientAuthRequired", BOOL, "false", "Require client certificates (mutual TLS)."),
    KEY("peer.tls.cert.file", PATH, "tls/server.crt", "Server TLS certificate (PEM)."),
    KEY("peer.tls.key.file", PATH, "tls/server.key", "Server TLS private key (PEM)."),
    KEY("peer.tls.rootcert.file", PATH, "tls/ca.crt", "CA certificate of the server TLS chain."),
    KEY("peer.tls.clientRootCAs.files", PATH_LIST, "[]",
        "CA certificates accepted for client certificates."),
    KEY("peer.tls.clientCert.file", PATH, "",
        "Client TLS certificate for outgoing connections; empty reuses the server certificate."),
    KEY("peer.tls.clientKey.file", PATH, "",
        "Client TLS key for outgoing connections; empty reuses the server key."),
    KEY("peer.authentication.timewindow", DURATION, "15m",
        "Allowed clock difference for signed client requests."),
    /* keepalive */
    KEY("peer.keepalive.interval", DURATION, "7200s",
        "Idle time before the server pings a client."),
    KEY("peer.keepalive.timeout", DURATION, "20s",
        "Time the server waits for a ping reply before closing."),
    KEY("peer.keepalive.minInterval", DURATION, "60s",
        "Shortest ping interval accepted from clients."),
    KEY("peer.keepalive.client.interval", DURATION, "60s",
        "Ping interval on connections to other peers."),
    KEY("peer.keepalive.client.timeout", DURATION, "20s",
        "Ping reply timeout on connections to other peers."),
    KEY("peer.keepalive.deliveryClient.interval", DURATION, "60s",
        "Ping interval on the connection pulling blocks from the orderer."),
    KEY("peer.keepalive.deliveryClient.timeout", DURATION, "20s",
        "Ping reply timeout on the connection pulling blocks from the orderer."),
    /* gateway and discovery */
    KEY("peer.gateway.enabled", BOOL, "true", "Serve the Gateway service."),
    KEY("peer.gateway.endorsementTimeout", DURATION, "10s",
        "How long the gateway waits for endorsements."),
    KEY("peer.gateway.broadcastTimeout", DURATION, "10s",
        "How long the gateway waits for the orderer to accept a transaction."),
    KEY("peer.gateway.dialTimeout", DURATION, "30s",
        "How long the gateway waits to connect to another node."),
    KEY("peer.discovery.enabled", BOOL, "true",
        "Serve the Discovery service (the Gateway needs it)."),
    KEY("peer.discovery.authCacheEnabled", BOOL, "true", "Cache discovery authorisation results."),
    KEYB("peer.discovery.authCacheMaxSize", INT, "1000", 0, 1000000000LL,
         "Entries in the discovery authorisation cache."),
    KEY("peer.discovery.orgMembersAllowedAccess", BOOL, "false",
        "Let organisation members, not only admins, make channel-less discovery queries."),
    /* gossip */
    KEY("peer.gossip.bootstrap", STRING_LIST, "[]",
        "Peers of the same organisation to contact at start-up."),
    KEY("peer.gossip.endpoint", STRING, "",
        "Gossip endpoint within the organisation; empty means peer.address."),
    KEY("peer.gossip.externalEndpoint", STRING, "",
        "Endpoint advertised to other organisations; empty keeps the peer out of discovery "
        "results."),
    KEY("peer.gossip.useLeaderElection", BOOL, "false",
        "Elect the peer that pulls blocks from the orderer dynamically."),
    KEY("peer.gossip.orgLeader", BOOL, "true",
        "Pull blocks from the orderer directly (needed for a lone peer)."),
    KEY("peer.gossip.state.enabled", BOOL, "false", "Catch up missing blocks from other peers."),
    KEYB("peer.gossip.pvtData.implicitCollectionDisseminationPolicy.requiredPeerCount", INT, "0", 0,
         1000, "Peers that must receive the organisation's implicit private data."),
    KEYB("peer.gossip.pvtData.implicitCollectionDisseminationPolicy.maxPeerCount", INT, "1", 0,
         1000, "Most peers the organisation's implicit private data is sent to."),
    /* delivery client */
    KEY("peer.deliveryclient.addressOverrides", TREE, NULL,
        "List of {from, to, caCertsFile}: the peer pulls blocks from `to` instead of the orderer "
        "endpoint `from` of the channel config, trusting only the CA certificates of "
        "caCertsFile (relative to this file's folder) for its TLS, when given."),
    /* limits */
    KEYB("peer.limits.concurrency.endorserService", INT, "2500", 0, 1000000,
         "Most concurrent endorsement requests; 0 means unlimited."),
    KEYB("peer.limits.concurrency.deliverService", INT, "2500", 0, 1000000,
         "Most concurrent Deliver streams; 0 means unlimited."),
    KEYB("peer.limits.concurrency.gatewayService", INT, "500", 0, 1000000,
         "Most concurrent Gateway requests; 0 means unlimited."),
    KEYB("peer.maxRecvMsgSize", SIZE, "104857600", 1, MSG_SIZE_MAX,
         "Largest gRPC message the peer accepts."),
    KEYB("peer.maxSendMsgSize", SIZE, "104857600", 1, MSG_SIZE_MAX,
         "Largest gRPC message the peer sends."),
    KEY("peer.BCCSP", TREE, NULL,
        "Crypto provider settings; accepted for compatibility, weft always uses its built-in "
        "provider."),
    /* chaincode */
    KEY("chaincode.externalBuilders", TREE, NULL,
        "List of external builders, each {name, path, propagateEnvironment}."),
    KEY("chaincode.installTimeout", DURATION, "300s",
        "Time limit for building a chaincode package."),
    KEY("chaincode.startuptimeout", DURATION, "300s",
        "How long to wait for a launched chaincode to register."),
    KEY("chaincode.executetimeout", DURATION, "30s", "Time limit of one chaincode invocation."),
    KEY("chaincode.node.modulesPath", PATH, "",
        "node_modules folder holding fabric-shim for Node chaincode packages without their own (NODE_PATH)."),
    KEYB("chaincode.keepalive", INT, "0", 0, 86400,
         "Seconds between keepalive messages to chaincode; 0 disables them."),
    KEYC("chaincode.mode", "net", chaincode_modes,
         "dev lets chaincode register without being installed (development only)."),
    KEY("chaincode.system", TREE, NULL, "System chaincodes to enable: name: enable."),
    KEY("chaincode.logging.level", STRING, "info", "Log level handed to chaincode."),
    KEY("chaincode.logging.shim", STRING, "warning", "Log level of the chaincode shim."),
    KEY("chaincode.logging.format", STRING, "", "Log format handed to chaincode."),
    /* ledger */
    KEYC("ledger.state.stateDatabase", "goleveldb", state_databases,
         "World state store: goleveldb means the built-in store."),
    KEYB("ledger.state.totalQueryLimit", INT, "10000", 1, 100000000LL,
         "Most results one chaincode query iterator returns."),
    KEY("ledger.state.couchDBConfig.couchDBAddress", STRING, "127.0.0.1:5984",
        "CouchDB host:port."),
    {.path = "ledger.state.couchDBConfig.username",
     .type = WEFT_CONFIG_STRING,
     .default_value = "",
     .doc = "CouchDB user name."},
    {.path = "ledger.state.couchDBConfig.password",
     .type = WEFT_CONFIG_STRING,
     .default_value = "",
     .doc = "CouchDB password.",
     .flags = WEFT_CONFIG_F_SECRET},
    KEYB("ledger.state.couchDBConfig.maxRetries", INT, "3", 0, 1000, "CouchDB request retries."),
    KEYB("ledger.state.couchDBConfig.maxRetriesOnStartup", INT, "10", 0, 1000,
         "CouchDB connection retries at start-up."),
    KEY("ledger.state.couchDBConfig.requestTimeout", DURATION, "35s", "CouchDB request timeout."),
    KEYB("ledger.state.couchDBConfig.internalQueryLimit", INT, "1000", 1, 1000000,
         "Page size of internal CouchDB queries."),
    KEYB("ledger.state.couchDBConfig.maxBatchUpdateSize", INT, "1000", 1, 1000000,
         "Documents per CouchDB bulk update."),
    KEY("ledger.state.couchDBConfig.createGlobalChangesDB", BOOL, "false",
        "Create CouchDB's _global_changes database."),
    KEYB("ledger.state.couchDBConfig.cacheSize", INT, "64", 0, 1000000,
         "State cache size in MB; 0 disables it."),
    KEY("ledger.history.enableHistoryDatabase", BOOL, "true",
        "Keep key history for GetHistoryForKey."),
    KEY("ledger.snapshots.rootDir", PATH, "/var/hyperledger/production/snapshots",
        "Folder for ledger snapshots."),
    /* operations and metrics */
    KEY("operations.listenAddress", STRING, "127.0.0.1:9443",
        "Address of the operations HTTP server (/healthz, /metrics, /logspec, /version)."),
    KEY("operations.tls.enabled", BOOL, "false", "Serve the operations endpoint over TLS."),
    KEY("operations.tls.cert.file", PATH, "", "Operations TLS certificate (PEM)."),
    KEY("operations.tls.key.file", PATH, "", "Operations TLS private key (PEM)."),
    KEY("operations.tls.clientAuthRequired", BOOL, "false",
        "Require client certificates on the operations endpoint."),
    KEY("operations.tls.clientRootCAs.files", PATH_LIST, "[]",
        "CA certificates accepted for operations clients."),
    KEYC("metrics.provider", "disabled", metrics_providers,
         "Metrics sink; prometheus serves /metrics on the operations endpoint."),
    KEYC("metrics.statsd.network", "udp", statsd_networks, "Transport to the statsd server."),
    KEY("metrics.statsd.address", STRING, "127.0.0.1:8125", "statsd server host:port."),
    KEY("metrics.statsd.writeInterval", DURATION, "10s", "How often metrics are sent to statsd."),
    KEY("metrics.statsd.prefix", STRING, "", "Prefix of every statsd metric name."),
    /* environment only */
    LOGGING_KEYS,
};
const size_t cmd_config_core_nkeys = WEFT_ARRAY_LEN(cmd_config_core_keys);

const struct weft_config_key cmd_config_orderer_keys[] = {
    /* listener */
    KEY("General.ListenAddress", STRING, "127.0.0.1",
        "Host the orderer's gRPC services listen on."),
    KEYB("General.ListenPort", INT, "7050", 0, 65535, "Port of the orderer's gRPC services."),
    KEY("General.TLS.Enabled", BOOL, "false", "Serve gRPC over TLS."),
    KEY("General.TLS.PrivateKey", PATH, "tls/server.key", "Server TLS private key (PEM)."),
    KEY("General.TLS.Certificate", PATH, "tls/server.crt", "Server TLS certificate (PEM)."),
    KEY("General.TLS.RootCAs", PATH_LIST, "[tls/ca.crt]",
        "CA certificates of the server TLS chain."),
    KEY("General.TLS.ClientAuthRequired", BOOL, "false",
        "Require client certificates (mutual TLS)."),
    KEY("General.TLS.ClientRootCAs", PATH_LIST, "[]",
        "CA certificates accepted for client certificates."),
    KEY("General.Keepalive.ServerMinInterval", DURATION, "60s",
        "Shortest ping interval accepted from clients."),
    KEY("General.Keepalive.ServerInterval", DURATION, "7200s",
        "Idle time before the server pings a client."),
    KEY("General.Keepalive.ServerTimeout", DURATION, "20s",
        "Time the server waits for a ping reply before closing."),
    KEYB("General.MaxRecvMsgSize", SIZE, "104857600", 1, MSG_SIZE_MAX,
         "Largest gRPC message the orderer accepts."),
    KEYB("General.MaxSendMsgSize", SIZE, "104857600", 1, MSG_SIZE_MAX,
         "Largest gRPC message the orderer sends."),
    /* cluster (Raft between orderers) */
    KEYB("General.Cluster.SendBufferSize", INT, "100", 1, 1000000,
         "Messages buffered per cluster peer."),
    KEY("General.Cluster.ClientCertificate", PATH, "",
        "TLS certificate for connections to other orderers; empty means General.TLS.Certificate."),
    KEY("General.Cluster.ClientPrivateKey", PATH, "",
        "TLS key for connections to other orderers; empty means General.TLS.PrivateKey."),
    KEY("General.Cluster.ListenAddress", STRING, "",
        "Separate cluster listener host; empty shares the main listener."),
    KEYB("General.Cluster.ListenPort", INT, "0", 0, 65535,
         "Separate cluster listener port; 0 shares the main listener."),
    KEY("General.Cluster.RootCAs", PATH_LIST, "[]",
        "CA certificates trusted for cluster TLS; empty means General.TLS.RootCAs."),
    KEY("General.Cluster.ServerCertificate", PATH, "", "TLS certificate of the cluster listener."),
    KEY("General.Cluster.ServerPrivateKey", PATH, "", "TLS key of the cluster listener."),
    KEY("General.Cluster.DialTimeout", DURATION, "5s", "Timeout connecting to another orderer."),
    KEY("General.Cluster.RPCTimeout", DURATION, "7s", "Timeout of one cluster request."),
    KEY("General.Cluster.ReplicationBufferSize", SIZE, "20971520",
        "Memory for blocks being replicated from other orderers."),
    KEY("General.Cluster.ReplicationPullTimeout", DURATION, "5s",
        "Wait for a block from another orderer while replicating."),
    KEY("General.Cluster.ReplicationRetryTimeout", DURATION, "5s",
        "Pause between replication attempts."),
    KEY("General.Cluster.ReplicationBackgroundRefreshInterval", DURATION, "5m",
        "How often channels this orderer is not part of are re-checked."),
    KEYB("General.Cluster.ReplicationMaxRetries", INT, "12", 0, 1000000,
         "Replication attempts before giving up."),
    KEY("General.Cluster.CertExpirationWarningThreshold", DURATION, "168h",
        "Warn when a cluster certificate expires within this time."),
    /* bootstrap and identity */
    KEYC("General.BootstrapMethod", "file", bootstrap_methods,
         "file starts from General.BootstrapFile; none starts with no channels (join them through "
         "the admin API)."),
    KEY("General.BootstrapFile", PATH, "genesisblock",
        "Genesis block read when BootstrapMethod is file."),
    KEY("General.LocalMSPDir", PATH, "msp", "Folder of the orderer's local MSP (block signer)."),
    KEY("General.LocalMSPID", STRING, "SampleOrg", "MSP ID of the orderer's organisation."),
    KEY("General.BCCSP", TREE, NULL,
        "Crypto provider settings; accepted for compatibility, weft always uses its built-in "
        "provider."),
    KEY("General.Authentication.TimeWindow", DURATION, "15m",
        "Allowed clock difference for signed client requests."),
    KEY("General.Authentication.NoExpirationChecks", BOOL, "false",
        "Accept requests signed with expired certificates."),
    /* storage */
    KEY("FileLedger.Location", PATH, "/var/hyperledger/production/orderer",
        "Folder of the orderer's block store."),
    KEY("Consensus.WALDir", PATH, "/var/hyperledger/production/orderer/etcdraft/wal",
        "Folder of the Raft write-ahead logs."),
    KEY("Consensus.SnapDir", PATH, "/var/hyperledger/production/orderer/etcdraft/snapshot",
        "Folder of the Raft snapshots."),
    /* operations and metrics */
    KEY("Operations.ListenAddress", STRING, "127.0.0.1:8443",
        "Address of the operations HTTP server (/healthz, /metrics, /logspec, /version)."),
    KEY("Operations.TLS.Enabled", BOOL, "false", "Serve the operations endpoint over TLS."),
    KEY("Operations.TLS.Certificate", PATH, "", "Operations TLS certificate (PEM)."),
    KEY("Operations.TLS.PrivateKey", PATH, "", "Operations TLS private key (PEM)."),
    KEY("Operations.TLS.ClientAuthRequired", BOOL, "false",
        "Require client certificates on the operations endpoint."),
    KEY("Operations.TLS.ClientRootCAs", PATH_LIST, "[]",
        "CA certificates accepted for operations clients."),
    KEYC("Metrics.Provider", "disabled", metrics_providers,
         "Metrics sink; prometheus serves /metrics on the operations endpoint."),
    KEYC("Metrics.Statsd.Network", "udp", statsd_networks, "Transport to the statsd server."),
    KEY("Metrics.Statsd.Address", STRING, "127.0.0.1:8125", "statsd server host:port."),
    KEY("Metrics.Statsd.WriteInterval", DURATION, "30s", "How often metrics are sent to statsd."),
    KEY("Metrics.Statsd.Prefix", STRING, "", "Prefix of every statsd metric name."),
    /* channel participation admin API */
    KEY("Admin.ListenAddress", STRING, "127.0.0.1:7053",
        "Address of the admin HTTP server (channel participation API)."),
    KEY("Admin.TLS.Enabled", BOOL, "false", "Serve the admin endpoint over TLS."),
    KEY("Admin.TLS.Certificate", PATH, "", "Admin TLS certificate (PEM)."),
    KEY("Admin.TLS.PrivateKey", PATH, "", "Admin TLS private key (PEM)."),
    KEY("Admin.TLS.ClientAuthRequired", BOOL, "true",
        "Require client certificates on the admin endpoint (Fabric requires it when TLS is on)."),
    KEY("Admin.TLS.ClientRootCAs", PATH_LIST, "[]", "CA certificates accepted for admin clients."),
    KEY("ChannelParticipation.Enabled", BOOL, "false",
        "Serve /participation/v1/channels on the admin endpoint."),
    KEYB("ChannelParticipation.MaxRequestBodySize", SIZE, "1 MB", 1, 1024 * MIB,
         "Largest request body (a config block) the participation API accepts."),
    /* environment only */
    LOGGING_KEYS,
};
const size_t cmd_config_orderer_nkeys = WEFT_ARRAY_LEN(cmd_config_orderer_keys);

static const struct cmd_config_daemon_info daemons[] = {
    [CMD_CONFIG_PEER] = {"core.yaml", "CORE", cmd_config_core_keys,
                         WEFT_ARRAY_LEN(cmd_config_core_keys)},
    [CMD_CONFIG_ORDERER] = {"orderer.yaml", "ORDERER", cmd_config_orderer_keys,
                            WEFT_ARRAY_LEN(cmd_config_orderer_keys)},
};

const struct cmd_config_daemon_info *cmd_config_daemon_info(enum cmd_config_daemon d)
{
    return (unsigned)d < WEFT_ARRAY_LEN(daemons) ? &daemons[d] : NULL;
}

int cmd_config_open(enum cmd_config_daemon d, const char *explicit_path, struct weft_config **out,
                    struct weft_err *err)
{
    const struct cmd_config_daemon_info *info = cmd_config_daemon_info(d);
    if (info == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "unknown daemon %d", (int)d);
    }
    char *path = NULL;
    struct weft_config *cfg = NULL;
    int rc = weft_config_find(explicit_path, info->file_name, &path, err);
    if (rc == 0) {
        rc = weft_config_load(path, info->env_prefix, &cfg, err);
    }
    if (rc == 0) {
        rc = weft_config_check(cfg, info->keys, info->nkeys, NULL, NULL, err);
    }
    weft_free(path);
    if (rc < 0) {
        weft_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}
