/* SHA-256 known answers, key handling, ECDSA sign/verify and the low-S rule. */
#include <stdio.h>
#include <string.h>

#include "tests.h"
#include "weft/crypto.h"

struct kat {
    const char *msg;
    size_t repeat;
    const char *hex;
};

/* FIPS 180-2 / NIST CAVP examples. */
static const struct kat sha_kats[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnop"
     "qrsmnopqrstnopqrstu",
     1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void test_sha256_kat(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(sha_kats) / sizeof(sha_kats[0]); k++) {
        const struct kat *t = &sha_kats[k];
        size_t mlen = strlen(t->msg);
        size_t total = mlen * t->repeat;
        uint8_t *buf = weft_malloc(total + 1);
        assert_non_null(buf);
        for (size_t i = 0; i < t->repeat; i++) {
            memcpy(buf + i * mlen, t->msg, mlen);
        }
        uint8_t want[32], got[32];
        assert_int_equal(th_unhex(t->hex, want, 32), 32);
        weft_sha256(buf, total, got);
        assert_memory_equal(got, want, 32);

        /* Streaming in uneven pieces gives the same answer, twice (reuse). */
        struct weft_sha256 *h = weft_sha256_new();
        assert_non_null(h);
        for (int round = 0; round < 2; round++) {
            size_t off = 0, step = 1;
            while (off < total) {
                size_t n = step < total - off ? step : total - off;
                assert_int_equal(weft_sha256_update(h, buf + off, n), 0);
                off += n;
                step = step * 3 + 1;
            }
            memset(got, 0, sizeof(got));
            assert_int_equal(weft_sha256_final(h, got), 0);
            assert_memory_equal(got, want, 32);
        }
        weft_sha256_free(h);
        weft_free(buf);
    }
    uint8_t empty[32], want[32];
    weft_sha256(NULL, 0, empty);
    th_unhex(sha_kats[0].hex, want, 32);
    assert_memory_equal(empty, want, 32);
}

static void test_random_hex(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal(weft_crypto_random(a, sizeof(a)), 0);
    assert_int_equal(weft_crypto_random(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    char hex[9];
    const uint8_t v[4] = {0x00, 0xab, 0x10, 0xff};
    weft_crypto_hex(v, 4, hex);
    assert_string_equal(hex, "00ab10ff");
}

static void test_key_roundtrip(void **state)
{
    (void)state;
    struct weft_err err = {0};
    struct weft_key *k = NULL;
    assert_int_equal(weft_key_generate(&k, &err), 0);
    assert_true(weft_key_is_private(k));

    char *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(weft_key_export_private_pem(k, &pem, &pem_len, &err), 0);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    struct weft_key *k2 = NULL;
    assert_int_equal(weft_key_load_private(pem, pem_len, &k2, &err), 0);
    assert_true(weft_key_public_equal(k, k2));
    uint8_t s1[32], s2[32], pt[65];
    weft_key_ski(k, s1);
    weft_key_ski(k2, s2);
    assert_memory_equal(s1, s2, 32);
    /* SKI = SHA-256(0x04 || X || Y). */
    weft_key_public_point(k, pt);
    assert_int_equal(pt[0], 0x04);
    uint8_t h[32];
    weft_sha256(pt, sizeof(pt), h);
    assert_memory_equal(h, s1, 32);

    /* Public key from point, PEM and DER. */
    struct weft_key *pub = NULL;
    assert_int_equal(weft_key_from_point(pt, sizeof(pt), &pub, &err), 0);
    assert_false(weft_key_is_private(pub));
    assert_true(weft_key_public_equal(pub, k));
    char *ppem = NULL;
    size_t ppem_len = 0;
    assert_int_equal(weft_key_export_public_pem(k, &ppem, &ppem_len, &err), 0);
    struct weft_key *pub2 = NULL;
    assert_int_equal(weft_key_load_public(ppem, ppem_len, &pub2, &err), 0);
    assert_true(weft_key_public_equal(pub2, k));
    uint8_t *der = NULL;
    size_t der_len = 0;
    assert_int_equal(weft_key_export_public_der(k, &der, &der_len, &err), 0);
    struct weft_key *pub3 = NULL;
    assert_int_equal(weft_key_load_public(der, der_len, &pub3, &err), 0);
    assert_true(weft_key_public_equal(pub3, k));

    /* A public-only key cannot sign or export a private part. */
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign(pub, "x", 1, sig, &sig_len, &err), WEFT_EINVAL);
    char *none = NULL;
    assert_int_equal(weft_key_export_private_pem(pub, &none, NULL, &err), WEFT_EINVAL);

    /* Point not on the curve. */
    uint8_t bad[65];
    memcpy(bad, pt, 65);
    bad[64] ^= 1;
    struct weft_key *badk = NULL;
    assert_int_equal(weft_key_from_point(bad, 65, &badk, &err), WEFT_EPARSE);
    assert_null(badk);

    weft_free(der);
    weft_free(ppem);
    weft_free_secret(pem, pem_len);
    weft_key_free(pub3);
    weft_key_free(pub2);
    weft_key_free(pub);
    weft_key_free(k2);
    /* reference counting */
    assert_ptr_equal(weft_key_ref(k), k);
    weft_key_free(k);
    assert_true(weft_key_is_private(k));
    weft_key_free(k);
}

/* A throw-away P-256 key in SEC1 form ("EC PRIVATE KEY"). */
static const char sec1_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
                               "MHcCAQEEIA2UC2SOH34q3TkA8oljR/s3zfE2vpgIVxEzJ9VwiZDYoAoGCCqGSM49\n"
                               "AwEHoUQDQgAEBOmoJCrwqI4q0xlFzWxTdVk/rhzEK32azn5oRHSDe8W/3LVyboT5\n"
                               "5C59/ffEuuHmVEUChCvXRYzxuScEjrq9tQ==\n"
                               "-----END EC PRIVATE KEY-----\n";

static void test_key_formats_and_garbage(void **state)
{
    (void)state;
    struct weft_err err = {0};
    struct weft_key *k = NULL;
    assert_int_equal(weft_key_load_private(sec1_pem, strlen(sec1_pem), &k, &err), 0);
    assert_true(weft_key_is_private(k));
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign(k, "hello", 5, sig, &sig_len, &err), 0);
    assert_int_equal(weft_ecdsa_verify(k, "hello", 5, sig, sig_len, &err), 0);
    weft_key_free(k);

    /* Every truncation of the PEM fails cleanly (or, rarely, still parses). */
    size_t full = strlen(sec1_pem);
    for (size_t n = 0; n < full - 30; n++) {
        struct weft_key *t = NULL;
        int rc = weft_key_load_private(sec1_pem, n, &t, &err);
        assert_true(rc != 0);
        assert_null(t);
    }
    const char *garbage[] = {
        "", "hello", "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "\x30\x03\x02\x01\x01"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        struct weft_key *t = NULL;
        assert_true(weft_key_load_private(garbage[i], strlen(garbage[i]), &t, &err) < 0);
        assert_null(t);
        assert_true(weft_key_load_public(garbage[i], strlen(garbage[i]), &t, &err) < 0);
        assert_null(t);
    }
}

