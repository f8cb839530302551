"""The Node-shaped side of a :class:`sio.Server`, for those who come from Node's socket.io:
``@server.on("connection")`` gets a :class:`Socket` (``.on``, ``.emit``, ``.broadcast``, ``.to``,
``.join``, ``.data``, ``.handshake``...), ``server.use(fn)`` is ``io.use()``'s middleware chain,
``server.of(name)`` a :class:`NamespaceView`, ``server.to(room)`` a :class:`BroadcastOperator`.
It lives beside python-socketio's sid style on the same server: what a socket's own listeners do
not take goes to the sid-style handlers.

The hooks _dispatch.py calls (``_node_connect``, ``_node_connected``, ``_node_event``,
``_node_disconnected``) and the core's ``_on_disconnecting`` / ``_socket_data`` are here, mixed
into :class:`sio.Server` through :class:`NodeStyle`."""

from __future__ import annotations

import functools
import inspect
import logging
import re
import types
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _core, api
from .ack import Ack
from .errors import ConnectionRefusedError, DisconnectedError, TimeoutError

if TYPE_CHECKING:
    from .server import Server

logger = logging.getLogger("sio")

_EMPTY: Any = types.MappingProxyType({})  # falsy, read-only: no Node-shaped state yet
_PASS = object()  # _node_event: no listener of a Node-shaped socket took the event


_Entry = Tuple[Callable, int, bool, bool]


def _entry(fn: Callable) -> _Entry:
    """A listener or middleware with what its signature says, read once when it is added:
    (fn, positional parameters, takes *args, has a keyword-only ``ack``)."""
    if not callable(fn):
        raise TypeError("a listener must be callable")
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return fn, 0, True, False
    n, var, kwack = 0, False, False
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            var = True
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and not var:
            n += 1
        elif p.kind == p.KEYWORD_ONLY and p.name == "ack":
            kwack = True
    return fn, n, var, kwack


def _values(result: Any) -> tuple:
    """A handler's return value as ack arguments: None none, a tuple its items, else one."""
    return () if result is None else result if isinstance(result, tuple) else (result,)


def _remove(fns: List[Callable], fn: Optional[Callable]) -> None:
    """Node's offAny: the first entry of fn, or every entry without one."""
    if fn is None:
        fns.clear()
    elif fn in fns:
        fns.remove(fn)


def _names(rooms: Iterable[Union[str, Iterable[str]]]) -> Tuple[str, ...]:
    out: List[str] = []
    for r in rooms:
        if isinstance(r, str):
            out.append(r)
        else:
            out.extend(r)
    return tuple(out)


def _split_callback(args: tuple) -> Tuple[tuple, Optional[Callable]]:
    """Node's ``emit(event, ...args, callback)``: a callable last argument is the ack callback."""
    if args and callable(args[-1]):
        return args[:-1], args[-1]
    return args, None


def _refusal(err: BaseException) -> tuple:
    """The CONNECT_ERROR a middleware's error makes: Node's ``{message: err.message, data:
    err.data}``."""
    if isinstance(err, ConnectionRefusedError):
        return (err.message, err.data)
    return (str(err) or type(err).__name__, getattr(err, "data", None))


class RemoteSocket:
    """A socket as ``fetch_sockets()`` reports it, on this node or another (Node's RemoteSocket):
    ``id``, ``handshake``, ``rooms`` (a set), ``data``; ``emit``, ``join``, ``leave`` and
    ``disconnect`` reach it wherever it is."""

    def __init__(self, server: "Server", nsp: str, desc: dict) -> None:
        self._server, self._nsp = server, nsp
        self.id: str = desc["id"]
        self.handshake: dict = desc["handshake"]
        self.rooms: set = set(desc["rooms"])
        self.data: Any = desc["data"]

    def _op(self) -> "BroadcastOperator":
        return BroadcastOperator(self._server, self._nsp, (self.id,))

    def emit(self, event: str, *args: Any) -> None:
        self._op().emit(event, *args)

    def join(self, room: Union[str, Iterable[str]]) -> None:
        self._op().sockets_join(room)

    def leave(self, room: Union[str, Iterable[str]]) -> None:
        self._op().sockets_leave(room)

    def disconnect(self, close: bool = False) -> None:
        self._op().disconnect_sockets(close)

    def __repr__(self) -> str:
        return "<sio.RemoteSocket %s in %s>" % (self.id, self._nsp)


