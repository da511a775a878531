/*
 * Error codes and contextual error messages (STYLE.md R13-R15).
 * The code table is the WEFT_ERRORS X-macro in include/weft/base.h.
 */
#include <stdio.h>
#include <string.h>

#include "weft/base.h"

const char *weft_strerror(int code)
{
    switch (code) {
#define WEFT__ERR_CASE(name, value, msg)                                                           \
    case value:                                                                                    \
        return msg;
        WEFT_ERRORS(WEFT__ERR_CASE)
#undef WEFT__ERR_CASE
    case 0:
        return "success";
    default:
        break;
    }
    if (code < 0 && code > -1000) {
        return strerror(-code);
    }
    return "unknown error";
}

int weft_err_set(struct weft_err *err, int code, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

int weft_err_prefix(struct weft_err *err, const char *fmt, ...)
{
    if (err == NULL) {
        return WEFT_EINVAL;
    }
    char prefix[WEFT_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    const char *rest = err->msg[0] != '\0' ? err->msg : weft_strerror(err->code);
    char joined[WEFT_ERR_MSG_LEN];
    size_t at = 0;
    /* Explicit truncation: the message keeps as much as fits. */
    const char *parts[3] = {prefix, ": ", rest};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (n > sizeof(joined) - 1 - at) {
            n = sizeof(joined) - 1 - at;
        }
        memcpy(joined + at, parts[i], n);
        at += n;
    }
    joined[at] = '\0';
    memcpy(err->msg, joined, at + 1);
    return err->code;
}

void weft_err_clear(struct weft_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
