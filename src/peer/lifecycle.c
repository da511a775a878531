/*
 * The _lifecycle system chaincode (spec chaincode.md §8): install and query
 * packages on this peer; approve, check and commit chaincode definitions on
 * a channel, with Fabric's state layout, rules and ACLs.
 *
 * It runs in process through the endorser's system chaincode hook
 * (cscc_int.h: peer__is_scc / peer__scc_invoke). A call is
 * args = [<Function>, ser(<Function>Args)]; a success answers 200 with
 * ser(<Function>Result); a refused call answers 500 "failed to invoke
 * backing implementation of '<Function>': <why>" (404 for an unknown
 * package or an undefined namespace), as Fabric does.
 *
 * Channel functions build their read/write set with lifecycle_state.c, so
 * an approval carries the hashed writes of the org's implicit collection
 * and a commit carries the public ChaincodeDefinition keys plus the hashed
 * reads of every org's approval, byte for byte as Fabric's. The private half
 * of an approval stays on the endorsing peer (lifecycle_int.h): DEVIATION
 * from Fabric, which disseminates it to the org's other peers by gossip;
 * in weft each peer of an org that must run the chaincode is approved
 * through (endorses the approve transaction), or learns its package from
 * weft_peer_approve_local.
 */
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/policies.pb-c.h"
#include "cscc_int.h"
#include "lifecycle_int.h"
#include "peer/collection.pb-c.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "peer/lifecycle/lifecycle.pb-c.h"
#include "peer/policy.pb-c.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/policy.h"

WEFT_LOGGER(lg_lc, "lifecycle");

#define ENDORSEMENT_POLICY "/Channel/Application/Endorsement"

/* ---- helpers ------------------------------------------------------------------------ */

struct lc_call {
    struct weft_peer *p;
    const struct peer_scc_req *req;
    struct weft_cc_result *res;
    const char *fn;
    const struct weft_channel_config *cfg; /* channel functions */
    struct weft_ledger *ledger;
    const char *mspid; /* this peer's org */
};

