// The API scenarios of tower-socketio, driven by the official socket.io-client against a server
// that implements SPEC.md (next to this file): the Rust scenario server, or reference_server.mjs.
//
// usage: TSIO_URL=http://127.0.0.1:PORT TSIO_TRANSPORTS=polling|websocket|upgrade \
//          node --test tests/js/scenarios/api.test.mjs
// Optional: TSIO_PATH (default /socket.io/), TSIO_STEP_MS (default 5000, one wait),
// TSIO_PARSER=msgpack (socket.io-msgpack-parser on every client; the server must speak it).
//
// Every test is bounded, opens its own clients (one Manager each unless it tests multiplexing)
// and closes them when it ends, pass or fail. Nothing here depends on the order of the tests.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Manager } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';

// ---- configuration ---------------------------------------------------------------------------

const URL_BASE = process.env.TSIO_URL;
if (!URL_BASE) {
  throw new Error('TSIO_URL must be set (e.g. http://127.0.0.1:3000)');
}
const MODE = process.env.TSIO_TRANSPORTS ?? 'upgrade';
const TRANSPORTS = { polling: ['polling'], websocket: ['websocket'], upgrade: ['polling', 'websocket'] }[MODE];
if (!TRANSPORTS) {
  throw new Error(`TSIO_TRANSPORTS must be polling, websocket or upgrade, got ${MODE}`);
}
const PATH = process.env.TSIO_PATH ?? '/socket.io/';
const STEP_MS = Number(process.env.TSIO_STEP_MS ?? 5000);
const PARSER = process.env.TSIO_PARSER ?? 'json';
if (!['json', 'msgpack'].includes(PARSER)) {
  throw new Error(`TSIO_PARSER must be json or msgpack, got ${PARSER}`);
}
/** The server-side ack timeout of `ask`, `ask-room` and `ask-then-leave` (SPEC.md). */
const SERVER_ACK_TIMEOUT_MS = 1000;
/** How long a negative check ("nothing else arrives") waits after a barrier. */
const SETTLE_MS = 150;
const TEST_OPTS = { timeout: 20_000 };
const RESERVED = ['connect', 'connect_error', 'disconnect', 'disconnecting'];
/**
 * Events the server sends to sockets of other tests too (namespace-wide broadcasts). A client
 * keeps only those whose first argument carries its test's tag, so that suites running at the
 * same time against one server cannot disturb each other.
 */
const SHARED_EVENTS = new Set(['room-msg', 'except-msg', 'broadcast', 'all-msg']);

// ---- helpers ---------------------------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` unless `promise` settles first. */
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Binary in any form (Buffer, ArrayBuffer, typed array) becomes a Buffer, recursively. */
function norm(value) {
  if (Buffer.isBuffer(value)) {
    return Buffer.from(value);
  }
  if (value instanceof ArrayBuffer) {
    return Buffer.from(value);
  }
  if (ArrayBuffer.isView(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  if (Array.isArray(value)) {
    return value.map(norm);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, norm(v)]));
  }
  return value;
}

/** Deep equality where binary compares by bytes whatever its JS type. */
function assertSame(actual, expected, message) {
  assert.deepStrictEqual(norm(actual), norm(expected), message);
}

/** Calls `fn` every 50 ms until it resolves with something other than null; bounded by `ms`. */
async function pollUntil(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== null && value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}

/** A connected (or connecting) socket.io-client socket plus a log of every event it received. */
class Client {
  constructor(socket, tag) {
    this.socket = socket;
    this.log = [];
    this.queues = new Map();
    this.waiters = new Map();
    socket.onAny((event, ...args) => {
      if (typeof args[args.length - 1] === 'function') {
        args = args.slice(0, -1); // a server ack request: answered by explicit listeners only
      }
      if (SHARED_EVENTS.has(event) && !carriesTag(args[0], tag)) {
        return; // another test's broadcast
      }
      this.log.push([event, args]);
      const waiting = this.waiters.get(event);
      if (waiting && waiting.length > 0) {
        waiting.shift()(args);
      } else {
        if (!this.queues.has(event)) {
          this.queues.set(event, []);
        }
        this.queues.get(event).push(args);
      }
    });
  }

  get id() {
    return this.socket.id;
  }

  /** The arguments of the next (not yet taken) `event`, waiting at most `ms`. */
  next(event, ms = STEP_MS) {
    const queued = this.queues.get(event);
    if (queued && queued.length > 0) {
      return Promise.resolve(queued.shift());
    }
    let waiter;
    const arrived = new Promise((resolve) => {
      waiter = resolve;
      if (!this.waiters.has(event)) {
        this.waiters.set(event, []);
      }
      this.waiters.get(event).push(resolve);
    });
    return withTimeout(arrived, ms, `event "${event}" on ${this.socket.nsp}`).catch((err) => {
      const list = this.waiters.get(event);
      list.splice(list.indexOf(waiter), 1);
      throw err;
    });
  }

