/*
 * Helpers private to the msp library: a protobuf-c allocator on weft_malloc,
 * PEM block scanning and Go-compatible PEM encoding (MSP configs carry PEM
 * bytes exactly as Fabric's configbuilder re-encodes them), a tiny YAML
 * tree over libyaml for config.yaml and crypto-config.yaml, and file reading.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "msp_internal.h"

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return weft_malloc(size ? size : 1);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    weft_free(ptr);
}

ProtobufCAllocator weft_msp__pb_alloc = {pb_alloc, pb_free, NULL};

/* ---- base64 --------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

static int b64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t *o = weft_malloc(len / 4 * 3 + 3);
    if (o == NULL) {
        return WEFT_ENOMEM;
    }
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (c == '=') {
            pad++;
            chars++;
            continue;
        }
        int v = b64_val(c);
        if (v < 0 || pad > 0) {
            weft_free(o);
            return WEFT_EPARSE;
        }
        chars++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (chars % 4 != 0 || pad > 2 || n == 0) {
        weft_free(o);
        return WEFT_EPARSE;
    }
    *out = o;
    *out_len = n;
    return 0;
}

int weft_msp__pem_next(const char *text, size_t len, size_t *pos, char *type, size_t cap,
                       uint8_t **der, size_t *der_len)
{
    static const char begin[] = "-----BEGIN ";
    size_t i = *pos;
    for (;;) {
        const char *b = NULL;
        for (size_t j = i; j + sizeof(begin) - 1 <= len; j++) {
            if (memcmp(text + j, begin, sizeof(begin) - 1) == 0) {
                b = text + j;
                break;
            }
        }
        if (b == NULL) {
            *pos = len;
            return 0;
        }
        size_t tstart = (size_t)(b - text) + sizeof(begin) - 1;
        size_t tend = tstart;
        while (tend + 5 <= len && memcmp(text + tend, "-----", 5) != 0 && text[tend] != '\n') {
            tend++;
        }
        if (tend + 5 > len || text[tend] == '\n' || tend - tstart >= cap) {
            i = tstart;
            continue;
        }
        memcpy(type, text + tstart, tend - tstart);
        type[tend - tstart] = '\0';
        size_t body = tend + 5;
        /* find "-----END <type>-----" */
        char endmark[96];
        int em = snprintf(endmark, sizeof(endmark), "-----END %s-----", type);
        if (em < 0 || (size_t)em >= sizeof(endmark)) {
            return WEFT_EPARSE;
        }
        size_t el = (size_t)em;
        size_t e = body;
        bool found = false;
        for (; e + el <= len; e++) {
            if (memcmp(text + e, endmark, el) == 0) {
                found = true;
                break;
            }
        }
        if (!found) {
            *pos = len;
            return 0; /* Go's pem.Decode: no block */
        }
        /* Headers (Proc-Type etc.) are not supported: encrypted blocks. */
        for (size_t k = body; k < e; k++) {
            if (text[k] == ':') {
                return WEFT_EPARSE;
            }
        }
        int rc = b64_decode(text + body, e - body, der, der_len);
        if (rc != 0) {
            return rc;
        }
        *pos = e + el;
        return 1;
    }
}

int weft_msp__pem_encode(struct weft_buf *buf, const char *type, const uint8_t *der, size_t der_len)
{
    int rc = weft_buf_appendf(buf, "-----BEGIN %s-----\n", type);
    char line[65];
    size_t col = 0;
    for (size_t i = 0; rc == 0 && i < der_len; i += 3) {
        uint32_t v = (uint32_t)der[i] << 16;
        size_t rem = der_len - i;
        if (rem > 1) {
            v |= (uint32_t)der[i + 1] << 8;
        }
        if (rem > 2) {
            v |= der[i + 2];
        }
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], rem > 1 ? b64[(v >> 6) & 63] : '=',
                     rem > 2 ? b64[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            line[col++] = q[k];
            if (col == 64) {
                line[col++] = '\n';
                rc = weft_buf_append(buf, line, col);
                col = 0;
            }
        }
    }
    if (rc == 0 && col > 0) {
        line[col++] = '\n';
        rc = weft_buf_append(buf, line, col);
    }
    if (rc == 0) {
        rc = weft_buf_appendf(buf, "-----END %s-----\n", type);
    }
    return rc;
}

/* ---- files ---------------------------------------------------------------- */

