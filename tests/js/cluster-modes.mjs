// The mixed-cluster suites of the two new Redis engines (`--redis-mode sharded|streams`), shared by
// cluster-sharded.test.mjs and cluster-streams.test.mjs: node pairs of every kind (the C, Python and
// Lua contract servers, and the Node reference on createShardedAdapter / the streams adapter) through
// a private redis-server, the contract's cluster events both ways, recovery across nodes through a TCP
// proxy that moves a client from node A to node B (streams), and a Redis restart under a broadcast
// stream (streams). The node commands are fixed here, whatever SIO_SERVER says.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { decode as msgpackDecode } from '@msgpack/msgpack';
import { startServer } from './server.mjs';
import { freePort, sleep, startRedis } from './helpers.mjs';
import { assertNoEvent, assertSameData, closeManager, connectClient, randomBuffer } from './sio-helpers.mjs';

export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
// The node commands are fixed, so a stage that only changes SIO_SERVER (CI's Python and Lua stages,
// scripts/test.sh) would run the very same thing again: these suites run where SIO_SERVER is unset
// (the release stage, and the ASan stage with its own SIO_BUILD_DIR).
export const SKIP = !HAVE_REDIS ? 'redis-server is not installed (apt install redis-server)'
  : process.env.SIO_SERVER ? 'the nodes are fixed: run once, without SIO_SERVER' : false;

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
    // (a request can go unanswered while a node's links come back after a Redis restart: its
    // ack times out, and the next one is asked)
    try {
      [got] = await client.ack('count');
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
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

// MONITOR's quoted arguments back to bytes (redis-cli's sdscatrepr escapes).
// (redis-cli MONITOR lines: `TIME [DB ADDR] "ARG" ...`)
export function parseMonitorLine(line) {
  const m = /^(\d+\.\d+) \[(\d+) ([^\]]+)\] (.*)$/.exec(line);
  if (!m) return null;
  const args = [];
  const s = m[4];
  let i = 0;
  while (i < s.length) {
    if (s[i] === ' ') { i++; continue; }
    if (s[i] !== '"') return null;
    i++;
    const bytes = [];
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') {
        const c = s[i + 1];
        if (c === 'x') { bytes.push(parseInt(s.slice(i + 2, i + 4), 16)); i += 4; continue; }
        const esc = { n: 10, r: 13, t: 9, a: 7, b: 8, '"': 34, '\\': 92 }[c];
        bytes.push(esc !== undefined ? esc : c.charCodeAt(0));
        i += 2;
        continue;
      }
      bytes.push(...Buffer.from(s[i], 'latin1'));
      i++;
    }
    i++;
    args.push(Buffer.from(bytes));
  }
  return { time: Number(m[1]), db: Number(m[2]), addr: m[3], args };
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
        if (n === 40) {
          // ticks 0..39 were published while Redis was up: B has had them through the stream
          for (let i = 0; i < 200 && !got.b.includes(39); i++) await sleep(25);
          await redis.stop();
        }
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
      // what was published while Redis was up and both nodes linked is in the stream, all of it
      // (ticks 40..69, sent while it was down or coming back, may or may not be: Node's client
      // queues its XADDs while offline, sio's nodes deliver them locally only)
      const up = [...Array(40).keys(), ...Array.from({ length: N - 70 }, (_, i) => 70 + i)];
      assert.deepEqual(up.filter((n) => !kept.includes(n)), [], `ticks published while Redis was up, not in the stream: ${kept}`);
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

// ---- the bytes a sio node sends, against the capture between two Node nodes ----

// Every occurrence of each [from, to] pair (same length: uids, request ids, socket ids) replaced.
function subst(buf, pairs) {
  let out = Buffer.from(buf);
  for (const [from, to] of pairs) {
    const f = Buffer.from(from);
    const t = Buffer.from(to);
    assert.equal(f.length, t.length, `${from} -> ${to}`);
    for (let i = out.indexOf(f); i >= 0; i = out.indexOf(f, i + t.length)) t.copy(out, i);
  }
  return out;
}

