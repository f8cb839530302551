"""sio's Socket.IO client (sio.Client, sio.AsyncClient, sio.SimpleClient, sio.AsyncSimpleClient
over the C core's sio_client.h), in process, against the contract server in C, Python and Lua,
the Node reference and python-socketio's own server (client_support.KINDS; those whose runtime is
missing are skipped): every contract event, binary at depth, namespaces (refused, dynamic),
threads, asyncio, reconnection after a server restart, connection state recovery, msgpack.

The package is test_api's (the in-tree build, or with SIO_PY_INSTALLED=1 the installed one)."""

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from client_support import ALL, CONTRACT, ROOT, WAIT, Proxy, free_port, kinds, shared, start, stop_shared, wait_for
from test_api import sio


@pytest.fixture(scope='module', autouse=True)
def _servers():
    yield
    stop_shared()


class Recorder:
    """Handlers that record what they get: .events[name] lists the args tuples."""

    def __init__(self, client, names, namespace=None):
        self.events = {}
        self.lock = threading.Lock()
        for name in names:
            client.on(name, self._make(name), namespace=namespace)

    def _make(self, name):
        def handler(*args):
            with self.lock:
                self.events.setdefault(name, []).append(args)
        return handler

    def get(self, name):
        with self.lock:
            return list(self.events.get(name, []))

    def wait(self, name, n=1, timeout=WAIT):
        assert wait_for(lambda: len(self.get(name)) >= n, timeout), (name, self.events)
        return self.get(name)


def connected_client(url, names=(), **kw):
    c = sio.Client(reconnection=False)
    rec = Recorder(c, ('auth', 'message-back', 'broadcast', 'room-message', 'disconnect', *names))
    c.connect(url, **kw)
    return c, rec


# ---- the contract, on every server --------------------------------------------------------------


@pytest.mark.parametrize('kind', ALL)
def test_auth_message_back_echo_and_disconnect(kind):
    url = shared(kind).url
    c, rec = connected_client(url, auth={'token': 'x'})
    try:
        assert c.connected and c.get_sid('/') and c.namespaces == {'/': c.get_sid('/')}
        assert c.sid and c.transport() in ('polling', 'websocket')
        assert rec.wait('auth') == [({'token': 'x'},)]
        c.emit('message', (1, 'two', None))  # a tuple: several arguments
        c.emit('message', [1, 2])  # a list: one argument
        assert rec.wait('message-back', 2) == [(1, 'two', None), ([1, 2],)]
        assert c.call('echo', ('a', 1)) == ('a', 1)
        assert c.call('echo', {'k': [1.5, True]}) == {'k': [1.5, True]}
        assert c.call('echo') is None
        assert c.call('message-with-ack', 'x') == 'x'
        got = []
        done = threading.Event()
        c.emit('echo', ('cb', 2), callback=lambda *a: (got.append(a), done.set()))
        assert done.wait(WAIT) and got == [('cb', 2)]
        c.send('hi')
        assert rec.wait('message-back', 3)[2] == ('hi',)
    finally:
        c.disconnect()
    c.wait()
    assert not c.connected
    assert rec.get('disconnect') == [('client disconnect',)]


@pytest.mark.parametrize('kind', ALL)
def test_binary_at_any_depth(kind):
    c, rec = connected_client(shared(kind).url)
    try:
        value = {'a': [b'\x00\x01\xff', {'b': bytearray(b'xy'), 'c': [[memoryview(b'deep')]]}], 'n': 1}
        assert c.call('echo', value) == {'a': [b'\x00\x01\xff', {'b': b'xy', 'c': [[b'deep']]}], 'n': 1}
        c.emit('message', (b'', b'z' * 100000))
        assert rec.wait('message-back') == [(b'', b'z' * 100000)]
    finally:
        c.disconnect()


