// N socket.io-client 4.8 clients in one Node process against one server (bench/client):
//   node --expose-gc bench/client/node_clients.mjs URL --clients N --duration S
// First one warm-up client, connected over WebSocket with one `echo` acked, then the baseline RSS
// (after a forced GC), so that one-time costs (modules loaded and compiled on first use, the first
// connection's machinery) are not counted per client. Then connects the N clients over WebSocket,
// waits 1 s idle and reads the RSS again (after a GC): (RSS - baseline) / N per idle client. Then
// keeps one `echo` ack in flight per measured client (the warm-up one stays idle) for S seconds
// (after 0.5 s of warm-up). Prints one JSON line: acks, acks per second of wall time and of this
// process's CPU time, RSS before/after connecting.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { io } = createRequire(path.join(root, 'tests/js/package.json'))('socket.io-client');

const argv = process.argv.slice(2);
const url = argv[0];
const arg = (name, dflt) => {
  const i = argv.indexOf(name);
  return i > 0 ? Number(argv[i + 1]) : dflt;
};
const n = arg('--clients', 100);
const duration = arg('--duration', 3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = () => {
  if (global.gc) global.gc();
  return process.memoryUsage().rss / 1024;
};

const payload = '0123456789abcdef';
const warm = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('the warm-up client did not connect and get its ack')), 60000);
  warm.once('connect', () => warm.emit('echo', payload, () => {
    clearTimeout(timer);
    resolve();
  }));
});
const rss0 = rss();
const sockets = [];
await new Promise((resolve, reject) => {
  let connected = 0;
  const timer = setTimeout(() => reject(new Error(`${connected} of ${n} connected`)), 60000);
  for (let i = 0; i < n; i++) {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => {
      if (++connected === n) {
        clearTimeout(timer);
        resolve();
      }
    });
    sockets.push(s);
  }
});
await sleep(1000);
const rss1 = rss();
let acks = 0;
let running = true;
for (const s of sockets) {
  const loop = () => s.emit('echo', payload, () => {
    acks++;
    if (running) loop();
  });
  loop();
}
await sleep(500);
const acks0 = acks;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await sleep(duration * 1000);
const got = acks - acks0;
const cpu = process.cpuUsage(cpu0);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpuS = (cpu.user + cpu.system) / 1e6;
running = false;
console.log(JSON.stringify({
  client: 'node', clients: n, acks: got, seconds: secs, cpu: cpuS, acks_per_s: got / secs,
  acks_per_cpu_s: got / cpuS, rss0_kb: rss0, rss1_kb: rss1, idle_bytes_per_client: ((rss1 - rss0) * 1024) / n,
}));
for (const s of sockets) s.close();
warm.close();
process.exit(0);
