// Drives the Socket.IO Admin UI, as tower-socketio serves it, in a real browser: Debian's
// chromium under playwright-core, against a server running the chat example's handlers
// instrumented for the UI (tests/admin_ui_browser.rs starts it).
//
//   node browser/admin.mjs <server-url> --chromium /usr/bin/chromium --screenshots <dir>
//
// Three chat clients (socket.io-client, here) are connected: alice, bob and carol (carol is
// also in #rust). The UI is opened at <server-url>/admin; a wrong password is refused; the
// right one (admin / changeit, "WebSocket only?") logs in; the dashboard, Sockets, Rooms,
// Servers and a socket's page show the clients, their rooms and namespaces; the socket page
// makes carol join a room; an `emit` sent from the page's own admin connection reaches bob
// only (the 0.5.1 UI has no emit button: its SocketRooms.vue `emit()` is an empty TODO, so
// the packet is written on the page's WebSocket); the Sockets page's disconnect button
// disconnects alice; a reload of the page stays logged in (the session). Screenshots go to
// <dir>/admin-*.png. Exit code 0 means every step passed; every wait is bounded.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { io } from 'socket.io-client';
import { DriverError, EventQueue, cli, main, once, show, sleep } from '../lib.mjs';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_MS = 10_000;

const { args, opts } = cli(
  'node browser/admin.mjs <server-url> --chromium <path> --screenshots <dir>',
  1,
  {
    chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
    screenshots: { type: 'string', default: '.' },
    password: { type: 'string', default: 'changeit' },
  },
);
const server = new URL(args[0]).origin;

/** A chat client (the chat example's auth), connected and welcomed. */
async function chatter(nick, rooms) {
  const s = io(server, { forceNew: true, reconnection: false, auth: { nick, rooms } });
  const welcome = new EventQueue(s, 'welcome');
  await once(s, 'connect', STEP_MS, `${nick} connects`, ['connect_error']);
  await welcome.next(STEP_MS, `${nick}'s welcome`);
  return s;
}

/** Waits until `selector`'s text (whitespace squeezed) satisfies `test`. */
async function waitText(page, selector, test, what) {
  const deadline = Date.now() + STEP_MS;
  let last = null;
  while (Date.now() < deadline) {
    last = await page.locator(selector).allTextContents().catch(() => null);
    const text = (last ?? []).join(' | ').replace(/\s+/g, ' ').trim();
    if (test(text)) return text;
    await sleep(100);
  }
  throw new DriverError(`${what}: ${selector} shows ${show(last)}`);
}

async function nav(page, item) {
  await page.locator('.v-navigation-drawer').getByText(item, { exact: true }).click();
}

async function shot(page, name) {
  await page.screenshot({ path: join(opts.screenshots, `admin-${name}.png`) });
}

/** Logs in through the UI's connection form. */
async function login(page, password) {
  const dialog = page.locator('.v-dialog');
  await dialog.getByText('Connection', { exact: true }).waitFor();
  await page.getByLabel('Server URL').fill(server);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Connect' }).click();
}

