/* chaingen: two-org endorsed transactions and signed blocks (chaingen.h). */
#include "chaingen.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common/common.pb-c.h"
#include "ledger/rwset/kvrwset/kv_rwset.pb-c.h"
#include "ledger/rwset/rwset.pb-c.h"
#include "orderer/orderer_int.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "peer/lifecycle/db.pb-c.h"
#include "peer/proposal.pb-c.h"
#include "peer/proposal_response.pb-c.h"
#include "peer/transaction.pb-c.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/lifecycle.h"
#include "weft/msp.h"
#include "weft/policy.h"

static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = weft_malloc(n > 0 ? n : 1);
    if (b == NULL) {
        return WEFT_ENOMEM;
    }
    protobuf_c_message_pack(m, b);
    *out = b;
    *len = n;
    return 0;
}

int chaingen_open(struct chaingen *g, const char *crypto_dir, const char *channel, const char *cc,
                  struct weft_err *err)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->channel, sizeof(g->channel), "%s", channel);
    snprintf(g->cc, sizeof(g->cc), "%s", cc);
    struct {
        const char *rel;
        const char *mspid;
        struct weft_msp **out;
    } ids[] = {
        {"peerOrganizations/org1.example.com/users/User1@org1.example.com/msp", "Org1MSP",
         &g->client},
        {"peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp", "Org1MSP",
         &g->peer[0]},
        {"peerOrganizations/org2.example.com/peers/peer0.org2.example.com/msp", "Org2MSP",
         &g->peer[1]},
        {"ordererOrganizations/example.com/orderers/orderer.example.com/msp", "OrdererMSP",
         &g->orderer},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", crypto_dir, ids[i].rel);
        int rc = weft_msp_load_dir(path, ids[i].mspid, ids[i].out, err);
        if (rc != 0) {
            weft_err_prefix(err, "%s", path);
            chaingen_close(g);
            return rc;
        }
    }
    return 0;
}

void chaingen_close(struct chaingen *g)
{
    weft_msp_unref(g->client);
    weft_msp_unref(g->peer[0]);
    weft_msp_unref(g->peer[1]);
    weft_msp_unref(g->orderer);
    memset(g, 0, sizeof(*g));
}

/* Proposal hash of a proposal without transient data:
 * SHA-256(channel_header || signature_header || ser(ChaincodeProposalPayload{input})). */
static int proposal_hash(const uint8_t *prop, size_t len, uint8_t out[32])
{
    Protos__Proposal *p = protos__proposal__unpack(NULL, len, prop);
    Common__Header *h =
        p != NULL ? common__header__unpack(NULL, p->header.len, p->header.data) : NULL;
    Protos__ChaincodeProposalPayload *cpp =
        p != NULL
            ? protos__chaincode_proposal_payload__unpack(NULL, p->payload.len, p->payload.data)
            : NULL;
    int rc = WEFT_EPARSE;
    struct weft_sha256 *s = weft_sha256_new();
    if (h != NULL && cpp != NULL && s != NULL) {
        cpp->n_transientmap = 0;
        uint8_t *cb = NULL;
        size_t cl = 0;
        rc = pack(&cpp->base, &cb, &cl);
        if (rc == 0) {
            rc = weft_sha256_update(s, h->channel_header.data, h->channel_header.len);
        }
        if (rc == 0) {
            rc = weft_sha256_update(s, h->signature_header.data, h->signature_header.len);
        }
        if (rc == 0) {
            rc = weft_sha256_update(s, cb, cl);
        }
        if (rc == 0) {
            rc = weft_sha256_final(s, out);
        }
        weft_free(cb);
        cpp->n_transientmap = 0; /* the map itself was empty: nothing leaked */
    }
    weft_sha256_free(s);
    if (cpp != NULL) {
        protos__chaincode_proposal_payload__free_unpacked(cpp, NULL);
    }
    if (h != NULL) {
        common__header__free_unpacked(h, NULL);
    }
    if (p != NULL) {
        protos__proposal__free_unpacked(p, NULL);
    }
    return rc;
}

