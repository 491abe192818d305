// socket.io-client 2 in a real browser (Debian's chromium under playwright-core): the page
// of tests/browser_sio2.rs loads the 2.x bundle (`dist/socket.io.js` of the npm package,
// served by the test) and runs echo, acks both ways and binary against the Socket.IO 2 test
// server (tests/sio2_support), once per transport mode:
//
//   node browser/sio2.mjs <page-url> --chromium /usr/bin/chromium
//
// Modes: `polling` (XHR2: batches holding binary travel as binary payloads, both ways),
// `websocket`, `upgrade` (polling, then WebSocket), `jsonp` (forceJSONP: script tags and
// form posts, text only). Exit code 0 means every mode passed; every wait is bounded.

import { chromium } from 'playwright-core';
import { CHROMIUM_FLAGS, DriverError, cli, main } from '../lib.mjs';

const STEP_MS = 10_000;
const MODES = ['polling', 'websocket', 'upgrade', 'jsonp'];

const { args, opts } = cli('node browser/sio2.mjs <page-url> --chromium <path>', 1, {
  chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
});
const [url] = args;

/** The scenario, run inside the page. Resolves with a report, or rejects with what failed. */
async function scenario({ mode, stepMs }) {
  const options = {
    polling: { transports: ['polling'] },
    websocket: { transports: ['websocket'] },
    upgrade: { transports: ['polling', 'websocket'] },
    jsonp: { transports: ['polling'], forceJSONP: true },
  }[mode];
  const bytes = (b) => Array.from(new Uint8Array(b));
  const withTimeout = (p, what) =>
    Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), stepMs))]);
  const event = (s, name) => withTimeout(new Promise((resolve) => s.once(name, (...a) => resolve(a))), name);
  const call = (s, name, ...a) => withTimeout(new Promise((resolve) => s.emit(name, ...a, (...r) => resolve(r))), `ack of ${name}`);
  const check = (cond, what) => {
    if (!cond) throw new Error(what);
  };

  const socket = io(location.origin, { ...options, reconnection: false, forceNew: true });
  try {
    const [auth] = await event(socket, 'auth');
    check(JSON.stringify(auth) === '{}', `auth ${JSON.stringify(auth)}`);
    check(socket.id === socket.io.engine.id, `the id of / ${socket.id}`);
    const [id] = await call(socket, 'whoami');
    check(id === socket.id, `whoami ${id}`);

    // Echo of text.
    socket.emit('message', 'héllo 😀', { a: [1, 2] });
    const back = await event(socket, 'message-back');
    check(JSON.stringify(back) === JSON.stringify(['héllo 😀', { a: [1, 2] }]), `echo ${JSON.stringify(back)}`);

    // Echo of binary, nested: comes back as ArrayBuffers.
    const bin = new Uint8Array([0, 1, 0xfe, 0xff]).buffer;
    socket.emit('message', 'bin', { deep: bin });
    const [label, obj] = await event(socket, 'message-back');
    check(label === 'bin' && obj.deep instanceof ArrayBuffer, `binary echo ${String(obj && obj.deep)}`);
    check(JSON.stringify(bytes(obj.deep)) === '[0,1,254,255]', `binary echo bytes ${bytes(obj.deep)}`);

    // Ack with binary from the client.
    const reply = await call(socket, 'message-with-ack', 1, new Uint8Array([5, 6]).buffer);
    check(reply[0] === 1 && reply[1] instanceof ArrayBuffer && bytes(reply[1]).join() === '5,6', `ack ${reply}`);

    // Ack the server asks for, binary both ways.
    socket.on('question', (q, data, ack) => {
      ack(`reply to ${q}`, new Uint8Array([...bytes(data), 9]).buffer);
    });
    socket.emit('ask');
    const answer = await event(socket, 'answer');
    check(answer[0] === 'reply to q?' && bytes(answer[1]).join() === '1,2,9', `answer ${answer}`);

    if (mode === 'upgrade' && socket.io.engine.transport.name !== 'websocket') {
      await withTimeout(new Promise((resolve) => socket.io.engine.once('upgrade', resolve)), 'the upgrade');
    }
    return { transport: socket.io.engine.transport.name, id: socket.id };
  } finally {
    socket.close();
  }
}

main('browser-sio2', 120_000, async () => {
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000 });
  const reports = [];
  try {
    for (const mode of MODES) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
      const requests = [];
      const responseTypes = [];
      page.on('request', (r) => {
        const u = new URL(r.url());
        if (u.pathname.startsWith('/socket.io/')) {
          requests.push({ method: r.method(), type: r.headers()['content-type'] ?? '', query: u.search });
        }
      });
      page.on('response', (r) => {
        const u = new URL(r.url());
        if (u.pathname.startsWith('/socket.io/') && r.request().method() === 'GET' && r.status() === 200) {
          responseTypes.push(r.headers()['content-type'] ?? '');
        }
      });
      await page.goto(url);
      let report;
      try {
        report = await page.evaluate(scenario, { mode, stepMs: STEP_MS });
      } catch (err) {
        throw new DriverError(`${mode}: ${err.message}${errors.length ? ` (${errors.join('; ')})` : ''}`);
      }
      const expected = { polling: 'polling', websocket: 'websocket', upgrade: 'websocket', jsonp: 'polling' }[mode];
      if (report.transport !== expected) {
        throw new DriverError(`${mode}: ended over ${report.transport}, expected ${expected}`);
      }
      // How the polling requests travelled.
      const posts = requests.filter((r) => r.method === 'POST');
      if (mode === 'polling') {
        if (!posts.some((p) => p.type === 'application/octet-stream')) {
          throw new DriverError(`polling: no XHR2 binary POST (${posts.map((p) => p.type).join(', ')})`);
        }
        if (!responseTypes.includes('application/octet-stream')) {
          throw new DriverError(`polling: no binary payload answered (${responseTypes.join(', ')})`);
        }
        if (requests.some((r) => r.query.includes('b64='))) {
          throw new DriverError('polling: the browser asked for base64');
        }
      }
      if (mode === 'jsonp') {
        if (!requests.some((r) => /[?&]j=\d/.test(r.query))) {
          throw new DriverError('jsonp: no JSONP request');
        }
        if (!responseTypes.every((t) => t.startsWith('text/javascript'))) {
          throw new DriverError(`jsonp: script answers of type ${responseTypes.join(', ')}`);
        }
      }
      if (errors.length > 0) {
        throw new DriverError(`${mode}: ${errors.join('; ')}`);
      }
      reports.push(`${mode} over ${report.transport} (${posts.length} POSTs)`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return reports.join(', ');
});
