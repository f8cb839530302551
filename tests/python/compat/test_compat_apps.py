"""python-socketio-style apps on sio: each app is written as a python-socketio user writes it, with
`import sio as socketio` for its import, and driven by python-socketio's client (Debian's 5.7; PyPI's
5.18.1 in the venv stage of scripts/test.sh)."""

import asyncio
import json
import logging
import re
import threading
import time
import warnings

import pytest

from _support import BUILD_ERROR, WAIT, Serving, client, pysocketio, sio, wait_for

socketio = sio  # the one line a port changes: `import socketio` -> `import sio as socketio`


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def test_sync_app_sessions_rooms_background_task_reasons():
    log = []
    app = socketio.Server(async_mode='threading', cors_allowed_origins='*', logger=False,
                          engineio_logger=False, ping_interval=25, ping_timeout=20,
                          max_http_buffer_size=1_000_000, transports=['polling', 'websocket'],
                          always_connect=False, cors_credentials=True, async_handlers=True)

    def background_task():
        count = 0
        while count < 3:
            app.sleep(0.05)
            count += 1
            app.emit('tick', {'count': count}, ignore_queue=True)
        log.append('task done')

    @app.event
    def connect(sid, environ, auth):
        log.append(('connect', auth))
        with app.session(sid) as session:
            session['user'] = (auth or {}).get('user', 'anonymous')
        app.enter_room(sid, 'lobby')

    @app.event
    def whoami(sid):
        assert app.get_environ(sid)['REMOTE_ADDR'] == '127.0.0.1'  # asked from a worker thread
        assert app.get_environ('nobody') is None
        assert app.transport(sid) in ('polling', 'websocket') and app.transport('nobody') is None
        return app.get_session(sid)['user']

    @app.on('chat')
    def chat(sid, data):
        app.emit('chat', {'from': app.get_session(sid)['user'], 'text': data}, room='lobby', skip_sid=sid)
        return 'sent'

    @app.on('start')
    def start(sid):
        app.start_background_task(background_task)

    @app.event
    def disconnect(sid, reason):
        log.append(('disconnect', reason))

    with Serving(app) as url:
        a = client(url, auth={'user': 'ann'})
        b = client(url, transports=('polling', 'websocket'))
        try:
            assert ('connect', {'user': 'ann'}) in log
            assert ('connect', None) in log  # python-socketio: None when the client sent no auth
            assert a.call('whoami', timeout=WAIT) == 'ann'
            assert b.call('whoami', timeout=WAIT) == 'anonymous'
            assert app.transport(a.get_sid()) == 'websocket'
            assert a.call('chat', 'hi', timeout=WAIT) == 'sent'
            assert wait_for(lambda: ('/', 'chat', ({'from': 'ann', 'text': 'hi'},)) in b.received)
            assert not [e for e in a.received if e[1] == 'chat']
            a.emit('start')
            assert wait_for(lambda: 'task done' in log)
            assert wait_for(lambda: len([e for e in b.received if e[1] == 'tick']) == 3)
        finally:
            a.disconnect()
        # the client sends DISCONNECT then closes; the close may come first (python-socketio too)
        assert wait_for(lambda: log[-1] in (('disconnect', socketio.Server.reason.CLIENT_DISCONNECT),
                                            ('disconnect', socketio.Server.reason.TRANSPORT_CLOSE))), log
    # the server stopped with b connected: python-socketio's reason for that
    assert wait_for(lambda: ('disconnect', 'server disconnect') in log), log
    b.disconnect()


