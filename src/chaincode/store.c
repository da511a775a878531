/*
 * The install store (spec chaincode.md §7): packages saved as
 * <root>/lifecycle/chaincodes/<label>.<hex hash>.tar.gz, named after the
 * package ID with its first ':' replaced by '.'. Files are written to a
 * temporary name and renamed, so a crash never leaves half a package. The
 * folder is the only state: listing reads it, so several processes (peer and
 * CLI) agree. Also holds small file helpers shared by the library.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc_internal.h"

struct weft_cc_store {
    char *root;
    char *dir;
};

int cc__read_file(const char *path, size_t limit, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct weft_buf b;
    weft_buf_init(&b, limit);
    int rc = 0;
    for (;;) {
        uint8_t chunk[65536];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0) {
            break;
        }
        rc = weft_buf_append(&b, chunk, (size_t)r);
        if (rc != 0) {
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    if (b.data == NULL) {
        *out = weft_calloc(1, 1);
        *len = 0;
        return *out == NULL ? WEFT_ENOMEM : 0;
    }
    *out = weft_buf_steal(&b, len);
    return 0;
}

void cc__rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
                    continue;
                }
                char sub[4096];
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                cc__rmtree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void cc__sanitize(const char *ccid, char *out, size_t cap)
{
    size_t i = 0;
    for (; ccid[i] != 0 && i + 1 < cap; i++) {
        char c = ccid[i];
        out[i] = strchr("<>:\"/\\|?*&", c) != NULL ? '-' : c;
    }
    out[i] = 0;
}

int weft_cc_store_open(const char *root, struct weft_cc_store **out, struct weft_err *err)
{
    struct weft_cc_store *st = weft_calloc(1, sizeof(*st));
    if (st == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    st->root = weft_strdup(root);
    st->dir = weft_asprintf("%s/lifecycle/chaincodes", root);
    if (st->root == NULL || st->dir == NULL) {
        weft_cc_store_free(st);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int rc = cc__mkdirs(st->dir);
    if (rc != 0) {
        weft_err_set(err, rc, "create %s: %s", st->dir, weft_strerror(rc));
        weft_cc_store_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void weft_cc_store_free(struct weft_cc_store *st)
{
    if (st == NULL) {
        return;
    }
    weft_free(st->root);
    weft_free(st->dir);
    weft_free(st);
}

const char *weft_cc_store_root(const struct weft_cc_store *st)
{
    return st->root;
}

/* <dir>/<label>.<hash>.tar.gz; NULL for a malformed package ID. */
static char *pkg_path(const struct weft_cc_store *st, const char *package_id)
{
    const char *colon = strchr(package_id, ':');
    if (colon == NULL || strchr(package_id, '/') != NULL || colon == package_id) {
        return NULL;
    }
    return weft_asprintf("%s/%.*s.%s.tar.gz", st->dir, (int)(colon - package_id), package_id,
                         colon + 1);
}

bool weft_cc_store_has(struct weft_cc_store *st, const char *package_id)
{
    char *p = pkg_path(st, package_id);
    bool ok = p != NULL && access(p, F_OK) == 0;
    weft_free(p);
    return ok;
}

int weft_cc_store_install(struct weft_cc_store *st, const uint8_t *data, size_t len,
                          char **package_id, struct weft_err *err)
{
    struct weft_cc_package *pkg = NULL;
    char *id = NULL, *path = NULL, *tmp = NULL;
    int rc = weft_cc_package_parse(data, len, &pkg, err);
    if (rc != 0) {
        return weft_err_prefix(err, "could not parse as a chaincode install package");
    }
    rc = weft_cc_package_id(pkg->label, data, len, &id);
    if (rc == 0) {
        path = pkg_path(st, id);
        tmp = weft_asprintf("%s/.install.%d.tmp", st->dir, (int)getpid());
        if (path == NULL || tmp == NULL) {
            rc = WEFT_ENOMEM;
        }
    }
    if (rc != 0) {
        weft_err_set(err, rc, "out of memory");
        goto out;
    }
    if (access(path, F_OK) == 0) {
        rc = weft_err_set(err, WEFT_EEXIST,
                          "chaincode already successfully installed (package ID '%s')", id);
        goto out;
    }
    rc = cc__write_file(tmp, data, len, 0600);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
        weft_err_set(err, rc, "could not save package %s: %s", id, weft_strerror(rc));
        goto out;
    }
    if (package_id != NULL) {
        *package_id = id;
        id = NULL;
    }
