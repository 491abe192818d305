// The MessagePack parser in a real browser: Debian's Chromium under playwright-core loads
// /socket.io/socket.io.msgpack.min.js from our server (the client bundle whose default parser
// is socket.io-msgpack-parser) and runs the cases of msgpack/cases.mjs over polling, WebSocket
// and upgrade.
//
//   node browser/msgpack.mjs http://127.0.0.1:PORT/msgpack-test.html --chromium /usr/bin/chromium
//
// The server under test also serves the page (msgpack/page.html at /msgpack-test.html) and
// the cases (at /msgpack-cases.mjs), so the page has the server's origin, as an app's would.
// Exit code 0 means every case passed on every transport.

import { chromium } from 'playwright-core';
import { DriverError, cli, main } from '../lib.mjs';

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
const { args, opts } = cli('node browser/msgpack.mjs <page-url> --chromium <path>', 1, {
  chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
});
const [pageUrl] = args;

main('browser-msgpack', 90_000, async () => {
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: FLAGS, timeout: 30_000 });
  const errors = [];
  const lines = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
    const bundle = page.waitForResponse((r) => new URL(r.url()).pathname === '/socket.io/socket.io.msgpack.min.js');
    await page.goto(pageUrl);
    const response = await bundle;
    if (response.status() !== 200 || !response.headers()['content-type'].startsWith('application/javascript')) {
      throw new DriverError(`/socket.io/socket.io.msgpack.min.js answered ${response.status()} ${response.headers()['content-type']}`);
    }
    await page.waitForFunction(() => window.ready === true);
    for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
      const result = await page.evaluate((t) => window.runAll(t), transports);
      if (result.error) {
        throw new DriverError(`over ${transports.join('+')}: ${result.error}`);
      }
      lines.push(`${result.passed.length} cases over ${transports.join('+')}`);
    }
    if (errors.length > 0) {
      throw new DriverError(errors.join('\n'));
    }
    return lines.join('; ');
  } finally {
    await browser.close();
  }
});
