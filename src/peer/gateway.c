/*
 * The gateway.Gateway service (weft/gateway.h; spec transaction-flow.md
 * §5-§8). Handlers run on the gRPC worker pool and may block, except:
 *  - Endorse asks every org of its layout at once. With the peer's
 *    asynchronous endorser (backend endorse_async) it runs on the rpc
 *    completion-queue thread: the own org's endorsement and the other orgs'
 *    ProcessProposal calls are started there and the last one to complete
 *    answers (gw_ecall); a retry on another peer, another layout, or a peer
 *    not dialled yet moves the call to a worker of the gateway's pool,
 *    gw->jobs, where the blocking code (collect_parallel, fill_layout)
 *    carries on with deadlines;
 *  - Submit answers later too: it sends over one long-lived Broadcast
 *    stream per orderer, shared by all calls, and the stream's reader thread
 *    answers each call from the orderer's in-order answers (a failed
 *    attempt moves on to the next orderer on a worker of gw->jobs);
 *  - CommitStatus runs on the rpc completion-queue thread (WEFT_RPC_INLINE:
 *    it never blocks) and answers later (WEFT_RPC_DEFERRED): it registers a waiter
 *    with the channel's watcher thread, which follows the ledger and, after
 *    each block, answers the calls whose transaction is now in the block
 *    index; the call's cancellation callback (client cancel, deadline,
 *    server stop) answers the others. No thread waits per call.
 *
 * Locks: gw->mu guards the client and stream lists, the watcher list and
 * the watchers' waiter lists; it is never held across a network call (the
 * watcher holds it for its block-index lookups, microseconds each). Each
 * shared stream has its own send_mu (sends, in queue order) and mu (queue).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.pb-c.h"
#include "gateway/gateway.pb-c.h"
#include "gateway_int.h"
#include "orderer/ab.pb-c.h"
#include "peer/chaincode.pb-c.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "peer/lifecycle/db.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/log.h"
#include "weft/ops.h"
#include "weft/policy.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_gw, "gateway");

#define METHOD_PROCESS_PROPOSAL "/protos.Endorser/ProcessProposal"
#define METHOD_BROADCAST "/orderer.AtomicBroadcast/Broadcast"
#define MAX_ENDPOINTS 64
#define GW_JOB_THREADS 256 /* the peer's gRPC server has as many workers */

struct gw_client {
    struct gw_client *next;
    char *address;
    struct weft_rpc_client *c;
    bool dialled; /* the first call's wait for the connection is over (atomic) */
    bool redialling; /* a worker is waiting for the connection again (atomic) */
};

/* A deferred CommitStatus call waiting for its transaction (no thread is
 * held). Whoever takes it off its watcher's list (gw->mu) answers the call:
 * the watcher when the transaction commits, the call's cancellation
 * callback, or gateway shutdown - but only once the handler has returned
 * (armed); before that the handler answers itself. */
struct gw_waiter {
    struct gw_waiter *next; /* gw->mu */
    struct weft_gateway *gw;
    struct gw_watch *watch;
    struct weft_rpc_call *call;
    char *txid;
    uint64_t t0;
    bool listed; /* on watch->waiters (gw->mu) */
    bool armed;  /* the handler returned WEFT_RPC_DEFERRED (gw->mu) */
    int outcome; /* why it left the list: WEFT_RPC_OK (found, loc set),
                    CANCELLED or UNAVAILABLE (gw->mu) */
    struct weft_ledger_txloc loc;
};

/* Follows one channel's ledger; after each committed block it looks up the
 * waiting transactions and answers only the calls whose transaction is now
 * in the block index (no herd of wakeups per block). */
struct gw_watch {
    struct gw_watch *next;
    char *channel;
    struct weft_gateway *gw;
    struct weft_ledger *ledger;
    struct weft_ledger_iter *it;
    pthread_t th;
    struct gw_waiter *waiters; /* gw->mu */
    bool dead;                 /* its thread ended on a ledger error (gw->mu) */
};

struct gw_bcast;

struct gw_metrics {
    struct weft_metrics_counter_vec *requests;
    struct weft_metrics_histogram_vec *duration;
    struct weft_metrics_counter_vec *endorsements;
};

struct weft_gateway {
    char *mspid, *endpoint;
    struct weft_gateway_peer *peers;
    size_t n_peers;
    char **orderers;
    size_t n_orderers;
    bool no_anchor_peers;
    bool tls;
    char *tls_roots; /* PEM contents of tls_root_file, or NULL */
    char *tls_cert_file, *tls_key_file;
    int64_t endorse_ms, broadcast_ms, dial_ms;
    uint32_t limit;  /* most concurrent requests, 0 = no limit */
    uint32_t active; /* requests in progress (atomic) */
    struct weft_gateway_backend be;
    struct gw_metrics m; /* published once, atomically */
    bool metrics_set;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* a watcher's gen changed */
    struct gw_client *clients;
    struct gw_bcast *bcasts; /* one shared Broadcast stream per orderer */
    struct weft_pool *jobs;  /* Endorse: other orgs' shares (collect_parallel) */
    struct weft_rpc_server *rpc; /* its completion threads finish remote endorsements */
    uint32_t ecalls;          /* Endorse calls whose state lives (gw->mu) */
    pthread_cond_t ecall_cv;  /* ecalls dropped to 0 */
    struct gw_watch *watches;
    bool stopping;
    struct weft_gateway_stats stats;
};

/* ---- small helpers ----------------------------------------------------------------- */

static void release(struct weft_gateway *gw);

static void stat_inc(struct weft_gateway *gw, uint64_t *field)
{
    __atomic_fetch_add(field, 1, __ATOMIC_RELAXED);
    (void)gw;
}

static void observe(struct weft_gateway *gw, const char *method, int code, uint64_t t0)
{
    if (code != WEFT_RPC_OK) {
        stat_inc(gw, &gw->stats.failed);
    }
    struct weft_metrics_counter_vec *rv = __atomic_load_n(&gw->m.requests, __ATOMIC_ACQUIRE);
    struct weft_metrics_histogram_vec *dv = __atomic_load_n(&gw->m.duration, __ATOMIC_ACQUIRE);
    if (rv != NULL) {
        const char *lv[2] = {method, code == WEFT_RPC_OK ? "success" : weft_rpc_code_name(code)};
        struct weft_metrics_counter *c = weft_metrics_counter_with(rv, lv);
        if (c != NULL) {
            weft_metrics_counter_inc(c);
        }
    }
    if (dv != NULL) {
        const char *lv[1] = {method};
        struct weft_metrics_histogram *h = weft_metrics_histogram_with(dv, lv);
        if (h != NULL) {
            weft_metrics_histogram_observe(h, (double)(weft_clock_mono_ns() - t0) / 1e9);
        }
    }
}

static void count_endorsement(struct weft_gateway *gw, const struct gw_outcome *oc)
{
    stat_inc(gw, &gw->stats.endorsements);
    struct weft_metrics_counter_vec *ev = __atomic_load_n(&gw->m.endorsements, __ATOMIC_ACQUIRE);
    if (ev != NULL) {
        const char *lv[1] = {oc->code == WEFT_RPC_OK ? "success" : weft_rpc_code_name(oc->code)};
        struct weft_metrics_counter *c = weft_metrics_counter_with(ev, lv);
        if (c != NULL) {
            weft_metrics_counter_inc(c);
        }
    }
}

/* Sets the status message and, when there are details, the rich status
 * trailer; returns code for the unary handler. */
static int fail(struct weft_rpc_call *call, int code, const char *msg,
                const struct gw_details *d)
{
    weft_rpc_call_set_message(call, msg);
    if (d != NULL && d->n > 0) {
        uint8_t *bin = NULL;
        size_t len = 0;
        if (gw_status_pack(code, msg, d, &bin, &len) == 0 &&
            weft_rpc_call_set_status_details(call, bin, len) != 0) {
            WEFT_WARN(lg_gw, "could not attach error details");
        }
        weft_free(bin);
    }
    return code;
}

/* Remaining milliseconds until deadline_ns (at least 1). */
static int64_t ms_left(uint64_t deadline_ns)
{
    uint64_t now = weft_clock_mono_ns();
    if (deadline_ns <= now) {
        return 1;
    }
    uint64_t ms = (deadline_ns - now) / 1000000u;
    return ms > 0 ? (int64_t)ms : 1;
}

static uint64_t deadline_for(struct weft_rpc_call *call, int64_t limit_ms)
{
    uint64_t d = weft_clock_mono_ns() + (uint64_t)limit_ms * 1000000u;
    uint64_t cd = weft_rpc_call_deadline_ns(call);
    return cd < d ? cd : d;
}

/* ---- clients to other peers and orderers ---------------------------------------- */

/* Appends every TLS root of every org of cfg as PEM. */
static void add_cfg_roots(const struct weft_channel_config *cfg, struct weft_buf *b)
{
    const struct weft_configtx_org *lists[2] = {cfg->application.orgs, cfg->orderer.orgs};
    size_t counts[2] = {cfg->has_application ? cfg->application.n_orgs : 0,
                        cfg->has_orderer ? cfg->orderer.n_orgs : 0};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            if (lists[l][i].msp == NULL) {
                continue;
            }
            size_t n = 0;
            struct weft_x509 *const *roots = weft_msp_tls_roots(lists[l][i].msp, &n);
            for (size_t k = 0; k < n; k++) {
                char *pem = NULL;
                size_t pl = 0;
                if (weft_x509_to_pem(roots[k], &pem, &pl, NULL) == 0) {
                    if (weft_buf_append(b, pem, pl) != 0) {
                        WEFT_WARN(lg_gw, "TLS roots too large");
                    }
                    weft_free(pem);
                }
            }
        }
    }
}

/* The first call to an address waits until the connection is up (at most
 * dialTimeout, 2 s, or what is left of the call's deadline), much as
 * Fabric's gateway dials its endorsers and orderers before using them, so
 * a burst of first calls does not fail on a connection still being set up.
 * Only that first call waits: later calls fail fast when the other side is
 * down, and the caller moves on to another peer or orderer. */
#define GW_FIRST_DIAL_MS 2000

static struct weft_rpc_client *client_ready(struct weft_gateway *gw, struct gw_client *e,
                                            uint64_t deadline_ns)
{
    if (!__atomic_load_n(&e->dialled, __ATOMIC_ACQUIRE)) {
        int64_t ms = ms_left(deadline_ns);
        if (ms > gw->dial_ms) {
            ms = gw->dial_ms;
        }
        if (ms > GW_FIRST_DIAL_MS) {
            ms = GW_FIRST_DIAL_MS;
        }
        if (weft_rpc_client_wait_ready(e->c, ms) != 0) {
            WEFT_DEBUG(lg_gw, "%s: not connected after %lld ms", e->address, (long long)ms);
        }
        __atomic_store_n(&e->dialled, true, __ATOMIC_RELEASE);
    }
    return e->c;
}

static struct weft_rpc_client *client_for(struct weft_gateway *gw,
                                          const struct weft_channel_config *cfg,
                                          const char *address, uint64_t deadline_ns,
                                          struct weft_err *err)
{
    pthread_mutex_lock(&gw->mu);
    for (struct gw_client *c = gw->clients; c != NULL; c = c->next) {
        if (strcmp(c->address, address) == 0) {
            pthread_mutex_unlock(&gw->mu);
            return client_ready(gw, c, deadline_ns);
        }
    }
    /* created under the lock (it does not connect): one channel per address */
    struct weft_rpc_client_opts o = {0};
    struct weft_buf roots;
    weft_buf_init(&roots, 16u << 20);
    if (gw->tls) {
        o.tls = true;
        if (gw->tls_roots != NULL && weft_buf_append(&roots, gw->tls_roots,
                                                      strlen(gw->tls_roots)) != 0) {
            pthread_mutex_unlock(&gw->mu);
            weft_buf_close(&roots);
            weft_err_set(err, WEFT_ENOMEM, "out of memory");
            return NULL;
        }
        if (cfg != NULL) {
            add_cfg_roots(cfg, &roots);
        }
        if (weft_buf_append(&roots, "", 0) != 0 || roots.len == 0) {
            pthread_mutex_unlock(&gw->mu);
            weft_buf_close(&roots);
            weft_err_set(err, WEFT_ECONFIG, "no TLS root certificates for %s", address);
            return NULL;
        }
        o.ca.pem = (const char *)roots.data;
        o.cert.file = gw->tls_cert_file;
        o.key.file = gw->tls_key_file;
    }
    o.backoff_min_ms = 100;
    o.backoff_max_ms = 2000;
    struct weft_rpc_client *c = weft_rpc_client_new(address, &o, err);
    weft_buf_close(&roots);
    struct gw_client *e = c == NULL ? NULL : weft_calloc(1, sizeof(*e));
    if (e == NULL || (e->address = weft_strdup(address)) == NULL) {
        pthread_mutex_unlock(&gw->mu);
        if (c != NULL) {
            weft_free(e);
            weft_rpc_client_free(c);
            weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        return NULL;
    }
    e->c = c;
    e->next = gw->clients;
    gw->clients = e;
    pthread_mutex_unlock(&gw->mu);
    return client_ready(gw, e, deadline_ns);
}

/* On a worker of gw->jobs: waits (at most GW_FIRST_DIAL_MS) for the
 * client's connection, which polls the channel meanwhile. */
static void redial_job(void *arg)
{
    struct gw_client *e = arg;
    if (weft_rpc_client_wait_ready(e->c, GW_FIRST_DIAL_MS) != 0) {
        WEFT_DEBUG(lg_gw, "%s: not connected again after %d ms", e->address, GW_FIRST_DIAL_MS);
    }
    __atomic_store_n(&e->redialling, false, __ATOMIC_RELEASE);
}

/* After a transport failure to address: a worker waits for its connection
 * again (one at a time per address), as the first call did. Under gRPC's
 * poll engine a broken channel reconnects only while someone polls it, and
 * calls that fail fast do not; the calls themselves keep failing fast
 * meanwhile and move on to another peer or orderer. */
static void client_redial(struct weft_gateway *gw, const char *address)
{
    pthread_mutex_lock(&gw->mu);
    struct gw_client *e = gw->clients;
    while (e != NULL && strcmp(e->address, address) != 0) {
        e = e->next;
    }
    bool start = e != NULL && gw->jobs != NULL &&
                 !__atomic_exchange_n(&e->redialling, true, __ATOMIC_ACQ_REL);
    if (start && weft_pool_submit(gw->jobs, redial_job, e) != 0) {
        __atomic_store_n(&e->redialling, false, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&gw->mu);
}

/* ---- the proposal -------------------------------------------------------------- */

struct gw_prop {
    uint8_t *sp; /* ser(SignedProposal) */
    size_t sp_len;
    const uint8_t *pbytes; /* Proposal bytes (inside the request) */
    size_t plen;
    char *channel, *txid, *cc;
    bool transient;
};

static void prop_clear(struct gw_prop *p)
{
    weft_free(p->sp);
    weft_free(p->channel);
    weft_free(p->txid);
    weft_free(p->cc);
    memset(p, 0, sizeof(*p));
}

static int prop_parse(const Protos__SignedProposal *sp, struct gw_prop *out,
                      struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    Protos__Proposal *prop = protos__proposal__unpack(NULL, sp->proposal_bytes.len,
                                                      sp->proposal_bytes.data);
    Common__Header *h = NULL;
    Common__ChannelHeader *ch = NULL;
    Protos__ChaincodeProposalPayload *cpp = NULL;
    Protos__ChaincodeInvocationSpec *cis = NULL;
    int rc = 0;
    if (prop == NULL ||
        (h = common__header__unpack(NULL, prop->header.len, prop->header.data)) == NULL ||
        (ch = common__channel_header__unpack(NULL, h->channel_header.len,
                                             h->channel_header.data)) == NULL ||
        (cpp = protos__chaincode_proposal_payload__unpack(NULL, prop->payload.len,
                                                           prop->payload.data)) == NULL ||
        (cis = protos__chaincode_invocation_spec__unpack(NULL, cpp->input.len,
                                                         cpp->input.data)) == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "malformed proposal");
        goto done;
    }
    if (ch->channel_id == NULL || ch->channel_id[0] == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "no channel id provided");
        goto done;
    }
    if (cis->chaincode_spec == NULL || cis->chaincode_spec->chaincode_id == NULL ||
        cis->chaincode_spec->chaincode_id->name == NULL ||
        cis->chaincode_spec->chaincode_id->name[0] == 0) {
        rc = weft_err_set(err, WEFT_EINVAL, "no chaincode specified");
        goto done;
    }
    out->channel = weft_strdup(ch->channel_id);
    out->txid = weft_strdup(ch->tx_id != NULL ? ch->tx_id : "");
    out->cc = weft_strdup(cis->chaincode_spec->chaincode_id->name);
    out->transient = cpp->n_transientmap > 0;
    out->sp_len = protos__signed_proposal__get_packed_size(sp);
    out->sp = weft_malloc(out->sp_len + 1);
    if (out->channel == NULL || out->txid == NULL || out->cc == NULL || out->sp == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto done;
    }
    protos__signed_proposal__pack(sp, out->sp);
    out->pbytes = sp->proposal_bytes.data;
    out->plen = sp->proposal_bytes.len;
done:
    protos__chaincode_invocation_spec__free_unpacked(cis, NULL);
    protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    common__channel_header__free_unpacked(ch, NULL);
    common__header__free_unpacked(h, NULL);
    protos__proposal__free_unpacked(prop, NULL);
    if (rc != 0) {
        prop_clear(out);
    }
    return rc;
}

