/*
 * weft msp library: Fabric membership service providers (X.509 "bccsp" MSPs,
 * MSP version 1.4.3 semantics as used by channel capability V2_0).
 *
 * Objects:
 *  - struct weft_msp: one MSP (an organisation). Built from a Fabric MSP
 *    folder (local MSP, may hold a signing identity) or from an
 *    msp.MSPConfig message taken from a channel configuration. Immutable after
 *    construction, reference counted, safe to share between threads.
 *  - struct weft_msp_identity: a deserialized msp.SerializedIdentity. Its
 *    validation verdict (chain, CRL, OU rules) and NodeOU classification are
 *    computed once, when it is deserialized. Immutable, reference counted,
 *    holds a reference to its MSP.
 *  - struct weft_msp_mgr: the MSPs of one channel by MSP ID, with a bounded
 *    cache of identities keyed by their serialized bytes. Thread-safe.
 *
 * Facts implemented (../shared/spec/identity.md sections 1-5):
 *  - MSP folder: cacerts (required), intermediatecerts, admincerts,
 *    signcerts + keystore (local MSP), tlscacerts, tlsintermediatecerts,
 *    crls, config.yaml (OrganizationalUnitIdentifiers, NodeOUs);
 *  - identity id = hex(SHA-256(sanitized certificate DER));
 *  - Validate: leaf not a CA; path to a root through the intermediates
 *    evaluated at NotBefore + 1 s (expiry is NOT part of validation, see
 *    weft_msp_identity_check_expiry); the direct issuer is a leaf of the CA
 *    tree; CRL; configured OU identifiers; with NodeOUs on, exactly one
 *    client/peer/admin/orderer OU;
 *  - principals ROLE (member/admin/client/peer/orderer), ORGANIZATION_UNIT,
 *    IDENTITY, ANONYMITY, COMBINED, always checked by the identity's own MSP.
 *
 * Errors: 0 or a negative WEFT_E* code, with a message in err (may be NULL).
 *  WEFT_EPARSE    malformed bytes (protobuf, PEM, YAML)
 *  WEFT_ECONFIG   an MSP configuration Fabric would refuse to set up
 *  WEFT_ENOTFOUND unknown MSP ID, missing folder or file
 *  WEFT_EPERM     an identity that is not valid for its MSP (err says why)
 *  WEFT_EPOLICY   an identity that does not satisfy a principal
 *  WEFT_EBADSIG   a signature that does not verify
 */
#ifndef WEFT_MSP_H
#define WEFT_MSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

struct weft_key;
struct weft_x509;
struct weft_vcache;
struct weft_verifier;

/* MSPRole.role values (msp_principal.proto). */
enum weft_msp_role {
    WEFT_MSP_ROLE_MEMBER = 0,
    WEFT_MSP_ROLE_ADMIN = 1,
    WEFT_MSP_ROLE_CLIENT = 2,
    WEFT_MSP_ROLE_PEER = 3,
    WEFT_MSP_ROLE_ORDERER = 4,
};

/* NodeOU classification bits of an identity (weft_msp_identity_node_ous). */
#define WEFT_MSP_OU_CLIENT 0x1u
#define WEFT_MSP_OU_PEER 0x2u
#define WEFT_MSP_OU_ADMIN 0x4u
#define WEFT_MSP_OU_ORDERER 0x8u

struct weft_msp;
struct weft_msp_identity;
struct weft_msp_mgr;

/* ---- MSP configuration ---------------------------------------------------- */

/* Reads a Fabric MSP folder (identity.md section 1) and builds a serialized
 * msp.MSPConfig{type 0, config = ser(FabricMSPConfig)} named mspid.
 * signing: include signcerts/keystore as SigningIdentityInfo (local MSP; the
 * private key goes into KeyInfo.key_material, as Fabric's local MSP config
 * does); false gives the verifying config that configtx puts into channel
 * genesis blocks. *out is weft_malloc'd (caller frees; it may hold a private
 * key when signing is true: free it with weft_free_secret). One thread.
 * Errors: WEFT_ENOTFOUND (no cacerts, or signing without signcerts/keystore),
 * WEFT_EPARSE (a file that is not PEM, bad config.yaml), -errno, WEFT_ENOMEM. */
