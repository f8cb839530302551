#!/usr/bin/env node
// Cross-node broadcast cost, sio against the Node reference, for each Redis engine (--redis-mode
// classic, sharded, streams: the matching npm adapter on the Node nodes): for each mode and kind of
// node, a private redis-server and two nodes of that kind with --redis (the contract servers), one
// sender on node A, RECEIVERS receivers on node B. Latency first: LATENCY broadcasts one at a time,
// each timed from the sender's emit to its arrival at the last receiver (p50, p99). Then throughput:
// the sender emits `broadcast` (a 16-byte string and a counter) with at most WINDOW broadcasts in
// flight (counted at the last receiver); every receiver must get every broadcast. Prints broadcasts/s
// end to end, deliveries/s, and the CPU time each process spent per broadcast (A: publish, B: receive
// and fan out to RECEIVERS sockets; Redis), read from /proc; and, per mode, sio's rate over Node's.
//
//   node bench/cluster.mjs [--modes classic,sharded,streams] [--kinds c,node,python,lua]
//       [--receivers 50] [--count 20000] [--window 64] [--latency 2000]
//       [--loadgen [--duration 5]]
//
// --loadgen: the clients are sio-loadgen's (build/sio-loadgen, or env SIO_LOADGEN) instead of
// socket.io-client in this process, whose own CPU bounds the rate otherwise: `--scenario fanout
// --port A --receivers-port B`, WINDOW broadcasts in flight (default 4 there), for --duration
// seconds; latency is the loadgen's, from each broadcast's send stamp to each receiver (p50, p99).
//
// Uses tests/js's packages (socket.io-client, the reference server's @socket.io/redis-adapter):
// run `npm ci` in tests/js first (scripts/deps.sh does). Loopback only; on demand, never in CI.

import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { startServer } from '../tests/js/server.mjs';
import { startRedis } from '../tests/js/helpers.mjs';

const require = createRequire(new URL('../tests/js/package.json', import.meta.url));
const { io } = require('socket.io-client');

const COMMANDS = {
  c: 'examples/contract/run c',
  node: 'node tests/js/reference/contract-server.mjs',
  python: 'examples/contract/run python',
  lua: 'examples/contract/run lua',
};

