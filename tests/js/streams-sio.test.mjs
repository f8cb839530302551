// The Redis streams engine between sio nodes (contract servers with `--redis URL --redis-mode
// streams --recovery`): broadcasts through the stream with stream entry ids as offsets and the
// fields Node's @socket.io/redis-streams-adapter 0.3.1 writes (docs/redis-streams-wire.md),
// connection state recovery across nodes (socket.io-client 4.8 cut from node A by a proxy of the
// test's own, reconnected by the same Manager to node B: same id, rooms, every missed event once and
// in order), and Redis restarted (same port, append-only file) under a broadcast stream: every event
// the stream took reaches the other node once and in order, local delivery never stops.
// One private redis-server on a free port of 127.0.0.1, with persistence in a temporary directory;
// skipped when redis-server is not installed. The mixed Node/sio clusters are in other files.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import { startServer } from './server.mjs';
import { freePort, HOST, sleep, withTimeout } from './helpers.mjs';

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
// The nodes are fixed (C contract servers): a stage that only changes SIO_SERVER would run the
// same again, so this runs where SIO_SERVER is unset (CI's release and ASan stages).
const SKIP = !HAVE_REDIS ? 'redis-server is not installed (apt install redis-server)'
  : process.env.SIO_SERVER ? 'the nodes are fixed: run once, without SIO_SERVER' : false;
const C = 'examples/contract/run c';
const OFFSET = /^[0-9]+-[0-9]+$/;