static int fail_status(struct lc_call *c, int32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_status(struct lc_call *c, int32_t status, const char *fmt, ...)
{
    char why[WEFT_ERR_MSG_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    char msg[sizeof(why) + 128];
    snprintf(msg, sizeof(msg), "failed to invoke backing implementation of '%s': %s", c->fn,
             why);
    WEFT_DEBUG(lg_lc, "%s", msg);
    return peer__scc_reply(c->res, status, msg, NULL, 0);
}

#define FAIL(c, ...) fail_status((c), 500, __VA_ARGS__)

static bool match(const char *re, const char *s)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0) {
        return false;
    }
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static const char *check_name_version(const char *name, const char *version, char *buf,
                                      size_t cap)
{
    static const char *const reserved[] = {"cscc", "escc", "lscc", "qscc", "vscc"};
    if (!match("^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$", name)) {
        snprintf(buf, cap, "invalid chaincode name '%s'. Names can only consist of "
                 "alphanumerics, '_', and '-' and can only begin with alphanumerics", name);
        return buf;
    }
    for (size_t i = 0; i < WEFT_ARRAY_LEN(reserved); i++) {
        if (strcmp(name, reserved[i]) == 0) {
            snprintf(buf, cap, "chaincode name '%s' is the name of a system chaincode", name);
            return buf;
        }
    }
    if (version != NULL && !match("^[A-Za-z0-9_.+-]+$", version)) {
        snprintf(buf, cap, "invalid chaincode version '%s'. Versions can only consist of "
                 "alphanumerics, '_', '-', '+', and '.'", version);
        return buf;
    }
    return NULL;
}

/* ACLs: local admin (install, queries of the install store, approve) or a
 * channel policy (commit and channel queries). 0 = allowed. */
static int acl(struct lc_call *c, bool local_admin, char *why, size_t cap)
{
    const struct weft_signed_data *sd = c->req->sd;
    struct weft_err e = {0};
    if (!local_admin) {
        char res[128], pol[512];
        snprintf(res, sizeof(res), "_lifecycle/%s", c->fn);
        peer__acl_policy(c->cfg, res, "/Channel/Application/Writers", pol, sizeof(pol));
        if (weft_policy_mgr_evaluate(c->cfg->policy_mgr, pol, sd, 1, &e) != 0) {
            if (snprintf(why, cap, "access denied for [%s]: failed evaluating policy on signed "
                         "data during check policy [%s]: [%s]", res, pol, e.msg) >= (int)cap) {
                why[cap - 1] = 0; /* truncated */
            }
            return WEFT_EPERM;
        }
        return 0;
    }
    struct weft_msp_identity *id = NULL;
    int rc = weft_msp_deserialize(c->p->msp, sd->identity, sd->identity_len, &id, &e);
    if (rc == 0) {
        rc = weft_msp_identity_validate(id, &e);
    }
    if (rc == 0) {
        rc = weft_msp_identity_verify(id, NULL, sd->data, sd->data_len, sd->signature,
                                      sd->signature_len, &e);
    }
    if (rc == 0 && !weft_msp_identity_is_admin(id)) {
        rc = weft_err_set(&e, WEFT_EPOLICY, "the creator is not an admin of %s", c->mspid);
    }
    weft_msp_identity_unref(id);
    if (rc != 0) {
        if (snprintf(why, cap, "access denied for [_lifecycle/%s]: the local MSP %s refuses "
                     "the creator: %s", c->fn, c->mspid, e.msg) >= (int)cap) {
            why[cap - 1] = 0; /* truncated */
        }
        return WEFT_EPERM;
    }
    return 0;
}

static char *implicit(const char *mspid)
{
    return weft_asprintf(LC_IMPLICIT "%s", mspid);
}

static char *dup_or_empty(const char *s)
{
    return weft_strdup(s != NULL ? s : "");
}

static uint8_t *dup_bytes(const uint8_t *b, size_t len)
{
    uint8_t *o = weft_malloc(len + 1);
    if (o != NULL && len > 0) {
        memcpy(o, b, len);
    }
    return o;
}

/* Fills d from the definition fields of an args message and applies
 * Fabric's defaults. 0, WEFT_ENOMEM, or WEFT_EINVAL with why set. */
static int def_from_args(struct lc_call *c, int64_t seq, const char *version, const char *ep,
                         const char *vp, const ProtobufCBinaryData *vparam,
                         const Protos__CollectionConfigPackage *colls, bool init_required,
                         struct lc_def *d, char *why, size_t cap)
{
    memset(d, 0, sizeof(*d));
    d->sequence = seq;
    d->init_required = init_required;
    d->version = dup_or_empty(version);
    d->endorsement_plugin = weft_strdup(ep != NULL && ep[0] != 0 ? ep : "escc");
    d->validation_plugin = weft_strdup(vp != NULL && vp[0] != 0 ? vp : "vscc");
    if (vparam->len > 0) {
        d->validation_parameter = dup_bytes(vparam->data, vparam->len);
        d->validation_parameter_len = vparam->len;
    } else {
        if (!weft_policy_mgr_has(c->cfg->policy_mgr, ENDORSEMENT_POLICY)) {
            snprintf(why, cap, "policy '%s' must be defined for channel '%s' before chaincode "
                     "operations can be attempted", ENDORSEMENT_POLICY, c->req->channel);
            return WEFT_EINVAL;
        }
        Protos__ApplicationPolicy ap = PROTOS__APPLICATION_POLICY__INIT;
        ap.type_case = PROTOS__APPLICATION_POLICY__TYPE_CHANNEL_CONFIG_POLICY_REFERENCE;
        ap.channel_config_policy_reference = (char *)ENDORSEMENT_POLICY;
        d->validation_parameter_len = protobuf_c_message_get_packed_size(&ap.base);
        d->validation_parameter = weft_malloc(d->validation_parameter_len + 1);
        if (d->validation_parameter != NULL) {
            protobuf_c_message_pack(&ap.base, d->validation_parameter);
        }
    }
    if (colls != NULL) {
        for (size_t i = 0; i < colls->n_config; i++) {
            const Protos__CollectionConfig *cc = colls->config[i];
            const char *n = cc != NULL && cc->static_collection_config != NULL
                                ? cc->static_collection_config->name
                                : "";
            if (!match("^[A-Za-z0-9-]+([A-Za-z0-9_-]+)*$", n)) {
                snprintf(why, cap, "invalid collection name '%s'", n);
                return WEFT_EINVAL;
            }
        }
        d->collections_len = protobuf_c_message_get_packed_size(&colls->base);
        d->collections = weft_malloc(d->collections_len + 1);
        if (d->collections != NULL) {
            protobuf_c_message_pack(&colls->base, d->collections);
        }
    } else {
        d->collections = weft_malloc(1);
    }
    if (d->version == NULL || d->endorsement_plugin == NULL || d->validation_plugin == NULL ||
        d->validation_parameter == NULL || d->collections == NULL) {
        return WEFT_ENOMEM;
    }
    return 0;
}

static bool same_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Parameter equality (version, plugins, init_required, validation
 * parameter, collections); why says what differs. */
static bool params_equal(const struct lc_def *a, const struct lc_def *b, char *why, size_t cap)
{
    if (strcmp(a->version, b->version) != 0) {
        snprintf(why, cap, "Version '%s' != '%s'", a->version, b->version);
    } else if (strcmp(a->endorsement_plugin, b->endorsement_plugin) != 0) {
        snprintf(why, cap, "EndorsementPlugin '%s' != '%s'", a->endorsement_plugin,
                 b->endorsement_plugin);
    } else if (a->init_required != b->init_required) {
        snprintf(why, cap, "InitRequired '%s' != '%s'", a->init_required ? "true" : "false",
                 b->init_required ? "true" : "false");
    } else if (strcmp(a->validation_plugin, b->validation_plugin) != 0) {
        snprintf(why, cap, "ValidationPlugin '%s' != '%s'", a->validation_plugin,
                 b->validation_plugin);
    } else if (!same_bytes(a->validation_parameter, a->validation_parameter_len,
                           b->validation_parameter, b->validation_parameter_len)) {
        snprintf(why, cap, "ValidationParameter '%zu bytes' != '%zu bytes'",
                 a->validation_parameter_len, b->validation_parameter_len);
    } else if (!same_bytes(a->collections, a->collections_len, b->collections,
                           b->collections_len)) {
        snprintf(why, cap, "Collections do not match");
    } else {
        return true;
    }
    return false;
}

static int64_t current_sequence(struct lc_tx *tx, const char *name, struct weft_err *err,
                                int *rc)
{
    enum lc_kind k;
    int64_t seq = 0;
    uint8_t *b = NULL;
    size_t bl = 0;
    *rc = lc_field_get(tx, NULL, "namespaces", name, "Sequence", &k, &seq, &b, &bl, err);
    weft_free(b);
    return k == LC_INT64 ? seq : 0;
}

/* approvals[i] for every application org at d->sequence (hashed state). */
static int approvals(struct lc_call *c, struct lc_tx *tx, const char *name, struct lc_def *d,
                     bool *out, struct weft_err *err)
{
    struct lc_obj params;
    if (lc_def_objects(d, NULL, &params) != 0) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    char *priv = weft_asprintf("%s#%lld", name, (long long)d->sequence);
    if (priv == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < c->cfg->application.n_orgs && rc == 0; i++) {
        char *coll = implicit(c->cfg->application.orgs[i].mspid);
        rc = coll == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                          : lc_is_serialized(tx, coll, "namespaces", priv, &params, &out[i], err);
        weft_free(coll);
    }
    weft_free(priv);
    return rc;
}

/* Map<mspid,bool> entries for a result message (borrow the config). */
struct approval_map {
    Lifecycle__CheckCommitReadinessResult__ApprovalsEntry *e;
    Lifecycle__CheckCommitReadinessResult__ApprovalsEntry **p;
    bool *v;
    size_t n;
};

static int approval_map_new(struct lc_call *c, struct approval_map *m)
{
    size_t n = c->cfg->application.n_orgs;
    m->n = n;
    m->e = weft_calloc(n + 1, sizeof(*m->e));
    m->p = weft_calloc(n + 1, sizeof(*m->p));
    m->v = weft_calloc(n + 1, sizeof(*m->v));
    if (m->e == NULL || m->p == NULL || m->v == NULL) {
        return WEFT_ENOMEM;
    }
    return 0;
}

static void approval_map_fill(struct lc_call *c, struct approval_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        lifecycle__check_commit_readiness_result__approvals_entry__init(&m->e[i]);
        m->e[i].key = c->cfg->application.orgs[i].mspid;
        m->e[i].value = m->v[i];
        m->p[i] = &m->e[i];
    }
}

