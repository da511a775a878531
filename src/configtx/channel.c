/* Reading a channel configuration: config block -> ConfigEnvelope ->
 * struct weft_channel_config (values, orgs, MSP manager, policy manager). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "common/configtx.pb-c.h"
#include "common/configuration.pb-c.h"
#include "internal.h"
#include "msp/msp_config.pb-c.h"
#include "orderer/configuration.pb-c.h"
#include "orderer/etcdraft/configuration.pb-c.h"
#include "peer/configuration.pb-c.h"

#define ENOMEM_RET(err) weft_err_set((err), WEFT_ENOMEM, "out of memory")

int weft_configtx_block_config(const uint8_t *block, size_t len, uint8_t **env, size_t *env_len,
                               char **channel_id, struct weft_err *err)
{
    Common__Block *b = NULL;
    Common__Envelope *e = NULL;
    Common__Payload *p = NULL;
    Common__ChannelHeader *ch = NULL;
    uint8_t *copy = NULL;
    char *cid = NULL;
    int rc;
    if (block == NULL || env == NULL || env_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "config block: missing argument");
    }
    b = (Common__Block *)configtx__unpack(&common__block__descriptor, block, len, "config block",
                                          err);
    if (b == NULL) {
        rc = err != NULL ? err->code : WEFT_EPARSE;
        goto out;
    }
    if (b->data == NULL || b->data->n_data != 1) {
        rc = weft_err_set(err, WEFT_EPARSE, "config block: expected exactly 1 envelope, found %zu",
                          b->data == NULL ? (size_t)0 : b->data->n_data);
        goto out;
    }
    e = (Common__Envelope *)configtx__unpack(&common__envelope__descriptor, b->data->data[0].data,
                                             b->data->data[0].len, "config block: envelope", err);
    if (e == NULL) {
        rc = err != NULL ? err->code : WEFT_EPARSE;
        goto out;
    }
    p = (Common__Payload *)configtx__unpack(&common__payload__descriptor, e->payload.data,
                                            e->payload.len, "config block: payload", err);
    if (p == NULL) {
        rc = err != NULL ? err->code : WEFT_EPARSE;
        goto out;
    }
    if (p->header == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "config block: payload has no header");
        goto out;
    }
    ch = (Common__ChannelHeader *)configtx__unpack(
        &common__channel_header__descriptor, p->header->channel_header.data,
        p->header->channel_header.len, "config block: channel header", err);
    if (ch == NULL) {
        rc = err != NULL ? err->code : WEFT_EPARSE;
        goto out;
    }
    if (ch->type != WEFT_CONFIGTX_HEADER_CONFIG) {
        rc = weft_err_set(err, WEFT_EPARSE,
                          "config block: channel header type is %d, expected CONFIG (1)",
                          (int)ch->type);
        goto out;
    }
    copy = weft_malloc(p->data.len + 1);
    if (copy == NULL) {
        rc = ENOMEM_RET(err);
        goto out;
    }
    if (p->data.len > 0) {
        memcpy(copy, p->data.data, p->data.len);
    }
    if (channel_id != NULL) {
        cid = weft_strdup(ch->channel_id != NULL ? ch->channel_id : "");
        if (cid == NULL) {
            rc = ENOMEM_RET(err);
            goto out;
        }
        *channel_id = cid;
        cid = NULL;
    }
    *env = copy;
    *env_len = p->data.len;
    copy = NULL;
    rc = 0;
out:
    weft_free(copy);
    weft_free(cid);
    configtx__free((ProtobufCMessage *)ch);
    configtx__free((ProtobufCMessage *)p);
    configtx__free((ProtobufCMessage *)e);
    configtx__free((ProtobufCMessage *)b);
    return rc;
}

/* ---- helpers -------------------------------------------------------------- */

