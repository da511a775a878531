/*
 * Configuration files: discovery, YAML loading, environment snapshot, and
 * the read-only tree API (include/weft/config.h).
 *
 * DESIGN
 * libyaml's document loader gives us a node graph with marks (line numbers)
 * and resolves aliases by sharing nodes. We copy that graph into our own
 * tree of weft_config_node, allocated with weft_malloc so allocation-failure
 * tests cover it, and free the libyaml document at once. Copying expands
 * aliases, so the copy counts nodes and stops at CONFIG_MAX_NODES (the
 * "billion laughs" document) and at CONFIG_MAX_DEPTH (recursive aliases).
 * "<<" merge keys are applied during the copy: a merged entry is added only
 * when the mapping has no explicit key of that name, which is YAML's rule.
 *
 * The environment is read exactly once, here, into a snapshot inside the
 * config (STYLE.md R37): only <PREFIX>_* and FABRIC_* variables. Overrides of
 * leaves present in the file are applied to the tree right after loading,
 * so both the getters and the tree API see them; overrides of absent keys
 * are found by the getters (config_get.c) in the snapshot.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"

#define CONFIG_MAX_FILE (16u * 1024 * 1024)
#define CONFIG_MAX_NODES (1u << 20)
#define CONFIG_MAX_DEPTH 64

extern char **environ;

/* ---- nodes ---------------------------------------------------------------- */

static void node_free(struct weft_config_node *nd)
{
    if (nd == NULL) {
        return;
    }
    for (size_t i = 0; i < nd->n; i++) {
        node_free(nd->items[i]);
    }
    weft_free(nd->items);
    weft_free(nd->key);
    weft_free(nd->value);
    weft_free(nd);
}

static struct weft_config_node *node_new(struct weft_config *cfg, enum weft_config_kind kind,
                                         int line)
{
    struct weft_config_node *nd = weft_calloc(1, sizeof(*nd));
    if (nd != NULL) {
        nd->kind = kind;
        nd->line = line;
        nd->cfg = cfg;
    }
    return nd;
}

/* Appends child to a map or sequence; on failure child is not consumed. */
static int node_add(struct weft_config_node *parent, struct weft_config_node *child)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap == 0 ? 4 : parent->cap * 2;
        struct weft_config_node **items = weft_realloc(parent->items, cap * sizeof(*items));
        if (items == NULL) {
            return WEFT_ENOMEM;
        }
        parent->items = items;
        parent->cap = cap;
    }
    parent->items[parent->n++] = child;
    child->parent = parent;
    return 0;
}

static const struct weft_config_node *map_get(const struct weft_config_node *map, const char *key,
                                              size_t keylen)
{
    if (map == NULL || map->kind != WEFT_CONFIG_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->items[i]->key;
        if (strncasecmp(k, key, keylen) == 0 && k[keylen] == '\0') {
            return map->items[i];
        }
    }
    return NULL;
}

/* ---- YAML -> tree --------------------------------------------------------- */

struct builder {
    struct weft_config *cfg;
    yaml_document_t *doc;
    struct weft_err *err;
};

static int line_of(const yaml_node_t *yn)
{
    return yn->start_mark.line < (size_t)INT_MAX ? (int)yn->start_mark.line + 1 : INT_MAX;
}

