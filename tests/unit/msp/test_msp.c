/*
 * Unit tests for src/msp: MSP loading (Fabric vectors and generated
 * folders), identity validation (valid, expired, revoked, wrong CA, wrong
 * OU), principals for each role, admins with and without admincerts, the
 * policy language parser (byte equality with configtxgen's output in the
 * vectors' genesis block), signature and implicit-meta policy evaluation,
 * and the `weft crypto generate` round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "common/policies.pb-c.h"
#include "msp/identities.pb-c.h"
#include "msp/msp_config.pb-c.h"
#include "msp/msp_principal.pb-c.h"
#include "testlib.h"
#include "weft/crypto.h"
#include "weft/crypto_issue.h"
#include "weft/msp.h"
#include "weft/policy.h"

/* ---- helpers -------------------------------------------------------------- */

static char *vec(const char *rel)
{
    char *p = weft_asprintf("%s/vectors/fabric-2.4.9/%s", wt_shared_dir(), rel);
    assert_non_null(p);
    return p;
}

static uint8_t *serialize(const char *mspid, const struct weft_x509 *cert, size_t *len)
{
    char *pem = NULL;
    size_t pl = 0;
    assert_int_equal(weft_x509_to_pem(cert, &pem, &pl, NULL), 0);
    Msp__SerializedIdentity si = MSP__SERIALIZED_IDENTITY__INIT;
    si.mspid = (char *)mspid;
    si.id_bytes.data = (uint8_t *)pem;
    si.id_bytes.len = pl;
    *len = msp__serialized_identity__get_packed_size(&si);
    uint8_t *out = weft_malloc(*len);
    assert_non_null(out);
    msp__serialized_identity__pack(&si, out);
    weft_free(pem);
    return out;
}

static struct weft_x509 *load_cert(const char *path)
{
    size_t len = 0;
    char *pem = wt_read_file(path, &len);
    assert_non_null(pem);
    struct weft_x509 *c = NULL;
    assert_int_equal(weft_x509_parse_pem(pem, len, &c, NULL), 0);
    weft_free(pem);
    return c;
}

static void write_pem_cert(const char *dir, const char *name, const struct weft_x509 *c)
{
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(weft_x509_to_pem(c, &pem, &len, NULL), 0);
    mkdir(dir, 0755);
    char *p = weft_asprintf("%s/%s", dir, name);
    assert_int_equal(wt_write_file(p, pem, len), 0);
    weft_free(p);
    weft_free(pem);
}

/* A test organisation: CA + folder. */
struct torg {
    char mspid[32];
    char *dir;
    struct weft_key *ca_key;
    struct weft_x509 *ca;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static struct weft_x509 *issue(struct torg *o, const char *cn, const char *const *ous, size_t n_ous,
                               int64_t nb, int64_t na, struct weft_key **key_out)
{
    struct weft_key *k = NULL;
    assert_int_equal(weft_key_generate(&k, NULL), 0);
    struct weft_cert_template t = {0};
    t.country = "US";
    t.common_name = cn;
    t.organizational_units = ous;
    t.n_organizational_units = n_ous;
    t.key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE;
    t.not_before = nb;
    t.not_after = na;
    struct weft_x509 *c = NULL;
    assert_int_equal(weft_x509_issue(&t, k, o->ca, o->ca_key, &c, NULL), 0);
    if (key_out != NULL) {
        *key_out = k;
    } else {
        weft_key_free(k);
    }
    return c;
}

static struct weft_x509 *issue_ou(struct torg *o, const char *cn, const char *ou,
                                  struct weft_key **key_out)
{
    const char *ous[1] = {ou};
    return issue(o, cn, ous, ou ? 1 : 0, now_s() - 3600, now_s() + 86400 * 30, key_out);
}

static void torg_init(struct torg *o, const char *base, const char *mspid)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->mspid, sizeof(o->mspid), "%s", mspid);
    o->dir = weft_asprintf("%s/%s", base, mspid);
    mkdir(o->dir, 0755);
    assert_int_equal(weft_key_generate(&o->ca_key, NULL), 0);
    struct weft_cert_template t = {0};
    t.country = "US";
    t.organization = mspid;
    t.common_name = "ca";
    t.is_ca = true;
    t.key_usage =
        WEFT_X509_KU_DIGITAL_SIGNATURE | WEFT_X509_KU_KEY_CERT_SIGN | WEFT_X509_KU_CRL_SIGN;
    t.not_before = now_s() - 86400 * 10;
    t.not_after = now_s() + 86400 * 365;
    assert_int_equal(weft_x509_issue(&t, o->ca_key, NULL, NULL, &o->ca, NULL), 0);
    char *d = weft_asprintf("%s/cacerts", o->dir);
    write_pem_cert(d, "ca.pem", o->ca);
    weft_free(d);
}

static void torg_node_ous(struct torg *o)
{
    const char *y = "NodeOUs:\n  Enable: true\n"
                    "  ClientOUIdentifier:\n    Certificate: cacerts/ca.pem\n"
                    "    OrganizationalUnitIdentifier: client\n"
                    "  PeerOUIdentifier:\n    Certificate: cacerts/ca.pem\n"
                    "    OrganizationalUnitIdentifier: peer\n"
                    "  AdminOUIdentifier:\n    Certificate: cacerts/ca.pem\n"
                    "    OrganizationalUnitIdentifier: admin\n"
                    "  OrdererOUIdentifier:\n    Certificate: cacerts/ca.pem\n"
                    "    OrganizationalUnitIdentifier: orderer\n";
    char *p = weft_asprintf("%s/config.yaml", o->dir);
    assert_int_equal(wt_write_file(p, y, strlen(y)), 0);
    weft_free(p);
}

static void torg_free(struct torg *o)
{
    weft_free(o->dir);
    weft_key_free(o->ca_key);
    weft_x509_free(o->ca);
}

static struct weft_msp *torg_msp(struct torg *o)
{
    struct weft_msp *m = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    int rc = weft_msp_load_dir(o->dir, o->mspid, &m, &err);
    if (rc != 0) {
        fail_msg("load %s: %s", o->dir, err.msg);
    }
    return m;
}

static struct weft_msp_identity *ident(struct weft_msp *m, const struct weft_x509 *c)
{
    size_t len = 0;
    uint8_t *ser = serialize(weft_msp_id(m), c, &len);
    struct weft_msp_identity *id = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    int rc = weft_msp_deserialize(m, ser, len, &id, &err);
    weft_free(ser);
    if (rc != 0) {
        fail_msg("deserialize: %s", err.msg);
    }
    return id;
}

/* ---- parser --------------------------------------------------------------- */

static Common__SignaturePolicyEnvelope *parse_env(const char *text)
{
    uint8_t *b = NULL;
    size_t n = 0;
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_policy_parse(text, &b, &n, &err) != 0) {
        fail_msg("parse %s: %s", text, err.msg);
    }
    Common__SignaturePolicyEnvelope *e = common__signature_policy_envelope__unpack(NULL, n, b);
    weft_free(b);
    assert_non_null(e);
    return e;
}

static void assert_role(const Common__MSPPrincipal *p, const char *mspid, int role)
{
    assert_int_equal(p->principal_classification, COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE);
    Common__MSPRole *r = common__msprole__unpack(NULL, p->principal.len, p->principal.data);
    assert_non_null(r);
    assert_string_equal(r->msp_identifier, mspid);
    assert_int_equal(r->role, role);
    common__msprole__free_unpacked(r, NULL);
}

