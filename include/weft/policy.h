/*
 * weft policies (part of the msp library): Fabric signature policies
 * (common.SignaturePolicyEnvelope), implicit-meta policies, a policy manager
 * addressed by path, and the policy language parser.
 *
 * Evaluation follows ../shared/spec/block-and-validation.md section 6.4:
 *  1. the signature set is reduced to valid identities: deserialize (skip on
 *     error), skip an identity already accepted (key = MSP ID + identity id),
 *     verify its signature (skip if invalid) - done in parallel batches;
 *  2. signed_by(i): the first not-yet-used identity satisfying principal i is
 *     marked used; n_out_of: sub-rules in order, each on a copy of the used
 *     flags that becomes the state when it succeeds; satisfied when at least
 *     n succeed;
 *  3. implicit meta at group G: sub_policy of every direct sub-group of G,
 *     threshold ANY 1, ALL #groups, MAJORITY #groups/2+1, no sub-groups = 0.
 * A failure returns WEFT_EPOLICY with err naming the path that failed.
 *
 * Threads: a populated policy manager is read-only; evaluate from any number
 * of threads. Building it (add_group / add) is single-threaded.
 */
#ifndef WEFT_POLICY_H
#define WEFT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/msp.h"

/* common.Policy.type values. */
enum weft_policy_type {
    WEFT_POLICY_SIGNATURE = 1,
    WEFT_POLICY_MSP = 2,
    WEFT_POLICY_IMPLICIT_META = 3,
};

/* common.ImplicitMetaPolicy.rule values. */
enum weft_implicit_rule {
    WEFT_IMPLICIT_ANY = 0,
    WEFT_IMPLICIT_ALL = 1,
    WEFT_IMPLICIT_MAJORITY = 2,
};

/* One signature: protoutil.SignedData. All borrowed. */
struct weft_signed_data {
    const uint8_t *identity; /* serialized msp.SerializedIdentity */
    size_t identity_len;
    const uint8_t *data; /* the signed bytes (SHA-256 is applied) */
    size_t data_len;
    const uint8_t *signature; /* DER ECDSA */
    size_t signature_len;
};

/* ---- parser --------------------------------------------------------------- */

/* Parses the policy language ("AND('Org1MSP.peer','Org2MSP.member')",
 * "OR(...)", "OutOf(2, ...)", nested) into serialized SignaturePolicyEnvelope
 * bytes equal to Fabric's policydsl.FromString output. *out is weft_malloc'd.
 * Errors: WEFT_EPARSE with "policy parse error at offset N: ..." in err,
 * WEFT_ETOOBIG (text > 64 KiB or nesting > 64), WEFT_ENOMEM. Any thread. */
int weft_policy_parse(const char *text, uint8_t **out, size_t *out_len,
                      struct weft_err *err) WEFT_WARN_UNUSED;

/* Parses a configtx.yaml ImplicitMeta rule ("ANY Readers", "MAJORITY
 * Admins") into serialized ImplicitMetaPolicy bytes. */
int weft_policy_parse_implicit(const char *text, uint8_t **out, size_t *out_len,
                               struct weft_err *err) WEFT_WARN_UNUSED;

/* ---- valid identity sets -------------------------------------------------- */

/* The valid, de-duplicated identities of a signature set (step 1 above). */
struct weft_policy_idset;

/* Builds the set: deserializes with mgr (cached), drops duplicates and bad
 * signatures. verifier may be NULL (checks run on the calling thread); cache
 * may be NULL. *out is new (weft_policy_idset_free). Errors: WEFT_ENOMEM only;
 * bad signers are skipped, not errors. Any thread. */
int weft_policy_idset_new(struct weft_msp_mgr *mgr, struct weft_verifier *verifier,
                          struct weft_vcache *cache, const struct weft_signed_data *sd, size_t n,
                          struct weft_policy_idset **out) WEFT_WARN_UNUSED;
/* A set from identities the caller already trusts (references are taken). */
int weft_policy_idset_from(struct weft_msp_identity *const *ids, size_t n,
                           struct weft_policy_idset **out) WEFT_WARN_UNUSED;
