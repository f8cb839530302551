"""Runs the code blocks of the guides (docs/coming-from-*.md), so that they stay true.

A fenced block whose info string is exactly ``python`` or ``lua`` is a whole server program: it is
started on a free 127.0.0.1 port (the port ``3000`` written in it is replaced; Lua runs under
``siod --port``), then driven by a python-socketio client: the code of an HTML comment
``<!-- client ... -->`` right after the block (run with ``socketio``, ``time``, ``json``,
``urllib.request`` imported and ``url`` set; it fails by raising), or, without one, a connect and
a disconnect. The server must still be running afterwards and must have logged no traceback.

Any other ``python ...`` or ``lua ...`` block (``python no-run`` for a fragment or for a name not on
main yet, ``python before`` for python-socketio's or Node's own code) is only compiled. Other
languages (``js``, ``sh``) are not checked.

Environment: SIO_PYTHON_EXE (the interpreter for the servers, default python3) with the in-tree
package from examples/contract/run's build (build-python/pyX.Y), or SIO_PY_INSTALLED=1 for an
installed one; SIOD (default build/siod). The clients run in this interpreter (python-socketio).
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDES = sorted((ROOT / 'docs').glob('coming-from-*.md'))
FENCE = re.compile(r'^```([^\n`]*)\n(.*?)^```[ \t]*\n(?:\s*<!--\s*client\n(.*?)-->)?',
                   re.S | re.M)
CLIENT_PRELUDE = 'import json, socketio, time, urllib.request\nurl = %r\n'
DEFAULT_CLIENT = 'c = socketio.SimpleClient()\nc.connect(url)\nc.disconnect()\n'


def blocks():
    for guide in GUIDES:
        text = guide.read_text()
        for m in FENCE.finditer(text):
            words = m.group(1).split()
            if not words or words[0] not in ('python', 'lua'):
                continue
            line = text.count('\n', 0, m.start()) + 1
            yield pytest.param(words[0], words[1:], m.group(2), m.group(3),
                               id='%s:%d' % (guide.name, line))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def server_command(lang, path, port):
    if lang == 'python':
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        exe = os.environ.get('SIO_PYTHON_EXE', 'python3')
        if os.environ.get('SIO_PY_INSTALLED') != '1':
            ver = subprocess.run([exe, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                                 capture_output=True, text=True, check=True).stdout.strip()
            pkg = ROOT / 'build-python' / ('py' + ver) / 'bindings' / 'python'
            env['PYTHONPATH'] = str(pkg) + os.pathsep + env.get('PYTHONPATH', '')
        return [exe, str(path)], env
    siod = os.environ.get('SIOD', str(ROOT / 'build' / 'siod'))
    return [siod, '--port', str(port), str(path)], dict(os.environ)


def compile_only(lang, code, tmp_path):
    if lang == 'python':
        compile(code, '<block>', 'exec')
        return
    path = tmp_path / 'block.lua'
    path.write_text(code)
    r = subprocess.run(['lua5.4', '-e', 'assert(loadfile(os.getenv("SIO_BLOCK")))'],
                       env=dict(os.environ, SIO_BLOCK=str(path)), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize('lang,flags,code,client', list(blocks()))
def test_block(lang, flags, code, client, tmp_path):
    if flags:
        compile_only(lang, code, tmp_path)
        return
    port = free_port()
    path = tmp_path / ('server.py' if lang == 'python' else 'server.lua')
    path.write_text(code.replace('3000', str(port)))
    cmd, env = server_command(lang, path, port)
    log = open(tmp_path / 'server.log', 'w+')
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        up = wait_port(port, proc, time.monotonic() + 30)
        log.seek(0)
        assert up, 'the server did not listen:\n' + log.read()
        url = 'http://127.0.0.1:%d' % port
        r = subprocess.run([sys.executable, '-c', CLIENT_PRELUDE % url + (client or DEFAULT_CLIENT)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        log.seek(0)
        out = log.read()
        assert r.returncode == 0, 'client failed:\n%s\n%s\nserver:\n%s' % (r.stdout, r.stderr, out)
        assert proc.poll() is None, 'the server exited:\n' + out
        assert 'Traceback' not in out and 'ERROR' not in out, 'the server logged an error:\n' + out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
