/*
 * Configuration values: typed getters, validation against a key table,
 * `config dump` and the key listing used by --help and the docs.
 *
 * DESIGN
 * Every read goes through resolve(), which applies the precedence rules of
 * config.h (environment, then file, then table default) and returns the
 * value together with its origin, so that every error can say where the bad
 * text came from ("core.yaml:42", "env CORE_X", "default"). Typed parsing is
 * one function per type shared by the getters and weft_config_check(), so a
 * value that passes the check cannot fail later in a getter.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "weft/log.h"

WEFT_LOGGER(config_log, "config");

static const char *const type_names[] = {
    [WEFT_CONFIG_STRING] = "string",
    [WEFT_CONFIG_BOOL] = "bool",
    [WEFT_CONFIG_INT] = "int",
    [WEFT_CONFIG_UINT] = "uint",
    [WEFT_CONFIG_DURATION] = "duration",
    [WEFT_CONFIG_SIZE] = "size",
    [WEFT_CONFIG_STRING_LIST] = "string list",
    [WEFT_CONFIG_PATH] = "path",
    [WEFT_CONFIG_PATH_LIST] = "path list",
    [WEFT_CONFIG_TREE] = "tree",
};

const char *weft_config_type_name(enum weft_config_type type)
{
    if ((unsigned)type < WEFT_ARRAY_LEN(type_names)) {
        return type_names[type];
    }
    return "unknown";
}

const struct weft_config_key *weft_config_key_find(const struct weft_config_key *table, size_t n,
                                                   const char *path)
{
    for (size_t i = 0; table != NULL && i < n; i++) {
        if (strcasecmp(table[i].path, path) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

char *weft_config_key_env_name(const struct weft_config_key *key, const char *prefix)
{
    if (key->env != NULL) {
        return weft_strdup(key->env);
    }
    if ((key->flags & WEFT_CONFIG_F_ENV_ONLY) != 0) {
        return weft_strdup(key->path);
    }
    char *s = prefix ? weft_asprintf("%s_%s", prefix, key->path) : weft_strdup(key->path);
    for (char *p = s; p != NULL && *p != '\0'; p++) {
        *p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    }
    return s;
}

/* ---- resolving a key ------------------------------------------------------ */

/* A value and where it came from. Exactly one of node / text is set. */
struct val {
    const struct weft_config_node *node;
    const char *text;
    const char *env; /* variable name when from the environment */
    bool is_default;
};

static const struct weft_config_key *bound_key(const struct weft_config *cfg, const char *path)
{
    return weft_config_key_find(cfg->table, cfg->ntable, path);
}

static int resolve(const struct weft_config *cfg, const struct weft_config_key *k, const char *path,
                   struct val *v)
{
    memset(v, 0, sizeof(*v));
    const struct config__env *e = NULL;
    if (k != NULL && ((k->flags & WEFT_CONFIG_F_ENV_ONLY) != 0 || k->env != NULL)) {
        e = config__env_get(cfg, k->env ? k->env : k->path);
    }
    if (e == NULL && (k == NULL || (k->flags & WEFT_CONFIG_F_ENV_ONLY) == 0)) {
        const struct weft_config_node *nd = weft_config_lookup(cfg, path);
        if (nd != NULL && nd->kind != WEFT_CONFIG_NULL) {
            v->node = nd;
            v->env = nd->env;
            return 0;
        }
        if (k == NULL || k->env == NULL) {
            e = config__env_for_path(cfg, cfg->prefix, path);
        }
    }
    if (e != NULL) {
        v->text = e->value;
        v->env = e->name;
        return 0;
    }
    if (k != NULL && k->default_value != NULL) {
        v->text = k->default_value;
        v->is_default = true;
        return 0;
    }
    return WEFT_ENOTFOUND;
}

static void origin(const struct weft_config *cfg, const struct val *v, char *buf, size_t len)
{
    if (v->env != NULL) {
        snprintf(buf, len, "env %s", v->env);
    } else if (v->is_default) {
        snprintf(buf, len, "default");
    } else {
        snprintf(buf, len, "%s:%d", cfg->name, v->node ? v->node->line : 0);
    }
}

