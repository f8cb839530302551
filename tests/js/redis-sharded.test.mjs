// The sharded Redis adapter (`--redis-mode sharded`: @socket.io/redis-adapter 8.3's
// createShardedAdapter, SSUBSCRIBE/SPUBLISH) on a private single redis-server and on a private
// Redis Cluster of 3 masters (no replicas) that this file makes with `redis-cli --cluster create`:
// C+C, C+Node and Node+C pairs (the Node node is the reference contract server on
// createShardedAdapter + redis 4.7) exchange broadcasts, to-room (the dynamic room channels seen
// with PUBSUB SHARDCHANNELS, gone when the room empties), binary, count (SHARDNUMSUB),
// fetchSockets, serverSideEmit with answers and broadcasts with acks. On the cluster: a C node
// follows a slot migrated under it (CLUSTER SETSLOT: its subscriptions move, MOVED answers are
// followed); the bytes a C node SPUBLISHes equal the Node node's for the same emits (MONITOR).
// Skipped when redis-server 7 is not installed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { HOST, redisCli, sleep, startRedis, startRedisCluster, withTimeout } from './helpers.mjs';
import { assertNoEvent, assertSameData, closeManager, connectClient, randomBuffer } from './sio-helpers.mjs';

const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
const major = Number((/v=(\d+)/.exec(version.stdout || '') || [])[1]);
const SKIP = version.status === 0 && major >= 7 ? false : 'redis-server >= 7 is not installed';

const COMMANDS = {
  c: 'examples/contract/run c',
  python: 'examples/contract/run python',
  node: 'node tests/js/reference/contract-server.mjs',
};
const KIND = { version: 4, transports: ['websocket'] };
const SHARDED = ['--redis-mode', 'sharded'];

