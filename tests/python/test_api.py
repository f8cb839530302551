"""The `sio` Python API, in process, driven by the python-socketio client: Debian's (5.7), and in
CI also PyPI's (in a venv with the installed wheel).

The package is the in-tree build that `examples/contract/run python` makes
(build-python/pyX.Y/bindings/python, $SIO_PY_BUILD_DIR/bindings/python, or env SIO_PY_PATH); it is
built first when missing. With SIO_PY_INSTALLED=1, the installed package.
Each test runs its own sio.Server on a thread (server.run(handle_signals=False)).
"""

import asyncio
import errno
import gc
import http.client
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib

import pytest
import socketio

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PKG = os.environ.get('SIO_PY_PATH') or os.path.join(
    os.environ.get('SIO_PY_BUILD_DIR') or os.path.join(ROOT, 'build-python', 'py%d.%d' % sys.version_info[:2]),
    'bindings', 'python')


RUN_ENV = dict(os.environ, SIO_PYTHON_EXE=sys.executable, SIO_PY_INSTALLED='0')


def _import_sio():
    if os.environ.get('SIO_PY_INSTALLED') == '1':  # the installed package (a wheel in a venv)
        import sio as mod
        return mod, None
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


# Numbers beyond what a double holds exactly as an integer, and beyond every integer type: any client
# may send them. Converting such a double to an integer type is undefined behaviour, which the
# extension built with -DSIO_SANITIZE_UB=ON turns into an abort (scripts/test.sh runs these there).
BIG_NUMBERS = (1e300, -1e300, 1.7976931348623157e308, -0.0, 2 ** 53, 2 ** 53 + 2, 2 ** 63, -2 ** 63,
               1e20, 0.5)


def assert_big_numbers(out, types=True):
    assert len(out) == len(BIG_NUMBERS)
    for got, want in zip(out, BIG_NUMBERS):
        assert got == want, (got, want)
        # integral and within +-2^53: an int, else a float (as the JSON -> Python rule says)
        exact = abs(want) <= 2 ** 53 and want == int(want)
        assert not types or type(got) is (int if exact else float), (got, want)


def test_big_numbers_keep_their_value():
    assert_big_numbers(sio._core.roundtrip(BIG_NUMBERS))
    # an attachment index no size_t holds: an object like any other
    for num in (1e300, -1e300, 1.5):
        ph = {'_placeholder': True, 'num': num}
        assert sio._core.roundtrip((ph,)) == (ph,)


def test_big_numbers_from_a_client_and_back():
    server = sio.Server()
    seen = []

    @server.on('echo')
    def echo(sid, *args):
        seen.append(args)
        return args

    with Running(server) as r:
        c = client(r.url)
        try:
            back = c.call('echo', BIG_NUMBERS, timeout=WAIT)
        finally:
            c.disconnect()
    assert_big_numbers(seen[0])
    assert_big_numbers(back, types=False)  # the client's JSON decides its types


def test_call_later_takes_any_float():
    server = sio.Server()
    for delay in (1e300, -1e300, float('inf'), float('nan')):
        server.call_later(delay, lambda: None).cancel()


def test_redis_option_and_fetch_count_alone():
    with pytest.raises(ValueError) as e:
        sio.Server(redis='http://nope')
    # the core's error, with the argument it refused
    assert isinstance(e.value, sio.InvalidArgumentError) and e.value.name == 'EINVAL'
    assert "redis 'http://nope': EINVAL" in str(e.value)
    with pytest.raises(ValueError):
        sio.Server(redis='redis://127.0.0.1:1', redis_requests_timeout=0)
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


