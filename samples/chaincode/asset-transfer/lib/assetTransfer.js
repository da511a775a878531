'use strict';
// Asset transfer: create, read, update, transfer, delete, range query with
// pagination, history, composite-key index by owner, events and a
// chaincode-to-chaincode read. Runs unchanged on Fabric and on weft.
const { Contract } = require('fabric-contract-api');

const OWNER_INDEX = 'owner~id';

// Drains a state or history iterator (the shim answers in batches of 100).
async function collect(iterator, fn) {
    const out = [];
    let r = await iterator.next();
    while (!r.done) {
        out.push(fn(r.value));
        r = await iterator.next();
    }
    await iterator.close();
    return out;
}

class AssetTransfer extends Contract {
    constructor() {
        super('AssetTransfer');
    }

    async CreateAsset(ctx, id, color, size, owner, value) {
        if (await this.AssetExists(ctx, id)) {
            throw new Error(`The asset ${id} already exists`);
        }
        const asset = { ID: id, Color: color, Size: Number(size), Owner: owner, AppraisedValue: Number(value) };
        const bytes = Buffer.from(JSON.stringify(asset));
        await ctx.stub.putState(id, bytes);
        await ctx.stub.putState(ctx.stub.createCompositeKey(OWNER_INDEX, [owner, id]), Buffer.from([0]));
        ctx.stub.setEvent('CreateAsset', bytes);
        return JSON.stringify(asset);
    }

    async ReadAsset(ctx, id) {
        const bytes = await ctx.stub.getState(id);
        if (!bytes || bytes.length === 0) {
            throw new Error(`The asset ${id} does not exist`);
        }
        return bytes.toString();
    }

    async UpdateAsset(ctx, id, color, size, owner, value) {
        if (!(await this.AssetExists(ctx, id))) {
            throw new Error(`The asset ${id} does not exist`);
        }
        const asset = { ID: id, Color: color, Size: Number(size), Owner: owner, AppraisedValue: Number(value) };
        await ctx.stub.putState(id, Buffer.from(JSON.stringify(asset)));
        return JSON.stringify(asset);
    }

    async DeleteAsset(ctx, id) {
        const asset = JSON.parse(await this.ReadAsset(ctx, id));
        await ctx.stub.deleteState(id);
        await ctx.stub.deleteState(ctx.stub.createCompositeKey(OWNER_INDEX, [asset.Owner, id]));
    }

    async AssetExists(ctx, id) {
        const bytes = await ctx.stub.getState(id);
        return !!bytes && bytes.length > 0;
    }

    async TransferAsset(ctx, id, newOwner) {
        const asset = JSON.parse(await this.ReadAsset(ctx, id));
        const old = asset.Owner;
        asset.Owner = newOwner;
        await ctx.stub.putState(id, Buffer.from(JSON.stringify(asset)));
        await ctx.stub.deleteState(ctx.stub.createCompositeKey(OWNER_INDEX, [old, id]));
        await ctx.stub.putState(ctx.stub.createCompositeKey(OWNER_INDEX, [newOwner, id]), Buffer.from([0]));
        ctx.stub.setEvent('TransferAsset', Buffer.from(JSON.stringify({ id, from: old, to: newOwner })));
        return old;
    }

    async GetAllAssets(ctx) {
        const it = await ctx.stub.getStateByRange('', '');
        return JSON.stringify(await collect(it, (kv) => JSON.parse(kv.value.toString())));
    }

    async GetAssetsPage(ctx, pageSize, bookmark) {
        const { iterator, metadata } = await ctx.stub.getStateByRangeWithPagination('', '', Number(pageSize), bookmark);
        const records = await collect(iterator, (kv) => JSON.parse(kv.value.toString()));
        return JSON.stringify({ records, fetched: metadata.fetchedRecordsCount, bookmark: metadata.bookmark });
    }

    async GetAssetsByOwner(ctx, owner) {
        const it = await ctx.stub.getStateByPartialCompositeKey(OWNER_INDEX, [owner]);
        return JSON.stringify(await collect(it, (kv) => ctx.stub.splitCompositeKey(kv.key).attributes[1]));
    }

    async GetAssetHistory(ctx, id) {
        const it = await ctx.stub.getHistoryForKey(id);
        return JSON.stringify(await collect(it, (m) => ({ txId: m.txId, isDelete: m.isDelete, value: Buffer.from(m.value).toString() })));
    }

    // Reads an asset through another chaincode (chaincode-to-chaincode call).
    async ReadAssetVia(ctx, chaincodeName, id) {
        const res = await ctx.stub.invokeChaincode(chaincodeName, ['ReadAsset', id], '');
        if (res.status !== 200) {
            throw new Error(`invoke ${chaincodeName} failed: ${res.message}`);
        }
        return Buffer.from(res.payload).toString();
    }
}

module.exports.AssetTransfer = AssetTransfer;
