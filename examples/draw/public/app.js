// Draw and guess: the page. Plain JavaScript, no build step; `io` comes from /socket.io/socket.io.js.
// The protocol is described at the top of ../server.py (and ../server.lua).
(function () {
  'use strict';

  const W = 800, H = 600;          // the canvas's logical size: every point is in these units
  const FLUSH_MS = 30;             // the drawer's points go out in batches this often
  const MAX_BATCH_POINTS = 1000;   // (the servers take 1024 x,y pairs per batch)
  const BACKGROUND = '#ffffff';

  const $ = (id) => document.getElementById(id);
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');

  // ---- who am I ---------------------------------------------------------------------------------

  const store = {
    get(key) { try { return localStorage.getItem('draw.' + key); } catch (e) { return null; } },
    set(key, value) {
      try {
        if (value == null) localStorage.removeItem('draw.' + key);
        else localStorage.setItem('draw.' + key, value);
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
  let state = null;           // the last `state`
  let secret = null;          // {round, word} when we draw
  let endsAt = null;          // Date.now() when the round ends
  let pen = null;             // the last point drawn, where a continued line goes on from

  function amDrawer() {
    return !!(state && state.drawer === playerId);
  }

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
  let drawing = null;         // {pointerId} while a pointer is down
  let batch = null;           // {start, points} not yet sent
  let flushTimer = null;

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

  canvas.addEventListener('pointerdown', (e) => {
    if (!amDrawer() || drawing || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = { pointerId: e.pointerId };
    flush();
    const p = logicalPoint(e);
    batch = { color, width, start: true, points: [] };
    addPoint(p);
    drawPoints([p], color, width, true);
    if (!flushTimer) flushTimer = setInterval(flush, FLUSH_MS);
  });

  canvas.addEventListener('pointermove', (e) => {
    if (!drawing || e.pointerId !== drawing.pointerId) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    const points = (events.length ? events : [e]).map(logicalPoint)
      .filter((p) => !pen || p[0] !== pen[0] || p[1] !== pen[1]);
    if (!points.length) return;
    points.forEach(addPoint);
    drawPoints(points, batch.color, batch.width, false);
  });

  function endLine(e) {
    if (!drawing || e.pointerId !== drawing.pointerId) return;
    drawing = null;
    flush();
    batch = null;
    clearInterval(flushTimer);
    flushTimer = null;
  }
  canvas.addEventListener('pointerup', endLine);
  canvas.addEventListener('pointercancel', endLine);
  canvas.addEventListener('lostpointercapture', endLine);

  function pickColor(c) {
    color = c;
    $('color').value = c;
    document.querySelectorAll('.swatch').forEach((b) => {
      b.classList.toggle('selected', b.dataset.color === c);
    });
  }
  $('swatches').addEventListener('click', (e) => {
    const b = e.target.closest('.swatch');
    if (b) pickColor(b.dataset.color);
  });
  $('color').addEventListener('input', (e) => pickColor(e.target.value));
  $('width').addEventListener('input', (e) => { width = Number(e.target.value) || 6; });
  $('clear').addEventListener('click', () => {
    if (!amDrawer()) return;
    batch = null;
    wipe();
    if (socket) socket.emit('clear');
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

  function setStatus(text, ok) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('ok', !!ok);
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
      li.classList.toggle('drawing', state.drawer === p.id);
      const name = document.createElement('span');
      name.className = 'pname';
      name.textContent = p.name + (p.id === playerId ? ' (you)' : '') + (p.connected ? '' : ' · away');
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = String(p.score);
      li.append(name, score);
      list.appendChild(li);
    }
  }

  function renderRound() {
    const drawer = state && state.players.find((p) => p.id === state.drawer);
    const me = amDrawer();
    if (!state || !state.drawer) {
      $('round-info').textContent = 'Waiting for a second player…';
    } else if (me) {
      $('round-info').textContent = `Round ${state.round}: you draw!`;
    } else {
      $('round-info').textContent = `Round ${state.round}: ${drawer ? drawer.name : '?'} draws`;
    }
    const word = $('word');
    if (me && secret && secret.round === state.round) {
      word.textContent = secret.word;
      word.hidden = false;
    } else {
      word.hidden = true;
      word.textContent = '';
    }
    $('hint').textContent = !me && state && state.word_length
      ? '_ '.repeat(state.word_length).trim() + ` (${state.word_length})`
      : '';
    $('tools').hidden = !me;
    canvas.classList.toggle('can-draw', me);
    const guess = $('guess');
    guess.disabled = me;
    $('send-guess').disabled = me;
    guess.placeholder = me ? 'You are drawing' : state && state.drawer ? 'Your guess…' : 'Say something…';
    $('room-name').textContent = state ? '· ' + state.room : '';
  }

  function tick() {
    const t = $('timer');
    if (endsAt == null) {
      t.textContent = '–';
      t.dataset.remaining = '';
      t.classList.remove('low');
      return;
    }
    const s = Math.max(0, Math.ceil((endsAt - Date.now()) / 1000));
    t.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    t.dataset.remaining = String(s);
    t.classList.toggle('low', s <= 10);
  }
  setInterval(tick, 250);

  function applyState(s) {
    const wasDrawer = amDrawer();
    if (state && s.round !== state.round) secret = secret && secret.round === s.round ? secret : null;
    state = s;
    endsAt = typeof s.remaining === 'number' ? Date.now() + s.remaining : null;
    if (wasDrawer && !amDrawer()) { // our turn ended (perhaps under the pen)
      drawing = null;
      batch = null;
      clearInterval(flushTimer);
      flushTimer = null;
    }
    renderPlayers();
    renderRound();
    tick();
  }

  // ---- the connection ---------------------------------------------------------------------------

  function connect() {
    if (socket) return;
    socket = io({ reconnectionDelayMax: 3000 });

    socket.on('connect', () => {
      setStatus('online', true);
      if (joined) sendJoin();        // a reconnection rejoins (the server may have restarted)
    });
    socket.on('disconnect', (reason) => {
      setStatus('offline');
      if (reason === 'io server disconnect') {
        // (the session stays: it is the other tab's now too)
        joined = null;
        showJoin();
        notice('This player joined from another tab, so this one is out. ' +
               'Use “Play as a new player” to play here as someone else.');
      } else {
        log('Connection lost, reconnecting…', 'sys');
      }
    });

    socket.on('state', applyState);
    socket.on('word', (word) => {
      secret = { round: state ? state.round : 0, word };
      renderRound();
    });
    socket.on('clear', wipe);
    socket.on('stroke', (s) => {
      if (!s || !s.points) return;
      drawPoints(unpack(s.points, 0, byteLength(s.points) / 4), s.color, s.width, s.start);
    });
    socket.on('strokes', (all) => {
      wipe();
      if (!all || !all.batches || !all.points) return;
      let offset = 0;
      for (const b of all.batches) {
        drawPoints(unpack(all.points, offset, b.n), b.color, b.width, b.start);
        offset += b.n * 4;
      }
    });
    socket.on('guess', (g) => log(`${g.name}: ${g.text}`));
    socket.on('correct', (c) => log(`${c.name} guessed it: “${c.word}”!`, 'good'));
    socket.on('timeout', (t) => {
      const why = t.reason === 'drawer left' ? 'The drawer left'
        : t.reason === 'not enough players' ? 'Not enough players' : 'Time is up';
      log(`${why}. The word was “${t.word}”.`, 'sys');
    });
  }

  function sendJoin() {
    const { name, room } = joined;
    wipe(); // what the server sends next (the round's strokes) draws on a clean canvas
    socket.emit('join', { name, room, player_id: playerId }, (res) => {
      if (!res || !res.ok) {
        notice(`Could not join: ${(res && res.error) || 'no answer'}`);
        joined = null;
        store.set('session', null);
        showJoin();
        return;
      }
      if (res.you !== playerId) {
        playerId = res.you;
        store.set('player_id', playerId);
      }
      applyState(res.state);
      notice('');
      $('join-form').hidden = true;
      $('game').hidden = false;
    });
  }

  function join(name, room) {
    joined = { name, room };
    store.set('name', name);
    store.set('room', room);
    store.set('session', JSON.stringify(joined));
    log(`Joining room “${room}” as ${name}…`, 'sys');
    connect();
    if (socket.connected) sendJoin();
  }

  function showJoin() {
    $('join-form').hidden = false;
    $('game').hidden = true;
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    const room = $('room').value.trim();
    if (!name || !room) return;
    join(name, room);
  });

  $('guess-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('guess');
    const text = input.value.trim();
    if (!text || !socket || !joined) return;
    input.value = '';
    socket.emit('guess', text, (res) => {
      if (res && res.error) log(res.error, 'sys');
    });
  });

  $('leave').addEventListener('click', (e) => {
    e.preventDefault();
    store.set('session', null);
    location.reload();
  });

  $('new-player').addEventListener('click', (e) => {
    e.preventDefault();
    playerId = newId();
    store.set('player_id', playerId);
    notice('You will join as a new player.');
  });

  // ---- start ------------------------------------------------------------------------------------

  wipe();
  pickColor(color);
  const params = new URLSearchParams(location.search);
  $('name').value = store.get('name') || '';
  $('room').value = params.get('room') || store.get('room') || 'lobby';
  let session = null;
  try { session = JSON.parse(store.get('session') || 'null'); } catch (e) { session = null; }
  if (session && session.name && session.room && (!params.get('room') || params.get('room') === session.room)) {
    join(session.name, session.room); // a reload: back in as the same player
  }
})();
