/*
 * Gzip'd tar archives, as Fabric chaincode packages use them: an in-memory
 * reader (gunzip with a hard cap, then ustar/GNU/PAX headers), an unpacker
 * that refuses paths escaping the target folder, and a writer that builds a
 * gzip'd ustar archive in memory.
 *
 * Only what packages need: regular files and folders. Long names come as
 * PAX "path" records (Go's archive/tar) or GNU 'L' entries; both are read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cc_internal.h"

int cc__gunzip(const uint8_t *data, size_t len, size_t limit, uint8_t **out, size_t *out_len,
               struct weft_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK) {
        return weft_err_set(err, WEFT_ENOMEM, "gunzip: inflateInit failed");
    }
    struct weft_buf b;
    weft_buf_init(&b, limit);
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    int rc = 0;
    for (;;) {
        if (weft_buf_reserve(&b, 65536) != 0) {
            rc = weft_err_set(err, WEFT_ETOOBIG, "gunzip: inflated data exceeds %zu bytes",
                              limit);
            break;
        }
        zs.next_out = b.data + b.len;
        zs.avail_out = 65536;
        int z = inflate(&zs, Z_NO_FLUSH);
        b.len += 65536 - zs.avail_out;
        if (b.len > limit) {
            rc = weft_err_set(err, WEFT_ETOOBIG, "gunzip: inflated data exceeds %zu bytes",
                              limit);
            break;
        }
        if (z == Z_STREAM_END) {
            break;
        }
        if (z != Z_OK) {
            rc = weft_err_set(err, WEFT_EPARSE, "gunzip: %s",
                              zs.msg != NULL ? zs.msg : "corrupt gzip data");
            break;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            rc = weft_err_set(err, WEFT_EPARSE, "gunzip: truncated gzip data");
            break;
        }
    }
    inflateEnd(&zs);
    if (rc != 0) {
        weft_buf_close(&b);
        return rc;
    }
    *out = weft_buf_steal(&b, out_len);
    if (*out == NULL) {
        *out = weft_malloc(1);
        if (*out == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int cc__gzip(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len,
             struct weft_err *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        return weft_err_set(err, WEFT_ENOMEM, "gzip: deflateInit failed");
    }
    uLong bound = deflateBound(&zs, (uLong)len) + 64;
    uint8_t *buf = weft_malloc(bound);
    if (buf == NULL) {
        deflateEnd(&zs);
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    int z = deflate(&zs, Z_FINISH);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    if (z != Z_STREAM_END) {
        weft_free(buf);
        return weft_err_set(err, WEFT_EIO, "gzip: deflate failed");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static uint64_t octal(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == 0)) {
        i++;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        v = (v << 3) | (uint64_t)(p[i] - '0');
    }
    return v;
}

static bool block_zero(const uint8_t *p)
{
    for (size_t i = 0; i < 512; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Extracts "path" from PAX records "<len> key=value\n". */
static char *pax_path(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i, rl = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9') {
            rl = rl * 10 + (size_t)(p[j] - '0');
            j++;
        }
        if (rl == 0 || i + rl > n || j >= n || p[j] != ' ') {
            return NULL;
        }
        const char *kv = (const char *)p + j + 1;
        size_t kvlen = i + rl - (j + 1);
        if (kvlen > 5 && memcmp(kv, "path=", 5) == 0) {
            size_t vl = kvlen - 5;
            if (vl > 0 && kv[5 + vl - 1] == '\n') {
                vl--;
            }
            return weft_strndup(kv + 5, vl);
        }
        i += rl;
    }
    return NULL;
}

int cc__tar_each(const uint8_t *tar, size_t len, cc_tar_entry_fn fn, void *ctx,
                 struct weft_err *err)
{
    size_t off = 0;
    char *long_name = NULL;
    int rc = 0;
    while (off + 512 <= len) {
        const uint8_t *h = tar + off;
        if (block_zero(h)) {
            break;
        }
        uint64_t chk = octal(h + 148, 8), sum = 0;
        for (size_t i = 0; i < 512; i++) {
            sum += (i >= 148 && i < 156) ? (uint64_t)' ' : h[i];
        }
        if (chk != sum) {
            rc = weft_err_set(err, WEFT_EPARSE, "tar: bad header checksum at offset %zu", off);
            break;
        }
        uint64_t size = octal(h + 124, 12);
        char type = (char)h[156];
        off += 512;
        if (size > len - off) {
            rc = weft_err_set(err, WEFT_EPARSE, "tar: entry at offset %zu is truncated",
                              off - 512);
            break;
        }
        const uint8_t *body = tar + off;
        off += (size_t)((size + 511) / 512 * 512);
        if (off > len) {
            off = len;
        }
        if (type == 'x' || type == 'L') {
            weft_free(long_name);
            long_name = type == 'x' ? pax_path(body, (size_t)size)
                                    : weft_strndup((const char *)body, (size_t)size);
            continue;
        }
        if (type == 'g') {
            continue;
        }
        char name[260];
        if (long_name != NULL) {
            snprintf(name, sizeof(name), "%s", long_name);
        } else {
            char prefix[156] = {0}, base[101] = {0};
            memcpy(base, h, 100);
            if (memcmp(h + 257, "ustar", 5) == 0) {
                memcpy(prefix, h + 345, 155);
            }
            if (prefix[0] != 0) {
                snprintf(name, sizeof(name), "%s/%s", prefix, base);
            } else {
                snprintf(name, sizeof(name), "%s", base);
            }
        }
        weft_free(long_name);
        long_name = NULL;
        struct cc_tar_entry e = {
            .name = name,
            .type = type == 0 ? '0' : type,
            .mode = (unsigned)octal(h + 100, 8),
            .data = body,
            .len = (size_t)size,
        };
        rc = fn(ctx, &e, err);
        if (rc != 0) {
            break;
        }
    }
    weft_free(long_name);
    return rc;
}

