/*
 * weft_orderer: wiring of the ordering service (include/weft/orderer.h).
 *
 * Owns the local MSP (block signer), the consensus loop, the channel
 * registry and the admin HTTP server. Channels live in
 * <FileLedger.Location>/ledgersData/chains/<channel>/ (the block store) and
 * <Consensus.WALDir>/<channel>/ (the Raft log); at start-up every channel
 * folder found is reopened.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "consensus.h"
#include "orderer_int.h"
#include "weft/config.h"
#include "weft/configtx.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/ops.h"
#include "weft/orderer.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_ord, "orderer");

static int mkdir_p(const char *path)
{
    char *p = weft_strdup(path);
    if (p == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                rc = -errno;
                *s = c;
                break;
            }
            *s = c;
            if (c == '\0') {
                break;
            }
        }
    }
    weft_free(p);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int sign_cb(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len,
                   struct weft_err *err)
{
    return weft_msp_sign(ctx, msg, len, sig, sig_len, err);
}

/* ---- registry ---------------------------------------------------------------- */

struct orderer_chain *orderer__lookup(struct weft_orderer *o, const char *channel_id)
{
    struct orderer_chain *found = NULL;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n_chains; i++) {
        if (strcmp(orderer__chain_id(o->chains[i]), channel_id) == 0) {
            found = o->chains[i];
            orderer__chain_ref(found);
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    return found;
}

int orderer__list(struct weft_orderer *o, struct orderer_chain ***out, size_t *n)
{
    pthread_mutex_lock(&o->mu);
    struct orderer_chain **arr = weft_malloc((o->n_chains + 1) * sizeof(*arr));
    if (arr == NULL) {
        pthread_mutex_unlock(&o->mu);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < o->n_chains; i++) {
        arr[i] = o->chains[i];
        orderer__chain_ref(arr[i]);
    }
    *n = o->n_chains;
    pthread_mutex_unlock(&o->mu);
    *out = arr;
    return 0;
}

static int registry_add(struct weft_orderer *o, struct orderer_chain *ch)
{
    pthread_mutex_lock(&o->mu);
    struct orderer_chain **nc = weft_realloc(o->chains, (o->n_chains + 1) * sizeof(*nc));
    if (nc == NULL) {
        pthread_mutex_unlock(&o->mu);
        return WEFT_ENOMEM;
    }
    o->chains = nc;
    o->chains[o->n_chains++] = ch;
    pthread_mutex_unlock(&o->mu);
    return 0;
}

static int open_chain(struct weft_orderer *o, const char *channel_id, const uint8_t *genesis,
                      size_t genesis_len, struct orderer_chain **out, struct weft_err *err)
{
    if (o->msp == NULL) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "channel %s: this orderer has no local MSP to sign blocks with",
                            channel_id);
    }
    struct orderer_chain_opts co = {
        .channel_id = channel_id,
        .ledger_root = o->ledger_root,
        .wal_root = o->wal_root,
        .genesis = genesis,
        .genesis_len = genesis_len,
        .cons = o->cons,
        .signer = &o->signer,
        .metrics = o->metrics,
        .cluster = o->cluster,
        .no_sync = o->no_sync,
    };
    return orderer__chain_open(&co, out, err);
}

