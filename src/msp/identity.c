/*
 * Identities: deserialization, one-time validation (identity.md section 3),
 * principal checks (section 4) and signature verification.
 *
 * DESIGN. weft_msp__identity_make() runs every validation step once and
 * stores the verdict, so the hot paths (policy evaluation, principal checks)
 * only compare strings and bytes. Order and wording follow Fabric's
 * mspimplvalidate.go so operators see familiar reasons.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "msp/identities.pb-c.h"
#include "msp/msp_principal.pb-c.h"

#include "msp_internal.h"

/* ---- validation ----------------------------------------------------------- */

static int invalid(struct weft_msp_identity *id, const char *fmt, ...) WEFT_PRINTF(2, 3);

static int invalid(struct weft_msp_identity *id, const char *fmt, ...)
{
    id->valid_rc = WEFT_EPERM;
    char buf[WEFT_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    id->valid_msg = weft_strdup(buf);
    return id->valid_msg == NULL ? WEFT_ENOMEM : 0;
}

/* Go's default EKU rule for x509.Verify with no KeyUsages (serverAuth). */
static bool eku_ok(const struct weft_x509 *c)
{
    bool present = false;
    uint32_t eku = weft_x509_ext_key_usage(c, &present);
    return !present || (eku & (WEFT_X509_EKU_SERVER_AUTH | WEFT_X509_EKU_ANY)) != 0;
}

static bool ou_matches(const struct msp_ou *cfg, const char *ou, const struct weft_msp_identity *id)
{
    if (cfg->ou == NULL || strcmp(cfg->ou, ou) != 0) {
        return false;
    }
    return !cfg->has_certifier ||
           (id->has_certifier && memcmp(cfg->certifier, id->certifier, WEFT_SHA256_LEN) == 0);
}

/* Runs the validation steps; only ENOMEM is an error, a verdict goes into id. */
static int validate(struct weft_msp_identity *id)
{
    struct weft_msp *msp = id->msp;
    struct weft_x509 *cert = id->cert;
    if (weft_x509_is_ca(cert)) {
        return invalid(id, "%s",
                       "An X509 certificate with Basic Constraint: Certificate Authority "
                       "equals true cannot be used as an identity");
    }
    struct weft_x509_chain chain = {0};
    struct weft_err e;
    weft_err_clear(&e);
    int rc = weft_x509_verify_chain(msp->store, cert, weft_x509_not_before(cert) + 1, &chain, &e);
    if (rc == WEFT_ENOMEM) {
        return rc;
    }
    if (rc != 0) {
        if (strncmp(e.msg, "revoked", 7) == 0) {
            return invalid(id, "%s", "The certificate has been revoked");
        }
        return invalid(id,
                       "could not obtain certification chain: the supplied identity is not "
                       "valid: %s",
                       e.msg);
    }
    if (chain.n < 2) {
        weft_x509_chain_free(&chain);
        return invalid(id, "%s", "expected a chain of length at least 2");
    }
    for (size_t i = 0; i < chain.n; i++) {
        if (!eku_ok(chain.certs[i])) {
            weft_x509_chain_free(&chain);
            return invalid(id, "%s", "x509: certificate specifies an incompatible key usage");
        }
    }
    /* the direct issuer must be a leaf of the CA tree */
    for (size_t i = 0; i < msp->n_inters; i++) {
        if (!weft_x509_equal(msp->inters[i], chain.certs[1]) &&
            weft_x509_issued_by(msp->inters[i], chain.certs[1])) {
            weft_x509_chain_free(&chain);
            return invalid(id, "%s",
                           "Parent certificate should be a leaf of the certification "
                           "tree");
        }
    }
    /* certifiers id: hash of the chain without the leaf */
    struct weft_sha256 *h = weft_sha256_new();
    if (h == NULL) {
        weft_x509_chain_free(&chain);
        return WEFT_ENOMEM;
    }
    rc = 0;
    for (size_t i = 1; i < chain.n && rc == 0; i++) {
        size_t len;
        const uint8_t *der = weft_x509_der(chain.certs[i], &len);
        rc = weft_sha256_update(h, der, len);
    }
    if (rc == 0) {
        rc = weft_sha256_final(h, id->certifier);
    }
    weft_sha256_free(h);
    weft_x509_chain_free(&chain);
    if (rc != 0) {
        return invalid(id, "%s", "hashing the certification chain failed");
    }
    id->has_certifier = true;

    size_t nou = weft_x509_ou_count(cert);
    if (msp->n_ous > 0) {
        bool found = false;
        for (size_t i = 0; i < nou && !found; i++) {
            for (size_t k = 0; k < msp->n_ous && !found; k++) {
                found = ou_matches(&msp->ous[k], weft_x509_ou(cert, i), id);
            }
        }
        if (!found) {
            return invalid(id, "none of the identity's organizational units are in MSP %s",
                           msp->id);
        }
    }
    if (msp->node_ous) {
        const struct msp_ou *node[4] = {&msp->client, &msp->peer, &msp->admin, &msp->orderer};
        int counter = 0;
        for (size_t i = 0; i < nou && counter < 2; i++) {
            const char *ou = weft_x509_ou(cert, i);
            for (size_t k = 0; k < 4; k++) {
                if (node[k]->ou == NULL || strcmp(node[k]->ou, ou) != 0) {
                    continue;
                }
                if (!ou_matches(node[k], ou, id)) {
                    return invalid(id, "certifiersIdentifier does not match: MSP %s", msp->id);
                }
                counter++;
                break;
            }
        }
        if (counter == 0) {
            return invalid(id,
                           "the identity does not have an OU that resolves to client, peer, "
                           "orderer, or admin role, MSP: %s",
                           msp->id);
        }
        if (counter > 1) {
            return invalid(id,
                           "the identity must be a client, a peer, an orderer or an admin "
                           "identity to be valid, not a combination of them, MSP: %s",
                           msp->id);
        }
    }
    id->valid_rc = 0;
    return 0;
}

static void identity_destroy(struct weft_msp_identity *id)
{
    weft_x509_free(id->cert);
    weft_free(id->ser);
    weft_free(id->valid_msg);
    weft_msp_unref(id->msp);
    weft_free(id);
}

int weft_msp__identity_make(struct weft_msp *msp, struct weft_x509 *cert, const uint8_t *ser,
                            size_t ser_len, struct weft_msp_identity **out, struct weft_err *err)
{
    if (weft_x509_key(cert) == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "identity certificate key is not ECDSA P-256");
    }
    struct weft_msp_identity *id = weft_calloc(1, sizeof(*id));
    if (id == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    atomic_init(&id->refs, 1);
    id->msp = weft_msp_ref(msp);
    id->cert = weft_x509_ref(cert);
    int rc = 0;
    if (ser != NULL) {
        id->ser = weft_memdup(ser, ser_len);
        id->ser_len = ser_len;
        if (id->ser == NULL) {
            rc = WEFT_ENOMEM;
        }
    } else {
        char *pem = NULL;
        size_t pem_len = 0;
        rc = weft_x509_to_pem(cert, &pem, &pem_len, err);
        if (rc == 0) {
            Msp__SerializedIdentity si = MSP__SERIALIZED_IDENTITY__INIT;
            si.mspid = msp->id;
            si.id_bytes.data = (uint8_t *)pem;
            si.id_bytes.len = pem_len;
            id->ser_len = msp__serialized_identity__get_packed_size(&si);
            id->ser = weft_malloc(id->ser_len);
            if (id->ser == NULL) {
                rc = WEFT_ENOMEM;
            } else {
                msp__serialized_identity__pack(&si, id->ser);
            }
            weft_free(pem);
        }
    }
    uint8_t *san = NULL;
    size_t san_len = 0;
    if (rc == 0) {
        rc = weft_x509_sanitized_der(cert, &san, &san_len, err);
    }
    if (rc == 0) {
        uint8_t h[WEFT_SHA256_LEN];
        weft_sha256(san, san_len, h);
        weft_crypto_hex(h, sizeof(h), id->id);
        weft_free(san);
        rc = validate(id);
    }
    if (rc != 0) {
        identity_destroy(id);
        if (err != NULL && err->code == 0) {
            weft_err_set(err, rc, "identity: %s", weft_strerror(rc));
        }
        return rc;
    }
    *out = id;
    return 0;
}

int weft_msp_deserialize(struct weft_msp *msp, const uint8_t *ser, size_t len,
                         struct weft_msp_identity **out, struct weft_err *err)
{
    if (msp == NULL || ser == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "deserialize: missing argument");
    }
    Msp__SerializedIdentity *si = msp__serialized_identity__unpack(&weft_msp__pb_alloc, len, ser);
    if (si == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "could not deserialize a SerializedIdentity");
    }
    int rc;
    if (strcmp(si->mspid, msp->id) != 0) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "expected MSP ID %s, received %.64s", msp->id,
                          si->mspid);
        goto cleanup;
    }
    struct weft_x509 *cert = NULL;
    rc = weft_x509_parse_pem(si->id_bytes.data, si->id_bytes.len, &cert, err);
    if (rc != 0) {
        weft_err_prefix(err, "could not decode the identity certificate");
        goto cleanup;
    }
    rc = weft_msp__identity_make(msp, cert, ser, len, out, err);
    weft_x509_free(cert);
