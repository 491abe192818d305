// Helpers of the Admin UI browser drivers (browser/admin.mjs, cluster/admin.mjs): Debian's
// chromium under playwright-core with the suite's flags, a page of the UI served by
// tower-socketio, its login form, its navigation, and bounded waits on its text.

import { chromium } from 'playwright-core';
import { DriverError, show, sleep } from '../lib.mjs';

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
export const STEP_MS = 10_000;

/**
 * Launches chromium and opens a context for the UI served by `server` (an origin): 1400 px
 * wide (the navigation drawer stays open), every request to another origin answered with an
 * empty stylesheet (the page asks two public hosts for its font and icons), and the page's
 * WebSockets kept in `window.__sockets`. Page and console errors are pushed to `errors`.
 */
export async function openAdminUi(chromiumPath, server, errors) {
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: FLAGS, timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
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
  return { browser, page };
}

/** Fills the UI's connection form (server URL, admin, `password`) and submits it. */
export async function login(page, server, password, { websocketOnly = false } = {}) {
  const dialog = page.locator('.v-dialog');
  await dialog.getByText('Connection', { exact: true }).waitFor();
  await page.getByLabel('Server URL').fill(server);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  if (wsOnly) {
    await wsOnly(page);
  }
  await page.getByRole('button', { name: 'Connect' }).click();
}

/** Turns the form's advanced option "WebSocket only?" on. */
export async function wsOnly(page) {
  const advanced = page.getByLabel('Advanced options');
  if (!(await advanced.isChecked())) await page.getByText('Advanced options').click();
  const box = page.getByLabel('WebSocket only?');
  await box.waitFor({ state: 'attached' });
  const deadline = Date.now() + STEP_MS;
  while (!(await box.isChecked())) {
    if (Date.now() > deadline) throw new DriverError('the "WebSocket only?" switch does not turn on');
    await page.getByText('WebSocket only?').click();
    await sleep(200);
  }
}

/** Waits for the login to succeed: the form gone, the status chip "connected". */
export async function loggedIn(page) {
  await page.locator('.v-dialog').waitFor({ state: 'hidden' });
  await waitText(page, 'header .v-chip', (t) => t.toLowerCase().includes('connected'), 'the status chip');
}

/** Waits until the texts of `selector` (joined, whitespace squeezed) satisfy `test`. */
export async function waitText(page, selector, test, what) {
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

/** Opens a page of the navigation drawer ("Sockets", "Servers", ...). */
export async function nav(page, item) {
  await page.locator('.v-navigation-drawer').getByText(item, { exact: true }).click();
}

/** Clicks the disconnect button of the Sockets page's row of socket `id`. */
export async function disconnectFromSocketsPage(page, id) {
  await nav(page, 'Sockets');
  await page.locator(`.v-data-table tbody tr:has(td:text-is("${id}")) button:has(i.mdi-logout)`).click();
}
