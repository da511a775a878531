/*
 * Endorsement plans: which orgs, and how many distinct peers of each, can
 * satisfy a chaincode's endorsement policy ("layouts", as Fabric's discovery
 * calls them).
 *
 * A signature policy expands bottom-up: signed_by(i) is one endorsement of
 * principal i's org; n_out_of(n, rules) is every choice of n rules, each
 * choice the sum of one layout of every chosen rule (an identity satisfies
 * one principal only, so AND('A.peer','A.peer') needs two peers of A). An
 * implicit-meta policy of the channel config is n_out_of over the
 * sub-groups' policies of the same name (ANY 1, ALL all, MAJORITY n/2+1).
 * Sets are capped at GW_MAX_LAYOUTS; the smallest layouts come first.
 */
#include <stdlib.h>
#include <string.h>

#include "common/configtx.pb-c.h"
#include "common/policies.pb-c.h"
#include "gateway_int.h"
#include "msp/identities.pb-c.h"
#include "msp/msp_principal.pb-c.h"
#include "peer/policy.pb-c.h"
#include "weft/configtx.h"

#define MAX_DEPTH 32

static void layout_clear(struct gw_layout *l)
{
    for (size_t i = 0; i < l->n; i++) {
        weft_free(l->orgs[i].mspid);
    }
    weft_free(l->orgs);
    l->orgs = NULL;
    l->n = 0;
}

void gw_layouts_free(struct gw_layouts *ls)
{
    if (ls == NULL) {
        return;
    }
    for (size_t i = 0; i < ls->n; i++) {
        layout_clear(&ls->v[i]);
    }
    weft_free(ls->v);
    ls->v = NULL;
    ls->n = 0;
}

uint32_t gw_layout_need(const struct gw_layout *l, const char *mspid)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->orgs[i].mspid, mspid) == 0) {
            return l->orgs[i].n;
        }
    }
    return 0;
}

static uint64_t layout_total(const struct gw_layout *l)
{
    uint64_t t = 0;
    for (size_t i = 0; i < l->n; i++) {
        t += l->orgs[i].n;
    }
    return t;
}

static int layout_cmp(const struct gw_layout *a, const struct gw_layout *b)
{
    uint64_t ta = layout_total(a), tb = layout_total(b);
    if (ta != tb) {
        return ta < tb ? -1 : 1;
    }
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        int c = strcmp(a->orgs[i].mspid, b->orgs[i].mspid);
        if (c != 0) {
            return c;
        }
        if (a->orgs[i].n != b->orgs[i].n) {
            return a->orgs[i].n < b->orgs[i].n ? -1 : 1;
        }
    }
    return a->n == b->n ? 0 : (a->n < b->n ? -1 : 1);
}

static int layout_qcmp(const void *a, const void *b)
{
    return layout_cmp(a, b);
}

/* Adds count endorsements of mspid to l (kept sorted). */
static int layout_add(struct gw_layout *l, const char *mspid, uint32_t count)
{
    size_t i = 0;
    while (i < l->n && strcmp(l->orgs[i].mspid, mspid) < 0) {
        i++;
    }
    if (i < l->n && strcmp(l->orgs[i].mspid, mspid) == 0) {
        l->orgs[i].n += count;
        return 0;
    }
    char *dup = weft_strdup(mspid);
    struct gw_org_count *v = dup != NULL ? weft_realloc(l->orgs, (l->n + 1) * sizeof(*v)) : NULL;
    if (v == NULL) {
        weft_free(dup);
        return WEFT_ENOMEM;
    }
    memmove(&v[i + 1], &v[i], (l->n - i) * sizeof(*v));
    v[i].mspid = dup;
    v[i].n = count;
    l->orgs = v;
    l->n++;
    return 0;
}

static int layout_copy_into(struct gw_layout *dst, const struct gw_layout *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (layout_add(dst, src->orgs[i].mspid, src->orgs[i].n) != 0) {
            return WEFT_ENOMEM;
        }
    }
    return 0;
}

