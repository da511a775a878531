/*
 * Block files: <chain_dir>/blockfile_NNNNNN, append-only, each a sequence of
 * records (layout in ledger_int.h and docs/ledger.md). A record carries the
 * block number and a CRC-32C over its header fields and the block bytes, so a
 * torn or damaged record is always detected: a torn tail (the process died
 * mid-write) is truncated on open, damage anywhere else is reported.
 *
 * Only the committer thread appends (ledger__file_append); readers open the
 * file themselves and pread, so no lock is shared with the writer. Every
 * appended record is fdatasync'd before the LMDB index learns about it, and
 * the folder is fsync'd when a file is created.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ledger_int.h"

/* ---- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 -------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define LEDGER_CRC_HW 1
static bool crc_hw; /* SSE4.2 present (and WEFT_LEDGER_CRC_SW unset) */
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
        }
    }
#ifdef LEDGER_CRC_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2") && getenv("WEFT_LEDGER_CRC_SW") == NULL;
#endif
}

#ifdef LEDGER_CRC_HW
/* SSE4.2 CRC32 instruction (same polynomial), 8 bytes per step. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n-- > 0) {
        c32 = _mm_crc32_u8(c32, *p++);
    }
    return ~c32;
}
#endif

uint32_t ledger__crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
#ifdef LEDGER_CRC_HW
    if (crc_hw) {
        return crc32c_hw(crc, p, n);
    }
#endif
    return ledger__crc32c_sw(crc, p, n);
}

uint32_t ledger__crc32c_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
              crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
              crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0) {
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    }
    return ~crc;
}

/* ---- record header ------------------------------------------------------ */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64le(const uint8_t *p)
{
    return (uint64_t)get_u32le(p) | (uint64_t)get_u32le(p + 4) << 32;
}

static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *block, size_t len)
{
    /* Covers length and number (bytes 4..16) and the block bytes. */
    return ledger__crc32c(ledger__crc32c(0, hdr + 4, 12), block, len);
}

void ledger__rec_header(uint8_t hdr[LEDGER_REC_HDR], uint64_t number, const uint8_t *block,
                        size_t len)
{
    put_u32le(hdr, LEDGER_REC_MAGIC);
    put_u32le(hdr + 4, (uint32_t)len);
    put_u32le(hdr + 8, (uint32_t)number);
    put_u32le(hdr + 12, (uint32_t)(number >> 32));
    put_u32le(hdr + 16, rec_crc(hdr, block, len));
    put_u32le(hdr + 20, 0);
}

int ledger__rec_parse(const uint8_t *buf, size_t avail, uint64_t *number, uint32_t *len)
{
    if (avail < LEDGER_REC_HDR) {
        return WEFT_EPARSE;
    }
    if (get_u32le(buf) != LEDGER_REC_MAGIC || get_u32le(buf + 20) != 0) {
        return WEFT_ECORRUPT;
    }
    uint32_t n = get_u32le(buf + 4);
    if (n > LEDGER_MAX_BLOCK) {
        return WEFT_ECORRUPT;
    }
    if (avail - LEDGER_REC_HDR < n) {
        return WEFT_EPARSE;
    }
    if (rec_crc(buf, buf + LEDGER_REC_HDR, n) != get_u32le(buf + 16)) {
        return WEFT_ECORRUPT;
    }
    *number = get_u64le(buf + 8);
    *len = n;
    return 0;
}

/* ---- files -------------------------------------------------------------- */

char *ledger__file_path(const char *chain_dir, uint32_t file_no)
{
    return weft_asprintf("%s/blockfile_%06u", chain_dir, file_no);
}