static void strv_free(struct weft_configtx_strv *s)
{
    for (size_t i = 0; i < s->n; i++) {
        weft_free(s->v[i]);
    }
    weft_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int strv_push(struct weft_configtx_strv *s, const char *str)
{
    char **nv = weft_realloc(s->v, (s->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        return WEFT_ENOMEM;
    }
    s->v = nv;
    nv[s->n] = weft_strdup(str != NULL ? str : "");
    if (nv[s->n] == NULL) {
        return WEFT_ENOMEM;
    }
    s->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void org_free(struct weft_configtx_org *o)
{
    weft_free(o->name);
    weft_free(o->mspid);
    weft_msp_unref(o->msp);
    strv_free(&o->endpoints);
    for (size_t i = 0; i < o->n_anchor_peers; i++) {
        weft_free(o->anchor_peers[i].host);
    }
    weft_free(o->anchor_peers);
}

void weft_channel_config_free(struct weft_channel_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    weft_free(cfg->channel_id);
    weft_free(cfg->hashing_algorithm);
    strv_free(&cfg->orderer_addresses);
    weft_free(cfg->consortium);
    strv_free(&cfg->capabilities);
    struct weft_configtx_orderer *o = &cfg->orderer;
    weft_free(o->consensus_type);
    weft_free(o->consensus_metadata);
    for (size_t i = 0; i < o->n_consenters; i++) {
        weft_free(o->consenters[i].host);
        weft_free(o->consenters[i].client_tls_cert);
        weft_free(o->consenters[i].server_tls_cert);
    }
    weft_free(o->consenters);
    weft_free(o->tick_interval);
    weft_free(o->batch_timeout);
    strv_free(&o->capabilities);
    for (size_t i = 0; i < o->n_orgs; i++) {
        org_free(&o->orgs[i]);
    }
    weft_free(o->orgs);
    struct weft_configtx_application *a = &cfg->application;
    strv_free(&a->capabilities);
    for (size_t i = 0; i < a->n_acls; i++) {
        weft_free(a->acls[i].resource);
        weft_free(a->acls[i].policy_ref);
    }
    weft_free(a->acls);
    for (size_t i = 0; i < a->n_orgs; i++) {
        org_free(&a->orgs[i]);
    }
    weft_free(a->orgs);
    weft_policy_mgr_free(cfg->policy_mgr);
    weft_msp_mgr_free(cfg->msp_mgr);
    strv_free(&cfg->policy_paths);
    weft_free(cfg->_config);
    weft_free(cfg);
}

static Common__ConfigGroup *group_child(const Common__ConfigGroup *g, const char *key)
{
    for (size_t i = 0; g != NULL && i < g->n_groups; i++) {
        if (strcmp(g->groups[i]->key, key) == 0) {
            return g->groups[i]->value;
        }
    }
    return NULL;
}

static const Common__ConfigValue *group_value(const Common__ConfigGroup *g, const char *key)
{
    for (size_t i = 0; g != NULL && i < g->n_values; i++) {
        if (strcmp(g->values[i]->key, key) == 0) {
            return g->values[i]->value;
        }
    }
    return NULL;
}

/* Unpacks value `key` of group `path` as desc; *out NULL when absent. */
static int value_msg(const Common__ConfigGroup *g, const char *path, const char *key,
                     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                     struct weft_err *err)
{
    *out = NULL;
    const Common__ConfigValue *v = group_value(g, key);
    if (v == NULL) {
        return 0;
    }
    char what[160];
    snprintf(what, sizeof(what), "config value %s/%s", path, key);
    *out = configtx__unpack(desc, v->value.data, v->value.len, what, err);
    return *out == NULL ? (err != NULL ? err->code : WEFT_EPARSE) : 0;
}

static int capabilities(const Common__ConfigGroup *g, const char *path,
                        struct weft_configtx_strv *out, struct weft_err *err)
{
    ProtobufCMessage *m;
    int rc = value_msg(g, path, "Capabilities", &common__capabilities__descriptor, &m, err);
    if (rc != 0 || m == NULL) {
        return rc;
    }
    Common__Capabilities *c = (Common__Capabilities *)m;
    for (size_t i = 0; i < c->n_capabilities; i++) {
        if (strv_push(out, c->capabilities[i]->key) != 0) {
            configtx__free(m);
            return ENOMEM_RET(err);
        }
    }
    configtx__free(m);
    if (out->n > 1) {
        qsort(out->v, out->n, sizeof(*out->v), cmp_str);
    }
    return 0;
}

/* Walks the tree: declares every group and adds every policy by path. */
static int walk_policies(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                         const char *path, int depth, struct weft_err *err)
{
    if (depth > WEFT_CONFIGTX_MAX_DEPTH) {
        return weft_err_set(err, WEFT_EPARSE, "config group %s: nested too deep", path);
    }
    int rc = weft_policy_mgr_add_group(cfg->policy_mgr, path, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < g->n_policies; i++) {
        const Common__ConfigGroup__PoliciesEntry *pe = g->policies[i];
        char *p = weft_asprintf("%s/%s", path, pe->key);
        if (p == NULL) {
            return ENOMEM_RET(err);
        }
        if (pe->value == NULL || pe->value->policy == NULL) {
            rc = weft_err_set(err, WEFT_EPARSE, "config policy %s: empty policy", p);
            weft_free(p);
            return rc;
        }
        rc = weft_policy_mgr_add(cfg->policy_mgr, p, pe->value->policy->type,
                                 pe->value->policy->value.data, pe->value->policy->value.len, err);
        if (rc == 0) {
            rc = strv_push(&cfg->policy_paths, p);
            if (rc != 0) {
                ENOMEM_RET(err);
            }
        } else {
            weft_err_prefix(err, "config policy %s", p);
        }
        weft_free(p);
        if (rc != 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < g->n_groups; i++) {
        if (g->groups[i]->value == NULL) {
            continue;
        }
        char *p = weft_asprintf("%s/%s", path, g->groups[i]->key);
        if (p == NULL) {
            return ENOMEM_RET(err);
        }
        rc = walk_policies(cfg, g->groups[i]->value, p, depth + 1, err);
        weft_free(p);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int parse_org(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                     const char *name, const char *path, int64_t now,
                     struct weft_configtx_org *org, struct weft_err *err)
{
    int rc;
    org->name = weft_strdup(name);
    if (org->name == NULL) {
        return ENOMEM_RET(err);
    }
    const Common__ConfigValue *mv = group_value(g, "MSP");
    if (mv == NULL) {
        return weft_err_set(err, WEFT_ECONFIG, "org %s: no MSP value", path);
    }
    struct weft_msp *msp = NULL;
    rc = weft_msp_new(mv->value.data, mv->value.len, now, &msp, err);
    if (rc != 0) {
        return weft_err_prefix(err, "org %s: MSP", path);
    }
    org->msp = msp;
    org->mspid = weft_strdup(weft_msp_id(msp));
    if (org->mspid == NULL) {
        return ENOMEM_RET(err);
    }
    struct weft_msp *have = weft_msp_mgr_get(cfg->msp_mgr, org->mspid);
    if (have == NULL) {
        rc = weft_msp_mgr_add(cfg->msp_mgr, msp, err);
        if (rc != 0) {
            return rc;
        }
    }
    ProtobufCMessage *m = NULL;
    rc = value_msg(g, path, "Endpoints", &common__orderer_addresses__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        Common__OrdererAddresses *a = (Common__OrdererAddresses *)m;
        for (size_t i = 0; i < a->n_addresses && rc == 0; i++) {
            rc = strv_push(&org->endpoints, a->addresses[i]);
        }
        configtx__free(m);
        if (rc != 0) {
            return ENOMEM_RET(err);
        }
    }
    rc = value_msg(g, path, "AnchorPeers", &protos__anchor_peers__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        Protos__AnchorPeers *a = (Protos__AnchorPeers *)m;
        if (a->n_anchor_peers > 0) {
            org->anchor_peers = weft_calloc(a->n_anchor_peers, sizeof(*org->anchor_peers));
            if (org->anchor_peers == NULL) {
                configtx__free(m);
                return ENOMEM_RET(err);
            }
        }
        for (size_t i = 0; i < a->n_anchor_peers; i++) {
            org->anchor_peers[i].host = weft_strdup(a->anchor_peers[i]->host);
            org->anchor_peers[i].port = (uint32_t)a->anchor_peers[i]->port;
            org->n_anchor_peers++;
            if (org->anchor_peers[i].host == NULL) {
                configtx__free(m);
                return ENOMEM_RET(err);
            }
        }
        configtx__free(m);
    }
    return 0;
}

static int parse_orgs(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                      const char *path, int64_t now, struct weft_configtx_org **orgs, size_t *n,
                      struct weft_err *err)
{
    if (g->n_groups == 0) {
        return 0;
    }
    *orgs = weft_calloc(g->n_groups, sizeof(**orgs));
    if (*orgs == NULL) {
        return ENOMEM_RET(err);
    }
    for (size_t i = 0; i < g->n_groups; i++) {
        char *p = weft_asprintf("%s/%s", path, g->groups[i]->key);
        if (p == NULL) {
            return ENOMEM_RET(err);
        }
        (*n)++;
        int rc = g->groups[i]->value == NULL
                     ? weft_err_set(err, WEFT_EPARSE, "org %s: empty group", p)
                     : parse_org(cfg, g->groups[i]->value, g->groups[i]->key, p, now,
                                 &(*orgs)[i], err);
        weft_free(p);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Copies bytes with a NUL after them (PEM usable as a string). */
static uint8_t *dup_nul(const ProtobufCBinaryData *b)
{
    uint8_t *p = weft_malloc(b->len + 1);
    if (p != NULL) {
        if (b->len > 0) {
            memcpy(p, b->data, b->len);
        }
        p[b->len] = 0;
    }
    return p;
}

static int parse_orderer(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                         int64_t now, struct weft_err *err)
{
    static const char path[] = "/Channel/Orderer";
    struct weft_configtx_orderer *o = &cfg->orderer;
    ProtobufCMessage *m = NULL;
    int rc = value_msg(g, path, "ConsensusType", &orderer__consensus_type__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m == NULL) {
        return weft_err_set(err, WEFT_ECONFIG, "%s: no ConsensusType value", path);
    }
    Orderer__ConsensusType *ct = (Orderer__ConsensusType *)m;
    o->consensus_type = weft_strdup(ct->type);
    o->consensus_state = (int32_t)ct->state;
    o->consensus_metadata = dup_nul(&ct->metadata);
    o->consensus_metadata_len = ct->metadata.len;
    if (o->consensus_type == NULL || o->consensus_metadata == NULL) {
        configtx__free(m);
        return ENOMEM_RET(err);
    }
    if (strcmp(ct->type, "etcdraft") == 0) {
        Etcdraft__ConfigMetadata *md = (Etcdraft__ConfigMetadata *)configtx__unpack(
            &etcdraft__config_metadata__descriptor, ct->metadata.data, ct->metadata.len,
            "/Channel/Orderer/ConsensusType: etcdraft metadata", err);
        if (md == NULL) {
            configtx__free(m);
            return err != NULL ? err->code : WEFT_EPARSE;
        }
        if (md->n_consenters > 0) {
            o->consenters = weft_calloc(md->n_consenters, sizeof(*o->consenters));
            if (o->consenters == NULL) {
                rc = ENOMEM_RET(err);
            }
        }
        for (size_t i = 0; rc == 0 && i < md->n_consenters; i++) {
            const Etcdraft__Consenter *c = md->consenters[i];
            struct weft_configtx_consenter *d = &o->consenters[i];
            o->n_consenters++;
            d->host = weft_strdup(c->host);
            d->port = c->port;
            d->client_tls_cert = dup_nul(&c->client_tls_cert);
            d->client_tls_cert_len = c->client_tls_cert.len;
            d->server_tls_cert = dup_nul(&c->server_tls_cert);
            d->server_tls_cert_len = c->server_tls_cert.len;
            if (d->host == NULL || d->client_tls_cert == NULL || d->server_tls_cert == NULL) {
                rc = ENOMEM_RET(err);
            }
        }
        if (rc == 0 && md->options != NULL) {
            o->election_tick = md->options->election_tick;
            o->heartbeat_tick = md->options->heartbeat_tick;
            o->max_inflight_blocks = md->options->max_inflight_blocks;
            o->snapshot_interval_size = md->options->snapshot_interval_size;
            o->tick_interval = weft_strdup(md->options->tick_interval);
            if (o->tick_interval == NULL) {
                rc = ENOMEM_RET(err);
            }
        }
        configtx__free(&md->base);
    }
    configtx__free(m);
    if (rc != 0) {
        return rc;
    }
    if (o->tick_interval == NULL && (o->tick_interval = weft_strdup("")) == NULL) {
        return ENOMEM_RET(err);
    }
    rc = value_msg(g, path, "BatchSize", &orderer__batch_size__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m == NULL) {
        return weft_err_set(err, WEFT_ECONFIG, "%s: no BatchSize value", path);
    }
    Orderer__BatchSize *bs = (Orderer__BatchSize *)m;
    o->max_message_count = bs->max_message_count;
    o->absolute_max_bytes = bs->absolute_max_bytes;
    o->preferred_max_bytes = bs->preferred_max_bytes;
    configtx__free(m);
    if (o->max_message_count == 0 || o->absolute_max_bytes == 0 ||
        o->preferred_max_bytes > o->absolute_max_bytes) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "%s/BatchSize: invalid (max_message_count %u, absolute_max_bytes %u, "
                            "preferred_max_bytes %u)",
                            path, o->max_message_count, o->absolute_max_bytes,
                            o->preferred_max_bytes);
    }
    rc = value_msg(g, path, "BatchTimeout", &orderer__batch_timeout__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m == NULL) {
        return weft_err_set(err, WEFT_ECONFIG, "%s: no BatchTimeout value", path);
    }
    Orderer__BatchTimeout *bt = (Orderer__BatchTimeout *)m;
    o->batch_timeout = weft_strdup(bt->timeout);
    configtx__free(m);
    if (o->batch_timeout == NULL) {
        return ENOMEM_RET(err);
    }
    if (weft_parse_duration(o->batch_timeout, &o->batch_timeout_ns) != 0 ||
        o->batch_timeout_ns <= 0) {
        return weft_err_set(err, WEFT_ECONFIG, "%s/BatchTimeout: invalid duration \"%s\"", path,
                            o->batch_timeout);
    }
    rc = value_msg(g, path, "ChannelRestrictions", &orderer__channel_restrictions__descriptor, &m,
                   err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        o->max_channels = ((Orderer__ChannelRestrictions *)m)->max_count;
        configtx__free(m);
    }
    rc = capabilities(g, path, &o->capabilities, err);
    if (rc != 0) {
        return rc;
    }
    return parse_orgs(cfg, g, path, now, &o->orgs, &o->n_orgs, err);
}

static int cmp_acl(const void *a, const void *b)
{
    return strcmp(((const struct weft_configtx_acl *)a)->resource,
                  ((const struct weft_configtx_acl *)b)->resource);
}

static int parse_application(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                             int64_t now, struct weft_err *err)
{
    static const char path[] = "/Channel/Application";
    struct weft_configtx_application *a = &cfg->application;
    int rc = capabilities(g, path, &a->capabilities, err);
    if (rc != 0) {
        return rc;
    }
    ProtobufCMessage *m = NULL;
    rc = value_msg(g, path, "ACLs", &protos__acls__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        Protos__ACLs *acls = (Protos__ACLs *)m;
        if (acls->n_acls > 0) {
            a->acls = weft_calloc(acls->n_acls, sizeof(*a->acls));
            if (a->acls == NULL) {
                rc = ENOMEM_RET(err);
            }
        }
        for (size_t i = 0; rc == 0 && i < acls->n_acls; i++) {
            a->n_acls++;
            a->acls[i].resource = weft_strdup(acls->acls[i]->key);
            a->acls[i].policy_ref = weft_strdup(
                acls->acls[i]->value != NULL ? acls->acls[i]->value->policy_ref : "");
            if (a->acls[i].resource == NULL || a->acls[i].policy_ref == NULL) {
                rc = ENOMEM_RET(err);
            }
        }
        configtx__free(m);
        if (rc != 0) {
            return rc;
        }
        if (a->n_acls > 1) {
            qsort(a->acls, a->n_acls, sizeof(*a->acls), cmp_acl);
        }
    }
    return parse_orgs(cfg, g, path, now, &a->orgs, &a->n_orgs, err);
}

static int parse_channel(struct weft_channel_config *cfg, const Common__ConfigGroup *g,
                         int64_t now, struct weft_err *err)
{
    static const char path[] = "/Channel";
    ProtobufCMessage *m = NULL;
    int rc = value_msg(g, path, "HashingAlgorithm", &common__hashing_algorithm__descriptor, &m,
                       err);
    if (rc != 0) {
        return rc;
    }
    cfg->hashing_algorithm =
        weft_strdup(m != NULL ? ((Common__HashingAlgorithm *)m)->name : "");
    configtx__free(m);
    if (cfg->hashing_algorithm == NULL) {
        return ENOMEM_RET(err);
    }
    if (strcmp(cfg->hashing_algorithm, "SHA256") != 0) {
        return weft_err_set(err, WEFT_ECONFIG, "%s/HashingAlgorithm: unsupported \"%s\"", path,
                            cfg->hashing_algorithm);
    }
    rc = value_msg(g, path, "BlockDataHashingStructure",
                   &common__block_data_hashing_structure__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    cfg->block_data_hashing_width =
        m != NULL ? ((Common__BlockDataHashingStructure *)m)->width : 0;
    configtx__free(m);
    if (cfg->block_data_hashing_width != UINT32_MAX) {
        return weft_err_set(err, WEFT_ECONFIG,
                            "%s/BlockDataHashingStructure: width %u is not supported", path,
                            cfg->block_data_hashing_width);
    }
    rc = value_msg(g, path, "OrdererAddresses", &common__orderer_addresses__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        Common__OrdererAddresses *a = (Common__OrdererAddresses *)m;
        for (size_t i = 0; i < a->n_addresses && rc == 0; i++) {
            rc = strv_push(&cfg->orderer_addresses, a->addresses[i]);
        }
        configtx__free(m);
        if (rc != 0) {
            return ENOMEM_RET(err);
        }
    }
    rc = value_msg(g, path, "Consortium", &common__consortium__descriptor, &m, err);
    if (rc != 0) {
        return rc;
    }
    if (m != NULL) {
        cfg->consortium = weft_strdup(((Common__Consortium *)m)->name);
        configtx__free(m);
        if (cfg->consortium == NULL) {
            return ENOMEM_RET(err);
        }
    }
    rc = capabilities(g, path, &cfg->capabilities, err);
    if (rc != 0) {
        return rc;
    }
    const Common__ConfigGroup *og = group_child(g, "Orderer");
    if (og != NULL) {
        cfg->has_orderer = true;
        rc = parse_orderer(cfg, og, now, err);
        if (rc != 0) {
            return rc;
        }
    }
    const Common__ConfigGroup *ag = group_child(g, "Application");
    if (ag != NULL) {
        cfg->has_application = true;
        rc = parse_application(cfg, ag, now, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int weft_channel_config_from_envelope(const uint8_t *env, size_t len, const char *channel_id,
                                      int64_t now_unix, struct weft_channel_config **out,
                                      struct weft_err *err)
{
    if (env == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "channel config: missing argument");
    }
    int rc;
    struct weft_channel_config *cfg = NULL;
    Common__ConfigEnvelope *ce = (Common__ConfigEnvelope *)configtx__unpack(
        &common__config_envelope__descriptor, env, len, "config envelope", err);
    if (ce == NULL) {
        return err != NULL ? err->code : WEFT_EPARSE;
    }
    if (ce->config == NULL || ce->config->channel_group == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "config envelope: no config or no channel group");
        goto out;
    }
    cfg = weft_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        rc = ENOMEM_RET(err);
        goto out;
    }
    cfg->sequence = ce->config->sequence;
    cfg->channel_id = weft_strdup(channel_id != NULL ? channel_id : "");
    cfg->msp_mgr = weft_msp_mgr_new(0);
    if (cfg->channel_id == NULL || cfg->msp_mgr == NULL) {
        rc = ENOMEM_RET(err);
        goto out;
    }
    cfg->policy_mgr = weft_policy_mgr_new(cfg->msp_mgr, NULL, NULL);
    if (cfg->policy_mgr == NULL) {
        rc = ENOMEM_RET(err);
        goto out;
    }
    rc = configtx__pack(&ce->config->base, &cfg->_config, &cfg->_config_len, err);
    if (rc != 0) {
        goto out;
    }
    rc = parse_channel(cfg, ce->config->channel_group, now_unix, err);
    if (rc != 0) {
        goto out;
    }
    rc = walk_policies(cfg, ce->config->channel_group, "/Channel", 0, err);
    if (rc != 0) {
        goto out;
    }
    if (cfg->policy_paths.n > 1) {
        qsort(cfg->policy_paths.v, cfg->policy_paths.n, sizeof(char *), cmp_str);
    }
    *out = cfg;
    cfg = NULL;
out:
    if (rc != 0 && err != NULL && channel_id != NULL && rc != WEFT_ENOMEM) {
        weft_err_prefix(err, "channel %s", channel_id);
    }
    weft_channel_config_free(cfg);
    configtx__free(&ce->base);
    return rc;
}

int weft_channel_config_from_block(const uint8_t *block, size_t len, int64_t now_unix,
                                   struct weft_channel_config **out, struct weft_err *err)
{
    uint8_t *env = NULL;
    size_t env_len = 0;
    char *cid = NULL;
    int rc = weft_configtx_block_config(block, len, &env, &env_len, &cid, err);
    if (rc != 0) {
        return rc;
    }
    rc = weft_channel_config_from_envelope(env, env_len, cid, now_unix, out, err);
    weft_free(env);
    weft_free(cid);
    return rc;
}

bool weft_channel_config_has_capability(const struct weft_channel_config *cfg, const char *which,
                                        const char *name)
{
    const struct weft_configtx_strv *s = NULL;
    if (cfg == NULL || which == NULL || name == NULL) {
        return false;
    }
    if (strcmp(which, "Channel") == 0) {
        s = &cfg->capabilities;
    } else if (strcmp(which, "Orderer") == 0) {
        s = &cfg->orderer.capabilities;
    } else if (strcmp(which, "Application") == 0) {
        s = &cfg->application.capabilities;
    } else {
        return false;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], name) == 0) {
            return true;
        }
    }
    return false;
}

const struct weft_configtx_org *weft_channel_config_org(const struct weft_channel_config *cfg,
                                                        const char *mspid)
{
    if (cfg == NULL || mspid == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < cfg->orderer.n_orgs; i++) {
        if (cfg->orderer.orgs[i].mspid != NULL && strcmp(cfg->orderer.orgs[i].mspid, mspid) == 0) {
            return &cfg->orderer.orgs[i];
        }
    }
    for (size_t i = 0; i < cfg->application.n_orgs; i++) {
        if (cfg->application.orgs[i].mspid != NULL &&
            strcmp(cfg->application.orgs[i].mspid, mspid) == 0) {
            return &cfg->application.orgs[i];
        }
    }
    return NULL;
}