class BroadcastOperator:
    """Who a broadcast reaches, as Node's ``io.to(room)``: the sockets in any of its rooms (none:
    the whole namespace) but in none of its exceptions. Each method returns a new operator;
    ``emit`` sends. With a cluster, every node's sockets unless ``.local``."""

    def __init__(self, server: "Server", nsp: str, rooms: Tuple[str, ...] = (),
                 exc: Tuple[str, ...] = (), flags: int = 0, timeout: Optional[float] = None) -> None:
        if not isinstance(nsp, str):
            raise TypeError("a dynamic namespace's parent has no sockets of its own: use a child's name")
        self._server, self._nsp, self._rooms, self._exc = server, nsp, rooms, exc
        self._flags, self._timeout = flags, timeout

    def _with(self, rooms: Tuple[str, ...] = (), exc: Tuple[str, ...] = (), flags: int = 0,
              timeout: Optional[float] = None) -> "BroadcastOperator":
        return BroadcastOperator(self._server, self._nsp, self._rooms + rooms, self._exc + exc,
                                 self._flags | flags, self._timeout if timeout is None else timeout)

    def to(self, *rooms: Union[str, Iterable[str]]) -> "BroadcastOperator":
        """Also the sockets in ``rooms`` (a name, or a list)."""
        return self._with(rooms=_names(rooms))

    in_ = to

    def except_(self, *rooms: Union[str, Iterable[str]]) -> "BroadcastOperator":
        """But not the sockets in ``rooms`` (a socket id is a room)."""
        return self._with(exc=_names(rooms))

    @property
    def volatile(self) -> "BroadcastOperator":
        return self._with(flags=api.SIO_EMIT_VOLATILE)

    @property
    def local(self) -> "BroadcastOperator":
        """This node's sockets only (with a cluster)."""
        return self._with(flags=api.SIO_EMIT_LOCAL)

    def compress(self, value: bool = True) -> "BroadcastOperator":
        """Node's ``compress(false)``: the message is never permessage-deflated (see
        ``Server(per_message_deflate=...)``); ``compress(True)`` is the default."""
        op = self._with()
        op._flags &= ~(api.SIO_EMIT_COMPRESS | api.SIO_EMIT_NO_COMPRESS)
        op._flags |= api.SIO_EMIT_COMPRESS if value else api.SIO_EMIT_NO_COMPRESS
        return op

    def timeout(self, seconds: float) -> "BroadcastOperator":
        """How long ``emit(..., callback)`` waits for the acknowledgements."""
        return self._with(timeout=seconds)

    def _run(self, op: Callable[[], Any]) -> None:
        srv = self._server
        if not srv._exists(self._nsp):
            return
        if srv._elsewhere():
            srv.call_soon_threadsafe(op)
            return
        op()
        srv._kick()

    def emit(self, event: str, *args: Any) -> None:
        """Emits ``event`` with ``args``. A callable last argument asks every recipient for an
        acknowledgement (Node's ``io.timeout(ms).emit(event, ...args, (err, responses) => ...)``):
        it is called once with ``(error, responses)``, ``error`` ``None`` or a
        :class:`sio.TimeoutError` when ``timeout()`` passed first (``responses``: the answers that
        came, each recipient's first ack argument)."""
        args, cb = _split_callback(args)
        nsp, rooms, exc, flags = self._nsp, self._rooms or None, self._exc or None, self._flags
        core = self._server._core
        if cb is None:
            self._run(lambda: core.emit(nsp, event, args, rooms, exc, flags))
            return
        timeout = self._timeout
        ms = 0 if timeout is None else max(1, int(timeout * 1000))

        def done(err: Optional[str], responses: list) -> None:
            cb(None if err is None else TimeoutError("not every acknowledgement within %ss" % timeout)
               if err == "timeout" else DisconnectedError("the server closed"), responses)

        if not self._server._exists(nsp):
            cb(None, [])
            return
        self._run(lambda: core.emit_acks(nsp, event, args, rooms, exc, ms, done, flags & api.SIO_EMIT_LOCAL))

    def send(self, *args: Any) -> None:
        self.emit("message", *args)

    def _select(self, op: int, room: Optional[str], close: bool = False) -> None:
        nsp, rooms, exc = self._nsp, self._rooms or None, self._exc or None
        core = self._server._core
        self._run(lambda: core.select(nsp, op, rooms, exc, room, close))

    def sockets_join(self, room: Union[str, Iterable[str]]) -> None:
        """Node's ``socketsJoin``: the targeted sockets (on every node) join ``room``."""
        for r in _names((room,)):
            self._select(0, r)

    def sockets_leave(self, room: Union[str, Iterable[str]]) -> None:
        for r in _names((room,)):
            self._select(1, r)

    def disconnect_sockets(self, close: bool = False) -> None:
        self._select(2, None, close)

    def fetch_sockets(self, callback: Optional[Callable[[Optional[str], list], Any]] = None):
        """Node's ``fetchSockets()``: the targeted sockets of every node, as :class:`RemoteSocket`
        objects (``data`` is each socket's ``socket.data`` — its session). With ``callback``:
        ``callback(error, sockets)`` once (``error`` as :meth:`sio.Server.fetch_sockets`'s). In
        asyncio mode without one: an awaitable list (raising :class:`sio.TimeoutError` or
        ``ConnectionError``)."""
        srv, nsp = self._server, self._nsp
        fut = None
        if callback is None:
            if srv._aio is None or srv._elsewhere():
                raise TypeError("fetch_sockets() needs a callback outside the asyncio mode")
            fut = srv._aio.create_future()

        def done(err: Optional[str], sockets: list) -> None:
            remote = [RemoteSocket(srv, nsp, d) for d in sockets]
            if fut is None:
                callback(err, remote)  # type: ignore[misc]
            elif not fut.done():
                if err is None:
                    fut.set_result(remote)
                else:
                    fut.set_exception(TimeoutError("a node did not answer in time") if err == "timeout"
                                      else ConnectionError("fetch_sockets: %s" % err))

        if not srv._exists(nsp):
            done(None, [])
        else:
            rooms, exc = self._rooms or None, self._exc or None
            self._run(lambda: srv._core.fetch_sockets(nsp, rooms, exc, done))
        return fut


