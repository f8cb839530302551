// The Socket.IO Admin UI, self-hosted (examples/run chat LANG --admin-ui: npm @socket.io/admin-ui's
// ui/dist at /admin/, instrument() on /admin without auth), in headless Chromium: the page
// connects to the server it came from, lists a socket.io-client 4.x socket of "/" with its
// transport, and its disconnect button reaches that client as "io server disconnect".
// And the UI's login form against the C contract server's --admin-auth (ui/dist served with
// --static): "Invalid credentials", then the sockets once the right password is given, and an
// event in the Events view (development mode).
// (The admin protocol itself, basic auth, clusters and readonly: tests/js/admin.test.mjs,
// tests/python/test_admin.py.)
//
//   cd tests/e2e && node --test admin-ui.test.mjs          (SIO_E2E_LANGS=lua: one server only)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LANGS, startApp, launchBrowser } from './lib.mjs';
import { REPO_ROOT, startServer } from '../js/server.mjs';

const TIMEOUT = 8000;
const require = createRequire(path.join(REPO_ROOT, 'examples', 'package.json'));
const ioClient = require('socket.io-client');

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

for (const lang of LANGS) {
  describe(`Admin UI self-hosted by the chat example (${lang})`, () => {
    let app, browser;
    const clients = [];
    before(async () => {
      app = await startApp('chat', lang, ['--admin-ui']);
      browser = await launchBrowser();
    });
    after(async () => {
      for (const c of clients) c.close();
      if (browser) await browser.close();
      if (app) await app.stop();
    });

    test('the page lists a socket and disconnects it', async () => {
      const client = ioClient(app.url, { transports: ['websocket'], reconnection: false, forceNew: true });
      clients.push(client);
      await withTimeout(new Promise((r) => client.once('connect', r)), TIMEOUT, 'client connect');
      const id = client.id;

      const context = await browser.newContext();
      context.setDefaultTimeout(TIMEOUT);
      // The UI's saved connection (its localStorage keys): this server, namespace /admin.
      await context.addInitScript((url) => {
        localStorage.setItem('server_url', url);
        localStorage.setItem('namespace', '/admin');
        localStorage.setItem('readonly', 'false');
      }, app.url);
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${app.url}/admin/#/sockets/`);
      const row = page.locator('tr', { hasText: id });
      await row.first().waitFor();
      assert.match(await row.textContent(), /websocket/i);

      const reason = withTimeout(new Promise((r) => client.once('disconnect', r)), TIMEOUT, 'disconnect');
      await row.locator('button').first().click();
      assert.equal(await reason, 'io server disconnect');
      // (the click also opens the socket's page, as a click on its row does) The list drops it.
      await page.goto(`${app.url}/admin/#/sockets/`);
      await page.locator('tr', { hasText: 'WebSocket' }).first().waitFor({ state: 'detached' });
      assert.equal(await page.locator('tr', { hasText: id }).count(), 0);
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
}

// Basic auth through the UI's own login form: the C contract server with --admin-auth (namespace
// /admin-ui) serving the same ui/dist at "/" (--static); a wrong password shows the UI's "Invalid
// credentials" (the server's exact "invalid credentials"), the right one lists the sockets.
describe('Admin UI login (C contract server, --admin-auth)', () => {
  const requireJs = createRequire(path.join(REPO_ROOT, 'tests', 'js', 'package.json'));
  const UI_DIR = path.join(REPO_ROOT, 'examples', 'node_modules', '@socket.io', 'admin-ui', 'ui', 'dist');
  let server, browser;
  const clients = [];
  before(async () => {
    const hash = requireJs('bcryptjs').hashSync('s3cret', 4);
    process.env.SIO_SERVER = 'examples/contract/run c';
    server = await startServer(['--static', UI_DIR, '--admin-auth', `admin:${hash}`]);
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of clients) c.close();
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  test('a wrong password is refused, the right one shows the sockets', async () => {
    const client = ioClient(server.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    clients.push(client);
    await withTimeout(new Promise((r) => client.once('connect', r)), TIMEOUT, 'client connect');
    const context = await browser.newContext();
    context.setDefaultTimeout(TIMEOUT);
    await context.addInitScript((url) => {
      if (sessionStorage.getItem('seeded')) return; // once: the page keeps its own after that
      sessionStorage.setItem('seeded', '1');
      localStorage.setItem('server_url', url);
      localStorage.setItem('namespace', '/admin-ui');
    }, server.url);
    const page = await context.newPage();
    await page.goto(`${server.url}/#/sockets/`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByText('Invalid credentials').waitFor();
    await page.getByLabel('Password').fill('s3cret');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.locator('tr', { hasText: client.id }).first().waitFor();
    // development mode: an event the client sends is in the Events view (the page stays on the
    // same app: a hash route)
    await page.evaluate(() => { window.location.hash = '#/events/'; });
    client.emit('message', 'hello-from-e2e');
    await page.locator('tr', { hasText: /Event received\s+Event name: message$/ }).first().waitFor();
    await page.locator('tr', { hasText: /Event sent\s+Event name: message-back$/ }).first().waitFor();
    await context.close();
  });
});