int weft_msp__read_file(const char *path, size_t cap, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -errno;
    }
    struct weft_buf b;
    weft_buf_init(&b, cap);
    int rc = 0;
    char chunk[4096];
    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0) {
            rc = weft_buf_append(&b, chunk, n);
            if (rc != 0) {
                break;
            }
        }
        if (n < sizeof(chunk)) {
            if (ferror(f)) {
                rc = WEFT_EIO;
            }
            break;
        }
    }
    fclose(f);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    if (b.data == NULL) {
        b.data = weft_calloc(1, 1);
        if (b.data == NULL) {
            return WEFT_ENOMEM;
        }
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

/* ---- YAML ----------------------------------------------------------------- */

void weft_msp__yaml_free(struct ymt *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->keys != NULL) {
            weft_free(t->keys[i]);
        }
        weft_msp__yaml_free(t->items[i]);
    }
    weft_free(t->keys);
    weft_free(t->items);
    weft_free(t->value);
    weft_free(t);
}

static int ymt_build(yaml_document_t *doc, yaml_node_t *node, int depth, struct ymt **out)
{
    if (node == NULL || depth > 32) {
        return WEFT_EPARSE;
    }
    struct ymt *t = weft_calloc(1, sizeof(*t));
    if (t == NULL) {
        return WEFT_ENOMEM;
    }
    t->line = (int)node->start_mark.line + 1;
    int rc = 0;
    if (node->type == YAML_SCALAR_NODE) {
        t->kind = YMT_SCALAR;
        t->value = weft_strndup((const char *)node->data.scalar.value, node->data.scalar.length);
        if (t->value == NULL) {
            rc = WEFT_ENOMEM;
        }
    } else if (node->type == YAML_SEQUENCE_NODE) {
        t->kind = YMT_SEQ;
        size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        t->items = weft_calloc(n ? n : 1, sizeof(*t->items));
        if (t->items == NULL) {
            rc = WEFT_ENOMEM;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            rc = ymt_build(doc, yaml_document_get_node(doc, node->data.sequence.items.start[i]),
                           depth + 1, &t->items[i]);
            if (rc == 0) {
                t->n++;
            }
        }
    } else if (node->type == YAML_MAPPING_NODE) {
        t->kind = YMT_MAP;
        size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
        t->items = weft_calloc(n ? n : 1, sizeof(*t->items));
        t->keys = weft_calloc(n ? n : 1, sizeof(*t->keys));
        if (t->items == NULL || t->keys == NULL) {
            rc = WEFT_ENOMEM;
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            yaml_node_pair_t *pr = &node->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                rc = WEFT_EPARSE;
                break;
            }
            char *key = weft_strndup((const char *)k->data.scalar.value, k->data.scalar.length);
            if (key == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            struct ymt *v = NULL;
            rc = ymt_build(doc, yaml_document_get_node(doc, pr->value), depth + 1, &v);
            if (rc != 0) {
                weft_free(key);
                break;
            }
            t->keys[t->n] = key;
            t->items[t->n] = v;
            t->n++;
        }
    } else {
        rc = WEFT_EPARSE;
    }
    if (rc != 0) {
        weft_msp__yaml_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int weft_msp__yaml_load(const char *text, size_t len, struct ymt **out, struct weft_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        return weft_err_set(err, WEFT_ENOMEM, "yaml: out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = weft_err_set(err, WEFT_EPARSE, "yaml line %zu: %s", parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc;
    if (root == NULL) {
        /* empty document: an empty map */
        struct ymt *t = weft_calloc(1, sizeof(*t));
        rc = t == NULL ? WEFT_ENOMEM : 0;
        if (t != NULL) {
            t->kind = YMT_MAP;
            *out = t;
        }
    } else {
        rc = ymt_build(&doc, root, 0, out);
        if (rc == WEFT_EPARSE) {
            weft_err_set(err, rc, "yaml: unsupported structure (non-scalar key or too deep)");
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

const struct ymt *weft_msp__yaml_get(const struct ymt *t, const char *key)
{
    if (t == NULL || t->kind != YMT_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->keys[i], key) == 0) {
            return t->items[i];
        }
    }
    return NULL;
}

const char *weft_msp__yaml_str(const struct ymt *t, const char *key)
{
    const struct ymt *v = weft_msp__yaml_get(t, key);
    if (v == NULL || v->kind != YMT_SCALAR) {
        return NULL;
    }
    return v->value;
}
