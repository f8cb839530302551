"""Debian's python3-socketio (5.7.x, sync socketio.Client) against the contract server.

Every row of shared/contract.md, over a WebSocket-only and a polling-only connection.
Notes on python-socketio 5.7 that shape these tests:
- it sends `{}` as the CONNECT payload when no auth is given, so "without auth" is `{}` on the wire;
- client.call() returns None for an ack without arguments, the value for one argument and a
  tuple for several;
- it acknowledges every event that asks for an ack, even when no handler is registered (with no
  arguments), so a client that "never answers" needs a handler that blocks past the deadline;
- each Engine.IO message is handled in a thread of its own, so the order of events is not
  asserted across different events;
- on polling it aborts the connection when one GET response holds more than 16 packets, so no
  test makes the server queue a burst for a polling client;
- on polling, disconnect() while a POST is in flight loses the DISCONNECT/CLOSE (see Conn.close).
"""

import json as std_json
import os
import threading
import time
import uuid

import pytest
import socketio
import socketio.exceptions
import socketio.packet
from engineio import json as eio_json

from conftest import start_server

WAIT = 5.0       # upper bound of every wait for something that should happen
SETTLE = 0.4     # how long to wait for something that should not happen
TRANSPORTS = ['websocket', 'polling']

RECORDED = ['connect', 'auth', 'message-back', 'echo', 'broadcast', 'room-message', 'welcome', 'nsp',
            'disconnect', 'connect_error']


class _RawUtf8Json:
    """The default JSON module of python-socketio, but writing non-ASCII text as raw UTF-8
    instead of \\u escapes (so that the server's parser sees both forms)."""
    loads = staticmethod(eio_json.loads)

    @staticmethod
    def dumps(*args, **kwargs):
        kwargs.setdefault('ensure_ascii', False)
        return std_json.dumps(*args, **kwargs)


class RawUtf8Packet(socketio.packet.Packet):
    json = _RawUtf8Json