def test_fetch_sockets_alone():
    server = sio.Server()
    got = []
    with Running(server) as r:
        c1 = client(r.url, auth={'k': 'v'})
        c2 = client(r.url)
        try:
            sid1 = c1.get_sid('/')
            server.sockets_join('picked', to=sid1)
            server.fetch_sockets(lambda err, socks: got.append((err, socks)), to='picked')
            assert wait_for(lambda: len(got) == 1)
            err, socks = got[0]
            assert err is None and len(socks) == 1
            s = socks[0]
            assert list(s) == ['id', 'handshake', 'rooms', 'data']
            assert s['id'] == sid1 and s['rooms'] == [sid1, 'picked'] and s['data'] == {}
            assert s['handshake']['auth'] == {'k': 'v'}
            assert s['handshake']['address'] == '127.0.0.1'
            assert s['handshake']['query']['EIO'] == '4'
            server.fetch_sockets(lambda err, socks: got.append((err, socks)), skip_sid=sid1)
            assert wait_for(lambda: len(got) == 2)
            assert [x['id'] for x in got[1][1]] == [c2.get_sid('/')]
        finally:
            c1.disconnect()
            c2.disconnect()


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url():
    """A redis-server of this test's own on a free port of 127.0.0.1 (no persistence)."""
    if not shutil.which('redis-server'):
        pytest.skip('redis-server is not installed (apt install redis-server)')
    port = _free_port()
    p = subprocess.Popen(['redis-server', '--port', str(port), '--save', '', '--appendonly', 'no',
                          '--bind', '127.0.0.1'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ready = threading.Event()

    def read():
        for line in p.stdout:
            if b'Ready to accept connections' in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(10), 'redis-server did not start'
        yield 'redis://127.0.0.1:%d' % port
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _redis_cli(url, *args):
    port = url.rsplit(':', 1)[1]
    return subprocess.run(['redis-cli', '-p', port, *args], capture_output=True, text=True, timeout=10).stdout


def test_streams_options_reach_redis(redis_url):
    """redis_mode="streams" with its options: the broadcast is an entry of the named stream, the
    namespace's channels carry the prefix (redis_key), and a second node hears the first."""
    kw = dict(redis=redis_url, redis_mode='streams', redis_stream_name='my-stream', redis_key='my-prefix',
              redis_max_len=100, redis_read_count=5, redis_block_time=0.5)
    a, b = sio.Server(**kw), sio.Server(**kw)
    got = []
    with Running(a), Running(b) as rb:
        c = client(rb.url)
        c.on('news', lambda *args: got.append(args))
        try:
            # the nodes subscribe asynchronously: the broadcast is repeated until B's client has it
            assert wait_for(lambda: 'my-prefix#/#' in _redis_cli(redis_url, 'PUBSUB', 'CHANNELS', 'my-prefix*'))
            end = time.monotonic() + WAIT
            while not got and time.monotonic() < end:
                a.emit('news', {'n': 1})
                wait_for(lambda: got, timeout=0.3)
            assert got and got[0] == ({'n': 1},)
            assert int(_redis_cli(redis_url, 'XLEN', 'my-stream')) >= 1
            assert _redis_cli(redis_url, 'EXISTS', 'socket.io').strip() == '0'
        finally:
            c.disconnect()


def _until_answered(server, event, *args, nodes=1, namespace=None):
    """server_side_emit with an ack until `nodes` other nodes answer (the nodes connect to Redis
    and subscribe asynchronously); returns (error, responses)."""
    end = time.monotonic() + WAIT
    while True:
        got = []
        try:
            server.server_side_emit(event, *args, namespace=namespace,
                                    callback=lambda err, res: got.append((err, res)))
        except ConnectionError:
            got.append(('not connected', []))
        assert wait_for(lambda: got)
        if len(got[0][1]) >= nodes or time.monotonic() > end:
            return got[0]
        time.sleep(0.05)


def test_server_side_emit_across_two_nodes(redis_url, caplog):
    a, b = sio.Server(redis=redis_url, redis_requests_timeout=1.5), sio.Server(redis=redis_url)
    seen = []

    @b.on_server_event('ask')
    def ask(*args):
        seen.append(('ask', args))
        return {'got': list(args)}

    b.on_server_event('pair', lambda: ('first', 'dropped'))   # Node takes one ack argument
    b.on_server_event('none', lambda: seen.append('none'))   # None: an answer without a value

    @b.on_server_event('boom')
    def boom():
        raise RuntimeError('kaboom')

    @b.on_server_event('note', namespace='/chat')
    def note(*args):
        seen.append(('note', args))
        return 'ignored: nobody asked'

    @a.on_server_event('ask')
    def ask_self(*args):
        seen.append(('self', args))   # a server_side_emit never reaches its own node

    @a.on_server_event('back')
    def back(x):
        return x * 2

    boomed = []
    with caplog.at_level(logging.ERROR, logger='sio'), Running(a), Running(b):
        assert _until_answered(a, 'ask', 1, 'two', None, {'k': [1.5]}) == \
            (None, [{'got': [1, 'two', None, {'k': [1.5]}]}])
        # the first answer may have come from an earlier try: one 'ask' per try
        assert all(e == ('ask', (1, 'two', None, {'k': [1.5]})) for e in seen), seen
        # a raising handler sends no answer: the sender times out (its requests timeout, 1.5 s)
        t0 = time.monotonic()
        a.server_side_emit('boom', callback=lambda err, res: boomed.append((err, res)))
        got = []
        a.server_side_emit('pair', callback=lambda err, res: got.append((err, res)))
        a.server_side_emit('none', callback=lambda err, res: got.append((err, res)))
        a.server_side_emit('nobody-listens', callback=lambda err, res: got.append((err, res)))
        assert wait_for(lambda: len(got) == 3)
        assert sorted(got, key=repr) == sorted([(None, ['first']), (None, [None]), (None, [None])], key=repr)
        # the other way
        assert _until_answered(b, 'back', 21) == (None, [42])
        # fire and forget, another namespace
        del seen[:]
        b.server_side_emit('note', 'x', [1, {'y': None}], namespace='/chat')
        assert not wait_for(lambda: seen, 0.3)   # not to its own node
        a.server_side_emit('note', 'x', [1, {'y': None}], namespace='/chat')
        assert wait_for(lambda: seen == [('note', ('x', [1, {'y': None}]))])
        assert wait_for(lambda: boomed, 4)
        assert boomed == [('timeout', [])]
        assert 1.4 < time.monotonic() - t0 < 4
    assert any('boom' in rec.getMessage() and rec.exc_info and 'kaboom' in str(rec.exc_info[1])
               for rec in caplog.records if rec.name == 'sio')


def test_all_rooms_selections_and_broadcast_acks_across_two_nodes(redis_url):
    a, b = sio.Server(redis=redis_url), sio.Server(redis=redis_url)

    class Chat(sio.Namespace):
        pass

    chat_a = Chat('/chat')
    a.register_namespace(chat_a)
    b.register_namespace(Chat('/chat'))

    @a.on('connect')
    def connect_a(sid, environ):
        a.enter_room(sid, 'room-a')

    @b.on('connect')
    def connect_b(sid, environ):
        b.enter_room(sid, 'room-b')

    with Running(a) as ra, Running(b) as rb:
        ca, cb1, cb2 = client(ra.url), client(rb.url), client(rb.url)
        for c in (ca, cb1, cb2):
            c.on('ack-me', lambda *args, c=c: c.get_sid('/'))
        sa, sb1, sb2 = (c.get_sid('/') for c in (ca, cb1, cb2))
        try:
            want = sorted([sa, sb1, sb2, 'room-a', 'room-b'])
            rooms = []
            end = time.monotonic() + WAIT
            while time.monotonic() < end:
                got = []
                try:
                    a.all_rooms(lambda err, r: got.append((err, sorted(r))))
                except ConnectionError:
                    got.append(('not connected', []))
                assert wait_for(lambda: got)
                rooms = got[0]
                if rooms == (None, want):
                    break
                time.sleep(0.05)
            assert rooms == (None, want)
            got = []
            chat_a.all_rooms(lambda err, r: got.append((err, r)))   # the class-based proxy
            assert wait_for(lambda: got) and got == [(None, [])]
            # a broadcast with acks: every socket of both nodes answers
            got = []
            a.emit_with_acks('ack-me', 1, callback=lambda err, res: got.append((err, sorted(res))), timeout=3)
            assert wait_for(lambda: got) and got == [(None, sorted([sa, sb1, sb2]))]
            got = []
            a.emit_with_acks('ack-me', callback=lambda err, res: got.append((err, res)), to='room-b',
                             skip_sid=sb1, timeout=3)
            assert wait_for(lambda: got) and got == [(None, [sb2])]
            # socketsJoin / socketsLeave / disconnectSockets reach the other node's sockets
            a.sockets_join('pulled', to=sb1)
            b.sockets_join(['club', 'vip'], to='room-a')
            want = sorted([sa, sb1, sb2, 'room-a', 'room-b', 'pulled', 'club', 'vip'])
            assert wait_for(lambda: sorted(_rooms_now(b)) == want), _rooms_now(b)
            a.sockets_leave('vip')
            b.sockets_leave('pulled', to='pulled')
            want = sorted([sa, sb1, sb2, 'room-a', 'room-b', 'club'])
            assert wait_for(lambda: sorted(_rooms_now(b)) == want), _rooms_now(b)
            # local=True: this node's sockets only
            a.emit('only-here', 7, local=True)
            a.emit('everywhere', 8)
            assert wait_for(lambda: ('everywhere', (8,)) in cb1.received and ('only-here', (7,)) in ca.received)
            time.sleep(0.1)
            assert ('only-here', (7,)) not in cb1.received
            a.disconnect_sockets(to=sb2)
            assert wait_for(lambda: not cb2.connected)
            assert ca.connected and cb1.connected
        finally:
            for c in (ca, cb1, cb2):
                c.disconnect()


def test_server_event_coroutine_handler_in_asyncio_mode(redis_url):
    a, b = sio.Server(redis=redis_url), sio.Server(redis=redis_url)
    state = {}

    @b.on_server_event('slow')
    async def slow(x):
        await asyncio.sleep(0.05)
        return x * 2

    async def main():
        b.listen('127.0.0.1', 0)
        task = asyncio.ensure_future(b.serve())
        state['up'] = True
        while 'done' not in state:
            await asyncio.sleep(0.01)
        b.stop()
        await asyncio.wait_for(task, WAIT)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    try:
        assert wait_for(lambda: 'up' in state)
        with Running(a):
            assert _until_answered(a, 'slow', 21) == (None, [42])
    finally:
        state['done'] = True
        t.join(WAIT)
    assert not t.is_alive()


def _rooms_now(server):
    got = []
    server.all_rooms(lambda err, r: got.append(r))
    assert wait_for(lambda: got)
    return got[0]


def test_cluster_apis_without_a_cluster_and_bad_arguments():
    server = sio.Server()
    with pytest.raises(RuntimeError) as e:
        server.server_side_emit('x', 1)
    assert 'server_side_emit needs a cluster: sio.Server(redis=...)' in str(e.value)
    with pytest.raises(RuntimeError):
        server.server_side_emit('x', callback=lambda err, res: None)
    for reserved in ('connect', 'connection', 'new_namespace'):
        with pytest.raises(ValueError):
            server.server_side_emit(reserved)
        with pytest.raises(ValueError):
            server.on_server_event(reserved, lambda: None)
    with pytest.raises(TypeError):
        server.server_side_emit(42)
    with pytest.raises(TypeError):
        server.on_server_event(None)
    got = []
    with Running(server) as r:
        c = client(r.url)
        try:
            # alone: this node's rooms, the socket's own id included
            server.all_rooms(lambda err, rooms: got.append((err, sorted(rooms))))
            assert wait_for(lambda: got) and got == [(None, [c.get_sid('/')])]
            got = []
            server.all_rooms(lambda err, rooms: got.append((err, rooms)), namespace='/nope')
            assert got == [(None, [])]
            # alone, a broadcast with acks
            c.on('ack-me', lambda x: x + 1)
            got = []
            server.emit_with_acks('ack-me', 41, callback=lambda err, res: got.append((err, res)), timeout=2)
            assert wait_for(lambda: got) and got == [(None, [42])]
        finally:
            c.disconnect()


def test_redis_mode_option_parsing():
    """redis_mode and each engine's own options: a bad value, an option without redis or of
    another mode is refused with a ValueError naming it; good ones make a server (Redis being
    unreachable is not an error at construction)."""
    url = 'redis://127.0.0.1:%d' % _free_port()
    with pytest.raises(ValueError) as e:
        sio.Server(redis=url, redis_mode='stream')
    assert 'redis_mode=\'stream\': "classic", "sharded" or "streams"' in str(e.value)
    with pytest.raises(ValueError) as e:
        sio.Server(redis_mode='streams')
    assert 'need redis=URL' in str(e.value)
    with pytest.raises(ValueError) as e:
        sio.Server(redis=url, redis_mode='sharded', redis_subscription_mode='sometimes')
    assert '"dynamic", "static" or "dynamic-private"' in str(e.value)
    with pytest.raises(ValueError) as e:
        sio.Server(redis=url, redis_subscription_mode='static')  # classic by default
    assert 'redis_subscription_mode needs redis_mode="sharded"' in str(e.value)
    with pytest.raises(ValueError) as e:
        sio.Server(redis=url, redis_mode='sharded', redis_stream_name='s')
    assert 'need redis_mode="streams"' in str(e.value)
    with pytest.raises(ValueError) as e:
        sio.Server(redis=url, redis_mode='streams', redis_read_count=0)
    assert 'at least 1' in str(e.value)
    with pytest.raises(ValueError):
        sio.Server(redis=url, redis_mode=2)
    for mode in (None, 'classic'):
        server = sio.Server(redis=url, redis_mode=mode)
        assert server.stats()['redis'] is not None
    made = {}
    for mode, extra in (('sharded', {'redis_subscription_mode': 'dynamic-private'}),
                        ('streams', {'redis_stream_name': 'mystream', 'redis_stream_count': 2,
                                     'redis_max_len': 500, 'redis_read_count': 10,
                                     'redis_block_time': 0.5, 'redis_session_key_prefix': 'sess:',
                                     'redis_sharded_pubsub': False})):
        for cls in (sio.Server, sio.AsyncServer):
            try:
                server = cls(redis=url, redis_mode=mode, **extra)
            except sio.UnsupportedError:  # the engine's branch not merged into this build yet
                made[mode] = False
                continue
            made[mode] = True
            assert server.stats()['redis'] is not None
    if not all(made.values()):
        pytest.skip('engines not in this build: %s' % [m for m, ok in made.items() if not ok])


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


def test_cluster_apis_with_redis_unreachable():
    server = sio.Server(redis='redis://127.0.0.1:%d' % _free_port())
    with Running(server):
        with pytest.raises(ValueError) as e:   # JSON only, whatever Redis' state
            server._core.server_emit('/', 'x', (b'bytes',))
        assert 'JSON' in str(e.value)
        time.sleep(0.2)
        with pytest.raises(ConnectionError) as e:
            server._core.server_emit('/', 'x', (1,))
        assert 'Redis is not connected' in str(e.value)
        # requests with a callback: answered from the loop, "unavailable", this node's part
        got = []
        server.server_side_emit('x', 1, callback=lambda err, res: got.append((err, res)))
        assert wait_for(lambda: got) and got == [('unavailable', [])]
        got = []
        server.all_rooms(lambda err, rooms: got.append((err, rooms)))
        assert wait_for(lambda: got) and got == [('unavailable', [])]
        got = []
        server.fetch_sockets(lambda err, socks: got.append((err, socks)))
        assert wait_for(lambda: got) and got == [('unavailable', [])]


def _handshake_cookie(url, path='/socket.io/'):
    """The Set-Cookie headers of a polling handshake at url+path, and the session id."""
    import json
    import urllib.request
    with urllib.request.urlopen(url + path + '?EIO=4&transport=polling', timeout=WAIT) as resp:
        body = resp.read().decode()
        return resp.headers.get_all('Set-Cookie') or [], json.loads(body[1:])['sid']


@pytest.mark.parametrize('option, want', [
    (None, None),
    (False, None),
    (True, 'io=%s; Path=/; HttpOnly; SameSite=Lax'),
    ('srv', 'srv=%s; Path=/; HttpOnly; SameSite=Lax'),
    ({'name': 'srv', 'path': '/x', 'domain': 'example.com', 'same_site': 'strict', 'http_only': False,
      'secure': True, 'max_age': 60}, 'srv=%s; Max-Age=60; Domain=example.com; Path=/x; Secure; SameSite=Strict'),
    # Node's spelling and python-engineio's; what is not given keeps Node's default
    ({'httpOnly': False, 'sameSite': 'None', 'secure': True}, 'io=%s; Path=/; Secure; SameSite=None'),
    ({'SameSite': False, 'Max-Age': '5', 'path': False}, 'io=%s; Max-Age=5; HttpOnly'),
])
def test_cookie_option(option, want):
    server = sio.Server(cookie=option)
    server.engine_endpoint('/engine.io/', lambda sid, data: None)
    with Running(server) as r:
        for path in ('/socket.io/', '/engine.io/'):
            cookies, sid = _handshake_cookie(r.url, path)
            assert cookies == ([] if want is None else [want % sid])


@pytest.mark.parametrize('option, error', [
    ('', ValueError), ({'colour': 'red'}, ValueError), ({'max_age': -1}, ValueError), ({'path': 7}, TypeError),
    (3.5, TypeError),
])
def test_cookie_option_refused(option, error):
    with pytest.raises(error) as e:
        sio.Server(cookie=option)
    assert 'cookie' in str(e.value)


def _poll_big(url, accept_encoding, size=3000):
    """A polling session on url's /engine.io/ (an echo endpoint): posts a `size`-character message,
    then polls with that Accept-Encoding; returns (Content-Encoding, Vary, raw body, payload)."""
    import gzip
    import zlib
    port = int(url.rsplit(':', 1)[1])

    def req(method, query, body=None, headers=None):
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=WAIT)
        c.request(method, '/engine.io/?EIO=4&transport=polling' + query, body=body, headers=headers or {})
        resp = c.getresponse()
        data = resp.read()
        c.close()
        return resp, data

    resp, data = req('GET', '', headers={'Accept-Encoding': accept_encoding} if accept_encoding else {})
    assert resp.getheader('Content-Encoding') is None  # the OPEN packet is small
    sid = json.loads(data[1:])['sid']
    msg = '4' + ''.join(chr(0x41 + i % 26) for i in range(size))
    assert req('POST', '&sid=' + sid, body=msg.encode())[1] == b'ok'
    resp, data = req('GET', '&sid=' + sid, headers={'Accept-Encoding': accept_encoding} if accept_encoding else {})
    enc = resp.getheader('Content-Encoding')
    payload = gzip.decompress(data) if enc == 'gzip' else zlib.decompress(data) if enc == 'deflate' else data
    assert payload == msg.encode()
    return enc, resp.getheader('Vary'), data, payload


@pytest.mark.parametrize('kwargs, accept, want', [
    ({}, 'gzip, deflate', 'gzip'),
    ({}, 'gzip;q=0, deflate', 'deflate'),
    ({}, 'br', None),
    ({}, None, None),
    ({'http_compression': True, 'compression_threshold': 500}, 'deflate', 'deflate'),
    ({'http_compression': False}, 'gzip', None),
    ({'compression_threshold': 5000}, 'gzip', None),  # 3001 bytes: under it
])
def test_http_compression_of_polling_responses(kwargs, accept, want):
    server = sio.Server(**kwargs)
    server.engine_endpoint('/engine.io/', lambda sid, data: server.engine_send(sid, data))
    with Running(server) as r:
        enc, vary, raw, payload = _poll_big(r.url, accept)
        assert enc == want
        if want:
            assert vary == 'Accept-Encoding' and len(raw) < len(payload) / 4
        else:
            assert raw == payload


@pytest.mark.parametrize('flag, want', [(False, None), (True, 'gzip')])
def test_http_compression_honours_the_compress_flag(flag, want):
    # As the reference's polling transport: a payload whose every packet said compress(false) goes
    # out plain; one packet without it (the default) makes the whole payload compressible.
    import gzip
    server = sio.Server()

    @server.on('go')
    def go(sid):
        server.to(sid).compress(flag).emit('big', 'y' * 3000)

    with Running(server) as r:
        port = int(r.url.rsplit(':', 1)[1])

        def req(method, query, body=None):
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=WAIT)
            c.request(method, '/socket.io/?EIO=4&transport=polling' + query, body=body,
                      headers={'Accept-Encoding': 'gzip'})
            resp = c.getresponse()
            data = resp.read()
            c.close()
            return resp, data

        sid = json.loads(req('GET', '')[1][1:])['sid']
        assert req('POST', '&sid=' + sid, body=b'40')[1] == b'ok'
        resp, data = req('GET', '&sid=' + sid)  # the CONNECT reply, small
        assert data.startswith(b'40') and resp.getheader('Content-Encoding') is None
        assert req('POST', '&sid=' + sid, body=b'42["go"]')[1] == b'ok'
        resp, data = req('GET', '&sid=' + sid)
        assert resp.getheader('Content-Encoding') == want
        payload = gzip.decompress(data) if want else data
        assert payload == b'42["big","' + b'y' * 3000 + b'"]'


