/* Fuzz target: block-file record parsing (src/ledger/blockfile.c) and what
 * recovery does with a parsed record: decode the common.Block, hash its
 * header and data, and pull each envelope's tx id from the wire bytes. The
 * input is treated as the contents of a block file. */
#include <stddef.h>
#include <stdint.h>

#include "ledger/ledger_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        uint64_t number;
        uint32_t len;
        if (ledger__rec_parse(data + off, size - off, &number, &len) != 0) {
            break;
        }
        const uint8_t *block = data + off + LEDGER_REC_HDR;
        Common__Block *blk = common__block__unpack(NULL, len, block);
        if (blk != NULL) {
            uint8_t h[WEFT_LEDGER_HASH_LEN];
            if (blk->header != NULL) {
                (void)ledger__block_header_hash(blk, h);
            }
            if (blk->data != NULL) {
                weft_ledger_data_hash(blk->data->data, blk->data->n_data, h);
                for (size_t i = 0; i < blk->data->n_data; i++) {
                    const uint8_t *txid;
                    size_t tl;
                    if (ledger__envelope_txid(blk->data->data[i].data, blk->data->data[i].len,
                                              &txid, &tl) == 0 && tl > 0 &&
                        (txid < blk->data->data[i].data ||
                         txid + tl > blk->data->data[i].data + blk->data->data[i].len)) {
                        __builtin_trap(); /* txid must point inside the envelope */
                    }
                }
            }
            common__block__free_unpacked(blk, NULL);
        }
        off += LEDGER_REC_HDR + len;
    }
    /* The tx id walker on raw bytes too. */
    const uint8_t *txid;
    size_t tl;
    (void)ledger__envelope_txid(data, size, &txid, &tl);
    return 0;
}
