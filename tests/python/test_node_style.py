"""The Node-shaped side of sio.Server (python/sio/socket.py), in process, driven by
python-socketio's client and by socket.io-client 4.8 (node, tests/python/node_style_client.mjs):
socket.io's own examples (chat, whiteboard, private-messaging with its sessions) ported line for
line and driven by the same pages as their Lua ports (tests/lua/node_ports_spec.lua), middleware (io.use) refusing with data,
"disconnecting" seeing the rooms, extra event arguments dropped with the ack still sent, the socket's
data (its session) in fetch_sockets, a repeating timer, and both styles on one server."""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import threading
import time

import pytest
import socketio

from test_api import ROOT, WAIT, Running, client, redis_url, sio, wait_for  # noqa: F401 (a fixture)

NODE = shutil.which('node')
DRIVER = os.path.join(os.path.dirname(__file__), 'node_style_client.mjs')
HAVE_CLIENT = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io-client'))


def chat_server():
    """socket.io's examples/chat/index.js, in the Node-shaped Python style."""
    server = sio.Server(cors_allowed_origins='*')
    state = {'num_users': 0}

    @server.on('connection')
    def connection(socket):
        added_user = False

        # when the client emits 'new message', this listens and executes
        @socket.on('new message')
        def new_message(data):
            # we tell the client to execute 'new message'
            socket.broadcast.emit('new message', {'username': socket.username, 'message': data})

        # when the client emits 'add user', this listens and executes
        @socket.on('add user')
        def add_user(username):
            nonlocal added_user
            if added_user:
                return
            # we store the username in the socket session for this client
            socket.username = username
            state['num_users'] += 1
            added_user = True
            socket.emit('login', {'numUsers': state['num_users']})
            # echo globally (all clients) that a person has connected
            socket.broadcast.emit('user joined', {'username': socket.username,
                                                  'numUsers': state['num_users']})

        # when the client emits 'typing', we broadcast it to others
        @socket.on('typing')
        def typing():
            socket.broadcast.emit('typing', {'username': socket.username})

        # when the client emits 'stop typing', we broadcast it to others
        @socket.on('stop typing')
        def stop_typing():
            socket.broadcast.emit('stop typing', {'username': socket.username})

        # when the user disconnects.. perform this
        @socket.on('disconnect')
        def disconnect():
            if added_user:
                state['num_users'] -= 1
                # echo globally that this client has left
                socket.broadcast.emit('user left', {'username': socket.username,
                                                    'numUsers': state['num_users']})

    return server


def events(c, name):
    return [args for event, args in c.received if event == name]


def test_chat_example_python_clients():
    with Running(chat_server()) as r:
        a, b = client(r.url), client(r.url)
        a.emit('add user', 'ann')
        assert wait_for(lambda: events(a, 'login') and events(b, 'user joined'))
        assert events(a, 'login') == [({'numUsers': 1},)]
        assert events(b, 'user joined') == [({'username': 'ann', 'numUsers': 1},)]
        b.emit('add user', 'bob')
        assert wait_for(lambda: events(b, 'login') and events(a, 'user joined'))
        assert events(b, 'login') == [({'numUsers': 2},)]
        b.emit('typing')
        a.emit('new message', 'hello')
        assert wait_for(lambda: events(b, 'new message') and events(a, 'typing'))
        assert events(b, 'new message') == [({'username': 'ann', 'message': 'hello'},)]
        assert events(a, 'typing') == [({'username': 'bob'},)]
        assert not events(a, 'new message')  # broadcast: not to the sender
        b.disconnect()
        assert wait_for(lambda: events(a, 'user left'))
        assert events(a, 'user left') == [({'username': 'bob', 'numUsers': 1},)]
        a.disconnect()


