// The Admin UI's server side (`--admin`, `--admin-auth USER:BCRYPT`: npm @socket.io/admin-ui 0.5's
// instrument() on /admin-ui, development mode), driven by socket.io-client 4.8 as the UI's page
// does: config, all_sockets and server_stats on login; socket_connected / socket_updated (the
// upgrade) / socket_disconnected, room_joined / room_left and event_received / event_sent as a
// client of "/" comes, upgrades, joins a room and talks; the UI's join, leave and _disconnect
// (which the client sees as "io server disconnect") and emit; basic auth with a bcrypt hash made here
// (npm bcryptjs), "invalid credentials" for a wrong password, and the "session" id logging the
// page in again without one; siod's --admin/--admin-no-auth; across a Redis cluster (sio+sio, sio+Node)
// the page sees the other node. The same scenario runs against the Node reference
// (reference/contract-server.mjs wrapped with the real instrument()), and the shapes of every
// admin event are compared. A server without --admin support (exit 2) is skipped, saying so.

import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { io } from 'socket.io-client';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, REPO_ROOT } from './server.mjs';
import { spawnSync } from 'node:child_process';
import { Queue, startRedis, withTimeout } from './helpers.mjs';

const ADMIN_EVENTS = ['session', 'config', 'server_stats', 'all_sockets', 'socket_connected',
  'socket_updated', 'socket_disconnected', 'room_joined', 'room_left', 'event_received',
  'event_sent'];
const REFERENCE = 'node tests/js/reference/contract-server.mjs';
const servers = [];
after(async () => { await Promise.all(servers.map((s) => s.stop())); });

async function start(args, command) {
  try {
    const s = await startServer(args, { command });
    servers.push(s);
    return s;
  } catch (err) {
    if (/code 2\b/.test(err.message)) return null; // the front cannot honour --admin
    throw err;
  }
}

// An admin page: every admin event recorded, by name, in arrival order.
function adminClient(url, auth) {
  const socket = io(`${url}/admin-ui`, { forceNew: true, reconnection: false, auth });
  const queues = Object.fromEntries(ADMIN_EVENTS.map((e) => [e, new Queue(e)]));
  const all = [];
  socket.onAny((event, ...args) => {
    if (queues[event]) {
      queues[event].push(args);
      all.push([event, args]);
    }
  });
  return { socket, queues, all };
}

function connected(socket, ms = 5000) {
  return withTimeout(new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), ms, 'connect');
}

