// Connection state recovery with the official socket.io-client, against the server of
// tests/recovery_support (recovery on, a cutting proxy in front, a control namespace).
//
// usage: node recovery/recover.mjs <proxied-url> <ctl-url> --case C [--transports T]
//            [--middlewares skip|run] [--hold ms] [--parser json|msgpack]
//
// Cases (each prints `recover: ok: ...` on success, exits 1 with the reason otherwise):
//   recover   the client is cut twice, first by the server side (the proxy closes the TCP
//             connections), then by its own engine (`socket.io.engine.close()`); each time
//             the server broadcasts while it is away, and the client must come back with the
//             same id, rooms and data, `recovered` true on both sides, exactly the missed
//             broadcasts for it in order (before its `connect` event), then live ones;
//             --middlewares says whether the server runs them again
//   expire    cut, and the client kept away for --hold ms (longer than the server's
//             max_disconnection_duration): a new socket, nothing replayed
//   forged    a forged pid, the pid of a socket still connected, and the pid of a socket
//             already recovered (presented again): never recovered
//   kicked    the server's `socket.disconnect()`: not recoverable
//   left      the client's own `socket.disconnect()`: not recoverable
//   refused   the middleware refuses the recovered socket once (connect_error); the next
//             attempt recovers (the session was put back)
//   chunks    the server `emit_wait`s 2,000 chunks of 1 KiB through a 16 KiB queue: every
//             chunk arrives once, in order, with an offset, and the connection is never
//             cut (the stored emit waits for room instead of closing a slow reader)
//   sio2      a socket.io-client 2 (Socket.IO 2 has no recovery) beside a 4.x client in the
//             same room of a recovery-enabled server: its CONNECT has no pid, its events
//             (direct and broadcast) no offset, while the 4.x client gets both
//   stream    the server broadcasts a number every 2 ms while the client is cut three
//             times: every number arrives once, in order (run it against a server whose
//             store answers late, so that live packets race with the replay)
//
// Reconnection uses a short fixed delay (100 ms, no jitter) to keep the test quick; the
// recovery protocol itself is the client's own.

import { isDeepStrictEqual } from 'node:util';
import { io } from 'socket.io-client';
import sio2 from 'socket.io-client-v2';
import msgpackParser from 'socket.io-msgpack-parser';
import {
  DriverError,
  assert,
  assertEqual,
  cli,
  connectSocketIo,
  main,
  millis,
  once,
  show,
  sleep,
  toBuffer,
  withTimeout,
} from '../lib.mjs';

const NAME = 'recover';
const { args, opts } = cli(
  'node recovery/recover.mjs <proxied-url> <ctl-url> --case C [--transports T] [--middlewares skip|run] [--hold ms] [--parser json|msgpack]',
  2,
  {
    case: { type: 'string' },
    transports: { type: 'string', default: 'websocket' },
    middlewares: { type: 'string', default: 'skip' },
    hold: { type: 'string', default: '1' },
    parser: { type: 'string', default: 'json' },
  },
);
const [url, ctlUrl] = args;
const transports = opts.transports.split(',');
const hold = millis(opts.hold, 'hold');
const STEP = 10_000;
// `--parser msgpack`: every client speaks socket.io-msgpack-parser (the server must too).
const parser = opts.parser === 'msgpack' ? { parser: msgpackParser } : {};

/** Sends a control command and waits for its answer. */
let ctl;
async function ask(command, arg) {
  const reply = arg === undefined
    ? ctl.timeout(STEP).emitWithAck(command)
    : ctl.timeout(STEP).emitWithAck(command, arg);
  return withTimeout(reply, STEP + 1000, `the control command ${command}`);
}

/**
 * A client of `/` through the proxy, with reconnection on and the client's recovery
 * protocol. Every event it receives is logged with its arguments (the trailing offset
 * included), and so is each `connect`.
 */
function client(extra = {}) {
  const socket = io(url, {
    forceNew: true,
    transports,
    reconnectionDelay: 100,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
    timeout: STEP,
    autoConnect: false,
    ...parser,
    ...extra,
  });
  socket.log = [];
  socket.onAny((event, ...rest) => socket.log.push([event, ...rest]));
  socket.on('connect', () => socket.log.push(['<connect>', socket.recovered]));
  return socket;
}

async function connect(socket) {
  const connected = once(socket, 'connect', STEP, 'connect', ['connect_error']);
  socket.connect();
  await connected;
  if (transports.length > 1) {
    // Upgrade mode: wait until the connection runs over WebSocket.
    if (socket.io.engine.transport.name !== 'websocket') {
      await once(socket.io.engine, 'upgrade', STEP, 'the upgrade to WebSocket');
    }
  }
}

