// Connection state recovery (`--recovery [MS]`, Node's connectionStateRecovery) with socket.io-client
// 4.8 over WebSocket and over polling. The client reaches the server through a small TCP proxy of
// the test's own, which can hold back what the server sends, cut every connection (the server sees
// the transport close) and refuse new ones for a while; meanwhile another client makes the server
// broadcast, emit to a room and to the cut socket's own-id room. When the client comes back:
// `socket.recovered`, the same id, the same rooms, and every missed event exactly once and in
// order (the offset, a string, as one extra last argument of each). Past the max disconnection
// duration, after a namespace disconnect from either side, and without --recovery it is a fresh
// socket. Run against the Node reference (SIO_SERVER='node tests/js/reference/contract-server.mjs')
// it passes too; without --recovery the reference fails the `recovered` assertion the same way.

import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { startServer } from './server.mjs';
import { sleep, withTimeout } from './helpers.mjs';

// A TCP proxy to 127.0.0.1:port. mode 'pass' forwards both ways; 'hold' drops what the server
// sends (the client's packets still go through); 'refuse' closes new connections at once.
// cut() destroys every connection on both sides.
function startProxy(port) {
  const conns = new Set();
  const proxy = { mode: 'pass', accepted: 0 };
  const server = net.createServer((client) => {
    if (proxy.mode === 'refuse') {
      client.destroy();
      return;
    }
    proxy.accepted++;
    const upstream = net.connect(port, '127.0.0.1');
    const pair = { client, upstream };
    conns.add(pair);
    const drop = () => {
      conns.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => { if (proxy.mode !== 'hold') client.write(d); });
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  });
  proxy.cut = () => {
    for (const { client, upstream } of conns) {
      client.destroy();
      upstream.destroy();
    }
    conns.clear();
  };
  proxy.listen = () => new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    proxy.port = server.address().port;
    resolve();
  }));
  proxy.close = () => {
    proxy.cut();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

const EVENTS = ['auth', 'message-back', 'broadcast', 'room-message'];

// A client recording every contract event as [event, ...args] (offsets included).
function client(url, transports, extra = {}) {
  const socket = io(url, {
    transports,
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 200,
    randomizationFactor: 0,
    ...extra,
  });
  socket.got = [];
  for (const ev of EVENTS) socket.on(ev, (...args) => socket.got.push([ev, ...args]));
  return socket;
}

const connected = (socket, ms = 5000) =>
  withTimeout(new Promise((resolve) => socket.once('connect', resolve)), ms, 'connect');

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const ack = (socket, ...args) => withTimeout(socket.emitWithAck(...args), 3000, args[0]);

// Drops the offset: with recovery on, the last argument of every kept event is a string offset.
const bare = (entries) => entries.map((e) => {
  assert.equal(typeof e[e.length - 1], 'string', `offset of ${JSON.stringify(e)}`);
  return e.slice(0, -1);
});

// One client behind the proxy, joined to room r1 and holding an offset; one direct observer.
async function setup(url, proxy, transports) {
  const a = client(`http://127.0.0.1:${proxy.port}`, transports);
  await connected(a);
  const b = client(url, ['websocket']);
  await connected(b);
  await waitFor(() => a.got.length >= 1, 3000, 'auth'); // the first offset the client holds
  assert.deepEqual(await ack(a, 'join', 'r1'), [a.id, 'r1'].sort());
  return { a, b };
}

// The cut, the traffic the cut client misses, and the way back.
async function cutAndMiss({ a, b }, proxy, { holdMs = 0 } = {}) {
  const id = a.id;
  a.got.length = 0;
  // In flight at the cut: a direct emit to a, which the proxy holds back.
  proxy.mode = 'hold';
  a.emit('message', 'd1');
  await sleep(500); // the server has read it (and written the answer the proxy holds back)
  proxy.mode = 'refuse';
  proxy.cut();
  await waitFor(() => !a.connected, 3000, 'the cut');
  b.got.length = 0;
  b.emit('broadcast', 'm1');
  b.emit('to-room', 'r1', 'm2');
  b.emit('to-room', 'elsewhere', 'm3');
  b.emit('to-room', id, 'm4');
  b.emit('to-room-others', 'r1', 'm5');
  b.emit('broadcast', 'm6');
  await waitFor(() => b.got.some((e) => e[0] === 'broadcast' && e[1] === 'm6'), 3000, 'b sees m6');
  if (holdMs) await sleep(holdMs);
  proxy.mode = 'pass';
  await connected(a, 8000);
  return id;
}

const MISSED = [
  ['message-back', 'd1'],
  ['broadcast', 'm1'],
  ['room-message', 'r1', 'm2'],
  ['room-message', 'm4'],
  ['room-message', 'r1', 'm5'],
  ['broadcast', 'm6'],
];

const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
});

async function start(args) {
  const server = await startServer(args);
  const proxy = startProxy(server.port);
  await proxy.listen();
  const clients = [];
  const done = async () => {
    for (const c of clients) c.disconnect();
    await proxy.close();
    await server.stop();
  };
  cleanups.push(done);
  return { url: server.url, proxy, clients };
}

