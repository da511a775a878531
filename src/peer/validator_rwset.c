/*
 * A strict protobuf wire reader for the parts of read/write sets the
 * validator needs. protobuf-c decodes `string` fields as C strings, which
 * cuts composite keys (they contain U+0000); Go's proto3 decoder, which
 * Fabric uses, also rejects strings that are not UTF-8. So keys are read
 * here as byte ranges of the original bytes, and every field of KVRWSet and
 * HashedRWSet is checked the way Go's decoder would check it (wire type of
 * known fields, UTF-8 of strings, nested messages well formed): a set that
 * fails here is BAD_RWSET, as it is in Fabric.
 */
#include <string.h>

#include "validator_int.h"

static void *pb_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return weft_malloc(size);
}

static void pb_free(void *ctx, void *p)
{
    (void)ctx;
    weft_free(p);
}

ProtobufCAllocator peer__pb_alloc = {pb_alloc, pb_free, NULL};

/* ---- block arena ---------------------------------------------------------- */

#define ARENA_CHUNK ((size_t)1 << 20)
#define ARENA_ALIGN ((size_t)16)

struct peer_arena_chunk {
    struct peer_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    /* data follows, ARENA_ALIGN aligned */
};

#define CHUNK_HDR ((sizeof(struct peer_arena_chunk) + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1))

static void *arena_pb_alloc(void *ctx, size_t size)
{
    return peer__arena_alloc(ctx, size);
}

static void arena_pb_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

void peer__arena_init(struct peer_arena *a)
{
    a->pb.alloc = arena_pb_alloc;
    a->pb.free = arena_pb_free;
    a->pb.allocator_data = a;
    a->chunks = NULL;
    a->used = a->cap = 0;
}

static uint8_t *chunk_data(struct peer_arena_chunk *c)
{
    return (uint8_t *)c + CHUNK_HDR;
}

void *peer__arena_alloc(struct peer_arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    if (need < size) {
        return NULL;
    }
    if (a->chunks != NULL && a->cap - a->used >= need) {
        void *p = chunk_data(a->chunks) + a->used;
        a->used += need;
        return p;
    }
    if (need > ARENA_CHUNK / 4) {
        /* a chunk of its own, kept behind the current one */
        if (need > SIZE_MAX - CHUNK_HDR) {
            return NULL;
        }
        struct peer_arena_chunk *c = weft_malloc(CHUNK_HDR + need);
        if (c == NULL) {
            return NULL;
        }
        c->size = need;
        if (a->chunks != NULL) {
            c->next = a->chunks->next;
            a->chunks->next = c;
        } else {
            c->next = NULL;
            a->chunks = c;
            a->used = a->cap = need;
        }
        return chunk_data(c);
    }
    struct peer_arena_chunk *c = weft_malloc(CHUNK_HDR + ARENA_CHUNK);
    if (c == NULL) {
        return NULL;
    }
    c->size = ARENA_CHUNK;
    c->next = a->chunks;
    a->chunks = c;
    a->cap = ARENA_CHUNK;
    a->used = need;
    return chunk_data(c);
}

void peer__arena_free(struct peer_arena *a)
{
    struct peer_arena_chunk *c = a->chunks;
    while (c != NULL) {
        struct peer_arena_chunk *next = c->next;
        weft_free(c);
        c = next;
    }
    a->chunks = NULL;
    a->used = a->cap = 0;
}

static int varint(struct peer_pb *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) {
            return -1;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

int peer__pb_next(struct peer_pb *r, uint32_t *field, uint32_t *wt, uint64_t *num,
                  struct peer_bytes *val)
{
    if (r->p >= r->end) {
        return 0;
    }
    uint64_t tag;
    if (varint(r, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 536870911u) {
        return -1;
    }
    *field = (uint32_t)(tag >> 3);
    *wt = (uint32_t)(tag & 7);
    *num = 0;
    val->p = NULL;
    val->len = 0;
    switch (*wt) {
    case 0:
        return varint(r, num) == 0 ? 1 : -1;
    case 1:
        if (r->end - r->p < 8) {
            return -1;
        }
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4) {
            return -1;
        }
        r->p += 4;
        return 1;
    case 2: {
        uint64_t n;
        if (varint(r, &n) != 0 || n > (uint64_t)(r->end - r->p)) {
            return -1;
        }
        val->p = r->p;
        val->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return -1;
    }
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i < len) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += len;
    }
    return true;
}

