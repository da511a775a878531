/* Protobuf -> JSON in the style of Fabric's protolator: proto field names,
 * defaults emitted, 64-bit integers as strings, enums by name, bytes in
 * base64 unless they hold a message this file knows how to find, in which
 * case the message is decoded in place. */
#include <jansson.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "internal.h"
#include "weft_proto_registry.h"

#define MAX_NEST 64

struct jctx {
    const char *key;     /* key of the map entry being printed (ConfigValue) */
    int32_t header_type; /* last ChannelHeader.type seen */
    int md_index;        /* BlockMetadata index, -1 elsewhere */
    int depth;
    const char *consensus; /* last ConsensusType.type */
};

static json_t *msg_json(const ProtobufCMessage *m, struct jctx *c);

static json_t *b64(const uint8_t *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = 4 * ((n + 2) / 3);
    char *s = weft_malloc(olen + 1);
    if (s == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)d[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= d[i + 2];
        }
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = '\0';
    json_t *j = json_stringn(s, o);
    weft_free(s);
    return j;
}

static const char *value_type(const char *key)
{
    static const char *const map[][2] = {
        {"HashingAlgorithm", "common.HashingAlgorithm"},
        {"BlockDataHashingStructure", "common.BlockDataHashingStructure"},
        {"OrdererAddresses", "common.OrdererAddresses"},
        {"Endpoints", "common.OrdererAddresses"},
        {"Consortium", "common.Consortium"},
        {"Capabilities", "common.Capabilities"},
        {"ConsensusType", "orderer.ConsensusType"},
        {"BatchSize", "orderer.BatchSize"},
        {"BatchTimeout", "orderer.BatchTimeout"},
        {"ChannelRestrictions", "orderer.ChannelRestrictions"},
        {"KafkaBrokers", "orderer.KafkaBrokers"},
        {"MSP", "msp.MSPConfig"},
        {"AnchorPeers", "protos.AnchorPeers"},
        {"ACLs", "protos.ACLs"},
        {"ChannelCreationPolicy", "common.Policy"},
    };
    for (size_t i = 0; key != NULL && i < WEFT_ARRAY_LEN(map); i++) {
        if (strcmp(map[i][0], key) == 0) {
            return map[i][1];
        }
    }
    return NULL;
}

static int32_t int_field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
        m->descriptor, name);
    if (f == NULL) {
        return -1;
    }
    return *(const int32_t *)((const char *)m + f->offset);
}

