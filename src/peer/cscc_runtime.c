/*
 * The channel runtime of a peer daemon: for every joined channel a
 * committer (validate + commit pipeline, orderer signatures checked against
 * BlockValidation) fed by a block puller from the orderers named in the
 * channel configuration (Fabric's orgLeader mode), the protos.Deliver
 * service over the joined channels, the ledger metrics and an /healthz
 * check of the orderer connection.
 *
 * DESIGN. struct peer_sys hangs off struct weft_peer (p->sys) and exists
 * only in daemon mode (weft_peer_new); a peer built with weft_peer_new_opts
 * (tests) has none, and its channels are only what weft_peer_join /
 * weft_peer_commit_block make of them. The channel list only grows while the
 * peer runs, so a struct sys_chan lives until peer__sys_free.
 *
 * TLS to the orderers: when peer.tls.enabled, the trusted roots are the TLS
 * roots (and intermediates) of the orderer organisations of the channel
 * configuration at start plus peer.tls.rootcert.file; the client
 * certificate for mutual TLS is peer.tls.clientCert.file/clientKey.file,
 * else peer.tls.cert.file/key.file (Fabric's deliver client does the same).
 *
 * peer.deliveryclient.addressOverrides (a list of {from, to, caCertsFile})
 * is read once at start and handed to every channel's puller: an orderer
 * endpoint of the configuration equal to `from` is dialled at `to`, and
 * when caCertsFile names a readable PEM file with certificates, those are
 * the only roots trusted for it (Fabric). Without caCertsFile the usual
 * roots above apply (in Fabric the connection would have no roots at all).
 * A caCertsFile that cannot be read or holds no certificate drops the
 * override with a warning, as Fabric does; an entry without `from` or `to`
 * is a configuration error. A relative caCertsFile is relative to the
 * directory of core.yaml.
 *
 * Locking: sys->mu guards the channel list; it is a leaf lock. The metrics
 * pointer is set once (atomically) by weft_peer_attach_ops.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/common.pb-c.h"
#include "cscc_int.h"
#include "gateway_int.h"
#include "peer_internal.h"
#include "weft/committer.h"
#include "weft/config.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/ops.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_rt, "peer.channels");

struct sys_chan {
    struct sys_chan *next;
    struct peer_sys *sys;
    char *id;
    struct weft_ledger *ledger; /* borrowed from the peer's channel */
    struct weft_committer *committer;
    struct weft_blockpuller *puller;
    struct weft_rpc_client_opts copts;
    char *ca_pem;
    struct weft_validator_stats last; /* commit thread only: for metric deltas */
};

struct peer_sys {
    struct weft_peer *p;
    pthread_mutex_t mu;
    struct sys_chan *chans;
    struct weft_deliver *deliver;
    struct weft_vcache *cache; /* the peer's (p->vcache), borrowed */
    struct weft_verifier *verifier;
    bool tls;
    char *root_pem;             /* peer.tls.rootcert.file */
    char *cert_file, *key_file; /* client certificate for mutual TLS */
    char **ovr_strs;            /* from, to, ca_pem (or NULL) of each override */
    size_t n_ovr_strs;
    struct weft_blockpuller_override *ovr;
    size_t n_ovr;
    struct peer_metrics *metrics;
    struct weft_ops *ops;
};