/* One namespace's KVRWSet inside a TxReadWriteSet. */
static int rwset_one(const char *ns, Kvrwset__KVRead **reads, size_t n_reads,
                     Kvrwset__KVWrite **writes, size_t n_writes, uint8_t **out, size_t *len)
{
    Kvrwset__KVRWSet kv = KVRWSET__KVRWSET__INIT;
    kv.n_reads = n_reads;
    kv.reads = reads;
    kv.n_writes = n_writes;
    kv.writes = writes;
    uint8_t *kb = NULL;
    size_t kl = 0;
    int rc = pack(&kv.base, &kb, &kl);
    if (rc != 0) {
        return rc;
    }
    Rwset__NsReadWriteSet nsr = RWSET__NS_READ_WRITE_SET__INIT;
    nsr.namespace_ = (char *)ns;
    nsr.rwset.data = kb;
    nsr.rwset.len = kl;
    Rwset__NsReadWriteSet *nsp[1] = {&nsr};
    Rwset__TxReadWriteSet tx = RWSET__TX_READ_WRITE_SET__INIT;
    tx.data_model = RWSET__TX_READ_WRITE_SET__DATA_MODEL__KV;
    tx.n_ns_rwset = 1;
    tx.ns_rwset = nsp;
    rc = pack(&tx.base, out, len);
    weft_free(kb);
    return rc;
}

/* Proposal for cc with args, endorsed by both peers over rwset, then the
 * signed envelope. */
static int endorsed_tx(struct chaingen *g, const char *cc, const char *cc_version,
                       const char *const *args, size_t n_args, const uint8_t *rwset,
                       size_t rwset_len, uint8_t **env, size_t *env_len, struct weft_err *err)
{
    const uint8_t *av[8];
    size_t al[8];
    for (size_t i = 0; i < n_args && i < 8; i++) {
        av[i] = (const uint8_t *)args[i];
        al[i] = strlen(args[i]);
    }
    struct weft_lc_proposal prop;
    memset(&prop, 0, sizeof(prop));
    uint8_t *ca = NULL, *prp = NULL, *tbs = NULL, *resp[2] = {NULL, NULL};
    size_t ca_len = 0, prp_len = 0, resp_len[2] = {0, 0};
    int rc = weft_lc_proposal_new(g->client, g->channel, cc, av, al, n_args, false, &prop, err);
    if (rc != 0) {
        return rc;
    }
    uint8_t phash[32];
    rc = proposal_hash(prop.proposal, prop.proposal_len, phash);
    if (rc != 0) {
        weft_err_set(err, rc, "proposal hash");
        goto out;
    }
    Protos__Response r = PROTOS__RESPONSE__INIT;
    r.status = 200;
    Protos__ChaincodeID id = PROTOS__CHAINCODE_ID__INIT;
    id.name = (char *)cc;
    id.version = (char *)cc_version;
    Protos__ChaincodeAction act = PROTOS__CHAINCODE_ACTION__INIT;
    act.results.data = (uint8_t *)rwset;
    act.results.len = rwset_len;
    act.response = &r;
    act.chaincode_id = &id;
    if ((rc = pack(&act.base, &ca, &ca_len)) != 0) {
        goto nomem;
    }
    Protos__ProposalResponsePayload pl = PROTOS__PROPOSAL_RESPONSE_PAYLOAD__INIT;
    pl.proposal_hash.data = phash;
    pl.proposal_hash.len = sizeof(phash);
    pl.extension.data = ca;
    pl.extension.len = ca_len;
    if ((rc = pack(&pl.base, &prp, &prp_len)) != 0) {
        goto nomem;
    }
    for (int k = 0; k < 2; k++) {
        size_t idl = 0;
        const uint8_t *idb = weft_msp_identity_serialized(weft_msp_signer(g->peer[k]), &idl);
        weft_free(tbs);
        tbs = weft_malloc(prp_len + idl);
        if (tbs == NULL) {
            rc = WEFT_ENOMEM;
            goto nomem;
        }
        memcpy(tbs, prp, prp_len);
        memcpy(tbs + prp_len, idb, idl);
        uint8_t sig[WEFT_ECDSA_SIG_MAX];
        size_t sig_len = sizeof(sig);
        rc = weft_msp_sign(g->peer[k], tbs, prp_len + idl, sig, &sig_len, err);
        if (rc != 0) {
            goto out;
        }
        Protos__Endorsement e = PROTOS__ENDORSEMENT__INIT;
        e.endorser.data = (uint8_t *)(uintptr_t)idb;
        e.endorser.len = idl;
        e.signature.data = sig;
        e.signature.len = sig_len;
        Protos__ProposalResponse pr = PROTOS__PROPOSAL_RESPONSE__INIT;
        pr.version = 1;
        pr.response = &r;
        pr.payload.data = prp;
        pr.payload.len = prp_len;
        pr.endorsement = &e;
        if ((rc = pack(&pr.base, &resp[k], &resp_len[k])) != 0) {
            goto nomem;
        }
    }
    rc = weft_lc_tx_new(g->client, &prop, (const uint8_t *const *)resp, resp_len, 2, env, env_len,
                        err);
    goto out;
nomem:
    weft_err_set(err, rc, "out of memory");
out:
    weft_lc_proposal_clear(&prop);
    weft_free(ca);
    weft_free(prp);
    weft_free(tbs);
    weft_free(resp[0]);
    weft_free(resp[1]);
    return rc;
}

