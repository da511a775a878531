/* Private to src/msp: object layouts shared by the MSP, identity, manager
 * and policy files, plus small helpers (PEM blocks, YAML tree). */
#ifndef WEFT_MSP_INTERNAL_H
#define WEFT_MSP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <protobuf-c/protobuf-c.h>

#include "weft/crypto.h"
#include "weft/msp.h"

/* protobuf-c allocations through weft_malloc (STYLE.md: no raw malloc). */
extern ProtobufCAllocator weft_msp__pb_alloc;

/* An OU identifier: OU string plus optional certifiers id (hash of the chain
 * from the configured certificate to its root). */
struct msp_ou {
    char *ou; /* NULL = not configured */
    bool has_certifier;
    uint8_t certifier[WEFT_SHA256_LEN];
};

struct weft_msp {
    atomic_int refs;
    char *id;
    struct weft_x509 **roots;
    size_t n_roots;
    struct weft_x509 **inters;
    size_t n_inters;
    struct weft_x509 **admins;
    size_t n_admins;
    struct weft_x509 **tls_roots;
    size_t n_tls_roots;
    struct weft_x509 **tls_inters;
    size_t n_tls_inters;
    struct weft_x509_store *store;
    struct msp_ou *ous; /* OrganizationalUnitIdentifiers */
    size_t n_ous;
    bool node_ous;
    struct msp_ou client, peer, admin, orderer;
    struct weft_msp_identity *signer; /* local MSP only */
    struct weft_key *key;             /* signer's private key */
};

struct weft_msp_identity {
    atomic_int refs;
    struct weft_msp *msp; /* reference held */
    uint8_t *ser;
    size_t ser_len;
    struct weft_x509 *cert;
    char id[2 * WEFT_SHA256_LEN + 1];
    int valid_rc;       /* 0 = valid */
    char *valid_msg;    /* reason when invalid */
    bool has_certifier; /* chain was built */
    uint8_t certifier[WEFT_SHA256_LEN];
    unsigned node_ous; /* WEFT_MSP_OU_* matched by OU string */
};

/* Builds an identity around a parsed certificate (takes a cert reference).
 * ser may be NULL: then a SerializedIdentity is made from the cert. */
int weft_msp__identity_make(struct weft_msp *msp, struct weft_x509 *cert, const uint8_t *ser,
                            size_t ser_len, struct weft_msp_identity **out, struct weft_err *err);
/* Hash of the chain starting at cert (cert included) up to a root of msp:
 * Fabric's certifiers identifier. */
int weft_msp__certifier(const struct weft_msp *msp, const struct weft_x509 *cert,
                        uint8_t out[WEFT_SHA256_LEN], struct weft_err *err);

/* "<mspid>.<role>" split with Fabric's principal regex. */
int weft_msp__principal_split(const char *s, size_t len, char **mspid, int *role);

/* ---- PEM ------------------------------------------------------------------ */

/* Finds the next PEM block at or after *pos in text; writes its type (into
 * type, up to cap-1 chars) and the decoded DER (weft_malloc'd). Returns 1 when
 * a block was found, 0 at the end, WEFT_EPARSE/WEFT_ENOMEM on error. */
int weft_msp__pem_next(const char *text, size_t len, size_t *pos, char *type, size_t cap,
                       uint8_t **der, size_t *der_len);
/* Encodes DER as PEM the way Go's pem.EncodeToMemory does (64-column
 * base64, '\n' line ends). Appends to buf. */
int weft_msp__pem_encode(struct weft_buf *buf, const char *type, const uint8_t *der,
                         size_t der_len);

/* ---- minimal YAML tree (libyaml) ------------------------------------------ */

enum ymt_kind { YMT_SCALAR, YMT_MAP, YMT_SEQ };

struct ymt {
    enum ymt_kind kind;
    char *value;        /* scalar */
    char **keys;        /* map keys */
    struct ymt **items; /* map values / sequence items */
    size_t n;
    int line;
};

int weft_msp__yaml_load(const char *text, size_t len, struct ymt **out, struct weft_err *err);
void weft_msp__yaml_free(struct ymt *t);
/* Map lookup (exact key). NULL when absent or t not a map. */
const struct ymt *weft_msp__yaml_get(const struct ymt *t, const char *key);
/* Scalar value of a map key, or NULL. */
const char *weft_msp__yaml_str(const struct ymt *t, const char *key);

/* Reads a whole file (cap bytes max). -errno, WEFT_ETOOBIG, WEFT_ENOMEM. */
int weft_msp__read_file(const char *path, size_t cap, uint8_t **out, size_t *len);

#endif
