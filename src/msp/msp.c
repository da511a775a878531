/*
 * MSP setup from msp.MSPConfig, identity deserialization and validation,
 * principal checks and local signing (identity.md sections 2-5, MSP v1.4.3).
 *
 * DESIGN. An MSP is immutable once weft_msp_new() returns: its certificates
 * live in a weft_x509_store (roots, intermediates, CRLs) that any number of
 * threads may verify against. An identity is validated once, when it is
 * deserialized, and keeps the verdict, its certifiers id and its NodeOU bits;
 * principal checks afterwards are string and byte comparisons. Identities are
 * cached by their serialized bytes in the MSP manager (mgr.c).
 */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/policies.pb-c.h"
#include "msp/identities.pb-c.h"
#include "msp/msp_config.pb-c.h"
#include "msp/msp_principal.pb-c.h"

#include "msp_internal.h"

#define MSP_MAX_CHAIN 16

/* ---- small helpers -------------------------------------------------------- */

static int64_t now_or(int64_t t)
{
    return t != 0 ? t : (int64_t)time(NULL);
}

static void certs_free(struct weft_x509 **v, size_t n)
{
    weft_x509_array_free(v, n);
}

/* Parses every PEM certificate of a repeated bytes field. */
static int parse_certs(ProtobufCBinaryData *items, size_t n, const char *what,
                       struct weft_x509 ***out, size_t *out_n, struct weft_err *err)
{
    struct weft_x509 **v = weft_calloc(n ? n : 1, sizeof(*v));
    if (v == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = weft_x509_parse_pem(items[i].data, items[i].len, &v[i], err);
        if (rc != 0) {
            certs_free(v, i);
            return weft_err_prefix(err, "%s[%zu]", what, i);
        }
    }
    *out = v;
    *out_n = n;
    return 0;
}

static bool cert_in(struct weft_x509 *const *v, size_t n, const struct weft_x509 *c)
{
    for (size_t i = 0; i < n; i++) {
        if (weft_x509_equal(v[i], c)) {
            return true;
        }
    }
    return false;
}

int weft_msp__certifier(const struct weft_msp *msp, const struct weft_x509 *cert,
                        uint8_t out[WEFT_SHA256_LEN], struct weft_err *err)
{
    if (!cert_in(msp->roots, msp->n_roots, cert) && !cert_in(msp->inters, msp->n_inters, cert)) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "certificate %s is not in the root or intermediate certificates",
                            weft_x509_subject(cert));
    }
    struct weft_sha256 *h = weft_sha256_new();
    if (h == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    const struct weft_x509 *cur = cert;
    int rc = 0;
    for (int depth = 0;; depth++) {
        size_t len;
        const uint8_t *der = weft_x509_der(cur, &len);
        rc = weft_sha256_update(h, der, len);
        if (rc != 0 || cert_in(msp->roots, msp->n_roots, cur)) {
            break;
        }
        const struct weft_x509 *next = NULL;
        for (size_t i = 0; i < msp->n_roots && next == NULL; i++) {
            if (weft_x509_issued_by(cur, msp->roots[i])) {
                next = msp->roots[i];
            }
        }
        for (size_t i = 0; i < msp->n_inters && next == NULL; i++) {
            if (msp->inters[i] != cur && weft_x509_issued_by(cur, msp->inters[i])) {
                next = msp->inters[i];
            }
        }
        if (next == NULL || depth >= MSP_MAX_CHAIN) {
            rc = weft_err_set(err, WEFT_ECONFIG, "no chain from %s to a root certificate",
                              weft_x509_subject(cert));
            break;
        }
        cur = next;
    }
    if (rc == 0) {
        rc = weft_sha256_final(h, out);
    }
    weft_sha256_free(h);
    return rc;
}

static void ou_clear(struct msp_ou *o)
{
    weft_free(o->ou);
    o->ou = NULL;
}

