// Helpers of the Socket.IO tests: real socket.io clients (socket.io-client
// 4.8, and 2.x as socket.io-client-v2, which speaks EIO=3 like WeChat's
// weapp.socket.io) wrapped so that every event is recorded in a queue, acks
// are awaited with a time limit, and whole managers close cleanly. Plus a
// comparison of nested data that holds binary.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Manager as ManagerV4 } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { Queue, isBinary, toBuffer, sleep, withTimeout } from './helpers.mjs';

// The events the contract server emits; each wrapped socket records them.
export const RECORDED_EVENTS = ['auth', 'message-back', 'echo', 'broadcast', 'room-message', 'welcome', 'nsp'];

// Strings that catch byte/UTF-16 length confusion: BMP accents, CJK, emoji
// (surrogate pairs) and an astral character at the very end.
export const UNICODE_STRINGS = [
  'héllo wörld',
  '中文字符 日本語 한국어',
  '😀🎉👍🏽 family: 👨‍👩‍👧‍👦',
  `${'😀'.repeat(40)}中文${'é'.repeat(20)}𝄞`,
  '\u0000 nul, \u2028 line separator, "quotes" \\ backslash \n newline',
];

export function randomBuffer(n) {
  return crypto.randomBytes(n);
}

// A JSON-like rendering in which every binary value becomes
// {binary: <length>, sha256}: assert.deepEqual on two renderings checks the
// structure and that every buffer is binary and byte-exact.
export function canonical(value) {
  if (isBinary(value)) {
    const buf = toBuffer(value);
    return { binary: buf.length, sha256: crypto.createHash('sha256').update(buf).digest('hex') };
  }
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = canonical(value[k]);
    return out;
  }
  return value;
}

export function assertSameData(actual, expected, message) {
  assert.deepEqual(canonical(actual), canonical(expected), message);
}

// client kinds: {version: 4 | 2, transports: [...] | undefined}
export function kindName(kind) {
  return `socket.io-client ${kind.version === 2 ? '2.x' : '4.8'} ` +
    `(${kind.transports ? kind.transports.join('+') : 'default transports'})`;
}

// A Manager (one Engine.IO connection) of the given kind. Sockets made with
// manager.socket() share it. close() disconnects every socket and the engine.
export function openManager(url, kind, extra = {}) {
  const opts = {
    reconnection: false,
    timeout: 5000,
    ...(kind.transports ? { transports: kind.transports } : {}),
    ...extra,
  };
  const manager = kind.version === 2 ? new ioV2.Manager(url, opts) : new ManagerV4(url, opts);
  return manager;
}

// Wraps a socket.io client socket: records events and disconnects.
export class SioSocket {
  constructor(socket, manager, version) {
    this.socket = socket;
    this.manager = manager;
    this.version = version;
    this.queues = new Map();
    for (const ev of RECORDED_EVENTS) socket.on(ev, (...args) => this.queue(ev).push(args));
    this.disconnects = new Queue('disconnect reasons');
    socket.on('disconnect', (reason) => this.disconnects.push(reason));
    // resolves the socket, or rejects with an Error whose .data is what the
    // server's CONNECT_ERROR carried (v2: the 'error' event's argument)
    this.connected = new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(this));
      socket.once('connect_error', (err) => reject(asError(err)));
      if (version === 2) {
        socket.once('error', (data) => reject(asError(data)));
        socket.once('connect_timeout', () => reject(new Error('connect_timeout')));
      }
    });
    this.connected.catch(() => { /* observed by whoever awaits it */ });
  }

  get id() { return this.socket.id; }

  get engine() { return this.manager.engine; }

  queue(ev) {
    if (!this.queues.has(ev)) this.queues.set(ev, new Queue(`event ${ev}`));
    return this.queues.get(ev);
  }

  // Resolves the args of the next `ev` event.
  next(ev, ms = 5000) {
    return this.queue(ev).next(ms);
  }

  // Events of this kind received and not yet taken.
  pending(ev) {
    return this.queue(ev).items;
  }

  emit(ev, ...args) {
    this.socket.emit(ev, ...args);
  }

  // Emits with an ack callback; resolves the ack's args.
  ack(ev, ...args) {
    return withTimeout(new Promise((resolve) => {
      this.socket.emit(ev, ...args, (...answer) => resolve(answer));
    }), 5000, `ack of ${ev}`);
  }

  close() {
    try { this.socket.disconnect(); } catch { /* already closed */ }
  }
}

function asError(data) {
  if (data instanceof Error) return data;
  const message = typeof data === 'string' ? data : (data && data.message) || JSON.stringify(data);
  const err = new Error(message);
  err.data = data;
  return err;
}

// Opens a socket of namespace `nsp` on `manager`, waits for it to connect.
// opts: {auth} (v4) or {query} (v2).
export async function connectOn(manager, version, nsp = '/', opts = {}) {
  const s = new SioSocket(manager.socket(nsp, opts), manager, version);
  await withTimeout(s.connected, 5000, `connect to ${nsp}`);
  return s;
}

// A client of the given kind on its own connection, connected to `nsp`.
// The result also carries `upgraded` (resolves the transport name after an
// upgrade) and `firstTransport` (the transport it opened with).
export async function connectClient(url, kind, { nsp = '/', auth, query, managerOpts } = {}) {
  const manager = openManager(url, kind, managerOpts);
  const opts = {};
  if (auth !== undefined) opts.auth = auth;
  if (query !== undefined) opts.query = query;
  const s = new SioSocket(manager.socket(nsp, opts), manager, kind.version);
  // manager.socket() opened the engine synchronously
  s.firstTransport = manager.engine.transport && manager.engine.transport.name;
  s.upgraded = new Promise((resolve) => {
    manager.engine.once('upgrade', (t) => resolve(t && t.name));
  });
  try {
    await withTimeout(s.connected, 5000, `connect to ${nsp}`);
  } catch (err) {
    await closeManager(manager);
    throw err;
  }
  return s;
}

// Disconnects every socket of a manager and closes its engine.
export async function closeManager(manager) {
  const sockets = manager.nsps instanceof Map ? [...manager.nsps.values()]
    : Object.values(manager.nsps || {});
  for (const s of sockets) {
    try { s.disconnect(); } catch { /* ignore */ }
  }
  const engine = manager.engine;
  if (engine && engine.readyState !== 'closed') {
    const closed = new Promise((resolve) => engine.once('close', resolve));
    try { engine.close(); } catch { /* ignore */ }
    await withTimeout(closed, 3000, 'engine close').catch(() => {});
  }
}

// Asserts that no `ev` event arrives at `client` within `ms`.
export async function assertNoEvent(client, ev, ms = 200) {
  await sleep(ms);
  assert.deepEqual(client.pending(ev), [], `unexpected ${ev} events`);
}