static bool scalar_is_null(const yaml_node_t *yn)
{
    if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *v = (const char *)yn->data.scalar.value;
    return yn->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static int build(struct builder *b, yaml_node_t *yn, int depth, struct weft_config_node **out);

/* Moves the entries of a built merge source into map unless map has the key. */
static int merge_into(struct weft_config_node *map, struct weft_config_node *src)
{
    for (size_t i = 0; i < src->n; i++) {
        struct weft_config_node *e = src->items[i];
        if (e == NULL || map_get(map, e->key, strlen(e->key)) != NULL) {
            continue;
        }
        int rc = node_add(map, e);
        if (rc < 0) {
            return rc;
        }
        src->items[i] = NULL;
    }
    return 0;
}

static int build_map(struct builder *b, yaml_node_t *yn, int depth, struct weft_config_node *map)
{
    const char *name = b->cfg->name;
    /* Explicit keys first, merges after, so explicit keys always win. */
    for (int pass = 0; pass < 2; pass++) {
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = yaml_document_get_node(b->doc, p->key);
            yaml_node_t *vn = yaml_document_get_node(b->doc, p->value);
            if (kn == NULL || vn == NULL) {
                return weft_err_set(b->err, WEFT_EPARSE, "%s: malformed YAML document", name);
            }
            if (kn->type != YAML_SCALAR_NODE) {
                return weft_err_set(b->err, WEFT_ECONFIG, "%s:%d: mapping keys must be scalars",
                                    name, line_of(kn));
            }
            const char *key = (const char *)kn->data.scalar.value;
            bool merge = kn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(key, "<<") == 0;
            if (merge != (pass == 1)) {
                continue;
            }
            struct weft_config_node *child = NULL;
            int rc = build(b, vn, depth + 1, &child);
            if (rc < 0) {
                return rc;
            }
            if (!merge) {
                if (map_get(map, key, strlen(key)) != NULL) {
                    node_free(child);
                    return weft_err_set(b->err, WEFT_ECONFIG, "%s:%d: duplicate key \"%s\"", name,
                                        line_of(kn), key);
                }
                child->line = line_of(kn); /* messages point at the key */
                child->key = weft_strdup(key);
                if (child->key == NULL || (rc = node_add(map, child)) < 0) {
                    node_free(child);
                    return weft_err_set(b->err, WEFT_ENOMEM, "%s: out of memory", name);
                }
                continue;
            }
            /* "<<: *anchor" or "<<: [*a, *b]" (earlier sources win). */
            if (child->kind == WEFT_CONFIG_MAP) {
                rc = merge_into(map, child);
            } else if (child->kind == WEFT_CONFIG_SEQ) {
                for (size_t i = 0; i < child->n && rc == 0; i++) {
                    if (child->items[i]->kind != WEFT_CONFIG_MAP) {
                        rc = WEFT_ECONFIG;
                    } else {
                        rc = merge_into(map, child->items[i]);
                    }
                }
            } else {
                rc = WEFT_ECONFIG;
            }
            node_free(child);
            if (rc == WEFT_ECONFIG) {
                return weft_err_set(b->err, rc,
                                    "%s:%d: \"<<\" needs a mapping or a list of mappings", name,
                                    line_of(kn));
            }
            if (rc < 0) {
                return weft_err_set(b->err, rc, "%s: out of memory", name);
            }
        }
    }
    return 0;
}

