// The sharded Redis adapter (`--redis-mode sharded`: @socket.io/redis-adapter 8.3's
// createShardedAdapter, SSUBSCRIBE/SPUBLISH) on a private single redis-server and on a private
// Redis Cluster of 3 masters (no replicas) that this file makes with `redis-cli --cluster create`:
// C+C, C+Node and Node+C pairs (the Node node is the reference contract server on
// createShardedAdapter + redis 4.7) exchange broadcasts, to-room (the dynamic room channels seen
// with PUBSUB SHARDCHANNELS, gone when the room empties), binary, count (SHARDNUMSUB),
// fetchSockets, serverSideEmit with answers and broadcasts with acks. On the cluster: a C node
// follows a slot migrated under it (CLUSTER SETSLOT: its subscriptions move, MOVED answers are
// followed); the bytes a C node SPUBLISHes equal the Node node's for the same emits (MONITOR); a
// C node and an in-process Node node on createCluster share a Redis Cluster; Redis restarted; an
// unreachable Redis; subscriptionMode static and dynamic-private (Python nodes).
// Skipped when redis-server 7 is not installed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, startServer } from './server.mjs';
import { HOST, freePort, redisCli, sleep, startRedis, startRedisCluster } from './helpers.mjs';
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

// ---------------------------------------------------------------- Redis Cluster: a slot moves

// CLUSTER NODES: {id, port, slots: [[lo, hi], ...]} per master.
function clusterNodes(port) {
  return redisCli(port, 'CLUSTER', 'NODES').split('\n').map((line) => {
    const [id, addr, , , , , , , ...ranges] = line.split(' ');
    return { id, port: Number(/:(\d+)@/.exec(addr)[1]),
      slots: ranges.filter((r) => /^\d/.test(r)).map((r) => r.split('-').map(Number)).map(([lo, hi]) => [lo, hi ?? lo]) };
  });
}

