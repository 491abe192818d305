// The MessagePack parser cases, shared by the Node driver (socketio_msgpack.mjs, with
// socket.io-client and socket.io-msgpack-parser) and the browser page (browser/msgpack.mjs,
// with /socket.io/socket.io.msgpack.min.js served by our server). Plain ES module, no Node
// API: it runs in both.
//
// The server (tests/socketio_msgpack.rs) speaks the MessagePack parser and has these handlers:
//   /          on connect emits `auth` with the CONNECT payload; `message` -> `message-back`
//              with the same arguments; `message-with-ack` acknowledged with the same
//              arguments; `ask` -> emits `q` ("question", <01 02 03>, {nested: [<04>]}) with an
//              ack request, then `q-answer` with the client's answer as it came; `broadcast-me`
//              -> `broadcasted` to every socket of `/`; `disconnect-me` -> disconnects it;
//              `reason-of` <sid> -> acknowledged with the disconnect reason the server saw
//              for that socket (null while it is connected).
//   /custom    on connect emits `auth` with the CONNECT payload.
//   /refuse    refused: connect_error "nope" with data {code: 1, bin: <ff 00>}.
//
// `bytes(list)` makes binary the way the running client sends it (Buffer in Node, ArrayBuffer
// in a browser: its notepack encoder writes Uint8Array as a map of indices); received binary
// is compared by bytes whatever its JS type.

/**
 * Binary in any form becomes `{ bin: [..bytes] }` and object keys are sorted, recursively,
 * for comparisons (key order is not part of the data).
 */
export function plain(value) {
  if (value instanceof ArrayBuffer) {
    return { bin: [...new Uint8Array(value)] };
  }
  if (ArrayBuffer.isView(value)) {
    return { bin: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] };
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, plain(value[k])]),
    );
  }
  return value;
}

function same(actual, expected, what) {
  const a = JSON.stringify(plain(actual));
  const e = JSON.stringify(plain(expected));
  if (a !== e) {
    throw new Error(`${what}: expected ${e}, got ${a}`);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs every case; resolves with the names of the cases that passed, rejects with the first
 * failure. `io` is socket.io-client's `io`; `parser` the MessagePack parser (undefined for
 * the msgpack bundle, whose default it is); `bytes(list)` makes binary for this client.
 */
export async function runCases({ io, parser, url, transports, bytes, step = 5000 }) {
  const passed = [];
  const open = [];
  const connect = (nsp, auth) =>
    new Promise((resolve, reject) => {
      const options = { transports, forceNew: true, reconnection: false, timeout: step };
      if (parser) options.parser = parser;
      if (auth) options.auth = auth;
      const socket = io(url + nsp, options);
      open.push(socket);
      const events = new Map();
      const waiters = new Map();
      socket.onAny((event, ...args) => {
        const w = waiters.get(event);
        if (w && w.length > 0) {
          w.shift()(args);
        } else {
          if (!events.has(event)) events.set(event, []);
          events.get(event).push(args);
        }
      });
      socket.next = (event) => {
        const queued = events.get(event);
        if (queued && queued.length > 0) return Promise.resolve(queued.shift());
        return withTimeout(
          new Promise((r) => {
            if (!waiters.has(event)) waiters.set(event, []);
            waiters.get(event).push(r);
          }),
          step,
          `event "${event}" on ${nsp}`,
        );
      };
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(Object.assign(new Error(`connect_error on ${nsp}: ${err.message}`), { cause: err })));
    });
  const call = (socket, event, ...args) =>
    withTimeout(new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))), step, `the ack of "${event}"`);
  const ran = async (name, body) => {
    try {
      await body();
    } catch (err) {
      throw new Error(`${name}: ${err.message}`);
    }
    passed.push(name);
  };

  try {
    const s = await connect('/');
    same(await s.next('auth'), [{}], 'the auth event without a payload');

    await ran('string', async () => {
      s.emit('message', 'hello é 你好');
      same(await s.next('message-back'), ['hello é 你好'], 'message-back');
    });
    await ran('object', async () => {
      const o = { a: 1, b: [true, null, -2.5], c: { d: 'x', e: [] }, big: 2 ** 40 };
      s.emit('message', o);
      same(await s.next('message-back'), [o], 'message-back');
    });
    await ran('several arguments', async () => {
      s.emit('message', 1, 'two', [3], { four: 4 }, null);
      same(await s.next('message-back'), [1, 'two', [3], { four: 4 }, null], 'message-back');
    });
    await ran('nested binary, client to server and back', async () => {
      const args = [{ file: bytes([1, 2, 3]), list: [bytes([]), { deep: bytes([255, 0]) }] }, bytes([9])];
      s.emit('message', ...args);
      same(await s.next('message-back'), args, 'message-back');
    });
    await ran('ack, client to server', async () => {
      same(await call(s, 'message-with-ack', 'x', bytes([7, 8])), ['x', bytes([7, 8])], 'the ack');
    });
    await ran('ack, server to client (binary both ways)', async () => {
      const question = new Promise((resolve) =>
        s.once('q', (...args) => {
          const ack = args.pop();
          ack('answer', bytes([5, 6]), { n: 1 });
          resolve(args);
        }),
      );
      s.emit('ask');
      same(await withTimeout(question, step, 'the "q" event'), ['question', bytes([1, 2, 3]), { nested: [bytes([4])] }], 'the question');
      same(await s.next('q-answer'), ['answer', bytes([5, 6]), { n: 1 }], 'the answer the server got');
    });
    await ran('broadcast', async () => {
      s.emit('broadcast-me', 'to all', bytes([3]));
      same(await s.next('broadcasted'), ['to all', bytes([3])], 'broadcasted');
    });
    await ran('custom namespace with auth', async () => {
      const auth = { token: 'abc', bin: bytes([1, 2]), n: [1, 2] };
      const c = await connect('/custom', auth);
      same(await c.next('auth'), [auth], 'the auth event');
      c.disconnect();
    });
    await ran('connect_error with data', async () => {
      let error;
      try {
        await connect('/refuse');
      } catch (err) {
        error = err.cause;
      }
      if (!error) throw new Error('/refuse accepted the connection');
      same(error.message, 'nope', 'the message');
      same(error.data, { code: 1, bin: bytes([255, 0]) }, 'the data');
    });
    await ran('disconnect by the server', async () => {
      const d = await connect('/');
      await d.next('auth');
      const reason = new Promise((resolve) => d.once('disconnect', resolve));
      d.emit('disconnect-me');
      same(await withTimeout(reason, step, 'the disconnect'), 'io server disconnect', 'the reason');
    });
    await ran('disconnect by the client', async () => {
      const id = s.id;
      const reason = new Promise((resolve) => s.once('disconnect', resolve));
      s.disconnect();
      same(await withTimeout(reason, step, 'the disconnect'), 'io client disconnect', 'the reason');
      // What the server saw, asked on another connection.
      const other = await connect('/');
      const deadline = Date.now() + step;
      let seen = null;
      while (seen === null && Date.now() < deadline) {
        [seen] = await call(other, 'reason-of', id);
        if (seen === null) await new Promise((r) => setTimeout(r, 50));
      }
      same(seen, 'client namespace disconnect', 'the reason the server saw');
    });
  } finally {
    for (const socket of open) socket.disconnect();
  }
  return passed;
}
