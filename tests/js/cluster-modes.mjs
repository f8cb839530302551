// The mixed-cluster suites of the two new Redis engines (`--redis-mode sharded|streams`), shared by
// cluster-sharded.test.mjs and cluster-streams.test.mjs: node pairs of every kind (the C, Python and
// Lua contract servers, and the Node reference on createShardedAdapter / the streams adapter) through
// a private redis-server, the contract's cluster events both ways, recovery across nodes through a TCP
// proxy that moves a client from node A to node B (streams), and a Redis restart under a broadcast
// stream (streams). The node commands are fixed here, whatever SIO_SERVER says.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { startServer } from './server.mjs';
import { freePort, sleep, startRedis } from './helpers.mjs';
import { assertNoEvent, assertSameData, closeManager, connectClient, randomBuffer } from './sio-helpers.mjs';

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
export const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (apt install redis-server)';

export const COMMANDS = {
  c: 'examples/contract/run c',
  node: 'node tests/js/reference/contract-server.mjs',
  python: 'examples/contract/run python',
  lua: 'examples/contract/run lua',
};
const KIND = { version: 4, transports: ['websocket'] };

// Asks `client` for `count` until it says `want` (nodes subscribe after their listening line).
export async function countUntil(client, want, ms = 8000) {
  const deadline = Date.now() + ms;
  let got;
  for (;;) {
    [got] = await client.ack('count');
    if (got === want || Date.now() > deadline) return got;
    await sleep(100);
  }
}

// Sharded, dynamic mode: a node subscribes a room's channel (KEY#NSP#ROOM#) asynchronously after
// the join, as Node's does; a publish before that is not heard. Waits until `n` nodes listen.
async function shardSubscribers(redisUrl, room, n, ms = 5000) {
  const c = createClient({ url: redisUrl });
  await c.connect();
  try {
    const deadline = Date.now() + ms;
    for (;;) {
      const [, count] = await c.sendCommand(['PUBSUB', 'SHARDNUMSUB', `socket.io#/#${room}#`]);
      if (Number(count) >= n || Date.now() > deadline) return Number(count);
      await sleep(20);
    }
  } finally {
    await c.quit();
  }
}

// Records the contract's cluster events on a client: server-event, and answers ack-me with its id.
function record(c) {
  c.socket.on('server-event', (...args) => c.queue('server-event').push(args));
  c.socket.on('ack-me', (...args) => { const ack = args.pop(); ack(c.id, 'ignored'); });
  return c;
}

