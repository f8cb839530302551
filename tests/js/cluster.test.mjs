// Cluster through Redis (the contract's --redis): broadcast, to-room, to-room-others, binary and
// count across nodes, for two C nodes and for a C node with a Node node (the reference contract
// server on @socket.io/redis-adapter 8.3) in both directions. Each file run starts its own
// redis-server on a free port of 127.0.0.1 (no persistence) and stops it at the end; skipped when
// redis-server is not installed. The outage tests start their own, to stop and start it again.
//
// The C node is always `examples/contract/run c` and the Node node the reference, whatever
// SIO_SERVER says: this file is about the two talking to each other. The Python and Lua contract
// servers (sio.Server(redis=...), siod --redis) are nodes too, paired with a C node (and with a
// Node node).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { startServer } from './server.mjs';
import { sleep, withTimeout } from './helpers.mjs';
import { assertNoEvent, assertSameData, closeManager, connectClient, randomBuffer } from './sio-helpers.mjs';

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (apt install redis-server)';

const COMMANDS = {
  c: 'examples/contract/run c',
  node: 'node tests/js/reference/contract-server.mjs',
  python: 'examples/contract/run python',
  lua: 'examples/contract/run lua',
};
const KIND = { version: 4, transports: ['websocket'] };

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// redis-server on `port` (default: a free one); resolves {url, port, stop()} once it accepts
// connections.
async function startRedis(port) {
  port = port || await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no',
    '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  await withTimeout(new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  }), 10000, 'redis-server start');
  child.stdout.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'redis-server exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

// Asks `client` for `count` until it says `want` (the nodes subscribe asynchronously after they
// print their listening line); returns the last answer.
async function countUntil(client, want, ms = 8000) {
  const deadline = Date.now() + ms;
  let got;
  for (;;) {
    [got] = await client.ack('count');
    if (got === want || Date.now() > deadline) return got;
    await sleep(100);
  }
}

let redis;
if (HAVE_REDIS) {
  before(async () => { redis = await startRedis(); });
  after(async () => { if (redis) await redis.stop(); });
}

const PAIRS = [['c', 'c'], ['c', 'node'], ['node', 'c'], ['c', 'python'], ['python', 'c'], ['c', 'lua'],
  ['lua', 'c'], ['lua', 'node'], ['python', 'node']];
for (const [kindA, kindB] of PAIRS) {
  describe(`cluster: ${kindA} node A + ${kindB} node B through Redis`, { skip: SKIP }, () => {
    let nodeA, nodeB;
    let a, b, b2; // a on A; b and b2 on B
    const clients = [];

    before(async () => {
      nodeA = await startServer(['--redis', redis.url], { command: COMMANDS[kindA] });
      nodeB = await startServer(['--redis', redis.url], { command: COMMANDS[kindB] });
      a = await connectClient(nodeA.url, KIND);
      b = await connectClient(nodeB.url, KIND);
      b2 = await connectClient(nodeB.url, KIND);
      clients.push(a, b, b2);
      // Both nodes subscribed (each counts the other's sockets).
      assert.equal(await countUntil(a, 3), 3, `count on A; A stderr: ${nodeA.stderr}`);
      assert.equal(await countUntil(b, 3), 3, `count on B; B stderr: ${nodeB.stderr}`);
    });

    after(async () => {
      for (const c of clients) await closeManager(c.manager);
      if (nodeA) await nodeA.stop();
      if (nodeB) await nodeB.stop();
      // SIGTERM ends every node cleanly: open Redis connections do not keep a C node's loop alive.
      for (const n of [nodeA, nodeB]) if (n) assert.deepEqual(n.exitStatus, { code: 0, signal: null });
    });

    test('count on either node is the number of sockets in the cluster', async () => {
      assert.deepEqual(await a.ack('count'), [3]);
      assert.deepEqual(await b.ack('count'), [3]);
      const extra = await connectClient(nodeA.url, KIND);
      try {
        assert.deepEqual(await b.ack('count'), [4]);
        assert.deepEqual(await extra.ack('count'), [4]);
      } finally {
        await closeManager(extra.manager);
      }
      assert.equal(await countUntil(b, 3), 3);
    });

    test('broadcast from either node reaches every socket of both', async () => {
      const args = ['hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7];
      a.emit('broadcast', ...args);
      for (const c of [a, b, b2]) assert.deepEqual(await c.next('broadcast'), args);
      b.emit('broadcast', 'from B', 70000, -129, 2 ** 40, 0.25);
      for (const c of [a, b, b2]) assert.deepEqual(await c.next('broadcast'), ['from B', 70000, -129, 2 ** 40, 0.25]);
      for (const c of [a, b, b2]) assert.deepEqual(c.pending('broadcast'), []);
    });

    test('binary arguments cross nodes byte-exact, at any depth', async () => {
      const big = randomBuffer(4096);
      const args = ['bin', big, { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] }, Buffer.alloc(0)];
      a.emit('broadcast', ...args);
      for (const c of [a, b, b2]) assertSameData(await c.next('broadcast'), args);
      const back = randomBuffer(70000);
      b.emit('broadcast', back);
      for (const c of [a, b, b2]) assertSameData(await c.next('broadcast'), [back]);
    });

    test('to-room from A reaches a member on B only once it joined', async () => {
      a.emit('to-room', 'room-x', 'before');
      await assertNoEvent(b, 'room-message', 300);
      const rooms = (await b.ack('join', 'room-x'))[0];
      assert.deepEqual(rooms, [b.id, 'room-x'].sort());
      a.emit('to-room', 'room-x', 'x', 1);
      assert.deepEqual(await b.next('room-message'), ['room-x', 'x', 1]);
      await assertNoEvent(a, 'room-message', 200);
      await assertNoEvent(b2, 'room-message', 0);
      await b.ack('leave', 'room-x');
      a.emit('to-room', 'room-x', 'after');
      await assertNoEvent(b, 'room-message', 300);
    });

    test('to-room-others excludes the sender, on both nodes', async () => {
      await a.ack('join', 'others');
      await b.ack('join', 'others');
      await b2.ack('join', 'others');
      a.emit('to-room-others', 'others', 'from a');
      assert.deepEqual(await b.next('room-message'), ['others', 'from a']);
      assert.deepEqual(await b2.next('room-message'), ['others', 'from a']);
      await assertNoEvent(a, 'room-message', 200);
      b.emit('to-room-others', 'others', 'from b', Buffer.from('xyz'));
      assertSameData(await a.next('room-message'), ['others', 'from b', Buffer.from('xyz')]);
      assertSameData(await b2.next('room-message'), ['others', 'from b', Buffer.from('xyz')]);
      await assertNoEvent(b, 'room-message', 200);
      // to-room with the sender in the room reaches it too
      b.emit('to-room', 'others', 'all');
      for (const c of [a, b, b2]) assert.deepEqual(await c.next('room-message'), ['others', 'all']);
    });
  });
}

for (const kind of ['c', 'python', 'lua']) {
  describe(`cluster: a ${kind} node whose Redis is unreachable`, { skip: SKIP }, () => {
    test('serves locally, count answers the local number', async () => {
      const port = await freePort(); // nothing listens there
      const node = await startServer(['--redis', `redis://127.0.0.1:${port}`], { command: COMMANDS[kind] });
      let c;
      try {
        c = await connectClient(node.url, KIND);
        c.emit('broadcast', 'alone');
        assert.deepEqual(await c.next('broadcast'), ['alone']);
        assert.deepEqual(await c.ack('count'), [1]);
        for (let i = 0; i < 40 && !/connection failed/.test(node.stderr); i++) await sleep(50);
        assert.match(node.stderr, /sio: redis: .*connection failed: Connection refused/);
      } finally {
        if (c) await closeManager(c.manager);
        await node.stop();
      }
      assert.equal(node.exitStatus.code, 0);
    });
  });
}

// The bytes a C node publishes and how it answers requests, seen by a plain Redis client (npm
// redis 4.7): checked against the capture between two Node nodes (redis-adapter-wire.md).
describe('cluster: the Node adapter wire format, seen from Redis', { skip: SKIP }, () => {
  let node, pub, sub, client;
  const published = [];
  const responses = [];

  before(async () => {
    const { createClient } = await import('redis');
    pub = createClient({ url: redis.url });
    sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    await sub.pSubscribe('socket.io#/#*', (msg, chan) => published.push([chan.toString(), Buffer.from(msg)]), true);
    await sub.subscribe('socket.io-response#/#', (msg) => responses.push(JSON.parse(msg)));
    node = await startServer(['--redis', redis.url], { command: COMMANDS.c });
    client = await connectClient(node.url, KIND, { auth: { token: 'x' }, managerOpts: { query: { q: 'a b' } } });
    // subscribed: the node counts as a server
    for (let i = 0; i < 100; i++) {
      const [, n] = await pub.sendCommand(['PUBSUB', 'NUMSUB', 'socket.io-request#/#']);
      if (n === 1) break;
      await sleep(50);
    }
  });

  after(async () => {
    if (client) await closeManager(client.manager);
    if (node) await node.stop();
    for (const c of [pub, sub]) if (c) await c.quit().catch(() => {});
  });

  const nextPublish = async () => {
    for (let i = 0; i < 100 && published.length === 0; i++) await sleep(20);
    assert.ok(published.length, 'nothing published');
    return published.shift();
  };
  // [uid, ...] -> the 6-character uid and the bytes after it
  const splitUid = (buf) => {
    assert.deepEqual([...buf.subarray(0, 2)], [0x93, 0xa6]);
    return [buf.subarray(2, 8).toString(), buf.subarray(8)];
  };

  test('a broadcast is the capture byte for byte (but the uid)', async () => {
    client.emit('broadcast', 'hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7);
    const [chan, buf] = await nextPublish();
    assert.equal(chan, 'socket.io#/#');
    const [uid, rest] = splitUid(buf);
    assert.match(uid, /^[A-Za-z0-9]{6}$/);
    assert.equal(rest.toString('hex'),
      '83a47479706502a46461746194a962726f616463617374a568656c6c6f83a16e2aa173ab68c3a96c6c6f20f09f9880' +
      'a46c6973749401c0c3cb3ff8000000000000f9a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380');
    await client.next('broadcast');
  });

  test('one room: its channel, rooms and the sender in except', async () => {
    client.emit('to-room-others', 'others', 'x', 1);
    const [chan, buf] = await nextPublish();
    assert.equal(chan, 'socket.io#/#others#');
    const [, rest] = splitUid(buf);
    assert.equal(rest.toString('hex'),
      '83a47479706502a46461746194ac726f6f6d2d6d657373616765a66f7468657273a17801a36e7370a12f' +
      '83a5726f6f6d7391a66f7468657273a665786365707491b4' + Buffer.from(client.id).toString('hex') +
      'a5666c61677380');
  });

  test('binary inline as msgpack bin, type 2', async () => {
    const big = randomBuffer(4096);
    client.emit('broadcast', 'bin', big, { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] });
    const [chan, buf] = await nextPublish();
    assert.equal(chan, 'socket.io#/#');
    assert.equal(buf.length, 4183);
    const [, rest] = splitUid(buf);
    assert.equal(rest.subarray(0, 0x1b).toString('hex'), '83a47479706502a46461746194a962726f616463617374a362696e');
    assert.equal(rest.subarray(0x1b, 0x1e).toString('hex'), 'c51000');
    assert.ok(rest.subarray(0x1e, 0x1e + 4096).equals(big));
    assert.equal(rest.subarray(0x1e + 4096).toString('hex'),
      '81a66e657374656492c404deadbeefa474657874a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380');
    await client.next('broadcast');
  });

  test('numbers and strings of every size as notepack.io (the Node adapter\'s parser) writes them', async () => {
    const { default: notepack } = await import('notepack.io');
    const values = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1,
      -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1,
      0.5, -1.25, 2 ** 60, -(2 ** 60), 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(128), 'y'.repeat(65536),
      '\u0000nul', true, false, null, [], {}, { a: [{ b: {} }] }];
    // (not 2 ** 64 and beyond: notepack.io writes those as a wrong uint64; sio writes float64)
    client.emit('broadcast', ...values);
    const [chan, buf] = await nextPublish();
    assert.equal(chan, 'socket.io#/#');
    const [uid] = splitUid(buf);
    const expected = notepack.encode([uid, { type: 2, data: ['broadcast', ...values], nsp: '/' },
      { rooms: [], except: [], flags: {} }]);
    assert.equal(buf.toString('hex'), Buffer.from(expected).toString('hex'));
    // (the local copy is not compared: the core prints numbers beyond 15 significant digits with
    // cJSON 1.7.15, which rounds 2 ** 53 - 1 to 9007199254740990 — a JSON-path issue of its own)
    await client.next('broadcast');
  });

  test('fetchSockets requests: answered once each, with Node\'s socket shape', async () => {
    await client.ack('join', 'room1');
    const ask = (requestId, rooms) => pub.publish('socket.io-request#/#',
      JSON.stringify({ uid: 'zzzzzz', requestId, type: 5, opts: { rooms, except: [] } }));
    await ask('req001', []);
    await ask('req002', ['nope']);
    for (let i = 0; i < 100 && responses.length < 2; i++) await sleep(20);
    await sleep(100);
    assert.equal(responses.length, 2);
    const [all, none] = responses.splice(0);
    assert.deepEqual(none, { requestId: 'req002', sockets: [] });
    assert.equal(all.requestId, 'req001');
    assert.equal(all.sockets.length, 1);
    const s = all.sockets[0];
    assert.deepEqual(Object.keys(s), ['id', 'handshake', 'rooms', 'data']);
    assert.equal(s.id, client.id);
    assert.deepEqual(s.rooms, [client.id, 'room1']);
    assert.deepEqual(s.data, {});
    assert.deepEqual(Object.keys(s.handshake),
      ['headers', 'time', 'address', 'xdomain', 'secure', 'issued', 'url', 'query', 'auth']);
    assert.equal(s.handshake.address, '127.0.0.1');
    assert.equal(s.handshake.xdomain, false);
    assert.equal(s.handshake.secure, false);
    assert.equal(typeof s.handshake.issued, 'number');
    assert.match(s.handshake.time, /^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT\+0000 \(Coordinated Universal Time\)$/);
    assert.equal(s.handshake.headers.upgrade, 'websocket');
    assert.deepEqual(s.handshake.query, { q: 'a b', EIO: '4', transport: 'websocket' });
    assert.deepEqual(s.handshake.auth, { token: 'x' });
  });

  test('remote socketsJoin, socketsLeave and disconnectSockets apply here', async () => {
    const req = (o) => pub.publish('socket.io-request#/#', JSON.stringify({ uid: 'zzzzzz', ...o }));
    await req({ type: 2, opts: { rooms: [], except: [] }, rooms: ['remote-a', 'remote-b'] });
    await sleep(100);
    assert.deepEqual((await client.ack('join', 'room1'))[0], [client.id, 'remote-a', 'remote-b', 'room1'].sort());
    await req({ type: 3, opts: { rooms: ['remote-a'], except: [] }, rooms: ['remote-b'] });
    await sleep(100);
    assert.deepEqual((await client.ack('join', 'room1'))[0], [client.id, 'remote-a', 'room1'].sort());
    // a request of its own uid would be ignored; a stranger's is applied
    await req({ type: 4, opts: { rooms: ['nobody-here'], except: [] }, close: false });
    await assertNoEvent(client, 'broadcast', 100);
    assert.deepEqual(client.disconnects.items, []);
    await req({ type: 4, opts: { rooms: ['remote-a'], except: [] }, close: false });
    assert.equal(await client.disconnects.next(2000), 'io server disconnect');
  });
});

