"""The `sio` Python API, in process, driven by Debian's python-socketio client (5.7).

The package is the in-tree build that `examples/contract/run python` makes
(build-python/pyX.Y/bindings/python, or env SIO_PY_PATH); it is built first when missing.
Each test runs its own sio.Server on a thread (server.run(handle_signals=False)).
"""

import asyncio
import gc
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest
import socketio

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PKG = os.environ.get('SIO_PY_PATH', os.path.join(ROOT, 'build-python', 'py%d.%d' % sys.version_info[:2],
                                                  'bindings', 'python'))


RUN_ENV = dict(os.environ, SIO_PYTHON_EXE=sys.executable, SIO_PY_INSTALLED='0')


def _import_sio():
    if not os.environ.get('SIO_PY_PATH'):
        # `run python --help` builds the package when a source is newer than the build, then
        # prints the contract server's usage.
        p = subprocess.run([os.path.join(ROOT, 'examples', 'contract', 'run'), 'python', '--help'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=RUN_ENV)
        if p.returncode != 0:
            return None, 'building sio failed:\n' + p.stderr.decode('utf-8', 'replace')[-4000:]
    sys.path.insert(0, PKG)
    try:
        import sio as mod
    except ImportError as e:
        return None, 'import sio failed: %s' % e
    return mod, None


sio, BUILD_ERROR = _import_sio()


@pytest.fixture(autouse=True)
def _built():
    # a failed build fails every test here (and only here: the contract tests still run)
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)
WAIT = 5.0


