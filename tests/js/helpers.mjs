// Shared helpers of the JS integration tests: timeouts, raw HTTP, raw and
// library WebSockets, and Engine.IO client wrappers. Everything talks to
// 127.0.0.1 only.

import http from 'node:http';
import net from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Socket as EioSocket } from 'engine.io-client';
import eioV3 from 'engine.io-client-v3';

export const HOST = '127.0.0.1';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`not binary data: ${typeof data} ${data && data.constructor && data.constructor.name}`);
}

export function isBinary(data) {
  return Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

// A queue of incoming items: push() from an event handler, await next().
export class Queue {
  constructor(name = 'queue') {
    this.name = name;
    this.items = [];
    this.waiters = [];
    this.ended = null;
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w.resolve(item);
    else this.items.push(item);
  }

  // No more items will come: waiting and later next() calls are rejected.
  end(reason) {
    if (this.ended) return;
    this.ended = reason instanceof Error ? reason : new Error(`${this.name} ended: ${reason}`);
    for (const w of this.waiters.splice(0)) w.reject(this.ended);
  }

  next(ms = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.ended) return Promise.reject(this.ended);
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `next item of ${this.name}`).catch((err) => {
      // forget the waiter that timed out, so that a later item is not lost
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw err;
    });
  }

  async take(n, ms = 5000) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.next(ms));
    return out;
  }
}

// ---------------------------------------------------------------- raw HTTP

// One HTTP request on its own connection. Resolves {status, headers, body, text}.
export function httpRequest(port, { method = 'GET', path = '/', headers = {}, body, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: HOST, port, method, path, agent: false,
      headers: { connection: 'close', ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString('utf8') });
      });
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${path} timed out after ${timeout} ms`));
    }, timeout);
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

// Sends raw bytes on a new TCP connection and collects everything the server
// writes until it closes the connection or `ms` passed. Resolves
// {text (latin1), bytes, closed}: closed is false when the time ran out.
export function rawExchange(port, bytes, ms = 3000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    const chunks = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(chunks);
      resolve({ text: all.toString('latin1'), bytes: all, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => finish(true));
    sock.on('close', () => finish(true));
  });
}

// Asserts an Engine.IO HTTP error: status 400 and JSON {code, message}.
export function assertEioError(res, code, message) {
  assert.equal(res.status, 400, `expected HTTP 400, got ${res.status} ${res.text}`);
  let json;
  try {
    json = JSON.parse(res.text);
  } catch {
    assert.fail(`error body is not JSON: ${JSON.stringify(res.text)}`);
  }
  assert.deepEqual(json, { code, message });
  assert.match(String(res.headers['content-type']), /^application\/json/);
}

export const SID_RE = /^[A-Za-z0-9_-]{20}$/;
export const HANDSHAKE_KEYS = ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades'];

// Parses an open packet `0{...}` and checks its shape.
export function parseOpenPacket(text) {
  assert.equal(text[0], '0', `expected an open packet, got ${JSON.stringify(text)}`);
  const hs = JSON.parse(text.slice(1));
  assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS);
  assert.match(hs.sid, SID_RE);
  return hs;
}

// Opens a v4 polling session by hand; resolves the handshake object.
export async function pollingHandshake(port, { eio = '4' } = {}) {
  const res = await httpRequest(port, { path: `/engine.io/?EIO=${eio}&transport=polling` });
  assert.equal(res.status, 200, `handshake failed: ${res.status} ${res.text}`);
  return parseOpenPacket(res.text);
}

export const pollPath = (sid, eio = '4') => `/engine.io/?EIO=${eio}&transport=polling&sid=${encodeURIComponent(sid)}`;

export function poll(port, sid, opts = {}) {
  return httpRequest(port, { path: pollPath(sid), ...opts });
}

export function post(port, sid, body, opts = {}) {
  return httpRequest(port, {
    method: 'POST',
    path: pollPath(sid),
    body,
    ...opts,
    headers: { 'content-type': 'text/plain;charset=UTF-8', ...(opts.headers || {}) },
  });
}

// ---------------------------------------------------------- WebSocket (ws)

// A `ws` client whose messages, close and errors are recorded.
// Resolves once open; rejects on an HTTP answer other than 101.
export function openWs(port, path, { timeout = 5000, ...options } = {}) {
  const ws = new WebSocket(`ws://${HOST}:${port}${path}`, { perMessageDeflate: false, ...options });
  const messages = new Queue(`ws ${path}`);
  const closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      messages.end(`closed ${code}`);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('message', (data, isBinaryFrame) => {
    messages.push(isBinaryFrame ? toBuffer(data) : data.toString('utf8'));
  });
  const errors = [];
  ws.on('error', (err) => errors.push(err));
  const opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (req, res) => {
      const err = new Error(`unexpected HTTP ${res.statusCode} on WebSocket upgrade`);
      err.statusCode = res.statusCode;
      res.resume();
      req.destroy();
      reject(err);
    });
    ws.once('close', () => reject(new Error('WebSocket closed before opening')));
    ws.once('error', (err) => reject(err));
  });
  return withTimeout(opened, timeout, `WebSocket open ${path}`)
    .then(() => ({ ws, messages, closed, errors, close: () => closeWs(ws) }))
    .catch((err) => { ws.terminate(); throw err; });
}