static int verr(const struct weft_config *cfg, const struct val *v, const char *path,
                struct weft_err *err, int code, const char *fmt, ...) WEFT_PRINTF(6, 7);

static int verr(const struct weft_config *cfg, const struct val *v, const char *path,
                struct weft_err *err, int code, const char *fmt, ...)
{
    if (err == NULL) {
        return code;
    }
    char where[WEFT_ERR_MSG_LEN];
    char what[WEFT_ERR_MSG_LEN];
    origin(cfg, v, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return weft_err_set(err, code, "%s: %s: %s", where, path, what);
}

static const char *kind_name(enum weft_config_kind k)
{
    switch (k) {
    case WEFT_CONFIG_MAP:
        return "a mapping";
    case WEFT_CONFIG_SEQ:
        return "a list";
    case WEFT_CONFIG_NULL:
        return "no value";
    default:
        return "a single value";
    }
}

static int val_scalar(const struct weft_config *cfg, const struct val *v, const char *path,
                      const char **out, struct weft_err *err)
{
    if (v->node == NULL) {
        *out = v->text;
        return 0;
    }
    if (v->node->kind != WEFT_CONFIG_SCALAR) {
        return verr(cfg, v, path, err, WEFT_ECONFIG, "expected a single value, found %s",
                    kind_name(v->node->kind));
    }
    *out = v->node->value;
    return 0;
}

/* ---- typed parsing -------------------------------------------------------- */

static int parse_bool_text(const char *s, bool *out)
{
    if (weft_parse_bool(s, out) == 0) {
        return 0;
    }
    /* YAML 1.1 spellings, which Fabric's YAML decoder also accepts. */
    if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0 || strcasecmp(s, "y") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0 || strcasecmp(s, "n") == 0) {
        *out = false;
        return 0;
    }
    return WEFT_EPARSE;
}

static void format_bound(enum weft_config_type type, int64_t v, char *buf, size_t len)
{
    if (type != WEFT_CONFIG_DURATION || v == 0) {
        snprintf(buf, len, "%lld", (long long)v);
        return;
    }
    static const struct {
        const char *unit;
        int64_t ns;
    } units[] = {{"h", 3600000000000LL}, {"m", 60000000000LL}, {"s", 1000000000LL},
                 {"ms", 1000000LL},      {"us", 1000LL},       {"ns", 1LL}};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(units); i++) {
        if (v % units[i].ns == 0) {
            snprintf(buf, len, "%lld%s", (long long)(v / units[i].ns), units[i].unit);
            return;
        }
    }
}

static bool bounded(const struct weft_config_key *k)
{
    return k != NULL && k->max > k->min;
}

static int range_err(const struct weft_config *cfg, const struct val *v, const char *path,
                     const struct weft_config_key *k, const char *text, struct weft_err *err)
{
    char lo[32], hi[32];
    format_bound(k->type, k->min, lo, sizeof(lo));
    format_bound(k->type, k->max, hi, sizeof(hi));
    return verr(cfg, v, path, err, WEFT_ECONFIG, "%s is out of range [%s, %s]", text, lo, hi);
}

static int check_i64(const struct weft_config *cfg, const struct val *v, const char *path,
                     const struct weft_config_key *k, int64_t x, const char *text,
                     struct weft_err *err)
{
    if (bounded(k) && (x < k->min || x > k->max)) {
        return range_err(cfg, v, path, k, text, err);
    }
    return 0;
}

static int check_u64(const struct weft_config *cfg, const struct val *v, const char *path,
                     const struct weft_config_key *k, uint64_t x, const char *text,
                     struct weft_err *err)
{
    if (bounded(k) && (x > (uint64_t)INT64_MAX || (int64_t)x < k->min || (int64_t)x > k->max)) {
        return range_err(cfg, v, path, k, text, err);
    }
    return 0;
}

