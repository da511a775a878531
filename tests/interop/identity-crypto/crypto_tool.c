/*
 * crypto_tool: a small CLI over weft's crypto library for the Node interop
 * test.
 *
 *   crypto_tool sign KEY.pem MSGFILE          print hex DER signature of SHA-256(msg)
 *   crypto_tool verify CERT.pem MSGFILE HEX   exit 0 if valid, 1 if not (reason on stderr)
 *   crypto_tool lows HEX                      print 1 if low-S, 0 if high-S
 *   crypto_tool ski KEY.pem                   print hex SKI of the key
 *
 * Exit codes: 0 success / valid, 1 invalid signature, 2 usage or I/O error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/crypto.h"

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, 64u << 20);
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (weft_buf_append(&b, chunk, n) != 0) {
            fclose(f);
            weft_buf_close(&b);
            return NULL;
        }
    }
    fclose(f);
    if (b.data == NULL && weft_buf_append(&b, "", 0) != 0) {
        return NULL;
    }
    return weft_buf_steal(&b, len);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; hex[i] && hex[i + 1] && n < cap; i += 2) {
        unsigned v = 0;
        if (sscanf(hex + i, "%2x", &v) != 1) {
            break;
        }
        out[n++] = (uint8_t)v;
    }
    return n;
}

static int usage(void)
{
    fprintf(stderr, "usage: crypto_tool sign KEY MSG | verify CERT MSG HEX | lows HEX | ski KEY\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        return usage();
    }
    struct weft_err err = {0};
    int rc = 2;
    uint8_t *a = NULL, *msg = NULL;
    size_t alen = 0, mlen = 0;
    if (strcmp(argv[1], "lows") == 0) {
        uint8_t sig[256];
        size_t n = unhex(argv[2], sig, sizeof(sig));
        int low = weft_ecdsa_sig_is_low_s(sig, n);
        if (low < 0) {
            fprintf(stderr, "malformed signature\n");
            return 2;
        }
        printf("%d\n", low);
        return 0;
    }
    a = read_all(argv[2], &alen);
    if (a == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "ski") == 0) {
        struct weft_key *k = NULL;
        if (weft_key_load_private(a, alen, &k, &err) != 0) {
            fprintf(stderr, "key: %s\n", err.msg);
            goto out;
        }
        uint8_t ski[WEFT_SKI_LEN];
        char hex[2 * WEFT_SKI_LEN + 1];
        weft_key_ski(k, ski);
        weft_crypto_hex(ski, sizeof(ski), hex);
        printf("%s\n", hex);
        weft_key_free(k);
        rc = 0;
        goto out;
    }
    if (argc < 4 || (msg = read_all(argv[3], &mlen)) == NULL) {
        rc = usage();
        goto out;
    }
    if (strcmp(argv[1], "sign") == 0) {
        struct weft_key *k = NULL;
        if (weft_key_load_private(a, alen, &k, &err) != 0) {
            fprintf(stderr, "key: %s\n", err.msg);
            goto out;
        }
        uint8_t sig[WEFT_ECDSA_SIG_MAX];
        size_t sig_len = 0;
        if (weft_ecdsa_sign(k, msg, mlen, sig, &sig_len, &err) != 0) {
            fprintf(stderr, "sign: %s\n", err.msg);
            weft_key_free(k);
            goto out;
        }
        char hex[2 * WEFT_ECDSA_SIG_MAX + 1];
        weft_crypto_hex(sig, sig_len, hex);
        printf("%s\n", hex);
        weft_key_free(k);
        rc = 0;
    } else if (strcmp(argv[1], "verify") == 0 && argc >= 5) {
        struct weft_x509 *x = NULL;
        if (weft_x509_parse_pem(a, alen, &x, &err) != 0) {
            fprintf(stderr, "cert: %s\n", err.msg);
            goto out;
        }
        uint8_t sig[256];
        size_t n = unhex(argv[4], sig, sizeof(sig));
        struct weft_verify_item it = {
            .cert = x, .msg = msg, .msg_len = mlen, .sig = sig, .sig_len = n};
        int v = weft_verify_item_run(NULL, &it);
        if (v == 0) {
            printf("valid\n");
            rc = 0;
        } else {
            rc = weft_ecdsa_verify(weft_x509_key(x), msg, mlen, sig, n, &err) == 0 ? 2 : 1;
            printf("invalid: %s\n", err.msg);
        }
        weft_x509_free(x);
    } else {
        rc = usage();
    }
out:
    weft_free(a);
    weft_free(msg);
    return rc;
}
