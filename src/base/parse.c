/*
 * Strict parsers for configuration values: integers, booleans, Go-style
 * durations ("1m30s", "500ms", "1.5h") and Fabric byte sizes ("10 MB").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "weft/base.h"

int weft_parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0' || isspace((unsigned char)*s)) {
        return WEFT_EPARSE;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return WEFT_EPARSE;
    }
    *out = (int64_t)v;
    return 0;
}

int weft_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)*s)) {
        return WEFT_EPARSE;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return WEFT_EPARSE;
    }
    *out = (uint64_t)v;
    return 0;
}

int weft_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return WEFT_EPARSE;
}

struct unit {
    const char *name;
    uint64_t ns;
};

/* Longest names first so "ms" wins over "m". */
static const struct unit duration_units[] = {
    {"ns", 1},           {"us", 1000},          {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000},
    {"ms", 1000000},     {"s", 1000000000ull},  {"m", 60000000000ull}, {"h", 3600000000000ull},
};

int weft_parse_duration(const char *s, int64_t *out_ns)
{
    if (s == NULL || *s == '\0') {
        return WEFT_EPARSE;
    }
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (strcmp(p, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    if (*p == '\0') {
        return WEFT_EPARSE;
    }
    double total = 0;
    while (*p != '\0') {
        const char *start = p;
        while (isdigit((unsigned char)*p) || *p == '.') {
            p++;
        }
        if (p == start) {
            return WEFT_EPARSE;
        }
        char num[64];
        size_t nlen = (size_t)(p - start);
        if (nlen >= sizeof(num)) {
            return WEFT_EPARSE;
        }
        memcpy(num, start, nlen);
        num[nlen] = '\0';
        char *end = NULL;
        double v = strtod(num, &end);
        if (*end != '\0') {
            return WEFT_EPARSE;
        }
        const struct unit *u = NULL;
        for (size_t i = 0; i < WEFT_ARRAY_LEN(duration_units); i++) {
            size_t ul = strlen(duration_units[i].name);
            if (strncmp(p, duration_units[i].name, ul) == 0 &&
                (u == NULL || ul > strlen(u->name))) {
                u = &duration_units[i];
            }
        }
        if (u == NULL) {
            return WEFT_EPARSE;
        }
        p += strlen(u->name);
        total += v * (double)u->ns;
        if (total > 9.2e18) {
            return WEFT_EPARSE;
        }
    }
    *out_ns = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

int weft_parse_size(const char *s, uint64_t *out_bytes)
{
    if (s == NULL) {
        return WEFT_EPARSE;
    }
    const char *p = s;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (!isdigit((unsigned char)*p)) {
        return WEFT_EPARSE;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0) {
        return WEFT_EPARSE;
    }
    p = end;
    while (isspace((unsigned char)*p)) {
        p++;
    }
    uint64_t mult = 1;
    switch (tolower((unsigned char)*p)) {
    case 'k':
        mult = 1024ull;
        p++;
        break;
    case 'm':
        mult = 1024ull * 1024;
        p++;
        break;
    case 'g':
        mult = 1024ull * 1024 * 1024;
        p++;
        break;
    default:
        break;
    }
    if (tolower((unsigned char)*p) == 'b') {
        p++;
    }
    while (isspace((unsigned char)*p)) {
        p++;
    }
    if (*p != '\0' || (v != 0 && mult > UINT64_MAX / v)) {
        return WEFT_EPARSE;
    }
    *out_bytes = (uint64_t)v * mult;
    return 0;
}