def test_http_compression_threshold_refused():
    for bad in (-1, 1.5, 'big', True):
        with pytest.raises(ValueError):
            sio.Server(compression_threshold=bad)


# What the core refuses (sio_engine_new: SIO_EINVAL for bad cookie options), as its error.
@pytest.mark.parametrize('option', ['a b', {'name': 'a;b'}, {'path': '/;x'}, {'domain': 'a\r\nb'},
                                    {'same_site': 'lux'}])
def test_cookie_option_refused_by_the_core(option):
    with pytest.raises(ValueError) as e:
        sio.Server(cookie=option)
    assert isinstance(e.value, sio.InvalidArgumentError) and e.value.code == sio.api.SIO_EINVAL


def test_lone_surrogates_reach_handlers_as_str_and_go_back():
    # A JSON "\\ud83d" (a string cut inside an emoji) is a str holding the surrogate, in values,
    # keys, event and room names; it goes back out as the same escape.
    lone = ['\ud83d', 'a\ude00b', '\ude00\ud83d', '\x00\ud800\x00', 'x\udbff']
    assert sio._core.roundtrip(tuple(lone) + ({k: k for k in lone},)) == tuple(lone) + ({k: k for k in lone},)
    server = sio.Server()
    got = []

    @server.on('*')
    def any_event(event, sid, *args):
        got.append((event, args))
        server.enter_room(sid, event)
        server.emit(event, *args, to=event)
        return (event,) + args

    with Running(server) as r:
        a = client(r.url)
        try:
            for s in lone:
                ev = 'ev' + s
                assert a.call(ev, (s, {s: [s]}), timeout=WAIT) == (ev, s, {s: [s]})
                assert got[-1] == (ev, (s, {s: [s]}))
                assert wait_for(lambda: (ev, (s, {s: [s]})) in a.received)
        finally:
            a.disconnect()


