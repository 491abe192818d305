// Connection state recovery across servers with the Streams adapter: one socket.io-client
// 4.8 client drops from a server and reconnects to another one (a Rust server with
// tower_socketio's Streams adapter, or the Node server with @socket.io/redis-streams-adapter
// 0.3), which gives it back its id, rooms and data and every broadcast it missed meanwhile,
// in order, with none twice; then it moves again. PROTOCOL.md describes the servers; they
// run with connection state recovery on.
//
// usage: TSIO_CLUSTER='{"R1":"http://..","R2":"..","N":".."}' TSIO_ROUTE=R1,N,R2 \
//        TSIO_REDIS_URL=redis://127.0.0.1:PORT/ node cluster/recovery.mjs
// (Redis is read to wait for each broadcast's stream entry, so that the broadcasts of
// different servers enter the stream in the order they are issued.)
// TSIO_ROUTE is the servers the client visits, in order (each hop is one cut and one
// recovery). Exit code 0 = pass; otherwise the reason is on stderr.

import { isDeepStrictEqual } from 'node:util';
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import { DriverError, assert, assertEqual, connectSocketIo, main, show, sleep, withTimeout } from '../lib.mjs';

const NAME = 'cluster_recovery';
const STEP = 8000;
const servers = JSON.parse(process.env.TSIO_CLUSTER ?? '{}');
const route = (process.env.TSIO_ROUTE ?? 'R1,N,R2').split(',');
for (const k of ['R1', 'R2', 'N', ...route]) {
  assert(typeof servers[k] === 'string', `TSIO_CLUSTER lacks ${k}: ${show(servers)}`);
}

/** A helper client that stays on one server and runs operations there. */
async function helper(server) {
  const socket = await connectSocketIo(servers[server], { transports: ['websocket'], auth: { nick: `h-${server}` } }, STEP);
  return {
    server,
    socket,
    op: (spec) => withTimeout(socket.emitWithAck('op', spec), STEP, `op ${spec.kind} on ${server}`),
  };
}

/** The client that moves: records every event in arrival order, with its offset. */
function mover(first) {
  const socket = io(servers[first], {
    transports: ['websocket'],
    auth: { nick: 'mover' },
    reconnection: false,
    forceNew: true,
  });
  const events = [];
  const state = { connects: 0 };
  socket.onAny((event, ...args) => {
    events.push({ event, args, connects: state.connects });
  });
  socket.on('connect', () => {
    state.connects += 1;
  });
  return { socket, events, state };
}

function offsetOf(args) {
  const last = args[args.length - 1];
  return typeof last === 'string' && /^[0-9]+-[0-9]+$/.test(last) ? last : null;
}

const redis = createClient({ url: process.env.TSIO_REDIS_URL });
redis.on('error', () => {});

/** Waits until the stream holds `n` entries. */
async function streamHolds(n) {
  const deadline = Date.now() + STEP;
  for (;;) {
    const len = await redis.xLen('socket.io');
    if (len >= n) return len;
    if (Date.now() > deadline) throw new DriverError(`the stream holds ${len} entries, not ${n}`);
    await sleep(5);
  }
}