int ledger__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int64_t ledger__last_file(const char *chain_dir)
{
    DIR *d = opendir(chain_dir);
    if (d == NULL) {
        return -1;
    }
    int64_t best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned n;
        char extra;
        if (strncmp(e->d_name, "blockfile_", 10) == 0 && strlen(e->d_name) == 16 &&
            sscanf(e->d_name + 10, "%6u%c", &n, &extra) == 1 && (int64_t)n > best) {
            best = n;
        }
    }
    closedir(d);
    return best;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (r == 0) {
            return WEFT_EPARSE; /* short file */
        }
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int ledger__file_read(const char *chain_dir, const struct ledger_blockloc *loc, uint8_t **bytes,
                      struct weft_err *err)
{
    char *path = ledger__file_path(chain_dir, loc->file);
    uint8_t *buf = NULL;
    int fd = -1;
    int rc;
    if (path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = weft_err_set(err, -errno, "open %s: %s", path, strerror(errno));
        goto out;
    }
    if (loc->length > LEDGER_MAX_BLOCK) {
        rc = weft_err_set(err, WEFT_ECORRUPT, "%s offset %llu: bad length in index", path,
                          (unsigned long long)loc->offset);
        goto out;
    }
    size_t total = LEDGER_REC_HDR + (size_t)loc->length;
    buf = weft_malloc(total);
    if (buf == NULL) {
        rc = weft_err_set(err, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    rc = pread_full(fd, buf, total, loc->offset);
    uint64_t number;
    uint32_t len;
    if (rc == 0) {
        rc = ledger__rec_parse(buf, total, &number, &len);
    }
    if (rc == 0 && len != loc->length) {
        rc = WEFT_ECORRUPT;
    }
    if (rc != 0) {
        rc = weft_err_set(err, rc == WEFT_EPARSE ? WEFT_ECORRUPT : rc,
                          "%s offset %llu: bad block record", path,
                          (unsigned long long)loc->offset);
        goto out;
    }
    memmove(buf, buf + LEDGER_REC_HDR, len);
    *bytes = buf;
    buf = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    weft_free(buf);
    weft_free(path);
    return rc;
}

/* ---- scanning ----------------------------------------------------------- */

void ledger__scan_init(struct ledger_scan *s, const char *chain_dir, uint32_t file_no,
                       uint64_t offset)
{
    memset(s, 0, sizeof(*s));
    s->chain_dir = chain_dir;
    s->file_no = file_no;
    s->offset = offset;
    s->fd = -1;
}

void ledger__scan_close(struct ledger_scan *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
    weft_free(s->block);
    s->block = NULL;
}

static int scan_open(struct ledger_scan *s, struct weft_err *err)
{
    char *path = ledger__file_path(s->chain_dir, s->file_no);
    if (path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        int e = errno;
        weft_free(path);
        return e == ENOENT ? 1 : weft_err_set(err, -e, "open block file: %s", strerror(e));
    }
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        int e = errno;
        weft_free(path);
        return weft_err_set(err, -e, "stat block file: %s", strerror(e));
    }
    s->file_len = (uint64_t)st.st_size;
    weft_free(path);
    return 0;
}

int ledger__scan_next(struct ledger_scan *s, struct weft_err *err)
{
    for (;;) {
        if (s->fd < 0) {
            int rc = scan_open(s, err);
            if (rc < 0) {
                return rc;
            }
            if (rc == 1) {
                return 0; /* no such file: end */
            }
        }
        if (s->offset >= s->file_len) {
            /* End of this file: go on only if a next file exists. */
            char *next = ledger__file_path(s->chain_dir, s->file_no + 1);
            if (next == NULL) {
                return weft_err_set(err, WEFT_ENOMEM, "out of memory");
            }
            bool exists = access(next, F_OK) == 0;
            weft_free(next);
            if (!exists) {
                return 0;
            }
            close(s->fd);
            s->fd = -1;
            s->file_no++;
            s->offset = 0;
            continue;
        }
        uint8_t hdr[LEDGER_REC_HDR];
        uint64_t avail = s->file_len - s->offset;
        if (avail < LEDGER_REC_HDR) {
            return weft_err_set(err, WEFT_EPARSE,
                                "blockfile_%06u offset %llu: torn record header (%llu bytes)",
                                s->file_no, (unsigned long long)s->offset,
                                (unsigned long long)avail);
        }
        int rc = pread_full(s->fd, hdr, LEDGER_REC_HDR, s->offset);
        if (rc != 0) {
            return weft_err_set(err, rc, "blockfile_%06u offset %llu: read failed", s->file_no,
                                (unsigned long long)s->offset);
        }
        uint32_t len = get_u32le(hdr + 4);
        if (get_u32le(hdr) != LEDGER_REC_MAGIC || get_u32le(hdr + 20) != 0 ||
            len > LEDGER_MAX_BLOCK) {
            return weft_err_set(err, WEFT_ECORRUPT,
                                "blockfile_%06u offset %llu: bad record header", s->file_no,
                                (unsigned long long)s->offset);
        }
        if (avail - LEDGER_REC_HDR < len) {
            return weft_err_set(err, WEFT_EPARSE,
                                "blockfile_%06u offset %llu: torn record (%u bytes expected, "
                                "%llu present)",
                                s->file_no, (unsigned long long)s->offset, len,
                                (unsigned long long)(avail - LEDGER_REC_HDR));
        }
        weft_free(s->block);
        s->block = weft_malloc(len > 0 ? len : 1);
        if (s->block == NULL) {
            return weft_err_set(err, WEFT_ENOMEM, "out of memory");
        }
        rc = pread_full(s->fd, s->block, len, s->offset + LEDGER_REC_HDR);
        if (rc != 0) {
            return weft_err_set(err, rc, "blockfile_%06u offset %llu: read failed", s->file_no,
                                (unsigned long long)s->offset);
        }
        if (rec_crc(hdr, s->block, len) != get_u32le(hdr + 16)) {
            return weft_err_set(err, WEFT_ECORRUPT,
                                "blockfile_%06u offset %llu: checksum mismatch", s->file_no,
                                (unsigned long long)s->offset);
        }
        s->number = get_u64le(hdr + 8);
        s->len = len;
        s->loc.file = s->file_no;
        s->loc.offset = s->offset;
        s->loc.length = len;
        s->offset += LEDGER_REC_HDR + len;
        return 1;
    }
}

/* ---- appending ---------------------------------------------------------- */

static int open_for_append(struct weft_ledger *l, uint32_t file_no, bool create,
                           struct weft_err *err)
{
    char *path = ledger__file_path(l->chain_dir, file_no);
    if (path == NULL) {
        return weft_err_set(err, WEFT_ENOMEM, "out of memory");
    }
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0640);
    if (fd < 0) {
        int e = errno;
        weft_err_set(err, -e, "open %s: %s", path, strerror(e));
        weft_free(path);
        return -e;
    }
    weft_free(path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return weft_err_set(err, -e, "stat block file: %s", strerror(e));
    }
    if (create && !l->opt.no_sync) {
        int rc = ledger__fsync_dir(l->chain_dir);
        if (rc != 0) {
            close(fd);
            return weft_err_set(err, rc, "fsync %s: %s", l->chain_dir, strerror(-rc));
        }
    }
    if (l->file_fd >= 0) {
        close(l->file_fd);
    }
    l->file_fd = fd;
    l->file_no = file_no;
    l->file_size = (uint64_t)st.st_size;
    return 0;
}

