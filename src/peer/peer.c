/*
 * The peer object: local MSP, joined channels (ledger + channel config),
 * the chaincode install store and chaincode support, the chaincode
 * listener (second gRPC server, ChaincodeSupport/Register), chaincode
 * definitions, and the wiring of protos.Endorser/ProcessProposal.
 *
 * Channels are opened at start from <fileSystemPath>/ledgersData/chains;
 * their configuration is read from block 0 (config updates are the
 * committer's job, a later issue). The channel list only grows while the
 * peer runs; p->mu guards it and the definition tables.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "cscc_int.h"
#include "gateway_int.h"
#include "peer_internal.h"
#include "peer/lifecycle/db.pb-c.h"
#include "peer/lifecycle/chaincode_definition.pb-c.h"
#include "weft/config.h"
#include "weft/configtx.h"
#include "weft/crypto.h"
#include "weft/ledger.h"
#include "weft/ledger_state.h"
#include "weft/log.h"
#include "weft/msp.h"
#include "weft/rpc.h"

WEFT_LOGGER(lg_peer, "peer");

static void channel_free(struct peer_channel *c)
{
    weft_ledger_close(c->ledger);
    weft_channel_config_free(c->cfg);
    weft_free(c->id);
    weft_free(c);
}

struct peer_channel *peer__channel(struct weft_peer *p, const char *id)
{
    pthread_mutex_lock(&p->mu);
    struct peer_channel *c = p->channels;
    while (c != NULL && strcmp(c->id, id) != 0) {
        c = c->next;
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

/* A Fabric peer stores the genesis block with its TRANSACTIONS_FILTER set
 * (one VALID byte per transaction), whereas configtxgen writes it empty.
 * Returns the block to store: a new copy with the filter filled in (caller
 * frees *out with weft_free), or *out = NULL when the block already has one. */
static int genesis_with_filter(const uint8_t *blk, size_t len, uint8_t **out, size_t *out_len,
                               struct weft_err *err)
{
    *out = NULL;
    Common__Block *b = common__block__unpack(NULL, len, blk);
    if (b == NULL || b->metadata == NULL || b->data == NULL) {
        common__block__free_unpacked(b, NULL);
        return weft_err_set(err, WEFT_EPARSE, "genesis block: malformed");
    }
    size_t idx = COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER;
    int rc = 0;
    if (b->metadata->n_metadata <= idx || b->metadata->metadata[idx].len == 0) {
        ProtobufCBinaryData md[5] = {{0, NULL}};
        uint8_t *filter = weft_calloc(b->data->n_data + 1, 1); /* zeros = VALID */
        size_t n = b->metadata->n_metadata > idx + 1 ? b->metadata->n_metadata : idx + 1;
        if (filter == NULL || n > WEFT_ARRAY_LEN(md)) {
            rc = filter == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory")
                                : weft_err_set(err, WEFT_EPARSE, "genesis block: metadata");
        } else {
            ProtobufCBinaryData *orig = b->metadata->metadata;
            size_t orig_n = b->metadata->n_metadata;
            for (size_t i = 0; i < orig_n; i++) {
                md[i] = orig[i];
            }
            md[idx].data = filter;
            md[idx].len = b->data->n_data;
            b->metadata->metadata = md;
            b->metadata->n_metadata = n;
            *out_len = common__block__get_packed_size(b);
            *out = weft_malloc(*out_len);
            if (*out == NULL) {
                rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
            } else {
                common__block__pack(b, *out);
            }
            b->metadata->metadata = orig;
            b->metadata->n_metadata = orig_n;
        }
        weft_free(filter);
    }
    common__block__free_unpacked(b, NULL);
    return rc;
}

