"""sio's C client when the network or the server misbehaves (sio-client-check's scenarios):
reconnection through a TCP proxy of the test's own that cuts every connection and refuses new ones
for a while, emits made while down delivered exactly once after, a server killed and restarted on
its port, connection state recovery (sio C server and the Node reference), and bad servers
(asyncio) that must end in a clean error: no crash, no hang, bounded memory."""
import asyncio
import base64
import hashlib
import os
import time

import pytest

from helpers import ASAN, CHECK, Check, Loop, Proxy, Server, events, have_node_reference, run_check, server_argv

pytestmark = pytest.mark.skipif(not os.path.exists(CHECK), reason='sio-client-check not built')

DELAY, DELAY_MAX, RANDOM = 100, 400, 0.5


@pytest.fixture(scope='module')
def loop():
    lp = Loop()
    yield lp
    lp.close()


def backoff_ok(attempt_times, down_t):
    """Each reconnect_attempt comes after its delay: attempt n waits min(DELAY * 2^(n-1), DELAY_MAX)
    with +-RANDOM jitter (capped at DELAY_MAX), plus however long the failed try took. Loose bounds:
    not before 0.8 x the shortest delay, not after the longest + 1 s."""
    prev = down_t
    for n, t in enumerate(attempt_times, 1):
        base = min(DELAY * 2 ** (n - 1), DELAY_MAX)
        gap = t - prev
        assert gap >= 0.8 * base * (1 - RANDOM), 'attempt %d after %.0f ms (base %d)' % (n, gap, base)
        assert gap <= DELAY_MAX + 1000, 'attempt %d after %.0f ms' % (n, gap)
        prev = t


@pytest.mark.parametrize('transport', ['websocket', 'polling', 'both'])
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_reconnect_through_proxy_and_restart(loop, name, transport):
    if name == 'node' and not have_node_reference():
        pytest.skip('node reference not installed')
    srv = Server(server_argv(name))
    port = srv.port
    proxy = Proxy(loop, port)
    chk = Check(proxy.url, '--scenario', 'reconnect', '--rounds', '2', '--buffered', '5',
                '--transports', transport, '--delay', str(DELAY), '--delay-max', str(DELAY_MAX),
                '--randomization', str(RANDOM), '--timeout-ms', '2000')
    try:
        # round 0: the proxy cuts everything and refuses for 1.2 s
        i = chk.wait_for('ready', 15)
        proxy.cut(refuse=True)
        chk.wait_for('buffered', 10, i)
        time.sleep(1.2)
        proxy.let_through()
        i = chk.wait_for('ok delivered round=0', 20, i)
        # round 1: the server is killed and started again on the same port
        i = chk.wait_for('ready', 10, i)
        srv.kill()
        chk.wait_for('buffered', 10, i)
        time.sleep(0.5)
        srv = Server(server_argv(name), port=port)
        chk.wait_for('ok delivered round=1', 30, i)
        rc = chk.finish()
        out = chk.output()
        assert rc == 0 and 'not ok' not in out, out
        lines = chk.lines
        down = [l for l in lines if l and l.startswith('down round=0')][0]
        down_t = float(down.split('t=')[1])
        up_t = float([l for l in lines if l and l.startswith('up round=0')][0].split('t=')[1])
        attempts = [float(e['t']) for e in events(lines, 'reconnect_attempt') if down_t <= float(e['t']) <= up_t]
        assert len(attempts) >= 2, out  # 1.2 s of refusals: several attempts
        backoff_ok(attempts, down_t)
        assert events(lines, 'reconnect'), out
        # the buffered emits were kept while down (5 each round)
        assert all(l.split()[1] == 'n=5' for l in lines if l and l.startswith('buffered')), out
    finally:
        proxy.close()
        srv.stop()
        if chk.proc.poll() is None:
            chk.proc.kill()


@pytest.mark.parametrize('transport', ['websocket', 'polling'])
@pytest.mark.parametrize('name', ['c', 'python', 'lua', 'node'])
def test_recovery_through_proxy(loop, name, transport):
    """--recovery (sio's three contract servers and the Node reference): the first client is cut off (proxy refusing) while a second one, connected
    directly, broadcasts 5 events; the first comes back recovered, same id, and gets the 5 in
    order, once each, with their offsets."""
    if name == 'node' and not have_node_reference():
        pytest.skip('node reference not installed')
    # a short heartbeat: over polling, a cut between two polls is seen by the server only when its
    # ping goes unanswered, and the missed events are the ones sent after it saw the client go
    srv = Server(server_argv(name) + ['--recovery', '--ping-interval', '1000', '--ping-timeout', '1000'])
    proxy = Proxy(loop, srv.port)
    chk = Check(proxy.url, '--scenario', 'recovery', '--direct', srv.url, '--buffered', '5',
                '--transports', transport, '--delay', str(DELAY), '--delay-max', str(DELAY_MAX))
    try:
        i = chk.wait_for('ready', 15)
        proxy.cut(refuse=True)
        chk.wait_for('sent-missed', 10, i)
        time.sleep(0.3)
        proxy.let_through()
        chk.wait_for('ok recovered', 20, i)
        rc = chk.finish()
        out = chk.output()
        assert rc == 0 and 'not ok' not in out, out
        up = [l for l in chk.lines if l and l.startswith('up round=0')][0]
        assert 'recovered=1' in up and 'same_id=1' in up, out
    finally:
        proxy.close()
        srv.stop()
        if chk.proc.poll() is None:
            chk.proc.kill()