// `redis-cli MONITOR` of a whole describe: commands() parses what came so far.
function startMonitor(port) {
  const child = spawn('redis-cli', ['-p', String(port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let raw = '';
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (d) => { raw += d; });
  return {
    commands: () => raw.split('\n').map((l) => parseMonitorLine(l.trimEnd())).filter(Boolean),
    stop: () => child.kill(),
  };
}

// Waits for the first MONITOR command `pick` accepts (newer than `since` commands).
async function waitCommand(mon, since, pick, what) {
  for (let i = 0; i < 250; i++) {
    const found = mon.commands().slice(since).find(pick);
    if (found) return found;
    await sleep(20);
  }
  throw new Error(`no ${what} seen by MONITOR`);
}

// A sio node (kind) as node A beside a Node reference node B, in `mode`; what A writes to Redis
// for the captured operations must be the captured bytes (redis-wire-vectors.json), but for uids,
// request ids, socket ids and ports. The substitutions are of equal length, so lengths and every
// other byte (JSON spelling, msgpack forms, key order, base64) are compared exactly.
export function wireSuite(redis, mode, kind) {
  const V = loadVectors()[mode];
  describe(`${mode} wire: a ${kind} node's bytes against the Node capture`, { skip: SKIP }, () => {
    const p = { clients: [] };
    let mon;
    before(async () => {
      mon = startMonitor(new URL(redis.url).port);
      await sleep(100);
      await startPair(redis.url, mode, kind, 'node', p);
    });
    after(async () => { mon.stop(); await stopPair(p); });

    const isCmd = (name, key) => (c) => c.args[0].toString().toUpperCase() === name && c.args[1].toString() === key;
    const hasText = (t) => (c) => c.args.some((x) => x.includes(t));
    const decode = (b) => (b[0] === 0x7b ? JSON.parse(b.toString()) : msgpackDecode(b));
    const PUB = mode === 'streams' ? 'PUBLISH' : 'SPUBLISH';

    // A's publish (channel `key`, matching `pick`) after `fn` runs, against vector `v`.
    async function published(fn, key, pick, v, pairsOf) {
      const since = mon.commands().length;
      await fn();
      const c = await waitCommand(mon, since, (x) => isCmd(PUB, key)(x) && pick(x), `${PUB} ${key}`);
      const got = c.args[2];
      const want = v.hex ? Buffer.from(v.hex, 'hex') : Buffer.from(v.text);
      assert.equal(key, v.channel.replace(/#[0-9a-f]{16}#$/, (m) => m));
      const pairs = pairsOf(decode(want), decode(got));
      assert.equal(subst(want, pairs).toString('hex'), got.toString('hex'),
        `${JSON.stringify(decode(got))} against ${JSON.stringify(decode(want))}`);
      return decode(got);
    }
    const ids = (w, g) => [[w.uid, g.uid], ...(w.data && w.data.requestId ? [[w.data.requestId, g.data.requestId]] : [])];

    if (mode === 'streams') {
      // an XADD by A of `text`, its fields against vector `v` (data's socket ids replaced)
      const xadd = async (fn, text, v, pairs = []) => {
        const since = mon.commands().length;
        await fn();
        const c = await waitCommand(mon, since, (x) => isCmd('XADD', 'socket.io')(x) && hasText(text)(x), `XADD of ${text}`);
        const args = c.args.map((x) => x.toString());
        assert.deepEqual(args.slice(0, 6), ['XADD', 'socket.io', 'MAXLEN', '~', '10000', '*']);
        assert.deepEqual(args.slice(6).filter((_, i) => i % 2 === 0), ['uid', 'nsp', 'type', 'data']);
        const f = Object.fromEntries([0, 2, 4, 6].map((i) => [args[6 + i], args[7 + i]]));
        assert.match(f.uid, /^[0-9a-f]{16}$/);
        assert.deepEqual({ nsp: f.nsp, type: f.type }, { nsp: v.fields.nsp, type: v.fields.type });
        assert.equal(f.data, subst(Buffer.from(v.fields.data), pairs).toString());
      };
      test('broadcast: XADD fields, data as the capture\'s JSON, byte for byte', () => xadd(
        () => p.a.emit('broadcast', 'hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7), 'hello', V.broadcast));
      test('to one room, except the sender: the capture\'s JSON', async () => {
        await p.a.ack('join', 'others');
        const old = JSON.parse(V.room_except.fields.data).opts.except[0];
        await xadd(() => p.a.emit('to-room-others', 'others', 'x', 1), 'room-message', V.room_except, [[old, p.a.id]]);
      });
      test('binary: data is the base64 of the capture\'s msgpack, byte for byte', () => xadd(
        () => p.a.emit('broadcast', 'bin', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
          { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] }), V.binary.fields.data.slice(0, 20), V.binary));
      test('socketsJoin: type 4, the capture\'s JSON', async () => {
        const old = JSON.parse(V.sockets_join.fields.data).opts.rooms[0];
        await xadd(() => p.a.ack('sockets-join', p.b.id, 'pulled'), 'pulled', V.sockets_join, [[old, p.b.id]]);
      });
    } else {
      test('broadcast: SPUBLISH on the namespace channel, the capture\'s JSON', () => published(
        () => p.a.emit('broadcast', 'hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7),
        'socket.io#/#', hasText('hello'), V.broadcast, ids));
      test('to one room, except the sender: on the room\'s channel, the capture\'s JSON', async () => {
        await p.a.ack('join', 'others');
        await p.b.ack('join', 'others');
        assert.equal(await shardSubscribers(redis.url, 'others', 2), 2);
        await published(() => p.a.emit('to-room-others', 'others', 'x', 1), 'socket.io#/#others#', hasText('room-message'),
          V.room_except, (w, g) => [...ids(w, g), [w.data.opts.except[0], p.a.id]]);
      });
      test('binary: notepack msgpack of the whole message, the capture\'s bytes', () => published(
        () => p.a.emit('broadcast', 'bin', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
          { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] }),
        'socket.io#/#', hasText('nested'), V.binary, ids));
      test('socketsJoin: type 4 on the namespace channel, the capture\'s JSON', () => published(
        () => p.a.ack('sockets-join', p.b.id, 'pulled'), 'socket.io#/#', hasText('pulled'), V.sockets_join,
        (w, g) => [...ids(w, g), [w.data.opts.rooms[0], p.b.id]]));
    }
    const ns = 'socket.io#/#';
    test('fetchSockets request (count): the capture\'s bytes', () => published(
      () => p.a.ack('count'), ns, (c) => decode(c.args[2]).type === 7, V.fetch_sockets, ids));
    test('serverSideEmit with an answer: the capture\'s bytes', () => published(
      () => p.a.ack('server-emit', 'hi', { n: 1 }), ns, (c) => decode(c.args[2]).type === 9, V.server_side_emit, ids));
    test('broadcast with acks: the capture\'s bytes', () => published(
      () => p.a.ack('broadcast-ack', 'q', 1), ns, (c) => decode(c.args[2]).type === 3, V.broadcast_with_ack, ids));
    test('answers to the Node node: serverSideEmit response, client count and acks as captured', async () => {
      let bUid;
      const seen = mon.commands().length;
      await p.b.ack('server-emit', 'hi', { n: 1 });
      const req = await waitCommand(mon, seen, (c) => c.args[0].toString().toUpperCase() === PUB &&
        c.args[1].toString() === ns && decode(c.args[2]).type === 9, 'B\'s request');
      bUid = decode(req.args[2]).uid;
      const mine = `socket.io#/#${bUid}#`;
      const since = mon.commands().length - 1;
      const resp = await waitCommand(mon, seen, (c) => isCmd(PUB, mine)(c) && decode(c.args[2]).type === 10, 'the answer');
      const want = Buffer.from(V.server_side_emit_response.hex || V.server_side_emit_response.text, V.server_side_emit_response.hex ? 'hex' : 'utf8');
      const w = decode(want);
      const g = decode(resp.args[2]);
      assert.deepEqual(g.data.packet.args, ['hi', { n: 1 }]);
      // the port differs (the vector's and ours are both uint16 in msgpack, 5 digits in JSON)
      const port = (n, hex) => (hex ? `cd${n.toString(16).padStart(4, '0')}` : String(n));
      const isHex = Boolean(V.server_side_emit_response.hex);
      const wantHex = isHex ? subst(want, ids(w, g)).toString('hex').replace(port(w.data.packet.port, true), port(g.data.packet.port, true))
        : Buffer.from(subst(want, ids(w, g)).toString().replace(port(w.data.packet.port), port(g.data.packet.port))).toString('hex');
      assert.equal(wantHex, resp.args[2].toString('hex'), JSON.stringify(g));
      void since;
      // a broadcast with acks from B: A says how many of its sockets were asked, then each answer
      const seen2 = mon.commands().length;
      await p.b.ack('broadcast-ack', 'q', 2);
      const count = await waitCommand(mon, seen2, (c) => isCmd(PUB, mine)(c) && decode(c.args[2]).type === 11, 'the client count');
      const wc = Buffer.from(V.broadcast_client_count.hex || V.broadcast_client_count.text, V.broadcast_client_count.hex ? 'hex' : 'utf8');
      assert.equal(subst(wc, ids(decode(wc), decode(count.args[2]))).toString('hex'), count.args[2].toString('hex'));
      const ack = await waitCommand(mon, seen2, (c) => isCmd(PUB, mine)(c) && decode(c.args[2]).type === 12, 'the ack');
      const wa = Buffer.from(V.broadcast_ack.hex || V.broadcast_ack.text, V.broadcast_ack.hex ? 'hex' : 'utf8');
      const da = decode(wa);
      assert.equal(subst(wa, [...ids(da, decode(ack.args[2])), [da.data.packet, p.a.id]]).toString('hex'), ack.args[2].toString('hex'));
    });
  });
}

// Every contract server's --redis-mode: an unknown mode, or the flag without --redis, exits 2 with a
// message naming it (contract.md: a flag error, as the others). No Redis is needed.
export function flagSuite() {
  describe('--redis-mode on the command line of every contract server', { skip: process.env.SIO_SERVER ? 'run once, without SIO_SERVER' : false }, () => {
    const root = new URL('../..', import.meta.url).pathname;
    for (const kind of ['c', 'python', 'lua', 'node']) {
      test(`${kind}: a bad mode and a mode without --redis exit 2, saying why`, () => {
        const [prog, ...base] = COMMANDS[kind].split(' ');
        const run = (...args) => spawnSync(prog, [...base, '--port', '0', ...args],
          { cwd: root, encoding: 'utf8', timeout: 120000 });
        let r = run('--redis', 'redis://127.0.0.1:1', '--redis-mode', 'stream');
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /--redis-mode/);
        assert.match(r.stderr, /classic|sharded|streams/);
        r = run('--redis-mode', 'streams');
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /--redis-mode needs --redis/);
      });
    }
  });
}
