"""What tests/client's tests share: the paths, servers started as processes, a run of
sio-client-check read line by line, and a TCP proxy (asyncio, on a thread of its own) that the test
can cut, make refuse, and let through again. Everything listens on 127.0.0.1 only."""
import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.abspath(os.environ.get('SIO_BUILD_DIR', os.path.join(ROOT, 'build')))
CHECK = os.path.join(BUILD, 'sio-client-check')
RUN = os.path.join(ROOT, 'examples', 'contract', 'run')
NODE_REFERENCE = os.path.join(ROOT, 'tests', 'js', 'reference', 'contract-server.mjs')
PYSIO_SERVER = os.path.join(ROOT, 'tests', 'client', 'pysio_server.py')
LISTENING = re.compile(r'listening on http://([^\s:/]+):(\d+)')
# an ASan build (CI's asan stage): leaks fail the run, and RSS figures mean nothing
ASAN = 'asan' in os.path.basename(BUILD)


def pysio_python():
    """An interpreter with PyPI python-socketio >= 5, uvicorn and websockets, or None."""
    for py in filter(None, [os.environ.get('SIO_PYSIO_PYTHON'), sys.executable, 'python3']):
        try:
            out = subprocess.run([py, '-c', 'import socketio, uvicorn, websockets, importlib.metadata as m; '
                                  'print(m.version("python-socketio"))'],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and int(out.stdout.strip().split('.')[0]) >= 5:
            return py
    return None


def have_node_reference():
    return (os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io'))
            and subprocess.run(['node', '--version'], capture_output=True).returncode == 0)


def server_argv(name):
    if name in ('c', 'python', 'lua'):
        return [RUN, name]
    if name == 'node':
        return ['node', NODE_REFERENCE]
    if name == 'python-socketio':
        return [pysio_python(), PYSIO_SERVER]
    raise ValueError(name)


class Server:
    """A server process printing `listening on http://H:P`; stop() ends its process group."""

    def __init__(self, argv, port=0, env=None):
        self.argv = list(argv) + ['--port', str(port)]
        e = dict(os.environ)
        e.update(env or {})
        e['SIO_BUILD_DIR'] = BUILD
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, env=e)
        self.err = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True).start()
        deadline = time.monotonic() + 60  # a first run may build the Python extension
        self.port = None
        for raw in iter(self.proc.stdout.readline, b''):
            m = LISTENING.search(raw.decode('utf-8', 'replace'))
            if m:
                self.port = int(m.group(2))
                break
            if time.monotonic() > deadline:
                break
        if self.port is None:
            self.kill()
            raise RuntimeError('%s did not start: %s' % (' '.join(self.argv), ''.join(self.err)[-2000:]))
        threading.Thread(target=self._drain, args=(self.proc.stdout, None), daemon=True).start()
        self.url = 'http://127.0.0.1:%d' % self.port

    @staticmethod
    def _drain(stream, keep):
        for raw in iter(stream.readline, b''):
            if keep is not None:
                keep.append(raw if isinstance(raw, str) else raw.decode('utf-8', 'replace'))
                del keep[:-200]

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except OSError:
            return
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()


def run_check(url, *args, timeout=60):
    """Runs sio-client-check to its end; returns (returncode, stdout, stderr)."""
    env = dict(os.environ)
    env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
    p = subprocess.run([CHECK, url, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


class Check:
    """sio-client-check running in the background, its stdout lines collected for wait_for()."""

    def __init__(self, url, *args):
        env = dict(os.environ)
        env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
        self.proc = subprocess.Popen([CHECK, url, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.lines = []
        self.err = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=Server._drain, args=(self.proc.stderr, self.err), daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip('\n'))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # the end
            self.cond.notify_all()

    def wait_for(self, prefix, timeout=30, start=0):
        """The index of the first line from `start` beginning with prefix; AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    line = self.lines[i]
                    if line is None:
                        raise AssertionError('sio-client-check ended before %r:\n%s' % (prefix, self.output()))
                    if line.startswith(prefix):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError('no %r within %s s:\n%s' % (prefix, timeout, self.output()))
                self.cond.wait(left)

    def finish(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError('sio-client-check did not end:\n' + self.output())
        time.sleep(0.05)
        return rc

    def output(self):
        return '\n'.join(l for l in self.lines if l is not None) + '\nstderr:\n' + ''.join(self.err)[-3000:]


def events(lines, name):
    """`event NAME k=v ...` lines as dicts."""
    out = []
    for line in lines:
        if line and line.startswith('event %s ' % name):
            out.append(dict(kv.split('=', 1) for kv in line.split(' ')[2:] if '=' in kv))
    return out


class Loop:
    """An asyncio loop on a daemon thread, for the proxy and the bad servers."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        # bad servers' handlers end cancelled or by errors on purpose: nothing to log
        self.loop.set_exception_handler(lambda loop, context: None)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn, *args):
        done = threading.Event()

        def go():
            fn(*args)
            done.set()
        self.loop.call_soon_threadsafe(go)
        done.wait(10)

    def close(self):
        async def cancel_all():
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()
        try:
            self.run(cancel_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


class Proxy:
    """127.0.0.1:port -> 127.0.0.1:target. cut() closes every connection; while refusing, new ones
    are accepted and closed at once."""

    def __init__(self, loop, target_port):
        self.loop = loop
        self.target = target_port
        self.refusing = False
        self.conns = set()
        self.accepted = 0
        self.server = loop.run(asyncio.start_server(self._handle, '127.0.0.1', 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port

    async def _handle(self, reader, writer):
        self.accepted += 1
        if self.refusing:
            writer.transport.abort()
            return
        try:
            ur, uw = await asyncio.open_connection('127.0.0.1', self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, uw)
        self.conns.add(pair)

        async def pipe(r, w):
            try:
                while True:
                    data = await r.read(65536)
                    if not data:
                        break
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                w.transport.abort()
        await asyncio.gather(pipe(reader, uw), pipe(ur, writer))
        self.conns.discard(pair)

    def cut(self, refuse=True):
        def go():
            self.refusing = refuse
            for a, b in list(self.conns):
                a.transport.abort()
                b.transport.abort()
            self.conns.clear()
        self.loop.call(go)

    def let_through(self):
        def go():
            self.refusing = False
        self.loop.call(go)

    def close(self):
        self.cut()
        self.loop.call(self.server.close)
