// The byte budget of connection state recovery under a flood, with 1,000 sessions kept:
// against the server of tests/recovery_support.
//
// usage: node recovery/flood.mjs <proxied-url> <ctl-url> --clients N --budget BYTES
//
// N socket.io-client sockets connect over WebSocket through the proxy and each gets its
// `hello` (an offset); the proxy cuts them all, and the server must hold N sessions. The
// server then broadcasts 3 MB (3,000 events of 1 KiB) to `/`: the stored bytes never pass
// the budget (the oldest packets go). One client then reconnects with its pid and an
// offset that was dropped: it connects as a new socket. Another's session is still there
// and, with no packet missed since a fresh broadcast, ... (not needed: see recover.mjs).

import { io } from 'socket.io-client';
import { DriverError, assert, assertEqual, cli, connectSocketIo, main, millis, once, show, withTimeout } from '../lib.mjs';

const NAME = 'flood';
const { args, opts } = cli('node recovery/flood.mjs <proxied-url> <ctl-url> --clients N --budget BYTES', 2, {
  clients: { type: 'string', default: '1000' },
  budget: { type: 'string', default: '1048576' },
});
const [url, ctlUrl] = args;
const clients = millis(opts.clients, 'clients');
const budget = millis(opts.budget, 'budget');
const STEP = 30_000;

main(NAME, 110_000, async () => {
  const ctl = await connectSocketIo(`${ctlUrl}/ctl`, { transports: ['websocket'] }, STEP);
  const ask = (command, arg) => withTimeout(ctl.timeout(STEP).emitWithAck(command, arg), STEP + 1000, command);
  const sockets = [];
  try {
    for (let i = 0; i < clients; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(clients, i + 100); j++) {
        const s = io(url, { forceNew: true, transports: ['websocket'], reconnection: false, timeout: STEP, autoConnect: false });
        sockets.push(s);
        const hello = once(s, 'hello', STEP, `hello of client ${j}`, ['connect_error']);
        s.connect();
        batch.push(hello);
      }
      await Promise.all(batch);
    }
    assert(sockets.every((s) => typeof s._lastOffset === 'string'), 'every client has an offset');
    console.error(`flood: ${clients} connected`);
    const cut = await ask('cut-all', clients);
    console.error(`flood: cut: ${show(cut)}`);
    assertEqual(cut.sessions, clients, 'sessions persisted after the cut');
    const flood = await ask('flood', { count: 3000, size: 1024 });
    console.error(`flood: flooded: ${show(flood)}`);
    assert(flood.max_bytes <= budget, `stored bytes ${flood.max_bytes} over the budget ${budget}`);
    assert(flood.max_bytes > budget / 2, `the budget was never approached: ${show(flood)}`);
    assertEqual(flood.last.sessions, clients, 'sessions after the flood');
    assert(flood.last.packets < 3000, `every packet is still stored: ${show(flood.last)}`);
    // A client whose position was dropped connects as a new socket.
    const s = sockets[0];
    const oldId = s.id ?? null;
    const back = once(s, 'hello', STEP, 'hello after the flood', ['connect_error']);
    s.connect();
    const [recoveredFlag] = await back;
    assertEqual(recoveredFlag, false, 'server-side recovered with a dropped offset');
    assertEqual(s.recovered, false, 'socket.recovered with a dropped offset');
    assert(s.id !== oldId, 'same id with a dropped offset');
    return `${clients} sessions kept; 3000 x 1 KiB flooded: at most ${flood.max_bytes} bytes stored (budget ${budget}), ${flood.last.packets} packets kept`;
  } finally {
    for (const s of sockets) {
      s.disconnect();
    }
    ctl.disconnect();
  }
});
