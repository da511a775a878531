/*
 * `weft crypto`: development identities, like Fabric's cryptogen.
 *
 *   weft crypto generate --config crypto-config.yaml --output DIR
 *   weft crypto extend   --config crypto-config.yaml --input DIR
 *
 * Same config format as cryptogen (OrdererOrgs / PeerOrgs with Name, Domain,
 * EnableNodeOUs, CA, Specs, Template, Users) and the same output layout:
 *   <out>/{peerOrganizations,ordererOrganizations}/<domain>/
 *     ca/ca.<domain>-cert.pem, ca/priv_sk, tlsca/tlsca.<domain>-cert.pem, tlsca/priv_sk
 *     msp/{cacerts,tlscacerts,config.yaml|admincerts}
 *     peers|orderers/<cn>/{msp/{cacerts,tlscacerts,signcerts,keystore/priv_sk,config.yaml},
 *                          tls/{ca.crt,server.crt,server.key}}
 *     users/<User>@<domain>/{msp/...,tls/{ca.crt,client.crt,client.key}}
 * TLS server certificates carry the host's full name, its short name,
 * localhost, 127.0.0.1 and every extra SANS entry. `extend` keeps existing
 * CAs and identities and adds what the config lists but the folder lacks.
 * Wiring only: certificates come from include/weft/crypto_issue.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "weft/config.h"
#include "weft/crypto.h"
#include "weft/crypto_issue.h"

#include "cmd.h"

#define CRYPTO_VALIDITY_S (3650LL * 24 * 3600)
#define MAX_SANS 64

struct org {
    const char *domain;
    bool node_ous;
    bool orderer;
    const char *country, *province, *locality, *ou, *street, *postal;
    char *ca_cn;
    char *dir;
    struct weft_x509 *ca, *tlsca;
    struct weft_key *ca_key, *tlsca_key;
    struct weft_x509 *admin_cert; /* for admincerts when NodeOUs are off */
    int64_t not_before;
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: weft crypto generate --config FILE --output DIR\n"
               "       weft crypto extend   --config FILE --input DIR\n\n"
               "Generates development identities (CAs, TLS CAs, peers, orderers, admins and\n"
               "users) from a Fabric cryptogen configuration file, in the folder layout\n"
               "Fabric's cryptogen writes. `extend` adds only what is missing, reusing the\n"
               "existing CAs.\n\n"
               "These identities are for development and tests: production identities\n"
               "come from a certificate authority (weft ca, Fabric CA).\n");
}

static int mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof(buf)) {
        return -ENAMETOOLONG;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            buf[i] = c;
        }
    }
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len, mode_t mode,
                      struct weft_err *err)
{
    int rc = mkdirs(dir);
    if (rc != 0) {
        return weft_err_set(err, rc, "mkdir %s: %s", dir, weft_strerror(rc));
    }
    char *p = weft_asprintf("%s/%s", dir, name);
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    FILE *f = fopen(p, "wb");
    if (f == NULL) {
        rc = weft_err_set(err, -errno, "open %s: %s", p, strerror(errno));
        weft_free(p);
        return rc;
    }
    chmod(p, mode);
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        rc = weft_err_set(err, WEFT_EIO, "write %s failed", p);
    }
    weft_free(p);
    return rc;
}

static int write_cert(const char *dir, const char *name, const struct weft_x509 *c,
                      struct weft_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = weft_x509_to_pem(c, &pem, &len, err);
    if (rc == 0) {
        rc = write_file(dir, name, pem, len, 0644, err);
        weft_free(pem);
    }
    return rc;
}

static int write_key(const char *dir, const char *name, const struct weft_key *k,
                     struct weft_err *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = weft_key_export_private_pem(k, &pem, &len, err);
    if (rc == 0) {
        rc = write_file(dir, name, pem, len, 0600, err);
        weft_free_secret(pem, len);
    }
    return rc;
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = weft_buf_append(&b, chunk, n);
    }
    fclose(f);
    if (rc != 0 || b.data == NULL) {
        weft_buf_close(&b);
        return rc != 0 ? rc : WEFT_EPARSE;
    }
    *out = (char *)weft_buf_steal(&b, len);
    return 0;
}

/* ---- config --------------------------------------------------------------- */

static const char *str_or(const struct weft_config_node *n, const char *key, const char *def)
{
    const struct weft_config_node *c = n != NULL ? weft_config_node_child(n, key) : NULL;
    const char *v = c != NULL ? weft_config_node_value(c) : NULL;
    return v != NULL ? v : def;
}

