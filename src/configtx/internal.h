/* configtx internals shared by the files of src/configtx. */
#ifndef WEFT_CONFIGTX_INTERNAL_H
#define WEFT_CONFIGTX_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "weft/configtx.h"

/* protobuf-c allocator on weft_malloc/weft_free (fault injection applies). */
extern ProtobufCAllocator configtx__pb_alloc;

/* Unpacks bytes as desc with configtx__pb_alloc; NULL on malformed input or
 * ENOMEM (err set with what, naming the message). */
ProtobufCMessage *configtx__unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                   size_t len, const char *what, struct weft_err *err);
void configtx__free(ProtobufCMessage *msg);
/* Packs msg into a new weft_malloc'd buffer (non-NULL even when empty). */
int configtx__pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len,
                   struct weft_err *err);
/* Sorts the groups/values/policies maps of a ConfigGroup tree by key. */
void configtx__sort_group(void *group, int depth);

#endif
