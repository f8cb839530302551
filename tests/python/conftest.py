"""Starts the contract server under test for the Python client tests.

Same rules as tests/js/server.mjs: the command is env SIO_SERVER (split on
spaces; default `examples/contract/run c`); a program path containing a `/` is
resolved from the repository root; the server runs in the repository root, in
a process group of its own, with `--port 0` and then the caller's extra
arguments. start_server() returns once the server printed
`listening on http://HOST:PORT` (10 s at most); stop() sends SIGTERM to the
group and SIGKILL 5 s later if it is still there. The server's stderr is kept
(last 20 kB) and shown live when env SIO_SERVER_STDERR is set.
"""

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEFAULT_COMMAND = 'examples/contract/run c'
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
LISTENING_RE = re.compile(r'listening on (http://([^\s:/]+):(\d+))\s*\n')

_running = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_running):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def server_command():
    words = [w for w in os.environ.get('SIO_SERVER', DEFAULT_COMMAND).split(' ') if w]
    if not words:
        raise RuntimeError('SIO_SERVER is empty')
    program, rest = words[0], words[1:]
    if '/' in program:
        program = os.path.normpath(os.path.join(REPO_ROOT, program))
    return program, rest


class Server:
    def __init__(self, args=()):
        program, base = server_command()
        self.argv = [program, *base, '--port', '0', *args]
        self._stdout = ''
        self._stderr = ''
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self.host = None
        self.port = None
        self.proc = subprocess.Popen(
            self.argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)  # own process group: stop() reaches a wrapper's children
        _running.add(self.proc)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._listening.wait(0.05):
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the readers collect the last output
                self._fail('server exited before listening (status %s)' % self.proc.returncode)
            if time.monotonic() > deadline:
                self._fail('server did not print its listening line within %.0f s' % START_TIMEOUT)
        self.url = 'http://127.0.0.1:%d' % self.port

    def _fail(self, why):
        self.kill()
        with self._lock:
            out, err = self._stdout, self._stderr
        raise RuntimeError('%s\ncommand: %s\nstdout: %s\nstderr: %s'
                           % (why, ' '.join(self.argv), out, err))

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b''):
            # keep draining after the listening line so the server never blocks on a full pipe
            if self._listening.is_set():
                continue
            with self._lock:
                self._stdout += raw.decode('utf-8', 'replace')
                m = LISTENING_RE.search(self._stdout)
            if m:
                self.host, self.port = m.group(2), int(m.group(3))
                self._listening.set()

    def _read_stderr(self):
        show = bool(os.environ.get('SIO_SERVER_STDERR'))
        for raw in iter(self.proc.stderr.readline, b''):
            text = raw.decode('utf-8', 'replace')
            if show:
                sys.stderr.write(text)
                sys.stderr.flush()
            with self._lock:
                self._stderr = (self._stderr + text)[-20000:]

    @property
    def stderr(self):
        with self._lock:
            return self._stderr

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        _running.discard(self.proc)

    def stop(self):
        """SIGTERM (SIGKILL after 5 s); returns the exit status (negative: killed by a signal)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        _running.discard(self.proc)
        return self.proc.returncode


def start_server(args=()):
    return Server(args)


@pytest.fixture(scope='session')
def server():
    """One contract server with default options, shared by the whole run."""
    srv = start_server()
    yield srv
    srv.stop()