class NamespaceView:
    """Node's ``io.of(name)``: ``.on("connection", fn)``, ``.use(fn)``, ``.emit``, ``.to``,
    ``.except_``, ``.sockets`` (this node's Node-shaped sockets by id), ``.fetch_sockets``. A view
    of a dynamic parent (``server.of(re.compile(...))``) takes handlers and middleware for every
    child; broadcasts need a child's name."""

    def __init__(self, server: "Server", key: Any, name: str, spec: Any) -> None:
        self._server, self._key, self.name, self._spec = server, key, name, spec

    def on(self, event: str, handler: Optional[Callable] = None):
        """``server.on(event, handler, namespace=this)``; ``"connection"`` handlers get a
        :class:`Socket`."""
        return self._server.on(event, handler, namespace=self._spec)

    def use(self, fn: Callable) -> Callable:
        """Adds ``fn(socket, next)`` to this namespace's middleware chain (see
        :meth:`NodeStyle.use`)."""
        srv = self._server
        if type(srv._node_mw) is not dict:
            srv._node_mw = {}
        srv._node_mw.setdefault(self._key, []).append(_entry(fn))
        return fn

    def _op(self) -> BroadcastOperator:
        return BroadcastOperator(self._server, self.name)

    def to(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        return self._op().to(*rooms)

    in_ = to

    def except_(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        return self._op().except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._op().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._op().local

    def compress(self, value: bool = True) -> BroadcastOperator:
        return self._op().compress(value)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._op().timeout(seconds)

    def emit(self, event: str, *args: Any) -> None:
        self._op().emit(event, *args)

    def send(self, *args: Any) -> None:
        self._op().emit("message", *args)

    def fetch_sockets(self, callback: Optional[Callable[[Optional[str], list], Any]] = None):
        return self._op().fetch_sockets(callback)

    def sockets_join(self, room: Union[str, Iterable[str]]) -> None:
        self._op().sockets_join(room)

    def sockets_leave(self, room: Union[str, Iterable[str]]) -> None:
        self._op().sockets_leave(room)

    def disconnect_sockets(self, close: bool = False) -> None:
        self._op().disconnect_sockets(close)

    @property
    def sockets(self) -> Dict[str, "Socket"]:
        """This node's connected Node-shaped sockets of this namespace, by id."""
        return {sid: s for (n, sid), s in self._server._node_sockets.items() if n == self.name and s.connected}

    def __repr__(self) -> str:
        return "<sio.NamespaceView %s>" % self.name


class _Timeout:
    """``socket.timeout(seconds)``: its ``emit(event, ...args, callback)`` calls ``callback(err,
    *ack_args)``, ``err`` ``None`` or a :class:`sio.TimeoutError` (or
    :class:`sio.DisconnectedError` when the client left first), as Node's."""

    def __init__(self, socket: "Socket", seconds: float) -> None:
        self._socket, self._seconds = socket, seconds

    def emit(self, event: str, *args: Any) -> None:
        self._socket._emit(event, args, self._seconds)


class Socket:
    """One client in one namespace, as Node's ``socket`` (what ``"connection"`` handlers and
    middleware get). Attributes: ``id``, ``nsp`` (a :class:`NamespaceView`), ``handshake`` (Node's:
    ``headers``, ``time``, ``address``, ``xdomain``, ``secure``, ``issued``, ``url``, ``query``,
    ``auth``), ``data`` (a dict: the socket's session, the same dict as
    ``server.get_session(socket.id, namespace)``, reported by ``fetch_sockets``), ``connected``,
    ``rooms`` (a set). Other attributes may be set freely (``socket.username = ...``).

    Listeners (``socket.on(event, fn)``, several per event) get the event's arguments, extra ones
    dropped to what they declare (as in JavaScript); a listener that declares one more positional
    parameter than the arguments that came, or a keyword-only ``ack``, gets the ack callback
    (:class:`sio.Ack`) when the client asked for one. Otherwise its return value is the ack (None:
    an ack without values; a tuple: several values); the ack is sent once, the first answer wins.
    With several listeners of one event, the first that returns something other than None answers
    (Node gives every listener the callback and the first call wins; python-socketio has one
    handler per event); when every one returns None (and none takes the ack), an ack without
    values is sent once the last is done. ``remove_all_listeners([event])``, ``listeners(event)``,
    the catch-alls (``on_any``, ``prepend_any``, ``off_any``, ``listeners_any`` and their
    ``_outgoing`` twins) and the packet middleware (``use``) are Node's.
    Coroutine listeners (asyncio mode) are awaited. ``"disconnecting"`` (still in its rooms) and
    ``"disconnect"`` listeners get the reason."""

    def __init__(self, server: "Server", key: Any, nsp: str, sid: str, handshake: dict) -> None:
        self._server, self._key, self._nsp = server, key, nsp
        self.id = sid
        self.handshake = handshake
        self.connected = False
        self._listeners: Dict[str, List[_Entry]] = {}
        self._any: List[Callable] = []
        self._any_out: List[Callable] = []
        self._mw: List[_Entry] = []  # packet middleware (use)
        self._watched = False  # the core calls _node_outgoing for this socket
        self._gone: Optional[dict] = None  # the data, once disconnected

    # ---- listeners ----

    def on(self, event: str, handler: Optional[Callable] = None):
        """Adds a listener for ``event`` (also as a decorator: ``@socket.on("chat")``)."""
        def add(fn: Callable) -> Callable:
            self._listeners.setdefault(event, []).append(_entry(fn))
            return fn

        if handler is None:
            return add
        add(handler)
        return self

    def once(self, event: str, handler: Optional[Callable] = None):
        """A listener called for the next ``event`` only."""
        def add(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def one(*args: Any, **kw: Any) -> Any:
                self.off(event, one)
                return fn(*args, **kw)

            self._listeners.setdefault(event, []).append(_entry(one))  # fn's signature (__wrapped__)
            return fn

        if handler is None:
            return add
        add(handler)
        return self

    def off(self, event: str, handler: Optional[Callable] = None) -> "Socket":
        """Removes ``handler`` (every listener of ``event`` without one)."""
        fns = self._listeners.get(event)
        if fns is not None:
            if handler is None:
                del self._listeners[event]
            else:
                for i, (fn, *_) in enumerate(fns):
                    if fn is handler or getattr(fn, "__wrapped__", None) is handler:
                        del fns[i]
                        break
                if not fns:
                    del self._listeners[event]
        return self

    def listeners(self, event: str) -> List[Callable]:
        """The listeners of ``event``, in call order (a copy)."""
        return [getattr(fn, "__wrapped__", fn) for fn, *_ in self._listeners.get(event, ())]

    def remove_all_listeners(self, event: Optional[str] = None) -> "Socket":
        """Node's ``removeAllListeners([event])``: every listener of ``event``, or of every event
        (the catch-alls and middleware stay: ``off_any()``, ``off_any_outgoing()``)."""
        if event is None:
            self._listeners.clear()
        else:
            self._listeners.pop(event, None)
        return self

    def on_any(self, handler: Callable) -> Callable:
        """Node's ``onAny``: ``handler(event, *args)`` for every incoming event, before the packet
        middleware (so also for the events it then refuses). Unlike Node's, it does not get the
        ack callback (the event's listener answers). Also a decorator."""
        self._any.append(handler)
        return handler

    def prepend_any(self, handler: Callable) -> Callable:
        """``on_any``, but first in the list (Node's ``prependAny``)."""
        self._any.insert(0, handler)
        return handler

    def off_any(self, handler: Optional[Callable] = None) -> "Socket":
        """Removes ``handler`` (its first entry), or every incoming catch-all without one."""
        _remove(self._any, handler)
        return self

    def listeners_any(self) -> List[Callable]:
        """The incoming catch-alls in call order (the list itself, as Node's ``listenersAny``)."""
        return self._any

    def on_any_outgoing(self, handler: Callable) -> Callable:
        """Node's ``onAnyOutgoing``: ``handler(event, *args)`` for every event leaving for this
        client — its own emits and the broadcasts that reach it, not acknowledgements — before
        it is written. Also a decorator."""
        self._any_out.append(handler)
        self._watch()
        return handler

    def prepend_any_outgoing(self, handler: Callable) -> Callable:
        self._any_out.insert(0, handler)
        self._watch()
        return handler

    def off_any_outgoing(self, handler: Optional[Callable] = None) -> "Socket":
        _remove(self._any_out, handler)
        self._watch()
        return self

    def listeners_any_outgoing(self) -> List[Callable]:
        return self._any_out

    def _watch(self) -> None:
        """Asks the core for this socket's outgoing events while it has outgoing catch-alls
        (without any, a broadcast does not visit its recipients for them)."""
        on = bool(self._any_out)
        if on == self._watched:
            return
        self._watched = on
        srv, nsp, sid = self._server, self._nsp, self.id
        op = functools.partial(srv._core.watch_outgoing, nsp, sid, on)
        if not srv._defer(nsp, sid, op) and self.connected:
            op()

    def use(self, fn: Callable) -> Callable:
        """Node's ``socket.use(([event, ...args], next) => ...)``: ``fn(packet, next)`` runs, in
        the order added, for every event this socket receives (after the ``on_any`` listeners)
        before its listeners. ``packet`` is a list ``[event, *args]`` — with the
        :class:`sio.Ack` last when the client asked for one, as in Node — which ``fn`` may change
        in place: the listeners get what it holds at the end. ``next()`` goes on; ``next(err)``
        drops the event and calls the socket's ``"error"`` listeners with ``err`` (as Node's
        ``socket.on("error", ...)``; the client is sent nothing, and without an ``"error"``
        listener it is logged), and so does raising. ``next`` may be called later, from a timer or
        another thread; a coroutine function is awaited (asyncio mode); a middleware of one
        parameter (``fn(packet)``) goes on when it returns. Also a decorator."""
        self._mw.append(_entry(fn))
        return fn

    # ---- emitting ----

    def _emit(self, event: str, args: tuple, timeout: Optional[float]) -> None:
        args, cb = _split_callback(args)
        srv, nsp, sid = self._server, self._nsp, self.id
        core = srv._core
        if cb is None:
            op = lambda: core.emit(nsp, event, args, (sid,), None, 0)  # noqa: E731
        else:
            def done(err: Optional[str], values: tuple) -> None:
                if timeout is None:
                    if err is None:
                        cb(*values)
                elif err is None:
                    cb(None, *values)
                else:
                    cb(TimeoutError("no acknowledgement within %ss" % timeout) if err == "timeout"
                       else DisconnectedError("the client disconnected"))
                srv._kick()

            ms = 0 if timeout is None else max(1, int(timeout * 1000))
            op = lambda: core.emit_ack(nsp, sid, event, args, ms, done)  # noqa: E731
        if not srv._defer(nsp, sid, op):
            if self.connected:
                op()
                srv._kick()

    def emit(self, event: str, *args: Any) -> None:
        """Emits ``event`` with ``args`` to this client; a callable last argument is called with
        the client's ack arguments (Node's ``socket.emit(event, ...args, (res) => ...)``)."""
        self._emit(event, args, None)

    def send(self, *args: Any) -> None:
        self._emit("message", args, None)

    def timeout(self, seconds: float) -> _Timeout:
        return _Timeout(self, seconds)

    def emit_with_ack(self, event: str, *args: Any, timeout: Optional[float] = None):
        """Node's ``emitWithAck``: an awaitable of the client's ack (one value, a tuple of several,
        None for none); asyncio mode only. Raises :class:`sio.TimeoutError` after ``timeout``
        seconds, :class:`sio.DisconnectedError` when the client leaves first."""
        srv = self._server
        if srv._aio is None or srv._elsewhere():
            raise RuntimeError("emit_with_ack needs the asyncio mode (await server.serve())")
        fut = srv._aio.create_future()

        def done(err: Any, *values: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(values[0] if len(values) == 1 else values if values else None)

        self._emit(event, args + (done,), 1e9 if timeout is None else timeout)
        return fut

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket."""
        return BroadcastOperator(self._server, self._nsp, (), (self.id,))

    def to(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        """The sockets in ``rooms``, but not this one."""
        return self.broadcast.to(*rooms)

    in_ = to

    def except_(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        return self.broadcast.except_(*rooms)

    @property
    def volatile(self) -> "_Volatile":
        return _Volatile(self)

    def compress(self, value: bool = True) -> "_Volatile":
        """Node's ``socket.compress(false).emit(...)``: to this socket, never permessage-deflated
        (``True``: the default)."""
        return _Volatile(self, api.SIO_EMIT_COMPRESS if value else api.SIO_EMIT_NO_COMPRESS)

    # ---- rooms, data, disconnect ----

    def join(self, room: Union[str, Iterable[str]]) -> None:
        srv, nsp, sid = self._server, self._nsp, self.id
        for r in _names((room,)):
            op = functools.partial(srv._core.enter_room, nsp, sid, r)
            if not srv._defer(nsp, sid, op) and self.connected:
                op()

    def leave(self, room: Union[str, Iterable[str]]) -> None:
        srv, nsp, sid = self._server, self._nsp, self.id
        for r in _names((room,)):
            op = functools.partial(srv._core.leave_room, nsp, sid, r)
            if not srv._defer(nsp, sid, op) and self.connected:
                op()

    @property
    def rooms(self) -> set:
        """The rooms this socket is in, its own id included (server thread only)."""
        if not self.connected:
            return set()
        return set(self._server._core.rooms(self._nsp, self.id))

    @property
    def data(self) -> dict:
        if self._gone is not None:
            return self._gone
        return self._server._sessions.setdefault((self._nsp, self.id), {})

    @data.setter
    def data(self, value: dict) -> None:
        if self._gone is not None:
            self._gone = value
        else:
            self._server._sessions[(self._nsp, self.id)] = value

    @property
    def recovered(self) -> bool:
        """Node's ``socket.recovered``: connection state recovery brought this socket back (same
        id, rooms and ``data``; the events it missed are replayed)."""
        return (self._nsp, self.id) in self._server._recovered

    @property
    def nsp(self) -> NamespaceView:
        return NamespaceView(self._server, self._key, self._nsp, self._nsp)

    def disconnect(self, close: bool = False) -> "Socket":
        """Disconnects from the namespace (``close=True``: the whole connection)."""
        srv, nsp, sid = self._server, self._nsp, self.id
        op = functools.partial(srv._core.disconnect, nsp, sid, close)
        if not srv._defer(nsp, sid, op) and self.connected:
            op()
            srv._kick()
        return self

    def __repr__(self) -> str:
        return "<sio.Socket %s in %s%s>" % (self.id, self._nsp, "" if self.connected else " (not connected)")

    # ---- calling listeners ----

    def _call(self, entry: _Entry, event: str, args: tuple, ack: Optional[Ack],
              group: Optional["_Answer"] = None) -> None:
        """Calls one listener with args trimmed to what it declares; the ack (None: the client
        asked for none) goes to it or gets its return value (with several listeners, ``group``
        decides which one answers)."""
        srv = self._server
        fn, n, var, kwack = entry
        if not var and len(args) > n:
            args = args[:n]
        takes = False
        try:
            if kwack:
                takes = True
                result = fn(*args, ack=ack if ack is not None else Ack(srv, None))  # type: ignore[arg-type]
            elif ack is not None and not var and n > len(args):
                takes = True
                result = fn(*args, ack)
            else:
                result = fn(*args)
        except Exception:
            logger.exception("error in the handler of event %r of socket %s", event, self.id)
            if group is not None:
                group.done(self, event, None, False)
            return
        if inspect.isawaitable(result):
            if srv._no_asyncio(result, "the handler of event %r" % event):
                return

            async def later() -> None:
                try:
                    value = await result
                except Exception:
                    logger.exception("error in the handler of event %r of socket %s", event, self.id)
                    value = None
                if group is not None:
                    group.done(self, event, value, takes)
                elif ack is not None and not takes and value is not _core.NOACK:
                    self._answer(ack, event, value)

            srv._aio.create_task(later())
            return
        if group is not None:
            group.done(self, event, result, takes)
        elif ack is not None and not takes and result is not _core.NOACK:
            self._answer(ack, event, result)

    def _answer(self, ack: Ack, event: str, result: Any) -> None:
        try:
            ack(*_values(result))
        except Exception:
            logger.exception("the handler of event %r returned a value that cannot be sent as an ack", event)

    def _fire(self, event: str, *args: Any) -> None:
        for entry in list(self._listeners.get(event, ())):
            self._call(entry, event, args, None)

    def _run_use(self, event: str, args: tuple, ack: Optional[_core.Ack]) -> Any:
        """The packet middleware, then the listeners (or the sid-style handler): what the core
        should send as the ack when the chain ends at once, else NOACK (answered later)."""
        srv = self._server
        a = Ack(srv, ack) if ack is not None else None
        packet: list = [event, *args] + ([a] if a is not None else [])
        chain = list(self._mw)
        state: list = [True, _core.NOACK]  # [still inside this call, the ack value]

        def finish(err: Optional[BaseException]) -> None:
            r = self._after_use(packet, a, ack, err)
            if state[0]:
                state[1] = r
            elif r is not _core.NOACK and a is not None:
                self._answer(a, event, r)

        def run(i: int) -> None:
            if i == len(chain):
                finish(None)
                return
            fn, n, var, _ = chain[i]
            called = [False]

            def next_(err: Optional[BaseException] = None) -> None:
                if called[0]:
                    return
                called[0] = True
                if srv._elsewhere():
                    srv.call_soon_threadsafe(after, err)
                else:
                    after(err)

            def after(err: Optional[BaseException]) -> None:
                if err is not None:
                    finish(err)
                else:
                    run(i + 1)
                if not state[0]:
                    srv._kick()

            try:
                result = fn(packet, next_) if var or n >= 2 else fn(packet)
            except Exception as e:
                if not called[0]:
                    called[0] = True
                    finish(e)
                return
            if inspect.isawaitable(result):
                if srv._no_asyncio(result, "a packet middleware of socket %s" % self.id):
                    next_(RuntimeError("a coroutine middleware needs the asyncio mode"))
                    return

                async def later() -> None:
                    try:
                        await result
                    except Exception as e:
                        next_(e)
                        return
                    if not var and n < 2:
                        next_(None)

                srv._aio.create_task(later())
            elif not var and n < 2:
                next_(None)

        run(0)
        state[0] = False
        return state[1]

    def _after_use(self, packet: list, a: Optional[Ack], ack: Optional[_core.Ack],
                   err: Optional[BaseException]) -> Any:
        if not self.connected:
            return _core.NOACK  # Node drops what the middleware lets through after a disconnect
        if err is not None:
            if self._listeners.get("error"):
                self._fire("error", err)
            else:
                logger.warning("a packet middleware of socket %s refused an event: %r (no \"error\" listener)",
                               self.id, err)
            return _core.NOACK
        if a is not None and packet and packet[-1] is a:
            packet = packet[:-1]
        if not packet or not isinstance(packet[0], str):
            return _core.NOACK
        event, args = packet[0], tuple(packet[1:])
        srv = self._server
        r = srv._node_listeners(self, event, args, ack)
        if r is _PASS:
            r = srv._sid_event(self._key, self._nsp, self.id, event, args, ack)  # type: ignore[attr-defined]
        return r


class _Answer:
    """Which of several listeners of one event answers its ack: the first (in the order they
    finish: call order for plain functions) that returns something other than None; when none
    does and none took the ack as a parameter, an ack without values once the last one is done."""

    def __init__(self, ack: Ack, left: int) -> None:
        self.ack, self.left, self.taken = ack, left, False

    def done(self, sock: Socket, event: str, result: Any, takes: bool) -> None:
        self.left -= 1
        if takes:
            self.taken = True
        elif result is not None and result is not _core.NOACK:
            sock._answer(self.ack, event, result)
        if self.left == 0 and not self.taken:
            sock._answer(self.ack, event, None)  # a no-op when one answered (the ack goes once)


class _Volatile:
    """An emit to one socket with flags: volatile (the default), or compress(...)."""

    def __init__(self, socket: Socket, flags: int = api.SIO_EMIT_VOLATILE) -> None:
        self._socket = socket
        self._flags = flags

    def emit(self, event: str, *args: Any) -> None:
        s = self._socket
        srv, nsp, sid = s._server, s._nsp, s.id
        if s.connected and not srv._elsewhere():
            srv._core.emit(nsp, event, args, (sid,), None, self._flags)
            srv._kick()

    def send(self, *args: Any) -> None:
        self.emit("message", *args)


class _Chain:
    """One connecting socket's way through the middleware, then the sid-style connect handler."""

    def __init__(self, server: "Server", sock: Socket, chain: List[_Entry], connect: tuple) -> None:
        self.server, self.sock, self.chain, self.connect = server, sock, chain, connect
        self.sync = True
        self.verdict: Any = _UNDECIDED
        self.finished = False

    def start(self) -> Any:
        self.run(0)
        self.sync = False
        return self.connect[-1] if self.verdict is _UNDECIDED else self.verdict

    def run(self, i: int) -> None:
        if i == len(self.chain):
            self.finish(None)
            return
        fn, n, var, _ = self.chain[i]
        srv = self.server
        called = [False]

        def next_(err: Optional[BaseException] = None) -> None:
            if called[0]:
                return
            called[0] = True
            if srv._elsewhere():
                srv.call_soon_threadsafe(self.after, i, err)
            else:
                self.after(i, err)

        def failed(e: BaseException) -> None:
            if not isinstance(e, ConnectionRefusedError):
                logger.error("error in a middleware of %s", self.sock._nsp, exc_info=e)
            if not called[0]:
                called[0] = True
                self.finish(_refusal(e))

        try:
            result = fn(self.sock, next_) if var or n >= 2 else fn(self.sock)
        except Exception as e:
            failed(e)
            return
        if inspect.isawaitable(result):
            if srv._no_asyncio(result, "a middleware of %s" % self.sock._nsp):
                failed(RuntimeError("a coroutine middleware needs the asyncio mode"))
                return

            async def later() -> None:
                try:
                    await result
                except Exception as e:
                    failed(e)
                    return
                if not var and n < 2 and not called[0]:
                    next_(None)

            srv._aio.create_task(later())
        elif not var and n < 2 and not called[0]:
            next_(None)  # a middleware of one parameter goes on when it returns

    def after(self, i: int, err: Optional[BaseException]) -> None:
        if err is not None:
            self.finish(_refusal(err))
        else:
            self.run(i + 1)

    def finish(self, verdict: Any) -> None:
        if self.finished:
            return
        self.finished = True
        srv, sock = self.server, self.sock
        nsp, sid, token = sock._nsp, sock.id, self.connect[-1]
        if verdict is None:
            queued = srv._pending.pop((nsp, sid), [])
            verdict = srv._on_connect(*self.connect)  # the connect handler (the socket is known)
            if type(verdict) is not tuple:
                pending = srv._pending.setdefault((nsp, sid), [])
                pending[:0] = queued
        if type(verdict) is tuple:
            srv._pending.pop((nsp, sid), None)
            srv._node_sockets.pop((nsp, sid), None)
            srv._sessions.pop((nsp, sid), None)
            srv._recovered.pop((nsp, sid), None)
        if self.sync:
            self.verdict = verdict
        elif type(verdict) is not int and not srv._core.closed:  # an int: a coroutine answers
            srv._core.connect_done(token, verdict)
            srv._kick()
            if verdict is None and not sock.connected:  # the client left meanwhile
                srv._pending.pop((nsp, sid), None)
                srv._node_sockets.pop((nsp, sid), None)
                srv._sessions.pop((nsp, sid), None)
                srv._recovered.pop((nsp, sid), None)


_UNDECIDED = object()


class NodeStyle:
    """Mixed into :class:`sio.Server`: Node's ``io.use``, ``io.of``, ``io.to`` and the hooks of the
    Node-shaped sockets. Its state is created on first use (the class attributes are empty)."""

    _node_mw: Any = _EMPTY        # key -> [middleware]
    _node_sockets: Any = _EMPTY   # (nsp, sid) -> Socket

    def use(self, fn: Callable) -> Callable:
        """Node's ``io.use((socket, next) => ...)`` on ``"/"`` (``server.of(name).use`` for
        another namespace): ``fn(socket, next)`` runs, in the order added, for every socket
        connecting, before its ``connect`` handler; ``next()`` lets it through, ``next(err)``
        refuses it with a CONNECT_ERROR ``{"message": str(err), "data": err.data}`` (as Node's;
        :class:`sio.ConnectionRefusedError` carries both), and so does raising. ``next`` may be
        called later, from a timer or another thread. A coroutine function is awaited (asyncio
        mode); a middleware of one parameter (``fn(socket)``) goes on when it returns. The socket
        is not connected yet: what it emits or joins is done once it is. Also a decorator."""
        return self.of("/").use(fn)

    def of(self, namespace: Union[str, "re.Pattern[str]"]) -> NamespaceView:
        """Node's ``io.of(name)``: the namespace (created when new), or with a compiled ``re``
        pattern a parent of dynamic namespaces."""
        key = self._register(namespace)  # type: ignore[attr-defined]
        name = namespace.pattern if isinstance(namespace, re.Pattern) else key
        return NamespaceView(self, key, name, namespace)  # type: ignore[arg-type]

    def to(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        """Node's ``io.to(room)`` on ``"/"``: ``server.to("a").to("b").except_("c").emit(...)``."""
        return BroadcastOperator(self, "/").to(*rooms)  # type: ignore[arg-type]

    in_ = to

    def except_(self, *rooms: Union[str, Iterable[str]]) -> BroadcastOperator:
        return BroadcastOperator(self, "/").except_(*rooms)  # type: ignore[arg-type]

    def compress(self, value: bool = True) -> BroadcastOperator:
        """Node's ``io.compress(false).emit(...)``: never permessage-deflated."""
        return BroadcastOperator(self, "/").compress(value)  # type: ignore[arg-type]

    def call_every(self, interval: float, fn: Callable, *args: Any) -> "_core.Timer":
        """Calls ``fn(*args)`` every ``interval`` seconds (the first time ``interval`` from now)
        on the server's thread until the returned :class:`sio.Timer` is cancelled (``.cancel()``,
        also from inside ``fn``): Node's ``setInterval``. An exception in ``fn`` is logged and the
        timer goes on; a coroutine function's result is run as a task (asyncio mode). Server
        thread only (or before ``run()``)."""
        call = functools.partial(fn, *args) if args else fn
        if inspect.iscoroutinefunction(fn):
            def call() -> None:  # noqa: F811
                coro = fn(*args)
                if not self._no_asyncio(coro, "a call_every coroutine"):  # type: ignore[attr-defined]
                    self._aio.create_task(coro)  # type: ignore[attr-defined]
        timer = self._core.call_every(interval, call)  # type: ignore[attr-defined]
        self._kick()  # type: ignore[attr-defined]
        return timer

    # ---- hooks (_dispatch.py, the core) ----

    def _node_connect(self, key: Any, nsp: str, sid: str, handshake: dict, protocol: int, token: int) -> Any:
        self._known.add(nsp)  # type: ignore[attr-defined]
        if type(self._node_sockets) is not dict:
            self._node_sockets = {}
        self._routes_changed()  # type: ignore[attr-defined]  # its listeners come first now
        sock = Socket(self, key, nsp, sid, handshake)  # type: ignore[arg-type]
        self._node_sockets[(nsp, sid)] = sock
        self._pending[(nsp, sid)] = []  # type: ignore[attr-defined]
        chain = list(self._node_mw.get(key, ()))
        if (nsp, sid) in self._recovered and self._recovery_skip_mw:  # type: ignore[attr-defined]
            chain = []  # Node's skipMiddlewares: a restored socket goes straight to its handlers
        return _Chain(self, sock, chain, (key, nsp, sid, handshake, protocol, token)).start()  # type: ignore[arg-type]

    def _node_connected(self, key: Any, nsp: str, sid: str) -> None:
        sock = self._node_sockets.get((nsp, sid))
        if sock is None:
            return
        sock.connected = True
        fn = self._find(key, "connection")  # type: ignore[attr-defined]
        if fn is None:
            return
        try:
            result = fn(sock)
        except Exception:
            logger.exception("error in the connection handler of %s", nsp)
            return
        if inspect.isawaitable(result) and not self._no_asyncio(result, "the connection handler of %s" % nsp):  # type: ignore[attr-defined]
            async def later() -> None:
                try:
                    await result
                except Exception:
                    logger.exception("error in the connection handler of %s", nsp)

            self._aio.create_task(later())  # type: ignore[attr-defined]

    def _node_event(self, nsp: str, sid: str, event: str, args: tuple, ack: Optional[_core.Ack]) -> Any:
        sock = self._node_sockets.get((nsp, sid))
        if sock is None:
            return _PASS
        for fn in list(sock._any):
            try:
                r = fn(event, *args)
                if inspect.isawaitable(r) and not self._no_asyncio(r, "a catch-all listener"):  # type: ignore[attr-defined]
                    self._aio.create_task(r)  # type: ignore[attr-defined]
            except Exception:
                logger.exception("error in a catch-all listener of socket %s", sid)
        if sock._mw:
            return sock._run_use(event, args, ack)
        return self._node_listeners(sock, event, args, ack)

    def _node_outgoing(self, nsp: str, sid: str, event: str, args: tuple) -> None:
        """The core: an event leaves for a socket whose outgoing catch-alls it watches."""
        sock = self._node_sockets.get((nsp, sid))
        if sock is None:
            return
        for fn in list(sock._any_out):
            try:
                r = fn(event, *args)
                if inspect.isawaitable(r) and not self._no_asyncio(r, "an outgoing catch-all listener"):  # type: ignore[attr-defined]
                    self._aio.create_task(r)  # type: ignore[attr-defined]
            except Exception:
                logger.exception("error in an outgoing catch-all listener of socket %s", sid)

    def _node_listeners(self, sock: "Socket", event: str, args: tuple, ack: Optional[_core.Ack]) -> Any:
        fns = sock._listeners.get(event)
        if not fns:
            return _core.NOACK if event == "connection" else _PASS
        a = Ack(self, ack) if ack is not None else None  # type: ignore[arg-type]
        group = _Answer(a, len(fns)) if a is not None and len(fns) > 1 else None
        for entry in list(fns):
            sock._call(entry, event, args, a, group)
        return _core.NOACK

    def _on_disconnecting(self, key: Any, nsp: str, sid: str, reason: str) -> None:
        """The core's on_disconnecting: the socket is still in its rooms. The Node-shaped socket's
        ``"disconnecting"`` listeners get the reason, then a sid-style ``"disconnecting"`` handler
        ``(sid, reason)``."""
        sock = self._node_sockets.get((nsp, sid)) if self._node_sockets else None
        if sock is not None:
            sock._fire("disconnecting", reason)
        fn = self._find(key, "disconnecting")  # type: ignore[attr-defined]
        if fn is not None:
            try:
                result = fn(sid, reason) if self._nargs(fn) >= 2 else fn(sid)  # type: ignore[attr-defined]
            except Exception:
                logger.exception("error in the disconnecting handler of %s", nsp)
                return
            if inspect.isawaitable(result) and not self._no_asyncio(result, "the disconnecting handler"):  # type: ignore[attr-defined]
                self._aio.create_task(result)  # type: ignore[attr-defined]

    def _node_disconnected(self, nsp: str, sid: str, reason: str) -> None:
        sock = self._node_sockets.pop((nsp, sid), None)
        if sock is None:
            return
        sock._gone = self._sessions.get((nsp, sid)) or {}  # type: ignore[attr-defined]
        sock.connected = False
        sock._fire("disconnect", reason)

    def _socket_data(self, key: Any, nsp: str, sid: str) -> Any:
        """The core asks for a socket's data when fetch_sockets describes it: its session (the
        Node-shaped socket's ``data``), or None for {}."""
        return self._sessions.get((nsp, sid))  # type: ignore[attr-defined]
