"""sio: a Socket.IO v4 server (and client: :class:`Client`) whose core is C (libuv), with a
python-socketio-like API.

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

Handlers run on the thread that runs the server (``run()``), one at a time (with
``Server(async_handlers=True)``: sync handlers on a worker pool, a socket's in order); the GIL is
released while the server waits for the network. From other threads, ``emit``, ``enter_room``,
``leave_room``, ``close_room``, ``disconnect``, ``sockets_join``, ``sockets_leave``,
``disconnect_sockets``, ``emit_with_acks``, ``fetch_count``, ``all_rooms``, ``server_side_emit`` and
``stop`` are safe: they are queued onto the server's thread (``call_soon_threadsafe``); ``call``,
``rooms``, ``connected``, ``socket_count``, ``get_environ`` and ``transport`` ask the server's
thread and wait for its answer.

python-socketio's asyncio spelling: :class:`AsyncServer` (awaitable methods, ``await
server.serve()``) and :class:`AsyncNamespace`; ``sio.exceptions`` has python-socketio's exception
names. ``Server(async_handlers=True)`` runs sync handlers on worker threads (see :class:`Server`).

The package: ``server.py`` (:class:`Server`), ``async_server.py`` (:class:`AsyncServer`),
``namespace.py`` (:class:`Namespace`, :class:`AsyncNamespace`), ``_compat.py`` (python-socketio's
constructor arguments and reasons), ``_workers.py`` (the ``async_handlers`` pool), ``ack.py``
(:class:`Ack`), ``errors.py`` (the exceptions), ``_dispatch.py`` (what the C core calls),
``_asyncio.py`` (the asyncio mode), ``socket.py`` (the Node-shaped :class:`Socket`, middleware,
``server.of()``/``to()``), ``_util.py`` (argument conversions), ``client.py`` (the client:
:class:`Client`, :class:`AsyncClient`, :class:`ClientNamespace`, over ``_core.ClientCore``) and
``simple_client.py`` (:class:`SimpleClient`, :class:`AsyncSimpleClient`); ``_core`` is the C
extension (bindings/python/, stubs in ``_core.pyi``), ``api`` the SWIG module of sio.h's
callback-free part (bindings/sio.i).
"""

from . import _core, errors, exceptions
from . import api  # SWIG-generated: versions, error strings, option structs, pure functions (bindings/sio.i)
from .ack import Ack
from .apps import ASGIApp, WSGIApp, run
from .errors import *  # noqa: F401,F403 - sio.errors' exceptions are sio's
from .async_server import AsyncServer
from .client import AsyncClient, AsyncClientNamespace, Client, ClientNamespace
from .simple_client import AsyncSimpleClient, SimpleClient
from .namespace import AsyncNamespace, Namespace
from .server import Server, Timer
from .socket import BroadcastOperator, NamespaceView, RemoteSocket, Socket

__all__ = ["Server", "AsyncServer", "Namespace", "AsyncNamespace", "Timer", "Ack", "NOACK",
           "exceptions", "__version__", "Socket", "NamespaceView", "BroadcastOperator", "RemoteSocket",
           "WSGIApp", "ASGIApp", "run", "Client", "AsyncClient", "SimpleClient", "AsyncSimpleClient",
           "ClientNamespace", "AsyncClientNamespace", *errors.__all__]

__version__: str = api.sio_version()

NOACK = _core.NOACK