// redis-server with an append-only file in dir: a restart on the same port finds its stream again.
async function redisStart(port, dir) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--dir', dir,
    '--appendonly', 'yes', '--save', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM'); // (a clean shutdown: the append-only file has every write)
      await withTimeout(exited, 5000, 'redis-server exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

// A TCP proxy to one node at a time: cut() ends every connection through it and refuses new ones
// until open(port) names where the next ones go.
function startProxy(port) {
  const state = { target: port, open: true, conns: new Set() };
  const server = net.createServer((c) => {
    if (!state.open) return c.destroy();
    const up = net.connect(state.target, HOST);
    state.conns.add(c).add(up);
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); state.conns.delete(c); state.conns.delete(up); };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  return new Promise((resolve) => server.listen(0, HOST, () => resolve({
    port: server.address().port,
    cut() { state.open = false; for (const s of state.conns) s.destroy(); state.conns.clear(); },
    open(target) { state.target = target; state.open = true; },
    close() { this.cut(); server.close(); },
  })));
}

// A socket.io-client 4.8 socket recording every event with its arguments, in order.
function client(url, opts = {}) {
  const s = io(url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts });
  s.events = [];
  s.onAny((ev, ...args) => s.events.push([ev, ...args]));
  return s;
}
const connected = (s) => new Promise((resolve) => (s.connected ? resolve() : s.once('connect', resolve)));
const ack = (s, ...args) => withTimeout(s.emitWithAck(...args), 5000, `ack of ${args[0]}`);
async function until(fn, ms = 8000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const named = (s, ev) => s.events.filter((e) => e[0] === ev);

describe('redis streams between sio nodes', { skip: SKIP }, () => {
  let dir, redisPort, redis, url, rc;
  const nodes = [];
  const sockets = [];
  const node = async () => {
    const n = await startServer(['--redis', url, '--redis-mode', 'streams', '--recovery', '60000'], { command: C });
    nodes.push(n);
    return n;
  };
  const sock = (u, o) => {
    const s = client(u, o);
    sockets.push(s);
    return s;
  };
  // Both nodes hear each other once `count` (a request over pub/sub) says n.
  const counted = async (s, n) => {
    const deadline = Date.now() + 8000;
    for (;;) {
      const got = await ack(s, 'count');
      if (got === n) return;
      if (Date.now() > deadline) assert.fail(`count ${got}, wanted ${n}`);
      await sleep(100);
    }
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sio-streams-'));
    redisPort = await freePort();
    redis = await redisStart(redisPort, dir);
    url = `redis://${HOST}:${redisPort}`;
    rc = createClient({ url });
    rc.on('error', () => {});
    await rc.connect();
  });

  // Each case's nodes and clients go with it: `count` is cluster-wide.
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    for (const n of nodes.splice(0)) await n.stop();
  });

  after(async () => {
    await rc?.quit().catch(() => {});
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('broadcasts cross the stream with entry ids as offsets, in the fields Node writes', async () => {
    const A = await node();
    const B = await node();
    const a = sock(A.url);
    const b = sock(B.url);
    await Promise.all([connected(a), connected(b)]);
    await counted(a, 2);
    await counted(b, 2);
    a.emit('broadcast', 'hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7);
    await until(() => named(a, 'broadcast').length === 1 && named(b, 'broadcast').length === 1, 5000, 'broadcast');
    const [ea, eb] = [named(a, 'broadcast')[0], named(b, 'broadcast')[0]];
    assert.match(ea.at(-1), OFFSET);
    assert.deepEqual(eb, ea, 'the same event and offset on both nodes');
    // The entry as Node's adapter writes it (docs/redis-streams-wire.md section 2).
    const [entry] = await rc.xRange('socket.io', ea.at(-1), ea.at(-1));
    assert.match(entry.message.uid, /^[0-9a-f]{16}$/);
    assert.deepEqual(Object.keys(entry.message), ['uid', 'nsp', 'type', 'data']);
    assert.equal(entry.message.nsp, '/');
    assert.equal(entry.message.type, '3');
    assert.equal(entry.message.data, '{"packet":{"type":2,"data":["broadcast","hello",{"n":42,"s":"héllo 😀","list":[1,null,true,1.5]},-7]},"opts":{"rooms":[],"except":[],"flags":{}}}');
    // A single socket's event goes through the stream too (to its own id's room): its offset is
    // an entry id, which other nodes can restore from.
    const [auth] = named(b, 'auth');
    assert.match(auth.at(-1), OFFSET);
    const [own] = await rc.xRange('socket.io', auth.at(-1), auth.at(-1));
    assert.equal(JSON.parse(own.message.data).opts.rooms[0], b.id);
    // Binary: base64 of msgpack in the entry, byte-exact on the other node.
    const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
    a.emit('broadcast', 'bin', buf);
    await until(() => named(b, 'broadcast').length === 2, 5000, 'binary broadcast');
    const eb2 = named(b, 'broadcast')[1];
    assert.equal(eb2[1], 'bin');
    assert.deepEqual(Buffer.from(eb2[2]), buf);
    const [bin] = await rc.xRange('socket.io', eb2.at(-1), eb2.at(-1));
    assert.ok(!bin.message.data.startsWith('{'), 'binary data is base64 of msgpack');
    a.close();
    b.close();
  });

  test('a client cut from node A recovers on node B: same id and rooms, every missed event once, in order', async () => {
    const A = await node();
    const B = await node();
    const proxy = await startProxy(A.port);
    try {
      const a = sock(A.url);
      const b = sock(B.url);
      const r = sock(`http://${HOST}:${proxy.port}`);
      await Promise.all([connected(a), connected(b), connected(r)]);
      await counted(b, 3);
      const id = r.id;
      assert.deepEqual((await ack(r, 'join', 'r-room')).sort(), [id, 'r-room'].sort());
      a.emit('broadcast', 'seen');
      await until(() => named(r, 'broadcast').length === 1, 5000, 'seen');
      const disconnected = new Promise((resolve) => r.once('disconnect', resolve));
      proxy.cut();
      assert.equal(await disconnected, 'transport close');
      await sleep(200); // A persists the session
      const before = r.events.length;
      // One at a time (the stream's order is the order the nodes XADD in).
      b.emit('broadcast', 'missed-1');
      await sleep(100);
      a.emit('to-room', 'r-room', 'missed-2');
      await sleep(100);
      b.emit('to-room-others', 'r-room', 'missed-3');
      await sleep(100);
      a.emit('to-room', 'other-room', 'not-for-r');
      await until(() => named(b, 'broadcast').length >= 2, 5000, 'missed-1 on b');
      await sleep(200);
      proxy.open(B.port); // the Manager reconnects, now to B
      await withTimeout(new Promise((resolve) => r.once('connect', resolve)), 8000, 'reconnect');
      assert.equal(r.recovered, true, 'recovered on B');
      assert.equal(r.id, id, 'same id');
      const missed = r.events.slice(before).filter((e) => e[0] !== 'auth');
      assert.deepEqual(missed.map((e) => e.slice(0, -1)), [
        ['broadcast', 'missed-1'], ['room-message', 'r-room', 'missed-2'], ['room-message', 'r-room', 'missed-3'],
      ]);
      for (const e of missed) assert.match(e.at(-1), OFFSET);
      // Its rooms came back with it: B delivers r-room's events to it, once.
      a.emit('to-room', 'r-room', 'after');
      await until(() => named(r, 'room-message').some((e) => e[2] === 'after'), 5000, 'after');
      await sleep(200);
      assert.equal(named(r, 'room-message').filter((e) => e[2] === 'after').length, 1);
      // The session was taken (GETDEL): the same pid and offset again is a fresh socket.
      const pid = r._pid;
      const c = sock(B.url, { auth: {} });
      c._pid = pid;
      c._lastOffset = missed.at(-1).at(-1);
      await connected(c);
      assert.equal(c.recovered, false);
      assert.notEqual(c.id, id);
    } finally {
      proxy.close();
    }
  });

  test('a restore reads the stream in pages: 250 missed events (read_count 100), all of them, in order', async () => {
    const A = await node();
    const B = await node();
    const proxy = await startProxy(A.port);
    try {
      const b = sock(B.url);
      const r = sock(`http://${HOST}:${proxy.port}`);
      await Promise.all([connected(b), connected(r)]);
      await counted(b, 2);
      const id = r.id;
      // Its last offset: the contract's `auth` emit, XADDed like any recoverable emit.
      await until(() => named(r, 'auth').length === 1, 5000, 'auth with its offset');
      const disconnected = new Promise((resolve) => r.once('disconnect', resolve));
      proxy.cut();
      await disconnected;
      await sleep(200);
      for (let i = 0; i < 250; i++) b.emit('broadcast', 'page', i);
      await until(() => named(b, 'broadcast').length === 250, 8000, 'the 250 on B');
      const before = r.events.length;
      proxy.open(B.port);
      await withTimeout(new Promise((resolve) => r.once('connect', resolve)), 8000, 'reconnect');
      assert.equal(r.recovered, true);
      assert.equal(r.id, id);
      const got = r.events.slice(before).filter((e) => e[0] === 'broadcast').map((e) => e[2]);
      assert.deepEqual(got, [...Array(250).keys()]);
    } finally {
      proxy.close();
    }
  });

  test('a session that is garbage, an offset of another form or one trimmed away: a fresh socket', async () => {
    const A = await node();
    const a = sock(A.url);
    await connected(a);
    const [last] = await rc.xRevRange('socket.io', '+', '-', { COUNT: 1 });
    const tries = [
      ['garbage', 'not base64 msgpack!', last.id],         // undecodable session
      ['b64', Buffer.from([0x93, 1, 2, 3]).toString('base64'), last.id], // msgpack, not a session
      ['form', null, '12345'],                             // not ms-seq: Redis is not even asked
    ];
    // A real session (persisted as its client's transport closed) with an offset no longer in
    // the stream (MAXLEN trimmed it): as Node's, not recovered.
    const g = sock(A.url, { reconnection: false });
    await connected(g);
    const gone = g._pid;
    g.io.engine.close();
    for (let i = 0; i < 50 && !(await rc.exists(`sio:session:${gone}`)); i++) await sleep(20);
    assert.equal(await rc.exists(`sio:session:${gone}`), 1, 'the session was persisted');
    tries.push([gone, null, '1-0']);
    for (const [pid, value, offset] of tries) {
      if (value) await rc.set(`sio:session:${pid}`, value, { PX: 60000 });
      const c = sock(A.url);
      c._pid = pid;
      c._lastOffset = offset;
      await connected(c);
      assert.equal(c.recovered, false, pid);
      assert.match(c._pid, /^[A-Za-z0-9_-]{20}$/, `${pid}: a new pid`);
      assert.notEqual(c._pid, pid);
    }
    assert.equal(await ack(a, 'count'), 1 + tries.length, 'the node serves on');
    assert.equal(await rc.exists(`sio:session:${gone}`), 0, 'a restore takes the session (GETDEL)');
  });

  test('a node shutting down persists its sockets\' sessions: the client recovers on another node', async () => {
    const A = await node();
    const B = await node();
    const proxy = await startProxy(A.port);
    try {
      const b = sock(B.url);
      const r = sock(`http://${HOST}:${proxy.port}`, { reconnection: false });
      await Promise.all([connected(b), connected(r)]);
      await counted(b, 2);
      const id = r.id;
      await ack(r, 'join', 'r-room');
      await until(() => named(r, 'auth').length === 1, 5000, 'auth with its offset');
      const disconnected = new Promise((resolve) => r.once('disconnect', resolve));
      await A.stop(); // SIGTERM: the sockets close with "server shutting down" (recoverable)
      nodes.splice(nodes.indexOf(A), 1);
      await disconnected;
      b.emit('to-room', 'r-room', 'while-away');
      await sleep(200);
      proxy.open(B.port);
      r.connect();
      await withTimeout(new Promise((resolve) => r.once('connect', resolve)), 8000, 'reconnect');
      assert.equal(r.recovered, true);
      assert.equal(r.id, id);
      assert.deepEqual(named(r, 'room-message').map((e) => e.slice(0, -1)), [['room-message', 'r-room', 'while-away']]);
    } finally {
      proxy.close();
    }
  });

  test('Redis restarted under a broadcast stream: nothing the stream took is lost, local delivery goes on', async () => {
    const A = await node();
    const B = await node();
    const a = sock(A.url);
    const b = sock(B.url);
    await Promise.all([connected(a), connected(b)]);
    await counted(a, 2);
    const N = 150;
    for (let i = 0; i < N; i++) {
      a.emit('broadcast', 'seq', i);
      if (i === 40) await redis.stop();
      if (i === 80) redis = await redisStart(redisPort, dir);
      await sleep(15);
    }
    const seqOf = (s) => named(s, 'broadcast').filter((e) => e[1] === 'seq');
    await until(() => seqOf(a).length === N, 10000, 'local delivery of every event');
    assert.deepEqual(seqOf(a).map((e) => e[2]), [...Array(N).keys()], 'A delivered every event, in order');
    const streamed = seqOf(a).filter((e) => typeof e.at(-1) === 'string' && OFFSET.test(e.at(-1)));
    assert.ok(streamed.length >= 40, `events went through the stream (${streamed.length})`);
    assert.ok(streamed.length < N, 'some were published while Redis was away');
    // B gets every one the stream took, in order, once (and reads on from its last id: the events
    // XADDed after the restart but while B's reader was still reconnecting too).
    const want = streamed.map((e) => e[2]);
    await until(() => seqOf(b).length >= want.length, 15000, `B's events (${want.length})`);
    await sleep(300);
    const got = seqOf(b).map((e) => e[2]);
    assert.deepEqual(got.filter((i) => want.includes(i)), want, 'in order');
    assert.equal(new Set(got).size, got.length, 'once each');
    for (const e of seqOf(b)) assert.match(e.at(-1), OFFSET);
  });
});
