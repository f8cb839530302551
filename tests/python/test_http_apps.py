"""HTTP beside Socket.IO on one port (sio.apps): the core's HttpRequest, sio.WSGIApp with Flask and
plain WSGI, sio.ASGIApp with FastAPI and plain ASGI (lifespan included), static_files in
python-engineio's forms, bounded bodies and 500s; each app driven by python-socketio's client and
plain HTTP (http.client) on the same port. Flask/FastAPI cases skip where they are not importable
(Debian's python3 has neither; the PyPI venv stage installs them)."""

import asyncio
import contextlib
import http.client
import json
import threading
import time

import pytest
import socketio

from test_api import BUILD_ERROR, WAIT, Running, sio, wait_for


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def get(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=WAIT)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def sio_roundtrip(url):
    """A python-socketio client connects, gets an ack for 'echo', disconnects."""
    c = socketio.Client(reconnection=False)
    c.connect(url, transports=['websocket'], wait_timeout=WAIT)
    try:
        return c.call('echo', 'hi', timeout=WAIT)
    finally:
        c.disconnect()


def echo_server(**kw):
    server = sio.Server(cors_allowed_origins='*', **kw)
    server.on('echo', lambda sid, x: x)
    return server


# ---- the core's primitive ---------------------------------------------------------------------


def test_core_handler_request_and_late_answer():
    server = echo_server()
    seen = []

    def handler(req):
        seen.append((req.method, req.path, req.raw_path, req.query_string, req.protocol,
                     dict(req.headers).get('x-test'), req.body, req.remote_addr))
        if req.path == '/later':
            server.call_later(0.05, req.respond, 202, [('X-Late', 'yes')], b'later')
            return
        assert req.respond(200, [('Content-Type', 'text/plain')], b'hello') is True
        with pytest.raises(sio.AlreadyAnsweredError):
            req.respond(200)

    server._core.handler('/', handler)
    with pytest.raises(RuntimeError):
        server._core.handler('/x', handler)
    with Running(server) as r:
        status, headers, body = get(r.port, 'POST', '/a%20b?q=1', body=b'xyz', headers={'X-Test': 'one'})
        assert (status, body, headers['content-type']) == (200, b'hello', 'text/plain')
        assert seen[0] == ('POST', '/a b', '/a%20b', 'q=1', 'HTTP/1.1', 'one', b'xyz', '127.0.0.1')
        status, headers, body = get(r.port, 'GET', '/later')
        assert (status, body, headers['x-late']) == (202, b'later', 'yes')
        assert sio_roundtrip(r.url) == 'hi'  # Socket.IO keeps its path


def test_core_handler_abort_and_bad_answers():
    server = echo_server()
    held = []
    aborted = threading.Event()

    def handler(req):
        if req.path == '/hold':
            req.on_abort = aborted.set
            held.append(req)
            return
        with pytest.raises(ValueError):
            req.respond(200, [('Bad Name', 'x')])
        with pytest.raises(ValueError):
            req.respond(99)
        raise RuntimeError('boom')  # logged, answered 500

    server._core.handler('/', handler)
    with Running(server) as r:
        assert get(r.port, 'GET', '/x')[0] == 500
        conn = http.client.HTTPConnection('127.0.0.1', r.port, timeout=WAIT)
        conn.request('GET', '/hold')
        assert wait_for(lambda: held)
        conn.close()
        assert aborted.wait(WAIT)
        assert held[0].aborted
        result = []
        server.call_soon_threadsafe(lambda: result.append(held[0].respond(200)))
        assert wait_for(lambda: result)
        assert result == [False]  # harmless: nothing sent
        assert get(r.port, 'GET', '/x')[0] == 500  # the server goes on


# ---- WSGI ---------------------------------------------------------------------------------------


def plain_wsgi(environ, start_response):
    if environ['PATH_INFO'] == '/boom':
        raise ValueError('boom')
    if environ['PATH_INFO'] == '/slow':
        time.sleep(0.5)
    body = json.dumps({'path': environ['PATH_INFO'], 'query': environ['QUERY_STRING'],
                       'method': environ['REQUEST_METHOD'],
                       'body': environ['wsgi.input'].read().decode(),
                       'agent': environ.get('HTTP_X_AGENT'),
                       'type': environ.get('CONTENT_TYPE')}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]


