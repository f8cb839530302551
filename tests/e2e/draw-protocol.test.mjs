// The draw-and-guess protocol v2 (examples/draw/server.py and server.lua, the protocol at their
// top) played by socket.io-client 4 (examples/node_modules), no browser: a host starts a 2-round
// game with its own words, every player draws once a round, scores follow the rule exactly, close
// guesses, hints, undo/fill/eraser kept and replayed, spectators, kick, skip, host handover,
// game over and play again, no spoilers, hostile inputs. Then the bots (bot.py and bot.lua) play
// a whole game against each server. Fast timers: --round-seconds / --pause-seconds.
//
//   cd tests/e2e && node --test draw-protocol.test.mjs        (env SIO_E2E_LANGS=python|lua)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LANGS, startApp } from './lib.mjs';
import { REPO_ROOT } from '../js/server.mjs';

const require = createRequire(new URL('../../examples/package.json', import.meta.url));
const { io } = require('socket.io-client');

const WAIT = 5000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

// One player: a socket that keeps every event it receives, in order, with the time it came.
class Player {
  constructor(url, name, room, id) {
    this.name = name;
    this.room = room;
    this.id = id || `${name}-${Math.random().toString(36).slice(2)}`;
    this.log = [];
    this.socket = io(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
    this.socket.onAny((ev, ...args) => this.log.push({ ev, args, t: now() }));
  }

  async join() {
    const ack = await this.call('join', { name: this.name, room: this.room, player_id: this.id });
    if (ack.ok) this.id = ack.you;
    return ack;
  }

  call(ev, ...args) { return this.socket.timeout(WAIT).emitWithAck(ev, ...args); }

  emit(ev, ...args) { this.socket.emit(ev, ...args); }

  mark() { return this.log.length; }

  events(ev, from = 0) { return this.log.slice(from).filter((e) => e.ev === ev); }

  // The first `ev` at or after log index `from` whose first argument satisfies pred.
  async next(ev, pred = () => true, from = 0, what = ev, wait = WAIT) {
    const deadline = now() + wait;
    for (;;) {
      for (let i = from; i < this.log.length; i++) {
        const e = this.log[i];
        if (e.ev === ev && pred(e.args[0])) return e;
      }
      if (now() > deadline) assert.fail(`${this.name}: no ${what} within ${wait} ms`);
      await sleep(10);
    }
  }

  state() {
    for (let i = this.log.length - 1; i >= 0; i--) if (this.log[i].ev === 'state') return this.log[i].args[0];
    return null;
  }

  close() { this.socket.close(); }
}

const pts = (xs) => {
  const b = Buffer.alloc(xs.length * 4);
  xs.forEach(([x, y], i) => { b.writeInt16LE(x, i * 4); b.writeInt16LE(y, i * 4 + 2); });
  return b;
};

let roomNo = 0;
const newRoom = (what) => `${what}-${process.pid}-${++roomNo}`;

async function players(url, room, names) {
  const out = [];
  for (const n of names) {
    const p = new Player(url, n, room);
    const ack = await p.join();
    assert.equal(ack.ok, true, `${n} joins: ${JSON.stringify(ack)}`);
    out.push(p);
  }
  return out;
}

// The points of a right guess: 50 + floor(50 * remaining / round_ms), with remaining between the
// bounds the client can know (the turn started after `startedAfter` and before `startedBefore`; the
// guess reached the server between `sent` and `acked`).
// The servers' clocks count whole milliseconds (the loop's time): a turn that started at T.9 and a
// guess at T+1.8 are 1 ms apart for them, one at T.1 and a guess at T.9 none; hence the 1 ms taken off
// the shortest elapsed time the client saw (a guess in the turn's first millisecond scores 100).
function pointsRange(roundMs, startedAfter, startedBefore, sent, acked) {
  const pointsAt = (elapsed) => 50 + Math.floor((50 * Math.max(0, roundMs - elapsed)) / roundMs);
  return [pointsAt(acked - startedAfter + 5), pointsAt(Math.max(0, sent - startedBefore - 1))];
}

for (const lang of LANGS) {
  test(`draw protocol v2 (${lang}): a 2-round game with custom words, scores, close guesses, game over, play again`, async () => {
    const ROUND_S = 20;
    const PAUSE_S = 0.2;
    const server = await startApp('draw', lang, ['--round-seconds', String(ROUND_S), '--pause-seconds', String(PAUSE_S)]);
    const all = [];
    try {
      const room = newRoom('game');
      const [ann] = await players(server.url, room, ['Ann']);
      all.push(ann);
      assert.equal(ann.state().host, ann.id, 'the first player is the host');
      assert.equal(ann.state().phase, 'lobby');
      assert.deepEqual(await ann.call('start', {}), { ok: false, error: '2 players are needed' });
      const [bob, cid] = await players(server.url, room, ['Bob', 'Cid']);
      all.push(bob, cid);
      await ann.next('notice', (n) => n.text === 'Cid joined');
      assert.equal((await bob.call('start', {})).ok, false, 'only the host starts');
      const words = ['Apple Pie', 'banana', 'cherry', 'grape'];
      let trigger = now();
      assert.deepEqual(await ann.call('start', { rounds: 2, words }), { ok: true });
      const byId = new Map(all.map((p) => [p.id, p]));
      const expected = new Map(all.map((p) => [p.id, 0]));
      const drawers = [];
      const marks = new Map(all.map((p) => [p, 0]));
      for (let turn = 0; turn < 6; turn++) {
        const st = (await ann.next('state', (s) => s.phase === 'drawing' && s.turn === (turn % 3) + 1
          && s.round === Math.floor(turn / 3) + 1, marks.get(ann), `turn ${turn + 1}'s state`)).args[0];
        assert.equal(st.rounds, 2);
        assert.equal(st.turns, 3);
        drawers.push(st.drawer);
        const drawer = byId.get(st.drawer);
        const wordEv = await drawer.next('word', () => true, marks.get(drawer));
        const word = wordEv.args[0];
        assert.ok(words.map((w) => w.toLowerCase()).includes(word), `a custom word, lowercased: ${word}`);
        assert.equal(st.word_length, word.length);
        assert.equal(st.hint, word.replace(/[^ ]/g, '_'), 'the hint hides every letter but spaces');
        await ann.next('notice', (n) => n.text === `Round ${st.round} of 2: ${drawer.name} draws`, marks.get(ann));
        const guessers = all.filter((p) => p !== drawer);
        // no spoilers: the drawer's text with the word is refused, other text is chat
        assert.deepEqual(await drawer.call('guess', `it is ${word.toUpperCase()}!`),
          { ok: false, correct: false, close: false, error: 'no spoilers' });
        assert.deepEqual(await drawer.call('guess', 'go go'), { ok: true, correct: false, close: false });
        // a close guess: one letter changed
        const close = word.slice(0, -1) + (word.endsWith('z') ? 'y' : 'z');
        const g0 = guessers[0];
        const closeMark = g0.mark();
        assert.deepEqual(await g0.call('guess', close), { ok: true, correct: false, close: true });
        await g0.next('guess', (g) => g.text === close, closeMark);
        assert.equal(g0.events('correct', closeMark).length, 0, 'a close guess is not correct');
        const startedBefore = Math.min(...all.map((p) => p.log.find((e, i) => i >= marks.get(p) && e.ev === 'state'
          && e.args[0].phase === 'drawing').t));
        let drawerPoints = 0;
        for (const [k, g] of guessers.entries()) {
          const sent = now();
          const ack = await g.call('guess', `  ${word.toUpperCase()} `);
          const acked = now();
          assert.deepEqual(ack, { ok: true, correct: true, close: false });
          const c = (await ann.next('correct', (x) => x.id === g.id, marks.get(ann))).args[0];
          assert.equal(c.name, g.name);
          assert.equal(c.word, undefined, 'the word is not sent with correct');
          const [lo, hi] = pointsRange(ROUND_S * 1000, trigger, startedBefore, sent, acked);
          assert.ok(c.points >= lo && c.points <= hi, `points ${c.points} in [${lo}, ${hi}]`);
          expected.set(g.id, expected.get(g.id) + c.points);
          drawerPoints += 25;
          if (k === 0) {
            // a guessed player's text with the word is refused too; other chat goes through
            assert.equal((await g.call('guess', word)).error, 'no spoilers');
            assert.deepEqual(await g.call('guess', 'nice'), { ok: true, correct: false, close: false });
          }
          if (k === guessers.length - 1) trigger = sent + PAUSE_S * 1000;
        }
        expected.set(drawer.id, expected.get(drawer.id) + drawerPoints);
        const te = (await bob.next('turn_end', () => true, marks.get(bob))).args[0];
        assert.equal(te.word, word);
        assert.equal(te.reason, 'guessed');
        assert.equal(te.drawer, drawer.id);
        assert.equal(te.round, Math.floor(turn / 3) + 1);
        assert.equal(te.rounds, 2);
        assert.equal(te.results.length, 3);
        for (let i = 1; i < te.results.length; i++) assert.ok(te.results[i - 1].points >= te.results[i].points);
        for (const r of te.results) assert.equal(r.score, expected.get(r.id), `${r.name}'s score after turn ${turn + 1}`);
        assert.equal(te.results.find((r) => r.id === drawer.id).points, drawerPoints);
        // nobody but the drawer ever received the word before turn_end
        for (const p of guessers) {
          const upTo = p.log.indexOf(p.log.find((e, i) => i >= marks.get(p) && e.ev === 'turn_end'));
          const before = JSON.stringify(p.log.slice(marks.get(p), upTo).map((e) => e.args)).toLowerCase();
          assert.ok(!before.includes(`"${word}"`), `${p.name} saw no spoiler of ${word}`);
          assert.ok(!p.log.slice(marks.get(p), upTo).some((e) => e.ev === 'word'));
        }
        for (const p of all) marks.set(p, p.log.indexOf(p.log.find((e, i) => i >= marks.get(p) && e.ev === 'turn_end')) + 1);
      }
      assert.deepEqual(drawers, [ann.id, bob.id, cid.id, ann.id, bob.id, cid.id], 'each draws once a round, in join order');
      const go = (await cid.next('game_over')).args[0];
      const board = [...expected.entries()].map(([id, score]) => ({ id, name: byId.get(id).name, score }))
        .sort((x, y) => y.score - x.score);
      assert.deepEqual(go.leaderboard.map((r) => r.score), board.map((r) => r.score));
      for (const r of go.leaderboard) assert.equal(r.score, expected.get(r.id));
      await cid.next('notice', (n) => n.text === `Game over: ${go.leaderboard[0].name} wins`);
      await cid.next('state', (s) => s.phase === 'game_over' && s.drawer === null);
      // play again: scores reset
      const m = ann.mark();
      assert.deepEqual(await ann.call('start', { rounds: 1 }), { ok: true });
      const again = (await ann.next('state', (s) => s.phase === 'drawing', m)).args[0];
      assert.equal(again.round, 1);
      assert.equal(again.rounds, 1);
      assert.deepEqual(again.players.map((p) => p.score), [0, 0, 0]);
      assert.equal((await ann.call('start', {})).error, 'a game is on');
    } finally {
      for (const p of all) p.close();
      await server.stop();
    }
  });

  test(`draw protocol v2 (${lang}): hint letters, turn timeout`, async () => {
    const server = await startApp('draw', lang, ['--round-seconds', '1.2', '--pause-seconds', '0.1']);
    const all = [];
    try {
      const room = newRoom('hint');
      all.push(...await players(server.url, room, ['Ann', 'Bob']));
      const [ann, bob] = all;
      assert.deepEqual(await ann.call('start', { rounds: 1, words: ['elephant', 'giraffe', 'penguins'] }), { ok: true });
      const word = (await ann.next('word')).args[0];
      const te = (await bob.next('turn_end', () => true, 0, 'the first turn_end', 4000)).args[0];
      assert.equal(te.reason, 'time');
      assert.equal(te.word, word);
      const hints = bob.log.slice(0, bob.log.indexOf(bob.log.find((e) => e.ev === 'turn_end'))).filter((e) => e.ev === 'hint')
        .map((e) => e.args[0]);
      assert.equal(hints.length, 2, `two letters revealed: ${JSON.stringify(hints)}`);
      const shown = (h) => [...h].filter((c) => c !== '_').length;
      assert.equal(shown(hints[0]), 1);
      assert.equal(shown(hints[1]), 2);
      for (const h of hints) {
        assert.equal(h.length, word.length);
        [...h].forEach((c, i) => { if (c !== '_') assert.equal(c, word[i]); });
      }
      assert.ok(bob.events('state').some((e) => e.args[0].hint === hints[1]), 'the hint is in the state too');
      // the second turn (bob draws), then the game ends: its hint resets
      await bob.next('game_over', () => true, 0, 'game_over');
      assert.equal(bob.state().hint, '');
      // 4- and 5-letter words: one letter
      const m = bob.mark();
      assert.deepEqual(await ann.call('start', { rounds: 1, words: ['frog', 'bear', 'lion'] }), { ok: true });
      const te2 = await bob.next('turn_end', () => true, m);
      const hints2 = bob.log.slice(m, bob.log.indexOf(te2)).filter((e) => e.ev === 'hint').map((e) => e.args[0]);
      assert.equal(hints2.length, 1, JSON.stringify(hints2));
      assert.equal([...hints2[0]].filter((c) => c !== '_').length, 1);
      // 3 letters: none
      await bob.next('game_over', () => true, m);
      const m2 = bob.mark();
      assert.deepEqual(await ann.call('start', { rounds: 1, words: ['cat', 'dog', 'owl'] }), { ok: true });
      const te3 = await bob.next('turn_end', () => true, m2);
      assert.equal(bob.log.slice(m2, bob.log.indexOf(te3)).filter((e) => e.ev === 'hint').length, 0);
    } finally {
      for (const p of all) p.close();
      await server.stop();
    }
  });

  test(`draw protocol v2 (${lang}): strokes, fill, eraser, undo kept and replayed; a spectator mid-turn`, async () => {
    const server = await startApp('draw', lang, ['--round-seconds', '30', '--pause-seconds', '0.2']);
    const all = [];
    try {
      const room = newRoom('ops');
      all.push(...await players(server.url, room, ['Ann', 'Bob']));
      const [ann, bob] = all;
      assert.deepEqual(await ann.call('start', { rounds: 1, words: ['house', 'horse', 'mouse'] }), { ok: true });
      const word = (await ann.next('word')).args[0];
      ann.emit('stroke', { color: '#112233', width: 5, start: true, points: pts([[10, 10], [20, 20]]) });
      ann.emit('stroke', { color: '#112233', width: 5, start: false, points: pts([[30, 30]]) });
      ann.emit('fill', { x: 400, y: 300, color: '#00ff00' });
      ann.emit('stroke', { color: '#ffffff', width: 20, start: true, points: pts([[15, 15], [25, 25]]) });
      // hostile ones: none is relayed or kept
      for (const bad of [{ x: 800, y: 0, color: '#000000' }, { x: 0, y: -1, color: '#000000' },
        { x: '5', y: 5, color: '#000000' }, { x: 1.5, y: 5, color: '#000000' }, { x: 5, y: 5, color: 'red' },
        { x: 5, y: 5 }, 'fill', null, [1, 2]]) ann.emit('fill', bad);
      for (const bad of [{ color: '#000000', width: '5', start: true, points: pts([[1, 1]]) },
        { color: '#000000', width: 5, start: true, points: Buffer.alloc(4100) },
        { color: '#000000', width: 5, start: true, points: 'abcd' },
        { color: '#00000', width: 5, start: true, points: pts([[1, 1]]) }, 42]) ann.emit('stroke', bad);
      bob.emit('stroke', { color: '#000000', width: 5, start: true, points: pts([[1, 1]]) }); // not the drawer
      bob.emit('fill', { x: 1, y: 1, color: '#000000' });
      bob.emit('undo');
      ann.emit('stroke', { color: '#445566', width: 3, start: true, points: pts([[40, 40], [50, 50]]) });
      await bob.next('stroke', (s) => s.color === '#445566');
      assert.deepEqual(bob.events('stroke').map((e) => [e.args[0].color, e.args[0].start, e.args[0].points.length / 4]),
        [['#112233', true, 2], ['#112233', false, 1], ['#ffffff', true, 2], ['#445566', true, 2]]);
      assert.deepEqual(bob.events('fill').map((e) => e.args[0]), [{ x: 400, y: 300, color: '#00ff00' }]);
      assert.equal(bob.events('undo').length, 0);
      // undo twice: the last stroke, then the eraser stroke
      ann.emit('undo');
      ann.emit('undo');
      const deadline = now() + WAIT;
      while (bob.events('undo').length < 2 && now() < deadline) await sleep(10);
      assert.equal(bob.events('undo').length, 2);
      assert.equal(ann.events('undo').length, 0, 'not to the sender');
      // a rejoining player (bob, same id) gets the kept operations: the undone ones are gone
      bob.close();
      const bob2 = new Player(server.url, 'Bob', room, bob.id);
      all.push(bob2);
      assert.equal((await bob2.join()).ok, true);
      const replay = (await bob2.next('strokes')).args[0];
      assert.deepEqual(replay.batches, [
        { color: '#112233', width: 5, start: true, n: 2 },
        { color: '#112233', width: 5, start: false, n: 1 },
        { fill: true, x: 400, y: 300, color: '#00ff00', n: 0 },
      ]);
      assert.deepEqual([...replay.points], [...pts([[10, 10], [20, 20], [30, 30]])]);
      // a new player mid-turn is a spectator: sees the canvas, cannot guess
      const [cid] = await players(server.url, room, ['Cid']);
      all.push(cid);
      assert.equal((await cid.next('strokes')).args[0].batches.length, 3);
      assert.equal(cid.state().players.find((p) => p.id === cid.id).spectator, true);
      assert.deepEqual(await cid.call('guess', word), { ok: false, correct: false, close: false, error: 'spectating' });
      // bob's right guess ends the turn: the spectator is not waited for
      const m = cid.mark();
      assert.equal((await bob2.call('guess', word)).correct, true);
      const teEv = await cid.next('turn_end', () => true, m);
      assert.equal(teEv.args[0].reason, 'guessed');
      // next turn (bob draws; cid not in this round's drawers): cid may guess now
      const st = (await cid.next('state', (s) => s.phase === 'drawing', cid.log.indexOf(teEv))).args[0];
      assert.equal(st.drawer, bob.id);
      assert.equal(st.turns, 2, 'the spectator draws from the next round');
      assert.equal(st.players.find((p) => p.id === cid.id).spectator, false);
      assert.equal((await cid.call('guess', 'zebra')).ok, true);
      // undo with nothing kept, clear: relayed, harmless
      const cm = ann.mark();
      bob2.emit('clear');
      await ann.next('clear', () => true, cm);
    } finally {
      for (const p of all) p.close();
      await server.stop();
    }
  });

  test(`draw protocol v2 (${lang}): skip, kick, host handover`, async () => {
    const server = await startApp('draw', lang, ['--round-seconds', '30', '--pause-seconds', '0.2']);
    const all = [];
    try {
      const room = newRoom('host');
      all.push(...await players(server.url, room, ['Ann', 'Bob', 'Cid', 'Dan']));
      const [ann, bob, cid, dan] = all;
      assert.equal((await bob.call('skip')).ok, false, 'only the host skips');
      assert.equal((await bob.call('kick', { id: cid.id })).ok, false, 'only the host kicks');
      assert.equal((await ann.call('kick', { id: ann.id })).ok, false, 'not itself');
      assert.equal((await ann.call('skip')).ok, false, 'no turn to skip');
      assert.deepEqual(await ann.call('start', { rounds: 1 }), { ok: true });
      await bob.next('state', (s) => s.phase === 'drawing' && s.drawer === ann.id);
      assert.deepEqual(await ann.call('skip'), { ok: true });
      assert.equal((await bob.next('turn_end')).args[0].reason, 'skipped');
      await dan.next('state', (s) => s.phase === 'drawing' && s.drawer === bob.id);
      // kicking the drawer ends the turn
      let m = dan.mark();
      assert.deepEqual(await ann.call('kick', { id: bob.id }), { ok: true });
      assert.deepEqual((await bob.next('kicked')).args[0], { room });
      const te = (await dan.next('turn_end', () => true, m)).args[0];
      assert.equal(te.reason, 'drawer left');
      await dan.next('notice', (n) => n.text === 'Bob was kicked', m);
      assert.ok(!dan.state().players.some((p) => p.id === bob.id), 'removed from the room');
      const bm = bob.mark();
      assert.deepEqual(await bob.join(), { ok: false, error: 'kicked' });
      assert.equal((await bob.call('guess', 'hello')).ok, false);
      await sleep(100);
      assert.equal(bob.events('state', bm).length, 0, 'a kicked socket gets no more of the room');
      assert.equal((await ann.call('kick', { id: 12 })).ok, false);
      // a room remembers the last 256 kicked ids (bounded memory): the oldest may come back
      const eve = new Player(server.url, 'Eve', room);
      all.push(eve);
      const first = eve.id;
      for (let k = 0; k < 257; k++) {
        eve.id = `${first}-${k}`;
        assert.equal((await eve.join()).ok, true);
        assert.deepEqual(await ann.call('kick', { id: eve.id }), { ok: true });
      }
      assert.deepEqual(await eve.join(), { ok: false, error: 'kicked' }, 'the last kicked is refused');
      eve.id = `${first}-0`;
      assert.equal((await eve.join()).ok, true, 'the oldest of 257 was forgotten');
      assert.deepEqual(await ann.call('kick', { id: eve.id }), { ok: true });
      assert.equal((await ann.call('kick', 'x')).ok, false);
      // the host leaves: after the grace, the earliest-joined connected player is the host
      await dan.next('state', (s) => s.phase === 'drawing' && s.drawer === cid.id);
      m = dan.mark();
      ann.close();
      await dan.next('notice', (n) => n.text === 'Ann left', m);
      await dan.next('notice', (n) => n.text === 'Cid is the host', m, 'the host handover', 8000);
      assert.equal(dan.state().host, cid.id);
      assert.deepEqual(await cid.call('skip'), { ok: true });
    } finally {
      for (const p of all) p.close();
      await server.stop();
    }
  });

  test(`draw protocol v2 (${lang}): a drawer who left, then too few players, end the turn after the grace`, async () => {
    const server = await startApp('draw', lang, ['--round-seconds', '30', '--pause-seconds', '0.1']);
    const all = [];
    try {
      const room = newRoom('grace');
      all.push(...await players(server.url, room, ['Ann', 'Bob', 'Cid']));
      const [ann, bob, cid] = all;
      assert.deepEqual(await ann.call('start', { rounds: 1 }), { ok: true });
      await bob.next('state', (s) => s.phase === 'drawing' && s.drawer === ann.id);
      let m = bob.mark();
      const left = now();
      ann.close();
      const te = await bob.next('turn_end', () => true, m, 'the drawer-left turn_end', 8000);
      assert.equal(te.args[0].reason, 'drawer left');
      assert.ok(te.t - left >= 4900, 'after the 5 s grace');
      // next turn: bob draws (ann, gone, is skipped at her turn); cid leaves: too few players
      await cid.next('state', (s) => s.phase === 'drawing' && s.drawer === bob.id, m);
      m = bob.mark();
      cid.close();
      const te2 = await bob.next('turn_end', () => true, m, 'the not-enough-players turn_end', 8000);
      assert.equal(te2.args[0].reason, 'not enough players');
      const go = (await bob.next('game_over', () => true, m)).args[0];
      assert.equal(go.leaderboard.length, 3, 'players who left stay on the board');
      assert.equal(bob.state().phase, 'game_over');
    } finally {
      for (const p of all) p.close();
      await server.stop();
    }
  });

  test(`draw protocol v2 (${lang}): hostile inputs are refused, the server goes on`, async () => {
    const server = await startApp('draw', lang, ['--round-seconds', '30', '--pause-seconds', '0.2']);
    const all = [];
    try {
      const room = newRoom('hostile');
      const p = new Player(server.url, 'Ann', room);
      all.push(p);
      for (const bad of ['x', 42, [1, 2], null, true, { name: 5, room: 'r' }, { name: 'a', room: {} }]) {
        assert.equal((await p.call('join', bad)).ok, false, `join ${JSON.stringify(bad)}`);
      }
      assert.equal((await p.call('guess', 'hi')).ok, false, 'not joined');
      assert.equal((await p.call('start', {})).ok, false, 'not joined');
      assert.equal((await p.join()).ok, true);
      all.push(...await players(server.url, room, ['Bob']));
      const huge = Array.from({ length: 5000 }, (_, i) => `word${i}`);
      for (const bad of [{ rounds: 0 }, { rounds: 11 }, { rounds: '3' }, { rounds: true }, { rounds: 2.5 },
        { words: 'a b c' }, { words: ['a', 'b'] }, { words: huge }, { words: ['ok', 'fine', 'x'.repeat(31)] },
        { words: ['ok', 'fine', 7] }, { words: ['ok', 'fine', ''] }, { words: ['ok', 'fine', {}] }, 'start', 7]) {
        const ack = await p.call('start', bad);
        assert.equal(ack.ok, false, `start ${JSON.stringify(bad).slice(0, 60)}`);
        assert.equal(typeof ack.error, 'string');
      }
      for (const bad of [{}, [], 42, null, 'x'.repeat(5000)]) {
        const ack = await p.call('guess', bad);
        assert.equal(typeof ack.ok, 'boolean');
      }
      p.emit('undo', { x: 1 });
      p.emit('clear', 'x');
      p.emit('fill', { x: 1e300, y: -1e300, color: '#000000' });
      assert.deepEqual(await p.call('start', { rounds: 1, words: ['  Red Fox ', 'blue', 'green'] }), { ok: true });
      const st = (await p.next('state', (s) => s.phase === 'drawing')).args[0];
      assert.equal(st.rounds, 1);
      assert.ok(['red fox', 'blue', 'green'].includes((await p.next('word')).args[0]));
    } finally {
      for (const x of all) x.close();
      await server.stop();
    }
  });

  // The bots: one bot.py and one bot.lua play a whole game with a scripted player (the host).
  test(`the bots (bot.py and bot.lua) play a game against the ${lang} server`, async (t) => {
    const siod = path.join(process.env.SIO_BUILD_DIR || path.join(REPO_ROOT, 'build'), 'siod');
    if (!existsSync(siod)) { t.skip('no siod'); return; }
    const server = await startApp('draw', lang, ['--round-seconds', '8', '--pause-seconds', '0.2']);
    const procs = [];
    const outputs = [];
    const run = (cmd, args, env) => {
      const out = { text: '' };
      const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d) => { out.text += d; });
      child.stderr.on('data', (d) => { out.text += d; });
      out.exit = new Promise((r) => child.once('exit', (code) => r(code)));
      procs.push(child);
      outputs.push(out);
      return out;
    };
    const host = new Player(server.url, 'Host', newRoom('bots'));
    try {
      const room = host.room;
      assert.equal((await host.join()).ok, true);
      const py = run(process.env.SIO_PYTHON_EXE || 'python3', ['examples/draw/bot.py', server.url, room, '--name', 'pybot',
        '--pace', '100', '--quit-after', '1'], pythonEnv());
      const lua = run(siod, ['examples/draw/bot.lua', server.url, room, '--name', 'luabot', '--pace', '100',
        '--quit-after', '1']);
      // bot.lua under the stock lua5.4 too, with the build's sio.so (as its README says)
      const build = process.env.SIO_BUILD_DIR || path.join(REPO_ROOT, 'build');
      const bots = ['pybot', 'luabot'];
      const runs = [py, lua];
      if (hasLua54() && existsSync(path.join(build, 'lua', 'sio.so'))) {
        runs.push(run('lua5.4', ['examples/draw/bot.lua', server.url, room, '--name', 'lua54bot', '--pace', '100',
          '--quit-after', '1'], { LUA_CPATH: `${path.join(build, 'lua')}/?.so;;` }));
        bots.push('lua54bot');
      }
      await host.next('state', (s) => s.players.filter((p) => p.connected).length === bots.length + 1, 0,
        'the bots joining', 15000);
      assert.deepEqual(await host.call('start', { rounds: 1 }), { ok: true });
      // the host guesses every word of the list of the right length; draws one line on its turn
      const tried = new Set();
      let over = null;
      const deadline = now() + 60000;
      while (!over && now() < deadline) {
        const st = host.state();
        if (st.phase === 'drawing' && st.drawer === host.id && !tried.has(`turn${st.round}.${st.turn}`)) {
          tried.add(`turn${st.round}.${st.turn}`);
          host.emit('stroke', { color: '#000000', width: 4, start: true, points: pts([[100, 100], [300, 300]]) });
        } else if (st.phase === 'drawing' && st.drawer !== host.id && !st.players.find((p) => p.id === host.id).guessed) {
          const w = WORDS.find((x) => x.length === st.word_length && !tried.has(`${st.round}.${st.turn}.${x}`));
          if (w) {
            tried.add(`${st.round}.${st.turn}.${w}`);
            await host.call('guess', w);
          }
        }
        const g = host.events('game_over');
        if (g.length) over = g[0].args[0];
        await sleep(50);
      }
      assert.ok(over, 'the game ended');
      assert.deepEqual(over.leaderboard.map((r) => r.name).sort(), ['Host', ...bots].sort());
      const turnEnds = host.events('turn_end').map((e) => e.args[0]);
      assert.equal(turnEnds.length, bots.length + 1, 'each player drew once');
      const byName = Object.fromEntries(host.state().players.map((p) => [p.name, p.id]));
      for (const name of bots) {
        assert.ok(turnEnds.some((e) => e.drawer === byName[name]), `${name} drew`);
        assert.ok(turnEnds.some((e) => e.results.some((r) => r.name === name && r.points >= 50)), `${name} guessed a word`);
      }
      const botStrokes = host.events('stroke').length;
      assert.ok(botStrokes >= 2, 'the bots\' strokes reached the host');
      for (const [k, r] of runs.entries()) {
        assert.equal(await r.exit, 0, `${bots[k]} leaves after the game`);
        assert.match(r.text, /drawing \w+/);
        assert.match(r.text, /turn over: \w+/);
        assert.match(r.text, /game over: \w+ wins/);
      }
    } catch (e) {
      e.message += `\n--- outputs:\n${outputs.map((o) => o.text).join('\n---\n')}`;
      throw e;
    } finally {
      host.close();
      for (const c of procs) if (c.exitCode === null) c.kill();
      await server.stop();
    }
  });
}

function hasLua54() {
  try { execFileSync('lua5.4', ['-v'], { stdio: 'ignore' }); return true; } catch { return false; }
}

// the servers' default word list (WORDS of server.py and server.lua)
const WORDS = ['apple', 'ball', 'banana', 'bird', 'boat', 'book', 'cake', 'car', 'cat', 'chair',
  'clock', 'cloud', 'dog', 'fish', 'flower', 'hat', 'heart', 'house', 'key', 'kite',
  'moon', 'pizza', 'rain', 'shoe', 'snake', 'spider', 'star', 'sun', 'train', 'tree'];

// How bot.py finds the in-tree sio, as examples/run does (unless sio is installed: SIO_PY_INSTALLED=1).
function pythonEnv() {
  if (process.env.SIO_PY_INSTALLED === '1') return {};
  const py = process.env.SIO_PYTHON_EXE || 'python3';
  const pyver = execFileSync(py, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
  const dir = process.env.SIO_PY_BUILD_DIR || path.join(REPO_ROOT, 'build-python', `py${pyver}`);
  const pkg = path.join(dir, 'bindings', 'python');
  return { PYTHONPATH: process.env.PYTHONPATH ? `${pkg}:${process.env.PYTHONPATH}` : pkg };
}