int ledger__file_open_current(struct weft_ledger *l, uint32_t file_no, bool create,
                              struct weft_err *err)
{
    return open_for_append(l, file_no, create, err);
}

int ledger__file_append(struct weft_ledger *l, uint64_t number, const uint8_t *block, size_t len,
                        struct ledger_blockloc *loc, struct weft_err *err)
{
    if (len > LEDGER_MAX_BLOCK) {
        return weft_err_set(err, WEFT_ETOOBIG, "block %llu is %zu bytes, over the %u limit",
                            (unsigned long long)number, len, LEDGER_MAX_BLOCK);
    }
    uint64_t max = l->opt.max_file_size;
    if (l->file_size > 0 && l->file_size + LEDGER_REC_HDR + len > max) {
        int rc = open_for_append(l, l->file_no + 1, true, err);
        if (rc != 0) {
            return rc;
        }
    }
    uint8_t hdr[LEDGER_REC_HDR];
    ledger__rec_header(hdr, number, block, len);
    size_t total = LEDGER_REC_HDR + len;
    size_t done = 0;
    uint64_t off = l->file_size;
    while (done < total) {
        ssize_t w;
        if (done < LEDGER_REC_HDR) {
            struct iovec v[2] = {{hdr + done, LEDGER_REC_HDR - done},
                                 {(void *)(uintptr_t)block, len}};
            w = pwritev(l->file_fd, v, 2, (off_t)(off + done));
        } else {
            w = pwrite(l->file_fd, block + (done - LEDGER_REC_HDR), total - done,
                       (off_t)(off + done));
        }
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            /* Leave no partial record behind (best effort; recovery would
             * truncate it anyway). */
            if (ftruncate(l->file_fd, (off_t)off) != 0) {
                /* nothing more to do */
            }
            return weft_err_set(err, -e, "write blockfile_%06u: %s", l->file_no, strerror(e));
        }
        done += (size_t)w;
    }
    if (!l->opt.no_sync) {
        /* Start the write-back now; ledger__file_sync() waits for it after
         * the LMDB transaction has been built, so the disk works while the
         * state is computed (the record is still durable before the LMDB
         * commit). Failure here only loses the overlap. */
        (void)sync_file_range(l->file_fd, (off_t)off, (off_t)total, SYNC_FILE_RANGE_WRITE);
    }
    loc->file = l->file_no;
    loc->offset = off;
    loc->length = (uint32_t)len;
    l->file_size = off + total;
    return 0;
}

