// The msgpack parser (contract flag `--parser msgpack`): socket.io-client 4.8 with npm
// socket.io-msgpack-parser, over WebSocket and over polling, against the server under test
// (SIO_SERVER: the C, Python or Lua contract server). Each packet is one msgpack map
// {type, data, nsp, id} in one binary message; binary travels inline at any depth.
// Also: raw clients sending malformed msgpack (the connection is closed), a JSON client refused,
// and the exact bytes of a few packets compared with Node's reference server run with the same
// parser (tests/js/reference/contract-server.mjs --parser msgpack).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import { encode, decode } from 'notepack.io';
import { spawnSync } from 'node:child_process';
import { HOST, openWs, withTimeout, sleep, startRedis } from './helpers.mjs';
import { startServer } from './server.mjs';
import { assertSameData, randomBuffer, UNICODE_STRINGS } from './sio-helpers.mjs';

const REFERENCE = 'node tests/js/reference/contract-server.mjs';
const TRANSPORTS = [['websocket'], ['polling']];

let server;
before(async () => { server = await startServer(['--parser', 'msgpack']); });
after(async () => { if (server) await server.stop(); });

// A connected socket.io-client 4.8 socket with the msgpack parser; events it receives are
// recorded (socket.events.get(name) is a list of argument arrays).
async function connect(port, nsp = '/', { transports = ['websocket'], auth, parser = msgpackParser } = {}) {
  const socket = io(`http://${HOST}:${port}${nsp}`, {
    ...(parser ? { parser } : {}), transports, auth, forceNew: true, reconnection: false, timeout: 5000,
  });
  socket.events = new Map();
  socket.onAny((ev, ...args) => {
    if (!socket.events.has(ev)) socket.events.set(ev, []);
    socket.events.get(ev).push(args);
  });
  await withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), 5000, `connect ${nsp}`).catch((err) => { socket.close(); throw err; });
  return socket;
}

// The next `ev` the socket receives (or one already recorded).
async function nextEvent(socket, ev, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const list = socket.events.get(ev);
    if (list && list.length) return list.shift();
    await sleep(10);
  }
  throw new Error(`no ${ev} within ${ms} ms`);
}

const ack = (socket, ...args) => socket.timeout(5000).emitWithAck(...args);

const NESTED = () => ({
  a: [1, { b: randomBuffer(16), c: [[[[[[randomBuffer(3)]]]]]] }],
  empty: Buffer.alloc(0),
  list: [randomBuffer(1), 'x', randomBuffer(300)],
});

const NUMBERS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 60,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53), 1.5, -0.25,
  -1e-300, 0.1, 2 ** -1074, 1.7976931348623157e308 / 2 ** 970];
// Not here: integral values of 2**64 and more (1e300): notepack writes them as a uint64 whose
// high word overflowed (1e300 arrives as 0), for Node's server as for sio.