/* ---- endpoints ------------------------------------------------------------------- */

struct gw_ep {
    const char *mspid;
    char address[300];
    bool local;
    bool used; /* attempted */
};

struct gw_eps {
    struct gw_ep v[MAX_ENDPOINTS];
    size_t n;
};

static void eps_add(struct gw_eps *e, const char *mspid, const char *address, bool local)
{
    if (e->n >= MAX_ENDPOINTS) {
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i].address, address) == 0) {
            return;
        }
    }
    struct gw_ep *p = &e->v[e->n++];
    memset(p, 0, sizeof(*p));
    p->mspid = mspid;
    snprintf(p->address, sizeof(p->address), "%s", address);
    p->local = local;
}

/* Known peers of channel: the local peer, configured peers, then the
 * anchor peers of the other orgs. */
static void known_peers(struct weft_gateway *gw, const struct weft_channel_config *cfg,
                        struct gw_eps *e)
{
    memset(e, 0, sizeof(*e));
    eps_add(e, gw->mspid, gw->endpoint, true);
    for (size_t i = 0; i < gw->n_peers; i++) {
        eps_add(e, gw->peers[i].mspid, gw->peers[i].address, false);
    }
    if (gw->no_anchor_peers || cfg == NULL || !cfg->has_application) {
        return;
    }
    for (size_t i = 0; i < cfg->application.n_orgs; i++) {
        const struct weft_configtx_org *o = &cfg->application.orgs[i];
        if (o->mspid == NULL || strcmp(o->mspid, gw->mspid) == 0) {
            continue; /* own org: from the local configuration only */
        }
        for (size_t k = 0; k < o->n_anchor_peers; k++) {
            char a[300];
            snprintf(a, sizeof(a), "%s:%u", o->anchor_peers[k].host,
                     (unsigned)o->anchor_peers[k].port);
            eps_add(e, o->mspid, a, false);
        }
    }
}

/* The outcome of a ProcessProposal (rc and r as the rpc client gives them).
 * On OK *pr is the decoded response (caller frees). */
static void endorse_outcome(struct weft_gateway *gw, int rc, const struct weft_rpc_result *r,
                           Protos__ProposalResponse **pr, struct gw_outcome *oc)
{
    *pr = NULL;
    if (rc != 0) {
        bool transport = r->code == WEFT_RPC_UNAVAILABLE || r->code == WEFT_RPC_DEADLINE_EXCEEDED ||
                         r->code == WEFT_RPC_CANCELLED || r->code == WEFT_RPC_RESOURCE_EXHAUSTED ||
                         r->code == WEFT_RPC_INTERNAL;
        char msg[400];
        snprintf(msg, sizeof(msg), "rpc error: code = %s desc = %s", weft_rpc_code_name(r->code),
                 r->message != NULL ? r->message : "");
        gw_classify(transport, !transport, msg, NULL, oc);
    } else {
        *pr = protos__proposal_response__unpack(NULL, r->len, r->data);
        gw_classify(false, false, NULL, *pr, oc);
        if (oc->code != WEFT_RPC_OK) {
            protos__proposal_response__free_unpacked(*pr, NULL);
            *pr = NULL;
        }
    }
    count_endorsement(gw, oc);
}

/* The outcome of the local endorser (rc, resp and e as the backend gives
 * them). On OK *pr is the decoded response (caller frees). */
static void local_outcome(struct weft_gateway *gw, int rc, const uint8_t *resp, size_t len,
                          const struct weft_err *e, Protos__ProposalResponse **pr,
                          struct gw_outcome *oc)
{
    if (rc != 0) {
        *pr = NULL;
        gw_classify(false, true, e->msg[0] ? e->msg : weft_strerror(rc), NULL, oc);
        count_endorsement(gw, oc);
        return;
    }
    struct weft_rpc_result r = {.data = (uint8_t *)(uintptr_t)resp, .len = len};
    endorse_outcome(gw, 0, &r, pr, oc);
}

/* One ProcessProposal, on this thread. On OK *pr is the decoded response
 * (caller frees). */
static void endorse_on(struct weft_gateway *gw, const struct weft_channel_config *cfg,
                       struct gw_ep *ep, const struct gw_prop *p, uint64_t deadline_ns,
                       Protos__ProposalResponse **pr, struct gw_outcome *oc)
{
    *pr = NULL;
    ep->used = true;
    struct weft_rpc_result r = {0};
    struct weft_err e = {0};
    int rc;
    if (ep->local) {
        rc = gw->be.endorse(gw->be.ctx, p->sp, p->sp_len, &r.data, &r.len, &e);
        local_outcome(gw, rc, r.data, r.len, &e, pr, oc);
        weft_rpc_result_clear(&r);
        return;
    } else {
        struct weft_rpc_client *c = client_for(gw, cfg, ep->address, deadline_ns, &e);
        if (c == NULL) {
            gw_classify(true, false, e.msg, NULL, oc);
            count_endorsement(gw, oc);
            return;
        }
        rc = weft_rpc_client_unary(c, METHOD_PROCESS_PROPOSAL, p->sp, p->sp_len,
                                   ms_left(deadline_ns), &r);
    }
    endorse_outcome(gw, rc, &r, pr, oc);
    weft_rpc_result_clear(&r);
    if (oc->code == WEFT_RPC_UNAVAILABLE) {
        client_redial(gw, ep->address);
    }
}

/* Layouts of the chaincode's endorsement policy: _lifecycle's
 * ValidationInfo, else the channel's /Channel/Application/Endorsement. */
static int cc_layouts(struct weft_gateway *gw, const struct weft_channel_config *cfg,
                      const char *channel, const char *cc, struct gw_layouts *out,
                      struct weft_err *err)
{
    struct weft_ledger *l = gw->be.ledger(gw->be.ctx, channel);
    uint8_t *v = NULL;
    size_t vl = 0;
    bool found = false;
    if (l != NULL) {
        struct weft_ledger_sim *qe = NULL;
        char *key = weft_asprintf("namespaces/fields/%s/ValidationInfo", cc);
        if (key != NULL && weft_ledger_qe_new(l, &qe, NULL) == 0) {
            if (weft_ledger_sim_get(qe, "_lifecycle", key, strlen(key), &v, &vl, &found, NULL,
                                    NULL) != 0) {
                found = false;
            }
            weft_ledger_sim_free(qe);
        }
        weft_free(key);
    }
    int rc = WEFT_ENOTFOUND;
    if (found) {
        Lifecycle__StateData *sd = lifecycle__state_data__unpack(NULL, vl, v);
        Lifecycle__ChaincodeValidationInfo *vi = NULL;
        if (sd != NULL && sd->type_case == LIFECYCLE__STATE_DATA__TYPE_BYTES &&
            (vi = lifecycle__chaincode_validation_info__unpack(NULL, sd->bytes.len,
                                                               sd->bytes.data)) != NULL &&
            vi->validation_parameter.len > 0) {
            rc = gw_layouts_from_app_policy(vi->validation_parameter.data,
                                            vi->validation_parameter.len, cfg, out, err);
        }
        lifecycle__chaincode_validation_info__free_unpacked(vi, NULL);
        lifecycle__state_data__free_unpacked(sd, NULL);
    }
    weft_free(v);
    if (rc == WEFT_ENOTFOUND) {
        rc = gw_layouts_from_config(cfg, "/Channel/Application/Endorsement", out, err);
    }
    return rc;
}

/* ---- Evaluate ------------------------------------------------------------------- */

static bool in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] != NULL && strcmp(v[i], s) == 0) {
            return true;
        }
    }
    return false;
}

static int h_evaluate(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                      struct weft_buf *resp)
{
    struct weft_gateway *gw = ctx;
    uint64_t t0 = weft_clock_mono_ns();
    stat_inc(gw, &gw->stats.evaluate);
    Gateway__EvaluateRequest *r = gateway__evaluate_request__unpack(NULL, len, req);
    struct gw_prop p = {0};
    struct gw_details d = {0};
    struct gw_layouts ls = {0};
    Protos__ProposalResponse *pr = NULL;
    Protos__ProposalResponsePayload *prp = NULL;
    Protos__ChaincodeAction *ca = NULL;
    struct weft_err e = {0};
    char msg[700];
    int code;
    if (r == NULL) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, "an evaluate request is required", NULL);
        goto out;
    }
    if (r->proposed_transaction == NULL || prop_parse(r->proposed_transaction, &p, &e) != 0) {
        snprintf(msg, sizeof(msg), "failed to unpack transaction proposal: %s",
                 r->proposed_transaction == NULL ? "no proposal" : e.msg);
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, msg, NULL);
        goto out;
    }
    const struct weft_channel_config *cfg = gw->be.config(gw->be.ctx, p.channel);
    if (cfg == NULL) {
        snprintf(msg, sizeof(msg), "channel '%s' not found", p.channel);
        code = fail(call, WEFT_RPC_NOT_FOUND, msg, NULL);
        goto out;
    }
    /* candidates: the local org's peers (local first), then peers of the
     * orgs that can endorse the chaincode, or of the target orgs */
    struct gw_eps all, cand;
    known_peers(gw, cfg, &all);
    memset(&cand, 0, sizeof(cand));
    bool targets = r->n_target_organizations > 0;
    for (size_t i = 0; i < all.n; i++) {
        bool own = strcmp(all.v[i].mspid, gw->mspid) == 0;
        if (targets ? in_list(r->target_organizations, r->n_target_organizations,
                              all.v[i].mspid)
                    : own) {
            cand.v[cand.n++] = all.v[i];
        }
    }
    if (!targets && !p.transient && cc_layouts(gw, cfg, p.channel, p.cc, &ls, NULL) == 0) {
        for (size_t l = 0; l < ls.n; l++) {
            for (size_t i = 0; i < all.n; i++) {
                if (gw_layout_need(&ls.v[l], all.v[i].mspid) > 0) {
                    eps_add(&cand, all.v[i].mspid, all.v[i].address, all.v[i].local);
                }
            }
        }
    }
    if (cand.n == 0) {
        if (p.transient && !targets) {
            snprintf(msg, sizeof(msg),
                     "no endorsers found in the gateway's organization; retry specifying "
                     "target organization(s) to protect transient data: no peers available to "
                     "evaluate chaincode %s in channel %s", p.cc, p.channel);
        } else {
            snprintf(msg, sizeof(msg), "no peers available to evaluate chaincode %s in channel %s",
                     p.cc, p.channel);
        }
        code = fail(call, WEFT_RPC_FAILED_PRECONDITION, msg, NULL);
        goto out;
    }
    uint64_t deadline = deadline_for(call, gw->endorse_ms);
    struct gw_outcome oc = {0};
    for (size_t i = 0; i < cand.n; i++) {
        if (weft_clock_mono_ns() >= deadline) {
            code = fail(call, WEFT_RPC_DEADLINE_EXCEEDED, "evaluate timeout expired", NULL);
            goto out;
        }
        if (i > 0) {
            stat_inc(gw, &gw->stats.endorse_retries);
        }
        endorse_on(gw, cfg, &cand.v[i], &p, deadline, &pr, &oc);
        if (oc.code == WEFT_RPC_OK) {
            break;
        }
        if (gw_details_add(&d, cand.v[i].address, cand.v[i].mspid, oc.msg) != 0) {
            code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
            goto out;
        }
        if (!oc.retry) {
            snprintf(msg, sizeof(msg), "evaluate call to endorser returned error: %s", oc.msg);
            code = fail(call, oc.code, msg, &d);
            goto out;
        }
    }
    if (pr == NULL) {
        code = fail(call, oc.code,
                    "failed to evaluate transaction, see attached details for more info", &d);
        goto out;
    }
    /* result = the chaincode's Response, payload from the ChaincodeAction */
    Protos__Response res = PROTOS__RESPONSE__INIT;
    res.status = pr->response->status;
    res.message = pr->response->message;
    res.payload = pr->response->payload;
    prp = protos__proposal_response_payload__unpack(NULL, pr->payload.len, pr->payload.data);
    if (prp != NULL) {
        ca = protos__chaincode_action__unpack(NULL, prp->extension.len, prp->extension.data);
        if (ca != NULL && ca->response != NULL) {
            res.payload = ca->response->payload;
        }
    }
    Gateway__EvaluateResponse er = GATEWAY__EVALUATE_RESPONSE__INIT;
    er.result = &res;
    size_t l = gateway__evaluate_response__get_packed_size(&er);
    if (weft_buf_reserve(resp, l + 1) != 0) {
        code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "response too large", NULL);
        goto out;
    }
    resp->len = gateway__evaluate_response__pack(&er, resp->data);
    code = WEFT_RPC_OK;
out:
    observe(gw, "Evaluate", code, t0);
    protos__chaincode_action__free_unpacked(ca, NULL);
    protos__proposal_response_payload__free_unpacked(prp, NULL);
    protos__proposal_response__free_unpacked(pr, NULL);
    gw_layouts_free(&ls);
    gw_details_free(&d);
    prop_clear(&p);
    gateway__evaluate_request__free_unpacked(r, NULL);
    return code;
}

/* ---- Endorse -------------------------------------------------------------------- */

struct gw_got {
    const char *mspid;
    Protos__ProposalResponse *pr;
};

