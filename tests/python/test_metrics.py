"""Metrics: the contract server under test (SIO_SERVER: C, Python or Lua) started with
`--metrics /metrics`, a known scenario driven by Debian's python3-socketio client and raw HTTP
requests, then `/metrics` scraped and parsed with prometheus_client's text parser (Debian's
python3-prometheus-client): the exact counts. Also the serving rules (Content-Type, HEAD, 405) and
that the path is not served without the flag.

The scenario: three WebSocket clients and one polling client (no upgrade) join "/" (the server
emits `auth` to each); the first asks `message-with-ack` (the server acks) and then sends
`broadcast` (the server emits it to all four); three refused requests: an unknown transport
(Engine.IO code 0), an unknown sid (1) and an unsupported protocol version (5). Pings do not
interfere: the default ping interval (25 s) is longer than the test.
"""

import os
import socket
import time
import threading
import urllib.error
import urllib.request

import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from conftest import start_server
from test_api import redis_url  # noqa: F401  (a fixture: a redis-server of the test's own)

WAIT = 5.0
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


def scrape(url):
    """{(sample name, ((label, value), ...)): value} of every sample, and the response."""
    with urllib.request.urlopen(url + '/metrics', timeout=WAIT) as r:
        body = r.read().decode('utf-8')
        headers = r.headers
    samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, headers, body


def status_of(url, method='GET'):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Client:
    def __init__(self, url, transport):
        self.sio = socketio.Client(reconnection=False)
        self.got = {'auth': threading.Event(), 'broadcast': threading.Event()}
        for name, ev in self.got.items():
            self.sio.on(name, lambda *args, ev=ev: ev.set())
        self.sio.connect(url, transports=[transport], wait_timeout=WAIT)
        assert self.got['auth'].wait(WAIT)


@pytest.fixture
def metrics_server():
    server = start_server(['--metrics', '/metrics'])
    yield server
    server.stop()


