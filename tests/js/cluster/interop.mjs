// The mixed cluster check: socket.io-client clients on two or three Rust servers (R1, R2 and
// maybe R3) and one Node server (N), all joined through Redis by the same kind of adapter,
// with a socket.io-client 2 (Socket.IO 2, Engine.IO 3) client on N and one on R2; every
// cluster operation is started on a Rust server and on the Node server, and seen (or not) by
// the clients of every kind. Then, with TSIO_REDIS_URL set, @socket.io/redis-emitter emits
// into the cluster from this process (classic pub/sub adapter only). PROTOCOL.md describes
// what the servers do.
//
// usage: TSIO_CLUSTER='{"R1":"http://..","R2":"..","R3":"..","N":".."}' \
//        [TSIO_REDIS_URL=redis://127.0.0.1:PORT/] [TSIO_NAME=cluster_interop] [TSIO_PARSER=msgpack]
//        node cluster/interop.mjs
// TSIO_PARSER=msgpack: every client uses socket.io-msgpack-parser (every server must speak it;
// the two Socket.IO 2 clients are then 4.x ones).
// Exit code 0 = pass; otherwise the reason is on stderr.

import { isDeepStrictEqual } from 'node:util';
import { createClient } from 'redis';
import { Emitter } from '@socket.io/redis-emitter';
import msgpackParser from 'socket.io-msgpack-parser';
import sio2 from 'socket.io-client-v2';
import { DriverError, assert, assertEqual, connectSocketIo, main, show, sleep, withTimeout } from '../lib.mjs';

const NAME = process.env.TSIO_NAME ?? 'cluster_interop';
const STEP = 5000;
const QUIET = 300;
const servers = JSON.parse(process.env.TSIO_CLUSTER ?? '{}');
const redisUrl = process.env.TSIO_REDIS_URL;
for (const k of ['R1', 'R2', 'N']) {
  assert(typeof servers[k] === 'string', `TSIO_CLUSTER lacks ${k}: ${show(servers)}`);
}
const serverNames = Object.keys(servers).sort();
// The polling-only client lives on R3 when there is one.
const R3 = servers.R3 ? 'R3' : 'R2';

/** A client that records every event and answers `ask`. */
class Client {
  constructor(name, server, socket) {
    this.name = name;
    this.server = server;
    this.socket = socket;
    this.events = [];
    this.waiters = [];
    this.disconnected = null;
    socket.onAny((event, ...args) => {
      if (event === 'ask') {
        return;
      }
      this.events.push({ event, args });
      this.waiters.forEach((w) => w());
    });
    socket.on('ask', (...args) => {
      const ack = args.pop();
      ack({ client: this.name });
    });
    socket.on('ask-bin', (...args) => {
      const ack = args.pop();
      ack({ client: this.name, bin: Buffer.from(this.name) });
    });
    socket.on('disconnect', (reason) => {
      this.disconnected = reason;
      this.waiters.forEach((w) => w());
    });
  }

  get id() {
    return this.socket.id;
  }

  call(event, data) {
    return withTimeout(this.socket.emitWithAck(event, data), STEP * 2, `${this.name}: ack of ${event}`);
  }

  op(spec) {
    return this.call('op', spec);
  }

  /** The arguments of the next `event`. */
  async next(event) {
    const take = () => {
      const i = this.events.findIndex((e) => e.event === event);
      return i < 0 ? null : this.events.splice(i, 1)[0].args;
    };
    let got = take();
    if (got) {
      return got;
    }
    let waiter;
    const arrived = new Promise((resolve) => {
      waiter = () => {
        const g = take();
        if (g) resolve(g);
      };
      this.waiters.push(waiter);
    });
    try {
      return await withTimeout(arrived, STEP, `${this.name} (on ${this.server}): event ${event}`);
    } finally {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    }
  }