static int build(struct builder *b, yaml_node_t *yn, int depth, struct weft_config_node **out)
{
    struct weft_config *cfg = b->cfg;
    if (depth > CONFIG_MAX_DEPTH) {
        return weft_err_set(b->err, WEFT_ECONFIG, "%s:%d: nesting deeper than %d levels", cfg->name,
                            line_of(yn), CONFIG_MAX_DEPTH);
    }
    if (++cfg->nodes > CONFIG_MAX_NODES) {
        return weft_err_set(b->err, WEFT_ETOOBIG, "%s: more than %u nodes (alias expansion?)",
                            cfg->name, CONFIG_MAX_NODES);
    }
    enum weft_config_kind kind = WEFT_CONFIG_SCALAR;
    if (yn->type == YAML_MAPPING_NODE) {
        kind = WEFT_CONFIG_MAP;
    } else if (yn->type == YAML_SEQUENCE_NODE) {
        kind = WEFT_CONFIG_SEQ;
    } else if (yn->type == YAML_SCALAR_NODE && scalar_is_null(yn)) {
        kind = WEFT_CONFIG_NULL;
    }
    struct weft_config_node *nd = node_new(cfg, kind, line_of(yn));
    if (nd == NULL) {
        return weft_err_set(b->err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
    }
    int rc = 0;
    if (kind == WEFT_CONFIG_SCALAR) {
        nd->value = weft_strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        if (nd->value == NULL) {
            rc = weft_err_set(b->err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
        }
    } else if (kind == WEFT_CONFIG_MAP) {
        rc = build_map(b, yn, depth, nd);
    } else if (kind == WEFT_CONFIG_SEQ) {
        for (yaml_node_item_t *it = yn->data.sequence.items.start;
             it < yn->data.sequence.items.top && rc == 0; it++) {
            yaml_node_t *in = yaml_document_get_node(b->doc, *it);
            struct weft_config_node *child = NULL;
            if (in == NULL) {
                rc = weft_err_set(b->err, WEFT_EPARSE, "%s: malformed YAML document", cfg->name);
            } else if ((rc = build(b, in, depth + 1, &child)) == 0 &&
                       (rc = node_add(nd, child)) < 0) {
                node_free(child);
                rc = weft_err_set(b->err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
            }
        }
    }
    if (rc < 0) {
        node_free(nd);
        return rc;
    }
    *out = nd;
    return 0;
}

static int parse_yaml(struct weft_config *cfg, const char *text, size_t len, struct weft_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        return weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            rc = weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
        } else if (parser.context != NULL) {
            rc = weft_err_set(err, WEFT_EPARSE, "%s:%zu: malformed YAML: %s (%s at line %zu)",
                              cfg->name, parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "syntax error", parser.context,
                              parser.context_mark.line + 1);
        } else {
            rc = weft_err_set(err, WEFT_EPARSE, "%s:%zu: malformed YAML: %s", cfg->name,
                              parser.problem_mark.line + 1,
                              parser.problem ? parser.problem : "syntax error");
        }
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    struct builder b = {.cfg = cfg, .doc = &doc, .err = err};
    if (root == NULL) {
        cfg->root = node_new(cfg, WEFT_CONFIG_MAP, 1); /* empty file */
        if (cfg->root == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
        }
    } else if (root->type == YAML_SCALAR_NODE && scalar_is_null(root)) {
        cfg->root = node_new(cfg, WEFT_CONFIG_MAP, line_of(root));
        if (cfg->root == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "%s: out of memory", cfg->name);
        }
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = weft_err_set(err, WEFT_ECONFIG, "%s:%d: the top level must be a mapping of keys",
                          cfg->name, line_of(root));
    } else {
        rc = build(&b, root, 0, &cfg->root);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- environment ---------------------------------------------------------- */

static bool has_prefix_ci(const char *s, const char *prefix, size_t plen)
{
    return strncasecmp(s, prefix, plen) == 0;
}

static int env_snapshot(struct weft_config *cfg, struct weft_err *err)
{
    size_t plen = cfg->prefix ? strlen(cfg->prefix) : 0;
    size_t count = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        count++;
    }
    cfg->env = weft_calloc(count == 0 ? 1 : count, sizeof(*cfg->env));
    if (cfg->env == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "environment: out of memory");
    }
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL) {
            continue;
        }
        bool ours = has_prefix_ci(*e, "FABRIC_", 7) ||
                    (plen > 0 && has_prefix_ci(*e, cfg->prefix, plen) && (*e)[plen] == '_');
        if (!ours || cfg->nenv == count) {
            continue;
        }
        struct config__env *v = &cfg->env[cfg->nenv];
        v->name = weft_strndup(*e, (size_t)(eq - *e));
        v->value = weft_strdup(eq + 1);
        cfg->nenv++;
        if (v->name == NULL || v->value == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "environment: out of memory");
        }
    }
    return 0;
}

bool config__env_name_matches(const char *name, const char *prefix, const char *path)
{
    if (prefix != NULL) {
        size_t plen = strlen(prefix);
        if (strncasecmp(name, prefix, plen) != 0 || name[plen] != '_') {
            return false;
        }
        name += plen + 1;
    }
    for (; *path != '\0'; path++, name++) {
        char want = *path == '.' ? '_' : *path;
        if (tolower((unsigned char)*name) != tolower((unsigned char)want)) {
            return false;
        }
    }
    return *name == '\0';
}

