/*
 * Policy evaluation (block-and-validation.md section 6.4): valid identity
 * sets, signature policies with Fabric's greedy "each signer once" rule,
 * implicit-meta policies, and a policy manager addressed by path.
 *
 * DESIGN. A compiled signature policy keeps the unpacked envelope and a
 * pre-decoded copy of each ROLE principal (MSP ID + role) so the greedy
 * search only compares strings; other principal kinds go through
 * weft_msp_identity_satisfies(). Signatures of a set are checked in batches
 * on the shared parallel verifier: round k verifies the k-th occurrence of
 * each identity whose earlier occurrences all failed, which accepts exactly
 * the identities Fabric's sequential loop accepts while never verifying a
 * duplicate of an accepted identity.
 */
#include <stdio.h>
#include <string.h>

#include "common/policies.pb-c.h"
#include "msp/msp_principal.pb-c.h"
#include "weft/policy.h"

#include "msp_internal.h"

#define POLICY_MAX_DEPTH 64
#define POLICY_MAX_SIGNERS 4096

/* ---- identity sets -------------------------------------------------------- */

struct weft_policy_idset {
    struct weft_msp_identity **ids;
    size_t n;
};

void weft_policy_idset_free(struct weft_policy_idset *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        weft_msp_identity_unref(set->ids[i]);
    }
    weft_free(set->ids);
    weft_free(set);
}

size_t weft_policy_idset_count(const struct weft_policy_idset *set)
{
    return set->n;
}

struct weft_msp_identity *weft_policy_idset_at(const struct weft_policy_idset *set, size_t i)
{
    return i < set->n ? set->ids[i] : NULL;
}

int weft_policy_idset_from(struct weft_msp_identity *const *ids, size_t n,
                           struct weft_policy_idset **out)
{
    struct weft_policy_idset *s = weft_calloc(1, sizeof(*s));
    if (s == NULL || (s->ids = weft_calloc(n ? n : 1, sizeof(*s->ids))) == NULL) {
        weft_free(s);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        s->ids[s->n++] = weft_msp_identity_ref(ids[i]);
    }
    *out = s;
    return 0;
}

static bool same_key(const struct weft_msp_identity *a, const struct weft_msp_identity *b)
{
    return a == b || (strcmp(a->msp->id, b->msp->id) == 0 && strcmp(a->id, b->id) == 0);
}

struct cand {
    struct weft_msp_identity *id; /* NULL when deserialization failed or dropped */
    bool done;                    /* resolved: accepted, rejected or duplicate */
    bool accepted;
};