// Node A (client a) and node B (clients b, b2) in `mode`, each counting the other's sockets. Fills
// `p` as it goes, so that stopPair(p) ends a pair that did not start whole.
async function startPair(redisUrl, mode, kindA, kindB, p, extra = []) {
  const flags = ['--redis', redisUrl, '--redis-mode', mode, ...extra];
  p.nodeA = await startServer(flags, { command: COMMANDS[kindA] });
  p.nodeB = await startServer(flags, { command: COMMANDS[kindB] });
  for (const [k, node] of [['a', p.nodeA], ['b', p.nodeB], ['b2', p.nodeB]]) {
    p[k] = record(await connectClient(node.url, KIND));
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
  for (const n of nodes) assert.deepEqual(n.exitStatus, { code: 0, signal: null }, `stderr: ${n.stderr}`);
}

// One private redis-server for a whole test file.
export function useRedis() {
  const r = {};
  if (HAVE_REDIS) {
    before(async () => { r.server = await startRedis(); r.url = r.server.url; });
    after(async () => { if (r.server) await r.server.stop(); });
  }
  return r;
}

// The contract's events across a pair: `full` false keeps broadcast (every node kind must pass it).
export function pairSuite(redis, mode, kindA, kindB, { full = true } = {}) {
  describe(`${mode}: ${kindA} node A + ${kindB} node B`, { skip: SKIP }, () => {
    const p = { clients: [] };
    before(() => startPair(redis.url, mode, kindA, kindB, p));
    after(() => stopPair(p));

    test('broadcast from either node reaches every socket of both', async () => {
      const args = ['hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7];
      p.a.emit('broadcast', ...args);
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual(await c.next('broadcast'), args);
      p.b.emit('broadcast', 'from B', 70000, -129, 2 ** 40, 0.25);
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual(await c.next('broadcast'), ['from B', 70000, -129, 2 ** 40, 0.25]);
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual(c.pending('broadcast'), []);
    });
    if (!full) return;

    test('count (fetchSockets) on either node is the cluster\'s number of sockets', async () => {
      assert.deepEqual(await p.a.ack('count'), [3]);
      assert.deepEqual(await p.b.ack('count'), [3]);
      const extra = await connectClient(p.nodeA.url, KIND);
      try {
        assert.deepEqual(await p.b.ack('count'), [4]);
      } finally {
        await closeManager(extra.manager);
      }
      assert.equal(await countUntil(p.b, 3), 3);
    });

    test('binary arguments cross nodes byte-exact, at any depth', async () => {
      const big = randomBuffer(4096);
      const args = ['bin', big, { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] }, Buffer.alloc(0)];
      p.a.emit('broadcast', ...args);
      for (const c of [p.a, p.b, p.b2]) assertSameData(await c.next('broadcast'), args);
      const back = randomBuffer(70000);
      p.b.emit('broadcast', back);
      for (const c of [p.a, p.b, p.b2]) assertSameData(await c.next('broadcast'), [back]);
    });

    test('to-room reaches members on the other node only; to-room-others excludes the sender', async () => {
      p.a.emit('to-room', 'room-x', 'before');
      await assertNoEvent(p.b, 'room-message', 300);
      assert.deepEqual((await p.b.ack('join', 'room-x'))[0], [p.b.id, 'room-x'].sort());
      const listening = async (room, n) => {
        if (mode === 'sharded') assert.equal(await shardSubscribers(redis.url, room, n), n, `nodes on ${room}'s channel`);
      };
      await listening('room-x', 1);
      p.a.emit('to-room', 'room-x', 'x', 1);
      assert.deepEqual(await p.b.next('room-message'), ['room-x', 'x', 1]);
      await assertNoEvent(p.a, 'room-message', 200);
      await assertNoEvent(p.b2, 'room-message', 0);
      await p.b.ack('leave', 'room-x');
      await p.a.ack('join', 'others');
      await p.b2.ack('join', 'others');
      await listening('others', 2);
      p.a.emit('to-room-others', 'others', 'from a');
      assert.deepEqual(await p.b2.next('room-message'), ['others', 'from a']);
      await assertNoEvent(p.a, 'room-message', 200);
      p.b2.emit('to-room-others', 'others', 'from b2', Buffer.from('xyz'));
      assertSameData(await p.a.next('room-message'), ['others', 'from b2', Buffer.from('xyz')]);
      await assertNoEvent(p.b2, 'room-message', 200);
      await assertNoEvent(p.b, 'room-message', 0);
      await p.a.ack('leave', 'others');
      await p.b2.ack('leave', 'others');
    });

    test('fetchSockets: every socket of both nodes, with rooms and handshake', async () => {
      await p.b2.ack('join', 'fs-room');
      const want = [p.a, p.b, p.b2].map((c) => ({ id: c.id, rooms: (c === p.b2 ? [c.id, 'fs-room'] : [c.id]).sort(),
        address: '127.0.0.1', auth: {} })).sort((x, y) => (x.id < y.id ? -1 : 1));
      assert.deepEqual(await p.a.ack('fetch-sockets'), [want]);
      assert.deepEqual(await p.b.ack('fetch-sockets'), [want]);
      await p.b2.ack('leave', 'fs-room');
    });

    test('serverSideEmit with answers, and without', async () => {
      const [resA] = await p.a.ack('server-emit', 'hi', { n: 1, s: 'é😀' }, [true, null]);
      assert.deepEqual(resA, { ok: true, responses: [{ port: p.nodeB.port, args: ['hi', { n: 1, s: 'é😀' }, [true, null]] }] });
      for (const c of [p.b, p.b2]) assert.deepEqual(await c.next('server-event'), ['hi', { n: 1, s: 'é😀' }, [true, null]]);
      await assertNoEvent(p.a, 'server-event', 200);
      const [resB] = await p.b.ack('server-emit', 2.5);
      assert.deepEqual(resB, { ok: true, responses: [{ port: p.nodeA.port, args: [2.5] }] });
      assert.deepEqual(await p.a.next('server-event'), [2.5]);
      p.b.emit('server-emit-noack', 'and forget');
      assert.deepEqual(await p.a.next('server-event'), ['and forget']);
      await assertNoEvent(p.b, 'server-event', 200);
    });

    test('a broadcast with acks collects every socket\'s answer from both nodes', async () => {
      const ids = [p.a.id, p.b.id, p.b2.id].sort();
      assert.deepEqual(await p.a.ack('broadcast-ack', 'q', 1), [{ ok: true, responses: ids }]);
      assert.deepEqual(await p.b.ack('broadcast-ack', 'q', 2), [{ ok: true, responses: ids }]);
    });
  });
}

// A TCP proxy to 127.0.0.1:`target`, whose target can change: cut() drops every connection (the
// server sees the transport close), and while `refuse` is set new connections are closed at once.
export function startProxy(target) {
  const conns = new Set();
  const proxy = { target, refuse: false };
  const server = net.createServer((client) => {
    if (proxy.refuse) { client.destroy(); return; }
    const upstream = net.connect(proxy.target, '127.0.0.1');
    const pair = { client, upstream };
    conns.add(pair);
    const drop = () => { conns.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => client.write(d));
    for (const s of [client, upstream]) { s.on('close', drop); s.on('error', drop); }
  });
  proxy.cut = () => { for (const c of [...conns]) { c.client.destroy(); c.upstream.destroy(); } };
  proxy.close = () => new Promise((resolve) => { proxy.cut(); server.close(resolve); });
  proxy.ready = new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    proxy.port = server.address().port;
    resolve(proxy);
  }));
  return proxy;
}

