/*
 * Building msp.MSPConfig bytes from a Fabric MSP folder, as Fabric's
 * msp/configbuilder.go does (identity.md section 1):
 *  - each sub-folder contributes every PEM block of every regular file in it
 *    (files in name order, as Go's ReadDir sorts), each block re-encoded in
 *    Go's pem.EncodeToMemory form; files without PEM are skipped;
 *  - config.yaml supplies OrganizationalUnitIdentifiers and NodeOUs, with
 *    certificate paths relative to the folder;
 *  - crypto_config is always {SHA2, SHA256};
 *  - a signing config adds SigningIdentityInfo{signcert PEM, KeyInfo{"PEER",
 *    keystore key PEM}} where the key is the keystore file whose public key
 *    matches the signcert (name hex(SKI)_sk first, then every file <= 64 KiB).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "msp/msp_config.pb-c.h"

#include "msp_internal.h"

#define MSP_FILE_MAX (1024 * 1024)
#define MSP_MAX_ITEMS 256

struct pemlist {
    ProtobufCBinaryData *items;
    size_t n;
};

static void pemlist_free(struct pemlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        weft_free(l->items[i].data);
    }
    weft_free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every PEM block of the text, re-encoded, appended to l. */
static int pem_blocks(const uint8_t *text, size_t len, struct pemlist *l)
{
    size_t pos = 0;
    int found = 0;
    for (;;) {
        char type[64];
        uint8_t *der = NULL;
        size_t der_len = 0;
        int rc =
            weft_msp__pem_next((const char *)text, len, &pos, type, sizeof(type), &der, &der_len);
        if (rc <= 0) {
            return rc < 0 ? rc : found;
        }
        if (l->n >= MSP_MAX_ITEMS) {
            weft_free(der);
            return WEFT_ETOOBIG;
        }
        struct weft_buf b;
        weft_buf_init(&b, 1u << 20);
        rc = weft_msp__pem_encode(&b, type, der, der_len);
        weft_free(der);
        if (rc != 0) {
            weft_buf_close(&b);
            return rc;
        }
        ProtobufCBinaryData *ni = weft_realloc(l->items, (l->n + 1) * sizeof(*ni));
        if (ni == NULL) {
            weft_buf_close(&b);
            return WEFT_ENOMEM;
        }
        l->items = ni;
        size_t n;
        ni[l->n].data = weft_buf_steal(&b, &n);
        ni[l->n].len = n;
        l->n++;
        found = 1;
    }
}

/* Sorted regular-file names of a folder. WEFT_ENOTFOUND if it does not exist. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return WEFT_ENOTFOUND;
    }
    char **v = NULL;
    size_t cnt = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char *p = weft_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (p == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || cnt >= MSP_MAX_ITEMS) {
            weft_free(p);
            continue;
        }
        char **nv = weft_realloc(v, (cnt + 1) * sizeof(*nv));
        if (nv == NULL) {
            weft_free(p);
            rc = WEFT_ENOMEM;
            break;
        }
        v = nv;
        v[cnt++] = p;
    }
    closedir(d);
    if (rc != 0) {
        for (size_t i = 0; i < cnt; i++) {
            weft_free(v[i]);
        }
        weft_free(v);
        return rc;
    }
    if (cnt > 1) {
        qsort(v, cnt, sizeof(*v), cmp_str);
    }
    *names = v;
    *n = cnt;
    return 0;
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        weft_free(names[i]);
    }
    weft_free(names);
}

/* PEM material of a folder; a missing folder gives an empty list. */
static int pem_dir(const char *base, const char *sub, struct pemlist *l, struct weft_err *err)
{
    char *dir = weft_asprintf("%s/%s", base, sub);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(dir, &names, &n);
    if (rc == WEFT_ENOTFOUND) {
        weft_free(dir);
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        if (weft_msp__read_file(names[i], MSP_FILE_MAX, &data, &len) != 0) {
            continue;
        }
        rc = pem_blocks(data, len, l);
        weft_free(data);
        if (rc == WEFT_EPARSE) {
            rc = 0; /* Fabric skips files it cannot read as PEM */
        } else if (rc > 0) {
            rc = 0;
        } else if (rc != 0) {
            weft_err_set(err, rc, "%s: %s", names[i], weft_strerror(rc));
        }
    }
    names_free(names, n);
    weft_free(dir);
    return rc;
}

/* Reads the first PEM block of dir/rel, re-encoded (Fabric's
 * loadCertificateAt). */