// Resolves once fn() is truthy, polling every 50 ms; false after ms.
async function waitFor(fn, ms) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

// Both clients in room "traffic", each sending a tick there every 20 ms. got[r][s] holds the seqs
// of sender s that reached receiver r (a sender is in the room too: it hears its own ticks).
function startTraffic(peers) {
  const got = peers.map(() => peers.map(() => []));
  const sent = peers.map(() => 0);
  peers.forEach((p, r) => p.socket.on('room-message', (room, tag, from, seq) => {
    if (room === 'traffic' && tag === 'tick') got[r][from].push(seq);
  }));
  const tick = () => peers.forEach((p, i) => p.emit('to-room', 'traffic', 'tick', i, sent[i]++));
  const timer = setInterval(tick, 20);
  return { got, sent, stop: () => clearInterval(timer) };
}

// Broadcasts probes from `from` until one reaches `to` (true), or ms pass (false). A Node node's
// redis client queues what it publishes while Redis is away and sends it once back, so older
// broadcasts may arrive first: they are skipped.
async function crossesWithin(from, to, ms) {
  const deadline = Date.now() + ms;
  for (let i = 0; Date.now() < deadline; i++) {
    from.emit('broadcast', 'probe', i);
    try {
      for (;;) {
        const [tag, n] = await to.next('broadcast', 250);
        if (tag === 'probe' && n === i) return true;
      }
    } catch { /* not across yet */ }
  }
  return false;
}

