/*
 * Block puller: the peer pulls its channel's blocks straight from the
 * ordering service's Deliver (Fabric's orgLeader mode).
 *
 * DESIGN. One thread per channel. It asks the committer which block comes
 * next, opens a Deliver stream to the current endpoint, sends one signed
 * seek envelope (that block to the end of time, BLOCK_UNTIL_READY) and
 * hands every received block to the committer. The committer checks each
 * block's orderer signatures against /Channel/Orderer/BlockValidation; when
 * it refuses one (its refusal counter moves), the stream is abandoned and
 * the next endpoint is tried, resuming from the committer's next block.
 * Stream errors and non-200 statuses fail over the same way, with an
 * exponential backoff between attempts that a received block resets.
 * Receives use a 200 ms timeout so stop requests are seen promptly.
 *
 * Endpoints are fixed when the puller starts: the given ones, else the
 * orderer organisations' Endpoints of the channel config, else its
 * OrdererAddresses (Fabric ignores the global addresses when any
 * organisation names endpoints). peer.deliveryclient.addressOverrides
 * applies to each of them as in Fabric: an endpoint whose text equals an
 * override's `from` is dialled at its `to`, trusting only its CA
 * certificates when it has some.
 *
 * Locking: `mu` guards `stop` and the stats; never held across I/O.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "orderer/ab.pb-c.h"
#include "validator_int.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/rpc.h"

#define HDR_DELIVER_SEEK_INFO 5
#define RECV_POLL_MS 200

WEFT_LOGGER(lg_pull, "deliveryClient");

struct endpoint {
    char *addr;
    char *ca_pem; /* an override's roots, else NULL (the client options' roots) */
};

struct weft_blockpuller {
    char *channel;
    struct weft_committer *committer;
    struct endpoint *endpoints;
    size_t n_endpoints;
    struct weft_rpc_client_opts copts;
    bool has_copts;
    struct weft_msp *signer;
    int64_t backoff_min_ms, backoff_max_ms;
    char *method;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    struct weft_blockpuller_stats stats;
    pthread_t thr;
    bool started;
};