async function until(what, fn, ms = 8000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function countUntil(client, want, ms = 8000) {
  let got;
  await until(`count ${want}`, async () => { [got] = await client.ack('count'); return got === want; }, ms)
    .catch(() => {});
  return got;
}

// Every sharded channel of the deployment (each master answers for its own slots).
function shardChannels(redis) {
  const set = new Set();
  for (const p of redis.ports) for (const c of redisCli(p, 'PUBSUB', 'SHARDCHANNELS').split('\n')) if (c) set.add(c);
  return [...set].sort();
}

const record = (c) => {
  c.socket.on('server-event', (...args) => c.queue('server-event').push(args));
  c.socket.on('ack-me', (...args) => { const ack = args.pop(); ack(c.id, 'ignored'); });
  return c;
};

async function startPair(redis, kindA, kindB, p, extra = []) {
  p.nodeA = await startServer(['--redis', redis.url, ...SHARDED, ...extra], { command: COMMANDS[kindA] });
  p.nodeB = await startServer(['--redis', redis.url, ...SHARDED, ...extra], { command: COMMANDS[kindB] });
  for (const [k, node] of [['a', p.nodeA], ['b', p.nodeB], ['b2', p.nodeB]]) {
    p[k] = record(await connectClient(node.url, KIND));
    p.clients.push(p[k]);
  }
  assert.equal(await countUntil(p.a, 3), 3, `count on A; A stderr: ${p.nodeA.stderr}`);
  assert.equal(await countUntil(p.b, 3), 3, `count on B; B stderr: ${p.nodeB.stderr}`);
}

async function stopPair(p) {
  const nodes = [p.nodeA, p.nodeB].filter(Boolean);
  for (const c of p.clients) await closeManager(c.manager);
  for (const n of nodes) await n.stop();
  for (const n of nodes) assert.deepEqual(n.exitStatus, { code: 0, signal: null });
}

// The exchanges every pair goes through.
function pairTests(getRedis, p) {
  test('count (PUBSUB SHARDNUMSUB) on either node is the cluster\'s', async () => {
    assert.deepEqual(await p.a.ack('count'), [3]);
    assert.deepEqual(await p.b.ack('count'), [3]);
  });

  test('broadcast from either node reaches every socket of both', async () => {
    const args = ['hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7];
    p.a.emit('broadcast', ...args);
    for (const c of [p.a, p.b, p.b2]) assert.deepEqual(await c.next('broadcast'), args);
    p.b.emit('broadcast', 'from B', 70000, 2 ** 40);
    for (const c of [p.a, p.b, p.b2]) assert.deepEqual(await c.next('broadcast'), ['from B', 70000, 2 ** 40]);
  });

  test('binary arguments (msgpack on the wire) cross nodes byte-exact', async () => {
    const args = ['bin', randomBuffer(4096), { nested: [Buffer.from([0xde, 0xad]), 'text'] }, Buffer.alloc(0)];
    p.a.emit('broadcast', ...args);
    for (const c of [p.a, p.b, p.b2]) assertSameData(await c.next('broadcast'), args);
    const back = randomBuffer(70000);
    p.b.emit('broadcast', back);
    for (const c of [p.a, p.b, p.b2]) assertSameData(await c.next('broadcast'), [back]);
  });

  test('to-room goes through the room\'s own channel while it has members, gone after', async () => {
    const redis = getRedis();
    const chan = 'socket.io#/#room-x#';
    assert.ok(!shardChannels(redis).includes(chan));
    await p.b.ack('join', 'room-x');
    await until('the room channel', () => shardChannels(redis).includes(chan));
    p.a.emit('to-room', 'room-x', 'x', 1);
    assert.deepEqual(await p.b.next('room-message'), ['room-x', 'x', 1]);
    await assertNoEvent(p.a, 'room-message', 200);
    await assertNoEvent(p.b2, 'room-message', 0);
    await p.b.ack('leave', 'room-x');
    await until('the room channel to go', () => !shardChannels(redis).includes(chan));
    p.a.emit('to-room', 'room-x', 'after');
    await assertNoEvent(p.b, 'room-message', 300);
    // socket ids' rooms get no channel of their own (mode dynamic)
    for (const c of [p.a, p.b, p.b2]) assert.ok(!shardChannels(redis).includes(`socket.io#/#${c.id}#`));
  });

  test('fetchSockets: every socket of both nodes, with its rooms', async () => {
    await p.b2.ack('join', 'fs-room');
    const want = [p.a, p.b, p.b2].map((c) => ({ id: c.id, rooms: (c === p.b2 ? [c.id, 'fs-room'] : [c.id]).sort(),
      address: '127.0.0.1', auth: {} })).sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(await p.a.ack('fetch-sockets'), [want]);
    assert.deepEqual(await p.b.ack('fetch-sockets'), [want]);
    await p.b2.ack('leave', 'fs-room');
  });

  test('serverSideEmit with an ack: the other node answers (on the response channel)', async () => {
    const [resA] = await p.a.ack('server-emit', 'hi', { s: 'é😀' }, [true, null]);
    assert.deepEqual(resA, { ok: true, responses: [{ port: p.nodeB.port, args: ['hi', { s: 'é😀' }, [true, null]] }] });
    for (const c of [p.b, p.b2]) assert.deepEqual(await c.next('server-event'), ['hi', { s: 'é😀' }, [true, null]]);
    const [resB] = await p.b.ack('server-emit', 2.5);
    assert.deepEqual(resB, { ok: true, responses: [{ port: p.nodeA.port, args: [2.5] }] });
    assert.deepEqual(await p.a.next('server-event'), [2.5]);
  });

  test('a broadcast with acks collects every socket\'s answer from both nodes', async () => {
    const ids = [p.a.id, p.b.id, p.b2.id].sort();
    assert.deepEqual(await p.a.ack('broadcast-ack', 'q', 1), [{ ok: true, responses: ids }]);
    assert.deepEqual(await p.b.ack('broadcast-ack', 'q', 2), [{ ok: true, responses: ids }]);
  });
}

// The Node reference connects with createClient (one Redis), not createCluster: mixed pairs on the
// single Redis only.
const PAIRS = { single: [['c', 'c'], ['c', 'node'], ['node', 'c']], cluster: [['c', 'c'], ['c', 'python']] };
for (const setup of ['single', 'cluster']) {
  describe(`sharded adapter on a ${setup === 'single' ? 'single Redis' : 'Redis Cluster of 3 masters'}`, { skip: SKIP }, () => {
    let redis;
    before(async () => {
      redis = setup === 'single' ? await startRedis() : await startRedisCluster(3);
      if (!redis.ports) redis.ports = [redis.port];
    });
    after(async () => { if (redis) await redis.stop(); });

    for (const [kindA, kindB] of PAIRS[setup]) {
      describe(`${kindA} node A + ${kindB} node B`, () => {
        const p = { clients: [] };
        before(() => startPair(redis, kindA, kindB, p));
        after(() => stopPair(p));
        pairTests(() => redis, p);
      });
    }
  });
}
