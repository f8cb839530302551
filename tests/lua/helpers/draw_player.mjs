// A human's page in examples/draw (protocol v2), played by socket.io-client 4.8 (tests/js/node_modules)
// for tests/lua/draw_bot_spec.lua: joins ROOM as NAME (the host: it joins first), starts a 1-round
// game once the bot is in, draws a line when it is the drawer, never guesses, and records what the
// bot does (its chat and guesses, its right guess's points, the strokes it draws, the game's end).
//   node draw_player.mjs URL ROOM NAME BOTNAME
// Prints "joined" once in the room, then one JSON line once it saw the bot join, chat, guess, find a word, draw and the
// game end (or after 40 s,
// with what it saw); exits non-zero on a failure.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../js/package.json', import.meta.url));
const { io } = require('socket.io-client');

const [url, room, name, bot] = process.argv.slice(2);
const seen = { joined: false, botJoined: false, chat: [], guesses: [], correct: null, strokes: 0, strokePoints: 0, started: false,
  gameOver: null };
let finished = false;

const socket = io(url, { reconnection: false, forceNew: true });
const finish = (code) => {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify(seen));
  socket.close();
  setTimeout(() => process.exit(code), 50);
};
setTimeout(() => finish(0), 40000).unref();

const complete = () => seen.botJoined && seen.chat.length > 0 && seen.guesses.length > 0 && seen.correct
  && seen.strokes > 0 && seen.gameOver;
const check = () => { if (complete()) finish(0); };

let me = null;
let drawing = null;
socket.on('connect', async () => {
  const answer = await socket.timeout(5000).emitWithAck('join', { name, room });
  if (!answer.ok) {
    console.error('join refused', answer);
    finish(1);
    return;
  }
  me = answer.you;
  seen.joined = true;
  console.log('joined'); // the spec starts the bot after this line: the page draws first
});
socket.on('connect_error', (err) => {
  console.error('connect_error', err.message);
  finish(1);
});
socket.on('state', (state) => {
  if (state.players.some((p) => p.name === bot && p.connected)) seen.botJoined = true;
  if (seen.botJoined && !seen.started && state.host === me && state.phase === 'lobby') {
    seen.started = true;
    socket.emit('start', { rounds: 1 }, (ack) => { if (!ack.ok) { console.error('start refused', ack); finish(1); } });
  }
  // our turn: one line across the canvas, in two batches, as the page sends them
  if (state.phase === 'drawing' && state.drawer === me && drawing !== `${state.round}.${state.turn}`) {
    drawing = `${state.round}.${state.turn}`;
    const pts = (xs) => {
      const b = Buffer.alloc(xs.length * 4);
      xs.forEach(([x, y], i) => { b.writeInt16LE(x, i * 4); b.writeInt16LE(y, i * 4 + 2); });
      return b;
    };
    socket.emit('stroke', { color: '#000000', width: 5, start: true, points: pts([[100, 100], [200, 150]]) });
    socket.emit('stroke', { color: '#000000', width: 5, start: false, points: pts([[300, 200], [400, 250]]) });
  }
  check();
});
socket.on('guess', (g) => {
  if (g.name !== bot) return;
  // the bot's words: a guess is one of the list, anything else is chat
  if (/^[a-z]+$/.test(g.text)) seen.guesses.push(g.text);
  else seen.chat.push(g.text);
  check();
});
socket.on('correct', (c) => {
  if (c.name === bot) seen.correct = c.points;
  check();
});
socket.on('game_over', (g) => {
  seen.gameOver = g.leaderboard;
  check();
});
socket.on('stroke', (s) => {
  seen.strokes++;
  seen.strokePoints += s.points.length / 4;
  check();
});
