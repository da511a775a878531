/*
 * Wiring of the gateway into the peer daemon (weft_peer_new): reads
 * peer.gateway.* and the peer's TLS client settings from core.yaml, gives
 * the gateway the local endorser, the channels' current configurations and
 * ledgers (through the channel runtime, cscc_int.h), and registers
 * gateway.Gateway on the peer's gRPC server.
 */
#include <string.h>

#include "cscc_int.h"
#include "gateway_int.h"
#include "peer_internal.h"
#include "weft/config.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/ops.h"

WEFT_LOGGER(lg_gwp, "gateway");

static int be_endorse(void *ctx, const uint8_t *sp, size_t sp_len, uint8_t **resp,
                      size_t *resp_len, struct weft_err *err)
{
    return weft_peer_endorse(ctx, sp, sp_len, resp, resp_len, err);
}

static void be_endorse_async(void *ctx, const uint8_t *sp, size_t sp_len,
                             weft_peer_endorse_done_fn done, void *arg)
{
    weft_peer_endorse_async(ctx, sp, sp_len, done, arg);
}

static const struct weft_channel_config *be_config(void *ctx, const char *channel)
{
    return peer__channel_config(ctx, channel);
}

static struct weft_ledger *be_ledger(void *ctx, const char *channel)
{
    return peer__channel_ledger(ctx, channel);
}

static int64_t duration_ms(struct weft_config *cfg, const char *key)
{
    int64_t ns = 0;
    if (weft_config_get_duration(cfg, key, &ns, NULL) != 0 || ns <= 0) {
        return 0;
    }
    return ns / 1000000;
}

int peer__gateway_start(struct weft_peer *p, struct weft_config *cfg, struct weft_rpc_server *rpc,
                        struct weft_ops *ops, struct weft_err *err)
{
    bool enabled = true;
    if (weft_config_get_bool(cfg, "peer.gateway.enabled", &enabled, NULL) != 0) {
        enabled = true;
    }
    if (!enabled || rpc == NULL) {
        WEFT_INFO(lg_gwp, "gateway disabled");
        return 0;
    }
    const char *endpoint = NULL;
    if (weft_config_get_string(cfg, "peer.gossip.externalEndpoint", &endpoint, NULL) != 0 ||
        endpoint == NULL || endpoint[0] == 0) {
        if (weft_config_get_string(cfg, "peer.address", &endpoint, NULL) != 0) {
            endpoint = "";
        }
    }
    bool tls = false;
    if (weft_config_get_bool(cfg, "peer.tls.enabled", &tls, NULL) != 0) {
        tls = false;
    }
    char *root = NULL, *cert = NULL, *key = NULL;
    if (tls) {
        if (weft_config_get_path(cfg, "peer.tls.rootcert.file", &root, NULL) != 0) {
            root = NULL;
        }
        if (weft_config_get_path(cfg, "peer.tls.clientCert.file", &cert, NULL) != 0 ||
            weft_config_get_path(cfg, "peer.tls.clientKey.file", &key, NULL) != 0 ||
            cert == NULL || key == NULL || cert[0] == 0 || key[0] == 0) {
            weft_free(cert);
            weft_free(key);
            cert = key = NULL;
        }
    }
    int64_t limit = 500;
    if (weft_config_get_i64(cfg, "peer.limits.concurrency.gatewayService", &limit, NULL) != 0 ||
        limit < 0 || limit > 1000000) {
        limit = 500;
    }
    struct weft_gateway_opts o = {
        .concurrency_limit = (uint32_t)limit,
        .mspid = weft_msp_id(p->msp),
        .endpoint = endpoint,
        .tls = tls,
        .tls_root_file = root,
        .tls_cert_file = cert,
        .tls_key_file = key,
        .endorsement_timeout_ms = duration_ms(cfg, "peer.gateway.endorsementTimeout"),
        .broadcast_timeout_ms = duration_ms(cfg, "peer.gateway.broadcastTimeout"),
        .dial_timeout_ms = duration_ms(cfg, "peer.gateway.dialTimeout"),
        .metrics = ops != NULL ? weft_ops_metrics(ops) : NULL,
    };
    struct weft_gateway_backend be = {
        .ctx = p,
        .endorse = be_endorse,
        .endorse_async = be_endorse_async,
        .config = be_config,
        .ledger = be_ledger,
    };
    int rc = weft_gateway_new(&o, &be, &p->gateway, err);
    if (rc == 0) {
        rc = weft_gateway_register(p->gateway, rpc, err);
    }
    weft_free(root);
    weft_free(cert);
    weft_free(key);
    if (rc != 0) {
        weft_gateway_free(p->gateway);
        p->gateway = NULL;
        return weft_err_prefix(err, "gateway");
    }
    WEFT_INFO(lg_gwp, "gateway.Gateway registered (endpoint %s, tls %s)", endpoint,
              tls ? "on" : "off");
    return 0;
}

void peer__gateway_attach_metrics(struct weft_peer *p, struct weft_metrics *reg)
{
    if (p->gateway != NULL && reg != NULL) {
        weft_gateway_set_metrics(p->gateway, reg);
    }
}

void peer__gateway_free(struct weft_peer *p)
{
    weft_gateway_free(p->gateway);
    p->gateway = NULL;
}