# ---- bad servers ----

WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
OPEN = b'0{"sid":"abcdefghijklmnopqrst","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


async def read_request(reader):
    head = await reader.readuntil(b'\r\n\r\n')
    headers = {}
    for line in head.split(b'\r\n')[1:]:
        if b':' in line:
            k, v = line.split(b':', 1)
            headers[k.strip().lower()] = v.strip()
    return head, headers


def ws_accept(headers):
    key = headers.get(b'sec-websocket-key', b'')
    acc = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    return (b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            b'Sec-WebSocket-Accept: ' + acc + b'\r\n\r\n')


def ws_text(payload):
    assert len(payload) < 65536
    if len(payload) < 126:
        return bytes([0x81, len(payload)]) + payload
    return bytes([0x81, 126]) + len(payload).to_bytes(2, 'big') + payload


async def stream_junk(writer, total=8 << 20):
    chunk = b'x' * 65536
    sent = 0
    try:
        while sent < total:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
    except OSError:
        pass


async def garbage(reader, writer):
    await reader.read(1024)
    writer.write(bytes(range(256)) * 4)
    await writer.drain()
    writer.close()


async def silent(reader, writer):
    await reader.read(1024)
    await asyncio.sleep(30)


async def http_500(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n'
                 b'server broken')
    await writer.drain()


async def http_400(reader, writer):
    await read_request(reader)
    body = b'{"code":5,"message":"Unsupported protocol version"}'
    writer.write(b'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n'
                 % len(body) + body)
    await writer.drain()


