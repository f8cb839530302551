// JSONP polling (Engine.IO v3's transport for pages without XHR: `j=N` in the query), with
// --allow-eio3. A raw client written from engine.io-client 3's polling-jsonp: every GET answer is
// run as the script a browser would run (in a vm context holding `___eio`), every POST is the
// form its hidden textarea sends (`d=`, newlines escaped the client's way, '+' for spaces).
// Covers the handshake, messages both ways with characters that need escaping in a script
// (quotes, backslashes, newlines, a literal backslash-n, U+2028/U+2029, non-BMP), base64 binary,
// the upgrade to WebSocket, socket.io 2.x semantics (CONNECT to /, emit, ack) on the Socket.IO
// endpoint, compression of a big script, and the refusals: `j` with EIO=4, a `j` that is not an
// index, and EIO=3 without --allow-eio3.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { startServer } from './server.mjs';
import { httpRequest, assertEioError, openWs } from './helpers.mjs';

// engine.io-parser 2's text payload: "<UTF-16 length>:<packet>" per packet.
function encodePayload(packets) {
  return packets.map((p) => `${p.length}:${p}`).join('');
}

function decodePayload(data) {
  const out = [];
  let i = 0;
  while (i < data.length) {
    const colon = data.indexOf(':', i);
    assert.ok(colon > i, `bad payload ${JSON.stringify(data)}`);
    const n = Number(data.slice(i, colon));
    out.push(data.slice(colon + 1, colon + 1 + n));
    i = colon + 1 + n;
  }
  return out;
}

// What engine.io-client 3's JSONP transport puts in its textarea.
function escapeForForm(data) {
  return data.replace(/\\n/g, '\\\n').replace(/\n/g, '\\n');
}

class JsonpClient {
  constructor(port, path, j = 0) {
    this.port = port;
    this.path = path;
    this.j = j;
    this.sid = null;
  }

  query() {
    return `${this.path}?EIO=3&transport=polling&j=${this.j}&b64=1${this.sid ? `&sid=${this.sid}` : ''}`;
  }

  // Runs the response as a script; returns the string handed to ___eio[j].
  static run(text, j) {
    const got = [];
    const ___eio = [];
    ___eio[j] = (s) => got.push(s);
    vm.runInNewContext(text, { ___eio }, { timeout: 1000 });
    assert.equal(got.length, 1, `the script calls ___eio[${j}] once: ${text.slice(0, 200)}`);
    assert.equal(typeof got[0], 'string');
    return got[0];
  }