/* ---- unpacking ------------------------------------------------------------- */

static int mkdirs(const char *path, size_t upto)
{
    char tmp[4096];
    if (upto >= sizeof(tmp)) {
        return -ENAMETOOLONG;
    }
    memcpy(tmp, path, upto);
    tmp[upto] = 0;
    for (size_t i = 1; i <= upto; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            tmp[i] = c;
        }
    }
    return 0;
}

int cc__mkdirs(const char *path)
{
    return mkdirs(path, strlen(path));
}

int cc__write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        return -errno;
    }
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = -errno;
            close(fd);
            return e;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd) == 0 ? 0 : -errno;
}

static bool path_safe(const char *name)
{
    if (name[0] == '/' || name[0] == 0) {
        return false;
    }
    const char *p = name;
    while (*p != 0) {
        const char *q = strchr(p, '/');
        size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            return false;
        }
        if (q == NULL) {
            break;
        }
        p = q + 1;
    }
    return true;
}

struct untar_ctx {
    const char *dir;
};

static int untar_entry(void *ctx, const struct cc_tar_entry *e, struct weft_err *err)
{
    struct untar_ctx *u = ctx;
    if (!path_safe(e->name)) {
        return weft_err_set(err, WEFT_EPARSE, "tar: refusing unsafe path \"%s\"", e->name);
    }
    char path[4400];
    int n = snprintf(path, sizeof(path), "%s/%s", u->dir, e->name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        return weft_err_set(err, WEFT_ETOOBIG, "tar: path too long: %s", e->name);
    }
    if (e->type == '5') {
        int rc = mkdirs(path, strlen(path));
        return rc == 0 ? 0 : weft_err_set(err, rc, "mkdir %s: %s", path, weft_strerror(rc));
    }
    if (e->type != '0' && e->type != '7') {
        return 0; /* links and devices are not part of a chaincode package */
    }
    const char *slash = strrchr(path, '/');
    int rc = mkdirs(path, (size_t)(slash - path));
    if (rc == 0) {
        rc = cc__write_file(path, e->data, e->len, (e->mode & 0111) ? 0755 : 0644);
    }
    return rc == 0 ? 0 : weft_err_set(err, rc, "write %s: %s", path, weft_strerror(rc));
}

int weft_cc_untar_gz(const uint8_t *data, size_t len, const char *dir, struct weft_err *err)
{
    uint8_t *tar = NULL;
    size_t tar_len = 0;
    int rc = cc__gunzip(data, len, WEFT_CC_MAX_UNPACKED, &tar, &tar_len, err);
    if (rc != 0) {
        return rc;
    }
    rc = cc__mkdirs(dir);
    if (rc != 0) {
        weft_free(tar);
        return weft_err_set(err, rc, "mkdir %s: %s", dir, weft_strerror(rc));
    }
    struct untar_ctx u = {.dir = dir};
    rc = cc__tar_each(tar, tar_len, untar_entry, &u, err);
    weft_free(tar);
    return rc;
}

/* ---- writing --------------------------------------------------------------- */

int cc__tar_add(struct weft_buf *b, const char *name, const void *data, size_t len,
                unsigned mode)
{
    uint8_t h[512];
    memset(h, 0, sizeof(h));
    size_t nl = strlen(name);
    if (nl > 100) {
        /* PAX record for long names. */
        char rec[512];
        size_t body = nl + strlen(" path=\n");
        size_t total = body + 1;
        for (;;) {
            char digits[24];
            int dl = snprintf(digits, sizeof(digits), "%zu", total);
            if (dl > 0 && (size_t)dl + body == total) {
                break;
            }
            total++;
        }
        int rl = snprintf(rec, sizeof(rec), "%zu path=%s\n", total, name);
        if (rl < 0 || (size_t)rl >= sizeof(rec)) {
            return WEFT_ETOOBIG;
        }
        int rc = cc__tar_add(b, "PaxHeader", rec, (size_t)rl, 0644 | 0x10000u);
        if (rc != 0) {
            return rc;
        }
        memcpy(h, name, 100);
    } else {
        memcpy(h, name, nl);
    }
    bool pax = (mode & 0x10000u) != 0;
    snprintf((char *)h + 100, 8, "%07o", mode & 07777u);
    snprintf((char *)h + 108, 8, "%07o", 0u);
    snprintf((char *)h + 116, 8, "%07o", 0u);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)len);
    snprintf((char *)h + 136, 12, "%011o", 0u);
    h[156] = pax ? 'x' : '0';
    memcpy(h + 257, "ustar", 6);
    h[263] = '0';
    h[264] = '0';
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++) {
        sum += h[i];
    }
    snprintf((char *)h + 148, 8, "%06o", sum);
    int rc = weft_buf_append(b, h, 512);
    if (rc == 0 && len > 0) {
        rc = weft_buf_append(b, data, len);
    }
    if (rc == 0 && len % 512 != 0) {
        static const uint8_t zeros[512];
        rc = weft_buf_append(b, zeros, 512 - len % 512);
    }
    return rc;
}

int cc__tar_finish(struct weft_buf *b)
{
    static const uint8_t zeros[1024];
    return weft_buf_append(b, zeros, sizeof(zeros));
}