await main(NAME, 90_000, async () => {
  await redis.connect();
  const helpers = {};
  for (const s of ['R1', 'R2', 'N']) {
    helpers[s] = await helper(s);
  }
  const m = mover(route[0]);
  await withTimeout(new Promise((resolve) => m.socket.once('connect', resolve)), STEP, 'first connection');
  const id = m.socket.id;
  const checked = [];
  assertEqual(await withTimeout(m.socket.emitWithAck('join', ['r', 'r2']), STEP, 'join'), [id, 'r', 'r2'].sort(), 'rooms');
  // An offset for the client: a broadcast before the first cut.
  await helpers.R2.op({ kind: 'emit', event: 'before', args: [0] });
  const deadline = Date.now() + STEP;
  while (!m.events.some((e) => e.event === 'before')) {
    if (Date.now() > deadline) throw new DriverError('the first broadcast did not arrive');
    await sleep(10);
  }
  assert(offsetOf(m.events.find((e) => e.event === 'before').args), 'the broadcast carries a stream offset');
  let n = 0;
  for (let hop = 1; hop < route.length; hop++) {
    const from = route[hop - 1];
    const to = route[hop];
    m.events.length = 0;
    // Cut: the client's engine closes (the server sees "transport close" and keeps the
    // session in Redis).
    m.socket.io.engine.close();
    await withTimeout(
      (async () => {
        for (;;) {
          const left = await helpers.R1.op({ kind: 'fetch', to: [id] });
          if (Array.isArray(left) && left.length === 0) return;
          await sleep(20);
        }
      })(),
      STEP,
      `the server ${from} to see the client gone`,
    );
    // While it is away: broadcasts from every kind of server, for it and not for it.
    const want = [];
    for (const [s, spec, mine] of [
      ['R1', { kind: 'emit', event: 'all' }, true],
      ['N', { kind: 'emit', to: ['r'], event: 'room' }, true],
      ['R2', { kind: 'emit', to: [id], event: 'direct' }, true],
      ['N', { kind: 'emit', except: ['r2'], event: 'except' }, false],
      ['R2', { kind: 'emit', to: ['elsewhere'], event: 'other-room' }, false],
      ['R1', { kind: 'emit', volatile: true, event: 'volatile' }, false],
      ['N', { kind: 'emit', event: 'all' }, true],
      ['R2', { kind: 'emit', to: ['r2', 'r'], event: 'rooms' }, true],
    ]) {
      n += 1;
      const args = [n, s, { binary: Buffer.from([n]) }];
      const before = await redis.xLen('socket.io');
      assertEqual(await helpers[s].op({ ...spec, args }), 'ok', `${spec.event} from ${s}`);
      await streamHolds(before + 1);
      // Node's streams adapter replays volatile broadcasts too; ours does not.
      if (mine || (spec.volatile && to === 'N')) want.push({ event: spec.event, args });
    }
    // Back, to another server.
    const connectsBefore = m.state.connects;
    m.socket.io.uri = servers[to];
    m.socket.connect();
    await withTimeout(
      (async () => {
        while (!m.socket.connected) await sleep(5);
      })(),
      STEP,
      `reconnection to ${to}`,
    );
    assert(m.socket.recovered, `the client recovered on ${to} (hop ${hop}: ${from} -> ${to})`);
    assertEqual(m.socket.id, id, 'the same socket id');
    // Every missed broadcast, in order, before `connect`, with offsets in stream order,
    // none twice; nothing that was not for it.
    await sleep(300);
    const got = m.events.map((e) => ({
      event: e.event,
      args: e.args.slice(0, -1),
      offset: offsetOf(e.args),
      beforeConnect: e.connects === connectsBefore,
    }));
    const seen = got.map((e) => ({ event: e.event, args: [e.args[0], e.args[1], { binary: Buffer.from(e.args[2].binary) }] }));
    assertEqual(seen, want, `missed broadcasts after ${from} -> ${to}`);
    assert(got.every((e) => e.offset && e.beforeConnect), `replayed before connect, with offsets: ${show(got)}`);
    const ids = got.map((e) => e.offset.split('-').map(Number));
    for (let i = 1; i < ids.length; i++) {
      const [a, b] = [ids[i - 1], ids[i]];
      assert(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `offsets in stream order: ${show(got.map((e) => e.offset))}`);
    }
    // Rooms and data came along (the data set by the first server).
    const rooms = await withTimeout(m.socket.emitWithAck('rooms', null), STEP, 'rooms');
    assertEqual(rooms, [id, 'r', 'r2'].sort(), `rooms on ${to}`);
    const fetched = await helpers[to].op({ kind: 'fetch', to: [id] });
    assertEqual(fetched.length, 1, `the socket is on ${to}`);
    assertEqual(fetched[0].data, { server: route[0], nick: 'mover' }, `data on ${to}`);
    const who = await withTimeout(m.socket.emitWithAck('whoami'), STEP, 'whoami');
    assertEqual(who, { server: to, id }, `served by ${to}`);
    // Live again, with offsets.
    m.events.length = 0;
    await helpers.R1.op({ kind: 'emit', event: 'live', args: [hop] });
    const liveDeadline = Date.now() + STEP;
    while (!m.events.some((e) => e.event === 'live')) {
      if (Date.now() > liveDeadline) throw new DriverError(`no live broadcast on ${to}`);
      await sleep(10);
    }
    assert(offsetOf(m.events.find((e) => e.event === 'live').args), 'live broadcasts carry offsets');
    checked.push(`${from} -> ${to}: ${want.length} missed broadcasts replayed in order, id, rooms, data kept`);
  }
  // Broadcasts go on while the client hops: every number once, in order.
  m.events.length = 0;
  let running = true;
  let sent = 0;
  const pump = (async () => {
    while (running) {
      await helpers.R2.op({ kind: 'emit', event: 'n', args: [sent] });
      sent += 1;
    }
  })();
  const hops = [];
  const streamRoute = (process.env.TSIO_STREAM_ROUTE ?? route.slice(1).concat(route[0]).join(',')).split(',');
  for (const to of streamRoute) {
    await sleep(150);
    hops.push({ to, at: sent });
    m.socket.io.engine.close();
    await sleep(100);
    m.socket.io.uri = servers[to];
    m.socket.connect();
    await withTimeout(
      (async () => {
        while (!m.socket.connected) await sleep(5);
      })(),
      STEP,
      `reconnection to ${to} while broadcasts go on`,
    );
    assert(m.socket.recovered, `recovered on ${to} while broadcasts go on`);
  }
  await sleep(150);
  running = false;
  await pump;
  const want = Array.from({ length: sent }, (_, i) => i);
  const deadlineN = Date.now() + STEP;
  let got;
  for (;;) {
    got = m.events.filter((e) => e.event === 'n').map((e) => e.args[0]);
    if (got.length >= sent || Date.now() > deadlineN) break;
    await sleep(20);
  }
  await sleep(200);
  got = m.events.filter((e) => e.event === 'n').map((e) => e.args[0]);
  const counts = new Map();
  got.forEach((x) => counts.set(x, (counts.get(x) ?? 0) + 1));
  const missing = want.filter((x) => !counts.has(x));
  const twice = [...counts].filter(([, c]) => c > 1).map(([x]) => x);
  assert(
    missing.length === 0 && twice.length === 0 && isDeepStrictEqual(got, want),
    `${sent} broadcasts while the client hopped (${show(hops)}): missing ${show(missing)}, twice ${show(twice)}`,
  );
  checked.push(`${sent} broadcasts during ${streamRoute.length} hops (${streamRoute.join(', ')}): each once, in order`);
  m.socket.disconnect();
  Object.values(helpers).forEach((h) => h.socket.disconnect());
  await redis.quit().catch(() => {});
  return checked.join('; ');
});
