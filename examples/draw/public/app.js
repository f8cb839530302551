// Draw and guess: the page. Plain JavaScript, no build step; `io` comes from /socket.io/socket.io.js.
// The protocol (v2) is described at the top of ../server.py (and ../server.lua).
(function () {
  'use strict';

  const W = 800, H = 600;          // the canvas's logical size: every point is in these units
  const FLUSH_MS = 30;             // the drawer's points go out in batches this often
  const MAX_BATCH_POINTS = 1000;   // (the servers take 1024 x,y pairs per batch)
  const BACKGROUND = '#ffffff';
  const ERASER = '#ffffff';        // the eraser is a stroke in the background's colour
  const FILL_TOLERANCE = 48;       // colour distance (sum of |dr|,|dg|,|db|) still "the same area"

  const $ = (id) => document.getElementById(id);
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const params = new URLSearchParams(location.search);

  // ---- who am I ---------------------------------------------------------------------------------

  // `?new` (or `?player=new`): this tab is a new player, kept in sessionStorage (a reload of this
  // tab stays that player), so a second window of the same browser is a second player.
  const fresh = params.has('new') || params.get('player') === 'new';
  const backing = (() => {
    try { return fresh ? window.sessionStorage : window.localStorage; } catch (e) { return null; }
  })();
  const store = {
    get(key) { try { return backing.getItem('draw.' + key); } catch (e) { return null; } },
    set(key, value) {
      try {
        if (value == null) backing.removeItem('draw.' + key);
        else backing.setItem('draw.' + key, value);
      } catch (e) { /* private mode: this page just forgets */ }
    },
  };

  function newId() {
    // crypto.randomUUID needs a secure context; a phone on http://192.168.x.y:3000 is not one
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  let playerId = store.get('player_id') || newId();
  store.set('player_id', playerId);

  // ---- game state as the page knows it ----------------------------------------------------------

  let socket = null;
  let joined = null;          // {name, room} once we asked to join
  let inRoom = false;         // the join was accepted
  let state = null;           // the last `state`
  let secret = null;          // {key, word} when we draw (key: "round.turn")
  let endsAt = null;          // Date.now() when the turn (or the pause) ends
  let pen = null;             // the last point drawn, where a continued line goes on from
  let ops = [];               // this turn's operations, for undo: {stroke} or {fill}
  let lastGame = null;        // {rounds, words} of the last start, for "Play again"

  const turnKey = (s) => (s && s.phase === 'drawing' ? `${s.round}.${s.turn}` : '');
  const amDrawer = () => !!(state && state.phase === 'drawing' && state.drawer === playerId);
  const amHost = () => !!(state && state.host === playerId);
  const me = () => (state ? state.players.find((p) => p.id === playerId) : null);
  const nameOf = (id) => {
    const p = state && state.players.find((q) => q.id === id);
    return p ? p.name : '?';
  };

  // ---- the canvas -------------------------------------------------------------------------------

  function wipe() {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, W, H);
    ctx.restore();
    pen = null;
  }

  // Draws points [[x, y], ...] as a line: from the pen when `start` is false, else from the first.
  function drawPoints(points, color, width, start) {
    if (!points.length) return;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = width;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    let from = start || !pen ? null : pen;
    let i = 0;
    if (!from) {
      const [x, y] = points[0];
      if (points.length === 1) { // a dot
        ctx.beginPath();
        ctx.arc(x, y, width / 2, 0, Math.PI * 2);
        ctx.fill();
        pen = points[0];
        return;
      }
      from = points[0];
      i = 1;
    }
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    for (; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
    ctx.stroke();
    pen = points[points.length - 1];
  }

  function parseColor(hex) {
    const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
    const n = m ? parseInt(m[1], 16) : 0;
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  // Flood fill from (x, y) with `color`: every pixel connected to it (4-neighbours) whose colour is
  // within FILL_TOLERANCE of the start pixel's. Scanline fill over the 800x600 backing store, so
  // every client, whatever its screen, fills the same area.
  function floodFill(x, y, color) {
    x = Math.max(0, Math.min(W - 1, Math.round(x)));
    y = Math.max(0, Math.min(H - 1, Math.round(y)));
    const image = ctx.getImageData(0, 0, W, H);
    const d = image.data;
    const at = (px, py) => (py * W + px) * 4;
    const s = at(x, y);
    const [tr, tg, tb] = [d[s], d[s + 1], d[s + 2]];
    const [fr, fg, fb] = parseColor(color);
    if (Math.abs(tr - fr) + Math.abs(tg - fg) + Math.abs(tb - fb) === 0) return;
    const done = new Uint8Array(W * H);
    const same = (px, py) => {
      if (done[py * W + px]) return false;
      const i = at(px, py);
      return Math.abs(d[i] - tr) + Math.abs(d[i + 1] - tg) + Math.abs(d[i + 2] - tb) <= FILL_TOLERANCE;
    };
    const stack = [[x, y]];
    while (stack.length) {
      const [sx, sy] = stack.pop();
      if (!same(sx, sy)) continue;
      let l = sx, r = sx;
      while (l > 0 && same(l - 1, sy)) l--;
      while (r < W - 1 && same(r + 1, sy)) r++;
      for (let px = l; px <= r; px++) {
        const i = at(px, sy);
        d[i] = fr; d[i + 1] = fg; d[i + 2] = fb; d[i + 3] = 255;
        done[sy * W + px] = 1;
      }
      for (const ny of [sy - 1, sy + 1]) {
        if (ny < 0 || ny >= H) continue;
        let inRun = false;
        for (let px = l; px <= r; px++) {
          if (same(px, ny)) {
            if (!inRun) { stack.push([px, ny]); inRun = true; }
          } else {
            inRun = false;
          }
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    pen = null;
  }

  // The operations list: a stroke is the batch with start:true and the start:false batches after it.
  function addStroke(points, color, width, start) {
    const last = ops[ops.length - 1];
    if (start || !last || last.type !== 'stroke') {
      ops.push({ type: 'stroke', color, width, points: points.slice() });
    } else {
      for (const p of points) last.points.push(p);
    }
    drawPoints(points, color, width, start);
  }

  function addFill(x, y, color) {
    ops.push({ type: 'fill', x, y, color });
    floodFill(x, y, color);
  }

  function redraw() {
    wipe();
    for (const op of ops) {
      if (op.type === 'fill') floodFill(op.x, op.y, op.color);
      else drawPoints(op.points, op.color, op.width, true);
    }
    pen = null;
  }

  function resetCanvas() {
    ops = [];
    wipe();
  }

  function undoLast() {
    if (!ops.length) return;
    ops.pop();
    redraw();
  }

  // Binary points (ArrayBuffer or a view) -> [[x, y], ...]: little-endian Int16 x,y pairs.
  function unpack(bin, offset, count) {
    const view = bin instanceof ArrayBuffer
      ? new DataView(bin)
      : new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
    const points = [];
    for (let i = 0; i < count; i++) {
      const at = offset + i * 4;
      if (at + 4 > view.byteLength) break;
      points.push([view.getInt16(at, true), view.getInt16(at + 2, true)]);
    }
    return points;
  }

  function pack(points) {
    const buf = new ArrayBuffer(points.length * 4);
    const view = new DataView(buf);
    points.forEach(([x, y], i) => {
      view.setInt16(i * 4, x, true);
      view.setInt16(i * 4 + 2, y, true);
    });
    return buf;
  }

  function byteLength(bin) {
    return bin instanceof ArrayBuffer ? bin.byteLength : (bin && bin.byteLength) || 0;
  }

  // ---- drawing with a mouse, a pen or a finger --------------------------------------------------

  let color = '#222222';
  let width = 6;
  let tool = 'pen';           // 'pen' | 'eraser' | 'fill'
  let drawing = null;         // {pointerId} while a pointer is down
  let batch = null;           // {color, width, start, points} not yet sent
  let flushTimer = null;

  const inkColor = () => (tool === 'eraser' ? ERASER : color);

  function logicalPoint(e) {
    const r = canvas.getBoundingClientRect();
    const x = Math.round(((e.clientX - r.left) / r.width) * W);
    const y = Math.round(((e.clientY - r.top) / r.height) * H);
    return [Math.max(0, Math.min(W, x)), Math.max(0, Math.min(H, y))];
  }

  function flush() {
    if (!batch || !batch.points.length) return;
    if (socket && socket.connected && amDrawer()) {
      socket.emit('stroke', {
        color: batch.color,
        width: batch.width,
        start: batch.start,
        points: pack(batch.points),
      });
    }
    // the same line goes on in the next batch, from this batch's last point
    batch = { color: batch.color, width: batch.width, start: false, points: [] };
  }

  function addPoint(p) {
    if (batch.points.length >= MAX_BATCH_POINTS) flush();
    batch.points.push(p);
  }

  function stopDrawing() {
    drawing = null;
    batch = null;
    clearInterval(flushTimer);
    flushTimer = null;
  }

  canvas.addEventListener('pointerdown', (e) => {
    if (!amDrawer() || drawing || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    const p = logicalPoint(e);
    if (tool === 'fill') {
      const x = Math.min(W - 1, p[0]), y = Math.min(H - 1, p[1]);
      addFill(x, y, color);
      if (socket) socket.emit('fill', { x, y, color });
      return;
    }
    canvas.setPointerCapture(e.pointerId);
    drawing = { pointerId: e.pointerId };
    batch = { color: inkColor(), width, start: true, points: [] };
    addPoint(p);
    addStroke([p], batch.color, width, true);
    if (!flushTimer) flushTimer = setInterval(flush, FLUSH_MS);
  });

  canvas.addEventListener('pointermove', (e) => {
    moveCursor(e);
    if (!drawing || e.pointerId !== drawing.pointerId) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    const points = (events.length ? events : [e]).map(logicalPoint)
      .filter((p) => !pen || p[0] !== pen[0] || p[1] !== pen[1]);
    if (!points.length) return;
    points.forEach(addPoint);
    addStroke(points, batch.color, batch.width, false);
  });

  function endLine(e) {
    if (!drawing || e.pointerId !== drawing.pointerId) return;
    flush();
    stopDrawing();
  }
  canvas.addEventListener('pointerup', endLine);
  canvas.addEventListener('pointercancel', endLine);
  canvas.addEventListener('lostpointercapture', endLine);
  canvas.addEventListener('pointerleave', () => { $('brush-cursor').hidden = true; });

  // The brush as it will draw: a dot of the stroke's width (at the canvas' scale) in its colour,
  // next to the size slider and under the pointer over the canvas.
  function brushPx() {
    const r = canvas.getBoundingClientRect();
    return Math.max(2, (width * (r.width || W)) / W);
  }

  function renderBrush() {
    const preview = $('brush-preview');
    const size = brushPx();
    preview.style.width = preview.style.height = `${size}px`;
    preview.style.background = tool === 'fill' ? color : inkColor();
    preview.classList.toggle('eraser', tool === 'eraser');
    preview.dataset.width = String(width);
    const cursor = $('brush-cursor');
    cursor.style.width = cursor.style.height = `${size}px`;
    cursor.style.background = inkColor();
    cursor.classList.toggle('eraser', tool === 'eraser');
  }

  function moveCursor(e) {
    const cursor = $('brush-cursor');
    if (!amDrawer() || tool === 'fill' || e.pointerType === 'touch') {
      cursor.hidden = true;
      return;
    }
    const r = canvas.getBoundingClientRect();
    cursor.hidden = false;
    cursor.style.left = `${e.clientX - r.left}px`;
    cursor.style.top = `${e.clientY - r.top}px`;
  }

  function pickTool(t) {
    tool = t;
    document.querySelectorAll('.tool').forEach((b) => b.classList.toggle('selected', b.dataset.tool === t));
    canvas.dataset.tool = t;
    renderBrush();
  }

  function pickColor(c) {
    color = c;
    $('color').value = c;
    document.querySelectorAll('.swatch').forEach((b) => {
      b.classList.toggle('selected', b.dataset.color === c);
    });
    if (tool === 'eraser') pickTool('pen');
    renderBrush();
  }
  $('swatches').addEventListener('click', (e) => {
    const b = e.target.closest('.swatch');
    if (b) pickColor(b.dataset.color);
  });
  $('color').addEventListener('input', (e) => pickColor(e.target.value));
  document.querySelector('.toolset').addEventListener('click', (e) => {
    const b = e.target.closest('.tool');
    if (b) pickTool(b.dataset.tool);
  });
  $('width').addEventListener('input', (e) => { width = Number(e.target.value) || 6; renderBrush(); });
  $('clear').addEventListener('click', () => {
    if (!amDrawer()) return;
    stopDrawing();
    resetCanvas();
    if (socket) socket.emit('clear');
  });
  $('undo').addEventListener('click', () => {
    if (!amDrawer() || drawing || !ops.length) return;
    undoLast();
    if (socket) socket.emit('undo');
  });
  window.addEventListener('resize', renderBrush);
  // Ctrl+Z / Cmd+Z: the drawer's undo (not while typing)
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'z' && amDrawer() &&
        !(e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement)) {
      e.preventDefault();
      $('undo').click();
    }
  });

  // ---- the page around the canvas ---------------------------------------------------------------

  function log(text, kind) {
    const li = document.createElement('li');
    li.textContent = text;
    if (kind) li.className = kind;
    const list = $('log');
    list.appendChild(li);
    while (list.children.length > 200) list.firstChild.remove();
    list.scrollTop = list.scrollHeight;
  }

  function notice(text) {
    $('notice').textContent = text;
  }

  let feedbackTimer = null;
  function feedback(text, kind) {
    const f = $('feedback');
    f.textContent = text;
    f.className = 'feedback' + (kind ? ' ' + kind : '');
    clearTimeout(feedbackTimer);
    if (text) feedbackTimer = setTimeout(() => { f.textContent = ''; }, 4000);
  }

  // The connection's state. Before joining nothing is wrong (the page connects on Join): a neutral
  // "not joined yet", never a red "offline".
  function setStatus(text, kind) {
    const s = $('status');
    s.textContent = text || 'not joined yet';
    s.className = 'status' + (kind ? ' ' + kind : '');
  }

  function button(text, cls, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small ' + cls;
    b.textContent = text;
    b.addEventListener('click', onClick);
    return b;
  }

  function renderPlayers() {
    const list = $('players');
    list.textContent = '';
    const players = state ? state.players.slice() : [];
    players.sort((a, b) => b.score - a.score);
    for (const p of players) {
      const li = document.createElement('li');
      li.dataset.id = p.id;
      li.dataset.name = p.name;
      li.dataset.score = String(p.score);
      li.classList.toggle('me', p.id === playerId);
      li.classList.toggle('away', !p.connected);
      li.classList.toggle('drawing', state.phase === 'drawing' && state.drawer === p.id);
      li.classList.toggle('host', state.host === p.id);
      li.classList.toggle('spectator', !!p.spectator);
      li.classList.toggle('guessed', !!p.guessed);
      const name = document.createElement('span');
      name.className = 'pname';
      name.textContent = p.name + (p.id === playerId ? ' (you)' : '') + (p.connected ? '' : ' · away');
      li.append(name);
      if (state.host === p.id) li.append(badge('host', 'host'));
      if (p.spectator) li.append(badge('spectator', 'spectator'));
      if (p.guessed) li.append(badge('✓', 'guessed-badge'));
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = String(p.score);
      li.append(score);
      if (amHost() && p.id !== playerId) {
        const tools = document.createElement('span');
        tools.className = 'host-tools';
        if (state.phase === 'drawing' && state.drawer === p.id) {
          tools.append(button('Skip', 'skip', () => skip()));
        }
        tools.append(button('Kick', 'kick', () => kick(p.id, p.name)));
        li.append(tools);
      } else if (amHost() && state.phase === 'drawing' && state.drawer === p.id) {
        const tools = document.createElement('span');
        tools.className = 'host-tools';
        tools.append(button('Skip', 'skip', () => skip()));
        li.append(tools);
      }
      list.appendChild(li);
    }
  }

  function badge(text, cls) {
    const b = document.createElement('span');
    b.className = 'badge ' + cls;
    b.textContent = text;
    return b;
  }

  function renderRound() {
    const s = state;
    const info = $('round-info');
    const drawing = s && s.phase === 'drawing';
    info.dataset.round = s ? String(s.round) : '';
    info.dataset.turn = s ? String(s.turn || 0) : '';
    info.dataset.drawer = drawing ? nameOf(s.drawer) : '';
    if (!s || s.phase === 'lobby') {
      info.textContent = 'Lobby';
    } else if (s.phase === 'game_over') {
      info.textContent = 'Game over';
    } else {
      const who = amDrawer() ? 'you draw!' : `${nameOf(s.drawer)} draws`;
      const turns = s.turns ? ` · turn ${s.turn} of ${s.turns}` : '';
      info.textContent = s.phase === 'drawing'
        ? `Round ${s.round} of ${s.rounds}${turns}: ${who}`
        : `Round ${s.round} of ${s.rounds}`;
    }
    const word = $('word');
    if (amDrawer() && secret && secret.key === turnKey(s)) {
      word.textContent = secret.word;
      word.hidden = false;
    } else {
      word.hidden = true;
      word.textContent = '';
    }
    const hint = $('hint');
    const showHint = drawing && !amDrawer() && s.hint;
    hint.textContent = showHint ? s.hint.split('').join(' ') + ` (${s.word_length})` : '';
    hint.dataset.hint = showHint ? s.hint : '';
    $('tools').hidden = !amDrawer();
    canvas.classList.toggle('can-draw', amDrawer());
    if (!amDrawer()) $('brush-cursor').hidden = true;
    const mine = me();
    const guess = $('guess');
    guess.placeholder = !drawing ? 'Say something…'
      : amDrawer() ? 'Chat (you are drawing)…'
        : mine && mine.spectator ? 'Spectating: you guess from the next turn'
          : mine && mine.guessed ? 'You got it! Chat…' : 'Your guess…';
    $('send-guess').textContent = drawing && !amDrawer() && mine && !mine.guessed && !mine.spectator
      ? 'Guess' : 'Send';
    $('room-name').textContent = s ? '· ' + s.room : '';
    $('game').dataset.phase = s ? s.phase : '';
  }

  function renderLobby() {
    const s = state;
    const lobby = s && (s.phase === 'lobby');
    $('lobby').hidden = !lobby;
    const host = amHost();
    $('host-controls').hidden = !host;
    const connected = s ? s.players.filter((p) => p.connected).length : 0;
    $('start').disabled = connected < 2;
    $('lobby-wait').textContent = !lobby ? ''
      : host ? (connected < 2 ? 'Waiting for a second player: share the room (button at the top).'
        : `${connected} players here. Start when everyone is in.`)
        : `Waiting for ${nameOf(s.host)} (the host) to start the game…`;
    const over = s && s.phase === 'game_over';
    if (over && !$('leaderboard').children.length) { // joined after the game's end: the board from the state
      showGameOver({ leaderboard: s.players.map((p) => ({ id: p.id, name: p.name, score: p.score }))
        .sort((a, b) => b.score - a.score) });
    }
    $('game-over').hidden = !over;
    $('play-again').hidden = !(over && host);
    $('play-again').disabled = connected < 2;
    $('play-wait').textContent = over && !host ? `Waiting for ${nameOf(s.host)} (the host) to play again…` : '';
    if (!s || s.phase !== 'turn_end') $('turn-end').hidden = true;
  }

  function tick() {
    const t = $('timer');
    if (endsAt == null || !state || state.phase !== 'drawing') {
      t.textContent = '–';
      t.dataset.remaining = '';
      t.classList.remove('low');
    } else {
      const s = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
      t.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
      t.dataset.remaining = String(s);
      t.classList.toggle('low', s <= 10);
    }
    if (state && state.phase === 'turn_end' && endsAt != null) {
      const s = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
      $('turn-next').textContent = s > 0 ? `Next turn in ${s}…` : '';
    }
  }
  setInterval(tick, 250);

  function applyState(s) {
    if (!s) return;
    const before = turnKey(state);
    const wasDrawer = amDrawer();
    state = s;
    const now = turnKey(s);
    if (now && now !== before) {   // a new turn: a clean canvas
      resetCanvas();
      feedback('');
    }
    if (secret && secret.key === null && now && s.drawer === playerId) secret.key = now;
    if (secret && secret.key !== null && secret.key !== now) secret = null;
    endsAt = typeof s.remaining === 'number' ? Date.now() + s.remaining : null;
    if (wasDrawer && !amDrawer()) stopDrawing(); // our turn ended (perhaps under the pen)
    renderPlayers();
    renderRound();
    renderLobby();
    tick();
  }

  function showTurnEnd(t) {
    const box = $('turn-end');
    box.dataset.key = `${t.round}.${state ? state.turn : ''}`;
    box.dataset.word = t.word;
    box.dataset.reason = t.reason;
    $('turn-word').textContent = t.word;
    const why = {
      guessed: 'Everybody guessed it!',
      time: 'Time is up.',
      skipped: 'The host skipped this turn.',
      'drawer left': 'The drawer left.',
      'not enough players': 'Not enough players.',
    }[t.reason] || t.reason;
    $('turn-reason').textContent = `${why} ${nameOf(t.drawer)} drew.`;
    const list = $('results');
    list.textContent = '';
    for (const r of t.results || []) {
      const li = document.createElement('li');
      li.dataset.id = r.id;
      li.dataset.name = r.name;
      li.dataset.points = String(r.points);
      li.dataset.score = String(r.score);
      li.classList.toggle('scored', r.points > 0);
      li.classList.toggle('me', r.id === playerId);
      const n = document.createElement('span');
      n.textContent = r.name + (r.id === t.drawer ? ' ✏️' : '');
      const p = document.createElement('span');
      p.className = 'points';
      p.textContent = r.points > 0 ? `+${r.points}` : '—';
      li.append(n, p);
      list.appendChild(li);
    }
    box.hidden = false;
    log(`The word was “${t.word}”. ${why}`, 'sys');
  }

  function showGameOver(g) {
    const list = $('leaderboard');
    list.textContent = '';
    const board = (g && g.leaderboard) || [];
    const tie = board.length > 1 && board[1].score === board[0].score;
    board.forEach((r, i) => {
      const li = document.createElement('li');
      li.dataset.id = r.id;
      li.dataset.name = r.name;
      li.dataset.score = String(r.score);
      li.classList.toggle('me', r.id === playerId);
      const n = document.createElement('span');
      n.textContent = (i === 0 && !tie ? '🏆 ' : '') + r.name;
      const p = document.createElement('span');
      p.className = 'points';
      p.textContent = String(r.score);
      li.append(n, p);
      list.appendChild(li);
    });
    const top = board[0];
    $('winner').textContent = !top ? 'Game over' : tie ? 'Game over: a tie!'
      : top.id === playerId ? 'You win! 🎉' : `${top.name} wins!`;
    $('game-over').hidden = false;
  }

  // ---- the connection ---------------------------------------------------------------------------

  function connect() {
    if (socket) return;
    setStatus('connecting…');
    socket = io({ reconnectionDelayMax: 3000 });

    socket.on('connect', () => {
      setStatus('online', 'ok');
      if (joined) sendJoin();        // a reconnection rejoins (the server may have restarted)
    });
    // (we asked to join: now a server out of reach is worth saying)
    socket.on('connect_error', () => setStatus(inRoom ? 'offline' : 'cannot reach the server, retrying…', 'bad'));
    socket.on('disconnect', (reason) => {
      setStatus('offline', 'bad');
      if (reason === 'io server disconnect') {
        leaveGame(false); // (the session stays: it is the other tab's now too)
        notice('This player joined from another tab, so this one is out. ' +
               'Use “Play as a new player” (or a link with ?new) to play here as someone else.');
      } else if (inRoom) {
        log('Connection lost, reconnecting…', 'sys');
      }
    });

    socket.on('state', applyState);
    socket.on('word', (word) => {
      // (the word may come just before the state of our turn: then it waits for that state)
      secret = { key: amDrawer() ? turnKey(state) : null, word };
      renderRound();
    });
    socket.on('hint', (hint) => {
      if (state && typeof hint === 'string') { state.hint = hint; renderRound(); }
    });
    socket.on('clear', resetCanvas);
    socket.on('stroke', (s) => {
      if (!s || !s.points) return;
      addStroke(unpack(s.points, 0, byteLength(s.points) / 4), s.color, s.width, s.start);
    });
    socket.on('fill', (f) => {
      if (f && Number.isFinite(f.x) && Number.isFinite(f.y)) addFill(f.x, f.y, f.color);
    });
    socket.on('undo', undoLast);
    socket.on('strokes', (all) => {
      resetCanvas();
      if (!all || !all.batches) return;
      let offset = 0;
      for (const b of all.batches) {
        if (b.fill) {
          addFill(b.x, b.y, b.color);
        } else if (all.points) {
          addStroke(unpack(all.points, offset, b.n), b.color, b.width, b.start);
        }
        offset += (b.n || 0) * 4;
      }
    });
    socket.on('guess', (g) => log(`${g.name}: ${g.text}`));
    socket.on('correct', (c) => {
      const mineToo = c.id === playerId;
      log(`${mineToo ? 'You' : c.name} guessed the word! (+${c.points})`, 'good');
      if (mineToo) feedback(`You got it! +${c.points}`, 'good');
    });
    socket.on('turn_end', (t) => { if (t) showTurnEnd(t); });
    socket.on('game_over', (g) => showGameOver(g));
    socket.on('notice', (n) => { if (n && n.text) log(n.text, 'notice'); });
    socket.on('kicked', () => {
      leaveGame();
      notice('The host removed you from this room.');
    });
  }

  function leaveGame(forget = true) {
    joined = null;
    inRoom = false;
    state = null;
    if (forget) store.set('session', null);
    if (socket) { socket.disconnect(); socket = null; }
    setStatus('');
    showJoin();
  }

  function sendJoin() {
    const { name, room } = joined;
    resetCanvas(); // what the server sends next (the turn's strokes) draws on a clean canvas
    socket.emit('join', { name, room, player_id: playerId }, (res) => {
      if (!joined) return;
      if (!res || !res.ok) {
        const why = res && res.error === 'kicked' ? 'the host removed you from this room'
          : (res && res.error) || 'no answer';
        leaveGame();
        notice(`Could not join: ${why}`);
        return;
      }
      if (res.you !== playerId) {
        playerId = res.you;
        store.set('player_id', playerId);
      }
      if (!inRoom) log(`You joined room “${room}” as ${name}.`, 'sys');
      inRoom = true;
      applyState(res.state);
      notice('');
      $('join-form').hidden = true;
      $('game').hidden = false;
      $('share').hidden = false;
      renderBrush();
    });
  }

  function join(name, room) {
    joined = { name, room };
    store.set('name', name);
    store.set('room', room);
    store.set('session', JSON.stringify(joined));
    connect();
    if (socket.connected) sendJoin();
  }

  function showJoin() {
    $('join-form').hidden = false;
    $('game').hidden = true;
    $('share').hidden = true;
  }

  // ---- host controls ----------------------------------------------------------------------------

  function parseWords(text) {
    return text.split(/[\n,]/).map((w) => w.trim()).filter(Boolean);
  }

  function start(game) {
    if (!socket) return;
    $('start-error').textContent = '';
    socket.emit('start', game, (res) => {
      if (res && res.ok) { lastGame = game; return; }
      const why = (res && res.error) || 'no answer';
      $('start-error').textContent = why;
      log(`Could not start: ${why}`, 'sys');
    });
  }

  $('start').addEventListener('click', () => {
    const rounds = Math.max(1, Math.min(10, Number($('rounds').value) || 3));
    const words = parseWords($('words').value);
    const game = { rounds };
    if (words.length) game.words = words;
    start(game);
  });
  $('play-again').addEventListener('click', () => start(lastGame || { rounds: (state && state.rounds) || 3 }));

  function skip() {
    if (socket) socket.emit('skip', (res) => { if (res && res.error) log(`Skip: ${res.error}`, 'sys'); });
  }

  function kick(id, name) {
    if (socket) {
      socket.emit('kick', { id }, (res) => { if (res && res.error) log(`Kick ${name}: ${res.error}`, 'sys'); });
    }
  }

  // ---- guesses and chat -------------------------------------------------------------------------

  $('guess-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('guess');
    const text = input.value.trim();
    if (!text || !socket || !inRoom) return;
    input.value = '';
    input.focus();
    socket.emit('guess', text, (res) => {
      if (!res) return;
      if (res.close) {
        feedback(`“${text}” is close!`, 'close');
        log(`“${text}” is close!`, 'close');
      } else if (res.error === 'spectating') {
        feedback('You are spectating this turn: you guess from the next one.', 'sys');
      } else if (res.error === 'no spoilers') {
        feedback('No spoilers: that message gives the word away.', 'sys');
      } else if (res.error) {
        feedback(res.error, 'sys');
      }
    });
  });

  // ---- share, leave, new player -----------------------------------------------------------------

  function roomUrl() {
    const room = (joined && joined.room) || (state && state.room) || '';
    return `${location.origin}${location.pathname}?room=${encodeURIComponent(room)}`;
  }

  $('share').addEventListener('click', async () => {
    const url = roomUrl();
    const status = $('share-status');
    $('share').dataset.url = url;
    if (navigator.share && matchMedia('(pointer: coarse)').matches) {
      try { await navigator.share({ title: 'Draw and guess', text: 'Come and play!', url }); return; } catch (e) { /* fall through */ }
    }
    try {
      await navigator.clipboard.writeText(url);
      status.textContent = 'Link copied: ' + url;
    } catch (e) {
      status.textContent = url; // no clipboard (http on a phone): show it, to be copied by hand
    }
    setTimeout(() => { status.textContent = ''; }, 8000);
  });

  $('leave').addEventListener('click', (e) => {
    e.preventDefault();
    store.set('session', null);
    location.reload();
  });

  // a link that opens a second player of this browser (?new) in the room typed in
  function newWindowLink() {
    const room = $('room').value.trim();
    $('new-window').href = `${location.pathname}?new${room ? '&room=' + encodeURIComponent(room) : ''}`;
  }
  $('room').addEventListener('input', newWindowLink);

  $('new-player').addEventListener('click', (e) => {
    e.preventDefault();
    playerId = newId();
    store.set('player_id', playerId);
    notice('You will join as a new player.');
  });

  // ---- the phone layout: the guess box above the on-screen keyboard, the canvas in view ---------

  const narrow = () => matchMedia('(max-width: 820px)').matches;

  function fitViewport() {
    const vv = window.visualViewport;
    const h = vv ? vv.height : window.innerHeight;
    document.documentElement.style.setProperty('--vvh', `${Math.round(h)}px`);
    renderBrush();
    if (narrow() && document.activeElement === $('guess')) {
      // the round bar at the top of what is visible: the canvas and the guess box below it
      requestAnimationFrame(() => {
        const top = $('board').getBoundingClientRect().top + window.scrollY - (vv ? vv.offsetTop : 0);
        window.scrollTo({ top: Math.max(0, top), behavior: 'instant' });
      });
    }
  }
  if (window.visualViewport) {
    window.visualViewport.addEventListener('resize', fitViewport);
  }
  window.addEventListener('resize', fitViewport);
  $('guess').addEventListener('focus', () => setTimeout(fitViewport, 50));
  fitViewport();

  // ---- start ------------------------------------------------------------------------------------

  resetCanvas();
  setStatus('');
  pickColor(color);
  pickTool('pen');
  $('name').value = store.get('name') || '';
  // (a ?new tab without ?room= starts from the room this browser played last)
  const lastRoom = () => { try { return localStorage.getItem('draw.room'); } catch (e) { return null; } };
  $('room').value = params.get('room') || store.get('room') || lastRoom() || 'lobby';
  newWindowLink();

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    const room = $('room').value.trim();
    if (!name || !room) return;
    join(name, room);
  });

  let session = null;
  try { session = JSON.parse(store.get('session') || 'null'); } catch (e) { session = null; }
  if (session && session.name && session.room && (!params.get('room') || params.get('room') === session.room)) {
    join(session.name, session.room); // a reload: back in as the same player
  }
})();