static void approval_map_free(struct approval_map *m)
{
    weft_free(m->e);
    weft_free(m->p);
    weft_free(m->v);
}

static int set_rwset(struct lc_call *c, struct lc_tx *tx, struct weft_err *err)
{
    if (c->req->rwset == NULL) {
        return 0;
    }
    uint8_t *rw = NULL;
    size_t rl = 0;
    int rc = lc_tx_rwset(tx, &rw, &rl, err);
    if (rc != 0) {
        return rc;
    }
    weft_free(*c->req->rwset);
    *c->req->rwset = rw;
    *c->req->rwset_len = rl;
    return 0;
}

/* Names of the namespaces defined in _lifecycle (namespaces/metadata/<n>). */
static int defined_names(struct weft_ledger *ledger, char ***out, size_t *n,
                         struct weft_err *err)
{
    static const char start[] = "namespaces/metadata/";
    static const char end[] = "namespaces/metadata0"; /* '/' + 1 */
    struct weft_ledger_sim *qe = NULL;
    struct weft_ledger_range_iter *it = NULL;
    *out = NULL;
    *n = 0;
    int rc = weft_ledger_qe_new(ledger, &qe, err);
    if (rc == 0) {
        rc = weft_ledger_sim_range(qe, LC_NS, start, sizeof(start) - 1, end, sizeof(end) - 1, 0,
                                   &it, err);
    }
    struct weft_ledger_kv kv;
    while (rc == 0 && (rc = weft_ledger_range_next(it, &kv, err)) == 1) {
        rc = 0;
        size_t nl = kv.key_len - (sizeof(start) - 1);
        const char *nm = (const char *)kv.key + sizeof(start) - 1;
        if (memchr(nm, '#', nl) != NULL) {
            continue;
        }
        char **nv = weft_realloc(*out, (*n + 1) * sizeof(*nv));
        if (nv == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        *out = nv;
        nv[*n] = weft_malloc(nl + 1);
        if (nv[*n] == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        memcpy(nv[*n], nm, nl);
        nv[*n][nl] = 0;
        (*n)++;
    }
    weft_ledger_range_free(it);
    weft_ledger_sim_free(qe);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++) {
            weft_free((*out)[i]);
        }
        weft_free(*out);
        *out = NULL;
        *n = 0;
        return rc == WEFT_ENOMEM ? weft_err_set(err, rc, "out of memory") : rc;
    }
    return 0;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        weft_free(v[i]);
    }
    weft_free(v);
}

/* ---- the package this org approved (also used by peer.c) ------------------------- */

int peer__lifecycle_package(struct weft_peer *p, struct weft_ledger *ledger, const char *channel,
                            const char *name, int64_t sequence, char **package_id,
                            struct weft_err *err)
{
    struct lc_tx *tx = NULL;
    char *coll = implicit(weft_msp_id(p->msp));
    char *priv = weft_asprintf("%s#%lld", name, (long long)sequence);
    *package_id = NULL;
    int rc = coll == NULL || priv == NULL ? WEFT_ENOMEM
                                          : lc_tx_new(ledger, p->fs_path, channel, &tx, err);
    if (rc == 0) {
        enum lc_kind k;
        int64_t iv;
        uint8_t *b = NULL;
        size_t bl;
        rc = lc_field_get(tx, coll, "chaincode-sources", priv, "PackageID", &k, &iv, &b, &bl,
                          err);
        if (rc == 0 && k == LC_STRING && bl > 0) {
            *package_id = (char *)b;
            b = NULL;
        }
        weft_free(b);
    }
    lc_tx_free(tx);
    weft_free(coll);
    weft_free(priv);
    if (rc == WEFT_ENOMEM) {
        return weft_err_set(err, rc, "out of memory");
    }
    if (rc == 0 && *package_id == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "no approved package for %s sequence %lld",
                            name, (long long)sequence);
    }
    return rc;
}

int peer__lifecycle_approval_hash(struct weft_peer *p, struct weft_ledger_sim *qe, const char *name,
                                  int64_t sequence, uint8_t hash[32], bool *found,
                                  struct weft_err *err)
{
    /* lc_get_hash's hashed namespace and lc_field_get's key, without an lc_tx */
    char ns[320], key[600];
    uint8_t kh[32];
    int nl = snprintf(ns, sizeof(ns), LC_NS "$$h" LC_IMPLICIT "%s", weft_msp_id(p->msp));
    int kl = snprintf(key, sizeof(key), "chaincode-sources/fields/%s#%lld/PackageID", name,
                      (long long)sequence);
    *found = false;
    memset(hash, 0, 32);
    if (nl < 0 || (size_t)nl >= sizeof(ns) || kl < 0 || (size_t)kl >= sizeof(key)) {
        return weft_err_set(err, WEFT_EINVAL, "chaincode name too long");
    }
    weft_sha256(key, (size_t)kl, kh);
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = weft_ledger_sim_get(qe, ns, (const char *)kh, sizeof(kh), &v, &vl, found, NULL, err);
    if (rc == 0 && *found && vl == 32) {
        memcpy(hash, v, 32);
    } else {
        *found = false;
    }
    weft_free(v);
    return rc;
}

/* ---- install-store functions ------------------------------------------------------- */

/* References of package_id on every joined channel (committed definitions whose
 * approved package on this peer is package_id). */