def test_asyncio_app_awaitable_api_and_async_disconnect():
    log = []
    app = socketio.AsyncServer(async_mode='asyncio', cors_allowed_origins='*')

    async def ticker(sid):
        await app.sleep(0.05)
        await app.emit('tick', 1, to=sid)

    @app.event
    async def connect(sid, environ, auth):
        await app.save_session(sid, {'name': auth['name'] if auth else None})
        await app.enter_room(sid, 'room1')
        app.start_background_task(ticker, sid)

    @app.event
    async def rename(sid, name):
        async with app.session(sid) as session:
            session['name'] = name
        return (await app.get_session(sid))['name']

    @app.event
    async def room_info(sid):
        sockets = await app.fetch_sockets(to='room1')
        rooms = await app.all_rooms()
        return {'ids': sorted(s['id'] for s in sockets), 'has_room1': 'room1' in rooms}

    @app.event
    async def poll(sid):
        answers = await app.emit_with_acks('vote', timeout=2, to='room1')
        one = await app.call('vote', to=sid, timeout=2)
        return {'answers': sorted(answers), 'one': one}

    @app.event
    async def leave(sid):
        await app.leave_room(sid, 'room1')
        await app.emit('left', sid, room='room1')

    @app.event
    async def bye(sid):
        await app.disconnect(sid, ignore_queue=True)

    @app.event
    async def disconnect(sid, reason):
        await asyncio.sleep(0.01)  # awaited: its body runs
        session = await app.get_session(sid)
        log.append((session.get('name'), reason))

    with Serving(app) as url:
        a = client(url, auth={'name': 'a'})
        b = client(url)
        a.on('vote', lambda: 'yes')
        b.on('vote', lambda: 'no')
        try:
            assert wait_for(lambda: ('/', 'tick', (1,)) in a.received)
            assert a.call('rename', 'alice', timeout=WAIT) == 'alice'
            info = a.call('room_info', timeout=WAIT)
            assert info == {'ids': sorted([a.get_sid(), b.get_sid()]), 'has_room1': True}
            assert a.call('poll', timeout=WAIT) == {'answers': ['no', 'yes'], 'one': 'yes'}
            b.call('leave', timeout=WAIT)
            assert wait_for(lambda: ('/', 'left', (b.get_sid(),)) in a.received)
            b.emit('bye')
            assert wait_for(lambda: (None, 'server disconnect') in log), log
        finally:
            a.disconnect()
        assert wait_for(lambda: log[-1] in (('alice', 'client disconnect'), ('alice', 'transport close'))), log
        b.disconnect()


def test_asyncio_shutdown_and_sync_shutdown():
    gone = []
    app = socketio.AsyncServer()

    @app.event
    async def disconnect(sid, reason):
        gone.append(reason)

    @app.event
    async def stop(sid):
        await app.shutdown()

    serving = Serving(app)
    with serving as url:
        c = client(url)
        c.emit('stop')
        serving.thread.join(WAIT)
        assert not serving.thread.is_alive()
        assert gone == ['server disconnect']
        c.disconnect()

    sync_app = socketio.Server()
    with Serving(sync_app) as url:
        c = client(url)
        sync_app.shutdown()
        assert wait_for(lambda: not c.connected)


def test_class_namespaces_trigger_event_and_async_namespace():
    seen = []

    class Chat(socketio.Namespace):
        def trigger_event(self, event, *args):  # python-socketio's hook: every event goes through it
            seen.append(('chat', event))
            if event == 'secret':
                return 'intercepted'
            return super().trigger_event(event, *args)

        def on_connect(self, sid, environ):  # fewer arguments than (sid, environ, auth): fine
            self.enter_room(sid, 'chatters')

        def on_say(self, sid, text):
            self.emit('said', text, room='chatters')
            return 'ok'

        def on_disconnect(self, sid):
            seen.append(('chat gone', sid))

    app = socketio.Server()
    app.register_namespace(Chat('/chat'))
    with Serving(app) as url:
        c = client(url, namespaces=['/chat'])
        try:
            assert c.call('say', 'hi', namespace='/chat', timeout=WAIT) == 'ok'
            assert wait_for(lambda: ('/chat', 'said', ('hi',)) in c.received)
            assert c.call('secret', namespace='/chat', timeout=WAIT) == 'intercepted'
            sid = c.get_sid('/chat')
        finally:
            c.disconnect()
        assert wait_for(lambda: ('chat gone', sid) in seen)
        assert [e for _, e in seen[:4] if _ == 'chat'] == ['connect', 'say', 'secret', 'disconnect']

    async_seen = []

    class AsyncChat(socketio.AsyncNamespace):
        async def on_connect(self, sid, environ, auth):
            await self.save_session(sid, {'auth': auth})
            await self.enter_room(sid, 'r')

        async def on_ask(self, sid):
            answer = await self.call('question', to=sid, timeout=2)
            async with self.session(sid) as s:
                s['answer'] = answer
            await self.emit('answered', answer, room='r')
            return answer

        def on_sync(self, sid, x):  # a plain method in an AsyncNamespace
            return x + 1

        async def on_disconnect(self, sid, reason):
            s = await self.get_session(sid)
            async_seen.append((s['auth'], s.get('answer'), reason))

    app = socketio.AsyncServer()
    app.register_namespace(AsyncChat('/a'))
    with Serving(app) as url:
        c = client(url, namespaces=['/a'], auth={'k': 1})
        c.on('question', lambda: 42, namespace='/a')
        try:
            assert c.call('ask', namespace='/a', timeout=WAIT) == 42
            assert wait_for(lambda: ('/a', 'answered', (42,)) in c.received)
            assert c.call('sync', 1, namespace='/a', timeout=WAIT) == 2
        finally:
            c.disconnect()
        assert wait_for(lambda: async_seen in ([({'k': 1}, 42, 'client disconnect')],
                                               [({'k': 1}, 42, 'transport close')])), async_seen