  /** Every `event` received so far (taken or not), as argument arrays. */
  all(event) {
    return this.log.filter(([name]) => name === event).map(([, args]) => args);
  }

  /** Emits with an ack request; resolves with all the ack's arguments; bounded by STEP_MS. */
  call(event, ...args) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(STEP_MS).emit(event, ...args, (err, ...reply) => {
        if (err) {
          reject(new Error(`no ack for "${event}" within ${STEP_MS} ms: ${err.message}`));
        } else {
          resolve(reply);
        }
      });
    });
  }

  /** Like `call`, for acks with a single argument. */
  async call1(event, ...args) {
    const reply = await this.call(event, ...args);
    assert.equal(reply.length, 1, `ack of "${event}" has one argument: ${JSON.stringify(reply)}`);
    return reply[0];
  }

  /**
   * A round trip that ends after every packet the server queued for this socket before it
   * handled the barrier has arrived (one connection delivers in order).
   */
  async barrier() {
    await this.call('conn');
  }

  /** Barrier, then a short wait: for "nothing more arrives" checks. */
  async settle() {
    await this.barrier();
    await sleep(SETTLE_MS);
  }

  /** Resolves with the disconnect reason; bounded. */
  disconnected(ms = STEP_MS) {
    if (!this.socket.connected && this.reason !== undefined) {
      return Promise.resolve(this.reason);
    }
    return withTimeout(
      new Promise((resolve) => this.socket.once('disconnect', resolve)),
      ms,
      `disconnect of ${this.socket.nsp}`,
    );
  }
}

/** True when `value` is a string starting with `tag`, or an object whose `tag` is `tag`. */
function carriesTag(value, tag) {
  if (typeof value === 'string') {
    return value.startsWith(tag);
  }
  return value !== null && typeof value === 'object' && value.tag === tag;
}

/** Options of a new Manager (one Engine.IO connection) for the current transport mode. */
function managerOptions(extra = {}) {
  return {
    path: PATH,
    transports: TRANSPORTS,
    reconnection: false,
    timeout: STEP_MS,
    autoConnect: false,
    ...(PARSER === 'msgpack' ? { parser: msgpackParser } : {}),
    ...extra,
  };
}

/**
 * A test's clients: everything opened through it is closed when the test ends.
 * `connect(nsp, opts)` resolves with a connected Client (listeners attached before CONNECT,
 * so events emitted on connection are logged); `attempt` resolves with the Client or with the
 * connect_error.
 */
function session(t) {
  const managers = [];
  const tag = `t${randomUUID().slice(0, 8)}`;
  t.after(() => {
    for (const manager of managers) {
      for (const socket of Object.values(manager.nsps)) {
        socket.disconnect();
      }
      manager.engine?.close();
    }
  });
  const api = {
    /** Unique to this test: prefix of its room names and of its broadcast payloads. */
    tag,
    /** A room name (or payload) unique to this test. */
    u(name) {
      return `${tag}-${name}`;
    },
    manager(extra = {}) {
      const manager = new Manager(URL_BASE, managerOptions(extra));
      managers.push(manager);
      return manager;
    },
    /** Opens `nsp` on `manager` (a new one when omitted); resolves `{ client }` or `{ error }`. */
    async attempt(nsp = '/', socketOpts = {}, manager = undefined, managerExtra = {}) {
      const m = manager ?? api.manager(managerExtra);
      const socket = m.socket(nsp, socketOpts);
      const client = new Client(socket, tag);
      socket.on('disconnect', (reason) => {
        client.reason = reason;
      });
      const outcome = new Promise((resolve) => {
        socket.once('connect', () => resolve({ client }));
        socket.once('connect_error', (error) => resolve({ error }));
      });
      socket.connect();
      return withTimeout(outcome, STEP_MS, `connecting to ${nsp}`);
    },
    async connect(nsp = '/', socketOpts = {}, manager = undefined, managerExtra = {}) {
      const { client, error } = await api.attempt(nsp, socketOpts, manager, managerExtra);
      if (error) {
        throw new Error(`connect_error on ${nsp}: ${error.message} ${JSON.stringify(error.data)}`);
      }
      return client;
    },
    /** `n` clients on `/`, each on its own connection, with `auth.nick` = names[i]. */
    async several(names) {
      return Promise.all(names.map((nick) => api.connect('/', { auth: { nick } })));
    },
  };
  return api;
}

/**
 * In upgrade mode, resolves once the client's connection runs on websocket (bounded); in the
 * other modes, at once.
 */
async function upgraded(client) {
  const engine = client.socket.io.engine;
  if (MODE === 'upgrade' && engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((resolve) => engine.once('upgrade', resolve)), STEP_MS, 'the upgrade to websocket');
  }
}