static int check_choice(const struct weft_config *cfg, const struct val *v, const char *path,
                        const struct weft_config_key *k, const char *s, struct weft_err *err)
{
    if (k == NULL || k->choices == NULL) {
        return 0;
    }
    char list[160] = "";
    size_t used = 0;
    for (const char *const *c = k->choices; *c != NULL; c++) {
        if (strcasecmp(*c, s) == 0) {
            return 0;
        }
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *c);
        if (w > 0 && (size_t)w < sizeof(list) - used) {
            used += (size_t)w;
        }
    }
    return verr(cfg, v, path, err, WEFT_ECONFIG, "\"%s\" is not one of: %s", s, list);
}

static int get_string(const struct weft_config *cfg, const struct weft_config_key *k,
                      const char *path, const struct val *v, const char **out, struct weft_err *err)
{
    const char *s = NULL;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc == 0) {
        rc = check_choice(cfg, v, path, k, s, err);
    }
    if (rc == 0) {
        *out = s;
    }
    return rc;
}

static int get_bool(const struct weft_config *cfg, const char *path, const struct val *v, bool *out,
                    struct weft_err *err)
{
    const char *s = NULL;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc < 0) {
        return rc;
    }
    if (parse_bool_text(s, out) < 0) {
        return verr(cfg, v, path, err, WEFT_ECONFIG, "invalid bool \"%s\"", s);
    }
    return 0;
}

static int get_i64(const struct weft_config *cfg, const struct weft_config_key *k, const char *path,
                   const struct val *v, int64_t *out, struct weft_err *err)
{
    const char *s = NULL;
    int64_t x = 0;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc < 0) {
        return rc;
    }
    if (weft_parse_i64(s, &x) < 0) {
        return verr(cfg, v, path, err, WEFT_ECONFIG, "invalid integer \"%s\"", s);
    }
    if ((rc = check_i64(cfg, v, path, k, x, s, err)) == 0) {
        *out = x;
    }
    return rc;
}

static int get_u64(const struct weft_config *cfg, const struct weft_config_key *k, const char *path,
                   const struct val *v, uint64_t *out, struct weft_err *err)
{
    const char *s = NULL;
    uint64_t x = 0;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc < 0) {
        return rc;
    }
    if (weft_parse_u64(s, &x) < 0) {
        return verr(cfg, v, path, err, WEFT_ECONFIG, "invalid unsigned integer \"%s\"", s);
    }
    if ((rc = check_u64(cfg, v, path, k, x, s, err)) == 0) {
        *out = x;
    }
    return rc;
}

static int get_duration(const struct weft_config *cfg, const struct weft_config_key *k,
                        const char *path, const struct val *v, int64_t *out, struct weft_err *err)
{
    const char *s = NULL;
    int64_t x = 0;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc < 0) {
        return rc;
    }
    if (weft_parse_duration(s, &x) < 0) {
        return verr(cfg, v, path, err, WEFT_ECONFIG,
                    "invalid duration \"%s\" (use Go syntax such as 30s, 5m, 1h30m, 500ms)", s);
    }
    if ((rc = check_i64(cfg, v, path, k, x, s, err)) == 0) {
        *out = x;
    }
    return rc;
}

static int get_size(const struct weft_config *cfg, const struct weft_config_key *k,
                    const char *path, const struct val *v, uint64_t *out, struct weft_err *err)
{
    const char *s = NULL;
    uint64_t x = 0;
    int rc = val_scalar(cfg, v, path, &s, err);
    if (rc < 0) {
        return rc;
    }
    if (weft_parse_size(s, &x) < 0) {
        return verr(cfg, v, path, err, WEFT_ECONFIG,
                    "invalid size \"%s\" (use bytes or a unit: 512 KB, 10 MB, 1 GB)", s);
    }
    if ((rc = check_u64(cfg, v, path, k, x, s, err)) == 0) {
        *out = x;
    }
    return rc;
}

static char *join_path(const struct weft_config *cfg, const char *p)
{
    if (p[0] == '\0' || p[0] == '/') {
        return weft_strdup(p);
    }
    while (p[0] == '.' && p[1] == '/') {
        p += 2;
    }
    if (strcmp(cfg->dir, "/") == 0) {
        return weft_asprintf("/%s", p);
    }
    return weft_asprintf("%s/%s", cfg->dir, p);
}