export async function closeWs(ws) {
  if (ws.readyState === WebSocket.CLOSED) return;
  const done = new Promise((resolve) => ws.once('close', resolve));
  if (ws.readyState === WebSocket.OPEN) ws.close();
  else ws.terminate();
  await withTimeout(done, 3000, 'WebSocket close').catch(() => ws.terminate());
}

// A WebSocket handshake that the server must refuse: either an HTTP error
// status instead of 101 (status checked when given), or - as the reference
// does - a 101 followed at once by the end of the connection, with no
// Engine.IO packet in between. Resolves the HTTP status, or 101.
export async function expectWsRefused(port, path, { status = 400 } = {}) {
  let conn;
  try {
    conn = await openWs(port, path);
  } catch (err) {
    if (err.statusCode === undefined) {
      // the connection ended without an HTTP answer: not a proper refusal
      throw new Error(`WebSocket upgrade to ${path} failed without an HTTP status: ${err.message}`);
    }
    assert.equal(err.statusCode, status, `WebSocket upgrade to ${path}`);
    return err.statusCode;
  }
  await withTimeout(conn.closed, 3000, `server closing the refused WebSocket ${path}`);
  assert.equal(conn.messages.items.length, 0,
    `a refused WebSocket got packets: ${JSON.stringify(conn.messages.items)}`);
  return 101;
}

// Opens a v4 WebSocket-only Engine.IO session; resolves after the open packet.
export async function wsHandshake(port, query = 'EIO=4&transport=websocket') {
  const conn = await openWs(port, `/engine.io/?${query}`);
  const open = await conn.messages.next();
  conn.handshake = parseOpenPacket(open);
  return conn;
}

// -------------------------------------------------- WebSocket by hand (TCP)

// A WebSocket client written by hand on a TCP socket, to send frames that a
// proper client library refuses to (unmasked, invalid UTF-8, ...).
export class RawWs {
  static async connect(port, path, { timeout = 5000 } = {}) {
    const sock = net.connect({ host: HOST, port });
    sock.setNoDelay(true);
    const raw = new RawWs(sock);
    await withTimeout(new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    }), timeout, 'TCP connect');
    const key = crypto.randomBytes(16).toString('base64');
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const head = await withTimeout(raw.headers, timeout, 'WebSocket handshake response');
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
    if (!status || status[1] !== '101') {
      sock.destroy();
      throw new Error(`WebSocket handshake refused: ${head.split('\r\n')[0]}`);
    }
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.match(head, new RegExp(`\\r\\nsec-websocket-accept: ${accept.replace(/[+/=]/g, '\\$&')}\\r\\n`, 'i'));
    return raw;
  }

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = new Queue('raw ws frames');
    this.gotHeaders = false;
    this.headers = new Promise((resolve) => { this.resolveHeaders = resolve; });
    this.ended = new Promise((resolve) => {
      sock.on('close', () => { this.frames.end('socket closed'); resolve(); });
    });
    sock.on('error', () => { /* the close event follows */ });
    sock.on('data', (d) => this.onData(d));
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.gotHeaders) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      this.gotHeaders = true;
      this.resolveHeaders(this.buf.subarray(0, i + 4).toString('latin1'));
      this.buf = this.buf.subarray(i + 4);
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) off += 4; // servers must not mask; keep parsing anyway
      if (this.buf.length < off + len) return;
      let payload = Buffer.from(this.buf.subarray(off, off + len));
      if (masked) {
        const mask = this.buf.subarray(off - 4, off);
        for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      }
      this.buf = this.buf.subarray(off + len);
      this.frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
    }
  }

  // Writes one frame. opts: {mask = true, fin = true}
  sendFrame(opcode, payload, { mask = true, fin = true } = {}) {
    payload = Buffer.from(payload);
    const len = payload.length;
    let head;
    if (len < 126) {
      head = Buffer.from([(fin ? 0x80 : 0) | opcode, (mask ? 0x80 : 0) | len]);
    } else if (len < 65536) {
      head = Buffer.alloc(4);
      head[0] = (fin ? 0x80 : 0) | opcode;
      head[1] = (mask ? 0x80 : 0) | 126;
      head.writeUInt16BE(len, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = (fin ? 0x80 : 0) | opcode;
      head[1] = (mask ? 0x80 : 0) | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    if (mask) {
      const key = crypto.randomBytes(4);
      const body = Buffer.from(payload);
      for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
      this.sock.write(Buffer.concat([head, key, body]));
    } else {
      this.sock.write(Buffer.concat([head, payload]));
    }
  }

  sendText(text, opts) { this.sendFrame(0x1, Buffer.from(text, 'utf8'), opts); }

  // Next data frame as {opcode, payload}; control frames other than close are skipped.
  async nextFrame(ms = 5000) {
    for (;;) {
      const f = await this.frames.next(ms);
      if (f.opcode === 0x9 || f.opcode === 0xa) continue;
      return f;
    }
  }

  // Waits for the server's close frame; resolves its status code (1005 when
  // the frame has none), or null when the TCP connection ended without one.
  async closeCode(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      let f;
      try {
        f = await this.frames.next(Math.max(1, deadline - Date.now()));
      } catch (err) {
        if (this.frames.ended) return null;
        throw err;
      }
      if (f.opcode === 0x8) return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    }
  }

  destroy() { this.sock.destroy(); }
}

