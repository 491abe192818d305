// The Node reference implementation of the scenario server described in SPEC.md (next to this
// file). It exists to prove api.test.mjs: the suite must pass against it before it is used to
// judge the Rust scenario server.
//
// usage: PORT=0 node reference_server.mjs
// Prints `listening <port>` on stdout once ready; runs until killed.

import { createServer } from 'node:http';
import { Server } from 'socket.io';

const ASK_TIMEOUT_MS = 1000;
const MAX_VOLATILE = 1000;
const RECORD_TTL_MS = 60_000;

/** Sorted copy of a collection of strings. */
const sorted = (items) => [...items].sort();

/** A map that forgets entries older than RECORD_TTL_MS (checked on every write). */
class Records {
  constructor() {
    this.entries = new Map();
  }

  set(key, value) {
    const now = Date.now();
    for (const [k, { at }] of this.entries) {
      if (now - at > RECORD_TTL_MS) {
        this.entries.delete(k);
      }
    }
    this.entries.set(key, { at: now, value });
  }

  get(key) {
    return this.entries.get(key)?.value ?? null;
  }
}

/** Splits an incoming event's arguments into data and the ack callback (or null). */
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === 'function') {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, null];
}

/** Registers a listener that receives `(data, ack)` where `ack(...v)` is a no-op without request. */
function on(socket, event, handler) {
  socket.on(event, (...args) => {
    const [data, ackFn] = splitAck(args);
    handler(data, (...v) => ackFn?.(...v));
  });
}

/** True when `emit()` refuses (throws); false when it sent the event. */
function refuses(emit) {
  try {
    emit();
    return false;
  } catch {
    return true;
  }
}

/** `echo` and `conn`: the listeners every namespace has. */
function commonListeners(socket) {
  on(socket, 'echo', (data, ack) => {
    socket.emit('echo-back', ...data);
    ack(...data);
  });
  on(socket, 'conn', (_data, ack) => {
    ack({ id: socket.conn.id, transport: socket.conn.transport.name });
  });
}

const httpServer = createServer();
const io = new Server(httpServer);
const root = io.of('/');
const reasons = new Records();
const outcomes = new Records();

// The first as `io.use`, the second on the namespace (the Rust server does the same).
io.use((socket, next) => {
  if (socket.handshake.auth?.token === 'bad') {
    const err = new Error('unauthorized');
    err.data = { code: 401 };
    return next(err);
  }
  next();
});
root.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (token === 'bad' || token === 'late') {
    return next(new Error('late refusal'));
  }
  next();
});

