"""Flask-SocketIO's API on sio: ``from sio.flask import SocketIO, emit, join_room, ...`` in place of
``from flask_socketio import ...``.

A :class:`SocketIO` wraps a :class:`sio.Server` and a :class:`sio.WSGIApp` around the Flask app.
Its handlers run with a Flask request context pushed (built from the connection's handshake), where
``flask.request.sid``, ``flask.request.namespace`` and ``flask.request.event`` are set and
``flask.session`` is a copy of the Flask session taken at connect time, kept per connection (as
Flask-SocketIO's default ``manage_session=True``). The context functions (:func:`emit`,
:func:`send`, :func:`join_room`, :func:`leave_room`, :func:`close_room`, :func:`rooms`,
:func:`disconnect`) act on the client whose event is being handled unless told otherwise.
"""

import contextvars
import io
import sys
import warnings
from typing import Any, Callable, Dict, Optional

import flask

from . import apps as _apps
from ._util import positional_arity
from .exceptions import ConnectionRefusedError
from .namespace import Namespace as _SioNamespace
from .server import Server

__all__ = ["SocketIO", "Namespace", "emit", "send", "join_room", "leave_room", "close_room",
           "rooms", "disconnect", "ConnectionRefusedError"]

# (socketio, sid, namespace) of the event being handled
_current: "contextvars.ContextVar[Optional[tuple]]" = contextvars.ContextVar("sio_flask_current",
                                                                             default=None)

# Flask-SocketIO's arguments that sio.Server takes too (same meaning) or that are Flask-SocketIO's
# own; anything else is passed to sio.Server as it is.
_OWN = ("manage_session", "message_queue", "channel", "write_only", "engineio_options", "json")


