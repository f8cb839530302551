"""Acceptance (issue 15): python-socketio-style example apps run on sio with their import and
launcher lines changed, and nothing else.

python-socketio's and Flask-SocketIO's own examples/ are not in their PyPI sdists (checked:
python-socketio 5.0.0, 5.8.0, 5.11.0, 5.18.1 and Flask-SocketIO 5.7.0 ship src/, docs/ and tests
only), and this repository does not copy them, so `upstream/` holds apps of our own written the
way python-socketio's documentation and examples do it: a Flask app with socketio.WSGIApp
(wsgi_app.py), an AsyncServer under ASGI with static_files (asgi_app.py), FastAPI routes beside
Socket.IO (fastapi_fiddle.py, `GET /hello`), a latency probe (latency.py) and class-based
namespaces in a Flask app (flask_class_namespace.py).

Each app runs twice, driven by the same python-socketio client script:
- `python-socketio`: unchanged but for its port, on python-socketio's own server (uvicorn,
  Werkzeug): the control, proving that the script checks python-socketio's behaviour;
- `sio`: its `import socketio` line becomes `import sio as socketio` and its launcher line
  (`uvicorn.run(...)`, `app.run(...)`) becomes sio's call; the test asserts that no other line
  differs. An app that needs a feature sio does not have yet is skipped, naming it (found by
  feature detection, so the test switches on when the feature lands).

Needs flask, fastapi, uvicorn in the test's interpreter (scripts/test.sh's PyPI venv); skipped
without them.
"""
import difflib
import inspect
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

socketio = pytest.importorskip('socketio')  # python-socketio: the client, and the control server

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
try:
    from test_api import BUILD_ERROR, PKG, sio  # noqa: E402 - the in-tree (or installed) sio
except ImportError as e:  # SIO_PY_INSTALLED=1 in an interpreter without it (the wheel's contract stage)
    pytest.skip('sio is not importable here: %s' % e, allow_module_level=True)

WAIT = 10.0

# app -> (what sio needs, the expression the launcher serves, modules the app imports)
APPS = {
    'wsgi_app': (['WSGIApp', 'Server(async_mode=)'], 'app.wsgi_app', ['flask']),
    'flask_class_namespace': (['WSGIApp', 'Server(async_mode=)'], 'app.wsgi_app', ['flask']),
    'asgi_app': (['AsyncServer', 'ASGIApp'], 'app', ['uvicorn']),
    'fastapi_fiddle': (['AsyncServer', 'ASGIApp'], 'combined_asgi_app', ['fastapi', 'uvicorn']),
    'latency': (['AsyncServer', 'ASGIApp'], 'app', ['uvicorn']),
}


def has_feature(name):
    """``"AsyncServer"``: sio has that name; ``"Server(async_mode=)"``: sio.Server takes that
    argument."""
    if '(' not in name:
        return hasattr(sio, name)
    cls, arg = re.match(r'(\w+)\((\w+)=\)', name).groups()
    params = inspect.signature(getattr(sio, cls).__init__).parameters
    return arg in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


# ---- porting: the two lines, and proof that nothing else changed ----------------------------------

def sio_launcher(expr, port):
    """sio's documented launcher for a WSGIApp/ASGIApp: its run(host, port) method, or a
    module-level sio.run(app, host, port); None while there is none."""
    for name in ('WSGIApp', 'ASGIApp'):
        if hasattr(getattr(sio, name, None), 'run'):
            return '%s.run(host="127.0.0.1", port=%d)' % (expr, port)
    if callable(getattr(sio, 'run', None)):
        return 'socketio.run(%s, host="127.0.0.1", port=%d)' % (expr, port)
    return None


def launcher_index(lines):
    main = lines.index('if __name__ == "__main__":')
    body = [i for i in range(main + 1, len(lines)) if lines[i].strip()]
    assert len(body) == 1, 'the launcher must be one line'
    return body[0]


def port_to_sio(source, launcher):
    lines = source.splitlines()
    imports = [i for i, l in enumerate(lines) if l == 'import socketio']
    assert len(imports) == 1
    lines[imports[0]] = 'import sio as socketio'
    i = launcher_index(lines)
    lines[i] = '    ' + launcher
    ported = '\n'.join(lines) + '\n'
    changed = [l for l in difflib.unified_diff(source.splitlines(), lines, lineterm='', n=0)
               if l[:1] in '+-' and not l.startswith(('+++', '---'))]
    assert len(changed) == 4, changed  # two lines out, two in: the import and the launcher
    return ported


def with_port(source, port):
    lines = source.splitlines()
    i = launcher_index(lines)
    assert 'port=5000' in lines[i]
    lines[i] = lines[i].replace('port=5000', 'port=%d' % port)
    return '\n'.join(lines) + '\n'


