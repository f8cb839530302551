// The example apps turn permessage-deflate on (every browser offers it): Chromium's WebSocket to the
// chat example negotiates it (the 101's Sec-WebSocket-Extensions, seen through the DevTools
// protocol), and a message above the 1024-byte threshold makes its way through the page, compressed
// both ways, to a second page.
//
//   cd tests/e2e && node --test deflate.test.mjs          (SIO_E2E_LANGS=lua: one server only)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { LANGS, startApp, launchBrowser } from './lib.mjs';

const TIMEOUT = 5000;

for (const lang of LANGS) {
  describe(`chat (${lang}) with permessage-deflate`, () => {
    let server, browser;
    before(async () => {
      server = await startApp('chat', lang);
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
    });

    // A page whose WebSocket handshakes are recorded: resolves {page, extensions: Promise}.
    async function openPage() {
      const context = await browser.newContext();
      context.setDefaultTimeout(TIMEOUT);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      const extensions = new Promise((resolve) => {
        cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
          const h = e.response.headers;
          resolve(h['Sec-WebSocket-Extensions'] ?? h['sec-websocket-extensions'] ?? null);
        });
      });
      await page.goto(server.url);
      return { page, extensions };
    }

    async function join(page, nick) {
      await page.fill('#nick', nick);
      await page.fill('#room', 'deflate');
      await page.click('#join');
      await page.waitForFunction(() => document.getElementById('app').dataset.view === 'chat',
        null, { timeout: TIMEOUT, polling: 50 });
    }

    test('the WebSocket negotiates permessage-deflate and a 1.5 KiB message crosses', async () => {
      const a = await openPage();
      const b = await openPage();
      await join(a.page, 'ann');
      await join(b.page, 'bob');
      for (const p of [a, b]) {
        const ext = await Promise.race([p.extensions, new Promise((r) => setTimeout(() => r('none seen'), TIMEOUT))]);
        assert.match(String(ext), /^permessage-deflate; server_no_context_takeover; client_no_context_takeover/);
      }
      const text = 'compress me '.repeat(125); // 1500 characters
      await a.page.fill('#input', text);
      await a.page.press('#input', 'Enter');
      await b.page.waitForFunction((t) => [...document.querySelectorAll('#messages li')]
        .some((li) => li.textContent.includes(t)), text.trim(), { timeout: TIMEOUT, polling: 50 });
    });
  });
}