/* Appends a layout (taken over) unless the set is full or holds it. */
static int set_push(struct gw_layouts *s, struct gw_layout *l)
{
    for (size_t i = 0; i < s->n; i++) {
        if (layout_cmp(&s->v[i], l) == 0) {
            layout_clear(l);
            return 0;
        }
    }
    if (s->n >= GW_MAX_LAYOUTS) {
        layout_clear(l);
        return 0;
    }
    struct gw_layout *v = weft_realloc(s->v, (s->n + 1) * sizeof(*v));
    if (v == NULL) {
        layout_clear(l);
        return WEFT_ENOMEM;
    }
    s->v = v;
    s->v[s->n++] = *l;
    memset(l, 0, sizeof(*l));
    return 0;
}

static void set_sort(struct gw_layouts *s)
{
    if (s->n > 1) {
        qsort(s->v, s->n, sizeof(*s->v), layout_qcmp);
    }
}

/* {a ⊎ b : a in A, b in B} */
static int set_product(const struct gw_layouts *a, const struct gw_layouts *b,
                       struct gw_layouts *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < a->n; i++) {
        for (size_t j = 0; j < b->n; j++) {
            struct gw_layout l = {0};
            if (layout_copy_into(&l, &a->v[i]) != 0 || layout_copy_into(&l, &b->v[j]) != 0 ||
                set_push(out, &l) != 0) {
                layout_clear(&l);
                gw_layouts_free(out);
                return WEFT_ENOMEM;
            }
        }
    }
    return 0;
}

static int set_unit(struct gw_layouts *out)
{
    memset(out, 0, sizeof(*out));
    struct gw_layout empty = {0};
    return set_push(out, &empty);
}

/* Union into out of every choice of `remaining` sets among subs[i..k),
 * each multiplied into acc. */
static int nout_rec(const struct gw_layouts *subs, size_t k, size_t i, size_t remaining,
                    const struct gw_layouts *acc, struct gw_layouts *out)
{
    if (remaining == 0) {
        for (size_t j = 0; j < acc->n; j++) {
            struct gw_layout l = {0};
            if (layout_copy_into(&l, &acc->v[j]) != 0 || set_push(out, &l) != 0) {
                layout_clear(&l);
                return WEFT_ENOMEM;
            }
        }
        return 0;
    }
    if (k - i < remaining || out->n >= GW_MAX_LAYOUTS) {
        return 0;
    }
    struct gw_layouts next;
    if (set_product(acc, &subs[i], &next) != 0) {
        return WEFT_ENOMEM;
    }
    int rc = nout_rec(subs, k, i + 1, remaining - 1, &next, out);
    gw_layouts_free(&next);
    if (rc != 0) {
        return rc;
    }
    return nout_rec(subs, k, i + 1, remaining, acc, out);
}

static int set_nout(const struct gw_layouts *subs, size_t k, int64_t n, struct gw_layouts *out)
{
    memset(out, 0, sizeof(*out));
    if (n <= 0) {
        return set_unit(out);
    }
    if ((uint64_t)n > k) {
        return 0; /* unsatisfiable: empty set */
    }
    struct gw_layouts unit;
    if (set_unit(&unit) != 0) {
        return WEFT_ENOMEM;
    }
    int rc = nout_rec(subs, k, 0, (size_t)n, &unit, out);
    gw_layouts_free(&unit);
    if (rc != 0) {
        gw_layouts_free(out);
    }
    return rc;
}

/* ---- signature policies ------------------------------------------------------ */