for (const transports of TRANSPORTS) {
  describe(`msgpack parser over ${transports[0]}`, () => {
    test('connect with auth: the auth payload comes back', async () => {
      const auth = { token: 'abc', n: 3, nested: { list: [1, 'two'] } };
      const s = await connect(server.port, '/', { transports, auth });
      try {
        assert.deepEqual(await nextEvent(s, 'auth'), [auth]);
      } finally { s.close(); }
    });

    test('echo and message-with-ack: nested binary at depth, byte-exact', async () => {
      const s = await connect(server.port, '/', { transports });
      try {
        const data = NESTED();
        assertSameData(await ack(s, 'echo', data, randomBuffer(64), 'tail'), data);
        const args = [randomBuffer(5), { deep: NESTED() }];
        assertSameData(await ack(s, 'message-with-ack', ...args), args[0]);
        s.emit('message', ...args);
        assertSameData(await nextEvent(s, 'message-back'), args);
      } finally { s.close(); }
    });

    test('numbers: ints of every width, negative, floats, big', async () => {
      const s = await connect(server.port, '/', { transports });
      try {
        const back = await s.timeout(5000).emitWithAck('message-with-ack', ...NUMBERS);
        // emitWithAck resolves the first ack argument; ask for all of them through echo
        assert.equal(back, NUMBERS[0]);
        s.emit('message', ...NUMBERS);
        assert.deepEqual(await nextEvent(s, 'message-back'), NUMBERS);
      } finally { s.close(); }
    });

    // Lone surrogates are not here: the client's notepack 2 mangles them before they leave (a
    // lone '\ud83d' is sent as U+1F400), whatever the server.
    test('strings: non-BMP and NUL come back unchanged', async () => {
      const s = await connect(server.port, '/', { transports });
      try {
        const strings = [...UNICODE_STRINGS, 'a\u0000b', '', { 'k\u0000😀': 'v' }];
        s.emit('message', ...strings);
        assert.deepEqual(await nextEvent(s, 'message-back'), strings);
      } finally { s.close(); }
    });

    test('a browser\'s values: typed arrays and ArrayBuffers (ext 0), undefined, Date', async () => {
      // notepack 2 writes an ArrayBuffer or a typed array as ext type 0 (not bin), undefined as
      // fixext 1 type 0 and a Date as fixext 8 type 0. The server takes the first as binary (it
      // comes back as bin), undefined as JSON.stringify does (null in an array, key left out of
      // an object) and a Date as its toISOString() text, as the JSON parser would see them.
      const s = await connect(server.port, '/', { transports });
      try {
        const u8 = new Uint8Array([1, 2, 3, 250]);
        const ab = new Uint8Array([9, 8, 7]).buffer;
        const date = new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789));
        s.emit('message', u8, { ab, nested: [new Uint16Array([0x102, 0x304])] }, [undefined, 1],
          { gone: undefined, kept: 2 }, date, new Date(-1));
        const back = await nextEvent(s, 'message-back');
        assertSameData(back.slice(0, 2), [Buffer.from(u8), { ab: Buffer.from([9, 8, 7]),
          nested: [Buffer.from(new Uint16Array([0x102, 0x304]).buffer)] }]);
        assert.deepEqual(back.slice(2), [[null, 1], { kept: 2 }, '2024-02-29T12:34:56.789Z',
          '1969-12-31T23:59:59.999Z']);
      } finally { s.close(); }
    });

    test('broadcast and rooms reach every socket once', async () => {
      const a = await connect(server.port, '/', { transports });
      const b = await connect(server.port, '/', { transports });
      try {
        const payload = { bin: randomBuffer(8), n: 1 };
        a.emit('broadcast', payload);
        assertSameData(await nextEvent(a, 'broadcast'), [payload]);
        assertSameData(await nextEvent(b, 'broadcast'), [payload]);
        const rooms = await ack(b, 'join', 'r1');
        assert.ok(rooms.includes('r1'));
        a.emit('to-room', 'r1', randomBuffer(2).length, 'hi');
        assert.deepEqual(await nextEvent(b, 'room-message'), ['r1', 2, 'hi']);
        await sleep(100);
        assert.equal(a.events.get('room-message'), undefined);
      } finally { a.close(); b.close(); }
    });

    test('ask: the server waits for the client\'s ack with binary', async () => {
      const s = await connect(server.port, '/', { transports });
      s.on('question', (x, cb) => cb({ got: x, bin: Buffer.from([1, 2, 3]) }));
      try {
        const answer = await ack(s, 'ask', 'question', 42);
        assertSameData(answer, { ok: true, args: [{ got: 42, bin: Buffer.from([1, 2, 3]) }] });
      } finally { s.close(); }
    });

    test('namespaces: /custom, /admin middleware, dynamic', async () => {
      const c = await connect(server.port, '/custom', { transports, auth: { x: 1 } });
      try { assert.deepEqual(await nextEvent(c, 'auth'), [{ x: 1 }]); } finally { c.close(); }
      const ok = await connect(server.port, '/admin', { transports, auth: { token: 'secret' } });
      try { assert.deepEqual(await nextEvent(ok, 'welcome'), [ok.id]); } finally { ok.close(); }
      await assert.rejects(connect(server.port, '/admin', { transports, auth: { token: 'no' } }),
        (err) => err.message === 'unauthorized');
      await assert.rejects(connect(server.port, '/nope', { transports }),
        (err) => err.message === 'Invalid namespace');
      const d = await connect(server.port, '/dyn-x1', { transports });
      try { assert.deepEqual(await nextEvent(d, 'nsp'), ['/dyn-x1']); } finally { d.close(); }
    });

    test('a JSON client is refused', async () => {
      // As with Node: its text CONNECT is not msgpack, the server closes the connection.
      await assert.rejects(connect(server.port, '/', { transports, parser: null }));
    });
  });
}