/* ---- the writer thread ---------------------------------------------------- */

/* Writes header + block at off; on a write error cuts the file back to off.
 * Then fdatasync when sync. Returns 0 or an errno; *what names the step. */
static int write_record(int fd, uint64_t number, const uint8_t *block, size_t len, uint64_t off,
                        bool sync, const char **what)
{
    uint8_t hdr[LEDGER_REC_HDR];
    ledger__rec_header(hdr, number, block, len);
    size_t total = LEDGER_REC_HDR + len;
    size_t done = 0;
    *what = "write";
    while (done < total) {
        ssize_t w;
        if (done < LEDGER_REC_HDR) {
            struct iovec v[2] = {{hdr + done, LEDGER_REC_HDR - done},
                                 {(void *)(uintptr_t)block, len}};
            w = pwritev(fd, v, 2, (off_t)(off + done));
        } else {
            w = pwrite(fd, block + (done - LEDGER_REC_HDR), total - done, (off_t)(off + done));
        }
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            if (ftruncate(fd, (off_t)off) != 0) {
                /* recovery cuts a torn tail anyway */
            }
            return e;
        }
        done += (size_t)w;
    }
    *what = "fdatasync";
    return sync && fdatasync(fd) != 0 ? errno : 0;
}

static void *writer_main(void *arg)
{
    weft_thread_name("blk-writer");
    struct weft_ledger *l = arg;
    pthread_mutex_lock(&l->wr_mu);
    for (;;) {
        while (!l->wr_busy && !l->wr_stop) {
            pthread_cond_wait(&l->wr_cond, &l->wr_mu);
        }
        if (!l->wr_busy) {
            break; /* stop, nothing outstanding */
        }
        int fd = l->wr_fd;
        uint64_t off = l->wr_off, number = l->wr_number;
        const uint8_t *block = l->wr_block;
        size_t len = l->wr_len;
        pthread_mutex_unlock(&l->wr_mu);
        const char *what;
        int e = write_record(fd, number, block, len, off, !l->opt.no_sync, &what);
        pthread_mutex_lock(&l->wr_mu);
        l->wr_errno = e;
        l->wr_what = what;
        l->wr_busy = false;
        pthread_cond_broadcast(&l->wr_cond);
    }
    pthread_mutex_unlock(&l->wr_mu);
    return NULL;
}