int orderer__join(struct weft_orderer *o, const uint8_t *block, size_t len,
                  struct orderer_chain **out, struct weft_err *err)
{
    uint8_t *env = NULL;
    size_t env_len = 0;
    char *channel_id = NULL;
    int rc = weft_configtx_block_config(block, len, &env, &env_len, &channel_id, err);
    weft_free(env);
    if (rc != 0) {
        return weft_err_prefix(err, "cannot join: invalid config block");
    }
    Common__Block *b = common__block__unpack(ORDERER_PB, len, block);
    uint64_t number = b != NULL && b->header != NULL ? b->header->number : 0;
    if (b != NULL) {
        common__block__free_unpacked(b, ORDERER_PB);
    }
    struct orderer_chain *ch = NULL;
    if (number != 0) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED,
                          "cannot join channel %s from config block %llu: joining from a later "
                          "config block needs block replication, which is not implemented",
                          channel_id, (unsigned long long)number);
        goto out;
    }
    /* serialize joins so two requests cannot create the same channel */
    static pthread_mutex_t join_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&join_mu);
    ch = orderer__lookup(o, channel_id);
    if (ch != NULL) {
        orderer__chain_unref(ch);
        ch = NULL;
        rc = weft_err_set(err, WEFT_EEXIST, "cannot join: channel already exists");
    } else {
        rc = open_chain(o, channel_id, block, len, &ch, err);
        if (rc == 0) {
            rc = registry_add(o, ch);
            if (rc != 0) {
                orderer__chain_close(ch);
                ch = NULL;
                weft_err_set(err, rc, "out of memory");
            }
        }
        if (rc != 0 && rc != WEFT_EEXIST) {
            /* leave nothing half-joined behind */
            char *d = weft_asprintf("%s/ledgersData/chains/%s", o->ledger_root, channel_id);
            char *w = weft_asprintf("%s/%s", o->wal_root, channel_id);
            if (d != NULL && ch == NULL) {
                rm_tree(d);
            }
            if (w != NULL && ch == NULL) {
                rm_tree(w);
            }
            weft_free(d);
            weft_free(w);
        }
    }
    pthread_mutex_unlock(&join_mu);
    if (rc == 0 && out != NULL) {
        orderer__chain_ref(ch);
        *out = ch;
    }
out:
    weft_free(channel_id);
    return rc;
}

int orderer__remove(struct weft_orderer *o, const char *channel_id, struct weft_err *err)
{
    struct orderer_chain *ch = NULL;
    pthread_mutex_lock(&o->mu);
    for (size_t i = 0; i < o->n_chains; i++) {
        if (strcmp(orderer__chain_id(o->chains[i]), channel_id) == 0) {
            ch = o->chains[i];
            o->chains[i] = o->chains[--o->n_chains];
            break;
        }
    }
    pthread_mutex_unlock(&o->mu);
    if (ch == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "channel %s does not exist", channel_id);
    }
    char *d = weft_asprintf("%s/ledgersData/chains/%s", o->ledger_root, channel_id);
    char *w = weft_asprintf("%s/%s", o->wal_root, channel_id);
    orderer__chain_close(ch);
    if (d != NULL) {
        rm_tree(d);
    }
    if (w != NULL) {
        rm_tree(w);
    }
    weft_free(d);
    weft_free(w);
    return 0;
}

/* ---- start-up ----------------------------------------------------------------- */

static int reopen_channels(struct weft_orderer *o, struct weft_err *err)
{
    char *dir = weft_asprintf("%s/ledgersData/chains", o->ledger_root);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    DIR *d = opendir(dir);
    weft_free(dir);
    if (d == NULL) {
        return 0; /* nothing joined yet */
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        struct orderer_chain *ch = NULL;
        rc = open_chain(o, e->d_name, NULL, 0, &ch, err);
        if (rc == 0) {
            rc = registry_add(o, ch);
            if (rc != 0) {
                orderer__chain_close(ch);
                weft_err_set(err, rc, "out of memory");
            }
        }
    }
    closedir(d);
    return rc;
}

static int health_consensus(void *ctx, char *reason, size_t reason_len)
{
    struct weft_orderer *o = ctx;
    struct orderer_chain **chs = NULL;
    size_t n = 0;
    if (!atomic_load(&o->started)) {
        snprintf(reason, reason_len, "starting: reopening channels");
        return WEFT_EUNAVAILABLE;
    }
    if (orderer__list(o, &chs, &n) != 0) {
        snprintf(reason, reason_len, "out of memory");
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && !orderer__chain_is_leader(chs[i]) && orderer__chain_leader_id(chs[i]) == 0) {
            snprintf(reason, reason_len, "channel %s has no Raft leader",
                     orderer__chain_id(chs[i]));
            rc = WEFT_EUNAVAILABLE;
        }
        orderer__chain_unref(chs[i]);
    }
    weft_free(chs);
    return rc;
}

static int get_path(const struct weft_config *cfg, const char *key, const char *def, char **out,
                    struct weft_err *err)
{
    int rc = weft_config_get_path(cfg, key, out, err);
    if (rc == WEFT_ENOTFOUND) {
        *out = weft_strdup(def);
        return *out == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
    }
    return rc;
}

