"""sio's C client (sio_client.h), driven by sio-client-check, against every server we have:
sio's contract servers in C, Python and Lua, the Node reference (socket.io 4.8), the same with
EIO3 (the client speaking Engine.IO 3, as to a socket.io 2.x server), python-socketio's server; each
over polling, WebSocket only, and polling then the upgrade. Then msgpack and connection state
recovery's offsets. See test_client_network.py for reconnection and bad servers."""
import os

import pytest

from helpers import CHECK, Server, have_node_reference, pysio_python, run_check, server_argv

pytestmark = pytest.mark.skipif(not os.path.exists(CHECK), reason='sio-client-check not built')

TRANSPORTS = ['polling', 'websocket', 'both']
_servers = {}


def available(name):
    if name == 'node':
        return have_node_reference()
    if name == 'python-socketio':
        return pysio_python() is not None
    return True


@pytest.fixture(scope='module', autouse=True)
def _stop_servers():
    yield
    for s in _servers.values():
        s.stop()
    _servers.clear()


def server(name, *flags):
    """One server per (name, flags) for the whole module."""
    if not available(name):
        pytest.skip('%s not available' % name)
    key = (name, flags)
    if key not in _servers:
        _servers[key] = Server(server_argv(name) + list(flags))
    return _servers[key]


def check(url, *args):
    rc, out, err = run_check(url, *args)
    bad = [l for l in out.splitlines() if l.startswith('not ok')]
    oks = [l for l in out.splitlines() if l.startswith('ok ')]
    assert rc == 0 and not bad and len(oks) >= 10, 'exit %s\n%s\nstderr:\n%s' % (rc, out, err[-3000:])
    return oks


@pytest.mark.parametrize('transport', TRANSPORTS)
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_contract(name, transport):
    check(server(name).url, '--transports', transport)


@pytest.mark.parametrize('transport', TRANSPORTS)
def test_python_socketio_server(transport):
    # python-socketio always answers an ack (a handler cannot tell whether one was asked), so
    # `echo` without an ack gets no `echo` event back: that row is skipped.
    check(server('python-socketio').url, '--transports', transport, '--skip', 'echo-event')


@pytest.mark.parametrize('transport', TRANSPORTS)
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_eio3(name, transport):
    """The client speaking Engine.IO 3 / Socket.IO v4 as a socket.io 2.x client, to servers with
    allowEIO3 (a v2 client connects `/` implicitly, without auth: its `auth` event is {}; other
    namespaces carry the auth as the CONNECT query, which the servers take as auth)."""
    check(server(name, '--allow-eio3').url, '--transports', transport, '--eio', '3')


@pytest.mark.parametrize('transport', TRANSPORTS)
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_msgpack(name, transport):
    check(server(name, '--parser', 'msgpack').url, '--transports', transport, '--parser', 'msgpack')


@pytest.mark.parametrize('transport', TRANSPORTS)
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_recovery_offsets(name, transport):
    """With connectionStateRecovery every event carries its offset as a last string argument: the
    check strips it from each event, requires it, and requires recovered false on a first connect."""
    check(server(name, '--recovery').url, '--transports', transport, '--recovery-check')


def test_eio3_refused_without_allow_eio3():
    """Without --allow-eio3 an EIO3 client is refused: a clean connect error, no hang."""
    rc, out, err = run_check(server('c').url, '--scenario', 'fail', '--eio', '3', '--transports', 'polling',
                             '--timeout-ms', '3000', timeout=30)
    assert rc == 0, out + err
    assert 'connected=0' in out and 'done closed=1' in out, out
