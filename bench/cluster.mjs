#!/usr/bin/env node
// Cross-node broadcast cost, sio against the Node reference: for each kind of node, a private
// redis-server and two nodes of that kind with --redis (the contract servers), one sender on node A,
// RECEIVERS receivers on node B. The sender emits `broadcast` (a 16-byte string and a counter) with
// at most WINDOW broadcasts in flight (counted at the last receiver); every receiver must get every
// broadcast. Prints broadcasts/s end to end, deliveries/s, and the CPU time each process spent per
// broadcast (A: publish, B: receive and fan out to RECEIVERS sockets; Redis), read from /proc.
//
//   node bench/cluster.mjs [--kinds c,node,python,lua] [--receivers 50] [--count 20000] [--window 64]
//
// Uses tests/js's packages (socket.io-client, the reference server's @socket.io/redis-adapter):
// run `npm ci` in tests/js first (scripts/deps.sh does). Loopback only; on demand, never in CI.

import fs from 'node:fs';
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

async function measure(kind) {
  const redis = await startRedis();
  const a = await startServer(['--redis', redis.url], { command: COMMANDS[kind] });
  const b = await startServer(['--redis', redis.url], { command: COMMANDS[kind] });
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
    const pids = [a.pid, b.pid, redis.pid];
    const cpu0 = pids.map(cpu);
    const t0 = process.hrtime.bigint();
    await run(500, 500 + COUNT);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const [ca, cb, cr] = pids.map((p, i) => (cpu(p) - cpu0[i]) * 1e6 / COUNT);
    await new Promise((r) => setTimeout(r, 200));
    if (got.some((g) => g !== 500 + COUNT)) throw new Error(`lost broadcasts: ${got.join(',')}`);
    return { kind, bps: COUNT / secs, dps: (COUNT * RECEIVERS) / secs, ca, cb, cr };
  } finally {
    sender.close();
    for (const r of receivers) r.close();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
}

const rows = [];
for (const kind of KINDS) rows.push(await measure(kind));
const f = (x, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(`\n${RECEIVERS} receivers on node B, ${f(COUNT)} broadcasts from node A, window ${WINDOW}\n`);
console.log('| nodes | broadcasts/s | deliveries/s | node A CPU µs/broadcast | node B CPU µs/broadcast | Redis CPU µs/broadcast |');
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.kind} + ${r.kind} | ${f(r.bps)} | ${f(r.dps)} | ${f(r.ca, 1)} | ${f(r.cb, 1)} | ${f(r.cr, 1)} |`);
