/*
 * The one place that calls the C allocator (STYLE.md R26). A process-wide
 * countdown lets tests fail the n-th allocation (allocation torture, R19).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/base.h"

static _Atomic uint64_t fail_countdown; /* 0 = injection off */
static _Atomic uint64_t alloc_count;

static int should_fail(void)
{
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n == 0) {
        return 0;
    }
    /* Decrement; the call that brings it from 1 to 0 fails. Later calls pass. */
    while (n != 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1)) {
            return n == 1;
        }
    }
    return 0;
}

uint64_t weft_alloc_fail_after(uint64_t n)
{
    atomic_store(&fail_countdown, n);
    return atomic_exchange(&alloc_count, 0);
}

void *weft_malloc(size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(size == 0 ? 1 : size);
}

void *weft_calloc(size_t count, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return calloc(count == 0 ? 1 : count, size == 0 ? 1 : size);
}

void *weft_realloc(void *ptr, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(ptr, size == 0 ? 1 : size);
}

void weft_free(void *ptr)
{
    free(ptr);
}

void weft_free_secret(void *ptr, size_t size)
{
    if (ptr != NULL) {
        explicit_bzero(ptr, size);
        free(ptr);
    }
}

void *weft_memdup(const void *p, size_t n)
{
    void *q = weft_malloc(n);
    if (q != NULL && n > 0) {
        memcpy(q, p, n);
    }
    return q;
}

char *weft_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *q = weft_malloc(len + 1);
    if (q != NULL) {
        memcpy(q, s, len);
        q[len] = '\0';
    }
    return q;
}

char *weft_strdup(const char *s)
{
    return weft_strndup(s, strlen(s));
}

char *weft_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    char *s = weft_malloc((size_t)n + 1);
    if (s == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