int weft_blockpuller_seek_envelope(const char *channel, struct weft_msp *signer, uint64_t start,
                                   uint64_t stop, uint8_t **out, size_t *out_len,
                                   struct weft_err *err)
{
    struct weft_msp_identity *me = weft_msp_signer(signer);
    if (me == NULL) {
        return weft_err_set(err, WEFT_ESTATE, "seek: the local MSP has no signing identity");
    }
    size_t idl;
    const uint8_t *id = weft_msp_identity_serialized(me, &idl);
    uint8_t nonce[24];
    int rc = weft_crypto_random(nonce, sizeof(nonce));
    if (rc != 0) {
        return weft_err_set(err, rc, "seek: no randomness");
    }
    uint64_t now = weft_clock_wall_ns();
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = (int64_t)(now / 1000000000u);
    ts.nanos = (int32_t)(now % 1000000000u);
    Common__ChannelHeader ch = COMMON__CHANNEL_HEADER__INIT;
    ch.type = HDR_DELIVER_SEEK_INFO;
    ch.timestamp = &ts;
    ch.channel_id = (char *)channel;
    Common__SignatureHeader sh = COMMON__SIGNATURE_HEADER__INIT;
    sh.creator.data = (uint8_t *)(uintptr_t)id;
    sh.creator.len = idl;
    sh.nonce.data = nonce;
    sh.nonce.len = sizeof(nonce);
    Orderer__SeekSpecified s1 = ORDERER__SEEK_SPECIFIED__INIT, s2 = ORDERER__SEEK_SPECIFIED__INIT;
    s1.number = start;
    s2.number = stop;
    Orderer__SeekPosition p1 = ORDERER__SEEK_POSITION__INIT, p2 = ORDERER__SEEK_POSITION__INIT;
    p1.type_case = ORDERER__SEEK_POSITION__TYPE_SPECIFIED;
    p1.specified = &s1;
    p2.type_case = ORDERER__SEEK_POSITION__TYPE_SPECIFIED;
    p2.specified = &s2;
    Orderer__SeekInfo si = ORDERER__SEEK_INFO__INIT;
    si.start = &p1;
    si.stop = &p2;
    uint8_t *chb = NULL, *shb = NULL, *sib = NULL, *plb = NULL;
    size_t chl = protobuf_c_message_get_packed_size(&ch.base);
    size_t shl = protobuf_c_message_get_packed_size(&sh.base);
    size_t sil = protobuf_c_message_get_packed_size(&si.base);
    chb = weft_malloc(chl + 1);
    shb = weft_malloc(shl + 1);
    sib = weft_malloc(sil + 1);
    if (chb == NULL || shb == NULL || sib == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    protobuf_c_message_pack(&ch.base, chb);
    protobuf_c_message_pack(&sh.base, shb);
    protobuf_c_message_pack(&si.base, sib);
    Common__Header h = COMMON__HEADER__INIT;
    h.channel_header.data = chb;
    h.channel_header.len = chl;
    h.signature_header.data = shb;
    h.signature_header.len = shl;
    Common__Payload pl = COMMON__PAYLOAD__INIT;
    pl.header = &h;
    pl.data.data = sib;
    pl.data.len = sil;
    size_t pll = protobuf_c_message_get_packed_size(&pl.base);
    plb = weft_malloc(pll + 1);
    if (plb == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    protobuf_c_message_pack(&pl.base, plb);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sigl = 0;
    rc = weft_msp_sign(signer, plb, pll, sig, &sigl, err);
    if (rc != 0) {
        goto cleanup;
    }
    Common__Envelope env = COMMON__ENVELOPE__INIT;
    env.payload.data = plb;
    env.payload.len = pll;
    env.signature.data = sig;
    env.signature.len = sigl;
    *out_len = protobuf_c_message_get_packed_size(&env.base);
    *out = weft_malloc(*out_len + 1);
    if (*out == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    protobuf_c_message_pack(&env.base, *out);
cleanup:
    weft_free(chb);
    weft_free(shb);
    weft_free(sib);
    weft_free(plb);
    return rc;
}

static bool stopping(struct weft_blockpuller *p)
{
    pthread_mutex_lock(&p->mu);
    bool s = p->stop;
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void count(struct weft_blockpuller *p, uint64_t *field)
{
    pthread_mutex_lock(&p->mu);
    (*field)++;
    pthread_mutex_unlock(&p->mu);
}

/* Sleeps ms unless stopped. */
static void nap(struct weft_blockpuller *p, int64_t ms)
{
    uint64_t until = weft_clock_mono_ns() + (uint64_t)ms * 1000000u;
    pthread_mutex_lock(&p->mu);
    while (!p->stop && weft_clock_mono_ns() < until) {
        struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
        pthread_cond_timedwait(&p->cond, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
}

/* The block bytes (field 2) of a DeliverResponse, or its status (field 1). */
static int parse_response(const uint8_t *m, size_t len, struct peer_bytes *block, int *status)
{
    struct peer_pb r = {m, m + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v;
    int rc;
    block->p = NULL;
    *status = 0;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        if (f == 1 && wt == 0) {
            *status = (int)num;
        } else if (f == 2 && wt == 2) {
            *block = v;
        }
    }
    return rc;
}

/* One stream against one endpoint. Returns when it should fail over (or
 * stop). *got is set when at least one block was accepted. */
/* A client for one endpoint, with its override's roots if any. */
static struct weft_rpc_client *dial(struct weft_blockpuller *p, const struct endpoint *e,
                                    struct weft_err *err)
{
    if (!p->has_copts) {
        return weft_rpc_client_new(e->addr, NULL, err);
    }
    struct weft_rpc_client_opts o = p->copts;
    if (e->ca_pem != NULL) {
        o.ca.pem = e->ca_pem;
        o.ca.file = NULL;
    }
    return weft_rpc_client_new(e->addr, &o, err);
}

static void pull_once(struct weft_blockpuller *p, const struct endpoint *endpoint, bool *got)
{
    struct weft_err err = {0};
    uint64_t next = weft_committer_next_number(p->committer);
    uint64_t refused0 = weft_committer_refused(p->committer, NULL);
    struct weft_rpc_client *cl = dial(p, endpoint, &err);
    if (cl == NULL) {
        return;
    }
    struct weft_rpc_stream *s = weft_rpc_client_stream(cl, p->method, -1, &err);
    uint8_t *env = NULL;
    size_t envl = 0;
    if (s == NULL || weft_blockpuller_seek_envelope(p->channel, p->signer, next, UINT64_MAX, &env,
                                                    &envl, &err) != 0) {
        goto done;
    }
    count(p, &p->stats.connects);
    if (weft_rpc_stream_send(s, env, envl) != 0) {
        goto done;
    }
    WEFT_DEBUG(lg_pull, "channel %s: seek from block %llu sent to %s", p->channel,
               (unsigned long long)next, endpoint->addr);
    while (!stopping(p)) {
        uint8_t *m = NULL;
        size_t ml = 0;
        int rc = weft_rpc_stream_recv(s, &m, &ml, RECV_POLL_MS);
        if (weft_committer_refused(p->committer, NULL) != refused0 ||
            weft_committer_status(p->committer, NULL) != 0) {
            weft_free(m);
            break; /* a refused block: try another orderer */
        }
        if (rc == WEFT_ETIMEDOUT) {
            continue;
        }
        if (rc != 0 || m == NULL) {
            break;
        }
        struct peer_bytes b = {0};
        int status;
        if (parse_response(m, ml, &b, &status) < 0 || b.p == NULL) {
            weft_free(m);
            break; /* a status (the orderer ends streams with one) or garbage */
        }
        uint8_t *copy = weft_memdup(b.p, b.len > 0 ? b.len : 1);
        weft_free(m);
        if (copy == NULL) {
            break;
        }
        for (;;) {
            rc = weft_committer_submit(p->committer, copy, b.len,
                                       weft_clock_mono_ns() + 1000000000u, &err);
            if (rc != WEFT_ETIMEDOUT || stopping(p)) {
                break;
            }
        }
        if (rc != 0) {
            weft_free(copy);
            break;
        }
        *got = true;
        count(p, &p->stats.blocks);
        WEFT_DEBUG(lg_pull, "channel %s: received a block of %zu bytes", p->channel, b.len);
    }
done:
    weft_free(env);
    weft_rpc_stream_free(s);
    weft_rpc_client_free(cl);
}

static void *puller_main(void *arg)
{
    weft_thread_name("blk-puller");
    struct weft_blockpuller *p = arg;
    size_t idx = 0;
    int64_t backoff = p->backoff_min_ms;
    while (!stopping(p)) {
        bool got = false;
        pull_once(p, &p->endpoints[idx % p->n_endpoints], &got);
        if (stopping(p) || weft_committer_status(p->committer, NULL) != 0) {
            break;
        }
        count(p, &p->stats.failovers);
        idx++;
        if (got) {
            backoff = p->backoff_min_ms;
        }
        nap(p, backoff);
        backoff = backoff * 2 > p->backoff_max_ms ? p->backoff_max_ms : backoff * 2;
    }
    return NULL;
}

/* Adds endpoint e, or the `to` of the override whose `from` it equals. */
static int add_endpoint(struct weft_blockpuller *p, const struct weft_blockpuller_options *opt,
                        const char *e)
{
    const struct weft_blockpuller_override *o = NULL;
    for (size_t i = 0; o == NULL && opt->overrides != NULL && i < opt->n_overrides; i++) {
        if (opt->overrides[i].from != NULL && opt->overrides[i].to != NULL &&
            strcmp(opt->overrides[i].from, e) == 0) {
            o = &opt->overrides[i];
        }
    }
    struct endpoint *n = weft_realloc(p->endpoints, (p->n_endpoints + 1) * sizeof(*n));
    if (n == NULL) {
        return WEFT_ENOMEM;
    }
    p->endpoints = n;
    struct endpoint *dst = &p->endpoints[p->n_endpoints];
    dst->addr = weft_strdup(o != NULL ? o->to : e);
    dst->ca_pem = o != NULL && o->ca_pem != NULL ? weft_strdup(o->ca_pem) : NULL;
    if (dst->addr == NULL || (o != NULL && o->ca_pem != NULL && dst->ca_pem == NULL)) {
        weft_free(dst->addr);
        weft_free(dst->ca_pem);
        return WEFT_ENOMEM;
    }
    p->n_endpoints++;
    if (o != NULL) {
        WEFT_INFO(lg_pull, "channel %s: orderer endpoint %s overridden to %s%s", opt->channel, e,
                  o->to, o->ca_pem != NULL ? " (its own TLS CA certificates)" : "");
    }
    return 0;
}

int weft_blockpuller_new(const struct weft_blockpuller_options *opt,
                         struct weft_blockpuller **out, struct weft_err *err)
{
    if (opt == NULL || opt->channel == NULL || opt->committer == NULL || opt->signer == NULL ||
        out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "block puller: channel, committer, signer required");
    }
    struct weft_blockpuller *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->committer = opt->committer;
    p->signer = opt->signer;
    p->backoff_min_ms = opt->backoff_min_ms > 0 ? opt->backoff_min_ms : 100;
    p->backoff_max_ms = opt->backoff_max_ms > 0 ? opt->backoff_max_ms : 10000;
    if (opt->client != NULL) {
        p->copts = *opt->client;
        p->has_copts = true;
    }
    p->channel = weft_strdup(opt->channel);
    p->method = weft_strdup(opt->method != NULL ? opt->method : "/orderer.AtomicBroadcast/Deliver");
    int rc = p->channel != NULL && p->method != NULL ? 0 : WEFT_ENOMEM;
    for (size_t i = 0; rc == 0 && i < opt->n_endpoints; i++) {
        rc = add_endpoint(p, opt, opt->endpoints[i]);
    }
    if (rc == 0 && p->n_endpoints == 0) {
        const struct weft_channel_config *cfg = weft_committer_config(opt->committer);
        for (size_t o = 0; rc == 0 && cfg->has_orderer && o < cfg->orderer.n_orgs; o++) {
            const struct weft_configtx_strv *ev = &cfg->orderer.orgs[o].endpoints;
            for (size_t i = 0; rc == 0 && i < ev->n; i++) {
                rc = add_endpoint(p, opt, ev->v[i]);
            }
        }
        for (size_t i = 0; rc == 0 && p->n_endpoints == 0 && i < cfg->orderer_addresses.n; i++) {
            rc = add_endpoint(p, opt, cfg->orderer_addresses.v[i]);
        }
    }
    if (rc != 0) {
        weft_blockpuller_free(p);
        return weft_err_set(err, rc, "out of memory");
    }
    if (p->n_endpoints == 0) {
        weft_blockpuller_free(p);
        return weft_err_set(err, WEFT_ECONFIG, "block puller: no orderer endpoint for %s",
                            opt->channel);
    }
    if (pthread_create(&p->thr, NULL, puller_main, p) != 0) {
        weft_blockpuller_free(p);
        return weft_err_set(err, WEFT_ENOMEM, "block puller: cannot start a thread");
    }
    p->started = true;
    *out = p;
    return 0;
}

void weft_blockpuller_free(struct weft_blockpuller *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    if (p->started) {
        pthread_join(p->thr, NULL);
    }
    for (size_t i = 0; i < p->n_endpoints; i++) {
        weft_free(p->endpoints[i].addr);
        weft_free(p->endpoints[i].ca_pem);
    }
    weft_free(p->endpoints);
    weft_free(p->channel);
    weft_free(p->method);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    weft_free(p);
}

void weft_blockpuller_get_stats(struct weft_blockpuller *p, struct weft_blockpuller_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

int weft_blockpuller_probe(struct weft_blockpuller *p, int64_t timeout_ms, char *reason,
                           size_t reason_len)
{
    for (size_t i = 0; i < p->n_endpoints; i++) {
        struct weft_rpc_client *cl = dial(p, &p->endpoints[i], NULL);
        bool up = cl != NULL && weft_rpc_client_wait_ready(cl, timeout_ms) == 0;
        weft_rpc_client_free(cl);
        if (up) {
            return 0;
        }
    }
    if (reason != NULL && reason_len > 0) {
        size_t o =
            (size_t)snprintf(reason, reason_len, "channel %s: no orderer reachable (", p->channel);
        for (size_t i = 0; o < reason_len && i < p->n_endpoints; i++) {
            o += (size_t)snprintf(reason + o, reason_len - o, "%s%s", i > 0 ? ", " : "",
                                  p->endpoints[i].addr);
        }
        if (o < reason_len) {
            snprintf(reason + o, reason_len - o, ")");
        }
    }
    return WEFT_EUNAVAILABLE;
}