int chaingen_tx(struct chaingen *g, uint64_t i, uint8_t **env, size_t *len, struct weft_err *err)
{
    char key[32], color[16], size[16], owner[32], value[32], json[256];
    snprintf(key, sizeof(key), "asset%08llu", (unsigned long long)i);
    static const char *const colors[] = {"blue", "red", "green", "yellow", "black", "white"};
    snprintf(color, sizeof(color), "%s", colors[i % 6]);
    snprintf(size, sizeof(size), "%llu", (unsigned long long)(5 + i % 20));
    snprintf(owner, sizeof(owner), "owner%llu", (unsigned long long)(i % 97));
    snprintf(value, sizeof(value), "%llu", (unsigned long long)(100 + i % 900));
    int jl = snprintf(json, sizeof(json),
                      "{\"AppraisedValue\":%s,\"Color\":\"%s\",\"ID\":\"%s\",\"Owner\":\"%s\","
                      "\"Size\":%s,\"docType\":\"asset\"}",
                      value, color, key, owner, size);
    Kvrwset__KVRead rd = KVRWSET__KVREAD__INIT;
    rd.key = key;
    Kvrwset__KVRead *rds[1] = {&rd};
    Kvrwset__KVWrite wr = KVRWSET__KVWRITE__INIT;
    wr.key = key;
    wr.value.data = (uint8_t *)json;
    wr.value.len = (size_t)jl;
    Kvrwset__KVWrite *wrs[1] = {&wr};
    uint8_t *rw = NULL;
    size_t rwl = 0;
    int rc = rwset_one(g->cc, rds, 1, wrs, 1, &rw, &rwl);
    if (rc != 0) {
        return weft_err_set(err, rc, "out of memory");
    }
    const char *args[] = {"CreateAsset", key, color, size, owner, value};
    rc = endorsed_tx(g, g->cc, "1.0", args, 6, rw, rwl, env, len, err);
    weft_free(rw);
    return rc;
}

