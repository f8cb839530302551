// Cluster through Redis (the contract's --redis): broadcast, to-room, to-room-others, binary and
// count across nodes, for two C nodes and for a C node with a Node node (the reference contract
// server on @socket.io/redis-adapter 8.3) in both directions; then the cluster events of
// examples/contract/README.md (serverSideEmit, broadcasts with acks, allRooms, fetchSockets,
// socketsJoin/Leave, disconnectSockets) between C, Python, Lua and Node nodes, messages from
// @socket.io/redis-emitter, the published bytes against the Node capture, and Redis going away.
// Each file run starts its own redis-server on a free port of 127.0.0.1 (no persistence) and stops
// it at the end; skipped when redis-server is not installed. The outage tests start their own, to
// stop and start it again.
//
// The nodes are `examples/contract/run c|python|lua` and the Node reference, whatever SIO_SERVER
// says: this file is about them talking to each other.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { freePort, sleep, startRedis } from './helpers.mjs';
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

// Node A with client a, node B with clients b and b2 (each made by `wrap`), both subscribed: each
// counts the other's sockets. Fills `p` as it goes, so that stopPair(p) also ends a pair that did
// not start whole.
async function startPair(kindA, kindB, wrap = (c) => c, p = { clients: [] }) {
  p.nodeA = await startServer(['--redis', redis.url], { command: COMMANDS[kindA] });
  p.nodeB = await startServer(['--redis', redis.url], { command: COMMANDS[kindB] });
  for (const [k, node] of [['a', p.nodeA], ['b', p.nodeB], ['b2', p.nodeB]]) {
    p[k] = wrap(await connectClient(node.url, KIND));
    p.clients.push(p[k]);
  }
  assert.equal(await countUntil(p.a, 3), 3, `count on A; A stderr: ${p.nodeA.stderr}`);
  assert.equal(await countUntil(p.b, 3), 3, `count on B; B stderr: ${p.nodeB.stderr}`);
  return p;
}