  /** Fails if `event` arrived (now or within `ms`). */
  async none(event, ms = QUIET) {
    if (ms > 0) {
      await sleep(ms);
    }
    const e = this.events.find((x) => x.event === event);
    if (e) {
      throw new DriverError(`${this.name} (on ${this.server}) got an unexpected ${event}: ${show(e.args)}`);
    }
  }

  async untilDisconnected() {
    if (this.disconnected) {
      return this.disconnected;
    }
    return withTimeout(
      new Promise((resolve) => {
        this.waiters.push(() => this.disconnected && resolve(this.disconnected));
      }),
      STEP,
      `${this.name} (on ${this.server}) to be disconnected`,
    );
  }
}

async function connect(name, server, transports) {
  const parser = process.env.TSIO_PARSER === 'msgpack' ? { parser: msgpackParser } : {};
  const socket = await connectSocketIo(servers[server], { transports, auth: { nick: name }, ...parser }, STEP);
  return new Client(name, server, socket);
}

/**
 * A socket.io-client 2 socket with what Client uses of a 4.x one (`onAny`, `emitWithAck`).
 * Its nick goes in the query (a 2.x client has no auth in `/`).
 */
async function connectV2(name, server, transports) {
  const socket = sio2(servers[server], { forceNew: true, reconnection: false, transports, query: { nick: name } });
  const any = [];
  const onevent = socket.onevent;
  // Every incoming event, before its listeners (the ack callback is not in packet.data).
  socket.onevent = function (packet) {
    any.forEach((f) => f(...(packet.data || [])));
    onevent.call(this, packet);
  };
  socket.onAny = (f) => any.push(f);
  socket.emitWithAck = (event, ...args) => new Promise((resolve) => socket.emit(event, ...args, (reply) => resolve(reply)));
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new DriverError(`${name}: ${show(e)}`)));
      socket.once('connect_error', (e) => reject(new DriverError(`${name}: connect_error ${show(e)}`)));
    }),
    STEP,
    `the Socket.IO 2 client ${name} on ${server}`,
  );
  const client = new Client(name, server, socket);
  client.v2 = true;
  return client;
}

/** Calls `rooms` on `client` until it answers `want`. */
async function roomsBecome(client, want) {
  const deadline = Date.now() + STEP;
  let got;
  do {
    got = await client.call('rooms', null);
    if (isDeepStrictEqual(got, want)) {
      return;
    }
    await sleep(25);
  } while (Date.now() < deadline);
  throw new DriverError(`${client.name} (on ${client.server}) rooms: expected ${show(want)}, got ${show(got)}`);
}

const sortedRooms = (...r) => [...r].sort();

let redis = null;
let emitter = null;

/** The emitter reaches the clients of every server. */
async function emitterChecks(all, r1, r1b, r2, r3, n, nb, n2, r2v2, checked) {
  redis = createClient({ url: redisUrl });
  redis.on('error', () => {});
  await redis.connect();
  emitter = new Emitter(redis);
  emitter.emit('em-all', 1, Buffer.from([9]), { deep: [Buffer.from([8])] });
  for (const c of all) {
    assertEqual(await c.next('em-all'), [1, Buffer.from([9]), { deep: [Buffer.from([8])] }], `${c.name}: emitter broadcast`);
  }
  emitter.to('room-x').emit('em-room');
  await r3.next('em-room');
  await n.next('em-room');
  emitter.except('room-x').emit('em-except');
  for (const c of [r1, r1b, r2, nb, n2, r2v2]) {
    await c.next('em-except');
  }
  emitter.to(r2.id).volatile.compress(false).emit('em-one', 'x');
  assertEqual(await r2.next('em-one'), ['x'], 'emitter to one socket');
  await sleep(QUIET);
  for (const c of all) {
    await c.none('em-room', 0);
    await c.none('em-except', 0);
    await c.none('em-one', 0);
  }
  emitter.in(r2.id).socketsJoin('em-j');
  await roomsBecome(r2, sortedRooms(r2.id, 'em-j'));
  emitter.in(r2.id).socketsLeave('em-j');
  await roomsBecome(r2, [r2.id]);
  emitter.serverSideEmit('sse', 'from-emitter');
  for (const c of all) {
    assertEqual(await c.next('sse-got'), [{ server: c.server, args: ['from-emitter'] }], `${c.name}: emitter serverSideEmit`);
  }
  checked.push('emitter: broadcast (binary), rooms, except, socketsJoin/Leave, serverSideEmit');
}

