// Real Engine.IO clients against the /engine.io/ echo endpoint of the
// contract server: engine.io-client 6.x (protocol v4) on every transport, and
// engine.io-client 3.5.x (protocol v3, as WeChat's weapp.socket.io speaks)
// against a server started with --allow-eio3. Plus the heartbeat.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer } from './server.mjs';
import {
  connectV4, connectV3, echo, expectWsRefused, httpRequest, assertEioError, openWs, parseOpenPacket,
  pollingHandshake, poll, isBinary, toBuffer, sleep, withTimeout, assertServerAlive,
} from './helpers.mjs';

const UNICODE = 'héllo 😀 中文';
// Characters outside the BMP and a lone 4-byte sequence at the very end, to
// catch byte/UTF-16 length confusion in the v3 polling framing.
const UNICODE_LONG = `${'😀'.repeat(50)}中文${'é'.repeat(30)}𝄞`;

function randomBytes(n) {
  return new Uint8Array(crypto.randomBytes(n));
}

// The echo tests, shared by every client/transport combination.
// connect() returns a connected client (helpers.connectV4/connectV3).
function echoTests(connect, { expectTransport } = {}) {
  let client;
  before(async () => {
    client = await connect();
    if (expectTransport) await expectTransport(client);
  });
  after(async () => {
    if (client) await client.close();
  });

  test('text echo', async () => {
    assert.equal(await echo(client, 'hello'), 'hello');
  });

  test('non-ASCII text echo (emoji, CJK)', async () => {
    assert.equal(await echo(client, UNICODE), UNICODE);
    assert.equal(await echo(client, UNICODE_LONG), UNICODE_LONG);
  });

  test('empty text message echo', async () => {
    // On the wire this is the bare packet "4" both ways; the client libraries
    // hand an empty message to the application as undefined.
    const back = await echo(client, '');
    assert.ok(back === '' || back === undefined, `got ${JSON.stringify(back)}`);
    assert.equal(await echo(client, 'after empty'), 'after empty');
  });

  test('binary echo, 64 KiB random bytes, byte-exact', async () => {
    const bytes = randomBytes(64 * 1024);
    const back = await echo(client, bytes);
    assert.ok(isBinary(back), `binary came back as ${typeof back}`);
    assert.ok(toBuffer(back).equals(Buffer.from(bytes)), 'binary payload differs');
  });

  test('100 messages come back in order', async () => {
    const sent = [];
    for (let i = 0; i < 100; i++) {
      const m = `message #${i} ${i % 7 === 0 ? UNICODE : ''}`;
      sent.push(m);
      client.socket.send(m);
    }
    const got = await client.messages.take(100, 5000);
    assert.deepEqual(got, sent);
  });

  test('text and binary interleaved keep their order and kinds', async () => {
    const sent = [];
    for (let i = 0; i < 40; i++) {
      const m = i % 2 ? `t${i}` : randomBytes(1 + i * 10);
      sent.push(m);
      client.socket.send(m);
    }
    const got = await client.messages.take(40, 5000);
    for (let i = 0; i < 40; i++) {
      if (typeof sent[i] === 'string') {
        assert.equal(got[i], sent[i], `message ${i}`);
      } else {
        assert.ok(isBinary(got[i]), `message ${i} should be binary, got ${JSON.stringify(got[i])}`);
        assert.ok(toBuffer(got[i]).equals(Buffer.from(sent[i])), `message ${i} bytes differ`);
      }
    }
  });
}

async function expectUpgrade(client) {
  assert.equal(client.socket.transport.name, 'polling', 'a default client opens on polling');
  const name = await withTimeout(client.upgraded, 5000, 'upgrade to websocket');
  assert.equal(name, 'websocket');
  assert.equal(client.socket.transport.name, 'websocket');
}

describe('engine.io-client 6.x (EIO=4)', { timeout: 60000 }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { if (server) await server.stop(); });

  describe('polling only', () => {
    echoTests(() => connectV4(server.url, { transports: ['polling'] }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'polling'),
    });
  });

  describe('websocket only', () => {
    echoTests(() => connectV4(server.url, { transports: ['websocket'] }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'websocket'),
    });
  });

  describe('default transports (polling, then upgrade to websocket)', () => {
    echoTests(() => connectV4(server.url), { expectTransport: expectUpgrade });

    test('messages sent while the upgrade is under way arrive once, in order', async () => {
      const c = await connectV4(server.url);
      try {
        assert.equal(c.socket.transport.name, 'polling');
        const sent = [];
        for (let i = 0; i < 100; i++) {
          sent.push(`during upgrade ${i}`);
          c.socket.send(sent[i]);
        }
        assert.equal(await withTimeout(c.upgraded, 5000, 'upgrade'), 'websocket');
        assert.deepEqual(await c.messages.take(100, 5000), sent);
        // and after the upgrade
        assert.equal(await echo(c, 'after'), 'after');
        await sleep(100);
        assert.equal(c.messages.items.length, 0, 'no duplicated message');
      } finally {
        await c.close();
      }
    });
  });

  test('many clients at once, each gets only its own echoes', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      connectV4(server.url, { transports: [i % 2 ? 'polling' : 'websocket'] })));
    try {
      await Promise.all(clients.map(async (c, i) => {
        for (let k = 0; k < 5; k++) c.socket.send(`client ${i} msg ${k}`);
        const got = await c.messages.take(5, 5000);
        assert.deepEqual(got, [0, 1, 2, 3, 4].map((k) => `client ${i} msg ${k}`));
      }));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test('a client closing its socket ends the session on the server', async () => {
    const c = await connectV4(server.url, { transports: ['polling'] });
    const sid = c.socket.id;
    await c.close();
    // the close packet has been posted; the sid must be gone shortly
    let res;
    for (let i = 0; i < 20; i++) {
      res = await poll(server.port, sid);
      if (res.status === 400) break;
      await sleep(50);
    }
    assertEioError(res, 1, 'Session ID unknown');
  });
});

