/*
 * `weft ledger`: offline tools over a channel's block store, like lmdb's
 * mdb_stat / mdb_dump.
 *   weft ledger verify PATH            hash chain, records and index
 *   weft ledger inspect PATH --block N one block as JSON
 * PATH is a channel folder (<fileSystemPath>/ledgersData/chains/<channel>).
 * Exit codes: 0 sound / printed, 1 a problem found or an error, 2 usage.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "common/common.pb-c.h"
#include "msp/identities.pb-c.h"
#include "weft/ledger.h"

static char *hexstr(const uint8_t *p, size_t n)
{
    char *s = weft_malloc(2 * n + 1);
    if (s == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    }
    s[2 * n] = '\0';
    return s;
}

static char *b64(const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = weft_malloc(4 * ((n + 2) / 3) + 1);
    if (s == NULL) {
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        s[o++] = tbl[(v >> 18) & 63];
        s[o++] = tbl[(v >> 12) & 63];
        s[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    s[o] = '\0';
    return s;
}

/* json_t string from owned C string (NULL-safe: JSON null). */
static json_t *jstr_take(char *s)
{
    json_t *j = s != NULL ? json_string(s) : json_null();
    weft_free(s);
    return j != NULL ? j : json_null();
}

static json_t *tx_json(const ProtobufCBinaryData *d, int code)
{
    json_t *t = json_object();
    json_object_set_new(t, "validation_code", code >= 0 ? json_integer(code) : json_null());
    Common__Envelope *env = common__envelope__unpack(NULL, d->len, d->data);
    if (env == NULL) {
        json_object_set_new(t, "raw", jstr_take(b64(d->data, d->len)));
        return t;
    }
    Common__Payload *pl = common__payload__unpack(NULL, env->payload.len, env->payload.data);
    if (pl != NULL && pl->header != NULL) {
        Common__ChannelHeader *ch = common__channel_header__unpack(
            NULL, pl->header->channel_header.len, pl->header->channel_header.data);
        if (ch != NULL) {
            json_t *c = json_object();
            json_object_set_new(c, "type", json_integer(ch->type));
            json_object_set_new(c, "channel_id", json_string(ch->channel_id ? ch->channel_id : ""));
            json_object_set_new(c, "tx_id", json_string(ch->tx_id ? ch->tx_id : ""));
            json_object_set_new(c, "epoch", json_integer((json_int_t)ch->epoch));
            if (ch->timestamp != NULL) {
                json_object_set_new(c, "timestamp_seconds",
                                    json_integer((json_int_t)ch->timestamp->seconds));
                json_object_set_new(c, "timestamp_nanos", json_integer(ch->timestamp->nanos));
            }
            json_object_set_new(t, "channel_header", c);
            common__channel_header__free_unpacked(ch, NULL);
        }
        Common__SignatureHeader *sh = common__signature_header__unpack(
            NULL, pl->header->signature_header.len, pl->header->signature_header.data);
        if (sh != NULL) {
            json_t *s = json_object();
            Msp__SerializedIdentity *id =
                msp__serialized_identity__unpack(NULL, sh->creator.len, sh->creator.data);
            if (id != NULL) {
                json_object_set_new(s, "creator_mspid", json_string(id->mspid ? id->mspid : ""));
                json_object_set_new(s, "creator_id_bytes",
                                    jstr_take(b64(id->id_bytes.data, id->id_bytes.len)));
                msp__serialized_identity__free_unpacked(id, NULL);
            } else {
                json_object_set_new(s, "creator", jstr_take(b64(sh->creator.data, sh->creator.len)));
            }
            json_object_set_new(s, "nonce", jstr_take(hexstr(sh->nonce.data, sh->nonce.len)));
            json_object_set_new(t, "signature_header", s);
            common__signature_header__free_unpacked(sh, NULL);
        }
        json_object_set_new(t, "data", jstr_take(b64(pl->data.data, pl->data.len)));
    } else {
        json_object_set_new(t, "payload", jstr_take(b64(env->payload.data, env->payload.len)));
    }
    json_object_set_new(t, "signature", jstr_take(b64(env->signature.data, env->signature.len)));
    if (pl != NULL) {
        common__payload__free_unpacked(pl, NULL);
    }
    common__envelope__free_unpacked(env, NULL);
    return t;
}

