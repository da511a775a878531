/*
 * Chaincode packages (spec chaincode.md §7): parse metadata.json and
 * code.tar.gz out of the outer gzip'd tar, compute the package ID
 * (label ":" hex(SHA-256(file))), and build a package from a folder.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cc_internal.h"
#include "weft/crypto.h"
#include "weft/log.h"

WEFT_LOGGER(lg_pkg, "chaincode.package");

bool weft_cc_label_valid(const char *label)
{
    if (label == NULL || label[0] == 0) {
        return false;
    }
    unsigned char c0 = (unsigned char)label[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9'))) {
        return false;
    }
    for (const char *p = label + 1; *p != 0; p++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '+' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int weft_cc_package_id(const char *label, const uint8_t *data, size_t len, char **out)
{
    uint8_t h[WEFT_SHA256_LEN];
    char hex[2 * WEFT_SHA256_LEN + 1];
    weft_sha256(data, len, h);
    weft_crypto_hex(h, sizeof(h), hex);
    *out = weft_asprintf("%s:%s", label, hex);
    return *out == NULL ? WEFT_ENOMEM : 0;
}

void weft_cc_package_free(struct weft_cc_package *p)
{
    if (p == NULL) {
        return;
    }
    weft_free(p->type);
    weft_free(p->path);
    weft_free(p->label);
    weft_free(p->metadata);
    weft_free(p->code);
    weft_free(p);
}

static int pkg_entry(void *ctx, const struct cc_tar_entry *e, struct weft_err *err)
{
    struct weft_cc_package *p = ctx;
    if (e->type != '0' && e->type != '7') {
        return weft_err_set(err, WEFT_EPARSE,
                            "tar entry %s is not a regular file, type %c", e->name, e->type);
    }
    uint8_t **dst = NULL;
    size_t *dst_len = NULL;
    if (strcmp(e->name, "metadata.json") == 0) {
        dst = &p->metadata;
        dst_len = &p->metadata_len;
    } else if (strcmp(e->name, "code.tar.gz") == 0) {
        dst = &p->code;
        dst_len = &p->code_len;
    } else {
        WEFT_WARN(lg_pkg, "encountered unexpected file '%s' in top level of chaincode package",
                  e->name);
        return 0;
    }
    weft_free(*dst);
    *dst = weft_memdup(e->data, e->len > 0 ? e->len : 1);
    if (*dst == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    *dst_len = e->len;
    return 0;
}

static int dup_json_str(json_t *obj, const char *key, char **out, struct weft_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (v != NULL && !json_is_string(v)) {
        return weft_err_set(err, WEFT_EPARSE, "could not unmarshal metadata.json: %s is not a "
                            "string", key);
    }
    *out = weft_strdup(v != NULL ? json_string_value(v) : "");
    return *out == NULL ? weft_err_set(err, WEFT_ENOMEM, "out of memory") : 0;
}

int weft_cc_package_parse(const uint8_t *data, size_t len, struct weft_cc_package **out,
                          struct weft_err *err)
{
    if (len > WEFT_CC_MAX_PACKAGE) {
        return weft_err_set(err, WEFT_ETOOBIG, "chaincode package of %zu bytes is too large",
                            len);
    }
    uint8_t *tar = NULL;
    size_t tar_len = 0;
    json_t *md = NULL;
    struct weft_cc_package *p = weft_calloc(1, sizeof(*p));
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = cc__gunzip(data, len, WEFT_CC_MAX_UNPACKED, &tar, &tar_len, err);
    if (rc != 0) {
        weft_err_prefix(err, "error reading chaincode package");
        goto out;
    }
    rc = cc__tar_each(tar, tar_len, pkg_entry, p, err);
    if (rc != 0) {
        weft_err_prefix(err, "error reading chaincode package");
        goto out;
    }
    if (p->metadata == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "did not find any package metadata (missing "
                          "metadata.json)");
        goto out;
    }
    if (p->code == NULL) {
        rc = weft_err_set(err, WEFT_EPARSE, "did not find a code package inside the package");
        goto out;
    }
    json_error_t je;
    md = json_loadb((const char *)p->metadata, p->metadata_len, 0, &je);
    if (md == NULL || !json_is_object(md)) {
        rc = weft_err_set(err, WEFT_EPARSE, "could not unmarshal metadata.json: %s",
                          md == NULL ? je.text : "not an object");
        goto out;
    }
    rc = dup_json_str(md, "type", &p->type, err);
    if (rc == 0) {
        rc = dup_json_str(md, "path", &p->path, err);
    }
    if (rc == 0) {
        rc = dup_json_str(md, "label", &p->label, err);
    }
    if (rc == 0 && !weft_cc_label_valid(p->label)) {
        rc = weft_err_set(err, WEFT_EPARSE,
                          "invalid label '%s'. Label must be non-empty, can only consist of "
                          "alphanumerics, symbols from '.+-_', and can only begin with "
                          "alphanumerics",
                          p->label);
    }
out:
    json_decref(md);
    weft_free(tar);
    if (rc != 0) {
        weft_cc_package_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- creation -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a folder (weft_malloc'd array of weft_malloc'd strings). */