/* Field kinds of a message schema. */
enum fk { FK_VARINT, FK_FIXED64, FK_BYTES, FK_STRING, FK_MSG };

struct fdesc;
struct mdesc {
    const struct fdesc *f;
    size_t n;
};
struct fdesc {
    uint32_t num;
    enum fk kind;
    const struct mdesc *sub;
};

static const struct fdesc version_f[] = {{1, FK_VARINT, NULL}, {2, FK_VARINT, NULL}};
static const struct mdesc version_m = {version_f, 2};
static const struct fdesc kvread_f[] = {{1, FK_STRING, NULL}, {2, FK_MSG, &version_m}};
static const struct mdesc kvread_m = {kvread_f, 2};
static const struct fdesc qreads_f[] = {{1, FK_MSG, &kvread_m}};
static const struct mdesc qreads_m = {qreads_f, 1};
static const struct fdesc merkle_f[] = {
    {1, FK_VARINT, NULL}, {2, FK_VARINT, NULL}, {3, FK_BYTES, NULL}};
static const struct mdesc merkle_m = {merkle_f, 3};
static const struct fdesc rqi_f[] = {{1, FK_STRING, NULL},
                                     {2, FK_STRING, NULL},
                                     {3, FK_VARINT, NULL},
                                     {4, FK_MSG, &qreads_m},
                                     {5, FK_MSG, &merkle_m}};
static const struct mdesc rqi_m = {rqi_f, 5};
static const struct fdesc kvwrite_f[] = {
    {1, FK_STRING, NULL}, {2, FK_VARINT, NULL}, {3, FK_BYTES, NULL}};
static const struct mdesc kvwrite_m = {kvwrite_f, 3};
static const struct fdesc entry_f[] = {{1, FK_STRING, NULL}, {2, FK_BYTES, NULL}};
static const struct mdesc entry_m = {entry_f, 2};
static const struct fdesc kvmeta_f[] = {{1, FK_STRING, NULL}, {2, FK_MSG, &entry_m}};
static const struct mdesc kvmeta_m = {kvmeta_f, 2};
static const struct fdesc readhash_f[] = {{1, FK_BYTES, NULL}, {2, FK_MSG, &version_m}};
static const struct mdesc readhash_m = {readhash_f, 2};
static const struct fdesc writehash_f[] = {
    {1, FK_BYTES, NULL}, {2, FK_VARINT, NULL}, {3, FK_BYTES, NULL}, {4, FK_VARINT, NULL}};
static const struct mdesc writehash_m = {writehash_f, 4};
static const struct fdesc metahash_f[] = {{1, FK_BYTES, NULL}, {2, FK_MSG, &entry_m}};
static const struct mdesc metahash_m = {metahash_f, 2};

static int check_msg(const uint8_t *p, size_t len, const struct mdesc *m, int depth);

static int check_field(const struct fdesc *fd, uint32_t wt, const struct peer_bytes *v,
                       int depth)
{
    switch (fd->kind) {
    case FK_VARINT:
        return wt == 0 ? 0 : -1;
    case FK_FIXED64:
        return wt == 1 ? 0 : -1;
    case FK_BYTES:
        return wt == 2 ? 0 : -1;
    case FK_STRING:
        return wt == 2 && utf8_ok(v->p, v->len) ? 0 : -1;
    case FK_MSG:
        return wt == 2 ? check_msg(v->p, v->len, fd->sub, depth + 1) : -1;
    }
    return -1;
}

static int check_msg(const uint8_t *p, size_t len, const struct mdesc *m, int depth)
{
    if (depth > 8) {
        return -1;
    }
    struct peer_pb r = {p, p + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v;
    int rc;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        for (size_t i = 0; i < m->n; i++) {
            if (m->f[i].num == f) {
                if (check_field(&m->f[i], wt, &v, depth) != 0) {
                    return -1;
                }
                break;
            }
        }
    }
    return rc == 0 ? 0 : -1;
}

/* The key (field 1) of a KVWrite / KVMetadataWrite / hashed variant; the
 * last occurrence wins, as in protobuf. */