root.on('connection', (socket) => {
  const auth = socket.handshake.auth;
  const seen = [];
  const seenOut = [];
  let roomsAtDisconnecting = [];

  socket.data = { nick: auth.nick ?? null };

  socket.onAny((event, ...args) => {
    seen.push(event);
    if (typeof event === 'string' && event.startsWith('any:')) {
      const [data] = splitAck(args);
      socket.emit('any-got', event, ...data);
    }
  });
  socket.onAnyOutgoing((event) => {
    seenOut.push(event);
  });

  socket.use((packet, next) => {
    if (packet[0] === 'forbidden') {
      return next(new Error('forbidden event'));
    }
    if (packet[0] === 'rewrite') {
      const last = packet[packet.length - 1];
      const ack = typeof last === 'function' ? [last] : [];
      packet.splice(1, packet.length - 1, 'rewritten', ...ack);
    }
    next();
  });
  socket.on('error', (err) => {
    if (err instanceof Error) {
      socket.emit('error', { message: err.message });
    }
  });

  socket.on('disconnecting', () => {
    roomsAtDisconnecting = sorted(socket.rooms);
  });
  socket.on('disconnect', (reason) => {
    reasons.set(socket.id, { reason, rooms: roomsAtDisconnecting });
  });

  commonListeners(socket);
  on(socket, 'message', (data, ack) => {
    socket.send(...data);
    ack(...data);
  });
  on(socket, 'join', ([rooms], ack) => {
    socket.join(rooms);
    ack(sorted(socket.rooms));
  });
  on(socket, 'leave', ([room], ack) => {
    socket.leave(room);
    ack(sorted(socket.rooms));
  });
  on(socket, 'to-room', ([rooms, data], ack) => {
    socket.to(rooms).emit('room-msg', data);
    ack(true);
  });
  on(socket, 'in-room', ([rooms, data], ack) => {
    root.in(rooms).emit('room-msg', data);
    ack(true);
  });
  on(socket, 'except', ([rooms, data], ack) => {
    root.except(rooms).emit('except-msg', data);
    ack(true);
  });
  on(socket, 'broadcast', ([data], ack) => {
    socket.broadcast.emit('broadcast', data);
    ack(true);
  });
  on(socket, 'to-all', ([data], ack) => {
    root.emit('all-msg', data);
    ack(true);
  });
  on(socket, 'ask', ([data], ack) => {
    socket.timeout(ASK_TIMEOUT_MS).emit('question', data, (err, ...reply) => {
      ack(err ? { error: 'timeout' } : { reply });
    });
  });
  on(socket, 'ask-room', ([rooms], ack) => {
    root
      .to(rooms)
      .timeout(ASK_TIMEOUT_MS)
      .emit('question', 'all', (err, replies) => {
        ack({ replies: sorted(replies ?? []), timedOut: Boolean(err) });
      });
  });
  on(socket, 'volatile', ([n], ack) => {
    const count = Number.isInteger(n) ? Math.min(Math.max(n, 0), MAX_VOLATILE) : 0;
    for (let i = 0; i < count; i += 1) {
      socket.volatile.emit('vol', i);
    }
    socket.emit('vol-done', count);
    ack(true);
  });
  on(socket, 'fetch', async ([rooms], ack) => {
    const target = rooms === null || rooms === undefined ? root : root.in(rooms);
    const sockets = await target.fetchSockets();
    const list = sockets.map((s) => ({ id: s.id, rooms: sorted(s.rooms), data: s.data, auth: s.handshake.auth }));
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    ack(list);
  });
  on(socket, 'nulls', (_data, ack) => {
    socket.emit('nulls-back', null);
    socket.emit('nulls-back', null);
    ack(null);
  });
  on(socket, 'has-socket', ([sid], ack) => {
    ack(root.sockets.has(sid));
  });
  on(socket, 'emit-reserved', ([name], ack) => {
    ack({
      socket: refuses(() => socket.emit(name, 'x')),
      broadcast: refuses(() => root.in(socket.id).emit(name, 'x')),
    });
  });
  on(socket, 'handshake', (_data, ack) => {
    const hs = socket.handshake;
    const xTest = hs.headers['x-test'];
    ack({
      query: { ...hs.query },
      auth: hs.auth,
      url: hs.url,
      issued: hs.issued,
      time: hs.time,
      address: hs.address,
      secure: hs.secure,
      xdomain: hs.xdomain,
      headers: { 'x-test': xTest === undefined ? null : xTest },
    });
  });
  socket.once('once-ev', () => {
    socket.emit('once-got');
  });
  socket.on('offable', () => {
    socket.emit('offable-got');
  });
  on(socket, 'off', ([name], ack) => {
    const had = socket.eventNames().includes(name);
    socket.removeAllListeners(name);
    const has = socket.eventNames().includes(name);
    ack({ had, has });
  });
  socket.on('forbidden', () => {
    socket.emit('forbidden-got');
  });
  on(socket, 'rewrite', (data) => {
    socket.emit('rewrite-got', ...data);
  });
  on(socket, 'seen', (_data, ack) => {
    ack(seen.filter((name) => name !== 'seen'));
  });
  on(socket, 'seen-out', (_data, ack) => {
    ack([...seenOut]);
  });
  on(socket, 'disconnect-me', ([close]) => {
    socket.disconnect(close === true);
  });
  on(socket, 'last-reason', ([sid], ack) => {
    ack(reasons.get(sid));
  });
  on(socket, 'ask-then-leave', (_data, ack) => {
    const sid = socket.id;
    socket.timeout(ASK_TIMEOUT_MS).emit('question', 'leave', (err, ...reply) => {
      outcomes.set(sid, err ? { error: 'timeout' } : { reply });
    });
    ack(true);
  });
  on(socket, 'ack-outcome', ([sid], ack) => {
    ack(outcomes.get(sid));
  });

  socket.emit('welcome', { id: socket.id, auth });
});

io.of('/custom').on('connection', (socket) => {
  commonListeners(socket);
  socket.emit('auth', socket.handshake.auth);
});

io.of(/^\/dyn-[0-9]+$/).on('connection', (socket) => {
  commonListeners(socket);
  socket.emit('dyn', { ns: socket.nsp.name });
});

const port = Number(process.env.PORT ?? 0);
httpServer.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
