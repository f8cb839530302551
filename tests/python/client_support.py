"""What the sio client tests share: the servers they run against (the contract server in C,
Python, Lua, the Node reference, python-socketio's own AsyncServer; env SIO_CLIENT_SERVERS=c,node
keeps those only), a TCP proxy that can cut its connections, and small waiting helpers."""

import os
import shutil
import socket
import sys
import threading
import time

import pytest

import conftest

ROOT = conftest.REPO_ROOT
WAIT = 5.0


def _node_ok():
    return shutil.which('node') and os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io'))


def _psio_ok():
    try:
        import socketio  # noqa: F401
        import uvicorn  # noqa: F401
        return int(socketio.__version__.split('.')[0]) >= 5 if hasattr(socketio, '__version__') else True
    except Exception:
        return False


def _lua_ok():
    build = os.environ.get('SIO_BUILD_DIR') or os.path.join(ROOT, 'build')
    return os.path.exists(os.path.join(build, 'siod'))


KINDS = {
    'c': ('examples/contract/run c', lambda: True),
    'python': ('examples/contract/run python', lambda: True),
    'lua': ('examples/contract/run lua', _lua_ok),
    'node': ('node tests/js/reference/contract-server.mjs', _node_ok),
    'psio': ('%s tests/python/psio_contract_server.py' % sys.executable, _psio_ok),
}


def kinds(*names):
    """The servers of names that env SIO_CLIENT_SERVERS (comma-separated; default all) lets run."""
    only = [k for k in os.environ.get('SIO_CLIENT_SERVERS', '').split(',') if k]
    return [n for n in names if not only or n in only]


ALL = kinds('c', 'python', 'lua', 'node', 'psio')
CONTRACT = kinds('c', 'python', 'lua', 'node')  # dynamic namespaces


def start(kind, *args):
    """A server of `kind` (conftest.Server: --port 0 unless args give one)."""
    cmd, available = KINDS[kind]
    if not available():
        pytest.skip('%s server not available here' % kind)
    # the Python contract server runs on this interpreter: its sio is the one under test (the
    # in-tree build for its version, or with SIO_PY_INSTALLED=1 the installed package)
    env = {'SIO_SERVER': cmd, 'SIO_PYTHON_EXE': sys.executable}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return conftest.Server(args)
    finally:
        for k, v in old.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


_shared = {}


def shared(kind):
    """One server of `kind` with default options for the whole run."""
    srv = _shared.get(kind)
    if srv is None or srv.proc.poll() is not None:
        srv = _shared[kind] = start(kind)
    return srv


def stop_shared():
    for srv in _shared.values():
        srv.stop()
    _shared.clear()


def wait_for(pred, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proxy:
    """A TCP proxy on 127.0.0.1 to `port`; cut() closes every connection it carries (the listener
    stays), as a network failure would."""

    def __init__(self, port):
        self.target = port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.conns = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                a, _ = self.listener.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(('127.0.0.1', self.target))
            except OSError:
                a.close()
                continue
            with self.lock:
                self.conns += [a, b]
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
            threading.Thread(target=self._pipe, args=(b, a), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        self.listener.close()
        self.cut()
