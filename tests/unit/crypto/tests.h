/* Test groups of test_crypto; each returns the number of failed tests. */
#ifndef WEFT_TEST_CRYPTO_TESTS_H
#define WEFT_TEST_CRYPTO_TESTS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

int run_hash_sig_tests(void);
int run_x509_tests(void);
int run_vector_tests(void);
int run_verifier_tests(void);

/* Decodes hex into out (at most cap bytes); returns the byte count. */
size_t th_unhex(const char *hex, uint8_t *out, size_t cap);

#endif