class SocketIO:
    """Flask-SocketIO's ``SocketIO(app=None, **kwargs)``: the kwargs sio.Server takes
    (``cors_allowed_origins``, ``async_mode``, ``logger``, ``engineio_logger``, ``ping_interval``,
    ``ping_timeout``, ``max_http_buffer_size``, ``always_connect``, ``async_handlers``...) go to it.
    ``async_handlers`` defaults to ``True`` (handlers on worker threads, as Flask-SocketIO's
    threading mode); ``async_mode`` other than ``"threading"`` is served as threading."""

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        self.server: Optional[Server] = None
        self.wsgi_app: Optional[_apps.WSGIApp] = None
        self.app = None
        self.manage_session = kwargs.pop("manage_session", True)
        self._kwargs = kwargs
        self._pending: list = []  # (event, handler, namespace) registered before init_app
        self._namespaces: list = []
        self.async_mode = "threading"
        if app is not None:
            self.init_app(app, **kwargs)

    def init_app(self, app: Any, **kwargs: Any) -> None:
        kw = dict(self._kwargs)
        kw.update(kwargs)
        self.manage_session = kw.pop("manage_session", self.manage_session)
        for name in _OWN:
            if name in kw:
                kw.pop(name)
                warnings.warn("sio.flask: %s= is not supported and is ignored" % name, stacklevel=2)
        if kw.get("async_mode") not in (None, "threading"):
            warnings.warn("sio.flask: async_mode=%r is served as 'threading' (sio's core does the "
                          "I/O; handlers run on worker threads)" % kw["async_mode"], stacklevel=2)
        kw["async_mode"] = "threading"
        kw.setdefault("async_handlers", True)
        path = kw.pop("path", "socket.io")
        self.server = Server(path=path, **kw)
        self.app = app
        self.wsgi_app = _apps.WSGIApp(self.server, app.wsgi_app, socketio_path=path)
        app.extensions = getattr(app, "extensions", {})
        app.extensions["socketio"] = self
        for event, handler, namespace in self._pending:
            self._register(event, handler, namespace)
        self._pending = []
        for ns in self._namespaces:
            self.server.register_namespace(ns._adapter)

    # ---- handlers ------------------------------------------------------------------------------

    def on(self, message: str, namespace: Optional[str] = None) -> Callable:
        """``@socketio.on("my event", namespace="/chat")``: handlers take no sid
        (``def handler(data)``); a connect handler may take ``auth``; the return value is the ack."""
        def decorator(handler: Callable) -> Callable:
            if self.server is None:
                self._pending.append((message, handler, namespace))
            else:
                self._register(message, handler, namespace)
            return handler
        return decorator

    def on_event(self, message: str, handler: Callable, namespace: Optional[str] = None) -> None:
        self.on(message, namespace=namespace)(handler)

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """``@socketio.event`` or ``@socketio.event(namespace=...)``: the function's name is the event."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def decorator(handler: Callable) -> Callable:
            return self.on(handler.__name__, *args, **kwargs)(handler)
        return decorator

    def on_namespace(self, namespace_handler: "Namespace") -> None:
        if not isinstance(namespace_handler, Namespace):
            raise ValueError("Not a namespace instance.")
        namespace_handler._set_socketio(self)
        self._namespaces.append(namespace_handler)
        if self.server is not None:
            self.server.register_namespace(namespace_handler._adapter)

    def _register(self, event: str, handler: Callable, namespace: Optional[str]) -> None:
        nsp = namespace or "/"
        assert self.server is not None
        if event == "connect":
            def on_connect(sid: str, environ: dict, auth: Any = None) -> Any:
                args = (auth,) if positional_arity(handler) >= 1 else ()
                return self._handle(handler, "connect", sid, nsp, args, environ=environ)
            self.server.on("connect", on_connect, namespace=nsp)
        elif event == "disconnect":
            def on_disconnect(sid: str, reason: Any = None) -> Any:
                args = (reason,) if positional_arity(handler) >= 1 else ()
                return self._handle(handler, "disconnect", sid, nsp, args, closing=True)
            self.server.on("disconnect", on_disconnect, namespace=nsp)
        elif event == "*":  # the catch-all: handler(event, *args)
            def on_any(name: str, sid: str, *args: Any) -> Any:
                return self._handle(handler, name, sid, nsp, (name,) + args)
            self.server.on("*", on_any, namespace=nsp)
        else:
            def on_event(sid: str, *args: Any) -> Any:
                return self._handle(handler, event, sid, nsp, args)
            self.server.on(event, on_event, namespace=nsp)

    # ---- the request context around a handler --------------------------------------------------

    def _environ(self, sid: str, nsp: str, environ: Optional[dict]) -> dict:
        assert self.server is not None
        env = dict(environ if environ is not None else (self.server.get_environ(sid, nsp) or {}))
        host = env.get("HTTP_HOST", "localhost")
        name, _, port = host.partition(":")
        env.setdefault("SERVER_NAME", name or "localhost")
        env.setdefault("SERVER_PORT", port or ("443" if env.get("wsgi.url_scheme") == "https" else "80"))
        env.setdefault("SCRIPT_NAME", "")
        env.setdefault("wsgi.url_scheme", "http")
        env["wsgi.input"] = io.BytesIO()
        env.setdefault("wsgi.errors", sys.stderr)
        env.setdefault("wsgi.version", (1, 0))
        env.setdefault("wsgi.multithread", True)
        env.setdefault("wsgi.multiprocess", False)
        env.setdefault("wsgi.run_once", False)
        return env

    def _handle(self, handler: Callable, event: str, sid: str, nsp: str, args: tuple,
                environ: Optional[dict] = None, closing: bool = False) -> Any:
        assert self.server is not None and self.app is not None
        sess = self.server.get_session(sid, nsp)
        if environ is not None:  # connect: kept for the later events (disconnect included)
            sess["flask.environ"] = environ
            self.server.save_session(sid, sess, nsp)
        else:
            environ = sess.get("flask.environ")
        ctx = self.app.request_context(self._environ(sid, nsp, environ))
        fs = None
        if self.manage_session:
            fs = sess.get("flask")
            if fs is not None:  # set before push: Flask then opens no session of its own
                _set_session(ctx, _ConnectionSession(fs))
        ctx.push()
        token = _current.set((self, sid, nsp))
        try:
            if self.manage_session and fs is None:
                # connect: the Flask session of the handshake's cookies, copied for this connection
                fs = dict(flask.session)
                sess["flask"] = fs
                self.server.save_session(sid, sess, nsp)
                _set_session(ctx, _ConnectionSession(fs))
            req = flask.request._get_current_object()
            req.sid = sid
            req.namespace = nsp
            req.event = {"message": event, "args": args}
            try:
                ret = handler(*args)
            except ConnectionRefusedError:
                raise
            if event == "connect" and ret is None:
                return True
            return ret
        finally:
            _current.reset(token)
            ctx.pop()

    # ---- server-wide calls ---------------------------------------------------------------------

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Emits to everyone in ``namespace`` (default ``"/"``), or ``to``/``room``, except
        ``skip_sid`` (``include_self=False`` in a handler skips the current client)."""
        assert self.server is not None
        namespace = kwargs.pop("namespace", None) or "/"
        to = kwargs.pop("to", None)
        room = kwargs.pop("room", None)
        include_self = kwargs.pop("include_self", True)
        skip_sid = kwargs.pop("skip_sid", None)
        cur = _current.get()
        if not include_self and skip_sid is None and cur is not None:
            skip_sid = cur[1]
        callback = kwargs.pop("callback", None)
        if callback is not None:
            callback = self._in_context(callback, namespace)
        kwargs.pop("broadcast", None)
        self.server.emit(event, *args, to=to if to is not None else room, skip_sid=skip_sid,
                         namespace=namespace, callback=callback, **kwargs)

    def send(self, data: Any, json: bool = False, namespace: Optional[str] = None, to: Any = None,
             room: Any = None, callback: Optional[Callable] = None, include_self: bool = True,
             skip_sid: Any = None, **kwargs: Any) -> None:
        self.emit("message", data, namespace=namespace, to=to, room=room, callback=callback,
                  include_self=include_self, skip_sid=skip_sid, **kwargs)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        assert self.server is not None
        self.server.close_room(room, namespace or "/")

    def _in_context(self, callback: Callable, namespace: str) -> Callable:
        cur = _current.get()
        if cur is None:
            return callback
        sid = cur[1]

        def cb(*args: Any) -> Any:
            return self._handle(callback, "callback", sid, namespace, args)
        return cb

    def start_background_task(self, target: Callable, *args: Any, **kwargs: Any) -> Any:
        assert self.server is not None
        return self.server.start_background_task(target, *args, **kwargs)

    def sleep(self, seconds: float = 0) -> None:
        Server.sleep(seconds)

    def run(self, app: Any, host: Optional[str] = None, port: Optional[int] = None, **kwargs: Any) -> None:
        """Serves ``app`` (its routes and Socket.IO) with sio's HTTP server until SIGINT/SIGTERM or
        :meth:`stop`. Flask-SocketIO's ``debug``, ``use_reloader``, ``log_output``,
        ``allow_unsafe_werkzeug`` and the other Werkzeug/eventlet options are accepted and ignored
        (sio has no reloader and is not Werkzeug's development server)."""
        if self.server is None:
            self.init_app(app)
        tls = {k: kwargs.pop(k) for k in ("certfile", "keyfile", "ca_certs", "ssl_certfile", "ssl_keyfile",
                                          "ssl_ca_certs") if k in kwargs}
        ignored = sorted(k for k in kwargs if k not in ("allow_unsafe_werkzeug",))
        if ignored:
            warnings.warn("sio.flask: SocketIO.run() ignores %s" % ", ".join(ignored), stacklevel=2)
        if host is None:
            host = "127.0.0.1"
        if port is None:
            server_name = app.config.get("SERVER_NAME")
            port = int(server_name.rsplit(":", 1)[1]) if server_name and ":" in server_name else 5000
        assert self.wsgi_app is not None
        _apps.run(self.wsgi_app, host=host, port=port, **tls)

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()


