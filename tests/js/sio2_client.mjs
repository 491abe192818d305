// Drives socket.io-client 2 (the npm alias socket.io-client-v2: Socket.IO protocol 4 over
// Engine.IO 3) against the Socket.IO 2 test server of tests/socketio_v2.rs, with a
// socket.io-client 4 beside it in one room.
//
// usage: node sio2_client.mjs <url> <polling|websocket|upgrade> [--path /socket.io/]
//            [--heartbeats n] [--step-timeout ms] [--timeout ms]
//
// The server (see tests/socketio_v2.rs): on connect every namespace emits `auth` with the
// socket's auth; `whoami` is acknowledged with the socket's id as the server knows it;
// on `/`, `message` comes back as `message-back`, `message-with-ack` is acknowledged with
// its arguments, `ask` makes the server emit `question` with an ack and send the reply back
// as `answer`, `join` joins a room, `shout` broadcasts `bc` to a room; `dm` emits `dm` to the
// room named by its first argument (on `/` and `/custom`); `/custom`'s disconnect is told to
// the `/` socket of the same connection as `custom-gone`; `/refuse` and `/refusedata` refuse
// every connection.
//
// Scenario, over one Manager (one Engine.IO connection): `/`, then `/custom` with the query
// `token=abc` (its auth); ids as the client computes them, and as the server knows them;
// echoes of text, objects, several arguments and nested Buffers; acks both ways; `to(id)`
// with the client's ids; two refused namespaces (their `error` event); a socket.io-client 4
// and this client in one room get the same broadcast; `/custom` leaves on its own while `/`
// goes on; the connection stays up for n heartbeats; then everything disconnects.
// Exit code 0 = pass; otherwise the reason is on stderr.

import sio2 from 'socket.io-client-v2';
import {
  DEFAULT_STEP_TIMEOUT_MS,
  DEFAULT_TOTAL_TIMEOUT_MS,
  EventQueue,
  assert,
  assertEqual,
  cli,
  connectSocketIo,
  main,
  millis,
  once,
  show,
  toBuffer,
  withTimeout,
} from './lib.mjs';

const NAME = 'sio2_client';
const MODES = {
  polling: { transports: ['polling'], upgrade: false },
  websocket: { transports: ['websocket'], upgrade: false },
  upgrade: { transports: ['polling', 'websocket'], upgrade: true },
};

const { args, opts } = cli(
  'node sio2_client.mjs <url> <polling|websocket|upgrade> [--path P] [--heartbeats n] [--step-timeout ms] [--timeout ms]',
  2,
  {
    path: { type: 'string', default: '/socket.io/' },
    heartbeats: { type: 'string', default: '0' },
    'step-timeout': { type: 'string', default: String(DEFAULT_STEP_TIMEOUT_MS) },
    timeout: { type: 'string', default: String(DEFAULT_TOTAL_TIMEOUT_MS) },
  },
);
const [url, mode] = args;
if (!(mode in MODES)) {
  console.error(`${NAME}: unknown mode ${show(mode)}; expected polling, websocket or upgrade`);
  process.exit(2);
}
const stepMs = millis(opts['step-timeout'], 'step-timeout');
const totalMs = millis(opts.timeout, 'timeout');
const heartbeats = Number(opts.heartbeats);

/** Emits with an acknowledgement; resolves with the ack's arguments. */
function call(socket, event, ...rest) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, ...rest, (...reply) => resolve(reply))),
    stepMs,
    `the ack of "${event}" on ${socket.nsp}`,
  );
}