cleanup:
    msp__serialized_identity__free_unpacked(si, &weft_msp__pb_alloc);
    return rc;
}

struct weft_msp_identity *weft_msp_identity_ref(struct weft_msp_identity *id)
{
    if (id != NULL) {
        atomic_fetch_add(&id->refs, 1);
    }
    return id;
}

void weft_msp_identity_unref(struct weft_msp_identity *id)
{
    if (id != NULL && atomic_fetch_sub(&id->refs, 1) == 1) {
        identity_destroy(id);
    }
}

int weft_msp_identity_validate(const struct weft_msp_identity *id, struct weft_err *err)
{
    if (id->valid_rc == 0) {
        return 0;
    }
    return weft_err_set(err, id->valid_rc, "%s", id->valid_msg ? id->valid_msg : "invalid");
}

int weft_msp_identity_check_expiry(const struct weft_msp_identity *id, int64_t at,
                                   struct weft_err *err)
{
    if (at == 0) {
        at = (int64_t)time(NULL);
    }
    if (at > weft_x509_not_after(id->cert)) {
        return weft_err_set(err, WEFT_EPERM, "identity expired");
    }
    if (at < weft_x509_not_before(id->cert)) {
        return weft_err_set(err, WEFT_EPERM, "identity not yet valid");
    }
    return 0;
}