function slotOwner(redis, slot) {
  return clusterNodes(redis.ports[0]).find((n) => n.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
}

// Moves an empty slot to another master (what redis-cli --cluster reshard does, keys aside).
function migrateSlot(redis, slot) {
  const from = slotOwner(redis, slot);
  const to = clusterNodes(redis.ports[0]).find((n) => n.id !== from.id);
  redisCli(to.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
  redisCli(from.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
  redisCli(to.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  redisCli(from.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  for (const p of redis.ports) if (p !== from.port && p !== to.port) redisCli(p, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  return { from, to };
}

describe('sharded adapter on a Redis Cluster whose slots move', { skip: SKIP }, () => {
  let redis;
  const p = { clients: [] };
  before(async () => {
    redis = await startRedisCluster(3);
    p.nodeA = await startServer(['--redis', redis.url, ...SHARDED], { command: COMMANDS.c, env: { SIO_DEBUG: 'redis' } });
    p.nodeB = await startServer(['--redis', redis.url, ...SHARDED], { command: COMMANDS.c });
    for (const [k, node] of [['a', p.nodeA], ['b', p.nodeB]]) {
      p[k] = record(await connectClient(node.url, KIND));
      p.clients.push(p[k]);
    }
    assert.equal(await countUntil(p.a, 2), 2, `A stderr: ${p.nodeA.stderr}`);
  });
  after(async () => {
    await stopPair(p);
    if (redis) await redis.stop();
  });

  test('the namespace channel\'s slot moves: both nodes subscribe on its new master', async () => {
    const chan = 'socket.io#/#';
    const slot = Number(redisCli(redis.ports[0], 'CLUSTER', 'KEYSLOT', chan));
    const { from, to } = migrateSlot(redis, slot);
    // Redis dropped the subscriptions (sunsubscribe): the nodes asked for the new map and
    // subscribed again where the slot now is.
    await until('both nodes on the new master', () =>
      redisCli(to.port, 'PUBSUB', 'SHARDNUMSUB', chan).split('\n')[1] === '2');
    assert.equal(redisCli(from.port, 'PUBSUB', 'SHARDNUMSUB', chan).split('\n')[1], '0');
    p.a.emit('broadcast', 'after the move');
    for (const c of [p.a, p.b]) assert.deepEqual(await c.next('broadcast'), ['after the move']);
    p.b.emit('broadcast', 'back');
    for (const c of [p.a, p.b]) assert.deepEqual(await c.next('broadcast'), ['back']);
    assert.deepEqual(await p.a.ack('count'), [2]);
  });

  test('a publisher with a stale slot map follows MOVED', async () => {
    // A room only B has members in: A holds no subscription in its slot, so nothing tells A the
    // slot moved until its SPUBLISH is answered MOVED.
    const room = 'moved-room';
    const chan = `socket.io#/#${room}#`;
    await p.b.ack('join', room);
    await until('the room channel', () => shardChannels(redis).includes(chan));
    const slot = Number(redisCli(redis.ports[0], 'CLUSTER', 'KEYSLOT', chan));
    const { to } = migrateSlot(redis, slot);
    await until('B on the new master', () =>
      redisCli(to.port, 'PUBSUB', 'SHARDNUMSUB', chan).split('\n')[1] === '1');
    p.a.emit('to-room', room, 'through MOVED');
    assert.deepEqual(await p.b.next('room-message'), [room, 'through MOVED']);
    const moved = new RegExp(`MOVED ${slot} 127\\.0\\.0\\.1:${to.port}`);
    await until('the MOVED answer in A\'s debug log', () => moved.test(p.nodeA.stderr), 3000)
      .catch(() => assert.match(p.nodeA.stderr, moved));
  });
});

// ---------------------------------------------------------------- a single Redis: restart, wire

describe('sharded adapter: Redis restarted, and the bytes on the wire', { skip: SKIP }, () => {
  let redis;
  const p = { clients: [] };
  before(async () => {
    redis = await startRedis();
    redis.ports = [redis.port];
    await startPair(redis, 'c', 'node', p);
  });
  after(async () => {
    await stopPair(p);
    if (redis) await redis.stop();
  });

  test('a C node SPUBLISHes what the Node node does for the same emits', async () => {
    const monitor = spawn('redis-cli', ['-h', HOST, '-p', String(redis.port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    monitor.stdout.setEncoding('utf8');
    monitor.stdout.on('data', (d) => { out += d; });
    try {
      await until('MONITOR', () => /OK/.test(out));
      await p.a.ack('join', 'wire-room');
      await p.b.ack('join', 'wire-room');
      await until('the room channel', () => shardChannels(redis).includes('socket.io#/#wire-room#'));
      const sends = [
        ['broadcast', 'text', { n: 1, s: 'é😀', l: [true, null, 1.5] }],
        ['broadcast', 'bin', Buffer.from([0, 1, 2, 255]), { deep: [Buffer.from('xyz')] }],
        ['to-room', 'wire-room', 'in the room'],
      ];
      const lines = [];
      let seen = 0;
      for (const [from, to] of [[p.a, p.b], [p.b, p.a]]) {
        for (const [ev, ...args] of sends) {
          from.emit(ev, ...args);
          await to.next(ev === 'to-room' ? 'room-message' : 'broadcast');
          await from.next(ev === 'to-room' ? 'room-message' : 'broadcast');
        }
        await until('the SPUBLISH lines', () => (out.match(/"SPUBLISH"/g) || []).length >= seen + sends.length);
        // the adapters' uids (16 hex characters; in msgpack after the fixstr header \xb0) told apart
        const mine = out.split('\n').filter((l) => l.includes('"SPUBLISH"'))
          .map((l) => l.slice(l.indexOf('"SPUBLISH"')).replace(/\\xb0[0-9a-f]{16}/g, '\\xb0UID').replace(/[0-9a-f]{16}/g, 'UID'));
        lines.push(mine.slice(seen));
        seen = mine.length;
      }
      const [fromC, fromNode] = [lines[0], lines[1]];
      assert.equal(fromC.length, sends.length);
      assert.deepEqual(fromC, fromNode);
      assert.ok(fromC[2].startsWith('"SPUBLISH" "socket.io#/#wire-room#"'), fromC[2]);
    } finally {
      monitor.kill();
    }
  });

  test('Redis restarted on the same port: the C node subscribes again and delivery resumes', async () => {
    const { port } = redis;
    await redis.stop();
    p.a.emit('broadcast', 'alone');
    assert.deepEqual(await p.a.next('broadcast'), ['alone']); // local delivery goes on
    redis = await startRedis(port);
    redis.ports = [port];
    await until('the C node back (SHARDNUMSUB)', async () =>
      Number(redisCli(port, 'PUBSUB', 'SHARDNUMSUB', 'socket.io#/#').split('\n')[1]) >= 1, 15000);
    await until('the Node node back too', async () =>
      Number(redisCli(port, 'PUBSUB', 'SHARDNUMSUB', 'socket.io#/#').split('\n')[1]) === 2, 15000);
    for (let i = 0; ; i++) {
      p.b.emit('broadcast', `again ${i}`);
      try {
        assert.deepEqual(await p.a.next('broadcast', 1000), [`again ${i}`]);
        break;
      } catch (e) {
        if (i > 10) throw e;
      }
    }
    assert.match(p.nodeA.stderr, /subscriber connection restored \(127\.0\.0\.1:\d+\) after [\d.]+ s; \d+ namespaces? subscribed again/);
  });
});

describe('sharded adapter: a C node whose Redis is unreachable', { skip: SKIP }, () => {
  test('serves locally; count answers the local number at once', async () => {
    const port = await freePort();
    const node = await startServer(['--redis', `redis://${HOST}:${port}`, ...SHARDED], { command: COMMANDS.c });
    const a = await connectClient(node.url, KIND);
    const b = await connectClient(node.url, KIND);
    try {
      const t0 = Date.now();
      assert.deepEqual(await a.ack('count'), [2]);
      assert.ok(Date.now() - t0 < 2000, 'answered without waiting for Redis');
      a.emit('broadcast', 'local');
      for (const c of [a, b]) assert.deepEqual(await c.next('broadcast'), ['local']);
      await until('the outage logged', () => /sio: redis: (publisher|subscriber) connection failed: Connection refused/.test(node.stderr));
    } finally {
      for (const c of [a, b]) await closeManager(c.manager);
      await node.stop();
    }
    assert.deepEqual(node.exitStatus, { code: 0, signal: null });
  });
});

// ---------------------------------------------------------------- subscription modes

// Python contract servers (the C core) with redis_subscription_mode set through a sitecustomize
// fixture: the contract's flags leave Node's default ("dynamic").
const FIXTURE = path.join(REPO_ROOT, 'tests/js/fixtures/subscription-mode');
function modeEnv(mode) {
  return { SIO_TEST_REDIS_SUBSCRIPTION_MODE: mode,
    PYTHONPATH: [FIXTURE, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
}

for (const mode of ['static', 'dynamic-private']) {
  describe(`sharded adapter, subscriptionMode ${mode} (Python + Python)`, { skip: SKIP }, () => {
    let redis;
    const p = { clients: [] };
    before(async () => {
      redis = await startRedis();
      redis.ports = [redis.port];
      for (const k of ['nodeA', 'nodeB'])
        p[k] = await startServer(['--redis', redis.url, ...SHARDED], { command: COMMANDS.python, env: modeEnv(mode) });
      for (const [k, node] of [['a', p.nodeA], ['b', p.nodeB], ['b2', p.nodeB]]) {
        p[k] = record(await connectClient(node.url, KIND));
        p.clients.push(p[k]);
      }
      assert.equal(await countUntil(p.a, 3), 3, `A stderr: ${p.nodeA.stderr}`);
    });
    after(async () => {
      await stopPair(p);
      if (redis) await redis.stop();
    });

    test('rooms and socket ids get channels as the mode says; to-room and to-socket arrive', async () => {
      await p.b.ack('join', 'mode-room');
      const sidChans = [p.a, p.b, p.b2].map((c) => `socket.io#/#${c.id}#`);
      if (mode === 'dynamic-private') {
        await until('every socket id\'s channel and the room\'s', () => {
          const chans = shardChannels(redis);
          return sidChans.every((c) => chans.includes(c)) && chans.includes('socket.io#/#mode-room#');
        });
      } else {
        await sleep(300);
        const chans = shardChannels(redis);
        // the namespaces' channels and their response channels only
        assert.ok(chans.every((c) => /^socket\.io#\/[a-z]*#([0-9a-f]{16}#)?$/.test(c)), chans.join(' '));
      }
      p.a.emit('to-room', 'mode-room', 'room');
      assert.deepEqual(await p.b.next('room-message'), ['mode-room', 'room']);
      await assertNoEvent(p.b2, 'room-message', 200);
      p.a.emit('to-room', p.b2.id, 'just b2');
      assert.deepEqual(await p.b2.next('room-message'), [p.b2.id, 'just b2']);
      await assertNoEvent(p.b, 'room-message', 200);
      p.a.emit('broadcast', 'all');
      for (const c of [p.a, p.b, p.b2]) assert.deepEqual(await c.next('broadcast'), ['all']);
      if (mode === 'dynamic-private') {
        await closeManager(p.b2.manager);
        p.clients.splice(p.clients.indexOf(p.b2), 1);
        await until('the gone socket\'s channel to go', () => !shardChannels(redis).includes(sidChans[2]));
      }
    });
  });
}

// ---------------------------------------------------------------- Node's cluster client, and sio

// A Node socket.io node in this process on createShardedAdapter over redis 4.7's createCluster
// (what Node needs for a Redis Cluster; the reference contract server connects with createClient):
// a few of the contract's events.
async function startNodeOnCluster(url) {
  const { createServer } = await import('node:http');
  const { Server } = await import('socket.io');
  const { createCluster } = await import('redis');
  const { createShardedAdapter } = await import('@socket.io/redis-adapter');
  const pubClient = createCluster({ rootNodes: [{ url }] });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on('error', () => {});
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const http = createServer();
  const io = new Server(http, { adapter: createShardedAdapter(pubClient, subClient) });
  io.on('connection', (socket) => {
    socket.on('broadcast', (...args) => io.emit('broadcast', ...args));
    socket.on('to-room', (room, ...args) => io.to(room).emit('room-message', room, ...args));
    socket.on('join', (room, ack) => { socket.join(room); ack([...socket.rooms].sort()); });
    socket.on('count', async (ack) => ack((await io.fetchSockets()).length));
  });
  await new Promise((resolve) => http.listen(0, HOST, resolve));
  return {
    url: `http://${HOST}:${http.address().port}`,
    async stop() {
      io.close();
      await Promise.all([pubClient.quit(), subClient.quit()]).catch(() => {});
    },
  };
}

describe('sharded adapter on a Redis Cluster: a C node and a Node node (createCluster)', { skip: SKIP }, () => {
  let redis, node, cnode;
  const clients = [];
  let a, b; // a on the C node, b on the Node node
  before(async () => {
    redis = await startRedisCluster(3);
    cnode = await startServer(['--redis', redis.url, ...SHARDED], { command: COMMANDS.c });
    node = await startNodeOnCluster(redis.url);
    a = await connectClient(cnode.url, KIND);
    b = await connectClient(node.url, KIND);
    clients.push(a, b);
    await until('both nodes subscribed', () =>
      redis.ports.some((p) => redisCli(p, 'PUBSUB', 'SHARDNUMSUB', 'socket.io#/#').split('\n')[1] === '2'));
  });
  after(async () => {
    for (const c of clients) await closeManager(c.manager);
    if (node) await node.stop();
    if (cnode) await cnode.stop();
    if (redis) await redis.stop();
  });

  test('broadcasts, binary and to-room cross both ways; count (fetchSockets) on both', async () => {
    a.emit('broadcast', 'from C', { s: 'é😀' });
    for (const c of [a, b]) assert.deepEqual(await c.next('broadcast'), ['from C', { s: 'é😀' }]);
    const bin = randomBuffer(3000);
    b.emit('broadcast', 'from Node', bin);
    for (const c of [a, b]) assertSameData(await c.next('broadcast'), ['from Node', bin]);
    await a.ack('join', 'cross');
    await b.ack('join', 'cross');
    await until('both room subscriptions', () =>
      redis.ports.some((p) => redisCli(p, 'PUBSUB', 'SHARDNUMSUB', 'socket.io#/#cross#').split('\n')[1] === '2'));
    b.emit('to-room', 'cross', 'n');
    for (const c of [a, b]) assert.deepEqual(await c.next('room-message'), ['cross', 'n']);
    a.emit('to-room', 'cross', 'c');
    for (const c of [a, b]) assert.deepEqual(await c.next('room-message'), ['cross', 'c']);
    assert.deepEqual(await a.ack('count'), [2]);
    assert.deepEqual(await b.ack('count'), [2]); // Node's fetchSockets answered by the C node
  });
});
