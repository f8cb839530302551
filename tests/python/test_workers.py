"""sio.Server(workers=N) in process: N event loops on N threads in one interpreter, one port.

Handlers run on their worker's thread (the same functions for every worker); what a handler calls
acts on its own worker, or on the owner of the sid it names; calls from other threads are queued
onto the right loop; stop() from anywhere ends every worker. Clients are python-socketio's, each on
a fresh connection, so that the kernel (SO_REUSEPORT) spreads them over the workers."""

import threading
import time

import pytest
import socketio

from test_api import Running, sio, wait_for, WAIT  # noqa: F401  (test_api's build fixture too)
from test_api import _built  # noqa: F401

N_CLIENTS = 12


def connect_many(url, n=N_CLIENTS, events=('news', 'room-news')):
    cs = []
    for _ in range(n):
        c = socketio.Client(reconnection=False)
        c.received = []
        for ev in events:
            c.on(ev, (lambda c, ev: lambda *a: c.received.append((ev,) + a))(c, ev))
        c.connect(url, transports=['websocket'], wait_timeout=WAIT)
        cs.append(c)
    return cs


def close_all(cs):
    for c in cs:
        c.disconnect()


@pytest.fixture
def two():
    """A running Server(workers=2) with handlers recording where they ran."""
    srv = sio.Server(workers=2)
    where = {}  # sid -> (worker index, thread id) of its connect handler

    @srv.event
    def connect(sid, environ):
        where[sid] = (srv.worker_index(), threading.get_ident())

    @srv.on('whoami')
    def whoami(sid):
        return srv.worker_index(), where[sid][0]

    @srv.on('kick')
    def kick(sid, other):
        srv.disconnect(other)  # possibly another worker's socket
        return 'ok'

    @srv.on('rooms-of')
    def rooms_of(sid, other):
        return sorted(srv.rooms(other))

    meet = threading.Barrier(2, timeout=WAIT)

    @srv.on('rooms-of-together')
    def rooms_of_together(sid, other):
        meet.wait()  # both handlers, on both workers, then wait on each other's worker at once
        return sorted(srv.rooms(other))

    @srv.on('shout')
    def shout(sid, text):
        srv.emit('news', text)  # every worker's sockets

    @srv.on('stop')
    def stop(sid):
        srv.stop()

    saved = {}  # sid -> the sio.Ack of its 'later' call, answered by someone else

    @srv.on('later')
    def later(sid, *args, ack):
        saved[sid] = ack

    @srv.on('answer-for')
    def answer_for(sid, other, value):
        saved.pop(other)(value)  # maybe another worker's socket's ack, on this worker's thread
        return 'ok'

    spinning, release = threading.Event(), threading.Event()

    @srv.on('spin')
    def spin(sid):
        # Python that never blocks: only the interpreter's switch interval lets the other worker in
        spinning.set()
        deadline = time.monotonic() + WAIT
        while not release.is_set() and time.monotonic() < deadline:
            pass
        return release.is_set()

    with Running(srv) as r:
        r.where, r.saved, r.spinning, r.release = where, saved, spinning, release
        yield r


def by_worker(r, cs):
    out = {}
    for c in cs:
        out.setdefault(r.where[c.get_sid()][0], []).append(c)
    return out


def test_options():
    with pytest.raises(ValueError):
        sio.Server(workers=0)
    with pytest.raises(ValueError):
        sio.Server(workers=65)
    with pytest.raises(TypeError):
        sio.Server(workers='2')
    with pytest.raises(ValueError, match='AsyncServer'):
        sio.AsyncServer(workers=2)
    s = sio.Server(workers=1)
    assert s.workers == 1 and s.worker_index() == 0


