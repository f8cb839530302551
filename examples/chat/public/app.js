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
  var roomLists = [$('join-rooms'), $('rooms')], shareButton = $('share');
  var shareStatus = $('share-status');

  var socket = io();
  window.chatSocket = socket; // for the console and the tests
  var current = null;     // {nick, room} while in a room
  var joining = false;
  var typingSent = false, typingTimer = null;
  var typers = new Map(); // nick -> timer that forgets them
  var localSeq = 0;
  var roomsNow = [];      // [{name, count}] from the server
  var seenBy = new Map(); // message id -> [nick...] (those the server tracks)
  var seenReported = 0;   // the last message id we reported as seen in this room
  var seenTimer = null;

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
    li.appendChild(el('div', 'seen'));
    if (opts.own) setMessageStatus(li, 'pending');
    if (msg.id != null && Array.isArray(msg.seen)) seenBy.set(msg.id, msg.seen);
    if (msg.id != null) renderSeen(li);
    return li;
  }

  // "seen by Ann, Bob" under a message (the names the server sent for its id)
  function renderSeen(li) {
    var by = seenBy.get(Number(li.dataset.id)) || [];
    var s = li.querySelector('.seen');
    s.dataset.by = by.join(',');
    s.textContent = by.length ? 'seen by ' + by.join(', ') : '';
  }

  // Tells the server we have seen the newest message of the others that is on screen (scrolled
  // into view, the page visible).
  function reportSeen() {
    seenTimer = null;
    if (!current || !socket.connected || document.visibilityState !== 'visible') return;
    var box = messagesEl.getBoundingClientRect();
    var newest = 0;
    messagesEl.querySelectorAll('li.msg[data-id]').forEach(function (li) {
      var id = Number(li.dataset.id);
      if (li.dataset.nick === current.nick || id <= newest) return;
      var r = li.getBoundingClientRect();
      if (r.top < box.bottom && r.bottom > box.top) newest = id;
    });
    if (newest > seenReported) {
      seenReported = newest;
      socket.emit('seen', { room: current.room, id: newest });
    }
  }

  function reportSeenSoon() {
    if (!seenTimer) seenTimer = setTimeout(reportSeen, 200);
  }

  function retireIds() {
    messagesEl.querySelectorAll('li[data-id]').forEach(function (li) {
      li.dataset.oldId = li.dataset.id;
      delete li.dataset.id;
    });
    seenBy.clear();
    seenReported = 0;
  }

  function shareUrl(room) {
    return location.origin + location.pathname + '?room=' + encodeURIComponent(room);
  }

  function renderRooms() {
    roomLists.forEach(function (ul) {
      ul.textContent = '';
      roomsNow.forEach(function (r) {
        var li = el('li', current && r.name === current.room ? 'current' : null);
        li.dataset.room = r.name;
        li.dataset.count = String(r.count);
        var b = el('button', 'room-link');
        b.type = 'button';
        b.appendChild(el('span', 'room-name', '#' + r.name));
        b.appendChild(el('span', 'count', String(r.count)));
        b.title = r.count + (r.count === 1 ? ' person' : ' people') + ' in #' + r.name;
        b.addEventListener('click', function () { pickRoom(r.name); });
        li.appendChild(b);
        ul.appendChild(li);
      });
      ul.hidden = roomsNow.length === 0;
      $(ul.id + '-title').hidden = ul.hidden;
    });
  }

  function pickRoom(name) {
    if (current) {
      if (name !== current.room) join(current.nick, name, 'switch');
      return;
    }
    roomInput.value = name;
    if (nickInput.value.trim()) joinForm.requestSubmit();
    else nickInput.focus();
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

  // mode: 'join' (the form), 'rejoin' (after a reconnection), 'switch' (from the room list)
  function join(nick, room, mode) {
    if (joining) return;
    joining = true;
    joinButton.disabled = true;
    socket.timeout(JOIN_TIMEOUT).emit('join', { nick: nick, room: room }, function (err, res) {
      joining = false;
      joinButton.disabled = false;
      var error = err ? 'The server did not answer; try again.'
        : (!res || !res.ok) ? ((res && res.error) || 'Could not join.') : '';
      if (error && mode === 'switch') {
        append(noticeItem('error', null, Date.now(), 'Could not join #' + room + ': ' + error), true);
      } else if (error) {
        showJoinError(error);
        if (mode === 'rejoin') leftRoom();
      } else {
        showJoinError('');
        enterRoom(res, mode === 'rejoin');
      }
    });
  }

  function enterRoom(res, rejoin) {
    current = { nick: res.nick, room: res.room };
    try { localStorage.setItem('sio-chat-nick', res.nick); } catch (e) { /* private mode */ }
    try { history.replaceState(null, '', shareUrl(res.room)); } catch (e) { /* file: */ }
    roomName.textContent = res.room;
    meEl.textContent = 'as ' + res.nick;
    document.title = '#' + res.room + ' — sio chat';
    shareButton.dataset.url = shareUrl(res.room);
    shareStatus.textContent = '';
    if (!rejoin) {
      messagesEl.textContent = '';
      seenBy.clear();
      seenReported = 0;
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
      // socket.recovered: the server kept our session and sent every event we missed
      var li = noticeItem('self', res.nick, Date.now(),
        socket.recovered ? 'Reconnected — nothing missed' : 'Reconnected');
      li.dataset.recovered = String(!!socket.recovered);
      append(li, true);
    }
    renderUsers(res.users || []);
    renderRooms();
    clearTypers();
    showView('chat');
    input.focus();
    reportSeenSoon();
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
    join(nick, room, 'join');
  });

  leaveButton.addEventListener('click', function () {
    if (current) socket.emit('leave');
    leftRoom();
    renderRooms();
  });

  // the link that opens this chat in this room: the system's share sheet where there is one
  // (phones), else the clipboard, else shown to copy by hand
  shareButton.addEventListener('click', function () {
    if (!current) return;
    var url = shareUrl(current.room);
    function show(text) { shareStatus.textContent = text; }
    if (navigator.share) {
      navigator.share({ title: '#' + current.room + ' — sio chat', url: url })
        .then(function () { show('Shared'); }, function () { show(url); });
    } else if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(function () { show('Link copied'); },
        function () { show(url); });
    } else {
      show(url);
    }
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
        renderSeen(li);
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
    if (msg.id != null && messagesEl.querySelector('li[data-id="' + Number(msg.id) + '"]')) return;
    append(messageItem(msg, { own: false }));
    reportSeenSoon();
  });

  socket.on('seen', function (s) {
    if (!current || !s || !Array.isArray(s.by)) return;
    seenBy.set(s.id, s.by);
    var li = messagesEl.querySelector('li.msg[data-id="' + Number(s.id) + '"]');
    if (li) renderSeen(li);
  });

  socket.on('rooms', function (list) {
    if (!Array.isArray(list)) return;
    roomsNow = list;
    renderRooms();
  });

  document.addEventListener('visibilitychange', reportSeenSoon);
  messagesEl.addEventListener('scroll', reportSeenSoon, { passive: true });
  window.addEventListener('focus', reportSeenSoon);

  socket.on('notice', function (n) {
    // (a recovered connection replays our own leave: we are joining again)
    if (!current || !n || n.nick === current.nick) return;
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
    // a new session (a restarted server counts ids from 1 again): what is on screen keeps its
    // text, but its ids no longer name the server's messages
    if (!socket.recovered) retireIds();
    // (even when socket.recovered: the session came back, but we left the room when we dropped)
    if (current) join(current.nick, current.room, 'rejoin');
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
  // a share link: ?room=NAME (older links: #NAME)
  var linked = null;
  try { linked = new URLSearchParams(location.search).get('room'); } catch (e) { /* */ }
  if (linked) roomInput.value = linked.slice(0, 32);
  else if (location.hash.length > 1) {
    try { roomInput.value = decodeURIComponent(location.hash.slice(1)); } catch (e) { /* */ }
  }
  showView('join');
  (nickInput.value ? roomInput : nickInput).focus();
})();
