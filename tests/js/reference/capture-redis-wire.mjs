#!/usr/bin/env node
// Captures what two Node reference nodes (contract-server.mjs --redis-mode MODE) say to Redis, the
// way ../../../../shared/redis-adapter-wire.md was captured: a private redis-server on a free
// loopback port, `redis-cli MONITOR`, and socket.io-client 4.8 clients making the nodes broadcast,
// emit to rooms, send binary, count (fetchSockets), serverSideEmit with answers, broadcast with
// acks, join remote sockets and (streams) recover a client cut from node A on node B. Each step is
// marked in the MONITOR stream by an `ECHO "== step NAME =="` of this script's own connection.
//
//   node tests/js/reference/capture-redis-wire.mjs streams|sharded [OUT.json]
//
// Prints the MONITOR lines by step on stdout; OUT.json keeps every command's arguments as hex (the
// bytes exactly as sent: MONITOR escapes them, this script unescapes them), for the docs' hexdumps
// and the tests' vectors. Needs redis-server and redis-cli; run from anywhere.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { startRedis, sleep } from '../helpers.mjs';
import { startServer } from '../server.mjs';
import { closeManager, connectClient } from '../sio-helpers.mjs';
import { parseMonitorLine, startProxy } from '../cluster-modes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const mode = process.argv[2];
const out = process.argv[3];
if (!['streams', 'sharded', 'classic'].includes(mode)) {
  process.stderr.write('usage: capture-redis-wire.mjs streams|sharded|classic [OUT.json]\n');
  process.exit(2);
}
const NODE = `node ${path.join(here, 'contract-server.mjs')}`;
const KIND = { version: 4, transports: ['websocket'] };

const redis = await startRedis();
const monitor = spawn('redis-cli', ['-p', String(redis.port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'inherit'] });
let raw = '';
monitor.stdout.setEncoding('latin1');
monitor.stdout.on('data', (d) => { raw += d; });
await sleep(200);
const marker = createClient({ url: redis.url });
await marker.connect();
const step = (name) => marker.echo(`== step ${name} ==`);

const nodes = [];
const clients = [];
let proxy;
try {
  const flags = ['--redis', redis.url, '--redis-mode', mode, '--recovery', '60000'];
  await step('start node A');
  nodes.push(await startServer(flags, { command: NODE }));
  await sleep(300);
  await step('start node B');
  nodes.push(await startServer(flags, { command: NODE }));
  await sleep(300);
  const [A, B] = nodes;
  const record = (c) => {
    c.socket.on('server-event', (...args) => c.queue('server-event').push(args));
    c.socket.on('ack-me', (...args) => { const ack = args.pop(); ack(c.id); });
    clients.push(c);
    return c;
  };
  await step('clients connect (a on A, b on B)');
  const a = record(await connectClient(A.url, KIND));
  const b = record(await connectClient(B.url, KIND));
  await sleep(200);

  await step('broadcast from A');
  a.emit('broadcast', 'hello', { n: 42, s: 'héllo 😀', list: [1, null, true, 1.5] }, -7);
  await b.next('broadcast');
  await a.next('broadcast');

  await step('b joins room others; to-room-others from A');
  await b.ack('join', 'others');
  await a.ack('join', 'others');
  a.emit('to-room-others', 'others', 'x', 1);
  await b.next('room-message');

  await step('binary broadcast from B');
  b.emit('broadcast', 'bin', Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
    { nested: [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'text'] });
  await a.next('broadcast');
  await b.next('broadcast');

  await step('count from A (fetchSockets)');
  const [count] = await a.ack('count');
  if (count !== 2) throw new Error(`count ${count}`);

  await step('serverSideEmit with an answer from A');
  const [sse] = await a.ack('server-emit', 'hi', { n: 1 });
  if (!sse.ok) throw new Error(`server-emit ${JSON.stringify(sse)}`);

  await step('serverSideEmit without an answer from B');
  b.emit('server-emit-noack', 'fire');
  await a.next('server-event');

  await step('broadcast with acks from A');
  const [bra] = await a.ack('broadcast-ack', 'q', 1);
  if (!bra.ok) throw new Error(`broadcast-ack ${JSON.stringify(bra)}`);

  await step('socketsJoin from A of b');
  await a.ack('sockets-join', b.id, 'pulled');
  await sleep(200);

  if (mode === 'streams') {
    proxy = await startProxy(A.port).ready;
    await step('r connects to A (with recovery)');
    const r = record(await connectClient(`http://127.0.0.1:${proxy.port}`, KIND,
      { managerOpts: { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 100 } }));
    await r.ack('join', 'r-room');
    a.emit('broadcast', 'seen');
    await r.next('broadcast');
    await a.next('broadcast');
    await b.next('broadcast');
    await step('r cut from A (A persists its session)');
    proxy.target = B.port;
    proxy.refuse = true; // until the missed events are out
    proxy.cut();
    await sleep(300);
    await step('missed: broadcast from B, to-room r-room from A');
    b.emit('broadcast', 'missed-1');
    a.emit('to-room', 'r-room', 'missed-2');
    await b.next('broadcast');
    await a.next('broadcast');
    await sleep(200);
    await step('r reconnects to B (restore: GETDEL, XRANGE)');
    proxy.refuse = false;
    const deadline = Date.now() + 5000;
    while (!(r.socket.connected && r.pending('broadcast').length) && Date.now() < deadline) await sleep(50);
    process.stderr.write(`recovered: ${r.socket.recovered}, id ${r.id}, missed ${JSON.stringify(r.pending('broadcast'))} ` +
      `${JSON.stringify(r.pending('room-message'))}\n`);
  }
  await step('end');
  await sleep(300);
} finally {
  for (const c of clients) await closeManager(c.manager);
  if (proxy) await proxy.close();
  for (const n of nodes) await n.stop();
  await marker.quit();
  monitor.kill();
  await redis.stop();
}

// By step: the commands of the nodes (this script's ECHOs start each step).
const steps = [];
for (const line of raw.split('\n')) {
  const cmd = parseMonitorLine(line.trimEnd());
  if (!cmd) continue;
  const name = cmd.args[0].toString().toUpperCase();
  if (name === 'ECHO') {
    const m = /^== step (.*) ==$/.exec(cmd.args[1].toString());
    if (m) { steps.push({ step: m[1], commands: [] }); continue; }
  }
  if (!steps.length) steps.push({ step: 'before', commands: [] });
  steps[steps.length - 1].commands.push(cmd);
}
const show = (b) => (/^[\x20-\x7e]*$/.test(b.toString('latin1')) ? JSON.stringify(b.toString('latin1'))
  : `<${b.length} bytes: ${b.toString('hex')}>`);
for (const s of steps) {
  process.stdout.write(`\n## ${s.step}\n`);
  for (const c of s.commands) process.stdout.write(`${c.addr} ${c.args.map(show).join(' ')}\n`);
}
if (out) {
  fs.writeFileSync(out, JSON.stringify(steps.map((s) => ({
    step: s.step,
    commands: s.commands.map((c) => ({ addr: c.addr, args: c.args.map((x) => x.toString('hex')) })),
  })), null, 1));
}