static int channel_open(struct weft_peer *p, const char *id, const uint8_t *genesis,
                        size_t glen, struct weft_err *err)
{
    struct peer_channel *c = weft_calloc(1, sizeof(*c));
    uint8_t *b0 = NULL;
    size_t b0len = 0;
    if (c == NULL || (c->id = weft_strdup(id)) == NULL) {
        weft_free(c);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    struct weft_ledger_options lo;
    weft_ledger_options_init(&lo);
    lo.root = p->fs_path;
    lo.channel = id;
    lo.no_sync = p->no_sync;
    int rc = weft_ledger_open(&c->ledger, &lo, err);
    if (rc != 0) {
        weft_err_prefix(err, "open ledger of channel %s", id);
        goto fail;
    }
    struct weft_ledger_info info;
    weft_ledger_info(c->ledger, &info);
    if (info.height == 0) {
        if (genesis == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "channel %s: empty ledger", id);
            goto fail;
        }
        uint8_t *filled = NULL;
        size_t filled_len = 0;
        rc = genesis_with_filter(genesis, glen, &filled, &filled_len, err);
        if (rc == 0) {
            rc = filled != NULL
                     ? weft_ledger_commit_bytes(c->ledger, filled, filled_len, err)
                     : weft_ledger_commit_bytes(c->ledger, genesis, glen, err);
        }
        weft_free(filled);
        if (rc != 0) {
            weft_err_prefix(err, "commit genesis block of %s", id);
            goto fail;
        }
    }
    rc = weft_ledger_block_by_number(c->ledger, 0, &b0, &b0len, err);
    if (rc == 0) {
        rc = weft_channel_config_from_block(b0, b0len, 0, &c->cfg, err);
    }
    weft_free(b0);
    if (rc != 0) {
        weft_err_prefix(err, "channel %s configuration", id);
        goto fail;
    }
    pthread_mutex_lock(&p->mu);
    c->next = p->channels;
    p->channels = c;
    pthread_mutex_unlock(&p->mu);
    WEFT_INFO(lg_peer, "channel %s opened (height %llu)", id, (unsigned long long)info.height);
    return 0;
fail:
    channel_free(c);
    return rc;
}

int weft_peer_join(struct weft_peer *p, const uint8_t *block, size_t len, char **channel_id,
                   struct weft_err *err)
{
    struct weft_channel_config *cfg = NULL;
    int rc = weft_channel_config_from_block(block, len, 0, &cfg, err);
    if (rc != 0) {
        return weft_err_prefix(err, "join: not a valid genesis block");
    }
    char *id = weft_strdup(cfg->channel_id);
    weft_channel_config_free(cfg);
    if (id == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&p->join_mu);
    if (peer__channel(p, id) != NULL) {
        rc = weft_err_set(err, WEFT_EEXIST, "channel %s already joined", id);
    } else {
        rc = channel_open(p, id, block, len, err);
    }
    pthread_mutex_unlock(&p->join_mu);
    if (rc == 0 && channel_id != NULL) {
        *channel_id = id;
    } else {
        weft_free(id);
    }
    return rc;
}

int weft_peer_commit_block(struct weft_peer *p, const char *channel, const uint8_t *block,
                           size_t len, struct weft_err *err)
{
    struct peer_channel *c = peer__channel(p, channel);
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "channel '%s' not found", channel);
    }
    pthread_mutex_lock(&p->join_mu);
    int rc = weft_ledger_commit_bytes(c->ledger, block, len, err);
    pthread_mutex_unlock(&p->join_mu);
    return rc;
}

/* ---- chaincode definitions ------------------------------------------------------ */

