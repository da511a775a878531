/*
 * Small shared helpers of the orderer library: the protobuf-c allocator that
 * routes unpacking through weft_malloc (so allocation-failure tests reach it).
 */
#include "orderer_int.h"

static void *pb_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return weft_malloc(size);
}

static void pb_free(void *ctx, void *ptr)
{
    (void)ctx;
    weft_free(ptr);
}

ProtobufCAllocator orderer__pb_alloc = {pb_alloc, pb_free, NULL};