int weft_msp_config_from_dir(const char *dir, const char *mspid, bool signing, uint8_t **out,
                             size_t *out_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* Sets up an MSP from serialized msp.MSPConfig bytes (borrowed). Enforces
 * Fabric's setup rules (>= 1 root; roots and intermediates are CAs with an
 * SKI; admins required when no admin OU is configured; explicit admins carry
 * the client or admin OU when NodeOUs are on; a signing identity must match
 * its key and not be expired at now_unix). now_unix = 0 means "the wall
 * clock". *out receives a new MSP (weft_msp_unref). One thread.
 * Errors: WEFT_EPARSE, WEFT_ECONFIG, WEFT_EUNSUPPORTED (idemix), WEFT_ENOMEM. */
int weft_msp_new(const uint8_t *mspconfig, size_t len, int64_t now_unix, struct weft_msp **out,
                 struct weft_err *err) WEFT_WARN_UNUSED;

/* Loads a local MSP straight from a folder: weft_msp_config_from_dir(dir,
 * mspid, signing = true when signcerts/ exists) + weft_msp_new(). */
int weft_msp_load_dir(const char *dir, const char *mspid, struct weft_msp **out,
                      struct weft_err *err) WEFT_WARN_UNUSED;

/* Adds a reference; returns msp. NULL-safe. Any thread. */
struct weft_msp *weft_msp_ref(struct weft_msp *msp);
/* Drops a reference and frees on the last. NULL-safe. Any thread. */
void weft_msp_unref(struct weft_msp *msp);

/* MSP ID (FabricMSPConfig.name). Borrowed. */
const char *weft_msp_id(const struct weft_msp *msp);
/* True when NodeOUs are enabled. */
bool weft_msp_node_ous_enabled(const struct weft_msp *msp);
/* TLS roots and intermediates (borrowed arrays of borrowed certificates). */
struct weft_x509 *const *weft_msp_tls_roots(const struct weft_msp *msp, size_t *n);
struct weft_x509 *const *weft_msp_tls_intermediates(const struct weft_msp *msp, size_t *n);

/* ---- identities ----------------------------------------------------------- */

/* Deserializes an msp.SerializedIdentity (bytes borrowed) with msp: the
 * mspid must equal the MSP's ID; id_bytes must hold a PEM certificate with an
 * ECDSA P-256 key. The identity is validated right away; a deserialized but
 * invalid identity is still returned (see weft_msp_identity_validate), as in
 * Fabric. *out is new (weft_msp_identity_unref). Any thread.
 * Errors: WEFT_EPARSE, WEFT_ENOTFOUND (MSP ID mismatch), WEFT_ENOMEM. */
int weft_msp_deserialize(struct weft_msp *msp, const uint8_t *ser, size_t len,
                         struct weft_msp_identity **out, struct weft_err *err) WEFT_WARN_UNUSED;

struct weft_msp_identity *weft_msp_identity_ref(struct weft_msp_identity *id);
void weft_msp_identity_unref(struct weft_msp_identity *id);

/* 0 when the identity is valid for its MSP; else WEFT_EPERM with Fabric's
 * reason in err ("the certificate has been revoked", ...). Cheap (cached). */
int weft_msp_identity_validate(const struct weft_msp_identity *id, struct weft_err *err);
/* 0 when at is within the certificate's validity; WEFT_EPERM ("expired" /
 * "not yet valid") otherwise. at = 0 means the wall clock. */
int weft_msp_identity_check_expiry(const struct weft_msp_identity *id, int64_t at,
                                   struct weft_err *err);

