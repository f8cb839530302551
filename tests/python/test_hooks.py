"""The Engine.IO handshake hooks from Python: sio.Server(allow_request=fn) answered at once and by a
coroutine (AsyncServer), a client gone before the late answer, cors_allowed_origins as a callable,
server.engine.on("initial_headers" | "headers" | "connection_error"). Driven by raw HTTP
(http.client, sockets), python-socketio's client and socket.io-client 4.8 (node)."""

import asyncio
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
import socketio

from test_api import BUILD_ERROR, ROOT, WAIT, Running, sio, wait_for

NODE = shutil.which('node')
DRIVER = os.path.join(os.path.dirname(__file__), 'node_style_client.mjs')
HAVE_CLIENT = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io-client'))
HAVE_SERVER = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io'))
POLL = '/socket.io/?EIO=4&transport=polling'


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def get(port, path, headers=None, method='GET', body=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=WAIT)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def raw_upgrade(port, path, extra=''):
    """A WebSocket upgrade by hand: the status line and the head."""
    s = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
    s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n'
               % (path, extra)).encode())
    data = b''
    while b'\r\n\r\n' not in data or not data.startswith(b'HTTP/1.1 101'):
        chunk = s.recv(4096)  # a refusal is read to its end (the server closes)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def by_token(environ):
    if environ.get('HTTP_X_TOKEN') == 'good':
        return True
    return False, 'bad token "%s"' % environ.get('HTTP_X_TOKEN', '')


def test_allow_request_at_once():
    seen = []

    def allow(environ):
        seen.append((environ['REQUEST_METHOD'], environ['QUERY_STRING'], environ['REMOTE_ADDR'],
                     environ['sio.transport']))
        return by_token(environ)

    server = sio.Server(allow_request=allow)
    with Running(server) as r:
        status, _, body = get(r.port, POLL + '&a=1', {'X-Token': 'good'})
        assert status == 200 and body.startswith(b'0{"sid":"')
        status, headers, body = get(r.port, POLL, {'X-Token': 'x'})
        assert (status, headers['content-type']) == (403, 'application/json')
        assert json.loads(body) == {'code': 4, 'message': 'bad token "x"'}
        # over WebSocket: the refusal instead of the 101; python-socketio's client sees it too
        head = raw_upgrade(r.port, '/socket.io/?EIO=4&transport=websocket')
        assert head.startswith(b'HTTP/1.1 400 ')  # Node's abortUpgrade: the message as text
        assert head.endswith(b'\r\n\r\nbad token ""')
        c = socketio.Client(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(r.url, transports=['websocket'], wait_timeout=WAIT)
        c = socketio.Client(reconnection=False)
        c.connect(r.url, transports=['websocket'], headers={'X-Token': 'good'}, wait_timeout=WAIT)
        c.disconnect()
    assert seen[0] == ('GET', 'EIO=4&transport=polling&a=1', '127.0.0.1', 'polling')
    assert seen[2][3] == 'websocket'


def test_allow_request_exception_or_false_refuses():
    def boom(environ):
        raise RuntimeError('no')

    for fn, message in ((boom, 'Forbidden'), (lambda env: False, 'Forbidden'),
                        (lambda env: (False, None), 'Forbidden')):
        server = sio.Server(allow_request=fn)
        with Running(server) as r:
            status, _, body = get(r.port, POLL)
            assert status == 403 and json.loads(body) == {'code': 4, 'message': message}
    with pytest.raises(TypeError):
        sio.Server(allow_request=42)


def run_async(server, state):
    async def main():
        server.listen('127.0.0.1', 0)
        state['port'] = server._core.port()
        task = asyncio.ensure_future(server.serve())
        while 'done' not in state:
            await asyncio.sleep(0.01)
        server.stop()
        await asyncio.wait_for(task, WAIT)

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    assert wait_for(lambda: 'port' in state)
    return t


def test_allow_request_coroutine_answers_later_and_a_gone_client_is_harmless():
    state = {}
    gate = {}

    async def allow(environ):
        if environ.get('HTTP_X_WAIT'):
            gate['waiting'] = True
            while 'open' not in gate:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)
        return by_token(environ)

    server = sio.AsyncServer(allow_request=allow)
    t = run_async(server, state)
    try:
        port = state['port']
        status, _, body = get(port, POLL, {'X-Token': 'good'})
        assert status == 200 and body.startswith(b'0{')
        status, _, body = get(port, POLL, {'X-Token': 'no'})
        assert status == 403 and json.loads(body)['message'] == 'bad token "no"'
        # the client goes away while the coroutine waits: the late answer sends nothing
        s = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
        s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nX-Wait: 1\r\nX-Token: good\r\n\r\n' % POLL).encode())
        assert wait_for(lambda: 'waiting' in gate)
        s.close()
        time.sleep(0.1)
        gate['open'] = True
        time.sleep(0.1)
        # and the server goes on
        c = socketio.Client(reconnection=False)
        c.connect('http://127.0.0.1:%d' % port, headers={'X-Token': 'good'}, wait_timeout=WAIT)
        c.disconnect()
    finally:
        state['done'] = True
        t.join(WAIT)
    assert not t.is_alive()