static int references(struct lc_call *c, const char *package_id,
                      Lifecycle__QueryInstalledChaincodeResult__ReferencesEntry ***out,
                      size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&c->p->mu);
    size_t nch = 0;
    for (struct peer_channel *ch = c->p->channels; ch != NULL; ch = ch->next) {
        nch++;
    }
    struct peer_channel **chs = weft_calloc(nch + 1, sizeof(*chs));
    size_t k = 0;
    for (struct peer_channel *ch = c->p->channels; chs != NULL && ch != NULL; ch = ch->next) {
        chs[k++] = ch;
    }
    pthread_mutex_unlock(&c->p->mu);
    if (chs == NULL) {
        return WEFT_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < nch && rc == 0; i++) {
        struct weft_ledger *l = peer__channel_ledger(c->p, chs[i]->id);
        char **names = NULL;
        size_t nn = 0;
        struct weft_err e = {0};
        if (l == NULL || defined_names(l, &names, &nn, &e) != 0) {
            continue;
        }
        Lifecycle__QueryInstalledChaincodeResult__Chaincode **ccs = NULL;
        size_t ncc = 0;
        for (size_t j = 0; j < nn && rc == 0; j++) {
            struct lc_tx *tx = NULL;
            struct lc_def d;
            bool found = false;
            char *pkg = NULL;
            if (lc_tx_new(l, c->p->fs_path, chs[i]->id, &tx, &e) != 0 ||
                lc_def_read(tx, names[j], &d, &found, &e) != 0 || !found) {
                lc_tx_free(tx);
                continue;
            }
            lc_tx_free(tx);
            if (peer__lifecycle_package(c->p, l, chs[i]->id, names[j], d.sequence, &pkg, &e) ==
                    0 &&
                strcmp(pkg, package_id) == 0) {
                void *nv = weft_realloc(ccs, (ncc + 1) * sizeof(*ccs));
                Lifecycle__QueryInstalledChaincodeResult__Chaincode *cc =
                    weft_calloc(1, sizeof(*cc));
                if (nv != NULL) {
                    ccs = nv;
                }
                if (nv == NULL || cc == NULL) {
                    weft_free(cc);
                    rc = WEFT_ENOMEM;
                } else {
                    lifecycle__query_installed_chaincode_result__chaincode__init(cc);
                    cc->name = weft_strdup(names[j]);
                    cc->version = d.version;
                    d.version = NULL;
                    ccs[ncc++] = cc;
                }
            }
            weft_free(pkg);
            lc_def_clear(&d);
        }
        free_names(names, nn);
        if (ncc == 0) {
            weft_free(ccs);
            continue;
        }
        void *nv = weft_realloc(*out, (*n_out + 1) * sizeof(**out));
        Lifecycle__QueryInstalledChaincodeResult__ReferencesEntry *re =
            weft_calloc(1, sizeof(*re));
        Lifecycle__QueryInstalledChaincodeResult__References *refs = weft_calloc(1, sizeof(*refs));
        if (nv == NULL || re == NULL || refs == NULL) {
            weft_free(re);
            weft_free(refs);
            for (size_t j = 0; j < ncc; j++) {
                weft_free(ccs[j]->name);
                weft_free(ccs[j]->version);
                weft_free(ccs[j]);
            }
            weft_free(ccs);
            if (nv != NULL) {
                *out = nv;
            }
            rc = WEFT_ENOMEM;
            break;
        }
        *out = nv;
        lifecycle__query_installed_chaincode_result__references_entry__init(re);
        lifecycle__query_installed_chaincode_result__references__init(refs);
        refs->chaincodes = ccs;
        refs->n_chaincodes = ncc;
        re->key = weft_strdup(chs[i]->id);
        re->value = refs;
        (*out)[(*n_out)++] = re;
    }
    weft_free(chs);
    return rc;
}

static void references_free(Lifecycle__QueryInstalledChaincodeResult__ReferencesEntry **r,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < r[i]->value->n_chaincodes; j++) {
            weft_free(r[i]->value->chaincodes[j]->name);
            weft_free(r[i]->value->chaincodes[j]->version);
            weft_free(r[i]->value->chaincodes[j]);
        }
        weft_free(r[i]->value->chaincodes);
        weft_free(r[i]->value);
        weft_free(r[i]->key);
        weft_free(r[i]);
    }
    weft_free(r);
}