static bool bool_of(const struct weft_config_node *n, const char *key)
{
    bool b = false;
    const char *v = str_or(n, key, NULL);
    return v != NULL && weft_parse_bool(v, &b) == 0 && b;
}

static int64_t int_or(const struct weft_config_node *n, const char *key, int64_t def)
{
    int64_t v;
    const char *s = str_or(n, key, NULL);
    return s != NULL && weft_parse_i64(s, &v) == 0 ? v : def;
}

/* Expands {{.Prefix}} {{.Index}} {{.Hostname}} {{.Domain}} {{.CommonName}}. */
static char *expand(const char *tpl, const char *prefix, int64_t index, const char *hostname,
                    const char *domain, const char *cn)
{
    struct weft_buf b;
    weft_buf_init(&b, 4096);
    const char *p = tpl;
    int rc = 0;
    while (*p != '\0' && rc == 0) {
        if (strncmp(p, "{{", 2) == 0) {
            const char *e = strstr(p, "}}");
            if (e != NULL) {
                char name[32] = {0};
                const char *s = p + 2;
                while (*s == ' ' || *s == '.') {
                    s++;
                }
                size_t l = 0;
                while (s + l < e && s[l] != ' ' && l < sizeof(name) - 1) {
                    name[l] = s[l];
                    l++;
                }
                if (strcmp(name, "Prefix") == 0) {
                    rc = weft_buf_appendf(&b, "%s", prefix ? prefix : "");
                } else if (strcmp(name, "Index") == 0) {
                    rc = weft_buf_appendf(&b, "%lld", (long long)index);
                } else if (strcmp(name, "Hostname") == 0) {
                    rc = weft_buf_appendf(&b, "%s", hostname ? hostname : "");
                } else if (strcmp(name, "Domain") == 0) {
                    rc = weft_buf_appendf(&b, "%s", domain ? domain : "");
                } else if (strcmp(name, "CommonName") == 0) {
                    rc = weft_buf_appendf(&b, "%s", cn ? cn : "");
                }
                p = e + 2;
                continue;
            }
        }
        rc = weft_buf_append(&b, p, 1);
        p++;
    }
    if (rc != 0) {
        weft_buf_close(&b);
        return NULL;
    }
    if (b.data == NULL) {
        return weft_strdup("");
    }
    size_t n;
    return (char *)weft_buf_steal(&b, &n);
}

/* ---- identities ----------------------------------------------------------- */

static void base_tpl(const struct org *o, struct weft_cert_template *t)
{
    memset(t, 0, sizeof(*t));
    t->country = o->country;
    t->province = o->province;
    t->locality = o->locality;
    t->street_address = o->street;
    t->postal_code = o->postal;
    t->not_before = o->not_before;
    t->not_after = o->not_before + CRYPTO_VALIDITY_S;
}

static int make_ca(struct org *o, const char *sub, const char *cn, struct weft_x509 **cert,
                   struct weft_key **key, struct weft_err *err)
{
    char *dir = weft_asprintf("%s/%s", o->dir, sub);
    char *name = weft_asprintf("%s-cert.pem", cn);
    int rc = dir && name ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    char *cpath = rc == 0 ? weft_asprintf("%s/%s", dir, name) : NULL;
    char *kpath = rc == 0 ? weft_asprintf("%s/priv_sk", dir) : NULL;
    if (rc == 0 && exists(cpath) && exists(kpath)) {
        /* extend: reuse the existing CA */
        char *pem = NULL;
        size_t len = 0;
        rc = read_all(cpath, &pem, &len);
        if (rc == 0) {
            rc = weft_x509_parse_pem(pem, len, cert, err);
            weft_free(pem);
        }
        if (rc == 0 && (rc = read_all(kpath, &pem, &len)) == 0) {
            rc = weft_key_load_private(pem, len, key, err);
            weft_free_secret(pem, len);
        }
        if (rc != 0 && err->code == 0) {
            weft_err_set(err, rc, "read CA in %s: %s", dir, weft_strerror(rc));
        }
    } else if (rc == 0) {
        struct weft_cert_template t;
        base_tpl(o, &t);
        const char *ous[1] = {o->ou};
        t.organization = o->domain;
        t.organizational_units = ous;
        t.n_organizational_units = o->ou != NULL && o->ou[0] ? 1 : 0;
        t.common_name = cn;
        t.is_ca = true;
        t.key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE | WEFT_X509_KU_KEY_ENCIPHERMENT |
                      WEFT_X509_KU_KEY_CERT_SIGN | WEFT_X509_KU_CRL_SIGN;
        t.ext_key_usage = WEFT_X509_EKU_CLIENT_AUTH | WEFT_X509_EKU_SERVER_AUTH;
        t.ext_key_usage_client_first = true;
        if ((rc = weft_key_generate(key, err)) == 0 &&
            (rc = weft_x509_issue(&t, *key, NULL, NULL, cert, err)) == 0 &&
            (rc = write_cert(dir, name, *cert, err)) == 0) {
            rc = write_key(dir, "priv_sk", *key, err);
        }
    }
    weft_free(dir);
    weft_free(name);
    weft_free(cpath);
    weft_free(kpath);
    return rc;
}