static struct sys_chan *sys_find(struct peer_sys *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    struct sys_chan *r = s->chans;
    while (r != NULL && strcmp(r->id, id) != 0) {
        r = r->next;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

const struct weft_channel_config *peer__channel_config(struct weft_peer *p, const char *channel)
{
    struct peer_channel *c = peer__channel(p, channel);
    if (c == NULL) {
        return NULL;
    }
    if (p->sys != NULL) {
        struct sys_chan *r = sys_find(p->sys, channel);
        if (r != NULL && r->committer != NULL) {
            return weft_committer_config(r->committer);
        }
    }
    return c->cfg;
}

struct weft_ledger *peer__channel_ledger(struct weft_peer *p, const char *channel)
{
    struct peer_channel *c = peer__channel(p, channel);
    return c != NULL ? c->ledger : NULL;
}

/* Deliver's view of a channel. */
static int deliver_lookup(void *ctx, const char *channel, struct weft_deliver_channel *out)
{
    struct weft_peer *p = ctx;
    const struct weft_channel_config *cfg = peer__channel_config(p, channel);
    struct weft_ledger *l = peer__channel_ledger(p, channel);
    if (cfg == NULL || l == NULL) {
        return WEFT_ENOTFOUND;
    }
    out->ledger = l;
    out->config = cfg;
    return 0;
}

static void on_commit(void *ctx, uint64_t number, const uint8_t *codes, size_t ntx,
                      const struct Common__Block *blk)
{
    struct sys_chan *r = ctx;
    struct peer_metrics *m = __atomic_load_n(&r->sys->metrics, __ATOMIC_ACQUIRE);
    if (m == NULL || r->committer == NULL) {
        return;
    }
    struct weft_validator_stats now, d;
    weft_committer_get_stats(r->committer, &now);
    memset(&d, 0, sizeof(d));
    d.prepare_ns = now.prepare_ns - r->last.prepare_ns;
    d.finish_ns = now.finish_ns - r->last.finish_ns;
    d.commit_ns = now.commit_ns - r->last.commit_ns;
    r->last = now;
    peer__metrics_block(m, r->id, number + 1, &d, blk, codes, ntx);
}

/* PEM bundle of the orderer organisations' TLS roots and intermediates. */
static int orderer_tls_roots(const struct weft_channel_config *cfg, const char *extra, char **out,
                             struct weft_err *err)
{
    struct weft_buf b;
    weft_buf_init(&b, 16u << 20);
    int rc = 0;
    for (size_t i = 0; rc == 0 && cfg->has_orderer && i < cfg->orderer.n_orgs; i++) {
        const struct weft_msp *msp = cfg->orderer.orgs[i].msp;
        for (int k = 0; rc == 0 && msp != NULL && k < 2; k++) {
            size_t n = 0;
            struct weft_x509 *const *v =
                k == 0 ? weft_msp_tls_roots(msp, &n) : weft_msp_tls_intermediates(msp, &n);
            for (size_t j = 0; rc == 0 && j < n; j++) {
                char *pem = NULL;
                size_t pl = 0;
                rc = weft_x509_to_pem(v[j], &pem, &pl, err);
                if (rc == 0) {
                    rc = weft_buf_append(&b, pem, pl);
                }
                weft_free(pem);
            }
        }
    }
    if (rc == 0 && extra != NULL) {
        rc = weft_buf_append(&b, extra, strlen(extra));
    }
    if (rc == 0) {
        rc = weft_buf_append(&b, "", 1);
    }
    if (rc != 0) {
        weft_buf_close(&b);
        return weft_err_set(err, rc, "orderer TLS roots: %s", weft_strerror(rc));
    }
    *out = (char *)weft_buf_steal(&b, NULL);
    return 0;
}

static void chan_free(struct sys_chan *r)
{
    if (r == NULL) {
        return;
    }
    weft_blockpuller_free(r->puller);
    weft_committer_free(r->committer);
    weft_free(r->ca_pem);
    weft_free(r->id);
    weft_free(r);
}

int peer__sys_channel_start(struct weft_peer *p, const char *channel, struct weft_err *err)
{
    struct peer_sys *s = p->sys;
    if (s == NULL || sys_find(s, channel) != NULL) {
        return 0;
    }
    struct peer_channel *c = peer__channel(p, channel);
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "channel '%s' not found", channel);
    }
    struct sys_chan *r = weft_calloc(1, sizeof(*r));
    struct weft_channel_config *cfg = NULL;
    uint8_t *b = NULL;
    size_t bl = 0;
    if (r == NULL || (r->id = weft_strdup(channel)) == NULL) {
        weft_free(r);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    r->sys = s;
    r->ledger = c->ledger;
    int rc = peer__last_config_block(c->ledger, &b, &bl, err);
    if (rc == 0) {
        rc = weft_channel_config_from_block(b, bl, 0, &cfg, err);
    }
    weft_free(b);
    if (rc != 0) {
        weft_err_prefix(err, "channel %s: latest configuration", channel);
        goto fail;
    }
    if (s->tls) {
        rc = orderer_tls_roots(cfg, s->root_pem, &r->ca_pem, err);
        if (rc != 0) {
            goto fail;
        }
        r->copts.tls = true;
        r->copts.ca.pem = r->ca_pem;
        r->copts.cert.file = s->cert_file;
        r->copts.key.file = s->key_file;
    }
    struct weft_committer_options co = {
        .config = cfg,
        .ledger = c->ledger,
        .verifier = s->verifier,
        .cache = s->cache,
        .verify_orderer_sigs = true,
        .on_commit = on_commit,
        .ctx = r,
    };
    rc = weft_committer_new(&co, &r->committer, err);
    if (rc != 0) {
        goto fail;
    }
    cfg = NULL; /* owned by the committer */
    weft_committer_get_stats(r->committer, &r->last);
    struct weft_blockpuller_options po = {
        .channel = channel,
        .committer = r->committer,
        .client = &r->copts,
        .signer = p->msp,
        .overrides = s->ovr,
        .n_overrides = s->n_ovr,
    };
    rc = weft_blockpuller_new(&po, &r->puller, err);
    if (rc != 0) {
        goto fail;
    }
    pthread_mutex_lock(&s->mu);
    r->next = s->chans;
    s->chans = r;
    pthread_mutex_unlock(&s->mu);
    struct peer_metrics *m = __atomic_load_n(&s->metrics, __ATOMIC_ACQUIRE);
    if (m != NULL) {
        peer__metrics_height(m, channel, weft_committer_height(r->committer));
    }
    WEFT_INFO(lg_rt, "channel %s: pulling blocks from the ordering service from block %llu",
              channel, (unsigned long long)weft_committer_height(r->committer));
    return 0;
fail:
    weft_channel_config_free(cfg);
    chan_free(r);
    return rc;
}

/* A readable file named by key (non-empty); *out weft_free. */
static bool opt_file(struct weft_config *cfg, const char *key, char **out)
{
    *out = NULL;
    const char *v = NULL;
    if (weft_config_get_string(cfg, key, &v, NULL) != 0 || v == NULL || v[0] == 0 ||
        weft_config_get_path(cfg, key, out, NULL) != 0 || *out == NULL) {
        return false;
    }
    if (access(*out, R_OK) != 0) {
        WEFT_WARN(lg_rt, "%s: %s is not readable; ignored", key, *out);
        weft_free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

/* Reads a small text file into a NUL-terminated string (weft_free). */
static int read_text(const char *path, char **out, struct weft_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return weft_err_set(err, WEFT_EIO, "cannot open %s", path);
    }
    struct weft_buf b;
    weft_buf_init(&b, 4u << 20);
    char chunk[4096];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, got);
    }
    fclose(f);
    if (rc == 0) {
        rc = weft_buf_append(&b, "\n", 2); /* newline + NUL */
    }
    if (rc != 0) {
        weft_buf_close(&b);
        return weft_err_set(err, rc, "read %s: %s", path, weft_strerror(rc));
    }
    *out = (char *)weft_buf_steal(&b, NULL);
    return 0;
}