async function stopPair(p) {
  const nodes = [p.nodeA, p.nodeB].filter(Boolean);
  for (const c of p.clients) await closeManager(c.manager);
  for (const n of nodes) await n.stop();
  // SIGTERM ends every node cleanly: open Redis connections do not keep a C node's loop alive.
  for (const n of nodes) assert.deepEqual(n.exitStatus, { code: 0, signal: null });
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

    const pair = { clients: [] };
    before(async () => { ({ nodeA, nodeB, a, b, b2 } = await startPair(kindA, kindB, undefined, pair)); });
    after(() => stopPair(pair));

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

// The rest of the cluster (examples/contract/README.md, "Cluster events"): serverSideEmit with and
// without acks, broadcasts with acks, allRooms, socketsJoin/Leave and disconnectSockets across
// nodes, each way between sio and Node nodes.
const PAIRS2 = [['c', 'c'], ['c', 'node'], ['node', 'c'], ['python', 'c'], ['c', 'lua'], ['python', 'node'],
  ['node', 'lua'], ['lua', 'python']];
for (const [kindA, kindB] of PAIRS2) {
  describe(`cluster requests: ${kindA} node A + ${kindB} node B`, { skip: SKIP }, () => {
    let nodeA, nodeB;
    let a, b, b2; // a on A; b and b2 on B

    const record = (c) => {
      c.socket.on('server-event', (...args) => c.queue('server-event').push(args));
      // answers a broadcast with acks with its id (the first argument only counts)
      c.socket.on('ack-me', (...args) => { const ack = args.pop(); ack(c.id, 'ignored'); });
      return c;
    };

    const pair = { clients: [] };
    before(async () => { ({ nodeA, nodeB, a, b, b2 } = await startPair(kindA, kindB, record, pair)); });
    after(() => stopPair(pair));

    test('allRooms: every room of both nodes, sockets\' own ids included', async () => {
      await a.ack('join', 'room-a');
      await b.ack('join', 'room-b');
      await b2.ack('join', 'room-b');
      const all = [a.id, b.id, b2.id, 'room-a', 'room-b'].sort();
      assert.deepEqual(await a.ack('all-rooms'), [all]);
      assert.deepEqual(await b.ack('all-rooms'), [all]);
      await a.ack('leave', 'room-a');
      await b.ack('leave', 'room-b');
      await b2.ack('leave', 'room-b');
      assert.deepEqual(await b.ack('all-rooms'), [[a.id, b.id, b2.id].sort()]);
    });

    test('fetchSockets: every socket of both nodes, with its rooms and handshake', async () => {
      await b2.ack('join', 'fs-room');
      const [got] = await a.ack('fetch-sockets');
      const want = [a, b, b2].map((c) => ({ id: c.id, rooms: (c === b2 ? [c.id, 'fs-room'] : [c.id]).sort(),
        address: '127.0.0.1', auth: {} })).sort((x, y) => (x.id < y.id ? -1 : 1));
      assert.deepEqual(got, want);
      assert.deepEqual(await b.ack('fetch-sockets'), [want]);
      await b2.ack('leave', 'fs-room');
    });

    test('serverSideEmit with an ack: the other node answers, not this one', async () => {
      const [resA] = await a.ack('server-emit', 'hi', { n: 1, s: 'é😀' }, [true, null]);
      assert.deepEqual(resA, { ok: true, responses: [{ port: nodeB.port, args: ['hi', { n: 1, s: 'é😀' }, [true, null]] }] });
      for (const c of [b, b2]) assert.deepEqual(await c.next('server-event'), ['hi', { n: 1, s: 'é😀' }, [true, null]]);
      await assertNoEvent(a, 'server-event', 200);
      const [resB] = await b.ack('server-emit', 2.5);
      assert.deepEqual(resB, { ok: true, responses: [{ port: nodeA.port, args: [2.5] }] });
      assert.deepEqual(await a.next('server-event'), [2.5]);
      await assertNoEvent(b, 'server-event', 200);
    });

    test('serverSideEmit without an ack reaches the other node', async () => {
      a.emit('server-emit-noack', 'fire', 1);
      for (const c of [b, b2]) assert.deepEqual(await c.next('server-event'), ['fire', 1]);
      b.emit('server-emit-noack', 'and forget');
      assert.deepEqual(await a.next('server-event'), ['and forget']);
      await assertNoEvent(b, 'server-event', 200);
    });

    test('a broadcast with acks collects every socket\'s answer from both nodes', async () => {
      const ids = [a.id, b.id, b2.id].sort();
      assert.deepEqual(await a.ack('broadcast-ack', 'q', 1), [{ ok: true, responses: ids }]);
      assert.deepEqual(await b.ack('broadcast-ack', 'q', 2), [{ ok: true, responses: ids }]);
    });

    test('a broadcast with acks times out when a socket on the other node does not answer', async () => {
      b2.socket.off('ack-me');
      b2.socket.on('ack-me', () => { /* never answers */ });
      try {
        const t0 = Date.now();
        const [res] = await a.ack('broadcast-ack', 'slow');
        assert.deepEqual(res, { ok: false, error: 'timeout', responses: [a.id, b.id].sort() });
        assert.ok(Date.now() - t0 >= 900, 'waited for the timeout');
      } finally {
        b2.socket.off('ack-me');
        b2.socket.on('ack-me', (...args) => args.pop()(b2.id));
      }
    });

    test('socketsJoin and socketsLeave reach sockets on the other node', async () => {
      assert.deepEqual(await a.ack('sockets-join', b.id, 'pulled'), [true]);
      let rooms;
      for (let i = 0; i < 50; i++) {
        [rooms] = await b.ack('leave', 'not-a-member');
        if (rooms.includes('pulled')) break;
        await sleep(20);
      }
      assert.deepEqual(rooms, [b.id, 'pulled'].sort());
      a.emit('to-room', 'pulled', 'in');
      assert.deepEqual(await b.next('room-message'), ['pulled', 'in']);
      await assertNoEvent(b2, 'room-message', 100);
      // a whole room, on every node: the sender's own node included
      await a.ack('join', 'everyone');
      await b2.ack('join', 'everyone');
      assert.deepEqual(await b.ack('sockets-join', 'everyone', 'club'), [true]);
      for (let i = 0; i < 50; i++) {
        const [ra] = await a.ack('leave', 'x');
        const [rb2] = await b2.ack('leave', 'x');
        if (ra.includes('club') && rb2.includes('club')) break;
        await sleep(20);
      }
      assert.ok((await a.ack('leave', 'x'))[0].includes('club'));
      assert.ok((await b2.ack('leave', 'x'))[0].includes('club'));
      assert.ok(!(await b.ack('leave', 'x'))[0].includes('club'));
      assert.deepEqual(await b.ack('sockets-leave', b.id, 'pulled'), [true]);
      assert.deepEqual(await a.ack('sockets-leave', 'club', 'everyone'), [true]);
      for (let i = 0; i < 50; i++) {
        const [rb] = await b.ack('leave', 'x');
        const [rb2] = await b2.ack('leave', 'x');
        if (!rb.includes('pulled') && !rb2.includes('everyone')) break;
        await sleep(20);
      }
      assert.deepEqual((await b.ack('leave', 'x'))[0], [b.id]);
      assert.deepEqual((await b2.ack('leave', 'x'))[0], [b2.id, 'club'].sort());
      assert.deepEqual((await a.ack('leave', 'x'))[0], [a.id, 'club'].sort());
    });

    test('disconnectSockets reaches a socket on the other node', async () => {
      assert.deepEqual(await a.ack('disconnect-sockets', b2.id), [true]);
      assert.equal(await b2.disconnects.next(3000), 'io server disconnect');
      assert.deepEqual(b.disconnects.items, []);
      assert.deepEqual(a.disconnects.items, []);
      assert.equal(await countUntil(a, 2), 2);
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
    await sub.subscribe('socket.io-response#/#', (msg) => {
      try { responses.push(JSON.parse(msg)); } catch { /* the malformed ones a test publishes itself */ }
    });
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

  test('malformed messages are ignored: a msgpack bomb costs nothing, the node goes on', async () => {
    // array32 / map32 claiming 2^32 - 1 elements in 5 bytes, truncated msgpack, bad JSON
    const bombs = [[0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0x93, 0xa6, 0x41], [0xc1]]
      .map((b) => Buffer.from(b));
    for (const chan of ['socket.io#/#', 'socket.io-request#/#', 'socket.io-response#/#']) {
      for (const b of bombs) await pub.publish(chan, b);
      await pub.publish(chan, '{"type":5,');
    }
    client.emit('broadcast', 'still here');
    assert.deepEqual(await client.next('broadcast'), ['still here']);
    assert.equal(node.exitStatus, null);
    published.splice(0);
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

// @socket.io/redis-emitter 5.1 (uid "emitter", requests without uid) talking to a sio node.
for (const kind of ['c', 'node']) {
  describe(`cluster: @socket.io/redis-emitter to a ${kind} node`, { skip: SKIP }, () => {
    let node, pubClient, emitter, c1, c2;

    before(async () => {
      const { createClient } = await import('redis');
      const { Emitter } = await import('@socket.io/redis-emitter');
      pubClient = createClient({ url: redis.url });
      await pubClient.connect();
      emitter = new Emitter(pubClient);
      node = await startServer(['--redis', redis.url], { command: COMMANDS[kind] });
      c1 = await connectClient(node.url, KIND);
      c2 = await connectClient(node.url, KIND);
      c1.socket.on('server-event', (...args) => c1.queue('server-event').push(args));
      for (let i = 0; i < 100; i++) {
        const [, n] = await pubClient.sendCommand(['PUBSUB', 'NUMSUB', 'socket.io-request#/#']);
        if (n >= 1) break;
        await sleep(50);
      }
      await sleep(100); // the broadcast pattern is subscribed right after the request channel
    });

    after(async () => {
      for (const c of [c1, c2]) if (c) await closeManager(c.manager);
      if (node) await node.stop();
      if (pubClient) await pubClient.quit().catch(() => {});
      if (node) assert.deepEqual(node.exitStatus, { code: 0, signal: null });
    });

    test('emit, to a room, binary: delivered to the node\'s sockets', async () => {
      const bin = randomBuffer(1000);
      emitter.emit('broadcast', 'from emitter', { n: 1 }, bin);
      for (const c of [c1, c2]) assertSameData(await c.next('broadcast'), ['from emitter', { n: 1 }, bin]);
      await c1.ack('join', 'e-room');
      emitter.to('e-room').emit('room-message', 'e-room', 'only c1');
      assert.deepEqual(await c1.next('room-message'), ['e-room', 'only c1']);
      await assertNoEvent(c2, 'room-message', 200);
      emitter.except('e-room').emit('broadcast', 'not c1');
      assert.deepEqual(await c2.next('broadcast'), ['not c1']);
      await assertNoEvent(c1, 'broadcast', 200);
    });

    test('serverSideEmit, socketsJoin, socketsLeave and disconnectSockets apply', async () => {
      emitter.serverSideEmit('server-event', 'from the emitter', 7);
      assert.deepEqual(await c1.next('server-event'), ['from the emitter', 7]);
      emitter.in(c2.id).socketsJoin(['e1', 'e2']);
      let rooms;
      for (let i = 0; i < 50; i++) {
        [rooms] = await c2.ack('leave', 'x');
        if (rooms.length === 3) break;
        await sleep(20);
      }
      assert.deepEqual(rooms, [c2.id, 'e1', 'e2'].sort());
      emitter.in('e1').socketsLeave('e2');
      for (let i = 0; i < 50; i++) {
        [rooms] = await c2.ack('leave', 'x');
        if (rooms.length === 2) break;
        await sleep(20);
      }
      assert.deepEqual(rooms, [c2.id, 'e1'].sort());
      emitter.in('e1').disconnectSockets();
      assert.equal(await c2.disconnects.next(3000), 'io server disconnect');
      assert.deepEqual(c1.disconnects.items, []);
    });
  });
}

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