/* Which message a bytes field holds, or NULL for base64. */
static const char *bytes_type(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                              struct jctx *c)
{
    const char *mn = m->descriptor->name;
    const char *fn = f->name;
    static const char *const fixed[][3] = {
        {"common.Envelope", "payload", "common.Payload"},
        {"common.Header", "channel_header", "common.ChannelHeader"},
        {"common.Header", "signature_header", "common.SignatureHeader"},
        {"common.SignatureHeader", "creator", "msp.SerializedIdentity"},
        {"common.BlockData", "data", "common.Envelope"},
        {"common.MetadataSignature", "signature_header", "common.SignatureHeader"},
        {"common.ConfigUpdateEnvelope", "config_update", "common.ConfigUpdate"},
        {"common.ConfigSignature", "signature_header", "common.SignatureHeader"},
        {"protos.TransactionAction", "header", "common.SignatureHeader"},
        {"protos.TransactionAction", "payload", "protos.ChaincodeActionPayload"},
        {"protos.ChaincodeActionPayload", "chaincode_proposal_payload",
         "protos.ChaincodeProposalPayload"},
        {"protos.ChaincodeProposalPayload", "input", "protos.ChaincodeInvocationSpec"},
        {"protos.ChaincodeEndorsedAction", "proposal_response_payload",
         "protos.ProposalResponsePayload"},
        {"protos.ProposalResponsePayload", "extension", "protos.ChaincodeAction"},
        {"protos.ChaincodeAction", "results", "rwset.TxReadWriteSet"},
        {"protos.ChaincodeAction", "events", "protos.ChaincodeEvent"},
        {"rwset.NsReadWriteSet", "rwset", "kvrwset.KVRWSet"},
        {"protos.Endorsement", "endorser", "msp.SerializedIdentity"},
    };
    for (size_t i = 0; i < WEFT_ARRAY_LEN(fixed); i++) {
        if (strcmp(fixed[i][0], mn) == 0 && strcmp(fixed[i][1], fn) == 0) {
            return fixed[i][2];
        }
    }
    if (strcmp(mn, "common.Payload") == 0 && strcmp(fn, "data") == 0) {
        switch (c->header_type) {
        case 1:
            return "common.ConfigEnvelope";
        case 2:
            return "common.ConfigUpdateEnvelope";
        case 3:
            return "protos.Transaction";
        default:
            return NULL;
        }
    }
    if (strcmp(mn, "common.BlockMetadata") == 0) {
        return c->md_index == 2 ? NULL : "common.Metadata";
    }
    if (strcmp(mn, "common.Metadata") == 0 && strcmp(fn, "value") == 0) {
        return c->md_index == 0 ? "common.OrdererBlockMetadata"
               : c->md_index == 1 ? "common.LastConfig"
                                  : NULL;
    }
    if (strcmp(mn, "common.ConfigValue") == 0 && strcmp(fn, "value") == 0) {
        return value_type(c->key);
    }
    if (strcmp(mn, "common.Policy") == 0 && strcmp(fn, "value") == 0) {
        int32_t t = int_field(m, "type");
        return t == 1 ? "common.SignaturePolicyEnvelope"
               : t == 3 ? "common.ImplicitMetaPolicy"
                        : NULL;
    }
    if (strcmp(mn, "common.MSPPrincipal") == 0 && strcmp(fn, "principal") == 0) {
        int32_t t = int_field(m, "principal_classification");
        return t == 0 ? "common.MSPRole"
               : t == 1 ? "common.OrganizationUnit"
               : t == 2 ? "msp.SerializedIdentity"
                        : NULL;
    }
    if (strcmp(mn, "msp.MSPConfig") == 0 && strcmp(fn, "config") == 0) {
        return int_field(m, "type") == 0 ? "msp.FabricMSPConfig" : NULL;
    }
    if (strcmp(mn, "orderer.ConsensusType") == 0 && strcmp(fn, "metadata") == 0) {
        return c->consensus != NULL && strcmp(c->consensus, "etcdraft") == 0
                   ? "etcdraft.ConfigMetadata"
                   : NULL;
    }
    return NULL;
}

