// Metrics (--metrics /metrics): socket.io-client 4.8 over websocket and polling and socket.io-client
// 2.x (EIO=3, --allow-eio3) connected to the server under test, one ack asked, then /metrics
// scraped: the sessions by transport and protocol, the sockets of "/", the handshakes, the
// connections and the ack, exactly; the text's shape (# HELP, # TYPE, escaped labels); GET/HEAD only.
// The Node reference has no metrics (skipped with SIO_REFERENCE=1).
const REFERENCE = process.env.SIO_REFERENCE === '1';

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, closeManager } from './sio-helpers.mjs';
import { startServer } from './server.mjs';

const V4_WS = { version: 4, transports: ['websocket'] };
const V4_POLLING = { version: 4, transports: ['polling'] };
const V2_WS = { version: 2, transports: ['websocket'] };

// {`name{labels}`: value} of every sample line (labels as written: the server's order).
function samples(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

describe('metrics', { skip: REFERENCE && 'the Node reference has no metrics' }, () => {
  let server;
  before(async () => { server = await startServer(['--allow-eio3', '--metrics', '/metrics']); });
  after(async () => { if (server) await server.stop(); });

  test('exact counts after socket.io-client 4.8 (websocket, polling) and 2.x connected', async () => {
    const clients = [];
    try {
      for (const kind of [V4_WS, V4_WS, V4_POLLING, V2_WS]) clients.push(await connectClient(server.url, kind));
      for (const c of clients) await c.next('auth');
      assert.deepEqual(await clients[0].ack('message-with-ack', 'x', 2), ['x', 2]);
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      const m = samples(text);
      assert.equal(m['sio_engine_sessions{transport="websocket",protocol="4"}'], 2);
      assert.equal(m['sio_engine_sessions{transport="polling",protocol="4"}'], 1);
      assert.equal(m['sio_engine_sessions{transport="websocket",protocol="3"}'], 1);
      assert.equal(m['sio_engine_sessions{transport="polling",protocol="3"}'], 0);
      assert.equal(m['sio_sockets{namespace="/"}'], 4);
      assert.equal(m.sio_engine_handshakes_total, 4);
      assert.equal(m.sio_engine_upgrades_total, 0);
      assert.equal(m.sio_connections_total, 4);
      assert.equal(m.sio_acks_replied_total, 1);
      for (let i = 0; i <= 5; i++) assert.equal(m[`sio_engine_handshakes_refused_total{reason="${i}"}`], 0);
      assert.match(text, /^# HELP sio_engine_handshakes_total .+\n# TYPE sio_engine_handshakes_total counter\n/m);
      assert.match(text, /^# TYPE sio_sockets gauge$/m);
    } finally {
      for (const c of clients) await closeManager(c.manager);
    }
  });

  test('GET and HEAD only', async () => {
    const head = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });
});