size_t weft_policy_idset_count(const struct weft_policy_idset *set);
struct weft_msp_identity *weft_policy_idset_at(const struct weft_policy_idset *set, size_t i);
void weft_policy_idset_free(struct weft_policy_idset *set);

/* ---- compiled policies ---------------------------------------------------- */

struct weft_policy;

/* Compiles a common.Policy{type, value}: SIGNATURE (value = envelope) or
 * IMPLICIT_META (value = ImplicitMetaPolicy). from_config: the envelope
 * version must be 0 (channel config rule). Errors: WEFT_EPARSE (bad bytes,
 * signed_by index out of range), WEFT_EUNSUPPORTED (other types). */
int weft_policy_new(int32_t type, const uint8_t *value, size_t len, bool from_config,
                    struct weft_policy **out, struct weft_err *err) WEFT_WARN_UNUSED;
void weft_policy_free(struct weft_policy *policy);
enum weft_policy_type weft_policy_get_type(const struct weft_policy *policy);

/* Evaluates a SIGNATURE policy on a prepared identity set. 0 when satisfied,
 * WEFT_EPOLICY otherwise (an IMPLICIT_META policy gives WEFT_EINVAL here: it
 * needs a manager). */
int weft_policy_evaluate_ids(const struct weft_policy *policy, const struct weft_policy_idset *set,
                             struct weft_err *err);

/* One-shot: compile a serialized SignaturePolicyEnvelope (e.g. a chaincode
 * endorsement policy), prepare the identity set and evaluate. */
int weft_policy_evaluate_envelope(const uint8_t *env, size_t env_len, struct weft_msp_mgr *mgr,
                                  struct weft_verifier *verifier, struct weft_vcache *cache,
                                  const struct weft_signed_data *sd, size_t n,
                                  struct weft_err *err);

/* ---- policy manager ------------------------------------------------------- */

/* Policies by absolute path ("/Channel/Application/Writers"); groups by path
 * ("/Channel/Application/Org1MSP"). configtx fills it from a channel config:
 * one add_group per config group, one add per ConfigPolicy. */
struct weft_policy_mgr;

/* New empty manager using mgr (borrowed; must outlive it) to deserialize
 * signers. verifier and cache may be NULL. */
struct weft_policy_mgr *weft_policy_mgr_new(struct weft_msp_mgr *mgr,
                                            struct weft_verifier *verifier,
                                            struct weft_vcache *cache);
void weft_policy_mgr_free(struct weft_policy_mgr *pm);
/* Declares a group (and its ancestors). path is absolute, no trailing '/'.
 * Declaring twice is fine. */
int weft_policy_mgr_add_group(struct weft_policy_mgr *pm, const char *path,
                              struct weft_err *err) WEFT_WARN_UNUSED;
/* Adds the policy at path "<group>/<name>" from common.Policy type/value;
 * declares the group. WEFT_EEXIST for a duplicate path. */
int weft_policy_mgr_add(struct weft_policy_mgr *pm, const char *path, int32_t type,
                        const uint8_t *value, size_t len, struct weft_err *err) WEFT_WARN_UNUSED;
/* True when a policy exists at path. */
bool weft_policy_mgr_has(const struct weft_policy_mgr *pm, const char *path);

/* Evaluates the policy at path on a signature set. 0 = satisfied;
 * WEFT_EPOLICY with e.g. "policy /Channel/Application/Writers: implicit meta
 * ANY Writers: 0 of 2 sub-policies satisfied (/Channel/Application/Org1MSP/
 * Writers: signature policy not satisfied, ...)"; WEFT_ENOTFOUND for an
 * unknown path. Any thread. */
int weft_policy_mgr_evaluate(const struct weft_policy_mgr *pm, const char *path,
                             const struct weft_signed_data *sd, size_t n, struct weft_err *err);
/* Same on a prepared identity set. */
int weft_policy_mgr_evaluate_ids(const struct weft_policy_mgr *pm, const char *path,
                                 const struct weft_policy_idset *set, struct weft_err *err);

#endif