def test_catch_all_namespace_and_events():
    seen = []
    app = socketio.Server(namespaces='*')

    @app.on('connect', namespace='*')
    def any_connect(namespace, sid, environ, auth):
        seen.append(('connect', namespace))

    @app.on('hello', namespace='*')
    def any_hello(namespace, sid, data):
        return [namespace, data]

    @app.on('*', namespace='*')
    def any_event(event, namespace, sid, *data):
        return ['any', event, namespace, list(data)]

    @app.on('*', namespace='/own')
    def own_any(event, sid, *data):
        return ['own', event]

    @app.on('disconnect', namespace='*')
    def any_disconnect(namespace, sid, reason):
        seen.append(('disconnect', namespace, reason))

    @app.on('where', namespace=re.compile(r'^/dyn-[0-9]+$'))  # registered after "*": still its own
    def dyn_where(sid):
        return 'dynamic'

    with Serving(app) as url:
        c = client(url, namespaces=['/', '/own', '/x', '/y/z', '/dyn-1'])
        try:
            assert c.call('hello', 1, namespace='/x', timeout=WAIT) == ['/x', 1]
            assert c.call('hello', 2, namespace='/y/z', timeout=WAIT) == ['/y/z', 2]
            assert c.call('other', (3, 4), namespace='/x', timeout=WAIT) == ['any', 'other', '/x', [3, 4]]
            assert c.call('other', namespace='/own', timeout=WAIT) == ['own', 'other']
            assert c.call('hello', 5, namespace='/own', timeout=WAIT) == ['own', 'hello']
            # "/" is registered: its events with no handler there reach the catch-all namespace
            assert c.call('hello', 6, timeout=WAIT) == ['/', 6]
            assert c.call('where', namespace='/dyn-1', timeout=WAIT) == 'dynamic'
            assert c.call('where', namespace='/x', timeout=WAIT) == ['any', 'where', '/x', []]
        finally:
            c.disconnect()
        assert ('connect', '/x') in seen and ('connect', '/y/z') in seen
        assert wait_for(lambda: ('disconnect', '/x', 'client disconnect') in seen
                        or ('disconnect', '/x', 'transport close') in seen), seen


def test_broadcast_emit_with_callback_calls_once_per_client():
    answers = []
    app = socketio.Server()

    @app.event
    def go(sid):
        app.emit('q', 'x', callback=lambda *a: answers.append(a))
        app.emit('q', 'y', room='nobody-here', callback=lambda *a: answers.append(('never',)))

    with Serving(app) as url:
        a, b = client(url), client(url)
        a.on('q', lambda v: 'a' + v)
        b.on('q', lambda v: ('b' + v, 2))
        try:
            a.emit('go')
            assert wait_for(lambda: len(answers) == 2)
            time.sleep(0.1)
            assert sorted(answers) == [('ax',), ('bx', 2)]
        finally:
            a.disconnect()
            b.disconnect()