def test_handlers_on_both_workers(two):
    cs = connect_many(two.url)
    try:
        assert wait_for(lambda: len(two.where) == len(cs))
        groups = by_worker(two, cs)
        assert sorted(groups) == [0, 1], 'sessions on both workers'
        threads = {two.where[c.get_sid()][1] for c in cs}
        assert len(threads) == 2, 'one thread per worker'
        for w, members in groups.items():
            for c in members:
                assert list(c.call('whoami', timeout=WAIT)) == [w, w], 'a socket\'s handlers run on its worker'
        assert two.server.worker_index() is None, 'the test thread is no worker'
    finally:
        close_all(cs)


def test_emit_from_a_handler_reaches_every_worker_once(two):
    cs = connect_many(two.url)
    try:
        cs[0].emit('shout', 'hello')
        assert wait_for(lambda: all(c.received for c in cs))
        time.sleep(0.2)
        assert all(c.received == [('news', 'hello')] for c in cs)
    finally:
        close_all(cs)


def test_calls_from_a_foreign_thread(two):
    cs = connect_many(two.url)
    srv = two.server
    try:
        groups = by_worker(two, cs)
        assert sorted(groups) == [0, 1]
        a, b = groups[0][0], groups[1][0]
        box = []

        def foreign():
            srv.emit('news', 'all')
            srv.emit('news', 'just b', to=b.get_sid())
            srv.enter_room(a.get_sid(), 'club')
            srv.enter_room(b.get_sid(), 'club')
            box.append((sorted(srv.rooms(a.get_sid())), sorted(srv.rooms(b.get_sid()))))
            srv.emit('room-news', 'club', room='club')

        t = threading.Thread(target=foreign)
        t.start()
        t.join(WAIT)
        assert box == [(sorted([a.get_sid(), 'club']), sorted([b.get_sid(), 'club']))]
        assert wait_for(lambda: ('room-news', 'club') in b.received and ('room-news', 'club') in a.received)
        time.sleep(0.2)
        assert a.received == [('news', 'all'), ('room-news', 'club')]
        assert b.received == [('news', 'all'), ('news', 'just b'), ('room-news', 'club')]
        for c in cs:
            if c not in (a, b):
                assert c.received == [('news', 'all')]
    finally:
        close_all(cs)


def test_a_handler_acts_on_another_workers_socket(two):
    cs = connect_many(two.url)
    try:
        groups = by_worker(two, cs)
        a, b = groups[0][0], groups[1][0]
        assert a.call('rooms-of', b.get_sid(), timeout=WAIT) == [b.get_sid()]
        assert b.call('rooms-of', a.get_sid(), timeout=WAIT) == [a.get_sid()]
        gone = threading.Event()
        b.on('disconnect', gone.set)
        assert a.call('kick', b.get_sid(), timeout=WAIT) == 'ok'
        assert gone.wait(WAIT), "worker 1's socket kicked from worker 0's handler"
    finally:
        close_all(cs)