def _handshake_status(port, headers, upgrade=False):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=WAIT)
    h = dict(headers)
    if upgrade:
        h.update({'Connection': 'Upgrade', 'Upgrade': 'websocket', 'Sec-WebSocket-Version': '13',
                  'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='})
    c.request('GET', '/socket.io/?EIO=4&transport=' + ('websocket' if upgrade else 'polling'), headers=h)
    r = c.getresponse()
    body = r.read() if not upgrade else b''
    acao = r.getheader('Access-Control-Allow-Origin')
    c.close()
    return r.status, body, acao


@pytest.mark.parametrize('upgrade', [False, True])
def test_cors_allowed_origins_as_python_socketio(upgrade):
    # None (the default): this server's own origin only (Host, or X-Forwarded-Host behind a proxy)
    with Running(sio.Server()) as r:
        own = 'http://127.0.0.1:%d' % r.port
        assert _handshake_status(r.port, {'Origin': own}, upgrade)[0] in (200, 101)
        assert _handshake_status(r.port, {'Origin': own.replace('http', 'https')}, upgrade)[0] in (200, 101)
        assert _handshake_status(r.port, {}, upgrade)[0] in (200, 101)  # not a browser
        status, body, acao = _handshake_status(r.port, {'Origin': 'http://evil.example'}, upgrade)
        assert status == 403 and acao is None
        if not upgrade:
            assert json.loads(body) == {'code': 4, 'message': 'Forbidden'}
        assert _handshake_status(r.port, {'Origin': 'http://chat.example',
                                          'X-Forwarded-Host': 'chat.example, proxy'}, upgrade)[0] in (200, 101)
        assert _handshake_status(r.port, {'Origin': 'http://127.0.0.1:1'}, upgrade)[0] == 403
    # a list: those only, exactly; "*": any; []: any, without CORS headers
    with Running(sio.Server(cors_allowed_origins=['http://a.example', 'http://b.example'])) as r:
        assert _handshake_status(r.port, {'Origin': 'http://b.example'}, upgrade)[0] in (200, 101)
        assert _handshake_status(r.port, {'Origin': 'http://127.0.0.1:%d' % r.port}, upgrade)[0] == 403
    for allowed, want_acao in (('*', '*'), ([], None)):
        with Running(sio.Server(cors_allowed_origins=allowed)) as r:
            status, _, acao = _handshake_status(r.port, {'Origin': 'http://evil.example'}, upgrade)
            assert status in (200, 101)
            if not upgrade:
                assert acao == want_acao


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
        assert disconnected[0] in ('client disconnect', 'transport close'), disconnected


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