const struct config__env *config__env_get(const struct weft_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nenv; i++) {
        if (strcasecmp(cfg->env[i].name, name) == 0) {
            return &cfg->env[i];
        }
    }
    return NULL;
}

const struct config__env *config__env_for_path(const struct weft_config *cfg, const char *prefix,
                                               const char *path)
{
    if (prefix == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < cfg->nenv; i++) {
        if (config__env_name_matches(cfg->env[i].name, prefix, path)) {
            return &cfg->env[i];
        }
    }
    return NULL;
}

/* Replaces every leaf of the file (outside sequences) that has a variable. */
static int env_apply(struct weft_config *cfg, struct weft_config_node *map, struct weft_buf *path)
{
    size_t mark = path->len;
    for (size_t i = 0; i < map->n; i++) {
        struct weft_config_node *child = map->items[i];
        path->len = mark;
        int rc = mark == 0 ? weft_buf_append(path, child->key, strlen(child->key))
                           : weft_buf_appendf(path, ".%s", child->key);
        if (rc < 0) {
            return rc;
        }
        if (child->kind == WEFT_CONFIG_MAP) {
            rc = env_apply(cfg, child, path);
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        const struct config__env *v =
            config__env_for_path(cfg, cfg->prefix, (const char *)path->data);
        if (v == NULL) {
            continue;
        }
        char *value = weft_strdup(v->value);
        if (value == NULL) {
            return WEFT_ENOMEM;
        }
        for (size_t j = 0; j < child->n; j++) {
            node_free(child->items[j]);
        }
        weft_free(child->items);
        weft_free(child->value);
        child->items = NULL;
        child->n = child->cap = 0;
        child->value = value;
        child->kind = WEFT_CONFIG_SCALAR;
        child->line = 0;
        child->env = v->name;
    }
    path->len = mark;
    return 0;
}

/* ---- load ----------------------------------------------------------------- */

static int set_dir(struct weft_config *cfg, const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    char *dir = NULL;
    if (slash == NULL) {
        dir = weft_strdup(".");
    } else if (slash == file) {
        dir = weft_strdup("/");
    } else {
        dir = weft_strndup(file, (size_t)(slash - file));
    }
    if (dir == NULL) {
        return WEFT_ENOMEM;
    }
    if (dir[0] == '/') {
        cfg->dir = dir;
        return 0;
    }
    /* Make it absolute now: the daemon may change directory later. */
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        cfg->dir = dir;
        return 0;
    }
    const char *rel = dir;
    while (rel[0] == '.' && rel[1] == '/') {
        rel += 2;
    }
    if (strcmp(rel, ".") == 0 || rel[0] == '\0') {
        cfg->dir = weft_strdup(cwd);
    } else {
        cfg->dir = weft_asprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, rel);
    }
    weft_free(dir);
    return cfg->dir == NULL ? WEFT_ENOMEM : 0;
}

static int config_new(const char *file, const char *name, const char *env_prefix,
                      struct weft_config **out, struct weft_err *err)
{
    struct weft_config *cfg = weft_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "load config: out of memory");
    }
    int rc = 0;
    if ((file != NULL && (cfg->file = weft_strdup(file)) == NULL) ||
        (cfg->name = weft_strdup(name)) == NULL ||
        (env_prefix != NULL && (cfg->prefix = weft_strdup(env_prefix)) == NULL) ||
        set_dir(cfg, file) < 0) {
        rc = weft_err_set(err, WEFT_ENOMEM, "load config: out of memory");
        goto out;
    }
    rc = env_snapshot(cfg, err);