class Recorder:
    """Thread-safe log of the events a client received: (namespace, event, args)."""

    def __init__(self):
        self.cond = threading.Condition()
        self.log = []

    def handler(self, ns, event):
        def record(*args):
            with self.cond:
                self.log.append((ns, event, args))
                self.cond.notify_all()
        return record

    def all(self, event, ns='/'):
        with self.cond:
            return [a for (n, e, a) in self.log if n == ns and e == event]

    def wait(self, event, ns='/', n=1, timeout=WAIT, where=None):
        """Waits until `n` matching events arrived; returns their argument tuples."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [a for a in self.all(event, ns) if where is None or where(a)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError('timed out waiting for %d %r event(s) on %s; log: %r'
                                         % (n, event, ns, self.log))
                self.cond.wait(left)


class Conn:
    """A python-socketio client with a Recorder on every namespace it uses."""

    def __init__(self, url, transport, namespaces=('/',), auth=None, handlers=None,
                 serializer='default', wait_timeout=WAIT, ordered=False):
        self.sio = socketio.Client(reconnection=False, handle_sigint=False,
                                   serializer=serializer)
        if ordered:
            self._handle_messages_in_order()
        self.rec = Recorder()
        self.namespaces = list(namespaces)
        for ns in self.namespaces:
            for event in RECORDED:
                self.sio.on(event, self.rec.handler(ns, event), namespace=ns)
        for (ns, event), fn in (handlers or {}).items():
            self.sio.on(event, fn, namespace=ns)
        self.url, self.transport, self.auth, self.wait_timeout = url, transport, auth, wait_timeout

    def _handle_messages_in_order(self):
        # Debian's python-engineio 4.3.4 hands each received message to a thread of its own, so a
        # binary packet's attachment can be parsed before its header (int(b'\xaf') in
        # packet.decode, seen once in many runs). Ordered: parsed on the reader thread, in order;
        # only for handlers that never wait on the server (they would wait on this very thread).
        eio = self.sio.eio
        trigger = eio._trigger_event

        def in_order(event, *args, **kw):
            if event == 'message':
                kw['run_async'] = False
            return trigger(event, *args, **kw)
        eio._trigger_event = in_order

    def connect(self, wait=True):
        self.sio.connect(self.url, auth=self.auth, transports=[self.transport],
                         namespaces=self.namespaces, wait=wait, wait_timeout=self.wait_timeout)
        assert self.sio.transport() == self.transport
        return self

    def sid(self, ns='/'):
        return self.sio.get_sid(ns)

    def call(self, event, *args, ns='/', timeout=WAIT):
        return self.sio.call(event, tuple(args), namespace=ns, timeout=timeout)

    def emit(self, event, *args, ns='/'):
        self.sio.emit(event, tuple(args), namespace=ns)

    def close(self):
        # python-engineio 4.3 on polling: disconnect() while a POST is in flight (e.g. right after
        # call() returned, the ack can come before the POST's response) never sends the
        # DISCONNECT/CLOSE, and the server keeps the session until its ping timeout. So wait
        # (bounded) until the write queue is drained first.
        deadline = time.monotonic() + 2.0
        queue = getattr(self.sio.eio, 'queue', None)
        while queue is not None and getattr(queue, 'unfinished_tasks', 0) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            self.sio.disconnect()
        except Exception:
            pass


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture
def clients(server, transport):
    """clients(...) -> a connected Conn on the shared server; all are disconnected afterwards."""
    made = []

    def make(connect=True, **kwargs):
        c = Conn(server.url, kwargs.pop('transport', transport), **kwargs)
        made.append(c)
        return c.connect() if connect else c

    yield make
    for c in made:
        c.close()


def refused(make, namespace, auth=None):
    """Connects to `namespace` only, expects a CONNECT_ERROR; returns the connect_error data.

    connect(wait=True) would raise ConnectionError too, but only after waiting `wait_timeout`
    once more after the refusal; waiting for the connect_error event is quicker."""
    c = make(connect=False, namespaces=[namespace], auth=auth)
    c.connect(wait=False)
    (args,) = c.rec.wait('connect_error', ns=namespace)
    time.sleep(0.05)
    assert c.rec.all('connect', ns=namespace) == []
    assert c.sid(namespace) is None
    return args


def eventually(fn, expected, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def token():
    return uuid.uuid4().hex


# ---------------------------------------------------------------- namespace `/`

@pytest.mark.parametrize('auth', [
    {'user': 'ann', 'n': 1, 'nested': {'list': [1, 2.5, None, True, 'x']}},
    None,
], ids=['with-auth', 'without-auth'])
def test_auth_event(clients, auth):
    c = clients(auth=auth)
    assert c.rec.wait('auth') == [(auth if auth is not None else {},)]
    sid = c.sid()
    assert isinstance(sid, str) and sid
    # Socket.IO v5 socket ids are new ids, not the Engine.IO session id
    assert sid != c.sio.sid


ARGS_CASES = {
    'several': ('text', 42, -1.5, None, True, False, {'k': [1, {'deep': 'x'}]}, [], {}),
    'one': ('only',),
    'one-list': ([1, 2, 3],),
    'none': (),
}


@pytest.mark.parametrize('case', list(ARGS_CASES))
def test_message_back(clients, case):
    args = ARGS_CASES[case]
    c = clients()
    marker = token()
    c.emit('message', marker, *args)
    assert c.rec.wait('message-back', where=lambda a: a[:1] == (marker,)) == [(marker,) + args]


def call_result(args):
    """What python-socketio's call() returns for an ack with these arguments."""
    return None if len(args) == 0 else args[0] if len(args) == 1 else args


@pytest.mark.parametrize('event', ['message-with-ack', 'echo'])
@pytest.mark.parametrize('case', list(ARGS_CASES))
def test_ack_same_args(clients, event, case):
    args = ARGS_CASES[case]
    c = clients()
    assert c.call(event, *args) == call_result(args)
    # an ack is not also an event
    time.sleep(0.1)
    assert c.rec.all('echo') == [] and c.rec.all('message-back') == []


