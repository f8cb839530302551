// httpCompression (Node engine.io's, on by default, threshold 1024 bytes): polling responses
// checked on the wire against the contract server's /engine.io/ echo endpoint. A big response
// comes gzip- or deflate-encoded as the request's Accept-Encoding picks (q-values, Node's order),
// with Content-Encoding and Vary, and decompresses to the exact payload; a small one, one without
// an acceptable coding, and the handshake stay plain. Then real clients whose HTTP stack
// decompresses (engine.io-client and socket.io-client on their fetch() transport, which sends
// Accept-Encoding: gzip, deflate) move big messages over polling; the default XHR transport of
// Node (xmlhttprequest-ssl) sends no Accept-Encoding and gets plain bodies.
// SIO_REFERENCE=1 runs it against Node's engine.io (every coding choice matches; Node sends no
// Vary and no Content-Length with a compressed body, which is only checked here).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { Fetch, Socket as EioSocket } from 'engine.io-client';
import { io as ioV4 } from 'socket.io-client';
import { startServer } from './server.mjs';
import { httpRequest, parseOpenPacket, pollPath, withTimeout, Queue } from './helpers.mjs';

const BIG = 5 * 1024;

function decode(res) {
  const enc = res.headers['content-encoding'];
  if (enc === 'gzip') return zlib.gunzipSync(res.body);
  if (enc === 'deflate') return zlib.inflateSync(res.body); // zlib-wrapped, as HTTP's "deflate"
  assert.equal(enc, undefined, `unexpected Content-Encoding ${enc}`);
  return res.body;
}

// A v4 session at /engine.io/ whose next poll will carry `message` (echoed from a POST).
async function sessionWithPending(port, message, { eio = '4', contentType } = {}) {
  const hs = await httpRequest(port, { path: `/engine.io/?EIO=${eio}&transport=polling` });
  assert.equal(hs.status, 200);
  const sid = parseOpenPacket(hs.text.replace(/^\d+:/, '')).sid;
  const res = await httpRequest(port, {
    method: 'POST', path: pollPath(sid, eio), body: message,
    headers: { 'content-type': contentType || 'text/plain;charset=UTF-8' },
  });
  assert.equal(res.text, 'ok');
  return sid;
}

