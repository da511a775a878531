/*
 * Parser for Fabric's signature-policy language, the strings written in
 * configtx.yaml and in chaincode definitions:
 *
 *     AND('Org1MSP.peer', 'Org2MSP.member')
 *     OR('A.admin', OutOf(2, 'B.peer', 'C.peer', 'D.peer'))
 *
 * DESIGN. A small recursive-descent parser builds an AST; the encoder then
 * walks it and produces a common.SignaturePolicyEnvelope whose bytes equal
 * what Fabric's policydsl.FromString marshals:
 *  - gates are And/and/AND, Or/or/OR, OutOf/outof/OUTOF (no other casing);
 *  - AND(x1..xk) is k-out-of-k, OR(...) is 1-out-of-k;
 *  - every principal occurrence gets its own MSPPrincipal (no de-duplication);
 *  - indices are assigned in evaluation order of Fabric's expression
 *    evaluator: the arguments of a gate (nested gates included) are all
 *    evaluated before the gate itself, and the gate then numbers its own
 *    principal strings left to right. So nested gates are numbered first
 *    (post-order), e.g. OR('A.member', AND('B.member','C.member')) gives
 *    B=0, C=1, A=2;
 *  - OutOf(t, ...) accepts 0 <= t <= n+1 (t = n+1 is allowed and never
 *    satisfiable, as in Fabric);
 *  - a principal is <MSPID>.<role>, MSPID made of [A-Za-z0-9.-], role one of
 *    member, admin, client, peer, orderer.
 * Errors name the byte offset where the parser stopped.
 */
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "common/policies.pb-c.h"
#include "msp/msp_principal.pb-c.h"
#include "weft/policy.h"

#include "msp_internal.h"

#define PARSE_MAX_DEPTH 64
#define PARSE_MAX_TEXT (64 * 1024)

enum node_kind { NODE_GATE, NODE_PRINCIPAL };

struct node {
    enum node_kind kind;
    /* gate */
    int64_t n;
    struct node **kids;
    size_t nkids;
    /* principal */
    char *mspid;
    int role;
};

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    struct weft_err *err;
};

static void node_free(struct node *nd)
{
    if (nd == NULL) {
        return;
    }
    for (size_t i = 0; i < nd->nkids; i++) {
        node_free(nd->kids[i]);
    }
    weft_free(nd->kids);
    weft_free(nd->mspid);
    weft_free(nd);
}

static int perr(struct parser *p, int code, const char *what)
{
    return weft_err_set(p->err, code, "policy parse error at offset %zu: %s", p->pos, what);
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r')) {
        p->pos++;
    }
}

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Splits "<mspid>.<role>" exactly like Fabric's principal regex. */
int weft_msp__principal_split(const char *s, size_t len, char **mspid, int *role)
{
    static const struct {
        const char *name;
        int role;
    } roles[] = {
        {"admin", WEFT_MSP_ROLE_ADMIN},     {"member", WEFT_MSP_ROLE_MEMBER},
        {"client", WEFT_MSP_ROLE_CLIENT},   {"peer", WEFT_MSP_ROLE_PEER},
        {"orderer", WEFT_MSP_ROLE_ORDERER},
    };
    for (size_t r = 0; r < WEFT_ARRAY_LEN(roles); r++) {
        size_t rl = strlen(roles[r].name);
        if (len < rl + 2 || memcmp(s + len - rl, roles[r].name, rl) != 0 ||
            s[len - rl - 1] != '.') {
            continue;
        }
        size_t ml = len - rl - 1;
        for (size_t i = 0; i < ml; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-')) {
                return WEFT_EPARSE;
            }
        }
        *mspid = weft_strndup(s, ml);
        if (*mspid == NULL) {
            return WEFT_ENOMEM;
        }
        *role = roles[r].role;
        return 0;
    }
    return WEFT_EPARSE;
}

static int parse_string(struct parser *p, const char **start, size_t *len)
{
    char q = p->s[p->pos];
    size_t begin = p->pos + 1;
    size_t i = begin;
    while (i < p->len && p->s[i] != q) {
        if (p->s[i] == '\\') {
            return perr(p, WEFT_EPARSE, "escapes are not allowed in principals");
        }
        i++;
    }
    if (i >= p->len) {
        return perr(p, WEFT_EPARSE, "unterminated string");
    }
    *start = p->s + begin;
    *len = i - begin;
    p->pos = i + 1;
    return 0;
}