static int first_field_bytes(const uint8_t *p, size_t len, struct peer_bytes *out)
{
    struct peer_pb r = {p, p + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v;
    int rc;
    out->p = (const uint8_t *)"";
    out->len = 0;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        if (f == 1 && wt == 2) {
            *out = v;
        }
    }
    return rc == 0 ? 0 : -1;
}

static int push(struct peer_bytes **arr, size_t *n, const struct peer_bytes *b)
{
    if ((*n & (*n - 1)) == 0) { /* grow at powers of two */
        size_t cap = *n == 0 ? 4 : *n * 2;
        struct peer_bytes *na = weft_realloc(*arr, cap * sizeof(**arr));
        if (na == NULL) {
            return WEFT_ENOMEM;
        }
        *arr = na;
    }
    (*arr)[(*n)++] = *b;
    return 0;
}

int peer__kvrwset_keys(const uint8_t *p, size_t len, struct peer_ns_keys *nk)
{
    static const struct fdesc top_f[] = {{1, FK_MSG, &kvread_m},
                                         {2, FK_MSG, &rqi_m},
                                         {3, FK_MSG, &kvwrite_m},
                                         {4, FK_MSG, &kvmeta_m}};
    static const struct mdesc top_m = {top_f, 4};
    if (check_msg(p, len, &top_m, 0) != 0) {
        return WEFT_EPARSE;
    }
    struct peer_pb r = {p, p + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v, key;
    int rc;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        if (f != 3 && f != 4) {
            continue;
        }
        if (first_field_bytes(v.p, v.len, &key) != 0) {
            return WEFT_EPARSE;
        }
        int prc = f == 3 ? push(&nk->writes, &nk->n_writes, &key)
                         : push(&nk->meta_writes, &nk->n_meta_writes, &key);
        if (prc != 0) {
            return prc;
        }
        nk->has_writes = true;
    }
    return rc == 0 ? 0 : WEFT_EPARSE;
}

int peer__hashed_keys(const uint8_t *p, size_t len, struct peer_coll_keys *ck)
{
    static const struct fdesc top_f[] = {
        {1, FK_MSG, &readhash_m}, {2, FK_MSG, &writehash_m}, {3, FK_MSG, &metahash_m}};
    static const struct mdesc top_m = {top_f, 3};
    if (check_msg(p, len, &top_m, 0) != 0) {
        return WEFT_EPARSE;
    }
    struct peer_pb r = {p, p + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v, key;
    int rc;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        if (f != 2 && f != 3) {
            continue;
        }
        if (first_field_bytes(v.p, v.len, &key) != 0) {
            return WEFT_EPARSE;
        }
        int prc = f == 2 ? push(&ck->writes, &ck->n_writes, &key)
                         : push(&ck->meta_writes, &ck->n_meta_writes, &key);
        if (prc != 0) {
            return prc;
        }
    }
    return rc == 0 ? 0 : WEFT_EPARSE;
}

void peer__ns_keys_clear(struct peer_ns_keys *nk)
{
    weft_free(nk->writes);
    weft_free(nk->meta_writes);
    for (size_t i = 0; i < nk->n_colls; i++) {
        weft_free(nk->colls[i].writes);
        weft_free(nk->colls[i].meta_writes);
    }
    weft_free(nk->colls);
    memset(nk, 0, sizeof(*nk));
}

int peer__app_policy(const uint8_t *p, size_t len, int *which, struct peer_bytes *val)
{
    struct peer_pb r = {p, p + len};
    uint32_t f, wt;
    uint64_t num;
    struct peer_bytes v;
    int rc;
    *which = 0;
    val->p = NULL;
    val->len = 0;
    while ((rc = peer__pb_next(&r, &f, &wt, &num, &v)) == 1) {
        if ((f == 1 || f == 2) && wt != 2) {
            return WEFT_EPARSE;
        }
        if (f == 1 || f == 2) { /* oneof: the last one set wins */
            if (f == 2 && !utf8_ok(v.p, v.len)) {
                return WEFT_EPARSE;
            }
            *which = (int)f;
            *val = v;
        }
    }
    return rc == 0 ? 0 : WEFT_EPARSE;
}
