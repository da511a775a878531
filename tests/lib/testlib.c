#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "weft/base.h"

char *wt_tmpdir(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = weft_asprintf("%s/weft-%s-XXXXXX", base ? base : "/tmp", prefix);
    if (tmpl == NULL || mkdtemp(tmpl) == NULL) {
        fprintf(stderr, "wt_tmpdir: %s\n", strerror(errno));
        abort();
    }
    return tmpl;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void wt_rmtree(const char *path)
{
    if (path != NULL) {
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

int wt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

int wt_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        return -errno;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd) == 0 ? 0 : -errno;
}

char *wt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct weft_buf b;
    weft_buf_init(&b, (size_t)1 << 31);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (weft_buf_append(&b, chunk, n) != 0) {
            weft_buf_close(&b);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    if (b.data == NULL && weft_buf_append(&b, "", 0) != 0) {
        return NULL;
    }
    return (char *)weft_buf_steal(&b, len);
}

const char *wt_source_dir(void)
{
    const char *s = getenv("WEFT_SOURCE_DIR");
    return s ? s : ".";
}

const char *wt_shared_dir(void)
{
    const char *s = getenv("WEFT_SHARED_DIR");
    return s ? s : "../shared";
}