static void test_parse_structure(void **state)
{
    (void)state;
    /* nested gates are numbered before the enclosing gate's principals */
    Common__SignaturePolicyEnvelope *e =
        parse_env("OR('A.member', AND('B.peer', \"C.admin\"), 'D-x.y.client')");
    assert_int_equal(e->version, 0);
    assert_int_equal(e->n_identities, 4);
    assert_role(e->identities[0], "B", 3);
    assert_role(e->identities[1], "C", 1);
    assert_role(e->identities[2], "A", 0);
    assert_role(e->identities[3], "D-x.y", 2);
    const Common__SignaturePolicy *r = e->rule;
    assert_int_equal(r->type_case, COMMON__SIGNATURE_POLICY__TYPE_N_OUT_OF);
    assert_int_equal(r->n_out_of->n, 1);
    assert_int_equal(r->n_out_of->n_rules, 3);
    assert_int_equal(r->n_out_of->rules[0]->signed_by, 2);
    assert_int_equal(r->n_out_of->rules[1]->n_out_of->n, 2);
    assert_int_equal(r->n_out_of->rules[1]->n_out_of->rules[0]->signed_by, 0);
    assert_int_equal(r->n_out_of->rules[1]->n_out_of->rules[1]->signed_by, 1);
    assert_int_equal(r->n_out_of->rules[2]->signed_by, 3);
    common__signature_policy_envelope__free_unpacked(e, NULL);

    /* no de-duplication; OutOf threshold; gate spellings */
    e = parse_env("outof(2, 'A.peer', 'A.peer', OR('B.orderer'))");
    assert_int_equal(e->n_identities, 3);
    assert_role(e->identities[0], "B", 4);
    assert_role(e->identities[1], "A", 3);
    assert_role(e->identities[2], "A", 3);
    assert_int_equal(e->rule->n_out_of->n, 2);
    common__signature_policy_envelope__free_unpacked(e, NULL);

    /* t = n + 1 is accepted (never satisfiable), as in Fabric */
    e = parse_env("OUTOF(2, 'A.member')");
    assert_int_equal(e->rule->n_out_of->n, 2);
    common__signature_policy_envelope__free_unpacked(e, NULL);

    /* and/And/AND */
    e = parse_env(" And( 'A.member' , and('B.member') ) ");
    assert_int_equal(e->rule->n_out_of->n, 2);
    common__signature_policy_envelope__free_unpacked(e, NULL);
}

static void expect_parse_error(const char *text, const char *needle)
{
    uint8_t *b = NULL;
    size_t n = 0;
    struct weft_err err;
    weft_err_clear(&err);
    int rc = weft_policy_parse(text, &b, &n, &err);
    if (rc == 0) {
        weft_free(b);
        fail_msg("'%s' parsed", text);
    }
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, needle);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("OR('A.member'", "offset 13");
    expect_parse_error("AND('A.foo')", "offset 4: unrecognized token 'A.foo'");
    expect_parse_error("XOR('A.member')", "offset 0: unknown gate");
    expect_parse_error("oR('A.member')", "unknown gate");
    expect_parse_error("OutOf(3, 'A.member')", "invalid t-out-of-n predicate, t 3, n 1");
    expect_parse_error("OR()", "offset 3");
    expect_parse_error("AND()", "at least one");
    expect_parse_error("'A.member'", "must start with a gate");
    expect_parse_error("OR('A.member') x", "offset 15: unexpected text");
    expect_parse_error("OR('A.member',)", "offset 14");
    expect_parse_error("OutOf('A.member')", "threshold");
    expect_parse_error("OR('A member.peer')", "unrecognized token");
    expect_parse_error("OR('.peer')", "unrecognized token");
    expect_parse_error("", "offset 0");
    /* nesting bound */
    char deep[1024] = {0};
    size_t at = 0;
    for (int i = 0; i < 100; i++) {
        at += (size_t)snprintf(deep + at, sizeof(deep) - at, "OR(");
    }
    snprintf(deep + at, sizeof(deep) - at, "'A.member'");
    expect_parse_error(deep, "too deeply");
}

/* Finds group path a/b/c in a config. */
static const Common__ConfigGroup *group_at(const Common__ConfigGroup *g, const char *const *path,
                                           size_t n)
{
    for (size_t d = 0; d < n && g != NULL; d++) {
        const Common__ConfigGroup *next = NULL;
        for (size_t i = 0; i < g->n_groups; i++) {
            if (strcmp(g->groups[i]->key, path[d]) == 0) {
                next = g->groups[i]->value;
            }
        }
        g = next;
    }
    return g;
}

static Common__Config *genesis_config(Common__Block **blk, Common__Envelope **env,
                                      Common__Payload **pl, Common__ConfigEnvelope **ce)
{
    char *p = vec("blocks/000000.block");
    size_t len = 0;
    char *data = wt_read_file(p, &len);
    weft_free(p);
    assert_non_null(data);
    *blk = common__block__unpack(NULL, len, (uint8_t *)data);
    weft_free(data);
    assert_non_null(*blk);
    assert_true((*blk)->data->n_data >= 1);
    *env = common__envelope__unpack(NULL, (*blk)->data->data[0].len, (*blk)->data->data[0].data);
    assert_non_null(*env);
    *pl = common__payload__unpack(NULL, (*env)->payload.len, (*env)->payload.data);
    assert_non_null(*pl);
    *ce = common__config_envelope__unpack(NULL, (*pl)->data.len, (*pl)->data.data);
    assert_non_null(*ce);
    return (*ce)->config;
}

static void genesis_free(Common__Block *b, Common__Envelope *e, Common__Payload *p,
                         Common__ConfigEnvelope *c)
{
    common__config_envelope__free_unpacked(c, NULL);
    common__payload__free_unpacked(p, NULL);
    common__envelope__free_unpacked(e, NULL);
    common__block__free_unpacked(b, NULL);
}

/* Policies in the vectors' genesis block were made by configtxgen with
 * Fabric's policydsl: our parser must give the same bytes. Likewise the MSP
 * value must equal our verifying MSPConfig built from the same folder. */
static void test_parse_matches_configtxgen(void **state)
{
    (void)state;
    Common__Block *b;
    Common__Envelope *e;
    Common__Payload *p;
    Common__ConfigEnvelope *ce;
    Common__Config *cfg = genesis_config(&b, &e, &p, &ce);
    static const struct {
        const char *org;
        const char *policy;
        const char *rule;
    } cases[] = {
        {"Org1MSP", "Readers", "OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')"},
        {"Org1MSP", "Writers", "OR('Org1MSP.admin', 'Org1MSP.client')"},
        {"Org1MSP", "Admins", "OR('Org1MSP.admin')"},
        {"Org1MSP", "Endorsement", "OR('Org1MSP.peer')"},
        {"Org2MSP", "Readers", "OR('Org2MSP.admin', 'Org2MSP.peer', 'Org2MSP.client')"},
    };
    int checked = 0;
    for (size_t i = 0; i < WEFT_ARRAY_LEN(cases); i++) {
        const char *path[2] = {"Application", cases[i].org};
        const Common__ConfigGroup *g = group_at(cfg->channel_group, path, 2);
        assert_non_null(g);
        for (size_t k = 0; k < g->n_policies; k++) {
            if (strcmp(g->policies[k]->key, cases[i].policy) != 0) {
                continue;
            }
            const Common__Policy *pol = g->policies[k]->value->policy;
            assert_int_equal(pol->type, 1);
            uint8_t *bytes = NULL;
            size_t n = 0;
            assert_int_equal(weft_policy_parse(cases[i].rule, &bytes, &n, NULL), 0);
            assert_int_equal(n, pol->value.len);
            assert_memory_equal(bytes, pol->value.data, n);
            weft_free(bytes);
            checked++;
        }
    }
    assert_int_equal(checked, (int)WEFT_ARRAY_LEN(cases));

    /* implicit meta rules */
    const char *app[1] = {"Application"};
    const Common__ConfigGroup *ag = group_at(cfg->channel_group, app, 1);
    assert_non_null(ag);
    for (size_t k = 0; k < ag->n_policies; k++) {
        if (strcmp(ag->policies[k]->key, "Endorsement") == 0) {
            uint8_t *bytes = NULL;
            size_t n = 0;
            assert_int_equal(weft_policy_parse_implicit("MAJORITY Endorsement", &bytes, &n, NULL),
                             0);
            const Common__Policy *pol = ag->policies[k]->value->policy;
            assert_int_equal(pol->type, 3);
            assert_int_equal(n, pol->value.len);
            assert_memory_equal(bytes, pol->value.data, n);
            weft_free(bytes);
            checked++;
        }
    }
    assert_int_equal(checked, (int)WEFT_ARRAY_LEN(cases) + 1);

    /* MSP value of Org1MSP == our verifying config from its msp folder */
    const char *o1[2] = {"Application", "Org1MSP"};
    const Common__ConfigGroup *g = group_at(cfg->channel_group, o1, 2);
    bool found = false;
    for (size_t k = 0; k < g->n_values; k++) {
        if (strcmp(g->values[k]->key, "MSP") != 0) {
            continue;
        }
        char *dir = vec("crypto/peerOrganizations/org1.example.com/msp");
        uint8_t *mine = NULL;
        size_t n = 0;
        struct weft_err err;
        weft_err_clear(&err);
        assert_int_equal(weft_msp_config_from_dir(dir, "Org1MSP", false, &mine, &n, &err), 0);
        assert_int_equal(n, g->values[k]->value->value.len);
        assert_memory_equal(mine, g->values[k]->value->value.data, n);
        /* and a channel MSP loads from it */
        struct weft_msp *m = NULL;
        assert_int_equal(weft_msp_new(mine, n, 0, &m, &err), 0);
        assert_string_equal(weft_msp_id(m), "Org1MSP");
        assert_true(weft_msp_node_ous_enabled(m));
        assert_null(weft_msp_signer(m));
        weft_msp_unref(m);
        weft_free(mine);
        weft_free(dir);
        found = true;
    }
    assert_true(found);
    genesis_free(b, e, p, ce);
}