def wait_for(pred, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


class Running:
    """A server running on a thread; .url for clients; stopped (and joined) on exit."""

    def __init__(self, server):
        self.server = server
        self.port = server.listen('127.0.0.1', 0)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.server.run(handle_signals=False)
        except BaseException as e:  # pragma: no cover
            self.error = e

    def stop(self):
        self.server.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        assert self.error is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def client(url, namespaces=None, auth=None, transports=('websocket',)):
    c = socketio.Client(reconnection=False)
    c.received = []
    for ns in namespaces or ['/']:
        c.on('*', lambda event, *args: c.received.append((event, args)), namespace=ns)
    c.connect(url, namespaces=namespaces, auth=auth, transports=list(transports), wait_timeout=WAIT)
    return c


def test_version_and_values():
    assert re.match(r'^\d+\.\d+\.\d+$', sio.__version__)
    values = (None, True, False, 0, -7, 2 ** 40, 1.5, 'héllo\x00wörld', [1, [2, [3]]],
              {'a': {'b': [b'\x00\x01', bytearray(b'ba'), memoryview(b'mv')]}}, b'')
    out = sio._core.roundtrip(values)
    assert out == (None, True, False, 0, -7, 2 ** 40, 1.5, 'héllo\x00wörld', [1, [2, [3]]],
                   {'a': {'b': [b'\x00\x01', b'ba', b'mv']}}, b'')
    assert isinstance(out[9]['a']['b'][1], bytes)
    assert sio._core.roundtrip(((1, 2),)) == ([1, 2],)


@pytest.mark.parametrize('bad', [object(), {1: 'x'}, {'a': {1, 2}}, [complex(1, 2)]])
def test_bad_values_raise_type_error(bad):
    with pytest.raises(TypeError) as e:
        sio._core.roundtrip((bad,))
    assert 'cannot be sent' in str(e.value) or 'keys must be str' in str(e.value)


def test_too_deep_raises():
    v = []
    for _ in range(200):
        v = [v]
    with pytest.raises(ValueError):
        sio._core.roundtrip((v,))


def test_redis_option_and_fetch_count_alone():
    with pytest.raises(ValueError) as e:
        sio.Server(redis='http://nope')
    assert 'bad URL' in str(e.value)
    server = sio.Server()
    got = []
    with Running(server) as r:
        c = client(r.url)
        try:
            # alone: the local count; from another thread: it runs on the server's thread
            server.fetch_count(lambda err, n: got.append((err, n)), namespace='/')
            assert wait_for(lambda: len(got) == 1)
            assert got == [(None, 1)]
        finally:
            c.disconnect()


def test_fetch_count_while_redis_is_unreachable():
    import socket
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    server = sio.Server(redis='redis://127.0.0.1:%d' % port)
    got = []
    with Running(server) as r:
        c = client(r.url)
        try:
            # answered at once, not after the requests timeout: this node's count
            t0 = time.monotonic()
            server.fetch_count(lambda err, n: got.append((err, n)), namespace='/')
            assert wait_for(lambda: len(got) == 1)
            assert got == [('unavailable', 1)]
            assert time.monotonic() - t0 < 2
        finally:
            c.disconnect()


def test_connect_events_acks_rooms_binary():
    server = sio.Server()
    seen = {}

    @server.on('connect')
    def connect(sid, environ, auth):
        seen.setdefault('environ', environ)
        seen.setdefault('auth', auth)
        server.enter_room(sid, 'lobby')        # queued until the socket is connected
        server.emit('hello', sid, to=sid)

    @server.event
    def add(sid, a, b):
        return a + b

    @server.on('pair')
    def pair(sid):
        return ('one', 2)                      # a tuple: several ack arguments

    @server.on('nothing')
    def nothing(sid):
        return None                            # an ack without arguments

    @server.on('bin')
    def binary(sid, value):
        return {'got': value, 'more': [bytearray(b'\xff')]}

    @server.on('rooms')
    def rooms(sid):
        return sorted(server.rooms(sid))

    @server.on('shout')
    def shout(sid, text):
        server.emit('shout', text, to='lobby', skip_sid=sid)

    @server.on('session')
    def session(sid, value=None):
        with server.session(sid) as s:
            if value is not None:
                s['v'] = value
            return s.get('v')

    with Running(server) as r:
        a = client(r.url, auth={'token': 't'})
        b = client(r.url, transports=('polling',))
        try:
            assert seen['auth'] == {'token': 't'}
            env = seen['environ']
            assert env['REMOTE_ADDR'] == '127.0.0.1'
            assert env['PATH_INFO'] == '/socket.io/'
            assert 'EIO=4' in env['QUERY_STRING']
            assert 'HTTP_HOST' in env
            assert wait_for(lambda: ('hello', (b.get_sid('/'),)) in b.received)
            assert a.call('add', (2, 3), timeout=WAIT) == 5
            assert a.call('pair', timeout=WAIT) == ('one', 2)
            assert a.call('nothing', timeout=WAIT) is None
            assert a.call('bin', {'x': [b'\x00abc']}, timeout=WAIT) == \
                {'got': {'x': [b'\x00abc']}, 'more': [b'\xff']}
            assert a.call('rooms', timeout=WAIT) == sorted([a.get_sid('/'), 'lobby'])
            a.emit('shout', 'hi')
            assert wait_for(lambda: ('shout', ('hi',)) in b.received)
            time.sleep(0.1)
            assert ('shout', ('hi',)) not in a.received
            assert a.call('session', 42, timeout=WAIT) == 42
            assert a.call('session', timeout=WAIT) == 42
            assert b.call('session', timeout=WAIT) is None
        finally:
            a.disconnect()
            b.disconnect()


def test_handler_errors_are_logged_and_the_server_goes_on(caplog):
    server = sio.Server()

    @server.on('boom')
    def boom(sid):
        raise RuntimeError('kaboom')

    @server.on('badvalue')
    def badvalue(sid):
        return object()

    @server.on('emitbad')
    def emitbad(sid):
        try:
            server.emit('x', object(), to=sid)
        except TypeError as e:
            return str(e)

    @server.on('ok')
    def ok(sid):
        return 'fine'

    with caplog.at_level(logging.ERROR, logger='sio'), Running(server) as r:
        c = client(r.url)
        try:
            with pytest.raises(socketio.exceptions.TimeoutError):
                c.call('boom', timeout=0.5)
            assert c.call('ok', timeout=WAIT) == 'fine'
            with pytest.raises(socketio.exceptions.TimeoutError):
                c.call('badvalue', timeout=0.5)
            assert 'cannot be sent' in c.call('emitbad', timeout=WAIT)
            assert c.call('ok', timeout=WAIT) == 'fine'
        finally:
            c.disconnect()
    records = [rec for rec in caplog.records if rec.name == 'sio']
    assert any('boom' in rec.getMessage() and rec.exc_info and
               'kaboom' in str(rec.exc_info[1]) for rec in records)
    assert any(rec.exc_info and isinstance(rec.exc_info[1], TypeError) for rec in records)
    text = caplog.text
    assert 'Traceback' in text and 'kaboom' in text


def test_refuse_namespaces_and_catch_all():
    server = sio.Server()

    @server.on('connect', namespace='/private')
    def private(sid, environ, auth):
        if auth.get('token') == 'no':
            return False
        if auth.get('token') != 'secret':
            raise sio.ConnectionRefusedError('unauthorized', {'hint': 'token'})

    class Chat(sio.Namespace):
        def on_connect(self, sid, environ, auth):
            # a class on a dynamic namespace: say which child (its default is the pattern)
            self.emit('welcome', environ['sio.namespace'], to=sid, namespace=environ['sio.namespace'])

        def on_say(self, sid, text):
            return 'said ' + text

    server.register_namespace(Chat('/chat'))
    server.register_namespace(Chat(re.compile(r'^/room-[0-9]+$')))

    @server.on('*')
    def catch_all(event, sid, *args):
        return ['caught', event, list(args)]

    disconnected = []

    @server.on('disconnect', namespace='/chat')
    def gone(sid, reason):
        disconnected.append(reason)

    with Running(server) as r:
        errors = []
        for token, expect in (('bad', {'message': 'unauthorized', 'data': {'hint': 'token'}}),
                              ('no', 'Connection rejected by server')):
            c = socketio.Client(reconnection=False)
            c.on('connect_error', lambda data, ns='/private': errors.append(data), namespace='/private')
            with pytest.raises(socketio.exceptions.ConnectionError):
                c.connect(r.url, namespaces=['/private'], auth={'token': token},
                          transports=['websocket'], wait_timeout=2)
            c.disconnect()
        assert len(errors) == 2
        # emitting to a namespace nobody registered is a no-op and does not create it
        server.emit('x', namespace='/nope')
        assert server.socket_count('/nope') == 0
        c = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(r.url, namespaces=['/nope'], transports=['websocket'], wait_timeout=2)
        c.disconnect()
        c = client(r.url, namespaces=['/', '/chat', '/room-7', '/private'], auth={'token': 'secret'})
        try:
            assert c.call('say', 'hi', namespace='/chat', timeout=WAIT) == 'said hi'
            assert c.call('say', 'yo', namespace='/room-7', timeout=WAIT) == 'said yo'
            assert c.call('whatever', (1, 2), timeout=WAIT) == ['caught', 'whatever', [1, 2]]
            assert wait_for(lambda: ('welcome', ('/room-7',)) in c.received)
        finally:
            c.disconnect()
        assert wait_for(lambda: len(disconnected) == 1), disconnected
        assert disconnected[0] in ('client namespace disconnect', 'transport close'), disconnected


def test_server_to_client_acks_timeouts_and_timers():
    server = sio.Server()
    results = []
    fired = []

    @server.on('start')
    def start(sid):
        server.emit('question', 'q?', to=sid, callback=lambda *a: results.append(('answer', a)))
        server.emit('silent', to=sid, callback=lambda *a: results.append(('silent', a)), timeout=0.2)
        server.call_later(0.05, fired.append, 'timer')
        server.call_later(0.05, fired.append, 'cancelled').cancel()

    with Running(server) as r:
        c = client(r.url)
        c.on('question', lambda q: q + ' 42')
        c.on('silent', lambda: time.sleep(1.0))  # the 5.7 client acks even without a handler
        try:
            c.emit('start')
            assert wait_for(lambda: len(results) == 2)
            assert ('answer', ('q? 42',)) in results
            silent = [a for name, a in results if name == 'silent'][0]
            assert len(silent) == 1 and isinstance(silent[0], sio.TimeoutError)
            assert wait_for(lambda: fired == ['timer'])
            time.sleep(0.1)
            assert fired == ['timer']
        finally:
            c.disconnect()


def test_other_threads_run_while_the_server_waits():
    """The GIL is released inside uv_run: a busy Python thread makes progress meanwhile, and
    emits from that thread are delivered (queued onto the server's thread)."""
    server = sio.Server()
    with Running(server) as r:
        c = client(r.url)
        try:
            sid = c.get_sid('/')
            n = 0
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                n += 1
            assert n > 10000
            # a call from this (non-server) thread is queued onto the server's thread
            server.emit('from-thread', n, to=sid)
            assert wait_for(lambda: ('from-thread', (n,)) in c.received)
        finally:
            c.disconnect()


def _rss_kib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def test_memory_and_refcounts_flat_over_many_handler_calls():
    n = int(os.environ.get('SIO_API_CALLS', '100000'))
    server = sio.Server()
    count = [0]
    payload = {'k': [1, 'two', b'\x03' * 8, {'n': None}]}

    @server.on('tick')
    def tick(sid, value, blob):
        count[0] += 1
        return value, blob               # acked only when asked: exercises the ack path too

    def burst(c, k, base):
        for i in range(k):
            c.emit('tick', (payload, b'xyz'))
        # the last one with an ack; when it comes back every earlier event was handled
        assert c.call('tick', (payload, b'end'), timeout=30) == (payload, b'end')
        assert wait_for(lambda: count[0] == base + k + 1, 30)

    with Running(server) as r:
        c = client(r.url)
        try:
            burst(c, n // 10, 0)
            gc.collect()
            objs, rss = len(gc.get_objects()), _rss_kib()
            refs = sys.getrefcount(payload), sys.getrefcount(None)
            burst(c, n, count[0])
            gc.collect()
            assert count[0] >= n
            assert len(gc.get_objects()) - objs < 500
            assert sys.getrefcount(payload) == refs[0]
            assert _rss_kib() - rss < 8 * 1024, 'RSS grew by %d KiB' % (_rss_kib() - rss)
        finally:
            c.disconnect()


def test_asyncio_mode_shares_the_loop():
    server = sio.Server()
    state = {}

    @server.on('slow')
    async def slow(sid, x):
        await asyncio.sleep(0.05)
        return x * 2

    @server.on('ask-back')
    async def ask_back(sid):
        return await server.call('q', 'why', to=sid, timeout=2)

    async def main():
        port = server.listen('127.0.0.1', 0)
        state['port'] = port
        task = asyncio.ensure_future(server.serve())
        ticks = 0
        while 'done' not in state:
            await asyncio.sleep(0.01)
            ticks += 1
        state['ticks'] = ticks
        server.stop()
        await asyncio.wait_for(task, WAIT)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert wait_for(lambda: 'port' in state)
    c = client('http://127.0.0.1:%d' % state['port'])
    c.on('q', lambda w: 'because ' + w)
    try:
        assert c.call('slow', 21, timeout=WAIT) == 42
        assert c.call('ask-back', timeout=WAIT) == 'because why'
    finally:
        c.disconnect()
        state['done'] = True
    t.join(WAIT)
    assert not t.is_alive()
    assert state['ticks'] > 0


def test_contract_server_exits_0_on_sigterm_and_sigint():
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = subprocess.Popen([os.path.join(ROOT, 'examples', 'contract', 'run'), 'python', '--port', '0'],
                             stdout=subprocess.PIPE, env=RUN_ENV)
        line = p.stdout.readline().decode()
        assert line.startswith('listening on http://127.0.0.1:')
        c = client(line.split()[-1])
        p.send_signal(sig)
        assert p.wait(WAIT) == 0
        c.disconnect()


def test_swig_api_module():
    """sio.api (SWIG, bindings/sio.i): the callback-free part of sio.h, bound once."""
    from sio import api
    assert sio.__version__ == api.sio_version() == '%d.%d.%d' % (
        api.SIO_VERSION_MAJOR, api.SIO_VERSION_MINOR, api.SIO_VERSION_PATCH)
    assert api.sio_err_name(api.SIO_ETIMEDOUT) == 'ETIMEDOUT'
    assert api.sio_strerror(api.SIO_ETIMEDOUT) == 'timed out'
    o = api.sio_io_options_t()
    api.sio_io_options_init(o)
    assert (o.connect_timeout_ms, o.max_attachments) == (45000, 10)
    assert (o.engine.path, o.engine.ping_interval_ms, o.engine.max_payload) == ('/socket.io/', 25000, 1000000)
    # The event path is the hand-written binding's alone.
    assert not hasattr(api, 'sio_io_new') and not hasattr(api, 'sio_socket_emit')
