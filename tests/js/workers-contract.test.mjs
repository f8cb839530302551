// The contract server with --workers 2 (N event loops in one process, one port: sio.h "Workers"),
// in whatever language SIO_SERVER names (CI runs this file once per language: c, python, lua).
// Every row of the contract (sio-contract-tests.mjs) for socket.io-client 4.8 over websocket and
// polling-only and 2.x against --allow-eio3; then what is particular to workers: fresh polling
// clients spread over both workers (an Engine.IO sid's first character names its worker) while
// their requests, each on a connection of its own, land on either worker (handed to the owner);
// broadcasts from one worker's socket reach every socket of every worker exactly once and in
// order; rooms and count span the workers.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { sleep } from './helpers.mjs';
import { kindName, connectClient, closeManager } from './sio-helpers.mjs';
import { contractTests } from './sio-contract-tests.mjs';

const WORKERS = ['--workers', '2'];
const KINDS = [
  { version: 4, transports: ['websocket'] },
  { version: 4, transports: ['polling'] },
  { version: 2, transports: ['polling'] },
];

for (const kind of KINDS) {
  const needs = kind.version === 2 ? ' against --allow-eio3' : '';
  describe(`--workers 2: ${kindName(kind)}${needs}`, { timeout: 120000 }, () => contractTests(kind, WORKERS));
}

// The worker an Engine.IO sid names (its first character; the same alphabet as the sids).
function workerOf(c) {
  return c.engine.id[0];
}

describe('--workers 2: across workers', { timeout: 120000 }, () => {
  let server;
  const managers = [];

  async function clients(n, kind) {
    const cs = [];
    // one at a time: each a fresh connection, so the kernel spreads them (SO_REUSEPORT)
    for (let i = 0; i < n; i++) {
      const c = await connectClient(server.url, kind);
      managers.push(c.manager);
      cs.push(c);
    }
    return cs;
  }

  async function release(cs) {
    await Promise.all(cs.map((c) => closeManager(c.manager)));
  }

  before(async () => { server = await startServer(WORKERS); });
  after(async () => {
    await Promise.all(managers.map((m) => closeManager(m)));
    if (server) await server.stop();
  });

  test('bad --workers values exit 2 with a message', async () => {
    for (const bad of ['0', 'x', '65']) {
      await assert.rejects(startServer(['--workers', bad]), (err) => {
        assert.match(String(err.message), /code 2\b/, err.message);
        return true;
      }, `--workers ${bad}`);
    }
  });

  test('polling clients: both workers own sessions, every request answered wherever it lands', async () => {
    const kind = { version: 4, transports: ['polling'] };
    const cs = await clients(24, kind);
    try {
      const owners = new Set(cs.map(workerOf));
      assert.equal(owners.size, 2, `sessions on workers ${[...owners]}`);
      // each polling request is a fresh connection here (no keep-alive between GET and POST
      // landing on one worker): acks come back through the owner's session
      const answers = await Promise.all(cs.map((c, i) => c.ack('message-with-ack', i, 'p')));
      answers.forEach((a, i) => assert.deepEqual(a, [i, 'p']));
      const [n] = await cs[0].ack('count');
      assert.ok(n >= cs.length, `count ${n} counts every worker's sockets`);
    } finally {
      await release(cs);
    }
  });

  test('websocket clients on both workers: broadcasts exactly once each, in order', async () => {
    const kind = { version: 4, transports: ['websocket'] };
    const cs = await clients(16, kind);
    try {
      const owners = new Set(cs.map(workerOf));
      assert.equal(owners.size, 2, `sessions on workers ${[...owners]}`);
      const token = Math.random().toString(36).slice(2);
      const N = 30;
      for (let k = 0; k < N; k++) cs[k % 2].emit('broadcast', token, k % 2, k);
      await Promise.all(cs.map(async (c, i) => {
        const got = [];
        for (let k = 0; k < N; k++) got.push(await c.next('broadcast', 10000));
        // two senders: each one's broadcasts in its own order
        for (const from of [0, 1]) {
          const seq = got.filter((a) => a[0] === token && a[1] === from).map((a) => a[2]);
          const want = Array.from({ length: N }, (_, k) => k).filter((k) => k % 2 === from);
          assert.deepEqual(seq, want, `client ${i} (worker ${workerOf(c)}) from sender ${from}`);
        }
      }));
      await sleep(300);
      cs.forEach((c, i) => assert.deepEqual(c.pending('broadcast'), [], `client ${i}: a duplicate`));
    } finally {
      await release(cs);
    }
  });

  test('rooms span the workers: to-room and to-room-others', async () => {
    const kind = { version: 4, transports: ['websocket'] };
    const cs = await clients(8, kind);
    try {
      const room = `r-${Math.random().toString(36).slice(2)}`;
      const members = cs.slice(0, 6);
      for (const c of members) await c.ack('join', room);
      assert.ok(new Set(members.map(workerOf)).size === 2 || new Set(cs.map(workerOf)).size === 2,
        'members or clients on both workers');
      cs[0].emit('to-room-others', room, 'x');
      cs[7].emit('to-room', room, 'y');
      for (const [i, c] of cs.entries()) {
        if (i < 6) {
          const want = i === 0 ? [[room, 'y']] : [[room, 'x'], [room, 'y']];
          const got = [];
          for (let k = 0; k < want.length; k++) got.push(await c.next('room-message'));
          assert.deepEqual(got.sort(), want.sort(), `member ${i}`);
        }
      }
      await sleep(200);
      cs.forEach((c, i) => assert.deepEqual(c.pending('room-message'), [], `client ${i}`));
    } finally {
      await release(cs);
    }
  });

  test('count spans the workers', async () => {
    const kind = { version: 4, transports: ['websocket'] };
    const first = await clients(1, kind);
    const [before] = await first[0].ack('count');
    const more = await clients(9, kind);
    try {
      assert.ok(new Set([...first, ...more].map(workerOf)).size === 2, 'clients on both workers');
      for (const c of [first[0], more[8]]) assert.deepEqual(await c.ack('count'), [before + 9]);
    } finally {
      await release([...first, ...more]);
    }
  });

  test('ask and disconnect-me from a socket of either worker', async () => {
    const kind = { version: 4, transports: ['polling'] };
    const cs = await clients(6, kind);
    try {
      for (const c of cs) {
        c.socket.once('question', (x, cb) => cb(x, workerOf(c)));
        const [res] = await c.ack('ask', 'question', 7);
        assert.deepEqual(res, { ok: true, args: [7, workerOf(c)] });
      }
      const last = cs[cs.length - 1];
      last.emit('disconnect-me');
      assert.equal(await last.disconnects.next(), 'io server disconnect');
    } finally {
      await release(cs);
    }
  });
});