static int ou_setup(struct weft_msp *msp, const Msp__FabricOUIdentifier *src, struct msp_ou *dst,
                    struct weft_err *err)
{
    memset(dst, 0, sizeof(*dst));
    if (src == NULL || src->organizational_unit_identifier == NULL ||
        src->organizational_unit_identifier[0] == '\0') {
        return 0;
    }
    dst->ou = weft_strdup(src->organizational_unit_identifier);
    if (dst->ou == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    if (src->certificate.len > 0) {
        struct weft_x509 *c = NULL;
        int rc = weft_x509_parse_pem(src->certificate.data, src->certificate.len, &c, err);
        if (rc == 0) {
            rc = weft_msp__certifier(msp, c, dst->certifier, err);
            weft_x509_free(c);
        }
        if (rc != 0) {
            ou_clear(dst);
            return weft_err_prefix(err, "OU identifier %s", src->organizational_unit_identifier);
        }
        dst->has_certifier = true;
    }
    return 0;
}

/* ---- MSP life cycle ------------------------------------------------------- */

static void msp_destroy(struct weft_msp *msp)
{
    weft_msp_identity_unref(msp->signer);
    weft_key_free(msp->key);
    weft_free(msp->id);
    certs_free(msp->roots, msp->n_roots);
    certs_free(msp->inters, msp->n_inters);
    certs_free(msp->admins, msp->n_admins);
    certs_free(msp->tls_roots, msp->n_tls_roots);
    certs_free(msp->tls_inters, msp->n_tls_inters);
    weft_x509_store_free(msp->store);
    for (size_t i = 0; i < msp->n_ous; i++) {
        ou_clear(&msp->ous[i]);
    }
    weft_free(msp->ous);
    ou_clear(&msp->client);
    ou_clear(&msp->peer);
    ou_clear(&msp->admin);
    ou_clear(&msp->orderer);
    weft_free(msp);
}

struct weft_msp *weft_msp_ref(struct weft_msp *msp)
{
    if (msp != NULL) {
        atomic_fetch_add(&msp->refs, 1);
    }
    return msp;
}

void weft_msp_unref(struct weft_msp *msp)
{
    if (msp != NULL && atomic_fetch_sub(&msp->refs, 1) == 1) {
        msp_destroy(msp);
    }
}

static int check_ca(struct weft_x509 *const *v, size_t n, const char *what, struct weft_err *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t skil = 0;
        if (!weft_x509_is_ca(v[i])) {
            return weft_err_set(err, WEFT_ECONFIG, "%s %s is not a CA certificate", what,
                                weft_x509_subject(v[i]));
        }
        if (weft_x509_ski(v[i], &skil) == NULL || skil == 0) {
            return weft_err_set(err, WEFT_ECONFIG, "%s %s has no Subject Key Identifier extension",
                                what, weft_x509_subject(v[i]));
        }
    }
    return 0;
}

static int setup_signer(struct weft_msp *msp, const Msp__SigningIdentityInfo *si, int64_t now,
                        struct weft_err *err)
{
    struct weft_x509 *cert = NULL;
    int rc = weft_x509_parse_pem(si->public_signer.data, si->public_signer.len, &cert, err);
    if (rc != 0) {
        return weft_err_prefix(err, "signing identity");
    }
    if (si->private_signer == NULL || si->private_signer->key_material.len == 0) {
        weft_x509_free(cert);
        return weft_err_set(err, WEFT_ECONFIG, "signing identity: no private key material");
    }
    rc = weft_key_load_private(si->private_signer->key_material.data,
                               si->private_signer->key_material.len, &msp->key, err);
    if (rc != 0) {
        weft_x509_free(cert);
        return weft_err_prefix(err, "signing identity key");
    }
    if (weft_x509_key(cert) == NULL || !weft_key_public_equal(msp->key, weft_x509_key(cert))) {
        weft_x509_free(cert);
        return weft_err_set(err, WEFT_ECONFIG,
                            "signing identity: private key does not match the certificate");
    }
    if (weft_x509_not_after(cert) < now) {
        rc =
            weft_err_set(err, WEFT_ECONFIG, "signing identity %s expired", weft_x509_subject(cert));
        weft_x509_free(cert);
        return rc;
    }
    rc = weft_msp__identity_make(msp, cert, NULL, 0, &msp->signer, err);
    weft_x509_free(cert);
    if (rc != 0) {
        return weft_err_prefix(err, "signing identity");
    }
    /* The signer holds a reference to msp; drop it to avoid a cycle (the
     * signer never outlives its MSP: msp_destroy frees it). */
    atomic_fetch_sub(&msp->refs, 1);
    return 0;
}

