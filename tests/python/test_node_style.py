"""The Node-shaped side of sio.Server (python/sio/socket.py), in process, driven by
python-socketio's client and by socket.io-client 4.8 (node, tests/python/node_style_client.mjs):
socket.io's own chat example ported line for line, middleware (io.use) refusing with data,
"disconnecting" seeing the rooms, extra event arguments dropped with the ack still sent, the socket's
data (its session) in fetch_sockets, a repeating timer, and both styles on one server."""

import asyncio
import json
import os
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