/* Accessors (borrowed, valid while the identity lives). */
const char *weft_msp_identity_mspid(const struct weft_msp_identity *id);
/* hex(SHA-256(sanitized cert DER)), 64 characters. */
const char *weft_msp_identity_id(const struct weft_msp_identity *id);
struct weft_x509 *weft_msp_identity_cert(const struct weft_msp_identity *id);
struct weft_msp *weft_msp_identity_msp(const struct weft_msp_identity *id);
/* The exact SerializedIdentity bytes it was made from. */
const uint8_t *weft_msp_identity_serialized(const struct weft_msp_identity *id, size_t *len);
/* WEFT_MSP_OU_* bits found among the subject OUs (NodeOU identifiers only). */
unsigned weft_msp_identity_node_ous(const struct weft_msp_identity *id);
/* True when the certificate equals an explicit admin cert, or (NodeOUs on)
 * the identity is valid and carries the admin OU. */
bool weft_msp_identity_is_admin(const struct weft_msp_identity *id);

/* Checks the identity against a serialized common.MSPPrincipal (borrowed).
 * 0 = satisfied; WEFT_EPOLICY (err says why) = not satisfied; WEFT_EPARSE
 * for a malformed principal. Any thread. */
int weft_msp_identity_satisfies(const struct weft_msp_identity *id, const uint8_t *principal,
                                size_t len, struct weft_err *err);
/* Shortcut for a ROLE principal of the identity's own MSP. */
int weft_msp_identity_satisfies_role(const struct weft_msp_identity *id, enum weft_msp_role role,
                                     struct weft_err *err);

/* Verifies an ECDSA signature over SHA-256(msg) with the identity's key
 * (Fabric's low-S rule applies). cache may be NULL. 0 or WEFT_EBADSIG. */
int weft_msp_identity_verify(const struct weft_msp_identity *id, struct weft_vcache *cache,
                             const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
                             struct weft_err *err);

/* ---- local signing identity ----------------------------------------------- */

/* The MSP's signing identity (NULL for a verifying MSP). Borrowed. */
struct weft_msp_identity *weft_msp_signer(const struct weft_msp *msp);
/* Signs SHA-256(msg) with the local key: low-S DER into sig
 * (WEFT_ECDSA_SIG_MAX = 72 bytes). Errors: WEFT_ESTATE (no signing
 * identity), WEFT_ECRYPTO. Any thread. */
int weft_msp_sign(const struct weft_msp *msp, const uint8_t *msg, size_t msg_len, uint8_t *sig,
                  size_t *sig_len, struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- MSP manager (one per channel) ---------------------------------------- */

/* New empty manager with an identity cache of cache_capacity entries (0 =
 * 4096). NULL when out of memory. */
struct weft_msp_mgr *weft_msp_mgr_new(size_t cache_capacity);
/* Frees the manager and drops its MSP references. NULL-safe. */
void weft_msp_mgr_free(struct weft_msp_mgr *mgr);
/* Adds an MSP (takes a new reference). WEFT_EEXIST for a duplicate MSP ID. */
int weft_msp_mgr_add(struct weft_msp_mgr *mgr, struct weft_msp *msp,
                     struct weft_err *err) WEFT_WARN_UNUSED;
/* The MSP for an ID (borrowed), or NULL. */
struct weft_msp *weft_msp_mgr_get(const struct weft_msp_mgr *mgr, const char *mspid);
size_t weft_msp_mgr_count(const struct weft_msp_mgr *mgr);
struct weft_msp *weft_msp_mgr_at(const struct weft_msp_mgr *mgr, size_t i);
/* Deserializes with the MSP named in the SerializedIdentity, through the
 * cache (same bytes give the same identity object). *out is a new reference.
 * Errors as weft_msp_deserialize; WEFT_ENOTFOUND for an unknown MSP ID.
 * Thread-safe. */
int weft_msp_mgr_deserialize(struct weft_msp_mgr *mgr, const uint8_t *ser, size_t len,
                             struct weft_msp_identity **out, struct weft_err *err) WEFT_WARN_UNUSED;
/* Cache counters (for tests and metrics). */
void weft_msp_mgr_cache_stats(struct weft_msp_mgr *mgr, uint64_t *hits, uint64_t *misses);

#endif