@pytest.mark.parametrize('kind', ALL)
def test_broadcast_rooms_count(kind):
    url = shared(kind).url
    a, ra = connected_client(url)
    b, rb = connected_client(url)
    try:
        a.emit('broadcast', 'all')
        assert ra.wait('broadcast') == [('all',)] and rb.wait('broadcast') == [('all',)]
        rooms = a.call('join', 'r1')
        assert sorted(rooms) == sorted(['r1', a.get_sid()])
        b.emit('to-room', ('r1', 'in', 2))
        assert ra.wait('room-message') == [('r1', 'in', 2)]
        assert sorted(a.call('leave', 'r1')) == [a.get_sid()]
        assert a.call('count') >= 2
        b.emit('to-room', ('r1', 'gone'))
        time.sleep(0.2)
        assert ra.get('room-message') == [('r1', 'in', 2)]
    finally:
        a.disconnect()
        b.disconnect()


@pytest.mark.parametrize('kind', ALL)
def test_ask_server_to_client_ack(kind):
    c = sio.Client(reconnection=False)
    seen = []

    @c.on('question')
    def question(*args):
        seen.append(args)
        return ('answer', 42)  # the return value is the ack (a tuple: several values)

    @c.on('silent')
    def silent(*args):
        return None

    c.connect(shared(kind).url)
    try:
        assert c.call('ask', ('question', 1, {'x': b'\x01'})) == {'ok': True, 'args': ['answer', 42]}
        assert seen == [(1, {'x': b'\x01'})]
        assert c.call('ask', ('silent',)) == {'ok': True, 'args': []}
        # no handler: answered with no values, the server is not left waiting
        assert c.call('ask', ('nobody',)) == {'ok': True, 'args': []}
    finally:
        c.disconnect()


@pytest.mark.parametrize('kind', ALL)
def test_server_disconnect_ends_wait(kind):
    c, rec = connected_client(shared(kind).url)
    c.emit('disconnect-me')
    c.wait()  # returns: no reconnection after the server's disconnect
    assert rec.wait('disconnect') == [('server disconnect',)]
    assert not c.connected and c.get_sid('/') is None
    with pytest.raises(sio.exceptions.BadNamespaceError):
        c.emit('echo')


@pytest.mark.parametrize('kind', ALL)
def test_namespaces_custom_admin_and_refused(kind):
    url = shared(kind).url
    c = sio.Client(reconnection=False)
    rec = Recorder(c, ('auth',), namespace='/custom')
    admin = Recorder(c, ('welcome', 'connect'), namespace='/admin')
    c.connect(url, namespaces=['/', '/custom', '/admin'], auth={'token': 'secret'})
    try:
        assert rec.wait('auth') == [({'token': 'secret'},)]
        assert admin.wait('welcome') == [(c.get_sid('/admin'),)]
        assert admin.wait('connect') == [()]
        assert set(c.namespaces) == {'/', '/custom', '/admin'}
        assert c.call('echo', 1, namespace='/') == 1
    finally:
        c.disconnect()
    c.wait()

    bad = sio.Client(reconnection=False)
    errors = Recorder(bad, ('connect_error',), namespace='/admin')
    with pytest.raises(sio.exceptions.ConnectionError, match='/admin'):
        bad.connect(url, namespaces=['/admin'], auth={'token': 'nope'})
    assert errors.get('connect_error')[0][0]['message'] == 'unauthorized'
    assert not bad.connected

    with pytest.raises(ConnectionError):
        sio.Client(reconnection=False).connect(url, namespaces=['/no-such-namespace'])


@pytest.mark.parametrize('kind', CONTRACT)
def test_dynamic_namespace(kind):
    c = sio.Client(reconnection=False)
    rec = Recorder(c, ('nsp',), namespace='/dyn-abc1')
    c.connect(shared(kind).url, namespaces=['/dyn-abc1'])
    try:
        assert rec.wait('nsp') == [('/dyn-abc1',)]
    finally:
        c.disconnect()


