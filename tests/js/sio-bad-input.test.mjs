// Bad input on the Socket.IO endpoint (/socket.io/), by hand over a raw
// WebSocket (`ws`) and over HTTP long-polling: every malformed Socket.IO
// packet closes that Engine.IO connection (WebSocket: close frame without
// status, 1005; polling: the POST still gets 200 "ok", the pending GET gets
// the close packet "1", the sid is unknown afterwards), while other clients
// on the same server keep receiving every one of their messages. Plus the
// connect timeout: a Socket.IO session that sends no CONNECT within 1000 ms
// is closed; the bare /engine.io/ endpoint has no such timeout.
//
// Tests where shared/reference-behaviour.md asks our server to do better
// than the Node reference are skipped when env SIO_REFERENCE=1 is set.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import {
  openWs, parseOpenPacket, httpRequest, assertEioError, sleep, withTimeout, SID_RE,
} from './helpers.mjs';
import { connectClient, closeManager } from './sio-helpers.mjs';

const REFERENCE = process.env.SIO_REFERENCE === '1';

const sioPollPath = (sid, eio = '4') => `/socket.io/?EIO=${eio}&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ''}`;

// A raw v4 WebSocket session on /socket.io/; with connect, it sent CONNECT
// for `/` and took the reply and the `auth` event.
async function sioWs(port, { connect = true } = {}) {
  const c = await openWs(port, '/socket.io/?EIO=4&transport=websocket');
  c.handshake = parseOpenPacket(await c.messages.next());
  if (connect) {
    c.ws.send('40');
    const reply = await c.messages.next();
    assert.match(reply, /^40\{/, `CONNECT reply ${JSON.stringify(reply)}`);
    const body = JSON.parse(reply.slice(2));
    assert.deepEqual(Object.keys(body), ['sid']);
    assert.match(body.sid, SID_RE);
    assert.notEqual(body.sid, c.handshake.sid);
    assert.equal(await c.messages.next(), '42["auth",{}]');
  }
  return c;
}

async function assertSioSessionGone(port, sid) {
  let res;
  for (let i = 0; i < 20; i++) {
    res = await httpRequest(port, { path: sioPollPath(sid) });
    if (res.status === 400) break;
    await sleep(50);
  }
  assertEioError(res, 1, 'Session ID unknown');
}

// A raw v4 polling session on /socket.io/, CONNECTed to `/`.
async function sioPolling(port) {
  const res = await httpRequest(port, { path: sioPollPath() });
  assert.equal(res.status, 200);
  const hs = parseOpenPacket(res.text);
  const posted = await postSio(port, hs.sid, '40');
  assert.equal(posted.text, 'ok');
  const got = await httpRequest(port, { path: sioPollPath(hs.sid) });
  const packets = got.text.split('\x1e');
  assert.match(packets[0], /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  assert.deepEqual(packets.slice(1), ['42["auth",{}]']);
  return hs;
}

function postSio(port, sid, body) {
  return httpRequest(port, {
    method: 'POST', path: sioPollPath(sid), body, headers: { 'content-type': 'text/plain;charset=UTF-8' },
  });
}

// Malformed Socket.IO packets (as Engine.IO message payloads, after `4`),
// sent after a good CONNECT to `/`. Each closes the connection.
const MALFORMED = [
  ['EVENT data not an array: 42{}', ['42{}']],
  ['unknown packet type "a": 4abc', ['4abc']],
  ['unknown packet type 9: 49', ['49']],
  ['an empty Socket.IO packet: 4', ['4']],
  ['EVENT without a name: 42[]', ['42[]']],
  ['EVENT name null: 42[null]', ['42[null]']],
  ['reserved event name: 42["disconnect"]', ['42["disconnect"]']],
  ['truncated JSON: 42["message"', ['42["message"']],
  ['trailing garbage: 42["message"]x', ['42["message"]x']],
  ['CONNECT_ERROR from a client: 44{}', ['44{}']],
  ['a second CONNECT to a connected namespace: 40', ['40']],
  ['an EVENT to a namespace the client has not connected: 42/custom,["message"]', ['42/custom,["message"]']],
  ['an EVENT to an unknown namespace: 42/nope,["message"]', ['42/nope,["message"]']],
  ['BINARY_EVENT with 0 attachments: 450-["message"]', ['450-["message"]']],
  ['too many attachments: 451001-[...]', ['451001-["message",{"_placeholder":true,"num":0}]']],
  ['BINARY_EVENT announcing an attachment, then a text packet',
    ['451-["message",{"_placeholder":true,"num":0}]', '42["message","x"]']],
  ['a binary frame with no BINARY_EVENT announcing it', [Buffer.from([1, 2, 3])]],
  ['a binary frame after a complete BINARY_EVENT', ['451-["message",{"_placeholder":true,"num":0}]',
    Buffer.from([1]), Buffer.from([2])], ['451-["message-back",{"_placeholder":true,"num":0}]']],
  ['an Engine.IO ping from a v4 client (the server pings, not the client): 2[]', ['2[]']],
];

// Before any CONNECT.
const MALFORMED_BEFORE_CONNECT = [
  ['an EVENT before CONNECT: 42["message"]', '42["message"]'],
  ['CONNECT with a string payload: 40"token"', '40"token"'],
  ['CONNECT with an array payload: 40[]', '40[]'],
  ['ACK before CONNECT: 430[]', '430[]'],
];

describe('malformed Socket.IO packets', { timeout: 120000 }, () => {
  let server;
  let port;
  let observers = [];

  before(async () => {
    server = await startServer();
    port = server.port;
    observers = await Promise.all([['websocket'], ['polling']].map((transports) =>
      connectClient(server.url, { version: 4, transports })));
  });

  after(async () => {
    await Promise.all(observers.map((o) => closeManager(o.manager)));
    if (server) await server.stop();
  });

  // The observers send messages before and after each case, and must get
  // every message-back, in order; a fresh client must connect and echo.
  let round = 0;
  async function observed(body) {
    const tag = `round ${++round}`;
    for (const o of observers) for (let i = 0; i < 5; i++) o.emit('message', tag, i);
    await body();
    for (const o of observers) for (let i = 5; i < 10; i++) o.emit('message', tag, i);
    for (const o of observers) {
      // answers of an earlier, failed round may still be queued: skip them
      const got = [];
      while (got.length < 10) {
        const args = await o.queue('message-back').next(5000).catch((err) => {
          assert.fail(`observer on ${o.engine.transport.name}: got ${JSON.stringify(got)} of 10 (${err.message})`);
        });
        if (args[0] === tag) got.push(args);
      }
      assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => [tag, i]),
        `observer on ${o.engine.transport.name} lost or reordered messages`);
    }
  }

  afterEach(async () => {
    if (server.exitStatus) {
      assert.fail(`the server process exited: ${JSON.stringify(server.exitStatus)}\n${server.stderr.slice(-2000)}`);
    }
    const c = await connectClient(server.url, { version: 4, transports: ['websocket'] });
    try {
      assert.deepEqual(await c.ack('echo', 'alive'), ['alive']);
    } finally {
      await closeManager(c.manager);
    }
  });

  describe('WebSocket, after CONNECT: the connection is closed (1005)', () => {
    for (const [name, frames, expectFirst = []] of MALFORMED) {
      test(name, async () => {
        await observed(async () => {
          const c = await sioWs(port);
          for (const f of frames) c.ws.send(f);
          const { code } = await withTimeout(c.closed, 3000, 'close after a malformed packet');
          assert.equal(code, 1005);
          // a good packet before the bad one may have been answered
          const got = c.messages.items.map((m) => (typeof m === 'string' ? m : '<binary>'));
          const allowed = [...expectFirst, '<binary>'];
          assert.ok(got.every((m) => allowed.includes(m)), `got ${JSON.stringify(got)}`);
          await assertSioSessionGone(port, c.handshake.sid);
        });
      });
    }
  });

  describe('WebSocket, before CONNECT: the connection is closed (1005)', () => {
    for (const [name, packet] of MALFORMED_BEFORE_CONNECT) {
      test(name, async () => {
        await observed(async () => {
          const c = await sioWs(port, { connect: false });
          c.ws.send(packet);
          const { code } = await withTimeout(c.closed, 3000, 'close after a malformed packet');
          assert.equal(code, 1005);
          assert.deepEqual(c.messages.items, []);
          await assertSioSessionGone(port, c.handshake.sid);
        });
      });
    }
  });

  describe('well-formed packets by hand are answered (controls)', () => {
    test('a BINARY_EVENT with one attachment gets a BINARY_EVENT back', async () => {
      const c = await sioWs(port);
      try {
        c.ws.send('451-["message",{"_placeholder":true,"num":0},"x"]');
        c.ws.send(Buffer.from([1, 2, 3]));
        assert.equal(await c.messages.next(), '451-["message-back",{"_placeholder":true,"num":0},"x"]');
        assert.deepEqual(await c.messages.next(), Buffer.from([1, 2, 3]));
      } finally {
        await c.close();
      }
    });

    test('two attachments announced out of order come back with the right bytes', async () => {
      const c = await sioWs(port);
      try {
        c.ws.send('452-["message",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]');
        c.ws.send(Buffer.from([0xa0]));
        c.ws.send(Buffer.from([0xb1, 0xb1]));
        // the args were [<b1 b1>, <a0>]; the numbering of the reply is the server's
        const head = await c.messages.next();
        const m = /^452-(\[.*\])$/.exec(head);
        assert.ok(m, `reply ${JSON.stringify(head)}`);
        const bufs = [await c.messages.next(), await c.messages.next()];
        const [ev, p0, p1] = JSON.parse(m[1]);
        assert.equal(ev, 'message-back');
        assert.deepEqual(bufs[p0.num], Buffer.from([0xb1, 0xb1]));
        assert.deepEqual(bufs[p1.num], Buffer.from([0xa0]));
      } finally {
        await c.close();
      }
    });

    test('an ack with binary: 451-3["echo",<bin>] -> 461-3[<bin>]', async () => {
      const c = await sioWs(port);
      try {
        c.ws.send('451-3["echo",{"_placeholder":true,"num":0}]');
        c.ws.send(Buffer.from([9]));
        assert.equal(await c.messages.next(), '461-3[{"_placeholder":true,"num":0}]');
        assert.deepEqual(await c.messages.next(), Buffer.from([9]));
      } finally {
        await c.close();
      }
    });

    test('41 leaves / but keeps the Engine.IO session; a new 40 connects again', async () => {
      const c = await sioWs(port);
      try {
        c.ws.send('41');
        await sleep(1300); // longer than the connect timeout
        assert.equal(c.ws.readyState, 1, 'the session stays open');
        c.ws.send('40');
        assert.match(await c.messages.next(), /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
        assert.equal(await c.messages.next(), '42["auth",{}]');
        c.ws.send('42["message","back again"]');
        assert.equal(await c.messages.next(), '42["message-back","back again"]');
      } finally {
        await c.close();
      }
    });
  });

  describe('polling: a bad packet in a POST gets "ok", the pending GET gets "1", the session ends', () => {
    for (const body of ['42{}', '4abc', '49', '42/custom,["message"]', '42[]', '40']) {
      test(`POST ${JSON.stringify(body)}`, async () => {
        await observed(async () => {
          const hs = await sioPolling(port);
          const pending = httpRequest(port, { path: sioPollPath(hs.sid) });
          await sleep(100);
          const res = await postSio(port, hs.sid, body);
          assert.equal(res.status, 200);
          assert.equal(res.text, 'ok');
          const got = await withTimeout(pending, 3000, 'pending GET');
          assert.equal(got.status, 200);
          assert.equal(got.text, '1');
          await assertSioSessionGone(port, hs.sid);
        });
      });
    }

    test('a bad packet after good ones in one POST still ends the session', async () => {
      await observed(async () => {
        const hs = await sioPolling(port);
        const res = await postSio(port, hs.sid, '42["message","a"]\x1e42{}\x1e42["message","b"]');
        assert.equal(res.status, 200);
        assert.equal(res.text, 'ok');
        // whatever the session still delivers, it ends with the close packet
        // (the reference may send a noop "6" first, or lose the answer to "a")
        const got = await httpRequest(port, { path: sioPollPath(hs.sid) });
        if (got.status === 200) {
          const packets = got.text.split('\x1e');
          assert.ok(packets.every((p) => ['1', '6', '42["message-back","a"]'].includes(p)),
            `GET got ${JSON.stringify(got.text)}`);
        }
        await assertSioSessionGone(port, hs.sid);
      });
    });
  });

  // shared/reference-behaviour.md: the reference crashes (stack overflow in
  // its binary check); ours must survive.
  test('a deeply nested argument (100k levels) does not bring the server down',
    { skip: REFERENCE && 'the reference crashes on this (reference-behaviour.md: do better)' }, async () => {
      await observed(async () => {
        const c = await sioWs(port);
        try {
          const depth = 100000;
          c.ws.send(`42["message",${'['.repeat(depth)}${']'.repeat(depth)}]`);
          // either answered or the connection closed; the server lives on
          const outcome = await Promise.race([
            c.messages.next(5000).then((m) => `answered ${String(m).slice(0, 20)}`),
            c.closed.then(({ code }) => `closed ${code}`),
          ]).catch((err) => `nothing: ${err.message}`);
          assert.match(outcome, /^(answered 42\["message-back"|closed)/);
        } finally {
          await c.close();
        }
      });
    });
});

describe('connect timeout (1000 ms without a Socket.IO CONNECT)', { timeout: 60000 }, () => {
  let server;
  let port;
  before(async () => {
    server = await startServer(['--allow-eio3']);
    port = server.port;
  });
  after(async () => { if (server) await server.stop(); });

  test('WebSocket: a session that never sends CONNECT is closed after ~1 s', async () => {
    const t0 = Date.now();
    const c = await sioWs(port, { connect: false });
    const { code } = await withTimeout(c.closed, 5000, 'close by the connect timeout');
    const dt = Date.now() - t0;
    assert.ok(dt >= 800 && dt <= 3000, `closed after ${dt} ms`);
    assert.equal(code, 1005);
    assert.deepEqual(c.messages.items, [], 'no packet before the close');
    await assertSioSessionGone(port, c.handshake.sid);
  });

  test('polling: the pending GET gets "1" after ~1 s and the sid is gone', async () => {
    const t0 = Date.now();
    const res = await httpRequest(port, { path: sioPollPath() });
    const hs = parseOpenPacket(res.text);
    const got = await httpRequest(port, { path: sioPollPath(hs.sid) });
    const dt = Date.now() - t0;
    assert.equal(got.status, 200);
    assert.equal(got.text, '1');
    assert.ok(dt >= 800 && dt <= 3000, `closed after ${dt} ms`);
    await assertSioSessionGone(port, hs.sid);
  });

  test('pings do not count as a CONNECT', async () => {
    // a 4.8 client whose socket was never opened: the engine is up, no CONNECT
    const t0 = Date.now();
    const c = await openWs(port, '/socket.io/?EIO=4&transport=websocket');
    parseOpenPacket(await c.messages.next());
    c.ws.send('3'); // an unsolicited pong is harmless
    await withTimeout(c.closed, 5000, 'close by the connect timeout');
    const dt = Date.now() - t0;
    assert.ok(dt >= 800 && dt <= 3000, `closed after ${dt} ms`);
  });

  test('a CONNECT at ~500 ms is in time, the session then stays', async () => {
    const c = await sioWs(port, { connect: false });
    try {
      await sleep(500);
      c.ws.send('40');
      assert.match(await c.messages.next(), /^40\{"sid":/);
      await sleep(1000);
      assert.equal(c.ws.readyState, 1);
      c.ws.send('421["echo","late"]');
      assert.equal(await c.messages.next(), '42["auth",{}]');
      assert.equal(await c.messages.next(), '431["late"]');
    } finally {
      await c.close();
    }
  });

  test('a CONNECT to /custom only is enough', async () => {
    const c = await sioWs(port, { connect: false });
    try {
      c.ws.send('40/custom,');
      assert.match(await c.messages.next(), /^40\/custom,\{"sid":/);
      assert.equal(await c.messages.next(), '42/custom,["auth",{}]');
      await sleep(1300);
      assert.equal(c.ws.readyState, 1);
    } finally {
      await c.close();
    }
  });

  test('a refused CONNECT does not count: the session is closed after ~1 s', async () => {
    const t0 = Date.now();
    const c = await sioWs(port, { connect: false });
    c.ws.send('40/admin,{"token":"nope"}');
    assert.equal(await c.messages.next(), '44/admin,{"message":"unauthorized"}');
    await withTimeout(c.closed, 5000, 'close by the connect timeout');
    const dt = Date.now() - t0;
    assert.ok(dt >= 800 && dt <= 3000, `closed after ${dt} ms`);
  });

  test('EIO=3: the server connects the client to / itself, so no timeout', async () => {
    const c = await openWs(port, '/socket.io/?EIO=3&transport=websocket');
    try {
      const open = await c.messages.next();
      assert.equal(open[0], '0');
      assert.match(JSON.parse(open.slice(1)).sid, SID_RE);
      assert.equal(await c.messages.next(), '40');
      assert.equal(await c.messages.next(), '42["auth",{}]');
      await sleep(1500);
      assert.equal(c.ws.readyState, 1);
      c.ws.send('421["echo","v3"]');
      assert.equal(await c.messages.next(), '431["v3"]');
    } finally {
      await c.close();
    }
  });

  test('the bare /engine.io/ endpoint has no connect timeout', async () => {
    const c = await openWs(port, '/engine.io/?EIO=4&transport=websocket');
    try {
      parseOpenPacket(await c.messages.next());
      await sleep(1800);
      assert.equal(c.ws.readyState, 1, 'still open after 1.8 s');
      c.ws.send('4still here');
      assert.equal(await c.messages.next(), '4still here');
    } finally {
      await c.close();
    }
  });

  test('the bare /engine.io/ endpoint over polling has no connect timeout', async () => {
    const res = await httpRequest(port, { path: '/engine.io/?EIO=4&transport=polling' });
    const hs = parseOpenPacket(res.text);
    await sleep(1500);
    const path = `/engine.io/?EIO=4&transport=polling&sid=${hs.sid}`;
    const posted = await httpRequest(port, {
      method: 'POST', path, body: '4x', headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    assert.equal(posted.text, 'ok');
    const got = await httpRequest(port, { path });
    assert.equal(got.text, '4x');
  });
});
