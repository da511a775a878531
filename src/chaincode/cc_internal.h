/* Internals shared by the files of src/chaincode (not a public API). */
#ifndef WEFT_CC_INTERNAL_H
#define WEFT_CC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"
#include "weft/chaincode.h"

struct cc_tar_entry {
    const char *name;
    char type; /* '0' file, '5' folder, ... */
    unsigned mode;
    const uint8_t *data;
    size_t len;
};
typedef int (*cc_tar_entry_fn)(void *ctx, const struct cc_tar_entry *e, struct weft_err *err);

int cc__gunzip(const uint8_t *data, size_t len, size_t limit, uint8_t **out, size_t *out_len,
               struct weft_err *err);
int cc__gzip(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len,
             struct weft_err *err);
int cc__tar_each(const uint8_t *tar, size_t len, cc_tar_entry_fn fn, void *ctx,
                 struct weft_err *err);
int cc__tar_add(struct weft_buf *b, const char *name, const void *data, size_t len,
                unsigned mode);
int cc__tar_finish(struct weft_buf *b);
int cc__mkdirs(const char *path);
int cc__write_file(const char *path, const void *data, size_t len, unsigned mode);
int cc__read_file(const char *path, size_t limit, uint8_t **out, size_t *len);
void cc__rmtree(const char *path);
/* Standard base64 of n bytes, NUL-terminated (weft_free); NULL when out of
 * memory. */
char *cc__base64(const void *data, size_t n);
/* ccid with < > : " / \ | ? * & replaced by '-'. */
void cc__sanitize(const char *ccid, char *out, size_t cap);

#endif