/* The MSP ID a principal belongs to, or NULL (unsupported classification). */
static char *principal_mspid(const Common__MSPPrincipal *p)
{
    char *id = NULL;
    switch (p->principal_classification) {
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE: {
        Common__MSPRole *r =
            common__msprole__unpack(NULL, p->principal.len, p->principal.data);
        if (r != NULL && r->msp_identifier != NULL && r->msp_identifier[0] != 0) {
            id = weft_strdup(r->msp_identifier);
        }
        common__msprole__free_unpacked(r, NULL);
        break;
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__ORGANIZATION_UNIT: {
        Common__OrganizationUnit *u =
            common__organization_unit__unpack(NULL, p->principal.len, p->principal.data);
        if (u != NULL && u->msp_identifier != NULL && u->msp_identifier[0] != 0) {
            id = weft_strdup(u->msp_identifier);
        }
        common__organization_unit__free_unpacked(u, NULL);
        break;
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__IDENTITY: {
        Msp__SerializedIdentity *s =
            msp__serialized_identity__unpack(NULL, p->principal.len, p->principal.data);
        if (s != NULL && s->mspid != NULL && s->mspid[0] != 0) {
            id = weft_strdup(s->mspid);
        }
        msp__serialized_identity__free_unpacked(s, NULL);
        break;
    }
    default:
        break;
    }
    return id;
}

static int rule_layouts(const Common__SignaturePolicy *r, char *const *ids, size_t nids,
                        int depth, struct gw_layouts *out, struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    if (r == NULL || depth > MAX_DEPTH) {
        return weft_err_set(err, WEFT_EPARSE, "signature policy: missing rule or too deep");
    }
    if (r->type_case == COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY) {
        if (r->signed_by < 0 || (size_t)r->signed_by >= nids) {
            return weft_err_set(err, WEFT_EPARSE, "signature policy: signed_by %d out of range",
                                (int)r->signed_by);
        }
        if (ids[r->signed_by] == NULL) {
            return 0; /* a principal no peer can match: unsatisfiable */
        }
        struct gw_layout l = {0};
        if (layout_add(&l, ids[r->signed_by], 1) != 0 || set_push(out, &l) != 0) {
            layout_clear(&l);
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        return 0;
    }
    if (r->type_case != COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF || r->n_out_of == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "signature policy: empty rule");
    }
    const Common__SignaturePolicy__NOutOf *no = r->n_out_of;
    struct gw_layouts *subs = weft_calloc(no->n_rules + 1, sizeof(*subs));
    if (subs == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < no->n_rules && rc == 0; i++) {
        rc = rule_layouts(no->rules[i], ids, nids, depth + 1, &subs[i], err);
    }
    if (rc == 0 && set_nout(subs, no->n_rules, no->n, out) != 0) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < no->n_rules; i++) {
        gw_layouts_free(&subs[i]);
    }
    weft_free(subs);
    return rc;
}

static int spe_layouts(const Common__SignaturePolicyEnvelope *spe, struct gw_layouts *out,
                       struct weft_err *err)
{
    char **ids = weft_calloc(spe->n_identities + 1, sizeof(*ids));
    if (ids == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < spe->n_identities; i++) {
        ids[i] = principal_mspid(spe->identities[i]);
    }
    int rc = rule_layouts(spe->rule, ids, spe->n_identities, 0, out, err);
    for (size_t i = 0; i < spe->n_identities; i++) {
        weft_free(ids[i]);
    }
    weft_free(ids);
    if (rc == 0) {
        set_sort(out);
    }
    return rc;
}

int gw_layouts_from_spe(const uint8_t *spe, size_t len, struct gw_layouts *out,
                        struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    Common__SignaturePolicyEnvelope *e = common__signature_policy_envelope__unpack(NULL, len, spe);
    if (e == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "malformed SignaturePolicyEnvelope");
    }
    int rc = spe_layouts(e, out, err);
    common__signature_policy_envelope__free_unpacked(e, NULL);
    return rc;
}

/* ---- channel config policies -------------------------------------------------- */

static const Common__ConfigGroup *subgroup(const Common__ConfigGroup *g, const char *name,
                                           size_t name_len)
{
    for (size_t i = 0; g != NULL && i < g->n_groups; i++) {
        const char *k = g->groups[i]->key;
        if (k != NULL && strlen(k) == name_len && memcmp(k, name, name_len) == 0) {
            return g->groups[i]->value;
        }
    }
    return NULL;
}

static const Common__Policy *group_policy(const Common__ConfigGroup *g, const char *name)
{
    for (size_t i = 0; g != NULL && i < g->n_policies; i++) {
        if (g->policies[i]->key != NULL && strcmp(g->policies[i]->key, name) == 0 &&
            g->policies[i]->value != NULL) {
            return g->policies[i]->value->policy;
        }
    }
    return NULL;
}