// The next item of q that pred accepts (others are dropped: events of other sockets).
async function nextMatching(q, pred, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const item = await q.next(Math.max(1, end - Date.now()));
    if (pred(item)) return item;
  }
}

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// The whole scenario against one server; returns what the admin page saw, for the comparison.
async function scenario(url) {
  const admin = adminClient(url);
  await connected(admin.socket);
  const [config] = await admin.queues.config.next();
  assert.deepEqual(new Set(config.supportedFeatures), new Set(['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT',
    'MJOIN', 'MLEAVE', 'MDISCONNECT', 'AGGREGATED_EVENTS', 'ALL_EVENTS']));
  const [sockets] = await admin.queues.all_sockets.next();
  assert.ok(Array.isArray(sockets));
  assert.ok(sockets.some((s) => s.nsp === '/admin-ui' && s.id === admin.socket.id), 'the page itself');
  const [stats] = await admin.queues.server_stats.next(4000);
  for (const k of ['serverId', 'hostname']) assert.equal(typeof stats[k], 'string', k);
  for (const k of ['pid', 'uptime', 'clientsCount', 'pollingClientsCount'])
    assert.equal(typeof stats[k], 'number', k);
  assert.ok(Array.isArray(stats.aggregatedEvents));
  assert.ok(stats.namespaces.some((n) => n.name === '/' && typeof n.socketsCount === 'number'));
  assert.ok(stats.namespaces.some((n) => n.name === '/admin-ui' && n.socketsCount >= 1));

  // A client of "/": polling, then the upgrade.
  const client = io(url, { forceNew: true, reconnection: false });
  await connected(client);
  const id = client.id;
  const joinedOwn = await nextMatching(admin.queues.room_joined, (a) => a[2] === id);
  assert.deepEqual(joinedOwn.slice(0, 3), ['/', id, id]);
  const [sock, when] = await nextMatching(admin.queues.socket_connected, (a) => a[0].id === id);
  assert.match(when, ISO_DATE);
  assert.equal(sock.nsp, '/');
  assert.equal(sock.transport, 'polling');
  assert.equal(typeof sock.clientId, 'string');
  assert.deepEqual(sock.rooms, [id]);
  assert.deepEqual(sock.data, {});
  for (const k of ['address', 'headers', 'query', 'issued', 'secure', 'time', 'url', 'xdomain'])
    assert.ok(k in sock.handshake, `handshake.${k}`);
  assert.ok(!('auth' in sock.handshake), 'the auth payload is never shown');
  assert.equal(sock.handshake.query.EIO, '4');

  if (client.io.engine.transport.name !== 'websocket')
    await withTimeout(new Promise((r) => client.io.engine.once('upgrade', r)), 5000, 'upgrade');
  const acked = await withTimeout(client.emitWithAck('join', 'r1'), 5000, 'join ack');
  assert.deepEqual(acked, [id, 'r1'].sort());
  const [updated] = await nextMatching(admin.queues.socket_updated, (a) => a[0].id === id);
  assert.deepEqual(updated, { id, nsp: '/', transport: 'websocket' });
  const received = await nextMatching(admin.queues.event_received, (a) => a[1] === id && a[2][0] === 'join');
  assert.deepEqual(received.slice(0, 3), ['/', id, ['join', 'r1']]);
  assert.match(received[3], ISO_DATE);
  assert.deepEqual((await nextMatching(admin.queues.room_joined, (a) => a[1] === 'r1')).slice(0, 3),
    ['/', 'r1', id]);
  client.emit('message', 'hi', { n: 1 });
  const sent = await nextMatching(admin.queues.event_sent, (a) => a[1] === id && a[2][0] === 'message-back');
  assert.deepEqual(sent.slice(0, 3), ['/', id, ['message-back', 'hi', { n: 1 }]]);

  // The UI's operations, on the client's own-id room.
  admin.socket.emit('leave', '/', 'r1', id);
  assert.deepEqual((await nextMatching(admin.queues.room_left, (a) => a[1] === 'r1')).slice(0, 3),
    ['/', 'r1', id]);
  admin.socket.emit('join', '/', 'r2', id);
  assert.deepEqual((await nextMatching(admin.queues.room_joined, (a) => a[1] === 'r2')).slice(0, 3),
    ['/', 'r2', id]);
  // emit: to the room r2 of "/", which the client is in now.
  const pushed = withTimeout(new Promise((r) => client.once('from-admin', (...a) => r(a))), 5000, 'from-admin');
  admin.socket.emit('emit', '/', 'r2', 'from-admin', 1, { two: 2 });
  assert.deepEqual(await pushed, [1, { two: 2 }]);
  const reason = withTimeout(new Promise((r) => client.once('disconnect', r)), 5000, 'disconnect');
  admin.socket.emit('_disconnect', '/', false, id);
  assert.equal(await reason, 'io server disconnect');
  const gone = await nextMatching(admin.queues.socket_disconnected, (a) => a[1] === id);
  assert.deepEqual(gone.slice(0, 3), ['/', id, 'server namespace disconnect']);
  client.close();
  // The aggregates of what happened (the next server_stats after it).
  let types = new Set();
  for (let i = 0; i < 3 && !types.has('packetsIn'); i++) {
    const [s] = await admin.queues.server_stats.next(4000);
    types = new Set(s.aggregatedEvents.map((e) => e.type));
  }
  for (const t of ['rawConnection', 'packetsIn', 'bytesIn', 'packetsOut']) assert.ok(types.has(t), t);
  admin.socket.close();
  return admin.all;
}

// What a value looks like: its type, an object's keys with theirs, an array's element shapes.
// Headers, query and data vary with the server (values), so only their kind is kept.
function shape(v, key) {
  if (['headers', 'query', 'data'].includes(key)) return typeof v;
  if (Array.isArray(v)) return ['array', ...new Set(v.map((x) => JSON.stringify(shape(x))))].sort();
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k], k)]));
  }
  return typeof v;
}

