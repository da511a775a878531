/* Test-only certificate factory (OpenSSL directly): CAs, leaves and CRLs with
 * chosen validity windows, for expiry, revocation and wrong-CA cases. */
#ifndef WEFT_TEST_CERTGEN_H
#define WEFT_TEST_CERTGEN_H

#include <stddef.h>
#include <stdint.h>

struct tg_cert;

/* Self-signed CA when issuer is NULL, else an intermediate CA signed by
 * issuer. Validity [now + nb_off, now + na_off] seconds. */
struct tg_cert *tg_ca(const char *cn, const struct tg_cert *issuer, long nb_off, long na_off);
/* Leaf (not a CA) with one OU (may be NULL), a DNS SAN and an IP SAN. */
struct tg_cert *tg_leaf(const char *cn, const char *ou, const struct tg_cert *issuer, long serial,
                        long nb_off, long na_off);
/* Certificate DER; caller frees with weft_free. */
uint8_t *tg_der(const struct tg_cert *c, size_t *len);
/* Private key as PKCS#8 PEM; caller frees with weft_free. */
char *tg_key_pem(const struct tg_cert *c, size_t *len);
/* CRL by issuer revoking the given serials, as DER; caller frees with weft_free. */
uint8_t *tg_crl(const struct tg_cert *issuer, const long *serials, size_t n, size_t *len);
void tg_free(struct tg_cert *c);

#endif