struct gw_endorse {
    struct weft_gateway *gw;
    const struct weft_channel_config *cfg;
    struct gw_prop *p;
    uint64_t deadline;
    struct gw_eps eps;
    struct gw_got got[MAX_ENDPOINTS];
    size_t n_got;
    struct gw_details d;
    bool nonretry; /* a non-retryable failure happened */
    int last_code;
    char last_msg[512];
};

static uint32_t got_count(const struct gw_endorse *x, const char *mspid)
{
    uint32_t n = 0;
    for (size_t i = 0; i < x->n_got; i++) {
        n += strcmp(x->got[i].mspid, mspid) == 0;
    }
    return n;
}

/* One attempt on ep; records the outcome. Returns true on an accepted
 * endorsement. */
static bool try_ep(struct gw_endorse *x, struct gw_ep *ep, bool retry)
{
    Protos__ProposalResponse *pr = NULL;
    struct gw_outcome oc;
    if (retry) {
        stat_inc(x->gw, &x->gw->stats.endorse_retries);
    }
    endorse_on(x->gw, x->cfg, ep, x->p, x->deadline, &pr, &oc);
    if (oc.code == WEFT_RPC_OK && pr->endorsement == NULL) {
        oc.code = WEFT_RPC_ABORTED;
        snprintf(oc.msg, sizeof(oc.msg), "endorser returned no endorsement");
    }
    if (oc.code == WEFT_RPC_OK && x->n_got > 0) {
        const ProtobufCBinaryData *a = &x->got[0].pr->payload;
        if (a->len != pr->payload.len || memcmp(a->data, pr->payload.data, a->len) != 0) {
            oc.code = WEFT_RPC_ABORTED;
            oc.retry = true;
            snprintf(oc.msg, sizeof(oc.msg), "ProposalResponsePayloads do not match");
        }
    }
    if (oc.code == WEFT_RPC_OK && x->n_got < MAX_ENDPOINTS) {
        x->got[x->n_got].mspid = ep->mspid;
        x->got[x->n_got].pr = pr;
        x->n_got++;
        return true;
    }
    protos__proposal_response__free_unpacked(pr, NULL);
    if (oc.code == WEFT_RPC_UNAVAILABLE && !ep->local) {
        client_redial(x->gw, ep->address);
    }
    if (!oc.retry) {
        x->nonretry = true;
    }
    x->last_code = oc.code;
    snprintf(x->last_msg, sizeof(x->last_msg), "%s", oc.msg);
    if (gw_details_add(&x->d, ep->address, ep->mspid, oc.msg) != 0) {
        WEFT_WARN(lg_gw, "out of memory recording an endorsement failure");
    }
    return false;
}

/* Collects endorsements until layout l is met: each org's unused peers in
 * order, retrying on another peer of the org after a failure. */
static bool fill_layout(struct gw_endorse *x, const struct gw_layout *l)
{
    for (size_t o = 0; o < l->n; o++) {
        const char *msp = l->orgs[o].mspid;
        bool tried_in_org = false;
        while (got_count(x, msp) < l->orgs[o].n) {
            if (x->nonretry || weft_clock_mono_ns() >= x->deadline) {
                return false;
            }
            struct gw_ep *next = NULL;
            for (size_t i = 0; i < x->eps.n && next == NULL; i++) {
                if (!x->eps.v[i].used && strcmp(x->eps.v[i].mspid, msp) == 0) {
                    next = &x->eps.v[i];
                }
            }
            if (next == NULL) {
                return false;
            }
            (void)try_ep(x, next, tried_in_org);
            tried_in_org = true;
        }
    }
    return true;
}

/* Peers still available (unused) plus endorsements already held cover l. */
static bool layout_feasible(const struct gw_endorse *x, const struct gw_layout *l)
{
    for (size_t o = 0; o < l->n; o++) {
        uint32_t have = got_count(x, l->orgs[o].mspid);
        for (size_t i = 0; i < x->eps.n; i++) {
            have += !x->eps.v[i].used && strcmp(x->eps.v[i].mspid, l->orgs[o].mspid) == 0;
        }
        if (have < l->orgs[o].n) {
            return false;
        }
    }
    return true;
}

/* One organisation's share of a parallel collection: up to need
 * endorsements from its peers, one peer after another (a peer that fails
 * retryably is replaced by the next of the same org). Touches only its own
 * org's endpoints, so the orgs of a layout run on separate threads. */
struct gw_ecall;
struct gw_org_job {
    struct gw_endorse *x;
    struct gw_ecall *ec; /* the async Endorse it belongs to (ecall_start) */
    const char *mspid;
    uint32_t need;
    Protos__ProposalResponse *pr[MAX_ENDPOINTS];
    const char *pr_mspid[MAX_ENDPOINTS];
    const char *pr_addr[MAX_ENDPOINTS];
    size_t n;
    struct gw_details d;
    bool nonretry;
    uint32_t attempts;
    bool queued; /* runs on gw->jobs or async; done, under *mu, and *cv report its end */
    bool async;  /* one remote attempt at a time, completing on gw->rpc's threads */
    bool inflight; /* an async attempt is under way (*mu) */
    const struct gw_ep *cur; /* its peer */
    bool done;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
};

/* The org's next peer to ask, or NULL when its share is complete, a failure
 * was final, the deadline passed or no peer of the org is left. */
static struct gw_ep *org_job_pick(struct gw_org_job *j)
{
    struct gw_endorse *x = j->x;
    if (j->n >= j->need || j->nonretry || weft_clock_mono_ns() >= x->deadline) {
        return NULL;
    }
    for (size_t i = 0; i < x->eps.n; i++) {
        /* mspid first: another org's job writes its endpoints' used */
        if (strcmp(x->eps.v[i].mspid, j->mspid) == 0 && !x->eps.v[i].used) {
            return &x->eps.v[i];
        }
    }
    return NULL;
}

/* Keeps an accepted endorsement (pr taken) or records the failure. */
static void org_job_record(struct gw_org_job *j, const struct gw_ep *ep,
                           Protos__ProposalResponse *pr, struct gw_outcome *oc)
{
    if (oc->code == WEFT_RPC_OK && pr->endorsement == NULL) {
        oc->code = WEFT_RPC_ABORTED;
        oc->retry = false;
        snprintf(oc->msg, sizeof(oc->msg), "endorser returned no endorsement");
    }
    if (oc->code == WEFT_RPC_OK) {
        j->pr_mspid[j->n] = ep->mspid;
        j->pr_addr[j->n] = ep->address;
        j->pr[j->n++] = pr;
        return;
    }
    protos__proposal_response__free_unpacked(pr, NULL);
    if (oc->code == WEFT_RPC_UNAVAILABLE && !ep->local) {
        client_redial(j->x->gw, ep->address);
    }
    if (!oc->retry) {
        j->nonretry = true;
    }
    if (gw_details_add(&j->d, ep->address, ep->mspid, oc->msg) != 0) {
        WEFT_WARN(lg_gw, "out of memory recording an endorsement failure");
    }
}

static void org_job_run(struct gw_org_job *j)
{
    struct gw_ep *ep;
    while ((ep = org_job_pick(j)) != NULL) {
        if (j->attempts++ > 0) {
            stat_inc(j->x->gw, &j->x->gw->stats.endorse_retries);
        }
        Protos__ProposalResponse *pr = NULL;
        struct gw_outcome oc;
        endorse_on(j->x->gw, j->x->cfg, ep, j->x->p, j->x->deadline, &pr, &oc);
        org_job_record(j, ep, pr, &oc);
    }
}

/* A remote attempt's completion, on an rpc completion-queue thread. */
static void org_job_async_done(void *ctx, int rc, struct weft_rpc_result *r)
{
    struct gw_org_job *j = ctx;
    Protos__ProposalResponse *pr = NULL;
    struct gw_outcome oc;
    endorse_outcome(j->x->gw, rc, r, &pr, &oc);
    weft_rpc_result_clear(r);
    pthread_mutex_lock(j->mu);
    org_job_record(j, j->cur, pr, &oc);
    j->inflight = false;
    pthread_cond_signal(j->cv);
    pthread_mutex_unlock(j->mu);
}

/* Starts the org's next attempt, completing on the gateway's rpc threads
 * (no thread waits for it); attempts that fail to start are recorded here
 * and the next peer tried. Returns false when the org's share is over.
 * Only the collector calls it, never while an attempt is in flight. */
static bool org_job_start(struct gw_org_job *j)
{
    struct gw_endorse *x = j->x;
    struct gw_ep *ep;
    while ((ep = org_job_pick(j)) != NULL) {
        if (j->attempts++ > 0) {
            stat_inc(x->gw, &x->gw->stats.endorse_retries);
        }
        Protos__ProposalResponse *pr = NULL;
        struct gw_outcome oc;
        if (ep->local) {
            endorse_on(x->gw, x->cfg, ep, x->p, x->deadline, &pr, &oc);
            org_job_record(j, ep, pr, &oc);
            continue;
        }
        ep->used = true;
        struct weft_err e = {0};
        struct weft_rpc_client *c = client_for(x->gw, x->cfg, ep->address, x->deadline, &e);
        if (c == NULL) {
            gw_classify(true, false, e.msg, NULL, &oc);
            count_endorsement(x->gw, &oc);
            org_job_record(j, ep, NULL, &oc);
            continue;
        }
        j->cur = ep;
        j->inflight = true;
        struct weft_rpc_result r = {0};
        int rc = weft_rpc_client_unary_async(c, x->gw->rpc, METHOD_PROCESS_PROPOSAL, x->p->sp,
                                             x->p->sp_len, ms_left(x->deadline),
                                             org_job_async_done, j, &r);
        if (rc == 0) {
            return true;
        }
        j->inflight = false;
        endorse_outcome(x->gw, rc, &r, &pr, &oc);
        weft_rpc_result_clear(&r);
        org_job_record(j, ep, pr, &oc);
    }
    return false;
}

/* A job on the gateway's worker pool: runs, then wakes its collector. */
static void org_job_pooled(void *arg)
{
    static __thread bool named;
    if (!named) {
        weft_thread_name("gw-endorse");
        named = true;
    }
    struct gw_org_job *j = arg;
    pthread_mutex_t *mu = j->mu;
    org_job_run(j);
    pthread_mutex_lock(mu);
    j->done = true;
    pthread_cond_signal(j->cv);
    pthread_mutex_unlock(mu);
}

/* The jobs of layout l (NULL when out of memory): the gateway's own org
 * first when own_first or when l needs it (Fabric's gateway always asks it
 * first), then every other org of l. */
static struct gw_org_job *jobs_build(struct gw_endorse *x, const struct gw_layout *l,
                                     bool own_first, size_t *nj)
{
    const char *own = x->gw->mspid;
    struct gw_org_job *jobs = l == NULL ? NULL : weft_calloc(l->n + 1, sizeof(*jobs));
    *nj = 0;
    if (jobs == NULL) {
        return NULL;
    }
    size_t n = 0;
    if (own_first || gw_layout_need(l, own) > 0) {
        uint32_t need = gw_layout_need(l, own);
        jobs[n].mspid = own;
        jobs[n++].need = need > 0 ? need : 1;
    }
    for (size_t o = 0; o < l->n; o++) {
        if (strcmp(l->orgs[o].mspid, own) != 0) {
            jobs[n].mspid = l->orgs[o].mspid;
            jobs[n++].need = l->orgs[o].n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        jobs[i].x = x;
    }
    *nj = n;
    return jobs;
}

/* Moves the jobs' endorsements into x->got in job order (own org first);
 * one whose payload differs from the first is dropped with a detail.
 * *own_failed is set when the own org could not endorse at all because of a
 * non-retryable failure (then only its details are kept, as when it is
 * asked alone). The jobs keep no endorsement afterwards. */
static void jobs_merge(struct gw_endorse *x, struct gw_org_job *jobs, size_t nj,
                       bool *own_failed)
{
    *own_failed = nj > 0 && strcmp(jobs[0].mspid, x->gw->mspid) == 0 && jobs[0].n == 0 &&
                  jobs[0].nonretry;
    for (size_t i = 0; i < nj; i++) {
        struct gw_org_job *j = &jobs[i];
        if (*own_failed && i > 0) {
            for (size_t k = 0; k < j->n; k++) {
                protos__proposal_response__free_unpacked(j->pr[k], NULL);
            }
            j->n = 0;
            gw_details_free(&j->d);
            continue;
        }
        for (size_t k = 0; k < j->d.n; k++) {
            if (gw_details_add(&x->d, j->d.v[k].address, j->d.v[k].mspid, j->d.v[k].message) !=
                0) {
                WEFT_WARN(lg_gw, "out of memory recording an endorsement failure");
            }
        }
        gw_details_free(&j->d);
        if (j->nonretry) {
            x->nonretry = true;
        }
        for (size_t k = 0; k < j->n; k++) {
            Protos__ProposalResponse *pr = j->pr[k];
            bool keep = x->n_got < MAX_ENDPOINTS;
            if (keep && x->n_got > 0) {
                const ProtobufCBinaryData *a = &x->got[0].pr->payload;
                if (a->len != pr->payload.len || memcmp(a->data, pr->payload.data, a->len) != 0) {
                    keep = false;
                    if (gw_details_add(&x->d, j->pr_addr[k], j->pr_mspid[k],
                                       "ProposalResponsePayloads do not match") != 0) {
                        WEFT_WARN(lg_gw, "out of memory recording an endorsement failure");
                    }
                }
            }
            if (keep) {
                x->got[x->n_got].mspid = j->pr_mspid[k];
                x->got[x->n_got++].pr = pr;
            } else {
                protos__proposal_response__free_unpacked(pr, NULL);
            }
        }
        j->n = 0;
    }
}

/* Frees jobs and whatever they still hold. */
static void jobs_free(struct gw_org_job *jobs, size_t nj)
{
    for (size_t i = 0; jobs != NULL && i < nj; i++) {
        for (size_t k = 0; k < jobs[i].n; k++) {
            protos__proposal_response__free_unpacked(jobs[i].pr[k], NULL);
        }
        gw_details_free(&jobs[i].d);
    }
    weft_free(jobs);
}

/* Collects the endorsements of layout l from all its orgs at once, blocking
 * (jobs_build says which): the own org on this thread, every other org as
 * async calls on gw->rpc's threads (or, without an rpc server, on workers
 * of gw->jobs; a job that cannot be queued runs here after the own org's).
 * Then jobs_merge. */
static void collect_parallel(struct gw_endorse *x, const struct gw_layout *l, bool own_first,
                             bool *own_failed)
{
    size_t nj = 0;
    struct gw_org_job *jobs = jobs_build(x, l, own_first, &nj);
    *own_failed = false;
    if (jobs == NULL) {
        return; /* the sequential fallback still runs */
    }
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&cv, NULL);
    for (size_t i = 0; i < nj; i++) {
        jobs[i].mu = &mu;
        jobs[i].cv = &cv;
        if (i == 0) {
            continue; /* the first job runs on this thread */
        }
        if (x->gw->rpc != NULL) {
            jobs[i].async = jobs[i].queued = true;
            jobs[i].done = !org_job_start(&jobs[i]);
        } else {
            jobs[i].queued = weft_pool_submit(x->gw->jobs, org_job_pooled, &jobs[i]) == 0;
        }
    }
    for (size_t i = 0; i < nj; i++) {
        if (!jobs[i].queued) {
            org_job_run(&jobs[i]);
        }
    }
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nj; i++) {
        while (jobs[i].queued && !jobs[i].done) {
            if (jobs[i].async && !jobs[i].inflight) { /* an attempt ended: the next one */
                pthread_mutex_unlock(&mu);
                bool more = org_job_start(&jobs[i]);
                pthread_mutex_lock(&mu);
                jobs[i].done = !more;
                continue;
            }
            pthread_cond_wait(&cv, &mu);
        }
    }
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
    jobs_merge(x, jobs, nj, own_failed);
    jobs_free(jobs, nj);
}