static int get_path(const struct weft_config *cfg, const struct weft_config_key *k,
                    const char *path, const struct val *v, char **out, struct weft_err *err)
{
    const char *s = NULL;
    int rc = get_string(cfg, k, path, v, &s, err);
    if (rc < 0) {
        return rc;
    }
    char *p = join_path(cfg, s);
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", path);
    }
    *out = p;
    return 0;
}

void weft_config_strlist_free(char **list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        weft_free(list[i]);
    }
    weft_free(list);
}

/* Adds one item (len bytes of s) to a NULL-terminated list being built. */
static int list_push(char ***list, size_t *n, const char *s, size_t len, bool resolve,
                     const struct weft_config *cfg)
{
    char **grown = weft_realloc(*list, (*n + 2) * sizeof(char *));
    if (grown == NULL) {
        return WEFT_ENOMEM;
    }
    *list = grown;
    grown[*n] = NULL; /* keep the list freeable if the copy below fails */
    char *item = weft_strndup(s, len);
    if (item != NULL && resolve) {
        char *joined = join_path(cfg, item);
        weft_free(item);
        item = joined;
    }
    if (item == NULL) {
        return WEFT_ENOMEM;
    }
    grown[(*n)++] = item;
    grown[*n] = NULL;
    return 0;
}

/* "a b c" (viper's whitespace split) or "[a, b, c]" (Fabric's bracket form). */
static int split_list(const struct weft_config *cfg, const char *s, bool resolve, char ***list,
                      size_t *n)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    bool bracket = len >= 2 && s[0] == '[' && s[len - 1] == ']';
    const char *end = bracket ? s + len - 1 : s + len;
    const char *p = bracket ? s + 1 : s;
    while (p < end) {
        const char *q = p;
        if (bracket) {
            while (q < end && *q != ',') {
                q++;
            }
        } else {
            while (q < end && !isspace((unsigned char)*q)) {
                q++;
            }
        }
        const char *a = p, *b = q;
        while (a < b && isspace((unsigned char)*a)) {
            a++;
        }
        while (b > a && isspace((unsigned char)b[-1])) {
            b--;
        }
        if (b > a) {
            int rc = list_push(list, n, a, (size_t)(b - a), resolve, cfg);
            if (rc < 0) {
                return rc;
            }
        }
        p = q + 1;
    }
    return 0;
}

static int get_strlist(const struct weft_config *cfg, const char *path, const struct val *v,
                       bool resolve, char ***out, size_t *out_n, struct weft_err *err)
{
    char **list = NULL;
    size_t n = 0;
    int rc = 0;
    if (v->node != NULL && v->node->kind == WEFT_CONFIG_SEQ) {
        for (size_t i = 0; i < v->node->n && rc == 0; i++) {
            const struct weft_config_node *it = v->node->items[i];
            if (it->kind == WEFT_CONFIG_NULL) {
                continue;
            }
            if (it->kind != WEFT_CONFIG_SCALAR) {
                struct val iv = {.node = it};
                char ipath[WEFT_ERR_MSG_LEN];
                snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
                rc = verr(cfg, &iv, ipath, err, WEFT_ECONFIG, "expected a single value, found %s",
                          kind_name(it->kind));
            } else {
                rc = list_push(&list, &n, it->value, strlen(it->value), resolve, cfg);
            }
        }
    } else {
        const char *s = NULL;
        rc = val_scalar(cfg, v, path, &s, err);
        if (rc == 0) {
            rc = split_list(cfg, s, resolve, &list, &n);
        }
    }
    if (rc == 0 && list == NULL) {
        list = weft_calloc(1, sizeof(char *));
        rc = list == NULL ? WEFT_ENOMEM : 0;
    }
    if (rc < 0) {
        weft_config_strlist_free(list);
        if (rc == WEFT_ENOMEM) {
            weft_err_set(err, rc, "%s: out of memory", path);
        }
        return rc;
    }
    *out = list;
    if (out_n != NULL) {
        *out_n = n;
    }
    return 0;
}

/* ---- public getters ------------------------------------------------------- */