out:
    weft_free(id);
    weft_free(path);
    weft_free(tmp);
    weft_cc_package_free(pkg);
    return rc;
}

int weft_cc_store_remove(struct weft_cc_store *st, const char *package_id, struct weft_err *err)
{
    char *p = pkg_path(st, package_id);
    if (p == NULL) {
        return weft_err_set(err, WEFT_EINVAL, "malformed package ID '%s'", package_id);
    }
    int rc = unlink(p) == 0 ? 0 : -errno;
    weft_free(p);
    return rc == 0 ? 0 : weft_err_set(err, rc == -ENOENT ? WEFT_ENOTFOUND : rc,
                                      "remove package %s: %s", package_id, weft_strerror(rc));
}

int weft_cc_store_load(struct weft_cc_store *st, const char *package_id, uint8_t **data,
                       size_t *len, struct weft_err *err)
{
    char *p = pkg_path(st, package_id);
    if (p == NULL) {
        return weft_err_set(err, WEFT_ENOTFOUND, "chaincode install package '%s' not found",
                            package_id);
    }
    int rc = cc__read_file(p, WEFT_CC_MAX_PACKAGE, data, len);
    weft_free(p);
    if (rc == -ENOENT) {
        return weft_err_set(err, WEFT_ENOTFOUND, "chaincode install package '%s' not found",
                            package_id);
    }
    return rc == 0 ? 0 : weft_err_set(err, rc, "read package %s: %s", package_id,
                                      weft_strerror(rc));
}

static int cmp_installed(const void *a, const void *b)
{
    return strcmp(((const struct weft_cc_installed *)a)->package_id,
                  ((const struct weft_cc_installed *)b)->package_id);
}

void weft_cc_installed_free(struct weft_cc_installed *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++) {
        weft_free(list[i].package_id);
        weft_free(list[i].label);
    }
    weft_free(list);
}

int weft_cc_store_list(struct weft_cc_store *st, struct weft_cc_installed **out, size_t *n,
                       struct weft_err *err)
{
    DIR *d = opendir(st->dir);
    if (d == NULL) {
        return weft_err_set(err, -errno, "read %s: %s", st->dir, strerror(errno));
    }
    struct weft_cc_installed *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        /* <label>.<64 hex>.tar.gz */
        if (l < 64 + 8 + 2 || strcmp(nm + l - 7, ".tar.gz") != 0 || nm[0] == '.') {
            continue;
        }
        size_t label_len = l - 7 - 64 - 1;
        if (nm[label_len] != '.') {
            continue;
        }
        if (cnt == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            struct weft_cc_installed *nv = weft_realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                rc = WEFT_ENOMEM;
                break;
            }
            v = nv;
        }
        v[cnt].label = weft_strndup(nm, label_len);
        v[cnt].package_id = weft_asprintf("%.*s:%.64s", (int)label_len, nm, nm + label_len + 1);
        cnt++;
        if (v[cnt - 1].label == NULL || v[cnt - 1].package_id == NULL) {
            rc = WEFT_ENOMEM;
            break;
        }
    }
    closedir(d);
    if (rc != 0) {
        weft_cc_installed_free(v, cnt);
        return weft_err_set(err, rc, "out of memory");
    }
    if (cnt > 1) {
        qsort(v, cnt, sizeof(*v), cmp_installed);
    }
    *out = v;
    *n = cnt;
    return 0;
}