const SIO = new Set(['c', 'python', 'lua']);
const LOST = /sio: redis: (publisher|subscriber) connection lost/g;
const RESTORED = /sio: redis: (publisher|subscriber) connection restored/g;
const lines = (node, re) => new Set([...node.stderr.matchAll(re)].map((m) => m[1]));

// Redis stopped and started again on the same port while clients on both nodes talk: each node
// goes on serving its own clients (local broadcasts, acks, every tick a client sends reaches
// itself), a sio node's count fails fast to its local number instead of waiting for nodes it
// cannot reach, and cross-node delivery comes back by itself once Redis does. A Node node's count
// is not asked meanwhile: its redis client queues the request until Redis returns.
for (const [kindA, kindB] of [['c', 'c'], ['c', 'node'], ['lua', 'c']]) {
  const sio = [SIO.has(kindA), SIO.has(kindB)];
  describe(`cluster: Redis stopped and restarted during traffic (${kindA} A + ${kindB} B)`, { skip: SKIP }, () => {
    test('both serve their own clients, cross-node delivery resumes, SIGTERM exits 0', { timeout: 90000 }, async () => {
      let own = await startRedis();
      const nodes = [];
      const cs = [];
      let traffic;
      try {
        nodes.push(await startServer(['--redis', own.url], { command: COMMANDS[kindA] }));
        nodes.push(await startServer(['--redis', own.url], { command: COMMANDS[kindB] }));
        for (const n of nodes) cs.push(await connectClient(n.url, KIND));
        const [a, b] = cs;
        assert.equal(await countUntil(a, 2), 2, `A stderr: ${nodes[0].stderr}`);
        assert.equal(await countUntil(b, 2), 2, `B stderr: ${nodes[1].stderr}`);
        for (const c of cs) await c.ack('join', 'traffic');
        traffic = startTraffic(cs);
        await sleep(200);
        assert.ok(await crossesWithin(a, b, 3000), 'A -> B before the outage');

        await own.stop();
        for (const [i, n] of nodes.entries()) {
          if (!sio[i]) continue;
          assert.ok(await waitFor(() => lines(n, LOST).size === 2, 5000), `no outage logged: ${n.stderr}`);
        }
        await sleep(100);
        for (const c of cs) c.pending('broadcast').length = 0;
        const said = () => `\nA stderr: ${nodes[0].stderr}\nB stderr: ${nodes[1].stderr}`;
        const next = (c) => c.next('broadcast').catch((err) => { throw new Error(`${err.message}${said()}`); });
        // each node serves its own clients alone
        a.emit('broadcast', 'alone', 'a');
        assert.deepEqual(await next(a), ['alone', 'a']);
        await assertNoEvent(b, 'broadcast', 300);
        b.emit('broadcast', 'alone', 'b');
        assert.deepEqual(await next(b), ['alone', 'b']);
        await assertNoEvent(a, 'broadcast', 300);
        for (const c of cs) assert.deepEqual(await c.ack('message-with-ack', 'still', 1), ['still', 1]);
        // a sio node's count: at once, this node's sockets
        for (const [i, c] of cs.entries()) {
          if (!sio[i]) continue;
          const t0 = Date.now();
          assert.deepEqual(await c.ack('count'), [1]);
          assert.ok(Date.now() - t0 < 1000, `count took ${Date.now() - t0} ms during the outage`);
        }
        await sleep(300); // ticks go on meanwhile

        own = await startRedis(own.port);
        assert.ok(await crossesWithin(a, b, 10000), `A -> B after Redis came back; A: ${nodes[0].stderr}\nB: ${nodes[1].stderr}`);
        assert.ok(await crossesWithin(b, a, 10000), 'B -> A after Redis came back');
        for (const [i, n] of nodes.entries()) {
          if (!sio[i]) continue;
          assert.ok(await waitFor(() => lines(n, RESTORED).size === 2, 5000), `recovery not logged: ${n.stderr}`);
          // one line each when the outage began and when it ended, not one per attempt
          assert.equal([...n.stderr.matchAll(LOST)].length, 2, n.stderr);
          assert.equal([...n.stderr.matchAll(RESTORED)].length, 2, n.stderr);
        }
        assert.equal(await countUntil(a, 2), 2);
        assert.equal(await countUntil(b, 2), 2);

        // From here on every tick crosses; and none was lost locally, outage included.
        const mark = [...traffic.sent];
        await sleep(300);
        traffic.stop();
        const { got, sent } = traffic;
        const all = (n, from = 0) => Array.from({ length: n - from }, (_, k) => from + k);
        assert.ok(await waitFor(() => got[0][0].length >= sent[0] && got[1][1].length >= sent[1] &&
          got[1][0].includes(sent[0] - 1) && got[0][1].includes(sent[1] - 1), 5000), 'the last ticks');
        assert.deepEqual(got[0][0], all(sent[0]), 'A\'s own ticks');
        assert.deepEqual(got[1][1], all(sent[1]), 'B\'s own ticks');
        assert.deepEqual(got[1][0].filter((n) => n >= mark[0]), all(sent[0], mark[0]), 'A\'s ticks at B');
        assert.deepEqual(got[0][1].filter((n) => n >= mark[1]), all(sent[1], mark[1]), 'B\'s ticks at A');
      } finally {
        if (traffic) traffic.stop();
        for (const c of cs) await closeManager(c.manager);
        for (const n of nodes) await n.stop();
        await own.stop();
      }
      for (const n of nodes) assert.deepEqual(n.exitStatus, { code: 0, signal: null }, n.stderr);
    });
  });
}
