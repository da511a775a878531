/*
 * Fabric composite keys: U+0000 objectType U+0000 attr1 U+0000 ... U+0000.
 * objectType and attributes must be valid UTF-8 (Go's rules: no overlong
 * forms, no surrogates, nothing above U+10FFFF) and must not contain U+0000
 * (the separator) or U+10FFFF (used as the end bound of partial key
 * queries). Splitting takes every U+0000-terminated component after the
 * leading U+0000; bytes after the last separator are ignored, as the shim
 * does. Parsing never trusts the input: it is a fuzz target.
 */
#include <string.h>

#include "state_int.h"

/* Returns the length of a valid UTF-8 sequence at p (max n bytes) and the
 * code point, or 0 when invalid. */
static size_t utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static int check_component(const char *s, size_t n, struct weft_err *err)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_next(p + i, n - i, &cp);
        if (l == 0)
            return weft_err_set(err, WEFT_EINVAL, "composite key: not a valid utf8 string");
        if (cp == 0 || cp == 0x10ffff)
            return weft_err_set(err, WEFT_EINVAL,
                                "composite key: input contains unicode %#x starting at position "
                                "%zu, which is not allowed", cp, i);
        i += l;
    }
    return 0;
}

int weft_ledger_ckey_create(const char *object_type, const char *const *attrs, size_t n_attrs,
                            char **out, size_t *out_len, struct weft_err *err)
{
    if (object_type == NULL || (n_attrs > 0 && attrs == NULL))
        return weft_err_set(err, WEFT_EINVAL, "composite key: missing object type");
    size_t total = 1 + strlen(object_type) + 1;
    int rc = check_component(object_type, strlen(object_type), err);
    for (size_t i = 0; i < n_attrs && rc == 0; i++) {
        if (attrs[i] == NULL)
            return weft_err_set(err, WEFT_EINVAL, "composite key: attribute %zu missing", i);
        rc = check_component(attrs[i], strlen(attrs[i]), err);
        total += strlen(attrs[i]) + 1;
    }
    if (rc != 0)
        return rc;
    char *k = weft_malloc(total + 1);
    if (k == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "composite key: out of memory");
    size_t pos = 0;
    k[pos++] = 0;
    size_t l = strlen(object_type);
    memcpy(k + pos, object_type, l);
    pos += l;
    k[pos++] = 0;
    for (size_t i = 0; i < n_attrs; i++) {
        l = strlen(attrs[i]);
        memcpy(k + pos, attrs[i], l);
        pos += l;
        k[pos++] = 0;
    }
    k[pos] = 0;
    *out = k;
    *out_len = pos;
    return 0;
}

void weft_ledger_ckey_free(char *object_type, char **attrs, size_t n_attrs)
{
    weft_free(object_type);
    if (attrs != NULL)
        for (size_t i = 0; i < n_attrs; i++)
            weft_free(attrs[i]);
    weft_free(attrs);
}

int weft_ledger_ckey_split(const char *key, size_t key_len, char **object_type, char ***attrs,
                           size_t *n_attrs, struct weft_err *err)
{
    *object_type = NULL;
    *attrs = NULL;
    *n_attrs = 0;
    if (key == NULL || key_len < 2 || key[0] != 0)
        return weft_err_set(err, WEFT_EINVAL, "composite key: not a composite key");
    /* count separators after the leading one */
    size_t ncomp = 0;
    for (size_t i = 1; i < key_len; i++)
        if (key[i] == 0)
            ncomp++;
    if (ncomp == 0)
        return weft_err_set(err, WEFT_EINVAL, "composite key: no object type");
    char **a = weft_calloc(ncomp, sizeof(*a));
    char *ot = NULL;
    if (a == NULL)
        return weft_err_set(err, WEFT_ENOMEM, "composite key: out of memory");
    size_t start = 1, c = 0;
    for (size_t i = 1; i < key_len; i++) {
        if (key[i] != 0)
            continue;
        char *comp = weft_strndup(key + start, i - start);
        if (comp == NULL) {
            weft_ledger_ckey_free(ot, a, c > 0 ? c - 1 : 0);
            return weft_err_set(err, WEFT_ENOMEM, "composite key: out of memory");
        }
        if (c == 0)
            ot = comp;
        else
            a[c - 1] = comp;
        c++;
        start = i + 1;
    }
    *object_type = ot;
    *attrs = a;
    *n_attrs = ncomp - 1;
    return 0;
}

int weft_ledger_ckey_range(const char *object_type, const char *const *attrs, size_t n_attrs,
                           char **start, size_t *start_len, char **end, size_t *end_len,
                           struct weft_err *err)
{
    char *s;
    size_t sl;
    int rc = weft_ledger_ckey_create(object_type, attrs, n_attrs, &s, &sl, err);
    if (rc != 0)
        return rc;
    char *e = weft_malloc(sl + 5);
    if (e == NULL) {
        weft_free(s);
        return weft_err_set(err, WEFT_ENOMEM, "composite key: out of memory");
    }
    memcpy(e, s, sl);
    memcpy(e + sl, "\xf4\x8f\xbf\xbf", 4); /* U+10FFFF */
    e[sl + 4] = 0;
    *start = s;
    *start_len = sl;
    *end = e;
    *end_len = sl + 4;
    return 0;
}

int weft_ledger_simple_key_check(const char *key, size_t key_len, struct weft_err *err)
{
    if (key_len > 0 && key[0] == 0)
        return weft_err_set(err, WEFT_EINVAL,
                            "first character of the key contains a null character which is not "
                            "allowed");
    return 0;
}