for (const transports of [['websocket'], ['polling']]) {
  describe(`connection state recovery, socket.io-client 4.8 over ${transports[0]}`, () => {
    test('the cut client comes back recovered: same id, same rooms, every missed event once, in order', async () => {
      const { url, proxy, clients } = await start(['--recovery']);
      const pair = await setup(url, proxy, transports);
      clients.push(pair.a, pair.b);
      assert.equal(pair.a.recovered, false);
      const id = await cutAndMiss(pair, proxy);
      const { a } = pair;
      assert.equal(a.recovered, true);
      assert.equal(a.id, id);
      await ack(a, 'echo', 'settle'); // everything replayed has arrived before the ack
      // The connection handler runs again (Node's does for a recovered socket): its `auth` event
      // shows what the client sent back, its pid and the last offset it had.
      const auth = a.got.filter((e) => e[0] === 'auth');
      assert.equal(auth.length, 1);
      assert.deepEqual(Object.keys(auth[0][1]).sort(), ['offset', 'pid']);
      // The room-message to a's own id carries that id as its first argument.
      const got = bare(a.got.filter((e) => e[0] !== 'auth')).map((e) => (e[0] === 'room-message' && e[1] === id ? ['room-message', ...e.slice(2)] : e));
      assert.deepEqual(got, MISSED);
      assert.deepEqual(await ack(a, 'join', 'r2'), [id, 'r1', 'r2'].sort());
      // Live traffic after the recovery carries offsets too, and goes on in order.
      a.got.length = 0;
      pair.b.emit('to-room', 'r1', 'live');
      await waitFor(() => a.got.length === 1, 3000, 'live');
      assert.deepEqual(bare(a.got), [['room-message', 'r1', 'live']]);
    });

    test('past the max disconnection duration it is a fresh socket', async () => {
      const { url, proxy, clients } = await start(['--recovery', '1000']);
      const pair = await setup(url, proxy, transports);
      clients.push(pair.a, pair.b);
      const id = await cutAndMiss(pair, proxy, { holdMs: 1500 });
      assert.equal(pair.a.recovered, false);
      assert.notEqual(pair.a.id, id);
      await ack(pair.a, 'echo', 'settle');
      assert.deepEqual(pair.a.got.filter((e) => e[0] !== 'auth'), []);
      assert.deepEqual(await ack(pair.a, 'join', 'r2'), [pair.a.id, 'r2'].sort());
    });

    test('without --recovery the cut client comes back fresh and the missed events are gone', async () => {
      const { url, proxy, clients } = await start([]);
      const pair = await setup(url, proxy, transports);
      clients.push(pair.a, pair.b);
      const id = await cutAndMiss(pair, proxy);
      assert.ok(!pair.a.recovered); // undefined: the server sent no pid
      assert.notEqual(pair.a.id, id);
      await ack(pair.a, 'echo', 'settle');
      assert.deepEqual(pair.a.got.filter((e) => e[0] !== 'auth'), []);
    });
  });
}

describe('connection state recovery: what is not recoverable', () => {
  test('a namespace disconnect from the client is not recoverable', async () => {
    const { url, clients } = await start(['--recovery=5000']);
    const a = client(url, ['websocket']);
    clients.push(a);
    await connected(a);
    await waitFor(() => a.got.length >= 1, 3000, 'auth');
    const id = a.id;
    a.disconnect();
    a.connect(); // the client sends its pid and offset again
    await connected(a);
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
  });

  test('a namespace disconnect from the server is not recoverable', async () => {
    const { url, clients } = await start(['--recovery']);
    const a = client(url, ['websocket']);
    clients.push(a);
    await connected(a);
    await waitFor(() => a.got.length >= 1, 3000, 'auth');
    const id = a.id;
    const gone = new Promise((resolve) => a.once('disconnect', resolve));
    a.emit('disconnect-me');
    assert.equal(await withTimeout(gone, 3000, 'disconnect'), 'io server disconnect');
    a.connect();
    await connected(a);
    assert.equal(a.recovered, false);
    assert.notEqual(a.id, id);
  });

  test('the client destroying its own WebSocket comes back recovered', async () => {
    const { url, clients } = await start(['--recovery']);
    const a = client(url, ['websocket']);
    const b = client(url, ['websocket']);
    clients.push(a, b);
    await Promise.all([connected(a), connected(b)]);
    await waitFor(() => a.got.length >= 1, 3000, 'auth');
    const id = a.id;
    a.got.length = 0;
    a.io.engine.transport.ws._socket.destroy(); // the TCP socket under the client's WebSocket
    await waitFor(() => !a.connected, 3000, 'the cut');
    b.emit('broadcast', 'x1');
    b.emit('broadcast', 'x2');
    await connected(a, 8000);
    assert.equal(a.recovered, true);
    assert.equal(a.id, id);
    await ack(a, 'echo', 'settle');
    assert.deepEqual(bare(a.got.filter((e) => e[0] !== 'auth')), [['broadcast', 'x1'], ['broadcast', 'x2']]);
  });
});

describe('connection state recovery and socket.io 2.x clients (EIO3)', () => {
  // As Node: the offsets go to every client, v2 ones included (they cannot recover: their
  // CONNECT carries no auth, and the server sends them no pid).
  test('a v2 client gets the offset as an extra last argument, and no pid', async () => {
    const { url, clients } = await start(['--recovery', '--allow-eio3']);
    const v2 = ioV2(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const got = [];
    v2.on('broadcast', (...args) => got.push(args));
    const auth = new Promise((resolve) => v2.once('auth', (...args) => resolve(args)));
    clients.push(v2);
    await withTimeout(new Promise((resolve) => v2.once('connect', resolve)), 5000, 'v2 connect');
    const first = await withTimeout(auth, 3000, 'auth');
    assert.equal(first.length, 2);
    assert.deepEqual(first[0], {});
    assert.equal(typeof first[1], 'string');
    v2.emit('broadcast', 'b');
    await waitFor(() => got.length === 1, 3000, 'broadcast');
    assert.equal(got[0][0], 'b');
    assert.equal(typeof got[0][1], 'string');
    assert.notEqual(got[0][1], first[1]);
  });
});
