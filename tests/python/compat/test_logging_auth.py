"""python-socketio's ``logger`` / ``engineio_logger`` wired to the C core's log (sio.h's
sio_server_set_log), and ``auth`` as python-socketio gives it (None for none and for {}), driven
by python-socketio's client and socket.io-client 4.8."""

import logging
import os
import shutil
import socket
import json
import re
import subprocess
import urllib.request

import pytest

from _support import Serving, pysocketio, sio, wait_for

socketio = sio  # the app side, as a ported app spells it

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
NODE = shutil.which('node')
DRIVER = os.path.join(ROOT, 'tests', 'python', 'node_style_client.mjs')
HAVE_CLIENT = os.path.isdir(os.path.join(ROOT, 'tests', 'js', 'node_modules', 'socket.io-client'))


@pytest.fixture(autouse=True)
def sio_logger_restored():
    """``logger=<Logger>`` hands logger "sio"'s records to it and stops their propagation
    (_compat._wire_logger): undone after each test, so that later tests' caplog sees them."""
    log = logging.getLogger('sio')
    handlers, propagate, level = list(log.handlers), log.propagate, log.level
    yield
    log.handlers[:] = handlers
    log.propagate, log.level = propagate, level


class Records(logging.Handler):
    """Keeps every record it is given, with the thread that logged it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, component=None):
        return [r.getMessage() for r in list(self.records)
                if component is None or getattr(r, 'sio_component', None) == component]


def new_logger(name, level=logging.DEBUG):
    log = logging.getLogger(name)
    log.handlers[:] = []
    log.setLevel(level)
    log.propagate = False
    h = Records()
    log.addHandler(h)
    return log, h


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def echo_app(**kw):
    app = socketio.Server(**kw)

    @app.event
    def echo(sid, data):
        return data

    return app


def test_engineio_logger_gets_the_engine_records_on_the_server_thread():
    eng, eh = new_logger('test.sio.engine')
    soc, sh = new_logger('test.sio.socket')
    app = echo_app(logger=soc, engineio_logger=eng)
    with Serving(app) as url:
        c = pysocketio.Client(reconnection=False)
        c.connect(url, wait_timeout=5)  # polling, then the upgrade
        assert c.call('echo', 'x', timeout=5) == 'x'
        assert wait_for(lambda: any('upgraded to websocket' in m for m in eh.messages()))
        sid = c.get_sid()
        c.disconnect()
        assert wait_for(lambda: any(' closed: ' in m for m in eh.messages()))
        d = pysocketio.Client(reconnection=False)
        d.connect(url, transports=['websocket'], wait_timeout=5)
        d.disconnect()
        assert wait_for(lambda: len([m for m in eh.messages() if ' closed: ' in m]) == 2)
    msgs = eh.messages('engine')
    opened = [m for m in msgs if ' opened (' in m]
    assert len(opened) == 2, msgs
    assert opened[0].startswith('engine: session ') and '(polling, EIO 4, 127.0.0.1)' in opened[0]
    assert '(websocket, EIO 4, 127.0.0.1)' in opened[1]
    assert len([m for m in msgs if m.endswith('upgraded to websocket')]) == 1
    closed = [m for m in msgs if ' closed: ' in m]
    assert all(m.split(' closed: ')[1] in ('transport close', 'forced close') for m in closed), closed
    assert all(r.levelno == logging.INFO for r in eh.records), [(r.levelname, r.getMessage()) for r in eh.records]
    assert all(r.threadName != 'MainThread' for r in eh.records)  # the server's thread
    # the engine's records go to engineio_logger only; `logger` gets the traffic (connects, events)
    assert not any(getattr(r, 'sio_component', None) == 'engine' for r in sh.records)
    assert sid is not None


def test_engineio_logger_levels_and_refused_requests():
    """DEBUG shows the requests the engine refuses; at WARNING the core makes no engine record."""
    eng, eh = new_logger('test.sio.engine2')
    app = echo_app(engineio_logger=eng)
    with Serving(app) as url:
        try:
            urllib.request.urlopen(url + '/socket.io/?EIO=4&transport=polling&sid=nope', timeout=5)
        except Exception:
            pass
        assert wait_for(lambda: eh.messages())
    assert eh.records[0].levelno == logging.DEBUG
    assert eh.messages() == ['engine: 400 Session ID unknown: GET /socket.io/?EIO=4&transport=polling&sid=nope']
    quiet, qh = new_logger('test.sio.engine3', logging.WARNING)
    app = echo_app(engineio_logger=quiet)
    with Serving(app) as url:
        c = pysocketio.Client(reconnection=False)
        c.connect(url, transports=['websocket'], wait_timeout=5)
        c.disconnect()
    assert qh.records == []


def test_redis_outage_reaches_logger():
    soc, sh = new_logger('test.sio.redis')
    app = echo_app(logger=soc, redis='redis://127.0.0.1:%d' % free_port())
    with Serving(app):
        assert wait_for(lambda: len(sh.messages('redis')) >= 2)
    recs = [r for r in sh.records if getattr(r, 'sio_component', None) == 'redis']
    assert all(r.levelno == logging.WARNING for r in recs)
    text = sorted(r.getMessage() for r in recs)[:2]
    assert text[0].startswith('redis: publisher connection failed: ') and 'retrying with backoff' in text[0], text
    assert text[1].startswith('redis: subscriber connection failed: '), text


def test_without_a_logger_the_core_writes_its_stderr_lines(capfd):
    app = echo_app(redis='redis://127.0.0.1:%d' % free_port())
    with Serving(app):
        # The two connections fail each in its own time: wait for both lines.
        assert wait_for(lambda: 'sio: redis: subscriber connection failed' in _err(capfd))
        assert wait_for(lambda: 'sio: redis: publisher connection failed' in _err(capfd))


_seen = []


def _err(capfd):
    _seen.append(capfd.readouterr().err)
    return ''.join(_seen)


def test_a_logger_that_raises_never_breaks_the_server(capfd):
    eng = logging.getLogger('test.sio.raises')
    eng.handlers[:] = []
    eng.setLevel(logging.INFO)
    eng.propagate = False

    class Boom(logging.Filter):
        def filter(self, record):
            raise RuntimeError('boom')

    eng.addFilter(Boom())
    app = echo_app(engineio_logger=eng)
    with Serving(app) as url:
        for _ in range(2):
            c = pysocketio.Client(reconnection=False)
            c.connect(url, transports=['websocket'], wait_timeout=5)
            assert c.call('echo', 'still', timeout=5) == 'still'
            c.disconnect()
        # the records the logger refused are the core's stderr lines instead
        assert wait_for(lambda: _err(capfd).count('sio: engine: session ') >= 4)
    _seen.clear()


def auth_app(seen):
    app = socketio.Server()

    @app.event
    def connect(sid, environ, auth):
        seen.append(auth)
        app.emit('auth', auth, to=sid)

    return app


def test_auth_none_for_none_and_for_empty_python_socketio_client():
    """python-socketio's own rule (server.py _handle_connect: ``if data:``, 5.7 to 5.18): the
    handler gets None for a CONNECT without auth and for ``{}`` (its client sends ``{}`` for
    ``auth=None``), the object otherwise. The core knows which it was (sio_socket_auth_sent,
    tests/c/test_socketio.c); Python follows python-socketio."""
    seen = []
    with Serving(auth_app(seen)) as url:
        for auth in (None, {}, {'token': 't'}):
            c = pysocketio.Client(reconnection=False)
            c.connect(url, auth=auth, transports=['websocket'], wait_timeout=5)
            c.disconnect()
    assert seen == [None, None, {'token': 't'}]


@pytest.mark.skipif(not NODE or not HAVE_CLIENT, reason='node and tests/js/node_modules needed')
def test_auth_none_for_none_and_for_empty_socket_io_client():
    """socket.io-client 4.8 sends "40" without ``auth`` and "40{}" with ``auth: {}``: both None."""
    seen = []
    with Serving(auth_app(seen)) as url:
        p = subprocess.run([NODE, DRIVER, url, 'auth'], capture_output=True, timeout=20, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode('utf-8', 'replace')
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert out == {'none': None, 'empty': None, 'token': {'token': 't'}}
    assert seen == [None, None, {'token': 't'}]


def test_node_style_handshake_auth_stays_an_object():
    """Node's socket.handshake.auth is {} when none was sent (fetch_sockets' shape too)."""
    app = socketio.Server()
    got = {}

    @app.on('connection')
    def connection(s):
        got['handshake_auth'] = s.handshake['auth']

    with Serving(app) as url:
        c = pysocketio.Client(reconnection=False)
        c.connect(url, transports=['websocket'], wait_timeout=5)
        assert wait_for(lambda: 'handshake_auth' in got)
        c.disconnect()
    assert got['handshake_auth'] == {}


def _debug_session(url):
    """A python-socketio client session: polling, the upgrade, an event with its ack, the close.
    Returns the Engine.IO session id."""
    c = pysocketio.Client(reconnection=False)
    c.connect(url, wait_timeout=5)
    assert c.call('echo', 'secret-payload', timeout=5) == 'secret-payload'
    eid = c.eio.sid
    c.disconnect()
    return eid


def _debug_lines(caplog, name):
    return [r.getMessage() for r in list(caplog.records) if r.name == name]


def test_set_debug_records_reach_the_sio_category_loggers(caplog):
    """server.set_debug("engine,socket"): the core's debug lines (SIO_DEBUG's) on loggers
    "sio.engine" and "sio.socket" at DEBUG, with record.sio_component; never a payload."""
    caplog.set_level(logging.DEBUG, logger='sio.engine')
    caplog.set_level(logging.DEBUG, logger='sio.socket')
    app = echo_app()
    with pytest.raises(ValueError):
        app.set_debug('engine,nope')
    app.set_debug('engine,socket')
    with Serving(app) as url:
        eid = _debug_session(url)
        assert wait_for(lambda: any(m == f'session {eid} closed: transport close'
                                    for m in _debug_lines(caplog, 'sio.engine')))
    eng = _debug_lines(caplog, 'sio.engine')
    assert f'session {eid} handshake: transport polling, EIO 4, peer 127.0.0.1' in eng, eng
    assert f'session {eid} upgrade: polling -> websocket' in eng, eng
    soc = _debug_lines(caplog, 'sio.socket')
    assert any(re.fullmatch(r'socket \S{20} in: event "echo" nsp / ack (\d+), 0 attachments \(\d+ bytes\)', m)
               for m in soc), soc
    assert any(re.fullmatch(r'socket \S{20} out: ack nsp / ack \d+, 0 attachments \(\d+ bytes\)', m) for m in soc), soc
    recs = [r for r in caplog.records if r.name in ('sio.engine', 'sio.socket')]
    assert all(r.levelno == logging.DEBUG and r.sio_component == r.name[4:] for r in recs)
    assert not any('secret-payload' in r.getMessage() for r in recs)
    assert all(r.threadName != 'MainThread' for r in recs)  # the server's thread


def test_engineio_logger_and_logger_turn_on_engine_and_socket_debug(caplog):
    """engineio_logger=True: the engine category (as python-engineio's per-packet lines); logger=True:
    socket and nsp. Without either (and without SIO_DEBUG) no debug record at all. (A Logger as
    engineio_logger gets the engine's INFO records only: see the first test.)"""
    caplog.set_level(logging.DEBUG)
    app = echo_app()
    with Serving(app) as url:
        _debug_session(url)
    assert not [r for r in caplog.records if r.name.startswith('sio.')]
    app = echo_app(engineio_logger=True, logger=True)
    with Serving(app) as url:
        eid = _debug_session(url)
        assert wait_for(lambda: f'session {eid} closed: transport close' in _debug_lines(caplog, 'sio.engine'))
        assert wait_for(lambda: any(re.fullmatch(r'socket \S{20} disconnected from nsp /: .+', m)
                                    for m in _debug_lines(caplog, 'sio.nsp')))
    assert any('in: event "echo"' in m for m in _debug_lines(caplog, 'sio.socket'))