def run_driver(url, scenario, timeout=20):
    p = subprocess.run([NODE, DRIVER, url, scenario], capture_output=True, timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode('utf-8', 'replace')
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_chat_example_socket_io_client():
    with Running(chat_server()) as r:
        out = run_driver(r.url, 'chat')
    assert out['aLogin'] == {'numUsers': 1}
    assert out['bLogin'] == {'numUsers': 2}
    assert out['bJoinedSeen'] == {'username': 'ann', 'numUsers': 1}
    assert out['aJoinedSeen'] == {'username': 'bob', 'numUsers': 2}
    assert out['bMessage'] == {'username': 'ann', 'message': 'hi from node'}
    assert out['aTyping'] == {'username': 'bob'}
    assert out['aLeft'] == {'username': 'bob', 'numUsers': 1}


def test_private_messaging_example():
    """socket.io's examples/private-messaging (its first step), ported line for line."""
    server = sio.Server(cors_allowed_origins='*')

    @server.use
    def auth(socket, next):
        username = socket.handshake['auth'].get('username')
        if not username:
            return next(Exception('invalid username'))
        socket.username = username
        next()

    @server.on('connection')
    def connection(socket):
        # fetch existing users
        users = []
        for id, s in server.of('/').sockets.items():
            users.append({'userID': id, 'username': s.username})
        socket.emit('users', users)

        # notify existing users
        socket.broadcast.emit('user connected', {'userID': socket.id, 'username': socket.username})

        # forward the private message to the right recipient
        @socket.on('private message')
        def private_message(msg):
            socket.to(msg['to']).emit('private message', {'content': msg['content'], 'from': socket.id})

        # notify users upon disconnection
        @socket.on('disconnect')
        def disconnect():
            socket.broadcast.emit('user disconnected', socket.id)

    with Running(server) as r:
        assert refused(r.url, {}) == {'message': 'invalid username'}
        a = client(r.url, auth={'username': 'ann'})
        assert wait_for(lambda: events(a, 'users'))
        b = client(r.url, auth={'username': 'bob'})
        sa, sb = a.get_sid('/'), b.get_sid('/')
        assert wait_for(lambda: events(b, 'users') and events(a, 'user connected'))
        assert events(a, 'users') == [([{'userID': sa, 'username': 'ann'}],)]
        assert sorted(events(b, 'users')[0][0], key=lambda u: u['username']) == \
            [{'userID': sa, 'username': 'ann'}, {'userID': sb, 'username': 'bob'}]
        assert events(a, 'user connected') == [({'userID': sb, 'username': 'bob'},)]
        b.emit('private message', {'content': 'psst', 'to': sa})
        assert wait_for(lambda: events(a, 'private message'))
        assert events(a, 'private message') == [({'content': 'psst', 'from': sb},)]
        b.disconnect()
        assert wait_for(lambda: events(a, 'user disconnected'))
        assert events(a, 'user disconnected') == [(sb,)]
        a.disconnect()


# the driver of the Lua ports (tests/lua/node_ports_spec.lua): the same pages, the same checks
PORTS_DRIVER = os.path.join(ROOT, 'tests', 'lua', 'helpers', 'node_ports_client.mjs')


def run_pages(url, scenario, timeout=30):
    """socket.io-client 4.8 playing the example's page(s): what they showed."""
    p = subprocess.run([NODE, PORTS_DRIVER, url, scenario], capture_output=True, timeout=timeout, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode('utf-8', 'replace')
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def whiteboard_server(public=os.path.join(os.path.dirname(__file__), 'public')):
    """socket.io's examples/whiteboard/index.js, in the Node-shaped Python style."""
    server = sio.Server()
    if os.path.isdir(public):  # the example's page, unchanged (not kept here)
        server.static('/', public)

    def on_connection(socket):
        socket.on('drawing', lambda data: socket.broadcast.emit('drawing', data))

    server.on('connection', on_connection)
    return server


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_whiteboard_example_socket_io_client():
    with Running(whiteboard_server()) as r:
        out = run_pages(r.url, 'whiteboard')
    black = {'x0': 0.1, 'y0': 0.2, 'x1': 0.15, 'y1': 0.25, 'color': 'black'}
    red = {'x0': 0.5, 'y0': 0.5, 'x1': 0.5625, 'y1': 0.75, 'color': 'red'}
    # every other page draws the line, as it was drawn; never back to the drawer
    assert out['seen'] == [[red], [black, red], [black]]


def test_whiteboard_example_python_clients():
    with Running(whiteboard_server()) as r:
        a, b, c = client(r.url), client(r.url), client(r.url)
        line = {'x0': 0.25, 'y0': 0.5, 'x1': 0.3, 'y1': 0.55, 'color': 'green'}
        a.emit('drawing', line)
        assert wait_for(lambda: events(b, 'drawing') and events(c, 'drawing'))
        time.sleep(0.1)
        assert events(b, 'drawing') == events(c, 'drawing') == [(line,)]
        assert not events(a, 'drawing')
        for x in (a, b, c):
            x.disconnect()


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_chat_example_pages():
    """The chat port above against the same pages and checks as the Lua port's."""
    with Running(chat_server()) as r:
        out = run_pages(r.url, 'chat')
    assert out['ann'] == [['login', {'numUsers': 1}], ['user joined', {'username': 'bob', 'numUsers': 2}],
                          ['new message', {'username': 'bob', 'message': 'hi ann'}],
                          ['user left', {'username': 'bob', 'numUsers': 1}]]
    assert out['bob'] == [['user joined', {'username': 'ann', 'numUsers': 1}], ['login', {'numUsers': 2}],
                          ['typing', {'username': 'ann'}],
                          ['new message', {'username': 'ann', 'message': 'hello bob'}],
                          ['stop typing', {'username': 'ann'}]]
    assert out['anon'] == []
    assert out['again'] == [['login', {'numUsers': 1}]]


class InMemorySessionStore:
    """examples/private-messaging/server/sessionStore.js's InMemorySessionStore."""

    def __init__(self):
        self.sessions = {}

    def find_session(self, id):
        return self.sessions.get(id)

    def save_session(self, id, session):
        self.sessions[id] = session

    def find_all_sessions(self):
        return list(self.sessions.values())


class InMemoryMessageStore:
    """examples/private-messaging/server/messageStore.js's InMemoryMessageStore."""

    def __init__(self):
        self.messages = []

    def save_message(self, message):
        self.messages.append(message)

    def find_messages_for_user(self, user_id):
        return [m for m in self.messages if m['from'] == user_id or m['to'] == user_id]


def private_messaging_server():
    """socket.io's examples/private-messaging/server/index.js (its last step: sessions, a room per
    user, stored messages), in the Node-shaped Python style, asyncio mode as the original's async
    handlers; the stores in memory (the example's own InMemory* classes) instead of Redis."""
    server = sio.Server(cors_allowed_origins='http://localhost:8080')

    def random_id():
        return secrets.token_hex(8)

    session_store = InMemorySessionStore()
    message_store = InMemoryMessageStore()

    @server.use
    async def session(socket, next):
        session_id = socket.handshake['auth'].get('sessionID')
        if session_id:
            session = session_store.find_session(session_id)
            if session:
                socket.session_id = session_id
                socket.user_id = session['userID']
                socket.username = session['username']
                return next()
        username = socket.handshake['auth'].get('username')
        if not username:
            return next(Exception('invalid username'))
        socket.session_id = random_id()
        socket.user_id = random_id()
        socket.username = username
        next()

    @server.on('connection')
    async def connection(socket):
        # persist session
        session_store.save_session(socket.session_id, {
            'userID': socket.user_id,
            'username': socket.username,
            'connected': True,
        })

        # emit session details
        socket.emit('session', {
            'sessionID': socket.session_id,
            'userID': socket.user_id,
        })

        # join the "userID" room
        socket.join(socket.user_id)

        # fetch existing users
        users = []
        messages, sessions = (message_store.find_messages_for_user(socket.user_id),
                              session_store.find_all_sessions())
        messages_per_user = {}
        for message in messages:
            other_user = message['to'] if socket.user_id == message['from'] else message['from']
            if other_user in messages_per_user:
                messages_per_user[other_user].append(message)
            else:
                messages_per_user[other_user] = [message]

        for session in sessions:
            users.append({
                'userID': session['userID'],
                'username': session['username'],
                'connected': session['connected'],
                'messages': messages_per_user.get(session['userID'], []),
            })
        socket.emit('users', users)

        # notify existing users
        socket.broadcast.emit('user connected', {
            'userID': socket.user_id,
            'username': socket.username,
            'connected': True,
            'messages': [],
        })

        # forward the private message to the right recipient (and to other tabs of the sender)
        @socket.on('private message')
        def private_message(msg):
            message = {
                'content': msg['content'],
                'from': socket.user_id,
                'to': msg['to'],
            }
            socket.to(msg['to']).to(socket.user_id).emit('private message', message)
            message_store.save_message(message)

        # notify users upon disconnection
        @socket.on('disconnect')
        async def disconnect():
            matching_sockets = await server.in_(socket.user_id).fetch_sockets()
            is_disconnected = len(matching_sockets) == 0
            if is_disconnected:
                # notify other users
                socket.broadcast.emit('user disconnected', socket.user_id)
                # update the connection status of the session
                session_store.save_session(socket.session_id, {
                    'userID': socket.user_id,
                    'username': socket.username,
                    'connected': False,
                })

    return server


class AsyncRunning:
    """A server in asyncio mode (server.serve) on a loop of its own thread."""

    def __init__(self, server):
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(
            server.serve('127.0.0.1', 0)), daemon=True)
        self.thread.start()
        assert wait_for(lambda: getattr(server, 'port', None))
        self.url = 'http://127.0.0.1:%d' % server.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        self.loop.close()


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_private_messaging_example_sessions_socket_io_client():
    with AsyncRunning(private_messaging_server()) as r:
        out = run_pages(r.url, 'private-messaging')
    ann, bob, ann_session = out['ids']['ann'], out['ids']['bob'], out['ids']['annSession']
    assert out['refused'] == out['strangerRefused'] == 'invalid username'
    assert len({ann, bob, ann_session}) == 3 and all(len(x) == 16 for x in (ann, bob, ann_session))

    def shown(page, event):
        return [e for e in page if e[0] == event]

    def user(id, name, messages=()):
        return {'userID': id, 'username': name, 'connected': True, 'messages': list(messages)}

    hello = {'content': 'hello ann', 'from': bob, 'to': ann}
    hi = {'content': 'hi bob', 'from': ann, 'to': bob}
    assert out['ann'][:2] == [['session', {'sessionID': ann_session, 'userID': ann}], ['users', [user(ann, 'ann')]]]
    assert shown(out['ann'], 'user connected') == [['user connected', user(bob, 'bob')],
                                                   ['user connected', user(ann, 'ann')]]
    assert shown(out['ann'], 'private message') == [['private message', hello], ['private message', hi]]
    # ann's second tab, from the stored sessionID: the same user; the message bob sent, not its own
    assert out['annTab'][0] == ['session', {'sessionID': ann_session, 'userID': ann}]
    assert shown(out['annTab'], 'private message') == [['private message', hello]]
    # bob: ann's answer only; ann gone once both her tabs closed, then back
    assert shown(out['bob'], 'users') == [['users', [user(ann, 'ann'), user(bob, 'bob')]]]
    assert shown(out['bob'], 'private message') == [['private message', hi]]
    assert shown(out['bob'], 'user disconnected') == [['user disconnected', ann]]
    # back with the stored sessionID: the same session, the conversation in the users list
    assert out['restored'] == {'sessionID': ann_session, 'userID': ann}
    assert out['backUsers'] == [user(ann, 'ann'), user(bob, 'bob', [hello, hi])]
    assert out['annBack'] == user(ann, 'ann')


def middleware_server():
    server = sio.Server()
    seen = []

    @server.use
    def first(socket, next):
        seen.append(('first', socket.handshake['auth'], socket.connected))
        socket.data['user'] = socket.handshake['auth'].get('user')
        next()

    @server.use
    def second(socket, next):
        token = socket.handshake['auth'].get('token')
        if token == 'raise':
            raise sio.ConnectionRefusedError('refused by raising', {'code': 2})
        if token == 'later':
            def later():  # from a timer, still connecting
                socket.join('members')
                next()

            server.call_later(0.05, later)
            return
        if token == 'thread':  # next() from another thread
            socket.join('members')
            threading.Thread(target=lambda: (time.sleep(0.05), next())).start()
            return
        if token != 'secret':
            err = Exception('not authorized')
            err.data = {'content': 'Please retry later'}
            next(err)
            return
        socket.join('members')  # done once connected
        next()

    @server.on('connection')
    def connection(socket):
        hs = socket.handshake  # Node's shape
        assert sorted(hs) == ['address', 'auth', 'headers', 'issued', 'query', 'secure', 'time', 'url',
                              'xdomain']
        assert hs['address'] == '127.0.0.1' and hs['query']['EIO'] == '4' and 'host' in hs['headers']
        assert socket.nsp.name == '/' and socket.connected
        seen.append(('connection', socket.id, sorted(socket.rooms), socket.data.get('user')))
        socket.emit('welcome', socket.data['user'], socket.handshake['query'].get('x'))

    return server, seen


def refused(url, auth):
    """The CONNECT_ERROR data python-socketio's client gets."""
    c = socketio.Client(reconnection=False)
    errors = []
    c.on('connect_error', lambda data: errors.append(data))
    c.connect(url, auth=auth, transports=['websocket'], wait=False)
    assert wait_for(lambda: errors)
    c.disconnect()
    return errors[0]


def test_middleware_refuses_with_connect_error_data():
    server, seen = middleware_server()
    with Running(server) as r:
        assert refused(r.url, {'user': 'eve', 'token': 'bad'}) == \
            {'message': 'not authorized', 'data': {'content': 'Please retry later'}}
        assert refused(r.url, {'token': 'raise'}) == {'message': 'refused by raising', 'data': {'code': 2}}
        assert server._node_sockets == {} and server._sessions == {} and server._pending == {}
        for token in ('secret', 'later', 'thread'):
            ok = client(r.url + '?x=1', auth={'user': 'ann', 'token': token})
            assert wait_for(lambda: events(ok, 'welcome'))
            assert events(ok, 'welcome') == [('ann', '1')]
            ok.disconnect()
    conns = [s for s in seen if s[0] == 'connection']
    assert len(conns) == 3
    assert all(s[2] == sorted([s[1], 'members']) and s[3] == 'ann' for s in conns)
    assert ('first', {'user': 'eve', 'token': 'bad'}, False) in seen


def test_middleware_next_after_the_client_left_keeps_nothing():
    server = sio.Server()
    calls = []

    @server.use
    def slow(socket, next):
        socket.data['x'] = 1
        socket.join('r')
        calls.append(socket.id)
        server.call_later(0.3, next)

    with Running(server) as r:
        c = socketio.Client(reconnection=False)
        c.connect(r.url, transports=['websocket'], wait=False)
        assert wait_for(lambda: calls)
        c.disconnect()
        time.sleep(0.5)
        assert server._node_sockets == {} and server._sessions == {} and server._pending == {}


def test_connect_handler_refusing_later_after_middleware_keeps_nothing():
    """A connect handler that decides later (on the worker pool) and refuses, after Node-shaped
    middleware let the socket through: nothing of the socket is kept."""
    server = sio.Server(async_handlers=True)
    server.use(lambda socket, next: next())

    @server.on('connect')
    def connect(sid, environ, auth):
        server.save_session(sid, {'seen': True})
        if (auth or {}).get('token') != 'ok':
            raise sio.ConnectionRefusedError('later no', {'why': 'token'})

    with Running(server) as r:
        assert refused(r.url, {'token': 'bad'}) == {'message': 'later no', 'data': {'why': 'token'}}
        assert wait_for(lambda: not server._node_sockets and not server._sessions and not server._pending)
        ok = client(r.url, auth={'token': 'ok'})
        assert wait_for(lambda: len(server._node_sockets) == 1)
        ok.disconnect()
        assert wait_for(lambda: not server._node_sockets and not server._sessions)


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_middleware_refusal_socket_io_client():
    server, _ = middleware_server()
    with Running(server) as r:
        out = run_driver(r.url, 'refused')
    assert out == {'message': 'not authorized', 'data': {'content': 'Please retry later'}}


def test_disconnecting_sees_rooms_both_styles():
    server = sio.Server()
    seen = []

    @server.on('connection')
    def connection(socket):
        socket.join(['a', 'b'])
        socket.on('disconnecting', lambda reason: seen.append(('node', sorted(socket.rooms), reason)))
        socket.on('disconnect', lambda reason: seen.append(('gone', sorted(socket.rooms), reason,
                                                            socket.connected)))

    @server.on('disconnecting')
    def disconnecting(sid, reason):
        seen.append(('sid', sorted(server.rooms(sid)), reason))

    with Running(server) as r:
        c = client(r.url)
        sid = c.get_sid('/')
        c.disconnect()
        assert wait_for(lambda: len(seen) == 3)
    reason = seen[0][2]  # the client's DISCONNECT, or its transport closing first
    assert reason in ('client namespace disconnect', 'transport close')
    assert seen == [('node', sorted([sid, 'a', 'b']), reason),
                    ('sid', sorted([sid, 'a', 'b']), reason),
                    ('gone', [], reason, False)]


def test_extra_arguments_ignored_and_ack_sent():
    server = sio.Server()

    @server.on('one')  # sid style: python-socketio's handler declares fewer than the client sends
    def one(sid, a):
        return 'one:%s' % a

    @server.on('connection')
    def connection(socket):
        @socket.on('two')
        def two(a, b):
            return a + b

        @socket.on('cb')
        def cb(a, callback):  # Node's (data, callback)
            callback('cb:%s' % a)

        @socket.on('kw')
        def kw(a, *, ack):
            ack('kw:%s' % a)

        @socket.on('many')
        def many(*args):
            return len(args)

    with Running(server) as r:
        c = client(r.url)
        assert c.call('one', ('x', 'extra', {'more': 1}), timeout=WAIT) == 'one:x'
        assert c.call('two', (1, 2, 3, 4), timeout=WAIT) == 3
        assert c.call('cb', 'y', timeout=WAIT) == 'cb:y'
        assert c.call('kw', ('k', 'extra'), timeout=WAIT) == 'kw:k'
        assert c.call('many', (1, 2, 3), timeout=WAIT) == 3
        c.disconnect()


def test_once_off_on_any_and_fallback_to_sid_style():
    server = sio.Server()
    seen = []

    @server.on('connection')
    def connection(socket):
        socket.once('ping', lambda n: seen.append(('once', n)))
        socket.on('ping', lambda n: seen.append(('on', n)))
        gone = socket.on('gone', lambda: seen.append('gone'))
        gone.off('gone')
        socket.on_any(lambda event, *args: seen.append(('any', event) + args))

    @server.on('ping')  # a socket listener took it: not called
    def ping(sid, n):
        seen.append(('sid ping', n))

    @server.on('other')  # none did: the sid style's
    def other(sid, n):
        return n + 1

    with Running(server) as r:
        c = client(r.url)
        c.emit('ping', 1)
        c.emit('ping', 2)
        c.emit('gone')
        assert c.call('other', 41, timeout=WAIT) == 42
        c.disconnect()
    assert seen == [('any', 'ping', 1), ('once', 1), ('on', 1), ('any', 'ping', 2), ('on', 2),
                    ('any', 'gone'), ('any', 'other', 41)]


def test_fetch_sockets_reports_data_and_session():
    server = sio.Server()
    got = []

    @server.on('connect')  # the sid style's session is the same data
    def connect(sid, environ):
        server.save_session(sid, {'style': 'sid'})

    @server.on('connection')
    def connection(socket):
        socket.data['user'] = socket.handshake['auth'].get('user')

    @server.on('whoami')
    def whoami(sid):
        return server.get_session(sid)

    @server.on('fetch')
    def fetch(sid):
        server.of('/').fetch_sockets(lambda err, socks: got.append(
            (err, sorted((s.id, json.dumps(s.data, sort_keys=True), sorted(s.rooms)) for s in socks))))

    @server.on('fetch_dicts')
    def fetch_dicts(sid):
        server.fetch_sockets(lambda err, socks: got.append((err, sorted(s['data']['user'] for s in socks))))

    with Running(server) as r:
        a = client(r.url, auth={'user': 'ann'})
        b = client(r.url, auth={'user': 'bob'})
        assert a.call('whoami', timeout=WAIT) == {'style': 'sid', 'user': 'ann'}
        a.emit('fetch')
        assert wait_for(lambda: got)
        err, socks = got[0]
        assert err is None
        assert socks == sorted([(a.get_sid('/'), '{"style": "sid", "user": "ann"}', [a.get_sid('/')]),
                                (b.get_sid('/'), '{"style": "sid", "user": "bob"}', [b.get_sid('/')])])
        a.emit('fetch_dicts')
        assert wait_for(lambda: len(got) == 2)
        assert got[1] == (None, ['ann', 'bob'])
        a.disconnect()
        b.disconnect()


def test_socket_data_with_bytes_is_reported_empty_and_logged(caplog):
    server = sio.Server()
    got = []

    @server.on('connection')
    def connection(socket):
        socket.data['raw'] = b'\x00'
        server.of('/').fetch_sockets(lambda err, socks: got.append([s.data for s in socks]))

    with Running(server) as r:
        c = client(r.url)
        assert wait_for(lambda: got)
        c.disconnect()
    assert got == [[{}]]
    assert 'fetch_sockets reports JSON values only' in caplog.text


def test_socket_data_reaches_the_other_nodes(redis_url):
    a, b = sio.Server(redis=redis_url), sio.Server(redis=redis_url)

    @a.on('connection')
    def connection(socket):
        socket.data['user'] = socket.handshake['auth']['user']
        socket.join('lobby')

    with Running(a) as ra, Running(b):
        c = client(ra.url, auth={'user': 'ann'})
        try:
            end = time.monotonic() + WAIT
            while True:  # the nodes subscribe asynchronously
                got = []
                b.call_soon_threadsafe(lambda: b.to('lobby').fetch_sockets(
                    lambda err, socks: got.append((err, [(s.id, s.data, sorted(s.rooms)) for s in socks]))))
                assert wait_for(lambda: got)
                if got[0][1] or time.monotonic() > end:
                    break
                time.sleep(0.05)
            sid = c.get_sid('/')
            assert got[0] == (None, [(sid, {'user': 'ann'}, sorted([sid, 'lobby']))])
        finally:
            c.disconnect()


def test_broadcast_operators_and_namespaces():
    server = sio.Server()
    chat = server.of('/chat')
    joined = threading.Event()

    @chat.on('connection')
    def connection(socket):
        socket.join(socket.handshake['auth']['room'])
        joined.set()

        @socket.on('shout')
        def shout(text):
            socket.to('r1').to('r2').emit('shout', text)
            socket.except_('r2').emit('not-r2', text)
            socket.nsp.emit('all', text)
            server.of('/chat').to('r1').except_('r2').emit('r1-only', text)

    with Running(server) as r:
        cs = [client(r.url, namespaces=['/chat'], auth={'room': room}) for room in ('r1', 'r2', 'r3')]
        cs[0].emit('shout', 'hey', namespace='/chat')
        assert wait_for(lambda: len(events(cs[2], 'all')) == 1 and events(cs[1], 'shout'))
        time.sleep(0.1)
        assert [bool(events(c, 'shout')) for c in cs] == [False, True, False]  # not the sender
        assert [bool(events(c, 'not-r2')) for c in cs] == [False, False, True]
        assert [len(events(c, 'all')) for c in cs] == [1, 1, 1]
        assert [bool(events(c, 'r1-only')) for c in cs] == [True, False, False]
        assert sorted(server.of('/chat').sockets) == sorted(c.get_sid('/chat') for c in cs)
        for c in cs:
            c.disconnect()


def test_class_namespace_on_connection_and_disconnecting():
    seen = []

    class Chat(sio.Namespace):
        def on_connection(self, socket):
            socket.join('r')
            socket.on('hi', lambda: 'hello from %s' % socket.nsp.name)

        def on_disconnecting(self, sid, reason):
            seen.append(sorted(self.rooms(sid)))

    server = sio.Server()
    server.register_namespace(Chat('/chat'))
    with Running(server) as r:
        c = client(r.url, namespaces=['/chat'])
        assert c.call('hi', namespace='/chat', timeout=WAIT) == 'hello from /chat'
        sid = c.get_sid('/chat')
        c.disconnect()
        assert wait_for(lambda: seen)
    assert seen == [sorted([sid, 'r'])]


def test_socket_emit_with_ack_callback_and_timeout():
    server = sio.Server()
    answers = []

    @server.on('connection')
    def connection(socket):
        socket.emit('ask', 2, lambda value: answers.append(('cb', value)))
        socket.timeout(0.2).emit('silent', lambda err, *values: answers.append(
            ('timeout', type(err).__name__, values)))
        socket.timeout(2).emit('answered', lambda err, *values: answers.append(
            ('answered', type(err).__name__, values)))

    with Running(server) as r:
        c = socketio.Client(reconnection=False)
        c.on('ask', lambda n: n * 21)
        c.on('answered', lambda: 'yes')
        c.on('silent', lambda: time.sleep(0.5))  # acknowledged too late
        c.connect(r.url, transports=['websocket'], wait_timeout=WAIT)
        assert wait_for(lambda: len(answers) == 3)
        c.disconnect()
    assert sorted(answers) == [('answered', 'NoneType', ('yes',)), ('cb', 42), ('timeout', 'TimeoutError', ())]


def test_call_every_repeats_until_cancelled():
    server = sio.Server()
    ticks = []

    def tick(tag):
        ticks.append(tag)
        if len(ticks) == 3:
            timer.cancel()
        if len(ticks) == 2:
            raise RuntimeError('logged, and it goes on')

    timer = server.call_every(0.02, tick, 't')
    with Running(server):
        assert wait_for(lambda: len(ticks) >= 3)
        time.sleep(0.1)
    assert ticks == ['t', 't', 't']
    assert not timer.active
    with pytest.raises(ValueError):
        server.call_every(0, tick, 't')


def test_asyncio_middleware_and_listeners():
    server = sio.Server()
    seen = []

    @server.use
    async def auth(socket, next):
        await asyncio.sleep(0.01)
        if socket.handshake['auth'].get('token') != 'ok':
            raise sio.ConnectionRefusedError('nope')
        next()

    @server.on('connection')
    async def connection(socket):
        @socket.on('double')
        async def double(n):
            await asyncio.sleep(0.01)
            return n * 2

        seen.append(await socket.emit_with_ack('hello', timeout=2))

    async def main():
        task = asyncio.ensure_future(server.serve('127.0.0.1', 0))
        await asyncio.sleep(0.05)
        url = 'http://127.0.0.1:%d' % server.port
        result = {}

        def drive():
            result['refused'] = refused(url, {'token': 'x'})
            c = socketio.Client(reconnection=False)
            c.on('hello', lambda: 'hi back')
            c.connect(url, auth={'token': 'ok'}, transports=['websocket'], wait_timeout=WAIT)
            result['double'] = c.call('double', (21, 'extra'), timeout=WAIT)
            c.disconnect()

        await asyncio.get_running_loop().run_in_executor(None, drive)
        server.stop()
        await asyncio.wait_for(task, WAIT)
        return result

    result = asyncio.run(main())
    assert result == {'double': 42, 'refused': {'message': 'nope'}}
    assert seen == ['hi back']
