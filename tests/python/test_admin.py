"""server.instrument() (the Admin UI's server side, sio_io_instrument) from Python, driven by
Debian's python-socketio client as the Admin UI page: read_only with production mode (only the
aggregates are advertised, no socket is listed or reported, and _disconnect is ignored), and the
arguments python-socketio's instrument() takes, refused where sio differs. The protocol itself,
with socket.io-client 4.8 and against the Node reference, is tests/js/admin.test.mjs."""

import time

import pytest
import socketio

from test_api import Running, client, sio, wait_for  # noqa: F401


def test_read_only_production():
    server = sio.Server()
    server.instrument(auth=False, mode='production', read_only=True, server_id='node-a',
                      server_stats_interval=0.2)
    with Running(server) as r:
        admin = client(r.url, namespaces=['/admin'])
        user = client(r.url)
        try:
            assert wait_for(lambda: any(e == 'config' for e, _ in admin.received))
            config = next(a for e, a in admin.received if e == 'config')
            assert config == ({'supportedFeatures': ['AGGREGATED_EVENTS']},)
            sid = user.get_sid('/')
            admin.emit('_disconnect', ('/', False, sid), namespace='/admin')
            admin.emit('leave', ('/', sid, sid), namespace='/admin')
            # Two server_stats later the client is still there: the operation was ignored.
            n = sum(e == 'server_stats' for e, _ in admin.received)
            assert wait_for(lambda: sum(e == 'server_stats' for e, _ in admin.received) >= n + 2)
            assert user.connected
            stats = [a[0] for e, a in admin.received if e == 'server_stats'][-1]
            assert stats['serverId'] == 'node-a'
            assert {'name': '/', 'socketsCount': 1} in stats['namespaces']
            assert stats['clientsCount'] == 2
            seen = {e for e, _ in admin.received}
            assert seen == {'config', 'server_stats'}, seen  # no all_sockets nor socket events
        finally:
            user.disconnect()
            admin.disconnect()


def test_arguments():
    server = sio.Server()
    with pytest.raises(ValueError):
        server.instrument()  # auth must be given, as in python-socketio
    with pytest.raises(ValueError):
        server.instrument(auth=[{'username': 'a', 'password': '$2b$04$x'}])
    with pytest.raises(ValueError):
        server.instrument(auth=False, mode='staging')
    with pytest.raises(sio.Error):
        server.instrument(auth={'username': 'a', 'password': '$2b$04$not-a-hash'})
    server.instrument(auth=False)
    with pytest.raises(sio.Error):
        server.instrument(auth=False)  # once per server
    time.sleep(0)


def test_password_in_clear_as_python_socketio():
    server = sio.Server()
    server.instrument(auth={'username': 'admin', 'password': 'change me'}, namespace='/adm')
    with Running(server) as r:
        # (refused with "invalid credentials": python-socketio's client does not show the message;
        # tests/js/admin.test.mjs checks it)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client(r.url, namespaces=['/adm'], auth={'username': 'admin', 'password': 'wrong'})
        page = client(r.url, namespaces=['/adm'], auth={'username': 'admin', 'password': 'change me'})
        try:
            assert wait_for(lambda: any(e == 'session' for e, _ in page.received))
        finally:
            page.disconnect()
