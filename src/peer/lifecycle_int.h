/*
 * Internals of the _lifecycle system chaincode (lifecycle.c,
 * lifecycle_state.c).
 *
 * lifecycle_state.c holds what every _lifecycle function stands on:
 *  - a read/write-set builder that records reads of public state (with
 *    versions), public writes, hashed reads of the implicit org collections
 *    (_implicit_org_<MSPID>) and private writes, and serializes them exactly
 *    as Fabric's rwset builder does (namespaces, keys and collections sorted;
 *    hashed entries sorted by their plain key; pvt_rwset_hash over the
 *    private KVRWSet);
 *  - Fabric's lifecycle serializer (spec chaincode.md §8.1): an object is a
 *    StateMetadata key plus one StateData key per field;
 *  - the local private-data store. weft has no private data yet: the value
 *    half of an org's approval (the hashes go on chain in the approve
 *    transaction) is kept on the endorsing peer under
 *    <fileSystemPath>/lifecycle/private/<channel>/<collection>/
 *    <hex(SHA-256(key))>-<hex(SHA-256(value))>. A private value counts only
 *    when the committed hashed state of its key equals the hash in its
 *    name, so uncommitted or superseded approvals are never read.
 */
#ifndef WEFT_PEER_LIFECYCLE_INT_H
#define WEFT_PEER_LIFECYCLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_internal.h"
#include "weft/ledger_state.h"

#define LC_NS "_lifecycle"
#define LC_IMPLICIT "_implicit_org_"

struct lc_tx;

/* New builder reading committed state of ledger through a query executor.
 * fs_path and channel locate the private store (borrowed, must outlive tx). */
int lc_tx_new(struct weft_ledger *ledger, const char *fs_path, const char *channel,
              struct lc_tx **out, struct weft_err *err);
void lc_tx_free(struct lc_tx *tx);

/* Public state of _lifecycle (coll NULL) or of collection coll: get records a
 * read (hashed read for a collection), put/del a write. Values weft_free. */
int lc_get(struct lc_tx *tx, const char *coll, const char *key, uint8_t **val, size_t *len,
           bool *found, struct weft_err *err);
/* Committed hash of a collection key's value (records a hashed read). */
int lc_get_hash(struct lc_tx *tx, const char *coll, const char *key, uint8_t hash[32],
                bool *found, struct weft_err *err);
int lc_put(struct lc_tx *tx, const char *coll, const char *key, const uint8_t *val, size_t len,
           struct weft_err *err);
int lc_del(struct lc_tx *tx, const char *coll, const char *key, struct weft_err *err);
/* Records a read of another namespace (Fabric reads lscc/<name>). */
int lc_read_ns(struct lc_tx *tx, const char *ns, const char *key, bool *found,
               struct weft_err *err);
/* ser(TxReadWriteSet) of everything recorded. *out weft_free. */
int lc_tx_rwset(struct lc_tx *tx, uint8_t **out, size_t *out_len, struct weft_err *err);
/* Saves the private writes in the local store (approve, after endorsement). */
int lc_tx_save_private(struct lc_tx *tx, struct weft_err *err);

/* ---- serializer ---------------------------------------------------------------- */

enum lc_kind { LC_INT64 = 1, LC_BYTES = 2, LC_STRING = 3 };

struct lc_field {
    const char *name;
    enum lc_kind kind;
    int64_t i;
    const uint8_t *b; /* bytes or string */
    size_t len;
};

struct lc_obj {
    const char *datatype;
    struct lc_field f[4];
    size_t n;
};

/* Writes obj under <prefix>/metadata/<name> and <prefix>/fields/<name>/<F>
 * into coll (NULL = public), writing only what differs and deleting stale
 * fields, as Fabric's Serialize. */
int lc_serialize(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                 const struct lc_obj *obj, struct weft_err *err);
/* True when the committed hashes of coll hold exactly obj (IsSerialized). */
int lc_is_serialized(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                     const struct lc_obj *obj, bool *yes, struct weft_err *err);
/* Reads the StateMetadata datatype of <prefix>/metadata/<name>; *datatype
 * weft_free, NULL when absent. */
int lc_metadata(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                char **datatype, struct weft_err *err);
/* Reads one field StateData: *kind 0 when absent; bytes/strings weft_free. */
int lc_field_get(struct lc_tx *tx, const char *coll, const char *prefix, const char *name,
                 const char *field, enum lc_kind *kind, int64_t *i, uint8_t **b, size_t *len,
                 struct weft_err *err);

/* ---- definitions ----------------------------------------------------------------- */

/* A chaincode definition (sequence + parameters), owned strings/bytes. */
struct lc_def {
    int64_t sequence;
    char *version;
    char *endorsement_plugin;
    char *validation_plugin;
    uint8_t *validation_parameter;
    size_t validation_parameter_len;
    uint8_t *collections; /* ser(CollectionConfigPackage), may be empty */
    size_t collections_len;
    bool init_required;
    /* packed EndorsementInfo / ValidationInfo, filled by lc_def_objects */
    uint8_t *_ei, *_vi;
    size_t _ei_len, _vi_len;
};

void lc_def_clear(struct lc_def *d);
/* Builds the ChaincodeDefinition (public) and ChaincodeParameters (org)
 * objects; they borrow d. */
int lc_def_objects(struct lc_def *d, struct lc_obj *definition, struct lc_obj *parameters);
/* Reads the committed definition of name: *found false when none. */
int lc_def_read(struct lc_tx *tx, const char *name, struct lc_def *d, bool *found,
                struct weft_err *err);

#endif