out:
    if (rc < 0) {
        weft_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

static int finish_load(struct weft_config *cfg, const char *text, size_t len, struct weft_err *err)
{
    int rc = 0;
    if (text == NULL) {
        cfg->root = node_new(cfg, WEFT_CONFIG_MAP, 0);
        if (cfg->root == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "load config: out of memory");
        }
    } else if ((rc = parse_yaml(cfg, text, len, err)) < 0) {
        return rc;
    }
    if (cfg->prefix != NULL) {
        struct weft_buf path;
        weft_buf_init(&path, 4096);
        rc = env_apply(cfg, cfg->root, &path);
        weft_buf_close(&path);
        if (rc < 0) {
            return weft_err_set(err, rc, "%s: applying environment overrides: %s", cfg->name,
                                weft_strerror(rc));
        }
    }
    return 0;
}

static int read_file(const char *path, char **out, size_t *out_len, struct weft_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return weft_err_set(err, -e, "open %s: %s", path, strerror(e));
    }
    struct weft_buf b;
    weft_buf_init(&b, CONFIG_MAX_FILE);
    int rc = 0;
    for (;;) {
        if ((rc = weft_buf_reserve(&b, 4096)) < 0) {
            rc = weft_err_set(err, rc, "read %s: %s", path,
                              rc == WEFT_ETOOBIG ? "file larger than 16 MiB" : weft_strerror(rc));
            break;
        }
        ssize_t got = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            int e = errno;
            rc = weft_err_set(err, -e, "read %s: %s", path, strerror(e));
            break;
        }
        if (got == 0) {
            break;
        }
        b.len += (size_t)got;
    }
    close(fd);
    if (rc < 0) {
        weft_buf_close(&b);
        return rc;
    }
    b.data[b.len] = '\0';
    *out = (char *)weft_buf_steal(&b, out_len);
    return 0;
}

int weft_config_load(const char *path, const char *env_prefix, struct weft_config **out,
                     struct weft_err *err)
{
    char *text = NULL;
    size_t len = 0;
    struct weft_config *cfg = NULL;
    int rc = 0;
    if (path != NULL && (rc = read_file(path, &text, &len, err)) < 0) {
        return rc;
    }
    if ((rc = config_new(path, path ? path : "<environment>", env_prefix, &cfg, err)) < 0) {
        goto out;
    }
    if ((rc = finish_load(cfg, text, len, err)) < 0) {
        goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    weft_free(text);
    weft_config_free(cfg);
    return rc;
}

int weft_config_load_string(const char *yaml, size_t len, const char *name, const char *env_prefix,
                            struct weft_config **out, struct weft_err *err)
{
    struct weft_config *cfg = NULL;
    int rc = config_new(name, name ? name : "<string>", env_prefix, &cfg, err);
    if (rc < 0) {
        return rc;
    }
    if ((rc = finish_load(cfg, yaml ? yaml : "", yaml ? len : 0, err)) < 0) {
        weft_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void weft_config_free(struct weft_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    node_free(cfg->root);
    for (size_t i = 0; i < cfg->nenv; i++) {
        weft_free(cfg->env[i].name);
        weft_free(cfg->env[i].value);
    }
    weft_free(cfg->env);
    weft_free(cfg->file);
    weft_free(cfg->name);
    weft_free(cfg->dir);
    weft_free(cfg->prefix);
    weft_free(cfg);
}

const char *weft_config_file(const struct weft_config *cfg)
{
    return cfg->file;
}

const char *weft_config_dir(const struct weft_config *cfg)
{
    return cfg->dir;
}

/* ---- discovery ------------------------------------------------------------ */

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

int weft_config_find(const char *explicit_path, const char *file_name, char **out_path,
                     struct weft_err *err)
{
    char *p = NULL;
    if (explicit_path != NULL) {
        p = is_dir(explicit_path) ? weft_asprintf("%s/%s", explicit_path, file_name)
                                  : weft_strdup(explicit_path);
        if (p == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "find config: out of memory");
        }
        if (!is_file(p)) {
            weft_err_set(err, WEFT_ENOTFOUND, "config file %s: %s", p, strerror(ENOENT));
            weft_free(p);
            return WEFT_ENOTFOUND;
        }
        *out_path = p;
        return 0;
    }
    const char *cfg_path = getenv("FABRIC_CFG_PATH");
    if (cfg_path != NULL && cfg_path[0] != '\0') {
        p = weft_asprintf("%s/%s", cfg_path, file_name);
        if (p == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "find config: out of memory");
        }
        if (!is_file(p)) {
            weft_err_set(err, WEFT_ENOTFOUND, "%s not found in FABRIC_CFG_PATH (%s)", file_name,
                         cfg_path);
            weft_free(p);
            return WEFT_ENOTFOUND;
        }
        *out_path = p;
        return 0;
    }
    static const char *const dirs[] = {".", "./config", "/etc/hyperledger/fabric"};
    for (size_t i = 0; i < WEFT_ARRAY_LEN(dirs); i++) {
        p = weft_asprintf("%s/%s", dirs[i], file_name);
        if (p == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "find config: out of memory");
        }
        if (is_file(p)) {
            *out_path = p;
            return 0;
        }
        weft_free(p);
    }
    return weft_err_set(err, WEFT_ENOTFOUND,
                        "%s not found in ., ./config or /etc/hyperledger/fabric "
                        "(use --config or set FABRIC_CFG_PATH)",
                        file_name);
}

