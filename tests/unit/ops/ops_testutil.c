/* Test helpers for the ops suite; see ops_testutil.h. */
#include "ops_testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testlib.h"
#include "weft/base.h"

/* ======================================================================== */
/* certificates                                                              */
/* ======================================================================== */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL) {
        return -1;
    }
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

/* kind: 0 = CA, 1 = server, 2 = client */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *org, X509 *issuer,
                       EVP_PKEY *issuer_key, int kind)
{
    X509 *c = X509_new();
    if (c == NULL) {
        return NULL;
    }
    X509_set_version(c, 2);
    unsigned char serial[8];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_set_pubkey(c, key);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)org, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *iss = issuer ? issuer : c;
    X509_set_issuer_name(c, X509_get_subject_name(iss));
    int rc = 0;
    if (kind == 0) {
        rc |= add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE");
        rc |= add_ext(c, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
        rc |= add_ext(c, iss, NID_subject_key_identifier, "hash");
    } else {
        rc |= add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE");
        rc |= add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        rc |= add_ext(c, iss, NID_ext_key_usage, kind == 1 ? "serverAuth" : "clientAuth");
        rc |= add_ext(c, iss, NID_authority_key_identifier, "keyid:always");
        if (kind == 1) {
            rc |= add_ext(c, iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
        }
    }
    if (rc != 0 || X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    int ok = cert ? PEM_write_X509(f, cert)
                  : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    return ok ? 0 : -1;
}

int test_pki_make(struct test_pki *pki)
{
    memset(pki, 0, sizeof(*pki));
    pki->dir = wt_tmpdir("weft-ops-pki");
#define P(field, file) pki->field = weft_asprintf("%s/%s", pki->dir, file)
    P(ca, "ca.pem");
    P(server_cert, "server.pem");
    P(server_key, "server.key");
    P(client_cert, "client.pem");
    P(client_key, "client.key");
    P(rogue_ca, "rogue-ca.pem");
    P(rogue_cert, "rogue.pem");
    P(rogue_key, "rogue.key");
#undef P
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256");
    EVP_PKEY *rk = EVP_EC_gen("P-256"), *rck = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "ca.org1", "Org1", NULL, NULL, 0);
    X509 *srv = make_cert(sk, "localhost", "Org1", ca, cak, 1);
    X509 *cli = make_cert(ck, "client1", "Org1", ca, cak, 2);
    X509 *rca = make_cert(rk, "ca.rogue", "Rogue", NULL, NULL, 0);
    X509 *rcl = make_cert(rck, "client1", "Org1", rca, rk, 2);
    int rc = -1;
    if (ca && srv && cli && rca && rcl && write_pem(pki->ca, ca, NULL) == 0 &&
        write_pem(pki->server_cert, srv, NULL) == 0 && write_pem(pki->server_key, NULL, sk) == 0 &&
        write_pem(pki->client_cert, cli, NULL) == 0 && write_pem(pki->client_key, NULL, ck) == 0 &&
        write_pem(pki->rogue_ca, rca, NULL) == 0 && write_pem(pki->rogue_cert, rcl, NULL) == 0 &&
        write_pem(pki->rogue_key, NULL, rck) == 0) {
        rc = 0;
    }
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    X509_free(rca);
    X509_free(rcl);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(rck);
    return rc;
}

void test_pki_free(struct test_pki *pki)
{
    if (pki->dir != NULL) {
        wt_rmtree(pki->dir);
    }
    weft_free(pki->dir);
    weft_free(pki->ca);
    weft_free(pki->server_cert);
    weft_free(pki->server_key);
    weft_free(pki->client_cert);
    weft_free(pki->client_key);
    weft_free(pki->rogue_ca);
    weft_free(pki->rogue_cert);
    weft_free(pki->rogue_key);
    memset(pki, 0, sizeof(*pki));
}

/* ======================================================================== */
/* libcurl client                                                            */
/* ======================================================================== */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct weft_buf *b = ud;
    return weft_buf_append(b, ptr, size * nmemb) == 0 ? size * nmemb : 0;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct http_result *r = ud;
    size_t n = size * nmemb;
    char line[256];
    size_t l = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
    memcpy(line, ptr, l);
    line[l] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Allow:", 6) == 0) {
        snprintf(r->allow, sizeof(r->allow), "%s", line + 6 + strspn(line + 6, " "));
    }
    return n;
}

