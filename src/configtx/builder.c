/* Building a channel Config from Fabric's configtx.yaml, as configtxgen
 * v2.4.9 does (encoder.NewChannelGroup and friends): same groups, values,
 * defaults and mod_policy values. Maps are emitted in sorted key order. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/configtx.pb-c.h"
#include "common/configuration.pb-c.h"
#include "common/policies.pb-c.h"
#include "internal.h"
#include "orderer/configuration.pb-c.h"
#include "orderer/etcdraft/configuration.pb-c.h"
#include "peer/configuration.pb-c.h"
#include "weft/config.h"

#define ORDERER_ADMINS "/Channel/Orderer/Admins"
#define ADMINS "Admins"
#define MAX_FILE (4u * 1024u * 1024u)

typedef const struct weft_config_node node_t;

struct bctx {
    struct weft_config *cfg;
    struct weft_err *err;
};

static int node_err(struct bctx *c, node_t *n, int code, const char *fmt, ...)
    WEFT_PRINTF(4, 5);

static int node_err(struct bctx *c, node_t *n, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *path = n != NULL ? weft_config_node_path(n) : NULL;
    const char *file = weft_config_file(c->cfg);
    int rc = weft_err_set(c->err, code, "%s:%d: %s: %s", file != NULL ? file : "<string>",
                          weft_config_node_line(n), path != NULL && path[0] ? path : "(top)", msg);
    weft_free(path);
    return rc;
}

/* ---- schema check: unknown keys are errors -------------------------------- */

enum skind { S_SCALAR, S_STRUCT, S_MAP, S_LIST, S_ANY };

struct schema {
    enum skind kind;
    const struct field *fields; /* S_STRUCT, NULL-key terminated */
    const struct schema *item;  /* S_MAP values, S_LIST items */
};

struct field {
    const char *key;
    const struct schema *s;
};

static const struct schema s_scalar = {S_SCALAR, NULL, NULL};
static const struct schema s_scalar_list = {S_LIST, NULL, &s_scalar};
static const struct schema s_scalar_map = {S_MAP, NULL, &s_scalar};
static const struct field f_policy[] = {{"Type", &s_scalar}, {"Rule", &s_scalar}, {NULL, NULL}};
static const struct schema s_policy = {S_STRUCT, f_policy, NULL};
static const struct schema s_policies = {S_MAP, NULL, &s_policy};
static const struct field f_hostport[] = {{"Host", &s_scalar}, {"Port", &s_scalar}, {NULL, NULL}};
static const struct schema s_hostport = {S_STRUCT, f_hostport, NULL};
static const struct schema s_hostports = {S_LIST, NULL, &s_hostport};
static const struct field f_org[] = {
    {"Name", &s_scalar},           {"SkipAsForeign", &s_scalar}, {"ID", &s_scalar},
    {"MSPDir", &s_scalar},         {"MSPType", &s_scalar},       {"Policies", &s_policies},
    {"OrdererEndpoints", &s_scalar_list}, {"AnchorPeers", &s_hostports},
    {"AdminPrincipal", &s_scalar}, {NULL, NULL}};
static const struct schema s_org = {S_STRUCT, f_org, NULL};
static const struct schema s_orgs = {S_LIST, NULL, &s_org};
static const struct field f_batchsize[] = {{"MaxMessageCount", &s_scalar},
                                           {"AbsoluteMaxBytes", &s_scalar},
                                           {"PreferredMaxBytes", &s_scalar},
                                           {NULL, NULL}};
static const struct schema s_batchsize = {S_STRUCT, f_batchsize, NULL};
static const struct field f_kafka[] = {{"Brokers", &s_scalar_list}, {NULL, NULL}};
static const struct schema s_kafka = {S_STRUCT, f_kafka, NULL};
static const struct field f_consenter[] = {{"Host", &s_scalar},
                                           {"Port", &s_scalar},
                                           {"ClientTLSCert", &s_scalar},
                                           {"ServerTLSCert", &s_scalar},
                                           {NULL, NULL}};
static const struct schema s_consenter = {S_STRUCT, f_consenter, NULL};
static const struct schema s_consenters = {S_LIST, NULL, &s_consenter};
static const struct field f_raftopts[] = {{"TickInterval", &s_scalar},
                                          {"ElectionTick", &s_scalar},
                                          {"HeartbeatTick", &s_scalar},
                                          {"MaxInflightBlocks", &s_scalar},
                                          {"SnapshotIntervalSize", &s_scalar},
                                          {NULL, NULL}};
static const struct schema s_raftopts = {S_STRUCT, f_raftopts, NULL};
static const struct field f_raft[] = {
    {"Consenters", &s_consenters}, {"Options", &s_raftopts}, {NULL, NULL}};
static const struct schema s_raft = {S_STRUCT, f_raft, NULL};
static const struct field f_orderer[] = {
    {"OrdererType", &s_scalar},   {"Addresses", &s_scalar_list}, {"BatchTimeout", &s_scalar},
    {"BatchSize", &s_batchsize},  {"MaxChannels", &s_scalar},    {"Kafka", &s_kafka},
    {"EtcdRaft", &s_raft},        {"Organizations", &s_orgs},    {"Policies", &s_policies},
    {"Capabilities", &s_scalar_map}, {NULL, NULL}};
