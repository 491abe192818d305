// Node's socket.io 4.8 for the lone-surrogate comparison of tests/security.rs: on connection
// it emits `auth` with the CONNECT payload; every event comes back as `got` with its name
// and arguments. The Rust test server there has the same handlers.
//
// usage: node lone_surrogates_server.mjs
// Prints `listening <port>` on stdout; exits when its standard input closes.

import { createServer } from 'node:http';
import { Server } from 'socket.io';

const httpServer = createServer();
const io = new Server(httpServer);
io.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
  socket.onAny((name, ...args) => socket.emit('got', name, ...args));
});
httpServer.listen(0, '127.0.0.1', () => {
  console.log(`listening ${httpServer.address().port}`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
