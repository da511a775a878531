/* Fuzz target: the committer's per-transaction validation of a block
 * (src/peer/validator*.c). The input is a serialized common.Block as the
 * peer's Deliver client receives it. It goes through the orderer checks
 * (weft_validator_verify_block) and weft_validator_prepare/finish as the
 * next block of a ledger holding blocks 0-2 of the Fabric vectors (genesis,
 * then the approvals and commit of chaincode "basic"), so endorsement
 * policies, _lifecycle rules and MVCC run against a defined chaincode. The
 * block number is rewritten to the ledger height so finish() does not stop
 * at the number check. Nothing is committed; a config block that finish()
 * applied is undone by rebuilding the validator from the genesis config, so
 * every run starts from the same state. Signatures are checked on the
 * calling thread with no cache. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "common/common.pb-c.h"
#include "weft/committer.h"
#include "weft/configtx.h"
#include "weft/ledger.h"
#include "weft/log.h"

#define FUZZ_NOW 1893456000 /* 2030-01-01, fixed for replay */
#define SETUP_BLOCKS 3

static struct weft_ledger *ledger;
static struct weft_validator *val;
static uint8_t *genesis;
static size_t genesis_len;
static char tmpdir[256];

static void cleanup(void)
{
    if (tmpdir[0] != '\0') {
        fuzz_rmtree(tmpdir);
    }
}

static void new_validator(void)
{
    struct weft_err err;
    struct weft_channel_config *cfg = NULL;
    if (weft_channel_config_from_block(genesis, genesis_len, FUZZ_NOW, &cfg, &err) != 0 ||
        weft_validator_new(cfg, ledger, NULL, NULL, &val, &err) != 0) {
        fprintf(stderr, "fuzz_validator: validator: %s\n", err.msg);
        abort();
    }
}

static void setup(void)
{
    if (val != NULL) {
        return;
    }
    struct weft_err err;
    if (weft_log_spec_set("fatal", &err) != 0) {
        abort();
    }
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/weft-fuzz-validator-XXXXXX", t != NULL ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        abort();
    }
    atexit(cleanup);
    struct weft_ledger_options o;
    weft_ledger_options_init(&o);
    o.root = tmpdir;
    o.channel = "mychannel";
    o.no_sync = true;
    if (weft_ledger_open(&ledger, &o, &err) != 0) {
        fprintf(stderr, "fuzz_validator: ledger: %s\n", err.msg);
        abort();
    }
    genesis = fuzz_read_vector("blocks/000000.block", &genesis_len);
    new_validator();
    for (unsigned n = 0; n < SETUP_BLOCKS; n++) {
        char rel[64];
        size_t len;
        snprintf(rel, sizeof(rel), "blocks/%06u.block", n);
        uint8_t *b = fuzz_read_vector(rel, &len);
        Common__Block *blk = common__block__unpack(NULL, len, b);
        if (blk == NULL || blk->data == NULL) {
            abort();
        }
        size_t ntx = blk->data->n_data;
        uint8_t *codes = weft_calloc(ntx + 1, 1);
        /* the vector blocks carry Fabric's codes in TRANSACTIONS_FILTER;
         * they must equal ours, which the ledger then commits */
        if (codes == NULL || weft_validator_validate(val, blk, codes, ntx, &err) != 0 ||
            blk->metadata == NULL || blk->metadata->n_metadata < 3 ||
            blk->metadata->metadata[2].len != ntx ||
            memcmp(blk->metadata->metadata[2].data, codes, ntx) != 0 ||
            weft_ledger_commit(ledger, blk, &err) != 0) {
            fprintf(stderr, "fuzz_validator: setup block %u: %s\n", n, err.msg);
            abort();
        }
        weft_free(codes);
        common__block__free_unpacked(blk, NULL);
        weft_free(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    Common__Block *blk = common__block__unpack(NULL, size, data);
    if (blk == NULL) {
        return 0;
    }
    struct weft_err err;
    struct weft_ledger_info info;
    weft_ledger_info(ledger, &info);
    if (blk->header != NULL) {
        int vrc = weft_validator_verify_block(val, blk, blk->header->number, &err);
        if (vrc > 0) {
            __builtin_trap(); /* errors are negative */
        }
        blk->header->number = info.height;
    }
    struct weft_vblock *vb = NULL;
    if (weft_validator_prepare(val, blk, &vb, &err) == 0) {
        size_t ntx = blk->data->n_data;
        uint8_t *codes = weft_malloc(ntx + 1);
        bool config = weft_vblock_is_config(vb);
        if (codes != NULL) {
            memset(codes, WEFT_TXC_NOT_VALIDATED, ntx + 1);
            if (weft_validator_finish(val, vb, codes, ntx, &err) == 0) {
                for (size_t i = 0; i < ntx; i++) {
                    if (codes[i] == WEFT_TXC_NOT_VALIDATED) {
                        __builtin_trap(); /* finish() gives every tx its code */
                    }
                }
            }
            weft_free(codes);
        }
        weft_vblock_free(vb);
        if (config) {
            weft_validator_free(val);
            new_validator();
        }
    } else if (blk->header != NULL && blk->data != NULL) {
        __builtin_trap(); /* prepare fails only without header or data */
    }
    common__block__free_unpacked(blk, NULL);
    return 0;
}
