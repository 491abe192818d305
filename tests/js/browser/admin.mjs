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
import { io } from 'socket.io-client';
import { DriverError, EventQueue, cli, main, once, show, sleep } from '../lib.mjs';
import { STEP_MS, disconnectFromSocketsPage, loggedIn, login, nav, openAdminUi, waitText, wsOnly } from './admin_ui.mjs';

const { args, opts } = cli(
  'node browser/admin.mjs <server-url> --chromium <path> --screenshots <dir>',
  1,
  {
    chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
    screenshots: { type: 'string', default: '.' },
  },
);
const server = new URL(args[0]).origin;
const PASSWORD = 'changeit';

/** A chat client (the chat example's auth), connected and welcomed. */
async function chatter(nick, rooms) {
  const s = io(server, { forceNew: true, reconnection: false, auth: { nick, rooms } });
  const welcome = new EventQueue(s, 'welcome');
  await once(s, 'connect', STEP_MS, `${nick} connects`, ['connect_error']);
  await welcome.next(STEP_MS, `${nick}'s welcome`);
  return s;
}

async function shot(page, name) {
  await page.screenshot({ path: join(opts.screenshots, `admin-${name}.png`) });
}

main('browser-admin', 110_000, async () => {
  const alice = await chatter('alice', ['general']);
  const bob = await chatter('bob', ['general']);
  const carol = await chatter('carol', ['general', 'rust']);
  const ids = { alice: alice.id, bob: bob.id, carol: carol.id };

  const errors = [];
  const { browser, page } = await openAdminUi(opts.chromium, server, errors);
  try {
    // The base path redirects to the page.
    await page.goto(`${server}/admin`);
    if (new URL(page.url()).pathname !== '/admin/') throw new DriverError(`/admin led to ${page.url()}`);

    // A wrong password is refused.
    await login(page, server, 'not the password');
    await waitText(page, '.v-dialog .red--text', (t) => t === 'Invalid credentials', 'the wrong password is refused');
    // The right one, over WebSocket only (the UI's advanced option), so that the page's
    // admin connection is one WebSocket from the start (see the emit below).
    await wsOnly(page);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Connect' }).click();
    await loggedIn(page);
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
    await disconnectFromSocketsPage(page, ids.alice);
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