/* One Endorse call. Planned on the thread that received it (endorse_plan).
 * With the backend's endorse_async the first layout's endorsements start
 * there too (ecall_start), and the completion of the last attempt
 * concludes: on that rpc thread when no further network call is needed,
 * else on a worker of gw->jobs, which also runs the whole collection when
 * it cannot start without waiting (a peer not dialled yet). Without
 * endorse_async, h_endorse runs everything on the server's worker. */
struct gw_ecall {
    struct weft_gateway *gw;
    struct weft_rpc_call *call;
    uint64_t t0;
    Gateway__EndorseRequest *r;
    struct gw_prop p;
    struct gw_layouts ls;
    struct gw_endorse x;
    const struct gw_layout *first; /* collected at once, all its orgs in parallel */
    bool own_first;
    struct gw_org_job *jobs; /* NULL until ecall_start started them */
    size_t nj;
    bool merged; /* the jobs' endorsements are in x */
    int pending;  /* attempts in flight, plus the starter's hold (atomic) */
    bool replied; /* the answer's claim: conclusion or cancellation (atomic) */
};

static struct gw_ecall *ecall_new(struct weft_gateway *gw, struct weft_rpc_call *call)
{
    struct gw_ecall *ec = weft_calloc(1, sizeof(*ec));
    if (ec != NULL) {
        pthread_mutex_lock(&gw->mu);
        gw->ecalls++;
        pthread_mutex_unlock(&gw->mu);
        ec->gw = gw;
        ec->call = call;
        ec->t0 = weft_clock_mono_ns();
        ec->x.gw = gw;
        ec->x.p = &ec->p;
    }
    return ec;
}

static void ecall_free(struct gw_ecall *ec)
{
    if (ec == NULL) {
        return;
    }
    jobs_free(ec->jobs, ec->nj);
    for (size_t i = 0; i < ec->x.n_got; i++) {
        protos__proposal_response__free_unpacked(ec->x.got[i].pr, NULL);
    }
    gw_details_free(&ec->x.d);
    gw_layouts_free(&ec->ls);
    prop_clear(&ec->p);
    gateway__endorse_request__free_unpacked(ec->r, NULL);
    struct weft_gateway *gw = ec->gw;
    weft_free(ec);
    pthread_mutex_lock(&gw->mu); /* the last touch of gw: weft_gateway_free waits for it */
    if (--gw->ecalls == 0) {
        pthread_cond_broadcast(&gw->ecall_cv);
    }
    pthread_mutex_unlock(&gw->mu);
}

/* Decodes the request, finds the chaincode's layouts and picks the first to
 * collect. WEFT_RPC_OK to go on, else the call's failure (message set). */
static int endorse_plan(struct gw_ecall *ec, const uint8_t *req, size_t len)
{
    struct weft_gateway *gw = ec->gw;
    struct weft_rpc_call *call = ec->call;
    struct gw_endorse *x = &ec->x;
    struct gw_layouts *ls = &ec->ls;
    struct weft_err e = {0};
    char msg[700];
    Gateway__EndorseRequest *r = ec->r = gateway__endorse_request__unpack(NULL, len, req);
    if (r == NULL) {
        return fail(call, WEFT_RPC_INVALID_ARGUMENT, "an endorse request is required", NULL);
    }
    if (r->proposed_transaction == NULL) {
        return fail(call, WEFT_RPC_INVALID_ARGUMENT,
                    "the proposed transaction must contain a signed proposal", NULL);
    }
    if (prop_parse(r->proposed_transaction, &ec->p, &e) != 0) {
        snprintf(msg, sizeof(msg), "failed to unpack transaction proposal: %s", e.msg);
        return fail(call, WEFT_RPC_INVALID_ARGUMENT, msg, NULL);
    }
    const struct weft_channel_config *cfg = gw->be.config(gw->be.ctx, ec->p.channel);
    if (cfg == NULL) {
        snprintf(msg, sizeof(msg), "channel '%s' not found", ec->p.channel);
        return fail(call, WEFT_RPC_NOT_FOUND, msg, NULL);
    }
    x->cfg = cfg;
    x->deadline = deadline_for(call, gw->endorse_ms);
    known_peers(gw, cfg, &x->eps);
    if (r->n_endorsing_organizations > 0) {
        /* one endorsement from each requested org */
        ls->v = weft_calloc(1, sizeof(*ls->v));
        if (ls->v == NULL) {
            return fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        }
        ls->n = 1;
        ls->v[0].orgs = weft_calloc(r->n_endorsing_organizations, sizeof(*ls->v[0].orgs));
        for (size_t i = 0; ls->v[0].orgs != NULL && i < r->n_endorsing_organizations; i++) {
            if (in_list(r->endorsing_organizations, i, r->endorsing_organizations[i])) {
                continue;
            }
            ls->v[0].orgs[ls->v[0].n].mspid = weft_strdup(r->endorsing_organizations[i]);
            ls->v[0].orgs[ls->v[0].n++].n = 1;
        }
    } else {
        if (cc_layouts(gw, cfg, ec->p.channel, ec->p.cc, ls, &e) != 0) {
            return fail(call, WEFT_RPC_FAILED_PRECONDITION, e.msg, NULL);
        }
        if (ls->n == 0) {
            snprintf(msg, sizeof(msg),
                     "no combination of peers can be derived which satisfy the endorsement "
                     "policy of chaincode %s in channel %s", ec->p.cc, ec->p.channel);
            return fail(call, WEFT_RPC_FAILED_PRECONDITION, msg, NULL);
        }
    }
    /* The first layout that can be met (with the gateway's own org when it
     * has a say): all its orgs at once. Unless orgs were requested, the own
     * org is asked too, as Fabric's gateway always endorses there first; its
     * non-retryable failure (a chaincode error, a refused proposal) ends the
     * call as "failed to endorse". */
    for (size_t i = 0; i < ls->n && ec->first == NULL; i++) {
        if (layout_feasible(x, &ls->v[i]) && gw_layout_need(&ls->v[i], gw->mspid) > 0) {
            ec->first = &ls->v[i];
        }
    }
    for (size_t i = 0; i < ls->n && ec->first == NULL; i++) {
        if (layout_feasible(x, &ls->v[i])) {
            ec->first = &ls->v[i];
        }
    }
    if (ec->first == NULL) {
        snprintf(msg, sizeof(msg),
                 "no peers available to satisfy the endorsement policy of chaincode %s in "
                 "channel %s", ec->p.cc, ec->p.channel);
        return fail(call, WEFT_RPC_UNAVAILABLE, msg, NULL);
    }
    ec->own_first = r->n_endorsing_organizations == 0;
    return WEFT_RPC_OK;
}

/* The layout the answer uses: the first (in plan order) that can be met
 * and is met, asking further peers where one is short (blocking calls).
 * NULL when none could be. */
static const struct gw_layout *endorse_fill(struct gw_ecall *ec)
{
    struct gw_endorse *x = &ec->x;
    for (size_t i = 0; i < ec->ls.n && !x->nonretry; i++) {
        if (weft_clock_mono_ns() >= x->deadline) {
            break;
        }
        if (layout_feasible(x, &ec->ls.v[i]) && fill_layout(x, &ec->ls.v[i])) {
            return &ec->ls.v[i];
        }
    }
    return NULL;
}

/* Whether endorse_fill would call out: the first layout it would try is
 * not met by the endorsements held already. */
static bool endorse_fill_calls(const struct gw_ecall *ec)
{
    const struct gw_endorse *x = &ec->x;
    if (x->nonretry || weft_clock_mono_ns() >= x->deadline) {
        return false;
    }
    for (size_t i = 0; i < ec->ls.n; i++) {
        const struct gw_layout *l = &ec->ls.v[i];
        if (!layout_feasible(x, l)) {
            continue;
        }
        for (size_t o = 0; o < l->n; o++) {
            if (got_count(x, l->orgs[o].mspid) < l->orgs[o].n) {
                return true;
            }
        }
        return false;
    }
    return false;
}

/* The answer, once the collection is over (own_failed: the own org could
 * not endorse at all; done: endorse_fill's layout): the failure (message
 * and details set) or the prepared transaction in resp. Never blocks. */
static int endorse_answer(struct gw_ecall *ec, bool own_failed, const struct gw_layout *done,
                          struct weft_buf *resp)
{
    struct weft_rpc_call *call = ec->call;
    struct gw_endorse *x = &ec->x;
    struct weft_err e = {0};
    if (own_failed) {
        return fail(call, WEFT_RPC_ABORTED,
                    "failed to endorse transaction, see attached details for more info", &x->d);
    }
    if (done == NULL) {
        if (weft_clock_mono_ns() >= x->deadline) {
            return fail(call, WEFT_RPC_DEADLINE_EXCEEDED,
                        x->n_got == 0
                            ? "endorsement timeout expired while collecting first endorsement"
                            : "endorsement timeout expired while collecting endorsements",
                        NULL);
        }
        if (x->n_got == 0) {
            return fail(call, WEFT_RPC_ABORTED,
                        "failed to endorse transaction, see attached details for more info",
                        &x->d);
        }
        return fail(call, WEFT_RPC_ABORTED,
                    "failed to collect enough transaction endorsements, see attached "
                    "details for more info",
                    &x->d);
    }
    /* the endorsements the layout counts, in collection order */
    const Protos__ProposalResponse *use[MAX_ENDPOINTS];
    size_t nu = 0;
    for (size_t i = 0; i < x->n_got; i++) {
        uint32_t need = gw_layout_need(done, x->got[i].mspid);
        uint32_t before = 0;
        for (size_t k = 0; k < i; k++) {
            before += strcmp(x->got[k].mspid, x->got[i].mspid) == 0;
        }
        if (before < need) {
            use[nu++] = x->got[i].pr;
        }
    }
    uint8_t *env = NULL;
    size_t env_len = 0;
    if (gw_prepare_envelope(ec->p.pbytes, ec->p.plen, use, nu, &env, &env_len, &e) != 0) {
        return fail(call, WEFT_RPC_ABORTED, e.msg, NULL);
    }
    /* EndorseResponse{prepared_transaction (1) = Envelope} */
    uint8_t hdr[11];
    size_t h = 0;
    hdr[h++] = 0x0a;
    for (uint64_t v = env_len;;) {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        hdr[h++] = (uint8_t)(c | (v ? 0x80 : 0));
        if (v == 0) {
            break;
        }
    }
    int code = WEFT_RPC_OK;
    if (weft_buf_append(resp, hdr, h) != 0 || weft_buf_append(resp, env, env_len) != 0) {
        code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "response too large", NULL);
    }
    weft_free(env);
    return code;
}

/* Endorse on the server's worker (backend without endorse_async). */
static int h_endorse(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                     struct weft_buf *resp)
{
    struct weft_gateway *gw = ctx;
    stat_inc(gw, &gw->stats.endorse);
    struct gw_ecall *ec = ecall_new(gw, call);
    if (ec == NULL) {
        return fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
    }
    int code = endorse_plan(ec, req, len);
    if (code == WEFT_RPC_OK) {
        bool own_failed = false;
        collect_parallel(&ec->x, ec->first, ec->own_first, &own_failed);
        code = endorse_answer(ec, own_failed, own_failed ? NULL : endorse_fill(ec), resp);
    }
    observe(gw, "Endorse", code, ec->t0);
    ecall_free(ec);
    return code;
}

/* ---- Endorse without a worker (backend endorse_async) ------------------------------ */

/* Takes the right to answer; false when the other side (conclusion or
 * cancellation) has it. */
static bool ecall_claim(struct gw_ecall *ec)
{
    return !__atomic_exchange_n(&ec->replied, true, __ATOMIC_ACQ_REL);
}

/* The client is gone (cancel, deadline, server stop): answered now, under
 * the call's lock. The last attempt's completion, which always follows
 * (remote calls carry the deadline and the server's stop cancels them; the
 * chaincode support enforces its execute timeout), frees the call's state. */
static void ecall_cancelled(void *arg)
{
    struct gw_ecall *ec = arg;
    struct weft_gateway *gw = ec->gw; /* ec may go once the claim is lost */
    struct weft_rpc_call *call = ec->call;
    uint64_t t0 = ec->t0;
    if (!ecall_claim(ec)) {
        return;
    }
    observe(gw, "Endorse", WEFT_RPC_CANCELLED, t0);
    weft_rpc_call_set_message(call, "endorse cancelled");
    (void)weft_rpc_call_reply(call, WEFT_RPC_CANCELLED, NULL, 0);
    release(gw);
}

/* Answers (when the claim is still ours) with endorse_answer's outcome and
 * frees ec. */
static void ecall_finish(struct gw_ecall *ec, bool own_failed, const struct gw_layout *done)
{
    struct weft_gateway *gw = ec->gw;
    if (ecall_claim(ec)) {
        struct weft_buf resp;
        weft_buf_init(&resp, WEFT_RPC_DEFAULT_MAX_MSG);
        int code = endorse_answer(ec, own_failed, done, &resp);
        observe(gw, "Endorse", code, ec->t0);
        (void)weft_rpc_call_reply(ec->call, code, resp.data, resp.len);
        weft_buf_close(&resp);
        release(gw);
    }
    ecall_free(ec);
}

/* On a worker of gw->jobs: the rest of a collection that needs blocking
 * calls (retries on further peers, other layouts), or all of it when it
 * could not start without waiting (jobs NULL). */
static void ecall_pooled(void *arg)
{
    struct gw_ecall *ec = arg;
    bool own_failed = false;
    if (ec->jobs == NULL) {
        collect_parallel(&ec->x, ec->first, ec->own_first, &own_failed);
    } else if (!ec->merged) {
        for (size_t i = 0; i < ec->nj; i++) {
            org_job_run(&ec->jobs[i]); /* nothing to do for a complete share */
        }
        jobs_merge(&ec->x, ec->jobs, ec->nj, &own_failed);
    } /* else merged by ecall_collected, which concludes an own failure itself */
    ecall_finish(ec, own_failed, own_failed ? NULL : endorse_fill(ec));
}

/* Every started attempt has completed: conclude here when nothing more
 * must be asked, else on a worker. */
static void ecall_collected(struct gw_ecall *ec)
{
    bool more = false;
    for (size_t i = 0; i < ec->nj && !more; i++) {
        more = org_job_pick(&ec->jobs[i]) != NULL; /* a retry is due */
    }
    if (!more) {
        bool own_failed = false;
        jobs_merge(&ec->x, ec->jobs, ec->nj, &own_failed);
        if (own_failed || !endorse_fill_calls(ec)) {
            ecall_finish(ec, own_failed, own_failed ? NULL : endorse_fill(ec));
            return;
        }
        ec->merged = true; /* ecall_pooled goes straight on to other layouts */
    }
    if (weft_pool_submit(ec->gw->jobs, ecall_pooled, ec) != 0) {
        ecall_finish(ec, false, NULL); /* the gateway is stopping */
    }
}

