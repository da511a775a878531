/* Helpers shared by the fuzz targets (see fuzzlib.h). */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzzlib.h"
#include "weft/base.h"

const char *fuzz_shared_dir(char *dir, size_t cap)
{
    const char *shared = getenv("WEFT_SHARED_DIR");
    if (shared != NULL) {
        snprintf(dir, cap, "%s", shared);
    } else {
        snprintf(dir, cap, "%s", __FILE__);
        char *p = strstr(dir, "tests/fuzz/");
        if (p != NULL) {
            snprintf(p, cap - (size_t)(p - dir), "../shared");
        }
    }
    return dir;
}

uint8_t *fuzz_read_vector(const char *rel, size_t *len)
{
    char dir[4096], path[4400];
    fuzz_shared_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/vectors/fabric-2.4.9/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        abort();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = weft_malloc(n > 0 ? (size_t)n : 1);
    if (b == NULL || fread(b, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fuzz_rmtree(const char *dir)
{
    if (dir != NULL && dir[0] != '\0') {
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}