const char *weft_msp_identity_mspid(const struct weft_msp_identity *id)
{
    return id->msp->id;
}

const char *weft_msp_identity_id(const struct weft_msp_identity *id)
{
    return id->id;
}

struct weft_x509 *weft_msp_identity_cert(const struct weft_msp_identity *id)
{
    return id->cert;
}

struct weft_msp *weft_msp_identity_msp(const struct weft_msp_identity *id)
{
    return id->msp;
}

const uint8_t *weft_msp_identity_serialized(const struct weft_msp_identity *id, size_t *len)
{
    *len = id->ser_len;
    return id->ser;
}

static bool has_ou(const struct weft_msp_identity *id, const struct msp_ou *o)
{
    if (o->ou == NULL) {
        return false;
    }
    for (size_t i = 0; i < weft_x509_ou_count(id->cert); i++) {
        if (strcmp(weft_x509_ou(id->cert, i), o->ou) == 0) {
            return true;
        }
    }
    return false;
}

unsigned weft_msp_identity_node_ous(const struct weft_msp_identity *id)
{
    const struct weft_msp *m = id->msp;
    unsigned bits = 0;
    if (!m->node_ous) {
        return 0;
    }
    bits |= has_ou(id, &m->client) ? WEFT_MSP_OU_CLIENT : 0u;
    bits |= has_ou(id, &m->peer) ? WEFT_MSP_OU_PEER : 0u;
    bits |= has_ou(id, &m->admin) ? WEFT_MSP_OU_ADMIN : 0u;
    bits |= has_ou(id, &m->orderer) ? WEFT_MSP_OU_ORDERER : 0u;
    return bits;
}

static bool in_admins(const struct weft_msp_identity *id)
{
    for (size_t i = 0; i < id->msp->n_admins; i++) {
        if (weft_x509_equal(id->msp->admins[i], id->cert)) {
            return true;
        }
    }
    return false;
}

bool weft_msp_identity_is_admin(const struct weft_msp_identity *id)
{
    if (in_admins(id)) {
        return true;
    }
    return id->msp->node_ous && id->valid_rc == 0 && has_ou(id, &id->msp->admin);
}

/* ---- principals ----------------------------------------------------------- */

static const char *role_name(int role)
{
    static const char *const names[] = {"member", "admin", "client", "peer", "orderer"};
    return role >= 0 && role < 5 ? names[role] : "unknown";
}