/** Waits until the log holds an event named `name` after index `from`; its index. */
async function logged(socket, name, from = 0) {
  const deadline = Date.now() + STEP;
  for (;;) {
    const i = socket.log.findIndex((e, j) => j >= from && e[0] === name);
    if (i >= 0) {
      return i;
    }
    if (Date.now() > deadline) {
      throw new DriverError(`no "${name}" event; the log: ${show(socket.log)}`);
    }
    await sleep(5);
  }
}

async function whoami(socket) {
  return withTimeout(socket.timeout(STEP).emitWithAck('whoami'), STEP + 1000, 'whoami');
}

/** The log without the trailing offsets, which every stored event must carry. */
function withoutOffsets(log, what) {
  const offsets = new Set();
  const out = log.map((entry) => {
    if (entry[0] === '<connect>') {
      return entry;
    }
    const offset = entry[entry.length - 1];
    assert(typeof offset === 'string' && offset.length > 0, `${what}: ${entry[0]} carries no offset: ${show(entry)}`);
    assert(!offsets.has(offset), `${what}: offset ${offset} came twice: ${show(log)}`);
    offsets.add(offset);
    return entry.slice(0, -1).map((v) => toBuffer(v) ?? v);
  });
  return out;
}

const MISSED = [
  ['to-sid', 1],
  ['direct-while-away', 2],
  ['all', 3],
  ['room1', 4],
  ['bin', Buffer.from([1, 2, 3])],
];

async function firstConnection(socket) {
  await connect(socket);
  await logged(socket, 'hello');
  assertEqual(socket.recovered, false, 'recovered on the first connection');
  const me = await whoami(socket);
  assertEqual(me.recovered, false, 'server-side recovered on the first connection');
  assertEqual(me.id, socket.id, 'server-side id');
  assertEqual(me.rooms, [socket.id, 'room1'].sort(), 'rooms on the first connection');
  assertEqual(me.data, { user: 7 }, 'data on the first connection');
  return me;
}

/** Cuts the client (`how`: 'server' or 'client'), then checks a full recovery. */
async function cutAndRecover(socket, how) {
  const id = socket.id;
  socket.log.length = 0;
  const back = once(socket, 'connect', 3 * STEP, `the reconnection after the ${how} cut`);
  let reason;
  if (how === 'server') {
    // The proxy holds new connections until the server has broadcast.
    reason = await ask('cut', { sid: id });
  } else {
    // The engine's close must reach the server (a polling client posts a close packet), so
    // the proxy cannot hold the reconnection: the Manager waits instead, and reconnects
    // once the server has broadcast.
    socket.io.reconnection(false);
    const gone = once(socket, 'disconnect', STEP, 'the disconnection');
    socket.io.engine.close();
    await gone;
    reason = await ask('away', { sid: id });
    socket.io.reconnection(true);
    socket.connect();
  }
  assert(
    ['transport close', 'transport error', 'ping timeout'].includes(reason),
    `${how} cut: server-side reason ${show(reason)}`,
  );
  await back;
  if (transports.length > 1 && socket.io.engine.transport.name !== 'websocket') {
    await once(socket.io.engine, 'upgrade', STEP, 'the upgrade to WebSocket');
  }
  await logged(socket, 'hello');
  assertEqual(socket.recovered, true, `${how} cut: socket.recovered`);
  assertEqual(socket.id, id, `${how} cut: socket.id`);
  const log = withoutOffsets(socket.log, `${how} cut`);
  assertEqual(log, [...MISSED, ['<connect>', true], ['hello', true]], `${how} cut: what arrived, in order`);
  const liveAt = socket.log.length;
  await ask('live');
  const i = await logged(socket, 'live', liveAt);
  assertEqual(withoutOffsets(socket.log.slice(i), 'live'), [['live', 9]], `${how} cut: the live broadcast`);
  const me = await whoami(socket);
  assertEqual(me.id, id, `${how} cut: server-side id`);
  assertEqual(me.recovered, true, `${how} cut: server-side recovered`);
  assertEqual(me.rooms, [id, 'room1'].sort(), `${how} cut: rooms`);
  assertEqual(me.data, { user: 7 }, `${how} cut: data`);
  assertEqual(me.auth.token, 'abc', `${how} cut: the user's auth`);
  assert(typeof me.auth.pid === 'string' && typeof me.auth.offset === 'string', `${how} cut: handshake.auth keeps pid and offset as Node does: ${show(me.auth)}`);
  return reason;
}