def test_wsgi_app_beside_socketio_bounded_and_500():
    server = echo_server()
    app = sio.WSGIApp(server, plain_wsgi, max_body=100)
    with Running(server) as r:
        status, headers, body = get(r.port, 'POST', '/api/x%C3%A9?a=1', body=b'data',
                                    headers={'X-Agent': 't', 'Content-Type': 'text/plain'})
        assert status == 200 and headers['content-type'] == 'application/json'
        assert json.loads(body) == {'path': '/api/x\xc3\xa9', 'query': 'a=1', 'method': 'POST',
                                    'body': 'data', 'agent': 't', 'type': 'text/plain'}
        assert get(r.port, 'POST', '/api', body=b'x' * 101)[0] == 413
        assert get(r.port, 'GET', '/boom')[0] == 500
        # A slow route stalls neither Socket.IO nor other requests.
        slow = threading.Thread(target=get, args=(r.port, 'GET', '/slow'))
        slow.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        assert sio_roundtrip(r.url) == 'hi'
        assert get(r.port, 'GET', '/fast')[0] == 200
        assert time.monotonic() - t0 < 0.4
        slow.join(WAIT)
    app.shutdown()


def test_wsgi_app_refuses_another_socketio_path():
    server = echo_server()
    with pytest.raises(ValueError):
        sio.WSGIApp(server, plain_wsgi, socketio_path='other')
    sio.WSGIApp(echo_server(path='/other/'), plain_wsgi, socketio_path='other')


def test_flask_route_beside_socketio():
    flask = pytest.importorskip('flask')
    fapp = flask.Flask(__name__)

    @fapp.route('/hello')
    def hello():
        return 'Hello, ' + flask.request.args.get('name', 'world')

    @fapp.route('/fail')
    def fail():
        raise RuntimeError('route failed')

    server = echo_server()
    app = sio.WSGIApp(server, fapp)
    with Running(server) as r:
        status, headers, body = get(r.port, 'GET', '/hello?name=sio')
        assert (status, body) == (200, b'Hello, sio')
        assert headers['content-type'].startswith('text/html')
        assert get(r.port, 'GET', '/missing')[0] == 404  # Flask's own 404
        assert get(r.port, 'GET', '/fail')[0] == 500
        assert sio_roundtrip(r.url) == 'hi'
    app.shutdown()


# ---- static_files --------------------------------------------------------------------------------


def test_static_files_python_engineio_forms(tmp_path):
    (tmp_path / 'app.html').write_text('<p>app</p>')
    (tmp_path / 'static').mkdir()
    (tmp_path / 'static' / 'a.js').write_text('var a;')
    (tmp_path / 'static' / 'main.htm').write_text('<p>main</p>')
    (tmp_path / 'data').write_text('x,y')
    server = echo_server()
    app = sio.WSGIApp(server, plain_wsgi, static_files={
        '/': str(tmp_path / 'app.html'),
        '/static': str(tmp_path / 'static'),
        '/data.csv': {'filename': str(tmp_path / 'data'), 'content_type': 'text/csv'},
        '': 'main.htm',
    })
    with Running(server) as r:
        status, headers, body = get(r.port, 'GET', '/')
        assert (status, body, headers['content-type']) == (200, b'<p>app</p>', 'text/html; charset=utf-8')
        status, headers, body = get(r.port, 'GET', '/static/a.js')
        assert (status, body) == (200, b'var a;')
        assert get(r.port, 'GET', '/static/')[2] == b'<p>main</p>'  # the '' key: the index
        status, headers, body = get(r.port, 'GET', '/data.csv')
        assert (status, body, headers['content-type']) == (200, b'x,y', 'text/csv')
        # What the mounts do not have goes to the app.
        assert json.loads(get(r.port, 'GET', '/static/none.js')[2])['path'] == '/static/none.js'
        assert json.loads(get(r.port, 'POST', '/', body=b'')[2])['method'] == 'POST'
    app.shutdown()
    # Server.static: a file, and a prefix without its trailing slash.
    s2 = echo_server()
    s2.static('/page', tmp_path / 'app.html', content_type='text/x-page')
    s2.static('/assets', tmp_path / 'static')
    with Running(s2) as r:
        status, headers, body = get(r.port, 'GET', '/page')
        assert (body, headers['content-type']) == (b'<p>app</p>', 'text/x-page')
        assert get(r.port, 'GET', '/assets/a.js')[2] == b'var a;'
        assert get(r.port, 'GET', '/assets/none.js')[0] == 404