static int def_add(struct weft_peer *p, struct peer_def **list, const char *channel,
                   const char *name, int64_t seq, const char *version, const char *package_id,
                   struct weft_err *err)
{
    struct peer_def *d = weft_calloc(1, sizeof(*d));
    if (d == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    d->channel = weft_strdup(channel);
    d->name = weft_strdup(name);
    d->version = weft_strdup(version != NULL ? version : "");
    d->package_id = weft_strdup(package_id);
    d->sequence = seq;
    if (d->channel == NULL || d->name == NULL || d->version == NULL || d->package_id == NULL) {
        peer__def_free(d);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&p->mu);
    d->next = *list;
    *list = d;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void peer__def_free(struct peer_def *d)
{
    weft_free(d->channel);
    weft_free(d->name);
    weft_free(d->version);
    weft_free(d->package_id);
    weft_free(d);
}

int weft_peer_approve_local(struct weft_peer *p, const char *channel, const char *name,
                            int64_t sequence, const char *package_id, struct weft_err *err)
{
    int rc = def_add(p, &p->approvals, channel, name, sequence, NULL, package_id, err);
    if (rc == 0) {
        peer__defcache_bump(p);
    }
    return rc;
}

int weft_peer_define_chaincode(struct weft_peer *p, const char *channel, const char *name,
                               const char *version, const char *package_id,
                               struct weft_err *err)
{
    return def_add(p, &p->devdefs, channel, name, 0, version, package_id, err);
}

static struct peer_def *def_find(struct peer_def *list, const char *channel, const char *name,
                                 int64_t seq)
{
    for (struct peer_def *d = list; d != NULL; d = d->next) {
        if (strcmp(d->channel, channel) == 0 && strcmp(d->name, name) == 0 &&
            (seq < 0 || d->sequence == seq)) {
            return d;
        }
    }
    return NULL;
}

/* Reads one lifecycle.StateData field of _lifecycle. *sd NULL when absent;
 * ver (may be NULL) gets the key's version. */
static int lifecycle_field(struct weft_ledger_sim *qe, const char *name, const char *field,
                           Lifecycle__StateData **sd, struct weft_ledger_version *ver,
                           struct weft_err *err)
{
    char key[512];
    snprintf(key, sizeof(key), "namespaces/fields/%s/%s", name, field);
    uint8_t *v = NULL;
    size_t vl = 0;
    bool found = false;
    *sd = NULL;
    int rc = weft_ledger_sim_get(qe, "_lifecycle", key, strlen(key), &v, &vl, &found, ver, err);
    if (rc == 0 && found) {
        *sd = lifecycle__state_data__unpack(NULL, vl, v);
        if (*sd == NULL) {
            rc = weft_err_set(err, WEFT_ECORRUPT, "_lifecycle %s: malformed StateData", key);
        }
    }
    weft_free(v);
    return rc;
}

/* ---- definition cache ----------------------------------------------------------------
 * Successful lookups per (channel, name), used while their key still holds:
 *  - Sequence's value and version: every definition commit writes Sequence
 *    (+1) and is the only writer of EndorsementInfo, so a same version means
 *    the same committed definition;
 *  - the committed hash of this org's PackageID approval of that sequence:
 *    it names the content-addressed private file the slow path reads, and a
 *    re-approval of the same sequence changes it without touching Sequence;
 *  - the generation (local approvals, saved approvals, installs).
 * Failures are not cached. */

#define PEER_DEFCACHE_MAX 256

struct defcache_key {
    int64_t sequence;
    struct weft_ledger_version seq_ver;
    uint8_t approval[32];
    bool approval_found;
    uint64_t gen;
};

struct peer_defcache_ent {
    char *channel, *name, *ccid, *version;
    struct defcache_key k;
};

void peer__defcache_bump(struct weft_peer *p)
{
    atomic_fetch_add(&p->approval_gen, 1);
}

static bool defcache_key_eq(const struct defcache_key *a, const struct defcache_key *b)
{
    return a->sequence == b->sequence && a->seq_ver.block_num == b->seq_ver.block_num &&
           a->seq_ver.tx_num == b->seq_ver.tx_num && a->approval_found == b->approval_found &&
           memcmp(a->approval, b->approval, sizeof(a->approval)) == 0 && a->gen == b->gen;
}

static void defcache_ent_clear(struct peer_defcache_ent *e)
{
    weft_free(e->channel);
    weft_free(e->name);
    weft_free(e->ccid);
    weft_free(e->version);
    memset(e, 0, sizeof(*e));
}

/* Caller holds dc_mu. */
static struct peer_defcache_ent *defcache_find(struct weft_peer *p, const char *channel,
                                               const char *name)
{
    for (size_t i = 0; i < p->dc_n; i++) {
        struct peer_defcache_ent *e = &p->dc[i];
        if (strcmp(e->name, name) == 0 && strcmp(e->channel, channel) == 0) {
            return e;
        }
    }
    return NULL;
}

/* 0 with copies in *ccid, *version; WEFT_ENOTFOUND on a miss; WEFT_ENOMEM. */
static int defcache_get(struct weft_peer *p, const char *channel, const char *name,
                        const struct defcache_key *k, char **ccid, char **version)
{
    int rc = WEFT_ENOTFOUND;
    pthread_mutex_lock(&p->dc_mu);
    struct peer_defcache_ent *e = defcache_find(p, channel, name);
    if (e != NULL && defcache_key_eq(&e->k, k)) {
        *ccid = weft_strdup(e->ccid);
        *version = weft_strdup(e->version);
        rc = 0;
    }
    pthread_mutex_unlock(&p->dc_mu);
    if (rc == 0 && (*ccid == NULL || *version == NULL)) {
        weft_free(*ccid);
        weft_free(*version);
        *ccid = *version = NULL;
        rc = WEFT_ENOMEM;
    }
    return rc;
}

/* Best effort: nothing is stored when out of memory. */
static void defcache_put(struct weft_peer *p, const char *channel, const char *name,
                         const struct defcache_key *k, const char *ccid, const char *version)
{
    struct peer_defcache_ent n = {
        .channel = weft_strdup(channel),
        .name = weft_strdup(name),
        .ccid = weft_strdup(ccid),
        .version = weft_strdup(version),
        .k = *k,
    };
    if (n.channel == NULL || n.name == NULL || n.ccid == NULL || n.version == NULL) {
        defcache_ent_clear(&n);
        return;
    }
    pthread_mutex_lock(&p->dc_mu);
    if (p->dc == NULL) {
        p->dc = weft_calloc(PEER_DEFCACHE_MAX, sizeof(*p->dc));
    }
    struct peer_defcache_ent *e = p->dc != NULL ? defcache_find(p, channel, name) : NULL;
    if (e == NULL && p->dc != NULL) {
        if (p->dc_n < PEER_DEFCACHE_MAX) {
            e = &p->dc[p->dc_n++];
        } else {
            e = &p->dc[p->dc_next]; /* the oldest slot filled */
            p->dc_next = (p->dc_next + 1) % PEER_DEFCACHE_MAX;
        }
    }
    if (e != NULL) {
        defcache_ent_clear(e);
        *e = n;
    } else {
        defcache_ent_clear(&n);
    }
    pthread_mutex_unlock(&p->dc_mu);
}

static void defcache_free(struct weft_peer *p)
{
    for (size_t i = 0; i < p->dc_n; i++) {
        defcache_ent_clear(&p->dc[i]);
    }
    weft_free(p->dc);
    p->dc = NULL;
    p->dc_n = p->dc_next = 0;
}

int peer__definition(struct weft_peer *p, struct peer_channel *c, const char *name,
                     char **ccid, char **version, struct weft_err *err)
{
    pthread_mutex_lock(&p->mu);
    struct peer_def *d = def_find(p->devdefs, c->id, name, -1);
    if (d != NULL) {
        *ccid = weft_strdup(d->package_id);
        *version = weft_strdup(d->version);
        pthread_mutex_unlock(&p->mu);
        return *ccid == NULL || *version == NULL ? WEFT_ENOMEM : 0;
    }
    pthread_mutex_unlock(&p->mu);
    /* read before the ledger: a bump after this point misses the entry stored below */
    struct defcache_key k = {.gen = atomic_load(&p->approval_gen)};
    bool keyed = false;
    struct weft_ledger_sim *qe = NULL;
    Lifecycle__StateData *seq = NULL, *ei = NULL;
    Lifecycle__ChaincodeEndorsementInfo *info = NULL;
    int rc = weft_ledger_qe_new(c->ledger, &qe, err);
    if (rc == 0) {
        rc = lifecycle_field(qe, name, "Sequence", &seq, &k.seq_ver, err);
    }
    if (rc == 0 && seq != NULL && seq->type_case == LIFECYCLE__STATE_DATA__TYPE_INT64) {
        struct weft_err he = {0};
        k.sequence = seq->int64;
        keyed = peer__lifecycle_approval_hash(p, qe, name, seq->int64, k.approval,
                                              &k.approval_found, &he) == 0;
        if (keyed) {
            rc = defcache_get(p, c->id, name, &k, ccid, version);
            if (rc != WEFT_ENOTFOUND) {
                if (rc != 0) {
                    weft_err_set(err, rc, "out of memory");
                }
                goto out;
            }
            rc = 0;
        }
    }
    if (rc == 0) {
        rc = lifecycle_field(qe, name, "EndorsementInfo", &ei, NULL, err);
    }
    weft_ledger_sim_free(qe);
    qe = NULL;
    if (rc != 0) {
        goto out;
    }
    if (seq == NULL || ei == NULL || seq->type_case != LIFECYCLE__STATE_DATA__TYPE_INT64 ||
        ei->type_case != LIFECYCLE__STATE_DATA__TYPE_BYTES) {
        rc = weft_err_set(err, WEFT_ENOTFOUND, "chaincode %s not found", name);
        goto out;
    }
    info = lifecycle__chaincode_endorsement_info__unpack(NULL, ei->bytes.len, ei->bytes.data);
    if (info == NULL) {
        rc = weft_err_set(err, WEFT_ECORRUPT, "malformed EndorsementInfo of %s", name);
        goto out;
    }
    pthread_mutex_lock(&p->mu);
    d = def_find(p->approvals, c->id, name, seq->int64);
    char *pkg = d != NULL ? weft_strdup(d->package_id) : NULL;
    pthread_mutex_unlock(&p->mu);
    if (pkg == NULL) {
        /* the package this org approved through _lifecycle (lifecycle.c) */
        struct weft_err le = {0};
        if (peer__lifecycle_package(p, c->ledger, c->id, name, seq->int64, &pkg, &le) != 0) {
            pkg = NULL;
        }
    }
    if (pkg == NULL || !weft_cc_store_has(p->store, pkg)) {
        weft_free(pkg);
        rc = weft_err_set(err, WEFT_ENOTFOUND,
                          "chaincode definition for '%s' exists, but chaincode is not installed",
                          name);
        goto out;
    }
    *ccid = pkg;
    *version = weft_strdup(info->version);
    rc = *version == NULL ? WEFT_ENOMEM : 0;
    if (rc == 0 && keyed) {
        defcache_put(p, c->id, name, &k, *ccid, *version);
    }
out:
    weft_ledger_sim_free(qe);
    lifecycle__chaincode_endorsement_info__free_unpacked(info, NULL);
    lifecycle__state_data__free_unpacked(seq, NULL);
    lifecycle__state_data__free_unpacked(ei, NULL);
    return rc;
}

static int resolve_cb(void *ctx, const char *channel, const char *name, char **ccid,
                      char **version, struct weft_err *err)
{
    struct weft_peer *p = ctx;
    struct peer_channel *c = peer__channel(p, channel);
    if (c == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "channel '%s' not found", channel);
    }
    return peer__definition(p, c, name, ccid, version, err);
}

int weft_peer_install(struct weft_peer *p, const uint8_t *pkg, size_t len, char **package_id,
                      struct weft_err *err)
{
    char *id = NULL;
    int rc = weft_cc_store_install(p->store, pkg, len, &id, err);
    if (rc != 0) {
        return rc;
    }
    rc = weft_cc_support_build(p->support, id, err);
    if (rc != 0) {
        struct weft_err e2 = {0};
        if (weft_cc_store_remove(p->store, id, &e2) != 0) {
            WEFT_WARN(lg_peer, "%s", e2.msg);
        }
        weft_free(id);
        return weft_err_prefix(err, "could not build chaincode");
    }
    peer__defcache_bump(p);
    if (package_id != NULL) {
        *package_id = id;
    } else {
        weft_free(id);
    }
    return 0;
}

/* ---- construction ----------------------------------------------------------------- */

static void open_existing(struct weft_peer *p)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/ledgersData/chains", p->fs_path);
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        struct weft_err e = {0};
        if (channel_open(p, de->d_name, NULL, 0, &e) != 0) {
            WEFT_WARN(lg_peer, "channel %s not opened: %s", de->d_name, e.msg);
        }
    }
    closedir(d);
}