  async get(headers = {}) {
    const res = await httpRequest(this.port, { path: this.query(), headers, timeout: 8000 });
    assert.equal(res.status, 200, res.text);
    // engine.io 1.x's type; Node's engine.io since 3.x sends text/plain (its JSONP writes through
    // the polling transport), which a page with X-Content-Type-Options: nosniff would not run
    if (!REFERENCE) assert.equal(res.headers['content-type'], 'text/javascript; charset=UTF-8');
    let body = res.body;
    if (res.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    return { packets: decodePayload(JsonpClient.run(body.toString('utf8'), this.j)), res };
  }

  async handshake() {
    const { packets } = await this.get();
    assert.equal(packets[0][0], '0');
    const hs = JSON.parse(packets[0].slice(1));
    this.sid = hs.sid;
    return { hs, rest: packets.slice(1) };
  }

  async send(packets) {
    const body = new URLSearchParams({ d: escapeForForm(encodePayload(packets)) }).toString();
    const res = await httpRequest(this.port, {
      method: 'POST', path: this.query(), body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.text, 'ok');
    assert.match(String(res.headers['content-type']), /^text\/html/);
  }

  // Polls until `n` packets other than pings came (pings are answered).
  async receive(n) {
    const got = [];
    while (got.length < n) {
      const { packets } = await this.get();
      for (const p of packets) {
        if (p === '2') await this.send(['3']);
        else if (p !== '6') got.push(p);
      }
    }
    return got;
  }
}

// SIO_REFERENCE=1: against Node's engine.io, which also serves `j` to EIO=4 and strips what is
// not a digit from it (`___eio[](...)`: a script that cannot run) instead of refusing.
const REFERENCE = !!process.env.SIO_REFERENCE;

const TRICKY = [
  'plain',
  'quote " and \' apostrophe',
  'back\\slash and a literal \\n and \\\\n',
  'new\nline and\r\ncrlf\ttab',
  'line\u2028separator\u2029paragraph',
  'non-BMP 😀 𝄞 and CJK 中文 é',
  '</script><script>alert(1)</script>',
  'a + b = c & d=e % 25',
];

describe('JSONP polling (EIO=3, j=N) with --allow-eio3', () => {
  let server;
  before(async () => { server = await startServer(['--allow-eio3']); });
  after(async () => { await server?.stop(); });

  test('handshake as a script: ___eio[N]("<v3 payload>") with the open packet', async () => {
    for (const j of [0, 7, 123456789]) {
      const c = new JsonpClient(server.port, '/engine.io/', j);
      const { hs } = await c.handshake();
      assert.deepEqual(hs.upgrades, ['websocket']);
      assert.ok(hs.pingInterval > 0 && hs.pingTimeout > 0);
    }
  });

  test('messages both ways, every character that needs escaping', async () => {
    const c = new JsonpClient(server.port, '/engine.io/');
    await c.handshake();
    for (const text of TRICKY) {
      await c.send([`4${text}`]);
      assert.deepEqual(await c.receive(1), [`4${text}`], JSON.stringify(text));
    }
    // several packets in one form
    await c.send(TRICKY.map((t) => `4${t}`));
    assert.deepEqual(await c.receive(TRICKY.length), TRICKY.map((t) => `4${t}`));
  });

  test('binary goes as base64 (b4...) in the script', async () => {
    const c = new JsonpClient(server.port, '/engine.io/');
    await c.handshake();
    const bytes = Buffer.from([0, 1, 2, 0x22, 0x5c, 0x0a, 0xff, 0xfe]);
    await c.send([`b4${bytes.toString('base64')}`]);
    const [p] = await c.receive(1);
    assert.equal(p, `b4${bytes.toString('base64')}`);
  });

  test('a form without a single d delivers nothing and answers ok; a bad payload closes', async () => {
    const c = new JsonpClient(server.port, '/engine.io/');
    await c.handshake();
    for (const body of ['', 'x=1', 'd=1&d=2']) {
      const res = await httpRequest(server.port, { method: 'POST', path: c.query(), body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(res.text, 'ok');
    }
    await c.send(['4still here']);
    assert.deepEqual(await c.receive(1), ['4still here']);
    const res = await httpRequest(server.port, { method: 'POST', path: c.query(), body: 'd=99:garbage',
      headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.text, 'ok');
    // the session ended ("parse error"), as on XHR polling
    assertEioError(await httpRequest(server.port, { path: c.query() }), 1, 'Session ID unknown');
  });

  test('a big script is compressed like any polling response', async () => {
    const c = new JsonpClient(server.port, '/engine.io/');
    await c.handshake();
    const text = 'é"\\ \n'.repeat(2000); // (a backslash right before a newline is lost: the client's escaping)
    await c.send([`4${text}`]);
    const { packets, res } = await c.get({ 'accept-encoding': 'gzip' });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.deepEqual(packets, [`4${text}`]);
  });

  test('upgrade from a JSONP session to WebSocket', async () => {
    const c = new JsonpClient(server.port, '/engine.io/');
    await c.handshake();
    const w = await openWs(server.port, `/engine.io/?EIO=3&transport=websocket&sid=${c.sid}`);
    const pending = c.get(); // the parked poll, released by the probe
    w.ws.send('2probe');
    assert.equal(await w.messages.next(3000), '3probe');
    const { packets } = await pending;
    assert.deepEqual(packets, ['6']);
    w.ws.send('5');
    w.ws.send('4over ws "\u2028"');
    assert.equal(await w.messages.next(3000), '4over ws "\u2028"');
    await w.close();
  });

  test('socket.io 2.x over JSONP: CONNECT to /, emit, ack', async () => {
    const c = new JsonpClient(server.port, '/socket.io/');
    const { rest } = await c.handshake();
    const got = [...rest];
    while (!got.some((p) => p.startsWith('42["auth"'))) got.push(...await c.receive(1));
    assert.ok(got.includes('40'), JSON.stringify(got));
    for (const text of TRICKY) {
      await c.send([`421${JSON.stringify(['message-with-ack', text, { t: text }])}`]);
      assert.deepEqual(await c.receive(1), [`431${JSON.stringify([text, { t: text }])}`]);
      await c.send([`42${JSON.stringify(['message', text])}`]);
      assert.deepEqual(await c.receive(1), [`42${JSON.stringify(['message-back', text])}`]);
    }
  });

  test('refused: j with EIO=4, j that is not an index (400 Bad request)', { skip: REFERENCE }, async () => {
    for (const q of ['EIO=4&transport=polling&j=0', 'EIO=3&transport=polling&j=abc',
      'EIO=3&transport=polling&j=', 'EIO=3&transport=polling&j=1]', 'EIO=3&transport=polling&j=1234567890']) {
      const res = await httpRequest(server.port, { path: `/engine.io/?${q}` });
      assertEioError(res, 3, 'Bad request');
    }
  });
});

describe('JSONP without --allow-eio3', () => {
  let server;
  before(async () => { server = await startServer([]); });
  after(async () => { await server?.stop(); });

  test('EIO=3 with j is refused as any v3 request: 400 Unsupported protocol version', async () => {
    const res = await httpRequest(server.port, { path: '/engine.io/?EIO=3&transport=polling&j=0' });
    assertEioError(res, 5, 'Unsupported protocol version');
  });
});

// Keeps the vm helper honest: a script that is not a call of ___eio[j] fails the run.
test('the raw client refuses what is not a JSONP script', () => {
  assert.throws(() => JsonpClient.run('"x"', 0));
  assert.throws(() => JsonpClient.run('___eio[1]("x");', 0));
});