// Recovery across nodes (streams): client r on node A through the proxy, in room r-room; cut while
// A's and B's clients make three events it must get (a broadcast from B, a to-room from A, a
// broadcast from A); the proxy then leads to node B. r comes back recovered, with the same id and
// rooms, and each missed event exactly once, in order, its offset (a stream entry id) last.
export function recoverySuite(redis, kindA, kindB) {
  describe(`streams recovery: a client cut from a ${kindA} node reconnects to a ${kindB} node`, { skip: SKIP }, () => {
    const p = { clients: [] };
    let proxy;
    before(() => startPair(redis.url, 'streams', kindA, kindB, p, ['--recovery', '60000']));
    after(async () => { if (proxy) await proxy.close(); await stopPair(p); });

    test('recovered: same id, same rooms, every missed event once, in order, then live events', async () => {
      proxy = await startProxy(p.nodeA.port).ready;
      const r = await connectClient(`http://127.0.0.1:${proxy.port}`, KIND,
        { managerOpts: { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 } });
      p.clients.push(r);
      const seen = [];
      r.socket.onAny((ev, ...args) => { if (ev !== 'auth') seen.push([ev, ...args]); });
      assert.deepEqual((await r.ack('join', 'r-room'))[0], [r.id, 'r-room'].sort());
      await p.b.ack('join', 'r-room');
      p.a.emit('broadcast', 'before');
      for (const c of [p.a, p.b, p.b2]) await c.next('broadcast');
      for (let i = 0; i < 50 && seen.length < 1; i++) await sleep(20);
      assert.equal(seen.length, 1, 'the live broadcast before the cut');
      assert.equal(seen[0][1], 'before');
      assert.match(seen[0][2], /^[0-9]+-[0-9]+$/, 'an offset: a stream entry id');
      const id = r.id;
      const reconnected = new Promise((resolve) => r.socket.once('connect', resolve));
      proxy.refuse = true;
      proxy.target = p.nodeB.port;
      proxy.cut();
      await sleep(300); // A sees the transport close and persists the session
      p.b.emit('broadcast', 'missed-1');
      // (with recovery on, every client gets the offset as a last argument: dropped here)
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual((await c.next('broadcast')).slice(0, -1), ['missed-1']);
      p.a.emit('to-room', 'r-room', 'missed-2', Buffer.from([1, 2, 3]));
      assertSameData((await p.b.next('room-message')).slice(0, -1), ['r-room', 'missed-2', Buffer.from([1, 2, 3])]);
      p.a.emit('broadcast', 'missed-3');
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual((await c.next('broadcast')).slice(0, -1), ['missed-3']);
      proxy.refuse = false;
      await reconnected;
      assert.equal(r.socket.recovered, true, `recovered; B stderr: ${p.nodeB.stderr}`);
      assert.equal(r.id, id);
      for (let i = 0; i < 100 && seen.length < 4; i++) await sleep(20);
      await sleep(200); // nothing more may come
      const missed = seen.slice(1);
      assertSameData(missed.map((e) => e.slice(0, -1)), [['broadcast', 'missed-1'],
        ['room-message', 'r-room', 'missed-2', Buffer.from([1, 2, 3])], ['broadcast', 'missed-3']], 'missed events');
      const offsets = missed.map((e) => e[e.length - 1]);
      for (const o of offsets) assert.match(o, /^[0-9]+-[0-9]+$/);
      assert.deepEqual([...offsets].sort(cmpId), offsets, 'in stream order');
      assert.equal(new Set(offsets).size, 3, 'each once');
      // same rooms, now on B: a to-room from A reaches it live
      assert.deepEqual((await r.ack('join', 'probe'))[0], [r.id, 'probe', 'r-room'].sort());
      p.a.emit('to-room', 'r-room', 'live');
      assert.deepEqual((await p.b.next('room-message')).slice(0, -1), ['r-room', 'live']);
      for (let i = 0; i < 100 && seen.length < 5; i++) await sleep(20);
      assert.deepEqual(seen.slice(4).map((e) => e.slice(0, 2)), [['room-message', 'r-room']]);
      assert.deepEqual(seen.slice(4)[0].slice(2, 3), ['live']);
    });
  });
}

