// The Admin UI over a mixed cluster: a Rust server instrumented by tower-socketio (R) and a
// Node server instrumented by @socket.io/admin-ui itself (N), one Redis (tests/admin_ui_cluster.rs
// starts them; both run the cluster test protocol of PROTOCOL.md on "/").
//
//   TSIO_CLUSTER='{"R": url, "N": url}' node cluster/admin.mjs --chromium <path>
//
// An admin connection to either server hears both servers' server_stats and lists the
// sockets of both (with their client ids), sees the other server's sockets connect (Node's
// msgpack dates arrive as ISO text), and its emit / join / _disconnect reach sockets on the
// other server. Then the UI served by R, in chromium, shows both servers healthy and
// disconnects a socket of N with its button.

import { io } from 'socket.io-client';
import { DriverError, EventQueue, assert, assertEqual, cli, main, once, show, sleep } from '../lib.mjs';
import { disconnectFromSocketsPage, loggedIn, login, nav, openAdminUi, waitText } from '../browser/admin_ui.mjs';

const { opts } = cli('node cluster/admin.mjs --chromium <path>', 0, {
  chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
});
const CLUSTER = JSON.parse(process.env.TSIO_CLUSTER ?? '{}');
const CREDS = { username: 'admin', password: 'changeit' };
const STEP = 8000;

const opened = [];
function socket(url, options = {}) {
  const s = io(url, { forceNew: true, reconnection: false, transports: ['websocket'], ...options });
  opened.push(s);
  return s;
}

async function client(server, nick) {
  const s = socket(CLUSTER[server] + '/', { auth: { nick } });
  await once(s, 'connect', STEP, `${nick} connects to ${server}`, ['connect_error']);
  return s;
}

const rooms = (s) => s.timeout(STEP).emitWithAck('rooms', null);

async function admin(server) {
  const s = socket(CLUSTER[server] + '/admin', { auth: CREDS });
  const q = {};
  for (const name of ['config', 'all_sockets', 'server_stats', 'socket_connected']) q[name] = new EventQueue(s, name);
  await once(s, 'connect', STEP, `an admin logs in to ${server}`, ['connect_error']);
  return { s, q };
}

async function until(queue, pred, what, ms = STEP) {
  const deadline = Date.now() + ms;
  const seen = [];
  for (;;) {
    const left = deadline - Date.now();
    const a = left > 0 ? await queue.next(left, what).catch(() => null) : null;
    if (a === null) throw new DriverError(`timed out waiting for ${what}; saw ${show(seen.slice(-5))}`);
    if (pred(...a)) return a;
    seen.push(a);
  }
}

/** Waits for server_stats from every server of `ids` on one admin connection. */
async function statsFrom(ad, ids, who) {
  const got = new Map();
  await until(ad.q.server_stats, (s) => {
    got.set(s.serverId, s);
    return ids.every((id) => got.has(id));
  }, `${who} hears server_stats from ${ids.join(' and ')}`);
  return got;
}

