/* X.509 parsing, accessors, chain verification with expiry, CRLs and wrong
 * CAs, using certificates made at test time (certgen.c). */
#include <string.h>
#include <time.h>

#include "certgen.h"
#include "tests.h"
#include "weft/crypto.h"

#define DAY 86400L

static struct weft_x509 *load(const struct tg_cert *c)
{
    size_t len = 0;
    uint8_t *der = tg_der(c, &len);
    struct weft_x509 *x = NULL;
    struct weft_err err = {0};
    int rc = weft_x509_parse_der(der, len, &x, &err);
    weft_free(der);
    assert_int_equal(rc, 0);
    return x;
}

static void test_accessors(void **state)
{
    (void)state;
    struct tg_cert *ca = tg_ca("ca.test", NULL, -DAY, 365 * DAY);
    struct tg_cert *leaf = tg_leaf("peer0.test", "peer", ca, 0x1234, -DAY, 30 * DAY);
    struct weft_x509 *xca = load(ca);
    struct weft_x509 *x = load(leaf);

    assert_string_equal(weft_x509_subject(x), "CN=peer0.test,OU=peer,O=weft test,C=US");
    assert_string_equal(weft_x509_issuer(x), "CN=ca.test,O=weft test,C=US");
    const struct weft_x509_name *n = weft_x509_subject_name(x);
    assert_string_equal(n->common_name, "peer0.test");
    assert_int_equal(n->n_organization, 1);
    assert_string_equal(n->organization[0], "weft test");
    assert_int_equal(weft_x509_ou_count(x), 1);
    assert_string_equal(weft_x509_ou(x, 0), "peer");
    assert_null(weft_x509_ou(x, 1));
    assert_string_equal(weft_x509_issuer_name(x)->common_name, "ca.test");
    assert_string_equal(weft_x509_serial_hex(x), "1234");
    size_t slen = 0;
    const uint8_t *serial = weft_x509_serial(x, &slen);
    assert_int_equal(slen, 2);
    assert_int_equal(serial[0], 0x12);

    assert_int_equal(weft_x509_san_dns_count(x), 1);
    assert_string_equal(weft_x509_san_dns(x, 0), "peer0.test");
    assert_int_equal(weft_x509_san_ip_count(x), 2);
    assert_string_equal(weft_x509_san_ip_str(x, 0), "127.0.0.1");
    assert_string_equal(weft_x509_san_ip_str(x, 1), "::1");
    size_t iplen = 0;
    const uint8_t *ip = weft_x509_san_ip(x, 0, &iplen);
    assert_int_equal(iplen, 4);
    assert_int_equal(ip[0], 127);
    assert_null(weft_x509_san_dns(x, 1));

    time_t now = time(NULL);
    assert_true(weft_x509_not_before(x) <= now && weft_x509_not_before(x) > now - DAY - 60);
    assert_true(weft_x509_not_after(x) > now + 29 * DAY);
    assert_true(weft_x509_valid_at(x, now));
    assert_false(weft_x509_valid_at(x, now + 31 * DAY));

    bool present = false;
    assert_int_equal(weft_x509_key_usage(x, &present), WEFT_X509_KU_DIGITAL_SIGNATURE);
    assert_true(present);
    assert_int_equal(weft_x509_key_usage(xca, NULL), WEFT_X509_KU_DIGITAL_SIGNATURE |
                                                         WEFT_X509_KU_KEY_CERT_SIGN |
                                                         WEFT_X509_KU_CRL_SIGN);
    weft_x509_ext_key_usage(x, &present);
    assert_false(present);
    assert_false(weft_x509_is_ca(x));
    assert_true(weft_x509_has_basic_constraints(x));
    assert_true(weft_x509_is_ca(xca));
    assert_int_equal(weft_x509_path_len(xca), -1);

    size_t ski_len = 0, aki_len = 0;
    const uint8_t *ca_ski = weft_x509_ski(xca, &ski_len);
    const uint8_t *aki = weft_x509_aki(x, &aki_len);
    assert_non_null(ca_ski);
    assert_non_null(aki);
    assert_int_equal(ski_len, aki_len);
    assert_memory_equal(ca_ski, aki, ski_len);

    /* The cached key is the leaf's key. */
    size_t kpem_len = 0;
    char *kpem = tg_key_pem(leaf, &kpem_len);
    struct weft_key *priv = NULL;
    assert_int_equal(weft_key_load_private(kpem, kpem_len, &priv, NULL), 0);
    assert_true(weft_key_public_equal(priv, weft_x509_key(x)));
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign(priv, "m", 1, sig, &sig_len, NULL), 0);
    assert_int_equal(weft_ecdsa_verify(weft_x509_key(x), "m", 1, sig, sig_len, NULL), 0);

    assert_true(weft_x509_issued_by(x, xca));
    assert_false(weft_x509_issued_by(xca, x));

    /* PEM round trip, DER kept byte for byte. */
    char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(weft_x509_to_pem(x, &pem, &pem_len, NULL), 0);
    struct weft_x509 *x2 = NULL;
    assert_int_equal(weft_x509_parse_pem(pem, pem_len, &x2, NULL), 0);
    assert_true(weft_x509_equal(x, x2));
    size_t d1 = 0, d2 = 0;
    weft_x509_der(x, &d1);
    weft_x509_der(x2, &d2);
    assert_int_equal(d1, d2);
    uint8_t h[32];
    const uint8_t *der = weft_x509_der(x, &d1);
    weft_sha256(der, d1, h);
    assert_memory_equal(h, weft_x509_der_hash(x), 32);

    /* Bundle of two. */
    char *pem_ca = NULL;
    size_t pem_ca_len = 0;
    assert_int_equal(weft_x509_to_pem(xca, &pem_ca, &pem_ca_len, NULL), 0);
    char *bundle = weft_asprintf("junk before\n%s%s", pem, pem_ca);
    struct weft_x509 **all = NULL;
    size_t nall = 0;
    assert_int_equal(weft_x509_parse_pem_all(bundle, strlen(bundle), &all, &nall, NULL), 0);
    assert_int_equal(nall, 2);
    assert_true(weft_x509_equal(all[1], xca));
    weft_x509_array_free(all, nall);

    weft_free(bundle);
    weft_free(pem_ca);
    weft_free(pem);
    weft_free(kpem);
    weft_key_free(priv);
    weft_x509_free(x2);
    weft_x509_free(x);
    weft_x509_free(xca);
    tg_free(leaf);
    tg_free(ca);
}

