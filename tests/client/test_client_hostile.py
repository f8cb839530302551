"""A hostile server for sio's C client: a WebSocket Engine.IO server (asyncio) that completes the
handshake and the Socket.IO CONNECT, then sends one malformed thing per connection — hand-made
cases (broken packets, unknown ack ids, bogus attachments, 100k-deep nesting, reserved event names,
refusals, WebSocket protocol errors) and seeded random mutations of valid packets — and closes.
sio-client-check (`--scenario soak`) reconnects after each for a while: it must survive them all,
close cleanly (no leak under ASan), and stay within a bounded peak RSS."""
import asyncio
import os
import random

import pytest

from helpers import ASAN, CHECK, Loop, run_check
from test_client_network import OPEN, read_request, ws_accept

pytestmark = pytest.mark.skipif(not os.path.exists(CHECK), reason='sio-client-check not built')

TEXT, BIN, PING, PONG, CLOSE, CONT = 1, 2, 9, 10, 8, 0


def frame(opcode, payload, fin=True, rsv=0, masked=False):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, n | (0x80 if masked else 0)])
    elif n < 65536:
        head = bytes([b0, 126 | (0x80 if masked else 0)]) + n.to_bytes(2, 'big')
    else:
        head = bytes([b0, 127 | (0x80 if masked else 0)]) + n.to_bytes(8, 'big')
    if masked:
        return head + b'\0\0\0\0' + payload
    return head + payload


def t(s):
    return frame(TEXT, s.encode() if isinstance(s, str) else s)


def b(data):
    return frame(BIN, data)


DEEP = '42["a",' + '[' * 100000 + ']' * 100000 + ']'
CASES = [
    [t('42')], [t('42[')], [t('42[]')], [t('42[1]')], [t('42["a"')], [t('42{"a":1}')], [t('42"str"')],
    [t('42["a",{"_placeholder":true,"num":0}]')],
    [t('451-["a",{"_placeholder":true,"num":5}]'), b(b'\x01\x02')],
    [t('4599999999999999999-["a"]')], [t('45-["a"]')],
    [t('452-["a",{"_placeholder":true,"num":0}]'), b(b'\x01')],  # one attachment of two, then the close
    [t('451000000-["a"]')], [t('452000-["a"]')],
    [b(b'\x00\x01')],  # a binary frame no packet waits for
    [t('43')], [t('4399999999999999999999[]')], [t('431[]')], [t('431["x"]')], [t('43-1[]')],
    [t('44{"message":1}')], [t('44')], [t('44"string"')], [t('44{"message":"refused","data":[1,{"x":null}]}')],
    [t('41')], [t('41/nope,')], [t('40/unknown,{"sid":1}')], [t('40{"sid":5}')], [t('40')], [t('40{"sid":"again"}')],
    [t('49')], [t('4/')], [t('4/,')], [t('42/custom,["x"]')], [t('42/,["x"]')], [t('4' + '/' * 5000 + ',[]')],
    [t('2')], [t('3')], [t('6')], [t('5')], [t('1')], [t('0{"sid":"again"}')], [t('')], [t('x')], [t('4')],
    [t(DEEP)], [t('42["a",1e400]')], [t('42["\\ud800"]')], [t('42["a\\u0000b"]')], [t('42["' + 'é' * 1000 + '"]')],
    [t('42["connect"]')], [t('42["disconnect","x"]')], [t('42["connect_error",{}]')], [t('42[null]')],
    [t('42[123]')], [t('421["ev"]')], [t('42-1["ev"]')], [t('4212345678901234567890["ev"]')],
    [t('42["big","' + 'x' * 100_000 + '"]')],
    [t('42["a",{"_placeholder":true,"num":-1}]')], [t('451-["a",{"_placeholder":true,"num":"0"}]'), b(b'x')],
    [t('451-[' + '{"_placeholder":true,"num":0},' * 1000 + '1]'), b(b'x')],
    # WebSocket protocol errors and oddities
    [frame(PING, b'p')], [frame(PONG, b'p')], [frame(CLOSE, b'\x03\xe8bye')], [frame(CLOSE, b'\x00')],
    [frame(CLOSE, b'\x0b\xb8' + b'r' * 123)], [frame(CONT, b'42["a"]')],
    [frame(TEXT, b'42["fr', fin=False), frame(CONT, b'ag"]')],  # a fragmented message (valid)
    [frame(TEXT, b'42["fr', fin=False), frame(TEXT, b'ag"]')],  # a new message inside a fragmented one
    [frame(TEXT, b'42["a"]', rsv=0x40)], [frame(TEXT, b'42["a"]', masked=True)], [frame(3, b'x')],
    [frame(PING, b'p' * 126)], [frame(PING, b'p', fin=False)], [frame(TEXT, b'42["\xff\xfe"]')],
    [frame(TEXT, b'42["a"]')[:3]],  # cut inside the frame
]
BASES = [
    ('42["ev",{"a":[1,2,"x"]},3.5,true,null]', None),
    ('451-["ev",{"_placeholder":true,"num":0}]', b'\x00\xffbin'),
    ('431[{"ok":1}]', None),
    ('40{"sid":"abc","pid":"p","offset":"o"}', None),
    ('44{"message":"no","data":{"x":1}}', None),
    ('421["ask",{"deep":[[[[1]]]]}]', None),
]