@pytest.mark.parametrize('name', sorted(APPS))
def test_porting_changes_the_import_and_the_launcher_only(name):
    source = (HERE / 'upstream' / (name + '.py')).read_text()
    ported = port_to_sio(source, 'socketio.run(%s, host="127.0.0.1", port=1)' % APPS[name][1])
    compile(ported, name, 'exec')
    assert 'import sio as socketio\n' in ported and 'import socketio\n' not in ported
    assert 'uvicorn.run(' not in ported and 'app.run(' not in ported


# ---- running an app ------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class App:
    def __init__(self, name, backend, tmp_path):
        needs, expr, modules = APPS[name]
        for m in modules:
            pytest.importorskip(m)
        source = (HERE / 'upstream' / (name + '.py')).read_text()
        self.port = free_port()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1', PYTHONUNBUFFERED='1')
        if backend == 'sio':
            if BUILD_ERROR:
                pytest.fail(BUILD_ERROR)
            missing = [n for n in needs if not has_feature(n)]
            if missing:
                pytest.skip('sio has no %s yet' % ', '.join('sio.' + n for n in missing))
            launcher = sio_launcher(expr, self.port)
            if launcher is None:
                pytest.skip('sio has no launcher for WSGIApp/ASGIApp yet (run())')
            source = port_to_sio(source, launcher)
            if os.environ.get('SIO_PY_INSTALLED') != '1':
                env['PYTHONPATH'] = PKG + os.pathsep + env.get('PYTHONPATH', '')
        else:
            source = with_port(source, self.port)
        (tmp_path / 'page.html').write_text((HERE / 'upstream' / 'page.html').read_text())
        path = tmp_path / (name + '.py')
        path.write_text(source)
        self.log = open(tmp_path / 'server.log', 'w+')
        self.proc = subprocess.Popen([sys.executable, str(path)], cwd=tmp_path, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = 'http://127.0.0.1:%d' % self.port
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, 'the app exited:\n' + self.output()
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, 'the app did not listen:\n' + self.output()
                time.sleep(0.05)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=WAIT) as r:
            return r.status, r.headers.get('Content-Type', ''), r.read().decode()

    def client(self, **kw):
        c = socketio.Client()
        c.statuses = []
        c.got = threading.Condition()

        def status(data):
            with c.got:
                c.statuses.append(data['text'])
                c.got.notify_all()
        for ns in kw.get('namespaces', ['/']):
            c.on('status', status, namespace=ns)
        return c

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        out = self.output()
        self.log.close()
        return out


def wait_status(c, text, timeout=WAIT):
    with c.got:
        ok = c.got.wait_for(lambda: text in c.statuses, timeout)
    assert ok, 'no status %r (got %r)' % (text, c.statuses)


def settle(c, timeout=0.3):
    time.sleep(timeout)
    return list(c.statuses)


@pytest.fixture(params=['python-socketio', 'sio'])
def backend(request):
    return request.param


@pytest.fixture
def run_app(backend, tmp_path):
    apps = []

    def start(name):
        app = App(name, backend, tmp_path)
        apps.append(app)
        return app
    yield start
    for app in apps:
        out = app.close()
        assert 'Traceback' not in out, 'the app logged an error:\n' + out


# ---- the apps, driven ----------------------------------------------------------------------------

def rooms_scenario(app, namespace='/'):
    """What the wsgi/asgi apps and the class namespaces share: per-client and broadcast emits,
    rooms entered, left and closed."""
    a, b = app.client(namespaces=[namespace]), app.client(namespaces=[namespace])
    a.connect(app.url, namespaces=[namespace])
    b.connect(app.url, namespaces=[namespace])
    try:
        a.emit('echo', {'text': 'just me'}, namespace=namespace)
        wait_status(a, 'just me')
        a.emit('shout', {'text': 'all'}, namespace=namespace)
        wait_status(a, 'ALL')
        wait_status(b, 'ALL')
        a.emit('enter', {'room': 'r1'}, namespace=namespace)
        wait_status(a, 'in r1')
        b.emit('to_room', {'room': 'r1', 'text': 'to r1'}, namespace=namespace)
        wait_status(a, 'to r1')
        assert 'to r1' not in settle(b) and 'just me' not in b.statuses
        return a, b
    except BaseException:
        a.disconnect(); b.disconnect()
        raise