int weft_policy_idset_new(struct weft_msp_mgr *mgr, struct weft_verifier *verifier,
                          struct weft_vcache *cache, const struct weft_signed_data *sd, size_t n,
                          struct weft_policy_idset **out)
{
    if (n > POLICY_MAX_SIGNERS) {
        n = POLICY_MAX_SIGNERS;
    }
    struct cand *c = weft_calloc(n ? n : 1, sizeof(*c));
    struct weft_verify_item *items = weft_calloc(n ? n : 1, sizeof(*items));
    size_t *item_of = weft_calloc(n ? n : 1, sizeof(*item_of));
    struct weft_policy_idset *s = weft_calloc(1, sizeof(*s));
    int rc = 0;
    if (c == NULL || items == NULL || item_of == NULL || s == NULL ||
        (s->ids = weft_calloc(n ? n : 1, sizeof(*s->ids))) == NULL) {
        rc = WEFT_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        if (weft_msp_mgr_deserialize(mgr, sd[i].identity, sd[i].identity_len, &c[i].id, NULL) !=
            0) {
            c[i].id = NULL;
            c[i].done = true;
        }
    }
    for (;;) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (c[i].done) {
                continue;
            }
            /* first unresolved occurrence of this key in this round only */
            bool dup = false;
            for (size_t k = 0; k < m && !dup; k++) {
                dup = same_key(c[item_of[k]].id, c[i].id);
            }
            if (dup) {
                continue;
            }
            struct weft_verify_item *it = &items[m];
            memset(it, 0, sizeof(*it));
            it->cert = c[i].id->cert;
            it->msg = sd[i].data;
            it->msg_len = sd[i].data_len;
            it->sig = sd[i].signature;
            it->sig_len = sd[i].signature_len;
            it->identity = c[i].id->ser;
            it->identity_len = c[i].id->ser_len;
            item_of[m++] = i;
        }
        if (m == 0) {
            break;
        }
        if (verifier != NULL) {
            int vrc = weft_verifier_run(verifier, items, m);
            if (vrc == WEFT_ESHUTDOWN) {
                for (size_t k = 0; k < m; k++) {
                    weft_verify_item_run(cache, &items[k]);
                }
            }
        } else {
            for (size_t k = 0; k < m; k++) {
                weft_verify_item_run(cache, &items[k]);
            }
        }
        for (size_t k = 0; k < m; k++) {
            size_t i = item_of[k];
            c[i].done = true;
            if (items[k].result != 0) {
                continue;
            }
            c[i].accepted = true;
            /* later occurrences of an accepted identity are duplicates */
            for (size_t j = i + 1; j < n; j++) {
                if (!c[j].done && same_key(c[j].id, c[i].id)) {
                    c[j].done = true;
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (c[i].accepted) {
            s->ids[s->n++] = weft_msp_identity_ref(c[i].id);
        }
    }
    *out = s;
    s = NULL;
cleanup:
    if (c != NULL) {
        for (size_t i = 0; i < n; i++) {
            weft_msp_identity_unref(c[i].id);
        }
    }
    weft_free(c);
    weft_free(items);
    weft_free(item_of);
    weft_policy_idset_free(s);
    return rc;
}

/* ---- compiled policies ---------------------------------------------------- */

struct principal {
    bool is_role;
    char *mspid;
    int role;
    const uint8_t *bytes; /* borrowed from env */
    size_t len;
};

struct weft_policy {
    enum weft_policy_type type;
    /* SIGNATURE */
    Common__SignaturePolicyEnvelope *env;
    struct principal *principals;
    size_t n_principals;
    /* IMPLICIT_META */
    char *sub_policy;
    int rule;
};

enum weft_policy_type weft_policy_get_type(const struct weft_policy *p)
{
    return p->type;
}

void weft_policy_free(struct weft_policy *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n_principals; i++) {
        weft_free(p->principals[i].mspid);
    }
    weft_free(p->principals);
    if (p->env != NULL) {
        common__signature_policy_envelope__free_unpacked(p->env, &weft_msp__pb_alloc);
    }
    weft_free(p->sub_policy);
    weft_free(p);
}

static int check_rule(const Common__SignaturePolicy *r, size_t n_ids, int depth,
                      struct weft_err *err)
{
    if (r == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "signature policy: empty rule");
    }
    if (depth > POLICY_MAX_DEPTH) {
        return weft_err_set(err, WEFT_EPARSE, "signature policy nested too deeply");
    }
    switch (r->type_case) {
    case COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY:
        if (r->signed_by < 0 || (size_t)r->signed_by >= n_ids) {
            return weft_err_set(err, WEFT_EPARSE,
                                "identity index out of range, requested %d, but identities "
                                "length is %zu",
                                r->signed_by, n_ids);
        }
        return 0;
    case COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF:
        for (size_t i = 0; i < r->n_out_of->n_rules; i++) {
            int rc = check_rule(r->n_out_of->rules[i], n_ids, depth + 1, err);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    default:
        return weft_err_set(err, WEFT_EPARSE, "signature policy: unknown rule type");
    }
}