static int start_admin(struct weft_orderer *o, struct weft_err *err)
{
    const struct weft_config *cfg = o->cfg;
    bool enabled = false;
    int rc = weft_config_get_bool(cfg, "ChannelParticipation.Enabled", &enabled, NULL);
    if (rc != 0 || !enabled) {
        WEFT_INFO(lg_ord, "channel participation API disabled");
        return 0;
    }
    const char *listen = "127.0.0.1:7053";
    rc = weft_config_get_string(cfg, "Admin.ListenAddress", &listen, NULL);
    (void)rc;
    uint64_t max_body = 1u << 20;
    rc = weft_config_get_size(cfg, "ChannelParticipation.MaxRequestBodySize", &max_body, NULL);
    (void)rc;
    struct weft_http_server_opts ho = {.listen_address = listen, .max_body_size = (size_t)max_body};
    char *cert = NULL, *key = NULL;
    char **roots = NULL;
    size_t nroots = 0;
    rc = weft_config_get_bool(cfg, "Admin.TLS.Enabled", &ho.tls.enabled, NULL);
    (void)rc;
    if (ho.tls.enabled) {
        rc = weft_config_get_path(cfg, "Admin.TLS.Certificate", &cert, err);
        if (rc == 0) {
            rc = weft_config_get_path(cfg, "Admin.TLS.PrivateKey", &key, err);
        }
        if (rc == 0) {
            rc =
                weft_config_get_strlist(cfg, "Admin.TLS.ClientRootCAs", true, &roots, &nroots, err);
        }
        if (rc == 0) {
            rc = weft_config_get_bool(cfg, "Admin.TLS.ClientAuthRequired",
                                      &ho.tls.client_auth_required, err);
        }
        if (rc != 0) {
            goto out;
        }
        ho.tls.cert_file = cert;
        ho.tls.key_file = key;
        ho.tls.client_ca_files = (const char *const *)roots;
        ho.tls.n_client_ca_files = nroots;
    }
    o->admin = weft_http_server_new(&ho, err);
    if (o->admin == NULL) {
        rc = weft_err_prefix(err, "admin endpoint on %s", listen);
        goto out;
    }
    rc = orderer__participation_register(o, o->admin, err);
    if (rc == 0) {
        rc = weft_http_server_start(o->admin, err);
    }
    if (rc == 0) {
        WEFT_INFO(lg_ord, "channel participation API on %s (port %d, tls %s)", listen,
                  weft_http_server_port(o->admin),
                  !ho.tls.enabled               ? "off"
                  : ho.tls.client_auth_required ? "mutual"
                                                : "on");
    }
out:
    weft_free(cert);
    weft_free(key);
    weft_config_strlist_free(roots);
    return rc;
}

struct weft_orderer *weft_orderer_new(const struct weft_config *cfg, struct weft_rpc_server *srv,
                                      struct weft_ops *ops, struct weft_err *err)
{
    struct weft_orderer *o = weft_calloc(1, sizeof(*o));
    if (o == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->fwd_cond, NULL);
    o->cfg = cfg;
    char *msp_dir = NULL;
    const char *mspid = "SampleOrg";
    int rc = get_path(cfg, "General.LocalMSPDir", "msp", &msp_dir, err);
    if (rc == 0) {
        rc = weft_config_get_string(cfg, "General.LocalMSPID", &mspid, NULL);
        rc = rc == WEFT_ENOTFOUND ? 0 : rc;
    }
    if (rc == 0) {
        rc = weft_msp_load_dir(msp_dir, mspid, &o->msp, err);
        if (rc == WEFT_ENOTFOUND) {
            /* A node without identity can still serve operations; it cannot
             * sign blocks, so channels cannot be joined or opened. */
            WEFT_WARN(lg_ord, "no local MSP (%s): channels cannot be joined", err->msg);
            weft_err_clear(err);
            rc = 0;
        } else if (rc != 0) {
            weft_err_prefix(err, "local MSP %s (%s)", msp_dir, mspid);
        }
    }
    weft_free(msp_dir);
    if (rc == 0 && o->msp != NULL && weft_msp_signer(o->msp) == NULL) {
        rc = weft_err_set(err, WEFT_ECONFIG, "local MSP %s has no signing identity", mspid);
    }
    if (rc != 0) {
        goto fail;
    }
    if (o->msp != NULL) {
        o->signer.creator =
            weft_msp_identity_serialized(weft_msp_signer(o->msp), &o->signer.creator_len);
    }
    o->signer.sign = sign_cb;
    o->signer.ctx = o->msp;

