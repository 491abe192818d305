// Drives the chat example (examples/chat) in a real browser: Debian's chromium under
// playwright-core, two isolated browser contexts (alice and bob) on one page URL.
//
//   node browser/chat.mjs <page-url> --chromium /usr/bin/chromium --screenshots <dir>
//
// Both log in, see each other online, join #rust, see the other join, type (the other sees
// "is typing"), exchange messages (the sender sees the delivery ack), survive a dropped
// connection (bob's transport is closed under him; he reconnects into #rust by himself), and
// leave. Screenshots of both pages go to <dir>/chat-alice.png and <dir>/chat-bob.png.
// Exit code 0 means every step passed; every wait is bounded.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_FLAGS, DriverError, cli, main } from '../lib.mjs';

const STEP_MS = 10_000;

const { args, opts } = cli(
  'node browser/chat.mjs <page-url> --chromium <path> --screenshots <dir>',
  1,
  {
    chromium: { type: 'string', default: process.env.TSIO_CHROMIUM || '/usr/bin/chromium' },
    screenshots: { type: 'string', default: '.' },
  },
);
const [url] = args;

/** Opens the page in a new context and logs in as `nick`; collects page errors. */
async function user(browser, nick, errors) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (err) => errors.push(`${nick}: page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${nick}: console error: ${msg.text()} (${msg.location().url})`);
  });
  const client = page.waitForResponse((r) => new URL(r.url()).pathname === '/socket.io/socket.io.js');
  await page.goto(url);
  const response = await client;
  if (response.status() !== 200 || !response.headers()['content-type'].startsWith('application/javascript')) {
    throw new DriverError(`${nick}: /socket.io/socket.io.js answered ${response.status()} ${response.headers()['content-type']}`);
  }
  await page.fill('#nick', nick);
  await page.click('#login-button');
  await page.locator('#app').waitFor({ state: 'visible' });
  await expectText(page, '#me', nick, `${nick}'s name`);
  await expectText(page, '#room-title', '#general', `${nick} auto-joins #general`);
  await expectText(page, '#status', 'online', `${nick}'s status`);
  return { nick, page, context };
}

/** Waits until the element's text is exactly `text` (or contains it with `contains`). */
async function expectText(page, selector, text, what, contains = false) {
  try {
    await page.waitForFunction(
      ({ selector, text, contains }) => {
        const el = document.querySelector(selector);
        const got = el ? el.textContent.trim() : null;
        return got !== null && (contains ? got.includes(text) : got === text);
      },
      { selector, text, contains },
      { timeout: STEP_MS },
    );
  } catch {
    const got = await page.locator(selector).first().textContent().catch(() => null);
    throw new DriverError(`${what}: expected ${contains ? 'text containing' : 'text'} ${JSON.stringify(text)} in ${selector}, got ${JSON.stringify(got)}`);
  }
}

/** Waits until `n` elements matching `selector` have exactly the text `text`. */
async function expectCount(page, selector, text, n, what) {
  try {
    await page.waitForFunction(
      ({ selector, text, n }) => [...document.querySelectorAll(selector)].filter((el) => el.textContent.trim() === text).length === n,
      { selector, text, n },
      { timeout: STEP_MS },
    );
  } catch {
    const all = await page.locator('#messages').innerText().catch(() => '');
    throw new DriverError(`${what}: expected ${n} × ${JSON.stringify(text)}; the conversation shows:\n${all}`);
  }
}

/** Waits until a message from `from` with `text` shows in the page's conversation. */
async function expectMessage(page, from, text, what) {
  const item = page.locator('#messages li.msg', { hasText: text }).filter({ has: page.locator('.from', { hasText: from }) });
  try {
    await item.first().waitFor({ state: 'visible' });
  } catch {
    const all = await page.locator('#messages').innerText().catch(() => '');
    throw new DriverError(`${what}: no message ${JSON.stringify(text)} from ${from}; the conversation shows:\n${all}`);
  }
  return item.first();
}

async function joinRoom(u, room) {
  await u.page.fill('#room-input', room);
  await u.page.press('#room-input', 'Enter');
  await expectText(u.page, '#room-title', `#${room}`, `${u.nick} joins #${room}`);
}