/* Reads a PEM file (at most 1 MiB) as a NUL-terminated string. */
static int read_pem(const char *path, char **out, struct weft_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return weft_err_set(err, WEFT_EIO, "peer.tls.rootcert.file %s: cannot open", path);
    }
    char *b = weft_malloc((1u << 20) + 1);
    size_t n = b != NULL ? fread(b, 1, 1u << 20, f) : 0;
    bool bad = ferror(f) != 0 || !feof(f);
    fclose(f);
    if (b == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    if (bad) {
        weft_free(b);
        return weft_err_set(err, WEFT_EIO, "peer.tls.rootcert.file %s: read failed or too big",
                            path);
    }
    b[n] = 0;
    *out = b;
    return 0;
}

struct weft_peer *weft_peer_new_opts(const struct weft_peer_opts *o, struct weft_rpc_server *rpc,
                                     struct weft_err *err)
{
    if (o->fs_path == NULL || o->msp_dir == NULL || o->mspid == NULL) {
        weft_err_set(err, WEFT_EINVAL, "peer: fileSystemPath, mspConfigPath and localMspId "
                     "are required");
        return NULL;
    }
    char *cc_root = NULL; /* peer.tls.rootcert.file */
    struct weft_peer *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->join_mu, NULL);
    pthread_mutex_init(&p->dc_mu, NULL);
    p->no_sync = o->ledger_no_sync;
    p->fs_path = weft_strdup(o->fs_path);
    if (p->fs_path == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto fail;
    }
    if (weft_msp_load_dir(o->msp_dir, o->mspid, &p->msp, err) != 0) {
        weft_err_prefix(err, "load local MSP %s from %s", o->mspid, o->msp_dir);
        goto fail;
    }
    if (weft_msp_signer(p->msp) == NULL) {
        weft_err_set(err, WEFT_ECONFIG, "local MSP %s has no signing identity", o->msp_dir);
        goto fail;
    }
    if (weft_cc_store_open(p->fs_path, &p->store, err) != 0) {
        goto fail;
    }
    p->vcache = weft_vcache_new(1u << 16);
    if (p->vcache == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "peer: verification cache");
        goto fail;
    }
    p->workers = weft_pool_new(4);
    if (p->workers == NULL) {
        weft_err_set(err, WEFT_ENOMEM, "peer: worker pool");
        goto fail;
    }
    struct weft_rpc_server_opts so = {0};
    so.listen[0] = o->chaincode_listen != NULL ? o->chaincode_listen : "0.0.0.0:7052";
    so.cq_threads = 1;
    so.workers = 256;
    so.health = true;
    if (o->tls_enabled) {
        /* mutual TLS: the peer's TLS key pair; clients only from the CA the
         * peer makes now (Fabric's chaincode accesscontrol) */
        if (o->tls_cert_file == NULL || o->tls_key_file == NULL || o->tls_root_file == NULL) {
            weft_err_set(err, WEFT_ECONFIG, "chaincode listener: peer.tls.cert.file, "
                         "peer.tls.key.file and peer.tls.rootcert.file are required with TLS");
            goto fail;
        }
        if (read_pem(o->tls_root_file, &cc_root, err) != 0) {
            goto fail;
        }
        if (weft_cc_tlsca_new(&p->cc_tlsca, err) != 0) {
            goto fail;
        }
        so.tls = WEFT_RPC_TLS_MUTUAL;
        so.cert.file = o->tls_cert_file;
        so.key.file = o->tls_key_file;
        so.client_ca.pem = weft_cc_tlsca_cert_pem(p->cc_tlsca);
    }
    p->cc_server = weft_rpc_server_new(&so, err);
    if (p->cc_server == NULL) {
        weft_err_prefix(err, "chaincode listener on %s", so.listen[0]);
        goto fail;
    }
    char addr[300];
    if (o->chaincode_address != NULL) {
        snprintf(addr, sizeof(addr), "%s", o->chaincode_address);
    } else {
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", weft_rpc_server_port(p->cc_server, 0));
    }
    struct weft_cc_support_opts co = {
        .store = p->store,
        .peer_address = addr,
        .mspid = o->mspid,
        .execute_timeout_ms = o->execute_timeout_ms,
        .startup_timeout_ms = o->startup_timeout_ms,
        .builders = o->builders,
        .n_builders = o->n_builders,
        .node_modules = o->node_modules,
        .launcher = o->launcher,
        .resolve = resolve_cb,
        .resolve_ctx = p,
        .tlsca = p->cc_tlsca,
        .tls_root_pem = cc_root,
    };
    if (weft_cc_support_new(&co, &p->support, err) != 0 ||
        weft_cc_support_register_service(p->support, p->cc_server, err) != 0 ||
        weft_rpc_server_start(p->cc_server, err) != 0) {
        goto fail;
    }
    if (rpc != NULL && peer__endorser_register(p, rpc, err) != 0) {
        goto fail;
    }
    open_existing(p);
    WEFT_INFO(lg_peer, "chaincode listener on port %d%s; chaincode dials %s",
              weft_rpc_server_port(p->cc_server, 0), o->tls_enabled ? " (mutual TLS)" : "",
              addr);
    weft_free(cc_root);
    return p;
