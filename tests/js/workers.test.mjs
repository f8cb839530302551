// Workers (sio.h "Workers"; the contract server's --workers N): N event loops in one process on one
// port. The engine's sid names its worker (its first character: A = worker 0, B = worker 1, ...),
// so a test can see where a session lives. Checks that SO_REUSEPORT spreads connections, that a
// polling session's requests landing on the other worker are handed to the owner (every request
// here is on a fresh connection, so about half of them land on the wrong worker), that the
// in-process adapter carries broadcasts (exactly once, in order), rooms, except, acks,
// fetchSockets, counts and disconnectSockets across workers, and that bad sids get the normal
// errors. The server is SIO_SERVER's (the C contract server by default); one that refuses
// --workers (a front without it yet) skips the file.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { makeCertificates } from './tls-helpers.mjs';
import { httpRequest, parseOpenPacket, sleep, startRedis } from './helpers.mjs';
import msgpackParser from 'socket.io-msgpack-parser';
import { closeManager, connectClient } from './sio-helpers.mjs';

const WORKERS = 2;
const WS = { version: 4, transports: ['websocket'] };
const POLLING = { version: 4, transports: ['polling'] };
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const workerOf = (sid) => ALPHABET.indexOf(sid[0]);

let server;
let skip = false;

before(async () => {
  try {
    server = await startServer(['--workers', String(WORKERS)]);
  } catch (err) {
    skip = `the server refused --workers: ${err.message}`;
  }
});

after(async () => {
  if (server) {
    const st = await server.stop();
    assert.equal(st.code, 0, `exit status ${JSON.stringify(st)}; stderr: ${server.stderr}`);
  }
});

// Clients on distinct connections until both workers have some (SO_REUSEPORT hashes the 4-tuple).
async function clientsOnBoth(n, kind = WS) {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await connectClient(server.url, kind));
  return clients;
}

// Sockets of earlier tests may still be closing on the server: waits until `count` says `want`.
async function countUntil(client, want, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const [got] = await client.ack('count');
    if (got === want || Date.now() > deadline) return got;
    await sleep(50);
  }
}

async function closeAll(clients) {
  await Promise.all(clients.map((c) => closeManager(c.manager)));
}

const sioPath = (q) => `/socket.io/?EIO=4&transport=polling${q}`;

async function pollingSession(port) {
  const res = await httpRequest(port, { path: sioPath('') });
  assert.equal(res.status, 200, res.text);
  return parseOpenPacket(res.text).sid;
}

