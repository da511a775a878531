/*
 * Small helpers shared by the library: random bytes, hex encoding and
 * capture of OpenSSL's error queue into a struct weft_err.
 */
#include <openssl/err.h>
#include <openssl/rand.h>

#include "internal.h"

int weft_crypto_random(void *buf, size_t len)
{
    if (buf == NULL && len != 0) {
        return WEFT_EINVAL;
    }
    uint8_t *p = buf;
    while (len > 0) {
        /* RAND_bytes takes an int count. */
        int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
        if (RAND_bytes(p, chunk) != 1) {
            ERR_clear_error();
            return WEFT_ECRYPTO;
        }
        p += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

void weft_crypto_hex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

int crypto__ossl_err(struct weft_err *err, int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
    }
    ERR_clear_error();
    if (buf[0] != '\0') {
        return weft_err_set(err, code, "%s: %s", what, buf);
    }
    return weft_err_set(err, code, "%s", what);
}
