// Every row of the contract for one kind of socket.io client (sio-helpers.mjs kinds) against a
// contract server started with `serverArgs` added: the body of sio-clients.test.mjs, shared with
// workers.test.mjs (the same rows with --workers 2).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { SID_RE, sleep, withTimeout } from './helpers.mjs';
import {
  UNICODE_STRINGS, randomBuffer, assertSameData, connectOn, connectClient, closeManager, assertNoEvent,
  openManager, kindName,
} from './sio-helpers.mjs';


// Tests where shared/reference-behaviour.md asks our server to do better
// than the Node reference are skipped when env SIO_REFERENCE=1 is set.
export const REFERENCE = process.env.SIO_REFERENCE === '1';

// A 64 KiB-per-buffer payload with buffers at several depths.
function deepBinary() {
  return [
    {
      label: 'nested',
      top: randomBuffer(64 * 1024),
      inner: { list: [1, randomBuffer(64 * 1024), 'text 中文', { deeper: randomBuffer(64 * 1024) }] },
    },
    [randomBuffer(17), 'between', randomBuffer(0)],
    randomBuffer(64 * 1024),
  ];
}

export function contractTests(kind, serverArgs = []) {
  const v2 = kind.version === 2;
  let server;
  let url;
  let main; // a client of `/` kept for the whole block
  const managers = []; // every manager opened here, closed at the end

  // A new client of this kind on its own connection (closed in after()).
  async function client(opts = {}) {
    const c = await connectClient(url, kind, opts);
    managers.push(c.manager);
    return c;
  }

  async function clients(n, opts) {
    return Promise.all(Array.from({ length: n }, () => client(opts)));
  }

  async function release(...cs) {
    await Promise.all(cs.flat().map((c) => closeManager(c.manager)));
  }

  // The server's id of this socket, as the contract reports it in rooms.
  function serverId(c) {
    return c.id;
  }

  before(async () => {
    server = await startServer([...(v2 ? ['--allow-eio3'] : []), ...serverArgs]);
    url = server.url;
    main = await client(v2 ? {} : { auth: { token: 'main', n: 1, nested: { ok: true } } });
  });

  after(async () => {
    await Promise.all(managers.map((m) => closeManager(m)));
    if (server) await server.stop();
  });

  test('connects over the expected transport', async () => {
    if (kind.transports) {
      assert.equal(main.engine.transport.name, kind.transports[0]);
    } else {
      assert.equal(main.firstTransport, 'polling', 'a default client opens on polling');
      assert.equal(await withTimeout(main.upgraded, 5000, 'upgrade to websocket'), 'websocket');
      assert.equal(main.engine.transport.name, 'websocket');
    }
  });

  test('socket ids', () => {
    const engineId = main.engine.id;
    assert.match(engineId, SID_RE);
    if (v2) {
      // v2: the `/` socket id is the Engine.IO id
      assert.equal(main.id, engineId);
    } else {
      assert.match(main.id, SID_RE);
      assert.notEqual(main.id, engineId, 'a v4/v5 socket id is not the Engine.IO id');
    }
  });

  test('auth event on connection', async () => {
    if (v2) {
      // v2 clients cannot send an auth payload: `/` gets {}
      assert.deepEqual(await main.next('auth'), [{}]);
      // ... even when the connection has a query (that goes to the Engine.IO handshake)
      const q = await client({ query: { token: 'q', x: '1' } });
      assert.deepEqual(await q.next('auth'), [{}]);
    } else {
      assert.deepEqual(await main.next('auth'), [{ token: 'main', n: 1, nested: { ok: true } }]);
      const plain = await client();
      assert.deepEqual(await plain.next('auth'), [{}]);
      const uni = await client({ auth: { name: UNICODE_STRINGS[2], list: [1, 'two', null] } });
      assert.deepEqual(await uni.next('auth'), [{ name: UNICODE_STRINGS[2], list: [1, 'two', null] }]);
    }
  });

  test('message -> message-back with the same args', async () => {
    const args = ['text', 42, -1.5, true, false, null, { a: [1, { b: 'c' }] }, [[], {}]];
    main.emit('message', ...args);
    assert.deepEqual(await main.next('message-back'), args);
    main.emit('message');
    assert.deepEqual(await main.next('message-back'), []);
  });

  test('message-with-ack acks with the same args', async () => {
    const args = ['x', 1, { y: [2, 3] }, null];
    assert.deepEqual(await main.ack('message-with-ack', ...args), args);
    assert.deepEqual(await main.ack('message-with-ack'), []);
    await assertNoEvent(main, 'message-back', 50);
  });

  test('echo with an ack acks; without one emits echo back', async () => {
    assert.deepEqual(await main.ack('echo', 'a', 2, { c: 3 }), ['a', 2, { c: 3 }]);
    main.emit('echo', 'no ack', 7);
    assert.deepEqual(await main.next('echo'), ['no ack', 7]);
    await assertNoEvent(main, 'echo', 100);
  });

  test('Unicode text round trips (emoji, CJK, astral, escapes)', async () => {
    for (const s of UNICODE_STRINGS) {
      main.emit('message', s, { [s]: s, list: [s] });
      assert.deepEqual(await main.next('message-back'), [s, { [s]: s, list: [s] }]);
      assert.deepEqual(await main.ack('message-with-ack', s), [s]);
      assert.deepEqual(await main.ack('echo', s), [s]);
    }
    const all = UNICODE_STRINGS.join('|').repeat(200);
    assert.deepEqual(await main.ack('echo', all), [all]);
  });

  test('64 KiB binary at depth, byte-exact both ways (message-back)', async () => {
    const args = deepBinary();
    main.emit('message', ...args);
    assertSameData(await main.next('message-back', 10000), args);
  });

  test('64 KiB binary at depth, byte-exact both ways (acks)', async () => {
    const args = deepBinary();
    assertSameData(await main.ack('message-with-ack', ...args), args);
    const again = deepBinary();
    assertSameData(await main.ack('echo', ...again), again);
    // binary only as an ack argument
    const one = randomBuffer(64 * 1024);
    assertSameData(await main.ack('echo', one), [one]);
  });

  test('binary and text events interleaved keep their order', async () => {
    const sent = [];
    for (let i = 0; i < 20; i++) {
      const args = i % 3 === 0 ? [i, randomBuffer(1000 + i)] : [i, `text ${i} 😀`];
      sent.push(args);
      main.emit('message', ...args);
    }
    for (let i = 0; i < 20; i++) assertSameData(await main.next('message-back'), sent[i], `event ${i}`);
  });

  test('broadcast reaches every socket of / once, the sender too', async () => {
    const [a, b] = await clients(2);
    try {
      const token = `bc ${kindName(kind)} ${Math.random()}`;
      a.emit('broadcast', token, { n: 1 });
      for (const c of [a, b, main]) {
        // main may hold broadcasts of earlier tests: skip those
        let got;
        do { got = await c.next('broadcast'); } while (got[0] !== token);
        assert.deepEqual(got, [token, { n: 1 }]);
      }
      await sleep(150);
      for (const c of [a, b]) assert.deepEqual(c.pending('broadcast'), [], 'no duplicate');
    } finally {
      await release(a, b);
    }
  });

  test('broadcast with binary reaches other sockets byte-exact', async () => {
    const [a, b] = await clients(2);
    try {
      const buf = randomBuffer(64 * 1024);
      a.emit('broadcast', 'bin', { deep: [buf] });
      for (const c of [a, b]) assertSameData(await c.next('broadcast'), ['bin', { deep: [buf] }]);
    } finally {
      await release(a, b);
    }
  });

  test('join and leave ack the sorted rooms, own id included', async () => {
    const c = await client();
    try {
      const id = serverId(c);
      assert.deepEqual(await c.ack('join', 'room-b'), [[id, 'room-b'].sort()]);
      assert.deepEqual(await c.ack('join', 'room-a'), [[id, 'room-a', 'room-b'].sort()]);
      assert.deepEqual(await c.ack('join', 'room-a'), [[id, 'room-a', 'room-b'].sort()], 'joining twice');
      assert.deepEqual(await c.ack('join', 'Zeta 中'), [[id, 'room-a', 'room-b', 'Zeta 中'].sort()]);
      assert.deepEqual(await c.ack('leave', 'room-b'), [[id, 'room-a', 'Zeta 中'].sort()]);
      assert.deepEqual(await c.ack('leave', 'not joined'), [[id, 'room-a', 'Zeta 中'].sort()]);
      assert.deepEqual(await c.ack('leave', 'room-a'), [[id, 'Zeta 中'].sort()]);
      assert.deepEqual(await c.ack('leave', 'Zeta 中'), [[id]]);
    } finally {
      await release(c);
    }
  });

  test('to-room and to-room-others', async () => {
    const [a, b, outsider] = await clients(3);
    try {
      const room = `r-${Math.random()}`;
      await a.ack('join', room);
      await b.ack('join', room);

      a.emit('to-room', room, 'hello', { x: 1 });
      assert.deepEqual(await a.next('room-message'), [room, 'hello', { x: 1 }]);
      assert.deepEqual(await b.next('room-message'), [room, 'hello', { x: 1 }]);

      a.emit('to-room-others', room, 'others only');
      assert.deepEqual(await b.next('room-message'), [room, 'others only']);

      // a sender outside the room: the room gets it, the sender does not
      outsider.emit('to-room', room, 'from outside');
      assert.deepEqual(await a.next('room-message'), [room, 'from outside']);
      assert.deepEqual(await b.next('room-message'), [room, 'from outside']);

      const buf = randomBuffer(64 * 1024);
      b.emit('to-room-others', room, { buf });
      assertSameData(await a.next('room-message'), [room, { buf }]);

      await assertNoEvent(outsider, 'room-message', 200);
      assert.deepEqual(a.pending('room-message'), [], 'the sender of to-room-others got it');
      assert.deepEqual(b.pending('room-message'), []);
      assert.deepEqual(main.pending('room-message'), []);

      // after leaving, b gets nothing
      await b.ack('leave', room);
      a.emit('to-room', room, 'after leave');
      assert.deepEqual(await a.next('room-message'), [room, 'after leave']);
      await assertNoEvent(b, 'room-message', 200);
    } finally {
      await release(a, b, outsider);
    }
  });

  test('ask: the client answers -> {ok: true, args}', async () => {
    const seen = [];
    main.socket.on('question', (...args) => {
      const ack = args.pop();
      seen.push(args);
      ack('answer', ...args);
    });
    try {
      const [res] = await main.ack('ask', 'question', 1, 'two', { three: [3] });
      assert.deepEqual(res, { ok: true, args: ['answer', 1, 'two', { three: [3] }] });
      assert.deepEqual(seen, [[1, 'two', { three: [3] }]]);
      // with no args either way
      main.socket.off('question');
      main.socket.on('question', (ack) => ack());
      assert.deepEqual(await main.ack('ask', 'question'), [{ ok: true, args: [] }]);
    } finally {
      main.socket.off('question');
    }
  });

  test('ask: binary to the client and back in its ack', async () => {
    main.socket.on('bin-question', (payload, ack) => ack({ back: payload.buf }, payload.buf));
    try {
      const buf = randomBuffer(64 * 1024);
      const [res] = await main.ack('ask', 'bin-question', { buf });
      assert.equal(res.ok, true);
      assertSameData(res.args, [{ back: buf }, buf]);
    } finally {
      main.socket.off('bin-question');
    }
  });

  test('ask: the client does not answer -> {ok: false, error: "timeout"} after ~1 s', async () => {
    const seen = [];
    main.socket.on('ignored', (...args) => { seen.push(args.slice(0, -1)); /* no ack */ });
    try {
      const t0 = Date.now();
      const res = await main.ack('ask', 'ignored', 'x');
      const dt = Date.now() - t0;
      assert.deepEqual(res, [{ ok: false, error: 'timeout' }]);
      assert.ok(dt >= 900 && dt <= 3000, `answered after ${dt} ms`);
      assert.deepEqual(seen, [['x']]);
    } finally {
      main.socket.off('ignored');
    }
  });

  // The count of `/` once it stopped changing (sockets of earlier tests may
  // still be leaving): two equal answers 100 ms apart.
  async function settledCount() {
    let [last] = await main.ack('count');
    for (let i = 0; i < 30; i++) {
      await sleep(100);
      const [now] = await main.ack('count');
      if (now === last) return now;
      last = now;
    }
    assert.fail(`the count of / does not settle (last ${last})`);
  }

  test('count: sockets connected to /', async () => {
    const before = await settledCount();
    assert.ok(Number.isInteger(before) && before >= 1, `count ${before}`);
    const extra = await clients(3);
    assert.deepEqual(await main.ack('count'), [before + 3], 'three clients more');
    await release(extra);
    assert.equal(await settledCount(), before, 'count after the three clients left');
  });

  test('disconnect-me: the client sees "io server disconnect"', async () => {
    const c = await client();
    try {
      c.emit('disconnect-me');
      assert.equal(await c.disconnects.next(), 'io server disconnect');
      assert.equal(c.socket.connected, false);
    } finally {
      await release(c);
    }
    // the server is fine
    assert.deepEqual(await main.ack('echo', 'after disconnect-me'), ['after disconnect-me']);
  });

  test('/ and /custom multiplexed on one connection', async () => {
    const m = openManager(url, kind);
    managers.push(m);
    const opts = v2 ? { query: { user: 'ü x', n: '2' } } : { auth: { user: 'ü x', n: 2 } };
    const root = await connectOn(m, kind.version, '/', v2 ? {} : { auth: { where: 'root' } });
    const custom = await connectOn(m, kind.version, '/custom', opts);
    assert.equal(root.engine, custom.engine, 'one Manager, one engine');
    assert.deepEqual(await root.next('auth'), [v2 ? {} : { where: 'root' }]);
    assert.deepEqual(await custom.next('auth'), [v2 ? { user: 'ü x', n: '2' } : { user: 'ü x', n: 2 }]);
    if (v2) {
      assert.equal(root.id, m.engine.id);
      assert.equal(custom.id, `/custom#${m.engine.id}`);
    } else {
      assert.notEqual(root.id, custom.id);
      assert.match(custom.id, SID_RE);
    }
    // /custom has no handlers: events there get no answer, / still works
    custom.emit('message', 'ignored');
    assert.deepEqual(await root.ack('echo', 'root'), ['root']);
    await assertNoEvent(custom, 'message-back', 100);
    // leaving /custom keeps the connection and / alive
    custom.close();
    assert.deepEqual(await root.ack('echo', 'still'), ['still']);
    await closeManager(m);
  });

  test('/admin without the token is refused with "unauthorized"', async () => {
    for (const opts of v2 ? [{}, { query: { token: 'wrong' } }] : [{}, { auth: { token: 'wrong' } }, { auth: { token: 1 } }]) {
      const err = await client({ nsp: '/admin', ...opts }).then(
        () => assert.fail('connected to /admin without the token'), (e) => e);
      assert.equal(err.message, 'unauthorized');
      // v2 clients get the bare string, v4 clients an object with a message
      if (v2) assert.equal(err.data, 'unauthorized');
    }
  });

  test('/admin with token "secret" is welcomed with the socket id', async () => {
    const c = await client(v2 ? { nsp: '/admin', query: { token: 'secret' } }
      : { nsp: '/admin', auth: { token: 'secret' } });
    const [id] = await c.next('welcome');
    assert.equal(id, c.id);
    if (v2) assert.equal(id, `/admin#${c.engine.id}`);
    else assert.match(id, SID_RE);
    await release(c);
  });

  test('dynamic namespaces /dyn-[a-z0-9]+ emit nsp with their name', async () => {
    for (const name of ['/dyn-abc1', '/dyn-zz', '/dyn-abc1']) {
      const c = await client({ nsp: name });
      assert.deepEqual(await c.next('nsp'), [name]);
      await release(c);
    }
  });

  test('unknown namespaces are refused with "Invalid namespace"', async () => {
    for (const name of ['/nope', '/dyn-ABC', '/dyn-', '/custom2']) {
      const err = await client({ nsp: name }).then(
        () => assert.fail(`connected to ${name}`), (e) => e);
      assert.equal(err.message, 'Invalid namespace', name);
      // v2 too gets the object form
      if (v2) assert.deepEqual(err.data, { message: 'Invalid namespace' });
    }
    assert.deepEqual(await main.ack('echo', 'ok'), ['ok']);
  });

  if (v2) {
    test('v2: a client of /custom only is also a socket of / (counted, id = engine id)', async () => {
      const before = await settledCount();
      const c = await client({ nsp: '/custom', query: { k: 'v' } });
      try {
        assert.deepEqual(await c.next('auth'), [{ k: 'v' }]);
        assert.equal(c.id, `/custom#${c.engine.id}`);
        assert.deepEqual(await main.ack('count'), [before + 1]);
      } finally {
        await release(c);
      }
      assert.equal(await settledCount(), before, 'count after it left');
    });
  }

  test('broadcast to 50 clients arrives exactly once each', async () => {
    const many = await clients(50);
    try {
      const token = `fifty ${Math.random()}`;
      many[7].emit('broadcast', token, 7);
      await Promise.all(many.map(async (c, i) => {
        assert.deepEqual(await c.next('broadcast', 10000), [token, 7], `client ${i}`);
      }));
      await sleep(300);
      many.forEach((c, i) => assert.deepEqual(c.pending('broadcast'), [], `client ${i} got a duplicate`));
    } finally {
      await release(many);
    }
  });

  test('everything still answers after the block', async () => {
    assert.equal(main.socket.connected, true);
    assert.deepEqual(await main.ack('message-with-ack', 'end'), ['end']);
  });
}

