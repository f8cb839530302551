#!/usr/bin/env node
// A socket.io 2.x client for the chat example: it joins a room, sends one message, prints what the
// server sends for a while, leaves and exits. socket.io-client 2.x speaks Engine.IO v3 / Socket.IO
// v4, the protocol of WeChat's weapp.socket.io (which, like this script by default, goes straight
// to WebSocket), so this shows that the servers, started with allow_eio3, serve such clients too.
//
// Usage (with a chat server running, `examples/run chat python` or `examples/run chat lua`):
//
//   node examples/chat/weapp-client.js [URL] [--nick NICK] [--room ROOM] [--text TEXT]
//                                      [--wait MS] [--polling]
//
//   URL        default http://127.0.0.1:3000
//   --nick     default weapp-<random>
//   --room     default lobby
//   --text     the message to send (default "hello from a socket.io 2.x client")
//   --wait     how long to stay after the message's ack, printing what arrives (default 2000)
//   --polling  HTTP long-polling instead of WebSocket
//
// socket.io-client 2.x is examples/node_modules/socket.io-client-v2 (scripts/deps.sh installs it).
// Output: one line per step ("joined ...", "sent ...") and "< EVENT JSON" per event received;
// exits 0 after leaving, 1 on any failure (no connection, join refused, no ack).
'use strict';

const path = require('path');
const io = require(path.join(__dirname, '..', 'node_modules', 'socket.io-client-v2'));

function parseArgs(argv) {
  const opts = {
    url: 'http://127.0.0.1:3000',
    nick: 'weapp-' + Math.random().toString(36).slice(2, 7),
    room: 'lobby',
    text: 'hello from a socket.io 2.x client',
    wait: 2000,
    polling: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--nick') opts.nick = value();
    else if (a === '--room') opts.room = value();
    else if (a === '--text') opts.text = value();
    else if (a === '--wait') opts.wait = Number(value());
    else if (a === '--polling') opts.polling = true;
    else if (a === '-h' || a === '--help') usage();
    else if (!a.startsWith('--')) opts.url = a;
    else usage(`unknown option ${a}`);
  }
  if (!Number.isFinite(opts.wait) || opts.wait < 0) usage('--wait takes milliseconds');
  return opts;
}

function usage(error) {
  if (error) console.error(error);
  console.error('usage: node weapp-client.js [URL] [--nick NICK] [--room ROOM] [--text TEXT] ' +
    '[--wait MS] [--polling]');
  process.exit(error ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));
const log = (...args) => console.log(...args);

function fail(why) {
  console.error('error:', why);
  socket.close();
  process.exit(1);
}

// Socket.IO 2.x acks have no timeout of their own.
function emitWithAck(event, arg, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for "${event}" within ${ms} ms`)), ms);
    socket.emit(event, arg, (res) => { clearTimeout(timer); resolve(res); });
  });
}

const socket = io(opts.url, {
  transports: opts.polling ? ['polling'] : ['websocket'],
  reconnection: false,
  timeout: 5000,
});

for (const event of ['chat', 'notice', 'users', 'typing', 'seen', 'rooms']) {
  socket.on(event, (data) => log('<', event, JSON.stringify(data)));
}
socket.on('connect_error', (err) => fail(`cannot connect to ${opts.url}: ${err.message || err}`));
socket.on('connect_timeout', () => fail(`cannot connect to ${opts.url}: timed out`));
socket.on('disconnect', (reason) => log('disconnected:', reason));

socket.on('connect', async () => {
  const engine = socket.io.engine;
  log(`connected to ${opts.url} (socket.io-client ${require(path.join(__dirname, '..',
    'node_modules', 'socket.io-client-v2', 'package.json')).version}, Engine.IO ` +
    `v${engine.transport.query.EIO}, ${engine.transport.name}), sid ${socket.id}`);
  try {
    const joined = await emitWithAck('join', { nick: opts.nick, room: opts.room }, 5000);
    if (!joined || !joined.ok) return fail(`join refused: ${joined && joined.error}`);
    log(`joined #${joined.room} as ${joined.nick}; users: ${JSON.stringify(joined.users)}; ` +
      `history: ${joined.history.length} message(s)`);
    for (const m of joined.history) log('  history', JSON.stringify(m));
    const sent = await emitWithAck('chat', opts.text, 5000);
    if (!sent || !sent.ok) return fail(`message refused: ${sent && sent.error}`);
    log(`sent ${JSON.stringify(opts.text)}: delivered, id ${sent.id}, ts ${sent.ts}`);
    setTimeout(async () => {
      try {
        await emitWithAck('leave', null, 5000);
        log('left');
      } catch (err) {
        return fail(err.message);
      }
      socket.close();
      process.exit(0);
    }, opts.wait);
  } catch (err) {
    fail(err.message);
  }
});