def test_echo_without_ack(clients):
    c = clients()
    marker = token()
    c.emit('echo', marker, 1, {'a': [2]})
    assert c.rec.wait('echo') == [(marker, 1, {'a': [2]})]
    time.sleep(SETTLE)
    assert len(c.rec.all('echo')) == 1


def test_broadcast(clients):
    cs = [clients() for _ in range(3)]
    marker = token()
    cs[1].emit('broadcast', marker, {'n': 7}, [1, 'two'])
    for c in cs:  # the sender too
        c.rec.wait('broadcast', where=lambda a: a[:1] == (marker,))
    time.sleep(SETTLE)
    for c in cs:  # exactly once each
        assert c.rec.all('broadcast') == [(marker, {'n': 7}, [1, 'two'])]


def test_broadcast_to_50_clients_exactly_once(clients):
    cs = [clients() for _ in range(50)]
    marker = token()
    cs[17].emit('broadcast', marker, 'fifty', {'k': [None, True]})
    for c in cs:
        c.rec.wait('broadcast', where=lambda a: a[:1] == (marker,))
    time.sleep(SETTLE)
    for c in cs:
        assert [a for a in c.rec.all('broadcast') if a[:1] == (marker,)] == [(marker, 'fifty', {'k': [None, True]})]


def test_join_leave(clients):
    c = clients()
    sid = c.sid()
    ra, rb = 'room-a-' + token(), 'room-b-' + token()
    assert c.call('join', ra) == sorted([sid, ra])
    assert c.call('join', rb) == sorted([sid, ra, rb])
    assert c.call('join', rb) == sorted([sid, ra, rb])  # joining twice changes nothing
    assert c.call('leave', ra) == sorted([sid, rb])
    assert c.call('leave', 'never-joined-' + token()) == sorted([sid, rb])
    assert c.call('leave', rb) == [sid]


def test_to_room(clients):
    a, b, outsider = clients(), clients(), clients()
    room = 'room-' + token()
    assert a.call('join', room) == sorted([a.sid(), room])
    assert b.call('join', room) == sorted([b.sid(), room])

    # from a member: every member, the sender included
    m1 = token()
    a.emit('to-room', room, m1, {'x': 1})
    for c in (a, b):
        assert c.rec.wait('room-message', where=lambda args: m1 in args) == [(room, m1, {'x': 1})]
    # from a non-member: the members only
    m2 = token()
    outsider.emit('to-room', room, m2)
    for c in (a, b):
        assert c.rec.wait('room-message', where=lambda args: m2 in args) == [(room, m2)]
    time.sleep(SETTLE)
    assert outsider.rec.all('room-message') == []
    assert len(a.rec.all('room-message')) == 2 and len(b.rec.all('room-message')) == 2


def test_to_room_others(clients):
    a, b, outsider = clients(), clients(), clients()
    room = 'room-' + token()
    a.call('join', room)
    b.call('join', room)
    m = token()
    a.emit('to-room-others', room, m, [1, 2])
    assert b.rec.wait('room-message') == [(room, m, [1, 2])]
    time.sleep(SETTLE)
    assert a.rec.all('room-message') == []
    assert outsider.rec.all('room-message') == []
    assert b.rec.all('room-message') == [(room, m, [1, 2])]


def test_ask_answered(clients):
    asked = []

    def question(*args):
        asked.append(args)
        return ('yes', 42, {'deep': [1, None]})   # a tuple: three ack arguments

    c = clients(handlers={('/', 'question'): question})
    assert c.call('ask', 'question', 'x', {'n': 1}) == {'ok': True, 'args': ['yes', 42, {'deep': [1, None]}]}
    assert asked == [('x', {'n': 1})]