/* ---- vector MSPs ---------------------------------------------------------- */

static void test_vector_msps(void **state)
{
    (void)state;
    struct weft_err err;
    weft_err_clear(&err);
    char *org1 = vec("crypto/peerOrganizations/org1.example.com/msp");
    char *peer0 = vec("crypto/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp");
    struct weft_msp *m1 = NULL, *local = NULL;
    assert_int_equal(weft_msp_load_dir(org1, "Org1MSP", &m1, &err), 0);
    if (weft_msp_load_dir(peer0, "Org1MSP", &local, &err) != 0) {
        fail_msg("%s", err.msg);
    }
    /* the local signer signs; the channel MSP verifies */
    struct weft_msp_identity *signer = weft_msp_signer(local);
    assert_non_null(signer);
    assert_int_equal(weft_msp_identity_node_ous(signer), WEFT_MSP_OU_PEER);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sl = 0;
    const char *msg = "proposal bytes";
    assert_int_equal(weft_msp_sign(local, (const uint8_t *)msg, strlen(msg), sig, &sl, NULL), 0);
    assert_int_equal(weft_ecdsa_sig_is_low_s(sig, sl), 1);
    size_t ser_len = 0;
    const uint8_t *ser = weft_msp_identity_serialized(signer, &ser_len);
    struct weft_msp_identity *id = NULL;
    assert_int_equal(weft_msp_deserialize(m1, ser, ser_len, &id, &err), 0);
    assert_int_equal(
        weft_msp_identity_verify(id, NULL, (const uint8_t *)msg, strlen(msg), sig, sl, NULL), 0);
    assert_int_equal(weft_msp_identity_verify(id, NULL, (const uint8_t *)"other", 5, sig, sl, NULL),
                     WEFT_EBADSIG);
    assert_string_equal(weft_msp_identity_id(id), weft_msp_identity_id(signer));
    assert_int_equal(strlen(weft_msp_identity_id(id)), 64);
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_PEER, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_MEMBER, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_CLIENT, NULL),
                     WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_ADMIN, NULL), WEFT_EPOLICY);
    weft_msp_identity_unref(id);

    static const struct {
        const char *path;
        unsigned ous;
        int member, admin, client, peer, orderer;
    } cases[] = {
        {"crypto/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp/signcerts/"
         "User1@org1.example.com-cert.pem",
         WEFT_MSP_OU_CLIENT, 0, WEFT_EPOLICY, 0, WEFT_EPOLICY, WEFT_EPOLICY},
        {"crypto/peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp/signcerts/"
         "Admin@org1.example.com-cert.pem",
         WEFT_MSP_OU_ADMIN, 0, 0, WEFT_EPOLICY, WEFT_EPOLICY, WEFT_EPOLICY},
        {"crypto/peerOrganizations/org1.example.com/peers/ccaas.org1.example.com/msp/signcerts/"
         "ccaas.org1.example.com-cert.pem",
         WEFT_MSP_OU_PEER, 0, WEFT_EPOLICY, WEFT_EPOLICY, 0, WEFT_EPOLICY},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(cases); i++) {
        char *p = vec(cases[i].path);
        struct weft_x509 *c = load_cert(p);
        id = ident(m1, c);
        assert_int_equal(weft_msp_identity_validate(id, NULL), 0);
        assert_int_equal(weft_msp_identity_node_ous(id), cases[i].ous);
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_MEMBER, NULL),
                         cases[i].member);
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_ADMIN, NULL),
                         cases[i].admin);
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_CLIENT, NULL),
                         cases[i].client);
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_PEER, NULL),
                         cases[i].peer);
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_ORDERER, NULL),
                         cases[i].orderer);
        assert_int_equal(weft_msp_identity_is_admin(id), cases[i].admin == 0);
        weft_msp_identity_unref(id);
        weft_x509_free(c);
        weft_free(p);
    }

    /* wrong CA: org2's user claiming Org1MSP */
    char *p2 = vec("crypto/peerOrganizations/org2.example.com/users/User1@org2.example.com/msp/"
                   "signcerts/User1@org2.example.com-cert.pem");
    struct weft_x509 *c2 = load_cert(p2);
    id = ident(m1, c2);
    weft_err_clear(&err);
    assert_int_equal(weft_msp_identity_validate(id, &err), WEFT_EPERM);
    assert_non_null(strstr(err.msg, "not valid"));
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_MEMBER, NULL),
                     WEFT_EPOLICY);
    weft_msp_identity_unref(id);
    /* a SerializedIdentity naming another MSP is refused by this MSP */
    size_t l2 = 0;
    uint8_t *s2 = serialize("Org2MSP", c2, &l2);
    assert_int_equal(weft_msp_deserialize(m1, s2, l2, &id, NULL), WEFT_ENOTFOUND);
    /* the manager routes by MSP ID and caches */
    struct weft_msp_mgr *mgr = weft_msp_mgr_new(2);
    assert_non_null(mgr);
    char *org2 = vec("crypto/peerOrganizations/org2.example.com/msp");
    struct weft_msp *m2 = NULL;
    assert_int_equal(weft_msp_load_dir(org2, "Org2MSP", &m2, NULL), 0);
    assert_int_equal(weft_msp_mgr_add(mgr, m1, NULL), 0);
    assert_int_equal(weft_msp_mgr_add(mgr, m2, NULL), 0);
    assert_int_equal(weft_msp_mgr_add(mgr, m2, NULL), WEFT_EEXIST);
    struct weft_msp_identity *a = NULL, *b = NULL;
    assert_int_equal(weft_msp_mgr_deserialize(mgr, s2, l2, &a, NULL), 0);
    assert_int_equal(weft_msp_identity_validate(a, NULL), 0);
    assert_int_equal(weft_msp_mgr_deserialize(mgr, s2, l2, &b, NULL), 0);
    assert_ptr_equal(a, b);
    uint64_t hits, misses;
    weft_msp_mgr_cache_stats(mgr, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    /* eviction keeps working with a tiny cache */
    assert_int_equal(weft_msp_mgr_deserialize(mgr, ser, ser_len, &id, NULL), 0);
    weft_msp_identity_unref(id);
    char *pu = vec("crypto/peerOrganizations/org1.example.com/users/User1@org1.example.com/msp/"
                   "signcerts/User1@org1.example.com-cert.pem");
    struct weft_x509 *cu = load_cert(pu);
    size_t lu = 0;
    uint8_t *su = serialize("Org1MSP", cu, &lu);
    assert_int_equal(weft_msp_mgr_deserialize(mgr, su, lu, &id, NULL), 0);
    weft_msp_identity_unref(id);
    Msp__SerializedIdentity unk = MSP__SERIALIZED_IDENTITY__INIT;
    unk.mspid = (char *)"NopeMSP";
    uint8_t ub[64];
    size_t ul = msp__serialized_identity__pack(&unk, ub);
    assert_int_equal(weft_msp_mgr_deserialize(mgr, ub, ul, &id, NULL), WEFT_ENOTFOUND);
    assert_int_equal(weft_msp_mgr_deserialize(mgr, (const uint8_t *)"\xff\xff", 2, &id, NULL),
                     WEFT_EPARSE);
    weft_msp_identity_unref(a);
    weft_msp_identity_unref(b);
    weft_msp_mgr_free(mgr);
    weft_free(su);
    weft_x509_free(cu);
    weft_free(pu);
    weft_msp_unref(m2);
    weft_free(org2);
    weft_free(s2);
    weft_x509_free(c2);
    weft_free(p2);
    weft_msp_unref(local);
    weft_msp_unref(m1);
    weft_free(org1);
    weft_free(peer0);
}