int ledger__writer_start(struct weft_ledger *l)
{
    if (l->wr_started) {
        return 0;
    }
    if (pthread_create(&l->wr_thread, NULL, writer_main, l) != 0) {
        return WEFT_EUNAVAILABLE;
    }
    l->wr_started = true;
    return 0;
}

void ledger__writer_stop(struct weft_ledger *l)
{
    if (!l->wr_started) {
        return;
    }
    pthread_mutex_lock(&l->wr_mu);
    l->wr_stop = true;
    pthread_cond_broadcast(&l->wr_cond);
    pthread_mutex_unlock(&l->wr_mu);
    pthread_join(l->wr_thread, NULL);
    l->wr_started = false;
}

/* Waits until the writer is idle; its last result (consumed). */
static int wait_writer(struct weft_ledger *l, const char **what)
{
    pthread_mutex_lock(&l->wr_mu);
    while (l->wr_busy) {
        pthread_cond_wait(&l->wr_cond, &l->wr_mu);
    }
    int e = l->wr_errno;
    *what = l->wr_what != NULL ? l->wr_what : "write";
    l->wr_errno = 0;
    pthread_mutex_unlock(&l->wr_mu);
    return e;
}

int ledger__file_append_async(struct weft_ledger *l, uint64_t number, const uint8_t *block,
                              size_t len, struct ledger_blockloc *loc, struct weft_err *err)
{
    if (!l->wr_started) {
        return ledger__file_append(l, number, block, len, loc, err);
    }
    /* The previous request is always waited for by its commit; make sure. */
    const char *what;
    int e = wait_writer(l, &what);
    if (e != 0) {
        return weft_err_set(err, -e, "%s blockfile_%06u: %s", what, l->file_no, strerror(e));
    }
    int rc;
    if (len > LEDGER_MAX_BLOCK) {
        return weft_err_set(err, WEFT_ETOOBIG, "block %llu is %zu bytes, over the %u limit",
                            (unsigned long long)number, len, LEDGER_MAX_BLOCK);
    }
    uint64_t max = l->opt.max_file_size;
    if (l->file_size > 0 && l->file_size + LEDGER_REC_HDR + len > max) {
        rc = open_for_append(l, l->file_no + 1, true, err);
        if (rc != 0) {
            return rc;
        }
    }
    uint64_t off = l->file_size;
    pthread_mutex_lock(&l->wr_mu);
    l->wr_fd = l->file_fd;
    l->wr_off = off;
    l->wr_number = number;
    l->wr_block = block;
    l->wr_len = len;
    l->wr_errno = 0;
    l->wr_busy = true;
    pthread_cond_broadcast(&l->wr_cond);
    pthread_mutex_unlock(&l->wr_mu);
    loc->file = l->file_no;
    loc->offset = off;
    loc->length = (uint32_t)len;
    l->file_size = off + LEDGER_REC_HDR + len;
    return 0;
}

int ledger__file_wait(struct weft_ledger *l, const struct ledger_blockloc *loc,
                      struct weft_err *err)
{
    if (!l->wr_started) {
        return ledger__file_sync(l, loc, err);
    }
    const char *what;
    int e = wait_writer(l, &what);
    if (e == 0) {
        return 0;
    }
    return weft_err_set(err, -e, "%s blockfile_%06u (block at offset %llu): %s", what, loc->file,
                        (unsigned long long)loc->offset, strerror(e));
}

int ledger__file_sync(struct weft_ledger *l, const struct ledger_blockloc *loc,
                      struct weft_err *err)
{
    if (l->opt.no_sync || fdatasync(l->file_fd) == 0) {
        return 0;
    }
    int e = errno;
    return weft_err_set(err, -e, "fdatasync blockfile_%06u (block at offset %llu): %s", loc->file,
                        (unsigned long long)loc->offset, strerror(e));
}

int ledger__sync_path(const char *chain_dir, uint32_t file_no)
{
    char *path = ledger__file_path(chain_dir, file_no);
    if (path == NULL) {
        return WEFT_ENOMEM;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    weft_free(path);
    if (fd < 0) {
        return -errno;
    }
    int rc = fdatasync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}