async def upgrade_200(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok')
    await writer.drain()
    await asyncio.sleep(30)


async def ws_huge_frame(reader, writer):
    _, headers = await read_request(reader)
    writer.write(ws_accept(headers) + ws_text(OPEN))
    # a text frame announcing 2^62 bytes, then data: the client must refuse it, not allocate
    writer.write(bytes([0x81, 127]) + (1 << 62).to_bytes(8, 'big'))
    await stream_junk(writer)


async def ws_mid_frame(reader, writer):
    _, headers = await read_request(reader)
    writer.write(ws_accept(headers) + ws_text(OPEN) + bytes([0x81, 126, 0x01]))  # cut in the header
    await writer.drain()
    writer.close()


async def ws_mid_payload(reader, writer):
    _, headers = await read_request(reader)
    writer.write(ws_accept(headers) + ws_text(OPEN) + bytes([0x81, 100]) + b'4' * 10)  # 10 of 100 bytes
    await writer.drain()
    writer.close()


async def polling_huge_length(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 1000000000000000\r\n\r\n')
    await stream_junk(writer)


async def polling_truncated_chunked(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'40\r\n0{"sid":"abc",')
    await writer.drain()
    writer.close()


async def polling_huge_chunk(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'fffffffffffff\r\n')
    await stream_junk(writer)


async def polling_mid_body(reader, writer):
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 100\r\n\r\n0{"sid"')
    await writer.drain()
    writer.close()


async def polling_bad_handshake(reader, writer):
    await read_request(reader)
    body = b'0{"sid":42,"pingInterval":"soon"}'
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n\r\n'
                 % len(body) + body)
    await writer.drain()
    await asyncio.sleep(30)


class PollingOnly:
    """Just enough of an Engine.IO v4 polling server to connect `/` (handshake offering the
    upgrade, GET long-polls, POSTs): the WebSocket upgrade request is answered 200."""

    def __init__(self):
        self.queue = asyncio.Queue()

    async def __call__(self, reader, writer):
        try:
            while True:
                head, headers = await read_request(reader)
                line = head.split(b'\r\n')[0].decode()
                body = await reader.readexactly(int(headers.get(b'content-length', b'0')))
                if 'transport=websocket' in line:
                    await self.reply(writer, b'ok')
                elif 'sid=' not in line:
                    await self.reply(writer, OPEN.replace(b'"upgrades":[]', b'"upgrades":["websocket"]'))
                elif line.startswith('POST'):
                    for pkt in body.split(b'\x1e'):
                        if pkt.startswith(b'40'):
                            await self.queue.put(b'40{"sid":"socket-id-1"}')
                    await self.reply(writer, b'ok')
                else:
                    try:
                        pkt = await asyncio.wait_for(self.queue.get(), 20)
                    except asyncio.TimeoutError:
                        pkt = b'6'
                    await self.reply(writer, pkt)
        except (asyncio.IncompleteReadError, OSError):
            writer.close()

    @staticmethod
    async def reply(writer, body):
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: %d\r\n\r\n'
                     % len(body) + body)
        await writer.drain()


def test_upgrade_answered_200_stays_on_polling(loop):
    """The upgrade's GET answered 200 instead of 101: the upgrade fails quietly and the socket stays
    connected over polling (engine.io-client's way)."""
    srv = loop.run(asyncio.start_server(PollingOnly(), '127.0.0.1', 0))
    port = srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = run_check('http://127.0.0.1:%d' % port, '--scenario', 'fail', '--transports', 'both',
                                 '--timeout-ms', '2000', timeout=30)
    finally:
        loop.call(srv.close)  # (asyncio servers are closed on their loop thread)
    assert rc == 0, out + err
    result = [l for l in out.splitlines() if l.startswith('result ')][0]
    assert 'connected=1' in result and 'disconnects=0' in result and 'transport=1 ' in result, out


BAD = {
    # name: (handler, transports, what the result line must hold)
    'garbage-polling': (garbage, 'polling', None),
    'garbage-websocket': (garbage, 'websocket', None),
    'silent-polling': (silent, 'polling', 'message=timeout'),
    'silent-websocket': (silent, 'websocket', 'message=timeout'),
    'http-500': (http_500, 'polling', '500'),
    'http-400': (http_400, 'polling', '400'),
    'upgrade-answered-200': (upgrade_200, 'websocket', None),
    'ws-frame-2^62': (ws_huge_frame, 'websocket', None),
    'ws-closed-mid-header': (ws_mid_frame, 'websocket', None),
    'ws-closed-mid-payload': (ws_mid_payload, 'websocket', None),
    'polling-content-length-1e15': (polling_huge_length, 'polling', None),
    'polling-truncated-chunked': (polling_truncated_chunked, 'polling', None),
    'polling-chunk-size-huge': (polling_huge_chunk, 'polling', None),
    'polling-closed-mid-body': (polling_mid_body, 'polling', None),
    'polling-bad-handshake': (polling_bad_handshake, 'polling', None),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_server(loop, case):
    handler, transport, want = BAD[case]
    srv = loop.run(asyncio.start_server(handler, '127.0.0.1', 0))
    port = srv.sockets[0].getsockname()[1]
    try:
        t0 = time.monotonic()
        rc, out, err = run_check('http://127.0.0.1:%d' % port, '--scenario', 'fail', '--transports', transport,
                                 '--timeout-ms', '1000', '--max-payload', '1000000', timeout=30)
        took = time.monotonic() - t0
    finally:
        loop.call(srv.close)  # (asyncio servers are closed on their loop thread)
    assert rc == 0, 'exit %s\n%s\n%s' % (rc, out, err[-3000:])
    result = [l for l in out.splitlines() if l.startswith('result ')]
    assert result and 'connected=0' in result[0], out
    # the connecting socket is told, once (on_connect_error), whether the attempt failed or the
    # connection was lost after the Engine.IO OPEN and before the CONNECT answer
    assert ' connect_errors=1 ' in result[0], out
    if want:
        assert want in result[0], out
    assert took < 10, out
    print(case, result[0], out.split('maxrss_kb=')[1].split()[0])
    if not ASAN:
        rss = int(out.split('maxrss_kb=')[1].split()[0])
        assert rss < 24 * 1024, 'max RSS %d KiB\n%s' % (rss, out)


def test_connecting_socket_told_when_connection_drops(loop):
    """The connection lost after the Engine.IO OPEN, before the socket's CONNECT answer."""
    srv = loop.run(asyncio.start_server(ws_mid_payload, '127.0.0.1', 0))
    port = srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = run_check('http://127.0.0.1:%d' % port, '--scenario', 'fail', '--transports', 'websocket',
                                 '--timeout-ms', '1000', timeout=30)
    finally:
        loop.call(srv.close)  # (asyncio servers are closed on their loop thread)
    assert rc == 0, out + err
    result = [l for l in out.splitlines() if l.startswith('result ')][0]
    # on_connect_error with the manager's reason (socket.io-client says "disconnect" there; without
    # either, a client without reconnection waited for ever)
    assert ' connect_errors=1 ' in result and ' message=transport ' in result, out