/** Sorted copy. */
const sorted = (items) => [...items].sort();

/** How many `event`s each of `clients` received (this test's own only, see SHARED_EVENTS). */
function receivers(clients, event) {
  return clients.map((c) => c.all(event).length);
}

// A guard against a stuck socket keeping the test process alive after the last test.
after(() => {
  setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
});

// ---- the scenarios ---------------------------------------------------------------------------

describe(`socket.io-client scenarios (${MODE}, ${PARSER})`, () => {
  test('transport: the client and the server agree on the transport and the session id', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const engine = c.socket.io.engine;
    await upgraded(c);
    assert.equal(engine.transport.name, MODE === 'polling' ? 'polling' : 'websocket');
    const info = await c.call1('conn');
    assert.deepEqual(info, { id: engine.id, transport: engine.transport.name });
    assert.notEqual(c.id, engine.id, 'the Socket.IO id is not the Engine.IO id');
    // traffic after the check still flows on the same transport
    assertSame(await c.call('echo', 'after'), ['after']);
    assert.equal(engine.transport.name, MODE === 'polling' ? 'polling' : 'websocket');
  });

  test('auth: the CONNECT payload reaches the server and comes back in `welcome`', TEST_OPTS, async (t) => {
    const s = session(t);
    const auth = { nick: 'alice', n: 1, nested: { list: [1, 'two', null, true] } };
    const c = await s.connect('/', { auth });
    const [welcome] = await c.next('welcome');
    assert.deepEqual(welcome, { id: c.id, auth });
    const bare = await s.connect('/');
    assert.deepEqual((await bare.next('welcome'))[0], { id: bare.id, auth: {} });
    assert.notEqual(c.id, bare.id);
  });

  test('connect middleware: refusals reach connect_error with message and data, in order', TEST_OPTS, async (t) => {
    const s = session(t);
    const bad = await s.attempt('/', { auth: { token: 'bad' } });
    assert.ok(bad.error, 'token "bad" is refused');
    assert.equal(bad.error.message, 'unauthorized');
    assert.deepEqual(bad.error.data, { code: 401 });
    const late = await s.attempt('/', { auth: { token: 'late' } });
    assert.ok(late.error, 'token "late" is refused');
    assert.equal(late.error.message, 'late refusal');
    assert.equal(late.error.data, undefined);
    // the server is unharmed and accepts a good token
    const good = await s.connect('/', { auth: { token: 'good' } });
    assert.deepEqual((await good.next('welcome'))[0].auth, { token: 'good' });
  });

  test('namespaces: /custom, dynamic /dyn-<digits>, and unknown ones', TEST_OPTS, async (t) => {
    const s = session(t);
    const custom = await s.connect('/custom', { auth: { k: 'v' } });
    assert.deepEqual(await custom.next('auth'), [{ k: 'v' }]);
    assertSame(await custom.call('echo', 1, 'two'), [1, 'two']);
    const customBare = await s.connect('/custom');
    assert.deepEqual(await customBare.next('auth'), [{}]);
    for (const ns of ['/dyn-123', '/dyn-7']) {
      const dyn = await s.connect(ns);
      assert.deepEqual(await dyn.next('dyn'), [{ ns }]);
      assertSame(await dyn.call('echo', ns), [ns]);
    }
    for (const ns of ['/nope', '/dyn-abc', '/dyn-', '/custom2']) {
      const { error } = await s.attempt(ns);
      assert.ok(error, `${ns} is refused`);
      assert.equal(error.message, 'Invalid namespace', ns);
    }
  });

  test('multiplexing: several namespaces share one Engine.IO connection', TEST_OPTS, async (t) => {
    const s = session(t);
    const manager = s.manager();
    const root = await s.connect('/', { auth: { nick: 'mux' } }, manager);
    const custom = await s.connect('/custom', { auth: { ns: 'custom' } }, manager);
    const dyn = await s.connect('/dyn-42', {}, manager);
    assert.deepEqual((await root.next('welcome'))[0], { id: root.id, auth: { nick: 'mux' } });
    assert.deepEqual(await custom.next('auth'), [{ ns: 'custom' }]);
    assert.deepEqual(await dyn.next('dyn'), [{ ns: '/dyn-42' }]);
    const ids = new Set([root.id, custom.id, dyn.id]);
    assert.equal(ids.size, 3, 'each namespace has its own socket id');
    const engineId = manager.engine.id;
    for (const c of [root, custom, dyn]) {
      assert.equal((await c.call1('conn')).id, engineId, `${c.socket.nsp} is on the one session`);
    }
    // interleaved traffic is routed to the right namespace
    const replies = await Promise.all([root, custom, dyn].map((c) => c.call('echo', c.socket.nsp)));
    assert.deepEqual(replies, [['/'], ['/custom'], ['/dyn-42']]);
    assert.deepEqual(root.all('echo-back'), [['/']]);
    assert.deepEqual(custom.all('echo-back'), [['/custom']]);
    assert.deepEqual(dyn.all('echo-back'), [['/dyn-42']]);
    // leaving one namespace keeps the others and the session
    custom.socket.disconnect();
    assertSame(await root.call('echo', 'still'), ['still']);
    assertSame(await dyn.call('echo', 'here'), ['here']);
    assert.equal((await root.call1('conn')).id, engineId);
  });

  test('events: several arguments of every JSON kind, echoed and acknowledged', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const args = [1, -2.5, 'three', true, false, null, [1, [2, [3]]], { a: { b: { c: 'd' } } }, 'h\u00e9llo \u4f60\u597d \u{1f600}', ''];
    c.socket.emit('echo', ...args);
    assert.deepEqual(await c.next('echo-back'), args);
    assert.deepEqual(await c.call('echo', ...args), args);
    assert.deepEqual(await c.next('echo-back'), args);
    assert.deepEqual(await c.call('echo'), [], 'no arguments');
    assert.deepEqual(await c.next('echo-back'), []);
  });

  test('a lone null is one argument, in events and acks (null, not undefined)', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const reply = await c.call('nulls');
    assert.equal(reply.length, 1, `the ack has one argument: ${JSON.stringify(reply)}`);
    assert.strictEqual(reply[0], null);
    for (let i = 0; i < 2; i++) {
      const args = await c.next('nulls-back');
      assert.equal(args.length, 1, `nulls-back has one argument: ${JSON.stringify(args)}`);
      assert.strictEqual(args[0], null);
    }
  });

  test('send/message: `message` both ways, with and without ack', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    c.socket.send('hi', { n: 1 });
    assert.deepEqual(await c.next('message'), ['hi', { n: 1 }]);
    const reply = await new Promise((resolve, reject) => {
      c.socket.timeout(STEP_MS).send('with-ack', 2, (err, ...r) => (err ? reject(err) : resolve(r)));
    });
    assert.deepEqual(reply, ['with-ack', 2]);
    assert.deepEqual(await c.next('message'), ['with-ack', 2]);
  });

  test('acks client to server: answered within the timeout, and unanswered events time out', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    assert.equal(await c.socket.timeout(STEP_MS).emitWithAck('echo', 'first', 'second'), 'first');
    const started = Date.now();
    const err = await new Promise((resolve) => {
      c.socket.timeout(300).emit('no-listener-here', 1, (e) => resolve(e));
    });
    assert.ok(err instanceof Error, 'an event without a listener is never acknowledged');
    assert.ok(Date.now() - started >= 250);
    assertSame(await c.call('echo', 'alive'), ['alive']);
  });

  test('acks server to client: the client answers with several arguments', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const questions = [];
    c.socket.on('question', (data, ack) => {
      questions.push(data);
      ack('r1', { n: 2 }, [3]);
    });
    const result = await c.call1('ask', { q: 'why' });
    assert.deepEqual(result, { reply: ['r1', { n: 2 }, [3]] });
    assert.deepEqual(questions, [{ q: 'why' }]);
  });

  test('acks server to client: the client does not answer, the server times out', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    let asked = 0;
    c.socket.on('question', () => {
      asked += 1; // deliberately no answer
    });
    const started = Date.now();
    const result = await c.call1('ask', 'silence');
    const elapsed = Date.now() - started;
    assert.deepEqual(result, { error: 'timeout' });
    assert.equal(asked, 1);
    assert.ok(elapsed >= SERVER_ACK_TIMEOUT_MS - 100, `timed out after ${elapsed} ms, not before ~1000`);
    assertSame(await c.call('echo', 'alive'), ['alive']);
  });

  test('binary: Buffer, ArrayBuffer and typed arrays nested anywhere, events and acks', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const big = Buffer.alloc(70_000, 7);
    const args = [
      Buffer.from([0, 1, 2, 255]),
      { nested: { deep: [new Uint8Array([9, 8, 7]).buffer, 'text'] }, n: 1 },
      [Buffer.from('a'), Buffer.from('b'), { c: Buffer.from('c') }],
      'plain',
      new Uint8Array([1, 2, 3]),
      big,
      Buffer.alloc(0),
    ];
    c.socket.emit('echo', ...args);
    const back = await c.next('echo-back');
    assertSame(back, args);
    assert.ok(Buffer.isBuffer(back[0]) || back[0] instanceof ArrayBuffer, 'binary arrives as binary');
    assertSame(await c.call('echo', ...args), args);
    assertSame(await c.next('echo-back'), args);
    // binary in `message` and in the catch-all path too
    c.socket.send(Buffer.from([42]));
    assertSame(await c.next('message'), [Buffer.from([42])]);
    c.socket.emit('any:bin', { b: Buffer.from([1, 2]) });
    assertSame(await c.next('any-got'), ['any:bin', { b: Buffer.from([1, 2]) }]);
  });

  test('binary: server-to-client ack carries binary both ways', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const got = [];
    c.socket.on('question', (data, ack) => {
      got.push(data);
      ack(Buffer.from([5, 6]), { inner: new Uint8Array([7]).buffer });
    });
    const question = { q: Buffer.from([1, 2, 3]), list: [Buffer.from([4])] };
    const result = await c.call1('ask', question);
    assertSame(result, { reply: [Buffer.from([5, 6]), { inner: Buffer.from([7]) }] });
    assertSame(got, [question]);
  });

  test('rooms: join/leave and socket.rooms, including the own-id room', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const [ra, rb, rc] = [s.u('a'), s.u('b'), s.u('c')];
    assert.deepEqual(await c.call1('join', rb), sorted([c.id, rb]));
    assert.deepEqual(await c.call1('join', [ra, rc, rb]), sorted([c.id, ra, rb, rc]));
    assert.deepEqual(await c.call1('leave', rb), sorted([c.id, ra, rc]));
    assert.deepEqual(await c.call1('leave', s.u('not-joined')), sorted([c.id, ra, rc]));
    const other = await s.connect('/');
    assert.deepEqual(await other.call1('join', []), [other.id], 'a new socket is only in its own room');
  });

  test('rooms: to, in (sender included), except, socket id as room, multi-room dedup, with 3 clients', TEST_OPTS, async (t) => {
    const s = session(t);
    const [a, b, c] = await s.several(['a', 'b', 'c']);
    const all = [a, b, c];
    const [r1, r2] = [s.u('r1'), s.u('r2')];
    const msg = (text) => s.u(text); // payloads carry the test's tag
    const settleAll = () => Promise.all(all.map((x) => x.settle()));
    await a.call('join', r1);
    await b.call('join', r1);
    await c.call('join', r2);

    // socket.to(room): the sender is excluded
    assert.deepEqual(await a.call('to-room', r1, msg('to-1')), [true]);
    assert.deepEqual(await b.next('room-msg'), [msg('to-1')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [0, 1, 0], 'to(r1) from a reaches b only');

    // namespace.in(room): every member, the sender included
    await a.call('in-room', r1, msg('in-1'));
    assert.deepEqual(await a.next('room-msg'), [msg('in-1')]);
    assert.deepEqual(await b.next('room-msg'), [msg('in-1')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [1, 2, 0]);

    // a non-member broadcasting into a room
    await c.call('in-room', r1, msg('in-2'));
    assert.deepEqual(await a.next('room-msg'), [msg('in-2')]);
    assert.deepEqual(await b.next('room-msg'), [msg('in-2')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [2, 3, 0]);

    // namespace.except(room): everyone outside r1 (here: c, plus sockets of other tests)
    await a.call('except', r1, msg('ex-1'));
    assert.deepEqual(await c.next('except-msg'), [msg('ex-1')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'except-msg'), [0, 0, 1]);

    // the socket id is a room
    await a.call('to-room', c.id, msg('direct'));
    assert.deepEqual(await c.next('room-msg'), [msg('direct')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [2, 3, 1]);

    // several rooms: c joins r1 too and must get one copy
    await c.call('join', r1);
    await b.call('in-room', [r1, r2], msg('multi'));
    for (const x of all) {
      assert.deepEqual(await x.next('room-msg'), [msg('multi')]);
    }
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [3, 4, 2], 'one copy each for [r1, r2]');

    // except with several rooms: c is in r1 and r2; except [r2, a] from b reaches b only
    await b.call('except', [r2, a.id], msg('ex-2'));
    assert.deepEqual(await b.next('except-msg'), [msg('ex-2')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'except-msg'), [0, 1, 1]);

    // after leave, b is no longer reached
    assert.deepEqual(await b.call1('leave', r1), [b.id]);
    await a.call('in-room', r1, msg('after-leave'));
    assert.deepEqual(await a.next('room-msg'), [msg('after-leave')]);
    assert.deepEqual(await c.next('room-msg'), [msg('after-leave')]);
    await settleAll();
    assert.deepEqual(receivers(all, 'room-msg'), [4, 4, 3]);
  });

  test('broadcast: socket.broadcast excludes the sender; namespace emit reaches everyone', TEST_OPTS, async (t) => {
    const s = session(t);
    const [a, b, c] = await s.several(['a', 'b', 'c']);
    const all = [a, b, c];
    const fromA = { tag: s.tag, from: 'a' };
    assert.deepEqual(await a.call('broadcast', fromA), [true]);
    assert.deepEqual(await b.next('broadcast'), [fromA]);
    assert.deepEqual(await c.next('broadcast'), [fromA]);
    await Promise.all(all.map((x) => x.settle()));
    assert.deepEqual(receivers(all, 'broadcast'), [0, 1, 1]);

    const toAll = { tag: s.tag, bin: Buffer.from([1]) };
    await b.call('to-all', toAll);
    for (const x of all) {
      assertSame(await x.next('all-msg'), [toAll]);
    }
    await Promise.all(all.map((x) => x.settle()));
    assert.deepEqual(receivers(all, 'all-msg'), [1, 1, 1]);
  });

  test('broadcast with acks across 3 clients: all answer, one silent, empty room', TEST_OPTS, async (t) => {
    const s = session(t);
    const names = ['ca', 'cb', 'cc'];
    const clients = await s.several(names);
    const room = s.u('ask');
    const silent = new Set();
    clients.forEach((x, i) => {
      x.socket.on('question', (data, ack) => {
        assert.equal(data, 'all');
        if (!silent.has(i)) {
          ack(names[i]);
        }
      });
    });
    for (const x of clients) {
      await x.call('join', room);
    }
    assert.deepEqual(await clients[0].call1('ask-room', room), { replies: names, timedOut: false });

    silent.add(2);
    const started = Date.now();
    const partial = await clients[1].call1('ask-room', room);
    assert.deepEqual(partial, { replies: ['ca', 'cb'], timedOut: true });
    assert.ok(Date.now() - started >= SERVER_ACK_TIMEOUT_MS - 100, 'waited for the timeout');

    assert.deepEqual(await clients[0].call1('ask-room', `${room}-empty`), { replies: [], timedOut: false });
  });

  test('volatile: no error, at most N delivered (the first one on an idle WebSocket), in order', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    await upgraded(c);
    await c.settle(); // idle, so the transport is writable when the burst starts
    const n = 20;
    assert.deepEqual(await c.call('volatile', n), [true]);
    assert.deepEqual(await c.next('vol-done'), [n]);
    const got = c.all('vol').map(([i]) => i);
    assert.ok(got.length <= n, `at most ${n} volatile events, got ${got.length}`);
    if (MODE !== 'polling') {
      // an idle WebSocket is writable: the first volatile event of the burst is delivered
      assert.ok(got.length >= 1 && got[0] === 0, `the first volatile event arrives: ${JSON.stringify(got)}`);
    }
    for (let k = 0; k < got.length; k += 1) {
      assert.ok(Number.isInteger(got[k]) && got[k] >= 0 && got[k] < n, `index in range: ${got[k]}`);
      if (k > 0) {
        assert.ok(got[k] > got[k - 1], `in order, no duplicates: ${JSON.stringify(got)}`);
      }
    }
    await c.settle();
    assert.equal(c.all('vol').length, got.length, 'nothing volatile arrives after the normal event');
    assertSame(await c.call('echo', 'alive'), ['alive']);
  });

  test('fetch_sockets: ids, rooms, data and auth', TEST_OPTS, async (t) => {
    const s = session(t);
    const a = await s.connect('/', { auth: { nick: 'alice' } });
    const b = await s.connect('/', { auth: { nick: 'bob', extra: [1] } });
    const c = await s.connect('/');
    const room = s.u('fetch');
    const other = s.u('fetch-other');
    await a.call('join', room);
    await b.call('join', [room, other]);
    const entry = (x, rooms, data, auth) => ({ id: x.id, rooms: sorted(rooms), data, auth });
    const ea = entry(a, [a.id, room], { nick: 'alice' }, { nick: 'alice' });
    const eb = entry(b, [b.id, room, other], { nick: 'bob' }, { nick: 'bob', extra: [1] });
    const ec = entry(c, [c.id], { nick: null }, {});
    const byId = (list) => [...list].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

    assert.deepEqual(await c.call1('fetch', room), byId([ea, eb]));
    assert.deepEqual(await a.call1('fetch', [room, c.id]), byId([ea, eb, ec]));
    assert.deepEqual(await a.call1('fetch', `${room}-nobody`), []);
    const everyone = await b.call1('fetch', null);
    for (const e of [ea, eb, ec]) {
      assert.deepEqual(
        everyone.find((x) => x.id === e.id),
        e,
        `fetch(null) lists ${e.id}`,
      );
    }
    const ids = everyone.map((x) => x.id);
    assert.deepEqual(ids, [...ids].sort(), 'sorted by id');
  });

  test('reserved event names are refused by the server; other names go through', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    const unexpected = [];
    for (const name of RESERVED) {
      c.socket.on(name, (...args) => {
        if (args[0] === 'x') {
          unexpected.push(name);
        }
      });
    }
    for (const name of RESERVED) {
      assert.deepEqual(await c.call1('emit-reserved', name), { socket: true, broadcast: true }, name);
    }
    assert.deepEqual(await c.call1('emit-reserved', 'fine-event'), { socket: false, broadcast: false });
    assert.deepEqual(await c.next('fine-event'), ['x']);
    assert.deepEqual(await c.next('fine-event'), ['x']);
    await c.settle();
    assert.deepEqual(
      c.log.map(([name]) => name).filter((name) => RESERVED.includes(name)),
      [],
      'no reserved event reached the client',
    );
    assert.deepEqual(unexpected, []);
    assert.ok(c.socket.connected);
  });

  test('handshake: query, headers, auth, url, issued, time, address, secure, xdomain', TEST_OPTS, async (t) => {
    const s = session(t);
    const before = Date.now();
    const c = await s.connect('/', { auth: { k: 'v' } }, undefined, {
      query: { foo: 'bar', n: '1' },
      extraHeaders: { 'x-test': 'hello' },
    });
    const after = Date.now();
    const hs = await c.call1('handshake');
    assert.equal(hs.query.foo, 'bar');
    assert.equal(hs.query.n, '1');
    assert.equal(hs.query.EIO, '4');
    assert.equal(hs.query.transport, TRANSPORTS[0]);
    for (const [k, v] of Object.entries(hs.query)) {
      assert.equal(typeof v, 'string', `query value of ${k} is a string`);
    }
    assert.deepEqual(hs.auth, { k: 'v' });
    assert.equal(typeof hs.url, 'string');
    assert.ok(hs.url.startsWith(`${PATH}?`), `url ${hs.url} starts with ${PATH}?`);
    assert.ok(hs.url.includes('foo=bar'), `url ${hs.url} carries the query`);
    assert.ok(hs.url.includes('EIO=4'), `url ${hs.url} carries EIO=4`);
    assert.equal(typeof hs.issued, 'number');
    assert.ok(hs.issued >= before - 1000 && hs.issued <= after + 1000, `issued ${hs.issued} in [${before}, ${after}]`);
    assert.equal(typeof hs.time, 'string');
    assert.ok(hs.time.length > 0);
    assert.ok(['127.0.0.1', '::ffff:127.0.0.1'].includes(hs.address), `address ${hs.address}`);
    assert.equal(hs.secure, false);
    assert.equal(hs.xdomain, false, 'no Origin header was sent');
    assert.deepEqual(hs.headers, { 'x-test': 'hello' });

    const plain = await s.connect('/');
    const hs2 = await plain.call1('handshake');
    assert.deepEqual(hs2.headers, { 'x-test': null });
    assert.deepEqual(hs2.auth, {});
    assert.equal(hs2.query.foo, undefined);
  });

  test('listeners: `once` fires once, `off` removes a listener', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    c.socket.emit('once-ev');
    assert.deepEqual(await c.next('once-got'), []);
    c.socket.emit('once-ev');
    c.socket.emit('once-ev');
    await c.settle();
    assert.equal(c.all('once-got').length, 1);

    c.socket.emit('offable');
    assert.deepEqual(await c.next('offable-got'), []);
    assert.deepEqual(await c.call1('off', 'offable'), { had: true, has: false });
    c.socket.emit('offable');
    await c.settle();
    assert.equal(c.all('offable-got').length, 1, 'no listener after off');
    assert.deepEqual(await c.call1('off', 'offable'), { had: false, has: false });
    assert.deepEqual(await c.call1('off', 'never-registered'), { had: false, has: false });
  });

  test('catch-all: incoming events are seen by onAny, outgoing by onAnyOutgoing', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    await c.next('welcome');
    c.socket.emit('alpha', 1);
    c.socket.emit('beta');
    c.socket.emit('any:thing', 1, { a: 2 }, 'three');
    assert.deepEqual(await c.next('any-got'), ['any:thing', 1, { a: 2 }, 'three']);
    assertSame(await c.call('echo', 'e'), ['e']);
    await c.next('echo-back');
    assert.deepEqual(await c.call1('seen'), ['alpha', 'beta', 'any:thing', 'echo']);
    const any = await new Promise((resolve, reject) => {
      c.socket.timeout(STEP_MS).emit('any:acked', 'x', (err, ...r) => (err ? reject(err) : resolve(r)));
      setTimeout(() => resolve('no ack'), SETTLE_MS * 2);
    });
    assert.equal(any, 'no ack', 'the catch-all never acknowledges');
    assert.deepEqual(await c.next('any-got'), ['any:acked', 'x']);
    assert.deepEqual(await c.call1('seen'), ['alpha', 'beta', 'any:thing', 'echo', 'any:acked']);
    assert.deepEqual(await c.call1('seen-out'), ['welcome', 'any-got', 'echo-back', 'any-got']);
  });

  test('per-packet middleware: refuses `forbidden` with an error event, rewrites `rewrite`', TEST_OPTS, async (t) => {
    const s = session(t);
    const c = await s.connect('/');
    c.socket.emit('forbidden', 'payload');
    assert.deepEqual(await c.next('error'), [{ message: 'forbidden event' }]);
    await c.settle();
    assert.equal(c.all('forbidden-got').length, 0, 'the refused event never reached its listener');
    c.socket.emit('rewrite', 'a', 1, { b: 2 });
    assert.deepEqual(await c.next('rewrite-got'), ['rewritten']);
    c.socket.emit('rewrite');
    assert.deepEqual(await c.next('rewrite-got'), ['rewritten']);
    assert.ok(c.socket.connected, 'a refusal does not disconnect');
    assertSame(await c.call('echo', 'alive'), ['alive']);
  });

  test('server disconnect(false): the client sees `io server disconnect`, other namespaces stay', TEST_OPTS, async (t) => {
    const s = session(t);
    const observer = await s.connect('/');
    const manager = s.manager();
    const root = await s.connect('/', {}, manager);
    const custom = await s.connect('/custom', {}, manager);
    const rootId = root.id;
    const gone = root.disconnected();
    root.socket.emit('disconnect-me', false);
    assert.equal(await gone, 'io server disconnect');
    assertSame(await custom.call('echo', 'kept'), ['kept']);
    assert.equal(manager.engine.readyState, 'open');
    const record = await pollUntil(() => observer.call1('last-reason', rootId), STEP_MS, 'the server-side reason');
    assert.deepEqual(record, { reason: 'server namespace disconnect', rooms: [rootId] });
  });

  test('server disconnect(true): every namespace of the connection is closed', TEST_OPTS, async (t) => {
    const s = session(t);
    const manager = s.manager();
    const root = await s.connect('/', {}, manager);
    const custom = await s.connect('/custom', {}, manager);
    const closed = withTimeout(new Promise((resolve) => manager.once('close', resolve)), STEP_MS, 'the connection close');
    const reasons = Promise.all([root.disconnected(), custom.disconnected()]);
    root.socket.emit('disconnect-me', true);
    const [r1, r2] = await reasons;
    for (const reason of [r1, r2]) {
      assert.ok(['io server disconnect', 'transport close'].includes(reason), `reason ${reason}`);
    }
    await closed;
    assert.equal(root.socket.connected, false);
    assert.equal(custom.socket.connected, false);
  });

  test('disconnect reasons seen by the server, with rooms still present at disconnecting', TEST_OPTS, async (t) => {
    const s = session(t);
    const [observer, leaver, dropper] = await s.several(['obs', 'leaver', 'dropper']);
    const room = s.u('bye');
    const room2 = s.u('bye-2');
    await leaver.call('join', room);
    await dropper.call('join', [room, room2]);
    const leaverId = leaver.id;
    const dropperId = dropper.id;
    assert.equal(await observer.call1('has-socket', leaverId), true);
    assert.equal(await observer.call1('has-socket', dropperId), true);

    leaver.socket.disconnect();
    const r1 = await pollUntil(() => observer.call1('last-reason', leaverId), STEP_MS, 'the reason of leaver');
    assert.deepEqual(r1, { reason: 'client namespace disconnect', rooms: sorted([leaverId, room]) });

    dropper.socket.io.engine.close();
    const r2 = await pollUntil(() => observer.call1('last-reason', dropperId), STEP_MS, 'the reason of dropper');
    assert.deepEqual(r2, { reason: 'transport close', rooms: sorted([dropperId, room, room2]) });

    // rooms are left on disconnect, and the namespace forgets the sockets
    assert.deepEqual(await observer.call1('fetch', room), []);
    assert.equal(await observer.call1('has-socket', leaverId), false);
    assert.equal(await observer.call1('has-socket', dropperId), false);
    assert.equal(await observer.call1('has-socket', observer.id), true);
    assert.equal(await observer.call1('last-reason', observer.id), null, 'a connected socket has no record');
  });

  test('ack pending when the client leaves: the server gets an error, not a reply', TEST_OPTS, async (t) => {
    const s = session(t);
    const [observer, leaver] = await s.several(['obs', 'leaver']);
    const leaverId = leaver.id;
    const asked = new Promise((resolve) => {
      leaver.socket.on('question', (data) => {
        resolve(data);
        leaver.socket.disconnect(); // without answering
      });
    });
    leaver.socket.emit('ask-then-leave');
    assert.equal(await withTimeout(asked, STEP_MS, 'the question'), 'leave');
    const outcome = await pollUntil(
      () => observer.call1('ack-outcome', leaverId),
      SERVER_ACK_TIMEOUT_MS + STEP_MS,
      'the outcome of the pending ack',
    );
    assert.ok(
      ['timeout', 'disconnected'].includes(outcome.error) && Object.keys(outcome).length === 1,
      `outcome ${JSON.stringify(outcome)}`,
    );
    assert.equal(await observer.call1('ack-outcome', observer.id), null);
  });
});