function cmpId(x, y) {
  const [xm, xs] = x.split('-').map(BigInt);
  const [ym, ys] = y.split('-').map(BigInt);
  return xm === ym ? (xs < ys ? -1 : xs > ys ? 1 : 0) : (xm < ym ? -1 : 1);
}

// Persistence on (AOF fsync'd on every write) in `dir`: a redis-server stopped and started again
// there keeps what it had (later arguments override startRedis' --appendonly no).
const persist = (dir) => ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];

// Redis stopped and started again (persistence on, same port) while node A's client broadcasts a
// numbered stream: A's own client gets every tick (local delivery goes on), and B's client gets
// exactly the ticks that Redis kept in the stream (read back after the restart), once each and in
// order: nothing published while Redis was up is lost.
export function restartSuite(kindA, kindB) {
  describe(`streams: Redis restarted under a broadcast stream, ${kindA} node A + ${kindB} node B`, { skip: SKIP }, () => {
    let dir, redis;
    const p = { clients: [] };
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-redis-'));
      redis = await startRedis(undefined, persist(dir));
      await startPair(redis.url, 'streams', kindA, kindB, p);
    });
    after(async () => {
      await stopPair(p);
      if (redis) await redis.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('no event Redis kept is lost, none is doubled, local delivery goes on', async () => {
      const N = 120;
      const got = { a: [], b: [] };
      p.a.socket.on('broadcast', (tag, n) => { if (tag === 'tick') got.a.push(n); });
      p.b.socket.on('broadcast', (tag, n) => { if (tag === 'tick') got.b.push(n); });
      for (let n = 0; n < N; n++) {
        if (n === 40) await redis.stop();
        if (n === 70) {
          redis = await startRedis(redis.port, persist(dir));
          // both nodes linked again (a count is cluster-wide only then) before the last ticks
          assert.equal(await countUntil(p.a, 3, 15000), 3, `A stderr: ${p.nodeA.stderr}`);
          assert.equal(await countUntil(p.b, 3, 15000), 3, `B stderr: ${p.nodeB.stderr}`);
        }
        p.a.emit('broadcast', 'tick', n);
        await sleep(15);
      }
      // every tick reaches A's own client, Redis or not
      for (let i = 0; i < 200 && got.a.length < N; i++) await sleep(25);
      assert.deepEqual(got.a, [...Array(N).keys()]);
      // what the stream holds after the restart: the ticks B must have had
      const reader = createClient({ url: redis.url });
      await reader.connect();
      let kept;
      try {
        const entries = await reader.xRange('socket.io', '-', '+');
        kept = entries.map((e) => JSON.parse(e.message.data)).filter((d) => d.packet && d.packet.data[0] === 'broadcast' &&
          d.packet.data[1] === 'tick').map((d) => d.packet.data[2]);
      } finally {
        await reader.quit();
      }
      assert.ok(kept.includes(0) && kept.includes(N - 1), `the stream holds ticks from both sides of the outage: ${kept}`);
      for (let i = 0; i < 200 && got.b.length < kept.length; i++) await sleep(25);
      await sleep(300);
      assert.deepEqual(got.b, kept, 'B: every tick in the stream, once, in order');
      // and the cluster works as before
      const after = new Promise((resolve) => p.a.socket.on('broadcast', (tag) => { if (tag === 'after') resolve(); }));
      p.b.emit('broadcast', 'after');
      await after;
    });
  });
}

// The published bytes of a sio node against the capture between two Node nodes
// (redis-wire-vectors.json): `check(vectors, node, client)`.
export function loadVectors() {
  return JSON.parse(fs.readFileSync(new URL('./redis-wire-vectors.json', import.meta.url), 'utf8'));
}
export { KIND, freePort };