describe('workers', () => {
  test('SO_REUSEPORT spreads connections over every worker, and count sees them all', async (t) => {
    if (skip) return t.skip(skip);
    const clients = await clientsOnBoth(40);
    try {
      const per = new Array(WORKERS).fill(0);
      for (const c of clients) per[workerOf(c.engine.id)]++;
      for (let w = 0; w < WORKERS; w++) assert.ok(per[w] > 0, `worker ${w} got none of 40: ${per}`);
      for (const c of [clients[0], clients[clients.length - 1]]) assert.equal(await countUntil(c, 40), 40);
    } finally {
      await closeAll(clients);
    }
  });

  test('polling sessions whose requests land on the other worker: handshake, POST, GET, upgrade', async (t) => {
    if (skip) return t.skip(skip);
    const port = server.port;
    const owners = new Set();
    for (let i = 0; i < 30; i++) {
      const sid = await pollingSession(port);
      owners.add(workerOf(sid));
      const q = `&sid=${sid}`;
      const posted = await httpRequest(port, { method: 'POST', path: sioPath(q), body: '40',
        headers: { 'content-type': 'text/plain;charset=UTF-8' } });
      assert.equal(posted.status, 200, posted.text);
      assert.equal(posted.text, 'ok');
      const got = await httpRequest(port, { path: sioPath(q) });
      assert.equal(got.status, 200, got.text);
      assert.match(got.text, /^40\{"sid":"/);
      const closed = await httpRequest(port, { method: 'POST', path: sioPath(q), body: '1',
        headers: { 'content-type': 'text/plain;charset=UTF-8' } });
      assert.equal(closed.text, 'ok');
    }
    assert.equal(owners.size, WORKERS, 'sessions on every worker');
    // socket.io-client over polling, then upgraded: the upgrade GET lands anywhere too.
    const clients = await clientsOnBoth(16, { version: 4 });
    try {
      await Promise.all(clients.map((c) => c.upgraded));
      for (const c of clients) {
        assert.equal(c.engine.transport.name, 'websocket');
        const [back] = await c.ack('echo', 'x'.repeat(10));
        assert.equal(back, 'x'.repeat(10));
      }
    } finally {
      await closeAll(clients);
    }
    const polling = await clientsOnBoth(12, POLLING);
    try {
      for (const c of polling) {
        const [back] = await c.ack('echo', { n: 1 });
        assert.deepEqual(back, { n: 1 });
      }
    } finally {
      await closeAll(polling);
    }
  });

  test('TLS: polling sessions handed off with their TLS state (TLS 1.3 and 1.2), then wss', async (t) => {
    if (skip) return t.skip(skip);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-workers-tls-'));
    let s2;
    const clients = [];
    try {
      const certs = makeCertificates(dir);
      const ca = fs.readFileSync(certs.ca);
      s2 = await startServer(['--workers', '2', '--tls-cert', certs.cert, '--tls-key', certs.key]);
      const req = (method, q, body, maxVersion) => new Promise((resolve, reject) => {
        const r = https.request({ host: '127.0.0.1', port: s2.port, method, path: sioPath(q), ca,
          agent: false, maxVersion, headers: { connection: 'close', 'content-type': 'text/plain' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { text += d; });
          res.on('end', () => resolve({ status: res.statusCode, text }));
        });
        r.on('error', reject);
        r.end(body);
      });
      const owners = new Set();
      for (const maxVersion of ['TLSv1.3', 'TLSv1.2']) {
        for (let i = 0; i < 12; i++) {
          const open = await req('GET', '', undefined, maxVersion);
          assert.equal(open.status, 200, open.text);
          const sid = parseOpenPacket(open.text).sid;
          owners.add(workerOf(sid));
          const posted = await req('POST', `&sid=${sid}`, '40', maxVersion);
          assert.equal(posted.text, 'ok', `${maxVersion} POST: ${posted.status} ${posted.text}`);
          const got = await req('GET', `&sid=${sid}`, undefined, maxVersion);
          assert.match(got.text, /^40\{"sid":"/, `${maxVersion} GET`);
          assert.equal((await req('POST', `&sid=${sid}`, '1', maxVersion)).text, 'ok');
        }
      }
      assert.equal(owners.size, 2, 'sessions on both workers');
      for (let i = 0; i < 8; i++) {
        clients.push(await connectClient(s2.url, { version: 4 }, { managerOpts: { ca, agent: false } }));
      }
      await Promise.all(clients.map((c) => c.upgraded));
      for (const c of clients) assert.deepEqual(await c.ack('echo', 'tls'), ['tls']);
    } finally {
      await closeAll(clients);
      if (s2) assert.equal((await s2.stop()).code, 0, s2.stderr);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad sids get the normal errors', async (t) => {
    if (skip) return t.skip(skip);
    const port = server.port;
    for (const sid of ['9' + 'a'.repeat(19), '_' + 'a'.repeat(19), 'B' + 'a'.repeat(18), 'A'.repeat(21), 'Z']) {
      const res = await httpRequest(port, { path: sioPath(`&sid=${sid}`) });
      assert.equal(res.status, 400, sid);
      assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' }, sid);
    }
  });

  test('broadcasts from one worker reach every socket exactly once, in order', async (t) => {
    if (skip) return t.skip(skip);
    const clients = await clientsOnBoth(12);
    const N = 1000;
    try {
      const seen = clients.map(() => []);
      const done = clients.map((c, i) => new Promise((resolve) => {
        c.socket.on('broadcast', (n) => {
          seen[i].push(n);
          if (n === N) resolve();
        });
      }));
      const sender = clients[0];
      for (let i = 1; i <= N; i++) sender.emit('broadcast', i);
      await Promise.race([Promise.all(done), sleep(15000)]);
      await sleep(200); // anything duplicated would come now
      const want = Array.from({ length: N }, (_, i) => i + 1);
      for (let i = 0; i < clients.length; i++)
        assert.deepEqual(seen[i], want, `client ${i} (worker ${workerOf(clients[i].engine.id)})`);
    } finally {
      await closeAll(clients);
    }
  });

  test('binary broadcasts across workers, with the JSON and the msgpack parser', async (t) => {
    if (skip) return t.skip(skip);
    const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
    for (const parserArgs of [[], ['--parser', 'msgpack']]) {
      const s2 = parserArgs.length ? await startServer(['--workers', '2', ...parserArgs]) : server;
      const managerOpts = parserArgs.length ? { parser: msgpackParser } : undefined;
      const clients = [];
      try {
        for (let i = 0; i < 10; i++) clients.push(await connectClient(s2.url, WS, { managerOpts }));
        assert.equal(new Set(clients.map((c) => workerOf(c.engine.id))).size, 2, 'both workers');
        clients[0].emit('broadcast', 'bin', buf, { nested: [buf, 'x'] });
        for (const c of clients) {
          const [tag, b, o] = await c.next('broadcast');
          assert.equal(tag, 'bin');
          assert.deepEqual(Buffer.from(b), buf);
          assert.deepEqual(Buffer.from(o.nested[0]), buf);
          assert.equal(o.nested[1], 'x');
        }
      } finally {
        await closeAll(clients);
        if (s2 !== server) assert.equal((await s2.stop()).code, 0, s2.stderr);
      }
    }
  });

  test('rooms and except across workers', async (t) => {
    if (skip) return t.skip(skip);
    const clients = await clientsOnBoth(10);
    try {
      const members = clients.filter((_, i) => i % 2 === 0);
      for (const c of members) await c.ack('join', 'r1');
      const from = members[members.length - 1];
      from.emit('to-room-others', 'r1', 'hi');
      for (const c of members) {
        if (c === from) continue;
        const [room, text] = await c.next('room-message');
        assert.deepEqual([room, text], ['r1', 'hi']);
      }
      await sleep(200);
      for (const c of clients) {
        if (!members.includes(c) || c === from) assert.equal(c.pending('room-message').length, 0);
      }
      const [rooms] = await clients[1].ack('all-rooms');
      assert.ok(rooms.includes('r1'), JSON.stringify(rooms));
      // allRooms spans the workers: a room whose one member is on another worker than the asker.
      const lone = clients.find((c) => workerOf(c.engine.id) !== workerOf(clients[0].engine.id));
      if (lone) {
        await lone.ack('join', 'lone-room');
        const [all] = await clients[0].ack('all-rooms');
        assert.ok(all.includes('lone-room') && all.includes('r1'), JSON.stringify(all));
      }
    } finally {
      await closeAll(clients);
    }
  });

  test('broadcast with acks, fetchSockets, socketsJoin, disconnectSockets across workers', async (t) => {
    if (skip) return t.skip(skip);
    const clients = await clientsOnBoth(10);
    try {
      assert.equal(await countUntil(clients[0], clients.length), clients.length);
      for (let i = 0; i < clients.length; i++) clients[i].socket.on('ack-me', (x, cb) => cb(`${x}-${i}`));
      const [res] = await clients[3].ack('broadcast-ack', 'q');
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.deepEqual(res.responses, clients.map((_, i) => `q-${i}`).sort());
      const [sockets] = await clients[0].ack('fetch-sockets');
      assert.deepEqual(sockets.map((s) => s.id).sort(), clients.map((c) => c.id).sort());
      const [joined] = await clients[1].ack('sockets-join', clients[7].id, 'picked');
      assert.equal(joined, true);
      const [sockets2] = await clients[2].ack('fetch-sockets');
      const picked = sockets2.find((s) => s.id === clients[7].id);
      assert.ok(picked.rooms.includes('picked'), JSON.stringify(picked));
      const victim = clients[9];
      const [ok] = await clients[0].ack('disconnect-sockets', victim.id);
      assert.equal(ok, true);
      assert.equal(await victim.disconnects.next(5000), 'io server disconnect');
      const [n] = await clients[0].ack('count');
      assert.equal(n, clients.length - 1);
    } finally {
      await closeAll(clients);
    }
  });

  test('with --redis, Redis is the bus: each worker a node, counts and broadcasts span them', async (t) => {
    if (skip) return t.skip(skip);
    if (spawnSync('redis-server', ['--version']).status !== 0) return t.skip('redis-server is not installed');
    const redis = await startRedis();
    let s2;
    const clients = [];
    try {
      s2 = await startServer(['--workers', '2', '--redis', redis.url]);
      for (let i = 0; i < 8; i++) clients.push(await connectClient(s2.url, WS));
      const per = new Set(clients.map((c) => workerOf(c.engine.id)));
      assert.equal(per.size, 2, 'clients on both workers');
      assert.equal(await countUntil(clients[0], 8, 8000), 8);
      clients[1].emit('broadcast', 'via-redis');
      for (const c of clients) assert.deepEqual(await c.next('broadcast'), ['via-redis']);
      await sleep(200);
      for (const c of clients) assert.equal(c.pending('broadcast').length, 0, 'exactly once');
    } finally {
      await closeAll(clients);
      if (s2) assert.equal((await s2.stop()).code, 0, s2.stderr);
      await redis.stop();
    }
  });

  test('stop while requests are being handed off: exit 0', async (t) => {
    if (skip) return t.skip(skip);
    const s2 = await startServer(['--workers', '4']);
    const sids = [];
    for (let i = 0; i < 8; i++) sids.push(await pollingSession(s2.port));
    // long-polls in flight (some handed to their owners), then SIGTERM
    const polls = sids.map((sid) => httpRequest(s2.port, { path: sioPath(`&sid=${sid}`) }).catch((e) => e));
    await sleep(50);
    const st = await s2.stop();
    await Promise.all(polls);
    assert.equal(st.code, 0, `exit status ${JSON.stringify(st)}; stderr: ${s2.stderr}`);
  });
});
