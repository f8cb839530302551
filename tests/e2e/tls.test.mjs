// Native TLS in Chromium (issue 16): headless Chromium loads a page over https from the C contract
// server (--static, --serve-client, --tls-cert/--tls-key) and its socket.io client connects over
// wss (websocket only) and over https polling then upgraded to wss, with emit/ack round trips.
// Chromium trusts exactly the test's certificate: --ignore-certificate-errors-spki-list with its
// key's SPKI hash (made here by the openssl CLI, in a temporary directory, never committed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startServer, REPO_ROOT } from '../js/server.mjs';
import { makeCertificates } from '../js/tls-helpers.mjs';

const TIMEOUT = 8000;
const CLIENT_DIST = path.join(REPO_ROOT, 'tests', 'js', 'node_modules', 'socket.io-client', 'dist');

const PAGE = `<!doctype html><meta charset="utf-8"><title>tls</title>
<script src="/socket.io/socket.io.min.js"></script>
<script>
  window.results = {};
  function run(name, opts) {
    const socket = io(opts);
    socket.on('connect', () => {
      socket.emit('echo', 'hello ' + name, (answer) => {
        const check = () => {
          window.results[name] = { answer, transport: socket.io.engine.transport.name,
            secure: location.protocol };
          socket.disconnect();
        };
        // polling: wait for the upgrade to wss before reporting
        if (socket.io.engine.transport.name === 'websocket') check();
        else socket.io.engine.once('upgrade', () => check());
      });
    });
    socket.on('connect_error', (e) => { window.results[name] = { error: String(e && e.message) }; });
  }
  run('ws', { transports: ['websocket'] });
  run('upgrade', {});
</script>`;

let dir;
let server;
let browser;

// The base64 SHA-256 of the certificate's SubjectPublicKeyInfo, as Chromium's flag wants it.
function spkiHash(certFile) {
  const pub = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-pubkey']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-e2e-tls-'));
  const files = makeCertificates(dir);
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, 'index.html'), PAGE);
  server = await startServer(['--static', www, '--serve-client', CLIENT_DIST, '--tls-cert', files.cert,
    '--tls-key', files.key], { command: 'examples/contract/run c' });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', `--ignore-certificate-errors-spki-list=${spkiHash(files.cert)}`],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('Chromium loads the page over https and its client talks over wss', async () => {
  assert.match(server.url, /^https:/);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${server.url}/index.html`, { timeout: TIMEOUT });
    assert.equal(res.status(), 200);
    const results = await (await page.waitForFunction(() => window.results.ws && window.results.upgrade
      && window.results, null, { timeout: TIMEOUT, polling: 50 })).jsonValue();
    assert.deepEqual(results.ws, { answer: 'hello ws', transport: 'websocket', secure: 'https:' });
    assert.deepEqual(results.upgrade, { answer: 'hello upgrade', transport: 'websocket', secure: 'https:' });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('Chromium refuses a certificate it was not told to trust', async () => {
  const other = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await other.newPage();
    await assert.rejects(page.goto(`${server.url}/index.html`, { timeout: TIMEOUT }), /ERR_CERT/);
  } finally {
    await other.close();
  }
});
