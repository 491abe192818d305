// The MessagePack parser with the official client: socket.io-client 4.8 and
// socket.io-msgpack-parser against the MessagePack test server of tests/socketio_msgpack.rs.
//
// usage: node socketio_msgpack.mjs <url> [--transports polling,websocket] [--step-timeout ms]
//            [--timeout ms]
//
// Runs the cases of msgpack/cases.mjs (string, object, several arguments, nested binary both
// ways, acks both ways, a broadcast, a custom namespace with auth, connect_error with data,
// disconnects). Exit code 0 = pass; otherwise the reason is on stderr.

import { io } from 'socket.io-client';
import parser from 'socket.io-msgpack-parser';
import { DEFAULT_STEP_TIMEOUT_MS, DEFAULT_TOTAL_TIMEOUT_MS, cli, main, millis } from './lib.mjs';
import { runCases } from './msgpack/cases.mjs';

const { args, opts } = cli(
  'node socketio_msgpack.mjs <url> [--transports polling,websocket] [--step-timeout ms] [--timeout ms]',
  1,
  {
    transports: { type: 'string', default: 'polling,websocket' },
    'step-timeout': { type: 'string', default: String(DEFAULT_STEP_TIMEOUT_MS) },
    timeout: { type: 'string', default: String(DEFAULT_TOTAL_TIMEOUT_MS) },
  },
);
const url = args[0].replace(/\/$/, '');
const transports = opts.transports.split(',').filter(Boolean);

main('socketio_msgpack', millis(opts.timeout, 'timeout'), async () => {
  const passed = await runCases({
    io,
    parser,
    url,
    transports,
    bytes: (list) => Buffer.from(list),
    step: millis(opts['step-timeout'], 'step-timeout'),
  });
  return `${passed.length} cases over ${transports.join('+')}: ${passed.join(', ')}`;
});