// ---- raw clients: bytes as socket.io-msgpack-parser writes them ----

async function rawSession(port) {
  const conn = await openWs(port, '/socket.io/?EIO=4&transport=websocket');
  const open = await conn.messages.next();
  assert.match(open, /^0\{/);
  return conn;
}

// Sends a CONNECT to "/" and returns the CONNECT reply and the `auth` event.
async function rawConnect(conn) {
  conn.ws.send(encode({ type: 0, nsp: '/' }));
  const reply = decode(await conn.messages.next());
  assert.equal(reply.type, 0);
  assert.equal(typeof reply.data.sid, 'string');
  return reply;
}

async function expectClosed(conn, what) {
  const closed = await withTimeout(conn.closed, 3000, `server closing after ${what}`);
  assert.ok(closed.code === 1005 || closed.code === 1000 || closed.code === 1006, `${what}: ${closed.code}`);
}

const MALFORMED = [
  ['not msgpack (0xc1)', Buffer.from([0xc1])],
  ['trailing bytes', Buffer.concat([encode({ type: 2, data: ['message', 1], nsp: '/' }), Buffer.from([0])])],
  ['truncated', encode({ type: 2, data: ['message', 'abcdef'], nsp: '/' }).subarray(0, 10)],
  ['not a map', encode([2, ['message'], '/'])],
  ['type a string', encode({ type: '2', data: ['message'], nsp: '/' })],
  ['type 5 (no BINARY_EVENT in this parser)', encode({ type: 5, data: ['message'], nsp: '/' })],
  ['nsp missing', encode({ type: 2, data: ['message'] })],
  ['nsp a number', encode({ type: 2, data: ['message'], nsp: 1 })],
  ['data not an array', encode({ type: 2, data: { a: 1 }, nsp: '/' })],
  ['data nil', Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0x02, 0xa4, ...Buffer.from('data'), 0xc0,
    0xa3, ...Buffer.from('nsp'), 0xa1, 0x2f])],
  ['id a float', encode({ type: 2, data: ['message'], nsp: '/', id: 1.5 })],
  ['deep nesting', (() => {
    const head = Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0x02, 0xa3, ...Buffer.from('nsp'), 0xa1, 0x2f,
      0xa4, ...Buffer.from('data'), 0x92, 0xa1, 0x6d]);
    return Buffer.concat([head, Buffer.alloc(100000, 0x91), Buffer.from([0xc0])]);
  })()],
  ['huge declared array', Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0x02, 0xa3, ...Buffer.from('nsp'), 0xa1,
    0x2f, 0xa4, ...Buffer.from('data'), 0xdd, 0xff, 0xff, 0xff, 0xff])],
  ['huge declared string', Buffer.from([0x82, 0xa4, ...Buffer.from('type'), 0x02, 0xa3, ...Buffer.from('nsp'), 0xdb,
    0xff, 0xff, 0xff, 0xf0, 0x2f])],
  ['invalid UTF-8 string', Buffer.from([0x83, 0xa4, ...Buffer.from('type'), 0x02, 0xa3, ...Buffer.from('nsp'), 0xa1,
    0x2f, 0xa4, ...Buffer.from('data'), 0x92, 0xa1, 0x6d, 0xa2, 0xff, 0xfe])],
];

