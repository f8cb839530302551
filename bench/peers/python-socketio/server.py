"""python-socketio peer for the sio benchmarks.

Namespace `/` of the contract server (shared/contract.md), as far as the benchmarks use it, on
python-socketio's fastest backend for this workload: gevent (pywsgi + gevent-websocket), sync
handlers run inline (async_handlers=False), TCP_NODELAY on every connection.

    python server.py [--host 127.0.0.1] [--port 3000] [--path /socket.io/] [--ping-interval MS]
        [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] [--redis URL] [--cors]

Prints `listening on http://HOST:PORT` when ready; exits 0 on SIGTERM/SIGINT.
"""
from gevent import monkey

monkey.patch_all()

import contextvars  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import base64  # noqa: E402

import gevent  # noqa: E402
import socketio  # noqa: E402
from engineio import packet as eio_packet  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

PROG = 'python-socketio-peer'


def usage(message):
    sys.stderr.write(
        f'{PROG}: {message}\nusage: server.py [--host H] [--port P] [--path /socket.io/] '
        '[--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--allow-eio3] '
        '[--redis URL] [--cors]\n')
    sys.exit(2)


def parse_args(argv):
    opts = {'host': '127.0.0.1', 'port': 3000, 'path': '/socket.io/',
            'ping_interval': 25000, 'ping_timeout': 20000, 'max_payload': 1000000}
    i = 0
    while i < len(argv):
        arg, value = argv[i], None
        if arg.startswith('--') and '=' in arg:
            arg, value = arg.split('=', 1)

        def take():
            nonlocal i
            if value is not None:
                return value
            i += 1
            if i >= len(argv):
                usage(f'{arg} wants a value')
            return argv[i]

        def number():
            v = take()
            if not v.isdigit():
                usage(f'{arg} wants a number')
            return int(v)

        if arg == '--host':
            opts['host'] = take()
        elif arg == '--port':
            opts['port'] = number()
        elif arg == '--path':
            opts['path'] = take()
        elif arg == '--ping-interval':
            opts['ping_interval'] = number()
        elif arg == '--ping-timeout':
            opts['ping_timeout'] = number()
        elif arg == '--max-payload':
            opts['max_payload'] = number()
        elif arg == '--allow-eio3':
            sys.stderr.write(f'{PROG}: note: --allow-eio3 is ignored (EIO4 only)\n')
        elif arg == '--redis':
            sys.stderr.write(f'{PROG}: note: --redis {take()} is ignored (in-memory manager)\n')
        elif arg == '--cors':
            sys.stderr.write(f'{PROG}: note: --cors is ignored\n')
        else:
            usage(f'unknown argument {argv[i]!r}')
        i += 1
    if not opts['path'].startswith('/'):
        usage('--path must start with /')
    return opts


# Whether the event being handled asked for an ack: python-socketio only tells the handler
# through its return value being used or not, and `echo` must emit back when there is no ack.
_has_ack = contextvars.ContextVar('has_ack', default=False)


class Server(socketio.Server):
    def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        _has_ack.set(id is not None)
        return super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)


# Workaround for a python-engineio 4.15.1 bug: a broadcast encodes its engine.io packets once and
# shares them between recipients, and Packet.encode caches its first result whatever `b64` asks
# for, so a binary attachment first sent over WebSocket (raw bytes) then goes to a polling
# recipient as bytes in a text payload (TypeError, the poll fails), or the other way round.
# Binary packets are therefore not cached; text packets keep the library's cache.
_eio_encode = eio_packet.Packet.encode


def _encode(self, b64=False):
    if self.binary:
        return 'b' + base64.b64encode(self.data).decode('ascii') if b64 else self.data
    return _eio_encode(self, b64)


eio_packet.Packet.encode = _encode

opts = parse_args(sys.argv[1:])

sio = Server(
    async_mode='gevent',
    async_handlers=False,      # handlers never block: run them inline, no greenlet per event
    always_connect=True,       # CONNECT before the connect handler runs, as in Node
    cors_allowed_origins=[],   # no Origin checks (Node's default), no CORS headers
    ping_interval=opts['ping_interval'] / 1000,
    ping_timeout=opts['ping_timeout'] / 1000,
    max_http_buffer_size=opts['max_payload'],
    logger=False,
    engineio_logger=False,
)


@sio.event
def connect(sid, environ, auth):
    sio.emit('auth', auth if auth is not None else {}, to=sid)


@sio.on('message')
def message(sid, *args):
    sio.emit('message-back', args, to=sid)


@sio.on('message-with-ack')
def message_with_ack(sid, *args):
    return args


@sio.on('echo')
def echo(sid, *args):
    if _has_ack.get():
        return args
    sio.emit('echo', args, to=sid)


@sio.on('broadcast')
def broadcast(sid, *args):
    sio.emit('broadcast', args)


@sio.on('count')
def count(sid, *args):
    return sum(1 for _ in sio.manager.get_participants('/', None))


app = socketio.WSGIApp(sio, socketio_path=opts['path'])


class NoDelayServer(pywsgi.WSGIServer):
    # without it the 101 response and the first frames wait on delayed ACKs (~40 ms a connect)
    def handle(self, sock, address):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        return super().handle(sock, address)


try:
    family, _, _, _, addr = socket.getaddrinfo(
        opts['host'], opts['port'], type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(addr)
    listener.listen(1024)
except OSError as e:
    sys.stderr.write(f'{PROG}: {e}\n')
    sys.exit(1)

server = NoDelayServer(listener, app, handler_class=WebSocketHandler, log=None, error_log=None)


def stop():
    gevent.spawn_later(3, os._exit, 0)  # last resort if a connection does not let go

    def close_all():
        for _, sid in list(sio.manager.get_participants('/', None)):
            try:
                sio.disconnect(sid)
            except Exception:
                pass
        sio.shutdown()
        server.stop(timeout=1)
    gevent.spawn(close_all)


gevent.signal_handler(signal.SIGTERM, stop)
gevent.signal_handler(signal.SIGINT, stop)

server.start()
sys.stdout.write(f"listening on http://{opts['host']}:{listener.getsockname()[1]}\n")
sys.stdout.flush()
server.serve_forever()
sys.exit(0)