static void ecall_unhold(struct gw_ecall *ec)
{
    if (__atomic_sub_fetch(&ec->pending, 1, __ATOMIC_ACQ_REL) == 0) {
        ecall_collected(ec);
    }
}

/* One attempt's end (pr taken): recorded on its own job, which no other
 * thread touches while the attempt is in flight. */
static void ecall_attempt_done(struct gw_org_job *j, Protos__ProposalResponse *pr,
                               struct gw_outcome *oc)
{
    org_job_record(j, j->cur, pr, oc);
    ecall_unhold(j->ec);
}

static void ecall_local_done(void *arg, int rc, const uint8_t *resp, size_t resp_len,
                             const struct weft_err *e)
{
    struct gw_org_job *j = arg;
    Protos__ProposalResponse *pr = NULL;
    struct gw_outcome oc;
    local_outcome(j->x->gw, rc, resp, resp_len, e, &pr, &oc);
    ecall_attempt_done(j, pr, &oc);
}

static void ecall_remote_done(void *ctx, int rc, struct weft_rpc_result *r)
{
    struct gw_org_job *j = ctx;
    Protos__ProposalResponse *pr = NULL;
    struct gw_outcome oc;
    endorse_outcome(j->x->gw, rc, r, &pr, &oc);
    weft_rpc_result_clear(r);
    ecall_attempt_done(j, pr, &oc);
}

/* The client of a peer already dialled, or NULL (dialling may wait). */
static struct weft_rpc_client *client_dialled(struct weft_gateway *gw, const char *address)
{
    struct weft_rpc_client *c = NULL;
    pthread_mutex_lock(&gw->mu);
    for (struct gw_client *e = gw->clients; e != NULL && c == NULL; e = e->next) {
        if (strcmp(e->address, address) == 0 && __atomic_load_n(&e->dialled, __ATOMIC_ACQUIRE)) {
            c = e->c;
        }
    }
    pthread_mutex_unlock(&gw->mu);
    return c;
}

/* Starts each job's first attempt without waiting. False (nothing started)
 * when one of them would have to wait: a peer not dialled yet. */
static bool ecall_start(struct gw_ecall *ec)
{
    struct gw_endorse *x = &ec->x;
    size_t nj = 0;
    struct gw_org_job *jobs = jobs_build(x, ec->first, ec->own_first, &nj);
    if (jobs == NULL || nj > MAX_ENDPOINTS) {
        jobs_free(jobs, nj);
        return false;
    }
    struct weft_rpc_client *cli[MAX_ENDPOINTS];
    struct gw_ep *ep[MAX_ENDPOINTS];
    for (size_t i = 0; i < nj; i++) {
        jobs[i].ec = ec;
        jobs[i].cur = ep[i] = org_job_pick(&jobs[i]);
        cli[i] = NULL;
        if (ep[i] == NULL) {
            continue; /* no peer of the org: its share stays short */
        }
        if (!ep[i]->local && (cli[i] = client_dialled(ec->gw, ep[i]->address)) == NULL) {
            jobs_free(jobs, nj);
            return false;
        }
    }
    ec->jobs = jobs;
    ec->nj = nj;
    ec->pending = 1;
    for (size_t i = 0; i < nj; i++) {
        struct gw_org_job *j = &jobs[i];
        if (ep[i] == NULL) {
            continue;
        }
        ep[i]->used = true;
        j->attempts = 1;
        __atomic_add_fetch(&ec->pending, 1, __ATOMIC_ACQ_REL);
        if (ep[i]->local) {
            ec->gw->be.endorse_async(ec->gw->be.ctx, ec->p.sp, ec->p.sp_len, ecall_local_done,
                                     j);
            continue;
        }
        struct weft_rpc_result r = {0};
        int rc = weft_rpc_client_unary_async(cli[i], ec->gw->rpc, METHOD_PROCESS_PROPOSAL,
                                             ec->p.sp, ec->p.sp_len, ms_left(x->deadline),
                                             ecall_remote_done, j, &r);
        if (rc != 0) {
            Protos__ProposalResponse *pr = NULL;
            struct gw_outcome oc;
            endorse_outcome(ec->gw, rc, &r, &pr, &oc);
            weft_rpc_result_clear(&r);
            ecall_attempt_done(j, pr, &oc);
        }
    }
    ecall_unhold(ec);
    return true;
}

/* Endorse on the completion-queue thread that received it: planned here,
 * its first attempts started, answered later (no worker held meanwhile). */
static int h_endorse_async(void *ctx, struct weft_rpc_call *call, const uint8_t *req,
                           size_t len, struct weft_buf *resp)
{
    struct weft_gateway *gw = ctx;
    (void)resp;
    stat_inc(gw, &gw->stats.endorse);
    struct gw_ecall *ec = ecall_new(gw, call);
    if (ec == NULL) {
        return fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
    }
    int code = endorse_plan(ec, req, len);
    if (code != WEFT_RPC_OK) {
        observe(gw, "Endorse", code, ec->t0);
        ecall_free(ec);
        return code;
    }
    weft_rpc_call_on_cancel(call, ecall_cancelled, ec);
    if (!ecall_start(ec) && weft_pool_submit(gw->jobs, ecall_pooled, ec) != 0) {
        ecall_finish(ec, false, NULL);
    }
    return WEFT_RPC_DEFERRED;
}

/* ---- Submit --------------------------------------------------------------------- */

struct gw_orderer {
    char address[300];
    const char *mspid;
};

static size_t orderer_list(struct weft_gateway *gw, const struct weft_channel_config *cfg,
                           struct gw_orderer *v, size_t cap)
{
    size_t n = 0;
    if (gw->n_orderers > 0) {
        for (size_t i = 0; i < gw->n_orderers && n < cap; i++) {
            snprintf(v[n].address, sizeof(v[n].address), "%s", gw->orderers[i]);
            v[n++].mspid = "";
        }
    } else {
        for (size_t i = 0; cfg->has_orderer && i < cfg->orderer.n_orgs; i++) {
            const struct weft_configtx_org *o = &cfg->orderer.orgs[i];
            for (size_t k = 0; k < o->endpoints.n && n < cap; k++) {
                snprintf(v[n].address, sizeof(v[n].address), "%s", o->endpoints.v[k]);
                v[n++].mspid = o->mspid != NULL ? o->mspid : "";
            }
        }
        if (n == 0) {
            for (size_t i = 0; i < cfg->orderer_addresses.n && n < cap; i++) {
                snprintf(v[n].address, sizeof(v[n].address), "%s", cfg->orderer_addresses.v[i]);
                v[n++].mspid = "";
            }
        }
    }
    /* random order (Fisher-Yates), so gateways spread their load over the
     * orderers; a failed random read keeps the configured order */
    for (size_t i = n; i > 1; i--) {
        uint32_t r = 0;
        if (weft_crypto_random(&r, sizeof(r)) != 0) {
            break;
        }
        size_t j = (size_t)(r % i);
        struct gw_orderer t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
    return n;
}

/* Broadcast: one long-lived stream per orderer, shared by every Submit.
 * The orderer answers the envelopes of a stream in order (pipelined, up to
 * 2,048 in flight), so each Submit queues an entry and sends its envelope;
 * a reader thread per stream hands each answer to the oldest entry and
 * answers the deferred Submit call itself (no thread waits for the
 * orderer). This saves a gRPC call set-up per transaction on the gateway
 * peer and on the orderer. When the stream breaks, every pending entry
 * fails as a transport error (the Submit moves on to the next orderer, on
 * the gateway's pool) and the next Submit opens a new stream. */
struct gw_submit;

struct gw_bentry {
    struct gw_bentry *next;
    struct gw_submit *job; /* holds a reference */
};

/* How one attempt ended. */
struct gw_battempt {
    int rc; /* 0: status/info set; else a transport failure, text in msg */
    /* Sent after an envelope the orderer refused: an orderer closes the
     * Broadcast stream after a refusal (as Fabric's does) without reading
     * what follows, so this envelope was never processed and may be sent
     * again on a new stream. */
    bool unread;
    int status;
    char info[256];
    char msg[400];
};

struct gw_bcast {
    struct gw_bcast *next;
    char *address;
    /* send_mu orders Submits: enqueue and send happen under it, so the
     * queue order is the order on the wire. mu guards the rest and is never
     * held while sending (a send blocked by flow control must not keep the
     * reader from taking answers). */
    pthread_mutex_t send_mu, mu;
    struct weft_rpc_stream *s;    /* the live stream, NULL when none */
    struct weft_rpc_stream *dead; /* a broken stream left by its reader */
    struct gw_bentry *head, *tail;
    pthread_t reader;
    bool reader_started;
};

/* A deferred Submit call: its envelope goes to the orderers one after the
 * other until one accepts it. An attempt is started by the handler (the
 * first) or by a worker of gw->jobs (the next ones) and answered by a
 * stream's reader. Whoever sets done under mu answers the call. */
struct gw_submit {
    struct weft_gateway *gw;
    struct weft_rpc_call *call;
    const struct weft_channel_config *cfg;
    char *txid;
    uint8_t *env;
    size_t env_len;
    struct gw_orderer *ords;
    size_t n_ords;
    uint64_t t0, deadline;
    int refs; /* atomic: the call's answer + each entry + a running attempt */
    pthread_mutex_t mu;
    size_t next;                /* the orderer tried now or next (mu) */
    int tries;                  /* sends of the envelope to that orderer (mu) */
    const struct gw_bentry *cur; /* the entry awaited; NULL between attempts (mu) */
    bool cancelled;             /* cancelled between attempts (mu) */
    bool done;                  /* answered (mu) */
    struct gw_details d;        /* one per orderer that failed (mu) */
};

static void submit_ref(struct gw_submit *j)
{
    __atomic_fetch_add(&j->refs, 1, __ATOMIC_RELAXED);
}

static void submit_unref(struct gw_submit *j)
{
    if (__atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    pthread_mutex_destroy(&j->mu);
    gw_details_free(&j->d);
    weft_free(j->ords);
    weft_free(j->env);
    weft_free(j->txid);
    weft_free(j);
}

/* Answers the call (j->done was set by the caller under j->mu; never called
 * with a lock held, except from the call's own cancellation callback) and
 * drops the answer's reference. */
static void submit_reply(struct gw_submit *j, int code, const char *msg, bool details)
{
    if (code != WEFT_RPC_OK) {
        if (details) {
            (void)fail(j->call, code, msg, &j->d);
        } else {
            weft_rpc_call_set_message(j->call, msg);
        }
    }
    observe(j->gw, "Submit", code, j->t0);
    release(j->gw);
    if (weft_rpc_call_reply(j->call, code, "", 0) != 0) {
        WEFT_WARN(lg_gw, "Submit %s: reply failed", j->txid);
    }
    submit_unref(j);
}

static void submit_cancelled(void *arg)
{
    struct gw_submit *j = arg;
    pthread_mutex_lock(&j->mu);
    bool mine = false;
    if (!j->done && j->cur != NULL) {
        j->done = mine = true; /* waiting for an orderer: answer here */
    } else if (!j->done) {
        j->cancelled = true; /* an attempt is being started: it answers */
    }
    pthread_mutex_unlock(&j->mu);
    if (mine) {
        /* (the client sees gRPC's own status either way) */
        bool late = weft_clock_mono_ns() >= weft_rpc_call_deadline_ns(j->call);
        submit_reply(j, late ? WEFT_RPC_DEADLINE_EXCEEDED : WEFT_RPC_CANCELLED,
                     late ? "submit timeout expired while broadcasting to ordering service"
                          : "submit cancelled",
                     false);
    }
}

static void submit_advance(struct gw_submit *j);

static void submit_pooled(void *arg)
{
    struct gw_submit *j = arg;
    submit_advance(j);
    submit_unref(j);
}

/* The outcome of the attempt e of j (from the stream's reader). Ends the
 * call, or moves on to the same orderer again (unread) or the next one on
 * a worker of gw->jobs. */
static void submit_answer(struct gw_submit *j, const struct gw_bentry *e,
                          const struct gw_battempt *a)
{
    struct weft_gateway *gw = j->gw;
    char msg[900];
    int code = -1;
    pthread_mutex_lock(&j->mu);
    if (j->done || j->cur != e) {
        pthread_mutex_unlock(&j->mu);
        return; /* answered already (cancelled, timed out) */
    }
    j->cur = NULL;
    const struct gw_orderer *o = &j->ords[j->next];
    if (a->rc == 0 && a->status == COMMON__STATUS__SUCCESS) {
        code = WEFT_RPC_OK;
    } else if (a->rc == 0 && a->status >= 400 && a->status < 500) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(&common__status__descriptor, a->status);
        snprintf(msg, sizeof(msg), "received unsuccessful response from orderer: status=%s, info=%s",
                 ev != NULL ? ev->name : "UNKNOWN", a->info);
        code = WEFT_RPC_ABORTED;
    } else if (a->rc != 0 && a->unread && j->tries < 3) {
        /* never read by the orderer: the same orderer again, new stream */
    } else {
        char em[600];
        if (a->rc == 0) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value(&common__status__descriptor, a->status);
            snprintf(em, sizeof(em), "received unsuccessful response from orderer: status=%s, "
                     "info=%s", ev != NULL ? ev->name : "UNKNOWN", a->info);
        } else {
            snprintf(em, sizeof(em), "%s", a->msg);
        }
        WEFT_DEBUG(lg_gw, "submit %s to %s failed: %s", j->txid, o->address, em);
        if (gw_details_add(&j->d, o->address, o->mspid, em) != 0) {
            WEFT_WARN(lg_gw, "out of memory recording a broadcast failure");
        }
        j->next++;
        j->tries = 0;
    }
    if (code >= 0) {
        j->done = true;
    }
    pthread_mutex_unlock(&j->mu);
    if (a->rc != 0) {
        client_redial(gw, o->address); /* the stream broke: reconnect before reuse */
    }
    if (code >= 0) {
        submit_reply(j, code, code == WEFT_RPC_OK ? NULL : msg, false);
        return;
    }
    /* the next attempt may block (connection, flow control): not on the
     * reader's thread */
    submit_ref(j);
    pthread_mutex_lock(&gw->mu);
    bool queued = gw->jobs != NULL && weft_pool_submit(gw->jobs, submit_pooled, j) == 0;
    pthread_mutex_unlock(&gw->mu);
    if (!queued) {
        submit_unref(j);
        pthread_mutex_lock(&j->mu);
        bool mine = !j->done;
        j->done = true;
        pthread_mutex_unlock(&j->mu);
        if (mine) {
            submit_reply(j, WEFT_RPC_UNAVAILABLE, "gateway shutting down", false);
        }
    }
}