static int parse_expr(struct parser *p, int depth, struct node **out);

/* A number as the first argument of OutOf: an integer literal, or (as Fabric
 * tolerates) a quoted integer. */
static int parse_count(struct parser *p, int64_t *n)
{
    size_t at = p->pos;
    const char *start = p->s + p->pos;
    size_t len = 0;
    if (p->s[p->pos] == '\'' || p->s[p->pos] == '"') {
        int rc = parse_string(p, &start, &len);
        if (rc != 0) {
            return rc;
        }
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            p->pos++;
            len++;
        }
    }
    if (len == 0 || len > 9) {
        p->pos = at;
        return perr(p, WEFT_EPARSE, "OutOf expects a threshold number as its first argument");
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (start[i] < '0' || start[i] > '9') {
            p->pos = at;
            return perr(p, WEFT_EPARSE, "OutOf threshold is not an integer");
        }
        v = v * 10 + (start[i] - '0');
    }
    *n = v;
    return 0;
}

static int add_kid(struct node *g, struct node *k)
{
    struct node **nk = weft_realloc(g->kids, (g->nkids + 1) * sizeof(*nk));
    if (nk == NULL) {
        return WEFT_ENOMEM;
    }
    g->kids = nk;
    g->kids[g->nkids++] = k;
    return 0;
}

static int parse_gate(struct parser *p, int depth, struct node **out)
{
    size_t name_at = p->pos;
    while (p->pos < p->len && is_ident_char(p->s[p->pos])) {
        p->pos++;
    }
    size_t nl = p->pos - name_at;
    const char *name = p->s + name_at;
    enum { G_AND, G_OR, G_OUTOF } kind;
#define NAME_IS(lit) (nl == sizeof(lit) - 1 && memcmp(name, lit, nl) == 0)
    if (NAME_IS("AND") || NAME_IS("And") || NAME_IS("and")) {
        kind = G_AND;
    } else if (NAME_IS("OR") || NAME_IS("Or") || NAME_IS("or")) {
        kind = G_OR;
    } else if (NAME_IS("OutOf") || NAME_IS("outof") || NAME_IS("OUTOF")) {
        kind = G_OUTOF;
    } else {
        p->pos = name_at;
        return perr(p, WEFT_EPARSE, "unknown gate (expected AND, OR or OutOf)");
    }
#undef NAME_IS
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '(') {
        return perr(p, WEFT_EPARSE, "expected '('");
    }
    p->pos++;
    if (depth >= PARSE_MAX_DEPTH) {
        return perr(p, WEFT_ETOOBIG, "policy nested too deeply");
    }
    struct node *g = weft_calloc(1, sizeof(*g));
    if (g == NULL) {
        return WEFT_ENOMEM;
    }
    g->kind = NODE_GATE;
    int rc = 0;
    skip_ws(p);
    if (kind == G_OUTOF) {
        if (p->pos >= p->len) {
            rc = perr(p, WEFT_EPARSE, "unexpected end of policy");
            goto fail;
        }
        rc = parse_count(p, &g->n);
        if (rc != 0) {
            goto fail;
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ',') {
            rc = perr(p, WEFT_EPARSE,
                      "OutOf needs at least one principal or gate after the "
                      "threshold");
            goto fail;
        }
        p->pos++;
        skip_ws(p);
    }
    if (p->pos < p->len && p->s[p->pos] == ')') {
        rc = perr(p, WEFT_EPARSE, "a gate needs at least one principal or gate");
        goto fail;
    }
    for (;;) {
        struct node *k = NULL;
        rc = parse_expr(p, depth + 1, &k);
        if (rc != 0) {
            goto fail;
        }
        rc = add_kid(g, k);
        if (rc != 0) {
            node_free(k);
            goto fail;
        }
        skip_ws(p);
        if (p->pos >= p->len) {
            rc = perr(p, WEFT_EPARSE, "unexpected end of policy, expected ',' or ')'");
            goto fail;
        }
        if (p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->s[p->pos] == ')') {
            p->pos++;
            break;
        }
        rc = perr(p, WEFT_EPARSE, "expected ',' or ')'");
        goto fail;
    }
    if (kind == G_AND) {
        g->n = (int64_t)g->nkids;
    } else if (kind == G_OR) {
        g->n = 1;
    } else if (g->n > (int64_t)g->nkids + 1) {
        rc = weft_err_set(p->err, WEFT_EPARSE,
                          "policy parse error at offset %zu: invalid t-out-of-n predicate, t %lld, "
                          "n %zu",
                          name_at, (long long)g->n, g->nkids);
        goto fail;
    }
    *out = g;
    return 0;
