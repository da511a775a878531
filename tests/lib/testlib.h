/* Helpers shared by weft's C tests: temporary folders, free ports, files. */
#ifndef WEFT_TESTLIB_H
#define WEFT_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh folder under $TMPDIR (or /tmp); caller frees the path with
 * weft_free after wt_rmtree. Aborts the test process on failure. */
char *wt_tmpdir(const char *prefix);
/* Removes a folder and everything in it (best effort). */
void wt_rmtree(const char *path);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int wt_free_port(void);
/* Writes len bytes to path; 0 or -errno. */
int wt_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file; caller frees with weft_free. NULL on error. */
char *wt_read_file(const char *path, size_t *len);
/* Path of the source tree ($WEFT_SOURCE_DIR, set by CTest). */
const char *wt_source_dir(void);
/* Path of ../shared beside the source tree ($WEFT_SHARED_DIR). */
const char *wt_shared_dir(void);

#endif
