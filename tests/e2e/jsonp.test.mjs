// JSONP polling in a real browser: headless Chromium runs socket.io-client 2.x's own bundle
// (tests/js/node_modules/socket.io-client-v2/dist/socket.io.js) with `forceJSONP: true,
// transports: ['polling']` against the C contract server started with --allow-eio3. Every poll is
// a <script> the browser runs, every send a form posted into a hidden iframe; Chromium sends
// Accept-Encoding (gzip, deflate, br), so big scripts arrive gzip-encoded (httpCompression) and the
// browser decodes them. Checked: connect, emits and acks with text that needs escaping in a script,
// a 20 KB message both ways, the wire (j= on every request, JSONP content type, gzip seen).
//
//   cd tests/e2e && node --test jsonp.test.mjs      (env SIO_E2E_JSONP_SERVER: another server command)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launchBrowser } from './lib.mjs';
import { REPO_ROOT, startServer } from '../js/server.mjs';

const TIMEOUT = 8000;
const CLIENT = path.join(REPO_ROOT, 'tests', 'js', 'node_modules', 'socket.io-client-v2', 'dist', 'socket.io.js');

const TRICKY = [
  'quote " apostrophe \' backslash \\ literal \\n',
  'new\nline\r\ntab\t',
  'line\u2028separator\u2029paragraph',
  'non-BMP 😀 𝄞 中文 é',
  '</script><script>window.pwned = 1</script>',
  'a + b & c=d % 25',
];

describe('JSONP polling in Chromium (socket.io-client 2.x, forceJSONP)', () => {
  let server;
  let browser;
  let page;
  const wire = [];

  before(async () => {
    const command = process.env.SIO_E2E_JSONP_SERVER || 'examples/contract/run c';
    server = await startServer(['--allow-eio3'], { command });
    browser = await launchBrowser();
    page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('response', (res) => {
      const url = res.url();
      if (url.includes('/socket.io/')) {
        wire.push({ url, method: res.request().method(), status: res.status(), headers: res.headers() });
      }
    });
    // A page of the server's own origin (its 404 page will do), then the client's bundle.
    await page.goto(`${server.url}/nothing-here`);
    await page.addScriptTag({ path: CLIENT });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('connects, emits and acks through scripts and forms, big messages compressed', async () => {
    const result = await page.evaluate(async ({ url, tricky, timeout }) => {
      const socket = window.io(url, {
        forceJSONP: true, transports: ['polling'], upgrade: false, reconnection: false, forceNew: true,
      });
      const step = (what, fn) => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out: ${what}`)), timeout);
        fn((v) => { clearTimeout(t); resolve(v); });
      });
      await step('connect', (done) => socket.on('connect', done));
      const transport = socket.io.engine.transport;
      const out = { transportName: transport.name, jsonp: typeof transport.index === 'number', acks: [], backs: [] };
      for (const text of tricky) {
        out.acks.push(await step(`ack ${text}`, (done) => socket.emit('message-with-ack', text, { t: text }, (...a) => done(a))));
        out.backs.push(await step(`back ${text}`, (done) => {
          socket.once('message-back', (...a) => done(a));
          socket.emit('message', text);
        }));
      }
      const big = `${'{"k":"vé\\u2028"},'.repeat(1200)}end`;
      out.big = (await step('big ack', (done) => socket.emit('echo', big, (a) => done(a)))) === big;
      out.bigLength = big.length;
      socket.close();
      out.pwned = window.pwned === 1;
      return out;
    }, { url: server.url, tricky: TRICKY, timeout: TIMEOUT });

    assert.equal(result.transportName, 'polling');
    assert.ok(result.jsonp, 'the JSONP transport (it has a callback index)');
    assert.deepEqual(result.acks, TRICKY.map((t) => [t, { t }]));
    assert.deepEqual(result.backs, TRICKY.map((t) => [t]));
    assert.ok(result.big, `a ${result.bigLength}-character message went and came back`);
    assert.equal(result.pwned, false);

    const gets = wire.filter((r) => r.method === 'GET');
    const posts = wire.filter((r) => r.method === 'POST');
    assert.ok(gets.length > 2 && posts.length > 2, JSON.stringify(wire.map((r) => r.method)));
    for (const r of wire) {
      assert.match(r.url, /[?&]j=\d+/, r.url);
      assert.equal(r.status, 200, `${r.method} ${r.url}`);
    }
    for (const r of gets) assert.equal(r.headers['content-type'], 'text/javascript; charset=UTF-8');
    assert.ok(gets.some((r) => r.headers['content-encoding'] === 'gzip'),
      'the big script came gzip-encoded: ' + JSON.stringify(gets.map((r) => r.headers['content-encoding'])));
  });
});