static const struct schema s_orderer = {S_STRUCT, f_orderer, NULL};
static const struct field f_app[] = {{"Organizations", &s_orgs},
                                     {"Capabilities", &s_scalar_map},
                                     {"Policies", &s_policies},
                                     {"ACLs", &s_scalar_map},
                                     {NULL, NULL}};
static const struct schema s_app = {S_STRUCT, f_app, NULL};
static const struct field f_consortium[] = {{"Organizations", &s_orgs}, {NULL, NULL}};
static const struct schema s_consortium = {S_STRUCT, f_consortium, NULL};
static const struct schema s_consortiums = {S_MAP, NULL, &s_consortium};
static const struct field f_profile[] = {
    {"Consortium", &s_scalar},  {"Application", &s_app},       {"Orderer", &s_orderer},
    {"Consortiums", &s_consortiums}, {"Capabilities", &s_scalar_map}, {"Policies", &s_policies},
    {NULL, NULL}};
static const struct schema s_profile = {S_STRUCT, f_profile, NULL};
static const struct schema s_profiles = {S_MAP, NULL, &s_profile};
static const struct field f_channel[] = {
    {"Policies", &s_policies}, {"Capabilities", &s_scalar_map}, {NULL, NULL}};
static const struct schema s_channel = {S_STRUCT, f_channel, NULL};
static const struct schema s_caps = {S_MAP, NULL, &s_scalar_map};
static const struct field f_top[] = {
    {"Organizations", &s_orgs}, {"Capabilities", &s_caps}, {"Application", &s_app},
    {"Orderer", &s_orderer},    {"Channel", &s_channel},   {"Profiles", &s_profiles},
    {NULL, NULL}};
static const struct schema s_top = {S_STRUCT, f_top, NULL};

