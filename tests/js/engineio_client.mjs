// Drives the official engine.io-client against an Engine.IO echo server (the
// `engineio_conformance` example: every message comes back unchanged).
//
// usage: node engineio_client.mjs <url> <polling|websocket|upgrade>
//            [--path /engine.io/] [--step-timeout ms] [--timeout ms] [--heartbeats n]
//            [--eio 3|4]
//
// --eio 3 runs engine.io-client 3 (the npm alias engine.io-client-v3: Engine.IO 3, the
// client of Socket.IO 2) instead of the current one.
//
// The Engine.IO path comes from --path, else from the URL's path when it has one, else it is
// `/engine.io/`. The driver sends text messages (ASCII, multi-byte UTF-8, empty, 64 KiB) and
// binary ones (Buffer, ArrayBuffer, Uint8Array view, empty, 64 KiB), and expects each echoed
// back unchanged and in order. In `upgrade` mode the first half is sent right after the
// handshake, while the upgrade is under way; the transport must then become `websocket`,
// and the second half goes over it.
// With --heartbeats n it also stays connected for n heartbeats: until the server has pinged
// n times (Engine.IO 4), or answered n of the client's pings (Engine.IO 3).
// Exit code 0 = pass; otherwise the reason is on stderr.

import { Socket as Socket4 } from 'engine.io-client';
import Socket3 from 'engine.io-client-v3';
import {
  DEFAULT_STEP_TIMEOUT_MS,
  DEFAULT_TOTAL_TIMEOUT_MS,
  DriverError,
  EventQueue,
  assert,
  assertEqual,
  cli,
  describe,
  main,
  millis,
  once,
  show,
  toBuffer,
} from './lib.mjs';

const NAME = 'engineio_client';
const MODES = {
  polling: { transports: ['polling'], upgrade: false },
  websocket: { transports: ['websocket'], upgrade: false },
  upgrade: { transports: ['polling', 'websocket'], upgrade: true },
};

const { args, opts } = cli(
  'node engineio_client.mjs <url> <polling|websocket|upgrade> [--path P] [--step-timeout ms] [--timeout ms] [--heartbeats n] [--eio 3|4]',
  2,
  {
    path: { type: 'string' },
    'step-timeout': { type: 'string', default: String(DEFAULT_STEP_TIMEOUT_MS) },
    timeout: { type: 'string', default: String(DEFAULT_TOTAL_TIMEOUT_MS) },
    heartbeats: { type: 'string', default: '0' },
    eio: { type: 'string', default: '4' },
  },
);
const [url, mode] = args;
if (!(mode in MODES)) {
  console.error(`${NAME}: unknown mode ${show(mode)}; expected polling, websocket or upgrade`);
  process.exit(2);
}
let parsedUrl;
try {
  parsedUrl = new URL(url);
} catch {
  console.error(`${NAME}: not a URL: ${show(url)}`);
  process.exit(2);
}
const path = opts.path ?? (parsedUrl.pathname !== '/' ? parsedUrl.pathname : '/engine.io/');
const stepMs = millis(opts['step-timeout'], 'step-timeout');
const totalMs = millis(opts.timeout, 'timeout');
const heartbeats = Number(opts.heartbeats);
const eio = opts.eio;
if (eio !== '3' && eio !== '4') {
  console.error(`${NAME}: --eio must be 3 or 4`);
  process.exit(2);
}
if (!Number.isInteger(heartbeats) || heartbeats < 0) {
  console.error(`${NAME}: --heartbeats must be a non-negative integer`);
  process.exit(2);
}

/** Messages to send, as [label, value to send, what the echo must equal]. */
function messages(tag) {
  const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
  const arrayBuffer = new ArrayBuffer(5);
  new Uint8Array(arrayBuffer).set([0, 1, 0xfe, 0xff, 0x1e]);
  const backing = bytes(16, 7);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, 8);
  // No empty text message and no U+001E in text: over polling, Engine.IO 4 cannot carry
  // either unchanged (an empty message decodes as no data; U+001E separates packets).
  // Engine.IO 3 carries U+001E: its payloads count lengths (in UTF-16 units, which the
  // astral characters test). (Its client reads an empty message as no data.)
  const v3 =
    eio === '3'
      ? [
          [`${tag} separator and astral text`, `a\u001eb 😀𝕊 ${tag}`, `a\u001eb 😀𝕊 ${tag}`],
          [`${tag} text with a colon and digits`, `12:4x ${tag}`, `12:4x ${tag}`],
        ]
      : [];
  return [
    ...v3,
    [`${tag} text`, `hello ${tag}`, `hello ${tag}`],
    [`${tag} utf-8 text`, `héllo wörld 你好 🌍 ${tag}`, `héllo wörld 你好 🌍 ${tag}`],
    [`${tag} 64 KiB text`, 'x'.repeat(65_536), 'x'.repeat(65_536)],
    [`${tag} Buffer`, bytes(10, 1), bytes(10, 1)],
    [`${tag} ArrayBuffer`, arrayBuffer, Buffer.from([0, 1, 0xfe, 0xff, 0x1e])],
    [`${tag} Uint8Array view`, view, Buffer.from(backing.subarray(4, 12))],
    [`${tag} empty Buffer`, Buffer.alloc(0), Buffer.alloc(0)],
    [`${tag} 64 KiB Buffer`, bytes(65_536, 3), bytes(65_536, 3)],
  ];
}