def test_acks_are_the_cores_one_shot_handles():
    """An ack answers once (sio_ack_t): a second call, or one after the client left, sends nothing
    and returns False; bool(ack) says whether it can still send; from another thread it is
    queued; an ack dropped on another thread is freed on the server's (no crash, no leak)."""
    server = sio.Server()
    kept, results, dropped = [], [], []

    @server.on('twice')
    def twice(sid, *, ack):
        results.append((bool(ack), ack('first'), bool(ack), ack('second')))

    @server.on('later')
    def later(sid, *, ack):
        kept.append(ack)

    @server.on('noack')
    def noack(sid, *, ack):
        results.append(('noack', bool(ack), ack('x')))

    @server.on('drop')
    def drop(sid, *, ack):
        dropped.append(ack)

    @server.on('ping')
    def ping(sid):
        return 'pong'

    left = []
    server.on('disconnect', lambda sid: left.append(sid))

    with Running(server) as r:
        c = client(r.url)
        try:
            assert c.call('twice', timeout=WAIT) == 'first'
            assert results.pop() == (True, True, False, False)
            c.emit('noack')
            assert wait_for(lambda: results) and results.pop() == ('noack', False, False)
            got = []
            c.emit('later', callback=lambda *a: got.append(a))
            assert wait_for(lambda: kept)
            # from this (another) thread: queued onto the server's thread, sent once
            assert kept[0]('from', 'thread') is True
            assert wait_for(lambda: got) and got == [('from', 'thread')]
            assert not kept[0]
            # dropped here while the loop runs: the handle goes back to the server's thread
            c.emit('drop', callback=lambda *a: None)
            assert wait_for(lambda: dropped)
            del dropped[:]
            gc.collect()
            assert c.call('ping', timeout=WAIT) == 'pong'
            c.emit('later', callback=lambda *a: got.append(a))
            assert wait_for(lambda: len(kept) == 2)
        finally:
            c.disconnect()
        assert wait_for(lambda: left)
        # the client left: nothing can be sent (queued from here, it is refused there)
        server.call_soon_threadsafe(lambda: results.append(('gone', bool(kept[1]), kept[1]._handle('late'))))
        assert wait_for(lambda: results) and results.pop() == ('gone', False, False)


def acked(c, event, *args):
    """The values of the ack of event(*args), as a tuple."""
    got, done = [], threading.Event()
    c.emit(event, tuple(args), callback=lambda *a: (got.append(a), done.set()))
    assert done.wait(WAIT)
    return got[0]


def test_handlers_called_by_the_core_follow_every_change(caplog):
    """_core calls a plain handler itself once _dispatch has seen its event (Server._fast): a
    second call of every event below takes that path, and must behave as the first (arity, *args,
    return value as ack, a keyword-only ack, errors); replacing a handler, a catch-all and an event
    not seen before behave as without it."""
    server = sio.Server()
    kept = []

    @server.on('ev')
    def ev_a(sid, x):
        return 'a', x

    @server.on('two')
    def two(sid, a, b=None):  # undeclared arguments are dropped, as Node does
        return [a, b]

    @server.on('var')
    def var(sid, *args):
        return list(args)

    @server.on('none')
    def none(sid):
        return None  # an ack of no values

    @server.on('boom')
    def boom(sid):
        raise ValueError('boom')

    @server.on('twice')
    def twice(sid, *args, ack):
        kept.append((ack(*args), ack('again'), bool(ack)))

    @server.on('mutate')
    def mutate(sid, d, items, *, ack):  # not the packet's own values any more: converted
        d['added'] = True
        items.append(3)
        ack(d, items)

    @server.on('same')
    def same(sid, *args, ack):  # the very values made of the packet: sent as they came
        ack(*args)

    @server.on('keys')
    def keys(sid):
        return {1: 'not a str key'}

    @server.on('star')
    def star_specific(sid):
        return 'specific'

    server.on('*', lambda event, sid, *args: ('catch-all', event) + args)
    caplog.set_level(logging.ERROR, logger='sio')
    deep = 'x'
    for _ in range(40):
        deep = [deep, {'k': deep}] if len(str(deep)) < 4000 else [deep]
    many = list(range(40)) + ['s', None, True, 1.5, {'a': [1, 2]}]

    with Running(server) as r:
        c = client(r.url)
        try:
            for _ in range(2):  # the first fills the fast path, the second takes it
                assert acked(c, 'ev', 1) == ('a', 1)
                assert acked(c, 'two', 1, 2, 3) == ([1, 2],)
                assert acked(c, 'two', 1) == ([1, None],)
                assert acked(c, 'var') == ([],)
                assert acked(c, 'var', *many) == (many,)
                assert acked(c, 'var', deep) == ([deep],)
                assert acked(c, 'none') == ()
                assert acked(c, 'twice', 'x', 2) == ('x', 2)
                assert kept.pop() == (True, False, False)
                assert acked(c, 'mutate', {'k': 'v'}, [1, 2]) == ({'k': 'v', 'added': True}, [1, 2, 3])
                for args in (('s',), ('s', 1, 2.5, None, True, False, 'é\u2028'), (b'\x00bin', 'b')):
                    assert acked(c, 'same', *args) == args
                assert acked(c, 'same', *many) == tuple(many)
                assert acked(c, 'star') == ('specific',)
                assert acked(c, 'unknown-%d' % _, 9) == ('catch-all', 'unknown-%d' % _, 9)
                c.emit('boom')
                c.emit('keys', callback=lambda *a: kept.append(a))
                assert acked(c, 'ev', 2) == ('a', 2)
            # every plain handler above went through the core's fast path the second time
            assert set(server._fast['/']) == {'ev', 'two', 'var', 'none', 'boom', 'twice', 'mutate', 'same',
                                              'keys', 'star'}
            assert not kept  # a dict with a non-str key cannot be sent: no ack, an error logged
            errors = [rec.getMessage() for rec in caplog.records]
            assert sum("error in the handler of event 'boom'" in m for m in errors) == 2
            assert sum('cannot be sent as an ack' in m for m in errors) == 2

            # replaced after the fast path was filled: the new handler from the next event on
            @server.on('ev')
            def ev_b(sid, x):
                return 'b', x

            assert acked(c, 'ev', 3) == ('b', 3)
            assert acked(c, 'ev', 4) == ('b', 4)
            # a handler that now takes an ack, and one for an event first seen by the catch-all
            server.on('ev', lambda sid, x, *, ack: ack('c', x))
            server.on('unknown-0', lambda sid, x: 'now handled')
            for _ in range(2):
                assert acked(c, 'ev', 5) == ('c', 5)
                assert acked(c, 'unknown-0', 1) == ('now handled',)
            # a Node-shaped socket (a "connection" handler) has its listeners first
            server.on('connection', lambda socket: socket.on('ev', lambda x, ack: ack('node', x)))
            c2 = client(r.url)
            try:
                for _ in range(2):
                    assert acked(c2, 'ev', 6) == ('node', 6)
                    assert acked(c, 'ev', 7) == ('c', 7)
            finally:
                c2.disconnect()
        finally:
            c.disconnect()