def _set_session(ctx: Any, session: Any) -> None:
    if isinstance(getattr(type(ctx), "session", None), property):
        ctx._session = session  # Flask 3.1+: a read-only property over _session
    else:
        ctx.session = session


class _ConnectionSession(dict):
    """The per-connection Flask session: a dict that Flask's session interface leaves alone."""

    def __init__(self, backing: dict) -> None:
        super().__init__()
        self._backing = backing
        dict.update(self, backing)
        self.modified = False
        self.accessed = False
        self.new = False
        self.permanent = False

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._backing[key] = value
        self.modified = True

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._backing.pop(key, None)
        self.modified = True

    def pop(self, key: Any, *default: Any) -> Any:
        self._backing.pop(key, None)
        return dict.pop(self, key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def clear(self) -> None:
        dict.clear(self)
        self._backing.clear()


class _Adapter(_SioNamespace):
    """What sio.Server sees of a Flask-SocketIO Namespace: every event goes through
    :meth:`trigger_event`, which drops the sid and pushes the request context."""

    def __init__(self, owner: "Namespace") -> None:
        super().__init__(owner.namespace)
        self._owner = owner

    def _handler(self, event: str) -> Optional[Callable]:
        return getattr(self._owner, "on_" + event, None)

    def trigger_event(self, event: str, *args: Any) -> Any:
        owner = self._owner
        sio = owner.socketio
        handler = getattr(owner, "on_" + event, None)
        if handler is None:
            return None if event != "connect" else True
        nsp = self.namespace
        sid = args[0]
        if event == "connect":
            environ = args[1] if len(args) > 1 else None
            auth = args[2] if len(args) > 2 else None
            rest: tuple = (auth,) if positional_arity(handler) >= 1 else ()
            return sio._handle(handler, event, sid, nsp, rest, environ=environ)
        if event == "disconnect":
            rest = tuple(args[1:2]) if positional_arity(handler) >= 1 else ()
            return sio._handle(handler, event, sid, nsp, rest, closing=True)
        return sio._handle(handler, event, sid, nsp, tuple(args[1:]))


class Namespace:
    """Flask-SocketIO's class-based namespace: ``on_<event>(self, *args)`` methods without a sid
    (the current client is the context functions' default; ``flask.request.sid`` names it).
    Register it with ``socketio.on_namespace(MyNamespace("/chat"))``."""

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.socketio: Any = None
        self._adapter = _Adapter(self)

    def _set_socketio(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    def trigger_event(self, event: str, *args: Any) -> Any:
        handler = getattr(self, "on_" + event, None)
        if handler is not None:
            return handler(*args)
        return None

    def emit(self, event: str, data: Any = None, room: Any = None, include_self: bool = True,
             namespace: Optional[str] = None, callback: Optional[Callable] = None, **kwargs: Any) -> None:
        args = () if data is None else (data,)
        self.socketio.emit(event, *args, room=room, include_self=include_self,
                           namespace=namespace or self.namespace, callback=callback, **kwargs)

    def send(self, data: Any, room: Any = None, include_self: bool = True,
             namespace: Optional[str] = None, callback: Optional[Callable] = None) -> None:
        self.socketio.send(data, room=room, include_self=include_self,
                           namespace=namespace or self.namespace, callback=callback)

    def close_room(self, room: str, namespace: Optional[str] = None) -> None:
        self.socketio.close_room(room, namespace=namespace or self.namespace)


# ---- context functions -----------------------------------------------------------------------

def _ctx() -> tuple:
    cur = _current.get()
    if cur is None:
        raise RuntimeError("sio.flask: this function works inside a Socket.IO event handler only "
                           "(or pass to=/namespace= and use socketio.emit)")
    return cur


def emit(event: str, *args: Any, **kwargs: Any) -> None:
    """Emits to the current client, or ``to``/``room``, or everyone in the namespace
    (``broadcast=True``); ``include_self=False`` skips the current client; ``callback`` gets the
    ack (once per client on a broadcast)."""
    socketio, sid, nsp = _ctx()
    namespace = kwargs.pop("namespace", None) or nsp
    to = kwargs.pop("to", None)
    room = kwargs.pop("room", None)
    to = to if to is not None else room
    broadcast = kwargs.pop("broadcast", False)
    include_self = kwargs.pop("include_self", True)
    skip_sid = kwargs.pop("skip_sid", None)
    if to is None and not broadcast:
        to = sid
    if not include_self and skip_sid is None:
        skip_sid = sid
    socketio.emit(event, *args, to=to, namespace=namespace, skip_sid=skip_sid, **kwargs)


def send(message: Any, **kwargs: Any) -> None:
    """Sends a ``message`` event, as :func:`emit`."""
    kwargs.pop("json", None)
    emit("message", message, **kwargs)


def join_room(room: str, sid: Optional[str] = None, namespace: Optional[str] = None) -> None:
    socketio, cur_sid, nsp = _ctx() if sid is None or namespace is None else (_current.get() or (None, None, None))
    socketio = socketio or flask.current_app.extensions["socketio"]
    socketio.server.enter_room(sid or cur_sid, room, namespace or nsp or "/")


def leave_room(room: str, sid: Optional[str] = None, namespace: Optional[str] = None) -> None:
    socketio, cur_sid, nsp = _ctx() if sid is None or namespace is None else (_current.get() or (None, None, None))
    socketio = socketio or flask.current_app.extensions["socketio"]
    socketio.server.leave_room(sid or cur_sid, room, namespace or nsp or "/")


def close_room(room: str, namespace: Optional[str] = None) -> None:
    socketio, _, nsp = _ctx()
    socketio.server.close_room(room, namespace or nsp)


def rooms(sid: Optional[str] = None, namespace: Optional[str] = None) -> list:
    """The rooms of the current client (its own sid room included, as Flask-SocketIO)."""
    socketio, cur_sid, nsp = _ctx()
    return list(socketio.server.rooms(sid or cur_sid, namespace or nsp))


def disconnect(sid: Optional[str] = None, namespace: Optional[str] = None, silent: bool = False) -> None:
    """Disconnects the current client (or ``sid``) from the namespace."""
    socketio, cur_sid, nsp = _ctx()
    socketio.server.disconnect(sid or cur_sid, namespace or nsp)