static int load_cert_at(const char *dir, const char *rel, ProtobufCBinaryData *out,
                        struct weft_err *err)
{
    char *p = weft_asprintf("%s/%s", dir, rel);
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = weft_msp__read_file(p, MSP_FILE_MAX, &data, &len);
    if (rc != 0) {
        weft_err_set(err, rc, "config.yaml: certificate %s: %s", p, weft_strerror(rc));
        weft_free(p);
        return rc;
    }
    struct pemlist l = {0};
    rc = pem_blocks(data, len, &l);
    weft_free(data);
    if (rc <= 0 || l.n == 0) {
        pemlist_free(&l);
        rc = weft_err_set(err, WEFT_EPARSE, "config.yaml: %s holds no PEM certificate", p);
        weft_free(p);
        return rc;
    }
    weft_free(p);
    *out = l.items[0];
    for (size_t i = 1; i < l.n; i++) {
        weft_free(l.items[i].data);
    }
    weft_free(l.items);
    return 0;
}

static void ou_free(Msp__FabricOUIdentifier *o)
{
    if (o == NULL) {
        return;
    }
    weft_free(o->certificate.data);
    if (o->organizational_unit_identifier != protobuf_c_empty_string) {
        weft_free(o->organizational_unit_identifier);
    }
    weft_free(o);
}

/* One {Certificate, OrganizationalUnitIdentifier} entry; NULL *out when the
 * OU string is empty (ignored, as in Fabric). */