def test_catch_all_and_namespace_class():
    c = sio.Client(reconnection=False)
    anything = []
    c.on('*', lambda event, *args: anything.append((event, args)))

    class Custom(sio.ClientNamespace):
        def __init__(self):
            super().__init__('/custom')
            self.got = []

        def on_auth(self, data):
            self.got.append(data)

        def on_disconnect(self, reason):
            self.got.append(('disconnect', reason))

    ns = Custom()
    c.register_namespace(ns)
    c.connect(shared('c').url, namespaces=['/', '/custom'])
    try:
        assert wait_for(lambda: ('auth', ({},)) in anything)
        assert wait_for(lambda: ns.got == [{}])
        c.emit('message', 'x')
        assert wait_for(lambda: ('message-back', ('x',)) in anything)
    finally:
        c.disconnect()
    c.wait()
    assert ns.got[-1] == ('disconnect', 'client disconnect')


def test_threads_emit_and_call_concurrently():
    c, rec = connected_client(shared('c').url)
    errors = []

    def worker(k):
        try:
            for i in range(50):
                assert c.call('echo', (k, i, b'%d' % i)) == (k, i, b'%d' % i)
                c.emit('message', (k, i))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        got = rec.wait('message-back', 400, timeout=20)
        for k in range(8):  # each thread's emits arrive in its order
            assert [a[1] for a in got if a[0] == k] == list(range(50))
    finally:
        c.disconnect()


def test_call_from_a_handler_and_timeouts():
    c = sio.Client(reconnection=False)
    out = []

    @c.on('auth')
    def on_auth(data):
        out.append(c.call('echo', 'from-handler'))  # a handler may wait for an answer

    c.connect(shared('c').url)
    try:
        assert wait_for(lambda: out == ['from-handler'])
        with pytest.raises(sio.exceptions.TimeoutError):
            c.call('no-ack-for-this', timeout=0.3)
        with pytest.raises(ValueError):
            c.emit('connect')  # a reserved name
        with pytest.raises(TypeError):
            c.emit('echo', object())
        assert c.call('echo', 'still fine') == 'still fine'
    finally:
        c.disconnect()


@pytest.mark.parametrize('kind', kinds('c', 'psio'))
def test_async_client_coroutine_handlers(kind):
    async def main():
        c = sio.AsyncClient(reconnection=False)
        got = []
        reasons = []

        @c.event
        async def auth(data):
            await asyncio.sleep(0.01)
            got.append(data)

        @c.on('question')
        async def question(x):
            await asyncio.sleep(0.01)
            return x * 2

        @c.event
        async def disconnect(reason):
            reasons.append(reason)

        await c.connect(shared(kind).url, auth={'a': 1})
        assert c.connected and c.get_sid()
        assert await c.call('echo', (1, b'\x02')) == (1, b'\x02')
        assert await c.call('ask', ('question', 21)) == {'ok': True, 'args': [42]}
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [{'a': 1}]
        acks = []
        await c.emit('echo', 'cb', callback=lambda *a: acks.append(a))
        await c.sleep(0.2)
        assert acks == [('cb',)]
        with pytest.raises(sio.exceptions.TimeoutError):
            await c.call('unanswered', timeout=0.2)
        await c.disconnect()
        await c.wait()
        assert reasons == ['client disconnect'] and not c.connected

    asyncio.run(main())


def test_simple_client_receive_with_timeout():
    url = shared('c').url
    with sio.SimpleClient() as c:
        c.connect(url, auth={'s': 1})
        assert c.sid and c.transport in ('polling', 'websocket')
        assert c.receive(timeout=WAIT) == ['auth', {'s': 1}]
        with pytest.raises(sio.exceptions.TimeoutError):
            c.receive(timeout=0.2)
        c.emit('message', ('a', b'b'))
        assert c.receive(timeout=WAIT) == ['message-back', 'a', b'b']
        assert c.call('echo', 5) == 5
        c.emit('disconnect-me')
        with pytest.raises(sio.exceptions.DisconnectedError):
            c.receive(timeout=WAIT)

    async def main():
        async with sio.AsyncSimpleClient() as c:
            await c.connect(url)
            assert await c.receive(timeout=WAIT) == ['auth', {}]
            with pytest.raises(sio.exceptions.TimeoutError):
                await c.receive(timeout=0.2)
            assert await c.call('echo', [1]) == [1]
            await c.emit('message', 'x')
            assert await c.receive(timeout=WAIT) == ['message-back', 'x']

    asyncio.run(main())