function option(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const KINDS = option('kinds', 'c,node').split(',');
const MODES = option('modes', 'classic,sharded,streams').split(',');
const LATENCY = Number(option('latency', 2000));
const LOADGEN = process.argv.includes('--loadgen');
const DURATION = Number(option('duration', 5));
const LOADGEN_BIN = process.env.SIO_LOADGEN || new URL('../build/sio-loadgen', import.meta.url).pathname;
const RECEIVERS = Number(option('receivers', 50));
const COUNT = Number(option('count', 20000));
const WINDOW = Number(option('window', 64));
const TICK = 1 / 100; // seconds per clock tick (USER_HZ)

// utime + stime of a process, seconds (a wrapper script's exec keeps the pid).
function cpu(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK;
}

function connect(url) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

async function measure(mode, kind) {
  const redis = await startRedis();
  const flags = ['--redis', redis.url, '--redis-mode', mode];
  const a = await startServer(flags, { command: COMMANDS[kind] });
  const b = await startServer(flags, { command: COMMANDS[kind] });
  const sender = await connect(a.url);
  const receivers = [];
  for (let i = 0; i < RECEIVERS; i++) receivers.push(await connect(b.url));
  try {
    // both nodes subscribed: the sender's count sees every receiver
    for (let i = 0; i < 100; i++) {
      const n = await sender.timeout(5000).emitWithAck('count');
      if (n === RECEIVERS + 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const got = new Array(RECEIVERS).fill(0);
    let lastSeen = -1;
    let wake = null;
    receivers.forEach((r, i) => r.on('broadcast', (_s, n) => {
      got[i]++;
      if (i === RECEIVERS - 1) {
        lastSeen = n;
        if (wake) wake();
      }
    }));
    const run = async (from, to) => {
      for (let n = from; n < to; n++) {
        while (n - lastSeen > WINDOW) await new Promise((r) => { wake = r; });
        sender.emit('broadcast', 'x'.repeat(16), n);
      }
      while (lastSeen < to - 1) await new Promise((r) => { wake = r; });
    };
    await run(0, 500); // warm-up
    // latency: one broadcast in flight, emit to arrival at the last receiver
    const lat = [];
    for (let n = 500; n < 500 + LATENCY; n++) {
      const t = process.hrtime.bigint();
      sender.emit('broadcast', 'x'.repeat(16), n);
      while (lastSeen < n) await new Promise((r) => { wake = r; });
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    lat.sort((x, y) => x - y);
    const p50 = lat[Math.floor(lat.length * 0.5)];
    const p99 = lat[Math.floor(lat.length * 0.99)];
    const base = 500 + LATENCY;
    const pids = [a.pid, b.pid, redis.pid];
    const cpu0 = pids.map(cpu);
    const t0 = process.hrtime.bigint();
    await run(base, base + COUNT);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const [ca, cb, cr] = pids.map((p, i) => (cpu(p) - cpu0[i]) * 1e6 / COUNT);
    await new Promise((r) => setTimeout(r, 200));
    if (got.some((g) => g !== base + COUNT)) throw new Error(`lost broadcasts: ${got.join(',')}`);
    return { mode, kind, bps: COUNT / secs, dps: (COUNT * RECEIVERS) / secs, ca, cb, cr, p50, p99 };
  } finally {
    sender.close();
    for (const r of receivers) r.close();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
}

// The same pair driven by sio-loadgen: one sender on A, RECEIVERS receivers on B.
async function measureLoadgen(mode, kind) {
  const redis = await startRedis();
  const flags = ['--redis', redis.url, '--redis-mode', mode];
  const a = await startServer(flags, { command: COMMANDS[kind] });
  const b = await startServer(flags, { command: COMMANDS[kind] });
  try {
    // both nodes subscribed: a socket on A counts the one on B
    const pa = await connect(a.url);
    const pb = await connect(b.url);
    for (let i = 0; i < 100 && (await pa.timeout(5000).emitWithAck('count')) !== 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    pa.close();
    pb.close();
    const pids = [a.pid, b.pid, redis.pid];
    const cpu0 = pids.map(cpu);
    const out = execFileSync(LOADGEN_BIN, ['--scenario', 'fanout', '--port', String(a.port), '--receivers-port',
      String(b.port), '--receivers', String(RECEIVERS), '--window', String(option('window', 4)), '--payload', '16',
      '--warmup', '0', '--duration', String(DURATION)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const j = JSON.parse(out.trim().split('\n').pop());
    const broadcasts = j.ops / RECEIVERS;
    const [ca, cb, cr] = pids.map((p, i) => (cpu(p) - cpu0[i]) * 1e6 / broadcasts);
    if (j.errors) throw new Error(`loadgen errors: ${out}`);
    return { mode, kind, bps: j.ops_per_s / RECEIVERS, dps: j.ops_per_s, ca, cb, cr, p50: j.p50_us / 1e3, p99: j.p99_us / 1e3 };
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
  }
}

const rows = [];
for (const mode of MODES) for (const kind of KINDS) rows.push(await (LOADGEN ? measureLoadgen : measure)(mode, kind));
const f = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(LOADGEN ? `\nsio-loadgen fanout: ${RECEIVERS} receivers on node B, one sender on node A, ` +
  `window ${option('window', 4)}, ${DURATION} s\n` : `\n${RECEIVERS} receivers on node B, ${f(COUNT)} broadcasts from node A, ` +
  `window ${WINDOW}; latency over ${f(LATENCY)} broadcasts one at a time\n`);
console.log('| mode | nodes | broadcasts/s | deliveries/s | p50 ms | p99 ms | node A CPU µs/broadcast | node B CPU µs/broadcast | Redis CPU µs/broadcast |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.mode} | ${r.kind} + ${r.kind} | ${f(r.bps)} | ${f(r.dps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ` +
    `${f(r.ca, 1)} | ${f(r.cb, 1)} | ${f(r.cr, 1)} |`);
}
const node = Object.fromEntries(rows.filter((r) => r.kind === 'node').map((r) => [r.mode, r]));
const ratios = rows.filter((r) => r.kind !== 'node' && node[r.mode]).map((r) => `${r.mode} ${r.kind}: ` +
  `${f(r.bps / node[r.mode].bps, 1)}× the rate, ${f(node[r.mode].p50 / r.p50, 1)}× lower p50, ` +
  `${f((node[r.mode].ca + node[r.mode].cb) / (r.ca + r.cb), 1)}× less node CPU per broadcast`);
if (ratios.length) console.log(`\nAgainst Node, same mode: ${ratios.join('; ')}`);