/* StateData{Bytes} / StateData{Int64} */
static int state_bytes(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    uint8_t *b = NULL;
    size_t bl = 0;
    int rc = pack(m, &b, &bl);
    if (rc != 0) {
        return rc;
    }
    Lifecycle__StateData sd = LIFECYCLE__STATE_DATA__INIT;
    sd.type_case = LIFECYCLE__STATE_DATA__TYPE_BYTES;
    sd.bytes.data = b;
    sd.bytes.len = bl;
    rc = pack(&sd.base, out, len);
    weft_free(b);
    return rc;
}

int chaingen_define_tx(struct chaingen *g, uint8_t **env, size_t *len, struct weft_err *err)
{
    uint8_t *pol = NULL, *ap = NULL, *vals[5] = {NULL, NULL, NULL, NULL, NULL}, *rw = NULL;
    size_t pol_len = 0, vlen[5] = {0, 0, 0, 0, 0}, rwl = 0;
    char keys[5][128];
    int rc = weft_policy_parse("AND('Org1MSP.peer','Org2MSP.peer')", &pol, &pol_len, err);
    if (rc != 0) {
        return rc;
    }
    /* ApplicationPolicy{signature_policy = 1} */
    ap = weft_malloc(pol_len + 8);
    if (ap == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    size_t apl = 0;
    ap[apl++] = 0x0a;
    for (size_t v = pol_len;; v >>= 7) {
        ap[apl++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
        if (v < 0x80) {
            break;
        }
    }
    memcpy(ap + apl, pol, pol_len);
    apl += pol_len;

    Lifecycle__StateMetadata md = LIFECYCLE__STATE_METADATA__INIT;
    char *fields[] = {"Collections", "EndorsementInfo", "Sequence", "ValidationInfo"};
    md.datatype = "ChaincodeDefinition";
    md.n_fields = 4;
    md.fields = fields;
    Lifecycle__StateData seq = LIFECYCLE__STATE_DATA__INIT;
    seq.type_case = LIFECYCLE__STATE_DATA__TYPE_INT64;
    seq.int64 = 1;
    Lifecycle__ChaincodeEndorsementInfo ei = LIFECYCLE__CHAINCODE_ENDORSEMENT_INFO__INIT;
    ei.version = "1.0";
    ei.endorsement_plugin = "escc";
    Lifecycle__ChaincodeValidationInfo vi = LIFECYCLE__CHAINCODE_VALIDATION_INFO__INIT;
    vi.validation_plugin = "vscc";
    vi.validation_parameter.data = ap;
    vi.validation_parameter.len = apl;
    Lifecycle__StateData nocoll = LIFECYCLE__STATE_DATA__INIT; /* no collections */
    nocoll.type_case = LIFECYCLE__STATE_DATA__TYPE_BYTES;
    snprintf(keys[0], sizeof(keys[0]), "namespaces/fields/%s/Collections", g->cc);
    snprintf(keys[1], sizeof(keys[1]), "namespaces/fields/%s/EndorsementInfo", g->cc);
    snprintf(keys[2], sizeof(keys[2]), "namespaces/fields/%s/Sequence", g->cc);
    snprintf(keys[3], sizeof(keys[3]), "namespaces/fields/%s/ValidationInfo", g->cc);
    snprintf(keys[4], sizeof(keys[4]), "namespaces/metadata/%s", g->cc);
    rc = pack(&nocoll.base, &vals[0], &vlen[0]);
    if (rc == 0) {
        rc = state_bytes(&ei.base, &vals[1], &vlen[1]);
    }
    if (rc == 0) {
        rc = pack(&seq.base, &vals[2], &vlen[2]);
    }
    if (rc == 0) {
        rc = state_bytes(&vi.base, &vals[3], &vlen[3]);
    }
    if (rc == 0) {
        rc = pack(&md.base, &vals[4], &vlen[4]);
    }
    Kvrwset__KVWrite w[5];
    Kvrwset__KVWrite *wp[5];
    for (int k = 0; k < 5 && rc == 0; k++) {
        kvrwset__kvwrite__init(&w[k]);
        w[k].key = keys[k];
        w[k].value.data = vals[k];
        w[k].value.len = vlen[k];
        wp[k] = &w[k];
    }
    if (rc == 0) {
        rc = rwset_one("_lifecycle", NULL, 0, wp, 5, &rw, &rwl);
    }
    if (rc != 0) {
        weft_err_set(err, rc, "out of memory");
        goto out;
    }
    const char *args[] = {"CommitChaincodeDefinition", g->cc};
    rc = endorsed_tx(g, "_lifecycle", "syscc", args, 2, rw, rwl, env, len, err);
out:
    weft_free(pol);
    weft_free(ap);
    for (int k = 0; k < 5; k++) {
        weft_free(vals[k]);
    }
    weft_free(rw);
    return rc;
}

static int sign_orderer(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len,
                        struct weft_err *err)
{
    *sig_len = WEFT_ECDSA_SIG_MAX;
    return weft_msp_sign(ctx, msg, len, sig, sig_len, err);
}

int chaingen_block(struct chaingen *g, uint64_t number, const uint8_t *prev_hash,
                   const uint8_t *const *envs, const size_t *lens, size_t n, uint8_t **out,
                   size_t *out_len, uint8_t hash[32], struct weft_err *err)
{
    size_t idl = 0;
    const uint8_t *idb = weft_msp_identity_serialized(weft_msp_signer(g->orderer), &idl);
    struct orderer_signer s = {
        .creator = idb, .creator_len = idl, .sign = sign_orderer, .ctx = g->orderer};
    struct orderer_block_in in = {.number = number,
                                  .prev_hash = prev_hash,
                                  .prev_hash_len = prev_hash != NULL ? 32 : 0,
                                  .envs = envs,
                                  .lens = lens,
                                  .n = n,
                                  .last_config = 0};
    return orderer__block_build(&in, &s, out, out_len, hash, err);
}

int chaingen_block_hash(const uint8_t *block, size_t len, uint8_t hash[32])
{
    Common__Block *b = common__block__unpack(NULL, len, block);
    if (b == NULL || b->header == NULL) {
        if (b != NULL) {
            common__block__free_unpacked(b, NULL);
        }
        return WEFT_EPARSE;
    }
    int rc = weft_ledger_header_hash(b->header->number, b->header->previous_hash.data,
                                     b->header->previous_hash.len, b->header->data_hash.data,
                                     b->header->data_hash.len, hash);
    common__block__free_unpacked(b, NULL);
    return rc;
}

/* The three signatures of one transaction, parsed from its envelope. */
struct txsigs {
    Common__Envelope *env;
    Protos__Transaction *tx;
    Protos__ChaincodeActionPayload *cap;
    uint8_t *msg[2];
};

static int txsigs_parse(const uint8_t *b, size_t len, struct txsigs *t)
{
    memset(t, 0, sizeof(*t));
    t->env = common__envelope__unpack(NULL, len, b);
    Common__Payload *p =
        t->env != NULL ? common__payload__unpack(NULL, t->env->payload.len, t->env->payload.data)
                       : NULL;
    if (p == NULL) {
        return WEFT_EPARSE;
    }
    t->tx = protos__transaction__unpack(NULL, p->data.len, p->data.data);
    common__payload__free_unpacked(p, NULL);
    if (t->tx == NULL || t->tx->n_actions != 1) {
        return WEFT_EPARSE;
    }
    t->cap = protos__chaincode_action_payload__unpack(NULL, t->tx->actions[0]->payload.len,
                                                      t->tx->actions[0]->payload.data);
    if (t->cap == NULL || t->cap->action == NULL || t->cap->action->n_endorsements != 2) {
        return WEFT_EPARSE;
    }
    const ProtobufCBinaryData *prp = &t->cap->action->proposal_response_payload;
    for (int k = 0; k < 2; k++) {
        const Protos__Endorsement *e = t->cap->action->endorsements[k];
        t->msg[k] = weft_malloc(prp->len + e->endorser.len);
        if (t->msg[k] == NULL) {
            return WEFT_ENOMEM;
        }
        memcpy(t->msg[k], prp->data, prp->len);
        memcpy(t->msg[k] + prp->len, e->endorser.data, e->endorser.len);
    }
    return 0;
}

static void txsigs_free(struct txsigs *t)
{
    weft_free(t->msg[0]);
    weft_free(t->msg[1]);
    if (t->cap != NULL) {
        protos__chaincode_action_payload__free_unpacked(t->cap, NULL);
    }
    if (t->tx != NULL) {
        protos__transaction__free_unpacked(t->tx, NULL);
    }
    if (t->env != NULL) {
        common__envelope__free_unpacked(t->env, NULL);
    }
}

double chaingen_verify_rate(struct chaingen *g, const uint8_t *const *envs, const size_t *lens,
                            size_t n, unsigned nthreads, double seconds, double *cpu_us_per_sig)
{
    struct txsigs *ts = weft_calloc(n > 0 ? n : 1, sizeof(*ts));
    struct weft_verify_item *items = weft_calloc(3 * (n > 0 ? n : 1), sizeof(*items));
    double rate = -1;
    size_t ok = 0;
    if (ts == NULL || items == NULL) {
        goto out;
    }
    const struct weft_x509 *cc = weft_msp_identity_cert(weft_msp_signer(g->client));
    const struct weft_x509 *pc[2] = {weft_msp_identity_cert(weft_msp_signer(g->peer[0])),
                                     weft_msp_identity_cert(weft_msp_signer(g->peer[1]))};
    for (ok = 0; ok < n; ok++) {
        struct txsigs *t = &ts[ok];
        if (txsigs_parse(envs[ok], lens[ok], t) != 0) {
            ok++;
            goto out;
        }
        const Protos__ChaincodeEndorsedAction *a = t->cap->action;
        struct weft_verify_item *it = &items[3 * ok];
        it[0].cert = cc;
        it[0].msg = t->env->payload.data;
        it[0].msg_len = t->env->payload.len;
        it[0].sig = t->env->signature.data;
        it[0].sig_len = t->env->signature.len;
        for (int k = 0; k < 2; k++) {
            it[1 + k].cert = pc[k];
            it[1 + k].msg = t->msg[k];
            it[1 + k].msg_len = a->proposal_response_payload.len + a->endorsements[k]->endorser.len;
            it[1 + k].sig = a->endorsements[k]->signature.data;
            it[1 + k].sig_len = a->endorsements[k]->signature.len;
        }
    }
    struct weft_verifier *v = weft_verifier_new(nthreads, NULL);
    if (v == NULL) {
        goto out;
    }
    /* batches of one block's worth of signatures, as the validator sends */
    size_t total = 3 * n, batch = 1500, checked = 0, bad = 0;
    double cpu0 = chaingen_cpu_seconds();
    uint64_t t0 = weft_clock_mono_ns();
    uint64_t limit = (uint64_t)(seconds * 1e9);
    size_t i = 0;
    while (checked < total || weft_clock_mono_ns() - t0 < limit) {
        size_t k = total - i < batch ? total - i : batch;
        if (weft_verifier_run(v, items + i, k) != 0) {
            bad++;
        }
        checked += k;
        i = (i + k) % total;
    }
    uint64_t ns = weft_clock_mono_ns() - t0;
    weft_verifier_free(v);
    if (cpu_us_per_sig != NULL) {
        *cpu_us_per_sig = (chaingen_cpu_seconds() - cpu0) * 1e6 / (double)checked;
    }
    rate = bad == 0 ? (double)checked / ((double)ns / 1e9) : -1;
out:
    for (size_t k = 0; ts != NULL && k < ok; k++) {
        txsigs_free(&ts[k]);
    }
    weft_free(ts);
    weft_free(items);
    return rate;
}

double chaingen_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