fail:
    node_free(g);
    return rc;
}

static int parse_expr(struct parser *p, int depth, struct node **out)
{
    skip_ws(p);
    if (p->pos >= p->len) {
        return perr(p, WEFT_EPARSE, "unexpected end of policy");
    }
    char c = p->s[p->pos];
    if (c == '\'' || c == '"') {
        size_t at = p->pos;
        const char *str;
        size_t len;
        int rc = parse_string(p, &str, &len);
        if (rc != 0) {
            return rc;
        }
        struct node *nd = weft_calloc(1, sizeof(*nd));
        if (nd == NULL) {
            return WEFT_ENOMEM;
        }
        nd->kind = NODE_PRINCIPAL;
        rc = weft_msp__principal_split(str, len, &nd->mspid, &nd->role);
        if (rc != 0) {
            weft_free(nd);
            if (rc == WEFT_ENOMEM) {
                return rc;
            }
            p->pos = at;
            return weft_err_set(p->err, WEFT_EPARSE,
                                "policy parse error at offset %zu: unrecognized token '%.*s' "
                                "(expected '<MSPID>.<member|admin|client|peer|orderer>')",
                                at, (int)(len > 64 ? 64 : len), str);
        }
        *out = nd;
        return 0;
    }
    if (is_ident_char(c)) {
        return parse_gate(p, depth, out);
    }
    return perr(p, WEFT_EPARSE, "expected a gate or a quoted principal");
}

/* ---- encoding ------------------------------------------------------------ */

struct enc {
    Common__MSPPrincipal **principals;
    size_t nprincipals;
    size_t cap;
};

static void sp_free(Common__SignaturePolicy *sp)
{
    if (sp == NULL) {
        return;
    }
    if (sp->type_case == COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF && sp->n_out_of != NULL) {
        for (size_t i = 0; i < sp->n_out_of->n_rules; i++) {
            sp_free(sp->n_out_of->rules[i]);
        }
        weft_free(sp->n_out_of->rules);
        weft_free(sp->n_out_of);
    }
    weft_free(sp);
}

static int enc_principal(struct enc *e, const struct node *nd, int32_t *index)
{
    if (e->nprincipals >= INT32_MAX) {
        return WEFT_ETOOBIG;
    }
    if (e->nprincipals == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 8;
        Common__MSPPrincipal **np = weft_realloc(e->principals, nc * sizeof(*np));
        if (np == NULL) {
            return WEFT_ENOMEM;
        }
        e->principals = np;
        e->cap = nc;
    }
    Common__MSPRole role = COMMON__MSPROLE__INIT;
    role.msp_identifier = nd->mspid;
    role.role = (Common__MSPRole__MSPRoleType)nd->role;
    size_t rl = common__msprole__get_packed_size(&role);
    Common__MSPPrincipal *pr = weft_malloc(sizeof(*pr));
    uint8_t *rb = weft_malloc(rl ? rl : 1);
    if (pr == NULL || rb == NULL) {
        weft_free(pr);
        weft_free(rb);
        return WEFT_ENOMEM;
    }
    common__mspprincipal__init(pr);
    pr->principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE;
    pr->principal.len = common__msprole__pack(&role, rb);
    pr->principal.data = rb;
    *index = (int32_t)e->nprincipals;
    e->principals[e->nprincipals++] = pr;
    return 0;
}