static void test_chain_cases(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct tg_cert *root = tg_ca("root.test", NULL, -10 * DAY, 3650 * DAY);
    struct tg_cert *inter = tg_ca("inter.test", root, -5 * DAY, 1000 * DAY);
    struct tg_cert *good = tg_leaf("good", "client", inter, 11, -DAY, 100 * DAY);
    struct tg_cert *expired = tg_leaf("expired", "client", inter, 12, -3 * DAY, -DAY);
    struct tg_cert *future = tg_leaf("future", "client", inter, 13, DAY, 3 * DAY);
    struct tg_cert *revoked = tg_leaf("revoked", "client", inter, 14, -DAY, 100 * DAY);
    struct tg_cert *other_root = tg_ca("other.test", NULL, -DAY, 100 * DAY);
    struct tg_cert *stranger = tg_leaf("stranger", "client", other_root, 15, -DAY, 100 * DAY);
    struct tg_cert *direct = tg_leaf("direct", "peer", root, 16, -DAY, 100 * DAY);

    struct weft_x509 *xroot = load(root), *xinter = load(inter), *xgood = load(good),
                     *xexp = load(expired), *xfut = load(future), *xrev = load(revoked),
                     *xstr = load(stranger), *xdirect = load(direct);

    struct weft_x509_store *st = weft_x509_store_new();
    assert_non_null(st);
    struct weft_err err = {0};
    assert_int_equal(weft_x509_store_add_root(st, xroot, &err), 0);
    assert_int_equal(weft_x509_store_add_root(st, xroot, &err), 0); /* duplicate ignored */
    assert_int_equal(weft_x509_store_root_count(st), 1);
    assert_int_equal(weft_x509_store_add_intermediate(st, xinter, &err), 0);
    assert_int_equal(weft_x509_store_intermediate_count(st), 1);

    struct weft_x509_chain chain = {0};
    assert_int_equal(weft_x509_verify_chain(st, xgood, now, &chain, &err), 0);
    assert_int_equal(chain.n, 3);
    assert_ptr_equal(chain.certs[0], xgood);
    assert_ptr_equal(chain.certs[1], xinter);
    assert_ptr_equal(chain.certs[2], xroot);
    weft_x509_chain_free(&chain);
    assert_int_equal(chain.n, 0);
    assert_int_equal(weft_x509_verify_chain(st, xdirect, now, NULL, &err), 0);

    memset(&err, 0, sizeof(err));
    assert_int_equal(weft_x509_verify_chain(st, xexp, now, NULL, &err), WEFT_EPERM);
    assert_true(strncmp(err.msg, "expired", 7) == 0);
    /* At Fabric's validation time (NotBefore + 1 s) the same cert is fine. */
    assert_int_equal(weft_x509_verify_chain(st, xexp, weft_x509_not_before(xexp) + 1, NULL, &err),
                     0);

    memset(&err, 0, sizeof(err));
    assert_int_equal(weft_x509_verify_chain(st, xfut, now, NULL, &err), WEFT_EPERM);
    assert_true(strncmp(err.msg, "not yet valid", 13) == 0);

    memset(&err, 0, sizeof(err));
    assert_int_equal(weft_x509_verify_chain(st, xstr, now, NULL, &err), WEFT_EPERM);
    assert_true(strncmp(err.msg, "untrusted", 9) == 0);

    /* Without the intermediate, the leaf does not chain. */
    struct weft_x509_store *st_noint = weft_x509_store_new();
    assert_int_equal(weft_x509_store_add_root(st_noint, xroot, &err), 0);
    assert_int_equal(weft_x509_verify_chain(st_noint, xgood, now, NULL, &err), WEFT_EPERM);
    weft_x509_store_free(st_noint);

    /* CRL from the intermediate revokes serial 14 only. A CRL with the same
     * serial from the wrong issuer does nothing. */
    long serials[] = {14, 99};
    size_t crl_len = 0;
    uint8_t *crl = tg_crl(inter, serials, 2, &crl_len);
    long other_serials[] = {11};
    size_t ocrl_len = 0;
    uint8_t *ocrl = tg_crl(other_root, other_serials, 1, &ocrl_len);
    assert_int_equal(weft_x509_verify_chain(st, xrev, now, NULL, &err), 0);
    assert_int_equal(weft_x509_store_add_crl(st, crl, crl_len, &err), 0);
    assert_int_equal(weft_x509_store_add_crl(st, ocrl, ocrl_len, &err), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(weft_x509_verify_chain(st, xrev, now, NULL, &err), WEFT_EPERM);
    assert_true(strncmp(err.msg, "revoked", 7) == 0);
    assert_true(weft_x509_store_is_revoked(st, xrev, xinter));
    assert_false(weft_x509_store_is_revoked(st, xgood, xinter));
    assert_int_equal(weft_x509_verify_chain(st, xgood, now, NULL, &err), 0);
    assert_int_equal(weft_x509_store_add_crl(st, "garbage", 7, &err), WEFT_EPARSE);

    /* Concurrent-safe reads: verify many times quickly (sanity). */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(weft_x509_verify_chain(st, xgood, now, NULL, NULL), 0);
    }

    weft_free(crl);
    weft_free(ocrl);
    weft_x509_store_free(st);
    struct weft_x509 *xs[] = {xroot, xinter, xgood, xexp, xfut, xrev, xstr, xdirect};
    for (size_t i = 0; i < 8; i++) {
        weft_x509_free(xs[i]);
    }
    struct tg_cert *ts[] = {root,    inter,      good,     expired, future,
                            revoked, other_root, stranger, direct};
    for (size_t i = 0; i < 9; i++) {
        tg_free(ts[i]);
    }
}