static int check(struct bctx *c, node_t *n, const struct schema *s, int depth)
{
    enum weft_config_kind k = weft_config_node_kind(n);
    if (k == WEFT_CONFIG_NULL || s->kind == S_ANY) { /* S_ANY: reserved */
        return 0;
    }
    if (depth > 64) {
        return node_err(c, n, WEFT_ECONFIG, "nested too deep");
    }
    switch (s->kind) {
    case S_SCALAR:
        if (k != WEFT_CONFIG_SCALAR) {
            return node_err(c, n, WEFT_ECONFIG, "expected a single value");
        }
        return 0;
    case S_LIST:
        if (k != WEFT_CONFIG_SEQ) {
            return node_err(c, n, WEFT_ECONFIG, "expected a list");
        }
        break;
    default:
        if (k != WEFT_CONFIG_MAP) {
            return node_err(c, n, WEFT_ECONFIG, "expected a mapping");
        }
        break;
    }
    for (size_t i = 0; i < weft_config_node_len(n); i++) {
        node_t *ch = weft_config_node_at(n, i);
        const struct schema *cs = s->item;
        if (s->kind == S_STRUCT) {
            const char *key = weft_config_node_key(ch);
            cs = NULL;
            for (const struct field *f = s->fields; f->key != NULL; f++) {
                if (key != NULL && strcasecmp(f->key, key) == 0) {
                    cs = f->s;
                    break;
                }
            }
            if (cs == NULL) {
                return node_err(c, ch, WEFT_ECONFIG, "unknown key");
            }
        }
        int rc = check(c, ch, cs, depth + 1);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- node readers ------------------------------------------------------ */

static node_t *child(node_t *n, const char *key)
{
    node_t *ch = n != NULL ? weft_config_node_child(n, key) : NULL;
    return ch != NULL && weft_config_node_kind(ch) != WEFT_CONFIG_NULL ? ch : NULL;
}

static int get_str(struct bctx *c, node_t *n, const char *key, const char *def, const char **out)
{
    node_t *ch = child(n, key);
    if (ch == NULL) {
        *out = def;
        return 0;
    }
    return weft_config_node_string(c->cfg, ch, out, c->err);
}

static int get_u32(struct bctx *c, node_t *n, const char *key, uint32_t def, uint32_t *out)
{
    node_t *ch = child(n, key);
    if (ch == NULL) {
        *out = def;
        return 0;
    }
    int64_t v;
    int rc = weft_config_node_i64(c->cfg, ch, &v, c->err);
    if (rc != 0) {
        return rc;
    }
    if (v < 0 || v > (int64_t)UINT32_MAX) {
        return node_err(c, ch, WEFT_ECONFIG, "value %lld out of range", (long long)v);
    }
    *out = (uint32_t)v;
    return 0;
}

static int get_size32(struct bctx *c, node_t *n, const char *key, uint32_t def, uint32_t *out)
{
    node_t *ch = child(n, key);
    if (ch == NULL) {
        *out = def;
        return 0;
    }
    uint64_t v;
    int rc = weft_config_node_size(c->cfg, ch, &v, c->err);
    if (rc != 0) {
        return rc;
    }
    if (v > UINT32_MAX) {
        return node_err(c, ch, WEFT_ECONFIG, "size %llu out of range", (unsigned long long)v);
    }
    *out = (uint32_t)v;
    return 0;
}

/* Resolves a path value against the config file's folder. */
static int get_path(struct bctx *c, node_t *ch, char **out)
{
    const char *s;
    int rc = weft_config_node_string(c->cfg, ch, &s, c->err);
    if (rc != 0) {
        return rc;
    }
    if (s[0] == '/' || s[0] == '\0') {
        *out = weft_strdup(s);
    } else {
        const char *dir = weft_config_dir(c->cfg);
        *out = weft_asprintf("%s/%s", dir != NULL ? dir : ".", s);
    }
    return *out == NULL ? weft_err_set(c->err, WEFT_ENOMEM, "out of memory") : 0;
}

static int read_file(struct bctx *c, node_t *n, const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return node_err(c, n, WEFT_ENOTFOUND, "cannot read %s", path);
    }
    struct weft_buf b;
    weft_buf_init(&b, MAX_FILE);
    char chunk[4096];
    size_t r;
    int rc = 0;
    while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (weft_buf_append(&b, chunk, r) != 0) {
            rc = node_err(c, n, WEFT_ETOOBIG, "%s: too large or out of memory", path);
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        rc = node_err(c, n, WEFT_EIO, "error reading %s", path);
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    if (b.data == NULL && weft_buf_append(&b, "", 0) != 0) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

/* ---- config group construction ------------------------------------------ */

static void group_free(Common__ConfigGroup *g)
{
    configtx__free((ProtobufCMessage *)g);
}

static Common__ConfigGroup *group_new(void)
{
    Common__ConfigGroup *g = weft_malloc(sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    common__config_group__init(g);
    g->mod_policy = weft_strdup(ADMINS);
    if (g->mod_policy == NULL) {
        weft_free(g);
        return NULL;
    }
    return g;
}

static int add_group(struct bctx *c, Common__ConfigGroup *g, const char *key,
                     Common__ConfigGroup *sub)
{
    for (size_t i = 0; i < g->n_groups; i++) {
        if (strcmp(g->groups[i]->key, key) == 0) {
            group_free(sub);
            return weft_err_set(c->err, WEFT_ECONFIG, "duplicate organization name \"%s\"", key);
        }
    }
    Common__ConfigGroup__GroupsEntry **v =
        weft_realloc(g->groups, (g->n_groups + 1) * sizeof(*v));
    Common__ConfigGroup__GroupsEntry *e = NULL;
    if (v != NULL) {
        g->groups = v;
        e = weft_malloc(sizeof(*e));
    }
    if (e == NULL) {
        group_free(sub);
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    common__config_group__groups_entry__init(e);
    e->value = sub;
    e->key = weft_strdup(key);
    g->groups[g->n_groups++] = e;
    return e->key == NULL ? weft_err_set(c->err, WEFT_ENOMEM, "out of memory") : 0;
}

/* Takes ownership of bytes (weft_malloc'd) in every case. */
static int add_value(struct bctx *c, Common__ConfigGroup *g, const char *key, uint8_t *bytes,
                     size_t len, const char *mod)
{
    Common__ConfigGroup__ValuesEntry **v =
        weft_realloc(g->values, (g->n_values + 1) * sizeof(*v));
    Common__ConfigGroup__ValuesEntry *e = NULL;
    Common__ConfigValue *cv = NULL;
    if (v != NULL) {
        g->values = v;
        e = weft_malloc(sizeof(*e));
        cv = weft_malloc(sizeof(*cv));
    }
    if (e == NULL || cv == NULL) {
        weft_free(e);
        weft_free(cv);
        weft_free(bytes);
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    common__config_group__values_entry__init(e);
    common__config_value__init(cv);
    e->value = cv;
    g->values[g->n_values++] = e;
    cv->value.data = len > 0 ? bytes : NULL;
    cv->value.len = len;
    if (len == 0) {
        weft_free(bytes);
    }
    e->key = weft_strdup(key);
    cv->mod_policy = weft_strdup(mod);
    if (e->key == NULL || cv->mod_policy == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

static int add_value_msg(struct bctx *c, Common__ConfigGroup *g, const char *key,
                         const ProtobufCMessage *m, const char *mod)
{
    uint8_t *b;
    size_t n;
    int rc = configtx__pack(m, &b, &n, c->err);
    return rc != 0 ? rc : add_value(c, g, key, b, n, mod);
}

/* Takes ownership of value (weft_malloc'd). */
static int add_policy(struct bctx *c, Common__ConfigGroup *g, const char *key, int32_t type,
                      uint8_t *value, size_t len, const char *mod)
{
    Common__ConfigGroup__PoliciesEntry **v =
        weft_realloc(g->policies, (g->n_policies + 1) * sizeof(*v));
    Common__ConfigGroup__PoliciesEntry *e = NULL;
    Common__ConfigPolicy *cp = NULL;
    Common__Policy *p = NULL;
    if (v != NULL) {
        g->policies = v;
        e = weft_malloc(sizeof(*e));
        cp = weft_malloc(sizeof(*cp));
        p = weft_malloc(sizeof(*p));
    }
    if (e == NULL || cp == NULL || p == NULL) {
        weft_free(e);
        weft_free(cp);
        weft_free(p);
        weft_free(value);
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    common__config_group__policies_entry__init(e);
    common__config_policy__init(cp);
    common__policy__init(p);
    e->value = cp;
    cp->policy = p;
    g->policies[g->n_policies++] = e;
    p->type = type;
    p->value.data = len > 0 ? value : NULL;
    p->value.len = len;
    if (len == 0) {
        weft_free(value);
    }
    e->key = weft_strdup(key);
    cp->mod_policy = weft_strdup(mod);
    if (e->key == NULL || cp->mod_policy == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

static bool has_policy(const Common__ConfigGroup *g, const char *key)
{
    for (size_t i = 0; i < g->n_policies; i++) {
        if (strcmp(g->policies[i]->key, key) == 0) {
            return true;
        }
    }
    return false;
}

/* Policies: name -> {Type: ImplicitMeta|Signature, Rule}. owner names the
 * node for the "no policies defined" error. */
static int add_policies(struct bctx *c, Common__ConfigGroup *g, node_t *owner)
{
    node_t *ps = child(owner, "Policies");
    if (ps == NULL || weft_config_node_len(ps) == 0) {
        return node_err(c, owner, WEFT_ECONFIG, "no policies defined");
    }
    for (size_t i = 0; i < weft_config_node_len(ps); i++) {
        node_t *pn = weft_config_node_at(ps, i);
        const char *type, *rule;
        int rc = get_str(c, pn, "Type", NULL, &type);
        if (rc == 0) {
            rc = get_str(c, pn, "Rule", NULL, &rule);
        }
        if (rc != 0) {
            return rc;
        }
        if (type == NULL || rule == NULL) {
            return node_err(c, pn, WEFT_ECONFIG, "policy needs Type and Rule");
        }
        uint8_t *val = NULL;
        size_t len = 0;
        int32_t ptype;
        struct weft_err perr;
        weft_err_clear(&perr);
        if (strcmp(type, "ImplicitMeta") == 0) {
            ptype = 3;
            rc = weft_policy_parse_implicit(rule, &val, &len, &perr);
        } else if (strcmp(type, "Signature") == 0) {
            ptype = 1;
            rc = weft_policy_parse(rule, &val, &len, &perr);
        } else {
            return node_err(c, child(pn, "Type"), WEFT_ECONFIG, "unknown policy type: %s", type);
        }
        if (rc != 0) {
            return node_err(c, child(pn, "Rule"), rc == WEFT_ENOMEM ? rc : WEFT_ECONFIG, "%s",
                            perr.msg);
        }
        rc = add_policy(c, g, weft_config_node_key(pn), ptype, val, len, ADMINS);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int add_capabilities(struct bctx *c, Common__ConfigGroup *g, node_t *owner)
{
    node_t *caps = child(owner, "Capabilities");
    size_t n = weft_config_node_len(caps);
    if (caps == NULL || n == 0) {
        return 0;
    }
    Common__Capabilities msg = COMMON__CAPABILITIES__INIT;
    Common__Capabilities__CapabilitiesEntry *ents = weft_calloc(n, sizeof(*ents));
    Common__Capabilities__CapabilitiesEntry **ptrs = weft_calloc(n, sizeof(*ptrs));
    Common__Capability cap = COMMON__CAPABILITY__INIT;
    int rc = 0;
    if (ents == NULL || ptrs == NULL) {
        rc = weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        node_t *cn = weft_config_node_at(caps, i);
        bool on;
        rc = weft_config_node_bool(c->cfg, cn, &on, c->err);
        if (rc != 0) {
            goto out;
        }
        if (!on) {
            continue;
        }
        common__capabilities__capabilities_entry__init(&ents[msg.n_capabilities]);
        ents[msg.n_capabilities].key = (char *)weft_config_node_key(cn);
        ents[msg.n_capabilities].value = &cap;
        ptrs[msg.n_capabilities] = &ents[msg.n_capabilities];
        /* insertion sort: Go writes map keys sorted when deterministic */
        for (size_t j = msg.n_capabilities; j > 0 && strcmp(ptrs[j - 1]->key, ptrs[j]->key) > 0;
             j--) {
            Common__Capabilities__CapabilitiesEntry *t = ptrs[j - 1];
            ptrs[j - 1] = ptrs[j];
            ptrs[j] = t;
        }
        msg.n_capabilities++;
    }
    msg.capabilities = ptrs;
    if (msg.n_capabilities > 0) {
        rc = add_value_msg(c, g, "Capabilities", &msg.base, ADMINS);
    }
out:
    weft_free(ents);
    weft_free(ptrs);
    return rc;
}

static int add_strlist_value(struct bctx *c, Common__ConfigGroup *g, const char *key, node_t *list,
                             const char *mod)
{
    size_t n = weft_config_node_len(list);
    Common__OrdererAddresses msg = COMMON__ORDERER_ADDRESSES__INIT;
    char **v = weft_calloc(n + 1, sizeof(*v));
    if (v == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *s;
        rc = weft_config_node_string(c->cfg, weft_config_node_at(list, i), &s, c->err);
        v[i] = (char *)s;
    }
    msg.n_addresses = n;
    msg.addresses = v;
    if (rc == 0) {
        rc = add_value_msg(c, g, key, &msg.base, mod);
    }
    weft_free(v);
    return rc;
}

/* An organisation group: MSP value, policies, endpoints / anchor peers. */
static int org_group(struct bctx *c, node_t *org, bool orderer, bool anchors,
                     Common__ConfigGroup **out, const char **name_out)
{
    const char *name, *id, *mtype;
    int rc = get_str(c, org, "Name", NULL, &name);
    if (rc == 0) {
        rc = get_str(c, org, "ID", NULL, &id);
    }
    if (rc == 0) {
        rc = get_str(c, org, "MSPType", "bccsp", &mtype);
    }
    if (rc != 0) {
        return rc;
    }
    if (name == NULL || id == NULL) {
        return node_err(c, org, WEFT_ECONFIG, "organization needs Name and ID");
    }
    if (strcmp(mtype, "bccsp") != 0) {
        return node_err(c, child(org, "MSPType"), WEFT_EUNSUPPORTED,
                        "MSP type \"%s\" is not supported (only bccsp)", mtype);
    }
    node_t *skip = child(org, "SkipAsForeign");
    bool sk = false;
    if (skip != NULL && (rc = weft_config_node_bool(c->cfg, skip, &sk, c->err)) != 0) {
        return rc;
    }
    if (sk) {
        return node_err(c, skip, WEFT_EUNSUPPORTED, "SkipAsForeign is not supported");
    }
    node_t *dirn = child(org, "MSPDir");
    if (dirn == NULL) {
        return node_err(c, org, WEFT_ECONFIG, "organization %s has no MSPDir", name);
    }
    char *dir = NULL;
    rc = get_path(c, dirn, &dir);
    if (rc != 0) {
        return rc;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = node_err(c, dirn, WEFT_ENOTFOUND, "MSP folder %s does not exist", dir);
        weft_free(dir);
        return rc;
    }
    uint8_t *mspcfg = NULL;
    size_t msplen = 0;
    struct weft_err merr;
    weft_err_clear(&merr);
    rc = weft_msp_config_from_dir(dir, id, false, &mspcfg, &msplen, &merr);
    if (rc != 0) {
        rc = node_err(c, dirn, rc, "%s", merr.msg);
        weft_free(dir);
        return rc;
    }
    weft_free(dir);
    Common__ConfigGroup *g = group_new();
    if (g == NULL) {
        weft_free(mspcfg);
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    rc = add_policies(c, g, org);
    if (rc == 0) {
        rc = add_value(c, g, "MSP", mspcfg, msplen, ADMINS);
    } else {
        weft_free(mspcfg);
    }
    node_t *eps = child(org, "OrdererEndpoints");
    if (rc == 0 && orderer && eps != NULL && weft_config_node_len(eps) > 0) {
        rc = add_strlist_value(c, g, "Endpoints", eps, ADMINS);
    }
    node_t *aps = child(org, "AnchorPeers");
    if (rc == 0 && anchors && aps != NULL && weft_config_node_len(aps) > 0) {
        size_t n = weft_config_node_len(aps);
        Protos__AnchorPeers msg = PROTOS__ANCHOR_PEERS__INIT;
        Protos__AnchorPeer *ap = weft_calloc(n, sizeof(*ap));
        Protos__AnchorPeer **pp = weft_calloc(n, sizeof(*pp));
        if (ap == NULL || pp == NULL) {
            rc = weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            node_t *an = weft_config_node_at(aps, i);
            const char *host;
            uint32_t port = 0;
            protos__anchor_peer__init(&ap[i]);
            pp[i] = &ap[i];
            rc = get_str(c, an, "Host", "", &host);
            if (rc == 0) {
                rc = get_u32(c, an, "Port", 0, &port);
            }
            if (rc == 0 && port > INT32_MAX) {
                rc = node_err(c, an, WEFT_ECONFIG, "port out of range");
            }
            ap[i].host = (char *)host;
            ap[i].port = (int32_t)port;
        }
        msg.n_anchor_peers = n;
        msg.anchor_peers = pp;
        if (rc == 0) {
            rc = add_value_msg(c, g, "AnchorPeers", &msg.base, ADMINS);
        }
        weft_free(ap);
        weft_free(pp);
    }
    if (rc != 0) {
        group_free(g);
        return rc;
    }
    *out = g;
    *name_out = name;
    return 0;
}

static int add_orgs(struct bctx *c, Common__ConfigGroup *g, node_t *section, bool orderer,
                    bool anchors)
{
    node_t *orgs = child(section, "Organizations");
    for (size_t i = 0; i < weft_config_node_len(orgs); i++) {
        Common__ConfigGroup *og = NULL;
        const char *name = NULL;
        int rc = org_group(c, weft_config_node_at(orgs, i), orderer, anchors, &og, &name);
        if (rc == 0) {
            rc = add_group(c, g, name, og);
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int raft_metadata(struct bctx *c, node_t *raft, ProtobufCBinaryData *out)
{
    node_t *cons = child(raft, "Consenters");
    node_t *opts = child(raft, "Options");
    size_t n = weft_config_node_len(cons);
    Etcdraft__ConfigMetadata md = ETCDRAFT__CONFIG_METADATA__INIT;
    Etcdraft__Options o = ETCDRAFT__OPTIONS__INIT;
    Etcdraft__Consenter *cs = weft_calloc(n + 1, sizeof(*cs));
    Etcdraft__Consenter **cp = weft_calloc(n + 1, sizeof(*cp));
    int rc = 0;
    if (cs == NULL || cp == NULL) {
        rc = weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        node_t *cn = weft_config_node_at(cons, i);
        etcdraft__consenter__init(&cs[i]);
        cp[i] = &cs[i];
        md.n_consenters = i + 1;
        const char *host;
        rc = get_str(c, cn, "Host", "", &host);
        if (rc == 0) {
            rc = get_u32(c, cn, "Port", 0, &cs[i].port);
        }
        if (rc != 0) {
            goto out;
        }
        cs[i].host = (char *)host;
        static const char *const certs[2] = {"ClientTLSCert", "ServerTLSCert"};
        for (int k = 0; k < 2; k++) {
            node_t *pn = child(cn, certs[k]);
            if (pn == NULL) {
                rc = node_err(c, cn, WEFT_ECONFIG, "consenter %s:%u did not specify %s", host,
                              cs[i].port, certs[k]);
                goto out;
            }
            char *path = NULL;
            rc = get_path(c, pn, &path);
            if (rc != 0) {
                goto out;
            }
            ProtobufCBinaryData *d = k == 0 ? &cs[i].client_tls_cert : &cs[i].server_tls_cert;
            rc = read_file(c, pn, path, &d->data, &d->len);
            weft_free(path);
            if (rc != 0) {
                goto out;
            }
        }
    }
    const char *tick;
    rc = get_str(c, opts, "TickInterval", "500ms", &tick);
    if (rc == 0) {
        rc = get_u32(c, opts, "ElectionTick", 10, &o.election_tick);
    }
    if (rc == 0) {
        rc = get_u32(c, opts, "HeartbeatTick", 1, &o.heartbeat_tick);
    }
    if (rc == 0) {
        rc = get_u32(c, opts, "MaxInflightBlocks", 5, &o.max_inflight_blocks);
    }
    if (rc == 0) {
        rc = get_size32(c, opts, "SnapshotIntervalSize", 16u * 1024u * 1024u,
                        &o.snapshot_interval_size);
    }
    if (rc != 0) {
        goto out;
    }
    /* zero values take the defaults, as configtxgen's completeInitialization */
    o.tick_interval = (char *)(tick[0] != '\0' ? tick : "500ms");
    o.election_tick = o.election_tick ? o.election_tick : 10;
    o.heartbeat_tick = o.heartbeat_tick ? o.heartbeat_tick : 1;
    o.max_inflight_blocks = o.max_inflight_blocks ? o.max_inflight_blocks : 5;
    o.snapshot_interval_size = o.snapshot_interval_size ? o.snapshot_interval_size : 16777216u;
    md.consenters = cp;
    md.options = &o;
    uint8_t *b = NULL;
    size_t bl = 0;
    rc = configtx__pack(&md.base, &b, &bl, c->err);
    if (rc == 0) {
        out->data = b;
        out->len = bl;
    }
out:
    for (size_t i = 0; cs != NULL && i < n; i++) {
        weft_free(cs[i].client_tls_cert.data);
        weft_free(cs[i].server_tls_cert.data);
    }
    weft_free(cs);
    weft_free(cp);
    return rc;
}

static int orderer_group(struct bctx *c, node_t *on, Common__ConfigGroup **out)
{
    Common__ConfigGroup *g = group_new();
    if (g == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    int rc = add_policies(c, g, on);
    if (rc == 0 && !has_policy(g, "BlockValidation")) {
        /* configtxgen adds the default BlockValidation policy */
        uint8_t *v = NULL;
        size_t vl = 0;
        rc = weft_policy_parse_implicit("ANY Writers", &v, &vl, c->err);
        if (rc == 0) {
            rc = add_policy(c, g, "BlockValidation", 3, v, vl, ADMINS);
        }
    }
    Orderer__BatchSize bs = ORDERER__BATCH_SIZE__INIT;
    if (rc == 0) {
        node_t *bn = child(on, "BatchSize");
        rc = get_u32(c, bn, "MaxMessageCount", 500, &bs.max_message_count);
        if (rc == 0) {
            rc = get_size32(c, bn, "AbsoluteMaxBytes", 10u * 1024u * 1024u,
                            &bs.absolute_max_bytes);
        }
        if (rc == 0) {
            rc = get_size32(c, bn, "PreferredMaxBytes", 2u * 1024u * 1024u,
                            &bs.preferred_max_bytes);
        }
        bs.max_message_count = bs.max_message_count ? bs.max_message_count : 500;
        bs.absolute_max_bytes = bs.absolute_max_bytes ? bs.absolute_max_bytes : 10485760u;
        bs.preferred_max_bytes = bs.preferred_max_bytes ? bs.preferred_max_bytes : 2097152u;
    }
    if (rc == 0) {
        rc = add_value_msg(c, g, "BatchSize", &bs.base, ADMINS);
    }
    if (rc == 0) {
        int64_t ns = 2000000000;
        node_t *tn = child(on, "BatchTimeout");
        if (tn != NULL) {
            rc = weft_config_node_duration(c->cfg, tn, &ns, c->err);
            if (rc == 0 && ns == 0) {
                ns = 2000000000;
            }
        }
        char buf[48];
        weft_configtx_format_duration(ns, buf, sizeof(buf));
        Orderer__BatchTimeout bt = ORDERER__BATCH_TIMEOUT__INIT;
        bt.timeout = buf;
        if (rc == 0) {
            rc = add_value_msg(c, g, "BatchTimeout", &bt.base, ADMINS);
        }
    }
    if (rc == 0) {
        Orderer__ChannelRestrictions cr = ORDERER__CHANNEL_RESTRICTIONS__INIT;
        node_t *mn = child(on, "MaxChannels");
        int64_t mc = 0;
        if (mn != NULL) {
            rc = weft_config_node_i64(c->cfg, mn, &mc, c->err);
            if (rc == 0 && mc < 0) {
                rc = node_err(c, mn, WEFT_ECONFIG, "must not be negative");
            }
        }
        cr.max_count = (uint64_t)mc;
        if (rc == 0) {
            rc = add_value_msg(c, g, "ChannelRestrictions", &cr.base, ADMINS);
        }
    }
    if (rc == 0) {
        rc = add_capabilities(c, g, on);
    }
    const char *type = "solo";
    if (rc == 0) {
        rc = get_str(c, on, "OrdererType", "solo", &type);
    }
    Orderer__ConsensusType ct = ORDERER__CONSENSUS_TYPE__INIT;
    if (rc == 0) {
        if (strcmp(type, "etcdraft") == 0) {
            node_t *raft = child(on, "EtcdRaft");
            if (raft == NULL) {
                rc = node_err(c, on, WEFT_ECONFIG, "etcdraft configuration missing (EtcdRaft)");
            } else {
                rc = raft_metadata(c, raft, &ct.metadata);
            }
        } else if (strcmp(type, "kafka") == 0) {
            node_t *brokers = child(child(on, "Kafka"), "Brokers");
            if (brokers != NULL) {
                /* KafkaBrokers has the same wire shape as OrdererAddresses */
                rc = add_strlist_value(c, g, "KafkaBrokers", brokers, ADMINS);
            }
        } else if (strcmp(type, "solo") != 0) {
            rc = node_err(c, child(on, "OrdererType"), WEFT_ECONFIG, "unknown orderer type: %s",
                          type);
        }
    }
    if (rc == 0) {
        ct.type = (char *)type;
        rc = add_value_msg(c, g, "ConsensusType", &ct.base, ADMINS);
    }
    weft_free(ct.metadata.data);
    if (rc == 0) {
        rc = add_orgs(c, g, on, true, false);
    }
    if (rc != 0) {
        group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static int application_group(struct bctx *c, node_t *an, Common__ConfigGroup **out)
{
    Common__ConfigGroup *g = group_new();
    if (g == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    int rc = add_policies(c, g, an);
    node_t *acls = child(an, "ACLs");
    size_t n = weft_config_node_len(acls);
    if (rc == 0 && n > 0) {
        Protos__ACLs msg = PROTOS__ACLS__INIT;
        Protos__ACLs__AclsEntry *ents = weft_calloc(n, sizeof(*ents));
        Protos__ACLs__AclsEntry **pp = weft_calloc(n, sizeof(*pp));
        Protos__APIResource *res = weft_calloc(n, sizeof(*res));
        if (ents == NULL || pp == NULL || res == NULL) {
            rc = weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            node_t *e = weft_config_node_at(acls, i);
            const char *ref;
            rc = weft_config_node_string(c->cfg, e, &ref, c->err);
            protos__acls__acls_entry__init(&ents[i]);
            protos__apiresource__init(&res[i]);
            res[i].policy_ref = (char *)ref;
            ents[i].key = (char *)weft_config_node_key(e);
            ents[i].value = &res[i];
            pp[i] = &ents[i];
            for (size_t j = i; j > 0 && strcmp(pp[j - 1]->key, pp[j]->key) > 0; j--) {
                Protos__ACLs__AclsEntry *t = pp[j - 1];
                pp[j - 1] = pp[j];
                pp[j] = t;
            }
        }
        msg.n_acls = n;
        msg.acls = pp;
        if (rc == 0) {
            rc = add_value_msg(c, g, "ACLs", &msg.base, ADMINS);
        }
        weft_free(ents);
        weft_free(pp);
        weft_free(res);
    }
    if (rc == 0) {
        rc = add_capabilities(c, g, an);
    }
    if (rc == 0) {
        rc = add_orgs(c, g, an, false, true);
    }
    if (rc != 0) {
        group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static int channel_group(struct bctx *c, node_t *prof, Common__ConfigGroup **out)
{
    Common__ConfigGroup *g = group_new();
    if (g == NULL) {
        return weft_err_set(c->err, WEFT_ENOMEM, "out of memory");
    }
    int rc = add_policies(c, g, prof);
    if (rc == 0) {
        Common__HashingAlgorithm ha = COMMON__HASHING_ALGORITHM__INIT;
        ha.name = (char *)"SHA256";
        rc = add_value_msg(c, g, "HashingAlgorithm", &ha.base, ADMINS);
    }
    if (rc == 0) {
        Common__BlockDataHashingStructure bd = COMMON__BLOCK_DATA_HASHING_STRUCTURE__INIT;
        bd.width = UINT32_MAX;
        rc = add_value_msg(c, g, "BlockDataHashingStructure", &bd.base, ADMINS);
    }
    node_t *on = child(prof, "Orderer");
    node_t *addrs = child(on, "Addresses");
    if (rc == 0 && addrs != NULL && weft_config_node_len(addrs) > 0) {
        rc = add_strlist_value(c, g, "OrdererAddresses", addrs, ORDERER_ADMINS);
    }
    const char *consortium = NULL;
    if (rc == 0) {
        rc = get_str(c, prof, "Consortium", NULL, &consortium);
    }
    if (rc == 0 && consortium != NULL && consortium[0] != '\0') {
        Common__Consortium cm = COMMON__CONSORTIUM__INIT;
        cm.name = (char *)consortium;
        rc = add_value_msg(c, g, "Consortium", &cm.base, ADMINS);
    }
    if (rc == 0) {
        rc = add_capabilities(c, g, prof);
    }
    if (rc == 0 && child(prof, "Consortiums") != NULL) {
        rc = node_err(c, child(prof, "Consortiums"), WEFT_EUNSUPPORTED,
                      "system channel profiles (Consortiums) are not supported; use an "
                      "application channel profile");
    }
    if (rc == 0 && on != NULL) {
        Common__ConfigGroup *og = NULL;
        rc = orderer_group(c, on, &og);
        if (rc == 0) {
            rc = add_group(c, g, "Orderer", og);
        }
    }
    node_t *an = child(prof, "Application");
    if (rc == 0 && an != NULL) {
        Common__ConfigGroup *ag = NULL;
        rc = application_group(c, an, &ag);
        if (rc == 0) {
            rc = add_group(c, g, "Application", ag);
        }
    }
    if (rc != 0) {
        group_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int weft_configtx_config_from_yaml(const char *path, const char *profile, uint8_t **out,
                                   size_t *out_len, struct weft_err *err)
{
    if (path == NULL || profile == NULL || out == NULL || out_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "configtx: missing argument");
    }
    struct bctx c = {NULL, err};
    Common__ConfigGroup *g = NULL;
    int rc = weft_config_load(path, NULL, &c.cfg, err);
    if (rc != 0) {
        return rc;
    }
    node_t *root = weft_config_root(c.cfg);
    rc = check(&c, root, &s_top, 0);
    if (rc != 0) {
        goto out;
    }
    node_t *prof = child(child(root, "Profiles"), profile);
    if (prof == NULL) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "%s: profile \"%s\" not found under Profiles",
                          path, profile);
        goto out;
    }
    rc = channel_group(&c, prof, &g);
    if (rc != 0) {
        goto out;
    }
    configtx__sort_group(g, 0);
    Common__Config conf = COMMON__CONFIG__INIT;
    conf.channel_group = g;
    rc = configtx__pack(&conf.base, out, out_len, err);
out:
    group_free(g);
    weft_config_free(c.cfg);
    return rc;
}

int weft_configtx_genesis_from_yaml(const char *path, const char *profile, const char *channel_id,
                                    uint8_t **out, size_t *out_len, struct weft_err *err)
{
    uint8_t *conf = NULL;
    size_t len = 0;
    int rc = weft_configtx_config_from_yaml(path, profile, &conf, &len, err);
    if (rc != 0) {
        return rc;
    }
    rc = weft_configtx_genesis_block(conf, len, channel_id, out, out_len, err);
    weft_free(conf);
    return rc;
}
