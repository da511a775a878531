/* Protobuf helpers: weft allocator, unpack/pack, canonical (sorted) config
 * maps, Go duration formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/configtx.pb-c.h"
#include "internal.h"

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return weft_malloc(size == 0 ? 1 : size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    weft_free(ptr);
}

ProtobufCAllocator configtx__pb_alloc = {pb_alloc, pb_free, NULL};

ProtobufCMessage *configtx__unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                   size_t len, const char *what, struct weft_err *err)
{
    if (len > WEFT_CONFIGTX_MAX_BLOCK) {
        weft_err_set(err, WEFT_ETOOBIG, "%s: %zu bytes is over the limit", what, len);
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &configtx__pb_alloc, len, data);
    if (m == NULL) {
        weft_err_set(err, WEFT_EPARSE, "%s: malformed %s", what, desc->name);
    }
    return m;
}

void configtx__free(ProtobufCMessage *msg)
{
    if (msg != NULL) {
        protobuf_c_message_free_unpacked(msg, &configtx__pb_alloc);
    }
}

int configtx__pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len,
                   struct weft_err *err)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = weft_malloc(n == 0 ? 1 : n);
    if (buf == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    size_t w = protobuf_c_message_pack(msg, buf);
    if (w != n) {
        weft_free(buf);
        return weft_err_set(err, WEFT_EINVAL, "protobuf pack size mismatch");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int cmp_group_entry(const void *a, const void *b)
{
    const Common__ConfigGroup__GroupsEntry *x = *(Common__ConfigGroup__GroupsEntry *const *)a;
    const Common__ConfigGroup__GroupsEntry *y = *(Common__ConfigGroup__GroupsEntry *const *)b;
    return strcmp(x->key, y->key);
}

static int cmp_value_entry(const void *a, const void *b)
{
    const Common__ConfigGroup__ValuesEntry *x = *(Common__ConfigGroup__ValuesEntry *const *)a;
    const Common__ConfigGroup__ValuesEntry *y = *(Common__ConfigGroup__ValuesEntry *const *)b;
    return strcmp(x->key, y->key);
}

static int cmp_policy_entry(const void *a, const void *b)
{
    const Common__ConfigGroup__PoliciesEntry *x = *(Common__ConfigGroup__PoliciesEntry *const *)a;
    const Common__ConfigGroup__PoliciesEntry *y = *(Common__ConfigGroup__PoliciesEntry *const *)b;
    return strcmp(x->key, y->key);
}

void configtx__sort_group(void *grp, int depth)
{
    Common__ConfigGroup *g = grp;
    if (g == NULL || depth > WEFT_CONFIGTX_MAX_DEPTH) {
        return;
    }
    if (g->n_groups > 1) {
        qsort(g->groups, g->n_groups, sizeof(*g->groups), cmp_group_entry);
    }
    if (g->n_values > 1) {
        qsort(g->values, g->n_values, sizeof(*g->values), cmp_value_entry);
    }
    if (g->n_policies > 1) {
        qsort(g->policies, g->n_policies, sizeof(*g->policies), cmp_policy_entry);
    }
    for (size_t i = 0; i < g->n_groups; i++) {
        configtx__sort_group(g->groups[i]->value, depth + 1);
    }
}

int weft_configtx_config_canonical(const uint8_t *config, size_t len, uint8_t **out,
                                   size_t *out_len, struct weft_err *err)
{
    if (config == NULL || out == NULL || out_len == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "canonical config: missing argument");
    }
    Common__Config *c = (Common__Config *)configtx__unpack(&common__config__descriptor, config,
                                                           len, "config", err);
    if (c == NULL) {
        return err != NULL ? err->code : WEFT_EPARSE;
    }
    configtx__sort_group(c->channel_group, 0);
    int rc = configtx__pack(&c->base, out, out_len, err);
    configtx__free(&c->base);
    return rc;
}

/* Go's time.Duration.String: "1h2m3.5s", "250ms", "1.5µs", "0s". */
static size_t fmt_frac(char *buf, size_t w, uint64_t v, int prec, uint64_t *out)
{
    /* Writes the fractional part of v / 10^prec backwards into buf[0..w),
     * omitting trailing zeros; returns the new write position. */
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print) {
            w--;
            buf[w] = (char)('0' + digit);
        }
        v /= 10;
    }
    if (print) {
        w--;
        buf[w] = '.';
    }
    *out = v;
    return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v)
{
    if (v == 0) {
        w--;
        buf[w] = '0';
        return w;
    }
    while (v > 0) {
        w--;
        buf[w] = (char)('0' + v % 10);
        v /= 10;
    }
    return w;
}

size_t weft_configtx_format_duration(int64_t ns, char *out, size_t cap)
{
    char buf[40];
    size_t w = sizeof(buf);
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    bool neg = ns < 0;
    if (u < 1000000000ULL) {
        int prec = 0;
        w--;
        buf[w] = 's';
        w--;
        if (u == 0) {
            buf[w] = '0';
            goto done;
        } else if (u < 1000ULL) {
            prec = 0;
            buf[w] = 'n';
        } else if (u < 1000000ULL) {
            prec = 3;
            /* U+00B5 MICRO SIGN, as Go writes it */
            buf[w] = (char)0xb5;
            w--;
            buf[w] = (char)0xc2;
        } else {
            prec = 6;
            buf[w] = 'm';
        }
        w = fmt_frac(buf, w, u, prec, &u);
        w = fmt_int(buf, w, u);
    } else {
        w--;
        buf[w] = 's';
        w = fmt_frac(buf, w, u, 9, &u);
        w = fmt_int(buf, w, u % 60);
        u /= 60;
        if (u > 0) {
            w--;
            buf[w] = 'm';
            w = fmt_int(buf, w, u % 60);
            u /= 60;
            if (u > 0) {
                w--;
                buf[w] = 'h';
                w = fmt_int(buf, w, u);
            }
        }
    }
    if (neg) {
        w--;
        buf[w] = '-';
    }
done:;
    size_t n = sizeof(buf) - w;
    if (cap == 0) {
        return n;
    }
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(out, buf + w, c);
    out[c] = '\0';
    return c;
}
