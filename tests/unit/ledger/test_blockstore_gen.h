/* Builds synthetic Fabric blocks for the block-store tests, the crash test
 * and the ledger benchmark: endorser-transaction envelopes carrying a
 * TxReadWriteSet with public writes, chained with real header hashes. */
#ifndef WEFT_TEST_BLOCKSTORE_GEN_H
#define WEFT_TEST_BLOCKSTORE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.pb-c.h"

struct bg_write {
    const char *key;
    const uint8_t *value;
    size_t value_len;
    bool is_delete;
};

/* Serialized Envelope of an ENDORSER_TRANSACTION with tx id `txid` writing
 * `w` in namespace `ns`. *out freed with weft_free. 0 or WEFT_ENOMEM. */
int bg_envelope(const char *channel, const char *txid, const char *ns, const struct bg_write *w,
                size_t n, uint8_t **out, size_t *len);

/* Serialized Block: header (number, prev, data hash over data), data,
 * 5 metadata entries with TRANSACTIONS_FILTER = codes (NULL = empty).
 * hash_out (may be NULL) receives the header hash. */
int bg_block(uint64_t number, const uint8_t *prev, size_t prev_len,
             const ProtobufCBinaryData *data, size_t n, const uint8_t *codes, uint8_t **out,
             size_t *len, uint8_t hash_out[32]);

/* Convenience: a block of ntx transactions each writing nw keys
 * "k<seed>_<tx>_<w>" (values "v<number>_<tx>_<w>") in namespace "basic";
 * txids "tx<number>_<tx>". */
int bg_simple_block(uint64_t number, const uint8_t *prev, size_t prev_len, size_t ntx,
                    size_t nw, uint8_t **out, size_t *len, uint8_t hash_out[32]);

#endif
