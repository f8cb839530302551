// Bad input: every case is answered with the protocol's own error, and the
// server keeps serving other clients throughout (after each case a fresh
// polling client and a fresh WebSocket client each do an echo round trip).
// The server runs with --max-payload 1000.

import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from './server.mjs';
import {
  HOST, RawWs, rawExchange, httpRequest, assertEioError, pollingHandshake, poll, post, wsHandshake,
  connectV4, echo, sleep, withTimeout, assertServerAlive,
} from './helpers.mjs';

const MAX = 1000;

function tcpConnect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    sock.once('connect', () => { sock.off('error', reject); resolve(sock); });
    sock.once('error', reject);
  });
}

// Writes `parts` one at a time, pausing between them, until the server
// answers or closes; then waits for the close. Resolves {text, closed}.
async function paced(port, parts, ms = 5000) {
  const sock = await tcpConnect(port);
  const chunks = [];
  let closed = false;
  const closedP = new Promise((resolve) => sock.on('close', () => { closed = true; resolve(); }));
  sock.on('error', () => { /* a reset after the answer is fine */ });
  sock.on('data', (d) => chunks.push(d));
  for (const part of parts) {
    if (closed || chunks.length) break;
    sock.write(part);
    await sleep(1);
  }
  await withTimeout(closedP, ms, 'server closing the connection').catch(() => {});
  sock.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

// A v4 WebSocket session by hand; resolves the RawWs after the open packet.
async function rawSession(port) {
  const raw = await RawWs.connect(port, '/engine.io/?EIO=4&transport=websocket');
  const open = await raw.nextFrame();
  assert.equal(open.opcode, 0x1);
  assert.match(open.payload.toString(), /^0\{/);
  raw.sid = JSON.parse(open.payload.toString().slice(1)).sid;
  return raw;
}

// The Engine.IO session `sid` must be gone.
async function assertSessionGone(port, sid) {
  let res;
  for (let i = 0; i < 20; i++) {
    res = await poll(port, sid);
    if (res.status === 400 && JSON.parse(res.text).code === 1) break;
    await sleep(50);
  }
  assertEioError(res, 1, 'Session ID unknown');
}

describe('bad input', { timeout: 120000 }, () => {
  let server;
  let port;
  before(async () => {
    server = await startServer(['--max-payload', String(MAX)]);
    port = server.port;
  });
  after(async () => { if (server) await server.stop(); });
  afterEach(async () => { await assertServerAlive(server); });

  describe('HTTP', () => {
    const garbage = {
      'a TLS ClientHello': Buffer.from('16030100c4010000c00303' + 'ab'.repeat(32) + '000002c02f0100', 'hex'),
      'binary noise': Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 151 + 7) & 0xff)),
      'a text line that is no request': Buffer.from('hello there\r\n\r\n'),
      'a request line with a bad protocol': Buffer.from('GET /engine.io/?EIO=4&transport=polling HTTQ/1.1\r\n\r\n'),
      'a bad header line': Buffer.from('GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n'),
      'NUL bytes in the request line': Buffer.from('GET /\0\0 HTTP/1.1\r\nHost: x\r\n\r\n'),
    };
    for (const [name, bytes] of Object.entries(garbage)) {
      test(`garbage bytes (${name}) -> 400 and close`, async () => {
        const res = await rawExchange(port, bytes, 3000);
        assert.match(res.text, /^HTTP\/1\.1 400 /, `answer: ${JSON.stringify(res.text.slice(0, 80))}`);
        assert.ok(res.closed, 'the server closes the connection');
      });
    }

    test('100 KiB of headers (many lines) -> 431 and close', async () => {
      const parts = ['GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n'];
      for (let i = 0; i < 100; i++) parts.push(`X-Filler-${i}: ${'a'.repeat(1000)}\r\n`);
      parts.push('\r\n');
      const res = await paced(port, parts);
      assert.match(res.text, /^HTTP\/1\.1 431 /, `answer: ${JSON.stringify(res.text.slice(0, 80))}`);
      assert.ok(res.closed, 'the server closes the connection');
    });

    test('100 KiB in one header value -> 431 and close', async () => {
      const parts = ['GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: '];
      for (let i = 0; i < 100; i++) parts.push('b'.repeat(1024));
      parts.push('\r\n\r\n');
      const res = await paced(port, parts);
      assert.match(res.text, /^HTTP\/1\.1 431 /, `answer: ${JSON.stringify(res.text.slice(0, 80))}`);
      assert.ok(res.closed, 'the server closes the connection');
    });

    test('a POST over --max-payload -> 413, and the session stays usable', async () => {
      const hs = await pollingHandshake(port);
      assert.equal(hs.maxPayload, MAX);
      // exactly at the limit is fine
      const atLimit = `4${'x'.repeat(MAX - 1)}`;
      const ok = await post(port, hs.sid, atLimit);
      assert.equal(ok.status, 200);
      assert.equal(ok.text, 'ok');
      assert.equal((await poll(port, hs.sid)).text, atLimit);
      // one byte over
      const over = await post(port, hs.sid, `4${'x'.repeat(MAX)}`);
      assert.equal(over.status, 413);
      // far over
      const farOver = await post(port, hs.sid, `4${'y'.repeat(50 * MAX)}`);
      assert.equal(farOver.status, 413);
      // only those bodies were dropped: the session goes on
      assert.equal((await post(port, hs.sid, '4after 413')).text, 'ok');
      const res = await poll(port, hs.sid);
      assert.equal(res.status, 200);
      assert.equal(res.text, '4after 413');
      await post(port, hs.sid, '1');
    });

    test('a POST body dropped halfway (then destroy) leaves the server serving', async () => {
      const hs = await pollingHandshake(port);
      const sock = await tcpConnect(port);
      sock.on('error', () => {});
      sock.write(`POST /engine.io/?EIO=4&transport=polling&sid=${hs.sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        'Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n4' + 'x'.repeat(49));
      await sleep(100);
      sock.destroy();
      await sleep(100);
    });

    test('a request dropped in the middle of its headers leaves the server serving', async () => {
      const sock = await tcpConnect(port);
      sock.on('error', () => {});
      sock.write('GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag');
      await sleep(100);
      sock.destroy();
      await sleep(100);
    });

    test('1000 half-open connections do not stop a client from echoing', { timeout: 60000 }, async () => {
      const socks = [];
      try {
        for (let batch = 0; batch < 20; batch++) {
          const opened = await Promise.all(Array.from({ length: 50 }, () => tcpConnect(port)));
          for (const s of opened) {
            s.on('error', () => {});
            s.write('GET /engine.io/?EIO=4&tra');
            socks.push(s);
          }
        }
        assert.equal(socks.length, 1000);
        await sleep(200);
        const c = await connectV4(server.url, { transports: ['websocket'] });
        try {
          for (let i = 0; i < 50; i++) assert.equal(await echo(c, `busy ${i}`), `busy ${i}`);
        } finally {
          await c.close();
        }
        await assertServerAlive(server);
        const hs = await pollingHandshake(port);
        assert.equal((await post(port, hs.sid, '1')).status, 200);
      } finally {
        for (const s of socks) s.destroy();
      }
      await sleep(200);
    });
  });

  describe('WebSocket handshake', () => {
    test('an upgrade without Sec-WebSocket-Key -> 400', async () => {
      const res = await rawExchange(port, 'GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
        'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
      assert.match(res.text, /^HTTP\/1\.1 400 /);
    });

    test('an unsupported Sec-WebSocket-Version -> 400 or 426', async () => {
      const res = await rawExchange(port, 'GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n' +
        'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n');
      assert.match(res.text, /^HTTP\/1\.1 (400|426) /);
    });
  });

  describe('WebSocket frames', () => {
    test('a message over --max-payload -> close 1009 (text, binary, fragmented)', async () => {
      for (const send of [
        (c) => c.ws.send(`4${'x'.repeat(MAX)}`),
        (c) => c.ws.send(Buffer.alloc(MAX + 1, 7)),
        (c) => { c.ws.send('4' + 'z'.repeat(600), { fin: false }); c.ws.send('z'.repeat(600), { fin: true }); },
      ]) {
        const c = await wsHandshake(port);
        assert.equal(c.handshake.maxPayload, MAX);
        // exactly at the limit is fine
        c.ws.send(`4${'x'.repeat(MAX - 1)}`);
        assert.equal((await c.messages.next()).length, MAX);
        send(c);
        const { code } = await withTimeout(c.closed, 3000, 'close after an oversized message');
        assert.equal(code, 1009);
        await assertSessionGone(port, c.handshake.sid);
      }
    });

    test('a frame header announcing a huge length -> close 1009 at once', async () => {
      const raw = await rawSession(port);
      try {
        const head = Buffer.alloc(14);
        head[0] = 0x81;
        head[1] = 0x80 | 127;
        head.writeBigUInt64BE(1n << 40n, 2); // 1 TiB
        raw.sock.write(head); // mask key and a little payload, then nothing more
        raw.sock.write(Buffer.from('4abc'));
        assert.equal(await raw.closeCode(3000), 1009);
      } finally {
        raw.destroy();
      }
    });

    test('a text frame with invalid UTF-8 -> close 1007', async () => {
      for (const bytes of [[0x34, 0xff, 0xfe], [0x34, 0xc3], [0x34, 0xed, 0xa0, 0x80] /* surrogate */,
        [0x34, 0xc0, 0xaf] /* overlong */]) {
        const raw = await rawSession(port);
        try {
          raw.sendFrame(0x1, Buffer.from(bytes));
          assert.equal(await raw.closeCode(3000), 1007, `bytes ${Buffer.from(bytes).toString('hex')}`);
        } finally {
          raw.destroy();
        }
      }
    });

    test('invalid UTF-8 split across fragments -> close 1007', async () => {
      const raw = await rawSession(port);
      try {
        raw.sendFrame(0x1, Buffer.from([0x34, 0xe4, 0xb8]), { fin: false }); // "4" + 2/3 of 中
        raw.sendFrame(0x0, Buffer.from([0x41]), { fin: true }); // not a continuation byte
        assert.equal(await raw.closeCode(3000), 1007);
      } finally {
        raw.destroy();
      }
    });

    test('an unmasked client frame -> close 1002', async () => {
      const raw = await rawSession(port);
      try {
        raw.sendText('4hello', { mask: false });
        assert.equal(await raw.closeCode(3000), 1002);
      } finally {
        raw.destroy();
      }
    });

    test('reserved bits, reserved opcodes and bad control frames -> close 1002', async () => {
      const cases = {
        'RSV1 without an extension': (raw) => {
          const payload = Buffer.from('4x');
          raw.sock.write(Buffer.concat([Buffer.from([0xc1, 0x80 | payload.length, 0, 0, 0, 0]), payload]));
        },
        'opcode 3': (raw) => raw.sendFrame(0x3, Buffer.from('4x')),
        'opcode 0xB': (raw) => raw.sendFrame(0xb, Buffer.from('')),
        'a ping over 125 bytes': (raw) => raw.sendFrame(0x9, Buffer.alloc(126, 1)),
        'a fragmented ping': (raw) => raw.sendFrame(0x9, Buffer.from('p'), { fin: false }),
        'a continuation with nothing to continue': (raw) => raw.sendFrame(0x0, Buffer.from('4x')),
        'a new message inside a fragmented one': (raw) => {
          raw.sendFrame(0x1, Buffer.from('4a'), { fin: false });
          raw.sendFrame(0x1, Buffer.from('4b'));
        },
      };
      for (const [name, send] of Object.entries(cases)) {
        const raw = await rawSession(port);
        try {
          send(raw);
          assert.equal(await raw.closeCode(3000), 1002, name);
        } finally {
          raw.destroy();
        }
      }
    });

    test('well-formed framing edge cases are accepted', async () => {
      const raw = await rawSession(port);
      try {
        // a fragmented text message with a ping in the middle
        raw.sendFrame(0x1, Buffer.from('4frag'), { fin: false });
        raw.sendFrame(0x9, Buffer.from('are you there'));
        raw.sendFrame(0x0, Buffer.from('men'), { fin: false });
        raw.sendFrame(0x0, Buffer.from('ted 😀'), { fin: true });
        const pong = await raw.frames.next(3000);
        assert.equal(pong.opcode, 0xa, 'a ping is answered with a pong');
        assert.equal(pong.masked, false, 'server frames are not masked');
        assert.equal(pong.payload.toString(), 'are you there');
        const msg = await raw.nextFrame(3000);
        assert.equal(msg.opcode, 0x1);
        assert.equal(msg.payload.toString(), '4fragmented 😀');
        // a 126..65535-byte frame (16-bit length) and a 64-bit-length frame under the limit
        const mid = `4${'m'.repeat(300)}`;
        raw.sendText(mid);
        assert.equal((await raw.nextFrame(3000)).payload.toString(), mid);
        // a binary frame
        raw.sendFrame(0x2, Buffer.from([0, 255, 1, 254]));
        const bin = await raw.nextFrame(3000);
        assert.equal(bin.opcode, 0x2);
        assert.deepEqual([...bin.payload], [0, 255, 1, 254]);
        // a close frame is answered with a close frame, same code
        const close = Buffer.alloc(2);
        close.writeUInt16BE(1000);
        raw.sendFrame(0x8, close);
        assert.equal(await raw.closeCode(3000), 1000);
        await withTimeout(raw.ended, 3000, 'server closing TCP after the close handshake');
      } finally {
        raw.destroy();
      }
    });

    test('a frame dropped halfway (then destroy) leaves the server serving', async () => {
      const raw = await rawSession(port);
      const head = Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]);
      raw.sock.write(Buffer.concat([head, Buffer.alloc(30, 0x41)]));
      await sleep(100);
      raw.destroy();
      await sleep(100);
    });
  });

  describe('malformed Engine.IO packets close the session', () => {
    for (const [name, packet] of [['"abc"', 'abc'], ['an empty text frame', ''], ['unknown type "9"', '9'],
      ['unknown type "x"', 'x{}']]) {
      test(`WebSocket: ${name} -> close frame without status (1005), sid unknown after`, async () => {
        const c = await wsHandshake(port);
        c.ws.send(packet);
        const { code } = await withTimeout(c.closed, 3000, 'close after a malformed packet');
        assert.equal(code, 1005);
        await assertSessionGone(port, c.handshake.sid);
      });
    }

    test('WebSocket: an empty message "4" is not malformed', async () => {
      const c = await wsHandshake(port);
      try {
        c.ws.send('4');
        assert.equal(await c.messages.next(), '4');
      } finally {
        await c.close();
      }
    });

    for (const [name, body] of [['"abc"', 'abc'], ['an empty body', ''], ['unknown type "9"', '9'],
      ['a bad packet after a good one', '4good\x1eabc']]) {
      test(`polling: ${name} -> POST "ok", pending GET gets "1", sid unknown after`, async () => {
        const hs = await pollingHandshake(port);
        const pending = poll(port, hs.sid);
        await sleep(100);
        const res = await post(port, hs.sid, body);
        assert.equal(res.status, 200);
        assert.equal(res.text, 'ok');
        const got = await withTimeout(pending, 3000, 'pending GET');
        assert.equal(got.status, 200);
        // the pending GET gets the close packet; the echo of a good packet
        // before the bad one may come first (and then the close is lost with
        // the session)
        const packets = got.text.split('\x1e');
        assert.ok(packets.every((p) => p === '1' || p === '4good'), `GET got ${JSON.stringify(got.text)}`);
        if (!body.startsWith('4good')) assert.equal(got.text, '1');
        await assertSessionGone(port, hs.sid);
      });
    }

    test('polling: binary content type on a v4 POST is refused', async () => {
      const hs = await pollingHandshake(port);
      const res = await httpRequest(port, {
        method: 'POST', path: `/engine.io/?EIO=4&transport=polling&sid=${hs.sid}`,
        body: Buffer.from([4, 1, 2, 3]), headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(res.status, 400);
    });
  });
});