def test_connect_refused_raises_and_retry_false():
    port = free_port()
    c = sio.Client()
    errors = Recorder(c, ('connect_error',))
    t0 = time.monotonic()
    with pytest.raises(sio.exceptions.ConnectionError):
        c.connect('http://127.0.0.1:%d' % port)
    assert time.monotonic() - t0 < WAIT
    assert len(errors.get('connect_error')) == 1 and not c.connected  # once, as python-socketio
    c.wait()  # nothing running


# ---- reconnection, recovery, msgpack ------------------------------------------------------------


def test_reconnects_after_the_server_restarts_and_delivers_buffered_emits_once():
    port = free_port()
    srv = start('c', '--port', str(port))
    c = sio.Client(reconnection_delay=0.1, reconnection_delay_max=0.3)
    rec = Recorder(c, ('message-back', 'disconnect', 'connect', 'reconnect_attempt', 'reconnect'))
    try:
        c.connect(srv.url)
        first_sid = c.get_sid()
        srv.kill()
        assert rec.wait('disconnect') == [('transport error',)]
        assert not c.connected
        c.emit('message', 'while-down')  # kept in the send buffer
        c.emit('message', 'volatile', volatile=True)  # not kept: dropped while disconnected
        assert rec.wait('reconnect_attempt')
        srv = start('c', '--port', str(port))
        rec.wait('connect', 2, timeout=10)
        assert rec.wait('message-back') == [('while-down',)]
        assert c.connected and c.get_sid() != first_sid
        assert rec.get('reconnect')
        assert c.call('echo', 'after') == 'after'
        time.sleep(0.3)
        assert rec.get('message-back') == [('while-down',)]  # once
    finally:
        c.disconnect()
        srv.stop()
    assert rec.get('disconnect')[-1] == ('client disconnect',)


def test_reconnection_gives_up_after_its_attempts():
    port = free_port()
    srv = start('c', '--port', str(port))
    c = sio.Client(reconnection_attempts=2, reconnection_delay=0.2, reconnection_delay_max=0.2,
                   randomization_factor=0, send_buffer_max=2)
    rec = Recorder(c, ('reconnect_attempt', 'reconnect_failed', 'disconnect'))
    c.connect(srv.url)
    srv.kill()
    rec.wait('disconnect')
    c.emit('message', 1)
    c.emit('message', 2)
    with pytest.raises(sio.Error) as e:  # the send buffer's bound: refused, nothing dropped silently
        c.emit('message', 3)
    assert e.value.name == 'EBUSY'
    c.wait()  # returns once reconnection gave up
    assert len(rec.get('reconnect_attempt')) == 2 and rec.get('reconnect_failed') == [()]
    assert not c.connected


@pytest.mark.parametrize('kind', kinds('c', 'python', 'lua', 'node'))
def test_connection_state_recovery(kind):
    srv = start(kind, '--recovery')
    proxy = Proxy(srv.port)
    a = sio.Client(reconnection_delay=0.1, reconnection_delay_max=0.2)
    rec = Recorder(a, ('broadcast', 'disconnect', 'connect'))
    b, _ = connected_client(srv.url)
    try:
        a.connect(proxy.url, transports=['websocket'])
        sid = a.get_sid()
        assert not a.recovered()
        b.emit('broadcast', 'before')
        assert rec.wait('broadcast')[0][0] == 'before'
        proxy.cut()
        rec.wait('disconnect')
        b.emit('broadcast', 'missed')  # while a is away: kept for it by the server
        rec.wait('connect', 2, timeout=10)
        assert a.recovered() and a.get_sid() == sid
        got = rec.wait('broadcast', 2)
        assert [g[0] for g in got] == ['before', 'missed']
        assert all(isinstance(g[-1], str) for g in got)  # each event's offset, last
    finally:
        a.disconnect()
        b.disconnect()
        proxy.close()
        srv.stop()