main('cluster-admin', 90_000, async () => {
  const rc = await client('R', 'rc');
  const nc = await client('N', 'nc');
  const [rid, nid] = [rc.id, nc.id];
  const adR = await admin('R');
  const adN = await admin('N');

  // Every server's stats reach an admin on either server.
  for (const [ad, who] of [[adR, 'the admin on R'], [adN, 'the admin on N']]) {
    const stats = await statsFrom(ad, ['R', 'N'], who);
    for (const [id, s] of stats) {
      const nsps = Object.fromEntries(s.namespaces.map((n) => [n.name, n.socketsCount]));
      assert(nsps['/'] >= 1 && nsps['/admin'] >= 1, `${who}: namespaces of ${id}: ${show(s.namespaces)}`);
    }
  }

  // Both list the sockets of both servers, with client ids (Node's from its `_admin`, ours
  // from the `_admin` our fetch replies carry) and data without `_admin`.
  for (const [ad, who] of [[adR, 'R'], [adN, 'N']]) {
    const [all] = await ad.q.all_sockets.next(STEP, `all_sockets on ${who}`);
    for (const [id, server, nick] of [[rid, 'R', 'rc'], [nid, 'N', 'nc']]) {
      const s = all.find((x) => x.id === id);
      assert(s, `all_sockets on ${who} lists ${nick} of ${server}: ${show(all.map((x) => x.id))}`);
      assert(typeof s.clientId === 'string' && s.clientId.length === 12, `${who}: ${nick}'s client id ${show(s.clientId)}`);
      assertEqual(s.transport, 'websocket', `${who}: ${nick}'s transport`);
      assertEqual(s.data, { server, nick }, `${who}: ${nick}'s data`);
    }
    // A socket of R without data (the admin socket on R) reaches Node's fetchSockets with
    // `data: {}`: with `null`, Node's instrument throws and its all_sockets never comes.
    const bare = all.find((x) => x.id === adR.s.id);
    assert(bare?.nsp === '/admin', `all_sockets on ${who} lists the admin socket of R: ${show(bare)}`);
    assertEqual(bare.data, {}, `${who}: the data of a socket of R without data`);
  }

  // Actions from the admin on R reach a socket of N, and the other way round.
  for (const [ad, target, who] of [[adR, nc, 'R → a socket of N'], [adN, rc, 'N → a socket of R']]) {
    const hello = new EventQueue(target, 'hello');
    ad.s.emit('emit', '/', target.id, 'hello', `emit ${who}`);
    assertEqual(await hello.next(STEP, `emit ${who}`), [`emit ${who}`], `emit ${who}`);
    ad.s.emit('join', '/', 'vip', target.id);
    const deadline = Date.now() + STEP;
    while (!(await rooms(target)).includes('vip')) {
      if (Date.now() > deadline) throw new DriverError(`join ${who}: not in vip`);
      await sleep(100);
    }
  }

  // Each hears the other's new sockets; Node's dates (msgpack timestamps) arrive as text.
  const rc2 = await client('R', 'rc2');
  const [sr, atR] = await until(adN.q.socket_connected, (s) => s.id === rc2.id, 'the admin on N hears rc2 connect to R');
  assertEqual(sr.data, {}, "rc2's data as Node's UI sees it at connect");
  assert(!Number.isNaN(Date.parse(atR)), `timestamp from R: ${show(atR)}`);
  const nc2 = await client('N', 'nc2');
  const [, atN] = await until(adR.q.socket_connected, (s) => s.id === nc2.id, 'the admin on R hears nc2 connect to N');
  assert(typeof atN === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(atN), `timestamp from N: ${show(atN)}`);

  for (const [ad, target, who] of [[adN, rc2, 'N → rc2 on R'], [adR, nc2, 'R → nc2 on N']]) {
    const gone = once(target, 'disconnect', STEP, `_disconnect ${who}`);
    ad.s.emit('_disconnect', '/', false, target.id);
    assertEqual((await gone)[0], 'io server disconnect', `_disconnect ${who}`);
  }

  // The UI served by R shows both servers and disconnects N's socket with its button.
  const errors = [];
  const server = CLUSTER.R;
  const { browser, page } = await openAdminUi(opts.chromium, server, errors);
  try {
    await page.goto(`${server}/admin/`);
    await login(page, server, CREDS.password);
    await loggedIn(page);
    await nav(page, 'Servers');
    await waitText(page, '.v-data-table tbody tr', (t) => {
      const rows = t.split(' | ');
      return rows.length === 2 && ['R', 'N'].every((id) => rows.some((r) => r.startsWith(id) && r.endsWith('Healthy')));
    }, 'the Servers page shows R and N, healthy');
    await nav(page, 'Sockets');
    await waitText(page, '.v-data-table tbody', (t) => t.includes(rid) && t.includes(nid), 'the Sockets page lists the sockets of R and N');
    const gone = once(nc, 'disconnect', STEP, "N's socket is disconnected from the UI on R");
    await disconnectFromSocketsPage(page, nid);
    assertEqual((await gone)[0], 'io server disconnect', "the UI's disconnect of N's socket");
    if (errors.length > 0) throw new DriverError(errors.join('\n'));
  } finally {
    await browser.close().catch(() => {});
    for (const s of opened) s.close();
  }
  return 'stats, sockets, events and actions cross both ways; the UI shows both servers';
});