static int write_node_ous(const char *mspdir, const struct org *o, struct weft_err *err)
{
    char *y = weft_asprintf("NodeOUs:\n  Enable: true\n"
                            "  ClientOUIdentifier:\n    Certificate: cacerts/%s-cert.pem\n"
                            "    OrganizationalUnitIdentifier: client\n"
                            "  PeerOUIdentifier:\n    Certificate: cacerts/%s-cert.pem\n"
                            "    OrganizationalUnitIdentifier: peer\n"
                            "  AdminOUIdentifier:\n    Certificate: cacerts/%s-cert.pem\n"
                            "    OrganizationalUnitIdentifier: admin\n"
                            "  OrdererOUIdentifier:\n    Certificate: cacerts/%s-cert.pem\n"
                            "    OrganizationalUnitIdentifier: orderer\n",
                            o->ca_cn, o->ca_cn, o->ca_cn, o->ca_cn);
    if (y == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = write_file(mspdir, "config.yaml", y, strlen(y), 0644, err);
    weft_free(y);
    return rc;
}

/* The parts every MSP folder shares: cacerts, tlscacerts, config.yaml or
 * admincerts. */
static int write_msp_common(const char *mspdir, const struct org *o, struct weft_err *err)
{
    char *cadir = weft_asprintf("%s/cacerts", mspdir);
    char *tdir = weft_asprintf("%s/tlscacerts", mspdir);
    char *caname = weft_asprintf("%s-cert.pem", o->ca_cn);
    char *tname = weft_asprintf("tlsca.%s-cert.pem", o->domain);
    int rc = cadir && tdir && caname && tname ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    if (rc == 0 && (rc = write_cert(cadir, caname, o->ca, err)) == 0 &&
        (rc = write_cert(tdir, tname, o->tlsca, err)) == 0) {
        if (o->node_ous) {
            rc = write_node_ous(mspdir, o, err);
        } else if (o->admin_cert != NULL) {
            char *adir = weft_asprintf("%s/admincerts", mspdir);
            char *aname = weft_asprintf("Admin@%s-cert.pem", o->domain);
            rc = adir && aname ? write_cert(adir, aname, o->admin_cert, err)
                               : weft_err_set(err, WEFT_ENOMEM, "out of memory");
            weft_free(adir);
            weft_free(aname);
        }
    }
    weft_free(cadir);
    weft_free(tdir);
    weft_free(caname);
    weft_free(tname);
    return rc;
}

/* A local MSP plus TLS material under dir for cn. */
static int make_identity(struct org *o, const char *dir, const char *cn, const char *ou,
                         const char *hostname, const char *const *extra, size_t n_extra,
                         bool server, struct weft_x509 **cert_out, struct weft_err *err)
{
    struct weft_key *key = NULL, *tkey = NULL;
    struct weft_x509 *cert = NULL, *tcert = NULL;
    char *mspdir = weft_asprintf("%s/msp", dir);
    char *tlsdir = weft_asprintf("%s/tls", dir);
    char *sdir = mspdir ? weft_asprintf("%s/signcerts", mspdir) : NULL;
    char *kdir = mspdir ? weft_asprintf("%s/keystore", mspdir) : NULL;
    char *sname = weft_asprintf("%s-cert.pem", cn);
    int rc = mspdir && tlsdir && sdir && kdir && sname
                 ? 0
                 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    struct weft_cert_template t;
    if (rc == 0) {
        base_tpl(o, &t);
        const char *ous[1] = {ou};
        t.organizational_units = ous;
        t.n_organizational_units = o->node_ous && ou != NULL ? 1 : 0;
        t.common_name = cn;
        t.key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE;
        if ((rc = weft_key_generate(&key, err)) == 0 &&
            (rc = weft_x509_issue(&t, key, o->ca, o->ca_key, &cert, err)) == 0 &&
            (rc = write_cert(sdir, sname, cert, err)) == 0 &&
            (rc = write_key(kdir, "priv_sk", key, err)) == 0) {
            if (o->admin_cert == NULL && !o->node_ous && cert_out != NULL) {
                o->admin_cert = weft_x509_ref(cert); /* Admin comes first */
            }
            rc = write_msp_common(mspdir, o, err);
        }
    }
    if (rc == 0) {
        const char *sans[MAX_SANS];
        size_t ns = 0;
        if (server) {
            const char *base[4] = {cn, hostname, "localhost", "127.0.0.1"};
            for (size_t i = 0; i < 4 + n_extra && ns < MAX_SANS; i++) {
                const char *s = i < 4 ? base[i] : extra[i - 4];
                bool dup = s == NULL || s[0] == '\0';
                for (size_t k = 0; k < ns && !dup; k++) {
                    dup = strcmp(sans[k], s) == 0;
                }
                if (!dup) {
                    sans[ns++] = s;
                }
            }
        }
        base_tpl(o, &t);
        t.common_name = cn;
        t.sans = sans;
        t.n_sans = ns;
        t.key_usage = WEFT_X509_KU_DIGITAL_SIGNATURE | WEFT_X509_KU_KEY_ENCIPHERMENT;
        t.ext_key_usage = WEFT_X509_EKU_SERVER_AUTH | WEFT_X509_EKU_CLIENT_AUTH;
        if ((rc = weft_key_generate(&tkey, err)) == 0 &&
            (rc = weft_x509_issue(&t, tkey, o->tlsca, o->tlsca_key, &tcert, err)) == 0 &&
            (rc = write_cert(tlsdir, "ca.crt", o->tlsca, err)) == 0 &&
            (rc = write_cert(tlsdir, server ? "server.crt" : "client.crt", tcert, err)) == 0) {
            rc = write_key(tlsdir, server ? "server.key" : "client.key", tkey, err);
        }
    }
    if (rc == 0 && cert_out != NULL) {
        *cert_out = weft_x509_ref(cert);
    }
    weft_key_free(key);
    weft_key_free(tkey);
    weft_x509_free(cert);
    weft_x509_free(tcert);
    weft_free(mspdir);
    weft_free(tlsdir);
    weft_free(sdir);
    weft_free(kdir);
    weft_free(sname);
    return rc;
}

/* Collects SANS of a spec/template, expanded. */
static size_t collect_sans(const struct weft_config_node *n, const char *prefix, int64_t index,
                           const char *host, const char *domain, const char *cn, char **out,
                           size_t cap)
{
    const struct weft_config_node *s = n ? weft_config_node_child(n, "SANS") : NULL;
    size_t k = 0;
    for (size_t i = 0; s != NULL && i < weft_config_node_len(s) && k < cap; i++) {
        const char *v = weft_config_node_value(weft_config_node_at(s, i));
        if (v != NULL && (out[k] = expand(v, prefix, index, host, domain, cn)) != NULL) {
            k++;
        }
    }
    return k;
}

static int make_node(struct org *o, const char *host, const char *cn,
                     const struct weft_config_node *spec, const char *prefix, int64_t index,
                     struct weft_err *err)
{
    char *dir = weft_asprintf("%s/%s/%s", o->dir, o->orderer ? "orderers" : "peers", cn);
    if (dir == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = 0;
    if (!exists(dir)) {
        char *extra[MAX_SANS] = {0};
        size_t ne = collect_sans(spec, prefix, index, host, o->domain, cn, extra, MAX_SANS);
        rc = make_identity(o, dir, cn, o->orderer ? "orderer" : "peer", host,
                           (const char *const *)extra, ne, true, NULL, err);
        for (size_t i = 0; i < ne; i++) {
            weft_free(extra[i]);
        }
    }
    weft_free(dir);
    return rc;
}

static int make_user(struct org *o, const char *user, bool admin, struct weft_err *err)
{
    char *cn = weft_asprintf("%s@%s", user, o->domain);
    char *dir = cn ? weft_asprintf("%s/users/%s", o->dir, cn) : NULL;
    int rc = cn && dir ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    if (rc == 0 && !exists(dir)) {
        struct weft_x509 *c = NULL;
        rc = make_identity(o, dir, cn, admin ? "admin" : "client", NULL, NULL, 0, false,
                           admin ? &c : NULL, err);
        weft_x509_free(c);
    } else if (rc == 0 && admin && !o->node_ous && o->admin_cert == NULL) {
        char *p = weft_asprintf("%s/msp/signcerts/%s-cert.pem", dir, cn);
        char *pem = NULL;
        size_t len = 0;
        if (p != NULL && read_all(p, &pem, &len) == 0) {
            if (weft_x509_parse_pem(pem, len, &o->admin_cert, NULL) != 0) {
                o->admin_cert = NULL;
            }
            weft_free(pem);
        }
        weft_free(p);
    }
    weft_free(cn);
    weft_free(dir);
    return rc;
}

static int gen_org(const char *out, const struct weft_config_node *on, bool orderer,
                   int64_t not_before, struct weft_err *err)
{
    struct org o = {0};
    const char *name = str_or(on, "Name", "");
    o.domain = str_or(on, "Domain", NULL);
    if (o.domain == NULL || o.domain[0] == '\0') {
        return weft_err_set(err, WEFT_ECONFIG, "organization %s: Domain is required", name);
    }
    o.node_ous = bool_of(on, "EnableNodeOUs");
    o.orderer = orderer;
    o.not_before = not_before;
    const struct weft_config_node *ca = weft_config_node_child(on, "CA");
    o.country = str_or(ca, "Country", "US");
    o.province = str_or(ca, "Province", "California");
    o.locality = str_or(ca, "Locality", "San Francisco");
    o.ou = str_or(ca, "OrganizationalUnit", NULL);
    o.street = str_or(ca, "StreetAddress", NULL);
    o.postal = str_or(ca, "PostalCode", NULL);
    const char *cahost = str_or(ca, "Hostname", "ca");
    const char *cacn = str_or(ca, "CommonName", NULL);
    o.ca_cn = cacn ? weft_strdup(cacn) : weft_asprintf("%s.%s", cahost, o.domain);
    o.dir = weft_asprintf("%s/%s/%s", out, orderer ? "ordererOrganizations" : "peerOrganizations",
                          o.domain);
    char *tlscn = weft_asprintf("tls%s", o.ca_cn);
    int rc = o.ca_cn && o.dir && tlscn ? 0 : weft_err_set(err, WEFT_ENOMEM, "out of memory");
    if (rc == 0 && (rc = make_ca(&o, "ca", o.ca_cn, &o.ca, &o.ca_key, err)) == 0) {
        rc = make_ca(&o, "tlsca", tlscn, &o.tlsca, &o.tlsca_key, err);
    }
    /* users first (Admin's cert goes into admincerts when NodeOUs are off) */
    if (rc == 0) {
        rc = make_user(&o, "Admin", true, err);
    }
    const struct weft_config_node *users = weft_config_node_child(on, "Users");
    int64_t nusers = int_or(users, "Count", 0);
    for (int64_t i = 1; rc == 0 && i <= nusers && i <= 10000; i++) {
        char u[32];
        snprintf(u, sizeof(u), "User%lld", (long long)i);
        rc = make_user(&o, u, false, err);
    }
    if (rc == 0) {
        char *mspdir = weft_asprintf("%s/msp", o.dir);
        rc = mspdir ? write_msp_common(mspdir, &o, err)
                    : weft_err_set(err, WEFT_ENOMEM, "out of memory");
        weft_free(mspdir);
    }
    const char *prefix = orderer ? "orderer" : "peer";
    const struct weft_config_node *tpl = weft_config_node_child(on, "Template");
    if (rc == 0 && tpl != NULL) {
        int64_t count = int_or(tpl, "Count", 0);
        int64_t start = int_or(tpl, "Start", 0);
        const char *htpl = str_or(tpl, "Hostname", "{{.Prefix}}{{.Index}}");
        for (int64_t i = start; rc == 0 && i < start + count && i - start < 10000; i++) {
            char *host = expand(htpl, prefix, i, NULL, o.domain, NULL);
            char *cn =
                host ? expand("{{.Hostname}}.{{.Domain}}", prefix, i, host, o.domain, NULL) : NULL;
            rc = host && cn ? make_node(&o, host, cn, tpl, prefix, i, err)
                            : weft_err_set(err, WEFT_ENOMEM, "out of memory");
            weft_free(host);
            weft_free(cn);
        }
    }
    const struct weft_config_node *specs = weft_config_node_child(on, "Specs");
    for (size_t i = 0; rc == 0 && specs != NULL && i < weft_config_node_len(specs); i++) {
        const struct weft_config_node *sp = weft_config_node_at(specs, i);
        const char *host = str_or(sp, "Hostname", NULL);
        if (host == NULL) {
            rc = weft_err_set(err, WEFT_ECONFIG, "organization %s: Specs[%zu] needs a Hostname",
                              name, i);
            break;
        }
        char *cn = expand(str_or(sp, "CommonName", "{{.Hostname}}.{{.Domain}}"), prefix, 0, host,
                          o.domain, NULL);
        rc = cn ? make_node(&o, host, cn, sp, prefix, 0, err)
                : weft_err_set(err, WEFT_ENOMEM, "out of memory");
        weft_free(cn);
    }
    if (rc == 0) {
        printf("%s\n", o.domain);
    }
    weft_x509_free(o.ca);
    weft_x509_free(o.tlsca);
    weft_x509_free(o.admin_cert);
    weft_key_free(o.ca_key);
    weft_key_free(o.tlsca_key);
    weft_free(o.ca_cn);
    weft_free(o.dir);
    weft_free(tlscn);
    return rc;
}

static int run(const char *config, const char *out, struct weft_err *err)
{
    struct weft_config *cfg = NULL;
    int rc = weft_config_load(config, NULL, &cfg, err);
    if (rc != 0) {
        return rc;
    }
    /* cryptogen: NotBefore = now rounded to the minute, minus 5 minutes */
    int64_t now = (int64_t)time(NULL);
    int64_t nb = (now + 30) / 60 * 60 - 300;
    const struct weft_config_node *root = weft_config_root(cfg);
    static const char *const kinds[2] = {"OrdererOrgs", "PeerOrgs"};
    for (int k = 0; k < 2 && rc == 0; k++) {
        const struct weft_config_node *list = weft_config_node_child(root, kinds[k]);
        if (list != NULL && weft_config_node_kind(list) != WEFT_CONFIG_SEQ) {
            rc = weft_err_set(err, WEFT_ECONFIG, "%s: %s must be a list", config, kinds[k]);
            break;
        }
        for (size_t i = 0; rc == 0 && list != NULL && i < weft_config_node_len(list); i++) {
            rc = gen_org(out, weft_config_node_at(list, i), k == 0, nb, err);
        }
    }
    weft_config_free(cfg);
    return rc;
}

int cmd_crypto(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool extend = strcmp(sub, "extend") == 0;
    if (!extend && strcmp(sub, "generate") != 0) {
        fprintf(stderr, "weft crypto: unknown command '%s'\n\n", sub);
        usage(stderr);
        return 2;
    }
    if (cmd_wants_help(argc - 1, argv + 1)) {
        usage(stdout);
        return 0;
    }
    const char *config = NULL, *dir = extend ? NULL : "crypto-config";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[i + 1];
        }
        if (nl == 8 && strncmp(a, "--config", nl) == 0 && val) {
            config = val;
        } else if (((!extend && nl == 8 && strncmp(a, "--output", nl) == 0) ||
                    (extend && nl == 7 && strncmp(a, "--input", nl) == 0)) &&
                   val) {
            dir = val;
        } else {
            fprintf(stderr, "weft crypto %s: unknown or incomplete option '%s'\n\n", sub, a);
            usage(stderr);
            return 2;
        }
        if (eq == NULL) {
            i++;
        }
    }
    if (config == NULL || dir == NULL) {
        fprintf(stderr, "weft crypto %s: --config and %s are required\n\n", sub,
                extend ? "--input" : "--output");
        usage(stderr);
        return 2;
    }
    fprintf(stderr, "WARNING: weft crypto makes development identities. Production identities "
                    "come from a certificate authority (weft ca, Fabric CA).\n");
    struct weft_err err;
    weft_err_clear(&err);
    int rc = run(config, dir, &err);
    if (rc != 0) {
        fprintf(stderr, "weft crypto %s: %s\n", sub, err.msg[0] ? err.msg : weft_strerror(rc));
        return 1;
    }
    return 0;
}