@pytest.mark.parametrize('kind', kinds('c', 'python', 'lua', 'node'))
def test_msgpack_serializer(kind):
    srv = start(kind, '--parser', 'msgpack')
    c = sio.Client(reconnection=False, serializer='msgpack')
    rec = Recorder(c, ('auth',))
    try:
        c.connect(srv.url, auth={'m': [1, 2]})
        assert rec.wait('auth') == [({'m': [1, 2]},)]
        v = {'bin': b'\x00\xff', 'nested': [{'b': b'x'}], 'n': -5, 'f': 1.5}
        assert c.call('echo', v) == v
    finally:
        c.disconnect()
        srv.stop()


def test_connect_again_after_disconnect_and_wait_false():
    url = shared('c').url
    c = sio.Client(reconnection=False)
    rec = Recorder(c, ('auth', 'connect'))
    c.connect(url, wait=False)
    assert rec.wait('auth') == [({},)]
    with pytest.raises(ConnectionError, match='Already connected'):
        c.connect(url)
    first = c.get_sid()
    c.disconnect()
    c.wait()
    c.connect(url, auth={'again': True})  # the same object, a new connection
    try:
        assert rec.wait('auth', 2)[1] == ({'again': True},)
        assert c.get_sid() != first and len(rec.get('connect')) == 2
    finally:
        c.disconnect()


@pytest.mark.parametrize('transports', [['polling'], ['websocket'], None], ids=['polling', 'websocket', 'both'])
def test_transports(transports):
    c = sio.Client(reconnection=False)
    c.connect(shared('c').url, transports=transports)
    try:
        assert c.call('echo', (b'\x00' * 10, {'x': b'y'})) == (b'\x00' * 10, {'x': b'y'})
        if transports:
            assert c.transport() == transports[0]
        else:  # polling first, then the upgrade
            assert wait_for(lambda: c.transport() == 'websocket')
    finally:
        c.disconnect()


def test_async_client_reconnects_with_a_fresh_auth_and_namespace_class():
    port = free_port()
    srv = start('c', '--port', str(port))
    attempts = []

    class Root(sio.AsyncClientNamespace):
        def __init__(self):
            super().__init__('/')
            self.auth, self.disconnects = [], []

        async def on_auth(self, data):
            self.auth.append(data)

        async def on_disconnect(self, reason):
            self.disconnects.append(reason)

    async def main():
        nonlocal srv
        c = sio.AsyncClient(reconnection_delay=0.1, reconnection_delay_max=0.2)
        ns = Root()
        c.register_namespace(ns)
        c.on('reconnect_attempt', lambda n: attempts.append(n))
        backs = []
        c.on('message-back', lambda *a: backs.append(a))  # beside the class: handlers first, then it
        counter = iter(range(1, 100))
        await c.connect(srv.url, auth=lambda: {'n': next(counter)})

        async def until(pred, timeout=WAIT):
            end = time.monotonic() + timeout
            while not pred() and time.monotonic() < end:
                await asyncio.sleep(0.01)
            assert pred()

        await until(lambda: ns.auth == [{'n': 1}])
        srv.kill()
        await until(lambda: ns.disconnects == ['transport error'])
        await c.emit('message', 'buffered')
        await until(lambda: attempts)
        srv = start('c', '--port', str(port))
        await until(lambda: len(ns.auth) == 2, 10)
        assert ns.auth[1]['n'] > 1  # asked again before the attempt that succeeded
        await until(lambda: backs == [('buffered',)])
        assert c.connected and await ns.call('echo', 'x') == 'x'
        await c.disconnect()
        await c.wait()
        assert ns.disconnects == ['transport error', 'client disconnect']

    try:
        asyncio.run(main())
    finally:
        srv.stop()


