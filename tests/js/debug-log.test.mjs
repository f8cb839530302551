// SIO_DEBUG: the server's debug lines on stderr for a real socket.io-client 4.8 session
// (handshake over polling, the upgrade, an event with its ack, the close), by category.
// Against the Node reference (SIO_REFERENCE=1) there is nothing to check: skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer } from './server.mjs';
import { connectClient, closeManager } from './sio-helpers.mjs';
import { sleep, startRedis, withTimeout } from './helpers.mjs';

const REFERENCE = !!process.env.SIO_REFERENCE;
const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;

// The server's stderr lines as the core writes them ("sio: <category>: <message>"): the Lua
// servers' log prefixes each with its time and level, cut here.
function lines(server) {
  return server.stderr.split('\n').map((l) => l.replace(/^\S+Z DEBUG\s+(?=sio: )/, ''));
}

// Waits until `re` matches a line of the server's stderr (lines come as the server logs them).
async function waitLine(server, re, what) {
  await withTimeout((async () => {
    while (!lines(server).some((l) => re.test(l))) await sleep(20);
  })(), 3000, `${what}\nstderr:\n${server.stderr}`);
  return lines(server).filter((l) => re.test(l));
}

test('SIO_DEBUG=engine,socket: one line per event of a socket.io-client 4.8 session', { skip: REFERENCE }, async () => {
  const server = await startServer([], { env: { SIO_DEBUG: 'engine,socket' } });
  try {
    const client = await connectClient(server.url, { version: 4 });
    const sid = client.socket.io.engine.id;
    const socketId = client.socket.id;
    await withTimeout(client.upgraded, 5000, 'upgrade');
    const answer = await withTimeout(client.socket.emitWithAck('echo', 'hello', 42), 3000, 'echo ack');
    assert.equal(answer, 'hello'); // emitWithAck resolves the first argument

    const hs = await waitLine(server, new RegExp(`^sio: engine: session ${sid} handshake: transport polling, EIO 4, peer 127\\.0\\.0\\.1$`), 'handshake');
    assert.equal(hs.length, 1);
    await waitLine(server, new RegExp(`^sio: engine: session ${sid} upgrade: polling -> websocket$`), 'upgrade');
    await waitLine(server, new RegExp(`^sio: engine: session ${sid} in: message \\(\\d+ bytes, websocket\\)$`), 'engine packet in');
    await waitLine(server, new RegExp(`^sio: engine: session ${sid} out: message \\(\\d+ bytes, (polling|websocket)\\)$`), 'engine packet out');
    // The CONNECT reply carries the socket id; the event in names its event, never its arguments.
    await waitLine(server, new RegExp(`^sio: socket: socket ${socketId} out: connect nsp / ack -1, 0 attachments \\(\\d+ bytes\\)$`), 'connect out');
    const evIn = await waitLine(server, new RegExp(`^sio: socket: socket ${socketId} in: event "echo" nsp / ack 0, 0 attachments \\(\\d+ bytes\\)$`), 'event in');
    assert.ok(!evIn[0].includes('hello'), 'a payload never goes to the log');
    await waitLine(server, new RegExp(`^sio: socket: socket ${socketId} out: ack nsp / ack 0, 0 attachments \\(\\d+ bytes\\)$`), 'ack out');

    await closeManager(client.manager);
    await waitLine(server, new RegExp(`^sio: engine: session ${sid} closed: transport close$`), 'close');
    // Only the categories asked for: no nsp or http lines.
    assert.ok(!lines(server).some((l) => /^sio: (nsp|http|adapter|redis): /.test(l)), server.stderr);
  } finally {
    await server.stop();
  }
});

test('SIO_DEBUG=http,nsp: requests with their status, namespace connections and refusals', { skip: REFERENCE }, async () => {
  const server = await startServer([], { env: { SIO_DEBUG: 'http,nsp' } });
  try {
    const client = await connectClient(server.url, { version: 4, transports: ['polling'] });
    const socketId = client.socket.id;
    await waitLine(server, /^sio: http: GET \/socket\.io\/ -> 200 \(\d+ bytes, peer 127\.0\.0\.1\)$/, 'GET handshake');
    await waitLine(server, new RegExp(`^sio: nsp: socket ${socketId} connected to nsp / \\(session ${client.socket.io.engine.id}\\)$`), 'nsp connect');
    const bad = client.manager.socket('/no-such-nsp');
    await withTimeout(new Promise((resolve) => bad.once('connect_error', resolve)), 3000, 'refusal');
    await waitLine(server, /^sio: nsp: session \S+: connect to nsp \/no-such-nsp refused: Invalid namespace$/, 'nsp refused');
    await closeManager(client.manager);
    await waitLine(server, new RegExp(`^sio: nsp: socket ${socketId} disconnected from nsp /: client namespace disconnect$`), 'nsp disconnect');
    assert.ok(!lines(server).some((l) => /^sio: (engine|socket): /.test(l)), server.stderr);
  } finally {
    await server.stop();
  }
});

test('SIO_DEBUG unset: no debug line', { skip: REFERENCE }, async () => {
  const server = await startServer([], { env: { SIO_DEBUG: '' } });
  try {
    const client = await connectClient(server.url, { version: 4 });
    await withTimeout(client.socket.emitWithAck('echo', 1), 3000, 'echo');
    await closeManager(client.manager);
    await sleep(100);
    assert.ok(!lines(server).some((l) => /^sio: (engine|socket|nsp|adapter|redis|http): /.test(l)), server.stderr);
  } finally {
    await server.stop();
  }
});

test('SIO_DEBUG=adapter,redis: the Redis links, what is published and received, cluster requests', {
  skip: REFERENCE || (HAVE_REDIS ? false : 'redis-server is not installed'),
}, async () => {
  const redis = await startRedis();
  const url = `redis://127.0.0.1:${redis.port}`;
  const a = await startServer(['--redis', url], { env: { SIO_DEBUG: 'adapter,redis' } });
  const b = await startServer(['--redis', url]);
  try {
    await waitLine(a, new RegExp(`^sio: redis: publisher link up \\(127\\.0\\.0\\.1:${redis.port}\\)$`), 'publisher up');
    await waitLine(a, new RegExp(`^sio: redis: subscriber link up \\(127\\.0\\.0\\.1:${redis.port}\\)$`), 'subscriber up');
    const ca = await connectClient(a.url, { version: 4 });
    const cb = await connectClient(b.url, { version: 4 });
    assert.deepEqual(await ca.ack('count'), [2]); // a request the other node answers
    await waitLine(a, /^sio: adapter: nsp \/: request \S+ \(type \d+\) started$/, 'request started');
    await waitLine(a, /^sio: adapter: nsp \/: request \S+ \(type \d+\) ended: ok, 1 of 1 answers$/, 'request ended');
    ca.emit('broadcast', 'secret-arg');
    await waitLine(a, /^sio: adapter: nsp \/: broadcast to the other nodes \(0 rooms, 0 excepted\)$/, 'broadcast out');
    await waitLine(a, /^sio: redis: publish \S+ \(\d+ bytes\)$/, 'publish');
    cb.emit('broadcast', 'from b');
    await waitLine(a, /^sio: adapter: nsp \/: broadcast from another node$/, 'broadcast in');
    await waitLine(a, /^sio: redis: pmessage on \S+ \(\d+ bytes\)$/, 'message received');
    assert.ok(!stderrHas(a, 'secret-arg'), a.stderr);
    await closeManager(ca.manager);
    await closeManager(cb.manager);
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

function stderrHas(server, text) { // anywhere in its stderr
  return server.stderr.includes(text);
}
