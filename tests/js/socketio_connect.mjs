// Connect check with the official socket.io-client against the `socketio_conformance` example
// (on connect, every namespace emits `auth` with the CONNECT payload).
//
// usage: node socketio_connect.mjs <url> [--transports polling,websocket] [--auth JSON]
//            [--path /socket.io/] [--step-timeout ms] [--timeout ms]
//
// The URL's path is the namespace (`http://127.0.0.1:3000/custom`; none means `/`); the
// Socket.IO path comes from --path (default `/socket.io/`). The driver connects, expects the
// `auth` event to carry exactly the auth payload it sent (`{}` when --auth is not given),
// disconnects, and checks the disconnect reason.
// Exit code 0 = pass; otherwise the reason is on stderr.

import {
  DEFAULT_STEP_TIMEOUT_MS,
  DEFAULT_TOTAL_TIMEOUT_MS,
  DriverError,
  assert,
  assertEqual,
  cli,
  connectSocketIo,
  main,
  millis,
  once,
  show,
  withTimeout,
} from './lib.mjs';

const NAME = 'socketio_connect';
const { args, opts } = cli(
  'node socketio_connect.mjs <url> [--transports polling,websocket] [--auth JSON] [--path P] [--step-timeout ms] [--timeout ms]',
  1,
  {
    transports: { type: 'string', default: 'polling,websocket' },
    auth: { type: 'string' },
    path: { type: 'string', default: '/socket.io/' },
    'step-timeout': { type: 'string', default: String(DEFAULT_STEP_TIMEOUT_MS) },
    timeout: { type: 'string', default: String(DEFAULT_TOTAL_TIMEOUT_MS) },
  },
);
const [url] = args;
try {
  new URL(url);
} catch {
  console.error(`${NAME}: not a URL: ${show(url)}`);
  process.exit(2);
}
const transports = opts.transports.split(',').filter((t) => t.length > 0);
if (transports.length === 0 || transports.some((t) => t !== 'polling' && t !== 'websocket')) {
  console.error(`${NAME}: --transports must list polling and/or websocket, got ${show(opts.transports)}`);
  process.exit(2);
}
let auth;
if (opts.auth !== undefined) {
  try {
    auth = JSON.parse(opts.auth);
  } catch (err) {
    console.error(`${NAME}: --auth is not JSON: ${err.message}`);
    process.exit(2);
  }
}
const stepMs = millis(opts['step-timeout'], 'step-timeout');
const totalMs = millis(opts.timeout, 'timeout');

main(NAME, totalMs, async () => {
  const options = { path: opts.path, transports };
  if (auth !== undefined) {
    options.auth = auth;
  }
  let onAuth;
  let onEarlyDisconnect;
  const authEvent = new Promise((resolve, reject) => {
    onAuth = (...received) => resolve(received);
    onEarlyDisconnect = (reason) => reject(new DriverError(`disconnected (${reason}) before the "auth" event`));
  });
  authEvent.catch(() => {}); // awaited below, unless the connect itself fails
  const socket = await connectSocketIo(url, options, stepMs, { auth: onAuth, disconnect: onEarlyDisconnect });
  try {
    assert(typeof socket.id === 'string' && socket.id.length > 0, `no socket id after connect: ${show(socket.id)}`);
    const [payload, ...rest] = await withTimeout(authEvent, stepMs, 'the "auth" event');
    assertEqual(rest, [], 'extra arguments of the "auth" event');
    assertEqual(payload, auth ?? {}, 'payload of the "auth" event');
    const transport = socket.io.engine.transport.name;
    const id = socket.id;
    socket.off('disconnect', onEarlyDisconnect);
    const disconnected = once(socket, 'disconnect', stepMs, 'the disconnect event');
    socket.disconnect();
    const [reason] = await disconnected;
    assertEqual(reason, 'io client disconnect', 'disconnect reason');
    return `connected to ${url} over ${transport} as ${id}, auth ${JSON.stringify(payload)}`;
  } finally {
    socket.disconnect();
  }
});