/** Buffers anywhere in a value as Buffers (the 2.x client gives Buffers in Node already). */
function normalize(value) {
  const buf = toBuffer(value);
  if (buf !== null && typeof value !== 'string') {
    return Buffer.from(buf);
  }
  if (Array.isArray(value)) {
    return value.map(normalize);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

/** The argument lists echoed: a string, an object, several arguments, nested binary. */
const ECHOES = [
  ['a string', ['héllo 😀']],
  ['an object', [{ a: [1, { b: null }], c: 'd', e: true }]],
  ['several arguments', [1, '2', { 3: [false] }, [4, 5]]],
  [
    'nested Buffers',
    [Buffer.from([0, 1, 0xfe, 0xff]), { deep: { bin: Buffer.from('bytes'), list: [Buffer.alloc(0), 7] } }],
  ],
];

/** Connects a socket of the Manager and waits for its `auth` event. */
async function join(manager, nsp, socketOpts) {
  const socket = manager.socket(nsp, socketOpts);
  const auth = once(socket, 'auth', stepMs, `the "auth" event of ${nsp}`, ['error']);
  const connected = once(socket, 'connect', stepMs, `the connection to ${nsp}`, ['error', 'connect_error']);
  socket.open();
  await connected;
  const [payload] = await auth;
  return { socket, auth: payload };
}

main(`${NAME} (${mode})`, totalMs, async () => {
  const { transports, upgrade } = MODES[mode];
  const manager = new sio2.Manager(url, {
    path: opts.path,
    transports,
    upgrade,
    reconnection: false,
    autoConnect: false,
    timeout: stepMs,
  });
  const sockets = [];
  let v4 = null;
  try {
    const upgraded = upgrade
      ? new Promise((resolve) => manager.once('open', () => manager.engine.once('upgrade', resolve)))
      : null;
    // `/` and `/custom?token=abc` over one connection.
    const root = await join(manager, '/');
    sockets.push(root.socket);
    assertEqual(root.auth, {}, 'auth of /');
    const custom = await join(manager, '/custom', { query: { token: 'abc' } });
    sockets.push(custom.socket);
    assertEqual(custom.auth, { token: 'abc' }, 'auth of /custom (its query)');
    const engineId = manager.engine.id;
    assertEqual(root.socket.id, engineId, 'the id of / (the Engine.IO id)');
    assertEqual(custom.socket.id, `/custom#${engineId}`, 'the id of /custom');
    assertEqual(await call(root.socket, 'whoami'), [root.socket.id], 'the id of / as the server knows it');
    assertEqual(await call(custom.socket, 'whoami'), [custom.socket.id], 'the id of /custom as the server knows it');

    // Echoes and acks from the client.
    const backs = new EventQueue(root.socket, 'message-back');
    for (const [label, list] of ECHOES) {
      root.socket.emit('message', ...list);
      const got = await backs.next(stepMs, `the echo of ${label}`);
      assertEqual(normalize(got), list, `echo of ${label}`);
      assertEqual(normalize(await call(root.socket, 'message-with-ack', ...list)), list, `ack of ${label}`);
    }

    // An ack the server asks for (with binary both ways).
    root.socket.on('question', (q, bin, ack) => {
      ack('reply to ' + q, Buffer.concat([Buffer.from(bin), Buffer.from([9])]));
    });
    const answer = once(root.socket, 'answer', stepMs, 'the "answer" event');
    root.socket.emit('ask');
    const reply = await answer;
    assertEqual(normalize(reply), ['reply to q?', Buffer.from([1, 2, 9])], 'the reply the server got');

    // `to(id)` with the ids as the client computes them.
    for (const s of [root.socket, custom.socket]) {
      const dm = once(s, 'dm', stepMs, `a dm to ${s.id}`);
      s.emit('dm', s.id, `for ${s.nsp}`);
      assertEqual(await dm, [`for ${s.nsp}`], `dm to ${s.id}`);
    }

    // Refusals: the error event, and the connection goes on.
    for (const [nsp, expected] of [
      ['/refuse', 'not authorized'],
      ['/refusedata', { code: 42, why: 'bad token' }],
    ]) {
      const s = manager.socket(nsp);
      const [err] = await (async () => {
        const e = once(s, 'error', stepMs, `the refusal of ${nsp}`, ['connect']);
        s.open();
        return e;
      })();
      assertEqual(err, expected, `the error of ${nsp}`);
      s.close();
    }

    // A socket.io-client 4 and this client in one room: the same broadcast.
    v4 = await connectSocketIo(url, { path: opts.path, transports: ['websocket'] }, stepMs);
    assertEqual(await call(v4, 'join', 'mixed'), ['mixed'], 'the v4 join');
    assertEqual(await call(root.socket, 'join', 'mixed'), ['mixed'], 'the v2 join');
    const shouted = ['everyone', { n: 1 }, Buffer.from([7, 7])];
    const gotV4 = once(v4, 'bc', stepMs, 'the broadcast at the 4.x client');
    const gotV2 = once(root.socket, 'bc', stepMs, 'the broadcast at the 2.x client');
    root.socket.emit('shout', 'mixed', ...shouted);
    assertEqual(normalize(await gotV2), shouted, 'the broadcast at the 2.x client');
    assertEqual(normalize(await gotV4), shouted, 'the broadcast at the 4.x client');

    // `/custom` leaves; `/` goes on.
    const gone = once(root.socket, 'custom-gone', stepMs, 'the server-side disconnect of /custom');
    custom.socket.disconnect();
    assertEqual(await gone, ['client namespace disconnect'], 'the reason the server saw');
    assertEqual(await call(root.socket, 'whoami'), [root.socket.id], '/ after /custom left');

    if (upgraded) {
      await withTimeout(upgraded, stepMs, 'the upgrade to websocket');
    }
    // Heartbeats: the client pings, the server answers.
    for (let i = 0; i < heartbeats; i += 1) {
      await once(manager.engine, 'pong', stepMs, `heartbeat ${i + 1} of ${heartbeats}`, ['close']);
    }
    const transport = manager.engine.transport.name;
    assertEqual(transport, upgrade ? 'websocket' : transports[0], 'the transport at the end');

    const ids = `${root.socket.id} and ${custom.socket.id}`;
    const closed = once(root.socket, 'disconnect', stepMs, 'the disconnect of /');
    root.socket.disconnect();
    assertEqual(await closed, ['io client disconnect'], 'the disconnect reason of /');
    return `ids ${ids}, over ${transport}, ${heartbeats} heartbeat(s)`;
  } finally {
    for (const s of sockets) {
      s.close();
    }
    v4?.disconnect();
    manager.close?.();
  }
});