/* Encodes gate g. Nested gates first (they are evaluated first by Fabric),
 * then this gate's own principals left to right. */
static int enc_gate(struct enc *e, const struct node *g, Common__SignaturePolicy **out)
{
    int rc = 0;
    Common__SignaturePolicy *sp = weft_malloc(sizeof(*sp));
    Common__SignaturePolicy__NOutOf *no = weft_malloc(sizeof(*no));
    Common__SignaturePolicy **rules = weft_calloc(g->nkids, sizeof(*rules));
    if (sp == NULL || no == NULL || rules == NULL) {
        weft_free(sp);
        weft_free(no);
        weft_free(rules);
        return WEFT_ENOMEM;
    }
    common__signature_policy__init(sp);
    common__signature_policy__nout_of__init(no);
    sp->type_case = COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF;
    sp->n_out_of = no;
    no->n = (int32_t)g->n;
    no->rules = rules;
    no->n_rules = g->nkids;
    for (size_t i = 0; i < g->nkids; i++) {
        if (g->kids[i]->kind == NODE_GATE) {
            rc = enc_gate(e, g->kids[i], &rules[i]);
            if (rc != 0) {
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < g->nkids; i++) {
        if (g->kids[i]->kind != NODE_PRINCIPAL) {
            continue;
        }
        Common__SignaturePolicy *leaf = weft_malloc(sizeof(*leaf));
        if (leaf == NULL) {
            rc = WEFT_ENOMEM;
            goto fail;
        }
        common__signature_policy__init(leaf);
        leaf->type_case = COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY;
        rules[i] = leaf;
        rc = enc_principal(e, g->kids[i], &leaf->signed_by);
        if (rc != 0) {
            goto fail;
        }
    }
    *out = sp;
    return 0;
fail:
    sp_free(sp);
    return rc;
}

int weft_policy_parse(const char *text, uint8_t **out, size_t *out_len, struct weft_err *err)
{
    if (text == NULL || out == NULL || out_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "policy parse: missing argument");
    }
    *out = NULL;
    *out_len = 0;
    struct parser p = {.s = text, .len = strlen(text), .pos = 0, .err = err};
    if (p.len > PARSE_MAX_TEXT) {
        return weft_err_set(err, WEFT_ETOOBIG, "policy parse error: policy longer than %d bytes",
                            PARSE_MAX_TEXT);
    }
    struct node *root = NULL;
    struct enc e = {0};
    Common__SignaturePolicy *rule = NULL;
    uint8_t *buf = NULL;
    int rc;
    skip_ws(&p);
    if (p.pos < p.len && (p.s[p.pos] == '\'' || p.s[p.pos] == '"')) {
        rc = perr(&p, WEFT_EPARSE, "a policy must start with a gate (AND, OR or OutOf)");
        goto cleanup;
    }
    rc = parse_expr(&p, 0, &root);
    if (rc != 0) {
        goto cleanup;
    }
    skip_ws(&p);
    if (p.pos != p.len) {
        rc = perr(&p, WEFT_EPARSE, "unexpected text after the policy");
        goto cleanup;
    }
    rc = enc_gate(&e, root, &rule);
    if (rc != 0) {
        weft_err_set(err, rc, "policy encode: %s", weft_strerror(rc));
        goto cleanup;
    }
    Common__SignaturePolicyEnvelope env = COMMON__SIGNATURE_POLICY_ENVELOPE__INIT;
    env.version = 0;
    env.rule = rule;
    env.identities = e.principals;
    env.n_identities = e.nprincipals;
    size_t n = common__signature_policy_envelope__get_packed_size(&env);
    buf = weft_malloc(n ? n : 1);
    if (buf == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "policy encode: out of memory");
        goto cleanup;
    }
    *out_len = common__signature_policy_envelope__pack(&env, buf);
    *out = buf;
    buf = NULL;
cleanup:
    for (size_t i = 0; i < e.nprincipals; i++) {
        weft_free(e.principals[i]->principal.data);
        weft_free(e.principals[i]);
    }
    weft_free(e.principals);
    sp_free(rule);
    node_free(root);
    weft_free(buf);
    return rc;
}