/* ---- generated identities ------------------------------------------------- */

static void test_identity_validation(void **state)
{
    (void)state;
    char *base = wt_tmpdir("msp-val");
    struct torg o, other;
    torg_init(&o, base, "ValMSP");
    torg_init(&other, base, "OtherMSP");
    torg_node_ous(&o);
    int64_t now = now_s();
    const char *client[1] = {"client"};
    const char *two[2] = {"client", "peer"};
    const char *foo[1] = {"foo"};
    struct weft_x509 *valid = issue(&o, "valid", client, 1, now - 60, now + 86400, NULL);
    struct weft_x509 *expired = issue(&o, "expired", client, 1, now - 86400 * 3, now - 86400, NULL);
    struct weft_x509 *revoked = issue(&o, "revoked", client, 1, now - 60, now + 86400, NULL);
    struct weft_x509 *wrong_ou = issue(&o, "wrongou", foo, 1, now - 60, now + 86400, NULL);
    struct weft_x509 *no_ou = issue(&o, "noou", NULL, 0, now - 60, now + 86400, NULL);
    struct weft_x509 *combo = issue(&o, "combo", two, 2, now - 60, now + 86400, NULL);
    struct weft_x509 *foreign = issue(&other, "foreign", client, 1, now - 60, now + 86400, NULL);
    /* CRL revoking one certificate */
    char *crl = NULL;
    size_t crl_len = 0;
    assert_int_equal(
        weft_crl_issue(o.ca, o.ca_key, &revoked, 1, now - 10, now + 86400, &crl, &crl_len, NULL),
        0);
    char *crldir = weft_asprintf("%s/crls", o.dir);
    mkdir(crldir, 0755);
    char *crlpath = weft_asprintf("%s/crl.pem", crldir);
    assert_int_equal(wt_write_file(crlpath, crl, crl_len), 0);
    struct weft_msp *m = torg_msp(&o);
    struct weft_err err;

    struct weft_msp_identity *id = ident(m, valid);
    assert_int_equal(weft_msp_identity_validate(id, NULL), 0);
    assert_int_equal(weft_msp_identity_check_expiry(id, 0, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_CLIENT, NULL), 0);
    weft_msp_identity_unref(id);

    /* Fabric validates at NotBefore + 1 s: an expired identity is valid, the
     * expiry check (endorser, broadcast) rejects it */
    id = ident(m, expired);
    assert_int_equal(weft_msp_identity_validate(id, NULL), 0);
    weft_err_clear(&err);
    assert_int_equal(weft_msp_identity_check_expiry(id, 0, &err), WEFT_EPERM);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(weft_msp_identity_check_expiry(id, now - 86400 * 2, NULL), 0);
    weft_msp_identity_unref(id);

    struct {
        struct weft_x509 *c;
        const char *reason;
    } bad[] = {
        {revoked, "revoked"},           {wrong_ou, "does not have an OU"},
        {no_ou, "does not have an OU"}, {combo, "not a combination"},
        {foreign, "not valid"},         {o.ca, "Certificate Authority"},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(bad); i++) {
        id = ident(m, bad[i].c);
        weft_err_clear(&err);
        assert_int_equal(weft_msp_identity_validate(id, &err), WEFT_EPERM);
        if (strstr(err.msg, bad[i].reason) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].reason);
        }
        assert_int_equal(weft_msp_identity_satisfies_role(id, WEFT_MSP_ROLE_MEMBER, NULL),
                         WEFT_EPOLICY);
        weft_msp_identity_unref(id);
    }
    /* garbage identities fail to deserialize, never crash */
    size_t l = 0;
    uint8_t *ser = serialize("ValMSP", valid, &l);
    for (size_t cut = 0; cut < l; cut += 37) {
        struct weft_msp_identity *x = NULL;
        if (weft_msp_deserialize(m, ser, cut, &x, NULL) == 0) {
            weft_msp_identity_unref(x);
        }
    }
    weft_free(ser);
    weft_msp_unref(m);
    weft_free(crl);
    weft_free(crldir);
    weft_free(crlpath);
    weft_x509_free(valid);
    weft_x509_free(expired);
    weft_x509_free(revoked);
    weft_x509_free(wrong_ou);
    weft_x509_free(no_ou);
    weft_x509_free(combo);
    weft_x509_free(foreign);
    torg_free(&o);
    torg_free(&other);
    wt_rmtree(base);
    weft_free(base);
}