int http_do(int port, const struct http_client_tls *tls, const char *method, const char *path,
            const char *body, size_t blen, struct http_result *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (c == NULL) {
        out->curl_rc = CURLE_FAILED_INIT;
        return out->curl_rc;
    }
    char url[512];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", tls && tls->ca ? "https" : "http", port,
             path);
    struct weft_buf b;
    weft_buf_init(&b, 64u << 20);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    }
    if (tls && tls->ca) {
        curl_easy_setopt(c, CURLOPT_CAINFO, tls->ca);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (tls->cert) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, tls->cert);
            curl_easy_setopt(c, CURLOPT_SSLKEY, tls->key);
        }
    }
    out->curl_rc = (int)curl_easy_perform(c);
    if (out->curl_rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->ctype, sizeof(out->ctype), "%s", ct ? ct : "");
    }
    out->body = weft_malloc(b.len + 1);
    if (out->body != NULL) {
        if (b.len > 0) {
            memcpy(out->body, b.data, b.len);
        }
        out->body[b.len] = '\0';
        out->len = b.len;
    }
    weft_buf_close(&b);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return out->curl_rc;
}

void http_result_free(struct http_result *r)
{
    weft_free(r->body);
    r->body = NULL;
}

/* ======================================================================== */
/* raw sockets                                                               */
/* ======================================================================== */

int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

char *raw_exchange(int port, const char *req, size_t reqlen)
{
    int fd = raw_connect(port);
    if (fd < 0) {
        return NULL;
    }
    size_t off = 0;
    while (off < reqlen) {
        ssize_t n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break; /* the server may answer (413) and close before we finish */
        }
        off += (size_t)n;
    }
    struct weft_buf b;
    weft_buf_init(&b, 1u << 20);
    char tmp[4096];
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            break;
        }
        if (weft_buf_append(&b, tmp, (size_t)n) != 0) {
            break;
        }
    }
    close(fd);
    if (weft_buf_append(&b, "", 0) != 0 || b.data == NULL) {
        weft_buf_close(&b);
        return NULL;
    }
    return (char *)weft_buf_steal(&b, NULL);
}

/* ======================================================================== */
/* Prometheus text format parser                                             */
/* ======================================================================== */

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static const char *parse_name(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    if (!name_char(*p, true)) {
        return NULL;
    }
    while (name_char(*p, n == 0)) {
        if (n + 1 >= cap) {
            return NULL;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
    return p;
}

static struct prom_family *fam_get(struct prom *pr, const char *name)
{
    for (size_t i = 0; i < pr->nf; i++) {
        if (strcmp(pr->f[i].name, name) == 0) {
            return &pr->f[i];
        }
    }
    return NULL;
}

/* Family a sample belongs to: its own name, or the histogram base name. */
static struct prom_family *sample_family(struct prom *pr, const char *sname)
{
    struct prom_family *f = fam_get(pr, sname);
    if (f != NULL) {
        return f;
    }
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(sname), sl = strlen(sfx[i]);
        if (l > sl && strcmp(sname + l - sl, sfx[i]) == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(l - sl), sname);
            f = fam_get(pr, base);
            if (f != NULL && (strcmp(f->type, "histogram") == 0 || strcmp(f->type, "summary") == 0)) {
                return f;
            }
        }
    }
    return NULL;
}