@pytest.mark.parametrize('mode', [[], ['--asyncio']], ids=['threads', 'asyncio'])
def test_example_echo_client(mode):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sio.__file__)))
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'examples', 'client', 'echo.py'), shared('c').url, '3',
                        *mode], capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith('connected as ') and p.stdout.endswith("answer: ('hello', 2, b'\\x00bytes')\n")


def test_max_payload_refuses_a_long_emit():
    c = sio.Client(reconnection=False, max_payload=1000)
    c.connect(shared('c').url)
    try:
        with pytest.raises(ValueError):  # sio.InvalidArgumentError, ETOOBIG: not sent, not kept
            c.emit('echo', 'x' * 2000)
        assert c.call('echo', 'small') == 'small'
    finally:
        c.disconnect()


def test_namespaces_from_handlers_manager_events_excepted():
    c = sio.Client(reconnection=False)
    c.on('reconnect_attempt', lambda n: None)  # the manager's event: says nothing about namespaces
    got = []
    c.on('auth', lambda data: got.append(data), namespace='/custom')
    c.connect(shared('c').url, auth={'z': 1})  # python-socketio: the namespaces that have handlers
    try:
        assert set(c.namespaces) == {'/custom'}
        assert wait_for(lambda: got == [{'z': 1}])
        with pytest.raises(sio.exceptions.BadNamespaceError):
            c.emit('echo', 1)  # '/' was not asked for
    finally:
        c.disconnect()


def test_connect_with_retry_waits_for_the_server():
    port = free_port()
    box = []
    starter = threading.Timer(0.5, lambda: box.append(start('c', '--port', str(port))))
    starter.start()
    c = sio.Client(reconnection_delay=0.1, reconnection_delay_max=0.2)
    errors = Recorder(c, ('connect_error',))
    try:
        c.connect('http://127.0.0.1:%d' % port, retry=True)  # refused first: retried as a reconnection
        assert c.connected and c.call('echo', 'up') == 'up'
        assert errors.get('connect_error')  # the failed attempts were reported
    finally:
        starter.join()
        c.disconnect()
        for srv in box:
            srv.stop()


def test_logger_true_logs_the_connection(caplog):
    caplog.set_level(logging.INFO, logger='sio.client')
    c = sio.Client(reconnection=False, logger=True)
    c.connect(shared('c').url)
    c.disconnect()
    text = caplog.text
    assert 'Engine.IO connection established' in text and 'Namespace / is connected' in text
    assert 'Namespace / is disconnected: io client disconnect' in text


def test_call_ends_when_the_connection_is_lost():
    srv = start('c')
    c = sio.Client(reconnection=False)
    c.connect(srv.url)
    box = []

    def waiting():
        t0 = time.monotonic()
        try:
            c.call('nobody-answers', timeout=30)
        except BaseException as e:  # checked below
            box.append((e, time.monotonic() - t0))

    t = threading.Thread(target=waiting)
    t.start()
    time.sleep(0.2)
    srv.kill()
    t.join(WAIT)
    assert box, 'call() still waiting'
    e, took = box[0]
    assert isinstance(e, sio.exceptions.DisconnectedError) and isinstance(e, sio.exceptions.TimeoutError)
    assert took < WAIT
    c.wait()


def test_bad_arguments_raise_cleanly():
    c = sio.Client(reconnection=False)
    with pytest.raises(ValueError):
        c.connect('ftp://127.0.0.1:1')  # not http(s) or ws(s)
    with pytest.raises(ValueError):
        c.connect(shared('c').url, transports=['carrier-pigeon'])
    with pytest.raises(TypeError):
        c.connect(shared('c').url, auth=['not', 'a', 'dict'])
    with pytest.raises(TypeError):
        sio.Client(no_such_option=1)
    with pytest.raises(ValueError):
        sio.Client(serializer='pickle')
    assert not c.connected
    c.connect(shared('c').url)  # still usable
    try:
        with pytest.raises(TypeError):
            c.emit(42)
        assert c.call('echo', 'ok') == 'ok'
    finally:
        c.disconnect()


