// socket.io-client 4.8 (tests/js/node_modules) playing the pages of socket.io's own Node examples
// (examples/chat, examples/whiteboard, examples/private-messaging) against their ports:
//   node tests/lua/helpers/node_ports_client.mjs URL chat|whiteboard|private-messaging
// Each scenario sends exactly the events its page sends, in the same shapes, and records what the
// page would show. Prints one JSON line; exits non-zero on a failure or after 15 s.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../js/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, scenario] = process.argv.slice(2);
setTimeout(() => { console.error('timed out in', scenario); process.exit(2); }, 15000).unref();

// the pages call io() with the defaults: polling first, then the WebSocket upgrade
const connect = (opts = {}) => io(url, { reconnection: false, forceNew: true, ...opts });
const once = (socket, event) => new Promise((resolve) => socket.once(event, resolve));
const connected = (socket) => new Promise((resolve, reject) => {
  if (socket.connected) return resolve();
  socket.once('connect', resolve);
  socket.once('connect_error', reject);
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// examples/chat/public/main.js: 'add user', 'new message', 'typing', 'stop typing'; it shows
// 'login', 'user joined', 'user left', 'new message', 'typing', 'stop typing'
async function chat() {
  const page = (name) => {
    const socket = connect();
    const shown = [];
    for (const e of ['login', 'new message', 'user joined', 'user left', 'typing', 'stop typing']) {
      socket.on(e, (data) => shown.push([e, data]));
    }
    return { name, socket, shown };
  };
  const ann = page('ann');
  const bob = page('bob');
  await Promise.all([connected(ann.socket), connected(bob.socket)]);
  const bobSeesAnn = once(bob.socket, 'user joined');
  ann.socket.emit('add user', 'ann');
  await once(ann.socket, 'login');
  await bobSeesAnn;
  const annSeesBob = once(ann.socket, 'user joined');
  bob.socket.emit('add user', 'bob');
  await once(bob.socket, 'login');
  await annSeesBob;
  ann.socket.emit('add user', 'ann again'); // ignored: already added
  // ann types, sends, stops typing (the page sends 'stop typing' when the message goes)
  const bobStop = once(bob.socket, 'stop typing');
  ann.socket.emit('typing');
  ann.socket.emit('new message', 'hello bob');
  ann.socket.emit('stop typing');
  await bobStop;
  const annMessage = once(ann.socket, 'new message');
  bob.socket.emit('new message', 'hi ann');
  await annMessage;
  // a third page that never adds a user: its leaving is not announced
  const anon = page('anon');
  await connected(anon.socket);
  anon.socket.disconnect();
  await sleep(100);
  const annLeft = once(ann.socket, 'user left');
  bob.socket.disconnect();
  await annLeft;
  // ann reconnects as the page does on 'reconnect': 'add user' again, the count goes back up
  ann.socket.disconnect();
  const again = page('ann');
  await connected(again.socket);
  again.socket.emit('add user', 'ann');
  await once(again.socket, 'login');
  again.socket.disconnect();
  return { ann: ann.shown, bob: bob.shown, anon: anon.shown, again: again.shown };
}

// examples/whiteboard/public/main.js: 'drawing' with {x0, y0, x1, y1, color} as fractions of the
// canvas; every other page draws the line
async function whiteboard() {
  const pages = [connect(), connect(), connect()];
  await Promise.all(pages.map(connected));
  const seen = pages.map(() => []);
  pages.forEach((s, i) => s.on('drawing', (data) => seen[i].push(data)));
  const line = { x0: 0.1, y0: 0.2, x1: 0.15, y1: 0.25, color: 'black' };
  const red = { x0: 0.5, y0: 0.5, x1: 0.5625, y1: 0.75, color: 'red' };
  const got = Promise.all([once(pages[1], 'drawing'), once(pages[2], 'drawing')]);
  pages[0].emit('drawing', line);
  await got;
  const got2 = Promise.all([once(pages[0], 'drawing'), once(pages[1], 'drawing')]);
  pages[2].emit('drawing', red);
  await got2;
  await sleep(100); // nothing else arrives (not to the drawer)
  pages.forEach((s) => s.disconnect());
  return { seen };
}

// examples/private-messaging/src (App.vue, Chat.vue, socket.js): autoConnect off, auth {username}
// or, from localStorage, {sessionID}; 'session' saves the session; 'private message' {content, to};
// it shows 'users', 'user connected', 'user disconnected', 'private message' and connect_error
async function privateMessaging() {
  const page = (auth) => {
    const socket = io(url, { autoConnect: false, reconnection: false, forceNew: true });
    const shown = [];
    socket.onAny((event, ...args) => shown.push([event, ...args]));
    socket.on('session', ({ sessionID, userID }) => {
      socket.auth = { sessionID };
      socket.sessionID = sessionID; // the page keeps it in localStorage
      socket.userID = userID;
    });
    socket.auth = auth;
    socket.connect();
    return { socket, shown };
  };
  // resolves once the page has been shown `n` of `event` (several may come in one polling payload)
  const shownN = (p, event, n = 1) => new Promise((resolve) => {
    const check = () => {
      const got = p.shown.filter(([e]) => e === event);
      if (got.length >= n) resolve(got[n - 1].slice(1));
      else setTimeout(check, 5);
    };
    check();
  });
  const refusal = (p) => new Promise((resolve) => p.socket.once('connect_error', (e) => resolve(e.message)));
  const out = {};
  // no username: refused, the page shows the username form again
  const nobody = page({});
  out.refused = await refusal(nobody);
  nobody.socket.close();

  const ann = page({ username: 'ann' });
  await shownN(ann, 'users');
  const bob = page({ username: 'bob' });
  await shownN(bob, 'users');
  await shownN(ann, 'user connected');
  out.ids = { ann: ann.socket.userID, bob: bob.socket.userID, annSession: ann.socket.sessionID };

  // a second tab of ann's (the same session from localStorage): the same user
  const annTab = page({ sessionID: ann.socket.sessionID });
  await shownN(annTab, 'users');

  // bob writes to ann: both of ann's tabs get it, bob's tab does not (it shows it itself)
  bob.socket.emit('private message', { content: 'hello ann', to: ann.socket.userID });
  await Promise.all([shownN(ann, 'private message'), shownN(annTab, 'private message')]);
  // ann answers from her second tab: bob and ann's first tab get it
  annTab.socket.emit('private message', { content: 'hi bob', to: bob.socket.userID });
  await Promise.all([shownN(bob, 'private message'), shownN(ann, 'private message', 2)]);

  // ann closes one tab: still connected, no 'user disconnected'
  annTab.socket.disconnect();
  await sleep(150);
  // ann closes the other: bob sees her go
  ann.socket.disconnect();
  [out.annLeft] = await shownN(bob, 'user disconnected');

  // ann comes back (the page reloads with the sessionID in localStorage): her session is restored,
  // the users list carries her conversation, bob sees her connected again
  const back = page({ sessionID: out.ids.annSession });
  [out.restored] = await shownN(back, 'session');
  [out.backUsers] = await shownN(back, 'users');
  [out.annBack] = await shownN(bob, 'user connected', 2);
  // a made-up sessionID without a username is refused
  const stranger = page({ sessionID: 'nope' });
  out.strangerRefused = await refusal(stranger);
  stranger.socket.close();
  back.socket.disconnect();
  bob.socket.disconnect();
  out.ann = ann.shown;
  out.annTab = annTab.shown;
  out.bob = bob.shown;
  return out;
}

const scenarios = { chat, whiteboard, 'private-messaging': privateMessaging };
try {
  console.log(JSON.stringify(await scenarios[scenario]()));
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
