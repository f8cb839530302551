// Several nodes behind nginx (README "Several nodes behind one address"): a private redis-server, two
// contract nodes with --redis and --cookie io, and nginx in front of them configured with the
// README's own nginx block (read from README.md, so that the documented configuration is the one
// tested), only its upstream servers and listen address replaced. nginx runs as a plain process:
// its own prefix, configuration, pid, logs and temporary paths in a temporary directory, `daemon
// off`, on a free port of 127.0.0.1 (as `nobody` when the tests run as root). Skipped when nginx or
// redis-server is not installed.
//
// The nodes are the server under test (SIO_SERVER; the C contract server by default). Each client
// comes from a loopback address of its own (127.0.0.x, through an http.Agent's localAddress), so
// that nginx's access log (remote address, upstream, status, request) tells which node served
// which client's every request.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, startServer } from './server.mjs';
import { HOST, freePort, parseOpenPacket, sleep, startRedis, withTimeout } from './helpers.mjs';
import { closeManager, connectClient } from './sio-helpers.mjs';

function findNginx() {
  const dirs = [...(process.env.PATH || '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const p = path.join(dir, 'nginx');
    if (fs.existsSync(p) && spawnSync(p, ['-v']).status === 0) return p;
  }
  return null;
}

const NGINX = findNginx();
const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const SKIP = !NGINX ? 'nginx is not installed (apt install nginx)'
  : !HAVE_REDIS ? 'redis-server is not installed (apt install redis-server)' : false;

// Short heartbeats, so that a few seconds of traffic cross several ping cycles (each one a long-poll
// GET answered by the node holding the session).
const PING_INTERVAL = 400;
const NODE_ARGS = ['--ping-interval', String(PING_INTERVAL), '--ping-timeout', '2000', '--cookie', 'io'];
const POLLING = { version: 4, transports: ['polling'] };
const DEFAULT = { version: 4 };

// The README's nginx block, for these nodes and this port; without its `hash` line (round robin)
// when `sticky` is false.
function readmeBlock(nodePorts, port, sticky) {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'README.md holds one nginx block');
  let conf = blocks[0];
  assert.match(conf, /^\s*hash \$remote_addr consistent;/m);
  if (!sticky) conf = conf.replace(/^\s*hash \$remote_addr consistent;.*\n/m, '');
  let n = 0;
  conf = conf.replace(/^(\s*)server \S+:\d+;/gm, (all, indent) => `${indent}server ${HOST}:${nodePorts[n++]};`);
  assert.equal(n, nodePorts.length, 'one upstream server line per node');
  conf = conf.replace(/^(\s*)listen \S+;/m, (all, indent) => `${indent}listen ${HOST}:${port};`);
  return conf;
}

// A uid/gid pair to run nginx as when we are root: a test has no business running a proxy as root.
function unprivileged() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout);
  return Number.isInteger(uid) && uid > 0 && Number.isInteger(gid) && gid > 0 ? { uid, gid } : {};
}

