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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import logging
import os
import re
import threading
from typing import Any, Callable, Dict, Iterable, Optional, Union

from . import _core
from . import api  # SWIG-generated: versions, error strings, option structs (bindings/sio.i)

__all__ = [
    "Server",
    "Namespace",
    "ConnectionRefusedError",
    "TimeoutError",
    "DisconnectedError",
    "Timer",
    "Ack",
    "NOACK",
    "__version__",
]

__version__: str = api.sio_version()

logger = logging.getLogger("sio")

Timer = _core.Timer
NOACK = _core.NOACK
_REJECTED = "Connection rejected by server"
# Node's reserved namespace events: serverSideEmit refuses them.
_RESERVED_SERVER_EVENTS = frozenset(("connect", "connection", "new_namespace"))
_NO_CLUSTER = "server_side_emit needs a cluster: sio.Server(redis=...)"


class ConnectionRefusedError(ConnectionError):
    """Raise in a ``connect`` handler to refuse the connection.

    ``ConnectionRefusedError("unauthorized")`` answers CONNECT_ERROR ``{"message": "unauthorized"}``;
    a second argument becomes its ``data`` (more than one extra argument: a list of them).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.message = str(args[0]) if args else _REJECTED
        if len(args) == 2:
            self.data = args[1]
        elif len(args) > 2:
            self.data = list(args[1:])
        else:
            self.data = None


class TimeoutError(TimeoutError):  # noqa: A001 - a subclass of the builtin, as python-socketio's
    """An acknowledgement did not come in time: the single argument an ``emit(callback=...,
    timeout=...)`` callback gets on timeout, and what ``call()`` raises."""


class DisconnectedError(ConnectionError):
    """The client disconnected before it acknowledged (raised by ``call()``)."""


def _positional_arity(fn: Callable) -> int:
    """How many positional arguments fn accepts (a large number with *args)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 99
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


def _room_names(value: Union[None, str, Iterable[str]]) -> Optional[tuple]:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


_COOKIE_KEYS = {"name": "name", "path": "path", "domain": "domain", "samesite": "same_site",
                "httponly": "http_only", "secure": "secure", "maxage": "max_age"}


def _cookie_options(cookie: Any) -> dict:
    """The Core keywords for ``Server(cookie=...)``: Node's defaults, then what was given."""
    if cookie is None or cookie is False:
        return {}
    opts: Dict[str, Any] = {"name": "io", "path": "/", "domain": None, "same_site": "Lax",
                            "http_only": True, "secure": False, "max_age": 0}
    if isinstance(cookie, str):
        opts["name"] = cookie
    elif isinstance(cookie, dict):
        for key, value in cookie.items():
            # Node's spelling (httpOnly, sameSite, maxAge), python-engineio's attribute names
            # (HttpOnly, SameSite, Max-Age) and snake_case all name the same attribute.
            norm = _COOKIE_KEYS.get(str(key).lower().replace("_", "").replace("-", ""))
            if norm is None:
                raise ValueError(f"cookie: unknown attribute {key!r} (name, path, domain, same_site, "
                                 "http_only, secure, max_age)")
            if norm in ("path", "domain") and value is False:
                value = None  # left out of the header
            elif norm == "same_site" and value in (None, False):
                value = None
            elif norm == "same_site" and value is True:
                value = "Strict"  # as Node's cookie package
            elif norm in ("http_only", "secure"):
                value = bool(value)
            elif norm == "max_age":
                value = 0 if value is None else int(value)
                if not 0 <= value < 2 ** 32:
                    raise ValueError("cookie: max_age must be in [0, 2**32) seconds")
            if norm in ("name", "path", "domain", "same_site") and value is not None and not isinstance(value, str):
                raise TypeError(f"cookie: {key!r} must be a string")
            opts[norm] = value
        if not opts["name"]:
            raise ValueError("cookie: the name is empty")
    elif cookie is True:
        pass
    else:
        raise TypeError("cookie must be None, a bool, a name (str) or a dict of attributes")
    return {"cookie_" + k: v for k, v in opts.items()}


class Ack:
    """Answers a client's acknowledgement later: a handler with a keyword-only ``ack`` parameter
    gets one (``def ask(sid, *args, ack)``) and its return value is then ignored. ``bool(ack)`` is
    False when the client asked for no ack; calling it more than once sends nothing more."""

    __slots__ = ("_server", "_nsp", "_sid", "_id")

    def __init__(self, server: "Server", nsp: str, sid: str, ack_id: int) -> None:
        self._server, self._nsp, self._sid, self._id = server, nsp, sid, ack_id

    def __bool__(self) -> bool:
        return self._id >= 0

    def __call__(self, *values: Any) -> bool:
        """Sends the ack with ``values``; False when not sent (none asked, already sent, gone)."""
        if self._id < 0:
            return False
        ack_id, self._id = self._id, -1
        server = self._server
        if server._elsewhere():
            server.call_soon_threadsafe(server._core.ack, self._nsp, self._sid, ack_id, values)
            return True
        sent = server._core.ack(self._nsp, self._sid, ack_id, values)
        server._kick()
        return sent