fail:
    weft_free(cc_root);
    weft_peer_free(p);
    return NULL;
}

/* chaincode.externalBuilders: [{name, path, propagateEnvironment: []}] */
static int read_builders(struct weft_config *cfg, struct weft_cc_builder **out, size_t *n,
                         char ***strs, struct weft_err *err)
{
    const struct weft_config_node *list = weft_config_lookup(cfg, "chaincode.externalBuilders");
    size_t cnt = list != NULL ? weft_config_node_len(list) : 0;
    *out = NULL;
    *n = 0;
    *strs = NULL;
    if (cnt == 0) {
        return 0;
    }
    struct weft_cc_builder *b = weft_calloc(cnt, sizeof(*b));
    if (b == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        const struct weft_config_node *it = weft_config_node_at(list, i);
        const char *name = NULL, *path = NULL;
        if (weft_config_node_string(cfg, weft_config_node_child(it, "name"), &name, err) != 0 ||
            weft_config_node_string(cfg, weft_config_node_child(it, "path"), &path, err) != 0) {
            weft_free(b);
            return weft_err_prefix(err, "chaincode.externalBuilders[%zu]", i);
        }
        b[i].name = name;
        b[i].path = path;
        const struct weft_config_node *pe = weft_config_node_child(it, "propagateEnvironment");
        if (pe == NULL) {
            pe = weft_config_node_child(it, "environmentWhitelist");
        }
        size_t ne = pe != NULL ? weft_config_node_len(pe) : 0;
        if (ne > 0) {
            const char **v = weft_calloc(ne + 1, sizeof(*v));
            if (v == NULL) {
                weft_free(b);
                return WEFT_ENOMEM;
            }
            for (size_t k = 0; k < ne; k++) {
                v[k] = weft_config_node_value(weft_config_node_at(pe, k));
                if (v[k] == NULL) {
                    v[k] = "";
                }
            }
            b[i].propagate_env = v;
        }
    }
    *out = b;
    *n = cnt;
    return 0;
}