def test_a_coroutine_handler_called_by_the_core_in_asyncio_mode():
    """The fast path hands a coroutine's result to the asyncio mode as _dispatch does."""
    server = sio.Server()
    state = {}

    @server.on('double')
    async def double(sid, x):
        await asyncio.sleep(0.01)
        return x * 2

    @server.on('acked')
    async def acked(sid, x, *, ack):
        await asyncio.sleep(0.01)
        ack(x, 'later')

    async def main():
        state['port'] = server.listen('127.0.0.1', 0)
        task = asyncio.ensure_future(server.serve())
        while 'done' not in state:
            await asyncio.sleep(0.01)
        server.stop()
        await asyncio.wait_for(task, WAIT)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert wait_for(lambda: 'port' in state)
    c = client('http://127.0.0.1:%d' % state['port'])
    try:
        for i in range(3):
            assert c.call('double', i, timeout=WAIT) == i * 2
            assert c.call('acked', i, timeout=WAIT) == (i, 'later')
    finally:
        c.disconnect()
        state['done'] = True
    t.join(WAIT)
    assert not t.is_alive()


def test_sio_ack_is_the_cores_server_ack():
    """sio.Ack subclasses _core.ServerAck (the calls in C), made by Python code as before."""
    server = sio.Server()
    a = sio.Ack(server, None)
    assert isinstance(a, sio._core.ServerAck) and not a and a() is False and a._handle is None
    assert a._server is server
    with pytest.raises(TypeError):
        a(x=1)
    with pytest.raises(TypeError):
        sio.Ack(server)
    calls = []

    class Stand:  # a stand-in handle: called as it is
        def __call__(self, *values):
            calls.append(values)
            return True

        def __bool__(self):
            return True

    b = sio.Ack(server, Stand())
    assert b and b(1, 'x') is True and calls == [(1, 'x')]


def test_connect_environ_is_built_from_the_cores_handshake():
    server = sio.Server()
    seen = []

    @server.on('connect')
    def connect(sid, environ, auth):
        seen.append((environ, auth))

    with Running(server) as r:
        c = socketio.Client(reconnection=False)
        c.connect(r.url + '/?x=a%20b&x=c', auth={'k': [1]}, transports=['websocket'],
                  headers={'X-Custom': 'v'}, wait_timeout=WAIT)
        try:
            assert wait_for(lambda: seen)
            env, auth = seen[0]
            hs = env['sio.handshake']
            assert auth == hs['auth'] == {'k': [1]}
            assert hs['query']['x'] == 'c' and hs['query']['EIO'] == '4'  # decoded, the last one
            assert hs['address'] == env['REMOTE_ADDR'] == '127.0.0.1'
            assert hs['headers']['x-custom'] == env['HTTP_X_CUSTOM'] == 'v'
            assert env['RAW_URI'] == hs['url'] and env['QUERY_STRING'] == hs['url'].split('?', 1)[1]
            assert env['wsgi.url_scheme'] == 'http' and hs['secure'] is False
            assert env['sio.time_ms'] == hs['issued'] and isinstance(hs['time'], str)
            assert env['sio.protocol'] == 4 and env['sio.namespace'] == '/'
        finally:
            c.disconnect()


def test_errors_of_the_core_are_sio_errors():
    server = sio.Server()
    with pytest.raises(sio.ReservedEventError) as e:
        server._core.emit('/', 'disconnect', (), None, None)
    assert isinstance(e.value, ValueError) and e.value.code == sio.api.SIO_ERESERVED
    assert e.value.name == 'ERESERVED' and str(e.value).startswith('emit: ERESERVED: reserved event name')
    with pytest.raises(sio.ReservedEventError):
        server.on_server_event('new_namespace', lambda: None)
    port = server.listen('127.0.0.1', 0)
    other = sio.Server()
    with pytest.raises(OSError) as e:
        other.listen('127.0.0.1', port)
    assert e.value.errno == errno.EADDRINUSE and 'EADDRINUSE' in str(e.value)
    with pytest.raises(sio.NotFoundError) as e:
        server.static('/x/', os.path.join(ROOT, 'no-such-directory'))
    assert isinstance(e.value, FileNotFoundError) and e.value.name == 'ENOTFOUND'
    server.stop()
    server._core.close()
    with pytest.raises(sio.ClosedError) as e:
        server.fetch_count(lambda err, n: None)
    assert isinstance(e.value, ConnectionError)


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


