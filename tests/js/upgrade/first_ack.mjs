// Time to the first ack on fresh connections of the official socket.io-client 4.8 with its
// default options (polling, then the upgrade to WebSocket), against several servers in turn.
//
// usage: node upgrade/first_ack.mjs <count> <name>=<url> [<name>=<url> ...]
//
// For each of <count> rounds, and for each server in the order given, one fresh client
// connects, emits `message-with-ack` on `connect`, and disconnects once the ack came back.
// The time from `io(url)` to the ack is recorded, in milliseconds. The servers take turns,
// so that a load spike on the machine falls on all of them alike.
// Prints one JSON line on stdout: `{"<name>": {"times": [...], "upgraded": n}, ...}`
// where `upgraded` counts connections whose ack came over WebSocket.
// Exit code 0 = every connection got its ack; otherwise the reason is on stderr.

import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';

import { DriverError, cli, withTimeout } from '../lib.mjs';

const STEP_MS = 5_000;

const { args } = cli('node upgrade/first_ack.mjs <count> <name>=<url>...', process.argv.length - 2);
const count = Number(args[0]);
if (!Number.isInteger(count) || count <= 0 || args.length < 2) {
  console.error('usage: node upgrade/first_ack.mjs <count> <name>=<url> [<name>=<url> ...]');
  process.exit(2);
}
const servers = args.slice(1).map((arg) => {
  const at = arg.indexOf('=');
  if (at <= 0) {
    console.error(`not <name>=<url>: ${arg}`);
    process.exit(2);
  }
  return { name: arg.slice(0, at), url: arg.slice(at + 1) };
});

/** One fresh connection: resolves with [ms to the ack, whether the ack came over WebSocket]. */
function firstAck(url, round) {
  const started = performance.now();
  const socket = io(url, { forceNew: true, reconnection: false, timeout: STEP_MS });
  const acked = new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.emit('message-with-ack', round, (back) => {
        const ms = performance.now() - started;
        if (back !== round) {
          reject(new DriverError(`${url}: ack carried ${back}, expected ${round}`));
          return;
        }
        resolve([ms, socket.io.engine.transport.name === 'websocket']);
      });
    });
    socket.once('connect_error', (err) => reject(new DriverError(`${url}: connect_error: ${err.message}`)));
  });
  return withTimeout(acked, STEP_MS, `the first ack from ${url}`).finally(() => socket.disconnect());
}

const deadline = setTimeout(() => {
  console.error('first_ack: FAIL: the whole run took too long');
  process.exit(1);
}, 120_000);
try {
  const results = Object.fromEntries(servers.map((s) => [s.name, { times: [], upgraded: 0 }]));
  for (let round = 0; round < count; round++) {
    for (const { name, url } of servers) {
      const [ms, upgraded] = await firstAck(url, round);
      results[name].times.push(Math.round(ms * 10) / 10);
      if (upgraded) {
        results[name].upgraded++;
      }
    }
  }
  clearTimeout(deadline);
  console.log(JSON.stringify(results));
  process.exit(0);
} catch (err) {
  clearTimeout(deadline);
  console.error(`first_ack: FAIL: ${err instanceof DriverError ? err.message : (err?.stack ?? err)}`);
  process.exit(1);
}
