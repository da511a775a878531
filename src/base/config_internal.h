/* Private to src/base/config*.c: the tree and the config object. */
#ifndef WEFT_BASE_CONFIG_INTERNAL_H
#define WEFT_BASE_CONFIG_INTERNAL_H

#include "weft/config.h"

struct weft_config_node {
    enum weft_config_kind kind;
    int line;                      /* 1-based; 0 when from the environment */
    char *key;                     /* key in the parent map; NULL otherwise */
    char *value;                   /* scalar text */
    const char *env;               /* variable the value came from (borrowed) */
    const struct weft_config *cfg; /* owner, for the file name in messages */
    struct weft_config_node *parent;
    struct weft_config_node **items; /* map entries (with key) or sequence items */
    size_t n, cap;
};

struct config__env {
    char *name;
    char *value;
};

struct weft_config {
    char *file;   /* as given to load, or NULL */
    char *name;   /* file name used in messages */
    char *dir;    /* absolute directory relative paths resolve against */
    char *prefix; /* env prefix, or NULL */
    struct config__env *env;
    size_t nenv;
    struct weft_config_node *root;
    size_t nodes;
    const struct weft_config_key *table; /* bound by weft_config_check */
    size_t ntable;
};

/* Snapshot variable named exactly (case-insensitively) name, or NULL. */
const struct config__env *config__env_get(const struct weft_config *cfg, const char *name);
/* Snapshot variable <prefix>_<path with '.' as '_'> (case-insensitive), or NULL. */
const struct config__env *config__env_for_path(const struct weft_config *cfg, const char *prefix,
                                               const char *path);
/* Case-insensitive equality of a dotted path and a name where '.' and '_'
 * are interchangeable. */
bool config__env_name_matches(const char *name, const char *prefix, const char *path);

#endif