main('browser-admin', 110_000, async () => {
  const alice = await chatter('alice', ['general']);
  const bob = await chatter('bob', ['general']);
  const carol = await chatter('carol', ['general', 'rust']);
  const ids = { alice: alice.id, bob: bob.id, carol: carol.id };

  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: FLAGS, timeout: 30_000 });
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Keep the page's WebSockets reachable, to write the admin `emit` the UI has no button for.
    await context.addInitScript(() => {
      const Native = window.WebSocket;
      window.__sockets = [];
      window.WebSocket = class extends Native {
        constructor(...a) {
          super(...a);
          window.__sockets.push(this);
        }
      };
    });
    // The page asks two public hosts for its font and icon stylesheets: answer them empty.
    await context.route('**/*', (route) => {
      if (new URL(route.request().url()).origin !== server) {
        return route.fulfill({ status: 200, contentType: 'text/css', body: '' });
      }
      return route.continue();
    });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(`console error: ${msg.text()} (${msg.location().url})`);
    });

    // The base path redirects to the page.
    await page.goto(`${server}/admin`);
    if (new URL(page.url()).pathname !== '/admin/') throw new DriverError(`/admin led to ${page.url()}`);

    // A wrong password is refused.
    await login(page, 'not the password');
    await waitText(page, '.v-dialog .red--text', (t) => t === 'Invalid credentials', 'the wrong password is refused');
    // The right one, over WebSocket only (the UI's advanced option).
    await page.getByText('Advanced options').click();
    await page.getByLabel('WebSocket only?').check({ force: true });
    await page.getByLabel('Password').fill(opts.password);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('.v-dialog').waitFor({ state: 'hidden' });
    await waitText(page, 'header .v-chip', (t) => t.toLowerCase().includes('connected'), 'the status chip');
    const session = await page.evaluate(() => localStorage.getItem('session_id'));
    if (!/^[0-9a-f]{32}$/.test(session ?? '')) throw new DriverError(`no session saved: ${show(session)}`);

    // Dashboard: namespaces (3 chat sockets in /, the UI itself in /admin), one server.
    await waitText(page, '.v-card:has-text("Namespaces") tbody', (t) => t.replace(/ /g, '').includes('/3/admin1'), 'the Namespaces card');
    await waitText(page, '.v-card:has-text("Servers")', (t) => /Healthy\s*1\s*100/.test(t), 'the Servers card');
    await sleep(2500); // one more server_stats for the charts
    mkdirSync(opts.screenshots, { recursive: true });
    await shot(page, 'dashboard');

    // Sockets: the three chat clients.
    await nav(page, 'Sockets');
    await waitText(page, '.v-data-table tbody', (t) => Object.values(ids).every((id) => t.includes(id)), 'the Sockets page lists the chat clients');
    await shot(page, 'sockets');

    // Rooms: #general with 3, #rust with 1.
    await nav(page, 'Rooms');
    await waitText(page, '.v-data-table tbody', (t) => /general\s*Public\s*3/.test(t) && /rust\s*Public\s*1/.test(t), 'the Rooms page');

    // Servers: this one, healthy.
    await nav(page, 'Servers');
    await waitText(page, '.v-data-table tbody', (t) => t.includes('rust-chat') && t.includes('Healthy'), 'the Servers page');
    await shot(page, 'servers');

    // Carol's page: her rooms; join #vip from the UI.
    await nav(page, 'Sockets');
    await page.locator(`.v-data-table tbody tr:has(td:text-is("${ids.carol}"))`).click();
    await waitText(page, '.v-card:has(.v-card__title:text-is("Rooms")) tbody', (t) => t.includes('general') && t.includes('rust'), "carol's rooms");
    await waitText(page, '.v-card:has-text("Details")', (t) => t.includes('"carol"'), "carol's data");
    await page.getByLabel('Join a room').fill('vip');
    await page.locator('button:has(i.mdi-tag-plus-outline)').click();
    await waitText(page, '.v-card:has(.v-card__title:text-is("Rooms")) tbody', (t) => t.includes('vip'), 'carol is shown in #vip');
    const inVip = await carol.timeout(STEP_MS).emitWithAck('message', { room: 'vip', text: 'hi vip' });
    if (!inVip.ok) throw new DriverError(`carol is not in #vip on the server: ${show(inVip)}`);
    await shot(page, 'socket');

    // An emit from the page's own admin connection reaches bob, and only bob.
    const bobGets = new EventQueue(bob, 'message');
    let aliceGot = null;
    alice.on('message', (m) => { if (m.text === 'from the Admin UI') aliceGot = m; });
    const sent = await page.evaluate((sid) => {
      const ws = window.__sockets.find((w) => w.readyState === 1 && w.url.includes('/socket.io/'));
      if (!ws) return null;
      const msg = { id: 0, room: 'general', from: 'admin', text: 'from the Admin UI', at: Date.now() };
      ws.send('42/admin,' + JSON.stringify(['emit', '/', sid, 'message', msg]));
      return ws.url;
    }, ids.bob);
    if (!sent) throw new DriverError('the page has no open WebSocket to its server');
    const [got] = await bobGets.next(STEP_MS, "bob gets the UI's emit");
    if (got.text !== 'from the Admin UI') throw new DriverError(`bob got ${show(got)}`);
    await sleep(300);
    if (aliceGot) throw new DriverError(`alice got the emit meant for bob: ${show(aliceGot)}`);

    // The Sockets page's disconnect button disconnects alice.
    const aliceGone = once(alice, 'disconnect', STEP_MS, 'alice is disconnected from the UI');
    await nav(page, 'Sockets');
    await page.locator(`.v-data-table tbody tr:has(td:text-is("${ids.alice}")) button:has(i.mdi-logout)`).click();
    const [reason] = await aliceGone;
    if (reason !== 'io server disconnect') throw new DriverError(`alice's disconnect reason: ${reason}`);
    await nav(page, 'Sockets');
    await waitText(page, '.v-data-table tbody', (t) => !t.includes(ids.alice) && t.includes(ids.bob), 'alice is gone from the Sockets page');

    // A reload keeps the login (the session).
    await page.reload();
    await waitText(page, 'header .v-chip', (t) => t.toLowerCase().includes('connected'), 'the status chip after a reload');
    if (await page.locator('.v-dialog').isVisible()) throw new DriverError('the login form came back after a reload');

    if (errors.length > 0) throw new DriverError(errors.join('\n'));
    return `UI logged in, listed ${Object.keys(ids).length} clients, joined, emitted, disconnected`;
  } finally {
    for (const s of [alice, bob, carol]) s.close();
    await browser.close().catch(() => {});
  }
});
