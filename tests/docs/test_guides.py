"""Runs the code blocks of the guides (docs/coming-from-*.md), so that they stay true.

A fenced block whose info string is exactly ``python``, ``lua`` or ``js`` is a whole server
program: it is started on a free 127.0.0.1 port (the port ``3000`` written in it is replaced; Lua
runs under ``siod --port``; JavaScript under node with tests/js's socket.io 4.8, the reference),
then driven by a python-socketio client: the code of the next HTML comment ``<!-- client ... -->``
(run with ``socketio``, ``time``, ``json``, ``urllib.request`` imported and ``url`` set; it fails
by raising), which drives every runnable block since the previous such comment — so one script
checks the Node original and its Lua and Python ports alike. A block with no comment after it gets
a connect and a disconnect. The server must still be running afterwards and must have logged no
traceback.

Any other ``python ...`` or ``lua ...`` block (``python no-run`` for a fragment or for a name not on
main yet, ``python before`` for python-socketio's own code) is only compiled; ``js ...`` blocks are
left alone, as are other languages (``sh``).

Environment: SIO_PYTHON_EXE (the interpreter for the servers, default python3) with the in-tree
package from examples/contract/run's build (build-python/pyX.Y), or SIO_PY_INSTALLED=1 for an
installed one; SIOD (default build/siod); SIO_NODE_MODULES (default tests/js/node_modules, made by
scripts/deps.sh). The clients run in this interpreter (python-socketio).
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
FENCE = re.compile(r'^```([^\n`]*)\n(.*?)^```[ \t]*$|^<!--\s*client\n(.*?)-->', re.S | re.M)
# The client script runs under exec; a failure exits at once (a connected python-socketio client's
# threads would otherwise keep the process alive until the timeout).
CLIENT = '''import json, os, socketio, sys, time, traceback, urllib.request
url = %r
try:
    exec(compile(%r, "<client>", "exec"))
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)
sys.stdout.flush()
os._exit(0)
'''
DEFAULT_CLIENT = 'c = socketio.Client()\nc.connect(url)\nc.disconnect()\n'
RUNNABLE = ('python', 'lua', 'js')
LOOPBACK_JS = '''import net from "node:net";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  return listen.apply(this, args);
};
'''


def blocks():
    for guide in GUIDES:
        text = guide.read_text()
        group = []  # runnable blocks waiting for their client
        for m in FENCE.finditer(text):
            if m.group(3) is not None:
                for b in group:
                    b[3] = m.group(3)
                group = []
                continue
            words = m.group(1).split()
            if not words or words[0] not in RUNNABLE or (words[0] == 'js' and len(words) > 1):
                continue
            line = text.count('\n', 0, m.start()) + 1
            b = [words[0], words[1:], m.group(2), None, '%s:%d' % (guide.name, line)]
            if not words[1:]:
                group.append(b)
            yield b


def params():
    found = list(blocks())  # a block's client is known only once its group's comment is read
    return [pytest.param(*b[:4], id=b[4]) for b in found]


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
    if lang == 'js':
        modules = os.environ.get('SIO_NODE_MODULES', str(ROOT / 'tests' / 'js' / 'node_modules'))
        if not os.path.isdir(os.path.join(modules, 'socket.io')):
            pytest.skip('no socket.io in %s (scripts/deps.sh installs it)' % modules)
        link = path.parent / 'node_modules'
        if not link.exists():
            link.symlink_to(modules)  # ESM resolves from the file's directory up
        # `new Server(3000)` listens on every interface: the test keeps it on loopback
        (path.parent / 'loopback.mjs').write_text(LOOPBACK_JS)
        return ['node', '--import', './loopback.mjs', str(path)], dict(os.environ)
    siod = os.environ.get('SIOD', str(ROOT / 'build' / 'siod'))
    return [siod, '--host', '127.0.0.1', '--port', str(port), str(path)], dict(os.environ)


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


@pytest.mark.parametrize('lang,flags,code,client', params())
def test_block(lang, flags, code, client, tmp_path):
    if flags:
        compile_only(lang, code, tmp_path)
        return
    port = free_port()
    path = tmp_path / {'python': 'server.py', 'lua': 'server.lua', 'js': 'server.mjs'}[lang]
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
        r = subprocess.run([sys.executable, '-c', CLIENT % (url, client or DEFAULT_CLIENT)],
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