static int ou_from_yaml(const char *dir, const struct ymt *node, Msp__FabricOUIdentifier **out,
                        struct weft_err *err)
{
    *out = NULL;
    const char *ou = weft_msp__yaml_str(node, "OrganizationalUnitIdentifier");
    if (ou == NULL || ou[0] == '\0') {
        return 0;
    }
    Msp__FabricOUIdentifier *o = weft_malloc(sizeof(*o));
    if (o == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    msp__fabric_ouidentifier__init(o);
    o->organizational_unit_identifier = weft_strdup(ou);
    if (o->organizational_unit_identifier == NULL) {
        o->organizational_unit_identifier = (char *)protobuf_c_empty_string;
        ou_free(o);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    const char *cert = weft_msp__yaml_str(node, "Certificate");
    if (cert != NULL && cert[0] != '\0') {
        int rc = load_cert_at(dir, cert, &o->certificate, err);
        if (rc != 0) {
            ou_free(o);
            return rc;
        }
    }
    *out = o;
    return 0;
}

/* Private key in keystore/ matching the signcert's public key. */
static int find_key(const char *dir, const uint8_t *cert_pem, size_t cert_len, uint8_t **out,
                    size_t *out_len, struct weft_err *err)
{
    struct weft_x509 *cert = NULL;
    int rc = weft_x509_parse_pem(cert_pem, cert_len, &cert, err);
    if (rc != 0) {
        return weft_err_prefix(err, "signcerts");
    }
    struct weft_key *pub = weft_x509_key(cert);
    if (pub == NULL) {
        weft_x509_free(cert);
        return weft_err_set(err, WEFT_EUNSUPPORTED, "signcerts: key is not ECDSA P-256");
    }
    uint8_t ski[WEFT_SKI_LEN];
    char skihex[2 * WEFT_SKI_LEN + 1];
    weft_key_ski(pub, ski);
    weft_crypto_hex(ski, sizeof(ski), skihex);
    char *kdir = weft_asprintf("%s/keystore", dir);
    char **names = NULL;
    size_t n = 0;
    rc = kdir == NULL ? WEFT_ENOMEM : list_dir(kdir, &names, &n);
    weft_free(kdir);
    if (rc != 0) {
        weft_x509_free(cert);
        return weft_err_set(err, rc, "keystore: %s", weft_strerror(rc));
    }
    rc = WEFT_ENOTFOUND;
    /* Two passes: the SKI-named file first, then any file. */
    for (int pass = 0; pass < 2 && rc != 0; pass++) {
        for (size_t i = 0; i < n && rc != 0; i++) {
            const char *base = strrchr(names[i], '/');
            base = base ? base + 1 : names[i];
            bool named = strncmp(base, skihex, strlen(skihex)) == 0 && strlen(base) >= 2 &&
                         strcmp(base + strlen(base) - 2, "sk") == 0;
            if ((pass == 0) != named) {
                continue;
            }
            uint8_t *data = NULL;
            size_t len = 0;
            if (weft_msp__read_file(names[i], 64 * 1024, &data, &len) != 0) {
                continue;
            }
            struct weft_key *k = NULL;
            if (weft_key_load_private(data, len, &k, NULL) == 0 && weft_key_public_equal(k, pub)) {
                *out = data;
                *out_len = len;
                rc = 0;
            } else {
                weft_free_secret(data, len);
            }
            weft_key_free(k);
        }
    }
    names_free(names, n);
    weft_x509_free(cert);
    if (rc != 0) {
        weft_err_set(err, WEFT_ENOTFOUND,
                     "keystore: no private key matches the signing "
                     "certificate");
    }
    return rc;
}

static void bin_move(ProtobufCBinaryData **dst, size_t *n, struct pemlist *l)
{
    *dst = l->items;
    *n = l->n;
    l->items = NULL;
    l->n = 0;
}

int weft_msp_config_from_dir(const char *dir, const char *mspid, bool signing, uint8_t **out,
                             size_t *out_len, struct weft_err *err)
{
    if (dir == NULL || mspid == NULL || out == NULL || out_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "msp config: missing argument");
    }
    Msp__FabricMSPConfig fc = MSP__FABRIC_MSPCONFIG__INIT;
    Msp__FabricCryptoConfig cc = MSP__FABRIC_CRYPTO_CONFIG__INIT;
    Msp__SigningIdentityInfo si = MSP__SIGNING_IDENTITY_INFO__INIT;
    Msp__KeyInfo ki = MSP__KEY_INFO__INIT;
    Msp__FabricNodeOUs nous = MSP__FABRIC_NODE_OUS__INIT;
    struct pemlist roots = {0}, inters = {0}, admins = {0}, crls = {0}, tlsr = {0}, tlsi = {0},
                   signc = {0};
    Msp__FabricOUIdentifier **ous = NULL;
    size_t n_ous = 0;
    struct ymt *yaml = NULL;
    uint8_t *keypem = NULL;
    size_t keylen = 0;
    uint8_t *cfgtext = NULL;
    size_t cfglen = 0;
    uint8_t *packed = NULL;
    size_t packed_len = 0;
    int rc;

    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return weft_err_set(err, WEFT_ENOTFOUND, "msp folder %s not found", dir);
    }
    if ((rc = pem_dir(dir, "cacerts", &roots, err)) != 0 ||
        (rc = pem_dir(dir, "admincerts", &admins, err)) != 0 ||
        (rc = pem_dir(dir, "intermediatecerts", &inters, err)) != 0 ||
        (rc = pem_dir(dir, "tlscacerts", &tlsr, err)) != 0 ||
        (rc = pem_dir(dir, "crls", &crls, err)) != 0) {
        goto cleanup;
    }
    if (tlsr.n > 0 && (rc = pem_dir(dir, "tlsintermediatecerts", &tlsi, err)) != 0) {
        goto cleanup;
    }
    if (roots.n == 0) {
        rc =
            weft_err_set(err, WEFT_ENOTFOUND, "msp folder %s: no CA certificates in cacerts/", dir);
        goto cleanup;
    }
    if (signing) {
        if ((rc = pem_dir(dir, "signcerts", &signc, err)) != 0) {
            goto cleanup;
        }
        if (signc.n == 0) {
            rc = weft_err_set(err, WEFT_ENOTFOUND, "msp folder %s: no certificate in signcerts/",
                              dir);
            goto cleanup;
        }
        rc = find_key(dir, signc.items[0].data, signc.items[0].len, &keypem, &keylen, err);
        if (rc != 0) {
            weft_err_prefix(err, "msp folder %s", dir);
            goto cleanup;
        }
        si.public_signer = signc.items[0];
        ki.key_identifier = (char *)"PEER";
        ki.key_material.data = keypem;
        ki.key_material.len = keylen;
        si.private_signer = &ki;
        fc.signing_identity = &si;
    }