static int compile_signature(const uint8_t *value, size_t len, bool from_config,
                             struct weft_policy *p, struct weft_err *err)
{
    p->env = common__signature_policy_envelope__unpack(&weft_msp__pb_alloc, len, value);
    if (p->env == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "malformed SignaturePolicyEnvelope");
    }
    if (from_config && p->env->version != 0) {
        return weft_err_set(err, WEFT_EPARSE,
                            "this evaluator only understands messages of "
                            "version 0, but version was %d",
                            p->env->version);
    }
    int rc = check_rule(p->env->rule, p->env->n_identities, 0, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = p->env->n_identities;
    p->principals = weft_calloc(n ? n : 1, sizeof(*p->principals));
    if (p->principals == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    p->n_principals = n;
    for (size_t i = 0; i < n; i++) {
        const Common__MSPPrincipal *pr = p->env->identities[i];
        struct principal *d = &p->principals[i];
        d->bytes = NULL;
        if (pr->principal_classification == COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE) {
            Common__MSPRole *r =
                common__msprole__unpack(&weft_msp__pb_alloc, pr->principal.len, pr->principal.data);
            if (r != NULL) {
                d->is_role = true;
                d->role = (int)r->role;
                d->mspid = weft_strdup(r->msp_identifier);
                common__msprole__free_unpacked(r, &weft_msp__pb_alloc);
                if (d->mspid == NULL) {
                    return weft_err_set(err, WEFT_ENOMEM, "out of memory");
                }
                continue;
            }
        }
    }
    return 0;
}

int weft_policy_new(int32_t type, const uint8_t *value, size_t len, bool from_config,
                    struct weft_policy **out, struct weft_err *err)
{
    struct weft_policy *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc;
    if (type == WEFT_POLICY_SIGNATURE) {
        p->type = WEFT_POLICY_SIGNATURE;
        rc = compile_signature(value, len, from_config, p, err);
    } else if (type == WEFT_POLICY_IMPLICIT_META) {
        p->type = WEFT_POLICY_IMPLICIT_META;
        Common__ImplicitMetaPolicy *im =
            common__implicit_meta_policy__unpack(&weft_msp__pb_alloc, len, value);
        if (im == NULL) {
            rc = weft_err_set(err, WEFT_EPARSE, "malformed ImplicitMetaPolicy");
        } else if ((int)im->rule < 0 || (int)im->rule > 2) {
            rc = weft_err_set(err, WEFT_EPARSE, "unknown implicit meta rule %d", (int)im->rule);
            common__implicit_meta_policy__free_unpacked(im, &weft_msp__pb_alloc);
        } else {
            p->rule = (int)im->rule;
            p->sub_policy = weft_strdup(im->sub_policy);
            rc = p->sub_policy == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
            common__implicit_meta_policy__free_unpacked(im, &weft_msp__pb_alloc);
        }
    } else {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED, "policy type %d is not supported", type);
    }
    if (rc != 0) {
        weft_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static bool principal_ok(const struct weft_policy *p, int32_t idx,
                         const struct weft_msp_identity *id)
{
    const struct principal *d = &p->principals[idx];
    if (d->is_role) {
        if (strcmp(d->mspid, id->msp->id) != 0) {
            return false;
        }
        return weft_msp_identity_satisfies_role(id, (enum weft_msp_role)d->role, NULL) == 0;
    }
    const Common__MSPPrincipal *pr = p->env->identities[idx];
    /* re-pack the principal: it was unpacked from borrowed bytes */
    size_t len = common__mspprincipal__get_packed_size(pr);
    uint8_t stackbuf[512];
    uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : weft_malloc(len);
    if (buf == NULL) {
        return false;
    }
    common__mspprincipal__pack(pr, buf);
    bool ok = weft_msp_identity_satisfies(id, buf, len, NULL) == 0;
    if (buf != stackbuf) {
        weft_free(buf);
    }
    return ok;
}

static bool eval_rule(const struct weft_policy *p, const Common__SignaturePolicy *r,
                      const struct weft_policy_idset *set, bool *used)
{
    if (r->type_case == COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY) {
        for (size_t i = 0; i < set->n; i++) {
            if (!used[i] && principal_ok(p, r->signed_by, set->ids[i])) {
                used[i] = true;
                return true;
            }
        }
        return false;
    }
    bool tmp_stack[64];
    bool *tmp = set->n <= 64 ? tmp_stack : weft_malloc(set->n * sizeof(bool));
    if (tmp == NULL) {
        return false;
    }
    int32_t verified = 0;
    for (size_t k = 0; k < r->n_out_of->n_rules; k++) {
        memcpy(tmp, used, set->n * sizeof(bool));
        if (eval_rule(p, r->n_out_of->rules[k], set, tmp)) {
            verified++;
            memcpy(used, tmp, set->n * sizeof(bool));
        }
    }
    if (tmp != tmp_stack) {
        weft_free(tmp);
    }
    return verified >= r->n_out_of->n;
}

int weft_policy_evaluate_ids(const struct weft_policy *p, const struct weft_policy_idset *set,
                             struct weft_err *err)
{
    if (p->type != WEFT_POLICY_SIGNATURE) {
        return weft_err_set(err, WEFT_EINVAL, "an implicit meta policy needs a policy manager");
    }
    bool used_stack[64] = {false};
    bool *used = set->n <= 64 ? used_stack : weft_calloc(set->n, sizeof(bool));
    if (used == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    bool ok = eval_rule(p, p->env->rule, set, used);
    if (used != used_stack) {
        weft_free(used);
    }
    if (!ok) {
        return weft_err_set(err, WEFT_EPOLICY,
                            "signature policy not satisfied by %zu valid signer(s)", set->n);
    }
    return 0;
}

int weft_policy_evaluate_envelope(const uint8_t *env, size_t env_len, struct weft_msp_mgr *mgr,
                                  struct weft_verifier *verifier, struct weft_vcache *cache,
                                  const struct weft_signed_data *sd, size_t n, struct weft_err *err)
{
    struct weft_policy *p = NULL;
    int rc = weft_policy_new(WEFT_POLICY_SIGNATURE, env, env_len, false, &p, err);
    if (rc != 0) {
        return rc;
    }
    struct weft_policy_idset *set = NULL;
    rc = weft_policy_idset_new(mgr, verifier, cache, sd, n, &set);
    if (rc != 0) {
        weft_policy_free(p);
        return weft_err_set(err, rc, "policy: %s", weft_strerror(rc));
    }
    rc = weft_policy_evaluate_ids(p, set, err);
    weft_policy_idset_free(set);
    weft_policy_free(p);
    return rc;
}

/* ---- parser for ImplicitMeta rules ---------------------------------------- */

int weft_policy_parse_implicit(const char *text, uint8_t **out, size_t *out_len,
                               struct weft_err *err)
{
    const char *sp = text ? strchr(text, ' ') : NULL;
    if (sp == NULL || sp[1] == '\0' || strchr(sp + 1, ' ') != NULL) {
        return weft_err_set(err, WEFT_EPARSE,
                            "implicit meta rule '%.64s': expected '<ANY|ALL|MAJORITY> <SubPolicy>'",
                            text ? text : "");
    }
    size_t rl = (size_t)(sp - text);
    Common__ImplicitMetaPolicy im = COMMON__IMPLICIT_META_POLICY__INIT;
    if (rl == 3 && memcmp(text, "ANY", 3) == 0) {
        im.rule = COMMON__IMPLICIT_META_POLICY__RULE__ANY;
    } else if (rl == 3 && memcmp(text, "ALL", 3) == 0) {
        im.rule = COMMON__IMPLICIT_META_POLICY__RULE__ALL;
    } else if (rl == 8 && memcmp(text, "MAJORITY", 8) == 0) {
        im.rule = COMMON__IMPLICIT_META_POLICY__RULE__MAJORITY;
    } else {
        return weft_err_set(err, WEFT_EPARSE, "implicit meta rule '%.64s': unknown rule '%.*s'",
                            text, (int)rl, text);
    }
    im.sub_policy = (char *)(sp + 1);
    size_t n = common__implicit_meta_policy__get_packed_size(&im);
    *out = weft_malloc(n ? n : 1);
    if (*out == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    *out_len = common__implicit_meta_policy__pack(&im, *out);
    return 0;
}

/* ---- policy manager ------------------------------------------------------- */

struct pm_entry {
    char *path;
    struct weft_policy *policy;
};

struct weft_policy_mgr {
    struct weft_msp_mgr *mgr;
    struct weft_verifier *verifier;
    struct weft_vcache *cache;
    char **groups;
    size_t n_groups;
    struct pm_entry *policies;
    size_t n_policies;
};

struct weft_policy_mgr *weft_policy_mgr_new(struct weft_msp_mgr *mgr,
                                            struct weft_verifier *verifier,
                                            struct weft_vcache *cache)
{
    struct weft_policy_mgr *pm = weft_calloc(1, sizeof(*pm));
    if (pm != NULL) {
        pm->mgr = mgr;
        pm->verifier = verifier;
        pm->cache = cache;
    }
    return pm;
}

void weft_policy_mgr_free(struct weft_policy_mgr *pm)
{
    if (pm == NULL) {
        return;
    }
    for (size_t i = 0; i < pm->n_groups; i++) {
        weft_free(pm->groups[i]);
    }
    weft_free(pm->groups);
    for (size_t i = 0; i < pm->n_policies; i++) {
        weft_free(pm->policies[i].path);
        weft_policy_free(pm->policies[i].policy);
    }
    weft_free(pm->policies);
    weft_free(pm);
}

static bool has_group(const struct weft_policy_mgr *pm, const char *path, size_t len)
{
    for (size_t i = 0; i < pm->n_groups; i++) {
        if (strlen(pm->groups[i]) == len && memcmp(pm->groups[i], path, len) == 0) {
            return true;
        }
    }
    return false;
}

static int add_group_n(struct weft_policy_mgr *pm, const char *path, size_t len,
                       struct weft_err *err)
{
    if (len < 2 || path[0] != '/' || path[len - 1] == '/') {
        return weft_err_set(err, WEFT_EINVAL, "policy group path '%.*s' must be absolute",
                            (int)(len > 128 ? 128 : len), path);
    }
    /* ancestors first */
    for (size_t i = len - 1; i > 0; i--) {
        if (path[i] == '/') {
            int rc = add_group_n(pm, path, i, err);
            if (rc != 0) {
                return rc;
            }
            break;
        }
    }
    if (has_group(pm, path, len)) {
        return 0;
    }
    char **v = weft_realloc(pm->groups, (pm->n_groups + 1) * sizeof(*v));
    if (v == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pm->groups = v;
    if ((v[pm->n_groups] = weft_strndup(path, len)) == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pm->n_groups++;
    return 0;
}

int weft_policy_mgr_add_group(struct weft_policy_mgr *pm, const char *path, struct weft_err *err)
{
    return add_group_n(pm, path, strlen(path), err);
}

static const struct weft_policy *find_policy(const struct weft_policy_mgr *pm, const char *path)
{
    for (size_t i = 0; i < pm->n_policies; i++) {
        if (strcmp(pm->policies[i].path, path) == 0) {
            return pm->policies[i].policy;
        }
    }
    return NULL;
}

bool weft_policy_mgr_has(const struct weft_policy_mgr *pm, const char *path)
{
    return find_policy(pm, path) != NULL;
}

int weft_policy_mgr_add(struct weft_policy_mgr *pm, const char *path, int32_t type,
                        const uint8_t *value, size_t len, struct weft_err *err)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path || slash[1] == '\0') {
        return weft_err_set(err, WEFT_EINVAL, "policy path '%.128s' must be <group>/<name>", path);
    }
    if (find_policy(pm, path) != NULL) {
        return weft_err_set(err, WEFT_EEXIST, "policy %.128s already exists", path);
    }
    int rc = add_group_n(pm, path, (size_t)(slash - path), err);
    if (rc != 0) {
        return rc;
    }
    struct weft_policy *p = NULL;
    rc = weft_policy_new(type, value, len, true, &p, err);
    if (rc != 0) {
        return weft_err_prefix(err, "policy %.128s", path);
    }
    struct pm_entry *v = weft_realloc(pm->policies, (pm->n_policies + 1) * sizeof(*v));
    if (v == NULL) {
        weft_policy_free(p);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pm->policies = v;
    v[pm->n_policies].path = weft_strdup(path);
    if (v[pm->n_policies].path == NULL) {
        weft_policy_free(p);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    v[pm->n_policies].policy = p;
    pm->n_policies++;
    return 0;
}

static const char *rule_name(int r)
{
    return r == 0 ? "ANY" : r == 1 ? "ALL" : "MAJORITY";
}

static int eval_path(const struct weft_policy_mgr *pm, const char *path,
                     const struct weft_policy_idset *set, int depth, struct weft_err *err);

static int eval_implicit(const struct weft_policy_mgr *pm, const char *path,
                         const struct weft_policy *p, const struct weft_policy_idset *set,
                         int depth, struct weft_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t glen = (size_t)(slash - path);
    size_t nsub = 0, ok = 0;
    char failed[WEFT_ERR_MSG_LEN];
    size_t flen = 0;
    failed[0] = '\0';
    for (size_t i = 0; i < pm->n_groups; i++) {
        const char *g = pm->groups[i];
        size_t l = strlen(g);
        if (l <= glen + 1 || memcmp(g, path, glen) != 0 || g[glen] != '/' ||
            strchr(g + glen + 1, '/') != NULL) {
            continue;
        }
        nsub++;
        char sub[512];
        int sl = snprintf(sub, sizeof(sub), "%s/%s", g, p->sub_policy);
        if (sl < 0 || (size_t)sl >= sizeof(sub)) {
            continue;
        }
        int rc = find_policy(pm, sub) == NULL ? WEFT_ENOTFOUND
                                              : eval_path(pm, sub, set, depth + 1, NULL);
        if (rc == 0) {
            ok++;
        } else if (rc == WEFT_ENOMEM) {
            return weft_err_set(err, rc, "out of memory");
        } else if (flen + 4 < sizeof(failed)) {
            int w = snprintf(failed + flen, sizeof(failed) - flen, "%s%s%s", flen ? ", " : "", sub,
                             rc == WEFT_ENOTFOUND ? " (missing)" : "");
            if (w > 0) {
                flen += (size_t)w;
                if (flen >= sizeof(failed)) {
                    flen = sizeof(failed) - 1;
                }
            }
        }
    }
    size_t threshold = p->rule == WEFT_IMPLICIT_ANY   ? 1
                       : p->rule == WEFT_IMPLICIT_ALL ? nsub
                                                      : nsub / 2 + 1;
    if (nsub == 0) {
        threshold = 0;
    }
    if (ok >= threshold) {
        return 0;
    }
    return weft_err_set(err, WEFT_EPOLICY,
                        "implicit meta policy %s %s: %zu of %zu sub-policies satisfied, %zu "
                        "required; not satisfied: %s",
                        rule_name(p->rule), p->sub_policy, ok, nsub, threshold, failed);
}

static int eval_path(const struct weft_policy_mgr *pm, const char *path,
                     const struct weft_policy_idset *set, int depth, struct weft_err *err)
{
    const struct weft_policy *p = find_policy(pm, path);
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "policy %.128s not found", path);
    }
    if (depth > POLICY_MAX_DEPTH) {
        return weft_err_set(err, WEFT_EPOLICY, "policy %.128s: too deep", path);
    }
    if (p->type == WEFT_POLICY_IMPLICIT_META) {
        return eval_implicit(pm, path, p, set, depth, err);
    }
    return weft_policy_evaluate_ids(p, set, err);
}

int weft_policy_mgr_evaluate_ids(const struct weft_policy_mgr *pm, const char *path,
                                 const struct weft_policy_idset *set, struct weft_err *err)
{
    int rc = eval_path(pm, path, set, 0, err);
    if (rc != 0 && err != NULL) {
        weft_err_prefix(err, "policy %.128s", path);
    }
    return rc;
}

int weft_policy_mgr_evaluate(const struct weft_policy_mgr *pm, const char *path,
                             const struct weft_signed_data *sd, size_t n, struct weft_err *err)
{
    if (find_policy(pm, path) == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "policy %.128s not found", path);
    }
    struct weft_policy_idset *set = NULL;
    int rc = weft_policy_idset_new(pm->mgr, pm->verifier, pm->cache, sd, n, &set);
    if (rc != 0) {
        return weft_err_set(err, rc, "policy %.128s: %s", path, weft_strerror(rc));
    }
    rc = weft_policy_mgr_evaluate_ids(pm, path, set, err);
    weft_policy_idset_free(set);
    return rc;
}