/* Ends the attempt e of j when its deadline passed (from the reader). */
static void submit_expire(struct gw_submit *j, const struct gw_bentry *e)
{
    pthread_mutex_lock(&j->mu);
    bool mine = !j->done && j->cur == e;
    if (mine) {
        j->done = true;
        j->cur = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    if (mine) {
        submit_reply(j, WEFT_RPC_DEADLINE_EXCEEDED,
                     "submit timeout expired while broadcasting to ordering service", false);
    }
}

struct gw_reader_arg {
    struct gw_bcast *b;
    struct weft_rpc_stream *s;
};

/* Ends the attempts of the entries list (linked by next) with a and frees
 * the entries. */
static void bentries_fail(struct gw_bentry *list, const struct gw_battempt *a)
{
    while (list != NULL) {
        struct gw_bentry *e = list;
        list = e->next;
        submit_answer(e->job, e, a);
        submit_unref(e->job);
        weft_free(e);
    }
}

/* Ends the waits on b past their deadline (entries stay queued: the
 * orderer's answer still comes in order). Only the reader frees entries, so
 * those collected stay valid. */
static void bcast_sweep(struct gw_bcast *b, uint64_t now)
{
    struct gw_bentry *expired[64];
    size_t n = 0;
    pthread_mutex_lock(&b->mu);
    for (struct gw_bentry *e = b->head; e != NULL && n < WEFT_ARRAY_LEN(expired); e = e->next) {
        if (e->job->deadline <= now) {
            expired[n++] = e;
        }
    }
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < n; i++) {
        submit_expire(expired[i]->job, expired[i]);
    }
}

/* Milliseconds the reader may wait for the next answer: until the oldest
 * entry's deadline (later entries' deadlines come later, except a retried
 * Submit's, caught at the next tick), at most 1 s. */
static int64_t bcast_wait_ms(struct gw_bcast *b, uint64_t now)
{
    int64_t ms = 1000;
    pthread_mutex_lock(&b->mu);
    if (b->head != NULL) {
        uint64_t dl = b->head->job->deadline;
        int64_t left = dl > now ? (int64_t)((dl - now) / 1000000u) + 1 : 0;
        if (left < ms) {
            ms = left;
        }
    }
    pthread_mutex_unlock(&b->mu);
    return ms;
}

static void *bcast_reader(void *arg)
{
    weft_thread_name("gw-bcast-rd");
    struct gw_reader_arg *ra = arg;
    struct gw_bcast *b = ra->b;
    struct weft_rpc_stream *s = ra->s;
    weft_free(ra);
    struct gw_battempt a;
    memset(&a, 0, sizeof(a));
    a.rc = WEFT_EUNAVAILABLE;
    snprintf(a.msg, sizeof(a.msg), "stream ended");
    bool refused = false; /* the orderer refused one: it reads no further */
    uint64_t swept = weft_clock_mono_ns();
    for (;;) {
        uint8_t *m = NULL;
        size_t ml = 0;
        uint64_t now = weft_clock_mono_ns();
        int rc = weft_rpc_stream_recv(s, &m, &ml, bcast_wait_ms(b, now));
        now = weft_clock_mono_ns();
        if (rc == WEFT_ETIMEDOUT || now - swept >= 1000000000u) {
            bcast_sweep(b, now);
            swept = now;
            if (rc == WEFT_ETIMEDOUT) {
                continue;
            }
        }
        if (rc != 0 || m == NULL) {
            int code = WEFT_RPC_UNKNOWN;
            const char *sm = NULL;
            if (weft_rpc_stream_status(s, 1000, &code, &sm) == 0) {
                snprintf(a.msg, sizeof(a.msg), "rpc error: code = %s desc = %s",
                         weft_rpc_code_name(code), sm != NULL ? sm : "");
            } else if (rc != 0) {
                snprintf(a.msg, sizeof(a.msg), "%s", weft_strerror(rc));
            }
            weft_free(m);
            break;
        }
        Orderer__BroadcastResponse *br = orderer__broadcast_response__unpack(NULL, ml, m);
        weft_free(m);
        pthread_mutex_lock(&b->mu);
        struct gw_bentry *e = b->head;
        if (e != NULL) {
            b->head = e->next;
            if (b->head == NULL) {
                b->tail = NULL;
            }
        }
        pthread_mutex_unlock(&b->mu);
        if (e != NULL) {
            struct gw_battempt r;
            memset(&r, 0, sizeof(r));
            if (br == NULL) {
                r.rc = WEFT_EPARSE;
                snprintf(r.msg, sizeof(r.msg), "malformed BroadcastResponse");
            } else {
                r.status = (int)br->status;
                snprintf(r.info, sizeof(r.info), "%s", br->info != NULL ? br->info : "");
                refused = refused || br->status != COMMON__STATUS__SUCCESS;
            }
            submit_answer(e->job, e, &r);
            submit_unref(e->job);
            weft_free(e);
        }
        orderer__broadcast_response__free_unpacked(br, NULL);
        if (e == NULL) {
            snprintf(a.msg, sizeof(a.msg), "unexpected BroadcastResponse");
            weft_rpc_stream_cancel(s);
            break;
        }
    }
    /* broken: fail everything pending (each Submit moves on); the next
     * Submit opens a new stream and frees this one (after joining this
     * thread). Taking the queue and clearing b->s is one step, so no entry
     * is queued on this stream afterwards. */
    pthread_mutex_lock(&b->mu);
    struct gw_bentry *pending = b->head;
    b->head = b->tail = NULL;
    if (b->s == s) {
        b->s = NULL;
    }
    b->dead = s;
    pthread_mutex_unlock(&b->mu);
    a.unread = refused;
    bentries_fail(pending, &a);
    return NULL;
}

static struct gw_bcast *bcast_get(struct weft_gateway *gw, const char *address)
{
    pthread_mutex_lock(&gw->mu);
    struct gw_bcast *b = gw->bcasts;
    while (b != NULL && strcmp(b->address, address) != 0) {
        b = b->next;
    }
    if (b == NULL && !gw->stopping && (b = weft_calloc(1, sizeof(*b))) != NULL) {
        if ((b->address = weft_strdup(address)) == NULL) {
            weft_free(b);
            b = NULL;
        } else {
            pthread_mutex_init(&b->mu, NULL);
            pthread_mutex_init(&b->send_mu, NULL);
            b->next = gw->bcasts;
            gw->bcasts = b;
        }
    }
    pthread_mutex_unlock(&gw->mu);
    return b;
}

/* The live stream of b, opened (with its reader) when there is none.
 * b->send_mu and b->mu held. */
static struct weft_rpc_stream *bcast_stream_locked(struct weft_gateway *gw, struct gw_bcast *b,
                                                   struct weft_rpc_client *c, char *msg,
                                                   size_t msg_cap)
{
    if (b->s != NULL) {
        return b->s;
    }
    if (b->reader_started) { /* its reader has finished (it left b->s NULL) */
        pthread_join(b->reader, NULL);
        b->reader_started = false;
    }
    weft_rpc_stream_free(b->dead);
    b->dead = NULL;
    if (gw->stopping) {
        snprintf(msg, msg_cap, "gateway shutting down");
        return NULL;
    }
    struct weft_err e = {0};
    struct weft_rpc_stream *s = weft_rpc_client_stream(c, METHOD_BROADCAST, -1, &e);
    struct gw_reader_arg *ra = s == NULL ? NULL : weft_malloc(sizeof(*ra));
    if (ra == NULL) {
        snprintf(msg, msg_cap, "%s", s == NULL ? e.msg : "out of memory");
        weft_rpc_stream_free(s);
        return NULL;
    }
    ra->b = b;
    ra->s = s;
    if (pthread_create(&b->reader, NULL, bcast_reader, ra) != 0) {
        weft_free(ra);
        weft_rpc_stream_free(s);
        snprintf(msg, msg_cap, "cannot start a Broadcast reader");
        return NULL;
    }
    b->reader_started = true;
    b->s = s;
    return s;
}

/* Sends j's envelope to orderer j->ords[j->next] on its shared stream,
 * queued for the reader's answer: true. False when it could not be sent
 * (msg says why). */
static bool submit_send(struct gw_submit *j, struct gw_bentry *e, char *msg, size_t msg_cap)
{
    struct weft_gateway *gw = j->gw;
    const char *address = j->ords[j->next].address;
    struct weft_err err = {0};
    struct weft_rpc_client *c = client_for(gw, j->cfg, address, j->deadline, &err);
    if (c == NULL) {
        snprintf(msg, msg_cap, "%s", err.msg);
        return false;
    }
    struct gw_bcast *b = bcast_get(gw, address);
    if (b == NULL) {
        snprintf(msg, msg_cap, "%s", gw->stopping ? "gateway shutting down" : "out of memory");
        return false;
    }
    pthread_mutex_lock(&b->send_mu);
    pthread_mutex_lock(&b->mu);
    struct weft_rpc_stream *s = bcast_stream_locked(gw, b, c, msg, msg_cap);
    if (s == NULL) {
        pthread_mutex_unlock(&b->mu);
        pthread_mutex_unlock(&b->send_mu);
        client_redial(gw, address);
        return false;
    }
    if (b->tail != NULL) {
        b->tail->next = e;
    } else {
        b->head = e;
    }
    b->tail = e;
    pthread_mutex_unlock(&b->mu);
    /* s stays valid: only a holder of send_mu frees a broken stream. From
     * here on e belongs to the reader (j is kept by the caller's reference) */
    if (weft_rpc_stream_send(s, j->env, j->env_len) != 0) {
        /* the reader sees the stream end and fails every pending entry */
        weft_rpc_stream_cancel(s);
    }
    pthread_mutex_unlock(&b->send_mu);
    return true;
}

/* Starts the next attempt of j (the handler's thread or a pool worker: it
 * may block for a connection or flow control), or ends the call when no
 * orderer is left, the deadline passed or the call was cancelled. */
static void submit_advance(struct gw_submit *j)
{
    for (;;) {
        int code = -1;
        const char *why = NULL;
        bool details = false;
        struct gw_bentry *e = NULL;
        pthread_mutex_lock(&j->mu);
        if (j->done) {
            pthread_mutex_unlock(&j->mu);
            return;
        }
        if (j->cancelled) {
            code = WEFT_RPC_CANCELLED;
            why = "submit cancelled";
        } else if (weft_clock_mono_ns() >= j->deadline) {
            code = WEFT_RPC_DEADLINE_EXCEEDED;
            why = "submit timeout expired while broadcasting to ordering service";
        } else if (j->next >= j->n_ords) {
            code = WEFT_RPC_UNAVAILABLE;
            why = "no orderers could successfully process transaction";
            details = true;
        } else if ((e = weft_calloc(1, sizeof(*e))) == NULL) {
            code = WEFT_RPC_RESOURCE_EXHAUSTED;
            why = "out of memory";
        } else {
            e->job = j;
            submit_ref(j); /* the entry's */
            j->cur = e;
            j->tries++;
        }
        if (code >= 0) {
            j->done = true;
        }
        pthread_mutex_unlock(&j->mu);
        if (code >= 0) {
            submit_reply(j, code, why, details);
            return;
        }
        char msg[400];
        if (submit_send(j, e, msg, sizeof(msg))) {
            return; /* the reader answers */
        }
        /* not sent: this orderer failed, try the next (the caller's
         * reference keeps j) */
        pthread_mutex_lock(&j->mu);
        bool mine = !j->done; /* else cancelled meanwhile and answered */
        if (mine) {
            j->cur = NULL;
            const struct gw_orderer *o = &j->ords[j->next];
            WEFT_DEBUG(lg_gw, "submit %s to %s failed: %s", j->txid, o->address, msg);
            if (gw_details_add(&j->d, o->address, o->mspid, msg) != 0) {
                WEFT_WARN(lg_gw, "out of memory recording a broadcast failure");
            }
            j->next++;
            j->tries = 0;
        }
        pthread_mutex_unlock(&j->mu);
        weft_free(e);
        submit_unref(j); /* the entry's */
        if (!mine) {
            return;
        }
    }
}

/* Ends every shared Broadcast stream and its reader. */
static void bcasts_free(struct weft_gateway *gw)
{
    struct gw_bcast *b = gw->bcasts;
    gw->bcasts = NULL;
    while (b != NULL) {
        struct gw_bcast *n = b->next;
        pthread_mutex_lock(&b->mu);
        if (b->s != NULL) {
            weft_rpc_stream_cancel(b->s);
        }
        pthread_mutex_unlock(&b->mu);
        if (b->reader_started) {
            pthread_join(b->reader, NULL);
        }
        weft_rpc_stream_free(b->s);
        weft_rpc_stream_free(b->dead);
        pthread_mutex_destroy(&b->mu);
        pthread_mutex_destroy(&b->send_mu);
        weft_free(b->address);
        weft_free(b);
        b = n;
    }
}

