// The Admin UI's protocol against tower-socketio's instrumented servers, spoken by
// socket.io-client as the UI's bundled client speaks it (tests/admin_ui.rs starts them).
//
//   node admin/protocol.mjs <dev-url> <read-only-url> <production-url>
//
// dev: basic auth (admin / changeit), development mode, server id "rust-dev";
// read-only: the same auth, read-only; production: Auth::none, production mode.
// Every server's "/" answers `rooms` (ack: the socket's rooms), `join` (room, ack) and `set`
// (data: set_data), and emits `welcome` on connect.

import { io } from 'socket.io-client';
import { DriverError, EventQueue, assert, assertEqual, cli, main, once, show, sleep } from '../lib.mjs';

const { args } = cli('node admin/protocol.mjs <dev-url> <read-only-url> <production-url>', 3);
const [DEV, READ_ONLY, PRODUCTION] = args;
const CREDS = { username: 'admin', password: 'changeit' };
const STEP = 5000;
const ALL = ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT'];

const opened = [];
function socket(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  opened.push(s);
  return s;
}

/** A client of "/", connected. */
async function client(base, what) {
  const s = socket(base + '/');
  const welcome = new EventQueue(s, 'welcome');
  await once(s, 'connect', STEP, `${what} connects`, ['connect_error']);
  await welcome.next(STEP, `${what}'s welcome`);
  return s;
}

const rooms = (s) => s.timeout(STEP).emitWithAck('rooms').then((r) => [...r].sort());

/** An admin socket whose every event is queued by name; listeners registered the way the UI
 *  does: after `connect` (so events the server sent before its CONNECT reply are missed). */
async function admin(base, auth) {
  const s = socket(base + '/admin', { auth });
  const events = [];
  const queues = new Map();
  const queue = (name) => {
    if (!queues.has(name)) queues.set(name, new EventQueue(s, name));
    return queues.get(name);
  };
  for (const name of ['session', 'config', 'all_sockets', 'server_stats', 'socket_connected', 'socket_updated',
    'socket_disconnected', 'room_joined', 'room_left', 'event_received', 'event_sent']) queue(name);
  s.onAny((name, ...rest) => events.push([name, ...rest]));
  await once(s, 'connect', STEP, `admin login to ${base}`, ['connect_error']);
  return { s, q: queue, events };
}

/** The connect_error message of an admin login that must fail. */
async function refused(base, auth, what) {
  const s = socket(base + '/admin', auth === undefined ? {} : { auth });
  const [err] = await once(s, 'connect_error', STEP, `${what} is refused`, ['connect']);
  s.close();
  return err.message;
}

/** Waits for an event of `queue` whose arguments satisfy `pred`. */
async function until(queue, pred, what, ms = STEP) {
  const deadline = Date.now() + ms;
  const seen = [];
  for (;;) {
    const left = deadline - Date.now();
    const a = left > 0 ? await queue.next(left, what).catch(() => null) : null;
    if (a === null) throw new DriverError(`timed out waiting for ${what}; saw ${show(seen)}`);
    if (pred(...a)) return a;
    seen.push(a);
  }
}

/** Nothing arrives on `s` for `event` within `ms`. */
async function silent(s, event, ms, what) {
  let got = null;
  const on = (...a) => { got = a; };
  s.on(event, on);
  await sleep(ms);
  s.off(event, on);
  if (got) throw new DriverError(`${what}: got ${event} ${show(got)}`);
}