// nginx in front of `nodePorts`; resolves {url, port, log(), stop()} once it accepts connections.
async function startNginx(name, nodePorts, sticky) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sio-nginx-${name}-`));
  const port = await freePort();
  const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 256; }
http {
  log_format sio '$remote_addr|$upstream_addr|$status|$request_method|$request_uri';
  access_log ${dir}/access.log sio;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${readmeBlock(nodePorts, port, sticky)}
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const ids = unprivileged();
  if (ids.uid) {
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chownSync(path.join(dir, 'nginx.conf'), ids.uid, ids.gid);
  }
  const child = spawn(NGINX, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...ids });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const errorLog = () => { try { return fs.readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; } };
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nginx exited (${child.exitCode}): ${stderr}\n${errorLog()}\n${conf}`);
    }
    const up = await new Promise((resolve) => {
      const sock = net.connect(port, HOST, () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not listen within 5 s: ${stderr}\n${errorLog()}`);
    await sleep(50);
  }
  return {
    port,
    url: `http://${HOST}:${port}`,
    // The access log's lines so far: {addr, upstream, status, method, uri}.
    log() {
      let text = '';
      try { text = fs.readFileSync(path.join(dir, 'access.log'), 'utf8'); } catch { /* none yet */ }
      return text.split('\n').filter(Boolean).map((line) => {
        const [addr, upstream, status, method, uri] = line.split('|');
        return { addr, upstream, status: Number(status), method, uri };
      });
    },
    errorLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
        await withTimeout(exited, 5000, 'nginx exit').catch(() => {
          try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// What makes a socket.io-client's requests (polling through the agent, the WebSocket through ws)
// leave from loopback address `addr`.
function from(addr) {
  return { agent: new http.Agent({ localAddress: addr }), localAddress: addr };
}

// A raw request from loopback address `addr`.
function requestFrom(addr, port, { method = 'GET', path: p, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: p, localAddress: addr, agent: false,
      headers: { connection: 'close', ...(body ? { 'content-type': 'text/plain;charset=UTF-8' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// A polling handshake from `addr`, then `n` NOOP packets POSTed to its session: their statuses and
// error bodies, and the handshake's Set-Cookie.
async function probeSession(addr, port, n = 4) {
  const hs = await requestFrom(addr, port, { path: '/socket.io/?EIO=4&transport=polling' });
  assert.equal(hs.status, 200, hs.text);
  const { sid } = parseOpenPacket(hs.text);
  const answers = [];
  for (let i = 0; i < n; i++) {
    const r = await requestFrom(addr, port, { method: 'POST', path: `/socket.io/?EIO=4&transport=polling&sid=${sid}`, body: '6' });
    answers.push(r.status === 200 ? 200 : `${r.status} ${r.text}`);
  }
  return { sid, cookie: hs.headers['set-cookie'], answers };
}

// The nodes that served the logged requests of client address `addr`.
const upstreamsOf = (lines, addr) => new Set(lines.filter((l) => l.addr === addr).map((l) => l.upstream));

describe('several nodes behind nginx', { skip: SKIP, timeout: 60000 }, () => {
  let redis, nodeA, nodeB, sticky, roundRobin;

  before(async () => {
    redis = await startRedis();
    nodeA = await startServer(['--redis', redis.url, ...NODE_ARGS]);
    nodeB = await startServer(['--redis', redis.url, ...NODE_ARGS]);
    sticky = await startNginx('sticky', [nodeA.port, nodeB.port], true);
    roundRobin = await startNginx('round-robin', [nodeA.port, nodeB.port], false);
  });

  after(async () => {
    for (const ng of [sticky, roundRobin]) if (ng) await ng.stop();
    for (const n of [nodeA, nodeB]) if (n) await n.stop();
    if (redis) await redis.stop();
    for (const n of [nodeA, nodeB]) if (n) assert.deepEqual(n.exitStatus, { code: 0, signal: null }, n.stderr);
  });

  test('the sticky nginx keeps a raw session on its node and passes the io cookie on', async () => {
    const addr = '127.0.0.10';
    const { sid, cookie, answers } = await probeSession(addr, sticky.port);
    assert.deepEqual(answers, [200, 200, 200, 200]);
    assert.deepEqual(cookie, [`io=${sid}; Path=/; HttpOnly; SameSite=Lax`]);
    assert.equal(upstreamsOf(sticky.log(), addr).size, 1);
  });

  test('a polling-only client keeps one session through many pings and acks', async () => {
    const addr = '127.0.0.11';
    const c = await connectClient(sticky.url, POLLING, { managerOpts: from(addr) });
    try {
      const id = c.id;
      const sid = c.engine.id;
      let pings = 0;
      c.engine.on('ping', () => { pings++; });
      const started = Date.now();
      let n = 0;
      while (Date.now() - started < 6 * PING_INTERVAL) {
        assert.deepEqual(await c.ack('message-with-ack', n, 'héllo', { n }), [n, 'héllo', { n }]);
        n++;
        await sleep(10);
      }
      assert.ok(n >= 20, `only ${n} round trips`);
      assert.ok(pings >= 3, `only ${pings} pings in ${Date.now() - started} ms`);
      assert.equal(c.id, id);
      assert.equal(c.engine.id, sid);
      assert.equal(c.engine.transport.name, 'polling');
      assert.deepEqual(c.disconnects.items, []);
      // Every request so far (the parked GET is logged once answered) went to one node, and all
      // were answered 200: POSTs of the acks and GETs between pings alike.
      const lines = sticky.log().filter((l) => l.addr === addr);
      assert.ok(lines.length >= n, `${lines.length} requests logged for ${n} acks`);
      assert.equal(upstreamsOf(lines, addr).size, 1, JSON.stringify(lines.slice(0, 5)));
      assert.deepEqual(lines.filter((l) => l.status !== 200), []);
      assert.ok(lines.some((l) => l.method === 'POST') && lines.some((l) => l.method === 'GET'));
    } finally {
      await closeManager(c.manager);
    }
  });

  test('a default client upgrades to WebSocket through nginx', async () => {
    const addr = '127.0.0.12';
    const c = await connectClient(sticky.url, DEFAULT, { managerOpts: from(addr) });
    try {
      assert.equal(c.firstTransport, 'polling');
      assert.equal(await withTimeout(c.upgraded, 5000, 'upgrade'), 'websocket');
      const id = c.id;
      for (let i = 0; i < 20; i++) assert.deepEqual(await c.ack('echo', i, Buffer.from([i])), [i, Buffer.from([i])]);
      await sleep(3 * PING_INTERVAL); // heartbeats over the WebSocket, through nginx
      assert.deepEqual(await c.ack('message-with-ack', 'after pings'), ['after pings']);
      assert.equal(c.id, id);
      assert.equal(c.engine.transport.name, 'websocket');
      assert.deepEqual(c.disconnects.items, []);
    } finally {
      await closeManager(c.manager);
    }
    // nginx logs the WebSocket once it ends: 101, on the node of the polling requests before it.
    let lines = [];
    for (let i = 0; i < 40; i++) {
      lines = sticky.log().filter((l) => l.addr === addr);
      if (lines.some((l) => l.status === 101)) break;
      await sleep(50);
    }
    const ws = lines.filter((l) => /transport=websocket/.test(l.uri));
    assert.equal(ws.length, 1, JSON.stringify(lines));
    assert.equal(ws[0].status, 101);
    assert.equal(upstreamsOf(lines, addr).size, 1, JSON.stringify(lines));
  });

  test('clients from different addresses reach both nodes; a broadcast crosses them through Redis', async () => {
    // Which node each address hashes to, learnt from a raw handshake's log line.
    const byNode = new Map();
    for (let i = 20; i < 80 && byNode.size < 2; i++) {
      const addr = `127.0.0.${i}`;
      await probeSession(addr, sticky.port, 0);
      const [node] = upstreamsOf(sticky.log(), addr);
      if (node && !byNode.has(node)) byNode.set(node, addr);
    }
    assert.equal(byNode.size, 2, `every address from 127.0.0.20 on hashed to ${[...byNode.keys()]}`);
    assert.deepEqual(new Set(byNode.keys()), new Set([`${HOST}:${nodeA.port}`, `${HOST}:${nodeB.port}`]));
    const [addrA, addrB] = [byNode.get(`${HOST}:${nodeA.port}`), byNode.get(`${HOST}:${nodeB.port}`)];
    const a = await connectClient(sticky.url, POLLING, { managerOpts: from(addrA) });
    const b = await connectClient(sticky.url, POLLING, { managerOpts: from(addrB) });
    try {
      // The count is cluster-wide: each node counts the other's client through Redis.
      for (const c of [a, b]) {
        let got;
        for (let i = 0; i < 40 && got !== 2; i++) {
          [got] = await c.ack('count');
          if (got !== 2) await sleep(100);
        }
        assert.equal(got, 2);
      }
      a.emit('broadcast', 'from A', { n: 1 });
      for (const c of [a, b]) assert.deepEqual(await c.next('broadcast'), ['from A', { n: 1 }]);
      b.emit('broadcast', 'from B', Buffer.from('bin'));
      for (const c of [a, b]) assert.deepEqual(await c.next('broadcast'), ['from B', Buffer.from('bin')]);
      for (const c of [a, b]) assert.deepEqual(c.disconnects.items, []);
    } finally {
      await closeManager(a.manager);
      await closeManager(b.manager);
    }
    const lines = sticky.log();
    assert.deepEqual(upstreamsOf(lines, addrA), new Set([`${HOST}:${nodeA.port}`]));
    assert.deepEqual(upstreamsOf(lines, addrB), new Set([`${HOST}:${nodeB.port}`]));
  });

  test('negative control: through a round-robin nginx the same session is lost', async () => {
    // Raw: the session's requests alternate between the nodes, and the other node does not know it.
    const raw = await probeSession('127.0.0.13', roundRobin.port);
    assert.ok(raw.answers.includes(200), JSON.stringify(raw.answers));
    assert.ok(raw.answers.includes('400 {"code":1,"message":"Session ID unknown"}'), JSON.stringify(raw.answers));
    // The polling-only client: it never connects, or is disconnected soon after.
    const addr = '127.0.0.14';
    let c, lost;
    try {
      c = await connectClient(roundRobin.url, POLLING, { managerOpts: from(addr) });
    } catch (err) {
      lost = `connect_error: ${err.message}`;
    }
    if (c) {
      lost = await c.disconnects.next(3000).then((reason) => `disconnect: ${reason}`, () => null);
      await closeManager(c.manager);
    }
    assert.ok(lost, 'the client kept its session without stickiness');
    const lines = roundRobin.log().filter((l) => l.addr === addr);
    assert.equal(upstreamsOf(lines, addr).size, 2, JSON.stringify(lines));
    assert.ok(lines.some((l) => l.status === 400), JSON.stringify(lines));
  });
});