static int h_submit(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,
                    struct weft_buf *resp)
{
    (void)resp;
    struct weft_gateway *gw = ctx;
    uint64_t t0 = weft_clock_mono_ns();
    stat_inc(gw, &gw->stats.submit);
    Gateway__SubmitRequest *r = gateway__submit_request__unpack(NULL, len, req);
    struct gw_submit *j = NULL;
    char msg[900];
    int code;
    if (r == NULL) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, "a submit request is required", NULL);
        goto out;
    }
    if (r->prepared_transaction == NULL) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, "a prepared transaction is required", NULL);
        goto out;
    }
    if (r->prepared_transaction->signature.len == 0) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, "prepared transaction must be signed", NULL);
        goto out;
    }
    const struct weft_channel_config *cfg =
        gw->be.config(gw->be.ctx, r->channel_id != NULL ? r->channel_id : "");
    if (cfg == NULL) {
        snprintf(msg, sizeof(msg), "channel '%s' not found", r->channel_id);
        code = fail(call, WEFT_RPC_NOT_FOUND, msg, NULL);
        goto out;
    }
    j = weft_calloc(1, sizeof(*j));
    if (j == NULL) {
        code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    pthread_mutex_init(&j->mu, NULL);
    j->refs = 1; /* the answer's */
    j->gw = gw;
    j->call = call;
    j->cfg = cfg;
    j->t0 = t0;
    j->env_len = common__envelope__get_packed_size(r->prepared_transaction);
    j->env = weft_malloc(j->env_len + 1);
    j->txid = weft_strdup(r->transaction_id != NULL ? r->transaction_id : "");
    j->ords = weft_calloc(MAX_ENDPOINTS, sizeof(*j->ords));
    if (j->env == NULL || j->txid == NULL || j->ords == NULL) {
        code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    common__envelope__pack(r->prepared_transaction, j->env);
    j->n_ords = orderer_list(gw, cfg, j->ords, MAX_ENDPOINTS);
    j->deadline = deadline_for(call, gw->broadcast_ms);
    gateway__submit_request__free_unpacked(r, NULL);
    /* from here on the call is answered by whoever ends the job: this
     * thread must not touch call or req after submit_advance */
    weft_rpc_call_on_cancel(call, submit_cancelled, j);
    submit_ref(j); /* this attempt's */
    submit_advance(j);
    submit_unref(j);
    return WEFT_RPC_DEFERRED;
out:
    observe(gw, "Submit", code, t0);
    if (j != NULL) {
        submit_unref(j);
    }
    gateway__submit_request__free_unpacked(r, NULL);
    return code;
}

/* ---- ACL ------------------------------------------------------------------------- */

/* Checks SignedData{request, identity, signature} against the policy of ACL
 * resource (default /Channel/Application/Readers). */
static int check_acl(const struct weft_channel_config *cfg, const char *resource,
                     const ProtobufCBinaryData *request, const ProtobufCBinaryData *identity,
                     const ProtobufCBinaryData *signature, struct weft_err *err)
{
    const char *ref = "/Channel/Application/Readers";
    for (size_t i = 0; cfg->has_application && i < cfg->application.n_acls; i++) {
        if (strcmp(cfg->application.acls[i].resource, resource) == 0) {
            ref = cfg->application.acls[i].policy_ref;
        }
    }
    char path[300];
    if (ref[0] == '/') {
        snprintf(path, sizeof(path), "%s", ref);
    } else {
        snprintf(path, sizeof(path), "/Channel/Application/%s", ref);
    }
    struct weft_signed_data sd = {
        .identity = identity->data,
        .identity_len = identity->len,
        .data = request->data,
        .data_len = request->len,
        .signature = signature->data,
        .signature_len = signature->len,
    };
    return weft_policy_mgr_evaluate(cfg->policy_mgr, path, &sd, 1, err);
}

/* ---- CommitStatus ------------------------------------------------------------------ */

/* Packs CommitStatusResponse{loc} into out (cap 64); its length. */
static size_t status_pack(const struct weft_ledger_txloc *loc, uint8_t *out)
{
    Gateway__CommitStatusResponse cr = GATEWAY__COMMIT_STATUS_RESPONSE__INIT;
    cr.result = (Protos__TxValidationCode)loc->code;
    cr.block_number = loc->block;
    return gateway__commit_status_response__pack(&cr, out);
}

static void waiter_free(struct gw_waiter *x)
{
    weft_free(x->txid);
    weft_free(x);
}

/* Answers an armed waiter taken off its list (never under gw->mu) and
 * frees it. */
static void waiter_reply(struct gw_waiter *x)
{
    struct weft_gateway *gw = x->gw;
    uint8_t buf[64];
    size_t n = 0;
    int code = x->outcome;
    if (code == WEFT_RPC_OK) {
        n = status_pack(&x->loc, buf);
    } else {
        weft_rpc_call_set_message(x->call, code == WEFT_RPC_UNAVAILABLE
                                               ? "cannot follow the channel's commits"
                                           : code == WEFT_RPC_DEADLINE_EXCEEDED
                                               ? "commit status wait timed out"
                                               : "commit status wait cancelled");
    }
    observe(gw, "CommitStatus", code, x->t0);
    release(gw);
    if (weft_rpc_call_reply(x->call, code, buf, n) != 0) {
        WEFT_WARN(lg_gw, "CommitStatus %s: reply failed", x->txid);
    }
    waiter_free(x);
}

static void waiter_unlink_locked(struct gw_waiter *x)
{
    for (struct gw_waiter **pp = &x->watch->waiters; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    x->next = NULL;
    x->listed = false;
}

/* Takes the waiters of w whose transaction is committed off the list; the
 * armed ones are returned (linked by next) for waiter_reply after gw->mu is
 * released, the others are left to their handler. gw->mu held. */
static struct gw_waiter *watch_take_locked(struct gw_watch *w)
{
    struct gw_waiter *ready = NULL;
    struct gw_waiter **pp = &w->waiters;
    while (*pp != NULL) {
        struct gw_waiter *x = *pp;
        if (weft_ledger_tx_by_id(w->ledger, x->txid, &x->loc, NULL) != 0) {
            pp = &x->next;
            continue;
        }
        *pp = x->next;
        x->listed = false;
        x->outcome = WEFT_RPC_OK;
        x->next = NULL;
        if (x->armed) {
            x->next = ready;
            ready = x;
        }
    }
    return ready;
}

/* Takes every waiter of w off its list with outcome code; the armed ones
 * are returned as by watch_take_locked. gw->mu held. */
static struct gw_waiter *watch_take_all_locked(struct gw_watch *w, int code)
{
    struct gw_waiter *ready = NULL;
    while (w->waiters != NULL) {
        struct gw_waiter *x = w->waiters;
        w->waiters = x->next;
        x->listed = false;
        x->outcome = code;
        x->next = NULL;
        if (x->armed) {
            x->next = ready;
            ready = x;
        }
    }
    return ready;
}

static void waiters_reply(struct gw_waiter *ready)
{
    while (ready != NULL) {
        struct gw_waiter *x = ready;
        ready = x->next;
        waiter_reply(x);
    }
}

static void *watch_main(void *arg)
{
    weft_thread_name("gw-watch");
    struct gw_watch *w = arg;
    for (;;) {
        uint8_t *b = NULL;
        size_t bl = 0;
        int rc = weft_ledger_iter_next(w->it, 0, &b, &bl, NULL, NULL);
        weft_free(b);
        pthread_mutex_lock(&w->gw->mu);
        struct gw_waiter *ready;
        if (rc == 0) {
            ready = watch_take_locked(w);
        } else {
            /* cancelled (gateway shutdown) or a ledger error: nobody would
             * answer these calls any more; the next CommitStatus of the
             * channel starts a new watcher */
            if (!w->gw->stopping) {
                WEFT_WARN(lg_gw, "channel %s: commit watcher stopped: %s", w->channel,
                          weft_strerror(rc));
            }
            w->dead = true;
            ready = watch_take_all_locked(w, WEFT_RPC_UNAVAILABLE);
        }
        pthread_mutex_unlock(&w->gw->mu);
        waiters_reply(ready);
        if (rc != 0) {
            break;
        }
    }
    return NULL;
}

/* The live watcher of channel, started on first use. gw->mu held. */
static struct gw_watch *watch_get_locked(struct weft_gateway *gw, const char *channel,
                                         struct weft_ledger *l)
{
    for (struct gw_watch *w = gw->watches; w != NULL; w = w->next) {
        if (!w->dead && strcmp(w->channel, channel) == 0) {
            return w;
        }
    }
    if (gw->stopping) {
        return NULL;
    }
    struct gw_watch *w = weft_calloc(1, sizeof(*w));
    if (w == NULL || (w->channel = weft_strdup(channel)) == NULL) {
        weft_free(w);
        return NULL;
    }
    w->gw = gw;
    w->ledger = l;
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    if (weft_ledger_iter_new(l, info.height, &w->it, NULL) != 0) {
        weft_free(w->channel);
        weft_free(w);
        return NULL;
    }
    if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
        weft_ledger_iter_free(w->it);
        weft_free(w->channel);
        weft_free(w);
        return NULL;
    }
    w->next = gw->watches;
    gw->watches = w;
    return w;
}

void weft_gateway_notify_commit(struct weft_gateway *gw, const char *channel)
{
    struct gw_waiter *ready = NULL;
    pthread_mutex_lock(&gw->mu);
    for (struct gw_watch *w = gw->watches; w != NULL; w = w->next) {
        if (!w->dead && strcmp(w->channel, channel) == 0) {
            struct gw_waiter *r = watch_take_locked(w);
            while (r != NULL) {
                struct gw_waiter *x = r;
                r = x->next;
                x->next = ready;
                ready = x;
            }
        }
    }
    pthread_mutex_unlock(&gw->mu);
    waiters_reply(ready);
}

/* The call's cancellation callback (client cancel, deadline, server stop):
 * an armed waiter still listed is answered CANCELLED here; one taken off by
 * the watcher is answered by it; before arming the handler answers. */
static void waiter_cancelled(void *arg)
{
    struct gw_waiter *x = arg;
    struct weft_gateway *gw = x->gw;
    pthread_mutex_lock(&gw->mu);
    bool mine = false;
    if (x->listed) {
        waiter_unlink_locked(x);
        /* (the client sees gRPC's own status either way; this is for the
         * metrics) */
        x->outcome = weft_clock_mono_ns() >= weft_rpc_call_deadline_ns(x->call)
                         ? WEFT_RPC_DEADLINE_EXCEEDED
                         : WEFT_RPC_CANCELLED;
        mine = x->armed;
    }
    pthread_mutex_unlock(&gw->mu);
    if (mine) {
        waiter_reply(x);
    }
}

/* Registers txid with the channel's watcher and returns WEFT_RPC_DEFERRED,
 * or answers at once (the transaction committed meanwhile, the call was
 * cancelled, no watcher): that code, with resp filled for OK. The call and
 * req must not be used after a deferred return. */
static int commit_status_wait(struct weft_gateway *gw, struct weft_rpc_call *call,
                              const char *ch, struct weft_ledger *l, const char *txid,
                              uint64_t t0, struct weft_ledger_txloc *loc)
{
    struct gw_waiter *x = weft_calloc(1, sizeof(*x));
    if (x == NULL || (x->txid = weft_strdup(txid)) == NULL) {
        weft_free(x);
        return fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
    }
    x->gw = gw;
    x->call = call;
    x->t0 = t0;
    pthread_mutex_lock(&gw->mu);
    struct gw_watch *w = watch_get_locked(gw, ch, l);
    if (w != NULL) {
        x->watch = w;
        x->next = w->waiters;
        w->waiters = x;
        x->listed = true;
    }
    pthread_mutex_unlock(&gw->mu);
    if (w == NULL) {
        waiter_free(x);
        return fail(call, WEFT_RPC_UNAVAILABLE, "cannot follow the channel's commits", NULL);
    }
    int code = WEFT_RPC_DEFERRED;
    /* committed between the first look and the registration? */
    if (weft_ledger_tx_by_id(l, txid, loc, NULL) == 0) {
        pthread_mutex_lock(&gw->mu);
        if (x->listed) {
            waiter_unlink_locked(x);
        }
        pthread_mutex_unlock(&gw->mu);
        waiter_free(x);
        return WEFT_RPC_OK;
    }
    weft_rpc_call_on_cancel(call, waiter_cancelled, x);
    pthread_mutex_lock(&gw->mu);
    if (x->listed) {
        x->armed = true; /* from here on x and the call belong to the watcher */
    } else {
        code = x->outcome;
        *loc = x->loc;
    }
    pthread_mutex_unlock(&gw->mu);
    if (code == WEFT_RPC_DEFERRED) {
        return code;
    }
    /* taken off before arming: answer here. Removing the callback waits for
     * a run of it in progress, which may still look at x. */
    weft_rpc_call_on_cancel(call, NULL, NULL);
    waiter_free(x);
    if (code == WEFT_RPC_CANCELLED || code == WEFT_RPC_DEADLINE_EXCEEDED) {
        return fail(call, code,
                    code == WEFT_RPC_CANCELLED ? "commit status wait cancelled"
                                               : "commit status wait timed out",
                    NULL);
    }
    if (code == WEFT_RPC_UNAVAILABLE) {
        return fail(call, code, "cannot follow the channel's commits", NULL);
    }
    return code;
}

static int h_commit_status(void *ctx, struct weft_rpc_call *call, const uint8_t *req,
                           size_t len, struct weft_buf *resp)
{
    struct weft_gateway *gw = ctx;
    uint64_t t0 = weft_clock_mono_ns();
    stat_inc(gw, &gw->stats.commit_status);
    Gateway__SignedCommitStatusRequest *sr =
        gateway__signed_commit_status_request__unpack(NULL, len, req);
    Gateway__CommitStatusRequest *r = NULL;
    struct weft_err e = {0};
    char msg[700];
    int code;
    if (sr == NULL || sr->request.len == 0) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT, "a commit status request is required", NULL);
        goto out;
    }
    r = gateway__commit_status_request__unpack(NULL, sr->request.len, sr->request.data);
    if (r == NULL) {
        code = fail(call, WEFT_RPC_INVALID_ARGUMENT,
                    "invalid status request: malformed CommitStatusRequest", NULL);
        goto out;
    }
    const char *ch = r->channel_id != NULL ? r->channel_id : "";
    const struct weft_channel_config *cfg = gw->be.config(gw->be.ctx, ch);
    struct weft_ledger *l = gw->be.ledger(gw->be.ctx, ch);
    if (cfg == NULL || l == NULL) {
        snprintf(msg, sizeof(msg), "channel '%s' not found", ch);
        code = fail(call, WEFT_RPC_NOT_FOUND, msg, NULL);
        goto out;
    }
    if (check_acl(cfg, "gateway/CommitStatus", &sr->request, &r->identity, &sr->signature, &e) !=
        0) {
        code = fail(call, WEFT_RPC_PERMISSION_DENIED, e.msg, NULL);
        goto out;
    }
    const char *txid = r->transaction_id != NULL ? r->transaction_id : "";
    struct weft_ledger_txloc loc;
    if (weft_ledger_tx_by_id(l, txid, &loc, NULL) != 0) {
        /* not committed yet: the channel's watcher answers the call when it
         * is (no thread waits); the client's deadline or cancel ends the
         * wait through the call's cancellation */
        code = commit_status_wait(gw, call, ch, l, txid, t0, &loc);
        if (code == WEFT_RPC_DEFERRED) {
            gateway__commit_status_request__free_unpacked(r, NULL);
            gateway__signed_commit_status_request__free_unpacked(sr, NULL);
            return code;
        }
        if (code != WEFT_RPC_OK) {
            goto out;
        }
    }
    if (weft_buf_reserve(resp, 64) != 0) {
        code = fail(call, WEFT_RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
        goto out;
    }
    resp->len = status_pack(&loc, resp->data);
    code = WEFT_RPC_OK;
out:
    observe(gw, "CommitStatus", code, t0);
    gateway__commit_status_request__free_unpacked(r, NULL);
    gateway__signed_commit_status_request__free_unpacked(sr, NULL);
    return code;
}

/* ---- ChaincodeEvents --------------------------------------------------------------- */

static void iter_cancel_cb(void *arg)
{
    weft_ledger_iter_cancel(arg);
}