def test_disconnect_while_reconnecting_stops_for_good():
    srv = start('c')
    c = sio.Client(reconnection_delay=0.2)
    rec = Recorder(c, ('disconnect', '__disconnect_final'))  # the latter: python-socketio's, SimpleClient's
    c.connect(srv.url)
    srv.kill()
    rec.wait('disconnect')
    c.disconnect()  # stops reconnecting
    c.wait()
    assert rec.get('disconnect') == [('transport error',)] and rec.get('__disconnect_final') == [()]
    assert not c.connected


@pytest.mark.parametrize('kind', kinds('c', 'node'))
def test_engine_io_v3_for_socket_io_2_servers(kind):
    srv = start(kind, '--allow-eio3')
    c = sio.Client(reconnection=False, eio=3)
    rec = Recorder(c, ('auth',), namespace='/custom')
    try:
        c.connect(srv.url, namespaces=['/', '/custom'])
        assert c.call('echo', ('v3', {'b': b'\x01\x02'})) == ('v3', {'b': b'\x01\x02'})
        assert rec.wait('auth')
    finally:
        c.disconnect()
        srv.stop()


@pytest.mark.parametrize('transports', [['websocket'], ['polling']], ids=['wss', 'https'])
def test_tls_verified_against_a_ca_refused_without_it(tmp_path, transports):
    from test_tls import echo_server, make_certs, serve_in_thread
    ca, cert, key = make_certs(tmp_path)
    server = echo_server()
    port = free_port()
    t = serve_in_thread(server.run, '127.0.0.1', port, handle_signals=False, certfile=cert, keyfile=key)
    url = 'https://127.0.0.1:%d' % port
    try:
        assert wait_for(lambda: _accepts_tcp(port))
        c = sio.Client(reconnection=False, tls_ca_file=ca)
        c.connect(url, transports=transports)
        assert c.call('echo', b'\x00secret') == b'\x00secret' and c.transport() == transports[0]
        c.disconnect()
        with pytest.raises(ConnectionError):  # the system's CAs do not know this one
            sio.Client(reconnection=False).connect(url, transports=transports)
        c = sio.Client(reconnection=False, ssl_verify=False)  # python-socketio's spelling
        c.connect(url.replace('https', 'wss' if transports == ['websocket'] else 'https'), transports=transports)
        assert c.call('echo', 'unverified') == 'unverified'
        c.disconnect()
    finally:
        server.stop()
        t.join(WAIT)


def _accepts_tcp(port):
    import socket
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_connection_lost_before_the_connect_answer_fails_fast_without_reconnection():
    import http.server

    class OpensThenHangsUp(http.server.BaseHTTPRequestHandler):
        """An Engine.IO handshake answered, then every request dropped: no CONNECT answer."""

        def do_GET(self):
            if 'sid=' in self.path:
                self.close_connection = True
                return
            body = b'0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain; charset=UTF-8')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), OpensThenHangsUp)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    c = sio.Client(reconnection=False)
    errors = Recorder(c, ('connect_error',))
    try:
        t0 = time.monotonic()
        with pytest.raises(ConnectionError):
            c.connect('http://127.0.0.1:%d' % httpd.server_port, transports=['polling'], wait_timeout=10)
        assert time.monotonic() - t0 < 5  # told at once, not after wait_timeout
        assert len(errors.get('connect_error')) == 1 and isinstance(errors.get('connect_error')[0][0], str)
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---- clients share loops ------------------------------------------------------------------------


def _fds():
    return len(os.listdir('/proc/self/fd'))