static int lookup(const struct weft_config *cfg, const char *path, const struct weft_config_key **k,
                  struct val *v, struct weft_err *err)
{
    *k = bound_key(cfg, path);
    if (resolve(cfg, *k, path, v) < 0) {
        return weft_err_set(err, WEFT_ENOTFOUND, "%s: %s is not set", cfg->name, path);
    }
    return 0;
}

int weft_config_get_string(const struct weft_config *cfg, const char *path, const char **out,
                           struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_string(cfg, k, path, &v, out, err);
}

int weft_config_get_bool(const struct weft_config *cfg, const char *path, bool *out,
                         struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_bool(cfg, path, &v, out, err);
}

int weft_config_get_i64(const struct weft_config *cfg, const char *path, int64_t *out,
                        struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_i64(cfg, k, path, &v, out, err);
}

int weft_config_get_u64(const struct weft_config *cfg, const char *path, uint64_t *out,
                        struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_u64(cfg, k, path, &v, out, err);
}

int weft_config_get_duration(const struct weft_config *cfg, const char *path, int64_t *out_ns,
                             struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_duration(cfg, k, path, &v, out_ns, err);
}

int weft_config_get_size(const struct weft_config *cfg, const char *path, uint64_t *out,
                         struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_size(cfg, k, path, &v, out, err);
}

int weft_config_get_path(const struct weft_config *cfg, const char *path, char **out,
                         struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_path(cfg, k, path, &v, out, err);
}

int weft_config_get_strlist(const struct weft_config *cfg, const char *path, bool resolve_paths,
                            char ***out, size_t *n, struct weft_err *err)
{
    const struct weft_config_key *k;
    struct val v;
    int rc = lookup(cfg, path, &k, &v, err);
    return rc < 0 ? rc : get_strlist(cfg, path, &v, resolve_paths, out, n, err);
}

bool weft_config_is_set(const struct weft_config *cfg, const char *path)
{
    struct val v;
    return resolve(cfg, bound_key(cfg, path), path, &v) == 0 && !v.is_default;
}

/* ---- node getters --------------------------------------------------------- */

static int node_val(const struct weft_config *cfg, const struct weft_config_node *node,
                    struct val *v, char **path, struct weft_err *err)
{
    if (node == NULL || node->kind == WEFT_CONFIG_NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "%s: value not set", cfg->name);
    }
    *v = (struct val){.node = node, .env = node->env};
    *path = weft_config_node_path(node);
    if (*path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
    }
    return 0;
}

#define NODE_GETTER(fn, type, call)                                                                \
    int fn(const struct weft_config *cfg, const struct weft_config_node *node, type *out,          \
           struct weft_err *err)                                                                   \
    {                                                                                              \
        struct val v;                                                                              \
        char *path = NULL;                                                                         \
        int rc = node_val(cfg, node, &v, &path, err);                                              \
        if (rc == 0) {                                                                             \
            rc = call;                                                                             \
        }                                                                                          \
        weft_free(path);                                                                           \
        return rc;                                                                                 \
    }

NODE_GETTER(weft_config_node_string, const char *, get_string(cfg, NULL, path, &v, out, err))
NODE_GETTER(weft_config_node_bool, bool, get_bool(cfg, path, &v, out, err))
NODE_GETTER(weft_config_node_i64, int64_t, get_i64(cfg, NULL, path, &v, out, err))
NODE_GETTER(weft_config_node_duration, int64_t, get_duration(cfg, NULL, path, &v, out, err))
NODE_GETTER(weft_config_node_size, uint64_t, get_size(cfg, NULL, path, &v, out, err))

/* ---- check ---------------------------------------------------------------- */