describe('msgpack parser: malformed input closes the connection', () => {
  for (const [what, bytes] of MALFORMED) {
    test(what, async () => {
      const conn = await rawSession(server.port);
      await rawConnect(conn);
      conn.ws.send(bytes);
      await expectClosed(conn, what);
    });
  }

  test('a text message (the JSON parser\'s CONNECT)', async () => {
    const conn = await rawSession(server.port);
    conn.ws.send('40');
    await expectClosed(conn, 'a text CONNECT');
  });

  test('the server stays up and answers after all of it', async () => {
    const s = await connect(server.port, '/');
    try { assert.equal(await ack(s, 'echo', 1), 1); } finally { s.close(); }
  });
});

// ---- exact bytes, compared with Node's reference ----

// What the server writes for a fixed exchange on a raw session: the `auth` event after CONNECT,
// an ack with every kind of value, and a message-back event. Hex strings.
async function exchange(port) {
  const conn = await rawSession(port);
  try {
    conn.ws.send(encode({ type: 0, nsp: '/', data: { k: 'v' } }));
    const out = [];
    const reply = decode(await conn.messages.next());
    assert.equal(reply.type, 0);
    out.push(toHex(await conn.messages.next())); // auth event
    const args = ['echo', 1, -1, 300, -300, 2 ** 40, 1.5, 'é😀', Buffer.from([1, 2, 3]), { k: [true, false, null] }];
    conn.ws.send(encode({ type: 2, data: args, nsp: '/', id: 7 }));
    out.push(toHex(await conn.messages.next())); // ack
    conn.ws.send(encode({ type: 2, data: ['message', { b: Buffer.from([9]) }, [0.5]], nsp: '/' }));
    out.push(toHex(await conn.messages.next())); // message-back
    return out;
  } finally { await conn.close(); }
}

const toHex = (m) => (typeof m === 'string' ? `text:${m}` : m.toString('hex'));

test('the bytes of an event and of an ack are the Node reference\'s', async (t) => {
  let ref;
  try {
    ref = await startServer(['--parser', 'msgpack'], { command: REFERENCE });
  } catch (err) {
    t.skip(`the Node reference did not start: ${err.message}`);
    return;
  }
  try {
    const expected = await exchange(ref.port);
    const actual = await exchange(server.port);
    assert.deepEqual(actual, expected);
  } finally { await ref.stop(); }
});

// ---- a cluster: the Redis messages are the adapter's whatever the parser; each node encodes what
// it delivers with its own ----

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

describe('msgpack parser in a cluster: a msgpack node and a JSON node (Node reference) through Redis',
  { skip: HAVE_REDIS ? false : 'redis-server is not installed' }, () => {
    let redis, a, b;
    before(async () => {
      redis = await startRedis();
      a = await startServer(['--parser', 'msgpack', '--redis', redis.url]);
      b = await startServer(['--redis', redis.url], { command: REFERENCE });
    });
    after(async () => {
      if (a) await a.stop();
      if (b) await b.stop();
      if (redis) await redis.stop();
    });

    test('broadcasts cross both ways, binary byte-exact, each client in its own parser', async () => {
      const ma = await connect(a.port, '/');
      const jb = await connect(b.port, '/', { parser: null });
      try {
        // the nodes subscribe after their listening line: wait until both see two sockets
        const deadline = Date.now() + 8000;
        while ((await ack(ma, 'count')) !== 2 && Date.now() < deadline) await sleep(100);
        const payload = { bin: randomBuffer(32), deep: [[{ n: 1.5, s: 'é😀' }]] };
        ma.emit('broadcast', payload);
        assertSameData(await nextEvent(jb, 'broadcast'), [payload]);
        assertSameData(await nextEvent(ma, 'broadcast'), [payload]);
        const back = { other: randomBuffer(3), k: -7 };
        jb.emit('broadcast', back);
        assertSameData(await nextEvent(ma, 'broadcast'), [back]);
        assertSameData(await nextEvent(jb, 'broadcast'), [back]);
      } finally { ma.close(); jb.close(); }
    });
  });