def test_allow_request_on_a_worker_blocks_only_its_own_client():
    gate = threading.Event()
    entered = threading.Event()

    def allow(environ):
        if environ.get('HTTP_X_WAIT'):
            entered.set()
            assert gate.wait(WAIT)
        return by_token(environ)

    server = sio.Server(allow_request=allow, async_handlers=True)
    with Running(server) as r:
        results = []
        t = threading.Thread(target=lambda: results.append(get(r.port, POLL, {'X-Wait': '1', 'X-Token': 'good'})))
        t.start()
        assert entered.wait(WAIT)
        # the first check blocks a worker, not the server: another handshake gets through
        status, _, body = get(r.port, POLL, {'X-Token': 'good'})
        assert status == 200 and body.startswith(b'0{')
        status, _, body = get(r.port, POLL, {'X-Token': 'bad'})
        assert status == 403 and json.loads(body)['message'] == 'bad token "bad"'
        gate.set()
        t.join(WAIT)
        assert results and results[0][0] == 200


def test_cors_allowed_origins_callable():
    server = sio.Server(cors_allowed_origins=lambda origin: origin.endswith('.example.com'))
    with Running(server) as r:
        status, headers, _ = get(r.port, POLL, {'Origin': 'https://app.example.com'})
        assert status == 200
        assert headers['access-control-allow-origin'] == 'https://app.example.com'
        status, headers, body = get(r.port, POLL, {'Origin': 'https://evil.test'})
        assert status == 403 and json.loads(body) == {'code': 4, 'message': 'Forbidden'}
        assert 'access-control-allow-origin' not in headers
        status, _, _ = get(r.port, POLL)  # no Origin: not a browser
        assert status == 200


def test_engine_headers_hooks_and_connection_error():
    server = sio.Server()
    errors = []

    @server.engine.on('initial_headers')
    def initial(headers, environ):
        headers['X-Initial'] = environ['REQUEST_METHOD']
        headers['X-Evil'] = 'a\r\nSet-Cookie: x=1'  # refused by the core, logged

    @server.engine.on('headers')
    def every(headers, environ):
        headers['X-All'] = environ.get('HTTP_X_TAG', '-')

    server.engine.on('connection_error', errors.append)
    with pytest.raises(ValueError):
        server.engine.on('nope', print)
    with Running(server) as r:
        status, headers, body = get(r.port, POLL, {'X-Tag': 'one'})
        assert status == 200 and headers['x-initial'] == 'GET' and headers['x-all'] == 'one'
        assert 'x-evil' not in headers and 'set-cookie' not in headers
        sid = json.loads(body[1:])['sid']
        status, headers, _ = get(r.port, POLL + '&sid=' + sid, {'X-Tag': 'two'}, 'POST', b'40')
        assert status == 200 and headers['x-all'] == 'two' and 'x-initial' not in headers
        head = raw_upgrade(r.port, '/socket.io/?EIO=4&transport=websocket')
        assert head.startswith(b'HTTP/1.1 101') and b'X-Initial: GET' in head and b'X-All: -' in head
        get(r.port, '/socket.io/?EIO=4&transport=bogus')
        get(r.port, POLL + '&sid=nope')
        get(r.port, POLL, method='PUT', body=b'x')
        get(r.port, '/socket.io/?EIO=9&transport=polling')
        assert wait_for(lambda: len(errors) == 4)
    assert [(e.code, e.message, e.status) for e in errors] == [
        (0, 'Transport unknown', 400), (1, 'Session ID unknown', 400),
        (2, 'Bad handshake method', 400), (5, 'Unsupported protocol version', 400)]
    assert errors[0].req['QUERY_STRING'] == 'EIO=4&transport=bogus' and errors[0].context == {}