describe('engine.io-client 3.5.x (EIO=3) with --allow-eio3', { timeout: 60000 }, () => {
  let server;
  before(async () => { server = await startServer(['--allow-eio3']); });
  after(async () => { if (server) await server.stop(); });

  describe('websocket only (as weapp.socket.io connects)', () => {
    echoTests(() => connectV3(server.url, { transports: ['websocket'] }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'websocket'),
    });
  });

  describe('polling only, binary payloads', () => {
    echoTests(() => connectV3(server.url, { transports: ['polling'] }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'polling'),
    });
  });

  describe('polling only, forceBase64', () => {
    echoTests(() => connectV3(server.url, { transports: ['polling'], forceBase64: true }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'polling'),
    });
  });

  describe('websocket only, forceBase64 (binary as "b4..." text frames both ways)', () => {
    echoTests(() => connectV3(server.url, { transports: ['websocket'], forceBase64: true }), {
      expectTransport: async (c) => assert.equal(c.socket.transport.name, 'websocket'),
    });
  });

  describe('default transports (polling, then upgrade to websocket)', () => {
    echoTests(() => connectV3(server.url), { expectTransport: expectUpgrade });
  });

  describe('default transports with forceBase64 (upgrade keeps base64)', () => {
    echoTests(() => connectV3(server.url, { forceBase64: true }), { expectTransport: expectUpgrade });
  });

  test('v3 polling by hand: handshake framing and UTF-16 length prefixes', async () => {
    const res = await httpRequest(server.port, { path: '/engine.io/?EIO=3&transport=polling' });
    assert.equal(res.status, 200);
    // v3 text payload framing: <length>:<packet>, the length in UTF-16 code units
    const m = /^(\d+):(0\{.*\})$/s.exec(res.text);
    assert.ok(m, `unexpected v3 handshake body ${JSON.stringify(res.text)}`);
    assert.equal(Number(m[1]), m[2].length);
    const hs = JSON.parse(m[2].slice(1));
    assert.deepEqual(Object.keys(hs).sort(), ['pingInterval', 'pingTimeout', 'sid', 'upgrades']
      .concat(Object.keys(hs).includes('maxPayload') ? ['maxPayload'] : []).sort());
    assert.deepEqual(hs.upgrades, ['websocket']);
    assert.equal(hs.pingInterval, 25000);
    assert.equal(hs.pingTimeout, 20000);
    const path = `/engine.io/?EIO=3&transport=polling&sid=${hs.sid}`;
    // "4" + UNICODE is 13 UTF-16 code units (the emoji counts 2) but 19 bytes
    const packets = [`4${UNICODE}`, '4plain', `4${UNICODE_LONG}`];
    const body = packets.map((p) => `${p.length}:${p}`).join('');
    const posted = await httpRequest(server.port, {
      method: 'POST', path, body, headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    assert.equal(posted.status, 200);
    assert.equal(posted.text, 'ok');
    let got = '';
    for (let i = 0; i < 5 && got.length < body.length; i++) {
      const r = await httpRequest(server.port, { path });
      assert.equal(r.status, 200);
      got += r.text;
    }
    assert.equal(got, body);
    const closed = await httpRequest(server.port, {
      method: 'POST', path, body: '1:1', headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    assert.equal(closed.status, 200);
  });

  test('v4 clients still work on a server that allows EIO3', async () => {
    await assertServerAlive(server);
  });
});

describe('EIO3 refused when --allow-eio3 is off', { timeout: 30000 }, () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { if (server) await server.stop(); });

  test('EIO=3 polling handshake gets 400 code 5', async () => {
    const res = await httpRequest(server.port, { path: '/engine.io/?EIO=3&transport=polling' });
    assertEioError(res, 5, 'Unsupported protocol version');
  });

  test('EIO=3 WebSocket handshake is refused (HTTP 400, or closed before any packet)', async () => {
    await expectWsRefused(server.port, '/engine.io/?EIO=3&transport=websocket');
  });

  test('engine.io-client 3.x cannot connect', async () => {
    await assert.rejects(connectV3(server.url, { transports: ['polling'] }));
    await assert.rejects(connectV3(server.url, { transports: ['websocket'] }));
  });

  test('v4 still works', async () => {
    await assertServerAlive(server);
  });
});