static void test_sign_verify_low_s(void **state)
{
    (void)state;
    struct weft_err err = {0};
    struct weft_key *k = NULL;
    assert_int_equal(weft_key_generate(&k, &err), 0);
    const char msg[] = "proposal bytes";
    int high_seen = 0;
    for (int i = 0; i < 400; i++) {
        uint8_t digest[32];
        char m[64];
        snprintf(m, sizeof(m), "%s %d", msg, i);
        weft_sha256(m, strlen(m), digest);
        uint8_t sig[WEFT_ECDSA_SIG_MAX];
        size_t sig_len = 0;
        assert_int_equal(weft_ecdsa_sign_digest(k, digest, sig, &sig_len, &err), 0);
        /* Signing always yields low-S. */
        assert_int_equal(weft_ecdsa_sig_is_low_s(sig, sig_len), 1);
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, sig, sig_len, &err), 0);
        assert_int_equal(weft_ecdsa_verify(k, m, strlen(m), sig, sig_len, &err), 0);

        /* s' = n - s: mathematically valid, but Fabric rejects it. */
        uint8_t hi[WEFT_ECDSA_SIG_MAX];
        size_t hi_len = 0;
        assert_int_equal(weft_ecdsa_sig_flip_s(sig, sig_len, hi, &hi_len), 0);
        assert_int_equal(weft_ecdsa_sig_is_low_s(hi, hi_len), 0);
        high_seen++;
        memset(&err, 0, sizeof(err));
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, hi, hi_len, &err), WEFT_EBADSIG);
        assert_non_null(strstr(err.msg, "half the order"));
        /* Normalising it gives back the original signature. */
        uint8_t lo[WEFT_ECDSA_SIG_MAX];
        size_t lo_len = 0;
        assert_int_equal(weft_ecdsa_sig_normalize(hi, hi_len, lo, &lo_len), 0);
        assert_int_equal(lo_len, sig_len);
        assert_memory_equal(lo, sig, sig_len);

        /* Over other bytes: rejected. */
        digest[i % 32] ^= 0x01;
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, sig, sig_len, &err), WEFT_EBADSIG);
        /* Trailing bytes after the SEQUENCE are ignored, as in Fabric. */
        digest[i % 32] ^= 0x01;
        uint8_t tail[WEFT_ECDSA_SIG_MAX + 3];
        memcpy(tail, sig, sig_len);
        memcpy(tail + sig_len, "\x00\x01\x02", 3);
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, tail, sig_len + 3, &err), 0);
    }
    assert_int_equal(high_seen, 400);

    /* A different key does not verify. */
    struct weft_key *other = NULL;
    assert_int_equal(weft_key_generate(&other, &err), 0);
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign(k, msg, sizeof(msg), sig, &sig_len, &err), 0);
    assert_int_equal(weft_ecdsa_verify(other, msg, sizeof(msg), sig, sig_len, &err), WEFT_EBADSIG);
    weft_key_free(other);
    weft_key_free(k);
}