def test_connection_error_of_a_refusal_has_its_message():
    errors = []
    server = sio.Server(allow_request=lambda env: (False, 'rate limited'))
    server.engine.on('connection_error', errors.append)
    with Running(server) as r:
        get(r.port, POLL)
        assert wait_for(lambda: errors)
    assert (errors[0].code, errors[0].message, errors[0].context) == (4, 'Forbidden', {'message': 'rate limited'})


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node or socket.io-client missing')
def test_socket_io_client_sees_the_refusal():
    server = sio.Server(allow_request=lambda env: (False, 'no entry'), cors_allowed_origins='*')
    with Running(server) as r:
        out = subprocess.run([NODE, DRIVER, r.url, 'forbidden'], capture_output=True, text=True,
                             timeout=20)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    # socket.io-client 4.8 reports a refused polling handshake as Node's server makes it: a
    # transport error whose description is the status, the body the server's JSON
    assert seen['message'] == 'xhr poll error'
    assert seen['description'] == 403
    assert json.loads(seen['body']) == {'code': 4, 'message': 'no entry'}
    assert seen['wsMessage'] == 'websocket error'


def _raw(port, request):
    """Sends a raw request; the status, the header names (lower-case) and the body (read to the
    end: every request here is answered and closed, or a 101 cut after its head)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
    s.sendall(request.encode())
    data = b''
    while not (data.startswith(b'HTTP/1.1 101') and b'\r\n\r\n' in data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    if headers.get('transfer-encoding') == 'chunked':  # Node's: one chunk, then the last
        size, _, rest = body.partition(b'\r\n')
        body = rest[:int(size, 16)]
    return int(lines[0].split()[1]), headers, body


@pytest.mark.skipif(not NODE or not HAVE_SERVER, reason='node or socket.io missing')
def test_refusals_and_headers_as_nodes_engine_io():
    """The same requests to Node's engine.io 6.6 and to sio, each with the same hooks: the same
    status, content type and body for every refusal, the hooks' headers where Node puts them."""
    node = subprocess.Popen([NODE, os.path.join(os.path.dirname(__file__), 'node_hooks_reference.mjs')],
                            stdout=subprocess.PIPE, text=True)
    server = sio.Server(allow_request=lambda env: True if env.get('HTTP_X_TOKEN') == 'good'
                        else (False, 'no "entry"'))
    server.engine.on('initial_headers', lambda headers, env: headers.update({'X-Initial': 'i'}))
    server.engine.on('headers', lambda headers, env: headers.update({'X-All': 'a'}))
    try:
        line = node.stdout.readline()
        node_port = int(line.rsplit(':', 1)[1])
        upgrade = ('Upgrade: websocket\r\nConnection: Upgrade\r\n'
                   'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n')
        cases = [
            ('GET', 'EIO=4&transport=polling', ''),                       # refused: 403 JSON
            ('GET', 'EIO=4&transport=websocket', upgrade),                # refused: 400 text
            ('GET', 'EIO=4&transport=bogus', ''),                         # code 0
            ('GET', 'EIO=4&transport=polling&sid=nope', ''),              # code 1
            ('PUT', 'EIO=4&transport=polling', 'Content-Length: 1\r\n'),  # code 2
            ('GET', 'EIO=4&transport=websocket', 'X-Token: good\r\n'),    # code 3 (no upgrade)
            ('GET', 'EIO=9&transport=polling', ''),                       # code 5
        ]
        with Running(server) as r:
            for method, query, extra in cases:
                req = '%s /socket.io/?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n%s' % (
                    method, query, extra, 'x' if method == 'PUT' else '')
                if 'Upgrade' in extra:
                    req = req.replace('Connection: close\r\n', '')
                want, got = _raw(node_port, req), _raw(r.port, req)
                assert (got[0], got[1].get('content-type', '').lower(), got[2]) == \
                       (want[0], want[1].get('content-type', '').lower(), want[2]), (method, query)
            # accepted: the hooks' headers on the handshake (polling, and a WebSocket-only 101)
            for extra in ('X-Token: good\r\n', 'X-Token: good\r\n' + upgrade):
                req = 'GET /socket.io/?EIO=4&transport=%s HTTP/1.1\r\nHost: x\r\n%s%s\r\n' % (
                    'websocket' if 'Upgrade' in extra else 'polling',
                    '' if 'Upgrade' in extra else 'Connection: close\r\n', extra)
                want, got = _raw(node_port, req), _raw(r.port, req)
                assert got[0] == want[0]
                for name in ('x-initial', 'x-all'):
                    assert got[1].get(name) == want[1].get(name), (name, extra)
    finally:
        node.terminate()
        node.wait(WAIT)