static int fn_install(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__InstallChaincodeArgs *a =
        lifecycle__install_chaincode_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'InstallChaincode'");
    }
    struct weft_err e = {0};
    char *id = NULL;
    struct weft_cc_package *pkg = NULL;
    int rc;
    if (weft_cc_package_parse(a->chaincode_install_package.data, a->chaincode_install_package.len,
                              &pkg, &e) != 0) {
        rc = FAIL(c, "could not parse as a chaincode install package: %s", e.msg);
        goto out;
    }
    rc = weft_peer_install(c->p, a->chaincode_install_package.data,
                           a->chaincode_install_package.len, &id, &e);
    if (rc == WEFT_ENOMEM) {
        goto out;
    }
    if (rc != 0) {
        rc = FAIL(c, "%s", e.msg);
        goto out;
    }
    WEFT_INFO(lg_lc, "successfully installed chaincode %s", id);
    Lifecycle__InstallChaincodeResult r = LIFECYCLE__INSTALL_CHAINCODE_RESULT__INIT;
    r.package_id = id;
    r.label = pkg->label;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    weft_free(id);
    weft_cc_package_free(pkg);
    lifecycle__install_chaincode_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_query_installed(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__QueryInstalledChaincodeArgs *a =
        lifecycle__query_installed_chaincode_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'QueryInstalledChaincode'");
    }
    int rc;
    Lifecycle__QueryInstalledChaincodeResult__ReferencesEntry **refs = NULL;
    size_t nrefs = 0;
    if (!weft_cc_store_has(c->p->store, a->package_id)) {
        rc = fail_status(c, 404, "could not load cc install package for chaincode ID '%s'",
                         a->package_id);
        goto out;
    }
    rc = references(c, a->package_id, &refs, &nrefs);
    if (rc != 0) {
        goto out;
    }
    const char *colon = strchr(a->package_id, ':');
    char label[256];
    snprintf(label, sizeof(label), "%.*s",
             (int)(colon != NULL ? colon - a->package_id : (long)strlen(a->package_id)),
             a->package_id);
    Lifecycle__QueryInstalledChaincodeResult r = LIFECYCLE__QUERY_INSTALLED_CHAINCODE_RESULT__INIT;
    r.package_id = a->package_id;
    r.label = label;
    r.references = refs;
    r.n_references = nrefs;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    references_free(refs, nrefs);
    lifecycle__query_installed_chaincode_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_get_package(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__GetInstalledChaincodePackageArgs *a =
        lifecycle__get_installed_chaincode_package_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'GetInstalledChaincodePackage'");
    }
    uint8_t *data = NULL;
    size_t len = 0;
    struct weft_err e = {0};
    int rc = weft_cc_store_load(c->p->store, a->package_id, &data, &len, &e);
    if (rc == WEFT_ENOTFOUND) {
        rc = fail_status(c, 404, "could not load cc install package for chaincode ID '%s'",
                         a->package_id);
    } else if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
    } else {
        Lifecycle__GetInstalledChaincodePackageResult r =
            LIFECYCLE__GET_INSTALLED_CHAINCODE_PACKAGE_RESULT__INIT;
        r.chaincode_install_package.data = data;
        r.chaincode_install_package.len = len;
        rc = peer__scc_reply_msg(c->res, &r.base);
    }
    weft_free(data);
    lifecycle__get_installed_chaincode_package_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_query_installed_all(struct lc_call *c)
{
    struct weft_cc_installed *list = NULL;
    size_t n = 0;
    struct weft_err e = {0};
    int rc = weft_cc_store_list(c->p->store, &list, &n, &e);
    if (rc != 0) {
        return rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
    }
    Lifecycle__QueryInstalledChaincodesResult__InstalledChaincode *ic =
        weft_calloc(n + 1, sizeof(*ic));
    Lifecycle__QueryInstalledChaincodesResult__InstalledChaincode **icp =
        weft_calloc(n + 1, sizeof(*icp));
    Lifecycle__QueryInstalledChaincodeResult__ReferencesEntry ***refs =
        weft_calloc(n + 1, sizeof(*refs));
    size_t *nrefs = weft_calloc(n + 1, sizeof(*nrefs));
    rc = ic == NULL || icp == NULL || refs == NULL || nrefs == NULL ? WEFT_ENOMEM : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        lifecycle__query_installed_chaincodes_result__installed_chaincode__init(&ic[i]);
        ic[i].package_id = list[i].package_id;
        ic[i].label = list[i].label;
        rc = references(c, list[i].package_id, &refs[i], &nrefs[i]);
        /* the two References messages have the same layout (name 1, version 2) */
        ic[i].references =
            (Lifecycle__QueryInstalledChaincodesResult__InstalledChaincode__ReferencesEntry **)
                refs[i];
        ic[i].n_references = nrefs[i];
        icp[i] = &ic[i];
    }
    if (rc == 0) {
        Lifecycle__QueryInstalledChaincodesResult r =
            LIFECYCLE__QUERY_INSTALLED_CHAINCODES_RESULT__INIT;
        r.installed_chaincodes = icp;
        r.n_installed_chaincodes = n;
        rc = peer__scc_reply_msg(c->res, &r.base);
    }
    for (size_t i = 0; refs != NULL && i < n; i++) {
        references_free(refs[i], nrefs[i]);
    }
    weft_free(refs);
    weft_free(nrefs);
    weft_free(ic);
    weft_free(icp);
    weft_cc_installed_free(list, n);
    return rc;
}

/* ---- channel functions ------------------------------------------------------------ */

