/* Helpers shared by the fuzz targets that start from the Fabric vectors. */
#ifndef WEFT_FUZZLIB_H
#define WEFT_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>

/* The ../shared folder ($WEFT_SHARED_DIR when set, else found from this
 * file's path), written to dir; returns dir. */
const char *fuzz_shared_dir(char *dir, size_t cap);
/* Reads ../shared/vectors/fabric-2.4.9/<rel> ($WEFT_SHARED_DIR when set, else
 * found from this file's path); caller frees with weft_free. Aborts when the
 * file is missing: a fuzz target without its inputs must not pass. */
uint8_t *fuzz_read_vector(const char *rel, size_t *len);
/* Removes a folder and everything in it (best effort). */
void fuzz_rmtree(const char *dir);

#endif