int weft_msp_identity_satisfies_role(const struct weft_msp_identity *id, enum weft_msp_role role,
                                     struct weft_err *err)
{
    const struct weft_msp *m = id->msp;
    switch (role) {
    case WEFT_MSP_ROLE_MEMBER:
        break;
    case WEFT_MSP_ROLE_ADMIN:
        if (in_admins(id)) {
            return 0;
        }
        if (!m->node_ous) {
            return weft_err_set(err, WEFT_EPOLICY, "this identity is not an admin");
        }
        break;
    case WEFT_MSP_ROLE_CLIENT:
    case WEFT_MSP_ROLE_PEER:
    case WEFT_MSP_ROLE_ORDERER:
        if (!m->node_ous) {
            return weft_err_set(err, WEFT_EPOLICY,
                                "NodeOUs not activated in MSP %s: cannot tell a %s", m->id,
                                role_name((int)role));
        }
        break;
    default:
        return weft_err_set(err, WEFT_EPOLICY, "invalid MSP role type %d", (int)role);
    }
    if (id->valid_rc != 0) {
        return weft_err_set(err, WEFT_EPOLICY, "the identity is not valid under MSP %s: %s", m->id,
                            id->valid_msg ? id->valid_msg : "invalid");
    }
    const struct msp_ou *need = NULL;
    switch (role) {
    case WEFT_MSP_ROLE_ADMIN:
        need = &m->admin;
        break;
    case WEFT_MSP_ROLE_CLIENT:
        need = &m->client;
        break;
    case WEFT_MSP_ROLE_PEER:
        need = &m->peer;
        break;
    case WEFT_MSP_ROLE_ORDERER:
        need = &m->orderer;
        break;
    default:
        return 0; /* member */
    }
    if (!has_ou(id, need)) {
        return weft_err_set(err, WEFT_EPOLICY, "the identity is not a %s under MSP %s",
                            role_name((int)role), m->id);
    }
    return 0;
}