static int fn_approve(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__ApproveChaincodeDefinitionForMyOrgArgs *a =
        lifecycle__approve_chaincode_definition_for_my_org_args__unpack(NULL, arg->len,
                                                                         arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'ApproveChaincodeDefinitionForMyOrg'");
    }
    char why[WEFT_ERR_MSG_LEN + 256];
    struct lc_def d = {0}, cur = {0};
    struct lc_tx *tx = NULL;
    struct weft_err e = {0};
    char *coll = NULL, *priv = NULL;
    int rc;
    const char *bad = check_name_version(a->name, a->version, why, sizeof(why));
    if (bad != NULL) {
        rc = FAIL(c, "%s", bad);
        goto out;
    }
    rc = def_from_args(c, a->sequence, a->version, a->endorsement_plugin, a->validation_plugin,
                       &a->validation_parameter, a->collections, a->init_required, &d, why,
                       sizeof(why));
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", why);
        goto out;
    }
    const char *pkgid = "";
    if (a->source != NULL && a->source->type_case == LIFECYCLE__CHAINCODE_SOURCE__TYPE_LOCAL_PACKAGE &&
        a->source->local_package != NULL) {
        pkgid = a->source->local_package->package_id;
    }
    coll = implicit(c->mspid);
    priv = weft_asprintf("%s#%lld", a->name, (long long)a->sequence);
    if (coll == NULL || priv == NULL) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    rc = lc_tx_new(c->ledger, c->p->fs_path, c->req->channel, &tx, &e);
    bool found = false;
    int64_t seq = 0;
    if (rc == 0) {
        seq = current_sequence(tx, a->name, &e, &rc);
    }
    if (rc == 0) {
        char *dt = NULL;
        rc = lc_metadata(tx, NULL, "namespaces", a->name, &dt, &e);
        weft_free(dt);
    }
    if (rc == 0 && a->sequence == seq && seq > 0) {
        rc = lc_def_read(tx, a->name, &cur, &found, &e);
    }
    if (rc == 0) {
        rc = lc_read_ns(tx, "lscc", a->name, &found, &e);
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    if (a->sequence == 0) {
        rc = FAIL(c, "requested sequence is 0, but first definable sequence number is 1");
        goto out;
    }
    if (a->sequence < seq) {
        rc = FAIL(c, "currently defined sequence %lld is larger than requested sequence %lld",
                  (long long)seq, (long long)a->sequence);
        goto out;
    }
    if (a->sequence > seq + 1) {
        rc = FAIL(c, "requested sequence %lld is larger than the next available sequence "
                  "number %lld", (long long)a->sequence, (long long)(seq + 1));
        goto out;
    }
    if (a->sequence == seq && cur.version != NULL && !params_equal(&cur, &d, why, sizeof(why))) {
        rc = FAIL(c, "attempted to define the current sequence (%lld) for namespace %s, but: %s",
                  (long long)seq, a->name, why);
        goto out;
    }
    struct lc_obj params, local;
    if (lc_def_objects(&d, NULL, &params) != 0) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    local.datatype = "ChaincodeLocalPackage";
    local.f[0] = (struct lc_field){"PackageID", LC_STRING, 0, (const uint8_t *)pkgid,
                                   strlen(pkgid)};
    local.n = 1;
    if (a->sequence == seq + 1) {
        char *dt = NULL;
        rc = lc_metadata(tx, coll, "namespaces", priv, &dt, &e);
        bool same_params = false, same_pkg = false;
        if (rc == 0 && dt != NULL) {
            rc = lc_is_serialized(tx, coll, "namespaces", priv, &params, &same_params, &e);
            if (rc == 0) {
                rc = lc_is_serialized(tx, coll, "chaincode-sources", priv, &local, &same_pkg, &e);
            }
        }
        weft_free(dt);
        if (rc != 0) {
            rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
            goto out;
        }
        if (same_params && same_pkg) {
            rc = FAIL(c, "attempted to redefine uncommitted sequence (%lld) for namespace %s "
                      "with unchanged content", (long long)a->sequence, a->name);
            goto out;
        }
    }
    rc = lc_serialize(tx, coll, "namespaces", priv, &params, &e);
    if (rc == 0) {
        rc = lc_serialize(tx, coll, "chaincode-sources", priv, &local, &e);
    }
    if (rc == 0) {
        rc = set_rwset(c, tx, &e);
    }
    if (rc == 0) {
        rc = lc_tx_save_private(tx, &e);
        if (rc == 0) {
            peer__defcache_bump(c->p);
        }
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    WEFT_INFO(lg_lc, "[%s] approved %s sequence %lld for %s (package '%s')", c->req->channel,
              a->name, (long long)a->sequence, c->mspid, pkgid);
    Lifecycle__ApproveChaincodeDefinitionForMyOrgResult r =
        LIFECYCLE__APPROVE_CHAINCODE_DEFINITION_FOR_MY_ORG_RESULT__INIT;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    lc_tx_free(tx);
    lc_def_clear(&d);
    lc_def_clear(&cur);
    weft_free(coll);
    weft_free(priv);
    lifecycle__approve_chaincode_definition_for_my_org_args__free_unpacked(a, NULL);
    return rc;
}

/* CheckCommitReadiness (commit = false) and CommitChaincodeDefinition. The
 * two args messages have the same fields. */
static int fn_readiness_or_commit(struct lc_call *c, const ProtobufCBinaryData *arg, bool commit)
{
    Lifecycle__CommitChaincodeDefinitionArgs *a =
        lifecycle__commit_chaincode_definition_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to '%s'", c->fn);
    }
    char why[WEFT_ERR_MSG_LEN + 256];
    struct lc_def d = {0};
    struct lc_tx *tx = NULL;
    struct weft_err e = {0};
    struct approval_map m = {0};
    int rc;
    const char *bad = check_name_version(a->name, a->version, why, sizeof(why));
    if (bad != NULL) {
        rc = FAIL(c, "%s", bad);
        goto out;
    }
    rc = lc_tx_new(c->ledger, c->p->fs_path, c->req->channel, &tx, &e);
    int64_t seq = 0;
    if (rc == 0) {
        seq = current_sequence(tx, a->name, &e, &rc);
    }
    if (rc == 0) {
        char *dt = NULL;
        rc = lc_metadata(tx, NULL, "namespaces", a->name, &dt, &e);
        weft_free(dt);
    }
    bool lscc = false;
    if (rc == 0) {
        rc = lc_read_ns(tx, "lscc", a->name, &lscc, &e);
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    if (a->sequence != seq + 1) {
        rc = FAIL(c, "requested sequence is %lld, but new definition must be sequence %lld",
                  (long long)a->sequence, (long long)(seq + 1));
        goto out;
    }
    rc = def_from_args(c, a->sequence, a->version, a->endorsement_plugin, a->validation_plugin,
                       &a->validation_parameter, a->collections, a->init_required, &d, why,
                       sizeof(why));
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", why);
        goto out;
    }
    rc = approval_map_new(c, &m);
    if (rc == 0) {
        rc = approvals(c, tx, a->name, &d, m.v, &e);
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    approval_map_fill(c, &m);
    if (!commit) {
        Lifecycle__CheckCommitReadinessResult r = LIFECYCLE__CHECK_COMMIT_READINESS_RESULT__INIT;
        r.approvals = m.p;
        r.n_approvals = m.n;
        rc = set_rwset(c, tx, &e);
        rc = rc != 0 ? rc : peer__scc_reply_msg(c->res, &r.base);
        goto out;
    }
    bool mine = false;
    for (size_t i = 0; i < m.n; i++) {
        if (strcmp(m.e[i].key, c->mspid) == 0) {
            mine = m.v[i];
        }
    }
    if (!mine) {
        rc = FAIL(c, "chaincode definition not agreed to by this org (%s)", c->mspid);
        goto out;
    }
    struct lc_obj def;
    if (lc_def_objects(&d, &def, NULL) != 0) {
        rc = WEFT_ENOMEM;
        goto out;
    }
    rc = lc_serialize(tx, NULL, "namespaces", a->name, &def, &e);
    if (rc == 0) {
        rc = set_rwset(c, tx, &e);
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    WEFT_INFO(lg_lc, "[%s] endorsed commit of %s sequence %lld", c->req->channel, a->name,
              (long long)a->sequence);
    Lifecycle__CommitChaincodeDefinitionResult r =
        LIFECYCLE__COMMIT_CHAINCODE_DEFINITION_RESULT__INIT;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    approval_map_free(&m);
    lc_tx_free(tx);
    lc_def_clear(&d);
    lifecycle__commit_chaincode_definition_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_query_approved(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__QueryApprovedChaincodeDefinitionArgs *a =
        lifecycle__query_approved_chaincode_definition_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'QueryApprovedChaincodeDefinition'");
    }
    struct lc_tx *tx = NULL;
    struct weft_err e = {0};
    char *coll = implicit(c->mspid);
    char *priv = NULL;
    uint8_t *ei = NULL, *vi = NULL, *co = NULL, *pkg = NULL;
    size_t eil = 0, vil = 0, col = 0, pkgl = 0;
    Lifecycle__ChaincodeEndorsementInfo *eim = NULL;
    Lifecycle__ChaincodeValidationInfo *vim = NULL;
    Protos__CollectionConfigPackage *cop = NULL;
    int rc = coll == NULL ? WEFT_ENOMEM : lc_tx_new(c->ledger, c->p->fs_path, c->req->channel,
                                                    &tx, &e);
    int64_t seq = a->sequence;
    if (rc == 0 && seq == 0) {
        /* the next sequence if this org approved it, else the current one */
        int64_t cur = current_sequence(tx, a->name, &e, &rc);
        char *p1 = weft_asprintf("%s#%lld", a->name, (long long)(cur + 1));
        char *dt = NULL;
        if (rc == 0 && p1 != NULL) {
            rc = lc_metadata(tx, coll, "namespaces", p1, &dt, &e);
        }
        seq = dt != NULL ? cur + 1 : cur;
        weft_free(dt);
        weft_free(p1);
    }
    enum lc_kind k;
    int64_t iv;
    if (rc == 0) {
        priv = weft_asprintf("%s#%lld", a->name, (long long)seq);
        rc = priv == NULL ? WEFT_ENOMEM
                          : lc_field_get(tx, coll, "namespaces", priv, "EndorsementInfo", &k,
                                         &iv, &ei, &eil, &e);
    }
    if (rc == 0 && k == LC_BYTES) {
        rc = lc_field_get(tx, coll, "namespaces", priv, "ValidationInfo", &k, &iv, &vi, &vil, &e);
    }
    if (rc == 0 && k == LC_BYTES) {
        rc = lc_field_get(tx, coll, "namespaces", priv, "Collections", &k, &iv, &co, &col, &e);
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    if (k != LC_BYTES || (eim = lifecycle__chaincode_endorsement_info__unpack(NULL, eil, ei)) ==
                             NULL ||
        (vim = lifecycle__chaincode_validation_info__unpack(NULL, vil, vi)) == NULL) {
        rc = fail_status(c, 404, "could not fetch approved chaincode definition (name: '%s', "
                         "sequence: '%lld') on channel '%s'", a->name, (long long)seq,
                         c->req->channel);
        goto out;
    }
    cop = col > 0 ? protos__collection_config_package__unpack(NULL, col, co) : NULL;
    rc = lc_field_get(tx, coll, "chaincode-sources", priv, "PackageID", &k, &iv, &pkg, &pkgl, &e);
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    Lifecycle__ChaincodeSource src = LIFECYCLE__CHAINCODE_SOURCE__INIT;
    Lifecycle__ChaincodeSource__Local loc = LIFECYCLE__CHAINCODE_SOURCE__LOCAL__INIT;
    Lifecycle__ChaincodeSource__Unavailable un = LIFECYCLE__CHAINCODE_SOURCE__UNAVAILABLE__INIT;
    if (k == LC_STRING && pkgl > 0) {
        loc.package_id = (char *)pkg;
        src.type_case = LIFECYCLE__CHAINCODE_SOURCE__TYPE_LOCAL_PACKAGE;
        src.local_package = &loc;
    } else {
        src.type_case = LIFECYCLE__CHAINCODE_SOURCE__TYPE_UNAVAILABLE;
        src.unavailable = &un;
    }
    Lifecycle__QueryApprovedChaincodeDefinitionResult r =
        LIFECYCLE__QUERY_APPROVED_CHAINCODE_DEFINITION_RESULT__INIT;
    r.sequence = seq;
    r.version = eim->version;
    r.endorsement_plugin = eim->endorsement_plugin;
    r.init_required = eim->init_required;
    r.validation_plugin = vim->validation_plugin;
    r.validation_parameter = vim->validation_parameter;
    r.collections = cop;
    r.source = &src;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    protos__collection_config_package__free_unpacked(cop, NULL);
    lifecycle__chaincode_endorsement_info__free_unpacked(eim, NULL);
    lifecycle__chaincode_validation_info__free_unpacked(vim, NULL);
    weft_free(ei);
    weft_free(vi);
    weft_free(co);
    weft_free(pkg);
    weft_free(priv);
    weft_free(coll);
    lc_tx_free(tx);
    lifecycle__query_approved_chaincode_definition_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_query_definition(struct lc_call *c, const ProtobufCBinaryData *arg)
{
    Lifecycle__QueryChaincodeDefinitionArgs *a =
        lifecycle__query_chaincode_definition_args__unpack(NULL, arg->len, arg->data);
    if (a == NULL) {
        return FAIL(c, "failed to decode input arg to 'QueryChaincodeDefinition'");
    }
    struct lc_tx *tx = NULL;
    struct weft_err e = {0};
    struct lc_def d = {0};
    struct approval_map m = {0};
    Protos__CollectionConfigPackage *cop = NULL;
    bool found = false;
    int rc = lc_tx_new(c->ledger, c->p->fs_path, c->req->channel, &tx, &e);
    if (rc == 0) {
        rc = lc_def_read(tx, a->name, &d, &found, &e);
    }
    if (rc == 0 && found) {
        rc = approval_map_new(c, &m);
        if (rc == 0) {
            rc = approvals(c, tx, a->name, &d, m.v, &e);
        }
    }
    if (rc != 0) {
        rc = rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
        goto out;
    }
    if (!found) {
        rc = fail_status(c, 404, "namespace %s is not defined", a->name);
        goto out;
    }
    approval_map_fill(c, &m);
    cop = d.collections_len > 0
              ? protos__collection_config_package__unpack(NULL, d.collections_len, d.collections)
              : NULL;
    Lifecycle__QueryChaincodeDefinitionResult r = LIFECYCLE__QUERY_CHAINCODE_DEFINITION_RESULT__INIT;
    r.sequence = d.sequence;
    r.version = d.version;
    r.endorsement_plugin = d.endorsement_plugin;
    r.validation_plugin = d.validation_plugin;
    r.validation_parameter.data = d.validation_parameter;
    r.validation_parameter.len = d.validation_parameter_len;
    r.collections = cop;
    r.init_required = d.init_required;
    /* same layout as CheckCommitReadinessResult's map entries */
    r.approvals = (Lifecycle__QueryChaincodeDefinitionResult__ApprovalsEntry **)m.p;
    r.n_approvals = m.n;
    rc = peer__scc_reply_msg(c->res, &r.base);
out:
    protos__collection_config_package__free_unpacked(cop, NULL);
    approval_map_free(&m);
    lc_def_clear(&d);
    lc_tx_free(tx);
    lifecycle__query_chaincode_definition_args__free_unpacked(a, NULL);
    return rc;
}

static int fn_query_definitions(struct lc_call *c)
{
    char **names = NULL;
    size_t nn = 0;
    struct weft_err e = {0};
    int rc = defined_names(c->ledger, &names, &nn, &e);
    if (rc != 0) {
        return rc == WEFT_ENOMEM ? rc : FAIL(c, "%s", e.msg);
    }
    Lifecycle__QueryChaincodeDefinitionsResult__ChaincodeDefinition *cd =
        weft_calloc(nn + 1, sizeof(*cd));
    Lifecycle__QueryChaincodeDefinitionsResult__ChaincodeDefinition **cdp =
        weft_calloc(nn + 1, sizeof(*cdp));
    struct lc_def *defs = weft_calloc(nn + 1, sizeof(*defs));
    Protos__CollectionConfigPackage **cops = weft_calloc(nn + 1, sizeof(*cops));
    size_t n = 0;
    rc = cd == NULL || cdp == NULL || defs == NULL || cops == NULL ? WEFT_ENOMEM : 0;
    for (size_t i = 0; i < nn && rc == 0; i++) {
        struct lc_tx *tx = NULL;
        bool found = false;
        rc = lc_tx_new(c->ledger, c->p->fs_path, c->req->channel, &tx, &e);
        if (rc == 0) {
            rc = lc_def_read(tx, names[i], &defs[n], &found, &e);
        }
        lc_tx_free(tx);
        if (rc != 0 || !found) {
            continue;
        }
        struct lc_def *d = &defs[n];
        lifecycle__query_chaincode_definitions_result__chaincode_definition__init(&cd[n]);
        cd[n].name = names[i];
        cd[n].sequence = d->sequence;
        cd[n].version = d->version;
        cd[n].endorsement_plugin = d->endorsement_plugin;
        cd[n].validation_plugin = d->validation_plugin;
        cd[n].validation_parameter.data = d->validation_parameter;
        cd[n].validation_parameter.len = d->validation_parameter_len;
        cd[n].init_required = d->init_required;
        if (d->collections_len > 0) {
            cops[n] = protos__collection_config_package__unpack(NULL, d->collections_len,
                                                                d->collections);
            cd[n].collections = cops[n];
        }
        cdp[n] = &cd[n];
        n++;
    }
    if (rc == 0) {
        Lifecycle__QueryChaincodeDefinitionsResult r =
            LIFECYCLE__QUERY_CHAINCODE_DEFINITIONS_RESULT__INIT;
        r.chaincode_definitions = cdp;
        r.n_chaincode_definitions = n;
        rc = peer__scc_reply_msg(c->res, &r.base);
    } else if (rc != WEFT_ENOMEM) {
        rc = FAIL(c, "%s", e.msg);
    }
    for (size_t i = 0; defs != NULL && i < n; i++) {
        lc_def_clear(&defs[i]);
        protos__collection_config_package__free_unpacked(cops[i], NULL);
    }
    weft_free(defs);
    weft_free(cops);
    weft_free(cd);
    weft_free(cdp);
    free_names(names, nn);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static const struct {
    const char *fn;
    bool channel;
    bool local_admin;
} functions[] = {
    {"InstallChaincode", false, true},
    {"QueryInstalledChaincode", false, true},
    {"GetInstalledChaincodePackage", false, true},
    {"QueryInstalledChaincodes", false, true},
    {"ApproveChaincodeDefinitionForMyOrg", true, true},
    {"QueryApprovedChaincodeDefinition", true, true},
    {"CheckCommitReadiness", true, false},
    {"CommitChaincodeDefinition", true, false},
    {"QueryChaincodeDefinition", true, false},
    {"QueryChaincodeDefinitions", true, false},
};

static bool has_v20(const struct weft_channel_config *cfg)
{
    for (size_t i = 0; i < cfg->application.capabilities.n; i++) {
        const char *cap = cfg->application.capabilities.v[i];
        if (strcmp(cap, "V2_0") == 0 || strcmp(cap, "V2_5") == 0) {
            return true;
        }
    }
    return false;
}

int peer__lifecycle_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                           struct weft_cc_result *res)
{
    struct lc_call c = {.p = p, .req = req, .res = res, .mspid = weft_msp_id(p->msp)};
    char fn[64];
    if (req->n_args != 2) {
        return peer__scc_fail(res, "lifecycle scc must be invoked with two arguments, got %zu",
                              req->n_args);
    }
    if (!peer__scc_arg(req, 0, fn, sizeof(fn))) {
        return peer__scc_fail(res, "invalid function name");
    }
    size_t i = 0;
    while (i < WEFT_ARRAY_LEN(functions) && strcmp(functions[i].fn, fn) != 0) {
        i++;
    }
    if (i == WEFT_ARRAY_LEN(functions)) {
        return peer__scc_fail(res, "unknown function '%s'", fn);
    }
    c.fn = functions[i].fn;
    bool on_channel = req->channel != NULL && req->channel[0] != 0;
    if (functions[i].channel != on_channel) {
        return FAIL(&c, functions[i].channel ? "function must be invoked on a channel"
                                             : "function must be invoked without a channel");
    }
    if (on_channel) {
        c.cfg = peer__channel_config(p, req->channel);
        c.ledger = peer__channel_ledger(p, req->channel);
        if (c.cfg == NULL || c.ledger == NULL) {
            return FAIL(&c, "channel '%s' not found", req->channel);
        }
        if (!c.cfg->has_application || !has_v20(c.cfg)) {
            return FAIL(&c, "cannot use new lifecycle for channel '%s' as it does not have the "
                        "required capabilities enabled", req->channel);
        }
    }
    char why[WEFT_ERR_MSG_LEN + 512];
    if (acl(&c, functions[i].local_admin, why, sizeof(why)) != 0) {
        return peer__scc_reply(res, 500, why, NULL, 0);
    }
    const ProtobufCBinaryData *arg = &req->args[1];
    switch (i) {
    case 0:
        return fn_install(&c, arg);
    case 1:
        return fn_query_installed(&c, arg);
    case 2:
        return fn_get_package(&c, arg);
    case 3:
        return fn_query_installed_all(&c);
    case 4:
        return fn_approve(&c, arg);
    case 5:
        return fn_query_approved(&c, arg);
    case 6:
        return fn_readiness_or_commit(&c, arg, false);
    case 7:
        return fn_readiness_or_commit(&c, arg, true);
    case 8:
        return fn_query_definition(&c, arg);
    default:
        return fn_query_definitions(&c);
    }
}