int weft_msp_new(const uint8_t *mspconfig, size_t len, int64_t now_unix, struct weft_msp **out,
                 struct weft_err *err)
{
    if (mspconfig == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "msp: missing argument");
    }
    Msp__MSPConfig *mc = msp__mspconfig__unpack(&weft_msp__pb_alloc, len, mspconfig);
    if (mc == NULL) {
        return weft_err_set(err, WEFT_EPARSE, "msp: malformed MSPConfig");
    }
    Msp__FabricMSPConfig *fc = NULL;
    struct weft_msp *msp = NULL;
    int rc;
    if (mc->type != 0) {
        rc = weft_err_set(err, WEFT_EUNSUPPORTED,
                          "msp: MSP type %d is not supported (only "
                          "FABRIC)",
                          mc->type);
        goto cleanup;
    }
    fc = msp__fabric_mspconfig__unpack(&weft_msp__pb_alloc, mc->config.len, mc->config.data);
    if (fc == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "msp: malformed FabricMSPConfig");
        goto cleanup;
    }
    if (fc->name == NULL || fc->name[0] == '\0') {
        rc = weft_err_set(err, WEFT_ECONFIG, "msp: the MSP has no name");
        goto cleanup;
    }
    msp = weft_calloc(1, sizeof(*msp));
    if (msp == NULL || (msp->id = weft_strdup(fc->name)) == NULL ||
        (msp->store = weft_x509_store_new()) == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    atomic_init(&msp->refs, 1);
    if ((rc = parse_certs(fc->root_certs, fc->n_root_certs, "root cert", &msp->roots, &msp->n_roots,
                          err)) != 0 ||
        (rc = parse_certs(fc->intermediate_certs, fc->n_intermediate_certs, "intermediate cert",
                          &msp->inters, &msp->n_inters, err)) != 0 ||
        (rc = parse_certs(fc->admins, fc->n_admins, "admin cert", &msp->admins, &msp->n_admins,
                          err)) != 0 ||
        (rc = parse_certs(fc->tls_root_certs, fc->n_tls_root_certs, "TLS root cert",
                          &msp->tls_roots, &msp->n_tls_roots, err)) != 0 ||
        (rc = parse_certs(fc->tls_intermediate_certs, fc->n_tls_intermediate_certs,
                          "TLS intermediate cert", &msp->tls_inters, &msp->n_tls_inters, err)) !=
            0) {
        goto cleanup;
    }
    if (msp->n_roots == 0) {
        rc = weft_err_set(err, WEFT_ECONFIG, "expected at least one CA certificate");
        goto cleanup;
    }
    if ((rc = check_ca(msp->roots, msp->n_roots, "root", err)) != 0 ||
        (rc = check_ca(msp->inters, msp->n_inters, "intermediate", err)) != 0) {
        goto cleanup;
    }
    for (size_t i = 0; i < msp->n_roots; i++) {
        if ((rc = weft_x509_store_add_root(msp->store, msp->roots[i], err)) != 0) {
            goto cleanup;
        }
    }
    for (size_t i = 0; i < msp->n_inters; i++) {
        if ((rc = weft_x509_store_add_intermediate(msp->store, msp->inters[i], err)) != 0) {
            goto cleanup;
        }
    }
    for (size_t i = 0; i < fc->n_revocation_list; i++) {
        rc = weft_x509_store_add_crl(msp->store, fc->revocation_list[i].data,
                                     fc->revocation_list[i].len, err);
        if (rc != 0) {
            weft_err_prefix(err, "revocation list %zu", i);
            goto cleanup;
        }
    }
    /* every intermediate must chain to a root */
    for (size_t i = 0; i < msp->n_inters; i++) {
        uint8_t tmp[WEFT_SHA256_LEN];
        if ((rc = weft_msp__certifier(msp, msp->inters[i], tmp, err)) != 0) {
            goto cleanup;
        }
    }
    if (fc->n_organizational_unit_identifiers > 0) {
        msp->ous = weft_calloc(fc->n_organizational_unit_identifiers, sizeof(*msp->ous));
        if (msp->ous == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < fc->n_organizational_unit_identifiers; i++) {
            rc = ou_setup(msp, fc->organizational_unit_identifiers[i], &msp->ous[msp->n_ous], err);
            if (rc != 0) {
                goto cleanup;
            }
            if (msp->ous[msp->n_ous].ou != NULL) {
                msp->n_ous++;
            }
        }
    }
    if (fc->fabric_node_ous != NULL && fc->fabric_node_ous->enable) {
        msp->node_ous = true;
        const Msp__FabricNodeOUs *no = fc->fabric_node_ous;
        if ((rc = ou_setup(msp, no->client_ou_identifier, &msp->client, err)) != 0 ||
            (rc = ou_setup(msp, no->peer_ou_identifier, &msp->peer, err)) != 0 ||
            (rc = ou_setup(msp, no->admin_ou_identifier, &msp->admin, err)) != 0 ||
            (rc = ou_setup(msp, no->orderer_ou_identifier, &msp->orderer, err)) != 0) {
            goto cleanup;
        }
    }
    if ((!msp->node_ous || msp->admin.ou == NULL) && msp->n_admins == 0) {
        rc = weft_err_set(err, WEFT_ECONFIG,
                          "administrators must be declared when no admin ou classification is "
                          "set");
        goto cleanup;
    }
    if (msp->node_ous) {
        for (size_t i = 0; i < msp->n_admins; i++) {
            bool ok = false;
            for (size_t k = 0; k < weft_x509_ou_count(msp->admins[i]); k++) {
                const char *ou = weft_x509_ou(msp->admins[i], k);
                if ((msp->client.ou && strcmp(ou, msp->client.ou) == 0) ||
                    (msp->admin.ou && strcmp(ou, msp->admin.ou) == 0)) {
                    ok = true;
                }
            }
            if (!ok) {
                rc = weft_err_set(err, WEFT_ECONFIG,
                                  "admin %zu is invalid: it has neither the client nor the admin "
                                  "OU",
                                  i);
                goto cleanup;
            }
        }
    }
    if (fc->signing_identity != NULL && fc->signing_identity->public_signer.len > 0) {
        rc = setup_signer(msp, fc->signing_identity, now_or(now_unix), err);
        if (rc != 0) {
            goto cleanup;
        }
    }
    *out = msp;
    msp = NULL;
    rc = 0;
cleanup:
    if (rc != 0 && err != NULL && strncmp(err->msg, "msp", 3) != 0 && fc != NULL &&
        fc->name != NULL) {
        weft_err_prefix(err, "msp %s", fc->name);
    }
    if (msp != NULL) {
        msp_destroy(msp);
    }
    if (fc != NULL) {
        msp__fabric_mspconfig__free_unpacked(fc, &weft_msp__pb_alloc);
    }
    msp__mspconfig__free_unpacked(mc, &weft_msp__pb_alloc);
    return rc;
}