def test_always_connect_and_connection_refused():
    # The client sees CONNECT then DISCONNECT; python-socketio's client drops a DISCONNECT that
    # comes before its connect() returned (5.18: `connected` is set last), so the server's side
    # is what is checked: the socket was let in, then disconnected by the server.
    events = []

    def check(app):
        @app.on('disconnect')
        def gone(sid, reason):
            events.append(('gone', reason))

        with Serving(app) as url:
            c = pysocketio.Client(reconnection=False)
            c.on('connect', lambda: events.append('connect'))
            c.connect(url, auth={'bad': True}, transports=['websocket'], wait_timeout=WAIT)
            assert wait_for(lambda: sorted(map(str, events)) == ["('gone', 'server disconnect')", 'connect']), events
            c.disconnect()
        events.clear()

    app = socketio.Server(always_connect=True)

    @app.event
    def connect(sid, environ, auth):
        if auth and auth.get('bad'):
            raise socketio.exceptions.ConnectionRefusedError('nope')

    check(app)
    app = socketio.AsyncServer(always_connect=True)

    @app.event
    async def connect(sid, environ, auth):  # noqa: F811
        await asyncio.sleep(0.01)
        return False

    check(app)

    app = socketio.Server()

    @app.event
    def connect(sid, environ, auth):  # noqa: F811
        raise socketio.exceptions.ConnectionRefusedError('nope')

    with Serving(app) as url:
        c = pysocketio.Client(reconnection=False)
        with pytest.raises(pysocketio.exceptions.ConnectionError):
            c.connect(url, transports=['websocket'], wait_timeout=2)
        c.disconnect()


def test_constructor_arguments_honoured_or_warned(caplog):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        socketio.Server(json=json)  # the stdlib's json: nothing to say
        socketio.Server(async_mode='threading')
        assert not w
        socketio.Server(async_mode='eventlet')

        class MyJson:
            dumps = staticmethod(json.dumps)
            loads = staticmethod(json.loads)

        socketio.Server(json=MyJson)
        socketio.Server(http_compression=True, compression_threshold=10, monitor_clients=False)
        socketio.AsyncServer(async_mode='aiohttp')
    # (a ResourceWarning of another test's socket, collected here, is not ours to count)
    texts = [str(x.message) for x in w if not issubclass(x.category, ResourceWarning)]
    assert len(texts) == 4, texts  # http_compression and compression_threshold are honoured
    assert all(t.startswith('sio: ') for t in texts)
    assert any('eventlet' in t for t in texts) and any('aiohttp' in t for t in texts)
    socketio.Server(serializer='msgpack')  # npm socket.io-msgpack-parser's wire format
    with pytest.raises(ValueError):
        socketio.Server(serializer='cbor')  # python-socketio's cbor: no JavaScript client speaks it
    with pytest.raises(ValueError):
        socketio.Server(transports=['carrier-pigeon'])
    with pytest.raises(TypeError):
        socketio.Server(no_such_argument=1)

    # transports: a polling-only server refuses a WebSocket-only client
    app = socketio.Server(transports=['polling'])
    with Serving(app) as url:
        with pytest.raises(pysocketio.exceptions.ConnectionError):
            client(url, transports=('websocket',))
        c = client(url, transports=('polling',))
        assert c.transport() == 'polling'
        c.disconnect()

    # max_http_buffer_size is the core's max_payload; logger=<Logger> gets sio's records
    mine = logging.getLogger('compat-test-logger')
    mine.setLevel(logging.INFO)
    app = socketio.Server(max_http_buffer_size=1000, logger=mine, ping_interval=(25, 5))
    got = []

    @app.event
    def big(sid, data):
        got.append(len(data))

    try:
        with caplog.at_level(logging.INFO, logger='compat-test-logger'):
            with Serving(app) as url:
                c = client(url)
                c.emit('big', 'x' * 10)
                assert wait_for(lambda: got == [10])
                c.emit('big', 'x' * 5000)  # over the limit: the connection is closed
                assert wait_for(lambda: not c.connected)
                c.disconnect()
        assert 'received event' in caplog.text
    finally:
        logging.getLogger('sio').handlers[:] = [h for h in logging.getLogger('sio').handlers
                                                if getattr(h, 'target', None) is not mine]
        logging.getLogger('sio').propagate = True
