/* test_crypto: runs every group of the crypto unit tests. */
#include "tests.h"

#include <stdio.h>
#include <string.h>

size_t th_unhex(const char *hex, uint8_t *out, size_t cap)
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

int main(void)
{
    int failed = 0;
    failed += run_hash_sig_tests();
    failed += run_x509_tests();
    failed += run_vector_tests();
    failed += run_verifier_tests();
    return failed == 0 ? 0 : 1;
}
