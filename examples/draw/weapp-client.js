#!/usr/bin/env node
// A draw-and-guess player on socket.io-client 2.x: the protocol WeChat mini programs speak through
// weapp.socket.io (Engine.IO v3, WebSocket only), to show that the sio servers (allow_eio3) take it.
// It joins a room, prints what the server sends, makes one guess, then leaves.
//
//   node examples/draw/weapp-client.js [URL] [--room lobby] [--name weapp] [--guess WORD]
//        [--player-id ID] [--wait MS] [--polling]
//
//   URL        the server (default http://127.0.0.1:3000)
//   --guess    the guess to send (default "cat"; say the word the drawer sees to score)
//   --wait     how long to listen after the guess's answer before leaving (default 1000 ms)
//   --polling  HTTP long-polling instead of WebSocket (socket.io 2.x's own default)
//
// Output: one line per event, `EVENT JSON` (binary shown as {"binary": BYTES}), e.g.
//   connected eio=3 transport=websocket
//   joined {"ok":true,"you":"...","state":{...}}
//   guess-answer {"ok":true,"correct":false}
// Exit status 0 when it joined and its guess was answered, 1 otherwise.
// socket.io-client 2.x comes from examples/node_modules (npm alias socket.io-client-v2).
'use strict';

const io = require('socket.io-client-v2');

function parseArgs(argv) {
  const o = { url: 'http://127.0.0.1:3000', room: 'lobby', name: 'weapp', guess: 'cat', playerId: null, wait: 1000, polling: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--room') o.room = value();
    else if (a === '--name') o.name = value();
    else if (a === '--guess') o.guess = value();
    else if (a === '--player-id') o.playerId = value();
    else if (a === '--wait') o.wait = Number(value());
    else if (a === '--polling') o.polling = true;
    else if (a === '-h' || a === '--help') o.help = true;
    else if (!a.startsWith('--')) o.url = a;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// Values for printing: binary (a Buffer or ArrayBuffer) as {binary: its length}.
function printable(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer) return { binary: v.byteLength };
  if (Array.isArray(v)) return v.map(printable);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) out[k] = printable(v[k]);
    return out;
  }
  return v;
}

function say(event, value) {
  console.log(value === undefined ? event : `${event} ${JSON.stringify(printable(value))}`);
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(e.message);
  process.exit(2);
}
if (opts.help) {
  console.log('usage: node weapp-client.js [URL] [--room R] [--name N] [--guess WORD] [--player-id ID] [--wait MS] [--polling]');
  process.exit(0);
}

const socket = io(opts.url, {
  transports: opts.polling ? ['polling'] : ['websocket'],
  reconnection: false,
  timeout: 5000,
});

let status = 1;
function finish(code) {
  status = code;
  clearTimeout(deadline);
  socket.close();
  // (let the disconnect go out first)
  setTimeout(() => process.exit(status), 50);
}
const deadline = setTimeout(() => {
  say('error', 'no answer in time');
  finish(1);
}, 10000 + opts.wait);

socket.on('connect', () => {
  say(`connected eio=${socket.io.engine.constructor.protocol} transport=${socket.io.engine.transport.name}`);
  const join = { name: opts.name, room: opts.room };
  if (opts.playerId) join.player_id = opts.playerId;
  socket.emit('join', join, (res) => {
    say('joined', res);
    if (!res || !res.ok) return finish(1);
    socket.emit('guess', opts.guess, (answer) => {
      say('guess-answer', answer);
      setTimeout(() => finish(answer && answer.ok ? 0 : 1), opts.wait);
    });
  });
});
socket.on('connect_error', (err) => {
  say('connect_error', String(err && err.message ? err.message : err));
  finish(1);
});
socket.on('disconnect', (reason) => say('disconnected', reason));

for (const event of ['state', 'word', 'hint', 'guess', 'correct', 'turn_end', 'game_over', 'notice', 'kicked', 'fill', 'undo', 'clear']) {
  socket.on(event, (value) => say(event, value));
}
socket.on('stroke', (s) => say('stroke', s));
socket.on('strokes', (all) => {
  const points = all && all.points ? all.points.byteLength / 4 : 0;
  say('strokes', { batches: all && all.batches ? all.batches.length : 0, points });
});