describe('heartbeat with --ping-interval 200 --ping-timeout 200', { timeout: 30000 }, () => {
  const INTERVAL = 200;
  const TIMEOUT = 200;
  let server;
  before(async () => {
    server = await startServer(['--allow-eio3', '--ping-interval', String(INTERVAL),
      '--ping-timeout', String(TIMEOUT)]);
  });
  after(async () => { if (server) await server.stop(); });

  for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
    test(`v4 client (${transports.join('+')}) answers pings and stays connected 1.5 s`, async () => {
      const c = await connectV4(server.url, { transports });
      try {
        let pings = 0;
        c.socket.on('ping', () => pings++);
        await sleep(1500);
        assert.equal(c.socket.readyState, 'open');
        // about 7 at this interval; 3 leaves room for a loaded sanitizer run
        assert.ok(pings >= 3, `only ${pings} pings in 1.5 s at a 200 ms interval`);
        assert.equal(await echo(c, 'still here'), 'still here');
      } finally {
        await c.close();
      }
    });
  }

  for (const transports of [['polling'], ['websocket']]) {
    test(`v3 client (${transports[0]}) pings and stays connected 1.5 s`, async () => {
      const c = await connectV3(server.url, { transports });
      try {
        let pongs = 0;
        c.socket.on('pong', () => pongs++);
        await sleep(1500);
        assert.equal(c.socket.readyState, 'open');
        assert.ok(pongs >= 3, `only ${pongs} pongs in 1.5 s at a 200 ms interval`);
        assert.equal(await echo(c, 'still here'), 'still here');
      } finally {
        await c.close();
      }
    });
  }

  test('a raw WebSocket that never answers pings is closed after about interval+timeout', async () => {
    const t0 = Date.now();
    const conn = await openWs(server.port, '/engine.io/?EIO=4&transport=websocket');
    try {
      const hs = parseOpenPacket(await conn.messages.next());
      assert.equal(hs.pingInterval, INTERVAL);
      assert.equal(hs.pingTimeout, TIMEOUT);
      assert.equal(await conn.messages.next(2000), '2');
      const tPing = Date.now() - t0;
      assert.ok(tPing >= INTERVAL - 50, `ping came after ${tPing} ms`);
      await withTimeout(conn.closed, 3000, 'server closing the unresponsive WebSocket');
      const tClose = Date.now() - t0;
      assert.ok(tClose >= INTERVAL + TIMEOUT - 100, `closed too early, after ${tClose} ms`);
      assert.ok(tClose <= INTERVAL + TIMEOUT + 1500, `closed too late, after ${tClose} ms`);
    } finally {
      await conn.close();
    }
  });

  test('a raw WebSocket that answers pings stays open', async () => {
    const conn = await openWs(server.port, '/engine.io/?EIO=4&transport=websocket');
    try {
      parseOpenPacket(await conn.messages.next());
      const until = Date.now() + 1200;
      let pings = 0;
      while (Date.now() < until) {
        let m;
        try {
          m = await conn.messages.next(Math.max(1, until - Date.now()));
        } catch (err) {
          if (/timed out/.test(err.message)) break;
          throw err;
        }
        assert.equal(m, '2');
        pings++;
        conn.ws.send('3');
      }
      assert.ok(pings >= 3, `${pings} pings`);
      conn.ws.send('4ok');
      // A ping sent as the loop ended may come before the echo (a loaded machine): answered, skipped.
      let m = await conn.messages.next();
      while (m === '2') {
        conn.ws.send('3');
        m = await conn.messages.next();
      }
      assert.equal(m, '4ok');
    } finally {
      await conn.close();
    }
  });

  test('a polling session that stops polling is dropped (sid unknown afterwards)', async () => {
    const hs = await pollingHandshake(server.port);
    await sleep(INTERVAL + TIMEOUT + 600);
    assertEioError(await poll(server.port, hs.sid), 1, 'Session ID unknown');
  });
});

describe('shutdown', { timeout: 30000 }, () => {
  test('SIGTERM closes every connection and the process exits 0', async () => {
    const server = await startServer();
    let clients = [];
    try {
      clients = await Promise.all([
        connectV4(server.url, { transports: ['websocket'] }),
        connectV4(server.url, { transports: ['polling'] }),
        connectV4(server.url),
      ]);
      for (const c of clients) assert.equal(await echo(c, 'before shutdown'), 'before shutdown');
      const t0 = Date.now();
      const status = await server.stop();
      assert.deepEqual(status, { code: 0, signal: null });
      assert.ok(Date.now() - t0 < 5000, 'exits promptly');
      // every client learns that its connection is gone
      await Promise.all(clients.map((c) => withTimeout(c.closed, 5000, 'client close after shutdown')));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await server.stop();
    }
  });
});