await main(NAME, 90_000, async () => {
  const ws = ['websocket'];
  const both = ['polling', 'websocket'];
  const r1 = await connect('r1', 'R1', ws);
  const r1b = await connect('r1b', 'R1', both);
  const r2 = await connect('r2', 'R2', ws);
  const r3 = await connect('r3', R3, ['polling']);
  const n = await connect('n', 'N', ws);
  const nb = await connect('nb', 'N', both);
  // No Socket.IO 2 client speaks the MessagePack parser: with it, these two are 4.x clients.
  const old = process.env.TSIO_PARSER === 'msgpack' ? connect : connectV2;
  const n2 = await old('n2', 'N', ws);
  const r2v2 = await old('r2v2', 'R2', both);
  const all = [r1, r1b, r2, r3, n, nb, n2, r2v2];
  const byServer = (s) => all.filter((c) => c.server === s);

  // Everyone sees every server (the Node adapter subscribes asynchronously: wait for it).
  for (const c of [r1, n]) {
    const deadline = Date.now() + STEP;
    let count;
    do {
      count = await c.op({ kind: 'serverCount' });
      if (count === serverNames.length) break;
      await sleep(50);
    } while (Date.now() < deadline);
    assertEqual(count, serverNames.length, `server count seen from ${c.server}`);
  }

  await r3.call('join', 'room-x');
  await n.call('join', 'room-x');
  const base = (c) => (c === r3 || c === n ? [c.id, 'room-x'] : [c.id]);
  const checked = [];

  // Every operation, started once on a Rust server and once on the Node server.
  for (const [origin, other, third] of [
    [r1, n, r2],
    [n, r2, r3],
  ]) {
    const O = origin.server;
    const tag = (s) => `${s}-${O}`;

    // Broadcast to all, binary and every JSON kind, nested.
    const args = ['text', 1, 1.5, null, true, { k: [1, { n: null }] }, Buffer.from([1, 2, 3]), { bin: Buffer.from([4, 5]) }];
    assertEqual(await origin.op({ kind: 'emit', event: tag('all'), args }), 'ok', 'emit');
    for (const c of all) {
      assertEqual(await c.next(tag('all')), args, `${c.name} got the broadcast from ${O}`);
    }
    checked.push(`${O}: broadcast with binary`);

    // One room (its own channel), the members on both kinds of server.
    await origin.op({ kind: 'emit', to: ['room-x'], event: tag('room'), args: [1] });
    assertEqual(await r3.next(tag('room')), [1], 'r3 in room-x');
    assertEqual(await n.next(tag('room')), [1], 'n in room-x');
    // Except a room.
    await origin.op({ kind: 'emit', except: ['room-x'], event: tag('except'), args: [] });
    for (const c of [r1, r1b, r2, nb, n2, r2v2]) {
      await c.next(tag('except'));
    }
    // Several rooms, one a socket id on the other kind of server: each socket once.
    await origin.op({ kind: 'emit', to: ['room-x', other.id, 'nobody'], event: tag('multi'), args: [] });
    for (const c of new Set([r3, n, other])) {
      await c.next(tag('multi'));
    }
    // Local only.
    await origin.op({ kind: 'emit', local: true, event: tag('local'), args: [] });
    for (const c of byServer(O)) {
      await c.next(tag('local'));
    }
    // From the socket: everyone but the sender; volatile and uncompressed (WebSocket
    // receivers only, volatile may drop for a polling client between two requests).
    await origin.op({ kind: 'emit', broadcast: true, event: tag('bc'), args: ['x'] });
    for (const c of all.filter((c) => c !== origin)) {
      assertEqual(await c.next(tag('bc')), ['x'], `${c.name}: socket broadcast from ${O}`);
    }
    await origin.op({ kind: 'emit', to: [r1.id, r2.id, n.id], volatile: true, compress: false, event: tag('vol'), args: [] });
    for (const c of [r1, r2, n]) {
      await c.next(tag('vol'));
    }
    await sleep(QUIET);
    for (const c of all) {
      await c.none(tag('room'), 0);
      await c.none(tag('except'), 0);
      await c.none(tag('multi'), 0);
      await c.none(tag('local'), 0);
      await c.none(tag('bc'), 0);
      await c.none(tag('vol'), 0);
      await c.none(tag('all'), 0);
    }
    checked.push(`${O}: rooms, except, local, socket broadcast, volatile/compress`);

    // Broadcast with acknowledgements from every client of every server, binary included.
    const acks = await origin.op({ kind: 'emitWithAck', timeout: 3000, event: 'ask', args: [] });
    assertEqual(
      acks,
      { ok: all.map((c) => ({ client: c.name })).sort((a, b) => (a.client < b.client ? -1 : 1)), errors: 0 },
      `acks gathered by ${O}`,
    );
    const binAcks = await origin.op({ kind: 'emitWithAck', to: [other.id, third.id], timeout: 3000, event: 'ask-bin', args: [] });
    assertEqual(
      binAcks.ok.map((a) => [a.client, Buffer.from(a.bin).toString()]).sort(),
      [other.name, third.name].map((x) => [x, x]).sort(),
      `binary acks gathered by ${O}`,
    );
    checked.push(`${O}: broadcast with acks (binary too)`);

    // Fetch: every socket with its data, handshake and rooms.
    const fetched = await origin.op({ kind: 'fetch' });
    assertEqual(fetched.map((s) => s.id).sort(), all.map((c) => c.id).sort(), `ids fetched by ${O}`);
    for (const c of all) {
      const s = fetched.find((x) => x.id === c.id);
      assertEqual(s.data, { server: c.server, nick: c.name }, `data of ${c.name} fetched by ${O}`);
      assertEqual(s.auth, c.v2 ? {} : { nick: c.name }, `auth of ${c.name}`);
      assertEqual(s.eio, c.v2 ? '3' : '4', `EIO of ${c.name}`);
      assertEqual(s.hasHost, true, `host header of ${c.name}`);
      const want = sortedRooms(...base(c));
      assertEqual(s.rooms, want, `rooms of ${c.name} fetched by ${O}`);
    }
    const inRoom = await origin.op({ kind: 'fetch', to: ['room-x'] });
    assertEqual(inRoom.map((s) => s.id).sort(), [r3.id, n.id].sort(), `room-x fetched by ${O}`);
    const localOnly = await origin.op({ kind: 'fetch', local: true });
    assertEqual(localOnly.length, byServer(O).length, `local fetch on ${O}`);
    checked.push(`${O}: fetchSockets (id, handshake, rooms, data)`);

    // Remote join and leave with operators.
    await origin.op({ kind: 'join', to: [other.id], rooms: [tag('j')] });
    await roomsBecome(other, sortedRooms(...base(other), tag('j')));
    // With the sharded adapter's dynamic mode, a room's channel is subscribed when the room
    // gets its first member on a server, asynchronously (on Node as on Rust): a broadcast
    // sent at that very moment may miss it, so this one is repeated until it arrives.
    for (let attempt = 1; ; attempt++) {
      await third.op({ kind: 'emit', to: [tag('j')], event: tag('in-j'), args: [] });
      const until = Date.now() + 1000;
      while (Date.now() < until && !other.events.some((e) => e.event === tag('in-j'))) {
        await sleep(20);
      }
      if (other.events.some((e) => e.event === tag('in-j'))) {
        other.events = other.events.filter((e) => e.event !== tag('in-j'));
        break;
      }
      if (attempt >= 5) {
        throw new DriverError(`${other.name} (on ${other.server}) never got ${tag('in-j')} in its new room`);
      }
    }
    await origin.op({ kind: 'leave', to: [other.id], rooms: [tag('j')] });
    await roomsBecome(other, sortedRooms(...base(other)));
    // Through a fetched remote socket.
    assertEqual(await origin.op({ kind: 'remoteJoin', id: other.id, rooms: [tag('rj')] }), 1, 'remote socket join');
    await roomsBecome(other, sortedRooms(...base(other), tag('rj')));
    assertEqual(await origin.op({ kind: 'remoteLeave', id: other.id, rooms: [tag('rj')] }), 1, 'remote socket leave');
    await roomsBecome(other, sortedRooms(...base(other)));
    assertEqual(await origin.op({ kind: 'remoteEmit', id: other.id, event: tag('direct'), args: [Buffer.from('hi')] }), 1, 'remote emit');
    assertEqual(await other.next(tag('direct')), [Buffer.from('hi')], `remote socket emit from ${O}`);
    checked.push(`${O}: socketsJoin/Leave, RemoteSocket join/leave/emit`);

    // Server-side events to every other server.
    assertEqual(await origin.op({ kind: 'serverSideEmit', event: 'sse', args: [tag('x'), 2] }), 'ok', 'serverSideEmit');
    for (const c of all.filter((c) => c.server !== O)) {
      assertEqual(await c.next('sse-got'), [{ server: c.server, args: [tag('x'), 2] }], `${c.name}: serverSideEmit from ${O}`);
    }
    for (const c of byServer(O)) {
      await c.none('sse-got');
    }
    const sseAcks = await origin.op({ kind: 'serverSideEmitWithAck', event: 'sse-ack', args: [tag('q')] });
    assertEqual(
      sseAcks,
      { ok: serverNames.filter((s) => s !== O).map((s) => ({ server: s, args: [tag('q')] })) },
      `serverSideEmitWithAck from ${O}`,
    );
    checked.push(`${O}: serverSideEmit with and without acks, serverCount`);
  }

  try {
    if (redisUrl) {
      await emitterChecks(all, r1, r1b, r2, r3, n, nb, n2, r2v2, checked);
    }
    // Disconnections last: from the emitter (or Node), from Rust, from Node.
    if (redisUrl) {
      emitter.in(r3.id).disconnectSockets();
      assertEqual(await r3.untilDisconnected(), 'io server disconnect', 'r3 disconnected by the emitter');
    } else {
      await n.op({ kind: 'disconnect', to: [r3.id] });
      assertEqual(await r3.untilDisconnected(), 'io server disconnect', 'r3 disconnected from N');
    }
    await r1.op({ kind: 'disconnect', to: [nb.id] });
    assertEqual(await nb.untilDisconnected(), 'io server disconnect', 'nb disconnected from R1');
    assertEqual(await n.op({ kind: 'remoteDisconnect', id: r1b.id }), 1, 'remote disconnect from N');
    assertEqual(await r1b.untilDisconnected(), 'io server disconnect', 'r1b disconnected from N');
    const left = await r2.op({ kind: 'fetch' });
    assertEqual(left.map((s) => s.id).sort(), [r1.id, r2.id, n.id, n2.id, r2v2.id].sort(), 'sockets left');
    checked.push(`disconnectSockets from ${redisUrl ? 'the emitter' : 'Node'}, Rust and Node`);
  } finally {
    await redis?.quit().catch(() => {});
    all.forEach((c) => c.socket.disconnect());
  }
  return checked.join('; ');
});
