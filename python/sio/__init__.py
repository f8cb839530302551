"""sio: a Socket.IO v4 server whose core is C (libuv), with a python-socketio-like API.

    import sio

    server = sio.Server(cors_allowed_origins="*")

    @server.on("connect")
    def connect(sid, environ, auth):
        print("hello", sid, environ["REMOTE_ADDR"])

    @server.on("chat")
    def chat(sid, text):
        server.emit("chat", text, skip_sid=sid)
        return "ok"                       # the return value is the ack

    server.run("127.0.0.1", 3000)         # Ctrl-C / SIGTERM stop it

Handlers run on the thread that runs the server (``run()``), one at a time; the GIL is released
while the server waits for the network. From other threads, ``emit``, ``enter_room``,
``leave_room``, ``close_room``, ``disconnect``, ``sockets_join``, ``sockets_leave``,
``disconnect_sockets``, ``emit_with_acks``, ``fetch_count``, ``all_rooms``, ``server_side_emit`` and
``stop`` are safe: they are queued onto the server's thread (``call_soon_threadsafe``).

The package: ``server.py`` (:class:`Server`), ``namespace.py`` (:class:`Namespace`), ``ack.py``
(:class:`Ack`), ``errors.py`` (the exceptions), ``_dispatch.py`` (what the C core calls),
``_asyncio.py`` (the asyncio mode), ``socket.py`` (the Node-shaped :class:`Socket`, middleware,
``server.of()``/``to()``), ``_util.py`` (argument conversions); ``_core`` is the C
extension (bindings/python/, stubs in ``_core.pyi``), ``api`` the SWIG module of sio.h's
callback-free part (bindings/sio.i).
"""

from . import _core, errors
from . import api  # SWIG-generated: versions, error strings, option structs, pure functions (bindings/sio.i)
from .ack import Ack
from .apps import ASGIApp, WSGIApp, run
from .errors import *  # noqa: F401,F403 - sio.errors' exceptions are sio's
from .namespace import Namespace
from .server import Server, Timer
from .socket import BroadcastOperator, NamespaceView, RemoteSocket, Socket

__all__ = ["Server", "Namespace", "Timer", "Ack", "NOACK", "__version__", "Socket", "NamespaceView",
           "BroadcastOperator", "RemoteSocket", "WSGIApp", "ASGIApp", "run", *errors.__all__]

__version__: str = api.sio_version()

NOACK = _core.NOACK