static int satisfies(const struct weft_msp_identity *id, const Common__MSPPrincipal *p, int depth,
                     struct weft_err *err)
{
    const struct weft_msp *m = id->msp;
    int rc;
    switch (p->principal_classification) {
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__ROLE: {
        Common__MSPRole *r =
            common__msprole__unpack(&weft_msp__pb_alloc, p->principal.len, p->principal.data);
        if (r == NULL) {
            return weft_err_set(err, WEFT_EPARSE, "could not unmarshal MSPRole");
        }
        if (strcmp(r->msp_identifier, m->id) != 0) {
            rc = weft_err_set(err, WEFT_EPOLICY,
                              "the identity is a member of a different MSP (expected %.64s, got "
                              "%s)",
                              r->msp_identifier, m->id);
        } else {
            rc = weft_msp_identity_satisfies_role(id, (enum weft_msp_role)r->role, err);
        }
        common__msprole__free_unpacked(r, &weft_msp__pb_alloc);
        return rc;
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__ORGANIZATION_UNIT: {
        Common__OrganizationUnit *ou = common__organization_unit__unpack(
            &weft_msp__pb_alloc, p->principal.len, p->principal.data);
        if (ou == NULL) {
            return weft_err_set(err, WEFT_EPARSE, "could not unmarshal OrganizationUnit");
        }
        if (strcmp(ou->msp_identifier, m->id) != 0) {
            rc = weft_err_set(err, WEFT_EPOLICY,
                              "the identity is a member of a different MSP (expected %.64s, got "
                              "%s)",
                              ou->msp_identifier, m->id);
        } else if (id->valid_rc != 0) {
            rc = weft_err_set(err, WEFT_EPOLICY, "the identity is not valid under MSP %s: %s",
                              m->id, id->valid_msg ? id->valid_msg : "invalid");
        } else {
            rc = weft_err_set(err, WEFT_EPOLICY, "the identities do not match");
            for (size_t i = 0; i < weft_x509_ou_count(id->cert); i++) {
                if (strcmp(weft_x509_ou(id->cert, i), ou->organizational_unit_identifier) == 0 &&
                    ou->certifiers_identifier.len == WEFT_SHA256_LEN && id->has_certifier &&
                    memcmp(ou->certifiers_identifier.data, id->certifier, WEFT_SHA256_LEN) == 0) {
                    rc = 0;
                    if (err != NULL) {
                        weft_err_clear(err);
                    }
                    break;
                }
            }
        }
        common__organization_unit__free_unpacked(ou, &weft_msp__pb_alloc);
        return rc;
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__IDENTITY: {
        struct weft_msp_identity *pid = NULL;
        rc = weft_msp_deserialize(id->msp, p->principal.data, p->principal.len, &pid, err);
        if (rc != 0) {
            return weft_err_set(err, WEFT_EPOLICY,
                                "invalid identity principal, not a certificate "
                                "of MSP %s",
                                m->id);
        }
        bool same = weft_x509_equal(pid->cert, id->cert);
        weft_msp_identity_unref(pid);
        if (!same) {
            return weft_err_set(err, WEFT_EPOLICY, "the identities do not match");
        }
        return weft_msp_identity_validate(id, err) == 0
                   ? 0
                   : weft_err_set(err, WEFT_EPOLICY, "the identity is not valid: %s",
                                  id->valid_msg ? id->valid_msg : "invalid");
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__ANONYMITY: {
        Common__MSPIdentityAnonymity *a = common__mspidentity_anonymity__unpack(
            &weft_msp__pb_alloc, p->principal.len, p->principal.data);
        if (a == NULL) {
            return weft_err_set(err, WEFT_EPARSE, "could not unmarshal MSPIdentityAnonymity");
        }
        int t = (int)a->anonymity_type;
        common__mspidentity_anonymity__free_unpacked(a, &weft_msp__pb_alloc);
        if (t == COMMON__MSPIDENTITY_ANONYMITY__MSPIDENTITY_ANONYMITY_TYPE__NOMINAL) {
            return 0;
        }
        if (t == COMMON__MSPIDENTITY_ANONYMITY__MSPIDENTITY_ANONYMITY_TYPE__ANONYMOUS) {
            return weft_err_set(err, WEFT_EPOLICY,
                                "principal is anonymous, but X.509 MSP does "
                                "not support anonymous identities");
        }
        return weft_err_set(err, WEFT_EPOLICY, "unknown principal anonymity type %d", t);
    }
    case COMMON__MSPPRINCIPAL__CLASSIFICATION__COMBINED: {
        if (depth > 0) {
            return weft_err_set(err, WEFT_EPOLICY,
                                "principals contained in a combined principal "
                                "cannot be combined principals");
        }
        Common__CombinedPrincipal *c = common__combined_principal__unpack(
            &weft_msp__pb_alloc, p->principal.len, p->principal.data);
        if (c == NULL) {
            return weft_err_set(err, WEFT_EPARSE, "could not unmarshal CombinedPrincipal");
        }
        rc = 0;
        if (c->n_principals == 0) {
            rc = weft_err_set(err, WEFT_EPOLICY, "no principals in CombinedPrincipal");
        }
        for (size_t i = 0; rc == 0 && i < c->n_principals; i++) {
            rc = satisfies(id, c->principals[i], depth + 1, err);
        }
        common__combined_principal__free_unpacked(c, &weft_msp__pb_alloc);
        return rc;
    }
    default:
        return weft_err_set(err, WEFT_EPOLICY, "invalid principal type %d",
                            (int)p->principal_classification);
    }
}

int weft_msp_identity_satisfies(const struct weft_msp_identity *id, const uint8_t *principal,
                                size_t len, struct weft_err *err)
{
    Common__MSPPrincipal *p = common__mspprincipal__unpack(&weft_msp__pb_alloc, len, principal);
    if (p == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "could not unmarshal MSPPrincipal");
    }
    int rc = satisfies(id, p, 0, err);
    common__mspprincipal__free_unpacked(p, &weft_msp__pb_alloc);
    return rc;
}

int weft_msp_identity_verify(const struct weft_msp_identity *id, struct weft_vcache *cache,
                             const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
                             struct weft_err *err)
{
    struct weft_verify_item it = {0};
    it.cert = id->cert;
    it.msg = msg;
    it.msg_len = msg_len;
    it.sig = sig;
    it.sig_len = sig_len;
    it.identity = id->ser;
    it.identity_len = id->ser_len;
    int rc = weft_verify_item_run(cache, &it);
    if (rc != 0) {
        return weft_err_set(err, WEFT_EBADSIG, "the signature is invalid");
    }
    return 0;
}