async function development() {
  // Refusals: all with the exact message the UI translates.
  for (const [auth, what] of [
    [undefined, 'no auth'],
    [{ username: 'admin', password: 'wrong' }, 'a wrong password'],
    [{ username: 'root', password: 'changeit' }, 'a wrong username'],
    [{ username: 'admin', password: 42 }, 'a password that is no string'],
    [{ sessionId: 'f'.repeat(32) }, 'an unknown session'],
  ]) {
    assertEqual(await refused(DEV, auth, what), 'invalid credentials', what);
  }

  const a = await client(DEV, 'client A');
  const b = await client(DEV, 'client B');
  const ad = await admin(DEV, CREDS);

  // The session arrives after the CONNECT reply, so the UI's late listener gets it.
  const [session] = await ad.q('session').next(STEP, 'the session id');
  assert(/^[0-9a-f]{32}$/.test(session), `session id ${show(session)}`);
  const [config] = await ad.q('config').next(STEP, 'config');
  assertEqual(config.supportedFeatures, [...ALL, 'AGGREGATED_EVENTS', 'ALL_EVENTS'], 'development features');

  const [all] = await ad.q('all_sockets').next(STEP, 'all_sockets');
  const byId = new Map(all.map((s) => [s.id, s]));
  for (const [c, name] of [[a, 'A'], [b, 'B']]) {
    const s = byId.get(c.id);
    assert(s, `all_sockets lists client ${name}: ${show(all.map((x) => x.id))}`);
    assertEqual(s.nsp, '/', `${name}'s namespace`);
    assertEqual(s.transport, 'websocket', `${name}'s transport`);
    assertEqual(s.data, {}, `${name}'s data`);
    assertEqual(s.rooms, [c.id], `${name}'s rooms`);
    assert(typeof s.clientId === 'string' && s.clientId.length === 12, `${name}'s client id ${show(s.clientId)}`);
    assert(typeof s.handshake.issued === 'number' && s.handshake.headers.host, `${name}'s handshake ${show(s.handshake)}`);
    assert(!('auth' in s.handshake), `${name}'s handshake must not carry auth`);
  }
  assert(byId.get(ad.s.id)?.nsp === '/admin', 'all_sockets lists the admin socket in /admin');

  const [stats] = await ad.q('server_stats').next(3000, 'server_stats within 3 s');
  assertEqual(stats.serverId, 'rust-dev', 'server id');
  assert(typeof stats.hostname === 'string' && stats.hostname.length > 0, `hostname ${show(stats.hostname)}`);
  assert(Number.isInteger(stats.pid) && stats.uptime > 0, `pid and uptime ${show(stats)}`);
  assert(stats.clientsCount >= 3 && stats.pollingClientsCount === 0, `client counts ${show(stats)}`);
  const nsps = Object.fromEntries(stats.namespaces.map((n) => [n.name, n.socketsCount]));
  assertEqual(nsps['/'], 2, 'sockets of /');
  assertEqual(nsps['/admin'], 1, 'sockets of /admin');
  const seen = new Set();
  let [more] = [stats];
  for (let i = 0; i < 3 && !['rawConnection', 'packetsIn', 'bytesOut'].every((t) => seen.has(t)); i += 1) {
    for (const e of more.aggregatedEvents) {
      assert(Number.isInteger(e.timestamp) && e.timestamp % 1000 === 0 && e.count > 0, `bucket ${show(e)}`);
      seen.add(e.type);
    }
    if (i < 2) [more] = await ad.q('server_stats').next(3000, 'the next server_stats');
  }
  for (const t of ['rawConnection', 'packetsIn', 'bytesIn', 'packetsOut', 'bytesOut']) {
    assert(seen.has(t), `aggregated events have ${t}: ${show([...seen])}`);
  }

  // Development-mode events of a new client's life; it starts on long-polling.
  const c = socket(DEV + '/', { transports: ['polling', 'websocket'] });
  await once(c, 'connect', STEP, 'client C connects', ['connect_error']);
  await until(ad.q('room_joined'), (n, room, id) => n === '/' && room === c.id && id === c.id, "C's own room");
  const [serialized, at] = await until(ad.q('socket_connected'), (s) => s.id === c.id, 'socket_connected of C');
  assert(serialized.nsp === '/' && serialized.clientId.length === 12 && !Number.isNaN(Date.parse(at)),
    `socket_connected ${show([serialized, at])}`);
  assertEqual(serialized.transport, 'polling', "C's transport at connect");
  await until(ad.q('socket_updated'), (u) => u.id === c.id && u.transport === 'websocket', "C's upgrade");
  await until(ad.q('event_sent'), (n, id, ev) => id === c.id && ev[0] === 'welcome', 'event_sent welcome to C');
  c.emit('set', { nick: 'carol' });
  await until(ad.q('event_received'), (n, id, ev) => id === c.id && ev[0] === 'set' && ev[1].nick === 'carol', 'event_received set');
  await until(ad.q('socket_updated'), (u) => u.id === c.id && u.data?.nick === 'carol', 'socket_updated data');
  await c.timeout(STEP).emitWithAck('join', 'vip');
  await until(ad.q('room_joined'), (n, room, id) => room === 'vip' && id === c.id, 'room_joined vip');
  const cid = c.id; // socket.io-client forgets it on disconnect
  c.disconnect();
  await until(ad.q('socket_disconnected'), (n, id, reason) => id === cid && reason === 'client namespace disconnect', 'socket_disconnected of C');
  await until(ad.q('room_left'), (n, room, id) => room === cid && id === cid, "room_left of C's own room");
  await until(ad.q('room_left'), (n, room, id) => room === 'vip' && id === cid, 'room_left vip');

  // Actions reach the chosen socket only.
  const hello = new EventQueue(a, 'hello');
  ad.s.emit('emit', '/', a.id, 'hello', 'from the admin', { n: 1 });
  assertEqual(await hello.next(STEP, 'A gets the emit'), ['from the admin', { n: 1 }], "the emit's arguments");
  await silent(b, 'hello', 300, 'B must not get the emit to A');

  ad.s.emit('join', '/', 'vip', b.id);
  await until(ad.q('room_joined'), (n, room, id) => room === 'vip' && id === b.id, 'room_joined after the join action');
  assertEqual(await rooms(b), [b.id, 'vip'].sort(), "B's rooms after join");
  ad.s.emit('leave', '/', 'vip', b.id);
  await until(ad.q('room_left'), (n, room, id) => room === 'vip' && id === b.id, 'room_left after the leave action');
  assertEqual(await rooms(b), [b.id], "B's rooms after leave");

  // Malformed and reserved actions and unknown namespaces are ignored (not created).
  ad.s.emit('emit', '/', a.id, 'disconnect');
  ad.s.emit('emit', 42);
  ad.s.emit('join', '/', { not: 'a room' }, b.id);
  ad.s.emit('_disconnect');
  ad.s.emit('emit', '/nowhere', null, 'hello', 'x');
  ad.s.emit('join', '/nowhere', 'vip');
  await sleep(300);
  assert(a.connected && b.connected, 'malformed actions disconnected nobody');
  const [later] = await ad.q('server_stats').next(3000, 'server_stats after the ignored actions');
  assert(!later.namespaces.some((n) => n.name === '/nowhere'), `an action created /nowhere: ${show(later.namespaces)}`);

  const [aid, bid] = [a.id, b.id];
  const aGone = once(a, 'disconnect', STEP, 'A is disconnected by the admin');
  ad.s.emit('_disconnect', '/', false, aid);
  assertEqual((await aGone)[0], 'io server disconnect', "A's disconnect reason");
  await until(ad.q('socket_disconnected'), (n, id, reason) => id === aid && reason === 'server namespace disconnect', 'socket_disconnected of A');
  const bGone = once(b, 'disconnect', STEP, "B's whole connection is closed by the admin");
  ad.s.emit('_disconnect', '/', true, bid);
  await bGone;

  // A session id alone logs in again, without a new session.
  const again = await admin(DEV, { sessionId: session });
  await again.q('config').next(STEP, 'config after a session login');
  assert(!again.events.some(([n]) => n === 'session'), 'a session login gets no new session');
  return `${all.length} sockets listed, ${seen.size} bucket types`;
}