async function say(u, text) {
  await u.page.fill('#text', text);
  await u.page.press('#text', 'Enter');
  const mine = u.page.locator('#messages li.msg.mine', { hasText: text }).first();
  await mine.locator('.state[data-state="delivered"]').waitFor({ state: 'visible' }).catch(async () => {
    const state = await mine.locator('.state').textContent().catch(() => null);
    throw new DriverError(`${u.nick}'s message ${JSON.stringify(text)} was not acknowledged (state ${JSON.stringify(state)})`);
  });
}

main('browser-chat', 90_000, async () => {
  const browser = await chromium.launch({ executablePath: opts.chromium, headless: true, args: CHROMIUM_FLAGS, timeout: 30_000 });
  const errors = [];
  try {
    const alice = await user(browser, 'alice', errors);
    const bob = await user(browser, 'bob', errors);
    for (const u of [alice, bob]) await expectText(u.page, '#online', '2', `${u.nick} sees 2 online`);

    await joinRoom(alice, 'rust');
    await joinRoom(bob, 'rust');
    await expectText(alice.page, '#messages', 'bob joined #rust', 'alice sees bob join', true);
    await expectText(alice.page, '#members', '2 members: alice, bob', 'members of #rust');

    // Typing: alice types, bob sees it; sending clears it.
    await alice.page.type('#text', 'Hello bob', { delay: 20 });
    await expectText(bob.page, '#typing', 'alice is typing…', 'bob sees alice typing');
    await alice.page.press('#text', 'Enter');
    await alice.page.locator('#messages li.msg.mine .state[data-state="delivered"]').first().waitFor({ state: 'visible' });
    await expectMessage(bob.page, 'alice', 'Hello bob', 'bob gets alice\'s message');
    await expectText(bob.page, '#typing', '', 'bob no longer sees alice typing');

    await say(bob, 'Hi alice! Rust on both ends.');
    await expectMessage(alice.page, 'bob', 'Hi alice! Rust on both ends', 'alice gets bob\'s reply');

    // Reconnect: bob's transport drops; the client reconnects and is put back into #rust.
    await bob.page.evaluate(() => state.socket.io.engine.close());
    await expectText(bob.page, '#messages', 'Reconnected.', 'bob reconnects', true);
    await expectText(bob.page, '#status', 'online', 'bob is online again');
    await say(alice, 'Still there after the reconnect?');
    await expectMessage(bob.page, 'alice', 'Still there after the reconnect?', 'bob gets messages after reconnecting');
    await say(bob, 'Yes, back in #rust.');
    await expectMessage(alice.page, 'bob', 'Yes, back in #rust.', 'alice gets bob\'s message after his reconnect');

    // A message in another room shows as unread.
    await joinRoom(alice, 'random');
    await joinRoom(bob, 'random');
    await alice.page.click('#rooms [data-room="rust"] .room-name');
    await expectText(alice.page, '#room-title', '#rust', 'alice goes back to #rust');
    await say(bob, 'Over here in random');
    await expectText(alice.page, '#rooms [data-room="random"] .badge', '1', 'alice has one unread in #random');

    // Screenshot moment: bob types in #rust, alice sees it.
    await bob.page.click('#rooms [data-room="rust"] .room-name');
    await bob.page.type('#text', 'typing', { delay: 20 });
    await expectText(alice.page, '#typing', 'bob is typing…', 'alice sees bob typing');

    mkdirSync(opts.screenshots, { recursive: true });
    await alice.page.screenshot({ path: join(opts.screenshots, 'chat-alice.png') });
    await bob.page.screenshot({ path: join(opts.screenshots, 'chat-bob.png') });

    // Leaving: alice sees bob leave, then bob's page closing brings the count down.
    await bob.page.fill('#text', '');
    await bob.page.click('#leave');
    await expectCount(alice.page, '#messages li.system', 'bob left #rust', 2, 'alice sees bob leave (after the reconnect\'s)');
    await expectText(alice.page, '#members', '1 member: alice', 'members after bob left');
    await bob.context.close();
    await expectText(alice.page, '#online', '1', 'alice sees 1 online after bob closed his page');

    if (errors.length > 0) throw new DriverError(errors.join('\n'));
    return 'two browsers chatted';
  } finally {
    await browser.close().catch(() => {});
  }
});