function shapes(all) {
  const out = {};
  for (const [event, args] of all) {
    if (event === 'server_stats') args[0].aggregatedEvents = []; // their mix depends on timing
    (out[event] ||= new Set()).add(JSON.stringify(shape(args)));
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

describe('admin UI server side (--admin)', () => {
  let seen = null;
  test('the UI protocol with socket.io-client 4.8', async (t) => {
    const server = await start(['--admin']);
    if (!server) return t.skip('this server exits 2 for --admin');
    seen = await scenario(server.url);
  });

  test('the admin events have the shapes of the Node reference (instrument())', async (t) => {
    if (!seen) return t.skip('no run of the server under test');
    if ((process.env.SIO_SERVER || '').includes('reference')) return t.skip('the reference itself');
    const ref = await start(['--admin'], REFERENCE);
    const refSeen = await scenario(ref.url);
    const a = shapes(seen), b = shapes(refSeen);
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const k of Object.keys(b)) assert.deepEqual(a[k], b[k], k);
  });
});

describe('admin UI basic auth (--admin-auth USER:BCRYPT)', () => {
  for (const prefix of ['$2a$', '$2b$']) {
    test(`a ${prefix} hash: wrong password refused, right one gives a session that logs in again`, async (t) => {
      const hash = prefix + bcrypt.hashSync('s3cret', 4).slice(4);
      const server = await start(['--admin-auth', `admin:${hash}`]);
      if (!server) return t.skip('this server exits 2 for --admin-auth');
      for (const auth of [{ username: 'admin', password: 'wrong' }, { username: 'root', password: 's3cret' },
        {}, { sessionId: 'deadbeefdeadbeef' }]) {
        const bad = adminClient(server.url, auth);
        await assert.rejects(connected(bad.socket), (err) => err.message === 'invalid credentials',
          JSON.stringify(auth));
        bad.socket.close();
      }
      const good = adminClient(server.url, { username: 'admin', password: 's3cret' });
      await connected(good.socket);
      const [sessionId] = await good.queues.session.next();
      assert.match(sessionId, /^[0-9a-f]{16}$/);
      await good.queues.config.next();
      good.socket.close();
      const again = adminClient(server.url, { sessionId });
      await connected(again.socket);
      await again.queues.config.next();
      again.socket.close();
    });
  }
});

describe('siod --admin USER:BCRYPTHASH / --admin-no-auth (every server of the script, on /admin)', () => {
  const SIOD = 'build/siod examples/chat/server.lua';
  const have = fs.existsSync(path.join(REPO_ROOT, 'build', 'siod')) &&
    fs.existsSync(path.join(REPO_ROOT, 'examples', 'node_modules', 'socket.io-client'));
  test('basic auth against the hash', { skip: !have && 'no build/siod or examples/node_modules' }, async () => {
    const hash = bcrypt.hashSync('pw', 4);
    const server = await start(['--admin', `admin:${hash}`], SIOD);
    const page = (auth) => io(`${server.url}/admin`, { forceNew: true, reconnection: false, auth });
    const bad = page({ username: 'admin', password: 'nope' });
    await assert.rejects(connected(bad), (err) => err.message === 'invalid credentials');
    bad.close();
    const ok = page({ username: 'admin', password: 'pw' });
    const config = new Promise((r) => ok.once('config', r));
    await connected(ok);
    assert.ok((await withTimeout(config, 5000, 'config')).supportedFeatures.includes('ALL_EVENTS'));
    ok.close();
  });
  test('no auth', { skip: !have && 'no build/siod or examples/node_modules' }, async () => {
    const server = await start(['--admin-no-auth'], SIOD);
    const s = io(`${server.url}/admin`, { forceNew: true, reconnection: false });
    const stats = new Promise((r) => s.once('server_stats', r));
    await connected(s);
    assert.ok((await withTimeout(stats, 5000, 'server_stats')).namespaces.some((n) => n.name === '/admin'));
    s.close();
  });
});

// Across a Redis cluster (--redis): the page on node A is told about node B as Node's admin-ui
// does (its server_stats and socket events broadcast through the adapter, all_sockets from every
// node through fetchSockets), and its _disconnect reaches a client of node B. Node B is this
// server, or the Node reference (a sio + Node cluster).
describe('admin UI across a Redis cluster', () => {
  const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
  let redis;
  after(async () => { if (redis) await redis.stop(); });
  for (const other of ['same', 'node']) {
    test(`a page on this server sees node B (${other === 'node' ? 'the Node reference' : 'this server'})`,
      { skip: !HAVE_REDIS && 'redis-server is not installed' }, async (t) => {
        redis ||= await startRedis();
        const a = await start(['--admin', '--redis', redis.url]);
        if (!a) return t.skip('this server exits 2 for --admin');
        const b = await start(['--admin', '--redis', redis.url], other === 'node' ? REFERENCE : undefined);
        const client = io(b.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
        await connected(client);
        const page = adminClient(a.url);
        await connected(page.socket);
        const [sockets] = await page.queues.all_sockets.next();
        const listed = sockets.find((s) => s.id === client.id);
        assert.ok(listed, 'node B\'s client in all_sockets');
        assert.equal(listed.nsp, '/');
        assert.equal(listed.transport, 'websocket');
        assert.deepEqual(listed.rooms, [client.id]);
        await nextMatching(page.queues.server_stats, ([s]) => s.pid === b.pid, 6000);
        client.emit('message', 'x');
        await nextMatching(page.queues.event_received, (e) => e[1] === client.id);
        const reason = withTimeout(new Promise((r) => client.once('disconnect', r)), 5000, 'disconnect');
        const id = client.id; // (the client forgets it once disconnected)
        page.socket.emit('_disconnect', '/', false, id);
        assert.equal(await reason, 'io server disconnect');
        await nextMatching(page.queues.socket_disconnected, (e) => e[1] === id);
        page.socket.close();
        await Promise.all([a.stop(), b.stop()]);
      });
  }
});