function bigText(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"i":${i},"msg":"héllo wörld ${i % 97}"},`;
  return s.slice(0, n);
}

describe('httpCompression of polling responses', () => {
  let server;
  before(async () => { server = await startServer(['--allow-eio3']); });
  after(async () => { await server?.stop(); });

  const cases = [
    // Accept-Encoding, the coding expected (undefined: plain)
    [undefined, undefined],
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip, deflate, br', 'gzip'],
    ['deflate, gzip', 'deflate'],
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip;q=0.5, deflate;q=0.9', 'deflate'],
    ['gzip;q=0', undefined],
    ['br', undefined],
    ['identity', undefined],
    ['*', 'gzip'],
    ['*, gzip;q=0', 'deflate'],
  ];
  for (const [accept, want] of cases) {
    test(`a ${BIG}-byte poll with Accept-Encoding ${JSON.stringify(accept)} comes back ${want || 'plain'}`, async () => {
      const text = bigText(BIG);
      const sid = await sessionWithPending(server.port, `4${text}`);
      const res = await httpRequest(server.port, {
        path: pollPath(sid), headers: accept === undefined ? {} : { 'accept-encoding': accept },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], want);
      assert.equal(res.headers['content-type'], 'text/plain; charset=UTF-8');
      const body = decode(res);
      assert.equal(body.toString('utf8'), `4${text}`);
      if (want) assert.ok(res.body.length < BIG / 3, `compressed to ${res.body.length} bytes`);
      if (!process.env.SIO_REFERENCE) {
        // Better than the reference, which sends neither (its compressed bodies are chunked, and
        // a cache could hand them to a client that cannot decode them).
        assert.equal(res.headers.vary, want ? 'Accept-Encoding' : undefined);
        assert.equal(Number(res.headers['content-length']), res.body.length);
      }
    });
  }

  test('a poll under the threshold (1023 bytes) is plain, one at it (1024) compressed', async () => {
    for (const [size, want] of [[1023, undefined], [1024, 'gzip']]) {
      const text = 'x'.repeat(size - 1); // the packet type makes it `size`
      const sid = await sessionWithPending(server.port, `4${text}`);
      const res = await httpRequest(server.port, { path: pollPath(sid), headers: { 'accept-encoding': 'gzip' } });
      assert.equal(res.headers['content-encoding'], want, `size ${size}`);
      assert.equal(decode(res).toString(), `4${text}`);
    }
  });

  test('the handshake and small polls stay plain', async () => {
    const hs = await httpRequest(server.port, {
      path: '/engine.io/?EIO=4&transport=polling', headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(hs.headers['content-encoding'], undefined);
    const sid = parseOpenPacket(hs.text).sid;
    await httpRequest(server.port, { method: 'POST', path: pollPath(sid), body: '4hi' });
    const res = await httpRequest(server.port, { path: pollPath(sid), headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.text, '4hi');
  });

  test('a v3 binary (application/octet-stream) payload is compressed too, as Node does', async () => {
    const bytes = Buffer.alloc(4000, 7);
    const b64 = `b4${bytes.toString('base64')}`;
    const sid = await sessionWithPending(server.port, `${b64.length}:${b64}`, { eio: '3' });
    const res = await httpRequest(server.port, { path: pollPath(sid, '3'), headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['content-encoding'], 'gzip');
    const body = decode(res);
    // <1: binary> <length digits as bytes> <0xff> <4: message> <bytes>
    const len = String(bytes.length + 1).split('').map(Number);
    assert.deepEqual(body, Buffer.concat([Buffer.from([1, ...len, 0xff, 4]), bytes]));
  });

  test('each poll negotiates for itself: gzip, then none, then deflate on one session', async () => {
    const text = bigText(3000);
    const sid = await sessionWithPending(server.port, `4${text}`);
    for (const [accept, want] of [['gzip', 'gzip'], [undefined, undefined], ['deflate', 'deflate']]) {
      if (accept !== 'gzip') {
        await httpRequest(server.port, { method: 'POST', path: pollPath(sid), body: `4${text}` });
      }
      const res = await httpRequest(server.port, {
        path: pollPath(sid), headers: accept ? { 'accept-encoding': accept } : {},
      });
      assert.equal(res.headers['content-encoding'], want);
      assert.equal(decode(res).toString(), `4${text}`);
    }
  });

  test('engine.io-client 6 on fetch() (Accept-Encoding: gzip, deflate) echoes big messages', async () => {
    const socket = new EioSocket(server.url, { path: '/engine.io/', transports: [Fetch] });
    const messages = new Queue('messages');
    socket.on('message', (d) => messages.push(d));
    await withTimeout(new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    }), 5000, 'open');
    try {
      for (const n of [10, 2000, 64 * 1024, 300 * 1024]) {
        const text = bigText(n);
        socket.send(text);
        assert.equal(await messages.next(5000), text, `${n} characters`);
      }
      socket.send(Buffer.alloc(50000, 9));
      const bin = await messages.next(5000);
      assert.deepEqual(Buffer.from(bin), Buffer.alloc(50000, 9));
    } finally {
      socket.close();
    }
  });

  test('socket.io-client 4.8 on fetch() polling: big emits and acks', async () => {
    const socket = ioV4(server.url, { transports: [Fetch], reconnection: false, forceNew: true });
    try {
      await withTimeout(new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }), 5000, 'connect');
      const payload = { text: bigText(100 * 1024), list: Array.from({ length: 500 }, (_, i) => `item ${i}`) };
      const back = await withTimeout(socket.emitWithAck('echo', payload), 5000, 'ack');
      assert.deepEqual(back, payload);
    } finally {
      socket.disconnect();
    }
  });
});

describe('httpCompression and keep-alive', () => {
  let server;
  before(async () => { server = await startServer([]); });
  after(async () => { await server?.stop(); });

  test('keep-alive survives a compressed response: two polls on one connection', async () => {
    const text = bigText(4000);
    const sid = await sessionWithPending(server.port, `4${text}`);
    const http = await import('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: pollPath(sid), agent,
        headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ res, body: Buffer.concat(chunks), socket: res.socket }));
      }).on('error', reject);
    });
    const first = await get();
    assert.equal(first.res.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(first.body).toString(), `4${text}`);
    await httpRequest(server.port, { method: 'POST', path: pollPath(sid), body: `4${text}` });
    const second = await get();
    assert.equal(zlib.gunzipSync(second.body).toString(), `4${text}`);
    assert.equal(first.socket, second.socket, 'the same connection');
    agent.destroy();
  });
});