/* Signature DER at the end of a certificate (inside its BIT STRING). */
static size_t sig_pos(const uint8_t *der, size_t len)
{
    for (size_t p = len - 74; p + 8 < len; p++) {
        if (der[p] == 0x30 && (size_t)der[p + 1] + 2 == len - p && der[p - 1] == 0x00) {
            return p;
        }
    }
    return 0;
}

static void test_sanitized_der(void **state)
{
    (void)state;
    struct tg_cert *ca = tg_ca("san.ca", NULL, -DAY, DAY);
    struct weft_x509 *xca = load(ca);
    int high = 0, low = 0;
    /* OpenSSL signs without the low-S rule, so about half come out high-S. */
    for (int attempt = 0; attempt < 40; attempt++) {
        struct tg_cert *leaf = tg_leaf("san.leaf", "client", ca, 100 + attempt, -DAY, DAY);
        struct weft_x509 *x = load(leaf);
        tg_free(leaf);
        size_t len = 0;
        const uint8_t *der = weft_x509_der(x, &len);
        size_t pos = sig_pos(der, len);
        assert_true(pos > 0);
        int is_low = weft_ecdsa_sig_is_low_s(der + pos, len - pos);
        assert_true(is_low == 0 || is_low == 1);
        uint8_t *san = NULL;
        size_t san_len = 0;
        assert_int_equal(weft_x509_sanitized_der(x, &san, &san_len, NULL), 0);
        if (is_low) {
            low++;
            assert_int_equal(san_len, len);
            assert_memory_equal(san, der, len);
        } else {
            high++;
            /* Still a certificate, same TBS, signature (r, n - s), low-S, and
             * still verifies under the CA. */
            struct weft_x509 *xs = NULL;
            assert_int_equal(weft_x509_parse_der(san, san_len, &xs, NULL), 0);
            assert_string_equal(weft_x509_subject(xs), weft_x509_subject(x));
            assert_true(weft_x509_issued_by(xs, xca));
            size_t spos = sig_pos(san, san_len);
            assert_true(spos > 0);
            assert_int_equal(weft_ecdsa_sig_is_low_s(san + spos, san_len - spos), 1);
            uint8_t flipped[WEFT_ECDSA_SIG_MAX];
            size_t flen = 0;
            assert_int_equal(weft_ecdsa_sig_flip_s(der + pos, len - pos, flipped, &flen), 0);
            assert_int_equal(flen, san_len - spos);
            assert_memory_equal(flipped, san + spos, flen);
            /* Sanitising is idempotent. */
            uint8_t *again = NULL;
            size_t again_len = 0;
            assert_int_equal(weft_x509_sanitized_der(xs, &again, &again_len, NULL), 0);
            assert_int_equal(again_len, san_len);
            assert_memory_equal(again, san, san_len);
            weft_free(again);
            weft_x509_free(xs);
        }
        weft_free(san);
        weft_x509_free(x);
    }
    assert_true(high > 0 && low > 0);
    weft_x509_free(xca);
    tg_free(ca);
}