    rc = get_path(cfg, "FileLedger.Location", "/var/hyperledger/production/orderer",
                  &o->ledger_root, err);
    if (rc == 0) {
        rc = get_path(cfg, "Consensus.WALDir", "/var/hyperledger/production/orderer/etcdraft/wal",
                      &o->wal_root, err);
    }
    if (rc == 0 && (rc = mkdir_p(o->ledger_root)) != 0) {
        weft_err_set(err, rc, "create %s: %s", o->ledger_root, weft_strerror(rc));
    }
    if (rc == 0 && (rc = mkdir_p(o->wal_root)) != 0) {
        weft_err_set(err, rc, "create %s: %s", o->wal_root, weft_strerror(rc));
    }
    if (rc != 0) {
        goto fail;
    }
    o->time_window_ns = 15LL * 60 * 1000000000LL;
    int64_t tw;
    if (weft_config_get_duration(cfg, "General.Authentication.TimeWindow", &tw, NULL) == 0) {
        o->time_window_ns = tw;
    }
    bool tls = false, mutual = false;
    if (weft_config_get_bool(cfg, "General.TLS.Enabled", &tls, NULL) == 0 && tls &&
        weft_config_get_bool(cfg, "General.TLS.ClientAuthRequired", &mutual, NULL) == 0) {
        o->tls_binding = mutual;
    }
    if (ops != NULL) {
        o->metrics = weft_ops_metrics(ops);
        static const char *const lbl[] = {"channel", "type", "status"};
        struct weft_metrics_opts mo = {.namespace_ = "broadcast",
                                       .name = "processed_count",
                                       .help = "The number of transactions processed.",
                                       .label_names = lbl,
                                       .n_labels = 3};
        o->m_bcast = weft_metrics_counter_vec_new(o->metrics, &mo, NULL);
        mo.name = "validate_duration";
        mo.help = "The time to validate a transaction in seconds.";
        o->m_bcast_validate = weft_metrics_histogram_vec_new(o->metrics, &mo, NULL);
    }
    rc = orderer__cons_new(&o->cons, err);
    if (rc == 0) {
        rc = orderer__cluster_new(o, cfg, srv, &o->cluster, err);
    }
    if (rc == 0) {
        rc = orderer__cluster_start(o->cluster, err);
    }
    if (rc != 0) {
        goto fail;
    }
    /* registered before the channels reopen, so /healthz fails during
     * start-up instead of answering OK with no check in place */
    if (ops != NULL) {
        rc = weft_health_register(weft_ops_health(ops), "consensus", health_consensus, o);
        if (rc == 0) {
            o->ops = ops;
        } else {
            weft_err_set(err, rc, "register health check: %s", weft_strerror(rc));
            goto fail;
        }
    }
    rc = reopen_channels(o, err);
    if (rc == 0) {
        rc = orderer__service_register(o, srv, err);
    }
    if (rc == 0) {
        rc = start_admin(o, err);
    }
    if (rc != 0) {
        goto fail;
    }
    atomic_store(&o->started, true);
    WEFT_INFO(lg_ord, "orderer ready: %zu channel(s), ledger %s, Raft log %s", o->n_chains,
              o->ledger_root, o->wal_root);
    return o;
fail:
    weft_orderer_free(o);
    return NULL;
}

int weft_orderer_admin_port(const struct weft_orderer *o)
{
    return o != NULL && o->admin != NULL ? weft_http_server_port(o->admin) : -1;
}

void weft_orderer_free(struct weft_orderer *o)
{
    if (o == NULL) {
        return;
    }
    if (o->ops != NULL) {
        /* a check already running finishes before the registry is freed */
        int rc = weft_health_unregister(weft_ops_health(o->ops), "consensus");
        (void)rc;
    }
    weft_http_server_free(o->admin);
    orderer__cluster_stop(o->cluster);
    orderer__broadcast_stop_forwarders(o);
    for (size_t i = 0; i < o->n_chains; i++) {
        orderer__chain_close(o->chains[i]);
    }
    weft_free(o->chains);
    orderer__cluster_free(o->cluster);
    orderer__cons_free(o->cons);
    weft_msp_unref(o->msp);
    weft_free(o->ledger_root);
    weft_free(o->wal_root);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->fwd_cond);
    weft_free(o);
}
