/* Helpers for the ops tests: test certificates, an HTTP(S) client on
 * libcurl, a raw-socket HTTP client, and a Prometheus text-format parser. */
#ifndef WEFT_OPS_TESTUTIL_H
#define WEFT_OPS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* ---- certificates ---- */
struct test_pki {
    char *dir;
    char *ca;          /* CA certificate (trusted by clients and the server) */
    char *server_cert; /* server cert for 127.0.0.1/localhost, signed by ca */
    char *server_key;
    char *client_cert; /* client cert CN=client1,O=Org1, signed by ca */
    char *client_key;
    char *rogue_ca;    /* another CA */
    char *rogue_cert;  /* client cert signed by rogue_ca */
    char *rogue_key;
};
/* Generates everything into a fresh tmpdir. 0 on success. */
int test_pki_make(struct test_pki *pki);
void test_pki_free(struct test_pki *pki);

/* ---- HTTP client (libcurl) ---- */
struct http_client_tls {
    const char *ca;   /* trust anchor for the server, or NULL for plain http */
    const char *cert; /* client certificate, or NULL */
    const char *key;
};
struct http_result {
    int curl_rc;       /* CURLcode; non-zero when the exchange failed */
    long status;
    char *body;        /* NUL-terminated, free with weft_free */
    size_t len;
    char ctype[128];
    char allow[128];
};
/* method "GET"/"PUT"/...; body may be NULL. Returns curl_rc. */
int http_do(int port, const struct http_client_tls *tls, const char *method, const char *path,
            const char *body, size_t blen, struct http_result *out);
void http_result_free(struct http_result *r);

/* ---- raw socket ---- */
/* Connects to 127.0.0.1:port; returns fd or -1. */
int raw_connect(int port);
/* Sends req, reads until EOF (up to cap bytes, 10 s). Returns a weft_malloc'd
 * NUL-terminated response or NULL. */
char *raw_exchange(int port, const char *req, size_t reqlen);

/* ---- Prometheus text format 0.0.4 parser ---- */
#define PROM_MAX_LABELS 8
struct prom_sample {
    char name[128];
    int nlabels;
    char lname[PROM_MAX_LABELS][64];
    char lval[PROM_MAX_LABELS][256];
    double value;
};
struct prom_family {
    char name[128];
    char type[16];
    char help[256];
};
struct prom {
    struct prom_sample *s;
    size_t ns;
    struct prom_family f[128];
    size_t nf;
};
/* Parses every line strictly; returns 0, or the 1-based number of the first
 * bad line. out is filled (free with prom_free) even on error. */
int prom_parse(const char *text, struct prom *out);
void prom_free(struct prom *p);
/* Finds a sample by name and label pairs ("k1","v1","k2","v2",...,NULL). */
const struct prom_sample *prom_find(const struct prom *p, const char *name, ...);
const struct prom_family *prom_family(const struct prom *p, const char *name);

#endif