static void test_garbage_and_truncation(void **state)
{
    (void)state;
    struct tg_cert *ca = tg_ca("trunc.ca", NULL, -DAY, DAY);
    size_t len = 0;
    uint8_t *der = tg_der(ca, &len);
    struct weft_x509 *x = NULL;
    struct weft_err err = {0};
    for (size_t n = 0; n < len; n++) {
        assert_true(weft_x509_parse_der(der, n, &x, &err) < 0);
        assert_null(x);
    }
    /* Trailing bytes are an error in DER input. */
    uint8_t *longer = weft_malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_int_equal(weft_x509_parse_der(longer, len + 1, &x, &err), WEFT_EPARSE);
    /* Byte flips: never crash; either parse or error. */
    for (size_t i = 0; i < len; i += 3) {
        memcpy(longer, der, len);
        longer[i] ^= 0xa5;
        if (weft_x509_parse_der(longer, len, &x, &err) == 0) {
            (void)weft_x509_subject(x);
            weft_x509_free(x);
            x = NULL;
        }
    }
    const char *garbage[] = {"", "not a cert",
                             "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
                             "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        assert_true(weft_x509_parse_pem(garbage[i], strlen(garbage[i]), &x, &err) < 0);
        assert_null(x);
    }
    weft_free(longer);
    weft_free(der);
    tg_free(ca);
}

int run_x509_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_chain_cases),
        cmocka_unit_test(test_sanitized_der),
        cmocka_unit_test(test_garbage_and_truncation),
    };
    return cmocka_run_group_tests_name("crypto_x509", tests, NULL, NULL);
}