def test_other_threads_run_while_events_are_handled():
    """The loop's thread keeps the GIL for the events of one loop iteration only: a busy Python
    thread makes progress while a client keeps the server busy, a handler may release the GIL
    (time.sleep) inside such a batch, and an ack called from another thread is still queued."""
    server = sio.Server()
    acks = []

    @server.on('tick')
    def tick(sid, x):
        if x % 50 == 0:
            time.sleep(0.001)
        return x

    @server.on('hand-off')
    def hand_off(sid, x, *, ack):
        threading.Thread(target=lambda: acks.append(ack('from-thread', x))).start()

    with Running(server) as r:
        c = client(r.url)
        try:
            done, got = threading.Event(), []

            def drive():
                for i in range(300):
                    got.append(acked(c, 'tick', i))
                done.set()

            threading.Thread(target=drive, daemon=True).start()
            n = 0
            while not done.is_set():
                n += 1
            assert got == [(i,) for i in range(300)]
            assert n > 1000
            assert acked(c, 'hand-off', 7) == ('from-thread', 7) and acks == [True]
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
    mark = {'server-side': [True]}      # converted to JSON by the binding on every ack

    @server.on('tick')
    def tick(sid, value, blob):
        count[0] += 1
        return value, blob, mark         # acked only when asked: exercises the ack path too

    def burst(c, k, base):
        for i in range(k):
            c.emit('tick', (payload, b'xyz'))
        # the last one with an ack; when it comes back every earlier event was handled
        assert c.call('tick', (payload, b'end'), timeout=30) == (payload, b'end', mark)
        assert wait_for(lambda: count[0] == base + k + 1, 30)

    with Running(server) as r:
        c = client(r.url)
        try:
            burst(c, n // 10, 0)
            gc.collect()
            objs, rss = len(gc.get_objects()), _rss_kib()
            # server-side objects the binding touches on every call: the handler it calls, the
            # value it converts, the server it dispatches through, None it passes around
            refs = [sys.getrefcount(o) for o in (tick, mark, server, server._core)]
            nones = sys.getrefcount(None)
            burst(c, n, count[0])
            gc.collect()
            assert count[0] >= n
            assert len(gc.get_objects()) - objs < 500
            assert [sys.getrefcount(o) for o in (tick, mark, server, server._core)] == refs
            # None's count moves with whatever else runs (not with each call: a leak would be n)
            assert abs(sys.getrefcount(None) - nones) < n // 10
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


def test_asyncio_mode_awaits_a_coroutine_connect_handler():
    server = sio.Server()
    seen = []

    @server.on('connect')
    async def connect(sid, environ, auth):
        await asyncio.sleep(0.05)  # the decision comes later, from the asyncio loop
        seen.append(auth)
        if auth.get('who') == 'mallory':
            raise sio.ConnectionRefusedError('unauthorized', {'why': 'mallory'})
        if auth.get('who') == 'eve':
            return False
        server.emit('welcome', auth['who'], to=sid)  # queued until the socket is in

    state = {}

    async def main():
        state['port'] = server.listen('127.0.0.1', 0)
        task = asyncio.ensure_future(server.serve())
        while 'done' not in state:
            await asyncio.sleep(0.01)
        server.stop()
        await asyncio.wait_for(task, WAIT)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert wait_for(lambda: 'port' in state)
    url = 'http://127.0.0.1:%d' % state['port']
    try:
        c = client(url, auth={'who': 'alice'})
        assert wait_for(lambda: ('welcome', ('alice',)) in c.received)
        c.disconnect()
        errors = []
        for who in ('mallory', 'eve'):
            c = socketio.Client(reconnection=False)
            c.on('connect_error', lambda data: errors.append(data))
            with pytest.raises(socketio.exceptions.ConnectionError):
                c.connect(url, auth={'who': who}, transports=['websocket'], wait_timeout=2)
            c.disconnect()
        assert errors == [{'message': 'unauthorized', 'data': {'why': 'mallory'}},
                          {'message': 'Connection rejected by server'}]
        assert [a['who'] for a in seen] == ['alice', 'mallory', 'eve']
    finally:
        state['done'] = True
    t.join(WAIT)
    assert not t.is_alive()


def test_a_coroutine_connect_handler_without_asyncio_refuses_and_logs(caplog):
    server = sio.Server()

    @server.on('connect')
    async def connect(sid, environ, auth):
        return True

    with Running(server) as r:
        with pytest.raises(socketio.exceptions.ConnectionError):
            client(r.url)
    assert 'needs the asyncio mode' in caplog.text


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


# Volatile emits over raw HTTP long-polling, where "not writable" is exact: with no GET waiting, a
# volatile event is dropped and a normal one queued; with a GET waiting, the volatile one goes out.
class Polling:
    def __init__(self, port):
        self.port = port
        self.sid = None

    def request(self, method, body=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        q = '?EIO=4&transport=polling' + ('&sid=' + self.sid if self.sid else '')
        conn.request(method, '/socket.io/' + q, body=body, headers={'Content-Type': 'text/plain;charset=UTF-8'})
        res = conn.getresponse()
        data = res.read().decode()
        conn.close()
        assert res.status == 200, (res.status, data)
        return data

    def open(self):
        first = self.request('GET')
        assert first.startswith('0{')
        self.sid = json.loads(first[1:])['sid']
        assert self.request('POST', '40') == 'ok'
        assert self.request('GET').startswith('40{')


def test_volatile_dropped_only_when_the_transport_is_not_writable():
    server = sio.Server(ping_interval=20, ping_timeout=20)
    sids = []

    @server.on('connect')
    def connect(sid, environ, auth):
        sids.append(sid)

    @server.on('trigger')
    def trigger(sid, n):
        server.emit('v', n, to=sid, volatile=True)
        server.emit('n', n, to=sid)

    with Running(server) as r:
        p = Polling(r.port)
        p.open()
        # no GET waiting: the volatile event is dropped, the normal one waits for the next GET
        assert p.request('POST', '42["trigger",1]') == 'ok'
        time.sleep(0.1)
        assert p.request('GET') == '42["n",1]'
        # a GET waiting: the volatile event is written to it
        got = []
        t = threading.Thread(target=lambda: got.append(p.request('GET')))
        t.start()
        time.sleep(0.3)
        assert p.request('POST', '42["trigger",2]') == 'ok'
        t.join(5)
        assert got and got[0].split('\x1e')[0] == '42["v",2]'
        rest = got[0].split('\x1e')[1:]
        if not rest:  # the normal one was left for the next GET
            rest = [p.request('GET')]
        assert rest == ['42["n",2]']


def test_call_every_repeats_until_cancelled():
    server = sio.Server()
    ticks = []
    state = {}

    def tick(tag):
        ticks.append((tag, time.monotonic()))
        if len(ticks) == 2:
            raise RuntimeError('a raising call is logged, the timer goes on')
        if len(ticks) == 5:
            state['timer'].cancel()

    with pytest.raises(ValueError):
        server.call_every(0, tick, 'x')
    with Running(server):
        server.call_soon_threadsafe(lambda: state.setdefault('timer', server.call_every(0.02, tick, 't')))
        assert wait_for(lambda: len(ticks) == 5)
        time.sleep(0.1)
        assert len(ticks) == 5 and not state['timer'].active
        server.call_soon_threadsafe(lambda: server.call_every(0.01, lambda: None))  # left running: stop() ends it
    gaps = [b[1] - a[1] for a, b in zip(ticks, ticks[1:])]
    assert all(g >= 0.015 for g in gaps), gaps


# ---- permessage-deflate --------------------------------------------------------------------

def _ws_frames(sock, buf):
    """Yields (first byte, payload) of each server frame read from sock (unmasked)."""
    while True:
        while len(buf) < 2 or len(buf) < _frame_len(buf):
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        n = _frame_len(buf)
        hlen = n - _payload_len(buf)
        yield buf[0], bytes(buf[hlen:n])
        del buf[:n]


def _payload_len(b):
    n = b[1] & 0x7f
    if n == 126:
        return int.from_bytes(b[2:4], 'big') if len(b) >= 4 else 1 << 62
    if n == 127:
        return int.from_bytes(b[2:10], 'big') if len(b) >= 10 else 1 << 62
    return n


def _frame_len(b):
    n = b[1] & 0x7f
    return (2 if n < 126 else 4 if n == 126 else 10) + _payload_len(b)


def _ws_send(sock, text):
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126
                            else bytes([0x80 | 126]) + len(data).to_bytes(2, 'big'))
    sock.sendall(head + mask + bytes(c ^ mask[i & 3] for i, c in enumerate(data)))


def _inflate(payload):
    d = zlib.decompressobj(-15)
    return d.decompress(payload + b'\x00\x00\xff\xff')


def _deflate_client(port, want_head=b''):
    """A hand-made WebSocket client offering permessage-deflate, connected to "/": (socket, frames).
    want_head: a header line the 101 must also carry."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
    sock.sendall(b'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n'
                 b'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
                 b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                 b'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n')
    buf = bytearray()
    while b'\r\n\r\n' not in buf:
        buf += sock.recv(4096)
    head, _, rest = bytes(buf).partition(b'\r\n\r\n')
    head += b'\r\n'
    assert b'\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; ' \
           b'client_no_context_takeover\r\n' in head
    assert want_head in head and b'\r\n\r\n' not in head  # one blank line, after every header
    frames = _ws_frames(sock, bytearray(rest))
    assert next(frames)[1].startswith(b'0{')
    _ws_send(sock, '40')
    assert next(frames)[1].startswith(b'40{')
    return sock, frames


def test_compress_false_crosses_the_cluster(redis_url):
    # Node's adapter carries flags.compress: a broadcast made on one node with compress(False)
    # reaches another node's deflate client uncompressed, a default one compressed.
    a, b = sio.Server(redis=redis_url), sio.Server(redis=redis_url, per_message_deflate=True)
    b.on_server_event('ping', lambda: 'pong')
    with Running(a), Running(b) as rb:
        assert _until_answered(a, 'ping')[1] == ['pong']
        sock, frames = _deflate_client(rb.port)
        try:
            a.compress(False).emit('plain', 'y' * 2000)
            a.emit('big', 'x' * 2000)
            b0, plain = next(frames)
            assert b0 == 0x81 and plain == b'42["plain","' + b'y' * 2000 + b'"]'
            b0, big = next(frames)
            assert b0 == 0xc1 and _inflate(big) == b'42["big","' + b'x' * 2000 + b'"]'
        finally:
            sock.close()


@pytest.mark.parametrize('option, threshold', [(True, 1024), ({'threshold': 100}, 100)])
def test_per_message_deflate_and_compress_false(option, threshold):
    server = sio.Server(per_message_deflate=option)

    @server.engine.on('headers')  # the 101 carries the hook's headers beside the extension's
    def headers(headers, environ):
        headers['X-Served-By'] = 'node-1'

    @server.on('go')
    def go(sid, n):
        server.emit('big', 'x' * n, to=sid)
        server.to(sid).compress(False).emit('plain', 'y' * n)
        server.emit('small', 'z', to=sid)
        server.compress(False).emit('plain2', 'v' * n)  # io.compress(false): everyone, plain
        server.to(sid).compress(False).compress(True).emit('big2', 'w' * n)

    with Running(server) as r:
        sock, frames = _deflate_client(r.port, b'\r\nX-Served-By: node-1\r\n')
        try:
            _ws_send(sock, '42["go",%d]' % threshold)
            b0, big = next(frames)
            assert b0 == 0xc1  # FIN, RSV1, text
            assert _inflate(big) == b'42["big","' + b'x' * threshold + b'"]'
            b0, plain = next(frames)
            assert b0 == 0x81 and plain == b'42["plain","' + b'y' * threshold + b'"]'
            b0, small = next(frames)
            assert b0 == 0x81 and small == b'42["small","z"]'
            b0, plain2 = next(frames)
            assert b0 == 0x81 and plain2 == b'42["plain2","' + b'v' * threshold + b'"]'
            b0, big2 = next(frames)
            assert b0 == 0xc1 and _inflate(big2) == b'42["big2","' + b'w' * threshold + b'"]'
        finally:
            sock.close()


@pytest.mark.parametrize('option, error', [
    ('yes', TypeError), ({'level': 3}, ValueError), ({'threshold': 0}, ValueError),
    ({'threshold': 'big'}, ValueError),
])
def test_per_message_deflate_refused(option, error):
    with pytest.raises(error) as e:
        sio.Server(per_message_deflate=option)
    assert 'per_message_deflate' in str(e.value)


# ---- the msgpack parser: sio.Server(serializer="msgpack") / parser="msgpack" ----

def _mp(v):
    """A value as notepack.io writes it (enough of msgpack for these tests)."""
    import struct
    if v is None:
        return b'\xc0'
    if v is True or v is False:
        return b'\xc3' if v else b'\xc2'
    if isinstance(v, int):
        if 0 <= v < 0x80:
            return bytes([v])
        if -0x20 <= v < 0:
            return struct.pack('b', v)
        for lo, hi, code, fmt in ((0, 0xff, 0xcc, '>B'), (0, 0xffff, 0xcd, '>H'), (0, 0xffffffff, 0xce, '>I'),
                                  (-0x80, 0x7f, 0xd0, '>b'), (-0x8000, 0x7fff, 0xd1, '>h'),
                                  (-0x80000000, 0x7fffffff, 0xd2, '>i')):
            if lo <= v <= hi:
                return bytes([code]) + struct.pack(fmt, v)
        return (b'\xcf' + struct.pack('>Q', v)) if v >= 0 else (b'\xd3' + struct.pack('>q', v))
    if isinstance(v, float):
        return b'\xcb' + struct.pack('>d', v)
    if isinstance(v, str):
        b = v.encode('utf-8')
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b'\xd9' + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b'\xc4' + bytes([len(v)]) + v
    if isinstance(v, (list, tuple)):
        return bytes([0x90 | len(v)]) + b''.join(_mp(x) for x in v)
    assert isinstance(v, dict)
    return bytes([0x80 | len(v)]) + b''.join(_mp(k) + _mp(x) for k, x in v.items())


class _Polling:
    """An Engine.IO v4 polling session by hand: binary messages go as "b<base64>"."""

    def __init__(self, port):
        self.port = port
        body = self._req('GET', '')
        assert body.startswith(b'0{'), body
        self.sid = json.loads(body[1:])['sid']

    def _req(self, method, body, sid=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=WAIT)
        try:
            q = '/socket.io/?EIO=4&transport=polling' + ('&sid=' + sid if sid else '')
            conn.request(method, q, body=body, headers={'Content-Type': 'text/plain;charset=UTF-8'})
            r = conn.getresponse()
            self.status = r.status
            return r.read()
        finally:
            conn.close()

    def send(self, packet):
        import base64
        body = packet if isinstance(packet, str) else 'b' + base64.b64encode(packet).decode()
        assert self._req('POST', body, self.sid) == b'ok'

    def receive(self):
        import base64
        body = self._req('GET', '', self.sid)
        return [base64.b64decode(m[1:]) if m.startswith(b'b') else m for m in body.split(b'\x1e')]


@pytest.mark.parametrize('kwargs', [{'serializer': 'msgpack'}, {'parser': 'msgpack'}])
def test_msgpack_parser_values_reach_handlers_and_go_back(kwargs):
    server = sio.Server(**kwargs)
    seen = []

    @server.on('echo')
    def echo(sid, *args):
        seen.append(args)
        return args

    args = [1, -2, 300, 2 ** 40, 1.5, 'é\x00😀', b'\x01\x02', {'k': [b'', True, None]}]
    with Running(server) as r:
        s = _Polling(r.port)
        s.send(_mp({'type': 0, 'nsp': '/'}))
        reply = s.receive()
        assert len(reply) == 1 and reply[0].startswith(b'\x83' + _mp('type') + _mp(0) + _mp('data')), reply
        s.send(_mp({'type': 2, 'data': ['echo'] + args, 'nsp': '/', 'id': 5}))
        assert s.receive() == [_mp({'id': 5, 'type': 3, 'data': args, 'nsp': '/'})]
        # a text message (the JSON parser's) closes the session
        s.send('42["echo"]')
        assert s.receive() in ([b'1'], [b'6', b'1'])
    assert seen == [tuple(args)]
    assert [type(a) for a in seen[0]] == [type(a) for a in args]


@pytest.mark.parametrize('kwargs', [{'serializer': 'pickle'}, {'parser': 'json'}, {'parser': 1},
                                    {'parser': 'MSGPACK'}])
def test_msgpack_parser_bad_values_refused(kwargs):
    with pytest.raises(ValueError):
        sio.Server(**kwargs)