class Namespace:
    """A class-based namespace: ``on_<event>`` methods are its handlers (``on_connect(sid, environ,
    auth)``, ``on_disconnect(sid, reason)``, ``on_chat(sid, *args)``). Register it with
    ``server.register_namespace(MyNamespace("/chat"))``."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.server: Optional[Server] = None

    def _set_server(self, server: "Server") -> None:
        self.server = server

    def _handler(self, event: str) -> Optional[Callable]:
        return getattr(self, "on_" + event, None)

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler = self._handler(event)
        if handler is None:
            return NOACK
        return handler(*args)

    def emit(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.emit(event, *args, namespace=namespace or self.namespace, **kw)

    def send(self, data: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.send(data, namespace=namespace or self.namespace, **kw)

    def call(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> Any:
        return self.server.call(event, *args, namespace=namespace or self.namespace, **kw)

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        return self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        return self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        return self.server.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list:
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    def sockets_join(self, room: Union[str, Iterable[str]], namespace: Optional[str] = None,
                     **kw: Any) -> None:
        return self.server.sockets_join(room, namespace=namespace or self.namespace, **kw)

    def sockets_leave(self, room: Union[str, Iterable[str]], namespace: Optional[str] = None,
                      **kw: Any) -> None:
        return self.server.sockets_leave(room, namespace=namespace or self.namespace, **kw)

    def disconnect_sockets(self, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.disconnect_sockets(namespace=namespace or self.namespace, **kw)

    def emit_with_acks(self, event: str, *args: Any, namespace: Optional[str] = None, **kw: Any) -> None:
        return self.server.emit_with_acks(event, *args, namespace=namespace or self.namespace, **kw)

    def fetch_count(self, callback: Callable[[Optional[str], int], Any],
                    namespace: Optional[str] = None) -> None:
        return self.server.fetch_count(callback, namespace=namespace or self.namespace)

    def all_rooms(self, callback: Callable[[Optional[str], list], Any],
                  namespace: Optional[str] = None) -> None:
        return self.server.all_rooms(callback, namespace=namespace or self.namespace)

    def fetch_sockets(self, callback: Callable[[Optional[str], list], Any],
                      to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        return self.server.fetch_sockets(callback, to=to, skip_sid=skip_sid,
                                         namespace=namespace or self.namespace)

    def server_side_emit(self, event: str, *args: Any, namespace: Optional[str] = None,
                         callback: Optional[Callable[[Optional[str], list], Any]] = None) -> None:
        return self.server.server_side_emit(event, *args, namespace=namespace or self.namespace,
                                            callback=callback)

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict:
        return self.server.get_session(sid, namespace=namespace or self.namespace)

    def save_session(self, sid: str, session: dict, namespace: Optional[str] = None) -> None:
        return self.server.save_session(sid, session, namespace=namespace or self.namespace)

    def session(self, sid: str, namespace: Optional[str] = None):
        return self.server.session(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: str, namespace: Optional[str] = None) -> None:
        return self.server.disconnect(sid, namespace=namespace or self.namespace)


class Server:
    """A Socket.IO server.

    :param cors_allowed_origins: which pages may connect, by the ``Origin`` header browsers send
        (clients without a browser send none and are never refused by it), as python-socketio:
        ``None`` (the default): only pages of this server's own origin (the ``Host`` header, or
        ``X-Forwarded-Host`` behind a proxy; http or https), no CORS headers; ``"*"``: any origin,
        with CORS headers; an origin or a list of origins (compared exactly): those only, with CORS
        headers; ``[]``: any origin and no CORS headers (Node's socket.io default). A page of
        another origin gets 403 on its handshake, polls and WebSocket upgrade (cross-site WebSocket
        hijacking with the user's cookies is refused).
    :param ping_interval: seconds between heartbeats (python-socketio's unit).
    :param ping_timeout: seconds to wait for a heartbeat's answer.
    :param max_payload: bytes per polling body or WebSocket message.
    :param allow_eio3: accept Engine.IO v3 clients (socket.io 2.x).
    :param path: where the Socket.IO endpoint is served.
    :param connect_timeout: seconds an Engine.IO session may stay without joining a namespace.
    :param client_dir: a directory holding socket.io-client's ``dist/`` files (npm package
        ``socket.io-client``): ``<path>socket.io.js`` (and ``.min.js``, ``.esm.min.js``, maps) are
        served from it, as the reference's ``serveClient``. ``None``: not served.
    :param redis: ``"redis://[[user]:password@]host[:port][/db]"``: this server is a cluster node,
        sharing its broadcasts with the other nodes (sio or Node's socket.io with
        ``@socket.io/redis-adapter``) through that Redis; ``None``: alone. A bad URL raises
        ``ValueError``; a sio built without Redis, ``RuntimeError``. See :meth:`fetch_count`,
        :meth:`all_rooms`, :meth:`server_side_emit` and :meth:`on_server_event`.
    :param redis_key: the channel prefix (Node's ``key`` option), ``"socket.io"`` by default.
    :param redis_requests_timeout: seconds a cluster request (``fetch_count``, ``fetch_sockets``,
        ``all_rooms``, ``server_side_emit`` with a callback) waits for the other nodes (Node's
        ``requestsTimeout``), 5 by default.
    :param cookie: the reference's ``cookie`` option, for load balancers that keep each client on
        one node by a cookie (long-polling needs all of a session's requests on the node that holds
        it). ``None`` (the default): no cookie. ``True``: the response to the polling handshake sets
        ``io=<sid>; Path=/; HttpOnly; SameSite=Lax``, as Node's ``cookie: true``. A string: that
        cookie name with the same attributes. A dict of attributes, over those defaults: ``name``,
        ``path``, ``domain``, ``same_site`` (``"Lax"``, ``"Strict"``, ``"None"``), ``http_only``,
        ``secure``, ``max_age`` (seconds); ``False`` or ``None`` leaves an attribute out. Keys may
        also be spelt as Node's (``httpOnly``, ``sameSite``, ``maxAge``) or python-engineio's
        (``HttpOnly``, ``SameSite``, ``Max-Age``); unlike python-engineio, an attribute not given
        keeps Node's default (a string name gets ``HttpOnly`` too). Only the handshake response
        carries it (later requests name their session in the query; a WebSocket-only session has
        none), and the bare Engine.IO endpoints of :meth:`engine_endpoint` set it as well. A name
        that is not an HTTP token, or a path or domain with ``;`` or control characters, raises
        ``ValueError``.
    """

    def __init__(
        self,
        cors_allowed_origins: Union[None, str, Iterable[str]] = None,
        ping_interval: float = 25,
        ping_timeout: float = 20,
        max_payload: int = 1_000_000,
        allow_eio3: bool = False,
        path: str = "/socket.io/",
        connect_timeout: float = 45,
        max_buffered: int = 0,
        client_dir: Optional[str] = None,
        redis: Optional[str] = None,
        redis_key: Optional[str] = None,
        redis_requests_timeout: float = 5,
        cookie: Union[None, bool, str, Dict[str, Any]] = None,
    ) -> None:
        if not redis_requests_timeout > 0:
            raise ValueError("redis_requests_timeout must be positive")
        if cors_allowed_origins is None or isinstance(cors_allowed_origins, str):
            cors = cors_allowed_origins
        else:
            cors = ",".join(cors_allowed_origins) or None
        if not path.startswith("/"):
            path = "/" + path
        if not path.endswith("/"):
            path += "/"
        self._handlers: Dict[Any, Dict[str, Callable]] = {}
        self._server_handlers: Dict[Any, Dict[str, Callable]] = {}
        self._cluster = redis is not None
        self._namespaces: Dict[Any, Namespace] = {}
        self._keys: Dict[Any, str] = {}
        self._sessions: Dict[tuple, dict] = {}
        self._pending: Dict[tuple, list] = {}
        self._arity: Dict[Any, int] = {}
        self._ack_param: Dict[Any, bool] = {}
        self._known: set = set()
        self._calls: collections.deque = collections.deque()
        self._loop_thread: Optional[int] = None
        self._aio: Optional[asyncio.AbstractEventLoop] = None
        self._aio_timer: Optional[asyncio.TimerHandle] = None
        self._tick_scheduled = False
        self._closed_future: Optional[asyncio.Future] = None
        self._closed_event = threading.Event()
        self._core = _core.Core(
            self,
            path=path,
            ping_interval_ms=int(ping_interval * 1000),
            ping_timeout_ms=int(ping_timeout * 1000),
            max_payload=int(max_payload),
            allow_eio3=bool(allow_eio3),
            cors=cors,
            same_origin=cors_allowed_origins is None,
            connect_timeout_ms=int(connect_timeout * 1000),
            max_buffered=int(max_buffered),
            client_dir=None if client_dir is None else os.fspath(client_dir),
            redis=redis,
            redis_key=redis_key,
            redis_requests_timeout_ms=max(1, int(redis_requests_timeout * 1000)),
            **_cookie_options(cookie),
        )
        self._register("/")

    # ---- handlers ----------------------------------------------------------------------------

    def _register(self, namespace: Union[str, "re.Pattern[str]"]) -> Any:
        if isinstance(namespace, re.Pattern):
            key = ("regex", namespace.pattern)
            if key not in self._keys:
                self._keys[key] = self._core.dynamic(namespace.pattern, key)
            return key
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        if namespace not in self._keys:
            self._keys[namespace] = self._core.namespace(namespace, namespace)
            self._known.add(namespace)
        return namespace

    def on(self, event: str, handler: Optional[Callable] = None,
           namespace: Union[None, str, "re.Pattern[str]"] = None):
        """Registers a handler for ``event`` (``"connect"``, ``"disconnect"``, ``"*"`` or an event
        name) in ``namespace`` (default ``"/"``; a compiled ``re`` pattern registers a dynamic
        namespace: any name it matches — as a POSIX extended regex — is created on first use).
        Works as a method and as a decorator."""
        key = self._register(namespace or "/")

        def set_handler(fn: Callable) -> Callable:
            self._handlers.setdefault(key, {})[event] = fn
            return fn

        if handler is None:
            return set_handler
        set_handler(handler)
        return handler

    def on_server_event(self, event: str, handler: Optional[Callable] = None,
                        namespace: Union[None, str, "re.Pattern[str]"] = None):
        """Registers a handler for the server-side event ``event`` of ``namespace`` (default
        ``"/"``), which other nodes of the cluster send with :meth:`server_side_emit` (or Node's
        ``io.serverSideEmit()``, whose listeners are ``io.on(event, ...)``). ``handler(*args)`` gets
        the event's arguments; when the sender waits for answers, its return value is this node's
        answer: ``None`` answers with no value, a tuple with its first item (Node takes one ack
        argument), a coroutine (asyncio mode) with its result. A handler that raises is logged
        (logger ``"sio"``) and sends no answer. A node with no handler for the event answers with no
        value. Works as a method and as a decorator (``@server.on_server_event("name")``)."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        if event in _RESERVED_SERVER_EVENTS:
            raise ValueError('"%s" is a reserved event name' % event)
        key = self._register(namespace or "/")

        def set_handler(fn: Callable) -> Callable:
            self._server_handlers.setdefault(key, {})[event] = fn
            return fn

        if handler is None:
            return set_handler
        set_handler(handler)
        return handler

    def event(self, *args: Any, **kw: Any):
        """``@server.event`` registers a function named after its event (``def chat(sid, ...)``);
        ``@server.event(namespace="/x")`` too."""
        if len(args) == 1 and not kw and callable(args[0]):
            return self.on(args[0].__name__, args[0])

        def decorator(fn: Callable) -> Callable:
            return self.on(fn.__name__, fn, *args, **kw)

        return decorator

    def register_namespace(self, namespace_handler: Namespace) -> None:
        if not isinstance(namespace_handler, Namespace):
            raise ValueError("not a sio.Namespace instance")
        key = self._register(namespace_handler.namespace)
        namespace_handler._set_server(self)
        self._namespaces[key] = namespace_handler

    def _find(self, key: Any, event: str) -> Optional[Callable]:
        h = self._handlers.get(key)
        if h is not None:
            fn = h.get(event)
            if fn is not None:
                return fn
        ns = self._namespaces.get(key)
        if ns is not None:
            return ns._handler(event)
        return None

    def _nargs(self, fn: Callable) -> int:
        n = self._arity.get(fn)
        if n is None:
            n = self._arity[fn] = _positional_arity(fn)
        return n

    # ---- called by _core ---------------------------------------------------------------------

    def _on_connect(self, key: Any, nsp: str, sid: str, environ: dict, auth: Any, token: int = 0):
        """None lets the socket in, (message, data) refuses it, ``token`` means a coroutine
        decides later (asyncio mode) and calls ``_core.connect_done(token, verdict)``."""
        self._known.add(nsp)
        fn = self._find(key, "connect")
        if fn is None:
            return None
        environ["sio.namespace"] = nsp
        self._pending[(nsp, sid)] = []
        try:
            n = self._nargs(fn)
            result = fn(sid, environ, auth) if n >= 3 else fn(sid, environ) if n == 2 else fn(sid)
        except ConnectionRefusedError as e:
            self._pending.pop((nsp, sid), None)
            return (e.message, e.data)
        except Exception:
            self._pending.pop((nsp, sid), None)
            logger.exception("error in the connect handler of %s", nsp)
            return (_REJECTED, None)
        if inspect.isawaitable(result):
            if self._aio is None:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                self._pending.pop((nsp, sid), None)
                logger.error("the connect handler of %s is a coroutine: it needs the asyncio mode "
                             "(await server.serve())", nsp)
                return (_REJECTED, None)
            self._aio.create_task(self._connect_later(nsp, sid, result, token))
            return token
        if result is False:
            self._pending.pop((nsp, sid), None)
            return (_REJECTED, None)
        return None

    async def _connect_later(self, nsp: str, sid: str, awaitable, token: int) -> None:
        verdict = (_REJECTED, None)
        try:
            if await awaitable is not False:
                verdict = None
        except ConnectionRefusedError as e:
            verdict = (e.message, e.data)
        except Exception:
            logger.exception("error in the connect handler of %s", nsp)
        finally:
            if verdict is not None:
                self._pending.pop((nsp, sid), None)
            if not self._core.closed:
                self._core.connect_done(token, verdict)
                self._kick()

    def _on_connected(self, key: Any, nsp: str, sid: str) -> None:
        self._known.add(nsp)
        for op in self._pending.pop((nsp, sid), ()):
            try:
                op()
            except Exception:
                logger.exception("error in an operation queued during connect")

    def _wants_ack(self, fn: Callable) -> bool:
        w = self._ack_param.get(fn)
        if w is None:
            try:
                p = inspect.signature(fn).parameters.get("ack")
                w = p is not None and p.kind == p.KEYWORD_ONLY
            except (TypeError, ValueError):
                w = False
            self._ack_param[fn] = w
        return w

    def _on_event(self, key: Any, nsp: str, sid: str, event: str, args: tuple, ack_id: int):
        fn = self._find(key, event)
        if fn is not None:
            if self._wants_ack(fn):
                fn(sid, *args, ack=Ack(self, nsp, sid, ack_id))
                return NOACK
            result = fn(sid, *args)
        else:
            fn = self._find(key, "*")
            if fn is None:
                return NOACK
            if self._wants_ack(fn):
                fn(event, sid, *args, ack=Ack(self, nsp, sid, ack_id))
                return NOACK
            result = fn(event, sid, *args)
        if result is NOACK:
            return NOACK
        if inspect.isawaitable(result):
            self._spawn_ack(nsp, sid, ack_id, event, result)
            return NOACK
        return result

    def _spawn_ack(self, nsp: str, sid: str, ack_id: int, event: str, awaitable) -> None:
        if self._aio is None:
            raise RuntimeError("coroutine handlers need the asyncio mode (await server.serve())")

        async def runner():
            try:
                result = await awaitable
            except Exception:
                logger.exception("error in the handler of event %r", event)
                return
            if ack_id >= 0:
                if result is None:
                    values = ()
                elif isinstance(result, tuple):
                    values = result
                else:
                    values = (result,)
                self._core.ack(nsp, sid, ack_id, values)
                self._kick()

        self._aio.create_task(runner())

    def _on_server_event(self, key: Any, nsp: str, event: str, args: tuple,
                         reply_id: Optional[str]) -> None:
        self._known.add(nsp)
        fn = self._server_handlers.get(key, {}).get(event)
        if fn is None:
            if reply_id is not None:
                self._core.server_reply(nsp, reply_id, ())
            return
        try:
            result = fn(*args)
        except Exception:
            logger.exception("error in the server-side handler of event %r", event)
            return
        if inspect.isawaitable(result):
            if self._aio is None:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                logger.error("the server-side handler of event %r is a coroutine: it needs the "
                             "asyncio mode (await server.serve())", event)
                return

            async def runner():
                try:
                    value = await result
                except Exception:
                    logger.exception("error in the server-side handler of event %r", event)
                    return
                if reply_id is not None:
                    self._server_reply(nsp, reply_id, event, value)
                    self._kick()

            self._aio.create_task(runner())
            return
        if reply_id is not None:
            self._server_reply(nsp, reply_id, event, result)

    def _server_reply(self, nsp: str, reply_id: str, event: str, result: Any) -> None:
        if isinstance(result, tuple):
            values = result[:1]
        else:
            values = () if result is None else (result,)
        try:
            self._core.server_reply(nsp, reply_id, values)
        except Exception:
            logger.exception("the server-side handler of event %r returned a value that cannot be "
                             "sent as its answer", event)

    def _on_disconnect(self, key: Any, nsp: str, sid: str, reason: str) -> None:
        self._pending.pop((nsp, sid), None)
        try:
            fn = self._find(key, "disconnect")
            if fn is not None:
                if self._nargs(fn) >= 2:
                    fn(sid, reason)
                else:
                    fn(sid)
        finally:
            self._sessions.pop((nsp, sid), None)

    def _on_drain(self) -> None:
        calls = self._calls
        while calls:
            fn = calls.popleft()
            try:
                fn()
            except Exception:
                logger.exception("error in a callback scheduled with call_soon_threadsafe")

    def _on_closed(self) -> None:
        self._closed_event.set()
        fut = self._closed_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    # ---- threads -----------------------------------------------------------------------------

    def _elsewhere(self) -> bool:
        """True when called from a thread other than the one running the server."""
        t = self._loop_thread
        return t is not None and t != threading.get_ident()

    def call_soon_threadsafe(self, fn: Callable, *args: Any) -> None:
        """Runs fn(*args) on the server's thread, soon (safe from any thread)."""
        self._calls.append(functools.partial(fn, *args) if args else fn)
        self._core.wakeup()

    def _defer(self, nsp: str, sid: Optional[str], op: Callable[[], Any]) -> bool:
        """Queues op when it cannot run now: another thread, or a socket still connecting."""
        if self._elsewhere():
            self.call_soon_threadsafe(op)
            return True
        if sid is not None:
            pending = self._pending.get((nsp, sid))
            if pending is not None:
                pending.append(op)
                return True
        return False

    def _kick(self) -> None:
        """In asyncio mode, schedules a libuv iteration (to write what was queued)."""
        if self._aio is not None and not self._tick_scheduled:
            self._tick_scheduled = True
            self._aio.call_soon(self._tick)

    # ---- emitting ----------------------------------------------------------------------------

    def _nsp(self, namespace: Optional[str]) -> str:
        if not namespace:
            return "/"
        if not isinstance(namespace, str):
            raise TypeError("namespace must be a namespace's name (a dynamic namespace's child name, "
                            "not its pattern)")
        return namespace if namespace.startswith("/") else "/" + namespace

    def _exists(self, nsp: str) -> bool:
        """Registered, or a dynamic child that had a client: _core would create any other name
        (and let clients join it), so operations on unknown namespaces are no-ops."""
        return nsp in self._known

    def emit(self, event: str, *args: Any, to: Union[None, str, Iterable[str]] = None,
             room: Union[None, str, Iterable[str]] = None,
             skip_sid: Union[None, str, Iterable[str]] = None, namespace: Optional[str] = None,
             callback: Optional[Callable] = None, timeout: Optional[float] = None,
             volatile: bool = False, local: bool = False) -> None:
        """Emits ``event`` with ``args`` (a single tuple argument is spread into several, as in
        python-socketio) to ``to``/``room`` (a sid, a room, or a list of them; default: everyone
        in the namespace) except ``skip_sid`` (a sid or room, or a list).

        ``callback`` (only with ``to`` one sid) receives the client's ack arguments; with
        ``timeout`` (seconds), when no ack came in time it is called once with a single
        :class:`sio.TimeoutError` instance instead. It is not called when the client disconnects
        first. (For a broadcast that waits for every recipient's ack, see :meth:`emit_with_acks`.)

        With a cluster (``redis=``) a broadcast reaches the sockets of every node; ``local=True``:
        this node's only (Node's ``io.local.emit``)."""
        if len(args) == 1 and isinstance(args[0], tuple):
            args = args[0]
        nsp = self._nsp(namespace)
        target = to if to is not None else room
        if callback is not None:
            if not isinstance(target, str):
                raise ValueError("callback= needs to= a single sid")

            def done(err: Optional[str], values: tuple) -> None:
                if err is None:
                    callback(*values)
                elif err == "timeout":
                    callback(TimeoutError("no acknowledgement within %ss" % timeout))
                self._kick()

            return self._emit_ack(nsp, target, event, args, timeout, done)
        if not self._exists(nsp):
            return None
        rooms = _room_names(target)
        skip = _room_names(skip_sid)
        flags = (_core.EMIT_VOLATILE if volatile else 0) | (_core.EMIT_LOCAL if local else 0)
        sid = target if isinstance(target, str) else None
        if self._defer(nsp, sid, lambda: self._core.emit(nsp, event, args, rooms, skip, flags)):
            return None
        self._core.emit(nsp, event, args, rooms, skip, flags)
        self._kick()
        return None

    def _emit_ack(self, nsp: str, sid: str, event: str, args: tuple, timeout: Optional[float],
                  done: Callable[[Optional[str], tuple], None]) -> None:
        if not self._exists(nsp):
            raise KeyError("no socket %s in namespace %s" % (sid, nsp))
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        op = lambda: self._core.emit_ack(nsp, sid, event, args, ms, done)  # noqa: E731
        if self._defer(nsp, sid, op):
            return None
        op()
        self._kick()
        return None

    def emit_with_acks(self, event: str, *args: Any, callback: Callable[[Optional[str], list], Any],
                       timeout: Optional[float] = None, to: Union[None, str, Iterable[str]] = None,
                       room: Union[None, str, Iterable[str]] = None,
                       skip_sid: Union[None, str, Iterable[str]] = None,
                       namespace: Optional[str] = None, local: bool = False) -> None:
        """Broadcasts ``event`` with ``args`` as :meth:`emit` does (``to``/``room`` a sid, a room
        or a list, default everyone; ``skip_sid``; with a cluster, every node's sockets unless
        ``local=True``), asking every recipient for an acknowledgement: Node's
        ``io.timeout(ms).emit(event, ...args, (err, responses) => ...)``. ``callback(error,
        responses)`` is called once, on the server's thread: ``responses`` lists each recipient's
        first ack argument in arrival order, ``error`` is ``None`` when all answered, ``"timeout"``
        when ``timeout`` seconds passed first (the answers that came) or ``"closed"`` (the server
        stopped). ``timeout=None`` waits for every recipient."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        target = to if to is not None else room
        rooms = _room_names(target)
        skip = _room_names(skip_sid)
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        flags = _core.EMIT_LOCAL if local else 0
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.emit_acks, nsp, event, args, rooms, skip, ms, callback, flags)
            return None
        self._core.emit_acks(nsp, event, args, rooms, skip, ms, callback, flags)
        self._kick()
        return None

    def send(self, data: Any, to: Union[None, str, Iterable[str]] = None,
             room: Union[None, str, Iterable[str]] = None,
             skip_sid: Union[None, str, Iterable[str]] = None, namespace: Optional[str] = None,
             callback: Optional[Callable] = None, timeout: Optional[float] = None) -> None:
        """Emits a ``message`` event."""
        return self.emit("message", data, to=to, room=room, skip_sid=skip_sid,
                         namespace=namespace, callback=callback, timeout=timeout)

    def call(self, event: str, *args: Any, to: Optional[str] = None, sid: Optional[str] = None,
             namespace: Optional[str] = None, timeout: float = 60):
        """Emits to one client and waits for its acknowledgement.

        In asyncio mode (``await server.serve()``) it returns an awaitable: ``await
        server.call(...)``. From a thread other than the server's it blocks and returns the ack
        arguments (one value, or a tuple of several). Raises :class:`sio.TimeoutError` or
        :class:`sio.DisconnectedError`."""
        if len(args) == 1 and isinstance(args[0], tuple):
            args = args[0]
        target = to or sid
        if not isinstance(target, str):
            raise ValueError("call() needs to= a single sid")
        nsp = self._nsp(namespace)

        def unpack(values: tuple) -> Any:
            return values[0] if len(values) == 1 else values if values else None

        def error(err: str) -> Exception:
            if err == "timeout":
                return TimeoutError("no acknowledgement within %ss" % timeout)
            return DisconnectedError("the client disconnected")

        if self._aio is not None and not self._elsewhere():
            fut = self._aio.create_future()

            def done(err: Optional[str], values: tuple) -> None:
                if fut.done():
                    return
                if err is None:
                    fut.set_result(unpack(values))
                else:
                    fut.set_exception(error(err))

            self._emit_ack(nsp, target, event, args, timeout, done)
            return fut
        if not self._elsewhere() and self._loop_thread is not None:
            raise RuntimeError("call() would block the server's own thread: use emit(callback=) "
                               "or the asyncio mode")
        box: Dict[str, Any] = {}
        ready = threading.Event()

        def done_thread(err: Optional[str], values: tuple) -> None:
            box["err"], box["values"] = err, values
            ready.set()

        self.call_soon_threadsafe(self._emit_ack, nsp, target, event, args, timeout, done_thread)
        if not ready.wait(timeout + 5 if timeout else None):
            raise TimeoutError("no acknowledgement within %ss" % timeout)
        if box["err"] is not None:
            raise error(box["err"])
        return unpack(box["values"])

    # ---- rooms, sessions, disconnect ---------------------------------------------------------

    def enter_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            raise KeyError("no socket %s in namespace %s" % (sid, nsp))
        if not self._defer(nsp, sid, lambda: self._core.enter_room(nsp, sid, room)):
            self._core.enter_room(nsp, sid, room)

    def leave_room(self, sid: str, room: str, namespace: Optional[str] = None) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, sid, lambda: self._core.leave_room(nsp, sid, room)):
            self._core.leave_room(nsp, sid, room)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        """Makes every socket in ``room`` leave it."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, None, lambda: self._core.close_room(nsp, room)):
            self._core.close_room(nsp, room)

    def _select(self, op: int, room: Optional[str], to: Any, skip_sid: Any, namespace: Optional[str],
                close: bool = False) -> None:
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        rooms, skip = _room_names(to), _room_names(skip_sid)
        if not self._defer(nsp, None, lambda: self._core.select(nsp, op, rooms, skip, room, close)):
            self._core.select(nsp, op, rooms, skip, room, close)
            self._kick()

    def sockets_join(self, room: Union[str, Iterable[str]], to: Union[None, str, Iterable[str]] = None,
                     skip_sid: Union[None, str, Iterable[str]] = None,
                     namespace: Optional[str] = None) -> None:
        """Makes the sockets in ``to`` (a sid, a room or a list; default: every socket of the
        namespace) but not in ``skip_sid`` join ``room`` (or each room of a list), on every node
        of a cluster: Node's ``io.in(to).socketsJoin(room)``."""
        for r in _room_names(room) or ():
            self._select(0, r, to, skip_sid, namespace)

    def sockets_leave(self, room: Union[str, Iterable[str]], to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        """The same, leaving ``room``: Node's ``io.in(to).socketsLeave(room)``."""
        for r in _room_names(room) or ():
            self._select(1, r, to, skip_sid, namespace)

    def disconnect_sockets(self, to: Union[None, str, Iterable[str]] = None,
                           skip_sid: Union[None, str, Iterable[str]] = None,
                           namespace: Optional[str] = None, close: bool = False) -> None:
        """Disconnects the sockets in ``to`` (default: every socket of the namespace) but not in
        ``skip_sid``, on every node of a cluster (``close=True``: their whole connections): Node's
        ``io.in(to).disconnectSockets(close)``."""
        self._select(2, None, to, skip_sid, namespace, close)

    def rooms(self, sid: str, namespace: Optional[str] = None) -> list:
        """The rooms ``sid`` is in (its own id first, then in join order). Server thread only."""
        nsp = self._nsp(namespace)
        return self._core.rooms(nsp, sid) if self._exists(nsp) else []

    def disconnect(self, sid: str, namespace: Optional[str] = None, close: bool = False) -> None:
        """Disconnects ``sid`` from the namespace (``close=True``: its whole connection)."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            return
        if not self._defer(nsp, sid, lambda: self._core.disconnect(nsp, sid, close)):
            self._core.disconnect(nsp, sid, close)
            self._kick()

    def connected(self, sid: str, namespace: Optional[str] = None) -> bool:
        nsp = self._nsp(namespace)
        return self._exists(nsp) and self._core.connected(nsp, sid)

    def socket_count(self, namespace: Optional[str] = None) -> int:
        """Sockets connected to the namespace (on this node)."""
        nsp = self._nsp(namespace)
        return self._core.socket_count(nsp) if self._exists(nsp) else 0

    def fetch_count(self, callback: Callable[[Optional[str], int], Any],
                    namespace: Optional[str] = None) -> None:
        """Counts the sockets connected to the namespace on every node of the cluster (the length
        of Node's ``fetchSockets()``; this node's alone without ``redis=``) and calls
        ``callback(error, count)`` once, on the server's thread, maybe before this returns.
        ``error`` is ``None``, ``"timeout"`` (a node did not answer in time: ``count`` is what
        answered), ``"unavailable"`` (Redis is not connected, or was lost meanwhile: what was
        counted, this node's sockets at least; the adapter reconnects by itself) or ``"closed"``
        (the server stopped). Raises ``ConnectionError`` once the server is closing."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, 0)
            return None
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.fetch_count, nsp, callback)
            return None
        self._core.fetch_count(nsp, callback)
        self._kick()
        return None

    def fetch_sockets(self, callback: Callable[[Optional[str], list], Any],
                      to: Union[None, str, Iterable[str]] = None,
                      skip_sid: Union[None, str, Iterable[str]] = None,
                      namespace: Optional[str] = None) -> None:
        """Gathers the sockets in ``to`` (a sid, a room or a list; default: every socket of the
        namespace) but not in ``skip_sid``, on every node of the cluster (Node's
        ``io.in(to).fetchSockets()``; this node's alone without ``redis=``), and calls
        ``callback(error, sockets)`` once, on the server's thread: each socket a dict ``{"id",
        "handshake": {"headers", "time", "address", "xdomain", "secure", "issued", "url",
        "query", "auth"}, "rooms", "data"}``, this node's first. ``error`` as :meth:`fetch_count`'s
        (``sockets``: what came)."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        rooms, skip = _room_names(to), _room_names(skip_sid)
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.fetch_sockets, nsp, rooms, skip, callback)
            return None
        self._core.fetch_sockets(nsp, rooms, skip, callback)
        self._kick()
        return None

    def all_rooms(self, callback: Callable[[Optional[str], list], Any],
                  namespace: Optional[str] = None) -> None:
        """Gathers every room of the namespace on every node of the cluster, each once, in no
        particular order (Node's ``allRooms()``; a socket's own id is a room; this node's alone
        without ``redis=``) and calls ``callback(error, rooms)`` (``rooms`` a list) once, on the
        server's thread. ``error`` as :meth:`fetch_count`'s (``rooms``: what came)."""
        nsp = self._nsp(namespace)
        if not self._exists(nsp):
            callback(None, [])
            return None
        if self._elsewhere():
            self.call_soon_threadsafe(self._core.all_rooms, nsp, callback)
            return None
        self._core.all_rooms(nsp, callback)
        self._kick()
        return None

    def server_side_emit(self, event: str, *args: Any, namespace: Optional[str] = None,
                         callback: Optional[Callable[[Optional[str], list], Any]] = None) -> None:
        """Sends the server-side event ``event`` with ``args`` (JSON values only: no bytes) to
        ``namespace`` (default ``"/"``) on every *other* node of the cluster, where
        :meth:`on_server_event` handlers (or Node's ``io.on(event, ...)`` listeners) get it: Node's
        ``serverSideEmit``. Without ``callback`` nothing is waited for. With one, each other node
        answers once and ``callback(error, responses)`` is called once, on the server's thread:
        ``responses`` is a list of the answers (``None`` for an answer without a value), ``error``
        ``None`` when every node answered, ``"timeout"`` (the cluster's requests timeout passed:
        the answers that came), ``"unavailable"`` (Redis is not connected, or was lost meanwhile)
        or ``"closed"`` (the server stopped).

        Raises ``RuntimeError`` without a cluster (``sio.Server(redis=...)``), ``ConnectionError``
        when Redis is not connected and no callback is given (from another thread: logged),
        ``ValueError`` for a reserved event name or bytes. A namespace this server does not have
        yet is created, as Node's ``io.of(name)``."""
        if not isinstance(event, str):
            raise TypeError("event must be a str")
        if event in _RESERVED_SERVER_EVENTS:
            raise ValueError('"%s" is a reserved event name' % event)
        if not self._cluster:
            raise RuntimeError(_NO_CLUSTER)
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        nsp = self._nsp(namespace)

        def op() -> None:
            if not self._exists(nsp):
                self._register(nsp)
            self._core.server_emit(nsp, event, args, callback)

        if self._elsewhere():
            def queued() -> None:
                try:
                    op()
                except ConnectionError:
                    if callback is None:
                        raise
                    callback("closed", [])

            self.call_soon_threadsafe(queued)
            return None
        op()
        self._kick()
        return None

    def get_session(self, sid: str, namespace: Optional[str] = None) -> dict:
        return self._sessions.setdefault((self._nsp(namespace), sid), {})

    def save_session(self, sid: str, session: dict, namespace: Optional[str] = None) -> None:
        self._sessions[(self._nsp(namespace), sid)] = session

    @contextlib.contextmanager
    def session(self, sid: str, namespace: Optional[str] = None):
        """``with server.session(sid) as s: s["name"] = ...``"""
        s = self.get_session(sid, namespace)
        yield s
        self.save_session(sid, s, namespace)

    # ---- static files --------------------------------------------------------------------------

    def static(self, prefix: str, directory: "Union[str, os.PathLike[str]]") -> None:
        """Serves the files under ``directory`` at URL ``prefix`` (``"/"`` or ``"/assets/"``): GET and
        HEAD, MIME types, ETag/304, ``index.html`` for a directory, path traversal refused (403).
        The Socket.IO path keeps precedence. Like python-socketio's ``static_files``."""
        self._core.static(prefix, os.fspath(directory))

    # ---- a bare Engine.IO endpoint -------------------------------------------------------------

    def engine_endpoint(self, path: str, on_message: Callable[[str, Union[str, bytes]], Any]) -> None:
        """Serves a bare Engine.IO endpoint (no Socket.IO layer) at ``path`` with the same options;
        ``on_message(sid, data)`` gets text as str and binary as bytes. One per server."""
        self._core.engine(path, on_message)

    def engine_send(self, sid: str, data: Union[str, bytes]) -> bool:
        """Sends a text (str) or binary (bytes-like) message to an Engine.IO session."""
        sent = self._core.engine_send(sid, data)
        self._kick()
        return sent

    # ---- timers and tasks --------------------------------------------------------------------

    def call_later(self, delay: float, fn: Callable, *args: Any) -> Timer:
        """Calls fn(*args) on the server's thread after ``delay`` seconds; returns a
        :class:`sio.Timer` (``.cancel()``). Server thread only (or before ``run()``)."""
        timer = self._core.call_later(delay, functools.partial(fn, *args) if args else fn)
        self._kick()
        return timer

    def start_background_task(self, target: Callable, *args: Any, **kwargs: Any):
        """Runs target(*args, **kwargs) in a daemon thread (a task for a coroutine function in
        asyncio mode). Server calls from it are queued onto the server's thread."""
        if self._aio is not None and inspect.iscoroutinefunction(target):
            return self._aio.create_task(target(*args, **kwargs))
        t = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)
        t.start()
        return t

    @staticmethod
    def sleep(seconds: float = 0) -> None:
        import time

        time.sleep(seconds)

    # ---- running -----------------------------------------------------------------------------

    def listen(self, host: str = "127.0.0.1", port: int = 5000) -> int:
        """Binds and listens; returns the bound port (``port=0`` picks one)."""
        return self._core.listen(host, port)

    @property
    def port(self) -> Optional[int]:
        return self._core.port()

    def run(self, host: Optional[str] = None, port: Optional[int] = None,
            handle_signals: bool = True) -> None:
        """Listens (unless ``listen()`` was called) and serves until ``stop()``, SIGINT or
        SIGTERM. The GIL is released while waiting for the network."""
        if self._core.port() is None:
            self.listen(host or "127.0.0.1", 5000 if port is None else port)
        self._loop_thread = threading.get_ident()
        try:
            self._core.run(handle_signals=handle_signals)
        finally:
            self._loop_thread = None

    def stop(self) -> None:
        """Stops the server: every client is disconnected ("server shutting down"). Safe from any
        thread and from handlers."""
        self._core.stop()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        return self._closed_event.wait(timeout)

    async def serve(self, host: Optional[str] = None, port: Optional[int] = None) -> None:
        """The asyncio mode: serves on the running asyncio loop until ``stop()`` (or the task is
        cancelled). libuv's poll fd is watched by asyncio; handlers may be coroutines (their
        result is the ack)."""
        if self._core.port() is None:
            self.listen(host or "127.0.0.1", 5000 if port is None else port)
        loop = asyncio.get_running_loop()
        self._aio = loop
        self._loop_thread = threading.get_ident()
        self._closed_future = loop.create_future()
        fd = self._core.backend_fd()
        loop.add_reader(fd, self._tick)
        self._tick()
        try:
            await self._closed_future
        finally:
            loop.remove_reader(fd)
            if self._aio_timer is not None:
                self._aio_timer.cancel()
            self._aio = None
            self._core.close()
            self._loop_thread = None

    def _tick(self) -> None:
        self._tick_scheduled = False
        if self._aio_timer is not None:
            self._aio_timer.cancel()
            self._aio_timer = None
        alive = self._core.run_nowait()
        if not alive or self._core.closed or self._aio is None:
            self._on_closed()
            return
        ms = self._core.backend_timeout()
        if ms >= 0:
            self._aio_timer = self._aio.call_later(ms / 1000.0, self._tick)
