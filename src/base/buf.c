/*
 * Growable byte buffer with a hard cap (STYLE.md R24): every buffer fed by
 * untrusted input states its limit when it is initialised.
 */
#include <stdio.h>
#include <string.h>

#include "weft/base.h"

void weft_buf_init(struct weft_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void weft_buf_close(struct weft_buf *b)
{
    weft_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void weft_buf_reset(struct weft_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

int weft_buf_reserve(struct weft_buf *b, size_t extra)
{
    if (extra > b->limit || b->len > b->limit - extra) {
        return WEFT_ETOOBIG;
    }
    size_t need = b->len + extra + 1; /* room for the terminating NUL */
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap == 0 ? 64 : b->cap;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    uint8_t *d = weft_realloc(b->data, cap);
    if (d == NULL) {
        return WEFT_ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int weft_buf_append(struct weft_buf *b, const void *data, size_t len)
{
    int rc = weft_buf_reserve(b, len);
    if (rc != 0) {
        return rc;
    }
    if (len > 0) {
        memcpy(b->data + b->len, data, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int weft_buf_appendf(struct weft_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return WEFT_EINVAL;
    }
    int rc = weft_buf_reserve(b, (size_t)n);
    if (rc != 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

uint8_t *weft_buf_steal(struct weft_buf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}
