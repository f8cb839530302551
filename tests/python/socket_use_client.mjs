// socket.io-client 4.8 (tests/js/node_modules) against the "use" app of test_socket_use.py and
// tests/lua/socket_use_spec.lua (the same app in each language):
//   node tests/python/socket_use_client.mjs URL
// Prints one JSON line with what the client saw; exits non-zero on a failure or after 10 s.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 10000).unref();

const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
const once = (event) => new Promise((resolve) => s.once(event, (...a) => resolve(a)));
// every ack argument, or "timeout" when none came within 300 ms
const call = (event, ...args) => new Promise((resolve) => {
  s.timeout(300).emit(event, ...args, (err, ...res) => resolve(err ? 'timeout' : res));
});

async function main() {
  await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
  const out = {};
  const errs = [];
  s.on('err', (m) => errs.push(m));
  out.multi = await call('multi');       // three listeners: which one's value is the ack
  out.none = await call('none');         // two listeners, no value
  out.deny = await call('deny', 1);      // refused by the middleware: no ack
  out.guarded = await call('guarded');   // the middleware answers through the ack, then refuses
  out.mod = await call('mod', 4);        // the middleware changed the argument
  out.slow = await call('slow', 5);      // the middleware goes on later
  out.one = [await call('one'), await call('one')]; // a once listener, then the other
  const news = once('news');
  const direct = once('direct');
  out.bcast = await call('bcast');
  out.news = await news;
  out.direct = await direct;
  out.errs = errs;                       // what the "error" listener sent (nothing else came)
  out.logs = await call('logs');
  out.off = await call('off');
  s.close();
  return out;
}

main().then((out) => { console.log(JSON.stringify(out)); process.exit(0); },
  (e) => { console.error(e); process.exit(1); });
