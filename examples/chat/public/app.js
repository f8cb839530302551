// The chat page: plain JavaScript, no build step. The protocol is described at the top of
// examples/chat/server.py (and server.lua); `io` comes from /socket.io/socket.io.js.
(function () {
  'use strict';

  var MAX_TEXT = 2000;
  var JOIN_TIMEOUT = 5000;   // ms to wait for the join ack
  var CHAT_TIMEOUT = 10000;  // ms to wait for a message's ack before showing it as failed
  var TYPING_IDLE = 2000;    // ms after the last keystroke before we say we stopped typing
  var TYPING_STALE = 6000;   // ms after which someone else's "typing" fades without news

  function $(id) { return document.getElementById(id); }
  var app = $('app');
  var joinView = $('join-view'), chatView = $('chat-view');
  var joinForm = $('join-form'), nickInput = $('nick'), roomInput = $('room');
  var joinButton = $('join'), joinError = $('join-error'), statusEl = $('status');
  var roomName = $('room-name'), meEl = $('me'), chatStatus = $('chat-status');
  var leaveButton = $('leave'), usersEl = $('users'), userCount = $('user-count');
  var messagesEl = $('messages'), typingEl = $('typing');
  var composer = $('composer'), input = $('input'), sendButton = $('send');

  var socket = io();
  var current = null;     // {nick, room} while in a room
  var joining = false;
  var typingSent = false, typingTimer = null;
  var typers = new Map(); // nick -> timer that forgets them
  var localSeq = 0;

  // ---- helpers ----------------------------------------------------------------------------

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function clock(ts) {
    var d = new Date(typeof ts === 'number' ? ts : Date.now());
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function timeEl(ts) {
    var t = el('time', null, clock(ts));
    if (typeof ts === 'number') t.dateTime = new Date(ts).toISOString();
    return t;
  }

  function nearBottom() {
    return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 80;
  }

  function append(li, force) {
    var stick = force || nearBottom();
    messagesEl.appendChild(li);
    if (stick) messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
    chatStatus.dataset.state = state;
    chatStatus.textContent = state === 'connected' ? '' : text;
  }

  function showView(view) {
    app.dataset.view = view;
    joinView.hidden = view !== 'join';
    chatView.hidden = view !== 'chat';
  }

  function showJoinError(text) {
    joinError.textContent = text;
    joinError.hidden = !text;
  }

  // ---- rendering --------------------------------------------------------------------------

  // A chat message: {id, nick, text, ts}; opts.own (ours: status pending → sent), opts.history.
  function messageItem(msg, opts) {
    opts = opts || {};
    var li = el('li', 'msg' + (opts.own ? ' own' : ''));
    li.dataset.kind = 'chat';
    li.dataset.nick = msg.nick;
    if (msg.id != null) li.dataset.id = String(msg.id);
    if (opts.history) li.dataset.history = 'true';
    var meta = el('div', 'meta');
    meta.appendChild(el('span', 'nick', msg.nick));
    meta.appendChild(timeEl(msg.ts));
    if (opts.own) meta.appendChild(el('span', 'status'));
    li.appendChild(meta);
    li.appendChild(el('div', 'text', msg.text));
    if (opts.own) setMessageStatus(li, 'pending');
    return li;
  }

  function setMessageStatus(li, status, error) {
    li.dataset.status = status;
    var s = li.querySelector('.status');
    if (status === 'pending') { s.textContent = '…'; s.title = 'sending'; }
    else if (status === 'sent') { s.textContent = '✓'; s.title = 'delivered to the server'; }
    else { s.textContent = '⚠ ' + (error || 'not sent'); s.title = error || 'not sent'; }
  }

  function noticeItem(kind, nick, ts, text) {
    var li = el('li', 'notice');
    li.dataset.kind = 'notice';
    li.dataset.notice = kind;
    if (nick) li.dataset.nick = nick;
    li.appendChild(el('span', null, text));
    li.appendChild(timeEl(ts));
    return li;
  }

  function renderUsers(nicks) {
    usersEl.textContent = '';
    nicks.forEach(function (nick) {
      var li = el('li', current && nick === current.nick ? 'me' : null, nick);
      li.dataset.nick = nick;
      usersEl.appendChild(li);
    });
    userCount.textContent = '(' + nicks.length + ')';
  }

  function renderTyping() {
    var names = Array.from(typers.keys());
    typingEl.dataset.nicks = names.join(',');
    if (names.length === 0) typingEl.textContent = '';
    else if (names.length === 1) typingEl.textContent = names[0] + ' is typing…';
    else if (names.length === 2) typingEl.textContent = names[0] + ' and ' + names[1] + ' are typing…';
    else typingEl.textContent = names.length + ' people are typing…';
  }

  function setTyper(nick, on) {
    var t = typers.get(nick);
    if (t) clearTimeout(t);
    if (on) typers.set(nick, setTimeout(function () { setTyper(nick, false); }, TYPING_STALE));
    else typers.delete(nick);
    renderTyping();
  }

  function clearTypers() {
    typers.forEach(function (t) { clearTimeout(t); });
    typers.clear();
    renderTyping();
  }

  // ---- joining and leaving ----------------------------------------------------------------

  function join(nick, room, rejoin) {
    if (joining) return;
    joining = true;
    joinButton.disabled = true;
    socket.timeout(JOIN_TIMEOUT).emit('join', { nick: nick, room: room }, function (err, res) {
      joining = false;
      joinButton.disabled = false;
      if (err) {
        showJoinError('The server did not answer; try again.');
        if (rejoin) leftRoom();
      } else if (!res || !res.ok) {
        showJoinError((res && res.error) || 'Could not join.');
        if (rejoin) leftRoom();
      } else {
        showJoinError('');
        enterRoom(res, rejoin);
      }
    });
  }

  function enterRoom(res, rejoin) {
    current = { nick: res.nick, room: res.room };
    try { localStorage.setItem('sio-chat-nick', res.nick); } catch (e) { /* private mode */ }
    try { history.replaceState(null, '', '#' + encodeURIComponent(res.room)); } catch (e) { /* file: */ }
    roomName.textContent = res.room;
    meEl.textContent = 'as ' + res.nick;
    document.title = '#' + res.room + ' — sio chat';
    if (!rejoin) {
      messagesEl.textContent = '';
      var hist = res.history || [];
      if (hist.length) {
        append(noticeItem('history', null, null, 'Earlier messages (' + hist.length + ')'), true);
        hist.forEach(function (m) {
          append(messageItem(m, { history: true, own: false }), true);
        });
      }
      append(noticeItem('self', res.nick, Date.now(),
        'You joined #' + res.room + ' as ' + res.nick), true);
    } else {
      append(noticeItem('self', res.nick, Date.now(), 'Reconnected'), true);
    }
    renderUsers(res.users || []);
    clearTypers();
    showView('chat');
    input.focus();
  }

  function leftRoom() {
    current = null;
    stopTyping();
    clearTypers();
    document.title = 'sio chat';
    showView('join');
    nickInput.focus();
  }

  joinForm.addEventListener('submit', function (e) {
    e.preventDefault();
    var nick = nickInput.value.trim();
    var room = roomInput.value.trim() || 'lobby';
    if (!nick) { showJoinError('Pick a nickname.'); nickInput.focus(); return; }
    if (nick.length > 32) { showJoinError('Nicknames have at most 32 characters.'); return; }
    join(nick, room, false);
  });

  leaveButton.addEventListener('click', function () {
    if (current) socket.emit('leave');
    leftRoom();
  });

  // ---- sending ----------------------------------------------------------------------------

  function stopTyping() {
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
    if (typingSent) { typingSent = false; socket.emit('typing', false); }
  }

  input.addEventListener('input', function () {
    if (!current) return;
    if (!input.value) { stopTyping(); return; }
    if (!typingSent) { typingSent = true; socket.emit('typing', true); }
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE);
  });

  composer.addEventListener('submit', function (e) {
    e.preventDefault();
    var text = input.value;
    if (!current || !text.trim()) return;
    stopTyping();
    input.value = '';
    input.focus();
    var li = messageItem({ nick: current.nick, text: text, ts: Date.now() }, { own: true });
    li.dataset.local = String(++localSeq);
    append(li, true);
    if (text.length > MAX_TEXT) {
      // the server refuses it too; say so without the round trip
      setMessageStatus(li, 'failed', 'message too long (at most ' + MAX_TEXT + ' characters)');
      return;
    }
    socket.timeout(CHAT_TIMEOUT).emit('chat', text, function (err, res) {
      if (err) setMessageStatus(li, 'failed', 'not delivered');
      else if (!res || !res.ok) setMessageStatus(li, 'failed', (res && res.error) || 'refused');
      else {
        li.dataset.id = String(res.id);
        var t = li.querySelector('time');
        t.replaceWith(timeEl(res.ts));
        setMessageStatus(li, 'sent');
      }
    });
  });

  // ---- from the server --------------------------------------------------------------------

  socket.on('chat', function (msg) {
    if (!current || !msg) return;
    setTyper(msg.nick, false);
    append(messageItem(msg, { own: false }));
  });

  socket.on('notice', function (n) {
    if (!current || !n) return;
    if (n.kind === 'leave') setTyper(n.nick, false);
    var text = n.kind === 'join' ? n.nick + ' joined' : n.nick + ' left';
    append(noticeItem(n.kind, n.nick, n.ts, text));
  });

  socket.on('users', function (nicks) {
    if (current && Array.isArray(nicks)) renderUsers(nicks);
  });

  socket.on('typing', function (t) {
    if (current && t && t.nick !== current.nick) setTyper(t.nick, !!t.typing);
  });

  socket.on('connect', function () {
    setStatus('connected', 'connected');
    // the server forgot us when the connection dropped: join again where we were
    if (current) join(current.nick, current.room, true);
  });

  socket.on('disconnect', function (reason) {
    setStatus('disconnected', 'reconnecting…');
    typingSent = false;
    clearTypers();
    // sio says goodbye with a DISCONNECT when it shuts down (restarts, deploys), after which
    // socket.io-client does not reconnect by itself; this chat never kicks anyone, so try again
    // (connect() failing falls into the client's usual reconnection with back-off).
    if (reason === 'io server disconnect') {
      setTimeout(function () { if (!socket.connected) socket.connect(); }, 1000 + Math.random() * 1000);
    }
  });

  socket.on('connect_error', function () {
    setStatus('disconnected', 'cannot reach the server, retrying…');
  });

  // ---- start ------------------------------------------------------------------------------

  try { nickInput.value = localStorage.getItem('sio-chat-nick') || ''; } catch (e) { /* */ }
  if (location.hash.length > 1) {
    try { roomInput.value = decodeURIComponent(location.hash.slice(1)); } catch (e) { /* */ }
  }
  showView('join');
  (nickInput.value ? roomInput : nickInput).focus();
})();
