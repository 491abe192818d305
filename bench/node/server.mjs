// The benchmark server on Node's socket.io, with the handlers of examples/bench_server.rs.
// PORT from the environment (default 3000); RECOVERY=1 turns connection state recovery on
// (its defaults). `ws` uses `bufferutil` when it is installed.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 3000);
// No Nagle delay on small frames (Node's default for http servers; said explicitly).
const http = createServer({ noDelay: true });
const io = new Server(http, process.env.RECOVERY === '1' ? { connectionStateRecovery: {} } : {});

io.on('connection', (socket) => {
  socket.on('message', (...args) => {
    socket.emit('message-back', ...args);
  });
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('room-broadcast', (room, data) => {
    io.to(room).emit('room-msg', data);
  });
});

http.listen(port, '127.0.0.1');