static int policy_layouts(const Common__ConfigGroup *g, const Common__Policy *p, int depth,
                          struct gw_layouts *out, struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    if (depth > MAX_DEPTH) {
        return weft_err_set(err, WEFT_EPARSE, "policy nesting too deep");
    }
    if (p->type == COMMON__POLICY__POLICY_TYPE__SIGNATURE) {
        return gw_layouts_from_spe(p->value.data, p->value.len, out, err);
    }
    if (p->type != COMMON__POLICY__POLICY_TYPE__IMPLICIT_META) {
        return weft_err_set(err, WEFT_EUNSUPPORTED, "policy type %d not supported in plans",
                            (int)p->type);
    }
    Common__ImplicitMetaPolicy *im =
        common__implicit_meta_policy__unpack(NULL, p->value.len, p->value.data);
    if (im == NULL || im->sub_policy == NULL) {
        common__implicit_meta_policy__free_unpacked(im, NULL);
        return weft_err_set(err, WEFT_EPARSE, "malformed ImplicitMetaPolicy");
    }
    size_t k = g->n_groups;
    struct gw_layouts *subs = weft_calloc(k + 1, sizeof(*subs));
    int rc = subs == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        const Common__ConfigGroup *sg = g->groups[i]->value;
        const Common__Policy *sp = group_policy(sg, im->sub_policy);
        if (sp != NULL) {
            rc = policy_layouts(sg, sp, depth + 1, &subs[i], err);
        } /* a sub-group without the policy can never be satisfied: empty set */
    }
    int64_t n = 0;
    if (im->rule == COMMON__IMPLICIT_META_POLICY__RULE__ANY) {
        n = 1;
    } else if (im->rule == COMMON__IMPLICIT_META_POLICY__RULE__ALL) {
        n = (int64_t)k;
    } else {
        n = (int64_t)(k / 2 + 1);
    }
    if (k == 0) {
        n = 0; /* Fabric: an implicit-meta policy over no sub-groups is satisfied */
    }
    if (rc == 0 && set_nout(subs, k, n, out) != 0) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; subs != NULL && i < k; i++) {
        gw_layouts_free(&subs[i]);
    }
    weft_free(subs);
    common__implicit_meta_policy__free_unpacked(im, NULL);
    if (rc == 0) {
        set_sort(out);
    }
    return rc;
}

int gw_layouts_from_config(const struct weft_channel_config *cfg, const char *path,
                           struct gw_layouts *out, struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    char *full = path[0] == '/' ? weft_strdup(path)
                                : weft_asprintf("/Channel/Application/%s", path);
    if (full == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    Common__Config *c = common__config__unpack(NULL, cfg->_config_len, cfg->_config);
    int rc = 0;
    if (c == NULL || c->channel_group == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "channel config unreadable");
        goto out;
    }
    /* "/Channel/A/B/Name": walk groups A, B under the root, then the policy */
    const char *s = full + 1;
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) != 7 || memcmp(s, "Channel", 7) != 0) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "policy %s not found", full);
        goto out;
    }
    const Common__ConfigGroup *g = c->channel_group;
    s = slash + 1;
    while ((slash = strchr(s, '/')) != NULL && g != NULL) {
        g = subgroup(g, s, (size_t)(slash - s));
        s = slash + 1;
    }
    const Common__Policy *p = g != NULL ? group_policy(g, s) : NULL;
    if (p == NULL) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "policy %s not found", full);
        goto out;
    }
    rc = policy_layouts(g, p, 0, out, err);
out:
    common__config__free_unpacked(c, NULL);
    weft_free(full);
    return rc;
}

int gw_layouts_from_app_policy(const uint8_t *ap, size_t len,
                               const struct weft_channel_config *cfg, struct gw_layouts *out,
                               struct weft_err *err)
{
    memset(out, 0, sizeof(*out));
    Protos__ApplicationPolicy *p = protos__application_policy__unpack(NULL, len, ap);
    if (p == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "malformed ApplicationPolicy");
    }
    int rc;
    if (p->type_case == PROTOS__APPLICATION_POLICY__TYPE_SIGNATURE_POLICY &&
        p->signature_policy != NULL) {
        rc = spe_layouts(p->signature_policy, out, err);
    } else if (p->type_case == PROTOS__APPLICATION_POLICY__TYPE_CHANNEL_CONFIG_POLICY_REFERENCE &&
               p->channel_config_policy_reference != NULL) {
        rc = gw_layouts_from_config(cfg, p->channel_config_policy_reference, out, err);
    } else {
        rc = weft_err_set(err, WEFT_EPARSE, "empty ApplicationPolicy");
    }
    protos__application_policy__free_unpacked(p, NULL);
    return rc;
}
