// socket.io-client sending one extra request header of a given size (`extraHeaders`, as a
// Node or React Native client can) to a server with the default 16 KiB head limit.
//
// usage: node large_headers.mjs <url> <header bytes> <polling|websocket> <connects|refused>
//
// `connects`: the client connects over that transport only, then disconnects.
// `refused`: the connection fails with connect_error (the server answered 431), and the
// driver prints the client's error description.
// Exit code 0 = pass; otherwise the reason is on stderr.

import { DriverError, assertEqual, cli, connectSocketIo, main } from './lib.mjs';

const NAME = 'large_headers';
const { args } = cli('node large_headers.mjs <url> <bytes> <polling|websocket> <connects|refused>', 4);
const [url, bytesText, transport, expect] = args;
const bytes = Number.parseInt(bytesText, 10);
if (!Number.isInteger(bytes) || bytes < 0 || !['polling', 'websocket'].includes(transport)
  || !['connects', 'refused'].includes(expect)) {
  console.error(`${NAME}: bad arguments: ${args.join(' ')}`);
  process.exit(2);
}

main(NAME, 20_000, async () => {
  const options = { transports: [transport], extraHeaders: { 'x-big': 'a'.repeat(bytes) } };
  let socket;
  try {
    socket = await connectSocketIo(url, options, 5_000);
  } catch (err) {
    if (expect === 'refused' && err instanceof DriverError && err.message.includes('connect_error')) {
      return `${bytes}-byte header over ${transport} refused: ${err.message}`;
    }
    throw err;
  }
  const name = socket.io.engine.transport.name;
  socket.disconnect();
  if (expect === 'refused') {
    throw new DriverError(`a ${bytes}-byte header over ${transport} connected`);
  }
  assertEqual(name, transport, 'transport');
  return `${bytes}-byte header over ${transport} connected`;
});