static int check_key(const struct weft_config *cfg, const struct weft_config_key *k,
                     struct weft_err *err)
{
    struct val v;
    if (resolve(cfg, k, k->path, &v) < 0) {
        return 0; /* unset and no default: the daemon decides */
    }
    const char *s;
    bool b;
    int64_t i;
    uint64_t u;
    char *p = NULL;
    char **list = NULL;
    int rc = 0;
    switch (k->type) {
    case WEFT_CONFIG_STRING:
        rc = get_string(cfg, k, k->path, &v, &s, err);
        break;
    case WEFT_CONFIG_BOOL:
        rc = get_bool(cfg, k->path, &v, &b, err);
        break;
    case WEFT_CONFIG_INT:
        rc = get_i64(cfg, k, k->path, &v, &i, err);
        break;
    case WEFT_CONFIG_UINT:
        rc = get_u64(cfg, k, k->path, &v, &u, err);
        break;
    case WEFT_CONFIG_DURATION:
        rc = get_duration(cfg, k, k->path, &v, &i, err);
        break;
    case WEFT_CONFIG_SIZE:
        rc = get_size(cfg, k, k->path, &v, &u, err);
        break;
    case WEFT_CONFIG_PATH:
        rc = get_path(cfg, k, k->path, &v, &p, err);
        break;
    case WEFT_CONFIG_STRING_LIST:
    case WEFT_CONFIG_PATH_LIST:
        rc = get_strlist(cfg, k->path, &v, k->type == WEFT_CONFIG_PATH_LIST, &list, NULL, err);
        break;
    case WEFT_CONFIG_TREE:
        break;
    }
    weft_free(p);
    weft_config_strlist_free(list);
    return rc;
}

struct checker {
    const struct weft_config *cfg;
    weft_config_warn_cb warn;
    void *ctx;
};

static int warnf(struct checker *c, const char *fmt, ...) WEFT_PRINTF(2, 3);

static int warnf(struct checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->warn != NULL) {
        c->warn(c->ctx, msg);
    } else {
        WEFT_WARN(config_log, "%s", msg);
    }
    return 0;
}

/* True when some non-env-only key of the table lies below path. */
static bool is_parent_of_key(const struct weft_config *cfg, const char *path, size_t len)
{
    for (size_t i = 0; i < cfg->ntable; i++) {
        const struct weft_config_key *k = &cfg->table[i];
        if ((k->flags & WEFT_CONFIG_F_ENV_ONLY) == 0 && strncasecmp(k->path, path, len) == 0 &&
            k->path[len] == '.') {
            return true;
        }
    }
    return false;
}

static int walk(struct checker *c, const struct weft_config_node *map, struct weft_buf *path,
                struct weft_err *err)
{
    const struct weft_config *cfg = c->cfg;
    size_t mark = path->len;
    for (size_t i = 0; i < map->n; i++) {
        const struct weft_config_node *child = map->items[i];
        path->len = mark;
        int rc = mark == 0 ? weft_buf_append(path, child->key, strlen(child->key))
                           : weft_buf_appendf(path, ".%s", child->key);
        if (rc < 0) {
            return weft_err_set(err, rc, "check config: %s", weft_strerror(rc));
        }
        const char *p = (const char *)path->data;
        const struct weft_config_key *k = bound_key(cfg, p);
        if (k != NULL && (k->flags & WEFT_CONFIG_F_ENV_ONLY) != 0) {
            warnf(c, "%s:%d: %s is read from the environment only; the file entry is ignored",
                  cfg->name, child->line, p);
        } else if (k != NULL) {
            continue; /* type-checked by check_key */
        } else if (is_parent_of_key(cfg, p, path->len)) {
            if (child->kind == WEFT_CONFIG_MAP) {
                if ((rc = walk(c, child, path, err)) < 0) {
                    return rc;
                }
            } else if (child->kind != WEFT_CONFIG_NULL) {
                struct val v = {.node = child, .env = child->env};
                return verr(cfg, &v, p, err, WEFT_ECONFIG, "expected a mapping, found %s",
                            kind_name(child->kind));
            }
        } else {
            warnf(c, "%s:%d: unknown key %s (ignored)", cfg->name, child->line, p);
        }
    }
    path->len = mark;
    return 0;
}

static bool env_known(const struct weft_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntable; i++) {
        const struct weft_config_key *k = &cfg->table[i];
        if (k->env != NULL || (k->flags & WEFT_CONFIG_F_ENV_ONLY) != 0) {
            if (strcasecmp(name, k->env ? k->env : k->path) == 0) {
                return true;
            }
        } else if (config__env_name_matches(name, cfg->prefix, k->path)) {
            return true;
        }
    }
    return false;
}