    char *cfgpath = weft_asprintf("%s/config.yaml", dir);
    if (cfgpath == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = weft_msp__read_file(cfgpath, MSP_FILE_MAX, &cfgtext, &cfglen);
    weft_free(cfgpath);
    if (rc == 0) {
        rc = weft_msp__yaml_load((const char *)cfgtext, cfglen, &yaml, err);
        if (rc != 0) {
            weft_err_prefix(err, "%s/config.yaml", dir);
            goto cleanup;
        }
        const struct ymt *list = weft_msp__yaml_get(yaml, "OrganizationalUnitIdentifiers");
        if (list != NULL && list->kind == YMT_SEQ) {
            ous = weft_calloc(list->n ? list->n : 1, sizeof(*ous));
            if (ous == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
                goto cleanup;
            }
            for (size_t i = 0; i < list->n; i++) {
                Msp__FabricOUIdentifier *o = NULL;
                rc = ou_from_yaml(dir, list->items[i], &o, err);
                if (rc != 0) {
                    goto cleanup;
                }
                if (o != NULL) {
                    ous[n_ous++] = o;
                }
            }
        }
        const struct ymt *no = weft_msp__yaml_get(yaml, "NodeOUs");
        const char *en = weft_msp__yaml_str(no, "Enable");
        bool enable = false;
        if (en != NULL && weft_parse_bool(en, &enable) != 0) {
            rc = weft_err_set(err, WEFT_EPARSE, "%s/config.yaml: NodeOUs.Enable: not a bool", dir);
            goto cleanup;
        }
        if (enable) {
            nous.enable = true;
            if ((rc = ou_from_yaml(dir, weft_msp__yaml_get(no, "ClientOUIdentifier"),
                                   &nous.client_ou_identifier, err)) != 0 ||
                (rc = ou_from_yaml(dir, weft_msp__yaml_get(no, "PeerOUIdentifier"),
                                   &nous.peer_ou_identifier, err)) != 0 ||
                (rc = ou_from_yaml(dir, weft_msp__yaml_get(no, "AdminOUIdentifier"),
                                   &nous.admin_ou_identifier, err)) != 0 ||
                (rc = ou_from_yaml(dir, weft_msp__yaml_get(no, "OrdererOUIdentifier"),
                                   &nous.orderer_ou_identifier, err)) != 0) {
                goto cleanup;
            }
            fc.fabric_node_ous = &nous;
        }
    } else if (rc != -2 /* ENOENT */) {
        weft_err_set(err, rc, "%s/config.yaml: %s", dir, weft_strerror(rc));
        goto cleanup;
    }
    rc = 0;

    fc.name = (char *)mspid;
    bin_move(&fc.root_certs, &fc.n_root_certs, &roots);
    bin_move(&fc.intermediate_certs, &fc.n_intermediate_certs, &inters);
    bin_move(&fc.admins, &fc.n_admins, &admins);
    bin_move(&fc.revocation_list, &fc.n_revocation_list, &crls);
    bin_move(&fc.tls_root_certs, &fc.n_tls_root_certs, &tlsr);
    bin_move(&fc.tls_intermediate_certs, &fc.n_tls_intermediate_certs, &tlsi);
    fc.organizational_unit_identifiers = ous;
    fc.n_organizational_unit_identifiers = n_ous;
    cc.signature_hash_family = (char *)"SHA2";
    cc.identity_identifier_hash_function = (char *)"SHA256";
    fc.crypto_config = &cc;

    size_t fl = msp__fabric_mspconfig__get_packed_size(&fc);
    packed = weft_malloc(fl ? fl : 1);
    packed_len = fl;
    if (packed == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto restore;
    }
    msp__fabric_mspconfig__pack(&fc, packed);
    Msp__MSPConfig mc = MSP__MSPCONFIG__INIT;
    mc.type = 0;
    mc.config.data = packed;
    mc.config.len = fl;
    size_t ml = msp__mspconfig__get_packed_size(&mc);
    *out = weft_malloc(ml ? ml : 1);
    if (*out == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto restore;
    }
    *out_len = msp__mspconfig__pack(&mc, *out);
restore:
    /* hand the lists back so cleanup frees them */
    roots.items = fc.root_certs, roots.n = fc.n_root_certs;
    inters.items = fc.intermediate_certs, inters.n = fc.n_intermediate_certs;
    admins.items = fc.admins, admins.n = fc.n_admins;
    crls.items = fc.revocation_list, crls.n = fc.n_revocation_list;
    tlsr.items = fc.tls_root_certs, tlsr.n = fc.n_tls_root_certs;
    tlsi.items = fc.tls_intermediate_certs, tlsi.n = fc.n_tls_intermediate_certs;
cleanup:
    if (packed != NULL) {
        weft_free_secret(packed, packed_len);
    }
    pemlist_free(&roots);
    pemlist_free(&inters);
    pemlist_free(&admins);
    pemlist_free(&crls);
    pemlist_free(&tlsr);
    pemlist_free(&tlsi);
    pemlist_free(&signc);
    for (size_t i = 0; i < n_ous; i++) {
        ou_free(ous[i]);
    }
    weft_free(ous);
    ou_free(nous.client_ou_identifier);
    ou_free(nous.peer_ou_identifier);
    ou_free(nous.admin_ou_identifier);
    ou_free(nous.orderer_ou_identifier);
    if (keypem != NULL) {
        weft_free_secret(keypem, keylen);
    }
    weft_free(cfgtext);
    weft_msp__yaml_free(yaml);
    return rc;
}
