// Native TLS (issue 16): the contract server (SIO_SERVER: C, Python or Lua) started with
// --tls-cert/--tls-key serves HTTPS and WSS only. A CA and a server certificate for
// 127.0.0.1/localhost are made here with the openssl CLI, in a temporary directory; nothing
// secret is committed. Real clients (socket.io-client 4.8 and 2.x) trust that CA and nothing else
// (rejectUnauthorized stays on), so a handshake only succeeds against the server's own chain.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import https from 'node:https';
import WebSocket from 'ws';
import { startServer } from './server.mjs';
import { withTimeout } from './helpers.mjs';
import { connectClient, closeManager } from './sio-helpers.mjs';
import { makeCertificates } from './tls-helpers.mjs';

let dir;
let files;
let ca;
let server;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-tls-'));
  files = makeCertificates(dir);
  ca = fs.readFileSync(files.ca);
  server = await startServer(['--allow-eio3', '--tls-cert', files.cert, '--tls-key', files.key]);
});

after(async () => {
  if (server) await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the ready line says https', () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
});

const KINDS = [
  { version: 4, transports: ['websocket'] },
  { version: 4, transports: ['polling'] },
  { version: 4, transports: undefined }, // polling, then upgrade to wss
  { version: 2, transports: ['websocket'] },
  { version: 2, transports: undefined },
];

for (const kind of KINDS) {
  const name = `socket.io-client ${kind.version === 2 ? '2.x' : '4.8'} ${kind.transports ? kind.transports.join('+') : 'polling then upgrade'}`;
  test(`${name} over https/wss with the test CA: emit and ack round trips`, async () => {
    const c = await connectClient(server.url, kind, { managerOpts: { ca, rejectUnauthorized: true } });
    try {
      assert.deepEqual(await c.ack('echo', 'over tls', { n: 1 }), ['over tls', { n: 1 }]);
      c.emit('message', 'hello', 42);
      assert.deepEqual(await c.next('message-back'), ['hello', 42]);
      const big = 'x'.repeat(200000); // several TLS records each way
      assert.deepEqual(await c.ack('echo', big), [big]);
      if (!kind.transports) {
        assert.equal(await withTimeout(c.upgraded, 5000, 'upgrade'), 'websocket');
        assert.deepEqual(await c.ack('echo', 'after upgrade'), ['after upgrade']);
      }
    } finally {
      await closeManager(c.manager);
    }
  });
}

test('a client that does not trust the CA is refused by its own check', async () => {
  const err = await withTimeout(new Promise((resolve) => {
    https.get(`${server.url}/socket.io/?EIO=4&transport=polling`, (res) => resolve(res.statusCode))
      .on('error', resolve);
  }), 5000, 'untrusted request');
  assert.ok(err instanceof Error, `expected a TLS error, got ${err}`);
});

test('ALPN picks http/1.1 and TLS 1.2 is the floor', async () => {
  const alpn = await withTimeout(new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost',
      ALPNProtocols: ['h2', 'http/1.1'] }, () => { resolve(s.alpnProtocol); s.end(); });
    s.on('error', reject);
  }), 5000, 'ALPN');
  assert.equal(alpn, 'http/1.1');
  const old = await withTimeout(new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca, servername: 'localhost',
      minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => { resolve('connected'); s.end(); });
    s.on('error', (e) => resolve(e.code || e.message));
  }), 5000, 'TLS 1.1 handshake');
  assert.notEqual(old, 'connected');
});

test('a raw wss WebSocket (ws) echoes on /engine.io/ and the server closes with close_notify', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/engine.io/?EIO=4&transport=websocket`, { ca });
  const msgs = [];
  const open = withTimeout(new Promise((resolve, reject) => {
    ws.on('message', (d) => { msgs.push(String(d)); if (msgs.length === 2) resolve(); });
    ws.on('error', reject);
  }), 5000, 'ws open + echo');
  ws.on('open', () => ws.send('4hello'));
  await open;
  assert.match(msgs[0], /^0\{"sid"/);
  assert.equal(msgs[1], '4hello');
  // A close frame from us: the server answers and shuts TLS down cleanly (no ECONNRESET).
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  const errors = [];
  ws.on('error', (e) => errors.push(e));
  ws.close(1000);
  assert.equal(await withTimeout(closed, 5000, 'close'), 1000);
  assert.deepEqual(errors, []);
});

test('garbage instead of a ClientHello is closed at once', async () => {
  for (const garbage of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', '\x16\x03\x01\x00\x05hello-not-tls-at-all']) {
    const sock = net.connect(server.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.resume(); // read (and drop) the alert, so that the end is seen
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write(garbage);
    // well before the 10 s headers timeout: closed because of the bytes, not of the clock
    await withTimeout(new Promise((resolve) => sock.once('close', resolve)), 3000, 'close after garbage');
  }
});

test('the server still serves after handshake failures', async () => {
  const body = await withTimeout(new Promise((resolve, reject) => {
    https.get(`${server.url}/socket.io/?EIO=4&transport=polling`, { ca }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  }), 5000, 'polling handshake');
  assert.match(body, /^0\{"sid":"/);
});