def test_ask_answered_single_and_empty(clients):
    c = clients(handlers={('/', 'one'): lambda *a: 'single',
                          ('/', 'nothing'): lambda *a: None})
    assert c.call('ask', 'one') == {'ok': True, 'args': ['single']}
    # a handler returning None acks with no arguments
    assert c.call('ask', 'nothing') == {'ok': True, 'args': []}


def test_ask_answered_binary(clients):
    blob_in, blob_out = os.urandom(1000), os.urandom(2000)
    asked = []

    def question(*args):
        asked.append(args)
        return {'echo': args[0]['b'], 'extra': blob_out}

    c = clients(handlers={('/', 'bin-question'): question}, ordered=True)
    got = c.call('ask', 'bin-question', {'b': blob_in})
    assert got == {'ok': True, 'args': [{'echo': blob_in, 'extra': blob_out}]}
    assert isinstance(got['args'][0]['extra'], bytes)
    assert asked == [({'b': blob_in},)]


def test_ask_unhandled_event_is_acked_by_the_client(clients):
    # python-socketio 5.7 answers every ack request, also for events without a handler
    c = clients()
    assert c.call('ask', 'nobody-handles-' + token(), 1) == {'ok': True, 'args': []}


def test_ask_timeout(clients):
    release = threading.Event()
    started = threading.Event()

    def slow(*args):
        started.set()
        release.wait(WAIT)   # answers (too late) once released
        return 'late'

    c = clients(handlers={('/', 'slow'): slow})
    try:
        t0 = time.monotonic()
        assert c.call('ask', 'slow', 1) == {'ok': False, 'error': 'timeout'}
        elapsed = time.monotonic() - t0
        assert started.is_set()
        assert 0.8 <= elapsed <= 3.0, elapsed
    finally:
        release.set()
    # the late ack is dropped by the server, and the connection lives on
    time.sleep(0.2)
    assert c.call('echo', 'still', 'here') == ('still', 'here')
    assert c.sio.connected


def test_count(transport):
    # a server of its own, so that the numbers are exact
    other = 'polling' if transport == 'websocket' else 'websocket'
    srv = start_server()
    made = []

    def conn(t=transport, **kwargs):
        made.append(Conn(srv.url, t, **kwargs).connect())
        return made[-1]
    try:
        a = conn()
        count = lambda: a.call('count')
        assert count() == 1
        b = conn()
        assert count() == 2
        c = conn(other)
        assert count() == 3
        conn(namespaces=['/custom'])                    # not in `/`
        conn(namespaces=['/admin'], auth={'token': 'secret'})
        assert count() == 3
        d = conn(namespaces=['/', '/custom'])
        assert count() == 4
        for gone, left in ((b, 3), (c, 2), (d, 1)):
            gone.close()
            assert eventually(count, left) == left
        # a socket disconnected by the server is not counted either
        e = conn()
        assert count() == 2
        e.emit('disconnect-me')
        e.rec.wait('disconnect')
        assert eventually(count, 1) == 1
    finally:
        for c in made:
            c.close()
        srv.stop()


def test_disconnect_me(clients):
    c = clients()
    assert c.call('echo', 1) == 1
    c.emit('disconnect-me')
    c.rec.wait('disconnect')
    assert eventually(lambda: c.sio.connected, False) is False
    assert c.sid() is None
    # nothing reconnects it, and the others are fine
    d = clients()
    assert d.call('echo', 'ok') == 'ok'


# ---------------------------------------------------------------- other namespaces

def test_root_and_custom_on_one_connection(clients):
    auth = {'who': 'both'}
    c = clients(namespaces=['/', '/custom'], auth=auth)
    assert c.rec.wait('auth', ns='/') == [(auth,)]
    assert c.rec.wait('auth', ns='/custom') == [(auth,)]
    root, custom = c.sid('/'), c.sid('/custom')
    assert root and custom and root != custom
    # the `/` socket's rooms do not know the `/custom` one
    room = 'r-' + token()
    assert c.call('join', room) == sorted([root, room])
    assert c.call('echo', 'x') == 'x'
    # `/custom` does nothing else: no ack comes
    with pytest.raises(socketio.exceptions.TimeoutError):
        c.call('echo', 'x', ns='/custom', timeout=0.5)