int weft_config_check(struct weft_config *cfg, const struct weft_config_key *table, size_t n,
                      weft_config_warn_cb warn, void *warn_ctx, struct weft_err *err)
{
    cfg->table = table;
    cfg->ntable = n;
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(cfg, &table[i], err);
        if (rc < 0) {
            return rc;
        }
    }
    struct checker c = {.cfg = cfg, .warn = warn, .ctx = warn_ctx};
    struct weft_buf path;
    weft_buf_init(&path, 4096);
    int rc = walk(&c, cfg->root, &path, err);
    weft_buf_close(&path);
    if (rc < 0) {
        return rc;
    }
    size_t plen = cfg->prefix ? strlen(cfg->prefix) : 0;
    for (size_t i = 0; i < cfg->nenv && plen > 0; i++) {
        const char *name = cfg->env[i].name;
        bool ours = strncasecmp(name, cfg->prefix, plen) == 0 && name[plen] == '_';
        if (ours && !env_known(cfg, name)) {
            warnf(&c, "environment variable %s matches no known key (ignored)", name);
        }
    }
    return 0;
}

/* ---- dump ----------------------------------------------------------------- */

static int flow(struct weft_buf *b, const struct weft_config_node *nd)
{
    int rc = 0;
    switch (nd->kind) {
    case WEFT_CONFIG_NULL:
        return weft_buf_appendf(b, "null");
    case WEFT_CONFIG_SCALAR:
        return weft_buf_appendf(b, "%s", nd->value);
    case WEFT_CONFIG_MAP:
    case WEFT_CONFIG_SEQ:
        rc = weft_buf_appendf(b, "%s", nd->kind == WEFT_CONFIG_MAP ? "{" : "[");
        for (size_t i = 0; i < nd->n && rc == 0; i++) {
            rc = weft_buf_appendf(b, "%s", i ? ", " : "");
            if (rc == 0 && nd->kind == WEFT_CONFIG_MAP) {
                rc = weft_buf_appendf(b, "%s: ", nd->items[i]->key);
            }
            if (rc == 0) {
                rc = flow(b, nd->items[i]);
            }
        }
        return rc < 0 ? rc : weft_buf_appendf(b, "%s", nd->kind == WEFT_CONFIG_MAP ? "}" : "]");
    }
    return 0;
}

static int dump_value(const struct weft_config *cfg, const struct weft_config_key *k,
                      const struct val *v, struct weft_buf *b)
{
    int rc = 0;
    if ((k->flags & WEFT_CONFIG_F_SECRET) != 0) {
        return weft_buf_appendf(b, "<redacted>");
    }
    if (k->type == WEFT_CONFIG_PATH || k->type == WEFT_CONFIG_STRING_LIST ||
        k->type == WEFT_CONFIG_PATH_LIST) {
        if (k->type == WEFT_CONFIG_PATH) {
            char *p = NULL;
            if ((rc = get_path(cfg, k, k->path, v, &p, NULL)) == 0) {
                rc = weft_buf_appendf(b, "%s", p[0] ? p : "\"\"");
                weft_free(p);
                return rc;
            }
        } else {
            char **list = NULL;
            if ((rc = get_strlist(cfg, k->path, v, k->type == WEFT_CONFIG_PATH_LIST, &list, NULL,
                                  NULL)) == 0) {
                rc = weft_buf_appendf(b, "[");
                for (size_t i = 0; rc == 0 && list[i] != NULL; i++) {
                    rc = weft_buf_appendf(b, "%s%s", i ? ", " : "", list[i]);
                }
                weft_config_strlist_free(list);
                return rc < 0 ? rc : weft_buf_appendf(b, "]");
            }
        }
        if (rc == WEFT_ENOMEM) {
            return rc;
        }
        /* fall through to the raw text for a value that does not parse */
    }
    if (v->node != NULL) {
        return flow(b, v->node);
    }
    return weft_buf_appendf(b, "%s", v->text[0] ? v->text : "\"\"");
}