// --------------------------------------------------------- Engine.IO clients

// An engine.io-client 6.x socket; resolves {socket, messages, closed} once open.
export function connectV4(url, opts = {}) {
  return connectWith((u, o) => new EioSocket(u, o), url, opts);
}

// An engine.io-client 3.5.x socket (protocol v3).
export function connectV3(url, opts = {}) {
  return connectWith((u, o) => eioV3(u, o), url, opts);
}

function connectWith(make, url, opts) {
  const socket = make(url, { path: '/engine.io/', ...opts });
  const messages = new Queue('engine.io messages');
  const errors = [];
  const closed = new Promise((resolve) => {
    socket.on('close', (reason, desc) => {
      messages.end(`engine.io socket closed: ${reason}`);
      resolve({ reason, desc });
    });
  });
  socket.on('message', (data) => messages.push(data));
  socket.on('error', (err) => errors.push(err));
  // resolves the new transport's name once an upgrade completed
  const upgraded = new Promise((resolve) => {
    socket.once('upgrade', (transport) => resolve(transport && transport.name));
  });
  const opened = new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', (err) => reject(err instanceof Error ? err : new Error(String(err))));
    socket.once('close', (reason) => reject(new Error(`closed before open: ${reason}`)));
  });
  const client = { socket, messages, closed, errors, upgraded, close: () => closeEio(client) };
  return withTimeout(opened, 5000, 'engine.io client open')
    .then(() => client)
    .catch((err) => { socket.close(); throw err; });
}

export async function closeEio(client) {
  if (client.socket.readyState === 'closed') return;
  client.socket.close();
  await withTimeout(client.closed, 3000, 'engine.io client close').catch(() => {});
}

// Sends one message and returns the echo.
export async function echo(client, data, ms = 5000) {
  client.socket.send(data);
  return client.messages.next(ms);
}

// Proves the server still serves: a fresh polling client and a fresh
// WebSocket client each do an echo round trip. Takes the URL or the object
// startServer() returned (then a dead server process is reported as such).
export async function assertServerAlive(server) {
  const url = typeof server === 'string' ? server : server.url;
  if (typeof server !== 'string' && server.exitStatus) {
    assert.fail(`the server process exited: ${JSON.stringify(server.exitStatus)}\n` +
      `stderr (end): ${server.stderr.slice(-2000)}`);
  }
  for (const transports of [['polling'], ['websocket']]) {
    const c = await connectV4(url, { transports });
    try {
      const text = `alive ${transports[0]} ${Math.random()}`;
      assert.equal(await echo(c, text), text);
    } finally {
      await c.close();
    }
  }
}

// -------------------------------------------------- private processes

// A TCP port of 127.0.0.1 that nothing listens on right now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// redis-server on `port` of 127.0.0.1 (default: a free one; no persistence; `extra` arguments
// appended, run in `cwd`); resolves {url, port, stop()} once it accepts connections.
export async function startRedis(port, extra = [], cwd = undefined) {
  port = port || await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no',
    '--bind', HOST, ...extra], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
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
  child.stdout.resume();
  return {
    url: `redis://${HOST}:${port}`,
    port,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'redis-server exit').catch(() => child.kill('SIGKILL'));
    },
  };
}

// `redis-cli -p port args...` on 127.0.0.1 (bounded to 10 s): its stdout, trimmed.
export function redisCli(port, ...args) {
  return execFileSync('redis-cli', ['-h', HOST, '-p', String(port), ...args.map(String)],
    { encoding: 'utf8', timeout: 10000 }).trim();
}

// A Redis Cluster of `masters` redis-servers on free ports of 127.0.0.1, no replicas, in a
// temporary directory (their nodes.conf), made by `redis-cli --cluster create`; resolves once every
// node says cluster_state:ok: {url (the first node's), ports, nodes, stop()}.
export async function startRedisCluster(masters = 3) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sio-redis-cluster-'));
  const nodes = [];
  const stop = async () => {
    for (const n of nodes) await n.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      nodes.push(await startRedis(port, ['--cluster-enabled', 'yes', '--cluster-config-file',
        `nodes-${port}.conf`, '--cluster-node-timeout', '2000', '--dir', dir], dir));
    }
    const ports = nodes.map((n) => n.port);
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `${HOST}:${p}`),
      '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20000 });
    const deadline = Date.now() + 20000;
    while (!ports.every((p) => /cluster_state:ok/.test(redisCli(p, 'CLUSTER', 'INFO')))) {
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not come up');
      await sleep(100);
    }
    return { url: `redis://${HOST}:${ports[0]}`, ports, nodes, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