/* ---- tree API ------------------------------------------------------------- */

const struct weft_config_node *weft_config_root(const struct weft_config *cfg)
{
    return cfg->root;
}

const struct weft_config_node *weft_config_lookup(const struct weft_config *cfg, const char *path)
{
    const struct weft_config_node *nd = cfg->root;
    const char *p = path;
    while (nd != NULL) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        nd = map_get(nd, p, len);
        if (dot == NULL) {
            return nd;
        }
        p = dot + 1;
    }
    return NULL;
}

enum weft_config_kind weft_config_node_kind(const struct weft_config_node *node)
{
    return node ? node->kind : WEFT_CONFIG_NULL;
}

size_t weft_config_node_len(const struct weft_config_node *node)
{
    return node && (node->kind == WEFT_CONFIG_MAP || node->kind == WEFT_CONFIG_SEQ) ? node->n : 0;
}

const struct weft_config_node *weft_config_node_at(const struct weft_config_node *node, size_t i)
{
    return i < weft_config_node_len(node) ? node->items[i] : NULL;
}

const struct weft_config_node *weft_config_node_child(const struct weft_config_node *node,
                                                      const char *key)
{
    return map_get(node, key, strlen(key));
}

const char *weft_config_node_key(const struct weft_config_node *node)
{
    return node ? node->key : NULL;
}

const char *weft_config_node_value(const struct weft_config_node *node)
{
    return node && node->kind == WEFT_CONFIG_SCALAR ? node->value : NULL;
}

int weft_config_node_line(const struct weft_config_node *node)
{
    return node ? node->line : 0;
}

static int node_path_append(const struct weft_config_node *nd, struct weft_buf *b)
{
    if (nd->parent == NULL) {
        return 0;
    }
    int rc = node_path_append(nd->parent, b);
    if (rc < 0) {
        return rc;
    }
    if (nd->key != NULL) {
        return weft_buf_appendf(b, "%s%s", b->len ? "." : "", nd->key);
    }
    size_t idx = 0;
    while (idx < nd->parent->n && nd->parent->items[idx] != nd) {
        idx++;
    }
    return weft_buf_appendf(b, "[%zu]", idx);
}

char *weft_config_node_path(const struct weft_config_node *node)
{
    struct weft_buf b;
    weft_buf_init(&b, 64 * 1024);
    if (node_path_append(node, &b) < 0 || weft_buf_append(&b, "", 0) < 0) {
        weft_buf_close(&b);
        return NULL;
    }
    return (char *)weft_buf_steal(&b, NULL);
}