def test_metrics_after_a_known_scenario(metrics_server):
    url = metrics_server.url
    clients = [Client(url, 'websocket') for _ in range(3)] + [Client(url, 'polling')]
    try:
        assert clients[0].sio.call('message-with-ack', 7, timeout=WAIT) == 7
        clients[0].sio.emit('broadcast', 'hi')
        for c in clients:
            assert c.got['broadcast'].wait(WAIT)
        eio = url + '/socket.io/?EIO='
        assert status_of(eio + '4&transport=carrier-pigeon') == 400                      # code 0
        assert status_of(eio + '4&transport=polling&sid=' + 'x' * 20) == 400             # code 1
        assert status_of(eio + '9&transport=polling') == 400                             # code 5
        m, headers, body = scrape(url)
    finally:
        for c in clients:
            c.sio.disconnect()

    assert headers['Content-Type'] == CONTENT_TYPE

    def v(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        assert key in m, '%s%s not in\n%s' % (name, labels, body)
        return m[key]

    # gauges: open sessions by transport and protocol, sockets per namespace
    assert v('sio_engine_sessions', transport='websocket', protocol='4') == 3
    assert v('sio_engine_sessions', transport='polling', protocol='4') == 1
    assert v('sio_engine_sessions', transport='websocket', protocol='3') == 0
    assert v('sio_engine_sessions', transport='polling', protocol='3') == 0
    assert v('sio_sockets', namespace='/') == 4
    assert v('sio_sockets', namespace='/custom') == 0
    # counters
    assert v('sio_engine_handshakes_total') == 4
    assert [v('sio_engine_handshakes_refused_total', reason=str(i)) for i in range(6)] == \
        [1, 1, 0, 0, 0, 1]
    assert v('sio_engine_upgrades_total') == 0
    # in: each client's CONNECT; the first one's message-with-ack and broadcast
    assert v('sio_engine_packets_received_total', transport='websocket') == 3 + 2
    assert v('sio_engine_packets_received_total', transport='polling') == 1
    # out: per client OPEN, the CONNECT reply, `auth` and the broadcast; the ack to the first
    assert v('sio_engine_packets_sent_total', transport='websocket') == 3 * 4 + 1
    assert v('sio_engine_packets_sent_total', transport='polling') == 4
    assert v('sio_engine_bytes_received_total', transport='websocket') > 0
    assert v('sio_engine_bytes_sent_total', transport='polling') > 0
    assert v('sio_connections_total') == 4
    assert v('sio_acks_replied_total') == 1
    assert v('sio_acks_sent_total') == 0
    assert v('sio_acks_timed_out_total') == 0
    assert v('sio_engine_max_buffered_closes_total') == 0
    assert v('sio_tls_handshakes_total') == 0
    # the `broadcast` event; the Python server's `auth` goes out as server.emit(..., to=sid), a
    # broadcast to the sid's room (Node's io.to(sid).emit), where C and Lua emit to the socket
    python = 'python' in os.environ.get('SIO_SERVER', '')
    assert v('sio_broadcasts_total') == (1 + 4 if python else 1)
    # no Redis: no Redis metrics
    assert not any(name.startswith('sio_redis') for name, _ in m)
    # every family is documented and typed
    assert body.count('# HELP ') == body.count('# TYPE ') == 19


def test_metrics_serving_rules(metrics_server):
    url = metrics_server.url + '/metrics'
    req = urllib.request.Request(url, method='HEAD')
    with urllib.request.urlopen(req, timeout=WAIT) as r:
        assert r.status == 200
        assert r.headers['Content-Type'] == CONTENT_TYPE
        assert int(r.headers['Content-Length']) > 0
        assert r.read() == b''
    for method in ('POST', 'PUT', 'DELETE'):
        assert status_of(url, method) == 405


def test_metrics_off_by_default(server):
    assert status_of(server.url + '/metrics') == 404


# ---- in process: sio.Server(metrics_path=...) and server.stats() ----

def test_server_stats_in_process():
    from test_api import Running, sio
    server = sio.Server(metrics_path='/metrics')
    server.on('connect', lambda sid, environ, auth: None, namespace='/chat')
    answers = []
    with Running(server) as running:
        c = socketio.Client(reconnection=False)
        c.on('ask', lambda n: n + 1)
        c.connect(running.url, namespaces=['/', '/chat'], transports=['websocket'], wait_timeout=WAIT)
        try:
            done = threading.Event()
            server.emit('ask', 41, to=c.get_sid('/'),
                        callback=lambda *a: (answers.append(a), done.set()))
            assert done.wait(WAIT)
            st = server.stats()
            m, _, _ = scrape(running.url)
        finally:
            c.disconnect()
    assert answers == [(42,)]
    assert st['sessions'] == {'polling': {3: 0, 4: 0}, 'websocket': {3: 0, 4: 1}}
    assert st['sockets'] == {'/': 1, '/chat': 1}
    assert st['handshakes'] == 1
    assert st['handshakes_refused'] == {i: 0 for i in range(6)}
    assert st['connections'] == 2
    assert st['acks_sent'] == 1 and st['acks_answered'] == 1 and st['acks_timed_out'] == 0
    # in: two CONNECTs and the ack; out: OPEN, two CONNECT replies and the event
    assert st['packets_in'] == {'polling': 0, 'websocket': 3}
    assert st['packets_out'] == {'polling': 0, 'websocket': 4}
    assert st['redis'] is None
    assert set(st) >= {'upgrades', 'bytes_in', 'bytes_out', 'max_buffered_closes', 'tls_handshakes',
                       'tls_failures', 'deflate_negotiated', 'broadcasts', 'acks_replied'}
    # the scrape says the same
    assert m[('sio_sockets', (('namespace', '/chat'),))] == 1
    assert m[('sio_acks_answered_total', ())] == 1


def test_metrics_path_refused():
    from test_api import sio
    with pytest.raises(ValueError):
        sio.Server(metrics_path='metrics')  # not a path


def test_redis_metrics_across_two_nodes(redis_url):
    """Two in-process nodes on one redis-server: the link gauge and the messages published by one
    and received by the other (each broadcast of `a` that reached `b` reached its client too)."""
    from test_api import Running, sio, wait_for
    a, b = sio.Server(redis=redis_url), sio.Server(redis=redis_url, metrics_path='/metrics')
    got = []
    with Running(a), Running(b) as rb:
        assert wait_for(lambda: a.stats()['redis']['up'] and b.stats()['redis']['up'])
        c = socketio.Client(reconnection=False)
        c.on('hello', lambda n: got.append(n))
        c.connect(rb.url, transports=['websocket'], wait_timeout=WAIT)
        try:
            sent = 0
            while not got and sent < 50:   # b subscribes asynchronously
                a.emit('hello', sent)
                sent += 1
                wait_for(lambda: got, 0.1)
            assert got
            time.sleep(0.2)  # any emit still on its way arrives
            sa, sb = a.stats(), b.stats()
            m, _, _ = scrape(rb.url)
        finally:
            c.disconnect()
    assert sa['redis']['published'] == sent and sa['broadcasts'] == sent
    assert sb['redis'] == {'up': True, 'published': 0, 'received': len(got)}
    assert m[('sio_redis_up', ())] == 1
    assert m[('sio_redis_received_total', ())] == len(got)


def test_upgrade_counted(metrics_server):
    """A client that starts on polling and upgrades: one upgrade, its session now a WebSocket one."""
    c = Client(metrics_server.url, 'polling')
    c.sio.disconnect()
    c = socketio.Client(reconnection=False)
    c.connect(metrics_server.url, transports=['polling', 'websocket'], wait_timeout=WAIT)
    try:
        ok = False
        # The upgrade completes shortly after the connection, and the first client's polling
        # session closes shortly after its disconnect: wait for both, then assert.
        for _ in range(100):
            m, _, _ = scrape(metrics_server.url)
            if (m[('sio_engine_upgrades_total', ())] == 1 and
                    m[('sio_engine_sessions', (('protocol', '4'), ('transport', 'polling')))] == 0):
                ok = True
                break
            time.sleep(0.05)
        assert ok, m
        assert m[('sio_engine_sessions', (('protocol', '4'), ('transport', 'websocket')))] == 1
        assert m[('sio_engine_sessions', (('protocol', '4'), ('transport', 'polling')))] == 0
        assert m[('sio_engine_handshakes_total', ())] == 2
    finally:
        c.disconnect()


def test_deflate_negotiated_counted():
    """A WebSocket upgrade offering permessage-deflate, by hand, to a server started with
    --per-message-deflate: counted once it is agreed (a second upgrade without the offer is not)."""
    server = start_server(['--per-message-deflate', '--metrics', '/metrics'])
    try:
        def upgrade(extensions):
            with socket.create_connection(('127.0.0.1', server.port), timeout=WAIT) as s:
                s.sendall(('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n'
                           'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                           'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
                           'Sec-WebSocket-Version: 13\r\n%s\r\n' % extensions).encode())
                head = b''
                while b'\r\n\r\n' not in head:
                    chunk = s.recv(4096)
                    assert chunk, head
                    head += chunk
                return head.split(b'\r\n\r\n')[0].decode().lower()
        head = upgrade('Sec-WebSocket-Extensions: permessage-deflate\r\n')
        assert head.startswith('http/1.1 101') and 'permessage-deflate' in head
        head = upgrade('')
        assert head.startswith('http/1.1 101') and 'permessage-deflate' not in head
        m, _, _ = scrape(server.url)
        assert m[('sio_websocket_deflate_total', ())] == 1
        assert m[('sio_engine_handshakes_total', ())] == 2
    finally:
        server.stop()