struct weft_peer *weft_peer_new(struct weft_config *cfg, struct weft_rpc_server *rpc,
                                struct weft_ops *ops, struct weft_err *err)
{
    struct weft_peer_opts o = {0};
    char *fsp = NULL, *msp = NULL, *listen = NULL, *nm = NULL;
    char *tcert = NULL, *tkey = NULL, *troot = NULL;
    const char *s = NULL;
    struct weft_cc_builder *b = NULL;
    size_t nb = 0;
    char **strs = NULL;
    int64_t ns = 0;
    struct weft_peer *p = NULL;
    if (weft_config_get_path(cfg, "peer.fileSystemPath", &fsp, err) != 0 ||
        weft_config_get_path(cfg, "peer.mspConfigPath", &msp, err) != 0 ||
        weft_config_get_string(cfg, "peer.localMspId", &o.mspid, err) != 0) {
        goto out;
    }
    o.fs_path = fsp;
    o.msp_dir = msp;
    if (weft_config_get_string(cfg, "peer.chaincodeListenAddress", &s, NULL) == 0 && s[0]) {
        o.chaincode_listen = s;
    } else {
        const char *pa = "0.0.0.0:7051";
        if (weft_config_get_string(cfg, "peer.address", &pa, NULL) != 0) {
            pa = "0.0.0.0:7051";
        }
        const char *colon = strrchr(pa, ':');
        listen = weft_asprintf("%.*s:7052", (int)(colon != NULL ? colon - pa : (long)strlen(pa)),
                               pa);
        o.chaincode_listen = listen;
    }
    const char *ca = NULL;
    if (weft_config_get_string(cfg, "peer.chaincodeAddress", &ca, NULL) == 0 && ca[0]) {
        o.chaincode_address = ca;
    }
    if (weft_config_get_duration(cfg, "chaincode.executetimeout", &ns, NULL) == 0) {
        o.execute_timeout_ms = ns / 1000000;
    }
    if (weft_config_get_duration(cfg, "chaincode.startuptimeout", &ns, NULL) == 0) {
        o.startup_timeout_ms = ns / 1000000;
    }
    if (weft_config_get_path(cfg, "chaincode.node.modulesPath", &nm, NULL) == 0) {
        o.node_modules = nm;
    }
    bool tls = false;
    if (weft_config_get_bool(cfg, "peer.tls.enabled", &tls, NULL) == 0 && tls) {
        o.tls_enabled = true;
        if (weft_config_get_path(cfg, "peer.tls.cert.file", &tcert, err) != 0 ||
            weft_config_get_path(cfg, "peer.tls.key.file", &tkey, err) != 0 ||
            weft_config_get_path(cfg, "peer.tls.rootcert.file", &troot, err) != 0) {
            goto out;
        }
        o.tls_cert_file = tcert;
        o.tls_key_file = tkey;
        o.tls_root_file = troot;
    }
    if (read_builders(cfg, &b, &nb, &strs, err) != 0) {
        goto out;
    }
    o.builders = b;
    o.n_builders = nb;
    p = weft_peer_new_opts(&o, rpc, err);
    if (p != NULL && peer__sys_start(p, cfg, rpc, err) != 0) {
        weft_peer_free(p);
        p = NULL;
    }
    if (p != NULL && peer__gateway_start(p, cfg, rpc, ops, err) != 0) {
        weft_peer_free(p);
        p = NULL;
    }
out:
    for (size_t i = 0; b != NULL && i < nb; i++) {
        weft_free((void *)b[i].propagate_env);
    }
    weft_free(b);
    weft_free(fsp);
    weft_free(msp);
    weft_free(listen);
    weft_free(nm);
    weft_free(tcert);
    weft_free(tkey);
    weft_free(troot);
    return p;
}

