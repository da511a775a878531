'use strict';
// bench/endorse: the smallest useful contract. Put(key) does exactly one
// PUT_STATE and returns nothing, so the time a proposal spends here is the
// shim's own (contract dispatch, one state round trip, COMPLETED).
const { Contract } = require('fabric-contract-api');

class Put extends Contract {
    constructor() {
        super('Put');
    }

    async Put(ctx, key) {
        await ctx.stub.putState(key, Buffer.from('v'));
    }
}

module.exports.Put = Put;
module.exports.contracts = [Put];