# ---- ASGI ---------------------------------------------------------------------------------------


class AsgiRunning:
    """sio.run(asgi_app) in a thread, on a port picked first."""

    def __init__(self, app):
        self.app = app
        self.port = app.server.listen('127.0.0.1', 0)
        self.url = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=sio.run, args=(app,), kwargs={'handle_signals': False},
                                       daemon=True)
        self.thread.start()
        assert wait_for(lambda: app.server._aio is not None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.app.server.stop()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


def test_plain_asgi_app_with_lifespan():
    events = []

    async def asgi(scope, receive, send):
        if scope['type'] == 'lifespan':
            while True:
                msg = await receive()
                events.append(msg['type'])
                if msg['type'] == 'lifespan.startup':
                    await send({'type': 'lifespan.startup.complete'})
                else:
                    await send({'type': 'lifespan.shutdown.complete'})
                    return
        if scope['path'] == '/boom':
            raise RuntimeError('boom')
        msg = await receive()
        await asyncio.sleep(0.01)
        await send({'type': 'http.response.start', 'status': 200,
                    'headers': [(b'content-type', b'text/plain'), (b'x-path', scope['raw_path'])]})
        await send({'type': 'http.response.body', 'body': b'got ', 'more_body': True})
        await send({'type': 'http.response.body', 'body': msg['body'] + scope['query_string']})

    started = []
    server = echo_server()
    app = sio.ASGIApp(server, asgi, on_startup=lambda: started.append(1), max_body=10)
    with AsgiRunning(app) as r:
        status, headers, body = get(r.port, 'POST', '/a%20b?q', body=b'body')
        assert (status, body, headers['x-path']) == (200, b'got bodyq', '/a%20b')
        assert get(r.port, 'GET', '/boom')[0] == 500
        assert get(r.port, 'POST', '/x', body=b'x' * 11)[0] == 413
        assert sio_roundtrip(r.url) == 'hi'
    assert started == [1]
    assert events == ['lifespan.startup', 'lifespan.shutdown']


def test_fastapi_route_beside_socketio():
    fastapi = pytest.importorskip('fastapi')
    state = []

    @contextlib.asynccontextmanager
    async def lifespan(_):
        state.append('up')
        yield
        state.append('down')

    fapp = fastapi.FastAPI(lifespan=lifespan)

    @fapp.get('/hello')
    async def hello(name: str = 'world'):
        return {'message': 'Hello, ' + name}

    @fapp.post('/items')
    async def items(item: dict):
        return {'got': item}

    @fapp.get('/fail')
    async def fail():
        raise RuntimeError('route failed')

    server = echo_server()
    app = sio.ASGIApp(server, fapp)
    with AsgiRunning(app) as r:
        status, headers, body = get(r.port, 'GET', '/hello?name=sio')
        assert (status, json.loads(body)) == (200, {'message': 'Hello, sio'})
        assert headers['content-type'] == 'application/json'
        status, _, body = get(r.port, 'POST', '/items', body=b'{"a": 1}',
                              headers={'Content-Type': 'application/json'})
        assert (status, json.loads(body)) == (200, {'got': {'a': 1}})
        assert get(r.port, 'GET', '/missing')[0] == 404
        assert get(r.port, 'GET', '/fail')[0] == 500
        assert sio_roundtrip(r.url) == 'hi'
    assert state == ['up', 'down']


def test_fastapi_fiddle_shape(tmp_path):
    """python-socketio's examples/server/asgi/fastapi-fiddle.py: StaticFiles mounted, a FileResponse
    page, GET /hello, beside Socket.IO."""
    fastapi = pytest.importorskip('fastapi')
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    (tmp_path / 'static').mkdir()
    (tmp_path / 'static' / 'fiddle.js').write_text('console.log(1);' * 1000)
    (tmp_path / 'fiddle.html').write_text('<html>fiddle</html>')
    fapp = fastapi.FastAPI()
    fapp.mount('/static', StaticFiles(directory=str(tmp_path / 'static')), 'static')

    @fapp.get('/')
    async def index():
        return FileResponse(str(tmp_path / 'fiddle.html'))

    @fapp.get('/hello')
    async def hello():
        return {'message': 'Hello, World!'}

    server = echo_server()
    with AsgiRunning(sio.ASGIApp(server, fapp)) as r:
        status, headers, body = get(r.port, 'GET', '/')
        assert (status, body) == (200, b'<html>fiddle</html>')
        assert headers['content-type'].startswith('text/html')
        assert get(r.port, 'GET', '/static/fiddle.js')[2] == b'console.log(1);' * 1000
        assert json.loads(get(r.port, 'GET', '/hello')[2]) == {'message': 'Hello, World!'}
        assert sio_roundtrip(r.url) == 'hi'


def test_fastapi_lifespan_state_and_streaming():
    fastapi = pytest.importorskip('fastapi')
    from fastapi.responses import StreamingResponse

    @contextlib.asynccontextmanager
    async def lifespan(_):
        yield {'greeting': 'hi from the lifespan'}

    fapp = fastapi.FastAPI(lifespan=lifespan)

    @fapp.get('/state')
    async def state(request: fastapi.Request):
        return {'greeting': request.state.greeting}

    @fapp.get('/stream')
    async def stream():
        async def parts():
            for i in range(3):
                await asyncio.sleep(0.01)
                yield b'part%d;' % i
        return StreamingResponse(parts(), media_type='text/plain')

    server = echo_server()
    with AsgiRunning(sio.ASGIApp(server, fapp)) as r:
        assert json.loads(get(r.port, 'GET', '/state')[2]) == {'greeting': 'hi from the lifespan'}
        assert get(r.port, 'GET', '/stream')[2] == b'part0;part1;part2;'


def test_wsgi_in_asyncio_mode_and_asgi_needs_it():
    server = echo_server()
    sio.WSGIApp(server, plain_wsgi)

    async def main():
        port = server.listen('127.0.0.1', 0)
        task = asyncio.ensure_future(server.serve())
        loop = asyncio.get_running_loop()
        status, _, body = await loop.run_in_executor(None, get, port, 'GET', '/in-asyncio')
        server.stop()
        await asyncio.wait_for(task, WAIT)
        return status, json.loads(body)['path']

    assert asyncio.run(main()) == (200, '/in-asyncio')

    async def asgi(scope, receive, send):
        raise AssertionError('not reached')

    s2 = echo_server()
    sio.ASGIApp(s2, asgi)
    with Running(s2) as r:  # threading mode: the ASGI app cannot run; 500, logged
        assert get(r.port, 'GET', '/x')[0] == 500


def test_run_picks_asyncio_for_an_async_server():
    class AsyncLike(sio.Server):
        async def emit(self, *args, **kw):  # as python-socketio's AsyncServer
            return sio.Server.emit(self, *args, **kw)

    server = AsyncLike()
    port = server.listen('127.0.0.1', 0)
    t = threading.Thread(target=sio.run, args=(server,), kwargs={'handle_signals': False}, daemon=True)
    t.start()
    assert wait_for(lambda: server._aio is not None)  # the asyncio mode
    assert get(port, 'GET', '/nothing')[0] == 404
    server.stop()
    t.join(WAIT)
    assert not t.is_alive()


def test_run_refuses_other_objects():
    with pytest.raises(TypeError):
        sio.run(object())
