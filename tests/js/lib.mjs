// Shared helpers for the Node driver scripts of the tower-socketio integration tests.
//
// Every driver follows the same contract: exit code 0 means the scenario passed; any other
// exit code means it failed, with a message on stderr that says what was expected and what
// was seen. Every wait is bounded: nothing here can hang forever.

import { isDeepStrictEqual, inspect, parseArgs } from 'node:util';
import { io } from 'socket.io-client';

/**
 * The flags of the test suite's Chromium. Playwright adds its own fresh `--user-data-dir` (a
 * new temporary profile per launch) and refuses one in `args`.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Default bound, in milliseconds, for a single wait (connect, one echo, one event). */
export const DEFAULT_STEP_TIMEOUT_MS = 5_000;

/** Default bound, in milliseconds, for a whole driver run. */
export const DEFAULT_TOTAL_TIMEOUT_MS = 30_000;

/** An error that carries a message meant for the test's failure output. */
export class DriverError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DriverError';
  }
}

/** Formats any value compactly for an error message (Buffers and nested objects included). */
export function show(value) {
  return inspect(value, { depth: 6, breakLength: Infinity, maxArrayLength: 32, maxStringLength: 200 });
}

/** A short description of an error-like value: its message when it has one. */
export function describe(value) {
  if (value === null || value === undefined || typeof value !== 'object') {
    return String(value);
  }
  if (typeof value.message === 'string') {
    const cause = value.description ?? value.cause ?? value.error;
    const tail = cause !== undefined && cause !== null ? ` (${describe(cause)})` : '';
    return `${value.message}${tail}`;
  }
  return show(value);
}

/** Formats event arguments for an error message: errors as their message and cause only. */
export function brief(args) {
  return args.map(describe).join(', ');
}

/** Throws a DriverError with `message` unless `condition` holds. */
export function assert(condition, message) {
  if (!condition) {
    throw new DriverError(message);
  }
}

/** Throws unless `actual` and `expected` are deeply and strictly equal (Buffers compare bytes). */
export function assertEqual(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new DriverError(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/** Returns a copy of `bytes` (ArrayBuffer, typed array, Buffer) as a Node Buffer, or null. */
export function toBuffer(bytes) {
  if (Buffer.isBuffer(bytes)) {
    return bytes;
  }
  if (bytes instanceof ArrayBuffer) {
    return Buffer.from(bytes);
  }
  if (ArrayBuffer.isView(bytes)) {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return null;
}

/** Resolves with `promise`'s value, or rejects with a DriverError after `ms` milliseconds. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DriverError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for one `event` on an emitter (engine.io-client / socket.io-client sockets, Node
 * EventEmitters). Resolves with the event's arguments as an array. Rejects after `ms`
 * milliseconds, or as soon as one of `failOn` (event names) fires first.
 */
export function once(emitter, event, ms, what = `event "${event}"`, failOn = []) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const cleanups = [];
      const done = () => cleanups.forEach((fn) => fn());
      const onEvent = (...args) => {
        done();
        resolve(args);
      };
      emitter.on(event, onEvent);
      cleanups.push(() => emitter.off(event, onEvent));
      for (const bad of failOn) {
        const onBad = (...args) => {
          done();
          reject(new DriverError(`got "${bad}" [${brief(args)}] while waiting for ${what}`));
        };
        emitter.on(bad, onBad);
        cleanups.push(() => emitter.off(bad, onBad));
      }
    }),
    ms,
    what,
  );
}

/**
 * A queue of incoming events of one name: `next()` returns the arguments of the next one
 * (already received or still to come), bounded by a timeout.
 */
export class EventQueue {
  constructor(emitter, event) {
    this.event = event;
    this.items = [];
    this.waiters = [];
    emitter.on(event, (...args) => {
      const waiter = this.waiters.shift();
      if (waiter) {
        waiter(args);
      } else {
        this.items.push(args);
      }
    });
  }

  /** Resolves with the arguments of the next event, or rejects after `ms` milliseconds. */
  next(ms = DEFAULT_STEP_TIMEOUT_MS, what = `event "${this.event}"`) {
    if (this.items.length > 0) {
      return Promise.resolve(this.items.shift());
    }
    let waiter;
    const arrived = new Promise((resolve) => {
      waiter = resolve;
      this.waiters.push(resolve);
    });
    return withTimeout(arrived, ms, what).catch((err) => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw err;
    });
  }
}

/**
 * Parses the command line: positional arguments plus `--name value` options.
 * `options` follows node:util parseArgs (`{ name: { type: 'string', default: '...' } }`).
 * Prints `usage` and exits with code 2 when the positionals are not `positionals` in count.
 */
export function cli(usage, positionals, options = {}) {
  let parsed;
  try {
    parsed = parseArgs({ options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`${err.message}\nusage: ${usage}`);
    process.exit(2);
  }
  if (parsed.positionals.length !== positionals) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  return { args: parsed.positionals, opts: parsed.values };
}

/** Parses a millisecond option value; exits with code 2 when it is not a positive integer. */
export function millis(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer (milliseconds), got ${show(value)}`);
    process.exit(2);
  }
  return n;
}

/**
 * Runs a driver: `body()` must resolve for the run to pass. The whole run is bounded by
 * `totalMs`; on success the process exits 0 and prints `name: ok` on stdout, on failure it
 * prints `name: FAIL: <reason>` on stderr and exits 1. Exiting explicitly means a socket
 * left open by a failed step can never keep the process alive.
 */
export async function main(name, totalMs, body) {
  const deadline = setTimeout(() => {
    console.error(`${name}: FAIL: the whole run took longer than ${totalMs} ms`);
    process.exit(1);
  }, totalMs);
  try {
    const summary = await body();
    clearTimeout(deadline);
    console.log(summary ? `${name}: ok: ${summary}` : `${name}: ok`);
    process.exit(0);
  } catch (err) {
    clearTimeout(deadline);
    const reason = err instanceof DriverError ? err.message : (err?.stack ?? String(err));
    console.error(`${name}: FAIL: ${reason}`);
    process.exit(1);
  }
}

/**
 * Connects a socket.io-client socket and resolves once it is connected. `url` may carry a
 * namespace (`http://127.0.0.1:3000/custom`). Reconnection is off and every socket gets its
 * own Manager (`forceNew`), so a failed connect fails the step instead of retrying.
 * Listeners given in `listeners` (`{ event: handler }`) are attached before the connection
 * starts, so events sent right after CONNECT are never missed.
 * Rejects with the server's message on `connect_error`, or after `ms` milliseconds.
 */
export async function connectSocketIo(url, options = {}, ms = DEFAULT_STEP_TIMEOUT_MS, listeners = {}) {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    timeout: ms,
    ...options,
    autoConnect: false,
  });
  for (const [event, handler] of Object.entries(listeners)) {
    socket.on(event, handler);
  }
  const connected = new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      const data = err?.data === undefined ? '' : ` (data: ${show(err.data)})`;
      reject(new DriverError(`connect_error on ${url}: ${err?.message ?? show(err)}${data}`));
    });
  });
  socket.connect();
  try {
    return await withTimeout(connected, ms, `a Socket.IO connection to ${url}`);
  } catch (err) {
    socket.disconnect();
    throw err;
  }
}
