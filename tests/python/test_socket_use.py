"""Node's socket.use (per-packet middleware), the catch-alls (on_any, prepend_any, off_any,
listeners_any and their _outgoing twins) and several listeners per event on the Node-shaped
sio.Socket (python/sio/socket.py): in process, and driven by socket.io-client 4.8
(tests/python/socket_use_client.mjs, which tests/lua/socket_use_spec.lua runs against the same app
in Lua)."""

import json
import os
import shutil
import subprocess
import threading

import pytest

from test_api import ROOT, WAIT, Running, client, sio, wait_for  # noqa: F401

NODE = shutil.which('node')
DRIVER = os.path.join(os.path.dirname(__file__), 'socket_use_client.mjs')
HAVE_CLIENT = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io-client'))
HAVE_SERVER = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io'))


def use_server():
    """The app socket_use_client.mjs drives."""
    server = sio.Server()

    @server.on('connection')
    def connection(socket):
        log_any, log_out = [], []
        socket.on_any(lambda event, *args: log_any.append('a:' + event))
        socket.prepend_any(lambda event, *args: log_any.append('p:' + event))
        socket.on_any_outgoing(lambda event, *args: log_out.append(event))

        @socket.use
        def guard(packet, next):
            event = packet[0]
            if event == 'deny':
                next(Exception('denied'))
            elif event == 'guarded':
                packet[-1]({'error': 'no'})  # the ack, last, as in Node
                next(Exception('guarded'))
            elif event == 'mod':
                packet[1] *= 10
                next()
            elif event == 'slow':
                server.call_later(0.05, next)
            else:
                next()

        socket.on('error', lambda err: socket.emit('err', str(err)))
        socket.on('multi', lambda: None)
        socket.on('multi', lambda: 'two')
        socket.on('multi', lambda: 'three')
        socket.on('none', lambda: None)
        socket.on('none', lambda: None)
        socket.on('mod', lambda n: n)
        socket.on('slow', lambda n: n + 1)
        socket.once('one', lambda: 'first')
        socket.on('one', lambda: 'later')

        @socket.on('bcast')
        def bcast():
            server.emit('news', 1)
            socket.emit('direct', 2)

        socket.on('logs', lambda: {'any': log_any, 'out': log_out})

        @socket.on('off')
        def off():
            socket.off_any()
            socket.off_any_outgoing()
            socket.remove_all_listeners('multi')
            return [len(socket.listeners_any()), len(socket.listeners_any_outgoing()),
                    len(socket.listeners('multi')), len(socket.listeners('one'))]

    return server


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_use_catch_alls_and_listeners_socket_io_client():
    with Running(use_server()) as r:
        p = subprocess.run([NODE, DRIVER, r.url], capture_output=True, timeout=20, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode('utf-8', 'replace')
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert out['multi'] == ['two']  # the first value that is not None
    assert out['none'] == []        # none: an ack without values
    assert out['deny'] == 'timeout'  # refused: never answered, as Node's
    assert out['guarded'] == [{'error': 'no'}]
    assert out['mod'] == [40]
    assert out['slow'] == [6]
    assert out['one'] == [['first'], ['later']]
    assert out['bcast'] == []
    assert out['news'] == [1] and out['direct'] == [2]
    assert out['errs'] == ['denied', 'guarded']
    events = ['multi', 'none', 'deny', 'guarded', 'mod', 'slow', 'one', 'one', 'bcast', 'logs']
    assert out['logs'] == [{'any': [x for e in events for x in ('p:' + e, 'a:' + e)],
                            'out': ['err', 'err', 'news', 'direct']}]
    assert out['off'] == [[0, 0, 0, 1]]


def test_use_with_sid_style_handler_thread_next_and_disconnect():
    """A middleware's next() from another thread; an event let through reaches the sid-style
    handler when no socket listener takes it, its return value the ack; an "error" without a
    listener is logged; a chain still running when the client leaves dispatches nothing."""
    server = sio.Server()
    held = []
    seen = []

    @server.on('connection')
    def connection(socket):
        def mw(packet, next):
            if packet[0] == 'hold':
                held.append(next)
            elif packet[0] == 'later':
                threading.Timer(0.05, next).start()
            elif packet[0] == 'bad':
                raise ValueError('raised')
            else:
                next()
        socket.use(mw)

    @server.on('later')
    def later(sid, n):
        return n * 2

    @server.on('hold')
    def hold(sid):
        seen.append('hold')

    with Running(server) as r:
        c = client(r.url)
        assert c.call('later', 21, timeout=WAIT) == 42
        c.emit('bad')
        c.emit('hold')
        assert wait_for(lambda: held)
        c.disconnect()
        assert wait_for(lambda: not server._node_sockets)
        held[0]()  # from this thread, after the client left: nothing reaches the handler
        done = threading.Event()
        server.call_soon_threadsafe(done.set)
        assert done.wait(WAIT)
    assert seen == []


def test_catch_all_lists_in_process():
    server = sio.Server()
    sock = sio.Socket(server, '/', '/', 'x', {})

    def a(*args): pass

    def b(*args): pass

    sock.on_any(a)
    sock.prepend_any(b)
    sock.on_any(a)
    assert sock.listeners_any() == [b, a, a]
    sock.off_any(a)
    assert sock.listeners_any() == [b, a]
    sock.off_any()
    assert sock.listeners_any() == []
    sock.on('x', a)
    sock.once('x', b)
    sock.on('y', a)
    assert sock.listeners('x') == [a, b]
    sock.remove_all_listeners('x')
    assert sock.listeners('x') == [] and sock.listeners('y') == [a]
    sock.remove_all_listeners()
    assert sock.listeners('y') == []


@pytest.mark.skipif(not NODE or not HAVE_SERVER, reason='node and socket.io (the server) in tests/js/node_modules needed')
def test_same_driver_against_node_reference():
    """The driver against Node's socket.io 4.8 with the same app (socket_use_node_app.mjs): what
    sio's app gives is what Node's gives, but for which listener answers an ack (Node: the first to
    call it; two listeners that never call it: no ack at all)."""
    app = subprocess.Popen([NODE, os.path.join(os.path.dirname(__file__), 'socket_use_node_app.mjs')],
                           stdout=subprocess.PIPE, cwd=ROOT)
    try:
        line = app.stdout.readline().decode()
        assert line.startswith('port '), line
        p = subprocess.run([NODE, DRIVER, 'http://127.0.0.1:%d' % int(line.split()[1])],
                           capture_output=True, timeout=20, cwd=ROOT)
    finally:
        app.kill()
        app.wait()
    assert p.returncode == 0, p.stderr.decode('utf-8', 'replace')
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert out['multi'] == ['two']
    assert out['none'] == 'timeout'
    assert out['deny'] == 'timeout'
    assert out['guarded'] == [{'error': 'no'}]
    assert out['mod'] == [40] and out['slow'] == [6]
    assert out['one'] == [['first'], ['later']]
    assert out['news'] == [1] and out['direct'] == [2]
    assert out['errs'] == ['denied', 'guarded']
    events = ['multi', 'none', 'deny', 'guarded', 'mod', 'slow', 'one', 'one', 'bcast', 'logs']
    assert out['logs'] == [{'any': [x for e in events for x in ('p:' + e, 'a:' + e)],
                            'out': ['err', 'err', 'news', 'direct']}]
    assert out['off'] == [[0, 0, 0, 1]]


def test_asyncio_coroutine_middleware_and_listeners():
    """asyncio mode: a coroutine middleware that waits is awaited, a coroutine listener's value is
    the ack, and a coroutine middleware that raises reaches the "error" listener."""
    import asyncio

    import socketio

    server = sio.Server()
    errors = []

    @server.on('connection')
    def connection(socket):
        @socket.use
        async def slow(packet, next):
            await asyncio.sleep(0.01)
            if packet[0] == 'bad':
                raise ValueError('bad event')
            packet[1] += 1
            next()

        socket.on('error', lambda err: errors.append(str(err)))
        socket.on('inc', lambda n: None)

        @socket.on('inc')
        async def inc(n):
            await asyncio.sleep(0.01)
            return n

    async def main():
        task = asyncio.ensure_future(server.serve('127.0.0.1', 0))
        await asyncio.sleep(0.05)
        url = 'http://127.0.0.1:%d' % server.port
        result = {}

        def drive():
            c = socketio.Client(reconnection=False)
            c.connect(url, transports=['websocket'], wait_timeout=WAIT)
            c.emit('bad', 0)
            result['inc'] = c.call('inc', 41, timeout=WAIT)
            c.disconnect()

        await asyncio.get_running_loop().run_in_executor(None, drive)
        server.stop()
        await asyncio.wait_for(task, WAIT)
        return result

    assert asyncio.run(main()) == {'inc': 42}
    assert errors == ['bad event']
