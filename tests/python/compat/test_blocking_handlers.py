"""Blocking sync handlers: with `async_handlers=True` (python-socketio's name) they run on a worker
pool, so a handler that blocks delays only its own client; without it, every client waits (the
documented stall). Per-socket order is kept, the return value is still the ack, and call() works
inside such a handler."""

import threading
import time

import pytest

from _support import BUILD_ERROR, WAIT, Serving, client, sio

socketio = sio


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def blocking_app(**kw):
    app = socketio.Server(**kw)
    started = threading.Event()
    order = []

    @app.event
    def block(sid):
        started.set()
        time.sleep(1.0)  # a database call, a blocking library...
        order.append('block')
        return 'unblocked'

    @app.event
    def echo(sid, x):
        order.append(('echo', x))
        return x

    @app.event
    def ask(sid):
        return app.call('question', to=sid, timeout=2)  # blocks this worker, not the server

    @app.event
    def where(sid):
        return sorted(app.rooms(sid)) == [sid] and app.connected(sid) and app.socket_count() >= 1

    return app, started, order


def stalled_echoes(app, started, tries):
    """Another client's echo round trips while a's handler blocks for 1 s (``tries`` of them, one
    after another: on a loaded machine the best one tells the stall from the noise)."""
    with Serving(app) as url:
        a, b = client(url), client(url)
        try:
            a.emit('block')
            assert started.wait(WAIT)
            times = []
            for i in range(tries):
                t0 = time.monotonic()
                assert b.call('echo', i, timeout=WAIT) == i
                times.append(time.monotonic() - t0)
            return times
        finally:
            a.disconnect()
            b.disconnect()


def test_a_blocking_handler_delays_only_its_own_client_with_async_handlers():
    app, started, _ = blocking_app(async_handlers=True, handler_workers=4)
    times = stalled_echoes(app, started, 5)
    assert min(times) < 0.05, times
    assert sum(times) < 0.5, times  # all five while the handler still blocks


def test_without_async_handlers_a_blocking_handler_stalls_everyone():
    app, started, _ = blocking_app()
    times = stalled_echoes(app, started, 1)
    assert times[0] >= 0.9, times  # the documented cost of handlers on the server's thread


def test_async_handlers_keep_each_sockets_order_acks_and_call():
    app, started, order = blocking_app(async_handlers=True, handler_workers=2)
    with Serving(app) as url:
        a = client(url)
        a.on('question', lambda: 'answer')
        try:
            answers = []
            a.emit('block', callback=lambda *v: answers.append(v))
            t0 = time.monotonic()
            assert a.call('echo', 1, timeout=WAIT) == 1  # queued behind its own socket's block
            assert time.monotonic() - t0 >= 0.9
            assert order == ['block', ('echo', 1)]
            assert answers == [('unblocked',)]
            assert a.call('ask', timeout=WAIT) == 'answer'  # call() inside a worker's handler
            assert a.call('where', timeout=WAIT) is True  # the core's state asked from a worker
        finally:
            a.disconnect()