def mutations(n, seed=19):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        text, att = rnd.choice(BASES)
        data = bytearray(text.encode())
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(data))
            op = rnd.random()
            if op < 0.4:
                data[i] = rnd.choice(b'[]{}",:-0123456789/\\ \x00\xff')
            elif op < 0.7:
                del data[i]
            else:
                data.insert(i, rnd.choice(b'[]{}",:-0123456789/'))
        case = [frame(TEXT, bytes(data))]
        if att is not None and rnd.random() < 0.8:
            case.append(b(att))
        out.append(case)
    return out


class Hostile:
    def __init__(self, cases):
        self.cases = cases
        self.served = 0

    async def read_frame(self, reader):
        h = await reader.readexactly(2)
        n = h[1] & 0x7f
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), 'big')
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), 'big')
        mask = await reader.readexactly(4) if h[1] & 0x80 else b'\0\0\0\0'
        data = await reader.readexactly(n)
        return h[0] & 0x0f, bytes(c ^ mask[i % 4] for i, c in enumerate(data))

    async def __call__(self, reader, writer):
        try:
            _, headers = await read_request(reader)
            writer.write(ws_accept(headers) + t(OPEN))
            await writer.drain()
            while True:  # the client's CONNECT for "/"
                op, data = await asyncio.wait_for(self.read_frame(reader), 2)
                if op == TEXT and data.startswith(b'40'):
                    break
            writer.write(t(b'40{"sid":"soak-socket","pid":"soak-pid"}'))
            if self.served < len(self.cases):
                for f in self.cases[self.served]:
                    writer.write(f)
            self.served += 1
            await writer.drain()
            await asyncio.sleep(0.02)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        finally:
            writer.transport.abort()


@pytest.fixture(scope='module')
def loop():
    lp = Loop()
    yield lp
    lp.close()


def test_hostile_server(loop):
    cases = CASES + mutations(150)
    hostile = Hostile(cases)
    srv = loop.run(asyncio.start_server(hostile, '127.0.0.1', 0))
    port = srv.sockets[0].getsockname()[1]
    try:
        rc, out, err = run_check('http://127.0.0.1:%d' % port, '--scenario', 'soak', '--transports', 'websocket',
                                 '--duration', '60', '--rounds', str(len(cases)), '--delay', '5', '--delay-max', '20',
                                 '--randomization', '0', '--timeout-ms', '2000', timeout=120)
    finally:
        loop.call(srv.close)  # (asyncio servers are closed on their loop thread)
    assert rc == 0, 'exit %s\n%s\n%s' % (rc, out, err[-3000:])
    assert 'done closed=1' in out, out
    assert hostile.served >= len(cases), 'only %d of %d cases served\n%s' % (hostile.served, len(cases), out)
    if not ASAN:
        rss = int(out.split('maxrss_kb=')[1].split()[0])
        assert rss < 64 * 1024, 'peak RSS %d KiB\n%s' % (rss, out)