static void test_admins(void **state)
{
    (void)state;
    char *base = wt_tmpdir("msp-adm");
    /* NodeOUs off: admins only through admincerts */
    struct torg o;
    torg_init(&o, base, "PlainMSP");
    struct weft_x509 *admin = issue_ou(&o, "admin1", NULL, NULL);
    struct weft_x509 *user = issue_ou(&o, "user1", NULL, NULL);
    /* without admincerts and NodeOUs, set-up fails like Fabric's */
    struct weft_msp *m = NULL;
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(weft_msp_load_dir(o.dir, o.mspid, &m, &err), WEFT_ECONFIG);
    assert_non_null(strstr(err.msg, "administrators must be declared"));
    char *ad = weft_asprintf("%s/admincerts", o.dir);
    write_pem_cert(ad, "admin.pem", admin);
    m = torg_msp(&o);
    struct weft_msp_identity *ia = ident(m, admin), *iu = ident(m, user);
    assert_int_equal(weft_msp_identity_satisfies_role(ia, WEFT_MSP_ROLE_ADMIN, NULL), 0);
    assert_true(weft_msp_identity_is_admin(ia));
    assert_int_equal(weft_msp_identity_satisfies_role(iu, WEFT_MSP_ROLE_ADMIN, NULL), WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_satisfies_role(iu, WEFT_MSP_ROLE_MEMBER, NULL), 0);
    /* client/peer/orderer cannot be told apart without NodeOUs */
    assert_int_equal(weft_msp_identity_satisfies_role(iu, WEFT_MSP_ROLE_CLIENT, NULL),
                     WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_satisfies_role(ia, WEFT_MSP_ROLE_PEER, NULL), WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_node_ous(iu), 0);
    weft_msp_identity_unref(ia);
    weft_msp_identity_unref(iu);
    weft_msp_unref(m);

    /* NodeOUs on, no admincerts: the admin OU makes an admin */
    struct torg n;
    torg_init(&n, base, "OuMSP");
    torg_node_ous(&n);
    struct weft_x509 *oadmin = issue_ou(&n, "admin2", "admin", NULL);
    struct weft_x509 *oclient = issue_ou(&n, "client2", "client", NULL);
    struct weft_x509 *oorderer = issue_ou(&n, "orderer2", "orderer", NULL);
    m = torg_msp(&n);
    ia = ident(m, oadmin);
    iu = ident(m, oclient);
    struct weft_msp_identity *io = ident(m, oorderer);
    assert_int_equal(weft_msp_identity_satisfies_role(ia, WEFT_MSP_ROLE_ADMIN, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies_role(iu, WEFT_MSP_ROLE_ADMIN, NULL), WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_satisfies_role(io, WEFT_MSP_ROLE_ORDERER, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies_role(io, WEFT_MSP_ROLE_PEER, NULL), WEFT_EPOLICY);

    /* other principal kinds */
    Common__MSPRole role = COMMON__MSPROLE__INIT;
    role.msp_identifier = (char *)"OtherMSP";
    role.role = COMMON__MSPROLE__MSPROLE_TYPE__MEMBER;
    uint8_t rb[128];
    Common__MSPPrincipal pr = COMMON__MSPPRINCIPAL__INIT;
    pr.principal.data = rb;
    pr.principal.len = common__msprole__pack(&role, rb);
    uint8_t pb[256];
    size_t pl = common__mspprincipal__pack(&pr, pb);
    weft_err_clear(&err);
    assert_int_equal(weft_msp_identity_satisfies(iu, pb, pl, &err), WEFT_EPOLICY);
    assert_non_null(strstr(err.msg, "different MSP"));
    /* IDENTITY principal */
    size_t sl = 0;
    uint8_t *ser = serialize("OuMSP", oclient, &sl);
    Common__MSPPrincipal ip = COMMON__MSPPRINCIPAL__INIT;
    ip.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__IDENTITY;
    ip.principal.data = ser;
    ip.principal.len = sl;
    uint8_t *ipb = weft_malloc(common__mspprincipal__get_packed_size(&ip));
    size_t ipl = common__mspprincipal__pack(&ip, ipb);
    assert_int_equal(weft_msp_identity_satisfies(iu, ipb, ipl, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies(ia, ipb, ipl, NULL), WEFT_EPOLICY);
    /* ORGANIZATION_UNIT principal: OU + certifiers id (hash of the CA cert) */
    size_t cal = 0;
    const uint8_t *cader = weft_x509_der(n.ca, &cal);
    uint8_t cert_id[WEFT_SHA256_LEN];
    weft_sha256(cader, cal, cert_id);
    Common__OrganizationUnit ou = COMMON__ORGANIZATION_UNIT__INIT;
    ou.msp_identifier = (char *)"OuMSP";
    ou.organizational_unit_identifier = (char *)"client";
    ou.certifiers_identifier.data = cert_id;
    ou.certifiers_identifier.len = sizeof(cert_id);
    uint8_t oub[256];
    Common__MSPPrincipal op = COMMON__MSPPRINCIPAL__INIT;
    op.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__ORGANIZATION_UNIT;
    op.principal.data = oub;
    op.principal.len = common__organization_unit__pack(&ou, oub);
    uint8_t opb[512];
    size_t opl = common__mspprincipal__pack(&op, opb);
    assert_int_equal(weft_msp_identity_satisfies(iu, opb, opl, NULL), 0);
    assert_int_equal(weft_msp_identity_satisfies(ia, opb, opl, NULL), WEFT_EPOLICY);
    cert_id[0] ^= 1;
    op.principal.len = common__organization_unit__pack(&ou, oub);
    opl = common__mspprincipal__pack(&op, opb);
    assert_int_equal(weft_msp_identity_satisfies(iu, opb, opl, NULL), WEFT_EPOLICY);
    /* ANONYMITY and COMBINED */
    Common__MSPIdentityAnonymity an = COMMON__MSPIDENTITY_ANONYMITY__INIT;
    an.anonymity_type = COMMON__MSPIDENTITY_ANONYMITY__MSPIDENTITY_ANONYMITY_TYPE__NOMINAL;
    uint8_t anb[16];
    Common__MSPPrincipal ap = COMMON__MSPPRINCIPAL__INIT;
    ap.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__ANONYMITY;
    ap.principal.data = anb;
    ap.principal.len = common__mspidentity_anonymity__pack(&an, anb);
    uint8_t apb[64];
    size_t apl = common__mspprincipal__pack(&ap, apb);
    assert_int_equal(weft_msp_identity_satisfies(iu, apb, apl, NULL), 0);
    an.anonymity_type = COMMON__MSPIDENTITY_ANONYMITY__MSPIDENTITY_ANONYMITY_TYPE__ANONYMOUS;
    ap.principal.len = common__mspidentity_anonymity__pack(&an, anb);
    apl = common__mspprincipal__pack(&ap, apb);
    assert_int_equal(weft_msp_identity_satisfies(iu, apb, apl, NULL), WEFT_EPOLICY);
    Common__MSPPrincipal *subs[2] = {&ip, &pr};
    Common__CombinedPrincipal cp = COMMON__COMBINED_PRINCIPAL__INIT;
    cp.principals = subs;
    cp.n_principals = 1;
    uint8_t *cpb = weft_malloc(4096);
    Common__MSPPrincipal cpp = COMMON__MSPPRINCIPAL__INIT;
    cpp.principal_classification = COMMON__MSPPRINCIPAL__CLASSIFICATION__COMBINED;
    cpp.principal.data = cpb;
    cpp.principal.len = common__combined_principal__pack(&cp, cpb);
    uint8_t *cppb = weft_malloc(8192);
    size_t cppl = common__mspprincipal__pack(&cpp, cppb);
    assert_int_equal(weft_msp_identity_satisfies(iu, cppb, cppl, NULL), 0);
    cp.n_principals = 2; /* adds the OtherMSP member role */
    cpp.principal.len = common__combined_principal__pack(&cp, cpb);
    cppl = common__mspprincipal__pack(&cpp, cppb);
    assert_int_equal(weft_msp_identity_satisfies(iu, cppb, cppl, NULL), WEFT_EPOLICY);
    assert_int_equal(weft_msp_identity_satisfies(iu, (const uint8_t *)"\x0a", 1, NULL),
                     WEFT_EPARSE);
    weft_free(cpb);
    weft_free(cppb);
    weft_free(ipb);
    weft_free(ser);
    weft_msp_identity_unref(ia);
    weft_msp_identity_unref(iu);
    weft_msp_identity_unref(io);
    weft_msp_unref(m);
    weft_x509_free(oadmin);
    weft_x509_free(oclient);
    weft_x509_free(oorderer);
    weft_x509_free(admin);
    weft_x509_free(user);
    weft_free(ad);
    torg_free(&o);
    torg_free(&n);
    wt_rmtree(base);
    weft_free(base);
}

/* ---- policies ------------------------------------------------------------- */

#define NORGS 4
static const char *const role_ou[] = {"peer", "peer", "admin", "client", "orderer"};

struct signer {
    struct weft_key *key;
    uint8_t *ser;
    size_t ser_len;
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len;
};

struct pfix {
    char *base;
    struct torg orgs[NORGS];
    struct weft_msp_mgr *mgr;
    /* per org: [0] peer0, [1] peer1, [2] admin, [3] client, [4] orderer */
    struct signer s[NORGS][5];
};

static const char *MSG = "the signed bytes";

static void pfix_init(struct pfix *f)
{
    memset(f, 0, sizeof(*f));
    f->base = wt_tmpdir("msp-pol");
    f->mgr = weft_msp_mgr_new(0);
    assert_non_null(f->mgr);
    for (int i = 0; i < NORGS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "O%d", i + 1);
        torg_init(&f->orgs[i], f->base, id);
        torg_node_ous(&f->orgs[i]);
        struct weft_msp *m = torg_msp(&f->orgs[i]);
        assert_int_equal(weft_msp_mgr_add(f->mgr, m, NULL), 0);
        weft_msp_unref(m);
        for (int r = 0; r < 5; r++) {
            struct signer *s = &f->s[i][r];
            char cn[32];
            snprintf(cn, sizeof(cn), "%s-%d", role_ou[r], r);
            struct weft_x509 *c = issue_ou(&f->orgs[i], cn, role_ou[r], &s->key);
            s->ser = serialize(id, c, &s->ser_len);
            assert_int_equal(weft_ecdsa_sign(s->key, MSG, strlen(MSG), s->sig, &s->sig_len, NULL),
                             0);
            weft_x509_free(c);
        }
    }
}

static void pfix_free(struct pfix *f)
{
    for (int i = 0; i < NORGS; i++) {
        for (int r = 0; r < 5; r++) {
            weft_key_free(f->s[i][r].key);
            weft_free(f->s[i][r].ser);
        }
        torg_free(&f->orgs[i]);
    }
    weft_msp_mgr_free(f->mgr);
    wt_rmtree(f->base);
    weft_free(f->base);
}

/* Signer set notation: "1p" = O1 peer0, "1q" = O1 peer1, "1a" admin,
 * "1c" client, "1o" orderer, "1x" = O1 peer0 with a bad signature. */
static size_t signed_set(struct pfix *f, const char *spec, struct weft_signed_data *sd,
                         uint8_t bad[][WEFT_ECDSA_SIG_MAX])
{
    size_t n = 0;
    for (const char *p = spec; p[0] != '\0' && p[1] != '\0'; p += 2) {
        while (*p == ' ') {
            p++;
        }
        int org = p[0] - '1';
        const char *kinds = "pqaco";
        const char *k = strchr(kinds, p[1]);
        int r = k ? (int)(k - kinds) : 0;
        struct signer *s = &f->s[org][r];
        sd[n].identity = s->ser;
        sd[n].identity_len = s->ser_len;
        sd[n].data = (const uint8_t *)MSG;
        sd[n].data_len = strlen(MSG);
        sd[n].signature = s->sig;
        sd[n].signature_len = s->sig_len;
        if (p[1] == 'x') {
            memcpy(bad[n], s->sig, s->sig_len);
            bad[n][s->sig_len - 1] ^= 0x01;
            sd[n].signature = bad[n];
        } else if (p[1] == 'h') { /* high-S twin of a valid signature */
            size_t hl = 0;
            assert_int_equal(weft_ecdsa_sig_flip_s(s->sig, s->sig_len, bad[n], &hl), 0);
            sd[n].signature = bad[n];
            sd[n].signature_len = hl;
        }
        n++;
    }
    return n;
}

static void test_policy_table(void **state)
{
    (void)state;
    struct pfix f;
    pfix_init(&f);
    struct weft_vcache *cache = weft_vcache_new(1024);
    struct weft_verifier *ver = weft_verifier_new(2, cache);
    assert_non_null(ver);
    static const struct {
        const char *policy;
        const char *signers;
        int expect; /* 0 or WEFT_EPOLICY */
    } table[] = {
        {"OR('O1.member')", "1p", 0},
        {"OR('O1.member')", "2p", WEFT_EPOLICY},
        {"OR('O1.member')", "", WEFT_EPOLICY},
        {"OR('O1.peer')", "1c", WEFT_EPOLICY},
        {"OR('O1.peer')", "1a", WEFT_EPOLICY},
        {"OR('O1.admin')", "1a", 0},
        {"OR('O1.client')", "1c", 0},
        {"OR('O1.orderer')", "1o", 0},
        {"OR('O1.orderer')", "1p", WEFT_EPOLICY},
        {"AND('O1.peer','O2.peer')", "1p 2p", 0},
        {"AND('O1.peer','O2.peer')", "2p 1p", 0},
        {"AND('O1.peer','O2.peer')", "1p", WEFT_EPOLICY},
        {"AND('O1.peer','O2.peer')", "1p 2c", WEFT_EPOLICY},
        /* each signer counts once */
        {"AND('O1.peer','O1.peer')", "1p", WEFT_EPOLICY},
        {"AND('O1.peer','O1.peer')", "1p 1p", WEFT_EPOLICY}, /* duplicate signer */
        {"AND('O1.peer','O1.peer')", "1p 1q", 0},
        {"AND('O1.member','O1.peer')", "1c 1p", 0},
        /* greedy: the member rule takes the first signer (the peer), the
         * peer rule then finds none left (Fabric's order-dependent result) */
        {"AND('O1.member','O1.peer')", "1p 1c", WEFT_EPOLICY},
        {"AND('O1.member','O1.peer')", "1p 1c 1q", 0},
        {"OutOf(2, 'O1.peer', 'O2.peer', 'O3.peer')", "3p 1p", 0},
        {"OutOf(2, 'O1.peer', 'O2.peer', 'O3.peer')", "3p", WEFT_EPOLICY},
        {"OutOf(2, 'O1.peer', 'O2.peer', 'O3.peer')", "3p 3p 3q", WEFT_EPOLICY},
        {"OutOf(0, 'O1.peer')", "", 0},
        {"OutOf(2, 'O1.peer')", "1p 1q", WEFT_EPOLICY}, /* t = n + 1 never holds */
        /* nested OutOf */
        {"OutOf(2, OutOf(1, 'O1.peer', 'O2.peer'), OutOf(2, 'O3.peer', 'O4.peer', 'O4.admin'), "
         "'O1.admin')",
         "2p 4p 4a", 0},
        {"OutOf(2, OutOf(1, 'O1.peer', 'O2.peer'), OutOf(2, 'O3.peer', 'O4.peer', 'O4.admin'), "
         "'O1.admin')",
         "2p 4p", WEFT_EPOLICY},
        {"OutOf(2, OutOf(1, 'O1.peer', 'O2.peer'), OutOf(2, 'O3.peer', 'O4.peer', 'O4.admin'), "
         "'O1.admin')",
         "1a 3p 4p", 0},
        {"OR(AND('O1.peer','O2.peer'), AND('O3.peer','O4.peer'))", "1p 3p", WEFT_EPOLICY},
        {"OR(AND('O1.peer','O2.peer'), AND('O3.peer','O4.peer'))", "4p 3p", 0},
        /* invalid signatures are ignored, not fatal */
        {"OR('O1.peer')", "1x", WEFT_EPOLICY},
        {"OR('O1.peer')", "1h", WEFT_EPOLICY}, /* high-S rejected */
        {"OR('O1.peer')", "1x1p", 0},          /* a bad then a good signature of the same signer */
        {"AND('O1.peer','O2.peer')", "1x 2p", WEFT_EPOLICY},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(table); i++) {
        uint8_t *env = NULL;
        size_t env_len = 0;
        assert_int_equal(weft_policy_parse(table[i].policy, &env, &env_len, NULL), 0);
        struct weft_signed_data sd[16];
        uint8_t bad[16][WEFT_ECDSA_SIG_MAX];
        size_t n = signed_set(&f, table[i].signers, sd, bad);
        for (int pass = 0; pass < 2; pass++) {
            struct weft_err err;
            weft_err_clear(&err);
            int rc = weft_policy_evaluate_envelope(env, env_len, f.mgr, pass ? ver : NULL,
                                                   pass ? cache : NULL, sd, n, &err);
            if (rc != table[i].expect) {
                fail_msg("row %zu (%s with [%s], %s verifier): got %d, want %d: %s", i,
                         table[i].policy, table[i].signers, pass ? "parallel" : "inline", rc,
                         table[i].expect, err.msg);
            }
        }
        weft_free(env);
    }
    struct weft_vcache_stats st;
    weft_vcache_get_stats(cache, &st);
    assert_true(st.inserts > 0);
    weft_verifier_free(ver);
    weft_vcache_free(cache);
    pfix_free(&f);
}

static void add_sig_policy(struct weft_policy_mgr *pm, const char *path, const char *rule)
{
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(weft_policy_parse(rule, &b, &n, NULL), 0);
    struct weft_err err;
    weft_err_clear(&err);
    if (weft_policy_mgr_add(pm, path, WEFT_POLICY_SIGNATURE, b, n, &err) != 0) {
        fail_msg("%s: %s", path, err.msg);
    }
    weft_free(b);
}

static void add_meta_policy(struct weft_policy_mgr *pm, const char *path, const char *rule)
{
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(weft_policy_parse_implicit(rule, &b, &n, NULL), 0);
    assert_int_equal(weft_policy_mgr_add(pm, path, WEFT_POLICY_IMPLICIT_META, b, n, NULL), 0);
    weft_free(b);
}

static void test_implicit_meta(void **state)
{
    (void)state;
    struct pfix f;
    pfix_init(&f);
    /* MAJORITY over k orgs: threshold k/2 + 1 */
    static const struct {
        int orgs;
        const char *signers;
        int expect;
    } table[] = {
        {1, "1p", 0},
        {1, "", WEFT_EPOLICY},
        {2, "1p", WEFT_EPOLICY},
        {2, "1p 2p", 0},
        {3, "1p", WEFT_EPOLICY},
        {3, "1p 3p", 0},
        {3, "3p 3q", WEFT_EPOLICY},
        {4, "1p 2p", WEFT_EPOLICY},
        {4, "1p 2p 4p", 0},
        {4, "1p 2p 4c", WEFT_EPOLICY},
        {4, "1p 2p 3p 4p", 0},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(table); i++) {
        struct weft_policy_mgr *pm = weft_policy_mgr_new(f.mgr, NULL, NULL);
        assert_non_null(pm);
        for (int o = 0; o < table[i].orgs; o++) {
            char path[64], rule[64];
            snprintf(path, sizeof(path), "/Channel/Application/O%d/Endorsement", o + 1);
            snprintf(rule, sizeof(rule), "OR('O%d.peer')", o + 1);
            add_sig_policy(pm, path, rule);
        }
        add_meta_policy(pm, "/Channel/Application/Endorsement", "MAJORITY Endorsement");
        struct weft_signed_data sd[16];
        uint8_t bad[16][WEFT_ECDSA_SIG_MAX];
        size_t n = signed_set(&f, table[i].signers, sd, bad);
        struct weft_err err;
        weft_err_clear(&err);
        int rc = weft_policy_mgr_evaluate(pm, "/Channel/Application/Endorsement", sd, n, &err);
        if (rc != table[i].expect) {
            fail_msg("row %zu: %d orgs [%s]: got %d want %d: %s", i, table[i].orgs,
                     table[i].signers, rc, table[i].expect, err.msg);
        }
        if (rc != 0) {
            /* the message names the policy and a failing sub-policy */
            assert_non_null(strstr(err.msg, "/Channel/Application/Endorsement"));
            assert_non_null(strstr(err.msg, "MAJORITY"));
            assert_non_null(strstr(err.msg, "/Endorsement"));
        }
        weft_policy_mgr_free(pm);
    }

    /* ANY / ALL over a tree, a missing sub-policy, nested meta policies */
    struct weft_policy_mgr *pm = weft_policy_mgr_new(f.mgr, NULL, NULL);
    add_sig_policy(pm, "/Channel/Application/O1/Writers", "OR('O1.admin','O1.client')");
    add_sig_policy(pm, "/Channel/Application/O2/Writers", "OR('O2.admin','O2.client')");
    assert_int_equal(weft_policy_mgr_add_group(pm, "/Channel/Application/O3", NULL), 0);
    add_meta_policy(pm, "/Channel/Application/Writers", "ANY Writers");
    add_meta_policy(pm, "/Channel/Application/AllWriters", "ALL Writers");
    add_meta_policy(pm, "/Channel/Writers", "ANY Writers");
    add_sig_policy(pm, "/Channel/Orderer/OrdererOrg/Writers", "OR('O4.orderer')");
    add_meta_policy(pm, "/Channel/Orderer/Writers", "ANY Writers");
    add_meta_policy(pm, "/Channel/Orderer/Empty", "ALL Nothing");
    assert_int_equal(weft_policy_mgr_add(pm, "/Channel/Writers", WEFT_POLICY_IMPLICIT_META,
                                         (const uint8_t *)"", 0, NULL),
                     WEFT_EEXIST);
    struct weft_signed_data sd[16];
    uint8_t bad[16][WEFT_ECDSA_SIG_MAX];
    size_t n = signed_set(&f, "2c", sd, bad);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/Writers", sd, n, NULL), 0);
    struct weft_err err;
    weft_err_clear(&err);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Application/AllWriters", sd, n, &err),
                     WEFT_EPOLICY);
    assert_non_null(strstr(err.msg, "/Channel/Application/O3/Writers (missing)"));
    assert_non_null(strstr(err.msg, "/Channel/Application/O1/Writers"));
    /* /Channel/Writers = ANY over Application and Orderer Writers */
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Writers", sd, n, NULL), 0);
    n = signed_set(&f, "4o", sd, bad);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Writers", sd, n, NULL), 0);
    n = signed_set(&f, "4p", sd, bad);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Writers", sd, n, NULL), WEFT_EPOLICY);
    /* no sub-groups: threshold 0 */
    assert_int_equal(
        weft_policy_mgr_evaluate(pm, "/Channel/Orderer/OrdererOrg/Writers", sd, n, NULL),
        WEFT_EPOLICY);
    assert_int_equal(weft_policy_mgr_evaluate(pm, "/Channel/Nope", sd, n, NULL), WEFT_ENOTFOUND);
    assert_true(weft_policy_mgr_has(pm, "/Channel/Orderer/Empty"));
    weft_policy_mgr_free(pm);

    /* compile errors */
    struct weft_policy *p = NULL;
    Common__SignaturePolicy sb = COMMON__SIGNATURE_POLICY__INIT;
    sb.type_case = COMMON__SIGNATURE_POLICY__TYPE_SIGNED_BY;
    sb.signed_by = 3;
    Common__SignaturePolicyEnvelope env = COMMON__SIGNATURE_POLICY_ENVELOPE__INIT;
    env.rule = &sb;
    uint8_t eb[64];
    size_t el = common__signature_policy_envelope__pack(&env, eb);
    weft_err_clear(&err);
    assert_int_equal(weft_policy_new(WEFT_POLICY_SIGNATURE, eb, el, false, &p, &err), WEFT_EPARSE);
    assert_non_null(strstr(err.msg, "out of range"));
    env.version = 1;
    sb.signed_by = 0;
    env.n_identities = 0;
    el = common__signature_policy_envelope__pack(&env, eb);
    assert_int_equal(weft_policy_new(WEFT_POLICY_SIGNATURE, eb, el, true, &p, NULL), WEFT_EPARSE);
    assert_int_equal(weft_policy_new(WEFT_POLICY_MSP, eb, el, true, &p, NULL), WEFT_EUNSUPPORTED);
    pfix_free(&f);
}

/* ---- weft crypto generate ------------------------------------------------- */

static int sh(const char *fmt, ...) WEFT_PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc;
}