def test_custom_alone(clients):
    c = clients(namespaces=['/custom'])
    assert c.rec.wait('auth', ns='/custom') == [({},)]
    assert c.sid('/custom') and c.sid('/') is None


@pytest.mark.parametrize('auth', [None, {'token': 'wrong'}, {'token': ['secret']}],
                         ids=['no-auth', 'wrong-token', 'not-a-string'])
def test_admin_refused(clients, auth):
    assert refused(clients, '/admin', auth) == ({'message': 'unauthorized'},)


def test_admin_accepted(clients):
    c = clients(namespaces=['/admin'], auth={'token': 'secret'})
    sid = c.sid('/admin')
    assert sid
    assert c.rec.wait('welcome', ns='/admin') == [(sid,)]


def test_admin_refused_root_accepted(clients):
    # one namespace refused does not take the others down on the server
    c = clients(namespaces=['/'])
    assert c.call('echo', 1) == 1
    assert refused(clients, '/admin', {'token': 'nope'}) == ({'message': 'unauthorized'},)
    assert c.call('echo', 2) == 2


def test_dynamic_namespace(clients):
    a = clients(namespaces=['/dyn-xyz9'])
    assert a.rec.wait('nsp', ns='/dyn-xyz9') == [('/dyn-xyz9',)]
    assert a.sid('/dyn-xyz9')
    # a second client of the now existing namespace, with `/` on the same connection
    b = clients(namespaces=['/', '/dyn-xyz9'])
    assert b.rec.wait('nsp', ns='/dyn-xyz9') == [('/dyn-xyz9',)]
    assert b.rec.wait('auth', ns='/') == [({},)]
    assert b.sid('/dyn-xyz9') != a.sid('/dyn-xyz9')


@pytest.mark.parametrize('nsp', ['/nope', '/dyn-Upper', '/dyn-', '/dyn-a_b', '/custom/sub'])
def test_unknown_namespace_refused(clients, nsp):
    assert refused(clients, nsp) == ({'message': 'Invalid namespace'},)


# ---------------------------------------------------------------- payloads

TEXTS = [
    'héllo wörld ÄÖÜ ß ñ',
    '你好，世界 — 日本語のテキスト — 한국어',
    '😀🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷',                    # astral, skin tone, ZWJ sequence, flags
    '𝄞 𐍈 𠜎𠜱 \U0010FFFD',                   # more astral planes
    'mixed ascii 123 ✓ ✗ → ∞ \u2028\u2029 end',
    'quotes " \\ / \b\f\n\r\t \x01 \x1e \x1f \x7f',   # escapes, the polling record separator
]


def test_unicode(clients):
    # python-socketio writes non-ASCII text as \u escapes (surrogate pairs for astral ones)
    unicode_round_trips(clients())


def test_unicode_raw_utf8(server):
    # the same as raw UTF-8; WebSocket only: python-socketio posts polling bodies through
    # requests/http.client, which encode text bodies as Latin-1
    c = Conn(server.url, 'websocket', serializer=RawUtf8Packet)
    try:
        unicode_round_trips(c.connect())
    finally:
        c.close()


def unicode_round_trips(c):
    data = {'list': TEXTS, 'ключ 🔑': TEXTS[2], '键': {'嵌套': TEXTS[1]}}
    assert c.call('echo', *TEXTS) == tuple(TEXTS)
    assert c.call('message-with-ack', data) == data
    c.emit('message', data, TEXTS[3])
    assert c.rec.wait('message-back') == [(data, TEXTS[3])]
    big = ''.join(TEXTS) * 500   # ~50 kB of multi-byte text
    assert c.call('echo', big) == big


