"""Native TLS from Python (issue 16): ``Server.run(host, port, certfile=, keyfile=)`` and its
uvicorn spellings, ``sio.run(WSGIApp, ssl_certfile=, ssl_keyfile=)``, ``AsyncServer.run`` /
``serve``, errors for files that cannot be used, and ``reload_tls()``. The CA and certificates are
made here with the openssl CLI in a temporary directory; python-socketio's client trusts that CA
only (requests' ``verify``, which python-engineio also hands to its WebSocket)."""

import asyncio
import ssl
import socket
import subprocess
import threading
import time

import pytest
import requests
import socketio

from test_api import BUILD_ERROR, WAIT, sio, wait_for


@pytest.fixture(autouse=True)
def _built():
    if BUILD_ERROR:
        pytest.fail(BUILD_ERROR)


def make_certs(d, name='srv', cn='localhost'):
    """ca.pem, and <name>.crt/<name>.key signed by it for 127.0.0.1 and localhost."""
    def run(*args):
        subprocess.run(['openssl', *args], cwd=d, check=True, capture_output=True)
    if not (d / 'ca.pem').exists():
        run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '2', '-subj', '/CN=sio python test CA')
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out', name + '.csr',
        '-subj', '/CN=' + cn)
    (d / 'ext.cnf').write_text('subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    run('x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', name + '.crt', '-days', '2', '-extfile', 'ext.cnf')
    return str(d / 'ca.pem'), str(d / (name + '.crt')), str(d / (name + '.key'))


def _join(c):
    # disconnect() returns before the client's reader and writer threads end; a thread still inside
    # the ssl module while the next client handshakes was seen to break that handshake
    for t in (c.eio.read_loop_task, c.eio.write_loop_task):
        if t:
            t.join(WAIT)


def tls_client(port, ca, transports=('websocket',)):
    """A python-socketio client connected over TLS, its first call answered. Debian's
    python-engineio 4.3.4 reads and writes one ssl socket from two threads at once, which over TLS
    1.3 sometimes loses the connection's first exchange (about 1 in 30 connections, the same
    against Node's reference server): up to three connections are tried."""
    for attempt in range(3):
        http = requests.Session()
        http.verify = ca
        c = socketio.Client(reconnection=False, http_session=http)
        try:
            c.connect('https://127.0.0.1:%d' % port, transports=list(transports), wait_timeout=WAIT)
            assert c.call('echo', 'first', timeout=WAIT) == 'first'
            return c
        except (socketio.exceptions.ConnectionError, socketio.exceptions.TimeoutError):
            c.disconnect()
            _join(c)
            if attempt == 2:
                raise


def tls_roundtrip(port, ca, transports=('websocket',)):
    c = tls_client(port, ca, transports)
    try:
        return c.call('echo', 'over tls', timeout=WAIT)
    finally:
        c.disconnect()
        _join(c)


def peer_cn(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(('127.0.0.1', port), timeout=WAIT) as raw:
        with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as s:
            return dict(x[0] for x in s.getpeercert()['subject'])['commonName']


def echo_server(**kw):
    # Debian's websocket-client sends "Origin: http://..." even over wss, which the same-origin
    # default refuses over TLS (as python-engineio does): any origin here.
    kw.setdefault('cors_allowed_origins', '*')
    server = sio.Server(**kw)
    server.on('echo', lambda sid, x: x)
    return server


def serve_in_thread(target, *args, **kw):
    t = threading.Thread(target=target, args=args, kwargs=kw, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize('spelling', ['eventlet', 'uvicorn'])
def test_server_run_with_certfile(tmp_path, spelling, monkeypatch):
    ca, cert, key = make_certs(tmp_path)
    # python-engineio's polling passes verify=True over the session's: requests then reads this
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', ca)
    server = echo_server()
    kw = {'certfile': cert, 'keyfile': key} if spelling == 'eventlet' else {'ssl_certfile': cert, 'ssl_keyfile': key}
    t = serve_in_thread(server.run, '127.0.0.1', 0, handle_signals=False, **kw)
    try:
        assert wait_for(lambda: server.port)
        assert tls_roundtrip(server.port, ca) == 'over tls'
        assert tls_roundtrip(server.port, ca, ('polling',)) == 'over tls'
        # HTTPS only on that port: a plain HTTP request gets no answer
        failures = server.stats()['tls_failures']
        with socket.create_connection(('127.0.0.1', server.port), timeout=WAIT) as s:
            s.sendall(b'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n')
            assert not s.recv(100).startswith(b'HTTP/')
        # metrics: the handshakes of both round trips, and the plain request's failed one
        assert wait_for(lambda: server.stats()['tls_failures'] == failures + 1)
        assert server.stats()['tls_handshakes'] >= 2
    finally:
        server.stop()
        t.join(WAIT)


def test_first_request_not_held_back_by_a_delayed_ack(tmp_path):
    """A TLS 1.3 client with Nagle's algorithm on (a plain Python ssl socket) writes its request
    right after its Finished: unless the server answers that flight (its session tickets) or
    acknowledges it at once, the kernel delays the ACK (40 ms at least on Linux) and the request
    waits for it.
    The median of nine connections is far below that (about 2 ms; 44 ms when held back)."""
    ca, cert, key = make_certs(tmp_path)
    server = echo_server()
    t = serve_in_thread(server.run, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    took = []
    try:
        assert wait_for(lambda: server.port)
        for _ in range(9):
            t0 = time.monotonic()
            with socket.create_connection(('127.0.0.1', server.port), timeout=WAIT) as raw:
                with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as s:
                    s.sendall(b'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n')
                    assert s.recv(4096).startswith(b'HTTP/1.1 200')
            took.append(time.monotonic() - t0)
        assert sorted(took)[4] < 0.025, ['%.1f ms' % (x * 1000) for x in took]
    finally:
        server.stop()
        t.join(WAIT)


def test_environ_says_https(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    server = echo_server()
    seen = []
    server.on('connect', lambda sid, environ: seen.append(environ.get('wsgi.url_scheme')))
    t = serve_in_thread(server.run, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    try:
        assert wait_for(lambda: server.port)
        tls_roundtrip(server.port, ca)
        assert seen and set(seen) == {'https'}  # a retried connection may have connected too
    finally:
        server.stop()
        t.join(WAIT)


def test_sio_run_wsgi_app_and_async_server(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    server = echo_server()
    app = sio.WSGIApp(server)
    t = serve_in_thread(sio.run, app, '127.0.0.1', 0, handle_signals=False, ssl_certfile=cert, ssl_keyfile=key)
    try:
        assert wait_for(lambda: server.port)
        assert tls_roundtrip(server.port, ca) == 'over tls'
    finally:
        server.stop()
        t.join(WAIT)

    aserver = sio.AsyncServer(cors_allowed_origins='*')

    @aserver.on('echo')
    async def echo(sid, x):
        return x

    t = serve_in_thread(aserver.run, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    try:
        assert wait_for(lambda: aserver.port)
        assert tls_roundtrip(aserver.port, ca) == 'over tls'
    finally:
        aserver._aio.call_soon_threadsafe(aserver.stop) if aserver._aio else aserver.stop()
        t.join(WAIT)


def test_bad_files_raise_at_listen(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    _, cert2, key2 = make_certs(tmp_path, 'other')
    server = echo_server()
    with pytest.raises(sio.Error, match='missing.pem.*No such file'):
        server.listen('127.0.0.1', 0, certfile=str(tmp_path / 'missing.pem'), keyfile=key)
    with pytest.raises(sio.Error, match='ETLS'):
        server.listen('127.0.0.1', 0, certfile=cert, keyfile=key2)  # not this certificate's key
    with pytest.raises(ValueError):
        server.listen('127.0.0.1', 0, certfile=cert)
    with pytest.raises(TypeError):
        server.listen('127.0.0.1', 0, certfile=cert, keyfile=key, ssl_version=2)
    assert server.port is None


def test_reload_tls_swaps_the_certificate(tmp_path):
    ca, cert, key = make_certs(tmp_path, 'srv', 'first')
    server = echo_server()
    t = serve_in_thread(server.run, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    try:
        assert wait_for(lambda: server.port)
        old = tls_client(server.port, ca)
        assert peer_cn(server.port, ca) == 'first'
        make_certs(tmp_path, 'srv', 'second')  # renewed in place, as certbot does
        server.reload_tls()
        assert peer_cn(server.port, ca) == 'second'
        assert old.call('echo', 'still here', timeout=WAIT) == 'still here'
        old.disconnect()
        _join(old)
        (tmp_path / 'srv.key').write_text('not a key')
        with pytest.raises(sio.Error):
            server.reload_tls()
        assert peer_cn(server.port, ca) == 'second'  # a failed reload changes nothing
    finally:
        server.stop()
        t.join(WAIT)


def test_wsgi_route_sees_https(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    server = echo_server()

    def wsgi(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [environ['wsgi.url_scheme'].encode()]

    app = sio.WSGIApp(server, wsgi)
    t = serve_in_thread(sio.run, app, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    try:
        assert wait_for(lambda: server.port)
        r = requests.get('https://127.0.0.1:%d/page' % server.port, verify=ca, timeout=WAIT)
        assert r.text == 'https'
    finally:
        server.stop()
        t.join(WAIT)


def test_same_origin_default_wants_https_over_tls(tmp_path):
    """python-engineio's default: over TLS, only https pages of this host are the same origin."""
    ca, cert, key = make_certs(tmp_path)
    server = sio.Server()  # cors_allowed_origins None: same origin only
    t = serve_in_thread(server.run, '127.0.0.1', 0, handle_signals=False, certfile=cert, keyfile=key)
    try:
        assert wait_for(lambda: server.port)
        url = 'https://127.0.0.1:%d/socket.io/?EIO=4&transport=polling' % server.port
        for origin, status in (('https://127.0.0.1:%d' % server.port, 200), ('http://127.0.0.1:%d' % server.port, 403),
                               ('https://elsewhere.example', 403)):
            r = requests.get(url, headers={'Origin': origin}, verify=ca, timeout=WAIT)
            assert r.status_code == status, origin
    finally:
        server.stop()
        t.join(WAIT)