static int parse_line(struct prom *pr, const char *line)
{
    if (line[0] == '\0') {
        return 0;
    }
    if (line[0] == '#') {
        const char *p = line + 1;
        while (*p == ' ') {
            p++;
        }
        bool help = strncmp(p, "HELP ", 5) == 0, type = strncmp(p, "TYPE ", 5) == 0;
        if (!help && !type) {
            return 0; /* plain comment */
        }
        p += 5;
        char name[128];
        p = parse_name(p, name, sizeof(name));
        if (p == NULL || (*p != ' ' && *p != '\0')) {
            return -1;
        }
        if (*p == ' ') {
            p++;
        }
        struct prom_family *f = fam_get(pr, name);
        if (f == NULL) {
            if (pr->nf == sizeof(pr->f) / sizeof(pr->f[0])) {
                return -1;
            }
            f = &pr->f[pr->nf++];
            memset(f, 0, sizeof(*f));
            snprintf(f->name, sizeof(f->name), "%s", name);
        }
        if (type) {
            if (f->type[0] != '\0') {
                return -1; /* second TYPE line */
            }
            if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "histogram") &&
                strcmp(p, "summary") && strcmp(p, "untyped")) {
                return -1;
            }
            snprintf(f->type, sizeof(f->type), "%s", p);
        } else {
            size_t n = 0;
            for (; *p && n + 1 < sizeof(f->help); p++) {
                if (*p == '\\') {
                    p++;
                    if (*p == 'n') {
                        f->help[n++] = '\n';
                    } else if (*p == '\\') {
                        f->help[n++] = '\\';
                    } else {
                        return -1;
                    }
                } else {
                    f->help[n++] = *p;
                }
            }
            f->help[n] = '\0';
        }
        return 0;
    }
    struct prom_sample s;
    memset(&s, 0, sizeof(s));
    const char *p = parse_name(line, s.name, sizeof(s.name));
    if (p == NULL) {
        return -1;
    }
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s.nlabels == PROM_MAX_LABELS) {
                return -1;
            }
            char *ln = s.lname[s.nlabels];
            size_t n = 0;
            if (!name_char(*p, true) || *p == ':') {
                return -1;
            }
            while (name_char(*p, n == 0) && *p != ':') {
                if (n + 1 >= sizeof(s.lname[0])) {
                    return -1;
                }
                ln[n++] = *p++;
            }
            ln[n] = '\0';
            if (*p++ != '=' || *p++ != '"') {
                return -1;
            }
            char *lv = s.lval[s.nlabels];
            n = 0;
            while (*p != '"') {
                if (*p == '\0' || n + 1 >= sizeof(s.lval[0])) {
                    return -1;
                }
                if (*p == '\\') {
                    p++;
                    if (*p == 'n') {
                        lv[n++] = '\n';
                    } else if (*p == '\\' || *p == '"') {
                        lv[n++] = *p;
                    } else {
                        return -1;
                    }
                    p++;
                } else {
                    lv[n++] = *p++;
                }
            }
            lv[n] = '\0';
            p++; /* closing quote */
            s.nlabels++;
            if (*p == ',') {
                p++;
            } else if (*p != '}') {
                return -1;
            }
        }
        p++;
    }
    if (*p++ != ' ') {
        return -1;
    }
    char *end;
    errno = 0;
    s.value = strtod(p, &end);
    if (end == p || errno == ERANGE) {
        return -1;
    }
    if (*end == ' ') { /* optional timestamp */
        char *e2;
        (void)strtoll(end + 1, &e2, 10);
        if (e2 == end + 1 || *e2 != '\0') {
            return -1;
        }
    } else if (*end != '\0') {
        return -1;
    }
    struct prom_family *f = sample_family(pr, s.name);
    if (f == NULL || f->type[0] == '\0') {
        return -1; /* a sample before its TYPE line */
    }
    struct prom_sample *ns = weft_realloc(pr->s, (pr->ns + 1) * sizeof(*ns));
    if (ns == NULL) {
        return -1;
    }
    pr->s = ns;
    pr->s[pr->ns++] = s;
    return 0;
}

int prom_parse(const char *text, struct prom *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] != '\n') {
        return 1; /* the format requires a final newline */
    }
    int lineno = 0;
    const char *p = text;
    while (*p) {
        lineno++;
        const char *nl = strchr(p, '\n');
        size_t l = (size_t)(nl - p);
        char *line = weft_strndup(p, l);
        int rc = line ? parse_line(out, line) : -1;
        weft_free(line);
        if (rc != 0) {
            return lineno;
        }
        p = nl + 1;
    }
    return 0;
}

void prom_free(struct prom *p)
{
    weft_free(p->s);
    p->s = NULL;
    p->ns = 0;
}

const struct prom_sample *prom_find(const struct prom *p, const char *name, ...)
{
    for (size_t i = 0; i < p->ns; i++) {
        const struct prom_sample *s = &p->s[i];
        if (strcmp(s->name, name) != 0) {
            continue;
        }
        va_list ap;
        va_start(ap, name);
        bool ok = true;
        int want = 0;
        for (;;) {
            const char *k = va_arg(ap, const char *);
            if (k == NULL) {
                break;
            }
            const char *v = va_arg(ap, const char *);
            want++;
            bool found = false;
            for (int j = 0; j < s->nlabels; j++) {
                if (strcmp(s->lname[j], k) == 0 && strcmp(s->lval[j], v) == 0) {
                    found = true;
                }
            }
            ok = ok && found;
        }
        va_end(ap);
        if (ok && want == s->nlabels) {
            return s;
        }
    }
    return NULL;
}

const struct prom_family *prom_family(const struct prom *p, const char *name)
{
    for (size_t i = 0; i < p->nf; i++) {
        if (strcmp(p->f[i].name, name) == 0) {
            return &p->f[i];
        }
    }
    return NULL;
}