static void h_chaincode_events(void *ctx, struct weft_rpc_call *call)
{
    struct weft_gateway *gw = ctx;
    uint64_t t0 = weft_clock_mono_ns();
    stat_inc(gw, &gw->stats.chaincode_events);
    size_t len = 0;
    const uint8_t *req = weft_rpc_call_request(call, &len);
    Gateway__SignedChaincodeEventsRequest *sr =
        gateway__signed_chaincode_events_request__unpack(NULL, len, req);
    Gateway__ChaincodeEventsRequest *r = NULL;
    struct weft_ledger_iter *it = NULL;
    struct weft_err e = {0};
    char msg[700];
    int code = WEFT_RPC_OK;
    const char *cmsg = NULL;
    if (sr == NULL || sr->request.len == 0 ||
        (r = gateway__chaincode_events_request__unpack(NULL, sr->request.len,
                                                       sr->request.data)) == NULL) {
        code = WEFT_RPC_INVALID_ARGUMENT;
        cmsg = "a chaincode events request is required";
        goto out;
    }
    const char *ch = r->channel_id != NULL ? r->channel_id : "";
    const struct weft_channel_config *cfg = gw->be.config(gw->be.ctx, ch);
    struct weft_ledger *l = gw->be.ledger(gw->be.ctx, ch);
    if (cfg == NULL || l == NULL) {
        snprintf(msg, sizeof(msg), "channel '%s' not found", ch);
        code = WEFT_RPC_NOT_FOUND;
        cmsg = msg;
        goto out;
    }
    if (check_acl(cfg, "gateway/ChaincodeEvents", &sr->request, &r->identity, &sr->signature,
                  &e) != 0) {
        code = WEFT_RPC_PERMISSION_DENIED;
        cmsg = e.msg;
        goto out;
    }
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    uint64_t start = info.height;
    const char *after = NULL;
    struct weft_ledger_txloc loc;
    if (r->after_transaction_id != NULL && r->after_transaction_id[0] != 0 &&
        weft_ledger_tx_by_id(l, r->after_transaction_id, &loc, NULL) == 0) {
        start = loc.block;
        after = r->after_transaction_id;
    } else if (r->start_position != NULL) {
        switch (r->start_position->type_case) {
        case ORDERER__SEEK_POSITION__TYPE_SPECIFIED:
            start = r->start_position->specified != NULL ? r->start_position->specified->number
                                                         : 0;
            break;
        case ORDERER__SEEK_POSITION__TYPE_NEXT_COMMIT:
        case ORDERER__SEEK_POSITION__TYPE__NOT_SET:
            break;
        default:
            code = WEFT_RPC_INVALID_ARGUMENT;
            snprintf(msg, sizeof(msg), "invalid start position type: %d",
                     (int)r->start_position->type_case);
            cmsg = msg;
            goto out;
        }
    }
    if (weft_ledger_iter_new(l, start, &it, &e) != 0) {
        code = WEFT_RPC_ABORTED;
        cmsg = e.msg;
        goto out;
    }
    weft_rpc_call_on_cancel(call, iter_cancel_cb, it);
    const char *cc = r->chaincode_id != NULL ? r->chaincode_id : "";
    for (;;) {
        uint8_t *b = NULL, *m = NULL;
        size_t bl = 0, ml = 0;
        uint64_t num = 0;
        int rc = weft_ledger_iter_next(it, 0, &b, &bl, NULL, &e);
        if (rc == WEFT_ECANCELED || rc == WEFT_ESHUTDOWN) {
            code = WEFT_RPC_CANCELLED;
            cmsg = "cancelled";
            break;
        }
        if (rc != 0) {
            code = WEFT_RPC_ABORTED;
            cmsg = e.msg;
            break;
        }
        rc = gw_block_events(b, bl, cc, &after, &m, &ml, &num, &e);
        weft_free(b);
        after = NULL; /* the checkpointed transaction is in the start block only */
        if (rc != 0) {
            code = WEFT_RPC_ABORTED;
            cmsg = e.msg;
            break;
        }
        if (m != NULL && weft_rpc_call_send_owned(call, m, ml) != 0) {
            code = WEFT_RPC_CANCELLED;
            cmsg = "cancelled";
            break;
        }
    }
    weft_rpc_call_on_cancel(call, NULL, NULL);
out:
    weft_ledger_iter_free(it);
    observe(gw, "ChaincodeEvents", code, t0);
    (void)weft_rpc_call_finish(call, code, cmsg);
    gateway__chaincode_events_request__free_unpacked(r, NULL);
    gateway__signed_chaincode_events_request__free_unpacked(sr, NULL);
}

/* ---- life cycle --------------------------------------------------------------------- */

static char *read_text_file(const char *path, struct weft_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        weft_err_set(err, WEFT_EIO, "cannot read %s", path);
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, 16u << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
    }
    fclose(f);
    if (rc == 0) {
        rc = weft_buf_append(&b, "", 0);
    }
    if (rc != 0) {
        weft_buf_close(&b);
        weft_err_set(err, rc, "cannot read %s", path);
        return NULL;
    }
    size_t l;
    return (char *)weft_buf_steal(&b, &l);
}

static void metrics_init(struct weft_gateway *gw, struct weft_metrics *m)
{
    if (m == NULL || __atomic_exchange_n(&gw->metrics_set, true, __ATOMIC_ACQ_REL)) {
        return;
    }
    static const char *const req_labels[] = {"method", "outcome"};
    static const char *const dur_labels[] = {"method"};
    static const char *const end_labels[] = {"outcome"};
    struct weft_metrics_opts o = {
        .namespace_ = "gateway",
        .name = "requests_total",
        .help = "Gateway requests by method and outcome (success or gRPC status).",
        .label_names = req_labels,
        .n_labels = 2,
    };
    __atomic_store_n(&gw->m.requests, weft_metrics_counter_vec_new(m, &o, NULL),
                     __ATOMIC_RELEASE);
    struct weft_metrics_opts h = {
        .namespace_ = "gateway",
        .name = "request_duration_seconds",
        .help = "Time to complete a gateway request.",
        .label_names = dur_labels,
        .n_labels = 1,
    };
    __atomic_store_n(&gw->m.duration, weft_metrics_histogram_vec_new(m, &h, NULL),
                     __ATOMIC_RELEASE);
    struct weft_metrics_opts c = {
        .namespace_ = "gateway",
        .name = "endorsements_total",
        .help = "ProcessProposal calls made by the gateway, by outcome.",
        .label_names = end_labels,
        .n_labels = 1,
    };
    __atomic_store_n(&gw->m.endorsements, weft_metrics_counter_vec_new(m, &c, NULL),
                     __ATOMIC_RELEASE);
}

void weft_gateway_set_metrics(struct weft_gateway *gw, struct weft_metrics *m)
{
    metrics_init(gw, m);
}

int weft_gateway_new(const struct weft_gateway_opts *o, const struct weft_gateway_backend *be,
                     struct weft_gateway **out, struct weft_err *err)
{
    *out = NULL;
    if (o == NULL || be == NULL || o->mspid == NULL || be->endorse == NULL ||
        be->config == NULL || be->ledger == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "gateway: mspid and backend are required");
    }
    struct weft_gateway *gw = weft_calloc(1, sizeof(*gw));
    if (gw == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&gw->mu, NULL);
    pthread_cond_init(&gw->cv, NULL);
    pthread_cond_init(&gw->ecall_cv, NULL);
    gw->be = *be;
    gw->mspid = weft_strdup(o->mspid);
    gw->endpoint = weft_strdup(o->endpoint != NULL ? o->endpoint : "");
    gw->no_anchor_peers = o->no_anchor_peers;
    gw->tls = o->tls;
    gw->endorse_ms = o->endorsement_timeout_ms > 0 ? o->endorsement_timeout_ms : 10000;
    gw->broadcast_ms = o->broadcast_timeout_ms > 0 ? o->broadcast_timeout_ms : 10000;
    gw->dial_ms = o->dial_timeout_ms > 0 ? o->dial_timeout_ms : 30000;
    gw->limit = o->concurrency_limit;
    int rc = 0;
    if (gw->mspid == NULL || gw->endpoint == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->tls_cert_file != NULL && (gw->tls_cert_file = weft_strdup(o->tls_cert_file)) == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->tls_key_file != NULL && (gw->tls_key_file = weft_strdup(o->tls_key_file)) == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->tls && o->tls_root_file != NULL && o->tls_root_file[0] != 0) {
        gw->tls_roots = read_text_file(o->tls_root_file, err);
        if (gw->tls_roots == NULL) {
            rc = WEFT_EIO;
            goto fail;
        }
    }
    if (o->n_peers > 0) {
        gw->peers = weft_calloc(o->n_peers, sizeof(*gw->peers));
        if (gw->peers == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->n_peers; i++) {
            gw->peers[i].mspid = weft_strdup(o->peers[i].mspid != NULL ? o->peers[i].mspid
                                                                        : o->mspid);
            gw->peers[i].address = weft_strdup(o->peers[i].address != NULL
                                                   ? o->peers[i].address : "");
            gw->n_peers++;
            if (gw->peers[i].mspid == NULL || gw->peers[i].address == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
                goto fail;
            }
        }
    }
    if (o->n_orderers > 0) {
        gw->orderers = weft_calloc(o->n_orderers, sizeof(*gw->orderers));
        if (gw->orderers == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < o->n_orderers; i++) {
            if ((gw->orderers[i] = weft_strdup(o->orderers[i])) == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
                goto fail;
            }
            gw->n_orderers++;
        }
    }
    /* threads start on demand, as many as Endorse calls run at once need */
    gw->jobs = weft_pool_new(GW_JOB_THREADS);
    if (gw->jobs == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "gateway: worker pool");
        goto fail;
    }
    metrics_init(gw, o->metrics);
    *out = gw;
    return 0;
fail:
    weft_gateway_free(gw);
    return rc;
}

/* ---- concurrency limit (peer.limits.concurrency.gatewayService) ---------------- */

/* Admits a request unless limit requests are already in progress; Fabric's
 * interceptor refuses the excess at once with this text (gRPC UNKNOWN).
 * Each request holds a worker of the peer's gRPC server, and an Endorse
 * waits on other peers' ProcessProposal, served by their workers: the
 * limit keeps gateway calls from taking every worker. */
static bool admit(struct weft_gateway *gw, struct weft_rpc_call *call)
{
    uint32_t n = __atomic_add_fetch(&gw->active, 1, __ATOMIC_ACQ_REL);
    if (gw->limit == 0 || n <= gw->limit) {
        return true;
    }
    __atomic_sub_fetch(&gw->active, 1, __ATOMIC_ACQ_REL);
    char msg[160];
    snprintf(msg, sizeof(msg),
             "too many requests for /gateway.Gateway, exceeding concurrency limit (%u)",
             (unsigned)gw->limit);
    WEFT_WARN(lg_gw, "%s", msg);
    weft_rpc_call_set_message(call, msg);
    return false;
}

static void release(struct weft_gateway *gw)
{
    __atomic_sub_fetch(&gw->active, 1, __ATOMIC_ACQ_REL);
}

#define GW_LIMITED(name, fn)                                                                   \
    static int name(void *ctx, struct weft_rpc_call *call, const uint8_t *req, size_t len,    \
                    struct weft_buf *resp)                                                     \
    {                                                                                          \
        struct weft_gateway *gw = ctx;                                                         \
        if (!admit(gw, call)) {                                                                \
            return WEFT_RPC_UNKNOWN;                                                           \
        }                                                                                      \
        int code = fn(ctx, call, req, len, resp);                                              \
        if (code != WEFT_RPC_DEFERRED) { /* else released with the reply */                   \
            release(gw);                                                                       \
        }                                                                                      \
        return code;                                                                           \
    }
GW_LIMITED(l_endorse, h_endorse)
GW_LIMITED(l_endorse_async, h_endorse_async)
GW_LIMITED(l_submit, h_submit)
GW_LIMITED(l_commit_status, h_commit_status)
GW_LIMITED(l_evaluate, h_evaluate)

static void l_chaincode_events(void *ctx, struct weft_rpc_call *call)
{
    struct weft_gateway *gw = ctx;
    if (!admit(gw, call)) {
        (void)weft_rpc_call_finish(call, WEFT_RPC_UNKNOWN, NULL);
        return;
    }
    h_chaincode_events(ctx, call);
    release(gw);
}

int weft_gateway_register(struct weft_gateway *gw, struct weft_rpc_server *rpc,
                          struct weft_err *err)
{
    gw->rpc = rpc;
    /* with an asynchronous local endorser, Endorse never blocks: it runs on
     * the completion-queue thread and answers when its endorsements are in */
    int rc = gw->be.endorse_async != NULL
                 ? weft_rpc_server_add_unary_flags(rpc, "/gateway.Gateway/Endorse",
                                                   l_endorse_async, gw, WEFT_RPC_INLINE)
                 : weft_rpc_server_add_unary(rpc, "/gateway.Gateway/Endorse", l_endorse, gw);
    if (rc == 0) {
        rc = weft_rpc_server_add_unary(rpc, "/gateway.Gateway/Submit", l_submit, gw);
    }
    if (rc == 0) {
        /* on the completion-queue thread: the handler only checks the
         * request's signature and ACL, looks the transaction up and, when it
         * is not committed yet, registers it and answers later - it never
         * waits (short mutexes only), so no hop to a worker is needed */
        rc = weft_rpc_server_add_unary_flags(rpc, "/gateway.Gateway/CommitStatus",
                                             l_commit_status, gw, WEFT_RPC_INLINE);
    }
    if (rc == 0) {
        rc = weft_rpc_server_add_unary(rpc, "/gateway.Gateway/Evaluate", l_evaluate, gw);
    }
    if (rc == 0) {
        rc = weft_rpc_server_add_stream(rpc, "/gateway.Gateway/ChaincodeEvents",
                                        WEFT_RPC_SERVER_STREAMING, l_chaincode_events, gw);
    }
    if (rc != 0) {
        return weft_err_set(err, rc, "register gateway service: %s", weft_strerror(rc));
    }
    return 0;
}

void weft_gateway_free(struct weft_gateway *gw)
{
    if (gw == NULL) {
        return;
    }
    pthread_mutex_lock(&gw->mu);
    gw->stopping = true;
    struct gw_watch *ws = gw->watches;
    gw->watches = NULL;
    pthread_cond_broadcast(&gw->cv);
    pthread_mutex_unlock(&gw->mu);
    /* each watcher answers its remaining waiters UNAVAILABLE as it ends
     * (none are left when the server was stopped first, as it must be) */
    while (ws != NULL) {
        struct gw_watch *w = ws;
        ws = w->next;
        weft_ledger_iter_cancel(w->it);
        pthread_join(w->th, NULL);
        weft_ledger_iter_free(w->it);
        weft_free(w->channel);
        weft_free(w);
    }
    /* an Endorse answered at the server's stop may still wait for its last
     * attempt (a local chaincode run ends by the execute timeout) */
    pthread_mutex_lock(&gw->mu);
    while (gw->ecalls > 0) {
        pthread_cond_wait(&gw->ecall_cv, &gw->mu);
    }
    pthread_mutex_unlock(&gw->mu);
    /* no Endorse runs any more; queued Submit attempts end (shutting down);
     * then the readers answer what is still pending on their streams, with
     * no pool left to move on (gw->jobs NULL) */
    pthread_mutex_lock(&gw->mu);
    struct weft_pool *jobs = gw->jobs;
    gw->jobs = NULL;
    pthread_mutex_unlock(&gw->mu);
    weft_pool_free(jobs);
    bcasts_free(gw); /* streams before the clients they belong to */
    while (gw->clients != NULL) {
        struct gw_client *c = gw->clients;
        gw->clients = c->next;
        weft_rpc_client_free(c->c);
        weft_free(c->address);
        weft_free(c);
    }
    for (size_t i = 0; i < gw->n_peers; i++) {
        weft_free((char *)gw->peers[i].mspid);
        weft_free((char *)gw->peers[i].address);
    }
    weft_free(gw->peers);
    for (size_t i = 0; i < gw->n_orderers; i++) {
        weft_free(gw->orderers[i]);
    }
    weft_free(gw->orderers);
    weft_free(gw->tls_roots);
    weft_free(gw->tls_cert_file);
    weft_free(gw->tls_key_file);
    weft_free(gw->mspid);
    weft_free(gw->endpoint);
    pthread_cond_destroy(&gw->cv);
    pthread_cond_destroy(&gw->ecall_cv);
    pthread_mutex_destroy(&gw->mu);
    weft_free(gw);
}

void weft_gateway_get_stats(struct weft_gateway *gw, struct weft_gateway_stats *out)
{
    out->evaluate = __atomic_load_n(&gw->stats.evaluate, __ATOMIC_RELAXED);
    out->endorse = __atomic_load_n(&gw->stats.endorse, __ATOMIC_RELAXED);
    out->submit = __atomic_load_n(&gw->stats.submit, __ATOMIC_RELAXED);
    out->commit_status = __atomic_load_n(&gw->stats.commit_status, __ATOMIC_RELAXED);
    out->chaincode_events = __atomic_load_n(&gw->stats.chaincode_events, __ATOMIC_RELAXED);
    out->failed = __atomic_load_n(&gw->stats.failed, __ATOMIC_RELAXED);
    out->endorsements = __atomic_load_n(&gw->stats.endorsements, __ATOMIC_RELAXED);
    out->endorse_retries = __atomic_load_n(&gw->stats.endorse_retries, __ATOMIC_RELAXED);
}