def test_wsgi_app(run_app):
    app = run_app('wsgi_app')
    status, ctype, body = app.get('/')
    assert status == 200 and 'wsgi example' in body and ctype.startswith('text/html')
    a, b = rooms_scenario(app)
    try:
        wait_status(a, 'connected')
        assert json.loads(app.get('/api/status')[2]) == {'clients': 2}
        ticks = threading.Event()
        a.on('server_tick', lambda data: ticks.set())
        assert ticks.wait(WAIT), 'the background thread emitted nothing'
        a.emit('leave', {'room': 'r1'})
        wait_status(a, 'out of r1')
        a.emit('enter', {'room': 'r2'})
        b.emit('enter', {'room': 'r2'})
        wait_status(b, 'in r2')
        a.emit('shut_room', {'room': 'r2'})
        wait_status(b, 'r2 closing')
        a.emit('to_room', {'room': 'r2', 'text': 'after close'})
        assert 'after close' not in settle(b)
        gone = threading.Event()
        a.on('disconnect', lambda *reason: gone.set())
        a.emit('bye')
        assert gone.wait(WAIT), 'the server did not disconnect the client'
    finally:
        a.disconnect(); b.disconnect()


def test_flask_class_namespace(run_app):
    app = run_app('flask_class_namespace')
    assert 'class namespaces' in app.get('/')[2]
    a, b = rooms_scenario(app, '/room')
    try:
        wait_status(a, 'connected to /room')
        assert a.call('count', 41, namespace='/room', timeout=WAIT) == 42
    finally:
        a.disconnect(); b.disconnect()


def test_asgi_app(run_app):
    app = run_app('asgi_app')
    status, ctype, body = app.get('/')
    assert status == 200 and 'socket.io example page' in body and ctype.startswith('text/html')
    a, b = rooms_scenario(app)
    try:
        wait_status(a, 'connected')
        assert a.call('remember', 'ada', timeout=WAIT) == 'ok'
        assert a.call('who', timeout=WAIT) == 'ada'
        assert b.call('who', timeout=WAIT) is None
        ticks = threading.Event()
        b.on('server_tick', lambda data: ticks.set())
        assert ticks.wait(WAIT), 'the background task emitted nothing'
        a.emit('shut_room', {'room': 'r1'})
        wait_status(a, 'r1 closing')
        gone = threading.Event()
        b.on('disconnect', lambda *reason: gone.set())
        b.emit('bye')
        assert gone.wait(WAIT)
    finally:
        a.disconnect(); b.disconnect()


def test_fastapi_fiddle(run_app):
    app = run_app('fastapi_fiddle')
    status, ctype, body = app.get('/hello')
    assert status == 200 and ctype.startswith('application/json')
    assert json.loads(body) == {'message': 'Hello from FastAPI'}
    assert 'fiddle' in app.get('/')[2]
    welcome = []
    got = threading.Event()
    c = socketio.Client()

    @c.on('welcome')
    def on_welcome(*args):
        welcome.append(list(args)); got.set()
    c.connect(app.url, auth={'token': 't'})
    try:
        assert got.wait(WAIT)
        assert welcome == [[1, 'two', {'auth': {'token': 't'}}]]
    finally:
        c.disconnect()


def test_latency(run_app):
    app = run_app('latency')
    assert 'socket.io example page' in app.get('/')[2]
    c = socketio.Client()
    back = threading.Event()
    c.on('probe_back', lambda: back.set())
    c.connect(app.url)
    try:
        for _ in range(20):
            back.clear()
            c.emit('probe')
            assert back.wait(WAIT), 'no probe_back'
    finally:
        c.disconnect()


PROBE_JS = '''import { io } from "socket.io-client";
const socket = io(process.argv[2]);
let n = 0;
const timer = setTimeout(() => { console.error("no answer after", n); process.exit(1); }, 10000);
socket.on("connect_error", (e) => { console.error(e.message); process.exit(1); });
socket.on("connect", () => socket.emit("probe"));
socket.on("probe_back", () => {
  if (++n < 20) return socket.emit("probe");
  clearTimeout(timer);
  console.log("probes:", n, "transport:", socket.io.engine.transport.name);
  socket.close();
});
'''


def test_latency_with_socketio_client_js(run_app, tmp_path):
    """The page's own client: socket.io-client 4.8 (tests/js's, from npm) probing as the page does."""
    modules = os.environ.get('SIO_NODE_MODULES',
                             str(HERE.parents[2] / 'tests' / 'js' / 'node_modules'))
    if not os.path.isdir(os.path.join(modules, 'socket.io-client')):
        pytest.skip('no socket.io-client in %s (scripts/deps.sh installs it)' % modules)
    app = run_app('latency')
    probe = tmp_path / 'js'
    probe.mkdir()
    (probe / 'node_modules').symlink_to(modules)
    (probe / 'probe.mjs').write_text(PROBE_JS)
    r = subprocess.run(['node', 'probe.mjs', app.url], cwd=probe, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'probes: 20 transport: websocket' in r.stdout, r.stdout