struct weft_vcache *weft_peer_vcache(struct weft_peer *p)
{
    return p->vcache;
}

void weft_peer_free(struct weft_peer *p)
{
    if (p == NULL) {
        return;
    }
    peer__gateway_free(p);
    weft_pool_free(p->workers); /* its proposals use the channels and the support */
    peer__sys_free(p);
    if (p->cc_server != NULL) {
        weft_rpc_server_stop(p->cc_server, 500);
    }
    weft_cc_support_free(p->support);
    weft_rpc_server_free(p->cc_server);
    weft_cc_tlsca_free(p->cc_tlsca);
    weft_cc_store_free(p->store);
    while (p->channels != NULL) {
        struct peer_channel *c = p->channels;
        p->channels = c->next;
        channel_free(c);
    }
    struct peer_def *lists[2] = {p->approvals, p->devdefs};
    for (size_t i = 0; i < 2; i++) {
        while (lists[i] != NULL) {
            struct peer_def *d = lists[i];
            lists[i] = d->next;
            peer__def_free(d);
        }
    }
    defcache_free(p);
    weft_msp_unref(p->msp);
    weft_vcache_free(p->vcache);
    weft_free(p->fs_path);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->join_mu);
    pthread_mutex_destroy(&p->dc_mu);
    weft_free(p);
}

int weft_peer_chaincode_port(const struct weft_peer *p)
{
    return weft_rpc_server_port(p->cc_server, 0);
}

struct weft_cc_store *weft_peer_store(struct weft_peer *p)
{
    return p->store;
}

struct weft_cc_support *weft_peer_cc_support(struct weft_peer *p)
{
    return p->support;
}

struct weft_cc_tlsca *weft_peer_cc_tlsca(struct weft_peer *p)
{
    return p->cc_tlsca;
}