int weft_msp_load_dir(const char *dir, const char *mspid, struct weft_msp **out,
                      struct weft_err *err)
{
    char *sc = weft_asprintf("%s/signcerts", dir);
    if (sc == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    struct stat st;
    bool signing = stat(sc, &st) == 0 && S_ISDIR(st.st_mode);
    weft_free(sc);
    uint8_t *cfg = NULL;
    size_t len = 0;
    int rc = weft_msp_config_from_dir(dir, mspid, signing, &cfg, &len, err);
    if (rc != 0) {
        return rc;
    }
    rc = weft_msp_new(cfg, len, 0, out, err);
    weft_free_secret(cfg, len);
    return rc;
}

const char *weft_msp_id(const struct weft_msp *msp)
{
    return msp->id;
}

bool weft_msp_node_ous_enabled(const struct weft_msp *msp)
{
    return msp->node_ous;
}

struct weft_x509 *const *weft_msp_tls_roots(const struct weft_msp *msp, size_t *n)
{
    *n = msp->n_tls_roots;
    return msp->tls_roots;
}

struct weft_x509 *const *weft_msp_tls_intermediates(const struct weft_msp *msp, size_t *n)
{
    *n = msp->n_tls_inters;
    return msp->tls_inters;
}

struct weft_msp_identity *weft_msp_signer(const struct weft_msp *msp)
{
    return msp->signer;
}

int weft_msp_sign(const struct weft_msp *msp, const uint8_t *msg, size_t msg_len, uint8_t *sig,
                  size_t *sig_len, struct weft_err *err)
{
    if (msp->key == NULL) {
        return weft_err_set(err, WEFT_ESTATE, "msp %s has no signing identity", msp->id);
    }
    return weft_ecdsa_sign(msp->key, msg, msg_len, sig, sig_len, err);
}
