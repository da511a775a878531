/*
 * Crypto benchmark: ECDSA P-256 signatures/s and verifications/s on one
 * thread, the parallel verifier on all cores, and the cost of a cache hit.
 * Prints a table and writes JSON (with ratios against the `openssl speed`
 * figures given on the command line, measured by run.sh in the same run).
 *
 * The machine may be shared, so every rate is the best of --rounds runs of
 * --seconds each (and run.sh takes the best of several `openssl speed`
 * runs): the best run is the one least disturbed by other processes.
 *
 * usage: bench_crypto [--seconds S] [--rounds R] [--openssl-sign N]
 *                     [--openssl-verify N] [--openssl-verify-multi N] [--json PATH]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/crypto.h"

#define NSIG 1024

static double now_s(void)
{
    return (double)weft_clock_mono_ns() / 1e9;
}

static double parse_d(const char *s)
{
    char *end = NULL;
    double v = strtod(s, &end);
    return end != s ? v : 0.0;
}

int main(int argc, char **argv)
{
    int rounds = 3;
    double secs = 1.0, ossl_sign = 0, ossl_verify = 0, ossl_verify_multi = 0;
    const char *json = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0) {
            secs = parse_d(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = (int)parse_d(argv[i + 1]);
            rounds = rounds < 1 ? 1 : rounds;
        } else if (strcmp(argv[i], "--openssl-sign") == 0) {
            ossl_sign = parse_d(argv[i + 1]);
        } else if (strcmp(argv[i], "--openssl-verify") == 0) {
            ossl_verify = parse_d(argv[i + 1]);
        } else if (strcmp(argv[i], "--openssl-verify-multi") == 0) {
            ossl_verify_multi = parse_d(argv[i + 1]);
        } else if (strcmp(argv[i], "--json") == 0) {
            json = argv[i + 1];
        }
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct weft_key *key = NULL;
    if (weft_key_generate(&key, NULL) != 0) {
        fprintf(stderr, "keygen failed\n");
        return 1;
    }
    static uint8_t digests[NSIG][32];
    static uint8_t sigs[NSIG][WEFT_ECDSA_SIG_MAX];
    static size_t sig_lens[NSIG];
    for (int i = 0; i < NSIG; i++) {
        weft_sha256(&i, sizeof(i), digests[i]);
    }

    /* 1. signing, one thread */
    uint64_t n = 0;
    double t0, t1, sign_rate = 0;
    for (int round = 0; round < rounds; round++) {
        n = 0;
        t0 = now_s();
        do {
            int i = (int)(n % NSIG);
            if (weft_ecdsa_sign_digest(key, digests[i], sigs[i], &sig_lens[i], NULL) != 0) {
                return 1;
            }
            n++;
            t1 = now_s();
        } while (t1 - t0 < secs || n < NSIG);
        if ((double)n / (t1 - t0) > sign_rate) {
            sign_rate = (double)n / (t1 - t0);
        }
    }

    /* 2. verification, one thread */
    double verify_rate = 0;
    for (int round = 0; round < rounds; round++) {
        n = 0;
        t0 = now_s();
        do {
            int i = (int)(n % NSIG);
            if (weft_ecdsa_verify_digest(key, digests[i], sigs[i], sig_lens[i], NULL) != 0) {
                return 1;
            }
            n++;
            t1 = now_s();
        } while (t1 - t0 < secs);
        if ((double)n / (t1 - t0) > verify_rate) {
            verify_rate = (double)n / (t1 - t0);
        }
    }

    /* 3. parallel verifier, all cores, no cache */
    struct weft_verify_item *items = calloc(NSIG, sizeof(*items));
    for (int i = 0; i < NSIG; i++) {
        items[i].key = key;
        items[i].digest = digests[i];
        items[i].sig = sigs[i];
        items[i].sig_len = sig_lens[i];
    }
    /* The calling thread works too: ncpu - 1 workers keep every core busy. */
    struct weft_verifier *v = weft_verifier_new(ncpu > 1 ? (unsigned)(ncpu - 1) : 1, NULL);
    double par_rate = 0;
    for (int round = 0; round < rounds; round++) {
        n = 0;
        t0 = now_s();
        do {
            if (weft_verifier_run(v, items, NSIG) != 0) {
                return 1;
            }
            n += NSIG;
            t1 = now_s();
        } while (t1 - t0 < secs);
        if ((double)n / (t1 - t0) > par_rate) {
            par_rate = (double)n / (t1 - t0);
        }
    }
    weft_verifier_free(v);

    /* 4. cache hit cost (item with a certificate-sized identity) */
    struct weft_vcache *cache = weft_vcache_new(4 * NSIG);
    static uint8_t identity[800];
    memset(identity, 0x5a, sizeof(identity));
    for (int i = 0; i < NSIG; i++) {
        items[i].identity = identity;
        items[i].identity_len = sizeof(identity);
        (void)weft_verify_item_run(cache, &items[i]);
    }
    /* Without the identity bytes (certificate or key fingerprint precomputed). */
    for (int i = 0; i < NSIG; i++) {
        items[i].identity = NULL;
        items[i].identity_len = 0;
        (void)weft_verify_item_run(cache, &items[i]);
    }
    n = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < NSIG; i++) {
            if (weft_verify_item_run(cache, &items[i]) != 0 || !items[i].cached) {
                return 1;
            }
        }
        n += NSIG;
        t1 = now_s();
    } while (t1 - t0 < secs / 2);
    double hit_ns = (t1 - t0) * 1e9 / (double)n;
    for (int i = 0; i < NSIG; i++) {
        items[i].identity = identity;
        items[i].identity_len = sizeof(identity);
    }
    n = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < NSIG; i++) {
            if (weft_verify_item_run(cache, &items[i]) != 0 || !items[i].cached) {
                return 1;
            }
        }
        n += NSIG;
        t1 = now_s();
    } while (t1 - t0 < secs / 2);
    double hit_id_ns = (t1 - t0) * 1e9 / (double)n;
    weft_vcache_free(cache);
    free(items);

    double verify_ns = 1e9 / verify_rate;
    double par_speedup = par_rate / verify_rate;
    printf("%-40s %14s %14s %8s\n", "measure", "weft", "openssl speed", "ratio");
    printf("%-40s %14.0f %14.0f %8.3f\n", "sign/s (1 thread)", sign_rate, ossl_sign,
           ossl_sign > 0 ? sign_rate / ossl_sign : 0);
    printf("%-40s %14.0f %14.0f %8.3f\n", "verify/s (1 thread)", verify_rate, ossl_verify,
           ossl_verify > 0 ? verify_rate / ossl_verify : 0);
    printf("%-40s %14.0f %14.0f %8.3f\n", "verify/s (parallel verifier, all cores)", par_rate,
           ossl_verify_multi, ossl_verify_multi > 0 ? par_rate / ossl_verify_multi : 0);
    printf("parallel speed-up over 1 thread: %.2fx on %ld cores\n", par_speedup, ncpu);
    printf("cache hit: %.0f ns (fingerprint cached), %.0f ns (800-byte identity hashed); "
           "verification %.0f ns: %.0fx / %.0fx cheaper\n",
           hit_ns, hit_id_ns, verify_ns, verify_ns / hit_ns, verify_ns / hit_id_ns);
    if (json != NULL) {
        FILE *f = fopen(json, "w");
        if (f == NULL) {
            perror(json);
            return 1;
        }
        fprintf(f,
                "{\n  \"cores\": %ld,\n  \"sign_per_s\": %.1f,\n  \"verify_per_s\": %.1f,\n"
                "  \"parallel_verify_per_s\": %.1f,\n  \"parallel_speedup\": %.3f,\n"
                "  \"cache_hit_ns\": %.1f,\n  \"cache_hit_with_identity_hash_ns\": %.1f,\n"
                "  \"verify_ns\": %.1f,\n  \"cache_hit_speedup\": %.1f,\n"
                "  \"cache_hit_with_identity_hash_speedup\": %.1f,\n"
                "  \"openssl_speed_sign_per_s\": %.1f,\n  \"openssl_speed_verify_per_s\": %.1f,\n"
                "  \"openssl_speed_verify_multi_per_s\": %.1f,\n"
                "  \"sign_ratio_vs_openssl\": %.3f,\n  \"verify_ratio_vs_openssl\": %.3f,\n"
                "  \"parallel_ratio_vs_openssl_multi\": %.3f\n}\n",
                ncpu, sign_rate, verify_rate, par_rate, par_speedup, hit_ns, hit_id_ns, verify_ns,
                verify_ns / hit_ns, verify_ns / hit_id_ns, ossl_sign, ossl_verify,
                ossl_verify_multi, ossl_sign > 0 ? sign_rate / ossl_sign : 0,
                ossl_verify > 0 ? verify_rate / ossl_verify : 0,
                ossl_verify_multi > 0 ? par_rate / ossl_verify_multi : 0);
        fclose(f);
    }
    weft_key_free(key);
    return 0;
}
