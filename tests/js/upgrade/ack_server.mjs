// Node's socket.io 4.8 with its default options, acknowledging `message-with-ack` with its
// arguments: the reference the first-ack latency test (tests/upgrade_latency.rs) compares
// our server with.
//
// usage: PORT=0 node upgrade/ack_server.mjs
// Prints `listening <port>` on stdout once ready; runs until killed or its stdin closes.

import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http);
io.on('connection', (socket) => {
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') {
      ack(...args);
    }
  });
});
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${http.address().port}`);
});
// The test holds our stdin: when it goes away, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
