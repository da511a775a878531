/*
 * qscc, the ledger query system chaincode (spec chaincode.md §9):
 * GetChainInfo, GetBlockByNumber, GetBlockByHash, GetTransactionByID and
 * GetBlockByTxID. args = [function, channel, (number | hash | txid)]. Each
 * function is guarded by its ACL resource "qscc/<function>" (default
 * /Channel/Application/Readers). Blocks are returned byte for byte as
 * stored; GetTransactionByID embeds the stored envelope bytes verbatim.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.pb-c.h"
#include "common/ledger.pb-c.h"
#include "cscc_int.h"
#include "weft/ledger.h"

/* Appends a protobuf varint. */
static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

static int chain_info(struct weft_ledger *l, struct weft_cc_result *res)
{
    struct weft_ledger_info info;
    weft_ledger_info(l, &info);
    Common__BlockchainInfo bi = COMMON__BLOCKCHAIN_INFO__INIT;
    bi.height = info.height;
    if (info.height > 0) {
        bi.currentblockhash.data = info.current_hash;
        bi.currentblockhash.len = WEFT_LEDGER_HASH_LEN;
    }
    bi.previousblockhash.data = info.previous_hash;
    bi.previousblockhash.len = info.previous_hash_len;
    return peer__scc_reply_msg(res, &bi.base);
}

/* ProcessedTransaction{transactionEnvelope = stored bytes, validationCode}. */
static int processed_tx(struct weft_ledger *l, const char *txid, struct weft_cc_result *res)
{
    struct weft_ledger_txloc loc;
    struct weft_err e = {0};
    int rc = weft_ledger_tx_by_id(l, txid, &loc, &e);
    if (rc == WEFT_ENOTFOUND) {
        return peer__scc_fail(res,
                              "Failed to get transaction with id %s, error no such "
                              "transaction ID [%s] in index",
                              txid, txid);
    }
    if (rc != 0) {
        return peer__scc_fail(res, "Failed to get transaction with id %s, error %s", txid, e.msg);
    }
    uint8_t *b = NULL;
    size_t bl = 0;
    rc = weft_ledger_block_by_number(l, loc.block, &b, &bl, &e);
    if (rc != 0) {
        return rc == WEFT_ENOMEM ? rc
                                 : peer__scc_fail(res,
                                                  "Failed to get transaction with id "
                                                  "%s, error %s",
                                                  txid, e.msg);
    }
    Common__Block *blk = common__block__unpack(NULL, bl, b);
    if (blk == NULL || blk->data == NULL || loc.tx >= blk->data->n_data) {
        if (blk != NULL) {
            common__block__free_unpacked(blk, NULL);
        }
        weft_free(b);
        return peer__scc_fail(res,
                              "Failed to get transaction with id %s, error the stored "
                              "block %llu is malformed",
                              txid, (unsigned long long)loc.block);
    }
    const ProtobufCBinaryData *env = &blk->data->data[loc.tx];
    uint8_t *out = weft_malloc(env->len + 32);
    if (out == NULL) {
        rc = WEFT_ENOMEM;
    } else {
        size_t n = 0;
        out[n++] = 0x0a; /* field 1, length-delimited */
        n += put_varint(out + n, env->len);
        if (env->len > 0) {
            memcpy(out + n, env->data, env->len);
            n += env->len;
        }
        if (loc.code != 0) {
            out[n++] = 0x10; /* field 2, varint */
            n += put_varint(out + n, loc.code);
        }
        rc = peer__scc_reply(res, 200, "", out, n);
    }
    weft_free(out);
    common__block__free_unpacked(blk, NULL);
    weft_free(b);
    return rc;
}

int peer__qscc_invoke(struct weft_peer *p, const struct peer_scc_req *req,
                      struct weft_cc_result *res)
{
    char fn[64], ch[256];
    if (req->n_args < 2) {
        return peer__scc_fail(res, "Incorrect number of arguments, %zu", req->n_args);
    }
    if (!peer__scc_arg(req, 0, fn, sizeof(fn))) {
        return peer__scc_fail(res, "Invalid function name");
    }
    if (!peer__scc_arg(req, 1, ch, sizeof(ch)) || ch[0] == 0) {
        return peer__scc_fail(res, "Invalid chain ID");
    }
    static const char *const fns[] = {"GetChainInfo", "GetBlockByNumber", "GetBlockByHash",
                                      "GetTransactionByID", "GetBlockByTxID"};
    size_t which = WEFT_ARRAY_LEN(fns);
    for (size_t i = 0; i < WEFT_ARRAY_LEN(fns); i++) {
        if (strcmp(fn, fns[i]) == 0) {
            which = i;
        }
    }
    if (which == WEFT_ARRAY_LEN(fns)) {
        return peer__scc_fail(res, "Requested function %s not found.", fn);
    }
    if (which != 0 && req->n_args < 3) {
        return peer__scc_fail(res, "missing 3rd argument for %s", fn);
    }
    const struct weft_channel_config *cfg = peer__channel_config(p, ch);
    struct weft_ledger *l = peer__channel_ledger(p, ch);
    if (cfg == NULL || l == NULL) {
        return peer__scc_fail(res, "Invalid chain ID, %s", ch);
    }
    char resource[96];
    snprintf(resource, sizeof(resource), "qscc/%s", fn);
    struct weft_err e = {0};
    if (peer__acl_check(p, cfg, resource, req->sd, &e) != 0) {
        return peer__scc_fail(res, "access denied for [%s][%s]: [%s]", fn, ch, e.msg);
    }
    uint8_t *b = NULL;
    size_t bl = 0;
    int rc = 0;
    char arg[512];
    switch (which) {
    case 0:
        return chain_info(l, res);
    case 1: {
        if (!peer__scc_arg(req, 2, arg, sizeof(arg)) || arg[0] < '0' || arg[0] > '9') {
            return peer__scc_fail(res, "Failed to parse block number: not a decimal number");
        }
        char *end = NULL;
        errno = 0;
        unsigned long long num = strtoull(arg, &end, 10);
        if (errno != 0 || end == NULL || *end != 0) {
            return peer__scc_fail(res, "Failed to parse block number: %s", arg);
        }
        rc = weft_ledger_block_by_number(l, (uint64_t)num, &b, &bl, &e);
        if (rc != 0 && rc != WEFT_ENOMEM) {
            return peer__scc_fail(res, "Failed to get block number %llu, error %s", num, e.msg);
        }
        break;
    }
    case 2:
        rc = weft_ledger_block_by_hash(l, req->args[2].data, req->args[2].len, &b, &bl, &e);
        if (rc != 0 && rc != WEFT_ENOMEM) {
            return peer__scc_fail(res, "Failed to get block hash, error %s", e.msg);
        }
        break;
    case 3:
    case 4:
        if (!peer__scc_arg(req, 2, arg, sizeof(arg))) {
            return peer__scc_fail(res, "%s: invalid transaction ID", fn);
        }
        if (which == 3) {
            return processed_tx(l, arg, res);
        }
        rc = weft_ledger_block_by_txid(l, arg, &b, &bl, &e);
        if (rc != 0 && rc != WEFT_ENOMEM) {
            return peer__scc_fail(res, "Failed to get block for txID %s, error %s", arg, e.msg);
        }
        break;
    default:
        break;
    }
    if (rc != 0) {
        return rc;
    }
    rc = peer__scc_reply(res, 200, "", b, bl);
    weft_free(b);
    return rc;
}