static int list_dir(const char *dir, char ***out, size_t *n, struct weft_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return weft_err_set(err, -errno, "read folder %s: %s", dir, strerror(errno));
    }
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (cnt == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            char **nv = weft_realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            v = nv;
        }
        v[cnt] = weft_strdup(de->d_name);
        if (v[cnt] == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
        cnt++;
    }
    closedir(d);
    if (rc != 0) {
        for (size_t i = 0; i < cnt; i++) {
            weft_free(v[i]);
        }
        weft_free(v);
        return weft_err_set(err, rc, "out of memory");
    }
    if (cnt > 1) {
        qsort(v, cnt, sizeof(*v), cmp_str);
    }
    *out = v;
    *n = cnt;
    return 0;
}

static int add_dir(struct weft_buf *tar, const char *dir, const char *prefix, int depth,
                   struct weft_err *err)
{
    if (depth > 32) {
        return weft_err_set(err, WEFT_ETOOBIG, "%s: folders nested too deep", dir);
    }
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(dir, &names, &n, err);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        if (rc == 0 && nm[0] != '.' && strcmp(nm, "node_modules") != 0) {
            char path[4096], name[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, nm);
            snprintf(name, sizeof(name), "%s%s", prefix, nm);
            struct stat st;
            if (stat(path, &st) != 0) {
                rc = weft_err_set(err, -errno, "stat %s: %s", path, strerror(errno));
            } else if (S_ISDIR(st.st_mode)) {
                char sub[4200];
                snprintf(sub, sizeof(sub), "%s/", name);
                rc = add_dir(tar, path, sub, depth + 1, err);
            } else if (S_ISREG(st.st_mode)) {
                uint8_t *data = NULL;
                size_t len = 0;
                rc = cc__read_file(path, WEFT_CC_MAX_PACKAGE, &data, &len);
                if (rc == 0) {
                    rc = cc__tar_add(tar, name, data, len, (st.st_mode & 0111) ? 0755 : 0644);
                }
                weft_free(data);
                if (rc != 0) {
                    rc = weft_err_set(err, rc, "add %s: %s", path, weft_strerror(rc));
                }
            }
        }
        weft_free(names[i]);
    }
    weft_free(names);
    return rc;
}

int weft_cc_package_create(const char *label, const char *type, const char *path,
                           const char *src_dir, uint8_t **out, size_t *out_len,
                           struct weft_err *err)
{
    if (!weft_cc_label_valid(label)) {
        return weft_err_set(err, WEFT_EINVAL, "invalid label '%s'", label);
    }
    struct weft_buf code, outer;
    weft_buf_init(&code, WEFT_CC_MAX_UNPACKED);
    weft_buf_init(&outer, WEFT_CC_MAX_PACKAGE);
    uint8_t *code_gz = NULL;
    size_t code_gz_len = 0;
    json_t *md = NULL;
    char *mds = NULL;
    bool ccaas = strcmp(type, "ccaas") == 0;
    int rc = add_dir(&code, src_dir, ccaas ? "" : "src/", 0, err);
    if (rc == 0 && (rc = cc__tar_finish(&code)) != 0) {
        rc = weft_err_set(err, rc, "build code.tar.gz: %s", weft_strerror(rc));
    }
    if (rc == 0) {
        rc = cc__gzip(code.data, code.len, &code_gz, &code_gz_len, err);
    }
    if (rc == 0) {
        md = json_pack("{s:s, s:s, s:s}", "path", path, "type", type, "label", label);
        size_t need = md != NULL ? json_dumpb(md, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
        mds = need > 0 ? weft_calloc(1, need + 1) : NULL;
        if (mds != NULL) {
            json_dumpb(md, mds, need, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
        if (mds == NULL) {
            rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    if (rc == 0) {
        rc = cc__tar_add(&outer, "metadata.json", mds, strlen(mds), 0644);
        if (rc == 0) {
            rc = cc__tar_add(&outer, "code.tar.gz", code_gz, code_gz_len, 0644);
        }
        if (rc == 0) {
            rc = cc__tar_finish(&outer);
        }
        if (rc != 0) {
            rc = weft_err_set(err, rc, "build package: %s", weft_strerror(rc));
        }
    }
    if (rc == 0) {
        rc = cc__gzip(outer.data, outer.len, out, out_len, err);
    }
    weft_free(mds);
    json_decref(md);
    weft_free(code_gz);
    weft_buf_close(&code);
    weft_buf_close(&outer);
    return rc;
}