/* peer.deliveryclient.addressOverrides into s->ovr. */
static int read_overrides(struct weft_config *cfg, struct peer_sys *s, struct weft_err *err)
{
    static const char key[] = "peer.deliveryclient.addressOverrides";
    const struct weft_config_node *list = weft_config_lookup(cfg, key);
    if (list == NULL || weft_config_node_kind(list) == WEFT_CONFIG_NULL) {
        return 0;
    }
    if (weft_config_node_kind(list) != WEFT_CONFIG_SEQ) {
        return weft_err_set(err, WEFT_ECONFIG, "%s: a list of {from, to, caCertsFile} expected",
                            key);
    }
    size_t cnt = weft_config_node_len(list);
    s->ovr_strs = weft_calloc(3 * cnt + 1, sizeof(*s->ovr_strs));
    s->ovr = weft_calloc(cnt + 1, sizeof(*s->ovr));
    if (s->ovr_strs == NULL || s->ovr == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    s->n_ovr_strs = 3 * cnt;
    for (size_t i = 0; i < cnt; i++) {
        const struct weft_config_node *it = weft_config_node_at(list, i);
        const char *from = NULL, *to = NULL, *ca = NULL;
        if (weft_config_node_string(cfg, weft_config_node_child(it, "from"), &from, err) != 0 ||
            weft_config_node_string(cfg, weft_config_node_child(it, "to"), &to, err) != 0 ||
            from[0] == 0 || to[0] == 0) {
            weft_err_clear(err);
            return weft_err_set(err, WEFT_ECONFIG, "%s[%zu]: `from` and `to` are required", key, i);
        }
        const struct weft_config_node *cn = weft_config_node_child(it, "caCertsFile");
        if (cn != NULL && weft_config_node_kind(cn) != WEFT_CONFIG_NULL &&
            weft_config_node_string(cfg, cn, &ca, err) != 0) {
            return weft_err_prefix(err, "%s[%zu]", key, i);
        }
        char *pem = NULL;
        if (ca != NULL && ca[0] != 0) {
            const char *dir = weft_config_dir(cfg);
            char *path = NULL;
            if (ca[0] == '/' || dir == NULL) {
                path = weft_strdup(ca);
            } else if ((path = weft_malloc(strlen(dir) + strlen(ca) + 2)) != NULL) {
                snprintf(path, strlen(dir) + strlen(ca) + 2, "%s/%s", dir, ca);
            }
            struct weft_err e = {0};
            struct weft_x509 **certs = NULL;
            size_t nc = 0;
            int rc = path == NULL ? weft_err_set(&e, WEFT_ENOMEM, "out of memory")
                                  : read_text(path, &pem, &e);
            if (rc == 0) {
                rc = weft_x509_parse_pem_all(pem, strlen(pem), &certs, &nc, &e);
                weft_x509_array_free(certs, nc);
            }
            if (rc != 0) {
                WEFT_WARN(lg_rt,
                          "%s[%zu]: caCertsFile %s for the override of %s to %s: %s; "
                          "override ignored",
                          key, i, path != NULL ? path : ca, from, to, e.msg);
                weft_free(path);
                weft_free(pem);
                continue;
            }
            weft_free(path);
        }
        char **st = &s->ovr_strs[3 * s->n_ovr];
        st[0] = weft_strdup(from);
        st[1] = weft_strdup(to);
        st[2] = pem;
        if (st[0] == NULL || st[1] == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        s->ovr[s->n_ovr].from = st[0];
        s->ovr[s->n_ovr].to = st[1];
        s->ovr[s->n_ovr].ca_pem = st[2];
        s->n_ovr++;
        WEFT_INFO(lg_rt, "orderer endpoint override: %s -> %s%s", from, to,
                  pem != NULL ? " (own TLS CA certificates)" : "");
    }
    return 0;
}

int peer__sys_start(struct weft_peer *p, struct weft_config *cfg, struct weft_rpc_server *rpc,
                    struct weft_err *err)
{
    struct peer_sys *s = weft_calloc(1, sizeof(*s));
    if (s == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    s->p = p;
    p->sys = s;
    int rc = 0;
    bool tls = false;
    if (weft_config_get_bool(cfg, "peer.tls.enabled", &tls, NULL) != 0) {
        tls = false;
    }
    s->tls = tls;
    if (tls) {
        char *root = NULL;
        if (opt_file(cfg, "peer.tls.rootcert.file", &root)) {
            rc = read_text(root, &s->root_pem, err);
            weft_free(root);
            if (rc != 0) {
                return weft_err_prefix(err, "peer.tls.rootcert.file");
            }
        }
        if (opt_file(cfg, "peer.tls.clientCert.file", &s->cert_file) &&
            opt_file(cfg, "peer.tls.clientKey.file", &s->key_file)) {
            /* explicit client certificate */
        } else {
            weft_free(s->cert_file);
            weft_free(s->key_file);
            s->cert_file = s->key_file = NULL;
            if (!opt_file(cfg, "peer.tls.cert.file", &s->cert_file) ||
                !opt_file(cfg, "peer.tls.key.file", &s->key_file)) {
                weft_free(s->cert_file);
                weft_free(s->key_file);
                s->cert_file = s->key_file = NULL;
            }
        }
        WEFT_DEBUG(lg_rt, "orderer connections: TLS, client certificate %s",
                   s->cert_file != NULL ? s->cert_file : "none");
    }
    rc = read_overrides(cfg, s, err);
    if (rc != 0) {
        return rc;
    }
    s->cache = p->vcache; /* the peer's: the endorser adds its own signatures */
    s->verifier = weft_verifier_new(0, s->cache);
    if (s->cache == NULL || s->verifier == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "peer: signature verifier");
    }
    if (rpc != NULL) {
        int64_t window = 0;
        if (weft_config_get_duration(cfg, "peer.authentication.timewindow", &window, NULL) != 0) {
            window = 0;
        }
        struct weft_deliver_options dopt = {
            .lookup = deliver_lookup,
            .ctx = p,
            .time_window_ns = window,
        };
        rc = weft_deliver_register(rpc, &dopt, &s->deliver, err);
        if (rc != 0) {
            return weft_err_prefix(err, "register Deliver");
        }
    }
    /* channels opened from disk */
    pthread_mutex_lock(&p->mu);
    size_t n = 0;
    for (struct peer_channel *c = p->channels; c != NULL; c = c->next) {
        n++;
    }
    char **ids = weft_calloc(n + 1, sizeof(*ids));
    size_t k = 0;
    for (struct peer_channel *c = p->channels; ids != NULL && c != NULL; c = c->next) {
        ids[k++] = weft_strdup(c->id);
    }
    pthread_mutex_unlock(&p->mu);
    if (ids == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        struct weft_err e = {0};
        if (ids[i] != NULL && peer__sys_channel_start(p, ids[i], &e) != 0) {
            WEFT_ERROR(lg_rt, "channel %s: not pulling blocks: %s", ids[i], e.msg);
        }
        weft_free(ids[i]);
    }
    weft_free(ids);
    return 0;
}

void peer__sys_free(struct weft_peer *p)
{
    struct peer_sys *s = p->sys;
    if (s == NULL) {
        return;
    }
    if (s->ops != NULL &&
        weft_health_unregister(weft_ops_health(s->ops), "orderer-connection") != 0) {
        WEFT_DEBUG(lg_rt, "orderer health check was not registered");
    }
    p->sys = NULL;
    /* pullers first (they feed the committers), then the committers */
    for (struct sys_chan *r = s->chans; r != NULL; r = r->next) {
        weft_blockpuller_free(r->puller);
        r->puller = NULL;
    }
    while (s->chans != NULL) {
        struct sys_chan *r = s->chans;
        s->chans = r->next;
        chan_free(r);
    }
    weft_deliver_free(s->deliver);
    weft_verifier_free(s->verifier);
    peer__metrics_free(s->metrics);
    weft_free(s->root_pem);
    weft_free(s->cert_file);
    weft_free(s->key_file);
    for (size_t i = 0; s->ovr_strs != NULL && i < s->n_ovr_strs; i++) {
        weft_free(s->ovr_strs[i]);
    }
    weft_free(s->ovr_strs);
    weft_free(s->ovr);
    pthread_mutex_destroy(&s->mu);
    weft_free(s);
}

/* ---- operations: metrics and the orderer health check ------------------------------ */

/* Healthy when every channel's committer runs and, for each channel, at
 * least one orderer endpoint its puller dials (addressOverrides applied)
 * accepts a (TLS) connection within 2 s. */
static int orderer_health(void *ctx, char *reason, size_t reason_len)
{
    struct peer_sys *s = ctx;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (struct sys_chan *r = s->chans; r != NULL; r = r->next) {
        n++;
    }
    struct sys_chan **v = weft_calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (struct sys_chan *r = s->chans; v != NULL && r != NULL; r = r->next) {
        v[k++] = r;
    }
    pthread_mutex_unlock(&s->mu);
    if (v == NULL) {
        snprintf(reason, reason_len, "out of memory");
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        struct sys_chan *r = v[i];
        struct weft_err e = {0};
        if (weft_committer_status(r->committer, &e) != 0) {
            snprintf(reason, reason_len, "channel %s: committer stopped: %s", r->id, e.msg);
            rc = WEFT_EUNAVAILABLE;
            break;
        }
        if (r->puller != NULL && weft_blockpuller_probe(r->puller, 2000, reason, reason_len) != 0) {
            rc = WEFT_EUNAVAILABLE;
        }
    }
    weft_free(v);
    return rc;
}

int weft_peer_attach_ops(struct weft_peer *p, struct weft_ops *ops, struct weft_err *err)
{
    struct peer_sys *s = p->sys;
    if (s == NULL || ops == NULL) {
        return 0;
    }
    if (s->metrics != NULL) {
        return weft_err_set(err, WEFT_ESTATE, "operations already attached");
    }
    struct peer_metrics *m = NULL;
    if (weft_ops_metrics(ops) != NULL) {
        m = peer__metrics_new(weft_ops_metrics(ops), err);
        if (m == NULL) {
            return err != NULL && err->code != 0 ? err->code : WEFT_ENOMEM;
        }
    }
    int rc = weft_health_register(weft_ops_health(ops), "orderer-connection", orderer_health, s);
    if (rc != 0) {
        peer__metrics_free(m);
        return weft_err_set(err, rc, "register the orderer health check: %s", weft_strerror(rc));
    }
    s->ops = ops;
    if (m != NULL) {
        pthread_mutex_lock(&s->mu);
        for (struct sys_chan *r = s->chans; r != NULL; r = r->next) {
            weft_committer_get_stats(r->committer, &r->last);
            peer__metrics_height(m, r->id, weft_committer_height(r->committer));
        }
        pthread_mutex_unlock(&s->mu);
        __atomic_store_n(&s->metrics, m, __ATOMIC_RELEASE);
        peer__gateway_attach_metrics(p, weft_ops_metrics(ops));
    }
    return 0;
}