def test_threaded_clients_share_one_loop_thread_and_keep_their_own_order():
    url = shared('c').url
    clients = [connected_client(url, transports=['websocket'])]  # the loop made, then the others join it
    fds = _fds()
    try:
        for _ in range(5):
            clients.append(connected_client(url, transports=['websocket']))
        # one loop for all: each client adds its socket, not a loop of its own (6 fds each: epoll,
        # eventfd, signal pipe...)
        assert _fds() - fds <= 5 + 2
        lts = {id(c._lt) for c, _ in clients}
        assert len(lts) == 1
        assert wait_for(lambda: sum(t.name == 'sio-client-loop' and t.is_alive() for t in threading.enumerate()) == 1)
        for i in range(40):
            for k, (c, _) in enumerate(clients):
                c.emit('message', (k, i))
        for k, (c, rec) in enumerate(clients):  # each client's handlers in its order, on its own thread
            assert [a for a in rec.wait('message-back', 40, timeout=20)] == [(k, i) for i in range(40)]
        clients[0][0].disconnect()
        clients[0][0].wait()
        for c, _ in clients[1:]:  # the loop runs on for the others
            assert c.call('echo', 'still') == 'still'
        with pytest.raises(sio.exceptions.BadNamespaceError):
            clients[0][0].emit('message', 1)
    finally:
        for c, _ in clients:
            c.disconnect()


def test_the_loop_thread_ends_with_the_last_client_and_a_new_one_starts_after():
    script = r'''
import sys, threading, time
import sio
url = sys.argv[1]
def loops():
    return [t for t in threading.enumerate() if t.name == 'sio-client-loop']
a, b = sio.Client(reconnection=False), sio.Client(reconnection=False)
a.connect(url)
b.connect(url)
first = a._lt.thread
assert loops() == [first] and b._lt is a._lt
a.disconnect()
assert first.is_alive() and b.call('echo', 1) == 1
b.disconnect()
first.join(5)
assert not first.is_alive() and not loops()
c = sio.Client(reconnection=False)
c.connect(url)
assert c.call('echo', 2) == 2 and loops() and loops()[0] is not first
c.disconnect()
a.connect(url)  # a client connects again after its loop thread ended
assert a.call('echo', 3) == 3
import os
pid = os.fork()  # with the parent's loop thread running: a child makes its own
if pid == 0:
    ok = False
    try:
        d = sio.Client(reconnection=False)
        d.connect(url)
        ok = d.call('echo', 4) == 4 and d._lt is not a._lt
        d.disconnect()
    finally:
        os._exit(0 if ok else 1)
assert os.waitpid(pid, 0)[1] == 0
assert a.call('echo', 5) == 5
a.disconnect()
print('ok')
'''
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(sio.__file__)))
    p = subprocess.run([sys.executable, '-c', script, shared('c').url], capture_output=True, text=True, timeout=60,
                       env=env)
    assert p.returncode == 0 and p.stdout == 'ok\n', p.stderr


def test_async_clients_on_one_asyncio_loop_share_one_core_loop():
    url = shared('c').url

    async def main():
        cs = [sio.AsyncClient(reconnection=False) for _ in range(8)]
        await cs[0].connect(url, transports=['websocket'])  # the shared loop made
        fds = _fds()
        await asyncio.gather(*(c.connect(url, transports=['websocket']) for c in cs[1:]))
        drivers = {id(c._driver) for c in cs}
        assert len(drivers) == 1 and cs[0]._driver.loop.clients == 8
        assert _fds() - fds <= 7 + 2  # a socket each, no loop of its own (6 fds each)
        got = await asyncio.gather(*(c.call('echo', (k, b'%d' % k)) for k, c in enumerate(cs)))
        assert got == [(k, b'%d' % k) for k in range(8)]
        await cs[0].disconnect()
        await cs[0].wait()
        assert cs[0]._driver.loop.clients == 7
        assert await cs[1].call('echo', 'still') == 'still'
        await asyncio.gather(*(c.disconnect() for c in cs[1:]))
        loop = asyncio.get_running_loop()
        for _ in range(100):  # the last one drops the shared loop (on the next tick)
            if id(loop) not in sio.client._AioDriver._drivers:
                break
            await asyncio.sleep(0.01)
        assert id(loop) not in sio.client._AioDriver._drivers
        again = sio.AsyncClient(reconnection=False)  # a new shared loop for the next one
        await again.connect(url)
        assert await again.call('echo', 1) == 1 and again._driver is not cs[0]._driver
        await again.disconnect()

    asyncio.run(main())
