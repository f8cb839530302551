// socket.io-client 4.8 (tests/js/node_modules) driving the Python servers of test_node_style.py:
//   node tests/python/node_style_client.mjs URL chat|refused|auth|forbidden
// Prints one JSON line with what the clients saw; exits non-zero on a failure or after 10 s.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, scenario] = process.argv.slice(2);
setTimeout(() => { console.error('timed out'); process.exit(2); }, 10000).unref();

const connect = (opts = {}) => io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...opts });
const once = (socket, event) => new Promise((resolve) => socket.once(event, resolve));
const connected = (socket) => new Promise((resolve, reject) => {
  socket.once('connect', resolve);
  socket.once('connect_error', reject);
});

async function chat() {
  // the page's script, reduced to what it emits and what it shows
  const a = connect();
  const b = connect();
  await Promise.all([connected(a), connected(b)]);
  const out = {};
  const bJoined = once(b, 'user joined');
  a.emit('add user', 'ann');
  out.aLogin = await once(a, 'login');
  out.bJoinedSeen = await bJoined;
  const aJoined = once(a, 'user joined');
  b.emit('add user', 'bob');
  out.bLogin = await once(b, 'login');
  out.aJoinedSeen = await aJoined;
  const bMessage = once(b, 'new message');
  a.emit('new message', 'hi from node');
  out.bMessage = await bMessage;
  const aTyping = once(a, 'typing');
  b.emit('typing');
  out.aTyping = await aTyping;
  const aLeft = once(a, 'user left');
  b.disconnect();
  out.aLeft = await aLeft;
  a.disconnect();
  return out;
}

async function refused() {
  const s = connect({ auth: { user: 'eve', token: 'bad' } });
  const err = await new Promise((resolve) => s.once('connect_error', resolve));
  s.close();
  return { message: err.message, data: err.data };
}

// The server answers each connect with what its connect handler got as auth ("auth" event; None
// arrives as null): socket.io-client sends "40" without `auth`, "40{}" with `auth: {}`.
async function auth() {
  const out = {};
  for (const [name, opts] of [['none', {}], ['empty', { auth: {} }], ['token', { auth: { token: 't' } }]]) {
    const s = connect(opts);
    const got = once(s, 'auth');
    await connected(s);
    out[name] = await got;
    s.close();
  }
  return out;
}

// A handshake refused by allow_request (test_hooks.py): over polling, then over WebSocket.
async function forbidden() {
  const p = connect({ transports: ['polling'] });
  let body;
  const err = await new Promise((resolve) => p.once('connect_error', (e) => {
    body = e.context?.responseText; // read in the listener: the failed request is aborted next
    resolve(e);
  }));
  p.close();
  const w = connect();
  const wErr = await new Promise((resolve) => w.once('connect_error', resolve));
  w.close();
  return { message: err.message, description: err.description, body, wsMessage: wErr.message };
}

const scenarios = { chat, refused, auth, forbidden };
try {
  console.log(JSON.stringify(await scenarios[scenario]()));
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