static void test_crypto_generate(void **state)
{
    (void)state;
    const char *bin = getenv("WEFT_BINARY_DIR");
    if (bin == NULL) {
        fail_msg("WEFT_BINARY_DIR is not set (run through ctest)");
    }
    char *weft = weft_asprintf("%s/bin/weft", bin);
    struct stat st;
    if (stat(weft, &st) != 0) {
        weft_free(weft);
        fail_msg("the weft binary is not built; build the whole tree before the tests");
    }
    char *out = wt_tmpdir("msp-gen");
    char *cfgp = weft_asprintf("%s/crypto-config.yaml", out);
    const char *cfg = "OrdererOrgs:\n"
                      "  - Name: Orderer\n    Domain: example.com\n    EnableNodeOUs: true\n"
                      "    Specs:\n      - Hostname: orderer\n        SANS: [orderer.lb.local]\n"
                      "PeerOrgs:\n"
                      "  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n"
                      "    Template:\n      Count: 2\n      SANS: ['gw.{{.Domain}}', 10.1.2.3]\n"
                      "    Users:\n      Count: 2\n"
                      "  - Name: Org2\n    Domain: org2.example.com\n    EnableNodeOUs: false\n"
                      "    Template:\n      Count: 1\n";
    assert_int_equal(wt_write_file(cfgp, cfg, strlen(cfg)), 0);
    char *dir = weft_asprintf("%s/crypto", out);
    assert_int_equal(sh("%s crypto generate --config %s --output %s >%s/out.txt 2>%s/err.txt", weft,
                        cfgp, dir, out, out),
                     0);
    char *errtxt = weft_asprintf("%s/err.txt", out);
    size_t el = 0;
    char *e = wt_read_file(errtxt, &el);
    assert_non_null(e);
    assert_non_null(strstr(e, "Production identities come from a certificate authority"));
    weft_free(e);
    weft_free(errtxt);
    /* openssl verify accepts every chain written */
    assert_int_equal(
        sh("set -e; cd %s; for org in peerOrganizations/* ordererOrganizations/*; do "
           "d=$(basename $org); "
           "for c in $org/*/*/msp/signcerts/*.pem; do "
           "openssl verify -CAfile $org/ca/ca.$d-cert.pem $c >/dev/null; done; "
           "for c in $org/*/*/tls/server.crt $org/*/*/tls/client.crt; do "
           "openssl verify -CAfile $org/tlsca/tlsca.$d-cert.pem $c >/dev/null; done; done",
           dir),
        0);
    /* TLS server SANs */
    assert_int_equal(
        sh("cd %s/peerOrganizations/org1.example.com/peers/peer1.org1.example.com/tls && "
           "openssl x509 -in server.crt -noout -ext subjectAltName | tr -d ' \\n' | "
           "grep -q 'DNS:peer1.org1.example.com,DNS:peer1,DNS:localhost,DNS:gw.org1.example.com,"
           "IPAddress:127.0.0.1,IPAddress:10.1.2.3'",
           dir),
        0);
    /* the generated MSPs load back and work */
    struct weft_err err;
    weft_err_clear(&err);
    char *orgmsp = weft_asprintf("%s/peerOrganizations/org1.example.com/msp", dir);
    char *peermsp = weft_asprintf(
        "%s/peerOrganizations/org1.example.com/peers/peer0.org1.example.com/msp", dir);
    char *usermsp = weft_asprintf(
        "%s/peerOrganizations/org1.example.com/users/User2@org1.example.com/msp", dir);
    char *adminmsp = weft_asprintf(
        "%s/peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp", dir);
    char *o2msp = weft_asprintf("%s/peerOrganizations/org2.example.com/msp", dir);
    char *o2admin = weft_asprintf(
        "%s/peerOrganizations/org2.example.com/users/Admin@org2.example.com/msp", dir);
    char *ordmsp =
        weft_asprintf("%s/ordererOrganizations/example.com/orderers/orderer.example.com/msp", dir);
    char *ordorg = weft_asprintf("%s/ordererOrganizations/example.com/msp", dir);
    struct weft_msp *org = NULL, *peer = NULL, *user = NULL, *admin = NULL, *o2 = NULL, *o2a = NULL,
                    *ord = NULL, *oo = NULL;
    if (weft_msp_load_dir(orgmsp, "Org1MSP", &org, &err) != 0 ||
        weft_msp_load_dir(peermsp, "Org1MSP", &peer, &err) != 0 ||
        weft_msp_load_dir(usermsp, "Org1MSP", &user, &err) != 0 ||
        weft_msp_load_dir(adminmsp, "Org1MSP", &admin, &err) != 0 ||
        weft_msp_load_dir(o2msp, "Org2MSP", &o2, &err) != 0 ||
        weft_msp_load_dir(o2admin, "Org2MSP", &o2a, &err) != 0 ||
        weft_msp_load_dir(ordmsp, "OrdererMSP", &ord, &err) != 0 ||
        weft_msp_load_dir(ordorg, "OrdererMSP", &oo, &err) != 0) {
        fail_msg("load generated msp: %s", err.msg);
    }
    struct {
        struct weft_msp *local, *channel;
        enum weft_msp_role role;
    } cases[] = {
        {peer, org, WEFT_MSP_ROLE_PEER},   {user, org, WEFT_MSP_ROLE_CLIENT},
        {admin, org, WEFT_MSP_ROLE_ADMIN}, {o2a, o2, WEFT_MSP_ROLE_ADMIN},
        {ord, oo, WEFT_MSP_ROLE_ORDERER},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(cases); i++) {
        uint8_t sig[WEFT_ECDSA_SIG_MAX];
        size_t sl = 0;
        assert_int_equal(weft_msp_sign(cases[i].local, (const uint8_t *)"x", 1, sig, &sl, NULL), 0);
        size_t n = 0;
        const uint8_t *ser = weft_msp_identity_serialized(weft_msp_signer(cases[i].local), &n);
        struct weft_msp_identity *id = NULL;
        assert_int_equal(weft_msp_deserialize(cases[i].channel, ser, n, &id, NULL), 0);
        assert_int_equal(weft_msp_identity_validate(id, NULL), 0);
        assert_int_equal(weft_msp_identity_verify(id, NULL, (const uint8_t *)"x", 1, sig, sl, NULL),
                         0);
        assert_int_equal(weft_msp_identity_satisfies_role(id, cases[i].role, NULL), 0);
        weft_msp_identity_unref(id);
    }
    /* NodeOUs off: Org2's admin is known from admincerts */
    assert_false(weft_msp_node_ous_enabled(o2));
    /* extend adds a user and keeps the CA */
    char *ca1 =
        weft_asprintf("%s/peerOrganizations/org1.example.com/ca/ca.org1.example.com-cert.pem", dir);
    size_t l1 = 0, l2 = 0;
    char *before = wt_read_file(ca1, &l1);
    const char *cfg2 = "PeerOrgs:\n"
                       "  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n"
                       "    Template:\n      Count: 3\n    Users:\n      Count: 3\n";
    assert_int_equal(wt_write_file(cfgp, cfg2, strlen(cfg2)), 0);
    assert_int_equal(sh("%s crypto extend --config %s --input %s >/dev/null 2>&1", weft, cfgp, dir),
                     0);
    char *after = wt_read_file(ca1, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(before, after, l1);
    assert_int_equal(sh("cd %s/peerOrganizations/org1.example.com && "
                        "openssl verify -CAfile ca/ca.org1.example.com-cert.pem "
                        "users/User3@org1.example.com/msp/signcerts/*.pem "
                        "peers/peer2.org1.example.com/msp/signcerts/*.pem >/dev/null",
                        dir),
                     0);
    /* usage errors */
    assert_int_equal(sh("%s crypto generate >/dev/null 2>&1", weft) != 0, 1);
    assert_int_equal(sh("%s crypto --help >/dev/null 2>&1", weft), 0);
    weft_free(before);
    weft_free(after);
    weft_free(ca1);
    weft_msp_unref(org);
    weft_msp_unref(peer);
    weft_msp_unref(user);
    weft_msp_unref(admin);
    weft_msp_unref(o2);
    weft_msp_unref(o2a);
    weft_msp_unref(ord);
    weft_msp_unref(oo);
    weft_free(orgmsp);
    weft_free(peermsp);
    weft_free(usermsp);
    weft_free(adminmsp);
    weft_free(o2msp);
    weft_free(o2admin);
    weft_free(ordmsp);
    weft_free(ordorg);
    weft_free(dir);
    weft_free(cfgp);
    wt_rmtree(out);
    weft_free(out);
    weft_free(weft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_structure),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_matches_configtxgen),
        cmocka_unit_test(test_vector_msps),
        cmocka_unit_test(test_identity_validation),
        cmocka_unit_test(test_admins),
        cmocka_unit_test(test_policy_table),
        cmocka_unit_test(test_implicit_meta),
        cmocka_unit_test(test_crypto_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