async function readOnly() {
  assertEqual(await refused(READ_ONLY, { username: 'admin', password: 'nope' }, 'read-only: wrong password'), 'invalid credentials', 'read-only refusal');
  const t = await client(READ_ONLY, 'the read-only target');
  const ad = await admin(READ_ONLY, CREDS);
  const [config] = await ad.q('config').next(STEP, 'read-only config');
  assertEqual(config.supportedFeatures, ['AGGREGATED_EVENTS', 'ALL_EVENTS'], 'read-only features');
  await ad.q('all_sockets').next(STEP, 'read-only all_sockets');
  ad.s.emit('_disconnect', '/', false, t.id);
  ad.s.emit('_disconnect', '/', true, t.id);
  ad.s.emit('join', '/', 'vip', t.id);
  ad.s.emit('emit', '/', t.id, 'hello', 'x');
  await silent(t, 'hello', 700, 'read-only: the emit must not arrive');
  assert(t.connected, 'read-only: the target is still connected');
  assertEqual(await rooms(t), [t.id], 'read-only: the target joined no room');
}

async function production() {
  // Auth::none: no credentials needed.
  const ad = await admin(PRODUCTION, undefined);
  const [config] = await ad.q('config').next(STEP, 'production config');
  assertEqual(config.supportedFeatures, [...ALL, 'AGGREGATED_EVENTS'], 'production features');
  const p = await client(PRODUCTION, 'a production client');
  const [stats] = await until(ad.q('server_stats'), (s) => s.namespaces.some((n) => n.name === '/' && n.socketsCount === 1), 'production server_stats with the client', 5000);
  assertEqual(stats.serverId, 'rust-prod', 'production server id');
  assert(!ad.events.some(([n]) => ['all_sockets', 'socket_connected', 'room_joined', 'event_sent'].includes(n)),
    `production mode sent per-socket events: ${show(ad.events.map(([n]) => n))}`);
  const hello = new EventQueue(p, 'hello');
  ad.s.emit('emit', '/', null, 'hello', 'everyone');
  assertEqual(await hello.next(STEP, 'the production emit'), ['everyone'], 'production emit');
}

main('admin-protocol', 40_000, async () => {
  try {
    const summary = await development();
    await readOnly();
    await production();
    return summary;
  } finally {
    for (const s of opened) s.close();
  }
});
