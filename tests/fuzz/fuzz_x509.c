/* Fuzz target: X.509 certificate parsing (src/crypto/x509.c) as PEM and as
 * DER, then every accessor, the sanitized (low-S) re-encoding, the public
 * key export, a signature check with the certificate's key, and a chain
 * verification against a store holding the input as root. Also feeds the
 * bytes to the key loaders and the ECDSA DER parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "weft/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(struct weft_x509 *x)
{
    volatile size_t sink = 0;
    size_t n = 0;
    sink += strlen(weft_x509_subject(x)) + strlen(weft_x509_issuer(x));
    const struct weft_x509_name *nm = weft_x509_subject_name(x);
    sink += strlen(nm->common_name) + nm->n_organizational_unit + nm->n_organization;
    for (size_t i = 0; i < nm->n_organizational_unit; i++) {
        sink += strlen(nm->organizational_unit[i]);
    }
    sink += strlen(weft_x509_issuer_name(x)->common_name);
    (void)weft_x509_subject_der(x, &n);
    (void)weft_x509_issuer_der(x, &n);
    for (size_t i = 0; i < weft_x509_ou_count(x); i++) {
        sink += strlen(weft_x509_ou(x, i));
    }
    (void)weft_x509_serial(x, &n);
    sink += strlen(weft_x509_serial_hex(x));
    for (size_t i = 0; i < weft_x509_san_dns_count(x); i++) {
        sink += strlen(weft_x509_san_dns(x, i));
    }
    for (size_t i = 0; i < weft_x509_san_ip_count(x); i++) {
        (void)weft_x509_san_ip(x, i, &n);
        sink += strlen(weft_x509_san_ip_str(x, i));
    }
    for (size_t i = 0; i < weft_x509_san_email_count(x); i++) {
        sink += strlen(weft_x509_san_email(x, i));
    }
    sink += (size_t)weft_x509_not_before(x) + (size_t)weft_x509_not_after(x);
    sink += weft_x509_key_usage(x, NULL) + weft_x509_ext_key_usage(x, NULL);
    sink += weft_x509_is_ca(x) + weft_x509_has_basic_constraints(x);
    sink += (size_t)weft_x509_path_len(x);
    (void)weft_x509_ski(x, &n);
    (void)weft_x509_aki(x, &n);
    sink += weft_x509_der_hash(x)[0];
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (weft_x509_sanitized_der(x, &der, &der_len, NULL) == 0) {
        struct weft_x509 *again = NULL;
        if (weft_x509_parse_der(der, der_len, &again, NULL) == 0) {
            weft_x509_free(again);
        }
        weft_free(der);
    }
    char *pem = NULL;
    if (weft_x509_to_pem(x, &pem, &n, NULL) == 0) {
        weft_free(pem);
    }
    struct weft_key *k = weft_x509_key(x);
    if (k != NULL) {
        uint8_t ski[WEFT_SKI_LEN], digest[32] = {0};
        weft_key_ski(k, ski);
        const uint8_t *cder = weft_x509_der(x, &n);
        sink += weft_ecdsa_verify_digest(k, digest, cder, n > 72 ? 72 : n, NULL) == 0;
    }
    (void)weft_x509_issued_by(x, x);
    struct weft_x509_store *st = weft_x509_store_new();
    if (st != NULL) {
        if (weft_x509_store_add_root(st, x, NULL) == 0) {
            struct weft_x509_chain chain = {0};
            if (weft_x509_verify_chain(st, x, weft_x509_not_before(x) + 1, &chain, NULL) == 0) {
                weft_x509_chain_free(&chain);
            }
        }
        weft_x509_store_free(st);
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weft_x509 *x = NULL;
    if (weft_x509_parse_der(data, size, &x, NULL) == 0) {
        exercise(x);
        weft_x509_free(x);
    }
    struct weft_x509 **all = NULL;
    size_t n = 0;
    if (weft_x509_parse_pem_all(data, size, &all, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) {
            exercise(all[i]);
        }
        weft_x509_array_free(all, n);
    }
    struct weft_key *k = NULL;
    if (weft_key_load_private(data, size, &k, NULL) == 0) {
        weft_key_free(k);
    }
    if (weft_key_load_public(data, size, &k, NULL) == 0) {
        weft_key_free(k);
    }
    uint8_t r[32], s[32], out[WEFT_ECDSA_SIG_MAX];
    size_t out_len = 0;
    (void)weft_ecdsa_sig_parse(data, size, r, s);
    (void)weft_ecdsa_sig_normalize(data, size, out, &out_len);
    return 0;
}