static json_t *block_json(const Common__Block *b)
{
    json_t *j = json_object();
    json_t *h = json_object();
    if (b->header != NULL) {
        json_object_set_new(h, "number", json_integer((json_int_t)b->header->number));
        json_object_set_new(h, "previous_hash", jstr_take(hexstr(b->header->previous_hash.data,
                                                                 b->header->previous_hash.len)));
        json_object_set_new(
            h, "data_hash", jstr_take(hexstr(b->header->data_hash.data, b->header->data_hash.len)));
        uint8_t hh[WEFT_LEDGER_HASH_LEN];
        if (weft_ledger_header_hash(b->header->number, b->header->previous_hash.data,
                                    b->header->previous_hash.len, b->header->data_hash.data,
                                    b->header->data_hash.len, hh) == 0) {
            json_object_set_new(j, "header_hash", jstr_take(hexstr(hh, sizeof(hh))));
        }
    }
    json_object_set_new(j, "header", h);
    const ProtobufCBinaryData *filter = NULL;
    size_t ntx = b->data != NULL ? b->data->n_data : 0;
    json_t *md = json_array();
    if (b->metadata != NULL) {
        for (size_t i = 0; i < b->metadata->n_metadata; i++) {
            const ProtobufCBinaryData *m = &b->metadata->metadata[i];
            if (i == COMMON__BLOCK_METADATA_INDEX__TRANSACTIONS_FILTER) {
                filter = m;
                json_t *codes = json_array();
                for (size_t k = 0; k < m->len; k++) {
                    json_array_append_new(codes, json_integer(m->data[k]));
                }
                json_array_append_new(md, codes);
            } else {
                json_array_append_new(md, jstr_take(b64(m->data, m->len)));
            }
        }
    }
    json_t *txs = json_array();
    for (size_t i = 0; i < ntx; i++) {
        int code = filter != NULL && filter->len == ntx ? filter->data[i] : -1;
        json_array_append_new(txs, tx_json(&b->data->data[i], code));
    }
    json_object_set_new(j, "data", txs);
    json_object_set_new(j, "metadata", md);
    return j;
}

static int usage(FILE *f)
{
    fprintf(f, "Usage:\n"
               "  weft ledger verify PATH\n"
               "  weft ledger inspect PATH --block N\n\n"
               "PATH is a channel folder: <peer.fileSystemPath>/ledgersData/chains/<channel>.\n"
               "verify checks every block record's checksum, the header hash chain, the data\n"
               "hashes and the LMDB index, and reports the first problem with its file and\n"
               "offset (exit 1). inspect prints one block as JSON.\n");
    return f == stdout ? 0 : 2;
}

static int ledger_verify(int argc, char **argv)
{
    if (argc != 2) {
        return usage(stderr);
    }
    struct weft_err err;
    weft_err_clear(&err);
    uint64_t height = 0;
    int rc = weft_ledger_verify_dir(argv[1], &height, &err);
    if (rc != 0) {
        fprintf(stderr, "verify %s: FAILED after %llu good blocks: %s\n", argv[1],
                (unsigned long long)height, err.msg);
        return 1;
    }
    printf("verify %s: OK, %llu blocks\n", argv[1], (unsigned long long)height);
    return 0;
}

static int ledger_inspect(int argc, char **argv)
{
    const char *path = NULL;
    const char *num = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--block") == 0 && i + 1 < argc && num == NULL) {
            num = argv[++i];
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            return usage(stderr);
        }
    }
    uint64_t n;
    if (path == NULL || num == NULL || weft_parse_u64(num, &n) != 0) {
        return usage(stderr);
    }
    struct weft_err err;
    weft_err_clear(&err);
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (weft_ledger_read_dir(path, n, &bytes, &len, &err) != 0) {
        fprintf(stderr, "inspect %s: %s\n", path, err.msg);
        return 1;
    }
    Common__Block *b = common__block__unpack(NULL, len, bytes);
    weft_free(bytes);
    if (b == NULL) {
        fprintf(stderr, "inspect %s: block %llu does not decode\n", path, (unsigned long long)n);
        return 1;
    }
    json_t *j = block_json(b);
    common__block__free_unpacked(b, NULL);
    int rc = json_dumpf(j, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 ? 0 : 1;
    printf("\n");
    json_decref(j);
    return rc;
}

int cmd_ledger(int argc, char **argv)
{
    static const struct cmd_entry sub[] = {
        {"verify", "check a channel's block files and index", ledger_verify},
        {"inspect", "print a block as JSON", ledger_inspect},
        {"replay", "validate and commit a channel's blocks, report codes and state",
         cmd_ledger_replay},
    };
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        return usage(stdout);
    }
    return cmd_dispatch("weft ledger", "weft ledger: offline block store tools", sub,
                        WEFT_ARRAY_LEN(sub), argc - 1, argv + 1);
}