def test_nul_in_strings(clients):
    # JSON strings may hold U+0000; it must survive (no C-string truncation), in keys too
    c = clients()
    texts = ['\x00', 'a\x00b', '\x00\x00end', '你\x00好😀\x00']
    assert c.call('echo', *texts) == tuple(texts)
    assert c.call('message-with-ack', {'k\x00ey': 'a\x00b'}) == {'k\x00ey': 'a\x00b'}


def nested(blob, small, empty):
    return {'level1': [1, {'level2': {'level3': [{'level4': [None, {'blob': blob}]}]}}],
            'small': small, 'empty': empty, 'text': 'not binary', 'list': [small, 'x', 2]}


def assert_bytes_equal(got, want):
    """Deep equality where every binary leaf must come back as bytes, byte-exact."""
    if isinstance(want, bytes):
        assert isinstance(got, bytes), type(got)
        assert len(got) == len(want) and got == want
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want)
        for k in want:
            assert_bytes_equal(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_bytes_equal(g, w)
    else:
        assert got == want


def test_binary_nested(clients):
    c = clients(ordered=True)
    blob, small = os.urandom(64 * 1024), os.urandom(17)
    data = nested(blob, small, b'\x00\xff')
    # ack path (BINARY_ACK back), several arguments, a top-level binary argument too
    got = c.call('echo', data, small, 'plain')
    assert_bytes_equal(got, (data, small, 'plain'))
    got = c.call('message-with-ack', data)
    assert_bytes_equal(got, data)
    # event path (BINARY_EVENT back)
    c.emit('message', 'bin', data, blob)
    (args,) = c.rec.wait('message-back', where=lambda a: a[:1] == ('bin',))
    assert_bytes_equal(args, ('bin', data, blob))
    # the same buffer twice in one packet: two attachments
    assert_bytes_equal(c.call('echo', [small, small]), [small, small])
    # ten attachments in one packet (the reference's socket.io-parser refuses more than 10)
    many = [os.urandom(n) for n in range(1, 11)]
    assert_bytes_equal(c.call('echo', *many), tuple(many))


def test_binary_empty(clients):
    c = clients(ordered=True)
    assert_bytes_equal(c.call('echo', b''), b'')
    assert_bytes_equal(c.call('echo', {'e': b'', 'x': [b'']}), {'e': b'', 'x': [b'']})


def test_binary_broadcast_and_room(clients):
    a, b = clients(ordered=True), clients(ordered=True)
    blob = os.urandom(64 * 1024)
    room = 'bin-' + token()
    a.call('join', room)
    b.call('join', room)
    a.emit('to-room-others', room, {'blob': blob})
    (args,) = b.rec.wait('room-message')
    assert_bytes_equal(args, (room, {'blob': blob}))
    marker = token()
    b.emit('broadcast', marker, [blob])
    for c in (a, b):
        (args,) = c.rec.wait('broadcast', where=lambda x: x[:1] == (marker,))
        assert_bytes_equal(args, (marker, [blob]))


# ---------------------------------------------------------------- servers of their own

def test_heartbeat(transport):
    srv = start_server(['--ping-interval', '300', '--ping-timeout', '400'])
    c = Conn(srv.url, transport)
    try:
        c.connect()
        assert c.sio.eio.ping_interval == 0.3 and c.sio.eio.ping_timeout == 0.4
        time.sleep(1.5)   # several ping/pong rounds
        assert c.sio.connected and c.rec.all('disconnect') == []
        assert c.call('echo', 'alive') == 'alive'
    finally:
        c.close()
        assert srv.stop() == 0


def test_shutdown(transport):
    srv = start_server()
    c = Conn(srv.url, transport)
    try:
        c.connect()
        assert c.call('echo', 1) == 1
        t0 = time.monotonic()
        assert srv.stop() == 0
        assert time.monotonic() - t0 < 5
        c.rec.wait('disconnect')
        assert eventually(lambda: c.sio.connected, False) is False
    finally:
        c.close()