/** Sends every message at once, then checks the echoes arrive unchanged and in order. */
async function echoAll(socket, incoming, batch) {
  for (const [, value] of batch) {
    socket.send(value);
  }
  for (const [label, , expected] of batch) {
    const [got] = await incoming.next(stepMs, `the echo of the ${label} message`);
    if (typeof expected === 'string') {
      assert(typeof got === 'string', `${label}: expected a text message back, got ${show(got)}`);
      assert(got === expected, `${label}: echo differs (length ${got.length}, expected ${expected.length}): ${show(got)}`);
    } else {
      const buf = toBuffer(got);
      assert(buf !== null, `${label}: expected a binary message back, got ${show(got)}`);
      assertEqual(buf, expected, `${label}: echo`);
    }
  }
  return batch.length;
}

main(NAME, totalMs, async () => {
  const { transports, upgrade } = MODES[mode];
  const origin = `${parsedUrl.protocol}//${parsedUrl.host}`;
  const Socket = eio === '3' ? Socket3 : Socket4;
  const socket = new Socket(origin, { path, transports, upgrade });
  const incoming = new EventQueue(socket, 'message');
  // The heartbeats seen: the server's pings (Engine.IO 4), or its pongs to the client's
  // pings (Engine.IO 3, where the client pings).
  const beat = eio === '3' ? 'pong' : 'ping';
  let pings = 0;
  socket.on(beat, () => {
    pings += 1;
  });
  let closedEarly = null;
  const onEarlyClose = (reason, details) => {
    closedEarly = details === undefined ? String(reason) : `${reason}: ${describe(details?.description ?? details)}`;
  };
  socket.on('close', onEarlyClose);
  let upgraded = null;
  if (upgrade) {
    upgraded = once(socket, 'upgrade', stepMs * 2, 'the upgrade to websocket', ['upgradeError', 'close']);
    upgraded.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
  }

  try {
    await once(socket, 'open', stepMs, `the Engine.IO handshake at ${origin}${path}`, ['error', 'close']);
    const sid = socket.id;
    assert(typeof sid === 'string' && sid.length > 0, `no session id after open: ${show(sid)}`);
    const first = upgrade ? 'polling' : transports[0];
    assertEqual(socket.transport.name, first, 'transport after open');

    let echoed = await echoAll(socket, incoming, messages(`${mode}-1`));
    if (upgrade) {
      const [transport] = await upgraded;
      assertEqual(transport?.name, 'websocket', 'transport given by the upgrade event');
      assertEqual(socket.transport.name, 'websocket', 'transport after the upgrade');
    }
    echoed += await echoAll(socket, incoming, messages(`${mode}-2`));
    assertEqual(socket.transport.name, upgrade ? 'websocket' : first, 'transport after the echoes');

    if (heartbeats > 0) {
      while (pings < heartbeats) {
        await once(socket, beat, stepMs, `heartbeat ${pings + 1} of ${heartbeats}`, ['close']);
      }
    }
    assert(closedEarly === null, `the connection closed early: ${closedEarly}`);

    socket.off('close', onEarlyClose);
    const closed = once(socket, 'close', stepMs, 'the close of the connection');
    socket.close();
    const [reason] = await closed;
    assertEqual(reason, 'forced close', 'close reason');
    return `EIO=${eio} ${mode} via ${path}: ${echoed} messages echoed, ${pings} heartbeat(s), session ${sid}`;
  } catch (err) {
    if (closedEarly !== null && err instanceof DriverError) {
      throw new DriverError(`${err.message} (the connection had closed: ${closedEarly})`);
    }
    throw err;
  } finally {
    socket.close();
  }
});