/** A fresh socket connected with `auth` must be a new one. */
async function notRecovered(auth, victimId, what) {
  const s = client({ auth, reconnection: false });
  try {
    await connect(s);
    await logged(s, 'hello');
    const me = await whoami(s);
    assertEqual(me.recovered, false, `${what}: server-side recovered`);
    assert(me.id !== victimId, `${what}: got the other socket's id`);
    assertEqual(me.rooms, [me.id, 'room1'].sort(), `${what}: rooms of a new socket`);
    assertEqual(s.log.map((e) => e[0]), ['<connect>', 'hello'], `${what}: nothing replayed`);
  } finally {
    s.disconnect();
  }
}

main(NAME, 60_000, async () => {
  ctl = await connectSocketIo(`${ctlUrl}/ctl`, { transports: ['websocket'], ...parser }, STEP);
  try {
    switch (opts.case) {
      case 'recover': {
        const socket = client({ auth: { token: 'abc' } });
        try {
          await firstConnection(socket);
          const r1 = await cutAndRecover(socket, 'server');
          const r2 = await cutAndRecover(socket, 'client');
          const runs = await ask('runs');
          const expected = opts.middlewares === 'run' ? [false, true, true] : [false];
          assertEqual(runs, expected, 'middleware runs (recovered flag of each)');
          return `${transports.join('+')}: recovered twice as ${socket.id} (reasons ${r1}, ${r2}), middleware runs ${show(runs)}`;
        } finally {
          socket.disconnect();
        }
      }
      case 'expire': {
        const socket = client({ auth: { token: 'abc' } });
        try {
          const first = await firstConnection(socket);
          socket.log.length = 0;
          const back = once(socket, 'connect', 3 * STEP, 'the reconnection');
          await ask('cut', { sid: first.id, hold });
          await back;
          await logged(socket, 'hello');
          assertEqual(socket.recovered, false, 'socket.recovered after the window');
          assert(socket.id !== first.id, 'same id after the window');
          assertEqual(socket.log.map((e) => e[0]), ['<connect>', 'hello'], 'nothing replayed after the window');
          const me = await whoami(socket);
          assertEqual(me.recovered, false, 'server-side recovered after the window');
          return `after ${hold} ms away: a new socket ${socket.id}`;
        } finally {
          socket.disconnect();
        }
      }
      case 'forged': {
        const a = client({ auth: { token: 'abc' } });
        try {
          const first = await firstConnection(a);
          const pid = a._pid;
          const offset = a._lastOffset;
          assert(typeof pid === 'string' && pid.length === 20, `the client's pid: ${show(pid)}`);
          assert(typeof offset === 'string', `the client's last offset: ${show(offset)}`);
          await notRecovered({ pid: 'AAAAAAAAAAAAAAAAAAAA', offset }, first.id, 'a forged pid');
          await notRecovered({ pid: 'x', offset }, first.id, 'a pid of another shape');
          await notRecovered({ pid, offset: 12 }, first.id, 'an offset that is not a string');
          await notRecovered({ pid, offset }, first.id, 'the pid of a socket still connected');
          await cutAndRecover(a, 'server');
          await notRecovered({ pid, offset }, first.id, 'the pid of a socket already recovered');
          return 'forged, foreign and reused pids never recover';
        } finally {
          a.disconnect();
        }
      }
      case 'kicked':
      case 'left': {
        const socket = client({ auth: { token: 'abc' } });
        try {
          const first = await firstConnection(socket);
          const gone = once(socket, 'disconnect', STEP, 'the disconnection');
          if (opts.case === 'kicked') {
            await ask('kick', first.id);
          } else {
            socket.disconnect();
          }
          const [reason] = await gone;
          assertEqual(reason, opts.case === 'kicked' ? 'io server disconnect' : 'io client disconnect', 'client-side reason');
          assert(typeof socket._pid === 'string' && typeof socket._lastOffset === 'string', 'the client keeps its pid and offset');
          socket.log.length = 0;
          await connect(socket);
          await logged(socket, 'hello');
          const me = await whoami(socket);
          assert(typeof me.auth.pid === 'string', `the client presented a pid: ${show(me.auth)}`);
          assertEqual(me.recovered, false, 'server-side recovered');
          assertEqual(socket.recovered, false, 'socket.recovered');
          assert(me.id !== first.id, 'same id after a deliberate disconnect');
          return `${opts.case}: a new socket ${me.id}`;
        } finally {
          socket.disconnect();
        }
      }
      case 'refused': {
        const socket = client({ auth: { token: 'abc' } });
        try {
          const first = await firstConnection(socket);
          await ask('refuse-next-recovered');
          socket.log.length = 0;
          const refused = once(socket, 'connect_error', 3 * STEP, 'the refusal');
          await ask('cut', { sid: first.id });
          const [err] = await refused;
          assertEqual(err.message, 'refused once', 'the refusal');
          socket.log.length = 0;
          await connect(socket);
          await logged(socket, 'hello');
          assertEqual(socket.recovered, true, 'recovered on the attempt after the refusal');
          assertEqual(socket.id, first.id, 'same id after the refusal');
          assertEqual(withoutOffsets(socket.log, 'after the refusal'), [...MISSED, ['<connect>', true], ['hello', true]], 'what arrived after the refusal');
          return 'refused once, recovered on the next attempt';
        } finally {
          socket.disconnect();
        }
      }
      case 'chunks': {
        const socket = client();
        const chunks = [];
        const offsets = new Set();
        let bad = null;
        socket.on('chunk', (n, text, offset) => {
          if (typeof offset !== 'string' || text.length !== 1024 || offsets.has(offset)) bad ??= `chunk ${n}: ${show([text.length, offset])}`;
          offsets.add(offset);
          chunks.push(n);
        });
        try {
          await firstConnection(socket);
          const reconnects = socket.log.filter((e) => e[0] === '<connect>').length;
          const connected = await ask('chunks', { sid: socket.id, count: 2000 });
          assertEqual(connected, true, 'still connected after the chunks');
          const deadline = Date.now() + STEP;
          while (chunks.length < 2000 && Date.now() < deadline) {
            await sleep(5);
          }
          assert(bad === null, bad);
          const expected = Array.from({ length: 2000 }, (_, i) => i);
          assertEqual(chunks, expected, 'the chunks, in order');
          assertEqual(socket.log.filter((e) => e[0] === '<connect>').length, reconnects, 'no reconnection');
          return '2000 stored chunks through a 16 KiB queue, in order, never cut';
        } finally {
          socket.disconnect();
        }
      }
      case 'sio2': {
        const modern = client();
        const old = sio2(url, { forceNew: true, transports, reconnection: false });
        const oldLog = [];
        const onAnyOld = old.onevent;
        old.onevent = function (packet) {
          oldLog.push(packet.data);
          onAnyOld.call(this, packet);
        };
        try {
          await firstConnection(modern);
          if (!old.connected) {
            await withTimeout(new Promise((resolve, reject) => {
              old.once('connect', resolve);
              old.once('error', reject);
            }), STEP, 'the Socket.IO 2 connection');
          }
          const deadline = Date.now() + STEP;
          while (!oldLog.some((e) => e[0] === 'hello') && Date.now() < deadline) {
            await sleep(5);
          }
          const at = modern.log.length;
          await ask('live');
          await logged(modern, 'live', at);
          while (!oldLog.some((e) => e[0] === 'live') && Date.now() < deadline) {
            await sleep(5);
          }
          assertEqual(oldLog, [['hello', false], ['live', 9]], 'what the Socket.IO 2 client got (no offsets)');
          assertEqual(withoutOffsets(modern.log.slice(at), 'the 4.x client'), [['live', 9]], 'what the 4.x client got');
          assert(typeof modern._pid === 'string', 'the 4.x client has a pid');
          return 'Socket.IO 2: no pid, no offsets; 4.x beside it: both';
        } finally {
          old.close();
          modern.disconnect();
        }
      }
      case 'stream': {
        const socket = client();
        const got = [];
        socket.on('n', (n, offset) => {
          if (typeof offset !== 'string') {
            got.push(`n=${n} without an offset`);
          }
          got.push(n);
        });
        try {
          await firstConnection(socket);
          await ask('stream-start');
          for (let k = 0; k < 3; k++) {
            await sleep(150);
            const back = once(socket, 'connect', 3 * STEP, `reconnection ${k + 1}`);
            await ask('cut-only', socket.id);
            await back;
            assertEqual(socket.recovered, true, `recovered after cut ${k + 1}`);
          }
          await sleep(100);
          const last = await ask('stream-stop');
          const deadline = Date.now() + STEP;
          while (got.at(-1) !== last && Date.now() < deadline) {
            await sleep(5);
          }
          assert(got.length > 0 && typeof got[0] === 'number', `first numbers: ${show(got.slice(0, 5))}`);
          const expected = Array.from({ length: last - got[0] + 1 }, (_, i) => got[0] + i);
          if (!isDeepStrictEqual(got, expected)) {
            const dups = got.filter((n, i) => got.indexOf(n) !== i);
            const missing = expected.filter((n) => !got.includes(n));
            throw new DriverError(`numbers ${got[0]}..${last}: ${dups.length} twice ${show(dups.slice(0, 10))}, ${missing.length} missing ${show(missing.slice(0, 10))}, ${got.length} received`);
          }
          return `${got.length} numbers through 3 cuts, none lost, none twice, in order`;
        } finally {
          socket.disconnect();
        }
      }
      default:
        throw new DriverError(`unknown --case ${show(opts.case)}`);
    }
  } finally {
    ctl.disconnect();
  }
});