def test_two_handlers_waiting_on_each_others_worker(two):
    """Worker 0's handler asks worker 1 while worker 1's asks worker 0: neither waits for ever."""
    cs = connect_many(two.url)
    try:
        groups = by_worker(two, cs)
        a, b = groups[0][0], groups[1][0]
        out = {}
        ts = [threading.Thread(target=lambda c, o: out.__setitem__(c, c.call('rooms-of-together', o.get_sid(),
                                                                              timeout=WAIT)), args=p)
              for p in ((a, b), (b, a))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(WAIT + 1)
        assert out == {a: [b.get_sid()], b: [a.get_sid()]}
    finally:
        close_all(cs)


def test_stop_from_a_handler_ends_every_worker():
    srv = sio.Server(workers=2)

    @srv.on('stop')
    def stop(sid):
        srv.stop()

    r = Running(srv)
    cs = connect_many(r.url, 6)
    try:
        cs[-1].emit('stop')
        r.thread.join(WAIT)
        assert not r.thread.is_alive()
        assert srv.wait_closed(WAIT)
        assert wait_for(lambda: not any(c.connected for c in cs))
    finally:
        close_all(cs)


def test_listen_once():
    srv = sio.Server(workers=2)
    srv.listen('127.0.0.1', 0)
    with pytest.raises(RuntimeError):
        srv.listen('127.0.0.1', 0)
    r = threading.Thread(target=srv.run, kwargs={'handle_signals': False})
    r.start()
    srv.stop()
    r.join(WAIT)
    assert not r.is_alive()


def test_a_failed_start_raises_and_a_retry_works():
    import socket as pysocket
    taken = pysocket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    try:
        srv = sio.Server(workers=2)
        with pytest.raises(OSError):
            srv.listen('127.0.0.1', taken.getsockname()[1])  # worker 0's setup fails
        with pytest.raises(sio.Error):  # files that are no certificate: worker 0's setup fails
            sio.Server(workers=2).listen('127.0.0.1', 0, certfile=__file__, keyfile=__file__)
        with Running(srv) as r:  # listen() again: the workers start this time
            cs = connect_many(r.url, 2)
            close_all(cs)
    finally:
        taken.close()


def test_an_ack_answered_on_another_thread_goes_to_its_worker(two):
    """A sio.Ack kept by a handler and called on another worker's thread, or on a thread of the
    application's, is sent by its own socket's worker."""
    cs = connect_many(two.url)
    try:
        groups = by_worker(two, cs)
        a, b = groups[0][0], groups[1][0]
        for asker, answerer in ((b, a), (a, b)):
            got = []
            asker.emit('later', callback=lambda *v: got.append(v))
            assert wait_for(lambda: asker.get_sid() in two.saved)
            assert answerer.call('answer-for', (asker.get_sid(), 'from another worker'), timeout=WAIT) == 'ok'
            assert wait_for(lambda: got == [('from another worker',)])
        for asker in (a, b):
            got = []
            asker.emit('later', callback=lambda *v: got.append(v))
            assert wait_for(lambda: asker.get_sid() in two.saved)
            t = threading.Thread(target=lambda: two.saved.pop(asker.get_sid())('from a thread'))
            t.start()
            t.join(WAIT)
            assert wait_for(lambda: got == [('from a thread',)])
    finally:
        close_all(cs)


def test_a_spinning_handler_does_not_starve_the_other_worker(two):
    """A handler running Python without blocking holds the GIL; the other worker's handlers still
    run meanwhile (the interpreter's switch interval takes it from the spinning one)."""
    cs = connect_many(two.url)
    try:
        groups = by_worker(two, cs)
        a, b = groups[0][0], groups[1][0]
        for spinner, other, w in ((a, b, 1), (b, a, 0)):
            two.spinning.clear()
            two.release.clear()
            done = []
            spinner.emit('spin', callback=lambda *v: done.append(v))
            assert two.spinning.wait(WAIT)
            for _ in range(5):
                assert list(other.call('whoami', timeout=WAIT)) == [w, w]
            assert not done, 'the spinning handler was still running'
            two.release.set()
            assert wait_for(lambda: done == [(True,)])
    finally:
        close_all(cs)


def test_busy_workers_with_a_packet_middleware():
    """Both workers busy at once (their loops then hand the GIL over after each event rather than
    after each batch), with a packet middleware on every other socket, whose next() dispatches the
    event from Python, while the batch of its poll may already hold the GIL (an event of a socket
    without one came first): the GIL must stay with the middleware."""
    srv = sio.Server(workers=2)
    count = []

    @srv.on('connection')
    def connection(socket):
        count.append(socket)
        if len(count) % 2:
            @socket.use
            def passing(packet, next):
                next()

        socket.on('double', lambda n: n * 2)

    with Running(srv) as r:
        cs = connect_many(r.url, 12)
        try:
            errors = []

            def hammer(c, base):
                try:
                    for i in range(200):
                        assert c.call('double', base + i, timeout=WAIT) == 2 * (base + i)
                except BaseException as e:  # pragma: no cover
                    errors.append(e)

            ts = [threading.Thread(target=hammer, args=(c, 1000 * k)) for k, c in enumerate(cs)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(4 * WAIT)
            assert not errors and not any(t.is_alive() for t in ts)
        finally:
            close_all(cs)