static json_t *bytes_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                          const ProtobufCBinaryData *bd, struct jctx *c)
{
    const char *tn = bytes_type(m, f, c);
    const ProtobufCMessageDescriptor *d = tn != NULL ? weft_proto_find_message(tn) : NULL;
    if (d != NULL && c->depth < MAX_NEST) {
        ProtobufCMessage *sub =
            protobuf_c_message_unpack(d, &configtx__pb_alloc, bd->len, bd->data);
        if (sub != NULL) {
            const char *save_key = c->key;
            int save_md = c->md_index;
            if (strcmp(tn, "common.Metadata") != 0) {
                c->md_index = -1;
            }
            c->depth++;
            json_t *j = msg_json(sub, c);
            c->depth--;
            c->key = save_key;
            c->md_index = save_md;
            configtx__free(sub);
            if (j != NULL) {
                return j;
            }
        }
    }
    return b64(bd->data, bd->len);
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->name);
    return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *scalar_json(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                           const void *p, struct jctx *c)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof(buf), "%lld", (long long)*(const int64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)*(const uint64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor,
                                                 v);
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_json(m, f, (const ProtobufCBinaryData *)p, c);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub == NULL) {
            return json_null();
        }
        c->depth++;
        json_t *j = c->depth < MAX_NEST ? msg_json(sub, c) : json_null();
        c->depth--;
        return j;
    }
    }
    return json_null();
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static json_t *msg_json(const ProtobufCMessage *m, struct jctx *c)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        json_t *v = NULL;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id) {
                continue;
            }
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
                   f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
            if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
                continue;
            }
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(const char *const *)(base + f->offset);
            bool is_map = f->type == PROTOBUF_C_TYPE_MESSAGE &&
                          is_map_entry((const ProtobufCMessageDescriptor *)f->descriptor);
            v = is_map ? json_object() : json_array();
            for (size_t k = 0; v != NULL && k < n; k++) {
                const void *ep = arr + k * elem_size(f);
                json_t *e;
                if (is_map) {
                    const ProtobufCMessage *ent = *(ProtobufCMessage *const *)ep;
                    const ProtobufCFieldDescriptor *kf = &ent->descriptor->fields[0];
                    const ProtobufCFieldDescriptor *vf = &ent->descriptor->fields[1];
                    const char *key = kf->type == PROTOBUF_C_TYPE_STRING
                                          ? *(char *const *)((const char *)ent + kf->offset)
                                          : NULL;
                    char kb[32];
                    if (key == NULL) {
                        snprintf(kb, sizeof(kb), "%lld",
                                 (long long)*(const int32_t *)((const char *)ent + kf->offset));
                        key = kb;
                    }
                    const char *save = c->key;
                    c->key = key;
                    e = scalar_json(ent, vf, (const char *)ent + vf->offset, c);
                    c->key = save;
                    if (e != NULL) {
                        json_object_set_new(v, key, e);
                    }
                } else {
                    if (strcmp(d->name, "common.BlockMetadata") == 0) {
                        c->md_index = (int)k;
                    }
                    e = scalar_json(m, f, ep, c);
                    if (strcmp(d->name, "common.BlockMetadata") == 0) {
                        c->md_index = -1;
                    }
                    if (e != NULL) {
                        json_array_append_new(v, e);
                    }
                }
                if (e == NULL) {
                    json_decref(v);
                    v = NULL;
                }
            }
        } else {
            v = scalar_json(m, f, base + f->offset, c);
            if (f->type == PROTOBUF_C_TYPE_STRING && strcmp(d->name, "orderer.ConsensusType") == 0 &&
                strcmp(f->name, "type") == 0) {
                c->consensus = *(char *const *)(base + f->offset);
            }
            if (strcmp(d->name, "common.ChannelHeader") == 0 && strcmp(f->name, "type") == 0) {
                c->header_type = *(const int32_t *)(base + f->offset);
            }
        }
        if (v == NULL || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static const char *const guesses[] = {"common.Block", "common.Envelope", "common.ConfigEnvelope",
                                      "common.Config"};

/* A guess is plausible when the decoded message re-encodes to the input and
 * its key parts are present. */
static bool plausible(const ProtobufCMessage *m, size_t len)
{
    if (protobuf_c_message_get_packed_size(m) != len) {
        return false;
    }
    const char *n = m->descriptor->name;
    if (strcmp(n, "common.Block") == 0) {
        return ((const Common__Block *)(const void *)m)->header != NULL;
    }
    return true;
}

int weft_configtx_to_json(const char *type, const uint8_t *data, size_t len, char **out,
                          struct weft_err *err)
{
    if (data == NULL || out == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "to json: missing argument");
    }
    ProtobufCMessage *m = NULL;
    if (type != NULL) {
        const ProtobufCMessageDescriptor *d = weft_proto_find_message(type);
        if (d == NULL) {
            return weft_err_set(err, WEFT_ENOTFOUND, "unknown message type %s", type);
        }
        m = configtx__unpack(d, data, len, "input", err);
        if (m == NULL) {
            return err != NULL ? err->code : WEFT_EPARSE;
        }
    } else {
        for (size_t i = 0; i < WEFT_ARRAY_LEN(guesses) && m == NULL; i++) {
            const ProtobufCMessageDescriptor *d = weft_proto_find_message(guesses[i]);
            m = d != NULL ? protobuf_c_message_unpack(d, &configtx__pb_alloc, len, data) : NULL;
            if (m != NULL && !plausible(m, len)) {
                configtx__free(m);
                m = NULL;
            }
        }
        if (m == NULL) {
            return weft_err_set(err, WEFT_EPARSE,
                                "input is not a block, envelope, config envelope or config");
        }
    }
    struct jctx c = {NULL, 0, -1, 0, NULL};
    json_t *j = msg_json(m, &c);
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
    size_t need = j != NULL ? json_dumpb(j, NULL, 0, flags) : 0;
    char *s = need > 0 ? weft_malloc(need + 1) : NULL;
    if (s != NULL) {
        size_t w = json_dumpb(j, s, need, flags);
        s[w <= need ? w : need] = '\0';
    }
    json_decref(j);
    configtx__free(m);
    if (s == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "to json: out of memory");
    }
    *out = s;
    return 0;
}