int weft_config_dump(const struct weft_config *cfg, const struct weft_config_key *table, size_t n,
                     FILE *out)
{
    struct weft_buf b;
    weft_buf_init(&b, 1024 * 1024);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct weft_config_key *k = &table[i];
        struct val v;
        weft_buf_reset(&b);
        rc = weft_buf_appendf(&b, "%s = ", k->path);
        if (rc == 0 && resolve(cfg, k, k->path, &v) < 0) {
            rc = weft_buf_appendf(&b, "(unset)\n");
        } else if (rc == 0 && (rc = dump_value(cfg, k, &v, &b)) == 0) {
            char where[WEFT_ERR_MSG_LEN];
            origin(cfg, &v, where, sizeof(where));
            rc = weft_buf_appendf(&b, "  # %s\n", where);
        }
        if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len) {
            rc = -(errno ? errno : EIO);
        }
    }
    weft_buf_close(&b);
    return rc;
}

/* ---- key listing ---------------------------------------------------------- */

static int describe(const struct weft_config_key *k, bool markdown, struct weft_buf *b)
{
    int rc = weft_buf_appendf(b, "%s", k->doc ? k->doc : "");
    if (rc == 0 && (k->flags & WEFT_CONFIG_F_ENV_ONLY) != 0) {
        rc = weft_buf_appendf(b, " Environment only.");
    }
    if (rc == 0 && k->choices != NULL) {
        rc = weft_buf_appendf(b, " One of:");
        for (const char *const *c = k->choices; rc == 0 && *c != NULL; c++) {
            rc =
                weft_buf_appendf(b, markdown ? "%s `%s`" : "%s %s", c == k->choices ? "" : ",", *c);
        }
        if (rc == 0) {
            rc = weft_buf_appendf(b, ".");
        }
    }
    if (rc == 0 && bounded(k)) {
        char lo[32], hi[32];
        format_bound(k->type, k->min, lo, sizeof(lo));
        format_bound(k->type, k->max, hi, sizeof(hi));
        rc = weft_buf_appendf(b, " Range %s to %s.", lo, hi);
    }
    if (rc == 0 && k->reloadable) {
        rc = weft_buf_appendf(b, " Reloadable.");
    }
    return rc;
}

int weft_config_keys_print(const struct weft_config_key *table, size_t n, const char *prefix,
                           bool markdown, FILE *out)
{
    struct weft_buf b;
    weft_buf_init(&b, 64 * 1024);
    int rc = 0;
    if (markdown) {
        rc = weft_buf_appendf(&b, "| Key | Type | Default | Environment | Meaning |\n"
                                  "|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct weft_config_key *k = &table[i];
        char *env = weft_config_key_env_name(k, prefix);
        if (env == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        const char *def = k->default_value;
        if (markdown) {
            rc = weft_buf_appendf(&b, "| `%s` | %s | ", k->path, weft_config_type_name(k->type));
            if (rc == 0) {
                rc = def == NULL   ? weft_buf_appendf(&b, "(none)")
                     : def[0] == 0 ? weft_buf_appendf(&b, "`\"\"`")
                                   : weft_buf_appendf(&b, "`%s`", def);
            }
            if (rc == 0) {
                rc = weft_buf_appendf(&b, " | `%s` | ", env);
            }
            if (rc == 0) {
                rc = describe(k, true, &b);
            }
            if (rc == 0) {
                rc = weft_buf_appendf(&b, " |\n");
            }
        } else {
            rc = weft_buf_appendf(&b, "  %s (%s, default %s, env %s)\n      ", k->path,
                                  weft_config_type_name(k->type),
                                  def == NULL   ? "none"
                                  : def[0] == 0 ? "\"\""
                                                : def,
                                  env);
            if (rc == 0) {
                rc = describe(k, false, &b);
            }
            if (rc == 0) {
                rc = weft_buf_appendf(&b, "\n");
            }
        }
        weft_free(env);
    }
    if (rc == 0 && b.len > 0 && fwrite(b.data, 1, b.len, out) != b.len) {
        rc = -(errno ? errno : EIO);
    }
    weft_buf_close(&b);
    return rc;
}