/* Known-answer DER/low-S normalisation. */
static void test_der_kat(void **state)
{
    (void)state;
    /* r = 1, s = n - 1 (high) normalises to s = 1. */
    uint8_t hi[80];
    size_t hi_len =
        th_unhex("3026020101022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550",
                 hi, sizeof(hi));
    assert_int_equal(weft_ecdsa_sig_is_low_s(hi, hi_len), 0);
    uint8_t out[WEFT_ECDSA_SIG_MAX];
    size_t out_len = 0;
    assert_int_equal(weft_ecdsa_sig_normalize(hi, hi_len, out, &out_len), 0);
    uint8_t want[16];
    size_t want_len = th_unhex("3006020101020101", want, sizeof(want));
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    /* s exactly n/2 is low (<=), n/2 + 1 is high. */
    uint8_t half[80];
    size_t half_len = th_unhex("30250201010220"
                               "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8",
                               half, sizeof(half));
    assert_int_equal(weft_ecdsa_sig_is_low_s(half, half_len), 1);
    half[half_len - 1] = 0xa9;
    assert_int_equal(weft_ecdsa_sig_is_low_s(half, half_len), 0);
    /* Encode pads a high bit with 0x00. */
    uint8_t r[32] = {0}, s[32] = {0};
    r[0] = 0x80;
    s[31] = 0x05;
    assert_int_equal(weft_ecdsa_sig_encode(r, s, out, &out_len), 0);
    assert_int_equal(out_len, 2 + 2 + 33 + 3);
    assert_int_equal(out[3], 33);
    assert_int_equal(out[4], 0x00);
    uint8_t pr[32], ps[32];
    assert_int_equal(weft_ecdsa_sig_parse(out, out_len, pr, ps), 0);
    assert_memory_equal(pr, r, 32);
    assert_memory_equal(ps, s, 32);
    memset(r, 0, 32);
    assert_int_equal(weft_ecdsa_sig_encode(r, s, out, &out_len), WEFT_EINVAL);
}

static void test_malformed_der(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "30",
        "3000",               /* empty sequence */
        "3003020101",         /* missing s */
        "3006020100020101",   /* r = 0 */
        "30060201ff020101",   /* r negative */
        "300702020001020101", /* r not minimal */
        "30800201010201010000", /* indefinite length */
        "308106020101020101", /* non-minimal long length */
        "3106020101020101",   /* SET, not SEQUENCE */
        "3006030101020101",   /* BIT STRING for r */
        "3007020101020101",   /* length past end */
        "302702220100000000000000000000000000000000000000000000000000000000000001020101", /* r 33
                                                                                             bytes
                                                                                           */
    };
    struct weft_key *k = NULL;
    assert_int_equal(weft_key_generate(&k, NULL), 0);
    uint8_t digest[32] = {1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t der[128];
        size_t n = th_unhex(bad[i], der, sizeof(der));
        uint8_t r[32], s[32];
        assert_int_equal(weft_ecdsa_sig_parse(der, n, r, s), WEFT_EPARSE);
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, der, n, NULL), WEFT_EBADSIG);
    }
    /* Every truncation and every single-byte corruption of a real signature
     * fails without crashing. */
    uint8_t sig[WEFT_ECDSA_SIG_MAX];
    size_t sig_len = 0;
    assert_int_equal(weft_ecdsa_sign_digest(k, digest, sig, &sig_len, NULL), 0);
    for (size_t n = 0; n < sig_len; n++) {
        assert_int_equal(weft_ecdsa_verify_digest(k, digest, sig, n, NULL), WEFT_EBADSIG);
    }
    for (size_t i = 0; i < sig_len; i++) {
        uint8_t c[WEFT_ECDSA_SIG_MAX];
        memcpy(c, sig, sig_len);
        c[i] ^= 0x41;
        assert_int_not_equal(weft_ecdsa_verify_digest(k, digest, c, sig_len, NULL), 0);
    }
    assert_int_equal(weft_ecdsa_verify_digest(k, digest, NULL, 0, NULL), WEFT_EBADSIG);
    weft_key_free(k);
}

int run_hash_sig_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_kat),        cmocka_unit_test(test_random_hex),
        cmocka_unit_test(test_key_roundtrip),     cmocka_unit_test(test_key_formats_and_garbage),
        cmocka_unit_test(test_sign_verify_low_s), cmocka_unit_test(test_der_kat),
        cmocka_unit_test(test_malformed_der),
    };
    return cmocka_run_group_tests_name("crypto_hash_sig", tests, NULL, NULL);
}
