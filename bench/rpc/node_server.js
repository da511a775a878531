// The rpc benchmark's reference: the same interop.Echo/Unary service (raw
// bytes echoed) served by @grpc/grpc-js. Prints "PORT <n>"; exits on SIGTERM.
'use strict';
const grpc = require('@grpc/grpc-js');

const id = (x) => x;
const service = {
  Unary: {
    path: '/interop.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  },
};
const server = new grpc.Server({
  'grpc.max_receive_message_length': 104857600,
  'grpc.max_send_message_length': 104857600,
});
server.addService(service, { Unary: (call, cb) => cb(null, call.request) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`PORT ${port}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
