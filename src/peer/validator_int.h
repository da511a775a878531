/*
 * Internals of the peer's validator/committer files (validator*.c,
 * committer*.c, blockpuller*.c, deliver*.c): the protobuf-c allocator, a
 * small protobuf wire reader for read/write sets (keys are byte strings that
 * protobuf-c would cut at the first NUL), and shared helpers.
 */
#ifndef WEFT_PEER_VALIDATOR_INT_H
#define WEFT_PEER_VALIDATOR_INT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/base.h"

extern ProtobufCAllocator peer__pb_alloc;
#define PEER_PB (&peer__pb_alloc)

/* A bump allocator for the messages of one block: protobuf-c's unpack of
 * a block's envelopes, payloads, transactions... allocates tens of small
 * objects per transaction, all freed together when the block is done. Its
 * `pb` allocator hands out 16-byte aligned pieces of 1 MiB chunks (larger
 * requests get a chunk of their own); its free is a no-op and
 * peer__arena_free releases everything at once, so the decoded messages
 * must not be freed one by one (*_free_unpacked with it is harmless but
 * useless). Not thread-safe: one thread allocates at a time. */
struct peer_arena {
    ProtobufCAllocator pb;
    struct peer_arena_chunk *chunks; /* newest first; the first is the current one */
    size_t used, cap;                /* of the current chunk */
};

void peer__arena_init(struct peer_arena *a);
void *peer__arena_alloc(struct peer_arena *a, size_t size);
void peer__arena_free(struct peer_arena *a); /* everything; a can be reused */

/* A byte string pointing into a buffer owned by someone else. */
struct peer_bytes {
    const uint8_t *p;
    size_t len;
};

/* The write-side keys of one namespace of a TxReadWriteSet, as key-level
 * endorsement needs them (spec 6.3). Pointers borrow the rwset bytes. */
struct peer_coll_keys {
    const char *name; /* collection name (borrowed from the decoded rwset) */
    struct peer_bytes *writes; /* key hashes */
    size_t n_writes;
    struct peer_bytes *meta_writes;
    size_t n_meta_writes;
};

struct peer_ns_keys {
    const char *ns;
    struct peer_bytes *writes; /* public write keys, rwset order */
    size_t n_writes;
    struct peer_bytes *meta_writes; /* public metadata write keys */
    size_t n_meta_writes;
    struct peer_coll_keys *colls;
    size_t n_colls;
    bool has_writes; /* any public/hashed write or metadata write */
};

/* Decodes a serialized KVRWSet strictly (wire types of known fields, UTF-8
 * of string fields, as Go's proto3 unmarshal) and appends its write and
 * metadata-write keys to nk. 0 or WEFT_EPARSE / WEFT_ENOMEM. */
int peer__kvrwset_keys(const uint8_t *p, size_t len, struct peer_ns_keys *nk);
/* Same for a HashedRWSet into one collection entry. */
int peer__hashed_keys(const uint8_t *p, size_t len, struct peer_coll_keys *ck);
void peer__ns_keys_clear(struct peer_ns_keys *nk);

/* Field 1 (bytes) or 2 (string) of a serialized ApplicationPolicy:
 * *which = 1 signature policy envelope, 2 channel policy reference, 0 none.
 * 0 or WEFT_EPARSE. */
int peer__app_policy(const uint8_t *p, size_t len, int *which, struct peer_bytes *val);

/* Minimal reader: next field of a message. 1 = got one, 0 = end, < 0 bad. */
struct peer_pb {
    const uint8_t *p, *end;
};
int peer__pb_next(struct peer_pb *r, uint32_t *field, uint32_t *wt, uint64_t *num,
                  struct peer_bytes *val);

#endif
